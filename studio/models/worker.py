"""One long-lived generation thread per loaded model: every local ``generate`` runs on it.

Chat used to start a thread per answer, and the Streamlit script thread that runs the ask panel,
passage answers and evaluations is itself new on every rerun. On a GPU the same ``model.generate``
ran about 4x slower in a newly started thread than in a thread that had generated before (issue 26):
whatever per-thread state CUDA, cuBLAS or torch set up on first use, a thread that lives as long as
the model pays it once. ``bench/gpu_threads.py`` measures the calling thread, a new thread per call
and this worker side by side.

``submit(model, fn)`` queues ``fn()`` on the model's worker and returns a ``Future``; ``run(model,
fn)`` waits for it. Calls made from the worker itself run inline (no deadlock). The worker holds no
reference to the model between calls: when the model is dropped from the cache, its worker ends.
Serialising callers is still the model lock's job (``studio.models.cache.model_lock``): the queue
only decides which thread does the work.
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_STOP = object()


class GenerationWorker:
    """A daemon thread that runs queued calls one at a time, in order."""

    def __init__(self, name: str = "studio-generate"):
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.calls = 0  # calls run so far (tests and benchmarks read it)
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            fn, fut = job
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                result = fn()
            except BaseException as exc:  # handed to the caller, who raises it in its own thread
                fut.set_exception(exc)
            else:
                fut.set_result(result)
            finally:
                self.calls += 1
                del job, fn, fut  # no reference to the model's tensors survives the call

    def submit(self, fn: Callable[[], T]) -> Future:
        fut: Future = Future()
        if threading.current_thread() is self.thread:  # a call from inside a call: run it here
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)
            return fut
        self._jobs.put((fn, fut))
        return fut

    def close(self) -> None:
        """Ends the thread after the calls already queued."""
        self._jobs.put(_STOP)


_workers: weakref.WeakKeyDictionary[Any, GenerationWorker] = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def worker_for(model: Any) -> GenerationWorker:
    """The model's worker, started on first use and ended when the model is garbage-collected."""
    with _guard:
        w = _workers.get(model)
        if w is None or not w.thread.is_alive():
            w = _workers[model] = GenerationWorker(f"studio-generate-{type(model).__name__}")
            weakref.finalize(model, w.close)
        return w


def submit(model: Any, fn: Callable[[], T]) -> Future:
    """Queue ``fn()`` on ``model``'s worker; the Future carries its result or its exception."""
    return worker_for(model).submit(fn)


def run(model: Any, fn: Callable[[], T]) -> T:
    """``fn()`` run on ``model``'s worker; its result, or its exception raised here."""
    return submit(model, fn).result()
