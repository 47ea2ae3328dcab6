"""A chat as the Chat page keeps it: the history each model sees, exports, and an answer streamed
in a worker thread."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from studio.chat.base import BackendSpec, ChatBackend, ChatParams, Message, StreamStats, bounded, cut_note
from studio.chat.saved import scrub
from studio.errors import unexpected
from studio.tasks import Task

# --- Export -----------------------------------------------------------------------------------

def _answer(turn: dict[str, Any]) -> dict[str, Any]:
    """One answer as exported: its text without the leading space a tokenizer leaves, its model,
    timing, and a failure's reason (a failed answer is not an empty one)."""
    out = {k: turn[k] for k in ("role", "model", "stats", "params") if k in turn}
    out["content"] = (turn.get("content") or "").strip()
    if said := ended_how(turn):
        out["note"] = said
    if turn.get("error"):
        out["error"] = turn["error"]
        out.pop("stats", None)  # "0 tokens" says nothing about a failure
    return out


def _scrubbed(value: Any, secrets: Sequence[str | None]) -> Any:
    """``value`` with every text in it scrubbed of secrets (``saved.scrub``), as the kept conversation is."""
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {k: _scrubbed(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, secrets) for v in value]
    return value


def ended_how(turn: dict[str, Any]) -> str:
    """What the page says under an answer that did not end by itself, and the exports with it: cut short by a closed
    tab, stopped, or cut at Max new tokens; "" for one that ended. An export read as whole an answer the page said was
    stopped mid-sentence or cut at Max new tokens."""
    if turn.get("note") == CUT_SHORT_NOTE:
        return CUT_SHORT
    if turn.get("note") == "stopped":
        if (turn.get("content") or "").strip() or turn.get("error"):
            return STOPPED
        return stopped_early(turn.get("stopped_in") == "loading")
    if isinstance(turn.get("cut_at"), int) and not turn.get("error"):
        return cut_note(turn["cut_at"])
    return ""


UNANSWERED = "No answer: the page was reloaded or closed while it was answered."
"""What the page says under a question kept without its answer (and what an export says there)."""

CUT_SHORT_NOTE = "cut short"  # a kept answer's ``note``: its tab was reloaded or closed while it streamed
CUT_SHORT = "Cut short: the page was reloaded or closed while it was answered."
"""What the page (and an export) says under such an answer: the words that came before are kept."""
STOPPED = "Stopped: the answer ends where Stop was pressed."  # an export's line (the page says "stopped" by its stats)
STOPPED_EARLY = "Stopped before the first token: no answer."  # the page's and an export's line
STOPPED_LOADING = "Stopped while the model loaded: no answer."


def stopped_early(loading: bool = False) -> str:
    """What the page (a conversation's answer, a passage's card) and an export say under an answer stopped before its
    first word: ``loading``, while its model still loaded (it said "before the first token", as if it had been asked)."""
    return STOPPED_LOADING if loading else STOPPED_EARLY


def _unanswered(messages: Sequence[dict[str, Any]], i: int) -> bool:
    """Whether the question at ``i`` has no answer after it (its tab was reloaded while it was answered)."""
    return messages[i].get("role") == "user" and (
        i + 1 >= len(messages) or messages[i + 1].get("role") != "assistant")


def _answered_by(messages: Sequence[dict[str, Any]], side: int) -> list[tuple[str, dict[str, Any] | None]]:
    """The models that answered on one side (1: compare mode's second answers; a failure or an answer stopped before
    its first word too: its turn is in the conversation), in the order of their first answer, each once: ``(label,
    spec as a dict or None for an answer kept without one)``. The exports' header named the model picked in the sidebar at the click, which
    was not the one that answered once another model was picked after the last answer."""
    seen: dict[str, dict[str, Any] | None] = {}
    for m in messages:
        if m.get("role") != "assistant":
            continue
        turn = m.get("alt") if side else m
        if not turn:
            continue
        spec = turn.get("spec") if isinstance(turn.get("spec"), dict) else None
        label = turn.get("model") or (BackendSpec.from_dict(spec).label if spec else "")
        if label and label not in seen:
            seen[label] = spec
    return list(seen.items())


def _header_models(messages: Sequence[dict[str, Any]], spec: BackendSpec | None, spec_b: BackendSpec | None
                   ) -> tuple[list[tuple[str, dict[str, Any] | None]], list[tuple[str, dict[str, Any] | None]]]:
    """Who the exports' header names on each side: the models that answered (``_answered_by``); the picked ones
    (``spec``, ``spec_b``) only while no model has answered yet."""
    picked = {s.label: s.to_dict() for s in (spec_b, spec) if s}  # an answer kept without its spec: the picked one's
    first, second = ([(label, kept or picked.get(label)) for label, kept in _answered_by(messages, side)]
                     for side in (0, 1))
    if first or second:
        return first, second
    return ([(spec.label, spec.to_dict())] if spec else []), ([(spec_b.label, spec_b.to_dict())] if spec_b else [])


def _model_entry(label: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    return {**(spec or {}), "label": label}


def export_json(messages: Sequence[dict[str, Any]], spec: BackendSpec | None = None,
                params: ChatParams | None = None, spec_b: BackendSpec | None = None,
                secrets: Iterable[str | None] = (), left_out: str = "") -> str:
    """The conversation as JSON: the model that answered first (``model``; compare mode's second: ``second_model``;
    where several answered on a side, all of them in ``models``/``second_models``, in the order of their first
    answer; before any answer, the picked ones), settings (``params``: those the first answer was asked with, each
    answer's own with it; before any answer, the sidebar's) and messages; compare mode's second answer as ``alt``; failures with their reason; ``left_out``: the line saying its oldest turns were left out, if they were. Never a secret: each of ``secrets`` (the keys and tokens the session
    used) and every secret-shaped string, in a question too, is written as ``***``, as in the kept file."""
    rows = []
    for i, m in enumerate(messages):
        if m.get("role") != "assistant":
            rows.append({k: m[k] for k in ("role", "content") if k in m})
            if _unanswered(messages, i):  # as the page shows it: not a question run into the next one
                rows[-1]["note"] = UNANSWERED
            continue
        row = _answer(m)
        if m.get("alt"):
            row["alt"] = _answer({"role": "assistant", **m["alt"]})
        rows.append(row)
    first, second = _header_models(messages, spec, spec_b)
    doc = {
        "model": _model_entry(*first[0]) if first else None,
        "second_model": _model_entry(*second[0]) if second else None,
        **({"models": [_model_entry(*m) for m in first],
            "second_models": [_model_entry(*m) for m in second]} if len(first) > 1 or len(second) > 1 else {}),
        # the settings the first answer was asked with (each answer's own are with it), the sidebar's before any
        "params": next((m["params"] for m in messages if m.get("role") == "assistant" and isinstance(m.get("params"), dict)),
                       params.to_dict() if params else None),
        **({"left_out": left_out} if left_out else {}),
        "messages": rows,
    }
    return json.dumps(_scrubbed(doc, list(secrets)), ensure_ascii=False, indent=2)


def export_markdown(messages: Sequence[dict[str, Any]], spec: BackendSpec | None = None,
                    spec_b: BackendSpec | None = None, secrets: Iterable[str | None] = (), left_out: str = "") -> str:
    """The conversation as Markdown, one heading per turn; compare mode's answers one after the other, headed
    "Assistant A" and "Assistant B" (the first model's, the second's) before their model's name; secrets
    written as ``***`` (``export_json``)."""
    lines = ["# Conversation", ""]
    first, second = _header_models(messages, spec, spec_b)
    if first or second:
        named = ", then ".join(label for label, _ in first) or "none"
        also = ", then ".join(label for label, _ in second)
        lines += [("Models" if len(first) > 1 else "Model") + f": {named}" + (f" · compared with {also}" if also else ""),
                  ""]
    if left_out:
        lines += [f"*{left_out}*", ""]
    for i, m in enumerate(messages):
        answers = [m] + ([m["alt"]] if m.get("role") == "assistant" and m.get("alt") else [])
        for side, turn in enumerate(answers):
            role = m.get("role", "")
            who = {"user": "You", "assistant": "Assistant", "system": "System"}.get(role, role)
            if len(answers) > 1:  # compare mode: with one model on both sides, both headings read the same
                who += " " + "AB"[side]
            if turn.get("model"):
                who += f" ({turn['model']})"
            body = f"*Failed: {turn['error']}*" if turn.get("error") else (turn.get("content") or "").strip()
            if said := ended_how(turn):
                body = f"{body}\n\n*{said}*" if body else f"*{said}*"
            lines += [f"## {who}", "", body, ""]
        if _unanswered(messages, i):  # two "## You" in a row read as one question lost in the export
            lines += [f"*{UNANSWERED}*", ""]
    return scrub("\n".join(lines), list(secrets))


# --- History and background answers -------------------------------------------------------------

def history_for(turns: Sequence[dict[str, Any]], side: int = 0) -> list[Message]:
    """The conversation one model sees: its own answers (``side`` 1 reads compare mode's second answer),
    without questions whose answer failed or is empty (stopped before its first word), so roles still
    alternate: after an empty answer in its history, SmolLM2-135M answered the next question with nothing."""
    def answer(turn: dict[str, Any] | None) -> dict[str, Any] | None:
        if turn is None or turn.get("role") != "assistant":
            return None
        ans = turn.get("alt") if side == 1 and turn.get("alt") else turn
        return None if ans.get("error") or not (ans.get("content") or "").strip() else ans

    out: list[Message] = []
    for i, turn in enumerate(turns):
        if turn.get("role") == "user":
            if answer(turns[i + 1] if i + 1 < len(turns) else None) is not None:
                out.append({"role": "user", "content": turn["content"]})
        elif (ans := answer(turn)) is not None:
            out.append({"role": "assistant", "content": ans["content"]})
    return out


def answer_start(text: str) -> str:
    """An answer without what comes before its first line: a GPT-2 style model's first token carries the space before
    its word (" The goal is ..."), which showed the answer indented beside the other one in compare mode, and blank
    lines before it are dropped; the indentation of a first line after them, or of more than that one space, is kept
    (an answer that starts with indented code lost it)."""
    body = text.lstrip()
    space = text[:len(text) - len(body)]
    if "\n" in space:
        return space[space.rindex("\n") + 1:] + body
    return body if space == " " else text


class StreamJob(Task):
    """One answer streamed by a worker thread (``studio.tasks.Task``) into a plain buffer that a page polls.

    The worker never touches the UI: it builds the backend (loading a local model may take a while),
    streams into ``text`` and records ``stats``; ``phase`` says "loading" or "streaming" while it runs.
    ``cancel()`` ends the answer early, keeping what came (state "stopped").
    """

    def __init__(self, label: str, make: Callable[[], ChatBackend], messages: Sequence[Message], params: ChatParams,
                 loading_note: str = "", spec: BackendSpec | None = None, notes: Sequence[str] = ()):
        super().__init__(label)
        self.spec = spec  # kept with the answer, so a new session asks the same model next (``studio.chat.saved``)
        self.loading_note = loading_note  # what the page says while the model loads ("first use: ...")
        self._make = make
        self.messages = list(messages)
        self.params = params
        self.text = ""
        self.stats = StreamStats()
        self._asked_notes = list(notes)  # what building the request found (older turns not sent: ``history_note``)
        self.notes: list[str] = list(notes)  # and what the backend wants the user to know ("4bit needs a CUDA GPU: ...")
        self.phase = "loading"

    def work(self) -> str:
        backend = None
        try:
            backend = self._make()
            self.notes = [*self._asked_notes, *getattr(backend, "notes", [])]
            if self.stop.is_set():  # stopped while the model loaded: the page has moved on, ask nothing
                return self.text  # (a local model took its lock and read the prompt for no one, an API one got a request)
            self.phase = "streaming"
            self.stats = StreamStats()  # time from the request, not from the model load
            # bounded: a server ignoring max tokens is cut off (its text kept, with the reason)
            lead = ""  # what came before the answer's first character that is not whitespace, until it comes
            for piece in bounded(backend.stream(self.messages, self.params, stats=self.stats, stop=self.stop),
                                 self.params):
                if self.text:
                    self.text += piece
                elif (lead := lead + piece).strip():
                    self.text = answer_start(lead)
            return self.text
        finally:
            self.stats.finish()
            if backend is not None:  # notes learnt while answering ("fast decoding failed ...: it is off")
                self.notes = [*self._asked_notes, *getattr(backend, "notes", [])]

    @property
    def done(self) -> bool:
        """Finished, or stopped: Stop ends the answer at once even where the backend cannot notice yet (an
        OpenAI-compatible server's connection is shut at once, but a silent Inference Providers request
        holds its thread until its timeout); what came so far is the answer, and the thread ends on its own."""
        return super().done or self.stop.is_set()

    def cancel(self) -> None:
        """Stop the answer; one that has ended already stays as it ended. Compare mode's Stop ends both answers, and
        marked the one that had finished "stopped" too (its "Cut at ..." line gone), as if the click had cut it."""
        if self.state not in ("done", "failed"):
            super().cancel()

    def failure_message(self, exc: BaseException) -> str:  # a bug, but the page must stay usable: one line
        return unexpected(f"The answer from {self.label}", exc)

    def as_turn(self) -> dict[str, Any]:
        """The finished answer as a history entry."""
        turn: dict[str, Any] = {"role": "assistant", "content": self.text, "model": self.label,
                                "stats": self.stats.summary()}
        if self.error and self.stats.first_token_at is None:  # failed before answering: no stats line as if it had
            turn["stats"] = self.stats.tries_note(self.error)
        if self.stats.cut_at and not self.stop.is_set():  # said under the answer, never in its text
            turn["cut_at"] = self.stats.cut_at
        if self.spec is not None:
            turn["spec"] = self.spec.to_dict()
        turn["params"] = self.params.to_dict()  # what it was asked with: the exports say so, not the sidebar's since
        if self.state == "stopped" or self.stop.is_set():
            turn["note"] = "stopped"
            if self.phase == "loading" and not self.text and not self.error:  # the model was never asked
                turn["stopped_in"] = "loading"
        if self.notes:
            turn["notes"] = self.notes
        if self.error:
            turn["error"] = self.error
        return turn


TAB_GONE_GRACE_S = 10.0  # a tab closed or reloaded: its answers stop after this (a reconnect within it keeps them)


def stop_when_gone(tasks: Sequence[Task], alive: Callable[[], bool], grace_s: float = TAB_GONE_GRACE_S,
                   poll_s: float = 1.0, on_gone: Callable[[], None] | None = None) -> None:
    """Stop ``tasks`` once ``alive()`` (the browser tab that asked) has been false for ``grace_s``: a reloaded or
    closed tab's answer went on for minutes, holding its local model (the new tab's question waited on "another
    answer is using it") or its server's connection, for a page that no longer shows it. Then ``on_gone()`` (also
    where they ended while the tab was gone): no page is left to keep what they answered. Returns when they end."""
    gone_since = None
    while not all(t.done for t in tasks):
        if alive():
            gone_since = None
        elif gone_since is None:
            gone_since = time.monotonic()
        elif time.monotonic() - gone_since >= grace_s:
            for t in tasks:
                t.cancel()
            break
        time.sleep(poll_s)
    if on_gone is not None and (gone_since is not None or not alive()):
        on_gone()


def cut_short_turn(jobs: Sequence[StreamJob]) -> dict[str, Any] | None:
    """The answer (compare mode: both) of a tab gone while it streamed, as a history entry: the words that came,
    marked cut short (``CUT_SHORT_NOTE``); None where nothing came (no word, no failure), and the question then says
    it has no answer (``UNANSWERED``)."""
    turns = [job.as_turn() for job in jobs]
    if not any((t.get("content") or "").strip() or t.get("error") for t in turns):
        return None
    for t in turns:
        if t.get("note") == "stopped":
            t["note"] = CUT_SHORT_NOTE
    turn = turns[0]
    if len(turns) > 1:
        turn["alt"] = turns[1]
    return turn
