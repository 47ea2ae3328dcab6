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
OPERATOR_KEY = "sk-OPERATORoperatorOPERATOR0123456"  # a key in the server's environment or secrets
TYPED_KEY = "sk-TYPEDtypedTYPEDtyped0123456789ab"  # a key a visitor typed for their own base URL
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


def answered(at: AppTest, timeout: float = 300) -> None:
    """Wait for the answers being streamed to end (their worker threads, not a count of page runs, which under
    load ran out before a slow answer ended), then draw the page once: it moves them into the conversation (one that
    ended while the page was drawn is there already)."""
    for job in list(at.session_state["chat.jobs"]):
        assert job.join(timeout), f"{job.label} was still answering after {timeout:.0f} s"
    at.run()
    assert not at.session_state["chat.jobs"] and not at.exception


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
    at = AppTest.from_file(str(REPO / "pages" / "4_Chat.py"), default_timeout=30)
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
        answered(at)
    turns = at.session_state["chat.messages"]
    assert len(turns) == 4 and all("error" in t for t in turns[1::2])
    shown = [e.value for e in at.error] + [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert not [s for s in shown if SECRET in s or SECRET[-12:] in s]
    for exported in (export_json(turns), export_markdown(turns)):
        assert SECRET not in exported
    assert files_containing(studio_home, SECRET) == []
    assert SECRET not in str(at.query_params)  # never in the URL


def test_chat_exports_hide_a_token_typed_into_a_question(faults, studio_home, monkeypatch):
    """A visitor who pastes their token (or an API key) into a question gets it as ``***`` in Export JSON and
    Export Markdown, as in the kept conversation: the export buttons' files are what is checked."""
    import streamlit as st
    from streamlit.elements.widgets.button import ButtonMixin

    downloads: dict[str, object] = {}  # file name -> what the button hands the browser (built when clicked: a callable)
    keep = ButtonMixin.download_button

    def seen(self, label, data, file_name=None, *args, **kwargs):
        if file_name:
            downloads[file_name] = data
        return keep(self, label, data, file_name, *args, **kwargs)

    monkeypatch.setattr(ButtonMixin, "download_button", seen)  # a container's button (row.download_button)
    # and st.download_button, bound to the page's main container when streamlit was imported (in whatever container
    # a ``with`` block puts it: the export buttons share a row with Clear conversation)
    monkeypatch.setattr(st, "download_button", lambda *args, **kwargs: seen(st._main, *args, **kwargs))
    at = AppTest.from_file(str(REPO / "pages" / "4_Chat.py"), default_timeout=60)
    at.run()
    at.selectbox(key="chat.a.kind").set_value("provider").run()
    next(t for t in at.text_input if t.label == "Hugging Face token").set_value(SECRET).run()
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    at.text_input(key="chat.a.base_url").set_value(faults.url("good")).run()
    at.text_input(key="chat.a.api_model").set_value("m").run()
    at.chat_input(key="chat.input").set_value(f"Is my token {SECRET} and my key {TYPED_KEY} safe?").run()
    answered(at)
    assert at.session_state["chat.messages"][0]["content"].startswith("Is my token hf_")  # the page still shows it
    downloads.clear()
    at.run()
    built = {name: downloads[name]() if callable(downloads[name]) else downloads[name]
             for name in ("conversation.json", "conversation.md")}  # what a click on each Export writes
    exported = {name: data.decode() if isinstance(data, bytes) else data for name, data in built.items()}
    for text in exported.values():
        assert "Is my token *** and my key *** safe?" in text
        assert SECRET[-12:] not in text and TYPED_KEY[-12:] not in text
    assert files_containing(studio_home, SECRET) == []


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


def test_a_key_typed_in_the_browser_reaches_a_background_evaluation_and_the_hf_token_does_not(
        faults, studio_home, tmp_path, monkeypatch):
    import json

    from studio.evaluate import job as eval_jobs
    from studio.evaluate import results as eval_results
    from studio.evaluate.config import EvalConfig

    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", OPERATOR_KEY)  # the server's own key: never for a URL typed on the page
    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": "How long is a match?", "answer": "90 minutes."}]))
    cfg = EvalConfig(models=("api:m",), dataset_file=str(data), api_base_url=faults.url("good"))
    for api_key, expected in ((TYPED_KEY, f"Bearer {TYPED_KEY}"), (None, None)):
        sent = len(faults.headers)
        eval_id = eval_jobs.start_evaluation(cfg, token=SECRET, api_key=api_key)
        deadline = time.time() + 120
        while time.time() < deadline and eval_jobs.job_state(eval_id).active:
            time.sleep(0.3)
        assert eval_results.load(eval_id).status == "finished"
        assert [h.get("authorization") for h in faults.headers[sent:]] == [expected]
    assert files_containing(studio_home, SECRET) == [] and files_containing(studio_home, TYPED_KEY) == []
    assert SECRET not in os.environ.get("HF_TOKEN", "")  # the studio's own process is unchanged


# --- The Hugging Face token goes only to Hugging Face -------------------------------------------

def test_a_base_url_never_receives_the_hf_token_from_the_environment(faults, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)  # huggingface_hub would pick this up on its own
    sent = len(faults.headers)
    make_backend(BackendSpec(kind="openai", model="m", base_url=faults.url("good")), None).complete(ASK, ChatParams())
    make_backend(BackendSpec(kind="openai", model="m", base_url=faults.url("good")), TYPED_KEY).complete(ASK)
    assert [h.get("authorization") for h in faults.headers[sent:]] == [None, f"Bearer {TYPED_KEY}"]


def test_cli_chat_sends_a_base_url_only_its_own_key(faults, tmp_path):
    env = {**os.environ, "STUDIO_HOME": str(tmp_path), "HF_TOKEN": SECRET}
    env.pop("OPENAI_API_KEY", None)
    sent = len(faults.headers)
    cmd = [sys.executable, "-m", "studio", "chat", "--base-url", faults.url("good"), "--model", "m", "hello"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    out = subprocess.run(cmd + ["--api-key-env", "MY_KEY"], capture_output=True, text=True, cwd=REPO,
                         env={**env, "MY_KEY": TYPED_KEY}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [h.get("authorization") for h in faults.headers[sent:]] == [None, f"Bearer {TYPED_KEY}"]


def test_cli_evaluate_never_sends_the_hf_token_to_a_base_url(faults, tmp_path):
    import json

    data = tmp_path / "qa.json"
    data.write_text(json.dumps([{"question": "How long is a match?", "answer": "90 minutes."}]))
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_TOKEN": SECRET}
    env.pop("OPENAI_API_KEY", None)
    sent = len(faults.headers)
    out = subprocess.run([sys.executable, "-m", "studio", "evaluate", "--dataset", str(data), "--model", "m",
                          "--base-url", faults.url("good"), "--out", str(tmp_path / "r.json")],
                         capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert [h.get("authorization") for h in faults.headers[sent:]] == [None]


def test_the_chat_page_never_sends_a_server_secret_to_a_typed_url(faults, studio_home, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", OPERATOR_KEY)
    at = AppTest.from_file(str(REPO / "pages" / "4_Chat.py"), default_timeout=30)
    at.secrets["HF_TOKEN"] = SECRET
    at.run()
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    at.text_input(key="chat.a.base_url").set_value(faults.url("good")).run()
    at.text_input(key="chat.a.api_model").set_value("m").run()
    sent = len(faults.headers)
    at.chat_input(key="chat.input").set_value("hello").run()
    answered(at)
    assert "error" not in at.session_state["chat.messages"][-1]
    assert [h.get("authorization") for h in faults.headers[sent:]] == [None]


def test_a_typed_secret_leaves_the_input_once_entered(studio_home):
    at = AppTest.from_file(str(REPO / "pages" / "4_Chat.py"), default_timeout=30)
    at.run()
    at.selectbox(key="chat.a.kind").set_value("provider").run()
    next(t for t in at.text_input if t.label == "Hugging Face token").set_value(SECRET).run()
    assert at.session_state["auth.hf_token"] == SECRET
    assert not [t for t in at.text_input if t.label == "Hugging Face token"]  # no input holds it any more
    assert any("set for this session" in c.value for c in at.caption)
    next(b for b in at.button if b.label == "Forget").click().run()
    assert "auth.hf_token" not in at.session_state
    assert [t.value for t in at.text_input if t.label == "Hugging Face token"] == [""]
