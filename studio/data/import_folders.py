"""The temporary folders a public app downloads Hub datasets into for the Import tab, one per browser tab.

A tab's folder is kept while its preview is (a preview dropped to keep the app's memory within its budget is read
again from these files, not downloaded again), and removed when the tab lets it go. A read still downloading into a
folder its tab let go of makes it again: the read removes it once more as it ends. A tab closed with a preview never
lets go of its folder: ``sweep`` removes every folder unread for ``KEPT_S``, and the public app runs it with its other
clean-ups, at a page run of any visitor at most every 10 minutes.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from pathlib import Path

PREFIX = "hub-import-"
ROOT: str | None = None  # the folder they are made in: None, the system's temporary folder (tests give their own)
KEPT_S = 3600  # a folder not read for this long is a closed tab's (or an idle one's, which downloads again if it must)
_reading: dict[str, int] = {}  # a folder -> the reads (worker threads) downloading into it now
_let_go: set[str] = set()  # folders of ``_reading`` their tab let go of: removed again as their last read ends
_lock = threading.Lock()


def make() -> str:
    """A new folder to download a Hub dataset into."""
    return tempfile.mkdtemp(prefix=PREFIX, dir=ROOT)


def touch(folder: str) -> None:
    """``folder`` read now: not a closed tab's."""
    with contextlib.suppress(OSError):
        Path(folder).touch()


def read_starts(folder: str) -> None:
    """A read (a worker thread) is about to download into ``folder``: said before the worker starts, so a tab letting
    go of the folder at once knows of it (``read_ends``)."""
    with _lock:
        _reading[folder] = _reading.get(folder, 0) + 1


def read_ends(folder: str) -> None:
    """A read that downloaded into ``folder`` ended. A folder its tab let go of meanwhile (the box cleared, another
    source picked: its read stopped) is removed again now: the download went on writing in it, making it again, and
    nothing named it any more."""
    with _lock:
        _reading[folder] -= 1
        gone = not _reading[folder] and folder in _let_go
        if not _reading[folder]:
            del _reading[folder]
            _let_go.discard(folder)
    if gone:
        shutil.rmtree(folder, ignore_errors=True)


def remove(folder: str) -> None:
    """Remove a folder its tab lets go of; a read still downloading into it removes it again as it ends."""
    with _lock:
        if folder in _reading:
            _let_go.add(folder)
    shutil.rmtree(folder, ignore_errors=True)


def sweep(now: float | None = None) -> None:
    """Remove every folder unread for ``KEPT_S`` that no read is downloading into."""
    now = time.time() if now is None else now
    for old in Path(ROOT or tempfile.gettempdir()).glob(PREFIX + "*"):
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > KEPT_S and str(old) not in _reading:
                shutil.rmtree(old, ignore_errors=True)
