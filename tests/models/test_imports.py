"""GGUF imports as job processes (progress, a memory ceiling, uploads removed when done) and the space a
killed import leaves, reclaimed without touching an import still in progress."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gguf_files import write_tiny_llama_gguf

from studio import config, jobs
from studio.models import imports, library

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gguf") / "Tiny.gguf"
    write_tiny_llama_gguf(path)
    return path


def wait(workdir: Path, seen: list | None = None, timeout: float = 240) -> jobs.JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = jobs.read_status(workdir)
        if seen is not None:
            seen.append(status)
        if not status.active:
            return status
        time.sleep(0.1)
    raise AssertionError(jobs.tail_log(workdir))


def test_an_import_job_reports_progress_and_lands_in_the_library(tiny_file, offline):
    workdir = imports.start_import(tiny_file, "tiny", "float32")
    seen: list[jobs.JobStatus] = []
    final = wait(workdir, seen)
    assert final.state == "finished", final.error
    assert final.progress == 1.0 and final.message.endswith("-> model:tiny")
    assert any(s.state == "running" for s in seen)
    progress = [s.progress for s in seen]
    assert progress == sorted(progress)  # it only moves forward
    assert [e.spec for e in library.workspace_models()] == ["model:tiny"]
    assert [p.name for p in config.models_dir().iterdir()] == ["tiny"]


def test_a_second_import_of_the_same_name_started_at_once_is_refused(tiny_file, offline):
    """Two clicks (or two visitors) in the second before the first import's process wrote its name both started,
    and the second overwrote or failed against the first's model."""
    from studio.errors import StudioError

    first = imports.start_import(tiny_file, "tiny", "float32")
    with pytest.raises(StudioError, match="'tiny' is being imported already: wait for it to finish"):
        imports.start_import(tiny_file, "tiny", "float32")
    assert wait(first).state == "finished"
    assert len(list(config.jobs_dir().glob("import-*"))) == 1


def test_an_uploaded_copy_is_removed_when_its_import_job_ends(tiny_file, offline):
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=".upload-", dir=config.models_dir()))
    library.claim(folder)
    shutil.copy(tiny_file, folder / "up.gguf")
    final = wait(imports.start_import(folder / "up.gguf", "", "bfloat16", upload=folder))
    assert final.state == "finished", final.error
    assert sorted(p.name for p in config.models_dir().iterdir()) == ["up"]


def test_an_import_past_its_memory_ceiling_fails_in_one_line_and_keeps_nothing(tiny_file, tmp_path):
    """A 100 MB budget is less than dequantizing and rebuilding takes: the process's own ceiling stops it."""
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "studio", "model", "import", str(tiny_file), "--name", "capped",
                          "--memory-budget", "100"], capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    errors = [line for line in out.stderr.splitlines() if not line.startswith(("checking", "dequantizing"))]
    assert out.returncode == 2 and errors == [errors[0]] and errors[0].startswith("error: Tiny.gguf needed more memory")
    assert "100 MB" in errors[0] and list((tmp_path / "home" / "models").iterdir()) == []


def test_the_memory_budget_grows_with_the_model():
    small, large = imports.memory_budget(135_000_000, 98_000_000), imports.memory_budget(1_700_000_000, 1_000_000_000)
    assert 135_000_000 * 4 * 3 < small < large  # above what SmolLM2 took when measured (3 x its float32 weights)


def test_the_time_left_is_extrapolated_from_the_measured_rate(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    eta = imports.Eta()
    assert eta.update(0.02) is None  # nothing measured yet
    clock[0] = 110.0
    assert eta.update(0.22) == pytest.approx(10 * 0.78 / 0.2)


# --- space from killed imports ------------------------------------------------------------------------

def _partial(name: str, owner_pid: int | None, age_s: float = 0) -> Path:
    folder = config.models_dir() / name
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\0" * 4096)
    if owner_pid is not None:
        library.claim(folder, owner_pid)
    if age_s:
        old = time.time() - age_s
        os.utime(folder, (old, old))
    return folder


def test_a_killed_imports_folders_are_reclaimed_and_one_in_progress_is_kept():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    killed = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = _partial(".import-live-1", sleeper.pid)
        dead = _partial(".import-dead-1", killed.pid)
        upload = _partial(".upload-dead", killed.pid)
        starting = _partial(".upload-starting", None)  # created a moment ago, its owner not written yet
        stale = _partial(".import-stale-1", None, age_s=3600)
        killed.kill()
        killed.wait()
        library.list_models(include_hub_cache=False)  # listing the library reclaims the space
        assert live.is_dir() and starting.is_dir()
        assert not dead.exists() and not upload.exists() and not stale.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert library.clean_partial_imports() == 1 and not live.exists()


def test_an_upload_removed_by_its_ended_job_is_not_made_again_by_a_late_claim():
    """The page claims an upload for its import job once the job has started; a job that has ended by then (a tiny
    file, a page slowed by a busy machine) has removed the copy, and writing the mark made the folder again: an
    empty ``.upload-*`` left in the library folder."""
    folder = config.models_dir() / ".upload-ended"
    folder.mkdir(parents=True)
    library.claim(folder)
    shutil.rmtree(folder)  # what the job does when it ends
    library.claim(folder, os.getpid())
    assert not folder.exists()
    assert sorted(p.name for p in config.models_dir().iterdir()) == []


def test_a_folder_whose_pid_was_reused_by_another_process_is_reclaimed():
    folder = _partial(".import-reused-1", os.getpid())
    (folder / library.OWNER).write_text(f"{os.getpid()} 1", encoding="utf-8")  # same pid, another start time
    assert library.clean_partial_imports() == 1 and not folder.exists()


def test_an_import_reclaims_space_before_it_starts(tiny_file, offline):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = _partial(".import-old-1", dead.pid)
    library.import_gguf(tiny_file, "fresh")
    assert not folder.exists() and [p.name for p in config.models_dir().iterdir()] == ["fresh"]


def test_a_gguf_typed_where_a_model_is_picked_is_imported_in_its_own_process_once(tiny_file, offline):
    """Chat, passage, evaluation and training take a .gguf path: it is imported as the Models page does."""
    from studio.models import loading

    lines: list[str] = []
    ref = loading.materialize(loading.resolve(str(tiny_file)), progress=lines.append)
    assert Path(ref.source) == config.models_dir() / "Tiny" and (Path(ref.source) / "config.json").is_file()
    ran = [jobs.read_status(d) for d in config.jobs_dir().glob("import-*")]
    assert [s.state for s in ran] == ["finished"] and ran[0].pid not in (None, os.getpid())
    assert any(line.startswith("dequantizing Tiny.gguf") for line in lines)
    again = loading.materialize(loading.resolve(str(tiny_file)))  # the same file again: the same model
    assert again.source == ref.source and len(list(config.jobs_dir().glob("import-*"))) == 1


def test_a_picked_gguf_past_its_memory_ceiling_fails_in_one_line_and_keeps_nothing(tiny_file, offline, monkeypatch):
    from studio.errors import StudioError
    from studio.models import loading

    monkeypatch.setattr(imports, "memory_budget", lambda parameters, file_size: 100 * 2**20)
    with pytest.raises(StudioError) as err:
        loading.load_causal_lm(str(tiny_file))
    assert str(err.value).startswith("Tiny.gguf needed more memory than its ceiling") and "\n" not in str(err.value)
    assert [p for p in config.models_dir().iterdir() if not p.name.startswith(".")] == []


# --- an uploaded copy always goes ------------------------------------------------------------------------

def fake_python(tmp_path: Path, body: str) -> str:
    """A stand-in for the interpreter a job starts with: ``exit 0`` dies at once, ``sleep`` runs on."""
    script = tmp_path / "python"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_an_uploaded_copy_goes_when_its_job_dies_before_taking_it(tiny_file, tmp_path, monkeypatch):
    """The copy stayed claimed by the server until the job's own process claimed it: a job that died before (out
    of memory while loading the libraries, killed) left it beside the library for as long as the server ran."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix=".upload-", dir=config.models_dir()))
    library.claim(folder)
    shutil.copy(tiny_file, folder / "up.gguf")
    monkeypatch.setattr(sys, "executable", fake_python(tmp_path, "exit 0"))
    final = wait(imports.start_import(folder / "up.gguf", "", "float32", upload=folder))
    assert final.state == "failed"
    library.clean_partial_imports()  # as the next listing does
    assert list(config.models_dir().iterdir()) == []


@pytest.mark.parametrize("ending", ["failed", "stopped"])
def test_an_uploaded_copy_is_removed_however_its_import_job_ends(tmp_path, ending, offline):
    import shutil
    import tempfile

    from gguf_files import write_tiny_llama_gguf

    path = tmp_path / "up.gguf"
    write_tiny_llama_gguf(path, skip_tensors=("blk.1.ffn_up.weight",) if ending == "failed" else ())
    folder = Path(tempfile.mkdtemp(prefix=".upload-", dir=config.models_dir()))
    library.claim(folder)
    shutil.copy(path, folder / "up.gguf")
    workdir = imports.start_import(folder / "up.gguf", "", "float32", upload=folder)
    if ending == "stopped":
        jobs.request_stop(workdir)  # before the job has loaded its libraries: it stops at its first check
    assert wait(workdir).state == ending
    assert list(config.models_dir().iterdir()) == []  # neither the copy nor a model
