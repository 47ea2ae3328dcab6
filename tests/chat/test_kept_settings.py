"""The Chat page's generation settings come back with its conversation after a reload (a new session)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chat_servers import FaultServer, ask
from streamlit.testing.v1 import AppTest

from studio.chat import kept_settings

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "pages" / "4_Chat.py")
SYSTEM = "Answer as {{ name }} would. {% if rude %}Never{% endif %} be rude; {#- no comment -#}"
TOKEN = "hf_KEEPMEoutOFtheSETTINGSfile1234"


@pytest.fixture(scope="module")
def faults():
    with FaultServer().running() as fs:
        yield fs


def opened() -> AppTest:
    """The Chat page in a new session: a reloaded or new browser tab."""
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.run()
    assert not at.exception
    return at


def test_a_reload_keeps_sampling_settings_and_the_system_prompt(faults):
    """A reload brought the conversation back but the temperature, max new tokens, top-p, timeout and system prompt
    at their defaults: the next answer came from other settings than the last, without a word."""
    at = opened()
    at.selectbox(key="chat.a.kind").set_value("openai").run()  # a model switch keeps them too
    at.slider(key="chat.max_new_tokens").set_value(128).run()
    at.slider(key="chat.temperature").set_value(0.7).run()
    at.slider(key="chat.top_p").set_value(0.9).run()
    at.slider(key="chat.repetition_penalty").set_value(1.3).run()
    at.checkbox(key="chat.do_sample").uncheck().run()
    at.number_input(key="chat.timeout").set_value(30).run()
    at.selectbox(key="chat.preset").set_value("Soccer rules expert").run()
    at.text_area(key="chat.system").set_value(SYSTEM).run()
    assert not at.exception

    again = opened()
    assert again.slider(key="chat.max_new_tokens").value == 128
    assert again.slider(key="chat.temperature").value == 0.7
    assert again.slider(key="chat.top_p").value == 0.9
    assert again.slider(key="chat.repetition_penalty").value == 1.3
    assert again.checkbox(key="chat.do_sample").value is False
    assert again.number_input(key="chat.timeout").value == 30
    assert again.selectbox(key="chat.preset").value == "Soccer rules expert"
    assert again.text_area(key="chat.system").value == SYSTEM  # template syntax kept as typed, never rendered


def test_the_settings_reach_the_answer_and_its_export(faults):
    """What the reloaded page shows is what the next question is asked with."""
    at = opened()
    at.slider(key="chat.max_new_tokens").set_value(64).run()
    at.slider(key="chat.temperature").set_value(0.0).run()
    at.text_area(key="chat.system").set_value(SYSTEM).run()
    again = opened()
    ask(again, faults.url("good"), "Olá?")
    body = faults.bodies[-1]
    assert body["max_tokens"] == 64 and body["temperature"] == 0.0
    assert body["messages"][0] == {"role": "system", "content": SYSTEM}


def test_a_secret_in_the_system_prompt_is_not_written_to_the_settings_file():
    at = opened()
    at.text_area(key="chat.system").set_value(f"My key is {TOKEN}; answer briefly.").run()
    text = kept_settings.path().read_text(encoding="utf-8")
    assert TOKEN not in text and "My key is ***; answer briefly." in json.loads(text)["system"]


@pytest.mark.parametrize("raw", ['{"temperature": 9, "max_new_tokens": "x", "do_sample": 1, "top_p": 0.5}',
                                 "not json", "[1, 2]"])
def test_a_settings_file_out_of_bounds_or_unreadable_leaves_the_defaults(raw):
    kept_settings.path().parent.mkdir(parents=True, exist_ok=True)
    kept_settings.path().write_text(raw, encoding="utf-8")
    assert kept_settings.load() == ({"top_p": 0.5} if raw.startswith("{") else {})
    at = opened()
    assert at.slider(key="chat.temperature").value == 0.1 and at.slider(key="chat.max_new_tokens").value == 500


def test_compare_mode_and_its_models_come_back_before_anything_is_asked(faults):
    """Compare turned on and a second model picked, then a reload before any question: Compare was off again and
    both models at their defaults (only a conversation's answers said which models to ask)."""
    at = opened()
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    at.text_input(key="chat.a.base_url").set_value(faults.url("good") + f"?api_key={TOKEN}").run()
    at.text_input(key="chat.a.api_model").set_value("model-a").run()
    at.toggle(key="chat.compare").set_value(True).run()
    at.selectbox(key="chat.b.kind").set_value("provider").run()
    at.text_input(key="chat.b.hub_model").set_value("org/model-b").run()
    assert not at.exception
    text = kept_settings.path().read_text(encoding="utf-8")
    assert TOKEN not in text  # model specs only, scrubbed

    again = opened()
    assert again.toggle(key="chat.compare").value is True
    assert again.selectbox(key="chat.a.kind").value == "openai"
    assert again.text_input(key="chat.a.base_url").value == faults.url("good") + "?api_key=***"
    assert again.text_input(key="chat.a.api_model").value == "model-a"
    assert again.selectbox(key="chat.b.kind").value == "provider"
    assert again.text_input(key="chat.b.hub_model").value == "org/model-b"
    again.toggle(key="chat.compare").set_value(False).run()
    assert opened().toggle(key="chat.compare").value is False


def test_a_model_picked_last_that_is_gone_is_said_in_one_line():
    """The run picked last was deleted since: one line says so, and the picker offers what there is."""
    kept_settings.path().parent.mkdir(parents=True, exist_ok=True)
    kept_settings.path().write_text(json.dumps({"compare": False, "models": {
        "a": {"kind": "local", "model": "run:20260101-000000-gone"}}}), encoding="utf-8")
    at = opened()
    assert sum("no longer in the workspace" in w.value for w in at.warning) == 1
    assert at.selectbox(key="chat.a.model").value != "run:20260101-000000-gone"


def test_a_model_picked_after_the_last_answer_wins_over_the_conversations(faults):
    """A model picked after the last answer lost, after a reload, to the model that gave that answer: the person's
    latest pick is the one the next question goes to, Compare and its second model too."""
    at = opened()
    ask(at, faults.url("good"), "Olá?")
    at.selectbox(key="chat.a.kind").set_value("provider").run()
    at.text_input(key="chat.a.hub_model").set_value("org/picked-after").run()
    at.toggle(key="chat.compare").set_value(True).run()
    at.selectbox(key="chat.b.kind").set_value("openai").run()
    at.text_input(key="chat.b.base_url").set_value(faults.url("good")).run()
    at.text_input(key="chat.b.api_model").set_value("second").run()
    again = opened()
    assert again.selectbox(key="chat.a.kind").value == "provider"
    assert again.text_input(key="chat.a.hub_model").value == "org/picked-after"
    assert again.toggle(key="chat.compare").value is True
    assert again.text_input(key="chat.b.api_model").value == "second"
    assert len(again.session_state["chat.messages"]) == 2  # the conversation came back with them


def test_a_model_being_picked_comes_back_as_typed_so_far(faults):
    """An OpenAI-compatible server chosen and its base URL typed, a reload before its model name: the model picked
    before it came back, the backend and the base URL lost. Back as typed (a key in the URL as ***), then picked."""
    at = opened()
    ask(at, faults.url("good"), "Olá?")
    at.selectbox(key="chat.a.kind").set_value("provider").run()
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    at.text_input(key="chat.a.api_model").set_value("").run()
    at.text_input(key="chat.a.base_url").set_value(f"http://127.0.0.1:9/v1?api_key={TOKEN}").run()
    assert TOKEN not in kept_settings.path().read_text(encoding="utf-8")
    again = opened()
    assert again.selectbox(key="chat.a.kind").value == "openai"
    assert again.text_input(key="chat.a.base_url").value == "http://127.0.0.1:9/v1?api_key=***"
    assert again.text_input(key="chat.a.api_model").value == ""
    again.text_input(key="chat.a.api_model").set_value("now-picked").run()
    assert opened().text_input(key="chat.a.api_model").value == "now-picked"


def test_the_mode_comes_back_after_a_reload():
    """Passage mode, a reload: the page was back in conversation mode."""
    from studio.ui.passage import CONVERSATION, PASSAGE

    at = opened()
    at.radio(key="chat.mode").set_value(PASSAGE).run()
    assert not at.exception
    assert json.loads(kept_settings.path().read_text(encoding="utf-8"))["mode"] == PASSAGE
    again = opened()
    assert again.radio(key="chat.mode").value == PASSAGE
    again.radio(key="chat.mode").set_value(CONVERSATION).run()
    assert opened().radio(key="chat.mode").value == CONVERSATION


def _training_run(checkpoint: bool) -> str:
    """A run whose job is still running (this test process stands in for its worker), with or without a checkpoint."""
    import os

    from studio import jobs
    from studio.train import runs

    folder = runs.run_dir(runs.new_run_id("faq"))
    folder.mkdir(parents=True)
    runs.write_run(folder, {"name": "FAQ run", "created": runs.now_iso(), "base": "org/base", "format": "plain",
                            "config": {}})
    jobs.update_status(folder, state="running", pid=os.getpid(), kind="train")
    if checkpoint:
        (folder / "checkpoints" / "checkpoint-40").mkdir(parents=True)
        (folder / "checkpoints" / "checkpoint-40" / "config.json").write_text("{}", encoding="utf-8")
    return f"run:{folder.name}"


@pytest.mark.parametrize("checkpoint", [False, True])
def test_a_run_picked_while_it_trains_is_said_as_still_training_not_gone(checkpoint):
    """A run picked before it finished read "no longer in the workspace" after a reload: it is there, training."""
    spec = _training_run(checkpoint)
    at = opened()
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    at.session_state["chat.a.kind"] = "local"  # the run typed into the library picker (one still training is not listed)
    at.session_state["chat.a.model"] = spec
    at.run()
    assert json.loads(kept_settings.path().read_text(encoding="utf-8"))["models"]["a"]["model"] == spec
    again = opened()
    said = " ".join(w.value for w in again.warning)
    assert "no longer in the workspace" not in said
    assert "is still training" in said
    if checkpoint:  # it answers from that checkpoint: kept picked
        assert "checkpoint-40" in said
        assert again.selectbox(key="chat.a.model").value == spec
    else:
        assert "pick it when it finishes" in said
        assert again.selectbox(key="chat.a.model").value != spec


def test_a_system_prompt_typed_in_before_a_run_comes_back_after_a_reload(faults):
    """A prompt typed in, a training run picked ("As trained" stands in for it), a reload, another model picked: the
    "Helpful assistant" prompt came back, the prompt typed in lost with the session."""
    from studio.chat.trained import AS_TRAINED
    from studio.train import runs

    folder = runs.run_dir(runs.new_run_id("faq"))
    folder.mkdir(parents=True)
    runs.write_run(folder, {"name": "FAQ run", "created": runs.now_iso(), "base": "HuggingFaceTB/SmolLM2-135M-Instruct",
                            "format": "chat-template", "config": {}})
    at = opened()
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    mine = f"Answer like a pirate, in two lines. {TOKEN}"
    at.text_area(key="chat.system").set_value(mine).run()
    at.session_state["chat.a.kind"] = "local"  # the run typed into the library picker
    at.session_state["chat.a.model"] = f"run:{folder.name}"
    at.run()
    assert at.selectbox(key="chat.preset").value == AS_TRAINED
    assert TOKEN not in kept_settings.path().read_text(encoding="utf-8")

    again = opened()  # the run is not in the library (it never finished): the bundled model is picked instead
    assert again.selectbox(key="chat.preset").value != AS_TRAINED
    assert again.text_area(key="chat.system").value == mine.replace(TOKEN, "***")
    assert not again.exception


def test_a_passage_model_being_picked_comes_back_as_typed_so_far():
    """Passage mode's generative picker kept no draft: its backend and base URL typed before the model name were lost
    on a reload (the Chat picker kept them). Back as typed, through the same code, then picked."""
    from studio.ui.passage import PASSAGE

    at = opened()
    at.radio(key="chat.mode").set_value(PASSAGE).run()
    at.radio(key="chat.passage.a.task").set_value("Generative").run()
    at.selectbox(key="chat.passage.a.kind").set_value("openai").run()
    at.text_input(key="chat.passage.a.base_url").set_value("http://127.0.0.1:9/v1").run()
    assert not at.exception
    again = opened()
    assert again.radio(key="chat.mode").value == PASSAGE
    assert again.radio(key="chat.passage.a.task").value == "Generative"
    assert again.selectbox(key="chat.passage.a.kind").value == "openai"
    assert again.text_input(key="chat.passage.a.base_url").value == "http://127.0.0.1:9/v1"
    assert again.text_input(key="chat.passage.a.api_model").value == ""
    again.text_input(key="chat.passage.a.api_model").set_value("now-picked").run()
    assert opened().text_input(key="chat.passage.a.api_model").value == "now-picked"


def test_an_extractive_passage_model_keeps_no_chat_draft():
    """The draft is the chat picker's: a slot answering by an extractive model whose endpoint URL is wrong is not
    kept as the generative picker's fields (it would come back as a chat model)."""
    from studio.ui.passage import PASSAGE

    at = opened()
    at.radio(key="chat.mode").set_value(PASSAGE).run()
    at.radio(key="chat.passage.a.task").set_value("Extractive").run()
    at.selectbox(key="chat.passage.a.where").set_value("provider").run()
    at.text_input(key="chat.passage.a.hub_model").set_value("org/squad").run()
    at.text_input(key="chat.passage.a.endpoint").set_value("not a url").run()
    assert not at.exception
    kept = kept_settings.load()["models"]["passage.a"]
    assert "draft" not in kept and kept["model"] == "org/squad"  # the last extractive pick, not the chat picker's
    assert opened().radio(key="chat.passage.a.task").value == "Extractive"


def test_a_base_url_pasted_with_spaces_and_a_line_break_is_trimmed_in_the_field(faults):
    """The value used was trimmed but the field still showed the spaces and line break pasted around the URL."""
    at = opened()
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    at.text_input(key="chat.a.base_url").set_value(f"  {faults.url('good')}\r\n").run()
    assert at.text_input(key="chat.a.base_url").value == faults.url("good")
    assert opened().text_input(key="chat.a.base_url").value == faults.url("good")  # and kept so


def test_a_passage_endpoint_url_pasted_with_spaces_is_trimmed_in_the_field():
    from studio.ui.passage import PASSAGE

    at = opened()
    at.radio(key="chat.mode").set_value(PASSAGE).run()
    at.radio(key="chat.passage.a.task").set_value("Extractive").run()
    at.selectbox(key="chat.passage.a.where").set_value("provider").run()
    at.text_input(key="chat.passage.a.endpoint").set_value(" http://127.0.0.1:9/qa \n").run()
    assert at.text_input(key="chat.passage.a.endpoint").value == "http://127.0.0.1:9/qa"


def test_the_passage_and_question_come_back_after_a_reload():
    """Passage mode, a passage pasted and a question typed, a reload: both were gone (only the mode came back). A
    secret typed into the passage is written as ***; a passage past the 1,000,000-character bound is not kept."""
    from studio.models.extractive import MAX_PASSAGE_CHARS
    from studio.ui.passage import PASSAGE

    passage = f"Meu nome é Marcundes 🙂 e\u200b o token é {TOKEN}.\n" * 3
    at = opened()
    at.radio(key="chat.mode").set_value(PASSAGE).run()
    at.text_area(key="chat.passage.text").set_value(passage).run()
    at.text_input(key="chat.passage.question").set_value("Qual é o meu nome?").run()
    assert not at.exception
    assert TOKEN not in kept_settings.passage_path().read_text(encoding="utf-8")
    again = opened()
    assert again.text_area(key="chat.passage.text").value == passage.replace(TOKEN, "***")
    assert again.text_input(key="chat.passage.question").value == "Qual é o meu nome?"

    again.text_area(key="chat.passage.text").set_value("x" * (MAX_PASSAGE_CHARS + 1)).run()
    assert not again.exception
    third = opened()
    assert third.text_area(key="chat.passage.text").value == ""  # not a cut passage that would read as whole
    assert third.text_input(key="chat.passage.question").value == "Qual é o meu nome?"


def test_a_visitor_s_passage_comes_back_to_their_browser_only(monkeypatch):
    """On the public app each visitor's passage is kept in their own workspace: a reload of Alice's browser brings it
    back, Bob's never shows it."""
    from studio.ui import cloud
    from studio.ui.passage import PASSAGE
    from tests.test_tenancy import visit

    monkeypatch.setattr(cloud, "browser_secret", lambda: "alice-browser-secret-0123456789ab")
    alice = visit("pages/4_Chat.py")
    alice.radio(key="chat.mode").set_value(PASSAGE).run()
    alice.text_area(key="chat.passage.text").set_value("Alice's private passage.").run()
    alice.text_input(key="chat.passage.question").set_value("Alice's question?").run()
    assert not alice.exception
    reloaded = visit("pages/4_Chat.py")
    assert reloaded.text_area(key="chat.passage.text").value == "Alice's private passage."
    monkeypatch.setattr(cloud, "browser_secret", lambda: "bob-browser-secret-0123456789abcd")
    bob = visit("pages/4_Chat.py")
    bob.radio(key="chat.mode").set_value(PASSAGE).run()
    assert bob.text_area(key="chat.passage.text").value == "" and bob.text_input(key="chat.passage.question").value == ""


@pytest.mark.parametrize(("slots", "why"), [
    ({"a": {"kind": "openai", "model": "model\tA", "base_url": "http://127.0.0.1:9/v1"}},
     "The first model that was picked last was not picked again. The model name 'model\\tA' holds a control character"),
    ({"a": {"kind": "openai", "model": "m" * 1_001, "base_url": "http://127.0.0.1:9/v1"}},
     "The first model that was picked last was not picked again. The model name is 1,001 characters, more than the "
     "1,000 a model name may hold"),
    ({"b": {"kind": "openai", "model": "model-b", "base_url": "http://127.0.0.1:9/v1?" + "q" * 2_048}},
     "The second model that was picked last was not picked again. The base URL is 2,070 characters, more than the "
     "2,048 a base URL may hold"),
])
def test_a_kept_model_the_sidebar_now_refuses_is_said_in_one_line_and_the_rest_comes_back(slots, why):
    """Settings kept by an older studio, with a model name or URL the sidebar now refuses (a tab, past its cap): the
    model came back at its default without a word. One warning says which and why; the other settings come back."""
    kept_settings.path().parent.mkdir(parents=True, exist_ok=True)
    good = {"a": {"kind": "provider", "model": "org/model-a", "provider": "together"}}
    kept_settings.path().write_text(json.dumps({"temperature": 0.7, "compare": True, "system": "Be brief.",
                                                "models": {**good, **slots}}), encoding="utf-8")
    at = opened()
    (line,) = [w.value for w in at.warning]
    assert line.startswith(why) and "\n" not in line
    assert at.slider(key="chat.temperature").value == 0.7 and at.text_area(key="chat.system").value == "Be brief."
    assert at.toggle(key="chat.compare").value is True
    if "a" not in slots:  # the first one, kept as it was
        assert at.text_input(key="chat.a.hub_model").value == "org/model-a"
    at.run()
    assert not at.warning  # said once
    assert not opened().warning  # and not again in the next session


def test_a_kept_passage_model_the_sidebar_now_refuses_is_said_in_passage_mode():
    from studio.ui.passage import PASSAGE

    kept_settings.path().parent.mkdir(parents=True, exist_ok=True)
    kept_settings.path().write_text(json.dumps({"mode": PASSAGE, "models": {"passage.a": {
        "kind": "provider", "model": "org/squad\x1b[31m", "task": "extractive"}}}), encoding="utf-8")
    at = opened()
    (line,) = [w.value for w in at.warning]
    assert line.startswith("The first model that was picked last was not picked again. The model name "
                           "'org/squad\\x1b") and "holds a control character" in line


def test_the_timeout_box_refuses_a_number_out_of_range_in_one_line():
    """Timeout (s) had the browser's bounds: -1 stayed red in the box and answers waited the last valid timeout."""
    at = opened()
    box = at.number_input(key="chat.timeout")
    assert (box.min, box.max) == (None, None)
    box.set_value(-1).run()
    assert not at.exception
    assert "Timeout -1 s is out of range: use 5 to 600." in [e.value for e in at.error]
    at.number_input(key="chat.timeout").set_value(45).run()
    assert not [e for e in at.error if "Timeout" in e.value]


@pytest.mark.parametrize("typed", [
    {"kind": "provider", "model": "org/model", "provider": "p" * 5_000},
    {"kind": "provider", "model": "m" * 1_001},
    {"kind": "openai", "base_url": "http://127.0.0.1:9/v1/" + "x" * 5_000},
    {"kind": "local", "model": "org/" + "m" * 5_000},
])
def test_a_model_refused_for_its_length_is_not_kept_the_last_good_one_is(typed):
    """A provider or model name the page refuses for its length (one line under the box, no asking) was still written
    with the settings, all 5,000 characters, read at each run and brought back into the box by a reload. The slot's
    model kept before stays kept; the paste is not written."""
    from studio.chat.base import BackendSpec, ChatParams

    good = BackendSpec(kind="openai", model="served", base_url="http://127.0.0.1:9/v1")
    kept_settings.save(ChatParams(), "", "", models={"a": good})
    kept_settings.save(ChatParams(), "", "", models={"a": kept_settings.draft(typed)})
    assert kept_settings.load()["models"]["a"] == kept_settings._fields(good)
    assert "x" * 1_000 not in kept_settings.path().read_text(encoding="utf-8").replace("p", "x").replace("m", "x")
    kept_settings.save(ChatParams(), "", "", models={"a": kept_settings.draft({"kind": typed["kind"]})})
    assert kept_settings.load()["models"]["a"]["draft"] is True  # a draft within the caps is kept as typed so far
