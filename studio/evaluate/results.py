"""Stored evaluations (``STUDIO_HOME/evals/<id>.json``: the schema is ``studio.evaluate.result``), their
summaries, comparisons and filters (pure functions of an ``EvalResult``, plus load/save at the edge).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from studio import atomic, config, jobs
from studio.data.file_memo import FileMemo
from studio.errors import StudioError
from studio.evaluate import metrics, stopping
from studio.evaluate.result import OUTCOMES, EvalResult, QuestionRow

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
    asked: str = ""  # which questions were asked (``questions_key``): equal keys compare question by question


PICKER_SHOWN = 64
"""Characters the Evaluation picker shows of an evaluation: what its box holds in an 800 px window (67 of
"20261207-174208-1a69 · SmolLM2-135M-Instruct (bundled Q4_1 copy), a...", measured in Chromium)."""


def picker_label(info: EvalInfo, running: bool = False) -> str:
    """An evaluation as the Evaluation picker names it, whole in an 800 px window: when it started ("12-07 17:42:08",
    from its id) and each model's label, a fair share of what is left each, a longer one cut in its middle (more of its
    start than of its end kept). "20261207-174208-1a69 · soccer rules lora first try · 2026-12-07 17:54, SmolLM2-135M-
    Instruct (bundled Q4_1 copy)" lost the second model's name at the box's right edge. The line under the box names
    every model whole, and the evaluation's id."""
    i = info.id
    when = f"{i[4:6]}-{i[6:8]} {i[9:11]}:{i[11:13]}:{i[13:15]}" if _stamped(i) else i
    tail = " · running" if running else ""
    n = max(1, len(info.models))
    share = max(12, (PICKER_SHOWN - len(when) - 3 - len(tail) - 2 * (n - 1)) // n)
    return f"{when} · {', '.join(_middle_cut(m, share) for m in info.models)}{tail}"


def _stamped(eval_id: str) -> bool:
    """Whether an id starts with the date and time its evaluation started ("20261207-174208-1a69")."""
    return len(eval_id) >= 15 and eval_id[8] == "-" and eval_id[:8].isdigit() and eval_id[9:15].isdigit()


def _middle_cut(text: str, limit: int) -> str:
    """``text`` whole, or cut to ``limit`` characters: three fifths of them from its start, the rest from its end,
    around an ellipsis."""
    if len(text) <= limit:
        return text
    head = (limit - 1) * 3 // 5
    return f"{text[:head].rstrip()}…{text[len(text) - (limit - 1 - head):].lstrip()}"


class EvalNotFoundError(StudioError):
    """No stored evaluation with that id."""


def path(eval_id: str) -> Path:
    if not eval_id or "/" in eval_id or eval_id.startswith("."):
        raise EvalNotFoundError(f"No evaluation {eval_id!r}: pick one from the list.")
    return config.evals_dir(make=False) / f"{eval_id}.json"  # a save makes the folder it needs


def save(result: EvalResult | dict) -> Path:
    """Write the result atomically (readers see the old or the new file, never half). A dict is a result
    in its file form (``EvalResult.to_json``)."""
    if not isinstance(result, EvalResult):
        result = EvalResult.from_json(result)
    target = path(result.id)
    atomic.write_json(target, result.to_json(), indent=1)
    return target


def room_to_save(result: EvalResult) -> int:
    """What ``save`` takes on disk for ``result`` (whole 4 KiB blocks), its ``evals/`` folder too where not made yet."""
    nbytes = len(json.dumps(result.to_json(), ensure_ascii=False, indent=1).encode()) + 1
    blocks = -(-nbytes // 4096) + (0 if path(result.id).parent.is_dir() else 1)
    return blocks * 4096


def job_dir(eval_id: str) -> Path:
    """Where the evaluation's live state is (``status.json``, ``studio.jobs``): the page's background job, a
    CLI run, or any run that saves to the store writes it."""
    return config.jobs_dir(make=False) / f"eval-{eval_id}"  # made by the job's start


INTERRUPTED = ("interrupted: the evaluation's process ended before it finished (killed or crashed); "
               "the answers so far are kept: run it again for the rest.")


def settled(result: EvalResult) -> EvalResult:
    """The result with its state: the outcome once it ended; until then the job's, "queued" or "running"; and
    "failed" (``INTERRUPTED``) when its process ended without an outcome (kill -9, a crash: ``jobs.read_status``
    applies the one dead-worker rule), never running forever."""
    if result.status in OUTCOMES:
        return result
    job = jobs.read_status(job_dir(result.id))
    if job.active:
        result.status = "queued" if job.state == "queued" else "running"
    else:
        result.status, result.error = "failed", INTERRUPTED
    return result


def has_outcome(eval_id: str) -> bool:
    """Whether the stored file of ``eval_id`` holds its outcome (finished, stopped, failed): no job status is needed to
    tell how it ended."""
    try:
        return json.loads(path(eval_id).read_text(encoding="utf-8")).get("status") in OUTCOMES
    except (OSError, ValueError, AttributeError):
        return False


def load(eval_id: str) -> EvalResult:
    file = path(eval_id)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalNotFoundError(f"No evaluation {eval_id!r}: it may have been deleted. Pick another.") from None
    except ValueError:
        raise EvalNotFoundError(f"Evaluation {eval_id!r} is unreadable (not JSON): delete {file} and run it again.") from None
    result = _parsed(data)
    if result is None:
        raise EvalNotFoundError(f"Evaluation {eval_id!r} is unreadable (not a result): delete {file} and run it again.")
    return settled(result)


_SHAPES = {"id": str, "created": str, "status": (str, type(None)), "config": dict, "dataset": dict, "models": list,
           "environment": dict, "notes": list, "rows": list, "summary": dict, "summary_excluding_leaked": dict}
"""The kinds of value a stored result holds at its top (``EvalResult.to_json``); null stands for a missing one."""


def _parsed(data: object) -> EvalResult | None:
    """A stored result, or None when the file holds something else (edited by hand into another shape): the page
    and the lists then name the file in one line instead of failing on it."""
    if not isinstance(data, dict) or any(data.get(k) is not None and not isinstance(data[k], kind)
                                         for k, kind in _SHAPES.items()):
        return None
    try:
        result = EvalResult.from_json(data)
    except (TypeError, ValueError, AttributeError, KeyError):  # a row or a model entry of another shape
        return None
    return result if _sound(result) else None


def _number(value: object) -> bool:
    return value is None or isinstance(value, (int, float)) and not isinstance(value, bool)


def _texts(mapping: dict) -> bool:
    return all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items())


def _numbers(mapping: object) -> bool:
    return isinstance(mapping, dict) and all(isinstance(k, str) and _number(v) for k, v in mapping.items())


def _sound(result: EvalResult) -> bool:
    """Whether every value the pages and reports read is of the kind the studio writes (a hand-edited file may hold
    a number where an answer was, or text where a score was)."""
    strings = ("spec", "kind", "task")
    optional = ("source", "revision", "run_id", "error", "device", "dtype", "quantization", "run_dir")
    for m in result.models:
        if not isinstance(m.label, str) or not all(isinstance(getattr(m, k), str) for k in strings) or not all(
                getattr(m, k) is None or isinstance(getattr(m, k), str) for k in optional):
            return False
    for row in result.rows:
        if (type(row.index) is not int or not isinstance(row.question, str) or not isinstance(row.reference, str)
                or not _texts(row.answers) or not _texts(row.errors) or not _numbers(row.latency)
                or not all(_numbers(v) for v in row.scores.values())
                or not all(_number(v.score) and isinstance(v.reason, str) for v in row.judge.values())
                or row.leak is not None and not (_number(row.leak.score) and isinstance(row.leak.train_question, str))
                or row.context is not None and not isinstance(row.context, str)
                or not all(all(v is None or type(v) is int for v in (sp.start, sp.end)) and _number(sp.score)
                           for sp in row.spans.values())):
            return False
    return all(_numbers(s) for summary in (result.summary, result.summary_excluding_leaked) for s in summary.values())


def load_file(file: Path) -> EvalResult:
    """A result or CLI report from any path (the page can open exported reports too)."""
    try:
        data = json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StudioError(f"Cannot read {file} as an evaluation report: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
        raise StudioError(f"{file} is not an evaluation report (no \"rows\").")
    return EvalResult.from_json(data)


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
    out = [info for file in config.evals_dir(make=False).glob("*.json") if (info := _info(file))]
    return sorted(out, key=lambda e: (e.created, e.id), reverse=True)


def newest(n: int) -> list[EvalInfo]:
    """The ``n`` newest evaluations, newest first, for Home: only theirs are read (files are named by their start
    time)."""
    out: list[EvalInfo] = []
    for file in sorted(config.evals_dir(make=False).glob("*.json"), reverse=True):
        if len(out) == n:
            break
        if info := _info(file):
            out.append(info)
    return out


def _info(file: Path) -> EvalInfo | None:
    """What the list says of one stored evaluation; None for an unreadable or damaged file (``damaged`` names it)."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    result = _parsed(data)
    if result is None or not result.id:
        return None
    result = settled(result)
    return EvalInfo(
        id=result.id, created=result.created, status=result.status, models=result.labels,
        dataset=describe_dataset(result.dataset), questions=len(result.rows), summary=summary_of(result),
        asked=questions_key(result),
    )


def questions_key(result: EvalResult) -> str:
    """A fingerprint of the questions asked (each question, its reference and passage, in any order): two evaluations
    with the same one were asked the same questions and compare question by question."""
    import hashlib

    asked = sorted(json.dumps([r.question, r.reference, r.context or ""], ensure_ascii=False) for r in result.rows)
    return hashlib.sha256("\n".join(asked).encode("utf-8")).hexdigest() if asked else ""


def ended(evals: Sequence[EvalInfo]) -> list[EvalInfo]:
    """The evaluations that ended (finished, stopped or failed), in their order: not queued or running."""
    return [e for e in evals if e.status not in ("queued", "running")]


def default_comparison(evals: Sequence[EvalInfo]) -> tuple[list[str], str | None]:
    """What "Compare" picks first (``evals`` newest first): the newest evaluation that ended and the newest one before
    it asked the same questions; with none, the newest alone and one line saying why (two evaluations on other questions
    cannot be compared question by question)."""
    evals = ended(evals) or list(evals)  # one still running has no means yet: a row of "—", a legend without bars
    if not evals:
        return [], None
    newest = evals[0]
    same = next((e for e in evals[1:] if newest.asked and e.asked == newest.asked), None)
    if same is not None:
        return [newest.id, same.id], None
    if len(evals) < 2:
        return [newest.id], None
    return [newest.id], (f"No earlier evaluation asked the questions of the newest ({newest.id}: "
                         f"{newest.dataset or 'its questions'}): pick any to compare their means.")


@dataclass(frozen=True)
class _Verdict:
    """What Home needs of one stored evaluation file, read once while the file stays as it is."""

    sound: bool
    eval_id: str = ""
    status: str = ""  # as the file says: a "running" one may have ended without an outcome (``settled``)
    answered: bool = False  # some model answered some question: there are answers to open
    trained: bool = False  # one of its models is a training run: it shows where training helped


def _read_verdict(file: Path) -> _Verdict:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    result = _parsed(data)
    return _Verdict(False) if result is None or not result.id else _Verdict(
        True, result.id, result.status, any(row.answers for row in result.rows),
        any(m.run_id or m.spec.startswith("run:") for m in result.models))


_verdicts = FileMemo(_read_verdict)  # Home asks on every run: each file read once while it stays as it is


def _verdict(file: Path) -> _Verdict | None:
    """None when the file is gone."""
    return _verdicts.get(file)


def _damaged_file(file: Path) -> bool:
    verdict = _verdict(file)
    return verdict is not None and not verdict.sound


def damaged() -> list[str]:
    """One line per stored evaluation the list leaves out because its file is not a result (cut off, edited); each
    file is read once while it stays as it is."""
    lines = []
    for file in sorted(config.evals_dir(make=False).glob("*.json")):
        if _damaged_file(file):
            lines.append(f"Evaluation file {file.name} is not listed: it is damaged (cut off or edited by hand). "
                         "Delete it, or put the original back.")
    return lines


def latest_summary(spec: str) -> tuple[str, dict[str, dict[str, float]]] | None:
    """(evaluation id, {label: summary}) of the newest finished evaluation that includes the model ``spec``
    (what a model card shows), or None."""
    for info in list_evals():  # newest first
        if info.status != "finished":
            continue
        result = load(info.id)
        if any(m.spec == spec for m in result.models):
            return info.id, result.summary or summarize(result)
    return None


def evaluations_using(run_id: str) -> list[str]:
    """The evaluations still queued or running that answer with the training run ``run_id`` (deleting the run under
    them would fail each of its questions)."""
    spec = f"run:{run_id}"
    return [r.id for r in _unfinished() if spec in _specs(r) or any(m.run_id == run_id for m in r.models)]


def evaluations_answering_with(spec: str) -> list[str]:
    """The evaluations still queued or running with the model ``spec`` (``model:NAME``) among their models: deleting
    the model under them would fail each question it has left."""
    return [r.id for r in _unfinished() if spec in _specs(r)]


def _unfinished() -> list[EvalResult]:
    out = []
    for info in list_evals():
        if info.status not in ("queued", "running"):
            continue
        try:
            out.append(load(info.id))
        except StudioError:
            continue
    return out


def _specs(result: EvalResult) -> set[str]:
    return {str(s) for s in result.config.get("models") or ()} | {m.spec for m in result.models}


def delete(eval_id: str) -> None:
    """The evaluation's file, and its ended job's folder (its status and log, which a deleted evaluation left in
    ``jobs/`` for good); a running job's folder is left to it (the page asks for a stop first)."""
    path(eval_id).unlink(missing_ok=True)
    if not jobs.read_status(job_dir(eval_id)).active:
        shutil.rmtree(job_dir(eval_id), ignore_errors=True)


def failed_models(result: EvalResult) -> dict[str, str]:
    """Models that answered nothing (a load failure, a model the API does not serve): label -> the reason,
    said once; tables, charts and win/tie/loss leave them out."""
    out = {}
    rows = result.rows
    for m in result.models:
        if not m.label or not rows:
            continue
        answered = any(m.label in r.answers for r in rows)
        errors = [r.errors[m.label] for r in rows if m.label in r.errors]
        if not answered and len(errors) == len(rows):
            out[m.label] = m.error or errors[0]
    return out


_STOPPED = (stopping.NOT_RUN, stopping.INTERRUPTED)  # a cell Stop came before: not run, or cut short


def not_run_models(result: EvalResult) -> list[str]:
    """Models of a stopped evaluation that Stop came before they answered anything: each of their questions reads "not
    run" (or cut short). They did not fail; ``failed_models`` lists them too (no answers to show)."""
    return [label for label in failed_models(result) if all(r.errors.get(label) in _STOPPED for r in result.rows)]


AS_TRAINED = "none (asked as trained)"
"""What a trained run's system prompt reads as: it is asked without one, as it was trained."""

NO_TEMPLATE = "none (no chat template: asked with a plain prompt)"
"""What the system prompt of a model without a chat template reads as (a GPT-2-like base): its plain prompt has no
system turn, so the evaluation's system prompt was not sent to it."""

EXTRACTIVE = "none (an extractive model reads only the question and its passage)"


def system_prompts(result: EvalResult) -> dict[str, str]:
    """Each model's label -> the system prompt it was really asked with ("" for none: a trained run, a model without a
    chat template, an extractive model, or an evaluation saved before the setting)."""
    from studio.evaluate.config import asked_with

    system = str(result.config.get("system_prompt") or "")
    return {m.label: "" if m.chat_template is False or m.task == "extractive" else asked_with(m.spec, system)
            for m in result.models}


def _why_none(m) -> str:
    """How a model asked with no system prompt reads: why it got none where the evaluation had one to give, and the
    default its chat template writes then (a run on SmolLM2 read "none (asked as trained)" though it saw SmolLM2's)."""
    if not m.spec.startswith("run:"):
        if m.task == "extractive":
            return EXTRACTIVE
        if m.chat_template is False:
            return NO_TEMPLATE
    said = AS_TRAINED if m.spec.startswith("run:") else "none"
    if m.template_system:
        said += f"; its chat template writes its own default, {m.template_system!r}"
    return said


def describe_system(result: EvalResult) -> str:
    """One line on the system prompt each model was really asked with: "system prompt: '...'" when every model got the
    same, else per model; a model that got none says why (``AS_TRAINED``, ``NO_TEMPLATE``, ``EXTRACTIVE``)."""
    prompts = system_prompts(result)
    said = {m.label: repr(prompts[m.label]) if prompts[m.label] else _why_none(m) for m in result.models}
    if not said:
        system = str(result.config.get("system_prompt") or "").strip()
        return f"system prompt: {system!r}" if system else "no system prompt"
    if len(set(said.values())) == 1:
        only = next(iter(said.values()))
        return "no system prompt" if only == "none" else f"system prompt: {only}"
    return "system prompt: " + "; ".join(f"{label}: {text}" for label, text in said.items())


def shown_labels(result: EvalResult) -> list[str]:
    """The models tables and charts show: all but those that failed every question (said once, above)."""
    failed = failed_models(result)
    return [m for m in result.labels if m not in failed]


ALL_LEAKED = ("All {n} questions are leaked (near-duplicates of training questions): none is left to score "
              "without them. For a fair score, evaluate on held-out questions (a run's held-out split, or a dataset "
              "it was not trained on). A run that held nothing out (the recommended preset's choice for up to 200 "
              "records) has no held-out split: train again with Held-out fraction set in Advanced on the Train page "
              "(--test-fraction on the command line), which says how many would be sensible.")


STOPPED_HELP = ("stopped: questions the evaluation was stopped before this model answered (not run, or its answer "
                "cut short); they are not failures, and no mean counts them.")
"""What the summaries say about their "stopped" count (the page, the HTML report)."""


def stopped(row: QuestionRow, label: str) -> bool:
    """Whether Stop came before this model's answer to the question (not run, or cut short): no failure of its."""
    return row.errors.get(label) in _STOPPED


def summarize(result: EvalResult, *, exclude_leaked: bool = False) -> dict[str, dict[str, float]]:
    """Per model: the mean of each metric over its answered questions, with counts answered, failed (an error) and
    stopped (Stop came before its answer: not a failure). A summary stored before the stopped count was kept counts
    those among the failed: read a result's counts from its rows (``counts``)."""
    rows = [r for r in result.rows if not (exclude_leaked and r.leak)]
    out: dict[str, dict[str, float]] = {}
    for label in result.labels:
        scored = [r.scores[label] for r in rows if label in r.scores]
        summary = metrics.summarize(scored)
        judge = metrics.mean(r.judge[label].score if label in r.judge else None for r in rows)
        if judge is not None:
            summary["judge"] = judge
        summary["answered"] = float(len(scored))
        summary["failed"] = float(sum(1 for r in rows if label in r.errors and not stopped(r, label)))
        summary["stopped"] = float(sum(1 for r in rows if stopped(r, label)))
        out[label] = summary
    return out


def summary_of(result: EvalResult) -> dict[str, dict[str, float]]:
    """The result's summary as its rows have it now (a file written before stopped questions were counted apart
    counts them as failed), or the stored one where the rows hold nothing to count (a report made by hand)."""
    if any(r.scores or r.errors for r in result.rows):
        return summarize(result)
    return result.summary


def refresh_summaries(result: EvalResult) -> EvalResult:
    result.summary = summarize(result)
    result.summary_excluding_leaked = summarize(result, exclude_leaked=True)
    return result


def score(row: QuestionRow, label: str, metric: str = "f1") -> float | None:
    """A model's score on one question; None when it has none (a failed or pending cell)."""
    return row.score(label, metric)


def failed(row: QuestionRow, label: str, *, fail_below: float = FAIL_F1) -> bool:
    """Whether the model failed the question: an error, or token F1 below ``fail_below``; a question Stop came before is
    not one it failed."""
    if stopped(row, label):
        return False
    if label in row.errors:
        return True
    f1 = row.score(label, "f1")
    return f1 is None or f1 < fail_below


def outcome(row: QuestionRow, a: str, b: str, *, metric: str = "f1", margin: float = TIE_MARGIN) -> str | None:
    """"win", "tie" or "loss" for model ``a`` against ``b`` on one question; a failed cell scores lowest.

    For metrics where lower is better (perplexity, latency) the comparison is reversed. None when
    neither model has a score (both failed, or the question is still pending), and when Stop came before either
    model's answer (not run, or cut short): a question one model never got to is no loss of its.
    """
    if stopped(row, a) or stopped(row, b):
        return None
    sa, sb = row.score(a, metric), row.score(b, metric)
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


def scored(result: EvalResult, names: Sequence[str], both: Sequence[str] | None = None) -> list[str]:
    """The metrics of ``names`` that some question has a score for (from every model of ``both``, when given: a
    win/tie/loss pair): the plots offer these, not a metric that was not computed and would draw nothing."""
    def has(row: QuestionRow, m: str) -> bool:
        if both is None:
            return any(row.score(label, m) is not None for label in result.labels)
        return all(row.score(label, m) is not None for label in both)

    return [m for m in names if any(has(row, m) for row in result.rows)]


def win_tie_loss(result: EvalResult, a: str, b: str, *, metric: str = "f1", margin: float = TIE_MARGIN,
                 exclude_leaked: bool = False) -> dict[str, int]:
    counts = {"win": 0, "tie": 0, "loss": 0}
    for row in result.rows:
        if exclude_leaked and row.leak:
            continue
        o = outcome(row, a, b, metric=metric, margin=margin)
        if o:
            counts[o] += 1
    return counts


def filter_rows(result: EvalResult, kind: str = "all", *, model: str | None = None, fail_below: float = FAIL_F1,
                margin: float = TIE_MARGIN) -> list[QuestionRow]:
    """The rows a filter keeps.

    ``lost``: ``model`` scored lower F1 than at least one other model; ``all_failed``: every model
    failed; ``leaked``: the question near-duplicates a training question.
    """
    if kind not in FILTERS:
        raise StudioError(f"Unknown filter {kind!r}: choose one of {', '.join(FILTERS)}.")
    rows = result.rows
    labels = result.labels
    if kind == "all":
        return list(rows)
    if kind == "leaked":
        return [r for r in rows if r.leak]
    if kind == "all_failed":
        return [r for r in rows if labels and all(failed(r, m, fail_below=fail_below) for m in labels)]
    model = model or default_focus_model(result)
    others = [m for m in labels if m != model]
    return [r for r in rows if any(outcome(r, model, o, margin=margin) == "loss" for o in others)]


def default_focus_model(result: EvalResult) -> str | None:
    """The model "lost" filters look at by default: the first fine-tuned run, else the last model."""
    for m in result.models:
        if m.run_id:
            return m.label
    labels = result.labels
    return labels[-1] if labels else None


@dataclass(frozen=True)
class Tally:
    """Home's count of the stored evaluations."""

    with_answers: int  # ended (finished, stopped, or failed part-way) with answers to open
    from_runs: int  # of those, the ones with a training run among their models
    running: int  # queued or running: nothing to open yet
    empty: int  # ended with no answer (every model failed, or stopped before any)


def tally() -> Tally:
    """Home's count of the evaluations the Evaluate page lists (a damaged file is not one): "Evaluations" counted
    running ones, ones without an answer and API-only ones alike under "open one to see where training helped". Each
    file is read once while it stays as it is; one the file calls running is asked whether its job still runs."""
    with_answers = from_runs = running = empty = 0
    for file in config.evals_dir(make=False).glob("*.json"):
        v = _verdict(file)
        if v is None or not v.sound:
            continue
        if v.status not in OUTCOMES and jobs.read_status(job_dir(v.eval_id)).active:
            running += 1
        elif v.answered:
            with_answers += 1
            from_runs += v.trained
        else:
            empty += 1
    return Tally(with_answers, from_runs, running, empty)
