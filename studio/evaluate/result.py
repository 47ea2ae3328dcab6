"""An evaluation's result as one typed value: the runner fills it, the store saves it, and the HTML report,
the page and the CLI read it.

Stored as JSON in ``STUDIO_HOME/evals/<id>.json`` (the CLI's REPORT.json is the same document)::

    {"id", "created", "finished", "status": "finished"|"stopped"|"failed"|null, "error",
     "config": EvalConfig as a dict,                      # everything needed to run it again
     "dataset": {"source", "id", "name", "version", "sha256", "count", "path", "run_id", "sample"},
     "models": [ModelEntry], "environment": {"python", "torch", "transformers", "sacrebleu"}, "notes": [str],
     "rows": [QuestionRow], "summary": {label: {metric: mean, "answered": n, "failed": n, "stopped": n}},
     "summary_excluding_leaked": {...}}

The file keeps the outcome only: ``status`` is null until the evaluation ends. Whether it is queued or
running, and how far it got, is the job's status (``STUDIO_HOME/jobs/eval-<id>/status.json``,
``studio.jobs``), the one live state, read by ``studio.evaluate.results.load``.

``to_json`` writes the keys files have always had; ``from_json`` reads every file written so far: the old
state words (``done``, ``cancelled``; ``queued`` and ``running`` are not an outcome), keys missing from
hand-made reports, and keys it does not know (kept in ``extra`` and written back, so nothing a newer or
older version wrote is lost on a save: files written before 2026-12-05 also carry "progress" and "pid").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

OUTCOMES = ("finished", "stopped", "failed")
"""How an evaluation ended, in the job's words (``studio.jobs.DONE``)."""
_OLD_STATES = {"done": "finished", "cancelled": "stopped", "queued": None, "running": None}
"""What result files written before the one vocabulary called a finished and a stopped evaluation (and the live
states they kept, which the job's status says now)."""


def _extra(data: Mapping, cls) -> dict:
    known = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k not in known}


def _count(value: Any) -> int | None:
    """A positive whole number from a file, or None (missing, or hand-edited into something else)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


@dataclass
class Leak:
    """An evaluation question that near-duplicates a training question (``studio.evaluate.leakage``)."""

    score: float  # similarity, 0-100 (fuzzy) or cosine x 100 (semantic)
    train_question: str
    kind: str | None = None  # "exact", "fuzzy" or "semantic"

    def to_json(self) -> dict:
        return {"score": self.score, "train_question": self.train_question, "kind": self.kind}

    @classmethod
    def from_json(cls, data: Mapping | None) -> Leak | None:
        if not data:
            return None
        return cls(score=data.get("score", 0.0), train_question=data.get("train_question") or "", kind=data.get("kind"))


@dataclass
class Span:
    """Where an answer occurs in the question's passage (character offsets), and an extractive model's confidence."""

    start: int | None = None  # None: not found in the passage
    end: int | None = None
    score: float | None = None

    @property
    def found(self) -> bool:
        return self.start is not None

    def to_json(self) -> dict:
        return {"start": self.start, "end": self.end, "score": self.score}

    @classmethod
    def from_json(cls, data: Mapping) -> Span:
        return cls(start=data.get("start"), end=data.get("end"), score=data.get("score"))


@dataclass
class Verdict:
    """The LLM judge's grade of one answer: 1-5, or None with the reason it could not grade."""

    score: int | None
    reason: str = ""

    def to_json(self) -> dict:
        return {"score": self.score, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping) -> Verdict:
        return cls(score=data.get("score"), reason=data.get("reason") or "")


@dataclass
class ModelEntry:
    """One model evaluated: what it is, where it came from (for reproducibility), and why it failed if it did."""

    label: str  # what tables and plots call it, distinct across the result
    spec: str  # as typed: a Hub id, a folder, run:<id>, api:<id>, qa:<model> ...
    kind: str = "local"  # "local" | "api"
    source: str | None = None  # the folder or Hub id it loaded from; the API model id
    revision: str | None = None  # Hub commit or folder fingerprint; the API base URL or provider
    run_id: str | None = None
    error: str | None = None  # set when it answered nothing (a load failure, an API that refused every question)
    task: str = "chat"  # "chat" | "extractive"
    device: str | None = None  # local models, once loaded
    dtype: str | None = None
    quantization: str | None = None
    run_dir: str | None = None  # a run folder given as a path (the CLI)
    notes: list[str] | None = None  # the loader's notes ("Running on CPU: ...")
    # a local model answering in batches: answers timed together, each one's latency their batch's time divided by
    # them (studio.evaluate.latency); None: each answer timed on its own, or a file written before this was recorded
    latency_batch: int | None = None
    # a local chat model, once loaded: whether it was asked through its chat template (False: a plain prompt, which
    # has no system turn, so the system prompt was not sent); None: an API model, or a file written before this
    chat_template: bool | None = None
    # a local chat model, once loaded: the system prompt its chat template writes when none is sent (SmolLM2's), which a
    # trained run (asked with none of its own) really got; None: it writes none, or a file written before this
    template_system: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    _ALWAYS = ("label", "spec", "kind", "source", "revision", "run_id", "error", "task")

    def to_json(self) -> dict:
        out = {name: getattr(self, name) for name in self._ALWAYS}
        for name in ("device", "dtype", "quantization", "run_dir", "notes", "latency_batch", "chat_template",
                     "template_system"):  # once known
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, data: Mapping) -> ModelEntry:
        return cls(label=data.get("label") or data.get("spec") or "", spec=data.get("spec") or data.get("label") or "",
                   kind=data.get("kind") or "local", source=data.get("source"), revision=data.get("revision"),
                   run_id=data.get("run_id"), error=data.get("error"), task=data.get("task") or "chat",
                   device=data.get("device"), dtype=data.get("dtype"), quantization=data.get("quantization"),
                   run_dir=data.get("run_dir"), notes=data.get("notes"), latency_batch=_count(data.get("latency_batch")),
                   chat_template=data["chat_template"] if isinstance(data.get("chat_template"), bool) else None,
                   template_system=data["template_system"] if isinstance(data.get("template_system"), str) else None,
                   extra=_extra(data, cls))


@dataclass
class QuestionRow:
    """One question with every model's answer (or the reason it has none), its scores and the judge's grade."""

    index: int
    question: str
    reference: str
    leak: Leak | None = None
    answers: dict[str, str] = field(default_factory=dict)  # label -> answer
    errors: dict[str, str] = field(default_factory=dict)  # label -> why this cell failed
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # label -> metric -> value
    latency: dict[str, float] = field(default_factory=dict)  # label -> seconds
    judge: dict[str, Verdict] = field(default_factory=dict)  # label -> grade
    context: str | None = None  # the passage the question comes with, if any
    spans: dict[str, Span] = field(default_factory=dict)  # with a passage: label -> where the answer occurs
    notes: dict[str, str] = field(default_factory=dict)  # label -> what to know of this answer (its question was cut)
    extra: dict[str, Any] = field(default_factory=dict)

    def fail(self, label: str, reason: str) -> None:
        self.errors[label] = reason

    def score(self, label: str, metric: str = "f1") -> float | None:
        """A model's score on this question; None when it has none (a failed or pending cell)."""
        value = self.scores.get(label, {}).get(metric)
        if value is None and metric == "judge" and label in self.judge:
            value = self.judge[label].score
        return value

    def to_json(self) -> dict:
        out = {"index": self.index, "question": self.question, "reference": self.reference,
               "leak": self.leak.to_json() if self.leak else None, "answers": dict(self.answers),
               "errors": dict(self.errors), "scores": {k: dict(v) for k, v in self.scores.items()},
               "latency": dict(self.latency), "judge": {k: v.to_json() for k, v in self.judge.items()}}
        if self.context is not None or self.spans:
            out["context"] = self.context
            out["spans"] = {k: v.to_json() for k, v in self.spans.items()}
        if self.notes:
            out["notes"] = dict(self.notes)
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, data: Mapping, position: int = 0) -> QuestionRow:
        return cls(index=data.get("index", position), question=data.get("question") or "",
                   reference=data.get("reference") or "", leak=Leak.from_json(data.get("leak")),
                   answers=dict(data.get("answers") or {}), errors=dict(data.get("errors") or {}),
                   scores={k: dict(v or {}) for k, v in (data.get("scores") or {}).items()},
                   latency=dict(data.get("latency") or {}),
                   judge={k: Verdict.from_json(v or {}) for k, v in (data.get("judge") or {}).items()},
                   context=data.get("context") or None,
                   spans={k: Span.from_json(v or {}) for k, v in (data.get("spans") or {}).items()},
                   notes={k: str(v) for k, v in (data.get("notes") or {}).items()}, extra=_extra(data, cls))


@dataclass
class EvalResult:
    """An evaluation: its settings, the models, every question's answers and scores, the summaries, and how it ended."""

    id: str
    created: str = ""  # ISO time, UTC
    finished: str | None = None  # ISO time it ended; None while it runs
    status: str | None = None  # the outcome: finished | stopped | failed (the job's words); None until it ends.
    # Loaded from the store (results.load), an evaluation that has not ended reads the job's live state here:
    # "queued" or "running", or "failed" with results.INTERRUPTED when its process ended without an outcome.
    error: str | None = None  # why it stopped or failed, in one line
    config: dict[str, Any] = field(default_factory=dict)  # EvalConfig.to_dict()
    dataset: dict[str, Any] = field(default_factory=dict)  # where the questions came from (see the module docstring)
    models: list[ModelEntry] = field(default_factory=list)
    environment: dict[str, str | None] = field(default_factory=dict)  # library versions
    notes: list[str] = field(default_factory=list)
    rows: list[QuestionRow] = field(default_factory=list)
    summary: dict[str, dict[str, float]] = field(default_factory=dict)
    summary_excluding_leaked: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """The models' labels, in order (a report with no model list: its summary's)."""
        labels = [m.label for m in self.models if m.label]
        return labels or list(self.summary)

    def model(self, label: str) -> ModelEntry | None:
        return next((m for m in self.models if m.label == label), None)

    @property
    def leaked(self) -> int:
        return sum(1 for r in self.rows if r.leak)

    def to_json(self) -> dict:
        out = {"id": self.id, "created": self.created, "finished": self.finished,
               "status": self.status if self.status in OUTCOMES else None,  # the outcome only: the job says the rest
               "error": self.error, "config": dict(self.config),
               "dataset": dict(self.dataset), "models": [m.to_json() for m in self.models],
               "environment": dict(self.environment), "notes": list(self.notes),
               "rows": [r.to_json() for r in self.rows], "summary": self.summary,
               "summary_excluding_leaked": self.summary_excluding_leaked}
        return {**out, **self.extra}

    @classmethod
    def from_json(cls, data: Mapping) -> EvalResult:
        """A result from its JSON form, as any version wrote it (see the module docstring)."""
        state = data.get("status", "finished")  # a hand-made report without one has its answers: it ended
        return cls(
            id=str(data.get("id") or ""), created=data.get("created") or "", finished=data.get("finished"),
            status=_OLD_STATES.get(state, state), error=data.get("error"),
            config=dict(data.get("config") or {}), dataset=dict(data.get("dataset") or {}),
            models=[ModelEntry.from_json(m) for m in data.get("models") or [] if isinstance(m, Mapping)],
            environment=dict(data.get("environment") or {}), notes=[str(n) for n in data.get("notes") or []],
            rows=[QuestionRow.from_json(r, i) for i, r in enumerate(data.get("rows") or []) if isinstance(r, Mapping)],
            summary=dict(data.get("summary") or {}),
            summary_excluding_leaked=dict(data.get("summary_excluding_leaked") or {}),
            extra=_extra(data, cls),
        )
