"""The dedup review: a person's decisions about duplicate clusters, as pure data.

Each cluster gets at most one live decision (the latest): keep one member, keep all (they are not
duplicates), or merge them into one edited record. Every step (one decision or one bulk action) can
be undone. ``apply(records)`` returns the new records (dropped members removed, a merged record at the
place of the cluster's first member); the caller saves them as a new version, so nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from studio.data import store
from studio.dedup.clusters import Cluster
from studio.errors import StudioError

ACTIONS = ("keep_one", "keep_all", "merge")
BIG_CLUSTER = 50  # records in a cluster the bulk keep names before it is pressed: 800 templated questions differing in
# a number were one cluster, and one press kept 1 of them
NAMED_BIG = 5  # such clusters named by number in that line


@dataclass(frozen=True)
class Decision:
    cluster: int  # index into the review's clusters
    action: str  # "keep_one", "keep_all" or "merge"
    keep: int | None = None  # keep_one: the record index kept
    merged: dict | None = None  # merge: the edited record that replaces the cluster's members
    earlier: bool = False  # keep_all: marked not duplicates in an earlier review (``Review.known``), not in this one

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise StudioError(f"Unknown review action {self.action!r}: use one of {', '.join(ACTIONS)}.")


@dataclass
class Review:
    clusters: list[Cluster]
    steps: list[list[Decision]] = field(default_factory=list)  # undo pops the last step
    threshold: float | None = None  # the score the clusters were cut at, for the page
    known: frozenset[int] = frozenset()  # clusters marked not duplicates in an earlier review (studio.dedup.verdicts)

    def _cluster(self, index: int) -> Cluster:
        if not 0 <= index < len(self.clusters):
            raise StudioError(f"There is no cluster {index + 1}: run dedup again to refresh the list.")
        return self.clusters[index]

    def keep_one(self, cluster: int, keep: int) -> None:
        if keep not in self._cluster(cluster).members:
            raise StudioError(f"Record {keep} is not in cluster {cluster + 1}: pick one of its members.")
        self.steps.append([Decision(cluster, "keep_one", keep=keep)])

    def keep_all(self, cluster: int) -> None:
        self._cluster(cluster)
        self.steps.append([Decision(cluster, "keep_all")])

    def merge(self, cluster: int, record: dict) -> None:
        self._cluster(cluster)
        question, answer = str(record.get("question", "")).strip(), str(record.get("answer", "")).strip()
        if not question or not answer:
            raise StudioError("A merged record needs a question and an answer: fill both in.")
        self.steps.append([Decision(cluster, "merge", merged={**record, "question": question, "answer": answer})])

    def keep_suggested_above(self, min_score: float, *, only_undecided: bool = True, cosine: bool = False,
                             min_cosine: float | None = None) -> int:
        """Bulk: keep the suggested record (the most complete one, which the page marks and the command
        line's ``--out`` keeps) of every cluster whose top score is at least ``min_score``.

        ``min_cosine`` (cosine x 100; "Both, combined"): each scale judged apart, never fuzzy scores and cosines as
        one: a cluster qualifies when its best fuzzy pair reaches ``min_score`` or its best semantic pair reaches
        ``min_cosine`` (``Cluster.tops``).

        One undoable step; returns how many clusters it decided. One that would decide none is refused with the
        highest score left, unrounded: a card reads "cosine 0.950" for a cluster at 94.97, and a press with 95
        in the box did nothing and said nothing, so a save kept the duplicate the person meant to drop.
        """
        live = self.decisions()
        left = [(k, c) for k, c in enumerate(self.clusters) if not (only_undecided and k in live)]
        step = [Decision(k, "keep_one", keep=self.clusters[k].keep)
                for k in self._bulk(min_score, only_undecided=only_undecided, min_cosine=min_cosine)]
        if not step and left:
            def said(score: float, cos: bool = cosine) -> str:  # ``cosine``: the box reads cosines, scores x 100
                return f"cosine {score / 100:.4f}" if cos else f"{score:.2f}"

            if min_cosine is not None:
                fuzzy = [t for _, c in left if (t := c.tops()[0]) is not None]
                cos = [t for _, c in left if (t := c.tops()[1]) is not None]
                best = " and ".join([*([f"{said(max(fuzzy), False)} (fuzzy)"] if fuzzy else []),
                                     *([f"{said(max(cos), True)} (semantic)"] if cos else [])])
                raise StudioError(f"No undecided cluster reaches {said(min_score, False)} (fuzzy) or "
                                  f"{said(min_cosine, True)} (semantic), so nothing was kept: the highest "
                                  f"{'are' if ' and ' in best else 'is'} at {best}. Lower a number below it to keep "
                                  "the suggested record of that cluster.")
            best = max(c.top_score for _, c in left)
            raise StudioError(f"No undecided cluster reaches {said(min_score)}, so nothing was kept: the highest is at "
                              f"{said(best)}. Lower the number below it to keep the suggested record of that cluster.")
        if step:
            self.steps.append(step)
        return len(step)

    def _bulk(self, min_score: float, *, only_undecided: bool = True, min_cosine: float | None = None) -> list[int]:
        """The clusters ``keep_suggested_above`` decides, by index."""
        live = self.decisions() if only_undecided else {}
        if min_cosine is None:
            return [k for k, c in enumerate(self.clusters) if k not in live and c.top_score >= min_score]
        return [k for k, c in enumerate(self.clusters) if k not in live
                and ((c.tops()[0] or -1.0) >= min_score or (c.tops()[1] or -1.0) >= min_cosine)]

    def bulk_warning(self, min_score: float, *, min_cosine: float | None = None) -> str:
        """One line naming the clusters of over ``BIG_CLUSTER`` records ``keep_suggested_above`` would decide, and the
        records it would drop of them, for the page to say before the press; "" when there is none."""
        big = [k for k in self._bulk(min_score, min_cosine=min_cosine) if len(self.clusters[k].members) > BIG_CLUSTER]
        if not big:
            return ""
        sizes = [len(self.clusters[k].members) for k in big]
        named = ", ".join(f"{k + 1} ({n:,} records)" for k, n in zip(big[:NAMED_BIG], sizes))
        more = f" and {len(big) - NAMED_BIG:,} more" if len(big) > NAMED_BIG else ""
        which = f"cluster {named}" if len(big) == 1 else f"{len(big):,} clusters of over {BIG_CLUSTER} records: {named}{more}"
        return (f"This drops {sum(sizes) - len(big):,} records of {which}, keeping one"
                f"{' of each' if len(big) > 1 else ''}: a cluster that large "
                "may join records that only look alike (questions differing in a number). Look at it below first, "
                "or decide it there.")

    def undo(self) -> list[Decision]:
        """Take back the last step (a decision or a bulk action); returns what was undone."""
        return self.steps.pop() if self.steps else []

    def decisions(self) -> dict[int, Decision]:
        """The live decision of each decided cluster (the latest wins; before any, an earlier review's verdict)."""
        live: dict[int, Decision] = {k: Decision(k, "keep_all", earlier=True) for k in sorted(self.known)}
        for step in self.steps:
            for d in step:
                live[d.cluster] = d
        return live

    def apply(self, records: Sequence[dict]) -> list[dict]:
        """The records after every live decision, in their original order."""
        drop, replace = self._changes(len(records))
        return [replace.get(i, r) for i, r in enumerate(records) if i not in drop]

    def kept_as_typed(self, indices: Sequence[int], count: int) -> list[int]:
        """Which of ``indices`` (records of a list of ``count``) come through the decisions unchanged: a record still
        to fix that a decision drops or merges away no longer stands in the way of saving the result."""
        drop, replace = self._changes(count)
        return sorted(i for i in indices if i not in drop and i not in replace)

    def _changes(self, count: int) -> tuple[set[int], dict[int, dict]]:
        """(the records the decisions drop, {record: the merged record that replaces it}), of a list of ``count``."""
        drop: set[int] = set()
        replace: dict[int, dict] = {}
        for d in self.decisions().values():
            members = self.clusters[d.cluster].members
            if any(m >= count for m in members):
                raise StudioError("These decisions belong to a different version of the dataset: run dedup again.")
            if d.action == "keep_one":
                drop.update(m for m in members if m != d.keep)
            elif d.action == "merge":
                replace[members[0]] = dict(d.merged or {})
                drop.update(members[1:])
        return drop, replace

    def new_verdicts(self) -> list[int]:
        """The clusters this review marks "not duplicates" that no earlier review had."""
        return [k for k, d in self.decisions().items() if d.action == "keep_all" and not d.earlier]

    def describe(self, records: Sequence[dict]) -> str:
        """One line for the version message and the page: "kept 97 of 104 (5 clusters reviewed)"."""
        kept = len(self.apply(records))
        return f"kept {kept} of {len(records)} ({len(self.decisions())} of {len(self.clusters)} clusters reviewed)"


def save_review(dataset_id: str, records: Sequence[dict], review: Review, *, base_version: int,
                made_on: str) -> store.VersionInfo:
    """Save the reviewed records as a new version based on ``base_version``.

    ``made_on``: the ``uid`` of the dataset the review was made on (when the dedup run started). Required: a dataset
    deleted since whose id a new one took (its name imported again) gets nothing (``DatasetReplacedError``, one line).
    Raises ``VersionConflictError`` when someone saved in between; the review is kept.
    """
    if not review.decisions():
        raise StudioError("No decisions yet: keep, merge or mark clusters as not duplicates, then save.")
    return store.save_version(dataset_id, review.apply(records), base_version=base_version,
                              message=f"dedup: {review.describe(records)}", made_on=made_on)


def diff_html(text: str, other: str) -> str:
    """``text`` as safe HTML with the words that differ from ``other`` wrapped in ``<mark>``.

    Every piece of record text is escaped first: a record can never inject HTML (the page shows the
    result as one HTML block, so Markdown in a record is never rendered either).
    """
    import difflib
    import html

    words, others = str(text).split(), str(other).split()
    matcher = difflib.SequenceMatcher(None, [w.casefold() for w in others], [w.casefold() for w in words],
                                      autojunk=False)
    out: list[str] = []
    for op, _, _, j1, j2 in matcher.get_opcodes():
        chunk = html.escape(" ".join(words[j1:j2]))
        if chunk:
            out.append(chunk if op == "equal" else f"<mark>{chunk}</mark>")
    return " ".join(out)
