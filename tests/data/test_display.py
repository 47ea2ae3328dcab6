"""User text in Streamlit's Markdown (``markdown_literal``) renders as typed, on every line of it."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt  # CommonMark, as Streamlit's Markdown renders it

from studio.data.display import markdown_literal

COMMONMARK = MarkdownIt("commonmark")


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&")


@pytest.mark.parametrize("label", [
    "# top", "faq v2\n# not a heading", "faq\n> not a quote", "faq\n- not\n+ a list", "faq\n1. not\n2) a list",
    "faq\n  # indented", "Title\n===", "Title\n---", "faq\r\n# after CRLF", "faq\n```\ncode\n```", "faq\n12. twelve"])
def test_a_label_s_lines_stay_one_paragraph_of_its_own_text(label):
    """A second line starting with "#", ">", "-", "+" or "1." in a name became a heading, a quote or a list."""
    html = COMMONMARK.render(markdown_literal(label))
    assert html.startswith("<p>") and html.count("<p>") == 1, html  # no heading, list, quote or code block
    assert not re.search(r"<(h\d|ul|ol|li|blockquote|pre|code)\b", html), html
    assert _text(html).split() == label.split()  # every character shown, no backslash left


def test_marks_inside_a_line_are_left_as_typed():
    assert markdown_literal("v1 - v2 # 3. done > all") == "v1 - v2 # 3. done \\> all"
