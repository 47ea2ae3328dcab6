"""What came over the connection of a request sent through huggingface_hub's async client (``api.ProviderClient``).

httpx2 raises one ``RemoteProtocolError`` ("Server disconnected without sending a response.") for a server that hung
up, one that cut its headers off, and one that is not an HTTP server and closed before a blank line; and one
``ReadError`` for a connection reset before the answer's headers and after them. The bytes tell them apart, and they
reach the client: httpcore's ``trace`` request extension (public: the connection's stream, each phase's start and end)
lets a ``Wire`` keep the first bytes of the answer's head and whether the head was read whole. ``explained`` turns the
client's error into the one ``openai_stream`` raises for the same fault on the OpenAI-compatible path (``HeadersCut``,
``NotHttp``, ``Dropped``), so both paths say the same reason.

The trace is set by a request hook on the clients huggingface_hub makes (``set_async_client_factory``, its public
setting), for a request made inside ``Wire.watching`` alone: any other request goes as it did.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator
from typing import Any

from studio.chat import openai_stream

HEAD_BYTES = 64  # how much of the answer's head is kept: enough to see whether it starts as HTTP does


class Wire:
    """One request's connection, as the trace saw it: the first bytes of the answer's head, and whether it ended."""

    def __init__(self) -> None:
        self.head = b""  # the first HEAD_BYTES bytes read while the answer's head was awaited
        self.reading_head = False
        self.head_ended = False  # the head was read whole: whatever breaks now breaks the body

    @contextlib.contextmanager
    def watching(self) -> Iterator[Wire]:
        """Trace the requests sent in this context (an asyncio task's: its own copy of the context)."""
        _install()
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    async def trace(self, name: str, info: dict[str, Any]) -> None:
        """httpcore's ``trace`` extension: ``name`` is "<part>.<phase>.<started|complete|failed>"."""
        if name.endswith(("connect_tcp.complete", "connect_unix_socket.complete", "start_tls.complete")):
            self._record(info.get("return_value"))
        elif name.endswith("receive_response_headers.started"):  # each request's own (a redirect's, a reused link's)
            self.head, self.reading_head, self.head_ended = b"", True, False
        elif name.endswith("receive_response_headers.complete"):
            self.reading_head, self.head_ended = False, True
        elif name.endswith("receive_response_headers.failed"):
            self.reading_head = False

    def _record(self, stream: Any) -> None:
        """Keep what ``stream`` reads while the head is awaited (a TLS stream's decrypted bytes: the plain TCP
        stream under it is read by the TLS layer directly, not through this ``read``)."""
        read = getattr(stream, "read", None)
        if read is None:
            return

        async def recorded(max_bytes: int, timeout: float | None = None) -> bytes:
            data = await read(max_bytes, timeout)
            if self.reading_head and len(self.head) < HEAD_BYTES:
                self.head += data[:HEAD_BYTES - len(self.head)]
            return data

        try:
            stream.read = recorded
        except (AttributeError, TypeError):  # a stream class that takes no attribute (slots): its bytes go unseen
            pass

    def explained(self, exc: BaseException) -> BaseException:
        """``exc`` (an error of the client's transport) as what the bytes say the server did; ``exc`` itself where
        they say nothing more (no byte came: a hang-up; a timeout; a refused connection)."""
        import httpx2

        if not isinstance(exc, httpx2.TransportError) or isinstance(exc, httpx2.TimeoutException):
            return exc
        if self.head_ended:  # a reset or a cut after the whole head: read "Cannot reach"
            return _caused(openai_stream.Dropped(), exc)
        if isinstance(exc, httpx2.RemoteProtocolError) and self.head:
            if b"HTTP/".startswith(self.head[:5]):  # "HTTP/1.1 200 OK\r\ncontent-ty", then closed
                return _caused(openai_stream.HeadersCut(), exc)
            return _caused(openai_stream.NotHttp(self.head), exc)  # "SSH-2.0-OpenSSH_9.6\r\n", then closed
        return exc


def _caused(new: BaseException, cause: BaseException) -> BaseException:
    new.__cause__ = cause
    return new


_CURRENT: contextvars.ContextVar[Wire | None] = contextvars.ContextVar("studio_chat_wire", default=None)


async def _trace_hook(request: Any) -> None:
    """A request hook: the ``trace`` extension of the ``Wire`` this request is sent under, if any."""
    wire = _CURRENT.get()
    if wire is not None:
        request.extensions = {**request.extensions, "trace": wire.trace}


@functools.cache
def _install() -> None:
    """Add ``_trace_hook`` to every async client huggingface_hub makes from now on (once per process)."""
    import huggingface_hub

    try:
        from huggingface_hub.utils._http import default_async_client_factory
    except ImportError:  # another huggingface_hub: its errors are said as they come
        return

    def factory() -> Any:
        client = default_async_client_factory()
        client.event_hooks = {**client.event_hooks,
                              "request": [*client.event_hooks.get("request", []), _trace_hook]}
        return client

    huggingface_hub.set_async_client_factory(factory)
