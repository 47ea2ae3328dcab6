"""A base URL whose server misbehaves in ways no real server can be asked to: it streams without end (ignoring max
tokens), sends one line without a break for megabytes, or events that are JSON but not objects. Each is one line on
the Chat page, in a moment, with what came kept; the studio's memory and the page's redraws stay bounded."""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_chat_page import PAGE, page, send, use_api  # the Chat page driven as a person does

from studio import chat
from studio.chat import BackendSpec, ChatParams
from studio.chat.base import CHARS_PER_TOKEN
from studio.errors import BackendError, StudioError


def _event(content: object) -> bytes:
    return b"data: " + json.dumps({"choices": [{"delta": {"content": content}, "finish_reason": None}]}).encode() + b"\n\n"


class Hostile(BaseHTTPRequestHandler):
    """/<mode>/v1/chat/completions: "endless" streams text until the client goes, "noline" sends bytes without a
    line break until the client goes, "notobject" sends ``[]`` events, "oddcontent" a number as content then text,
    "notutf8" an event of bytes that are not UTF-8, "errorevent" and "tgierror" the server's error as an event."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        mode = self.path.strip("/").split("/")[0]
        if mode == "hangup":  # reached, and closes the connection without a word
            self.close_connection = True
            return
        if mode == "cutheaders":  # the status line and half a header, then the connection closed
            self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-ty")
            self.close_connection = True
            return
        if mode == "cutline":  # the status line and a whole header line, then the connection closed
            self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n")
            self.close_connection = True
            return
        if mode == "statusline":  # the status line alone, then the connection closed
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            self.close_connection = True
            return
        if mode in ("reset", "resetmid"):  # the connection reset (a server restarting): at once, or mid-answer
            if mode == "resetmid":
                self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
                self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, not FIN
            self.connection.close()
            self.close_connection = True
            return
        if mode == "nothttp":  # something that is not an HTTP server listening there
            self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n")
            self.close_connection = True
            return
        if mode == "nothttphead":  # the same, its words ending as headers end (a blank line)
            self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\nProtocol mismatch.\r\n\r\n")
            self.close_connection = True
            return
        if mode == "cutbody":  # whole headers, then the connection closed one byte into a 100-byte body
            self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        try:
            if mode == "endless":
                while True:
                    self.wfile.write(_event("spam " * 200))
            if mode == "noline":
                while True:
                    self.wfile.write(b"x" * 65536)
            if mode == "notobject":
                self.wfile.write(b"data: []\n\n" + _event("late"))
            if mode == "oddcontent":
                self.wfile.write(_event(5) + _event("fine") + b"data: [DONE]\n\n")
            if mode == "notutf8":  # bytes json.loads guessed were UTF-16
                self.wfile.write(_event("Hi") + b"data: \xff\xfe\x00\x01garbage\n\n")
            if mode == "errorevent":  # vLLM's and OpenAI's error mid-stream, a key in it to be scrubbed
                self.wfile.write(_event("Half an") + b'data: {"error": {"message": "model crashed:\\nCUDA out of '
                                 b'memory (key sk-proj-LEAKED0123456789abcdef)", "code": 500}}\n\n')
            if mode == "surrogate":  # a lone UTF-16 surrogate as a JSON escape: valid JSON, text no UTF-8 can hold
                self.wfile.write(b'data: {"choices": [{"delta": {"content": "Ol\\u00e1 \\ud800 e \\ud83d\\ude00"}, '
                                 b'"finish_reason": "stop"}]}\n\n')
            if mode == "garbage":  # bytes that hold no event at all
                self.wfile.write(bytes(range(256)).replace(b"\n", b"") * 20)
            if mode == "bidierror":  # the server's own words, with a right-to-left override in them
                self.wfile.write(b'data: {"error": {"message": "model \\u202e crashed"}}\n\n')
            if mode == "tgierror":  # TGI's
                self.wfile.write(b'data: {"error": "Request failed during generation", "error_type": "generation"}\n\n')
        except OSError:  # the client hung up: what these modes wait for
            pass


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_an_endless_answer_is_cut_at_what_max_tokens_can_hold_and_kept(hostile):
    at = page()
    use_api(at, f"{hostile}/endless/v1")
    send(at, "hello")
    turn = at.session_state["chat.messages"][-1]
    limit = at.session_state["chat.max_new_tokens"] * CHARS_PER_TOKEN
    assert turn["content"].startswith("spam spam") and len(turn["content"]) == limit
    assert any("cut at" in e.value and "ignores max tokens" in e.value for e in at.error)
    assert not at.chat_input(key="chat.input").disabled


@pytest.mark.parametrize(("mode", "said"), [("noline", "a line of over 1 MB"),
                                            ("notobject", "JSON is a list, not an object"),
                                            ("notutf8", "sent an event that is not UTF-8 text in its stream")])
def test_a_stream_that_is_not_chat_events_is_one_line(hostile, mode, said):
    at = page()
    use_api(at, f"{hostile}/{mode}/v1")
    send(at, "hello")
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and said in errors[0] and "OpenAI-compatible" in errors[0]


def test_a_content_that_is_not_text_is_left_out_of_the_answer(hostile):
    backend = chat.make_backend(BackendSpec(kind="openai", model="m", base_url=f"{hostile}/oddcontent/v1"))
    assert chat.complete(backend, [{"role": "user", "content": "hi"}], ChatParams(timeout_s=10)) == "fine"


def test_evaluation_and_scripts_get_the_same_bound(hostile):
    backend = chat.make_backend(BackendSpec(kind="openai", model="m", base_url=f"{hostile}/endless/v1"))
    with pytest.raises(BackendError, match="cut at 1,024 characters"):
        chat.complete(backend, [{"role": "user", "content": "hi"}], ChatParams(max_new_tokens=16, timeout_s=10))


@pytest.mark.parametrize(("mode", "said", "kept"), [
    ("errorevent", "/errorevent/v1 gave up mid-answer: model crashed: CUDA out of memory (key ***). Try again.", "Half an"),
    ("tgierror", "/tgierror/v1 gave up mid-answer: Request failed during generation. Try again.", "")])
def test_an_error_the_server_sends_as_an_event_is_said_in_its_words(hostile, mode, said, kept):
    """A server giving up mid-answer with an error event read "closed the stream before the answer finished": its
    reason (out of memory, say) was lost. What came before it is kept."""
    at = page()
    use_api(at, f"{hostile}/{mode}/v1")
    send(at, "hello")
    errors = [e.value.replace("\\", "").replace("`", "") for e in at.error]  # as shown: Markdown's escapes off
    assert len(errors) == 1 and errors[0].endswith(said) and "LEAKED" not in errors[0], errors
    assert at.session_state["chat.messages"][-1]["content"] == kept
    assert not at.chat_input(key="chat.input").disabled


def test_an_answer_holding_a_lone_surrogate_is_kept_with_a_replacement_character(hostile):
    """A server's answer with a lone surrogate escape (``\\ud800``) broke the page with a traceback when the
    conversation was saved (UTF-8 cannot encode it), and the answer was lost. It is U+FFFD now, as a decoder shows
    bytes it cannot read; a real emoji's escaped pair stays the emoji."""
    from streamlit.testing.v1 import AppTest

    from studio.chat import saved

    at = page()
    use_api(at, f"{hostile}/surrogate/v1")
    send(at, "hello")
    assert not at.error and at.session_state["chat.messages"][-1]["content"] == "Olá \ufffd e \U0001f600"
    assert "Olá \ufffd e \U0001f600" in saved.path().read_text(encoding="utf-8")
    again = AppTest.from_file(PAGE, default_timeout=30)  # a reload: it is there, no error
    again.run()
    assert not again.exception and again.session_state["chat.messages"][-1]["content"].startswith("Olá \ufffd")


@pytest.mark.parametrize(("mode", "said"), [
    ("garbage", "/garbage/v1 sent a response with no event in it, not an event stream"),  # it said "an empty response"
    # it said "Cannot reach ...: check that the server runs", of a server that answered
    ("hangup", "/hangup/v1 closed the connection without answering"),
    # headers cut mid-line (status line, then "content-ty") read "sent an empty response"
    ("cutheaders", r"/cutheaders/v1 closed the connection mid-response \(its headers cut off\): try again"),
    # headers cut after a whole line, or after the status line: they read as whole, and the answer "an empty response"
    ("cutline", r"/cutline/v1 closed the connection mid-response \(its headers cut off\): try again"),
    ("statusline", r"/statusline/v1 closed the connection mid-response \(its headers cut off\): try again"),
    # it read "Cannot reach ...: check the URL, that the server runs", of a server that answered
    ("nothttp", r"/nothttp/v1 answered with something that is not HTTP: is the URL the right port \(and http:// or "
                r"https://\)\?$"),
])
def test_a_server_that_sends_garbage_or_hangs_up_is_said_as_what_it_did(hostile, mode, said):
    backend = chat.make_backend(BackendSpec(kind="openai", model="m", base_url=f"{hostile}/{mode}/v1"))
    with pytest.raises(StudioError, match=said):
        chat.complete(backend, [{"role": "user", "content": "hi"}], ChatParams(timeout_s=10))


@pytest.mark.parametrize(("mode", "said", "not_said"), [
    ("hangup", r"/hangup closed the connection without answering: check that the URL is a question-answering endpoint",
     "OpenAI"),
    ("garbage", r"/garbage sent a response that is not JSON: is this a question-answering endpoint", "OpenAI"),
    ("cutheaders", r"/cutheaders closed the connection mid-response \(its headers cut off\)", "not JSON"),
    ("cutline", r"/cutline closed the connection mid-response \(its headers cut off\)", "not JSON"),
    # it read "Cannot reach ...: check the URL, that the server runs", of a server that answered
    ("nothttp", r"/nothttp answered with something that is not HTTP: is the URL the right port", "Cannot reach"),
])
def test_an_extractive_endpoint_that_misbehaves_is_said_as_one(hostile, mode, said, not_said):
    """Passage mode's extractive endpoint URL: a server that hangs up or sends garbage was asked to be "an
    OpenAI-compatible endpoint" (which would not take its request either), and one that is not an HTTP server sent
    the person to check huggingface.co's network, of a URL they typed."""
    from studio.chat.passage import make_passage_backend

    spec = BackendSpec(kind="provider", model="org/squad", base_url=f"{hostile}/{mode}", task="extractive")
    with pytest.raises(StudioError, match=said) as err:
        make_passage_backend(spec, None).answer("Q?", "Some passage.", ChatParams(timeout_s=10))
    assert not_said not in str(err.value)


def test_a_server_never_reached_is_not_said_to_have_hung_up_whatever_its_url_holds(monkeypatch):
    """A hang-up was told by the words in the error's message, which quote the URL: a refused connection to
    ``.../RemoteDisconnected/v1`` read "closed the connection without answering", of a server never reached, and
    was not retried. It is told by the error's type now; a real hang-up still reads so (the test above)."""
    from chat_servers import free_port

    from studio.chat import api
    from studio.chat.passage import make_passage_backend

    monkeypatch.setattr(api, "BACKOFF_S", (0.0, 0.0, 0.0))  # the retries of a refused connection, without the waits
    url = f"http://127.0.0.1:{free_port()}/RemoteDisconnected/v1"  # nothing listens there
    backend = chat.make_backend(BackendSpec(kind="openai", model="m", base_url=url))
    with pytest.raises(StudioError) as err:
        chat.complete(backend, [{"role": "user", "content": "hi"}], ChatParams(timeout_s=10))
    assert str(err.value) == f"Cannot reach {url}: check the URL, that the server runs, and the network."
    spec = BackendSpec(kind="provider", model="org/squad", base_url=url, task="extractive")
    with pytest.raises(StudioError) as err:
        make_passage_backend(spec, None).answer("Q?", "Some passage.", ChatParams(timeout_s=10))
    assert str(err.value).startswith(f"Cannot reach {url}: check the URL")


def test_only_an_event_holding_a_surrogate_escape_is_mended(hostile, monkeypatch):
    """Every event of every stream was walked and copied whole to mend a lone surrogate that almost never comes. Only
    an event whose bytes hold a surrogate's escape is mended now, and mending copies nothing where nothing changes;
    the answer holding one still comes with a replacement character."""
    from studio.chat import openai_stream

    event = {"choices": [{"delta": {"content": "Olá \U0001f600"}, "finish_reason": None}], "usage": None}
    assert openai_stream.mended(event) is event
    assert openai_stream.mended({"a": ["x\ud800"]}) == {"a": ["x\ufffd"]}
    calls: list[object] = []
    real = openai_stream.mended
    def counted(value: object) -> object:  # an event's walk, not the walk's own steps into its parts
        if isinstance(value, dict) and "choices" in value:
            calls.append(value)
        return real(value)

    monkeypatch.setattr(openai_stream, "mended", counted)
    ask = [{"role": "user", "content": "hi"}]
    plain = chat.make_backend(BackendSpec(kind="openai", model="m", base_url=f"{hostile}/oddcontent/v1"))
    assert chat.complete(plain, ask, ChatParams(timeout_s=10)) == "fine" and calls == []
    odd = chat.make_backend(BackendSpec(kind="openai", model="m", base_url=f"{hostile}/surrogate/v1"))
    assert chat.complete(odd, ask, ChatParams(timeout_s=10)) == "Olá \ufffd e \U0001f600" and len(calls) == 1


def test_a_text_direction_control_in_the_server_s_error_is_marked_in_the_error_line(hostile):
    """A right-to-left override in the words a server gave up with drew the rest of the error line reversed ("gave up
    mid-answer: model dehsarc"): the turns marked such controls, error lines did not. They show ``[U+202E]`` now."""
    at = page()
    use_api(at, f"{hostile}/bidierror/v1")
    send(at, "hello")
    errors = [e.value.replace("\\", "") for e in at.error]  # as shown: Markdown's escapes off
    assert len(errors) == 1 and "gave up mid-answer: model [U+202E] crashed. Try again." in errors[0], errors
    assert "\u202e" not in errors[0]


def _through_providers_client(monkeypatch, url: str) -> list[str]:
    """Passage mode's hosted extractive model asked through the providers' client (httpx2), at ``url``; the list
    returned grows by one for each request sent."""
    from studio.chat import api, passage

    asked: list[str] = []

    def client(**kwargs):
        asked.append(url)
        return api.ProviderClient(**{**kwargs, "model": url, "provider": "hf-inference"})

    monkeypatch.setattr(passage, "ProviderClient", client)
    return asked


@pytest.mark.parametrize("mode", ["refused", "reset"])
def test_a_hosted_extractive_model_whose_connection_is_refused_or_reset_is_retried_then_said_unreachable(
        hostile, monkeypatch, mode):
    """A connection reset under the providers' client (httpx2's ReadError, the socket's ConnectionResetError behind
    it) read "Hugging Face Inference Providers failed: ReadError." at once, where the same reset on the endpoint
    URL's path was retried and said "Cannot reach". Both are retried now, as a refused connection is (its
    ConnectionRefusedError kept behind httpx2's ConnectError), and said so when the tries run out. A reset after the
    answer's headers came is not this (the test below)."""
    from chat_servers import free_port

    from studio.chat import api
    from studio.chat.passage import make_passage_backend

    monkeypatch.setattr(api, "BACKOFF_S", (0.0, 0.0, 0.0))
    url = f"http://127.0.0.1:{free_port()}/x" if mode == "refused" else f"{hostile}/{mode}"
    asked = _through_providers_client(monkeypatch, url)
    spec = BackendSpec(kind="provider", model="org/squad", task="extractive")
    with pytest.raises(StudioError) as err:
        make_passage_backend(spec, "hf_passage_token_1234567").answer("Q?", "Some passage.", ChatParams(timeout_s=10))
    assert str(err.value).startswith("Cannot reach Hugging Face Inference Providers: check the network")
    assert len(asked) == api.MAX_ATTEMPTS


def test_a_hosted_extractive_model_whose_server_sends_bytes_that_are_not_text_is_said_to_send_no_json(
        hostile, monkeypatch):
    """Bytes that are not UTF-8 through the providers' client read as the decoder's own words ("'utf-8' codec can't
    decode byte 0x80 in position 127: invalid start byte"), naming no server and nothing to do; the endpoint URL's
    path said "sent a response that is not JSON" of the same bytes."""
    from studio.chat.passage import make_passage_backend

    _through_providers_client(monkeypatch, f"{hostile}/garbage")
    spec = BackendSpec(kind="provider", model="org/squad", task="extractive")
    with pytest.raises(StudioError) as err:
        make_passage_backend(spec, "hf_passage_token_1234567").answer("Q?", "Some passage.", ChatParams(timeout_s=10))
    assert str(err.value).startswith("Hugging Face Inference Providers sent a response that is not JSON: ")
    assert "codec" not in str(err.value)


DROPPED = ("answered, then dropped the connection mid-answer (after its headers, before the answer's end): try again, "
           "and check the server's log (it may have crashed or restarted).")
HOSTED_DROPPED = ("Hugging Face Inference Providers answered, then dropped the connection mid-answer (after its headers, "
                  "before the answer's end): try again, or pick another provider.")
HOSTED_CUT = ("Hugging Face Inference Providers closed the connection mid-response (its headers cut off): try again, or "
              "pick another provider.")
NOT_HTTP = "answered with something that is not HTTP: is the URL the right port (and http:// or https://)?"


@pytest.mark.parametrize(("mode", "said"), [
    # httpx2 raises one RemoteProtocolError ("Server disconnected without sending a response.") for each of these
    # three and for a hang-up: all three read "closed the connection without answering"
    ("cutheaders", HOSTED_CUT), ("cutline", HOSTED_CUT), ("statusline", HOSTED_CUT),
    ("nothttp", f"Hugging Face Inference Providers {NOT_HTTP}"),
    # a plain ReadError, as a reset before any answer is: it read "Cannot reach ...: check the network"
    ("resetmid", HOSTED_DROPPED),
    ("hangup", "Hugging Face Inference Providers closed the connection without answering: try again, or pick another "
               "provider."),
])
def test_a_hosted_extractive_model_s_connection_faults_are_said_as_what_its_bytes_show(hostile, monkeypatch, mode,
                                                                                         said):
    """Through the providers' client, headers cut off and a server that is not HTTP closing early raise the error a
    hang-up raises, and a reset after the headers the one a reset before them does; the bytes that came tell them
    apart, as the OpenAI-compatible path's reader does. A drop after the headers is retried, as there."""
    from studio.chat import api
    from studio.chat.passage import make_passage_backend

    monkeypatch.setattr(api, "BACKOFF_S", (0.0, 0.0, 0.0))
    asked = _through_providers_client(monkeypatch, f"{hostile}/{mode}")
    spec = BackendSpec(kind="provider", model="org/squad", task="extractive")
    with pytest.raises(StudioError) as err:
        make_passage_backend(spec, "hf_passage_token_1234567").answer("Q?", "Some passage.", ChatParams(timeout_s=10))
    assert str(err.value) == said
    assert len(asked) == (api.MAX_ATTEMPTS if mode == "resetmid" else 1)


@pytest.mark.parametrize("mode", ["resetmid", "cutbody"])
def test_a_chat_server_that_drops_the_connection_after_its_headers_is_retried_then_said_to_have_dropped_it(
        hostile, monkeypatch, mode):
    """A reset after the headers came read "Cannot reach ...: check the URL, that the server runs" (and a body cut
    short, "... failed: ('Connection broken: IncompleteRead(1 bytes read, 99 more expected)', ...)"), of a server that
    had answered. Still retried (a server restarting); said as what it did when the tries run out."""
    from studio.chat import api

    monkeypatch.setattr(api, "BACKOFF_S", (0.0, 0.0, 0.0))
    url = f"{hostile}/{mode}/v1"
    backend = chat.make_backend(BackendSpec(kind="openai", model="m", base_url=url))
    with pytest.raises(StudioError) as err:
        chat.complete(backend, [{"role": "user", "content": "hi"}], ChatParams(timeout_s=10))
    assert str(err.value) == f"{url} {DROPPED}"


@pytest.mark.parametrize("through", ["url", "providers"])
def test_an_extractive_endpoint_that_cuts_its_body_short_is_said_to_have_dropped_it(hostile, monkeypatch, through):
    """The endpoint URL's path read the body cut short as "Cannot reach" (a reset) or urllib3's words; the providers'
    client as its own ("... failed: peer closed connection without sending complete message body (received 1 bytes,
    expected 100)."). Both say what the server did."""
    from studio.chat import api
    from studio.chat.passage import make_passage_backend

    monkeypatch.setattr(api, "BACKOFF_S", (0.0, 0.0, 0.0))
    url = f"{hostile}/cutbody"
    if through == "providers":
        asked = _through_providers_client(monkeypatch, url)
        spec, where = BackendSpec(kind="provider", model="org/squad", task="extractive"), "Hugging Face Inference Providers"
    else:
        spec, where = BackendSpec(kind="provider", model="org/squad", base_url=url, task="extractive"), url
    with pytest.raises(StudioError) as err:
        make_passage_backend(spec, "hf_passage_token_1234567").answer("Q?", "Some passage.", ChatParams(timeout_s=10))
    assert str(err.value) == (HOSTED_DROPPED if through == "providers" else f"{where} {DROPPED}")
    if through == "providers":
        assert len(asked) == api.MAX_ATTEMPTS  # retried, as a reset is


def test_a_hosted_extractive_model_whose_server_hangs_up_is_said_so_by_its_error_s_type(hostile, monkeypatch):
    """The providers' client's hang-up (httpx2's RemoteProtocolError) read "... failed: Server disconnected without
    sending a response."; it reads as chat's hang-up does. A server that answers in words no HTTP reader can read
    (h11's error behind the same type) is not said to have hung up."""
    from studio.chat.passage import make_passage_backend

    spec = BackendSpec(kind="provider", model="org/squad", task="extractive")
    _through_providers_client(monkeypatch, f"{hostile}/hangup")
    with pytest.raises(StudioError) as err:
        make_passage_backend(spec, "hf_passage_token_1234567").answer("Q?", "Some passage.", ChatParams(timeout_s=10))
    assert str(err.value) == ("Hugging Face Inference Providers closed the connection without answering: try again, "
                              "or pick another provider.")  # it said to check "the URL", of none typed
    assert "disconnected" not in str(err.value)
    import h11
    import httpx2

    try:  # how httpx2 raises a response h11 refused: its own type, h11's error behind it
        try:
            raise h11.RemoteProtocolError("illegal status line: bytearray(b'SSH-2.0')", 400)
        except h11.RemoteProtocolError as inner:
            raise httpx2.RemoteProtocolError("illegal status line") from inner
    except httpx2.RemoteProtocolError as exc:
        said = str(make_passage_backend(spec, "hf_passage_token_1234567")._explain(exc))
    assert "without answering" not in said and "answered with something that is not HTTP" in said


def test_a_hosted_extractive_model_whose_server_is_not_http_is_said_so_where_its_client_can_tell(hostile, monkeypatch):
    """Bytes that are not HTTP through the providers' client read "... failed: illegal status line: bytearray(b'SSH-2.0-
    OpenSSH_9.6')."; said as what they are now. (Where the server closes before its words end as headers do, the
    client raises what it raises for a hang-up: the test above.)"""
    from studio.chat.passage import make_passage_backend

    spec = BackendSpec(kind="provider", model="org/squad", task="extractive")
    _through_providers_client(monkeypatch, f"{hostile}/nothttphead")
    with pytest.raises(StudioError) as err:
        make_passage_backend(spec, "hf_passage_token_1234567").answer("Q?", "Some passage.", ChatParams(timeout_s=10))
    assert str(err.value) == ("Hugging Face Inference Providers answered with something that is not HTTP: is the URL "
                              "the right port (and http:// or https://)?")


def test_redirect_loops_and_offline_mode_are_told_by_type_wherever_they_sit_in_the_causes():
    """A redirect loop and the Hub's offline mode were told by the class's name of the error itself: one wrapped in
    another error (or a subclass) read as "failed: ..." or "Cannot reach", and any class of that name matched."""
    import requests
    from huggingface_hub.errors import OfflineModeIsEnabled

    backend = chat.make_backend(BackendSpec(kind="openai", model="m", base_url="http://127.0.0.1:9/v1"))
    loop = requests.exceptions.TooManyRedirects("Exceeded 30 redirects.")
    assert "redirects in a loop" in str(backend._explain(loop))  # as before

    class Wrapped(RuntimeError):
        pass

    def behind(inner: BaseException) -> BaseException:
        try:
            raise Wrapped("request failed") from inner
        except Wrapped as exc:
            return exc

    assert "redirects in a loop" in str(backend._explain(behind(loop)))
    assert str(backend._explain(OfflineModeIsEnabled("offline"))).startswith("HF_HUB_OFFLINE is set")
    assert str(backend._explain(behind(OfflineModeIsEnabled("offline")))).startswith("HF_HUB_OFFLINE is set")
    named_alike = type("TooManyRedirects", (RuntimeError,), {})("a server's own error")
    assert "redirects in a loop" not in str(backend._explain(named_alike))


def test_a_read_error_whose_words_say_timed_out_is_not_waited_on_as_a_timeout():
    """A read that failed was waited on (to the answer's deadline) when its message held "timed out" (a URL or a
    server's words quoted in it); a read timeout is told by its type, and only it is read again."""
    import time

    import urllib3

    from studio.chat import openai_stream

    class Raw:
        def __init__(self, first: BaseException):
            self.reads = [first, b'data: {"choices": [{"delta": {"content": "Hi"}, "finish_reason": "stop"}]}\n',
                          b"data: [DONE]\n"]

        def read1(self, _n: int) -> bytes:
            got = self.reads.pop(0)
            if isinstance(got, BaseException):
                raise got
            return got

    class Response:
        def __init__(self, first: BaseException):
            self.raw = Raw(first)

    deadlines = openai_stream.Deadlines(first_token_s=600, idle_s=600, total_s=600)
    timeout = urllib3.exceptions.ReadTimeoutError(None, None, "Read timed out.")
    events = list(openai_stream._events(Response(timeout), time.monotonic(), deadlines, threading.Event()))
    assert [e["choices"][0]["delta"]["content"] for e in events] == ["Hi"]  # read again after the timeout
    reset = urllib3.exceptions.ProtocolError("Connection broken: http://127.0.0.1/timed out/v1", ConnectionResetError())
    with pytest.raises(openai_stream.Dropped):  # at once, as the answer dropped mid-way (the headers had come)
        list(openai_stream._events(Response(reset), time.monotonic(), deadlines, threading.Event()))
