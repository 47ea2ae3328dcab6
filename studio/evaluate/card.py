"""A model's evaluations as a model card's section: the newest finished evaluation that includes it.

``studio.train.publish`` writes the card and takes this section as text, so training never imports
evaluation: the Train page and ``python -m studio push`` ask for it here and pass it on.
"""

from __future__ import annotations

import os

from studio import config
from studio.evaluate import metrics
from studio.evaluate import results as eval_results

COLUMNS = ("exact_match", "f1", "rouge_l", "chrf", "perplexity", "judge")

_LATEST: dict[tuple, tuple[str, dict] | None] = {}  # (model spec, evals listing) -> latest_summary's answer
_LATEST_MAX = 64  # models remembered; each entry is one summary table


def latest_summary(spec: str) -> tuple[str, dict[str, dict[str, float]]] | None:
    """(evaluation id, {label: summary}) of the newest finished evaluation that includes the model ``spec``.

    Finding it reads every stored evaluation, so the answer is kept until the evaluations folder's
    listing (names, sizes, modification times: one ``stat`` per file) changes."""
    key = (spec, _evals_listing())
    if key not in _LATEST:
        if len(_LATEST) >= _LATEST_MAX:
            _LATEST.clear()
        _LATEST[key] = eval_results.latest_summary(spec)
    return _LATEST[key]


def _evals_listing() -> tuple:
    folder = config.evals_dir(make=False)
    try:
        with os.scandir(folder) as entries:
            files = [(e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries if e.name.endswith(".json")]
    except OSError:  # no evaluations yet
        files = []
    return str(folder), tuple(sorted(files))


def section(spec: str) -> str:
    """The card's "Evaluation" section (Markdown) for the model ``spec``; "" when no finished evaluation has it."""
    found = latest_summary(spec)
    if not found:
        return ""
    eval_id, summary = found
    cols = [m for m in COLUMNS if any(m in s for s in summary.values())]
    lines = [f"## Evaluation (SLM Studio evaluation {eval_id})", "",
             "| model | " + " | ".join(metrics.LABELS[c] for c in cols) + " | answered |",
             "|---|" + "---|" * (len(cols) + 1)]
    for label, s in summary.items():
        lines.append(f"| {label} | " + " | ".join(metrics.fmt(s.get(c)) for c in cols) + f" | {int(s.get('answered', 0))} |")
    return "\n".join(lines) + "\n"
