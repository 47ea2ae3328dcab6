"""Servers for chat tests: a real ``transformers serve`` and a small server that fails on purpose.

The failing server stands in for faults a real server cannot be made to produce on demand (a
provider's 503 "model is loading", 429 with Retry-After, a rejected token, a proxy answering HTML,
a server that accepts the connection and never answers). Its base URL names the fault:
``http://127.0.0.1:P/<mode>/v1``; it counts requests per mode and records the headers it got.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import hub_servers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chunk(text: str) -> bytes:
    data = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}]}
    return f"data: {json.dumps(data)}\n\n".encode()


GOOD_ANSWER = ["Olá", ", tudo", " bem?"]
SLOW_ANSWER = "Uma partida tem dois tempos de quarenta e cinco minutos cada um"
PARTIAL_ANSWER = "Uma partida tem noventa"  # what the "partial" mode says before it holds the connection


class FaultServer:
    """A loopback HTTP server answering /<mode>/v1/chat/completions according to ``mode``."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []
        self.bodies: list[dict] = []
        self.dropped: Counter[str] = Counter()  # connections the client closed mid-answer (trickle, hold)
        self.release = threading.Event()  # ends the "silent" mode's wait at shutdown
        self.models_gate = threading.Event()  # "held-models" lists its models once a test sets it
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                mode = self.path.strip("/").split("/")[0]
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.hits[mode] += 1
                server.headers.append({k.lower(): v for k, v in self.headers.items()})
                server.bodies.append(body)
                getattr(server, f"mode_{mode.replace('-', '_')}")(self, server.hits[mode])

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming); /no-model/v1/models lists its models
                mode = self.path.strip("/").split("/")[0]
                if mode in ("no-model", "one-model", "held-models") and self.path.endswith("/v1/models"):
                    server.hits[f"{mode}/models"] += 1
                    if mode == "held-models":  # a server slow to list its models: it answers when the test says
                        server.models_gate.wait(timeout=30)
                    names = ["/models/only-one"] if mode == "one-model" else ["org/served-one", "org/served-two"]
                    server.send(self, 200, json.dumps({"object": "list", "data": [{"id": n} for n in names]}).encode())
                else:  # what http.server answers a method it has no handler for (a redirect's GET reads it)
                    self.send_error(501, f"Unsupported method ({self.command!r})")

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                """A client that hung up mid-answer (a Stop, a closed tab: what many tests do) is no error to print."""
                import sys

                if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        self.httpd = Server(("127.0.0.1", free_port()), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    # --- answers ------------------------------------------------------------------------------
    @staticmethod
    def send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "application/json",
             extra: dict[str, str] | None = None) -> None:
        hub_servers.send(h, status, body, ctype, extra)

    def stream_good(self, h: BaseHTTPRequestHandler) -> None:
        body = b"".join(chunk(t) for t in GOOD_ANSWER) + b"data: [DONE]\n\n"
        self.send(h, 200, body, "text/event-stream")

    def mode_good(self, h, n):
        self.stream_good(h)

    def mode_one_model(self, h, n):  # serves one model (GET /one-model/v1/models lists it), and answers
        self.stream_good(h)

    def mode_loading(self, h, n):  # a provider warming the model up: 503 with an estimate, then fine
        if n == 1:
            self.send(h, 503, json.dumps({"error": "Model m is currently loading", "estimated_time": 0.5}).encode())
        else:
            self.stream_good(h)

    def mode_busy(self, h, n):  # rate limited once, with Retry-After
        if n == 1:
            self.send(h, 429, b'{"error": "rate limit"}', extra={"Retry-After": "1"})
        else:
            self.stream_good(h)

    def mode_busy_long(self, h, n):
        self.send(h, 429, b'{"error": "rate limit"}', extra={"Retry-After": "3600"})

    def mode_down(self, h, n):  # always 503, asking for no wait: the retries run out quickly
        self.send(h, 503, b'{"error": "overloaded"}', extra={"Retry-After": "0"})

    def mode_crashed(self, h, n):  # always 500 with the server's own reason (a key in it, to be scrubbed), no wait
        msg = "model crashed: CUDA error\n  at layer 3 (api_key=sk-live1234567890abcdefXYZ) " + "x" * 400
        self.send(h, 500, json.dumps({"error": {"message": msg}}).encode(), extra={"Retry-After": "0"})

    def mode_unauthorized(self, h, n):
        self.send(h, 401, b'{"error": "Invalid credentials in Authorization header"}')

    def mode_forbidden(self, h, n):
        self.send(h, 403, b'{"error": "gated"}')

    def mode_bad_request(self, h, n):
        self.send(h, 400, b'{"error": "max_tokens must be positive"}')

    def mode_other_model(self, h, n):  # what `transformers serve MODEL` answers a request for another model
        self.send(h, 400, b'{"error": "Server is pinned to \'/models/smol\'; requested \'m\'."}')

    def mode_no_model(self, h, n):  # vLLM's answer for a model it does not serve
        self.send(h, 404, b'{"object": "error", "message": "The model `m` does not exist.", "code": 404}')

    def mode_not_served(self, h, n):
        msg = {"error": {"message": "The requested model 'microsoft/Phi-3.5-mini-instruct' is not supported by any provider you have enabled."}}
        self.send(h, 400, json.dumps(msg).encode())

    def mode_echo_auth(self, h, n):  # a careless server that repeats the credentials in its error
        auth = h.headers.get("authorization", "")
        self.send(h, 400, json.dumps({"error": f"bad request from {auth}"}).encode())

    def mode_html(self, h, n):  # a proxy or a wrong URL answering 200 with a web page
        self.send(h, 200, b"<html><body>Welcome</body></html>", "text/html")

    def mode_redirect_loop(self, h, n):  # a misconfigured proxy sending every request back to itself
        self.send(h, 307, b"", "text/plain", {"Location": h.path})

    def mode_redirect_get(self, h, n):  # a 302 to a chat endpoint: the client follows it with a GET, which this
        # server (http.server's default) refuses with a multi-line HTML error page
        self.send(h, 302, b"", "text/plain", {"Location": "/good" + h.path[len("/redirect-get"):]})

    def mode_empty(self, h, n):  # an event stream closed with no body at all
        self.send(h, 200, b"", "text/event-stream")

    def mode_keepalive(self, h, n):  # an event stream of a keep-alive comment and blank lines, then closed
        self.send(h, 200, b": ping\n\n\n", "text/event-stream")

    def mode_empty_json(self, h, n):  # no event stream at all: an empty JSON answer
        self.send(h, 200, b"", "application/json")

    def mode_blank(self, h, n):  # a barely trained model served: an answer of whitespace alone
        self.send(h, 200, chunk("\n\n") + chunk("  ") + b"data: [DONE]\n\n", "text/event-stream")

    def mode_not_json(self, h, n):
        self.send(h, 200, b"data: {this is not json\n\n", "text/event-stream")

    def mode_bad_shape(self, h, n):  # text, then an event that is JSON but not a chat event's shape (choices 5, an
        # object as choices, JSON nested 100,000 deep, a 5,000-digit number), in turn
        bad = [b'{"choices": 5}', b'{"choices": {"delta": {"content": "x"}}}', b"[" * 100_000 + b"]" * 100_000,
               b'{"choices": [], "usage": {"completion_tokens": ' + b"9" * 5000 + b"}}"][(n - 1) % 4]
        self.send(h, 200, chunk("Half") + b"data: " + bad + b"\n\n" + b"data: [DONE]\n\n", "text/event-stream")

    def mode_no_text(self, h, n):  # a stream of events that never carries any text
        self.send(h, 200, chunk("") + b"data: [DONE]\n\n", "text/event-stream")

    def mode_slow(self, h, n):  # a slow model: one word every 0.4 s, so a person sees it stream
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.end_headers()
        for word in SLOW_ANSWER.split(" "):
            h.wfile.write(chunk(word + " "))
            h.wfile.flush()
            if self.release.wait(0.4):
                return
        h.wfile.write(b"data: [DONE]\n\n")

    def mode_trickle(self, h, n, mode="trickle"):  # a server that keeps the connection alive one byte at a time
        h.send_response(200)
        h.send_header("content-type", "text/event-stream")
        h.end_headers()
        try:
            for byte in chunk("Uma partida tem noventa minutos"):
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
                if self.release.wait(0.5):
                    return
        except OSError:  # the client hung up: counted, so a test can tell an answer was really stopped
            self.dropped[mode] += 1

    def mode_hold(self, h, n):  # trickle, its hang-ups counted apart from other tests' timeouts on trickle
        self.mode_trickle(h, n, "hold")

    def mode_partial(self, h, n):  # a few words, then the connection held open (a keep-alive comment every 0.5 s)
        h.send_response(200)  # until the client hangs up: counted, as trickle's are
        h.send_header("content-type", "text/event-stream")
        h.end_headers()
        try:
            h.wfile.write(chunk(PARTIAL_ANSWER))
            h.wfile.flush()
            while not self.release.wait(0.5):
                h.wfile.write(b": ping\n\n")
                h.wfile.flush()
        except OSError:
            self.dropped["partial"] += 1

    # A server's error as the first event of a 200 stream, before any text (vLLM's, OpenAI's and TGI's shapes).
    def mode_event_overloaded(self, h, n):  # TGI's overloaded queue, once; then the answer
        if n == 1:
            return self.send(h, 200, b'data: {"error": "Model is overloaded", "error_type": "overloaded"}\n\n',
                             "text/event-stream")
        self.stream_good(h)

    def mode_event_busy(self, h, n):  # vLLM's 503 after a role-only chunk (no text yet), once; then the answer
        if n == 1:
            return self.send(h, 200, chunk("") + b'data: {"error": {"object": "error", "message": "Service Unavailable",'
                             b' "type": "ServiceUnavailableError", "param": null, "code": 503}}\n\n', "text/event-stream")
        self.stream_good(h)

    def mode_event_down(self, h, n):  # OpenAI's server_error, every time
        self.send(h, 200, b'data: {"error": {"message": "The server had an error while processing your request.", '
                          b'"type": "server_error", "param": null, "code": null}}\n\n', "text/event-stream")

    def mode_event_refused(self, h, n):  # a request the server will not take, said as an event: never retried
        self.send(h, 200, b'data: {"error": {"message": "max_tokens is too large", "type": "invalid_request_error", '
                          b'"code": 400}}\n\n', "text/event-stream")

    def mode_event_late(self, h, n):  # text, then the server busy: a retry would repeat the answer
        self.send(h, 200, chunk("Half") + b'data: {"error": "Model is overloaded", "error_type": "overloaded"}\n\n',
                  "text/event-stream")

    @staticmethod
    def reset(h: BaseHTTPRequestHandler) -> None:
        """Close the connection with a TCP reset, before any answer (a server restarting, a proxy dropping it)."""
        import struct

        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
        h.close_connection = True
        h.wfile = h.rfile = __import__("io").BytesIO()  # what the handler writes after this goes nowhere

    def mode_reset_once(self, h, n):  # reset once, then the answer
        if n == 1:
            return self.reset(h)
        self.stream_good(h)

    def mode_reset(self, h, n):  # reset every time
        self.reset(h)

    def mode_bidi(self, h, n):  # an answer holding a bidi override and a NUL (a Trojan Source-style reordering)
        self.send(h, 200, chunk("answer \u202e dlrow \u2066x\u2069 \u0000 end") + b"data: [DONE]\n\n",
                  "text/event-stream")

    def mode_escapes(self, h, n):  # an answer that would drive a terminal: clear the screen, retitle the window, ring,
        # write over the line's start, reverse the words; Windows line ends, one split across two pieces; a last \r
        body = (chunk("Line one\x1b[2J\x1b]0;pwned\x07") + chunk(" and\r\nnext\r") + chunk("\nthen\rover\u202eend\x9b\r")
                + b"data: [DONE]\n\n")
        self.send(h, 200, body, "text/event-stream")

    def mode_escapes_refused(self, h, n):  # a refusal whose words would drive a terminal (red text, a new title)
        self.send(h, 400, json.dumps({"error": "refused \x1b[31mred\x1b[0m \x1b]0;pwned\x07"}).encode())

    def mode_cut(self, h, n):  # a stream closed cleanly mid-answer: no finish_reason, no [DONE]
        self.send(h, 200, chunk("The match") + chunk(" lasts"), "text/event-stream")

    def mode_finished(self, h, n):  # a complete answer ended by a finish_reason, without [DONE]
        last = json.loads(chunk(".")[6:])
        last["choices"][0]["finish_reason"] = "stop"
        self.send(h, 200, chunk("Ninety minutes") + f"data: {json.dumps(last)}\n\n".encode(), "text/event-stream")

    def mode_length(self, h, n):  # an answer the server cut at max_tokens: finish_reason "length", mid-sentence
        last = json.loads(chunk(" two halves of")[6:])
        last["choices"][0]["finish_reason"] = "length"
        self.send(h, 200, chunk("A match has") + f"data: {json.dumps(last)}\n\n".encode() + b"data: [DONE]\n\n",
                  "text/event-stream")

    def answer_with_usage(self, h, usage: bool) -> None:
        """Three pieces of seven tokens (a server sends several tokens a piece), ended by the model ("stop"); a last
        chunk with the usage where ``usage``."""
        last = json.loads(chunk(".")[6:])
        last["choices"][0]["finish_reason"] = "stop"
        body = chunk("Ninety") + chunk(" minutes") + f"data: {json.dumps(last)}\n\n".encode()
        if usage:  # OpenAI's shape: no choices, the whole answer's count
            body += f"data: {json.dumps({'id': 'c1', 'object': 'chat.completion.chunk', 'choices': [], 'usage': {'prompt_tokens': 12, 'completion_tokens': 7, 'total_tokens': 19}})}\n\n".encode()
        self.send(h, 200, body + b"data: [DONE]\n\n", "text/event-stream")

    def mode_bad_usage(self, h, n):  # an answer, then a usage count that is no count ("many", -4, a list, 1e999, 10^30)
        bad = ['"many"', "-4", "[3]", "1e999", "true", "1" + "0" * 30, "1e30"][(n - 1) % 7]
        body = chunk("Ninety") + chunk(" minutes") + f'data: {{"choices": [], "usage": {{"completion_tokens": {bad}}}}}\n\n'.encode()
        self.send(h, 200, body + b"data: [DONE]\n\n", "text/event-stream")

    def mode_usage(self, h, n):  # sends the usage when asked (stream_options.include_usage), as OpenAI and vLLM do
        self.answer_with_usage(h, bool((self.bodies[-1].get("stream_options") or {}).get("include_usage")))

    def mode_no_stream_options(self, h, n):  # an older server that refuses a field it does not know, else answers
        if "stream_options" in self.bodies[-1]:
            return self.send(h, 400, json.dumps({"error": {"message": "Unrecognized request argument supplied: "
                                                           "stream_options", "type": "invalid_request_error"}}).encode())
        self.answer_with_usage(h, False)

    def mode_markdown(self, h, n):  # an answer carrying Markdown that would load an image from elsewhere
        body = chunk(f"See ![pixel]({self.image_url}) and [a link]({self.image_url})") + b"data: [DONE]\n\n"
        self.send(h, 200, body, "text/event-stream")

    image_url = "http://127.0.0.1:9/pixel.png"  # set by a test to a server that records requests

    def mode_silent(self, h, n):  # accepts the request and never answers
        self.release.wait(30)

    @contextmanager
    def running(self) -> Iterator[FaultServer]:
        self.thread.start()
        try:
            yield self
        finally:
            self.release.set()
            self.models_gate.set()
            self.httpd.shutdown()
            self.httpd.server_close()



class QAServer(FaultServer):
    """Stands in for a hosted extractive model (Inference Providers' question-answering task, or a dedicated
    Inference Endpoint): ``POST /<mode>/models/<id>`` with ``{"inputs": {"question", "context"}}`` answers
    ``{"answer", "start", "end", "score"}`` as ``deepset/roberta-base-squad2`` does, or fails as ``mode`` says.

    The "answer" is found the simple way, not by a model: the word after "é"/"is" in the passage (the
    tutorial's "Meu nome é Marcundes"), else its first word.
    """

    def url(self, mode: str) -> str:  # type: ignore[override]
        return f"http://127.0.0.1:{self.port}/{mode}/models/deepset/roberta-base-squad2"

    def span(self, h, body: dict) -> None:
        import re

        context = body["inputs"]["context"]
        m = re.search(r"\b(?:é|is)\s+(\w+)", context) or re.search(r"\w+", context)
        self.send(h, 200, json.dumps({"answer": m.group(1) if m.lastindex else m.group(0), "start": m.start(m.lastindex or 0),
                                      "end": m.end(m.lastindex or 0), "score": 0.97}).encode())

    def mode_qa(self, h, n):
        self.span(h, self.bodies[-1])

    def mode_qa_loading(self, h, n):  # the model warming up: 503 with an estimate, then the answer
        if n == 1:
            self.send(h, 503, json.dumps({"error": "Model is currently loading", "estimated_time": 0.3}).encode())
        else:
            self.span(h, self.bodies[-1])

    def mode_qa_warming(self, h, n):  # a model that stays loading: each try is told to come back in 20 s
        self.send(h, 503, json.dumps({"error": "Model is currently loading", "estimated_time": 20}).encode())

    def mode_qa_wrong_task(self, h, n):  # a chat model behind the URL: it does not take a question and a context
        self.send(h, 400, json.dumps({"error": "Task not supported: this endpoint serves text-generation"}).encode())

    def mode_qa_no_span(self, h, n):  # answers, but not with a span
        self.send(h, 200, json.dumps([{"generated_text": "Marcundes"}]).encode())

@contextmanager
def transformers_serve(model_dir: Path, log: Path) -> Iterator[str]:
    """A real ``transformers serve`` of ``model_dir`` on loopback; yields its /v1 base URL."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    exe = Path(sys.executable).with_name("transformers")
    cmd = [str(exe) if exe.exists() else "transformers", "serve", str(model_dir), "--device", "cpu",
           "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 300  # its start imports torch and transformers twice (server, model process)
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited:\n{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"transformers serve did not become healthy:\n{log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def ask(at, url: str, text: str) -> None:
    """A question on the Chat page (an AppTest) to the OpenAI-compatible server at ``url``, its answer waited for."""
    at.selectbox(key="chat.a.kind").set_value("openai").run()
    at.text_input(key="chat.a.base_url").set_value(url).run()
    at.text_input(key="chat.a.api_model").set_value("m").run()
    at.chat_input(key="chat.input").set_value(text).run()
    deadline = time.time() + 60
    while at.session_state["chat.jobs"] and time.time() < deadline:
        time.sleep(0.2)
        at.run()
    assert not at.session_state["chat.jobs"] and not at.exception, [e.value for e in at.exception]


def stop(at, wait: float = 30) -> None:
    """What Stop does on the Chat page (an AppTest: it does not deliver a click inside the live fragment): cancel
    every answer, then run the page until they have ended (``wait`` seconds at most)."""
    for job in at.session_state["chat.jobs"]:
        job.cancel()
    deadline = time.time() + wait
    while at.session_state["chat.jobs"] and time.time() < deadline:
        time.sleep(0.2)
        at.run()
