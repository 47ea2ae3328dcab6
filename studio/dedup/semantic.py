"""Semantic matching: duplicate clusters, train/eval leakage and answer similarity by embeddings.

Texts become unit vectors (``studio.dedup.embed``), so cosine similarity is a dot product. Below
``EXACT_LIMIT`` records every pair is scored exactly, a block of rows at a time (one matrix
product per block, never the whole n x n matrix in memory); above it an inverted-file
nearest-neighbour index (faiss ``IndexIVFFlat``) compares each record with the records in its
nearest cells only. Both keep at most ``NEIGHBORS`` partners per record, so the result stays
bounded at low thresholds; clusters still join through chains of partners.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from studio.dedup.clusters import KIND_ORDER, Cluster, Pair, connected_clusters, kind_of
from studio.dedup.embed import (
    DEFAULT_BATCH,
    ESTIMATE_ABOVE,  # noqa: F401 - re-exported: the size above which to show an estimate first
    Embedder,
    Progress,
    estimate_seconds,
    measure_throughput,
    shared_embedder,
)
from studio.errors import CancelledError, StudioError

DEFAULT_THRESHOLD = 0.9  # cosine; paraphrases of one question score ~0.9-0.97 with all-MiniLM-L6-v2
EXACT_LIMIT = 20_000  # records: exact and index cross between 20k and 40k (bench/semantic.py)
NEIGHBORS = 32  # most similar later partners kept per record
BLOCK_ELEMENTS = 16_000_000  # similarity scores per block: 64 MB of float32, whatever n is
INDEX_PROBES = 16  # cells searched per query; 99%+ recall of pairs above 0.9 in the benchmark
METHODS = ("auto", "exact", "index")
# Search cost on a busy 2-core CPU (bench/semantic.py, load average ~10), for estimates before a
# long run; an idle machine is several times faster. Embedding time is measured live instead.
EXACT_SECONDS_PER_PAIR = 4.4e-8  # one 384-d dot product in a blocked matrix product
INDEX_SECONDS_PER_RECORD = 8.5e-4  # training, adding and querying the index, per record at 100k


def validate_threshold(threshold: float) -> float:
    """A cosine threshold in (0, 1], or a one-line ``StudioError``."""
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise StudioError(f"Semantic threshold must be a number between 0 and 1 (got {threshold!r}).") from None
    if not 0 < t <= 1 or math.isnan(t):
        hint = f" Did you mean {t / 100:g}?" if 1 < t <= 100 else ""
        raise StudioError(f"Semantic threshold must be above 0 and at most 1 (got {threshold}).{hint}")
    return t


def choose_method(n: int) -> str:
    """"exact" for up to ``EXACT_LIMIT`` records, "index" above."""
    return "exact" if n <= EXACT_LIMIT else "index"


def estimate_dedup_seconds(n: int, throughput: float, *, embedded: bool = False) -> float:
    """Rough seconds for semantic dedup of ``n`` records: embedding (unless done) plus search."""
    embed = 0.0 if embedded else estimate_seconds(n, throughput)
    if choose_method(n) == "exact":
        return embed + EXACT_SECONDS_PER_PAIR * n * (n - 1) / 2
    return embed + INDEX_SECONDS_PER_RECORD * n


@dataclass(frozen=True)
class RunEstimate:
    records: int
    method: str  # "exact" or "index"
    throughput: float  # texts embedded per second on this machine
    seconds: float  # embedding plus search

    @property
    def message(self) -> str:
        m = self.seconds / 60
        took = (f"about {m / 60:.1f} hours" if m >= 90 else f"about {m:.0f} minutes" if m >= 1.5
                else f"about {max(1, round(self.seconds))} seconds")
        return (f"Semantic dedup of {self.records:,} records will take {took} "
                f"(embedding at {self.throughput:.0f} texts/s, {self.method} search).")


def estimate_run(texts: Sequence[str], embedder: Embedder, *, embedded: bool = False) -> RunEstimate:
    """How long semantic dedup of ``texts`` will take here, from a ~2 s sample of the embedding cost
    (measured once per embedder) and the length of ``texts``. Show it before starting a run over
    ``ESTIMATE_ABOVE`` records."""
    rate = measure_throughput(embedder, texts)
    n = len(texts)
    return RunEstimate(n, choose_method(n), rate, estimate_dedup_seconds(n, rate, embedded=embedded))


def record_texts(records: Sequence[dict], *, with_answer: bool = False) -> list[str]:
    """The text to embed per Q&A record: the question, or the question and its answer."""
    if with_answer:
        return [f"{r.get('question') or ''}\n{r.get('answer') or ''}" for r in records]
    return [r.get("question") or "" for r in records]


def find_semantic_duplicates(
    texts: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    embedder: Embedder | None = None,
    embeddings: np.ndarray | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    *,
    method: str = "auto",
    neighbors: int = NEIGHBORS,
    choose_keep: Callable[[Sequence[int]], int] | None = None,
) -> list[Cluster]:
    """Clusters of texts whose embeddings have cosine similarity >= ``threshold``.

    Pass ``embeddings`` (rows aligned with ``texts``) to skip embedding, or an ``embedder``
    (default: the process-wide ``shared_embedder()``). Clusters have kind "semantic" and ``Pair.score``
    = cosine x 100.
    ``progress(done, total)`` counts texts embedded, then records searched (total = 2n when
    embedding, n otherwise); setting ``cancel`` raises ``CancelledError``.
    """
    t = validate_threshold(threshold)
    n = len(texts)
    if embeddings is None:
        if n < 2:
            return []
        emb = (embedder or shared_embedder()).encode(
            texts, progress=_shifted(progress, 0, 2 * n), cancel=cancel)
        search_progress = _shifted(progress, n, 2 * n)
    else:
        emb = _check_embeddings(embeddings, n, "texts")
        search_progress = progress
    pairs = semantic_pairs(emb, t, method=method, neighbors=neighbors, progress=search_progress, cancel=cancel)
    return connected_clusters(n, pairs, kind="semantic", choose_keep=choose_keep)


def semantic_pairs(
    embeddings: np.ndarray,
    threshold: float,
    *,
    method: str = "auto",
    neighbors: int = NEIGHBORS,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> list[Pair]:
    """Pairs (i < j) of unit rows with cosine >= ``threshold``, at most ``neighbors`` per i (by j > i
    for "exact", by nearest neighbours for "index"). Score = cosine x 100."""
    t = validate_threshold(threshold)
    if method not in METHODS:
        raise StudioError(f"Unknown search method {method!r}: use one of {', '.join(METHODS)}.")
    if neighbors < 1:
        raise StudioError(f"neighbors must be at least 1 (got {neighbors}).")
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    n = len(emb)
    if n < 2:
        return []
    use = choose_method(n) if method == "auto" else method
    search = _exact_pairs if use == "exact" else _index_pairs
    return search(emb, t, neighbors, progress, cancel)


def leakage(
    eval_texts: Sequence[str],
    train_texts: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    embedder: Embedder | None = None,
    *,
    eval_embeddings: np.ndarray | None = None,
    train_embeddings: np.ndarray | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> list[tuple[int, int, float]]:
    """For each evaluation text, its most similar training text when cosine >= ``threshold``.

    Returns ``(eval_index, train_index, score)`` sorted by eval index, score = cosine x 100 (the
    scale of ``Pair.score``). ``progress(done, total)`` counts texts embedded, then evaluation
    texts compared; setting ``cancel`` raises ``CancelledError``.
    """
    t = validate_threshold(threshold)
    m, n = len(eval_texts), len(train_texts)
    if m == 0 or n == 0:
        return []
    if eval_embeddings is None or train_embeddings is None:
        embedder = embedder or shared_embedder()
    to_embed = (m if eval_embeddings is None else 0) + (n if train_embeddings is None else 0)
    total = to_embed + m
    if eval_embeddings is None:
        ev = embedder.encode(eval_texts, progress=_shifted(progress, 0, total), cancel=cancel)
    else:
        ev = _check_embeddings(eval_embeddings, m, "evaluation texts")
    if train_embeddings is None:
        done = m if eval_embeddings is None else 0
        tr = embedder.encode(train_texts, progress=_shifted(progress, done, total), cancel=cancel)
    else:
        tr = _check_embeddings(train_embeddings, n, "training texts")
    hits = []
    rows = _block_rows(n)
    for s in range(0, m, rows):
        _check(cancel)
        sims = ev[s:s + rows] @ tr.T
        best = np.argmax(sims, axis=1)
        scores = sims[np.arange(len(best)), best]
        for r in np.nonzero(scores >= t - _EPS)[0]:
            hits.append((s + int(r), int(best[r]), _score(scores[r])))
        if progress:
            progress(to_embed + min(m, s + rows), total)
    return hits


def answer_similarity(
    answers: Sequence[str],
    references: Sequence[str],
    embedder: Embedder | None = None,
    *,
    batch_size: int = DEFAULT_BATCH,
    cancel: threading.Event | None = None,
) -> list[float]:
    """Cosine similarity (-1..1) of each answer with its reference, pair by pair.

    An empty answer scores 0.0 (1.0 when its reference is empty too): a blank reply is not
    "close in meaning" to anything, whatever the model makes of an empty string.
    """
    if len(answers) != len(references):
        raise StudioError(f"Got {len(answers)} answers for {len(references)} references; they must pair up.")
    if not answers:
        return []
    embedder = embedder or shared_embedder()
    vecs = embedder.encode(list(answers) + list(references), batch_size=batch_size, cancel=cancel)
    a, r = vecs[:len(answers)], vecs[len(answers):]
    sims = np.clip(np.einsum("ij,ij->i", a, r), -1.0, 1.0)
    out = []
    for ans, ref, s in zip(answers, references, sims):
        if not (ans or "").strip():
            out.append(1.0 if not (ref or "").strip() else 0.0)
        else:
            out.append(round(float(s), 4))
    return out


def combine_clusters(
    n: int,
    *cluster_lists: Sequence[Cluster],
    choose_keep: Callable[[Sequence[int]], int] | None = None,
) -> list[Cluster]:
    """Merge clusters from several methods (fuzzy, semantic, ...) over the same ``n`` records.

    Overlapping clusters become one; its kind joins the kinds that found it ("fuzzy+semantic").
    A pair found twice keeps its higher score. Without ``choose_keep`` a merged cluster keeps
    the suggestion of the first input cluster that went into it.
    """
    best: dict[tuple[int, int], Pair] = {}
    found_by: dict[tuple[int, int], set[str]] = {}
    keep_hint: dict[int, int] = {}
    for clusters in cluster_lists:
        for c in clusters:
            for m in c.members:
                keep_hint.setdefault(m, c.keep)
            for p in c.pairs:
                key = (p.i, p.j)
                found_by.setdefault(key, set()).add(p.kind or c.kind)
                if key not in best or p.score > best[key].score:
                    best[key] = p
    pairs = [Pair(p.i, p.j, p.score, "+".join(sorted(found_by[k], key=lambda x: (KIND_ORDER.get(x, 9), x))))
             for k, p in best.items()]
    merged = connected_clusters(n, pairs, choose_keep=choose_keep)
    out = []
    for c in merged:
        kind = kind_of(c.pairs, "fuzzy")
        keep = c.keep if choose_keep else keep_hint.get(c.members[0], c.keep)
        if keep not in c.members:
            keep = c.members[0]
        out.append(Cluster(c.members, c.pairs, keep, kind))
    return out


_EPS = 1e-5  # float32 dot products of identical unit vectors land within ~1e-7 of 1.0


def _exact_pairs(emb, t, k, progress, cancel) -> list[Pair]:
    n = len(emb)
    rows = _block_rows(n)
    pairs: list[Pair] = []
    for s in range(0, n, rows):
        _check(cancel)
        e = min(n, s + rows)
        sims = emb[s:e] @ emb[s:].T  # block rows against themselves and every later record
        sims[np.tril_indices(e - s, 0, n - s)] = -np.inf  # keep j > i only
        r, c = np.nonzero(sims >= t - _EPS)
        if len(r):
            counts = np.bincount(r, minlength=e - s)
            if counts.max() > k:  # keep the k best partners of a crowded row
                keep = np.ones(len(r), dtype=bool)
                starts = np.concatenate(([0], np.cumsum(counts)))
                for row in np.nonzero(counts > k)[0]:
                    lo, hi = starts[row], starts[row + 1]
                    vals = sims[row, c[lo:hi]]
                    drop = np.argpartition(-vals, k)[k:]
                    keep[lo + drop] = False
                r, c = r[keep], c[keep]
            vals = sims[r, c]
            pairs.extend(Pair(s + int(a), s + int(b), _score(v)) for a, b, v in zip(r, c, vals))
        if progress:
            progress(e, n)
    return pairs


def _index_pairs(emb, t, k, progress, cancel) -> list[Pair]:
    import faiss  # imported here: only large runs need it

    n, d = emb.shape
    nlist = int(min(max(4 * math.sqrt(n), 16), n // 16 or 1))  # cells: 16+ training points each
    quantizer = faiss.IndexFlatIP(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    # Cells need not be optimal, only cover the data: a small k-means (16 points per cell, 10
    # rounds) trains in a fraction of the search time instead of rivalling it.
    index.cp.niter = 10
    index.cp.min_points_per_centroid = 16
    rng = np.random.default_rng(0)
    sample = emb[rng.choice(n, size=nlist * 16, replace=False)] if n > nlist * 16 else emb
    _check(cancel)
    index.train(sample)
    index.add(emb)
    index.nprobe = min(INDEX_PROBES, nlist)
    found: dict[tuple[int, int], float] = {}
    step = 4096
    for s in range(0, n, step):
        _check(cancel)
        sims, ids = index.search(emb[s:s + step], k + 1)  # +1: a record finds itself first
        kept = np.zeros(len(sims), dtype=np.int64)
        for r, c in zip(*np.nonzero(sims >= t - _EPS)):  # row by row, most similar first
            i, j = s + int(r), int(ids[r, c])
            if j < 0 or j == i or kept[r] == k:
                continue
            kept[r] += 1
            key = (i, j) if i < j else (j, i)
            found[key] = max(found.get(key, -1.0), float(sims[r, c]))
        if progress:
            progress(min(n, s + step), n)
    return [Pair(i, j, _score(v)) for (i, j), v in sorted(found.items())]


def _block_rows(n: int) -> int:
    return max(1, min(4096, BLOCK_ELEMENTS // max(n, 1)))


def _score(cos: float) -> float:
    return round(min(100.0, max(-100.0, float(cos) * 100)), 2)


def _check_embeddings(emb: np.ndarray, n: int, what: str) -> np.ndarray:
    arr = np.asarray(emb, dtype=np.float32)
    if arr.ndim != 2 or len(arr) != n:
        raise StudioError(f"Got {arr.shape[0] if arr.ndim else 0} embeddings for {n} {what}; "
                          "embed them again with the same records.")
    return np.ascontiguousarray(arr)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("Semantic search stopped; nothing was changed.")


def _shifted(progress: Progress | None, offset: int, total: int) -> Progress | None:
    if progress is None:
        return None
    return lambda done, _n: progress(offset + done, total)
