"""Bad and awkward inputs shared by the format, CLI and page tests: (file name, bytes, words the reason must contain)."""

from __future__ import annotations

import json

UNICODE = [
    {"question": "¿Cuántos jugadores hay? ⚽", "answer": "Once por equipo — “eleven”."},
    {"question": "越位是什么？", "answer": "进攻球员比球和倒数第二名防守球员更接近对方球门线。"},
    {"question": "ما هي ركلة الجزاء؟", "answer": "ركلة من علامة الجزاء 🥅"},
    {"question": "<script>alert('x')</script> & <b>bold</b>?", "answer": "<img src=x onerror=alert(1)> is text"},
]

BAD = [
    ("empty.json", b"", "empty"),
    ("blank.jsonl", b"  \n\t \n", "empty"),
    ("prose.json", b"The laws of the game, chapter one.", "not valid json"),
    ("csv.json", b"question,answer\nHow long is a half?,45 minutes\n", "looks like CSV with a header row (question,answer); rename the file to .csv"),
    ("prose.txt", b"just some words here\nand more words", "header"),
    ("truncated.json", b'[{"question": "How long?", "answer": "90 min', "truncated"),
    ("object.json", b'{"question": "q", "answer": "a"}', "one record"),
    ("number.json", b"42", "not a list"),
    ("strings.json", b'["a", "b"]', "a json list of strings, not of records"),
    ("strings.jsonl", b'"a"\n5\n', "no line of the file is a json object"),
    ("missing.json", b'[{"question": "q", "answer": "a"}, {"question": "q2"}]', "record 2: answer is missing"),
    ("empty-field.json", b'[{"question": "", "answer": "a"}]', "record 1: question is empty"),
    ("space-field.json", b'[{"question": "q", "answer": "  \\n "}]', "record 1: answer is empty"),
    ("null.json", b'[{"question": null, "answer": "a"}]', "record 1: question is null"),
    ("numeric.json", b'[{"question": "q", "answer": 7}]', "record 1: answer is a number, not text: write it in quotes, \"7\""),
    ("list.json", b'[{"question": ["q"], "answer": "a"}]', "record 1: question is a list"),
    ("same.json", b'[{"question": "Offside?", "answer": "Offside?"}]', "record 1: question and answer are the same"),
    ("nan.json", b'[{"question": "q", "answer": NaN}]', "nan"),
    ("binary.json", bytes(range(256)) * 4, "binary"),
    # Neither UTF-8 nor Windows-1252 (its "、" is 0x81 0x41; 0x81 is no Windows-1252 character): refused everywhere.
    # A Latin-1 / Windows-1252 file is refused by the command line only; the Dataset page reads it and says so.
    ("shift-jis.csv", "question,answer\n質問、です,はい\n".encode("shift_jis"), "utf-8"),
    ("deep.json", b"[" * 50_000 + b"]" * 50_000, "nested"),
    ("deep-record.json", json.dumps([{"question": "q", "answer": "a", "x": _n}]).encode()
     if (_n := [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]) else b"", "nested"),
    ("bad-line.jsonl", b'{"question": "a", "answer": "b"}\n{"question": "c", "answer": \n{"question": "d", "answer": "e"}\n',
     "line 2"),
    ("ragged.csv", b"question,answer\na,b\nc,d,e\n", "line 3"),
    ("missing-comma.json", b'[\n  {"question": "a?", "answer": "b"}\n  {"question": "c?", "answer": "d"}\n]\n',
     "line 2: a comma is missing after the record that ends there, before the next one on line 3; add one."),
    # Half of a UTF-16 pair as a \u escape: json accepts it, but no UTF-8 file can hold it (the import's write,
    # a workspace save and every export failed with a UnicodeEncodeError traceback). A whole pair is fine.
    ("half-pair.json", b'[{"question": "Ball \\ud83d\\ude00?", "answer": "a"}, {"question": "q", "answer": "x\\ud800"}]',
     "record 2: answer holds \\ud800, half of a utf-16 surrogate pair"),
    ("half-pair.jsonl", b'{"question": "q", "answer": "a"}\n{"question": "\\udc00 q", "answer": "b"}\n',
     "line 2: question holds \\udc00"),
    # More digits than Python reads: the reason said to call sys.set_int_max_str_digits().
    ("huge-number.json", b'[{"question": "q", "answer": ' + b"9" * 5000 + b"}]", "put it in quotes"),
    ("huge-number.jsonl", b'{"question": "q", "answer": ' + b"9" * 5000 + b"}\n", "line 1: not valid json (a number too long to read; put it in quotes)"),
]

# A JSON list with a few records that are not objects: invalid records like any other, named, never a stop.
MIXED = b'[{"question": "a", "answer": "b"}, "oops", 5, null, {"question": "c", "answer": "d"}]'
MIXED_PROBLEMS = ['record 2: a string in the file, not an object with a question and an answer: "oops"',
                  "record 3: a number in the file, not an object with a question and an answer: 5",
                  "record 4: null in the file, not an object with a question and an answer"]

# 1,200 warnings (the same question again) and then an error: validation that stops counting at some
# number of problems misses the empty answer at the end.
LATE_ERROR = ([{"question": "What is offside?", "answer": f"Explanation number {i}."} for i in range(1, 1202)]
              + [{"question": "Who restarts play?", "answer": ""}])
