"""The typed evaluation result: every field survives a save, and the files earlier versions wrote still open.

``data/result-2026-12-04.json`` and ``data/queued-2026-12-04.json`` were written by the runner as it was on
2026-12-04, before the result was typed (a finished evaluation of an extractive model, a local chat model, an
API model with a judge, a model that failed to load and a hosted extractive model, over questions with and
without a passage, one of them leaked; and a queued one).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from studio import config
from studio.evaluate import report
from studio.evaluate import results as eval_results
from studio.evaluate.result import EvalResult, Leak, ModelEntry, Progress, QuestionRow, Span, Verdict

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
                      progress=Progress(done=3, total=4, stage="stopped"), config={"models": ["qa:/m", "/no/such"]},
                      dataset={"source": "file", "path": "/q.json", "sha256": "ab"}, models=models,
                      environment={"python": "3.11", "torch": None}, notes=["one note"], rows=[row],
                      summary={"a": {"f1": 1.0, "answered": 1.0, "failed": 0.0}},
                      summary_excluding_leaked={"a": {"answered": 0.0, "failed": 0.0}}, pid=4242,
                      extra={"written_by": "a later version"})


def test_every_field_round_trips_through_json():
    result = _every_field()
    assert EvalResult.from_json(json.loads(json.dumps(result.to_json()))) == result
    assert result.to_json()["written_by"] == "a later version"  # unknown keys are written back, not dropped


def test_a_stored_result_keeps_every_field(tmp_path):
    result = _every_field()
    result.status = "finished"  # a stopped one whose pid is dead would read the same; keep it plain
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
    listed = {e.id: e for e in eval_results.list_evals()}
    assert listed[old["id"]].status == "finished" and listed[old["id"]].questions == 4
    assert listed[queued["id"]].status == "queued" and listed[queued["id"]].models == ["api:m"]
    result = eval_results.load(old["id"])
    assert eval_results.summarize(result) == old["summary"]
    page = report.to_html(result)
    assert "Marcundes" in page and "failed every question: No such folder" in page
    assert report.to_csv(result).count("\n") == 1 + len(old["rows"])


@pytest.mark.parametrize("old, new", [("done", "finished"), ("cancelled", "stopped"), (None, "finished")])
def test_old_state_words_read_in_the_jobs_words(old, new):
    file = config.evals_dir() / "old.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps({"id": "old", "created": "2026-11-01T00:00:00+00:00", "status": old,
                                "rows": [{"question": "q", "reference": "r", "answers": {"m": "r"}}]}))
    result = eval_results.load("old")
    assert result.status == new and result.rows[0].index == 0 and result.labels == []
    assert json.loads(report.to_json(result))["status"] == new
