"""Background jobs: real detached `python -m studio train` workers, read back from their files."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from studio import jobs
from studio.data.ref import DatasetRef
from studio.errors import JobBusyError
from studio.train import runs

RECORDS = [{"question": f"What is rule {i}?", "answer": f"Rule {i} says the ball must be {i} metres away."}
           for i in range(12)]


def _wait(predicate, timeout: float = 90.0, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def dataset_file(tmp_path: Path) -> Path:
    f = tmp_path / "faq.json"
    f.write_text(json.dumps(RECORDS))
    return f


def test_job_runs_detached_stops_on_request_and_resumes(dataset_file, tmp_path, offline):
    wd = tmp_path / "run"
    argv = ["train", "--dataset", str(dataset_file), "--preset", "quick", "--max-steps", "5000",
            "--logging-steps", "2", "--out", str(wd)]
    status = jobs.start_job("train", argv, wd)
    assert status.state == "queued" and status.pid and status.kind == "train"
    assert jobs.active_device_job().workdir == str(wd)

    _wait(lambda: len(runs.read_metrics(wd)) >= 2, what="two metrics rows")
    # the status file is written apart from metrics.jsonl: read at once, it could still say the progress before them
    running = _wait(lambda: (s := jobs.read_status(wd)).state == "running" and 0 < s.progress < 1 and s, timeout=180,
                    what="the running job's progress")
    assert running.pid == status.pid

    with pytest.raises(JobBusyError, match="one job per device at a time"):
        jobs.start_job("train", argv, tmp_path / "second")
    from studio import config
    from studio.train import job as train_job
    from studio.train.config import preset

    with pytest.raises(JobBusyError):  # the Train page's Start while another run holds the device
        train_job.start_training(preset("quick"), DatasetRef(name="faq", file=str(dataset_file)))
    assert list(config.runs_dir().iterdir()) == []  # the refused start left no empty run folder

    jobs.request_stop(wd)
    assert jobs.stop_requested(wd)
    final = _wait(lambda: (s := jobs.read_status(wd)).state in jobs.DONE and s, what="the job to stop")
    assert final.state == "stopped", final
    ckpt = runs.last_checkpoint(wd)
    assert ckpt is not None
    assert "step" in jobs.tail_log(wd, 20)
    assert jobs.active_device_job() is None

    # Resume through the CLI; then a crash (the worker killed) is reported as failed, not "running" forever.
    resumed = jobs.start_job("train", ["train", "--resume", "--out", str(wd)], wd)
    stopped_at = int(ckpt.name.split("-")[1])
    _wait(lambda: any(r["step"] > stopped_at for r in runs.read_metrics(wd) if "loss" in r), what="resumed steps")
    os.kill(resumed.pid, signal.SIGKILL)
    dead = _wait(lambda: (s := jobs.read_status(wd)).state in jobs.DONE and s, timeout=20, what="the crash to show")
    assert dead.state == "failed" and dead.error == jobs.DIED
    assert jobs.active_device_job() is None


def test_worker_failure_is_reported_with_its_reason(tmp_path):
    wd = tmp_path / "bad"
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    jobs.start_job("train", ["train", "--dataset", str(empty), "--preset", "quick", "--out", str(wd)], wd)
    final = _wait(lambda: (s := jobs.read_status(wd)).state in jobs.DONE and s, what="the job to fail")
    assert final.state == "failed" and "holds no records" in final.error
    assert "error: " in jobs.tail_log(wd)


def test_status_files(tmp_path):
    wd = tmp_path / "w"
    assert jobs.read_status(wd).state == "none"
    wd.mkdir()
    jobs.update_status(wd, state="running", kind="evaluate", progress=0.5, pid=os.getpid(), custom=3)
    s = jobs.read_status(wd)
    assert (s.state, s.kind, s.progress, s.extra["custom"]) == ("running", "evaluate", 0.5, 3)
    jobs.update_status(wd, pid=2**22 + 12345)  # no such process: the worker is gone
    assert jobs.read_status(wd).state == "failed"
    (wd / jobs.LOG).write_text("a\nb\rB\nc\n")
    assert jobs.tail_log(wd, 2) == "B\nc"


def test_two_foreground_trainings_started_together_cannot_both_take_the_device(tmp_path):
    """The busy check and the claim happen under the jobs lock: one runs, the other is refused."""
    import json as _json
    import subprocess
    import sys

    data = tmp_path / "qa.json"
    data.write_text(_json.dumps([{"question": f"Q{i}?", "answer": f"A{i}."} for i in range(16)]))
    env = {**os.environ}
    cmds = [[sys.executable, "-m", "studio", "train", "--dataset", str(data), "--preset", "quick", "--epochs", "40",
             "--out", str(tmp_path / f"run{i}")] for i in range(2)]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for c in cmds]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], outs
    refused = next(err for (_, err), p in zip(outs, procs) if p.returncode == 2)
    assert "device is busy" in refused and refused.startswith("error: ")



def test_a_start_time_reads_as_a_person_reads_it():
    assert jobs.readable_time("2026-12-05T00:12:33.123456+00:00") == "2026-12-05 00:12 UTC"
    assert jobs.readable_time("2026-12-05T02:12:33+02:00") == "2026-12-05 00:12 UTC"  # another zone, in UTC
    assert jobs.readable_time("2026-12-05T00:12:33") == "2026-12-05 00:12 UTC"  # no zone: stored times are UTC
    assert jobs.readable_time("") == "" and jobs.readable_time(None) == ""
    assert jobs.readable_time("yesterday") == "yesterday"  # not a time: shown as it is, never an exception
    from datetime import datetime, timezone

    synced = datetime(2026, 12, 5, 0, 12, 33, tzinfo=timezone.utc).timestamp()  # what time.time() stores
    assert jobs.readable_time(synced) == "2026-12-05 00:12 UTC"  # a sync's moment reads like a run's start


def test_stop_says_what_it_will_do_at_each_moment_of_a_run(tmp_path):
    """Stop while a run's base loads said "stopping after the current step", though it stops before any step; Stop
    during a new run's first step said "stopping" alone, and the page then waited out that step (minutes on a CPU:
    150 s with SmolLM2 here) and saved a checkpoint to resume from."""
    said = {}
    for name, progress, message in (("loading", 0.0, "loading model:smollm2-135m-instruct"),
                                    ("reloading", 0.0, "loading the model to go on from step 40"),
                                    ("first", 0.0, "training: step 0/240"), ("later", 0.25, "step 60/240 · epoch 1.00"),
                                    ("export", 0.0, "tensor 3/272")):
        wd = tmp_path / name
        wd.mkdir()
        jobs.update_status(wd, state="running", kind="export" if name == "export" else "train", progress=progress,
                           pid=os.getpid(), message=message)
        said[name] = jobs.request_stop(wd).message
        assert jobs.read_status(wd).state == "stopping"
    assert said["loading"] == "stopping once the base has loaded, before its first step: nothing is trained, nothing " \
                              "to resume"
    assert said["reloading"] == "stopping once the model has loaded: the run stays at its last checkpoint"
    assert said["first"] == "stopping after the first step (it finishes first): a checkpoint is saved then, to resume " \
                            "from"
    assert said["later"] == "stopping after the current step" and said["export"] == "stopping"


def test_the_busy_device_message_names_the_job_as_the_person_knows_it(tmp_path):
    """It named the job by its folder's id ("a train job (faq-20261206-0102-ab12)"): now by its kind and name, the
    run's name as the Train page shows it, or the models an evaluation compares."""
    run = tmp_path / "faq-20261206-0102-ab12"
    jobs.claim_device("train", run, title="faq · SmolLM2-135M-Instruct")
    try:
        with pytest.raises(JobBusyError) as err:
            jobs.start_job("evaluate", ["evaluate", "--job", "x"], tmp_path / "eval")
        assert str(err.value) == ("The device is busy with the training run “faq · SmolLM2-135M-Instruct”: one job per "
                                  "device at a time. Stop it or wait for it to finish.")
    finally:
        jobs.update_status(run, state="stopped")
    ev = tmp_path / "eval-1"
    jobs.claim_device("evaluate", ev, title="distilgpt2, run:faq")
    try:
        with pytest.raises(JobBusyError, match="busy with the evaluation of distilgpt2, run:faq: one job"):
            jobs.claim_device("train", tmp_path / "run2")
    finally:
        jobs.update_status(ev, state="stopped")
    old = tmp_path / "old-run"  # a job recorded before names were: its folder, with its kind in words
    jobs.claim_device("train", old)
    try:
        with pytest.raises(JobBusyError, match="busy with the training run in old-run: one job"):
            jobs.claim_device("train", tmp_path / "run3")
    finally:
        jobs.update_status(old, state="stopped")


def test_a_job_s_name_with_line_breaks_or_many_models_is_one_short_line_in_the_busy_message(tmp_path):
    """A run named with a line break (the command line's --name) split the refusal in two, and an evaluation of
    twenty models named every one of them in it."""
    run = tmp_path / "r1"
    jobs.claim_device("train", run, title="faq\nsecond line")
    try:
        with pytest.raises(JobBusyError) as err:
            jobs.claim_device("train", tmp_path / "r2")
        assert "\n" not in str(err.value) and "the training run “faq second line”" in str(err.value)
    finally:
        jobs.update_status(run, state="stopped")
    ev = tmp_path / "e1"
    jobs.claim_device("evaluate", ev, title=", ".join(f"run:faq-{i:02d}-a-long-run-name" for i in range(20)))
    try:
        with pytest.raises(JobBusyError) as err:
            jobs.claim_device("train", tmp_path / "r3")
        assert "run:faq-00-a-long-run-name" in str(err.value) and "…" in str(err.value)
        assert len(str(err.value)) < 250
    finally:
        jobs.update_status(ev, state="stopped")


def _refused_start(kind: str, data: Path, model: Path) -> None:
    """Start a training run or an evaluation as its page does (``kind``); it must be refused in one line."""
    from studio.evaluate import job as eval_jobs
    from studio.evaluate.config import EvalConfig
    from studio.train import job as train_jobs
    from studio.train.config import TrainConfig

    with pytest.raises(JobBusyError) as refused:
        if kind == "training":
            train_jobs.start_training(TrainConfig(base="scratch"), DatasetRef(file=str(data), name="faq"))
        elif kind == "evaluation":
            eval_jobs.start_evaluation(EvalConfig(models=("api:m",), dataset_file=str(data),
                                                  api_base_url="http://127.0.0.1:9/v1"))
        else:  # a local model's evaluation, which needs the device
            eval_jobs.start_evaluation(EvalConfig(models=(str(model),), dataset_file=str(data)))
    assert len(str(refused.value).splitlines()) == 1


@pytest.mark.parametrize("kind", ["training", "evaluation"])
@pytest.mark.parametrize("bound", ["per visitor", "in all"])
def test_a_start_refused_for_too_many_jobs_leaves_the_workspace_as_it_was(kind, bound, dataset_file, studio_home,
                                                                           tiny_gpt2):
    """A refused start made jobs/ (the registry's lock file) and, for a training run, runs/ before it was refused,
    and left them in a workspace that had neither (a block each of a public app's visitor's limit)."""
    from workspace_tree import tree

    studio_home.mkdir()
    before = tree(studio_home)
    jobs.set_caps(**({"per_workspace": 0} if bound == "per visitor" else {"total": 0}))
    try:
        _refused_start(kind, dataset_file, tiny_gpt2)
    finally:
        jobs.set_caps()
    assert tree(studio_home) == before


def test_the_workspaces_of_browsers_without_cookies_share_one_allowance_of_jobs(tmp_path):
    """Each page load of a browser without cookies is a new anonymous workspace, and each had its own
    ``jobs_per_visitor``: a script loading the app again and again ran that many evaluations per load, up to the app's
    total, which every other visitor then waited on. Such workspaces now share one allowance (``set_caps``' group);
    a workspace of no group (a browser with its cookie) keeps its own."""
    import sys

    from studio import config

    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]  # a job that runs until killed
    group = {"now": "browser:none"}
    started = []

    def start(workspace: str) -> None:
        with config.use_workspace(tmp_path / workspace):
            started.append(jobs.start_job("evaluate", [], tmp_path / workspace / "jobs" / "e", uses_device=False,
                                          launcher=sleeper))

    jobs.set_caps(1, None, lambda: group["now"])
    try:
        start("a-first-load")
        with pytest.raises(JobBusyError) as refused:
            start("a-second-load")
        assert not (tmp_path / "a-second-load" / "jobs" / "e").exists()
        group["now"] = None  # a browser with its cookie, in a workspace of its own
        start("a-browser-with-cookies")
    finally:
        jobs.set_caps()
        for status in started:
            os.kill(status.pid, signal.SIGKILL)
    assert str(refused.value) == ("Browsers that send no cookies count as one visitor on this app, who runs at most 1 "
                                  "background job (evaluations) at a time, and 1 is running: allow cookies for this "
                                  "site and reload, or wait for one to finish.")
    assert len(started) == 2


@pytest.mark.parametrize("kind", ["training", "local evaluation"])
def test_a_start_refused_for_a_busy_device_leaves_the_workspace_as_it_was(kind, dataset_file, studio_home, tmp_path,
                                                                          tiny_gpt2):
    from workspace_tree import tree

    jobs.claim_device("train", tmp_path / "other run", title="other run")  # a run in a terminal holds the device
    before = tree(studio_home)
    _refused_start(kind, dataset_file, tiny_gpt2)
    assert tree(studio_home) == before


def test_a_training_run_refused_on_the_command_line_for_a_busy_device_leaves_no_run_folder(dataset_file, studio_home,
                                                                                          tmp_path, capsys):
    """`python -m studio train` made its run folder (and runs/) before it asked for the device, and left both empty."""
    from workspace_tree import tree

    from studio.__main__ import main

    jobs.claim_device("evaluate", tmp_path / "other", title="distilgpt2")
    before = tree(studio_home)
    assert main(["train", "--dataset", str(dataset_file), "--base", "scratch", "--preset", "quick"]) == 2
    assert "The device is busy with the evaluation of distilgpt2" in capsys.readouterr().err
    assert tree(studio_home) == before


def test_the_jobs_lock_holds_back_the_next_start_after_the_registry_was_dropped_under_it(studio_home, monkeypatch):
    """A refused start (or a terminal export ending) in a workspace that had no jobs/ removes it, lock file and all,
    under the lock. A start that had opened the lock file just before, and locked it just after, held a file no longer
    there: the next start made a new one and took it at once, both past the device check together. The interleaving
    is made here with a stand-in for ``flock`` that drops the registry between the open and the lock, the moment
    another process's refused start would (two processes cannot be made to meet there on purpose)."""
    import fcntl

    from studio import config

    dropped: list[bool] = []

    class Interleaved:
        LOCK_EX, LOCK_UN, LOCK_NB = fcntl.LOCK_EX, fcntl.LOCK_UN, fcntl.LOCK_NB

        @staticmethod
        def flock(fh, op):
            if op == fcntl.LOCK_EX and not dropped:  # opened; another process drops the registry before it locks
                dropped.append(True)
                jobs._drop_registry()
            return fcntl.flock(fh, op)

    monkeypatch.setattr(jobs, "fcntl", Interleaved)
    with jobs._locked():
        assert dropped
        with open(config.jobs_dir() / ".lock", "a+") as next_start:  # another start, now
            with pytest.raises(BlockingIOError):
                fcntl.flock(next_start, fcntl.LOCK_EX | fcntl.LOCK_NB)


_REGISTRY_ACTOR = """
import os, sys
from pathlib import Path
from studio import jobs
holder, errors, overlaps = Path(sys.argv[2]), [], 0
for _ in range(int(sys.argv[3])):
    try:
        with jobs._locked():  # what every start, claim and end of a job holds
            try:
                os.close(os.open(holder, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                overlaps += 1  # another process holds the lock at the same time
            else:
                os.unlink(holder)
        jobs.unregister_current(Path(sys.argv[1]), made_registry=True)  # a foreground export's end: drops the registry
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
print(overlaps, len(errors), errors[:1])
"""


def test_two_processes_ending_jobs_together_never_share_the_lock_nor_fail_on_the_dropped_registry(studio_home, tmp_path):
    """A job's end drops the registry's folder (``_drop_registry``) when only its lock is left; another process
    waiting on that lock held it on a removed file while a third made a new one (two holders at once), and one
    making the folder as it was removed failed with "No such file or directory" or "jobs is a file, not a folder"."""
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-c", _REGISTRY_ACTOR, str(tmp_path / f"job{i}"), str(tmp_path / "holder"),
                               "600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [out.split(" ", 2)[:2] for out, _ in outs] == [["0", "0"], ["0", "0"]], outs  # no overlap, no error


def test_a_run_resumed_while_the_registry_is_read_keeps_its_entry_and_the_device(studio_home, tmp_path, monkeypatch):
    """A page reading the registry found a run's old entry ended and removed it without the lock; a resume of that run
    in between (its fresh entry written at the same path) lost its entry, and the next start took the device beside
    it. The interleaving is made with a stand-in for ``read_status`` that resumes the run just after the page's look
    (two processes cannot be made to meet there on purpose)."""
    wd = tmp_path / "run"
    jobs.claim_device("train", wd, title="faq")
    jobs.update_status(wd, state="finished")
    real_read, resumed = jobs.read_status, []

    def read_then_resume(workdir):
        status = real_read(workdir)
        if not resumed:  # the page has read "finished"; the person presses Resume now
            resumed.append(True)
            jobs.claim_device("train", wd, title="faq")
        return status

    monkeypatch.setattr(jobs, "read_status", read_then_resume)
    jobs.registered_jobs()
    monkeypatch.setattr(jobs, "read_status", real_read)
    assert resumed
    with pytest.raises(JobBusyError):
        jobs.claim_device("train", tmp_path / "other", title="other")
