"""The Duplicates tab: run dedup, pick a threshold by eye, review clusters, save a new version."""

from __future__ import annotations

import streamlit as st

from studio import dedup, dedup_plots, store
from studio.errors import StudioError
from studio.review import Review, diff_html
from studio.ui import dataset as dui

JOB, REVIEW, ERROR, PAGE = "dedup.job", "dedup.review", "dedup.error", "dedup.page"
THREAD_ABOVE = 3000  # records: larger datasets are scored in a worker thread with a progress bar
PER_PAGE = 10  # clusters shown at once


def review_queue(info: store.DatasetInfo | None) -> None:
    """The whole tab for the selected dataset (its working copy, unsaved edits included)."""
    for key, value in {JOB: None, REVIEW: None, ERROR: None, PAGE: 1}.items():
        st.session_state.setdefault(key, value)
    if info is None:
        st.info("Pick or create a dataset first.")
        return
    records, base = dui.working_copy(info)
    if len(records) < 2:
        st.info(f"{len(records)} record{'' if len(records) == 1 else 's'}: nothing to compare yet.")
        return
    _controls(info, records, base)
    job: dedup.DedupJob | None = st.session_state[JOB]
    if job is None or job.key[:3] != (info.id, base, len(records)):
        if job is not None and job.key[0] == info.id and not job.running:
            st.warning("The dataset changed since dedup ran: run it again.")
        return
    if job.running:
        _progress(job)
        return
    if job.error:
        st.error(job.error, icon=":material/error:")
        return
    if job.result is not None:
        _queue(info, records, job)


def _controls(info: store.DatasetInfo, records: list[dict], base: int) -> None:
    c1, c2, c3, c4 = st.columns([2, 2, 2, 1.4], vertical_alignment="bottom")
    scorer = c1.selectbox("Scorer", list(dedup.SCORERS), key="dedup.scorer",
                          help="ratio: whole-text edit similarity (fastest). token_set_ratio ignores word order "
                               "and repeats; partial_ratio finds one text inside another; WRatio mixes them.")
    field = c2.selectbox("Compare", list(dedup.FIELDS), key="dedup.field")
    floor = c3.number_input("Find pairs scoring at least", 0.0, 100.0, 80.0, 1.0, key="dedup.floor",
                            help="The threshold slider below then moves live between this and 100.")
    job = st.session_state[JOB]
    busy = job is not None and job.running
    if c4.button("Find duplicates", key="dedup.run", type="primary", disabled=busy, width="stretch"):
        config = dedup.DedupConfig(threshold=floor, scorer=scorer, field=field)
        job = dedup.DedupJob(key=(info.id, base, len(records), config))
        st.session_state[JOB], st.session_state[REVIEW], st.session_state[PAGE] = job, None, 1
        if len(records) > THREAD_ABOVE:
            job.start(records, config)
        else:
            job.run(records, config)


@st.fragment(run_every=0.5)
def _progress(job: dedup.DedupJob) -> None:
    if not job.running:
        st.rerun(scope="app")
    st.progress(min(1.0, job.done / max(job.total, 1)), text="Comparing records…")
    st.button("Stop", key="dedup.stop", on_click=job.cancel.set)


def _act(fn, *args) -> None:
    """Button callback: run a review action; a StudioError becomes a one-line message."""
    try:
        fn(*args)
        st.session_state[ERROR] = None
    except StudioError as exc:
        st.session_state[ERROR] = str(exc)


def _merge(review: Review, k: int) -> None:
    review.merge(k, {**st.session_state[f"dedup.merge.{k}.base"],
                     "question": st.session_state[f"dedup.merge.{k}.q"],
                     "answer": st.session_state[f"dedup.merge.{k}.a"]})


def _queue(info: store.DatasetInfo, records: list[dict], job: dedup.DedupJob) -> None:
    config: dedup.DedupConfig = job.key[3]
    review: Review | None = st.session_state[REVIEW]
    decided = review is not None and bool(review.steps)
    if config.threshold >= 100:
        threshold = 100.0  # nothing to slide over: exact duplicates only
    else:
        threshold = st.slider("Threshold", min_value=float(config.threshold), max_value=100.0,
                              value=max(float(config.threshold), 90.0), step=0.5, key="dedup.threshold",
                              disabled=decided, help="Undo every decision to move it again." if decided else None)
    if review is None or (not decided and review.threshold != threshold):
        review = Review(dedup.clusters_at(job.result, threshold), threshold=threshold)
        st.session_state[REVIEW] = review
    clusters = review.clusters
    m1, m2, m3 = st.columns(3)
    m1.metric("Clusters", f"{len(clusters):,}")
    m2.metric("Records in clusters", f"{sum(len(c.members) for c in clusters):,}")
    m3.metric("Decided", f"{len(review.decisions()):,} of {len(clusters):,}")
    scores = [p.score for c in job.result for p in c.pairs]
    if scores:
        st.plotly_chart(dedup_plots.score_histogram(scores, threshold), width="stretch", key="dedup.hist")
    if not clusters:
        st.success("No duplicates at this threshold.")
        return

    b1, b2, b3, b4 = st.columns([1.3, 1.5, 1, 1.3], vertical_alignment="bottom")
    above = b1.number_input("Clusters scoring at least", 0.0, 100.0, 95.0, 0.5, key="dedup.bulk_score")
    b2.button("Keep the first of each", key="dedup.bulk", width="stretch",
              on_click=_act, args=(review.keep_first_above, above))
    b3.button("Undo", key="dedup.undo", icon=":material/undo:", disabled=not review.steps, width="stretch",
              on_click=_act, args=(review.undo,))
    if b4.button("Save as new version", key="dedup.save", type="primary", disabled=not review.decisions(),
                 width="stretch"):
        new_records, message = review.apply(records), f"dedup: {review.describe(records)}"
        st.session_state[REVIEW] = st.session_state[JOB] = None
        dui.commit(info, new_records, message)  # reruns on success or conflict
        st.session_state[REVIEW], st.session_state[JOB] = review, job  # not saved: keep the review
    st.caption(f"With these decisions: {review.describe(records)}. Nothing is deleted: saving makes a new "
               "version, and earlier versions stay in the Versions tab.")
    if st.session_state[ERROR]:
        st.error(st.session_state[ERROR], icon=":material/error:")

    pages = max(1, -(-len(clusters) // PER_PAGE))
    st.session_state[PAGE] = min(max(1, int(st.session_state[PAGE])), pages)  # fewer clusters after a move
    page = int(st.number_input(f"Page (of {pages})", 1, pages, key=PAGE)) if pages > 1 else 1
    live = review.decisions()
    for k in range(min((page - 1) * PER_PAGE, len(clusters)), min(page * PER_PAGE, len(clusters))):
        _cluster(review, records, k, live.get(k))


def _status(decision) -> str:
    if decision is None:
        return "undecided"
    if decision.action == "keep_one":
        return f"keep record {decision.keep + 1}"
    return "keep all (not duplicates)" if decision.action == "keep_all" else "merged"


def _cluster(review: Review, records: list[dict], k: int, decision) -> None:
    c = review.clusters[k]
    with st.container(border=True, key=f"dedup-cluster-{k}"):
        st.markdown(f"**Cluster {k + 1}** · {len(c.members)} records · top score {c.top_score:.1f} · "
                    f"{c.kind} · *{_status(decision)}*")
        ref = records[c.keep]
        for row in range(0, len(c.members), 4):
            cols = st.columns(4)
            for col, m in zip(cols, c.members[row:row + 4]):
                with col:
                    r = records[m]
                    kept = decision is not None and (decision.action == "keep_all" or decision.keep == m)
                    dropped = decision is not None and decision.action != "keep_all" and not kept
                    label = f"Record {m + 1}" + (" · suggested" if m == c.keep else "")
                    st.markdown(f"**{label}**" + (" · ~~dropped~~" if dropped else ""))
                    st.markdown("**Q:** " + diff_html(r.get("question", ""), ref.get("question", "")),
                                unsafe_allow_html=True)
                    st.markdown("**A:** " + diff_html(r.get("answer", ""), ref.get("answer", "")),
                                unsafe_allow_html=True)
                    st.button("Keep this one", key=f"dedup.keep.{k}.{m}", on_click=_act,
                              args=(review.keep_one, k, m), type="primary" if kept and decision.action == "keep_one"
                              else "secondary")
        a1, a2 = st.columns([1, 3])
        a1.button("Keep all: not duplicates", key=f"dedup.keepall.{k}", on_click=_act, args=(review.keep_all, k))
        with a2.expander("Merge into one edited record"):
            st.session_state[f"dedup.merge.{k}.base"] = dict(ref)
            st.text_area("Question", str(ref.get("question", "")), key=f"dedup.merge.{k}.q")
            st.text_area("Answer", str(ref.get("answer", "")), key=f"dedup.merge.{k}.a")
            st.button("Merge", key=f"dedup.merge.{k}", on_click=_act, args=(_merge, review, k))
