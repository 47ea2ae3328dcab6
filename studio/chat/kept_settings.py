"""The Chat page's generation settings kept in the workspace (``chat/settings.json``), beside its conversation.

A reloaded tab, a new one or a restarted studio brings the conversation back (``studio.chat.saved``); it brings
back the settings it was being had with too: max new tokens, temperature, sampling, top-p, repetition penalty,
timeout, and the system prompt (its preset and text). Nothing else is kept here (no model, no key), and the
system prompt is written with any secret in it as ``***``, as the conversation is. A file that cannot be read, or
a value out of its bounds (a hand edit, an older studio's), is left out: the page's default stands for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from studio import atomic, config
from studio.chat.base import ChatParams
from studio.errors import StudioError

FILE = "settings.json"
SAMPLING = ("max_new_tokens", "temperature", "do_sample", "top_p", "repetition_penalty", "timeout_s")
"""The ``ChatParams`` fields the page sets and keeps; each is checked by ``ChatParams`` on the way in."""


def path() -> Path:
    """Where this workspace keeps its Chat settings."""
    return config.home() / "chat" / FILE


def load() -> dict[str, Any]:
    """The kept settings: ``SAMPLING`` fields that ``ChatParams`` accepts, and ``preset`` / ``system`` strings."""
    try:
        raw = json.loads(path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    out: dict[str, Any] = {}
    for name in SAMPLING:
        value = raw.get(name)
        if value is None or isinstance(value, bool) != isinstance(getattr(ChatParams, name), bool):
            continue
        try:  # one field at a time: a bad one leaves out itself only
            ChatParams(**{name: value, **({"total_timeout_s": max(600.0, value)} if name == "timeout_s" else {})})
        except (StudioError, TypeError, ValueError):
            continue
        out[name] = value
    for name in ("preset", "system"):
        if isinstance(raw.get(name), str):
            out[name] = raw[name]
    return out


def save(params: ChatParams, preset: str, system: str, secrets: Iterable[str | None] = ()) -> None:
    """Keep ``params``' page settings and the system prompt (its secrets as ``***``); unchanged settings are not
    rewritten."""
    from studio.chat import saved

    values = {name: getattr(params, name) for name in SAMPLING}
    values.update(preset=preset, system=saved.scrub(system, secrets))
    if load() == values:
        return
    atomic.write_json(path(), values)
