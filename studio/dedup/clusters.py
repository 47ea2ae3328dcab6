"""Duplicate clusters: the shared result type of fuzzy and semantic de-duplication."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

KIND_ORDER = {"exact": 0, "fuzzy": 1, "semantic": 2}  # how joined kinds read: "exact", "fuzzy+semantic"


@dataclass(frozen=True)
class Pair:
    i: int  # 0-based record index, i < j
    j: int
    score: float  # fuzzy: rapidfuzz score 0-100; semantic: cosine similarity x 100
    # what found it ("exact": copies of one text, "fuzzy", "semantic", or joined with "+"); "": its cluster's kind.
    # A sub-cluster cut at a higher threshold takes its kind from its own pairs, not from the cluster it was cut from.
    kind: str = field(default="", compare=False)


@dataclass(frozen=True)
class Cluster:
    members: tuple[int, ...]  # sorted 0-based record indices, at least two
    pairs: tuple[Pair, ...]  # the pairs above the threshold that joined them
    keep: int  # the suggested record to keep (a member)
    kind: str = "fuzzy"  # "fuzzy", "exact" or "semantic"

    @property
    def top_score(self) -> float:
        return max(p.score for p in self.pairs)

    def tops(self) -> tuple[float | None, float | None]:
        """(best fuzzy score 0-100, best cosine x 100) of a cluster "Both, combined" found: a pair only the semantic
        finder found is on the cosine scale, any other (exact copies, fuzzy, or found by both) on the fuzzy one.
        None where no pair is on that scale."""
        fuzzy = [p.score for p in self.pairs if (p.kind or self.kind) != "semantic"]
        cosine = [p.score for p in self.pairs if (p.kind or self.kind) == "semantic"]
        return max(fuzzy, default=None), max(cosine, default=None)


def scales(found: Iterable[Cluster]) -> tuple[list[float], list[float]]:
    """(fuzzy scores 0-100, cosines 0-1) of the pairs "Both, combined" found, each on its own scale (as
    ``Cluster.tops``): drawn on one axis, a cosine of 0.92 read as a fuzzy score of 92."""
    fuzzy: list[float] = []
    cosine: list[float] = []
    for c in found:
        for p in c.pairs:
            if (p.kind or c.kind) == "semantic":
                cosine.append(p.score / 100)
            else:
                fuzzy.append(p.score)
    return fuzzy, cosine


def kind_of(pairs: Iterable[Pair], default: str) -> str:
    """The kind of a cluster joined by ``pairs`` (a pair without one counts as ``default``): "exact" when every
    pair joins copies of one text; otherwise what found its pairs ("fuzzy+semantic", "exact+semantic")."""
    sets = [set((p.kind or default).split("+")) for p in pairs]
    if not sets:
        return default
    if all("exact" in s for s in sets):
        return "exact"
    kinds = set().union(*sets)
    return "+".join(sorted(kinds, key=lambda k: (KIND_ORDER.get(k, 9), k)))


def connected_clusters(
    n: int,
    pairs: Iterable[Pair],
    *,
    kind: str = "fuzzy",
    choose_keep: Callable[[Sequence[int]], int] | None = None,
) -> list[Cluster]:
    """Group ``pairs`` over ``n`` records into connected components, highest-scoring first.

    ``choose_keep`` picks the suggested record among a cluster's members (default: the first).
    """
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_root: dict[int, list[Pair]] = {}
    pair_list = list(pairs)
    for p in pair_list:
        ra, rb = find(p.i), find(p.j)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    for p in pair_list:
        by_root.setdefault(find(p.i), []).append(p)
    clusters = []
    for ps in by_root.values():
        members = tuple(sorted({m for p in ps for m in (p.i, p.j)}))
        keep = choose_keep(members) if choose_keep else members[0]
        clusters.append(Cluster(members, tuple(sorted(ps, key=lambda p: (-p.score, p.i, p.j))), keep, kind))
    return sorted(clusters, key=lambda c: (-c.top_score, c.members))
