"""The Evaluate page's New evaluation form: the models, the questions and the settings, each kept through a visit to
another page and in the workspace (``studio.evaluate.form``), and Start, which queues the background job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from studio import device, settings, ui
from studio.data import store
from studio.errors import StudioError
from studio.evaluate import job as eval_jobs
from studio.evaluate import runner as evaluate
from studio.evaluate.config import EvalConfig
from studio.models.prompt_format import DEFAULT_SYSTEM
from studio.models.spec import ModelSpec, parse_spec
from studio.ui import hf_token, numbers, run_or_error
from studio.ui.pages import EVALUATE

SOURCES = {"run": "A training run's held-out split", "dataset": "A dataset version"}


# --- new evaluation ---------------------------------------------------------------------------

def _runs() -> list:
    from studio.train import runs

    try:
        return runs.list_runs()
    except (StudioError, OSError):
        return []


def _newest_run_and_base(all_runs: list) -> list[str]:
    """What a person who just trained wants compared first: the newest run with a saved model and the
    model it started from (``run_and_base``)."""
    newest = next((r for r in all_runs if r.has_model), None)
    if newest is not None:
        return run_and_base(newest)
    suggested = _suggested_model()
    return [suggested] if suggested else []


def _suggested_model() -> str | None:
    """With no run to evaluate, a model that loads here, so Start works at once: the tutorial's distilgpt2, or offline
    the bundled SmolLM2 (``loading.offline_default``, as Chat and Train offer it); None when neither loads."""
    from studio.models import bundled, loading

    spec, why = loading.offline_default("distilgpt2")
    return spec if why is None or spec == bundled.SPEC else None


def run_and_base(run: Any) -> list[str]:
    """A run and the model it started from, as the page's model choice (a scratch run has no base; a Hub base only
    when the Hub can be reached)."""
    from studio.models import loading

    picked = [run.model_spec]
    base = run.base
    parsed = _parsed_or_none(base) if base else None
    kind = parsed.kind if parsed else "scratch"
    if kind not in ("scratch", "run") and (
            kind == "model" or Path(base).expanduser().exists() or loading.hub_reachable()
            or loading.in_hub_cache(base)):
        picked.append(base)
    return picked


def hand_off(run: Any) -> None:
    """Open this page with ``run`` and its base chosen (arriving otherwise, it chooses the newest run): the Train
    page's "Evaluate it"."""
    st.session_state["evaluate.models"] = run_and_base(run)
    st.session_state["evaluate.newest"] = max((r.id for r in _runs() if r.has_model), default="")  # not replaced
    _questions_as_on_arrival()
    st.switch_page(EVALUATE.path)


def _questions_as_on_arrival() -> None:
    """Forget the questions' choices made for other models: a run just chosen gets its held-out split."""
    for key in ("evaluate.source", "evaluate.split_run", "evaluate.dataset", "evaluate.version"):
        for suffix in ("", ".kept", ".suggested", ".own"):
            st.session_state.pop(key + suffix, None)


def _run_name(run: Any, run_id: str) -> str:
    """A run as the Run choice names it: as the models picker does (``runs.picker_name``)."""
    from studio.train import runs

    return run_id if run is None else runs.picker_name(run.name, run_id)


def _split_size(run: Any) -> str:
    """The size of a run's held-out split, under the Run box: what "0 = every question" means. (After the run's name
    in the box, "soccer-lora · run 20261205-064729-soccer-lora · 1 held-out question" was cut in an 800 px window.)
    A name the box shows cut in its middle is said whole here, with the run's id."""
    from studio.train import runs

    held = len(run.split.get("test", [])) if run is not None else 0
    size = f"{held:,} held-out question{'s' if held != 1 else ''}" if held else "No held-out split"
    if run is not None and len(run.name) > runs.NAME_SHOWN:
        size = f"{ui.md(run.name)} (run {run.id}) · {size[0].lower()}{size[1:]}"
    return size


def _range(name: str) -> tuple:
    """(min, max) of an EvalConfig field, from its metadata (``studio.settings``): the page offers what the config takes."""
    return settings.bounds(EvalConfig, name)


def _bounds(name: str) -> dict[str, Any]:
    lo, hi = _range(name)
    return {"min_value": lo, "max_value": hi}


SAMPLE = "Sample size (0 = every question)"


def _number(box: Any, label: str, name: str, wrong: list[str], lo: float | None = None, **kwargs: Any) -> int | float:
    """A setting's number box (``studio.ui.numbers``: no bounds in the browser, an empty or too-large value puts the
    last good one back), its range its EvalConfig field's; a value outside it is added to ``wrong`` in one line."""
    field = _FIELDS.get(name)
    lo, hi = _range(field) if field else (lo, None)
    whole = field is None or settings.field_type(EvalConfig, field) is int
    value, why = numbers.number_box(box, label, f"evaluate.{name}", _DEFAULTS[name], lo=lo, hi=hi, whole=whole, **kwargs)
    if why:
        wrong.append(why)
    return value


def _parsed_or_none(text: str) -> ModelSpec | None:
    """A typed spec, or None for a line that names nothing (the config refuses it on Start, in one line)."""
    try:
        return parse_spec(text)
    except StudioError:
        return None


def new_evaluation_form() -> None:
    """Models, questions and settings; Start queues a background job and selects it."""
    from studio.models import library
    from studio.ui import models as models_ui

    caps = device.capabilities()
    # runs, bases and the library are local models: in API mode none is listed (a listing made a public app's new
    # visitor an empty runs/ and models/ folder, counted against their workspace's size)
    all_runs = [] if caps.api_only else _runs()
    run_labels = {r.model_spec: _run_name(r, r.id) for r in all_runs}
    bases = sorted({r.base for r in all_runs if r.base and r.base != "scratch"})  # a scratch run has no base to compare
    shelf = {} if caps.api_only else {e.spec: models_ui.picker_name(e) for e in library.list_models(load=False)
                                      if e.source != "run"}
    bases += [s for s in shelf if s not in bases]  # the model library: the bundled model, imports, Hub downloads
    wrong: list[str] = []  # a setting out of its range, or a fraction where a whole number is wanted: Start waits
    # the questions under the models, each in the form's whole width: beside them, in two fifths of the row, the Dataset
    # box read "Soccer rules (sampl" in an 800 px window and a run's name was cut at 1280 px too; in three fifths a chip
    # of a chosen model (the bundled model's "SmolLM2 · bundled") was cut in half the row
    c1 = c2 = st.container()
    with c1:
        st.markdown("**Models**")
        if caps.api_only:  # runs, bases and the library are local models: nothing here could run them
            _restore_form(None)
            st.caption(caps.note())
            chosen = []
            other = st.text_area("API models, one per line", max_chars=ui.LONG_TEXT_CHARS, key="evaluate.other_models", height=90, persist_state=ui.PERSIST,
                                 placeholder="api:meta-llama/Llama-3.1-8B-Instruct\napi:qa:deepset/roberta-base-squad2",
                                 help="api:<model id>: Inference Providers, or the OpenAI-compatible base URL in Settings. "
                                      "api:qa:<model id>: an extractive model answering with a span of each passage.")
        else:
            suggested = None if all_runs else _suggested_model()
            options = list(run_labels) + bases + ([suggested] if suggested and suggested not in bases else [])
            newest = max((r.id for r in all_runs if r.has_model), default="")
            _restore_form(options)
            if "evaluate.models" not in st.session_state or newest > st.session_state.get("evaluate.newest", newest):
                # the first visit, or a run finished since the last: what was just trained; else the form as it was
                st.session_state["evaluate.models"] = _newest_run_and_base(all_runs)
                _questions_as_on_arrival()
            st.session_state["evaluate.newest"] = max(newest, st.session_state.get("evaluate.newest", ""))
            chosen = st.multiselect("Training runs, their base models and the model library", options,
                                    format_func=lambda s: run_labels.get(s) or shelf.get(s) or f"{s} (base)",
                                    key="evaluate.models", persist_state=ui.PERSIST,
                                    wrap=True)  # in a column its chips kept to one row: the second cut to a sliver
            with st.container():  # there or not, the same place: the boxes below keep theirs (drawn anew, moved)
                training = [r for r in all_runs if r.status.active and not r.has_model]
                if training:  # a person who just pressed Start on Train looked here for it, and found only the base
                    st.caption(f"Still training: {ui.md(', '.join(r.name for r in training))}. A run is offered here "
                               "once it has saved its model; come back when the Train page says it finished.")
            other = st.text_area("Other models, one per line", max_chars=ui.LONG_TEXT_CHARS, key="evaluate.other_models", height=90, persist_state=ui.PERSIST,
                                 placeholder="distilgpt2\n/path/to/a/model\napi:meta-llama/Llama-3.2-1B-Instruct\n"
                                             "qa:deepset/roberta-base-squad2",
                                 help="A Hub id, a local folder, or api:<model id> for a hosted model. Extractive "
                                      "models (answer with a span of each record's passage): qa:<model> here, "
                                      "api:qa:<model id> hosted.")
    specs = list(chosen) + [line.strip() for line in other.splitlines() if line.strip()]
    by_id = {r.id: r for r in all_runs}
    chosen_runs = [p.name for p in map(_parsed_or_none, specs) if p and p.kind == "run"]
    # A run trained on every record (the scratch preset) has no held-out split: its dataset is the test.
    held_out = [i for i in chosen_runs if i in by_id and by_id[i].split.get("test")]
    trained_on = next((by_id[i].dataset for i in chosen_runs if i in by_id), {})
    with c2:
        st.markdown("**Questions**")
        # Each choice below follows the models chosen (ui.follow) unless the person changed it, and stays as it
        # was after a visit to another page (ui.kept_choice).
        if caps.api_only:  # a run's model is local and none can be trained here: "Train one on the Train page" misled
            source = "dataset"
        else:
            ui.follow("evaluate.source", "run" if held_out else "dataset")
            source = ui.kept_choice(st.radio, "From", list(SOURCES), "evaluate.source", 0 if held_out else 1,
                                    format_func=SOURCES.get, horizontal=True)
        run_id = dataset_id = version = None
        gone = None  # the questions picked when the form was last drawn, deleted since (in another tab or session)
        # The lines that follow the source and the models, in one container: Sample size below keeps its place in the
        # page whatever they say (a field moved by a pick is drawn anew, losing what was being typed into it).
        questions = st.container()
    with questions:
        if source == "run":
            options = held_out or chosen_runs or [r.id for r in all_runs]
            if not options:
                st.info("No training runs yet: train one on the Train page, or evaluate on a dataset version.")
            # Named as in the models above (the bare id "20261205-064729-faq" named nothing a person chose).
            if options:
                ui.follow("evaluate.split_run", options[0])
            picked = st.session_state.get("evaluate.split_run.kept")
            if picked is not None and picked not in by_id:
                gone = "the run whose held-out questions you picked"
            named = {i: _run_name(by_id.get(i), i) for i in options}  # read once: the names stay as offered
            run_id = ui.kept_choice(st.selectbox, "Run", options, "evaluate.split_run",
                                    format_func=lambda i: named.get(i, i)) if options else None
            if run_id:
                st.caption(_split_size(by_id.get(run_id)))
        else:
            datasets = store.list_datasets()
            if not datasets:
                st.info("No datasets yet: create or import one on the Dataset page.")
            else:
                ids = [d.id for d in datasets]
                picked = st.session_state.get("evaluate.dataset.kept")
                if picked is not None and picked not in ids:
                    gone = "the dataset you picked"
                at = ids.index(trained_on["id"]) if trained_on.get("id") in ids else 0
                ui.follow("evaluate.dataset", ids[at])
                ds = ui.kept_choice(st.selectbox, "Dataset", datasets, "evaluate.dataset", at, ident=lambda d: d.id,
                                    format_func=lambda d: d.name)
                versions = [v.version for v in reversed(ds.versions)]
                at = versions.index(trained_on["version"]) \
                    if ds.id == trained_on.get("id") and trained_on.get("version") in versions else 0
                ui.follow("evaluate.version", (ds.id, versions[at]) if versions else None)
                version = ui.kept_choice(st.selectbox, "Version", versions, "evaluate.version", at,
                                         ident=lambda v, d=ds.id: (d, v),
                                         format_func=lambda v: f"v{v} ({next(x.count for x in ds.versions if x.version == v):,} records)")
                dataset_id = ds.id
                if next((x.count for x in ds.versions if x.version == version), None) == 0:  # Start asked nothing
                    wrong.append(f"{ds.name} v{version} holds no records: add some in the Dataset page's Edit tab, or "
                                 "pick another dataset.")
                if chosen_runs and not held_out and (ds.id, version) == (trained_on.get("id"), trained_on.get("version")):
                    # only while the questions are the ones the run trained on; another dataset is a fair test
                    st.caption("The chosen run was trained on every record (no held-out split), and these are its "
                               "training records: expect high scores on questions it has seen.")
    with c2:
        # as wide as its label needs, as the results' Page box is (it took the width of the form)
        sample = _number(st, SAMPLE, "sample", wrong, lo=0, step=10, width=numbers.fit_width(SAMPLE, "100,000"))
    with st.expander("Settings"):  # each kept as set through a visit to another page (ui.kept, ui.PERSIST)
        # four settings a column: how answers are drawn; the judge, leakage and API limits; where api: models are.
        # (The middle column held two beside the third's seven: it ended 570 px above them at 800 px, a gap.)
        s1, s2, s3 = st.columns(3)
        # the switches in a row of their own under the columns, each as wide as its label: in a third of the row they
        # read "Reference perplexity (local mod…" at 1280 px wide and "Sample inst…", "Semant…" at 800
        flags = st.container(horizontal=True)
        max_new = _number(s1, "Max new tokens", "max_new_tokens", wrong)
        batch = _number(s1, "Batch size (local models)", "batch_size", wrong, disabled=caps.api_only)
        sampling = flags.toggle("Sample instead of greedy", key="evaluate.sampling", persist_state=ui.PERSIST)
        temperature = ui.kept(s1.slider, "Temperature", "evaluate.temperature", _DEFAULTS["temperature"], disabled=not sampling,
                              **_bounds("temperature"))
        seed = _number(s1, "Seed", "seed", wrong)
        base_url = s3.text_input("OpenAI-compatible base URL for api: models", max_chars=ui.SHORT_TEXT_CHARS, key="evaluate.base_url", persist_state=ui.PERSIST,
                                 placeholder="http://127.0.0.1:8000/v1 (empty: Hugging Face Inference Providers)")
        with s3:
            ui.secret_field("API key for the base URL (optional)", "evaluate.api_key",
                            help="Sent only to the base URL above (and to a question-answering endpoint that is not "
                                 "Hugging Face's); without it no key is sent. Kept in this session only.")
        provider = ui.kept(s3.text_input, "Provider", "evaluate.provider", _DEFAULTS["provider"],
                           max_chars=ui.SHORT_TEXT_CHARS)
        qa_endpoint = s3.text_input("Endpoint for api:qa: models (optional)", max_chars=ui.SHORT_TEXT_CHARS, key="evaluate.qa_endpoint", persist_state=ui.PERSIST,
                                    placeholder="https://….endpoints.huggingface.cloud (empty: Inference Providers)",
                                    help="A dedicated endpoint taking the question-answering request. The Hugging Face "
                                         "token goes only to a Hugging Face host; any other gets the API key above.")
        concurrency = _number(s2, "API requests in flight", "concurrency", wrong)
        api_timeout = _number(s2, "API timeout (s)", "api_timeout", wrong, step=10,
                              help="How long a request to an api: model may wait for its first words, and then "
                                   "between words, before its question counts as failed. A model served on a CPU "
                                   "answers slowly: raise it, or lower the requests in flight.")
        judge = s2.text_input("LLM judge (optional)", max_chars=ui.SHORT_TEXT_CHARS, key="evaluate.judge", persist_state=ui.PERSIST,
                              placeholder="api:<model id>" if caps.api_only else "api:<model id> or a local chat model",
                              help="Grades each answer's correctness from 1 to 5 with a one-line reason.")
        lo, hi = map(int, _range("leakage_threshold"))
        threshold = ui.kept(s2.slider, "Leakage threshold", "evaluate.leakage", _DEFAULTS["leakage"], min_value=lo, max_value=hi,
                            help="Evaluation questions this similar to a training question are flagged as leaked.")
        perplexity = ui.kept(flags.toggle, "Perplexity (local models)", "evaluate.perplexity",
                             not caps.api_only, disabled=caps.api_only,
                             help="Of each reference answer under each local model: lower is better.")
        no_embeddings = None if caps.semantic else "Needs sentence-transformers and torch: the full install adds them."
        similarity = flags.toggle("Semantic similarity of answers", key="evaluate.similarity", persist_state=ui.PERSIST, disabled=not caps.semantic,
                                  help=no_embeddings or "Cosine similarity of each answer and its reference (all-MiniLM-L6-v2).")
        semantic_leak = flags.toggle("Semantic leakage check", key="evaluate.semantic_leakage", persist_state=ui.PERSIST, disabled=not caps.semantic,
                                     help=no_embeddings or "Also flag questions that paraphrase a training question.")
        st.session_state.setdefault("evaluate.system", DEFAULT_SYSTEM)
        system = st.text_area("System prompt (chat models)", max_chars=ui.LONG_TEXT_CHARS, key="evaluate.system", persist_state=ui.PERSIST, height=68,
                              help="What a model with a chat template (and an api: chat model) is told before each "
                                   "question: Chat's default, so both pages ask the same model the same way. Empty: "
                                   "none (a template may then add its own). A trained run is asked as it was "
                                   "trained, with none, as in Chat.")
    _keep_form()
    for line in wrong:  # under Settings, so it shows with the expander closed too: what Start would not use
        st.error(line, icon=":material/error:")
    row = st.container(horizontal=True)  # each as wide as its label: Start in a fifth of the row read "St…" at 800 px
    start = row.button("Start evaluation", type="primary", icon=":material/play_arrow:", key="evaluate.start",
                       disabled=bool(wrong), help="Set the settings said above first." if wrong else None)
    row.button("Reset to defaults", key="evaluate.reset", on_click=_reset_form, icon=":material/restart_alt:",
               help="Models, questions and settings as on a first visit; the form you set is forgotten.")
    if start and gone:  # the boxes fell back to another choice as this click redrew them: not what was asked for
        ui.show_error(f"Not started: {gone} is no longer there (deleted in another tab or session). The form now shows "
                      "other questions: check them and press Start again.")
    elif start:
        config = run_or_error(
            evaluate.EvalConfig, models=tuple(specs), run_id=run_id if source == "run" else None,
            dataset_id=dataset_id, dataset_version=version, sample=int(sample) or None, seed=int(seed),
            max_new_tokens=int(max_new), batch_size=int(batch), do_sample=bool(sampling), temperature=float(temperature),
            system_prompt=system.strip(), perplexity=bool(perplexity), api_base_url=base_url.strip() or None, api_provider=provider.strip() or None,
            api_concurrency=int(concurrency), api_timeout_s=float(api_timeout), judge=judge.strip() or None, leakage_threshold=float(threshold),
            qa_endpoint=qa_endpoint.strip() or None,
            answer_similarity=bool(similarity), semantic_leakage=bool(semantic_leak),
        )
        api_key = st.session_state.get("evaluate.api_key") if base_url.strip() or qa_endpoint.strip() else None
        hosted = config is not None and not base_url.strip() and any(
            m.startswith("api:") for m in (*config.models, config.judge or ""))
        if hosted and not hf_token():  # a public app's own token serves a few questions a minute, not evaluations
            try:
                ui.require_own_token("Evaluating hosted models")
            except StudioError as exc:
                ui.show_error(exc)
                config = None
        eval_id = run_or_error(eval_jobs.start_evaluation, config, hf_token(), api_key) if config else None
        if eval_id:
            st.session_state["evaluate.selected"] = eval_id
            st.rerun()


# The form kept in the workspace (``studio.evaluate.form``): its names, and the session keys that hold them.
_PLAIN = {"models": "evaluate.models", "other_models": "evaluate.other_models", "newest": "evaluate.newest",
          "sampling": "evaluate.sampling", "base_url": "evaluate.base_url", "qa_endpoint": "evaluate.qa_endpoint",
          "judge": "evaluate.judge", "similarity": "evaluate.similarity",
          "semantic_leakage": "evaluate.semantic_leakage", "system": "evaluate.system"}  # widgets drawn from their session state (and newest)
_KEPT = ("source", "split_run", "dataset", "version", "sample", "max_new_tokens", "batch_size", "temperature", "seed",
         "provider", "concurrency", "api_timeout", "leakage", "perplexity")  # ui.kept / ui.kept_choice: "<key>.kept"
_QUESTIONS = ("source", "split_run", "dataset", "version")
_FIELDS = {"max_new_tokens": "max_new_tokens", "batch_size": "batch_size", "temperature": "temperature",
           "seed": "seed", "concurrency": "api_concurrency", "api_timeout": "api_timeout_s"}  # widget: EvalConfig field
_DEFAULTS = {"sample": 0, "provider": "auto", "leakage": int(EvalConfig.leakage_threshold),
             **{name: getattr(EvalConfig, field) for name, field in _FIELDS.items()}}
"""The ui.kept settings' defaults, EvalConfig's own (perplexity: where local models run; the provider: "auto")."""


def _state_key(name: str) -> str:
    return _PLAIN.get(name) or f"evaluate.{name}.kept"


def _restore_form(models: list | None) -> None:
    """Once per session: the form as it was last set in this workspace (another day, another browser). What this
    session set already wins (a Train page hand-off chose its run: its questions follow it); a model no longer
    offered (a deleted run) is left out. ``models``: what the model choice offers (None: it is not drawn)."""
    from studio.evaluate import form

    _after_restore()
    if st.session_state.get("evaluate.form.restored"):
        return
    st.session_state["evaluate.form.restored"] = True
    saved = form.load()
    handed = "evaluate.models" in st.session_state  # chosen in this session already: models and questions stay
    for name, value in saved.items():
        key = _state_key(name)
        if key in st.session_state or (handed and (name in ("models", "newest") or name in _QUESTIONS)):
            continue
        if name == "models":
            if models is None:
                continue
            value = [m for m in value if m in models]
        st.session_state[key] = tuple(value) if name == "version" else value
    st.session_state["evaluate.form.saved"] = saved


FIRST_SEEN = "evaluate.form.first"  # the form as first drawn in this session: kept only once it differs (the visitor
# changed something) or a kept file is there to update
RESTORING = "evaluate.form.restoring"  # the form as the page first drew it while a restore brought the workspace
# back ("changed" once the visitor changed it since): nothing is kept until the visitor changes something


def _after_restore() -> None:
    """Once the restore that ran as this tab opened Evaluate has ended: the form it brought back is read again (the
    form's values dropped), where the visitor changed nothing meanwhile. The form drawn before evaluate/form.json came
    was kept as it stood, the restore kept that file as the newer one, and the visitor's form was lost for good."""
    from studio.evaluate import form
    from studio.ui import cloud

    if not cloud.read_again_after_restore(RESTORING, form.path()):
        return
    for name in form.FIELDS:
        key = _state_key(name)
        if key.endswith(".kept"):  # its widget's value too (else it wins when drawn), the browser told
            ui.read_again(key[:-len(".kept")])
        else:  # set again through session state (``_restore_form``), which the browser is told of
            st.session_state.pop(key, None)
    for key in ("evaluate.form.restored", "evaluate.form.saved"):
        st.session_state.pop(key, None)


def _keep_form() -> None:
    """After the form is drawn: keep it in the workspace when it changed (never the API key, nor a text holding a
    secret: ``form.clean``)."""
    from studio.evaluate import form

    values = {name: st.session_state[_state_key(name)] for name in form.FIELDS if _state_key(name) in st.session_state}
    values = form.clean(values, [hf_token(), st.session_state.get("evaluate.api_key")])
    from studio.ui import cloud

    if cloud.held_by_restore(RESTORING, values):  # the repo's form may be on its way: kept once the visitor changes it
        return
    if st.session_state.setdefault(FIRST_SEEN, values) == values and not form.path().exists():
        return  # the form as first drawn, nothing changed yet: a visitor who only looks gets no file
    if values != st.session_state.get("evaluate.form.saved"):
        try:
            form.save(values)
        except (StudioError, OSError):
            return  # a full or read-only workspace: the form still works for this session
        st.session_state["evaluate.form.saved"] = values


def _reset_form() -> None:
    """Reset to defaults (the button's callback, before the form is drawn again): as on a first visit.

    Each widget is given its default through session state, which the browser is told of; a widget whose state is
    only dropped keeps showing its last value there, and sends it back at the next click. The models and the
    questions get theirs as on a first visit: the form sets the first and ``ui.kept_choice`` the others, through
    session state too, before they are drawn."""
    from studio.evaluate import form

    try:
        form.forget()
    except OSError:
        pass
    state = st.session_state
    for name in form.FIELDS:
        base = _state_key(name).removesuffix(".kept")
        for key in (base, f"{base}.kept", f"{base}.good", f"{base}.suggested", f"{base}.own"):
            state.pop(key, None)
    for name, value in {**_DEFAULTS, "perplexity": not device.capabilities().api_only}.items():
        state[f"evaluate.{name}"] = state[f"evaluate.{name}.kept"] = value
    for name in ("other_models", "base_url", "qa_endpoint", "judge"):
        state[f"evaluate.{name}"] = ""
    for name in ("sampling", "similarity", "semantic_leakage"):
        state[f"evaluate.{name}"] = False
    state["evaluate.system"] = DEFAULT_SYSTEM
    state["evaluate.form.saved"] = {}
    state.pop(FIRST_SEEN, None)  # the defaults drawn next are the form as first drawn: not kept again
