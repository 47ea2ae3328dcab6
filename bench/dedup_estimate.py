"""Benchmark: the fuzzy pass's estimate (``fuzzy.estimate_seconds``, a timed sample) against the pass itself, and
the correction it learns from the runs (``fuzzy.pace``: the median of the last runs' time over their estimates).

    python bench/dedup_estimate.py [--runs 3]

In a fresh workspace (nothing learned yet), for short and long texts and small to large datasets, runs the pass
``--runs`` times, each after an estimate, and prints each estimate, the correction it applied, the time making it
took, the run's time and estimate/run: the first estimate of a shape is the sample scaled alone (correction 1.00
unless a shape of texts as long, scaled the same way, ran before it), the later ones learned from the runs before them. Estimate and
run are measured in one process one after the other (a busy machine moves both).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.dedup import fuzzy  # noqa: E402

WORDS = ("what is the capital of france how many players are on a team who wrote it when where why rule offside "
         "goal").split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="estimate-and-run rounds per shape (default 3)")
    args = parser.parse_args()
    os.environ["STUDIO_HOME"] = tempfile.mkdtemp(prefix="bench-dedup-estimate-")  # learn from these runs only
    rng = random.Random(0)
    for n, words in ((500, 8), (5_000, 10), (30_000, 12), (100_000, 12), (3_000, 300)):
        records = [{"question": " ".join(rng.choice(WORDS) for _ in range(words)) + f" {k % 997}", "answer": "a"}
                   for k in range(n)]
        config = fuzzy.DedupConfig(method="fuzzy", threshold=90)
        for run in range(1, args.runs + 1):
            start = time.perf_counter()
            estimate = fuzzy.estimate_seconds(records, config)
            made = time.perf_counter() - start
            kind, raw = fuzzy._estimated.get(fuzzy._fingerprint(fuzzy.field_texts(records, config.field), config),
                                             ("whole", estimate))
            start = time.perf_counter()
            fuzzy.dedup_records(records, config)
            took = time.perf_counter() - start
            print(f"{n:>7,} records of {words:>3} words, run {run}: estimate {estimate:7.2f} s (scaled by {kind}, "
                  f"correction {estimate / raw if raw else 1.0:.2f}, made in {made:.2f} s), run {took:7.2f} s, "
                  f"estimate/run {estimate / took:.2f}, uncorrected {raw / took:.2f}", flush=True)


if __name__ == "__main__":
    main()
