"""Test sessions only: the Hugging Face client's pauses between retries are not waited out.

``huggingface_hub`` retries a dropped connection or a 503 five times, pausing 1, 2, 4, 8 and 8 s (23 s) in
between, and nothing configures the pauses. The tests that drop the stand-in Hub's connection or take it down
(tests/hub_servers.py) still get every retry, the same calls in the same order and the same final error; only the
pauses are skipped. ``tests/conftest.py`` imports this in its own process and puts this folder first on
``PYTHONPATH``, so every CLI run, studio server and job a test starts does the same (Python imports
``sitecustomize`` at start-up). It imports nothing itself: the client's module is changed as it loads."""

from __future__ import annotations

import importlib.abc
import os
import sys
import time

MODULE = "huggingface_hub.utils._http"
"""The module whose ``time.sleep`` is the retry pause (``http_backoff``): it uses nothing else of ``time``."""


class _NoPause:
    """``time`` as ``MODULE`` sees it: everything the same but ``sleep``, which only yields."""

    def __getattr__(self, name: str):
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(0)


def _patch(module) -> None:
    module.time = _NoPause()


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``MODULE`` the usual way, then has it patched right after it is executed."""

    no_pause = True  # what install() looks for: this file may be loaded twice, under two names

    def find_spec(self, name, path, target=None):
        if name != MODULE:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
                real = spec.loader.exec_module

                def exec_module(module, real=real):
                    real(module)
                    _patch(module)

                spec.loader.exec_module = exec_module
                return spec
        return None


def install() -> None:
    """Patch ``MODULE`` now if it is loaded, and whenever it loads later; calling it again does nothing."""
    if MODULE in sys.modules:
        _patch(sys.modules[MODULE])
    if not any(getattr(f, "no_pause", False) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def _chain() -> None:
    """Run the ``sitecustomize`` this one hides (a later one on ``sys.path``, as some Pythons ship), if any."""
    here = os.path.dirname(os.path.abspath(__file__))
    for entry in sys.path:
        candidate = os.path.join(os.path.abspath(entry or "."), "sitecustomize.py")
        if os.path.dirname(candidate) != here and os.path.isfile(candidate):
            with open(candidate, encoding="utf-8") as f:
                exec(compile(f.read(), candidate, "exec"), {"__name__": "sitecustomize", "__file__": candidate})
            return


def stacks_on_request() -> None:
    """Every thread's stack written to stderr on SIGUSR2: the e2e harness asks a studio server for them
    (``tests/e2e/conftest.server_stacks``) when a page waits on it for nothing, to say what its threads were doing."""
    import faulthandler
    import signal

    if hasattr(signal, "SIGUSR2"):
        faulthandler.register(signal.SIGUSR2, all_threads=True)


install()
if __name__ == "sitecustomize":
    stacks_on_request()
    _chain()
