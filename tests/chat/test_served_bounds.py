"""The lists of models asked of the base URLs typed are bounded, every visitor together: how many are remembered, and
how many are asked at once (a thread each). One visitor's script typing URL after URL grew both without end."""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def _silent_server():
    """The base URL of a server that takes up to 4 connections and never answers."""
    silent = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(silent.accept()[0]) for _ in range(4)], daemon=True).start()
    try:
        yield f"http://127.0.0.1:{silent.getsockname()[1]}"
    finally:
        silent.close()
        for conn in held:
            conn.close()


def test_lists_asked_at_once_are_bounded_and_a_url_past_it_says_so_and_is_asked_later(fresh, monkeypatch):
    monkeypatch.setattr(fresh, "MAX_ASKING", 3)
    monkeypatch.setattr(fresh, "READ_S", 1.0)
    with _silent_server() as base:
        assert [fresh.served(f"{base}/v{i}", wait_s=0).asking for i in range(3)] == [True, True, True]
        assert fresh.served(f"{base}/v3", wait_s=0) == served.Served(unreachable=served.BUSY)
        for lookup in list(fresh._lookups.values()):
            assert lookup.done.wait(30)
        said = fresh.served(f"{base}/v3").unreachable  # room again: asked, and its own answer said
        assert said.startswith("The server did not answer within 1 s"), said


def test_one_visitor_asks_a_few_lists_at_once_and_another_visitor_s_list_is_still_asked(fresh, monkeypatch):
    """One visitor typing URLs of silent hosts took every list the app asks at once: every other visitor's URL was
    answered BUSY until they stopped. Each visitor now has ``MAX_ASKING_EACH`` (here 2) of them."""
    monkeypatch.setattr(fresh, "MAX_ASKING", 4)
    monkeypatch.setattr(fresh, "MAX_ASKING_EACH", 2)
    monkeypatch.setattr(fresh, "READ_S", 1.0)
    with _silent_server() as base:
        mallory = [fresh.served(f"{base}/m{i}", wait_s=0, asker="browser:mallory") for i in range(4)]
        assert [s.asking for s in mallory] == [True, True, False, False]
        assert mallory[2].unreachable.startswith("You are asking") and "this one was not asked" in mallory[2].unreachable
        assert fresh.served(f"{base}/alice", wait_s=0, asker="browser:alice").asking  # asked: room for her
        for lookup in list(fresh._lookups.values()):
            assert lookup.done.wait(30)
