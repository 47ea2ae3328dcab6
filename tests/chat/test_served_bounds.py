"""The lists of models asked of the base URLs typed are bounded, every visitor together: how many are remembered, and
how many are asked at once (a thread each). One visitor's script typing URL after URL grew both without end."""

from __future__ import annotations

import socket
import threading

import pytest

from studio.chat import served


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(served, "_lookups", {})
    return served


def test_the_servers_remembered_are_bounded_the_least_recently_asked_forgotten_first(fresh, monkeypatch):
    monkeypatch.setattr(fresh, "MAX_LOOKUPS", 20)
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]  # closed once the block ends: each list is refused at once
    urls = [f"http://127.0.0.1:{port}/v{i}" for i in range(30)]
    for url in urls:
        assert fresh.served(url).unreachable.startswith("The server could not be reached")
    assert {url for url, _ in fresh._lookups} == set(urls[10:])  # the first ten forgotten
    fresh.served(urls[10])  # the oldest kept, asked about again: kept over the next one
    fresh.served(urls[-1] + "/again")
    assert {url for url, _ in fresh._lookups} == {*urls[10:], urls[-1] + "/again"} - {urls[11]}


def test_lists_asked_at_once_are_bounded_and_a_url_past_it_says_so_and_is_asked_later(fresh, monkeypatch):
    monkeypatch.setattr(fresh, "MAX_ASKING", 3)
    monkeypatch.setattr(fresh, "READ_S", 1.0)
    silent = socket.create_server(("127.0.0.1", 0))  # takes the connection, never answers
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(silent.accept()[0]) for _ in range(4)], daemon=True).start()
    base = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        assert [fresh.served(f"{base}/v{i}", wait_s=0).asking for i in range(3)] == [True, True, True]
        assert fresh.served(f"{base}/v3", wait_s=0) == served.Served(unreachable=served.BUSY)
        for lookup in list(fresh._lookups.values()):
            assert lookup.done.wait(30)
        said = fresh.served(f"{base}/v3").unreachable  # room again: asked, and its own answer said
        assert said.startswith("The server did not answer within 1 s"), said
    finally:
        silent.close()
        for conn in held:
            conn.close()
