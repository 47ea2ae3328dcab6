"""Semantic dedup, leakage and answer similarity with the real all-MiniLM-L6-v2 (offline package)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from rapidfuzz import fuzz

from studio.data import sample
from studio.dedup.clusters import Cluster, Pair
from studio.dedup.embed import Embedder
from studio.dedup.semantic import (
    EXACT_LIMIT,
    answer_similarity,
    choose_method,
    combine_clusters,
    estimate_dedup_seconds,
    estimate_run,
    find_semantic_duplicates,
    leakage,
    record_texts,
    semantic_pairs,
    validate_threshold,
)
from studio.errors import CancelledError, StudioError

# Same question in other words: fuzzy matching at 85 misses every one of these.
PARAPHRASES = [
    ("Who wrote the play Romeo and Juliet?", "Romeo and Juliet was written by whom?"),
    ("What is the boiling point of water at sea level?", "At what temperature does water boil at sea level?"),
    ("What is the largest planet in the solar system?", "Which planet in our solar system is the biggest?"),
    ("Why is the sky blue?", "What makes the sky look blue?"),
]
# Different questions, some of them lexically close (fuzzy matching at 85 would merge the first two).
DIFFERENT = [
    "What is the capital of France?",
    "What is the capital of Germany?",
    "How many players are on a basketball team?",
    "How long should I boil an egg?",
    "What is the tallest mountain in the world?",
]


def clustered_vectors(n: int, centres: int, noise: float, seed: int = 0) -> np.ndarray:
    """Unit vectors in tight groups around random centres: a stand-in for embedded near-duplicates."""
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, 64), dtype=np.float32)
    x = c[rng.integers(0, centres, n)] + noise * rng.standard_normal((n, 64), dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_paraphrases_cluster_where_fuzzy_matching_sees_nothing(embedder: Embedder) -> None:
    texts = [q for pair in PARAPHRASES for q in pair] + DIFFERENT
    for a, b in PARAPHRASES:
        assert fuzz.ratio(a, b) < 85
    clusters = find_semantic_duplicates(texts, threshold=0.9, embedder=embedder)
    assert {c.members for c in clusters} == {(0, 1), (2, 3), (4, 5), (6, 7)}
    vecs = embedder.encode(texts)
    for c in clusters:
        assert c.kind == "semantic" and c.keep in c.members
        (p,) = c.pairs
        assert p.score == pytest.approx(float(vecs[p.i] @ vecs[p.j]) * 100, abs=0.01)
        assert 90 <= p.score <= 100


def test_sample_dataset_paraphrases_that_fuzzy_matching_misses(embedder: Embedder) -> None:
    questions = [r["question"] for r in sample.load_sample()]
    where = {q.strip(): i for i, q in enumerate(questions)}
    planted = [("What size and weight must a match ball be?", "What weight and size must a match ball be?"),
               ("How far away must opponents stand at a free kick?",
                "Can you tell me how far away opponents must stand at a free kick?"),
               ("How high is the crossbar above the ground?", "How far off the ground is the crossbar?")]
    clusters = find_semantic_duplicates(questions, 0.9, embedder)
    together = {frozenset(c.members) for c in clusters}
    for a, b in planted:
        assert fuzz.ratio(a.lower(), b.lower()) < 85
        assert any({where[a], where[b]} <= members for members in together), (a, b)
    # The first 40 questions are a distinct FAQ: no cluster may lie inside them.
    assert not any(max(c.members) < 40 for c in clusters)


def test_unrelated_and_lexically_close_questions_stay_apart(embedder: Embedder) -> None:
    assert fuzz.ratio(DIFFERENT[0], DIFFERENT[1]) >= 85  # the fuzzy false positive
    assert find_semantic_duplicates(DIFFERENT, threshold=0.9, embedder=embedder) == []


def test_precomputed_embeddings_and_question_answer_text(embedder: Embedder) -> None:
    records = [("Why is the sky blue?", "Sunlight scatters off air molecules, blue the most."),
               ("What makes the sky look blue?", "Air scatters blue sunlight more than red."),
               ("Why is the sky blue?", "Because of the ocean's reflection, which is a myth.")]
    texts = record_texts([{"question": q, "answer": a} for q, a in records], with_answer=True)
    assert texts[0] == f"{records[0][0]}\n{records[0][1]}"
    vecs = embedder.encode(texts)
    clusters = find_semantic_duplicates(texts, threshold=0.8, embeddings=vecs)
    assert [c.members for c in clusters] == [(0, 1)]
    with pytest.raises(StudioError, match="Got 2 embeddings for 3 texts"):
        find_semantic_duplicates(texts, embeddings=vecs[:2])


@pytest.mark.parametrize("bad", [0, -0.5, 1.01, float("nan"), "high", None])
def test_thresholds_outside_zero_to_one_are_refused(bad: object) -> None:
    with pytest.raises(StudioError) as e:
        find_semantic_duplicates(["a", "b"], threshold=bad, embeddings=np.eye(2, dtype=np.float32))
    assert "threshold" in str(e.value) and "\n" not in str(e.value)


def test_percent_style_threshold_gets_a_hint_and_one_means_identical(embedder: Embedder) -> None:
    with pytest.raises(StudioError, match="Did you mean 0.9"):
        validate_threshold(90)
    assert validate_threshold("0.85") == 0.85
    texts = ["Why is the sky blue?", "Why is the sky blue?", "What makes the sky look blue?"]
    assert [c.members for c in find_semantic_duplicates(texts, 1.0, embedder)] == [(0, 1)]


def test_index_search_finds_what_exact_search_finds() -> None:
    vecs = clustered_vectors(3000, 600, noise=0.15)
    exact = {(p.i, p.j) for p in semantic_pairs(vecs, 0.9, method="exact")}
    index = semantic_pairs(vecs, 0.9, method="index")
    found = {(p.i, p.j) for p in index}
    assert len(exact) > 1000
    assert found <= exact and len(found) >= 0.99 * len(exact)
    assert all(p.i < p.j and p.score >= 90 for p in index)


def test_crowded_groups_stay_whole_with_bounded_pairs() -> None:
    vecs = np.tile(clustered_vectors(1, 1, 0.0), (60, 1))  # 60 copies of one record
    for method in ("exact", "index"):
        pairs = semantic_pairs(vecs, 0.95, method=method, neighbors=5)
        assert len(pairs) <= 60 * 5
        clusters = find_semantic_duplicates(["x"] * 60, 0.95, embeddings=vecs, method=method, neighbors=5)
        assert [c.members for c in clusters] == [tuple(range(60))]
    assert choose_method(EXACT_LIMIT) == "exact" and choose_method(EXACT_LIMIT + 1) == "index"
    with pytest.raises(StudioError, match="Unknown search method"):
        semantic_pairs(vecs, 0.9, method="annoy")


@pytest.mark.parametrize("method", ["exact", "index"])
def test_search_reports_progress_and_cancels(method: str) -> None:
    vecs = clustered_vectors(9000, 900, noise=0.2)
    seen: list[tuple[int, int]] = []
    semantic_pairs(vecs, 0.9, method=method, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (9000, 9000) and [d for d, _ in seen] == sorted(d for d, _ in seen)

    stop = threading.Event()

    def progress(done: int, total: int) -> None:
        stop.set()

    with pytest.raises(CancelledError):
        semantic_pairs(vecs, 0.9, method=method, progress=progress, cancel=stop)


def test_end_to_end_progress_covers_embedding_then_search(embedder: Embedder) -> None:
    texts = [q for pair in PARAPHRASES for q in pair]
    seen: list[tuple[int, int]] = []
    find_semantic_duplicates(texts, 0.9, embedder, progress=lambda d, t: seen.append((d, t)))
    assert seen[0][1] == 16 and seen[-1] == (16, 16)
    stop = threading.Event()
    stop.set()
    with pytest.raises(CancelledError):
        find_semantic_duplicates(texts, 0.9, embedder, cancel=stop)


def test_leakage_flags_a_paraphrased_training_question(embedder: Embedder) -> None:
    train = ["How long should I boil an egg?", "At what temperature does water boil at sea level?",
             "What is the tallest mountain in the world?"]
    evals = ["What is the boiling point of water at sea level?", "Who painted the Mona Lisa?"]
    assert fuzz.ratio(evals[0], train[1]) < 85
    seen: list[tuple[int, int]] = []
    hits = leakage(evals, train, threshold=0.9, embedder=embedder, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (7, 7)  # 2 + 3 texts embedded, then 2 evaluation texts compared
    stop = threading.Event()
    stop.set()
    with pytest.raises(CancelledError):
        leakage(evals, train, 0.9, embedder, cancel=stop)
    assert [(e, t) for e, t, _ in hits] == [(0, 1)]
    assert 90 <= hits[0][2] <= 100
    # Precomputed embeddings give the same answer without a model.
    again = leakage(evals, train, 0.9, eval_embeddings=embedder.encode(evals),
                    train_embeddings=embedder.encode(train))
    assert again == hits
    assert leakage([], train, 0.9, embedder) == []
    with pytest.raises(StudioError, match="threshold"):
        leakage(evals, train, 1.5, embedder)


def test_answer_similarity_prefers_the_right_answer_in_other_words(embedder: Embedder) -> None:
    refs = ["The capital of France is Paris."] * 3 + ["There are eleven players on each side."] * 2
    answers = ["Paris is the French capital.", "The capital of France is Lyon.", "",
               "Each team fields 11 players.", "Football is popular."]
    right, wrong, empty, right2, off_topic = answer_similarity(answers, refs, embedder)
    assert right > wrong and right > 0.9
    assert empty == 0.0
    assert right2 > off_topic
    assert all(-1 <= s <= 1 for s in (right, wrong, right2, off_topic))
    with pytest.raises(StudioError, match="must pair up"):
        answer_similarity(["a"], ["a", "b"], embedder)


def test_fuzzy_and_semantic_clusters_combine() -> None:
    fuzzy = [Cluster((0, 1), (Pair(0, 1, 92.0),), keep=1, kind="fuzzy")]
    semantic = [Cluster((1, 2), (Pair(1, 2, 93.5),), keep=2, kind="semantic"),
                Cluster((3, 4), (Pair(3, 4, 91.0),), keep=3, kind="semantic"),
                Cluster((0, 1), (Pair(0, 1, 97.0),), keep=0, kind="semantic")]
    merged = combine_clusters(5, fuzzy, semantic)
    assert [(c.members, c.kind, c.keep) for c in merged] == [
        ((0, 1, 2), "fuzzy+semantic", 1), ((3, 4), "semantic", 3)]
    assert {(p.i, p.j): p.score for p in merged[0].pairs} == {(0, 1): 97.0, (1, 2): 93.5}


def test_a_cluster_cut_at_a_higher_threshold_is_marked_by_what_found_its_own_pairs() -> None:
    """Both, combined, found at cosine 0.5 on the sample and reviewed at 90: two copies of "When is a penalty kick
    awarded?" were marked exact, fuzzy and semantic, the kinds of the large cluster they were cut from."""
    from studio.dedup import fuzzy as dedup

    fuzzy = [Cluster((0, 1), (Pair(0, 1, 100.0),), keep=0, kind="fuzzy")]
    semantic = [Cluster((0, 1, 2, 3), (Pair(0, 1, 100.0, "exact"), Pair(1, 2, 60.0, "semantic"),
                                       Pair(2, 3, 95.0, "semantic")), keep=0, kind="semantic")]
    (merged,) = combine_clusters(4, fuzzy, semantic)
    assert merged.kind == "exact+fuzzy+semantic"
    assert {c.members: c.kind for c in dedup.clusters_at([merged], 90)} == {(0, 1): "exact", (2, 3): "semantic"}
    assert {c.members: c.kind for c in dedup.clusters_at(semantic, 90)} == {(0, 1): "exact", (2, 3): "semantic"}
    assert [c.kind for c in dedup.clusters_at([merged], 50)] == ["exact+fuzzy+semantic"]  # uncut: as found


def test_estimates_grow_with_size_and_skip_embedding_when_done() -> None:
    small, large = estimate_dedup_seconds(1_000, 100.0), estimate_dedup_seconds(100_000, 100.0)
    assert 10 <= small < large
    assert estimate_dedup_seconds(100_000, 100.0, embedded=True) < large - 900


def test_a_large_run_is_estimated_before_it_starts(embedder: Embedder) -> None:
    texts = [f"How many moons does planet number {i} have?" for i in range(12_000)]
    est = estimate_run(texts, embedder)
    assert est.records == 12_000 and est.method == "exact" and est.throughput > 1
    assert est.seconds >= 12_000 / est.throughput
    assert est.message.startswith("Semantic dedup of 12,000 records will take about ")
    measured = embedder.seconds_per_char
    assert estimate_run(texts, embedder, embedded=True).seconds < est.seconds
    assert embedder.seconds_per_char == measured  # measured once, reused by the next estimate


def test_the_estimate_follows_the_length_of_the_texts(embedder: Embedder) -> None:
    """Embedding cost grows with text length, so long questions are estimated slower per record than
    short ones, from the one measurement the embedder keeps."""
    short = [f"Who scored goal {i}?" for i in range(12_000)]
    long = [f"In the match played on day {i}, which player of the home team scored the winning goal "
            "after the referee had allowed four minutes of added time?" for i in range(12_000)]
    assert estimate_run(long, embedder).seconds > 2 * estimate_run(short, embedder).seconds


# ---- semantic dedup through studio.dedup.fuzzy (the review queue and the CLI use it) -------------------

QA = [{"question": a, "answer": f"answer {k}"} for k, pair in enumerate(PARAPHRASES) for a in pair] + [
    {"question": q, "answer": "other"} for q in DIFFERENT] + [{"question": "  ", "answer": "blank one"},
                                                            {"question": "", "answer": "blank two"}]


def test_dedup_records_semantic_finds_paraphrases_and_skips_blank_questions(embedder: Embedder, static_model) -> None:
    from studio.dedup import fuzzy as dedup

    fuzzy = dedup.dedup_records(QA, dedup.DedupConfig(threshold=85))
    assert {c.members for c in fuzzy} == {(8, 9)}  # capital of France / Germany: close characters only
    found = dedup.dedup_records(QA, dedup.DedupConfig(method="semantic", semantic_threshold=0.8), embedder=embedder)
    assert {c.members for c in found} >= {(0, 1), (2, 3), (4, 5), (6, 7)}
    assert all(c.kind == "semantic" and 80 <= c.top_score <= 100.001 for c in found)
    assert not any(m in c.members for c in found for m in (13, 14))  # blank questions match nothing


def test_dedup_records_both_combines_and_marks_the_kinds(embedder: Embedder, static_model) -> None:
    from studio.dedup import fuzzy as dedup

    records = QA[:2] + [{"question": "Who wrote the play Romeo and Juliet ?", "answer": "Shakespeare, longer"},
                        {"question": "What is the capital of France?", "answer": "Paris"},
                        {"question": "What is the capital of Frances?", "answer": "Paris"}]
    config = dedup.DedupConfig(threshold=90, method="both", semantic_threshold=0.8)
    found = {c.members: c for c in dedup.dedup_records(records, config, embedder=embedder)}
    assert set(found) == {(0, 1, 2), (3, 4)}
    assert found[(0, 1, 2)].kind in ("exact+semantic", "fuzzy+semantic")  # 0-2 by characters, 1 by meaning
    assert found[(0, 1, 2)].keep == 2  # the most complete record is suggested
    assert "fuzzy" in found[(3, 4)].kind
    assert config.floor == 80


@pytest.mark.parametrize("config,message", [
    (dict(method="semantic", semantic_threshold=90), "Did you mean 0.9"),
    (dict(method="magic"), "Unknown method"),
])
def test_dedup_config_refuses_bad_semantic_settings(config: dict, message: str) -> None:
    from studio.dedup import fuzzy as dedup

    with pytest.raises(StudioError, match=message):
        dedup.DedupConfig(**config)


def test_cli_semantic_method_writes_the_same_report(tmp_path, static_model) -> None:
    import json
    import subprocess
    import sys

    src = tmp_path / "qa.json"
    src.write_text(json.dumps(QA))
    run = subprocess.run([sys.executable, "-m", "studio", "dedup", str(src), "--method", "semantic",
                          "--threshold", "0.8", "--report", str(tmp_path / "r.json"), "--out", str(tmp_path / "k.json")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert {"clusters", "scores", "keep", "kinds", "method", "threshold", "records"} <= set(report)
    assert [0, 1] in report["clusters"] and set(report["kinds"]) == {"semantic"}
    assert report["method"] == "semantic" and report["threshold"] == 0.8 and report["records"] == len(QA)
    assert len(json.loads((tmp_path / "k.json").read_text())) == len(QA) - sum(len(c) - 1 for c in report["clusters"])
    assert "Loading weights" not in run.stderr and run.stderr.count("\n") == 1

    bad = subprocess.run([sys.executable, "-m", "studio", "dedup", str(src), "--method", "semantic",
                          "--threshold", "90", "--report", str(tmp_path / "r2.json")],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "0.9" in bad.stderr
    assert bad.stderr.count("\n") == 1 and not (tmp_path / "r2.json").exists()
