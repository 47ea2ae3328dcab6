"""A run that an evaluation is answering with is not deleted under it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from studio import jobs
from studio.evaluate import results as eval_results
from studio.train import runs

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "3_Train.py")
RUN_ID = "20261205-000000-faq"


def _run_and_evaluation(active: bool) -> str:
    folder = runs.run_dir(RUN_ID)
    folder.mkdir(parents=True)
    runs.write_run(folder, {"id": RUN_ID, "name": "faq", "created": "2026-12-05T00:00:00+00:00", "config": {},
                            "base": "scratch", "dataset": {}})
    jobs.update_status(folder, state="finished", kind="train", message="finished", progress=1.0)
    eval_id = "20261205-000100-abcd"
    eval_results.save({"id": eval_id, "created": "2026-12-05T00:01:00+00:00", "status": None if active else "finished",
                       "config": {"models": [f"run:{RUN_ID}", "distilgpt2"]}, "rows": []})
    # the evaluation's job, alive (this process stands in for its worker) or ended
    jobs.update_status(eval_results.job_dir(eval_id), state="running" if active else "finished", kind="evaluate",
                       pid=os.getpid())
    return eval_id


def _delete_on_the_runs_tab() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    at.button(key="train.delete_btn").click().run()
    assert not at.exception
    return at


def _cli_delete():
    import subprocess
    import sys

    from studio import config

    return subprocess.run([sys.executable, "-m", "studio", "runs", "delete", RUN_ID], capture_output=True, text=True,
                          timeout=120, cwd=Path(PAGE).parents[1], env={**os.environ, "STUDIO_HOME": str(config.home())})


def test_a_run_being_evaluated_is_not_deleted_and_the_page_and_cli_say_which_evaluation():
    eval_id = _run_and_evaluation(active=True)
    at = _delete_on_the_runs_tab()
    assert runs.run_dir(RUN_ID).is_dir()
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "is being evaluated" in errors[0] and eval_id in errors[0]
    out = _cli_delete()  # the command line deleted it under the evaluation
    assert out.returncode == 2 and runs.run_dir(RUN_ID).is_dir()
    assert out.stderr.strip() == (f"error: Run 'faq' is being evaluated (evaluation {eval_id}): stop that evaluation "
                                  "on the Evaluate page, or wait for it to finish, then delete the run.")


def test_once_the_evaluation_ended_the_run_can_be_deleted():
    _run_and_evaluation(active=False)
    out = _cli_delete()
    assert out.returncode == 0 and "moved to" in out.stdout and not runs.run_dir(RUN_ID).exists()


def test_a_run_being_exported_is_not_deleted_on_the_page_or_the_command_line(tiny_gpt2):
    """Deleting a run while its GGUF export ran moved its model away under the export, which failed halfway."""
    import contextlib
    import shutil
    import signal
    import time

    from studio.models.export import job as export_job

    folder = runs.run_dir(RUN_ID)
    shutil.copytree(tiny_gpt2, folder / "model")
    runs.write_run(folder, {"id": RUN_ID, "name": "faq", "created": "2026-12-05T00:00:00+00:00", "config": {},
                            "base": "scratch", "dataset": {}})
    jobs.update_status(folder, state="finished", kind="train", message="finished", progress=1.0)
    workdir = export_job.start_export(f"run:{RUN_ID}", "q8_0", "faq.Q8_0")  # as the Train page's Export panel does
    pid = jobs.read_status(workdir).pid
    os.kill(pid, signal.SIGSTOP)  # held mid-way: no race with it
    try:
        at = _delete_on_the_runs_tab()
        assert folder.is_dir()
        assert [e.value for e in at.error] == ["Run 'faq' is being exported as GGUF (faq.Q8_0.gguf): stop that export "
                                               "in the Export panel on the Train page, or wait for it to finish, then "
                                               "delete the run."]
        out = _cli_delete()
        assert out.returncode == 2 and folder.is_dir()
        assert out.stderr.strip() == "error: Run 'faq' is being exported as GGUF (faq.Q8_0.gguf): stop that export in " \
                                     "the Export panel on the Train page, or wait for it to finish, then delete the run."
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 30
    while jobs.alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    _delete_on_the_runs_tab()  # the export ended: the run goes
    assert not folder.exists()


def test_a_run_a_terminal_s_export_is_reading_by_its_bare_id_is_not_deleted(tiny_gpt2, tmp_path):
    """``model export RUN_ID`` in a terminal: the run was deleted under it (no job the pages or `runs delete` knew)."""
    import shutil
    import signal
    import subprocess
    import sys

    from studio import config

    folder = runs.run_dir(RUN_ID)
    shutil.copytree(tiny_gpt2, folder / "model")
    runs.write_run(folder, {"id": RUN_ID, "name": "faq", "created": "2026-12-05T00:00:00+00:00", "config": {},
                            "base": "scratch", "dataset": {}})
    jobs.update_status(folder, state="finished", kind="train", message="finished", progress=1.0)
    env = {k: v for k, v in os.environ.items() if k != "STUDIO_JOB_DIR"}
    proc = subprocess.Popen([sys.executable, "-m", "studio", "model", "export", RUN_ID, "--out", str(tmp_path / "f.gguf")],
                            cwd=Path(PAGE).parents[1], env={**env, "STUDIO_HOME": str(config.home())},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    import time

    deadline = time.time() + 120
    while not any(s.active for s in jobs.registered_jobs()) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        out = _cli_delete()
        assert out.returncode == 2 and folder.is_dir()
        assert out.stderr.strip().startswith("error: Run 'faq' is being exported as GGUF (f.gguf)"), out.stderr
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and (tmp_path / "f.gguf").is_file(), err
    assert _cli_delete().returncode == 0 and not folder.exists()


def test_a_run_another_run_was_trained_from_is_not_deleted_on_the_page_or_the_command_line():
    """A stopped run continued from an earlier run: deleting the earlier one was allowed, and its Resume then failed
    with "No training run ...: Pick another model" (its base gone), Resume still offered."""
    import subprocess
    import sys

    from studio import config

    for run_id, name, base, state in ((RUN_ID, "faq", "scratch", "finished"),
                                      ("20261205-000200-more", "faq, more epochs", f"run:{RUN_ID}", "stopped")):
        folder = runs.run_dir(run_id)
        folder.mkdir(parents=True)
        runs.write_run(folder, {"id": run_id, "name": name, "created": "2026-12-05T00:00:00+00:00", "config": {},
                                "base": base, "dataset": {}})
        jobs.update_status(folder, state=state, kind="train", message=state)
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    at.selectbox(key="train.manage_run").set_value(runs.load_run(RUN_ID))
    at.button(key="train.delete_btn").click().run()
    assert not at.exception
    assert runs.run_dir(RUN_ID).is_dir()
    assert [e.value for e in at.error] == ["Run 'faq' is the base of 1 training run(s) (faq, more epochs): delete those "
                                           "runs first, or keep this one."]
    out = subprocess.run([sys.executable, "-m", "studio", "runs", "delete", RUN_ID], capture_output=True, text=True,
                         timeout=120, cwd=Path(PAGE).parents[1], env={**os.environ, "STUDIO_HOME": str(config.home())})
    assert out.returncode == 2 and out.stderr.strip().startswith("error: Run 'faq' is the base of 1 training run(s)")
    assert runs.run_dir(RUN_ID).is_dir()
    runs.delete_run("20261205-000200-more")  # the run trained from it first: then it goes
    runs.delete_run(RUN_ID)
    assert not runs.run_dir(RUN_ID).exists()


def test_a_run_resumed_as_its_delete_looks_is_not_moved_under_its_job(monkeypatch):
    """Delete looked at the run's state, then at its exports, evaluations and children, then moved it: a Resume pressed
    in another tab in between started its job on the run, and the delete moved the folder to the trash under the
    training that wrote into it. The state is looked at again under the lock every job start holds, as it moves."""
    from studio.errors import StudioError
    from studio.models import library

    _run_and_evaluation(active=False)
    looked = library.exports_of_run

    def resumed_meanwhile(run_id: str) -> list[str]:  # the other tab's Resume, landing after the first look
        jobs.update_status(runs.run_dir(RUN_ID), state="running", kind="train", pid=os.getpid())
        return looked(run_id)

    monkeypatch.setattr(library, "exports_of_run", resumed_meanwhile)
    with pytest.raises(StudioError, match=r"^Run 'faq' is still training: stop it before deleting it\.$"):
        runs.delete_run(RUN_ID)
    assert runs.run_dir(RUN_ID).is_dir()  # left to the training that writes into it


def test_a_resume_of_a_run_deleted_since_it_was_shown_is_refused_and_makes_no_folder(monkeypatch):
    """Another tab deleted the run this tab still showed: its Resume made an empty run folder and started a job that
    failed. It is refused in one line, with no folder made and no job started."""
    from studio.errors import StudioError
    from studio.train import job

    _run_and_evaluation(active=False)
    folder = runs.run_dir(RUN_ID)
    runs.delete_run(RUN_ID)
    monkeypatch.setattr(jobs.subprocess, "Popen", lambda *a, **k: pytest.fail("a job was started"))
    with pytest.raises(StudioError) as err:
        job.resume_training(folder, "faq")
    assert str(err.value) == ("Run 'faq' was deleted (in another tab or session): nothing was resumed. Pick another "
                              "run, or start a new one.")
    assert not folder.exists()
