"""Real-browser fixtures: Debian's Chromium driven by Playwright against ``streamlit run``.

``studio`` starts a fresh server on a free loopback port with its own workspace; ``page`` opens it.
Helpers here wait for what a person waits for: the script to finish running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]


@dataclass
class Studio:
    url: str
    home: Path
    proc: subprocess.Popen
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_studio(home: Path, log: Path, env: dict[str, str] | None = None, entry: str = "Home.py",
                 port: int | None = None) -> Studio:
    """``streamlit run <entry>`` (``cloud/Home.py``: the public app) on a free loopback port (or ``port``)."""
    port = port or _free_port()
    full_env = {**os.environ, "STUDIO_HOME": str(home), "HF_HUB_OFFLINE": "1", **(env or {})}
    full_env.pop("HF_TOKEN", None)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", entry, "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return Studio(url=url, home=home, proc=proc, log=log)
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"streamlit did not become healthy:\n{log.read_text()}")


def stop_studio(studio: Studio) -> None:
    studio.proc.terminate()
    try:
        studio.proc.wait(10)
    except subprocess.TimeoutExpired:
        studio.proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: install it with `apt-get install -y chromium` (tests/run does).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        watch_pages(b)
        yield b
        b.close()


def watch_pages(browser) -> None:
    """Every page of every context ``browser`` makes gets a ``Frames`` reader before it opens its socket:
    ``after_rerun`` tells from it that a pick's rerun has run."""
    new_context = browser.new_context

    def watched(*args, **kwargs):
        context = new_context(*args, **kwargs)
        context.on("page", _watch)
        return context

    browser.new_context = watched


def _watch(page) -> None:
    page._studio_frames = Frames(page)


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[Studio]:
    s = start_studio(tmp_path / "studio-home", tmp_path / "streamlit.log")
    yield s
    stop_studio(s)


@pytest.fixture
def page(browser, studio: Studio):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    p = context.new_page()
    p.set_default_timeout(30_000)
    yield p
    context.close()


@contextlib.contextmanager
def page_open(browser, studio: Studio, name: str, width: int = 1400, height: int = 1000) -> Iterator:
    """A page of ``studio`` open in a window of its own, ``width`` x ``height``; the window closed after."""
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = context.new_page()
        open_page(page, studio, name)
        yield page
    finally:
        context.close()


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished running the script (what a person sees as 'done')."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)
    page.wait_for_timeout(200)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)


_WATCH_RERUN = """() => {
    const app = document.querySelector("[data-testid='stApp']");
    window.__studioRerun = false;
    const seen = new MutationObserver(() => {
        if (app.getAttribute("data-test-script-state") !== "notRunning") { window.__studioRerun = true; seen.disconnect(); }
    });
    seen.observe(app, {attributes: true, attributeFilter: ["data-test-script-state"]});
}"""


def after_rerun(page, act, timeout: float = 60_000) -> None:
    """Do ``act`` (pick an option, press Enter in a field, tick a box) and wait for the rerun it asks for to have run,
    as a person waits for the page to settle after a pick before clicking on. ``wait_idle`` alone can return before
    that rerun has begun (on a loaded machine the browser marks the app running late): a click made then landed on a
    page about to be drawn again.

    Told by what went over the page's websocket where ``Frames`` reads it (every page a test opens): the rerun the
    browser sent after ``act`` (not a fragment's timed tick), then a run started and ended after it. The app's
    running state alone misses a pick made while a timed fragment ran: the state stays "running" from the tick to the
    end of the pick's run, so no change to "running" is ever seen (the Models page's tokenizer check, under load)."""
    frames = Frames.of(page)
    if frames is None:
        page.evaluate(_WATCH_RERUN)
        act()
        page.wait_for_function("() => window.__studioRerun === true", timeout=timeout)
        wait_idle(page, timeout)
        return
    mark = len(frames.events)
    act()
    deadline = time.monotonic() + timeout / 1000
    while not frames.ran_since(mark):
        if time.monotonic() > deadline:
            from playwright.sync_api import TimeoutError as PlaywrightTimeout

            raise PlaywrightTimeout(f"the rerun asked for did not run in {timeout / 1000:.0f} s; the websocket:\n"
                                    f"{frames.text()}")
        page.wait_for_timeout(50)  # the sync API hands the socket's frames to Frames while it waits
    wait_idle(page, timeout)


def after_tick(page, timeout: float = 60_000) -> None:
    """Wait for a timed fragment of the page (``run_every``) to have run once, as it does while a person reads the page
    for a moment before clicking on."""
    frames = Frames.of(page)
    mark, deadline = len(frames.events), time.monotonic() + timeout / 1000
    while not frames.ticked_since(mark):
        if time.monotonic() > deadline:
            from playwright.sync_api import TimeoutError as PlaywrightTimeout

            raise PlaywrightTimeout(f"no timed fragment ran in {timeout / 1000:.0f} s; the websocket:\n{frames.text()}")
        page.wait_for_timeout(50)
    wait_idle(page, timeout)


class Frames:
    """What went over a page's websocket, for a test to say when a click seems lost: sockets opened and closed, each
    rerun the browser asked for (with the buttons it reported clicked) and each run's start and end on the server."""

    def __init__(self, page) -> None:
        self.lines: list[str] = []
        # "asked" (a rerun the browser sent, not a timed tick), "ticked" (a timed fragment's), "started", "ended"
        self.events: list[str] = []
        self.t0 = time.monotonic()
        page.on("websocket", self._socket)

    @staticmethod
    def of(page) -> Frames | None:
        """The reader attached to ``page`` when it was made (``watch_pages``), if any."""
        return getattr(page, "_studio_frames", None)

    def note(self, text: str) -> None:
        self.lines.append(f"{time.monotonic() - self.t0:7.2f} {text}")

    def ran_since(self, mark: int) -> bool:
        """Whether, after event ``mark``, the browser asked for a rerun and a run then started and ended."""
        todo = ["asked", "started", "ended"]
        for event in self.events[mark:]:
            if event == todo[0]:
                todo.pop(0)
                if not todo:
                    return True
        return False

    def ticked_since(self, mark: int) -> bool:
        """Whether, after event ``mark``, a timed fragment asked for its run and that run ended."""
        seen = self.events[mark:]
        return "ticked" in seen and "ended" in seen[seen.index("ticked"):]

    def _socket(self, ws) -> None:
        self.note(f"socket opened {ws.url}")
        ws.on("close", lambda _: self.note("socket closed"))
        ws.on("framesent", self._sent)
        ws.on("framereceived", self._received)

    def _sent(self, payload) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        try:
            msg.ParseFromString(payload if isinstance(payload, bytes) else payload.encode())
        except Exception:  # noqa: BLE001 - a frame this reader does not know is said as such
            self.note("sent: a frame not read")
            return
        kind = msg.WhichOneof("type")
        if kind != "rerun_script":
            self.note(f"sent {kind}")
            return
        clicked = [w.id.rsplit("-", 1)[-1] for w in msg.rerun_script.widget_states.widgets
                   if w.WhichOneof("value") == "trigger_value" and w.trigger_value]
        auto = msg.rerun_script.is_auto_rerun
        self.events.append("ticked" if auto else "asked")
        self.note(f"sent rerun (fragment {msg.rerun_script.fragment_id or '-'}, clicked {clicked}"
                  f"{', timed tick' if auto else ''})")

    def _received(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if not isinstance(payload, bytes):
            return
        msg = ForwardMsg()
        try:
            msg.ParseFromString(payload)
        except Exception:  # noqa: BLE001
            return
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self.events.append("started")
            self.note("run started")
        elif kind == "script_finished":
            if msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:  # cut short by the next one: not an end
                self.events.append("ended")
            self.note(f"run ended ({msg.script_finished})")

    def text(self, last: int = 40) -> str:
        return "\n".join(self.lines[-last:])


def server_stacks(studio: Studio) -> str:
    """Every thread's stack in the studio's server now (tests/startup/sitecustomize.py writes them to its log)."""
    import signal

    before = studio.log.stat().st_size
    studio.proc.send_signal(signal.SIGUSR2)
    time.sleep(1)
    with open(studio.log, "rb") as log:
        log.seek(before)
        return log.read().decode(errors="replace")[-20000:]


def open_page(page, studio: Studio, path: str = "", timeout: float = 60_000) -> None:
    """Open ``/path`` (a page's URL name, "" for Home) and wait for the app to settle (``timeout`` ms)."""
    page.goto(f"{studio.url}/{path}")
    wait_idle(page, timeout)


def pick_option(page, box, name: str, typed: str | None = None, timeout: float = 30_000,
                rerun_timeout: float = 60_000) -> None:
    """Pick the option named ``name`` in the select box ``box`` as a person does in a long list: type (part of) it
    (``typed``; ``name`` itself by default) to filter the list, then click it (in ``timeout`` ms), and wait for the
    pick's rerun (``rerun_timeout`` ms). Streamlit draws only the options in sight of a long list: one further down was
    never there to click (CI timed out on it). The option is the one whose text is ``name``, or ``name`` then what a
    model picker adds after it (" · workspace", " (model:x)"): any option holding ``name`` was taken, the first of
    them, so "tiny-gpt2" picked "a-tiny-gpt2 · workspace" above it; two of that name are an error, not a guess."""
    from playwright.sync_api import expect

    box.locator("input").click()
    page.keyboard.type(typed or name)
    option = page.get_by_role("option").filter(has_text=re.compile(rf"^\s*{re.escape(name)}(?:\s*$| · | \()"))
    expect(option).to_be_visible(timeout=timeout)
    after_rerun(page, option.click, rerun_timeout)


def assert_no_exception(page) -> None:
    """A traceback shown to a user is a bug."""
    assert page.locator("[data-testid='stException']").count() == 0, page.locator("[data-testid='stException']").first.inner_text()


def text_and_room(box) -> tuple[float, float]:
    """A text box's (or a select box's) value as wide as its font draws it, and the room inside the box for it, in
    px: the value is cut where the first is larger."""
    return tuple(box.evaluate(
        "i => { const s = getComputedStyle(i), c = document.createElement('canvas').getContext('2d');"
        " c.font = s.font; return [c.measureText(i.value).width,"
        " i.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)]; }"))


def first_cluster(page, studio: Studio):
    """Open the Dataset page's Duplicates tab, find duplicates, and return the first cluster's card."""
    open_page(page, studio, "Dataset")
    page.get_by_role("tab", name="Duplicates").click()
    page.get_by_role("button", name="Find duplicates").click()
    wait_idle(page)
    return page.locator(".st-key-dedup-cluster-0")
