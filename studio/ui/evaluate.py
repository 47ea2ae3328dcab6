"""The Evaluate page's widgets: follow the background job and explore results (the New evaluation form is
``studio.ui.evaluate_form``).

Record text (questions, references, answers) is always escaped before it reaches HTML; the only
markup added is ``<mark>`` around words that differ from the reference.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from studio import config as workspace
from studio import device, jobs, ui
from studio.data.display import plural
from studio.errors import StudioError
from studio.evaluate import job as eval_jobs
from studio.evaluate import latency, leakage, metrics, report, stopping
from studio.evaluate import plots as eval_plots
from studio.evaluate import results as eval_results
from studio.evaluate import runner as evaluate
from studio.evaluate.result import EvalResult, QuestionRow
from studio.ui import evaluate_form, numbers, popovers, run_or_error, streamlit_internals
from studio.ui.pages import EVALUATE

PAGE_SIZE = 20
RESULTS_EVERY_S = 2.0  # how often a running evaluation's summary, plots and tabs are drawn again
DELETE_POPOVER = "evaluate.delete_popover"  # whether "Delete this evaluation" is open (closed after a delete)


def init() -> None:
    for key, value in {"evaluate.selected": None, "evaluate.shown": None}.items():
        if key not in st.session_state:
            st.session_state[key] = value


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
    answered = [r for r in partial.rows if r.answers or r.errors] if partial is not None else []
    if answered:  # answers as they come, newest last
        with st.expander(f"Answers so far ({plural(len(answered), 'question')})", expanded=True):
            st.html(report.answers_table(partial, answered[-8:]))
    else:  # said here, where it is drawn again: a line outside the panel stayed under the answers that came
        st.info("No answers yet.")
    if st.button("Stop", icon=":material/stop:", key=f"evaluate.stop.{eval_id}", disabled=status.state == "stopping"):
        eval_jobs.stop_evaluation(eval_id)
        st.toast("Stopping: the answer being written is dropped, the answers so far are kept.")


def _counts(summary: dict[str, float]) -> str:
    """"3 answered, 1 failed", and ", 2 stopped" where Stop came before some of the model's answers."""
    text = f"{int(summary.get('answered', 0))} answered, {int(summary.get('failed', 0))} failed"
    return text + (f", {int(summary['stopped'])} stopped" if summary.get("stopped") else "")


# --- results ----------------------------------------------------------------------------------

def _summary_frame(summary: dict, failed: dict[str, str]) -> pd.DataFrame:
    """One row per metric, how to read it beside it, then the counts of questions; one column per model. Means to 3
    significant digits; a model that failed every question reads "failed", not None.

    Models across, metrics down: with a column per metric (up to eleven with the counts) the table was cut at 800 px
    after chrF, and after Judge at 1280 px; a model's column is a fair share of the width, its name wrapping in the
    header, and the metrics it was scored on are all in sight."""
    cols = [m for m in metrics.METRICS if any(m in s for s in summary.values())]
    rows = {metrics.LABELS[m]: {READS: metrics.reading(m),
                                **{label: "failed" if label in failed else _cell(s.get(m)) for label, s in summary.items()}}
            for m in cols}
    for c in report.counts_shown(summary):  # "stopped" where Stop came before some answer: not a failure
        rows[c] = {READS: "questions", **{label: f"{int(s.get(c, 0)):,}" for label, s in summary.items()}}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "metric"
    return frame


READS = "how to read"
"""The summary's column that says how to read each row: a metric's range and which way is better (the metrics
registry), "questions" for a count."""


SUMMARY_CSS = ("<style>.st-key-evaluate-summary table p, .st-key-evaluate-compare table p "
               "{overflow-wrap: anywhere !important}</style>")
"""A model's name breaks where it must in its header: a run or Hub id of 80 characters with no space in it widened its
column past the page's edge. Important: Streamlit's own rule for a table cell's text sets it to normal, two classes
deep."""


def _comparison_frame(rows: list[dict]) -> pd.DataFrame:
    """The compared evaluations as the Summary reads: one column per evaluation and model (its header "<id> · <model>",
    as in the chart's legend), its start, questions, means and counts down. A row per model and a column per field
    (up to thirteen) scrolled sideways at 800 px, the counts out of sight; every number is in sight now."""
    frame = pd.DataFrame({f"{r['evaluation']} · {r['model']}": {k: v for k, v in r.items() if k not in ("evaluation", "model")}
                          for r in rows})
    if not any(r["stopped"] != "0" for r in rows):  # as in the Summary: only where Stop came before some answer
        frame = frame.drop(index="stopped")
    return frame


def _cell(value: float | None) -> str:
    """A mean as the tables show it; a metric this model has no value for reads "—" (its column's help says why)."""
    return metrics.MISSING if value is None else metrics.fmt(value)


def _metric_columns(frame: pd.DataFrame) -> dict[str, Any]:
    """Each metric column's help: its range, which way is better, and why a cell may be "—" (the metrics registry)."""
    return {metrics.LABELS[m]: st.column_config.Column(help=metrics.column_help(m))
            for m in metrics.METRICS if metrics.LABELS[m] in frame.columns}


MODEL_WIDTH = "medium"
"""The model column's width in the tables: a longer name (a run or a Hub id of 80 characters) is cut short there, its
full name a double-click away (the chart's legend below gives each in full), where it pushed the metrics and counts
beside it off the page."""


def _table(frame: pd.DataFrame) -> None:
    """A table of models and their scores: each metric column with its help, the model column of a set width (pinned,
    so it stays while the rest scrolls)."""
    config = _metric_columns(frame)
    if "model" in frame.columns:
        config["model"] = st.column_config.TextColumn(width=MODEL_WIDTH, pinned=True,
                                                      help="A name cut short here: double-click it to read it whole.")
    st.dataframe(frame, hide_index=True, width="stretch", column_config=config)


SYSTEM_HELP = ("Set under New evaluation, Settings. A chat model is asked with it first; a trained run is asked as it "
               "was trained, with none; a model without a chat template gets a plain prompt, which has no place for it.")


def show_result(result: EvalResult) -> None:
    # What this evaluation says of itself (its end, each model that failed, notes), in one container: the summary,
    # the toggle and the tabs below keep their place in the page whichever evaluation is picked, and when one ends
    # (the tab a person chose, moved by a line above it, was drawn anew on the first).
    with st.container():
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
        if result.models:  # which system prompt each model was asked with (a trained run: none)
            system = eval_results.describe_system(result)
            st.caption(ui.md(system[0].upper() + system[1:]), help=SYSTEM_HELP)
    rows = result.rows
    if not any(r.answers or r.errors for r in rows):  # questions read, none answered: no table of zeros, no empty axes
        if not eval_jobs.job_state(result.id).active:  # while it runs, the progress panel says it, and then the answers
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
    with st.container():  # the toggle, or the line that every question leaked, or neither: in one place
        if leaked and leaked < len(rows):
            exclude = st.toggle(f"Exclude the {plural(leaked, 'leaked question')} from the summary",
                                key=f"evaluate.exclude.{result.id}")
        if leaked and leaked == len(rows):
            st.caption(eval_results.ALL_LEAKED.format(n=leaked))
    summary = eval_results.summarize(result, exclude_leaked=exclude)
    st.subheader("Summary")
    frame = _summary_frame(summary, failed)
    with st.container(key="evaluate-summary"):
        st.html(SUMMARY_CSS)
        st.table(frame)
    with st.container():  # what the table needs said under it: the chart and the tabs below keep their place
        if "stopped" in frame.index:
            st.caption(eval_results.STOPPED_HELP[0].upper() + eval_results.STOPPED_HELP[1:])
        for m in metrics.METRICS:  # an empty cell with a reason (perplexity of an API model) says it under the table too
            if metrics.absent(m) and metrics.LABELS[m] in frame.index and (frame.loc[metrics.LABELS[m]].drop(READS) == metrics.MISSING).any():
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
            # each model's box the tab's width: in thirds of an 800 px window they read "Soccer rules (sar" and
            # "SmolLM2-135M-I", and two runs of one dataset could not be told apart
            first, _ = report.pair(result, labels)  # the pair the HTML report plots
            a = st.selectbox("Model", labels, index=labels.index(first), key="evaluate.wtl_a")
            b = st.selectbox("against", [m for m in labels if m != a], key="evaluate.wtl_b")
            # only what both models were scored on: no judge, no "on Judge"
            offered = eval_results.scored(result, ["f1", "rouge_l", "chrf", "exact_match", "judge"], (a, b))
            metric = st.selectbox("on", offered, format_func=metrics.LABELS.get, key="evaluate.wtl_metric", width=240)
            st.caption(ui.md(report.pair_note(result, a, b)))
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
    with st.container():  # there or not by the filter: the question details below keep their place in the page
        # as wide as its label needs (fit): it took the page's width, 820 px at 1280 for a box holding "2"
        page = numbers.page_box(st, "evaluate.page_no", pages, fit=True) if pages > 1 else 1  # one not there: said
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
                         if judged else {}),
                      **({"note": pick.notes.get(label, "")} if pick.notes else {})})  # its question cut to the context
    frame = pd.DataFrame(table)
    _table(frame)


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
    # Each made when pressed: a file handed over at every run sat in Streamlit's media store, at a /media address anyone
    # holding it could fetch, for as long as the page showed it (docs/cloud.md, Downloads)
    pressed = streamlit_internals.made_when_pressed
    c1.download_button("CSV", pressed(lambda: report.to_csv(result)), f"{name}.csv", "text/csv", on_click="ignore",
                       icon=":material/table:", key="evaluate.dl_csv")
    c2.download_button("JSON", pressed(lambda: report.to_json(result)), f"{name}.json", "application/json", on_click="ignore",
                       icon=":material/data_object:", key="evaluate.dl_json")
    # on a thread of Streamlit's, which has no visitor on a public app: bound to this one's
    c3.download_button("HTML report", pressed(workspace.bound(lambda: report.to_html(result, evaluate.run_curves(result)))),
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
                          format_func=lambda i: eval_results.picker_label(by_id[i], i in running))
    st.session_state["evaluate.shown"] = chosen
    st.session_state["evaluate.selected"] = chosen
    info = by_id[chosen]
    others = {i: ", ".join(by_id[i].models) for i in running if i != chosen}
    # In a container of its own, there or not: the comparison and Delete below keep their place in the page when another
    # evaluation is picked or one ends (an open panel moved by it was drawn anew, closed).
    with st.container():
        if others:  # the one just started is shown: the others go on, and are one pick away
            _also_running(others)
    # the models in full: the picker cuts a long one in its middle to read whole in a narrow window
    models = f"models: {ui.md(', '.join(info.models))}"
    if eval_jobs.job_state(chosen).active:  # one status: the progress bar below counts the answers
        st.caption(f"Status: **running** · {chosen} · started {jobs.readable_time(info.created)} · {models}")  # drawn once: the questions are said below
    else:
        # an evaluation in which every model failed ended ("finished"), and scored nothing: not read as a success
        nothing = info.status == "finished" and bool(info.summary) and all(
            not s.get("answered") and s.get("failed") for s in info.summary.values())
        status = "finished, every model failed" if nothing else info.status
        st.caption(f"Status: **{status}** · {chosen} · started {jobs.readable_time(info.created)} · {models} · questions: "
                   f"{ui.md(info.dataset or '-')} · {plural(info.questions, 'question')}")
    if len(evals) > 1:  # one evaluation alone has nothing to be compared with
        _comparison(evals, ids)
    # Apart from the comparison, whose "Evaluations" it does not delete, and asked twice: nothing else keeps the answers.
    with popovers.popover(st, "Delete this evaluation", DELETE_POPOVER, icon=":material/delete:"):
        st.write(f"Delete evaluation **{chosen}** ({ui.md(', '.join(info.models))}) for good? Its answers and scores "
                 "are kept nowhere else: export it first (Export, below) to keep a copy.")
        if st.button("Delete for good", type="primary", key="evaluate.delete"):
            if eval_jobs.job_state(chosen).active:
                st.error("This evaluation is still running: stop it first.")
            else:
                eval_results.delete(chosen)
                st.session_state["evaluate.selected"] = None
                popovers.close(DELETE_POPOVER)
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
        newest = (eval_results.ended(evals) or evals)[0].id  # one running is compared once it ended
        if st.session_state.get("evaluate.compare.newest") != newest:  # first shown, or a newer one since: it first
            st.session_state["evaluate.compare"] = default
            st.session_state["evaluate.compare.newest"] = newest
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
                rows.append({"evaluation": i, "model": label, "started": jobs.readable_time(by_id[i].created),
                             "questions": by_id[i].dataset, **{metrics.LABELS[m]: _cell(s.get(m)) for m in compared},
                             # a stopped evaluation's means are over fewer questions than a finished one's
                             **{c: f"{int(s.get(c, 0)):,}" for c in ("answered", "failed", "stopped")}})
        if rows:
            with st.container(key="evaluate-compare"):
                st.html(SUMMARY_CSS)
                st.table(_comparison_frame(rows))
            merged = {f"{r['evaluation']} · {r['model']}": by_id[r["evaluation"]].summary[r["model"]] for r in rows}
            st.plotly_chart(eval_plots.summary_bars(merged, ("exact_match", "f1", "rouge_l", "chrf")), width="stretch",
                            key="evaluate.compare_bars")


def render() -> None:
    init()
    st.title(EVALUATE.title)
    caps = device.capabilities()
    if caps.api_only:  # nothing trains here: the question a fine-tuned model answers is asked where it trains
        where = "a studio of your own" if caps.public else "the full install"
        st.caption("Which API model answers your questions best, and where does it miss? Answer a dataset's questions "
                   "(every one or a seeded sample) with several API models, score their answers against the dataset's "
                   f"and read them side by side. Held-out questions, and a model before and after training, need {where}.")
    else:
        st.caption("Did training make the model better, and where? Answer held-out questions with several models, "
                   "score them against the references and read the answers side by side.")
    has_evals = bool(eval_results.list_evals())
    with st.expander("New evaluation", expanded=not has_evals, icon=":material/add:"):
        evaluate_form.new_evaluation_form()
    running = running_ids()
    if running and st.session_state.get("evaluate.selected") is None:
        st.session_state["evaluate.selected"] = running[0]  # re-attach to a job started before a reload
    st.subheader("Results")
    chosen = past_evaluations()
    if not chosen:
        return
    job = eval_jobs.job_state(chosen)
    with st.container():  # gone when the job ends: the results below keep their place (their tab stays open)
        if job.active:
            progress_panel(chosen)
    # While it runs, the summary, plots and tabs follow the answers as they come (drawn once, they showed the answers
    # of the page's last run until the end), in a fragment of their own: not the whole page every tick. Whether it
    # ticks or not, the same fragment: when the job ends, the results keep their place and their tab.
    st.fragment(run_every=RESULTS_EVERY_S if job.active else None)(results_panel)(chosen)


def results_panel(eval_id: str) -> None:
    """The evaluation's results as saved now (a running one's partial result, which the worker saves about once a
    second); when the job ends, the progress panel draws the whole page again."""
    result = run_or_error(eval_results.load, eval_id)
    if result:
        show_result(result)
