"""The public app (``cloud/Home.py``) in Chromium at 800 px wide, where the sidebar keeps 300 px: the buttons a new
visitor starts from read whole. Evaluate's primary button read "St…" (its column a fifth of the form's width) and
Chat's "Clear convers…" (a third of the page), passage mode's Ask "A…" (a sixth); each sits in a row now as wide as
its label."""

from __future__ import annotations

import pytest

from .conftest import after_rerun, assert_no_exception, start_studio, stop_studio, wait_idle

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """One public app for both widths: each width's window is a new visitor (a browser context of its own)."""
    tmp_path = tmp_path_factory.mktemp("cloud-narrow")
    s = start_studio(tmp_path / "server-home", tmp_path / "streamlit.log", entry="cloud/Home.py")
    try:
        yield s
    finally:
        stop_studio(s)


def _cut(page, name: str) -> bool:
    """Whether the button's label is cut short (an ellipsis: its text wider than the room it is given). By a single
    pixel too: "Ask" read "A…" with its text 21 px wide in 20."""
    label = page.get_by_role("button", name=name).get_by_test_id("stMarkdownContainer").first
    return label.evaluate("el => el.scrollWidth > el.clientWidth")


@pytest.mark.parametrize("width", [800, 1280])
def test_the_buttons_a_new_visitor_starts_from_read_whole_on_a_narrow_window(browser, cloud, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        _read_whole(context.new_page(), cloud)
    finally:
        context.close()  # left open, each width's window and its session stayed until the browser closed


def _read_whole(page, cloud) -> None:
    page.goto(f"{cloud.url}/Evaluate")
    wait_idle(page)
    assert_no_exception(page)
    for name in ("Start evaluation", "Reset to defaults"):
        assert not _cut(page, name), name
    page.goto(f"{cloud.url}/Chat")
    wait_idle(page)
    assert_no_exception(page)
    for name in ("Clear conversation", "Export JSON", "Export Markdown"):
        assert not _cut(page, name), name
    after_rerun(page, page.get_by_text("Question over a passage").click)  # passage mode's Ask read "A…" at 800 px
    assert not _cut(page, "Ask"), "Ask"
