"""Parquet rows, read batch by batch (pyarrow's ``ParquetFile.iter_batches``).

A million-row file is never held as a whole Arrow table and its Python copy at once: each batch
is decoded, turned into plain dicts column by column (several times faster than row by row) and
dropped before the next, so peak memory is the records themselves plus one batch. Batches are sized
in bytes, not rows (a first small batch measures the rows), and before each one the records still to
come are checked against the memory this process can still have: a file whose records do not fit is
a one-line ``DatasetFormatError`` naming it, said before the memory runs out. That check matters
because Arrow's C++ reader does not always raise ``MemoryError`` when an allocation fails: under an
address-space limit it can abort the whole process (``std::bad_alloc``). Nothing the user had is
touched (the reader only reads).
"""

from __future__ import annotations

import base64
import datetime
import math
import threading
from pathlib import Path

from studio.errors import DatasetFormatError
from studio.tasks import check_stop

MAGIC = b"PAR1"
BATCH_ROWS = 65_536  # rows decoded at once at most: ~10 MB of Arrow for short Q&A text, a few ms of work each
BATCH_BYTES = 32 * 2**20  # Arrow bytes decoded at once at most (long passages get fewer rows a batch)
PROBE_ROWS = 64  # the first batch, read to learn how large a row is
ROW_OVERHEAD = 240  # bytes of Python a row costs beside its text: the dict and its keys' slots
VALUE_OVERHEAD = 56  # bytes of Python a string costs beside its characters


def is_parquet(path: Path) -> bool:
    """A ``.parquet`` name, or a file starting with Parquet's magic bytes."""
    if path.suffix.lower() == ".parquet":
        return True
    try:
        with path.open("rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


def read_rows(source: Path | bytes, name: str, batch_rows: int | None = None,
              stop: threading.Event | None = None) -> list[dict]:
    """The file's rows as dicts; a null is a field the row does not have, as in the JSON it came from.

    ``source`` is a path (read from disk batch by batch) or the file's bytes (an upload). ``stop``: once set, the
    read ends before its next batch (``CancelledError``).
    Raises a one-line ``DatasetFormatError``: unreadable, no text column, or too large for memory.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows: list[dict] = []
    try:
        try:
            pf = pq.ParquetFile(str(source) if isinstance(source, Path) else pa.BufferReader(source))
            schema = pf.schema_arrow
        except MemoryError:
            raise
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DatasetFormatError(f"Not a readable Parquet file ({_first_line(exc)}): export it again.") from None
        if not any(pa.types.is_string(f.type) or pa.types.is_large_string(f.type) for f in schema):
            cols = ", ".join(f"{f.name} ({f.type})" for f in schema) or "none"
            raise DatasetFormatError(f"The Parquet file has no text column (columns: {cols}): it needs a question "
                                     "and an answer as text.")
        names = schema.names
        twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if twice is not None:  # a row as a dict keeps one of them: the other column's values were lost
            raise DatasetFormatError(f"The Parquet file has two columns named {twice!r} (columns: "
                                     f"{', '.join(names)}): rename one and export it again.")
        total = pf.metadata.num_rows
        try:
            row_bytes = _row_bytes(pf, len(names))
            size = batch_rows or max(1, min(BATCH_ROWS, BATCH_BYTES // max(1, row_bytes)))
            for batch in pf.iter_batches(batch_size=size):
                check_stop(stop)
                _check_room(total - len(rows), row_bytes)  # before this batch's Python copy is made
                plain = [_plain(col.type) for col in batch.columns]
                columns = [col.to_pylist() if p else [json_value(v) for v in col.to_pylist()]
                           for col, p in zip(batch.columns, plain)]
                if not all(plain) or any(col.null_count for col in batch.columns):  # NaN became null too
                    rows.extend({k: v for k, v in zip(names, values) if v is not None} for values in zip(*columns))
                else:
                    rows.extend(dict(zip(names, values)) for values in zip(*columns))
                del batch, columns
        except MemoryError:
            raise
        except (pa.ArrowException, OSError, ValueError) as exc:  # a cut or corrupted data page
            raise DatasetFormatError(f"Not a readable Parquet file (after row {len(rows):,}: {_first_line(exc)}): "
                                     "export it again.") from None
        return rows
    except MemoryError:  # pyarrow's ArrowMemoryError is one too
        got = len(rows)
        rows.clear()  # give the memory back before saying so
        total = _row_count(source)
        raise DatasetFormatError(
            f"{name} does not fit in memory (it stopped after {got:,} of {total} rows): split it into smaller "
            "files and import them one at a time, or import it on a machine with more memory.") from None


def _plain(arrow_type) -> bool:
    """Text, whole numbers, booleans: values JSON holds as they are (most Q&A columns)."""
    import pyarrow as pa

    t = pa.types
    return (t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_integer(arrow_type)
            or t.is_boolean(arrow_type) or t.is_null(arrow_type))


def json_value(value: object) -> object:
    """A Parquet or ``datasets`` value as a JSON value, so every record can be written as JSON (the seed
    format, a workspace version) and read back: bytes become their UTF-8 text (base64 when they are not
    text), dates and times ISO 8601 text, decimals their exact text, NaN and infinities null."""
    if value is None or type(value) in (str, int, bool):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(raw).decode("ascii")
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return str(value)  # Decimal (exact), and whatever else a column may hold


def _row_bytes(pf, n_columns: int) -> int:
    """Bytes one decoded row costs as Python records, measured on the file's first few rows."""
    try:
        first = next(pf.iter_batches(batch_size=PROBE_ROWS), None)
    except StopIteration:
        first = None
    if first is None or first.num_rows == 0:
        return ROW_OVERHEAD
    return first.nbytes // first.num_rows + ROW_OVERHEAD + n_columns * VALUE_OVERHEAD


def _check_room(rows_left: int, row_bytes: int) -> None:
    """MemoryError, before allocating, when the rows still to read cannot fit in what this process may still use."""
    room = memory_left()
    if room is not None and rows_left * row_bytes > room:
        raise MemoryError


def memory_left() -> int | None:
    """Bytes this process can still allocate: the smaller of the machine's available memory and what its
    address-space limit leaves; None where neither can be read (then a real MemoryError is the guard)."""
    limits = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                limits.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # Windows: the machine's memory is the only limit
        return min(limits) if limits else None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            used = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
            limits.append(max(0, soft - used))
        except (OSError, ValueError, IndexError):
            pass
    return min(limits) if limits else None


def _row_count(source: Path | bytes) -> str:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq

        return f"{pq.ParquetFile(str(source) if isinstance(source, Path) else pa.BufferReader(source)).metadata.num_rows:,}"
    except Exception:  # only for the message: a second failure must not hide the first
        return "its"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]
