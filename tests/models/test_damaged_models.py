"""A workspace model whose weights file is damaged (truncated on disk): `ask`, `train` and the Chat page
say so in one line and what to do; and `model rm` refuses a model a run needs however its base was given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from gguf_files import write_tiny_llama_gguf
from streamlit.testing.v1 import AppTest

from studio import config
from studio.errors import ModelLoadError, StudioError
from studio.models import library, loading

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gguf") / "tiny.gguf"
    write_tiny_llama_gguf(path)
    return path


@pytest.fixture
def damaged(tiny_file) -> Path:
    """model:tiny with its model.safetensors cut to 1000 bytes (what `truncate -s 1000` does)."""
    library.import_gguf(tiny_file, "tiny")
    weights = config.models_dir() / "tiny" / "model.safetensors"
    with open(weights, "r+b") as fh:
        fh.truncate(1000)
    return weights


def one_line(out: subprocess.CompletedProcess) -> str:
    """The command's one error line (bitsandbytes' kernel warnings on CPU are another engineer's fix)."""
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    lines = [line for line in out.stderr.strip().splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and out.stderr.strip().endswith(lines[0]), out.stderr
    return lines[0]


def studio(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "studio", *argv], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=300)


def test_loading_a_damaged_model_says_which_file_and_what_to_do(damaged, offline):
    with pytest.raises(ModelLoadError) as err:
        loading.load_causal_lm("model:tiny")
    text = str(err.value)
    assert text.startswith("The weights of model:tiny are damaged (model.safetensors: ")
    assert "`python -m studio model rm tiny`" in text and "import its GGUF file again" in text and "\n" not in text
    assert damaged.is_file()  # nothing deleted behind the user's back


def test_ask_and_train_on_a_damaged_model_are_one_line(damaged):
    line = one_line(studio("ask", "model:tiny", "hello"))
    assert line.startswith("error: The weights of model:tiny are damaged")
    line = one_line(studio("train", "--dataset", str(REPO / "data" / "soccer_rules.json"), "--base", "model:tiny",
                           "--preset", "quick", "--epochs", "1"))
    assert line.startswith("error: The weights of model:tiny are damaged") and "model rm tiny" in line
    assert damaged.is_file() and (REPO / "data" / "soccer_rules.json").is_file()


def test_the_chat_page_shows_a_damaged_model_as_one_error(damaged, offline):
    at = AppTest.from_file(str(REPO / "pages" / "4_Chat.py"), default_timeout=60)
    at.session_state["chat.a.model"] = "model:tiny"
    at.run()
    at.chat_input(key="chat.input").set_value("hello").run()
    deadline = time.time() + 120
    while at.session_state["chat.jobs"] and time.time() < deadline:
        time.sleep(0.3)
        at.run()
    assert not at.exception
    errors = [e.value for e in at.error if "damaged" in e.value]
    assert errors and all("\n" not in e for e in errors) and "model:tiny" in errors[0]


# --- model rm: a model a run needs ------------------------------------------------------------------

def _run_on(base: str, fingerprint: str | None = None) -> str:
    from studio.train import runs

    folder = runs.run_dir(runs.new_run_id("faq"))
    folder.mkdir(parents=True)
    meta = {"name": f"faq on {base}", "created": runs.now_iso(), "base": base, "config": {},
            "dataset": {"name": "d", "version": 1}}
    if fingerprint:
        meta["base_fingerprint"] = fingerprint
    runs.write_run(folder, meta)
    return folder.name


@pytest.mark.parametrize("how", ["absolute folder", "folder with a trailing slash", "folder under ~",
                                 "relative folder typed elsewhere"])
def test_a_model_a_run_was_trained_from_by_its_folder_cannot_be_deleted(tiny_file, monkeypatch, how):
    from studio.train import runs

    library.import_gguf(tiny_file, "base")
    folder = config.models_dir() / "base"
    if how == "absolute folder":
        run = _run_on(str(folder))
    elif how == "folder with a trailing slash":
        run = _run_on(str(folder) + "/")
    elif how == "folder under ~":
        monkeypatch.setenv("HOME", str(folder.parent.parent))
        run = _run_on("~/models/base")
    else:  # the path meant something where it was typed; the fingerprint the run recorded still names the model
        run = _run_on("../studio-home/models/base-copy", fingerprint=loading.folder_fingerprint(folder))
    with pytest.raises(StudioError, match="base of 1 training run.*delete those runs first"):
        library.delete_model("base")
    assert (folder / "model.safetensors").is_file()
    runs.delete_run(run)
    assert library.delete_model("base") == "base"


def test_cli_model_rm_refuses_a_model_a_run_names_by_its_folder(tiny_file):
    library.import_gguf(tiny_file, "base")
    _run_on(str(config.models_dir() / "base"))
    line = one_line(studio("model", "rm", "base"))
    assert "base of 1 training run" in line and (config.models_dir() / "base" / "config.json").is_file()
    assert json.loads((config.models_dir() / "base" / "model.json").read_text())["name"] == "base"


def test_a_run_on_another_model_does_not_block_deleting(tiny_file):
    library.import_gguf(tiny_file, "base")
    library.import_gguf(tiny_file, "other", dtype="bfloat16")  # the same file as float32 is refused: model:base
    _run_on(str(config.models_dir() / "other"), fingerprint=loading.folder_fingerprint(config.models_dir() / "other"))
    _run_on("distilgpt2")
    assert library.delete_model("base") == "base"


@pytest.mark.parametrize("template,why", [
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "tries to reach Python internals"),
    ("{% for m in messages %}{{ m.content ", "does not render a plain conversation"),
])
def test_a_library_model_with_a_hostile_chat_template_is_refused_in_one_line(template, why, tmp_path):
    """A model imported before templates were checked (or copied in by hand): `ask` says so, no traceback."""
    from tests.conftest import build_tiny_causal_lm

    build_tiny_causal_lm(config.models_dir() / "old", chat_template=template)
    env = {**os.environ, "STUDIO_HOME": str(config.home()), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "studio", "ask", "model:old", "Hello?"], capture_output=True,
                         text=True, cwd=REPO, env=env, timeout=300)
    assert out.returncode == 2 and out.stdout == "", out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(f"error: model:old: its chat template {why}")
    assert "chat_template.jinja" in out.stderr and (config.models_dir() / "old" / "config.json").is_file()
    with pytest.raises(ModelLoadError, match=why):
        loading.load_causal_lm("model:old")
