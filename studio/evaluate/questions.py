"""Evaluation questions: a run's held-out split, a dataset version or a file, with the training questions
the leakage check compares them with, and where they came from (for reproducibility)."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from studio.data import store
from studio.errors import DatasetValidationError, StudioError
from studio.models import prompt_format
from studio.models.extractive import MAX_PASSAGE_CHARS, passage_too_long
from studio.models.spec import parse_spec

if TYPE_CHECKING:
    from studio.evaluate.config import EvalConfig


@dataclass
class Questions:
    records: list[dict]  # {"question", "answer"} and "context" when the record has a passage
    dataset: dict  # provenance: source, id, name, version, sha256, count, path, run_id, sample
    train_questions: list[str] = field(default_factory=list)  # what the leakage check compares with
    notes: list[str] = field(default_factory=list)


def read_records_file(file: str | Path, role: str | None = None) -> list[dict]:
    """Q&A records from a dataset file, through the one reader ``dataset import`` and ``train`` use, in its words (the
    questions' file: the same verdict as theirs). A file with a ``role`` is named with it where it cannot be read:
    "The file holds one record ..." did not say it was ``--train``'s file, not ``--dataset``'s."""
    from studio.data import formats
    from studio.errors import DatasetFormatError

    try:
        records, _ = formats.read_file(file)
    except DatasetFormatError as exc:
        if role is None:
            raise
        raise DatasetFormatError(f"{Path(file).name} ({role}): {exc}") from None
    return records


def qa_records(records: list[dict], where: str) -> tuple[list[dict], list[str]]:
    """Keep records with a question and a reference answer; say how many were skipped."""
    keep, notes = [], []
    for n, r in enumerate(records, 1):
        q, a = r.get("question"), r.get("answer", r.get("reference"))
        if isinstance(q, str) and q.strip() and isinstance(a, str) and a.strip():
            keep.append({"question": q.strip(), "answer": a.strip()})
            context = prompt_format.context_of(r)
            if context and len(context) > MAX_PASSAGE_CHARS:
                raise passage_too_long(len(context), f"The passage of record {n} in {where}")
            if context:
                keep[-1]["context"] = context
    if not records:
        raise DatasetValidationError(f"{where} has no records: choose questions that exist.")
    if not keep:
        raise DatasetValidationError(
            f"{where} has no reference answers: evaluation compares answers with them. Add an \"answer\" to each record."
        )
    if len(keep) < len(records):
        notes.append(f"{len(records) - len(keep)} of {len(records)} records without a question or answer were skipped.")
    return keep, notes


def _split_questions(items: list, base: list[dict]) -> list[dict]:
    """A run's split: record indices into its dataset version, or the records themselves."""
    out = []
    for item in items:
        if isinstance(item, int) and 0 <= item < len(base):
            out.append(base[item])
        elif isinstance(item, dict):
            out.append(item)
    return out


def load_questions(config: EvalConfig) -> Questions:
    notes: list[str] = []
    train: list[str] = []
    if config.run_id:
        from studio.train import runs

        try:
            run = runs.load_run(config.run_id)
        except StudioError:
            raise
        except (OSError, ValueError, KeyError):
            raise StudioError(f"Run {config.run_id!r} cannot be read: its files may have been deleted. Pick another.") from None
        ds = run.dataset_ref
        base: list[dict] = []
        if ds.id:
            try:
                base = store.load_version(ds.id, ds.version)
            except StudioError:
                base = []
        elif ds.file:  # a run trained on a file (train --dataset FILE): its split indexes that file's records
            try:
                base, now = ds.load()
            except StudioError:
                base = []
            else:
                if ds.sha256 and now.sha256 != ds.sha256:
                    raise DatasetValidationError(
                        f"Run {config.run_id!r} was trained on {ds.file}, which has changed since: its held-out "
                        "questions cannot be found again. Evaluate on a dataset instead.")
        split = run.split or {}
        test = _split_questions(list(split.get("test") or []), base)
        if not test:
            why = (f"Run {config.run_id!r} has no held-out questions (its test split is empty or its dataset was "
                   "deleted): ")
            exc = DatasetValidationError(why + "pick a dataset instead.")
            exc.command_line = why + "evaluate on a dataset instead (--dataset NAME or FILE)."  # type: ignore[attr-defined]
            raise exc
        train = [r.get("question", "") for r in _split_questions(list(split.get("train") or []), base)]
        records, more = qa_records(test, f"The held-out split of run {config.run_id!r}")
        dataset = {"source": "run", "run_id": config.run_id, "id": ds.id, "name": ds.name or None, "version": ds.version,
                   "sha256": ds.sha256}
    elif config.dataset_id:
        info = store.get_dataset(config.dataset_id)
        raw = store.load_version(config.dataset_id, config.dataset_version)
        version = config.dataset_version or (info.latest.version if info.latest else None)
        meta = next((v for v in info.versions if v.version == version), None)
        records, more = qa_records(raw, f"Dataset {info.name!r} v{version}")
        dataset = {"source": "dataset", "id": info.id, "name": info.name, "version": version,
                   "sha256": meta.sha256 if meta else None}
    else:
        raw = read_records_file(config.dataset_file)
        records, more = qa_records(raw, str(config.dataset_file))
        digest = hashlib.sha256(Path(config.dataset_file).expanduser().read_bytes()).hexdigest()
        dataset = {"source": "file", "path": str(Path(config.dataset_file).expanduser().resolve()),
                   "name": Path(config.dataset_file).name, "sha256": digest}
    notes += more
    dataset["count"] = len(records)
    if config.sample and config.sample < len(records):
        picked = sorted(random.Random(config.seed).sample(range(len(records)), config.sample))
        records = [records[i] for i in picked]
        dataset["sample"] = config.sample
    elif config.sample and config.sample > len(records):  # not a silent "sample" of every question
        notes.append(f"A sample of {config.sample:,} was asked for, and there are {len(records):,} questions: every one "
                     "is evaluated.")
    train += _extra_training_questions(config)
    # each once: two runs of one split (or --train naming the run's own data) listed them twice, and the note's count
    # ("checked against 28 training questions") passed the dataset's size
    return Questions(records, dataset, list(dict.fromkeys(t for t in train if t)), notes)


def _extra_training_questions(config: EvalConfig) -> list[str]:
    out: list[str] = []
    if config.train_dataset_id:
        out += [str(r.get("question", "")) for r in store.load_version(config.train_dataset_id, config.train_dataset_version)]
    if config.train_file:
        out += [str(r.get("question", "")) for r in read_records_file(config.train_file, "the training questions")]
    for spec in config.models:  # every fine-tuned run involved: its training questions
        parsed = parse_spec(spec)
        if parsed.kind == "run" and parsed.name != config.run_id:
            out += _run_train_questions(parsed.name)
        elif parsed.local and parsed.kind != "run" and (Path(spec).expanduser() / "run.json").is_file():
            out += _run_train_questions(spec, folder=Path(spec).expanduser())
    return out


def _run_train_questions(run_id: str, folder: Path | None = None) -> list[str]:
    from studio.train import runs

    try:
        run = runs.load_run_dir(folder) if folder else runs.load_run(run_id)
        ref = run.dataset_ref
        base = []
        if ref.id:
            base = store.load_version(ref.id, ref.version)
        elif ref.file:  # a run trained on a file (train --dataset FILE): its split indexes that file's records
            base, now = ref.load()
            if ref.sha256 and now.sha256 != ref.sha256:
                base = []  # changed since: its indices point at other records
    except (StudioError, OSError, ValueError, KeyError, TypeError):
        return []  # a deleted run fails as a model cell, with its reason; leakage just has less to compare
    return [r.get("question", "") for r in _split_questions(list((run.split or {}).get("train") or []), base)]
