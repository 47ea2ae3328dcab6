"""Chat through an API: Hugging Face Inference Providers or any OpenAI-compatible server.

Every chat answer is one OpenAI-style event stream read by ``studio.chat.openai_stream``: Inference Providers
through their documented OpenAI-compatible router (``ROUTER``/v1, the provider named as ``model:provider``; an
Inference Endpoint or Space URL at its own /v1) with the Hugging Face token, any other OpenAI-compatible base URL
with only the key given for it (a Hugging Face token is never sent to a URL that is not Hugging Face's). One reader
means one rule for a whole answer (``[DONE]`` or a ``finish_reason``), for Stop and for the three deadlines, with no
reliance on a client library's private methods. Passage mode's question-answering requests to Inference Providers
go through ``huggingface_hub.AsyncInferenceClient.question_answering`` (``ProviderClient``). This module adds bounded
retries of a busy server (408/429/5xx, honouring ``Retry-After`` and a loading model's
``estimated_time``) and of a connection refused or reset (a server restarting) only before the first token, bounds on the wait for the first token, between
tokens and for the whole answer, and an error instead of an answer when the response is empty, not
an event stream, not JSON, or cut before it finished. The key goes into the request header and
nowhere else: every message that leaves this module is scrubbed of it.
"""

from __future__ import annotations

import contextlib
import email.utils
import html
import json
import math
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from studio import config
from studio.chat import openai_stream, saved, wire
from studio.chat.base import (
    FEWER_TOKENS,
    BackendBase,
    BackendSpec,
    ChatParams,
    Message,
    StreamStats,
    TooSlowError,
    hf_host,
    validate_messages,
)
from studio.errors import BackendError, MissingTokenError, NetworkError

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_ATTEMPTS = 4  # the first try and three retries
MAX_TOKEN_COUNT = 10**9  # a usage count beyond this is no count of one answer (no model writes a billion tokens at once)
MAX_WAIT_S = 30.0  # longest single wait; a server asking for more is reported as busy instead
BACKOFF_S = (1.0, 2.0, 4.0)  # waits when the server gives no hint
ROUTER = "https://router.huggingface.co"
"""Inference Providers' OpenAI-compatible router; ``/v1/chat/completions`` under it picks a provider for ``auto``."""
SUGGESTED_MODELS = ("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "google/gemma-2-2b-it")
"""Small instruct models that Inference Providers commonly serve: suggested when a model is not served."""


NO_TOKEN_COMMAND_LINE = ("Hugging Face Inference Providers need a token: set HF_TOKEN in the environment "
                         "(export HF_TOKEN=hf_..., or HF_TOKEN=hf_... before the command).")
"""The missing token in the command line's words (``python -m studio`` prints it, not the page's)."""

_NO_USAGE_OPTION: set[tuple[str, str]] = set()
"""(chat URL, model) of servers that refused ``stream_options`` (400 naming it): asked without it from then on, in this
process, so each answer is not two requests."""


class _UsageOptionRefused(Exception):
    """The server refused the request because of ``stream_options`` (an older OpenAI-compatible server that checks
    every field): it is asked again without it. ``exc`` is the refusal."""

    def __init__(self, exc: Exception):
        super().__init__(str(exc))
        self.exc = exc


def _refuses_usage_option(exc: BaseException) -> bool:
    """Whether ``exc`` is a 400 (or a validating server's 422) whose body names ``stream_options``."""
    return isinstance(exc, openai_stream.HttpStatusError) and exc.status_code in (400, 422) \
        and "stream_options" in (exc.body or "")


class _Retry(Exception):
    """A failure worth another try; ``final`` is what is said when the tries run out (a connection refused every
    time is "Cannot reach ...", as it was said at once before it was retried)."""

    def __init__(self, wait: float | None, reason: str, final: Exception | None = None):
        super().__init__(reason)
        self.wait, self.reason, self.final = wait, reason, final


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception behind it: requests and urllib3 keep the socket's error in a cause, a ``reason``
    or their arguments (``ConnectionError(ProtocolError('Connection aborted.', RemoteDisconnected(...)))``)."""
    seen: set[int] = set()
    todo: list[Any] = [exc]
    while todo:
        cur = todo.pop()
        if not isinstance(cur, BaseException) or id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        todo += [cur.__cause__, cur.__context__, getattr(cur, "reason", None), *cur.args]


def _hung_up(exc: BaseException) -> bool:
    """Whether the server took the connection and closed it without a word: http.client's ``RemoteDisconnected``
    somewhere behind ``exc``. Told by its type, not by its message: a URL quoted in a refused connection's message
    ("/RemoteDisconnected/v1") made a server that was never reached read as one that hung up."""
    import http.client

    causes = list(_causes(exc))
    if any(isinstance(cur, http.client.RemoteDisconnected) for cur in causes):
        return True
    try:  # the providers' client (httpx2): its own "Server disconnected without sending a response."
        import h11
        import httpx2
    except ImportError:
        return False
    # a response h11 could not read is a RemoteProtocolError too, with h11's error behind it: that server answered
    return any(isinstance(cur, httpx2.RemoteProtocolError) for cur in causes) and \
        not any(isinstance(cur, h11.ProtocolError) for cur in causes)


def _not_http(exc: BaseException) -> bool:
    """Whether the server answered in bytes that are not HTTP (an SSH or database port): http.client's
    ``BadStatusLine`` (not its ``RemoteDisconnected``, a hang-up) behind requests' error, or h11's "illegal status
    line" behind the providers' client's. Such a server closing before its head ends raises what a hang-up raises in
    the providers' client ("Server disconnected without sending a response."): ``wire`` tells it by its bytes
    (``NotHttp``)."""
    import http.client

    causes = list(_causes(exc))
    if any(isinstance(cur, openai_stream.NotHttp) or (isinstance(cur, http.client.BadStatusLine)
                                                      and not isinstance(cur, http.client.RemoteDisconnected))
           for cur in causes):
        return True
    h11_errors = _types("h11", "ProtocolError")
    return any(isinstance(cur, h11_errors) and str(cur).startswith("illegal status line") for cur in causes)


def _body_cut(exc: BaseException) -> bool:
    """Whether the providers' client read the answer's headers and the connection closed before its body ended:
    h11's own words behind httpx2's ``RemoteProtocolError`` (a type it shares with a hang-up and with bytes that are
    not HTTP)."""
    h11_errors = _types("h11", "ProtocolError")
    return any(isinstance(cur, h11_errors) and "without sending complete message body" in str(cur)
               for cur in _causes(exc))


def _is_any(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> bool:
    """Whether ``exc`` or any exception behind it is one of ``kinds``."""
    return any(isinstance(cur, kinds) for cur in _causes(exc))


def _types(module: str, *names: str) -> tuple[type[BaseException], ...]:
    """The exception classes ``names`` of ``module``; none where it is not installed (nothing to tell apart then)."""
    import importlib

    try:
        found = importlib.import_module(module)
    except ImportError:
        return ()
    return tuple(getattr(found, name) for name in names if hasattr(found, name))


def _refused_or_reset(exc: BaseException) -> bool:
    """Whether the connection was refused or reset before any answer: a server restarting, or its port not open
    yet. Not a name that does not resolve (a mistyped host stays mistyped) nor a server that hung up cleanly."""
    import http.client

    # http.client's RemoteDisconnected is a ConnectionResetError: a clean hang-up, said apart (``_hung_up``)
    return any(isinstance(cur, ConnectionRefusedError) or (isinstance(cur, ConnectionResetError)
                                                          and not isinstance(cur, http.client.RemoteDisconnected))
               for cur in _causes(exc))


def scrub(text: str, token: str | None) -> str:
    """``text`` without the token (and without its tail, in case it was cut), as it is or as ``repr`` escapes it."""
    if token:
        for form in {token, repr(token)[1:-1]}:
            text = text.replace(form, "***")
            if len(form) > 12:
                text = text.replace(form[-12:], "***")
    return text


def _usable_secret(secret: str | None, what: str) -> str | None:
    """``secret`` without the spaces or line break around it (a key pasted from a file, a .env with CRLF line ends);
    one with a line break, tab or space inside is refused without repeating it: the HTTP client's own error quoted
    the whole header, key and all, into the page and the terminal."""
    secret = (secret or "").strip() or None
    if secret and any(ch.isspace() or not ch.isprintable() for ch in secret):
        raise BackendError(f"The {what} has a line break, tab, space or control character inside it: copy it again "
                           "as one line.")
    return secret


def _header_wait(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _body(response: Any) -> str:
    try:
        return response.text or ""
    except Exception:  # a streamed response not read yet
        try:
            response.read()
            return response.text or ""
        except Exception:
            return ""


def _plain(body: str) -> str:
    """A body that is not JSON as one line: a web page's title (else its text without tags), spaces collapsed. An
    error page of many lines made the page's one-line error a screenful of HTML."""
    if "<" in body and ">" in body:
        title = re.search(r"<title[^>]*>(.*?)</title>", body, re.IGNORECASE | re.DOTALL)
        body = html.unescape(title.group(1) if title and title.group(1).strip() else re.sub(r"<[^>]*>", " ", body))
    return " ".join(body.split())[:200]


def _server_message(body: str) -> tuple[str, float | None]:
    """The server's own error text and, for a loading model, its estimated wait."""
    try:
        data = json.loads(body)
    except ValueError:
        return _plain(body), None
    if not isinstance(data, dict):
        return _plain(body), None
    err = data.get("error")
    if isinstance(err, dict):
        err = err.get("message") or json.dumps(err)
    msg = str(err or data.get("message") or data.get("detail") or "").strip()[:200]
    est = data.get("estimated_time")
    return msg, float(est) if isinstance(est, (int, float)) else None


NO_PROVIDER_TOKEN = ("Hugging Face Inference Providers need a token: give it in the sidebar's Hugging Face token "
                     "field, or set HF_TOKEN in secrets or the environment (the command line reads the environment).")


NO_PROVIDER_TOKEN_PUBLIC = ("Hugging Face Inference Providers need a token here: give your Hugging Face token under "
                            "Your workspace in the sidebar.")
"""The public app's words (``config.tenancy``): a visitor has no secrets, environment or command line."""


def missing_token() -> MissingTokenError:
    """Inference Providers asked without a token: the page's words (a public app's own), and the command line's for
    ``python -m studio`` (the page's name a sidebar the command line has not got)."""
    exc = MissingTokenError(NO_PROVIDER_TOKEN_PUBLIC if config.tenancy() else NO_PROVIDER_TOKEN)
    exc.command_line = NO_TOKEN_COMMAND_LINE  # type: ignore[attr-defined]
    return exc


class ApiBackend(BackendBase):
    """A model behind an HTTP API. Stateless between calls: safe to share across sessions."""

    ENDPOINT = "an OpenAI-compatible /v1 endpoint"  # what the URL should be, in errors that ask to check it

    def __init__(self, spec: BackendSpec, token: str | None = None):
        if spec.kind not in ("provider", "openai"):
            raise BackendError(f"ApiBackend serves API models, not {spec.kind!r}.")
        self.spec = spec
        self._token = _usable_secret(token, "token" if spec.kind == "provider" else "API key")
        self.name = spec.label

    def __repr__(self) -> str:  # never the token
        return f"ApiBackend({self.spec!r})"

    def where(self) -> str:
        """Who answers, as the person gave it, for errors: the base or endpoint URL, the URL given as the model (a Space,
        an Inference Endpoint), else Hugging Face Inference Providers (a model id)."""
        if self.spec.base_url:
            return self.spec.base_url
        if "://" in self.spec.model:
            return self.spec.model
        return "Hugging Face Inference Providers"

    @property
    def hosted(self) -> bool:
        """Inference Providers by model id: no URL was typed, so no server's log to read nor address to check."""
        return self.spec.kind == "provider" and not self.spec.by_url

    def describe(self) -> str:
        if self.spec.kind == "provider" and "://" in self.spec.model:
            auth = "token set" if self._token else "no token"
            return f"{self.spec.model} (its own server, {auth})"
        if self.spec.kind == "provider":
            auth = "token set" if self._token else "no token"
            return f"{self.spec.model} through Hugging Face Inference Providers ({self.spec.provider}, {auth})"
        return f"{self.spec.model} at {self.spec.base_url} (OpenAI-compatible)"

    # --- the request ------------------------------------------------------------------------

    def _check_can_send(self) -> None:
        """Refuse, before any request, what can never be answered: a provider without a token, or offline mode."""
        if self.spec.kind != "provider":
            return
        if not self._token and self.hosted:  # a URL given as the model (a public Space) may take none
            raise missing_token()
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            raise NetworkError("HF_HUB_OFFLINE is set, which blocks every API request: unset it to use API models.")

    def _chat_url(self) -> str:
        """Where the chat request goes: the base URL's ``/chat/completions``; for Inference Providers the router's, or
        an Inference Endpoint's or Space's own OpenAI-compatible route (the URL given as the model)."""
        if self.spec.kind == "openai":
            return self.spec.base_url.rstrip("/") + "/chat/completions"
        if "://" in self.spec.model:
            return _completions_url(self.spec.model)
        return ROUTER.rstrip("/") + "/v1/chat/completions"

    def _payload_model(self) -> str:
        """The ``model`` field: as typed for a base URL; ``id`` or ``id:provider`` for the router (how its
        OpenAI-compatible API names a provider); a placeholder for an endpoint URL, which serves one model."""
        if self.spec.kind == "openai":
            return self.spec.model
        if "://" in self.spec.model:
            return "tgi"
        provider = (self.spec.provider or "auto").strip()
        return self.spec.model if provider == "auto" else f"{self.spec.model}:{provider}"

    def _usage_key(self) -> tuple[str, str]:
        """Whom a refusal of ``stream_options`` is remembered for: the URL, and the model the router passes it to
        (one provider behind it may refuse what another takes)."""
        return self._chat_url(), self._payload_model()

    def _request_kwargs(self, params: ChatParams) -> dict[str, Any]:
        kw: dict[str, Any] = {"model": self._payload_model(), "max_tokens": params.max_new_tokens, "stream": True}
        if self._usage_key() not in _NO_USAGE_OPTION:
            # the answer's token count from the server (a last chunk holding ``usage``): its pieces may hold several
            # tokens each (a byte-level model's answer of 60 tokens came in 33 to 52 pieces from `transformers serve`)
            kw["stream_options"] = {"include_usage": True}
        if params.sampling:
            kw["temperature"] = params.temperature
            kw["top_p"] = params.top_p
        else:
            kw["temperature"] = 0.0
        if params.seed is not None:
            kw["seed"] = params.seed
        return kw

    def _explain(self, exc: Exception) -> Exception:
        """A one-line ``StudioError`` (or a ``_Retry``) for a failed request."""
        from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

        model, where = self.spec.model, self.where()
        if isinstance(exc, openai_stream.PrivateAddressError):  # said as it is, never retried
            return exc
        if isinstance(exc, InferenceTimeoutError):  # not retried: a silent server would cost minutes
            return TooSlowError(f"{where} did not answer within the timeout: try again, or ", ".")
        if isinstance(exc, openai_stream.StreamTimeout):  # not retried either
            return TooSlowError(f"{where}: {exc.what}. Try again, or ", ".")
        # no URL typed: no server log the person can read (the providers' hang-up says so too)
        hosted = self.hosted
        if isinstance(exc, openai_stream.HeadersCut):  # it read "sent an empty response", of a response cut off
            return NetworkError(f"{where} closed the connection mid-response (its headers cut off): try again, "
                                + ("or pick another provider." if hosted else "and check the server's log."))
        if isinstance(exc, openai_stream.Dropped) or _body_cut(exc):  # it read "Cannot reach" (or the client's own
            # words), of a server that had answered: retried as a reset before the headers is (a server restarting),
            # said as what it did when the tries run out
            return _Retry(None, "the server dropped the connection mid-answer", final=NetworkError(
                f"{where} answered, then dropped the connection mid-answer (after its headers, before the answer's "
                "end): try again, " + ("or pick another provider." if hosted else
                                       "and check the server's log (it may have crashed or restarted).")))
        if isinstance(exc, openai_stream.StreamCut):
            return BackendError(f"{where} closed the stream before the answer finished: try again.")
        if isinstance(exc, openai_stream.ErrorEvent):
            said = " ".join(saved.scrub(scrub(str(exc), self._token)).split()).rstrip(". ")
            return BackendError(f"{where} gave up mid-answer{f': {said}' if said else ''}. Try again.")
        if isinstance(exc, openai_stream.NotChatEvent):
            return BackendError(f"{where} sent {exc} in its stream: check that the URL is an OpenAI-compatible /v1 "
                                "endpoint.")
        if isinstance(exc, openai_stream.EmptyStream):  # it read "sent an empty response, not an event stream"
            return BackendError(f"{where} closed the event stream without an answer (no event came): try again, "
                                + ("or pick another provider." if hosted else "and check the server's log."))
        if isinstance(exc, openai_stream.NotEventStream):
            ctype = str(exc).split(";")[0].strip()[:60]
            what = (f"a web page ({ctype})" if "html" in ctype else "an empty response" if ctype in ("empty", "")
                    else "a response with no event in it" if ctype == "no events" else f"a {ctype} response")
            return BackendError(f"{where} sent {what}, not an event stream: check that the URL is an OpenAI-compatible "
                                "/v1 endpoint.")
        status = headers = body = None
        if isinstance(exc, HfHubHTTPError) and exc.response is not None:
            status, headers, body = exc.response.status_code, exc.response.headers, _body(exc.response)
        elif isinstance(exc, openai_stream.HttpStatusError):
            status, headers, body = exc.status_code, {k.lower(): v for k, v in exc.headers.items()}, exc.body
        if status is not None:
            msg, estimate = _server_message(body)
            if status in RETRY_STATUSES:
                wait = _header_wait(headers.get("retry-after"))
                if wait is None and estimate is not None:
                    wait = estimate  # "model is currently loading": the server's own estimate
                if estimate is not None or "loading" in msg.lower():
                    reason = "the model is loading"
                else:  # the server's own words (a 500's "model crashed: CUDA error"), one line, bounded
                    said = " ".join(saved.scrub(scrub(msg, self._token)).split())[:160].rstrip(". ")
                    reason = (f"the server failed ({status}" if status == 500 else f"the server is busy ({status}"
                              ) + (f": {said})" if said else ")")
                return _Retry(wait, reason)
            if status == 401:
                if self.spec.kind == "provider" and not self._token and hf_host(self.where()):  # a private Space asked
                    # without one: none was rejected (it read "The HF token was rejected"). Another host gets no token
                    give = ("give your Hugging Face token under Your workspace in the sidebar" if config.tenancy() else
                            "give it in the sidebar's Hugging Face token field, or set HF_TOKEN")
                    return BackendError(f"{where} asks for a Hugging Face token (401): {give} (a private Space takes "
                                        "the token of an account that can see it).")
                if self.spec.kind == "provider":
                    return BackendError("The HF token was rejected (401): check it, or replace it in secrets or the "
                                        "token field.")
                return BackendError("The API key was rejected (401): check the key given for this server (the page's "
                                    "API key field, or --api-key-env).")  # a key from secrets never goes to a typed URL
            if status == 403:
                return BackendError(f"No access to {model} (403): accept its licence on the Hub or use a token with inference rights.")
            if self.hosted and ("not supported by any provider" in msg.lower() or
                                (status == 400 and "provider" in msg.lower())):
                # a URL typed (a base URL, a Space) says it in its own words below: it is not Inference Providers
                return self._not_served()
            if status in (404, 405, 501) and self.spec.kind == "openai" and "model" not in msg.lower():
                # a web page's server, the studio itself, or a server's root without /v1: not "check the model name"
                detail = f": {scrub(msg, self._token).rstrip('. ')}" if msg else ""
                return BackendError(f"{where} has no chat endpoint ({status}{detail}): check the base URL (an "
                                    "OpenAI-compatible server's usually ends in /v1, e.g. http://127.0.0.1:8000/v1).")
            if status == 404:
                return BackendError(f"{where} has no model {model!r} (404): check the model id.{self._serves()}")
            detail = f": {scrub(msg, self._token).rstrip('. ')}" if msg else ""
            # the server's own words say what it refused; a guess is added only where they name nothing
            advice = (f" Check the model name.{self._serves()}" if "model" in msg.lower() else "" if msg
                      else " Check the model name and the sampling settings.")
            return BackendError(f"{where} refused the request ({status}){detail}.{advice}")
        if self.hosted and isinstance(exc, ValueError) and "not supported by provider" in str(exc):
            return self._not_served()
        # bytes that are not UTF-8 where JSON was awaited (the providers' client decodes before it parses): they read
        # as the client's own words, "'utf-8' codec can't decode byte 0x80 ...", with no server named
        if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
            return BackendError(f"{where} sent a response that is not JSON: is this {self.ENDPOINT}?")
        if isinstance(exc, ValueError):  # the client refused the settings (an unknown provider, ...)
            return BackendError(f"{scrub(str(exc), self._token).splitlines()[0][:200]}")
        name = type(exc).__name__
        # told by type, over the causes (a message or a class's name told them before)
        if _is_any(exc, _types("requests.exceptions", "TooManyRedirects") + _types("httpx2", "TooManyRedirects")):
            # a requests.RequestException, so an OSError: it read as "Cannot reach"
            return BackendError(f"{where} redirects in a loop: check the base URL (and any proxy in front of the server).")
        if _is_any(exc, _types("huggingface_hub.errors", "OfflineModeIsEnabled")):
            return NetworkError("HF_HUB_OFFLINE is set, which blocks every API request: unset it to use API models.")
        if _not_http(exc):  # it read "Cannot reach" (requests) or "failed: illegal status line" (the providers' client)
            return BackendError(f"{where} answered with something that is not HTTP: is the URL the right port (and "
                                "http:// or https://)?")
        if _hung_up(exc):  # it was reached, and hung up (the providers' client's hang-up read "failed: Server
            # disconnected without sending a response.")
            if hosted:  # no URL typed, no server log to read
                return NetworkError(f"{where} closed the connection without answering: try again, or pick another "
                                    "provider.")
            return NetworkError(f"{where} closed the connection without answering: check that the URL is "
                                f"{self.ENDPOINT}, and the server's log.")
        # the client's connection errors (a name holding "Connect" or "Network" told them before), and a connection
        # reset under a read, whatever the client wraps it in: the providers' client's ReadError and urllib3's
        # ProtocolError (no OSError either) read "... failed: ReadError." where requests' reset was retried
        if isinstance(exc, (OSError, *_types("httpx2", "ConnectError", "ConnectTimeout"))) \
                or type(exc) in _types("httpx2", "NetworkError") or _refused_or_reset(exc):
            if hosted:  # no URL was typed: only the network
                # can be checked (an extractive endpoint's typed URL was said to be huggingface.co's network)
                unreachable = NetworkError(f"Cannot reach {where}: check the network (huggingface.co must be "
                                           "reachable from this machine).")
            else:
                unreachable = NetworkError(f"Cannot reach {where}: check the URL, that the server runs, and the "
                                           "network.")
            if _refused_or_reset(exc):  # retried as a busy server is; said as before when the tries run out
                return _Retry(None, "the connection was refused or reset", final=unreachable)
            return unreachable
        return BackendError(f"{where} failed: {scrub(str(exc), self._token)[:200] or name}.")

    def _serves(self) -> str:
        """" It serves: ...", the model names an OpenAI-compatible server lists, for a refusal of the model asked for;
        "" where it lists none (or for Inference Providers, whose list is the Hub)."""
        if self.spec.kind != "openai" or not self.spec.base_url:
            return ""
        names = [scrub(saved.scrub(name), self._token) for name in
                 openai_stream.served_models(self.spec.base_url, self._token)]
        return f" It serves: {', '.join(names)}." if names else ""

    def _not_served(self) -> BackendError:
        provider = "" if self.spec.provider == "auto" else f" by provider {self.spec.provider!r}"
        return BackendError(
            f"{self.spec.model} is not served{provider} on Hugging Face Inference Providers: try "
            f"{', '.join(SUGGESTED_MODELS)}, another provider, or run it locally."
        )

    # --- streaming --------------------------------------------------------------------------

    def stream(self, messages: Sequence[Message], params: ChatParams, *,
               stats: StreamStats | None = None, stop: threading.Event | None = None) -> Iterator[str]:
        msgs = validate_messages(messages)
        stats = stats if stats is not None else StreamStats()
        stop = stop or threading.Event()
        self._check_can_send()
        attempt = 0
        while attempt < MAX_ATTEMPTS:
            started = time.monotonic()
            asked_usage = self._usage_key() not in _NO_USAGE_OPTION  # what ``_open`` sends
            chunks = self._open(msgs, params, stop)
            try:
                first = self._first_piece(chunks, stats)
            except _UsageOptionRefused as refused:  # asked again at once without it: no try of a busy server's spent
                _close(chunks)
                if not asked_usage:  # it names the field when it was not sent: its refusal is something else
                    raise self._explain(refused.exc) from None
                _NO_USAGE_OPTION.add(self._usage_key())
                continue
            except _Retry as retry:
                _close(chunks)
                if not self._wait_before_retry(retry, attempt, stop, stats):
                    return
                attempt += 1
                continue
            except Exception:
                _close(chunks)
                if stop.is_set():  # Stop shut the connection under the wait: an end, not a failure
                    return
                raise
            except BaseException:
                _close(chunks)
                raise
            try:
                yield first
                yield from self._rest(chunks, stats, stop, started, params)
            finally:
                _close(chunks)
                stats.finish()
            return

    def _open(self, msgs: list[Message], params: ChatParams, stop: threading.Event) -> Iterator[dict[str, Any]]:
        """The request's events, not yet sent: the first ``next`` sends it (HTTP errors surface there, where retries
        may happen). Only this server's own key goes with it: the HF token to Hugging Face's URLs alone."""
        deadlines = openai_stream.Deadlines(first_token_s=params.timeout_s, idle_s=params.timeout_s,
                                            total_s=params.total_timeout_s)
        return openai_stream.stream_events(self._chat_url(), {"messages": msgs, **self._request_kwargs(params)},
                                           self._token, deadlines, stop)

    def _next(self, chunks: Iterator[Any], first: bool = False) -> Any:
        """The next chunk; StopIteration at the end; a StudioError or _Retry for a failure. Before the ``first`` text,
        an error event that says the server is busy or failed for now is a ``_Retry``, as the same error given as an
        HTTP status is (a server that streams its 503 was not retried)."""
        try:
            return next(chunks)
        except StopIteration:
            raise
        except openai_stream.HttpStatusError as exc:
            if first and _refuses_usage_option(exc):
                raise _UsageOptionRefused(exc) from None
            raise self._explain(exc) from None
        except openai_stream.ErrorEvent as exc:
            if first and (exc.status in RETRY_STATUSES or exc.kind.lower().replace("_", "") in openai_stream.BUSY_KINDS):
                said = " ".join(saved.scrub(scrub(str(exc), self._token)).split())[:160].rstrip(". ")
                what = f"{exc.status}" if exc.status is not None else exc.kind
                raise _Retry(None, (f"the server failed ({what}" if exc.status == 500 else f"the server is busy ({what}")
                             + (f": {said})" if said else ")")) from None
            raise self._explain(exc) from None
        except Exception as exc:  # the client's errors: HTTP, timeout, JSON, connection
            raise self._explain(exc) from None

    def _first_piece(self, chunks: Iterator[Any], stats: StreamStats) -> str:
        """Read until the first text: retries are allowed up to here, never after."""
        events = 0
        while True:
            try:
                chunk = self._next(chunks, first=True)
            except StopIteration:
                if events == 0:
                    raise BackendError(
                        f"{self.where() if not self.hosted else 'The provider'} sent no event stream (an empty or non-streaming "
                        "response): check that the URL is an OpenAI-compatible /v1 endpoint."
                    ) from None
                raise BackendError(f"{self.spec.model} returned an empty answer: try again or raise max tokens.") from None
            events += 1
            text = _text(chunk)
            if text:
                stats.mark_token()
                return text

    def _rest(self, chunks: Iterator[Any], stats: StreamStats, stop: threading.Event, started: float,
              params: ChatParams) -> Iterator[str]:
        where = self.where()
        while not stop.is_set():
            if time.monotonic() - started > params.total_timeout_s:
                # the page's bound is fixed (600 s): fewer tokens is what it can ask; the command line can raise it.
                # It said "raise max tokens' time limit", a setting no surface has
                raise TooSlowError(f"{where}: the answer took longer than {params.total_timeout_s:.0f} s in all. Try "
                                   "again, or ", ".", page=FEWER_TOKENS,
                                   flag=f"raise --total-timeout past {params.total_timeout_s:.0f} s (ask-context: "
                                        "--timeout)")
            try:
                chunk = self._next(chunks)
            except StopIteration:
                return
            except _Retry as retry:  # after the first token a retry would repeat the answer: report it
                raise BackendError(f"The answer was cut off: {retry.reason}. Try again.") from None
            text = _text(chunk)
            if text:
                stats.mark_token()
                yield text
            if _finish(chunk) == "length":  # the server cut the answer at max_tokens: that many tokens, where the
                # pieces counted are fewer (a server sends several tokens a piece: "7 tokens" over "Cut at 16 new
                # tokens"); a usage count the server sends after it wins
                stats.cut_at = params.max_new_tokens
                stats.tokens = max(stats.tokens, params.max_new_tokens)
            if (count := _token_count(_get(chunk, "usage"))) is not None:
                stats.tokens = count

    def _wait_before_retry(self, retry: _Retry, attempt: int, stop: threading.Event, stats: StreamStats) -> bool:
        """Sleep before the next try; False when stopped. Raises when no try is left or the wait is too long."""
        if attempt + 1 >= MAX_ATTEMPTS:
            if retry.final is not None:
                raise retry.final
            raise BackendError(f"{self.spec.model}: {retry.reason}, still after {MAX_ATTEMPTS} tries. Try again later.")
        wait = retry.wait if retry.wait is not None else BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
        if wait > MAX_WAIT_S:
            raise BackendError(f"{self.spec.model}: {retry.reason}; the server asks to wait {wait:.0f} s. Try again then.")
        stats.retries += 1
        return not stop.wait(wait)


class ProviderClient:
    """One extractive answer from Inference Providers on a connection of its own, which Stop closes at once.

    huggingface_hub's ``InferenceClient`` sends every request through one process-wide connection pool
    (``get_session()``): nothing outside can end a read blocked there. Its ``AsyncInferenceClient`` opens an HTTP
    client of its own per instance, and an asyncio read can be cancelled; so the request runs on a private event
    loop in a thread of its own (the caller's thread may already run a loop: a notebook, an async server), and the
    caller waits for each step, checking ``stop`` every ``STOP_POLL_S``; Stop cancels the step. ``close`` closes
    the client and with it the connection (the provider sees it closed and stops generating), then ends the
    thread."""

    def __init__(self, *, model: str, provider: str, token: str, timeout: float):
        import asyncio

        from huggingface_hub import AsyncInferenceClient

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="provider-loop", daemon=True)
        self._thread.start()
        self._client = AsyncInferenceClient(model=model, provider=provider, token=token, timeout=timeout)

    def question_answering(self, question: str, context: str, stop: threading.Event | None) -> Any:
        """An extractive answer to ``question`` over ``context`` (the question-answering task); None once ``stop``
        is set, its connection closed as a stream's is."""
        return self._run(self._read_refusal(self._client.question_answering(question=question, context=context)),
                         stop or threading.Event())

    @staticmethod
    async def _read_refusal(request: Any) -> Any:
        """Await ``request`` (sent from here, in this task), its refusal's body read, its transport's error said as
        what the connection's bytes show (``wire``: a hang-up, headers cut off, bytes that are not HTTP, a reset
        after the headers all came as two errors of the client's)."""
        from huggingface_hub.errors import HfHubHTTPError

        with wire.Wire().watching() as seen:
            try:
                return await request
            except HfHubHTTPError as exc:  # read the refusal's body here, where it can be read (an async response)
                if exc.response is not None:
                    with contextlib.suppress(Exception):
                        await exc.response.aread()
                raise
            except Exception as exc:
                told = seen.explained(exc)
                if told is exc:
                    raise
                raise told from exc

    def _run(self, step: Any, stop: threading.Event) -> Any:
        """Run one step of the request on the private loop and wait for it; None when Stop cancelled it."""
        import asyncio
        import concurrent.futures

        future = asyncio.run_coroutine_threadsafe(step, self._loop)
        while True:
            try:
                return future.result(timeout=openai_stream.STOP_POLL_S)
            except concurrent.futures.TimeoutError:
                if stop.is_set():
                    future.cancel()  # cancels the step's task on the loop: its read ends there
                    return None
            except (concurrent.futures.CancelledError, asyncio.CancelledError):
                return None

    async def _finish(self) -> None:
        """What ``asyncio.run`` does before it closes its loop, after closing the client: async generators
        finalized and any task left cancelled, so none is destroyed while pending."""
        import asyncio

        with contextlib.suppress(Exception):
            await self._client.close()
        await self._loop.shutdown_asyncgens()
        left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    def close(self) -> None:
        """Close the client (its connection), then end the loop and its thread."""
        import asyncio

        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._finish(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()


def _completions_url(url: str) -> str:
    """An endpoint URL's OpenAI-compatible chat route: ``/v1/chat/completions`` added unless it is there (the rule
    huggingface_hub's clients follow for a URL given as the model)."""
    from urllib.parse import urlparse, urlunparse

    parsed = urlparse(url)
    path = parsed.path.rstrip("/")
    if not path.endswith("/chat/completions"):
        path += "/chat/completions" if path.endswith("/v1") else "/v1/chat/completions"
    return urlunparse(parsed._replace(path=path))


def _close(chunks: Any) -> None:
    """End a request's event stream (its ``finally`` closes the connection), or close a ``ProviderClient``."""
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def _get(obj: Any, name: str) -> Any:
    """A field of an ``InferenceClient`` chunk object or of a plain event dict."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def _finish(chunk: Any) -> str:
    """Why a chunk says the answer ended ("stop", "length"), "" where it does not."""
    choices = _get(chunk, "choices") or []
    return str(_get(choices[0], "finish_reason") or "") if choices else ""


def _token_count(usage: Any) -> int | None:
    """The answer's token count a ``usage`` field gives (``completion_tokens``), None where it gives none that is a
    count: a server's "many", a list, -4 or 1e999 ended the answer in a traceback (``int()``'s own error) or said
    "-4 tokens" under it, and 10^30 was shown as is; the pieces counted stand then."""
    count = _get(usage, "completion_tokens") if usage is not None else None
    if isinstance(count, float) and math.isfinite(count) and count.is_integer():
        count = int(count)
    ok = isinstance(count, int) and not isinstance(count, bool) and 0 < count <= MAX_TOKEN_COUNT
    return count if ok else None


def _text(chunk: Any) -> str:
    choices = _get(chunk, "choices") or []
    if not choices:
        return ""
    delta = _get(choices[0], "delta")
    content = _get(delta, "content") if delta is not None else None
    return content if isinstance(content, str) else ""  # a server's number or list is no text
