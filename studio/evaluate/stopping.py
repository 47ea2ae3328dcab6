"""How Evaluate's Stop reaches the answer in progress.

The user's stop is a question asked between steps (``cancel()``: the job's stop file). An answer being
written cannot ask it, so ``StopWatch`` turns it into a ``threading.Event`` set within ``POLL_S`` of the
stop: local generation checks the event at every token (``studio.models.generate.StopOnEvent``) and a
chat answer from an API model has its connection shut when it is set: an OpenAI-compatible server's and
Inference Providers' alike, both one event stream read by ``studio.chat.openai_stream`` (the providers through
their OpenAI-compatible router). An extractive model's request to Inference Providers
(``studio.chat.api.ProviderClient``: a connection of its own, for question answering only) or to a dedicated
endpoint (``studio.chat.passage.ApiExtractive``) is shut the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from studio import tasks

POLL_S = 0.1  # how often the watcher asks whether the user stopped

INTERRUPTED = "stopped before its answer finished: the evaluation was stopped"
"""A question whose answer Stop cut short: the part written is not an answer (it would score as wrong)."""

NOT_RUN = "not run: the evaluation was stopped"
"""A question the stop came before."""


class StopWatch(tasks.Watch):
    """While open, a daemon thread sets ``event`` once ``cancel()`` says the user stopped. Called, it answers
    whether to stop now (asking ``cancel`` itself, so a check between steps never waits for the watcher)."""

    def __init__(self, cancel: Callable[[], bool], poll_s: float = POLL_S):
        self.event = threading.Event()
        self._cancel = cancel
        super().__init__(self, lambda: None, poll_s, "evaluate-stop-watch")

    def __call__(self) -> bool:
        if not self.event.is_set() and self._cancel():
            self.event.set()
        return self.event.is_set()


STOPPING_NOTE = ("Stopping: the answer being written is dropped (a cut-short answer would score as wrong); the answers "
                 "so far are kept.")
"""What the page says while an evaluation stops: what is kept and what is dropped."""
