"""Benchmark: fuzzy dedup against exhaustive ``rapidfuzz.process.cdist`` measured in the same run.

    python bench/dedup.py                 # 100,000 questions, ratio at 90
    python bench/dedup.py --n 1000000     # the 1M run (skip the baseline with --no-baseline)

Exhaustive cdist over all n x n pairs is too slow to run in full, so it is measured on a sample of
query rows (every text in the sample against all texts, both cores) and its time extrapolated to
all rows; recall is measured on the pairs those sample rows take part in.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from rapidfuzz import process

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.corpus import questions  # noqa: E402
from studio.dedup import fuzzy as dedup  # noqa: E402


def _cpu() -> float:
    """CPU seconds of this process, all threads: less sensitive than wall time to a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--threshold", type=float, default=90.0)
    ap.add_argument("--scorer", default="ratio", choices=list(dedup.SCORERS))
    ap.add_argument("--sample", type=int, default=2000, help="query rows for the exhaustive baseline")
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args()

    texts = questions(args.n, seed=1)
    print(f"{datetime.date.today()}  n={args.n:,}  scorer={args.scorer}  threshold={args.threshold:g}  "
          f"cores={os.cpu_count()}  load={os.getloadavg()[0]:.1f}")
    cpu0 = _cpu()
    t0 = time.perf_counter()
    found = dedup.find_duplicates(texts, args.threshold, args.scorer)
    ours = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"dedup: {ours:.2f} s wall, {cpu:.2f} s CPU (all threads), {len(found):,} clusters, "
          f"{sum(len(c.members) for c in found):,} records in them, peak RSS {rss_mb:,.0f} MB")
    if args.no_baseline:
        return

    prepared = dedup.prepare(texts)
    rng = np.random.default_rng(0)
    rows = np.sort(rng.choice(len(texts), size=min(args.sample, len(texts)), replace=False))
    cpu0 = _cpu()
    t0 = time.perf_counter()
    scores = process.cdist([prepared[i] for i in rows], prepared, scorer=dedup.SCORERS[args.scorer],
                           score_cutoff=args.threshold, workers=-1, dtype=np.float32)
    base = (time.perf_counter() - t0) * len(texts) / len(rows)
    base_cpu = (_cpu() - cpu0) * len(texts) / len(rows)
    # Reference pairs: sample row i with any other non-empty text j scoring at least the threshold.
    r, c = np.nonzero(scores >= args.threshold)
    ref = {(int(rows[a]), int(b)) for a, b in zip(r, c) if rows[a] != b and prepared[rows[a]] and prepared[b]}
    # Dedup scores one representative per normalised text (the first); identical texts join it as
    # exact duplicates. A reference pair is found when its representatives' pair was scored.
    first: dict[str, int] = {}
    rep = [first.setdefault(s, i) for i, s in enumerate(prepared)]
    pair_set = {(p.i, p.j) for cl in found for p in cl.pairs}
    missed = [(i, j) for i, j in ref if rep[i] != rep[j] and (min(rep[i], rep[j]), max(rep[i], rep[j])) not in pair_set]
    hit = len(ref) - len(missed)
    for i, j in missed[: int(os.environ.get("SHOW_MISSES", "0"))]:
        print("missed:", repr(prepared[i]), repr(prepared[j]))
    recall = hit / len(ref) if ref else 1.0
    print(f"exhaustive cdist: {len(rows):,} rows x {len(texts):,} in {base * len(rows) / len(texts):.2f} s, "
          f"extrapolated to all rows {base:.1f} s")
    print(f"  ({base_cpu:.0f} s CPU extrapolated; CPU-time ratio {base_cpu / cpu:.1f}x)")
    print(f"speed-up {base / ours:.1f}x, recall {recall:.4f} on {len(ref):,} pairs of the sampled rows")


if __name__ == "__main__":
    main()
