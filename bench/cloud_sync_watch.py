"""What the public app's sync watchers cost while nothing changes: many visitors' workspaces of a few hundred files
each, every watcher looking once (``INTERVAL_S``, 2 s, apart). Prints the CPU of one round of looks: every file
stat'ed (``WorkspaceSync.sync_once``, what the watcher did at each look before) against the watcher's ``tick`` (a
few stats; every file only when they changed, or once a minute).

    python bench/cloud_sync_watch.py --visitors 50 --files 300
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from studio.cloud import sync


def _workspace(folder: Path, files: int) -> None:
    for n in range(files):
        versions = folder / "datasets" / f"d{n // 30}" / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        (versions / f"{n:04d}.json").write_bytes(b"x" * 2000)


def _round_cpu(watchers: list[sync.WorkspaceSync], look, rounds: int = 5) -> float:
    start = time.process_time()
    for _ in range(rounds):
        for w in watchers:
            look(w)
    return (time.process_time() - start) / rounds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--visitors", type=int, default=50)
    parser.add_argument("--files", type=int, default=300)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sync-watch-"))
    try:
        watchers = []
        for v in range(args.visitors):
            _workspace(base / f"u-{v:032d}", args.files)
            w = sync.WorkspaceSync(base / f"u-{v:032d}", "bench/none", "unused")
            w.state, w._last_signal, w._looked_at = "synced", w._signal(), time.time()  # as after its last commit
            w._current()
            watchers.append(w)
        full = _round_cpu(watchers, lambda w: w._current())
        cheap = _round_cpu(watchers, lambda w: w.tick())
        every = sync.INTERVAL_S
        print(f"{args.visitors} visitors x {args.files} files, one look each every {every:g} s:")
        print(f"  every file stat'ed: {full * 1000:7.1f} ms CPU a round = {full / every:6.1%} of a core")
        print(f"  tick (nothing changed): {cheap * 1000:7.1f} ms CPU a round = {cheap / every:6.1%} of a core"
              f"  ({full / max(cheap, 1e-9):.0f}x less)")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
