"""Scoring only the records edited since a run: what a new run over the edited records finds, without one."""

from __future__ import annotations

import pytest

from studio.dedup import follow, rescore, static
from studio.dedup import fuzzy as dedup
from studio.dedup.review import Review

BEFORE = [
    {"question": "What is offside?", "answer": "A position rule."},  # 0, 1, 2: copies of one question
    {"question": "what is OFFSIDE", "answer": "A position rule."},
    {"question": "What is offside?", "answer": "Past the last defender."},
    {"question": "How long is a football match?", "answer": "90 minutes."},  # 3, 4: a typo apart
    {"question": "How long is a footbal match?", "answer": "Ninety minutes."},
    {"question": "Who restarts play after a goal?", "answer": "The team that conceded."},
    {"question": "How many players are on a team?", "answer": "Eleven."},
    {"question": "What colour is the referee's card for a sending off?", "answer": "Red."},
]


def edit(records: list[dict], changes: dict[int, str]) -> list[dict]:
    """``records`` as the Edit tab leaves them: the records not touched the same objects, the edited ones new."""
    return [{**r, "question": changes[k]} if k in changes else r for k, r in enumerate(records)]


def shape(found) -> set:
    return {(c.members, c.keep, c.kind, tuple((p.i, p.j, round(p.score, 1)) for p in c.pairs)) for c in found}


def carried(before: list[dict], after: list[dict], config: dedup.DedupConfig, vectors=None):
    """(the run over ``before`` followed to ``after``, the records edited): what the Duplicates tab holds."""
    found = dedup.dedup_records(before, config, vectors=vectors)
    moved = follow.moves(before, after)
    return found, follow.follow_clusters(found, moved, after), frozenset(follow.edited(before, after, moved))


CHANGES = {0: "How many substitutes may a team use?",  # the first copy edited away: its copies stay one cluster
           5: "How many players are in a team?",  # edited into a duplicate of record 6
           4: "What is the weight of the match ball?"}  # edited out of its cluster: record 3 is alone


@pytest.mark.parametrize("passage", [False, True])
@pytest.mark.parametrize("block", [rescore.BLOCK, 1])  # 1: each edited text scored in a block of its own
def test_edited_records_scored_again_give_what_a_new_fuzzy_run_gives(passage, block, monkeypatch):
    monkeypatch.setattr(rescore, "BLOCK", block)
    before = [{**r, "context": "The Laws of the Game."} for r in BEFORE] if passage else BEFORE
    config = dedup.DedupConfig(threshold=85)
    after = edit(before, CHANGES)
    found, followed, edited = carried(before, after, config)
    assert edited == set(CHANGES) and shape(followed) != shape(dedup.dedup_records(after, config))
    assert shape(rescore.rescore(after, followed, edited, config)) == shape(dedup.dedup_records(after, config))


def test_a_review_keeps_the_decisions_on_clusters_whose_records_stayed_and_counts_the_rest():
    config = dedup.DedupConfig(threshold=85)
    found, followed, edited = carried(BEFORE, edit(BEFORE, {4: "What is the weight of the match ball?"}), config)
    review = Review(dedup.clusters_at(followed, 85), threshold=85)
    copies = next(k for k, c in enumerate(review.clusters) if c.members == (0, 1, 2))
    review.keep_one(copies, 2)
    review.keep_all(next(k for k, c in enumerate(review.clusters) if c.members == (3, 4)))
    after = edit(BEFORE, {4: "What is the weight of the match ball?"})
    again, lost = rescore.rescore_review(review, rescore.rescore(after, followed, edited, config))
    assert lost == 1 and [c.members for c in again.clusters] == [(0, 1, 2)]  # 3 and 4 are no longer duplicates
    assert again.apply(after) == after[2:]  # the decision on the copies still keeps record 3 of them


@pytest.mark.parametrize("method", ["semantic", "both"])
def test_edited_records_are_embedded_alone_and_give_what_a_new_semantic_run_gives(static_model, monkeypatch, method):
    from bench.corpus import questions

    filler = [{"question": q, "answer": "a"} for q in questions(1_001, seed=5)]  # past the size a run embeds with
    # MiniLM itself (the static model's vectors), one in ten a variant of another: clusters beside the edited ones
    before = BEFORE + filler
    config = dedup.DedupConfig(method=method, threshold=85, semantic_threshold=0.85)
    vectors: list = []
    after = edit(before, {**CHANGES, 7: "Which card does the referee show to send a player off?"})
    found, followed, edited = carried(before, after, config, vectors)
    assert vectors and not vectors[0].direct
    monkeypatch.setattr(rescore, "BLOCK", 3_000)  # the 5 edited texts compared two at a time (1,009 texts)
    embedded: list[str] = []
    encode = static.StaticModel.encode
    monkeypatch.setattr(static.StaticModel, "encode",
                        lambda self, texts, *a, **k: embedded.extend(texts) or encode(self, texts, *a, **k))
    rescored = rescore.rescore(after, followed, edited, config, vectors=vectors)
    assert sorted(embedded) == sorted(after[k]["question"] for k in edited)  # the edited texts, not the dataset
    full = dedup.dedup_records(after, config)
    assert {c.members for c in followed} != {c.members for c in full}  # the edits change the clusters
    assert {(c.members, c.kind) for c in rescored} == {(c.members, c.kind) for c in full}
    scores = {(p.i, p.j): p.score for c in full for p in c.pairs}
    assert all(abs(scores[p.i, p.j] - p.score) < 0.05 for c in rescored for p in c.pairs)
    # a run whose vectors were too many to keep (past semantic_records.KEEP_BYTES): every text embedded again, the same
    assert {c.members for c in rescore.rescore(after, followed, edited, config)} == {c.members for c in full}
