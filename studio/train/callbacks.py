"""What the training loop reports while it runs: metrics.jsonl rows, the job's status, the stop file.

Kept off the step's path: the status file is written atomically (a temporary file, fsync, rename: ~10 ms
on a busy disk), which the callback used to do in the training thread twice a second, stalling the step
that did it (and, on a GPU, leaving the device idle meanwhile). Here the training thread hands the newest
fields to a ``StatusWriter`` and goes on; the writer's own thread writes them, at most every half second,
at once for a state change (stopping). ``bench/step_overhead.py`` measures what the studio adds per step
over a bare Trainer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio import jobs
from studio.models import hf_import
from studio.train import eta, runs


class StopBeforeFirstStep(Exception):
    """Stop was asked for before this session's first step began (while the base loaded, or the Trainer set up):
    raised from the callback so that no step runs (one can take minutes on a CPU); the loop ends the run as stopped,
    its checkpoint (a resumed run's) left as it was."""


class AllStepsDone(Exception):
    """A resumed run's checkpoint is already at its last step (a run stopped at its end before Stop on the last step
    let it finish): raised before the Trainer's loop, which trained one step past the end before it looked; the loop
    finishes the run with the checkpoint's model."""


CURVE_POINTS = 10
"""Loss rows a run should give at least: a 3-step run logging every 10 steps drew its first step alone."""


def logging_interval(every: int, total_steps: int) -> int:
    """Steps between two loss rows: ``every`` (the run's logging_steps), or less in a run too short to give
    ``CURVE_POINTS`` rows at that interval (every step in a run of under 20 steps). Never more than ``every``: a long
    run logs as often as asked, no more (each row is a loss read back from the device and a line written)."""
    return max(1, min(every, total_steps // CURVE_POINTS))

STATUS_INTERVAL_S = 0.5
"""At most one status write per this many seconds while training (the page polls about once a second)."""


class StatusWriter:
    """The job's status, written from a thread of its own: ``post`` never waits for the disk.

    Only the newest fields are kept (a status is a snapshot, not a log). ``close`` writes what is pending
    and ends the thread; it must run before anything else writes the status (the final state), which
    ``StudioCallback.on_train_end`` and the loop's ``finally`` do. An error writing (a full disk the status
    cannot be rewritten on) is raised in the training thread at its next ``post`` or at ``close``.
    """

    def __init__(self, out: Path, interval: float = STATUS_INTERVAL_S):
        self.out, self.interval = Path(out), interval
        self._pending: dict[str, Any] | None = None
        self._urgent = False
        self._closed = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def post(self, fields: dict[str, Any], urgent: bool = False) -> None:
        self._raise()
        with self._cond:
            if self._closed:
                return
            idle = self._pending is None  # the writer waits for fields; otherwise it waits out the interval
            self._pending = fields
            self._urgent = self._urgent or urgent
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="studio-status", daemon=True)
                self._thread.start()
            if idle or urgent:  # waking the writer on every step would cost the step a thread switch
                self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def _run(self) -> None:
        last = 0.0
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if not (self._closed or self._urgent):  # wait out the interval, unless closed or urgent meanwhile
                    self._cond.wait_for(lambda: self._closed or self._urgent,
                                        timeout=max(0.0, last + self.interval - time.monotonic()))
                fields, self._pending, self._urgent = self._pending, None, False
                closed = self._closed
            if fields is not None:
                try:
                    jobs.update_status(self.out, **fields)
                except BaseException as exc:  # handed to the training thread
                    self._error = exc
                    return
                last = time.monotonic()
            if closed:
                return


def make(out: Path, on_progress: Callable[[dict], None] | None, eval_batches: int = 0,
         clock: Callable[[], float] = time.time) -> Any:
    """The Trainer callback for run folder ``out``; ``on_progress`` gets each step's fields (in the training thread).
    ``eval_batches``: the batches of one evaluation, which the ETA counts until one has been timed; ``clock``:
    the time (tests pass their own)."""
    hf_import.ready()
    from transformers import TrainerCallback

    class StudioCallback(TrainerCallback):
        """metrics.jsonl rows, the job's progress, and the stop file (stop within one step, with a checkpoint)."""

        def __init__(self) -> None:
            self.t0 = clock()
            self.last_t = self.t0
            self.last_tokens = 0
            self.tokens_per_s = 0.0
            self.paused_s = 0.0  # evaluations and saves since the last loss row: kept out of its tokens/s
            self.stopped = False
            self.status = StatusWriter(out)
            self.eta = eta.Eta(0, self.t0)
            self.epochs_done = {"eval": 0, "save": 0}  # epoch-end evaluations and saves done, before a resume too
            self.first_step: int | None = None  # the step this session began at (a resume's checkpoint step)
            self.trained_s = 0.0  # this session's time in training steps: its evaluations and saves left out
            self.step_t = self.t0  # when the last step (or the training) began counting
            self.step_pause_s = 0.0  # evaluations and saves since the last step ended: not the next step's time
            self.save_after_eval = False  # this step's checkpoint waits for its epoch's evaluation (on_epoch_end)

        def close(self) -> None:
            """Write the pending status and end the writer's thread (idempotent). For the loop's ``finally``:
            a write error here is dropped, not raised over the error that ended training (the final state
            is written next anyway); ``on_train_end`` raises it, where the loop's disk-full handling sees it."""
            try:
                self.status.close()
            except Exception:
                pass

        def on_train_begin(self, args, state, control, **kwargs):
            # the Trainer reads this when it decides whether a step is logged; the run's length is known only now
            state.logging_steps = logging_interval(args.logging_steps, state.max_steps)
            self.t0 = self.last_t = clock()
            self.last_tokens, self.paused_s = state.num_input_tokens_seen, 0.0
            self.step_t, self.step_pause_s, self.trained_s = self.t0, 0.0, 0.0
            self.eta = eta.Eta(state.global_step, self.t0)  # this process's steps only, not those before a resume
            done = int(round(state.epoch or 0.0, 4))  # a checkpoint comes after its epoch's evaluation and save
            self.epochs_done = {"eval": done, "save": done}
            self.first_step = state.global_step
            if state.global_step and state.global_step >= state.max_steps:
                raise AllStepsDone(state.global_step)
            self._stop_before_first_step(state)
            if not state.is_world_process_zero:
                return
            jobs.update_status(out, state="running", progress=state.global_step / max(1, state.max_steps),
                               message=f"training: step {state.global_step}/{state.max_steps}")

        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == self.first_step:  # Stop clicked while the Trainer set up, before step one ran
                self._stop_before_first_step(state)

        def _stop_before_first_step(self, state) -> None:
            """Stop at once when asked before any step of this session: waiting out a step would cost minutes. The
            status keeps where the run stands (a resume's checkpoint step of its steps: a job's start wrote 0, and a
            resumed run stopped as its model loaded said 0.0 at step 2 of 4)."""
            if jobs.stop_requested(out):
                self.stopped = True
                if state.is_world_process_zero:
                    jobs.update_status(out, progress=state.global_step / max(1, state.max_steps))
                raise StopBeforeFirstStep(state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            # Under `accelerate launch` every process checks the stop file; only the first writes files.
            # One stat per step (microseconds): "stop after the current step" stays exact.
            # Stop asked during the run's last step: that step ends the run anyway, which then finishes with its model
            # saved (a "stopped" run of all its steps said "resume", and a resume trained a step past its end)
            if not self.stopped and state.global_step < state.max_steps and jobs.stop_requested(out):
                control.should_training_stop = True
                control.should_save = True  # the Trainer saves right after this callback: resumable
                self.stopped = True
            if control.should_save and self._evaluated_next(args, state, control):
                # A checkpoint at an epoch's end (Stop's, save_steps', the last step's) was saved as the step ended, before
                # that epoch's evaluation: its trainer_state.json lacked it, and so did the history of a run resumed from
                # it and of every checkpoint after. It is saved once the evaluation is done, as save-per-epoch does.
                control.should_save, self.save_after_eval = False, True
            now = clock()
            self.trained_s += max(0.0, now - self.step_t - self.step_pause_s)
            self.step_t, self.step_pause_s = now, 0.0
            done = state.global_step / max(1, state.max_steps)
            msg = f"step {state.global_step}/{state.max_steps} · epoch {state.epoch or 0:.2f}"
            if self.tokens_per_s:
                msg += f" · {self.tokens_per_s:,.0f} tokens/s now"  # the last logging interval's (the run's average ends it)
            self.eta.step(state.global_step, now)
            fields = {"state": "stopping" if self.stopped else "running", "progress": round(done, 4),
                      "eta_s": self._left(args, state), "message": msg,
                      "step": state.global_step, "max_steps": state.max_steps, "tokens_per_s": self.tokens_per_s}
            if state.is_world_process_zero:
                self.status.post(fields, urgent=self.stopped)
            if on_progress:
                on_progress(fields)

        def on_epoch_end(self, args, state, control, **kwargs):
            if self.stopped and abs((state.epoch or 0) - round(state.epoch or 0)) > 1e-6:
                # an epoch cut short by Stop: its checkpoint was saved as the step ended. The held-out set was evaluated
                # (minutes of SmolLM2 on a CPU, "stopping" all along) and the checkpoint saved again; the epoch's
                # evaluation comes at its real end, after Resume (a Stop at that end keeps it)
                control.should_evaluate = control.should_save = False
            elif self.save_after_eval:  # the Trainer evaluates, then saves
                control.should_save, self.save_after_eval = True, False

        def _evaluated_next(self, args, state, control) -> bool:
            """Whether the held-out records are evaluated right after this step: it ends an epoch, or the run (max
            steps mid-epoch), under the per-epoch evaluation; not a Stop mid-epoch (``on_epoch_end`` skips it)."""
            if str(getattr(args.eval_strategy, "value", args.eval_strategy)) != "epoch":
                return False
            epoch = state.epoch or 0.0
            whole = abs(epoch - round(epoch)) <= 1e-6
            return whole or (control.should_training_stop and not self.stopped)

        def on_evaluate(self, args, state, control, **kwargs):
            self.eta.paused("eval", clock())
            self.paused_s += self.eta.pause_s["eval"]
            self.step_pause_s += self.eta.pause_s["eval"]
            self.epochs_done["eval"] += 1

        def on_save(self, args, state, control, **kwargs):
            self.eta.paused("save", clock())
            self.paused_s += self.eta.pause_s["save"]
            self.step_pause_s += self.eta.pause_s["save"]
            self.epochs_done["save"] += 1

        def _left(self, args, state) -> float | None:
            """Seconds left (``studio.train.eta``): the steps left at the recent step time, plus the
            evaluations and saves still to come at the last one's time."""
            steps_left = state.max_steps - state.global_step
            epochs = state.num_train_epochs or 0
            pauses = {kind: eta.events_left(strategy, every, state.global_step, state.max_steps, epochs,
                                            self.epochs_done[kind])
                      for kind, strategy, every in (("eval", args.eval_strategy, int(args.eval_steps or 0)),
                                                    ("save", args.save_strategy, int(args.save_steps or 0)))}
            guess = {"eval": eval_batches * (self.eta.step_s or 0.0) * eta.FORWARD_SHARE}
            return self.eta.left(steps_left, pauses, guess)

        def on_train_end(self, args, state, control, **kwargs):
            # trained_s ends with the last step: the stop's checkpoint, the last save and the best model's load
            # after it are saving and loading, not training (a 2-step run said 3 tokens/s, its saves counted)
            self.status.close()

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if not state.is_world_process_zero or ("loss" not in logs and "eval_loss" not in logs):
                return
            now = clock()
            row: dict[str, Any] = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4)}
            if "loss" in logs:
                tokens = state.num_input_tokens_seen
                dt = now - self.last_t - self.paused_s  # the training steps' time: an evaluation is no slowdown
                if dt > 0 and tokens > self.last_tokens:
                    self.tokens_per_s = (tokens - self.last_tokens) / dt
                self.last_t, self.last_tokens, self.paused_s = now, tokens, 0.0
                row.update(loss=float(logs["loss"]), learning_rate=float(logs.get("learning_rate", 0.0)),
                           tokens_per_s=round(self.tokens_per_s, 1), tokens_seen=int(tokens))
                if "grad_norm" in logs:
                    row["grad_norm"] = float(logs["grad_norm"])
            if "eval_loss" in logs:
                row["eval_loss"] = float(logs["eval_loss"])
            row.update(time=now, elapsed_s=round(now - self.t0, 3))
            runs.append_metrics(out, row)
            line = " · ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                              if k in ("step", "epoch", "loss", "eval_loss", "tokens_per_s"))
            print(line, flush=True)

    return StudioCallback()
