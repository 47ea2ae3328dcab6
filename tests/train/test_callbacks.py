"""The training callback's status writer: the step hands over its fields and goes on; the status file
still ends with the newest of them, a stop shows at once, and a failed write is not lost."""

from __future__ import annotations

import time

import pytest

from studio import jobs
from studio.train.callbacks import StatusWriter


def test_the_status_ends_with_the_newest_fields_once_closed(tmp_path):
    writer = StatusWriter(tmp_path, interval=0.5)
    for step in range(1, 201):  # 200 steps in a few ms: far fewer writes than steps
        writer.post({"state": "running", "step": step, "message": f"step {step}/200"})
    writer.close()
    status = jobs.read_status(tmp_path)
    assert status.state == "running" and status.message == "step 200/200"
    writer.post({"state": "running", "message": "late"})  # after close: ignored, never written over a final state
    time.sleep(0.2)
    assert jobs.read_status(tmp_path).message == "step 200/200"


def test_writes_wait_out_the_interval_but_a_stop_is_written_at_once(tmp_path):
    writer = StatusWriter(tmp_path, interval=60)
    writer.post({"state": "running", "message": "step 1/9"})  # the first is written at once
    deadline = time.time() + 5
    while jobs.read_status(tmp_path).message != "step 1/9" and time.time() < deadline:
        time.sleep(0.02)
    assert jobs.read_status(tmp_path).message == "step 1/9"
    writer.post({"state": "running", "message": "step 2/9"})
    time.sleep(0.3)
    assert jobs.read_status(tmp_path).message == "step 1/9"  # throttled: the interval has not passed
    writer.post({"state": "stopping", "message": "step 3/9"}, urgent=True)
    deadline = time.time() + 5
    while jobs.read_status(tmp_path).state != "stopping" and time.time() < deadline:
        time.sleep(0.02)
    assert jobs.read_status(tmp_path).state == "stopping"  # long before the 60 s interval
    writer.close()


def test_a_failed_status_write_is_raised_in_the_training_thread(tmp_path):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    writer = StatusWriter(not_a_folder)
    writer.post({"state": "running"})
    with pytest.raises(OSError):
        writer.close()
