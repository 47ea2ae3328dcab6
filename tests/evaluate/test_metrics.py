"""Metrics against values computed by hand."""

import math

import pytest

from studio.evaluate import metrics


def test_squad_normalisation_drops_case_punctuation_articles():
    assert metrics.normalize_answer("The  Cat, sat!  on A mat.") == "cat sat on mat"
    assert metrics.normalize_answer("") == ""


def test_exact_match_after_normalisation():
    assert metrics.exact_match("The cat sat.", "cat sat") == 1.0
    assert metrics.exact_match("cat sat down", "cat sat") == 0.0


def test_token_f1_hand_computed():
    # answer tokens: cat sat on mat (4); reference: cat sat (2); overlap 2 -> P=1/2, R=1, F1=2/3
    assert metrics.token_f1("the cat sat on the mat", "a cat sat") == pytest.approx(2 / 3)
    # repeated tokens count once per occurrence: answer "cat cat" vs "cat": overlap 1, P=1/2, R=1
    assert metrics.token_f1("cat cat", "cat") == pytest.approx(2 / 3)
    assert metrics.token_f1("dog", "cat") == 0.0
    assert metrics.token_f1("", "") == 1.0
    assert metrics.token_f1("", "cat") == 0.0


def test_lcs_classic_example():
    assert metrics.lcs_length(list("ABCBDAB"), list("BDCABA")) == 4
    assert metrics.lcs_length([], ["a"]) == 0


def test_rouge_l_is_order_sensitive_where_f1_is_not():
    # same bag of words, LCS = 2 of 3 -> P = R = 2/3 -> F = 2/3
    assert metrics.token_f1("cat sat mat", "sat cat mat") == 1.0
    assert metrics.rouge_l("cat sat mat", "sat cat mat") == pytest.approx(2 / 3)
    # answer: two halves of 45 minutes (5 tokens); reference: two halves (2) -> LCS 2, P=2/5, R=1 -> 4/7
    assert metrics.rouge_l("Two halves of 45 minutes", "two halves") == pytest.approx(4 / 7)


def test_chrf_bounds_and_order():
    assert metrics.chrf("Eleven players", "Eleven players") == pytest.approx(100.0)
    assert metrics.chrf("", "Eleven players") == 0.0
    assert metrics.chrf("xyz", "abc") == 0.0
    close = metrics.chrf("Eleven player", "Eleven players")
    far = metrics.chrf("Twelve", "Eleven players")
    assert 0 < far < close < 100


def test_score_answer_and_summary_skip_missing_values():
    s = metrics.score_answer("Two halves", "two halves of 45 minutes")
    assert s["exact_match"] == 0.0 and s["answer_words"] == 2.0
    assert s["f1"] == pytest.approx(2 * (1.0 * 0.4) / 1.4)  # P=2/2, R=2/5
    summary = metrics.summarize([{"f1": 1.0, "perplexity": 10.0}, {"f1": 0.0}, {"f1": 0.5, "perplexity": math.inf}])
    assert summary["f1"] == pytest.approx(0.5)
    assert summary["perplexity"] == pytest.approx(10.0)  # inf is not averaged in
    assert "judge" not in summary


def test_word_diff_flags_words_missing_from_reference():
    flags = metrics.word_diff("Eleven, plus a keeper!", "eleven players")
    assert flags == [("Eleven,", False), ("plus", True), ("a", False), ("keeper!", True)]


@pytest.mark.parametrize(
    "reply, score, reason",
    [
        ("Score: 4 - mostly right but misses the keeper", 4, "mostly right but misses the keeper"),
        ("**Score:** 2\nReason: wrong number of players", 2, "wrong number of players"),
        ("I'd give it 5/5. Exactly the reference.", 5, "I'd give it"),
        ("3 - partially correct", 3, "partially correct"),
        ("Rating = 1 because it talks about tennis", 1, "it talks about tennis"),
    ],
)
def test_judge_reply_parsing(reply, score, reason):
    verdict = metrics.parse_verdict(reply)
    assert verdict is not None and verdict.score == score
    assert verdict.reason.startswith(reason)


@pytest.mark.parametrize("reply", ["", "The answer is good.", "Score: 9", "score: seven"])
def test_judge_reply_without_a_score_is_none(reply):
    assert metrics.parse_verdict(reply) is None


def test_judge_messages_carry_question_reference_and_answer():
    msgs = metrics.judge_messages("How long?", "90 minutes", "An hour")
    assert msgs[0]["role"] == "system" and "1" in msgs[0]["content"] and "5" in msgs[0]["content"]
    assert "How long?" in msgs[1]["content"] and "90 minutes" in msgs[1]["content"] and "An hour" in msgs[1]["content"]


@pytest.mark.parametrize("reference", ["A.", "a", "The"])  # a multiple-choice letter; articles alone
def test_an_empty_answer_does_not_match_a_reference_of_articles_alone(reference):
    """SQuAD's normalisation empties such a reference, and an empty answer (a model that said nothing) scored 1 on exact
    match, token F1 and ROUGE-L."""
    for metric in (metrics.exact_match, metrics.token_f1, metrics.rouge_l):
        assert metric("", reference) == 0.0
        assert metric(reference.lower().rstrip("."), reference) == 1.0
    assert metrics.exact_match("B", "A.") == 0.0
    assert metrics.exact_match("The cat sat.", "cat sat") == 1.0  # articles still drop where words remain
