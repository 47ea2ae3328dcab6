"""Dataset statistics as plain data: counts, lengths and the most repeated question openings."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

Record = dict[str, object]
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class DatasetStats:
    count: int
    question_words: list[int]  # words per question, in record order
    answer_words: list[int]  # words per answer, in record order
    openings: list[tuple[str, int]]  # most common first words of questions, with counts, most common first

    @property
    def mean_question_words(self) -> float:
        return sum(self.question_words) / len(self.question_words) if self.question_words else 0.0

    @property
    def mean_answer_words(self) -> float:
        return sum(self.answer_words) / len(self.answer_words) if self.answer_words else 0.0


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def word_count(text: str) -> int:
    """Words as a reader counts them; CJK text without spaces counts one word per character."""
    words = _WORD.findall(text)
    return sum(len(w) if _is_cjk(w) else 1 for w in words)


def _is_cjk(word: str) -> bool:
    return any("\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" for ch in word[:4])


def opening(text: str, words: int = 3) -> str:
    """The first ``words`` words, lower-cased: "What is the", "How many players"."""
    return " ".join(_WORD.findall(text.lower())[:words])


def compute(records: list[Record], opening_words: int = 3, top: int = 10) -> DatasetStats:
    questions = [_text(r.get("question")) if isinstance(r, dict) else "" for r in records]
    answers = [_text(r.get("answer")) if isinstance(r, dict) else "" for r in records]
    counts = Counter(o for o in (opening(q, opening_words) for q in questions) if o)
    return DatasetStats(
        count=len(records),
        question_words=[word_count(q) for q in questions],
        answer_words=[word_count(a) for a in answers],
        openings=[(text, n) for text, n in counts.most_common(top) if n > 1],
    )
