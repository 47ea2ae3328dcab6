"""A small tmpfs mounted for a test (a full or read-only disk), skipped where mounting is not permitted."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def mounted(where: Path, size_kb: int = 1024, read_only: bool = False) -> Iterator[Path]:
    """``where`` (made here) as a ``size_kb`` tmpfs, read-only if asked, unmounted when the block ends."""
    where.mkdir()
    options = f"ro,size={size_kb}k" if read_only else f"size={size_kb}k"
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
    if out.returncode:
        pytest.skip(f"mounting a tmpfs is not permitted here: {out.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)
