"""Leakage: evaluation questions that near-duplicate training questions.

A model that saw a question in training answers it from memory, which flatters its score. The
check reuses the fuzzy de-duplication engine (``studio.dedup``: same normalisation and scorer as
the Dataset page) over the evaluation and training questions together, and keeps the pairs that
join an evaluation question to a training question.
"""

from __future__ import annotations

from collections.abc import Sequence


def find_leaks(eval_questions: Sequence[str], train_questions: Sequence[str], threshold: float = 90.0) -> list[dict | None]:
    """For each evaluation question: None, or {"score", "train_question", "kind"} for its closest training twin."""
    out: list[dict | None] = [None] * len(eval_questions)
    if not eval_questions or not train_questions:
        return out
    from studio import dedup

    n = len(eval_questions)
    texts = list(eval_questions) + list(train_questions)
    for cluster in dedup.find_duplicates(texts, threshold=threshold):
        for pair in cluster.pairs:
            i, j = sorted((pair.i, pair.j))
            if i < n <= j:  # an evaluation question joined to a training question
                best = out[i]
                if best is None or pair.score > best["score"]:
                    out[i] = {"score": round(float(pair.score), 1), "train_question": texts[j], "kind": cluster.kind}
    return out
