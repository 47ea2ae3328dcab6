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
- ``forget`` drops a total where files arrive without a checked save (a workspace moved in at sign-in); ``count``
  adds a few folders made without one (where a save needs them, the trash, a dataset's name a restore keeps),
  never refusing;
- a save counted but still being written is not on disk yet for a measure to find: each one is kept in the shared
  file under its process's id until it ends (dropped once that process is gone), and every process's measure adds
  them, so a job process's first measure never drops what the server is writing at that moment;
- ``jobs/`` (a job's status and the log its process prints to, written outside any check) is measured at every
  check of its workspace: a few small files per job, whatever the workspace's datasets and evaluations hold. The
  total of every workspace together measures each workspace's ``jobs/`` at every check too (``EACH``): a log that
  grew since the last walk is counted, so logs cannot take the server past its limit unseen.
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
EACH = "each"  # held(jobs=EACH): the folder of every workspace, whose every jobs/ is measured at each check
BLOCK = 4096  # the disk keeps every file and folder in whole blocks of this size (ext4's, as on Community Cloud):
# 300 one-record datasets hold 91 KB of content and take 6 MB of the disk


def on_disk(nbytes: int) -> int:
    """What a file of ``nbytes`` costs against the size limits: the disk's whole blocks, at least one for a file that
    holds anything (an empty file takes none, as ``du`` sees it; a folder costs one block). Every count of a
    workspace's size uses it: the walk, the check before a save, the restore's."""
    return -(-max(0, int(nbytes)) // BLOCK) * BLOCK



def readable_size(nbytes: float) -> str:
    """A size as a person reads it, in the decimal units the size settings are given in (``workspace_mb = 1.2`` is
    1.2 MB; 0.05 is 50 KB; 5000 is 5 GB): every size the public app's messages show. Something under 1 KB reads
    1 KB (a save always needs some room)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if nbytes >= scale or (unit == "MB" and nbytes >= 999_500):  # not "1000 KB"
            value = nbytes / scale
            return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.1f}".removesuffix(".0") + f" {unit}"
    return f"{max(1, round(nbytes / 1e3)) if nbytes > 0 else 0} KB"


_trusted: set[str] = set()  # the totals this process measured (or kept) since it started
_trusted_lock = threading.Lock()
_holding = threading.local()  # .folders: the folders whose lock this thread holds now (their Tally)


def measure(folder: Path, skip: str | None = None, depth: int = 0) -> int:
    """What the files and folders under ``folder`` take on disk (``on_disk``; its ``skip`` folders ``depth`` levels
    down left out: 0, its own; 1, each of its folders'), walking every file."""
    total, top = 0, len(Path(folder).parts)
    for dirpath, dirs, files in os.walk(folder):
        if skip is not None and skip in dirs and len(Path(dirpath).parts) - top == depth:
            dirs.remove(skip)
        total += BLOCK * len(dirs)
        for name in files:
            try:
                total += on_disk(os.lstat(os.path.join(dirpath, name)).st_size)
            except OSError:
                continue
    return total


def folder_size(folder: Path, skip: str | None = None) -> int:
    """``measure`` of ``folder`` (``skip`` left out) with the folder's own block (none where it is not there)."""
    return BLOCK + measure(folder, skip) if Path(folder).is_dir() else 0


class Tally:
    """A folder's total while its lock is held: ``used`` is what it holds (``counted`` plus its ``jobs/``).
    ``writing``: the bytes counted for saves still being written, per process id (every process's, kept in the
    shared file: a measure taken meanwhile does not see them on disk yet, and must not drop them)."""

    def __init__(self, folder: Path, jobs: bool | str):
        self.folder, self._jobs = Path(folder), jobs
        self.exact = False
        with _trusted_lock:
            trusted = str(self.folder) in _trusted
        saved, self.writing = _read(self.folder)
        self.counted: int | None = saved
        if saved is None or not trusted:
            self.measure()
        else:
            self._jobs_bytes = self._jobs_size()

    def _jobs_size(self) -> int:
        """What the ``jobs/`` folders measured at each check take now, each folder's own block too (the walk of the
        rest leaves the folder out, and ``measure`` counts only what lies under it)."""
        if self._jobs == EACH:
            return sum(folder_size(d) for d in self.folder.glob(f"*/{MEASURED_EACH_TIME}"))
        return folder_size(self.folder / MEASURED_EACH_TIME) if self._jobs else 0

    @property
    def used(self) -> int:
        return (self.counted or 0) + self._jobs_bytes

    def measure(self) -> None:
        """Walk the folder for the true total (a save the running total would refuse; the first check here)."""
        walked = measure(self.folder, MEASURED_EACH_TIME if self._jobs else None, 1 if self._jobs == EACH else 0)
        if not (self.folder / USAGE).exists():  # the record this measure writes (a block), not on disk for the walk
            walked += BLOCK
        self.counted = walked + sum(self.writing.values())
        self._jobs_bytes = self._jobs_size()
        self.exact = True
        self._save()
        with _trusted_lock:
            _trusted.add(str(self.folder))

    def add(self, nbytes: int) -> Callable[[], None]:
        """Count ``nbytes`` about to be written; returns what to call once the write is over."""
        nbytes, folder, pid = max(0, int(nbytes)), self.folder, str(os.getpid())
        self.counted = (self.counted or 0) + nbytes
        self.writing[pid] = self.writing.get(pid, 0) + nbytes
        self._save()

        def written() -> None:
            with held(folder, jobs=False, measure_first=False) as tally:
                left = tally.writing.get(pid, 0) - nbytes
                if left > 0:
                    tally.writing[pid] = left
                else:
                    tally.writing.pop(pid, None)
                tally._save()

        return written

    def grew(self, nbytes: int) -> None:
        """``nbytes`` were written without a checked save (never refused), or, negative, freed by a record rewritten
        smaller: counted where a total is kept (none: the next check measures)."""
        if nbytes and self.counted is not None:
            self.counted = max(0, self.counted + int(nbytes))
            self._save()

    def freed(self, nbytes: int) -> None:
        """``nbytes`` were removed (while the lock was held, so the total stays as exact as it was)."""
        self.counted = max(0, (self.counted or 0) - int(nbytes))
        self._save()

    def _save(self) -> None:
        doc: dict = {"writing": self.writing}
        if self.counted is not None:  # None: forgotten, the next check measures
            doc["bytes"] = self.counted
        try:
            tmp = self.folder / f".{USAGE}.tmp"
            tmp.write_text(json.dumps(doc), encoding="utf-8")
            os.replace(tmp, self.folder / USAGE)
        except OSError:  # the next check measures again
            with _trusted_lock:
                _trusted.discard(str(self.folder))


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return pid.isdigit()
    return True


def kept(folder: Path) -> int | None:
    """The total kept for ``folder`` now (None where none is kept), read without its lock."""
    return _read(Path(folder))[0]


def _read(folder: Path) -> tuple[int | None, dict[str, int]]:
    """The saved total (None where there is none) and the live processes' saves still being written."""
    try:
        doc = json.loads((folder / USAGE).read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            raise ValueError
    except (OSError, ValueError):
        return None, {}
    value, writing = doc.get("bytes"), doc.get("writing")
    writing = {pid: n for pid, n in writing.items() if isinstance(n, int) and n > 0 and _alive(pid)} \
        if isinstance(writing, dict) else {}
    return (value if isinstance(value, int) and value >= 0 else None), writing


@contextlib.contextmanager
def held(folder: Path, jobs: bool | str = True, measure_first: bool = True) -> Iterator[Tally]:
    """``folder``'s total, with every other check of it (in any process) waiting until the block ends. ``jobs``:
    the folder is one workspace, whose ``jobs/`` is measured each time; ``EACH``: the folder of every workspace,
    each of whose ``jobs/`` is.
    ``measure_first=False``: only the saves being written are wanted (a total missing stays missing)."""
    folder = Path(folder)
    folders = _holding.__dict__.setdefault("folders", {})
    if str(folder) in folders:  # this thread holds it already (a save's end within a check): the same tally
        yield folders[str(folder)]
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / USAGE_LOCK, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            tally = Tally(folder, jobs) if measure_first else _Pending(folder)
            folders[str(folder)] = tally
            yield tally
        finally:
            folders.pop(str(folder), None)
            fcntl.flock(fh, fcntl.LOCK_UN)


class _Pending(Tally):
    """The shared file as it is, only its saves being written to change (no measure: a total forgotten stays so)."""

    def __init__(self, folder: Path):
        self.folder, self._jobs, self.exact, self._jobs_bytes = Path(folder), False, False, 0
        self.counted, self.writing = _read(self.folder)


def count(folder: Path, nbytes: int) -> None:
    """``nbytes`` were written in ``folder`` without a checked save (a folder made where a save or a restore needed
    it, the trash): counted, never refused, so the next check sees them without a walk. Where no total is kept (none
    yet, or forgotten) there is nothing to add to: the next check measures."""
    if nbytes > 0:
        _changed(folder, nbytes)


def _changed(folder: Path, nbytes: int) -> None:
    """``folder``'s kept total changed by ``nbytes`` (more, or less) written outside a checked save."""
    if not nbytes or not (Path(folder) / USAGE).exists():
        return
    with held(folder, jobs=False, measure_first=False) as tally:
        tally.grew(nbytes)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def rewrite_counted(path: Path, data: bytes, write: Callable[[Path, bytes], None]) -> tuple:
    """``write`` ``data`` to ``path``, a record of the workspace folder it lies in written outside any check (never
    refused), and count what it grew by on disk in that folder's total and every workspace's (the folder's parent), as
    ``count`` does, or what it shrank by (a sync's record of fewer files: both totals read higher than the disk until
    the next walk). Returns the (time, size) of the folder's own total record (``USAGE``) before and after, taken under
    its lock: what this rewrite alone changed of it (a watcher that looks at the record for saves ignores it)."""
    folder = Path(path).parent
    if not (folder / USAGE).exists():  # no total kept: the next check measures
        write(path, data)
        return None, None
    old = _stamp(path)
    with held(folder, jobs=False, measure_first=False) as tally:
        before = _stamp(folder / USAGE)
        write(path, data)
        grown = on_disk(len(data)) - on_disk(old[1] if old else 0)
        tally.grew(grown)
        after = _stamp(folder / USAGE)
    _changed(folder.parent, grown)
    return before, after


def forget(folder: Path) -> None:
    """Files arrived in ``folder`` without a checked save (moved in): its next check measures it. The saves still
    being written there stay counted."""
    folder = Path(folder)
    with _trusted_lock:
        _trusted.discard(str(folder))
    if not (folder / USAGE).exists():
        return
    with held(folder, jobs=False, measure_first=False) as tally:
        tally.counted = None
        tally._save()
