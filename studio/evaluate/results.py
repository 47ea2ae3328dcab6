"""Evaluation results: the stored schema, summaries, comparisons and filters (pure data, plus load/save).

A result lives in ``STUDIO_HOME/evals/<id>.json``::

    {"id", "created", "finished", "status": "queued"|"running"|"finished"|"stopped"|"failed", "error", "pid",
     "progress": {"done", "total", "stage"},
     "config": EvalConfig as a dict,                      # everything needed to run it again
     "models": [{"label", "spec", "kind": "local"|"api", "task": "chat"|"extractive", "source", "revision",
                 "run_id", "error", local models also "device", "dtype", "quantization", and "run_dir" for a
                 run folder given as a path}],
     "dataset": {"source", "id", "name", "version", "sha256", "count", "path", "run_id", "sample"},
     "environment": {"python", "torch", "transformers", "sacrebleu"},
     "notes": [str],
     "rows": [{"index", "question", "reference", "leak": null | {"score", "train_question", "kind"},
               "answers": {label: str | null}, "errors": {label: reason}, "latency": {label: seconds},
               "scores": {label: {metric: value}}, "judge": {label: {"score", "reason"}},
               with a passage also "context": str and "spans": {label: {"start", "end", "score"}}}],
     "summary": {label: {metric: mean, "answered": n, "failed": n}},
     "summary_excluding_leaked": {...}}

The CLI's REPORT.json is the same document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from studio import atomic, config, jobs
from studio.errors import StudioError
from studio.evaluate import metrics

FILTERS = ("all", "lost", "all_failed", "leaked")
FILTER_LABELS = {
    "all": "All questions",
    "lost": "Where the chosen model lost",
    "all_failed": "Where every model failed",
    "leaked": "Leaked questions",
}
FAIL_F1 = 0.3
"""A model "failed" a question when its answer errored or its token F1 is below this."""
TIE_MARGIN = 0.05
"""Two F1 scores closer than this are a tie (word-level noise is not a win)."""


@dataclass(frozen=True)
class EvalInfo:
    id: str
    created: str
    status: str
    models: list[str]
    dataset: str  # "Soccer rules v3 (held-out of run abc)"
    questions: int
    summary: dict[str, dict[str, float]]


class EvalNotFoundError(StudioError):
    """No stored evaluation with that id."""


def path(eval_id: str) -> Path:
    if not eval_id or "/" in eval_id or eval_id.startswith("."):
        raise EvalNotFoundError(f"No evaluation {eval_id!r}: pick one from the list.")
    return config.evals_dir() / f"{eval_id}.json"


def save(result: dict) -> Path:
    """Write the result atomically (readers see the old or the new file, never half)."""
    target = path(result["id"])
    atomic.write_json(target, result, indent=1)
    return target


INTERRUPTED = ("interrupted: the evaluation's process ended before it finished (killed or crashed); "
               "the answers so far are kept: run it again for the rest.")


_OLD_STATES = {"done": "finished", "cancelled": "stopped"}
"""What result files written before the one vocabulary called a finished and a stopped evaluation."""


def status(result: dict) -> str:
    """A result's state in the job's words (``studio.jobs``): queued, running, finished, stopped or failed."""
    state = result.get("status") or "finished"
    return _OLD_STATES.get(state, state)


def settled(data: dict) -> dict:
    """The result with its state in the job's words; one whose process died while running (kill -9, a
    crash) is failed, never running forever (``jobs.died``, the same rule as a job's)."""
    state = status(data)
    if jobs.died(state, data.get("pid")):
        return {**data, "status": "failed", "error": INTERRUPTED}
    return {**data, "status": state} if state != data.get("status") else data


def load(eval_id: str) -> dict:
    file = path(eval_id)
    try:
        return settled(json.loads(file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise EvalNotFoundError(f"No evaluation {eval_id!r}: it may have been deleted. Pick another.") from None
    except ValueError:
        raise EvalNotFoundError(f"Evaluation {eval_id!r} is unreadable (not JSON): delete {file} and run it again.") from None


def load_file(file: Path) -> dict:
    """A result or CLI report from any path (the page can open exported reports too)."""
    try:
        data = json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StudioError(f"Cannot read {file} as an evaluation report: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise StudioError(f"{file} is not an evaluation report (no \"rows\").")
    return {**data, "status": status(data)}


def describe_dataset(dataset: dict) -> str:
    if not dataset:
        return ""
    name = dataset.get("name") or dataset.get("path") or dataset.get("id") or "questions"
    text = f"{name} v{dataset['version']}" if dataset.get("version") else str(name)
    if dataset.get("run_id"):
        text += f" (held-out of run {dataset['run_id']})"
    if dataset.get("sample"):
        text += f", sample of {dataset['sample']}"
    return text


def list_evals() -> list[EvalInfo]:
    """Every stored evaluation, newest first; unreadable files are skipped."""
    out = []
    for file in config.evals_dir().glob("*.json"):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or "id" not in data:
            continue
        data = settled(data)
        out.append(EvalInfo(
            id=data["id"], created=data.get("created", ""), status=data["status"],
            models=model_labels(data), dataset=describe_dataset(data.get("dataset") or {}),
            questions=len(data.get("rows") or []), summary=data.get("summary") or {},
        ))
    return sorted(out, key=lambda e: (e.created, e.id), reverse=True)


def latest_summary(spec: str) -> tuple[str, dict[str, dict[str, float]]] | None:
    """(evaluation id, {label: summary}) of the newest finished evaluation that includes the model ``spec``
    (what a model card shows), or None."""
    for info in list_evals():  # newest first
        if info.status != "finished":
            continue
        result = load(info.id)
        if any(m.get("spec") == spec for m in result.get("models") or []):
            return info.id, result.get("summary") or summarize(result)
    return None


def delete(eval_id: str) -> None:
    path(eval_id).unlink(missing_ok=True)


def model_labels(result: dict) -> list[str]:
    labels = [m["label"] for m in result.get("models") or [] if "label" in m]
    if labels:
        return labels
    return list(result.get("summary") or {})


def failed_models(result: dict) -> dict[str, str]:
    """Models that answered nothing (a load failure, a model the API does not serve): label -> the reason,
    said once; tables, charts and win/tie/loss leave them out."""
    out = {}
    rows = result.get("rows") or []
    for m in result.get("models") or []:
        label = m.get("label")
        if not label or not rows:
            continue
        answered = any(label in (r.get("answers") or {}) for r in rows)
        errors = [r["errors"][label] for r in rows if label in (r.get("errors") or {})]
        if not answered and len(errors) == len(rows):
            out[label] = m.get("error") or errors[0]
    return out


ALL_LEAKED = ("All {n} questions are leaked (near-duplicates of training questions): none is left to score "
              "without them. For a fair score, evaluate on held-out questions (a run's held-out split, or a dataset "
              "it was not trained on).")


def summarize(result: dict, *, exclude_leaked: bool = False) -> dict[str, dict[str, float]]:
    """Per model: the mean of each metric over its answered questions, with counts answered/failed."""
    rows = [r for r in result.get("rows") or [] if not (exclude_leaked and r.get("leak"))]
    out: dict[str, dict[str, float]] = {}
    for label in model_labels(result):
        scored = [r["scores"][label] for r in rows if label in (r.get("scores") or {})]
        judged = [{"judge": (r.get("judge") or {}).get(label, {}).get("score")} for r in rows]
        summary = metrics.summarize(scored)
        judge = metrics.mean(j["judge"] for j in judged)
        if judge is not None:
            summary["judge"] = judge
        summary["answered"] = float(len(scored))
        summary["failed"] = float(sum(1 for r in rows if label in (r.get("errors") or {})))
        out[label] = summary
    return out


def refresh_summaries(result: dict) -> dict:
    result["summary"] = summarize(result)
    result["summary_excluding_leaked"] = summarize(result, exclude_leaked=True)
    return result


def score(row: dict, label: str, metric: str = "f1") -> float | None:
    """A model's score on one question; None when it has none (a failed or pending cell)."""
    value = (row.get("scores") or {}).get(label, {}).get(metric)
    if value is None and metric == "judge":
        value = (row.get("judge") or {}).get(label, {}).get("score")
    return value


def failed(row: dict, label: str, *, fail_below: float = FAIL_F1) -> bool:
    if label in (row.get("errors") or {}):
        return True
    f1 = score(row, label, "f1")
    return f1 is None or f1 < fail_below


def outcome(row: dict, a: str, b: str, *, metric: str = "f1", margin: float = TIE_MARGIN) -> str | None:
    """"win", "tie" or "loss" for model ``a`` against ``b`` on one question; a failed cell scores lowest.

    For metrics where lower is better (perplexity, latency) the comparison is reversed. None when
    neither model has a score (both failed, or the question is still pending).
    """
    sa, sb = score(row, a, metric), score(row, b, metric)
    if sa is None and sb is None:
        return None
    if sa is None:
        return "loss"
    if sb is None:
        return "win"
    diff = sa - sb if metrics.HIGHER_IS_BETTER.get(metric) is not False else sb - sa
    if abs(diff) <= margin:
        return "tie"
    return "win" if diff > 0 else "loss"


def win_tie_loss(result: dict, a: str, b: str, *, metric: str = "f1", margin: float = TIE_MARGIN,
                 exclude_leaked: bool = False) -> dict[str, int]:
    counts = {"win": 0, "tie": 0, "loss": 0}
    for row in result.get("rows") or []:
        if exclude_leaked and row.get("leak"):
            continue
        o = outcome(row, a, b, metric=metric, margin=margin)
        if o:
            counts[o] += 1
    return counts


def filter_rows(result: dict, kind: str = "all", *, model: str | None = None, fail_below: float = FAIL_F1,
                margin: float = TIE_MARGIN) -> list[dict]:
    """The rows a filter keeps.

    ``lost``: ``model`` scored lower F1 than at least one other model; ``all_failed``: every model
    failed; ``leaked``: the question near-duplicates a training question.
    """
    if kind not in FILTERS:
        raise StudioError(f"Unknown filter {kind!r}: choose one of {', '.join(FILTERS)}.")
    rows = result.get("rows") or []
    labels = model_labels(result)
    if kind == "all":
        return list(rows)
    if kind == "leaked":
        return [r for r in rows if r.get("leak")]
    if kind == "all_failed":
        return [r for r in rows if labels and all(failed(r, m, fail_below=fail_below) for m in labels)]
    model = model or default_focus_model(result)
    others = [m for m in labels if m != model]
    return [r for r in rows if any(outcome(r, model, o, margin=margin) == "loss" for o in others)]


def default_focus_model(result: dict) -> str | None:
    """The model "lost" filters look at by default: the first fine-tuned run, else the last model."""
    for m in result.get("models") or []:
        if m.get("run_id"):
            return m["label"]
    labels = model_labels(result)
    return labels[-1] if labels else None


def per_question_table(result: dict, rows: Iterable[dict] | None = None, metric: str = "f1") -> list[dict]:
    """Flat rows for a table or CSV: question, reference, leaked, then per model its answer and score."""
    labels = model_labels(result)
    out = []
    for row in result.get("rows") or [] if rows is None else rows:
        flat = {"#": row.get("index", 0) + 1, "question": row.get("question", ""), "reference": row.get("reference", ""),
                "leaked": bool(row.get("leak"))}
        for label in labels:
            err = (row.get("errors") or {}).get(label)
            flat[f"{label} answer"] = f"[failed: {err}]" if err else (row.get("answers") or {}).get(label) or ""
            flat[f"{label} {metric}"] = score(row, label, metric)
        out.append(flat)
    return out


def count_evals() -> int:
    """How many evaluations are stored (cheap: the Home page shows it)."""
    return sum(1 for _ in config.evals_dir().glob("*.json"))
