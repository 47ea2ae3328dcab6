"""Reading and writing Q&A files: JSON arrays, JSON Lines and CSV, with a field mapping.

Reading happens in two steps so the UI can show a preview and let the user choose fields:
``parse(data, filename)`` turns bytes into raw rows (plain dicts, as they are in the file), then
``apply_mapping(rows, mapping)`` turns rows into records in the seed format
(``{"question", "answer", "context"?, ...extra fields}``). ``guess_mapping(fields)`` proposes a mapping for
the common instruction formats (Alpaca instruction/input/output, prompt/response, Question/Answer in any
case, a ``context`` column). Chat records and SQuAD-style rows are flattened to such rows first
(``studio.data.conversations``, ``studio.data.squad``). JSON and JSON Lines text becomes rows in
``studio.data.json_rows``, CSV in ``studio.data.csv_rows``, Parquet in ``studio.data.parquet_rows``. Every problem is a ``DatasetFormatError``
with a one-line message naming the line or record.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from studio.data import conversations, csv_rows, json_keys, json_rows, squad, validate
from studio.errors import DatasetFormatError

Record = dict[str, object]

FORMATS = ("json", "jsonl", "csv", "parquet")
PARQUET_MAGIC = b"PAR1"

QUESTION_NAMES = ("question", "instruction", "prompt", "query", "q", "input_text", "user")
ANSWER_NAMES = ("answer", "output", "response", "completion", "a", "target", "assistant")
CONTEXT_NAMES = ("input", "context")  # the passage a question is about: Alpaca's optional input, SQuAD's context


@dataclass(frozen=True)
class Parsed:
    format: str  # "json", "jsonl", "csv" or "parquet"
    rows: list[dict]  # the file's records as they are, before mapping (chat records already flattened)
    fields: list[str]  # every field name seen, in order of first appearance
    chat: str | None = None  # "messages" or "sharegpt" when the records were conversations
    squad: str | None = None  # "squad" (the Hub's flat rows) or "squad-nested" (the original JSON file)
    warnings: tuple[validate.Problem, ...] = ()  # found while reading: a key a record gives twice (the last kept)
    encoding_note: str = ""  # set when the text was not UTF-8 and was read as Windows-1252: the page says so
    delimiter: str = ""  # a CSV's: ",", "\t", ";" or "|" (csv_rows.DELIMITERS), found in the file; the page says it
    source_note: str = ""  # how a Hub dataset was read when not from the Hub (its local cache): the page says so


@dataclass(frozen=True)
class FieldMap:
    question: str  # field holding the question (Alpaca: "instruction")
    answer: str  # field holding the answer (Alpaca: "output")
    context: str | None = None  # optional field that becomes the record's ``context``, the passage (Alpaca: "input")

    @classmethod
    def from_pairs(cls, pairs: list[str], fields: list[str] | None = None) -> FieldMap:
        """Build a mapping from CLI ``question=FIELD`` strings, guessing whatever is not given."""
        given: dict[str, str] = {}
        for pair in pairs:
            target, sep, source = pair.partition("=")
            target = target.strip().lower()
            if not sep or target not in ("question", "answer", "context", "input") or not source.strip():
                raise DatasetFormatError(f"Bad --map {pair!r}: use question=FIELD, answer=FIELD or context=FIELD.")
            given["context" if target == "input" else target] = source.strip()
        guess = guess_mapping(fields or [])
        question = given.get("question") or (guess.question if guess else None)
        answer = given.get("answer") or (guess.answer if guess else None)
        if not question or not answer:
            names = [f.lower() for f in fields or []]
            has_q = question or any(n in QUESTION_NAMES for n in names)
            missing = "answer" if has_q else "question"
            listed = ", ".join(fields or []) or "none"
            raise DatasetFormatError(
                f"No {missing} field found (fields: {listed}): every record needs a question and an answer "
                f"(the reference evaluation compares with). If it has another name, map it with --map {missing}=FIELD "
                "in `python -m studio dataset import FILE --out qa.json` (then train or evaluate on qa.json), or on the "
                "Dataset page's Import tab."
            )
        context = given.get("context", guess.context if guess and "question" not in given else None)
        return cls(question=question, answer=answer, context=context)


RESAVE = ("re-save the file as UTF-8 (Excel: Save As, \"CSV UTF-8\"; a text editor: save with the encoding "
          "UTF-8)")


class NotUtf8Error(DatasetFormatError):
    """Text that is not UTF-8, read without ``legacy``. ``how`` says how to read it as Windows-1252: by default
    where a reader that cannot be asked to (Train, Evaluate, Duplicates, ``dataset export``) sends people; a command
    that takes ``--encoding`` itself says so (``for_command``)."""

    def __init__(self, line: int, how: str = "import it on the Dataset page or with dataset import --encoding "
                                             "windows-1252"):
        self.line = line
        super().__init__(f"Not UTF-8 text (line {line}): {RESAVE}; or, for Windows-1252 text (Excel's plain CSV on "
                         f"Windows), {how}.")

    def for_command(self, command: str) -> NotUtf8Error:
        """The same refusal for ``command`` (``dataset create NAME --from FILE``), which reads Windows-1252 itself."""
        return NotUtf8Error(self.line, f"run {command} again with --encoding windows-1252")


def _cp1252_bytes(exc: UnicodeError) -> tuple[str, int]:
    """A codec error handler: the bytes UTF-8 could not decode, read as Windows-1252 (UnicodeDecodeError where
    Windows-1252 has no character for one)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start:exc.end].decode("cp1252"), exc.end


_CP1252_BYTES = "studio-cp1252-bytes"
codecs.register_error(_CP1252_BYTES, _cp1252_bytes)


def decode(data: bytes, legacy: bool = False) -> tuple[str, str]:
    """Bytes to (text, a note on how it was read): UTF-8 (with or without BOM) or UTF-16 (with a BOM, or without one
    as charset-normalizer recognises it), with no note;
    a clear error otherwise. ``legacy``: text that is not UTF-8 is read as Windows-1252 (Excel's plain "CSV" on
    Windows; Latin-1 with the euro and curly quotes) where it is not UTF-8, and the note says so, with the first line that was not
    UTF-8 as it reads now, to check: never a silent guess. Bytes Windows-1252 does not have are still refused."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), ""
        except UnicodeDecodeError:
            raise DatasetFormatError("The file starts like UTF-16 but is not: re-save it as UTF-8.") from None
    sample = data[:8192]
    if b"\x00" in sample:
        # UTF-16 has a NUL in every other byte of Latin text (UTF-32 in three of four), and CJK UTF-16 is not UTF-8: a
        # few NULs in what reads as UTF-8 are NUL characters in UTF-8 text (one in a CSV's cell had the file read as
        # UTF-16, and refused for a first line "畱獥楴湯愬..." of no columns)
        if sample.count(b"\x00") * 10 < len(sample):
            try:
                return data.decode("utf-8-sig"), ""
            except UnicodeDecodeError:
                pass
        return _utf16_without_bom(data), ""
    try:
        return data.decode("utf-8-sig"), ""
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        end = data.find(b"\n", exc.start)
        raw_line = data[start: end if end >= 0 else len(data)].rstrip(b"\r")
    if legacy:
        try:
            # UTF-8 where it is UTF-8, Windows-1252 for the bytes that are not: a UTF-8 file with one pasted
            # Windows-1252 byte keeps its UTF-8 accents (read whole as Windows-1252, "é" became "Ã©")
            text = data.decode("utf-8-sig", errors=_CP1252_BYTES)
        except UnicodeDecodeError:
            pass  # not Windows-1252 either (a byte it does not have): refused as before
        else:
            shown = raw_line.decode("utf-8", errors=_CP1252_BYTES)
            shown = shown if len(shown) <= 80 else shown[:79] + "…"
            return text, (f"Not UTF-8 text: read as Windows-1252 (what Excel's plain CSV is on Windows). Check its "
                          f"accents (line {line} reads: {shown}); if they look wrong, {RESAVE} and "
                          "import it again.")
    if legacy:
        raise DatasetFormatError(f"Neither UTF-8 nor Windows-1252 text (line {line}): {RESAVE}.")
    raise NotUtf8Error(line)


def _utf16_without_bom(data: bytes) -> str:
    """A file with NUL bytes near its start: UTF-16 without a byte order mark (Notepad's and Excel's "Unicode
    text" saved by other tools; PowerShell's Out-File) when charset-normalizer, which requests already installs,
    reads it as such; else it is refused as binary. charset-normalizer weighs the bytes' patterns against each
    encoding, which also finds UTF-16 whose text is mostly non-Latin (no NUL in every other byte), where a rule of
    our own counting NULs would not; only the UTF-16 and UTF-32 answers are taken, the encodings NUL bytes mean in
    a text file."""
    binary = DatasetFormatError("This looks like a binary file, not text: upload a JSON, JSON Lines or CSV file.")
    try:
        import charset_normalizer
    except ImportError:  # not installed: the refusal stands
        raise binary from None
    # A sample (a 1 GB file is not read twice) of whole 4-byte units, short of the end: a file cut in the middle of a
    # character is still recognised, and its damage named below.
    best = charset_normalizer.from_bytes(data[:min(len(data) - 2, 65536) & ~3]).best()
    encoding = best.encoding if best else ""
    if not encoding.startswith(("utf_16", "utf_32")):
        raise binary
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        name = encoding.replace("_", "-").upper()
        raise DatasetFormatError(f"The file reads as {name} text without a byte order mark, but byte {exc.start:,} "
                                 "is not: re-save it as UTF-8.") from None


_JSON_START = re.compile(r'\s*(\[\s*[{\]]|\{\s*")')


def detect_format(text: str, filename: str | None = None) -> str:
    """``json``, ``jsonl`` or ``csv``, from the file name's extension, else from the content (also for a ``.csv``
    that opens as a JSON list of records or a JSON object does: ``[{``, ``{"``, no CSV header's start)."""
    name = (filename or "").lower()
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith((".csv", ".tsv")) and not _JSON_START.match(text):  # a JSON file saved as .csv is read as JSON
        return "csv"
    head = text.lstrip()[:1]
    if head == "[":
        return "json"
    if head == "{":
        first = text.lstrip().split("\n", 1)
        if len(first) == 2 and first[1].strip():
            try:  # one whole object on the first line, more after it: JSON Lines
                json.loads(first[0])
                return "jsonl"
            except ValueError:
                pass
        return "json"
    if name.endswith(".json"):
        return "json"
    return "csv"


def _csv_header(text: str) -> str:
    """The first line of ``text`` when it reads as a CSV header row over data rows (two or more short names, a
    second line with as many cells), else ""."""
    lines = text.lstrip().splitlines()[:2]
    if len(lines) < 2:
        return ""
    for sep in ",;\t":
        try:
            head, row = list(csv.reader(lines, delimiter=sep))
        except (csv.Error, ValueError):
            continue
        names = [c.strip() for c in head]
        if len(names) >= 2 and all(0 < len(c) <= 40 for c in names) and len(row) >= len(names):
            return lines[0][:80]
    return ""


def parse(data: bytes | str, filename: str | None = None, fmt: str | None = None, turns: str = "first",
          legacy: bool = False, stop: threading.Event | None = None) -> Parsed:
    """Read a whole file into raw rows. Raises ``DatasetFormatError`` naming the line or record. ``legacy``: text
    that is not UTF-8 is read as Windows-1252, said in ``Parsed.encoding_note`` (``decode``). ``stop``: once set, a
    Parquet, CSV or JSON Lines read ends between its batches or rows (``CancelledError``).

    Chat records (``messages``, ShareGPT ``conversations``) become question/answer rows
    (``studio.data.conversations``): their first exchange, or every exchange with ``turns="every"``.
    """
    repeated: list[json_keys.Repeat] = []  # keys a record gives twice (JSON, JSON Lines)
    note = delimiter = ""
    if isinstance(data, bytes):
        _refuse_archive(data)
        if not data:  # an empty .parquet: "Not a readable Parquet file (Parquet file size is 0 bytes)"
            raise DatasetFormatError(_no_text(""))
    if isinstance(data, bytes) and (data[:4] == PARQUET_MAGIC or fmt == "parquet"
                                    or (filename or "").lower().endswith(".parquet")):
        fmt, rows = "parquet", _parse_parquet(data, filename, stop)
    else:
        text, note = decode(data, legacy) if isinstance(data, bytes) else (data, "")
        if not text.strip():
            raise DatasetFormatError(_no_text(text))
        fmt = fmt or detect_format(text, filename)
        if fmt not in FORMATS:
            raise DatasetFormatError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
        if fmt == "csv":
            rows, delimiter = csv_rows.parse_csv(text, stop)
        elif fmt == "json" and text.lstrip()[:1] not in "[{" and _csv_header(text):
            # json only said "Expecting value" at line 1, column 1: true, and no help
            raise DatasetFormatError(f"Not JSON: this looks like CSV with a header row ({_csv_header(text)}); "
                                     "rename the file to .csv and import it again.")
        else:
            utf8 = (data if isinstance(data, bytes) and not note
                    and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else None)
            rows = (json_rows.parse_jsonl(text, repeated, utf8, stop) if fmt == "jsonl"
                    else json_rows.parse_json(text, repeated, utf8))
    _some_rows(rows)
    parsed = parse_rows(rows, fmt, turns)
    if repeated:
        parsed = dataclasses.replace(parsed, warnings=tuple(validate.Problem(r.record, "warning", r.message())
                                                            for r in repeated))
    if note:
        parsed = dataclasses.replace(parsed, encoding_note=note)
    if delimiter:
        parsed = dataclasses.replace(parsed, delimiter=delimiter)
    return parsed


ARCHIVES = {  # a compressed file's first bytes: what it is and what to do
    b"PK\x03\x04": "The file is a zip archive (an Excel .xlsx workbook is one too), not JSON, JSON Lines, CSV or "
                    "Parquet: unzip it and import the file inside (from Excel, save the sheet as CSV first).",
    b"\x1f\x8b": "The file is gzip-compressed: decompress it (gunzip) and import the file inside.",
    b"7z\xbc\xaf": "The file is a 7-Zip archive: unpack it and import the file inside."}


def _refuse_archive(data: bytes) -> None:
    """A compressed file under a data file's name (a .zip renamed .json): said as such, with what to do. It was "looks
    like a binary file", or, renamed .parquet, pyarrow's "magic bytes not found in footer"."""
    for magic, why in ARCHIVES.items():
        if data.startswith(magic):
            raise DatasetFormatError(why)


def _some_rows(rows: list[dict]) -> list[dict]:
    """``rows``, or a file with none refused as a file (upload and path alike: a Parquet file of no rows read "The
    dataset holds no records" from a path, the wording of a datasets folder or a Hub split, and "The file" uploaded)."""
    if not rows:
        raise DatasetFormatError("The file holds no records: it needs at least one question and answer.")
    return rows


def _no_text(text: str) -> str:
    """Why a file with no text in it is refused, as a person sees the file: "empty" of a 3-byte file read wrong."""
    if not text:  # nothing, or a byte order mark alone (decoding takes it off)
        return "The file is empty (a byte order mark at most): it needs at least one question and answer."
    return "The file is empty but for spaces and line breaks: it needs at least one question and answer."


def parse_rows(rows: list[dict], fmt: str, turns: str = "first") -> Parsed:
    """Rows (a file's, a datasets folder's, the Hub's) with chat records flattened to questions and answers."""
    if not rows:
        raise DatasetFormatError("The dataset holds no records: it needs at least one question and answer.")
    chat = conversations.kind(rows)
    shape = None if chat else squad.kind(rows)
    if chat:
        rows = conversations.to_records(rows, chat, turns)
    elif shape:
        rows = squad.to_records(rows, shape)
        if not rows:
            raise DatasetFormatError("The SQuAD file holds no questions (every paragraph's qas list is empty).")
        if not any("answer" in r for r in rows):  # not a field to map: every question is unanswerable
            raise DatasetFormatError(f"None of the {len(rows):,} questions in this SQuAD file has an answer (all "
                                     "unanswerable, as in SQuAD v2): nothing to train on or evaluate against.")
    fields = field_names(rows)
    if not fields:  # the Import tab asked to choose the question's and answer's fields from lists with none in them
        raise DatasetFormatError(f"None of the {len(rows):,} records holds a field (each is {{}}, or not an object): "
                                 "there is no question or answer to import. Fill them in, or import another file.")
    return Parsed(format=fmt, rows=rows, fields=fields, chat=chat, squad=shape)


def _parse_parquet(data: bytes, filename: str | None = None, stop: threading.Event | None = None) -> list[dict]:
    """A Parquet file's rows (pyarrow, the Hub's own format), batch by batch; one line when it cannot be read."""
    from studio.data import parquet_rows

    return parquet_rows.read_rows(data, filename or "The Parquet file", stop=stop)


def field_names(rows: list[dict]) -> list[str]:
    """The rows' keys in first-seen order (at most about 200: a Q&A table has a few)."""
    seen: dict[str, None] = {}
    for keys in dict.fromkeys(tuple(row) for row in rows):  # distinct key orders, usually one
        seen.update(dict.fromkeys(keys))
        if len(seen) >= 200:  # a file with thousands of distinct keys is not a Q&A table
            break
    return list(seen)


def guess_mapping(fields: list[str]) -> FieldMap | None:
    """The likely question/answer fields (any case), or None when there is no clear pair."""
    lower = {f.lower(): f for f in reversed(fields)}
    question = next((lower[n] for n in QUESTION_NAMES if n in lower), None)
    answer = next((lower[n] for n in ANSWER_NAMES if n in lower), None)
    if question is None or answer is None or question == answer:
        return None
    names = CONTEXT_NAMES if question.lower() == "instruction" else ("context",)  # "input" is Alpaca's only
    context = next((lower[n] for n in names if n in lower), None)
    return FieldMap(question=question, answer=answer, context=context)


def _no_context(value: object) -> bool:
    """A null, empty or blank passage is no passage: the record is left without a ``context``."""
    return value is None or (type(value) is str and not value.strip())


def apply_mapping(rows: list[dict], mapping: FieldMap) -> list[Record]:
    """Rows to records: mapped fields become ``question``/``answer``/``context``, other fields are kept.

    A missing field stays missing, so validation can name the record; nothing is invented. A null or
    blank context (Alpaca's ``"input": ""``, an empty CSV cell) is left out rather than kept empty.
    """
    used = {mapping.question, mapping.answer, mapping.context} - {None}
    targets = ("question", "answer", "context") if mapping.context else ("question", "answer")
    if mapping.question == "question" and mapping.answer == "answer" and mapping.context in (None, "context"):
        if mapping.context is None:
            return list(rows)  # the seed format already: the fast path, no copy per record
        return [{k: v for k, v in row.items() if k != "context"} if _no_context(row.get("context", 0)) else row
                for row in rows]
    out: list[Record] = []
    for row in rows:
        if type(row) is not dict:  # a record that was not an object in its file: kept, for validation to name
            out.append(row)
            continue
        rec: Record = {}
        if mapping.question in row:
            rec["question"] = row[mapping.question]
        if mapping.answer in row:
            rec["answer"] = row[mapping.answer]
        if mapping.context and not _no_context(row.get(mapping.context)):
            rec["context"] = row[mapping.context]
        for key, value in row.items():
            if key not in used and key not in targets:
                rec[key] = value
        out.append(rec)
    return out


def read_records(data: bytes | str, filename: str | None = None, mapping: FieldMap | None = None) -> list[Record]:
    """Parse a file and map it to records in one call (the guessed mapping when none is given)."""
    parsed = parse(data, filename)
    mapping = mapping or guess_mapping(parsed.fields)
    if mapping is None:
        raise DatasetFormatError(
            f"No question/answer fields found (fields: {', '.join(parsed.fields[:20])}): choose the mapping."
        )
    return apply_mapping(parsed.rows, mapping)


def read_file(path: str | Path, pairs: Sequence[str] = (), remedy: str | None = None, *, legacy: bool = False,
              notes: list[str] | None = None) -> tuple[list[Record], list[validate.Problem]]:
    """The one dataset-file reader (``dataset import``, ``train`` and ``evaluate`` all use it): read,
    parse, map (``pairs`` like ``["question=prompt"]``, else guessed) and validate strictly.

    Returns the records and the validation warnings; raises a one-line ``DatasetFormatError`` or
    ``DatasetValidationError`` naming the fix: ``remedy``, else fixing the file or writing its valid records
    to a file of their own with ``dataset import --skip-invalid`` (``skip_invalid_first``). ``legacy``: a text file
    that is not UTF-8 is read as Windows-1252, said in a line added to ``notes`` (``decode``).
    """
    records, read = _read_mapped(path, pairs, legacy=legacy, notes=notes)
    return records, validate.merged(validate.ensure_valid(records, remedy=remedy or skip_invalid_first(path)), read)


def skip_invalid_first(path: str | Path) -> str:
    """What a command without ``--skip-invalid`` (train, evaluate, export, push) offers for a file with invalid
    records: fix it, or keep the valid ones in a file of their own first, with the exact command."""
    import shlex

    src = Path(path)
    valid = src.with_name(f"{src.stem}-valid.json")
    return (f"fix it, or write only the valid records to a file with python -m studio dataset import "
            f"{shlex.quote(str(src))} --out {shlex.quote(str(valid))} --skip-invalid and use that file")


def read_file_skipping(path: str | Path, pairs: Sequence[str] = (), *, legacy: bool = False,
                       notes: list[str] | None = None
                       ) -> tuple[list[Record], list[validate.Problem], list[validate.Problem]]:
    """``read_file`` that leaves invalid records out: (valid records, warnings, the skipped records'
    errors). Refuses a file none of whose records is valid."""
    records, read = _read_mapped(path, pairs, legacy=legacy, notes=notes)
    kept, skipped, warns = validate.split_valid(records)
    warns = validate.merged(warns, read)
    if not kept:
        raise validate.DatasetValidationError(
            f"None of the {len(records):,} records is valid ({skipped[0] if skipped else 'no records'}): fix the file.")
    return kept, warns, skipped


def read_mapped(path: str | Path, pairs: Sequence[str] = ()) -> list[Record]:
    """``read_file`` without the checks, except that a record that was not an object is refused: it has no fields
    to keep, and written back it would be an empty record, what the file held there lost."""
    records = _read_mapped(path, pairs)[0]
    for n, rec in enumerate(records, 1):
        if type(rec) is validate.NotAnObject:
            raise DatasetFormatError(f"record {n}: {rec.reason()}. Leave such records out first: python -m studio "
                                     "dataset import FILE --out qa.json --skip-invalid")
    return records


def check_file(path: str | Path, pairs: Sequence[str] = (), *, legacy: bool = False,
               notes: list[str] | None = None) -> tuple[list[Record], validate.Checked]:
    """``read_file`` that refuses nothing: the records and every problem (``dataset validate`` lists them),
    the reading's own warnings (a key given twice) among them."""
    records, read = _read_mapped(path, pairs, legacy=legacy, notes=notes)
    return records, validate.check(records).adding(read)


def _read_mapped(path: str | Path, pairs: Sequence[str], turns: str = "first", *, legacy: bool = False,
                 notes: list[str] | None = None) -> tuple[list[Record], tuple[validate.Problem, ...]]:
    """Any source (``read_source``), mapped (``pairs``, else guessed), and the warnings found reading it (the
    encoding note of a text read as Windows-1252, and the line saying a Hub dataset came from the local cache, go
    to ``notes``)."""
    parsed = read_source(path, turns, legacy=legacy)
    if notes is not None:
        notes += [n for n in (parsed.source_note, parsed.encoding_note) if n]
    mapping = FieldMap.from_pairs(list(pairs), parsed.fields)
    missing = [f for f in (mapping.question, mapping.answer) if f not in parsed.fields]
    if missing:
        raise DatasetFormatError(f"No field {missing[0]!r} in the file (fields: {', '.join(parsed.fields)}).")
    return apply_mapping(parsed.rows, mapping), parsed.warnings


def read_source(path: str | Path, turns: str = "first", legacy: bool = False,
                stop: threading.Event | None = None) -> Parsed:
    """Any source, unmapped: a file, a ``datasets`` ``save_to_disk`` folder (``FOLDER@SPLIT`` picks a
    split of a DatasetDict) or ``hub:OWNER/NAME[:CONFIG][@SPLIT]``. The CLI and the Import tab's path
    (``legacy``: a text file that is not UTF-8 is read as Windows-1252 and says so, as ``parse``; ``stop``: the
    Import tab's, once set a file's read ends between its batches or rows, as ``parse``)."""
    from studio.data import hf_sources, parquet_rows

    src = str(path)
    if src.startswith(hf_sources.HUB_PREFIX):
        said: list[str] = []
        parsed = parse_rows(hf_sources.read_hub(src, notes=said), "hub", turns)
        parsed = dataclasses.replace(parsed, source_note=" ".join(said))
    else:
        path, split = Path(src).expanduser(), ""
        if "@" in path.name and not path.exists():  # FOLDER@SPLIT; a file named "a@b.json" is that file
            folder, _, split = src.rpartition("@")
            path = Path(folder).expanduser()
        if not path.exists():
            raise DatasetFormatError(f"No file at {path}: check the path.")
        if path.is_dir():
            if not hf_sources.is_saved_dataset(path):
                raise DatasetFormatError(f"{path} is a folder but not a saved datasets folder: give the path of a "
                                         "JSON, JSON Lines, CSV or Parquet file, or of a save_to_disk folder.")
            parsed = parse_rows(hf_sources.read_saved(path, split or None), "datasets", turns)
        elif split:
            raise DatasetFormatError(f"{path} is a file: @{split} picks a split of a datasets folder only. Leave "
                                     f"@{split} out.")
        elif not path.is_file():  # a device or a pipe: /dev/zero never ends, a FIFO waits for a writer
            raise DatasetFormatError(f"{path} is not a regular file (a device, pipe or socket): give a JSON, "
                                     "JSON Lines, CSV or Parquet file.")
        elif parquet_rows.is_parquet(path):  # from disk batch by batch, never the whole file's bytes first
            with path.open("rb") as f:
                head = f.read(8)
            _refuse_archive(head)  # what the bytes the Import tab is given are told (``parse``)
            if not head:
                raise DatasetFormatError(_no_text(""))
            parsed = parse_rows(_some_rows(parquet_rows.read_rows(path, path.name, stop=stop)), "parquet", turns)
        else:
            parsed = parse(_read_text_file(path), path.name, turns=turns, legacy=legacy, stop=stop)
    return parsed


TEXT_MEMORY = 3
"""Bytes of memory a JSON, JSON Lines or CSV file needs per byte at the very least while it is read: its
bytes, their decoded text and the records made from it (a short-record file takes several times more)."""


def _read_text_file(path: Path) -> bytes:
    """A text file's bytes; refused in one line when it cannot fit in the memory left, before reading."""
    from studio.data import parquet_rows

    try:
        size = path.stat().st_size
        room = parquet_rows.memory_left()
        if room is not None and size * TEXT_MEMORY > room:
            raise DatasetFormatError(
                f"{path.name} ({size / 2**20:,.0f} MB) does not fit in the memory left ({room / 2**20:,.0f} MB "
                "free): split it into smaller files and import them one at a time, or import it on a machine with more "
                "memory.")
        return path.read_bytes()
    except MemoryError:
        raise DatasetFormatError(f"{path.name} does not fit in memory: split it into smaller files and import them "
                                 "one at a time.") from None
    except OSError as exc:
        raise DatasetFormatError(f"Cannot read {path}: {exc.strerror}.") from None
