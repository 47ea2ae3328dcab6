"""Chat settings, backend specs, message building and export."""

from __future__ import annotations

import json

import pytest

from studio.chat import (
    SYSTEM_PRESETS,
    BackendSpec,
    ChatParams,
    StreamStats,
    build_messages,
    export_json,
    export_markdown,
    validate_messages,
)
from studio.errors import BackendError


def test_defaults_are_the_tutorials_pipeline():
    p = ChatParams()
    assert (p.max_new_tokens, p.temperature, p.do_sample) == (500, 0.1, True)
    assert p.sampling


def test_round_trips_through_a_dict():
    p = ChatParams(max_new_tokens=64, temperature=0.7, top_p=0.9, seed=3, timeout_s=10)
    assert ChatParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    s = BackendSpec(kind="openai", model="m", base_url="http://127.0.0.1:1/v1")
    assert BackendSpec.from_dict(s.to_dict()) == s


@pytest.mark.parametrize("bad", [
    {"max_new_tokens": 0}, {"max_new_tokens": 10_000}, {"max_new_tokens": 1.5}, {"temperature": -0.1},
    {"temperature": 3}, {"top_p": 0}, {"top_p": 1.5}, {"top_k": -1}, {"timeout_s": 0}, {"repetition_penalty": 9},
])
def test_bad_settings_are_refused_with_one_line(bad):
    with pytest.raises(BackendError) as info:
        ChatParams(**bad)
    assert "\n" not in str(info.value) and next(iter(bad)).split("_")[0] in str(info.value).lower()


def test_temperature_zero_means_greedy():
    assert not ChatParams(temperature=0).sampling
    assert not ChatParams(do_sample=False, temperature=0.8).sampling


@pytest.mark.parametrize("kw, msg", [
    ({"kind": "gpu"}, "Unknown backend"), ({"model": " "}, "No model"), ({"quantization": "2bit"}, "quantization"),
    ({"kind": "openai", "model": "m", "base_url": "localhost:8000"}, "http://"),
])
def test_bad_specs_are_refused(kw, msg):
    with pytest.raises(BackendError, match=msg):
        BackendSpec(**kw)


def test_presets_include_the_portuguese_assistant():
    assert any("only in Portuguese" in text for text in SYSTEM_PRESETS.values())


def test_build_messages_keeps_history_and_system_prompt():
    history = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "model": "x"}]
    msgs = build_messages("Be brief.", history, "c")
    assert msgs == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    assert build_messages("  ", [], "q") == [{"role": "user", "content": "q"}]


def test_a_question_whose_answer_was_stopped_before_its_first_word_is_left_out_of_the_history():
    """Stopped while the model was busy (compiling for fast decoding): an empty answer sent back made
    SmolLM2-135M answer the next question with nothing (the walk: "first token 20.30 s · 1 token", no text)."""
    from studio.chat import history_for

    turns = [{"role": "user", "content": "A story?"}, {"role": "assistant", "content": "One", "note": "stopped"},
             {"role": "user", "content": "Capital of Spain?"},
             {"role": "assistant", "content": "", "note": "stopped", "alt": {"role": "assistant", "content": "Madrid."}}]
    assert history_for(turns) == [{"role": "user", "content": "A story?"}, {"role": "assistant", "content": "One"}]
    assert history_for(turns, side=1)[-1] == {"role": "assistant", "content": "Madrid."}  # compare's other answer


@pytest.mark.parametrize("msgs", [[], [{"role": "assistant", "content": "x"}], [{"role": "user", "content": "  "}],
                                  [{"role": "robot", "content": "x"}]])
def test_invalid_conversations_are_refused(msgs):
    with pytest.raises(BackendError):
        validate_messages(msgs)


def test_stats_measure_first_token_and_speed():
    s = StreamStats(started=0.0)
    s.first_token_at, s.ended, s.tokens = 0.5, 2.5, 21
    assert s.ttft_s == 0.5 and s.tokens_per_s == pytest.approx(10.0)
    assert "first token 0.50 s" in s.summary() and "10.0 tokens/s" in s.summary()
    assert StreamStats().tokens_per_s is None
    one = StreamStats(started=0.0)
    one.first_token_at, one.tokens = 6.2, 1  # an answer stopped after its first token
    assert one.summary() == "first token 6.20 s · 1 token"


def test_speed_leaves_out_a_fast_decoding_compilation_named_apart():
    """The walk's answer read "0.8 tokens/s · ... · fast decoding (compiled in 11 s)": the 11 s pause
    counted as decoding. Tokens 3..13 came 0.5 s after the 11 s compilation that ended with token 2."""
    s = StreamStats(started=0.0, decoding="fast decoding (compiled in 11 s)", compile_s=11.0)
    s.first_token_at, s.ended, s.tokens = 1.0, 12.5, 13
    assert s.tokens_per_s == pytest.approx(22.0)
    assert s.summary() == "first token 1.00 s · 22.0 tokens/s · 13 tokens · fast decoding (compiled in 11 s)"


def test_exports_hold_the_conversation_and_settings():
    spec = BackendSpec(kind="openai", model="m", base_url="http://h/v1")
    msgs = [{"role": "user", "content": "Olá?"}, {"role": "assistant", "content": "Tudo bem.", "model": spec.label,
                                                   "stats": "first token 0.1 s"}]
    doc = json.loads(export_json(msgs, spec, ChatParams()))
    assert doc["messages"][1]["content"] == "Tudo bem." and doc["params"]["temperature"] == 0.1
    assert doc["model"]["base_url"] == "http://h/v1"
    md = export_markdown(msgs, spec)
    assert "## You" in md and "Tudo bem." in md and "## Assistant (m @ http://h/v1)" in md


def test_exports_say_a_question_has_no_answer_as_the_page_does():
    """A question kept without its answer (its tab was reloaded) exported as a bare "## You", so the Markdown held two
    "## You" in a row; the export says what the page says under it."""
    msgs = [{"role": "user", "content": "First?"}, {"role": "user", "content": "Second?"},
            {"role": "assistant", "content": "Yes.", "model": "m (local)"}, {"role": "user", "content": "Third?"}]
    md = export_markdown(msgs)
    assert md.count("No answer: the page was reloaded") == 2
    assert "## You\n\nFirst?\n\n*No answer: the page was reloaded or closed while it was answered.*\n\n## You" in md
    assert "Second?\n\n## Assistant" in md
    doc = json.loads(export_json(msgs))
    assert [m.get("note", "")[:9] for m in doc["messages"]] == ["No answer", "", "", "No answer"]


def test_exports_say_an_answer_was_stopped_or_cut_as_the_page_does():
    """The page says an answer was stopped, or cut at Max new tokens, under it; the exports held the words alone, as if
    the answer had ended there by itself (a stopped-before-its-first-token answer: an empty heading)."""
    msgs = [{"role": "user", "content": "Long?"},
            {"role": "assistant", "content": "Uma partida", "model": "a", "note": "stopped",
             "alt": {"content": "", "model": "b", "note": "stopped"}},
            {"role": "user", "content": "Longer?"}, {"role": "assistant", "content": "Dois tempos de", "model": "a",
                                                      "cut_at": 16}]
    doc = json.loads(export_json(msgs))
    assert doc["messages"][1]["note"] == "Stopped: the answer ends where Stop was pressed."
    assert doc["messages"][1]["alt"]["note"] == "Stopped before the first token: no answer."
    assert doc["messages"][3]["note"] == "Cut at 16 new tokens: raise Max new tokens to see more."
    md = export_markdown(msgs)
    assert "Uma partida\n\n*Stopped: the answer ends where Stop was pressed.*" in md
    assert "## Assistant B (b)\n\n*Stopped before the first token: no answer.*" in md
    assert "Dois tempos de\n\n*Cut at 16 new tokens: raise Max new tokens to see more.*" in md


def test_compare_exports_hold_both_answers_and_failures_with_their_reason():
    from studio.chat import BackendSpec, export_json, export_markdown

    turns = [{"role": "user", "content": "How long is a match?"},
             {"role": "assistant", "content": " Ninety minutes.", "model": "a (local)", "stats": "12 tokens",
              "alt": {"role": "assistant", "content": "", "model": "b @ http://x/v1", "stats": "0 tokens",
                      "error": "http://x/v1 closed the stream before the answer finished: try again."}}]
    a, b = BackendSpec(kind="local", model="a"), BackendSpec(kind="openai", model="b", base_url="http://x/v1")
    doc = json.loads(export_json(turns, a, None, b))
    answer = doc["messages"][1]
    assert answer["content"] == "Ninety minutes." and answer["alt"]["model"] == "b @ http://x/v1"
    assert answer["alt"]["error"].startswith("http://x/v1 closed the stream") and "stats" not in answer["alt"]
    assert doc["second_model"]["model"] == "b"
    md = export_markdown(turns, a, b)
    assert "## Assistant A (a (local))\n\nNinety minutes." in md
    assert "## Assistant B (b @ http://x/v1)\n\n*Failed: http://x/v1 closed the stream" in md


def test_compare_markdown_names_each_answers_side_with_one_model_on_both():
    """Compare mode with the same model on both sides exported two "## Assistant (m (local))" headings in a row, so
    which answer came from which side was lost; each heading names its side."""
    turns = [{"role": "user", "content": "Hi?"},
             {"role": "assistant", "content": "One.", "model": "m (local)",
              "alt": {"role": "assistant", "content": "Two.", "model": "m (local)"}},
             {"role": "user", "content": "Again?"}, {"role": "assistant", "content": "Three.", "model": "m (local)"}]
    md = export_markdown(turns)
    assert "## Assistant A (m (local))\n\nOne.\n\n## Assistant B (m (local))\n\nTwo." in md
    assert "## Assistant (m (local))\n\nThree." in md  # a single answer has no side


def test_an_answer_stopped_while_its_model_loads_asks_the_model_nothing():
    """Stop ends the answer on the page at once (the input comes back); a stop pressed while the model
    loaded still sent the question once the load ended: a local model took its lock and read the prompt for
    no one (the next question waited for it as busy), a hosted one got a request on the visitor's or the
    app's token. The backend is a stand-in that records being asked, so the load can be held open."""
    import threading

    from studio.chat import StreamJob

    loading, loaded, asked = threading.Event(), threading.Event(), []

    class Backend:
        name, notes = "stand-in", []

        def stream(self, messages, params, *, stats=None, stop=None):
            asked.append(messages)
            yield "an answer"

    def make():
        loading.set()
        loaded.wait(10)
        return Backend()

    job = StreamJob("m", make, [{"role": "user", "content": "Hi"}], ChatParams()).start()
    assert loading.wait(10)
    job.cancel()
    assert job.done  # the page moves on at once
    loaded.set()
    job.join(10)
    assert asked == [] and job.as_turn()["content"] == "" and job.as_turn()["note"] == "stopped"
    # said as what happened: it was stopped while the model loaded, not "before the first token" as if asked
    turn = job.as_turn()
    assert "*Stopped while the model loaded: no answer.*" in export_markdown([{"role": "user", "content": "Hi"}, turn])
    assert json.loads(export_json([{"role": "user", "content": "Hi"}, turn]))["messages"][1]["note"] == (
        "Stopped while the model loaded: no answer.")


def test_an_answer_starts_at_its_first_word():
    """A run trained from scratch (a GPT-2 tokenizer) answered " The goal is 7.32 metres ...": its first token carries
    the space before its word, and the answer showed indented beside the bundled model's in compare mode. The answer
    starts at its first word; the spaces inside it stay. The backend is a stand-in streaming what that run streamed."""
    from studio.chat import StreamJob

    class Backend:
        name, notes = "stand-in", []

        def stream(self, messages, params, *, stats=None, stop=None):
            yield from ["", " The", " goal is", " 7.32 metres."]

    job = StreamJob("m", Backend, [{"role": "user", "content": "How wide is the goal?"}], ChatParams()).start()
    job.join(10)
    assert job.as_turn()["content"] == "The goal is 7.32 metres."


@pytest.mark.parametrize(("streamed", "shown"), [
    (["\n", "    def", " area(r):\n", "        return r * r"], "    def area(r):\n        return r * r"),
    (["    ", "x = 1\n", "y = 2"], "    x = 1\ny = 2"),
    ([" ", "\n\n", "  - one\n  - two"], "  - one\n  - two"),
    ([" ", "The goal."], "The goal."),
])
def test_an_answer_that_starts_with_indented_code_keeps_its_indentation(streamed, shown):
    """The space a GPT-2 style model's first token carries was dropped with every leading space: an answer that
    starts with an indented code line (or list) lost its indentation. Blank lines and that one space before the
    answer are dropped; the first line's indentation stays."""
    from studio.chat import StreamJob

    class Backend:
        name, notes = "stand-in", []

        def stream(self, messages, params, *, stats=None, stop=None):
            yield from streamed

    job = StreamJob("m", Backend, [{"role": "user", "content": "Show me."}], ChatParams()).start()
    job.join(10)
    assert job.as_turn()["content"] == shown


def test_a_library_model_s_label_and_where_it_runs_share_one_pair_of_brackets(studio_home):
    """Compare mode's header read "SmolLM2-135M-Instruct (bundled Q4_1 copy) (local)": two brackets in a row."""
    from studio.chat import BackendSpec
    from studio.models import bundled

    assert BackendSpec(kind="local", model=bundled.SPEC).label == f"{bundled.LABEL[:-1]}, local)"
    assert BackendSpec(kind="local", model="/models/mine").label == "/models/mine (local)"


def test_a_compare_header_s_long_name_is_shortened_to_what_tells_it_apart():
    """A long path model name wrapped an API model's compare header onto two lines: its last part and the server's
    host are shown (the page shows the whole on hover); a short label stays as it is."""
    from studio.chat import short_label

    assert short_label("/home/ana/models/faq-run-3/checkpoint-final @ http://127.0.0.1:8000/v1") == \
        "checkpoint-final @ 127.0.0.1:8000"
    assert short_label("m @ http://127.0.0.1:8000/v1") == "m @ http://127.0.0.1:8000/v1"
    assert short_label("SmolLM2-135M-Instruct (bundled Q4_1 copy, local)") == \
        "SmolLM2-135M-Instruct (bundled Q4_1 copy, local)"
    long = short_label("x" * 300 + " @ http://h:1/v1")
    assert len(long) <= 48 and long.endswith("… @ h:1")


def test_an_answer_that_failed_before_its_first_token_shows_no_stats_line_but_how_often_it_asked():
    """A server busy three times, then refusing: the failed answer read "3 retries" under the error, a stats line as
    if it had answered. Now it says how often it was asked; a failure on the first try says nothing more."""
    from studio.chat import StreamJob

    def job_with(retries: int, error: str):
        class Backend:
            name, notes = "stand-in", []

            def stream(self, messages, params, *, stats=None, stop=None):
                stats.retries = retries
                raise BackendError(error)
                yield ""

        job = StreamJob("m", Backend, [{"role": "user", "content": "Hi"}], ChatParams()).start()
        job.join(10)
        return job.as_turn()

    busy = job_with(3, "m: refused the request (400): bad input. Check the model's name.")
    assert busy["error"].startswith("m: refused") and busy["stats"] == "Asked 4 times, then failed."
    assert job_with(0, "m: refused the request (400): bad input.")["stats"] == ""
    assert job_with(3, "m: server busy, still after 4 tries. Try again later.")["stats"] == ""  # said once


def test_exports_name_the_models_that_answered_not_the_one_picked_since():
    """The header named the model picked in the sidebar at the click: a conversation answered by SmolLM2 and a server
    (compare mode), exported after distilgpt2 was picked, said "Model: distilgpt2"."""
    from studio.chat import BackendSpec, export_json, export_markdown

    a, b = BackendSpec(kind="local", model="smol"), BackendSpec(kind="openai", model="srv", base_url="http://x/v1")
    c = BackendSpec(kind="local", model="tiny")
    later = BackendSpec(kind="local", model="distilgpt2")
    turn = {"role": "assistant", "content": "Ninety.", "model": a.label, "spec": a.to_dict(),
            "alt": {"role": "assistant", "content": "90.", "model": b.label, "spec": b.to_dict()}}
    turns = [{"role": "user", "content": "How long?"}, turn, {"role": "user", "content": "And extra time?"},
             {"role": "assistant", "content": "", "model": a.label, "error": "It failed: try again."},
             {"role": "user", "content": "Again?"}, dict(turn, content="Thirty.", model=c.label, spec=c.to_dict())]
    doc = json.loads(export_json(turns, later, None, None))
    assert doc["model"]["model"] == "smol" and doc["model"]["label"] == a.label
    assert doc["second_model"]["base_url"] == "http://x/v1"
    assert [m["model"] for m in doc["models"]] == ["smol", "tiny"] and len(doc["second_models"]) == 1
    md = export_markdown(turns, later, None)
    assert f"Models: {a.label}, then {c.label} · compared with {b.label}" in md and "Model: distilgpt2" not in md
    # nothing answered yet (the page was reloaded while it was answered): the picked ones
    assert json.loads(export_json(turns[:1], later, None, b))["second_model"]["model"] == "srv"
    assert f"Model: {later.label} · compared with {b.label}" in export_markdown(turns[:1], later, b)


def test_exports_give_the_settings_the_answers_were_asked_with_not_the_sidebar_s_since(tmp_path, monkeypatch):
    """Export JSON's params were the sidebar's at the click: an answer asked at temperature 0.1, exported after the
    slider was moved to 1.5, said 1.5. The settings each answer was asked with are kept with it, a reload too."""
    from studio.chat import StreamJob, saved

    class Backend:
        name, notes = "stand-in", []

        def stream(self, messages, params, *, stats=None, stop=None):
            yield "Noventa minutos."

    job = StreamJob("m", Backend, [{"role": "user", "content": "Hi"}], ChatParams(temperature=0.1)).start()
    assert job.join(10)
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path))
    saved.save([{"role": "user", "content": "Hi"}, job.as_turn()])
    turns, _ = saved.load()
    doc = json.loads(export_json(turns, None, ChatParams(temperature=1.5)))
    assert doc["params"]["temperature"] == 0.1 and doc["messages"][1]["params"]["temperature"] == 0.1
    assert json.loads(export_json(turns[:1], None, ChatParams(temperature=1.5)))["params"]["temperature"] == 1.5
