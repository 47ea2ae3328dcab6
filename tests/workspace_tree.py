"""What a test compares to say a command or a refused start left the disk as it was."""

from __future__ import annotations

from pathlib import Path


def tree(root: Path) -> dict[str, tuple[int, int] | None]:
    """Every folder under ``root`` (None), and every file with its size and time of change (a folder's own time is
    left out: a check that an output's folder is writable writes and removes a probe file there)."""
    return {str(p.relative_to(root)): None if p.is_dir() else (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(Path(root).rglob("*"))}
