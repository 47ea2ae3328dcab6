"""Record text and model output shown as text, never as Markdown: a link, an image or formatting in
the data is displayed literally and nothing is loaded from its URL.

The text is HTML-escaped and placed in one HTML block (line breaks as ``<br>``, so no blank line
ends the block): Markdown is not parsed inside an HTML block, so there is no image, no link and no
autolinked URL, whatever the text holds. Short text inside Streamlit's own Markdown (a name in an
error) goes through ``markdown_literal`` instead: every mark that CommonMark, GitHub's tables and
autolinks or Streamlit's additions (math, emoji shortcodes, icons, colour directives) would read is
escaped or split by an invisible character, and a URL goes in a code span (tests/e2e/test_markdown_e2e.py renders
each in a browser).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from studio import jobs


def plural(n: int, word: str) -> str:
    """``1 record``, ``0 records``, ``1,200 warnings``."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# Characters that change how the rest of a line is drawn (bidi embeddings, overrides and isolates: "probe \u202e ok"
# was shown "probe ko", a Trojan Source reordering), that a browser draws as "\ufffd" (NUL) or draws as nothing (ESC,
# a bell, a lone \r, DEL, C1 controls: an answer's "\x1b[31mred" showed "[31mred" where the command line wrote
# "[U+001B][31mred"): shown as their code point in a dim mark, as the command line writes them (``code_points``,
# ``_DRIVING``), so what is shown reads in the order it was typed; the text itself is kept as it was. A line end
# and a tab are kept as they are.
MARKED_RUNS = 200  # of one block, drawn dim; the rest as plain text
"""How many runs of controls one block draws in a dim mark (an element each): a paste of 25,000 direction controls
drew 25,000 elements, which the browser took 10 s to draw after it was sent, and 8 s at each reload (the same text
with plain marks: 1 s and 2 s; Chromium on this 2-core machine)."""


def _visible(escaped: str) -> str:
    """Escaped HTML (Windows line ends made ``\\n`` already) with each control that ``code_points`` marks as a
    visible, neutral ``[U+XXXX]``: a run of them in one dim mark, the first ``MARKED_RUNS`` runs; past them, as
    plain text."""
    runs = 0

    def dim(marks: str) -> str:
        nonlocal runs
        runs += 1
        return f'<span style="opacity: 0.6">{marks}</span>' if runs <= MARKED_RUNS else marks

    return code_points(escaped, dim)


def text_block(text: str, prefix_html: str = "") -> str:
    """``text`` as one literal HTML block for ``st.markdown(..., unsafe_allow_html=True)``;
    ``prefix_html`` is trusted markup put before it (a bold label)."""
    body = _visible(html.escape(str(text).replace("\r\n", "\n"))).replace("\n", "<br>")
    return f'<div style="white-space: pre-wrap; margin-bottom: 1rem">{prefix_html}{body}</div>'


def highlighted_block(pieces: list[tuple[str, bool]]) -> str:
    """A passage as one literal HTML block with its highlighted pieces in ``<mark>`` (``True`` pieces,
    as ``studio.chat.passage.segments`` gives them); every piece is escaped, so the passage is never markup."""
    body = "".join(f"<mark>{html.escape(t)}</mark>" if hl else html.escape(t) for t, hl in pieces)
    body = _visible(body.replace("\r\n", "\n")).replace("\n", "<br>")
    return f'<div style="white-space: pre-wrap; margin-bottom: 1rem">{body}</div>'


def html_block(trusted_html: str) -> str:
    """Already-escaped HTML (``diff_html``'s) as one block, so Markdown never parses inside it."""
    return f'<div style="margin-bottom: 1rem">{trusted_html}</div>'


# Only what would become markup: a backslash before punctuation or a line break (a hard break), emphasis and
# strike marks, brackets (links, images, footnotes), angle brackets (autolinks, HTML), dollars (math), a pipe
# (a table's cell), a backtick (a code span, inside which the other escapes would show), an "&" that would
# start an entity ("&amp;", "&#65;") and an underscore at either end of a word or beside another one. An
# underscore inside a word (STUDIO_HOME) stays as it is, so messages read as written.
_MD_SPECIAL = re.compile(r"\\(?=[!-/:-@\[-`{-~\r\n])|[*\[\]<>~$|`]|&(?=#?\w+;)|(?<![^\W_])_|_(?![^\W_])")
# What starts a block at the start of any line (a label or an error quoting one can hold line breaks): a
# heading "#", a quote ">", a list "-", "+" or "1." / "1)" (before a space or the line's end: "0.12" is no
# list), the "===" / "---" under a line that makes it a heading. Its mark is escaped.
_BLOCK_START = re.compile(r"(?m)^([ \t]*)(?:([#>+=-])|(\d{1,9})([.)])(?=[ \t]|$))")
# A line's indent: four spaces or a tab after a blank line make an indented code block, so the indent is
# written as no-break spaces, which Markdown does not count as indentation (and shows as typed).
_INDENT = re.compile(r"(?m)^[ \t]+")
# A colon that Streamlit would read as markup: before one of its directive names (":red" alone hides the word,
# ":small", ":blue-background"; a name before "[" is no directive once the bracket is escaped) or starting a line
# ("::leaf", ":::container" blocks) is escaped, which its renderer removes as CommonMark does. Emoji shortcodes
# (":smile:", ":+1:") and icons (":material/home:") are read from the rendered text, escaped or not, so a colon
# before a name and another colon gets an invisible character instead. A colon elsewhere ("repo:config",
# "model:smol") is left as typed, so what a person copies from the page is what they typed.
_DIRECTIVE = re.compile(r"(?i):(?=(?:red|orange|yellow|green|blue|violet|gr[ae]y|rainbow|primary|small)\b)")
_BLOCK_DIRECTIVE = re.compile(r"(?m)^([ \t]*)(::+)")
_SHORTCODE = re.compile(r":(?=[\w+/-]+:)")
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9]:)(?=//)|(?<=www)(?=\.)|(?<=\w@)(?=\w)")
WORD_JOINER = "\u2060"  # invisible and unbreakable: splits a "http://", "www." or "a@b" left over, and ":m:"
# A backslash escape ("http\://", "www\.", "a\@b") or an entity ("&#58;") does not stop Streamlit's renderer (1.67,
# checked in Chromium): it folds them into the text before its GFM autolink pass, which links "http://x.y" anyway.
# Only markup or a character between the parts does, and a character stays in what a person copies (a URL with
# an invisible joiner inside fails when pasted). So a URL, "www." address or e-mail address is split by an empty
# span of Streamlit's own Markdown (``NO_LINK``) before each colon and "@" and inside each "www.": no piece of text is
# left that its renderer links, the span shows nothing and adds nothing to what a person copies, and the address
# keeps the font of the text around it (a code span, tried before, showed a URL in a dataset's name in code font). So
# does a word holding an emoji shortcode's shape (a model spec "api:qa:deepset/x"): split before its colons, it makes
# no emoji, and no invisible character stays after a colon.
_LINKABLE = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)[^\s<>`|\\\u2060]*[^\s<>`|\\\u2060.,;:!?'\")\]}*_~]"
                       r"|[\w.+-]+@\w[\w-]*(?:\.\w[\w-]*)+"
                       r"|[^\s<>`|\\\u2060]*:[\w+-]*[a-z][\w+-]*:[^\s<>`|\\\u2060]*")  # a shortcode shape ("api:qa:x"), split too
_SLOT = re.compile("\ue000(\\d+)\ue001")  # where an address goes back in, after the rest is escaped
NO_LINK = ":small[]"  # an empty span in Streamlit's Markdown (``:small[text]`` makes text small): splits an address
_SPLIT = re.compile(r"(?i)(?<=[^:])(?=:)|^(?=:)|(?=@)|(?<=www)(?=\.)")  # where ``NO_LINK`` goes in an address
NO_BREAK_SPACE = "\u00a0"
TAB_STOP = 4


def markdown_literal(text: object) -> str:
    """User text (a dataset or file name, a model id, an error quoting them) for Streamlit's Markdown
    (``st.error``, ``st.caption``...): shown as typed, never formatting, a code block, a table, math, an entity, an
    emoji shortcode ("api:m:"), an icon, a colour, a link or an image; a text-direction control, NUL, ESC or another
    control but line feed and tab is shown as its code point (``[U+202E]``, ``[U+001B]``), as the command line writes
    it, so the line reads in the order it was typed. A URL or e-mail address is split by
    empty spans (``NO_LINK``), so it is no link and shows and copies as typed, in the font of the text around it; so
    is a word with a shortcode's shape ("api:qa:x")."""
    # a text-direction control, NUL, ESC or another control as its code point, as the command line writes it
    # (``code_points``): a model name or an error quoting one drew the rest of its line reversed, and an error quoting
    # a server's "\x1b[31mred" showed "[31mred" (its ESC unseen) where the command line wrote "[U+001B][31mred"
    text = code_points(str(text).replace("\r\n", "\n"))
    spans: list[str] = []
    if "\ue000" not in text and "\ue001" not in text:  # private-use marks: never in a name or message
        text = _LINKABLE.sub(lambda m: _slot(spans, m.group(0)), text)
    escaped = _BLOCK_START.sub(_escape_block_start, _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text))
    escaped = _BLOCK_DIRECTIVE.sub(lambda m: m.group(1) + "\\:" * len(m.group(2)), _DIRECTIVE.sub(r"\\:", escaped))
    escaped = _INDENT.sub(lambda m: NO_BREAK_SPACE * _columns(m.group(0)), escaped)
    escaped = _AUTOLINK.sub(WORD_JOINER, _SHORTCODE.sub(":" + WORD_JOINER, escaped))
    return _SLOT.sub(lambda m: _unlinked(spans[int(m.group(1))]), escaped) if spans else escaped


def _unlinked(address: str) -> str:
    """A URL, e-mail address or shortcode-shaped word for Markdown: each piece between the places ``_SPLIT`` finds
    escaped as text, the pieces joined by ``NO_LINK``."""
    pieces = _SPLIT.split(address)
    return NO_LINK.join(_DIRECTIVE.sub(r"\\:", _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), piece)) for piece in pieces)


def _slot(spans: list[str], url: str) -> str:
    spans.append(url)
    return f"\ue000{len(spans) - 1}\ue001"


def _escape_block_start(m: re.Match) -> str:
    indent, mark, number, dot = m.groups()
    return f"{indent}\\{mark}" if mark else f"{indent}{number}\\{dot}"


def _columns(indent: str) -> int:
    """How many columns an indent of spaces and tabs takes (a tab goes to the next multiple of four)."""
    col = 0
    for ch in indent:
        col = col + TAB_STOP - col % TAB_STOP if ch == "\t" else col + 1
    return col


# What drives a terminal instead of being read, in a model's text on the command line: C0 controls but line feed and
# tab, DEL, C1 controls (ESC's 8-bit forms), and the direction controls (``jobs.BIDI_CONTROLS``); the page marks the same
_DRIVING = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + "".join(sorted(jobs.BIDI_CONTROLS)) + "]+")


def for_terminal(text: str) -> str:
    """A model's text as the command line writes it: each control that would drive the terminal as its code point
    (``[U+001B]``), as the page marks direction controls; a Windows line end (``\\r\\n``) as a line end. An answer
    holding ``\\x1b[2J`` cleared the screen, ``\\x1b]0;...\\x07`` retitled the window, ``\\r`` wrote over the
    line's start."""
    return code_points(text.replace("\r\n", "\n"))


def code_points(text: str, wrap: Callable[[str], str] | None = None) -> str:
    """``text`` with each control that would drive a terminal or reorder a line (``_DRIVING``) as its code point
    (``[U+001B]``): the one marking of the command line (``for_terminal``), the page's errors and names
    (``markdown_literal``) and its record and answer text (``text_block``, whose ``wrap`` draws each run dim)."""
    if not _DRIVING.search(text):
        return text
    return _DRIVING.sub(lambda m: (wrap or str)("".join(f"[U+{ord(c):04X}]" for c in m.group(0))), text)


class TerminalStream:
    """``for_terminal`` for a text that comes in pieces: a ``\r`` ending a piece waits for the next, so a Windows
    line end split across two pieces is a line end (it was written "[U+000D]" and a line break). ``feed`` each
    piece; ``end()`` writes what waits, when the text ends or fails."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, piece: str) -> str:
        text, self._pending = self._pending + piece, ""
        if text.endswith("\r"):
            text, self._pending = text[:-1], "\r"
        return for_terminal(text)

    def end(self) -> str:
        text, self._pending = self._pending, ""
        return for_terminal(text)
