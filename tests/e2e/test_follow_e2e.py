"""``ui.follow`` in a real browser: a box that follows a suggestion shows the new one, not the last one it showed."""

from __future__ import annotations

import textwrap

import pytest

from tests.e2e.conftest import REPO, after_rerun, assert_no_exception, open_page, start_studio, stop_studio

pytestmark = pytest.mark.e2e

APP = textwrap.dedent('''
    import streamlit as st

    from studio import ui

    size = st.radio("Dataset", ["small", "large"], key="size")
    large = size == "large"
    ui.follow("gc", large)
    gc = ui.kept(st.checkbox, "Gradient checkpointing", "gc", large)
    ui.follow("targets", "q_proj,v_proj" if large else "all-linear")
    targets = ui.kept(st.text_input, "Target modules", "targets", "all-linear")
    st.write(f"trains with checkpointing {gc} on {targets}")
''')


def test_a_box_that_follows_a_suggestion_shows_it_and_trains_with_it_after_the_next_click(browser, tmp_path):
    """Where a suggestion moved (another dataset's, another base model's) and the person had not changed the box, the
    page took the new value but the browser's box kept showing the last one (a box known by its key is never told of
    a new starting value), and sent it back at the next click. The box shows the new value and the page keeps it."""
    from playwright.sync_api import expect

    app = tmp_path / "follow_app.py"
    app.write_text(APP)
    studio = start_studio(tmp_path / "home", tmp_path / "streamlit.log", env={"PYTHONPATH": str(REPO)},
                          entry=str(app))
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    page = context.new_page()
    try:
        open_page(page, studio)
        box, targets = page.get_by_role("checkbox", name="Gradient checkpointing"), page.get_by_label("Target modules")
        expect(box).not_to_be_checked()
        after_rerun(page, page.get_by_text("large", exact=True).click)
        expect(box).to_be_checked(timeout=30_000)
        expect(targets).to_have_value("q_proj,v_proj", timeout=30_000)
        after_rerun(page, page.get_by_text("small", exact=True).click)  # followed back, then another click
        expect(box).not_to_be_checked(timeout=30_000)
        expect(targets).to_have_value("all-linear", timeout=30_000)
        after_rerun(page, page.get_by_text("large", exact=True).click)
        expect(page.get_by_text("trains with checkpointing True on q_proj,v_proj")).to_be_visible(timeout=30_000)
        expect(box).to_be_checked()
        assert_no_exception(page)
    finally:
        context.close()
        stop_studio(studio)
