"""A watch on the network for one piece of test code: every name looked up and every connection tried, in the calling
thread, while it runs.

Setting ``HF_HUB_OFFLINE`` inside a test is not enough to keep a Hugging Face library off the network: huggingface_hub
reads the variable once, when it is imported (``tests/conftest.py`` imports it before any test), so a load that set
only the variable still asked the Hub (``/api/agent-harnesses``, its user-agent registry). ``watched()`` tells.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def watched() -> Iterator[list[str]]:
    """Yields the list of what the calling thread reached for (``"dns huggingface.co"``, ``"connect ('1.2.3.4', 443)"``)
    while the block runs; each attempt is refused with an ``OSError`` (a library's own fallback then runs). Other
    threads (a server a test started) are left alone."""
    owner = threading.get_ident()
    tried: list[str] = []
    real_lookup, real_connect, real_connect_ex = socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex

    def refuse(what: str) -> None:
        tried.append(what)
        raise OSError(f"network reached in an offline load: {what}")

    def lookup(host, *args, **kwargs):
        if threading.get_ident() == owner:
            refuse(f"dns {host}")
        return real_lookup(host, *args, **kwargs)

    def connect(self, address):
        if threading.get_ident() == owner and self.family != socket.AF_UNIX:
            refuse(f"connect {address}")
        return real_connect(self, address)

    def connect_ex(self, address):
        if threading.get_ident() == owner and self.family != socket.AF_UNIX:
            refuse(f"connect {address}")
        return real_connect_ex(self, address)

    socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = lookup, connect, connect_ex
    try:
        yield tried
    finally:
        socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex = real_lookup, real_connect, real_connect_ex
