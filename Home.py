"""Home: what is in the workspace, what the studio runs on, and where to go next."""

import functools
from pathlib import Path

import pandas as pd
import streamlit as st

from studio import config, device, jobs, ui
from studio.data import store
from studio.evaluate import results as eval_results
from studio.train import runs
from studio.ui import cloud, narrow_table, pages

ui.page_setup("Home")

dev = device.describe()
api_only = not dev.local_models  # API mode (the public app): nothing here trains or runs a local model
st.title("SLM Studio")
st.caption("Curate a Q&A dataset, chat with API models about it and score their answers on its questions."
           if api_only else
           "Curate a Q&A dataset, train a small language model on it, chat with it, and see whether it got better.")

# the number the Train page's Runs tab lists; none in API mode, where no run can be trained (nor its runs/ folder made
# for a public app's new visitor: an empty folder counted against their workspace's size)
n_runs = 0 if api_only else runs.count_runs()
evals = eval_results.tally()  # the one count: the metric and the line under the path agree
ram = None if dev.public else device.memory_mb()  # the public app's host: not what a visitor's work may use
token = ui.hf_token()
token_shown, token_line = ("configured" if token else "not set",
                           None if token else "No Hugging Face token: local work is unaffected. Add `HF_TOKEN` to secrets "
                           "or the environment, or type it on the Chat page, to push datasets and use hosted models.")
if config.tenancy():  # a visitor of the public app: no secrets to add; the sidebar takes their token
    token_shown, token_line = cloud.token_note()

def overview(restoring: bool) -> None:
    """The counts, what the studio runs on, what needs a look and the workspace's datasets; while a public app's restore
    still brings the visitor's workspace back, a line saying so (never "No datasets yet"), all drawn again as they come
    (the counts with the list: a count drawn apart stayed at what the page's first run saw), until it ended (then the
    whole page)."""
    line = cloud.restoring_line() if restoring else None
    if restoring and line is None:  # it ended: the sample below was drawn without what came
        st.rerun()
    listed = store.list_datasets()
    evals_now = eval_results.tally() if restoring else evals
    others = [f"{n} {what}" for n, what in ((evals_now.running, "running"), (evals_now.empty, "with no answer")) if n]
    # a row that wraps, each count as wide as it reads: five even columns cut "Evaluations", "not set" and "API only"
    # to "Evaluat…", "no…" and "API …" in an 800 px wide window
    counts = st.container(horizontal=True, gap="medium")
    metric = functools.partial(counts.metric, width="content")
    metric("Datasets", len(listed))
    if not api_only:  # no run can be trained here: a count of them pointed at work this install cannot do
        metric("Training runs", n_runs)
    metric("Evaluations", evals_now.with_answers, help="Evaluations with answers to open"
                      + (f"; the Evaluate page also lists {' and '.join(others)}." if others else "."))
    metric("Device", "GPU" if dev.gpus else ("CPU" if dev.local_models else "API only"),
                      help=f"System memory: {ram / 1024:.0f} GiB" if ram else None)
    metric("Hub token", token_shown)

    memory = f" · {ram / 1024:.0f} GiB system memory" if ram else ""
    where = ("private to you on this server; no other visitor sees it" if config.tenancy()
             else f"`{config.home()}` (set `STUDIO_HOME` to move it)")
    st.caption(f"{dev.summary}{memory}. Workspace: {where}.")
    if token_line:
        st.info(token_line, icon=":material/key:")
    # Files damaged outside the studio (cut off, edited by hand): the lists leave them out, so each is said here once.
    for damaged in store.damaged() + ([] if api_only else runs.damaged()) + eval_results.damaged():
        st.warning(ui.md(damaged), icon=":material/report:")

    running = frozenset(j.workdir for j in jobs.registered_jobs() if j.active)
    if running:  # their progress as it moves: a line drawn once said 10% and "running" after the end, until a reload
        st.fragment(run_every=2.0)(running_jobs)(running)

    st.subheader("Datasets")
    # one place, whatever this run draws in it: a run of the fragment drawing the line and the table where the last
    # drew the line alone wrote the table over the heading below it ("The path through the studio" was gone)
    box = st.container()
    if line:
        box.info(line, icon=":material/cloud_download:")
    if listed:
        box.dataframe(
            [{"name": d.name, "records": d.latest.count if d.latest else 0, "versions": len(d.versions),
              "last saved": jobs.readable_time(d.latest.created) if d.latest else ""}
             for d in listed],
            hide_index=True, width="stretch",
        )
    elif not line:
        box.write("No datasets yet: create or import one on the Dataset page.")
    if n_runs or evals_now.with_answers or evals_now.running or evals_now.empty:
        recent(api_only, evals_now)
        path()
    else:  # a new workspace: its next step (the path) before two lists with nothing in them
        path()
        recent(api_only, evals_now)


NEWEST = 5  # rows of Home's runs and evaluations: the newest, read alone (the pages list them all)
# Each column as wide as it reads and the start first: long names in columns as wide as they were scrolled "started" out
# of view in a 1024 or 800 px wide window; a name longer than its column ends in "…" (its page shows it whole).
STARTED = st.column_config.TextColumn("started", width=150)
STATE = st.column_config.TextColumn("state", width=75)
NAMED = st.column_config.TextColumn(width=220)  # a run's name: the last column, which also takes what is left
EVALUATIONS_KEY = "home-evaluations"


def recent(api_only: bool, evals: eval_results.Tally) -> None:
    """The newest training runs (not in API mode, where none can be trained) and evaluations, each list with a link to
    the page that lists them all: the counts above had nothing behind them on Home. A list with nothing in it is one
    line (a new workspace's next step is the path, drawn above them)."""
    if not api_only:
        shown = runs.newest_runs(NEWEST)
        if shown:
            st.subheader("Training runs")
            st.dataframe([{"started": jobs.readable_time(r.created), "state": r.status.state, "name": r.name}
                          for r in shown], hide_index=True, width="stretch",
                         column_config={"started": STARTED, "state": STATE, "name": NAMED})
            st.page_link(pages.TRAIN.path, label="Open the runs on the Train page", icon=":material/arrow_forward:")
        else:
            st.caption("**Training runs:** none yet. Launch one on the Train page.")
    shown = eval_results.newest(NEWEST)
    # Counted as the words say: one running or with no answer has nothing to open, and only one that answered with a
    # training run shows where training helped (an API-only one compares the models).
    if evals.with_answers:
        said = (f"Evaluations with answers so far: {evals.with_answers}. Open one on the Evaluate page to "
                + ("see where training helped." if evals.from_runs and not api_only else "compare the models' answers."))
    else:  # "Evaluations so far: 0. Open one ..." pointed at nothing
        step = ("Compare API models on the Evaluate page." if api_only
                else "Score a run against its base on the Evaluate page.")
        if not shown:  # one line, as the runs' is: the held-out questions in it took three at 800 px, "held-" ending one
            st.caption(f"**Evaluations:** {'none with answers yet' if evals.running or evals.empty else 'none yet'}. {step}")
            return
        said = f"No evaluation has answers yet. {step}"
    if not shown:  # the last one deleted (another tab) between the count above and this list: nothing to list
        st.caption("**Evaluations:** none yet. Start one on the Evaluate page.")
        return
    st.subheader("Evaluations")
    # A static table whose cells wrap, a card per evaluation in a narrow column (studio.ui.narrow_table): in the data
    # grid at 800 px the dataset and the models (about 94 characters) were cut at 110 px each ("Soccer rules (samp")
    rows = [{"started": jobs.readable_time(e.created), "state": e.status, "dataset": e.dataset,
             "models": ", ".join(e.models)} for e in shown]
    with st.container(key=EVALUATIONS_KEY):
        st.html(narrow_table.narrow_table_css(EVALUATIONS_KEY, list(rows[0])))
        st.table(pd.DataFrame([{k: ui.md(v) for k, v in row.items()} for row in rows]), hide_index=True)
    st.caption(said)
    st.page_link(pages.EVALUATE.path, label="Open the evaluations on the Evaluate page", icon=":material/arrow_forward:")


def running_jobs(shown: frozenset[str]) -> None:
    """A line per job running (``shown``: their folders, as the page was drawn), with its progress, drawn again every
    two seconds; when one ends or another starts, the whole page again (the counts above, the lines here)."""
    active = [j for j in jobs.registered_jobs() if j.active]
    if frozenset(j.workdir for j in active) != shown:
        st.rerun(scope="app")
        return
    for job in active:
        page, what = pages.for_job(job.kind)
        # Named as its own page names it (the run's name), not by its folder's id; an older job without a name: the folder.
        name = jobs.title_of(job) or Path(job.workdir).name
        st.info(f"{what} running: {ui.md(name)} · {job.progress:.0%} · {ui.md(job.message)}",
                icon=":material/sync:")
        st.page_link(page.path, label=f"Open it on the {page.title} page", icon=":material/arrow_forward:")


def path() -> None:
    """Every workflow page this install can walk, in the order of the path, with its one-line purpose
    (studio.ui.pages). The link is the page's title and the purpose is text beside it that wraps: a link's label is one
    line, and a whole purpose in it was cut in a narrower window ("Train: pick a dataset version, a base and a preset;
    preview; launch a backg")."""
    st.subheader("The path through the studio")
    for page in pages.path(api_only):
        row = st.container(horizontal=True, vertical_alignment="center", wrap=False)
        row.page_link(page.path, label=page.title, icon=":material/arrow_forward:", width=110)  # the purposes in line
        row.caption(page.said(api_only))
    if api_only:
        st.caption(f"{' and '.join(p.title for p in pages.full_install_only())} need local models and training, which "
                   "this deployment (API mode) leaves out: "
                   + ("a studio of your own (the README's first command) has them." if dev.public  # one server, every visitor
                      else "the full install (the README's first command) adds them."))


restoring = config.tenancy() and (ui.sample_held() or cloud.restoring())  # as the page's first step saw it
st.fragment(run_every=2.0 if restoring else None)(overview)(restoring)

