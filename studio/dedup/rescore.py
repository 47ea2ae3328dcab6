"""Score again only the records edited since a dedup run: their pairs with every other record, on their text now.

A record edited in the Edit tab after a run stays in its clusters with its old text's scores (``studio.dedup.follow``
marks it). Rather than run again over every record, the edited ones are compared with the rest: their old pairs go,
each is scored against every other distinct text (fuzzy: one rapidfuzz row per edited text; semantic: its vector
against the vectors the run kept, ``semantic_records.Vectors``, only texts the run never saw embedded), and the
clusters are made again from the pairs left and the new ones. The review's decisions stay on every cluster that is
still there with the same records (a decision is about those records); the rest go, counted, as ``follow`` does.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from studio.dedup import clusters as cl
from studio.dedup import fuzzy, semantic_records
from studio.dedup.review import Decision, Review
from studio.dedup.text import field_texts
from studio.errors import CancelledError

BLOCK = 10_000_000  # scores or similarities held at once (80 MB of float64 scores): 100 edited texts x 1 M records


def rescore(records: Sequence[dict], found: Sequence[cl.Cluster], edited: frozenset[int], config: fuzzy.DedupConfig,
            *, vectors: list | None = None, embedder=None,
            cancel: threading.Event | None = None) -> list[cl.Cluster]:
    """``found`` (a run's clusters, followed to ``records``) with the pairs of the ``edited`` records scored again on
    their text now: what a new run over ``records`` finds for them, the other pairs kept as the run scored them.
    ``vectors``: the run's ``Vectors`` (a list, updated with the texts embedded here); without them the records'
    distinct texts are embedded again (the pair search is still only the edited texts')."""
    n = len(records)
    most_complete = fuzzy.suggest(records)
    kept = []  # the run's clusters less every pair of an edited record
    for c in found:
        pairs = [p for p in c.pairs if p.i not in edited and p.j not in edited]
        if pairs:
            kind = [cl.Pair(p.i, p.j, p.score, p.kind or c.kind) for p in pairs]
            kept += cl.connected_clusters(n, kind, kind=c.kind)
    lists = [kept]
    if config.method != "semantic":
        lists.append(_fuzzy(records, edited, config, most_complete, cancel))
    if config.method != "fuzzy":
        lists.append(_semantic(records, edited, config, vectors, embedder, cancel, most_complete))
    out = _combine(n, lists, most_complete)
    if config.method != "both":  # one finder: its own kinds, as its run names them ("fuzzy" or "exact", ...)
        out = [cl.Cluster(c.members, c.pairs, c.keep,
                          "exact" if all(p.kind == "exact" for p in c.pairs) else config.method) for c in out]
    return sorted(out, key=lambda c: (-c.top_score, c.members))


def _combine(n: int, lists: list[list[cl.Cluster]], choose_keep) -> list[cl.Cluster]:
    from studio.dedup import semantic

    return semantic.combine_clusters(n, *lists, choose_keep=choose_keep)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("Scoring the edited records again stopped; nothing was changed.")


def _fuzzy(records: Sequence[dict], edited: frozenset[int], config: fuzzy.DedupConfig, choose_keep,
           cancel: threading.Event | None = None) -> list[cl.Cluster]:
    """The fuzzy clusters an edited record makes with the others (each copy of one text joined to the first copy,
    as ``fuzzy.find_duplicates`` joins them), passages respected as a run respects them."""
    from rapidfuzz import process

    texts = field_texts(records, config.field)
    passages = semantic_records.record_passages(records) if config.passage else None
    prepared = fuzzy.prepare(fuzzy._search_texts(texts, passages))
    first: dict[str, int] = {}
    for i, s in enumerate(prepared):
        if s:
            first.setdefault(s, i)
    pairs: list[cl.Pair] = []
    for i, s in enumerate(prepared):  # copies: joined to their first (an edited first copy left its copies unjoined)
        if s and first[s] != i:
            pairs.append(cl.Pair(first[s], i, 100.0))
    reps = list(first.values())
    queries = sorted(e for e in edited if prepared[e] and first[prepared[e]] == e)
    if queries and len(reps) > 1:
        fn = fuzzy.check_scorer(config.scorer)
        choices = [prepared[r] for r in reps]
        step = max(1, BLOCK // len(reps))  # edited texts scored at once: BLOCK scores held at most
        for start in range(0, len(queries), step):
            _check(cancel)
            rows = queries[start:start + step]
            scores = process.cdist([prepared[e] for e in rows], choices, scorer=fn, score_cutoff=config.threshold,
                                   workers=-1, dtype=np.float64)
            for row, e in enumerate(rows):
                for col in np.flatnonzero(scores[row] >= config.threshold).tolist():
                    r = reps[col]
                    if r != e and not (r in edited and r < e):  # two edited texts: their pair once
                        pairs.append(cl.Pair(min(e, r), max(e, r), float(scores[row, col])))
    found = cl.connected_clusters(len(records), pairs, kind="fuzzy", choose_keep=choose_keep)
    if passages is not None:
        return fuzzy._respect_passages(found, texts, passages, config, choose_keep)
    return [cl.Cluster(c.members, c.pairs, c.keep, "exact") if len({prepared[m] for m in c.members}) == 1 else c
            for c in found]


def _semantic(records: Sequence[dict], edited: frozenset[int], config: fuzzy.DedupConfig, vectors: list | None,
              embedder, cancel: threading.Event | None, choose_keep) -> list[cl.Cluster]:
    """The semantic clusters an edited record makes with the others: its vector against each distinct text's (the
    run's, where it kept them), candidates re-scored by MiniLM under Precise, passages compared as a run compares."""
    sr = semantic_records
    t = float(config.semantic_threshold)
    texts = field_texts(records, config.field)
    passages = sr.record_passages(records) if config.passage else None
    groups: dict[tuple[str, str], list[int]] = {}
    for i, text in enumerate(texts):
        key = sr.text_key(text, passages[i] if passages else None)
        if key:
            groups.setdefault(key, []).append(i)
    pairs = [cl.Pair(g[0], j, 100.0, "exact") for g in groups.values() for j in g[1:]]
    keys = list(groups)
    reps = np.array([g[0] for g in groups.values()], dtype=np.int64)
    queries = [k for k, g in enumerate(groups.values()) if g[0] in edited]
    if queries and len(keys) > 1:
        stored = vectors[0] if vectors else None
        direct = stored.direct if stored is not None else sr.direct(len(keys), passages is not None,
                                                                    sr.model_name(config))
        encode = _encoder(config, direct, embedder)
        missing = [k for k, key in enumerate(keys) if stored is None or key not in stored.rows]
        fresh = encode([texts[reps[k]] for k in missing], cancel) if missing else None
        dim = fresh.shape[1] if fresh is not None else stored.text.shape[1]
        vecs = np.zeros((len(keys), dim), dtype=np.float32)
        if stored is not None:
            have = [k for k, key in enumerate(keys) if key in stored.rows]
            vecs[have] = stored.text[[stored.rows[keys[k]] for k in have]]
        if missing:
            vecs[missing] = fresh
            if stored is not None and stored.text.nbytes + fresh.nbytes <= sr.KEEP_BYTES:  # kept for the next time
                stored.rows.update({keys[k]: len(stored.text) + n for n, k in enumerate(missing)})
                stored.text = np.concatenate([stored.text, fresh])
        precise = config.scoring == "precise" and not direct
        floor = t - sr.RESCORE_MARGIN if precise else t
        found_i, found_j, found_v = [], [], []
        step = max(1, BLOCK // len(keys))  # edited texts compared at once: BLOCK similarities held at most
        for start in range(0, len(queries), step):
            _check(cancel)
            rows = np.asarray(queries[start:start + step], dtype=np.int64)
            sims = vecs[rows] @ vecs.T
            qi, col = np.nonzero(sims >= floor - sr.cells.EPS)
            found_i.append(rows[qi])
            found_j.append(col.astype(np.int64))
            found_v.append(sims[qi, col])
        i, j, v = np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_v)
        keep = (i != j) & ~(np.isin(j, queries) & (j < i))  # itself; two edited texts' pair once
        i, j, v = np.minimum(i, j)[keep], np.maximum(i, j)[keep], np.minimum(v[keep], 1.0)
        if passages is not None and len(i):
            used = np.unique(np.r_[i, j])
            pv = np.zeros((len(keys), dim), dtype=np.float32)
            pv[used] = encode([passages[reps[k]] for k in used], cancel)
            empty = np.array([not passages[r].strip() for r in reps], dtype=bool)
            v = np.minimum(v, sr._passage_cos(pv, i, j, empty=empty))
            i, j, v = sr._above(i, j, v, floor)
        if precise and len(i):
            v = sr._rescore(texts, passages, reps, i, j, config, embedder, None, cancel)
            i, j, v = sr._above(i, j, v, t)
        pairs += [cl.Pair(int(min(a, b)), int(max(a, b)), round(float(s) * 100, 2), "semantic")
                  for a, b, s in zip(reps[i].tolist(), reps[j].tolist(), v.tolist())]
    found = cl.connected_clusters(len(records), pairs, kind="semantic", choose_keep=choose_keep)
    identical = {m: k for k, g in enumerate(groups.values()) for m in g}
    return [cl.Cluster(c.members, c.pairs, c.keep, "exact") if len({identical[m] for m in c.members}) == 1 else c
            for c in found]


def _encoder(config: fuzzy.DedupConfig, direct: bool, embedder):
    """``encode(texts, cancel)`` with the model the run embedded with: the sentence-transformer itself (a small
    dataset), or the static model built from it."""
    sr = semantic_records
    if direct:
        model = embedder or sr._load(sr.model_name(config))[0]
        return lambda items, cancel: model.encode([x[:sr.static.MAX_CHARS] for x in items], cancel=cancel)
    model = sr.static_model(sr.model_name(config), embedder)
    return lambda items, cancel: model.encode(items, None, cancel)


def rescore_review(review: Review, found: Sequence[cl.Cluster]) -> tuple[Review, int]:
    """(``review`` over ``found``, the clusters after ``rescore``, cut at its threshold; how many decided clusters lost
    their decision). A decision stays on a cluster still there with the same records; one whose records changed
    (an edited record left it or joined it) goes with its earlier steps, as ``follow.follow_review`` drops them."""
    clusters = fuzzy.clusters_at(found, review.threshold or 0.0)
    place = {c.members: k for k, c in enumerate(clusters)}
    index = {k: place.get(c.members) for k, c in enumerate(review.clusters)}
    live = {d.cluster: d for step in review.steps for d in step}
    gone = {k for k in live if index[k] is None}
    steps = [[Decision(index[d.cluster], d.action, keep=d.keep, merged=d.merged, earlier=d.earlier)
              for d in step if d.cluster not in gone] for step in review.steps]
    known = frozenset(index[k] for k in review.known if index[k] is not None)
    return Review(clusters, steps=[s for s in steps if s], threshold=review.threshold, known=known), len(gone)
