"""The Evaluate page's widgets: choose models and questions, follow the background job, explore results.

Record text (questions, references, answers) is always escaped before it reaches HTML; the only
markup added is ``<mark>`` around words that differ from the reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from studio import config as workspace
from studio import device, jobs, ui
from studio.data import store
from studio.data.display import plural
from studio.errors import StudioError
from studio.evaluate import job as eval_jobs
from studio.evaluate import latency, leakage, metrics, report, stopping
from studio.evaluate import plots as eval_plots
from studio.evaluate import results as eval_results
from studio.evaluate import runner as evaluate
from studio.evaluate.config import EvalConfig
from studio.evaluate.result import EvalResult, QuestionRow
from studio.models.spec import ModelSpec, parse_spec
from studio.ui import hf_token, run_or_error
from studio.ui.pages import EVALUATE

PAGE_SIZE = 20
SOURCES = {"run": "A training run's held-out split", "dataset": "A dataset version"}


def init() -> None:
    for key, value in {"evaluate.selected": None, "evaluate.shown": None}.items():
        if key not in st.session_state:
            st.session_state[key] = value


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
        for suffix in ("", ".kept", ".suggested"):
            st.session_state.pop(key + suffix, None)


def _run_split(run: Any, run_id: str) -> str:
    """A run as the Run choice names it, with the size of its held-out split (what "0 = every question" means)."""
    if run is None:
        return run_id
    held = len(run.split.get("test", []))
    size = f"{held:,} held-out question{'s' if held != 1 else ''}" if held else "no held-out split"
    return f"{run.name} · run {run_id} · {size}"


def _range(name: str) -> tuple:
    """(min, max) of an EvalConfig field, from its metadata (``studio.settings``): the page offers what the config takes."""
    from studio import settings

    return settings.bounds(EvalConfig, name)


def _bounds(name: str) -> dict[str, Any]:
    lo, hi = _range(name)
    return {"min_value": lo, "max_value": hi}


def _parsed_or_none(text: str) -> ModelSpec | None:
    """A typed spec, or None for a line that names nothing (the config refuses it on Start, in one line)."""
    try:
        return parse_spec(text)
    except StudioError:
        return None


def new_evaluation_form() -> None:
    """Models, questions and settings; Start queues a background job and selects it."""
    all_runs = _runs()
    from studio.models import library

    run_labels = {r.model_spec: f"{r.name} · run {r.id}" for r in all_runs}
    bases = sorted({r.base for r in all_runs if r.base and r.base != "scratch"})  # a scratch run has no base to compare
    shelf = {e.spec: f"{e.name} · {e.source}" for e in library.list_models(load=False) if e.source != "run"}
    bases += [s for s in shelf if s not in bases]  # the model library: the bundled model, imports, Hub downloads
    caps = device.capabilities()
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("**Models**")
        if caps.api_only:  # runs, bases and the library are local models: nothing here could run them
            _restore_form(None)
            st.caption(caps.note())
            chosen = []
            other = st.text_area("API models, one per line", key="evaluate.other_models", height=90,
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
                                    key="evaluate.models",
                                    wrap=True)  # in a column its chips kept to one row: the second cut to a sliver
            other = st.text_area("Other models, one per line", key="evaluate.other_models", height=90,
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
        if source == "run":
            options = held_out or chosen_runs or [r.id for r in all_runs]
            if not options:
                st.info("No training runs yet: train one on the Train page, or evaluate on a dataset version.")
            # Named as in the models above (the bare id "20261205-064729-faq" named nothing a person chose).
            if options:
                ui.follow("evaluate.split_run", options[0])
            named = {i: _run_split(by_id.get(i), i) for i in options}  # read once: the names stay as offered
            run_id = ui.kept_choice(st.selectbox, "Run", options, "evaluate.split_run",
                                    format_func=lambda i: named.get(i, i)) if options else None
        else:
            datasets = store.list_datasets()
            if not datasets:
                st.info("No datasets yet: create or import one on the Dataset page.")
            else:
                ids = [d.id for d in datasets]
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
                if chosen_runs and not held_out and (ds.id, version) == (trained_on.get("id"), trained_on.get("version")):
                    # only while the questions are the ones the run trained on; another dataset is a fair test
                    st.caption("The chosen run was trained on every record (no held-out split), and these are its "
                               "training records: expect high scores on questions it has seen.")
        sample = ui.kept(st.number_input, "Sample size (0 = every question)", "evaluate.sample", _DEFAULTS["sample"], min_value=0,
                         step=10)
    with st.expander("Settings"):  # each kept as set through a visit to another page (ui.kept, ui.KEPT_WIDGETS)
        s1, s2, s3 = st.columns(3)
        max_new = ui.kept(s1.number_input, "Max new tokens", "evaluate.max_new_tokens", _DEFAULTS["max_new_tokens"],
                          **_bounds("max_new_tokens"))
        batch = ui.kept(s1.number_input, "Batch size (local models)", "evaluate.batch_size", _DEFAULTS["batch_size"],
                        disabled=caps.api_only, **_bounds("batch_size"))
        sampling = s2.toggle("Sample instead of greedy", key="evaluate.sampling")
        temperature = ui.kept(s2.slider, "Temperature", "evaluate.temperature", _DEFAULTS["temperature"], disabled=not sampling,
                              **_bounds("temperature"))
        seed = ui.kept(s2.number_input, "Seed", "evaluate.seed", _DEFAULTS["seed"], **_bounds("seed"))
        base_url = s3.text_input("OpenAI-compatible base URL for api: models", key="evaluate.base_url",
                                 placeholder="http://127.0.0.1:8000/v1 (empty: Hugging Face Inference Providers)")
        with s3:
            ui.secret_field("API key for the base URL (optional)", "evaluate.api_key",
                            help="Sent only to the base URL above (and to a question-answering endpoint that is not "
                                 "Hugging Face's); without it no key is sent. Kept in this session only.")
        provider = ui.kept(s3.text_input, "Provider", "evaluate.provider", _DEFAULTS["provider"])
        qa_endpoint = s3.text_input("Endpoint for api:qa: models (optional)", key="evaluate.qa_endpoint",
                                    placeholder="https://….endpoints.huggingface.cloud (empty: Inference Providers)",
                                    help="A dedicated endpoint taking the question-answering request. The Hugging Face "
                                         "token goes only to a Hugging Face host; any other gets the API key above.")
        concurrency = ui.kept(s3.number_input, "API requests in flight", "evaluate.concurrency", _DEFAULTS["concurrency"],
                              **_bounds("api_concurrency"))
        api_timeout = ui.kept(s3.number_input, "API timeout (s)", "evaluate.api_timeout", _DEFAULTS["api_timeout"], step=10.0, format="%.0f",
                              help="How long a request to an api: model may wait for its first words, and then "
                                   "between words, before its question counts as failed. A model served on a CPU "
                                   "answers slowly: raise it, or lower the requests in flight.",
                              **_bounds("api_timeout_s"))
        judge = s1.text_input("LLM judge (optional)", key="evaluate.judge",
                              placeholder="api:<model id>" if caps.api_only else "api:<model id> or a local chat model",
                              help="Grades each answer's correctness from 1 to 5 with a one-line reason.")
        lo, hi = map(int, _range("leakage_threshold"))
        threshold = ui.kept(s3.slider, "Leakage threshold", "evaluate.leakage", _DEFAULTS["leakage"], min_value=lo, max_value=hi,
                            help="Evaluation questions this similar to a training question are flagged as leaked.")
        perplexity = ui.kept(s2.toggle, "Reference perplexity (local models)", "evaluate.perplexity",
                             not caps.api_only, disabled=caps.api_only)
        no_embeddings = None if caps.semantic else "Needs sentence-transformers and torch: the full install adds them."
        similarity = s2.toggle("Semantic similarity of answers", key="evaluate.similarity", disabled=not caps.semantic,
                               help=no_embeddings or "Cosine similarity of each answer and its reference (all-MiniLM-L6-v2).")
        semantic_leak = s3.toggle("Semantic leakage check", key="evaluate.semantic_leakage", disabled=not caps.semantic,
                                  help=no_embeddings or "Also flag questions that paraphrase a training question.")
    _keep_form()
    b1, b2 = st.columns([1, 4])
    b2.button("Reset to defaults", key="evaluate.reset", on_click=_reset_form, icon=":material/restart_alt:",
              help="Models, questions and settings as on a first visit; the form you set is forgotten.")
    if b1.button("Start evaluation", type="primary", icon=":material/play_arrow:", key="evaluate.start"):
        config = run_or_error(
            evaluate.EvalConfig, models=tuple(specs), run_id=run_id if source == "run" else None,
            dataset_id=dataset_id, dataset_version=version, sample=int(sample) or None, seed=int(seed),
            max_new_tokens=int(max_new), batch_size=int(batch), do_sample=bool(sampling), temperature=float(temperature),
            perplexity=bool(perplexity), api_base_url=base_url.strip() or None, api_provider=provider.strip() or None,
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
          "semantic_leakage": "evaluate.semantic_leakage"}  # widgets drawn from their session state (and newest)
_KEPT = ("source", "split_run", "dataset", "version", "sample", "max_new_tokens", "batch_size", "temperature", "seed",
         "provider", "concurrency", "api_timeout", "leakage", "perplexity")  # ui.kept / ui.kept_choice: "<key>.kept"
_QUESTIONS = ("source", "split_run", "dataset", "version")
_DEFAULTS = {"sample": 0, "max_new_tokens": 64, "batch_size": 8, "temperature": 0.7, "seed": 0, "provider": "auto",
             "concurrency": 4, "api_timeout": 60.0, "leakage": 90}  # the ui.kept settings' (perplexity: where local)


def _state_key(name: str) -> str:
    return _PLAIN.get(name) or f"evaluate.{name}.kept"


def _restore_form(models: list | None) -> None:
    """Once per session: the form as it was last set in this workspace (another day, another browser). What this
    session set already wins (a Train page hand-off chose its run: its questions follow it); a model no longer
    offered (a deleted run) is left out. ``models``: what the model choice offers (None: it is not drawn)."""
    from studio.evaluate import form

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


def _keep_form() -> None:
    """After the form is drawn: keep it in the workspace when it changed (never the API key, nor a text holding a
    secret: ``form.clean``)."""
    from studio.evaluate import form

    values = {name: st.session_state[_state_key(name)] for name in form.FIELDS if _state_key(name) in st.session_state}
    values = form.clean(values, [hf_token(), st.session_state.get("evaluate.api_key")])
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
        for key in (base, f"{base}.kept", f"{base}.suggested"):
            state.pop(key, None)
    for name, value in {**_DEFAULTS, "perplexity": not device.capabilities().api_only}.items():
        state[f"evaluate.{name}"] = state[f"evaluate.{name}.kept"] = value
    for name in ("other_models", "base_url", "qa_endpoint", "judge"):
        state[f"evaluate.{name}"] = ""
    for name in ("sampling", "similarity", "semantic_leakage"):
        state[f"evaluate.{name}"] = False
    state["evaluate.form.saved"] = {}


# --- progress ---------------------------------------------------------------------------------

def running_ids() -> list[str]:
    """Evaluations whose job is still queued or running (to re-attach after a reload)."""
    return [e.id for e in eval_results.list_evals() if e.status in ("queued", "running") and eval_jobs.job_state(e.id).active]


@st.fragment(run_every=1.0)
def progress_panel(eval_id: str) -> None:
    status = eval_jobs.job_state(eval_id)
    if not status.active:
        st.rerun(scope="app")  # finished: draw the results
        return
    total, done = status.extra.get("total"), status.extra.get("done")
    text = status.message or status.state
    if total:
        text = f"{text} · {done}/{total} answers"
    st.progress(min(1.0, float(status.progress or 0.0)), text=ui.md(text))  # model ids as typed (api:m: is no emoji)
    try:
        partial = eval_results.load(eval_id)
    except StudioError:
        partial = None
    if status.state == "stopping":  # what is kept, and what is dropped
        st.info(stopping.STOPPING_NOTE, icon=":material/stop_circle:")
    if partial is not None and partial.rows:  # the partial result the worker saves about once a second
        st.caption(f"Questions: {ui.md(eval_results.describe_dataset(partial.dataset))} · {plural(len(partial.rows), 'question')}")
        st.caption(ui.md(" · ".join(f"{label}: {_counts(s)}" for label, s in eval_results.summarize(partial).items())))
        answered = [r for r in partial.rows if r.answers or r.errors]
        if answered:  # answers as they come, newest last
            with st.expander(f"Answers so far ({len(answered):,} questions)", expanded=True):
                st.html(report.answers_table(partial, answered[-8:]))
    if st.button("Stop", icon=":material/stop:", key=f"evaluate.stop.{eval_id}", disabled=status.state == "stopping"):
        eval_jobs.stop_evaluation(eval_id)
        st.toast("Stopping: the answer being written is dropped, the answers so far are kept.")


def _counts(summary: dict[str, float]) -> str:
    """"3 answered, 1 failed", and ", 2 stopped" where Stop came before some of the model's answers."""
    text = f"{int(summary.get('answered', 0))} answered, {int(summary.get('failed', 0))} failed"
    return text + (f", {int(summary['stopped'])} stopped" if summary.get("stopped") else "")


# --- results ----------------------------------------------------------------------------------

def _summary_frame(summary: dict, failed: dict[str, str]) -> pd.DataFrame:
    """Means to 3 significant digits; a model that failed every question reads "failed", not None."""
    cols = [m for m in metrics.METRICS if any(m in s for s in summary.values())]
    counts = report.counts_shown(summary)  # "stopped" where Stop came before some answer: not a failure
    rows = [{"model": label, **{metrics.LABELS[m]: "failed" if label in failed else _cell(s.get(m)) for m in cols},
             **{c: int(s.get(c, 0)) for c in counts}} for label, s in summary.items()]
    return pd.DataFrame(rows)


def _cell(value: float | None) -> str:
    """A mean as the tables show it; a metric this model has no value for reads "—" (its column's help says why)."""
    return metrics.MISSING if value is None else metrics.fmt(value)


def _metric_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """Each metric column's help: its range, which way is better, and why a cell may be "—" (the metrics registry)."""
    return {metrics.LABELS[m]: st.column_config.Column(help=metrics.column_help(m))
            for m in metrics.METRICS if metrics.LABELS[m] in frame.columns}


def show_result(result: EvalResult) -> None:
    if result.status == "failed" and result.error == eval_results.INTERRUPTED:  # ended without an outcome
        log = eval_jobs.job_dir(result.id) / "log.txt"
        reason = (eval_jobs.job_state(result.id).error or "its process exited") if log.is_file() else "its process exited"
        ui.show_error(f"This evaluation stopped before finishing ({reason}): the answers so far are kept below."
                      + (f" Its log: {log}" if log.is_file() else ""))
    elif result.status == "failed":
        ui.show_error(result.error or "The evaluation failed.")
    elif result.status == "stopped":
        st.warning(f"{ui.md(result.error or 'Stopped.')} Showing what was done.", icon=":material/stop_circle:")
    failed = eval_results.failed_models(result)
    not_run = eval_results.not_run_models(result)  # Stop came first: they did not fail
    nothing = bool(result.models) and len(not_run) == len(result.models)  # stopped before any answer
    for m in result.models:
        if m.label in not_run:
            if not nothing:  # said once below
                st.info(ui.md(f"{m.label} was not run: the evaluation was stopped before its first answer."),
                        icon=":material/stop_circle:")
        elif m.label in failed:  # once, not in every row
            st.warning(ui.md(f"{m.label} failed every question: {failed[m.label].rstrip('.')}. It is left out of "
                             "the charts, the answers table and win/tie/loss."), icon=":material/warning:")
        elif m.error:
            st.warning(ui.md(f"{m.label}: {m.error}"), icon=":material/warning:")
    for note in result.notes:
        st.caption(ui.md(note))
    rows = result.rows
    if not any(r.answers or r.errors for r in rows):  # questions read, none answered: no table of zeros, no empty axes
        st.info("No answers yet.")
        return
    if nothing:  # not "every model failed ... fix": nothing failed
        st.info("Nothing was answered before the stop, so there is nothing to score: start the evaluation again.")
        return
    if result.models and len(failed) == len(result.models):  # empty charts and tables would say nothing more
        local = [m for m in result.models if m.label in failed and not m.spec.startswith("api:")]
        where = " (a folder, a .gguf file, a model from the library or a Hub id in the local cache)" if local else ""
        ui.show_error(f"Every model failed, so there is nothing to score: fix what is said above for each model{where} "
                      "and start again.")  # an API model's reason says what to do (a server busy, a key refused)
        return
    leaked = result.leaked
    exclude = False  # offered only where it leaves some questions out and some in (not "Exclude the 0 leaked questions")
    if leaked and leaked < len(rows):
        exclude = st.toggle(f"Exclude the {plural(leaked, 'leaked question')} from the summary",
                            key=f"evaluate.exclude.{result.id}")
    if leaked and leaked == len(rows):
        st.caption(eval_results.ALL_LEAKED.format(n=leaked))
    summary = eval_results.summarize(result, exclude_leaked=exclude)
    st.subheader("Summary")
    frame = _summary_frame(summary, failed)
    st.dataframe(frame, hide_index=True, width="stretch", column_config=_metric_columns(frame))
    if "stopped" in frame.columns:
        st.caption(eval_results.STOPPED_HELP[0].upper() + eval_results.STOPPED_HELP[1:])
    for m in metrics.METRICS:  # an empty cell with a reason (perplexity of an API model) says it under the table too
        if metrics.absent(m) and metrics.LABELS[m] in frame.columns and (frame[metrics.LABELS[m]] == metrics.MISSING).any():
            st.caption(f"{metrics.MISSING} under {metrics.LABELS[m]}: {metrics.absent(m)}.")
    timing = latency.note(result)
    if timing and any("latency_s" in s for s in summary.values()):
        st.caption(ui.md(timing))
    st.plotly_chart(eval_plots.summary_bars({k: v for k, v in summary.items() if k not in failed}), width="stretch",
                    key=f"evaluate.bars.{result.id}")
    labels = eval_results.shown_labels(result)
    t_rows, t_dist, t_wtl, t_curves, t_export = st.tabs(
        ["Answers side by side", "Score distributions", "Win / tie / loss", "Training curves", "Export"])
    with t_rows:
        rows_view(result, labels)
    with t_dist:
        # only the metrics this evaluation computed: one it did not (similarity off, perplexity of API models) is no plot
        offered = eval_results.scored(result, ["f1", "rouge_l", "chrf", "similarity", "exact_match", "perplexity",
                                               "latency_s"])
        metric = st.selectbox("Metric", offered, format_func=metrics.LABELS.get, key="evaluate.dist_metric")
        if metric:
            st.plotly_chart(eval_plots.score_distributions(result, metric, exclude_leaked=exclude), width="stretch")
        if metric == "latency_s" and timing:
            st.caption(ui.md(timing))
    with t_wtl:
        if len(labels) < 2:
            st.info("Evaluate at least two models to compare them.")
        else:
            c1, c2, c3 = st.columns(3)
            first, _ = report.pair(result, labels)  # the pair the HTML report plots
            a = c1.selectbox("Model", labels, index=labels.index(first), key="evaluate.wtl_a")
            b = c2.selectbox("against", [m for m in labels if m != a], key="evaluate.wtl_b")
            # only what both models were scored on: no judge, no "on Judge"
            offered = eval_results.scored(result, ["f1", "rouge_l", "chrf", "exact_match", "judge"], (a, b))
            metric = c3.selectbox("on", offered, format_func=metrics.LABELS.get, key="evaluate.wtl_metric")
            if not metric:
                st.info(f"No question has scores from both {ui.md(a)} and {ui.md(b)}: nothing to compare.")
            else:
                counts = eval_results.win_tie_loss(result, a, b, metric=metric, exclude_leaked=exclude)
                st.plotly_chart(eval_plots.win_tie_loss(counts, a, b, metric), width="stretch")
    with t_curves:
        curves = evaluate.run_curves(result)
        if curves:
            st.plotly_chart(eval_plots.training_curves(curves, labels), width="stretch")
        else:
            st.info("No training runs among these models (or their logs were deleted).")
    with t_export:
        exports(result)


def rows_view(result: EvalResult, labels: list[str]) -> None:
    c1, c2 = st.columns([2, 1])
    kind = c1.radio("Show", eval_results.FILTERS, format_func=eval_results.FILTER_LABELS.get, horizontal=True,
                    key="evaluate.filter")
    focus = None
    if kind == "lost" and labels:
        default = eval_results.default_focus_model(result)
        focus = c2.selectbox("Model", labels, index=labels.index(default) if default in labels else 0,
                             key="evaluate.lost_model")
    rows = eval_results.filter_rows(result, kind, model=focus)
    st.caption(f"{len(rows):,} of {plural(len(result.rows), 'question')} · highlighted: words not in the reference")
    if not rows:
        st.info("No question matches this filter.")
        return
    pages = max(1, (len(rows) + PAGE_SIZE - 1) // PAGE_SIZE)
    page = st.number_input("Page", 1, pages, 1, key="evaluate.page_no") if pages > 1 else 1
    shown = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    st.html(report.answers_table(result, shown))
    drill_down(result, rows, labels)


def drill_down(result: EvalResult, rows: list[QuestionRow], labels: list[str]) -> None:
    """One question in full: its text, the reference, every answer with its scores and the judge's reason."""
    st.markdown("**Question details**")
    pick = st.selectbox("Question", rows, format_func=lambda r: f"#{r.index + 1}: {r.question[:90]}",
                        key="evaluate.drill")
    if pick is None:
        return
    st.text(f"Question: {pick.question}")
    st.text(f"Reference: {pick.reference}")
    if pick.context:
        passage_view(pick, labels)
    if pick.leak:
        st.warning(f"Leaked: {leakage.similar(pick.leak.score)} to the training question "  # record text: never Markdown
                   f"\"{ui.md(pick.leak.train_question)}\"", icon=":material/content_copy:")
    # the metrics this evaluation computed (no similarity column when it was off), as the summary shows them: 3
    # significant digits, and "—" where a model has no value (a failed answer, an API model's perplexity), not "None"
    shown = eval_results.scored(result, ["exact_match", "f1", "rouge_l", "chrf", "similarity", "in_passage", "perplexity",
                                         "latency_s"])
    judged = any(label in pick.judge for label in labels)
    table = []
    for label in labels:
        err = pick.errors.get(label)
        scores = pick.scores.get(label, {})
        judge = pick.judge.get(label)
        answer = (err if eval_results.stopped(pick, label) else f"[failed] {err}") if err else pick.answers.get(label, "")
        table.append({"model": label, "answer": answer,
                      **{metrics.LABELS[m]: _cell(scores.get(m)) for m in shown if m != "in_passage" or pick.context},
                      **({"judge": _cell(judge.score if judge else None), "judge's reason": judge.reason if judge else ""}
                         if judged else {})})
    frame = pd.DataFrame(table)
    st.dataframe(frame, hide_index=True, width="stretch", column_config=_metric_columns(frame))


def passage_view(row: QuestionRow, labels: list[str]) -> None:
    """The question's passage, once per model that answered, with that model's answer marked where it occurs."""
    from studio.chat import passage
    from studio.data import display

    spans = row.spans
    answered = [label for label in labels if label in spans]
    if not answered:
        st.markdown(display.text_block(row.context, "<b>Passage:</b> "), unsafe_allow_html=True)
        return
    for label, col in zip(answered, st.columns(min(len(answered), 3)) * (len(answered) // 3 + 1)):
        span = spans[label]
        score = f" · score {metrics.fmt(span.score)}" if span.score is not None else ""
        where = "found in the passage" if span.found else "not found in the passage"
        with col:
            st.caption(f"{ui.md(label)}: {where}{score}")
            pieces = passage.segments(row.context, span.start, span.end)
            st.markdown(display.highlighted_block(pieces), unsafe_allow_html=True)


def exports(result: EvalResult) -> None:
    name = f"evaluation-{result.id}"
    c1, c2, c3 = st.columns(3)
    c1.download_button("CSV", report.to_csv(result), f"{name}.csv", "text/csv", on_click="ignore",
                       icon=":material/table:", key="evaluate.dl_csv")
    c2.download_button("JSON", report.to_json(result), f"{name}.json", "application/json", on_click="ignore",
                       icon=":material/data_object:", key="evaluate.dl_json")
    # made when pressed, on a thread of Streamlit's, which has no visitor on a public app: bound to this one's
    c3.download_button("HTML report", workspace.bound(lambda: report.to_html(result, evaluate.run_curves(result))),
                       f"{name}.html", "text/html", on_click="ignore", icon=":material/description:", key="evaluate.dl_html",
                       help="One self-contained file with the plots embedded: opens offline, shareable.")


# --- past evaluations -------------------------------------------------------------------------

def past_evaluations() -> str | None:
    """The stored evaluations as a table; returns the one chosen to show."""
    evals = eval_results.list_evals()
    damaged = eval_results.damaged()
    for line in damaged:  # a file the list leaves out is named, not gone without a word
        st.warning(line, icon=":material/warning:")
    if not evals:
        if not damaged:
            st.info("No evaluations yet: choose models and questions above and start one.")
        return None
    ids = [e.id for e in evals]
    selected = st.session_state.get("evaluate.selected")
    if selected in ids and selected != st.session_state.get("evaluate.shown"):
        st.session_state["evaluate.pick"] = selected  # just started or re-attached: show it
    elif st.session_state.get("evaluate.pick") not in ids:
        st.session_state["evaluate.pick"] = ids[0]
    else:  # set again: the browser shows a choice's label as it was when chosen ("· running" after the end) unless told
        st.session_state["evaluate.pick"] = st.session_state["evaluate.pick"]
    by_id = {e.id: e for e in evals}
    # API models need no device: an evaluation of them alone starts while another runs, so several may be running
    running = [i for i in ids if by_id[i].status in ("queued", "running") and eval_jobs.job_state(i).active]
    chosen = st.selectbox("Evaluation", ids, key="evaluate.pick",
                          format_func=lambda i: f"{i} · {', '.join(by_id[i].models)}" + (" · running" if i in running else ""))
    st.session_state["evaluate.shown"] = chosen
    st.session_state["evaluate.selected"] = chosen
    info = by_id[chosen]
    others = {i: ", ".join(by_id[i].models) for i in running if i != chosen}
    if others:  # the one just started is shown: the others go on, and are one pick away
        _also_running(others)
    if eval_jobs.job_state(chosen).active:  # one status: the progress bar below counts the answers
        st.caption(f"Status: **running** · started {jobs.readable_time(info.created)}")  # drawn once: the questions are said below
    else:
        st.caption(f"Status: **{info.status}** · started {jobs.readable_time(info.created)} · questions: {ui.md(info.dataset or '-')} · "
                   f"{plural(info.questions, 'question')}")
    if len(evals) > 1:  # one evaluation alone has nothing to be compared with
        _comparison(evals, ids)
    # Apart from the comparison, whose "Evaluations" it does not delete, and asked twice: nothing else keeps the answers.
    with st.popover("Delete this evaluation", icon=":material/delete:"):
        st.write(f"Delete evaluation **{chosen}** ({ui.md(', '.join(info.models))}) for good? Its answers and scores "
                 "are kept nowhere else: export it first (Export, below) to keep a copy.")
        if st.button("Delete for good", type="primary", key="evaluate.delete"):
            if eval_jobs.job_state(chosen).active:
                st.error("This evaluation is still running: stop it first.")
            else:
                eval_results.delete(chosen)
                st.session_state["evaluate.selected"] = None
                st.rerun()
    return chosen


@st.fragment(run_every=1.0)
def _also_running(others: dict[str, str]) -> None:
    """"Also running: <id> (<models>)" for the evaluations running beside the one shown (``others``: id -> its
    models), followed on a timer drawn only while some run: when one ends, the page again, whose picker no longer
    marks it running and whose line no longer names it (it stayed until something else reran the page)."""
    if not all(eval_jobs.job_state(i).active for i in others):
        st.rerun(scope="app")
        return
    named = "; ".join(f"{i} ({models})" for i, models in others.items())
    st.info(f"Also running: {ui.md(named)}. Pick {'it' if len(others) == 1 else 'one'} under Evaluation to follow "
            "or stop it.", icon=":material/autorenew:")


def _comparison(evals: list[eval_results.EvalInfo], ids: list[str]) -> None:
    """The stored evaluations' summaries side by side, the newest and an earlier one on its questions first."""
    by_id = {e.id: e for e in evals}
    with st.expander(f"Compare past evaluations ({len(evals)})"):
        default, why = eval_results.default_comparison(evals)  # the newest and an earlier one on its questions
        if st.session_state.get("evaluate.compare.newest") != ids[0]:  # first shown, or a newer one since: it first
            st.session_state["evaluate.compare"] = default
            st.session_state["evaluate.compare.newest"] = ids[0]
        else:  # as picked, less any deleted since
            st.session_state["evaluate.compare"] = [i for i in st.session_state.get("evaluate.compare", default) if i in ids]
        picked = st.multiselect("Evaluations", ids, key="evaluate.compare")
        if why and picked == default:
            st.caption(ui.md(why))
        compared = [m for m in ("exact_match", "f1", "rouge_l", "chrf", "perplexity", "judge")
                    if any(m in s for i in picked for s in by_id[i].summary.values())]
        rows = []
        for i in picked:
            for label, s in by_id[i].summary.items():
                rows.append({"evaluation": i, "started": jobs.readable_time(by_id[i].created), "questions": by_id[i].dataset, "model": label,
                             **{metrics.LABELS[m]: _cell(s.get(m)) for m in compared},
                             # a stopped evaluation's means are over fewer questions than a finished one's
                             "answered": int(s.get("answered", 0)), "failed": int(s.get("failed", 0)),
                             "stopped": int(s.get("stopped", 0))})
        if rows:
            frame = pd.DataFrame(rows)  # means to 3 significant digits, as in the Summary table
            if not frame["stopped"].any():  # as in the Summary table: only where Stop came before some answer
                frame = frame.drop(columns="stopped")
            st.dataframe(frame, hide_index=True, width="stretch", column_config=_metric_columns(frame))
            merged = {f"{r['evaluation']} · {r['model']}": by_id[r["evaluation"]].summary[r["model"]] for r in rows}
            st.plotly_chart(eval_plots.summary_bars(merged, ("exact_match", "f1", "rouge_l", "chrf")), width="stretch",
                            key="evaluate.compare_bars")


def render() -> None:
    init()
    st.title(EVALUATE.title)
    caps = device.capabilities()
    if caps.api_only:  # nothing trains here: the question a fine-tuned model answers is asked where it trains
        where = "a studio of your own" if caps.public else "the full install"
        st.caption("Which API model answers your questions best, and where does it miss? Answer a dataset's held-out "
                   "questions with several API models, score them against the references and read the answers side by "
                   f"side. Comparing a model before and after training needs {where}.")
    else:
        st.caption("Did training make the model better, and where? Answer held-out questions with several models, "
                   "score them against the references and read the answers side by side.")
    has_evals = bool(eval_results.list_evals())
    with st.expander("New evaluation", expanded=not has_evals, icon=":material/add:"):
        new_evaluation_form()
    running = running_ids()
    if running and st.session_state.get("evaluate.selected") is None:
        st.session_state["evaluate.selected"] = running[0]  # re-attach to a job started before a reload
    st.subheader("Results")
    chosen = past_evaluations()
    if not chosen:
        return
    job = eval_jobs.job_state(chosen)
    if job.active:
        progress_panel(chosen)
    result = run_or_error(eval_results.load, chosen)  # read after the progress panel: the newest partial result
    if not result:
        return
    show_result(result)
