"""The embedded sample dataset: shape, a distinct FAQ head, and the planted near-duplicates."""

import json
import re

from rapidfuzz import fuzz

from studio import config


def _records() -> list[dict]:
    return json.loads(config.SAMPLE_DATASET.read_text(encoding="utf-8"))


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def test_sample_is_a_list_of_nonempty_question_answer_pairs():
    records = _records()
    assert isinstance(records, list) and len(records) >= 130
    for i, rec in enumerate(records):
        assert isinstance(rec, dict), i
        assert isinstance(rec.get("question"), str) and rec["question"].strip(), i
        assert isinstance(rec.get("answer"), str) and rec["answer"].strip(), i


def test_first_forty_questions_are_pairwise_distinct():
    heads = [_norm(r["question"]) for r in _records()[:40]]
    assert len(set(heads)) == 40


def test_planted_near_duplicates_are_found_by_fuzzy_matching():
    questions = [r["question"].lower() for r in _records()]
    with_earlier_twin = [
        j for j in range(40, len(questions))
        if any(fuzz.ratio(questions[i], questions[j]) >= 85 for i in range(j))
    ]
    assert len(with_earlier_twin) >= 5, with_earlier_twin


def test_sample_keeps_non_ascii_text_as_text():
    raw = config.SAMPLE_DATASET.read_text(encoding="utf-8")
    for text in ("Pelé", "™", "Fédération"):
        assert text in raw
