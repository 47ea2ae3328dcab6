"""The Dataset page's Check, Versions and Export tabs; each takes the selected dataset (or None). The Import tab is
``studio.ui.dataset_import``.

Session state: ``dataset.check.asked`` remembers large versions the user asked to check; ``dataset.push`` holds the Hub
push job (a ``studio.tasks.Task`` run by a worker thread).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import streamlit as st

from studio import config, jobs, ui
from studio.data import editing, hub, plots, stats, store, validate, writers
from studio.errors import StudioError
from studio.tasks import Task
from studio.ui import dataset as dui
from studio.ui import streamlit_internals

AUTO_CHECK = 20_000  # larger saved versions are checked on request
PUSH = "dataset.push"
PUSHED = "dataset.push.for"  # (dataset id, "Name, version N (M records)") of that push


# ---- Check ----------------------------------------------------------------------------------------

@st.cache_data(max_entries=8, show_spinner=False)
def _checked(dataset_id: str, version: int, sha: str) -> tuple[validate.Checked, stats.DatasetStats]:
    records = store.load_version(dataset_id, version)
    return validate.check(records), stats.compute(records)


def check_tab(info: store.DatasetInfo | None) -> None:
    if info is None or info.latest is None:
        st.info("No dataset selected.")
        return
    latest = info.latest
    asked = st.session_state.setdefault("dataset.check.asked", set())
    if latest.count > AUTO_CHECK and (info.id, latest.version) not in asked:
        # Checking 200,000 records takes seconds: only when asked, so opening the page stays quick.
        if not st.button(f"Check {latest.count:,} records and compute statistics", key="dataset.check.go"):
            return
        asked.add((info.id, latest.version))
    found, st_ = _checked(info.id, latest.version, latest.sha256)
    errs, warns = found.errors, found.warnings  # all of them: the table may list only the first
    st.caption(f"Checks and statistics of the saved version {latest.version}; unsaved edits are checked when you save.")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Records", f"{st_.count:,}")
    c2.metric("Errors", f"{len(errs):,}")
    c3.metric("Warnings", f"{len(warns):,}")
    # "Mean words (Q / A)" was cut in a quarter of an 800 px window: the mean is said in its help
    c4.metric("Words (Q / A)", f"{st_.mean_question_words:.0f} / {st_.mean_answer_words:.0f}",
              help="Mean words per question / per answer")
    if errs:  # a version saved before every error was found (or written by hand): say so first
        st.error(f"{validate.plural(len(found.invalid), 'record')} of this version "
                 f"{'has' if len(found.invalid) == 1 else 'have'} errors: fix or delete them in the Edit tab and "
                 "save before training on it.", icon=":material/error:")
    if found.problems:
        st.write(f"Problems ({found.counts()}; record numbers count from 1; warnings do not block a save):")
        dui.problems_table(errs + warns if errs else found.problems)
    elif st_.count:  # an empty version has no problems and nothing to train on: its note says so, not "No problems"
        st.success("No problems found.", icon=":material/check_circle:")
    for note in found.notes:
        st.info(note, icon=":material/info:")
    if st_.count:
        lengths, openings = _check_plots(info.id, latest.version, latest.sha256)
        # one under the other, each the tab's width: in two columns of an 800 px window (233 px each) the openings'
        # title read "Most repeated question opening" and the histogram's legend took half its plot
        st.plotly_chart(lengths, width="stretch")
        if openings is not None:
            st.plotly_chart(openings, width="stretch")
        else:
            st.caption("No question opening repeats.")


@st.cache_resource(max_entries=8, show_spinner=False)
def _check_plots(dataset_id: str, version: int, sha: str):
    """The saved version's two plots, made once (shared, read-only): every rerun of the page draws the Check tab, and
    making them was 40 of the 90 ms a cell edit's rerun took on a 500-record dataset, the time in which typing after
    Tab can be lost (Streamlit's grid redraws the new row as the rerun ends)."""
    _, st_ = _checked(dataset_id, version, sha)
    return plots.dataset_lengths(st_), plots.dataset_openings(st_) if st_.openings else None


# ---- Versions -------------------------------------------------------------------------------------

@st.cache_resource(max_entries=4, show_spinner=False)
def _version_diff(dataset_id: str, old: int, new: int, sha_old: str,
                  sha_new: str) -> tuple[store.Diff, dict[int, int]]:
    """Versions never change once written, so their diff is computed once (shared, read-only); with each record's
    number in its version (``dui.numbered``)."""
    before, after = store.load_version(dataset_id, old), store.load_version(dataset_id, new)
    return editing.changes(before, after), dui.numbered(before, after)


RESTORE_SHOWN = "dataset.restore.shown"  # {dataset id: (uid, latest version)} of the versions the last run showed
VERSIONS_IN_FULL = 8  # versions listed at full height; more, and the list scrolls


def versions_tab(info: store.DatasetInfo | None) -> None:
    if info is None or not info.versions:
        st.info("No dataset selected.")
        return
    # A static table, whose cells wrap: in a data grid a long message (a dedup's, or one typed at a save) was cut at
    # the column's edge, and a read-only cell cannot be opened to read the rest. Past a few versions it scrolls.
    st.table([{"version": v.version, "saved": jobs.readable_time(v.created), "records": f"{v.count:,}",
               "what": dui.md(v.message)} for v in reversed(info.versions)],
             hide_index=True, height="content" if len(info.versions) <= VERSIONS_IN_FULL else 360)
    numbers = [v.version for v in info.versions]
    if len(numbers) == 1:
        st.caption("Only one version so far: every Save (and every restore) adds one.")
        return
    c1, c2 = st.columns(2)
    # keyed by the latest version: a new one (a restore, a save) is compared with the one before, not an old pair
    latest = numbers[-1]
    old = c1.selectbox("Compare version", numbers, index=max(0, len(numbers) - 2),
                       key=f"dataset.cmp.a.{info.id}.{latest}")
    new = c2.selectbox("with version", numbers, index=len(numbers) - 1, key=f"dataset.cmp.b.{info.id}.{latest}")
    with st.container():  # drawn for any pair, even a version with itself: Restore below keeps its place
        if old != new:
            sha = {v.version: v.sha256 for v in info.versions}
            diff, record_numbers = _version_diff(info.id, old, new, sha[old], sha[new])
            dui.diff_view(diff, f"version {old} → version {new}", record_numbers)
    st.divider()
    restore = st.selectbox("Restore version", numbers[:-1], key=f"dataset.restore.{info.id}")
    # The dataset whose versions the last run showed: a click is read in a run that lists the datasets anew, where a
    # dataset deleted in another tab and imported again under its name has the same id (and its own version 2), and
    # the restore went into it unsaid; and one saved in another tab since, whose latest version the restore undid unsaid.
    shown = st.session_state.get(RESTORE_SHOWN) or {}
    st.session_state[RESTORE_SHOWN] = {info.id: (info.uid, latest)}
    d = dui.draft(info)
    sure = True
    with st.container():  # the button keeps its place whether or not there are unsaved edits to discard
        if d.dirty:
            sure = st.checkbox("Discard my unsaved changes", key=f"dataset.restore.sure.{info.id}")
    if st.button(f"Restore version {restore} as a new version", disabled=not sure,
                 key="dataset.restore.go"):
        uid, base = shown.get(info.id, (info.uid, latest))
        made = ui.run_or_error(store.restore_version, info.id, restore, base_version=base, made_on=uid)
        if made:
            dui.reset(info)
            dui.flash(f"Restored version {restore} as version {made.version} ({validate.plural(made.count, 'record')}).")
            st.rerun()


# ---- Export ---------------------------------------------------------------------------------------

def _export_bytes(dataset_id: str, version: int, fmt: str) -> bytes:
    return writers.WRITERS[fmt](store.load_version(dataset_id, version))


def _llama_factory_zip(dataset_id: str, version: int, fmt: str) -> bytes:
    from studio.data import conversations

    file_name = f"{dataset_id}-v{version}.{fmt}.{writers.EXTENSIONS[fmt]}"
    records = store.load_version(dataset_id, version)
    return conversations.llama_factory_zip(records, writers.WRITERS[fmt](records), fmt, file_name)


def _deferred(fn, *args) -> Callable[[], bytes]:
    """A download made when its button is pressed, in the visitor's workspace: Streamlit runs it on a thread of its
    own, where a public app has no visitor (``config.bound``); its file leaves the server soon after
    (``streamlit_internals.made_when_pressed``)."""
    return streamlit_internals.made_when_pressed(config.bound(functools.partial(fn, *args)))


def export_tab(info: store.DatasetInfo | None) -> None:
    if info is None or info.latest is None:
        st.info("No dataset selected.")
        return
    v = info.latest.version
    unsaved = ", not your unsaved edits: save them first to export them" if dui.draft(info).dirty else ""
    st.caption(f"Downloads hold the saved version {v} ({validate.plural(info.latest.count, 'record')}){unsaved}.")
    stem = info.id  # already a file-name-safe slug of the name
    # Each row's buttons as wide as their labels, wrapping where the window is narrow: in a quarter of an 800 px
    # window every one read "Downl…", naming no format.
    row = st.container(horizontal=True)
    for fmt, mime in (("json", "application/json"), ("jsonl", "application/jsonl"), ("csv", "text/csv"),
                      ("parquet", "application/vnd.apache.parquet")):
        row.download_button(f"Download {fmt.upper() if fmt != 'parquet' else 'Parquet'}",
                            _deferred(_export_bytes, info.id, v, fmt),
                            file_name=f"{stem}-v{v}.{fmt}", mime=mime, key=f"dataset.export.{fmt}",
                            on_click="ignore", icon=":material/download:")
    st.caption("For fine-tuning tools: chat `messages` (TRL's SFTTrainer, OpenAI fine-tuning, Axolotl), "
               "ShareGPT `conversations` (LLaMA-Factory, Axolotl) and Alpaca.")
    row = st.container(horizontal=True)
    for fmt, label in (("messages", "messages JSONL"), ("sharegpt", "ShareGPT JSON"), ("alpaca", "Alpaca JSON")):
        ext = writers.EXTENSIONS[fmt]
        row.download_button(f"Download {label}", _deferred(_export_bytes, info.id, v, fmt),
                            file_name=f"{stem}-v{v}.{fmt}.{ext}", mime="application/json", key=f"dataset.export.{fmt}",
                            on_click="ignore", icon=":material/download:")
    st.caption("For LLaMA-Factory: the file and its `dataset_info.json` entry in one zip; unpack it into "
               "LLaMA-Factory's `data/` folder (merge the entry into an existing `dataset_info.json`).")
    row = st.container(horizontal=True)  # a quarter of the width cut these labels to "messages + dataset_info.js…"
    for fmt, label in (("messages", "messages"), ("sharegpt", "ShareGPT"), ("alpaca", "Alpaca")):
        row.download_button(f"{label} + dataset_info.json (zip)", _deferred(_llama_factory_zip, info.id, v, fmt),
                            file_name=f"{stem}-v{v}.{fmt}.llama-factory.zip", mime="application/zip",
                            key=f"dataset.export.lf.{fmt}", on_click="ignore", icon=":material/folder_zip:")
    st.divider()
    st.subheader("Push to the Hugging Face Hub")
    token = ui.hf_token()
    with st.container():  # a field, or "set" and Forget once given: the fields below keep their place
        if config.tenancy():
            st.caption("Token: configured." if token else "No token: give yours under Your workspace in the sidebar to push.")
        elif token and not st.session_state.get("auth.hf_token"):
            st.caption("Token: configured.")
        else:  # typed here, or on the Chat page (the same field): a push needs no restart with HF_TOKEN set
            token = ui.secret_field("Hugging Face token", "auth.hf_token",
                                    help="A write token. Kept in this browser session only (the Chat page's token "
                                         "too); or set HF_TOKEN in .streamlit/secrets.toml or the environment.") or token
    repo = st.text_input("Hub dataset id", placeholder="your-name/soccer-qa", max_chars=ui.SHORT_TEXT_CHARS, key="dataset.push.repo")
    private = st.checkbox("Private", value=True, key="dataset.push.private")
    job: Task | None = st.session_state.get(PUSH)
    running = job is not None and not job.done
    pushed_id, what = st.session_state.get(PUSHED) or (None, "")
    if job is not None and job.done and pushed_id != info.id:
        job = None  # another dataset's push: its outcome is not this dataset's
    pushed = st.button("Push", key="dataset.push.go", disabled=running, icon=":material/cloud_upload:")
    said = st.container()  # a refusal, for one run: the last push's outcome below keeps its place
    if pushed:
        try:
            repo_id = hub.check_repo_id(repo)
            if not token:
                ui.require_own_token("Pushing to the Hub")  # a public app: the deployer's token never pushes
                hub.push_to_hub([], repo_id, token)  # raises the missing-token message
        except StudioError as exc:
            with said:
                ui.show_error(exc)
        else:
            records = store.load_version(info.id, v)
            card = hub.dataset_card(records, info.name, v, info.latest.sha256, [x.message for x in info.versions])
            what = f"{info.name}, version {v} ({validate.plural(len(records), 'record')})"
            job = Task(f"Pushing {what} to {repo_id}", hub.push_to_hub, records, repo_id, token, private=private,
                       card=card).start()
            st.session_state[PUSH], st.session_state[PUSHED] = job, (info.id, what)
    if job is not None:
        _push_status(job, what)


@st.fragment(run_every=1.0)
def _push_status(job: Task, what: str) -> None:
    if not job.done:
        st.info(f"{ui.md(job.label)}…", icon=":material/hourglass_top:")
    elif job.state == "done":
        st.success(f"Pushed to {job.result}: {ui.md(what)}.", icon=":material/check_circle:")
    else:
        ui.show_error(job.error)
