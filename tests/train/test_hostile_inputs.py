"""Bad input to ``python -m studio train`` gets one ``error: ...`` line and exit 2, never a traceback, and
leaves the user's files as they were: settings that are not numbers or not the field's kind, a dataset path
that is a folder, and runs whose folders were edited or damaged between a stop and a resume."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from studio import jobs
from studio.__main__ import main
from studio.data import store
from studio.errors import TrainingError
from studio.train import runs
from studio.train.config import TrainConfig
from tests.conftest import train_page
from tests.train.run_page import hand_made_run, open_run

RECORDS = [{"question": f"What is rule {i}?", "answer": f"Rule {i} says so."} for i in range(12)]


def _cli(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["train", *argv])
    err = capsys.readouterr().err.strip()
    return code, err


def _refused(capsys, *argv: str) -> str:
    """The one line a refused command prints (exit 2, no traceback)."""
    code, err = _cli(capsys, *argv)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "qa.json"
    path.write_text(json.dumps(RECORDS), encoding="utf-8")
    return path


# --- settings ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("flag", "said"), [("--lr", "Learning rate nan is out of range"),
                                            ("--epochs", "Epochs nan is out of range: use 0.01 to 10000."),
                                            ("--weight-decay", "Weight decay nan is out of range")])
def test_nan_for_a_number_setting_is_refused_like_any_value_outside_its_range(flag, said, data, capsys, offline):
    err = _refused(capsys, "--dataset", str(data), "--preset", "quick", flag, "nan")
    assert said in err
    assert not config_runs()  # refused before a run folder exists


@pytest.mark.parametrize(("typed", "shown"), [(1e-30, "1e-30"), (2e-4, "0.0002"), (0.5, "0.5")])
def test_the_learning_rate_box_shows_the_rate_typed_not_zero(typed, shown, offline):
    """The box showed 1e-30 as "0.000000" (six decimals) beside "Learning rate 1e-30 is out of range". The browser
    formats the value with the box's printf format, as Python's % does for these values (1e-30, 0.0002)."""
    store.create_dataset("Tiny FAQ", RECORDS[:8])
    at = train_page("scratch").run()
    box = next(n for n in at.number_input if n.label == "Learning rate")
    box.set_value(typed).run()
    box = next(n for n in at.number_input if n.label == "Learning rate")
    assert box.proto.format % box.value == shown


def test_the_learning_rate_box_s_plus_moves_the_rate_a_little_not_to_a_hundredth(offline):
    """+ on 3e-5 gave 0.01003 (Streamlit's default step of 0.01): a rate 334 times the one set, a click away."""
    store.create_dataset("Tiny FAQ", RECORDS[:8])
    at = train_page("scratch").run()
    next(n for n in at.number_input if n.label == "Learning rate").set_value(3e-5).run()
    next(n for n in at.number_input if n.label == "Learning rate").increment().run()
    assert next(n for n in at.number_input if n.label == "Learning rate").value == pytest.approx(4e-5)


def test_a_dataset_whose_questions_fill_max_length_is_refused_not_trained_to_a_loss_of_0(tmp_path, capsys, offline):
    """Each prompt longer than Max length left no answer token to learn: the run finished, "train loss 0.0000"."""
    path = tmp_path / "long.json"
    path.write_text(json.dumps([{"question": "Why is it so? " * 60 + str(i), "answer": "Because."} for i in range(4)]),
                    encoding="utf-8")
    err = _refused(capsys, "--dataset", str(path), "--base", "scratch", "--preset", "quick", "--max-length", "64",
                   "--max-steps", "2", "--out", str(tmp_path / "run"))
    assert err == ("error: No training record keeps any of its answer within Max length (64 tokens): each prompt fills "
                   "it, so the run would learn nothing (a loss of 0). Raise Max length or shorten the questions.")
    assert not (tmp_path / "run").exists()  # decided by the settings and data: refused before a run folder exists


def test_held_out_questions_that_fill_max_length_are_refused_not_trained_to_an_eval_loss_of_nan(tmp_path, capsys,
                                                                                                offline):
    """Every held-out prompt longer than Max length: the run trained on, saying "eval loss nan" at each evaluation."""
    from studio.train import recipe

    test = recipe.split_indices(range(10), 0.2, 42)["test"]
    path = tmp_path / "long.json"
    path.write_text(json.dumps([{"question": "Why is it so? " * 60 + str(i) if i in test else f"What is law {i}?",
                                 "answer": "Because."} for i in range(10)]), encoding="utf-8")
    err = _refused(capsys, "--dataset", str(path), "--base", "scratch", "--preset", "quick", "--max-length", "64",
                   "--test-fraction", "0.2", "--seed", "42", "--max-steps", "2")
    assert err == ("error: No held-out record keeps any of its answer within Max length (64 tokens): each prompt fills "
                   "it, so the held-out loss cannot be measured (it would read nan). Raise Max length, shorten the "
                   "questions, or set Held-out fraction to 0.")
    assert not config_runs()  # no failed run left in the workspace's list


def test_prompts_that_fill_a_pretrained_base_s_positions_are_refused_before_a_run_folder(tiny_gpt2, tmp_path, capsys,
                                                                                          offline):
    """Records are cut where the base's positions end (tiny_gpt2: 256) when Max length is longer: prompts filling
    them are refused at that length, before a run folder (or a failed run) exists."""
    path = tmp_path / "long.json"
    path.write_text(json.dumps([{"question": "Why is it so? " * 80 + str(i), "answer": "Because."} for i in range(4)]),
                    encoding="utf-8")
    err = _refused(capsys, "--dataset", str(path), "--base", str(tiny_gpt2), "--max-length", "1024",
                   "--test-fraction", "0", "--max-steps", "2")
    assert err == ("error: No training record keeps any of its answer within the base's 256 positions (whatever Max "
                   "length is): each prompt fills them, so the run would learn nothing (a loss of 0). Shorten the "
                   "questions."), err  # raising Max length, as the line said, cannot help
    assert not config_runs()


def config_runs() -> list[Path]:
    from studio import config

    return list(config.runs_dir().iterdir()) if config.runs_dir().is_dir() else []


@pytest.mark.parametrize(("given", "said"), [
    ('{"base": 5}', "Base must be text, not 5."),
    ('{"base": "scratch", "batch_tokens": 600.5}', "Tokens per step 600.5 is not a whole number"),
    ('{"base": "scratch", "batch_size": NaN}', "Batch size nan is out of range: use 1 to 4096."),
    # a non-number read "Max steps abc is out of range: use -1 or more."
    ('{"base": "scratch", "max_steps": "abc"}', "error: Max steps must be a whole number, not 'abc'."),
    ('{"base": "scratch", "epochs": null}', "error: Epochs must be a number, not null."),
    ('{"base": "scratch", "epochs": true}', "error: Epochs must be a number, not True."),
    ('{"base": "scratch", "eval_per_epoch": "no"}', "must be true or false, not 'no'"),
    ('{"base": "scratch", "lora_targets": ["q_proj"]}', "Target modules must be text"),
    ("[1, 2]", "--config-json is not a training config: give a JSON object of settings"),
    ('"scratch"', "--config-json is not a training config: give a JSON object of settings"),
    # a misspelt setting was dropped without a word: the run trained at the default learning rate
    ('{"base": "scratch", "lr": 0.001}', "--config-json has no setting 'lr' (did you mean 'learning_rate'?): the "
                                         "settings are base, learning_rate, "),
    ('{"base": "scratch", "epoch": 3}', "--config-json has no setting 'epoch' (did you mean 'epochs'?)"),
])
def test_config_json_of_the_wrong_kind_is_one_line(given, said, data, capsys, offline):
    assert said in _refused(capsys, "--dataset", str(data), "--config-json", given)


def test_a_whole_float_and_the_defaults_still_make_a_config():
    assert TrainConfig(batch_size=8.0).batch_size == 8  # what a hand-written JSON may hold: not refused
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()
    with pytest.raises(TrainingError, match="Learning rate nan"):
        TrainConfig(learning_rate=float("nan"))


def test_an_unknown_preset_is_one_line(data, capsys, offline):
    err = _refused(capsys, "--dataset", str(data), "--preset", "fast")
    assert err == "error: Unknown preset 'fast': choose one of recommended, tutorial, scratch, quick."


# --- the dataset path ---------------------------------------------------------------------------------------

def test_a_folder_given_as_the_dataset_says_it_is_a_folder(tmp_path, capsys, offline):
    (tmp_path / "exports").mkdir()
    err = _refused(capsys, "--dataset", str(tmp_path / "exports"), "--preset", "quick")
    assert err == (f"error: {tmp_path / 'exports'} is a folder: give a dataset file in it (JSON, JSON Lines, CSV or "
                   "Parquet) or a workspace dataset name.")


def test_a_file_without_an_answer_field_names_the_command_that_maps_one(tmp_path, capsys, offline):
    table = tmp_path / "table.csv"
    table.write_text("prompt,reply\nWho?,Me.\nWhy?,Because.\n", encoding="utf-8")
    err = _refused(capsys, "--dataset", str(table), "--preset", "quick")
    assert "No answer field found (fields: prompt, reply)" in err  # train has no --map flag of its own:
    assert "--map answer=FIELD in `python -m studio dataset import FILE --out qa.json`" in err  # the one that does


def test_a_version_number_for_a_dataset_file_is_refused_not_ignored(data, capsys, offline):
    err = _refused(capsys, "--dataset", str(data), "--dataset-version", "3", "--preset", "quick")
    assert err.startswith("error: qa.json is a file: it has no versions")
    assert not config_runs()


def test_a_workspace_dataset_named_like_a_folder_here_still_loads(tmp_path, monkeypatch):
    from studio.data.ref import load_dataset

    store.create_dataset("faq", RECORDS)
    (tmp_path / "faq").mkdir()
    monkeypatch.chdir(tmp_path)
    records, ref = load_dataset("faq")
    assert records == RECORDS and ref.name == "faq"


# --- resuming an edited or damaged run ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A quick scratch run with two checkpoints, trained once for the module (seconds)."""
    from studio.train import loop

    root = tmp_path_factory.mktemp("trained")
    data = root / "qa.json"
    data.write_text(json.dumps(RECORDS), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STUDIO_HOME", str(root / "home"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        from studio.data.ref import load_dataset

        records, ref = load_dataset(str(data))
        cfg = TrainConfig(base="scratch", scratch_size="tiny", vocab_size=300, max_length=64, batch_size=4,
                          max_steps=2, save_steps=1, save_total_limit=2, test_fraction=0.0, learning_rate=1e-3)
        assert loop.run_job(cfg, records, root / "run", dataset=ref).state == "finished"
    return root / "run"


def _stopped_copy(trained: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    shutil.rmtree(run / "model")
    jobs.update_status(run, state="stopped", message="stopped at step 2: resume from its checkpoint")
    return run


def _files(run: Path) -> dict[str, bytes]:
    """What the user has in the run folder (the job's own status, log and time files aside)."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name not in ("status.json", "log.txt", "time.json")}


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    "run.json cut off": (lambda r: _cut(r / "run.json"), "its run.json (its settings and dataset) is missing or damaged"),
    "run.json a list": (lambda r: (r / "run.json").write_text("[]"), "its run.json (its settings and dataset) is missing"),
    "run.json deleted": (lambda r: (r / "run.json").unlink(), "its run.json (its settings and dataset) is missing"),
    "settings not an object": (
        lambda r: (r / "run.json").write_text(json.dumps({**json.loads((r / "run.json").read_text()), "config": "x"})),
        "its run.json (its settings and dataset) is missing or damaged"),
    "split.json broken": (lambda r: (r / "split.json").write_text("{not json"), "its split.json"),
    "checkpoints deleted": (lambda r: shutil.rmtree(r / "checkpoints"), "has no checkpoint to resume from"),
    "weights deleted": (lambda r: (r / "checkpoints" / "checkpoint-2" / "model.safetensors").unlink(),
                        "checkpoint-2 is damaged (its weights file model.safetensors is missing): delete that folder "
                        "to resume from checkpoint-1"),
    "weights cut off": (lambda r: _cut(r / "checkpoints" / "checkpoint-2" / "model.safetensors"),
                        "model.safetensors is cut off or not a safetensors file"),
    "model config broken": (lambda r: (r / "checkpoints" / "checkpoint-2" / "config.json").write_text("{not json"),
                            "checkpoint-2 is damaged (config.json is not valid JSON)"),
    "trainer state broken": (lambda r: (r / "checkpoints" / "checkpoint-2" / "trainer_state.json").write_text("{"),
                             "(trainer_state.json is not valid JSON)"),
    "scratch tokenizer cut off": (lambda r: _cut(r / "tokenizer" / "tokenizer.json"),
                                  "its tokenizer file tokenizer/tokenizer.json is damaged (not valid JSON): copy "
                                  "checkpoint-2/tokenizer.json over it."),
    "optimizer cut off": (lambda r: _cut(r / "checkpoints" / "checkpoint-2" / "optimizer.pt"),
                          "(optimizer.pt is cut off or not a PyTorch file)"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_resuming_an_edited_or_damaged_run_is_one_line_and_changes_none_of_its_files(damage, trained, tmp_path,
                                                                                     capsys, offline):
    run = _stopped_copy(trained, tmp_path)
    edit, said = DAMAGE[damage]
    edit(run)
    before, sessions = _files(run), runs.training_time(run)[1]
    err = _refused(capsys, "--resume", "--out", str(run))
    assert said in err
    assert _files(run) == before  # no checkpoint rotated away, no metrics rewound, nothing written over
    assert jobs.read_status(run).state == "stopped" and runs.training_time(run)[1] == sessions  # not a session


def test_the_checks_pass_an_intact_run_which_then_resumes(trained, tmp_path, capsys, offline):
    from studio.train import resumable

    run = _stopped_copy(trained, tmp_path)
    assert resumable.damage(run / "checkpoints" / "checkpoint-2") is None
    assert resumable.checkpoint(run).name == "checkpoint-2"
    code, err = _cli(capsys, "--resume", "--out", str(run))
    assert code == 0, err
    assert jobs.read_status(run).state == "finished" and (run / "model").is_dir()


def test_resuming_a_run_that_is_still_training_is_refused_and_leaves_it_alone(trained, tmp_path, capsys, offline):
    """`train --resume --out RUN` while the page's job trains RUN was let through (the device check passed the job
    in the same folder): it rewound the running run's metrics to its checkpoint, took its status and failed with a
    traceback once the job rotated that checkpoint away. It is refused as any second job is, and the run's files and
    status stay as the job has them. The job here sleeps in the run's folder (a stand-in: a real one may end first)."""
    import signal
    import sys

    run = _stopped_copy(trained, tmp_path)
    job = jobs.start_job("train", ["train", "--resume", "--out", str(run)], run,
                         launcher=[sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        before, status = _files(run), jobs.read_status(run)
        err = _refused(capsys, "--resume", "--out", str(run))
        assert err.startswith("error: The device is busy with the training run") and "Stop it or wait" in err
        assert _files(run) == before
        assert jobs.read_status(run).pid == status.pid == job.pid and jobs.read_status(run).state == "queued"
    finally:
        os.kill(job.pid, signal.SIGTERM)


def test_a_resume_whose_dataset_file_was_moved_says_so(trained, tmp_path, capsys, offline):
    run = _stopped_copy(trained, tmp_path)
    meta = json.loads((run / "run.json").read_text())
    gone = tmp_path / "moved-away.json"
    meta["dataset"]["file"] = str(gone)
    (run / "run.json").write_text(json.dumps(meta))
    err = _refused(capsys, "--resume", "--out", str(run))
    assert err == (f"error: The dataset file {gone} is no longer there: put it back to use these records again (to "
                   "resume a run), or start a new run on another dataset.")


def test_a_finished_run_is_not_resumed_over_its_model(trained, tmp_path, capsys, offline):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    before = _files(run)
    err = _refused(capsys, "--resume", "--out", str(run))
    assert err == (f"error: Run run has finished: nothing to resume. To train its model further, start a new run "
                   f"with --base {run / 'model'}.")
    assert _files(run) == before and runs.last_checkpoint(run) is not None


def test_resuming_a_run_that_is_not_there_says_so_as_evaluate_does_and_names_the_listing(tmp_path, monkeypatch,
                                                                                          capsys, offline):
    """`train --resume --out nope` said "nope is not a training run (no readable run.json): pick another.": a list the
    command line does not have. It says what `evaluate --run nope` says, naming `python -m studio runs`, whose ids it
    takes too; a folder that holds no run is named as such. Nothing is made."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    capsys.readouterr()
    assert main(["evaluate", "--run", "nope", "--model", "run:nope", "--out", str(tmp_path / "r.json")]) == 2
    evaluate_says = capsys.readouterr().err.strip()
    assert _refused(capsys, "--resume", "--out", "nope") == evaluate_says
    assert evaluate_says == ("error: No training run 'nope': it may have been deleted. `python -m studio runs` lists "
                             "the runs there are.")
    assert _refused(capsys, "--resume", "--out", "notes") == (
        "error: No training run 'notes': that folder holds no run.json. `python -m studio runs` lists the runs there are.")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"] and not config_runs()


def test_a_run_is_resumed_by_the_id_runs_lists(trained, tmp_path, capsys, offline):
    from studio import config

    run = _stopped_copy(trained, tmp_path)
    shutil.move(run, config.runs_dir() / "faq")
    code, err = _cli(capsys, "--resume", "--out", "faq")
    assert code == 0, err
    assert jobs.read_status(config.runs_dir() / "faq").state == "finished"


def test_start_with_the_picked_dataset_deleted_meanwhile_trains_nothing_and_says_so(offline, monkeypatch):
    """A dataset deleted in another tab after it was picked: the Start click's own redraw fell back to the first
    dataset and trained on it, a dataset nobody picked, without a word. Start says why it did not start now. (The start
    is recorded, not run: what matters is whether one is asked for.)"""
    from studio.train import job

    started = []
    monkeypatch.setattr(job, "start_training", lambda *a, **k: started.append(a) or "x")
    store.create_dataset("Soccer QA", RECORDS)
    picked = store.create_dataset("Tennis 😀/QA", RECORDS)
    at = train_page("scratch").run()
    at.selectbox(key="train.dataset").select(next(d for d in store.list_datasets() if d.id == picked.id)).run()
    store.delete_dataset(picked.id)  # another tab
    at.button(key="train.start").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Not started: the dataset you picked is no longer there (deleted in another tab or session). The form now "
        "shows another: check it and press Start again."]
    assert not started and at.selectbox(key="train.dataset").value.name == "Soccer QA"


# --- the run's name -----------------------------------------------------------------------------------------

def test_a_run_name_longer_than_a_rename_allows_is_refused_before_anything_runs(data, capsys, offline):
    from studio.data.ref import DatasetRef
    from studio.train import job

    err = _refused(capsys, "--dataset", str(data), "--preset", "quick", "--name", "x" * 5000)
    assert err == "error: That name is too long (5,000 characters): use at most 100."
    with pytest.raises(Exception, match="use at most 100"):  # the Train page's Start
        job.start_training(TrainConfig(base="scratch"), DatasetRef(file=str(data), name="qa"), "y" * 101)
    assert not config_runs()


@pytest.mark.parametrize(("name", "slug"), [("Ünïcødé 🚀 run", "unicode-run"), ("Straße Øl", "strasse-ol"),
                                           ("faq", "faq")])
def test_a_run_id_spells_an_accented_name_in_plain_letters(name, slug):
    assert runs.new_run_id(name).split("-", 2)[2] == slug  # "20261206-192949-unicode-run", not "…-n-c-d-run"


def test_a_run_name_of_another_script_or_of_symbols_gets_a_stable_hash_in_its_id_not_dashes_or_run():
    ids = {name: runs.new_run_id(name).split("-", 2)[2] for name in ("Обучение", "Прогон", "🚀", "Обучение run")}
    assert all(len(s) >= 8 and s.strip("-") == s and "--" not in s for s in ids.values()), ids
    assert len(set(ids.values())) == 4 and ids["Обучение run"].startswith("run-"), ids
    assert runs.new_run_id("Обучение").endswith(ids["Обучение"])  # the same name, the same id's tail


@pytest.mark.parametrize("control", ["\u202e", "\u202a", "\u2067", "\u2069"])
def test_a_run_name_holding_a_text_direction_control_is_refused_in_one_line_before_anything_runs(control, data, capsys,
                                                                                                  offline):
    from studio.data.ref import DatasetRef
    from studio.train import job

    said = ("A run name cannot hold a text-direction control (U+202A to U+202E, U+2066 to U+2069): it shows the name "
            "in another order than it was typed. Leave it out.")
    err = _refused(capsys, "--dataset", str(data), "--preset", "quick", "--name", f"final {control}lmth.exe")
    assert err == f"error: {said}"
    with pytest.raises(Exception, match="text-direction control"):  # the Train page's Start
        job.start_training(TrainConfig(base="scratch"), DatasetRef(file=str(data), name="qa"), f"{control}run")
    with pytest.raises(Exception, match="text-direction control"):  # a rename
        runs.rename_run(hand_made_run("plain").name, f"x{control}y")
    assert [r.name for r in runs.list_runs()] == ["plain"]
    assert "\u05d0\u05d9\u05de\u05d5\u05df" == runs.check_name("\u05d0\u05d9\u05de\u05d5\u05df")  # a Hebrew name needs none


def test_a_run_recorded_with_a_text_direction_control_lists_and_is_named_busy_without_it(offline):
    folder = hand_made_run("final \u202elmth.exe")
    jobs.update_status(folder, state="running", kind="train", pid=None, **{jobs.TITLE: "final \u202elmth.exe"})
    assert [r.name for r in runs.list_runs()] == ["final lmth.exe"]
    assert "final lmth.exe" in jobs.describe(jobs.read_status(folder))
    assert not any(c in jobs.describe(jobs.read_status(folder)) for c in jobs.BIDI_CONTROLS)


def test_the_train_page_refuses_a_run_name_holding_a_text_direction_control_in_one_line(offline):
    store.create_dataset("Tiny FAQ", RECORDS[:8])
    at = train_page("scratch").run()
    at.text_input(key="train.name").set_value("final \u202elmth.exe").run()
    at.button(key="train.start").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["A run name cannot hold a text-direction control (U+202A to U+202E, U+2066 "
                                           "to U+2069): it shows the name in another order than it was typed. Leave "
                                           "it out."]
    assert not config_runs()


def test_the_train_page_s_run_name_field_takes_at_most_what_a_rename_allows(offline):
    at = train_page("scratch")
    at.run()
    assert not at.exception
    assert at.text_input(key="train.name").max_chars == runs.MAX_NAME == 100


def test_the_train_page_s_resume_of_a_damaged_run_shows_the_one_line_and_keeps_the_run(offline):
    import time

    from studio.data.ref import load_dataset
    from studio.train import loop

    info = store.create_dataset("Tiny FAQ", RECORDS[:8])
    records, meta = load_dataset(info.id)
    folder = runs.run_dir(runs.new_run_id("damaged"))
    cfg = TrainConfig(base="scratch", scratch_size="tiny", vocab_size=300, max_length=64, batch_size=4, max_steps=6,
                      save_steps=1, save_total_limit=2, test_fraction=0.0)
    result = loop.run_job(cfg, records, folder, dataset=meta, name="damaged run",
                          on_progress=lambda f: jobs.request_stop(folder) if f["step"] >= 1 else None)
    assert result.state == "stopped"
    ckpt = runs.last_checkpoint(folder)
    _cut(ckpt / "optimizer.pt")
    before = _files(folder)

    at = open_run(folder.name)
    at.button(key="train.resume").click().run()
    deadline = time.time() + 120
    while jobs.read_status(folder).state not in ("failed", "finished") and time.time() < deadline:
        time.sleep(0.5)
    at.run()
    assert not at.exception
    shown = [e.value for e in at.error]
    assert shown == [f"Training failed: Run {folder.name} cannot be resumed: its checkpoint {ckpt.name} is damaged "
                     f"(optimizer.pt is cut off or not a PyTorch file): delete that folder to resume from "
                     f"checkpoint-{int(ckpt.name.split('-')[1]) - 1}, or start a new run."], shown
    assert _files(folder) == before and "Traceback" not in jobs.tail_log(folder, 200)


def test_sharding_is_off_for_one_gpu_and_deepspeed_without_its_package_is_one_line(offline, monkeypatch):
    """No machine of the suite has several GPUs: the count the page asks torch for is set to 4, as in
    test_train_page's own GPU test, to see what such a machine shows."""
    import importlib.util

    from studio.train import launch

    monkeypatch.setattr(launch, "gpu_count", lambda: 4)
    at = train_page("scratch")
    at.run()
    at.number_input(key="train.gpus").set_value(1).run()
    assert at.selectbox(key="train.sharding").disabled  # one GPU: no sharding offered and then ignored
    at.number_input(key="train.gpus").set_value(2).run()
    assert not at.selectbox(key="train.sharding").disabled
    if importlib.util.find_spec("deepspeed") is None:
        at.selectbox(key="train.sharding").set_value("zero3").run()
        at.button(key="train.start").click().run()
        assert not at.exception
        assert [e.value for e in at.error] == ["DeepSpeed ZeRO needs the deepspeed package (pip install deepspeed): "
                                               "install it, or choose FSDP, which PyTorch has built in."]
        assert runs.count_runs() == 0  # nothing started, no empty run left


# --- ask and runs -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "said"), [
    (["run:x", "  "], "error: The question is empty: type one"),
    (["distilgpt2", "How long?", "--max-new-tokens", "0"], "error: --max-new-tokens 0 is out of range: use 1 to 8192"),
    (["distilgpt2", "How long?", "--max-new-tokens", "-5"], "error: --max-new-tokens -5 is out of range"),
])
def test_ask_refuses_an_empty_question_and_no_answer_length_before_loading_a_model(argv, said, capsys, offline):
    capsys.readouterr()
    assert main(["ask", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(said) and len(err.splitlines()) == 1


def test_runs_lists_a_file_dataset_by_its_name_without_a_version(trained, capsys):
    from studio import config

    shutil.copytree(trained, config.runs_dir() / trained.name)
    capsys.readouterr()
    assert main(["runs"]) == 0
    line = capsys.readouterr().out.strip()
    assert " qa " in line and "vNone" not in line
    assert main(["runs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["dataset"] == "qa"


# --- the Train page's base ----------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["x" * 3000, "{tmp}", "run:", "someone/not-downloaded-here"])
def test_a_base_that_cannot_load_is_said_once_and_starts_nothing(typed, tmp_path, offline):
    """A pasted 3000-character name raised OSError (file name too long) as a traceback; any unloadable base
    was said three times (the preset, the preview and the memory check each read it)."""
    at = train_page("another model (Hub id or folder)")
    at.run()
    at.text_input(key="train.base_other").input(typed.format(tmp=tmp_path)).run()  # a folder without a model
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.error) == 1, [e.value for e in at.error]
    assert at.button(key="train.start").disabled


def test_a_spec_too_long_for_any_file_system_is_one_line_everywhere():
    from studio.errors import ModelSpecError
    from studio.models.spec import parse_spec

    with pytest.raises(ModelSpecError, match=r"is too long for a Hub id, a folder or a run \(3,000 characters\)"):
        parse_spec("x" * 3000)
    assert parse_spec("/models/" + "m" * 200).kind == "path"  # long, but a name a file system takes


def _config_only(folder: Path, **sizes) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 2, "n_embd": 32, "n_head": 2,
                                                    "vocab_size": 100, **sizes}))
    return folder


SAVED = "choose the folder save_pretrained wrote with its tokenizer and weights"


def test_a_folder_holding_a_config_alone_is_refused_before_start_on_the_page_and_the_command_line(tmp_path, data,
                                                                                                 capsys, offline):
    """A folder with only a config.json showed a memory estimate and an enabled Start; the run then failed in its
    job ("failed · 8s"). It is refused before Start in one line, from file names alone."""
    folder = _config_only(tmp_path / "config-only")
    at = train_page("another model (Hub id or folder)")
    at.run()
    at.text_input(key="train.base_other").input(str(folder)).run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = [e.value for e in at.error]
    assert error.startswith(f"{folder}: its folder has no tokenizer files and no weights") and SAVED in error
    assert at.button(key="train.start").disabled
    err = _refused(capsys, "--dataset", str(data), "--base", str(folder), "--out", str(tmp_path / "run"))
    assert str(folder) in err and SAVED in err
    assert not (tmp_path / "run").exists() and runs.list_runs() == []


@pytest.mark.parametrize(("field", "value"), [("n_layer", -3), ("n_head", 0), ("n_embd", "wide"), ("vocab_size", 1.5)])
def test_a_config_whose_sizes_are_no_sizes_is_one_line_naming_the_field(field, value, tiny_gpt2, tmp_path, data,
                                                                        capsys, offline):
    """"n_layer": -3, zero heads or a string were read as a shape: the Train page showed a memory estimate."""
    folder = tmp_path / "odd"
    shutil.copytree(tiny_gpt2, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, field: value}))
    at = train_page("another model (Hub id or folder)")
    at.run()
    at.text_input(key="train.base_other").input(str(folder)).run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = [e.value for e in at.error]
    assert f"its config.json gives {field} as {value!r}, not a size" in error
    assert at.button(key="train.start").disabled
    err = _refused(capsys, "--dataset", str(data), "--base", str(folder), "--out", str(tmp_path / "run"))
    assert f"{field} as {value!r}" in err and not (tmp_path / "run").exists()


@pytest.mark.parametrize(("given", "said"), [
    ("{model}/config.json", "{model}/config.json is a file, not a model folder: give the folder it is in ({model})"),
    ("{model}/model.safetensors", "{model}/model.safetensors is a file, not a model folder: give the folder it is in "
                                  "({model})"),
    ("{tmp}/tokenizer-only", "{tmp}/tokenizer-only holds no model (no config.json and no weights, a tokenizer only)"),
])
def test_a_file_or_a_tokenizer_given_as_the_base_says_what_it_is_on_the_page_and_the_command_line(
        given, said, tiny_gpt2, tmp_path, data, capsys, offline):
    """A model's config.json (or its weights file) typed as the base said it "holds no model (no config.json)",
    beside the config.json it was; a folder holding a tokenizer alone said the same. Each is one line saying what
    it is and what to give instead, before Start and before a run folder."""
    from transformers import AutoTokenizer

    AutoTokenizer.from_pretrained(tiny_gpt2).save_pretrained(tmp_path / "tokenizer-only")
    spec, line = (s.format(model=tiny_gpt2, tmp=tmp_path) for s in (given, said))
    at = train_page("another model (Hub id or folder)")
    at.run()
    at.text_input(key="train.base_other").input(spec).run()
    assert not at.exception, [e.value for e in at.exception]
    (error,) = [e.value for e in at.error]
    assert error.startswith(line), error
    assert at.button(key="train.start").disabled
    err = _refused(capsys, "--dataset", str(data), "--base", spec, "--method", "full", "--out", str(tmp_path / "run"))
    assert err == f"error: {error}"
    assert not (tmp_path / "run").exists() and runs.list_runs() == []


def test_a_model_folder_typed_with_a_trailing_space_is_the_folder(tiny_gpt2, offline):
    at = train_page("another model (Hub id or folder)")
    at.run()
    at.text_input(key="train.base_other").input(f"{tiny_gpt2} ").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not at.button(key="train.start").disabled


@pytest.mark.parametrize("method", ["full", "lora"])
def test_a_gguf_path_that_holds_no_gguf_is_refused_before_a_run_folder(method, tmp_path, data, capsys, offline):
    """A file named .gguf that is none (cut short) was found out only in the run's own process: the command line made
    the run folder first (and said "run: ..."), which then stood in the way of the next try ("already holds a run")."""
    path = tmp_path / "cut.gguf"
    path.write_bytes(b"GGUF\0\0")
    err = _refused(capsys, "--dataset", str(data), "--base", str(path), "--method", method,
                   "--out", str(tmp_path / "run"))
    assert "cut.gguf" in err and "GGUF" in err
    assert not (tmp_path / "run").exists() and runs.list_runs() == []


def test_the_command_s_preset_line_says_what_its_flags_changed(tiny_gpt2, capsys):
    """`studio train --test-fraction 0.1` printed the recommended preset's "nothing held out" above a run that held
    out 10%: the line now names what the flags changed, as the page's line names what Advanced changed."""
    from studio.__main__ import build_parser
    from studio.commands import train as train_cmd

    args = build_parser().parse_args(["train", "--dataset", "x.json", "--base", str(tiny_gpt2), "--method", "lora",
                                      "--test-fraction", "0.1", "--epochs", "12"])
    cfg = train_cmd._config(args, n_records=40)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert cfg.test_fraction == 0.1
    assert line.startswith("preset: 40 records: a FAQ, nothing held out, 12 epochs")
    assert line.endswith("Changed with flags: Held-out fraction 0 → 0.1.")  # epochs 12 as recommended: not a change


def test_a_long_run_name_is_told_apart_from_its_sibling_in_a_picker():
    """Two runs whose long names differ only at the end read apart in a picker, short enough for an 800 px window: the
    name is cut in its middle, not at its end, and the id's tail (the name's slug again) is left out."""
    first, second = (f"soccer-rules-lora-rank-16-three-epochs-on-the-sample-faq-{v}" for v in ("v1", "v2"))
    a, b = (runs.picker_name(n, f"20261205-064729-{runs.slug(n)}") for n in (first, second))
    assert a != b and a.startswith("soccer-rules") and "faq-v1 · run 20261205-064729" in a
    assert len(a) <= runs.NAME_SHOWN + len(" · run 20261205-064729")
    assert runs.picker_name("faq", "20261205-064729-faq") == "faq · run 20261205-064729"
    assert runs.picker_name("faq", "20261205-064729-faq-2") == "faq · run 20261205-064729 (2)"  # same name, same second
    assert runs.picker_name("faq", "20261205-064729-other") == "faq · run 20261205-064729-other"  # renamed: id whole
    # the Train page's default name, its id made from the dataset's name: "· run 20261207-150354-soccer-rules-s" was cut
    named = runs.picker_name("Soccer rules (sample) · SmolLM2-135M-Instruct (bundled Q4_1 copy)",
                             "20261207-150354-soccer-rules-sample")
    assert named.endswith("(bundled Q4_1 copy) · run 20261207-150354")
