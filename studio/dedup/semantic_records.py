"""Semantic dedup of records: static-embedding candidates, the passage, and MiniLM where quality needs it.

``find(records, config)`` is what the Duplicates tab and ``python -m studio dedup --method semantic``
run:

1. identical texts (after normalisation; with the passage, when it is compared) are grouped and
   embedded once: 200,000 copies of one question cost one embedding;
2. the rest are embedded with the static model (``studio.dedup.static``; built once into the
   workspace on the first run that needs it) and compared with ``studio.dedup.cells``; while it is
   not built, a small dataset (up to ``DIRECT_UP_TO`` texts to embed) is embedded with the
   sentence-transformer itself instead: about a second for a few records, against minutes to build;
3. a record with a ``context`` (its passage) is a duplicate only when its passage matches too: the
   pair's score is the lower of the two similarities, so "Summarise the following paragraph" over
   two different paragraphs is not a duplicate (``config.passage=False`` compares the text only);
4. with ``config.scoring == "precise"`` the candidates (found a little below the threshold) are
   re-scored with the sentence-transformer itself (all-MiniLM-L6-v2), which reads word order and
   roles the static vectors cannot see; only the records in candidate pairs are embedded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from studio.dedup import cells, static, timings
from studio.dedup import clusters as cl
from studio.dedup.text import field_texts, normalize
from studio.errors import CancelledError, StudioError
from studio.tasks import ProgressFn

NEIGHBORS = 32  # most similar partners kept per record: bounded memory at low thresholds
RESCORE_MARGIN = 0.06  # precise: candidates from this far below the threshold (static under-rates some paraphrases)
SCORINGS = ("fast", "precise")
# Texts to embed (distinct texts, and their passages) up to which a workspace without the static model
# embeds them with MiniLM itself rather than building it first. bench/semantic_small.py, load ~5 on 2
# cores: MiniLM direct 0.7 s for 4 texts, 11 s for 500, 26 s for 1,000, 51 s for 2,000, 153 s for 5,000,
# against 86 s for the build: up to 1,000 the direct run costs under a third of the build.
DIRECT_UP_TO = 1_000
MINILM_SECONDS_PER_CHAR = 3.3e-4  # MiniLM embedding a run, per character (+8 per text), load ~5 on 2 cores
MINILM_FIXED_SECONDS = 0.6  # a direct run's first batch and search: 0.7 s for 4 texts in the bench above
MINILM_LOAD_SECONDS = 10.0  # loading MiniLM into a process (torch and sentence-transformers imports): 9.7 s
# Until this machine has timed a load and a direct run (``studio.dedup.timings``), the estimate gives a range up to
# this many times the constants above: a first run at load 13 on 2 cores took 55 s against 13 s estimated from them.
UNTIMED_SPREAD = 4.0


def record_passages(records: Sequence[dict]) -> list[str] | None:
    """Each record's passage (``context``), or None when no record has one."""
    out = [r.get("context") if isinstance(r, dict) and isinstance(r.get("context"), str) else "" for r in records]
    return out if any(p.strip() for p in out) else None


def model_name(config) -> str:
    from studio.dedup.embed import DEFAULT_MODEL

    return (config.embedding_model or "").strip() or DEFAULT_MODEL


def static_model(name: str, embedder=None, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None) -> static.StaticModel:
    """The static model distilled from ``name``: loaded from the workspace, or built there first."""
    if static.is_built(name):
        return static.shared(name)
    if progress:
        progress(0, 1, "Loading the embedding model to build the fast one (once)…")
    embedder = embedder or _load(name)[0]
    if cancel is not None and cancel.is_set():  # Stop pressed while the model loaded (a load cannot be interrupted)
        raise CancelledError("Semantic dedup stopped before the fast embedding model was built; nothing was changed.")

    def report(done: int, total: int, *_: object) -> None:
        if progress:
            progress(done, total, f"Building the fast embedding model, once for this workspace: "
                                  f"{done:,} of {total:,} tokens")

    static.build(embedder, report, cancel)
    return static.shared(name)


def _load(name: str) -> tuple[object, float | None]:
    """The shared sentence-transformer ``name``, and the seconds loading it took (None: it was loaded already);
    a load here is kept for the next estimate."""
    from studio.dedup.embed import loaded, shared_embedder

    if loaded(name) is not None:
        return shared_embedder(name), None
    start = time.perf_counter()
    embedder = shared_embedder(name)
    took = time.perf_counter() - start
    timings.remember(name, load=took)
    return embedder, took


def minilm_seconds(chars: float) -> float:
    """A direct run's embedding and search by the constants (load 5 on 2 cores), ``chars`` counting 8 a text more."""
    return MINILM_FIXED_SECONDS + chars * MINILM_SECONDS_PER_CHAR


def direct(distinct: int, passages: bool, name: str) -> bool:
    """Whether a run embeds with the sentence-transformer itself: the static model is not built and
    ``distinct`` texts (each with its passage, when compared) are few enough to embed in seconds."""
    return distinct * (2 if passages else 1) <= DIRECT_UP_TO and not static.is_built(name)


def embeds_directly(records: Sequence[dict], config) -> bool:
    """Whether ``find`` on these records embeds them with the sentence-transformer itself (``direct``)."""
    texts = field_texts(records, config.field)
    passages = record_passages(records) if config.passage else None
    distinct = {(normalize(x[:static.MAX_CHARS * 2]), normalize(passages[k][:static.MAX_CHARS * 2]) if passages else "")
                for k, x in enumerate(texts) if normalize(x[:static.MAX_CHARS * 2])}
    return direct(len(distinct), passages is not None, model_name(config))


# A run's text vectors kept (``Vectors``) up to this size, past which scoring edited records again embeds the distinct
# texts anew (the static model: tens of thousands a second). They stay in the session with its review: 64 MB is 65,536
# texts at 256 dimensions; a public app's sessions share ~2.7 GB.
KEEP_BYTES = 64 * 2**20


@dataclass
class Vectors:
    """A run's embeddings of its distinct texts, kept so records edited since are scored against the rest without a
    new run (``studio.dedup.rescore``): a text unchanged since has its vector here."""
    rows: dict[tuple[str, str], int]  # a text's key (``text_key``) -> its row in ``text``
    text: np.ndarray  # unit float32 rows
    direct: bool  # embedded by the sentence-transformer itself (a small dataset), not the static model


def text_key(text: str, passage: str | None) -> tuple[str, str] | None:
    """What makes two records' compared texts one (normalised text, and passage when compared); None: an empty text,
    never a duplicate."""
    key = normalize(text[:static.MAX_CHARS * 2])
    return (key, normalize(passage[:static.MAX_CHARS * 2]) if passage is not None else "") if key else None


def find(records: Sequence[dict], config, *, progress: ProgressFn | None = None,
         cancel: threading.Event | None = None, embedder=None,
         choose_keep: Callable[[Sequence[int]], int] | None = None,
         vectors: list[Vectors] | None = None) -> list[cl.Cluster]:
    """Semantic duplicate clusters of ``records`` (kind "semantic", or "exact" for identical texts);
    scores are cosine x 100. ``embedder`` is the sentence-transformer for building and re-scoring. ``vectors``: the
    run's ``Vectors`` are appended to it (when they fit ``KEEP_BYTES``)."""
    started = time.perf_counter()
    t = float(config.semantic_threshold)
    texts = field_texts(records, config.field)
    passages = record_passages(records) if config.passage else None
    groups: dict[tuple[str, str], list[int]] = {}
    for i, text in enumerate(texts):
        key = text_key(text, passages[i] if passages else None)
        if key:  # an empty text is never a duplicate
            groups.setdefault(key, []).append(i)
    reps = np.array([g[0] for g in groups.values()], dtype=np.int64)
    pairs = [cl.Pair(g[0], j, 100.0, "exact") for g in groups.values() for j in g[1:]]
    grouped = time.perf_counter()
    use_direct = direct(len(reps), passages is not None, model_name(config))
    stage = _Stages(progress, building=not use_direct and not static.is_built(model_name(config)),
                    precise=config.scoring == "precise", direct=use_direct)
    kept: list[np.ndarray] = []
    if len(reps) > 1 and use_direct:
        i, j, v = _direct(texts, passages, reps, t, config, embedder, stage, cancel, kept)
        pairs += [cl.Pair(int(min(a, b)), int(max(a, b)), round(float(s) * 100, 2), "semantic")
                  for a, b, s in zip(reps[i].tolist(), reps[j].tolist(), v.tolist())]
    elif len(reps) > 1:
        model = static_model(model_name(config), embedder, stage.part("build"), cancel)
        timer = _Timer(len(texts), grouped - started)
        vecs = model.encode([texts[r] for r in reps], stage.part("encode"), cancel)
        kept.append(vecs)
        floor = t - RESCORE_MARGIN if config.scoring == "precise" else t
        timer.lap("char", sum(min(len(texts[r]), static.MAX_CHARS) for r in reps))
        i, j, v = cells.pairs(vecs, floor, NEIGHBORS, stage.part("search"), cancel)
        if passages is not None and len(i):
            pv = model.encode([passages[r] for r in reps], cancel=cancel)
            v = np.minimum(v, _passage_cos(pv, i, j))
            i, j, v = _above(i, j, v, floor)
        timer.lap(_search_kind(len(reps)), cells.dot_products(len(reps)))
        if config.scoring == "precise" and len(i):
            v = _rescore(texts, passages, reps, i, j, config, embedder, stage.part("rescore"), cancel)
            i, j, v = _above(i, j, v, t)
        pairs += [cl.Pair(int(min(a, b)), int(max(a, b)), round(float(s) * 100, 2), "semantic")
                  for a, b, s in zip(reps[i].tolist(), reps[j].tolist(), v.tolist())]
    if vectors is not None and kept and kept[0].nbytes <= KEEP_BYTES:
        vectors.append(Vectors(dict(zip(groups, range(len(reps)))), kept[0], use_direct))
    found = cl.connected_clusters(len(records), pairs, kind="semantic", choose_keep=choose_keep)
    identical = {m: k for k, g in enumerate(groups.values()) for m in g}
    return [cl.Cluster(c.members, c.pairs, c.keep, "exact") if len({identical[m] for m in c.members}) == 1 else c
            for c in found]


def _direct(texts, passages, reps, t, config, embedder, stage: _Stages, cancel,
            kept: list[np.ndarray] | None = None) -> tuple[np.ndarray, ...]:
    """Pairs of ``reps`` at cosine ``t`` or more with the sentence-transformer itself (and their passages
    with it): every pair compared, as few texts are embedded. Teaches the next estimate this machine's pace
    (``studio.dedup.timings``), and its load time when it loads the model."""
    from studio.dedup.embed import loaded

    progress = stage.part("direct")
    name = model_name(config)
    load = None
    if embedder is None:
        if progress and loaded(name) is None:
            progress(0, 1, f"Loading {_short(name)} (once per studio session)…")
        embedder, load = _load(name)
    items = [texts[r][:static.MAX_CHARS] for r in reps]
    if passages is not None:
        items += [passages[r][:static.MAX_CHARS] for r in reps]
    start = time.perf_counter()
    vecs = embedder.encode(items, progress=progress, cancel=cancel)
    n = len(reps)
    if kept is not None:
        kept.append(vecs[:n])
    i, j, v = cells.pairs(vecs[:n], t, NEIGHBORS, stage.part("search"), cancel, exact=True)
    took, usual = time.perf_counter() - start, minilm_seconds(sum(len(x) + 8 for x in items))
    if load is None:  # warm: this machine's pace
        timings.remember(name, pace=took / usual)
    else:  # the first batches after loading warm torch up: a cost of the load, which the next session pays too
        timings.remember(name, amend=True,  # the load ``_load`` kept a moment ago, with these batches
                         load=load + max(0.0, took - usual * timings.measured(name).get("pace", 1.0)))
    if passages is not None and len(i):
        empty = np.array([not passages[r].strip() for r in reps], dtype=bool)
        v = np.minimum(v, _passage_cos(vecs[n:], i, j, empty=empty))
        i, j, v = _above(i, j, v, t)
    return i, j, np.minimum(v, 1.0)


def _short(name: str) -> str:
    """"all-MiniLM-L6-v2" for "sentence-transformers/all-MiniLM-L6-v2" (or a folder's name)."""
    return name.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]


def _passage_cos(pv: np.ndarray, i: np.ndarray, j: np.ndarray, empty: np.ndarray | None = None) -> np.ndarray:
    """Cosine of the two passages of each pair; two records without a passage match (1.0), one without does not.

    ``empty`` marks the rows without a passage (default: the zero rows the static model gives them)."""
    cos = np.einsum("ij,ij->i", pv[i], pv[j])
    empty = ~pv.any(axis=1) if empty is None else empty
    empty_i, empty_j = empty[i], empty[j]
    return np.where(empty_i & empty_j, 1.0, np.where(empty_i | empty_j, 0.0, cos)).astype(np.float32)


def _above(i, j, v, t):
    keep = v >= t - cells.EPS
    return i[keep], j[keep], v[keep]


def _rescore(texts, passages, reps, i, j, config, embedder, progress, cancel) -> np.ndarray:
    """The candidates' cosine with the sentence-transformer (and their passages' with it)."""
    embedder = embedder or _load(model_name(config))[0]
    used = np.unique(np.r_[i, j])
    where = np.searchsorted(used, i), np.searchsorted(used, j)
    items = [texts[r] for r in reps[used]]
    if passages is not None:
        items += [passages[r] for r in reps[used]]
    vecs = embedder.encode(items, progress=progress, cancel=cancel)
    v = np.einsum("ij,ij->i", vecs[where[0]], vecs[where[1]])
    if passages is not None:
        pv = vecs[len(used):]
        empty = np.array([not passages[r].strip() for r in reps[used]], dtype=bool)
        v = np.minimum(v, _passage_cos(pv, *where, empty=empty))
    return np.minimum(v, 1.0).astype(np.float32)


class _Stages:
    """One progress bar over the stages of a run, each given its share of the bar."""

    WEIGHTS = {"build": 6.0, "direct": 8.0, "encode": 1.0, "search": 2.0, "rescore": 4.0}
    WORDS = {"encode": "Embedding records (fast static model)…", "search": "Comparing records…",
             "direct": "Embedding records with the sentence-transformer (few enough to embed directly)…",
             "rescore": "Re-scoring candidate pairs with the sentence-transformer…"}

    def __init__(self, progress: ProgressFn | None, *, building: bool, precise: bool, direct: bool = False):
        self.progress = progress
        if direct:  # the sentence-transformer itself: nothing to build, nothing to re-score
            names = ["direct", "search"]
        else:
            names = (["build"] if building else []) + ["encode", "search"] + (["rescore"] if precise else [])
        total = sum(self.WEIGHTS[s] for s in names)
        self.span, at = {}, 0.0
        for s in names:
            self.span[s] = (at / total, self.WEIGHTS[s] / total)
            at += self.WEIGHTS[s]

    def part(self, name: str) -> ProgressFn | None:
        if self.progress is None or name not in self.span:
            return None
        offset, width = self.span[name]

        def report(done: int, total: int, message: str = "") -> None:
            fraction = offset + width * min(1.0, done / max(total, 1))
            self.progress(int(1000 * fraction), 1000, message or self.WORDS.get(name, ""))

        return report


@dataclass(frozen=True)
class Estimate:
    records: int
    seconds: float  # the run after the static model is built
    build_seconds: float | None  # the one-time build, when it is still to do (None: built)
    precise: bool
    direct: str | None = None  # the sentence-transformer embedding the records itself (a small dataset), by name
    load_seconds: float | None = None  # loading it into this process first, when it is not loaded yet
    distinct: int | None = None  # different texts to embed: under 2, no model is needed at all
    timed: frozenset[str] = frozenset()  # the direct run's figures this machine measured ("load", "pace"); others
    # are the constants, given as a range up to UNTIMED_SPREAD times them
    method: str = "semantic"  # "both": a fuzzy pass runs first, and the message says so; "fuzzy": only that pass
    fuzzy_seconds: float | None = None  # "both", "fuzzy": that pass, timed on a sample (``fuzzy.estimate_seconds``,
    # which ``fuzzy.estimate`` always sets, or refuses the threshold); None: only this module's semantic part estimated
    # "fuzzy": how that time was had: "full" (every text timed: a small input), "sample" (a sample scaled to the
    # whole), "learned" (that, corrected by what recent fuzzy runs here took over their estimates)
    fuzzy_basis: str = "sample"

    @property
    def total(self) -> float:
        """Seconds from start to finish, the fuzzy pass, the build and the model's loading included."""
        return self.seconds + (self.build_seconds or 0.0) + (self.load_seconds or 0.0) + (self.fuzzy_seconds or 0.0)

    @property
    def _records(self) -> str:
        return "1 record" if self.records == 1 else f"{self.records:,} records"

    @property
    def _head(self) -> str:
        """What the whole run does, up to the semantic part's time."""
        if self.method == "both":
            fuzzy = "" if self.fuzzy_seconds is None else f", {_duration(self.fuzzy_seconds)}, timed on a sample"
            return f"Both, combined, on {self._records}: fuzzy matching first (rapidfuzz{fuzzy}), then semantic matching: "
        return f"Semantic dedup of {self._records}: "

    @property
    def message(self) -> str:
        if self.method == "fuzzy":
            if self.fuzzy_seconds is None:  # no fuzzy.estimate gives one (it times the pass, or refuses the threshold)
                return f"Fuzzy dedup of {self._records} (rapidfuzz)."
            how = {"full": "timed on all of them",
                   "learned": "timed on a sample and scaled as recent runs here took"}.get(
                self.fuzzy_basis, "timed on a sample (each run here corrects the next estimate)")
            return f"Fuzzy dedup of {self._records} (rapidfuzz): {_duration(self.fuzzy_seconds)}, {how}."
        run = _duration(self.seconds)
        if self.distinct is not None and self.distinct < 2:
            return (f"{self._head}{run}, with no embedding model: "
                    + ("nothing to compare." if self.records < 2 else
                       "fewer than two different texts to compare (copies of one text are found as identical)."))
        if self.direct:
            text = (f"{self._head}{self._span(self.seconds, 'pace')} with {self.direct} itself "
                    f"(few enough to embed directly; the fast model is built once a dataset of over {DIRECT_UP_TO:,} "
                    "distinct texts needs it)")
            shown = {"pace"}
            if self.load_seconds is not None:
                text += (f", after loading {self.direct} (once per studio session, "
                         f"{self._span(self.load_seconds, 'load')})")
                shown.add("load")
            untimed = shown - self.timed
            if untimed == {"pace"} and "load" in self.timed:  # the model loaded: by a run here, which timed the load
                return text + (". Not timed on this machine yet: the run that loaded the model here timed the loading, "
                               "with its first batches; embedding's own pace is known after the next run. The longer "
                               "figure is for a busy machine.")
            if untimed == shown:
                return text + ". Not timed on this machine yet: the longer figures are for a busy machine."
            if untimed:
                timed, not_yet = ("Embedding", "the loading") if untimed == {"load"} else ("The loading", "embedding")
                return text + (f". {timed} as timed here; {not_yet} is not timed on this machine yet: "
                               "the longer figure is for a busy machine.")
            return text + ". As recent runs here took; longer while the machine is busier."
        text = f"{self._head}{run} with the fast static embeddings"
        if self.precise:
            text += ", then the candidate pairs are re-scored with the sentence-transformer (timed once they are found)"
        if self.build_seconds is not None:
            text += (f"; first the fast model is built from the sentence-transformer, once for this workspace "
                     f"({_duration(self.build_seconds)})")
        return text + "."

    def _span(self, seconds: float, figure: str) -> str:
        """A measured figure as "about N seconds"; one of the constants as a range up to a busy machine's."""
        if figure in self.timed:
            return _duration(seconds)
        low, high = _duration(seconds), _duration(seconds * UNTIMED_SPREAD)
        if low == high:
            return low
        if low.startswith("about") and low.endswith(("second", "seconds")) and high.endswith(" seconds"):
            return f"{low.rsplit(' ', 1)[0]} to {high.removeprefix('about ')}"  # "about 1 to 3 seconds"
        return f"{low} to {high.removeprefix('about ')}"


_rates: dict[str, float] = {}


def estimate(records: Sequence[dict], config, *, model: static.StaticModel | None = None) -> Estimate:
    """How long ``find`` will take here, from a timed sample (~0.1 s): embedding per character, and
    the machine's matrix-product speed for the search. The build, when still to do, is guessed from
    its usual cost here unless ``static.estimate_build_seconds`` was measured."""
    texts = field_texts(records, config.field)
    passages = record_passages(records) if config.passage else None
    # Copies of one text are embedded once: 200,000 of one question cost one embedding.
    distinct = {(x, passages[k] if passages else "") for k, x in enumerate(texts) if x.strip()}
    if len(distinct) <= 4 * DIRECT_UP_TO:  # few: count them as the run groups them (case and punctuation aside)
        cut = static.MAX_CHARS * 2
        keys = {(normalize(x[:cut]), normalize(p[:cut])): (x, p) for x, p in distinct}
        distinct = {v for k, v in keys.items() if k[0]}
    n = len(distinct)
    name = model_name(config)
    if direct(n, passages is not None, name):
        from studio.dedup.embed import loaded

        chars = sum(min(len(x), static.MAX_CHARS) + 8 + (min(len(p), static.MAX_CHARS) + 8 if passages else 0)
                    for x, p in distinct)
        if n < 2:
            return Estimate(len(records), 0.0, None, config.scoring == "precise", distinct=n, method=config.method)
        timed = timings.measured(name)
        seconds = minilm_seconds(chars) * timed.get("pace", 1.0)
        load = None if loaded(name) is not None else timed.get("load", MINILM_LOAD_SECONDS)
        return Estimate(len(records), seconds, None, config.scoring == "precise", _short(name), load, n,
                        frozenset(timed), config.method)
    built = static.is_built(name)
    if model is None and built:
        model = static.shared(name)
    chars = sum(min(len(x), static.MAX_CHARS) + min(len(p), static.MAX_CHARS) for x, p in distinct)
    seconds = (chars * _rate("char", model) + cells.dot_products(n) * _rate(_search_kind(n), model)
               + len(texts) * _rates.get("record", 4e-6))
    if n < 2:
        seconds = 0.0
    build = None if built else BUILD_SECONDS
    return Estimate(len(records), seconds, build, config.scoring == "precise", distinct=n, method=config.method)


BUILD_SECONDS = 120.0  # the build's cost on a 2-core CPU (30,522 short forward passes): 243 s measured at load 14


class _Timer:
    """What a run measures of this machine, for the next estimate: seconds per character embedded, per
    dot product searched and per record grouped, learned from runs big enough to time (a sample
    timed in a tenth of a second says less about a busy machine than a run of several seconds)."""

    LEARN_ABOVE = 5_000  # records: below, fixed costs blur the rates

    def __init__(self, records: int, grouping: float):
        self.at = time.perf_counter()
        self.learn = records >= self.LEARN_ABOVE
        if self.learn:
            _rates["record"] = grouping / records

    def lap(self, what: str, units: float) -> None:
        now = time.perf_counter()
        if self.learn and units > 0:
            _rates[what] = (now - self.at) / units
        self.at = now


def _search_kind(n: int) -> str:
    """The search's rate key: one product of all pairs ("dot-exact") and k-means cells ("dot") differ per dot."""
    return "dot-exact" if n <= cells.EXACT_LIMIT else "dot"


def _rate(what: str, model: static.StaticModel | None) -> float:
    """Seconds per character embedded ("char") or per dot product searched ("dot", "dot-exact"), measured
    once per process from a sample, until a run measures them (``_Timer``)."""
    if what not in _rates:
        rng = np.random.default_rng(0)
        if what.startswith("dot"):  # the search itself on random rows: products, thresholds, threads and all
            exact = what == "dot-exact"
            x = rng.standard_normal((2048 if exact else 6144, static.DIMS), dtype=np.float32)
            x /= np.linalg.norm(x, axis=1, keepdims=True)
            cells.pairs(x[:256], 0.9, NEIGHBORS, exact=exact)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                cells.pairs(x, 0.9, NEIGHBORS, exact=exact)
                times.append(time.perf_counter() - start)
            _rates[what] = float(np.median(times)) / cells.dot_products(len(x), exact=exact)
        else:
            if model is None:
                return 2e-6  # no model yet: a typical rate on a 2-core CPU
            words = "what is the capital of france how many players are on a team who wrote it".split()
            sample = [" ".join(rng.choice(words, 12)) + f" {k}" for k in range(2000)]
            model.encode(sample[:50])
            times = []
            for k in range(3):
                start = time.perf_counter()
                model.encode(sample[k * 600:(k + 1) * 600])
                times.append(time.perf_counter() - start)
            _rates[what] = float(np.median(times)) / sum(map(len, sample[:600]))
    return _rates[what]


def long_run_note(run: Estimate, semantic: Estimate | None = None) -> str:
    """What the box asking to start a long run says after its estimate: that it runs in the background (a bar, Stop),
    and semantic matching alone when that is estimated at under half the time of a fuzzy or Both run (a fuzzy pass
    over many near-identical texts compares each with all its close partners; the nearest-neighbour search does not)."""
    note = ("It runs in the background: a bar shows how far it is, Stop ends it, and the rest of the page stays "
            "usable meanwhile.")
    if run.method in ("fuzzy", "both") and semantic is not None and semantic.total < run.total / 2:
        note += (f" Semantic matching (same meaning) is estimated at {_duration(semantic.total)} on these records: "
                 "Use semantic instead runs that.")
    return note


def _duration(seconds: float) -> str:
    """"about 2 seconds", or "under a second" (never "about under a second")."""
    if seconds < 0.5:
        return "under a second"
    if seconds < 1.5:
        return "about 1 second"
    if seconds < 90:
        return f"about {seconds:.0f} seconds"
    minutes = seconds / 60
    return f"about {minutes:.0f} minutes" if minutes < 90 else f"about {minutes / 60:.1f} hours"


def check_scoring(scoring: str) -> str:
    if scoring not in SCORINGS:
        raise StudioError(f"Unknown scoring {scoring!r}: choose fast (static embeddings) or precise "
                          "(re-scored with the sentence-transformer).")
    return scoring
