"""The Duplicates tab: run dedup, pick a threshold by eye, review clusters, save a new version."""

from __future__ import annotations

import functools
import time
from dataclasses import replace

import streamlit as st

from studio import ui
from studio.data import store
from studio.data.display import html_block
from studio.dedup import clusters as dedup_clusters
from studio.dedup import embed, follow, rescore, semantic, semantic_records, static, verdicts
from studio.dedup import fuzzy as dedup
from studio.dedup import plots as dedup_plots
from studio.dedup.review import Review, diff_html
from studio.errors import StudioError
from studio.tasks import Task
from studio.ui import dataset as dui
from studio.ui import numbers

JOB, REVIEW, ERROR, PAGE = "dedup.job", "dedup.review", "dedup.error", "dedup.page"
PENDING = "dedup.pending"  # a run estimated over CONFIRM_ABOVE seconds waiting for "Start": (key, message, the semantic
# run's config when it is offered instead, else None)
TYPED = "dedup.merge.typed"  # {(cluster members, "q" or "a"): text typed in its merge box}, for this run's records
ESTIMATE = "dedup.estimate"  # (the run's key, its semantic_records.Estimate)
THREAD_ABOVE = 3000  # records: larger datasets are scored in a worker thread with a progress bar
PER_PAGE = 10  # clusters shown at once
FLOOR_START = 80.0  # the fuzzy box's first value (rapidfuzz score): the review's slider then starts at 90 above it
COSINE_START = 0.85  # the cosine box's first value, and what a run uses before the box has had a good one (a run
# offered from the fuzzy settings, a refused first value): the slider starts at semantic.DEFAULT_THRESHOLD above it


def review_queue(info: store.DatasetInfo | None) -> None:
    """The whole tab for the selected dataset (its working copy, unsaved edits included)."""
    for key, value in {JOB: None, REVIEW: None, ERROR: None, PAGE: 1, PENDING: None, ESTIMATE: None}.items():
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
    if job is not None and job.key[0] == info.id and job.state == "done" and job.result is not None:
        _follow(job, records, base)
    if job is None or job.key[:3] != (info.id, base, len(records)):
        if job is not None and job.key[0] == info.id and not job.running:
            st.warning("The dataset changed since dedup ran: run it again.")
        return
    if not job.running and job.key[3].method != st.session_state.get("dedup.method", job.key[3].method):
        st.info(f"Method changed to {METHOD_LABELS[st.session_state['dedup.method']]}: press Find duplicates "
                "to see its clusters.", icon=":material/info:")  # the old method's results are not shown as its
        return
    if job.running:
        _progress(job)
        return
    if job.error and job.state == "stopped":  # the person's own Stop: said, not an error
        st.info(job.error, icon=":material/stop_circle:")
        return
    if job.error:
        ui.show_error(job.error)
        return
    if job.result is not None:
        _queue(info, records, job)


METHOD_LABELS = {"fuzzy": "Fuzzy (same characters)", "semantic": "Semantic (same meaning)",
                 "both": "Both, combined"}


COMPARE_LABELS = {"question+passage": "Question and passage", "question": "Question", "answer": "Answer",
                  "answer+passage": "Answer and passage", "both": "Question and answer",
                  "both+passage": "Question, answer and passage"}
SCORING_LABELS = {"fast": "Fast (static embeddings)", "precise": "Precise (re-scored with MiniLM)"}
FIXED_SCORING_LABELS = {"direct": "MiniLM itself (few records)", "none": "No model needed"}
FIXED_SCORING_HELP = {
    "direct": f"Few enough records for all-MiniLM-L6-v2 to embed them itself: every pair gets MiniLM's own score, "
              f"what Precise gives, so there is nothing to choose. Fast and Precise apply once a dataset has over "
              f"{semantic_records.DIRECT_UP_TO:,} different texts to embed, or the fast model is built.",
    "none": "Fewer than two different texts: copies of one text are found as identical, with no embedding model."}
# pixels: each box as wide as its longest choice ("Question, answer and passage"), so a narrow page wraps the row
# rather than cutting the choice short
BOX_WIDTHS = {"method": 240, "scorer": 180, "compare": 260, "scores": 280}
CONFIRM_ABOVE = 60.0  # seconds: a run estimated longer than this waits for "Start"


def compare_options(has_passages: bool) -> list[str]:
    """What the Compare box offers: with passages in the dataset, the passage is compared by default."""
    if has_passages:
        return ["question+passage", "question", "answer+passage", "both+passage"]
    return ["question", "answer", "both"]


def _compare_label(code: str, has_passages: bool) -> str:
    return "Question only" if has_passages and code == "question" else COMPARE_LABELS[code]


FOLLOWED = "dedup.followed"  # the line saying what following an edit made elsewhere cost the review, or None


def _follow(job: dedup.DedupJob, records: list[dict], base: int) -> None:
    """Carry the run and its review over to the working copy as the Edit tab left it: a record deleted or fixed
    there (to let a dedup save go through) cost every decision made, the tab saying "run it again". Another tab's
    save, read back from disk (no record shared with the run's), is not followed: the tab asks for a new run."""
    before = job.records
    if before is records or (len(before) == len(records) and all(a is b for a, b in zip(before, records))):
        return
    if job.key[1] != base:
        ran_on = {id(r) for r in before}
        if not any(id(r) in ran_on for r in records):
            return
    moved = follow.moves(before, records)
    edited = frozenset({moved[m] for m in job.edited_since if moved[m] is not None}  # an earlier follow's, moved
                       | follow.edited(before, records, moved))
    job.follow(records, base, follow.follow_clusters(job.result, moved, records), edited)
    review: Review | None = st.session_state[REVIEW]
    lost = 0
    if review is not None:
        st.session_state[REVIEW], lost = follow.follow_review(review, moved, records)
    typed = st.session_state.get(TYPED) or {}
    st.session_state[TYPED] = {(tuple(sorted(m for m in (moved[m] for m in members) if m is not None)), f): text
                               for (members, f), text in typed.items()}
    if lost:
        st.session_state[FOLLOWED] = (f"{lost:,} decision{'s' if lost != 1 else ''} went with the record"
                                      f"{'s' if lost != 1 else ''} changed in the Edit tab (a cluster split, or the "
                                      "record kept was deleted): decide "
                                      f"{'those clusters' if lost != 1 else 'that cluster'} again; the others stay.")


# (box key, first value, label) of each method's threshold box: Fuzzy or Semantic alone, the lowest score the run
# searches (the Threshold slider over its results starts higher); Both, the threshold itself, the command line's default
SINGLE_KEYS = {"fuzzy": ("dedup.floor", FLOOR_START, "Search down to (score)"),
               "semantic": ("dedup.cosine", COSINE_START, "Search down to (cosine)")}
BOTH_KEYS = {"fuzzy": ("dedup.both.floor", 90.0, "Fuzzy threshold (score)"),
             "semantic": ("dedup.both.cosine", semantic.DEFAULT_THRESHOLD, "Semantic threshold (cosine)")}
THRESHOLD_HELP = {
    ("fuzzy", "fuzzy"): "How alike two texts' characters must be, from 0 to 100 (90: about one character in ten differs). "
                        "The run finds every pair scoring this or more; the Threshold slider over the results, the one "
                        "used, then moves live between this and 100.",
    ("semantic", "semantic"): "How alike two texts' meanings must be, as a cosine similarity from 0.5 to 1 (rewordings "
                              "of one question score about 0.9-0.97). The run finds every pair scoring this or more; "
                              "the Threshold slider over the results, the one used, then moves live between this and 1.",
    ("both", "fuzzy"): "The fuzzy pairs: how alike two texts' characters must be, from 0 to 100 (90: about one "
                       "character in ten differs).",
    ("both", "semantic"): "The semantic pairs: how alike two texts' meanings must be, as a cosine similarity from 0.5 "
                          "to 1 (rewordings of one question score about 0.9-0.97)."}


def _which_threshold(method: str, floor: float, cosine: float) -> str:
    """The line under the settings saying which threshold decides what a duplicate is."""
    if method == "both":
        return (f"Duplicates: pairs scoring at least {floor:g} (fuzzy, out of 100) or with cosine at least {cosine:g} "
                "(semantic); overlapping clusters merge. To change either, set it and press Find duplicates again.")
    low = floor if method == "fuzzy" else cosine
    start = max(low, 90.0 if method == "fuzzy" else semantic.DEFAULT_THRESHOLD)
    return (f"Duplicates: pairs scoring at least {start:g} to start. Find duplicates shows a Threshold slider over its "
            f"results that moves this live, down to {low:g} without running again.")


def _as_semantic(config: dedup.DedupConfig) -> dedup.DedupConfig:
    """``config`` as the semantic run offered instead of it: from the cosine the Semantic method's box shows (from
    Both, its own semantic threshold was not that box's)."""
    key, start, _ = SINGLE_KEYS["semantic"]
    return replace(config, method="semantic", semantic_threshold=numbers.last_good(key, start))


def _controls(info: store.DatasetInfo, records: list[dict], base: int) -> None:
    methods = list(dedup.METHODS) if embed.available() else ["fuzzy"]
    has_passages = semantic_records.record_passages(records) is not None
    # The three choices on a row of their own: five boxes in one row cut "Semantic (same meaning)", "Question and
    # answer" and "Precise (re-scored with MiniLM)" short at a laptop's width. The numbers and the button below.
    # Rows that wrap (``_row``), not columns: in fixed columns at 800 px a choice read "Fuzzy (same cha" and the button
    # "Find d…".
    top = _row()
    c0 = c1 = c2 = top
    row = _row()
    slots = iter([row] * 3)
    method = c0.selectbox("Method", methods, format_func=METHOD_LABELS.get, key="dedup.method", persist_state=ui.PERSIST,
                          width=BOX_WIDTHS["method"],
                          help="Fuzzy compares characters (typos, case, punctuation). Semantic compares meaning "
                               "with sentence embeddings (paraphrases in other words). Both merges the two.")
    scorer = c1.selectbox("Scorer", list(dedup.SCORERS), key="dedup.scorer", persist_state=ui.PERSIST, disabled=method == "semantic",
                          width=BOX_WIDTHS["scorer"],
                          help="ratio: whole-text edit similarity (fastest). token_set_ratio ignores word order "
                               "and repeats; partial_ratio finds one text inside another; WRatio mixes them.")
    options = compare_options(has_passages)
    if st.session_state.get("dedup.field") not in options:
        st.session_state["dedup.field"] = options[0]
    compare = c2.selectbox("Compare", options, key="dedup.field", persist_state=ui.PERSIST, width=BOX_WIDTHS["compare"],
                           format_func=lambda code: _compare_label(code, has_passages),
                           help="With a passage (context), two records are duplicates only when their passages "
                                "match too: the same question over different passages is not a duplicate."
                           if has_passages else None)
    field, passage = compare.split("+")[0], compare.endswith("+passage")
    # A box not drawn (the other method's) or refused: its last good value, else its first; the semantic run offered
    # in place of a long fuzzy one searched from 0.9 while the cosine box then showed 0.85
    floor, cosine = numbers.last_good("dedup.floor", FLOOR_START), numbers.last_good("dedup.cosine", COSINE_START)
    scoring = "fast"
    refused: list[str | None] = []  # a threshold typed out of range: said under the row, and nothing runs
    # One threshold per method, each on its own scale. Fuzzy or Semantic alone: the run searches down to the box's
    # value and the Threshold slider over its results (the one used) moves live above it. Both: a box per method is
    # the threshold used, as on the command line (--threshold, --semantic-threshold): one slider for both read fuzzy
    # scores and cosine x 100 as one scale, a third threshold beside the two boxes.
    keys = BOTH_KEYS if method == "both" else SINGLE_KEYS
    if method != "semantic":
        key, start, label = keys["fuzzy"]
        typed, why = numbers.number_box(next(slots), label, key, start, lo=0.0, hi=100.0, step=1.0,
                                        help=THRESHOLD_HELP[method, "fuzzy"])
        refused.append(why)
        floor = numbers.last_good(key, start) if why else typed  # the rest of the tab: the last good
    if method != "fuzzy":
        key, start, label = keys["semantic"]
        typed, why = numbers.number_box(next(slots), label, key, start, lo=0.5, hi=1.0, step=0.01,
                                        help=THRESHOLD_HELP[method, "semantic"])
        refused.append(why)
        cosine = numbers.last_good(key, start) if why else typed
        chosen = st.session_state.get("dedup.scoring", "fast")
        probe = dedup.DedupConfig(threshold=floor, scorer=scorer, field=field, method=method, semantic_threshold=cosine,
                                  passage=passage, scoring=chosen if chosen in SCORING_LABELS else "fast")
        ahead = None if any(refused) else _estimate(info, base, records, probe, quiet=True)  # a refusal: said once, by the run's estimate below
        # A small dataset is embedded with MiniLM itself (or not at all): Fast and Precise give the same scores
        # then, so the box says what the run will do, not a choice it ignores (the choice stays for larger data).
        fixed = None if ahead is None else ("none" if ahead.distinct is not None and ahead.distinct < 2
                                           else "direct" if ahead.direct else None)
        if fixed:
            # A box of its own, so the choice is kept for a larger dataset: drawn disabled with both options under
            # one label, the choice itself came back as Precise where Fast was chosen, the box still saying
            # "MiniLM itself (few records)" on a dataset of thousands.
            next(slots).selectbox("Scores", [FIXED_SCORING_LABELS[fixed]], key="dedup.scoring.fixed", disabled=True,
                                  width=BOX_WIDTHS["scores"],
                                  help=FIXED_SCORING_HELP[fixed])
            scoring = probe.scoring
        else:
            scoring = next(slots).selectbox(
                "Scores", list(SCORING_LABELS), key="dedup.scoring", persist_state=ui.PERSIST, width=BOX_WIDTHS["scores"],
                format_func=SCORING_LABELS.get,
                help="Fast: a static embedding model distilled from all-MiniLM-L6-v2 (tens of thousands of records a "
                     "second; it sees which words occur, not their order). Precise: the candidate pairs are re-scored "
                     "with all-MiniLM-L6-v2 itself, which tells 'capital of France' from 'capital of Germany'; slower.")
    if not embed.available():
        st.caption("Semantic matching needs sentence-transformers and torch, which API mode leaves out.")
    if not any(refused):
        st.caption(_which_threshold(method, floor, cosine))
    for why in filter(None, refused):
        ui.show_error(why)
    config = dedup.DedupConfig(threshold=floor, scorer=scorer, field=field, method=method,
                               semantic_threshold=cosine, passage=passage, scoring=scoring)
    # A fuzzy-only run is estimated (a timed sample) once it is big enough to take a while: the run then teaches the
    # next estimate what it took here; a small one takes under a second, said by nothing
    estimated = method != "fuzzy" or len(records) > dedup.SAMPLE_TEXTS
    held: list[StudioError] = []  # the estimate's refusal (a threshold pairing millions): said beside the settings
    estimate = _estimate(info, base, records, config, held=held) if estimated and not any(refused) else None  # refused: said above
    said = st.empty()  # the estimate, unless the box asking to start says it already
    job = st.session_state[JOB]
    busy = job is not None and job.running
    pending = st.session_state[PENDING]
    # A run the estimate refused is refused at the button too, as a threshold out of range is: greyed, saying why
    stopped = "Change the threshold said below first." if any(refused) else (
        "Raise the threshold first: at this one the run is refused (said below)."
        if any(isinstance(exc, dedup.TooManyPairs) for exc in held) else
        "Change the settings said below first." if held else None)
    if row.button("Find duplicates", key="dedup.run", type="primary", disabled=busy or stopped is not None,
                  help=stopped):  # as Start, elsewhere
        # A fuzzy run as well: 250,000 near-identical questions are estimated at about 50 minutes, started on one click
        if any(refused) or (estimated and estimate is None):
            pass  # the settings were refused in one line above (a threshold pairing millions): nothing runs
        elif estimate is not None and estimate.total > CONFIRM_ABOVE:
            alternative = None  # semantic matching, offered when it is estimated at under half the time
            if method in ("fuzzy", "both") and embed.available():
                alternative = _as_semantic(config)
                faster = _estimate(info, base, records, alternative, cache=False)
                alternative = alternative if faster is not None and faster.total < estimate.total / 2 else None
            else:
                faster = None
            message = f"{estimate.message} {semantic_records.long_run_note(estimate, faster)}"
            st.session_state[PENDING] = pending = ((info.id, base, len(records), config), message, alternative)
        else:
            _start(info, records, base, config, estimate)
    asking = pending is not None and pending[0][:3] == (info.id, base, len(records))
    if estimate is not None and not (asking and pending[0][3] == config):
        said.caption(f":material/timer: {estimate.message}")
    if asking:
        with st.container(border=True):
            st.info(pending[1], icon=":material/timer:")
            go, other, stop = st.columns([1, 2, 3])
            if go.button("Start", key="dedup.confirm", type="primary"):
                st.session_state[PENDING] = None
                _start(info, records, base, pending[0][3], estimate)
                st.rerun()
            if pending[2] is not None:
                other.button("Use semantic instead", key="dedup.use_semantic", on_click=_use_semantic,
                             args=(info, records, base, pending[2]))
            if stop.button("Cancel", key="dedup.cancel_pending"):
                st.session_state[PENDING] = None
                st.rerun()
    job = st.session_state[JOB]
    if job is not None and job.key[0] == info.id and job.key[3].method != "fuzzy" and job.state == "done":
        built = static.build_info(semantic_records.model_name(job.key[3]))
        said = getattr(job, "estimate", None)
        if said is not None and said.distinct is not None and said.distinct < 2:
            pass  # copies of one text at most: no model was used, so none is named
        elif said is not None and said.direct:  # a small dataset: the sentence-transformer embedded it itself
            used = job.embedder or embed.loaded(job.key[3].embedding_model)
            source = f" ({used.source})" if used is not None else ""
            st.caption(f"Semantic matching with {said.direct} itself{source}: few enough records to embed "
                       "directly, no fast model needed.")
        elif built:
            rescored = " Candidate pairs re-scored with all-MiniLM-L6-v2." if job.key[3].scoring == "precise" else ""
            st.caption(f"Semantic matching with {built['source']}.{rescored}")


def _estimate(info: store.DatasetInfo, base: int, records: list[dict], config: dedup.DedupConfig,
              cache: bool = True, quiet: bool = False,
              held: list[StudioError] | None = None) -> semantic_records.Estimate | None:
    """The run's estimate, worked out once per dataset version and settings (a timed sample, ~0.1 s); ``cache``
    False: another run's, worked out without replacing the one kept for the settings shown. A refusal is shown in one
    line (unless ``quiet``) and appended to ``held``; a fuzzy threshold pairing millions is a warning (a prediction
    before anything was pressed, not a failure: it read as one in red) and offers 'Use semantic instead' under it, as
    the box asking to start a long run does: on 250,000 near-identical questions the default 80 is refused as well."""
    # the model loaded since (a run here, another visitor's): worked out again, or the line went on saying the run would
    # load it first ("after loading all-MiniLM-L6-v2 ..., about 10 to 40 seconds") under the run that had just loaded it
    loaded = config.method != "fuzzy" and embed.loaded(config.embedding_model) is not None
    key = (info.id, base, len(records), config, static.is_built(semantic_records.model_name(config)), loaded)
    cached = st.session_state.get(ESTIMATE)
    if cached is None or cached[0] != key:
        try:
            cached = (key, dedup.estimate(records, config))  # in "Both", its fuzzy pass timed too
        except StudioError as exc:  # kept as well: a refused threshold was sampled again at every rerun of the tab
            cached = (key, exc)
        if cache:
            st.session_state[ESTIMATE] = cached
    if isinstance(cached[1], StudioError):
        exc = cached[1]
        if held is not None:
            held.append(exc)
        if not quiet:
            with st.container():  # the line and its button drawn together: nothing below moves when it comes
                if isinstance(exc, dedup.TooManyPairs):
                    st.warning(ui.md(exc), icon=":material/warning:")
                else:
                    ui.show_error(exc)
                if isinstance(exc, dedup.TooManyPairs) and cache and config.method != "semantic" \
                        and embed.available():
                    st.button("Use semantic instead", key="dedup.refused_semantic", on_click=_use_semantic,
                              args=(info, records, base, _as_semantic(config)))
        return None
    return cached[1]


def _use_semantic(info: store.DatasetInfo, records: list[dict], base: int, config: dedup.DedupConfig) -> None:
    """The semantic run offered in place of a long fuzzy one: started, and the Method box set to it (a callback: the
    box cannot be set once drawn)."""
    st.session_state[PENDING] = None
    st.session_state["dedup.method"] = "semantic"
    _start(info, records, base, config, _estimate(info, base, records, config))


def _start(info: store.DatasetInfo, records: list[dict], base: int, config: dedup.DedupConfig,
           estimate: semantic_records.Estimate | None = None) -> None:
    job = dedup.DedupJob(key=(info.id, base, len(records), config))
    job.estimate = estimate
    st.session_state[JOB], st.session_state[REVIEW], st.session_state[PAGE] = job, None, 1
    st.session_state[FOLLOWED] = st.session_state[RESCORED] = None
    st.session_state.pop(TYPED, None)  # a new run, maybe of other records: the clusters they were typed for are gone
    # a long one in the background too (a bar and Stop): 1,500 long texts can take minutes
    if len(records) > THREAD_ABOVE or config.method != "fuzzy" or (estimate is not None and estimate.total > 2.0):
        job.queue(records, config)  # begun by the bar once it is drawn (``_progress``); the embedding model, when
        # needed, loads in the worker, not here
    else:
        job.run(records, config)


def ticking_seconds(so_far: float) -> str:
    """HTML for the whole seconds since a run started, counted on by the browser itself (a CSS animation started
    ``so_far`` seconds ago). Loading the embedding model holds the server's interpreter for seconds at a time (torch's
    libraries load without letting go of it), so the page's half-second refresh stops meanwhile: a count the server
    wrote froze at "7 s so far" for 20 s, and the page looked hung."""
    return (f'<span class="studio-ticking" style="animation-delay:-{max(0.0, so_far):.1f}s"></span><style>'
            "@property --studio-s{syntax:'<integer>';inherits:false;initial-value:0}"
            "@keyframes studio-tick{from{--studio-s:0}to{--studio-s:86400}}"
            ".studio-ticking{animation:studio-tick 86400s steps(86400) forwards;counter-reset:s var(--studio-s)}"
            ".studio-ticking::before{content:counter(s)}</style>")


@st.fragment(run_every=0.5)
def _progress(job: dedup.DedupJob) -> None:
    if not job.running:
        st.rerun(scope="app")
    config: dedup.DedupConfig = job.key[3]
    text = job.progress.message or ("Comparing records…" if config.method == "fuzzy" else "Starting…")
    st.progress(job.progress.fraction, text=text)
    estimate = getattr(job, "estimate", None)
    so_far = time.monotonic() - job.started
    line = f"{ticking_seconds(so_far)} s so far"
    if estimate is not None:  # the total, not the seconds left: a count down would stop with the server (below)
        line += (f"; estimated {estimate.total:.0f} s in all." if so_far < estimate.total
                 else "; taking longer than estimated (a busy machine).")
    st.caption(line, unsafe_allow_html=True)
    st.button("Stop", key="dedup.stop", on_click=job.cancel, disabled=job.stop.is_set())  # pressed: the bar says so
    job.begin()  # the work begins once the bar and the count are drawn (the first time only)


def _act(fn, *args) -> None:
    """Button callback: run a review action; a StudioError becomes a one-line message."""
    try:
        fn(*args)
        st.session_state[ERROR] = None
    except StudioError as exc:
        st.session_state[ERROR] = str(exc)


def _remember(info: store.DatasetInfo, records: list[dict], review: Review, clusters: list[int], *,
              rerun: bool = True) -> None:
    """Keep this review's "not duplicates" verdicts for the dataset (``studio.dedup.verdicts``); with ``rerun``,
    the review starts again with them marked as earlier ones."""
    groups = [[verdicts.fingerprint(records[m]) for m in review.clusters[k].members] for k in clusters]
    try:
        verdicts.remember(info.id, groups)
    except StudioError as exc:  # a full disk, a workspace at its limit: the review stays as it is
        st.session_state[ERROR] = str(exc)
        return
    if rerun:  # the review again, these clusters now among the earlier verdicts (its caption says so)
        st.session_state[REVIEW] = None
        st.rerun()


def _merge(review: Review, k: int) -> None:
    review.merge(k, {**st.session_state[f"dedup.merge.{k}.base"],
                     "question": st.session_state[f"dedup.merge.{k}.q"],
                     "answer": st.session_state[f"dedup.merge.{k}.a"]})


def _kept_slider(label: str, key: str, low: float, high: float, default: float, **kwargs) -> float:
    """A threshold slider that stays where it was through a visit to another page (``ui.kept``), within this
    run's range: the review it drew is kept, so the slider must not come back at its default beside it."""
    kept = st.session_state.get(f"{key}.kept")
    if kept is not None:
        st.session_state[f"{key}.kept"] = min(high, max(low, kept))
    return ui.kept(st.slider, label, key, default, min_value=low, max_value=high, **kwargs)


SLIDER_HELP = ("The threshold used: pairs at or above it make the clusters below. It moves live, without running "
               "again, down to where the run searched.")


def _queue(info: store.DatasetInfo, records: list[dict], job: dedup.DedupJob) -> None:
    config: dedup.DedupConfig = job.key[3]
    review: Review | None = st.session_state[REVIEW]
    decided = review is not None and bool(review.steps)
    lock_help = "Undo every decision to move it again." if decided else None
    if config.method == "both":
        threshold = config.floor  # each method's pairs found at its own threshold: no slider reading both as one
    elif config.floor >= 100:
        threshold = 100.0  # nothing to slide over: exact duplicates only
    elif config.method == "semantic":  # the same scores, shown as the cosine similarity the user chose
        low = round(config.floor / 100, 3)
        threshold = 100 * _kept_slider("Threshold (cosine)", "dedup.threshold_cos", low, 1.0,
                                       max(low, semantic.DEFAULT_THRESHOLD), step=0.005, format="%.3f",
                                       disabled=decided, help=lock_help or SLIDER_HELP)
    else:
        threshold = _kept_slider("Threshold (score)", "dedup.threshold", float(config.floor), 100.0,
                                 max(float(config.floor), 90.0), step=0.5, disabled=decided,
                                 help=lock_help or SLIDER_HELP)
    if review is None or (not decided and review.threshold != threshold):
        clusters = dedup.clusters_at(job.result, threshold)
        earlier = verdicts.load(info.id)  # "not duplicates" said in an earlier review of these records
        known = frozenset(k for k, c in enumerate(clusters) if earlier and verdicts.decided(earlier, records, c.members))
        review = Review(clusters, threshold=threshold, known=known)
        st.session_state[REVIEW] = review
    clusters = review.clusters
    if st.session_state.get(FOLLOWED):
        st.info(st.session_state[FOLLOWED], icon=":material/info:")
    edited = job.edited_since
    _rescored(job, records)
    if stale := _stale_line(clusters, edited):
        st.warning(stale, icon=":material/edit_note:")
    elif edited:  # in no cluster at this threshold: the new text may be a duplicate now, which only scoring can tell
        one = len(edited) == 1
        named = ", ".join(str(m + 1) for m in sorted(edited)[:NAMED_STALE]) + (
            f" and {len(edited) - NAMED_STALE:,} more" if len(edited) > NAMED_STALE else "")
        st.info(f"Record{'' if one else 's'} {named}, edited in the Edit tab since the run, {'is' if one else 'are'} "
                f"in no cluster here, as {'its' if one else 'their'} text before the edit scored: score "
                f"{'it' if one else 'them'} again to see whether {'it is a duplicate' if one else 'they are duplicates'}"
                " now.", icon=":material/edit_note:")
    if edited:
        task = st.session_state.get(RESCORE)
        if task is not None and task[0].running:
            _rescoring(task[0], len(task[2]))
        else:
            st.button(f"Score the edited record{'s' if len(edited) != 1 else ''} again", key="dedup.rescore",
                      icon=":material/refresh:", on_click=_rescore, args=(job, records),
                      help="Compares only the records edited since the run with every other record, on their text "
                           "now (the run's other scores stay): seconds, where Find duplicates scores them all again. "
                           "Your decisions stay on every cluster whose records stay the same.")
    elif (said := st.session_state.get(RESCORED)) is not None:
        st.success(said, icon=":material/check:")
    _typed_elsewhere(clusters)
    m1, m2, m3 = st.columns(3)
    m1.metric("Clusters", f"{len(clusters):,}")
    m2.metric("Records in clusters", f"{sum(len(c.members) for c in clusters):,}")
    m3.metric("Decided", f"{len(review.decisions()):,} of {len(clusters):,}")
    empty, what = _empty_texts(job, records), FIELD_WORDS.get(config.field, config.field)
    if empty and empty < len(records):
        st.caption(f"{empty:,} of {len(records):,} records have an empty {what}: they are not compared (an empty text "
                   "is never a duplicate).")
    scores = [p.score for c in job.result for p in c.pairs]
    cos = config.method == "semantic"  # one scale in semantic mode: cosine similarity, 0-1, everywhere
    if scores and config.method == "both":  # each finder's pairs on its own axis, at its own threshold
        fuzzy_scores, cosines = dedup_clusters.scales(job.result)
        charts = [(fuzzy_scores, config.threshold, f"pair score (fuzzy, {config.scorer})", 100.0),
                  (cosines, config.semantic_threshold, "cosine similarity (semantic)", 1.0)]
        charts = [c for c in charts if c[0]]
        for col, (shown, at, title, top), n in zip(st.columns(len(charts)), charts, range(len(charts))):
            col.plotly_chart(dedup_plots.score_histogram(shown, at, title, scale=top), width="stretch",
                             key=f"dedup.hist.{n}")
    elif scores:
        x_title = {"fuzzy": f"pair score ({config.scorer})", "semantic": "cosine similarity"}[config.method]
        shown = [s / 100 for s in scores] if cos else scores
        st.plotly_chart(dedup_plots.score_histogram(shown, threshold / 100 if cos else threshold, x_title,
                                                    scale=1.0 if cos else 100.0), width="stretch", key="dedup.hist")
    if not clusters:
        below = [s for s in scores if s < threshold]
        if below and not decided:  # pairs exist, just under the line: say so and offer to move it
            best = max(below)
            if cos:  # the slider's own steps, never under its minimum
                key, value = "dedup.threshold_cos", max(round(config.floor / 100, 3), int(best / 0.5) * 0.005)
            else:
                key, value = "dedup.threshold", max(float(config.floor), int(best * 2) / 2)
            shown_best = f"cosine {best / 100:.3f}" if cos else f"{best:.1f}"
            st.info(f"No duplicates at this threshold, but {len(below):,} pair{'s' if len(below) != 1 else ''} score "
                    f"just below it (the closest: {shown_best}).", icon=":material/info:")
            st.button(f"Lower the threshold to {value:g}", key="dedup.lower",
                      on_click=lambda: st.session_state.update({key: value}))
        elif empty == len(records):
            st.info(f"Every record's {what} is empty: nothing was compared. Compare "
                    f"{'the question' if config.field != 'question' else 'the answer'} instead.", icon=":material/info:")
        else:
            st.success("No duplicates at this threshold.")
        return

    if review.known:
        n = len(review.known)
        st.caption(f":material/history: {n:,} cluster{'s' if n != 1 else ''} you marked not duplicates in an earlier "
                   f"review {'are' if n != 1 else 'is'} marked so again (their records are unchanged); change any below.")
    b1 = b2 = b3 = b4 = _row()  # each button as wide as its label ("Keep the sugg…", "U…" in columns at 800 px)
    both = config.method == "both"  # each finder's clusters on its own scale, as the thresholds: never one mixed number
    bulk_cos = why_cos = None
    # An emptied box's line goes below the row (said_in=st): in the row it was one more item, as wide as the row, so
    # the box took the whole width and the buttons wrapped under it.
    if cos:
        above, why = numbers.number_box(b1, "Clusters with cosine at least", "dedup.bulk_cos", 0.95, lo=0.5, hi=1.0,
                                        step=0.005, said_in=st)
        above *= 100
    else:
        above, why = numbers.number_box(b1, "Fuzzy clusters scoring at least" if both else "Clusters scoring at least",
                                        "dedup.bulk_score", 95.0, lo=0.0, hi=100.0, step=0.5, said_in=st)
    if both:
        bulk_cos, why_cos = numbers.number_box(b1, "Semantic clusters with cosine at least", "dedup.bulk_cos", 0.95,
                                               lo=0.5, hi=1.0, step=0.005, said_in=st)
        bulk_cos = None if bulk_cos is None else bulk_cos * 100
    for line in (why, why_cos):
        if line:  # out of range: the bulk keep waits for a value it can use
            ui.show_error(line)
    # a cluster of 800 records (templated questions differing in a number) is said before a press keeps 1 of them
    big = "" if why or why_cos else review.bulk_warning(above, min_cosine=bulk_cos)
    b2.button("Keep the suggested of each", key="dedup.bulk", disabled=bool(why or why_cos),
              help=(f"{big} " if big else "") + ("In every undecided cluster with a fuzzy pair scoring at least the first number, or a semantic "
                    "pair with cosine at least the second, keep its suggested record (the most complete one) and drop "
                    "the others; Undo takes it back." if both else
                    "In every undecided cluster scoring at least this, keep its suggested record (the most complete "
                    "one) and drop the others; Undo takes it back."),
              on_click=_act, args=(functools.partial(review.keep_suggested_above, cosine=cos, min_cosine=bulk_cos),
                                   above))
    b3.button("Undo", key="dedup.undo", icon=":material/undo:", disabled=not review.steps,
              on_click=_act, args=(review.undo,))
    if big:
        st.warning(f"Keep the suggested of each: {big}", icon=":material/warning:")
    after = review.apply(records) if review.decisions() else records
    # Unsaved records still to fix (typed in the Edit tab) are compared as typed; a save that keeps one would be refused
    # by the usual checks, and the refusal left the dedup's result in the editor with the review gone: said first
    blocked = _still_to_fix(records, review)
    same = after == records  # every cluster kept as it is ("not duplicates"): a save was an identical version
    fresh = review.new_verdicts()  # "not duplicates" said in this review: remembered, so not asked again
    if same and fresh:
        if b4.button("Remember: not duplicates", key="dedup.remember", type="primary",
                     help="Every record stays as it is, so there is no version to save; the next review of these "
                          "records marks these clusters not duplicates again."):
            _remember(info, records, review, fresh)
    elif b4.button("Save as new version", key="dedup.save", type="primary", disabled=same or blocked is not None,
                   help=blocked or ("These decisions keep every record as it is: nothing to save."
                                    if review.decisions() and same else None)):
        new_records, message = after, f"dedup: {review.describe(records)}"
        _remember(info, records, review, fresh, rerun=False)  # with the version: the records they name stay in it
        st.session_state[REVIEW] = st.session_state[JOB] = None
        dui.commit(info, new_records, message)  # reruns on success or conflict
        st.session_state[REVIEW], st.session_state[JOB] = review, job  # not saved: keep the review
    if review.decisions() and same:
        st.caption(f"With these decisions: {review.describe(records)}. Every record stays as it is: "
                   + ("no version to save; Remember keeps these clusters marked not duplicates for the next review."
                      if fresh else "nothing to save."))
    else:
        st.caption(f"With these decisions: {review.describe(records)}. Nothing is deleted: saving makes a new "
                   "version, and earlier versions stay in the Versions tab.")
    if blocked:
        st.warning(blocked, icon=":material/build:")
    if st.session_state[ERROR]:
        ui.show_error(st.session_state[ERROR])

    st.caption(":orange-background[Highlighted] words differ from the cluster's **suggested** record: the most "
               "complete one (longest question and answer), which the command line's `--out` keeps. Nothing "
               "happens until you decide: keep one, keep all, or merge.")
    pages = max(1, -(-len(clusters) // PER_PAGE))
    page = numbers.page_box(st, PAGE, pages, fit=True) if pages > 1 else 1  # a page that is not there: said, the last one stays
    live = review.decisions()
    for k in range(min((page - 1) * PER_PAGE, len(clusters)), min(page * PER_PAGE, len(clusters))):
        _cluster(review, records, k, live.get(k), edited)


TO_FIX = "dedup.to_fix"  # (the working copy it was worked out for, {record index: why it cannot be saved yet})
NAMED_UP_TO = 10  # records still to fix named in the line that holds the save back


def _still_to_fix(records: list[dict], review: Review) -> str | None:
    """One line naming the unsaved records still to fix that these decisions keep, which hold the save back (a record
    dropped or merged away does not); None when the result can be saved."""
    held = st.session_state.get(TO_FIX)
    if held is None or held[0] is not records:  # worked out once per working copy: every record is checked
        st.session_state[TO_FIX] = held = (records, dui.invalid(records))
    fix = held[1]
    kept = review.kept_as_typed(list(fix), len(records)) if fix else []
    if not kept:
        return None
    named = ", ".join(str(i + 1) for i in kept[:NAMED_UP_TO]) + (
        f" and {len(kept) - NAMED_UP_TO:,} more" if len(kept) > NAMED_UP_TO else "")
    why = fix[kept[0]] if len(kept) == 1 else "the Problem column there says why"
    return (f"Record{'s' if len(kept) > 1 else ''} {named} must be fixed or deleted in the Edit tab before this dedup "
            f"can be saved ({why}); fixing {'them' if len(kept) > 1 else 'it'} keeps your decisions here.")


KIND_COLORS = {"exact": "gray", "fuzzy": "blue", "semantic": "violet"}  # how each finder is marked


FIELD_WORDS = {"question": "question", "answer": "answer", "both": "question and answer"}


def _empty_texts(job: dedup.DedupJob, records: list[dict]) -> int:
    """How many records the run left out because the compared text is empty: counted once per run."""
    if getattr(job, "empty_texts", None) is None:
        job.empty_texts = sum(1 for t in dedup.field_texts(records, job.key[3].field) if not dedup.normalize(t))
    return job.empty_texts


def _status(decision) -> str:
    if decision is None:
        return "undecided"
    if decision.action == "keep_one":
        return f"keep record {decision.keep + 1}"
    if decision.action == "keep_all":
        return "keep all (not duplicates, said in an earlier review)" if decision.earlier else "keep all (not duplicates)"
    return "merged"


NAMED_STALE = 10  # clusters and records named in the line about records edited since the run
RESCORE = "dedup.rescore.task"  # (the Task scoring the edited records again, the records it scores, the edited ones)
RESCORED = "dedup.rescored"  # the line saying what scoring the edited records again did, until the next run


def _rescore(job: dedup.DedupJob, records: list[dict]) -> None:
    """Score the records edited since the run again, in a worker thread (loading a model can take seconds)."""
    edited = job.edited_since
    task = Task("Dedup again", rescore.rescore, records, job.result, edited, job.key[3], vectors=job.vectors,
                embedder=job.embedder)
    st.session_state[RESCORE] = (task, records, edited)
    task.start()


@st.fragment(run_every=0.5)
def _rescoring(task: Task, count: int) -> None:
    if not task.running:
        st.rerun(scope="app")
    st.caption(f":material/hourglass_top: Scoring the {count:,} edited record{'s' if count != 1 else ''} against the "
               "rest…")


def _rescored(job: dedup.DedupJob, records: list[dict]) -> None:
    """Apply a finished rescoring: the run's clusters and the review's decisions as ``rescore`` left them. Made on a
    working copy edited again since, it is dropped (the newer edits are marked; the button scores them)."""
    held = st.session_state.get(RESCORE)
    if held is None or held[0].running:
        return
    task, ran_on, edited = held
    st.session_state[RESCORE] = None
    if task.error:
        ui.show_error(task.error)
        return
    if ran_on != records:  # equal, not the same objects: the editor builds an edited record anew at each run
        return
    job.follow(records, job.key[1], task.result)
    review: Review | None = st.session_state[REVIEW]
    lost = 0
    if review is not None:
        st.session_state[REVIEW], lost = rescore.rescore_review(review, task.result)
    named = ", ".join(str(m + 1) for m in sorted(edited)[:NAMED_STALE]) + (
        f" and {len(edited) - NAMED_STALE:,} more" if len(edited) > NAMED_STALE else "")
    st.session_state[RESCORED] = (
        f"Record{'s' if len(edited) != 1 else ''} {named} scored again on {'their' if len(edited) != 1 else 'its'} "
        "text now" + (f"; {lost:,} decision{'s' if lost != 1 else ''} went with the clusters they changed: decide "
                      f"{'those' if lost != 1 else 'that one'} again, the others stay." if lost else "."))
    st.rerun()


def _stale_line(clusters: list, edited: frozenset) -> str | None:
    """The line naming the clusters holding records edited in the Edit tab since the run (their scores are the old
    text's), or None."""
    stale = [k for k, c in enumerate(clusters) if edited.intersection(c.members)]
    if not stale:
        return None
    recs = sorted(m for k in stale for m in clusters[k].members if m in edited)

    def said(items: list[int]) -> str:
        return ", ".join(str(i + 1) for i in items[:NAMED_STALE]) + (
            f" and {len(items) - NAMED_STALE:,} more" if len(items) > NAMED_STALE else "")

    one = len(stale) == 1
    return (f"Cluster{'' if one else 's'} {said(stale)} hold{'s' if one else ''} record{'' if len(recs) == 1 else 's'} "
            f"{said(recs)} edited in the Edit tab since the run: {'its' if one else 'their'} scores and suggested "
            "record are from the text before the edit, which may no longer be a duplicate. Score "
            f"{'them' if len(recs) != 1 else 'it'} again below (the rest stay as the run scored them), or press Find "
            "duplicates to run again.")


def _cluster(review: Review, records: list[dict], k: int, decision, edited: frozenset = frozenset()) -> None:
    c = review.clusters[k]
    with st.container(border=True, key=f"dedup-cluster-{k}"):
        fuzzy_top, cos_top = c.tops()  # found by both finders: each scale said apart, never cosine x 100 as a score
        score = ("identical text (case and punctuation aside)" if c.kind == "exact"
                 else f"cosine {c.top_score / 100:.3f}" if c.kind == "semantic"
                 else f"top score {fuzzy_top:.1f} · cosine {cos_top / 100:.3f}"
                 if "semantic" in c.kind and fuzzy_top is not None and cos_top is not None
                 else f"cosine {c.top_score / 100:.3f}" if c.kind == "exact+semantic"
                 else f"top score {c.top_score:.1f}")
        badges = " ".join(f":{KIND_COLORS.get(kind, 'gray')}-badge[{kind}]" for kind in c.kind.split("+"))
        changed = " · :orange-badge[edited since the run]" if edited.intersection(c.members) else ""
        st.markdown(f"**Cluster {k + 1}** · {len(c.members)} records · {score} · {badges}{changed} · "
                    f"*{_status(decision)}*")
        ref = records[c.keep]
        shown = list(c.members[:CARDS]) if c.keep in c.members[:CARDS] else [c.keep, *c.members[:CARDS - 1]]
        per_row = min(3, len(shown))  # the cards share the whole width: two records, two halves
        for row in range(0, len(shown), per_row):
            cols = st.columns(per_row)
            for col, m in zip(cols, shown[row:row + per_row]):
                with col:
                    r = records[m]
                    kept = decision is not None and (decision.action == "keep_all" or decision.keep == m)
                    dropped = decision is not None and decision.action != "keep_all" and not kept
                    label = f"Record {m + 1}" + (" · suggested" if m == c.keep else "")
                    st.markdown(f"**{label}**" + (" · ~~dropped~~" if dropped else ""))
                    # One HTML block each: Markdown in a record (an image, a link) is shown, never rendered.
                    st.markdown(html_block("<b>Q:</b> " + _text_html(r.get("question"), ref.get("question"))),
                                unsafe_allow_html=True)
                    st.markdown(html_block("<b>A:</b> " + _text_html(r.get("answer"), ref.get("answer"))),
                                unsafe_allow_html=True)
                    if isinstance(r.get("context"), str) and r["context"].strip():
                        st.markdown(html_block("<b>Passage:</b> " + _passage_html(r["context"], ref.get("context"))),
                                    unsafe_allow_html=True)
                    st.button("Keep this one", key=f"dedup.keep.{k}.{m}", on_click=_act,
                              args=(review.keep_one, k, m), type="primary" if kept and decision.action == "keep_one"
                              else "secondary")
        if decision is not None and decision.action == "merge" and decision.merged is not None:
            _merged_card(decision.merged, len(c.members))
        if len(c.members) > len(shown):
            st.caption(f"{len(c.members) - len(shown):,} more records in this cluster are not shown; the buttons "
                       "below and Keep the suggested of each apply to all of them.")
        a1 = a2 = _row(vertical_alignment="top")
        a1.button("Keep all: not duplicates", key=f"dedup.keepall.{k}", on_click=_act, args=(review.keep_all, k))
        with a2.expander("Merge into one edited record"):
            st.session_state[f"dedup.merge.{k}.base"] = dict(ref)
            _merge_box("Question", f"dedup.merge.{k}.q", (c.members, "q"), str(ref.get("question", "")))
            _merge_box("Answer", f"dedup.merge.{k}.a", (c.members, "a"), str(ref.get("answer", "")))
            st.button("Merge", key=f"dedup.merge.{k}", on_click=_act, args=(_merge, review, k))


def _row(vertical_alignment: str = "bottom"):
    """A row of widgets, each as wide as it needs (a box: its share of the rest), wrapping onto the next line when
    the page is too narrow for them all."""
    return st.container(horizontal=True, vertical_alignment=vertical_alignment)


def _merge_box(label: str, key: str, typed_for: tuple, suggested: str) -> None:
    """A merge box whose text belongs to the cluster it was typed for (``typed_for``: its members and the field), kept
    in ``TYPED``: it stays as typed while another tab is shown (the tab is drawn only while open, and Streamlit drops a
    widget's state in a run that does not draw it), and when another threshold puts another cluster in this place, that
    cluster's box shows its own text (the text typed for the one before stayed, over records it was not typed for)."""
    typed = st.session_state.setdefault(TYPED, {})
    if key not in st.session_state or st.session_state.get(f"{key}.for") != typed_for:
        st.session_state[key] = typed.get(typed_for, suggested)
    st.session_state[f"{key}.for"] = typed_for
    text = st.text_area(label, max_chars=len(suggested) + ui.LONG_TEXT_CHARS, key=key)  # never cuts the merge
    if text == suggested:
        typed.pop(typed_for, None)
    else:
        typed[typed_for] = text


def _typed_elsewhere(clusters: list) -> None:
    """Say where text typed in a merge box waits: at this threshold its records are no longer that one cluster (some
    left it, or others joined it), so it is not offered for the records there now; it comes back with the cluster."""
    typed = st.session_state.get(TYPED) or {}
    here = {c.members for c in clusters}
    waiting = sorted({members for members, _ in typed if members not in here})
    if not waiting:
        return
    named = "; ".join("records " + ", ".join(str(m + 1) for m in members[:6]) + (" …" if len(members) > 6 else "")
                      for members in waiting[:3]) + (f"; and {len(waiting) - 3:,} more" if len(waiting) > 3 else "")
    one = len(waiting) == 1
    st.info(f"Text you typed to merge {'a cluster' if one else f'{len(waiting):,} clusters'} ({named}) is set aside: "
            f"at this threshold {'those records are' if one else 'their records are'} no longer "
            f"{'that cluster' if one else 'those clusters'}. Move the threshold back to see it again.",
            icon=":material/edit_off:")


def _merged_card(merged: dict, members: int) -> None:
    """The record a merge put in the cluster's place, in the card under the records it replaces (marked dropped): it
    was shown only in the "Merge into one edited record" expander, closed after the merge."""
    with st.container(border=True):
        st.markdown(f"**Merged record** · replaces the {members:,} records above")
        for field, name in (("question", "Q"), ("answer", "A")):
            st.markdown(html_block(f"<b>{name}:</b> " + _text_html(merged.get(field), merged.get(field))),
                        unsafe_allow_html=True)


PASSAGE_CHARS = 600  # of each record's passage shown on its card
CARDS = 12  # records shown per cluster: 200,000 copies of one question show a dozen and say how many more
SHOWN_CHARS = 2_000  # of a question or answer shown on its card: a 10 MB question is not sent to the browser


def _text_html(text: object, other: object) -> str:
    """A record's question or answer, its words that differ from the suggested record's marked (the start of it)."""
    text, other = (x if isinstance(x, str) else "" for x in (text, other))
    return diff_html(text[:SHOWN_CHARS], other[:SHOWN_CHARS]) + (" …" if len(text) > SHOWN_CHARS else "")


def _passage_html(passage: str, other: object) -> str:
    """The start of a record's passage, its words that differ from the suggested record's marked."""
    other = other if isinstance(other, str) else ""
    cut = len(passage) > PASSAGE_CHARS
    return diff_html(passage[:PASSAGE_CHARS], other[:PASSAGE_CHARS]) + (" …" if cut else "")
