"""The Chat page's sidebar and the Evaluate form in a real browser once a restore of the workspace has ended (the
public app): the settings read again show in the browser's boxes, and the next click keeps them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, after_rerun, assert_no_exception, open_page, start_studio, stop_studio

pytestmark = pytest.mark.e2e

# A page itself, with the end of a restore stood in for (a public app's restore needs the Hub): once the test has
# written the workspace's kept file (the repo's copy, come late), the next run finds the page was held by a restore
# that has now ended, as ``cloud.held_by_restore`` leaves it, and the page reads the file again.
APP = textwrap.dedent('''
    import importlib
    import runpy
    from pathlib import Path

    import streamlit as st

    from studio import config

    st.button("Go on")
    if (config.home() / "restore-ended").exists() and not st.session_state.get("restore.seen"):
        st.session_state["restore.seen"] = True
        restoring = importlib.import_module({module!r}).RESTORING
        st.session_state[restoring] = "what the page held as it ran during the restore"
    runpy.run_path(str(Path({repo!r}) / "pages" / {page!r}))
    st.write(f"{key} is {{st.session_state[{key!r}]}}")
''')


def _restored(browser, tmp_path: Path, page_file: str, module: str, key: str, before, keep, after) -> None:
    """``page_file`` opened; ``before(page)`` checks it; ``keep()`` writes its kept file and the restore ends; the next
    click shows ``after(page)`` in the browser, and the page's ``key`` keeps the value the page says after one more."""
    from playwright.sync_api import expect

    from studio import config

    home = tmp_path / "home"
    app = tmp_path / "restore_app.py"
    app.write_text(APP.format(module=module, repo=str(REPO), page=page_file, key=key))
    studio = start_studio(home, tmp_path / "streamlit.log", env={"PYTHONPATH": str(REPO)}, entry=str(app))
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        open_page(page, studio, "")
        before(page)
        with config.use_workspace(home):  # the repo's copy comes, then the restore ends
            keep()
            (home / "restore-ended").write_text("")
        after_rerun(page, page.get_by_role("button", name="Go on").click)
        said = page.get_by_text(f"{key} is ")
        expect(said).to_be_visible(timeout=30_000)
        shown = said.inner_text()
        after(page)
        after_rerun(page, page.get_by_role("button", name="Go on").click)  # the browser's value sent back: the same
        expect(page.get_by_text(shown, exact=True)).to_be_visible(timeout=30_000)
        assert_no_exception(page)
    finally:
        context.close()
        stop_studio(studio)


def test_chat_settings_read_again_after_a_restore_show_in_the_browser_and_stay_after_the_next_click(browser, tmp_path):
    """The page took the kept temperature while the browser's slider kept showing the default, and sent it back at the
    next click: the visitor's settings lost once more."""
    from playwright.sync_api import expect

    from studio import config
    from studio.chat import kept_settings
    from studio.chat.base import ChatParams

    def before(page):
        page.get_by_text("Sampling").click()
        expect(page.get_by_role("slider", name="Temperature")).to_have_value(str(ChatParams().temperature),
                                                                             timeout=30_000)

    def keep():
        (config.home() / "chat").mkdir(parents=True, exist_ok=True)
        kept_settings.save(ChatParams(temperature=0.25), "Custom", "Answer as a referee would.")

    def after(page):
        expect(page.get_by_role("slider", name="Temperature")).to_have_value("0.25", timeout=30_000)  # it showed 0.1
        expect(page.get_by_label("System prompt", exact=True)).to_have_value("Answer as a referee would.")

    _restored(browser, tmp_path, "4_Chat.py", "studio.ui.chat_settings", "chat.temperature", before, keep, after)


def test_the_evaluate_form_read_again_after_a_restore_shows_in_the_browser_and_stays_after_the_next_click(
        browser, tmp_path):
    """The form's Provider box (a ``ui.kept`` one) showed "auto" while the page held the kept one, and sent "auto"
    back at the next click."""
    from playwright.sync_api import expect

    from studio.evaluate import form

    def before(page):
        page.get_by_text("Settings", exact=True).click()
        expect(page.get_by_label("Provider", exact=True)).to_have_value("auto", timeout=30_000)

    def after(page):
        expect(page.get_by_label("Provider", exact=True)).to_have_value("together", timeout=30_000)

    _restored(browser, tmp_path, "5_Evaluate.py", "studio.ui.evaluate_form", "evaluate.provider",
              before, lambda: form.save({"provider": "together"}), after)
