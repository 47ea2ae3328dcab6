"""Leakage: evaluation questions that near-duplicate training questions.

A model that saw a question in training answers it from memory, which flatters its score. The
check reuses the fuzzy de-duplication engine (``studio.dedup.fuzzy``: same normalisation and scorer as
the Dataset page) over the evaluation and training questions together, and keeps the pairs that
join an evaluation question to a training question.
"""

from __future__ import annotations

from collections.abc import Sequence


def find_leaks(eval_questions: Sequence[str], train_questions: Sequence[str], threshold: float = 90.0,
               scorer: str = "ratio", *, semantic_threshold: float | None = None) -> list[dict | None]:
    """For each evaluation question: None, or {"score", "train_question", "kind"} for its closest training twin.

    Clusters can chain (eval A ~ eval B ~ train C), so each evaluation question in a cluster that
    holds training questions is scored directly against them and flagged only at ``threshold`` or above.
    With ``semantic_threshold`` (cosine, e.g. 0.9), paraphrases that share meaning but few characters
    are flagged too (``studio.dedup.semantic``, kind "semantic", score = cosine x 100).
    """
    out: list[dict | None] = [None] * len(eval_questions)
    if not eval_questions or not train_questions:
        return out
    from studio.dedup import fuzzy as dedup

    n = len(eval_questions)
    texts = list(eval_questions) + list(train_questions)
    fn = dedup.check_scorer(scorer)
    prepared = dedup.prepare(texts)
    for cluster in dedup.find_duplicates(texts, threshold=threshold, scorer=scorer):
        evals = [m for m in cluster.members if m < n]
        trains = [m for m in cluster.members if m >= n]
        for i in evals:
            scored = [(100.0 if prepared[i] == prepared[j] else float(fn(prepared[i], prepared[j])), j) for j in trains]
            if not scored:
                continue
            score, j = max(scored)
            if score >= threshold:
                out[i] = {"score": round(score, 1), "train_question": texts[j],
                          "kind": "exact" if prepared[i] == prepared[j] else "fuzzy"}
    if semantic_threshold is not None:
        from studio.dedup import semantic

        for i, j, score in semantic.leakage(list(eval_questions), list(train_questions), semantic_threshold):
            if out[i] is None:
                out[i] = {"score": round(float(score), 1), "train_question": train_questions[j], "kind": "semantic"}
    return out


def similar(score: float) -> str:
    """How a leak is worded wherever it is shown (the page's table and details, the HTML report): "97% similar"."""
    return f"{float(score):.0f}% similar"
