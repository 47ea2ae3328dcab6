"""Near-duplicate detection: exact duplicates after normalisation and fuzzy ones with rapidfuzz.

``find_duplicates(texts, threshold, scorer)`` returns clusters (connected components of pairs whose
score reaches the threshold). It never compares all pairs of a large list: unique normalised texts are
compared either exhaustively within length windows (small inputs: the same answer as ``cdist``) or
through candidate pairs that share one of their rarest character q-grams (large inputs), and every
candidate is verified with the same rapidfuzz scorer, so no pair below the threshold is ever reported.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from rapidfuzz import fuzz, process

from studio.dedup import bounds, qgrams
from studio.dedup import clusters as cl
from studio.dedup.text import FIELDS, field_texts, normalize  # noqa: F401 - FIELDS re-exported for the page
from studio.errors import CancelledError, StudioError
from studio.tasks import ProgressFn, Task

SCORERS: dict[str, Callable[..., float]] = {
    "ratio": fuzz.ratio,
    "token_set_ratio": fuzz.token_set_ratio,
    "partial_ratio": fuzz.partial_ratio,
    "WRatio": fuzz.WRatio,
}
METHODS = ("fuzzy", "semantic", "both")  # characters (rapidfuzz), meaning (embeddings), or the two combined
MAX_CHARS = 5_000  # texts are compared on their first 5,000 normalised characters: a 1 MB answer stays fast
EXACT_BUDGET = 30_000_000  # up to this many length-compatible pairs, compare them all (about a second)
SHORT = 30  # on large inputs, texts up to 30 characters are compared with all their length-compatible partners
SHORT_BUDGET = 300_000_000  # pairs of short texts compared in full (a few seconds of SIMD cdist)
MAX_PAIRS = 5_000_000  # more pairs than this means the threshold is too low to be useful


class TooManyPairs(StudioError):
    """A threshold that pairs more than ``MAX_PAIRS`` records (refused before the run where its sample shows it)."""


class PairsPast(Exception):
    """``find_duplicates`` stopped past its ``max_pairs``: ``count`` pairs in all."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.count = count


Progress = ProgressFn  # (done, total[, what is happening])


@dataclass(frozen=True)
class DedupConfig:
    threshold: float = 90.0  # rapidfuzz score 0-100 a pair must reach; 90 = about one edit in ten characters
    scorer: str = "ratio"  # one of SCORERS; ratio is the fastest and the only one with a length bound
    field: str = "question"  # "question", "answer" or "both" (the two joined by a newline)
    method: str = "fuzzy"  # one of METHODS
    semantic_threshold: float = 0.9  # cosine similarity a pair must reach (semantic and both)
    embedding_model: str | None = None  # sentence-transformers id or folder; None: all-MiniLM-L6-v2
    passage: bool = True  # records with a context match only when their passages match too
    scoring: str = "fast"  # semantic: "fast" (static embeddings) or "precise" (candidates re-scored by MiniLM)

    def __post_init__(self) -> None:
        check_threshold(self.threshold)
        check_scorer(self.scorer)
        if self.field not in FIELDS:
            raise StudioError(f"Unknown field {self.field!r}: choose one of {', '.join(FIELDS)}.")
        if self.method not in METHODS:
            raise StudioError(f"Unknown method {self.method!r}: choose one of {', '.join(METHODS)}.")
        if self.method != "fuzzy":
            from studio.dedup.semantic import validate_threshold
            from studio.dedup.semantic_records import check_scoring

            validate_threshold(self.semantic_threshold)
            check_scoring(self.scoring)

    @property
    def floor(self) -> float:
        """The lowest score (0-100) any pair found can have: the start of the review's threshold slider."""
        if self.method == "fuzzy":
            return float(self.threshold)
        cosine = 100.0 * float(self.semantic_threshold)
        return cosine if self.method == "semantic" else min(float(self.threshold), cosine)


def check_threshold(threshold: float) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise StudioError(f"The threshold must be a number from 0 to 100, not {threshold!r}.") from None
    if not 0 <= value <= 100:  # also rejects NaN
        raise StudioError(f"The threshold must be from 0 to 100, not {threshold}: try 90.")
    return value


def check_scorer(scorer: str) -> Callable[..., float]:
    if scorer not in SCORERS:
        raise StudioError(f"Unknown scorer {scorer!r}: choose one of {', '.join(SCORERS)}.")
    return SCORERS[scorer]


def prepare(texts: Sequence[str]) -> list[str]:
    """The strings the scorers see: normalised and cut to ``MAX_CHARS``."""
    return [normalize(t[: MAX_CHARS * 4])[:MAX_CHARS] for t in texts]


def find_duplicates(
    texts: Sequence[str],
    threshold: float = 90.0,
    scorer: str = "ratio",
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    method: str = "auto",
    choose_keep: Callable[[Sequence[int]], int] | None = None,
    max_pairs: int | None = None,
) -> list[cl.Cluster]:
    """Clusters of texts whose pairwise score reaches ``threshold``, highest-scoring first.

    ``max_pairs``: past this many pairs, ``PairsPast`` (with the pairs counted in all) is raised before any cluster is
    made: the estimate's sample of 1,000 very similar texts paired half a million and clustered them for 4 s at every
    save of the dataset, only to be refused.

    Empty texts are never duplicates. ``method`` is "auto", "exhaustive" (every length-compatible
    pair) or "candidates" (q-gram candidates, verified). ``progress(done, total)`` is called as work
    proceeds; setting ``cancel`` raises ``CancelledError``.
    """
    t = check_threshold(threshold)
    fn = check_scorer(scorer)
    if method not in ("auto", "exhaustive", "candidates"):
        raise StudioError(f"Unknown method {method!r}: use auto, exhaustive or candidates.")
    prepared = prepare(texts)
    # Each text's first copy (a dict of first indices: a third of the time of a list per text group).
    first: dict[str, int] = {}
    rep = np.fromiter((first.setdefault(s, i) for i, s in enumerate(prepared)), dtype=np.int64, count=len(prepared))
    first.pop("", None)  # empty texts are never duplicates
    uniq = list(first)
    reps = list(first.values())
    copies = np.flatnonzero(rep != np.arange(len(rep))).tolist()
    pairs = [cl.Pair(r, j, 100.0) for j, r in zip(copies, rep[copies].tolist()) if prepared[j]]
    _check(cancel)
    found_pairs = iter(_fuzzy_pairs(uniq, t, scorer, fn, method, progress, cancel))  # a list, for small inputs
    for a, b, score in found_pairs:
        i, j = sorted((reps[a], reps[b]))
        pairs.append(cl.Pair(i, j, score))
        if max_pairs is not None and len(pairs) > max_pairs:
            raise PairsPast(len(pairs) + sum(1 for _ in found_pairs))  # the rest counted, not kept
    found = cl.connected_clusters(len(texts), pairs, kind="fuzzy", choose_keep=choose_keep)
    # A cluster whose members are all the same text after normalisation is an exact one.
    return [replace(c, kind="exact") if len({prepared[m] for m in c.members}) == 1 else c for c in found]


def dedup_records(
    records: Sequence[dict],
    config: DedupConfig = DedupConfig(),
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    embedder=None,
    vectors: list | None = None,
) -> list[cl.Cluster]:
    """Duplicate clusters over a field of Q&A records, suggesting the most complete record to keep.

    ``config.method``: "fuzzy" (rapidfuzz, ``find_duplicates``), "semantic" (embeddings,
    ``studio.dedup.semantic_records``; scores are cosine x 100) or "both" (the two combined: overlapping
    clusters merge and their kind reads "fuzzy+semantic"). With ``config.passage``, records with a
    ``context`` match only when their passages match too. ``embedder`` overrides the shared
    sentence-transformer (the static model's source and the precise re-scoring). ``vectors``: the semantic pass's
    embeddings are appended to it (``semantic_records.Vectors``), for ``studio.dedup.rescore``.
    """
    from studio.dedup import semantic_records

    texts = field_texts(records, config.field)
    passages = semantic_records.record_passages(records) if config.passage else None

    most_complete = suggest(records)
    fuzzy_found: list[cl.Cluster] = []
    share = 0.2 if config.method == "both" else 1.0  # of the progress bar; the semantic part gets the rest
    if config.method != "semantic":
        search = _search_texts(texts, passages)
        start = time.perf_counter()
        fuzzy_found = find_duplicates(search, config.threshold, config.scorer, progress=_part(progress, 0, share),
                                      cancel=cancel, choose_keep=most_complete)
        _learn(search, config, time.perf_counter() - start)
        if passages is not None:
            fuzzy_found = _respect_passages(fuzzy_found, texts, passages, config, most_complete)
        if config.method == "fuzzy":
            return fuzzy_found
    begin = share if config.method == "both" else 0.0
    found = semantic_records.find(records, config, progress=_part(progress, begin, 1 - begin), cancel=cancel,
                                  embedder=embedder, choose_keep=most_complete, vectors=vectors)
    if config.method == "semantic":
        return found
    from studio.dedup import semantic

    return semantic.combine_clusters(len(records), fuzzy_found, found, choose_keep=most_complete)


def suggest(records: Sequence[dict]) -> Callable[[Sequence[int]], int]:
    """How a cluster's suggested record is chosen: the most complete (longest question and answer), the first of equals."""
    return lambda members: max(members, key=lambda m: (len(field_texts([records[m]], "both")[0]), -m))


def _search_texts(texts: Sequence[str], passages: Sequence[str] | None) -> list[str]:
    """What the fuzzy pass compares: each text, joined with its passage when passages are compared."""
    if passages is None:
        return list(texts)
    return [f"{t}\n{p}" if normalize(t) else "" for t, p in zip(texts, passages)]


SAMPLE_TEXTS = 1_000  # distinct texts the fuzzy estimate times at most (fewer when they are long)
CANDIDATES_GROW = 1.15  # large inputs: the time grows as the texts to this power (measured below)
SAMPLE_CHARS = 100_000  # characters of them: a sample of 5,000-character answers is 20 texts, timed in well under 1 s


def estimate_seconds(records: Sequence[dict], config: DedupConfig) -> float:
    """How long the fuzzy pass of ``dedup_records`` takes on ``records`` here, from a timed sample of its texts (a
    fraction of a second): a run in full on up to ``SAMPLE_TEXTS`` distinct texts, scaled to the rest by the pairs it
    compares in full (small inputs: every length-compatible pair) or by the texts (large inputs, whose q-gram
    candidates grow with them). A threshold the run would refuse (far too many pairs) is refused here, a ``StudioError``."""
    from studio.dedup import semantic_records

    passages = semantic_records.record_passages(records) if config.passage else None
    search = _search_texts(field_texts(records, config.field), passages)
    uniq = list(dict.fromkeys(t for t in prepare(search) if t))
    if len(uniq) < 2:
        return 0.0
    mean = sum(map(len, uniq)) / len(uniq)
    size = int(min(len(uniq), SAMPLE_TEXTS, max(20, SAMPLE_CHARS // max(mean, 1))))
    sample = uniq if size >= len(uniq) else [uniq[k * len(uniq) // size] for k in range(size)]
    t = float(config.threshold)
    # The pairs grow with the square of the texts: a threshold that pairs most of the sample pairs millions in the
    # whole, which the run refuses only after it has compared texts for many minutes; refused here instead, as soon
    # as the sample's pairs say so (clustering them first took 4 s on 1,000 very similar texts, at every save)
    grown = (len(uniq) / len(sample)) ** 2
    start = time.perf_counter()
    try:  # a refusal here is the run's: raised, not timed
        found = find_duplicates(sample, config.threshold, config.scorer,
                                max_pairs=None if len(sample) == len(uniq) else int(2 * MAX_PAIRS / grown))
        pairs = sum(len(c.pairs) for c in found) * grown
    except PairsPast as past:
        pairs = past.count * grown
    took = time.perf_counter() - start
    if len(sample) == len(uniq):
        return took
    if pairs > 2 * MAX_PAIRS:
        raise TooManyPairs(f"The threshold {t:g} would make about {_about(pairs)} duplicate pairs in these {len(uniq):,} "
                           f"texts, more than {MAX_PAIRS:,}: {_raise_it(t)}, or match by meaning (semantic), which keeps "
                           "each record's closest partners only.")
    full, part = _scored(uniq, t, config.scorer), _scored(sample, t, config.scorer)
    # Through q-gram candidates the time grows a little faster than the texts (more of them share each q-gram):
    # measured here, 12 words a text, 1,000 sampled: 30,000 texts 11.5 s, 100,000 texts 18.6 s, against 5.7 s and
    # 12.0 s scaled linearly and 9.5 s and 23.9 s with this power.
    grows = (len(uniq) / len(sample)) ** CANDIDATES_GROW
    way = "texts"
    if full is not None and part:  # compared in full: the cells ``cdist`` scores set the time
        grows = max(len(uniq) / len(sample), full / part)
        way = "cells"
    # Learned apart: short texts' estimates ran a little under, long texts' 1.1-2.8x over.
    kind = f"{way}:{config.scorer}:{'long' if mean > LONG_TEXT else 'short'}"
    _estimated[_fingerprint(search, config)] = (kind, took * grows)
    while len(_estimated) > 16:
        _estimated.pop(next(iter(_estimated)))
    return took * grows * pace(kind)


LONG_TEXT = 200  # characters a text on average, past which an estimate's correction is learned apart
_estimated: dict[tuple, tuple[str, float]] = {}  # {the run's inputs: (how it was scaled, its estimate before pace)}
LEARN_ABOVE = 0.5  # seconds: a shorter run's time is too much noise to learn the estimate's correction from
PACE_RANGE = (0.2, 5.0)  # one correction at most this far either way


def pace(kind: str) -> float:
    """What the last runs here took over their estimates, the median of the last ``timings.HISTORY`` (1 before any):
    the sample's scaling to the whole (``kind``: by the cells scored or by the texts, per scorer, short or long texts)
    is off by a factor that depends on the texts and the machine (1.1-2.8x over on long texts); real runs correct
    it."""
    from studio.dedup import timings

    got = timings.measured(kind, file=timings.FUZZY_FILE).get("pace", 1.0)
    return min(max(got, PACE_RANGE[0]), PACE_RANGE[1])


def _basis(records: Sequence[dict], config: DedupConfig) -> str:
    """How the last ``estimate_seconds`` of ``records`` was had (``semantic_records.Estimate.fuzzy_basis``)."""
    from studio.dedup import semantic_records, timings

    passages = semantic_records.record_passages(records) if config.passage else None
    got = _estimated.get(_fingerprint(_search_texts(field_texts(records, config.field), passages), config))
    if got is None:
        return "full"
    return "learned" if "pace" in timings.measured(got[0], file=timings.FUZZY_FILE) else "sample"


def _fingerprint(search: Sequence[str], config: DedupConfig) -> tuple:
    return len(search), sum(map(len, search)), float(config.threshold), config.scorer


def _learn(search: Sequence[str], config: DedupConfig, took: float) -> None:
    """Keep what the fuzzy pass took over what its estimate said beforehand (in this process, on these texts)."""
    from studio.dedup import timings

    got = _estimated.get(_fingerprint(search, config))
    if got is None or took < LEARN_ABOVE or got[1] <= 0:
        return
    timings.remember(got[0], file=timings.FUZZY_FILE, pace=took / got[1])


def _scored(texts: Sequence[str], t: float, scorer: str) -> int | None:
    """The cells ``_exhaustive_pairs`` scores on ``texts`` (its blocks, lower triangles included), or None when they
    are compared through q-gram candidates instead (more than ``EXACT_BUDGET`` length-compatible pairs)."""
    lengths = np.sort(np.fromiter((len(x) for x in texts), dtype=np.int64, count=len(texts)))
    hi = np.searchsorted(lengths, max_partner_length(lengths, t, scorer), side="right")
    if int((hi - np.arange(len(texts)) - 1).sum()) > EXACT_BUDGET:
        return None
    cells, start = 0, 0
    while start < len(texts):  # the blocks ``_exhaustive_pairs`` makes
        width = max(1, int(hi[start]) - start)
        stop = min(len(texts), start + max(16, min(2000, 4_000_000 // width)))
        cells += (stop - start) * (int(hi[stop - 1]) - start)
        start = stop
    return cells


def estimate(records: Sequence[dict], config: DedupConfig):
    """``semantic_records.estimate`` for a run with semantic matching, its fuzzy pass timed too in "Both"
    (``estimate_seconds``), so the time said covers the whole run; a fuzzy-only run's is its fuzzy pass alone."""
    from dataclasses import replace as with_fields

    from studio.dedup import semantic_records

    if config.method == "fuzzy":  # estimated too, so that the run teaches the next estimate (``_learn``)
        seconds = estimate_seconds(records, config)
        return semantic_records.Estimate(len(records), 0.0, None, False, method="fuzzy", fuzzy_seconds=seconds,
                                         fuzzy_basis=_basis(records, config))
    est = semantic_records.estimate(records, config)
    if config.method == "both":
        est = with_fields(est, fuzzy_seconds=estimate_seconds(records, config))
    return est


def _respect_passages(found: Sequence[cl.Cluster], texts: Sequence[str], passages: Sequence[str],
                      config: DedupConfig, choose_keep) -> list[cl.Cluster]:
    """Keep the pairs whose passages also reach the threshold, scored by the lower of the two.

    The pairs were found on text and passage joined; for ``ratio`` a pair whose text and passage
    each reach t scores at least t joined (the joined ratio lies between the two), so none is missed.
    """
    fn = SCORERS[config.scorer]
    pairs = []
    for c in found:
        for p in c.pairs:
            pa, pb = prepare([passages[p.i], passages[p.j]])
            passage = 100.0 if pa == pb else fn(pa, pb)
            if passage < config.threshold:
                continue
            qa, qb = prepare([texts[p.i], texts[p.j]])
            score = min(100.0 if qa == qb else fn(qa, qb), passage)
            if score >= config.threshold:
                pairs.append(cl.Pair(p.i, p.j, round(score, 2)))
    out = cl.connected_clusters(len(texts), pairs, kind="fuzzy", choose_keep=choose_keep)
    same = [normalize(f"{t}\n{p}"[:MAX_CHARS * 4])[:MAX_CHARS] for t, p in zip(texts, passages)]
    return [replace(c, kind="exact") if len({same[m] for m in c.members}) == 1 else c for c in out]


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise CancelledError("Dedup stopped before it finished: nothing was changed. Run it again when ready.")


def max_partner_length(lengths: np.ndarray, threshold: float, scorer: str) -> np.ndarray:
    """The longest text that can still reach ``threshold`` with a text of each length (ratio only)."""
    if scorer != "ratio" or threshold <= 0:
        return np.full(len(lengths), 2**40, dtype=np.int64)
    # ratio = 200 * LCS / (a + b) <= 200 * a / (a + b), so b <= a * (200 - t) / t.
    with np.errstate(over="ignore"):
        bound = np.floor(lengths * ((200.0 - threshold) / threshold) + 1e-9)
    return np.minimum(bound, 2.0**40).astype(np.int64)  # a tiny threshold allows any length


def _fuzzy_pairs(uniq, t, scorer, fn, method, progress, cancel):
    if len(uniq) < 2:
        return []
    lengths = np.fromiter((len(s) for s in uniq), dtype=np.int64, count=len(uniq))
    order = np.argsort(lengths, kind="stable")
    sorted_len = lengths[order]
    hi = np.searchsorted(sorted_len, max_partner_length(sorted_len, t, scorer), side="right")
    compatible = int((hi - np.arange(len(uniq)) - 1).sum())
    if method == "exhaustive" or (method == "auto" and compatible <= EXACT_BUDGET):
        return _exhaustive_pairs(uniq, order, hi, t, fn, len(uniq), progress, cancel)
    if scorer != "ratio":
        return _candidate_pairs(uniq, lengths, t, scorer, fn, 0, progress, cancel)
    # Short texts share few rare q-grams, but SIMD cdist scores them fast: compare them all, up to
    # SHORT characters, or fewer where that would pass SHORT_BUDGET pairs (about 22 for a million texts).
    short_len = SHORT
    while True:
        rows = int(np.searchsorted(sorted_len, short_len, side="right"))
        if short_len <= 12 or int((hi[:rows] - np.arange(rows) - 1).sum()) <= SHORT_BUDGET:
            break
        short_len -= 2
    short = _exhaustive_pairs(uniq, order, hi, t, fn, rows, _part(progress, 0, 0.5), cancel)
    return short + _candidate_pairs(uniq, lengths, t, scorer, fn, short_len, _part(progress, 0.5, 0.5), cancel)


def _part(progress: Progress | None, offset: float, width: float) -> Progress | None:
    """Report a stage of the work, from ``offset`` to ``offset + width`` of the whole (fractions of
    one), as one progress from 0 to 1000."""
    if progress is None:
        return None
    return lambda done, total, *what: progress(int(1000 * (offset + width * done / max(total, 1))), 1000, *what)


def _guard(count: int, t: float) -> None:
    if count > MAX_PAIRS:
        raise TooManyPairs(f"The threshold {t:g} makes more than {MAX_PAIRS:,} duplicate pairs: {_raise_it(t)}.")


def _about(n: float) -> str:
    """A large estimated count as a person reads it: "12 million", "31 billion" (its digits, "31,218,750,000", were
    a wall to count); under a million as it is, to the nearest thousand."""
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if n >= size:
            return f"{n / size:,.0f} {word}" if n >= 10 * size else f"{n / size:.1f} {word}"
    return f"{round(n, -3):,.0f}"


def _raise_it(threshold: float) -> str:
    """What a refusal of too many pairs says to do: 'try 90' from 90 up told a user to keep the threshold refused."""
    return "raise it (try 90)" if threshold < 90 else "raise it closer to 100"


def _exhaustive_pairs(uniq, order, hi, t, fn, rows, progress, cancel):
    """Every pair, in sorted-length order, whose lengths allow the threshold, scored by ``cdist``.

    Only the first ``rows`` texts in length order are compared with their partners.
    """
    strings = [uniq[i] for i in order]
    out: list[tuple[int, int, float]] = []
    start = 0
    while start < rows:
        _check(cancel)
        width = max(1, int(hi[start]) - start)
        stop = min(rows, start + max(16, min(2000, 4_000_000 // width)))
        end_col = int(hi[stop - 1])
        scores = process.cdist(strings[start:stop], strings[start:end_col], scorer=fn, score_cutoff=t,
                               workers=-1, dtype=np.float32)
        r, c = np.nonzero(scores >= t) if t > 0 else np.nonzero(np.ones_like(scores, dtype=bool))
        keep = c > r  # upper triangle: each pair once, no self-pairs
        r, c = r[keep], c[keep]
        out.extend(zip(order[start + r].tolist(), order[start + c].tolist(), scores[r, c].astype(float).tolist()))
        _guard(len(out), t)
        start = stop
        if progress:
            progress(start, max(rows, 1))
    return out


def _candidate_pairs(uniq, lengths, t, scorer, fn, min_length, progress, cancel):
    """Pairs sharing rare q-grams (see ``studio.dedup.qgrams``), verified with ``cpdist`` in chunks."""
    symmetric = scorer == "ratio"
    # ratio: most candidates cannot reach t by their character counts alone, and are dropped as they are made
    # (counted in a thread of its own beside the blocking, which needs them only once it makes pairs)
    with ThreadPoolExecutor(1) as pool:
        counts = pool.submit(bounds.char_counts, uniq) if symmetric else None
        a_all, b_all = qgrams.candidate_pairs(
            uniq, lengths, symmetric=symmetric, max_partner=lambda x: max_partner_length(x, t, scorer),
            min_length=min_length, min_shared=2 if symmetric else 1, cancel=cancel,
            keep=None if counts is None else lambda a, b: bounds.may_reach(counts.result(), lengths, a, b, t))
    total = len(a_all)
    out: list[tuple[int, int, float]] = []
    step = 500_000
    # The strings of each chunk's pairs by a numpy take on an object array: C speed, where a Python list
    # comprehension over the indices cost as much as the scoring itself (cProfile, 200,000 questions).
    strings = np.empty(len(uniq), dtype=object)
    strings[:] = uniq

    def verify(s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        _check(cancel)
        a, b = a_all[s:s + step], b_all[s:s + step]
        scores = process.cpdist(strings[a].tolist(), strings[b].tolist(), scorer=fn,
                                score_cutoff=t, workers=1, dtype=np.float32)
        hit = np.flatnonzero(scores >= t)
        return a[hit], b[hit], scores[hit]

    # Chunks are verified two at a time, one per core: numpy gathers and rapidfuzz release the GIL.
    with ThreadPoolExecutor(2) as pool:
        for s, (a, b, scores) in zip(range(0, total, step), pool.map(verify, range(0, total, step))):
            out.extend(zip(a.tolist(), b.tolist(), scores.astype(float).tolist()))
            _guard(len(out), t)
            if progress:
                progress(min(total, s + step), total)
    if progress and not total:
        progress(1, 1)
    return out


STOPPING = ("Stopping… a step that cannot be interrupted (loading the embedding model) ends first, then the run "
            "stops; nothing is changed.")


PAGE_PAUSE = 0.3  # seconds a run begun by a page waits, for the page's bar to reach the browser


class DedupJob(Task):
    """One dedup run in a worker thread (``studio.tasks.Task``): the page polls ``progress`` and reads ``result``."""

    def __init__(self, key: tuple, embedder: object | None = None):
        super().__init__("Dedup")
        self.key = key  # what it ran on: (dataset id, base version, record count, config)
        self.embedder = embedder  # a sentence-transformer to use (studio.dedup.embed.Embedder); None: the shared one
        self.estimate = None  # what the page said the run would take (studio.dedup.semantic_records.Estimate)
        self.started = time.monotonic()
        self._input: tuple[list[dict], DedupConfig] | None = None
        self.queued = False  # set aside by ``queue``, not begun yet
        self.paused = False  # begun by ``begin``: the work waits ``PAGE_PAUSE`` first
        self.edited_since: frozenset[int] = frozenset()  # records (their indices) edited since the run (``follow``)
        self.vectors: list = []  # the semantic pass's embeddings (``semantic_records.Vectors``), for ``rescore``

    def work(self) -> list[cl.Cluster]:
        if self.paused:  # begun by a page that has just drawn its bar: give its messages time to leave first
            self.stop.wait(PAGE_PAUSE)
        records, config = self._input
        self.vectors = []
        return dedup_records(records, config, progress=self.report, cancel=self.stop, embedder=self.embedder,
                             vectors=self.vectors)

    @property
    def records(self) -> list[dict]:
        """The records it ran on (as ``follow`` last carried them over); empty before it was given any."""
        return self._input[0] if self._input else []

    def follow(self, records: Sequence[dict], base: int, result: list[cl.Cluster],
               edited: frozenset[int] = frozenset()) -> None:
        """Carried over to ``records`` (version ``base`` with its edits): ``result`` is its clusters followed there
        (``studio.dedup.follow``), ``edited`` the records there edited since the run (their scores the old text's)."""
        self.edited_since = edited
        config = self._input[1]
        self._input = (list(records), config)
        self.key = (self.key[0], base, len(records), *self.key[3:])
        self.result = result
        self.empty_texts = None  # counted again on these records

    def report(self, done: int, total: int, message: str = "") -> None:
        # After Stop, the bar says so whatever step reports next: loading a model cannot be interrupted, so a
        # person waiting a few seconds more must not see the run go on as if Stop was missed
        super().report(done, total, STOPPING if self.stop.is_set() else message)

    def cancel(self) -> None:
        super().cancel()
        self.report(self.progress.done, self.progress.total)

    def failure_message(self, exc: BaseException) -> str:
        if isinstance(exc, MemoryError):
            return "Dedup ran out of memory: raise the threshold or compare the question only."
        return super().failure_message(exc)

    def run(self, records: Sequence[dict] | None = None, config: DedupConfig | None = None) -> None:
        """Do the work here (small inputs), or in the worker thread ``start`` made."""
        if records is not None:
            self._input = (list(records), config or DedupConfig())
        super().run()

    def start(self, records: Sequence[dict], config: DedupConfig) -> DedupJob:
        self._input = (list(records), config)
        self.started = time.monotonic()
        super().start()
        return self

    def queue(self, records: Sequence[dict], config: DedupConfig) -> DedupJob:
        """Counted as running from now, started by ``begin``: a page draws its progress first, then begins it.
        Loading the embedding model holds the interpreter for seconds at a time; begun at once, it kept the page from
        drawing the bar and the seconds counted, so the click seemed to do nothing."""
        self._input = (list(records), config)
        self.started = time.monotonic()
        self.queued = True
        return self

    def begin(self) -> None:
        """Start the work ``queue`` set aside (nothing when there is none, or it started already)."""
        if self.queued:
            self.queued = False
            records, config = self._input
            started = self.started
            self.paused = True
            self.start(records, config)
            self.started = started  # the seconds count from the click

    @property
    def running(self) -> bool:
        return self.queued or super().running


def clusters_at(found: Sequence[cl.Cluster], threshold: float) -> list[cl.Cluster]:
    """Re-cluster at a higher ``threshold`` without scoring again (the live count as a slider moves)."""
    t = check_threshold(threshold)
    out: list[cl.Cluster] = []
    for source in found:
        pairs = [p for p in source.pairs if p.score >= t]
        index = {m: k for k, m in enumerate(source.members)}
        local = [cl.Pair(index[p.i], index[p.j], p.score, p.kind) for p in pairs]
        for sub in cl.connected_clusters(len(source.members), local, kind=source.kind):
            members = tuple(source.members[k] for k in sub.members)
            keep = source.keep if source.keep in members else members[0]
            sub_pairs = tuple(cl.Pair(source.members[p.i], source.members[p.j], p.score, p.kind) for p in sub.pairs)
            out.append(cl.Cluster(members, sub_pairs, keep, cl.kind_of(sub_pairs, source.kind)))
    return sorted(out, key=lambda c: (-c.top_score, c.members))

