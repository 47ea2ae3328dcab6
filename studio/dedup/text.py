"""The text dedup compares: a record's chosen field, normalised the same way by every method."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from studio.errors import StudioError

FIELDS = ("question", "answer", "both")

_PUNCT = re.compile(r"[^\w\s]|_")


def normalize(text: str) -> str:
    """Unicode NFKC, case-folded, invisible characters and punctuation removed, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", str(text)).casefold()
    if not text.isprintable():  # invisible characters (a zero-width space, a direction mark) go, not split a word
        text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return " ".join(_PUNCT.sub(" ", text).split())  # split/join: the whitespace collapse without a second regex


def field_texts(records: Sequence[dict], field: str = "question") -> list[str]:
    """The text of each record that dedup compares."""
    if field not in FIELDS:
        raise StudioError(f"Unknown field {field!r}: choose one of {', '.join(FIELDS)}.")

    def text(r: dict, key: str) -> str:
        value = r.get(key) if isinstance(r, dict) else None
        return value if isinstance(value, str) else ""

    if field == "both":
        return [f"{text(r, 'question')}\n{text(r, 'answer')}" for r in records]
    return [text(r, field) for r in records]
