"""Fast decoding (static cache + compiled decoding step) on a tiny llama, compiled for real on this CPU:
the same greedy answers as normal decoding, one compilation for a range of questions and lengths, Stop
while it compiles, and a one-line reason where a model cannot use it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from studio.chat import BackendSpec, ChatParams, StreamStats, make_backend
from studio.chat.local import LocalBackend
from studio.errors import BackendError
from studio.models import fast_decoding, generate
from studio.models.cache import model_lock
from studio.models.loading import LoadedModel, load_causal_lm

QUESTIONS = ["How long is a match?", "What is a corner kick, and who takes it after the ball goes out?"]
GREEDY = ChatParams(max_new_tokens=24, temperature=0)


def ask(backend: LocalBackend, question: str, params: ChatParams = GREEDY) -> tuple[str, StreamStats]:
    stats = StreamStats()
    return backend.complete([{"role": "user", "content": question}], params, stats), stats


def graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


@pytest.fixture()
def llama(tiny_llama, offline) -> LoadedModel:
    """A freshly loaded model: nothing compiled for it yet (torch reuses what it compiled for an earlier copy of the
    same model in this process, so that is forgotten first: its first answer compiles, as in a new process)."""
    import torch

    torch._dynamo.reset()
    return load_causal_lm(str(tiny_llama))


def test_cache_length_is_bucketed_bounded_and_never_too_short():
    assert fast_decoding.cache_length(10, 2048) == 256
    assert fast_decoding.cache_length(256, 2048) == 256 and fast_decoding.cache_length(257, 2048) == 512
    assert fast_decoding.cache_length(600, 1024) == 1024 and fast_decoding.cache_length(600, 512) == 600
    lengths = {fast_decoding.cache_length(p + n, 4096) for p in range(1, 400, 7) for n in range(16, 2048, 16)}
    assert lengths == {256, 512, 1024, 2048, 4096}  # a handful of shapes for every slider position


def test_fast_answers_equal_normal_ones_and_compile_once(llama):
    eager = LocalBackend(llama)
    fast = LocalBackend(llama, fast_decoding=True)
    expected = [ask(eager, q)[0] for q in QUESTIONS]
    first, stats = ask(fast, QUESTIONS[0])
    assert first == expected[0]
    # "fast decoding (compiled in N s)", or plain "fast decoding" where inductor's cache made it take under a second
    # (an earlier test compiled the same graph: NOTICEABLE_COMPILE_S)
    assert stats.decoding.startswith("fast decoding") and stats.decoding in stats.summary()
    assert stats.decoding.startswith("fast decoding (compiled in") == (stats.compile_s >= fast_decoding.NOTICEABLE_COMPILE_S)
    before = graphs()
    second, stats2 = ask(fast, QUESTIONS[1])  # another prompt length
    shorter, stats3 = ask(fast, QUESTIONS[0], ChatParams(max_new_tokens=9, temperature=0))  # the slider moved
    assert second == expected[1] and shorter == ask(eager, QUESTIONS[0], ChatParams(max_new_tokens=9, temperature=0))[0]
    assert stats2.decoding == stats3.decoding == "fast decoding"
    assert graphs() == before  # no recompilation for either
    assert [ask(eager, q)[0] for q in QUESTIONS] == expected  # normal decoding is untouched afterwards


def test_the_cache_is_kept_and_cleared_in_place_so_cuda_graphs_can_replay(llama):
    """CUDA graphs replay only while the cache tensors keep their addresses: later answers reuse the first
    answer's cache, cleared, whatever their length; a batch of another size gets its own, and chat after
    it answers as normal decoding does."""
    fast = LocalBackend(llama, fast_decoding=True)
    ask(fast, QUESTIONS[0])
    shape = fast_decoding.cache_shape(llama)
    cache = llama.model._studio_fast_decoding_cache[2]
    addresses = [layer.keys.data_ptr() for layer in cache.layers]
    assert ask(fast, QUESTIONS[1])[0] == ask(LocalBackend(llama), QUESTIONS[1])[0]
    assert fast_decoding.cache_shape(llama) == shape and llama.model._studio_fast_decoding_cache[2] is cache
    assert [layer.keys.data_ptr() for layer in cache.layers] == addresses
    batched = generate.generate_answers(llama, QUESTIONS, max_new_tokens=16, batch_size=2, fast_decoding=True)
    assert batched == generate.generate_answers(llama, QUESTIONS, max_new_tokens=16, batch_size=2)
    assert fast_decoding.cache_shape(llama) == (2, shape[1])  # one cache at a time: the longest length kept
    assert ask(fast, QUESTIONS[0])[0] == ask(LocalBackend(llama), QUESTIONS[0])[0]


def test_a_reloaded_model_never_claims_a_compilation_of_0_s(llama, tiny_llama):
    """Unload and reload in Chat is a new model object: torch reuses the step it compiled for the old one, so
    the second token comes at once; the answer said "fast decoding (compiled in 0 s)"."""
    ask(LocalBackend(llama, fast_decoding=True), QUESTIONS[0])  # compiles for the first load
    reloaded = load_causal_lm(str(tiny_llama))
    answer, stats = ask(LocalBackend(reloaded, fast_decoding=True), QUESTIONS[0])
    assert answer == ask(LocalBackend(reloaded), QUESTIONS[0])[0]
    assert "compiled in 0 s" not in stats.summary() and stats.decoding.startswith("fast decoding")
    if stats.decoding == "fast decoding":  # no pause named: none left out of tokens/s either
        assert stats.compile_s == 0


def test_two_sessions_at_once_get_their_own_answers(llama):
    """Two sessions share the model, both with fast decoding, the first one compiling: each gets exactly the
    answer normal decoding gives it (the model lock serialises them; the second waits for the compilation)."""
    expected = {q: ask(LocalBackend(llama), q)[0] for q in QUESTIONS}
    got: dict[str, list[str]] = {q: [] for q in QUESTIONS}

    def session(question: str) -> None:
        backend = LocalBackend(llama, fast_decoding=True)  # each session builds its own, as the page does
        for _ in range(2):
            got[question].append(ask(backend, question)[0])

    threads = [threading.Thread(target=session, args=(q,)) for q in QUESTIONS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert got == {q: [expected[q]] * 2 for q in QUESTIONS}


def test_batched_fast_answers_equal_normal_ones(llama):
    eager = generate.generate_answers(llama, QUESTIONS, max_new_tokens=16, batch_size=2)
    assert generate.generate_answers(llama, QUESTIONS, max_new_tokens=16, batch_size=2, fast_decoding=True) == eager


def test_stop_while_compiling_ends_the_answer_at_once(llama, monkeypatch):
    """Stop pressed during the pause after the first token: the answer ends within a poll, while the
    model finishes compiling; its lock is free when it has, and the next answer is fast and equal.
    Inductor's cache makes a repeated compilation quick, so a 4 s sleep on the compiled step's first
    call stands in for a long compilation."""
    real = type(llama.model).get_compiled_call
    slept = []

    def slow_first_call(self, config):
        compiled = real(self, config)

        def call(*args, **kwargs):
            if not slept:
                slept.append(time.sleep(4))
            return compiled(*args, **kwargs)
        return call

    monkeypatch.setattr(type(llama.model), "get_compiled_call", slow_first_call)
    backend = LocalBackend(llama, fast_decoding=True)
    stop, stats, pressed = threading.Event(), StreamStats(), []

    def press_stop_when_compiling():
        while stats.status != fast_decoding.COMPILING or stats.tokens < 1:
            time.sleep(0.01)
        pressed.append(time.perf_counter())
        stop.set()

    threading.Thread(target=press_stop_when_compiling, daemon=True).start()
    list(backend.stream([{"role": "user", "content": QUESTIONS[0]}], GREEDY, stats=stats, stop=stop))
    ended = time.perf_counter()
    lock = model_lock(llama.model)
    still_compiling = lock.locked()
    assert lock.acquire(timeout=600)
    lock.release()
    assert ended - pressed[0] < 1.0 and still_compiling
    assert stats.tokens < GREEDY.max_new_tokens and stats.status == ""
    assert ask(backend, QUESTIONS[0])[0] == ask(LocalBackend(llama), QUESTIONS[0])[0]


def test_models_that_cannot_use_it_say_why_and_answer_as_usual(llama, tiny_gpt2):
    """A 4-bit model is not possible on this CPU: the loaded model is relabelled as one (a stand-in)."""
    eager = ask(LocalBackend(llama), QUESTIONS[0])[0]
    four_bit = LoadedModel(llama.ref, llama.model, llama.tokenizer, llama.device, llama.dtype, "4bit", [])
    backend = LocalBackend(four_bit, fast_decoding=True)
    text, stats = ask(backend, QUESTIONS[0])
    assert text == eager and stats.decoding == ""
    assert [n for n in backend.notes if "Fast decoding is off for 4bit models" in n]
    b = make_backend(BackendSpec(kind="local", model=str(tiny_gpt2), fast_decoding=True))
    assert b.fast_decoding and not [n for n in b.notes if "Fast decoding" in n]  # GPT-2 can
    from studio.chat.passage import make_passage_backend

    over = make_passage_backend(BackendSpec(kind="local", model=str(tiny_gpt2), fast_decoding=True))
    assert over.chat.fast_decoding  # passage answers from a generative local model use it too
    with pytest.raises(BackendError, match="Fast decoding is for local models"):
        BackendSpec(kind="openai", model="m", base_url="http://127.0.0.1:1/v1", fast_decoding=True)


def test_a_failed_compilation_is_one_line_and_later_answers_are_normal(llama, monkeypatch):
    """A compiler that fails (a machine without a C compiler) stands in as a raising compiled call."""

    def broken(*args, **kwargs):
        def call(*a, **k):
            raise RuntimeError("InductorError: no working C compiler found\n(long traceback)")
        return call

    monkeypatch.setattr(type(llama.model), "get_compiled_call", broken)
    backend = LocalBackend(llama, fast_decoding=True)
    with pytest.raises(BackendError, match=r"^Fast decoding failed on this model \(RuntimeError: InductorError: no "
                                           r"working C compiler found\): it is off") as err:
        ask(backend, QUESTIONS[0])
    assert "\n" not in str(err.value)
    again = LocalBackend(llama, fast_decoding=True)
    assert not again.fast_decoding and any("it failed earlier" in n for n in again.notes)
    assert ask(again, QUESTIONS[0])[0] == ask(LocalBackend(llama), QUESTIONS[0])[0]


def test_a_cache_that_cannot_be_made_answers_normally_and_frees_the_model(llama, monkeypatch):
    """Making the static cache raised after the model's lock was taken and outside the code that frees it:
    the lock stayed held, and every later question waited as if the model were busy."""
    def fails(*_args, **_kwargs):
        raise RuntimeError("no static cache for this layer")

    monkeypatch.setattr(fast_decoding, "generate_kwargs", fails)
    backend = LocalBackend(llama, fast_decoding=True)
    answer, _ = ask(backend, QUESTIONS[0])
    assert answer == ask(LocalBackend(llama), QUESTIONS[0])[0]
    assert not model_lock(llama.model).locked()
    assert [n for n in backend.notes if n.startswith("Fast decoding is off for this model")] == [
        "Fast decoding is off for this model: it failed earlier (RuntimeError: no static cache for this layer); "
        "answers use normal decoding."]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True, timeout=600)


def test_the_cli_flag_answers_the_same_and_refuses_api_models(tiny_llama, offline):
    normal = cli("ask", str(tiny_llama), QUESTIONS[0], "--max-new-tokens", "16")
    fast = cli("ask", str(tiny_llama), QUESTIONS[0], "--max-new-tokens", "16", "--fast-decoding")
    assert normal.returncode == fast.returncode == 0, fast.stderr[-500:]
    assert fast.stdout == normal.stdout and "Compiling for fast decoding" in fast.stderr
    chat = cli("chat", "--local", "--model", str(tiny_llama), "--temperature", "0", "--max-new-tokens", "16",
               "--fast-decoding", "--stats", QUESTIONS[0])
    assert chat.returncode == 0 and "fast decoding (compiled in" in chat.stderr
    refused = cli("chat", "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--fast-decoding", "hi")
    assert refused.returncode == 2 and refused.stderr.strip() == (
        "error: --fast-decoding is for --local models: an API model decodes on its server")
