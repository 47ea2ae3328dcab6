"""The time a training run has left, from its recent steps: the ETA the job's status and the Train page show.

The whole run's average (elapsed / share done) was optimistic: a run whose machine got busy midway kept
the early, fast steps' pace (a 1-epoch LoRA run said "0m35s" left while steps took ~20 s each), and after
a resume it divided the steps done before it by this process's time alone. Here a step's time is the
slower of the mean over the last ``WINDOW`` steps and the mean over the last ``RECENT`` (a slowdown shows
within two steps; one fast step does not lower it), evaluations and checkpoint saves taken out of it and
counted apart:

    left = steps left x that step time + evaluations left x the last evaluation's time
           + saves left x the last save's time

Until an evaluation has run its time is guessed from its batches (a forward pass, ~1/3 of a training
step); a save not seen yet counts nothing. The clock is passed in (``now``), so tests drive it.
"""

from __future__ import annotations

import math
from collections import deque

WINDOW = 8
"""Steps the step time is averaged over."""

RECENT = 2
"""The last steps whose mean, when slower, is taken instead: the ETA follows a slowdown at once."""

FORWARD_SHARE = 1 / 3
"""An evaluation batch's time over a training step's (forward only; backward is ~twice a forward)."""


class Eta:
    """Steps and pauses as they end (``step``, ``paused``), and the seconds left (``left``)."""

    def __init__(self, step: int, now: float, window: int = WINDOW):
        self._step, self._step_t, self._event_t = step, now, now
        self._pause = 0.0  # pause seconds since the last step ended: not part of the next step's time
        self._times: deque[float] = deque(maxlen=window)  # seconds per step, the latest last
        self.pause_s: dict[str, float] = {}  # kind ("eval", "save") -> the latest one's seconds

    def step(self, step: int, now: float) -> None:
        """Training reached global step ``step`` at ``now``."""
        n = step - self._step
        if n > 0:
            per = max(0.0, now - self._step_t - self._pause) / n
            self._times.extend([per] * min(n, self._times.maxlen or n))
        self._step, self._step_t, self._event_t, self._pause = step, now, now, 0.0

    def paused(self, kind: str, now: float) -> None:
        """An evaluation or a save (``kind``) ended at ``now``; it began when the last step or pause ended."""
        seconds = max(0.0, now - self._event_t)
        self.pause_s[kind] = seconds
        self._pause += seconds
        self._event_t = now

    @property
    def step_s(self) -> float | None:
        """Seconds per step as the ETA counts them; None before the first step ends."""
        if not self._times:
            return None
        times = list(self._times)
        recent = times[-RECENT:]
        return max(sum(times) / len(times), sum(recent) / len(recent))

    def left(self, steps_left: int, pauses_left: dict[str, int] | None = None,
             guess_s: dict[str, float] | None = None) -> float | None:
        """Seconds left: ``steps_left`` steps and ``pauses_left`` pauses of each kind (unmeasured kinds:
        ``guess_s``, else nothing); None before the first step ends."""
        per = self.step_s
        if per is None:
            return None
        total = max(0, steps_left) * per
        for kind, n in (pauses_left or {}).items():
            total += max(0, n) * self.pause_s.get(kind, (guess_s or {}).get(kind, 0.0))
        return total


def events_left(strategy: str, every: int, step: int, max_steps: int, epochs: float, epochs_done: int) -> int:
    """Evaluations or saves still to come under the Trainer's ``strategy`` ("epoch": one at the end of
    each of ``epochs`` epochs, ``epochs_done`` of them done; "steps": one every ``every`` steps)."""
    strategy = str(getattr(strategy, "value", strategy))
    if strategy == "epoch":
        return max(0, math.ceil(round(epochs, 6)) - epochs_done)
    if strategy == "steps" and every > 0:
        return max(0, max_steps // every - step // every)
    return 0
