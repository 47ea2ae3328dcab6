"""What the studio asks of Streamlit's internal API, in one place: nothing else in the studio imports
``streamlit.runtime`` or sets a server option while the server runs (``tests/test_layout.py`` checks).

Streamlit has no public API for these (checked against Streamlit 1.67.0, the version ``requirements.lock`` and
``cloud/requirements.txt`` pin; ``CHECKED_WITH``, which a test holds to them): which browser session a script run
serves, whether that session is still connected, which script ``streamlit run`` started, and changing
``server.maxUploadSize`` on a running server (``st.set_option`` refuses every option but ``client.*``; reading it is
public, ``st.get_option``). ``st.context`` says none of them. Internal names move between versions, so each function
here answers a safe value where a name is missing or raises (a newer Streamlit), instead of a traceback on the page:

- ``session_id``: a made-up id kept for the session, which ``session_connected`` counts as Streamlit's own where it
  cannot tell; made and read only on the thread that runs a page (``SCRIPT_THREAD``, or the main thread of AppTest or a
  bare script). Elsewhere (a worker thread, a deferred download's callable) None: there ``st.session_state`` is one
  stand-in shared by every session, so an id kept in it was one id for every visitor's worker threads. A worker that
  needs its session's id gets it from the page run that starts it, as an argument.
- ``session_connected``: True for a session that ran its page in the last ``UNTOLD_OPEN_S`` (it counts as open: its
  tab's unsaved edits are kept, its workspace is not removed to make room, its answer is not stopped); False after
  that, or for one this server never saw run, so what is kept per session (``cloud._sessions``,
  ``dataset_drafts._tab_holders``) is forgotten and does not grow with every session a long-running server serves.
- ``in_script_run``: whether this is the thread that runs a page, as ``session_id`` tells it (the caller then reads
  ``st.session_state``, which outside a script run is one stand-in every session shares).
- ``app_folder``: None (the app's folder is not pinned on ``sys.path``).
- ``runs_cloud_entry``: None, for which tenancy is on (each visitor their own workspace, never the server's one).
- ``set_upload_limit_mb``: False (the configured limit stays; the studio's own check refuses bigger imports).
- ``made_when_pressed``: the file stays until Streamlit's own clean-up takes it (the end of the second page run of any
  session after the click).
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

T = TypeVar("T")

CHECKED_WITH = "1.67.0"  # the Streamlit version these reaches were checked against (requirements.lock)
MADE_UP = "studio-made:"  # prefix of a session id made here where Streamlit could not give its own
_FALLBACK_KEY = "session.made_up_id"
SCRIPT_THREAD = "ScriptRunner.scriptThread"  # the name Streamlit gives the thread that runs a page (CHECKED_WITH)
UNTOLD_OPEN_S = 3600  # where Streamlit cannot say whether a session is connected: counted open this long after its
# last page run (a tab left unused for an hour then counts as closed; Streamlit's own answer, where it gives one, holds)

DOWNLOAD_KEPT_S = 60.0  # a file a download button made when pressed stays at its /media address at most this long
# (the browser fetches it at once; Streamlit's own clean-up may take it sooner, at the second page run of any session)

_pressed: dict[bytes, int] = {}  # a pressed download's content hash -> its presses still within DOWNLOAD_KEPT_S
_pressed_lock = threading.Lock()
_clock = time.monotonic
_seen: dict[str, float] = {}  # session id -> its last page run (``session_id``), the oldest first
_seen_lock = threading.Lock()


def _saw(session_id: str) -> None:
    """``session_id`` ran its page now; sessions unseen for ``UNTOLD_OPEN_S`` are forgotten (they count as closed)."""
    now = _clock()
    with _seen_lock:
        _seen.pop(session_id, None)  # to the end: the dict stays in the order of last runs
        _seen[session_id] = now
        while _seen:
            oldest = next(iter(_seen))
            if now - _seen[oldest] <= UNTOLD_OPEN_S:
                break
            del _seen[oldest]


def _seen_lately(session_id: str) -> bool:
    with _seen_lock:
        last = _seen.get(session_id)
    return last is not None and _clock() - last <= UNTOLD_OPEN_S


def _ctx():  # noqa: ANN202 - Streamlit's ScriptRunContext, an internal type
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return get_script_run_ctx(suppress_warning=True)


def _page_thread() -> bool:
    """Whether this thread runs a page, where Streamlit's script-run context cannot say: Streamlit's script thread, or
    the main thread (AppTest runs a page there; a bare script has no other)."""
    thread = threading.current_thread()
    return thread is threading.main_thread() or thread.name == SCRIPT_THREAD


def session_id() -> str | None:
    """Streamlit's id for the browser session whose script run calls this (every page run does: ``ui.page_setup``);
    None outside a script run (a worker thread, a bare script). Where Streamlit cannot say: an id made once for this
    session (``MADE_UP``...), which ``session_connected`` counts as connected while the session runs its page, so no
    other tab takes its place; None off the page's thread (a worker: it has no way to know whose session it serves, so
    it gets no id rather than one every session's workers would share)."""
    sid = None
    try:
        ctx = _ctx()
        if ctx is None:
            return None
        sid = ctx.session_id
    except Exception:  # noqa: BLE001 - any failure of an internal API: the safe answer below
        if not _page_thread():
            return None
    if not isinstance(sid, str) or not sid:
        if not st.session_state.get(_FALLBACK_KEY):
            st.session_state[_FALLBACK_KEY] = MADE_UP + secrets.token_hex(8)
        sid = st.session_state[_FALLBACK_KEY]
    _saw(sid)
    return sid


def session_connected(session_id: str) -> bool | None:
    """Whether browser session ``session_id`` is still connected to this server; None where no server runs in this
    process (a bare script, the command line). Where Streamlit cannot tell (the internal API is missing, raises, or
    answers neither True nor False, as AppTest's stand-in runtime does) or the id was made here: whether the session
    ran its page in the last ``UNTOLD_OPEN_S``."""
    if session_id.startswith(MADE_UP):
        return _seen_lately(session_id)
    try:
        from streamlit.runtime import Runtime

        if not Runtime.exists():
            return None
        answer = Runtime.instance().is_active_session(session_id)
    except Exception:  # noqa: BLE001 - any failure of an internal API: as said above
        return _seen_lately(session_id)
    return answer if isinstance(answer, bool) else _seen_lately(session_id)


def in_script_run() -> bool:
    """Whether this thread runs a page's script (False in a worker thread); where Streamlit cannot tell, whether it is
    the thread Streamlit runs pages on (``_page_thread``)."""
    try:
        return _ctx() is not None
    except Exception:  # noqa: BLE001
        return _page_thread()


def app_folder() -> str | None:
    """The folder of the script ``streamlit run`` started (Streamlit puts it on ``sys.path`` for each run); None
    outside a script run and where Streamlit cannot say."""
    try:
        ctx = _ctx()
        path = getattr(ctx, "main_script_path", None) if ctx is not None else None
        return os.path.dirname(os.path.abspath(path)) if isinstance(path, str) and path else None
    except Exception:  # noqa: BLE001
        return None


def runs_cloud_entry() -> bool | None:
    """Whether this run's script is the Community Cloud entry point (``cloud/Home.py``, a folder named ``cloud``);
    False outside a script run; None where Streamlit cannot say which script runs (``cloud_settings.tenancy_on`` then
    turns tenancy on, each visitor in their own workspace, never the server's one, and the page says how to turn it
    off)."""
    try:
        ctx = _ctx()
        if ctx is None:
            return False
        path = ctx.main_script_path
    except Exception:  # noqa: BLE001
        return None
    if not isinstance(path, str) or not path:
        return None
    return os.path.basename(os.path.dirname(os.path.abspath(path))) == "cloud"


def set_upload_limit_mb(mb: int, why: str) -> bool:
    """Set ``server.maxUploadSize`` on the running server (checked on every upload request); False where Streamlit
    refuses: the configured limit stays, and the studio's own size check refuses a bigger import after upload."""
    try:
        from streamlit import config as st_config

        st_config.set_option("server.maxUploadSize", mb, where_defined=why)
        return st.get_option("server.maxUploadSize") == mb
    except Exception:  # noqa: BLE001
        return False


def made_when_pressed(make: Callable[[], T]) -> Callable[[], T]:
    """``make`` as a download button's data: run when the button is pressed (no file at a /media address before), and
    the file it makes taken out of Streamlit's media store ``DOWNLOAD_KEPT_S`` later. Streamlit serves that address to
    anyone who has it, without asking whose session it is, and keeps a pressed download's file until two page runs of
    any session have ended since: on a quiet server, for hours. Only that file is taken (``_forget_download``): the
    files other visitors' presses made just before stay for their browsers to fetch."""

    @functools.wraps(make)
    def run() -> T:
        data = make()
        content = data.encode() if isinstance(data, str) else data  # as Streamlit stores it (download_data_util)
        if isinstance(content, bytes):  # other kinds (a stream) stay until Streamlit's own clean-up
            digest = hashlib.sha256(content).digest()
            with _pressed_lock:
                _pressed[digest] = _pressed.get(digest, 0) + 1
            timer = threading.Timer(DOWNLOAD_KEPT_S, _forget_download, args=(digest,))
            timer.daemon = True
            timer.start()
        return data

    return run


def _forget_download(digest: bytes) -> None:
    """Take out of Streamlit's media store the downloaded file whose content hashes to ``digest``, unless a session
    shows it or a press made the same file since (two visitors exporting the same sample: one file, one address; the
    last press's minute counts). Not Streamlit's own clean-up (``remove_orphaned_files``) run twice, which took every
    pressed download's file at once: another visitor's, made a moment before, was gone before their browser fetched it."""
    with _pressed_lock:
        _pressed[digest] -= 1
        if _pressed[digest]:
            return
        del _pressed[digest]
    try:
        from streamlit.runtime import Runtime
        from streamlit.runtime.media_file_storage import MediaFileKind

        if not Runtime.exists():
            return
        manager = Runtime.instance().media_file_mgr
        with manager._lock:
            for file_id in manager._get_inactive_file_ids():
                if manager._file_metadata[file_id].kind != MediaFileKind.DOWNLOADABLE:
                    continue
                stored = manager.read_file(file_id)
                if stored is not None and hashlib.sha256(stored.content).digest() == digest:
                    manager._delete_file(file_id)
    except Exception:  # noqa: BLE001 - any failure of an internal API: the file stays until Streamlit's own clean-up
        pass
