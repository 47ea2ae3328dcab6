"""A key given twice in one JSON object: Python's ``json`` keeps the last value and says nothing.

Finding them exactly means parsing with an ``object_pairs_hook``, a Python call per object: about half
again the time of the read on a 200,000-record file. Most files have none, so that scan runs only when
cheap counts cannot rule them out (``may_repeat``). Every key in the text is followed by a colon, right
after its closing quote or after white space, so those colons bound the text's keys from above: when
they are no more than the keys parsed, no key was given twice. One count of a single character (a few
ms for 40 MB) settles a file whose text holds no other colon; a file whose texts hold colons (most real
ones) takes a regex count of those colons (about 0.1 s for 40 MB), or one vectorised pass over its
bytes where numpy is loaded already, as in the app (about 20 ms for 40 MB, both counts at once). Only
a file where those colons outnumber the parsed keys (a duplicate, a text with a quote or a space
before a colon, objects inside records) is scanned.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

_KEY_END = re.compile(r'"(?=[ \t\r\n]*:)')  # a quote that a colon follows: every key's closing one, and a few more


@dataclass(frozen=True)
class Repeat:
    """One key given more than once in a record: the last value was kept, ``lost`` (the first) was not."""

    record: int  # 1-based, as validation counts records
    key: str
    times: int
    lost: object
    nested: bool = False  # in an object inside the record
    line: int | None = None  # JSON Lines: the file's line

    def message(self) -> str:
        where = " in an object inside it" if self.nested else ""
        line = f" (line {self.line})" if self.line else ""
        if self.times == 2:
            count, lost = "twice", f"the first, {_short(self.lost)}, was lost"
        else:
            count, lost = f"{self.times} times", f"the {self.times - 1} before it (the first {_short(self.lost)}) were lost"
        return (f"the file gives the key {json.dumps(self.key, ensure_ascii=False)} {count}{where}{line}: "
                f"the last value was kept and {lost}; remove the {'one' if self.times == 2 else 'ones'} you do not want.")


def _short(value: object, most: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= most else text[: most - 1] + "…"


BIG = 64_000_000  # bytes from which numpy is worth importing for the count (~0.15 s, the regex's time on 60 MB)


def may_repeat(text: str, keys: int, raw: bytes | None = None) -> bool:
    """False when ``text`` holds no more keys than the ``keys`` parsed from it: no key was given twice. True
    when it may hold more (then ``loads`` tells). ``keys`` may count too few (nested objects left out), never
    too many. ``raw``: the UTF-8 bytes ``text`` was decoded from, when there are any."""
    if raw is not None and len(raw) > 100_000 and ("numpy" in sys.modules or len(raw) >= BIG):
        return _key_colons(raw) > keys  # one pass does what the two below do (the app has numpy loaded)
    if text.count(":") <= keys:
        return False
    return len(_KEY_END.findall(text)) > keys


def _key_colons(raw: bytes) -> int:
    """The colons right after a quote or white space in UTF-8 ``raw`` (no byte of a multi-byte character is ASCII)."""
    import numpy as np

    data = np.frombuffer(raw, np.uint8)
    at = np.flatnonzero(data == ord(":"))
    before = data[at[at > 0] - 1]
    return int(np.count_nonzero((before == ord('"')) | (before == ord(" ")) | (before == ord("\n"))
                                | (before == ord("\t")) | (before == ord("\r"))))


class _Twice(dict):
    """An object some of whose keys were given more than once: ``repeats`` is [(key, times, first value)]."""

    repeats: list[tuple[str, int, object]]


def _pairs(pairs: list[tuple[str, object]]) -> dict:
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    twice = _Twice(d)
    seen: dict[str, list] = {}
    for key, value in pairs:
        seen.setdefault(key, []).append(value)
    twice.repeats = [(k, len(vs), vs[0]) for k, vs in seen.items() if len(vs) > 1]
    return twice


def loads(text: str) -> object:
    """``json.loads`` whose objects with repeated keys come back marked (``repeats``)."""
    return json.loads(text, object_pairs_hook=_pairs)


def repeats(record: object, number: int, line: int | None = None) -> list[Repeat]:
    """The repeated keys ``loads`` marked in ``record`` (the record itself and any object inside it)."""
    found = []
    for obj, nested in _objects(record):
        if type(obj) is _Twice:
            found += [Repeat(number, key, times, lost, nested, line) for key, times, lost in obj.repeats]
    return found


def _objects(record: object) -> Iterator[tuple[dict, bool]]:
    stack = [(record, False)]
    while stack:
        item, nested = stack.pop()
        if isinstance(item, dict):
            yield item, nested
            stack.extend((v, True) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, True) for v in item if isinstance(v, (dict, list)))
