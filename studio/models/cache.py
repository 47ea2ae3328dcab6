"""The one cache of loaded models in a process: Chat, the Train page's ask panel and Evaluate share it.

At most ``max_models`` models stay loaded (the least recently used goes first); two threads asking
for the same model at once load it once; every loaded model has one generation lock
(``model_lock``), since ``generate`` on one model is not safe to run from two threads at once.
Plain and thread-safe: the UI wraps ``shared()`` in ``st.cache_resource``.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from studio.device import free_memory

Loader = Callable[[str, "str | None", "str | None"], Any]  # (spec, quantization, token) -> LoadedModel
Key = tuple[str, "str | None"]

_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()
_one_load = threading.Lock()
"""One model loads at a time in a process: transformers' ``from_pretrained`` builds the model under
process-wide state (the meta device, the default dtype), so two loads in two threads at once break
each other ("Cannot copy out of meta tensor"). Compare mode with two local models loads them in turn."""


def model_lock(model: Any) -> threading.Lock:
    """The one generation lock of a loaded model (shared by every caller that generates with it)."""
    with _locks_guard:
        lock = _locks.get(model)
        if lock is None:
            lock = _locks[model] = threading.Lock()
        return lock


def _load(spec: str, quantization: str | None, token: str | None) -> Any:
    from studio.models import extractive
    from studio.models.loading import load_causal_lm
    from studio.models.spec import parse_spec

    if parse_spec(spec).kind == "qa":  # an extractive model: the same cache, its own loader
        return extractive.load_qa(spec, token)
    return load_causal_lm(spec, quantization=quantization, token=token)


def _precheck(spec: str) -> None:
    from studio.models.loading import check_reachable

    check_reachable(spec)


def _stale(spec: str, loaded: Any) -> bool:
    """Whether a loaded training run now resolves to another folder than it was loaded from: a run chatted with while
    it trained was loaded from a checkpoint, and went on answering from it after the run finished (or saved a newer
    one) until it was unloaded. Only runs are checked (a few file checks); anything else never goes stale here."""
    ref = getattr(loaded, "ref", None)
    if getattr(ref, "run_id", None) is None:
        return False
    from studio.errors import StudioError
    from studio.models.loading import resolve

    try:
        return resolve(spec).source != ref.source
    except StudioError:  # deleted since: the loaded copy answers until it is unloaded, as before
        return False


class ModelCache:
    """Loaded models, at most ``max_models``, keyed by spec and quantization."""

    def __init__(self, max_models: int = 2, loader: Loader | None = None,
                 precheck: Callable[[str], None] | None = None):
        self.max_models = max_models
        self._loader = loader or _load
        # what fails at once without loading (a Hub id with no network and no cached copy): said before waiting for
        # another model's load, which may take minutes (a GGUF's first conversion); with the studio's own loader
        self._precheck = precheck if precheck is not None else (_precheck if loader is None else None)
        self._models: OrderedDict[Key, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Key, threading.Lock] = {}

    def get(self, spec: str, quantization: str | None = None, token: str | None = None) -> Any:
        """The loaded model for ``spec``, loading it once however many threads ask."""
        key = (spec.strip(), quantization)
        held = self._models.get(key)
        stale = held is not None and _stale(key[0], held)  # file checks, outside the lock every sidebar waits on
        with self._lock:
            if stale and self._models.get(key) is held:
                del self._models[key]  # loaded again below, from the run's final model or newer checkpoint
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            try:
                if self._precheck is not None:
                    self._precheck(key[0])
                with _one_load:
                    loaded = self._loader(key[0], quantization, token)
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            with self._lock:
                self._models[key] = loaded
                while len(self._models) > self.max_models:
                    self._models.popitem(last=False)
        free_memory()
        return loaded

    def loading(self) -> list[str]:
        """The specs being loaded (or waiting for another load to end) now: a load goes on after the answer that
        asked for it is stopped, and the model stays loaded."""
        with self._lock:
            return [spec for spec, _ in self._loading]

    def loaded(self) -> list[Any]:
        with self._lock:
            return list(self._models.values())

    def unload(self, spec: str | None = None) -> int:
        """Drop one model (by its spec) or all; returns how many were dropped."""
        with self._lock:
            keys = [k for k in self._models if spec is None or k[0] == spec.strip()]
            for k in keys:
                del self._models[k]
        free_memory()
        return len(keys)


MAX_MODELS = 2  # two models side by side (compare mode, base vs run) on one consumer GPU
_shared: ModelCache | None = None
_shared_guard = threading.Lock()


def shared() -> ModelCache:
    """This process's cache (created on first use)."""
    global _shared
    with _shared_guard:
        if _shared is None:
            _shared = ModelCache(max_models=MAX_MODELS)
        return _shared
