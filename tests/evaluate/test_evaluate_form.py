"""The Evaluate page's form kept in the workspace: a new session (the next day, another browser) finds it as it was
set, Reset to defaults brings back a first visit's form, and no secret is ever written."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from studio.data import store
from studio.evaluate import form

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "5_Evaluate.py")
QA = [{"question": "How long is a match?", "answer": "Two halves of 45 minutes."},
      {"question": "How many players are on a team?", "answer": "Eleven."}]


def _app() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_new_session_finds_the_form_as_it_was_set_and_reset_brings_the_defaults_back(offline):
    ds = store.create_dataset("Soccer QA", QA)
    at = _app()
    first_visit, first_source = at.multiselect(key="evaluate.models").value, at.radio(key="evaluate.source").value
    at.multiselect(key="evaluate.models").set_value([]).run()
    at.text_area(key="evaluate.other_models").input("distilgpt2\napi:some/chat-model").run()
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.number_input(key="evaluate.sample").set_value(25).run()
    at.number_input(key="evaluate.max_new_tokens").set_value(32).run()
    at.toggle(key="evaluate.sampling").set_value(True).run()
    at.slider(key="evaluate.temperature").set_value(0.3).run()
    at.toggle(key="evaluate.perplexity").set_value(False).run()
    at.text_input(key="evaluate.judge").input("api:judge/model").run()
    at.slider(key="evaluate.leakage").set_value(80).run()
    assert not at.exception

    tomorrow = _app()  # a new session: nothing of the last one's state
    assert tomorrow.multiselect(key="evaluate.models").value == []
    assert tomorrow.text_area(key="evaluate.other_models").value == "distilgpt2\napi:some/chat-model"
    assert tomorrow.radio(key="evaluate.source").value == "dataset"
    assert tomorrow.selectbox(key="evaluate.dataset").value.id == ds.id
    assert tomorrow.number_input(key="evaluate.sample").value == 25
    assert tomorrow.number_input(key="evaluate.max_new_tokens").value == 32
    assert tomorrow.toggle(key="evaluate.sampling").value and tomorrow.slider(key="evaluate.temperature").value == 0.3
    assert not tomorrow.toggle(key="evaluate.perplexity").value
    assert tomorrow.text_input(key="evaluate.judge").value == "api:judge/model"
    assert tomorrow.slider(key="evaluate.leakage").value == 80

    tomorrow.button(key="evaluate.reset").click().run()
    assert not tomorrow.exception
    # The form at once, as on a first visit (no run without it, then a timer's), and as the browser shows it: the
    # values the test's tree sends back at the next click (the browser's) are the defaults, not the ones set before.
    for _ in range(2):
        assert tomorrow.multiselect(key="evaluate.models").value == first_visit
        assert tomorrow.text_area(key="evaluate.other_models").value == ""
        assert tomorrow.radio(key="evaluate.source").value == first_source
        assert tomorrow.number_input(key="evaluate.max_new_tokens").value == 64
        assert tomorrow.number_input(key="evaluate.sample").value == 0
        assert not tomorrow.toggle(key="evaluate.sampling").value and tomorrow.toggle(key="evaluate.perplexity").value
        assert tomorrow.slider(key="evaluate.temperature").value == 0.7
        assert tomorrow.text_input(key="evaluate.judge").value == ""
        assert tomorrow.slider(key="evaluate.leakage").value == 90
        tomorrow.run()  # the next click
        assert not tomorrow.exception
    again = _app()  # and the reset lasts
    assert again.number_input(key="evaluate.max_new_tokens").value == 64
    assert again.text_area(key="evaluate.other_models").value == ""


def test_no_key_or_token_is_kept_with_the_form(offline, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_" + "T" * 30)
    at = _app()
    at.text_input(key="evaluate.base_url").input("http://127.0.0.1:9/v1").run()
    at.text_input(key="evaluate.api_key.input").input("my-server-key-12345").run()
    at.text_input(key="evaluate.qa_endpoint").input("https://user:pw-secret@qa.example/v1").run()
    at.text_area(key="evaluate.other_models").input("api:my-server-key-12345").run()
    assert not at.exception
    text = form.path().read_text()
    assert "my-server-key-12345" not in text and "pw-secret" not in text and "hf_TTTT" not in text
    assert json.loads(text)["values"]["base_url"] == "http://127.0.0.1:9/v1"
    assert at.session_state["evaluate.api_key"] == "my-server-key-12345"  # the key was taken (for this session)
    assert "evaluate.api_key" not in _app().session_state  # and a new session has none


def test_a_damaged_or_out_of_range_form_is_not_used(offline):
    form.path().parent.mkdir(parents=True, exist_ok=True)
    form.path().write_text("{not json")
    assert not _app().exception
    form.path().write_text(json.dumps({"format": 1, "values": {"max_new_tokens": 999999, "batch_size": "8",
                                                               "sample": 5, "models": ["run:gone"]}}))
    at = _app()
    assert not at.exception
    assert at.number_input(key="evaluate.max_new_tokens").value == 64
    assert at.number_input(key="evaluate.batch_size").value == 8 and at.number_input(key="evaluate.sample").value == 5
    assert "run:gone" not in at.multiselect(key="evaluate.models").value
