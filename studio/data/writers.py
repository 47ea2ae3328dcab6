"""Writing Q&A records: the seed JSON, JSON Lines, CSV, Parquet, and the chat shapes fine-tuning tools read.

``WRITERS[fmt](records)`` gives a file's bytes; ``EXTENSIONS[fmt]`` its file extension. Reading is
``studio.data.formats``; a CSV cell that a spreadsheet would run as a formula is written as text
(``studio.data.csv_cells``).
"""

from __future__ import annotations

import csv
import io
import json
import math

from studio.data import conversations, csv_cells, csv_rows, formats
from studio.data.formats import Record

READABLE_UP_TO = 20_000
"""Up to this many records the JSON is indented for reading by eye; above it, compact (orjson: a
million records in about a second, where indenting takes several times as long)."""


def to_json(records: list[Record]) -> bytes:
    """The seed format: a JSON array, UTF-8, non-ASCII kept as text."""
    if len(records) <= READABLE_UP_TO:
        return (json.dumps(records, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    try:
        import orjson  # UTF-8 bytes straight from the records, 3x Python's encoder on a million of them
    except ImportError:  # the light Community Cloud install leaves it out: Python's encoder below
        orjson = None
    if orjson is not None:
        try:
            return orjson.dumps(records) + b"\n"
        except (orjson.JSONEncodeError, TypeError):  # a value orjson refuses (an integer above 64 bits)
            pass
    # Encoded 10,000 records at a time: the whole text as one str would take up to 4 bytes a character.
    parts = []
    for i in range(0, len(records), 10_000):
        parts.append(json.dumps(records[i:i + 10_000], ensure_ascii=False)[1:-1].encode("utf-8"))
    return b"[" + b",\n".join(parts) + b"]\n"


def to_jsonl(records: list[Record]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def to_csv(records: list[Record]) -> bytes:
    """question, answer, then any extra fields; non-text values are written as JSON."""
    columns = ["question", "answer"] + [f for f in formats.field_names(records) if f not in ("question", "answer")]
    buf = io.StringIO(newline="")
    # RFC 4180's CRLF: the writer quotes every cell holding a character of the line ending, so a cell
    # with a lone \r (which spreadsheets and readers take for a new row) is quoted too.
    writer = csv.writer(buf, lineterminator="\r\n")
    # A field named "=HYPERLINK(...)" is a cell too; one named "" gets a header the import reads back as "" (an empty
    # header named no column, and the import refused the file's values under it), distinct from a field "(no name)".
    writer.writerow([csv_cells.safe_cell(csv_rows.header_of(c)) for c in columns])
    for rec in records:
        writer.writerow([_cell(rec.get(c)) for c in columns])
    return buf.getvalue().encode("utf-8")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return csv_cells.safe_cell(value)
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return json.dumps(value, ensure_ascii=False)


def to_parquet(records: list[Record]) -> bytes:
    """Parquet (zstd), what the Hub stores datasets as; extra fields kept as their own columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = pa.BufferOutputStream()
    pq.write_table(parquet_table(records), buf, compression="zstd")
    return buf.getvalue().to_pybytes()


def parquet_table(records: list[Record]):
    """The records as an Arrow table (question, answer, then every other field any record has, null where
    one lacks it): what a Parquet export and a Hub push write."""
    import pyarrow as pa

    columns = ["question", "answer"] + [f for f in formats.field_names(records) if f not in ("question", "answer")]
    return pa.Table.from_arrays([_parquet_column([r.get(c) for r in records]) for c in columns], names=columns)


def _parquet_column(values: list[object]):
    """One Parquet column; a field Parquet cannot type (a number in one record and text in another, an integer
    above 64 bits, an empty object) becomes text: strings as they are, anything else as its JSON."""
    import pyarrow as pa

    try:
        column = pa.array(values)
        if not _has_empty_struct(column.type):  # Parquet cannot write a struct without fields
            return column
    except (pa.ArrowException, OverflowError, TypeError, ValueError):
        pass
    return pa.array([v if v is None or isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values],
                    pa.string())


def _has_empty_struct(arrow_type) -> bool:
    import pyarrow as pa

    if pa.types.is_struct(arrow_type):
        return arrow_type.num_fields == 0 or any(_has_empty_struct(f.type) for f in arrow_type)
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return _has_empty_struct(arrow_type.value_type)
    return False


def to_messages_jsonl(records: list[Record]) -> bytes:
    return to_jsonl(conversations.to_messages(records))


def to_sharegpt_json(records: list[Record]) -> bytes:
    return to_json(conversations.to_sharegpt(records))


def to_alpaca_json(records: list[Record]) -> bytes:
    return to_json(conversations.to_alpaca(records))


WRITERS = {"json": to_json, "jsonl": to_jsonl, "csv": to_csv, "parquet": to_parquet,
           "messages": to_messages_jsonl, "sharegpt": to_sharegpt_json, "alpaca": to_alpaca_json}
"""Export formats; ``messages``, ``sharegpt`` and ``alpaca`` are the shapes fine-tuning tools read."""
EXTENSIONS = {"json": "json", "jsonl": "jsonl", "csv": "csv", "parquet": "parquet", "messages": "jsonl",
              "sharegpt": "json", "alpaca": "json"}
