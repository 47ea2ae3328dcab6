"""What was made of a file a page asks about at every run (Home's evaluation verdicts, runs' split checks), read again
only once the file's size or time changes.

At most ``KEPT`` files are remembered, the first read forgotten first: on a public app every visitor's files pass
through the one server's memo. Its forgetting walked a dict other sessions' threads were adding to ("dictionary
changed size during iteration" on a busy server): it has a lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

KEPT = 4096  # files one ``FileMemo`` remembers

T = TypeVar("T")


class FileMemo(Generic[T]):
    """``read(file)`` once per state of each file (its modification time and size), for at most ``kept`` files."""

    def __init__(self, read: Callable[[Path], T], kept: int = KEPT) -> None:
        self._read = read
        self.kept = kept
        self._seen: OrderedDict[str, tuple[int, int, T]] = OrderedDict()  # file -> (mtime ns, size, what was read)
        self._lock = threading.Lock()

    def get(self, file: Path) -> T | None:
        """What ``read`` made of ``file`` as it is now; None when it is not there (deleted meanwhile)."""
        try:
            stat = file.stat()
        except OSError:
            return None
        with self._lock:
            seen = self._seen.get(str(file))
        if seen is not None and seen[:2] == (stat.st_mtime_ns, stat.st_size):
            return seen[2]
        value = self._read(file)  # outside the lock: a long read does not hold up the other sessions
        with self._lock:
            self._seen[str(file)] = (stat.st_mtime_ns, stat.st_size, value)
            self._seen.move_to_end(str(file))  # read just now: the last to be forgotten
            while len(self._seen) > self.kept:
                self._seen.popitem(last=False)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)
