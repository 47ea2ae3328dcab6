"""User text in Streamlit's Markdown (``markdown_literal``) renders as typed, on every line of it."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt  # CommonMark, as Streamlit's Markdown renders it

from studio.data.display import NO_LINK, markdown_literal

COMMONMARK = MarkdownIt("commonmark")
GFM = MarkdownIt("commonmark").enable(["table", "strikethrough"])  # Streamlit adds GitHub's tables and strikes


def _text(html: str) -> str:
    text = re.sub(r"<[^>]+>", "", html).replace("&gt;", ">").replace("&lt;", "<").replace("&quot;", '"')
    # the word joiner is invisible; NO_LINK is an empty span in Streamlit (CommonMark here knows no directive)
    return text.replace("&amp;", "&").replace("\u2060", "").replace(NO_LINK, "")


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


@pytest.mark.parametrize("text", [
    "faq\n\n    four spaces after a blank line", "faq\n\n\ta tab after a blank line", "    the first line\nfaq",
    "faq\n\n  \tmixed\n\n        eight", "faq\r\n\r\n    after CRLF"])
def test_an_indent_after_a_blank_line_is_text_not_a_code_block(text):
    """Four spaces or a tab at the start of a line after a blank line made an indented code block."""
    html = COMMONMARK.render(markdown_literal(text))
    assert not re.search(r"<(pre|code)\b", html), html
    assert _text(html).split() == text.split()


@pytest.mark.parametrize("text", [
    "a|b\n|---|---|\n|1|2|", "| a | b |\n|:--|--:|\n| 1 | 2 |", "R&amp;D &copy; &#65; &#x42;", "use `a*b` here",
    "``", "path C:\\data\\\nnext", "__init__ and __u__", "_a_ b_", "~~gone~~", "- [ ] task", "<b>bold</b>",
    "[^1] and\n\n[^1]: a note", "[x]: http://example.com", "***", "___", "a\n\n```\ncode\n```", "~~~\nfence\n~~~"])
def test_tables_entities_code_spans_and_hard_breaks_show_as_typed(text):
    """A leading pipe made a table, "&amp;" showed as "&", a code span showed the escapes inside it as
    backslashes, and a backslash at the end of a line became a line break and vanished."""
    html = GFM.render(markdown_literal(text))
    assert not re.search(r"<(h\d|ul|ol|li|blockquote|pre|code|table|em|strong|s|del|a|hr|img|b)\b", html), html
    assert "<br" not in html
    assert _text(html).split() == text.split()


@pytest.mark.parametrize(("text", "url"), [
    ("Copy https://huggingface.co/settings/tokens and paste it.", "https://huggingface.co/settings/tokens"),
    ("Cannot reach http://127.0.0.1:8000/v1: is the server running?", "http://127.0.0.1:8000/v1"),
    ("(see www.example.com/a_b*c)", "www.example.com/a_b*c"), ("write to ops@example.org.", "ops@example.org"),
    ("https://x.y/q?a=1&b=2|c", "https://x.y/q?a=1&b=2")])
def test_a_url_is_no_link_and_copies_as_typed(text, url):
    """An invisible word joiner inside "http://", "www." and "a@b" kept a URL from being linked, but it stayed in
    what a person copied from the page, so the URL pasted into a browser or a terminal failed; a code span then kept
    it whole, but showed a URL in a dataset's name in code font on the Train page: not the name as typed."""
    html = GFM.render(markdown_literal(text))
    assert "\u2060" not in html and "<a" not in html and "<code" not in html, html
    assert url in _text(html)  # whole and as typed, in the text's own font: only empty spans inside
    assert _text(html).split() == text.split()


def test_an_underscore_inside_a_word_is_left_alone():
    assert markdown_literal("STUDIO_HOME and snake_case_name") == "STUDIO_HOME and snake_case_name"


def test_a_colon_in_a_model_spec_or_hub_id_is_left_as_typed():
    """Every colon before a letter got an invisible character, so "someone/qa:big" copied from an error was not
    the id the person typed (and tests reading the message missed it); only Streamlit's own directive names and
    shortcode shapes need anything."""
    for text in ("someone/mixed-qa:big", "model:smol and run:20261205-abc", "api:m", "C:/data"):
        assert markdown_literal(text) == text


@pytest.mark.parametrize(("text", "spec"), [
    ("Cannot load api:qa:deepset/roberta-base-squad2: no network.", "api:qa:deepset/roberta-base-squad2:"),
    ("the id x:smile:y", "x:smile:y")])
def test_a_model_spec_with_a_shortcode_shape_copies_as_typed(text, spec):
    """A word joiner after the first colon kept "api:qa:x" from turning into an emoji, but a person copying the spec
    from an error into the command line or the model box pasted the invisible character with it."""
    html = GFM.render(markdown_literal(text))
    assert "\u2060" not in html and "<code" not in html
    assert spec in _text(html) and _text(html).split() == text.split()


def test_an_error_quoting_a_server_marks_its_controls_as_the_command_line_writes_them():
    """An error on the page quoting a server's "\\x1b[31mred" showed "[31mred", its ESC unseen, where the command line
    wrote "[U+001B][31mred"; a bell, a lone carriage return, DEL and C1 controls likewise. The page's errors and the
    command line now mark the same characters the same way."""
    from studio.data.display import for_terminal

    said = "refused (400): \x1b[31mred\x1b]0;title\x07 a\rb \x7f\x9b \u202eok\x00 done\r\nnext\tcol"
    html = COMMONMARK.render(markdown_literal(said))
    for mark in ("[U+001B]", "[U+0007]", "[U+000D]", "[U+007F]", "[U+009B]", "[U+202E]", "[U+0000]"):
        assert mark in html and mark in for_terminal(said)
    assert not any(c in html for c in "\x1b\x07\r\x7f\x9b\u202e\x00")
    assert "a[U+000D]b" in html and "next\tcol" in html and "done\nnext" in html  # a line end and a tab as they are


def test_a_model_s_answer_marks_its_controls_as_the_command_line_writes_them():
    """An answer holding "\\x1b[31mred" showed "[31mred" on the page (its ESC drawn as nothing; a bell, a lone
    carriage return, DEL and C1 controls likewise) where the command line wrote "[U+001B][31mred". The page's answer
    and record blocks now mark the same characters the same way, a run of them in one dim mark; line ends and tabs
    stay as they are."""
    from studio.data.display import for_terminal, highlighted_block, text_block

    said = "<b>\x1b[31mred\x1b]0;title\x07 a\rb \x7f\x9b \u202eok\x00 done\r\nnext\tcol"
    block = text_block(said)
    text = re.sub(r"<[^>]+>", "", block.replace("<br>", "\n")).replace("&lt;", "<").replace("&gt;", ">")
    assert text == for_terminal(said)  # every mark the command line writes, in its place
    assert "[U+001B][31mred" in text and "a[U+000D]b" in text and "done\nnext\tcol" in text
    assert '<span style="opacity: 0.6">[U+007F][U+009B]</span>' in block and "<b>" not in block
    assert not any(c in block for c in "\x1b\x07\r\x7f\x9b\u202e\x00")
    passage = highlighted_block([("say \x1b[2J", False), ("here\x07", True), (" done\r\nnext", False)])
    assert "say [U+001B][2J<mark>here" in re.sub(r"</?span[^>]*>", "", passage) and "[U+0007]" in passage
    assert "done<br>next" in passage and not any(c in passage for c in "\x1b\x07\r")
