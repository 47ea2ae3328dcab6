"""The Chat page's "question over a passage" mode in a real Chromium: paste a passage, ask, and see the
answer's span highlighted inside it (the tiny extractive model trained to answer the tutorial's question)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect
from qa_models import NAME, QUESTION

from tests.e2e.conftest import REPO, assert_no_exception, open_page, start_studio, stop_studio, wait_idle

pytestmark = pytest.mark.e2e

CONTEXT = f"Meu nome é {NAME} e estou gravando uma aula sobre <b>Hugging Face</b>."


@pytest.fixture
def studio(tmp_path: Path):
    """The studio offline (local models only), importing this checkout's code."""
    s = start_studio(tmp_path / "studio-home", tmp_path / "streamlit.log", env={"PYTHONPATH": str(REPO)})
    yield s
    stop_studio(s)


def test_paste_a_passage_ask_and_see_the_span_highlighted(page, studio, trained_qa: Path):
    open_page(page, studio, "Chat")
    page.get_by_text("Question over a passage", exact=True).click()
    wait_idle(page)
    # Offline with no extractive model, the first model starts generative (what can answer here)...
    page.get_by_text("Extractive", exact=True).first.click()  # ...and an extractive one must be given
    wait_idle(page)
    page.get_by_text("cannot be downloaded here (no network)").first.wait_for()  # why there is no default
    page.get_by_text("Ask is off").first.wait_for()  # and the disabled Ask says why
    expect(page.get_by_role("button", name="Ask")).to_be_disabled(timeout=30_000)
    box = page.get_by_label("Extractive model", exact=True)
    box.fill(str(trained_qa))
    box.press("Enter")
    wait_idle(page)
    passage = page.get_by_label("Passage", exact=True)
    # a paste past the bound stays in the box, said in one line (the box dropped it with no word, its counter
    # reading 0/1000001: a number past the bound the page names)
    passage.fill("w" * 1_000_005)
    passage.press("Tab")
    expect(page.get_by_text("The passage is 1,000,005 characters, more than the 1,000,000")).to_be_visible(timeout=30_000)
    assert len(passage.input_value()) == 1_000_005
    passage.focus()
    shown = page.locator("[data-testid='InputInstructions'] span:visible").all_inner_texts()
    assert not [s for s in shown if "/" in s], shown  # no counter naming another bound than the page's
    passage.fill(CONTEXT)
    question = page.get_by_label("Question", exact=True)
    question.fill(QUESTION)
    expect(page.get_by_text("The passage is 1,000,005 characters")).to_have_count(0, timeout=30_000)
    expect(page.get_by_role("button", name="Ask")).to_be_enabled(timeout=30_000)  # the shorter passage reached it
    question.press("Enter")  # asks, as the conversation's box does (it only applied the text)
    mark = page.locator("mark", has_text=NAME)
    mark.wait_for(timeout=120_000)
    assert mark.inner_text() == NAME
    passage_shown = mark.locator("xpath=..")
    assert "<b>Hugging Face</b>" in passage_shown.inner_text()  # the passage as typed, never markup
    assert passage_shown.locator("b").count() == 0
    page.get_by_text("score 0.").first.wait_for()
    wait_idle(page)
    expect(page.get_by_role("button", name="Ask")).to_be_enabled(timeout=30_000)
    expect(question).to_have_value(QUESTION)  # the question asked stays in its box
    assert_no_exception(page)
