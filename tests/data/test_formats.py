import csv
import io
import json

import pytest
from dataset_cases import BAD, UNICODE

from studio.data import formats, validate, writers
from studio.errors import StudioError


@pytest.mark.parametrize("name,data,words", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_one_clear_line(name, data, words):
    with pytest.raises(StudioError) as err:
        records = formats.read_records(data, name)
        validate.ensure_valid(records)
    message = str(err.value)
    assert "\n" not in message and words.lower() in message.lower()


@pytest.mark.parametrize("text,line,closing", [
    ('[\n  {"question": "a?", "answer": "b"},\n  {"question": "c?", "answer": "d"},\n]\n', 3, "] on line 4"),
    ('\ufeff[\r\n {"question": "a?", "answer": "b"},\r\n]\r\n', 2, "] on line 3"),  # a BOM, Windows line ends
    ('[{"question": "a?",\n  "answer": "b",\n}]', 2, "} on line 3"),
])
def test_a_comma_after_the_last_item_is_named_on_its_own_line(text, line, closing):
    with pytest.raises(StudioError) as err:  # json itself says "Expecting value" at the bracket, a line later
        formats.read_records(text.encode(), "qa.json")
    assert str(err.value) == (f"Not valid JSON at line {line}: a comma after the last item, before the closing "
                              f"{closing}; remove that comma.")


@pytest.mark.parametrize("name,text,message", [
    ("qa.json", '[\n  {"question": "a?", "answer": "b"}\n  {"question": "c?", "answer": "d"}\n]\n',
     "Not valid JSON at line 2: a comma is missing after the record that ends there, before the next one on line 3; "
     "add one."),
    ("qa.json", '[{"question": "a?", "answer": "b"} {"question": "c?", "answer": "d"}]',
     "Not valid JSON at line 1, column 36: a comma is missing between two records, before the {; add one there."),
    ("qa.json", '[{"question": "a?"\r\n  "answer": "b"}]',  # between two fields, Windows line ends
     "Not valid JSON at line 1: a comma is missing after the item that ends there, before the next one on line 2; "
     "add one."),
    ("qa.json", '[{"question": "He said "hi" to me", "answer": "b"}]',  # json says the same "Expecting ','"
     'Not valid JSON at line 1, column 24: a quote inside a text ends it early; write it as \\" (a backslash before '
     "the quote) or use other quotes."),
    ("qa.jsonl", '{"question": "a?", "answer": "b"}\n{"question": "c?" "answer": "d"}\n',
     'Line 2, column 19: a comma is missing between two items, before the "; add one there.'),
])
def test_a_missing_comma_is_said_in_plain_words_on_its_line(name, text, message):
    with pytest.raises(StudioError) as err:  # json itself says "Expecting ',' delimiter" at the next item
        formats.read_records(text.encode(), name)
    assert str(err.value) == message


WINDOWS_1252 = [("excel.csv", "question,answer\r\n¿Qué es un córner?,Un saque de esquina: 5 € la entrada\r\n"),
                ("qa.json", '[{"question": "¿Año?", "answer": "El niño dijo “sí”"}]')]


@pytest.mark.parametrize("name,text", WINDOWS_1252)
def test_a_windows_1252_file_is_refused_strictly_with_how_and_read_on_request_saying_so(name, text):
    data = text.encode("cp1252")  # Excel's plain "CSV" on Windows: é, ñ and € are single bytes
    with pytest.raises(StudioError) as err:
        formats.parse(data, name)  # the command line: no guess, and the line says how to re-save it
    assert "Excel: Save As, \"CSV UTF-8\"" in str(err.value) and str(err.value).startswith("Not UTF-8 text (line ")
    parsed = formats.parse(data, name, legacy=True)  # the Dataset page: read, and said aloud with the line to check
    assert formats.apply_mapping(parsed.rows, formats.guess_mapping(parsed.fields)) == \
        formats.read_records(text.encode("utf-8"), name)
    line = text.splitlines()[-1]
    assert parsed.encoding_note.startswith("Not UTF-8 text: read as Windows-1252") and f"reads: {line})" in parsed.encoding_note
    assert formats.parse(text.encode("utf-8"), name, legacy=True).encoding_note == ""  # UTF-8 needs no word


def test_a_utf8_file_with_one_windows_1252_byte_keeps_its_utf8_accents():
    """One answer pasted from an old file into a UTF-8 CSV: the page read the whole file as Windows-1252, so every
    correct "é" elsewhere became "Ã©"; only the byte that is not UTF-8 is read as Windows-1252 now."""
    data = "question,answer\nQué es un córner?,Un saque de esquina\n".encode() + \
        "Qué es un penalti?,Un tiro desde el punto: ¡gol!\n".encode("cp1252")
    parsed = formats.parse(data, "mixed.csv", legacy=True)
    assert parsed.rows == [{"question": "Qué es un córner?", "answer": "Un saque de esquina"},
                           {"question": "Qué es un penalti?", "answer": "Un tiro desde el punto: ¡gol!"}]
    assert "line 3 reads: Qué es un penalti?,Un tiro desde el punto: ¡gol!)" in parsed.encoding_note
    with pytest.raises(StudioError, match=r"^Neither UTF-8 nor Windows-1252 text \(line 2\)"):
        formats.parse(b"question,answer\nq\x81,a\n", "bad.csv", legacy=True)  # 0x81: no character in either


def test_unicode_and_html_survive_every_format_exactly():
    for fmt, writer in writers.WRITERS.items():
        data = writer(UNICODE)
        assert formats.read_records(data, f"x.{fmt}") == UNICODE, fmt


def test_utf8_bom_and_utf16_files_are_read():
    text = json.dumps(UNICODE, ensure_ascii=False)
    assert formats.read_records("\ufeff".encode() + text.encode("utf-8"), "a.json") == UNICODE
    assert formats.read_records(text.encode("utf-16"), "a.json") == UNICODE


def test_format_detected_from_content_without_extension():
    jsonl = writers.to_jsonl(UNICODE)
    assert formats.parse(jsonl, "upload").format == "jsonl"
    assert formats.parse(writers.to_json(UNICODE), "upload").format == "json"
    assert formats.parse(b"question,answer\nq,a\n", None).format == "csv"
    assert formats.parse(b"question\tanswer\nq\ta\n", "x.tsv").rows == [{"question": "q", "answer": "a"}]


def test_alpaca_maps_instruction_input_output_and_keeps_extra_fields():
    rows = [{"instruction": "Explain offside", "input": "in two lines", "output": "…", "id": 7},
            {"instruction": "Name the ball size", "input": "", "output": "Size 5"}]
    parsed = formats.parse(json.dumps(rows).encode(), "alpaca.json")
    mapping = formats.guess_mapping(parsed.fields)
    assert mapping == formats.FieldMap("instruction", "output", "input")
    assert formats.apply_mapping(parsed.rows, mapping) == [
        {"question": "Explain offside", "answer": "…", "context": "in two lines", "id": 7},
        {"question": "Name the ball size", "answer": "Size 5"},
    ]


@pytest.mark.parametrize("fields,expected", [
    (["prompt", "response"], ("prompt", "response")),
    (["Question", "Answer"], ("Question", "Answer")),
    (["QUESTION", "ANSWER", "source"], ("QUESTION", "ANSWER")),
    (["query", "completion"], ("query", "completion")),
    (["title", "body"], None),
])
def test_common_field_names_are_guessed_in_any_case(fields, expected):
    got = formats.guess_mapping(fields)
    assert (got and (got.question, got.answer)) == expected or (got is None and expected is None)


def test_data_wrapper_is_unwrapped():
    wrapped = {"version": "1.0", "data": [{"Question": "q", "Answer": "a"}]}
    assert formats.read_records(json.dumps(wrapped).encode(), "w.json") == [{"question": "q", "answer": "a"}]


def test_explicit_mapping_from_cli_pairs():
    m = formats.FieldMap.from_pairs(["question=title", "answer=body"], ["title", "body"])
    assert m == formats.FieldMap("title", "body")
    with pytest.raises(StudioError, match="--map question=FIELD"):
        formats.FieldMap.from_pairs([], ["title", "body"])
    with pytest.raises(StudioError, match="Bad --map"):
        formats.FieldMap.from_pairs(["nonsense"], ["title", "body"])


def test_csv_export_quotes_newlines_commas_and_writes_extras_as_json():
    recs = [{"question": 'a, "b"\nc', "answer": "d", "tags": ["x", "é"]}]
    rows = list(csv.reader(io.StringIO(writers.to_csv(recs).decode())))
    assert rows == [["question", "answer", "tags"], ['a, "b"\nc', "d", '["x", "é"]']]


def test_megabyte_answer_is_kept_whole():
    big = "ball " * 200_000  # 1 MB
    records = formats.read_records(json.dumps([{"question": "q", "answer": big}]).encode(), "big.json")
    assert records[0]["answer"] == big
    assert [p.message.split(" (")[0] for p in validate.ensure_valid(records)] == ["very long"]


def test_csv_exports_neutralise_formulas_and_the_studio_reads_them_back_exactly():
    """OWASP's CSV-injection advice: a cell starting with = + - @ tab or CR gets a ' in the CSV; JSON
    and JSONL keep the exact text, and the studio's CSV reader gives the original back."""
    from studio.data import formats

    assert writers.to_csv([{"question": "\rCR", "answer": "a"}]).decode().count("'\rCR") == 1
    texts = ["=1+1", "+SUM(A1)", "-5 degrees", "@cmd", "\tTabbed", "'quoted", "plain"]
    records = [{"question": t, "answer": f"{t} answer"} for t in texts]
    raw = writers.to_csv(records).decode("utf-8")
    assert "'=1+1" in raw and "'+SUM(A1)" in raw and "'-5 degrees" in raw and "'@cmd" in raw
    assert "\n=1+1" not in raw and ",=1+1" not in raw
    back = formats.apply_mapping(formats.parse(raw.encode(), "x.csv").rows, formats.FieldMap("question", "answer"))
    assert [r["question"] for r in back] == texts and [r["answer"] for r in back] == [f"{t} answer" for t in texts]
    assert json.loads(writers.to_json(records)) == records  # JSON keeps the exact text
    assert writers.to_jsonl(records).decode().count("=1+1") == 2 and "'=1+1" not in writers.to_jsonl(records).decode()


def test_evaluation_csv_neutralises_formulas_in_answers():
    from studio.evaluate import report
    from studio.evaluate.result import EvalResult

    result = EvalResult.from_json({"models": [{"label": "m", "spec": "m"}], "rows": [
        {"index": 0, "question": "=cmd|' /C calc'!A0", "reference": "ok", "answers": {"m": "@SUM(1)"},
         "errors": {}, "scores": {"m": {"f1": 0.5}}, "judge": {}, "leak": None}]})
    raw = report.to_csv(result)
    assert "'=cmd" in raw and "'@SUM(1)" in raw and "\n=cmd" not in raw


def test_csv_headers_are_neutralised_too_and_read_back_exactly():
    """A field or a model label is a header cell: "=HYPERLINK(...)" there ran in a spreadsheet like any cell."""
    from studio.evaluate import report
    from studio.evaluate.result import EvalResult

    records = [{"question": "q", "answer": "a", '=HYPERLINK("http://x.example","open")': "v", "-2+3": "w"}]
    raw = writers.to_csv(records).decode("utf-8")
    header = next(csv.reader(io.StringIO(raw)))
    assert header == ["question", "answer", '\'=HYPERLINK("http://x.example","open")', "'-2+3"]
    assert formats.read_records(raw.encode(), "x.csv") == records
    result = EvalResult.from_json({"models": [{"label": "=1+1", "spec": "m"}], "rows": [
        {"index": 0, "question": "q", "reference": "ok", "answers": {"=1+1": "a"}, "errors": {},
         "scores": {"=1+1": {"f1": 0.5}}, "judge": {}, "leak": None}]})
    assert not [c for c in next(csv.reader(io.StringIO(report.to_csv(result)))) if c.startswith("=")]


def test_a_field_named_empty_exports_to_csv_and_reads_back():
    """A field named "" (kept from a JSON import) was written under an empty header: the studio's own CSV import
    refused the file ("column 3 holds a value but has no name in the header")."""
    records = [{"question": "q", "answer": "a", "": "kept"}, {"question": "q2", "answer": "a2", "": ""}]
    raw = writers.to_csv(records).decode("utf-8")
    assert next(csv.reader(io.StringIO(raw))) == ["question", "answer", "'(no name)"]
    assert formats.read_records(raw.encode(), "x.csv") == records


def test_a_field_named_no_name_and_one_named_empty_export_to_distinct_csv_columns_and_read_back():
    """The field "" was exported under the header "(no name)": a dataset with a field "(no name)" as well got two
    columns of that header (and its import refused the file), and a user's own CSV column "(no name)" was read as the
    field "". Each field now has a header of its own, and a plain "(no name)" column is that name."""
    records = [{"question": "q", "answer": "a", "": "empty", "(no name)": "named", "'(no name)": "quoted"}]
    raw = writers.to_csv(records).decode("utf-8")
    header = next(csv.reader(io.StringIO(raw)))
    assert len(set(header)) == len(header) == 5
    assert formats.read_records(raw.encode(), "x.csv") == records
    own = b"question,answer,(no name)\r\nHow long is a half?,45 minutes.,laws\r\n"
    assert formats.read_records(own, "mine.csv") == [
        {"question": "How long is a half?", "answer": "45 minutes.", "(no name)": "laws"}]


def test_a_field_of_spaces_alone_exports_to_csv_and_reads_back():
    """A field named " " (kept from a JSON import) was written under the header " ", which the import reads as a
    column with no name: the studio's own CSV was refused ("column 3 holds a value but has no name in the header"),
    and where that column was empty the field was lost. It is now written as "'( )" and read back as " "."""
    records = [{"question": "q", "answer": "a", " ": "space", "\t": "tab", "  \n": "mixed", "": "empty",
                "'( )": "spelled as the escape", "( )": "brackets"},
               {"question": "q2", "answer": "a2", " ": "", "\t": "", "  \n": "", "": "", "'( )": "", "( )": ""}]
    raw = writers.to_csv(records).decode("utf-8")
    header = next(csv.reader(io.StringIO(raw)))
    assert header[2] == "'( )" and len(set(header)) == len(header)
    assert formats.read_records(raw.encode(), "x.csv") == records


def test_fields_differing_only_in_surrounding_spaces_export_to_csv_and_read_back():
    """Fields " a" and "a" exported as two columns and the import took the spaces off both headers, then refused the
    file: "The CSV header repeats a column name". Spaces that tell two headers apart are kept; a lone header's are
    still taken off (a user's "question " column is the question)."""
    records = [{"question": "q", "answer": "a", " tag": "spaced", "tag": "plain", "tag ": "trailing"}]
    assert formats.read_records(writers.to_csv(records), "x.csv") == records
    own = b"question ,answer,tag,tag\r\nHow long is a half?,45 minutes.,x,y\r\n"
    with pytest.raises(StudioError, match="repeats a column name"):  # named twice, as written: still refused
        formats.read_records(own, "mine.csv")
    assert formats.read_records(b"question ,answer\r\nHow long is a half?,45 minutes.\r\n", "mine.csv") == [
        {"question": "How long is a half?", "answer": "45 minutes."}]


def test_escaped_emoji_read_back_exactly():
    # ``json.dump``'s default (ensure_ascii) writes every emoji as a pair of \u escapes: a whole pair is text.
    data = json.dumps(UNICODE).encode()
    assert b"\\ud83e\\udd45" in data
    assert formats.read_records(data, "a.json") == UNICODE
    assert formats.read_records("".join(json.dumps(r) + "\n" for r in UNICODE).encode(), "a.jsonl") == UNICODE


def test_a_csv_cell_longer_than_python_s_default_limit_reads_back():
    """Python's csv refuses cells over 131,072 characters ("field larger than field limit"): a long passage
    in the studio's own CSV export could not be imported again."""
    records = [{"question": "What does the passage say?", "answer": "Much.", "context": "word " * 40_000}]
    data = writers.to_csv(records)
    assert len(data) > 200_000
    assert formats.read_records(data, "long.csv") == records


def test_jsonl_lines_end_at_line_breaks_only_so_its_own_export_reads_back():
    """JSON keeps U+2028, U+2029 and U+0085 unescaped in a string; splitting at them as str.splitlines() does
    refused the studio's own JSONL export of such text ("Unterminated string")."""
    records = [{"question": "Line\u2028separator?", "answer": "Para\u2029graph and next\x85line."},
               {"question": "Plain?", "answer": "Yes."}]
    for fmt in ("jsonl", "messages"):
        assert formats.read_records(writers.WRITERS[fmt](records), f"x.{writers.EXTENSIONS[fmt]}") == records, fmt
    one = '\ufeff{"question": "q1", "answer": "a1"}\r\n'  # two files joined with cat, each with its BOM
    assert formats.read_records((one + one.replace("1", "2")).encode(), "joined.jsonl") == [
        {"question": "q1", "answer": "a1"}, {"question": "q2", "answer": "a2"}]
    sequence = '\x1e{"question": "q1", "answer": "a1"}\n\x1e{"question": "q2", "answer": "a2"}\n'  # RFC 7464
    assert len(formats.read_records(sequence.encode(), "seq.jsonl")) == 2


def test_csv_columns_without_a_name_are_left_out_while_empty_and_named_when_not():
    """A spreadsheet's trailing commas ("question,answer,,") refused the whole file as "Not JSON, JSON Lines or
    CSV with a header row"; a column with values but no name said the same."""
    trailing = b"question,answer,,\r\nHow long is a half?,45 minutes.,,\r\nWho restarts play?,The referee.,,\r\n"
    assert formats.read_records(trailing, "sheet.csv") == [
        {"question": "How long is a half?", "answer": "45 minutes."},
        {"question": "Who restarts play?", "answer": "The referee."}]
    with pytest.raises(StudioError) as err:
        formats.read_records(b"question,answer,\nq1,a1,\nq2,a2,kept?\n", "sheet.csv")
    assert str(err.value) == ("Line 3: column 3 holds a value but has no name in the header: name it there, or "
                              "remove the column.")


def test_a_semicolon_separated_csv_reads():
    """Spreadsheets separate with ';' where the comma is the decimal mark: the file was refused as "Not JSON,
    JSON Lines or CSV with a header row"."""
    data = b"question;answer\r\nWie lang ist eine Halbzeit?;45 Minuten, ohne Nachspielzeit.\r\n"
    assert formats.read_records(data, "faq.csv") == [
        {"question": "Wie lang ist eine Halbzeit?", "answer": "45 Minuten, ohne Nachspielzeit."}]
    assert formats.read_records(b"question,answer\r\n\"a;b;c\",d\r\n", "x.csv") == [{"question": "a;b;c", "answer": "d"}]


def test_half_a_surrogate_pair_after_an_escaped_backslash_is_refused_not_written():
    """``"\\\\ud800\\udc00"`` is the text \\ud800 (an escaped backslash, then plain letters) and then half a pair:
    the file looked like it held one whole pair, so it read, and every later write of it failed with a
    UnicodeEncodeError traceback."""
    record = '{"question": "A path C:\\\\ud800\\udc00?", "answer": "Yes."}'
    for name, data in (("x.json", f"[{record}]"), ("x.jsonl", f'{{"question": "q", "answer": "a"}}\n{record}\n')):
        with pytest.raises(StudioError) as err:
            formats.read_records(data.encode(), name)
        where = "Record 1" if name == "x.json" else "Line 2"
        assert str(err.value) == (f"{where}: question holds \\udc00, half of a UTF-16 surrogate pair, which is not "
                                  "text: fix or remove that escape."), name
    fine = '[{"question": "A path C:\\\\ud83d\\ud83d\\ude00?", "answer": "Yes."}]'  # the text \ud83d, a whole pair
    assert formats.read_records(fine.encode(), "x.json")[0]["question"] == "A path C:\\ud83d\U0001f600?"


def test_records_that_are_not_objects_are_invalid_records_named_with_what_was_there():
    """A string, number or null among a JSON file's records stopped the whole import ("Record 2 is a string")."""
    from dataset_cases import MIXED, MIXED_PROBLEMS

    records = formats.read_records(MIXED, "mixed.json")
    assert len(records) == 5 and records[0] == {"question": "a", "answer": "b"} and records[1] == {}
    assert [str(p) for p in validate.validate(records)] == MIXED_PROBLEMS
    kept, skipped, _ = validate.split_valid(records)
    assert kept == [{"question": "a", "answer": "b"}, {"question": "c", "answer": "d"}] and len(skipped) == 3


def test_a_json_lines_line_that_is_not_an_object_is_named_with_its_line_and_text_cut_short():
    long = "x" * 500
    data = (json.dumps({"question": "a", "answer": "b"}) + "\n\n" + json.dumps(long) + "\n[1, [2]]\n"
            + json.dumps({"question": "c", "answer": "d"}) + "\n").encode()
    records = formats.read_records(data, "mixed.jsonl")
    problems = [str(p) for p in validate.errors(validate.validate(records))]
    assert problems[0].startswith("record 2: a string on line 3 of the file, not an object with a question and an "
                                  'answer: "xxx') and problems[0].endswith("x…") and len(problems[0]) < 200
    assert problems[1] == "record 3: a list on line 4 of the file, not an object with a question and an answer: [1, [2]]"
    assert len(records) == 4


def test_non_object_records_among_chat_and_squad_records_are_kept_to_be_named():
    chat = [{"messages": [{"role": "user", "content": "Offside?"}, {"role": "assistant", "content": "A rule."}]}, "lost"]
    parsed = formats.parse(json.dumps(chat).encode(), "chat.json")
    assert parsed.chat == "messages" and len(parsed.rows) == 2
    assert "record 2: a string in the file" in str(validate.validate(parsed.rows)[0])
    squad = {"data": [{"title": "Laws", "paragraphs": [{"context": "Eleven players.", "qas": [
        {"id": "1", "question": "How many?", "answers": [{"text": "Eleven", "answer_start": 0}]}]}]}, 7]}
    parsed = formats.parse(json.dumps(squad).encode(), "squad.json")
    assert parsed.squad == "squad-nested" and len(parsed.rows) == 2
    assert "record 2: a number in the file" in str(validate.errors(validate.validate(parsed.rows))[0])


def test_a_half_surrogate_in_a_string_record_is_shown_as_its_escape():
    records = formats.read_records(b'[{"question": "a", "answer": "b"}, "bad \\ud800"]', "half.json")
    (problem,) = validate.errors(validate.validate(records))
    assert str(problem).endswith('"bad \\ud800"') and str(problem).encode("utf-8")


def test_a_json_file_saved_with_a_csv_name_reads_as_json():
    """A tutorial's qa.json renamed (or saved by a notebook) as qa.csv was read as CSV: "The file holds no records",
    a reason that was not true; the records were there."""
    records = [{"question": "What is a tokenizer?", "answer": "It splits text into tokens."},
               {"question": "What is fine-tuning?", "answer": "More training, on your data."}]
    assert formats.parse(json.dumps(records, indent=2).encode(), "qa.csv").rows == records
    lines = "".join(json.dumps(r) + "\n" for r in records)
    assert formats.parse(lines.encode(), "qa.tsv").rows == records
    # a real CSV, its header included, is still CSV
    assert formats.parse(b"[id],question,answer\n1,Q?,A.\n", "ids.csv").rows == [
        {"[id]": "1", "question": "Q?", "answer": "A."}]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_read_not_refused_as_binary(codec):
    """Saved as UTF-16 without a BOM (PowerShell's Out-File, some editors' "Unicode"), a JSON or CSV file was
    refused as "a binary file"."""
    text = json.dumps(UNICODE, ensure_ascii=False)
    assert formats.read_records(text.encode(codec), "a.json") == UNICODE
    table = "question,answer\r\nWhat is offside?,Nearer the goal line ⚽\r\n¿Balón?,Tamaño 5\r\n"
    assert formats.read_records(table.encode(codec), "a.csv") == [
        {"question": "What is offside?", "answer": "Nearer the goal line ⚽"}, {"question": "¿Balón?", "answer": "Tamaño 5"}]


def test_a_nul_character_in_a_utf8_csv_is_kept_not_taken_for_utf16():
    """One NUL byte in a cell had the whole UTF-8 file read as UTF-16 and refused for a first line of CJK nonsense
    ("畱獥楴湯愬..." names no two columns). It is UTF-8 text holding a NUL character, kept as it was."""
    data = "question,answer\nWhat is offside?,Nearer the goal line\x00 ⚽\n¿Balón?,Tamaño 5\n".encode()
    assert formats.read_records(data, "a.csv") == [
        {"question": "What is offside?", "answer": "Nearer the goal line\x00 ⚽"}, {"question": "¿Balón?", "answer": "Tamaño 5"}]


def test_records_with_no_field_at_all_are_refused_in_one_line():
    """300,000 empty objects were "Read 300,000 records" with a question and an answer field to choose from lists
    holding none, and "Choose which fields hold the question and the answer.": a page with no way on. One line says
    why nothing can be imported."""
    for data in (b"[" + b",".join([b"{}"] * 300) + b"]", b"[{}, null, 3]"):
        with pytest.raises(formats.DatasetFormatError) as err:
            formats.parse(data, "empty.json")
        assert str(err.value).startswith(f"None of the {data.count(b',') + 1:,} records holds a field (each is {{}}, or "
                                         "not an object): there is no question or answer to import.")


def test_a_binary_file_and_a_cut_utf16_file_are_each_refused_in_one_line():
    with pytest.raises(formats.DatasetFormatError, match="^This looks like a binary file, not text"):
        formats.read_records(bytes(range(256)) * 40, "a.json")
    cut = json.dumps(UNICODE, ensure_ascii=False).encode("utf-16-le") + b"\x00\xd8"  # half a surrogate pair at the end
    with pytest.raises(formats.DatasetFormatError) as err:
        formats.read_records(cut, "a.json")
    assert "UTF-16" in str(err.value) and "re-save it as UTF-8" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["data.json", "data.jsonl", "data.csv", "data.parquet"])
@pytest.mark.parametrize("kind", ["zip", "gzip"])
def test_a_compressed_file_under_a_data_files_name_says_to_unpack_it(tmp_path, name, kind):
    """A zip renamed .json was "a binary file, not text: upload a JSON, JSON Lines or CSV file" (it was one, inside),
    renamed .parquet pyarrow's "Parquet magic bytes not found in footer"; the same line now says to unpack it."""
    import gzip
    import zipfile

    inside = json.dumps([{"question": "Q?", "answer": "A."}]).encode()
    if kind == "zip":
        with zipfile.ZipFile(tmp_path / "a.zip", "w") as z:
            z.writestr("data.json", inside)
        data = (tmp_path / "a.zip").read_bytes()
    else:
        data = gzip.compress(inside)
    (tmp_path / name).write_bytes(data)
    for read in (lambda: formats.parse(data, name, legacy=True), lambda: formats.read_source(tmp_path / name)):
        with pytest.raises(formats.DatasetFormatError) as err:  # the Import tab's upload; its path and the CLI
            read()
        said = str(err.value)
        assert ("unzip it" if kind == "zip" else "decompress it") in said and "import the file inside" in said
        assert "\n" not in said


@pytest.mark.parametrize("name", ["empty.json", "empty.csv", "empty.parquet"])
def test_an_empty_file_is_said_empty_whatever_its_name(tmp_path, name):
    """An empty .parquet read "Not a readable Parquet file (Parquet file size is 0 bytes): export it again"."""
    (tmp_path / name).write_bytes(b"")
    for read in (lambda: formats.parse(b"", name, legacy=True), lambda: formats.read_source(tmp_path / name)):
        with pytest.raises(formats.DatasetFormatError, match="^The file is empty"):
            read()


def test_a_parquet_file_of_no_rows_is_said_the_same_uploaded_or_read_from_a_path(tmp_path):
    """Read from a path (the CLI, the Import tab's path) it said "The dataset holds no records", uploaded "The file"."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"question": pa.array([], pa.string()), "answer": pa.array([], pa.string())}),
                   tmp_path / "none.parquet")
    data = (tmp_path / "none.parquet").read_bytes()
    said = set()
    for read in (lambda: formats.parse(data, "none.parquet"), lambda: formats.read_source(tmp_path / "none.parquet")):
        with pytest.raises(formats.DatasetFormatError) as err:
            read()
        said.add(str(err.value))
    assert said == {"The file holds no records: it needs at least one question and answer."}


def test_a_pipe_or_tab_separated_table_reads_and_says_its_delimiter_even_with_commas_in_its_answers():
    """A pipe-delimited file was refused as "Not JSON, JSON Lines or CSV with a header row"."""
    pipes = "question|answer\nWhat is offside?|Nearer the goal line, than the ball\nHow long, exactly?|45 minutes\n"
    parsed = formats.parse(pipes.encode(), "faq.csv")
    assert parsed.delimiter == "|" and parsed.rows == [
        {"question": "What is offside?", "answer": "Nearer the goal line, than the ball"},
        {"question": "How long, exactly?", "answer": "45 minutes"}]
    tabs = "question\tanswer\nWie lang?\t45 Minuten; ohne Nachspielzeit, sagt man\n"
    assert formats.parse(tabs.encode(), "faq.txt").delimiter == "\t"
    assert formats.parse(b"question,answer\r\n\"a;b|c\",d\r\n", "x.csv").delimiter == ","


def test_a_text_that_is_no_table_is_refused_in_one_line_quoting_its_first_line():
    with pytest.raises(StudioError) as err:
        formats.read_records(b"Dear team,\nthe match is on Sunday.\nBring boots.\n", "notes.txt")
    assert str(err.value) == ("Not JSON, JSON Lines or a table: the first line (Dear team,) names no two columns "
                              "separated by commas, tabs, semicolons or | (a table's header row names its columns, "
                              "e.g. question,answer).")


def test_a_file_of_only_a_byte_order_mark_or_only_blank_lines_is_refused_saying_what_it_holds():
    """A 3-byte file (a UTF-8 byte order mark alone) was called "empty" with no word of the bytes a person sees."""
    for data in (b"\xef\xbb\xbf", b"\xff\xfe", b""):
        with pytest.raises(StudioError, match=r"^The file is empty \(a byte order mark at most\)"):
            formats.read_records(data, "a.json")
    with pytest.raises(StudioError, match="^The file is empty but for spaces and line breaks"):
        formats.read_records(b"\xef\xbb\xbf \r\n\r\n\t\n", "a.csv")


def test_a_markdown_or_psql_table_reads_its_records_without_its_rulers_or_padding():
    """A Markdown table's ruler row (|:---|---:|) came in as a training record, every value kept the spaces that
    line the columns up, a ruler without colons refused the whole file, and psql's output was refused at its ruler."""
    want = [{"question": "What is 2+2?", "answer": "four"}, {"question": "Who keeps goal?", "answer": "the keeper"}]
    markdown = ("| question        | answer     |\n|:----------------|-----------:|\n"
                "| What is 2+2?    | four       |\n| Who keeps goal? | the keeper |\n")
    assert formats.parse(markdown.encode(), "faq.md").rows == want
    plain = markdown.replace(":-", "--").replace("-:", "--")
    assert formats.parse(plain.encode(), "faq.md").rows == want
    psql = (" question        |   answer\n-----------------+------------\n"
            " What is 2+2?    | four\n Who keeps goal? | the keeper\n(2 rows)\n\n")
    parsed = formats.parse(psql.encode(), "faq.txt")
    assert parsed.delimiter == "|" and parsed.rows == want


DEEP = "[" * 5000 + "]" * 5000


@pytest.mark.parametrize("name,text,where", [
    ("qa.json", '[{"question": "Is [ { a bracket?", "answer": "a"},\n {"question": "x", "answer": ' + DEEP + "}]",
     "Record 2 is nested over 100 levels deep (lists or objects inside each other), from line 2, column 128 on"),
    ("qa.json", '{"data": ' + DEEP + "}", "The JSON is nested over 100 levels deep"),
    ("qa.jsonl", '{"question": "q", "answer": "a"}\n{"question": "x", "answer": ' + DEEP + "}\n",
     "Line 2 is nested over 100 levels deep (lists or objects inside each other), from column 128 on"),
])
def test_json_nested_thousands_deep_is_refused_saying_where_and_what_shape_is_expected(name, text, where):
    """It said only "The JSON is nested too deeply to be a Q&A dataset.": neither which record nor what to send."""
    with pytest.raises(StudioError) as err:
        formats.read_records(text.encode(), name)
    message = str(err.value)
    assert message.startswith(where) and "\n" not in message
    assert 'a list of records like {"question": "...", "answer": "..."}' in message


def test_a_truncated_json_file_says_how_many_records_came_through_whole():
    """A cut 60 MB export on one line said only "ends early at line 1": nothing on how much of it was whole."""
    records = [{"question": f"Is [{i}] {{here}}?", "answer": "yes, \"quoted\" } ]"} for i in range(1200)]
    one_line = json.dumps(records)
    cut = one_line[: one_line.index('"Is [1000]') + 12]  # inside the 1,001st record's question
    with pytest.raises(StudioError) as err:
        formats.read_records(cut.encode(), "qa.json")
    assert str(err.value) == (f"The JSON ends early at character {len(cut):,} after 1,000 whole records: the file "
                              "looks truncated; export it again.")
    pretty = json.dumps(records[:3], indent=1)
    with pytest.raises(StudioError) as err:
        formats.read_records(pretty[: pretty.rindex("}")].encode(), "qa.json")
    assert str(err.value).startswith(f"The JSON ends early at line {pretty.count(chr(10)):,} after 2 whole records:")


def test_a_csv_quote_never_closed_is_said_on_the_line_it_opens_with_what_to_do():
    """A cell's quote left open on line 3 of 6 was said as "Line 6: not valid CSV (unexpected end of data)": the
    last line, which holds nothing wrong, and no word of a quote."""
    data = (b'question,answer\nWhat is a corner?,A kick from the corner arc\n"Unclosed quote, here,oops\n'
            b'Who keeps time?,The referee\n,No question\nWhat is a corner,A kick.\n')
    with pytest.raises(formats.DatasetFormatError) as err:
        formats.parse(data, "faulty.csv")
    said = str(err.value)
    assert said.startswith("Line 3: a cell opens a quote") and "two" in said
