"""Semantic dedup speed: embedding throughput and search over 100,000 questions.

    python3 bench/semantic.py                 # ~10-15 minutes on a busy 2-core CPU
    python3 bench/semantic.py --embed 2000    # quicker, rougher throughput
    python3 bench/semantic.py --full          # the real thing: dedup of all 100,000 records, end to end

Embedding all 100,000 questions on two cores takes tens of minutes, so the script embeds a
sample of real generated questions, measures texts/s, and extrapolates the embedding time. The
search is measured on all 100,000 records: the sample's real embeddings plus noisy copies of
them (10% near-duplicates, the rest pushed far enough away to be different questions). The
baseline is exact blocked search of the same vectors in the same process.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.dedup.embed import DEFAULT_BATCH, load_embedder  # noqa: E402
from studio.dedup.semantic import EXACT_LIMIT, semantic_pairs  # noqa: E402

TEMPLATES = [
    "What is the {a} of {b}?", "How does {b} affect {a}?", "Why is {b} important for {a}?",
    "Which {a} is most common in {b}?", "When was the first {a} used in {b}?",
    "How many {a} are there in {b}?", "Can you explain {a} in the context of {b}?",
    "What is the difference between {a} and {b}?", "Who is known for {a} in {b}?",
    "Where can I learn about {a} for {b}?",
]
A = ["capital", "population", "offside rule", "boiling point", "tax rate", "recipe", "history", "climate",
     "main export", "national sport", "speed limit", "largest river", "voting age", "currency", "anthem",
     "penalty kick", "goalkeeper", "photosynthesis", "inflation", "gravity", "vaccination", "copyright"]
B = ["France", "a soccer match", "water", "Japan", "small businesses", "bread", "the Roman empire", "Brazil",
     "Canada", "cricket", "German motorways", "Egypt", "elections", "Switzerland", "the Olympics", "tennis",
     "plants", "the economy", "the Moon", "children", "software", "Mount Everest", "the ocean", "chess"]


def questions(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(TEMPLATES).format(a=rng.choice(A), b=rng.choice(B)) + f" ({rng.randint(1, 10**6)})"
            if rng.random() < 0.5 else rng.choice(TEMPLATES).format(a=rng.choice(A), b=rng.choice(B))
            for _ in range(n)]


def noisy_copies(base: np.ndarray, n: int, dup_share: float, seed: int = 0) -> np.ndarray:
    """``base`` plus noisy copies up to ``n`` rows: near-duplicates (cos ~0.9-0.99) and distinct rows."""
    rng = np.random.default_rng(seed)
    m, d = base.shape
    src = rng.integers(0, m, n - m)
    sigma = np.where(rng.random(n - m) < dup_share, rng.uniform(0.004, 0.016, n - m),
                     rng.uniform(0.04, 0.08, n - m)).astype(np.float32)
    extra = base[src] + sigma[:, None] * rng.standard_normal((n - m, d), dtype=np.float32)
    out = np.concatenate([base, extra])
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--embed", type=int, default=3_000, help="questions actually embedded")
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--sizes", default="5000,10000,20000,40000", help="sizes for the exact/index crossover")
    ap.add_argument("--full", action="store_true",
                    help="embed and dedup all --records questions through the studio's engine, after its estimate")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print(f"semantic bench {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    if args.full:
        end_to_end(args.records, args.threshold)
        return

    embedder, secs = timed(load_embedder)
    print(f"model: {embedder.model_name} from {embedder.source} on {embedder.device} (loaded in {secs:.1f} s)")
    texts = questions(args.embed)
    embedder.encode(texts[:64])  # warm-up
    probe = texts[:min(500, len(texts))]
    rates = {}
    for bs in (32, 64, 128):
        _, secs = timed(embedder.encode, probe, batch_size=bs)
        rates[bs] = len(probe) / secs
    base_rate = rates[32]
    print("embedding throughput by batch size: " + ", ".join(
        f"{bs}: {r:.0f} texts/s ({r / base_rate:.2f}x)" for bs, r in rates.items()))
    vecs, secs = timed(embedder.encode, texts, batch_size=DEFAULT_BATCH)
    rate = len(texts) / secs
    print(f"embedded {len(texts):,} questions in {secs:.1f} s: {rate:.0f} texts/s at batch {DEFAULT_BATCH}")

    data = noisy_copies(vecs, args.records, dup_share=0.1)
    print(f"\nsearch set: {len(data):,} x {data.shape[1]} (the {len(vecs):,} real embeddings + noisy copies)")
    print(f"exact/index crossover (threshold {args.threshold}; EXACT_LIMIT is {EXACT_LIMIT:,}):")
    for size in [int(s) for s in args.sizes.split(",") if s]:
        sub = data[:size]
        exact, te = timed(semantic_pairs, sub, args.threshold, method="exact")
        index, ti = timed(semantic_pairs, sub, args.threshold, method="index")
        recall = _recall(exact, index)
        print(f"  {size:>7,}: exact {te:6.1f} s, index {ti:6.1f} s ({te / ti:.2f}x), recall {recall:.3f}")

    exact, te = timed(semantic_pairs, data, args.threshold, method="exact")
    index, ti = timed(semantic_pairs, data, args.threshold, method="index")
    print(f"\n{len(data):,} records: exact search {te:.1f} s (baseline), index search {ti:.1f} s "
          f"({te / ti:.2f}x faster), recall {_recall(exact, index):.3f} of {len(exact):,} pairs")
    embed_all = len(data) / rate
    print(f"end-to-end for {len(data):,} questions: embedding {embed_all / 60:.1f} min (extrapolated from "
          f"{len(texts):,} at {rate:.0f} texts/s) + index search {ti:.0f} s = {(embed_all + ti) / 60:.1f} min; "
          f"with exact search {(embed_all + te) / 60:.1f} min")
    print(f"search cost: exact {te / (len(data) * (len(data) - 1) / 2):.2e} s/pair, "
          f"index {ti / len(data):.2e} s/record")


def end_to_end(n: int, threshold: float) -> None:
    """What a user's run costs: the estimate the studio shows first, then ``dedup_records`` on all
    ``n`` records (embedding, search, clusters), timed."""
    from bench.corpus import questions as varied_questions
    from studio.dedup.fuzzy import DedupConfig, dedup_records
    from studio.dedup.semantic import estimate_run

    embedder = load_embedder()
    texts = varied_questions(n, seed=1)  # bench/dedup.py's corpus: 3 to 40 words, one in ten a variant
    records = [{"question": q, "answer": "a"} for q in texts]
    estimate = estimate_run(texts, embedder)
    print(f"the studio's estimate: {estimate.message}")
    start = time.perf_counter()
    found = dedup_records(records, DedupConfig(method="semantic", semantic_threshold=threshold), embedder=embedder)
    took = time.perf_counter() - start
    members = sum(len(c.members) for c in found)
    print(f"end to end, {n:,} questions: {took / 60:.1f} min ({n / took:.0f} records/s overall), "
          f"{len(found):,} clusters holding {members:,} records; estimate/actual "
          f"{estimate.seconds / took:.2f}")


def _recall(exact, index) -> float:
    truth = {(p.i, p.j) for p in exact}
    found = {(p.i, p.j) for p in index}
    return len(truth & found) / len(truth) if truth else 1.0


if __name__ == "__main__":
    main()
