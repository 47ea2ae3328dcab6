"""The models an OpenAI-compatible server serves (its ``/models``), asked off the caller's thread.

The Chat page asks at every rerun, for the Base URL typed in its sidebar. A host that never answers (a silent
address, a firewall that drops packets) held each rerun for the request's whole connect timeout, again every time the
answer was asked anew: a person typing a question waited on it. Here each URL is asked by a thread of its own; a
caller waits for it at most ``wait_s`` (the page: a moment, once, as the URL is typed), and is told meanwhile that the
answer is still coming. A server that could not be reached is remembered as such for ``UNREACHABLE_FOR_S``; a list
that ages is asked again in the background while the last one is still given.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass

from studio.chat import openai_stream, saved
from studio.chat.api import scrub

SERVED_FOR_S = 60.0
"""How long a server's list of models is kept (per base URL and key): a server restarted with another model shows it a
minute later."""
UNSERVED_FOR_S = 10.0  # a server that listed none (starting, or not one that lists) is asked again sooner
UNREACHABLE_FOR_S = 30.0  # a server that could not be reached, or did not answer: asked again after this
CONNECT_S = 2.0  # a loopback or LAN server connects in milliseconds; a silent host is given up on after this
READ_S = 5.0  # then the list itself
MAX_LOOKUPS = 1_000
"""Servers (URL and key) remembered at once, every visitor together; past it the least recently asked about, not being
asked now, are forgotten. Each base URL typed was kept for as long as the app ran: one visitor's script typing URL after
URL grew the one server's memory without end."""
MAX_ASKING = 16
"""Lists asked at once, every visitor together (a thread each, up to CONNECT_S + READ_S): a script typing URLs of silent
hosts started a thread per URL, without bound. Past it a new URL is not asked, and says so in one line (BUSY)."""
BUSY = ("This app is asking many servers for their models right now: the list of this one was not asked. Type the "
        "model name, or press Enter in the Base URL again in a few seconds.")
MAX_ASKING_EACH = 4
"""Lists asked at once for one visitor (``served``'s ``asker``): one visitor typing URLs of silent hosts took all of
MAX_ASKING, and every other visitor's URL was answered BUSY until they stopped."""
BUSY_YOURS = (f"You are asking {MAX_ASKING_EACH} servers for their models right now: the list of this one was not asked. "
              "Type the model name, or press Enter in the Base URL again in a few seconds.")


@dataclass(frozen=True)
class Served:
    """What is known of the models a server serves: their names, or that the answer is still coming, or why none
    came (one line, for the person: never an exception's class name)."""

    names: tuple[str, ...] = ()
    asking: bool = False
    unreachable: str = ""


class _Lookup:
    """One URL's (and key's) answer: the last one known, and the thread asking anew, if any."""

    def __init__(self) -> None:
        self.result: Served | None = None
        self.at = 0.0  # when ``result`` came (time.monotonic)
        self.done = threading.Event()  # set once the first answer came
        self.thread: threading.Thread | None = None
        self.used = 0.0  # when it was last asked about (time.monotonic): the least recent are forgotten first
        self.asker = ""  # who the list is being asked for now (``served``'s ``asker``)


_lookups: dict[tuple[str, str], _Lookup] = {}
_lock = threading.Lock()


def _ask(base_url: str, api_key: str | None) -> Served:
    import requests

    try:
        names = openai_stream.ask_models(base_url, api_key, connect_s=CONNECT_S, read_s=READ_S)
    except openai_stream.PrivateAddressError as exc:  # on a public app: this machine's or its network's
        return Served(unreachable=str(exc))
    except requests.exceptions.ConnectionError:  # refused, no route, no such host, or no connection in CONNECT_S
        return Served(unreachable="The server could not be reached: check the URL, that the server runs, and the "
                                  "network.")
    except requests.exceptions.Timeout:
        return Served(unreachable=f"The server did not answer within {READ_S:g} s: check that it runs and that the URL "
                                  "is right.")
    except (requests.RequestException, ValueError, AttributeError, OSError):  # not a server that lists its models
        return Served()
    return Served(tuple(scrub(saved.scrub(name), api_key) for name in names))


def _key(base_url: str, api_key: str | None) -> tuple[str, str]:
    """One lookup per server and key: the URL as typed give or take a trailing slash, the key only as its hash."""
    return base_url.strip().rstrip("/"), hashlib.sha256((api_key or "").encode()).hexdigest()


def _kept_for(result: Served) -> float:
    return UNREACHABLE_FOR_S if result.unreachable else SERVED_FOR_S if result.names else UNSERVED_FOR_S


def served(base_url: str, api_key: str | None = None, wait_s: float | None = None, asker: str = "") -> Served:
    """What the server at ``base_url`` serves, asked with ``api_key`` (kept only as a hash). A URL not asked yet is
    asked in a thread; the caller waits for its answer at most ``wait_s`` (None: until it comes), then gets
    ``asking``. A later call while it is asked does not wait; an answer that aged is asked again in the background
    while it is still given. ``asker``: the visitor it is asked for (a public app), who has at most
    ``MAX_ASKING_EACH`` lists asked at once; "" (a local install, the command line): no bound but ``MAX_ASKING``."""
    key = _key(base_url, api_key)
    with _lock:
        if key not in _lookups and len(_lookups) >= MAX_LOOKUPS:
            _forget(len(_lookups) - MAX_LOOKUPS + 1)
        lookup = _lookups.setdefault(key, _Lookup())
        lookup.used = time.monotonic()
        stale = lookup.result is None or time.monotonic() - lookup.at >= _kept_for(lookup.result)
        started = stale and lookup.thread is None
        asked = [other.asker for other in _lookups.values() if other.thread is not None]
        full = len(asked) >= MAX_ASKING or bool(asker) and asked.count(asker) >= MAX_ASKING_EACH
        if started and full:
            if lookup.result is not None:  # the answer known, if aged, is still given
                return lookup.result
            del _lookups[key]  # not kept: asked at the next rerun that finds room
            return Served(unreachable=BUSY if len(asked) >= MAX_ASKING else BUSY_YOURS)
        if started:
            lookup.asker = asker
            lookup.thread = threading.Thread(target=_run, args=(lookup, key[0], api_key), daemon=True,
                                             name="served-models")
            lookup.thread.start()
    if lookup.result is None and (started or wait_s is None):
        lookup.done.wait(wait_s)
    with _lock:
        return lookup.result if lookup.result is not None else Served(asking=True)


def _forget(count: int) -> None:
    """Drop ``count`` lookups not being asked now, the least recently asked about first (under ``_lock``)."""
    idle = sorted((lookup.used, key) for key, lookup in _lookups.items() if lookup.thread is None)
    for _, key in idle[:count]:
        del _lookups[key]


def _run(lookup: _Lookup, base_url: str, api_key: str | None) -> None:
    result = Served()  # a bug in the asking: no list, as for a server that lists none
    try:
        result = _ask(base_url, api_key)
    finally:
        with _lock:
            lookup.result, lookup.at, lookup.thread = result, time.monotonic(), None
        lookup.done.set()


def served_names(base_url: str, api_key: str | None = None) -> list[str]:
    """The model names the server at ``base_url`` serves, waited for (the command line); none where it lists none or
    cannot be reached."""
    return list(served(base_url, api_key).names)


def asking(base_url: str, api_key: str | None = None) -> bool:
    """Whether the server's list is still being asked for the first time (nothing known yet)."""
    key = _key(base_url, api_key)
    with _lock:
        lookup = _lookups.get(key)
        return lookup is not None and lookup.result is None
