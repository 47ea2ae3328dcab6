"""The Hugging Face token / API key never shows up in answers, errors, exports, the workspace or logs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chat_servers import FaultServer
from streamlit.testing.v1 import AppTest

from studio.chat import BackendSpec, ChatParams, export_json, export_markdown, make_backend
from studio.errors import StudioError

REPO = Path(__file__).resolve().parent.parent
SECRET = "hf_SECRETsecretSECRET0123456789abcdef"
ASK = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def faults():
    with FaultServer().running() as fs:
        yield fs


def files_containing(root: Path, needle: str) -> list[Path]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            try:
                if needle.encode() in path.read_bytes() or needle[-12:].encode() in path.read_bytes():
                    hits.append(path)
            except OSError:
                pass
    return hits


@pytest.mark.parametrize("mode", ["good", "unauthorized", "echo-auth", "not-json", "html", "down"])
def test_backend_answers_and_errors_never_carry_the_token(faults, mode, caplog):
    caplog.set_level(logging.DEBUG)
    backend = make_backend(BackendSpec(kind="openai", model="m", base_url=faults.url(mode)), SECRET)
    try:
        text = backend.complete(ASK, ChatParams())
    except StudioError as exc:
        text = str(exc)
    assert SECRET not in text and SECRET[-12:] not in text
    assert SECRET not in repr(backend) and SECRET not in backend.describe() and SECRET not in backend.name
    assert SECRET not in caplog.text
    assert faults.headers[-1]["authorization"] == f"Bearer {SECRET}"  # it was sent, as a header only


def test_the_page_keeps_the_token_in_the_session_only(faults, studio_home):
    at = AppTest.from_file(str(REPO / "pages" / "3_Chat.py"), default_timeout=30)
    at.run()
    at.selectbox(key="chat.a.kind").set_value("provider").run()
    at.text_input(key="chat.a.hub_model").set_value("microsoft/Phi-3.5-mini-instruct").run()
    token_field = next(t for t in at.text_input if t.label == "Hugging Face token")
    token_field.set_value(SECRET).run()
    assert at.session_state["auth.hf_token"] == SECRET
    # an API server that rejects the key, then one that echoes it back
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    at.text_input(key="chat.a.base_url").set_value(faults.url("echo-auth")).run()
    at.text_input(key="chat.a.api_model").set_value("m").run()
    next(t for t in at.text_input if t.label == "API key (optional)").set_value(SECRET).run()
    for text in ("first", "second"):
        at.chat_input(key="chat.input").set_value(text).run()
        for _ in range(100):
            if not at.session_state["chat.jobs"]:
                break
            time.sleep(0.1)
            at.run()
    turns = at.session_state["chat.messages"]
    assert len(turns) == 4 and all("error" in t for t in turns[1::2])
    shown = [e.value for e in at.error] + [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert not [s for s in shown if SECRET in s or SECRET[-12:] in s]
    for exported in (export_json(turns), export_markdown(turns)):
        assert SECRET not in exported
    assert files_containing(studio_home, SECRET) == []
    assert SECRET not in str(at.query_params)  # never in the URL


def test_cli_never_prints_the_token(faults, tmp_path):
    env = {**os.environ, "HF_TOKEN": SECRET, "OPENAI_API_KEY": SECRET, "STUDIO_HOME": str(tmp_path / "home")}
    for mode in ("echo-auth", "unauthorized", "good"):
        out = subprocess.run([sys.executable, "-m", "studio", "chat", "--base-url", faults.url(mode), "--model", "m",
                              "--stats", "hello"], capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
        assert SECRET not in out.stdout + out.stderr and SECRET[-12:] not in out.stdout + out.stderr
        assert out.returncode == (0 if mode == "good" else 2), out.stderr
    assert files_containing(tmp_path, SECRET) == []


def test_secrets_file_is_ignored_by_git():
    out = subprocess.run(["git", "check-ignore", ".streamlit/secrets.toml"], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0
    assert (REPO / ".streamlit" / "secrets.toml.example").is_file()


def test_a_token_typed_in_the_browser_reaches_a_background_evaluation_and_nothing_else(faults, studio_home,
                                                                                        tmp_path, monkeypatch):
    import json

    from studio import eval_jobs, eval_results
    from studio.evaluate import EvalConfig

    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": "How long is a match?", "answer": "90 minutes."}]))
    sent = len(faults.headers)
    cfg = EvalConfig(models=("api:m",), dataset_file=str(data), api_base_url=faults.url("good"))
    eval_id = eval_jobs.start_evaluation(cfg, token=SECRET)
    deadline = time.time() + 120
    while time.time() < deadline and eval_jobs.job_state(eval_id).active:
        time.sleep(0.3)
    assert eval_results.load(eval_id)["status"] == "done"
    assert [h.get("authorization") for h in faults.headers[sent:]] == [f"Bearer {SECRET}"]  # the job used it
    assert files_containing(studio_home, SECRET) == []  # not in the status, the log or the result
    assert SECRET not in os.environ.get("HF_TOKEN", "")  # the studio's own process is unchanged
