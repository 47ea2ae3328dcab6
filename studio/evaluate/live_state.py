"""A running evaluation's live state: the partial result saved as it goes, and the job status that says how far
it got and how it ended (``STUDIO_HOME/jobs/eval-<id>/status.json``, ``studio.jobs``), the one place a reader
learns that an evaluation is queued or running."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from studio import jobs
from studio.errors import StudioError, WorkspaceFullError
from studio.evaluate import results as eval_results
from studio.evaluate.result import EvalResult
from studio.tasks import ProgressFn


class Saver:
    """Saves the partial result at most once a second (and always when forced), and reports how far it got to the
    evaluation's job status, the one live state (``results.job_dir``), at the same pace."""

    def __init__(self, result: EvalResult, save: Callable[[EvalResult], object] | None, progress: ProgressFn | None,
                 live: Path | None):
        self.result, self._save, self._progress, self._live, self._last = result, save, progress, live, 0.0
        self.done = self.total = 0
        self.refused: str | None = None  # why a save was refused (the workspace's size limit): nothing more is saved
        self.lock = threading.Lock()

    def start(self) -> None:
        """Say it runs, in this process (a job or a claim on the device already made the status: it is kept)."""
        if self._live is None:
            return
        before = jobs.read_status(self._live)
        fields = {"kind": "evaluate", "pid": os.getpid(), "message": "starting"}
        if before.state == "none":  # a run outside a job (the CLI with API models, a script)
            fields.update(uses_device=False, started=time.time(), progress=0.0, error="")
        if before.state != "stopping":  # a stop asked before it began still stops it
            fields["state"] = "running"
        jobs.update_status(self._live, **fields)

    def step(self, done: int, total: int, stage: str, *, force: bool = False) -> None:
        with self.lock:
            self.done, self.total = done, total
            if self._progress:
                self._progress(done, total, stage)
            if force or time.monotonic() - self._last > 1.0:
                self._write(progress=done / total if total else 0.0, message=stage, done=done, total=total)
                self._last = time.monotonic()

    def end(self) -> None:
        """Save the outcome, then end the job's status with it (in that order: a reader never sees the job
        ended and the result without its outcome). An outcome that does not fit the workspace ends it failed, saying
        why, with what was saved before."""
        with self.lock:
            if self._save and self.refused is None:
                self._keep(self.result)
            if self.refused is not None:
                self.result.status, self.result.error = "failed", self.refused
                self._keep_what_was_saved()
            state = self.result.status
            self._status(state=state, error=(self.result.error or "") if state == "failed" else "", message=state,
                         progress=1.0 if state == "finished" else self.done / self.total if self.total else 0.0,
                         done=self.done, total=self.total)

    def _write(self, **status) -> None:
        if self._save and self.refused is None:
            self._keep(self.result)
        self._status(**status)

    def _status(self, **status) -> None:
        if self._live is not None:
            jobs.update_status(self._live, **status)

    def _keep(self, result: EvalResult) -> None:
        """Save ``result``; past the workspace's size limit (a public deployment), stop the evaluation: what it
        answers from here could not be kept."""
        eval_results.refresh_summaries(result)
        try:
            self._save(result)
        except WorkspaceFullError as exc:
            where = f" at {self.done} of {self.total} steps" if self.total else ""
            self.refused = (f"The evaluation stopped{where}: there is no room left to save its result (the answers "
                            f"saved before are kept). {exc}")
            if self._live is not None:
                jobs.request_stop(self._live)

    def _keep_what_was_saved(self) -> None:
        """The result as last saved, with the outcome and its reason: the file that fitted, not the one refused."""
        try:
            kept = eval_results.load(self.result.id)
        except StudioError:
            return
        kept.status, kept.error, kept.finished = self.result.status, self.result.error, self.result.finished
        try:
            self._save(kept)
        except StudioError:
            pass  # not even that fits: the job's status says why
