"""CSV text (commas, tabs, semicolons or pipes between cells) to raw rows.

``parse_csv(text)`` finds the delimiter (``sniff_delimiter``), reads the header row and the rows under it, and
says which delimiter it used: the Import tab shows it beside the preview. Every problem is a one-line
``DatasetFormatError`` naming the line. Cells a spreadsheet would run as formulas were written with a ``'``
before them by the studio's own export; ``csv_cells.unsafe_cell`` takes exactly those off again.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from collections import Counter

from studio.data import csv_cells
from studio.errors import DatasetFormatError
from studio.tasks import STEP_ROWS, check_stop

# What sits between cells: commas; tabs (TSV); semicolons (spreadsheets where the comma is the decimal mark);
# pipes (database and Markdown-ish exports). Named as the Import tab shows them.
DELIMITERS = {",": "commas", "\t": "tabs", ";": "semicolons", "|": "pipes (|)"}
# A pipe table's lines that hold no record: Markdown's header ruler (|---|:---:|), psql's (-----+-----) and psql's
# closing count ("(3 rows)"). Its cells are padded to line the columns up: the padding is not part of the text.
_RULER_CELL = re.compile(r"\s*:?-+:?\s*")
_PSQL_RULER = re.compile(r"\s*-+(\+-+)+\s*")
_PSQL_COUNT = re.compile(r"\s*\(\d+ rows?\)\s*")
# The header the CSV export gives a field named "" (a column needs a name), read back as "". Its ' is the studio's
# escape, as before a formula character (csv_cells): a user's own column headed "(no name)" is read as that name.
NO_NAME = "'(no name)"
# A field of spaces alone (" ", a tab) is written the same way, its spaces in the brackets ("'( )"): a header " " is
# read as a column with no name (a spreadsheet's trailing comma), as the spaces around any header are taken off.
_ESCAPED = re.compile(r"'+\((?:no name|\s+)\)")  # those headers, and fields spelled as one with more ' before it
SNIFFED_LINES = 50  # rows read to tell the delimiters apart: a header and enough rows to show a pattern


def header_of(field: str) -> str:
    """The CSV header the export writes for ``field`` (before ``csv_cells.safe_cell``): ``NO_NAME`` for the field
    "", ``'( )`` for a field of spaces alone (its own spaces in the brackets), and a field spelled as one of those
    (or with more ' before it) with one more ', so no two fields share a header and ``field_of`` gives each back."""
    if not field:
        return NO_NAME
    if not field.strip():
        return f"'({field})"
    return "'" + field if _ESCAPED.fullmatch(field) else field


def field_of(header: str) -> str:
    """The field a CSV header names (after ``csv_cells.unsafe_cell``): ``header_of`` undone."""
    if header == NO_NAME:
        return ""
    if not _ESCAPED.fullmatch(header):
        return header
    return header[2:-1] if header[1] == "(" else header[1:]


def sniff_delimiter(text: str) -> str:
    """The delimiter among ``DELIMITERS`` that the header line holds and that splits the first rows into as many
    cells as the header has; on a tie, the one giving the header more columns, then the order of ``DELIMITERS``.
    Not ``csv.Sniffer``: it takes any character (a space, a letter) for a delimiter and, on rows whose answers
    hold commas, picks the comma over a pipe the header names; here only the header's candidates are weighed."""
    sample = text[:65536]
    header = sample.lstrip("\r\n").split("\n", 1)[0]
    best, best_score = ",", (-1, 0)
    for sep in DELIMITERS:
        if sep not in header:
            continue
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=sep)
        rows = []
        try:
            for row in reader:
                if sep == "|" and _no_record(row):
                    continue
                if any(c.strip() for c in row):
                    rows.append(len(row))
                if len(rows) > SNIFFED_LINES:
                    break
        except csv.Error:
            continue
        width = rows[0] if rows else 0
        body = rows[1:-1] if len(rows) > 2 and len(sample) < len(text) else rows[1:]  # the sample may cut the last
        fit = sum(n == width for n in body) / len(body) if body else 1.0
        if (fit, width) > best_score:
            best, best_score = sep, (fit, width)
    return best


def _no_record(cells: list[str]) -> bool:
    """A pipe table's ruler or psql's row count: a line of layout, not a record."""
    named = [c for c in cells if c.strip()]
    if not named:
        return False
    if all(_RULER_CELL.fullmatch(c) for c in named):
        return True
    return len(cells) == 1 and bool(_PSQL_RULER.fullmatch(cells[0]) or _PSQL_COUNT.fullmatch(cells[0]))


def _names(header: list[str], pipes: bool) -> list[str]:
    """A header row's column names, each without the spaces around it (a user's "question " is question), except
    where two would then be one: the studio's export of fields " a" and "a" (each its own column) is read back as
    those two, not refused as a column named twice. A pipe table's padding is layout: taken off everywhere."""
    names = [h.strip() for h in header]
    if pipes:
        return names
    seen = Counter(n for n in names if n)
    return [h if seen[n] > 1 else n for h, n in zip(header, names)]


def _record_start(text: str, delimiter: str) -> int:
    """The line on which the record the reader fails on begins (the reader's own line is where it gave up: a quote
    left open on line 3 of 6 was said as "Line 6")."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        while True:
            start = reader.line_num + 1
            next(reader)
    except (StopIteration, csv.Error):
        return start


def parse_csv(text: str, stop: threading.Event | None = None) -> tuple[list[dict], str]:
    """(the rows under the header, the delimiter that separated them). ``stop``: once set, the read ends within
    ``tasks.STEP_ROWS`` rows (``CancelledError``)."""
    delimiter = sniff_delimiter(text)
    # Python's csv refuses a cell over 131,072 characters by default: a long passage the studio's own CSV
    # export writes could not be read back. The file's size is already bounded by the memory left.
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise DatasetFormatError(f"Not a readable CSV header: {exc}.") from None
    pipes = delimiter == "|"
    header = [csv_cells.unsafe_cell(h) for h in _names(header, pipes)]
    named = [h for h in header if h]
    if len(named) < 2:
        first = text.lstrip().split("\n", 1)[0].strip()
        shown = first if len(first) <= 60 else first[:59] + "…"
        raise DatasetFormatError(
            f"Not JSON, JSON Lines or a table: the first line ({shown}) names no two columns separated by commas, "
            "tabs, semicolons or | (a table's header row names its columns, e.g. question,answer).")
    if len(set(named)) != len(named):
        raise DatasetFormatError(f"The CSV header repeats a column name ({', '.join(header)}): make them unique.")
    # Columns without a name (a spreadsheet's trailing commas) are left out while they hold nothing.
    unnamed = [i for i, h in enumerate(header) if not h]
    keys = [field_of(h) for h in header]  # the studio's own export of a field named "" (header_of)
    sep = DELIMITERS[delimiter].split(" ")[0].rstrip("s")  # "comma", "tab", "semicolon", "pipe"
    rows = []
    try:
        for n, values in enumerate(reader):
            if not n % STEP_ROWS:
                check_stop(stop)
            if not any(v.strip() for v in values) or (pipes and _no_record(values)):
                continue
            if pipes:  # padded to line the columns up (Markdown, psql): the padding is layout, not text
                values = [v.strip() for v in values]
            line = reader.line_num
            if len(values) != len(header):
                raise DatasetFormatError(
                    f"Line {line}: {len(values)} values for {len(header)} columns (a stray {sep} or quote?)."
                )
            if unnamed:
                full = next((i for i in unnamed if values[i].strip()), None)
                if full is not None:
                    raise DatasetFormatError(f"Line {line}: column {full + 1} holds a value but has no name in the "
                                             "header: name it there, or remove the column.")
                rows.append({k: csv_cells.unsafe_cell(v) for h, k, v in zip(header, keys, values) if h})
                continue
            rows.append(dict(zip(keys, (csv_cells.unsafe_cell(v) for v in values))))
    except csv.Error as exc:
        if "unexpected end of data" in str(exc):  # a quote never closed: the reader ran on to the file's end
            raise DatasetFormatError(
                f"Line {_record_start(text, delimiter)}: a cell opens a quote (\") that is never closed, so the "
                f"rest of the file reads as that one cell: close it, or write a quote inside a cell as two (\"\")."
            ) from None
        raise DatasetFormatError(f"Line {reader.line_num}: not valid CSV ({exc}).") from None
    return rows, delimiter
