"""User text through ``markdown_literal`` renders as typed in Streamlit's own Markdown, in a real browser:
Streamlit's renderer adds to CommonMark what a Python renderer cannot check (GitHub tables and autolinks,
math, emoji shortcodes, Material icons, colour directives), so each sample goes through ``st.markdown`` there."""

from __future__ import annotations

import json
import os
import re

from playwright.sync_api import expect

from tests.e2e.conftest import REPO, start_studio, stop_studio, wait_idle

SAMPLES = [
    "faq\n\n    four spaces after a blank line", "faq\n\n\ta tab after a blank line", "a\n\n      deep\n  two",
    "Title\n===", "Title\n---", "a|b\n|---|---|\n|1|2|", "a | b\n--|--\n1|2", "x $a+b$ y $$c$$",
    "ok :smile: :+1: :material/home: end", "x:smile:y", ":red[colored] and :blue-background[bg]", "x:red y", ":red",
    ":::note\ninside\n:::", "::leaf[x]", "note[^1]\n\n[^1]: the note", "R&amp;D &copy; &#65;", "<div>html</div>",
    "use `a*b` here", "path C:\\data\\\nnext", "**bold** _it_ __u__", "~~strike~~", "- [ ] task", "* * *",
    "www.example.com http://x.y a@b.co", "# heading\n> quote\n1. list", "x:big[y]", ":small[t]",
    "x:red-background[t] a:primary[b] :orange-badge[c]", "  ::leaf[x]", "x:violet y", "someone/mixed-qa:big",
]
APP = """
import json, os
import streamlit as st
from studio.data.display import markdown_literal
for i, text in enumerate(json.loads(os.environ["SAMPLES"])):
    with st.container(key=f"sample-{i}"):
        st.markdown(markdown_literal(text))
"""
# What Markdown would have made of the text: any element but a paragraph, a line break or a plain span; a
# coloured span; an icon or emoji image; a code span (a URL in one showed in code font: it is split by empty spans)
MARKUP = re.compile(r"<(?!/?(p|br|span)\b)[a-z]|stMarkdownColored|role=\"img\"")
URLS = {"see https://huggingface.co/settings/tokens.": "https://huggingface.co/settings/tokens",
        "server http://127.0.0.1:8000/v1: down": "http://127.0.0.1:8000/v1", "mail ops@example.org now": "ops@example.org",
        "load api:qa:deepset/roberta-base-squad2 failed": "api:qa:deepset/roberta-base-squad2",
        "the id x:smile:y here": "x:smile:y"}  # a shortcode's shape: no emoji, and no invisible character copied
SAMPLES += list(URLS)


def test_user_text_renders_as_typed_in_streamlit_s_markdown(browser, tmp_path):
    """An indent after a blank line made a code block, ":red" hid the word after it, ":material/home:" became
    an icon, a leading pipe a table, "&amp;" an "&", a ":::" line a box, a backslash at a line's end a break."""
    (tmp_path / "app.py").write_text(APP)
    studio = start_studio(tmp_path / "home", tmp_path / "streamlit.log", entry=str(tmp_path / "app.py"),
                          env={"SAMPLES": json.dumps(SAMPLES), "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    try:
        page = context.new_page()
        page.goto(studio.url)
        wait_idle(page)
        wrong = []
        for i, text in enumerate(SAMPLES):
            shown = page.locator(f".st-key-sample-{i} [data-testid='stMarkdownContainer']")
            expect(shown).to_have_count(1, timeout=30_000)  # the run may end before the browser draws every block
            html, seen = shown.inner_html(), shown.inner_text().replace("\u2060", "")
            if MARKUP.search(html) or seen.split() != text.split():
                wrong.append(f"{text!r} showed {seen!r}: {html[:200]}")
            if text in URLS and URLS[text] not in shown.inner_text():  # what a person copies: no joiner inside
                wrong.append(f"{text!r}: {URLS[text]!r} is not in the text a person copies: {shown.inner_text()!r}")
        assert not wrong, "\n".join(wrong)
    finally:
        context.close()
        stop_studio(studio)
