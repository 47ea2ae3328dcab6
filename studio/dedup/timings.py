"""What the sentence-transformer took on this machine, kept in the workspace for the next estimate.

A small dataset is embedded with MiniLM itself (``semantic_records.direct``). Two figures of its
estimate depend on the machine and on how busy it is: loading the model into a studio process (once
per process: the torch and sentence-transformers imports and the weights) and how fast it embeds,
as a pace against the constants measured at load 5 on 2 cores (``semantic_records.MINILM_*``; a pace
of 2 is twice as slow). Every load and every direct run measures them; they are kept in
``embeddings/minilm-timings.json`` so the next estimate, in this studio session or the next, starts
from what this machine did, not from the constants: the median of the last ``HISTORY`` runs, so one odd run
(a machine busy for a moment, a cold disk) moves the next estimate little, while a lasting change shows after
a few runs.

The fuzzy pass's estimate (``fuzzy.estimate_seconds``, a timed sample scaled to the whole) learns the same way: each
run long enough to tell keeps what it took over what its estimate said, per way of scaling (``FUZZY_FILE``), and the
next estimate is multiplied by the median of the last ``HISTORY``.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from studio import atomic, config
from studio.errors import StudioError

FILE = "minilm-timings.json"
FUZZY_FILE = "fuzzy-timings.json"  # the fuzzy pass: its "pace", the run's time over its estimate's
FIGURES = ("load", "pace")  # seconds to load the model; embedding time over the constants' prediction
HISTORY = 5  # runs kept per figure; the estimate takes their median


def _path(file: str = FILE) -> Path:
    return config.home() / "embeddings" / file


def _read(file: str = FILE) -> dict:
    try:
        data = json.loads(_path(file).read_text("utf-8"))
    except (OSError, ValueError, StudioError, config.NoWorkspaceError):
        return {}
    return data if isinstance(data, dict) else {}


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1e6


def _runs(entry: dict, figure: str) -> list[float]:
    """The last runs' values of ``figure`` (an older file's one value when it kept no history)."""
    runs = entry.get("runs") if isinstance(entry.get("runs"), dict) else {}
    got = runs.get(figure)
    if isinstance(got, list):
        return [float(v) for v in got if _number(v)][-HISTORY:]
    return [float(entry[figure])] if _number(entry.get(figure)) else []


def measured(model: str, file: str = FILE) -> dict[str, float]:
    """The figures the last loads and runs of ``model`` measured here, each the median of the last ``HISTORY`` ({}
    before any: the constants apply)."""
    got = _read(file).get(model)
    if not isinstance(got, dict):
        return {}
    return {k: float(statistics.median(runs)) for k in FIGURES if (runs := _runs(got, k))}


def remember(model: str, amend: bool = False, file: str = FILE, **figures: float) -> None:
    """Keep what a load or run of ``model`` measured, beside the last ones; ``amend``: in place of the last one kept
    (a load measured again with the first batches after it: one load, not two). A workspace that cannot be written
    keeps the last ones."""
    data = _read(file)
    entry = data.get(model) if isinstance(data.get(model), dict) else {}
    runs = {k: _runs(entry, k) for k in FIGURES}
    for k, v in figures.items():
        if k in FIGURES and v > 0:
            runs[k] = [*(runs[k][:-1] if amend else runs[k]), round(float(v), 4)][-HISTORY:]
    # The medians stay under their own names, as before the history was kept: an older studio reads them.
    data[model] = {**{k: round(statistics.median(v), 4) for k, v in runs.items() if v},
                   "runs": {k: v for k, v in runs.items() if v}}
    try:
        atomic.write_json(_path(file), data)
    except (OSError, StudioError, config.NoWorkspaceError):
        pass  # best effort: the estimate falls back to the constants, the run itself is unaffected
