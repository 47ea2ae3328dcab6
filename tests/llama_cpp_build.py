"""llama.cpp for tests: llama-cpp-python built once per machine from PyPI's source and cached.

``ensure_llama_cpp()`` returns the ``llama_cpp`` module: the installed one when its version is
``VERSION``; else the copy cached in ``~/.cache/slm-studio/llama-cpp-python-VERSION`` (installed
there with ``pip install --target``, added to ``sys.path``); else it builds the wheel first
(``CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" pip wheel llama-cpp-python==VERSION``: about 5
minutes on 2 quiet cores, an hour on this project's shared machine) into ``~/.cache/slm-studio/wheels``, so CI pays for the compile once per
machine. A lock file keeps two test processes from building at once. A failed build raises with the
end of pip's log: the tests that need llama.cpp fail loudly, they are never skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

VERSION = "0.3.36"
DISKCACHE = "diskcache==5.6.3"  # llama_cpp.llama_cache imports it; nothing else in the studio does
CACHE = Path(os.environ.get("SLM_STUDIO_CACHE") or Path.home() / ".cache" / "slm-studio")
WHEELS = CACHE / "wheels"
TARGET = CACHE / f"llama-cpp-python-{VERSION}"
BUILD_TIMEOUT_S = 3 * 3600


def _import() -> ModuleType | None:
    try:
        import llama_cpp
    except ImportError:
        return None
    return llama_cpp if getattr(llama_cpp, "__version__", "") == VERSION else None


def _wheel() -> Path | None:
    return next(iter(sorted(WHEELS.glob(f"llama_cpp_python-{VERSION}-*.whl"))), None)


def _pip(*args: str, env: dict | None = None, timeout: int = 600) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise RuntimeError(f"pip {' '.join(args[:2])} failed for llama-cpp-python {VERSION}:\n{tail}")


def _build() -> Path:
    WHEELS.mkdir(parents=True, exist_ok=True)
    parallel = str(os.cpu_count() or 2)
    _pip("wheel", "--no-deps", f"llama-cpp-python=={VERSION}", "-w", str(WHEELS), timeout=BUILD_TIMEOUT_S,
         # portable CPU code; no multimodal library (mtmd), which the tests never load and which is a third
         # of the compile
         env={"CMAKE_ARGS": "-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF", "CMAKE_BUILD_PARALLEL_LEVEL": parallel})
    wheel = _wheel()
    if wheel is None:
        raise RuntimeError(f"pip built no llama_cpp_python-{VERSION} wheel in {WHEELS}")
    return wheel


def ensure_llama_cpp() -> ModuleType:
    module = _import()
    if module is not None:
        return module
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".llama-cpp.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be building it right now
        if not (TARGET / "llama_cpp").is_dir():
            wheel = _wheel() or _build()
            tmp = TARGET.with_name(TARGET.name + ".partial")
            shutil.rmtree(tmp, ignore_errors=True)
            _pip("install", "--no-deps", "--no-compile", "--target", str(tmp), str(wheel), DISKCACHE)
            tmp.rename(TARGET)
    if str(TARGET) not in sys.path:
        sys.path.insert(0, str(TARGET))
    with contextlib.suppress(KeyError):
        del sys.modules["llama_cpp"]  # a failed import above may have left a stub
    module = _import()
    if module is None:
        raise RuntimeError(f"llama_cpp {VERSION} is in {TARGET} but does not import: delete that folder to rebuild")
    return module
