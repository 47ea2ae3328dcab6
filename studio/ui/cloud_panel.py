"""The public app's sidebar panel, Your workspace: what this visitor's workspace is, sign-in and sign-out, Clear for an
anonymous one, their own Hugging Face token and the state of its sync. Whose workspace a session uses, and what
giving a token or signing in does to it, is ``studio.ui.cloud``'s."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from studio import config, jobs
from studio.cloud import sync, usage, workspaces
from studio.errors import NetworkError, StudioError
from studio.ui import cloud, cloud_settings, popovers


def _has_work(path: Path) -> bool:
    """Whether an anonymous workspace holds anything beyond the untouched sample."""
    for kind in ("datasets", "evals"):
        for item in (path / kind).glob("*") if (path / kind).is_dir() else ():
            if not item.name.startswith(".") and not (kind == "datasets" and workspaces.untouched_sample(item)):
                return True
    return False


def panel() -> None:
    """The sidebar's Your workspace: what this visitor's workspace is, sign-in, their token and its sync."""
    from studio import ui

    with st.sidebar:
        st.subheader("Your workspace")
        if st.session_state.get(cloud.MOVE_NOTE):
            st.warning(st.session_state[cloud.MOVE_NOTE], icon=":material/warning:")
        elif workspaces.is_anonymous(Path(st.session_state[cloud.PATH])):
            moved = cloud.moved_note(Path(st.session_state[cloud.PATH]))
            if moved:  # another tab of this browser moved its work into a kept workspace
                st.info(moved, icon=":material/drive_file_move:")
        who = cloud.signed_in()
        providers = cloud_settings.auth_providers()
        path = Path(st.session_state[cloud.PATH])
        kept = sync.current(path, "store")
        own = sync.current(path)  # this workspace's own repo, where this tab or another of the visitor gave a token
        if who is not None:
            if own is not None and kept is None:
                keeps = f" and restarts, in {ui.md(own.where)}."
            elif kept is None:
                keeps = "; give your Hugging Face token to keep it across restarts."
            elif kept.state == "failed":  # said below; until it works only a token keeps it across restarts
                keeps = "; this app's store, which keeps it across restarts, is failing (below)."
            else:
                keeps = " and restarts, in this app's store."
            signed = st.empty()  # filled once the token given (if any) was tried, as the anonymous caption is
            signed_in_as = (f"Signed in as {ui.md(who[2])}: your workspace (up to "
                            f"{usage.readable_size(cloud_settings.limit_bytes(anonymous=False))}) is yours alone and "
                            "kept across visits")  # its limit said before a save is refused, as an anonymous one's is
            # Streamlit keeps the sign-in in this browser for 30 days: closing the tab does not end it
            st.caption("On a shared computer, sign out when you leave: this browser stays signed in (for 30 days) "
                       "and the next person here would open your workspace.")
            if st.session_state.get(cloud.STORE_ERROR):
                st.warning(st.session_state[cloud.STORE_ERROR], icon=":material/cloud_off:")
            if st.button("Sign out", key="workspace.logout"):
                cloud.leaving_kept(path)
                st.logout()
        else:
            if workspaces.is_anonymous(path):
                keep = "sign in (what you made moves in) or give your Hugging Face token below" if providers else \
                    "give your Hugging Face token below"
                caption = st.empty()  # filled once the token given (if any) was tried: what it did is said there
                if cloud.browser_secret() is None:  # no session cookie: nothing ties a reload to this tab
                    anonymous = ("Private to this browser tab; up to "
                                 f"{usage.readable_size(cloud_settings.limit_bytes())}, gone after a reload or a "
                                 "restart {until}.")
                else:
                    anonymous = (f"Private to this browser: its tabs and reloads share it until the browser is closed. "
                                 f"Up to {usage.readable_size(cloud_settings.limit_bytes())}; removed after "
                                 f"{cloud_settings.idle_hours():g} h unused or a restart {{until}}.")
                    _clear_button(path)
            else:
                st.caption("Private to your Hugging Face account (the token you gave); up to "
                           f"{usage.readable_size(cloud_settings.limit_bytes(anonymous=False))}.")
            if providers and workspaces.is_anonymous(path) and cloud.browser_secret() is None and _has_work(path):
                st.warning("Signing in starts a new session here and what this tab made would stay behind: export "
                           "it first (Dataset page), or give your Hugging Face token below to keep it.",
                           icon=":material/warning:")
            for name in providers or []:
                if st.button(f"Sign in with {name.capitalize()}" if name else "Sign in", key=f"workspace.login.{name}"):
                    cloud.sign_in(name)
        ui.secret_field("Your Hugging Face token", cloud.TOKEN, help="Kept in this session only. With it your workspace is "
                        "kept in a private dataset repo on your account and restored on your next visit; pushes use it.")
        st.text_input("Workspace repo (on your account)", value=sync.REPO_NAME, max_chars=ui.SHORT_TEXT_CHARS, key=cloud.REPO,
                      help="A private dataset repo; created if missing, refused if it holds something else.")
        outcome = _connect_or_disconnect()
        unreachable = outcome == UNREACHABLE
        if who is not None:
            signed.caption(signed_in_as + ("; the Hub could not be reached to keep it across restarts with the token "
                                           "you gave (tried again at your next click)." if unreachable and own is None
                                           and kept is None else
                                           "; the token you gave keeps nothing yet: the line below says why and what "
                                           "to do." if outcome == REFUSED and own is None and kept is None else keeps))
        if who is None and workspaces.is_anonymous(path):  # a token given while the Hub is out of reach keeps nothing yet
            # a token given with a refused repo (a name the Hub refuses, a read-only token) keeps nothing either:
            # "unless you give your Hugging Face token below" under a token given read as if it should have worked
            caption.caption(anonymous.format(
                until="until the Hub can be reached to keep it with the token you gave (tried again at your next click)"
                if unreachable else "until what the line below says is done: the token you gave keeps nothing yet"
                if outcome == REFUSED else f"unless you {keep}"))
        if own is None and kept is None:
            st.caption("Sync: off (give your token to keep this workspace after a restart)."
                       if cloud.visitor_token() is None else "Sync: off.")
        else:
            _sync_state()  # refreshed every few seconds, only where there is a sync to watch


CLEAR_POPOVER = "workspace.clear_popover"  # whether the Clear popover is open (closed after a clear)


def _clear_button(path: Path) -> None:
    """Delete this browser's anonymous workspace (a shared computer's next visitor would open it) and start afresh."""
    with popovers.popover(st, "Clear this workspace", CLEAR_POPOVER, icon=":material/delete_forever:",
                          help="Asks first: nothing is deleted until you press Delete everything in it."):
        st.caption("On a shared computer, clear it when you leave: the next person at this browser would open it. "
                   "This deletes every dataset and evaluation in it, for good (export what you want to keep first), "
                   "and starts afresh with the sample dataset.")
        if not st.button("Delete everything in it", key="workspace.clear", type="primary"):
            return
        running = [s for s in jobs.registered_jobs() if s.active]
        if running:  # its folder would vanish under the job
            st.error(f"A job of this workspace is still running ({jobs.describe(running[0])}): "
                     "stop it on its page, or wait for it to finish, then clear the workspace.", icon=":material/error:")
            return
        workspaces.remove([path])
        for key in list(st.session_state):  # as a new visitor: no dataset, run or evaluation it had picked
            del st.session_state[key]
        popovers.close(CLEAR_POPOVER)
        st.rerun()


UNREACHABLE, REFUSED = "unreachable", "refused"  # what _connect_or_disconnect says of the token given


def _connect_or_disconnect() -> str | None:
    """Open the workspace of the token given (or leave it, the token forgotten). ``UNREACHABLE`` where the Hub could
    not be reached to check it, ``REFUSED`` where the token or its repo was refused (the line drawn says why): nothing
    keeps this tab's workspace yet; else None."""
    from studio import ui  # the Hub's own words in its errors: shown as typed, controls as their code points

    token = cloud.visitor_token()
    repo_name = (st.session_state.get(cloud.REPO) or sync.REPO_NAME).strip()
    link = st.session_state.get(cloud.LINK)
    st.session_state.pop(cloud.UNCHECKED, None)
    if token is None:
        if link is not None:  # the token was forgotten: so is the access to its workspace; the tab goes back to
            # its own anonymous one (the browser's; for a tab without the cookie, the one it started with, where a
            # conversation that could not move stayed)
            st.session_state.pop(cloud.LINK, None)
            running = sync.current(Path(st.session_state[cloud.PATH]))
            if running is not None and running.repo_id == link["repo"]:  # the server stops using the token (after
                running.stop()  # a last commit of what is saved): Forget on a shared computer means forgotten
                sync.forget(running)
            cloud.leaving_kept(Path(st.session_state[cloud.PATH]))
            st.session_state.pop(cloud.ACCOUNT, None)
            st.session_state.pop(cloud.MOVE_NOTE, None)  # it spoke of the kept workspace this tab no longer opens
            st.rerun()
        return None
    key = cloud.digest(token, repo_name)
    if link is not None and link.get("path", st.session_state[cloud.PATH]) != st.session_state[cloud.PATH]:
        # the workspace the token opened is no longer this tab's (signed out, the token still given): it opens the
        # token's own again, as a token given now would; else this tab's other workspace synced into the repo
        st.session_state.pop(cloud.LINK, None)
        link = None
    if link is not None and link["key"] == key:
        path = Path(st.session_state[cloud.PATH])
        if sync.current(path) is None:  # another tab of this workspace forgot the token: its sync starts again, and
            # restores first (what a restore held back for room still waits; taken for restored, it never came back),
            # in its own thread as a restart's restore does: the page draws at once, the sidebar counts what comes
            sync.start(path, link["repo"], token, restore_first=True)
            st.rerun()  # the state above was drawn without it
        return None
    failed = st.session_state.get(cloud.FAILED)
    if failed and failed[0] == key:
        ui.show_error(failed[1])
        return REFUSED
    try:
        with st.spinner("Opening your workspace on the Hub…"):
            cloud.connect(token, repo_name)
    except NetworkError as exc:  # the Hub is down: tried again on the next page run
        ui.show_error(" ".join(str(exc).split()))
        st.session_state[cloud.UNCHECKED] = key
        return UNREACHABLE
    except StudioError as exc:  # a refused token or repo: not tried again until one of them changes
        st.session_state[cloud.FAILED] = (key, " ".join(str(exc).split()), isinstance(exc, sync.TokenRefusedError))
        ui.show_error(st.session_state[cloud.FAILED][1])
        return REFUSED
    st.session_state[cloud.LINK] = {"key": key, "repo": st.session_state[cloud.LINK + ".repo"],
                                    "path": st.session_state[cloud.PATH]}
    st.rerun()


@st.fragment(run_every=3.0)
def _sync_state() -> None:
    path = st.session_state.get(cloud.PATH)
    if not path:
        return
    # each in a place of its own, always drawn: the store's Try again now stays where it is whatever the account's sync
    # above it shows (a button drawn at another place is drawn anew, and a click on it as the page reran was lost)
    mine, stores = st.container(), st.container()
    running = sync.current(Path(path))  # given in this tab, or in another tab of the same signed-in visitor
    if running is not None:
        with mine:
            _one_state(running, running.where)
    kept = sync.current(Path(path), "store")
    if kept is not None:
        with stores:
            _one_state(kept, "this app's store")
    for one in (running, kept):  # a restore in the sync's thread ended: the page was drawn without what came back
        if one is not None:
            seen = f"workspace.restoring.{one.kind}"
            if not one.prepared:
                st.session_state[seen] = True
            elif st.session_state.pop(seen, False) and one.brought:  # nothing came: nothing to draw again
                st.rerun()
    _redraw_on_refusal(running)


REFUSED_DRAWN = "workspace.refused_drawn"  # what the page last drew of the Hub's refusal of the visitor's token


def _redraw_on_refusal(running: sync.WorkspaceSync | None) -> None:
    """The sync (in its own thread) just learnt that the Hub refused the visitor's token, or that it takes it again:
    the whole page is drawn again, so Home's *Hub token* and its line say so now, not at the visitor's next click."""
    now = running.refused if running is not None else None
    if REFUSED_DRAWN in st.session_state and st.session_state[REFUSED_DRAWN] != now:
        st.session_state[REFUSED_DRAWN] = now
        st.rerun()
    st.session_state[REFUSED_DRAWN] = now


def _one_state(running: sync.WorkspaceSync, where: str) -> None:
    if running.too_big:  # what can never come back here, whatever the state (in its own place: see _sync_state)
        st.container().warning(running.too_big, icon=":material/cloud_off:")
    else:
        st.container()
    when = jobs.readable_time(running.last_synced)
    if running.state == "synced" and running.waits_until:  # the Chat conversation's last change is not there yet
        st.caption(f":material/cloud_sync: Synced to {where} at {when}; the Chat conversation's last change goes at "
                   f"{jobs.readable_time(running.waits_until)}.")
    elif running.state == "synced":
        st.caption(f":material/cloud_done: Synced to {where} at {when}.")
    elif running.retry_waits_on_visitor:  # the visitor can free the room, name another repo or give the token again:
        # the line says how, and a try is offered (none is tried again by itself); which sync failed is said where
        # its reason does not name it ("That Hugging Face token was refused …" alone: the visitor's repo or the
        # app's store?)
        named = where in running.message or running.repo_id in running.message
        st.warning(running.message if named else f"Sync to {where} failed: {running.message}",
                   icon=":material/cloud_off:")
        if st.button("Try again now", key=f"workspace.sync_retry.{running.kind}", icon=":material/refresh:"):
            running.retry_now()
            with config.use_workspace(running.folder):
                running.ready()
            st.rerun()
    elif running.state == "failed":  # the time to the next try as it is now, at each of the fragment's runs
        left = running.next_try_s()
        next_try = "" if left is None else f" (next try in {left} s)" if left else " (trying again now)"
        st.warning(f"Sync to {where} failed: {running.message}{next_try}", icon=":material/cloud_off:")
    elif not running.prepared and running.restoring and running.restoring[1]:
        done, total = running.restoring
        st.caption(f":material/cloud_download: Restoring {total:,} file{'s' if total > 1 else ''} from {where} "
                   f"({done:,} done)…")
    elif not running.prepared:
        st.caption(f":material/cloud_sync: Bringing your workspace back from {where}…")
    elif running.state == "syncing":
        st.caption(f":material/cloud_sync: Syncing to {where}…")
    else:  # waiting: the watcher's next look (a few seconds) commits what changed
        st.caption(f":material/cloud_upload: Not synced to {where} yet: your changes go within seconds.")
