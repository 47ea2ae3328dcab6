"""A model given as a URL (a Space's, an Inference Endpoint's) is named as given in every error, chat and extractive
alike: they said "Hugging Face Inference Providers", "pick another provider" and "huggingface.co must be reachable" of a
server the person typed the address of."""

from __future__ import annotations

import socket

import pytest
import requests

from studio.chat import BackendSpec, ChatParams, api, make_backend, passage
from studio.chat import openai_stream as wire
from studio.chat.api import ApiBackend, _Retry
from studio.errors import StudioError

SPACE = "https://someone.hf.space"
TOKEN = "hf_urlwords0123456789"
WRONG = ("Inference Providers", "pick another provider", "huggingface.co must be reachable")


def _said(err: Exception) -> str:
    return str(err.final if isinstance(err, _Retry) else err)


FAULTS = [wire.StreamCut(), wire.HeadersCut(), wire.Dropped(), wire.EmptyStream(), wire.NotEventStream("text/html"),
          wire.StreamTimeout("no answer came within 5 s"), wire.ErrorEvent("out of memory"),
          requests.ConnectionError("refused"), ConnectionRefusedError(),
          wire.HttpStatusError(400, {}, '{"error": "not supported by any provider"}'),
          wire.HttpStatusError(404, {}, '{"error": "no such route"}')]


@pytest.mark.parametrize("task", ["chat", "extractive"])
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: type(f).__name__)
def test_every_error_of_a_url_model_names_the_url_not_inference_providers(task, fault):
    spec = BackendSpec(kind="provider", model=SPACE, task=task)
    backend = passage.ApiExtractive(spec, TOKEN) if task == "extractive" else ApiBackend(spec, TOKEN)
    said = _said(backend._explain(fault))
    assert SPACE in said and not any(w in said for w in WRONG), said
    assert not any(w in backend.describe() for w in WRONG), backend.describe()
    assert backend.name == (SPACE if task == "chat" else f"{SPACE} (extractive)")  # it read "(HF auto)": no routing


def test_a_model_id_still_names_inference_providers():
    said = _said(ApiBackend(BackendSpec(kind="provider", model="acme/chat"), TOKEN)._explain(wire.StreamCut()))
    assert said == "Hugging Face Inference Providers closed the stream before the answer finished: try again."


def test_a_space_that_cannot_be_reached_is_named_with_the_url_to_check(monkeypatch):
    """Asked for real: the Space's name answers a closed port of this machine (a local install: no address guard)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(api, "BACKOFF_S", (0.0, 0.0, 0.0))  # the retries of a refused connection, without the waits
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: real(
        "127.0.0.1" if host == "someone.hf.space" else host, port, *a, **k))
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    url = f"{SPACE}:{port}"
    chat = make_backend(BackendSpec(kind="provider", model=url), TOKEN)
    with pytest.raises(StudioError) as chat_err:
        list(chat.stream([{"role": "user", "content": "hi"}], ChatParams(timeout_s=5)))
    qa = passage.ApiExtractive(BackendSpec(kind="provider", model=url, task="extractive"), TOKEN)
    with pytest.raises(StudioError) as qa_err:
        qa.answer("Who?", "Ana is here.", ChatParams(timeout_s=5))
    for err in (chat_err.value, qa_err.value):
        assert str(err) == f"Cannot reach {url}: check the URL, that the server runs, and the network.", str(err)


@pytest.fixture
def space(tmp_path, monkeypatch):
    """A loopback HTTPS server standing in for https://someone.hf.space (QAServer's question answering behind TLS,
    its certificate trusted through REQUESTS_CA_BUNDLE, the name resolved to 127.0.0.1), on a public app that lets
    it through as a deployment allowing private servers does."""
    import ssl
    import subprocess

    from chat_servers import QAServer
    from huggingface_hub import constants

    from studio import config

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=someone.hf.space", "-addext", "subjectAltName=DNS:someone.hf.space", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    server = QAServer()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.httpd.socket = tls.wrap_socket(server.httpd.socket, server_side=True)
    server.thread.start()
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: real(
        "127.0.0.1" if host == "someone.hf.space" else host, port, *a, **k))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(config, "_tenancy", True)
    monkeypatch.setenv("STUDIO_PRIVATE_SERVERS", "1")  # the loopback server stands for a public Space
    yield server
    server.httpd.shutdown()


def test_a_public_space_answers_as_an_extractive_model_without_a_token_and_a_token_given_goes_with_it(space):
    url = f"{SPACE}:{space.port}/qa/models/deepset/roberta-base-squad2"
    spec = BackendSpec(kind="provider", model=url, task="extractive")
    answer = passage.ApiExtractive(spec, None).answer("Who?", "My name is Ana.", ChatParams(timeout_s=10))
    assert (answer.text, answer.start, answer.end) == ("Ana", 11, 14)
    assert "authorization" not in space.headers[-1]  # it was refused before: "Inference Providers need a token"
    answer = passage.ApiExtractive(spec, TOKEN).answer("Who?", "My name is Ana.", ChatParams(timeout_s=10))
    assert answer.text == "Ana" and space.headers[-1]["authorization"] == f"Bearer {TOKEN}"


def test_a_private_space_asked_without_a_token_says_to_give_one_not_that_one_was_rejected(space):
    def private(h, n):
        space.send(h, 401, b'{"error": "Invalid credentials in Authorization header"}')

    space.mode_private = private
    spec = BackendSpec(kind="provider", model=f"{SPACE}:{space.port}/private/models/m", task="extractive")
    with pytest.raises(StudioError) as err:
        passage.ApiExtractive(spec, None).answer("Who?", "My name is Ana.", ChatParams(timeout_s=10))
    assert str(err.value) == (f"{SPACE}:{space.port}/private/models/m asks for a Hugging Face token (401): give your "
                              "Hugging Face token under Your workspace in the sidebar (a private Space takes the token of "
                              "an account that can see it).")


def test_a_public_space_answers_as_a_chat_model_without_a_token(space):
    chat = make_backend(BackendSpec(kind="provider", model=f"{SPACE}:{space.port}/good"), None)
    assert chat.complete([{"role": "user", "content": "Olá"}], ChatParams(timeout_s=10)) == "Olá, tudo bem?"
    assert "authorization" not in space.headers[-1]  # it was refused before: "Inference Providers need a token"
