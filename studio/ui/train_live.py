"""The Train page's run view: the live run (progress, curves, log, Stop), asking the trained model,
and a finished run's Hub push and merge panels.

The run is a background job (``studio.jobs``): a fragment rerunning every second reads its folder back.
Questions to a model are answered in a worker thread; models are loaded once per process through
``ui.model_cache()``, the one cache Chat uses too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from studio import jobs, ui
from studio.data.display import text_block
from studio.errors import StudioError
from studio.tasks import Task
from studio.train import job, memory, runs
from studio.train import plots as train_plots
from studio.ui import export as export_ui

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
        kept = runs.checkpoint_bytes(run.dir)
        if kept:
            st.caption(f"The run folder also keeps its last checkpoint ({kept / 2**20:,.1f} MB) for resuming: drop it on "
                       f"the Runs tab, or `python -m studio runs drop-checkpoints {run.id}`.")
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
            ui.run_or_error(job.resume_training, run.dir)
    _log(run.dir)
    # The ask panel is drawn by the full page: rerun it once when the run reaches an end state.
    if s.state in jobs.DONE and st.session_state.get("train.ended") != (run_id, s.state):
        st.session_state["train.ended"] = (run_id, s.state)
        st.rerun()


def _log(folder: Path) -> None:
    with st.expander("Log"):
        st.code(jobs.tail_log(folder, 30) or "(no output yet)", language=None)


@dataclass
class AskOp:
    """The ask panel's one operation in flight or shown (session key ``train.ask``)."""

    task: Task  # answers by model spec: {spec: [answer per question]}
    kind: str  # "ask" (one typed question) or "compare" (a few held-out questions, a table)
    questions: list[str]
    drawn: bool = True  # False while running: the page is redrawn once when it ends


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
    op: AskOp | None = st.session_state.get("train.ask")
    busy = op is not None and not op.task.done
    with st.form("train.ask_form", border=False):
        q = st.text_input("Question", key="train.question", disabled=busy)
        if st.form_submit_button("Ask", disabled=busy) and q.strip():
            st.session_state["train.ask"] = AskOp(Task("Asking", _ask, [run.model_spec], [q.strip()]).start(), "ask",
                                                  [q.strip()])
    records, questions = [], []
    try:
        records, _ = run.dataset_ref.load()
        split = run.split
        picked = (split["test"] or split["train"])[:3]
        questions = [records[i]["question"] for i in picked]
    except (StudioError, IndexError, KeyError):
        questions = []
    held_out = bool(run.split["test"])
    if questions and run.base != "scratch":
        label = "held-out" if held_out else "training"
        if st.button(f"Compare base and trained on {len(questions)} {label} questions", disabled=busy, key="train.compare"):
            st.session_state["train.ask"] = AskOp(Task("Comparing", _ask, [run.base, run.model_spec], questions).start(),
                                                  "compare", questions)
    elif questions and st.button(f"Answer {len(questions)} {'held-out' if held_out else 'training'} questions",
                                 disabled=busy, key="train.compare"):
        st.session_state["train.ask"] = AskOp(Task("Answering", _ask, [run.model_spec], questions).start(), "compare",
                                              questions)
    _task_result(run)


@st.fragment(run_every=0.5)
def _task_result(run: runs.RunInfo) -> None:
    op: AskOp | None = st.session_state.get("train.ask")
    if op is None:
        return
    task = op.task
    if not task.done:
        st.caption(f"{task.label}… (loading a model the first time takes a moment)")
        op.drawn = False
        return
    if not op.drawn:  # just finished: redraw the page once, so "Loaded models" counts the model it loaded
        op.drawn = True
        st.rerun(scope="app")
    if task.error:
        ui.show_error(task.error)
        return
    if op.kind == "ask":  # model output: literal text, never Markdown
        st.markdown(text_block(task.result[run.model_spec][0] or "(empty)", "<b>Answer:</b> "), unsafe_allow_html=True)
        return
    table = []
    for i, q in enumerate(op.questions):
        row = {"question": q}
        for spec, answers in task.result.items():
            row["trained" if spec == run.model_spec else f"base ({spec})"] = answers[i]
        table.append(row)
    st.dataframe(table, hide_index=True, width="stretch")


def push_panel(run: Any) -> None:
    """Push the finished run (model or adapter) to the Hub with its generated model card, in a worker thread."""
    from studio.data import hub
    from studio.evaluate import card
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
            st.code(publish.model_card(run, card.section(run.model_spec)), language="markdown")
        key = f"train.push.task.{run.id}"
        task: Task | None = st.session_state.get(key)
        if st.button("Push", key=f"train.push.go.{run.id}", disabled=task is not None and not task.done):
            try:
                repo_id = hub.check_repo_id(repo, kind="model")
                hub.require_token(token)
            except StudioError as exc:
                ui.show_error(exc)
            else:
                st.session_state[key] = task = Task(f"Pushing to {repo_id}", _push, run, repo_id, token, private).start()
        if task is not None:
            _push_status(key)


def _push(run: runs.RunInfo, repo_id: str, token: str | None, private: bool) -> str:
    """The push task's work: the card's evaluation section is looked up here, in the worker thread."""
    from studio.evaluate import card
    from studio.train import publish

    return publish.push_run(run.id, repo_id, token, private, evaluation=card.section(run.model_spec))


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


@st.fragment(run_every=1.0)
def _merging() -> None:
    """The merge's wait line until it ends, then the whole page once: the merged folder, or why it failed (the
    line stayed "Merging…" after the merge had finished, until something else reran the page)."""
    task: Task | None = st.session_state.get("train.merge_task")
    if task is None or task.done:
        st.rerun()
    st.info("Merging the adapter into its base…", icon=":material/hourglass_top:")


def merge_panel(run: Any) -> None:
    """A LoRA run: merge its adapter into a full model (for export and serving), in a worker thread."""
    from studio.models import adapters
    from studio.train import lora

    if not adapters.is_adapter(run.dir / "model"):
        return
    task: Task | None = st.session_state.get("train.merge_task")
    merged = run.dir / adapters.MERGED
    if adapters.is_complete_model(merged):
        st.caption(f"Merged into a full model: `{merged}` (serve it with `transformers serve {merged}`).")
    elif task is not None and not task.done:
        _merging()
    elif st.button("Merge the adapter into a full model", key="train.merge", icon=":material/merge:",
                   help="Writes the base with the adapter applied into the run's merged/ folder."):
        st.session_state["train.merge_task"] = Task("Merging", lora.merge, run.dir).start()
        st.rerun()
    if task is not None and task.done and task.error:
        ui.show_error(task.error)
