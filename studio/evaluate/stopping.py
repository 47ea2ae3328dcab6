"""How Evaluate's Stop reaches the answer in progress.

The user's stop is a question asked between steps (``cancel()``: the job's stop file). An answer being
written cannot ask it, so ``StopWatch`` turns it into a ``threading.Event`` set within ``POLL_S`` of the
stop: local generation checks the event at every token (``studio.models.generate.StopOnEvent``) and a
request to an OpenAI-compatible server has its connection shut when it is set
(``studio.chat.openai_stream``), as is a streamed answer from Inference Providers
(``studio.chat.api.ProviderClient``: a connection of its own). An extractive model's answer through
Inference Providers is one plain request through huggingface_hub's shared connection pool, which cannot
be shut from outside: it ends when the request in flight does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from studio import tasks
from studio.evaluate.config import EvalConfig

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


def uninterruptible(config: EvalConfig) -> list[str]:
    """The models (and the judge) whose request in flight Stop cannot cut short: extractive ones answered through
    Inference Providers or a dedicated endpoint (one plain request through huggingface_hub's shared connections,
    not a stream)."""
    from studio.chat.base import BackendSpec

    names = [*config.models, *([config.judge] if config.judge else [])]
    specs = {m: BackendSpec.for_model(m, base_url=config.api_base_url, provider=config.api_provider,
                                      qa_endpoint=config.qa_endpoint) for m in names}
    return [m for m, spec in specs.items() if spec.kind == "provider" and spec.task == "extractive"]


def stopping_note(config: EvalConfig | None) -> str:
    """What the page says while an evaluation stops: what is kept, what is dropped, and what it may wait for."""
    note = ("Stopping: the answer being written is dropped (a cut-short answer would score as wrong); the answers "
            "so far are kept.")
    slow = uninterruptible(config) if config is not None else []
    if slow:
        note += (f" An extractive model's request to Inference Providers ({', '.join(slow)}) cannot be interrupted: "
                 f"the evaluation ends when the one in flight answers or times out (API timeout: "
                 f"{config.api_timeout_s:.0f} s).")
    return note
