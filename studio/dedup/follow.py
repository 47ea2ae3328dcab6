"""A dedup run and its review carried over edits made elsewhere to the records they were made on.

The Duplicates tab reviews the working copy. A record deleted or fixed in the Edit tab moves the others' numbers;
rather than drop the run and every decision made on it, the run's clusters and the review's decisions follow each
record to its new place. A cluster that loses a record keeps the rest (joined by the pairs left); a decision stays
on every cluster that is still there with the same records, less the deleted ones (one that kept a deleted record
goes: what it chose is gone). A record edited in place stays in its clusters, its scores those of its text before the
edit (``edited`` names it, for the page to say so: a new run scores it again).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from studio.dedup import clusters as cl
from studio.dedup.review import Decision, Review


def moves(before: Sequence[dict], after: Sequence[dict]) -> list[int | None]:
    """Where each record of ``before`` is in ``after`` (None: deleted, or rewritten past recognition).

    The editor keeps every record it did not touch as the same object, so those anchor the rest (copies of one
    text, which a dedup is about, are told apart so). Between two anchors, records equal in question and answer
    match in order; one edited in place (a fix: its question or its answer unchanged) keeps its place.
    """
    where = {id(r): i for i, r in enumerate(before)}
    out: list[int | None] = [None] * len(before)
    anchors: list[tuple[int, int]] = []
    for j, r in enumerate(after):
        i = where.get(id(r))
        if i is not None and (not anchors or i > anchors[-1][0]):
            anchors.append((i, j))
    prev_i = prev_j = -1
    for i, j in [*anchors, (len(before), len(after))]:
        if i < len(before):
            out[i] = j
        _gap(before, after, range(prev_i + 1, i), range(prev_j + 1, j), out)
        prev_i, prev_j = i, j
    return out


def _key(record: object) -> tuple[str, str]:
    r = record if isinstance(record, dict) else {}
    return str(r.get("question", "")), str(r.get("answer", ""))


def _gap(before: Sequence[dict], after: Sequence[dict], old: range, new: range, out: list[int | None]) -> None:
    """Match the records of ``before[old]`` to ``after[new]``, between two anchors."""
    if not old or not new:
        return
    a, b = [_key(before[i]) for i in old], [_key(after[j]) for j in new]
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            for k in range(i2 - i1):
                out[old[i1 + k]] = new[j1 + k]
        elif op == "replace":  # edited in place: as many records before as after, each keeps its place (its question
            # and answer both edited, it left its clusters as if deleted); otherwise kept when its question or its
            # answer is unchanged
            for k in range(min(i2 - i1, j2 - j1)):
                if i2 - i1 == j2 - j1 or a[i1 + k][0] == b[j1 + k][0] or a[i1 + k][1] == b[j1 + k][1]:
                    out[old[i1 + k]] = new[j1 + k]


def edited(before: Sequence[dict], after: Sequence[dict], moved: Sequence[int | None]) -> set[int]:
    """The records of ``after`` (their indices) that ``moved`` places as a record of ``before`` with other text: edited
    since the run, so their pairs' scores and their clusters' suggested records are from the text before the edit."""
    return {j for i, j in enumerate(moved) if j is not None and before[i] is not after[j] and before[i] != after[j]}


def follow_clusters(found: Sequence[cl.Cluster], moved: Sequence[int | None],
                    records: Sequence[dict]) -> list[cl.Cluster]:
    """``found`` over the records as ``moved`` places them: pairs with a deleted record go, each cluster splits where
    they held it together, and one whose suggested record was deleted suggests its most complete one left."""
    out: list[cl.Cluster] = []
    for source in found:
        pairs = [cl.Pair(moved[p.i], moved[p.j], p.score, p.kind) for p in source.pairs
                 if moved[p.i] is not None and moved[p.j] is not None]
        members = sorted({m for p in pairs for m in (p.i, p.j)})
        local = {m: k for k, m in enumerate(members)}
        joined = cl.connected_clusters(len(members), [cl.Pair(local[p.i], local[p.j], p.score, p.kind) for p in pairs],
                                       kind=source.kind)
        for sub in joined:
            group = tuple(members[k] for k in sub.members)
            sub_pairs = tuple(cl.Pair(*sorted((members[p.i], members[p.j])), p.score, p.kind) for p in sub.pairs)
            keep = moved[source.keep] if moved[source.keep] in group else max(
                group, key=lambda m: (sum(map(len, _key(records[m]))), -m))
            out.append(cl.Cluster(group, sub_pairs, keep, cl.kind_of(sub_pairs, source.kind)))
    return sorted(out, key=lambda c: (-c.top_score, c.members))


def follow_review(review: Review, moved: Sequence[int | None], records: Sequence[dict]) -> tuple[Review, int]:
    """(``review`` over the records as ``moved`` places them, how many decided clusters lost their decision: split by
    a deletion, or their kept record deleted). A cluster whose latest decision goes loses its earlier ones too (they
    were replaced, not waiting under it); the steps left keep their order for Undo."""
    clusters = follow_clusters(review.clusters, moved, records)
    place = {c.members: k for k, c in enumerate(clusters)}
    index: dict[int, int | None] = {}
    for k, c in enumerate(review.clusters):
        index[k] = place.get(tuple(sorted(m for m in (moved[m] for m in c.members) if m is not None)))
    live = {d.cluster: d for step in review.steps for d in step}
    gone = {k for k, d in live.items() if index[k] is None or (d.action == "keep_one" and moved[d.keep] is None)}
    steps = [[Decision(index[d.cluster], d.action, keep=None if d.keep is None else moved[d.keep], merged=d.merged,
                       earlier=d.earlier) for d in step if d.cluster not in gone] for step in review.steps]
    known = frozenset(index[k] for k in review.known if index[k] is not None)
    return Review(clusters, steps=[s for s in steps if s], threshold=review.threshold, known=known), len(gone)
