"""A public deployment's page side: whose workspace this session uses, sign-in, what the visitor's own Hugging Face
token does (their workspace back from its repo, and its sync), and the deployer's token kept to Inference Providers.
The sidebar that shows all this to the visitor is ``studio.ui.cloud_panel``; the deployment's settings (tenancy, the
``[studio]`` limits) are read by ``studio.ui.cloud_settings``, and browsers without cookies bounded by
``studio.ui.cookieless``."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from studio import config, jobs
from studio.cloud import handoff, limits, store, sync, workspaces
from studio.data import import_folders
from studio.errors import MissingTokenError, StudioError
from studio.ui import cloud_settings, cookieless, streamlit_internals

PATH = "workspace.path"  # this session's workspace folder
ANON = "workspace.anon"  # the anonymous folder this session started with
ACCOUNT = "workspace.account"  # the folder of the Hub account whose token this session gave
LINK = "workspace.sync"  # {"key": token and repo digest, "repo": repo_id} once connected
FAILED = "workspace.sync_failed"  # (key, message, the token itself refused): a token/repo pair that was refused, not
# retried each run
UNCHECKED = "workspace.token_unchecked"  # the token and repo digest whose check could not reach the Hub on this run
TOKEN = "auth.hf_token"  # the visitor's own token (the same field as the Chat page's)
REPO = "workspace.repo"
STORE_ERROR = "workspace.store_error"  # the one line saying why the deployment's store is not used
MOVE_NOTE = "workspace.move_note"  # one line on a conversation that did not all move into the kept workspace
HANDOFF = "workspace.handoff_taken"  # this session looked for what the tab made before signing in
TAB = "workspace.tab"  # this session's own id: which tab moved the browser's work (MOVED_NOTE_FILE)

MOVED_NOTE_FILE = ".moved-out"  # in the browser's anonymous workspace whose work moved into a kept one
MOVED_TOKEN = ("What this browser made here moved into the workspace kept with the Hugging Face token given in it: "
               "give the same token below to open it here too.")
MOVED_SIGN_IN = ("What this browser made here moved into the workspace of the account signed in with it: sign in to "
                 "open it (or reload this tab, where another tab is signed in now).")
# what the tab that moved the work reads once it left the kept workspace (signed out, or forgot the token)
LEFT_TOKEN = "What this browser made here is in the workspace kept with your Hugging Face token: give it below to open it."
LEFT_SIGN_IN = "What this browser made here is in your account's workspace: sign in to open it."

_configured_upload_mb: int | None = None  # server.maxUploadSize as configured, before the public app's limit
_deployer_token: str | None = None  # moved out of the environment so no library call picks it up implicitly
_last_clean = 0.0
_sessions: dict[str, set[str]] = {}  # browser session id -> the workspaces it used: never removed to make room
_sessions_lock = threading.Lock()
_sessions_pruned_at = 1_000  # closed sessions are forgotten when the count passes this (then twice what stayed)


def _resolve() -> Path | None:
    if not streamlit_internals.in_script_run():  # a worker thread: it carries its own (config.bound)
        return None
    value = st.session_state.get(PATH)
    return Path(value) if value else None


def _check_room(path: Path, nbytes: int) -> Callable[[], None] | None:
    ws = workspaces.owner(path)
    if ws is None:
        return None
    return workspaces.check_save(ws, cloud_settings.limit_bytes(workspaces.is_anonymous(ws)), path, nbytes,
                                 lambda adding: workspaces.make_room_on_server(ws, adding, cloud_settings.total_bytes(),
                                                                               _in_use())[1])


def _fits(path: Path, adding: int) -> None:
    """What ``_check_room`` would raise for ``adding`` more bytes in ``path``'s workspace, reserving and removing
    nothing (``config.fits``: a restore asks before it downloads)."""
    ws = workspaces.owner(path) or (Path(path) if Path(path).parent == workspaces.root() else None)
    if ws is None:
        return
    workspaces.fits(ws, cloud_settings.limit_bytes(workspaces.is_anonymous(ws)), adding)
    workspaces.fits_on_server(ws, adding, cloud_settings.total_bytes(), _in_use())


def _in_use() -> set[Path]:
    """The workspaces a live browser session uses now (where the server cannot tell, every one it served)."""
    with _sessions_lock:  # no server (None): every one counts as in use
        _forget_closed()
        return {Path(p) for paths in _sessions.values() for p in paths}


def _forget_closed() -> None:
    """Drop the sessions that ended (where Streamlit cannot tell, those that ran no page for
    ``streamlit_internals.UNTOLD_OPEN_S``); under ``_sessions_lock``."""
    for sid in [sid for sid in _sessions if streamlit_internals.session_connected(sid) is False]:
        del _sessions[sid]


def _record_session(path: Path) -> None:
    global _sessions_pruned_at
    sid = streamlit_internals.session_id()
    if sid is not None:
        with _sessions_lock:
            _sessions.setdefault(sid, set()).add(str(path))
            if len(_sessions) > _sessions_pruned_at:  # a server that never runs short of room forgets them too
                _forget_closed()
                _sessions_pruned_at = max(1_000, 2 * len(_sessions))


def _limit_of(path: Path) -> tuple[int, int] | None:
    ws = workspaces.owner(path) or (Path(path) if Path(path).parent == workspaces.root() else None)
    if ws is None:
        return None
    return cloud_settings.limit_bytes(workspaces.is_anonymous(ws)), cloud_settings.total_bytes()


def signed_in() -> tuple[str, str, str] | None:
    """(issuer, subject, display name) of a signed-in visitor."""
    if cloud_settings.auth_providers() is None:
        return None
    try:
        user = st.user
        if not user.get("is_logged_in"):
            return None
        subject = str(user.get("sub") or user.get("email") or "")
        if not subject:
            return None
        return str(user.get("iss") or ""), subject, str(user.get("name") or user.get("email") or "signed in")
    except Exception:
        return None


def _workspace() -> Path:
    who = signed_in()
    if who is not None:
        kept = workspaces.signed_in(who[0], who[1])
        before = st.session_state.pop(ANON, None)  # signed in mid-session: what the tab made moves in
        if not before and not st.session_state.get(HANDOFF):  # back from the provider's page: a new session
            st.session_state[HANDOFF] = True
            secret = browser_secret()
            before = handoff.take(secret) if secret else None
        if before and Path(before).is_dir():
            move_in(Path(before), kept)
        return kept
    if st.session_state.get(ACCOUNT):
        return Path(st.session_state[ACCOUNT])
    if not st.session_state.get(ANON):  # this browser's: a reload or another tab comes back to it
        st.session_state[ANON] = str(_new_anonymous())
    return Path(st.session_state[ANON])


def _new_anonymous() -> Path:
    """This browser's anonymous workspace; for a browser without cookies (every page load a new session with nothing
    that brings it back) a new one, at most ``cookieless_per_hour`` of those an hour for all such browsers together:
    past that the page stops with one line, and nothing is made (``cookieless.refusal``)."""
    secret = browser_secret()
    if not secret and cookieless.cookies_given() and (line := cookieless.refusal()) is not None:
        st.error(line, icon=":material/error:")
        _way_in()
        st.stop()
    return workspaces.anonymous(secret)


def _way_in() -> None:
    """What still lets a browser refused a new anonymous workspace in (the sidebar that offers it is not drawn): sign-in,
    or its Hugging Face token, which opens the account's own workspace (the sidebar then connects its repo)."""
    from studio import ui

    for name in cloud_settings.auth_providers() or []:
        if st.button(f"Sign in with {name.capitalize()}" if name else "Sign in", key=f"workspace.login.{name}"):
            sign_in(name)
    token = ui.secret_field("Your Hugging Face token", TOKEN, help="Kept in this session only. With it your workspace "
                            "is kept in a private dataset repo on your account and restored on your next visit.")
    if token is None:
        return
    try:
        account = sync.identify(token)
    except StudioError as exc:  # a refused token, or the Hub out of reach: said, tried again at the next click
        ui.show_error(" ".join(str(exc).split()))
        return
    st.session_state[ACCOUNT] = str(workspaces.hub_account(account.id))
    st.rerun()


def move_in(source: Path, target: Path) -> None:
    """What an anonymous workspace made moves into the visitor's kept one, and the anonymous one goes, unless
    something in it could not move (then it stays, and the sidebar says so)."""
    # a tab without the session cookie cannot come back to its workspace after a reload or a sign-out: only by
    # forgetting the token, which returns this tab to it (ANON is kept)
    stays = workspaces.STAYS_IN_BROWSER if browser_secret() else workspaces.STAYS_IN_TAB
    merged = workspaces.merge_into(source, target, stays)
    if not merged.keep_source:  # through the server's total: its blocks stayed counted there once gone
        workspaces.remove([source])
    if browser_secret() and merged.moved:  # the browser's other tabs still open it: tell them where the work went
        moved = MOVED_TOKEN if workspaces.hub_account_folder(target) else MOVED_SIGN_IN
        workspaces.touch(source)
        note = {"text": moved, "to": target.name, "by": _session_id()}
        (source / MOVED_NOTE_FILE).write_text(json.dumps(note), encoding="utf-8")
    say_merged(merged)


def _browser_note() -> tuple[Path | None, dict]:
    """(the note file in this browser's anonymous workspace, its fields); (None, {}) where there is no readable one."""
    secret = browser_secret()
    if not secret:
        return None, {}
    note_file = workspaces.anonymous(secret) / MOVED_NOTE_FILE
    try:
        note = json.loads(note_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, {}
    return (note_file, note) if isinstance(note, dict) else (None, {})


def leaving_kept(kept: Path) -> None:
    """The visitor leaves the kept workspace their browser's work moved into (Sign out, Forget): the note the
    browser's anonymous workspace shows says from now on only what stays true ("… is in your account's workspace:
    sign in to open it"), whichever tab reads it next (after a sign-out, a new session)."""
    note_file, note = _browser_note()
    if note_file is not None and note.get("to") == Path(kept).name:
        note["text"] = LEFT_TOKEN if workspaces.hub_account_folder(kept) else LEFT_SIGN_IN
        note_file.write_text(json.dumps(note), encoding="utf-8")


def moved_note(path: Path) -> str | None:
    """What the note in an anonymous workspace says about where this browser's work went (None where there is none)."""
    try:
        raw = (Path(path) / MOVED_NOTE_FILE).read_text(encoding="utf-8")
    except OSError:
        return None
    try:
        note = json.loads(raw)
        if note.get("by") and note["by"] == _session_id():  # this tab moved it, and has left the kept workspace since
            return LEFT_TOKEN if note["text"] in (MOVED_TOKEN, LEFT_TOKEN) else LEFT_SIGN_IN
        return str(note["text"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return raw


def _followed_moved_note(kept: Path) -> None:
    """The visitor opened the kept workspace their browser's work moved into, in a tab other than the one that moved
    it: the note telling the browser's tabs where the work went has done its work, and goes (a tab opened later
    starts clean, as a browser that never moved anything does)."""
    if workspaces.is_anonymous(kept):
        return
    note_file, note = _browser_note()
    if note_file is not None and note.get("to") == kept.name and note.get("by") != _session_id():
        note_file.unlink(missing_ok=True)


def _session_id() -> str:
    """This session's own id (a tab's: a reload is a new one)."""
    if not st.session_state.get(TAB):
        st.session_state[TAB] = secrets.token_hex(8)
    return st.session_state[TAB]


def say_merged(merged: workspaces.Merged) -> None:
    from studio.ui.dataset_drafts import carry_renamed

    carry_renamed(merged.renamed or {})  # the tab's unsaved edits follow a dataset moved in under a new id
    if merged.note:
        st.session_state[MOVE_NOTE] = merged.note


def browser_secret() -> str | None:
    try:
        return handoff.browser_secret(st.context.cookies.get("_streamlit_xsrf"))
    except Exception:  # no browser (a script run without one)
        return None


def sign_in(name: str) -> None:
    """Leave for the provider's page; what this tab made moves into the signed-in workspace on return."""
    anon = st.session_state.get(ANON)
    secret = browser_secret()
    if anon and secret and Path(anon).is_dir():
        handoff.give(secret, Path(anon))
    st.login(name) if name else st.login()


def _cap_uploads(mb: int | None) -> None:
    """One server serves every visitor: bound the upload size it accepts (checked on every upload request, so
    a request sent around the browser's own check is refused too; the uploader's caption shows the limit).
    None: the configured limit again (tenancy off)."""
    global _configured_upload_mb
    current = st.get_option("server.maxUploadSize")
    if _configured_upload_mb is None:
        _configured_upload_mb = current
    wanted = _configured_upload_mb if mb is None else mb
    if current != wanted:
        streamlit_internals.set_upload_limit_mb(wanted, "studio.ui.cloud (the public app's limit)")


def setup() -> None:
    """Every page run: decide tenancy, and under it point ``config.home()`` at this visitor's workspace."""
    global _deployer_token, _last_clean
    if (line := cloud_settings.tenancy_refused()) is not None:
        st.error(line, icon=":material/error:")
    if not cloud_settings.tenancy_on():
        config.set_tenancy(False)
        cloud_settings.configure_previews()
        jobs.set_caps()
        if _configured_upload_mb is not None:
            _cap_uploads(None)
        return
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):  # kept for Inference Providers calls only (deployer_token)
        value = os.environ.pop(var, None)
        if value and value.strip():
            _deployer_token = value.strip()
    if cloud_settings.forced() is None and streamlit_internals.runs_cloud_entry() is None:
        st.warning(cloud_settings.ENTRY_UNKNOWN, icon=":material/info:")
    config.set_tenancy(True, _resolve, _check_room, _limit_of, _fits, workspaces.count_made)
    cloud_settings.configure_previews()
    limits_, refused = cloud_settings.deployment_limits()
    for line in refused:
        st.error(line, icon=":material/error:")
    config.set_private_servers(limits_.private_servers)
    jobs.set_caps(limits_.jobs_per_visitor, limits_.jobs_total, _job_group)
    _cap_uploads(limits_.upload_mb)
    path = _workspace()
    st.session_state[PATH] = str(path)
    _record_session(path)
    _followed_moved_note(path)
    workspaces.touch(path)
    if time.time() - _last_clean > 600:
        _last_clean = time.time()
        workspaces.clean_idle(cloud_settings.idle_hours())
        import_folders.sweep()  # the Hub downloads of Import tabs closed with a preview
    if signed_in() is not None:
        _keep_in_store(path)
    for kind in ("account", "store"):
        running = sync.current(path, kind)
        if running is not None:
            running.poke()


def _job_group() -> str | None:
    """Every browser without cookies is one visitor for background jobs as for the deployer's token
    (``cookieless.COOKIELESS``): each of its page loads is a new anonymous workspace, which had an allowance of its own.
    Asked by ``jobs`` as a job starts, on the page's own thread (elsewhere: None, the workspace's own allowance). Where
    Streamlit gives no browser its cookie (``cookieless.cookies_given``) each tab's workspace keeps its own allowance,
    as ``visitor_key`` counts it."""
    if not streamlit_internals.in_script_run():
        return None
    path = st.session_state.get(PATH)
    if path and workspaces.is_anonymous(Path(path)) and visitor_key() == cookieless.COOKIELESS:
        return cookieless.COOKIELESS
    return None


def _store_config() -> store.StoreConfig | None:
    try:
        config_ = store.StoreConfig.from_settings(cloud_settings.studio_setting("store", None))
    except StudioError as exc:
        st.session_state[STORE_ERROR] = " ".join(str(exc).split())
        return None
    st.session_state.pop(STORE_ERROR, None)
    return config_


def _keep_in_store(path: Path) -> None:
    """A signed-in visitor's workspace in the deployment's store: brought back from the first page run of this
    server by the sync's own thread (the page draws at once; the sidebar says how many files are coming, and the page
    is drawn again when they are here; a failure keeps what is here, says so, and is retried), then every save
    committed within seconds."""
    config_ = _store_config()
    if config_ is None:
        return
    store.keep(path, config_)


def restoring() -> bool:
    """A sync of this visitor's workspace is still bringing it back (in its own thread): a new workspace's sample waits,
    as the visitor's own datasets (or their choice to delete the sample) may be what comes."""
    path = st.session_state.get(PATH)
    return bool(path) and any(s is not None and not s.prepared for s in (sync.current(Path(path)),
                                                                          sync.current(Path(path), "store")))


CHANGED = "changed"  # what ``held_by_restore`` holds once the visitor changed what a page keeps during the restore


def held_by_restore(key: str, seen: object) -> bool:
    """Whether a page keeps nothing now (the Chat settings, the Evaluate form): a restore is bringing the workspace back
    and the visitor changed nothing since the page first ran during it (``seen``: what it would keep, held under
    ``key``; ``CHANGED`` once it differs), so the repo's copy, on its way, is the one kept."""
    if not restoring():
        return False
    if st.session_state.setdefault(key, seen) == seen:
        return True
    st.session_state[key] = CHANGED
    return False


def read_again_after_restore(key: str, kept: Path) -> bool:
    """True once, when the restore a page was held by (``held_by_restore`` under ``key``) has ended, the visitor
    changed nothing meanwhile and ``kept`` came: the page reads what it keeps again (drops its values)."""
    held = st.session_state.get(key)
    if held is None or restoring():
        return False
    del st.session_state[key]
    return held != CHANGED and kept.exists()


def restoring_line() -> str | None:
    """Home's line while this visitor's workspace is still coming back (None once every restore ended): where from,
    and how far, with the counts the sidebar shows."""
    path = st.session_state.get(PATH)
    if not path:
        return None
    for kind in ("account", "store"):
        running = sync.current(Path(path), kind)
        if running is None or running.prepared:
            continue
        where = running.where if kind == "account" else "this app's store"
        if running.state == "failed":
            return (f"Part of your workspace kept in {where} has not come back yet: Your workspace in the sidebar says "
                    "why. Datasets are listed here as they come.")
        done, total = running.restoring or (0, 0)
        counted = f": {done:,} of {total:,} files here so far" if total else ""
        return f"Your workspace is being restored from {where}{counted}. Datasets are listed here as they come."
    return None


def visitor_token() -> str | None:
    """The token this visitor typed (never the deployer's)."""
    value = st.session_state.get(TOKEN)
    return value.strip() if isinstance(value, str) and value.strip() else None


def deployer_token() -> str | None:
    return config.hf_token(cloud_settings.app_secrets()) or _deployer_token


def digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def visitor_key() -> str:
    """Who a request on the deployer's token (or a list of a server's models) counts for: a signed-in account, else the
    browser (its tabs and reloads share one count: a reload starts a new anonymous workspace, not a new minute's
    allowance); every browser without cookies is one visitor (``cookieless.COOKIELESS``): each of its page loads is a
    new session, which counted as a new visitor with a fresh allowance. Where Streamlit gives no browser the cookie
    (``cookieless.cookies_given``), each tab's workspace is the visitor."""
    who = signed_in()
    if who:
        return f"user:{who[0]}:{who[1]}"
    secret = browser_secret()
    if secret:
        return f"browser:{digest(secret)}"
    if cookieless.cookies_given():
        return cookieless.COOKIELESS
    return f"ws:{st.session_state.get(PATH)}"  # no cookie for anyone: per tab


@st.cache_resource(show_spinner=False)
def _limit(rpm: int, everyone: bool = False) -> limits.MinuteLimit:
    """One limit per process, shared by every session (it counts per visitor, or all of them together)."""
    return limits.MinuteLimit(rpm, everyone=everyone)


def spend_inference(requests: int) -> None:
    """Count ``requests`` Inference Providers calls made with the deployer's token (raises when over the
    visitor's share or the app's total, counting nothing then)."""
    if requests > 0 and not visitor_token() and deployer_token():
        limits_ = cloud_settings.in_force()
        mine = _limit(limits_.inference_rpm)
        total = _limit(limits_.inference_rpm_total, everyone=True)
        key = visitor_key()
        mine.check(key, requests)
        total.take("everyone", requests)
        mine.take(key, requests)


def token_note() -> tuple[str, str | None]:
    """Home's word on tokens for a visitor: what the Hub token metric shows, and the line saying what their
    own token adds (None once they gave it, unless the Hub refused it: then what to do)."""
    token = visitor_token()
    if token:
        failed = st.session_state.get(FAILED)
        repo_name = (st.session_state.get(REPO) or sync.REPO_NAME).strip()
        instead = " or Forget it to go on with this app's token" if deployer_token() else " or Forget it"
        if st.session_state.get(UNCHECKED) == digest(token, repo_name):  # "yours" read as if it had been checked
            return "not checked", ("The Hub could not be reached to check the token you gave: it is checked again at "
                                   "your next click; until then your workspace is not kept with it.")
        # "yours" under the sidebar's "That Hugging Face token was refused" read as if it worked; so it did where the
        # Hub refused the token (revoked) or its access to the repo (taken away) after the studio accepted it
        running = sync.current(Path(st.session_state[PATH])) if st.session_state.get(PATH) else None
        refused = running.refused if running is not None and running.same(running.repo_id, token, running.prefix) \
            and running.state == "failed" else None
        if refused == "access":
            return "refused", (f"The Hub no longer lets the token you gave write to {running.where}: your work here is "
                               "kept but no longer synced. Give a token with write access to it in Your workspace in "
                               f"the sidebar (huggingface.co/settings/tokens),{instead}.")
        if refused == "token" or (failed and len(failed) > 2 and failed[2] and failed[0] == digest(token, repo_name)):
            kept = " Your work here is kept but no longer synced." if refused else ""
            return "refused", ("The Hub refused the token you gave (wrong, expired or revoked): nothing it would do "
                               f"works.{kept} Copy it again from huggingface.co/settings/tokens into Your workspace in "
                               f"the sidebar,{instead}.")
        if failed and failed[0] == digest(token, repo_name):  # accepted, but its repo refused (a name the Hub refuses,
            # a read-only token): "yours" alone, and no line, read as if the workspace were kept with it
            # (a name changed after the token opened a repo: that repo's sync goes on, and the line says so)
            still = running is not None and running.same(running.repo_id, token, running.prefix)
            kept = (f"your workspace is still kept in {running.where}, not in the repo named" if still else
                    "your workspace is not kept with it")
            return "yours", (f"Your token serves hosted models, but {kept}: {failed[1]} (Your workspace in the "
                             "sidebar).")
        return "yours", None
    if deployer_token():
        rpm = cloud_settings.in_force().inference_rpm
        return "this app's", (f"Hosted models on the Chat page use this app's token ({rpm} requests a minute for you); "
                              "give your own Hugging Face token under Your workspace in the sidebar to push datasets, "
                              "evaluate hosted models and keep your workspace across restarts.")
    return "not set", ("Hosted models need a Hugging Face token here: give yours under Your workspace in the sidebar; it "
                       "also lets you push datasets, evaluate hosted models and keep your workspace across restarts.")


def refuse(action: str) -> None:
    """Raise the one line that says ``action`` needs the visitor's own token."""
    # "serves only Inference Providers calls" contradicted itself when it refused an evaluation of hosted models,
    # which are Inference Providers calls: what the token serves is the Chat page's questions.
    raise MissingTokenError(f"{action} needs your own Hugging Face token: on this public app the deployment's token "
                            "serves only questions asked on the Chat page. Give yours under Your workspace in the "
                            "sidebar.")


def connect(token: str, repo_name: str) -> None:
    """The visitor gave their token: their workspace kept in ``repo_name`` on their account comes back (into the
    signed-in workspace, else their account's; in the sync's own thread), what this tab made moves in, and its sync
    starts. Raises
    ``StudioError`` in one line (a refused token or repo; ``NetworkError`` where the Hub cannot be reached)."""
    account = sync.identify(token)
    repo_id = sync.open_repo(token, account, repo_name)
    here = Path(st.session_state[PATH])
    target = here if signed_in() is not None else workspaces.hub_account(account.id)
    workspaces.ensure(target)  # counted in every workspace's total where it is new
    running = sync.current(target)
    if running is None or not running.same(repo_id, token) or not running.prepared:
        # the repo's datasets keep their ids: what this tab made moves in beside them under ids of its own
        sync.reserve_names(token, repo_id, target)
    if target != here:
        if workspaces.is_anonymous(here):
            move_in(here, target)
        else:
            say_merged(workspaces.merge_into(here, target))
        st.session_state[ACCOUNT] = str(target)
        st.session_state[PATH] = str(target)
    st.session_state[LINK + ".repo"] = repo_id
    # the restore runs in the sync's own thread, as a restart's does (the page draws at once; the sidebar counts what
    # comes; the page is drawn again when it is here); nothing is committed before it ended
    running = sync.start(target, repo_id, token, restore_first=True)
    if running.refused:  # its last commit was refused, and the Hub has just accepted the token (its access given back,
        # or given again in another tab): Home said "refused" until the sync's next try, up to a minute later
        running.refused = None
        running.retry_now()
