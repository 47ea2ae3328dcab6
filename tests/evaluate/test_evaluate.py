"""The evaluation engine and CLI on real tiny models, a real run folder and a loopback API server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from studio.data import store
from studio.errors import DatasetFormatError, DatasetValidationError, StudioError
from studio.evaluate import job as eval_jobs
from studio.evaluate import leakage
from studio.evaluate import questions as eval_questions
from studio.evaluate import results as eval_results
from studio.evaluate import runner as evaluate
from studio.evaluate.config import EvalConfig
from studio.train import runs

REPO = Path(__file__).resolve().parents[2]
QA = [
    {"question": "How long is a match?", "answer": "Two halves of 45 minutes."},
    {"question": "How many players are on a team?", "answer": "Eleven, one of them the goalkeeper."},
    {"question": "What is a corner kick?", "answer": "A restart after the defenders put the ball over their goal line."},
    {"question": "Who enforces the Laws of the Game?", "answer": "The referee."},
    {"question": "What happens after a foul in the penalty area?", "answer": "A penalty kick."},
]


def make_run(tiny_model: Path, run_id: str = "20261122-000000-tuned", *, train=(0, 1, 2), test=(3, 4)) -> str:
    """A training run folder in the real layout (run.json, split.json, metrics.jsonl, model/)."""
    ds = store.create_dataset("Soccer QA", QA)
    folder = runs.run_dir(run_id)
    folder.mkdir(parents=True)
    runs.write_run(folder, {"id": run_id, "name": "tuned", "created": "2026-11-22T00:00:00+00:00", "config": {},
                            "base": "tiny", "dataset": {"id": ds.id, "name": ds.name, "version": 1,
                                                        "sha256": ds.latest.sha256, "count": len(QA)}})
    runs.write_split(folder, {"train": list(train), "test": list(test)})
    for step, loss in ((1, 5.0), (2, 4.0), (3, 3.5)):
        runs.append_metrics(folder, {"step": step, "loss": loss})
    shutil.copytree(tiny_model, folder / "model")
    return run_id


def test_config_round_trips_and_validates():
    cfg = EvalConfig(models=("a", "api:b"), dataset_file="qa.json", sample=3, judge="api:j")
    assert EvalConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(StudioError, match="No model chosen"):
        EvalConfig(models=(), dataset_file="x.json")
    with pytest.raises(StudioError, match="No questions chosen"):
        EvalConfig(models=("a",))
    with pytest.raises(StudioError, match="twice"):
        EvalConfig(models=("a", "a"), dataset_file="x.json")


def test_dataset_without_answers_is_a_clear_error(tmp_path):
    f = tmp_path / "qs.json"
    f.write_text(json.dumps([{"question": "How long is a match?"}, {"question": "Who is the referee?"}]))
    with pytest.raises(DatasetFormatError, match="No answer field found"):
        eval_questions.load_questions(EvalConfig(models=("m",), dataset_file=str(f)))
    f.write_text(json.dumps(QA[:2] + [{"question": "no answer"}]))
    with pytest.raises(DatasetValidationError, match="record 3: answer is missing"):  # as `dataset import` says
        eval_questions.load_questions(EvalConfig(models=("m",), dataset_file=str(f)))


def test_sample_is_seeded_and_recorded(tmp_path):
    f = tmp_path / "qa.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in QA))
    a = eval_questions.load_questions(EvalConfig(models=("m",), dataset_file=str(f), sample=3, seed=7))
    b = eval_questions.load_questions(EvalConfig(models=("m",), dataset_file=str(f), sample=3, seed=7))
    assert [r["question"] for r in a.records] == [r["question"] for r in b.records] and len(a.records) == 3
    assert a.dataset["sample"] == 3 and a.dataset["count"] == 5 and len(a.dataset["sha256"]) == 64


def test_a_sample_larger_than_the_questions_says_every_one_is_evaluated(tmp_path):
    """A sample of 500 from a 5-question split evaluated all 5 without a word: the page read "5 questions" where a
    sample of 500 had been asked for."""
    f = tmp_path / "qa.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in QA))
    qs = eval_questions.load_questions(EvalConfig(models=("m",), dataset_file=str(f), sample=500))
    assert len(qs.records) == 5 and "sample" not in qs.dataset
    assert qs.notes == ["A sample of 500 was asked for, and there are 5 questions: every one is evaluated."]


def test_leakage_flags_near_duplicates_of_training_questions():
    leaks = leakage.find_leaks(
        ["How long is a soccer match?", "What colour is the ball?", "how many players are on a team"],
        ["How long is a soccer match ?", "How many players are on a team?", "Who takes a penalty?"],
        threshold=90,
    )
    assert leaks[1] is None
    assert leaks[0]["train_question"] == "How long is a soccer match ?" and leaks[0]["score"] >= 90
    assert leaks[2]["train_question"] == "How many players are on a team?"
    assert leakage.find_leaks(["q"], [], 90) == [None]


def test_semantic_leakage_also_flags_paraphrases(embedder, offline, monkeypatch):
    """With the session's embedder (the default model, loaded once for the dedup tests too): this test loaded a
    second copy of its own through ``shared_embedder``, and without ``offline`` asked the Hub for it first."""
    from studio.dedup import semantic

    monkeypatch.setattr(semantic, "shared_embedder", lambda *args, **kwargs: embedder)
    evals = ["How many people play for each side?", "What colour is the referee's whistle?"]
    train = ["How many players are on a team?", "Who takes a penalty kick?"]
    assert leakage.find_leaks(evals, train, 90) == [None, None]  # few characters in common
    leaks = leakage.find_leaks(evals, train, 90, semantic_threshold=0.6)
    assert leaks[0]["kind"] == "semantic" and leaks[0]["train_question"] == train[0] and leaks[1] is None


def test_run_split_is_the_default_question_set_and_its_training_questions_feed_leakage(tiny_gpt2):
    run_id = make_run(tiny_gpt2, train=(0, 1, 2), test=(3, 4, 0))  # question 0 leaked into the test split
    qs = eval_questions.load_questions(EvalConfig(models=(f"run:{run_id}",), run_id=run_id))
    assert [r["question"] for r in qs.records] == [QA[3]["question"], QA[4]["question"], QA[0]["question"]]
    assert qs.dataset["run_id"] == run_id and qs.dataset["version"] == 1 and qs.dataset["sha256"]
    assert set(qs.train_questions) == {QA[i]["question"] for i in (0, 1, 2)}
    with pytest.raises(StudioError, match="deleted"):
        eval_questions.load_questions(EvalConfig(models=("m",), run_id="20990101-gone"))


def test_two_runs_on_the_same_split_count_each_training_question_once():
    """A LoRA run and a scratch run of the same 16-record dataset, held out alike, evaluated together: the page said
    "Leakage checked against 28 training questions" (14 twice over), more than the dataset holds."""
    ds = store.create_dataset("Soccer QA", QA)
    ids = []
    for name in ("lora", "scratch"):
        folder = runs.run_dir(f"20261122-000000-{name}")
        folder.mkdir(parents=True)
        runs.write_run(folder, {"id": folder.name, "name": name, "config": {}, "base": "tiny",
                                "dataset": {"id": ds.id, "name": ds.name, "version": 1, "sha256": ds.latest.sha256,
                                            "count": len(QA)}})
        runs.write_split(folder, {"train": [0, 1, 2], "test": [3, 4]})
        ids.append(folder.name)
    qs = eval_questions.load_questions(EvalConfig(models=tuple(f"run:{i}" for i in ids), run_id=ids[0]))
    assert sorted(qs.train_questions) == sorted(QA[i]["question"] for i in (0, 1, 2))


def _run_trained_on_a_file(tmp_path: Path) -> tuple[Path, Path]:
    """A run made by `train --dataset qa.json`: QA's records 0-2 trained on, 3-4 held out."""
    import hashlib

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    folder = runs.run_dir("20261122-000000-from-file")
    folder.mkdir(parents=True)
    runs.write_run(folder, {"id": folder.name, "name": "from file", "config": {}, "base": "tiny",
                            "dataset": {"name": "qa", "file": str(data), "count": len(QA),
                                        "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}})
    runs.write_split(folder, {"train": [0, 1, 2], "test": [3, 4]})
    return data, folder


def test_a_run_trained_on_a_file_is_evaluated_on_its_held_out_split(tmp_path):
    """`train --dataset qa.json` then `evaluate --run ID`: the split indexes the file's records."""
    data, folder = _run_trained_on_a_file(tmp_path)
    qs = eval_questions.load_questions(EvalConfig(models=("m",), run_id=folder.name))
    assert [r["question"] for r in qs.records] == [QA[3]["question"], QA[4]["question"]]
    assert set(qs.train_questions) == {QA[i]["question"] for i in (0, 1, 2)}
    data.write_text(json.dumps(QA[::-1]))  # the same file edited since: its indices name other records now
    with pytest.raises(StudioError, match="changed since"):
        eval_questions.load_questions(EvalConfig(models=("m",), run_id=folder.name))


def test_a_run_trained_on_a_file_has_its_training_questions_checked_for_leakage_on_any_questions(tmp_path):
    """The README's `train --dataset data/soccer_rules.json` run evaluated on the sample dataset (142 of its 158
    questions trained on) was checked against no training question at all: nothing flagged, scores flattered."""
    data, folder = _run_trained_on_a_file(tmp_path)
    ds = store.create_dataset("Soccer QA", QA)  # the same questions, as a workspace dataset
    qs = eval_questions.load_questions(EvalConfig(models=(f"run:{folder.name}",), dataset_id=ds.id))
    assert set(qs.train_questions) == {QA[i]["question"] for i in (0, 1, 2)}
    leaks = leakage.find_leaks([r["question"] for r in qs.records], qs.train_questions, 90)
    assert [bool(x) for x in leaks] == [True, True, True, False, False]
    data.write_text(json.dumps(QA[::-1]))  # edited since: its indices name other records, so none is claimed
    assert eval_questions.load_questions(EvalConfig(models=(f"run:{folder.name}",), dataset_id=ds.id)).train_questions == []


def test_cli_evaluates_two_tiny_models_keeps_failures_and_writes_reports(tiny_gpt2, tiny_phi3, tmp_path, offline):
    run_id = make_run(tiny_gpt2)
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    train = tmp_path / "train.json"
    train.write_text(json.dumps([QA[0], {"question": "Is a throw-in taken with both hands?", "answer": "Yes."}]))
    out, html = tmp_path / "report.json", tmp_path / "report.html"
    # a model that is there but fails to load (a missing one is refused before any question: test_cli_hostile_inputs)
    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_phi3, broken)
    for weights in broken.glob("*.safetensors"):
        weights.write_bytes(b"not weights")
    proc = subprocess.run(
        [sys.executable, "-m", "studio", "evaluate", "--dataset", str(data), "--model", str(tiny_phi3),
         "--model", str(runs.run_dir(run_id)), "--model", str(broken), "--out", str(out),
         "--html", str(html), "--train", str(train), "--max-new-tokens", "8", "--batch-size", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(out.read_text())
    models = [str(tiny_phi3), str(runs.run_dir(run_id)), str(broken)]
    assert len(rep["rows"]) == len(QA)
    for row, qa in zip(rep["rows"], QA):
        assert row["question"] == qa["question"] and row["reference"] == qa["answer"]
        for m in models[:2]:
            assert isinstance(row["answers"][m], str)
            s = row["scores"][m]
            assert 0 <= s["f1"] <= 1 and 0 <= s["chrf"] <= 100 and s["perplexity"] > 1 and s["latency_s"] > 0
        assert row["errors"][models[2]]  # the broken model fails its cells, with the reason
    assert set(rep["summary"]) == set(models)
    assert rep["summary"][models[2]]["failed"] == len(QA) and rep["summary"][models[0]]["answered"] == len(QA)
    # leaked: question 0 (in --train) and the run's own training questions 0-2 (found from its directory)
    assert [bool(r["leak"]) for r in rep["rows"]] == [True, True, True, False, False]
    assert rep["dataset"]["sha256"] and rep["config"]["seed"] == 0 and rep["models"][1]["revision"]
    assert f"warning: {broken}" in proc.stderr
    # each model's load is said as it starts (minutes on a CPU), not skipped for coming within 2 s of another line
    assert sum(1 for line in proc.stderr.splitlines() if "] loading " in line) >= 2, proc.stderr
    page = html.read_text()
    assert "Plotly.newPlot" in page and "How many players are on a team?" in page
    assert "Training curves of the runs evaluated" in page  # the run's loss curve, found from its directory
    stored = eval_results.list_evals()  # the CLI's run is in the workspace too, for the page
    assert len(stored) == 1 and stored[0].status == "finished"


def _stub_api(reply):
    """A loopback OpenAI-compatible server streaming ``reply(body) -> (status, text)``.

    A fake, because a real server cannot be made to fail midway or to judge on cue; it streams like one.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, text = reply(body)
            if status != 200:
                payload = json.dumps({"error": {"message": text}}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            base = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": body.get("model", "m")}
            chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]},
                      {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
            data = ("".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


@pytest.fixture
def flaky_api():
    """Answers two questions, then refuses every request with a 400 (not retried)."""
    served = []
    lock = threading.Lock()

    def reply(body):
        with lock:
            served.append(1)
            n = len(served)
        if n > 2:
            return 400, "quota exhausted"
        return 200, "Eleven" if "players" in body["messages"][-1]["content"] else "Two halves of 45 minutes."

    server, url = _stub_api(reply)
    yield url
    server.shutdown()


def test_llm_judge_scores_each_answer_with_a_reason(tmp_path):
    def reply(body):
        if body["messages"][0]["role"] == "system" and "grade answers" in body["messages"][0]["content"]:
            return 200, "**Score:** 4\nReason: close to the reference"
        return 200, "Two halves."

    server, url = _stub_api(reply)
    try:
        data = tmp_path / "qa.json"
        data.write_text(json.dumps(QA[:2]))
        result = evaluate.run_evaluation(EvalConfig(models=("api:answerer",), dataset_file=str(data), api_base_url=url,
                                                    judge="api:judge", answer_similarity=True))
    finally:
        server.shutdown()
    assert result.status == "finished"
    assert [r.judge["api:answerer"].to_json() for r in result.rows] == [{"score": 4, "reason": "close to the reference"}] * 2
    assert result.summary["api:answerer"]["judge"] == 4
    sims = [r.scores["api:answerer"]["similarity"] for r in result.rows]
    assert sims[0] > sims[1] and all(-1 <= s <= 1 for s in sims)  # "Two halves." is closer to the match length


def test_api_model_failing_midway_keeps_answers_and_reasons(flaky_api, tmp_path):
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    cfg = EvalConfig(models=("api:served-model",), dataset_file=str(data), api_base_url=flaky_api, api_concurrency=1)
    result = evaluate.run_evaluation(cfg)
    assert result.status == "finished"
    answered = [r for r in result.rows if "api:served-model" in r.answers]
    failed = [r for r in result.rows if "api:served-model" in r.errors]
    assert len(answered) == 2 and len(failed) == 3
    assert all("quota exhausted" in r.errors["api:served-model"] for r in failed)
    assert result.summary["api:served-model"]["answered"] == 2
    assert eval_results.load(result.id).rows[0].answers == result.rows[0].answers


def test_cancel_keeps_partial_results(tiny_gpt2, tiny_phi3, tmp_path, offline):
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    first = str(tiny_gpt2)
    cfg = EvalConfig(models=(first, str(tiny_phi3)), dataset_file=str(data), max_new_tokens=4, batch_size=2)
    seen = []

    def progress(done, total, stage):
        seen.append(done)

    result = evaluate.run_evaluation(cfg, progress=progress, cancel=lambda: max(seen, default=0) >= len(QA))
    assert result.status == "stopped" and "kept" in result.error
    stored = eval_results.load(result.id)
    assert stored.status == "stopped"
    assert all(first in r.answers for r in stored.rows)  # the first model finished before the stop
    assert all(str(tiny_phi3) not in r.answers for r in stored.rows)


def test_background_job_runs_and_reports_progress(tiny_gpt2, tmp_path, offline):
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA[:2]))
    eval_id = eval_jobs.start_evaluation(EvalConfig(models=(str(tiny_gpt2),), dataset_file=str(data), max_new_tokens=4))
    deadline = time.time() + 180
    while time.time() < deadline and eval_jobs.job_state(eval_id).active:
        time.sleep(0.5)
    status = eval_jobs.job_state(eval_id)
    assert status.state == "finished", (status, (eval_jobs.job_dir(eval_id) / "log.txt").read_text())
    assert status.progress == 1.0
    result = eval_results.load(eval_id)
    assert result.status == "finished" and all(str(tiny_gpt2) in r.answers for r in result.rows)


def test_an_evaluation_refused_for_too_many_running_jobs_leaves_no_folder_behind(tmp_path):
    """A start refused because the visitor's jobs were at their bound left a new, empty evals/ folder in the
    workspace (the queued result was taken back, its folder not)."""
    from studio import config, jobs

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    assert not config.evals_dir(make=False).exists()
    jobs.set_caps(per_workspace=0)
    try:
        with pytest.raises(StudioError, match="background job"):
            eval_jobs.start_evaluation(EvalConfig(models=("api:m",), dataset_file=str(data),
                                                  api_base_url="http://127.0.0.1:9/v1"))
    finally:
        jobs.set_caps()
    assert not config.evals_dir(make=False).exists() and eval_results.list_evals() == []


def test_an_evaluation_whose_queued_result_cannot_be_saved_leaves_no_folder_behind(tmp_path, monkeypatch):
    """A full disk refusing the queued result's file left the evals/ folder that save had just made (the refusal of
    the job's start took it back, its own save's not). The full disk is faked (the write fails once its folder is
    made, as a real one's does): a real one cannot be made here."""
    import errno

    from studio import atomic, config

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))

    def full_disk(path, data):
        path.parent.mkdir(parents=True, exist_ok=True)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "_write", full_disk)
    assert not config.evals_dir(make=False).exists()
    with pytest.raises(StudioError, match="disk is full|No space|space"):
        eval_jobs.start_evaluation(EvalConfig(models=("api:m",), dataset_file=str(data),
                                              api_base_url="http://127.0.0.1:9/v1"))
    assert not config.evals_dir(make=False).exists() and not config.jobs_dir(make=False).exists()


def test_start_refuses_questions_that_cannot_be_read():
    with pytest.raises(StudioError, match="deleted"):
        eval_jobs.start_evaluation(EvalConfig(models=("m",), run_id="20990101-gone"))
    assert eval_results.list_evals() == []


@pytest.mark.parametrize("args, message", [
    (["--model", "m", "--out", "r.txt"], "end the name in .json, .csv or .html"),
    (["--out", "r.json"], "No model given"),
    (["--model", "m"], "No output given"),
    (["--model", "m", "--out", "r.json", "--dataset", "missing.json"], "No file or workspace dataset"),
])
def test_cli_bad_input_is_one_line_exit_2_before_any_work(args, message, tmp_path, capsys, monkeypatch):
    from studio.__main__ import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "qa.json").write_text(json.dumps(QA))
    argv = ["evaluate"] + (args if "--dataset" in args else ["--dataset", "qa.json"] + args)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert eval_results.list_evals() == []


def test_cli_dataset_without_answers(tmp_path, capsys):
    from studio.__main__ import main

    f = tmp_path / "qs.json"
    f.write_text(json.dumps([{"question": "How long is a match?"}]))
    assert main(["evaluate", "--dataset", str(f), "--model", "m", "--out", str(tmp_path / "r.json")]) == 2
    assert "No answer field found" in capsys.readouterr().err
    assert eval_results.list_evals() == []  # nothing half-made left in the workspace


def test_a_real_training_run_is_evaluated_on_its_held_out_split(tiny_gpt2, offline):
    from studio.train import loop as train

    records = QA + [{"question": "How big is the ball?", "answer": "Size five."}]
    ds = store.create_dataset("Soccer QA", records)
    run_id = runs.new_run_id("tuned")
    cfg = train.TrainConfig(base=str(tiny_gpt2), learning_rate=1e-2, batch_size=2, max_steps=2, logging_steps=1,
                            test_fraction=0.34)
    train.run_job(cfg, store.load_version(ds.id), runs.run_dir(run_id), name="tuned",
                  dataset={"id": ds.id, "name": ds.name, "version": 1, "sha256": ds.latest.sha256, "count": 6})
    result = evaluate.run_evaluation(EvalConfig(models=(str(tiny_gpt2), f"run:{run_id}"), run_id=run_id, max_new_tokens=4))
    assert result.status == "finished", result.error
    held_out = [records[i]["question"] for i in runs.load_run(run_id).split["test"]]
    assert [r.question for r in result.rows] == held_out and len(held_out) == 2
    tuned = result.models[1].label  # the run by its name and start time, not its folder id
    assert tuned.startswith("tuned · 20") and run_id not in tuned
    assert all(tuned in r.answers for r in result.rows)
    assert result.models[1].run_id == run_id and result.dataset["run_id"] == run_id
    assert not any(r.leak for r in result.rows)  # a clean split leaks nothing
    curves = evaluate.run_curves(result)
    assert [row["step"] for row in curves[tuned] if "loss" in row] == [1, 2]


def test_model_labels_name_runs_and_stay_distinct():
    from studio.train import runs

    ids = ["20261122-095700-soccer", "20261122-095730-soccer-2", "20261121-080000-soccer"]
    for rid in ids:  # two runs of the same name started in the same minute, one the day before
        runs.write_run(runs.run_dir(rid), {"name": "Soccer FAQ", "created": runs.now_iso(), "base": "scratch"})
    labels = evaluate.model_labels([f"run:{i}" for i in ids] + ["distilgpt2", "run:20990101-deleted"])
    assert labels == [f"Soccer FAQ · 2026-11-22 09:57 (run:{ids[0]})", f"Soccer FAQ · 2026-11-22 09:57 (run:{ids[1]})",
                      "Soccer FAQ · 2026-11-21 08:00", "distilgpt2", "run:20990101-deleted"]
    # a run whose id is its folder's name (the CLI's --out runs/faq), named by it: "faq · faq" said it twice
    runs.write_run(runs.run_dir("faq"), {"name": "faq", "created": runs.now_iso(), "base": "scratch"})
    runs.write_run(runs.run_dir("faq2"), {"name": "FAQ two", "created": runs.now_iso(), "base": "scratch"})
    assert evaluate.model_labels(["run:faq", "run:faq2"]) == ["faq", "FAQ two · faq2"]


def test_a_run_whose_tokenizer_was_deleted_is_one_failed_column_and_the_other_model_answers(tiny_gpt2, tiny_phi3,
                                                                                             tmp_path, offline):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_gpt2, broken)
    for f in broken.iterdir():
        if f.name.startswith(("tokenizer", "vocab", "merges", "special_tokens")):
            f.unlink()
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    result = evaluate.run_evaluation(evaluate.EvalConfig(models=(str(broken), str(tiny_phi3)), dataset_file=str(data),
                                                         max_new_tokens=4, batch_size=2), save=None)
    assert result.status == "finished"
    label = {m.spec: m.label for m in result.models}
    summary = eval_results.summarize(result)
    bad, good = label[str(broken)], label[str(tiny_phi3)]
    assert summary[bad]["failed"] == len(QA) and summary[good]["answered"] == len(QA)
    reason = result.rows[0].errors[bad]
    assert "tokenizer is missing or broken" in reason and "\n" not in reason
    ask = subprocess.run([sys.executable, "-m", "studio", "ask", str(broken), "Hello?"], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert ask.returncode == 2 and ask.stderr.strip().startswith("error: ") and "tokenizer is missing" in ask.stderr
    assert "Traceback" not in ask.stderr


def test_a_cli_evaluation_killed_midway_is_failed_interrupted_not_running_forever(tmp_path):
    import os
    import signal

    from chat_servers import FaultServer

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    with FaultServer().running() as server, (tmp_path / "stderr.txt").open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "studio", "evaluate", "--dataset", str(data), "--model", "api:m",
                                 "--base-url", server.url("silent"), "--out", str(tmp_path / "r.json")], cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=stderr)
        try:
            # the process's start (its imports) took up to 21 s of the 30 s this waited on a loaded 2-core machine: up
            # to 4 minutes now, ended at once where the process ended first
            deadline, listed = time.monotonic() + 240, []
            while time.monotonic() < deadline and proc.poll() is None:
                listed = eval_results.list_evals()
                if listed and listed[0].status == "running":
                    break
                time.sleep(0.1)
            assert proc.poll() is None, ("the evaluation ended by itself before it was killed: "
                                         f"{(tmp_path / 'stderr.txt').read_text()[-2000:]}")
            assert listed and listed[0].status == "running"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        finally:
            proc.kill()
    (info,) = eval_results.list_evals()
    assert info.status == "failed"
    assert eval_results.load(info.id).error.startswith("interrupted: the evaluation's process ended")


def _studio_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])


def test_cli_evaluations_of_local_models_take_the_device_like_training(tiny_gpt2, tmp_path, offline):
    """A foreground `train` holds the device (the claim the train command takes): `evaluate` of a local
    model is refused in one line. Then two `evaluate` processes: the second is refused while the first
    runs; Stop ends the first, which frees the device."""
    from studio import jobs

    qa = tmp_path / "qa.json"
    qa.write_text(json.dumps([{"question": f"What is rule {i}?", "answer": f"Rule {i}."} for i in range(400)]))
    args = ("evaluate", "--dataset", str(qa), "--model", str(tiny_gpt2), "--batch-size", "1", "--no-perplexity")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from studio import jobs\n"
        "jobs.claim_device('train', Path(sys.argv[1]), title='faq · distilgpt2'); print('held', flush=True); "
        "time.sleep(120)"),
        str(tmp_path / "run")], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout.readline().strip() == "held"
        refused = _studio_cli(*args, "--out", str(tmp_path / "r0.json"))
        assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
            "error: The device is busy with the training run “faq · distilgpt2”: one job per device at a time. Stop it or "
            "wait for "
            "it to finish."], refused.stderr
    finally:
        holder.kill()
        holder.wait()
    first = subprocess.Popen([sys.executable, "-m", "studio", *args, "--out", str(tmp_path / "r1.json")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2])
    try:
        deadline = time.time() + 60
        while jobs.active_device_job() is None and first.poll() is None and time.time() < deadline:
            time.sleep(0.1)
        held = jobs.active_device_job()
        assert held is not None and held.kind == "evaluate" and held.pid == first.pid, first.stderr.read()
        second = _studio_cli(*args, "--out", str(tmp_path / "r2.json"))
        assert second.returncode == 2 and "error: The device is busy with the evaluation of " in second.stderr, second.stderr
        assert len(second.stderr.strip().splitlines()) == 1 and not (tmp_path / "r2.json").exists()
        assert first.poll() is None  # the first one was not disturbed
        jobs.request_stop(Path(held.workdir))
        first.wait(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 130 and jobs.active_device_job() is None


def test_latency_says_it_is_averaged_over_a_batch_and_each_report_says_so(tiny_gpt2, tmp_path, offline):
    """A local model answers 5 questions in batches of 2: each answer's latency is its batch's time over its answers,
    so the two answers of a batch carry one value, and the result, the CSV (answers timed together) and the HTML
    report say it was averaged over a batch of 2; an API model's answers are each their request's own time."""
    import csv
    import io

    from studio.evaluate import latency, report

    server, url = _stub_api(lambda body: (200, "Two halves of 45 minutes."))
    try:
        data = tmp_path / "qa.json"
        data.write_text(json.dumps(QA))
        result = evaluate.run_evaluation(EvalConfig(models=(str(tiny_gpt2), "api:served"), dataset_file=str(data),
                                                    api_base_url=url, api_concurrency=2, max_new_tokens=4, batch_size=2))
    finally:
        server.shutdown()
    assert result.status == "finished"
    local, api = str(tiny_gpt2), "api:served"
    times = [r.scores[local]["latency_s"] for r in result.rows]
    assert times[0] == times[1] and times[2] == times[3] and all(t > 0 for t in times)
    stored = json.loads(eval_results.path(result.id).read_text())
    assert [m.get("latency_batch") for m in stored["models"]] == [2, None]
    assert latency.note(eval_results.load(result.id)) == (
        f"Latency is seconds per answer. {local}: averaged over a batch of 2 (the batch's time divided by its "
        f"answers; one question waits for the whole batch); {api}: each request's own time (2 requests in flight "
        "at once).")
    rows = list(csv.DictReader(io.StringIO(report.to_csv(result))))
    assert [r[f"{local} | latency_batch"] for r in rows] == ["2", "2", "2", "2", "1"]
    assert [r[f"{api} | latency_batch"] for r in rows] == ["1"] * 5
    page = report.to_html(result)
    assert "averaged over a batch of 2" in page and "each request&#x27;s own time" in page


def test_evaluating_a_file_with_records_that_are_not_objects_names_them(tmp_path):
    from dataset_cases import MIXED, MIXED_PROBLEMS

    f = tmp_path / "mixed.json"
    f.write_bytes(MIXED)
    with pytest.raises(DatasetValidationError, match=f"^{re.escape(MIXED_PROBLEMS[0])}"):
        eval_questions.load_questions(EvalConfig(models=("m",), dataset_file=str(f)))


def test_a_slow_api_server_gets_the_timeout_the_person_sets(tmp_path, capsys):
    """An API model's question failed with "no answer came within 60 s. Try again, or raise the timeout." and
    neither the command line nor the page had a timeout to raise: a model served on a CPU could not be evaluated."""
    from chat_servers import FaultServer

    from studio.__main__ import main

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA[:2]))
    out = tmp_path / "r.json"
    with FaultServer().running() as server:
        started = time.monotonic()
        code = main(["evaluate", "--dataset", str(data), "--model", "api:m", "--base-url", server.url("silent"),
                     "--api-timeout", "5", "--out", str(out)])
        took = time.monotonic() - started
        server.release.set()
    assert code == 1, capsys.readouterr().err  # every question timed out: every model failed
    assert took < 30  # each question waited 5 s, not 60
    report = json.loads(out.read_text())
    assert report["config"]["api_timeout_s"] == 5
    # and it says where: "raise the timeout" named no setting a person could find; then it named Chat's too (a
    # sidebar, --timeout), which give an evaluation no more time. A report is read on the page and run again from
    # either: Evaluate's setting and its flag.
    assert all(row["errors"]["api:m"].endswith("Try again, or raise API timeout (s) under Settings on the Evaluate "
                                               "page (--api-timeout on the command line).") for row in report["rows"])
    assert not any("sidebar" in row["errors"]["api:m"] for row in report["rows"])
    assert main(["evaluate", "--dataset", str(data), "--model", "api:m", "--api-timeout", "1",
                 "--out", str(tmp_path / "r2.json")]) == 2  # a new file: an existing one is refused first
    assert "error: The API timeout must be between 5 and 3600 seconds." in capsys.readouterr().err


@pytest.mark.parametrize("model", ["api", "local"])
def test_a_command_line_evaluation_is_listed_once_ended_and_leaves_no_job_folder(model, studio_home, tmp_path, capsys,
                                                                                 tiny_gpt2, offline):
    """`python -m studio evaluate` left `jobs/eval-<id>/status.json` (and, with a local model, the registry's lock)
    in the workspace for good, the live state of a run that had ended. Its result, with the outcome, is what the
    Evaluate page lists: it still does, and nothing else of the run is left."""
    from chat_servers import FaultServer

    from studio.__main__ import main

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA[:2]))
    with FaultServer().running() as server:
        spec = ["--model", "api:m", "--base-url", server.url("good")] if model == "api" else [
            "--model", str(tiny_gpt2), "--max-new-tokens", "2", "--no-perplexity"]
        code = main(["evaluate", "--dataset", str(data), *spec, "--out", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 0, err
    eval_id = re.search(r"saved as evaluation (\S+) ", err).group(1)
    assert [(e.id, e.status, e.questions) for e in eval_results.list_evals()] == [(eval_id, "finished", 2)]
    assert eval_results.load(eval_id).status == "finished"
    assert sorted(p.name for p in studio_home.iterdir() if p.name in ("jobs", "evals")) == ["evals"]


def test_an_api_timeout_over_ten_minutes_is_taken(tmp_path, capsys):
    """The API timeout may be set up to an hour (a model served on a slow CPU), but above 600 s every model of the
    evaluation failed at once: the whole answer's bound (600 s) was under the wait for its first words."""
    from chat_servers import GOOD_ANSWER, FaultServer

    from studio.__main__ import main

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA[:2]))
    out = tmp_path / "r.json"
    with FaultServer().running() as server:
        code = main(["evaluate", "--dataset", str(data), "--model", "api:m", "--base-url", server.url("good"),
                     "--api-timeout", "1200", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    assert report["config"]["api_timeout_s"] == 1200
    assert [row["answers"]["api:m"] for row in report["rows"]] == ["".join(GOOD_ANSWER)] * 2


def test_while_a_local_model_loads_the_evaluations_status_says_so(tiny_gpt2, tmp_path, offline, monkeypatch):
    """The status read "starting" for the minutes a model took to load on a CPU: "loading <model>" came within a
    second of "starting" and was never saved."""
    from studio import jobs
    from studio.models import cache

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    seen = []
    models = cache.shared()
    load = models.get

    def get(spec, *args, **kwargs):  # the page reads the job's status while the model loads
        seen.append(jobs.read_status(eval_results.job_dir(eval_id)).message)
        return load(spec, *args, **kwargs)

    monkeypatch.setattr(models, "get", get)
    eval_id = evaluate.new_id()
    result = evaluate.run_evaluation(EvalConfig(models=(str(tiny_gpt2),), dataset_file=str(data), max_new_tokens=2),
                                     eval_id=eval_id)
    assert result.status == "finished", result.error
    assert seen == [f"loading {tiny_gpt2}"]


@pytest.mark.parametrize(("mode", "reason"), [("good", "unreadable verdict"),  # a judge answering without a score
                                              ("down", "judge failed: j: the server is busy")])  # failing each request
def test_a_judge_that_grades_no_answer_is_said_once_on_the_command_line_and_in_the_report(mode, reason, tiny_gpt2,
                                                                                           tmp_path, capsys):
    """The command run in this process (``main``): a `python -m studio` of its own imported torch again, 8-10 s."""
    from chat_servers import FaultServer

    from studio.__main__ import main

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA[:2]))
    capsys.readouterr()
    with FaultServer().running() as server:
        code = main(["evaluate", "--dataset", str(data), "--model", str(tiny_gpt2), "--max-new-tokens", "4",
                     "--no-perplexity", "--base-url", server.url(mode), "--judge", "api:j",
                     "--out", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")])
    stderr = capsys.readouterr().err
    assert code == 0, stderr
    said = [line for line in stderr.splitlines() if "'api:j'" in line]
    assert len(said) == 1 and "graded none of the 2 answers" in said[0] and reason in said[0], stderr
    assert "graded none of the 2 answers" in (tmp_path / "r.html").read_text()
    assert [line for line in stderr.splitlines() if line.startswith("[")][-1].startswith("[4/4]"), stderr


def test_a_question_that_fills_the_model_s_context_has_no_reference_perplexity_not_a_perfect_one(tiny_gpt2, tmp_path,
                                                                                                  offline):
    """The reference is cut off whole (training's truncation keeps the prompt's start): no word of it was scored, which
    read as perplexity 1.0, the best there is, and pulled the model's mean down."""
    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": "word " * 2000 + "?", "answer": "Two halves of 45 minutes."},
                                {"question": "How long is a match?", "answer": "Two halves of 45 minutes."}]))
    result = evaluate.run_evaluation(EvalConfig(models=(str(tiny_gpt2),), dataset_file=str(data), max_new_tokens=4))
    long, short = (r.scores[str(tiny_gpt2)] for r in result.rows)
    assert "perplexity" not in long and short["perplexity"] > 1
    assert result.summary[str(tiny_gpt2)]["perplexity"] == short["perplexity"]


def test_cli_on_a_runs_own_dataset_asks_its_held_out_questions_and_says_so(tiny_gpt2, tmp_path, capsys, offline):
    """``evaluate --dataset <name> --model run:<id>`` on the dataset the run trained on asked every record, and every
    question the run trained on came back flagged as leaked: it asks the run's held-out split, as the page does, says
    so in a note, and ``--all-questions`` asks every record."""
    from studio.__main__ import main

    run_id = make_run(tiny_gpt2)  # trained on records 0-2 of "Soccer QA", 3-4 held out
    out = tmp_path / "r.json"
    common = ["evaluate", "--dataset", "Soccer QA", "--model", f"run:{run_id}", "--max-new-tokens", "2",
              "--no-perplexity"]
    # refused (a model out of reach offline): its one line alone; the note came first, on a run that never was
    assert main([*common, "--model", "nope/nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --model nope/nope: not in the local cache") and len(err.splitlines()) == 1, err
    assert main([*common, "--out", str(out)]) == 0
    rep, err = json.loads(out.read_text()), capsys.readouterr().err
    assert [r["question"] for r in rep["rows"]] == [QA[3]["question"], QA[4]["question"]]
    assert not any(r["leak"] for r in rep["rows"]) and rep["dataset"]["run_id"] == run_id
    said = [line for line in err.splitlines() if line.startswith("note: ") and "held-out" in line]
    assert len(said) == 1 and "2 held-out questions" in said[0] and "--all-questions" in said[0], err
    assert main([*common, "--all-questions", "--out", str(out), "--force"]) == 0
    rep = json.loads(out.read_text())
    assert [bool(r["leak"]) for r in rep["rows"]] == [True, True, True, False, False]


def test_cli_with_a_runs_folder_given_as_a_path_asks_its_held_out_questions_too(tiny_gpt2, tmp_path, capsys, offline):
    """``--model`` takes "a run directory": given as an absolute path (or relative to here), the run was not found and
    every question it trained on came back flagged as leaked."""
    from studio import config
    from studio.__main__ import main

    run_id = make_run(tiny_gpt2)
    folder = config.runs_dir() / run_id
    for given in (str(folder), os.path.relpath(folder)):
        out = tmp_path / "r.json"
        assert main(["evaluate", "--dataset", "Soccer QA", "--model", given, "--max-new-tokens", "2",
                     "--no-perplexity", "--out", str(out), "--force"]) == 0
        rep = json.loads(out.read_text())
        assert [r["question"] for r in rep["rows"]] == [QA[3]["question"], QA[4]["question"]], given
        assert "2 held-out questions" in capsys.readouterr().err


def test_once_a_local_model_answers_the_status_no_longer_says_it_loads(tiny_gpt2, tmp_path, offline, monkeypatch):
    """The status said "loading <model>" from the load to the end of the first batch: on a CPU, minutes of answering
    (a long question, a batch of 8) read as a load that never ended. While a batch is answered, it says so."""
    from studio import jobs
    from studio.models import generate

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    seen = []
    answer = generate.generate_answers

    def answers(*args, **kwargs):  # the page reads the job's status while the first batch is answered
        seen.append(jobs.read_status(eval_results.job_dir(eval_id)).message)
        return answer(*args, **kwargs)

    monkeypatch.setattr(generate, "generate_answers", answers)
    eval_id = evaluate.new_id()
    result = evaluate.run_evaluation(EvalConfig(models=(str(tiny_gpt2),), dataset_file=str(data), max_new_tokens=2,
                                                batch_size=8), eval_id=eval_id)
    assert result.status == "finished", result.error
    assert seen == [f"{tiny_gpt2}: answering questions 1-{len(QA)} of {len(QA)}"]


def test_a_question_longer_than_the_context_is_answered_in_full_from_its_end_with_a_note(tiny_gpt2, tmp_path, offline,
                                                                                          monkeypatch):
    """A pasted document as a question (20,000 characters to SmolLM2) was cut to the context less one token: the model
    read it all (minutes on a CPU) to write a one-token answer, and nothing said so. The question keeps its end and the
    answer its room, as Chat does, and its cell says how much was read."""
    from studio.models import generate

    asked = []  # (prompt tokens, new tokens) of each generate call
    real = generate._generate

    def seen(model, batch, kwargs):
        asked.append((batch["input_ids"].shape[1], kwargs["max_new_tokens"]))
        return real(model, batch, kwargs)

    monkeypatch.setattr(generate, "_generate", seen)
    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": "word " * 2000 + "How long is a match?", "answer": "Two halves."},
                                {"question": "How long is a match?", "answer": "Two halves."}]))
    label = str(tiny_gpt2)
    result = evaluate.run_evaluation(EvalConfig(models=(label,), dataset_file=str(data), max_new_tokens=8,
                                                batch_size=1, perplexity=False))
    limit = 256  # the tiny model's context (tests/conftest.py)
    assert asked[0] == (limit - 8, 8)  # the answer gets the 8 tokens asked for, the question the rest: its end
    long, short = result.rows
    assert long.notes[label].startswith(f"Too long for the model's context ({limit:,} tokens, the answer's included): "
                                        f"only the last {limit - 8:,} of its ")
    assert not short.notes
    assert eval_results.load(result.id).rows[0].notes == long.notes  # kept in the result file
    import html

    from studio.evaluate import report

    assert html.escape(long.notes[label]) in report.answers_table(result)  # on the page and in the HTML report


def test_reference_perplexity_reads_only_what_it_scores(tiny_gpt2, offline):
    """A question that fills the context has no reference perplexity ("—"), yet the model read the whole of it, as long
    as its answer took; and every prompt's logits were made over the whole vocabulary for nothing. The same values,
    with neither."""
    import math

    import torch

    from studio.evaluate import perplexity
    from studio.models.loading import load_causal_lm
    from studio.train import recipe

    lm = load_causal_lm(str(tiny_gpt2), device="cpu")
    widths, logits = [], []

    def read(module, args, kwargs, out) -> None:
        widths.append(kwargs["input_ids"].shape[1])
        logits.append(out.logits.shape[1])

    lm.model.register_forward_hook(read, with_kwargs=True)
    questions = ["word " * 2000 + "?", "How long is a match?", "How many players are on a team, counting the keeper?"]
    answers = ["Two halves.", "Two halves of 45 minutes.", "Eleven."]
    ppl = perplexity.reference_perplexity(lm, questions, answers)
    assert ppl[0] is None and widths and max(widths) < 256  # the long one was not read
    assert max(logits) < max(widths)  # only the positions that predict the reference
    for q, a, p in zip(questions[1:], answers[1:], ppl[1:]):  # each as training scores it, alone
        enc = recipe.encode_record(lm.tokenizer, q, a, 256)
        with torch.inference_mode():
            loss = lm.model(input_ids=torch.tensor([enc.input_ids]), labels=torch.tensor([enc.labels])).loss
        assert p == pytest.approx(math.exp(loss.item()), rel=1e-4)


def test_the_leakage_note_counts_one_training_question_in_the_singular():
    """A run trained on one question: the results said "Leakage checked against 1 training questions"."""
    assert evaluate.leakage_note(1, 1) == "Leakage checked against 1 training question: 1 flagged."
    assert evaluate.leakage_note(1200, 3) == "Leakage checked against 1,200 training questions: 3 flagged."
