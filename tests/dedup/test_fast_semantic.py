"""Fast semantic dedup: the static model distilled from the real MiniLM, cell search, passages, bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from studio.dedup import cells, semantic_records, static
from studio.dedup import fuzzy as dedup
from studio.dedup.embed import DEFAULT_MODEL, Embedder
from studio.errors import CancelledError
from tests.conftest import keep_static_build

PARAPHRASES = [
    ("What is the capital city of France?", "Which city is the capital of France?"),
    ("What is the largest planet in the solar system?", "Which planet in our solar system is the biggest?"),
    ("Who wrote the play Romeo and Juliet?", "Romeo and Juliet was written by whom?"),
]
UNRELATED = ["How long should I boil an egg?", "What is the tallest mountain in the world?",
             "How many players are on a basketball team?"]


def semantic(threshold: float = 0.9, **kw) -> dedup.DedupConfig:
    return dedup.DedupConfig(method="semantic", semantic_threshold=threshold, **kw)


def above_the_crossover(records: list[dict]) -> list[dict]:
    """``records`` and enough distinct others that a workspace without the fast model builds it first."""
    return records + [{"question": f"Filler {i}: what does law {i} say about player {i * 7}?", "answer": "a"}
                      for i in range(semantic_records.DIRECT_UP_TO + 1)]


def test_a_small_dataset_is_embedded_with_minilm_itself_not_after_a_build(embedder: Embedder) -> None:
    """A fresh workspace, 6 records: MiniLM embeds them in about a second; building the fast model first took
    about 2 minutes on 2 cores, and the estimate said so."""
    records = [{"question": q, "answer": "a"} for pair in PARAPHRASES for q in pair]
    said = semantic_records.estimate(records, semantic())
    assert said.build_seconds is None and said.direct == "all-MiniLM-L6-v2"
    assert said.seconds < 5 and "built from" not in said.message and "minutes" not in said.message
    assert said.message.startswith("Semantic dedup of 6 records: about 1 to 3 seconds with all-MiniLM-L6-v2 itself")
    assert "Not timed on this machine yet" in said.message  # the constants, as a range up to a busy machine's
    seen: list[tuple] = []
    found = dedup.dedup_records(records, semantic(), embedder=embedder, progress=lambda *a: seen.append(a))
    assert sorted(c.members for c in found) == [(0, 1), (2, 3), (4, 5)]  # MiniLM: 0.97, 0.94, 0.91
    scores = {c.members: c.pairs[0].score for c in found}
    assert scores[(4, 5)] == pytest.approx(100 * float(np.dot(*embedder.encode(list(PARAPHRASES[2])))), abs=0.01)
    assert not any("Building" in a[2] for a in seen if len(a) > 2) and seen[-1][0] == seen[-1][1]
    assert not static.is_built(DEFAULT_MODEL)
    precise = dedup.dedup_records(records, semantic(scoring="precise"), embedder=embedder)
    assert precise == found  # already the sentence-transformer's cosine: nothing to re-score
    # "capital of France" / "of Germany": MiniLM 0.66, the static model 0.93; a small dataset gets MiniLM's reading
    pair = [{"question": "What is the capital of France?", "answer": "a"},
            {"question": "What is the capital of Germany?", "answer": "b"}]
    assert dedup.dedup_records(pair, semantic(0.85), embedder=embedder) == []


class SlowEmbedder:
    """Stands in for MiniLM on a busy machine: a second to load and a second to embed a few texts."""

    source = "slow"

    def __init__(self) -> None:
        time.sleep(1.0)

    def encode(self, texts, progress=None, cancel=None) -> np.ndarray:
        time.sleep(1.0)
        vecs = np.random.default_rng(len(texts)).standard_normal((len(texts), 8)).astype(np.float32)
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def test_a_direct_run_teaches_the_next_estimate_the_load_and_pace_it_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    """The small-run estimate came from constants measured at load 5: at load 13 a first run took 55 s against
    "about 3 seconds, after loading (about 10 seconds)". What a run measures is what the next estimate says,
    in this studio session and the next (kept in the workspace)."""
    from studio.dedup import embed, timings

    records = [{"question": q, "answer": "a"} for pair in PARAPHRASES for q in pair]
    monkeypatch.setattr(embed, "loaded", lambda *a, **k: None)  # a studio session that has not loaded MiniLM
    monkeypatch.setattr(embed, "shared_embedder", lambda *a, **k: SlowEmbedder())
    before = semantic_records.estimate(records, semantic())
    assert before.load_seconds == semantic_records.MINILM_LOAD_SECONDS and before.seconds < 1
    assert "about 10 to 40 seconds" in before.message and "Not timed on this machine yet" in before.message
    dedup.dedup_records(records, semantic())  # loads the model: its first batches count with the loading
    usual = semantic_records.minilm_seconds(sum(len(r["question"]) + 8 for r in records))  # the constants' 0.7 s
    assert set(timings.measured(DEFAULT_MODEL)) == {"load"}  # a second to load, and a first batch beyond the usual
    assert timings.measured(DEFAULT_MODEL)["load"] >= 1.0 + (1.0 - usual)
    warm = SlowEmbedder()
    monkeypatch.setattr(embed, "loaded", lambda *a, **k: warm)
    # under the first run, which loaded the model (and timed it): it said "Not timed on this machine yet" alone
    loaded_now = semantic_records.estimate(records, semantic()).message
    assert loaded_now.endswith("Not timed on this machine yet: the run that loaded the model here timed the loading, "
                               "with its first batches; embedding's own pace is known after the next run. The longer "
                               "figure is for a busy machine.")
    dedup.dedup_records(records, semantic())  # the model loaded already: this machine's pace
    assert set(timings.measured(DEFAULT_MODEL)) == {"load", "pace"}
    monkeypatch.setattr(embed, "loaded", lambda *a, **k: None)
    after = semantic_records.estimate(records, semantic())  # what a new studio session would say
    assert after.load_seconds >= 1.0 and after.seconds >= 1.0  # the second each took, not the constants
    assert "As recent runs here took" in after.message and " to " not in after.message.split("itself")[0]
    assert f"once per studio session, {semantic_records._duration(after.load_seconds)})" in after.message


def test_one_odd_run_moves_the_small_run_estimate_little(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pace was the last run's alone: one run on a machine busy for a moment (ten times slower) made every later
    estimate ten times too long. The median of the last runs keeps it; a lasting change shows after a few runs."""
    from studio.dedup import embed, timings

    records = [{"question": q, "answer": "a"} for pair in PARAPHRASES for q in pair]
    monkeypatch.setattr(embed, "loaded", lambda *a, **k: object())  # loaded: the pace alone
    for pace in (1.0, 1.1, 0.9):
        timings.remember(DEFAULT_MODEL, pace=pace)
    usual = semantic_records.estimate(records, semantic()).seconds
    timings.remember(DEFAULT_MODEL, pace=10.0)  # one odd run
    assert semantic_records.estimate(records, semantic()).seconds < 1.2 * usual
    for _ in range(3):  # the machine really is slower now
        timings.remember(DEFAULT_MODEL, pace=10.0)
    assert semantic_records.estimate(records, semantic()).seconds > 5 * usual
    timings.remember(DEFAULT_MODEL, load=30.0)  # a load kept beside the pace, not in place of its history
    assert timings.measured(DEFAULT_MODEL) == {"load": 30.0, "pace": 10.0}


def test_one_record_or_none_to_compare_needs_no_model_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    from studio.dedup import embed

    monkeypatch.setattr(embed, "shared_embedder", lambda *a, **k: pytest.fail("loaded a model for nothing"))
    one = semantic_records.estimate([{"question": "What is offside?", "answer": "a"}], semantic())
    assert one.total == 0 and one.message.startswith("Semantic dedup of 1 record: under a second")
    assert dedup.dedup_records([{"question": "What is offside?", "answer": "a"}], semantic()) == []
    same = [{"question": "What is offside?", "answer": f"a{i}"} for i in range(5)]
    (cluster,) = dedup.dedup_records(same, semantic())
    assert cluster.members == (0, 1, 2, 3, 4) and cluster.kind == "exact"
    assert not static.is_built(DEFAULT_MODEL)  # nothing was loaded or built for them


def test_the_first_run_builds_the_model_with_progress_then_reuses_it(embedder: Embedder,
                                                                    request: pytest.FixtureRequest) -> None:
    """First in the session to need the static model (a dataset above the direct crossover): what it builds
    becomes ``static_build``'s (the suite's other users), so a fresh checkout distils it once, not twice
    (about 2 minutes on 2 cores)."""
    records = above_the_crossover([{"question": q, "answer": "a"} for pair in PARAPHRASES for q in pair])
    first = semantic_records.estimate(records, semantic())
    assert first.build_seconds is not None and "built" in first.message
    seen: list[tuple] = []
    found = dedup.dedup_records(records, semantic(), embedder=embedder, progress=lambda *a: seen.append(a))
    assert {c.members for c in found} >= {(0, 1), (2, 3)}
    building = [a for a in seen if len(a) > 2 and "Building the fast embedding model" in a[2]]
    assert len(building) > 10 and len({a[0] for a in building}) > 10  # the bar moves while it builds
    fractions = [a[0] / a[1] for a in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert static.is_built(DEFAULT_MODEL) and semantic_records.estimate(records, semantic()).build_seconds is None
    stop = threading.Event()
    stop.set()
    with pytest.raises(CancelledError):
        dedup.dedup_records(records * 10, semantic(), cancel=stop)
    keep_static_build(request.config, static.folder_for(DEFAULT_MODEL))


def test_the_static_model_keeps_minilm_s_sense_of_paraphrase(static_model: static.StaticModel) -> None:
    texts = [q for pair in PARAPHRASES for q in pair] + UNRELATED
    vecs = static_model.encode(texts)
    assert vecs.shape == (len(texts), static.DIMS) and vecs.dtype == np.float32
    sims = vecs @ vecs.T
    for k in range(len(PARAPHRASES)):
        assert sims[2 * k, 2 * k + 1] > 0.88  # MiniLM: 0.91-0.97
    others = sims[np.ix_(range(6, 9), range(9))]
    assert (others[others < 0.999] < 0.7).all()  # unrelated questions stay far apart
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert not static_model.encode(["", "   "]).any()  # an empty text is similar to nothing


def test_fast_semantic_finds_what_exact_minilm_finds(static_model: static.StaticModel, embedder: Embedder) -> None:
    from bench.corpus import questions

    texts = questions(600, seed=3)  # one in ten a variant: typos, dropped or swapped words, "Please ..."
    vecs = embedder.encode(texts)
    truth = {(i, j) for i, j in zip(*np.nonzero(np.triu(vecs @ vecs.T, 1) >= 0.9))}
    found = dedup.dedup_records([{"question": q, "answer": "a"} for q in texts], semantic(0.9))
    same = {(a, b) for c in found for a in c.members for b in c.members if a < b}
    assert len(truth) > 20 and len(truth & same) / len(truth) >= 0.9


def test_cell_search_matches_exact_search_and_stops(static_model: static.StaticModel) -> None:
    rng = np.random.default_rng(1)
    centres = rng.standard_normal((3000, 64), dtype=np.float32)
    x = centres[rng.integers(0, 3000, cells.EXACT_LIMIT + 3000)]
    x += 0.05 * rng.standard_normal(x.shape, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    exact = cells.pairs(x, 0.9, 32, exact=True)
    seen: list[tuple[int, int]] = []
    fast = cells.pairs(x, 0.9, 32, progress=lambda d, t: seen.append((d, t)))
    truth, got = set(zip(*map(np.ndarray.tolist, exact[:2]))), set(zip(*map(np.ndarray.tolist, fast[:2])))
    assert len(truth) > 1000 and got <= truth and len(got) / len(truth) >= 0.97
    assert seen and seen[-1][0] == seen[-1][1]
    stop = threading.Event()
    stop.set()
    with pytest.raises(CancelledError):
        cells.pairs(x, 0.9, 32, cancel=stop)


def test_precise_scoring_tells_apart_what_static_vectors_cannot(static_model: static.StaticModel,
                                                                 embedder: Embedder) -> None:
    records = [{"question": "What is the capital of France?", "answer": "Paris"},
               {"question": "What is the capital of Germany?", "answer": "Berlin"},
               {"question": "What is the capital city of France?", "answer": "Paris."}]
    fast = dedup.dedup_records(records, semantic(0.9))
    precise = dedup.dedup_records(records, semantic(0.9, scoring="precise"), embedder=embedder)
    assert any(1 in c.members for c in fast)  # France and Germany: the same words but one
    assert [c.members for c in precise] == [(0, 2)] and precise[0].kind == "semantic"
    assert 90 <= precise[0].top_score <= 100


PASSAGE_A = "The Amazon is the largest rainforest on Earth, covering much of northwestern Brazil."
PASSAGE_B = "Mount Everest, on the border of Nepal and China, is the highest mountain above sea level."
SQUAD = [
    {"question": "Summarise the following paragraph.", "answer": "A rainforest.", "context": PASSAGE_A},
    {"question": "Summarise the following paragraph.", "answer": "A mountain.", "context": PASSAGE_B},
    {"question": "Summarise the following paragraph", "answer": "The Amazon.", "context": PASSAGE_A},
    {"question": "Which country has most of it?", "answer": "Brazil", "context": PASSAGE_A},
]


@pytest.mark.parametrize("method,scoring", [("fuzzy", "fast"), ("semantic", "fast"), ("semantic", "precise")])
def test_records_with_a_passage_match_only_when_their_passages_match(static_model, embedder: Embedder, method: str,
                                                                     scoring: str) -> None:
    records = SQUAD + [{"question": "Summarise the following paragraph.", "answer": "No passage here."}]
    config = dedup.DedupConfig(method=method, threshold=90, semantic_threshold=0.9, scoring=scoring)
    found = dedup.dedup_records(records, config, embedder=embedder)
    assert [c.members for c in found] == [(0, 2)]  # same question, same passage; a record without one apart
    question_only = dedup.dedup_records(records, dedup.DedupConfig(method=method, threshold=90, semantic_threshold=0.9,
                                                                   passage=False, scoring=scoring), embedder=embedder)
    assert [c.members for c in question_only] == [(0, 1, 2, 4)]


def test_a_small_dataset_with_passages_compares_them_with_minilm_too(embedder: Embedder) -> None:
    records = SQUAD + [{"question": "Summarise the following paragraph.", "answer": "No passage here."}]
    assert semantic_records.estimate(records, semantic()).direct  # 5 questions and their passages: embedded directly
    found = dedup.dedup_records(records, semantic(), embedder=embedder)
    assert [c.members for c in found] == [(0, 2)]  # same question, same passage; a record without one apart
    question_only = dedup.dedup_records(records, semantic(passage=False), embedder=embedder)
    assert [c.members for c in question_only] == [(0, 1, 2, 4)]
    assert not static.is_built(DEFAULT_MODEL)


def test_cli_on_a_small_file_in_a_fresh_workspace_embeds_directly_and_says_no_build(tmp_path) -> None:
    src = tmp_path / "pairs.json"
    src.write_text(json.dumps([{"question": q, "answer": "a"} for pair in PARAPHRASES for q in pair]))
    run = _cli(src, tmp_path, "--method", "semantic", "--threshold", "0.9")
    assert run.returncode == 0, run.stderr
    assert "built" not in run.stderr and "3 clusters, 6 records in them" in run.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["clusters"] == [[0, 1], [2, 3], [4, 5]] and report["embedding"] == "direct"
    assert not static.is_built(DEFAULT_MODEL)


def test_cli_compares_passages_unless_told_not_to(static_model, tmp_path) -> None:
    src = tmp_path / "squad.json"
    src.write_text(json.dumps(SQUAD))
    for extra, clusters, passage in (([], [[0, 2]], "compared"), (["--ignore-passage"], [[0, 1, 2]], "ignored")):
        run = _cli(src, tmp_path, "--method", "semantic", "--threshold", "0.9", *extra)
        assert run.returncode == 0, run.stderr
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["clusters"] == clusters and report["passage"] == passage and report["scoring"] == "fast"


def _cli(src, tmp_path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", "dedup", str(src), *args, "--report",
                           str(tmp_path / "r.json"), "--out", str(tmp_path / "kept.json"), "--force"],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("method", ["fuzzy", "semantic"])
def test_bad_input_gets_the_right_answer_and_loses_nothing(static_model, tmp_path, method: str) -> None:
    threshold = "90" if method == "fuzzy" else "0.9"
    cases = {  # records, clusters, the summary line, the child's peak memory at most (MB above a one-record run)
        "one": ([{"question": "Only one?", "answer": "Yes."}], [], "0 clusters, 0 records in them", 0),
        "empty": ([{"question": "", "answer": "a"}, {"question": "  ", "answer": "b"}, {"question": "", "answer": "c"}],
                  [], "0 clusters, 0 records in them", 50),
        "identical": ([{"question": "What is offside?", "answer": f"answer {i}"} for i in range(200_000)],
                      [list(range(200_000))], "1 cluster, 200,000 records in it", 600),
        # 10 MB questions: compared on their first characters, so memory stays near the input's own size
        "huge": ([{"question": "word " * 2_000_000, "answer": "a"}, {"question": "word " * 2_000_000, "answer": "b"},
                  {"question": "other " * 2_000_000, "answer": "c"}], [[0, 1]], "1 cluster, 2 records in it", 400),
    }
    base = None
    for name, (records, clusters, summary, most_mb) in cases.items():
        src = tmp_path / f"{name}.json"
        src.write_text(json.dumps(records))
        run, peak_mb = _cli_measured(src, tmp_path, "--method", method, "--threshold", threshold)
        assert run.returncode == 0, (name, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert "Traceback" not in run.stderr and lines[-1].startswith(summary), (name, lines)
        base = base or peak_mb  # the command's own imports and workspace
        assert peak_mb <= base + most_mb, (name, peak_mb, base)  # bounded: no pair matrix, no copy per pair
        report = json.loads((tmp_path / "r.json").read_text())
        assert report["clusters"] == clusters, name
        kept = json.loads((tmp_path / "kept.json").read_text())
        assert len(kept) == len(records) - sum(len(c) - 1 for c in clusters)  # only duplicates are dropped
        given = {json.dumps(r, sort_keys=True) for r in records}
        assert all(json.dumps(r, sort_keys=True) in given for r in kept)  # kept records are as they were
        if name == "identical":
            assert report["kinds"] == ["exact"]


def _cli_measured(src, tmp_path, *args) -> tuple[subprocess.CompletedProcess, float]:
    """``_cli`` and the child's own peak RSS in MB (``os.wait4``: this child's, not the largest so far)."""
    import os

    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as o, err.open("w") as e:
        child = subprocess.Popen([sys.executable, "-m", "studio", "dedup", str(src), *args, "--report",
                                  str(tmp_path / "r.json"), "--out", str(tmp_path / "kept.json"), "--force"], stdout=o, stderr=e)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    done = subprocess.CompletedProcess(child.args, child.returncode, out.read_text(), err.read_text())
    return done, usage.ru_maxrss / 1024


def test_a_damaged_build_says_how_to_rebuild(static_model: static.StaticModel) -> None:
    from studio.errors import ModelLoadError

    (static_model.folder / "vectors.npy").write_bytes(b"not numpy")
    static._loaded.clear()
    with pytest.raises(ModelLoadError, match="delete that folder"):
        static.load(DEFAULT_MODEL)


def test_estimate_says_what_it_covers(static_model: static.StaticModel) -> None:
    records = [{"question": f"Question {i} about rule {i % 17}?", "answer": "a"} for i in range(3000)]
    fast = semantic_records.estimate(records, semantic())
    assert fast.build_seconds is None and 0 < fast.seconds < 60
    assert re.match(r"Semantic dedup of 3,000 records: (about \d+ seconds?|under a second) with", fast.message)
    assert "re-scored" in semantic_records.estimate(records, semantic(scoring="precise")).message
    bigger = semantic_records.estimate(records * 10, semantic())
    assert bigger.seconds > fast.seconds


def test_a_short_run_reads_under_a_second_not_about_under_a_second() -> None:
    quick = semantic_records.Estimate(records=158, seconds=0.1, build_seconds=130.0, precise=False)
    assert quick.message.startswith("Semantic dedup of 158 records: under a second with the fast static embeddings")
    assert "(about 2 minutes)" in quick.message and "about under" not in quick.message
    assert semantic_records.Estimate(5000, 2.2, None, False).message.startswith(
        "Semantic dedup of 5,000 records: about 2 seconds with")


def test_both_methods_estimate_times_the_fuzzy_pass_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """In "Both" the fuzzy pass was not estimated: the time said (and the progress line's "N s more") left it out.
    It is timed on a sample of the texts the pass compares, at most ``SAMPLE_TEXTS`` of them, and counted in."""
    from studio.dedup import embed

    monkeypatch.setattr(embed, "loaded", lambda *a, **k: object())
    records = [{"question": f"Question number {k} about rule {k % 17} of the game?", "answer": "a"} for k in range(3000)]
    sizes = []
    real = dedup.find_duplicates
    monkeypatch.setattr(dedup, "find_duplicates", lambda texts, *a, **k: sizes.append(len(texts)) or real(texts, *a, **k))
    both = dedup.estimate(records, dedup.DedupConfig(method="both", semantic_threshold=0.9))
    alone = semantic_records.estimate(records, semantic())
    assert sizes == [dedup.SAMPLE_TEXTS]  # a sample, not the run itself
    assert both.fuzzy_seconds is not None and both.fuzzy_seconds > 0
    assert both.total == pytest.approx(alone.total + both.fuzzy_seconds)
    assert both.total > both.fuzzy_seconds and "timed on a sample" in both.message
    assert dedup.estimate(records, semantic()).fuzzy_seconds is None  # semantic alone has no fuzzy pass


def test_stop_during_the_model_load_before_the_first_build_ends_the_run_and_says_so(monkeypatch) -> None:
    """Stop pressed while the sentence-transformer loads for the fast model's first build (a few seconds on a fresh
    workspace, and a load cannot be interrupted): the bar says the run is stopping at once, and the run ends
    "stopped" as soon as the load returns, with nothing built. The load is a stand-in that waits for the test
    (the real one takes seconds and cannot be paused); the stand-in embedder could not be built from, so a run that
    went on to build would fail instead of stopping."""
    loading, release = threading.Event(), threading.Event()

    def slow_load(name: str) -> tuple[object, float]:
        loading.set()
        release.wait(30)
        return object(), 5.0

    monkeypatch.setattr(semantic_records, "_load", slow_load)
    records = above_the_crossover([])
    job = dedup.DedupJob(key=("d", 1, len(records), semantic()))
    job.start(records, semantic())
    assert loading.wait(30)
    assert "Loading the embedding model" in job.progress.message
    job.cancel()
    assert job.running and job.progress.message.startswith("Stopping")  # said while the load still runs
    release.set()
    assert job.join(30)
    assert job.state == "stopped" and "nothing was changed" in job.error
    assert not static.is_built(DEFAULT_MODEL)
