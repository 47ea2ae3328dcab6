"""What an anonymous tab made, handed over across the sign-in redirect.

``st.login`` leaves the page for the provider's and comes back to a new browser session, so the tab's
session state (which names its anonymous workspace) is gone on return. The browser itself stays: its
Streamlit XSRF cookie carries a random secret that only this browser holds. Before leaving, the tab
records its anonymous workspace under a hash of that secret; the first run signed in takes it (once,
within ``MAX_AGE_S``) and moves it into the signed-in workspace.

    STUDIO_HOME/visitors/.handoff/<hash of the browser's secret>   the anonymous folder's name
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from pathlib import Path

from studio import atomic
from studio.cloud import workspaces

MAX_AGE_S = 15 * 60  # a sign-in takes seconds; a handoff left behind (sign-in abandoned) is not taken later
_ANON = re.compile(r"a-[0-9a-f]{32}")


def browser_secret(xsrf_cookie: str | None) -> str | None:
    """The stable secret inside Streamlit's ``_streamlit_xsrf`` cookie (Tornado masks it anew on every page
    load: ``2|mask|masked token|timestamp``); None when there is no cookie or it cannot be read."""
    parts = (xsrf_cookie or "").strip().strip('"').split("|")
    try:
        if len(parts) == 4 and parts[0] == "2":
            mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
            token = bytes(b ^ mask[i % 4] for i, b in enumerate(masked))
        elif len(parts) == 1 and parts[0]:
            token = bytes.fromhex(parts[0])  # version 1: the token itself
        else:
            return None
    except ValueError:
        return None
    return token.hex() if len(token) >= 16 else None


def _file(secret: str) -> Path:
    return workspaces.root() / ".handoff" / hashlib.sha256(f"handoff\x00{secret}".encode()).hexdigest()[:32]


def give(secret: str, anonymous: Path) -> None:
    """Record that this browser's anonymous workspace ``anonymous`` is to move in once it signs in."""
    if not _ANON.fullmatch(Path(anonymous).name) or Path(anonymous).parent != workspaces.root():
        return
    _file(secret).parent.mkdir(parents=True, exist_ok=True)
    _forget_stale(_file(secret).parent)
    atomic.write_text(_file(secret), Path(anonymous).name)


def _forget_stale(folder: Path, now: float | None = None) -> None:
    """Remove records no sign-in took in time (sign-ins given up): they would never be taken, only pile up."""
    now = time.time() if now is None else now
    for record in folder.iterdir():
        with contextlib.suppress(OSError):
            if now - record.stat().st_mtime > MAX_AGE_S:
                record.unlink()


def take(secret: str, now: float | None = None) -> Path | None:
    """The anonymous workspace this browser handed over (removing the record), if any and recent."""
    path = _file(secret)
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
        name = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    with contextlib.suppress(OSError):
        path.unlink()
    folder = workspaces.root() / name
    if age > MAX_AGE_S or not _ANON.fullmatch(name) or not folder.is_dir():
        return None
    return folder
