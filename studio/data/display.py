"""Record text and model output shown as text, never as Markdown: a link, an image or formatting in
the data is displayed literally and nothing is loaded from its URL.

The text is HTML-escaped and placed in one HTML block (line breaks as ``<br>``, so no blank line
ends the block): Markdown is not parsed inside an HTML block, so there is no image, no link and no
autolinked URL, whatever the text holds.
"""

from __future__ import annotations

import html
import re


def plural(n: int, word: str) -> str:
    """``1 record``, ``0 records``, ``1,200 warnings``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def text_block(text: str, prefix_html: str = "") -> str:
    """``text`` as one literal HTML block for ``st.markdown(..., unsafe_allow_html=True)``;
    ``prefix_html`` is trusted markup put before it (a bold label)."""
    body = html.escape(str(text)).replace("\r\n", "\n").replace("\n", "<br>")
    return f'<div style="white-space: pre-wrap; margin-bottom: 1rem">{prefix_html}{body}</div>'


def highlighted_block(pieces: list[tuple[str, bool]]) -> str:
    """A passage as one literal HTML block with its highlighted pieces in ``<mark>`` (``True`` pieces,
    as ``studio.chat.passage.segments`` gives them); every piece is escaped, so the passage is never markup."""
    body = "".join(f"<mark>{html.escape(t)}</mark>" if hl else html.escape(t) for t, hl in pieces)
    body = body.replace("\r\n", "\n").replace("\n", "<br>")
    return f'<div style="white-space: pre-wrap; margin-bottom: 1rem">{body}</div>'


def html_block(trusted_html: str) -> str:
    """Already-escaped HTML (``diff_html``'s) as one block, so Markdown never parses inside it."""
    return f'<div style="margin-bottom: 1rem">{trusted_html}</div>'


# Only what would become markup: a backslash before punctuation, emphasis and strike marks, brackets
# (links, images), angle brackets (autolinks) and dollars (math). An underscore inside a word
# (STUDIO_HOME) and a backtick (a code span, harmless) stay as they are, so messages read as written.
_MD_SPECIAL = re.compile(r"\\(?=[!-/:-@\[-`{-~])|[*\[\]<>~$]|(?<!\w)_|_(?!\w)")
# What starts a block at the start of any line (a label or an error quoting one can hold line breaks): a
# heading "#", a quote ">", a list "-", "+" or "1." / "1)", the "===" / "---" under a line that makes it a
# heading, a code fence "```". Its mark is escaped; an indent before it is kept.
_BLOCK_START = re.compile(r"(?:\A|(?<=[\r\n]))([ \t]*)(?:([#>+=-]|```)|(\d{1,9})([.)]))")
_SHORTCODE = re.compile(r":(?=[\w+-]+:)")  # ":m:" in "api:m:" would be an emoji
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9]:)(?=//)|(?<=www)(?=\.)|(?<=\w@)(?=\w)")
WORD_JOINER = "\u2060"  # invisible and unbreakable: splits "http://", "www.", "a@b" and ":m:" so nothing is linked


def markdown_literal(text: object) -> str:
    """User text (a dataset or file name, a model id, an error quoting them) for Streamlit's Markdown
    (``st.error``, ``st.caption``...): shown as typed, never formatting, an emoji shortcode ("api:m:"),
    a link (a bare URL or e-mail address) or an image."""
    escaped = _BLOCK_START.sub(_escape_block_start, _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), str(text)))
    return _AUTOLINK.sub(WORD_JOINER, _SHORTCODE.sub(":" + WORD_JOINER, escaped))


def _escape_block_start(m: re.Match) -> str:
    indent, mark, number, dot = m.groups()
    return f"{indent}\\{mark}" if mark else f"{indent}{number}\\{dot}"
