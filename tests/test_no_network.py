"""``no_network.watched``, which keeps the session's embedder load provably offline (tests/conftest.py)."""

from __future__ import annotations

import socket
import threading

import pytest
from no_network import watched


def test_a_lookup_or_a_connection_in_the_watched_thread_is_refused_and_named_and_other_threads_go_on():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(2)
        port = server.getsockname()[1]
        elsewhere: list[object] = []

        def other_thread():
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                elsewhere.append("connected")

        with watched() as tried:
            with pytest.raises(OSError):
                socket.getaddrinfo("huggingface.co", 443)
            with pytest.raises(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=5)
            t = threading.Thread(target=other_thread)
            t.start()
            t.join(10)
        assert tried[0] == "dns huggingface.co" and len(tried) >= 2  # create_connection looks the address up first
        assert elsewhere == ["connected"]
    with socket.socket() as s:  # put back after the block
        s.bind(("127.0.0.1", 0))
        assert socket.getaddrinfo("127.0.0.1", 80)
