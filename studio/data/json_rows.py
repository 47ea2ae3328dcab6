"""JSON and JSON Lines text to raw rows, with the checks Python's ``json`` does not make: NaN and
Infinity refused, nesting bounded, half of a UTF-16 surrogate pair named by its record (``json``
accepts a lone ``\\ud800`` escape that no UTF-8 file can hold), a number too long to read said so.
``studio.data.formats.parse`` calls ``parse_json`` / ``parse_jsonl``; every problem is a one-line
``DatasetFormatError`` naming the line or record. A record that is not an object (a string, a number, null, a
list) is an invalid record like any other, not a stop: it becomes an empty ``NotAnObject`` keeping what was
there, which validation names; a file none of whose records is an object is refused. A key given twice in a record is not an error (the
last value is kept, as everywhere): it is passed back for a warning (``studio.data.json_keys``).
"""

from __future__ import annotations

import json
import re
import threading

from studio.data import json_keys
from studio.data.validate import NotAnObject
from studio.errors import DatasetFormatError
from studio.tasks import STEP_ROWS, check_stop

MAX_DEPTH = 32  # nesting allowed inside one record; real Q&A data is 1-3 levels deep
WRAPPER_KEYS = ("data", "rows", "records", "examples", "items", "train")  # {"data": [...]} and friends


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not allowed in JSON")


# A \uD800-\uDBFF escape not followed by a \uDC00-\uDFFF one, or the second without the first: half of a
# UTF-16 pair, which Python's json accepts but no UTF-8 file can hold (every later write of the record fails).
_HALF = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")  # either half of a pair, as an escape
_PAIR = re.compile(r"\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}")  # a whole pair: an emoji
_LONG_NUMBER = re.compile(r"\d{4000,}")


def _value_error(exc: ValueError, text: str) -> str:
    """What a ``ValueError`` from ``json.loads`` that is not a syntax error means (NaN, a huge integer)."""
    if "integer string conversion" in str(exc):  # Python's limit on digits, not a JSON rule
        match = _LONG_NUMBER.search(text)
        line = f" at line {text.count(chr(10), 0, match.start()) + 1}" if match else ""
        return f"Not valid JSON{line}: a number too long to read (thousands of digits); put it in quotes to keep it as text."
    return f"Not valid JSON{_constant_line(text)}: {exc}; replace it with text or null."


def _syntax_error(exc: json.JSONDecodeError, text: str) -> str:
    """The line for a JSON syntax error; a comma before a closing ``]`` or ``}`` (after the last record of a file
    written by hand, or a record's last field) is named as such: ``json`` only says "Expecting value" at the bracket
    after it, a line later."""
    before = text[:exc.pos].rstrip()
    if before.endswith(",") and text[exc.pos:exc.pos + 1] in ("]", "}"):
        line = before.count("\n") + 1
        return (f"Not valid JSON at line {line}: a comma after the last item, before the closing {text[exc.pos]} "
                f"on line {exc.lineno}; remove that comma.")
    missing = _missing_comma(exc, text)
    if missing:
        line, column, words = missing
        return f"Not valid JSON at line {line}{f', column {column}' if column else ''}: {words}"
    return f"Not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}."


def _missing_comma(exc: json.JSONDecodeError, text: str) -> tuple[int, int | None, str] | None:
    """Plain words for ``json``'s "Expecting ',' delimiter": (line, column or None, what is wrong and the fix), or
    None. Two records (or fields) with no comma between them are named on the line where the first ends (a column
    when the next is on that line too); a text followed by more text is a quote inside it that ended it early."""
    if not exc.msg.startswith("Expecting ',' delimiter"):
        return None
    before = text[:exc.pos].rstrip()
    last, nxt = before[-1:], text[exc.pos:exc.pos + 1]
    line = before.count("\n") + 1
    if last == '"' and (nxt.isalnum() or nxt in "¿¡'_-("):  # "He said "hi"": the second quote ended the text
        return (line, len(before) - before.rfind("\n") - 1, "a quote inside a text ends it early; write it as \\\" "
                "(a backslash before the quote) or use other quotes.")
    if not last or last not in '}]"0123456789el' or nxt not in '{["':
        return None
    what = "records" if last == "}" and nxt == "{" else "items"
    if line == exc.lineno:
        return line, exc.colno, f"a comma is missing between two {what}, before the {nxt}; add one there."
    return line, None, (f"a comma is missing after the {what[:-1]} that ends there, before the next one on line "
                        f"{exc.lineno}; add one.")


def _suspect(text: str) -> bool:
    """Whether ``text`` may hold half a pair; an escaped emoji is a whole pair. A file without a backslash
    costs one single-character scan (a few ms for 40 MB; a two-character one cost ten times that, a tenth
    of the whole read), one without a surrogate escape one regex scan. Where an escaped backslash comes
    before a u (``"\\\\ud800\\udc00"``: the text \\ud800, then half a pair) counting escapes cannot tell a
    pair from text that looks like one: every record is checked."""
    if "\\" not in text or not _HALF.search(text):
        return False
    if "\\\\u" in text:
        return True
    halves = len(_HALF.findall(text))
    return bool(halves) and halves != 2 * len(_PAIR.findall(text))


def _check_surrogates(rows: list, text: str, where: str, first: int = 1) -> None:
    """A record holding half a surrogate pair is refused, naming it (``where`` is "Record" or "Line", the
    first of ``rows`` numbered ``first``)."""
    if not _suspect(text):
        return
    for i, row in enumerate(rows, first):
        bad = _lone_surrogate(row)
        if bad is not None:
            field, char = bad
            raise DatasetFormatError(f"{where} {i}: {field} holds \\u{ord(char):04x}, half of a UTF-16 surrogate pair, "
                                     "which is not text: fix or remove that escape.")


def _lone_surrogate(row: dict) -> tuple[str, str] | None:
    """(field, character) of the first string in ``row`` that UTF-8 cannot hold, else None."""
    stack: list[tuple[str, object]] = [*((k, k) for k in row), *row.items()]
    while stack:
        field, value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                return field, value[exc.start]
        elif isinstance(value, dict):
            stack.extend((field, v) for v in (*value.keys(), *value.values()))
        elif isinstance(value, list):
            stack.extend((field, v) for v in value)
    return None


def _loads(text: str) -> object:
    return json.loads(text, parse_constant=_reject_constant)


DEEP = 100  # levels of lists and objects inside each other: no Q&A record nests this deep
_NESTING = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')  # a string (skipped whole), a bracket or a comma
QA_SHAPE = ('a Q&A dataset is a list of records like {"question": "...", "answer": "..."} whose values are text '
            "(a record's own fields may hold a list or an object a few levels deep, not hundreds)")


def _too_deep(text: str, *, line: int | None = None) -> str:
    """Where ``text`` (JSON that Python's parser gave up on; ``line``: a JSON Lines file's line ``line``) nests
    past ``DEEP`` levels, and the shape expected.

    One pass of a regular expression over the text, on this error only: strings are skipped whole, so a bracket
    inside a question does not count."""
    depth, record = 0, 0
    for m in _NESTING.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
            if depth == 1 and c == "[":
                record = 1
            if depth > DEEP:
                where = f"column {m.start() - text.rfind(chr(10), 0, m.start())}"
                if line is None:
                    where = f"line {text.count(chr(10), 0, m.start()) + 1}, {where}"
                what = f"Line {line:,}" if line is not None else f"Record {record:,}" if record else "The JSON"
                return (f"{what} is nested over {DEEP} levels deep (lists or objects inside "
                        f"each other), from {where} on: {QA_SHAPE}.")
        elif c in "]}":
            depth -= 1
        elif c == "," and depth == 1 and record:
            record += 1
    return f"{'The JSON' if line is None else f'Line {line:,}'} is nested too deeply to read: {QA_SHAPE}."


def _ends_early(exc: json.JSONDecodeError, text: str) -> str:
    """How much of a truncated JSON file is whole: where it ends and the records before the cut (a 60 MB file on one
    line said "at line 1", nothing on how much came through). One pass of ``_NESTING``, on this error only."""
    depth, whole = 0, 0
    for m in _NESTING.finditer(text):
        c = m.group()
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            whole += depth == 1
    where = f"line {exc.lineno:,}" if exc.lineno > 1 else f"character {len(text):,}"
    kept = f" after {whole:,} whole record{'s' * (whole != 1)}" if text.lstrip().startswith("[") else ""
    return f"The JSON ends early at {where}{kept}: the file looks truncated; export it again."


def parse_json(text: str, repeated: list[json_keys.Repeat] | None = None, raw: bytes | None = None) -> list[dict]:
    """The records of a JSON file; the keys any of them gives twice are added to ``repeated`` when given (``raw``:
    the UTF-8 bytes of ``text``, when there are any, make that check cheaper)."""
    try:
        value = _loads(text)
    except RecursionError:
        raise DatasetFormatError(_too_deep(text)) from None
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise DatasetFormatError(_ends_early(exc, text)) from None
        raise DatasetFormatError(_syntax_error(exc, text)) from None
    except ValueError as exc:  # NaN / Infinity, a number of thousands of digits
        raise DatasetFormatError(_value_error(exc, text)) from None
    whole = value
    if isinstance(value, dict):
        value = _unwrap(value)
    if not isinstance(value, list):
        raise DatasetFormatError(
            f"The file holds a JSON {_kind(value)}, not a list of records: expected [{{\"question\": ..., \"answer\": ...}}, ...]."
        )
    # One bracket per record (plus the array and a wrapper) means nothing is nested: skip the depth walk.
    nested = text.count("{") + text.count("[") > len(value) + 2
    others = 0  # records that are not objects
    for i, row in enumerate(value, 1):
        if type(row) is not dict:
            if nested and type(row) is list:
                _check_nested(row, f"Record {i}")
            value[i - 1] = NotAnObject(row)
            others += 1
        elif nested:
            _check_depth(row, f"Record {i}")
    if others and others == len(value):
        raise DatasetFormatError(f"The file holds a JSON list of {_kinds(r.value for r in value)}, not of records: "
                                 "expected [{\"question\": ..., \"answer\": ...}, ...].")
    _check_surrogates(value, text, "Record")
    if repeated is not None:
        # The records' own keys and a wrapper's: the keys of objects inside records are not counted, so a file
        # holding some is always scanned (counting them would cost about what the scan does).
        keys = sum(map(len, value)) + (len(whole) if whole is not value else 0)
        if json_keys.may_repeat(text, keys, raw):
            scanned = json_keys.loads(text)
            records = _unwrap(scanned) if isinstance(scanned, dict) else scanned
            for i, row in enumerate(records, 1):
                if type(value[i - 1]) is not NotAnObject:
                    repeated += json_keys.repeats(row, i)
    return value


def _unwrap(obj: dict) -> object:
    """``{"data": [...]}`` (and rows/records/examples/items/train) wrappers hold the records."""
    for key in obj:
        if key.lower() in WRAPPER_KEYS and isinstance(obj[key], list):
            return obj[key]
    lists = [v for v in obj.values() if isinstance(v, list) and v and all(isinstance(r, dict) for r in v[:10])]
    if len(lists) == 1:
        return lists[0]
    if all(isinstance(v, str) for v in obj.values()):
        raise DatasetFormatError("The file holds one record, not a list: wrap it in [ ] or save it as JSON Lines.")
    return obj


def _constant_line(text: str) -> str:
    match = re.search(r"[:\[,]\s*(NaN|-?Infinity)\b", text)
    return f" at line {text.count(chr(10), 0, match.start(1)) + 1}" if match else ""


_LINE_END = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e]")


def parse_jsonl(text: str, repeated: list[json_keys.Repeat] | None = None, raw: bytes | None = None,
                stop: threading.Event | None = None) -> list[dict]:
    """The records of a JSON Lines file; the keys any of them gives twice are added to ``repeated`` when given.
    ``stop``: once set, the read ends within ``tasks.STEP_ROWS`` lines (``CancelledError``)."""
    rows = []
    # Lines end where str.splitlines() ends them, except at U+0085, U+2028 and U+2029: JSON keeps those
    # unescaped inside a string (the studio's own JSONL export writes them as they are). The control
    # characters among the line ends (RFC 7464's record separator \x1e too) never occur inside one.
    lines = _LINE_END.split(text) if any(c in text for c in "\x85\u2028\u2029") else text.splitlines()
    suspect = _suspect(text)  # once for the file, not per line
    for n, line in enumerate(lines, 1):
        if not n % STEP_ROWS:
            check_stop(stop)
        if line.startswith("\ufeff"):  # files joined with cat, each starting with its byte-order mark
            line = line[1:]
        if not line.strip():
            continue
        try:
            value = _loads(line)
        except RecursionError:
            raise DatasetFormatError(_too_deep(line, line=n)) from None
        except json.JSONDecodeError as exc:
            missing = _missing_comma(exc, line)
            if missing:  # one line: the column is on line n
                raise DatasetFormatError(f"Line {n}, column {missing[1]}: {missing[2]}") from None
            raise DatasetFormatError(f"Line {n}: not valid JSON ({exc.msg} at column {exc.colno}).") from None
        except ValueError as exc:
            why = "a number too long to read; put it in quotes" if "integer string conversion" in str(exc) else exc
            raise DatasetFormatError(f"Line {n}: not valid JSON ({why}).") from None
        if type(value) is not dict:
            if type(value) is list:
                _check_nested(value, f"Line {n}")
            rows.append(NotAnObject(value, n))
            continue
        _check_depth(value, f"Line {n}")
        if suspect:
            _check_surrogates([value], line, "Line", n)
        rows.append(value)
    if rows and all(type(r) is NotAnObject for r in rows):
        raise DatasetFormatError(f"No line of the file is a JSON object (its lines are {_kinds(r.value for r in rows)}): "
                                 "expected one {\"question\": ..., \"answer\": ...} per line.")
    if repeated is not None and json_keys.may_repeat(text, sum(map(len, rows)), raw):
        record = 0
        for n, line in enumerate(lines, 1):  # each line again, its objects marked: a line is a record
            if line.removeprefix("\ufeff").strip():
                record += 1
                if type(rows[record - 1]) is not NotAnObject:
                    repeated += json_keys.repeats(json_keys.loads(line.removeprefix("\ufeff")), record, n)
    return rows


def _check_depth(row: dict, where: str) -> None:
    for value in row.values():  # the common case, flat text fields, costs one type check per field
        if type(value) is dict or type(value) is list:
            _check_nested(value, where)


def _check_nested(value: object, where: str) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DatasetFormatError(f"{where} is nested more than {MAX_DEPTH} levels deep: flatten it.")
        children = item.values() if isinstance(item, dict) else item
        stack.extend((v, depth + 1) for v in children if isinstance(v, (dict, list)))


def _kinds(values: object) -> str:
    """"strings", "strings and numbers": the kinds among ``values``, in order of first appearance."""
    kinds = list(dict.fromkeys("nulls" if v is None else f"{_kind(v)}s" for v in values))
    return kinds[0] if len(kinds) == 1 else f"{', '.join(kinds[:-1])} and {kinds[-1]}"


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "list", dict: "object"}.get(type(value), type(value).__name__)
