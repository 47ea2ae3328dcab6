"""The Chat page's "question over a passage" mode: a passage (pasted, or a dataset record's context),
a question, and one or two models (extractive or generative) answering side by side.

Each model answers in a ``studio.tasks.Task`` (a local model may take minutes to load); a fragment
polls them, so a click meanwhile loses nothing. An answer is shown with its span highlighted in the
passage: every piece of the passage is HTML-escaped (``display.highlighted_block``), never markup.
"""

from __future__ import annotations

import json
import time
from typing import Any

import streamlit as st

from studio import chat, device, ui
from studio.chat import BackendSpec, ChatParams, StreamStats, passage
from studio.data import store
from studio.data.display import highlighted_block
from studio.errors import CancelledError, StudioError, unexpected
from studio.models import extractive, loading
from studio.models.spec import parse_spec
from studio.tasks import Task
from studio.ui import chat as chat_ui
from studio.ui import chat_saved, chat_settings
from studio.ui import models as models_ui

CONVERSATION, PASSAGE = "Conversation", "Question over a passage"
MODES = (CONVERSATION, PASSAGE)
EXTRACTIVE, GENERATIVE = "Extractive", "Generative"
WHERE = {"local": "Local model", "provider": "Hugging Face Inference Providers"}
QA_PROVIDERS = ["hf-inference", "auto"] + [p for p in chat_settings.PROVIDERS if p not in ("auto", "hf-inference")]
PASSAGE_KEY, QUESTION_KEY, ASK_KEY = "chat.passage.text", "chat.passage.question", "chat.passage.ask"
MAX_RECORDS = 1000  # records with a context offered from one dataset: a picker, not a browser
RUN = "chat.passage.run"  # {"question", "context", "tasks"}: the last question asked and its answers

STATE = {
    "chat.mode": CONVERSATION,
    "chat.passage.text": "",
    "chat.passage.question": "",
    RUN: None,
}


NOTE = "chat.passage.note"  # one line said above the answers (a model picked last that is gone)


def init() -> None:
    _mode_back()
    _passage_back()
    ui.init_state(STATE)
    _models_back()


def _mode_back() -> None:
    """A new session (a reloaded tab, a restarted studio) opens in the mode used last (``studio.chat.kept_settings``):
    a passage being asked about came back in conversation mode. "Chat with it" from another page sets its own."""
    from studio.chat import kept_settings

    if "chat.mode_back" in st.session_state:
        return
    st.session_state["chat.mode_back"] = True
    mode = kept_settings.load().get("mode")
    if mode in MODES and "chat.mode" not in st.session_state:
        st.session_state["chat.mode"] = mode


KEPT = "chat.passage.kept"  # (passage, question) as last written to, or read from, the workspace


def _passage_back() -> None:
    """A new session (a reloaded tab, a restarted studio) opens with the passage and question typed last
    (``kept_settings.load_passage``, this workspace's: a visitor's own on a public app): a reload lost them."""
    from studio.chat import kept_settings

    state = st.session_state
    if "chat.passage.back" in state:
        return
    state["chat.passage.back"] = True
    text, question = kept_settings.load_passage()
    state[KEPT] = (text, question)
    for key, value in (("chat.passage.text", text), ("chat.passage.question", question)):
        if value and key not in state:
            state[key] = value


def keep(context: str, question: str) -> None:
    """Keep the passage and question in the workspace for the next session, where they changed."""
    from studio.chat import kept_settings

    if st.session_state.get(KEPT) == (context, question):
        return
    try:
        kept_settings.save_passage(context, question, chat_saved.used_secrets())
    except (StudioError, OSError):  # a read-only or full workspace: they still hold in this session
        return
    st.session_state[KEPT] = (context, question)


def _models_back() -> None:
    """A new session (a reloaded tab, a restarted studio) asks passage questions with the models picked last
    (``studio.chat.kept_settings``), as conversation mode does and through its code (``chat_settings.picks_back``):
    they came back at their defaults. A generative model being picked (a server whose model name is not typed yet)
    comes back as typed so far; a local model no longer in the workspace (a deleted run) is said in one line."""
    from studio.chat import kept_settings

    state = st.session_state
    if "chat.passage.models_back" in state:
        return
    state["chat.passage.models_back"] = True
    kept = kept_settings.load()

    def put(slot: str, data: BackendSpec | dict[str, Any]) -> None:
        key = f"chat.{slot}"
        if isinstance(data, dict) or data.task != "extractive":  # a chat model (or one being picked) answers
            state[f"{key}.task.kept"] = GENERATIVE
            chat_settings.pick_kept(slot, data)
            return
        state[f"{key}.task.kept"], state[f"{key}.where.kept"] = EXTRACTIVE, data.kind
        if data.kind == "local":
            state[f"{key}.kept_qa_model"] = data.model
        else:
            state[f"{key}.hub_model.kept"], state[f"{key}.provider.kept"] = data.model, data.provider
            state[f"{key}.endpoint.kept"] = data.base_url

    picks = {f"passage.{slot}": kept.get("models", {}).get(f"passage.{slot}") for slot in ("a", "b")}
    refused = {slot: why for slot, why in kept.get("refused", {}).items() if slot.startswith("passage.")}
    _, line = chat_settings.picks_back(picks, kept.get("compare"), ("was picked last", "were picked last"), put,
                                       refused=refused)
    if line:
        state[NOTE] = line


def mode_switch(disabled: bool) -> str:
    return st.radio("Mode", MODES, key="chat.mode", horizontal=True, disabled=disabled, persist_state=ui.PERSIST,
                    help="Question over a passage: the answer is looked for in a text you give.")


def running() -> bool:
    run = st.session_state.get(RUN)
    return bool(run) and any(not t.done for t in run["tasks"])


# --- models ---------------------------------------------------------------------------------------

def _qa_default() -> tuple[str, str | None]:
    """The tutorial's extractive model where it can be loaded; else nothing, with one line saying why."""
    model = extractive.EXAMPLE_MODEL
    if loading.hub_reachable() or loading.in_hub_cache(model):
        return model, None
    return "", (f"{model} cannot be downloaded here (no network) and is not in the local cache: type a local "
                "question-answering model folder, or use Hugging Face Inference Providers.")


def _extractive_first(key: str) -> bool:
    """Whether the first model starts as extractive: where one can answer (the tutorial's model loads, a
    model or a hosted backend was chosen before, or API mode, where every model is hosted); offline
    without one, generative, which the bundled model answers."""
    state = st.session_state
    if not chat_settings.local_available() or state.get(f"{key}.qa_model") or state.get(f"{key}.kept_qa_model"):
        return True
    return state.get(f"{key}.where", state.get(f"{key}.where.kept")) == "provider" or bool(_qa_default()[0])


def not_ready(slot: str) -> str:
    """Why ``slot``'s model is not set (for the line beside a disabled Ask)."""
    return st.session_state.get(WHY, {}).get(slot) or "Choose one in the sidebar"


WHY = "chat.passage.why"  # {slot: why its model is not set}, for the line beside a disabled Ask


def model_slot(slot: str, disabled: bool) -> BackendSpec | None:
    """One model for ``slot`` ("a" or "b"): extractive (local or hosted) or generative (any chat backend)."""
    key = f"chat.passage.{slot}"
    st.session_state.setdefault(WHY, {}).pop(slot, None)
    first = EXTRACTIVE if slot == "a" and _extractive_first(key) else GENERATIVE
    # Each widget here is kept through a visit to another page, as the conversation mode's are (studio.ui.chat_settings):
    # Streamlit drops a widget's state in a run that does not draw it, and the next question went to the default.
    task = ui.kept_choice(st.radio, "Answers by", (EXTRACTIVE, GENERATIVE), f"{key}.task",
                          (EXTRACTIVE, GENERATIVE).index(first), horizontal=True, disabled=disabled,
                          help="Extractive: the model picks a span of the passage, with a score. Generative: a chat "
                               "model is asked the question with the passage.")
    if task == GENERATIVE:
        # the second beside a generative first: another model than the first, as in a conversation's compare mode
        against = slot == "b" and st.session_state.get("chat.passage.a.task") == GENERATIVE
        spec = chat_settings.backend_picker(f"passage.{slot}", disabled, against_first=against)
        if spec is None:
            # what is wrong, not only where: "Its settings have an error (see the sidebar)" sent the eye to a sidebar
            # often scrolled past the field
            st.session_state[WHY][slot] = st.session_state.get(f"chat.passage.{slot}.why", "") or \
                "Its settings have an error (see the sidebar)"
        return spec
    wheres = list(WHERE) if chat_settings.local_available() else ["provider"]
    if st.session_state.get(f"{key}.where") not in wheres:
        st.session_state.pop(f"{key}.where", None)
    where = ui.kept_choice(st.selectbox, "Backend", wheres, f"{key}.where", format_func=WHERE.get, disabled=disabled,
                           help=None if chat_settings.local_available() else device.capabilities().note())
    try:
        if where == "local":
            default, why = _qa_default()
            kept = st.session_state.get(f"{key}.kept_qa_model")  # the model picked last, as the chat slot keeps its own
            model = models_ui.model_picker(f"{key}.qa_model", "Extractive model", kept or default, disabled=disabled,
                                           help="A question-answering model: a Hub id or a local folder whose "
                                                "config is *ForQuestionAnswering.")
            if model:
                st.session_state[f"{key}.kept_qa_model"] = model
            if why and not model:
                st.caption(ui.md(why))
                st.session_state[WHY][slot] = f"No extractive model: {why[0].lower()}{why[1:]}"
                return None
            if model:  # past a path's length (the box takes any paste): said here, Ask off, as in conversation mode
                parse_spec(model)
            return BackendSpec(kind="local", model=model or "", task="extractive")
        model = ui.kept(st.text_input, "Model id", f"{key}.hub_model", extractive.EXAMPLE_MODEL, disabled=disabled,
                        max_chars=ui.SHORT_TEXT_CHARS)
        typed = st.session_state.get(f"{key}.provider.kept")  # a provider typed in, not in the list
        providers = QA_PROVIDERS + ([typed] if typed and typed not in QA_PROVIDERS else [])
        provider = ui.kept_choice(st.selectbox, "Provider", providers, f"{key}.provider", accept_new_options=True,
                                  disabled=disabled)
        url = ui.kept(st.text_input, "Endpoint URL (optional)", f"{key}.endpoint", "", disabled=disabled, max_chars=ui.SHORT_TEXT_CHARS,
                      on_change=chat_settings.trim, args=(f"{key}.endpoint",),
                      help="A dedicated Inference Endpoint (or any server) taking the question-answering "
                           "request; empty: Inference Providers by model id.")
        return BackendSpec(kind="provider", model=model, provider=provider or "auto", base_url=url.strip(),
                           task="extractive")
    except StudioError as exc:
        ui.show_error(exc)
        st.session_state[WHY][slot] = str(exc)
        return None


def token_fields(specs: list[BackendSpec | None]) -> None:
    """The conversation mode's fields, plus the API key for an endpoint URL that is not Hugging Face's
    (which never gets the Hugging Face token: ``passage.token_for``)."""
    chat_settings.token_fields(specs)
    kinds = {s.kind for s in specs if s is not None}
    foreign = [s for s in specs if s is not None and s.kind == "provider" and s.base_url and not passage.hf_host(s.base_url)]
    if foreign and "openai" not in kinds:  # the openai kind already shows the same field
        ui.secret_field("API key (optional)", "chat.api_key",
                        help="For an endpoint that needs one. The Hugging Face token is never sent to a URL that "
                             "is not Hugging Face's. Kept in this session only.")


# --- the passage ----------------------------------------------------------------------------------

@st.cache_data(ttl=10, show_spinner=False, max_entries=16)
def _context_records(dataset_id: str, sha256: str) -> list[dict[str, str]]:
    """The latest version's records that have a non-empty context (``sha256`` keys the cache by version)."""
    out = []
    for rec in store.load_version(dataset_id):
        context = rec.get("context")
        if isinstance(context, str) and context.strip():
            out.append({"question": str(rec.get("question") or ""), "context": context})
            if len(out) >= MAX_RECORDS:
                break
    return out


def _datasets_with_context() -> dict[str, tuple[str, list[dict[str, str]]]]:
    found = {}
    for info in store.list_datasets():
        if info.latest is None:
            continue
        try:
            records = _context_records(info.id, info.latest.sha256)
        except (StudioError, OSError, ValueError):
            continue  # a dataset being rewritten: not offered this time
        if records:
            found[info.id] = (info.name, records)
    return found


def record_picker(disabled: bool) -> None:
    """Pick a dataset record: its context fills the passage, its question the question."""
    found = _datasets_with_context()
    if not found:
        st.caption("No dataset in the workspace has records with a context (a passage): paste one below.")
        return

    def fill() -> None:
        dataset_id, i = st.session_state.get("chat.passage.dataset"), st.session_state.get("chat.passage.record")
        if dataset_id in found and i is not None:
            rec = found[dataset_id][1][i]
            st.session_state["chat.passage.text"] = rec["context"]
            st.session_state["chat.passage.question"] = rec["question"]

    c1, c2 = st.columns([1, 2])
    # Both kept through a visit to another page, as the passage and question they filled are (ui.PERSIST).
    dataset_id = ui.kept_choice(c1.selectbox, "Dataset", list(found), "chat.passage.dataset",
                                format_func=lambda d: found[d][0], disabled=disabled,
                                help="Datasets whose records carry a context (latest version).")
    records = found[dataset_id][1] if dataset_id in found else []
    if st.session_state.get("chat.passage.record_of") != dataset_id:  # another dataset: none of its records is picked
        st.session_state.pop("chat.passage.record", None)
        st.session_state["chat.passage.record_of"] = dataset_id
    ui.kept_choice(c2.selectbox, "Record", range(len(records)), "chat.passage.record", default=None, on_change=fill,
                   ident=lambda i: (dataset_id, i),  # another dataset's record number picks nothing
                   disabled=disabled, format_func=lambda i: f"{i + 1}. {records[i]['question'][:100]}",
                   placeholder="choose a record", help=f"Records with a context (the first {MAX_RECORDS} at most).")


def passage_box(disabled: bool) -> tuple[str, str]:
    """The passage, and why it cannot be asked about ("" when it can): over the bound it stays in the box, refused in
    one line under it (``ui.PASTE_CHARS``: its counter showed 1,000,001, and a longer paste was dropped with no word)."""
    ui.hide_counter(PASSAGE_KEY, QUESTION_KEY)
    context = st.text_area("Passage", max_chars=ui.PASTE_CHARS, key=PASSAGE_KEY, height=180, disabled=disabled, persist_state=ui.PERSIST,
                           placeholder=f"Paste the text the question is about (up to {extractive.MAX_PASSAGE_CHARS:,} characters).")
    why = str(extractive.passage_too_long(len(context))) if len(context) > extractive.MAX_PASSAGE_CHARS else ""
    if why:
        ui.show_error(why)
    return context, why


# Enter in the question does what a click on Ask does: the focus moves to Ask (Streamlit takes the box's text as the box
# loses it), then Ask is clicked. Clicked at once, Ask's run read the question as it was before (the new one reverted in
# the box). A script, because Streamlit 1.67 tells the page nothing of how a box's text came (Enter and leaving the box
# alike), and a form, whose Enter does submit, sends a box's text only then: a question typed and not asked was lost on
# a visit to another page or a reload. Where a later Streamlit renames the classes it reads, Enter does what it did
# (nothing) and Ask still asks; the script catches its own errors.
_ENTER_ASKS = """<span data-studio-enter-asks></span><style>
[data-testid="stElementContainer"]:has([data-studio-enter-asks]) {display: none}</style><script>(() => { try {
if (window.__studioEnterAsks) return;
window.__studioEnterAsks = true;
document.addEventListener("keydown", (e) => { try {
  if (e.key !== "Enter" || e.isComposing || e.shiftKey || e.ctrlKey || e.metaKey || e.altKey) return;
  if (!(e.target instanceof Element) || !e.target.closest(%(box)s)) return;
  const ask = document.querySelector(%(ask)s);
  if (!ask || ask.disabled) return;
  ask.focus();  // as a click does: the box loses the focus, and Streamlit takes its text then
  setTimeout(() => { try { if (!ask.disabled) ask.click(); } catch (err) {} }, 100);
} catch (err) {} });
} catch (err) {} })();</script>"""


def question_box(disabled: bool) -> str:
    """The question; Enter in it asks, as in a conversation's box (it only applied the text, so Enter did nothing a
    person could see). Over the bound, Ask refuses it in one line and it stays in the box (``ui.PASTE_CHARS``)."""
    from studio.ui.editor_place import css_class

    st.html(_ENTER_ASKS % {"box": json.dumps(f".{css_class(QUESTION_KEY)} input"),
                           "ask": json.dumps(f".{css_class(ASK_KEY)} button")}, unsafe_allow_javascript=True)
    return st.text_input("Question", max_chars=ui.PASTE_CHARS, key=QUESTION_KEY, disabled=disabled,
                         persist_state=ui.PERSIST,
                         placeholder=f"What to look for in the passage (up to {extractive.MAX_PASSAGE_CHARS:,} characters); "
                                     "Enter asks")


# --- asking and answering -------------------------------------------------------------------------

class PassageTask(Task):
    """One model's answer: build (load) the backend, then ask it; the result is a ``PassageAnswer``."""

    def __init__(self, spec: BackendSpec, token: str | None, system: str, question: str, context: str,
                 params: ChatParams):
        super().__init__(spec.label)
        self.spec, self._token, self.system = spec, token, system
        self.question, self.context, self.params = question, context, params
        self.phase = "loading"
        self.stats = StreamStats()  # read while it answers: its status says a wait for the model
        self.text = ""  # a generative answer as it streams, drawn in its card as a conversation's is

    def _add(self, piece: str) -> None:
        self.text += piece

    def work(self) -> passage.PassageAnswer:
        backend = passage.make_passage_backend(self.spec, self._token, system=self.system)
        if self.stop.is_set():  # stopped while the model loaded: it is not asked (it read "before the first token")
            raise CancelledError(chat.stopped_early(loading=True))
        self.phase = "answering"
        self.stats.started = time.perf_counter()
        more = {} if backend.extractive else {"on_piece": self._add}  # an extractive answer comes whole
        return backend.answer(self.question, self.context, self.params, stop=self.stop, stats=self.stats, **more)

    def failure_message(self, exc: BaseException) -> str:
        return unexpected(f"The answer from {self.label}", exc)


def ask(question: str, context: str, specs: list[BackendSpec], system: str, params: ChatParams) -> bool:
    """Start one answer per model; an empty passage or question is refused in one line and nothing is sent."""
    try:
        extractive.check_passage(question, context)
    except StudioError as exc:
        ui.show_error(exc)
        return False
    try:  # a public app's own token serves a few hosted-model requests a minute per visitor
        ui.spend_inference(sum(1 for s in specs if s.kind == "provider" and not s.by_url))  # by_url: not on its token
    except StudioError as exc:
        ui.show_error(exc)
        return False
    key = st.session_state.get("chat.api_key") or None
    # the deployer's token serves Inference Providers by model id, never an endpoint a visitor typed (a Space
    # or a custom Inference Endpoint on a Hugging Face host is still anyone's server)
    tasks = [PassageTask(s, passage.token_for(s, ui.hf_token(for_inference=not s.by_url), key), system,
                         question.strip(), context, params).start()
             for s in specs]
    st.session_state[RUN] = {"question": question.strip(), "context": context, "tasks": tasks}
    chat_ui.stop_with_the_tab(tasks)
    return True


def _caption(ans: passage.PassageAnswer) -> str:
    parts = [f"score {ans.score:.2f}" if ans.score is not None else ""]
    if not ans.extractive:
        parts.append("found in the passage" if ans.found else "not found in the passage")
    elif not ans.found:
        parts.append("not found in the passage")  # a hosted span whose text the passage does not hold
    stats = ans.stats
    if stats is not None and stats.ended is not None:
        parts.append(f"{stats.ended - stats.started:.2f} s")
        if not ans.extractive and stats.tokens:
            parts.append(f"{stats.tokens} token" + ("" if stats.tokens == 1 else "s"))
        parts.append(stats.retries_note())  # "1 retry", in a conversation's words (``StreamStats``)
        if stats.waited_s >= 1:  # compare mode with one model on both sides: its time counts from when it got the model
            parts.append(f"waited {stats.waited_s:.0f} s for the model")
    if ans.stopped:  # what it had said when Stop came
        parts.append("stopped")
    return " · ".join(p for p in parts if p)


def _one(task: PassageTask, context: str) -> None:
    with st.container(border=True):
        st.caption(ui.md(task.label))
        if not task.done:
            if task.text:  # its words so far (it read "Answering…" until the last one came)
                ui.show_text(task.text, "▌")
            elif task.phase == "answering" and task.stats.status:  # compare mode's other side holds the model
                # in a conversation's words and with its moving count (``studio.ui.chat``), not "Answering…"
                waited = time.perf_counter() - task.stats.started
                st.caption(f":material/hourglass_top: {ui.md(task.stats.status)} {waited:.0f} s so far.")
            else:
                st.caption("Loading the model…" if task.phase == "loading" else "Answering…")
            return
        if task.state == "stopped" and task.result is None:
            st.caption(ui.md(task.error or "Stopped."))
            return
        if task.error:
            ui.show_error(task.error)
            if note := task.stats.tries_note(task.error):  # no stats line as if it had answered, as in a conversation
                st.caption(note)
            return
        ans: passage.PassageAnswer = task.result
        if not ans.extractive and chat.blank(ans.text):
            st.caption(f":material/info: The model {chat.EMPTY_ANSWER}.")
        else:
            ui.show_text(ans.text or "(no answer)")  # an extractive model that found no span
        st.caption(_caption(ans))
        if not ans.extractive and ans.stats is not None and ans.stats.cut_at:  # it ends mid-sentence: as in a chat
            st.caption(f":material/content_cut: {chat.cut_note(int(ans.stats.cut_at))}")
        if ans.start is not None and ans.end is not None and 0 <= ans.start < ans.end <= len(context):
            # where the answer is, in its sentence or so: the passage itself is on the page already
            text, start, end = window(context, ans.start, ans.end)
            st.markdown(highlighted_block(passage.segments(text, start, end)), unsafe_allow_html=True)


def window(context: str, start: int, end: int, margin: int = 160) -> tuple[str, int, int]:
    """The span with up to ``margin`` characters either side, cut at word boundaries and marked "…"
    where the passage goes on: (text, the span's start and end in it)."""
    left, right = max(0, start - margin), min(len(context), end + margin)
    if left > 0:
        space = context.find(" ", left, start)
        left = space + 1 if space != -1 else left
    if right < len(context):
        space = context.rfind(" ", end, right)
        right = space if space != -1 else right
    head, tail = ("… " if left > 0 else ""), (" …" if right < len(context) else "")
    return head + context[left:right] + tail, len(head) + start - left, len(head) + end - left


def _show(run: dict[str, Any]) -> None:
    st.markdown(f"**Question:** {ui.md(run['question'])}")
    tasks = run["tasks"]
    cols = st.columns(len(tasks)) if len(tasks) > 1 else [st.container()]
    for col, task in zip(cols, tasks):
        with col:
            _one(task, run["context"])


@st.fragment(run_every=chat_ui.POLL_S)
def live_answers() -> None:
    """Redraw the answers while any is coming; when all are in, rerun the page (the inputs come back)."""
    run = st.session_state.get(RUN)
    if not run:
        return
    if all(t.done for t in run["tasks"]):
        st.rerun()
    _show(run)
    if st.button("Stop", icon=":material/stop_circle:", key="chat.passage.stop"):
        for t in run["tasks"]:
            t.cancel()


def answers(busy: bool) -> None:
    """The last question's answers: polled while the page is drawn busy (inputs off), then as they are.
    ``busy`` is the page's one reading of ``running()``: reading it again here could find the answers done
    just after the inputs were drawn off, and then no poller would ever rerun the page to turn them back on."""
    if st.session_state.get(NOTE):
        st.warning(ui.md(st.session_state.pop(NOTE)), icon=":material/warning:")
    run = st.session_state.get(RUN)
    if not run:
        return
    if busy:
        live_answers()
    else:
        _show(run)
