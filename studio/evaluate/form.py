"""The Evaluate page's form kept in the workspace (``evaluate/form.json``), so a person who comes back another day
finds the models, questions and settings they last set; Reset to defaults removes it.

Only the form's own values are kept, each checked on the way back in (a value of the wrong kind, or outside the
bounds ``EvalConfig`` takes, is left out and the page draws its default). Never a secret: the API key field is not
among them, and a text that holds one (a base URL with a key in it, say) is not kept at all
(``studio.chat.saved.scrub`` finds them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from studio import atomic, config, settings
from studio.chat.saved import scrub
from studio.evaluate.config import EvalConfig

FILE = "form.json"
FORMAT = 1
# name -> (kind, EvalConfig field whose bounds it takes, or None)
FIELDS: dict[str, tuple[str, str | None]] = {
    "models": ("texts", None), "other_models": ("text", None), "newest": ("text", None),
    "source": ("text", None), "split_run": ("text", None), "dataset": ("text", None), "version": ("pair", None),
    "sample": ("int", None), "max_new_tokens": ("int", "max_new_tokens"), "batch_size": ("int", "batch_size"),
    "sampling": ("bool", None), "temperature": ("float", "temperature"), "seed": ("int", "seed"),
    "base_url": ("text", None), "provider": ("text", None), "qa_endpoint": ("text", None),
    "concurrency": ("int", "api_concurrency"), "api_timeout": ("float", "api_timeout_s"), "judge": ("text", None),
    "leakage": ("int", "leakage_threshold"), "perplexity": ("bool", None), "similarity": ("bool", None),
    "semantic_leakage": ("bool", None), "system": ("text", None),
}


def path() -> Path:
    """Where this workspace keeps the Evaluate page's form."""
    return config.home() / "evaluate" / FILE


def _fits(name: str, value: Any, secrets: Iterable[str | None]) -> bool:
    kind, field = FIELDS[name]
    if kind == "text":
        return isinstance(value, str) and scrub(value, secrets) == value  # a text holding a secret is not kept
    if kind == "texts":
        return isinstance(value, list) and all(_fits("other_models", v, secrets) for v in value)
    if kind == "pair":  # a dataset version: (dataset id, version number)
        return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) \
            and isinstance(value[1], int) and not isinstance(value[1], bool)
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, int if kind == "int" else (int, float)):
        return False
    if field is None:
        return value >= 0
    return settings.problem(EvalConfig, field, value) is None


def clean(values: Mapping[str, Any], secrets: Iterable[str | None] = ()) -> dict[str, Any]:
    """The values that may be kept: known names, the right kind, within bounds, holding no secret."""
    secrets = list(secrets)
    out = {}
    for name, value in values.items():
        value = list(value) if isinstance(value, tuple) else value
        if name in FIELDS and _fits(name, value, secrets):
            out[name] = value
    return out


def save(values: Mapping[str, Any], secrets: Iterable[str | None] = ()) -> None:
    """Keep the form (what ``clean`` lets through)."""
    atomic.write_json(path(), {"format": FORMAT, "values": clean(values, secrets)})


def load() -> dict[str, Any]:
    """The kept form (checked as ``clean`` does); empty where there is none, or it cannot be read (a form is
    cheap to set again, so a damaged file is simply not used, and the next save replaces it)."""
    try:
        raw = json.loads(path().read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    values = raw.get("values") if isinstance(raw, dict) else None
    return clean(values) if isinstance(values, dict) else {}


def forget() -> None:
    """Back to the defaults: the kept form is removed."""
    path().unlink(missing_ok=True)
