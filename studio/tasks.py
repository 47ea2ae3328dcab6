"""Work in a background thread of the page's process: one worker type, one progress, one cancel.

A page starts a ``Task`` and polls it from a fragment; the worker never calls ``st.*``. The state
goes ``waiting -> running -> done | stopped | failed``; ``progress`` is a ``Progress`` the work
updates with ``report``; ``cancel()`` sets ``stop``, which the work checks and then returns early
(the state becomes "stopped"). A ``StudioError`` becomes ``error`` as its one line; any other
exception too, named, so a page never waits forever on a dead thread. Work that must survive a
rerun or a closed browser (training, evaluation) is a process instead: ``studio.jobs``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from studio import config
from studio.errors import CancelledError, StudioError, unexpected

STATES = ("waiting", "running", "done", "stopped", "failed")


class ProgressFn(Protocol):
    """How long work reports how far it got: ``progress(done, total)`` or with a few words of what it does."""

    def __call__(self, done: int, total: int, message: str = "", /) -> None: ...


@dataclass(frozen=True)
class Progress:
    done: int = 0
    total: int = 1
    message: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


class Task:
    """A unit of work in a daemon thread. Subclass and override ``work``, or pass ``fn``."""

    def __init__(self, label: str, fn: Callable[..., Any] | None = None, *args: Any, **kwargs: Any):
        self.label = label
        self.state = "waiting"
        self.result: Any = None
        self.error: str | None = None
        self.progress = Progress()
        self.stop = threading.Event()
        self._call = (fn, args, kwargs)
        self._thread: threading.Thread | None = None

    # --- what the worker does --------------------------------------------------------------------
    def work(self) -> Any:
        fn, args, kwargs = self._call
        if fn is None:
            raise NotImplementedError("pass fn or override work()")
        return fn(*args, **kwargs)

    def failure_message(self, exc: BaseException) -> str:
        """The one line shown for an exception that is not a ``StudioError`` (override to explain it)."""
        return unexpected(self.label, exc)

    def report(self, done: int, total: int, message: str = "") -> None:
        self.progress = Progress(done, total, message)

    # --- what the page does ----------------------------------------------------------------------
    def start(self) -> Task:
        # The worker keeps the workspace of the visitor who started it (a thread starts with no visitor).
        self._thread = threading.Thread(target=config.bound(self.run), name=f"task-{self.label[:20]}", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        """Do the work in this thread (``start`` runs it in a new one)."""
        self.state = "running"
        try:
            self.result = self.work()
            self.state = "stopped" if self.stop.is_set() else "done"
        except CancelledError as exc:  # the work saw ``stop`` and says what was kept
            self.error, self.state = str(exc), "stopped"
        except StudioError as exc:
            self.error, self.state = str(exc), "failed"
        except Exception as exc:  # a worker must always end with a message, never leave the page waiting
            self.error, self.state = self.failure_message(exc), "failed"

    def cancel(self) -> None:
        self.stop.set()

    @property
    def done(self) -> bool:
        return self.state in ("done", "stopped", "failed")

    @property
    def running(self) -> bool:
        return not self.done and self._thread is not None

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.done


STEP_ROWS = 1024
"""Rows a reader handles between two looks at its ``stop`` (``check_stop``): a few ms of work at most."""


def check_stop(stop: threading.Event | None) -> None:
    """``CancelledError`` once ``stop`` (a ``Task``'s) is set: work done in steps (a file's batches, its rows) calls it
    between them, so a cancel ends the work there rather than once it has run to its end in the background."""
    if stop is not None and stop.is_set():
        raise CancelledError("Stopped.")


class Watch:
    """While open, a daemon thread asks ``check()`` every ``poll_s`` seconds and, the first time it says yes,
    calls ``then()`` and ends: how a Stop pressed elsewhere reaches work that cannot ask for itself (a socket read
    that waits, a generation step)."""

    def __init__(self, check: Callable[[], bool], then: Callable[[], object], poll_s: float, name: str):
        self._check, self._then, self._poll_s, self._name = check, then, poll_s, name
        self._done = threading.Event()

    def _run(self) -> None:
        while not self._done.wait(self._poll_s):
            if self._check():
                self._then()
                return

    def __enter__(self) -> Watch:
        threading.Thread(target=self._run, name=self._name, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()


class LoadOnce:
    """Things loaded once per key and shared by every caller in the process (an embedding model per model name).

    A second caller for the same key waits for the load under way and shares its result; a caller for another key,
    or for one loaded already, does not wait for it: one lock held across every load held every page run that only
    asked what was loaded (7-9 s for MiniLM on a 2-core machine). A failed load is not kept, so fixing its cause and
    trying again works. ``values`` is the cache itself (clear it to load again)."""

    def __init__(self) -> None:
        self.values: dict[Any, Any] = {}
        self._lock = threading.Lock()  # held only to read or change ``values`` and ``_gates``: never across a load
        self._gates: dict[Any, threading.Lock] = {}  # one per key: its load, one at a time

    def get(self, key: Any, load: Callable[[], Any]) -> Any:
        """The value kept for ``key``, ``load()``-ed first where there is none."""
        with self._lock:
            if key in self.values:
                return self.values[key]
            gate = self._gates.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self.values:  # loaded by the caller this one waited for
                    return self.values[key]
            value = load()
            with self._lock:
                self.values[key] = value
            return value

    def peek(self, key: Any) -> Any | None:
        """The value kept for ``key``, or None where it would be loaded first."""
        with self._lock:
            return self.values.get(key)

    def clear(self) -> int:
        """Drop every kept value (its memory is freed once nothing else holds it); returns how many."""
        with self._lock:
            n = len(self.values)
            self.values.clear()
            return n
