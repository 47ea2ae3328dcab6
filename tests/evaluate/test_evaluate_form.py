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


BOXES = {"evaluate.sample": (0, None, 25, "Sample size"), "evaluate.max_new_tokens": (1, 4096, 32, "Max new tokens"),
         "evaluate.batch_size": (1, 256, 4, "Batch size"), "evaluate.seed": (0, 2**31 - 1, 7, "Seed"),
         "evaluate.concurrency": (1, 64, 2, "API requests in flight"),
         "evaluate.api_timeout": (5, 3600, 300, "API timeout (s)")}
"""Each free-typed number box on the form: its (min, max), a good value to type first, and its name as its error lines
say it (the label less its note: "Sample size (0 = every question) -1 is out of range" repeated the whole label; a
note that is only a unit is said after the value: "API timeout 4 s")."""


def _said(label, value):
    name, _, unit = label.partition(" (")
    return f"{name} {value}" + (f" {unit[:-1]}" if unit else "")


def test_every_number_box_says_what_it_did_with_a_value_it_cannot_use(offline):
    """The boxes carried min/max, so the browser only reddened an API timeout of -1 (or 1e30) and Start evaluated with
    the last valid 60 the screen no longer showed; 1e999 or an emptied box silently put the last value back. Now the
    value typed reaches the page: out of range, or a fraction of a whole number, is said in one line and Start waits;
    empty or too large keeps the person's last good value, said in one line."""
    store.create_dataset("Soccer QA", QA)
    at = _app()
    assert {k: (b.min, b.max) for k in BOXES for b in [at.number_input(key=k)]} == {k: (None, None) for k in BOXES}
    assert not at.error
    for key, (lo, hi, good, label) in BOXES.items():
        at.number_input(key=key).set_value(good).run()
        assert not at.error and not at.button(key="evaluate.start").disabled, key
        for wrong in ([lo - 1] + ([hi * 10] if hi else [])):
            at.number_input(key=key).set_value(wrong).run()
            use = f"{lo} to {hi}" if hi else f"{lo} or more"
            assert [e.value for e in at.error] == [f"{_said(label, wrong)} is out of range: use {use}."], key
            assert at.button(key="evaluate.start").disabled, key
        at.number_input(key=key).set_value(float("inf")).run()  # 1e999 typed: the browser sends Infinity
        assert not at.exception, key
        assert at.number_input(key=key).value == good, key  # the last good value, not the 10x typed before it
        said = f"from {lo} to {hi}" if hi else f"of {lo} or more"
        kept = _said(label, good).removeprefix(label.partition(" (")[0] + " ")
        assert [e.value for e in at.error] == [f"{label.partition(' (')[0]} was empty or too large to hold: kept {kept}; type a number "
                                               f"{said}."], key
        assert not at.button(key="evaluate.start").disabled, key
        at.number_input(key=key).set_value(None).run()  # emptied: the same
        assert at.number_input(key=key).value == good and len(at.error) == 1, key
    at.number_input(key="evaluate.sample").set_value(0).run()
    at.number_input(key="evaluate.sample").set_value(None).run()  # the box's clear button: the line says what 0 means
    assert [e.value for e in at.error] == ["Sample size was empty or too large to hold: kept 0 (every question); type a "
                                           "number of 0 or more."]
    at.number_input(key="evaluate.max_new_tokens").set_value(2.5).run()
    assert [e.value for e in at.error] == ["Max new tokens 2.5 is not a whole number: use a whole number."]
    assert at.button(key="evaluate.start").disabled


def test_a_run_still_training_is_said_under_the_models_until_it_has_its_model(offline):
    """Started on the Train page, a run is not offered on Evaluate until it saved its model: a person who went there
    at once found only the base model, and no word of their run. Now one line names it while it trains."""
    import os

    from studio import config, jobs
    from studio.train import runs

    store.create_dataset("Soccer QA", QA)
    folder = config.runs_dir() / "20261207-000000-faq"
    runs.write_run(folder, {"id": folder.name, "name": "Soccer FAQ lora", "created": "2026-12-07T00:00:00+00:00",
                            "config": {}, "base": "scratch", "dataset": {}})
    jobs.update_status(folder, kind="train", state="running", pid=os.getpid(), progress=0.3)
    at = _app()
    said = [c.value for c in at.caption if c.value.startswith("Still training")]
    assert len(said) == 1 and "Soccer FAQ lora" in said[0]
    jobs.update_status(folder, state="failed", error="stopped")  # ended without a model: no line
    at.run()
    assert not [c.value for c in at.caption if c.value.startswith("Still training")]


def test_start_with_the_picked_dataset_deleted_meanwhile_starts_nothing_and_says_so(offline):
    """A dataset deleted in another tab after it was picked: the Start click's own redraw fell back to the first
    dataset and started the evaluation on it, a dataset nobody picked, without a word. Start now says why it did not
    start, and the form shows what it fell back to."""
    from studio.evaluate import results as eval_results

    store.create_dataset("Soccer QA", QA)
    picked = store.create_dataset("Tennis 😀/QA", QA)
    at = _app()
    at.multiselect(key="evaluate.models").set_value([]).run()
    at.text_area(key="evaluate.other_models").input("distilgpt2").run()
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.selectbox(key="evaluate.dataset").select(next(d for d in store.list_datasets() if d.id == picked.id)).run()
    store.delete_dataset(picked.id)  # another tab
    at.button(key="evaluate.start").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Not started: the dataset you picked is no longer there (deleted in another tab or session). The form now "
        "shows other questions: check them and press Start again."]
    assert not eval_results.list_evals()
    assert at.selectbox(key="evaluate.dataset").value.name == "Soccer QA"


def test_an_empty_dataset_turns_start_off_with_the_reason_in_one_line(offline):
    """A dataset with no records left Start on, with nothing said until a press."""
    store.create_dataset("Emptied", [])
    at = _app()
    at.radio(key="evaluate.source").set_value("dataset").run()
    assert [e.value for e in at.error] == ["Emptied v1 holds no records: add some in the Dataset page's Edit tab, or "
                                           "pick another dataset."]
    assert at.button(key="evaluate.start").disabled
