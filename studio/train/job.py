"""Training as a background job: the engine starts ``python -m studio train`` in its own process.

The page calls ``start_training`` (as Evaluate calls ``studio.evaluate.job.start_evaluation``);
the job writes the run folder's ``status.json`` and ``metrics.jsonl``, which the page reads back.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from studio import jobs
from studio.data.ref import DatasetRef
from studio.errors import StudioError, TrainingError
from studio.train import runs
from studio.train.config import TrainConfig


def start_training(cfg: TrainConfig, dataset: DatasetRef, name: str = "", *, gpus: int = 1,
                   sharding: str = "none") -> str:
    """Start training ``cfg`` on ``dataset`` (a file, or a workspace dataset's id and version) as a
    background job; returns the new run's id. ``gpus`` > 1 runs one process per GPU through accelerate,
    ``sharding`` as ``studio.train.launch`` offers. Raises ``JobBusyError`` and other ``StudioError``s
    with their one-line reasons before anything runs."""
    from studio.train import launch

    if dataset.count is not None and dataset.count < 2:  # the page disables Start; refused here too
        raise TrainingError(f"{dataset.name or 'The dataset'} has {dataset.count} record"
                            f"{'' if dataset.count == 1 else 's'}: training needs at least two Q&A records.")
    name = runs.check_name(name)  # before anything runs, like every other refusal here
    prefix = launch.launcher(gpus, sharding)
    run_id = runs.new_run_id(name or dataset.name or "run")
    folder = runs.run_dir(run_id)
    title = name or runs.default_name(dataset.name or "run", cfg.base)
    argv = ["train", "--dataset", dataset.source, "--out", str(folder),
            "--name", title, "--config-json", json.dumps(cfg.to_dict())]
    if dataset.version is not None:
        argv += ["--dataset-version", str(dataset.version)]
    try:
        # the base in the status from the start: until the worker writes run.json its model is not deleted under it
        jobs.start_job("train", argv, folder, launcher=prefix, record={"base": cfg.base, jobs.TITLE: title})
    except StudioError:
        if folder.is_dir() and not (folder / "run.json").exists():
            shutil.rmtree(folder, ignore_errors=True)  # a refused start leaves no empty run behind
        raise
    return run_id


def resume_training(run_dir: Path, name: str = "") -> jobs.JobStatus:
    """Continue a stopped or failed run from its last checkpoint, with its own settings; returns its new status.
    ``name``: the run's name as the page showed it (a refusal names it when the run is gone)."""
    try:
        title = runs.load_run_dir(run_dir).name  # how the busy message names it to others
    except (StudioError, OSError, ValueError):
        title = name
    # deleted in another tab or session since it was shown: an empty run folder was made, and a job that failed
    return jobs.start_job("train", ["train", "--resume", "--out", str(run_dir)], run_dir,
                          record={jobs.TITLE: title, **_resumed_at(run_dir)},
                          gone=f"Run {title or Path(run_dir).name!r} was deleted (in another tab or session): nothing "
                               "was resumed. Pick another run, or start a new one.")


def _resumed_at(run_dir: Path) -> dict:
    """Where a resumed run goes on from, for its status until its first new step (the model reloads for a minute and
    more): ``resumed_progress`` (its last checkpoint's share of the run; the status's own progress starts at 0) and a
    message naming the step. Empty when the checkpoint's state cannot be read (the worker then says why)."""
    ckpt = runs.last_checkpoint(run_dir)
    try:
        state = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8")) if ckpt else {}
        step, total = int(state["global_step"]), int(state["max_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return {"resumed_progress": min(1.0, step / max(1, total)), "message": f"loading the model to go on from step {step}"}
