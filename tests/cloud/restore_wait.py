"""Waiting for a workspace's restore as a visitor does, for the public app's page tests: ``settled``."""

from __future__ import annotations

import time
from pathlib import Path

from studio.cloud import sync

WAIT_S = 120  # a restore of a few files takes seconds; a loaded CI (4 processes on 2 cores) takes many more


def ended(running: sync.WorkspaceSync, failures_before: int) -> bool:
    """Whether the restore of ``running`` has really ended: done; or failed in a way no try of its own changes (it
    waits on the visitor: room to free, a token refused, a repo gone); or failed again on the try after a failure
    (the Hub is down, not a blip). One failure retried by itself is not an end: under load a restore whose first
    try failed was read as ended, the page drawn without what its retry brought a moment later. ``failures_before``:
    the sync's failed tries when the wait began."""
    if running.prepared:
        return True
    if running.state != "failed":
        return False
    return running.next_try_s() is None or running._failures > max(failures_before, 1)


def settled(at, kind: str = "account"):
    """``at`` once the restore of its workspace (``kind``: the account's, or the store's) in the sync's own thread has
    ended (``ended``), and the page has run again: what a visitor sees once the sidebar's *Restoring …* line is gone
    (the page is drawn again then). At once when no restore runs."""
    running = sync.current(Path(at.session_state["workspace.path"]), kind) if "workspace.path" in at.session_state \
        else None
    if running is None or running.prepared:
        return at
    failures_before = running._failures
    deadline = time.monotonic() + WAIT_S
    while not ended(running, failures_before):
        assert time.monotonic() < deadline, (f"the restore did not end in {WAIT_S} s: {running.state}, "
                                             f"{running.message}")
        time.sleep(0.05)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
