"""What a person sees in a text: the one rule the dataset checks, the chat box and the passage reader share; and
the one slug rule that turns a name into a folder or file name (``slug``: run ids, dataset ids, library names).

It lives in the model layer, the lowest that reads text, so that ``studio.models.extractive`` (which may not import
the data layer) and ``studio.data.validate`` (which stands on this layer) use the same rule rather than two copies.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata


def shows(text: str) -> bool:
    """Whether ``text`` has a character a person sees: not only spaces and invisible ones (a zero-width space,
    a direction mark, a byte order mark, a word joiner), which an editor cell shows as empty."""
    return any(not c.isspace() and unicodedata.category(c) != "Cf" for c in text)


# Latin letters NFKD leaves whole (no accent to take off): spelt as an English keyboard would
_LATIN = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ß": "ss", "đ": "d",
                        "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D", "ı": "i"})
HASH_CHARS = 8  # hex digits of the name's SHA-256 in the slug of a name it cannot spell


def slug(name: str, *, limit: int = 48, keep: str = "", lower: bool = True, least: int = 1, tag: str = "") -> str:
    """``name`` as a file or folder name can hold it, the one rule for run ids, dataset ids and library names: ASCII
    letters and digits (and ``keep``'s characters), accents taken off ("Ünïcødé" -> "Unicode", "Straße Øl" ->
    "Strasse-Ol"), each other run of characters one "-", no "-" or "." at either end, at most ``limit`` characters,
    in lower case unless ``lower`` is False. A name whose letters are of another script ("Обучение"), or with fewer
    than ``least`` letters and digits ("🚀"), gets a short hash of itself after what is readable (or after ``tag``
    when nothing is): stable, the same name giving the same slug, and two such names do not share one. "" for a
    name of spaces alone."""
    name = unicodedata.normalize("NFC", name.strip())
    plain = unicodedata.normalize("NFKD", name.translate(_LATIN))
    ascii_ = plain.encode("ascii", "ignore").decode()
    readable = re.sub(f"[^A-Za-z0-9{re.escape(keep)}]+", "-", ascii_.lower() if lower else ascii_)
    readable = readable.strip("-.")[:limit].strip("-.")
    lost = any(c.isalnum() and not c.isascii() for c in plain)
    if readable and not lost and len(re.sub(r"[^A-Za-z0-9]", "", readable)) >= least:
        return readable
    if not name:
        return ""
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]
    head = readable[:limit - HASH_CHARS - 1].strip("-.") or tag
    return f"{head}-{digest}" if head else digest
