import pytest

from studio.data import validate
from studio.errors import DatasetValidationError


def test_every_problem_is_listed_with_its_1_based_record_number():
    recs = [
        {"question": "How long is a half?", "answer": "45 minutes."},
        {"question": "How long is a half?", "answer": "Forty-five minutes."},
        {"question": "", "answer": "x"},
        {"answer": "no question"},
        {"question": "Same", "answer": " Same "},
        {"question": "q", "answer": None},
        {"question": 3, "answer": True},
        "not a record",
        {"question": "Long?", "answer": "x" * 5000},
    ]
    got = [(p.record, p.severity, p.message) for p in validate.validate(recs)]
    assert got == [
        (2, "warning", "same question as record 1"),
        (3, "error", "question is empty"),
        (4, "error", "question is missing"),
        (5, "error", "question and answer are the same text"),
        (6, "error", "answer is null"),
        (7, "error", 'question is a number, not text: write it in quotes, "3"'),
        (7, "error", 'answer is a boolean, not text: write it in quotes, "true"'),
        (8, "error", "is a str, not an object with a question and an answer"),
        (9, "warning", "very long (5,005 characters; over 4,000)"),
    ]
    assert str(validate.validate(recs)[0]) == "record 2: same question as record 1"


def test_warnings_do_not_block_errors_do():
    dup = [{"question": "q", "answer": "a"}, {"question": "q", "answer": "b"}]
    assert [str(w) for w in validate.ensure_valid(dup)] == ["record 2: same question as record 1"]
    with pytest.raises(DatasetValidationError, match=r"record 2: answer is empty \(and 1 more: 2 errors, no warnings in all\)"):
        validate.ensure_valid([{"question": "a", "answer": "b"}, {"question": "c", "answer": ""}, {"question": "d"}])


def test_rules_are_configurable_and_checked():
    assert validate.validate([{"question": "q", "answer": "abcdef"}], validate.Rules(long_chars=5))[0].severity == "warning"
    with pytest.raises(ValueError):
        validate.Rules(long_chars=0)


def test_clean_unicode_dataset_has_no_problems():
    recs = [{"question": "¿Qué es un córner? 🚩", "answer": "Un saque de esquina."},
            {"question": "什么是点球？", "answer": "罚球点球。"}, {"question": "ما هو التسلل؟", "answer": "موقف"}]
    assert validate.validate(recs) == []


def test_an_error_after_1200_warnings_is_found_counted_and_refused():
    from dataset_cases import LATE_ERROR

    found = validate.check(LATE_ERROR)
    assert [str(e) for e in found.errors] == ["record 1202: answer is empty"]
    assert len(found.warnings) == 1200 and found.counts() == "1 error, 1,200 warnings"
    assert found.invalid == {1202}
    with pytest.raises(DatasetValidationError, match=r"^record 1202: answer is empty; fix it"):
        validate.ensure_valid(LATE_ERROR)
    kept, skipped, warns = validate.split_valid(LATE_ERROR)
    assert len(kept) == 1201 and all(r["answer"] for r in kept)
    assert [str(s) for s in skipped] == ["record 1202: answer is empty"] and len(warns) == 1200


def test_every_error_is_found_however_many_problems_come_first():
    recs = [{"question": "", "answer": "x"} if i % 2 else {"question": "q", "answer": f"a{i}"} for i in range(5001)]
    recs.append({"question": "last", "answer": None})
    found = validate.check(recs)
    assert len(found.errors) == 2501 and str(found.errors[-1]) == "record 5002: answer is null"
    assert len(found.warnings) == 2500  # the same question "q" again, every other record
    with pytest.raises(DatasetValidationError, match=r"\(and 2,500 more: 2,501 errors, 2,500 warnings in all\)"):
        validate.ensure_valid(recs)


def test_a_question_repeated_in_other_case_spacing_or_closing_punctuation_is_a_warning():
    """The tutorial's "check it for repeated questions by hand": "WHAT IS THE ADVANTAGE RULE?" after "What is the
    advantage rule?" passed the check with no warning (only exact repeats were caught)."""
    recs = [
        {"question": "What is the advantage rule?", "answer": "Play goes on after a foul."},
        {"question": "How long is a half?", "answer": "45 minutes.", "context": "A half lasts 45 minutes."},
        {"question": "WHAT IS THE ADVANTAGE RULE", "answer": "The referee lets play go on."},
        {"question": "  what is\tthe\u00a0advantage  rule ?", "answer": "Play continues."},
        {"question": "how long is a half.", "answer": "45 minutes.", "context": "A half lasts 45 minutes."},
        {"question": "What is the advantage, rule?", "answer": "Another question: a comma inside."},
        {"question": "What is the advantage rule?", "answer": "Said again, exactly."},
    ]
    got = [(p.record, p.message) for p in validate.validate(recs)]
    assert got == [
        (3, "same question as record 1, apart from case, spacing or punctuation"),
        (4, "same question as record 1, apart from case, spacing or punctuation"),
        (5, "same question and passage as record 2, apart from case, spacing or punctuation"),
        (7, "same question as record 1"),
    ]


def test_a_question_or_answer_of_invisible_characters_only_is_empty():
    """A zero-width space (pasted from a web page), a direction mark or a byte order mark alone shows as an empty cell;
    it passed as a question or an answer, and a model was trained on a record that asks nothing."""
    recs = [
        {"question": "\u200b", "answer": "Something."},
        {"question": "What is offside?", "answer": "\u200b\u200f \ufeff"},
        {"question": "\u200bWhat is a drop ball?\u200b", "answer": "A restart.\n\nBy the referee."},
    ]
    got = [(p.record, p.severity, p.message) for p in validate.validate(recs)]
    assert got == [
        (1, "error", "question is empty: it holds only invisible characters (a zero-width space or a direction mark)"),
        (2, "error", "answer is empty: it holds only invisible characters (a zero-width space or a direction mark)"),
    ]


def test_a_question_repeated_with_invisible_characters_or_another_unicode_form_is_a_warning():
    """The same question that looks the same on screen: a zero-width space inside, a right-to-left mark before it,
    "é" typed as e + a combining accent (macOS file names, some keyboards). Each passed without a warning."""
    recs = [
        {"question": "What is offside?", "answer": "A position rule."},
        {"question": "What is off\u200bside?", "answer": "Being past the last defender."},
        {"question": "\u200fWhat is offside?", "answer": "A rule."},
        {"question": "Qu'est-ce qu'un café?", "answer": "Une boisson."},
        {"question": "Qu'est-ce qu'un cafe\u0301?", "answer": "Un lieu."},
        {"question": "What is onside?", "answer": "Not offside."},
        {"question": "WHAT IS OFF\u200bSIDE", "answer": "Shouted."},
        {"question": "What is x2?", "answer": "Twice x."},
        {"question": "What is x²?", "answer": "x times x."},  # another question, not another form of it
    ]
    got = [(p.record, p.message) for p in validate.validate(recs)]
    # the message names what differs: an invisible character is not "case, spacing or punctuation"
    invisible = "an invisible character (a zero-width space, a direction mark)"
    assert got == [
        (2, f"same question as record 1, apart from {invisible}"),
        (3, f"same question as record 1, apart from {invisible}"),
        (5, "same question as record 4, apart from Unicode form (the same letters encoded differently)"),
        (7, f"same question as record 1, apart from case, spacing or punctuation and {invisible}"),
    ]


def test_control_characters_in_a_question_or_answer_are_a_warning_naming_them():
    """A NUL, a bell or a terminal's colour code (ESC[31m) from a broken conversion showed as boxes in the table, or
    as nothing, and the check found "No problems": a model would have been trained on them."""
    records = [{"question": "a\x00b\x07\x1b[31mred?", "answer": "Red."},
               {"question": "Multi-line\tanswer?", "answer": "One\nTwo\r\n"},  # a tab and line breaks are text
               {"question": "Who?", "answer": "The\x7freferee.", "context": "The referee."}]
    assert [str(p) for p in validate.validate(records)] == [
        "record 1: question holds 3 control characters (U+0000, U+0007, U+001B, the first at character 2), shown as a "
        "box or as nothing: left by a broken conversion; delete them",
        "record 3: answer holds 1 control character (U+007F, at character 4), shown as a box or as nothing: left by a "
        "broken conversion; delete it"]
    assert not validate.errors(validate.validate(records))  # a warning: the save is not blocked
