"""The Train page's widgets: run settings, preview, memory check, the live run view, asking the model.

Training is a background job (``studio.jobs``): the page only starts it and reads the run folder
back from a fragment that reruns every second. Questions to a model are answered in a worker thread
too; models are loaded once per process through ``ui.model_cache()``, the one cache Chat uses too.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import streamlit as st

from studio import jobs, ui
from studio.data import store
from studio.data.display import text_block
from studio.errors import StudioError
from studio.tasks import Task
from studio.train import job, memory, recipe, runs
from studio.train import loop as train
from studio.train import plots as train_plots
from studio.train.config import field_help
from studio.ui import export as export_ui

BASES = ("scratch", "distilgpt2", "a model from the library", "an earlier run", "another model (Hub id or folder)")


# --- models for asking: loaded once per process ------------------------------------------------------


def _ask(specs: list[str], questions: list[str]) -> dict[str, list[str]]:
    from studio.models import generate
    from studio.models.cache import model_lock

    cache = ui.model_cache()
    out = {}
    for spec in specs:
        lm = cache.get(spec)
        with model_lock(lm.model):
            out[spec] = generate.generate_answers(lm, questions, max_new_tokens=96)
    return out


# --- settings ------------------------------------------------------------------------------------------


def pick_dataset() -> tuple[list[dict], dict] | None:
    """Dataset and version selectors; returns (records, provenance) or None when there is none."""
    datasets = store.list_datasets()
    if not datasets:
        st.info("No datasets yet: create or import one on the Dataset page.")
        return None
    ids = [d.id for d in datasets]
    # This page's own choice, kept while other pages are open (their widgets' state is dropped);
    # the Dataset page's selection only on the first visit.
    selected = st.session_state.get("train.dataset_id") or st.session_state.get("dataset.selected")
    index = ids.index(selected) if selected in ids else 0
    c1, c2 = st.columns([3, 1])
    info = c1.selectbox("Dataset", datasets, index=index, format_func=lambda d: d.name, key="train.dataset")
    st.session_state["train.dataset_id"] = info.id
    versions = [v.version for v in reversed(info.versions)]
    if not versions:
        st.warning("This dataset has no saved version yet: save it on the Dataset page.")
        return None
    version = c2.selectbox("Version", versions, key=f"train.version.{info.id}",
                           format_func=lambda v: f"v{v}" + (" (latest)" if v == versions[0] else ""))
    return ui_run(train.load_dataset, info.id, version)


def ui_run(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except StudioError as exc:
        ui.show_error(exc)
        return None


def pick_base() -> str | None:
    """Scratch, the tutorial's distilgpt2, a library model (the bundled SmolLM2 offline), a run, or any id."""
    from studio.models import bundled, loading
    from studio.ui import models as models_ui

    default_spec, why = loading.offline_default("distilgpt2")  # the tutorial's model wherever it can be loaded
    offline_bundled = default_spec == bundled.SPEC
    default = 2 if offline_bundled else (0 if why else 1)
    choice = st.radio("Base model", BASES, index=default, horizontal=True, key="train.base_choice",
                      help="scratch trains a small GPT-2 from zero; the others fine-tune a pretrained model.")
    if choice == "scratch":
        return "scratch"
    if choice == "distilgpt2":
        return "distilgpt2"  # offline, the memory check below says it cannot be loaded and Start stays off
    if choice == "a model from the library":
        spec = models_ui.model_picker("train.base_model", "Model", default_spec, include_runs=False)
        if offline_bundled and spec == bundled.SPEC:
            st.caption(why)
        return spec
    if choice == "an earlier run":
        done = [r for r in runs.list_runs() if r.has_model or r.checkpoints()]
        if not done:
            st.info("No run has a saved model yet.")
            return None
        run = st.selectbox("Continue training", done, format_func=lambda r: f"{r.name} ({r.status.state})",
                           key="train.base_run")
        return run.model_spec
    spec = st.text_input("Hub id, local folder or .gguf file", key="train.base_other",
                         placeholder="e.g. gpt2 or /models/my-model")
    return spec.strip() or None


METHOD_NOTES = {
    "full": "full fine-tuning: every weight learns (the largest run folder)",
    "lora": "LoRA: small adapters on a frozen base; a few % of the parameters, a run folder of megabytes",
    "qlora": "QLoRA: LoRA on a 4-bit base, for big models on a small GPU (CUDA only)",
}


def pick_method(base: str) -> str | None:
    """Full, LoRA or QLoRA for a pretrained base; None (with the reason) for QLoRA without CUDA."""
    if base == "scratch":
        return "full"
    method = st.radio("Method", list(METHOD_NOTES), horizontal=True, key="train.method",
                      format_func=lambda m: {"full": "Full", "lora": "LoRA", "qlora": "QLoRA"}[m],
                      help=field_help("method"))
    st.caption(METHOD_NOTES[method])
    if method == "qlora" and not memory.device_memory().name.startswith("cuda"):
        st.error("QLoRA needs a CUDA GPU (bitsandbytes 4-bit), and this machine has none: choose LoRA, which trains "
                 "the same adapters on the unquantized base.", icon=":material/error:")
        return None
    return method


def settings(base: str, n_records: int = 0, method: str = "full") -> train.TrainConfig | None:
    """Preset plus the advanced settings, each with a one-line explanation."""
    names = list(train.PRESETS)
    if base == "scratch":
        names = [n for n in names if n != "recommended"]
    default = train.default_preset(base)
    name = st.selectbox("Preset", names, index=names.index(default), key=f"train.preset.{base == 'scratch'}",
                        format_func=lambda n: f"{n}: {train.PRESET_NOTES[n]}")
    if name == "recommended":
        shape = ui_run(memory.shape_for_base, base)
        p, why = train.recommend(n_records, base=base, method=method, parameters=shape.params if shape else None)
        st.info(why, icon=":material/tune:")
    else:
        p = train.PRESETS[name].replace(method=method) if base != "scratch" else train.PRESETS[name]
    name = f"{name}.{method}"  # widget keys: a method's own defaults
    with st.expander("Advanced settings"):
        c1, c2, c3 = st.columns(3)
        values = dict(
            learning_rate=c1.number_input("Learning rate", 1e-6, 0.5, p.learning_rate, format="%.6f", key=f"train.lr.{name}",
                                          help=field_help("learning_rate")),
            batch_size=c2.number_input("Batch size", 1, 1024, p.batch_size, key=f"train.bs.{name}",
                                       help=field_help("batch_size")),
            epochs=c3.number_input("Epochs", 1, 1000, int(p.epochs), key=f"train.ep.{name}", help=field_help("epochs"))
            if float(p.epochs).is_integer() else c3.number_input("Epochs", 0.1, 1000.0, float(p.epochs),
                                                                 key=f"train.ep.{name}", help=field_help("epochs")),
            weight_decay=c1.number_input("Weight decay", 0.0, 0.5, p.weight_decay, key=f"train.wd.{name}",
                                         help=field_help("weight_decay")),
            test_fraction=c2.number_input("Held-out fraction", 0.0, 0.9, p.test_fraction, key=f"train.tf.{name}",
                                          help=field_help("test_fraction")),
            max_length=c3.number_input("Max length (tokens)", 16, 8192, p.max_length, key=f"train.ml.{name}",
                                       help=field_help("max_length")),
            warmup_steps=c1.number_input("Warm-up steps", 0.0, 10_000.0, float(p.warmup_steps), key=f"train.wu.{name}",
                                         help=field_help("warmup_steps")),
            lr_scheduler=c2.selectbox("Schedule", ["linear", "cosine", "constant"],
                                      index=["linear", "cosine", "constant"].index(p.lr_scheduler), key=f"train.sch.{name}",
                                      help=field_help("lr_scheduler")),
            grad_accum=c3.number_input("Gradient accumulation", 1, 256, p.grad_accum, key=f"train.ga.{name}",
                                       help=field_help("grad_accum")),
            logging_steps=c1.number_input("Log every (steps)", 1, 10_000, p.logging_steps, key=f"train.log.{name}",
                                          help=field_help("logging_steps")),
            seed=c2.number_input("Seed", 0, 2**31 - 1, p.seed, key=f"train.seed.{name}",
                                 help=field_help("seed")),
            gradient_checkpointing=c3.checkbox("Gradient checkpointing", p.gradient_checkpointing, key=f"train.gc.{name}",
                                               help=field_help("gradient_checkpointing")),
            question_dropout=c1.number_input("Question word dropout", 0.0, 0.5, p.question_dropout, step=0.05,
                                             key=f"train.qd.{name}", help=field_help("question_dropout")),
        )
        if method != "full":
            l1, l2, l3, l4 = st.columns(4)
            values["lora_r"] = l1.number_input("LoRA rank", 1, 256, p.lora_r, key=f"train.lr_r.{name}",
                                               help=field_help("lora_r"))
            values["lora_alpha"] = l2.number_input("LoRA alpha", 1, 1024, p.lora_alpha, key=f"train.lr_a.{name}",
                                                   help=field_help("lora_alpha"))
            values["lora_dropout"] = l3.number_input("LoRA dropout", 0.0, 0.5, p.lora_dropout, key=f"train.lr_d.{name}",
                                                     help=field_help("lora_dropout"))
            values["lora_targets"] = l4.text_input("Target modules", p.lora_targets, key=f"train.lr_t.{name}",
                                                   help=field_help("lora_targets"))
        if base == "scratch":
            sizes = list(train.scratch.SIZES)
            values["scratch_size"] = c1.selectbox("Model size", sizes, index=sizes.index(p.scratch_size), key=f"train.size.{name}",
                                                  format_func=lambda s: f"{s}: {train.scratch.SIZES[s].note}",
                                                  help=field_help("scratch_size"))
            values["vocab_size"] = c2.number_input("Vocabulary", 256, 65_536, p.vocab_size, key=f"train.vocab.{name}",
                                                   help=field_help("vocab_size"))
    whole = ("batch_size", "max_length", "grad_accum", "logging_steps", "lora_r", "lora_alpha")
    values = {k: (int(v) if isinstance(v, float) and k in whole else v) for k, v in values.items()}
    return ui_run(p.replace, base=base, method=method, **values)


@st.cache_resource(show_spinner=False, max_entries=4)
def _scratch_tokenizer(sha: str, texts: tuple[str, ...], vocab: int) -> Any:
    return train.scratch.train_tokenizer(list(texts), vocab)


@st.cache_resource(show_spinner=False, max_entries=4)
def _tokenizer(spec: str) -> Any:
    from studio.models import loading as models

    return models.load_tokenizer(spec)


def preview(cfg: train.TrainConfig, records: list[dict], meta: dict) -> None:
    """The records exactly as the model will see them, token counts, truncation and the loss-carrying tokens."""
    keep = ui_run(recipe.usable_indices, records)
    if keep is None:
        return
    split = recipe.split_indices(keep, cfg.test_fraction, cfg.seed)
    if cfg.base == "scratch":
        texts = tuple(train.scratch.corpus(records[i] for i in split["train"]))
        tok = _scratch_tokenizer(meta.get("sha256") or "", texts, cfg.vocab_size)
    else:
        tok = ui_run(_tokenizer, cfg.base)
        if tok is None:
            return
    rows = recipe.preview_rows(tok, records, keep, cfg.max_length)
    n_trunc = sum(r["truncated"] for r in rows)
    skipped = len(records) - len(keep)
    st.caption(f"{len(split['train']):,} records to train on, {len(split['test']):,} held out"
               + (f", {skipped:,} skipped (empty question or answer)" if skipped else "")
               + f". Format: {recipe.format_name(tok)}. Longest: {max(r['tokens'] for r in rows)} tokens.")
    if n_trunc:
        st.warning(f"{n_trunc} record(s) are longer than {cfg.max_length} tokens and will be truncated "
                   "(they lose the end of their answer and their EOS): raise Max length or shorten them.")
    st.dataframe(rows, hide_index=True, width="stretch", height=220)
    pick = st.number_input("Show record", 1, len(records), keep[0] + 1, key="train.preview_record",
                           help="Numbered from 1, as on the Dataset page: its tokens, with the ones that carry "
                                "loss highlighted.") - 1
    if pick in keep:
        enc = recipe.encode_record(tok, records[pick]["question"], records[pick]["answer"], cfg.max_length)
        st.markdown(highlight(recipe.token_rows(tok, enc)), unsafe_allow_html=True)
        st.caption("Highlighted tokens carry loss (the answer and its end-of-text); the prompt does not.")


def highlight(rows: list[dict]) -> str:
    """Tokens as HTML spans, loss-carrying ones highlighted; all text escaped."""
    spans = []
    for r in rows:
        text = html.escape(r["token"]).replace("\n", "↵<br>")
        style = "background:#ffd86b;color:#000" if r["loss"] else "background:#eee;color:#555"
        spans.append(f'<span style="{style};padding:1px 2px;margin:1px;border-radius:3px;'
                     f'font-family:monospace;white-space:pre-wrap" title="id {r["id"]}">{text}</span>')
    return f'<div data-testid="train-tokens" style="line-height:1.9">{"".join(spans)}</div>'


def memory_check(cfg: train.TrainConfig, longest: int = 0) -> bool:
    """The memory estimate for ``cfg``; False (the reason shown) when the base cannot be loaded."""
    shape = ui_run(memory.shape_for_base, cfg.base, scratch_size=cfg.scratch_size, vocab_size=cfg.vocab_size)
    if shape is None:
        return False
    seq = min(cfg.max_length, longest or cfg.max_length)
    est = memory.estimate(shape, cfg.batch_size, seq, gradient_checkpointing=cfg.gradient_checkpointing,
                          method=cfg.method, lora_r=cfg.lora_r)
    dev = memory.device_memory()
    ok, line = memory.verdict(est, dev, cfg.batch_size, seq)
    trainable = shape.params if cfg.method == "full" else shape.lora_params(cfg.lora_r)
    share = (f" · {cfg.method.upper() if cfg.method == 'qlora' else 'LoRA'}: {trainable / 1e6:.2f} M of "
             f"{shape.params / 1e6:.1f} M parameters trainable ({trainable / shape.params:.1%})"
             if cfg.method != "full" else f" · {shape.params / 1e6:.1f} M parameters")
    parts = (f"weights {memory.fmt_bytes(est.weights)} · gradients {memory.fmt_bytes(est.gradients)} · "
             f"optimizer {memory.fmt_bytes(est.optimizer)} · activations {memory.fmt_bytes(est.activations)} "
             f"(batch {cfg.batch_size} × {seq} tokens){share}")
    (st.success if ok else st.warning)(line, icon=":material/memory:")
    st.caption(parts)
    return True


def start(cfg: train.TrainConfig, meta: dict, name: str) -> str | None:
    """Start the training job (``studio.train.job``); returns the run id, or None with the reason shown."""
    return ui_run(job.start_training, cfg, meta, name)


# --- the live run --------------------------------------------------------------------------------------


def fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def progress_text(s: jobs.JobStatus) -> str:
    """The line under the progress bar: the state, the worker's message, and the ETA while it runs."""
    message = s.message.removeprefix(f"{s.state}: ").removeprefix(f"{s.state} ")
    parts = [s.state, message] if message and message != s.state else [s.state]
    tps = s.extra.get("tokens_per_s") or 0
    if tps and "tokens/s" not in message:
        parts.append(f"{tps:,.0f} tokens/s")
    if s.active:
        parts.append(f"ETA {fmt_eta(s.eta_s)}")
    return " · ".join(parts)


@st.fragment(run_every=1)
def live(run_id: str) -> None:
    """Status, progress, curves and logs of a run, re-read from its folder every second."""
    try:
        run = runs.load_run(run_id)
    except StudioError:
        status = jobs.read_status(runs.run_dir(run_id))
        st.info(f"Starting… ({status.message or status.state})")
        if status.state == "failed":
            st.error(status.error)
        _log(runs.run_dir(run_id))
        return
    s = run.status
    st.subheader(f"Run: {ui.md(run.name)}")
    st.progress(min(max(s.progress, 0.0), 1.0), text=progress_text(s))
    if s.state == "failed":
        ui.show_error(f"Training failed: {s.error}")
    elif s.state == "stopped":
        st.info("Stopped. Its last checkpoint is kept: resume to continue from there.")
    elif s.state == "finished":
        done = s.message.removeprefix("finished: ")
        st.success(f"Finished: {done}. The model is in {run.dir / 'model'}.")
    rows = run.metrics()
    if rows:
        st.plotly_chart(train_plots.loss_curves(rows), width="stretch", key="train.curve")
    c1, c2 = st.columns(2)
    if s.active and c1.button("Stop", key="train.stop", icon=":material/stop:", disabled=s.state == "stopping",
                              help="Stops after the current step and keeps a checkpoint."):
        jobs.request_stop(run.dir)
    if s.state in ("stopped", "failed") and runs.last_checkpoint(run.dir) is not None:
        if c1.button("Resume", key="train.resume", icon=":material/play_arrow:",
                     help="Continue from the last checkpoint with the same settings."):
            ui_run(job.resume_training, run.dir)
    _log(run.dir)
    # The ask panel is drawn by the full page: rerun it once when the run reaches an end state.
    if s.state in jobs.DONE and st.session_state.get("train.ended") != (run_id, s.state):
        st.session_state["train.ended"] = (run_id, s.state)
        st.rerun()


def _log(folder: Path) -> None:
    with st.expander("Log"):
        st.code(jobs.tail_log(folder, 30) or "(no output yet)", language=None)


def ask_panel(run_id: str) -> None:
    """An ask box and the base's vs the trained model's answers to a few held-out questions."""
    try:
        run = runs.load_run(run_id)
    except StudioError:
        return  # the worker has not written run.json yet
    if not run.has_model or run.status.active:
        return
    merge_panel(run)
    push_panel(run)
    export_ui.export_panel(run.model_spec, run.name, "train")
    st.subheader("Ask the model")
    dev = memory.device_memory()
    cache = ui.model_cache()
    c1, c2 = st.columns([3, 1])
    c1.caption(f"Loaded models: {len(cache.loaded())} · {dev.name}: {memory.fmt_bytes(dev.free)} free of {memory.fmt_bytes(dev.total)}")
    if c2.button("Release models", key="train.release", help="Free the memory held by models loaded for asking."):
        cache.unload()
    task: Task | None = st.session_state.get("train.task")
    busy = task is not None and not task.done
    with st.form("train.ask_form", border=False):
        q = st.text_input("Question", key="train.question", disabled=busy)
        if st.form_submit_button("Ask", disabled=busy) and q.strip():
            st.session_state["train.task"] = Task("Asking", _ask, [run.model_spec], [q.strip()]).start()
            st.session_state["train.task_kind"] = "ask"
    records, questions = [], []
    try:
        records, _ = train.load_dataset(run.dataset.get("file") or run.dataset.get("id") or "", run.dataset.get("version"))
        split = run.split
        picked = (split["test"] or split["train"])[:3]
        questions = [records[i]["question"] for i in picked]
    except (StudioError, IndexError, KeyError):
        questions = []
    held_out = bool(run.split["test"])
    if questions and run.base != "scratch":
        label = "held-out" if held_out else "training"
        if st.button(f"Compare base and trained on {len(questions)} {label} questions", disabled=busy, key="train.compare"):
            st.session_state["train.task"] = Task("Comparing", _ask, [run.base, run.model_spec], questions).start()
            st.session_state["train.task_kind"] = "compare"
            st.session_state["train.compare_q"] = questions
    elif questions and st.button(f"Answer {len(questions)} {'held-out' if held_out else 'training'} questions",
                                 disabled=busy, key="train.compare"):
        st.session_state["train.task"] = Task("Answering", _ask, [run.model_spec], questions).start()
        st.session_state["train.task_kind"] = "compare"
        st.session_state["train.compare_q"] = questions
    _task_result(run)


@st.fragment(run_every=0.5)
def _task_result(run: runs.RunInfo) -> None:
    task: Task | None = st.session_state.get("train.task")
    if task is None:
        return
    if not task.done:
        st.caption(f"{task.label}… (loading a model the first time takes a moment)")
        st.session_state["train.task_drawn"] = False
        return
    if not st.session_state.get("train.task_drawn", True):  # just finished: redraw the page once, so
        st.session_state["train.task_drawn"] = True           # "Loaded models" counts the model it loaded
        st.rerun(scope="app")
    if task.error:
        ui.show_error(task.error)
        return
    if st.session_state.get("train.task_kind") == "ask":  # model output: literal text, never Markdown
        st.markdown(text_block(task.result[run.model_spec][0] or "(empty)", "<b>Answer:</b> "), unsafe_allow_html=True)
        return
    questions = st.session_state.get("train.compare_q", [])
    table = []
    for i, q in enumerate(questions):
        row = {"question": q}
        for spec, answers in task.result.items():
            row["trained" if spec == run.model_spec else f"base ({spec})"] = answers[i]
        table.append(row)
    st.dataframe(table, hide_index=True, width="stretch")


def runs_table() -> None:
    """All runs: compare curves and configs, rename, delete."""
    all_runs = runs.list_runs()
    if not all_runs:
        st.caption("No runs yet.")
        return
    st.dataframe([{"id": r.id, "name": r.name, "state": r.status.state, "base": r.base,
                   "dataset": f"{r.dataset.get('name')} v{r.dataset.get('version')}" if r.dataset else "",
                   "created": r.created, "reason": r.status.error or ""}
                  for r in all_runs], hide_index=True, width="stretch",
                 column_config={"reason": st.column_config.TextColumn("Why it failed", width="large")})
    failed = sum(1 for r in all_runs if r.status.state == "failed")
    st.caption(f"{len(all_runs):,} run{'s' if len(all_runs) != 1 else ''}"
               + (f", {failed:,} failed (delete them below)" if failed else "") + ".")
    chosen = st.multiselect("Compare runs", all_runs, format_func=lambda r: r.name, key="train.compare_runs")
    if chosen:
        st.plotly_chart(train_plots.loss_curves({r.name: r.metrics() for r in chosen}), width="stretch")
        if len(chosen) > 1:
            diff = runs.compare_configs(chosen)
            st.dataframe(diff, hide_index=True, width="stretch") if diff else st.caption("Same settings.")
    with st.expander("Open, rename or delete a run"):
        target = st.selectbox("Run", all_runs, format_func=lambda r: f"{r.name} ({r.id})", key="train.manage_run")
        new = st.text_input("New name", value=target.name, key=f"train.rename.{target.id}")
        c0, c1, c2 = st.columns(3)
        if c0.button("Open on the New run tab", key="train.open_btn",
                     help="Watch it, resume it after a stop or crash, or ask it questions."):
            st.session_state["train.run_id"] = target.id
            st.session_state["train.task"] = None
            st.rerun()
        if c1.button("Rename", key="train.rename_btn") and ui_run(runs.rename_run, target.id, new):
            st.rerun()
        if c2.button("Delete (moves to trash)", key="train.delete_btn") and ui_run(runs.delete_run, target.id):
            if st.session_state.get("train.run_id") == target.id:
                st.session_state["train.run_id"] = None
            st.rerun()


def push_panel(run: Any) -> None:
    """Push the finished run (model or adapter) to the Hub with its generated model card, in a worker thread."""
    from studio.data import hub
    from studio.train import publish

    with st.expander("Push to the Hugging Face Hub", icon=":material/cloud_upload:"):
        token = ui.hf_token()
        st.caption("Uploads the model folder and a model card (base, method, dataset version and hash, settings, the "
                   "latest evaluation). " + ("Token: configured." if token else
                                              "No token configured: add HF_TOKEN to secrets or the environment."))
        repo = st.text_input("Hub model id", placeholder="your-name/smollm2-soccer", key=f"train.push.repo.{run.id}")
        private = st.checkbox("Private", value=True, key=f"train.push.private.{run.id}")
        # Built only when asked (it looks through the stored evaluations, cached until they change).
        if st.toggle("Preview the model card", key=f"train.push.preview.{run.id}"):
            st.code(publish.model_card(run, publish.latest_summary(run)), language="markdown")
        key = f"train.push.task.{run.id}"
        task: Task | None = st.session_state.get(key)
        if st.button("Push", key=f"train.push.go.{run.id}", disabled=task is not None and not task.done):
            try:
                repo_id = hub.check_repo_id(repo, kind="model")
                hub.require_token(token)
            except StudioError as exc:
                ui.show_error(exc)
            else:
                st.session_state[key] = task = Task(f"Pushing to {repo_id}", publish.push_run, run.id, repo_id, token,
                                                    private=private).start()
        if task is not None:
            _push_status(key)


@st.fragment(run_every=1.0)
def _push_status(key: str) -> None:
    task: Task | None = st.session_state.get(key)
    if task is None:
        return
    if not task.done:
        st.info(f"{task.label}…", icon=":material/hourglass_top:")
    elif task.error:
        ui.show_error(task.error)
    else:
        st.success(f"Pushed to {task.result}", icon=":material/check_circle:")


def merge_panel(run: Any) -> None:
    """A LoRA run: merge its adapter into a full model (for export and serving), in a worker thread."""
    from studio.models import adapters
    from studio.train import lora

    if not adapters.is_adapter(run.dir / "model"):
        return
    task: Task | None = st.session_state.get("train.merge_task")
    merged = run.dir / adapters.MERGED
    if (merged / "config.json").is_file():
        st.caption(f"Merged into a full model: `{merged}` (serve it with `transformers serve {merged}`).")
    elif task is not None and not task.done:
        st.info("Merging the adapter into its base…", icon=":material/hourglass_top:")
    elif st.button("Merge the adapter into a full model", key="train.merge", icon=":material/merge:",
                   help="Writes the base with the adapter applied into the run's merged/ folder."):
        st.session_state["train.merge_task"] = Task("Merging", lora.merge, run.dir).start()
        st.rerun()
    if task is not None and task.done and task.error:
        ui.show_error(task.error)
