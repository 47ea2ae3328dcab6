"""Where embedding with MiniLM directly beats building the fast static model first (semantic dedup).

    python3 bench/semantic_small.py                       # 4 to 5,000 distinct questions
    python3 bench/semantic_small.py --n 100 1000 3000

Before the first semantic run in a workspace the fast model is still to be distilled from MiniLM
(30,522 short forward passes, once). A small dataset is quicker to embed with MiniLM itself than to
wait for that build; a large one is not. For each n this prints, in one process on this machine:
MiniLM's direct run (embedding n distinct questions of ``bench/corpus.py`` and the exact search), the
build's time (``static.estimate_build_seconds``: one timed batch scaled to the vocabulary; the real
build is ``bench/semantic.py``'s first line) and the ratio direct / build. Where the ratio nears 1 the
direct run costs as much as the build, which later runs would not pay again.
The first line also gives MiniLM's load time (once per process) and its measured seconds per character,
the figures ``semantic_records.estimate`` uses for a direct run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import questions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[4, 50, 200, 500, 1000, 2000, 5000])
    args = parser.parse_args()
    from studio.dedup import cells, static
    from studio.dedup.embed import load_embedder

    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"semantic small-data bench {now}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    start = time.perf_counter()
    embedder = load_embedder()
    load = time.perf_counter() - start
    embedder.encode(["warm up"])
    build = static.estimate_build_seconds(embedder)
    texts = questions(max(args.n), seed=5)
    chars = 0
    for n in args.n:
        batch = list(dict.fromkeys(texts))[:n]
        start = time.perf_counter()
        vecs = embedder.encode(batch)
        cells.pairs(vecs, 0.9, 32, exact=True)
        direct = time.perf_counter() - start
        chars = sum(len(t) + 8 for t in batch)
        print(f"n={n:>6,}: MiniLM direct {direct:7.2f} s ({direct / chars * 1e6:.1f} us/char), "
              f"build {build:6.1f} s, direct/build {direct / build:.3f}")
    print(f"MiniLM load {load:.1f} s (once per process)")


if __name__ == "__main__":
    main()
