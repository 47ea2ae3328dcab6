"""The API backend against a real ``transformers serve`` and a server that fails on purpose."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from chat_servers import GOOD_ANSWER, FaultServer, chunk

from studio.chat import BackendSpec, ChatParams, StreamStats, complete, make_backend
from studio.chat.api import ApiBackend, scrub
from studio.errors import BackendError, MissingTokenError, NetworkError, StudioError

TOKEN = "hf_TESTtokenNEVERshownANYWHERE1234"
ASK = [{"role": "system", "content": "Answer only in Portuguese."}, {"role": "user", "content": "How are you?"}]


@pytest.fixture
def served(phi3_served: tuple[str, str]) -> tuple[str, str]:
    """The session's real ``transformers serve`` (tests/conftest.py): (its /v1 base URL, the model it serves)."""
    return phi3_served


@pytest.fixture(scope="module")
def faults():
    with FaultServer().running() as fs:
        yield fs


def backend(faults: FaultServer, mode: str, token: str | None = TOKEN) -> ApiBackend:
    return make_backend(BackendSpec(kind="openai", model="microsoft/Phi-3.5-mini-instruct", base_url=faults.url(mode)), token)


def test_streams_from_a_real_transformers_serve(served):
    url, model = served
    b = make_backend(BackendSpec(kind="openai", model=model, base_url=url))
    stats = StreamStats()
    pieces = list(b.stream(ASK, ChatParams(max_new_tokens=12, seed=0), stats=stats))
    assert len(pieces) > 1 and "".join(pieces).strip()  # streamed in several pieces, not one blob
    assert stats.ttft_s is not None and stats.ttft_s > 0
    assert 1 < stats.tokens <= 12  # the server's usage count, capped by max_new_tokens
    assert stats.tokens_per_s and stats.tokens_per_s > 0


def test_a_real_transformers_serve_is_asked_for_its_token_count_and_it_is_the_one_shown(served):
    """The server counts the answer's tokens when asked (``stream_options.include_usage``): a byte-level model's
    tokens come in fewer pieces (several bytes make one character), and the count shown is the server's. An answer
    the model ended before Max new tokens was counted a piece a token (this one: 4 tokens of the server's 9)."""
    import requests

    url, model = served
    b = make_backend(BackendSpec(kind="openai", model=model, base_url=url))
    stats, greedy = StreamStats(), ChatParams(max_new_tokens=24, temperature=0)
    pieces = list(b.stream(ASK, greedy, stats=stats))
    raw = requests.post(url + "/chat/completions", json={"model": model, "messages": ASK, "max_tokens": 24,
                                                         "temperature": 0, "stream": True,
                                                         "stream_options": {"include_usage": True}}, timeout=120)
    events = [json.loads(line[5:]) for line in raw.text.splitlines() if line.startswith("data:") and "[DONE]" not in line]
    counted = [e["usage"]["completion_tokens"] for e in events if e.get("usage")]
    assert counted and stats.tokens == counted[-1] and len(pieces) != stats.tokens


def test_an_answer_the_model_ended_counts_the_server_s_tokens_not_the_pieces(faults):
    """An answer that ended before Max new tokens was counted one token a piece ("3 tokens" of a seven-token answer):
    the server is asked for its count, and it is the one shown."""
    stats = StreamStats()
    assert backend(faults, "usage").complete(ASK, ChatParams(), stats) == "Ninety minutes."
    assert faults.bodies[-1]["stream_options"] == {"include_usage": True}
    assert stats.tokens == 7 and stats.cut_at is None


def test_a_usage_count_that_is_no_count_leaves_the_pieces_counted(faults):
    """A server's ``completion_tokens`` of "many", a list or 1e999 ended a whole answer in a traceback (``int()``'s
    ValueError, TypeError, OverflowError: on the command line after the answer's words); -4 was shown as "-4 tokens",
    10^30 as "1000000000000000000000000000000 tokens". The answer stands, counted a piece a token."""
    for _ in range(7):  # each of the mode's seven counts in turn
        stats = StreamStats()
        assert backend(faults, "bad-usage").complete(ASK, ChatParams(), stats) == "Ninety minutes"
        assert stats.tokens == 2
    assert faults.hits["bad-usage"] == 7


def test_an_event_of_the_wrong_shape_or_unreadable_json_is_said_as_what_the_server_sent(faults):
    """After an answer's first word, an event whose ``choices`` were a number or an object, or whose JSON was nested
    100,000 deep or held a 5,000-digit number, was said in Python's words ("failed: 'int' object is not
    subscriptable", "failed: 0.", "maximum recursion depth exceeded ...", "Exceeds the limit (4300 digits) ...")."""
    said = ["an event whose choices are a number, not a list,", "an event whose choices are an object, not a list,",
            *["an event whose JSON is nested too deeply or holds a number too long to read"] * 2]
    for what in said:
        pieces: list[str] = []
        with pytest.raises(BackendError) as info:
            for piece in backend(faults, "bad-shape").stream(ASK, ChatParams()):
                pieces.append(piece)
        assert pieces == ["Half"]  # the words that came, for the page to keep
        assert str(info.value) == (f"{faults.url('bad-shape')} sent {what} in its stream: check that the URL is an "
                                   "OpenAI-compatible /v1 endpoint.")


def test_a_server_that_refuses_stream_options_is_asked_without_them_from_then_on(faults, monkeypatch):
    """A server that refuses the field (400 naming it) still answers, counted a piece a token as before; it is
    asked without the field at once, and the next answer goes without it in one request."""
    from studio.chat import api

    monkeypatch.setattr(api, "_NO_USAGE_OPTION", set(), raising=False)
    stats = StreamStats()
    assert backend(faults, "no-stream-options").complete(ASK, ChatParams(), stats) == "Ninety minutes."
    assert faults.hits["no-stream-options"] == 2 and stats.tokens == 3 and stats.retries == 0
    assert backend(faults, "no-stream-options").complete(ASK, ChatParams()) == "Ninety minutes."
    assert faults.hits["no-stream-options"] == 3 and "stream_options" not in faults.bodies[-1]
    # another server at another URL is still asked for its count
    backend(faults, "usage").complete(ASK, ChatParams())
    assert "stream_options" in faults.bodies[-1]


def test_inference_providers_path_streams_from_a_real_transformers_serve(served, monkeypatch):
    """The providers' route (the router's OpenAI-compatible API) read from a real server: a whole answer, streamed,
    with the same answer as the server gives by its own base URL."""
    url, model = served
    point_providers_at(monkeypatch, url.rsplit("/v1", 1)[0])
    greedy = ChatParams(max_new_tokens=8, temperature=0)
    through_router = make_backend(BackendSpec(kind="provider", model=model, provider="auto"), TOKEN)
    stats = StreamStats()
    pieces = list(through_router.stream(ASK, greedy, stats=stats))
    assert len(pieces) > 1 and 1 < stats.tokens <= 8
    assert "".join(pieces) == complete(make_backend(BackendSpec(kind="openai", model=model, base_url=url)), ASK, greedy)


def test_max_tokens_and_greedy_reach_the_server(served):
    url, model = served
    b = make_backend(BackendSpec(kind="openai", model=model, base_url=url))
    greedy = ChatParams(max_new_tokens=8, temperature=0)
    first, second = complete(b, ASK, greedy), complete(b, ASK, greedy)
    assert first == second  # temperature 0 is deterministic end to end
    stats = StreamStats()
    complete(b, ASK, ChatParams(max_new_tokens=3, temperature=0), stats)
    assert stats.tokens <= 3


def test_stop_event_ends_the_stream_early(served):
    url, model = served
    b = make_backend(BackendSpec(kind="openai", model=model, base_url=url))
    stop = threading.Event()
    got = []
    for piece in b.stream(ASK, ChatParams(max_new_tokens=200, temperature=0), stop=stop):
        got.append(piece)
        stop.set()
    assert len(got) == 1


def test_good_stream_and_token_sent_only_as_header(faults):
    assert backend(faults, "good").complete(ASK, ChatParams()) == "".join(GOOD_ANSWER)
    assert faults.headers[-1]["authorization"] == f"Bearer {TOKEN}"
    body = faults.bodies[-1]
    assert TOKEN not in repr(body) and body["max_tokens"] == 500 and body["temperature"] == 0.1


@pytest.mark.parametrize("mode, hits, wait", [("loading", 2, 0.5), ("busy", 2, 1.0)])
def test_busy_or_loading_is_retried_after_the_advertised_wait(faults, mode, hits, wait):
    stats = StreamStats()
    t0 = time.perf_counter()
    assert backend(faults, mode).complete(ASK, ChatParams(), stats) == "".join(GOOD_ANSWER)
    assert faults.hits[mode] == hits and stats.retries == 1
    assert time.perf_counter() - t0 >= wait * 0.9  # Retry-After / estimated_time honoured


def test_retries_are_bounded(faults):
    with pytest.raises(BackendError, match="still after 4 tries"):
        backend(faults, "down").complete(ASK)
    assert faults.hits["down"] == 4


@pytest.mark.parametrize("mode", ["event-overloaded", "event-busy"])
def test_a_busy_server_s_error_as_its_first_event_is_retried(faults, mode):
    """A server that said it was busy in its stream's first event (TGI's "overloaded", vLLM's 503), before any text,
    failed the answer at once, where the same 503 as an HTTP status, or a failed connection, was retried."""
    stats = StreamStats()
    assert backend(faults, mode).complete(ASK, ChatParams(), stats) == "".join(GOOD_ANSWER)
    assert faults.hits[mode] == 2 and stats.retries == 1


def test_a_first_event_error_s_retries_are_bounded_and_say_the_server_s_words(faults, monkeypatch):
    from studio.chat import api

    monkeypatch.setattr(api, "BACKOFF_S", (0.01, 0.01, 0.01))
    with pytest.raises(BackendError, match=r"the server is busy \(server_error: The server had an error while "
                                           r"processing your request\), still after 4 tries\. Try again later\.$"):
        backend(faults, "event-down").complete(ASK)
    assert faults.hits["event-down"] == 4


@pytest.mark.parametrize("mode, said", [
    ("event-refused", r"gave up mid-answer: max_tokens is too large\. Try again\.$"),  # its own words, at once
    ("event-late", r"gave up mid-answer: Model is overloaded\. Try again\.$"),  # text had come: no retry
])
def test_a_first_event_error_that_is_not_busy_or_comes_after_text_is_said_at_once(faults, mode, said):
    with pytest.raises(BackendError, match=said):
        backend(faults, mode).complete(ASK)
    assert faults.hits[mode] == 1


def test_a_connection_reset_before_any_answer_is_retried(faults, monkeypatch):
    """A server that reset the connection before answering (restarting, a proxy dropping it) was "Cannot reach"
    at once, where its 503 was retried. It is retried with the same backoff; reset every time, it is said as before,
    after the same four tries."""
    from studio.chat import api

    monkeypatch.setattr(api, "BACKOFF_S", (0.01, 0.01, 0.01))
    stats = StreamStats()
    assert backend(faults, "reset-once").complete(ASK, ChatParams(), stats) == "".join(GOOD_ANSWER)
    assert faults.hits["reset-once"] == 2 and stats.retries == 1
    with pytest.raises(NetworkError) as err:
        backend(faults, "reset").complete(ASK)
    assert str(err.value) == f"Cannot reach {faults.url('reset')}: check the URL, that the server runs, and the network."
    assert faults.hits["reset"] == 4


class _ListenOnWait(threading.Event):
    """A stop event that opens the refused port's server when the backend waits to retry: the first try is refused
    for certain, the next one answered (no race against a timer)."""

    def __init__(self, server: ThreadingHTTPServer):
        super().__init__()
        self.server, self.waits = server, 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        if self.waits == 1:
            self.server.server_activate()  # listen: the port refused connections until now
            threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return super().wait(0)


def test_a_refused_connection_is_retried_and_stop_ends_the_wait(faults):
    """A server not listening yet (starting, restarting) was "Cannot reach" at once. The next try finds it up; Stop
    during the wait ends the answer without an error and without another try."""
    from http.server import BaseHTTPRequestHandler

    class Good(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("content-length") or 0))
            faults.stream_good(self)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Good, bind_and_activate=False)
    server.daemon_threads = True
    server.server_bind()  # bound, not listening: a connection to it is refused
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        stop, stats = _ListenOnWait(server), StreamStats()
        b = make_backend(BackendSpec(kind="openai", model="m", base_url=url))
        assert "".join(b.stream(ASK, ChatParams(), stats=stats, stop=stop)) == "".join(GOOD_ANSWER)
        assert stop.waits == 1 and stats.retries == 1
    finally:
        server.shutdown()
        server.server_close()

    class StopOnWait(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            self.set()  # what Stop does while the backend waits to retry
            return True

    refused = make_backend(BackendSpec(kind="openai", model="m", base_url=url))  # nothing listens there now
    assert list(refused.stream(ASK, ChatParams(), stop=StopOnWait())) == []


def test_a_failing_server_says_its_own_reason(faults):
    """A 500 read "the server is busy (500), still after 4 tries", dropping the server's words: they are said now,
    on one line, bounded, with a key in them hidden."""
    with pytest.raises(BackendError) as err:
        backend(faults, "crashed").complete(ASK)
    msg = str(err.value)
    assert "model crashed: CUDA error at layer 3" in msg and "still after 4 tries" in msg
    assert "busy" not in msg and "\n" not in msg and "sk-live" not in msg and len(msg) < 400
    assert faults.hits["crashed"] == 4


def test_a_wait_longer_than_allowed_is_reported_not_slept(faults):
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match="asks to wait 3600 s"):
        backend(faults, "busy-long").complete(ASK)
    assert time.perf_counter() - t0 < 5 and faults.hits["busy-long"] == 1


@pytest.mark.parametrize("mode, pattern", [
    ("unauthorized", r"API key was rejected \(401\): check the key given for this server \(the page's API key "
                     r"field, or --api-key-env\)\.$"),  # never "secrets": no key from secrets goes to a typed URL
    ("forbidden", r"No access to microsoft/Phi-3.5-mini-instruct \(403\)"),
    ("bad-request", r"refused the request \(400\): max_tokens must be positive\.$"),  # no guess past its own words
    ("other-model", r"refused the request \(400\): Server is pinned to '/models/smol'; requested 'm'\. Check the model "
                    r"name\.$"),
    # a base URL typed is named, in its own words: it said "not served on Hugging Face Inference Providers"
    ("not-served", r"^http://127\.0\.0\.1:\d+/not-served/v1 refused the request \(400\): The requested model "
                   r"'microsoft/Phi-3\.5-mini-instruct' is not supported by any provider you have enabled\. Check the "
                   r"model name\.$"),
])
def test_client_errors_are_not_retried_and_say_what_to_do(faults, mode, pattern):
    with pytest.raises(BackendError, match=pattern) as info:
        backend(faults, mode).complete(ASK)
    assert faults.hits[mode] == 1
    assert TOKEN not in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("mode, pattern", [
    ("html", r"sent a web page \(text/html\), not an event stream"),  # it said "an empty or non-streaming response"
    ("empty-json", "sent an empty response, not an event stream"),
    ("not-json", "not JSON"),
    ("no-text", "empty answer"),
])
def test_bad_responses_are_errors_never_empty_answers(faults, mode, pattern):
    with pytest.raises(BackendError, match=pattern):
        backend(faults, mode).complete(ASK)


@pytest.mark.parametrize("mode", ["empty", "keepalive"])
def test_an_event_stream_closed_without_any_event_says_so_in_one_line(faults, mode):
    """An event stream (text/event-stream) closed with no body, or with only a keep-alive comment, read "sent an empty
    response, not an event stream: check that the URL is an OpenAI-compatible /v1 endpoint", of a server that is one
    and answered nothing."""
    with pytest.raises(BackendError) as info:
        backend(faults, mode).complete(ASK)
    assert str(info.value) == (f"{faults.url(mode)} closed the event stream without an answer (no event came): "
                               "try again, and check the server's log.")


def test_a_silent_server_times_out(faults):
    t0 = time.perf_counter()
    with pytest.raises(BackendError, match="did not answer within the timeout") as err:
        backend(faults, "silent").complete(ASK, ChatParams(timeout_s=1))
    assert str(err.value).endswith("Try again, or raise Timeout (s) under Sampling in the sidebar.")  # the page's words
    assert time.perf_counter() - t0 < 5 and faults.hits["silent"] == 1  # a timeout is not retried


def test_unreachable_server_is_a_network_error():
    from chat_servers import free_port

    b = make_backend(BackendSpec(kind="openai", model="m", base_url=f"http://127.0.0.1:{free_port()}/v1"))
    with pytest.raises(NetworkError, match="Cannot reach"):
        b.complete(ASK)


def test_providers_out_of_reach_say_to_check_the_network_not_a_url_nobody_typed():
    """No connection can be refused on purpose without touching huggingface.co: the error the client raises when
    the network is down (what this machine, offline, gets) is given to the backend's explanation directly."""
    import httpx2  # what huggingface_hub 2 raises when the network is down

    b = make_backend(BackendSpec(kind="provider", model="meta-llama/Llama-3.1-8B-Instruct"), TOKEN)
    err = b._explain(httpx2.ConnectError("[Errno -3] Temporary failure in name resolution"))
    assert isinstance(err, NetworkError)
    assert str(err) == ("Cannot reach Hugging Face Inference Providers: check the network (huggingface.co must be "
                        "reachable from this machine).")


def test_offline_mode_blocks_providers_but_not_a_local_server(faults, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read once, when huggingface_hub is imported
    provider = make_backend(BackendSpec(kind="provider", model="meta-llama/Llama-3.1-8B-Instruct"), TOKEN)
    with pytest.raises(NetworkError, match="HF_HUB_OFFLINE is set"):
        provider.complete(ASK)
    # an OpenAI-compatible server on this machine is not the Hub: offline mode does not stop it
    assert backend(faults, "good").complete(ASK) == "".join(GOOD_ANSWER)


def test_providers_need_a_token_before_any_request():
    b = make_backend(BackendSpec(kind="provider", model="meta-llama/Llama-3.1-8B-Instruct"), None)
    with pytest.raises(MissingTokenError, match="HF_TOKEN"):
        b.complete(ASK)
    assert "token" not in repr(make_backend(BackendSpec(kind="provider", model="x"), TOKEN)).lower().replace("spec", "")


def test_scrub_removes_the_token_and_its_tail():
    assert TOKEN not in scrub(f"url?key={TOKEN}", TOKEN)
    assert TOKEN[-12:] not in scrub(f"...{TOKEN[-12:]}", TOKEN)


def test_a_trickling_server_is_cut_off_by_the_timeout(faults):
    """One byte every 0.5 s never trips a per-read timeout; the wait for the first token does."""
    b = backend(faults, "trickle")
    t0 = time.monotonic()
    with pytest.raises(BackendError, match="no answer came within 2 s"):
        b.complete(ASK, ChatParams(timeout_s=2, total_timeout_s=30))
    assert time.monotonic() - t0 < 6


def test_a_stream_cut_mid_answer_is_an_error_not_an_answer(faults):
    with pytest.raises(BackendError, match="closed the stream before the answer finished"):
        backend(faults, "cut").complete(ASK)
    assert backend(faults, "finished").complete(ASK) == "Ninety minutes."  # a finish_reason ends it cleanly


@pytest.mark.parametrize("mode, said", [
    # a 302 turns the POST into a GET, which the server refuses with an HTML page: it was pasted whole, ten lines
    ("redirect-get", r"/redirect-get/v1 has no chat endpoint \(501: Error response\): check the base URL"),
    # a redirect loop was "Cannot reach ...: check that the server runs", of a server that answers every request
    ("redirect-loop", r"/redirect-loop/v1 redirects in a loop: check the base URL"),
])
def test_a_base_url_that_redirects_says_so_in_one_line(faults, mode, said):
    with pytest.raises(BackendError, match=said) as info:
        backend(faults, mode).complete(ASK)
    assert "\n" not in str(info.value) and "<" not in str(info.value)


def test_cli_chat_timeout_bounds_the_whole_wait(faults, tmp_path):
    import os
    import subprocess
    import sys

    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "studio", "chat", "--base-url", faults.url("trickle"), "--model", "m",
                          "--timeout", "3", "hello"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "STUDIO_HOME": str(tmp_path)}, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "3 s" in out.stderr
    assert time.monotonic() - t0 < 15
    # the command line's own remedy: it named the Chat page's sidebar and Evaluate's settings, which it has not got
    assert out.stderr.endswith(": no answer came within 3 s. Try again, or raise --timeout.\n"), out.stderr


def test_an_answer_past_its_whole_time_limit_says_where_to_give_it_more(faults, tmp_path):
    """A slow answer past the whole answer's bound said "raise max tokens' time limit", a setting no surface has: the
    page (whose bound is fixed) asks for fewer tokens, the command line names --total-timeout and the bound."""
    import os
    import subprocess
    import sys

    with pytest.raises(BackendError) as info:
        backend(faults, "slow").complete(ASK, ChatParams(timeout_s=1, total_timeout_s=2))
    # the page's bound is no setting there (600 s): fewer tokens is what it can ask for
    assert str(info.value).endswith(" took longer than 2 s in all. Try again, or ask for fewer new tokens (Max new "
                                    "tokens under Sampling in the sidebar).")
    out = subprocess.run([sys.executable, "-m", "studio", "chat", "--base-url", faults.url("slow"), "--model", "m",
                          "--timeout", "1", "--total-timeout", "2", "hello"], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "STUDIO_HOME": str(tmp_path)},
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 2 and out.stderr.startswith("error: ") and len(out.stderr.splitlines()) == 1
    assert out.stderr.endswith("or raise --total-timeout past 2 s (ask-context: --timeout).\n"), out.stderr
    assert "sidebar" not in out.stderr


def test_cli_chat_refuses_a_message_of_invisible_characters(faults, tmp_path):
    """A question of zero-width spaces alone was sent, and the model answered a question nobody could see."""
    import os
    import subprocess
    import sys

    asked = faults.hits["good"]
    out = subprocess.run([sys.executable, "-m", "studio", "chat", "--base-url", faults.url("good"), "--model", "m",
                          "\u200b \u2060"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "STUDIO_HOME": str(tmp_path)}, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 2 and out.stderr.startswith("error: The message is empty") and not out.stdout
    assert faults.hits["good"] == asked


def test_cli_chat_api_key_from_a_crlf_file_works_and_one_with_a_line_break_inside_is_never_printed(faults, tmp_path):
    """A key read from a .env with CRLF line ends ("sk-...\r"), or with a line break pasted inside it, failed with the
    HTTP client's own error, which quoted the whole Authorization header, key and all, on stderr."""
    import os
    import subprocess
    import sys

    def chat(key: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "studio", "chat", "--base-url", faults.url("good"), "--model", "m",
                               "hello"], capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2],
                              env={**os.environ, "STUDIO_HOME": str(tmp_path), "OPENAI_API_KEY": key})

    out = chat("sk-crlf-KEY-0123456789\r")
    assert out.returncode == 0 and out.stdout.strip() == "".join(GOOD_ANSWER), out.stderr
    assert faults.headers[-1]["authorization"] == "Bearer sk-crlf-KEY-0123456789"
    asked = faults.hits["good"]
    out = chat("sk-broken\nSECRET-0123456789")
    assert out.returncode == 2 and out.stderr.startswith("error: The API key has a line break")
    assert "SECRET" not in out.stderr + out.stdout and "sk-broken" not in out.stderr
    assert faults.hits["good"] == asked


@pytest.mark.parametrize("url", ["http://[::1/v1", "http://127.0.0.1:70000/v1", "http:///v1", "http://exa mple.com/v1",
                                 "http://127.0.0.1:port/v1"])
def test_cli_chat_a_base_url_that_cannot_parse_says_what_to_check(url, tmp_path):
    """Such a URL failed inside the HTTP client as "Failed to parse: ...", with nothing on what to fix."""
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "studio", "chat", "--base-url", url, "--model", "m", "hello"],
                         capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2],
                         env={**os.environ, "STUDIO_HOME": str(tmp_path)})
    assert out.returncode == 2 and not out.stdout
    assert out.stderr.startswith("error: The base URL") and "names no host and port a client can reach: check them" \
        in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr
    assert BackendSpec(kind="openai", model="m", base_url="http://[::1]:8000/v1")  # IPv6 in brackets is a host


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/v1\n", "  http://127.0.0.1:{port}/v1 \r\n"])
def test_cli_chat_a_base_url_pasted_with_a_line_break_or_spaces_is_trimmed(url, tmp_path):
    """The line break went into the request and split the error over two lines: "Cannot reach http://...\n: check"."""
    import os
    import subprocess
    import sys

    from chat_servers import free_port

    port = free_port()
    out = subprocess.run([sys.executable, "-m", "studio", "chat", "--base-url", url.format(port=port), "--model", "m",
                          "hello"], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2], env={**os.environ, "STUDIO_HOME": str(tmp_path)})
    assert out.returncode == 2 and not out.stdout
    assert out.stderr == f"error: Cannot reach http://127.0.0.1:{port}/v1: check the URL, that the server runs, and " \
        "the network.\n", out.stderr


def test_a_base_url_is_trimmed_wherever_it_comes_in():
    """The sidebar, kept settings and an evaluation's settings build the same spec: each gets the trimmed URL."""
    from studio.evaluate.config import EvalConfig

    spec = BackendSpec.from_dict({"kind": "openai", "model": "m", "base_url": " http://127.0.0.1:8000/v1\n"})
    assert spec.base_url == "http://127.0.0.1:8000/v1" and spec.label == "m @ http://127.0.0.1:8000/v1"
    cfg = EvalConfig(models=("api:m",), dataset_file="q.jsonl", api_base_url="\thttp://127.0.0.1:8000/v1 \n")
    assert cfg.api_base_url == "http://127.0.0.1:8000/v1"
    assert BackendSpec.for_model("api:m", base_url=cfg.api_base_url).base_url == "http://127.0.0.1:8000/v1"


@pytest.mark.parametrize("model", ["http://127.0.0.1:8000/v1", " HTTPS://huggingface.co.example.org/v1",
                                   "http://my-endpoint.endpoints.huggingface.cloud", "https://evil.example/huggingface.co"])
def test_a_url_that_is_not_hugging_face_s_is_no_provider_model_id(model):
    """huggingface_hub sends the token to a model given as a URL: only Hugging Face's own (https) may be one."""
    with pytest.raises(BackendError, match="is a URL, not a model id"):
        BackendSpec(kind="provider", model=model)
    with pytest.raises(BackendError, match="is a URL, not a model id"):
        BackendSpec.for_model(f"api:{model.strip()}")
    assert BackendSpec(kind="provider", model="https://my-endpoint.endpoints.huggingface.cloud").model



def test_a_spec_that_names_an_address_says_so():
    """What the public app keeps the deployer's token from: any address, Hugging Face's hosts included."""
    assert BackendSpec(kind="provider", model="https://me-my-space.hf.space").by_url
    assert BackendSpec(kind="provider", model="deepset/roberta-base-squad2", task="extractive",
                       base_url="https://x.endpoints.huggingface.cloud").by_url
    assert not BackendSpec(kind="provider", model="meta-llama/Llama-3.1-8B-Instruct").by_url


class SilentServer:
    """A raw loopback server that takes one request, sends ``first`` (nothing, or headers and a piece of the
    answer), then stays silent; it records when the client closes the connection."""

    def __init__(self, first: bytes = b""):
        self.first = first
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"
        self.asked, self.closed = threading.Event(), threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(120)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(4096)
            conn.sendall(self.first)
            self.asked.set()
            try:
                while conn.recv(4096):  # the request's body, then nothing until the client closes
                    pass
            except OSError:
                return
            self.closed.set()


ONE_PIECE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
             + b"%x\r\n" % len(chunk_bytes := chunk("Olá")) + chunk_bytes + b"\r\n")


def _stop_while_the_server_is_silent(server: SilentServer, spec: BackendSpec, token: str | None = None) -> None:
    """Ask through ``spec``, press Stop once the request (and ``server.first``) went out, and check the worker
    thread ended, the connection was closed and the answer is what had come."""
    from studio.chat.session import StreamJob

    job = StreamJob("m", lambda: make_backend(spec, token), ASK, ChatParams(timeout_s=60, total_timeout_s=120)).start()
    assert server.asked.wait(10)
    if server.first:  # the first piece reached the worker before the server fell silent
        deadline = time.monotonic() + 10
        while not job.text and time.monotonic() < deadline:
            time.sleep(0.05)
    job.cancel()
    job._thread.join(10)
    assert not job._thread.is_alive(), "the worker still waits on the silent server after Stop"
    assert server.closed.wait(10), "the server's connection was left open after Stop"
    assert job.state == "stopped" and job.error is None  # stopped: no "no event stream" or timeout message
    assert job.text == ("Olá" if server.first else "")
    server.listener.close()


@pytest.mark.parametrize("first", [b"", ONE_PIECE], ids=["before-the-first-token", "mid-answer"])
def test_stop_on_a_silent_server_closes_the_connection_and_ends_the_thread(first):
    """Stop used to end the answer on the page while the worker stayed in the socket read until the timeout
    (a minute here), holding the connection: now the connection is shut and the thread ends with it."""
    server = SilentServer(first)
    _stop_while_the_server_is_silent(server, BackendSpec(kind="openai", model="m", base_url=server.url))


def point_providers_at(monkeypatch, base: str) -> None:
    """Inference Providers' router at a loopback ``base`` in place of router.huggingface.co."""
    from studio.chat import api

    monkeypatch.setattr(api, "ROUTER", base)


@pytest.mark.parametrize("first", [b"", ONE_PIECE], ids=["before-the-first-token", "mid-answer"])
def test_stop_closes_a_request_to_inference_providers_and_ends_the_thread(first, monkeypatch):
    """Stop could not reach a request to Inference Providers (huggingface_hub's shared connection pool): the
    worker waited on a silent provider until the timeout, holding the connection. Now that request's own
    connection is closed and the thread ends with it."""
    server = SilentServer(first)
    point_providers_at(monkeypatch, server.url.rsplit("/v1", 1)[0])
    _stop_while_the_server_is_silent(server, BackendSpec(kind="provider", model="org/model", provider="auto"), TOKEN)


def test_a_provider_s_refusal_is_still_read_and_explained(monkeypatch):
    """The refusal's body (here: no provider serves the model) still reaches the one-line explanation."""
    import http.server

    class Refuses(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"error": "Model org/model is not supported by any provider you have enabled."}'
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuses)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        point_providers_at(monkeypatch, f"http://127.0.0.1:{httpd.server_address[1]}")
        b = make_backend(BackendSpec(kind="provider", model="org/model", provider="auto"), TOKEN)
        with pytest.raises(BackendError, match="is not served on Hugging Face Inference Providers"):
            b.complete(ASK)
    finally:
        httpd.shutdown()


def test_inference_providers_answer_where_an_event_loop_already_runs(faults, monkeypatch):
    """A notebook cell, or any caller inside async code, runs an event loop in its thread: the provider's request
    ran its own loop in that thread and failed ("Cannot run the event loop while another loop is running")."""
    import asyncio

    point_providers_at(monkeypatch, f"http://127.0.0.1:{faults.port}/finished")
    b = make_backend(BackendSpec(kind="provider", model="org/model", provider="auto"), TOKEN)

    async def in_a_running_loop() -> str:
        return b.complete(ASK)

    said: list[str] = []  # in a thread of its own: the test's process may hold a running loop in its main thread
    asker = threading.Thread(target=lambda: said.append(asyncio.run(in_a_running_loop())), daemon=True)
    asker.start()
    asker.join(120)
    assert said == ["Ninety minutes."]
    assert faults.headers[-1]["authorization"] == f"Bearer {TOKEN}"


def test_a_provider_stream_ended_by_done_without_a_finish_reason_is_a_whole_answer(faults, monkeypatch):
    """A provider (or a server behind the router) that ends with ``data: [DONE]`` and never sends a finish_reason:
    huggingface_hub swallows the [DONE], and the whole answer was reported as "closed the stream before the answer
    finished". A stream that stops with neither is still cut off."""
    point_providers_at(monkeypatch, f"http://127.0.0.1:{faults.port}/good")
    spec = BackendSpec(kind="provider", model="org/model", provider="auto")
    assert make_backend(spec, TOKEN).complete(ASK) == "".join(GOOD_ANSWER)
    point_providers_at(monkeypatch, f"http://127.0.0.1:{faults.port}/cut")
    with pytest.raises(BackendError, match="closed the stream before the answer finished"):
        make_backend(spec, TOKEN).complete(ASK)


def test_provider_chat_needs_none_of_huggingface_hub_s_private_methods(faults, monkeypatch):
    """Chat with Inference Providers overrode huggingface_hub's private ``_inner_post`` to see ``data: [DONE]``: an
    upgrade that renames or reshapes it would break every provider answer. Now the answer is read from the router's
    documented OpenAI-compatible API by the studio's own stream reader; the private method is not called."""
    from huggingface_hub import AsyncInferenceClient, InferenceClient

    def gone(*args, **kwargs):
        raise AttributeError("_inner_post is private and went away in this upgrade")

    monkeypatch.setattr(AsyncInferenceClient, "_inner_post", gone)
    monkeypatch.setattr(InferenceClient, "_inner_post", gone)
    point_providers_at(monkeypatch, f"http://127.0.0.1:{faults.port}/good")
    assert make_backend(BackendSpec(kind="provider", model="org/model"), TOKEN).complete(ASK) == "".join(GOOD_ANSWER)


@pytest.mark.parametrize(("provider", "model"), [("auto", "org/model"), ("together", "org/model:together")])
def test_the_chosen_provider_reaches_the_router_in_the_model_name(faults, monkeypatch, provider, model):
    """The router's OpenAI-compatible API picks a provider from ``model:provider``; ``auto`` lets it choose. The
    token goes only in the Authorization header."""
    point_providers_at(monkeypatch, f"http://127.0.0.1:{faults.port}/good")
    spec = BackendSpec(kind="provider", model="org/model", provider=provider)
    assert make_backend(spec, TOKEN).complete(ASK) == "".join(GOOD_ANSWER)
    assert faults.bodies[-1]["model"] == model and faults.bodies[-1]["stream"] is True
    assert faults.headers[-1]["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in json.dumps(faults.bodies[-1])


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/chat/completions"])
def test_an_endpoint_url_as_the_provider_model_is_asked_at_its_own_chat_route(suffix):
    """An Inference Endpoint or Space given as the model answers at its own ``/v1/chat/completions``, as
    huggingface_hub's clients ask it."""
    b = make_backend(BackendSpec(kind="provider", model=f"https://me-x.endpoints.huggingface.cloud{suffix}"), TOKEN)
    assert b._chat_url() == "https://me-x.endpoints.huggingface.cloud/v1/chat/completions"


def test_provider_answers_whole_or_cut_leave_no_task_pending(faults, monkeypatch, caplog):
    """Answers from a provider, whole and cut short, one after another: the server's log got "Task was destroyed
    but it is pending!" for a stream's inner generator left to a loop already closed."""
    import gc
    import logging

    def ask(mode: str) -> str:
        point_providers_at(monkeypatch, f"http://127.0.0.1:{faults.port}/{mode}")
        try:
            return make_backend(BackendSpec(kind="provider", model="org/model", provider="auto"), TOKEN).complete(ASK)
        except BackendError as exc:
            return str(exc)

    with caplog.at_level(logging.ERROR, logger="asyncio"):
        answers = [ask(mode) for mode in ("finished", "cut", "good", "cut", "finished")]
        gc.collect()
    assert answers[0] == answers[-1] == "Ninety minutes." and answers[2] == "".join(GOOD_ANSWER)
    assert all("closed the stream before the answer finished" in answers[i] for i in (1, 3))
    assert not [r for r in caplog.records if r.name == "asyncio"], caplog.text


@pytest.fixture(scope="module")
def web_server():
    """A real web server that is not a chat server: a Starlette app (what Streamlit and many sites serve) with one
    page, ``GET /chat/completions``; every other path is its own 404, and a POST there its own 405."""
    import uvicorn
    from chat_servers import free_port
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    async def page(request):
        return HTMLResponse("<html><body>Welcome</body></html>")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/chat/completions", page)]), host="127.0.0.1",
                                           port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("path, status", [("", 405), ("/v1", 404)])
def test_a_url_that_is_no_chat_server_says_to_check_the_url_not_the_model(web_server, path, status):
    """A web page's address (or the studio's own) said "refused the request (405): Method Not Allowed. Check the
    model name and the sampling settings", and a path without a chat endpoint "has no model 'm' (404): check the
    model id": the model name was fine, the URL was not."""
    b = make_backend(BackendSpec(kind="openai", model="m", base_url=web_server + path))
    with pytest.raises(BackendError) as info:
        b.complete(ASK)
    msg = str(info.value)
    assert msg.startswith(f"{web_server + path} has no chat endpoint ({status}")
    assert "check the base URL" in msg and "model" not in msg.split("):")[0]


def test_a_server_without_the_model_still_says_so(faults):
    """A chat server's own 404 for an unknown model names the model (vLLM, OpenAI and Ollama say "model"), and the
    names the server lists at /v1/models: a server's model name (``transformers serve``'s is the folder it was given)
    could only be guessed."""
    with pytest.raises(BackendError) as info:
        backend(faults, "no-model").complete(ASK)
    assert str(info.value) == (f"{faults.url('no-model')} has no model 'microsoft/Phi-3.5-mini-instruct' (404): check "
                               "the model id. It serves: org/served-one, org/served-two.")


def test_an_answer_whose_tab_is_gone_is_stopped_and_its_connection_closed(faults):
    """A reloaded or closed tab's answer went on to its end (a minute here, many on a CPU's local model), holding the
    server's connection, or the local model the new tab then waited on."""
    from studio.chat import stop_when_gone
    from studio.chat.session import StreamJob

    spec = BackendSpec(kind="openai", model="m", base_url=faults.url("hold"))
    kept = StreamJob("m", lambda: make_backend(spec), ASK, ChatParams()).start()
    gone = StreamJob("m", lambda: make_backend(spec), ASK, ChatParams()).start()
    for job, alive in ((kept, True), (gone, False)):
        threading.Thread(target=stop_when_gone, args=([job], lambda alive=alive: alive, 1.0, 0.1), daemon=True).start()
    deadline = time.monotonic() + 10
    while faults.dropped["hold"] < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone.done and gone.state == "stopped" and gone.error is None
    assert faults.dropped["hold"] == 1, "the gone tab's request still holds the server"
    assert not kept.done, "an answer whose tab is still open was stopped"
    kept.cancel()


def test_an_openai_compatible_server_answers_with_hf_hub_offline_set(faults, monkeypatch):
    """The docs said HF_HUB_OFFLINE blocks every API request, which sent an offline laptop's user away from the
    `transformers serve` running on it; only Inference Providers go through the Hub's client."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert backend(faults, "good", token=None).complete(ASK) == "".join(GOOD_ANSWER)


def test_an_answer_that_came_in_one_burst_shows_no_tokens_per_s(faults):
    """A server sending a short answer in one write showed "first token 0.02 s · 6999.5 tokens/s · 3 tokens": a rate
    over no time. A streamed answer still shows its rate."""
    burst, streamed = StreamStats(), StreamStats()
    backend(faults, "good").complete(ASK, ChatParams(), burst)
    assert burst.tokens == 3 and "tokens/s" not in burst.summary() and "first token" in burst.summary()
    backend(faults, "slow").complete(ASK, ChatParams(), streamed)
    assert re.search(r"· \d\.\d tokens/s ·", streamed.summary())  # a word every 0.4 s: about 2.5 tokens/s


@pytest.mark.parametrize("field", ["model", "base_url"])
@pytest.mark.parametrize("bad", ["m\todd", "m\x1b[31m", "m\x07", "m\nx"])
def test_a_model_name_or_url_with_a_control_character_is_refused_in_one_line(field, bad):
    """A tab or an escape pasted into the model name was sent as typed (the server's "model not found" named a name
    the page drew garbled); one in the base URL's path read "Cannot reach ...: check the URL"."""
    fields = {"model": "m", "base_url": "http://127.0.0.1:8000/v1"}
    fields[field] = "http://127.0.0.1:8000/v1/" + bad if field == "base_url" else bad
    with pytest.raises(BackendError, match=r"holds a control character \(a tab, a line break or an escape\): type it "
                                           r"again without it\.$") as caught:
        BackendSpec(kind="openai", **fields)
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)
    assert BackendSpec(kind="openai", model=" m \n", base_url="http://127.0.0.1:8000/v1").model == "m"  # trimmed
    assert BackendSpec(kind="provider", model="org/m\t").model == "org/m"


def test_cli_chat_a_stream_cut_short_ends_its_text_line_before_the_error(faults, tmp_path):
    """The text that came and the error shared a line on a terminal ("The match lastserror: ... closed the stream")."""
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "studio", "chat", "--base-url", faults.url("cut"), "--model", "m",
                          "hello"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "STUDIO_HOME": str(tmp_path)}, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 2 and out.stdout == "The match lasts\n"
    assert out.stderr.startswith("error: ") and "closed the stream before the answer finished" in out.stderr


def test_cli_chat_writes_what_would_drive_the_terminal_as_its_code_point(faults, tmp_path):
    """A server's answer holding ESC sequences (clear the screen, retitle the window), a bell, a carriage return or a
    text-direction override was written to the terminal as it came, which obeyed it: the screen cleared, the line's
    start written over. Each is now written as its code point; a Windows line end is a line end, also where it came
    split across two pieces (written "[U+000D]" and a line break)."""
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "studio", "chat", "--base-url", faults.url("escapes"), "--model", "m",
                          "hello"], capture_output=True, timeout=60,
                         env={**os.environ, "STUDIO_HOME": str(tmp_path)}, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode() == ("Line one[U+001B][2J[U+001B]]0;pwned[U+0007] and\nnext\nthen[U+000D]over[U+202E]"
                                   "end[U+009B][U+000D]\n")
    refused = subprocess.run([sys.executable, "-m", "studio", "chat", "--base-url", faults.url("escapes-refused"),
                              "--model", "m", "hello"], capture_output=True, timeout=60,
                             env={**os.environ, "STUDIO_HOME": str(tmp_path)}, cwd=Path(__file__).resolve().parents[2])
    assert refused.returncode == 2 and refused.stderr.decode() == (  # the server's words quoted in the error line
        f"error: {faults.url('escapes-refused')} refused the request (400): refused [U+001B][31mred[U+001B][0m "
        "[U+001B]]0;pwned[U+0007].\n")


@pytest.mark.parametrize(("fields", "said"), [
    ({"kind": "openai", "model": "m", "base_url": "x" * 2_000}, "not 'xxx"),
    ({"kind": "openai", "model": "m", "base_url": "http://127.0.0.1:8000/v1/" + "p" * 100_000},
     "The base URL is 100,025 characters, more than the 2,048 a base URL may hold: check what was pasted."),
    ({"kind": "provider", "model": "m", "base_url": "y" * 2_000, "task": "extractive"}, "not 'yyy"),
    ({"kind": "provider", "model": "m", "base_url": "y" * 100_000, "task": "extractive"},
     "The endpoint URL is 100,000 characters, more than the 2,048 an endpoint URL may hold: check what was pasted."),
    ({"kind": "openai", "model": "m" * 100_000, "base_url": "http://127.0.0.1:8000/v1"},
     "The model name is 100,000 characters, more than the 1,000 a model name may hold: check what was pasted."),
    ({"kind": "provider", "model": "org/m", "provider": "p" * 100_000},
     "The provider is 100,000 characters, more than the 1,000 a provider may hold: check what was pasted.")])
def test_a_huge_paste_into_a_model_s_fields_is_one_short_line(fields, said):
    """A 100,000-character paste into the Base URL field made a 100,000-character error line in the sidebar; one into
    the Model field was sent, and headed every answer."""
    with pytest.raises(BackendError) as caught:
        BackendSpec(**fields)
    assert said in str(caught.value) and len(str(caught.value)) < 200


def test_a_public_app_does_not_reach_its_own_machine_for_a_visitor_s_url(faults, monkeypatch):
    """On the public app a visitor's base URL on the server's own loopback (or its network, or the cloud's metadata
    address 169.254.169.254) had the server send it requests and show what came back (its /models listed, its
    answer). It is now refused at the connection, nothing sent, in one line; a local install reaches it as before, and
    so does a public app whose deployer allows it, or a job its visitor started (told so in its environment)."""
    from studio import config
    from studio.chat import served

    assert complete(backend(faults, "good"), ASK, ChatParams(timeout_s=10)) == "".join(GOOD_ANSWER)  # a local install
    monkeypatch.setattr(config, "_tenancy", True)
    sent = sum(faults.hits.values())
    with pytest.raises(StudioError, match=r"127\.0\.0\.1 is at 127\.0\.0\.1, an address of this app's own machine"):
        complete(backend(faults, "good"), ASK, ChatParams(timeout_s=10))
    assert "own machine or network" in served._ask(faults.url("no-model"), None).unreachable
    assert sum(faults.hits.values()) == sent  # neither the question nor the listing reached the server
    with socket.socket() as closed:  # a port nothing listens on reads the same: no scan of the server's ports
        closed.bind(("127.0.0.1", 0))
        shut = make_backend(BackendSpec(kind="openai", model="m", base_url=f"http://localhost:{closed.getsockname()[1]}/v1"))
        with pytest.raises(StudioError, match=r"localhost is at (127\.0\.0\.1|::1), an address of this app's own machine"):
            complete(shut, ASK, ChatParams(timeout_s=10))
    monkeypatch.setattr(config, "_tenancy", False)
    monkeypatch.setenv(config.PUBLIC_ONLY_VAR, "1")  # an evaluation's process, started by the public app
    with pytest.raises(StudioError, match="own machine or network"):
        complete(backend(faults, "good"), ASK, ChatParams(timeout_s=10))
    monkeypatch.delenv(config.PUBLIC_ONLY_VAR)
    monkeypatch.setattr(config, "_tenancy", True)
    config.set_private_servers(True)  # [studio] private_servers = true
    try:
        assert complete(backend(faults, "good"), ASK, ChatParams(timeout_s=10)) == "".join(GOOD_ANSWER)
    finally:
        config.set_private_servers(False)


class _Listener:
    """A loopback port that counts the connections made to it (the server's own service a visitor's URL aims at)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port, self.accepted = self.sock.getsockname()[1], 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def count(self) -> int:
        """The connections made before now: one more made here, and waited for (they are accepted in order)."""
        before = self.accepted
        socket.create_connection(("127.0.0.1", self.port)).close()
        deadline = time.monotonic() + 30
        while self.accepted == before and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.accepted - 1


def test_a_public_app_s_proxy_and_a_rebinding_name_do_not_reach_its_own_machine(monkeypatch):
    """Two ways round the public app's refusal of a visitor's private address: with HTTP_PROXY set on the deployment,
    the address was not checked at all and the proxy was sent http://10.9.8.7/...; a name that resolved to a public
    address for the check and to the server's own the next time was connected to (an open port and a closed one
    reading differently); an IPv6 address carrying a private IPv4 one (NAT64, 6to4) was tried. All are refused, nothing
    connected to."""
    import urllib3.util.connection

    from studio import config

    monkeypatch.setattr(config, "_tenancy", True)
    proxy = _Listener()
    for name in ("HTTP_PROXY", "http_proxy"):  # the lower-case one wins where both are set
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "")
    for url in ("http://10.9.8.7:8000/v1", "http://169.254.169.254/v1"):
        with pytest.raises(StudioError, match="own machine or network"):
            complete(make_backend(BackendSpec(kind="openai", model="m", base_url=url)), ASK, ChatParams(timeout_s=5))
    assert proxy.count() == 0  # the proxy was never asked for them
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name)
    for host in ("64:ff9b::a00:1", "2002:a9fe:a9fe::1", "::127.0.0.1"):  # 10.0.0.1 by NAT64, the metadata one by 6to4
        with pytest.raises(StudioError, match="own machine or network"):
            complete(make_backend(BackendSpec(kind="openai", model="m", base_url=f"http://[{host}]:8000/v1")), ASK,
                     ChatParams(timeout_s=2))

    own = _Listener()
    answers = iter(["93.184.216.34"])  # public the first time, the server's own after
    real = socket.getaddrinfo

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.example":
            return real(next(answers, "127.0.0.1"), port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    tried = []
    connect = urllib3.util.connection.create_connection

    def no_internet(address, *args, **kwargs):  # the public address is refused here, not sought on the internet
        tried.append(address[0])
        if address[0] == "93.184.216.34":
            raise ConnectionRefusedError(111, "Connection refused")
        return connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", no_internet)
    shut = make_backend(BackendSpec(kind="openai", model="m", base_url=f"http://rebind.example:{own.port}/v1"))
    with pytest.raises(StudioError):
        complete(shut, ASK, ChatParams(timeout_s=5))
    assert own.count() == 0 and tried == ["93.184.216.34"] * len(tried)  # its own port never connected to


def test_a_public_app_does_not_look_a_name_up_again_where_its_check_found_no_address(monkeypatch):
    """A name whose lookups failed for the two checks (a DNS server of the visitor's answering SERVFAIL on purpose) was
    then looked up once more by the connection itself, which reached the server's own 127.0.0.1 (the socket check
    refused it only once connected: an open port and a closed one read differently, a scan). A name the check could
    not resolve is said not to resolve, and nothing is connected to."""
    from studio import config

    monkeypatch.setattr(config, "_tenancy", True)
    own = _Listener()
    real, asked = socket.getaddrinfo, []

    def failing_then_own(host, port, *args, **kwargs):
        if host == "flaky.example":
            asked.append(host)
            if len(asked) <= 2:
                raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", failing_then_own)
    shut = make_backend(BackendSpec(kind="openai", model="m", base_url=f"http://flaky.example:{own.port}/v1"))
    with pytest.raises(StudioError) as refused:
        complete(shut, ASK, ChatParams(timeout_s=5))
    assert own.count() == 0  # its own port never connected to
    assert "own machine or network" not in str(refused.value) and "flaky.example" in str(refused.value), refused.value


def test_a_public_app_leaves_no_name_to_its_proxy_to_resolve(monkeypatch):
    """A name this server cannot resolve was handed to the deployment's HTTP(S)_PROXY, which resolved it on its own
    network (an intranet name) and fetched it for a visitor, unchecked. Refused in one line, the proxy never asked;
    a deployer allowing private servers lets the proxy resolve it."""
    from studio import config

    monkeypatch.setattr(config, "_tenancy", True)
    proxy = _Listener()
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "")
    real = socket.getaddrinfo

    def intranet_unknown(host, port, *args, **kwargs):  # only the proxy's network knows this name
        if host == "wiki.intranet.corp":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", intranet_unknown)
    for url in ("http://wiki.intranet.corp/v1", "https://wiki.intranet.corp/v1"):
        with pytest.raises(StudioError, match=r"^wiki\.intranet\.corp does not resolve on this app's server, and its "
                                              r"proxy would look it up [^\n]* \[studio\] private_servers = true, or "
                                              r"STUDIO_PRIVATE_SERVERS=1\)\.$"):
            complete(make_backend(BackendSpec(kind="openai", model="m", base_url=url)), ASK, ChatParams(timeout_s=5))
    assert proxy.count() == 0  # the proxy was never asked for it
    config.set_private_servers(True)  # [studio] private_servers = true: the proxy resolves it
    try:
        with pytest.raises(StudioError):  # the stand-in proxy hangs up: what matters is that it was asked
            complete(make_backend(BackendSpec(kind="openai", model="m", base_url="http://wiki.intranet.corp/v1")), ASK,
                     ChatParams(timeout_s=5))
        assert proxy.count() >= 1
    finally:
        config.set_private_servers(False)
    monkeypatch.setattr(config, "_tenancy", False)  # a local install leaves it to the proxy, as before
    with pytest.raises(StudioError):
        complete(make_backend(BackendSpec(kind="openai", model="m", base_url="http://wiki.intranet.corp/v1")), ASK,
                 ChatParams(timeout_s=5))
