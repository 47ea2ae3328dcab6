"""The public app's size limits read a running total (``studio.cloud.usage``): a save no longer walks every file of
the workspace (0.3 s at 10,000 files), and the limit still refuses, in one line, whatever would pass it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from studio import atomic, config
from studio.cloud import usage, workspaces
from studio.errors import WorkspaceFullError

REPO = Path(__file__).resolve().parents[2]
MB = 1_000_000


@pytest.fixture
def public(monkeypatch):
    """Saves go through the public app's own check (``studio.ui.cloud._check_room``), with a 1 MB workspace limit."""
    from studio.ui import cloud, cloud_settings

    settings = {"workspace_mb": 1, "anonymous_workspace_mb": 1, "workspaces_total_mb": 1000}
    monkeypatch.setattr(cloud_settings, "studio_setting", lambda name, default: settings.get(name, default))
    monkeypatch.setattr(cloud, "_in_use", lambda: set())
    config.set_tenancy(True, lambda: None, cloud._check_room, cloud._limit_of, cloud._fits, workspaces.count_made)
    return settings


def _workspace(name: str, files: int, each: int = 10) -> Path:
    ws = workspaces.root() / name
    for n in range(files):
        folder = ws / "datasets" / f"d{n // 100}" / "versions"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{n:05d}.json").write_bytes(b"x" * each)
    return ws


def _fill(nbytes: float, each: int) -> int:
    """How many files of ``each`` bytes take ``nbytes`` of the disk, as the limits count them (``usage.on_disk``)."""
    return int(nbytes) // usage.on_disk(each)


def _save(ws: Path, rel: str, nbytes: int) -> None:
    with config.use_workspace(ws):
        atomic.write_bytes(ws / rel, b"y" * nbytes)


class _Looked:
    """Counts the files under ``root`` that the block looks at (``os.lstat``, which a walk of the files calls on
    each): what a save costs, whatever the machine's speed."""

    def __init__(self, root: Path):
        self.root, self.count, self._real = str(root), 0, os.lstat

    def __enter__(self) -> _Looked:
        def counting(path, *args, **kwargs):
            if str(path).startswith(self.root):
                self.count += 1
            return self._real(path, *args, **kwargs)

        os.lstat = counting
        return self

    def __exit__(self, *exc: object) -> None:
        os.lstat = self._real


def _walked_by_a_save(ws: Path, n: int) -> int:
    with _Looked(ws) as looked:
        _save(ws, f"datasets/new/versions/{n:04d}.json", 100)
    return looked.count


def test_a_save_walks_no_more_files_in_a_big_workspace_than_in_a_small_one(public):
    public["workspace_mb"] = 100  # room for 3,000 files in whole blocks: what is counted is how many a save looks at
    small = _workspace("u-" + "1" * 32, 20)
    big = _workspace("u-" + "2" * 32, 3000)
    _save(small, "datasets/first.json", 10)  # a server's first save there measures it once (a restart)
    _save(big, "datasets/first.json", 10)
    small_walks = [_walked_by_a_save(small, n) for n in range(3)]
    big_walks = [_walked_by_a_save(big, n) for n in range(3)]
    assert big_walks == small_walks and max(big_walks) <= 5, (small_walks, big_walks)


def test_the_limit_still_refuses_in_one_line_and_keeps_what_was_there(public):
    ws = _workspace("a-" + "3" * 32, _fill(0.9 * MB, 10_000), each=10_000)  # 0.9 MB of a 1 MB limit
    _save(ws, "datasets/faq.json", 50_000)
    with pytest.raises(WorkspaceFullError) as caught:
        _save(ws, "datasets/faq.json", 200_000)  # replacing it would pass the limit
    needs = usage.readable_size(usage.on_disk(200_000) - usage.on_disk(50_000))
    assert str(caught.value).startswith(f"Not saved: it needs {needs}") and "\n" not in str(caught.value)
    assert (ws / "datasets" / "faq.json").read_bytes() == b"y" * 50_000
    assert usage.measure(ws) <= MB


def test_room_freed_behind_the_total_s_back_is_found_when_a_save_needs_it(public):
    """A deleted dataset (or an emptied trash) leaves the running total too high: a save it would refuse measures
    the workspace first, so the visitor gets the room they freed."""
    import shutil

    ws = _workspace("u-" + "4" * 32, _fill(0.9 * MB, 10_000), each=10_000)
    _save(ws, "datasets/first.json", 10)
    shutil.rmtree(ws / "datasets" / "d0")  # 900 KB gone, not through a checked save
    _save(ws, "datasets/big.json", 800_000)
    assert (ws / "datasets" / "big.json").stat().st_size == 800_000


def test_files_made_while_the_server_was_down_count_after_a_restart(public):
    ws = _workspace("u-" + "5" * 32, 10, each=10_000)
    _save(ws, "datasets/first.json", 10)  # the total is 100 KB
    (ws / "datasets" / "copied-in.bin").write_bytes(b"z" * 800_000)  # while no server ran
    usage._trusted.clear()  # a new process: it trusts no total it did not take
    with pytest.raises(WorkspaceFullError):
        _save(ws, "datasets/more.json", 200_000)


def test_what_a_job_s_process_saves_counts_against_the_page_s_next_save(public):
    """An evaluation saves from a process of its own: the page's next save sees what it added."""
    ws = _workspace("a-" + "6" * 32, 1)
    _save(ws, "datasets/first.json", 10)  # this process now holds a total of the workspace
    code = ("import sys; from pathlib import Path; from studio import atomic, config; from studio.cloud import workspaces;"
            "ws = Path(sys.argv[1]); config.check_writes(workspaces.job_check(ws, 1_000_000));"
            "atomic.write_bytes(ws / 'evals' / 'e.json', b'r' * 700_000)")
    subprocess.run([sys.executable, "-c", code, str(ws)], check=True, cwd=REPO, timeout=120,
                   env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "STUDIO_HOME": str(ws)})
    with pytest.raises(WorkspaceFullError):
        _save(ws, "datasets/more.json", 400_000)
    assert not (ws / "datasets" / "more.json").exists()


def test_a_job_s_log_counts_too(public):
    ws = _workspace("a-" + "7" * 32, 1)
    _save(ws, "datasets/first.json", 10)
    (ws / "jobs" / "eval-e").mkdir(parents=True)
    (ws / "jobs" / "eval-e" / "log").write_bytes(b"l" * 700_000)  # what the job printed
    with pytest.raises(WorkspaceFullError):
        _save(ws, "datasets/more.json", 400_000)


def test_work_moved_in_at_sign_in_counts_against_the_signed_in_workspace(public):
    anon = _workspace("a-" + "8" * 32, 0)
    kept = _workspace("u-" + "9" * 32, 1)
    _save(kept, "datasets/first.json", 10)
    _save(anon, "datasets/work/versions/0001.json", 700_000)
    workspaces.merge_into(anon, kept)
    with pytest.raises(WorkspaceFullError):
        _save(kept, "datasets/more.json", 400_000)


def test_the_anonymous_workspace_gone_after_a_sign_in_leaves_the_server_s_total(public):
    """A sign-in moves the tab's work into the kept workspace and removes the anonymous one: its blocks stayed
    counted in every workspace's total, the server reading fuller than its disk until a save walked it."""
    from studio.ui import cloud

    anon = _workspace("a-" + "b" * 32, 0)
    kept = _workspace("u-" + "c" * 32, 1)
    _save(kept, "datasets/first.json", 10)
    _save(anon, "datasets/left/versions/0001.json", 300_000)
    _save(anon, "chat.json", 50_000)
    root = workspaces.root()
    disk_before, total_before = usage.measure(root), usage.kept(root)
    # the anonymous workspace's first save made its folder: counted twice, the total read a block over the disk
    assert total_before == disk_before and usage.kept(anon) == usage.measure(anon)
    cloud.move_in(anon, kept)
    assert not anon.exists()
    assert total_before - usage.kept(root) == disk_before - usage.measure(root)  # fell by what the disk freed


def test_two_saves_at_once_cannot_both_take_the_last_room(public):
    ws = _workspace("u-" + "a" * 32, 1)
    _save(ws, "datasets/first.json", 10)
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def save(name: str) -> None:
        start.wait()
        try:
            _save(ws, f"datasets/{name}.json", 600_000)
            outcomes.append("saved")
        except WorkspaceFullError:
            outcomes.append("refused")

    threads = [threading.Thread(target=save, args=(n,)) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["refused", "saved"]
    assert usage.measure(ws) <= MB


def test_the_server_s_total_is_kept_the_same_way(public):
    public.update(workspaces_total_mb=2, workspace_mb=5)
    one = _workspace("u-" + "b" * 32, 1)
    two = _workspace("u-" + "c" * 32, 1)
    _save(one, "datasets/first.json", 900_000)
    _save(two, "datasets/first.json", 900_000)
    with pytest.raises(WorkspaceFullError) as caught:
        _save(two, "datasets/more.json", 300_000)
    assert str(caught.value).startswith("Not saved: this server is full")
    (one / "datasets" / "first.json").unlink()  # a delete: room comes back, found by measuring past the stale total
    _save(two, "datasets/more.json", 300_000)
    with _Looked(one.parent) as looked:
        _save(two, "datasets/small.json", 10)
    assert looked.count <= 5


def test_a_job_s_log_that_grows_after_the_server_s_total_was_taken_counts_against_it(public):
    """The server's total took jobs' logs in only when it walked every file: a log growing between walks (a job
    printing on and on) was not in it, and other visitors' saves could take the disk past the server's limit."""
    public.update(workspaces_total_mb=2, workspace_mb=5)
    one = _workspace("u-" + "d" * 32, 1)
    two = _workspace("u-" + "e" * 32, 1)
    (one / "jobs" / "eval-e").mkdir(parents=True)
    (one / "jobs" / "eval-e" / "log").write_bytes(b"starting\n")
    _save(one, "datasets/first.json", 900_000)
    _save(two, "datasets/first.json", 500_000)
    (one / "jobs" / "eval-e" / "log").write_bytes(b"l" * 700_000)  # what the job printed since
    with pytest.raises(WorkspaceFullError) as caught:
        _save(two, "datasets/more.json", 100_000)
    assert str(caught.value).startswith("Not saved: this server is full")
    assert not (two / "datasets" / "more.json").exists()


def test_a_job_s_first_measure_while_a_page_s_save_is_being_written_keeps_that_save_counted(public):
    """A job process measured the workspace while a page's save was counted but not yet on disk, and saved its walk as
    the total: the page's save dropped out of it, and a later save passed the limit."""
    ws = _workspace("a-" + "d" * 32, 1)
    _save(ws, "datasets/first.json", 10)
    written = workspaces.check_room(ws, MB, 600_000)  # the page's save: counted, still being written
    code = ("import sys; from pathlib import Path; from studio import atomic, config; from studio.cloud import workspaces;"
            "ws = Path(sys.argv[1]); config.check_writes(workspaces.job_check(ws, 1_000_000));"
            "atomic.write_bytes(ws / 'evals' / 'e.json', b'r' * 300_000)")
    subprocess.run([sys.executable, "-c", code, str(ws)], check=True, cwd=REPO, timeout=120,
                   env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "STUDIO_HOME": str(ws)})
    (ws / "datasets" / "page.json").write_bytes(b"p" * 600_000)
    written()
    with pytest.raises(WorkspaceFullError):
        _save(ws, "datasets/more.json", 200_000)
    assert usage.measure(ws) <= MB


def test_a_save_of_a_process_that_is_gone_no_longer_counts(public):
    ws = _workspace("a-" + "e" * 32, 1)
    _save(ws, "datasets/first.json", 10)
    code = ("import sys; from pathlib import Path; from studio.cloud import workspaces;"
            "workspaces.check_room(Path(sys.argv[1]), 1_000_000, 700_000)")  # counted, then the process died
    subprocess.run([sys.executable, "-c", code, str(ws)], check=True, cwd=REPO, timeout=120,
                   env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "STUDIO_HOME": str(ws)})
    _save(ws, "datasets/more.json", 600_000)  # the room it took comes back at the next measure
    assert (ws / "datasets" / "more.json").exists()


def test_small_files_cannot_take_more_of_the_disk_than_the_limit(public):
    """The limit counted what the files hold while the disk keeps each file and folder in whole 4 KiB blocks: 300
    one-record datasets counted 91 KB of a 0.5 MB limit and took 6 MB of the disk. What the disk holds of the
    workspace now stays within its limit, and the save past it is refused in one line."""
    from studio.data import store

    public["anonymous_workspace_mb"] = 0.5
    ws = workspaces.root() / ("a-" + "b" * 32)
    ws.mkdir(parents=True)
    made = 0
    with config.use_workspace(ws), pytest.raises(WorkspaceFullError) as caught:
        while made < 300:
            store.create_dataset(f"d{made}", [{"question": "q?", "answer": "a"}])
            made += 1
    assert made < 300 and "\n" not in str(caught.value)
    on_disk = sum(os.lstat(os.path.join(d, name)).st_blocks * 512
                  for d, dirs, files in os.walk(ws) for name in (*dirs, *files))
    assert on_disk <= 0.5 * MB, (made, on_disk)


def test_empty_files_such_as_a_workspace_s_locks_count_nothing_as_the_disk_holds_nothing_for_them(public):
    """An empty file counted a 4 KiB block against the limit, and took none on disk: every dataset's lock, the
    workspace's size lock and the creation lock made a visitor's count larger than ``du`` sees it."""
    from studio.data import store

    ws = workspaces.root() / ("a-" + "c" * 32)
    ws.mkdir(parents=True)
    with config.use_workspace(ws):
        for n in range(3):
            ds = store.create_dataset(f"d{n}", [{"question": "q?", "answer": "a"}])
            store.save_version(ds.id, [{"question": "q?", "answer": "b"}], base_version=1)
    empty = [p for p in ws.rglob("*") if p.is_file() and p.stat().st_size == 0]
    assert len(empty) >= 4  # the locks
    on_disk = sum(os.lstat(os.path.join(d, name)).st_blocks * 512
                  for d, dirs, files in os.walk(ws) for name in (*dirs, *files))
    assert usage.measure(ws) == on_disk
    assert usage.on_disk(0) == 0 and usage.on_disk(1) == usage.BLOCK


def test_a_job_is_not_started_where_its_own_files_would_pass_the_limit(public):
    """A job's status, log and registry entry were written outside any check: a workspace a few KB short of its limit
    started the job and went past the limit by its files (measured only at the next save)."""
    from studio import jobs

    ws = _workspace("a-" + "d" * 32, 1)
    _save(ws, "datasets/first.json", 10)
    fill = (MB - usage.measure(ws) - 2 * usage.BLOCK) // usage.BLOCK * usage.BLOCK  # 2-3 blocks left
    _save(ws, "datasets/fill.json", fill)
    assert MB - usage.measure(ws) < 4 * usage.BLOCK  # the job's folder, status, log and registry entry take more
    with config.use_workspace(ws), pytest.raises(WorkspaceFullError) as caught:
        jobs.start_job("evaluate", ["--help"], config.jobs_dir() / "eval-x")
    assert str(caught.value).startswith("Not started: it needs") and "\n" not in str(caught.value)
    assert usage.measure(ws) <= MB and not (ws / "jobs" / "eval-x").exists()


def test_folders_made_outside_a_checked_save_are_counted_at_once_not_at_the_next_full_measure(public):
    """The trash a delete makes, the folders a save needs (``config``'s) and those a restore keeps for a dataset held
    back were written outside any check: the kept total missed them until a save it would refuse measured the
    workspace again."""
    from studio.cloud import restore
    from studio.data import store

    ws = workspaces.root() / ("a-" + "e" * 32)
    ws.mkdir(parents=True)
    with config.use_workspace(ws):
        first = store.create_dataset("first", [{"question": "q?", "answer": "a"}])
        store.create_dataset("second", [{"question": "q?", "answer": "a"}])
        gap = usage.measure(ws) - usage._read(ws)[0]
        assert gap == 0  # the kept total counts all the workspace holds, its own record too
        store.delete_dataset(first.id)  # the trash is made
        assert (ws / "trash").is_dir() and usage.measure(ws) - usage._read(ws)[0] == gap
        config.evals_dir()  # a folder a save needs, made before it
        assert (ws / "evals").is_dir() and usage.measure(ws) - usage._read(ws)[0] == gap
    restore._keep_name(ws, "datasets/held-back")  # a dataset a restore held back keeps its name
    assert (ws / "datasets" / "held-back").is_dir() and usage.measure(ws) - usage._read(ws)[0] == gap


def test_a_workspace_s_kept_total_counts_its_own_record_so_a_save_cannot_pass_the_limit_by_it(public):
    """The first measure of a workspace walked it before writing the record that keeps its total (``.usage.json``, a
    block): every later check counted a block less than the disk held, so a workspace one block short of its limit
    took a two-block save (an evaluation's queued record read '0 KB left of its 86 KB limit (90 KB used)' next)."""
    from studio.data import store

    ws = workspaces.root() / ("a-" + "f" * 32)
    ws.mkdir(parents=True)
    with config.use_workspace(ws):
        store.create_dataset("first", [{"question": "q?", "answer": "a"}])
    assert usage._read(ws)[0] == usage.measure(ws)
    limit = usage.measure(ws) + usage.BLOCK
    public["anonymous_workspace_mb"] = limit / MB
    with pytest.raises(WorkspaceFullError) as caught:
        _save(ws, "datasets/two.json", usage.BLOCK + 1)  # two blocks: past the limit by one
    assert "0 KB left" not in str(caught.value) and "\n" not in str(caught.value)
    _save(ws, "datasets/one.json", usage.BLOCK)  # one block: the room there is
    assert usage.measure(ws) <= limit


def test_a_training_refused_for_room_says_not_started_and_leaves_no_run_folder(public):
    """As an evaluation refused for room left its empty job folder in the workspace for good: a training refused
    because its job's own files would not fit says 'Not started: …' in one line and leaves no run behind."""
    from studio.data import store
    from studio.data.ref import DatasetRef
    from studio.train import job, runs
    from studio.train.config import preset

    ws = workspaces.root() / ("a-" + "9" * 32)
    ws.mkdir(parents=True)
    with config.use_workspace(ws):
        ds = store.create_dataset("faq", [{"question": "q?", "answer": "a"}, {"question": "r?", "answer": "b"}])
        config.runs_dir()
        public["anonymous_workspace_mb"] = (usage.measure(ws) + usage.BLOCK) / MB  # less than a job's files
        with pytest.raises(WorkspaceFullError) as caught:
            job.start_training(preset("quick"), DatasetRef(id=ds.id, name="faq", version=1, count=2))
        assert str(caught.value).startswith("Not started: it needs") and "\n" not in str(caught.value)
        assert runs.count_runs() == 0 and list(config.runs_dir().iterdir()) == []
    assert usage.measure(ws) <= public["anonymous_workspace_mb"] * MB


def test_a_workspace_with_jobs_counts_the_jobs_folder_itself_so_a_save_cannot_pass_the_limit_by_it(public):
    """A full measure left the ``jobs/`` folder's own block out (its files were measured apart, the folder in neither
    count): a workspace that ran an evaluation took a two-block save one block short of its limit, past it."""
    ws = _workspace("a-" + "j" * 32, 1)
    (ws / "jobs" / "eval-e").mkdir(parents=True)
    (ws / "jobs" / "eval-e" / "log").write_bytes(b"done\n")
    _save(ws, "datasets/first.json", 10)
    with usage.held(ws) as tally:
        tally.measure()
        assert tally.used == usage.measure(ws)  # what the disk holds, the jobs folder too
    limit = usage.measure(ws) + usage.BLOCK
    public["anonymous_workspace_mb"] = limit / MB
    with pytest.raises(WorkspaceFullError):
        _save(ws, "datasets/two.json", usage.BLOCK + 1)  # two blocks: past the limit by one
    assert usage.measure(ws) <= limit


def test_the_server_s_total_counts_every_new_workspace_s_folder_and_size_record_at_once(public):
    """Every new workspace's folder (a block) and the record of its own total (a block) were missing from the total of
    every workspace together until a save it would refuse walked the server again: a script opening the app again and
    again without cookies (a new workspace each time) took the server past its limit by two blocks a visit."""
    first = workspaces.root() / ("a-" + "k" * 32)
    workspaces.touch(first)  # as the page does for a new visitor
    _save(first, "datasets/first.json", 10)
    base = workspaces.root()
    assert usage._read(base)[0] == usage.measure(base)
    for n in range(3):
        ws = base / (f"a-{n}" + "l" * 31)
        workspaces.touch(ws)
        _save(ws, "datasets/first.json", 10)
        assert usage._read(base)[0] == usage.measure(base), n  # what the server's disk holds, kept as it grows


def test_folders_a_job_s_process_makes_count_against_its_workspace_and_the_server(public):
    """A job's process (an evaluation, a training, an import) saved through the size check, but the folders it made
    outside a save (those ``config`` makes where a save needs them, a library's checkpoint folders) were counted
    nowhere until a save walked the workspace again: a job could leave it past its limit."""
    ws = workspaces.root() / ("a-" + "m" * 32)
    workspaces.touch(ws)
    _save(ws, "datasets/first.json", 10)  # the server's totals are kept from here on
    code = ("import sys; from pathlib import Path; from studio import atomic, config; from studio.__main__ import "
            "_job_limit\n"
            "with _job_limit():\n"
            "    atomic.write_bytes(config.evals_dir() / 'first.json', b'r' * 10)\n"  # its first save: totals taken
            "    config.runs_dir()\n"  # a folder a save needs, made by config
            "    (config.runs_dir() / 'r' / 'checkpoint-1').mkdir(parents=True)\n"  # made by a library
            "    (config.runs_dir() / 'r' / 'checkpoint-1' / 'w.bin').write_bytes(b'w' * 9000)\n"
            "    atomic.write_bytes(config.evals_dir() / 'e.json', b'r' * 10)\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120,
                   env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "STUDIO_HOME": str(ws),
                        config.LIMIT_VAR: str(MB), config.TOTAL_VAR: str(1000 * MB)})
    assert (ws / "runs" / "r" / "checkpoint-1" / "w.bin").exists() and (ws / "evals" / "e.json").exists()
    assert usage._read(ws)[0] == usage.measure(ws)
    assert usage._read(workspaces.root())[0] == usage.measure(workspaces.root())


def test_the_jobs_folder_made_for_a_job_counts_once(public):
    """``jobs/`` is measured at every check, its own block too: counted as a folder made outside a save as well, it
    counted twice, so the kept total read a block more than the disk held, and a save near the limit had to walk the
    workspace to find the block it had."""
    ws = workspaces.root() / ("a-" + "n" * 32)
    workspaces.touch(ws)
    _save(ws, "datasets/first.json", 10)
    with config.use_workspace(ws):
        config.jobs_dir()  # made for a job's files (the page's start of an evaluation)
    with usage.held(ws) as tally:
        assert tally.used == usage.measure(ws)  # what the disk holds, jobs/ once


def test_a_new_workspace_s_sample_marker_counts_so_its_total_is_what_the_disk_holds(public):
    """The marker that remembers the sample was added (so a deleted sample does not come back) was written outside the
    size check: every new workspace's kept total, and every workspace's together, read a block less than the disk held
    until the next walk."""
    from studio.data import sample

    ws = workspaces.root() / ("a-" + "p" * 32)
    workspaces.touch(ws)
    other = workspaces.root() / ("a-" + "q" * 32)
    workspaces.touch(other)
    _save(other, "datasets/other.json", 10)  # the server's total is kept already
    with config.use_workspace(ws):
        assert sample.ensure_sample()  # a new visitor's first page
    assert (ws / ".sample-added").exists()
    assert usage._read(ws)[0] == usage.measure(ws)
    assert usage._read(workspaces.root())[0] == usage.measure(workspaces.root())


def _server_total_is_the_disk() -> bool:
    with usage.held(workspaces.root(), jobs=usage.EACH) as tally:
        return tally.used == usage.measure(workspaces.root())


def _idle_anonymous_with_a_job(name: str) -> Path:
    ws = workspaces.root() / name
    workspaces.touch(ws)
    _save(ws, "datasets/d.json", 5000)
    (ws / "jobs").mkdir()
    (ws / "jobs" / "job.log").write_bytes(b"l" * 9000)  # a job's log, written outside any check
    os.utime(ws / workspaces.SEEN, (1, 1))  # nobody opened it for decades
    return ws


def test_removing_a_workspace_takes_what_it_held_off_the_server_s_total(public):
    """Removing a workspace (to make room, an idle one, Clear this workspace) took off what lay in it alone, its jobs/
    too: every workspace's total read a block a workspace less than the disk held, and a job's files less still."""
    keep = workspaces.root() / ("u-" + "k" * 32)
    workspaces.touch(keep)
    _save(keep, "datasets/k.json", 100)
    idle = _idle_anonymous_with_a_job("a-" + "i" * 32)
    assert _server_total_is_the_disk()
    workspaces.clean_idle(max_idle_hours=1)
    assert not idle.exists() and _server_total_is_the_disk()

    idle = _idle_anonymous_with_a_job("a-" + "j" * 32)
    with usage.held(workspaces.root(), jobs=usage.EACH) as tally:
        total = tally.used
    held_there = usage.BLOCK + usage.measure(idle)
    # exactly what is left once the idle workspace goes: the check counts it all as free, and so does its removal
    workspaces.fits_on_server(keep, 100, total - held_there + 100, set())
    removed, written = workspaces.make_room_on_server(keep, 100, total - held_there + 100, set())
    written()
    assert removed == [idle] and not idle.exists()
    with usage.held(workspaces.root(), jobs=usage.EACH) as tally:
        assert tally.used == usage.measure(workspaces.root()) + 100  # the 100 bytes counted, not written here


@pytest.mark.parametrize("entry", ["cloud", "."])
def test_a_visitor_who_only_looks_at_every_page_gets_only_the_sample_in_their_workspace(entry, studio_home):
    """A new visitor who opened every page, changed nothing, got empty evals/, jobs/, models/ and runs/ folders (a
    listing made the folder it read) and the Chat and Evaluate pages' kept settings at their defaults: six blocks of
    their size limit beyond the sample, for nothing they did. A local install got them too."""
    from tests.test_tenancy import PAGES, visit

    at = visit(entry=entry)
    for page in PAGES[1:]:
        visit(page, entry=entry, at=at)
        at.run()  # a second run of the page, as its fragments and reruns make
    folder = Path(at.session_state["workspace.path"]) if entry == "cloud" else studio_home
    made = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if folder / "datasets" not in p.parents)
    own = [".last-seen", ".usage.json", ".usage.lock"] if entry == "cloud" else []  # the app's own records
    assert made == sorted([*own, ".sample-added", "datasets"])


def test_two_saves_at_once_into_a_folder_not_made_yet_count_its_block_once(public, monkeypatch):
    """Each save reckoned what it adds before it took the workspace's total: two at once into a new folder both
    counted its block (made once), and the workspace's total read more than its disk held until a save near the
    limit measured it again."""
    ws = _workspace("u-" + "f" * 32, 1)
    _save(ws, "datasets/first.json", 10)
    reckoned = threading.Barrier(2, timeout=5)  # each save waits here for the other's reckoning, where it can come
    real = workspaces.replacing

    def replacing(path, nbytes):
        adding = real(path, nbytes)
        with contextlib.suppress(threading.BrokenBarrierError):  # the other waits for this one's total: it cannot
            reckoned.wait()
        return adding

    monkeypatch.setattr(workspaces, "replacing", replacing)
    threads = [threading.Thread(target=_save, args=(ws, f"datasets/new/{n}.json", 100)) for n in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.name for p in (ws / "datasets" / "new").iterdir()) == ["one.json", "two.json"]
    assert usage.kept(ws) == usage.measure(ws)  # the block of datasets/new counted once, as the disk holds it
    assert usage._read(workspaces.root())[0] == usage.measure(workspaces.root())  # in every workspace's total too


def test_a_workspace_that_holds_an_evaluation_gets_no_jobs_runs_or_models_folder_from_its_pages():
    """A workspace whose evaluation came back from the store (its ``evals/`` file, no ``jobs/`` folder) got an empty
    ``jobs/`` folder from the Evaluate page's list, which read each evaluation's job status through a path helper that
    made the folder it named; a block of the visitor's limit for nothing they did. Every page is opened, then run
    again, and no folder is made."""
    from studio.data import store
    from studio.evaluate import results
    from tests.test_tenancy import PAGES, visit, workspace_of

    at = visit()
    ws = workspace_of(at)
    with config.use_workspace(ws):
        ds = store.create_dataset("Mine", [{"question": "q?", "answer": "a"}])
        results.save({"id": "restored-eval", "status": "done", "dataset": {"id": ds.id, "name": ds.name},
                      "models": [{"spec": "api:openai/gpt-oss-20b", "label": "gpt-oss"}],
                      "created": "2026-12-04T10:00:00+00:00"})
    before = sorted(p.name for p in ws.iterdir())
    for page in PAGES:
        visit(page, at=at)
        at.run()
    made = sorted(p.name for p in ws.iterdir())
    assert made == before and not {"jobs", "runs", "models"} & set(made), made


def test_an_evaluation_refused_for_room_is_refused_before_it_makes_or_writes_anything(public, tmp_path):
    """The start of an evaluation saved its queued result and made the ``jobs/`` folder before it asked whether the
    job's files fit: a workspace with room for the result alone took both (``jobs/`` a block past its limit, counted
    and never refused), then was refused, and kept the empty ``jobs/`` folder for good. Now the room for all of it is
    asked first: refused in one line, with nothing made or written."""
    import json

    from studio.evaluate import job as eval_jobs
    from studio.evaluate.config import EvalConfig
    from studio.evaluate.runner import new_result

    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": "How long is a match?", "answer": "90 minutes."}]))
    cfg = EvalConfig(models=("api:m",), dataset_file=str(data), api_base_url="http://127.0.0.1:9/v1")
    ws = _workspace("a-" + "e" * 32, 1)
    _save(ws, "datasets/first.json", 10)
    result_bytes = len(json.dumps(new_result(cfg).to_json(), indent=1).encode())
    limit = usage.measure(ws) + usage.on_disk(result_bytes) + usage.BLOCK  # the result and its evals/ folder, no more
    public["anonymous_workspace_mb"] = limit / MB
    before = sorted(p.relative_to(ws) for p in ws.rglob("*") if not p.name.startswith(".usage"))
    with config.use_workspace(ws), pytest.raises(WorkspaceFullError) as caught:
        eval_jobs.start_evaluation(cfg)
    assert str(caught.value).startswith("Not started: it needs") and "\n" not in str(caught.value)
    assert sorted(p.relative_to(ws) for p in ws.rglob("*") if not p.name.startswith(".usage")) == before
    assert usage.measure(ws) <= limit
