"""The typed evaluation result: every field survives a save, and the files earlier versions wrote still open.

``data/result-2026-12-04.json`` and ``data/queued-2026-12-04.json`` were written by the runner as it was on
2026-12-04, before the result was typed (a finished evaluation of an extractive model, a local chat model, an
API model with a judge, a model that failed to load and a hosted extractive model, over questions with and
without a passage, one of them leaked; and a queued one).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from studio import config, jobs
from studio.evaluate import report
from studio.evaluate import results as eval_results
from studio.evaluate.result import EvalResult, Leak, ModelEntry, QuestionRow, Span, Verdict

DATA = Path(__file__).parent / "data"
OLD = DATA / "result-2026-12-04.json"
OLD_QUEUED = DATA / "queued-2026-12-04.json"


def _every_field() -> EvalResult:
    """A result with every field of every class set to something other than its default."""
    row = QuestionRow(index=3, question="Qual é o meu nome?", reference="Marcundes",
                      leak=Leak(score=96.5, train_question="Qual o meu nome?", kind="fuzzy"),
                      answers={"a": "Marcundes"}, errors={"b": "No such folder"},
                      scores={"a": {"f1": 1.0, "in_passage": 1.0, "latency_s": 0.2}}, latency={"a": 0.2},
                      judge={"a": Verdict(score=5, reason="exact")}, context="Meu nome é Marcundes.",
                      spans={"a": Span(start=11, end=20, score=0.98)}, extra={"later_field": [1, 2]})
    models = [ModelEntry(label="a", spec="qa:/m", kind="local", source="/m", revision="sha256:x", run_id="r1",
                         error=None, task="extractive", device="cpu", dtype="float32", quantization="4bit",
                         run_dir="/runs/r1", notes=["Running on CPU"], extra={"added_later": True}),
              ModelEntry(label="b", spec="/no/such", error="No such folder")]
    return EvalResult(id="20261204-000000-abcd", created="2026-12-04T00:00:00+00:00",
                      finished="2026-12-04T00:01:00+00:00", status="stopped", error="Evaluation stopped",
                      config={"models": ["qa:/m", "/no/such"]},
                      dataset={"source": "file", "path": "/q.json", "sha256": "ab"}, models=models,
                      environment={"python": "3.11", "torch": None}, notes=["one note"], rows=[row],
                      summary={"a": {"f1": 1.0, "answered": 1.0, "failed": 0.0}},
                      summary_excluding_leaked={"a": {"answered": 0.0, "failed": 0.0}},
                      extra={"written_by": "a later version"})


def test_every_field_round_trips_through_json():
    result = _every_field()
    assert EvalResult.from_json(json.loads(json.dumps(result.to_json()))) == result
    assert result.to_json()["written_by"] == "a later version"  # unknown keys are written back, not dropped


def test_a_stored_result_keeps_every_field(tmp_path):
    result = _every_field()
    eval_results.save(result)
    assert eval_results.load(result.id) == result


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_a_result_written_before_the_typed_result_opens_and_saves_back_the_same():
    old = json.loads(OLD.read_text(encoding="utf-8"))
    result = EvalResult.from_json(old)
    # the same document back: only keys whose value was null may be left out (a model's unknown quantization)
    assert _without_nulls(result.to_json()) == _without_nulls(old)
    assert json.loads(json.dumps(result.to_json()))["rows"] == old["rows"]
    extractive, chat, api, missing, hosted = result.models
    assert (extractive.task, extractive.device, chat.dtype, api.kind) == ("extractive", "cpu", "float32", "api")
    assert chat.notes and chat.revision.startswith("sha256:") and "No such folder" in missing.error
    first = result.rows[0]
    assert first.context and first.spans[extractive.label].found and first.judge[api.label].score == 4
    assert first.context[first.spans[hosted.label].start:first.spans[hosted.label].end] == first.answers[hosted.label]
    assert [bool(r.leak) for r in result.rows] == [False, False, True, False]
    assert result.rows[2].leak.kind == "exact" and result.rows[1].context is None and not result.rows[1].spans


def test_old_files_open_in_the_store_the_report_and_the_page_listing(tmp_path):
    old = json.loads(OLD.read_text(encoding="utf-8"))
    shutil.copy(OLD, config.evals_dir() / OLD.name.replace("result-2026-12-04", old["id"]))
    queued = json.loads(OLD_QUEUED.read_text(encoding="utf-8"))
    shutil.copy(OLD_QUEUED, config.evals_dir() / f"{queued['id']}.json")
    jobs.update_status(eval_results.job_dir(queued["id"]), state="queued", pid=os.getpid())  # its job, waiting
    listed = {e.id: e for e in eval_results.list_evals()}
    assert listed[old["id"]].status == "finished" and listed[old["id"]].questions == 4
    assert listed[queued["id"]].status == "queued" and listed[queued["id"]].models == ["api:m"]
    result = eval_results.load(old["id"])
    # the same means and counts, and now how many questions Stop came before: none, in a finished evaluation
    assert eval_results.summarize(result) == {label: {**s, "stopped": 0.0} for label, s in old["summary"].items()}
    page = report.to_html(result)
    assert "Marcundes" in page and "failed every question: No such folder" in page
    assert report.to_csv(result).count("\n") == 1 + len(old["rows"])


@pytest.mark.parametrize("old, new", [("done", "finished"), ("cancelled", "stopped"), (None, "finished")])
def test_old_state_words_read_in_the_jobs_words(old, new):
    file = config.evals_dir() / "old.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    data = {"id": "old", "created": "2026-11-01T00:00:00+00:00", "status": old,
            "rows": [{"question": "q", "reference": "r", "answers": {"m": "r"}}]}
    if old is None:  # a hand-made report without a status has its answers: it ended
        del data["status"]
    file.write_text(json.dumps(data))
    result = eval_results.load("old")
    assert result.status == new and result.rows[0].index == 0 and result.labels == []
    assert json.loads(report.to_json(result))["status"] == new


def test_a_file_that_says_running_without_a_job_behind_it_is_failed_interrupted():
    """Files written before the job status was the one live state said "running" (and a pid) themselves."""
    old = json.loads(OLD_QUEUED.read_text(encoding="utf-8"))
    (config.evals_dir() / f"{old['id']}.json").write_text(json.dumps({**old, "status": "running", "pid": 2 ** 22 + 7}))
    result = eval_results.load(old["id"])
    assert result.status == "failed" and result.error == eval_results.INTERRUPTED
    assert [e.status for e in eval_results.list_evals()] == ["failed"]


def test_the_job_status_is_the_live_state_and_the_file_keeps_the_outcome(tmp_path):
    from chat_servers import FaultServer

    from studio.evaluate import runner
    from studio.evaluate.config import EvalConfig

    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": f"Question {i}?", "answer": "An answer."} for i in range(3)]))
    seen = []

    def progress(done, total, stage):
        if done and not seen:  # while it runs: the file has no outcome, the job says running
            stored = json.loads(eval_results.path(eval_id).read_text(encoding="utf-8"))
            status = jobs.read_status(eval_results.job_dir(eval_id))
            seen.append((stored["status"], "progress" in stored, eval_results.load(eval_id).status, status.state,
                         status.pid == os.getpid()))

    eval_id = runner.new_id()
    with FaultServer().running() as server:
        result = runner.run_evaluation(EvalConfig(models=("api:m",), dataset_file=str(data),
                                                  api_base_url=server.url("good"), api_concurrency=1),
                                       eval_id=eval_id, progress=progress)
    assert seen == [(None, False, "running", "running", True)]
    assert result.status == "finished"
    assert json.loads(eval_results.path(eval_id).read_text(encoding="utf-8"))["status"] == "finished"
    status = jobs.read_status(eval_results.job_dir(eval_id))
    assert (status.state, status.progress, status.extra["done"], status.extra["total"]) == ("finished", 1.0, 3, 3)
    assert not jobs.read_status(eval_results.job_dir(eval_id)).uses_device  # an API run holds no device


@pytest.mark.parametrize("stop", ["page", "ctrl-c"])
def test_the_page_s_stop_reaches_an_evaluation_started_from_the_command_line(stop, tmp_path):
    """A CLI run of API models keeps its live state in its job status, so the page lists it as running and
    its Stop button (``job.stop_evaluation``) stops it, keeping what was answered. Ctrl-C in its terminal stops it
    the same way: it ended it at once, and the page read it as "interrupted: ... killed or crashed"."""
    import signal
    import subprocess
    import sys
    import time

    from chat_servers import FaultServer

    from studio.evaluate import job as eval_jobs

    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": f"Question {i}?", "answer": "An answer."} for i in range(6)]))
    with FaultServer().running() as server:
        proc = subprocess.Popen([sys.executable, "-m", "studio", "evaluate", "--dataset", str(data), "--model", "api:m",
                                 "--base-url", server.url("slow"), "--concurrency", "1", "--out", str(tmp_path / "r.json")],
                                cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 60
            while time.time() < deadline and not (eval_results.list_evals()
                                                  and eval_jobs.job_state(eval_results.list_evals()[0].id).active):
                time.sleep(0.1)
            (info,) = eval_results.list_evals()
            assert info.status == "running"
            if stop == "page":
                eval_jobs.stop_evaluation(info.id)
            else:
                proc.send_signal(signal.SIGINT)
            assert proc.wait(60) == 130, proc.stderr.read()
        finally:
            proc.kill()
    # what was done before the stop is printed, the questions Stop came before counted apart from failures
    (line,) = proc.stdout.read().splitlines()
    assert re.fullmatch(r"api:m: .*\(\d answered, 0 failed, [1-6] stopped\)", line), line
    result = eval_results.load(info.id)
    assert result.status == "stopped" and "kept" in result.error
    assert not eval_jobs.job_dir(info.id).exists()  # its outcome is in its file: the live state went with the run


def test_the_evaluation_pickers_label_keeps_every_model_in_its_box():
    """The picker read "20261207-174208-1a69 · soccer rules lora first try · 2026-12-07 17:54, SmolLM2-135M-Instruct
    (bundled Q4_1 copy)": in an 800 px window the second model was past the box's edge. Each model has a share now."""
    from studio.evaluate.results import PICKER_SHOWN, EvalInfo, picker_label

    models = ["soccer rules lora first try · 2026-12-07 17:54", "SmolLM2-135M-Instruct (bundled Q4_1 copy)"]
    info = EvalInfo(id="20261207-181710-92b7", created="", status="finished", models=models, dataset="", questions=3,
                    summary={})
    for running in (False, True):
        label = picker_label(info, running)
        assert len(label) <= PICKER_SHOWN, label
        assert label.startswith("12-07 18:17:10 · soccer ") and ", SmolLM2-1" in label, label
        assert label.endswith(" · running") == running
    short = EvalInfo(id="20261207-181710-92b7", created="", status="finished", models=["api:m", "api:n"], dataset="",
                     questions=3, summary={})
    assert picker_label(short) == "12-07 18:17:10 · api:m, api:n"  # a short name whole


def test_the_evaluation_files_remembered_between_runs_are_bounded(monkeypatch):
    """Home reads each evaluation file once while it stays as it is: every file ever read stayed remembered, so a
    public app's one server held an entry for every evaluation of every visitor it served, for as long as it ran. The
    first read are forgotten first now, and what the pages say does not change."""
    from studio.data.file_memo import FileMemo

    monkeypatch.setattr(eval_results, "_verdicts", FileMemo(eval_results._read_verdict, kept=3))
    evals = config.evals_dir()
    for n in range(5):
        (evals / f"cut-{n}.json").write_text('{"id": "cut', encoding="utf-8")
    assert len(eval_results.damaged()) == 5 and len(eval_results.damaged()) == 5
    assert len(eval_results._verdicts) == 3
