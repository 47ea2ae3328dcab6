"""The deployer's token on a public deployment: Inference Providers calls only, a few per visitor a minute."""

from __future__ import annotations

import threading
import time
from collections import deque

from studio.errors import StudioError

DEFAULT_RPM = 10  # requests a minute per visitor on the deployer's token; the secret [studio] inference_rpm
DEFAULT_TOTAL_RPM = 60  # requests a minute for every visitor together on it; [studio] inference_rpm_total. A visitor
# who clears their cookies (or opens another browser) counts as a new one: this bounds what the token can be made to spend
DEFAULT_UPLOAD_MB = 20  # the largest file a visitor may upload; the secret [studio] upload_mb. Parsing a JSONL
# file holds ~5.5x its size in memory (a 60 MB file took the server from 428 to 761 MB): 20 MB stays near 110 MB,
# where the 512 MB a local install allows (model files) would take one visitor's import past Community Cloud's 2.7 GB.

DEFAULT_JOBS_PER_VISITOR = 2  # background jobs (evaluations) one visitor may run at once; [studio] jobs_per_visitor
DEFAULT_JOBS_TOTAL = 6  # the same for every visitor together; [studio] jobs_total. Each job is a Python process of its
# own: ~47 MB each measured for an API evaluation (more with a larger dataset), so 6 stay near 300 MB of the 690 MB
# Community Cloud guarantees, where one visitor pressing Start again and again would take the app past its 2.7 GB.
DEFAULT_COOKIELESS_PER_HOUR = 30  # new workspaces an hour for every browser that sends no cookies, all together;
# [studio] cookieless_per_hour. A browser sends Streamlit's session cookie from its first page on; one without it (a
# script, cookies blocked) has nothing that brings it back to its workspace, so every page load made a new one, with
# the sample dataset in it and a new visitor's allowances: a loop of page loads could claim them without end.


class RateLimitedError(StudioError):
    """A visitor used their share of the deployer's token for this minute."""


class MinuteLimit:
    """At most ``rpm`` requests per key in any 60 s (a sliding window); thread-safe, one per process.
    ``everyone``: the limit counts all visitors together (one key), and its message says so."""

    def __init__(self, rpm: int = DEFAULT_RPM, *, everyone: bool = False):
        self.rpm = int(rpm)
        self.everyone = everyone
        self._calls: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, n: int = 1, now: float | None = None) -> None:
        """Count ``n`` requests for ``key``, or raise ``RateLimitedError`` (counting nothing) when over."""
        self._take(key, n, now, count=True)

    def check(self, key: str, n: int = 1, now: float | None = None) -> None:
        """Raise as ``take`` would, counting nothing either way."""
        self._take(key, n, now, count=False)

    def _take(self, key: str, n: int, now: float | None, count: bool) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            while calls and now - calls[0] >= 60:
                calls.popleft()
            if len(calls) + n > self.rpm:
                wait = max(1, round(60 - (now - calls[0]) if calls else 60))
                if self.everyone:
                    raise RateLimitedError(
                        f"This app's own token is at its limit of {self.rpm} hosted-model requests a minute for all "
                        f"its visitors together: ask again in {wait} s, or give your own Hugging Face token (no "
                        "limit here).")
                raise RateLimitedError(
                    f"You reached this app's limit of {self.rpm} hosted-model requests a minute on its own token: "
                    f"ask again in {wait} s, or give your own Hugging Face token (no limit here).")
            if count:
                calls.extend([now] * n)
            if len(self._calls) > 10_000:  # forget visitors idle for a minute
                for k in [k for k, v in self._calls.items() if not v or now - v[-1] >= 60]:
                    del self._calls[k]


class Window:
    """At most ``count`` takes in any ``window_s`` (a sliding window), every caller together; thread-safe."""

    def __init__(self, window_s: float) -> None:
        self.window_s = float(window_s)
        self._taken: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self, count: int, now: float | None = None) -> float | None:
        """Take one (None), or, with ``count`` taken in the window, the seconds until one is free (nothing taken)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            while self._taken and now - self._taken[0] >= self.window_s:
                self._taken.popleft()
            if len(self._taken) >= count:
                return max(1.0, self.window_s - (now - self._taken[0]) if self._taken else self.window_s)
            self._taken.append(now)
            return None
