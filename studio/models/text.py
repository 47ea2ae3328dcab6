"""What a person sees in a text: the one rule the dataset checks, the chat box and the passage reader share.

It lives in the model layer, the lowest that reads text, so that ``studio.models.extractive`` (which may not import
the data layer) and ``studio.data.validate`` (which stands on this layer) use the same rule rather than two copies.
"""

from __future__ import annotations

import unicodedata


def shows(text: str) -> bool:
    """Whether ``text`` has a character a person sees: not only spaces and invisible ones (a zero-width space,
    a direction mark, a byte order mark, a word joiner), which an editor cell shows as empty."""
    return any(not c.isspace() and unicodedata.category(c) != "Cf" for c in text)
