"""Training runs' folders as the models layer reads them: a run is a model the studio can load and list.

A run folder (``STUDIO_HOME/runs/<id>/``) is written by ``studio.train``; its ``run.json`` records how
the model was made (name, base, method, the base's fingerprint, the parameter count) and ``model/``
holds the model. The model library lists runs and refuses to delete a run's base by these records
alone, so they are read here, below training; ``studio.train.runs`` builds its ``RunInfo`` on the same
reads and owns the rest of the folder (metrics, split, checkpoints, training time).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from studio import config, jobs
from studio.errors import StudioError
from studio.models.spec import run_spec

RUN_JSON = "run.json"
MODEL = "model"  # the finished model (or LoRA adapter), save_pretrained's folder


@dataclass(frozen=True)
class RunRecord:
    """A run folder and its ``run.json`` (``meta``)."""

    dir: Path
    meta: dict[str, Any]  # run.json; only {"name", "created"} for a job that died before writing it

    @property
    def id(self) -> str:
        return self.dir.name

    @property
    def name(self) -> str:
        return jobs.without_bidi(self.meta.get("name") or "").strip() or self.dir.name  # a hand-written name too

    @property
    def base(self) -> str:
        return self.meta.get("base", "")

    @property
    def method(self) -> str:
        return method_of(self.meta.get("config"))

    @property
    def has_model(self) -> bool:
        return has_model(self.dir)

    @property
    def model_spec(self) -> str:
        """What ``studio.models.loading.load_causal_lm`` takes to load this run."""
        return str(run_spec(self.id))


def method_of(settings: dict[str, Any] | None) -> str:
    """The training method a run's config names (runs from before LoRA name none: full)."""
    return str((settings or {}).get("method") or "full")


def has_model(folder: Path) -> bool:
    """A saved model: full weights, or a LoRA adapter (loaded with its base)."""
    return any((Path(folder) / MODEL / f).is_file() for f in ("config.json", "adapter_config.json"))


def run_dir(run_id: str) -> Path:
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise StudioError(f"No training run {run_id!r}: pick one from the list.")
    return config.runs_dir(make=False) / run_id  # made by the training's start


_SHAPES: dict[str, type | tuple[type, ...]] = {
    "name": str, "created": str, "base": str, "method": str, "format": str, "device": str, "config": dict,
    "dataset": dict, "parameters": int, "trainable_parameters": int, "truncated": int, "base_as": str}
"""The kinds of value ``run.json`` holds where the studio reads it (``studio.train.runs.start_run``, ``record_base``)."""


def wrong_fields(meta: dict[str, Any]) -> list[str]:
    """The fields of a run's record holding another kind of value than the studio writes (a hand-edited run.json)."""
    return [k for k, kind in _SHAPES.items()
            if meta.get(k) is not None and (not isinstance(meta[k], kind) or isinstance(meta[k], bool))]


def read_run(folder: Path) -> RunRecord:
    """A run from any folder (the CLI's ``--out`` may be outside the workspace). A field of ``run.json`` holding
    another kind of value than the studio writes is read as missing (``damaged`` names it), so one edited field
    does not take the Train, Chat and Evaluate pages down with it."""
    folder = Path(folder)
    try:
        meta = json.loads((folder / RUN_JSON).read_text(encoding="utf-8"))
        if not isinstance(meta, dict):  # a hand-edited run.json that is JSON but not a run's record
            raise ValueError(RUN_JSON)
        meta = {k: v for k, v in meta.items() if k not in wrong_fields(meta)}
    except (OSError, ValueError):
        if not (folder / jobs.STATUS).is_file():
            raise StudioError(f"{folder} is not a training run (no readable run.json): pick another.") from None
        # A job that died before it wrote run.json: still a run, listed (failed, with its reason) and deletable.
        created = datetime.fromtimestamp(folder.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
        status = jobs.read_status(folder)  # a run just started records its name and base there first
        meta = {"name": jobs.title_of(status) or folder.name, "created": created}
        base = status.extra.get("base")
        if isinstance(base, str) and base:
            meta["base"] = base
    return RunRecord(folder, meta)


def no_run(name: str, *, why: str = "it may have been deleted", pick: str = "Pick another.",
           kind: type[StudioError] = StudioError) -> StudioError:
    """The one refusal of a run that is not there (deleted, or a folder that holds none), wherever it is named: the
    pages' words end ``pick``; the command line's (``command_line``, which ``python -m studio`` prints instead) name
    the command that lists the runs, since it has no list to pick from."""
    said = f"No training run {name!r}: {why}. "
    exc = kind(said + pick)
    exc.command_line = said + "`python -m studio runs` lists the runs there are."  # type: ignore[attr-defined]
    return exc


def load_run(run_id: str) -> RunRecord:
    folder = run_dir(run_id)
    if not folder.is_dir():
        raise no_run(run_id)
    return read_run(folder)


def is_run(folder: Path) -> bool:
    return folder.is_dir() and ((folder / RUN_JSON).is_file() or (folder / jobs.STATUS).is_file())


def list_runs() -> list[RunRecord]:
    """Every run in the workspace, newest first: a run whose job died before writing run.json included."""
    out = []
    for folder in config.entries(config.runs_dir(make=False)):
        if is_run(folder):
            try:
                out.append(read_run(folder))
            except StudioError:
                continue
    return sorted(out, key=lambda r: (r.meta.get("created", ""), r.id), reverse=True)


def damaged() -> list[str]:
    """One line per run whose ``run.json`` is damaged: unreadable (the run is listed by its folder's name, as one
    whose job died early, or not at all) or with fields of another kind than the studio writes (read as missing)."""
    lines = []
    for folder in config.entries(config.runs_dir(make=False)):
        file = folder / RUN_JSON
        if not file.is_file():
            continue
        try:
            meta = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            meta = None
        if not isinstance(meta, dict):
            lines.append(f"Run {folder.name}: its {RUN_JSON} is damaged (cut off or edited by hand), so its name, base "
                         "and settings are unknown. Put the file back, or delete the run on the Train page's Runs tab.")
        elif wrong := wrong_fields(meta):
            lines.append(f"Run {folder.name}: {', '.join(wrong)} in its {RUN_JSON} hold{'s' if len(wrong) == 1 else ''} "
                         "values the studio did not write, and are ignored. Put the file back to restore them.")
    return lines


def count_runs() -> int:
    """How many runs there are (cheap: no status reads), for Home."""
    return sum(1 for p in config.entries(config.runs_dir(make=False)) if is_run(p))


def checkpoints(folder: Path) -> list[Path]:
    """A run's checkpoints, oldest first."""
    found = [p for p in (Path(folder) / "checkpoints").glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint (one with its trainer state), if any: what resuming a run goes on from."""
    for ckpt in reversed(checkpoints(folder)):
        if (ckpt / "trainer_state.json").is_file():
            return ckpt
    return None


def _is_model(folder: Path) -> bool:
    """A full model (config.json) or a LoRA adapter (adapter_config.json)."""
    return (folder / "config.json").is_file() or (folder / "adapter_config.json").is_file()


def model_dir(folder: Path) -> Path | None:
    """The folder holding a model: the folder, a LoRA run's ``merged/``, a run's ``model/``, or its newest checkpoint."""
    if _is_model(folder):
        return folder
    from studio.models import adapters

    if adapters.is_complete_model(folder / adapters.MERGED):
        return folder / adapters.MERGED
    if _is_model(folder / "model"):
        return folder / "model"
    for ckpt in reversed(checkpoints(folder)):
        if _is_model(ckpt):
            return ckpt
    return None


def unfinished(run_id: str) -> tuple[str, bool] | None:
    """Where run ``run_id`` is in the workspace but not offered as a model (the library lists finished runs only):
    what is true of it, as a clause after its name, and whether it can answer now (from its newest checkpoint, as
    ``studio.models.loading`` loads it). None where it is not in the workspace, or is finished with its model."""
    try:
        folder = run_dir(run_id)
    except StudioError:
        return None
    if not is_run(folder):
        return None
    status = jobs.read_status(folder)
    if has_model(folder) and not status.active:
        return None
    answers = model_dir(folder)  # what loading answers from: its merged or saved model first, else its newest checkpoint
    ckpt = answers if answers is not None and answers.parent.name == "checkpoints" else None
    if status.active:
        if answers is not None:
            return (f"is still training: it answers from {f'its newest checkpoint ({ckpt.name})' if ckpt else 'its saved model'}, "
                    "and from its final model once it finishes"), True
        return ("is still training, with no checkpoint saved yet: pick it when it finishes, or once it saves its "
                "first checkpoint"), False
    ended = f"did not finish ({status.state})" if status.state not in ("none", "finished") else "has no final model"
    if ckpt is not None:
        return (f"{ended}: it answers from its newest checkpoint ({ckpt.name}); resume it on the Train page to finish "
                "it"), True
    return f"{ended} and no checkpoint: pick another model for the next question in the sidebar", False
