"""The Train page opened on a run, as its tests need it: a run folder written by hand in the real layout (run.json,
and status.json when a state is given; nothing trained), and the page in AppTest with that run open, as after Start
or Open on the Runs tab."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streamlit.testing.v1 import AppTest

from studio import jobs
from studio.train import runs
from tests.conftest import train_page


def hand_made_run(name: str, *, run_id: str | None = None, state: str | None = None, meta: dict | None = None,
                  model: bool = False, **status: Any) -> Path:
    """A run folder named ``run_id`` (default: a new id of ``name``): a run.json of a scratch run with no settings and
    no dataset unless ``meta`` says otherwise, a ``model/`` holding an empty config.json and a placeholder weights file
    with ``model`` (nothing loads it: the pickers offer a run with weights only), and the job's
    ``state`` with the rest of ``status`` (pid, progress, message) as a worker writes it."""
    folder = runs.run_dir(run_id or runs.new_run_id(name))
    folder.mkdir(parents=True, exist_ok=True)
    if model:
        (folder / "model").mkdir()
        (folder / "model" / "config.json").write_text("{}")
        (folder / "model" / "model.safetensors").write_bytes(b"\0" * 64)
    runs.write_run(folder, {"id": folder.name, "name": name, "created": "2026-12-01T00:00:00+00:00", "config": {},
                            "base": "scratch", "dataset": {}, **(meta or {})})
    if state:
        jobs.update_status(folder, state=state, kind="train", **status)
    return folder


def open_run(run_id: str, *, run: bool = True) -> AppTest:
    """The Train page with run ``run_id`` open above the form, run once (``run=False``: not run yet)."""
    at = train_page()
    at.session_state["train.run_id"] = run_id
    return at.run() if run else at
