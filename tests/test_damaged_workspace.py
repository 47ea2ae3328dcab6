"""A workspace whose files were damaged outside the studio (cut off, edited by hand into another shape) still opens
on every page; Home names each damaged file in one line, and what is sound stays listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from studio import config, jobs
from studio.data import store
from studio.evaluate import results as eval_results
from studio.train import runs

REPO = Path(__file__).resolve().parent.parent
PAGES = ("Home.py", "pages/3_Train.py", "pages/5_Evaluate.py", "pages/4_Chat.py")
QA = [{"question": "How long is a match?", "answer": "Two halves of 45 minutes."},
      {"question": "Who enforces the Laws of the Game?", "answer": "The referee."},
      {"question": "What is a corner kick?", "answer": "A restart from the corner."}]
RUN_ID = "20261205-000000-faq"
EVAL_ID = "20261205-000100-abcd"


def _workspace() -> dict[str, Path]:
    """A dataset (two versions), a finished run trained on it, and an evaluation: the files a person may damage."""
    ds = store.create_dataset("Mine", QA)
    store.save_version(ds.id, QA[:2], base_version=1)
    folder = runs.run_dir(RUN_ID)
    folder.mkdir(parents=True)
    runs.write_run(folder, {"id": RUN_ID, "name": "faq", "created": "2026-12-05T00:00:00+00:00",
                            "config": {"base": "scratch"}, "base": "scratch", "method": "full", "parameters": 1000,
                            "dataset": {"id": ds.id, "name": ds.name, "version": 1, "count": 3}})
    runs.write_split(folder, {"train": [0, 1], "test": [2]})
    jobs.update_status(folder, state="finished", kind="train", message="finished: 2 steps in 1 s", progress=1.0)
    eval_results.save({"id": EVAL_ID, "created": "2026-12-05T00:01:00+00:00", "status": "finished", "rows": [],
                       "models": [], "dataset": {"name": "Mine", "version": 1}})
    versions = config.datasets_dir() / ds.id / "versions"
    return {"dataset": config.datasets_dir() / ds.id / "dataset.json", "meta": versions / "0002.meta",
            "run": folder / "run.json", "split": folder / "split.json", "eval": config.evals_dir() / f"{EVAL_ID}.json"}


def _open(page: str) -> AppTest:
    return AppTest.from_file(str(REPO / page), default_timeout=90).run()


DAMAGE = {  # what the file becomes, and the words Home's line about it holds
    "dataset-list": ("dataset", "[]", "dataset.json is damaged"),
    "dataset-fields": ("dataset", json.dumps({"id": "mine", "name": 7, "created": None}), "dataset.json is damaged"),
    "version-fields": ("meta", json.dumps({"version": "2", "created": "x", "count": None, "message": "m", "sha256": "s"}),
                       "0002.meta is damaged"),
    "run-fields": ("run", json.dumps({"id": RUN_ID, "name": 7, "config": "x", "dataset": 5, "base": 7,
                                      "parameters": "many"}), "name, base, config, dataset, parameters"),
    "run-cut": ("run", '{"id": "2026', "run.json is damaged"),
    "split-list": ("split", "[]", "split.json"),
    "eval-fields": ("eval", json.dumps({"id": EVAL_ID, "created": 7, "rows": 7}), f"{EVAL_ID}.json is not listed"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_every_page_opens_and_home_names_the_damaged_file(case):
    files = _workspace()
    which, text, said = DAMAGE[case]
    files[which].write_text(text, encoding="utf-8")
    for page in PAGES:
        at = _open(page)
        assert not at.exception, (page, [e.message for e in at.exception])
        if page == "Home.py":
            lines = [w.value for w in at.warning]
            assert len(lines) == 1 and said in lines[0].replace("\\", ""), lines
    # what is sound is still there
    if which != "run":
        assert runs.load_run(RUN_ID).name == "faq"
    if which != "eval":
        assert [e.id for e in eval_results.list_evals()] == [EVAL_ID]
    if which != "dataset":
        assert "Mine" in [d.name for d in store.list_datasets()]


def test_a_sound_workspace_has_no_damage_lines():
    _workspace()
    at = _open("Home.py")
    assert not at.exception and not at.warning


def test_the_split_files_remembered_between_runs_are_bounded(monkeypatch):
    """Home reads each run's split.json once while it stays as it is: every file ever read stayed remembered, so a
    public app's one server held an entry for every run of every visitor it served, for as long as it ran. The first
    read are forgotten first now, and what Home says does not change."""
    from studio.data.file_memo import FileMemo

    monkeypatch.setattr(runs, "_split_checked", FileMemo(runs._split_unreadable, kept=3))
    for n in range(5):
        folder = runs.run_dir(f"20261205-00000{n}-cut")
        folder.mkdir(parents=True)
        (folder / "split.json").write_text('{"train": [0', encoding="utf-8")
    said = [line for line in runs.damaged() if "split.json" in line]
    assert len(said) == 5 and [line for line in runs.damaged() if "split.json" in line] == said
    assert len(runs._split_checked) == 3


def test_a_run_with_damaged_fields_reads_them_as_missing_and_keeps_the_rest():
    files = _workspace()
    meta = json.loads(files["run"].read_text())
    files["run"].write_text(json.dumps({**meta, "config": [1], "base": {"x": 1}}))
    run = runs.load_run(RUN_ID)
    assert (run.name, run.config, run.base, run.dataset["name"]) == ("faq", {}, "", "Mine")


def test_the_train_page_says_a_datasets_only_versions_are_damaged():
    files = _workspace()
    (files["meta"].parent / "0001.meta").write_text("{")
    files["meta"].write_text("[]")
    at = AppTest.from_file(str(REPO / "pages/3_Train.py"), default_timeout=90)
    at.session_state["train.dataset_id"] = "mine"
    at.run()
    assert not at.exception
    said = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "0001.meta is damaged" in said and "0002.meta is damaged" in said and "no saved version yet" not in said


STATUS_DAMAGE = {  # a job's status.json with fields of other kinds: read as their defaults
    "fields": {"state": "finished", "kind": "train", "progress": "x", "message": 7, "error": [], "eta_s": "soon",
               "pid": "x", "updated": "x", "tokens_per_s": "fast", "extra": 5},
    "list": ["finished"],
    "running-pid-text": {"state": "running", "kind": "train", "pid": "1234", "progress": 2},
}


@pytest.mark.parametrize("case", list(STATUS_DAMAGE))
def test_a_run_with_a_damaged_status_and_metrics_opens_on_every_page(case):
    files = _workspace()
    folder = files["run"].parent
    (folder / jobs.STATUS).write_text(json.dumps(STATUS_DAMAGE[case]))
    (folder / runs.METRICS).write_text('[1, 2]\n7\n{"step": "x", "loss": [1]}\n{"step": 1, "loss": 2.5}\n'
                                       '{"step": 2, "loss": 2.0}\n')
    assert [r["loss"] for r in runs.read_metrics(folder)][-2:] == [2.5, 2.0]
    for page in PAGES:
        at = AppTest.from_file(str(REPO / page), default_timeout=90)
        at.session_state["train.run_id"] = RUN_ID  # the Train page opens the run's live view
        at.run()
        assert not at.exception, (page, [e.message for e in at.exception])
        if page == "pages/3_Train.py":  # its loss curve, from the sound rows
            assert at.get("plotly_chart")


ROW = {"index": 0, "question": "How long is a match?", "reference": "Two halves.", "answers": {"m": "Two halves."},
       "errors": {}, "scores": {"m": {"f1": 1.0}}, "latency": {"m": 0.1}, "judge": {}}
ROW_DAMAGE = {  # one value of a stored evaluation's question row, edited into another kind
    "index": {"index": "first"}, "question": {"question": 7}, "answer": {"answers": {"m": ["Two"]}},
    "score": {"scores": {"m": {"f1": "high"}}}, "error": {"errors": {"m": {"why": 1}}},
    "summary": {"summary": {"m": {"f1": "x"}}}, "label": {"models": [{"label": 7, "spec": "m"}]},
}


@pytest.mark.parametrize("case", list(ROW_DAMAGE))
def test_an_evaluation_with_a_damaged_value_inside_is_named_not_a_traceback(case):
    _workspace()
    edit = ROW_DAMAGE[case]
    row = {**ROW, **{k: v for k, v in edit.items() if k in ROW}}
    eval_results.save({"id": "20261205-000200-dmgd", "created": "2026-12-05T00:02:00+00:00", "status": "finished",
                       "models": edit.get("models", [{"label": "m", "spec": "m"}]), "rows": [row],
                       "summary": edit.get("summary", {"m": {"f1": 1.0}}), "dataset": {"name": "Mine"}})
    for page in ("pages/5_Evaluate.py", "Home.py"):
        at = _open(page)
        assert not at.exception, (page, [e.message for e in at.exception])
    assert [e.id for e in eval_results.list_evals()] == [EVAL_ID]  # the sound one stays listed
    assert any("20261205-000200-dmgd.json is not listed" in w.value.replace("\\", "") for w in at.warning)
    # the sound one (finished with no question) is the one evaluation the metric's help names; the damaged one is not
    metric = next(m for m in at.metric if m.label == "Evaluations")
    assert metric.value == "0" and metric.proto.help.endswith("the Evaluate page also lists 1 with no answer.")


@pytest.mark.parametrize("case", ["run-config-list", "card-list", "card-fields", "card-source"])
def test_a_damaged_model_file_leaves_the_pages_that_list_models_open(case):
    from studio.models import library

    files = _workspace()
    model = files["run"].parent / "model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "gpt2"}')
    card = config.models_dir() / "mine"
    card.mkdir(parents=True)
    (card / "config.json").write_text('{"model_type": "llama"}')
    if case == "run-config-list":
        (model / "config.json").write_text("[1]")
    else:
        (card / "model.json").write_text("[1]" if case == "card-list" else json.dumps(
            {"source": {"file": "mine.gguf", "sha256": 5}} if case == "card-source" else
            {"label": 7, "parameters": "many", "disk_bytes": "big", "context_length": [], "architecture": 5}))
    for page in ("pages/4_Chat.py", "pages/3_Train.py", "pages/5_Evaluate.py", "pages/2_Models.py"):
        at = _open(page)
        assert not at.exception, (page, [e.message for e in at.exception])
    listed = {e.spec: e for e in library.list_models(include_hub_cache=False)}
    assert f"run:{RUN_ID}" in listed and listed["model:mine"].name == "mine"
