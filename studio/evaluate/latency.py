"""What an evaluation's latency numbers mean, said wherever they are shown.

A local generative model answers in batches (``EvalConfig.batch_size``): one ``generate`` call answers the
whole batch, so each answer's latency is the batch's wall time divided by the answers in it, the time per
answer a batch achieves, not how long one question waited (that is the whole batch). An API model's answer
is its request's own time (``api_concurrency`` requests in flight at once); an extractive model answers
one question at a time. The runner records a local model's batch in ``ModelEntry.latency_batch``; a result
file written before it did is read the same way, from its config: the runner has always batched so.
"""

from __future__ import annotations

from studio.evaluate.result import EvalResult, ModelEntry


def batch_size(result: EvalResult, entry: ModelEntry) -> int | None:
    """How many answers of ``entry`` were timed together, at most (None: each answer timed on its own)."""
    if entry.latency_batch:
        return entry.latency_batch
    if entry.kind == "local" and entry.task == "chat":  # an older file: the config says how it was batched
        size = result.config.get("batch_size")
        if isinstance(size, int) and size > 0:
            return min(size, len(result.rows)) if result.rows else size
    return None


def row_batch(result: EvalResult, entry: ModelEntry, position: int) -> int:
    """How many answers the answer to question ``position`` (0-based, in the result's order) shared its time with,
    itself included: its batch's size (the last batch may be smaller), or 1."""
    size = batch_size(result, entry)
    if not size:
        return 1
    start = position // size * size
    return min(size, len(result.rows) - start) if result.rows else size


def note(result: EvalResult) -> str | None:
    """One line for the page and the reports saying how each model's latency was measured (None: no model answered)."""
    answered = {label for row in result.rows for label in row.answers}
    batched: dict[int, list[str]] = {}
    alone, requests = [], []
    for entry in result.models:
        if entry.label not in answered:
            continue
        size = batch_size(result, entry)
        if size and size > 1:
            batched.setdefault(size, []).append(entry.label)
        elif entry.kind == "api" and entry.task == "chat":
            requests.append(entry.label)
        else:
            alone.append(entry.label)
    if not (batched or alone or requests):
        return None
    parts = [f"{_names(labels)}: averaged over a batch of {size} (the batch's time divided by its answers; "
             f"one question waits for the whole batch)" for size, labels in sorted(batched.items())]
    if requests:
        flight = result.config.get("api_concurrency")
        parts.append(f"{_names(requests)}: each request's own time"
                     + (f" ({flight} requests in flight at once)" if isinstance(flight, int) and flight > 1 else ""))
    if alone:
        parts.append(f"{_names(alone)}: each answer's own time, one question at a time")
    return "Latency is seconds per answer. " + "; ".join(parts) + "."


def _names(labels: list[str]) -> str:
    return ", ".join(labels)
