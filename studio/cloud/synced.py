"""What of a workspace is kept in a repo (``datasets/``, ``evals/``, a few files, the Chat conversation), and the
manifest of what the repo holds as of the last commit or restore: shared by the watcher that commits
(``studio.cloud.sync``) and the restore that brings the repo's files back (``studio.cloud.restore``)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from studio import atomic

SYNCED_DIRS = ("datasets", "evals")
# The Chat page's settings (passage mode's passage and question too) and the Evaluate page's form come back with the
# conversation after a restart: a conversation back with other settings than it was had with reads as the same and
# answers differently.
SYNCED_FILES = (".sample-added", "chat/settings.json", "chat/passage.json", "evaluate/form.json")
BATCHED_FILES = ("chat/conversation.json",)  # rewritten after every Chat turn: committed at most every BATCH_S
BATCH_S = 60.0
MANIFEST = ".sync-manifest.json"  # what the repo holds, as of the last commit (never synced itself; one per kind)


def _wanted(rel: str) -> bool:
    parts = rel.split("/")
    if rel in SYNCED_FILES or rel in BATCHED_FILES:
        return True
    return (len(parts) > 1 and parts[0] in SYNCED_DIRS and not any(p.startswith(".") for p in parts[1:])
            and not rel.endswith((".tmp", ".lock")))


def local_files(folder: Path) -> dict[str, tuple[int, int]]:
    """The synced files of a workspace: relative path -> (size, mtime in ns)."""
    out = {}
    for name in (*SYNCED_FILES, *BATCHED_FILES):
        try:
            st = (folder / name).stat()
        except OSError:
            continue
        out[name] = (st.st_size, st.st_mtime_ns)
    for top in SYNCED_DIRS:
        for dirpath, dirs, files in os.walk(folder / top):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for f in files:
                full = os.path.join(dirpath, f)
                rel = os.path.relpath(full, folder).replace(os.sep, "/")
                if _wanted(rel):
                    try:
                        st = os.stat(full)
                    except OSError:
                        continue
                    out[rel] = (st.st_size, st.st_mtime_ns)
    return out


def digest(path: Path, hasher) -> str:
    """``hasher`` fed a file's bytes a MB at a time (a version of hundreds of MB is never held whole): its hex digest."""
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _sha(path: Path) -> str:
    """The sha256 of a file."""
    return digest(path, hashlib.sha256())


def _load_manifest(folder: Path, name: str = MANIFEST) -> dict[str, str]:
    try:
        return json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save_manifest(folder: Path, manifest: dict[str, str], name: str = MANIFEST) -> tuple:
    """Record what the repo holds, outside the workspace's size check (as its running total is): a restore that filled
    the workspace to the brim must still record what came, or the next try brings back what the visitor deleted to
    make room. What it grows by is counted in the workspace's total and every workspace's (never refused): a few bytes
    a file, a block per 4 KB, which no check saw until the next walk. Returns the workspace's total record's (time,
    size) before and after (``usage.rewrite_counted``)."""
    from studio.cloud import usage

    return usage.rewrite_counted(Path(folder) / name, json.dumps(manifest, ensure_ascii=False).encode("utf-8"),
                                 atomic.write_unchecked)
