"""Per-visitor workspaces on the public app (``cloud/Home.py``): what one visitor makes, another never sees."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

import pytest

from studio import atomic, config, jobs
from studio.cloud import deployment, limits, usage, workspaces

REPO = Path(__file__).resolve().parent.parent
PAGES = ["Home.py", *sorted(f"pages/{p.name}" for p in (REPO / "pages").glob("*.py"))]


def visit(page: str = "Home.py", entry: str = "cloud", at=None, **secrets):
    """Open ``page`` of the app started as ``entry/Home.py`` (``at``: the same browser session again)."""
    from streamlit.testing.v1 import AppTest

    if at is None:
        at = AppTest.from_file(str(REPO / entry / "Home.py"), default_timeout=60)
        for key, value in secrets.items():
            at.secrets[key] = value
    if page != "Home.py":
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def workspace_of(at) -> Path:
    return Path(at.session_state["workspace.path"])


def everything_shown(at) -> str:
    """Every piece of text and every widget's options and value the page shows."""
    parts = []
    for kind in ("markdown", "caption", "title", "subheader", "info", "error", "success", "warning", "dataframe"):
        for el in getattr(at, kind):
            parts.append(str(getattr(el, "value", "")))
    for box in [*at.selectbox, *at.multiselect, *at.radio]:
        parts += [str(o) for o in box.options] + [str(box.value)]
    return "\n".join(parts)


def test_a_local_install_keeps_one_workspace_in_studio_home(studio_home):
    at = visit(entry=".")
    assert "workspace.path" not in at.session_state and not config.tenancy()
    assert (studio_home / "datasets").is_dir() and not (studio_home / workspaces.VISITORS).exists()


def test_the_cloud_entry_gives_each_visitor_a_private_workspace_under_studio_home(studio_home):
    a, b = visit(), visit()
    wa, wb = workspace_of(a), workspace_of(b)
    assert wa != wb and wa.parent == wb.parent == studio_home / workspaces.VISITORS
    assert not (studio_home / "datasets").exists()  # nothing lands in the server's own folder


@pytest.mark.parametrize("page", PAGES)
def test_visitor_b_never_sees_visitor_a_s_dataset_or_evaluation_on_any_page(page):
    from studio.data import store
    from studio.evaluate import results

    a = visit()
    with config.use_workspace(workspace_of(a)):
        ds = store.create_dataset("Alice's private FAQ", [{"question": "Alice's secret question?", "answer": "42"}])
        results.save({"id": "alice-eval", "status": "done", "dataset": {"id": ds.id, "name": ds.name},
                      "models": [], "created": "2026-12-04T10:00:00+00:00"})
    a = visit(page, at=a)
    b = visit(page)
    assert "Alice" not in everything_shown(b)
    if page in ("Home.py", "pages/1_Dataset.py"):
        assert "Alice's private FAQ" in everything_shown(a)  # A sees it there, so B's page could have shown it


@pytest.mark.parametrize("first", PAGES)
def test_a_new_visitor_s_workspace_holds_only_what_the_public_app_can_use(first):
    """Home (its count of training runs) and Evaluate (its list of runs and library models) made a new visitor empty
    ``runs/`` and ``models/`` folders, where nothing can be trained or downloaded: a block each against the visitor's
    size limit, and folders no page of the public app fills. Whichever page a visitor opens first, then every other,
    each opens and neither folder is made."""
    at = visit(first)
    ws = workspace_of(at)
    for page in PAGES:
        visit(page, at=at)  # every page opens for them (visit: no exception)
    made = sorted(p.name for p in ws.iterdir())
    assert "runs" not in made and "models" not in made, made
    assert "datasets" in made  # the sample dataset: what a new visitor starts from

def test_a_reload_or_another_tab_of_the_same_browser_opens_its_workspace_and_another_browser_does_not(monkeypatch):
    """An anonymous visitor's work was gone after a reload (each browser session a new workspace): it is the
    browser's now, by the secret in its session cookie, so a reload comes back to it and nobody else reaches it."""
    from studio.data import store
    from studio.ui import cloud

    monkeypatch.setattr(cloud, "browser_secret", lambda: "alice-browser-secret-0123456789ab")
    first = visit("pages/1_Dataset.py")
    with config.use_workspace(workspace_of(first)):
        store.create_dataset("Alice's private FAQ", [{"question": "Alice's secret question?", "answer": "42"}])
    reloaded = visit("pages/1_Dataset.py")  # a new browser session, the same cookie
    assert workspace_of(reloaded) == workspace_of(first) and "Alice's private FAQ" in everything_shown(reloaded)
    (caption,) = [c.value for c in reloaded.sidebar.caption if c.value.startswith("Private to this browser")]
    assert "its tabs and reloads share it until the browser is closed" in caption
    popover = reloaded.sidebar.get("popover")[0]  # where Clear is, which says why
    said = " ".join(c.value for c in popover.caption)
    assert popover.proto.popover.label == "Clear this workspace" and said.startswith("On a shared computer, clear it")
    # its tooltip said the popover's first sentence again, word for word: it says that nothing goes before a click
    assert popover.proto.popover.help == "Asks first: nothing is deleted until you press Delete everything in it."
    monkeypatch.setattr(cloud, "browser_secret", lambda: "bob-browser-secret-0123456789abcd")
    bob = visit("pages/1_Dataset.py")
    assert workspace_of(bob) != workspace_of(first) and "Alice" not in everything_shown(bob)
    monkeypatch.setattr(cloud, "browser_secret", lambda: None)  # no cookie: nothing ties a reload to the tab
    tab = visit("pages/1_Dataset.py")
    assert workspace_of(tab) not in (workspace_of(first), workspace_of(bob)) and "Alice" not in everything_shown(tab)
    assert any("gone after a reload" in c.value for c in tab.sidebar.caption)


def test_clearing_the_browser_s_workspace_deletes_its_work_and_starts_afresh(monkeypatch):
    """On a shared computer the next person at the browser would open the workspace: Clear deletes it for good."""
    from studio.data import store
    from studio.ui import cloud

    monkeypatch.setattr(cloud, "browser_secret", lambda: "shared-computer-secret-0123456789")
    at = visit("pages/1_Dataset.py")
    with config.use_workspace(workspace_of(at)):
        store.create_dataset("Alice's private FAQ", [{"question": "Alice's secret question?", "answer": "42"}])
    at = visit("pages/1_Dataset.py", at=at)
    running = workspace_of(at) / "jobs" / "eval-x"  # an evaluation of this workspace, still running
    running.mkdir(parents=True)
    with config.use_workspace(workspace_of(at)):
        jobs.update_status(running, state="running", kind="evaluate", pid=os.getpid(), title="distilgpt2")
        jobs.register_current("evaluate", running)
    at.sidebar.button(key="workspace.clear").click().run()
    (err,) = [e.value for e in at.sidebar.error]
    assert err.startswith("A job of this workspace is still running (the evaluation of distilgpt2)")  # not eval-x
    assert "Alice's private FAQ" in everything_shown(visit("pages/1_Dataset.py", at=at))  # nothing was deleted
    with config.use_workspace(workspace_of(at)):
        jobs.update_status(running, state="finished")
    with usage.held(workspaces.root(), jobs=usage.EACH) as tally:
        over = tally.used - usage.measure(workspaces.root())  # what a replaced file left counted (a few blocks)
    at.sidebar.button(key="workspace.clear").click().run()
    assert not at.exception
    with usage.held(workspaces.root(), jobs=usage.EACH) as tally:  # what it held is off every workspace's total
        assert tally.used - usage.measure(workspaces.root()) <= over
    next_person = visit("pages/1_Dataset.py")
    assert workspace_of(next_person) == workspace_of(at)
    shown = everything_shown(next_person)
    assert "Alice" not in shown and "Soccer" in shown  # the sample is back, nothing else


def test_an_id_typed_into_the_session_state_reaches_nothing_of_another_visitor():
    from studio.data import store

    a = visit()
    with config.use_workspace(workspace_of(a)):
        ds = store.create_dataset("Alice's private FAQ", [{"question": "q?", "answer": "a"}])
    b = visit("pages/1_Dataset.py")
    b.session_state["dataset.selected"] = ds.id
    b.session_state["evaluate.selected"] = "alice-eval"
    b = visit("pages/1_Dataset.py", at=b)
    assert "Alice" not in everything_shown(b)
    b = visit("pages/5_Evaluate.py", at=b)
    assert "Alice" not in everything_shown(b)


def test_the_dataset_page_offers_no_path_on_the_server_to_import_from():
    at = visit("pages/1_Dataset.py")
    (origin,) = [r for r in at.radio if r.key == "dataset.import.origin"]
    assert "path" not in origin.options


def test_a_full_anonymous_workspace_refuses_a_save_in_one_line_and_keeps_what_it_had():
    at = visit("pages/1_Dataset.py")
    ws = workspace_of(at)
    before = store_snapshot(ws)
    at.secrets["studio"] = {"anonymous_workspace_mb": (usage.measure(ws) + 100) / 1e6}
    at.text_input(key="dataset.new_name").set_value("Mine")
    at.button(key="dataset.create").click().run()
    assert not at.exception
    (err,) = [e.value for e in at.error]
    assert err.startswith("Not saved: it needs") and "KB left of its" in err and "\n" not in err
    assert store_snapshot(ws) == before


def test_deleting_a_dataset_in_a_full_workspace_frees_its_room_for_the_next_save():
    """The refusal says to delete what is no longer needed: that must make room (the trash, which no page of the
    public app reaches, does not keep holding it)."""
    from studio.data import store

    at = visit("pages/1_Dataset.py")
    ws = workspace_of(at)
    with config.use_workspace(ws):
        big = store.create_dataset("Old drafts", [{"question": f"Draft {n}?", "answer": "x" * 400} for n in range(100)])
    at.secrets["studio"] = {"anonymous_workspace_mb": (usage.measure(ws) + 100) / 1e6}
    at.text_input(key="dataset.new_name").set_value("Mine")
    at.button(key="dataset.create").click().run()
    assert [e.value for e in at.error][0].startswith("Not saved: it needs")

    at.selectbox(key="dataset.picker").set_value(big.id).run()
    sure = at.checkbox(key=f"dataset.delete_sure.{big.id}")
    assert "room is freed" in sure.label
    sure.check().run()
    at.button(key="dataset.delete").click().run()
    assert at.success[0].value == "Deleted Old drafts."  # no folder on the server to look in
    at.text_input(key="dataset.new_name").set_value("Mine")
    at.button(key="dataset.create").click().run()
    assert not at.error and not at.exception
    with config.use_workspace(ws):
        assert [d.name for d in store.list_datasets() if d.name != "Soccer rules (sample)"] == ["Mine"]


def test_the_trash_is_emptied_only_when_a_save_needs_its_room(tmp_path):
    ws = tmp_path / "a-workspace"
    (ws / "trash" / "faq-20261205").mkdir(parents=True)
    (ws / "trash" / "faq-20261205" / "0001.json").write_bytes(b"x" * 600_000)
    workspaces.check_room(ws, 1_000_000, 300_000)  # fits beside it: what was deleted stays
    assert (ws / "trash" / "faq-20261205" / "0001.json").exists()
    workspaces.check_room(ws, 1_000_000, 500_000)  # fits only without it
    assert not (ws / "trash").exists()


HELD = 2 * usage.BLOCK  # what a workspace's check counts besides its files' blocks: its datasets/ folder and the
# record of its size (that record's lock is empty: the disk holds no block for it; usage.on_disk)


def test_an_import_larger_than_the_whole_limit_says_what_it_needs_not_that_the_workspace_is_full(tmp_path):
    ws = tmp_path / "a-workspace"
    (ws / "datasets").mkdir(parents=True)
    (ws / "datasets" / "sample.json").write_bytes(b"x" * 30_000)  # the sample: a few KB of a 2 MB limit
    with pytest.raises(workspaces.WorkspaceFullError) as caught:
        workspaces.check_room(ws, 2_000_000, 3_100_000)  # a 3.1 MB import
    err = str(caught.value)
    used = usage.readable_size(usage.on_disk(30_000) + HELD)
    assert err.startswith(f"Not saved: it needs 3.1 MB and this workspace has 2 MB left of its 2 MB limit ({used} used)")
    assert "full" not in err and "\n" not in err
    workspaces.check_room(ws, 2_000_000, 1_900_000)  # what fits is let through


def store_snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in (folder / "datasets").rglob("*")
            if p.is_file() and not p.name.startswith(".")}


def test_idle_anonymous_workspaces_are_cleaned_up_and_kept_ones_stay():
    a, b = visit(), visit()
    signed = workspaces.signed_in("https://accounts.example", "alice")
    workspaces.touch(signed)
    old = time.time() - 3 * 3600
    os.utime(workspace_of(a) / workspaces.SEEN, (old, old))
    os.utime(signed / workspaces.SEEN, (old, old))
    removed = workspaces.clean_idle(max_idle_hours=2)
    assert removed == [workspace_of(a)] and not workspace_of(a).exists()
    assert workspace_of(b).is_dir() and signed.is_dir()


def test_work_started_from_a_page_stays_in_its_visitor_s_workspace_and_a_bare_thread_cannot_fall_back():
    from studio.data import store
    from studio.tasks import Task

    a = visit()
    config.set_tenancy(True, lambda: None)
    with config.use_workspace(workspace_of(a)):
        task = Task("create", store.create_dataset, "Made in a thread", []).start()
    task.join(30)
    assert task.state == "done"
    with config.use_workspace(workspace_of(a)):
        assert "Made in a thread" in [d.name for d in store.list_datasets()]
    errors = []
    t = threading.Thread(target=lambda: errors.append(_try(config.home)))
    t.start()
    t.join()
    assert isinstance(errors[0], config.NoWorkspaceError)


def _try(fn):
    try:
        return fn()
    except Exception as exc:
        return exc


def test_a_job_process_works_in_its_visitor_s_workspace():
    from studio import jobs
    from studio.data import store

    a, b = visit(), visit()
    with config.use_workspace(workspace_of(a)):
        store.create_dataset("Alice's private FAQ", [{"question": "q?", "answer": "a"}])
    with config.use_workspace(workspace_of(b)):
        workdir = config.jobs_dir() / "list"
        jobs.start_job("list", ["dataset", "list"], workdir, uses_device=False)
    deadline = time.time() + 120
    while time.time() < deadline and "Soccer rules" not in jobs.tail_log(workdir):
        time.sleep(0.5)
    log = jobs.tail_log(workdir)
    assert "Soccer rules" in log and "Alice" not in log  # B's job lists B's workspace, not A's


def test_the_per_visitor_minute_limit_counts_each_visitor_apart():
    lim = limits.MinuteLimit(3)
    lim.take("a", 2, now=0)
    lim.take("b", 3, now=1)
    with pytest.raises(limits.RateLimitedError) as err:
        lim.take("a", 2, now=10)
    assert "limit of 3 hosted-model requests a minute" in str(err.value) and "50 s" in str(err.value)
    lim.take("a", 1, now=10)
    lim.take("a", 3, now=70)  # a minute after the last of those


def test_the_limit_for_all_visitors_together_says_so_and_a_check_counts_nothing():
    lim = limits.MinuteLimit(2, everyone=True)
    lim.check("everyone", 2, now=0)
    lim.check("everyone", 2, now=0)  # checks count nothing
    lim.take("everyone", 2, now=1)
    with pytest.raises(limits.RateLimitedError) as err:
        lim.check("everyone", 1, now=20)
    assert str(err.value).startswith("This app's own token is at its limit of 2 hosted-model requests a minute for all")
    assert "ask again in 41 s" in str(err.value) and "\n" not in str(err.value)


AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s" * 32, "client_id": "studio",
        "client_secret": "x", "server_metadata_url": "https://accounts.example/.well-known/openid-configuration"}


def signed_in_visit(user: dict | None, page: str = "Home.py"):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "cloud" / "Home.py"), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False} if user is None else {"is_logged_in": True, **user}
    return visit(page, at=at)


def test_a_signed_in_visitor_gets_the_same_workspace_in_every_session_and_nobody_else_does():
    from studio.data import store

    alice = {"iss": "https://accounts.example", "sub": "alice-123", "name": "Alice"}
    first = signed_in_visit(alice)
    with config.use_workspace(workspace_of(first)):
        store.create_dataset("Alice's kept FAQ", [{"question": "q?", "answer": "a"}])
    again = signed_in_visit(alice, "pages/1_Dataset.py")  # another session: a new tab, another day
    assert workspace_of(again) == workspace_of(first) and "Alice's kept FAQ" in everything_shown(again)
    assert any(c.value.startswith("Signed in as Alice") for c in again.sidebar.caption)
    mallory = signed_in_visit({"iss": "https://accounts.example", "sub": "mallory-9", "name": "Alice"},
                              "pages/1_Dataset.py")  # the same display name is not the same person
    assert workspace_of(mallory) != workspace_of(first) and "Alice's kept FAQ" not in everything_shown(mallory)


def test_a_signed_in_visitor_is_told_to_sign_out_on_a_shared_computer():
    """Streamlit keeps a sign-in for 30 days in the browser: closing the tab leaves the workspace open to the next
    person at that computer, so the sidebar says so next to Sign out."""
    at = signed_in_visit({"iss": "https://accounts.example", "sub": "alice-123", "name": "Alice"})
    assert any("On a shared computer, sign out when you leave" in c.value for c in at.sidebar.caption)
    assert at.sidebar.button(key="workspace.logout").label == "Sign out"


def test_the_sign_in_button_shows_only_where_the_deployer_configured_a_provider():
    assert [b.label for b in signed_in_visit(None).sidebar.button] == ["Sign in"]
    assert not [b for b in visit().sidebar.button if "Sign in" in b.label]


def test_what_a_visitor_made_before_signing_in_moves_into_their_kept_workspace():
    from studio.data import store

    at = signed_in_visit(None)
    anonymous = workspace_of(at)
    with config.use_workspace(anonymous):
        store.create_dataset("Made before signing in", [{"question": "q?", "answer": "a"}])
    at.user = {"is_logged_in": True, "iss": "https://accounts.example", "sub": "alice-123", "name": "Alice"}
    at = visit("pages/1_Dataset.py", at=at)
    assert workspace_of(at).name.startswith("u-") and not anonymous.exists()
    assert "Made before signing in" in everything_shown(at)


@pytest.mark.parametrize("mb, limit, used", [(1.2, "1.2 MB", "1.1 MB"), (0.05, "50 KB", "45 KB")])
def test_a_limit_that_is_not_a_whole_number_of_mb_is_said_as_set(mb, limit, used):
    """``workspace_mb = 1.2`` read "of its 1 MB limit", and 0.05 "of its 0 MB limit" (sizes printed as whole MB);
    the sidebar said "up to 0 MB"."""
    ws = workspaces.signed_in("https://issuer", "alice")
    (ws / "datasets").mkdir(parents=True)
    (ws / "datasets" / "big.bin").write_bytes(b"x" * (int(mb * 1e6 * 0.9) - HELD))  # 90% of the limit, on disk
    with pytest.raises(workspaces.WorkspaceFullError) as caught:
        workspaces.check_room(ws, int(mb * 1e6), int(mb * 1e6 * 0.2))
    assert f"left of its {limit} limit ({used} used)" in str(caught.value)
    at = visit(studio={"anonymous_workspace_mb": mb})
    (caption,) = [c.value for c in at.sidebar.caption if c.value.startswith("Private to this browser")]
    assert f"up to {limit}" in caption.replace("Up to", "up to")


def test_a_signed_in_visitor_s_sidebar_says_their_workspace_s_limit_as_an_anonymous_one_s_does(monkeypatch):
    """An anonymous visitor's sidebar said "Up to 50 MB"; a signed-in one's said nothing of theirs until a save was
    refused."""
    from studio.ui import cloud_settings

    settings = {"workspace_mb": 1.2}
    monkeypatch.setattr(cloud_settings, "studio_setting", lambda name, default: settings.get(name, default))
    at = signed_in_visit({"iss": "https://accounts.example", "sub": "alice-123", "name": "Alice"})
    (said,) = [c.value for c in at.sidebar.caption if c.value.startswith("Signed in as Alice")]
    assert said.startswith("Signed in as Alice: your workspace (up to 1.2 MB) is yours alone"), said


def test_a_signed_in_workspace_has_a_limit_too_so_one_visitor_cannot_fill_the_shared_disk(monkeypatch):
    from studio.ui import cloud, cloud_settings

    monkeypatch.setattr(cloud_settings, "studio_setting", lambda name, default: {"workspace_mb": 1}.get(name, default))
    kept = workspaces.signed_in("https://issuer", "alice")
    (kept / "datasets").mkdir(parents=True)
    cloud._check_room(kept / "datasets" / "faq" / "versions" / "0001.json", 900_000)  # what fits is let through
    with pytest.raises(workspaces.WorkspaceFullError) as caught:
        cloud._check_room(kept / "datasets" / "faq" / "versions" / "0001.json", 1_100_000)
    err = str(caught.value)
    assert err.startswith("Not saved: it needs 1.1 MB") and "left of its 1 MB limit" in err
    assert "sign in" not in err and "every visitor" in err  # signed in already: nothing bigger to offer


def _left_behind(name: str, kb: int, idle_s: float) -> Path:
    """A workspace with ``kb`` KB of work, last opened ``idle_s`` ago (a session that is gone)."""
    folder = workspaces.root() / name
    (folder / "datasets").mkdir(parents=True)
    (folder / "datasets" / "work.bin").write_bytes(b"x" * kb * 1000)
    workspaces.touch(folder)
    then = time.time() - idle_s
    os.utime(folder / workspaces.SEEN, (then, then))
    return folder


def test_the_server_s_workspaces_together_have_a_cap_idle_anonymous_ones_make_room_first():
    """Each reload started a new 50 MB anonymous workspace, kept 24 h: a script reloading the app could fill the
    shared disk. Past the cap for all workspaces together, the least recently used idle anonymous workspaces go first;
    one opened in the grace period, a signed-in visitor's and the live session's own stay; then a save is refused
    in one line saying the server is full."""
    oldest = _left_behind("a-" + "1" * 32, 200, 5 * 3600)
    older = _left_behind("a-" + "2" * 32, 200, 3 * 3600)
    recent = _left_behind("a-" + "3" * 32, 200, 60)  # within the grace: a reload or a sign-in may come back to it
    kept = _left_behind("u-" + "4" * 32, 200, 10 * 3600)  # a signed-in visitor's: never removed
    at = visit("pages/1_Dataset.py")
    ws = workspace_of(at)
    other = workspace_of(visit())  # a live session whose visitor has not clicked for hours: never removed
    with config.use_workspace(other):  # saved through the studio, as that visitor's page would
        atomic.write_bytes(other / "datasets" / "work.bin", b"x" * 200_000)
    os.utime(other / workspaces.SEEN, (time.time() - 20 * 3600, time.time() - 20 * 3600))
    total = usage.measure(workspaces.root())
    at.secrets["studio"] = {"workspaces_total_mb": (total - 100_000) / 1e6}  # one left-behind workspace too many
    at.text_input(key="dataset.new_name").set_value("Mine")
    at.button(key="dataset.create").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert not oldest.exists() and older.exists() and recent.exists() and kept.exists() and ws.exists()
    assert other.exists()

    at.secrets["studio"] = {"workspaces_total_mb": (usage.measure(workspaces.root()) - 700_000) / 1e6}
    before = store_snapshot(ws)
    at.text_input(key="dataset.new_name").set_value("Another")
    at.button(key="dataset.create").click().run()
    (err,) = [e.value for e in at.error]
    assert err.startswith("Not saved: this server is full") and "try again later" in err and "\n" not in err
    assert not older.exists() and recent.exists() and kept.exists() and other.exists()
    assert store_snapshot(ws) == before


def test_a_job_s_saves_count_against_every_workspace_together_too():
    """A job (an evaluation) writes in a process of its own: it is held to the server's cap as a page's save is,
    refused in one line (it removes nobody's workspace: it cannot tell which sessions are live)."""
    idle = _left_behind("a-" + "5" * 32, 300, 10 * 3600)
    ws = workspace_of(visit())
    # The cap leaves room for the 500-byte save and not the 5,000-byte one, over what the server's running total
    # counts (the walk counts besides the blocks of the folders and markers the visit made without a save)
    with usage.held(workspaces.root(), jobs=usage.EACH) as tally:
        counted = tally.used
    check = workspaces.job_check(ws, 10**9, counted + workspaces.replacing(ws / "evals" / "e.json", 500) + 1000)
    check(ws / "evals" / "e.json", 500)  # fits
    check(ws / "jobs" / "eval-e" / "status.json", 10**6)  # the job's own status is not held to it
    with pytest.raises(workspaces.WorkspaceFullError) as caught:
        check(ws / "evals" / "e.json", 5000)
    assert str(caught.value).startswith("Not saved: this server is full") and idle.exists()


def test_a_conversation_moved_into_a_workspace_that_has_one_goes_after_it_and_neither_is_lost():
    from studio.chat import saved

    anon, kept = workspaces.root() / ("a-" + "6" * 32), workspaces.signed_in("https://issuer", "alice")
    for folder, words in ((kept, "kept"), (anon, "made before signing in")):
        with config.use_workspace(folder):
            saved.save([{"role": "user", "content": f"A question {words}?"}, {"role": "assistant", "content": "Yes."}])
    workspaces.merge_into(anon, kept)
    with config.use_workspace(kept):
        turns, note = saved.load()
    assert note is None and [t["content"] for t in turns] == [
        "A question kept?", "Yes.", "A question made before signing in?", "Yes."]


def _chat(folder: Path, questions: list[str]) -> None:
    from studio.chat import saved

    with config.use_workspace(folder):
        saved.save([t for q in questions for t in ({"role": "user", "content": q}, {"role": "assistant", "content": "A."})])


def _questions(folder: Path) -> list[str]:
    from studio.chat import saved

    with config.use_workspace(folder):
        return [t["content"] for t in saved.load()[0] if t["role"] == "user"]


def test_a_conversation_that_cannot_join_a_full_kept_workspace_stays_where_it_was_and_the_sidebar_says_so():
    """Signing in into a full workspace: the tab's conversation could not be written there, and the anonymous
    workspace holding it was deleted anyway."""
    at = signed_in_visit(None)
    at.secrets["studio"] = {"workspace_mb": 1}
    anonymous = workspace_of(at)
    _chat(anonymous, ["Made before signing in?"])
    kept = workspaces.signed_in("https://accounts.example", "alice-123")
    _chat(kept, ["Kept?"])
    (kept / "datasets").mkdir(parents=True, exist_ok=True)
    (kept / "datasets" / "big.bin").write_bytes(b"x" * 999_950)  # the next write passes its 1 MB
    at.user = {"is_logged_in": True, "iss": "https://accounts.example", "sub": "alice-123", "name": "Alice"}
    at = visit("pages/4_Chat.py", at=at)
    assert workspace_of(at) == kept and _questions(kept) == ["Kept?"]
    assert _questions(anonymous) == ["Made before signing in?"]  # not deleted with its workspace
    (note,) = [w.value for w in at.sidebar.warning if "Chat conversation" in w.value]
    assert "could not join your kept one" in note and "Not saved" in note and "\n" not in note


def test_a_joined_conversation_past_the_turns_kept_says_how_many_were_left_out():
    from studio.chat import saved

    at = signed_in_visit(None)
    anonymous = workspace_of(at)
    _chat(anonymous, [f"Before signing in {i}?" for i in range(60)])
    kept = workspaces.signed_in("https://accounts.example", "alice-123")
    _chat(kept, [f"Kept {i}?" for i in range(60)])
    at.user = {"is_logged_in": True, "iss": "https://accounts.example", "sub": "alice-123", "name": "Alice"}
    at = visit("pages/4_Chat.py", at=at)
    left_out = 240 - saved.KEEP
    assert _questions(kept)[0] == f"Kept {left_out // 2}?" and len(_questions(kept)) == saved.KEEP // 2
    (note,) = [w.value for w in at.sidebar.warning if "Chat conversation" in w.value]
    assert f"the oldest {left_out} were left out" in note
    with config.use_workspace(kept):  # kept with it: a reload still says so (it said nothing once the note was gone)
        assert saved.kept()[2] == left_out


def test_another_tab_of_the_browser_is_told_where_its_work_went_when_one_tab_gives_a_token(monkeypatch):
    """A token given in one tab moved the browser's anonymous work into the token's workspace: the browser's other
    tab, still anonymous, showed it gone without a word."""
    from hub_servers import point_hub_at, standin_hub

    from studio.cloud import sync
    from studio.data import store
    from studio.ui import cloud

    monkeypatch.setattr(cloud, "browser_secret", lambda: "one-browser-two-tabs-0123456789")
    with standin_hub() as hub:
        point_hub_at(monkeypatch, hub.url)
        hub.users["hf_alice_write_token_0123456789"] = ("alice", "write")
        one, two = visit(), visit()
        anon = workspace_of(one)
        assert workspace_of(two) == anon
        with config.use_workspace(anon):
            ds = store.create_dataset("Made in this browser", [{"question": "q?", "answer": "a"}])
        one.text_input(key="auth.hf_token.input").input("hf_alice_write_token_0123456789").run()
        assert workspace_of(one).name.startswith("h-")
        two.run()
        assert not two.exception
        (note,) = [i.value for i in two.sidebar.info]
        assert "moved into the workspace kept with the Hugging Face token given in it" in note
        one.run()  # the tab that moved it opens the kept workspace on every run: the note stays for the other tabs
        assert [i.value for i in visit().sidebar.info] == [note]
        two.text_input(key="auth.hf_token.input").input("hf_alice_write_token_0123456789").run()
        assert workspace_of(two) == workspace_of(one) and (workspace_of(two) / "datasets" / ds.id).is_dir()
        # The visitor followed it in another tab: the note goes. It stayed until Clear, telling every tab opened
        # later, in an empty workspace of new work, that "what this browser made here" had moved.
        three = visit()
        assert workspace_of(three) == anon and not three.sidebar.info
        for running in list(sync._registry.values()):
            running.stop()
            if running._thread is not None:
                running._thread.join(60)


ALICE_SIGNED_IN = {"is_logged_in": True, "iss": "https://accounts.example", "sub": "alice-123", "name": "Alice"}


def signing_in_after_making_work(monkeypatch, browser: str):
    """A browser (its secret ``browser``) that made a dataset anonymously, then signed in as Alice: the tab, back from
    the provider, its work moved into her workspace."""
    from studio.data import store
    from studio.ui import cloud

    monkeypatch.setattr(cloud, "browser_secret", lambda: browser)
    at = signed_in_visit(None)
    with config.use_workspace(workspace_of(at)):
        store.create_dataset("Made before signing in", [{"question": "q?", "answer": "a"}])
    at.user = ALICE_SIGNED_IN
    return visit(at=at)


def test_after_signing_out_the_browser_s_workspace_says_its_work_moved_into_the_signed_in_one(monkeypatch):
    """What a browser made moved into the signed-in workspace; signed out, its anonymous workspace looked empty."""

    at = signing_in_after_making_work(monkeypatch, "a-browser-signing-in-0123456789")
    assert workspace_of(at).name.startswith("u-") and not at.sidebar.info
    at.user = {"is_logged_in": False}  # Sign out: the tab is the browser's anonymous visitor again
    at.session_state["workspace.anon"] = None
    at = visit(at=at)
    (note,) = [i.value for i in at.sidebar.info]
    assert workspace_of(at).name.startswith("a-") and "is in your account's workspace: sign in to open it" in note
    assert "another tab is signed in now" not in note  # it said so with nobody signed in


def test_the_note_on_where_the_browser_s_work_went_goes_once_the_visitor_opened_it_in_another_tab(monkeypatch):
    """The note stayed until Clear: signed in again in a new tab, then signed out, the browser's new anonymous
    workspace still said "what this browser made here moved … (or reload this tab, where another tab is signed in
    now)" above whatever was made since, with nobody signed in."""
    from studio.ui import cloud

    alice = ALICE_SIGNED_IN
    at = signing_in_after_making_work(monkeypatch, "a-browser-signing-in-0123456789")  # the work moves in
    other = signed_in_visit(None)  # another tab, not signed in yet
    assert [i.value for i in other.sidebar.info] == [cloud.MOVED_SIGN_IN]
    reloaded = signed_in_visit({k: v for k, v in alice.items() if k != "is_logged_in"})
    assert workspace_of(reloaded) == workspace_of(at)
    reloaded.user = {"is_logged_in": False}  # Sign out there
    reloaded.session_state["workspace.anon"] = None
    reloaded = visit(at=reloaded)
    assert workspace_of(reloaded).name.startswith("a-") and not reloaded.sidebar.info


def test_the_public_app_with_the_full_install_offers_only_what_runs_there():
    """Run as cloud/Home.py with torch installed, Evaluate preselected "distilgpt2 (base)" in Models, Chat offered
    the local backend, and Train and Models offered training and local models: the public app is API mode, one
    server for every visitor, whatever is installed."""
    evaluate = visit("pages/5_Evaluate.py")
    assert not [m for m in evaluate.multiselect if m.key == "evaluate.models"]
    assert evaluate.text_area(key="evaluate.other_models").label == "API models, one per line"
    chat = visit("pages/4_Chat.py")
    assert "local" not in chat.selectbox(key="chat.a.kind").options
    for page in ("pages/2_Models.py", "pages/3_Train.py"):
        at = visit(page)
        (note,) = [i.value for i in at.info]
        assert note.startswith("API mode: this public app runs no local model"), note  # not "has no torch"
        assert "every picker in the studio offers these" not in everything_shown(at)  # none offers a local model
    home = visit()
    assert "Training runs" not in [m.label for m in home.metric]
    shown = everything_shown(home)
    assert "torch is not installed" not in shown and "the full install" not in shown  # it is installed here
    # the host's memory (24 GiB here) is not what a visitor may use (Community Cloud: 2.7 GB for the whole app)
    assert "system memory" not in shown and not [m for m in home.metric if m.help and "memory" in m.help]


def test_after_sign_out_the_browser_s_next_tab_reads_only_what_is_true_about_where_its_work_went(monkeypatch):
    """Sign out ends in a new session: its anonymous workspace said "sign in to open it (or reload this tab, where
    another tab is signed in now)" with nobody signed in any more."""
    from studio.ui import cloud

    at = signing_in_after_making_work(monkeypatch, "a-browser-signing-out-0123456789")
    at.sidebar.button(key="workspace.logout").click().run()
    after = signed_in_visit(None)  # the page Streamlit opens after signing out: a new session, nobody signed in
    assert workspace_of(after).name.startswith("a-")
    assert [i.value for i in after.sidebar.info] == [cloud.LEFT_SIGN_IN]


def test_the_chat_page_keeps_working_in_a_full_workspace_with_its_settings_held_in_the_session():
    """The Chat page keeps its settings in the workspace on every run where they changed: a full workspace refuses
    that save with a one-line error, which took the page down (a traceback before its title) for every visitor of
    a full server. The settings still hold in the session."""
    at = visit("pages/4_Chat.py")
    ws = workspace_of(at)
    at.secrets["studio"] = {"anonymous_workspace_mb": usage.measure(ws) / 2e6}  # over its limit
    at.slider(key="chat.max_new_tokens").set_value(96).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="chat.max_new_tokens").value == 96
    kept = ws / "chat" / "settings.json"  # written on the first visit, before the workspace was full
    assert not kept.exists() or '"max_new_tokens": 96' not in kept.read_text(encoding="utf-8")


def test_a_tab_id_in_a_link_another_visitor_shared_holds_nothing_of_that_visitor_s_tab(monkeypatch):
    """The Dataset page's ``?tab=`` id was held for the whole server: a visitor opening a link another visitor shared
    (address, ``?tab=`` and all) after that visitor closed the tab held the id while their own tab stayed open, and the
    first visitor, back at that address, got a new id: their unsaved edits came back as "Another tab, open now, left
    unsaved changes", not in place. A tab id now counts in its own workspace only."""
    import uuid

    import streamlit
    from streamlit.testing.v1 import AppTest

    from studio.data import store
    from studio.ui import cloud, dataset_drafts, streamlit_internals
    from tests.data.test_dataset_page import RECS, edit, texts

    holders: dict = {}
    monkeypatch.setattr(dataset_drafts, "_tab_holders", lambda: holders)
    # AppTest gives every session one id and runs no server (no session counts as connected): an id each, and the
    # sessions closed here
    monkeypatch.setattr(streamlit_internals, "session_id",
                        lambda: streamlit.session_state.setdefault("test.session_id", uuid.uuid4().hex))
    closed: set[str] = set()
    monkeypatch.setattr(streamlit_internals, "session_connected", lambda sid: sid not in closed)

    def opened(secret: str, tab: str | None = None) -> AppTest:
        monkeypatch.setattr(cloud, "browser_secret", lambda: secret)
        at = AppTest.from_file(str(REPO / "cloud" / "Home.py"), default_timeout=60)
        if tab:
            at.query_params["tab"] = tab
        return visit("pages/1_Dataset.py", at=at)

    alice = opened("alice-browser-secret-0123456789ab")
    with config.use_workspace(workspace_of(alice)):
        info = store.create_dataset("Mine", RECS)
    alice.run()
    alice.selectbox(key="dataset.picker").select(info.id).run()
    edit(alice, edited={0: {"answer": "Forty-five minutes."}})
    tab = alice.query_params["tab"]
    closed.update(holders.values())  # Alice closes the tab; her edits are kept in her workspace
    bob = opened("bob-browser-secret-0123456789abcd", tab)  # the link she shared
    assert not bob.exception and "Forty-five" not in everything_shown(bob)
    back = opened("alice-browser-secret-0123456789ab", tab)  # her browser's history, Bob's tab still open
    back.selectbox(key="dataset.picker").select(info.id).run()
    assert back.session_state["dataset.tab_id"] == tab
    assert any(w.startswith("Unsaved changes from before the reload: 1 edited") for w in texts(back.warning))


def test_browsers_without_cookies_get_a_bounded_number_of_workspaces_and_one_allowance(api_mode, monkeypatch,
                                                                                      studio_home):
    """A client that sends no cookies is a new session at every page load, with nothing that brings it back: each
    load made a new workspace (the sample written in it) and a new visitor's allowance on the deployer's token, so a
    loop of page loads claimed them without end. All such browsers together now get ``cookieless_per_hour`` new
    workspaces an hour (past that the page says why and makes nothing) and count as one visitor; a browser with its
    session cookie is not held back, and a cookieless session's own reruns keep its workspace."""
    from studio.ui import cloud

    settings = {"studio": {"cookieless_per_hour": 2, "inference_rpm": 1}, "HF_TOKEN": "hf_deployer_secret_0123456789"}
    monkeypatch.setattr(cloud, "browser_secret", lambda: None)
    first = visit("pages/4_Chat.py", **settings)
    first.chat_input(key="chat.input").set_value("How long is a match?").run()
    assert not [e.value for e in first.main.error if "limit of 1" in e.value]  # sent (offline here, so it fails)
    second = visit("pages/4_Chat.py", **settings)  # another load without cookies: another session
    assert workspace_of(second) != workspace_of(first)
    second.chat_input(key="chat.input").set_value("And the half-time?").run()
    (err,) = [e.value for e in second.main.error if "hosted-model requests" in e.value]
    assert "limit of 1 hosted-model requests a minute" in err and second.session_state["chat.jobs"] == []
    made = sorted((studio_home / "visitors").iterdir())
    third = visit("Home.py", **settings)
    assert [e.value for e in third.error] == [
        "This browser sends no cookies, and this app has made the 2 workspaces an hour it makes for such browsers: "
        "give your Hugging Face token below (your account's own workspace), allow cookies for this site and reload, "
        "or try again in 60 minutes."]
    assert "workspace.path" not in third.session_state and sorted((studio_home / "visitors").iterdir()) == made
    assert workspace_of(visit("Home.py", at=first)) == workspace_of(first)  # its own session goes on
    monkeypatch.setattr(cloud, "browser_secret", lambda: "a-browser-with-cookies-0123456789")
    assert not visit("Home.py", **settings).error
    monkeypatch.setattr(cloud, "browser_secret", lambda: None)
    # every [studio] limit mistyped (int("many") failed every page): one line each, the defaults in force (the
    # default's 30 new workspaces an hour: room for a third)
    wrong = visit("Home.py", studio={f.name: "many" for f in dataclasses.fields(deployment.Deployment)})
    said = [e.value for e in wrong.error]
    assert "[studio] cookieless_per_hour must be a whole number from 1 to 1000000, not 'many': fix it in the app's " \
           "secrets. Meanwhile it is 30." in said
    assert sorted(line.split()[1] for line in said) == sorted(f.name for f in dataclasses.fields(deployment.Deployment))
    assert workspace_of(wrong).parent == studio_home / "visitors"


def test_where_streamlit_gives_no_browser_its_cookie_visitors_are_not_refused_as_cookieless(api_mode, monkeypatch,
                                                                                           studio_home):
    """A deployment with ``server.enableXsrfProtection = false`` (often advised where uploads failed): Streamlit gives
    no browser its session cookie, so every visitor was one browser without cookies, and past ``cookieless_per_hour``
    new ones an hour every new visitor was refused, told to allow cookies. Each tab now gets its workspace as before
    the bound; with the protection on, the bound holds (the test above)."""
    from streamlit import config as st_config

    from studio.ui import cloud

    monkeypatch.setattr(cloud, "browser_secret", lambda: None)
    before = st_config.get_option("server.enableXsrfProtection")
    st_config.set_option("server.enableXsrfProtection", False)
    try:
        first = visit("Home.py", studio={"cookieless_per_hour": 1})
        second = visit("Home.py", studio={"cookieless_per_hour": 1})
    finally:
        st_config.set_option("server.enableXsrfProtection", before)
    assert not second.error and workspace_of(second) != workspace_of(first)
    assert workspace_of(second).parent == studio_home / "visitors"


def test_with_the_protection_off_and_no_secrets_file_no_browser_counts_as_refusing_cookies(monkeypatch):
    """Without a secrets file, st.secrets raises as it is read: that was taken for cookies given, and with the
    protection off every visitor past the hour's first 30 refused. An [auth] section turns the protection (and the
    cookie) back on."""
    from streamlit import config as st_config

    from studio.ui import cloud_settings, cookieless

    class NoFile:
        def __contains__(self, key):
            raise FileNotFoundError("No secrets found.")

    before = st_config.get_option("server.enableXsrfProtection")
    st_config.set_option("server.enableXsrfProtection", False)
    try:
        monkeypatch.setattr(cloud_settings, "app_secrets", NoFile)
        assert cookieless.cookies_given() is False
        monkeypatch.setattr(cloud_settings, "app_secrets", lambda: {"auth": {"client_id": "c"}})
        assert cookieless.cookies_given() is True
    finally:
        st_config.set_option("server.enableXsrfProtection", before)
    assert cookieless.cookies_given() is True


def test_background_jobs_of_cookieless_tabs_share_one_allowance_only_where_streamlit_gives_the_cookie(monkeypatch):
    """With XSRF protection off no browser gets the cookie: every visitor's anonymous workspace was put in the one
    cookieless group for background jobs, so two visitors' evaluations filled every visitor's allowance. Each tab keeps
    its own allowance there (as its requests do); with the protection on, cookieless tabs share one."""
    from streamlit import config as st_config

    from studio.ui import cloud, cookieless, streamlit_internals

    monkeypatch.setattr(streamlit_internals, "in_script_run", lambda: True)
    monkeypatch.setattr(cloud, "browser_secret", lambda: None)
    monkeypatch.setattr(cloud, "signed_in", lambda: None)
    monkeypatch.setattr(cloud.st, "session_state", {cloud.PATH: "/srv/visitors/a-0123"})
    before = st_config.get_option("server.enableXsrfProtection")
    try:
        st_config.set_option("server.enableXsrfProtection", True)
        assert cloud._job_group() == cookieless.COOKIELESS
        st_config.set_option("server.enableXsrfProtection", False)
        assert cloud._job_group() is None
    finally:
        st_config.set_option("server.enableXsrfProtection", before)


@pytest.mark.parametrize(("entry", "default"), [("cloud", "true (the public app)"), (".", "false (a local install)")])
def test_a_tenancy_secret_that_is_not_true_or_false_is_said_with_the_default_in_force(studio_home, entry, default):
    """``[studio] tenancy = "maybe"`` was ignored without a word: the deployer thought it set tenancy."""
    at = visit("Home.py", entry=entry, studio={"tenancy": "maybe"})
    assert [e.value for e in at.error] == [f"[studio] tenancy must be true or false, not 'maybe': fix it in the "
                                           f"app's secrets. Meanwhile it is {default}."]
    assert config.tenancy() is (entry == "cloud")


def test_the_cookieless_refusal_says_one_minute_in_the_singular(api_mode, monkeypatch, studio_home):
    """A browser without cookies refused with under 90 s to wait read "try again in 1 minutes."."""
    from studio.ui import cloud, cookieless

    class Full:  # the hour's workspaces all made, the oldest a minute from leaving the window
        def take(self, count, now=None):
            return 50.0

    monkeypatch.setattr(cloud, "browser_secret", lambda: None)
    monkeypatch.setattr(cookieless, "_cookieless", Full())
    (line,) = [e.value for e in visit("Home.py").error]
    assert line.endswith("or try again in 1 minute."), line
