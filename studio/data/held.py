"""The parsed imports the server holds for its sessions (the Dataset page's Import preview), within one byte budget.

A parsed file takes about five times its size in memory (each record a dict of strings), and each browser tab kept
its own: one visitor with many tabs took a public app past its memory, and nothing bounded them across sessions. All
of them live here now, charged their estimated size: past the budget the one used longest ago is dropped first (never
the one just put; one read lately only after every one read before it), and a session whose preview was dropped
reads its source again. Each value may name its ``owner`` (the session that put it): a put first lets go of every
value whose owner the caller says is gone (a closed tab), so a tab closed with a preview does not hold it for the server's life. The budget is the setting
``[studio] previews_mb`` (``Budget``), which ``studio.ui.cloud_settings`` reads at every page run.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from studio import config, settings
from studio.errors import StudioError
from studio.settings import setting

PUBLIC_MB = 256  # held for every visitor together on a public app (Community Cloud guarantees an app 690 MB)
LOCAL_MB = 2048  # on a machine of one's own: a person with several tabs of large files open
SAMPLE = 200  # records measured to estimate a list's size


@dataclass(frozen=True)
class Budget:
    """The memory every session's parsed imports may take together: ``[studio] previews_mb`` in the app's secrets."""

    previews_mb: float | None = setting(
        None, "MB of parsed imports held for every tab and visitor together; unset: 256 on a public app, 2048 on "
        "one's own machine", min=1, max=2**20, label="[studio] previews_mb")

    def __post_init__(self) -> None:
        settings.check(self, StudioError)

    def bytes(self, public: bool) -> int:
        mb = self.previews_mb if self.previews_mb is not None else PUBLIC_MB if public else LOCAL_MB
        return int(mb * 2**20)


_configured = Budget()  # what the app's secrets set (``configure``), read by every ``Held`` without a budget of its own


def configure(previews_mb: object) -> None:
    """Set the budget from the app's setting (None: by mode); a bad value raises ``StudioError`` in one line and the
    budget stays as it was."""
    global _configured
    _configured = Budget(previews_mb)  # type: ignore[arg-type] - checked in Budget: a setting can be anything


def rows_bytes(*lists: Iterable[Any] | None) -> int:
    """The memory a few lists of records take, estimated from up to ``SAMPLE`` records of each, evenly spread: an
    object the lists share (``apply_mapping`` keeps the file's strings) is counted once."""
    seen: set[int] = set()
    total = 0
    for rows in lists:
        if not rows:
            continue
        rows = rows if isinstance(rows, list) else list(rows)
        step = max(1, len(rows) // SAMPLE)
        picked = rows[::step]
        measured = sum(_deep(row, seen) for row in picked)
        total += sys.getsizeof(rows) + measured * len(rows) // len(picked)
    return total


def _deep(obj: Any, seen: set[int], depth: int = 0) -> int:
    if id(obj) in seen or depth > 8:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(_deep(k, seen, depth + 1) + _deep(v, seen, depth + 1) for k, v in obj.items())  # a key shared once
    elif isinstance(obj, (list, tuple)):
        size += sum(_deep(v, seen, depth + 1) for v in obj)
    elif hasattr(obj, "__dict__"):  # a problem found in a record (``validate.Problem``): its message
        size += _deep(vars(obj), seen, depth + 1)
    return size


class Held:
    """Values by key, each charged its bytes, the least recently used dropped first past ``budget``."""

    def __init__(self, budget: int | None = None) -> None:
        self._budget = budget
        self._items: OrderedDict[str, tuple[Any, int, str | None]] = OrderedDict()  # key: (value, bytes, owner)
        self._lock = threading.Lock()  # every session's script thread shares it

    @property
    def budget(self) -> int:
        if self._budget is not None:
            return self._budget
        return _configured.bytes(config.tenancy())

    def put(self, key: str, value: Any, nbytes: int, owner: str | None = None,
            gone: Callable[[str], bool] | None = None) -> None:
        """Hold ``value`` (or charge it ``nbytes`` anew) for ``owner``, first dropping the others whose owner ``gone``
        says has gone, then the oldest others past the budget."""
        with self._lock:
            owners = {o for _, _, o in self._items.values() if o is not None and o != owner}
        left = {o for o in owners if gone(o)} if gone else set()  # asked outside the lock: it may ask a server
        with self._lock:
            for k in [k for k, (_, _, o) in self._items.items() if o in left and k != key]:
                del self._items[k]
            self._items[key] = (value, nbytes, owner)
            self._items.move_to_end(key)
            total = sum(n for _, n, _ in self._items.values())
            while total > self.budget and len(self._items) > 1:
                _, (_, dropped, _) = self._items.popitem(last=False)
                total -= dropped

    def get(self, key: str) -> Any | None:
        """The value, now the most recently used; None once dropped."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def drop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def held_bytes(self) -> int:
        with self._lock:
            return sum(n for _, n, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)


previews = Held()  # the Import tab's: one per browser tab, the parsed file with its mapped records and problems
