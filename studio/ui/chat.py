"""The Chat page's conversation: asking, the answers streamed, the history and its export. The sidebar's settings
are ``studio.ui.chat_settings``, the conversation kept in the workspace ``studio.ui.chat_saved``.

Answers stream in worker threads (``studio.chat.StreamJob``) into plain buffers; a fragment polls
them, so a click while an answer streams never loses it. Local models live in one process-wide
``ModelCache`` (``st.cache_resource``), bounded and unloadable. In API mode nothing here imports
torch or transformers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import streamlit as st

from studio import chat, ui
from studio.chat import (
    DEFAULT_PRESET,
    SYSTEM_PRESETS,
    BackendSpec,
    ChatParams,
    StreamJob,
)
from studio.errors import StudioError
from studio.models import bundled, extractive, loading
from studio.ui import streamlit_internals
from studio.ui.chat_saved import ANSWERING, UNSAVED, being_answered, restore, save, streaming, used_secrets
from studio.ui.chat_settings import after_restore, local_available, models_back, settings_back

POLL_S = 0.5  # how often a streaming answer is redrawn, seconds
SHOWN_CHARS = 50_000  # of one turn, drawn at most: ~12,000 words, more than an 8,192-token answer holds
INPUT_PLACEHOLDER = f"Ask something (up to {extractive.MAX_PASSAGE_CHARS:,} characters)"
"""The question box's placeholder says how much it takes. The box takes ``ui.PASTE_CHARS`` (its counter hidden), so a
paste past the bound reaches the page, which refuses it in one line and puts it back whole; the browser drops a paste
past ``ui.PASTE_CHARS`` whole (nothing reaches the page to say why), and the box that stays empty says its bound."""

STATE = {
    "chat.messages": [],  # history: user turns, assistant turns ({content, model, stats, alt?, error?})
    "chat.jobs": [],  # StreamJobs of the answer being streamed (two in compare mode)
    "chat.preset": DEFAULT_PRESET,
    "chat.system": SYSTEM_PRESETS[DEFAULT_PRESET],
}



def init() -> None:
    after_restore()  # before the defaults: what a restore brought back is read again
    ui.init_state({k: (list(v) if isinstance(v, list) else v) for k, v in STATE.items()})
    settings_back()
    restore()
    models_back()



# --- Asking and streaming ----------------------------------------------------------------------

def _factory(spec: BackendSpec) -> Callable[[], chat.ChatBackend]:
    """A builder run in the worker thread (a local model may take minutes to load)."""
    if spec.kind == "local":
        token = ui.hf_token()
        if token:
            st.session_state.setdefault("chat.used_secrets", set()).add(token)
        return lambda: chat.make_backend(spec, token)  # through the process's one model cache
    # the deployer's token serves Inference Providers by model id, never an address a visitor typed
    token = ui.hf_token(for_inference=not spec.by_url) if spec.kind == "provider" else (
        st.session_state.get("chat.api_key") or None)
    if token:  # never written with the conversation, even after the field changes (studio.chat.saved)
        st.session_state.setdefault("chat.used_secrets", set()).add(token)
    return lambda: chat.make_backend(spec, token)


def _loading_note(spec: BackendSpec) -> str:
    """Why the first answer of a model waits longer: a GGUF file (the bundled model's too) is converted once into
    the workspace on its first load; the page said only "Loading the model…" for a minute on a CPU."""
    if spec.kind != "local":
        return ""
    try:
        kind = loading.resolve(spec.model).kind
    except StudioError:
        return ""  # the answer says why it cannot load
    if kind == "bundled":  # resolved so only while it has not been imported yet: the words the Models page says
        return bundled.first_use_note(bundled.SPEC)
    if kind == "gguf":  # hashing the file to know whether it was converted before would stall the page
        return "a GGUF file used here for the first time is converted once into the workspace; later loads take seconds"
    return ""


def ask(question: str, system: str, specs: list[BackendSpec], params: ChatParams) -> None:
    """Add the question to the history and start one answer per model."""
    turns = st.session_state["chat.messages"]
    if chat.blank(question):  # refused before it costs a request, and not left in the conversation as a blank turn
        st.session_state["chat.refused"] = ("Not sent: the message has only spaces, line breaks or invisible characters. "
                                            "Type a question.")
        return
    if why := extractive.question_too_long(question):  # kept out of the conversation, and put back in the input to cut
        st.session_state["chat.refused"] = f"Not sent. {why} It is back in the input."
        st.session_state["chat.put_back"] = question
        return
    if why := chat.system_too_long(system):  # the question stays in the input, to send once the prompt is cut
        st.session_state["chat.refused"] = f"Not sent. {why}"
        st.session_state["chat.put_back"] = question
        return
    try:  # a public app's own token serves a few hosted-model requests a minute per visitor
        ui.spend_inference(sum(1 for s in specs if s.kind == "provider" and not s.by_url))  # by_url: not on its token
    except StudioError as exc:  # said under the conversation, by the input, with the question it did not send
        short = question if len(question) <= 80 else question[:79] + "…"
        st.session_state["chat.refused"] = f"Not sent: “{short}”. {exc}"
        return
    jobs = []
    for side, spec in enumerate(specs):
        earlier = chat.history_for(turns, side)
        msgs = chat.build_messages(system, earlier, question)
        note = chat.history_note(earlier, msgs)  # older turns not sent: said under the answer, as a local model's are
        jobs.append(StreamJob(spec.label, _factory(spec), msgs, params, _loading_note(spec), spec,
                              notes=[note] if note else []).start())
    asked = {"role": "user", "id": uuid.uuid4().hex[:12], "content": question}
    st.session_state["chat.jobs"] = jobs
    st.session_state["chat.asking"] = asked
    for gone in [k for k, answering in list(ANSWERING.items()) if not answering()]:  # answers ended in closed tabs
        ANSWERING.pop(gone, None)
    # another tab says "being answered" until it ends, the tab that asked gone or not (its words are kept then)
    ANSWERING[asked["id"]] = lambda: any(not job.done for job in jobs)
    save(lambda turns: turns.append(dict(asked)))  # kept even where the tab is reloaded before its answer ends
    secrets = used_secrets()  # read now: the watcher has no session to read them from

    def keep_what_came() -> None:
        if (turn := chat.cut_short_turn(jobs)) is not None:
            from studio.chat import saved

            saved.keep_answer(asked["id"], turn, secrets)

    stop_with_the_tab(jobs, keep_what_came)


def put_back() -> None:
    """A question refused as too long back in the input (before it is drawn), so the text typed is not lost."""
    if (question := st.session_state.pop("chat.put_back", None)) is not None:
        st.session_state["chat.input"] = question


def stop_with_the_tab(tasks: list, on_gone: Callable[[], None] | None = None) -> None:
    """Answers stop when the browser tab that asked is reloaded or closed (``chat.stop_when_gone``): its session is
    gone, and with it the page that would show them; ``on_gone`` then keeps what they answered."""
    import threading

    from studio import config

    sid = streamlit_internals.session_id()
    if sid is None or streamlit_internals.session_connected(sid) is None:  # no server (a script): no tab to watch
        return
    threading.Thread(target=config.bound(chat.stop_when_gone),  # the visitor's workspace, on a public app
                     args=(tasks, lambda: streamlit_internals.session_connected(sid) is not False),
                     kwargs={"on_gone": on_gone}, daemon=True, name="chat-tab-watch").start()


def collect_finished() -> None:
    """Move finished answers into the history (compare mode: the second as ``alt``)."""
    jobs = st.session_state["chat.jobs"]
    if not jobs or not all(job.done for job in jobs):
        return
    turn = jobs[0].as_turn()
    if len(jobs) > 1:
        turn["alt"] = jobs[1].as_turn()
    asked = st.session_state.pop("chat.asking", None) or {}

    def place(turns: list[dict[str, Any]]) -> None:
        """The answer right after its question, wherever another tab's turns put it; where the conversation was
        cleared in another tab meanwhile, the question and its answer start the new one."""
        at = next((i for i, t in enumerate(turns) if asked.get("id") and t.get("id") == asked["id"]), None)
        if at is None:
            turns.extend([dict(asked), turn] if asked else [turn])
        elif at + 1 < len(turns) and turns[at + 1].get("role") == "assistant":  # kept cut short while the tab was
            turns[at + 1] = turn  # away (``stop_with_the_tab``), and it came back: the whole answer replaces it
        else:
            turns.insert(at + 1, turn)

    st.session_state["chat.jobs"] = []
    save(place)
    ANSWERING.pop(asked.get("id", ""), None)


def _turn_text(text: str, suffix: str = "") -> None:
    """A turn's text, its first ``SHOWN_CHARS`` characters where it is longer, and a line saying what is not shown.
    A 900,000-character paste was drawn whole at every run of the page (every click, each answer's end): the
    browser took seconds each time to lay it out, while the page stood still."""
    if len(text) <= SHOWN_CHARS:
        ui.show_text(text, suffix)
        return
    ui.show_text(text[:SHOWN_CHARS] + "…", suffix)
    st.caption(f":material/info: {len(text) - SHOWN_CHARS:,} more characters are not shown here: the whole "
               f"{len(text):,} are in the conversation, and in Export JSON or Markdown.")


def _answer(turn: dict[str, Any], live: StreamJob | None = None, seen: set | None = None, narrow: bool = False) -> None:
    """One answer. ``seen``: the notes said already, in the sidebar or earlier in the conversation ("Running on
    CPU ..."), are not said again under every answer. ``narrow``: in a compare column, whose header is shortened
    (``chat.short_label``) with the whole name on hover."""
    seen = set() if seen is None else seen
    with st.chat_message("assistant"):
        label = turn.get("model", "")
        shown = chat.short_label(label) if narrow else label
        st.caption(ui.md(shown), help=ui.md(label) if shown != label else None)
        if turn.get("content"):
            _turn_text(turn["content"], "▌" if live is not None and not live.done else "")
        elif live is not None and not live.done:
            if live.phase == "loading":  # the seconds move, so a long first load never looks frozen
                note = f" ({live.loading_note})" if live.loading_note else ""
                st.caption(f"Loading the model… {time.perf_counter() - live.stats.started:.0f} s so far{note}")
            elif live.stats.first_token_at is None:
                st.caption("Waiting for the first token…")
            else:  # a local model's text comes a whole word at a time: tokens came, their word is not complete yet
                st.caption("Tokens are coming: the text shows once its first word is complete…")
        if live is not None and not live.done and live.stats.status:  # e.g. compiling for fast decoding
            # The count moves while no token does (a minute or more on a CPU), so the page never looks frozen;
            # from the request on, so it never restarts when the first token comes.
            waited = time.perf_counter() - live.stats.started
            st.caption(f":material/hourglass_top: {ui.md(live.stats.status)} {waited:.0f} s so far.")
        if turn.get("error"):
            ui.show_error(turn["error"])
        elif live is None and turn.get("note") != "stopped" and "content" in turn and chat.blank(turn["content"]):
            st.caption(f":material/info: The model {chat.EMPTY_ANSWER}.")  # not an empty bubble
        for note in turn.get("notes", []):
            if note not in seen:
                seen.add(note)
                st.caption(f":material/info: {ui.md(note)}")
        stopped = turn.get("note") == "stopped"
        if stopped and not turn.get("content") and not turn.get("error"):
            meta = chat.stopped_early(turn.get("stopped_in") == "loading")  # not "0 tokens · stopped"
        else:
            meta = " · ".join(part for part in (turn.get("stats", ""), "stopped" if stopped else "") if part)
        if meta:
            st.caption(meta)
        if turn.get("note") == chat.CUT_SHORT_NOTE:  # the words that came before the tab was reloaded or closed
            st.caption(f":material/content_cut: {chat.CUT_SHORT}")
        if turn.get("cut_at") and not stopped and not turn.get("error"):
            st.caption(f":material/content_cut: {chat.cut_note(int(turn['cut_at']))}")


def _answers(turn: dict[str, Any], jobs: list[StreamJob] | None = None, seen: set | None = None) -> None:
    """One answer, or two side by side in compare mode."""
    if turn.get("alt") or (jobs and len(jobs) > 1):
        cols = st.columns(2)
        for col, t, job in zip(cols, [turn, turn.get("alt") or {}], jobs or [None, None]):
            with col:
                _answer(t, job, seen, narrow=True)
    else:
        _answer(turn, jobs[0] if jobs else None, seen)


def _notes_said() -> set:
    """The notes the page says already: in the sidebar, under a loaded model; in the history, under an answer."""
    said = _sidebar_notes()
    for turn in st.session_state["chat.messages"]:
        for t in (turn, turn.get("alt") or {}):
            said |= set(t.get("notes", []))
    return said


def _sidebar_notes() -> set:
    """The notes the sidebar says under the loaded models (``local_models_panel``): "Running on CPU: fine for small
    models, slow for billion-parameter ones." repeated under every answer as well as there; once is enough."""
    if not local_available():
        return set()
    return {n for lm in ui.model_cache().loaded() for n in lm.notes}


UNANSWERED = f"{chat.UNANSWERED} Ask again to get one."


ELSEWHERE = "Being answered in another tab: its answer shows here once it ends."


def history() -> None:
    seen: set = _sidebar_notes()
    turns = st.session_state["chat.messages"]
    for i, turn in enumerate(turns):
        if turn["role"] == "user":
            with st.chat_message("user"):
                _turn_text(turn["content"])
                # a question kept without its answer (the tab that asked was reloaded): said, not a silent gap
                answered = i + 1 < len(turns) and turns[i + 1].get("role") == "assistant"
                if answered or (i + 1 == len(turns) and st.session_state["chat.jobs"]):
                    pass
                elif being_answered(turn.get("id")):  # asked in another tab, whose answer is still coming
                    st.caption(f":material/hourglass_top: {ELSEWHERE}")
                else:
                    st.caption(f":material/info: {UNANSWERED}")
        else:
            _answers(turn, seen=seen)
    # After the conversation, where the visitor looks when they ask: at the top of a long one it was out of view,
    # and the question seemed to vanish.
    if st.session_state.get("chat.refused"):
        ui.show_error(st.session_state.pop("chat.refused"))
    if st.session_state.get("chat.saved_note"):
        st.warning(ui.md(st.session_state.pop("chat.saved_note")), icon=":material/warning:")
    if not st.session_state["chat.jobs"]:  # idle: another tab's question and answer show here in a second or two
        _watch_other_tabs()  # (one stat of the saved file a second; the page runs again only when it changed)


def left_out() -> None:
    """The line under a conversation longer than the saved copy holds, while it is so: under the answer being
    streamed too (drawn in the conversation, it stood between the question and its answer)."""
    from studio.chat import saved

    if note := _forgotten():
        st.caption(f":material/info: {ui.md(note)}")
    if dropped := st.session_state.get("chat.dropped"):
        st.caption(f":material/info: Only the last {saved.KEEP} turns are saved in the workspace: the {dropped} before "
                   "them are on this page until it is reloaded, and in Export JSON or Markdown.")


@st.fragment(run_every=1.0)
def _watch_other_tabs() -> None:
    """While this tab answers nothing: the page runs again once another tab saves this conversation (a question it
    asked, its answer, a Clear), so an idle tab shows it without a click; nothing is drawn, the input keeps what is
    being typed in it."""
    from studio.chat import saved

    seen = st.session_state.get("chat.saved_stamp")
    # a tab holding turns its last write could not save keeps them (``restore`` does not pick the file up): a rerun
    # there would find the file changed again, and again, a second apart
    if seen != UNSAVED and not st.session_state.get("chat.not_saved") and saved.stamp() != seen:
        st.rerun()


@st.fragment(run_every=POLL_S)
def live_answers() -> None:
    """Redraw the answers being streamed; when all are done, put them in the history and rerun the page."""
    jobs: list[StreamJob] = st.session_state["chat.jobs"]
    if not jobs:
        return
    if all(job.done for job in jobs):
        st.rerun()  # the full run moves them into the history and enables the input again
    live = []
    for job in jobs:
        live.append({"content": job.text, "model": job.label, "error": job.error, "notes": job.notes,
                     "stats": job.stats.summary() if job.stats.first_token_at else ""})
    turn = dict(live[0], alt=live[1]) if len(live) > 1 else live[0]
    _answers(turn, jobs, _notes_said())
    if st.button("Stop", icon=":material/stop_circle:", key="chat.stop"):
        for job in jobs:
            job.cancel()


def _forgotten() -> str:
    """The line saying this conversation's oldest turns were left out of it (``saved.KEEP_CHARS``), or ""."""
    from studio.chat import saved

    n = st.session_state.get("chat.forgotten", 0)
    return saved.left_out_note(n) if n else ""


def export_buttons(spec: BackendSpec | None, params: ChatParams | None, spec_b: BackendSpec | None = None) -> None:
    """Both models' answers in compare mode, and failures with their reason. Each file is written when its button
    is clicked (Streamlit runs ``data`` then, in a thread of its own), not at every run of the page: every question
    is scrubbed of secrets for it, which took a second and more at each click anywhere on a page holding a
    900,000-character paste. What it holds is read now, so it is what the page shows."""
    turns = list(st.session_state["chat.messages"])
    secrets, left_out = used_secrets(), _forgotten()
    disabled = not turns or streaming()
    pressed = streamlit_internals.made_when_pressed  # made on the click, gone from the server soon after
    st.download_button("Export JSON", pressed(lambda: chat.export_json(turns, spec, params, spec_b, secrets, left_out)),
                       "conversation.json", "application/json", disabled=disabled, key="chat.export_json",
                       on_click="ignore")
    st.download_button("Export Markdown", pressed(lambda: chat.export_markdown(turns, spec, spec_b, secrets, left_out)),
                       "conversation.md",
                       "text/markdown", disabled=disabled, key="chat.export_md", on_click="ignore")
