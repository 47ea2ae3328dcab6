"""CSV cells a spreadsheet shows as text, never runs as a formula (CSV injection), and reads back exactly.

The writer (``studio.data.writers.to_csv``) passes every text cell through ``safe_cell``; the reader
(``studio.data.formats``) passes every cell through ``unsafe_cell``, so a studio round trip keeps the text.
"""

from __future__ import annotations

import re

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet reads as a formula at the start of a cell (OWASP's CSV-injection list)."""


_LINE_START = r"(?:^|(?<=[\r\n]))"  # the cell's start and every line start inside it
_FORMULA = _LINE_START + r"('*)(?=[=+\-@\t\r])"
_NEUTRALISED = _LINE_START + r"'('*)(?=[=+\-@\t\r])"


def safe_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: a formula character at the start of the cell or of any
    line inside it gets a ``'`` before it (and a line already starting with ``'`` and one gets one
    more, so the text stays distinct). The studio's own CSV reader removes exactly that ``'`` again,
    so a round trip keeps the exact text."""
    return re.sub(_FORMULA, r"'\1", text)


def unsafe_cell(text: str) -> str:
    """The cell's text as it was before ``safe_cell`` (the CSV reader's side of the round trip)."""
    return re.sub(_NEUTRALISED, r"\1", text) if "'" in text else text
