"""A GGUF import as a background job: ``python -m studio model import FILE --memory-budget MB`` in its
own process, started by the Models page and watched through ``studio.jobs``.

Dequantizing takes seconds to minutes and memory in proportion to the model; in the Streamlit
server a runaway (a file that passed every check and still grew) would take every visitor's
session down with it. In a job it is one process with an address-space ceiling (``RLIMIT_AS``):
what the libraries take once loaded plus a budget sized from the model, past which the import
fails with one line and leaves nothing behind. The page polls the job's status: how far it got,
the seconds left estimated from the progress so far, and the one-line error when it fails.
"""

from __future__ import annotations

import contextlib
import gc
import os
import resource
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from studio import config, jobs
from studio.errors import CancelledError, StudioError
from studio.models import hf_import, library

KIND = "import"
# Measured on SmolLM2-135M (Q4_1 -> float32): the address space grew 1.6 GB past the loaded libraries,
# 3.0 times its float32 weights (the loaded model, the rebuilt one, a state dict in between); its
# shape's build-copy-save grew 1.35 GB on a 16-core CUDA machine, whose libraries alone take 4.9 GB
# (0.8 GB with a CPU build): the cap is measured from there. The budget allows 4 times the float32
# weights, plus the mapped file, plus 512 MB for the tokenizer and allocator slack.
WEIGHT_COPIES = 4
SLACK = 512 * 2**20


def memory_budget(parameters: int, file_size: int) -> int:
    """Bytes of address space an import may take beyond the loaded libraries."""
    return WEIGHT_COPIES * 4 * parameters + file_size + SLACK


def _few_malloc_arenas() -> None:
    """glibc gives each thread its own malloc arena, address space that counts against the cap unused:
    on a 16-core machine the same import grew 2.57 GB with the default arenas, 1.35 GB with two."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


@contextlib.contextmanager
def memory_ceiling(budget: int) -> Iterator[int]:
    """Cap this process's address space at its current size plus ``budget`` bytes while the block
    runs, measured after loading the libraries an import needs (their size differs between a CPU and
    a CUDA build). Yields the cap, or 0 where the platform cannot say its current size. The cap is
    lifted afterwards: the interpreter's own exit handlers need memory too."""
    # The import runs on the CPU. CUDA stays uninitialised: its driver reserves address space the cap
    # would refuse (measured on an H200 machine: "Unexpected error from cudaGetDeviceCount()").
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    # Weights load in this thread: transformers 5.17 (the GPU machine's) hands the GGUF's tensors to a pool of
    # worker threads, whose start fails under the cap ("can't start new thread"); the variable is its own switch.
    os.environ["HF_DEACTIVATE_ASYNC_LOAD"] = "1"
    _few_malloc_arenas()
    import torch  # noqa: F401 - loaded before measuring: the cap is for the model, not the libraries
    hf_import.ready()
    import transformers  # noqa: F401

    try:
        status = Path("/proc/self/status").read_text()
        size = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmSize:"))) * 1024
    except (OSError, StopIteration, ValueError):
        yield 0
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = size + budget if hard == resource.RLIM_INFINITY else min(size + budget, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield cap
    finally:
        gc.collect()
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def check_file(path: Path, shown: str) -> None:
    """A path to import is a regular file: a device (/dev/zero) or a pipe named x.gguf is refused here, by its
    type, rather than read (a pipe would wait for a writer forever); a folder is the caller's own line."""
    if not path.is_file():
        if path.exists() and not path.is_dir():
            raise StudioError(f"{shown} is not a regular file (a device, a pipe or a socket): give the path of a "
                              ".gguf file.")
        raise StudioError(f"No file at {shown}: check the path.")


def start_import(path: Path, name: str, dtype: str, upload: Path | None = None) -> Path:
    """Check the file and the name here, then start the import as a job; returns the job's folder.

    ``upload``: the temporary folder holding an uploaded copy, handed to the job's process here: the job removes
    it when it ends (and ``library.clean_partial_imports`` does, should the process die before it can)."""
    from studio.models import gguf

    check_file(path, str(path))
    info = gguf.inspect(path)  # not GGUF, truncated, a lying header: one line now, before any process starts
    name = library.check_name(name or library.default_name(path))
    if (config.models_dir(make=False) / name).exists():
        raise StudioError(f"A model named {name!r} is already in the library: choose another name, or delete it first.")
    for status in jobs.registered_jobs():
        if status.kind == KIND and status.active and status.extra.get("model_name") == name:
            raise StudioError(f"{name!r} is being imported already: wait for it to finish.")
    workdir = config.jobs_dir() / f"import-{name}-{int(time.time() * 1000)}"
    budget = memory_budget(info.parameters, info.file_size)
    argv = ["model", "import", str(path), "--name", name, "--dtype", dtype, "--memory-budget", str(budget // 2**20)]
    if upload is not None:
        argv.append("--upload")
    # Two malloc arenas and no CUDA from the start (see memory_ceiling): the import runs on the CPU.
    # The name and file are on record from the start, not from when the process gets to write them: a second
    # import of the same name (or file) in that first second is refused (or waited for) too.
    status = jobs.start_job(KIND, argv, workdir, uses_device=False,
                            env={"MALLOC_ARENA_MAX": "2", "CUDA_VISIBLE_DEVICES": ""},
                            record={"model_name": name, "file": path.name, "path": str(path.resolve())})
    if upload is not None:
        # The job's from its start: removed when its process is gone, however it ended (even before it got to
        # claim the copy itself), not kept for as long as this process lives.
        library.claim(upload, status.pid)
    return workdir


def active_imports() -> list[jobs.JobStatus]:
    """Imports running now (a page re-attaches to one after a reload)."""
    return [s for s in jobs.registered_jobs() if s.kind == KIND and s.active]


def failure(status: jobs.JobStatus) -> str:
    """The one line a failed import shows: its own error, or what a process that died without one means."""
    if status.error and status.error != jobs.DIED:
        return status.error
    what = status.extra.get("file") or "the file"
    return (f"The import of {what} ended unexpectedly (most often: the machine ran out of memory for a model this "
            "size); nothing was added to the library. See log.txt in " + status.workdir + ".")


def _free_name(path: Path) -> str:
    """The file's default library name, numbered past the models and the imports running already."""
    base = library.default_name(path)
    taken = {s.extra.get("model_name") for s in active_imports()}
    name, n = base, 2
    while (config.models_dir(make=False) / name).exists() or name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def import_and_wait(path: Path, progress: Callable[[str], None] | None = None, *, poll: float = 0.25) -> str:
    """Import a GGUF file as the Models page does, in a job process under its memory ceiling, and wait
    for it; returns the new model's library name. For a ``.gguf`` path typed where a model is picked
    (chat, passage, evaluation, training): a file that passes the header checks and still grows fails
    its own process with one line, never the server. An import of the same file already running (a
    second visitor, a second tab) is waited for rather than started twice."""
    path = Path(path)
    for status in active_imports():
        if status.extra.get("path") == str(path.resolve()):
            workdir = Path(status.workdir)
            break
    else:
        workdir = start_import(path, _free_name(path), "float32")
    said = ""
    try:
        while True:
            status = jobs.read_status(workdir)
            if progress is not None and status.message and status.message != said:
                said = status.message
                progress(said)
            if not status.active:
                break
            time.sleep(poll)
    except KeyboardInterrupt:
        jobs.request_stop(workdir)
        raise
    if status.state == "finished":
        return str((status.extra.get("entry") or {}).get("name") or status.extra.get("model_name"))
    if status.state == "stopped":
        raise CancelledError(f"The import of {path.name} was stopped: nothing was added to the library.")
    raise StudioError(failure(status))


class Eta:
    """Seconds left, extrapolated from the rate measured since the first report (the libraries' loading
    before it says nothing about the model's speed); None until 5% more of the work is done."""

    def __init__(self) -> None:
        self.first: tuple[float, float] | None = None

    def update(self, fraction: float) -> float | None:
        now = time.monotonic()
        if self.first is None:
            self.first = (now, fraction)
        t0, f0 = self.first
        if fraction - f0 < 0.05 or now - t0 < 1:
            return None
        return (now - t0) * (1 - fraction) / (fraction - f0)


__all__ = ["KIND", "Eta", "active_imports", "failure", "import_and_wait", "memory_budget", "memory_ceiling", "start_import"]
