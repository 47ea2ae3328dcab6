"""Training runs on disk: one folder per run under ``STUDIO_HOME/runs/<id>/``.

::

    run.json         written as the run starts (``start_run``): {"id", "name", "created", "config": TrainConfig
                     as a dict, "base", "method", "dataset": DatasetRef as a dict, "device", "python"}; once its
                     base has loaded (``record_base``), also {"base_fingerprint", "parameters",
                     "trainable_parameters", "format", "truncated"} and, on a LoRA base, "base_as" ("adapter"
                     or "merged": ``studio.models.adapters.BASE_AS``). A resume leaves it as it is.
    split.json       {"train": [...], "test": [...]}: 0-based record indices into the dataset version
    metrics.jsonl    one JSON object per log step: step, epoch, loss | eval_loss, learning_rate,
                     tokens_per_s, time (unix), elapsed_s
    status.json      the job's state (studio.jobs)
    log.txt          the worker's output
    time.json        {"seconds", "sessions"}: training time summed over the first start and every resume
    checkpoints/checkpoint-<step>/   Trainer checkpoints, resumable
    model/           the final model and tokenizer (save_pretrained)

``studio.models.loading.resolve("run:<id>")`` loads ``model/``, or the newest checkpoint of an unfinished run.
Finding and reading run folders (``run.json``, ``model/``) is ``studio.models.run_folders``, below training,
where the model library reads them too; ``RunInfo`` here is built on those reads.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from studio import atomic, config, jobs
from studio.data.file_memo import FileMemo
from studio.data.ref import DatasetRef
from studio.errors import StudioError
from studio.models import run_folders, text
from studio.models.adapters import BASE_AS
from studio.models.run_folders import RUN_JSON, checkpoints, last_checkpoint, run_dir  # noqa: F401 (used as runs.run_dir, runs.last_checkpoint)
from studio.train.config import TrainConfig

SPLIT_JSON = "split.json"
METRICS = "metrics.jsonl"
TIME_JSON = "time.json"

_CONFIG_DEFAULTS = {k: v for k, v in asdict(TrainConfig()).items() if k != "base"}  # what a setting was before it existed


@dataclass(frozen=True)
class RunInfo:
    id: str
    name: str
    dir: Path
    created: str
    config: dict[str, Any]  # TrainConfig as a dict
    dataset: dict[str, Any]  # {"id", "name", "version", "sha256", "count"}
    base: str
    format: str
    device: str
    status: jobs.JobStatus

    @property
    def split(self) -> dict[str, list[int]]:
        """The record indices it trained on and held out; both empty when ``split.json`` is missing or damaged
        (the pages then offer no held-out split, and a resume refuses it in one line: ``studio.train.resumable``)."""
        return read_split(self.dir) or {"train": [], "test": []}

    @property
    def has_model(self) -> bool:
        """A saved model: full weights, or a LoRA adapter (loaded with its base)."""
        return run_folders.has_model(self.dir)

    @property
    def method(self) -> str:
        return run_folders.method_of(self.config)

    @property
    def dataset_ref(self) -> DatasetRef:
        """Where the run's records came from, typed; ``.load()`` reads them again."""
        return DatasetRef.from_dict(self.dataset)

    @property
    def model_spec(self) -> str:
        """What ``studio.models.loading.load_causal_lm`` takes to load this run."""
        from studio.models.spec import run_spec

        return str(run_spec(self.id))

    def checkpoints(self) -> list[Path]:
        return checkpoints(self.dir)

    def metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.dir)


def read_split(folder: Path) -> dict[str, list[int]] | None:
    """A run folder's ``split.json``; None when it is missing, unreadable or not lists of record indices."""
    try:
        split = json.loads((Path(folder) / SPLIT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(split, dict) or not all(
            isinstance(split.get(k), list) and all(type(i) is int for i in split[k]) for k in ("train", "test")):
        return None
    return split


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def slug(name: str) -> str:
    """A run name as a folder name can hold it (``studio.models.text.slug``): "Ünïcødé run" -> "unicode-run"; a name
    of another script ("Обучение") or of symbols alone ("🚀") gets a short hash of itself; "run" for none."""
    return text.slug(name, limit=32) or "run"


def new_run_id(name: str = "run") -> str:
    """A sortable, unique folder name: ``20261122-031500-<slug>``."""
    slug_ = slug(name)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_id, n = f"{stamp}-{slug_}", 1
    while (config.runs_dir(make=False) / run_id).exists():
        n += 1
        run_id = f"{stamp}-{slug_}-{n}"
    return run_id


NAME_SHOWN = 40  # characters of a run's name a picker shows: with " · run 20261205-064729" it reads whole at 800 px


def picker_name(name: str, run_id: str, limit: int = NAME_SHOWN) -> str:
    """A run as a picker names it, short enough to read whole in an 800 px window and still tell runs apart:
    "soccer-lora · run 20261205-064729" (the id's time; its tail, the name's slug again, left out), a name longer than
    ``limit`` cut in its middle, keeping its start and its distinguishing end ("soccer-rules-lo…chs-on-the-sample-faq-v2").
    ("soccer-rules-lora-rank-16-three-epochs-on-the-sample-faq-v2 · run 20261205-064729-soccer-rules-lora-rank-16-three"
    was cut at its right edge in the Run box, the part that told two such runs apart.)"""
    stamp, tail = run_id[:15], run_id[16:]
    shown_id = run_id
    if len(run_id) > 16 and run_id[15] == "-" and stamp[:8].isdigit() and stamp[9:].isdigit():
        own = slug(name)
        if tail == own or (own.startswith(tail + "-")):  # the name's slug, or its start (the dataset's name a run
            shown_id = stamp  # was made under, "soccer-rules-sample", before the base joined it in its name)
        elif tail.startswith(own + "-") and tail[len(own) + 1:].isdigit():  # a second run of that name that second
            shown_id = f"{stamp} ({tail[len(own) + 1:]})"
    if len(name) > limit:
        head = (limit - 1) * 2 // 5
        name = f"{name[:head].rstrip()}…{name[len(name) - (limit - 1 - head):].lstrip()}"
    return f"{name} · run {shown_id}"


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    """The rows of ``metrics.jsonl``; a half-written last line is skipped."""
    rows = []
    try:
        with open(Path(folder) / METRICS, encoding="utf-8") as fh:
            for line in fh:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict):  # a line edited into a list or a number is no row
                    rows.append(row)
    except OSError:
        return []
    return rows


def rewind_metrics(folder: Path, checkpoint: Path) -> int:
    """Drop the metrics rows logged after ``checkpoint`` (a resume replays those steps, and the curve
    would double back); returns how many were dropped."""
    try:
        step = int(json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0
    rows = read_metrics(folder)
    kept = [r for r in rows if not isinstance(r.get("step"), (int, float)) or r["step"] <= step]
    if len(kept) != len(rows):
        atomic.write_text(Path(folder) / METRICS, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))
    return len(rows) - len(kept)


def append_metrics(folder: Path, row: dict[str, Any]) -> None:
    with open(Path(folder) / METRICS, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def add_training_time(folder: Path, seconds: float) -> tuple[float, int]:
    """Add one session's training time (a start or a resume, however it ended); returns the run's
    (total seconds, sessions)."""
    total, sessions = training_time(folder)
    total, sessions = total + max(0.0, seconds), sessions + 1
    atomic.write_json(Path(folder) / TIME_JSON, {**_time_data(folder), "seconds": total, "sessions": sessions})
    return total, sessions


def add_step_time(folder: Path, seconds: float) -> float:
    """Add one session's time in training steps (not its evaluations, saves or the base's load);
    returns the run's total across resumes: what its average tokens/s is over."""
    data = _time_data(folder)
    try:
        total = float(data.get("step_seconds", 0.0)) + max(0.0, seconds)
    except (TypeError, ValueError):
        total = max(0.0, seconds)
    atomic.write_json(Path(folder) / TIME_JSON, {**data, "step_seconds": total})
    return total


def step_time(folder: Path) -> float:
    """The run's seconds in training steps across resumes (``add_step_time``); 0.0 before a session ended."""
    try:
        return float(_time_data(folder).get("step_seconds", 0.0))
    except (TypeError, ValueError):
        return 0.0


def _time_data(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((Path(folder) / TIME_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def training_time(folder: Path) -> tuple[float, int]:
    """(seconds, sessions) of training so far over every start and resume; (0, 0) before the first ends."""
    data = _time_data(folder)
    try:
        return float(data["seconds"]), int(data["sessions"])
    except (ValueError, KeyError, TypeError):
        return 0.0, 0


STOPPED_EARLY = "stopped before step 1"


def trained_nothing(run: RunInfo) -> bool:
    """Stopped before its first step: no checkpoint and no model, so nothing resumes and its time was the base's load."""
    return run.status.state == "stopped" and last_checkpoint(run.dir) is None and not run.has_model


def state_text(run: RunInfo) -> str:
    """The run's state as lists show it: ``stopped before step 1`` where it trained nothing (a bare "stopped" beside
    a training time read as a run to resume, and there is nothing to resume), else the job's state."""
    return STOPPED_EARLY if trained_nothing(run) else run.status.state


def fmt_duration(seconds: float) -> str:
    """``15m02s``, ``1h05m``, ``42s``."""
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def time_note(folder: Path) -> str:
    """``902 s in all (resumed once)`` (the total across resumes), ``713 s``, or "" before any session ended."""
    total, sessions = training_time(folder)
    if not sessions:
        return ""
    resumed = sessions - 1
    return f"{total:.0f} s" + (f" in all (resumed {'once' if resumed == 1 else f'{resumed} times'})" if resumed else "")


def write_run(folder: Path, meta: dict[str, Any]) -> None:
    atomic.write_json(Path(folder) / RUN_JSON, meta)


def start_run(folder: Path, cfg: TrainConfig, *, name: str | None, dataset: DatasetRef | dict[str, Any] | None,
              device: str) -> None:
    """Write ``run.json`` as a new run starts, before its base loads: a run that fails there is still
    listed, by its name and settings, with its reason."""
    if isinstance(dataset, DatasetRef):
        dataset_meta = dataset.to_dict()
    else:
        dataset_meta = {k: (dataset or {}).get(k) for k in ("id", "name", "version", "sha256", "count", "file")}
    folder = Path(folder)
    write_run(folder, {"id": folder.name, "name": name or folder.name, "created": now_iso(), "config": cfg.to_dict(),
                       "base": cfg.base, "method": cfg.method, "dataset": dataset_meta, "device": device,
                       "python": platform.python_version(), **({"launch": launch} if (launch := this_launch()) else {})})


def this_launch() -> str | None:
    """Which ``accelerate launch`` of several processes this process is one of (its processes on one machine share the
    launcher's pid and port), else None: each of them writes the new run's ``run.json``."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) < 2:
        return None
    return f"{os.getppid()}:{os.environ.get('MASTER_PORT', '')}"


def holds_another_run(folder: Path) -> bool:
    """Whether ``folder`` holds a run a new one must not write over: any run, but the one another process of this
    launch has just started (the processes of a launch start one run together; which writes ``run.json`` first is
    chance, and the others refused it: the launch failed)."""
    file = Path(folder) / RUN_JSON
    if not file.exists():
        return False
    launch = this_launch()
    if launch is None:
        return True
    try:
        return json.loads(file.read_text(encoding="utf-8")).get("launch") != launch
    except (OSError, ValueError, AttributeError):
        return True


def record_base(folder: Path, *, fingerprint: str | None, trainable: int, parameters: int, format: str,
                truncated: int, base_as: str | None = None) -> None:
    """Add to ``run.json`` what loading the base and encoding the records found (the one update after
    ``start_run``): the base folder's fingerprint, the parameter counts, the prompt format, the records cut, and
    for a LoRA base how it was taken (``adapters.BASE_AS``: its adapter, or its merged weights)."""
    meta = json.loads((Path(folder) / RUN_JSON).read_text(encoding="utf-8"))
    meta.update(base_fingerprint=fingerprint, trainable_parameters=trainable, parameters=parameters, format=format,
                truncated=truncated)
    if base_as:
        meta[BASE_AS] = base_as
    write_run(folder, meta)


def write_split(folder: Path, split: dict[str, list[int]]) -> None:
    atomic.write_json(Path(folder) / SPLIT_JSON, {"train": list(split["train"]), "test": list(split["test"])}, indent=None)


def load_run_dir(folder: Path) -> RunInfo:
    """A run from any folder (the CLI's ``--out`` may be outside the workspace)."""
    return _info(run_folders.read_run(folder))


def _info(record: run_folders.RunRecord) -> RunInfo:
    meta = record.meta
    return RunInfo(
        id=record.id, name=record.name, dir=record.dir, created=meta.get("created", ""),
        config=meta.get("config") or {}, dataset=meta.get("dataset") or {}, base=record.base,
        format=meta.get("format", ""), device=meta.get("device", ""), status=jobs.read_status(record.dir),
    )


def load_run(run_id: str) -> RunInfo:
    return _info(run_folders.load_run(run_id))


def list_runs() -> list[RunInfo]:
    """Every run in the workspace, newest first: a run whose job died before writing run.json included."""
    return [_info(r) for r in run_folders.list_runs()]


def damaged() -> list[str]:
    """One line per run with a damaged record: its ``run.json`` (``run_folders.damaged``) or its ``split.json``."""
    lines = run_folders.damaged()
    for folder in config.entries(config.runs_dir(make=False)):
        if _split_damaged(folder):
            lines.append(f"Run {folder.name}: its {SPLIT_JSON} (which records it trained on and held out) is damaged, "
                         "so it offers no held-out split and cannot be resumed. Put the file back to restore them.")
    return lines


def _split_unreadable(file: Path) -> bool:
    return read_split(file.parent) is None


_split_checked = FileMemo(_split_unreadable)  # split.json -> damaged: Home asks on every run


def _split_damaged(folder: Path) -> bool:
    """Whether the run's ``split.json`` exists and is damaged; read once while it stays as it is (a large dataset's
    split is a long list, and Home asks on every run)."""
    return bool(_split_checked.get(folder / SPLIT_JSON))


def newest_runs(n: int) -> list[RunInfo]:
    """The ``n`` newest runs, newest first by their stored start (``created``, UTC), for Home: only the newest folders
    are read (twice ``n``: folders are named by the local start time, which a clock change or another time zone puts
    out of order), so the order always matches the start times shown."""
    read: list[RunInfo] = []
    for folder in sorted((p for p in config.entries(config.runs_dir(make=False)) if run_folders.is_run(p)), reverse=True):
        if len(read) == 2 * n:
            break
        try:
            read.append(load_run_dir(folder))
        except StudioError:
            continue  # ``damaged`` names it
    return sorted(read, key=lambda r: (r.created, r.dir.name), reverse=True)[:n]


def count_runs() -> int:
    """How many runs the Runs tab lists (cheap: no status reads), for Home."""
    return run_folders.count_runs()


MAX_NAME = 100  # characters of a run's display name (the Runs table, the pickers)


CONTINUED = " (continued)"


def default_name(dataset_name: str, base: str) -> str:
    """A run's name when none is typed: its dataset and its base as the tables name it ("My FAQ · SmolLM2 · bundled
    (135M-Instruct, Q4_1 copy)"), not the base's spec ("model:smollm2-135m-instruct"). A run trained from an earlier run names
    that run, its dataset said once: "My FAQ · SmolLM2-135M-Instruct (continued)", not "My FAQ · My FAQ · ..."."""
    from studio.models.library import display_name
    from studio.models.spec import parse_spec

    shown = display_name(base)
    try:
        from_run = parse_spec(base).kind == "run" and shown != base.strip()  # a run found: its name
    except StudioError:
        from_run = False
    if not from_run:
        return f"{dataset_name} · {shown}"
    prefix = f"{dataset_name} · "
    rest = shown[len(prefix):] if shown.startswith(prefix) and len(shown) > len(prefix) else shown
    return f"{dataset_name} · {rest}" + ("" if rest.endswith(CONTINUED) else CONTINUED)


def check_name(name: str) -> str:
    """A name typed for a run, stripped; ``StudioError`` when it is too long (a new run, a rename)."""
    name = (name or "").strip()
    if len(name) > MAX_NAME:
        raise StudioError(f"That name is too long ({len(name):,} characters): use at most {MAX_NAME}.")
    if any(unicodedata.category(c) == "Cc" for c in name):  # a tab or a line break split `runs`' listing
        raise StudioError("A run name is one line: leave out tabs, line breaks and other control characters.")
    if any(c in jobs.BIDI_CONTROLS for c in name):
        raise StudioError(f"A run name {jobs.BIDI_REFUSED}")
    return name


def rename_run(run_id: str, new_name: str) -> RunInfo:
    name = check_name(new_name)
    if not name:
        raise StudioError("A run needs a name: type one and try again.")
    folder = load_run(run_id).dir
    try:
        meta = json.loads((folder / RUN_JSON).read_text(encoding="utf-8"))
    except FileNotFoundError:  # its job died before writing one: the name is all there is to keep
        meta = {}
    except (ValueError, OSError):
        meta = None
    if not isinstance(meta, dict):  # rewriting it would lose what is left of the run's record
        raise StudioError(f"Run {run_id}'s {RUN_JSON} is damaged (not a JSON object): it cannot be renamed; put the "
                          "file back, or delete the run.")
    meta["name"] = name
    write_run(folder, meta)
    return load_run(run_id)


def runs_based_on(run: RunInfo) -> list[str]:
    """The names of the other runs trained from ``run`` (an earlier run continued: their base is ``run:<its id>``)."""
    return [r.name for r in list_runs() if r.id != run.id and (r.base or "").strip() == run.model_spec]


def delete_run(run_id: str, in_use: list[str] | None = None) -> Path:
    """Move a run to ``STUDIO_HOME/trash`` (refused while its job runs, a GGUF export of it does, another run was
    trained from it, or the evaluations ``in_use`` (ids, ``studio.evaluate.results.evaluations_using``) answer with
    it). Returns where it went."""
    from studio.models import library

    run = load_run(run_id)
    if run.status.active:
        raise StudioError(f"Run {run.name!r} is still training: stop it before deleting it.")
    exporting = library.exports_of_run(run_id)
    if exporting:  # its model would vanish under the export, which would fail halfway
        raise StudioError(f"Run {run.name!r} is being exported as GGUF ({', '.join(exporting[:3])}): stop that export "
                          "in the Export panel on the Train page, or wait for it to finish, then delete the run.")
    if in_use:  # its model would vanish under the evaluation, failing every question it has left
        raise StudioError(f"Run {run.name!r} is being evaluated (evaluation {', '.join(in_use[:3])}): stop that "
                          "evaluation on the Evaluate page, or wait for it to finish, then delete the run.")
    children = runs_based_on(run)
    if children:  # they load it to resume, to answer (a LoRA adapter) or to continue: each would fail at once
        raise StudioError(f"Run {run.name!r} is the base of {len(children)} training run(s) ({', '.join(children[:3])}):"
                          " delete those runs first, or keep this one.")
    trash = config.home() / "trash"
    trash.mkdir(exist_ok=True)
    with jobs.no_start_meanwhile():  # a Resume in another tab, pressed since the look above, started its job on it
        if jobs.read_status(run.dir).active:
            raise StudioError(f"Run {run.name!r} is still training: stop it before deleting it.")
        return atomic.move_into_trash(trash, run.dir, f"run-{run_id}")


def checkpoint_bytes(folder: Path) -> int:
    """The disk the run's checkpoints take (kept for resuming; a finished run no longer needs them)."""
    root = Path(folder) / "checkpoints"
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) if root.is_dir() else 0


def drop_checkpoints(run_id: str) -> int:
    """Delete a finished run's checkpoints (its model/ stays; it can no longer be resumed, nor needs to be).
    Refused for a run that is training, stopped or failed: its checkpoint is how it resumes. Returns bytes freed."""
    run = load_run(run_id)
    if run.status.state != "finished" or not run.has_model:
        raise StudioError(f"Run {run.name!r} is {run.status.state}, not finished: its checkpoint is how it resumes, "
                          "so it is kept.")
    freed = checkpoint_bytes(run.dir)
    shutil.rmtree(run.dir / "checkpoints", ignore_errors=True)
    return freed


def distinct_labels(runs: list[RunInfo]) -> list[str]:
    """The runs' names, or their ids where names repeat (two runs of the same dataset and base share the default
    name): one label per run, for a legend or a column, so no run hides another."""
    names = [r.name for r in runs]
    return names if len(set(names)) == len(names) else [r.id for r in runs]


def compare_configs(runs: list[RunInfo]) -> list[dict[str, Any]]:
    """Rows ``{"setting", <run name>: value, ...}`` for every setting that differs between the runs.

    Base and dataset version are compared too; columns are the runs' names (ids when names repeat).
    """
    labels = distinct_labels(runs)
    flat = []
    for r in runs:
        # A setting added since a run was made is shown with the default it trained with, not as a difference
        values = {"base": r.base, "dataset": DatasetRef.from_dict(r.dataset).label, **_CONFIG_DEFAULTS}
        values.update({k: v for k, v in r.config.items() if k != "base"})
        flat.append(values)
    keys = sorted({k for f in flat for k in f}, key=lambda k: (k not in ("base", "dataset"), k))
    rows = []
    for key in keys:
        vals = [f.get(key) for f in flat]
        if len({json.dumps(v, sort_keys=True, default=str) for v in vals}) > 1:
            rows.append({"setting": key, **{label: v for label, v in zip(labels, vals)}})
    return rows
