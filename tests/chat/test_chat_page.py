"""The Chat page through Streamlit's AppTest: API and local backends, compare mode, errors, export."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from chat_servers import GOOD_ANSWER, FaultServer, free_port, stop
from streamlit.testing.v1 import AppTest

from studio.chat import export_json
from studio.data.display import NO_LINK
from studio.errors import BackendError
from studio.ui import chat_settings

REPO = Path(__file__).resolve().parents[2]
PAGE = str(REPO / "pages" / "4_Chat.py")


@pytest.fixture(scope="module")
def faults():
    with FaultServer().running() as fs:
        yield fs


def page(**state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=30)
    for key, value in state.items():  # what a person typed or chose before (a spec typed into the picker)
        at.session_state[key] = value
    at.run()
    assert not at.exception
    return at


def use_api(at: AppTest, url: str, slot: str = "a", model: str = "m") -> None:
    at.selectbox(key=f"chat.{slot}.kind").set_value("openai").run()
    at.text_input(key=f"chat.{slot}.base_url").set_value(url).run()
    at.text_input(key=f"chat.{slot}.api_model").set_value(model).run()


def send(at: AppTest, text: str, wait: float = 60) -> None:
    at.chat_input(key="chat.input").set_value(text).run()
    deadline = time.time() + wait
    while at.session_state["chat.jobs"] and time.time() < deadline:
        assert at.chat_input(key="chat.input").disabled  # no new question while an answer streams
        time.sleep(0.2)
        at.run()
    assert not at.session_state["chat.jobs"], "the answer never finished"
    assert not at.exception


def test_streamed_answer_lands_in_the_history_with_its_timing(faults):
    at = page()
    use_api(at, faults.url("good"))
    send(at, "Como estás?")
    turns = at.session_state["chat.messages"]
    assert [t["role"] for t in turns] == ["user", "assistant"]
    assert turns[1]["content"] == "".join(GOOD_ANSWER) and "first token" in turns[1]["stats"]
    assert any("".join(GOOD_ANSWER) in m.value for m in at.markdown)
    assert not at.chat_input(key="chat.input").disabled


def test_an_answer_stopped_before_its_first_token_says_so_without_a_count(faults):
    """Stop pressed while the server had said nothing yet: nothing happened until the request's timeout, then
    "Cannot reach ..." came; an answer stopped before any token read "0 tokens · stopped". Now Stop ends it at
    once and the line says it was stopped before any answer."""
    at = page()
    use_api(at, faults.url("silent"))
    at.chat_input(key="chat.input").set_value("Are you there?").run()
    assert at.button(key="chat.stop")
    stop(at)
    captions = [c.value for c in at.caption]
    assert "Stopped before the first token: no answer." in captions
    assert not any("0 tokens" in c for c in captions)
    assert not at.chat_input(key="chat.input").disabled and not at.exception


def test_an_answer_that_ends_just_after_the_page_looked_for_it_is_shown_without_a_click(faults, monkeypatch):
    """An answer that ended between the page's collecting of finished answers and its drawing of the input: the input
    was drawn on with no poller left, and the answer stayed out of the conversation until the visitor's next click
    (seen under load as a local model's answer whose input was on while it was still listed as coming)."""
    import streamlit as st

    from studio.ui import chat as chat_ui

    at = page()
    use_api(at, faults.url("silent"))  # no answer by itself: the test ends it where the race puts the end
    at.chat_input(key="chat.input").set_value("Are you there?").run()
    assert at.session_state["chat.jobs"]
    collect = chat_ui.collect_finished

    def collected_then_ended() -> None:
        collect()
        for job in st.session_state["chat.jobs"]:
            job.cancel()  # it ends now, just after the page looked

    monkeypatch.setattr(chat_ui, "collect_finished", collected_then_ended)
    at.run()
    assert not at.exception
    assert [t["role"] for t in at.session_state["chat.messages"]] == ["user", "assistant"]
    assert not at.session_state["chat.jobs"] and not at.chat_input(key="chat.input").disabled


def test_stop_in_compare_mode_leaves_the_answer_that_had_ended_as_it_ended(faults):
    """Compare mode, one model done (cut at Max new tokens), the other still streaming: Stop, which ends both, marked the
    ended answer "stopped" too and dropped its "Cut at ..." line, as if it had been cut short by the click."""
    at = page()
    use_api(at, faults.url("length"), "a", "model-a")
    at.toggle(key="chat.compare").set_value(True).run()
    use_api(at, faults.url("trickle"), "b", "model-b")
    at.chat_input(key="chat.input").set_value("How long is a match?").run()
    ended, going = at.session_state["chat.jobs"]
    assert ended.join(30) and ended.state == "done" and not going.done
    stop(at)
    turn = at.session_state["chat.messages"][-1]
    assert "note" not in turn and turn["cut_at"] == at.session_state["chat.max_new_tokens"]
    assert turn["alt"]["note"] == "stopped"
    captions = [c.value for c in at.caption]
    assert any(c.startswith("first token") and "stopped" not in c for c in captions)
    assert any("Cut at" in c for c in captions) and not at.exception


def test_system_prompt_preset_and_history_reach_the_model(faults):
    at = page()
    use_api(at, faults.url("good"))
    at.selectbox(key="chat.preset").set_value("Portuguese assistant").run()
    assert "only in Portuguese" in at.text_area(key="chat.system").value
    send(at, "first")
    send(at, "second")
    sent = faults.bodies[-1]["messages"]
    assert sent[0] == {"role": "system", "content": at.text_area(key="chat.system").value}
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"] and sent[-1]["content"] == "second"


def test_errors_show_in_the_chat_and_the_page_stays_usable(faults):
    at = page()
    use_api(at, faults.url("unauthorized"))
    send(at, "hello")
    assert any("rejected (401)" in e.value for e in at.error)
    use_api(at, faults.url("good"))
    send(at, "again")
    turns = at.session_state["chat.messages"]
    assert turns[-1]["content"] == "".join(GOOD_ANSWER) and "error" in turns[1]
    # the failed question is not sent to the model again (roles keep alternating)
    assert [m["content"] for m in faults.bodies[-1]["messages"] if m["role"] == "user"] == ["again"]


def test_bad_settings_are_one_line_errors_not_crashes(faults):
    at = page()
    use_api(at, "localhost:8000")
    assert any("must start with http://" in e.value.replace("\u2060", "").replace(NO_LINK, "") for e in at.error)
    assert at.chat_input(key="chat.input").disabled and not at.exception


def test_compare_mode_answers_with_two_models(faults):
    at = page()
    use_api(at, faults.url("good"), "a", "model-a")
    at.toggle(key="chat.compare").set_value(True).run()
    use_api(at, faults.url("loading"), "b", "model-b")
    send(at, "Which is better?")
    turn = at.session_state["chat.messages"][-1]
    assert turn["model"].startswith("model-a") and turn["alt"]["model"].startswith("model-b")
    assert turn["content"] == turn["alt"]["content"] == "".join(GOOD_ANSWER)
    assert "first token" in turn["stats"] and "first token" in turn["alt"]["stats"]


def test_clear_and_export(faults):
    at = page()
    use_api(at, faults.url("good"))
    send(at, "Olá?")
    exported = json.loads(export_json(at.session_state["chat.messages"]))
    assert [m["content"] for m in exported["messages"]] == ["Olá?", "".join(GOOD_ANSWER)]
    clear = next(b for b in at.button if b.label == "Clear conversation")
    assert not clear.disabled
    clear.click().run()
    assert at.session_state["chat.messages"] == []
    assert next(b for b in at.button if b.label == "Clear conversation").disabled


def test_local_model_answers_and_can_be_unloaded(tiny_gpt2, offline):
    at = page(**{"chat.a.model": str(tiny_gpt2)})  # a folder typed into the library picker
    at.selectbox(key="chat.a.quant").set_value("4bit").run()
    send(at, "How long is a match?", wait=120)
    turn = at.session_state["chat.messages"][-1]
    assert turn["role"] == "assistant" and "error" not in turn and turn["stats"]
    assert any("4bit quantization needs a CUDA GPU" in c.value for c in at.caption)  # said why it is off
    send(at, "And a half?", wait=120)
    said = [c.value for c in at.caption]  # under the answers and in the sidebar, under the loaded model
    assert len([c for c in said if "Running on CPU" in c]) == 1  # said once, not under every answer and there too
    assert len([c for c in said if "quantization needs a CUDA GPU" in c]) == 1
    at.run()
    assert any("Loaded: 1 of at most" in c.value for c in at.caption)
    unload = [b for b in at.button if b.label == "Unload"]
    unload[0].click().run()
    assert any("Loaded: 0 of at most" in c.value for c in at.caption)


def test_a_gguf_file_s_first_load_counts_its_seconds_and_says_it_is_converted_once(tmp_path, tiny_gpt2, offline,
                                                                                  monkeypatch):
    """The bundled model's first answer waited on "Loading the model…" for a minute on a CPU with nothing moving and
    nothing saying it happens once; a folder model says only how long it has waited."""
    from gguf_files import write_tiny_llama_gguf

    from studio import chat as chat_engine
    from studio.models import bundled

    path = tmp_path / "tiny.gguf"
    write_tiny_llama_gguf(path)
    release = threading.Event()

    def held_then_refused(*args, **kwargs):
        # Only the wait is watched: after it, no real load. The bundled model's real conversion (a minute on a CPU) went
        # on after this test and held the process's one model load, so the next test's answer never came in time.
        release.wait(60)
        raise BackendError("not loaded: this test watches only the wait")

    monkeypatch.setattr(chat_engine, "make_backend", held_then_refused)
    try:
        cases = [(str(path), " (a GGUF file used here for the first time is converted once into the workspace; "
                             "later loads take seconds)"), (str(tiny_gpt2), "")]
        if bundled.gguf_path() is not None:  # the real SmolLM2, not converted yet in this workspace
            cases.append((bundled.SPEC, f" ({bundled.FIRST_USE})"))  # the Models page's words
        for model, note in cases:
            at = page(**{"chat.a.model": model})
            at.chat_input(key="chat.input").set_value("Hello?").run()
            time.sleep(1.2)
            at.run()
            shown = [c.value for c in at.caption if c.value.startswith("Loading the model…")]
            assert len(shown) == 1 and re.fullmatch(r"Loading the model… [1-9]\d* s so far" + re.escape(note), shown[0])
            at.session_state["chat.jobs"][0].cancel()
    finally:
        release.set()


def test_a_hub_model_with_no_network_names_what_answers_offline_instead(offline):
    at = page(**{"chat.a.model": "someone/not-downloaded-here"})  # a Hub id typed into the picker, not cached
    send(at, "How long is a match?")
    turn = at.session_state["chat.messages"][-1]
    shown = [e.value for e in at.error]
    assert turn["error"] in shown and len(shown) == 1
    assert turn["error"].startswith("No network: choose the bundled SmolLM2-135M-Instruct, a model from the library "
                                    "or a training run, a local model folder or an API model ('someone/not-downloaded")
    assert "scratch" not in turn["error"]  # Train's remedy; Chat cannot answer from an untrained model
    assert not at.chat_input(key="chat.input").disabled  # ask again with one of those


def test_api_mode_never_imports_torch_or_transformers(faults):
    """In a fresh process: the page in API mode, a whole streamed answer, and still no torch."""
    script = "\n".join([
        "import sys, time",
        f"sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'tests')!r}]",
        "from streamlit.testing.v1 import AppTest",
        f"at = AppTest.from_file({PAGE!r}, default_timeout=30)",
        "at.run()",
        "at.selectbox(key='chat.a.kind').set_value('openai').run()",
        f"at.text_input(key='chat.a.base_url').set_value({faults.url('good')!r}).run()",
        "at.text_input(key='chat.a.api_model').set_value('m').run()",
        "at.chat_input(key='chat.input').set_value('hi').run()",
        "for _ in range(100):",
        "    if not at.session_state['chat.jobs']:",
        "        break",
        "    time.sleep(0.1)",
        "    at.run()",
        "assert at.session_state['chat.messages'][-1]['content'], at.session_state['chat.messages']",
        "print('HEAVY=' + ','.join(sorted(m for m in ('torch', 'transformers') if m in sys.modules)))",
    ])
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "HEAVY=\n" in out.stdout, out.stdout  # neither was imported


def test_a_training_run_chats_as_it_was_trained_and_says_how(faults):
    from studio.chat.trained import AS_TRAINED
    from studio.train import runs

    folder = runs.run_dir(runs.new_run_id("faq"))
    folder.mkdir(parents=True)
    runs.write_run(folder, {"name": "FAQ run", "created": runs.now_iso(), "base": "HuggingFaceTB/SmolLM2-135M-Instruct",
                            "format": "chat-template", "config": {}})
    at = page(**{"chat.a.model": f"run:{folder.name}"})  # the run picked in the library picker
    assert at.selectbox(key="chat.preset").value == AS_TRAINED
    assert at.text_area(key="chat.system").value == ""  # no system prompt: the one it trained and is evaluated with
    assert any(c.value.startswith("FAQ run: Trained with HuggingFaceTB/SmolLM2-135M-Instruct's chat template")
               for c in at.caption)
    at.selectbox(key="chat.preset").set_value("Soccer rules expert").run()  # a person may still choose another
    assert "Laws of the Game" in at.text_area(key="chat.system").value
    use_api(at, faults.url("good"))  # another model: the usual default again, no "As trained"
    assert at.selectbox(key="chat.preset").value != AS_TRAINED
    assert AS_TRAINED not in at.selectbox(key="chat.preset").options


def test_as_trained_says_the_default_system_prompt_a_run_s_chat_template_writes():
    """A run on SmolLM2 offered "As trained (no system prompt)", though SmolLM2's chat template writes its own system
    prompt into a conversation without one, and the run trained and is asked with it. The preset says so, and names
    it; the saved preset key is the one it always was."""
    from studio.chat.trained import AS_TRAINED
    from studio.train import runs

    folder = runs.run_dir(runs.new_run_id("faq"))
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "config.json").write_text("{}")
    default = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    (folder / "model" / "chat_template.jinja").write_text(  # SmolLM2-135M-Instruct's
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
        + default + "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
        "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
    runs.write_run(folder, {"name": "FAQ run", "created": runs.now_iso(), "base": "HuggingFaceTB/SmolLM2-135M-Instruct",
                            "format": "chat-template", "config": {}})
    at = page(**{"chat.a.model": f"run:{folder.name}"})
    preset = at.selectbox(key="chat.preset")
    assert preset.value == AS_TRAINED and at.text_area(key="chat.system").value == ""
    assert preset.options[0] == "As trained (its chat template's default system prompt)"
    assert "no system prompt" not in preset.options[0]
    assert any(default in c.value for c in at.caption)


def test_a_system_prompt_typed_in_comes_back_after_a_training_run(faults):
    """A system prompt typed in, a run picked ("As trained" replaces it), another model picked: the prompt reset to
    the "Helpful assistant" preset, the text typed in lost. It comes back now."""
    from studio.chat.trained import AS_TRAINED
    from studio.train import runs

    folder = runs.run_dir(runs.new_run_id("faq"))
    folder.mkdir(parents=True)
    runs.write_run(folder, {"name": "FAQ run", "created": runs.now_iso(), "base": "HuggingFaceTB/SmolLM2-135M-Instruct",
                            "format": "chat-template", "config": {}})
    at = page()
    use_api(at, faults.url("good"))
    mine = "Answer like a pirate, in two lines."
    at.text_area(key="chat.system").set_value(mine).run()
    at.session_state["chat.a.kind"] = "local"  # the run typed into the library picker
    at.session_state["chat.a.model"] = f"run:{folder.name}"
    at.run()
    assert at.selectbox(key="chat.preset").value == AS_TRAINED
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    assert at.selectbox(key="chat.preset").value != AS_TRAINED
    assert at.text_area(key="chat.system").value == mine
    assert not at.exception


def test_fast_decoding_toggle_gives_the_same_greedy_answer_and_says_it_compiled(tiny_llama, offline):
    """Fast decoding turned on beside a local model: compiled for real on this CPU, the same greedy answer
    as with it off, the answer's line says it decoded fast (and the first time, how long compiling took)."""
    import torch

    torch._dynamo.reset()  # nothing compiled in this process before (torch would reuse another copy's step)
    at = page(**{"chat.a.model": str(tiny_llama)})
    at.slider(key="chat.temperature").set_value(0.0).run()
    at.slider(key="chat.max_new_tokens").set_value(32).run()
    fast = at.toggle(key="chat.a.fast")
    assert not fast.value and "Chat and passage answers only" in fast.help  # off by default; says where it applies

    def answer() -> dict:  # the same question in a fresh conversation each time
        send(at, "How long is a match?", wait=600)
        turn = at.session_state["chat.messages"][-1]
        next(b for b in at.button if b.label == "Clear conversation").click().run()
        return turn

    normal = answer()
    assert "fast decoding" not in normal["stats"]
    at.toggle(key="chat.a.fast").set_value(True).run()
    first, again = answer(), answer()
    assert "error" not in first and first["content"] == again["content"] == normal["content"] != ""
    assert "fast decoding" in first["stats"] and "fast decoding" in again["stats"] and "compiled" not in again["stats"]


def test_a_compiling_answer_counts_the_seconds_of_its_pause():
    """A fast-decoding compilation stops the tokens for a minute or more on a CPU: the line under the
    answer counts the seconds, so the page does not look frozen."""
    import threading

    from studio.chat import StreamJob
    from studio.models.fast_decoding import COMPILING

    release = threading.Event()

    class Compiling(StreamJob):
        def work(self) -> str:
            self.phase, self.text = "streaming", "The"
            self.stats.started = time.perf_counter() - 43  # asked 43 s ago,
            self.stats.first_token_at = self.stats.started + 1  # the first token a second later
            self.stats.tokens, self.stats.status = 1, COMPILING
            release.wait(30)
            return self.text

    job = Compiling("SmolLM2 (local)", lambda: None, [{"role": "user", "content": "Hi"}], None)
    job.start()
    try:
        at = page(**{"chat.jobs": [job], "chat.messages": [{"role": "user", "content": "Hi"}]})
        lines = [c.value for c in at.caption if "Compiling for fast decoding" in c.value]
        assert len(lines) == 1 and re.search(r"\. 4[3-9] s so far\.$", lines[0]), lines  # 43 s and the run's own
    finally:
        release.set()
        job.join(10)


def test_stopped_while_its_model_loads_the_sidebar_says_it_is_loading_and_counts_it_once_loaded(
        tiny_gpt2, offline, monkeypatch):
    """Stop pressed while the local model loaded: the sidebar said "Loaded: 0 of at most 2 models" and stayed so
    after the load ended (it goes on in its thread), until some click redrew the page."""
    from studio.models import cache as model_cache

    shared = model_cache.shared()
    shared.unload()
    gate = threading.Event()
    real = shared._loader

    def held(spec, quantization, token):  # a slow load, held until the test has looked
        gate.wait(60)
        return real(spec, quantization, token)

    monkeypatch.setattr(shared, "_loader", held)
    at = page(**{"chat.a.model": str(tiny_gpt2)})
    at.chat_input(key="chat.input").set_value("How long is a match?").run()
    deadline = time.time() + 30
    while not shared.loading() and time.time() < deadline:
        time.sleep(0.1)
    for job in at.session_state["chat.jobs"]:
        job.cancel()  # what Stop does (AppTest does not deliver a click inside the live fragment)
    at.run()
    (line,) = [c.value for c in at.caption if "Loaded: " in c.value]
    assert "Loaded: 0 of at most 2 models. Loading " in line and "tiny-gpt2" in line  # said at once
    assert not at.chat_input(key="chat.input").disabled
    gate.set()
    deadline = time.time() + 60
    while shared.loading() and time.time() < deadline:
        time.sleep(0.1)
    at.run()
    (line,) = [c.value for c in at.caption if "Loaded: " in c.value]
    assert "Loaded: 1 of at most 2 models." in line and "Loading" not in line
    shared.unload()


def test_a_server_or_provider_typed_in_stays_after_a_visit_to_another_page(faults):
    from tests.conftest import back_from_another_page

    at = page()
    use_api(at, faults.url("good"), model="my-model")
    at.toggle(key="chat.compare").set_value(True).run()
    at.selectbox(key="chat.b.kind").set_value("provider").run()
    at.text_input(key="chat.b.hub_model").set_value("Qwen/Qwen2.5-7B-Instruct").run()
    at.selectbox(key="chat.b.provider").set_value("together").run()
    back = back_from_another_page(at)
    assert not back.exception
    assert back.selectbox(key="chat.a.kind").value == "openai"  # not the default local model
    assert back.text_input(key="chat.a.base_url").value == faults.url("good")
    assert back.text_input(key="chat.a.api_model").value == "my-model"
    assert back.selectbox(key="chat.b.kind").value == "provider"
    assert back.text_input(key="chat.b.hub_model").value == "Qwen/Qwen2.5-7B-Instruct"
    assert back.selectbox(key="chat.b.provider").value == "together"
    send(back, "Como estás?")  # the next question goes to the server typed in before
    assert back.session_state["chat.messages"][-1]["content"] == "".join(GOOD_ANSWER)


def test_an_answer_of_whitespace_alone_says_so_instead_of_an_empty_bubble(faults):
    at = page()
    use_api(at, faults.url("blank"))
    send(at, "Como estás?")
    assert at.session_state["chat.messages"][-1]["content"] == ""  # the server's "\n\n  ": an answer starts at its first word
    line = ":material/info: The model answered only whitespace (or nothing): train longer or check the run."
    assert line in [c.value for c in at.caption]
    use_api(at, faults.url("good"))
    send(at, "again")  # a visible answer says nothing of the kind
    assert [c.value for c in at.caption].count(line) == 1


@pytest.mark.parametrize("message", [" \n\t ", "\u200b\u2060\ufeff", " \u200d\n\u00ad "])
def test_a_message_of_only_spaces_is_refused_and_not_added_to_the_conversation(faults, message):
    """It was shown as a blank question with an error answer under it, sent to no model, left in the conversation
    and its export, and it spent one of a public app's hosted-model requests. A message of zero-width spaces or a
    word joiner (pasted from a web page) shows just as blank and was sent to the model all the same."""
    at = page()
    use_api(at, faults.url("good"))
    send(at, "Como estás?")
    asked = faults.hits["good"]
    at.chat_input(key="chat.input").set_value(message).run()
    assert not at.session_state["chat.jobs"] and not at.exception
    assert [e.value for e in at.error] == [
        "Not sent: the message has only spaces, line breaks or invisible characters. Type a question."]
    assert [t["role"] for t in at.session_state["chat.messages"]] == ["user", "assistant"]
    assert faults.hits["good"] == asked and not at.chat_input(key="chat.input").disabled


def test_a_disabled_input_says_why_under_the_conversation(faults):
    """A second model's bad URL disabled the input with nothing but a grey box in view: the reason was in the
    sidebar, under the fold below the first model. A line in the page says which model and why."""
    at = page()
    use_api(at, faults.url("good"))
    at.toggle(key="chat.compare").set_value(True).run()
    at.selectbox(key="chat.b.kind").set_value("openai").run()
    at.text_input(key="chat.b.api_model").set_value("m").run()
    at.text_input(key="chat.b.base_url").set_value("localhost:8000").run()
    assert at.chat_input(key="chat.input").disabled
    said = [c.value.replace("\u2060", "").replace(NO_LINK, "") for c in at.main.caption if "Asking is off" in c.value]
    # two sentences: the reason was put in brackets mid-sentence, "(The base URL ...)." (a URL: split by empty spans,
    # no link)
    assert said == [":material/info: Asking is off: the second model is not set. The base URL must start with "
                    "http:// or https:// (e.g. http://127.0.0.1:8000/v1), not 'localhost:8000'."]
    at.text_input(key="chat.b.base_url").set_value("http://127.0.0.1:8000/v1").run()
    at.text_input(key="chat.b.api_model").set_value("probe \u202e ok").run()  # a refusal that is two sentences
    (said,) = [c.value.replace("\u2060", "").replace(NO_LINK, "") for c in at.main.caption if "Asking is off" in c.value]
    assert said.startswith(":material/info: Asking is off: the second model is not set. The model name cannot hold ")
    assert said.endswith("another order than it was typed. Leave it out.") and "(The" not in said
    at.text_input(key="chat.b.api_model").set_value("m").run()
    at.text_input(key="chat.b.base_url").set_value(faults.url("good")).run()
    assert not at.chat_input(key="chat.input").disabled
    assert not [c for c in at.main.caption if "Asking is off" in c.value]


def test_a_question_longer_than_a_passage_may_be_is_refused_and_put_back_in_the_input(faults):
    """A 2 MB paste was sent, kept in the workspace's conversation, rewritten at every save and drawn at every run;
    passage mode refuses a passage past 1,000,000 characters. It is refused in one line that says how long it is,
    and the text comes back in the input to cut, not lost."""
    from studio.chat import base, saved
    from studio.models.extractive import MAX_PASSAGE_CHARS

    assert not hasattr(base, "MAX_QUESTION_CHARS") and MAX_PASSAGE_CHARS == 1_000_000  # one bound, one constant
    with pytest.raises(BackendError, match=r"^The question is 1,000,001 characters, more than the 1,000,000 "):
        base.validate_messages([{"role": "user", "content": "x" * 1_000_001}])  # the command line's, any backend's
    at = page()
    use_api(at, faults.url("good"))
    send(at, "Como estás?")
    asked = faults.hits["good"]
    huge = "Summarize this: " + "word " * 240_000  # 1,200,016 characters: whole (the input took and showed
    at.chat_input(key="chat.input").set_value(huge).run()  # 1,000,001, its counter naming that, not the bound)
    assert not at.session_state["chat.jobs"] and not at.exception
    assert [e.value for e in at.error] == [
        "Not sent. The question is 1,200,016 characters, more than the 1,000,000 a question may hold (no model "
        "reads that much): keep only the part it is about. It is back in the input."]
    assert [t["role"] for t in at.session_state["chat.messages"]] == ["user", "assistant"]
    assert faults.hits["good"] == asked and huge not in saved.path().read_text(encoding="utf-8")
    assert at.chat_input(key="chat.input").value == huge and not at.chat_input(key="chat.input").disabled
    send(at, huge[:1000])  # cut, it is asked
    assert at.session_state["chat.messages"][-2]["content"] == huge[:1000] and faults.hits["good"] == asked + 1


def _places(at: AppTest) -> dict[str, tuple]:
    """The expanders', toggles' and buttons' places in the page (their index at each level), as the browser tells
    elements apart: one whose place changes is drawn anew (an expander closed, a click on it lost)."""
    from tests.places import elements

    return {node.label: path for path, node in elements(at)
            if getattr(node, "type", None) in ("expander", "button", "toggle") and node.label != "Fast decoding"}


def test_the_sidebar_s_panels_and_the_buttons_keep_their_place_whatever_is_picked_or_asked(faults):
    """The System prompt and Sampling expanders moved up two places when an OpenAI-compatible server was picked after
    the local model (whose picker has more lines), so the browser drew them anew, closed, and a click on them meanwhile
    was lost; Clear conversation moved as the line saying why asking is off came and went. Each varying part is held
    in one container."""
    from studio.ui.passage import PASSAGE

    at = page()
    first = _places(at)
    assert {"System prompt", "Sampling", "Compare with a second model", "Clear conversation"} <= set(first)
    at.selectbox(key="chat.a.kind").set_value("openai").run()  # no model name yet: asking is off, and says why
    assert _places(at) == first
    use_api(at, faults.url("good"))
    assert _places(at) == first
    send(at, "Como estás?")  # the conversation grew
    assert _places(at) == first
    at.text_input(key="chat.a.base_url").set_value("not a url").run()  # an error in the sidebar
    assert _places(at) == first
    at.toggle(key="chat.compare").set_value(True).run()  # a second model's picker
    assert {k: v for k, v in _places(at).items() if k in first} == first
    at.radio(key="chat.mode").set_value(PASSAGE).run()
    passage_first = _places(at)
    at.radio(key="chat.passage.a.task").set_value("Generative").run()
    assert _places(at) == passage_first and not at.exception


def test_quantization_and_fast_decoding_keep_their_place_when_the_default_model_line_goes(tiny_gpt2, offline):
    """Offline, the bundled model stands in for the tutorial's with a line saying so under the picker; another model
    picked took the line away and Quantization and Fast decoding moved up a place: the browser drew them anew, and a
    click on them meanwhile was lost."""
    from tests.places import place

    at = page()
    assert any(c.value.startswith("Offline: ready to use") for c in at.sidebar.caption)  # the line is there
    quant, fast = place(at, "selectbox", "Quantization"), place(at, "toggle", "Fast decoding")
    at = page(**{"chat.a.model": str(tiny_gpt2)})  # a folder typed into the picker (AppTest cannot type a new option)
    assert not any(c.value.startswith("Offline: ready to use") for c in at.sidebar.caption)
    assert (place(at, "selectbox", "Quantization"), place(at, "toggle", "Fast decoding")) == (quant, fast)


def test_a_system_prompt_past_the_bound_is_refused_in_one_line_and_not_kept(faults):
    """A paste of megabytes into the system prompt was sent with every question, and written with the page's settings
    (read again at each run, and synced on a public app) at every change. Past the 1,000,000-character bound a question
    has, the question is not sent, one line says why, and the question stays in the input; the prompt is not kept."""
    from studio.chat import base, kept_settings

    with pytest.raises(BackendError, match=r"^The system prompt is 1,000,001 characters, more than the 1,000,000 "):
        base.validate_messages([{"role": "system", "content": "x" * 1_000_001}, {"role": "user", "content": "hi"}])
    at = page()
    use_api(at, faults.url("good"))
    send(at, "Como estás?")
    asked = faults.hits["good"]
    huge = "Be brief. " * 100_001
    at.text_area(key="chat.system").set_value(huge).run()
    huge = huge[:1_000_001]  # what the box holds and sends of it (its max_chars: one past the bound)
    at.chat_input(key="chat.input").set_value("And now?").run()
    assert not at.session_state["chat.jobs"] and not at.exception and faults.hits["good"] == asked
    assert [e.value for e in at.error] == [
        "Not sent. The system prompt is 1,000,001 characters, more than the 1,000,000 a system prompt may hold (no model "
        "reads that much): keep only what the model needs."]
    assert at.chat_input(key="chat.input").value == "And now?"
    assert huge not in kept_settings.path().read_text(encoding="utf-8")
    assert AppTest.from_file(PAGE, default_timeout=30).run().text_area(key="chat.system").value != huge


def test_bidi_controls_and_nul_are_shown_as_typed_and_kept_as_they_were(faults):
    """A right-to-left override in a question or an answer ("probe \u202e ok") drew the rest of the line reversed
    ("probe ko": a Trojan Source reordering) and a NUL drew as a replacement character. Each is shown as its code
    point, so the line reads in the order it was typed; the conversation keeps the text as it was."""
    from studio.chat import saved

    at = page()
    use_api(at, faults.url("bidi"))
    send(at, "probe \u202e ok \u2067")
    shown = "".join(m.value for m in at.markdown)
    assert "probe <span" in shown and "[U+202E]</span> ok" in shown and "[U+2067]" in shown  # the question
    assert "answer <span" in shown and "[U+202E]</span> dlrow" in shown and "[U+0000]" in shown  # the answer
    assert not any(c in shown for c in "\u202e\u2066\u2067\u2069\u0000")
    turns = at.session_state["chat.messages"]
    assert turns[0]["content"] == "probe \u202e ok \u2067"
    assert turns[1]["content"] == "answer \u202e dlrow \u2066x\u2069 \u0000 end"
    assert "\\u202e" in saved.path().read_text(encoding="utf-8") or "\u202e" in saved.path().read_text(encoding="utf-8")


def test_a_question_full_of_direction_controls_is_drawn_with_a_bounded_number_of_marks(faults):
    """A paste of thousands of direction controls drew one dim mark (an element) per control: 25,000 of them took the
    browser 10 s to draw after the question was sent, and as long at each reload. Runs of controls share a mark, and
    past the first ``MARKED_RUNS`` marks they show as plain text: every control is still shown, in its place."""
    from studio.data.display import MARKED_RUNS

    at = page()
    use_api(at, faults.url("good"))
    send(at, "a\u202e" * 5000 + " end \u2066\u2067\u2069")
    question = next(m.value for m in at.markdown if m.value.count("[U+202E]") == 5000)
    assert question.count("<span") <= MARKED_RUNS
    assert "a[U+202E]a[U+202E]" in question and question.count("[U+202E]") == 5000
    assert "end <span" in question or "end [U+2066][U+2067][U+2069]" in question  # a run of them: one mark
    assert at.session_state["chat.messages"][0]["content"] == "a\u202e" * 5000 + " end \u2066\u2067\u2069"


def test_bidi_controls_in_a_model_name_are_marked_in_its_caption(faults):
    """A right-to-left override in the name of the model above an answer (a conversation kept from before names were
    checked) was marked in the turns but not in the caption naming the model: it drew the rest of its line reversed.
    It shows ``[U+202E]`` now, as the turns do."""
    at = page()
    at.session_state["chat.messages"] = [{"role": "user", "id": "q1", "content": "hi"},
                                         {"role": "assistant", "content": "hello", "model": "probe \u202e ok", "stats": ""}]
    at.run()
    captions = [c.value for c in at.caption]
    assert not any("\u202e" in c for c in captions), captions
    assert "probe \\[U+202E\\] ok" in captions, captions  # shown "probe [U+202E] ok": Markdown's escapes on the brackets


def test_a_model_name_with_a_text_direction_control_is_refused_in_one_line(faults):
    """The sidebar's Model field drew "probe \u202e ok" as "probe ko", and the server was asked for a name the page
    showed in another order. Refused as run and dataset names are, before any request."""
    at = page()
    use_api(at, faults.url("good"), model="probe \u202e ok")
    errors = [e.value for e in at.error]
    assert any(e.startswith("The model name cannot hold a text-direction control (U+202A to U+202E") for e in errors)
    assert not any("\u202e" in e for e in errors)
    assert at.chat_input(key="chat.input").disabled and not at.exception


def test_a_huge_paste_is_kept_whole_and_drawn_in_part(faults):
    """A 900,000-character question was drawn whole at every run of the page: the browser took seconds to lay it
    out at each click, each answer's end. The turn shows its first 50,000 characters and says how many more there
    are and where they are; the conversation keeps it whole, and the model got it whole."""
    from studio.ui import chat as chat_ui

    at = page()
    use_api(at, faults.url("good"))
    huge = ("Lorem ipsum dolor sit amet. " * 40_000)[:900_000]
    send(at, huge)
    assert at.session_state["chat.messages"][0]["content"] == huge
    assert faults.bodies[-1]["messages"][-1]["content"] == huge
    drawn = [m.value for m in at.markdown if "Lorem ipsum" in m.value]
    assert len(drawn) == 1 and chat_ui.SHOWN_CHARS <= len(drawn[0]) < chat_ui.SHOWN_CHARS + 1_000
    assert any("850,000 more characters are not shown here: the whole 900,000 are in the conversation, and in "
               "Export JSON or Markdown." in c.value for c in at.caption)
    assert any("".join(GOOD_ANSWER) in m.value for m in at.markdown) and not at.exception


def test_a_run_of_the_page_does_not_write_the_exports(faults, monkeypatch):
    """Both exports were written (every question scrubbed of secrets) at every run of the page, whether or not a
    button was clicked: over a second at each click anywhere with a 900,000-character paste in the conversation.
    They are written when their button is clicked."""
    import studio.chat

    at = page()
    use_api(at, faults.url("good"))
    send(at, "hello")
    written: list[str] = []
    monkeypatch.setattr(studio.chat, "export_json", lambda *a, **k: written.append("json") or "{}")
    monkeypatch.setattr(studio.chat, "export_markdown", lambda *a, **k: written.append("md") or "")
    at.run()
    at.toggle(key="chat.compare").set_value(True).run()
    assert len(at.get("download_button")) == 2 and not at.exception
    assert written == []


def test_compare_mode_says_why_the_bundled_model_stands_in_once(offline):
    """Offline, compare mode said why the bundled SmolLM2 stands in under each picker: the same line twice. Said once,
    under the first."""
    at = page(**{"chat.compare": True})
    said = [c.value for c in at.sidebar.caption if c.value.startswith("Offline: ready to use")]
    assert len(said) == 1, said


def test_offline_a_new_person_is_told_which_models_are_ready_not_of_one_they_never_picked(offline):
    """Offline, a person opening Chat for the first time read "microsoft/Phi-3.5-mini-instruct cannot be downloaded
    here ...", a model they had never picked. The line under the picker now says what is ready to use here: the
    models in the list, the bundled one picked."""
    at = page()
    said = [c.value for c in at.sidebar.caption if "Offline" in c.value or "Phi-3.5" in c.value]
    ready = len(at.selectbox(key="chat.a.model").options)
    assert said == [f"Offline: ready to use here {'is' if ready == 1 else 'are'} the {ready} model{'s' * (ready != 1)} "
                    "in this list (the bundled SmolLM2 picked); a Hub id typed in loads only if it was downloaded "
                    "before."], said
    from studio.models import bundled

    assert at.selectbox(key="chat.a.model").value == bundled.SPEC


def test_offline_a_model_in_the_list_that_cannot_be_used_is_not_counted_as_the_list(offline, tiny_gpt2):
    """A library folder without its tokenizer is in the picker ("· no tokenizer") but not ready: the line read "ready
    to use here are the 1 model in this list" under a list of 2; it says how many of the list's models are ready."""
    import shutil

    from studio import config

    shutil.copytree(tiny_gpt2, config.models_dir() / "weights-only",
                    ignore=shutil.ignore_patterns("*token*", "vocab.json", "merges.txt"))
    at = page()
    listed = len(at.selectbox(key="chat.a.model").options)
    said = [c.value for c in at.sidebar.caption if c.value.startswith("Offline: ready to use")]
    assert said and said[0].startswith(f"Offline: ready to use here is 1 of the {listed} models in this list"), said


def _finished_run(name: str, model: Path, created: str, base: str = "HuggingFaceTB/SmolLM2-135M-Instruct") -> str:
    import shutil

    from studio.train import runs

    folder = runs.run_dir(runs.new_run_id(name))
    folder.mkdir(parents=True)
    runs.write_run(folder, {"name": name, "created": created, "base": base,
                            "method": "full", "format": "chat-template", "config": {}})
    shutil.copytree(model, folder / "model")
    return f"run:{folder.name}"


def test_compare_mode_opens_with_the_newest_run_as_the_second_model(tiny_gpt2, offline):
    """A person who just trained a run turns compare mode on to see base vs trained: the second model was the same
    bundled model as the first, the run to be picked by hand. It opens with the newest finished run now, and a
    person's own pick of the second model stays."""
    from studio.ui import models as models_ui

    at = page()
    at.toggle(key="chat.compare").set_value(True).run()  # compare mode turned on before any run: both the bundled one
    assert at.selectbox(key="chat.b.model").value == at.selectbox(key="chat.a.model").value
    older = _finished_run("older run", tiny_gpt2, "2026-12-06T10:00:00+00:00")
    newest = _finished_run("newest run", tiny_gpt2, "2026-12-07T10:00:00+00:00")
    models_ui._library.clear()  # the pickers' library is listed at most every 5 s: as it is once those passed
    at = page()  # a new session after training (compare mode kept on)
    first, second = at.selectbox(key="chat.a.model").value, at.selectbox(key="chat.b.model").value
    assert second == newest and first != newest
    at.selectbox(key="chat.b.model").set_value(older).run()  # the person picks another run as the second model
    assert at.selectbox(key="chat.b.model").value == older
    at = page()  # a reloaded tab: the pick kept in the workspace comes back
    assert at.selectbox(key="chat.b.model").value == older


def test_compare_mode_opens_with_the_newest_run_of_the_first_model_beside_it(tiny_gpt2, offline):
    """A LoRA run of the bundled model, then a small GPT-2 trained from scratch: compare mode put the scratch run (the
    newest) beside the bundled model, where the person wanted their run of it; the newest run trained from the first
    model comes first now, and the newest of all where none was; never the first model itself."""
    from studio.models import bundled

    of_first = _finished_run("lora of the bundled model", tiny_gpt2, "2026-12-06T10:00:00+00:00")
    scratch = _finished_run("scratch", tiny_gpt2, "2026-12-07T10:00:00+00:00", base="scratch")
    at = page(**{"chat.compare": True})
    assert at.selectbox(key="chat.a.model").value == bundled.SPEC
    assert at.selectbox(key="chat.b.model").value == of_first
    # The first model itself a run: the second was that same run (the newest), a model compared with itself. It is
    # the run's base (what the training changed), else the newest other run (a run trained from scratch has none).
    at = page(**{"chat.compare": True, "chat.a.kept_model": scratch})
    assert at.selectbox(key="chat.b.model").value == of_first
    at = page(**{"chat.compare": True, "chat.a.kept_model": of_first})
    assert at.selectbox(key="chat.b.model").value == bundled.SPEC
    at = page(**{"chat.compare": True})  # the run picked as the first model where the second showed it by default
    assert at.selectbox(key="chat.b.model").value == of_first
    at.selectbox(key="chat.a.model").set_value(of_first).run()
    assert at.selectbox(key="chat.b.model").value == bundled.SPEC and not at.exception
    at.selectbox(key="chat.b.model").set_value(scratch).run()  # a second model picked by hand stays
    at.selectbox(key="chat.a.model").set_value(scratch).run()
    assert at.selectbox(key="chat.b.model").value == scratch


def test_compare_mode_s_second_model_picked_as_the_first_s_default_by_hand_stays_after_a_reload(tiny_gpt2, offline):
    """Picking the first model's default (the bundled model) as the second model, over the newest run compare mode
    opened with, held in the session but not after a reload: the kept pick looked like a default and gave way to the
    newest run again. A pick made by hand is kept as one."""
    newest = _finished_run("newest run", tiny_gpt2, "2026-12-07T10:00:00+00:00")
    at = page(**{"chat.compare": True})
    first = at.selectbox(key="chat.a.model").value
    assert at.selectbox(key="chat.b.model").value == newest and first != newest
    at.selectbox(key="chat.b.model").set_value(first).run()  # base vs base, picked on purpose
    assert at.selectbox(key="chat.b.model").value == first and not at.exception
    at = page()  # a reloaded tab
    assert at.selectbox(key="chat.b.model").value == first
    at = page()  # and another: the pick is still kept as made by hand
    assert at.selectbox(key="chat.b.model").value == first


def test_a_run_that_finished_is_in_the_pickers_at_the_next_rerun(tiny_gpt2, offline):
    """The pickers' library was listed at most every 5 s: a run that had just finished was missing from them for up
    to 5 s (a rerun in that time showed the list from before). The list is listed again once the library changed."""
    import os

    from studio import config, jobs

    at = page(**{"chat.compare": True})
    training = _finished_run("just trained", tiny_gpt2, "2026-12-07T10:00:00+00:00")
    folder = config.runs_dir() / training.removeprefix("run:")
    jobs.update_status(folder, state="running", pid=os.getpid())  # still training: not offered yet
    at.run()
    assert not any("just trained" in o for o in at.selectbox(key="chat.a.model").options)
    jobs.update_status(folder, state="done", message="done")  # it finished
    at.run()  # the next rerun, within the same second
    assert any("just trained" in o for o in at.selectbox(key="chat.a.model").options)
    assert any("just trained" in o for o in at.selectbox(key="chat.b.model").options)


def test_a_server_s_one_model_fills_the_model_field_and_its_names_are_offered(faults):
    """With an OpenAI-compatible server the Model field stayed empty and a person had to guess the served name
    (``transformers serve`` names it after its folder). The one model a server serves now fills it; a server serving
    several offers them (the next test)."""
    at = page()
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    at.text_input(key="chat.a.base_url").set_value(faults.url("one-model")).run()
    assert at.text_input(key="chat.a.api_model").value == "/models/only-one"
    # nothing else to pick: the Served models box (kept in its place) is off, saying so
    box = at.selectbox(key="chat.a.served")
    assert box.disabled and box.proto.placeholder == "none but the one under Model"
    assert not at.chat_input(key="chat.input").disabled
    send(at, "Olá?")
    assert faults.bodies[-1]["model"] == "/models/only-one"
    asked = faults.hits["one-model/models"]
    at.run()
    at.run()
    assert faults.hits["one-model/models"] == asked  # kept per URL: not asked again at every rerun


CLASS_NAME = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)+\b")  # ConnectError, ReadTimeout: a class name, not words


def _texts(at: AppTest) -> list[str]:
    return [e.value for e in (*at.caption, *at.error, *at.warning, *at.markdown)]


def _asking(at: AppTest) -> bool:
    """Whether the sidebar's Served models box says the server's list of models is being asked."""
    return any(b.key == "chat.a.served" and b.proto.placeholder == chat_settings.ASKING for b in at.sidebar.selectbox)


def _until_served(at: AppTest) -> None:
    """Rerun while the sidebar says the server's list of models is being asked (the page's poller reruns it in a
    browser)."""
    deadline = time.time() + 30
    while _asking(at) and time.time() < deadline:
        time.sleep(0.2)
        at.run()


def test_a_server_that_cannot_be_reached_is_said_so_in_the_sidebar_without_a_class_name(faults):
    """An OpenAI-compatible URL nothing listens at: the sidebar said nothing until a question failed. It says the
    server could not be reached, in words (no exception class name), and asking still says why in one line."""
    closed = f"http://127.0.0.1:{free_port()}/v1"
    at = page()
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    at.text_input(key="chat.a.base_url").set_value(closed).run()
    _until_served(at)
    said = [c.value for c in at.sidebar.caption if "could not be reached" in c.value]
    assert said == [":material/link_off: The server could not be reached: check the URL, that the server runs, and "
                    "the network."], said
    at.text_input(key="chat.a.api_model").set_value("m").run()
    send(at, "Olá?")
    errors = [e.value for e in at.main.error]
    assert len(errors) == 1 and errors[0].startswith("Cannot reach") and "check the URL" in errors[0], errors
    assert not [t for t in _texts(at) if CLASS_NAME.search(t.replace("OpenAI", ""))], _texts(at)


def test_a_server_that_never_answers_its_model_list_does_not_hold_the_page(monkeypatch):
    """A host that takes the connection and never answers (or never connects at all): every rerun waited on the list
    of its models, up to 5 s, again every 10 s, while the person typed. The page draws at once, says the list is being
    asked, lets the person type a model and ask; then says the server did not answer."""
    from studio.chat import served

    monkeypatch.setattr(served, "READ_S", 2.0)
    with socket.socket() as silent:  # connections are taken (the kernel's backlog), never read nor answered
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
        at = page()
        at.selectbox(key="chat.a.kind").set_value("openai").run()
        at.text_input(key="chat.a.base_url").set_value(url).run()
        assert _asking(at) and at.selectbox(key="chat.a.served").disabled
        at.text_input(key="chat.a.api_model").set_value("m").run()
        assert not at.chat_input(key="chat.input").disabled  # typing and asking wait on nothing
        assert served.asking(url)  # still being asked: the reruns above did not wait for it
        _until_served(at)
        said = [c.value for c in at.sidebar.caption if "did not answer" in c.value]
        assert said == [":material/link_off: The server did not answer within 2 s: check that it runs and that the URL "
                        "is right."], said
        assert at.text_input(key="chat.a.api_model").value == "m"


def test_a_name_typed_for_one_server_gives_way_to_the_one_model_of_the_next(faults):
    """A Model name typed for one server stayed after the URL changed to a server serving exactly one model, which
    then refused it. That server's model takes its place; the typed name comes back with its own server's URL."""
    at = page()
    use_api(at, faults.url("good"), model="typed-for-good")
    at.text_input(key="chat.a.base_url").set_value(faults.url("one-model")).run()
    _until_served(at)
    assert at.text_input(key="chat.a.api_model").value == "/models/only-one"
    send(at, "Olá?")
    assert faults.bodies[-1]["model"] == "/models/only-one" and not at.main.error
    at.text_input(key="chat.a.base_url").set_value(faults.url("good")).run()
    assert at.text_input(key="chat.a.api_model").value == "/models/only-one"  # a server listing none: kept as it is
    at.text_input(key="chat.a.api_model").set_value("mine").run()
    at.text_input(key="chat.a.base_url").set_value(faults.url("one-model")).run()
    assert at.text_input(key="chat.a.api_model").value == "/models/only-one"
    at.text_input(key="chat.a.api_model").set_value("typed-for-one").run()  # typed for this very server: it stays
    at.run()
    assert at.text_input(key="chat.a.api_model").value == "typed-for-one"


def test_a_server_s_several_models_are_offered_and_said_where_asking_is_off(faults):
    """A server serving several models: they are offered in a pick and said in the line that says why asking is off;
    a typed name still goes."""
    at = page()
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    at.text_input(key="chat.a.base_url").set_value(faults.url("no-model")).run()
    assert at.text_input(key="chat.a.api_model").value == ""
    assert at.chat_input(key="chat.input").disabled
    said = [c.value.replace("\u2060", "").replace(NO_LINK, "") for c in at.main.caption if "Asking is off" in c.value]
    # the same words as before the server answered (a line that grew with the names moved the sidebar below it)
    assert len(said) == 1 and said[0].endswith("No model chosen: type the server's model name under Model, or pick "
                                               "one under Served models (those the server lists)."), said
    assert at.selectbox(key="chat.a.served").options == ["org/served-one", "org/served-two"]
    at.selectbox(key="chat.a.served").set_value("org/served-two").run()
    assert at.text_input(key="chat.a.api_model").value == "org/served-two"
    assert not at.chat_input(key="chat.input").disabled
    at.text_input(key="chat.a.api_model").set_value("typed-name").run()  # a name of one's own still goes
    assert at.text_input(key="chat.a.api_model").value == "typed-name"
    assert not at.chat_input(key="chat.input").disabled


def test_an_answer_the_server_cut_at_max_new_tokens_says_so_under_it_not_in_it(faults):
    """An answer cut at max new tokens (the server's finish_reason "length") ended mid-sentence with nothing saying
    so: a line under it says so and how to see more; the answer's text (kept, exported) holds no such line."""
    at = page()
    use_api(at, faults.url("length"))
    send(at, "How long is a match?")
    n = at.session_state["chat.max_new_tokens"]
    cut = [c.value for c in at.main.caption if "Cut at" in c.value]
    assert cut == [f":material/content_cut: Cut at {n} new tokens: raise Max new tokens to see more."], cut
    # its count agrees: the server sent the answer in 2 pieces, which read "2 tokens" over "Cut at 500 new tokens"
    assert f"{n} tokens" in at.session_state["chat.messages"][-1]["stats"]
    assert at.session_state["chat.messages"][-1]["content"] == "A match has two halves of"
    exported = json.loads(export_json(at.session_state["chat.messages"]))["messages"][-1]
    assert "Cut at" not in exported["content"] and exported["note"].startswith(f"Cut at {n} new tokens")  # beside it
    use_api(at, faults.url("good"))
    send(at, "And now?")
    assert len([c for c in at.main.caption if "Cut at" in c.value]) == 1  # the first answer's only


def test_the_public_app_s_no_token_line_says_only_what_a_visitor_can_do(api_mode, monkeypatch):
    """On the public app, Chat's no-token line told a visitor to set HF_TOKEN in secrets or the environment and
    spoke of the command line, none of which they have: it says where they give their token. A local install keeps
    its own words."""
    from studio.chat import api
    from tests.test_tenancy import visit

    monkeypatch.delenv("HF_TOKEN", raising=False)
    at = visit("pages/4_Chat.py")  # no deployer's token either
    at.text_input(key="chat.a.hub_model").set_value("meta-llama/Llama-3.1-8B-Instruct").run()
    send(at, "How long is a match?")
    said = [e.value for e in at.main.error]
    assert said == ["Hugging Face Inference Providers need a token here: give your Hugging Face token under Your "
                    "workspace in the sidebar."], said
    assert "secrets" not in said[0] and "environment" not in said[0] and "command line" not in said[0]
    assert "secrets" in api.NO_PROVIDER_TOKEN  # a local install's words stay


def test_compare_headers_of_long_model_names_fit_a_column_with_the_whole_name_on_hover(faults):
    """In compare mode an API model named by a long path wrapped its column's header onto two lines."""
    long = "/home/ana/models/faq-run-3/checkpoint-final"
    at = page()
    use_api(at, faults.url("good"), model=long)
    at.toggle(key="chat.compare").set_value(True).run()
    use_api(at, faults.url("good"), slot="b", model="m")
    send(at, "Olá?")
    headers = [c for c in at.main.caption if "@" in c.value]
    shown = [c.value.replace("\u2060", "").replace(NO_LINK, "") for c in headers]
    assert shown[0] == f"checkpoint-final @ 127.0.0.1:{faults.port}", shown
    assert long in headers[0].proto.help  # the whole name on hover
    assert shown[1].startswith("m @ http:") and not headers[1].proto.help  # a short one as it is


def test_an_api_model_sent_only_the_latest_turns_says_its_oldest_were_left_out(faults):
    from studio.chat.base import HISTORY_CHARS, HISTORY_TRIMMED

    at = page()
    use_api(at, faults.url("good"))
    big = "x" * (HISTORY_CHARS // 2 - 10)  # two of these pairs fit the bound, three do not
    at.session_state["chat.messages"] = [m for i in range(3) for m in (
        {"role": "user", "id": f"q{i}", "content": f"{i}{big}"}, {"role": "assistant", "content": f"answer {i}"})]
    send(at, "And now?")
    sent = faults.bodies[-1]["messages"]
    assert [m["content"][:1] for m in sent if m["role"] == "user"] == ["1", "2", "A"]  # the oldest pair left out
    assert at.session_state["chat.messages"][-1]["notes"] == [HISTORY_TRIMMED]
    assert any(HISTORY_TRIMMED in c.value for c in at.caption)  # said under the answer, as a local model's trim is


def test_a_provider_typed_past_its_bound_is_one_line_and_nothing_else_is_lost():
    """The Provider box takes typed names and Streamlit's selectbox has no max_chars: a paste gone astray there is the
    engine's one-line refusal, and the model typed before it stays as typed; the paste is not kept for a new session."""
    from studio.chat.base import MAX_NAME_CHARS

    at = page()
    at.selectbox(key="chat.a.kind").set_value("provider").run()
    at.text_input(key="chat.a.hub_model").set_value("my-org/my-model").run()
    typed = "p" * (MAX_NAME_CHARS + 1)
    at.session_state["chat.a.provider.kept"] = typed  # how the page holds a typed option (AppTest cannot type one)
    at.run()
    at.selectbox(key="chat.a.provider").set_value(typed).run()
    assert not at.exception
    said = [e.value for e in at.error]
    assert said and said[0] == f"The provider is {len(typed):,} characters, more than the {MAX_NAME_CHARS:,} a " \
        "provider may hold: check what was pasted."
    assert at.text_input(key="chat.a.hub_model").value == "my-org/my-model"  # kept as typed

    from studio.chat import kept_settings

    # a new session: the last model that could be asked is back (the paste was written with the settings, read at
    # each run); this session's box keeps what was typed
    assert typed not in kept_settings.path().read_text(encoding="utf-8")
    again = page()
    assert again.selectbox(key="chat.a.provider").value == "auto" and not again.error
    assert again.text_input(key="chat.a.hub_model").value == "my-org/my-model"

    kept_settings.path().unlink()
    pasted = "x" * 5_000  # a local model's box: the spec's own bound (a fresh page: AppTest keeps no typed option)
    at = page(**{"chat.a.kept_model": pasted})
    assert not at.exception
    # said where it is picked, asking off (it was asked, and its answer failed on the line, the 5,000 characters
    # heading it)
    assert f"is too long for a Hub id, a folder or a run ({len(pasted):,} characters)" in at.error[0].value
    assert at.chat_input(key="chat.input").disabled
    assert at.selectbox(key="chat.a.model").value == pasted  # kept as typed, to fix


def test_the_question_boxes_say_how_long_a_text_they_take():
    """The browser drops a paste that would take a box past its bound whole: a 1,200,000-character question pasted
    into the chat input left it empty, and nothing said why (nothing reached the page). The empty box says it."""
    from studio import ui
    from studio.models import extractive
    from studio.ui.passage import PASSAGE

    bound = f"up to {extractive.MAX_PASSAGE_CHARS:,} characters"
    at = page()
    (box,) = at.get("chat_input")
    assert bound in box.proto.placeholder and box.proto.max_chars == ui.PASTE_CHARS  # its counter hidden
    at.radio(key="chat.mode").set_value(PASSAGE).run()
    assert bound in at.text_area(key="chat.passage.text").placeholder
    assert bound in at.text_input(key="chat.passage.question").placeholder  # the Question box too: it said nothing


def test_an_answer_whose_tokens_have_no_text_yet_does_not_say_it_waits_for_its_first_token():
    """A local model's text comes a whole word at a time: while its first word was written, the answer said "Waiting
    for the first token…" above a line counting the tokens that had come (a tiny model's answer without a space said
    so until its end). A backend that counts tokens and holds their text stands in for it: when a real model's first
    word ends is not a test's to choose."""
    from studio.chat import ChatParams, StreamJob

    class Holding:
        notes: list = []

        def stream(self, messages, params, stats=None, stop=None):
            stats.mark_token(5)
            stop.wait(30)
            yield from ()

    job = StreamJob("holding", Holding, [{"role": "user", "content": "Hi"}], ChatParams()).start()
    at = page()
    deadline = time.time() + 30
    while job.stats.first_token_at is None and time.time() < deadline:
        time.sleep(0.05)
    at.session_state["chat.jobs"] = [job]
    at.run()
    captions = [c.value for c in at.caption]
    assert any("5 tokens" in c for c in captions) and "Waiting for the first token…" not in captions
    assert "Tokens are coming: the text shows once its first word is complete…" in captions
    stop(at)
    assert not at.session_state["chat.jobs"] and not at.exception
