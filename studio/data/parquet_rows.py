"""Parquet rows, read batch by batch (pyarrow's ``ParquetFile.iter_batches``).

A million-row file is never held as a whole Arrow table and its Python copy at once: each batch
is decoded, turned into plain dicts column by column (several times faster than row by row) and
dropped before the next, so peak memory is the records themselves plus one batch. A file whose
records still do not fit in memory is a one-line ``DatasetFormatError`` naming it, and nothing the
user had is touched (the reader only reads).
"""

from __future__ import annotations

from pathlib import Path

from studio.errors import DatasetFormatError

MAGIC = b"PAR1"
BATCH_ROWS = 65_536  # rows decoded at once: ~10 MB of Arrow for short Q&A text, a few ms of work each


def is_parquet(path: Path) -> bool:
    """A ``.parquet`` name, or a file starting with Parquet's magic bytes."""
    if path.suffix.lower() == ".parquet":
        return True
    try:
        with path.open("rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False


def read_rows(source: Path | bytes, name: str, batch_rows: int | None = None) -> list[dict]:
    """The file's rows as dicts; a null is a field the row does not have, as in the JSON it came from.

    ``source`` is a path (read from disk batch by batch) or the file's bytes (an upload).
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
        try:
            for batch in pf.iter_batches(batch_size=batch_rows or BATCH_ROWS):
                columns = [col.to_pylist() for col in batch.columns]
                if any(col.null_count for col in batch.columns):
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
