"""The long-lived generation thread: every local generate of a model runs on one thread that outlives
the answer (a thread per answer made CUDA generation ~4x slower, issue 26), errors reach the caller,
and the thread ends with its model."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from studio.models import worker


class Model:
    """Any object a worker can be keyed on (a loaded model in the studio)."""


def test_calls_on_one_model_run_in_order_on_one_thread_that_outlives_them():
    m = Model()
    seen = [worker.run(m, lambda: threading.get_ident()) for _ in range(3)]
    assert len(set(seen)) == 1 and seen[0] != threading.get_ident()
    order: list[int] = []
    futs = [worker.submit(m, lambda i=i: order.append(i)) for i in range(20)]
    for f in futs:
        f.result(5)
    assert order == list(range(20))
    assert worker.worker_for(m).thread.is_alive()  # still there for the next answer
    assert worker.run(Model(), lambda: threading.get_ident()) != seen[0]  # another model, another thread


def test_an_error_reaches_the_caller_and_the_worker_goes_on():
    m = Model()

    def boom():
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        worker.run(m, boom)
    assert worker.run(m, lambda: 42) == 42


def test_a_call_from_inside_a_call_runs_inline_instead_of_deadlocking():
    m = Model()
    assert worker.run(m, lambda: worker.run(m, lambda: "inner")) == "inner"


def test_the_thread_ends_when_its_model_is_dropped():
    m = Model()
    t = worker.worker_for(m).thread
    worker.run(m, lambda: None)
    del m
    gc.collect()
    t.join(5)
    assert not t.is_alive()


def test_chat_answers_reuse_the_models_thread(tiny_gpt2, offline):
    """Several streamed answers (one stopped early) start no thread of their own."""
    from studio.chat import ChatParams, StreamStats
    from studio.chat.local import LocalBackend
    from studio.models.loading import load_causal_lm

    backend = LocalBackend(load_causal_lm(str(tiny_gpt2), device="cpu"))
    msgs = [{"role": "user", "content": "How long is a match?"}]
    params = ChatParams(max_new_tokens=6, temperature=0)
    first = "".join(backend.stream(msgs, params))
    w = worker.worker_for(backend.loaded.model)
    calls, before = w.calls, threading.active_count()
    for _ in range(3):
        assert "".join(backend.stream(msgs, params)) == first  # greedy: the same answer each time
    stop, stats = threading.Event(), StreamStats()
    stop.set()  # Stop pressed: generation on the worker ends at its next token
    "".join(backend.stream(msgs, ChatParams(max_new_tokens=200, temperature=0), stats=stats, stop=stop))
    deadline = time.time() + 5
    while w.calls < calls + 4 and time.time() < deadline:
        time.sleep(0.01)
    assert w.calls == calls + 4 and threading.active_count() == before
    assert stats.tokens < 5
