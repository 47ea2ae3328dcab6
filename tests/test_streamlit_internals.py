"""Streamlit's internal API missing or failing (as a newer Streamlit may have it): each reach in
``studio.ui.streamlit_internals`` answers its safe value, and the pages still draw with no traceback.

The faults are fakes (a name deleted or made to raise): no installable Streamlit lacks these names today. They are
set on the names the studio looks up (``streamlit.runtime.scriptrunner.get_script_run_ctx``, ``Runtime``'s methods,
``streamlit.config.set_option``), which Streamlit's own code reaches by other paths, so Streamlit itself still runs.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import streamlit
import streamlit.runtime.scriptrunner as scriptrunner
from streamlit.runtime import Runtime
from streamlit.testing.v1 import AppTest

from studio.cloud import workspaces
from studio.data import store
from studio.ui import streamlit_internals
from tests.data.test_dataset_page import PAGE, RECS, edit, texts

REPO = Path(__file__).resolve().parent.parent
HOME = str(REPO / "Home.py")


class _Without:
    """Streamlit's script-run context with ``name`` gone, as a version that renamed it would have it."""

    def __init__(self, ctx, name: str):
        self._ctx, self._name = ctx, name

    def __getattr__(self, attr: str):
        if attr == self._name:
            raise AttributeError(attr)
        return getattr(self._ctx, attr)


def _ctx_without(monkeypatch, name: str) -> None:
    real = scriptrunner.get_script_run_ctx

    def get(suppress_warning: bool = False):
        ctx = real(suppress_warning)
        return None if ctx is None else _Without(ctx, name)

    monkeypatch.setattr(scriptrunner, "get_script_run_ctx", get)


def _home(**secrets) -> AppTest:
    at = AppTest.from_file(HOME, default_timeout=60)
    for key, value in secrets.items():
        at.secrets[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_without_a_session_id_a_copied_tab_gets_its_own_id_and_is_offered_the_first_tabs_edits(monkeypatch):
    """``session_id``: each session gets an id of its own that counts as open, so a tab opened at the first tab's
    address (a duplicate) does not take the first tab's id and its kept edits: it is offered them."""
    monkeypatch.setenv("STUDIO_TENANCY", "0")
    _ctx_without(monkeypatch, "session_id")
    info = store.create_dataset("Mine", RECS)
    first = AppTest.from_file(PAGE, default_timeout=60).run()
    first.selectbox(key="dataset.picker").select(info.id).run()
    edit(first, edited={0: {"answer": "Forty-five minutes."}})
    assert not first.exception, [e.value for e in first.exception]
    copy = AppTest.from_file(PAGE, default_timeout=60)
    copy.query_params.update(first.query_params)
    copy.run()
    copy.selectbox(key="dataset.picker").select(info.id).run()
    assert not copy.exception, [e.value for e in copy.exception]
    assert copy.query_params["tab"] != first.query_params["tab"]
    assert copy.data_editor[0].value["answer"].tolist() == ["45 minutes.", "Eleven."]
    assert any(i.startswith("Another tab, open now, left unsaved changes to this dataset: 1 edited")
               for i in texts(copy.info))


def test_a_workspace_counts_as_in_use_when_streamlit_cannot_say_whether_its_session_is_connected(monkeypatch,
                                                                                                 tmp_path):
    """``session_connected`` (public app): a session's workspace is not offered to make room for another visitor's
    save when Streamlit's session check is gone or raises; the save's room check does not fail."""
    from studio.ui import cloud

    class Failing:
        def is_active_session(self, session_id):
            raise RuntimeError("session manager gone")

    used = tmp_path / "visitors" / "a"
    monkeypatch.setattr(cloud, "_sessions", {"a session": {str(used)}})
    streamlit_internals._saw("a session")  # it ran its page just now (``streamlit_internals.session_id``)
    for runtime in (object(), Failing()):  # the method missing, then raising
        with monkeypatch.context() as patched:  # only around the call: the test's clean-up reads the runtime too
            patched.setattr(Runtime, "exists", classmethod(lambda cls: True))
            patched.setattr(Runtime, "instance", classmethod(lambda cls, r=runtime: r))
            assert cloud._in_use() == {used}


class _Clock:
    """``streamlit_internals``' clock, moved on by hand: an hour passes without a sleep."""

    def __init__(self):
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_streamlit_cannot_tell_about_are_forgotten_once_unused_for_a_while(monkeypatch):
    """``session_id`` made up (its API gone): those sessions never counted as closed, so every session a public app
    served stayed in ``cloud._sessions`` (its workspace never removed to make room) and ``_tab_holders``, one entry more
    per session, for good. A session that ran no page for ``UNTOLD_OPEN_S`` now counts as closed and is forgotten;
    one that ran lately still counts as open, its workspace in use and its tab's id its own."""
    from studio import config
    from studio.ui import cloud, dataset_drafts

    monkeypatch.setenv("STUDIO_TENANCY", "1")
    _ctx_without(monkeypatch, "session_id")
    clock = _Clock()
    monkeypatch.setattr(streamlit_internals, "_clock", clock, raising=False)
    monkeypatch.setattr(streamlit_internals, "_seen", {}, raising=False)
    monkeypatch.setattr(cloud, "_sessions", {})
    holders: dict[tuple[str, str], str] = {}
    monkeypatch.setattr(dataset_drafts, "_tab_holders", lambda: holders)

    def visit() -> tuple[Path, str]:
        at = AppTest.from_file(PAGE, default_timeout=60).run()
        assert not at.exception, [e.value for e in at.exception]
        return Path(at.session_state["workspace.path"]), at.session_state["dataset.tab_id"]

    gone = [visit() for _ in range(3)]
    assert cloud._in_use() == {ws for ws, _ in gone} and len(holders) == 3  # open: they ran their page just now
    clock.now += streamlit_internals.UNTOLD_OPEN_S + 1
    here, tab = visit()
    assert cloud._in_use() == {here} and set(cloud._sessions) == {holders[(str(here), tab)]}
    for ws, t in [*gone, (here, tab)]:
        with config.use_workspace(ws):
            assert dataset_drafts._tab_open(t) is (t == tab)
    for n in range(10_000):  # sessions this server never saw run: closed too
        holders[("", f"{n:012x}")] = f"{streamlit_internals.MADE_UP}{n}"
    dataset_drafts.claim_tab(None, "a new session", holders)  # past the bound: the closed sessions' tabs are forgotten
    assert len(holders) == 2
    with config.use_workspace(here):
        assert dataset_drafts._tab_open(tab)


def test_an_answer_goes_on_when_streamlit_cannot_say_whether_its_tab_is_open(monkeypatch):
    """``session_connected`` (Chat): the watch that stops a closed tab's answer counts the tab open when Streamlit's
    session check raises: the answer is not stopped, and no thread dies with a traceback."""
    from studio.ui import chat

    class Failing:
        def is_active_session(self, session_id):
            raise RuntimeError("session manager gone")

    class Task:
        done, cancelled = False, False

        def cancel(self):
            self.cancelled = True

    failures, gone = [], []
    monkeypatch.setattr(threading, "excepthook", lambda args: failures.append(args.exc_value))
    monkeypatch.setattr(scriptrunner, "get_script_run_ctx", lambda suppress_warning=False: SimpleNamespace(
        session_id="a tab"))
    task = Task()
    with monkeypatch.context() as patched:  # only while the watch runs: the test's clean-up reads the runtime too
        patched.setattr(Runtime, "exists", classmethod(lambda cls: True))
        patched.setattr(Runtime, "instance", classmethod(lambda cls: Failing()))
        chat.stop_with_the_tab([task], lambda: gone.append(True))
        watch = next(t for t in threading.enumerate() if t.name == "chat-tab-watch")
        time.sleep(0.2)
        task.done = True
        watch.join(timeout=30)
    assert not watch.is_alive() and failures == [] and not task.cancelled and gone == []


def test_a_public_app_keeps_each_visitor_in_their_workspace_when_streamlit_cannot_say_which_thread_runs(monkeypatch,
                                                                                                     studio_home):
    """``in_script_run`` (and ``session_id``, ``app_folder`` with it): the page reads the visitor's own workspace."""
    monkeypatch.setenv("STUDIO_TENANCY", "1")

    def failing(suppress_warning: bool = False):
        raise RuntimeError("no script run context here")

    monkeypatch.setattr(scriptrunner, "get_script_run_ctx", failing)
    a, b = _home(), _home()
    wa, wb = Path(a.session_state["workspace.path"]), Path(b.session_state["workspace.path"])
    assert wa != wb and wa.parent == wb.parent == studio_home / workspaces.VISITORS
    assert not (studio_home / "datasets").exists()


def test_the_home_page_draws_when_streamlit_cannot_say_which_script_it_runs(monkeypatch):
    """``app_folder``: the app's folder is left off ``sys.path`` (as each run found it); the page still draws."""
    import sys

    monkeypatch.setenv("STUDIO_TENANCY", "0")
    monkeypatch.delattr(scriptrunner, "get_script_run_ctx")
    before = list(sys.path)
    at = _home()
    assert {m.label for m in at.metric} >= {"Datasets", "Device"} and sys.path == before


def test_tenancy_is_on_and_said_when_streamlit_cannot_say_whether_the_public_entry_runs(monkeypatch, studio_home):
    """``runs_cloud_entry``: a run that cannot tell ``Home.py`` from ``cloud/Home.py`` keeps each visitor in their own
    workspace (never the server's one), and the page says how a local install turns that off."""
    monkeypatch.delenv("STUDIO_TENANCY", raising=False)
    _ctx_without(monkeypatch, "main_script_path")
    at = _home()
    assert Path(at.session_state["workspace.path"]).parent == studio_home / workspaces.VISITORS
    assert [w.value for w in at.warning if "STUDIO_TENANCY=0" in w.value] == [
        "Each visitor works in a workspace of their own: this Streamlit version does not say whether the app runs as "
        "cloud/Home.py (the public app). On your own machine, start it with STUDIO_TENANCY=0 (or [studio] tenancy = "
        "false in secrets) to use your workspace."]


def _public_dataset_page_keeping_the_upload_limit(monkeypatch) -> AppTest:
    """The public app's Dataset page (``upload_mb`` 1) on a server where Streamlit refuses to change
    ``server.maxUploadSize``: it keeps its configured limit (AppTest sends uploads around any server check anyway)."""
    from streamlit import config as st_config

    monkeypatch.setenv("STUDIO_TENANCY", "1")
    real = st_config.set_option

    def refusing(key, value, where_defined=st_config._USER_DEFINED):
        if key == "server.maxUploadSize":
            raise RuntimeError("server options cannot be set while the server runs")
        return real(key, value, where_defined)

    monkeypatch.setattr(st_config, "set_option", refusing)
    configured = streamlit.get_option("server.maxUploadSize")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.secrets["studio"] = {"upload_mb": 1}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert streamlit.get_option("server.maxUploadSize") == configured
    return at


def test_the_public_app_refuses_a_big_import_itself_when_streamlit_refuses_to_change_the_upload_limit(monkeypatch):
    """``set_upload_limit_mb``: the page draws, the server keeps its configured limit, and the Import tab refuses a
    file bigger than the app's limit itself, before reading it."""
    at = _public_dataset_page_keeping_the_upload_limit(monkeypatch)
    at.radio(key="dataset.import.origin").set_value("file").run()
    at.file_uploader(key=f"dataset.import.file.{at.session_state['dataset.import.nonce']}").set_value(
        ("big.jsonl", b'{"question": "Q?", "answer": "A."}\n' * 40_000, "application/octet-stream"))
    at.run()
    assert texts(at.error) == ["Not imported: big.jsonl is 1.4 MB, more than the 1 MB a file may be on this app: "
                               "split it and add each part to the same dataset, or run the studio on your own "
                               "machine, which takes files of any size."]
    assert "dataset.import" not in at.session_state or not at.session_state["dataset.import"]


def test_the_public_app_refuses_a_long_value_uploaded_back_over_its_limit_before_reading_it(monkeypatch):
    """Edit a long value's upload (a value too long for a box of the page) was read and offered to apply whatever its
    size, where the server kept its own limit: refused now in one line, as the Import tab refuses, the value as it was."""
    from studio import config

    at = _public_dataset_page_keeping_the_upload_limit(monkeypatch)
    from studio.ui.dataset import BOX_CHARS

    long = "o" * (BOX_CHARS + 1)
    with config.use_workspace(Path(at.session_state["workspace.path"])):
        info = store.create_dataset("Long", [RECS[0], {"question": "Explain offside?", "answer": long}])
    at.run()
    at.selectbox(key="dataset.picker").select(info.id).run()
    next(s for s in at.selectbox if s.label == "Edit a long value").select((1, "answer")).run()
    (up,) = [u for u in at.get("file_uploader") if u.proto.id and "dataset.long_put." in u.proto.id]
    at.file_uploader(key=up.key).set_value(("record-2-answer.txt", b"Offside. " * 160_000, "text/plain"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert texts(at.error) == ["Not applied: record-2-answer.txt is 1.4 MB, more than the 1 MB a file may be on this "
                               "app: shorten record 2's answer in the file first, or run the studio on your own "
                               "machine, which takes files of any size."]
    assert next(b for b in at.button if b.label == "Apply to the working copy").disabled
    with config.use_workspace(Path(at.session_state["workspace.path"])):
        assert store.load_version(info.id)[1]["answer"] == long


@pytest.mark.parametrize("pins", ["requirements.lock", "requirements-dev.lock", "cloud/requirements.txt"])
def test_the_streamlit_the_internal_reaches_were_checked_with_is_the_one_pinned_and_installed(pins):
    """Moving a pin means checking ``studio.ui.streamlit_internals`` again against the new version, then its
    ``CHECKED_WITH``."""
    pinned = re.search(r"^streamlit==(\S+)", (REPO / pins).read_text(), re.M)
    assert pinned and pinned.group(1) == streamlit_internals.CHECKED_WITH == streamlit.__version__


def test_a_worker_thread_gets_no_session_id_rather_than_one_every_sessions_workers_share(monkeypatch):
    """``session_id`` where Streamlit's script-run context raises: off the page's thread ``st.session_state`` is one
    stand-in every session shares, so the id made there was the same for every visitor's worker threads (taken for
    one session, counted open, owning another's held previews). Such a thread now gets None (no session), and the
    thread that runs the page keeps its one id run after run."""

    def failing(suppress_warning: bool = False):
        raise RuntimeError("no script run context here")

    monkeypatch.setattr(scriptrunner, "get_script_run_ctx", failing)
    monkeypatch.setattr(streamlit_internals, "_seen", {})
    answers: list[tuple[str | None, bool]] = []

    def worker() -> None:
        answers.append((streamlit_internals.session_id(), streamlit_internals.in_script_run()))

    for _ in range(2):  # one worker of each of two sessions
        thread = threading.Thread(target=worker, name="task-Reading a file")
        thread.start()
        thread.join()
    assert answers == [(None, False), (None, False)] and streamlit_internals._seen == {}
    page = streamlit_internals.session_id()  # pytest's main thread, as AppTest runs a page
    assert page.startswith(streamlit_internals.MADE_UP) and streamlit_internals.session_id() == page


def test_the_thread_name_that_tells_a_page_run_is_the_one_streamlit_gives_it():
    """``SCRIPT_THREAD``: where the script-run context cannot say, a page run is told by its thread's name."""
    import inspect

    from streamlit.runtime.scriptrunner import script_runner

    assert f'name="{streamlit_internals.SCRIPT_THREAD}"' in inspect.getsource(script_runner.ScriptRunner)


def test_a_pressed_download_leaving_the_server_takes_no_other_visitors_file_made_just_before(monkeypatch):
    """A minute after a press, the studio took every pressed download's file out of Streamlit's media store (its own
    clean-up, run twice): another visitor's, made a moment before, was gone before their browser fetched it (a failed
    download). Now only the file that press made goes, after the last press that made the same file; one a session
    shows stays too."""
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    manager = MediaFileManager(MemoryMediaFileStorage("/media"))
    timers: list[tuple] = []  # each press's clean-up, run below when the test says its minute has passed
    with monkeypatch.context() as served:  # the server's store, only meanwhile: the clean-up after a test reads it
        served.setattr(Runtime, "_instance", SimpleNamespace(media_file_mgr=manager))

        class Later:
            def __init__(self, interval, function, args=(), kwargs=None):
                timers.append((function, args, kwargs or {}))

            def start(self):
                pass

        served.setattr(threading, "Timer", Later)
        shown = manager.add(b"a table on a page", "text/csv", "shown", is_for_static_download=True)
        first = manager.add_deferred(streamlit_internals.made_when_pressed(lambda: "visitor one's export"), "text/csv", "a")
        second = manager.add_deferred(streamlit_internals.made_when_pressed(lambda: b"visitor two's export"), None, "b")
        urls = [manager.execute_deferred(first), manager.execute_deferred(second)]  # two presses, a moment apart
        ids = [url.rsplit("/", 1)[-1].split(".")[0] for url in urls]
        function, args, kwargs = timers[0]
        function(*args, **kwargs)  # the first press's minute has passed; the second's browser is still fetching its file
        assert manager.read_file(ids[0]) is None
        assert manager.read_file(ids[1]).content == b"visitor two's export"
        assert manager.read_file(shown.rsplit("/", 1)[-1].split(".")[0]) is not None
        function, args, kwargs = timers[1]
        function(*args, **kwargs)
        assert manager.read_file(ids[1]) is None
        sample = lambda: "the sample, exported as it is"  # noqa: E731 - two visitors, one file, one address
        presses = [manager.add_deferred(streamlit_internals.made_when_pressed(sample), "text/plain", c) for c in "cd"]
        (same,) = {manager.execute_deferred(p).rsplit("/", 1)[-1].split(".")[0] for p in presses}
        function, args, kwargs = timers[2]
        function(*args, **kwargs)  # the first press's minute: the second's is still running
        assert manager.read_file(same) is not None
        function, args, kwargs = timers[3]
        function(*args, **kwargs)
        assert manager.read_file(same) is None
