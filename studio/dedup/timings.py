"""What the sentence-transformer took on this machine, kept in the workspace for the next estimate.

A small dataset is embedded with MiniLM itself (``semantic_records.direct``). Two figures of its
estimate depend on the machine and on how busy it is: loading the model into a studio process (once
per process: the torch and sentence-transformers imports and the weights) and how fast it embeds,
as a pace against the constants measured at load 5 on 2 cores (``semantic_records.MINILM_*``; a pace
of 2 is twice as slow). Every load and every direct run measures them; they are kept in
``embeddings/minilm-timings.json`` so the next estimate, in this studio session or the next, starts
from what this machine did last, not from the constants.
"""

from __future__ import annotations

import json
from pathlib import Path

from studio import atomic, config
from studio.errors import StudioError

FILE = "minilm-timings.json"
FIGURES = ("load", "pace")  # seconds to load the model; embedding time over the constants' prediction


def _path() -> Path:
    return config.home() / "embeddings" / FILE


def _read() -> dict:
    try:
        data = json.loads(_path().read_text("utf-8"))
    except (OSError, ValueError, StudioError, config.NoWorkspaceError):
        return {}
    return data if isinstance(data, dict) else {}


def measured(model: str) -> dict[str, float]:
    """The figures the last load and run of ``model`` measured here ({} before any: the constants apply)."""
    got = _read().get(model)
    if not isinstance(got, dict):
        return {}
    return {k: float(v) for k, v in got.items()
            if k in FIGURES and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1e6}


def remember(model: str, **figures: float) -> None:
    """Keep what a load or run of ``model`` measured; a workspace that cannot be written keeps the last ones."""
    data = _read()
    entry = data.get(model) if isinstance(data.get(model), dict) else {}
    data[model] = {**entry, **{k: round(float(v), 4) for k, v in figures.items() if k in FIGURES and v > 0}}
    try:
        atomic.write_json(_path(), data)
    except (OSError, StudioError, config.NoWorkspaceError):
        pass  # best effort: the estimate falls back to the constants, the run itself is unaffected
