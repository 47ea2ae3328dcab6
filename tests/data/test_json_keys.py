"""A key a JSON record gives twice: the last value is kept (as everywhere), and the reader says so."""

from __future__ import annotations

import json

import pytest

from studio.__main__ import main
from studio.data import formats, json_keys

DUP_JSON = '[{"question": "Who whistles?", "answer": "The referee.", "answer": "Nobody."}, {"question": "b", "answer": "c"}]'


def test_a_repeated_key_in_a_json_record_is_a_warning_naming_the_record_and_the_key():
    parsed = formats.parse(DUP_JSON.encode(), "qa.json")
    assert parsed.rows[0]["answer"] == "Nobody."  # the last value, as json and every tool reads it
    (warning,) = parsed.warnings
    assert (warning.record, warning.severity) == (1, "warning")
    assert str(warning) == ('record 1: the file gives the key "answer" twice: the last value was kept and the first, '
                            '"The referee.", was lost; remove the one you do not want.')


def test_json_lines_count_records_as_validation_does_and_name_the_line():
    text = ('{"question": "a", "answer": "b"}\n\n'
            '{"question": "c", "answer" : "d", "answer": "e",\t"answer":"f"}\n')  # spaces before a colon too
    (warning,) = formats.parse(text.encode(), "qa.jsonl").warnings
    assert warning.record == 2
    assert 'key "answer" 3 times (line 3): the last value was kept and the 2 before it (the first "d")' in str(warning)


def test_a_repeated_key_inside_a_nested_object_and_under_a_wrapper_is_found():
    text = json.dumps({"data": [{"question": "q", "answer": "a"}]}).replace('"a"}', '"a", "meta": {"k": 1, "k": 2}}')
    (warning,) = formats.parse(text.encode(), "qa.json").warnings
    assert warning.record == 1 and 'key "k" twice in an object inside it' in warning.message


@pytest.mark.parametrize("text", [
    '[{"question": "a", "answer": "b"}]',  # no colon but the keys'
    '[{"question": "At 10:30?", "answer": "Yes: kick-off."}]',  # colons in the text, none before a quote
    '[{"question": "He said \\"stop\\": why?", "answer": "b", "n": 3}]',  # an escaped quote before a colon
    '[{"question" : "a",\n "answer"\n: "b"}]',  # spaces and a line break before the colons
])
def test_no_warning_without_a_repeated_key(text):
    assert formats.parse(text.encode(), "qa.json").warnings == ()


@pytest.mark.parametrize("numpy", [True, False], ids=["bytes-counted", "text-counted"])
def test_the_cheap_counts_rule_out_repeats_without_scanning_and_never_miss_one(monkeypatch, numpy):
    import sys

    import numpy as np  # noqa: F401 (loaded, as in the app)

    if not numpy:  # as in a fresh command-line process: the regex counts
        monkeypatch.delitem(sys.modules, "numpy")
    n = 3000  # over 100 kB: counted with numpy where it is loaded
    clean = json.dumps([{"question": f"Question {i}: how?", "answer": f"Answer {i}: so ⚽."} for i in range(n)],
                       ensure_ascii=False)
    assert not json_keys.may_repeat(clean, 2 * n, clean.encode())  # colons in the texts, none after a quote
    no_colon = clean.replace(": how", " how").replace(": so", " so")
    assert not json_keys.may_repeat(no_colon, 2 * n, no_colon.encode())  # the colons alone settle it
    for twice in (clean.replace('"answer": "Answer 7: so ⚽."', '"answer": "x", "answer" : "Answer 7: so ⚽."'),
                  clean.replace('"answer": "Answer 7: so ⚽."', '"answer": "x", "answer"\n\t:"Answer 7: so ⚽."')):
        assert json_keys.may_repeat(twice, 2 * n, twice.encode())  # the scan runs, and finds it
        assert [r.record for r in formats.parse(twice.encode(), "qa.json").warnings] == [8]


def test_dataset_validate_and_import_print_the_warning(tmp_path, capsys):
    path = tmp_path / "qa.json"
    path.write_text(DUP_JSON)
    assert main(["dataset", "validate", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out == "2 records: no errors, 1 warning\n"
    assert out.err.startswith('warning: record 1: the file gives the key "answer" twice')
    assert main(["dataset", "import", str(path), "--out", str(tmp_path / "out.json")]) == 0
    assert 'warning: record 1: the file gives the key "answer" twice' in capsys.readouterr().err
    assert json.loads((tmp_path / "out.json").read_text())[0]["answer"] == "Nobody."
