"""Answer-quality metrics: pure functions from (answer, reference) to numbers.

Exact match and token F1 follow the SQuAD evaluation script (lower-case, drop punctuation and the
articles a/an/the, collapse whitespace). ROUGE-L is the LCS-based F-measure over the same tokens.
chrF comes from sacrebleu (0-100, character n-grams, kind to paraphrases and inflections). The
perplexity of the reference answer is computed by ``studio.evaluate.perplexity.reference_perplexity``; this
module only aggregates it. The LLM judge's prompt and its tolerant reply parser live here too.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str  # the key in a result's scores and summary
    label: str  # what pages, plots and reports call it
    higher_is_better: bool | None  # None: it describes rather than ranks (answer length)
    per_question: bool = True  # a column of the per-question CSV (the judge's grade has its own)
    scale: str = ""  # the values it takes, as a reader needs them to read a number ("0-1", "0-100")
    absent: str = ""  # why a model may have no value for it (shown next to its empty cell)


REGISTRY: tuple[Metric, ...] = (
    Metric("exact_match", "Exact match", True, scale="0-1"),
    Metric("f1", "Token F1", True, scale="0-1"),
    Metric("rouge_l", "ROUGE-L", True, scale="0-1"),
    Metric("chrf", "chrF", True, scale="0-100"),
    Metric("similarity", "Semantic similarity", True, scale="cosine, -1 to 1"),
    Metric("in_passage", "Found in passage", True, scale="0-1"),  # questions with a context: the answer occurs in it (0/1)
    Metric("perplexity", "Perplexity", False, scale="1 and up",  # of the reference answer; the plots' name too
           absent="computed for local models only: an API model gives no probabilities for the reference's words"),
    Metric("judge", "Judge (1-5)", True, per_question=False, scale="1-5"),
    Metric("answer_words", "Answer length (words)", None, scale="words"),
    Metric("latency_s", "Latency per answer (s)", False, scale="seconds"),  # a local batch's time / its answers (evaluate.latency)
)
"""Every metric a result can hold, in display order: the page, the plots, the CSV and the HTML report read it."""

METRICS = tuple(m.name for m in REGISTRY)
LABELS = {m.name: m.label for m in REGISTRY}
HIGHER_IS_BETTER = {m.name: m.higher_is_better for m in REGISTRY}
CSV_METRICS = tuple(m.name for m in REGISTRY if m.per_question)
_BY_NAME = {m.name: m for m in REGISTRY}
MISSING = "\u2014"
"""What a table shows where a model has no value for a metric (its reason: ``absent``)."""


def reading(name: str) -> str:
    """How to read a metric's numbers: its range and which way is better ("0-1, higher is better")."""
    m = _BY_NAME.get(name)
    if m is None:
        return ""
    way = {True: "higher is better", False: "lower is better", None: "neither better nor worse"}
    return ", ".join(p for p in (m.scale, way[m.higher_is_better]) if p)


def absent(name: str) -> str:
    """Why a model may have no value for a metric; empty when every model that was scored has one."""
    m = _BY_NAME.get(name)
    return m.absent if m else ""


def column_help(name: str) -> str:
    """A table column's help: how to read it, and what an empty cell means."""
    why = absent(name)
    return reading(name) + (f". {MISSING}: {why}." if why else ".")


_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower-case, remove punctuation and articles, collapse whitespace."""
    text = (text or "").lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _scored(text: str) -> str:
    """What the scores compare: the SQuAD normalisation, keeping the articles of a text made of them alone (a choice
    "A.", "The"), which would otherwise be empty and match an empty answer."""
    return normalize_answer(text) or " ".join("".join(ch for ch in (text or "").lower() if ch not in _PUNCT).split())


def tokens(text: str) -> list[str]:
    return _scored(text).split()


def exact_match(answer: str, reference: str) -> float:
    """1.0 when the normalised answer equals the normalised reference, else 0.0."""
    return float(_scored(answer) == _scored(reference))


def token_f1(answer: str, reference: str) -> float:
    """Harmonic mean of token precision and recall (bag of words, SQuAD normalisation)."""
    pred, ref = tokens(answer), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)  # both empty counts as agreement, one empty as none
    common = Counter(pred) & Counter(ref)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred), overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (O(len(a) x len(b)), one row)."""
    if not a or not b:
        return 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F-measure (beta = 1): LCS over SQuAD-normalised tokens."""
    pred, ref = tokens(answer), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def chrf(answer: str, reference: str) -> float:
    """sacrebleu's sentence chrF (character 6-grams, beta 2), 0-100."""
    import sacrebleu

    if not (answer or "").strip():
        return 0.0
    return float(sacrebleu.sentence_chrf(answer, [reference]).score)


def answer_words(answer: str) -> int:
    return len((answer or "").split())


def score_answer(answer: str, reference: str) -> dict[str, float]:
    """The reference-based metrics of one answer (perplexity, latency and judge are added by the caller)."""
    return {
        "exact_match": exact_match(answer, reference),
        "f1": token_f1(answer, reference),
        "rouge_l": rouge_l(answer, reference),
        "chrf": chrf(answer, reference),
        "answer_words": float(answer_words(answer)),
    }


def fmt(value: float | None) -> str:
    """A score as people read it: 3 significant digits (0.412, 12.3), whole numbers from 100 up."""
    if value is None:
        return ""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def mean(values: Iterable[float | None]) -> float | None:
    """The mean of the finite values, or None when there are none."""
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def summarize(scores: Iterable[Mapping[str, float | None]]) -> dict[str, float]:
    """Mean of each metric over the questions that have it (failed cells have no scores)."""
    rows = list(scores)
    out: dict[str, float] = {}
    for metric in METRICS:
        value = mean(r.get(metric) for r in rows)
        if value is not None:
            out[metric] = value
    return out


def word_diff(answer: str, reference: str) -> list[tuple[str, bool]]:
    """The answer's words, each flagged True when its normalised form is not in the reference."""
    ref = set(tokens(reference))
    out = []
    for word in (answer or "").split():
        norm = normalize_answer(word)
        out.append((word, bool(norm) and norm not in ref))
    return out


# --- LLM judge -------------------------------------------------------------------------------

JUDGE_SYSTEM = (
    "You grade answers to questions. Compare the candidate answer with the reference answer and rate "
    "its correctness from 1 (wrong) to 5 (fully correct and complete). Reply with exactly one line: "
    "'Score: <1-5> - <one short reason>'."
)


@dataclass(frozen=True)
class Verdict:
    score: int  # 1-5
    reason: str  # one line


def judge_messages(question: str, reference: str, answer: str) -> list[dict[str, str]]:
    """The chat messages that ask a judge model to grade one answer."""
    user = f"Question: {question.strip()}\nReference answer: {reference.strip()}\nCandidate answer: {answer.strip()}"
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


_SCORE_PATTERNS = (
    re.compile(r"\b(?:score|rating|grade|correctness)\b\s*(?:is|of|[:=])?\s*\**\s*([1-5])(?:\s*(?:/|out of)\s*5)?\b", re.I),
    re.compile(r"\b([1-5])\s*(?:/|out of)\s*5\b", re.I),
    re.compile(r"^\W*([1-5])\b"),
)


def parse_verdict(reply: str) -> Verdict | None:
    """Read a judge's reply ("Score: 4 - mostly right", "**4/5** ...", "Rating: 2. Wrong team"); None if no score."""
    text = (reply or "").strip()
    if not text:
        return None
    for pattern in _SCORE_PATTERNS:
        m = pattern.search(text)
        if m:
            score = int(m.group(1))
            rest = (text[: m.start()] + " " + text[m.end():]).strip()
            reason = next((ln.strip(" -:.*\t") for ln in rest.splitlines() if ln.strip(" -:.*\t")), "")
            reason = re.sub(r"^(?:reason|because)\s*[:\-]?\s*", "", reason, flags=re.I)
            return Verdict(score, reason[:200])
    return None
