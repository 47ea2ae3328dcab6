"""The Chat page's widgets: backend pickers, sampling settings, history, live answers, export.

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

from studio import chat, config, device, settings, ui
from studio.chat import (
    BACKEND_LABELS,
    DEFAULT_LOCAL_MODEL,
    DEFAULT_PRESET,
    SYSTEM_PRESETS,
    BackendSpec,
    ChatParams,
    StreamJob,
)
from studio.errors import StudioError
from studio.models import loading
from studio.ui import models as models_ui

# Inference Providers that serve chat models (huggingface_hub's list; another name can be typed in).
PROVIDERS = ["auto", "hf-inference", "baseten", "cerebras", "cohere", "deepinfra", "featherless-ai", "fireworks-ai",
             "groq", "novita", "nscale", "ovhcloud", "publicai", "sambanova", "scaleway", "together", "zai-org"]
POLL_S = 0.5  # how often a streaming answer is redrawn, seconds
FAST_HELP = ("A static KV cache and a compiled decoding step (torch.compile): the first answer pauses while it "
             "compiles (a minute or so on a CPU for a small model), later answers decode faster (1.2-1.3x for "
             "SmolLM2-135M on a CPU). Greedy answers are unchanged. Chat and passage answers only: the Train page's "
             "ask panel and Evaluate answer too few questions, or batches of too many lengths, for it to pay off.")

STATE = {
    "chat.messages": [],  # history: user turns, assistant turns ({content, model, stats, alt?, error?})
    "chat.jobs": [],  # StreamJobs of the answer being streamed (two in compare mode)
    "chat.preset": DEFAULT_PRESET,
    "chat.system": SYSTEM_PRESETS[DEFAULT_PRESET],
}


# The page's sampling widgets by the ChatParams field each sets (what ``studio.chat.kept_settings`` keeps).
SAMPLING_KEYS = {"max_new_tokens": "chat.max_new_tokens", "temperature": "chat.temperature", "do_sample": "chat.do_sample",
                 "top_p": "chat.top_p", "repetition_penalty": "chat.repetition_penalty", "timeout_s": "chat.timeout"}


def init() -> None:
    ui.init_state({k: (list(v) if isinstance(v, list) else v) for k, v in STATE.items()})
    _settings_back()
    restore()
    _models_back()


def _settings_back() -> None:
    """A new session (a reloaded or new tab) opens with the settings this workspace's conversation was had with:
    a reload brought the conversation back but the temperature, max new tokens and system prompt at their
    defaults, so the next answer came from other settings than the last without a word."""
    from studio.chat import kept_settings

    if "chat.settings_back" in st.session_state:
        return
    st.session_state["chat.settings_back"] = True
    kept = kept_settings.load()
    for name, key in SAMPLING_KEYS.items():
        if name in kept and f"{key}.kept" not in st.session_state:
            st.session_state[f"{key}.kept"] = int(kept[name]) if name == "timeout_s" else kept[name]
    if "system" in kept:
        st.session_state["chat.preset"] = kept.get("preset", DEFAULT_PRESET)
        st.session_state["chat.system"] = kept["system"]
    if "before" in kept and "chat.system.before" not in st.session_state:  # a prompt typed in before a run was picked
        st.session_state["chat.system.before"] = tuple(kept["before"])


def _models_back() -> None:
    """A new session (a reloaded tab, a restarted studio) asks the models picked last in the sidebar, compare mode's
    second one too (``studio.chat.kept_settings``): a model picked after the conversation's last answer is the one
    its next question goes to (the last answer's model won over it after a reload). Where no pick is kept (a
    workspace from before picks were kept), the models that answered the conversation's last question. A model no
    longer in the workspace (a deleted run) is said in one line; so is a run still training, as what it is; "Chat
    with it" from another page picks its own model."""
    from studio.chat import kept_settings

    if "chat.models_back" in st.session_state:
        return
    st.session_state["chat.models_back"] = True
    kept = kept_settings.load()
    last = next((t for t in reversed(st.session_state["chat.messages"]) if t.get("role") == "assistant"), None)
    if any(slot in kept.get("models", {}) for slot in ("a", "b")) or "compare" in kept:
        said, compare = ("was picked last", "were picked last"), kept.get("compare")
        picks = {slot: kept.get("models", {}).get(slot) for slot in ("a", "b")}
    elif last is not None and isinstance(last.get("spec"), dict):
        said, compare = ("answered this conversation",) * 2, None
        picks = {"a": last.get("spec"), "b": (last.get("alt") or {}).get("spec")}
    else:
        return
    gone, lines = [], []
    for slot, data in picks.items():
        if not isinstance(data, dict) or (slot == "a" and "chat.a.model" in st.session_state):
            continue
        if data.get("draft"):  # a model being picked: as typed so far
            _pick_draft(slot, data)
            continue
        try:
            spec = BackendSpec.from_dict(data)
        except (StudioError, TypeError):
            continue
        told = models_ui.not_offered(spec.model) if spec.kind == "local" else None
        if told is not None:
            clause, answers = told
            if slot == "a" or compare is not False:  # a second model compare mode does not ask is not news
                if clause == models_ui.GONE:
                    gone.append(spec.label)
                else:
                    lines.append(f"{spec.label} {said[0]} and {clause}.")
            if not answers:
                continue
        pick(slot, spec)
        if slot == "b" and compare is None:
            st.session_state["chat.compare.kept"] = True
    if compare is not None and "chat.compare.kept" not in st.session_state:
        st.session_state["chat.compare.kept"] = compare
    _said_gone(gone, said, lines)


def _said_gone(gone: list[str], said: tuple[str, str], lines: list[str] = ()) -> None:
    """One line naming the models picked before that are no longer in the workspace (a deleted run), and what is
    true of one that is there but not finished (``lines``)."""
    if gone:
        lines = [f"{' and '.join(gone)} {said[len(gone) > 1]} but {'is' if len(gone) == 1 else 'are'} "
                 f"{models_ui.GONE.removeprefix('is ')}.", *lines]
    if lines:
        st.session_state["chat.saved_note"] = " ".join(lines)


def _typed(slot: str) -> dict[str, str]:
    """The sidebar's fields for model ``slot`` as they stand (``kept_settings.DRAFT_FIELDS``)."""
    state = st.session_state
    kind = state.get(f"chat.{slot}.kind.kept") or "local"
    model = {"local": state.get(f"chat.{slot}.kept_model"), "provider": state.get(f"chat.{slot}.hub_model.kept"),
             "openai": state.get(f"chat.{slot}.api_model.kept")}.get(kind)
    return {"kind": kind, "model": model or "", "base_url": state.get(f"chat.{slot}.base_url.kept") or "",
            "provider": state.get(f"chat.{slot}.provider.kept") or ""}


def _pick_draft(slot: str, data: dict[str, Any]) -> None:
    """The sidebar's widgets for model ``slot`` set to a model being picked (``kept_settings.draft``)."""
    state, kind = st.session_state, data["kind"]
    state[f"chat.{slot}.kind.kept"] = kind
    if kind == "local" and data["model"]:
        state[f"chat.{slot}.kept_model"] = data["model"]
    elif kind == "provider":
        state[f"chat.{slot}.hub_model.kept"] = data["model"]
        if data["provider"]:
            state[f"chat.{slot}.provider.kept"] = data["provider"]
    elif kind == "openai":
        state[f"chat.{slot}.api_model.kept"] = data["model"]
        if data["base_url"]:
            state[f"chat.{slot}.base_url.kept"] = data["base_url"]


def pick(slot: str, spec: BackendSpec) -> None:
    """The sidebar's widgets for model ``slot`` set to ``spec``, as if picked there."""
    state = st.session_state
    state[f"chat.{slot}.kind.kept"] = spec.kind
    if spec.kind == "local":
        state[f"chat.{slot}.kept_model"] = spec.model
        state[f"chat.{slot}.quant"] = spec.quantization or "none"
        state[f"chat.{slot}.fast.kept"] = spec.fast_decoding
    elif spec.kind == "provider":
        state[f"chat.{slot}.hub_model.kept"], state[f"chat.{slot}.provider.kept"] = spec.model, spec.provider
    else:
        state[f"chat.{slot}.base_url.kept"], state[f"chat.{slot}.api_model.kept"] = spec.base_url, spec.model


def remember(params: ChatParams, models: dict[str, BackendSpec | None] | None = None,
             compare: bool | None = None, mode: str | None = None) -> None:
    """Keep the sampling settings, the system prompt (and the one a run's "As trained" stands in for), the page's
    ``mode``, compare mode and the ``models`` shown, by slot (``kept_settings.SLOTS``), in the workspace for the next
    session (no secret)."""
    from studio.chat import kept_settings

    before = st.session_state.get("chat.system.before")
    models = dict(models or {})
    for slot in ("a", "b"):  # a model being picked (no model name typed yet) is kept as typed so far: a reload
        # brought back the model picked before it, the backend chosen and the base URL typed lost
        if slot in models and models[slot] is None and (slot == "a" or compare):
            models[slot] = kept_settings.draft(_typed(slot), _secrets())
    try:
        kept_settings.save(params, st.session_state.get("chat.preset", DEFAULT_PRESET),
                           st.session_state.get("chat.system", ""), _secrets(),
                           before=tuple(before) if before else None, compare=compare, models=models, mode=mode)
    except (StudioError, OSError):  # a read-only or full workspace: the settings still hold in this session
        pass


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
            turns, note = saved.load()
        except saved.Unreadable as exc:
            st.session_state["chat.saved_stamp"] = UNSAVED
            st.session_state["chat.saved_note"] = str(exc)
            return
        st.session_state["chat.saved_stamp"] = saved.stamp()
    st.session_state["chat.dropped"] = 0  # the page holds the saved turns (or adds its own to them: the next save says)
    if first:  # this tab opens this workspace's conversation (a new session, or a token given mid-session)
        if turns and not had:
            st.session_state["chat.messages"] = turns
        elif turns and had:  # the tab's exchanges go after it, but those that moved in with the tab's work: by
            # question id, or (saved before ids) by question and answers; "hi" in both was not enough
            st.session_state["chat.messages"] = [*turns, *saved.unmatched(had, turns)]
    else:
        st.session_state["chat.messages"] = turns
        if had and not turns and not note:
            note = "The conversation was cleared in another tab: this tab starts a new one."
        elif had != turns and not note:
            note = "Another tab changed this conversation: this tab now shows it as it was saved there."
    if note:
        st.session_state["chat.saved_note"] = note


def _secrets() -> list[str | None]:
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
        if st.session_state.get("chat.saved_stamp") == UNSAVED:
            return  # the file there could not be read: it is not written over (Clear removes it)
        try:
            st.session_state["chat.saved_stamp"], dropped = saved.save(st.session_state["chat.messages"], _secrets())
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
    st.session_state["chat.dropped"] = 0
    try:
        saved.forget()
        st.session_state["chat.saved_stamp"], st.session_state["chat.not_saved"] = None, False
    except OSError as exc:
        st.session_state["chat.saved_note"] = f"The saved conversation could not be removed ({exc.strerror or exc})."


# Questions being answered now, in any tab of this studio: id -> whether its answer is still coming. Another tab
# shows such a question as being answered there, not as one whose tab was reloaded.
_ANSWERING: dict[str, Callable[[], bool]] = {}


def being_answered(question_id: str | None) -> bool:
    """Whether the question with this id is still being answered, in this tab or another."""
    alive = _ANSWERING.get(question_id or "")
    if alive is not None and not alive():
        _ANSWERING.pop(question_id or "", None)
        return False
    return alive is not None


def streaming() -> bool:
    return any(not job.done for job in st.session_state["chat.jobs"])


def local_available() -> bool:
    return device.capabilities().local_models


# --- Settings ----------------------------------------------------------------------------------

# The Backend box's options, as short as the sidebar needs: "Hugging Face Inference Providers" was cut off at a phone's
# width (390 px), and at a narrow desktop sidebar; 24 characters ("OpenAI-compatible server") fit.
SIDEBAR_LABELS = {**BACKEND_LABELS, "provider": "HF Inference Providers"}


def backend_picker(slot: str, disabled: bool) -> BackendSpec | None:
    """Widgets for one model (``slot`` "a" or "b"); the spec, or None with an error shown."""
    if slot == "a":
        st.session_state.pop("chat.why", None)  # said again below if still so
    kinds = list(BACKEND_LABELS) if local_available() else [k for k in BACKEND_LABELS if k != "local"]
    if st.session_state.get(f"chat.{slot}.kind") not in kinds:
        st.session_state.pop(f"chat.{slot}.kind", None)
    # Kept (with the URL, model and provider below) through a visit to another page: the next question went to
    # the default local model instead of the server typed in before.
    kind = ui.kept_choice(st.selectbox, "Backend", kinds, f"chat.{slot}.kind",
                          0 if local_available() else kinds.index("provider"), format_func=SIDEBAR_LABELS.get,
                          disabled=disabled, help=None if local_available() else device.capabilities().note())
    try:
        if kind == "local":
            default, why = loading.offline_default(DEFAULT_LOCAL_MODEL)
            # The model picked last stays picked when the picker is redrawn with other options (the
            # bundled model imported on first use, a mode or compare switch that hid the picker).
            kept = st.session_state.get(f"chat.{slot}.kept_model")
            model = models_ui.model_picker(f"chat.{slot}.model", "Local model", kept or default, disabled=disabled)
            if model:
                st.session_state[f"chat.{slot}.kept_model"] = model
            if model and model != default:
                st.session_state[f"chat.{slot}.chosen"] = True
            # Why the default stands in for the tutorial's model; not once a model was picked on purpose (another
            # page's "Chat with it" on the bundled model read as if it had been swapped in).
            if why and model == default and not st.session_state.get(f"chat.{slot}.chosen"):
                st.caption(why)
            quant = st.selectbox("Quantization", ["none", "4bit", "8bit"], key=f"chat.{slot}.quant", disabled=disabled,
                                 help="4-bit NF4 / 8-bit through bitsandbytes, on a CUDA GPU only.")
            fast = ui.kept(st.toggle, "Fast decoding", f"chat.{slot}.fast", False, disabled=disabled, help=FAST_HELP)
            return BackendSpec(kind="local", model=model or "", quantization=None if quant == "none" else quant,
                               fast_decoding=fast)
        if kind == "provider":
            model = ui.kept(st.text_input, "Model id", f"chat.{slot}.hub_model", "meta-llama/Llama-3.1-8B-Instruct",
                            disabled=disabled)
            typed = st.session_state.get(f"chat.{slot}.provider.kept")  # a provider typed in, not in the list
            providers = PROVIDERS + ([typed] if typed and typed not in PROVIDERS else [])
            provider = ui.kept_choice(st.selectbox, "Provider", providers, f"chat.{slot}.provider",
                                      accept_new_options=True, disabled=disabled)
            return BackendSpec(kind="provider", model=model, provider=provider or "auto")
        base = ui.kept(st.text_input, "Base URL", f"chat.{slot}.base_url", "http://127.0.0.1:8000/v1", disabled=disabled)
        model = ui.kept(st.text_input, "Model", f"chat.{slot}.api_model", "", disabled=disabled,
                        placeholder="the server's model name")
        return BackendSpec(kind="openai", model=model, base_url=base)
    except StudioError as exc:
        ui.show_error(exc)
        st.session_state.setdefault("chat.why", ("first" if slot == "a" else "second", str(exc)))  # the first one's
        return None


def why_input_is_off() -> None:
    """One line by the disabled input saying why (the reason is in the sidebar, often scrolled out of view)."""
    which, why = st.session_state.get("chat.why") or (None, "")
    st.caption(f":material/info: Asking is off: the {which} model is not set ({ui.md(why.rstrip('.'))})." if which
               else ":material/info: Asking is off: fix the sampling settings in the sidebar.")


def token_fields(specs: list[BackendSpec | None]) -> None:
    """Password fields kept only in this session (never written anywhere).

    The Hugging Face token goes to Inference Providers and Hub downloads; a base URL gets only the
    API key typed for it here, never the token or a key from the server's secrets.
    """
    kinds = {s.kind for s in specs if s is not None}
    if "provider" in kinds or "local" in kinds:
        if not config.tenancy():  # a public app asks for it once, under Your workspace (studio.ui.cloud)
            ui.secret_field("Hugging Face token", "auth.hf_token",
                            help="Kept in this browser session only. Or set HF_TOKEN in secrets or the environment.")
        if "provider" in kinds and not ui.hf_token(for_inference=True):
            st.caption("No token yet: Inference Providers need one.")
    if "openai" in kinds:
        ui.secret_field("API key (optional)", "chat.api_key",
                        help="For servers that need one (OpenAI, a protected vLLM). Kept in this session only; "
                             "without it no key is sent.")


def params_panel(disabled: bool) -> ChatParams | None:
    """The sampling settings; the tutorial's are the defaults."""
    d = ChatParams()
    # Kept across a visit to another page: a max-new-tokens back at 500 also grows fast decoding's cache (a recompile).
    max_new = ui.kept(st.slider, "Max new tokens", "chat.max_new_tokens", d.max_new_tokens, min_value=16,
                      max_value=2048, step=16, disabled=disabled)
    temp = ui.kept(st.slider, "Temperature", "chat.temperature", d.temperature, min_value=0.0, max_value=2.0,
                   step=0.05, disabled=disabled, help="0 = greedy (always the most likely token).")
    sample = ui.kept(st.checkbox, "Sample (do_sample)", "chat.do_sample", d.do_sample, disabled=disabled)
    top_p = ui.kept(st.slider, "Top-p", "chat.top_p", d.top_p, min_value=0.05, max_value=1.0, step=0.05,
                    disabled=disabled)
    lo, hi = settings.bounds(ChatParams, "repetition_penalty")  # described once, with the CLI's flag
    penalty = ui.kept(st.slider, settings.label(ChatParams, "repetition_penalty"), "chat.repetition_penalty",
                      d.repetition_penalty, min_value=lo, max_value=hi, step=0.05, disabled=disabled,
                      help=settings.help_text(ChatParams, "repetition_penalty"))
    timeout = ui.kept(st.number_input, "Timeout (s)", "chat.timeout", int(d.timeout_s), min_value=5, max_value=600,
                      disabled=disabled, help="Longest wait for the server, or for the next token of a local model "
                                              "(its first token also gets the time its prompt takes to read).")
    return ui.run_or_error(ChatParams, max_new_tokens=int(max_new), temperature=float(temp), do_sample=sample,
                           top_p=float(top_p), repetition_penalty=float(penalty), timeout_s=float(timeout))


def system_prompt(disabled: bool, spec: BackendSpec | None = None) -> str:
    """The system prompt. A training run chats by default as it was trained (and evaluated): the
    "As trained" preset, chosen each time such a run is picked, with the format shown."""
    from studio.chat.trained import AS_TRAINED, trained_prompt

    trained = trained_prompt(spec.model) if spec is not None and spec.kind == "local" else None
    presets = {AS_TRAINED: trained.system, **SYSTEM_PRESETS} if trained else dict(SYSTEM_PRESETS)
    model = spec.model if spec is not None else None
    if st.session_state.get("chat.system.model") != model:  # another model picked: its own default
        st.session_state["chat.system.model"] = model
        if trained:
            if st.session_state.get("chat.preset") != AS_TRAINED:  # the person's own, back when they leave the run
                st.session_state["chat.system.before"] = (st.session_state.get("chat.preset", DEFAULT_PRESET),
                                                          st.session_state.get("chat.system", ""))
            st.session_state["chat.preset"], st.session_state["chat.system"] = AS_TRAINED, trained.system
        elif st.session_state.get("chat.preset") == AS_TRAINED:  # what it was before the run: a prompt typed in
            # came back as the "Helpful assistant" preset, the text lost
            st.session_state["chat.preset"], st.session_state["chat.system"] = st.session_state.pop(
                "chat.system.before", (DEFAULT_PRESET, SYSTEM_PRESETS[DEFAULT_PRESET]))
    if st.session_state.get("chat.preset") not in presets:
        st.session_state["chat.preset"] = DEFAULT_PRESET

    def apply_preset() -> None:
        st.session_state["chat.system"] = presets[st.session_state["chat.preset"]]

    st.selectbox("System prompt preset", list(presets), key="chat.preset", on_change=apply_preset, disabled=disabled)
    if trained:
        st.caption(f"{ui.md(trained.run_name)}: {ui.md(trained.description)}")
    return st.text_area("System prompt", key="chat.system", height=90, disabled=disabled)


def local_models_panel() -> None:
    """Loaded local models, device memory, and unload buttons."""
    if not local_available():
        return
    cache = ui.model_cache()
    loaded = cache.loaded()
    from studio.device import memory_summary

    st.caption(f"{memory_summary()}. Loaded: {len(loaded)} of at most {ui.model_cache().max_models} models."
               + ui.loads_line())  # after Stop, a load under way goes on: said, and counted when it ends
    if cache.loading() and not streaming():
        ui.rerun_when_loaded()
    for i, lm in enumerate(loaded):
        # A chat model (loading.LoadedModel) or an extractive one (extractive.LoadedQA, spec "qa:<model>").
        spec, what = (lm.ref.spec, lm.quantization or lm.dtype) if hasattr(lm, "ref") else (lm.spec, "extractive")
        # One under the other: beside the line, the sidebar's narrow column cut the button to "U."
        st.caption(f"{ui.md(spec)} · {lm.device} · {what}")
        for note in lm.notes:
            st.caption(note)
        if st.button("Unload", key=f"chat.unload.{i}", disabled=streaming(), icon=":material/eject:"):
            cache.unload(spec)
            st.rerun()


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
    if kind == "bundled":  # resolved so only while it has not been converted yet
        return "first use: its GGUF file is converted once into the workspace; later loads take seconds"
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
    if why := chat.too_long(question):  # kept out of the conversation, and put back in the input to cut
        st.session_state["chat.refused"] = f"Not sent: {why} It is back in the input."
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
        msgs = chat.build_messages(system, chat.history_for(turns, side), question)
        jobs.append(StreamJob(spec.label, _factory(spec), msgs, params, _loading_note(spec), spec).start())
    asked = {"role": "user", "id": uuid.uuid4().hex[:12], "content": question}
    st.session_state["chat.jobs"] = jobs
    st.session_state["chat.asking"] = asked
    alive = _tab_alive()
    for gone in [k for k, answering in list(_ANSWERING.items()) if not answering()]:  # tabs closed mid-answer
        _ANSWERING.pop(gone, None)
    _ANSWERING[asked["id"]] = lambda: alive() and any(not job.done for job in jobs)
    save(lambda turns: turns.append(dict(asked)))  # kept even where the tab is reloaded before its answer ends
    stop_with_the_tab(jobs)


def put_back() -> None:
    """A question refused as too long back in the input (before it is drawn), so the text typed is not lost."""
    if (question := st.session_state.pop("chat.put_back", None)) is not None:
        st.session_state["chat.input"] = question


def _tab_alive() -> Callable[[], bool]:
    """Whether the browser tab running this script is still open (always, where there is no server: AppTest)."""
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None or not Runtime.exists():
        return lambda: True
    runtime, sid = Runtime.instance(), ctx.session_id
    return lambda: runtime.is_active_session(sid)


def stop_with_the_tab(tasks: list) -> None:
    """Answers stop when the browser tab that asked is reloaded or closed (``chat.stop_when_gone``): its session is
    gone, and with it the page that would show them."""
    import threading

    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None or not Runtime.exists():  # no server (a script, AppTest): no tab to watch
        return
    runtime, sid = Runtime.instance(), ctx.session_id
    threading.Thread(target=chat.stop_when_gone, args=(tasks, lambda: runtime.is_active_session(sid)),
                     daemon=True, name="chat-tab-watch").start()


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
        else:
            turns.insert(at + 1, turn)

    st.session_state["chat.jobs"] = []
    save(place)
    _ANSWERING.pop(asked.get("id", ""), None)


def _answer(turn: dict[str, Any], live: StreamJob | None = None, seen: set | None = None) -> None:
    """One answer. ``seen``: the notes said already, in the sidebar or earlier in the conversation ("Running on
    CPU ..."), are not said again under every answer."""
    seen = set() if seen is None else seen
    with st.chat_message("assistant"):
        st.caption(ui.md(turn.get("model", "")))
        if turn.get("content"):
            ui.show_text(turn["content"], "▌" if live is not None and not live.done else "")
        elif live is not None and not live.done:
            if live.phase == "loading":  # the seconds move, so a long first load never looks frozen
                note = f" ({live.loading_note})" if live.loading_note else ""
                st.caption(f"Loading the model… {time.perf_counter() - live.stats.started:.0f} s so far{note}")
            else:
                st.caption("Waiting for the first token…")
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
            meta = "Stopped before the first token: no answer."  # not "0 tokens · stopped"
        else:
            meta = " · ".join(part for part in (turn.get("stats", ""), "stopped" if stopped else "") if part)
        if meta:
            st.caption(meta)


def _answers(turn: dict[str, Any], jobs: list[StreamJob] | None = None, seen: set | None = None) -> None:
    """One answer, or two side by side in compare mode."""
    if turn.get("alt") or (jobs and len(jobs) > 1):
        cols = st.columns(2)
        for col, t, job in zip(cols, [turn, turn.get("alt") or {}], jobs or [None, None]):
            with col:
                _answer(t, job, seen)
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
    elsewhere = False
    turns = st.session_state["chat.messages"]
    for i, turn in enumerate(turns):
        if turn["role"] == "user":
            with st.chat_message("user"):
                ui.show_text(turn["content"])
                # a question kept without its answer (the tab that asked was reloaded): said, not a silent gap
                answered = i + 1 < len(turns) and turns[i + 1].get("role") == "assistant"
                if answered or (i + 1 == len(turns) and st.session_state["chat.jobs"]):
                    pass
                elif being_answered(turn.get("id")):  # asked in another tab, whose answer is still coming
                    elsewhere = True
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
    if elsewhere and not st.session_state["chat.jobs"]:
        _watch_other_tabs()


def left_out() -> None:
    """The line under a conversation longer than the saved copy holds, while it is so: under the answer being
    streamed too (drawn in the conversation, it stood between the question and its answer)."""
    from studio.chat import saved

    if dropped := st.session_state.get("chat.dropped"):
        st.caption(f":material/info: Only the last {saved.KEEP} turns are saved in the workspace: the {dropped} before "
                   "them are on this page until it is reloaded, and in Export JSON or Markdown.")


@st.fragment(run_every=1.0)
def _watch_other_tabs() -> None:
    """While another tab answers a question of this conversation: the page runs again once that tab saves it."""
    from studio.chat import saved

    seen = st.session_state.get("chat.saved_stamp")
    if seen != UNSAVED and saved.stamp() != seen:
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


def export_buttons(spec: BackendSpec | None, params: ChatParams | None, spec_b: BackendSpec | None = None) -> None:
    """Both models' answers in compare mode, and failures with their reason."""
    turns = st.session_state["chat.messages"]
    disabled = not turns or streaming()
    c1, c2 = st.columns(2)
    c1.download_button("Export JSON", chat.export_json(turns, spec, params, spec_b, _secrets()), "conversation.json",
                       "application/json", disabled=disabled, key="chat.export_json", on_click="ignore")
    c2.download_button("Export Markdown", chat.export_markdown(turns, spec, spec_b, _secrets()), "conversation.md", "text/markdown",
                       disabled=disabled, key="chat.export_md", on_click="ignore")

