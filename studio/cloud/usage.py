"""How much a workspace (or every visitor's workspace together) holds, as a running total, so the size limits
checked before every save cost a few file reads rather than a walk of every file (0.3 s at 10,000 files).

The total lives in the folder itself (``USAGE``), read and changed under a file lock (``USAGE_LOCK``) by every
process that saves there: the server's pages and its job processes (an evaluation) alike. Each checked save adds
what it adds (``reserve``) before it writes, so two saves at once cannot both take the last room. What the total may
miss only ever makes it larger than the truth (a delete, a save that failed after it was counted, a file replaced by
a smaller one): a save the total would refuse measures the folder first, so a visitor is never refused for room they
have, and never let past the limit. What could make it smaller than the truth is measured instead of trusted:

- the first check of a folder in a process measures it once (a restart, a job's process, files made while the
  server was down);
- ``forget`` drops a total where files arrive without a checked save (a workspace moved in at sign-in);
- ``jobs/`` (a job's status and the log its process prints to, written outside any check) is measured at every
  check of its workspace: a few small files per job, whatever the workspace's datasets and evaluations hold.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

USAGE = ".usage.json"
USAGE_LOCK = ".usage.lock"
MEASURED_EACH_TIME = "jobs"  # written by a job's output outside any check

_trusted: set[str] = set()  # the totals this process measured (or kept) since it started
_writing: dict[str, int] = {}  # bytes counted for saves of this process still being written, per folder: a measure
# taken meanwhile does not see them yet
_trusted_lock = threading.Lock()
files_walked = 0  # files stat'ed by this process's measures: what a test counts


def measure(folder: Path, skip: str | None = None) -> int:
    """The bytes the files under ``folder`` hold (its top-level ``skip`` folder left out), walking every file."""
    global files_walked
    total = walked = 0
    for dirpath, dirs, files in os.walk(folder):
        if skip is not None and Path(dirpath) == Path(folder) and skip in dirs:
            dirs.remove(skip)
        for name in files:
            walked += 1
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                continue
    files_walked += walked
    return total


class Tally:
    """A folder's total while its lock is held: ``used`` is what it holds (``counted`` plus its ``jobs/``)."""

    def __init__(self, folder: Path, jobs: bool):
        self.folder, self._jobs = Path(folder), jobs
        self.exact = False
        key = str(self.folder)
        with _trusted_lock:
            trusted = key in _trusted
        saved = _read(self.folder) if trusted else None
        if saved is None:
            self.measure()
        else:
            self.counted = saved
        self._jobs_bytes = measure(self.folder / MEASURED_EACH_TIME) if jobs else 0

    @property
    def used(self) -> int:
        return self.counted + self._jobs_bytes

    def measure(self) -> None:
        """Walk the folder for the true total (a save the running total would refuse; the first check here)."""
        walked = measure(self.folder, MEASURED_EACH_TIME if self._jobs else None)
        with _trusted_lock:
            self.counted = walked + _writing.get(str(self.folder), 0)
        if self._jobs and hasattr(self, "_jobs_bytes"):
            self._jobs_bytes = measure(self.folder / MEASURED_EACH_TIME)
        self.exact = True
        self._save()
        with _trusted_lock:
            _trusted.add(str(self.folder))

    def add(self, nbytes: int) -> Callable[[], None]:
        """Count ``nbytes`` about to be written; returns what to call once the write is over."""
        nbytes, key = max(0, int(nbytes)), str(self.folder)
        self.counted += nbytes
        self._save()
        with _trusted_lock:
            _writing[key] = _writing.get(key, 0) + nbytes

        def written() -> None:
            with _trusted_lock:
                left = _writing.get(key, 0) - nbytes
                if left > 0:
                    _writing[key] = left
                else:
                    _writing.pop(key, None)

        return written

    def freed(self, nbytes: int) -> None:
        """``nbytes`` were removed (while the lock was held, so the total stays as exact as it was)."""
        self.counted = max(0, self.counted - int(nbytes))
        self._save()

    def _save(self) -> None:
        try:
            tmp = self.folder / f".{USAGE}.tmp"
            tmp.write_text(json.dumps({"bytes": self.counted}), encoding="utf-8")
            os.replace(tmp, self.folder / USAGE)
        except OSError:  # the next check measures again
            forget(self.folder)


def _read(folder: Path) -> int | None:
    try:
        value = json.loads((folder / USAGE).read_text(encoding="utf-8"))["bytes"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) and value >= 0 else None


@contextlib.contextmanager
def held(folder: Path, jobs: bool = True) -> Iterator[Tally]:
    """``folder``'s total, with every other check of it (in any process) waiting until the block ends. ``jobs``:
    the folder is one workspace, whose ``jobs/`` is measured each time (not the folder of every workspace)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / USAGE_LOCK, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield Tally(folder, jobs)
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def forget(folder: Path) -> None:
    """Files arrived in ``folder`` without a checked save (moved in): its next check measures it."""
    with _trusted_lock:
        _trusted.discard(str(Path(folder)))
    with contextlib.suppress(OSError):
        (Path(folder) / USAGE).unlink()
