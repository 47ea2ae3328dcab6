"""Evaluate's Stop ends the answer in progress: a local model at its next token, a silent OpenAI-compatible server by
closing the connection. The cut-short answer is not kept; the answers before it are."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from studio.evaluate import job as eval_jobs
from studio.evaluate import results as eval_results
from studio.evaluate import runner as evaluate
from studio.evaluate import stopping
from studio.evaluate.config import EvalConfig
from studio.models import generate
from tests.conftest import build_tiny_causal_lm
from tests.evaluate.test_evaluate import QA  # five soccer questions and their answers


@pytest.fixture(scope="module")
def long_winded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny llama with an 8k context: greedy, it writes every token it is allowed (no end token, no stop string
    in its first thousands of tokens on these questions), so an answer runs for seconds."""
    path = build_tiny_causal_lm(tmp_path_factory.mktemp("long-winded"), arch="llama")
    cfg = json.loads((path / "config.json").read_text())
    cfg["max_position_embeddings"] = 8192  # rotary positions: no weights change
    (path / "config.json").write_text(json.dumps(cfg))
    return path


def test_stop_cuts_a_local_batch_short_and_keeps_the_batches_before(long_winded, tmp_path, offline, monkeypatch):
    """The user presses Stop (the job's stop file, as the page writes it) just as the second batch starts
    generating. That batch is cut at its next token instead of writing its 400 tokens: its answers are not kept
    (they would score as wrong), the first batch's are, and the questions after it say they were not run."""
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    eval_id = "20261205-000000-stop"
    calls = []
    real = generate._generate

    def generate_then_stop_on_the_second_batch(model, batch, kwargs):
        calls.append(kwargs["max_new_tokens"])
        if len(calls) == 2:
            eval_jobs.stop_evaluation(eval_id)  # Stop pressed while this batch generates
        return real(model, batch, kwargs)

    monkeypatch.setattr(generate, "_generate", generate_then_stop_on_the_second_batch)
    cfg = EvalConfig(models=(str(long_winded),), dataset_file=str(data), max_new_tokens=400, batch_size=2,
                     perplexity=False)
    result = evaluate.run_evaluation(cfg, eval_id=eval_id)

    assert result.status == "stopped" and "kept" in result.error
    assert calls == [400, 400]  # the third batch never started
    stored = eval_results.load(eval_id)
    label = stored.models[0].label
    first, cut, rest = stored.rows[:2], stored.rows[2:4], stored.rows[4:]
    assert all(len(r.answers[label]) > 100 for r in first)  # the first batch wrote its answers in full
    assert all(label not in r.answers and label not in r.scores for r in cut)
    assert all(r.errors[label] == stopping.INTERRUPTED for r in cut)
    assert all(r.errors[label] == stopping.NOT_RUN for r in rest)
    summary = eval_results.summarize(stored)[label]
    assert (summary["answered"], summary["failed"], summary["stopped"]) == (2, 0, 3)  # stopped is not failed
    assert eval_jobs.job_state(eval_id).state == "stopped"


def test_generation_stopped_keeps_finished_batches_and_leaves_out_the_cut_one(long_winded, offline):
    """``generate_answers`` with a stop event: a stop during the second batch ends it at the next token and
    says which answers finished (the first batch) and which did not (None)."""
    from studio.models import loading

    lm = loading.load_causal_lm(str(long_winded), device="cpu")
    stop = threading.Event()
    done = []

    def progress(n, total):
        done.append(n)

    class StopOnSecondBatch(threading.Event):
        asked = 0

        def is_set(self):  # the criterion asks at every token: stop a few tokens into the second batch
            if done:
                self.asked += 1
            if self.asked > 5:
                stop.set()
            return stop.is_set()

    questions = [q["question"] for q in QA[:3]]
    with pytest.raises(generate.GenerationStopped) as caught:
        generate.generate_answers(lm, questions, max_new_tokens=300, batch_size=2, stop=StopOnSecondBatch(),
                                  progress=progress)
    answers = caught.value.answers
    assert len(answers) == 3 and done == [2]
    assert answers[:2] == generate.generate_answers(lm, questions[:2], max_new_tokens=300, batch_size=2)
    assert answers[2] is None


class _SilentAfterOne:
    """A loopback OpenAI-compatible server: it answers "How long is a match?" in full; any other question gets
    its first piece and then silence, until the client closes the connection (recorded in ``closed``)."""

    def __init__(self):
        self.asked, self.closed, self.questions = threading.Event(), threading.Event(), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                question = body["messages"][-1]["content"]
                owner.questions.append(question)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if "long is a match" in question:
                    self._event({"delta": {"content": "Two halves of 45 minutes."}, "finish_reason": None})
                    self._event({"delta": {}, "finish_reason": "stop"})
                    self._send(b"data: [DONE]\n\n")
                    self._send(b"")
                    return
                self._event({"delta": {"content": "Eleven, one of"}, "finish_reason": None})
                owner.asked.set()
                self.connection.settimeout(300)
                try:
                    while self.connection.recv(4096):  # nothing more is sent: wait for the client to go
                        pass
                except OSError:
                    return
                owner.closed.set()
                self.close_connection = True

            def _event(self, choice):
                event = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                         "choices": [{"index": 0, **choice}]}
                self._send(f"data: {json.dumps(event)}\n\n".encode())

            def _send(self, data: bytes):
                self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
                self.wfile.flush()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_stop_ends_a_background_job_waiting_on_a_silent_server(tmp_path):
    """The page's job, one request in flight, the server silent mid-answer with a 300 s timeout: Stop closes the
    connection and the job ends stopped; the first answer is kept, the cut one is not, the rest were not run."""
    server = _SilentAfterOne()
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    cfg = EvalConfig(models=("api:m",), dataset_file=str(data), api_base_url=server.url, api_concurrency=1,
                     api_timeout_s=300)
    eval_id = eval_jobs.start_evaluation(cfg)
    try:
        assert server.asked.wait(120), (eval_jobs.job_dir(eval_id) / "log.txt").read_text()
        eval_jobs.stop_evaluation(eval_id)
        assert server.closed.wait(60), "the connection to the silent server stayed open after Stop"
        deadline = time.monotonic() + 60  # far below the 300 s the server's silence would otherwise last
        while eval_jobs.job_state(eval_id).active and time.monotonic() < deadline:
            time.sleep(0.2)
        status = eval_jobs.job_state(eval_id)
        assert status.state == "stopped", status
        result = eval_results.load(eval_id)
        assert result.status == "stopped"
        first, cut, rest = result.rows[0], result.rows[1], result.rows[2:]
        assert first.answers == {"api:m": "Two halves of 45 minutes."}
        assert cut.answers == {} and cut.errors == {"api:m": stopping.INTERRUPTED}  # not "Eleven, one of"
        assert all(r.errors == {"api:m": stopping.NOT_RUN} for r in rest)
        assert len(server.questions) == 2  # nothing was asked after the stop
    finally:
        if eval_jobs.job_state(eval_id).active:
            eval_jobs.stop_evaluation(eval_id)
        server.server.shutdown()


PASSAGES = [{"question": "Qual é o nome?", "answer": "Marcundes", "context": f"Meu nome é Marcundes, aula {i}."}
            for i in range(3)]


def _stop_while_answering(cfg: EvalConfig, server, mode: str) -> tuple:
    """Run ``cfg`` in this process, press Stop once ``server`` got its first request in ``mode``; the result and how
    long the evaluation took to end after Stop."""
    stop = threading.Event()
    done = {}
    worker = threading.Thread(daemon=True, target=lambda: done.update(
        result=evaluate.run_evaluation(cfg, token="hf_stoptest0123456789", cancel=stop.is_set)))
    worker.start()
    deadline = time.monotonic() + 60
    while server.hits[mode] < 1 and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.hits[mode] == 1, done.get("result") and done["result"].rows[0].errors
    time.sleep(0.3)  # the answer is under way: the server sends a byte every 0.5 s, for about two minutes
    stop.set()
    pressed = time.monotonic()
    worker.join(60)
    return done.get("result"), time.monotonic() - pressed


@pytest.mark.parametrize("route", ["endpoint", "providers"])
def test_stop_closes_an_extractive_api_model_s_request_at_once(tmp_path, route, monkeypatch):
    """Stop waited out an api:qa: model's request in flight (one plain request, through huggingface_hub's shared
    connections or a dedicated endpoint): here a server that answers one byte every half second, for minutes, under
    a 300 s timeout. Now its connection is closed and the evaluation ends stopped at once."""
    from chat_servers import QAServer

    data = tmp_path / "passages.json"
    data.write_text(json.dumps(PASSAGES))
    with QAServer().running() as server:
        if route == "endpoint":  # a dedicated endpoint (the page's "Endpoint for api:qa: models")
            model, extra = "api:qa:deepset/roberta-base-squad2", {"qa_endpoint": server.url("hold")}
        else:  # Inference Providers: hf-inference's request goes to the loopback server in place of the router
            from huggingface_hub.inference._providers.hf_inference import HFInferenceTask

            mapping = HFInferenceTask._prepare_mapping_info  # given a URL, it posts there (and asks the Hub nothing)
            monkeypatch.setattr(HFInferenceTask, "_prepare_mapping_info", lambda task, m: mapping(task, server.url("hold")))
            model, extra = "api:qa:deepset/roberta-base-squad2", {"api_provider": "hf-inference"}
        cfg = EvalConfig(models=(model,), dataset_file=str(data), api_timeout_s=300, **extra)
        result, waited = _stop_while_answering(cfg, server, "hold")
        assert result is not None and waited < 10, f"Stop waited {waited:.0f} s for the request in flight"
        deadline = time.monotonic() + 10
        while server.dropped["hold"] < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.dropped["hold"] == 1, "the connection stayed open after Stop"
    assert result.status == "stopped", result.error
    cut, *rest = result.rows
    assert cut.errors == {model: stopping.INTERRUPTED} and not cut.answers
    assert all(r.errors == {model: stopping.NOT_RUN} for r in rest)
    assert result.summary[model]["stopped"] == len(PASSAGES) and result.summary[model]["failed"] == 0




def test_a_stopped_evaluation_names_what_was_not_run_not_the_model_that_answered(long_winded, tiny_gpt2, tmp_path,
                                                                                  offline, monkeypatch):
    """Stop during the first model's last batch: that model answered its first batch, yet the page warned
    "<it>: not run: the evaluation was stopped", and the model after it, never started, showed "pending" in
    every cell of a stopped evaluation (the page, the HTML report) instead of "not run"."""
    from studio.evaluate import report

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA[:4]))
    eval_id = "20261205-000000-stp2"
    calls = []
    real = generate._generate

    def stop_on_the_second_batch(model, batch, kwargs):
        calls.append(1)
        if len(calls) == 2:
            eval_jobs.stop_evaluation(eval_id)
        return real(model, batch, kwargs)

    monkeypatch.setattr(generate, "_generate", stop_on_the_second_batch)
    cfg = EvalConfig(models=(str(long_winded), str(tiny_gpt2)), dataset_file=str(data), max_new_tokens=400,
                     batch_size=2, perplexity=False)
    evaluate.run_evaluation(cfg, eval_id=eval_id)
    stored = eval_results.load(eval_id)
    first, second = stored.models
    assert stored.status == "stopped"
    assert first.error is None  # it answered two questions: no model-wide verdict
    assert all(r.errors[second.label] == stopping.NOT_RUN for r in stored.rows)
    assert eval_results.failed_models(stored) == {second.label: stopping.NOT_RUN}
    assert "pending" not in report.answers_table(stored)
    assert "<i>pending</i>" not in report.to_html(stored)


def test_stop_as_a_batch_ends_does_not_begin_its_perplexity_pass(long_winded, tmp_path, offline, monkeypatch):
    """Stop pressed as the first batch finished its answers: the evaluation scored that batch's reference perplexity
    (a forward pass over every reference, seconds on a CPU with a real model) before it looked at Stop again, where
    the docs say Stop ends it at once. Now the pass is not begun: the batch's answers stand, the rest are not run."""
    from studio.evaluate import perplexity

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    eval_id = "20261207-000000-ppl-stop"
    real_generate, real_ppl = generate._generate, perplexity.reference_perplexity
    passes = []

    def generate_then_stop(model, batch, kwargs):
        out = real_generate(model, batch, kwargs)
        eval_jobs.stop_evaluation(eval_id)  # Stop pressed just as the batch's answers are written
        return out

    def counted(*args, **kwargs):
        passes.append(args[1])
        return real_ppl(*args, **kwargs)

    monkeypatch.setattr(generate, "_generate", generate_then_stop)
    monkeypatch.setattr(perplexity, "reference_perplexity", counted)
    cfg = EvalConfig(models=(str(long_winded),), dataset_file=str(data), max_new_tokens=4, batch_size=2,
                     perplexity=True)
    result = evaluate.run_evaluation(cfg, eval_id=eval_id)

    assert result.status == "stopped" and passes == []
    stored = eval_results.load(eval_id)
    label = stored.models[0].label
    assert all(label in r.answers for r in stored.rows[:2])
    assert all(r.errors[label] == stopping.NOT_RUN for r in stored.rows[2:])


def test_the_perplexity_pass_asks_stop_before_each_of_its_batches(long_winded, offline):
    """Within one evaluation batch the references are scored 16 to a forward pass: a Stop during the first pass
    leaves the rest unscored (None) instead of running them all."""
    from studio.evaluate import perplexity
    from studio.models import loading

    lm = loading.load_causal_lm(str(long_winded), device="cpu")
    questions, answers = [q["question"] for q in QA[:3]], [q["answer"] for q in QA[:3]]
    asked = []

    def stop_after_the_first():
        asked.append(1)
        return len(asked) > 1

    scored = perplexity.reference_perplexity(lm, questions, answers, batch_size=1, stop=stop_after_the_first)
    assert scored[0] is not None and scored[1:] == [None, None]
    assert perplexity.reference_perplexity(lm, questions, answers, batch_size=1, stop=lambda: False)[0] == scored[0]
