"""Pairs of unit vectors above a cosine threshold, found with matrix products inside k-means cells.

Exact search compares every pair: n^2 / 2 dot products, 5 x 10^9 at 100,000 records. Here the
vectors are first split into cells by a small k-means (about ``CELL_SIZE`` vectors a cell), each
vector joins its ``PROBES`` nearest cells, and only vectors sharing a cell are compared: one
matrix product per cell, PROBES^2 x n x CELL_SIZE dot products in all. Two vectors with cosine 0.85
or more nearly always share one of their two nearest cells (recall is measured in
``bench/semantic.py`` against exact search). Everything is numpy: BLAS products, vectorised
thresholds and per-row limits, no Python loop over pairs. Up to ``EXACT_LIMIT`` vectors the one
"cell" is all of them, which is exact.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from studio.errors import CancelledError
from studio.tasks import ProgressFn

EXACT_LIMIT = 12_000  # vectors: up to here every pair is compared (one product, ~0.1-0.5 s at 256-d)
CELL_SIZE = 500  # vectors per k-means cell on average
PROBES = 2  # cells each vector joins: its nearest and second nearest centroid
KMEANS_ROUNDS = 6
BLOCK_ELEMENTS = 8_000_000  # similarity scores per product: 32 MB of float32, whatever n is
WORKERS = min(8, os.cpu_count() or 1)  # cells searched at once, one core each
EPS = 1e-5  # float32 dot products of identical unit vectors land within ~1e-7 of 1.0


def pairs(emb: np.ndarray, threshold: float, neighbors: int, progress: ProgressFn | None = None,
          cancel: threading.Event | None = None, *, exact: bool | None = None) -> tuple[np.ndarray, ...]:
    """(i, j, cosine) arrays of pairs i < j with cosine >= ``threshold``, at most ``neighbors`` per i
    (its most similar partners). ``exact`` forces (True) or forbids (False) comparing every pair."""
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    n = len(emb)
    if n < 2:
        return _empty()
    if progress:
        progress(0, 1)  # the search has started: the bar says so before the first cell is done
    if exact if exact is not None else n <= EXACT_LIMIT:
        members = [np.arange(n)]
    else:
        members = _cells(emb, cancel)
    work = sum(len(m) ** 2 for m in members) or 1
    found, done = [], 0

    def search(m: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        _check(cancel)
        return _within(emb, m, threshold, neighbors, cancel)

    # Many cells: one BLAS thread per product and a few cells at once. A cell's product is small
    # (~1,000 x 1,000 x 256), and BLAS threads splitting it wait for each other: on a busy 2-core
    # machine 100,000 questions searched in 6-10 s this way against 15-18 s (load 10).
    workers = min(WORKERS, len(members))
    with _one_blas_thread(workers > 1), ThreadPoolExecutor(workers) as pool:
        for m, part in zip(members, pool.map(search, members)):
            found.extend(part)
            done += len(m) ** 2
            if progress:
                progress(done, work)
    return _unique(found, n, neighbors)


def _one_blas_thread(on: bool):
    """BLAS limited to one thread while cells are searched in parallel (process-wide, for the search only)."""
    if not on:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # not installed: BLAS keeps its threads, the search is only slower under load
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _cells(emb: np.ndarray, cancel: threading.Event | None) -> list[np.ndarray]:
    """Members of each k-means cell, each vector in its ``PROBES`` nearest cells."""
    n = len(emb)
    k = max(2, n // CELL_SIZE)
    rng = np.random.default_rng(0)
    sample = emb[rng.choice(n, size=min(n, 40 * k), replace=False)]
    centroids = sample[rng.choice(len(sample), size=k, replace=False)].copy()
    for _ in range(KMEANS_ROUNDS):  # cells need only cover the data, not be optimal
        _check(cancel)
        near = np.argmax(sample @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, near, sample)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids = np.where(norms > 0, sums / np.maximum(norms, 1e-12), centroids)
    top = np.empty((n, PROBES), dtype=np.int64)
    step = max(1, BLOCK_ELEMENTS // k)
    for s in range(0, n, step):
        _check(cancel)
        sims = emb[s:s + step] @ centroids.T
        top[s:s + step] = np.argpartition(-sims, PROBES - 1, axis=1)[:, :PROBES] if k > PROBES else \
            np.argsort(-sims, axis=1)[:, :PROBES]
    cell = top.ravel()
    owner = np.repeat(np.arange(n), PROBES)
    order = np.argsort(cell, kind="stable")
    bounds = np.searchsorted(cell[order], np.arange(k + 1))
    return [owner[order[bounds[c]:bounds[c + 1]]] for c in range(k) if bounds[c + 1] - bounds[c] > 1]


def _within(emb: np.ndarray, members: np.ndarray, t: float, k: int,
            cancel: threading.Event | None) -> list[tuple[np.ndarray, ...]]:
    """Pairs above ``t`` among ``members`` (global indices, ascending), in blocks of rows."""
    members = np.sort(members)
    vecs = emb[members]
    m = len(members)
    rows = max(1, min(m, BLOCK_ELEMENTS // max(m, 1)))
    out = []
    for s in range(0, m, rows):
        _check(cancel)
        e = min(m, s + rows)
        sims = vecs[s:e] @ vecs[s:].T  # block rows against themselves and every later member
        r, c = np.nonzero(sims >= t - EPS)
        keep = c > r  # later members only: each pair once, no self-pairs
        r, c = r[keep], c[keep]
        if not len(r):
            continue
        v = sims[r, c]
        r, c, v = _best_per_row(r, c, v, k)
        out.append((members[s + r], members[s + c], v))
    return out


def _best_per_row(r: np.ndarray, c: np.ndarray, v: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """At most ``k`` entries per row ``r``: its highest values."""
    counts = np.bincount(r)
    if counts.max() <= k:
        return r, c, v
    order = np.lexsort((-v, r))
    r, c, v = r[order], c[order], v[order]
    first = np.r_[0, np.flatnonzero(np.diff(r)) + 1]
    rank = np.arange(len(r)) - np.repeat(first, np.diff(np.r_[first, len(r)]))
    keep = rank < k
    return r[keep], c[keep], v[keep]


def _unique(found: list[tuple[np.ndarray, ...]], n: int, k: int) -> tuple[np.ndarray, ...]:
    """Join the cells' pairs: each pair once, at most ``k`` partners per i."""
    if not found:
        return _empty()
    i = np.concatenate([f[0] for f in found]).astype(np.int64)
    j = np.concatenate([f[1] for f in found]).astype(np.int64)
    v = np.concatenate([f[2] for f in found]).astype(np.float32)
    code = i * n + j
    code, first = np.unique(code, return_index=True)
    i, j, v = i[first], j[first], v[first]
    i, j, v = _best_per_row(i, j, v, k)
    return i, j, np.minimum(v, 1.0)


def _empty() -> tuple[np.ndarray, ...]:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("Semantic search stopped; nothing was changed.")


def dot_products(n: int, exact: bool | None = None) -> float:
    """About how many dot products ``pairs`` computes for ``n`` vectors (for estimates)."""
    if exact if exact is not None else n <= EXACT_LIMIT:
        return n * n / 2
    k = max(2, n // CELL_SIZE)
    per_cell = PROBES * n / k
    return k * per_cell * per_cell / 2 + n * k + KMEANS_ROUNDS * min(n, 40 * k) * k

