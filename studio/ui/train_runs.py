"""The Train page's runs: the list (with each run's training time across resumes), finding and opening a
finished run, renaming, deleting, and dropping the checkpoints a finished run no longer needs.

Session state: ``train.run_id`` is the run shown on the New run tab; ``train.tab`` the selected tab
(``open_run`` switches to New run on the next rerun through ``train.goto_tab``).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from studio import jobs, ui
from studio.data.ref import DatasetRef
from studio.train import plots as train_plots
from studio.train import runs
from studio.ui.narrow_table import narrow_table_css

TAB = "train.tab"
TABS = ("New run", "Runs")
_GOTO = "train.goto_tab"
RUNS_KEY = "train-runs"  # the runs table's container, which its narrow-column style is scoped to
FAILED_COLUMN = "why it failed"


def apply_tab_request() -> None:
    """Before the tabs are drawn: show the tab asked for by the last click."""
    label = st.session_state.pop(_GOTO, None)
    if label:
        st.session_state[TAB] = label


def open_run(run_id: str | None) -> None:
    """Show ``run_id`` on the New run tab (None: the form alone) and go there."""
    st.session_state["train.run_id"] = run_id
    st.session_state["train.ask"] = None
    st.session_state[_GOTO] = TABS[0]
    st.rerun()


def took(run: runs.RunInfo) -> str:
    """The training time across every start and resume (``15m02s, 2 sessions``); none for a run that trained nothing
    (its seconds were the base's load)."""
    if runs.trained_nothing(run):
        return ""
    seconds, sessions = runs.training_time(run.dir)
    return f"{runs.fmt_duration(seconds)}" + (f", {sessions} sessions" if sessions > 1 else "") if sessions else ""


def latest_run_offer() -> None:
    """Above the form, when no run is open: the latest runs that ended, one click from their view."""
    ended = [r for r in runs.list_runs() if not r.status.active][:3]
    if not ended:
        return
    st.caption("Your latest runs (all of them are on the Runs tab):")
    for r in ended:
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        c1.markdown(f"**{ui.md(r.name)}** · {runs.state_text(r)}" + (f" · {took(r)}" if took(r) else "")
                    + f" · {ui.md(r.dataset.get('name') or '')}")
        if c2.button("Open", key=f"train.open_latest.{r.id}", help="Its curves, log, answers, merge and push."):
            open_run(r.id)


def runs_table() -> None:
    """All runs: open one, compare curves and configs, rename, delete, drop checkpoints."""
    all_runs = runs.list_runs()
    if not all_runs:
        st.caption("No runs yet.")
        return
    failed = sum(1 for r in all_runs if r.status.state == "failed")
    # name and state first, the id (a 40-character folder name) last: first, at 800 px it took half the table and
    # pushed the state out of sight ("stop"). A static table whose cells wrap, a card per run in a narrow column
    # (studio.ui.narrow_table): in the data grid at 800 px the training time, why a run failed and its id were past the
    # column's edge, a sideways scroll away. Why it failed is a column only where a run failed.
    rows = [{"name": r.name, "state": runs.state_text(r), "base": r.base,
             "dataset": DatasetRef.from_dict(r.dataset).label if r.dataset else "",
             "created": jobs.readable_time(r.created), "training time": took(r)}
            | ({FAILED_COLUMN: r.status.error or ""} if failed else {}) | {"id": r.id} for r in all_runs]
    with st.container(key=RUNS_KEY):
        st.html(narrow_table_css(RUNS_KEY, list(rows[0])))
        st.table(pd.DataFrame([{k: ui.md(v) for k, v in row.items()} for row in rows]), hide_index=True)
    st.caption(f"{len(all_runs):,} run{'s' if len(all_runs) != 1 else ''}"
               + (f", {failed:,} failed (delete them below)" if failed else "") + ".")
    st.markdown("**Open, rename or delete a run**")
    target = st.selectbox("Run", all_runs, format_func=lambda r: f"{r.name} ({runs.state_text(r)}, {r.id})",
                          key="train.manage_run")
    new = st.text_input("New name", value=target.name, max_chars=ui.SHORT_TEXT_CHARS, key=f"train.rename.{target.id}")
    # as wide as their labels, wrapping: in thirds of an 800 px window they read "Open on the New …" and "Delete
    # (moves to t…"
    c0 = c1 = c2 = st.container(horizontal=True)
    if c0.button("Open on the New run tab", key="train.open_btn", type="primary",
                 help="Watch it, resume it after a stop or crash, or ask it questions."):
        open_run(target.id)
    if c1.button("Rename", key="train.rename_btn") and ui.run_or_error(runs.rename_run, target.id, new):
        st.rerun()
    if c2.button("Delete (moves to trash)", key="train.delete_btn"):
        from studio.evaluate import results as eval_results

        if ui.run_or_error(runs.delete_run, target.id, eval_results.evaluations_using(target.id)):
            if st.session_state.get("train.run_id") == target.id:
                st.session_state["train.run_id"] = None
            st.rerun()
    kept = runs.checkpoint_bytes(target.dir)
    if kept and target.status.state == "finished":
        if st.button(f"Drop its checkpoints ({kept / 2**20:,.1f} MB)", key="train.drop_ckpt", icon=":material/delete_sweep:",
                     help="A finished run keeps its last checkpoint for resuming; its model stays without it."):
            freed = ui.run_or_error(runs.drop_checkpoints, target.id)
            if freed is not None:
                st.session_state["train.flash"] = f"Dropped {freed / 2**20:,.1f} MB of checkpoints from {ui.md(target.name)}."
                st.rerun()
    if st.session_state.get("train.flash"):
        st.success(st.session_state.pop("train.flash"), icon=":material/check_circle:")
    repeated = {n for n in (r.name for r in all_runs) if sum(r.name == n for r in all_runs) > 1}
    chosen = st.multiselect("Compare runs", all_runs, key="train.compare_runs",
                            format_func=lambda r: f"{r.name} ({r.id})" if r.name in repeated else r.name)
    if chosen:  # keyed by label: two runs of one name drew one curve (the second's)
        curves = {label: r.metrics() for label, r in zip(runs.distinct_labels(chosen), chosen)}
        st.plotly_chart(train_plots.loss_curves(curves), width="stretch")
        if len(chosen) > 1:
            diff = runs.compare_configs(chosen)
            st.dataframe(diff, hide_index=True, width="stretch") if diff else st.caption("Same settings.")
