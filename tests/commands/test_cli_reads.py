"""The command line's reads (listing, showing, asking) and its refusals leave the disk as it was: no workspace, no
empty runs/, datasets/ or jobs/ folder, no cache file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from workspace_tree import tree

from studio.__main__ import main

RECORDS = [{"question": f"What is rule {i}?", "answer": f"Rule {i} says so."} for i in range(6)]

READS = [
    ["dataset", "list"],
    ["dataset", "validate", "{inputs}/qa.json"],
    ["model", "list"],
    ["model", "list", "--json"],
    ["runs"],
    ["runs", "list"],
    ["runs", "--json"],
    ["runs", "drop-checkpoints"],  # no finished run: nothing to drop
]
REFUSED = [  # each names what is not there: one line, exit 2, and nothing made
    ["runs", "rename", "gone", "new name"],
    ["runs", "delete", "gone"],
    ["runs", "drop-checkpoints", "gone"],
    ["model", "rename", "gone", "new name"],
    ["model", "rm", "gone"],
    ["model", "export", "run:gone", "--out", "{inputs}/gone.gguf"],
    ["merge", "gone"],
    ["push", "gone", "someone/gone"],
    ["ask", "run:gone", "How long is a match?"],
    ["chat", "--local", "--model", "run:gone", "How long is a match?"],
    ["ask-context", "run:gone", "How long?", "--context", "A match lasts 90 minutes."],
    ["dataset", "export", "gone", "--out", "{inputs}/gone.json"],
    ["evaluate", "--model", "run:gone", "--run", "gone", "--out", "{inputs}/report.json"],
    ["evaluate", "--model", "run:gone", "--dataset", "gone", "--out", "{inputs}/report.json"],
    ["train", "--dataset", "gone"],
]


@pytest.fixture
def project(tmp_path, monkeypatch, request):
    """An empty project folder as the current one, the workspace (STUDIO_HOME) in it: the folder itself, or one not
    made yet; the inputs a command reads apart, beside it."""
    folder = tmp_path / "project"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("STUDIO_HOME", str(folder if request.param == "existing" else folder / "workspace"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "qa.json").write_text(json.dumps(RECORDS), encoding="utf-8")
    return folder, inputs


def _argv(argv: list[str], inputs: Path) -> list[str]:
    return [a.format(inputs=inputs) for a in argv]


@pytest.mark.parametrize("project", ["existing", "missing"], indirect=True)
@pytest.mark.parametrize("argv", READS, ids=" ".join)
def test_a_read_on_an_empty_workspace_makes_nothing(project, argv, capsys):
    folder, inputs = project
    before = tree(folder.parent)
    assert main(_argv(argv, inputs)) == 0, capsys.readouterr().err
    assert tree(folder.parent) == before


@pytest.mark.parametrize("project", ["existing", "missing"], indirect=True)
@pytest.mark.parametrize("argv", REFUSED, ids=" ".join)
def test_a_refused_command_makes_nothing(project, argv, capsys):
    folder, inputs = project
    before = tree(folder.parent)
    capsys.readouterr()
    assert main(_argv(argv, inputs)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert tree(folder.parent) == before


@pytest.mark.parametrize("project", ["existing"], indirect=True)
def test_a_run_not_there_points_to_the_command_that_lists_runs(project, capsys):
    """`ask run:gone ...` (chat, ask-context, model export, evaluate, runs rename/delete alike) said "... Pick another
    model." or "Pick another.", the page's words: the command line has no list to pick from. Each names the listing
    command now, as `merge` and `push` did."""
    folder, inputs = project
    for argv in REFUSED:
        if "--dataset" not in argv and ("run:gone" in argv or argv[0] in ("runs", "merge", "push")):
            capsys.readouterr()
            assert main(_argv(argv, inputs)) == 2
            err = capsys.readouterr().err.strip()
            assert err.startswith("error: No training run 'gone'") and "`python -m studio runs` lists" in err, (argv, err)


@pytest.mark.parametrize("project", ["existing"], indirect=True)
def test_reads_of_a_workspace_with_a_run_and_a_dataset_change_nothing(project, tiny_gpt2, capsys):
    """Listing models loads each tokenizer once to say whether it loads: that answer was kept in a new cache/ folder
    of the workspace by `model list`. A read keeps it in its own process only."""
    from studio.data import store
    from studio.train import runs

    folder, inputs = project
    store.create_dataset("Rules", RECORDS)
    run = runs.run_dir("20261201-000000-rules")
    run.mkdir(parents=True)
    runs.write_run(run, {"id": run.name, "name": "rules", "created": "2026-12-01T00:00:00+00:00", "config": {},
                         "base": "tiny", "dataset": {"file": str(inputs / "qa.json"), "name": "qa", "count": 6}})
    runs.write_split(run, {"train": [0, 1, 2, 3], "test": [4, 5]})
    shutil.copytree(tiny_gpt2, run / "model")
    before = tree(folder.parent)
    for argv in (["dataset", "list"], ["model", "list"], ["model", "list", "--json"], ["runs"], ["runs", "--json"],
                 ["ask", f"run:{run.name}", "What is rule 1?", "--max-new-tokens", "2"]):
        assert main(argv) == 0, capsys.readouterr().err
        out = capsys.readouterr().out
        assert argv[0] not in ("model", "runs") or run.name in out  # each listing read the run
        assert tree(folder.parent) == before, argv


def test_an_empty_workspace_says_it_has_no_datasets_and_how_to_make_one(tmp_path, monkeypatch, capsys):
    """`dataset list` in a new workspace printed nothing at all (exit 0): a new user could not tell an empty workspace
    from a command that did nothing. It says so, and the command that makes one."""
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "home"))
    assert main(["dataset", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("no datasets in the workspace yet") and "dataset create NAME --from FILE" in out
    assert not (tmp_path / "home").exists()  # a read: nothing made
