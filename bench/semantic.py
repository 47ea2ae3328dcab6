"""Semantic dedup speed: the studio's fast path against MiniLM encode + exact search, in one run.

    python3 bench/semantic.py                    # 100,000 and 5,000 questions; baseline on 2,000
    python3 bench/semantic.py --n 20000 --sample 1000
    python3 bench/semantic.py --precise          # also time the MiniLM re-scoring of the candidates

The questions are bench/corpus.py's (3 to 40 words from a Zipf vocabulary, one in ten a variant of
an earlier one), as bench/dedup.py uses. The studio's path is ``dedup_records`` with method
semantic: the static model distilled from all-MiniLM-L6-v2 (built once into the workspace; the
build is timed when this run makes it), k-means-cell search, clusters. The baseline is what the
studio did before: all-MiniLM-L6-v2 encodes every question, and exact blocked search compares every
pair. Embedding 100,000 questions with MiniLM takes several minutes to an hour on a shared 2-core
CPU, so the baseline embeds ``--sample`` questions (the first ones), measures its rate and exact
search time there, and extrapolates both to n (embedding linearly, search with the square). Recall
is measured on the sample: the pairs exact MiniLM search finds at the threshold among the first
``--sample`` questions, and how many of them the studio's run over all n questions put in one cluster.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.corpus import questions  # noqa: E402


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=5_000, help="the second, smaller run (0 skips it)")
    ap.add_argument("--sample", type=int, default=2_000, help="questions MiniLM embeds for the baseline and recall")
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--precise", action="store_true", help="also run with the candidates re-scored by MiniLM")
    ap.add_argument("--home", help="workspace holding the built static model (default: a temporary one)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["STUDIO_HOME"] = args.home or os.environ.get("STUDIO_HOME") or tempfile.mkdtemp(prefix="bench-sem-")
    from studio.dedup import fuzzy as dedup
    from studio.dedup import semantic_records, static
    from studio.dedup.embed import DEFAULT_MODEL, load_embedder
    from studio.dedup.semantic import semantic_pairs

    print(f"semantic bench {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; threshold {args.threshold}")
    texts = questions(args.n, seed=1)
    config = dedup.DedupConfig(method="semantic", semantic_threshold=args.threshold)
    embedder = load_embedder()
    if not static.is_built(DEFAULT_MODEL):
        start = time.perf_counter()
        static.build(embedder)
        print(f"first build of the static model (once per workspace): {time.perf_counter() - start:.1f} s")
    print(f"static model: {static.build_info(DEFAULT_MODEL)['source']}")

    def run(n: int) -> tuple[list, float, float]:
        records = [{"question": q, "answer": "a"} for q in texts[:n]]
        static._cache.clear()  # load the model from disk as a fresh process would
        est = semantic_records.estimate(records, config)
        c0, t0 = cpu(), time.perf_counter()
        found = dedup.dedup_records(records, config)
        took, used = time.perf_counter() - t0, cpu() - c0
        members = sum(len(c.members) for c in found)
        print(f"studio, {n:,} questions: {took:.2f} s wall, {used:.2f} s CPU, {len(found):,} clusters holding "
              f"{members:,} records; estimated {est.seconds:.2f} s (estimate/actual {est.seconds / took:.2f})")
        return found, took, used

    found, took, _ = run(args.n)
    if args.small and args.small < args.n:
        run(args.small)
    print(f"peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")

    sample = texts[:args.sample]
    embedder.encode(sample[:64])  # warm-up
    t0 = time.perf_counter()
    vecs = embedder.encode(sample)
    rate = len(sample) / (time.perf_counter() - t0)
    exact = semantic_pairs(vecs, args.threshold, method="exact")
    # Exact search costs the same whatever the vectors hold: timed on min(n, 20,000) random 384-d rows,
    # where fixed costs no longer matter, and scaled with the square of n.
    m = min(args.n, 20_000)
    rows = np.random.default_rng(0).standard_normal((m, vecs.shape[1]), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    t0 = time.perf_counter()
    semantic_pairs(rows, args.threshold, method="exact")
    search = (time.perf_counter() - t0) * (args.n / m) ** 2
    base = args.n / rate + search
    print(f"baseline: MiniLM encode {rate:.0f} texts/s (timed on {len(sample):,}), exact search timed on {m:,}; "
          f"for {args.n:,}: {args.n / rate:.0f} s + {search:.0f} s = {base:.0f} s ({base / 60:.1f} min)")
    print(f"speed-up {base / took:.0f}x")
    cluster_of = {m: k for k, c in enumerate(found) for m in c.members}
    truth = [(p.i, p.j) for p in exact]
    hit = sum(1 for i, j in truth if i in cluster_of and cluster_of.get(i) == cluster_of.get(j))
    print(f"recall {hit / max(len(truth), 1):.3f}: {hit} of the {len(truth)} pairs exact MiniLM finds at "
          f"{args.threshold} among the first {len(sample):,} questions are in one cluster of the {args.n:,} run")
    ours = {(p.i, p.j) for c in found for p in c.pairs if p.j < len(sample)}
    print(f"  as pairs scored directly (not only joined through a cluster): "
          f"{sum(1 for t in truth if t in ours) / max(len(truth), 1):.3f}")
    sims = vecs @ vecs.T
    agree = [sims[i, j] for i, j in ours]
    if agree:
        print(f"the studio's {len(ours)} pairs there: MiniLM cosine median {np.median(agree):.3f}, "
              f"{np.mean(np.array(agree) >= args.threshold):.1%} at least {args.threshold}, "
              f"{np.mean(np.array(agree) >= args.threshold - 0.1):.1%} at least {args.threshold - 0.1:.1f}")
    if args.precise:
        precise = dedup.DedupConfig(method="semantic", semantic_threshold=args.threshold, scoring="precise")
        records = [{"question": q, "answer": "a"} for q in texts[:args.small or args.n]]
        t0 = time.perf_counter()
        got = dedup.dedup_records(records, precise, embedder=embedder)
        print(f"precise (candidates re-scored by MiniLM), {len(records):,} questions: "
              f"{time.perf_counter() - t0:.1f} s, {len(got):,} clusters")


if __name__ == "__main__":
    main()
