"""Benchmark: the fuzzy pass's estimate (``fuzzy.estimate_seconds``, a timed sample) against the pass itself.

    python bench/dedup_estimate.py

Prints, for short and long texts and small to large datasets, the estimate, the time making it took and the
run's time, measured in the same process one after the other (a busy machine moves both).
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.dedup import fuzzy  # noqa: E402

WORDS = ("what is the capital of france how many players are on a team who wrote it when where why rule offside "
         "goal").split()


def main() -> None:
    rng = random.Random(0)
    for n, words in ((500, 8), (5_000, 10), (30_000, 12), (100_000, 12), (3_000, 300)):
        records = [{"question": " ".join(rng.choice(WORDS) for _ in range(words)) + f" {k % 997}", "answer": "a"}
                   for k in range(n)]
        config = fuzzy.DedupConfig(method="fuzzy", threshold=90)
        start = time.perf_counter()
        estimate = fuzzy.estimate_seconds(records, config)
        made = time.perf_counter() - start
        start = time.perf_counter()
        fuzzy.dedup_records(records, config)
        took = time.perf_counter() - start
        print(f"{n:>7,} records of {words:>3} words: estimate {estimate:7.2f} s (made in {made:.2f} s), "
              f"run {took:7.2f} s, estimate/run {estimate / took:.2f}", flush=True)


if __name__ == "__main__":
    main()
