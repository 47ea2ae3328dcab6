"""A full and a read-only disk: one line (exit 2 in the CLI), nothing half-written, nothing lost.

The workspace lives on a small tmpfs mounted for the test (skipped where mounting is not permitted).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.errors import DiskError
from tests import tmpfs

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    with contextlib.ExitStack() as disks:
        count = iter(range(1_000))

        def mount(size_kb: int) -> Path:
            where = disks.enter_context(tmpfs.mounted(tmp_path / f"disk{next(count)}", size_kb))
            monkeypatch.setenv("STUDIO_HOME", str(where / "home"))
            return where

        yield mount


def fill(disk: Path, leave_kb: int = 0) -> Path:
    """Take the disk's free space, but ``leave_kb``; returns the filler file (delete it to free the space)."""
    st = os.statvfs(disk)
    filler = disk / "filler"
    size = st.f_bavail * st.f_frsize - leave_kb * 1024
    with open(filler, "wb") as fh:
        try:
            fh.write(b"\0" * max(size, 0))
        except OSError:
            pass
    return filler


def studio(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def one_error_line(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    return lines[0]


def records(n: int) -> list[dict]:
    return [{"question": f"What is rule number {i} of the game, in full?", "answer": "x" * 200} for i in range(n)]


def test_an_import_on_a_full_disk_says_so_and_leaves_nothing_half_written(small_disk, tmp_path):
    disk = small_disk(1024)
    src = tmp_path / "big.json"
    src.write_text(json.dumps(records(2000)))  # ~500 KB, more than the disk has left
    fill(disk, leave_kb=64)
    line = one_error_line(studio("dataset", "import", str(src), "--out", str(disk / "big.json")))
    assert line.startswith("error: disk full:")
    assert sorted(p.name for p in disk.iterdir()) == ["filler"]  # no big.json, no temporary file


def test_a_dataset_created_on_a_full_disk_leaves_no_dataset_folder(small_disk):
    from studio.data import store

    disk = small_disk(1024)
    fill(disk, leave_kb=64)
    with pytest.raises(DiskError, match="^disk full: "):
        store.create_dataset("Big set", records(2000))  # what the Import tab and "New dataset" call
    datasets = Path(os.environ["STUDIO_HOME"]) / "datasets"
    assert [p.name for p in datasets.iterdir() if not p.name.endswith(".lock")] == []  # no empty or half folder
    assert store.list_datasets() == []


def test_an_edit_saved_on_a_full_disk_keeps_every_version_and_saves_once_there_is_room(small_disk):
    from studio.data import store

    disk = small_disk(1024)
    info = store.create_dataset("Rules", records(10))
    filler = fill(disk)
    with pytest.raises(DiskError, match=r"^disk full: could not write .*free some space"):
        store.save_version(info.id, records(2000), base_version=1)
    assert [v.version for v in store.list_versions(info.id)] == [1]
    assert store.load_version(info.id, 1) == records(10)
    filler.unlink()
    assert store.save_version(info.id, records(11), base_version=1).version == 2
    leftovers = [p.name for p in (Path(os.environ["STUDIO_HOME"]) / "datasets" / info.id / "versions").iterdir()
                 if p.name.endswith(".tmp")]
    assert leftovers == []


def test_a_temporary_file_left_by_a_killed_save_is_swept_by_the_next_save(tmp_path):
    from studio.data import store

    info = store.create_dataset("Rules", records(3))
    versions = Path(os.environ["STUDIO_HOME"]) / "datasets" / info.id / "versions"
    stale = versions / ".0002.json.abc123.tmp"  # what atomic.write_bytes leaves when killed mid-write
    stale.write_bytes(b"\0" * 100_000)
    half = Path(os.environ["STUDIO_HOME"]) / "datasets" / ".new-other.xyz"
    half.mkdir()
    store.save_version(info.id, records(4), base_version=1)
    store.create_dataset("Other", records(1))
    assert not stale.exists() and not half.exists()
    assert {d.name for d in store.list_datasets()} == {"Other", "Rules"}


def test_training_on_a_full_disk_marks_the_run_failed_with_disk_full(small_disk):
    small_disk(3 * 1024)  # room for the run's files, not for its checkpoint
    line = one_error_line(studio("train", "--dataset", str(REPO / "data" / "soccer_rules.json"), "--base", "scratch",
                                 "--epochs", "1"))
    assert line.startswith("error: disk full:")
    (run,) = (Path(os.environ["STUDIO_HOME"]) / "runs").iterdir()
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "failed" and status["error"].startswith("disk full:")
    assert not [c for c in run.rglob("checkpoint-*") if not (c / "trainer_state.json").exists()]  # none cut off
    listed = studio("runs")
    assert listed.returncode == 0 and "failed" in listed.stdout


def test_a_read_only_workspace_lists_and_refuses_writes_in_one_line(small_disk, tmp_path):
    disk = small_disk(2048)
    from studio.data import store

    src = tmp_path / "rules.json"
    src.write_text(json.dumps(records(5)))
    store.create_dataset("Rules", records(5))
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    listed = studio("dataset", "list")
    assert listed.returncode == 0 and "Rules" in listed.stdout, listed.stderr
    for args in (("runs",), ("model", "list")):
        out = studio(*args)
        assert "Traceback" not in out.stderr and out.returncode in (0, 2), out.stderr
        if out.returncode == 2:
            assert "read-only" in one_error_line(out)
    line = one_error_line(studio("dataset", "import", str(src), "--out", str(disk / "again.json")))
    assert "read-only" in line
    with pytest.raises(DiskError, match="read-only.*STUDIO_HOME"):
        store.create_dataset("Again", records(2))


def test_a_merge_on_a_full_disk_leaves_no_merged_model_and_the_page_still_offers_merge(small_disk, tiny_llama):
    """The run's disk fills during the merge: one line, no merged/ (not even its configs), no temporary
    folder; the Train page does not say "Merged" and still offers Merge, which works once there is room."""
    from streamlit.testing.v1 import AppTest

    from studio.train import config as train_config
    from studio.train import loop as train
    from studio.train import runs

    disk = small_disk(16 * 1024)
    cfg = train_config.TrainConfig(base=str(tiny_llama), method="lora", epochs=1, test_fraction=0.0, batch_size=4,
                                   max_length=64, lora_r=4, lora_alpha=8)
    faq = [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball."} for i in range(8)]
    run = runs.run_dir(runs.new_run_id("lora"))
    train.run_job(cfg, faq, run, dataset={"name": "faq"}, name="lora run")
    filler = fill(disk, leave_kb=24)  # room for the configs and the tokenizer, not for the weights
    line = one_error_line(studio("merge", run.name))
    assert line.startswith("error: disk full:")
    assert sorted(p.name for p in run.iterdir() if "merg" in p.name) == []
    filler.unlink()  # (the page refuses a workspace on a full disk outright)
    at = AppTest.from_file(str(REPO / "pages" / "3_Train.py"), default_timeout=60)
    at.session_state["train.run_id"] = run.name
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("Merged into a full model" in c.value for c in at.caption)
    at.button(key="train.merge").click().run()  # still offered, and it works now that there is room
    task = at.session_state["train.merge_task"]
    task.join(120)
    at.run()
    assert task.error is None and (run / "merged" / "model.safetensors").is_file()
    assert any("Merged into a full model" in c.value for c in at.caption)
