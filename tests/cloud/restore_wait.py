"""Waiting for a workspace's restore as a visitor does, for the public app's page tests: ``settled``."""

from __future__ import annotations

import time
from pathlib import Path

from studio.cloud import sync


def settled(at, kind: str = "account"):
    """``at`` once the restore of its workspace (``kind``: the account's, or the store's) in the sync's own thread has
    ended, done or failed, and the page has run again: what a visitor sees once the sidebar's *Restoring …* line is
    gone (the page is drawn again then). At once when no restore runs."""
    running = sync.current(Path(at.session_state["workspace.path"]), kind) if "workspace.path" in at.session_state \
        else None
    if running is None or running.prepared:
        return at
    deadline = time.time() + 60
    while time.time() < deadline and not running.prepared and running.state != "failed":
        time.sleep(0.05)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
