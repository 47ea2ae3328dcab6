"""The public app (``streamlit run cloud/Home.py``) in Chromium: two visitors at once, and a restart
that wipes the disk, against the loopback Hub stand-in."""

from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from hub_servers import standin_hub
from playwright.sync_api import expect

from .conftest import after_rerun, assert_no_exception, start_studio, stop_studio, wait_idle
from .test_dataset_e2e import edit_cell, save

pytestmark = pytest.mark.e2e

TOKEN = "hf_alice_write_token_0123456789"


def go(page, studio, path: str = "") -> None:
    page.goto(f"{studio.url}/{path}")
    wait_idle(page)
    assert_no_exception(page)


def nav(page, label: str) -> None:
    """Move to another page the way a person does, in the same browser session (the sidebar's links)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=label).click()
    wait_idle(page)
    assert_no_exception(page)


def import_file(page, path: Path, text: str) -> None:
    page.get_by_role("tab", name="Import").click()
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    wait_idle(page)
    page.get_by_text(text).wait_for()
    page.get_by_role("button", name="Import as new dataset").click()
    page.get_by_text("Imported").first.wait_for()
    # The page moves to the Edit tab on the rerun after the import: edits start once it is there
    page.locator("[role='tab'][aria-selected='true']", has_text="Edit").wait_for()
    wait_idle(page)


def three_versions(page, src: Path) -> None:
    """Import the two-record file (version 1), then edit an answer and save, twice (versions 2 and 3)."""
    import_file(page, src, "Read 2 records as JSONL.")
    edit_cell(page, 0, 1, "Answer one, edited")
    save(page)
    page.get_by_text("Saved version 2").first.wait_for()
    edit_cell(page, 1, 1, "Answer two, edited ✓")
    save(page)
    page.get_by_text("Saved version 3").first.wait_for()


def dataset_options(page) -> list[str]:
    box = page.get_by_test_id("stSelectbox").filter(has_text="Dataset").first
    box.click()
    options = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return options


@pytest.fixture
def cloud(tmp_path):
    s = start_studio(tmp_path / "server-home", tmp_path / "streamlit.log", entry="cloud/Home.py")
    yield s
    stop_studio(s)


def test_visitor_b_never_sees_visitor_a_s_dataset_on_home_dataset_or_evaluate(browser, cloud, tmp_path):
    src = tmp_path / "alice-private.jsonl"
    src.write_text(json.dumps({"question": "What is Alice's secret?", "answer": "Blue"}) + "\n", encoding="utf-8")
    alice = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    bob = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    for p in (alice, bob):
        p.set_default_timeout(60_000)
    go(alice, cloud, "Dataset")
    import_file(alice, src, "Read 1 record as JSONL.")
    assert any("alice-private" in o for o in dataset_options(alice))
    nav(alice, "Home")
    alice.get_by_text("alice-private").first.wait_for(state="attached")  # Home's table lists it for Alice

    for path in ("", "Dataset", "Evaluate"):
        go(bob, cloud, path)
        if path == "":  # Home's table is drawn after the page settles: wait for the row Bob does have
            bob.get_by_text("Soccer rules (sample)").first.wait_for(state="attached")
        assert bob.get_by_text("alice-private").count() == 0, path
        assert bob.get_by_text("Alice's secret").count() == 0, path
        if path == "Dataset":
            assert not [o for o in dataset_options(bob) if "alice" in o.lower()]
    shown = bob.locator("[data-testid='stApp']").inner_text()
    assert "alice" not in shown.lower()
    # Alice reloads, and opens a second tab: her dataset is still hers (it was gone after a reload)
    alice.reload()  # on Home: its table lists her dataset again
    wait_idle(alice)
    alice.get_by_text("alice-private").first.wait_for(state="attached")
    expect(alice.get_by_text("its tabs and reloads share it")).to_have_count(1, timeout=30_000)
    tab = alice.context.new_page()
    tab.set_default_timeout(60_000)
    go(tab, cloud, "Dataset")
    assert any("alice-private" in o for o in dataset_options(tab))
    go(bob, cloud, "Dataset")  # Bob's reload still does not reach it
    assert not [o for o in dataset_options(bob) if "alice" in o.lower()]
    alice.context.close()
    bob.context.close()


def give_token(page, token: str) -> None:
    field = page.get_by_label("Your Hugging Face token", exact=True)
    field.fill(token)
    field.press("Enter")
    wait_idle(page)
    assert_no_exception(page)


def test_versions_saved_with_a_token_come_back_byte_for_byte_after_a_restart_that_wipes_the_disk(browser, tmp_path):
    src = tmp_path / "faq.jsonl"
    src.write_text("".join(json.dumps({"question": f"Question {n}?", "answer": f"Answer {n}"}) + "\n"
                           for n in (1, 2)), encoding="utf-8")
    home = tmp_path / "server-home"
    env = {"HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf")}
    with standin_hub() as hub:
        hub.users[TOKEN] = ("alice", "write")
        env["HF_ENDPOINT"] = hub.url
        server = start_studio(home, tmp_path / "first.log", env=env, entry="cloud/Home.py")
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(60_000)
            go(page, server, "Dataset")
            give_token(page, TOKEN)
            page.get_by_text("Synced to alice/slm-studio-workspace").wait_for()
            three_versions(page, src)
            (dataset,) = [d for d in (home / "visitors").glob("h-*/datasets/faq") if d.is_dir()]
            saved = {f"000{n}.json": (dataset / "versions" / f"000{n}.json").read_bytes() for n in (1, 2, 3)}
            repo = hub.repos[("dataset", "alice/slm-studio-workspace")]
            deadline = time.time() + 60  # every save reaches the Hub within seconds
            while time.time() < deadline and repo.files.get("datasets/faq/versions/0003.json") != saved["0003.json"]:
                time.sleep(0.5)
            assert repo.private and repo.files["datasets/faq/versions/0003.json"] == saved["0003.json"]
            page.context.close()
        finally:
            stop_studio(server)

        shutil.rmtree(home)  # Community Cloud's restart: a new disk
        server = start_studio(home, tmp_path / "second.log", env=env, entry="cloud/Home.py")
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(60_000)
            go(page, server, "Dataset")
            assert page.get_by_text("faq").count() == 0  # a new visitor's workspace: nothing of Alice's yet
            give_token(page, TOKEN)
            page.get_by_text("Synced to alice/slm-studio-workspace").wait_for()
            page.get_by_test_id("stSelectbox").filter(has_text="Dataset").first.click()
            page.get_by_role("option").filter(has_text="faq").click()
            wait_idle(page)
            page.get_by_text("All changes saved (version 3).").wait_for()
            (dataset,) = [d for d in (home / "visitors").glob("h-*/datasets/faq") if d.is_dir()]
            assert {f"000{n}.json": (dataset / "versions" / f"000{n}.json").read_bytes() for n in (1, 2, 3)} == saved
            page.context.close()
        finally:
            stop_studio(server)
    assert hub.unknown == []


def download(page, button: str) -> bytes:
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name=button).click()
    return Path(dl.value.path()).read_bytes()


def test_each_visitor_downloads_their_own_dataset_from_the_export_tab_even_under_the_same_name(browser, cloud, tmp_path):
    """The export is made when the button is pressed, on a thread of Streamlit's own: it must still read the
    workspace of the visitor who pressed it (two visitors' datasets here share the id ``faq``)."""
    visitors = {}
    for who in ("alice", "bob"):
        src = tmp_path / who / "faq.jsonl"
        src.parent.mkdir()
        src.write_text("".join(json.dumps({"question": f"{who.title()}'s question {n}?", "answer": f"{who} {n}"}) + "\n"
                               for n in (1, 2)), encoding="utf-8")
        page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
        page.set_default_timeout(60_000)
        go(page, cloud, "Dataset")
        import_file(page, src, "Read 2 records as JSONL.")
        visitors[who] = page
    for who, page in visitors.items():
        page.get_by_role("tab", name="Export").click()
        wait_idle(page)
        got = [json.loads(line) for line in download(page, "Download JSONL").decode().splitlines()]
        assert got == [{"question": f"{who.title()}'s question {n}?", "answer": f"{who} {n}"} for n in (1, 2)], who
        with zipfile.ZipFile(io.BytesIO(download(page, "messages + dataset_info.json (zip)"))) as zipped:
            assert f"{who.title()}'s question 2?" in zipped.read("faq-v1.messages.jsonl").decode()
        assert_no_exception(page)
        page.context.close()


def cut_off(element) -> list[str]:
    """The parts of ``element`` whose text runs past their width (cut, or an ellipsis)."""
    return element.evaluate("el => [el, ...el.querySelectorAll('*')].filter(e => e.scrollWidth > e.clientWidth + 1)"
                            ".map(e => e.className)")


def test_the_forget_button_of_a_token_given_in_the_sidebar_shows_its_whole_label(browser, tmp_path):
    """Beside its caption in the sidebar the button was cut to "F…": a visitor could not tell what it did. Home's
    path through the studio cut Chat's line too ("… or a question over a pass") in a laptop's 1280-pixel-wide window:
    a link's label is one line."""
    s = start_studio(tmp_path / "home", tmp_path / "streamlit.log", entry="cloud/Home.py")
    try:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        go(page, s)
        expect(page.get_by_test_id("stPageLink")).to_have_count(3, timeout=30_000)  # drawn in turn: all, then read
        links = page.get_by_test_id("stPageLink").all()
        assert [link.inner_text().split(":")[0].split()[-1] for link in links] == ["Dataset", "Chat", "Evaluate"]
        assert [cut_off(link) for link in links] == [[], [], []], [link.inner_text() for link in links]
        field = page.get_by_label("Your Hugging Face token", exact=True)
        field.fill(TOKEN)
        field.press("Enter")
        wait_idle(page)
        button = page.get_by_test_id("stSidebar").get_by_role("button", name="Forget")
        expect(button).to_have_text("Forget", use_inner_text=True, timeout=30_000)
        cut = cut_off(button)
        assert cut == [], f"the label is cut off (an ellipsis): {cut}"
        page.context.close()
    finally:
        stop_studio(s)


def test_home_says_the_token_is_refused_as_soon_as_the_sync_learns_it_without_a_click(browser, tmp_path):
    """The sync (in its own thread) learnt that the Hub refused the token (revoked on huggingface.co), and Home went
    on saying *Hub token: yours* until the visitor's next click: the sidebar's sync line said the sync failed below a
    page that said all was well."""
    from studio import config
    from studio.data import store

    env = {"HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp_path / "hf")}
    with standin_hub() as hub:
        hub.users[TOKEN] = ("alice", "write")
        env["HF_ENDPOINT"] = hub.url
        server = start_studio(tmp_path / "home", tmp_path / "streamlit.log", env=env, entry="cloud/Home.py")
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(120_000)
            go(page, server)
            give_token(page, TOKEN)
            page.get_by_text("Synced to alice/slm-studio-workspace").wait_for()
            hub_token = page.get_by_test_id("stMetric").filter(has_text="Hub token")
            expect(hub_token).to_contain_text("yours", timeout=30_000)
            hub.refused[TOKEN] = 401  # revoked on huggingface.co
            (ws,) = (tmp_path / "home" / "visitors").glob("h-*")
            with config.use_workspace(ws):  # a save the sync commits within seconds
                store.create_dataset("Made after", [{"question": "q?", "answer": "a"}])
            page.get_by_test_id("stSidebar").get_by_text("That Hugging Face token was refused").wait_for()
            # no click, no reload: Home says so too
            page.get_by_text("The Hub refused the token you gave").wait_for(timeout=30_000)
            expect(hub_token).to_contain_text("refused", timeout=30_000)
            assert_no_exception(page)
            page.context.close()
        finally:
            stop_studio(server)


def test_after_clearing_the_workspace_its_popover_is_closed(browser, cloud):
    """Clear redrew the page with the fresh workspace and its popover still open, "Delete everything in it" one click
    away from deleting the new sample too. The popover is closed after a clear."""
    page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    page.set_default_timeout(60_000)
    go(page, cloud)
    page.get_by_text("Soccer rules (sample)").first.wait_for(state="attached")
    page.get_by_test_id("stSidebar").get_by_role("button", name="Clear this workspace").click()
    after_rerun(page, page.get_by_role("button", name="Delete everything in it").click)
    wait_idle(page)
    page.get_by_text("Soccer rules (sample)").first.wait_for(state="attached")  # the fresh workspace, drawn
    page.wait_for_timeout(1000)  # a popover drawn open is open by now
    expect(page.get_by_role("button", name="Delete everything in it")).to_be_hidden(timeout=30_000)  # closed by the delete's rerun, drawn late under load
    assert_no_exception(page)
    page.context.close()
