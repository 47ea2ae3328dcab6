"""A streamed ``/chat/completions`` request to an OpenAI-compatible server, with its own deadlines.

``requests`` does the HTTP (proxies, TLS, chunked bodies). This module owns what a chat needs on
top: the ``Authorization`` header only when a key for *this* server is given (never a Hugging Face
token picked up from the environment), three waits bounded apart (the first token, the idle time
between tokens, the whole answer: a server trickling one byte every few seconds is cut off), and
the end of the stream checked (a body that stops before ``[DONE]`` or a ``finish_reason`` is an
error, not an answer). Stop is honoured at once: a thread watching the caller's stop event shuts the
request's socket down, so a reader blocked on a silent server wakes and ends instead of waiting for
its timeout (the server sees the connection closed). ``post_json`` sends a plain (not streamed) request the
same way.
"""

from __future__ import annotations

import contextvars
import functools
import ipaddress
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from studio import config, tasks
from studio.errors import StudioError

STOP_POLL_S = 0.1  # how often the stop watcher looks at the stop event while a request is open


class HttpStatusError(Exception):
    """A non-200 answer: its status, headers and (short) body, for the caller to explain."""

    def __init__(self, status: int, headers: dict[str, str], body: str):
        super().__init__(f"HTTP {status}")
        self.status_code, self.headers, self.body = status, headers, body


class StreamTimeout(Exception):
    """One of the three waits ran out; ``what`` says which, in words for the user."""

    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


class StreamCut(Exception):
    """The server closed the stream before the answer finished (no ``[DONE]``, no ``finish_reason``)."""


class HeadersCut(Exception):
    """The connection closed before the answer's headers ended (``HTTP/1.1 200 OK``, then half a header line, or
    whole lines and no blank line after them): the server was reached and dropped the response, which is not a
    server that answers with nothing."""


class NotHttp(Exception):
    """The server answered in bytes that are not HTTP (an SSH or database port) and closed before they ended as a
    head does: what the providers' client reads as a hang-up (``studio.chat.wire``)."""


class Dropped(Exception):
    """The connection was reset or broken after the answer's headers had come, while its body was read (urllib3's
    "Connection broken: IncompleteRead", a ``ConnectionResetError``): the server was reached, and dropped the answer
    mid-way. Not a server that cannot be reached."""


def _check_headers(response: Any) -> None:
    """Raise ``HeadersCut`` when the response's headers did not end: the connection closed before the blank line
    that ends them (``_Response``), or within a header line (which http.client notes as a missing separator
    between headers and body)."""
    from email.errors import MissingHeaderBodySeparatorDefect

    original = getattr(response.raw, "_original_response", None)
    if getattr(original, "headers_ended", True) is False:
        raise HeadersCut()
    message = getattr(original, "msg", None)
    if any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in getattr(message, "defects", ())):
        raise HeadersCut()


class NotEventStream(Exception):
    """A 200 answer that is not a server-sent event stream (a web page, a plain JSON body)."""


class ErrorEvent(Exception):
    """An event that carries the server's error instead of text (vLLM's and OpenAI's ``{"error": {"message": ...}}``,
    TGI's ``{"error": "...", "error_type": "..."}``): the server gave up, in its own words (``str``, one line,
    bounded); ``status`` the HTTP status it names (``code``: 503), ``kind`` its error type ("overloaded"), where it
    names them."""

    def __init__(self, message: str, status: int | None = None, kind: str = ""):
        super().__init__(message)
        self.status, self.kind = status, kind


# An error event's types that say the server is busy or failed for now, not that the request is wrong: TGI's
# "overloaded", OpenAI's "server_error" and "rate_limit_exceeded", vLLM's HTTP status names. Lower case, without "_".
BUSY_KINDS = frozenset({"overloaded", "overloadederror", "servererror", "internalservererror", "serviceunavailable",
                        "serviceunavailableerror", "ratelimitexceeded", "ratelimiterror", "toomanyrequests",
                        "timeout", "requesttimeout"})


def error_event(event: dict[str, Any]) -> ErrorEvent:
    """The ``ErrorEvent`` an event holding ``error`` says: its message, and the status and type it names."""
    err = event["error"]
    fields = err if isinstance(err, dict) else event
    message = (err.get("message") or json.dumps(err)) if isinstance(err, dict) else err
    status = next((int(c) for c in (fields.get("code"), fields.get("status"), event.get("code"))
                   if (isinstance(c, int) and not isinstance(c, bool)) or (isinstance(c, str) and c.isdigit())), None)
    kind = next((str(k) for k in (fields.get("type"), fields.get("error_type"), fields.get("code"))
                 if isinstance(k, str) and not k.isdigit()), "")
    return ErrorEvent(" ".join(str(message).split())[:200], status, kind)


class EmptyStream(Exception):
    """A response that said it is an event stream (``text/event-stream``) and ended with no event in it: the server
    took the request and closed the stream without an answer (no body at all, or only blank or comment lines)."""


class NotChatEvent(Exception):
    """An event line too long to be one (``MAX_LINE``: a server sending a body without line breaks), or one whose
    JSON is not an object (``[]``, a string): the stream is not an OpenAI-compatible chat stream."""


_JSON_KINDS = {dict: "an object", str: "a string", int: "a number", float: "a number", bool: "true or false"}
"""A JSON value's kind in words, by the Python type ``json`` reads it as."""

MAX_LINE = 1 << 20  # bytes: one event is a few hundred; more without a line break is read no further


@dataclass(frozen=True)
class Deadlines:
    first_token_s: float  # from sending the request to the first piece of text
    idle_s: float  # between two pieces of text
    total_s: float  # the whole answer


def stream_events(url: str, payload: dict[str, Any], api_key: str | None, deadlines: Deadlines,
                  stop: threading.Event | None = None) -> Iterator[dict[str, Any]]:
    """POST ``payload`` to ``url`` and yield each event's JSON object as it arrives.

    Raises ``HttpStatusError``, ``HeadersCut``, ``Dropped``, ``StreamTimeout``, ``StreamCut``, ``EmptyStream``,
    ``NotEventStream``,
    ``NotChatEvent``, ``ErrorEvent``, ``json.JSONDecodeError`` for an event that is not JSON, and ``requests``'
    connection errors.
    """
    import requests

    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    stop = stop or threading.Event()
    start = time.monotonic()
    # The socket timeout is the longest a single read may block; the deadlines below are checked
    # after every read, so a trickling server is cut off by the first-token, idle or total bound.
    read_timeout = max(0.5, min(deadlines.first_token_s, deadlines.idle_s, deadlines.total_s))
    sockets = _Sockets()
    with requests.Session() as session, tasks.Watch(stop.is_set, sockets.shut, STOP_POLL_S, "api-stop-watch"):
        adapter = _adapter_class()()  # built on first use: requests is imported lazily
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        opening = _OPENING.set(sockets)
        try:
            response = session.post(url, json=payload, headers=headers, stream=True,
                                    timeout=(min(10.0, deadlines.first_token_s), read_timeout))
        except requests.Timeout:
            raise StreamTimeout("the server did not answer within the timeout") from None
        except requests.ConnectionError:
            if stop.is_set():  # our own shutdown woke the wait for the answer's headers
                return
            raise
        finally:
            _OPENING.reset(opening)
        with response:
            _check_headers(response)
            if response.status_code != 200:
                body = response.raw.read(4096, decode_content=True) or b""
                raise HttpStatusError(response.status_code, dict(response.headers), body.decode("utf-8", "replace"))
            ctype = response.headers.get("content-type", "")
            if "event-stream" not in ctype and "json" not in ctype and ctype:
                raise NotEventStream(ctype)
            yield from _events(response, start, deadlines, stop, "event-stream" in ctype)


def post_json(url: str, payload: dict[str, Any], api_key: str | None, timeout_s: float,
              stop: threading.Event | None = None) -> Any:
    """POST ``payload`` to ``url`` and return its parsed JSON answer (one plain request: a question-answering
    endpoint); None once ``stop`` is set while it is waited for, its connection shut at once as a stream's is.

    Raises ``HttpStatusError`` for a non-200 answer, ``StreamTimeout``, ``Dropped``, ``requests``' connection errors,
    and a ``ValueError`` for a body that is not JSON. ``api_key`` goes into the ``Authorization`` header, when given.
    """
    import requests

    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    stop = stop or threading.Event()
    sockets = _Sockets()
    with requests.Session() as session, tasks.Watch(stop.is_set, sockets.shut, STOP_POLL_S, "api-stop-watch"):
        adapter = _adapter_class()()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        opening = _OPENING.set(sockets)
        try:  # not streamed: the whole body is read here, where Stop can shut the socket under the read
            response = session.post(url, json=payload, headers=headers, timeout=(min(10.0, timeout_s), timeout_s))
        except requests.RequestException as exc:
            if stop.is_set():  # our own shutdown woke the read
                return None
            if isinstance(exc, requests.Timeout):
                raise StreamTimeout("the server did not answer within the timeout") from None
            if isinstance(exc, requests.exceptions.ChunkedEncodingError):  # raised by the body's read alone
                raise Dropped() from exc
            raise
        finally:
            _OPENING.reset(opening)
        with response:
            if stop.is_set():  # a shut socket reads as the end of the body: what came is not the whole answer
                return None
            _check_headers(response)
            if response.status_code != 200:
                raise HttpStatusError(response.status_code, dict(response.headers), response.text[:4096])
            return mended(response.json())


def served_models(base_url: str, api_key: str | None, timeout_s: float = 5.0, most: int = 5) -> list[str]:
    """The model names an OpenAI-compatible server lists at ``base_url``/models (its ``data[].id``), at most ``most``
    of them; none where it lists none, answers something else or not in time. Said when it refuses the model asked
    for: ``transformers serve`` names its model by the folder it was given, which a person cannot guess."""
    import requests

    try:
        return ask_models(base_url, api_key, connect_s=min(timeout_s, 3.0), read_s=timeout_s, most=most)
    except (requests.RequestException, ValueError, AttributeError, OSError):
        return []


def ask_models(base_url: str, api_key: str | None, connect_s: float, read_s: float, most: int = 5) -> list[str]:
    """``served_models``, raising what went wrong (``requests.ConnectionError``: not reached; ``requests.Timeout``: no
    answer in time); none where the server answers but lists none."""
    import requests

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with requests.Session() as session:
        adapter = _adapter_class()()  # its connections are checked as a chat's are (``_refuse_private``)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        with session.get(base_url.rstrip("/") + "/models", headers=headers, timeout=(connect_s, read_s), stream=True,
                         allow_redirects=False) as response:
            if response.status_code != 200:
                return []
            data = json.loads(response.raw.read(65536, decode_content=True) or b"{}").get("data")
    names = [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)] if isinstance(data, list) else []
    return [" ".join(n.split())[:200] for n in names if n.strip()][:most]


# --- Stop: shut the request's socket from the watching thread -------------------------------------

class _Sockets:
    """The sockets one request's connections opened; ``shut`` shuts each down, now and any opened later. The socket
    is kept as it connects: a response that closes its connection (HTTP/1.0, ``Connection: close``) takes the socket
    from the connection (``connection.sock`` is None then) while its body is still being read from it."""

    def __init__(self) -> None:
        self._sockets: list[Any] = []
        self._lock = threading.Lock()
        self.shut_down = False

    def add(self, connection: Any) -> None:
        sock = getattr(connection, "sock", None)
        with self._lock:
            self._sockets.append(sock)
            late = self.shut_down
        if late:
            _shutdown(sock)

    def shut(self) -> None:
        with self._lock:
            self.shut_down = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)


def _shutdown(sock: Any) -> None:
    # shutdown, not close: it wakes a recv blocked in another thread and sends the server a FIN
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed
            pass


_OPENING: contextvars.ContextVar[_Sockets | None] = contextvars.ContextVar("_OPENING", default=None)
"""The request being sent in this thread: its connections register there as they connect."""


class _LastLine:
    """A response's socket file that keeps the last line read from it (``_Response`` reads the headers through it)."""

    def __init__(self, fp: Any) -> None:
        self.fp, self.last = fp, None

    def readline(self, *args: Any) -> bytes:
        self.last = self.fp.readline(*args)
        return self.last

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fp, name)


@functools.cache
def _response_class() -> type:
    import http.client

    class _Response(http.client.HTTPResponse):
        """http.client's response, which knows whether its headers ended: it reads them up to a blank line or the
        end of the connection alike, so headers cut after a whole line read as whole ones, and the answer as an
        empty one ("sent an empty response")."""

        headers_ended = True

        def begin(self) -> None:
            if self.headers is not None:  # read already
                return
            reader = _LastLine(self.fp)
            self.fp = reader
            try:
                super().begin()
            finally:  # the body is read from the socket's file itself; one closed meanwhile (no HTTP) stays None
                if self.fp is reader:
                    self.fp = reader.fp
            self.headers_ended = reader.last in (b"\r\n", b"\n")

    return _Response


@functools.cache
def _adapter_class() -> type:
    import requests
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

    class _Registered:
        response_class = _response_class()

        def _new_conn(self) -> Any:
            """Connect to the addresses checked (``_public_addresses``), not to the name resolved again: a name that
            answered a public address to the check and the server's own the next time (a rebinding DNS server) had
            the connection made, a closed port and an open one reading differently (a scan)."""
            name = getattr(self, "_dns_host", None)
            if getattr(self, "proxy", None) is not None or not name:  # the deployer's proxy is what is reached
                return super()._new_conn()  # type: ignore[misc]
            addresses = _public_addresses(name, self.port)  # type: ignore[attr-defined]
            if not addresses and config.public_addresses_only():  # a name the check could not resolve is not looked
                # up again here: a DNS server failing the check on purpose answered the server's own 127.0.0.1 next
                raise NameResolutionError(name, self, socket.gaierror(socket.EAI_NONAME, "the name did not resolve"))
            if not addresses:  # a local install: the connection resolves the name, and says so where it does not
                return super()._new_conn()  # type: ignore[misc]
            failed: Exception | None = None
            for address in addresses:  # in the resolver's order, as a connection by name tries them
                self._dns_host = address  # the TLS check still reads the name: ``host`` is set back below
                try:
                    return super()._new_conn()  # type: ignore[misc]
                except (NewConnectionError, ConnectTimeoutError) as exc:
                    failed = exc
                finally:
                    self._dns_host = name
            raise failed  # type: ignore[misc]

        def connect(self) -> None:
            super().connect()  # type: ignore[misc]
            if getattr(self, "proxy", None) is None:  # and on the socket, should any way round the above be left
                _refuse_private(self.sock, self.host)  # type: ignore[attr-defined]
            sockets = _OPENING.get()
            if sockets is not None:
                sockets.add(self)

    class _HTTPConnection(_Registered, HTTPConnection):
        pass

    class _HTTPSConnection(_Registered, HTTPSConnection):
        pass

    class _HTTPPool(HTTPConnectionPool):
        ConnectionCls = _HTTPConnection

    class _HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _HTTPSConnection

    pools = {"http": _HTTPPool, "https": _HTTPSPool}

    class Adapter(requests.adapters.HTTPAdapter):
        """``requests``' adapter whose connections (direct or through an HTTP proxy) register with ``_OPENING``."""

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            # each request (a redirect's too) by its URL's name, before any proxy: a deployment's HTTP(S)_PROXY took a
            # visitor's http://169.254.169.254/ or 10.x address there unchecked, and the proxy fetched it
            parts = urlsplit(request.url)
            host = parts.hostname or ""
            found = _public_addresses(host, parts.port or (443 if parts.scheme == "https" else 80))
            if not found and config.public_addresses_only() and \
                    requests.utils.select_proxy(request.url, kwargs.get("proxies") or {}):
                # a name this machine cannot resolve was left to the proxy, which resolved it on its own network: an
                # internal name there (intranet.corp, a service's name) was reached for a visitor, unchecked
                raise PrivateAddressError(_PROXY_ONLY.format(host=host))
            return super().send(request, *args, **kwargs)

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            if not proxy.lower().startswith("socks"):  # SOCKS has its own connections: Stop waits for the timeout
                manager.pool_classes_by_scheme = pools
            return manager

    return Adapter


class PrivateAddressError(StudioError):
    """A public deployment was asked to reach an address of its own machine or network."""


_PROXY_ONLY = ("{host} does not resolve on this app's server, and its proxy would look it up where a public app cannot "
               "check the address it reaches: give a name that resolves publicly (the deployer lets the proxy resolve "
               "names with [studio] private_servers = true, or STUDIO_PRIVATE_SERVERS=1).")


def _public_addresses(host: str, port: int | None) -> list[str]:
    """On a public deployment (``config.public_addresses_only``): the addresses ``host`` resolves to, in the resolver's
    order, each refused (``_refuse_address``) before any connection is tried; [] on a local install, or for a name
    that does not resolve (the connection says so)."""
    if not config.public_addresses_only():
        return []
    try:
        found = [info[4][0] for info in socket.getaddrinfo(host, port or 80, type=socket.SOCK_STREAM)]
    except (OSError, UnicodeError):
        return []
    for address in found:
        _refuse_address(address, host)
    return list(dict.fromkeys(found))


def _refuse_address(text: str, host: str) -> None:
    try:
        address = ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return
    if all(a.is_global and not a.is_multicast for a in _held_within(address)):
        return
    raise PrivateAddressError(f"{host} is at {address}, an address of this app's own machine or network, which a "
                              "public app does not reach: give your server's public address.")


_EMBEDDING = [ipaddress.ip_network(n) for n in ("::/96", "64:ff9b::/96")]  # IPv4-compatible, NAT64's


def _held_within(address: Any) -> list[Any]:
    """``address`` and the IPv4 address an IPv6 one carries (mapped ``::ffff:127.0.0.1``, 6to4 ``2002:7f00:1::``,
    IPv4-compatible ``::127.0.0.1``, NAT64 ``64:ff9b::a00:1``): each must be public."""
    found = [address]
    if address.version == 6:
        found += [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
        if any(address in net for net in _EMBEDDING) and address != ipaddress.ip_address("::"):
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _refuse_private(sock: Any, host: str) -> None:
    """On a public deployment (``config.public_addresses_only``): close ``sock`` and refuse, where it reached an
    address that is not public (loopback, the private network, link-local such as the cloud's metadata service at
    169.254.169.254). Checked on the connected socket: a redirect, or a name that resolves anew, is caught too."""
    if not config.public_addresses_only():
        return
    try:
        peer = sock.getpeername()[0]
    except (OSError, IndexError, AttributeError, TypeError):
        return  # not an internet socket
    try:
        _refuse_address(str(peer), host)
    except PrivateAddressError:
        sock.close()
        raise


def _timed_out(exc: BaseException) -> bool:
    """Whether a read ended only because no byte came for a second (``exc`` or one behind it is a timeout: urllib3's
    ``ReadTimeoutError`` of a socket's ``TimeoutError``). Told by type: the words "timed out" in any error's message
    (a server's reset quoting a URL that holds them) kept a dead read waiting for the deadlines."""
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, (TimeoutError, Urllib3Timeout)):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def _events(response: Any, start: float, d: Deadlines, stop: threading.Event,
            event_stream: bool = False) -> Iterator[dict[str, Any]]:
    import requests

    buffer = b""
    last_text: float | None = None
    finished = False  # [DONE] or a finish_reason seen
    seen_event = received = False
    spoke = False  # a line came that is neither blank nor a comment
    while not stop.is_set():
        now = time.monotonic()
        if now - start > d.total_s:
            raise StreamTimeout(f"the answer took longer than {d.total_s:.0f} s in all")
        if last_text is None and now - start > d.first_token_s:
            raise StreamTimeout(f"no answer came within {d.first_token_s:.0f} s")
        if last_text is not None and now - last_text > d.idle_s:
            raise StreamTimeout(f"the server sent nothing new for {d.idle_s:.0f} s")
        try:
            data = response.raw.read1(65536)
        except (requests.exceptions.ReadTimeout, TimeoutError):
            continue  # the deadlines above decide
        except Exception as exc:  # urllib3 wraps socket timeouts in its own types
            if stop.is_set():  # the stop watcher shut the socket down under this read
                return
            if _timed_out(exc):
                continue
            raise Dropped() from exc  # the headers came: whatever broke the read broke it mid-answer
        if not data:
            break
        received = True
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            line = line.strip()
            if not line.startswith(b"data:"):
                spoke = spoke or (bool(line) and not line.startswith(b":"))  # a field, stray words; not a keep-alive
                continue
            body = line[5:].strip()
            if body == b"[DONE]":
                return
            try:  # bytes that are not UTF-8 went to json.loads, which guessed UTF-16 and failed in its own words
                event = _event_json(body)
            except UnicodeDecodeError:
                raise NotChatEvent("an event that is not UTF-8 text") from None
            except json.JSONDecodeError:
                raise
            except (ValueError, RecursionError):  # JSON, but beyond what Python reads: "failed: maximum recursion
                # depth exceeded while decoding a JSON array", "failed: Exceeds the limit (4300 digits) ..."
                raise NotChatEvent("an event whose JSON is nested too deeply or holds a number too long to read")\
                    from None
            if not isinstance(event, dict):
                raise NotChatEvent(f"an event whose JSON is a {type(event).__name__}, not an object,")
            if event.get("choices") is not None and not isinstance(event["choices"], list):  # "failed: 'int' object
                # is not subscriptable", or "failed: 0." for an object
                raise NotChatEvent(f"an event whose choices are {_JSON_KINDS.get(type(event['choices']), 'a value')}, "
                                   "not a list,")
            if event.get("error") and not event.get("choices"):  # read as a stream cut short, the reason lost
                raise error_event(event)
            seen_event = True
            if _has_text(event):
                last_text = time.monotonic()
            if _finish_reason(event):
                finished = True
            yield event
        if len(buffer) > MAX_LINE:  # what is left after the last line break: one line, still growing
            raise NotChatEvent(f"a line of over {MAX_LINE >> 20} MB")
    if stop.is_set() or finished:
        return
    if not seen_event:  # bytes with no event among them were said to be "an empty response"
        if event_stream and not spoke and not buffer.strip():
            # a stream closed before any event: it read "sent an empty response, not an event stream", of one
            raise EmptyStream()
        raise NotEventStream("no events" if received else "empty")
    raise StreamCut()


_SURROGATE = re.compile("[\ud800-\udfff]")
# How a surrogate comes in an event: as a JSON escape (its UTF-8 bytes would not decode). Only an event holding one
# is mended; a pair that makes an emoji is one too, and mending leaves it as it is.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def mended(value: Any) -> Any:
    """``value`` (parsed JSON) with every lone surrogate in its text (a ``"\\ud800"`` escape, which JSON allows and
    no UTF-8 can hold) as U+FFFD: an answer holding one broke the page when the conversation was saved, and again
    at each run after. ``value`` itself where none is in it: nothing is copied."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, dict):
        items = [(k, v, mended(k), mended(v)) for k, v in value.items()]
        if all(k2 is k and v2 is v for k, v, k2, v2 in items):
            return value
        return {k2: v2 for _, _, k2, v2 in items}
    if isinstance(value, list):
        parts = [mended(v) for v in value]
        return value if all(p is v for p, v in zip(parts, value)) else parts
    return value


def _event_json(body: bytes) -> Any:
    """An event's JSON; mended (``mended``) only where its bytes hold a surrogate's escape, so a stream's every event
    is not walked and copied for one that never comes."""
    event = json.loads(body.decode("utf-8"))
    return mended(event) if _SURROGATE_ESCAPE.search(body) else event


def _has_text(event: dict[str, Any]) -> bool:
    return bool(text_of(event))


def text_of(event: dict[str, Any]) -> str:
    """The text an event adds to the answer ("" for role-only or usage events)."""
    choices = event.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    delta = choices[0].get("delta") or {}
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


def _finish_reason(event: dict[str, Any]) -> str | None:
    choices = event.get("choices") or []
    if choices and isinstance(choices[0], dict):
        return choices[0].get("finish_reason") or None
    return None
