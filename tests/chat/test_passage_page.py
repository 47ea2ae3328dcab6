"""The Chat page's "question over a passage" mode through AppTest: a local extractive model beside a
generative one, a dataset record's context, the hosted extractive service (its loopback stand-in),
refusals and one-line errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from chat_servers import SLOW_ANSWER, FaultServer, QAServer
from qa_models import NAME, QUESTION
from streamlit.testing.v1 import AppTest

from studio.chat import passage
from studio.data import store
from studio.data.display import highlighted_block
from studio.ui.passage import PASSAGE, RUN, window

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "pages" / "4_Chat.py")
CONTEXT = f"Meu nome é {NAME} e estou gravando uma aula sobre <Hugging Face> & *modelos*."
MARKED = f"<mark>{NAME}</mark>"


@pytest.fixture(scope="module")
def qa_server():
    with QAServer().running() as server:
        yield server


def page(**state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["chat.mode"] = PASSAGE
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception
    return at


def ask(at: AppTest, context: str, question: str = QUESTION, wait: float = 120) -> None:
    at.text_area(key="chat.passage.text").set_value(context)
    at.text_input(key="chat.passage.question").set_value(question)
    at.button(key="chat.passage.ask").click().run()
    deadline = time.time() + wait
    while at.session_state[RUN] and any(not t.done for t in at.session_state[RUN]["tasks"]) and time.time() < deadline:
        assert at.button(key="chat.passage.ask").disabled  # no second question while one is answered
        time.sleep(0.2)
        at.run()
    at.run()
    assert not at.exception


def highlighted(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if "<mark>" in m.value]


def test_every_piece_of_a_highlighted_passage_is_escaped():
    text = "<img src=x> [link](http://a.b)\n\nMeu nome é Marcundes & *co*"
    start = text.index(NAME)
    block = highlighted_block(passage.segments(text, start, start + len(NAME)))
    assert block.count("<mark>") == 1 and f"<mark>{NAME}</mark>" in block
    assert "&lt;img src=x&gt;" in block and "<img" not in block and "\n" not in block  # no blank line ends the block
    assert highlighted_block(passage.segments(text, None, None)).count("<mark>") == 0  # not found: nothing marked


def test_a_local_extractive_model_beside_a_generative_one(trained_qa: Path, tiny_gpt2: Path, offline):
    at = page(**{"chat.passage.a.qa_model": str(trained_qa), "chat.compare": True,
                 "chat.passage.b.model": str(tiny_gpt2)})
    at.slider(key="chat.max_new_tokens").set_value(16).run()
    ask(at, CONTEXT)
    first, second = at.session_state[RUN]["tasks"]
    assert first.state == "done" and first.result.text == NAME, first.error
    assert second.state == "done" and not second.result.extractive, second.error
    marked = highlighted(at)
    assert len(marked) == 1 and MARKED in marked[0]  # the span, inside the passage
    assert "&lt;Hugging Face&gt; &amp; *modelos*" in marked[0]  # the rest of the passage escaped, never markup
    captions = [c.value for c in at.caption]
    assert any(c.startswith("score 0.") for c in captions)
    assert any(("not found in the passage" in c) or ("found in the passage" in c) for c in captions)
    assert not at.button(key="chat.passage.ask").disabled


def test_an_empty_passage_is_refused_in_one_line(trained_qa: Path, offline):
    at = page(**{"chat.passage.a.qa_model": str(trained_qa)})
    at.text_input(key="chat.passage.question").set_value(QUESTION)
    at.button(key="chat.passage.ask").click().run()
    assert [e.value for e in at.error] == ["The passage is empty: paste the text the question is about."]
    assert at.session_state[RUN] is None  # nothing was sent


def test_picking_a_record_fills_the_passage_and_the_question(offline):
    store.create_dataset("Aulas", [{"question": "No context here", "answer": "x"},
                                   {"question": QUESTION, "answer": NAME, "context": CONTEXT}])
    at = page()
    record = at.selectbox(key="chat.passage.record")
    assert record.options == [f"1. {QUESTION}"]  # only the records with a context
    record.set_value(0).run()
    assert at.text_area(key="chat.passage.text").value == CONTEXT
    assert at.text_input(key="chat.passage.question").value == QUESTION


def test_the_hosted_extractive_model_and_a_failing_one_side_by_side(qa_server: QAServer, offline):
    at = page(**{"chat.compare": True, "chat.passage.a.where": "provider", "chat.passage.b.task": "Extractive",
                 "chat.passage.b.where": "provider", "auth.hf_token": "hf_passagepagesecret123"})
    at.text_input(key="chat.passage.a.endpoint").set_value(qa_server.url("qa")).run()
    at.text_input(key="chat.passage.b.endpoint").set_value(qa_server.url("unauthorized")).run()
    ask(at, CONTEXT)
    assert MARKED in highlighted(at)[0]
    assert any(c.value.startswith("score 0.97") for c in at.caption)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "rejected (401)" in errors[0]  # the other model's answer is still shown
    assert all("authorization" not in h for h in qa_server.headers[-2:])  # the HF token never went to that URL


def test_api_mode_offers_no_local_extractive_model(api_mode):
    at = page()
    assert at.selectbox(key="chat.passage.a.where").options == ["Hugging Face Inference Providers"]


def test_stop_ends_a_hosted_answer_that_is_still_loading_without_an_error(qa_server: QAServer, offline):
    at = page(**{"chat.passage.a.where": "provider"})
    at.text_input(key="chat.passage.a.endpoint").set_value(qa_server.url("qa_warming")).run()
    at.text_area(key="chat.passage.text").set_value(CONTEXT)
    at.text_input(key="chat.passage.question").set_value(QUESTION)
    before = len(qa_server.bodies)
    at.button(key="chat.passage.ask").click().run()
    deadline = time.time() + 10
    while len(qa_server.bodies) == before and time.time() < deadline:  # answered "loading, come back in 20 s"
        time.sleep(0.1)
    tries = len(qa_server.bodies)
    at.button(key="chat.passage.stop").click().run()
    task = at.session_state[RUN]["tasks"][0]
    deadline = time.time() + 10
    while not task.done and time.time() < deadline:
        time.sleep(0.1)
    at.run()
    assert not at.exception and task.state == "stopped"
    assert [e.value for e in at.error] == []  # a stop the user asked for is not an error
    assert "Stopped before the service answered." in [c.value for c in at.caption]
    assert len(qa_server.bodies) == tries  # nothing was sent after the stop
    assert not at.button(key="chat.passage.ask").disabled


def _asked_generative(url: str):
    """The passage page with slot A a generative model at the OpenAI-compatible ``url``, the passage and question
    typed and Ask pressed."""
    at = page(**{"chat.passage.a.task": "Generative", "chat.passage.a.kind": "openai"})
    at.text_input(key="chat.passage.a.base_url").set_value(url).run()
    at.text_input(key="chat.passage.a.api_model").set_value("m").run()
    at.text_area(key="chat.passage.text").set_value(CONTEXT)
    at.text_input(key="chat.passage.question").set_value(QUESTION)
    return at.button(key="chat.passage.ask").click().run()


def test_stop_ends_a_generative_answer_from_a_server_that_stalls(offline):
    """Stop left a generative answer "Answering…" while its server trickled nothing useful, until the timeout: the
    stop never reached the stream. It ends at once, the server's connection closed, and Ask is back."""
    with FaultServer().running() as server:
        at = _asked_generative(server.url("hold"))
        deadline = time.time() + 10
        while not server.hits["hold"] and time.time() < deadline:
            time.sleep(0.1)
        at.button(key="chat.passage.stop").click().run()
        task = at.session_state[RUN]["tasks"][0]
        deadline = time.time() + 10
        while not (task.done and server.dropped["hold"]) and time.time() < deadline:
            time.sleep(0.1)
        at.run()
        assert not at.exception and task.state == "stopped" and server.dropped["hold"] == 1
        assert [e.value for e in at.error] == []  # a stop the user asked for is not an error
        assert "Stopped before the first token: no answer." in [c.value for c in at.caption]
        assert not at.button(key="chat.passage.ask").disabled


def test_stop_mid_answer_keeps_what_a_generative_model_had_said(offline):
    """Stop while a generative answer over a passage streamed: the card read "Stopped before the answer finished." and
    the words that had come were gone, where a conversation keeps them. They stay, said to be stopped."""
    with FaultServer().running() as server:
        at = _asked_generative(server.url("slow"))
        task = at.session_state[RUN]["tasks"][0]
        deadline = time.time() + 30
        while task.stats.tokens < 2 and time.time() < deadline:  # its first words came (one every 0.4 s)
            time.sleep(0.1)
        at.run()  # they show in the card as they stream (it read "Answering…" until the answer had ended)
        assert any(">Uma partida" in m.value for m in at.markdown) and "Answering…" not in [c.value for c in at.caption]
        at.button(key="chat.passage.stop").click().run()
        deadline = time.time() + 10
        while not task.done and time.time() < deadline:
            time.sleep(0.1)
        at.run()
        assert not at.exception and task.state == "stopped" and [e.value for e in at.error] == []
        said = [m.value for m in at.markdown if ">Uma partida" in m.value]  # its words, as literal text
        assert len(said) == 1 and SLOW_ANSWER not in said[0], said  # ... up to where it was stopped
        assert any(c.value.endswith(" · stopped") for c in at.caption), [c.value for c in at.caption]
        assert not at.button(key="chat.passage.ask").disabled


def test_a_hosted_extractive_model_without_a_token_says_where_to_set_one(offline, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    at = page(**{"chat.passage.a.where": "provider"})
    ask(at, CONTEXT)
    assert [e.value for e in at.error] == ["Hugging Face Inference Providers need a token: give it in the sidebar's "
                                           "Hugging Face token field, or set HF_TOKEN in secrets or the environment "
                                           "(the command line reads the environment)."]
    assert at.session_state[RUN]["tasks"][0].state == "failed"


def test_a_passage_above_the_bound_is_refused_in_one_line_and_stays_in_its_box(trained_qa: Path, offline):
    """A passage over 1,000,000 characters is said in one line under its box as soon as it is there, Ask is off, and
    the box keeps it whole for the user to cut: the box took one character past the bound (its counter read
    1,000,001) and a browser dropped a longer paste with no word."""
    from studio.models import extractive

    at = page(**{"chat.passage.a.qa_model": str(trained_qa)})
    huge = "w " * 600_000
    at.text_area(key="chat.passage.text").set_value(huge).run()
    assert [e.value for e in at.error] == ["The passage is 1,200,000 characters, more than the 1,000,000 a passage "
                                           "may hold: keep only the part the question is about."]
    assert at.button(key="chat.passage.ask").disabled  # the line above says why
    assert at.text_area(key="chat.passage.text").value == huge  # whole, not cut at the box's bound
    at.text_input(key="chat.passage.question").set_value(QUESTION).run()
    assert at.session_state[RUN] is None  # nothing was sent
    at.text_area(key="chat.passage.text").set_value(huge[:extractive.MAX_PASSAGE_CHARS]).run()
    assert not at.error and not at.button(key="chat.passage.ask").disabled  # cut to the bound: it can be asked


def test_a_question_above_the_bound_is_refused_in_one_line_and_stays_in_its_box(trained_qa: Path, offline):
    """Conversation mode refuses a question over 1,000,000 characters; passage mode bounded the passage only, and a
    passage pasted into the question's box was sent to every model picked. Both modes say it in one text (they said
    it in two wordings)."""
    from studio.models import extractive

    at = page(**{"chat.passage.a.qa_model": str(trained_qa)})
    at.text_area(key="chat.passage.text").set_value("The match lasts ninety minutes.")
    huge = "w " * 600_000
    at.text_input(key="chat.passage.question").set_value(huge)
    at.button(key="chat.passage.ask").click().run()
    assert [e.value for e in at.error] == [
        "The question is 1,200,000 characters, more than the 1,000,000 a question may hold (no model reads that "
        "much): keep only the part it is about."]
    assert extractive.question_too_long(huge) in at.error[0].value
    assert at.session_state[RUN] is None  # nothing was sent
    assert at.text_input(key="chat.passage.question").value == huge  # the typed text is not lost, nor cut


def test_offline_without_an_extractive_model_it_starts_generative_and_says_why_ask_is_off(offline, monkeypatch):
    from studio.models import bundled, loading

    monkeypatch.setattr(loading, "hub_reachable", lambda: False)  # offline, nothing in the Hub cache
    at = page()
    assert at.radio(key="chat.passage.a.task").value == "Generative"  # what can answer here
    if bundled.gguf_path() is not None:
        assert at.selectbox(key="chat.passage.a.model").value == bundled.SPEC
        assert not at.button(key="chat.passage.ask").disabled
    at.radio(key="chat.passage.a.task").set_value("Extractive").run()
    assert at.button(key="chat.passage.ask").disabled
    (line,) = [c.value for c in at.caption if c.value.startswith("Ask is off")]
    assert line.startswith("Ask is off: the first model is not set. No extractive model: ") and "cannot be downloaded" in line
    assert line.endswith(".") and not line.endswith("..") and ")." not in line[-3:]


def test_a_generative_model_s_bad_base_url_is_said_beside_a_disabled_ask(offline):
    """The line beside a disabled Ask said only "its settings have an error (see the sidebar)": it says what is wrong,
    as conversation mode's line does, and the URL typed stays in its field."""
    at = page(**{"chat.passage.a.task": "Generative", "chat.passage.a.kind": "openai"})
    at.text_input(key="chat.passage.a.api_model").set_value("m").run()
    at.text_input(key="chat.passage.a.base_url").set_value("localhost:8000/v1").run()
    assert at.button(key="chat.passage.ask").disabled and not at.exception
    (line,) = [c.value for c in at.caption if c.value.startswith("Ask is off")]
    assert line.startswith("Ask is off: the first model is not set. The base URL must start with http") \
        and line.endswith("not 'localhost:8000/v1'.")  # two sentences: it read "... not set (The base URL ...)."
    assert at.text_input(key="chat.passage.a.base_url").value == "localhost:8000/v1"
    at.text_input(key="chat.passage.a.base_url").set_value("http://localhost:8000/v1").run()
    assert not at.button(key="chat.passage.ask").disabled
    assert not [c for c in at.caption if c.value.startswith("Ask is off")]


def test_the_second_model_stays_what_was_chosen(tiny_gpt2: Path, offline):
    at = page(**{"chat.compare": True, "chat.passage.b.model": str(tiny_gpt2)})  # a folder typed into the picker
    assert at.selectbox(key="chat.passage.b.model").value == str(tiny_gpt2)
    at.toggle(key="chat.compare").set_value(False).run()  # the second picker is hidden...
    at.radio(key="chat.mode").set_value("Conversation").run()
    at.radio(key="chat.mode").set_value(PASSAGE).run()
    at.toggle(key="chat.compare").set_value(True).run()  # ...and back: the same model, not the default
    assert at.selectbox(key="chat.passage.b.model").value == str(tiny_gpt2)


def test_an_answer_shows_its_span_in_context_not_the_whole_passage_again(qa_server: QAServer, offline):
    filler = "Uma frase longa sobre outra coisa qualquer. " * 40
    context = f"{filler}Meu nome é {NAME} e gravo aulas. {filler}"
    at = page(**{"chat.passage.a.where": "provider"})
    at.text_input(key="chat.passage.a.endpoint").set_value(qa_server.url("qa")).run()
    ask(at, context)
    (block,) = highlighted(at)
    assert MARKED in block and block.count("<mark>") == 1
    assert len(block) < len(context) / 3 and "… " in block and " …" in block  # the span in its sentence or so
    text, start, end = window(context, context.index(NAME), context.index(NAME) + len(NAME))
    assert text[start:end] == NAME and text.startswith("… ") and text.endswith(" …")
    assert window("Short.", 0, 5) == ("Short.", 0, 5)  # a short passage: all of it, nothing cut


def test_the_passage_and_its_models_stay_as_set_after_a_visit_to_another_page(trained_qa: Path, offline):
    from tests.conftest import back_from_another_page

    at = page(**{"chat.compare": True, "chat.passage.a.task": "Extractive", "chat.passage.b.task": "Extractive",
                 "chat.passage.a.qa_model": str(trained_qa)})  # a folder typed into the picker
    at.selectbox(key="chat.passage.b.where").set_value("provider").run()
    at.text_input(key="chat.passage.b.hub_model").set_value("my-org/my-qa").run()
    at.selectbox(key="chat.passage.b.provider").set_value("together").run()
    at.text_input(key="chat.passage.b.endpoint").set_value("http://127.0.0.1:9/qa").run()
    at.text_area(key="chat.passage.text").set_value(CONTEXT).run()
    at.text_input(key="chat.passage.question").set_value(QUESTION).run()
    back = back_from_another_page(at)
    assert not back.exception
    assert back.radio(key="chat.mode").value == PASSAGE  # not back in the conversation
    assert back.radio(key="chat.passage.a.task").value == "Extractive"
    assert back.selectbox(key="chat.passage.a.where").value == "local"
    assert back.selectbox(key="chat.passage.a.qa_model").value == str(trained_qa)
    assert back.radio(key="chat.passage.b.task").value == "Extractive"  # the second model starts generative
    assert back.selectbox(key="chat.passage.b.where").value == "provider"
    assert back.text_input(key="chat.passage.b.hub_model").value == "my-org/my-qa"
    assert back.selectbox(key="chat.passage.b.provider").value == "together"
    assert back.text_input(key="chat.passage.b.endpoint").value == "http://127.0.0.1:9/qa"
    assert back.text_area(key="chat.passage.text").value == CONTEXT
    assert back.text_input(key="chat.passage.question").value == QUESTION


def test_the_dataset_and_record_picked_stay_after_a_visit_to_another_page(offline):
    """The Dataset and Record pickers came back on the first dataset and no record, beside the passage they filled."""
    from tests.conftest import back_from_another_page

    for name in ("Aulas", "Second"):
        store.create_dataset(name, [{"question": "What is it?", "answer": "A ball.", "context": "It is a ball."},
                                    {"question": QUESTION, "answer": NAME, "context": CONTEXT}])
    at = page()
    assert at.selectbox(key="chat.passage.dataset").index == 0
    second = 1  # the dataset not shown first
    at.selectbox(key="chat.passage.dataset").select_index(second).run()
    at.selectbox(key="chat.passage.record").set_value(1).run()
    assert at.text_area(key="chat.passage.text").value == CONTEXT
    back = back_from_another_page(at)
    assert not back.exception
    assert back.selectbox(key="chat.passage.dataset").index == second
    assert back.selectbox(key="chat.passage.record").value == 1
    assert back.text_area(key="chat.passage.text").value == CONTEXT
    # Another dataset picked then: no record of it is shown as picked (its passage was never filled).
    back.selectbox(key="chat.passage.dataset").select_index(0).run()
    record = back.selectbox(key="chat.passage.record")
    assert record.value is None
    # ...and the browser is told so: the widget is the same by its key, so without a value set through session state
    # Chromium kept showing the other dataset's record in the box (what set_value carries to the page).
    assert record.proto.set_value and not record.proto.HasField("raw_value")


def test_a_restart_brings_back_the_passage_models_picked_last(qa_server: QAServer, offline):
    """Passage mode's models came back at their defaults after a reload or a restart (only conversation mode's were
    restored): a hosted extractive model with its endpoint, and a generative second one, are picked again."""
    at = page(**{"chat.compare": True, "chat.passage.a.where": "provider"})
    at.text_input(key="chat.passage.a.hub_model").set_value("org/my-squad").run()
    at.text_input(key="chat.passage.a.endpoint").set_value(qa_server.url("qa")).run()
    at.radio(key="chat.passage.b.task").set_value("Generative").run()
    at.selectbox(key="chat.passage.b.kind").set_value("openai").run()
    at.text_input(key="chat.passage.b.base_url").set_value("http://127.0.0.1:9/v1").run()
    at.text_input(key="chat.passage.b.api_model").set_value("model-b").run()
    assert not at.exception

    again = page()  # a new session: the studio restarted, the same workspace
    assert again.toggle(key="chat.compare").value is True
    assert again.radio(key="chat.passage.a.task").value == "Extractive"
    assert again.selectbox(key="chat.passage.a.where").value == "provider"
    assert again.text_input(key="chat.passage.a.hub_model").value == "org/my-squad"
    assert again.text_input(key="chat.passage.a.endpoint").value == qa_server.url("qa")
    assert again.radio(key="chat.passage.b.task").value == "Generative"
    assert again.selectbox(key="chat.passage.b.kind").value == "openai"
    assert again.text_input(key="chat.passage.b.base_url").value == "http://127.0.0.1:9/v1"
    assert again.text_input(key="chat.passage.b.api_model").value == "model-b"


def test_a_passage_model_picked_last_that_is_gone_is_said_in_one_line(offline):
    import json

    from studio.chat import kept_settings

    kept_settings.path().parent.mkdir(parents=True, exist_ok=True)
    kept_settings.path().write_text(json.dumps({"models": {
        "passage.a": {"kind": "local", "model": "run:20260101-000000-gone", "task": "chat"}}}), encoding="utf-8")
    at = page()
    assert sum("no longer in the workspace" in w.value for w in at.warning) == 1
    assert not at.exception


def test_a_passage_model_picked_while_it_trains_is_said_as_still_training(offline):
    """A run picked before it finished read "no longer in the workspace" after a reload: it is there, training, and
    answers from its newest checkpoint meanwhile (kept picked)."""
    import json
    import os

    from studio import jobs
    from studio.chat import kept_settings
    from studio.train import runs

    folder = runs.run_dir(runs.new_run_id("faq"))
    (folder / "checkpoints" / "checkpoint-8").mkdir(parents=True)
    (folder / "checkpoints" / "checkpoint-8" / "config.json").write_text("{}", encoding="utf-8")
    runs.write_run(folder, {"name": "FAQ run", "created": runs.now_iso(), "base": "org/base", "config": {}})
    jobs.update_status(folder, state="running", pid=os.getpid(), kind="train")  # this process stands in for its worker
    kept_settings.path().parent.mkdir(parents=True, exist_ok=True)
    kept_settings.path().write_text(json.dumps({"mode": PASSAGE, "models": {
        "passage.a": {"kind": "local", "model": f"run:{folder.name}", "task": "chat"}}}), encoding="utf-8")
    at = AppTest.from_file(PAGE, default_timeout=30)  # a reloaded tab: the mode comes back from the settings too
    at.run()
    said = " ".join(w.value for w in at.warning)
    assert "no longer in the workspace" not in said and "is still training" in said and "checkpoint-8" in said
    assert at.radio(key="chat.mode").value == PASSAGE
    assert at.selectbox(key="chat.passage.a.model").value == f"run:{folder.name}"
    assert not at.exception


def test_a_generative_answer_cut_at_max_new_tokens_says_so_under_it(offline):
    """A generative answer over a passage that stopped at Max new tokens ended mid-sentence with nothing saying so (the
    conversation's "Cut at N new tokens" line was missing in this mode): it is said under the answer, as there."""
    with FaultServer().running() as server:
        at = page(**{"chat.passage.a.task": "Generative", "chat.passage.a.kind": "openai"})
        at.text_input(key="chat.passage.a.base_url").set_value(server.url("length")).run()
        at.text_input(key="chat.passage.a.api_model").set_value("m").run()
        ask(at, CONTEXT)
        n = at.session_state["chat.max_new_tokens"]
        assert [e.value for e in at.error] == []
        assert any("A match has two halves of" in m.value for m in at.markdown)
        cut = [c.value for c in at.caption if "Cut at" in c.value]
        assert cut == [f":material/content_cut: Cut at {n} new tokens: raise Max new tokens to see more."], cut


def test_an_answer_that_waited_for_its_model_says_so_as_a_conversation_s_does():
    """Compare mode with one local model on both sides: the second answer waits for the first, its seconds counted
    from when it got the model (two cards read 44.74 s and 27.46 s), the wait said nowhere in passage mode."""
    from studio.chat import StreamStats
    from studio.ui.passage import _caption

    stats = StreamStats(started=100.0, ended=127.5, tokens=17, waited_s=17.3)
    said = _caption(passage.PassageAnswer("Ninety minutes.", 16, 30, None, False, "m", stats))
    assert said == "found in the passage · 27.50 s · 17 tokens · waited 17 s for the model"
    stats.waited_s = 0.2  # a moment's wait is none
    assert "waited" not in _caption(passage.PassageAnswer("Ninety minutes.", 16, 30, None, False, "m", stats))



def test_a_local_extractive_model_whose_config_is_damaged_is_said_as_such(trained_qa: Path, tmp_path, offline):
    """A setting of the wrong type in the model's config.json: the answer read 'The answer from … failed unexpectedly
    (Validation error …): try again, and if it happens again, please report it.' (the real input that reaches
    PassageTask.failure_message); it is the loader's line now."""
    import json
    import shutil

    folder = tmp_path / "damaged-qa"
    shutil.copytree(trained_qa, folder)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "hidden_size": "x"}))
    at = page(**{"chat.passage.a.qa_model": str(folder)})
    ask(at, CONTEXT)
    (task,) = at.session_state[RUN]["tasks"]
    assert task.state == "failed" and "unexpectedly" not in task.error
    assert task.error.startswith(f"The config.json of {folder} is damaged (Field 'hidden_size' expected int"), task.error


@pytest.mark.parametrize("kind", ["generative", "extractive"])
def test_a_card_waiting_for_its_model_says_so_as_a_conversation_does(kind, tiny_gpt2: Path, trained_qa: Path, offline):
    """Compare mode with one local model on both sides: the card whose answer waited for the other's model read
    "Answering…" all along, where a conversation says "Waiting for this model: ..."; it now says the same, with the
    seconds it has waited, and answers once the model is free. An extractive model shared by two cards read
    "Answering…" while it waited, after the generative one said it (its wait was a plain lock)."""
    from studio.models import cache
    from studio.models.spec import parse_spec

    if kind == "generative":
        at, spec = page(**{"chat.passage.a.task": "Generative", "chat.passage.a.model": str(tiny_gpt2)}), str(tiny_gpt2)
    else:
        at, spec = page(**{"chat.passage.a.qa_model": str(trained_qa)}), str(parse_spec(str(trained_qa)).as_qa())
    lock = cache.model_lock(cache.shared().get(spec).model)  # the other answer, holding the model
    lock.acquire()
    try:
        at.text_area(key="chat.passage.text").set_value(CONTEXT)
        at.text_input(key="chat.passage.question").set_value(QUESTION)
        at.button(key="chat.passage.ask").click().run()
        deadline = time.time() + 60
        while not [c for c in at.caption if "Waiting for this model" in c.value] and time.time() < deadline:
            time.sleep(0.2)
            at.run()
        said = [c.value for c in at.caption if "Waiting for this model" in c.value]
        assert len(said) == 1 and said[0].startswith(":material/hourglass_top: Waiting for this model: another answer "
                                                     "is using it") and said[0].endswith(" s so far."), said
        assert "Answering…" not in [c.value for c in at.caption]
    finally:
        lock.release()
    task = at.session_state[RUN]["tasks"][0]
    deadline = time.time() + 120
    while not task.done and time.time() < deadline:
        time.sleep(0.2)
    at.run()
    assert task.state == "done" and not [c for c in at.caption if "Waiting for this model" in c.value]


def test_compare_mode_s_second_generative_model_is_another_than_the_first(tiny_gpt2: Path, offline):
    """Two generative models over a passage with a run in the workspace: the second opened on the first's own model
    (the bundled one on both sides, one model compared with itself). It is the newest run trained from the first now,
    as in a conversation's compare mode; beside an extractive first it stays the usual default."""
    import shutil

    from studio.models import bundled
    from studio.train import runs

    folder = runs.run_dir(runs.new_run_id("soccer"))
    folder.mkdir(parents=True)
    runs.write_run(folder, {"name": "soccer", "created": "2026-12-07T10:00:00+00:00", "base": bundled.BUNDLED_ID,
                            "method": "full", "format": "chat-template", "config": {}})
    shutil.copytree(tiny_gpt2, folder / "model")
    at = page(**{"chat.compare": True, "chat.passage.a.task": "Generative"})
    assert at.selectbox(key="chat.passage.a.model").value == bundled.SPEC
    assert at.selectbox(key="chat.passage.b.model").value == f"run:{folder.name}"
    at = page(**{"chat.compare": True, "chat.passage.a.task": "Extractive"})
    assert at.selectbox(key="chat.passage.b.model").value == bundled.SPEC


def test_a_passage_answer_s_retries_read_as_a_conversation_s_do():
    """A hosted answer that came after one retry read "1 retries" under it; now "1 retry", and "3 retries", in the
    words of a conversation's stats line."""
    from studio.chat import StreamStats
    from studio.ui.passage import _caption

    stats = StreamStats(started=100.0, ended=102.0, retries=1)
    said = _caption(passage.PassageAnswer("Ninety", 16, 22, 0.9, True, "m", stats))
    assert said == "score 0.90 · 2.00 s · 1 retry" and stats.summary().endswith("1 retry")
    stats.retries = 3
    assert _caption(passage.PassageAnswer("Ninety", 16, 22, 0.9, True, "m", stats)).endswith(" · 3 retries")


def test_a_local_extractive_model_typed_past_a_path_s_length_is_said_and_ask_is_off(offline):
    """The Extractive model box takes any typed spec (a selectbox has no max_chars): a 5,000-character paste was asked,
    each answer failing on the loader's line; it is said where it is picked, Ask off, the spec kept as typed."""
    pasted = "x" * 5_000
    at = page(**{"chat.passage.a.kept_qa_model": pasted})
    assert at.button(key="chat.passage.ask").disabled and not at.exception
    assert any(f"is too long for a Hub id, a folder or a run ({len(pasted):,} characters)" in e.value for e in at.error)
    assert at.selectbox(key="chat.passage.a.qa_model").value == pasted


def test_stop_while_the_model_loads_says_so_and_asks_it_nothing(monkeypatch):
    """Stop pressed while a passage's model still loaded: once the load ended the model was asked anyway, and the card
    said "Stopped before the first token: no answer." as if it had been. It is not asked, and the card says it was
    stopped while the model loaded. The backend is a stand-in, so the load can be held open."""
    import threading

    from studio.chat import BackendSpec, ChatParams
    from studio.errors import CancelledError
    from studio.ui.passage import PassageTask

    loading, loaded, asked = threading.Event(), threading.Event(), []

    class Backend:
        extractive = False

        def answer(self, question, context, params, *, stop=None, stats=None, on_piece=None):
            asked.append(question)
            raise CancelledError("Stopped before the first token: no answer.")

    def make(spec, token, system=""):
        loading.set()
        loaded.wait(10)
        return Backend()

    monkeypatch.setattr(passage, "make_passage_backend", make)
    task = PassageTask(BackendSpec(kind="local", model="m"), None, "", "Who?", "Ana.", ChatParams()).start()
    assert loading.wait(10)
    task.cancel()
    loaded.set()
    task.join(10)
    assert task.state == "stopped" and task.result is None and asked == []
    assert task.error == "Stopped while the model loaded: no answer."
