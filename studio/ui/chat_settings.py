"""The Chat page's sidebar: the backend pickers, the token fields, sampling, the system prompt, the local models
loaded; and the settings and models kept in the workspace for the next session (``studio.chat.kept_settings``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from studio import config, device, settings, ui
from studio.chat import (
    BACKEND_LABELS,
    DEFAULT_LOCAL_MODEL,
    DEFAULT_PRESET,
    SYSTEM_PRESETS,
    BackendSpec,
    ChatParams,
)
from studio.chat import served as served_models
from studio.chat.served import Served
from studio.data.display import plural
from studio.errors import BackendError, StudioError
from studio.models import loading
from studio.models.spec import parse_spec
from studio.ui import models as models_ui
from studio.ui import numbers
from studio.ui.chat_saved import streaming, used_secrets

# Inference Providers that serve chat models (huggingface_hub's list; another name can be typed in).
PROVIDERS = ["auto", "hf-inference", "baseten", "cerebras", "cohere", "deepinfra", "featherless-ai", "fireworks-ai",
             "groq", "novita", "nscale", "ovhcloud", "publicai", "sambanova", "scaleway", "together", "zai-org"]
FAST_HELP = ("A static KV cache and a compiled decoding step (torch.compile): the first answer pauses while it "
             "compiles (a minute or so on a CPU for a small model), later answers decode faster (1.2-1.3x for "
             "SmolLM2-135M on a CPU). Greedy answers are unchanged. Chat and passage answers only: the Train page's "
             "ask panel and Evaluate answer too few questions, or batches of too many lengths, for it to pay off.")

# The page's sampling widgets by the ChatParams field each sets (what ``studio.chat.kept_settings`` keeps).
SAMPLING_KEYS = {"max_new_tokens": "chat.max_new_tokens", "temperature": "chat.temperature", "do_sample": "chat.do_sample",
                 "top_p": "chat.top_p", "repetition_penalty": "chat.repetition_penalty", "timeout_s": "chat.timeout"}


RESTORING = "chat.kept.restoring"  # what the sidebar kept as a Chat page first ran while a restore brought the
# workspace back (``cloud.CHANGED`` once the visitor changed it): nothing is saved until the visitor changes something
FIRST_SEEN = "chat.kept.first"  # what ``remember`` would keep as the page first ran in this session: kept only once it
# differs (the visitor changed something) or a kept file is there to update
READ_ONCE = ("chat.settings_back", "chat.models_back", "chat.mode_back", "chat.passage.back", "chat.passage.models_back")


def after_restore() -> None:
    """Once the restore that ran as this tab opened Chat has ended: the settings it brought back are read again
    (their read-once flags cleared, the sidebar's values dropped), where the visitor changed nothing meanwhile. A
    Chat page run before ``chat/settings.json`` came read none, kept the page's defaults, and the restore then kept
    that file as the newer one: the visitor's system prompt, sampling and models were lost for good."""
    from studio.chat import kept_settings
    from studio.ui import cloud

    if not cloud.read_again_after_restore(RESTORING, config.home() / "chat" / kept_settings.FILE):
        return  # the visitor's own values stand (saved as they changed them), or nothing came to read
    for key in [k for k in st.session_state if k.startswith("chat.") and k.endswith(".kept")]:
        ui.read_again(key[:-len(".kept")])  # its widget's value too (else it wins when drawn), the browser told
    for key in (*READ_ONCE, "chat.preset", "chat.system", "chat.system.before", "chat.mode"):
        st.session_state.pop(key, None)
    for key in ("chat.passage.text", "chat.passage.question"):  # passage mode's, where none was typed meanwhile
        if not st.session_state.get(key):
            st.session_state.pop(key, None)


def _held_by_restore(seen: str) -> bool:
    """Whether ``remember`` saves nothing now: a restore is bringing the workspace back and the visitor changed nothing
    since the page first ran during it (``seen``: what it would save), so the repo's copy is the one kept."""
    from studio.ui import cloud

    return cloud.held_by_restore(RESTORING, seen)


def settings_back() -> None:
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


def models_back() -> None:
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
    if any(slot in kept.get("models", {}) or slot in kept.get("refused", {}) for slot in ("a", "b")) or "compare" in kept:
        said, compare = ("was picked last", "were picked last"), kept.get("compare")
        picks = {slot: kept.get("models", {}).get(slot) for slot in ("a", "b")}
    elif last is not None and isinstance(last.get("spec"), dict):
        said, compare = ("answered this conversation",) * 2, None
        picks = {"a": last.get("spec"), "b": (last.get("alt") or {}).get("spec")}
    else:
        return
    picked, line = picks_back(picks, compare, said, refused=kept.get("refused"))
    for slot in picked:  # picked by hand, if so: compare mode's second model picked as the first's default stays
        if slot in kept.get("chosen", []):  # (it gave way to the newest run at a reload, as a default does)
            st.session_state[f"chat.{slot}.chosen"] = True
    if "b" in picked and compare is None:  # the conversation's last answer came from two models
        st.session_state["chat.compare.kept"] = True
    if compare is not None and "chat.compare.kept" not in st.session_state:
        st.session_state["chat.compare.kept"] = compare
    if line:
        st.session_state["chat.saved_note"] = line


def picks_back(picks: dict[str, Any], compare: bool | None, said: tuple[str, str],
               put: Callable[[str, BackendSpec | dict[str, Any]], None] | None = None,
               refused: dict[str, str] | None = None) -> tuple[list[str], str]:
    """Pick again the models kept by slot (``studio.chat.kept_settings``: conversation mode's "a" and "b", passage
    mode's "passage.a" and "passage.b"), the first slot first; ``put(slot, spec_or_draft)`` sets one slot's widgets
    (``pick_kept`` by default). A local model no longer in the workspace (a
    deleted run) is not picked; one still training is, where it can answer. What is true of them is one line, said
    of the second slot only where compare mode asks it (``compare`` not False). A kept model whose name or URL the
    sidebar now refuses (``refused``: its reason by slot, from ``kept_settings.load``) is not picked, and said why.
    The slots picked and that line."""
    put = put or pick_kept
    gone, lines, picked = [], [], []
    first = next(iter(picks), None)

    def not_back(slot: str, why: str) -> None:
        if slot == first or compare is not False:
            which = "first" if slot == first else "second"
            lines.append(f"The {which} model that {said[0]} was not picked again. {why}")

    for slot, data in picks.items():
        if slot == "a" and "chat.a.model" in st.session_state:
            continue  # "Chat with it" from another page picked its own
        if not isinstance(data, dict):
            if (refused or {}).get(slot):
                not_back(slot, refused[slot])
            continue
        if data.get("draft"):  # a model being picked: as typed so far
            put(slot, data)
            picked.append(slot)
            continue
        try:
            spec = BackendSpec.from_dict(data)
        except StudioError as exc:
            not_back(slot, str(exc))
            continue
        except TypeError:
            continue
        told = models_ui.not_offered(spec.model) if spec.kind == "local" else None
        if told is not None:
            clause, answers = told
            if slot == first or compare is not False:  # a second model compare mode does not ask is not news
                if clause == models_ui.GONE:
                    gone.append(spec.label)
                else:
                    lines.append(f"{spec.label} {said[0]} and {clause}.")
            if not answers:
                continue
        put(slot, spec)
        picked.append(slot)
    if gone:
        lines = [f"{' and '.join(gone)} {said[len(gone) > 1]} but {'is' if len(gone) == 1 else 'are'} "
                 f"{models_ui.GONE.removeprefix('is ')}.", *lines]
    return picked, " ".join(lines)


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
        if data["model"]:  # typed for that server
            state[f"chat.{slot}.api_model.for"] = _url(data["base_url"])


def pick_kept(slot: str, data: BackendSpec | dict[str, Any]) -> None:
    """The sidebar's widgets for model ``slot`` set to a kept model: a spec, or a draft (one being picked)."""
    if isinstance(data, dict):
        _pick_draft(slot, data)
    else:
        pick(slot, data)


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
        state[f"chat.{slot}.api_model.for"] = _url(spec.base_url)  # this server's, not replaced by its one model


def remember(params: ChatParams, models: dict[str, BackendSpec | None] | None = None,
             compare: bool | None = None, mode: str | None = None) -> None:
    """Keep the sampling settings, the system prompt (and the one a run's "As trained" stands in for), the page's
    ``mode``, compare mode and the ``models`` shown, by slot (``kept_settings.SLOTS``), in the workspace for the next
    session (no secret)."""
    from studio.chat import kept_settings

    before, secrets = st.session_state.get("chat.system.before"), used_secrets()
    seen = repr((params, st.session_state.get("chat.preset"), st.session_state.get("chat.system"), before, compare,
                 models, mode))
    if _held_by_restore(seen):
        return
    if st.session_state.setdefault(FIRST_SEEN, seen) == seen and not kept_settings.path().exists():
        return  # the page's own defaults, nothing changed yet: a visitor who only looks gets no file
    models = dict(models or {})
    for slot in models:  # a model being picked (no model name typed yet) is kept as typed so far (not past its caps): a reload
        # brought back the model picked before it, the backend chosen and the base URL typed lost; passage mode's
        # too, where it answers by a chat model (its extractive picker is not this one)
        if (models[slot] is None and (slot.endswith("a") or compare)
                and st.session_state.get(f"chat.{slot}.task.kept") != "Extractive"):
            models[slot] = kept_settings.draft(_typed(slot), secrets)
    try:
        kept_settings.save(params, st.session_state.get("chat.preset", DEFAULT_PRESET),
                           st.session_state.get("chat.system", ""), secrets,
                           before=tuple(before) if before else None, compare=compare, models=models, mode=mode,
                           chosen=[slot for slot in models if st.session_state.get(f"chat.{slot}.chosen")])
    except (StudioError, OSError):  # a read-only or full workspace: the settings still hold in this session
        pass


def local_available() -> bool:
    return device.capabilities().local_models


# --- Settings ----------------------------------------------------------------------------------

# The Backend box's options, as short as the sidebar needs: "Hugging Face Inference Providers" was cut off at a phone's
# width (390 px), and at a narrow desktop sidebar; 24 characters ("OpenAI-compatible server") fit.
SIDEBAR_LABELS = {**BACKEND_LABELS, "provider": "HF Inference Providers"}


def second_default(first: str | None) -> str | None:
    """Compare mode's second model where a person has not picked one, as a picker spec: a model to hold the first
    against, never the first itself; None where there is none. For any model, the newest finished run trained from
    it, else the newest run of all (a person who just trained a run compares it with its base: the second model
    defaulted to the first's bundled model; the newest of all, a GPT-2 trained from scratch after a LoRA run of the
    bundled model, was put beside a model it had nothing to do with). For a run, its base model (what the training
    changed), else the newest other run: the newest run itself was put beside itself."""
    from studio.train import runs

    entries = [e for e in models_ui.library_entries() if not e.unusable]
    others = [e.spec for e in entries if e.source == "run" and e.spec != first]
    try:
        run = next((r for r in runs.list_runs() if r.model_spec == first), None) if first else None
    except (StudioError, OSError):
        run = None
    if run is not None:
        bases = _same_model(run.base)
        return next((e.spec for e in entries if e.source != "run" and e.spec in bases), next(iter(others), None))
    on_first = _runs_trained_from(first) if first and others else set()
    return next((s for s in others if s in on_first), next(iter(others), None))


def _same_model(model: str) -> set[str]:
    """``model`` under each of its names (the bundled model's Hub id and its library spec)."""
    from studio.models import bundled

    return {model, bundled.BUNDLED_ID, bundled.SPEC} if model in (bundled.BUNDLED_ID, bundled.SPEC) else {model}


def _runs_trained_from(model: str) -> set[str]:
    """The specs of the runs whose base is ``model`` (the bundled model under either of its names)."""
    from studio.train import runs

    same = _same_model(model)
    try:
        return {r.model_spec for r in runs.list_runs() if r.base in same}
    except (StudioError, OSError):
        return set()


def offline_line() -> str:
    """Offline, under the local model picker where the bundled model stands in: which models are ready to use. It
    named the tutorial's Phi-3.5 as not downloadable, a model a new person had never picked."""
    entries = models_ui.library_entries()
    ready = sum(not e.unusable for e in entries)
    # one the list marks "no tokenizer" or "no weights" is in the list but not ready: "the 2 models in this list" read
    # under a list of 3
    which = f"the {plural(ready, 'model')}" if ready == len(entries) else f"{ready} of the {plural(len(entries), 'model')}"
    return (f"Offline: ready to use here {'is' if ready == 1 else 'are'} {which} in this list (the bundled SmolLM2 "
            "picked); a Hub id typed in loads only if it was downloaded before.")


def backend_picker(slot: str, disabled: bool, against_first: bool | None = None) -> BackendSpec | None:
    """Widgets for one model (``slot`` "a" or "b", "passage.a" or "passage.b"); the spec, or None with an error
    shown. ``against_first``: a local model's default is one to hold the first slot's model against
    (``second_default``); by default for the second slot ("b")."""
    if slot == "a":
        st.session_state.pop("chat.why", None)  # said again below if still so
    if slot.endswith("a"):
        st.session_state.pop("chat.default_said", None)  # why the bundled model stands in: said once a run
    st.session_state.pop(f"chat.{slot}.why", None)
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
            if why and default != DEFAULT_LOCAL_MODEL:  # the bundled model stands in for one the person never picked
                why = offline_line()
            # The model picked last stays picked when the picker is redrawn with other options (the
            # bundled model imported on first use, a mode or compare switch that hid the picker).
            kept = st.session_state.get(f"chat.{slot}.kept_model")
            # Compare mode's second model: a model to hold the first against (``second_default``), where it showed
            # the first's default only because nothing else was there; it follows the first model, and a model a
            # person picked stays.
            if against_first is None:
                against_first = slot == "b"
            if against_first and not st.session_state.get(f"chat.{slot}.chosen") and (
                    second := second_default(st.session_state.get(f"chat.{slot[:-1]}a.kept_model"))):
                # the box showing the default of before (not a pick just made in it) shows the new one: the first
                # model picked as the run the second showed left both on that run
                if kept and second != kept and st.session_state.get(f"chat.{slot}.model") == kept:
                    st.session_state[f"chat.{slot}.model"] = second
                default, why, kept = second, None, None
            # The picker and the lines under it that come and go (why the default stands in, a model's missing
            # tokenizer) in one container: Quantization and Fast decoding below keep their place, where they moved
            # when the line went and the browser drew them anew (a click on them meanwhile lost).
            with st.container():
                model = models_ui.model_picker(f"chat.{slot}.model", "Local model", kept or default, disabled=disabled)
                if model:
                    st.session_state[f"chat.{slot}.kept_model"] = model
                # picked by hand: not the default, or not the model the picker showed (the first model's default
                # picked as the second over the newest run it opened with)
                if model and (model != default or (kept and model != kept)):
                    st.session_state[f"chat.{slot}.chosen"] = True
                # Why the default stands in for the tutorial's model; not once a model was picked on purpose (another
                # page's "Chat with it" on the bundled model read as if it had been swapped in).
                if why and model == default and not st.session_state.get(f"chat.{slot}.chosen"):
                    # once on the page: compare mode said it under each picker, the same line twice
                    if st.session_state.get("chat.default_said") != why:
                        st.caption(ui.md(why))
                    st.session_state["chat.default_said"] = why
            quant = st.selectbox("Quantization", ["none", "4bit", "8bit"], key=f"chat.{slot}.quant", disabled=disabled,
                                 persist_state=ui.PERSIST,
                                 help="4-bit NF4 / 8-bit through bitsandbytes, on a CUDA GPU only.")
            fast = ui.kept(st.toggle, "Fast decoding", f"chat.{slot}.fast", False, disabled=disabled, help=FAST_HELP)
            if model:  # a spec the loader refuses (a paste past a path's length: the box takes any) is said here, asking
                parse_spec(model)  # off, as an API model's name is; it was asked, and its answer failed on that line
            return BackendSpec(kind="local", model=model or "", quantization=None if quant == "none" else quant,
                               fast_decoding=fast)
        if kind == "provider":
            model = ui.kept(st.text_input, "Model id", f"chat.{slot}.hub_model", "meta-llama/Llama-3.1-8B-Instruct",
                            max_chars=ui.SHORT_TEXT_CHARS, disabled=disabled, on_change=trim, args=(f"chat.{slot}.hub_model",))
            typed = st.session_state.get(f"chat.{slot}.provider.kept")  # a provider typed in, not in the list
            providers = PROVIDERS + ([typed] if typed and typed not in PROVIDERS else [])
            provider = ui.kept_choice(st.selectbox, "Provider", providers, f"chat.{slot}.provider",
                                      accept_new_options=True, disabled=disabled)
            return BackendSpec(kind="provider", model=model, provider=provider or "auto")
        base = ui.kept(st.text_input, "Base URL", f"chat.{slot}.base_url", "http://127.0.0.1:8000/v1", max_chars=ui.SHORT_TEXT_CHARS, disabled=disabled,
                       on_change=trim, args=(f"chat.{slot}.base_url",))
        found = served(base)
        names = list(found.names)
        if len(names) == 1:
            one_model(slot, base, names[0])
        model = ui.kept(st.text_input, "Model", f"chat.{slot}.api_model", "", max_chars=ui.SHORT_TEXT_CHARS, disabled=disabled,
                        placeholder="the server's model name", on_change=typed_model, args=(slot,))
        # Drawn whatever the server said, off while it has nothing to offer, its placeholder saying why: it appeared
        # once a slow server answered, in place of a line saying it was asked, and the toggle and fields below it
        # jumped down 71 px as a person reached for them.
        others = [n for n in names if n != model.strip()]  # the one model in the Model box: nothing else to pick
        st.selectbox("Served models", names, index=None, key=f"chat.{slot}.served", disabled=disabled or not others,
                     placeholder=served_placeholder(found, bool(others)), on_change=picked_served, args=(slot,),
                     help="The models the server lists (its /models). Or type another name above.")
        if found.asking:  # the page drawn again once the answer comes (no click needed)
            _rerun_when_served(base, st.session_state.get("chat.api_key") or None)
        elif found.unreachable:
            st.caption(f":material/link_off: {found.unreachable}")
        if not model.strip():  # the same words asked or answered: a line that grew with the names moved all below
            raise BackendError("No model chosen: type the server's model name under Model, or pick one under Served "
                               "models (those the server lists).")
        return BackendSpec(kind="openai", model=model, base_url=base)
    except StudioError as exc:
        ui.show_error(exc)
        st.session_state[f"chat.{slot}.why"] = str(exc)  # this model's, for passage mode's line beside Ask
        if slot in ("a", "b"):
            st.session_state.setdefault("chat.why", ("first" if slot == "a" else "second", str(exc)))  # the first one's
        return None


def served_placeholder(found: Served, others: bool) -> str:
    """What the Served models box says while it offers nothing (or, with ``others``, that it offers some)."""
    if found.asking:
        return ASKING
    if found.unreachable:
        return "none: server not reached"
    if not found.names:
        return "none listed: type one above"
    return "pick one the server serves" if others else "none but the one under Model"


ASKING = "asking the server…"  # (a longer line is cut in the sidebar's box)

SERVED_WAIT_S = 0.5
"""The longest a rerun waits for a server's list of models, once, as its URL is typed (a loopback server answers in
milliseconds); a server slower than that, or one that cannot be reached, is asked off the rerun, and the page drawn
again when it answers (``studio.chat.served``)."""


def served(base: str) -> Served:
    """What the server at base URL ``base`` serves (nothing for a URL that is not one), asked with the API key typed
    for it; a rerun waits for it at most ``SERVED_WAIT_S``, once (``studio.chat.served``)."""
    try:
        BackendSpec(kind="openai", model="-", base_url=base)
    except StudioError:
        return Served()
    asker = ""  # a public app: each visitor has a few lists asked at once, not every one the app asks
    if config.tenancy():
        from studio.ui import cloud

        asker = cloud.visitor_key()
    return served_models.served(base, st.session_state.get("chat.api_key") or None, wait_s=SERVED_WAIT_S,
                                asker=asker)


@st.fragment(run_every=0.5)
def _rerun_when_served(base: str, api_key: str | None) -> None:
    """Drawn while a server's list of models is being asked: the page is drawn again once it is known (its one model
    in the Model field, its names offered, or the line saying it could not be reached)."""
    if not served_models.asking(base, api_key):
        st.rerun(scope="app")


def _url(base: str | None) -> str:
    return (base or "").strip().rstrip("/")


def one_model(slot: str, base: str, name: str) -> None:
    """The server at ``base`` serves one model, ``name``: the Model field takes it, unless what it holds was typed or
    picked for this server. A name typed for another server stayed after the URL changed, and the server refused it;
    the name typed for a server comes back with that server's URL."""
    state, key = st.session_state, f"chat.{slot}.api_model"
    if state.get(f"{key}.for") == _url(base):
        return
    typed = (state.get(f"{key}.typed") or {}).get(_url(base))
    # set as the widget's own value too: the browser is told of a new value only that way (a text box is known by
    # its key alone, so a new starting value left the browser's box as it was, empty, while the page used the name)
    state[key] = state[f"{key}.kept"] = typed if typed is not None else name
    state[f"{key}.for"] = _url(base)


def _own(slot: str, name: str) -> None:
    """``name`` is the person's own Model for the server whose URL is typed now (not replaced by the one model that
    server serves, even when emptied)."""
    state, key = st.session_state, f"chat.{slot}.api_model"
    here = _url(state.get(f"chat.{slot}.base_url", state.get(f"chat.{slot}.base_url.kept")))
    state[f"{key}.for"] = here
    state[f"{key}.typed"] = {**(state.get(f"{key}.typed") or {}), here: name}


def typed_model(slot: str) -> None:
    """The Model field's ``on_change``: trimmed, and the person's own for this server from now on."""
    trim(f"chat.{slot}.api_model")
    _own(slot, st.session_state.get(f"chat.{slot}.api_model") or "")


def picked_served(slot: str) -> None:
    """A served model picked: it goes into the Model field, and the pick clears for the next one."""
    name = st.session_state.get(f"chat.{slot}.served")
    if name:
        st.session_state[f"chat.{slot}.api_model"] = st.session_state[f"chat.{slot}.api_model.kept"] = name
        _own(slot, name)
    st.session_state[f"chat.{slot}.served"] = None


def trim(key: str) -> None:
    """A text field's ``on_change``: the field itself shows the URL (or model name) without the spaces or line break
    pasted around it (the value used was trimmed, the field still showed them), once the person presses Enter or
    leaves it; nothing is trimmed while they type."""
    value = st.session_state.get(key)
    if isinstance(value, str) and value != value.strip():
        st.session_state[key] = value.strip()


def why_input_is_off() -> None:
    """One line by the disabled input saying why (the reason is in the sidebar, often scrolled out of view)."""
    which, why = st.session_state.get("chat.why") or (None, "")
    st.caption(f":material/info: {not_set('Asking is off', which, why)}" if which
               else ":material/info: Asking is off: fix the sampling settings in the sidebar.")


def not_set(off: str, which: str, why: str) -> str:
    """``off`` ("Asking is off"), which model is not set, and why, as two sentences in Markdown: the reason (a
    sentence, as errors are) follows as it is, ended once. It was put in brackets mid-sentence ("...is not set (The
    model name cannot hold ... Leave it out)."), a capital after "(" and a ".)." at its end."""
    why = " ".join(why.split()).rstrip(" .") or "See the sidebar"
    return f"{off}: the {which} model is not set. {ui.md(why)}{'' if why.endswith(('?', '!')) else '.'}"


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
    # a free-typed box (``studio.ui.numbers``): with the browser's bounds, -1 stayed red and answers waited the last 60
    timeout, why = numbers.number_box(st, "Timeout (s)", "chat.timeout", int(d.timeout_s), lo=5, hi=600, whole=True,
                                      step=5, disabled=disabled,
                                      help="Longest wait for the server, or for the next token of a local model "
                                           "(its first token also gets the time its prompt takes to read).")
    if why:
        ui.show_error(why)
        return None
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

    shown = {AS_TRAINED: trained.label} if trained else {}  # the kept key stays; its name says what the model gets
    st.selectbox("System prompt preset", list(presets), key="chat.preset", on_change=apply_preset, disabled=disabled,
                 format_func=lambda p: shown.get(p, p), persist_state=ui.PERSIST)
    if trained:
        st.caption(f"{ui.md(trained.run_name)}: {ui.md(trained.description)}")
    return st.text_area("System prompt", max_chars=ui.LONG_TEXT_CHARS, key="chat.system", height=90, disabled=disabled, persist_state=ui.PERSIST)


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
            st.caption(ui.md(note))
        if st.button("Unload", key=f"chat.unload.{i}", disabled=streaming(), icon=":material/eject:"):
            cache.unload(spec)
            st.rerun()


