"""The Duplicates tab in a real Chromium: find duplicates, keep one, undo, keep one, save a version."""

from __future__ import annotations

import pytest

from studio import store

from .conftest import assert_no_exception, open_page, start_studio, stop_studio, wait_idle

pytestmark = pytest.mark.e2e

RECORDS = [
    {"question": "What is offside?", "answer": "A position rule."},
    {"question": "What is ofside?", "answer": "Being past the last defender."},
    {"question": "How long is a match?", "answer": "90 minutes."},
    {"question": "Who restarts after a goal?", "answer": "The team that conceded."},
    {"question": "what is  OFFSIDE", "answer": "A rule <b>about</b> position."},
]


@pytest.fixture
def dup_studio(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("STUDIO_HOME", str(home))
    store.create_dataset("Duplicates demo", RECORDS)
    (home / ".sample-added").write_text("1\n")  # this workspace holds only the demo dataset
    s = start_studio(home, tmp_path / "streamlit.log")
    yield s
    stop_studio(s)


def test_find_keep_undo_keep_save(browser, dup_studio):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        open_page(page, dup_studio, "Dataset")
        page.get_by_role("tab", name="Duplicates").click()
        page.get_by_role("button", name="Find duplicates").click()
        wait_idle(page)
        cluster = page.locator(".st-key-dedup-cluster-0")
        cluster.get_by_text("Cluster 1 · 3 records").wait_for()
        assert cluster.locator("mark").count() > 0  # the differing words are highlighted
        assert cluster.locator("b", has_text="about").count() == 0  # record text is never markup

        keep = cluster.get_by_role("button", name="Keep this one")
        keep.nth(1).click()
        wait_idle(page)
        page.get_by_text("kept 3 of 5").wait_for()
        page.get_by_role("button", name="Undo").click()
        wait_idle(page)
        page.get_by_text("kept 5 of 5").wait_for()
        keep.nth(0).click()
        wait_idle(page)
        page.get_by_text("kept 3 of 5").wait_for()
        page.get_by_role("button", name="Save as new version").click()
        wait_idle(page)
        page.get_by_text("Saved version 2: 3 records.").wait_for()
        assert_no_exception(page)
    finally:
        context.close()
    info = store.list_datasets()[0]
    assert [v.count for v in info.versions] == [5, 3]
    assert store.load_version(info.id) == [RECORDS[0], RECORDS[2], RECORDS[3]]
