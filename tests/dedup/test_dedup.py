"""The dedup engine against exhaustive ``rapidfuzz.process.cdist`` on the same normalised texts."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rapidfuzz import process

from bench.corpus import questions
from studio.dedup import fuzzy as dedup
from studio.dedup.clusters import Pair, connected_clusters
from studio.errors import CancelledError, StudioError

SCORERS = list(dedup.SCORERS)


def reference_clusters(texts: list[str], threshold: float, scorer: str) -> set[tuple[int, ...]]:
    """Clusters from every pair, scored by cdist on the engine's normalised texts."""
    prepared = dedup.prepare(texts)
    scores = process.cdist(prepared, prepared, scorer=dedup.SCORERS[scorer], score_cutoff=threshold)
    pairs = [Pair(i, j, float(scores[i, j])) for i in range(len(texts)) for j in range(i + 1, len(texts))
             if prepared[i] and prepared[j] and (scores[i, j] >= threshold)]
    return {c.members for c in connected_clusters(len(texts), pairs)}


def members(found) -> set[tuple[int, ...]]:
    return {c.members for c in found}


# Adversarial texts: a tiny alphabet makes many near-equal strings, with case, punctuation and
# Unicode forms that normalisation must fold, and empty strings that must never match.
_text = st.lists(st.sampled_from(list("aab ,.ÄäA\u00e9e\u0301") + ["ab", "ba ", "abba "]), max_size=10).map("".join)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(_text, max_size=25), threshold=st.floats(0, 100), scorer=st.sampled_from(SCORERS))
def test_matches_exhaustive_comparison(texts, threshold, scorer):
    assert members(dedup.find_duplicates(texts, threshold, scorer)) == reference_clusters(texts, threshold, scorer)


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(st.text(max_size=60), min_size=2, max_size=40), threshold=st.floats(50, 100))
def test_random_unicode_matches_exhaustive(texts, threshold):
    assert members(dedup.find_duplicates(texts, threshold)) == reference_clusters(texts, threshold, "ratio")


@settings(max_examples=30, deadline=None)
@given(texts=st.lists(_text, min_size=2, max_size=30), threshold=st.floats(60, 100),
       scorer=st.sampled_from(SCORERS))
def test_candidate_path_never_reports_a_pair_below_threshold(texts, threshold, scorer):
    prepared = dedup.prepare(texts)
    for c in dedup.find_duplicates(texts, threshold, scorer, method="candidates"):
        for p in c.pairs:
            assert p.score >= threshold
            assert p.score == pytest.approx(dedup.SCORERS[scorer](prepared[p.i], prepared[p.j]), abs=1e-3)


@pytest.mark.parametrize("scorer,threshold,n", [("ratio", 90, 6000), ("ratio", 85, 6000),
                                                ("token_set_ratio", 90, 1200), ("partial_ratio", 95, 1200),
                                                ("WRatio", 90, 1200)])
def test_candidate_path_recall_on_realistic_questions(scorer, threshold, n):
    """The large-input path (rare q-gram or word candidates) finds at least 99% of the exhaustive pairs."""
    texts = questions(n, seed=3)
    found = dedup.find_duplicates(texts, threshold, scorer, method="candidates")
    assert _recall(texts, found, threshold, scorer, at_least=40) >= 0.99


def _recall(texts, found, threshold=90, scorer="ratio", at_least=1):
    """The share of the pairs exhaustive ``cdist`` finds (between distinct normalised texts) in ``found``."""
    prepared = dedup.prepare(texts)
    scores = process.cdist(prepared, prepared, scorer=dedup.SCORERS[scorer], score_cutoff=threshold,
                           workers=-1, dtype=np.float32)
    rep: dict[str, int] = {}
    first = [rep.setdefault(s, i) for i, s in enumerate(prepared)]
    got = {(p.i, p.j) for c in found for p in c.pairs}
    ref = {(min(first[i], first[j]), max(first[i], first[j]))
           for i, j in zip(*np.nonzero(scores >= threshold)) if first[i] != first[j]}
    assert len(ref) > at_least  # the corpus really has near-duplicates to find
    return len(ref & got) / len(ref)


def test_recall_holds_when_common_q_grams_are_dropped(monkeypatch):
    """At a million questions most 5-grams are shared by more texts than a posting may hold, so many
    near-duplicates have no rare q-gram in common; the word keys must still find them. A posting cap
    of 20 on 6,000 questions makes that happen here (q-grams alone then find about 96%)."""
    from studio.dedup import qgrams
    monkeypatch.setattr(qgrams, "MAX_POSTING", 20)
    texts = questions(6000, seed=3)
    assert _recall(texts, dedup.find_duplicates(texts, 90, "ratio", method="candidates"), at_least=40) >= 0.99


def test_exact_duplicates_after_normalisation():
    texts = ["What is  OFFSIDE?", "what is offside", "Ｗhat is offside!", "Who is the referee?"]
    found = dedup.find_duplicates(texts, 100)
    assert [(c.members, c.kind) for c in found] == [((0, 1, 2), "exact")]
    assert all(p.score == 100 for p in found[0].pairs)


def test_questions_that_differ_by_invisible_characters_only_are_exact_duplicates():
    """A zero-width space inside a word (pasted from a web page) split it in two: "What is off<ZWSP>side?" scored 97
    against "What is offside?", a fuzzy pair below a strict threshold, though the two look the same on screen."""
    texts = ["What is offside?", "What is off\u200bside?", "\u200fWhat is \u2066offside\u2069?", "What is onside?"]
    found = dedup.find_duplicates(texts, 100)
    assert [(c.members, c.kind) for c in found] == [((0, 1, 2), "exact")]


def test_fuzzy_cluster_has_scores_and_a_suggested_keep():
    records = [{"question": "How long is a half?", "answer": "45"},
               {"question": "How long is a half", "answer": "45 minutes, plus added time."},
               {"question": "Who restarts after a goal?", "answer": "The other team."}]
    (c,) = dedup.dedup_records(records, dedup.DedupConfig(threshold=90))
    assert c.members == (0, 1) and c.keep == 1  # the more complete record
    assert c.pairs[0].score == 100 and c.kind == "exact"


def test_fields_question_answer_both():
    records = [{"question": "Same question here", "answer": "First answer."},
               {"question": "Same question here", "answer": "Something else entirely."}]
    assert len(dedup.dedup_records(records, dedup.DedupConfig(field="question"))) == 1
    assert dedup.dedup_records(records, dedup.DedupConfig(field="answer")) == []
    assert dedup.dedup_records(records, dedup.DedupConfig(field="both", threshold=95)) == []


def test_clusters_at_higher_threshold_equals_running_again():
    texts = questions(800, seed=5)
    low = dedup.find_duplicates(texts, 80)
    for t in (85, 90, 97):
        assert members(dedup.clusters_at(low, t)) == members(dedup.find_duplicates(texts, t))


@pytest.mark.parametrize("bad", [-1, 100.5, "abc", float("nan"), None])
def test_bad_threshold_is_a_clear_error(bad):
    with pytest.raises(StudioError, match="threshold"):
        dedup.find_duplicates(["a", "b"], bad)


def test_unknown_scorer_and_field():
    with pytest.raises(StudioError, match="Unknown scorer 'jaro'"):
        dedup.find_duplicates(["a", "b"], 90, "jaro")
    with pytest.raises(StudioError, match="Unknown field"):
        dedup.DedupConfig(field="title")


def test_empty_one_and_blank_inputs():
    assert dedup.find_duplicates([], 90) == []
    assert dedup.find_duplicates(["only one"], 90) == []
    assert dedup.find_duplicates(["", "  ", "!!", ""], 0) == []  # empty texts are never duplicates
    records = [{"question": "", "answer": "x"}, {"answer": "y"}, {"question": None}]
    assert dedup.dedup_records(records) == []


def test_one_megabyte_strings_are_fast():
    big = "word " * 200_000
    texts = [big, big.upper(), big[:-10] + "other", "short"]
    start = time.perf_counter()
    found = dedup.find_duplicates(texts, 90)
    assert time.perf_counter() - start < 10
    assert found[0].members == (0, 1, 2)


def test_too_low_threshold_on_many_texts_is_refused(monkeypatch):
    monkeypatch.setattr(dedup, "MAX_PAIRS", 1000)
    with pytest.raises(StudioError, match="raise it"):
        dedup.find_duplicates([f"question {i}" for i in range(200)], 0)


def test_progress_and_cancel():
    texts = questions(3000, seed=2)
    seen = []
    dedup.find_duplicates(texts, 90, progress=lambda d, t: seen.append((d, t)))
    assert seen and seen[-1][0] == seen[-1][1]
    cancel = threading.Event()

    def stop_early(done, total):
        cancel.set()

    with pytest.raises(CancelledError):
        dedup.find_duplicates(texts, 90, progress=stop_early, cancel=cancel)
    for method in ("exhaustive", "candidates"):
        with pytest.raises(CancelledError):
            dedup.find_duplicates(texts, 90, cancel=cancel, method=method)


def test_a_large_count_of_pairs_is_said_in_words_a_person_reads():
    """"about 31,218,750,000 duplicate pairs" was a wall of digits to count."""
    from studio.dedup.fuzzy import _about

    assert [_about(n) for n in (31_218_750_000, 18_003_000, 2_450_000, 764_321)] == [
        "31 billion", "18 million", "2.5 million", "764,000"]


def test_estimate_refuses_a_threshold_that_pairs_millions_before_the_run():
    """6,000 near-identical questions at threshold 10: the sample pairs nearly all its texts, so the whole would pair
    about 18 million, past what a run keeps. The estimate refuses it in one line saying what to do, where it had timed
    it as a run of minutes that the run itself refused only at its end."""
    records = [{"question": f"What is the capital of country number {k}?", "answer": "a"} for k in range(6_000)]
    with pytest.raises(StudioError, match=r"^The threshold 10 would make about 1\d million duplicate pairs .*raise it"):
        dedup.estimate_seconds(records, dedup.DedupConfig(threshold=10))
    assert dedup.estimate_seconds(records[:200], dedup.DedupConfig(threshold=10)) >= 0  # timed in full: it runs
    # texts this close pair at 90 as well: the line no longer says to try the threshold it refuses
    with pytest.raises(StudioError, match=r"^The threshold 90 would make .*: raise it closer to 100, or match by"):
        dedup.estimate_seconds(records, dedup.DedupConfig(threshold=90))


def test_estimate_refuses_from_the_pairs_counted_without_clustering_them(monkeypatch):
    """Saving 5,000 very similar records took 7 s, 6 of them in the Duplicates tab's estimate for the new version: its
    1,000-text sample paired half a million and clustered them all before counting them, only to refuse the
    threshold. The pairs are counted and the refusal said before any cluster is made; the count is the same."""
    from studio.dedup import clusters

    made = []
    real = clusters.connected_clusters
    monkeypatch.setattr(clusters, "connected_clusters", lambda *a, **k: made.append(1) or real(*a, **k))
    records = [{"question": f"Question {k} about the offside rule?", "answer": "a"} for k in range(5_000)]
    with pytest.raises(dedup.TooManyPairs, match=r"^The threshold 80 would make about 12 million duplicate pairs"):
        dedup.estimate_seconds(records, dedup.DedupConfig(threshold=80))
    assert not made
    texts = [r["question"] for r in records[:1_000]]
    with pytest.raises(dedup.PairsPast) as past:
        dedup.find_duplicates(texts, 80, max_pairs=1_000)
    assert past.value.count == sum(len(c.pairs) for c in dedup.find_duplicates(texts, 80))


@pytest.mark.parametrize("method", ["fuzzy", "both"])
def test_estimate_times_the_fuzzy_pass_or_refuses_the_threshold(method):
    """A fuzzy or Both estimate on more texts than the sample always says the fuzzy pass's time (the estimate once
    said "not timed beforehand" where its sample was refused, and counted that pass as 0 s); a threshold pairing
    millions is refused instead."""
    rng = random.Random(7)
    words = "capital france team players wrote novel river longest mountain highest ocean deepest city".split()
    records = [{"question": " ".join(rng.choices(words, k=8)) + f" {k}?", "answer": "a"} for k in range(6_000)]
    said = dedup.estimate(records, dedup.DedupConfig(threshold=95, method=method))
    assert said.fuzzy_seconds is not None and said.total >= said.fuzzy_seconds
    assert "not timed" not in said.message and ("timed on" in said.message)
    with pytest.raises(dedup.TooManyPairs, match="raise it"):
        dedup.estimate(records, dedup.DedupConfig(threshold=10, method=method))


def test_job_runs_in_a_thread_and_reports_errors():
    job = dedup.DedupJob(key=("d", 1, 3, None))
    job.start([{"question": "a b c"}, {"question": "a b c"}, {"question": "x"}], dedup.DedupConfig())
    job.join(10)
    assert not job.running and job.error is None and [c.members for c in job.result] == [(0, 1)]


# ---- the CLI ----------------------------------------------------------------------------------

def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", "dedup", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_writes_report_and_kept_records(tmp_path):
    records = [{"question": q, "answer": "a"} for q in
               ["What is offside?", "what is offside", "Who is the referee?", "What is ofside?", "Who is the referee"]]
    src = tmp_path / "qa.json"
    src.write_text(json.dumps(records))
    out = cli(str(src), "--threshold", "90", "--report", str(tmp_path / "r.json"), "--out", str(tmp_path / "k.json"))
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert sorted(report["clusters"]) == [[0, 1, 3], [2, 4]]
    assert report["scorer"] == "ratio" and report["threshold"] == 90 and report["seconds"] >= 0
    assert len(json.loads((tmp_path / "k.json").read_text())) == 2


@pytest.mark.parametrize("args,message", [
    (["--threshold", "101"], "threshold"),
    (["--threshold", "x"], "threshold"),
    (["--threshold", "90", "--scorer", "nope"], "scorer"),
    (["--threshold", "90", "--field", "title"], "field"),
    (["--threshold", "90", "--method", "magic"], "method"),
])
def test_cli_bad_arguments_exit_2_with_one_line(tmp_path, args, message):
    src = tmp_path / "qa.json"
    src.write_text('[{"question": "a", "answer": "b"}]')
    out = cli(str(src), *args, "--report", str(tmp_path / "r.json"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and message in out.stderr
    assert out.stderr.startswith("error: ")


@pytest.mark.parametrize("content,message", [("", "empty"), ("[]", "no records"), ('{"a": 1}', "JSON object"),
                                             ("[1, 2]", "a JSON list of numbers, not of records"), ("[{", "qa.json"),
                                             # kept, it would be written back as {}: what the file held lost
                                             ('[{"question": "a", "answer": "b"}, "oops"]',
                                              'record 2: a string in the file, not an object with a question and an '
                                              'answer: "oops". Leave such records out first')])
def test_cli_bad_files_exit_2(tmp_path, content, message):
    src = tmp_path / "qa.json"
    src.write_text(content)
    out = cli(str(src), "--threshold", "90", "--report", str(tmp_path / "r.json"))
    assert out.returncode == 2 and message in out.stderr and out.stderr.count("\n") == 1
    missing = cli(str(tmp_path / "nope.json"), "--threshold", "90", "--report", str(tmp_path / "r.json"))
    assert missing.returncode == 2 and "No file" in missing.stderr


def test_cli_refuses_a_threshold_that_pairs_millions_before_the_run(tmp_path):
    """`studio dedup` on 6,000 near-identical questions at --threshold 10: refused from the timed sample in one line
    that says to raise it or match by meaning, exit 2, and neither the report nor --out written (the run used to
    compare texts for minutes first, then say only to raise it)."""
    src = tmp_path / "big.json"
    src.write_text(json.dumps([{"question": f"What is the capital of country number {k}?", "answer": "a"}
                               for k in range(6_000)]))
    out = cli(str(src), "--threshold", "10", "--report", str(tmp_path / "r.json"), "--out", str(tmp_path / "k.json"))
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith("error: The threshold 10 would make about ") and "(semantic)" in out.stderr
    assert "Traceback" not in out.stderr and not list(tmp_path.glob("[rk].json"))


def test_cli_one_record_reports_no_clusters(tmp_path):
    src = tmp_path / "qa.json"
    src.write_text('[{"question": "only", "answer": "one"}]')
    out = cli(str(src), "--threshold", "90", "--report", str(tmp_path / "r.json"))
    assert out.returncode == 0 and json.loads((tmp_path / "r.json").read_text())["clusters"] == []


class _Clock:
    """A stand-in for ``time`` in ``studio.dedup.fuzzy``: each reading is one second after the last, so the sample
    the estimate times and the run each take exactly one second, whatever the machine does."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1.0
        return self.now

    def monotonic(self) -> float:
        return self.now


def test_the_fuzzy_estimate_learns_from_real_runs_what_its_scaling_was_off_by(monkeypatch):
    """The fuzzy pass's estimate is a timed sample scaled to the whole, off by a factor that depends on the texts and
    the machine (1.1-2.8x over on long texts): runs taught it nothing. Each run now keeps what it took over what the
    estimate said (the median of the last runs, as the semantic pace is), and the next estimate says what the runs
    took."""
    from studio.dedup import timings

    monkeypatch.setattr(dedup, "time", _Clock())
    records = [{"question": f"question number {k} about {k * 7919 % 10007} things", "answer": "a"}
               for k in range(1_500)]
    config = dedup.DedupConfig(method="fuzzy", threshold=90)
    first = dedup.estimate_seconds(records, config)  # the 1,000-text sample took 1 s, scaled to 1,500 texts
    assert first > 1.2
    for _ in range(3):
        dedup.dedup_records(records, config)  # each run takes 1 s
    assert dedup.estimate_seconds(records, config) == pytest.approx(1.0, rel=1e-3)  # kept to 4 decimals
    assert len(timings._read(timings.FUZZY_FILE)) == 1  # kept in the workspace for the next session


def test_a_fuzzy_only_run_from_the_command_line_teaches_the_next_estimate(monkeypatch, tmp_path):
    """``dedup --method fuzzy`` ran unestimated, so its time was never kept: the estimate learned from "Both" runs
    only. A fuzzy run over 1,000 records is timed on a sample first, and keeps what it took."""
    import json

    from studio.__main__ import main
    from studio.dedup import timings

    monkeypatch.setattr(dedup, "time", _Clock())
    records = [{"question": f"question number {k} about {k * 7919 % 10007} things", "answer": "a"}
               for k in range(1_500)]
    src = tmp_path / "qa.json"
    src.write_text(json.dumps(records))
    assert main(["dedup", str(src), "--threshold", "90", "--report", str(tmp_path / "report.json")]) == 0
    assert len(timings._read(timings.FUZZY_FILE)) == 1
    config = dedup.DedupConfig(method="fuzzy", threshold=90)
    assert dedup.estimate(records, config).message.endswith("scaled as recent runs here took.")


def test_a_queued_run_counts_as_running_and_begins_only_when_the_page_has_drawn_its_bar():
    """Begun at once, a first semantic run's model load held the server before the page drew the bar: the click
    seemed to do nothing. A page queues the run, draws the bar, then begins it."""
    records = [{"question": q, "answer": "a"} for q in ("What is offside?", "What is ofside?", "Who keeps time?")]
    job = dedup.DedupJob(key=("d",)).queue(records, dedup.DedupConfig())
    assert job.running and job.state == "waiting" and job.result is None  # counted as running, nothing begun
    job.begin()
    assert job.join(60) and job.state == "done"
    assert [c.members for c in job.result] == [(0, 1)]
    job.begin()  # once only
    assert job.state == "done"


def test_the_cli_finds_duplicates_in_a_workspace_dataset_by_name(tmp_path):
    """`train --dataset` and `dataset export` take a workspace dataset's name; `dedup` said "No file at
    general-quiz: check the path." and exited 2."""
    import json

    from studio.__main__ import main
    from studio.data import store

    store.create_dataset("General quiz", [{"question": "What is the capital of Australia?", "answer": "Canberra."},
                                          {"question": "Who wrote Emma?", "answer": "Jane Austen."},
                                          {"question": "what is the capital of australia", "answer": "Canberra."}])
    report = tmp_path / "dups.json"
    assert main(["dedup", "General quiz", "--threshold", "90", "--report", str(report)]) == 0
    found = json.loads(report.read_text())
    assert found["clusters"] == [[0, 2]]
    assert found["passage"] == "none in the dataset"  # it said "none in the file" of a dataset named, not a file
