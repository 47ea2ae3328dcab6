"""The Train page's run view: the live run (progress, curves, log, Stop), asking the trained model,
and a finished run's Hub push and merge panels.

The run is a background job (``studio.jobs``): a fragment rerunning every second reads its folder back.
Questions to a model are answered in a worker thread; models are loaded once per process through
``ui.model_cache()``, the one cache Chat uses too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from studio import config, jobs, ui
from studio.chat.base import EMPTY_ANSWER, blank, cut_note
from studio.data import store
from studio.data.display import plural, text_block
from studio.errors import CancelledError, StudioError
from studio.tasks import Task
from studio.train import job, memory, runs
from studio.train import plots as train_plots
from studio.ui import export as export_ui
from studio.ui import models as models_ui

# --- models for asking: loaded once per process ------------------------------------------------------

ASK_NEW_TOKENS = 96  # the ask panel's answer length at first: a sentence or two, quick on a CPU


class AskTask(Task):
    """Answers of one or more models (spec -> a few words naming it) to a few questions, in a worker thread.

    Its progress says what it does: which model it loads (the first load takes a while on a CPU), which question
    of how many it answers. Stop ends it at once for the page (a load under way finishes in the thread and the
    model stays loaded in the process's one cache); the answering stops before the next question."""

    def __init__(self, label: str, models: dict[str, str], questions: list[str], cache: Any = None,
                 max_new_tokens: int = ASK_NEW_TOKENS):
        super().__init__(label)
        self.models, self.questions, self.max_new_tokens = models, questions, max_new_tokens
        self.cut_at: dict[str, list[int | None]] = {}  # spec -> per answer, the new tokens it was cut at (or None)
        self.started = time.monotonic()
        self.ended: float | None = None
        self._cache = cache

    def work(self) -> dict[str, list[str]]:
        from studio.models import generate
        from studio.models.cache import model_lock

        cache = self._cache or ui.model_cache()
        n, out = len(self.questions), {}
        total = n * len(self.models)
        try:
            for k, (spec, name) in enumerate(self.models.items()):
                self.report(k * n, total, f"loading {name}")
                lm = cache.get(spec)
                if self.stop.is_set():
                    raise CancelledError("Stopped.")
                self.report(k * n, total, f"{name}: answering question 1 of {n}")

                def progress(done: int, _: int, k: int = k, name: str = name) -> None:
                    if done < n:
                        self.report(k * n + done, total, f"{name}: answering question {done + 1} of {n}")

                cuts: list[int | None] = []
                with model_lock(lm.model):
                    out[spec] = generate.generate_answers(lm, self.questions, max_new_tokens=self.max_new_tokens,
                                                          batch_size=1, progress=progress, cancel=self.stop.is_set,
                                                          cut_at=cuts)
                self.cut_at[spec] = cuts
            return out
        except CancelledError:
            raise CancelledError("Stopped.") from None
        finally:
            self.ended = self.ended or time.monotonic()

    @property
    def done(self) -> bool:
        """Finished, or stopped: Stop frees the page at once, even while a model is still loading."""
        return super().done or self.stop.is_set()

    def cancel(self) -> None:
        super().cancel()
        self.ended = self.ended or time.monotonic()  # "Stopped after 12 s" stays 12 s while a load goes on

    def elapsed(self) -> float:
        return (self.ended or time.monotonic()) - self.started


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
    if isinstance(tps, (int, float)) and tps and "tokens/s" not in message:  # a number, as the worker writes it
        parts.append(f"{tps:,.0f} tokens/s")
    if s.active and s.state != "stopping":  # stopping ends after the current step, not after the run's steps
        parts.append(f"ETA {fmt_eta(s.eta_s)}")
    return " · ".join(parts)


def stopping_line(s: jobs.JobStatus) -> str:
    """What a stopping run does next, in place of its Stop button: the job's own words (``jobs.request_stop``)."""
    message = s.message if s.message.startswith("stopping ") else "stopping after the current step"
    if message == "stopping after the current step":
        message += ": a checkpoint is saved then, to resume from"
    # the wait is a step's, or the model's load when it stops before its first step: "A step can take..." was wrong there
    wait = "The load" if "loaded" in message else "A step"
    return f"{message[:1].upper()}{message[1:]}. {wait} can take a minute or more on a CPU; the page says when it has stopped."


@st.fragment(run_every=1)
def live(run_id: str) -> None:
    """Status, progress, curves and logs of a run, re-read from its folder every second."""
    try:
        run = runs.load_run(run_id)
    except StudioError:
        if not runs.run_dir(run_id).is_dir():  # deleted (another tab, `runs delete`): it said "Starting… (none)"
            st.session_state["train.run_id"] = None
            st.session_state["train.gone"] = (f"The run {run_id} is no longer in the workspace (deleted: it is in "
                                              f"{config.home() / 'trash'}). Start another, or open one on the Runs tab.")
            st.rerun(scope="app")
        status = jobs.read_status(runs.run_dir(run_id))
        with st.container():  # the same places as below: the Log expander stays open when the run's lines appear
            st.info(f"Starting… ({ui.md(status.message or status.state)})")
            if status.state == "failed":
                ui.show_error(status.error)  # it may quote the base typed, as typed
        st.empty()  # where Stop and Resume go
        _log(runs.run_dir(run_id))
        return
    s = run.status
    # The lines that come and go (the state's line, the curves once the first step is logged) in one container: the
    # buttons and the Log expander below keep their places. The curves' arrival moved them down a place, and the
    # browser drew them anew: an open Log closed, and a Stop clicked as the first step was logged was lost.
    with st.container():
        st.subheader(f"Run: {ui.md(run.name)}")
        # A resumed run's status starts at 0 while its model reloads: where it stopped until its first new step.
        resumed = s.extra.get("resumed_progress")
        shown = s.progress or (resumed if isinstance(resumed, (int, float)) else 0.0)
        st.progress(min(max(shown, 0.0), 1.0), text=progress_text(s))
        first_use = models_ui.first_use_line(run.base) if s.active and s.message.startswith("loading") else ""
        if first_use:  # the bundled model's import: a minute at "loading model:smollm2-135m-instruct" with no why
            st.caption(first_use)
        if s.state == "failed":
            ui.show_error(f"Training failed: {s.error}")
        elif s.state == "stopped":
            if runs.last_checkpoint(run.dir) is None:  # stopped before its first step
                st.info("Stopped before its first step: nothing was trained. Start another run below when ready.")
            else:
                st.info("Stopped. Its last checkpoint is kept: resume to continue from there.")
        elif s.state == "finished":
            done = s.message.removeprefix("finished: ")
            st.success(f"Finished: {done}. The model is in {run.dir / 'model'}.")
            kept = runs.checkpoint_bytes(run.dir)
            if kept:
                st.caption(f"The run folder also keeps its last checkpoint ({kept / 2**20:,.1f} MB) for resuming: drop "
                           f"it on the Runs tab, or `python -m studio runs drop-checkpoints {run.id}`.")
        rows = run.metrics()
        if rows:
            st.plotly_chart(train_plots.loss_curves(rows), width="stretch", key="train.curve")
        elif s.active:  # the curves' room, kept from the start: Stop moved down under the pointer at the first step
            with st.container(height=train_plots.CURVES_HEIGHT, border=False, key="train.curve_room"):
                st.caption("The loss curve appears here once the first step is logged.")
    loading = s.state == "queued" or s.message.startswith("loading")  # its model, before this session's first step
    first = ("Stops once the model has loaded, before its first new step: the run stays at its last checkpoint."
             if resumed else "Stops once the base has loaded, before its first step: nothing is trained.")
    # a stopping run: what happens now in Stop's place, not a second Stop (a step can take a minute); the page's width,
    # not half of it: in a column the line ran to eight lines at 800 px wide
    stop = st.empty()
    if s.state == "stopping":
        stop.info(stopping_line(s), icon=":material/hourglass_top:")
    elif s.active and stop.button("Stop", key="train.stop", icon=":material/stop:",
                                  help=first if loading else "Stops after the current step and keeps a checkpoint."):
        stop.info(stopping_line(jobs.request_stop(run.dir)), icon=":material/hourglass_top:")
    if s.state in ("stopped", "failed") and runs.last_checkpoint(run.dir) is not None:
        if st.button("Resume", key="train.resume", icon=":material/play_arrow:",
                     help="Continue from the last checkpoint with the same settings."):
            if ui.run_or_error(job.resume_training, run.dir, run.name) is not None:
                st.session_state.pop("train.ended", None)  # its next end redraws the page, even if it ends as before
                # the whole page, not this fragment: what the page draws for a stopped run stayed under a running one
                st.rerun(scope="app")
    _log(run.dir)
    # The ask panel is drawn by the full page: rerun it once when the run reaches an end state. Forgotten while it
    # runs again: a resumed run stopped a second time ended in "stopped" again, the page was not redrawn, and it
    # offered nothing a stopped run has (the ask panel's hand-offs...) until the next click.
    if s.active:
        st.session_state.pop("train.ended", None)
    if s.state in jobs.DONE and st.session_state.get("train.ended") != (run_id, s.state):
        st.session_state["train.ended"] = (run_id, s.state)
        st.rerun()


def _log(folder: Path) -> None:
    with st.expander("Log"):
        st.code(jobs.tail_log(folder, 30) or "(no output yet)", language=None)


def hand_offs(run: runs.RunInfo) -> None:
    """This run, one click from the Chat page (picked there, chatting as it was trained) and the Evaluate page (it
    and its base chosen, on its held-out questions); the Evaluate page alone chose the newest run, not this one."""
    # as wide as their labels: in a fifth of an 800 px window each read "Ch…" and "Ev…"
    c1 = c2 = st.container(horizontal=True)
    if c1.button("Chat with it", key="train.chat_with", icon=":material/chat:"):
        from studio.ui import models as models_ui

        models_ui.chat_with(run.model_spec)
    if c2.button("Evaluate it", key="train.evaluate_it", icon=":material/fact_check:"):
        from studio.ui import evaluate_form

        evaluate_form.hand_off(run)


@dataclass
class AskOp:
    """The ask panel's one operation in flight or shown (session key ``train.ask``)."""

    task: AskTask  # answers by model spec: {spec: [answer per question]}
    kind: str  # "ask" (one typed question) or "compare" (a few held-out questions, a table)
    questions: list[str]
    drawn: bool = True  # False while running: the page is redrawn once when it ends
    references: list[str] | None = None  # the records' own answers to the questions (compare), where they have one


def _sample_questions(run: runs.RunInfo) -> tuple[list[str], list[str], bool, str | None]:
    """Up to three of the run's questions (held-out ones where it held some out), their records' answers, whether
    they were held out, and why there are none when its dataset cannot be read (moved or deleted since), else None."""
    ref = run.dataset_ref
    try:
        records, _ = ref.load()
        split = run.split
        picked = (split["test"] or split["train"])[:3]
        return ([records[i]["question"] for i in picked], [str(records[i].get("answer") or "") for i in picked],
                bool(split["test"]), None)
    except StudioError as exc:
        if ref.file and not Path(ref.file).is_file():
            why = f"its dataset file {ref.file} is no longer there: put it back, or ask your own question above"
        elif not ref.file and ref.id and store.find_dataset(ref.id) is None:
            why = (f"its dataset {ref.label!r} was deleted, and its held-out questions with it: ask your own "
                   "question above, or Evaluate it on another dataset")
        elif not ref.source:
            why = "the run records no dataset to take questions from: ask your own question above"
        else:
            why = f"{str(exc).rstrip('.')}. Ask your own question above"
        return [], [], False, f"No Compare base and trained: {why}."
    except (IndexError, KeyError):
        return [], [], False, None


def ask_panel(run_id: str) -> None:
    """An ask box and the base's vs the trained model's answers to a few held-out questions."""
    try:
        run = runs.load_run(run_id)
    except StudioError:
        return  # the worker has not written run.json yet
    if not run.has_model or run.status.active:
        return
    with st.container():  # its button, its wait line, the merged folder, or why it failed: Push and Export keep their places
        merge_panel(run)
    push_panel(run)
    export_ui.export_panel(run.model_spec, run.name, "train")
    hand_offs(run)
    st.subheader("Ask the model")
    dev = memory.device_memory()
    cache = ui.model_cache()
    c1, c2 = st.columns([3, 1.4])  # Release models read "Release mo…" in a quarter of an 800 px window
    c1.caption(f"Loaded models: {len(cache.loaded())} · {dev.name}: {memory.fmt_bytes(dev.free)} free of "
               f"{memory.fmt_bytes(dev.total)}." + ui.loads_line())
    if c2.button("Release models", key="train.release", help="Free the memory held by models loaded for asking."):
        cache.unload()
    op: AskOp | None = st.session_state.get("train.ask")
    busy = op is not None and not op.task.done
    if cache.loading() and not busy:  # a load going on after Stop: counted when it ends
        ui.rerun_when_loaded()
    trained = {run.model_spec: "the trained model"}
    new_tokens = int(ui.kept(  # kept through a visit to another page, as Chat's Max new tokens is
        st.number_input, "Max new tokens", "train.max_new_tokens", ASK_NEW_TOKENS, min_value=1, max_value=4096, step=32,
        disabled=busy, help="Answer length at most, in tokens, for Ask and Compare: an answer cut here says so."))
    with st.form("train.ask_form", border=False):
        q = st.text_input("Question", max_chars=ui.LONG_TEXT_CHARS, key="train.question", disabled=busy)
        if st.form_submit_button("Ask", disabled=busy) and q.strip():
            task = AskTask("Asking", trained, [q.strip()], max_new_tokens=new_tokens).start()
            st.session_state["train.ask"] = AskOp(task, "ask", [q.strip()])
    questions, answers, held_out, unread = _sample_questions(run)
    if unread:
        st.caption(f":material/info: {ui.md(unread)}")
    if questions:
        label, n, n_test = "held-out" if held_out else "training", len(questions), len(run.split["test"])
        which = ("The only record" if n_test == 1 else f"The {n_test:,} records" if n == n_test  # "the first 1 of the 1"
                 else f"The first {n} of the {n_test:,} records")
        st.caption(f"{which} held out from training (the model never saw {'it' if n_test == 1 else 'them'}), each "
                   "with its answer from the dataset." if held_out else
                   f"This run held no records out: {'this question is' if n == 1 else f'these {n} questions are'} "
                   "from its training records, so the trained model saw their answers (the dataset's answer is shown "
                   "beside them).")
        models = {run.base: f"the base ({run.base})", **trained} if run.base != "scratch" else trained
        asked = plural(n, f"{label} question")
        title = f"Compare base and trained on {asked}" if run.base != "scratch" else f"Answer {asked}"
        if st.button(title, disabled=busy, key="train.compare"):
            task = AskTask("Comparing" if len(models) > 1 else "Answering", models, questions,
                           max_new_tokens=new_tokens).start()
            st.session_state["train.ask"] = AskOp(task, "compare", questions, references=answers)
    _task_result(run)


@st.fragment(run_every=0.5)
def _task_result(run: runs.RunInfo) -> None:
    op: AskOp | None = st.session_state.get("train.ask")
    if op is None:
        return
    task = op.task
    if not task.done:
        doing = task.progress.message or "starting"
        hint = " (loading a model the first time takes a moment)" if doing.startswith("loading") else ""
        st.caption(f":material/hourglass_top: {task.label}: {ui.md(doing)}{hint} · {task.elapsed():.0f} s so far.")
        if st.button("Stop", key="train.ask_stop", icon=":material/stop:",
                     help="Stops before the next question; a model still loading finishes loading and stays loaded."):
            task.cancel()
            st.rerun(scope="app")  # the whole panel free at once: Ask and Compare enabled, "Stopped" said
        op.drawn = False
        return
    if not op.drawn:  # just finished: redraw the page once, so "Loaded models" counts the model it loaded
        op.drawn = True
        st.rerun(scope="app")
    if task.stop.is_set():
        st.info(f"Stopped after {task.elapsed():.0f} s: no answers.", icon=":material/stop_circle:")
        return
    if task.error:
        ui.show_error(task.error)
        return
    if op.kind == "ask":  # model output: literal text, never Markdown
        answer = task.result[run.model_spec][0]
        if blank(answer):
            st.markdown(f"**Answer:** the model {EMPTY_ANSWER}.")
        else:
            st.markdown(text_block(answer, "<b>Answer:</b> "), unsafe_allow_html=True)
        if cut := (task.cut_at.get(run.model_spec) or [None])[0]:  # it ends mid-sentence: said, as Chat says it
            st.caption(f":material/content_cut: {cut_note(cut)}")
        return
    table, blanks = [], {}
    for i, q in enumerate(op.questions):
        row = {"question": q}
        if op.references and any(op.references):
            row["dataset's answer"] = op.references[i]
        for spec, answers in task.result.items():
            column = "trained" if spec == run.model_spec else f"base ({spec})"
            row[column] = "(only whitespace)" if blank(answers[i]) else answers[i]
            blanks[column] = blanks.get(column, 0) + blank(answers[i])
        table.append(row)
    st.dataframe(table, hide_index=True, width="stretch")
    for column, n in blanks.items():
        if n:
            who = "The trained model" if column == "trained" else "The base"
            st.caption(f"{who} {EMPTY_ANSWER} ({n} of {len(op.questions)} questions).")
    for spec, cuts in task.cut_at.items():
        if cut := max((c for c in cuts if c), default=None):
            who = "The trained model" if spec == run.model_spec else "The base"
            note = cut_note(cut)
            st.caption(f":material/content_cut: {who} ({sum(bool(c) for c in cuts)} of {plural(len(cuts), 'answer')}): "
                       f"{note[:1].lower()}{note[1:]}")
    st.caption(f"Answered in {task.elapsed():.0f} s.")


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
        repo = st.text_input("Hub model id", placeholder="your-name/smollm2-soccer", max_chars=ui.SHORT_TEXT_CHARS, key=f"train.push.repo.{run.id}")
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
