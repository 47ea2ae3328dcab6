"""``python -m studio dedup FILE --threshold T ...``: find duplicate records, write a JSON report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from studio import atomic, dedup, formats
from studio.errors import DatasetFormatError, StudioError

METHODS = ("fuzzy",)  # more methods register here (semantic)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dedup", help="find duplicate and near-duplicate records in a Q&A JSON file",
                       description="Find exact and near-duplicate records; write clusters of record indices.")
    p.add_argument("file", help="a JSON array, JSON Lines or CSV file of question/answer records")
    p.add_argument("--threshold", required=True, help="score from 0 to 100 a pair must reach (try 90)")
    p.add_argument("--scorer", default="ratio", help=f"rapidfuzz scorer: {', '.join(dedup.SCORERS)}")
    p.add_argument("--field", default="question", help="question, answer or both")
    p.add_argument("--method", default="fuzzy", help=f"how to compare: {', '.join(METHODS)}")
    p.add_argument("--report", required=True, help="where to write the JSON report")
    p.add_argument("--out", help="also write the records with each cluster's suggested record kept")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.method not in METHODS:
        raise StudioError(f"Unknown method {args.method!r}: choose one of {', '.join(METHODS)}.")
    config = dedup.DedupConfig(threshold=dedup.check_threshold(args.threshold), scorer=args.scorer, field=args.field)
    records = _read(args.file)
    texts = dedup.field_texts(records, config.field)
    empty = sum(1 for t in texts if not dedup.normalize(t))
    started = time.perf_counter()
    found = dedup.dedup_records(records, config)
    seconds = time.perf_counter() - started
    report = {
        "clusters": [list(c.members) for c in found],
        "scores": [[[p.i, p.j, round(p.score, 2)] for p in c.pairs] for c in found],
        "keep": [c.keep for c in found],
        "kinds": [c.kind for c in found],
        "method": args.method, "scorer": config.scorer, "threshold": config.threshold, "field": config.field,
        "records": len(records), "empty_texts": empty, "seconds": round(seconds, 3),
    }
    _write(args.report, report)
    dropped = {m for c in found for m in c.members if m != c.keep}
    if args.out:
        _write(args.out, [r for i, r in enumerate(records) if i not in dropped])
    note = f"; {empty} records with an empty {config.field} were left out" if empty else ""
    print(f"{len(found)} clusters, {sum(len(c.members) for c in found)} records in them, "
          f"{len(records) - len(dropped)} of {len(records)} kept with the suggestions ({seconds:.2f} s){note}",
          file=sys.stderr)
    return 0


def _read(path: str) -> list[dict]:
    """Records from a JSON, JSON Lines or CSV file (fields mapped as the Import tab guesses them)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise DatasetFormatError(f"No file {path}: check the path.") from None
    except OSError as exc:
        raise DatasetFormatError(f"Cannot read {path} ({exc.strerror}): check the path.") from None
    try:
        return formats.read_records(data, Path(path).name)
    except DatasetFormatError as exc:
        raise DatasetFormatError(f"{path}: {exc}") from None


def _write(path: str, data: object) -> None:
    try:
        atomic.write_bytes(Path(path), (json.dumps(data, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
    except OSError as exc:
        raise StudioError(f"Cannot write {path} ({exc.strerror}): choose a writable path.") from None
