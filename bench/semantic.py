"""Semantic dedup speed: the studio's fast path against MiniLM encode + exact search, in one run.

    python3 bench/semantic.py --full             # what the README reports: 100,000 and 5,000 questions,
                                                 # the baseline and the recall over all 100,000 (~6-8 min)
    python3 bench/semantic.py                    # the same, the baseline timed on 2,000 and scaled (~1 min)
    python3 bench/semantic.py --n 20000 --sample 1000
    python3 bench/semantic.py --precise          # also time the MiniLM re-scoring of the candidates

The questions are bench/corpus.py's (3 to 40 words from a Zipf vocabulary, one in ten a variant of
an earlier one), as bench/dedup.py uses. The studio's path is ``dedup_records`` with method
semantic: the static model distilled from all-MiniLM-L6-v2 (built once into the workspace; the
build is timed when this run makes it), k-means-cell search, clusters. It is timed twice: in this
process (the model loaded from disk as a fresh process would; wall time split by stage, with CPU time
and the time the process's threads waited for a CPU), and end to end as ``python -m studio dedup`` in
a new process (start, imports, reading the file, writing the report).

The baseline is what the studio did before: all-MiniLM-L6-v2 encodes every question, and exact
search compares every pair. With ``--full`` it runs on all n questions; otherwise MiniLM embeds
``--sample`` questions, and its rate and the exact search time (on min(n, 20,000) rows) are scaled
to n. Recall is the issue's: of the pairs exact MiniLM cosine finds at the threshold (among all n
with ``--full``, else among the first ``--sample``), the share the studio finds, either as a pair it
scored at the threshold or as two copies of one text (grouped as exact before any scoring). The
share that merely ends up in one cluster is printed beside it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import glob
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.corpus import questions  # noqa: E402


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def waited() -> float:
    """Seconds this process's threads have spent runnable but waiting for a CPU (Linux schedstat)."""
    total = 0
    for path in glob.glob("/proc/self/task/*/schedstat"):
        try:
            total += int(Path(path).read_text().split()[1])
        except (OSError, IndexError, ValueError):
            pass
    return total / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=5_000, help="the second, smaller run (0 skips it)")
    ap.add_argument("--sample", type=int, default=2_000, help="questions MiniLM embeds for the baseline and recall")
    ap.add_argument("--full", action="store_true", help="MiniLM embeds and exact search compares all n questions")
    ap.add_argument("--threshold", type=float, default=0.9)
    ap.add_argument("--precise", action="store_true", help="also run with the candidates re-scored by MiniLM")
    ap.add_argument("--no-cli", action="store_true", help="skip the runs of the CLI in a fresh process")
    ap.add_argument("--home", help="workspace holding the built static model (default: a temporary one)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["STUDIO_HOME"] = args.home or os.environ.get("STUDIO_HOME") or tempfile.mkdtemp(prefix="bench-sem-")
    from studio.dedup import fuzzy as dedup
    from studio.dedup import semantic_records, static
    from studio.dedup.embed import DEFAULT_MODEL, load_embedder
    from studio.dedup.semantic import semantic_pairs
    from studio.dedup.text import normalize

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

    def run(n: int) -> tuple[list, float]:
        records = [{"question": q, "answer": "a"} for q in texts[:n]]
        static._loaded.clear()  # the estimate loads the model from disk, as the page's first estimate does
        e0 = time.perf_counter()
        est = semantic_records.estimate(records, config)
        est_took = time.perf_counter() - e0
        marks: list[tuple[str, float]] = []  # (stage, when it started): from the progress messages
        last = [0.0]

        def progress(done: int, total: int, message: str = "") -> None:
            stage = message.split(" ", 1)[0].lower()
            last[0] = time.perf_counter()
            if not marks or marks[-1][0] != stage:
                marks.append((stage, last[0]))

        c0, w0, t0 = cpu(), waited(), time.perf_counter()
        found = dedup.dedup_records(records, config, progress=progress)
        took, used, wait = time.perf_counter() - t0, cpu() - c0, waited() - w0
        members = sum(len(c.members) for c in found)
        print(f"studio, {n:,} questions: {took:.2f} s wall, {used:.2f} s CPU, {wait:.2f} s waiting for a CPU; "
              f"{len(found):,} clusters holding {members:,} records; estimated {est.seconds:.2f} s "
              f"(estimate/actual {est.seconds / took:.2f}; the estimate itself {est_took:.2f} s)")
        starts = [("normalising+grouping(+loading the model)", t0)] + marks + [("clustering", last[0] or t0)]
        ends = [t for _, t in starts[1:]] + [t0 + took]
        print("  stages: " + ", ".join(f"{name.rstrip('.…')} {end - at:.2f} s"
                                      for (name, at), end in zip(starts, ends)))
        return found, took

    found, took = run(args.n)
    if args.small and args.small < args.n:
        run(args.small)
    print(f"peak RSS so far {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    if not args.no_cli:
        for n in sorted({args.n, args.small} - {0}, reverse=True):
            cli_run(texts[:n], args.threshold)

    sample = texts if args.full else texts[:args.sample]
    embedder.encode(sample[:64])  # warm-up
    t0 = time.perf_counter()
    vecs = embedder.encode(sample)
    encode = time.perf_counter() - t0
    rate = len(sample) / encode
    # Exact search costs the same whatever the vectors hold: with --full it runs on the real vectors;
    # otherwise it is timed on min(n, 20,000) random rows, where fixed costs no longer matter, and
    # scaled with the square of n.
    neighbors = 1_000  # the truth is every pair, not the 32 best partners of each record the studio keeps
    t0 = time.perf_counter()
    exact = semantic_pairs(vecs, args.threshold, method="exact", neighbors=neighbors)
    if args.full:
        search = time.perf_counter() - t0
        how = f"MiniLM encode {rate:.0f} texts/s, all {args.n:,} embedded and searched"
    else:
        m = min(args.n, 20_000)
        rows = np.random.default_rng(0).standard_normal((m, vecs.shape[1]), dtype=np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        t0 = time.perf_counter()
        semantic_pairs(rows, args.threshold, method="exact")
        search = (time.perf_counter() - t0) * (args.n / m) ** 2
        how = f"MiniLM encode {rate:.0f} texts/s (timed on {len(sample):,}), exact search timed on {m:,}"
    base = args.n / rate + search
    print(f"baseline: {how}; for {args.n:,}: {args.n / rate:.0f} s + {search:.0f} s = {base:.0f} s ({base / 60:.1f} min)")
    print(f"speed-up {base / took:.0f}x ({args.n:,} end to end in this process: {took:.2f} s)")

    first: dict[str, int] = {}
    rep = [first.setdefault(normalize(q), i) for i, q in enumerate(sample)]
    cluster_of = {m: k for k, c in enumerate(found) for m in c.members}
    truth = [(p.i, p.j) for p in exact]
    scored = {(p.i, p.j) for c in found for p in c.pairs if p.score >= 100 * args.threshold - 1e-3}
    direct = sum(1 for i, j in truth if rep[i] == rep[j] or (min(rep[i], rep[j]), max(rep[i], rep[j])) in scored)
    joined = sum(1 for i, j in truth if i in cluster_of and cluster_of.get(i) == cluster_of.get(j))
    where = f"all {args.n:,} questions" if args.full else f"the first {len(sample):,} questions"
    print(f"recall {direct / max(len(truth), 1):.3f}: of the {len(truth):,} pairs exact MiniLM cosine finds at "
          f"{args.threshold} among {where}, {direct:,} are found (scored at {args.threshold} or more, or copies "
          f"of one text); {joined / max(len(truth), 1):.3f} end up in one cluster")
    ours = sorted({(p.i, p.j) for c in found for p in c.pairs if p.j < len(sample)})
    if ours:
        a, b = np.array(ours).T
        agree = np.einsum("ij,ij->i", vecs[a], vecs[b])
        print(f"the studio's {len(ours):,} pairs there: MiniLM cosine median {np.median(agree):.3f}, "
              f"{np.mean(agree >= args.threshold):.1%} at least {args.threshold}, "
              f"{np.mean(agree >= args.threshold - 0.1):.1%} at least {args.threshold - 0.1:.1f}")
    if args.precise:
        precise = dedup.DedupConfig(method="semantic", semantic_threshold=args.threshold, scoring="precise")
        records = [{"question": q, "answer": "a"} for q in texts[:args.small or args.n]]
        t0 = time.perf_counter()
        got = dedup.dedup_records(records, precise, embedder=embedder)
        print(f"precise (candidates re-scored by MiniLM), {len(records):,} questions: "
              f"{time.perf_counter() - t0:.1f} s, {len(got):,} clusters")


def cli_run(texts: list[str], threshold: float) -> None:
    """``python -m studio dedup --method semantic`` in a new process: the whole of what a user waits for."""
    with tempfile.TemporaryDirectory() as tmp:
        data, report = Path(tmp) / "questions.json", Path(tmp) / "report.json"
        data.write_text(json.dumps([{"question": q, "answer": "a"} for q in texts]), "utf-8")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        t0 = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "studio", "dedup", str(data), "--method", "semantic",
                               "--threshold", str(threshold), "--report", str(report)],
                              capture_output=True, text=True, env=env, cwd=ROOT)
        took = time.perf_counter() - t0
        child = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode:
            print(f"CLI, {len(texts):,} questions: failed: {done.stderr.strip()[-300:]}")
            return
        inner = json.loads(report.read_text("utf-8"))["seconds"]
        print(f"CLI in a fresh process, {len(texts):,} questions: {took:.2f} s wall from start to exit "
              f"({inner:.2f} s of it dedup; children's CPU so far {child.ru_utime + child.ru_stime:.1f} s)")


if __name__ == "__main__":
    main()
