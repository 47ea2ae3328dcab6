"""The Chat page's conversation kept in the workspace (``studio.chat.saved``), shared by every tab of it: restored
in a new session, picked up where another tab changed it, saved with no secret in it, cleared."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from studio import ui
from studio.errors import StudioError

UNSAVED = "unsaved"  # chat.saved_stamp of a tab that must not write: the file there could not be read


def restore() -> None:
    """A new session (a reloaded or new browser tab) opens with the conversation kept in this workspace
    (``studio.chat.saved``); a file that cannot be read is set aside, with one line saying so. Every tab of the
    workspace shares that conversation: where another tab wrote or cleared it since this tab last did, this tab
    shows it as saved now (said in one line), so an old tab never writes over a newer conversation, nor brings
    back a cleared one."""
    from studio.chat import saved

    where = str(saved.path())
    first = st.session_state.get("chat.restored_from") != where
    if not first and (streaming() or st.session_state.get("chat.saved_stamp") == UNSAVED
                      or st.session_state.get("chat.not_saved")
                      or saved.stamp() == st.session_state.get("chat.saved_stamp")):
        return  # nothing new; this tab's answer is still coming (collect_finished places it); or this tab holds
        # turns its last write could not save, which only its page has
    _pick_up(first)
    st.session_state["chat.restored_from"] = where


def _pick_up(first: bool) -> None:
    """This tab's conversation becomes the saved one (another tab changed it since this one read or wrote it)."""
    from studio.chat import saved

    had = st.session_state["chat.messages"]
    with saved.LOCK:
        try:
            turns, note, left_out = saved.kept()
        except saved.Unreadable as exc:
            st.session_state["chat.saved_stamp"] = UNSAVED
            st.session_state["chat.saved_note"] = str(exc)
            return
        st.session_state["chat.saved_stamp"] = saved.stamp()
    st.session_state["chat.dropped"] = 0  # the page holds the saved turns (or adds its own to them: the next save says)
    if first:  # this tab opens this workspace's conversation (a new session, or a token given mid-session)
        if turns and not had:
            st.session_state["chat.messages"] = turns
            st.session_state["chat.forgotten"] = left_out  # a reload still says its oldest turns were left out
        elif turns and had:  # the tab's exchanges go after it, but those that moved in with the tab's work: by
            # question id, or (saved before ids) by question and answers; "hi" in both was not enough
            st.session_state["chat.messages"], st.session_state["chat.forgotten"] = saved.joined(
                turns, left_out, had, st.session_state.get("chat.forgotten", 0))
    else:
        st.session_state["chat.messages"] = turns
        st.session_state["chat.forgotten"] = left_out
        if had and not turns and not note:
            note = "The conversation was cleared in another tab: this tab starts a new one."
        elif turns[:len(had)] != had and not note:  # turns only added after this tab's: shown, nothing to say
            note = "Another tab changed this conversation: this tab now shows it as it was saved there."
    if note:
        st.session_state["chat.saved_note"] = note


def used_secrets() -> list[str | None]:
    """Every key and token this session used (``chat.used_secrets``) and the ones it has now."""
    secrets: list[str | None] = [st.session_state.get("chat.api_key"), *st.session_state.get("chat.used_secrets", ())]
    for for_inference in (False, True):
        try:
            secrets.append(ui.hf_token(for_inference=for_inference))
        except Exception:  # noqa: BLE001 -- no token to hide where none can be read
            pass
    return secrets


def save(change: Callable[[list[dict[str, Any]]], None] = lambda turns: None) -> None:
    """Apply ``change`` to the conversation and keep it in the workspace, with no secret of this session in it.
    Where another tab wrote or cleared the saved conversation since this tab last read or wrote it, the change is
    made to that one (this tab then shows it), so neither tab's turns are lost and a Clear is not undone. A refused
    write (a full disk, a public workspace's size limit) is one line under the conversation, which stays on the page."""
    from studio.chat import saved

    with saved.LOCK:
        if not st.session_state.get("chat.not_saved") and st.session_state.get("chat.saved_stamp") not in (
                UNSAVED, saved.stamp()):
            _pick_up(first=False)
        change(st.session_state["chat.messages"])
        # the page's session holds no more than the file may: a public visitor's 200 pasted books were ~200 MB
        st.session_state["chat.messages"], gone = saved.within_chars(st.session_state["chat.messages"])
        st.session_state["chat.forgotten"] = st.session_state.get("chat.forgotten", 0) + gone
        if st.session_state.get("chat.saved_stamp") == UNSAVED:
            return  # the file there could not be read: it is not written over (Clear removes it)
        try:
            st.session_state["chat.saved_stamp"], dropped = saved.save(
                st.session_state["chat.messages"], used_secrets(), st.session_state["chat.forgotten"])
        except (StudioError, OSError) as exc:
            st.session_state["chat.saved_note"] = f"The conversation is not saved in the workspace: {exc}"
            st.session_state["chat.not_saved"] = True
            return
        st.session_state["chat.not_saved"] = False
    # Said under the conversation in every run while it is so (``history``): once, it was gone when the next answer
    # came, though the page still held turns the file did not.
    st.session_state["chat.dropped"] = dropped


def clear() -> None:
    """Clear conversation: the page's and the workspace's."""
    from studio.chat import saved

    st.session_state["chat.messages"] = []
    st.session_state["chat.dropped"] = st.session_state["chat.forgotten"] = 0
    try:
        saved.forget()
        st.session_state["chat.saved_stamp"], st.session_state["chat.not_saved"] = None, False
    except OSError as exc:
        st.session_state["chat.saved_note"] = f"The saved conversation could not be removed ({exc.strerror or exc})."


# Questions being answered now, in any tab of this studio: id -> whether its answer is still coming. Another tab
# shows such a question as being answered there, not as one whose tab was reloaded.
ANSWERING: dict[str, Callable[[], bool]] = {}


def being_answered(question_id: str | None) -> bool:
    """Whether the question with this id is still being answered, in this tab or another."""
    alive = ANSWERING.get(question_id or "")
    if alive is not None and not alive():
        ANSWERING.pop(question_id or "", None)
        return False
    return alive is not None


def streaming() -> bool:
    """An answer of this tab is coming, or has ended but is not in the conversation yet (``collect_finished`` puts it
    there at the page's next run). Read as "not done" alone, an answer that ended between the page's collecting and
    this reading drew the input on with no poller: the answer stayed out of sight until the visitor's next click."""
    return bool(st.session_state["chat.jobs"])

