"""The workspace's trash: where a deleted dataset or run goes, under a name no other deleted thing has."""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import time
from pathlib import Path


def move_into(trash: Path, source: Path, name: str) -> Path:
    """Move the folder ``source`` into ``trash`` as ``<name>-<time>`` (``-2``, ``-3``... after it where that is taken:
    a dataset deleted, made again and deleted within the second went inside the first one's folder) and return it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in itertools.count(1):
        dest = trash / (f"{name}-{stamp}" if n == 1 else f"{name}-{stamp}-{n}")
        try:
            dest.mkdir()  # the name taken at once: two deletes in the same second cannot both pick it
        except FileExistsError:
            continue
        break
    try:
        os.rename(source, dest)  # over the empty folder just made: one step on one disk
    except OSError as exc:
        dest.rmdir()
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(str(source), dest)  # a workspace whose datasets or runs are on another disk than its trash
    return dest
