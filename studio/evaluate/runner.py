"""Evaluation: answer held-out questions with several models and score them against the references.

Models are any mix of local models (a Hub id, a folder, a training run ``run:<id>``) and API
models (``api:<model id>`` through a provider or an OpenAI-compatible ``base_url``). Local models
generate in left-padded batches (``studio.models.generate``); API models are called concurrently within a
limit. A cell that fails (a model that cannot load, an API error midway) is kept as a failure with
its reason and the rest goes on. Partial results are saved as the work proceeds, so nothing is lost
when it stops. Results: ``STUDIO_HOME/evals/<id>.json`` (an ``EvalResult``, ``studio.evaluate.result``).
"""

from __future__ import annotations

import platform
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

from studio import jobs
from studio.data.display import plural
from studio.errors import CancelledError, StudioError, in_words, unexpected
from studio.evaluate import leakage, live_state, metrics, stopping
from studio.evaluate import results as eval_results
from studio.evaluate.config import EvalConfig
from studio.evaluate.questions import load_questions
from studio.evaluate.result import EvalResult, Leak, ModelEntry, QuestionRow, Span, Verdict
from studio.evaluate.stopping import StopWatch
from studio.models import prompt_format
from studio.models.spec import parse_spec
from studio.tasks import ProgressFn

Cancel = Callable[[], bool]  # True once the user asked to stop


def is_api(spec: str) -> bool:
    return parse_spec(spec).is_api


def is_extractive(spec: str) -> bool:
    """An extractive model: ``qa:<model>``, ``api:qa:<model id>`` or a local folder built for question answering."""
    from studio.models import extractive

    return extractive.is_extractive(spec)


def needs_device(config: EvalConfig) -> bool:
    """Whether the evaluation loads local models (and so must wait for the device)."""
    return any(not is_api(m) for m in config.models) or bool(config.judge and not is_api(config.judge))


def check_installed(config: EvalConfig) -> None:
    """Refuse, in one line, what this installation cannot run (API mode: local models, embeddings)."""
    from studio import device

    caps = device.capabilities()
    local = [m for m in config.models if not is_api(m)]
    if local:
        caps.require_local(f"Evaluating {local[0]!r} (a local model)")
    if config.judge and not is_api(config.judge):
        caps.require_local(f"The judge {config.judge!r} (a local model)")
    if (config.answer_similarity or config.semantic_leakage) and not caps.semantic:
        raise StudioError("Semantic similarity and the semantic leakage check need sentence-transformers and torch, "
                          "which this install (API mode) leaves out: turn them off, or use the full install.")


def check_models_there(config: EvalConfig) -> None:
    """A run, library model or folder that is not there (``run:faq`` for a run trained with ``--out runs/faq``, a
    typo'd ``runs/fqa``), or a folder that holds no model (a config.json alone), is one line on Start: it was found
    only after every question had been asked of the others, each failing alike. Cheap: names and files, no load."""
    from studio.errors import ModelLoadError, ModelSpecError
    from studio.models import extractive, loading

    if config.judge and extractive.is_extractive(config.judge):  # it was asked to grade, which it cannot
        raise ModelLoadError(f"The judge {config.judge} is an extractive model: it points at a span of a passage and "
                             "cannot grade an answer. Choose a chat model as the judge (api:<model id>, or a local one), "
                             "or leave it out.")
    for spec in (*config.models, *([config.judge] if config.judge else [])):
        try:
            kind = parse_spec(spec).kind
        except ModelSpecError:
            continue  # said in its own words by the evaluation config
        if kind == "qa":  # qa:run:nope went on to load it, and every question failed
            extractive.check_there(spec)
        elif kind in ("run", "model", "path", "gguf", "hub"):
            ref = loading.resolve(spec)
            if kind == "path":  # runs and library models are the studio's own folders, checkpoints included
                loading.require_parts(ref)


def check_passages(config: EvalConfig, questions) -> None:
    """An extractive model answers with a span of a question's passage: where none of the questions has one, it was
    loaded to fail every question alike ("no passage"), found only in the results. One line on Start instead (a dataset
    where some questions have a passage goes on: the others are its failed cells, as the docs say)."""
    from studio.models import extractive

    if any(r.get("context") for r in questions.records):
        return
    n = len(questions.records)
    none = "the question has none" if n == 1 else f"none of these {n:,} questions has one"
    for spec in config.models:
        if extractive.is_extractive(spec):
            raise StudioError(f"{spec} is an extractive model: it answers with a span of a question's passage, and "
                              f"{none}: choose questions with passages (a \"context\" in each record), or leave it out.")


def check_token(config: EvalConfig, token: str | None) -> None:
    """Inference Providers answer nothing without a Hugging Face token (``token``, else secrets or the environment's):
    said on Start and by the command line before any question, not as the same failure in every question."""
    from studio import config as studio_config
    from studio.chat import api

    if token or studio_config.hf_token():
        return
    specs = [s for s in (*config.models, config.judge or "") if s.startswith("api:")]
    if any(b.kind == "provider" and not b.by_url for b in (_backend_spec(s, config) for s in specs)):
        raise api.missing_token()  # a dedicated endpoint by URL may take a key of its own instead


# --- models -----------------------------------------------------------------------------------

def model_labels(specs: tuple[str, ...] | list[str]) -> list[str]:
    """What tables and plots call each model, always distinct: a training run by its name and start
    time ("Soccer FAQ · 2026-11-22 09:56"), a library model by its label (the bundled copy says so,
    also when its Hub id stands for it offline), anything else as it was typed."""
    from studio.models import bundled, library
    from studio.train import runs

    labels = []
    for spec in specs:
        parsed = parse_spec(spec)
        label = library.display_name(spec) if parsed.kind == "model" else spec
        if bundled.is_bundled_id(spec):
            from studio.models import loading

            try:
                label = loading.resolve(spec).label
            except StudioError:
                pass
        if parsed.kind == "run":
            try:
                info = runs.load_run(parsed.name)
                stamp = info.id[:15]  # 20261122-095609, the start time in the run id
                when = (f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]}"
                        if len(stamp) == 15 and stamp[8] == "-" and stamp.replace("-", "").isdigit() else info.id)
                # a run named by its folder (the CLI's --out runs/faq): "faq", not "faq · faq"
                label = info.name if when == info.name else f"{info.name} · {when}"
            except (StudioError, OSError, ValueError):
                pass  # a deleted run keeps its spec; its cells say why it failed
        labels.append(label)
    return [f"{label} ({spec})" if labels.count(label) > 1 or (label != spec and label in specs) else label
            for label, spec in zip(labels, specs)]


def model_entry(spec: str, label: str | None = None) -> ModelEntry:
    """What the result records about a model before it runs."""
    parsed = parse_spec(spec)
    return ModelEntry(label=label or spec, spec=spec, kind="api" if parsed.is_api else "local",
                      source=parsed.name if parsed.is_api else None,
                      task="extractive" if is_extractive(spec) else "chat")


def describe_local(entry: ModelEntry, lm) -> None:
    """Record where a loaded model came from and which revision it is, for reproducibility."""
    ref = lm.ref
    entry.source, entry.run_id = ref.source, ref.run_id
    entry.device, entry.dtype, entry.quantization = lm.device, lm.dtype, lm.quantization
    # without a chat template the prompt is plain text with no system turn: the system prompt is not sent
    entry.chat_template = bool(getattr(lm, "has_chat_template", False))
    if entry.chat_template:  # what a model asked with no system prompt really gets from its template (SmolLM2's)
        from studio.models.prompt_format import template_default_system

        entry.template_system = template_default_system(lm.tokenizer)
    for folder in (Path(ref.source), Path(ref.source).parent, Path(ref.source).parent.parent):
        if ref.local and (folder / "run.json").is_file():  # a run directory given as a path (the CLI)
            entry.run_dir = str(folder)
            entry.run_id = entry.run_id or folder.name
            break
    from studio.models import loading

    commit = getattr(lm.model.config, "_commit_hash", None)  # the Hub revision a cached model came from
    entry.revision = commit or (loading.folder_fingerprint(Path(ref.source)) if ref.local else None)


def _chat_backend(spec: str, config: EvalConfig, creds):
    """A ``studio.chat`` backend: ``api:<id>`` through the base URL or a provider, anything else locally.

    ``creds`` is a ``studio.chat.Credentials``: a base URL gets only the API key meant for it.
    """
    from studio import chat

    bspec = _backend_spec(spec, config)
    return chat.make_backend(bspec, creds.for_kind(bspec.kind))


def _backend_spec(spec: str, config: EvalConfig):
    from studio import chat

    return chat.BackendSpec.for_model(spec, base_url=config.api_base_url, provider=config.api_provider,
                                      qa_endpoint=config.qa_endpoint, quantization=config.quantization)


def _chat_params(config: EvalConfig, max_new_tokens: int | None = None):
    from studio import chat

    return chat.ChatParams(max_new_tokens=max_new_tokens or config.max_new_tokens,
                           temperature=config.temperature if config.do_sample else 0.0, do_sample=config.do_sample,
                           seed=config.seed, timeout_s=config.api_timeout_s,
                           # the whole answer's bound: never under the wait for its first words (an API timeout over
                           # 600 s, which the setting allows, made every model of the evaluation fail at once)
                           total_timeout_s=max(config.api_timeout_s, chat.ChatParams.total_timeout_s))


def _complete(backend, messages: list[dict], params, stop: StopWatch) -> str:
    """The whole answer; ``CancelledError`` when Stop cut it short (the part written is not an answer)."""
    from studio import chat

    answer = chat.complete(backend, messages, params, stop=stop.event)
    if stop.event.is_set():  # the stream ended because of the stop (or with it): not kept as an answer
        raise CancelledError(stopping.INTERRUPTED)
    return answer


# --- running ----------------------------------------------------------------------------------

def new_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def _environment() -> dict:
    env = {"python": platform.python_version()}
    for mod in ("torch", "transformers", "sacrebleu"):
        try:
            env[mod] = __import__(mod).__version__
        except ImportError:
            env[mod] = None
    return env


def new_result(config: EvalConfig, eval_id: str | None = None) -> EvalResult:
    """A result not run yet: the config and the models, no rows, no outcome."""
    return EvalResult(id=eval_id or new_id(), created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      config=config.to_dict(),
                      models=[model_entry(m, label) for m, label in zip(config.models, model_labels(config.models))],
                      environment=_environment())


def run_evaluation(config: EvalConfig, *, token: str | None = None, api_key: str | None = None,
                   eval_id: str | None = None,
                   progress: ProgressFn | None = None, cancel: Cancel | None = None,
                   save: Callable[[EvalResult], object] | None = eval_results.save) -> EvalResult:
    """Answer and score every question with every model; return the result (saved as it goes).

    A model that fails to load or an API that fails midway marks its cells as failed with the
    reason; the other models go on. Cancelling keeps what was done (status "stopped") and
    interrupts the answer in progress, which is not kept (``studio.evaluate.stopping``). The outcome uses
    the job's words (``studio.jobs``): finished, stopped, failed.
    Saving (``save``, the store by default), it keeps its live state in the evaluation's job status
    (``results.job_dir``): running, how far, then the outcome; and stops when that job is asked to stop
    (unless ``cancel`` says otherwise).
    ``token`` (Hugging Face) goes to Inference Providers and Hub downloads only; ``api_key`` to the
    OpenAI-compatible base URL only, and no key at all when it is None.
    """
    from studio.chat import Credentials

    creds = Credentials(hf_token=token, api_key=api_key)
    result = new_result(config, eval_id)
    live = eval_results.job_dir(result.id) if save is not None else None
    if cancel is None:
        cancel = (lambda: jobs.stop_requested(live)) if live is not None else (lambda: False)
    saver = live_state.Saver(result, save, progress, live)
    saver.start()
    try:
        with StopWatch(cancel) as stop:
            _evaluate(config, result, creds, saver, stop)
        result.status = "finished"
    except CancelledError as exc:
        result.status, result.error = "stopped", str(exc)
        for entry in result.models:  # the models Stop came before never started
            _not_run(entry, result.rows)
    except StudioError as exc:
        result.status, result.error = "failed", _reason(exc)
    except Exception as exc:  # a bug: keep the partial result and say what broke, in one line
        result.status, result.error = "failed", unexpected("The evaluation", exc, 400)
    result.finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if progress:
        progress(saver.done, saver.total, result.status)
    saver.end()
    return result


def leakage_note(checked: int, flagged: int) -> str:
    """``"Leakage checked against 1 training question: 1 flagged."`` (it said "1 training questions")."""
    return f"Leakage checked against {plural(checked, 'training question')}: {flagged:,} flagged."


def _evaluate(config: EvalConfig, result: EvalResult, creds, saver: live_state.Saver, cancel: StopWatch) -> None:
    """Every model's answers, then similarity and the judge, into ``result`` (``CancelledError`` on Stop)."""
    check_installed(config)
    qs = load_questions(config)
    result.dataset, result.notes = qs.dataset, list(qs.notes)
    result.rows = [QuestionRow(index=i, question=r["question"], reference=r["answer"], context=r.get("context") or None)
                   for i, r in enumerate(qs.records)]
    with_context = sum(1 for r in qs.records if r.get("context"))
    if with_context:
        result.notes.append(f"{with_context} of {len(qs.records)} questions come with a passage: generative models "
                            "are asked with it, and \"found in passage\" says whether their answer occurs in it.")
    leaks = leakage.find_leaks([r["question"] for r in qs.records], qs.train_questions, config.leakage_threshold,
                               semantic_threshold=config.semantic_threshold if config.semantic_leakage else None)
    for row, leak in zip(result.rows, leaks):
        row.leak = Leak.from_json(leak)
    if qs.train_questions:
        result.notes.append(leakage_note(len(qs.train_questions), sum(1 for x in leaks if x)))
    per_model = len(result.rows)
    total = per_model * (len(config.models) + (len(config.models) if config.judge else 0))
    done = 0
    saver.step(0, total, "starting", force=True)
    for entry in result.models:
        _stop_if_asked(cancel)
        runner = _run_api_model if entry.kind == "api" else _run_local_model
        # a model's step 0 ("loading ...") is saved at once: a load takes minutes on a CPU, and the status said "starting"
        runner(entry, result.rows, config, creds,
               lambda n, stage, base=done: saver.step(base + n, total, stage, force=n == 0), cancel)
        done += per_model
        saver.step(done, total, f"{entry.label} done", force=True)
    if config.answer_similarity:
        saver.step(done, total, "semantic similarity of the answers", force=True)
        _add_similarity(result)
    if config.judge:
        _run_judge(config, result, creds, lambda n, stage: saver.step(done + n, total, stage), cancel)


RAISE_API_TIMEOUT = "raise API timeout (s) under Settings on the Evaluate page (--api-timeout on the command line)"
"""Where an evaluation gives its API models and a local judge more time: a report is read on the page and in its
file, and an evaluation is run again from either, so it names both."""


def _reason(exc: StudioError) -> str:
    """A failure as a report keeps it: a timeout in Evaluate's words (the chat backend's name Chat's setting)."""
    from studio.chat import TooSlowError

    return exc.saying(RAISE_API_TIMEOUT) if isinstance(exc, TooSlowError) else str(exc)


def _first_line(exc: BaseException) -> str:
    text = in_words(Exception((str(exc).strip().splitlines() or [""])[0]), 300) if in_words(exc) else ""
    return text or unexpected("It", exc)  # its own words; never only the Python class name


def _fail_all(entry: ModelEntry, rows: list[QuestionRow], reason: str) -> None:
    entry.error = reason
    for row in rows:
        if entry.label not in row.answers:
            row.fail(entry.label, reason)


def _record(row: QuestionRow, label: str, answer: str, latency: float, span=None) -> None:
    """Keep one answer and its scores; with a passage, whether the answer occurs in it (and where)."""
    from studio.chat import passage

    row.answers[label] = answer
    row.errors.pop(label, None)
    row.latency[label] = latency
    row.scores[label] = {**metrics.score_answer(answer, row.reference), "latency_s": latency}
    if row.context:
        where = (span.start, span.end) if span is not None and span.found else passage.locate(answer, row.context)
        row.scores[label]["in_passage"] = 1.0 if where else 0.0
        row.spans[label] = Span(start=where[0] if where else None, end=where[1] if where else None,
                                score=span.score if span is not None else None)


def _contexts(rows: list[QuestionRow]) -> list[str | None]:
    return [r.context for r in rows]


def _stop_if_asked(cancel: Cancel, entry: ModelEntry | None = None, rest: list[QuestionRow] = ()) -> None:
    """Stop when the user asked; the questions this model had left say why they have no answer."""
    if cancel():
        if entry is not None:  # its cells only: a model that answered some questions has no model-wide failure
            _not_run(entry, list(rest))
        raise CancelledError("Evaluation stopped: the results so far are kept.")


def _not_run(entry: ModelEntry, rows: list[QuestionRow]) -> None:
    """The questions Stop came before say so (a stopped evaluation has nothing pending)."""
    for row in rows:
        if entry.label not in row.answers and entry.label not in row.errors:
            row.fail(entry.label, stopping.NOT_RUN)


def _run_extractive(entry: ModelEntry, rows: list[QuestionRow], backend, config: EvalConfig,
                    step: Callable[[int, str], None], cancel: StopWatch) -> None:
    """An extractive model answers every question that has a passage; the others fail with the reason."""
    label = entry.label
    params = _chat_params(config)
    _stop_if_asked(cancel, entry, rows)
    for n, row in enumerate(rows, 1):
        if not row.context:
            row.fail(label, "no passage: an extractive model answers only questions that come with a context")
        else:
            t0 = time.perf_counter()
            try:
                span = backend.answer(row.question, row.context, params, stop=cancel.event)
                _record(row, label, span.text, time.perf_counter() - t0, span)  # a span is whole, never cut short
            except Exception as exc:  # noqa: BLE001 - a broken model fails its cell, the rest goes on
                if cancel.event.is_set():  # Stop closed the request (or ended a wait for a busy service): no answer
                    row.fail(label, stopping.INTERRUPTED)
                else:
                    row.fail(label, _reason(exc) if isinstance(exc, StudioError) else _first_line(exc))
        _stop_if_asked(cancel, entry, rows[n:])
        step(n, f"{label}: {n}/{len(rows)}")
    if rows and all(label in r.errors for r in rows):
        entry.error = rows[0].errors[label]


def _run_local_model(entry: ModelEntry, rows: list[QuestionRow], config: EvalConfig, creds,
                     step: Callable[[int, str], None], cancel: StopWatch) -> None:
    from studio.evaluate import perplexity
    from studio.models import cache, generate

    label = entry.label
    step(0, f"loading {label}")
    models_cache = cache.shared()  # the one loader and cache chat uses, so both run the same model
    try:
        lm = models_cache.get(_cache_spec(entry), config.quantization, creds.hf_token)
    except StudioError as exc:
        _fail_all(entry, rows, _reason(exc))
        return
    except Exception as exc:  # a broken checkpoint (bad config, missing weights): this model fails, the rest goes on
        _fail_all(entry, rows, f"Could not load {entry.spec!r}: {_first_line(exc)}")
        return
    if entry.task == "extractive":
        from studio.chat import passage

        try:
            entry.source, entry.device, entry.revision = lm.spec, lm.device, None
            _run_extractive(entry, rows, passage.LocalExtractive(lm, label), config, step, cancel)
        finally:
            del lm
            models_cache.unload(_cache_spec(entry))
        return
    describe_local(entry, lm)
    entry.notes = list(lm.notes)
    entry.latency_batch = min(config.batch_size, len(rows)) or None  # each answer's latency: its batch's time / answers
    try:
        for start in range(0, len(rows), config.batch_size):
            _stop_if_asked(cancel, entry, rows[start:])
            chunk = rows[start:start + config.batch_size]
            questions = [r.question for r in chunk]
            # the first batch's line is saved at once (step 0): "loading <model>" stayed through minutes of answering
            step(start, f"{label}: answering questions {start + 1}-{start + len(chunk)} of {len(rows)}")
            t0 = time.perf_counter()
            try:
                answers = generate.generate_answers(lm, questions, contexts=_contexts(chunk),
                                                    system=config.system_for(entry.spec),
                                                    max_new_tokens=config.max_new_tokens,
                                                    batch_size=config.batch_size, do_sample=config.do_sample,
                                                    seed=config.seed + start, stop=cancel.event)
            except generate.GenerationStopped as stopped:  # Stop came mid-batch: its finished answers stand
                per_answer = (time.perf_counter() - t0) / len(chunk)
                for row, answer in zip(chunk, stopped.answers):
                    if answer is None:
                        row.fail(label, stopping.INTERRUPTED)
                    else:
                        _record(row, label, answer, per_answer)
                _stop_if_asked(cancel, entry, rows[start + len(chunk):])
                raise
            except Exception as exc:  # out of memory on a long batch, a broken tokenizer: this model's cells fail
                for row in chunk:
                    row.fail(label, _first_line(exc))
                continue
            per_answer = (time.perf_counter() - t0) / len(chunk)  # averaged over the batch (studio.evaluate.latency)
            for row, answer in zip(chunk, answers):
                _record(row, label, answer, per_answer)
            _say_cut(lm, chunk, label, config.max_new_tokens, config.system_for(entry.spec))
            if config.perplexity:
                # Stop pressed as the batch ended: its answers stand; the scoring pass (seconds on a CPU) is not begun
                _stop_if_asked(cancel, entry, rows[start + len(chunk):])
                try:
                    ppls = perplexity.reference_perplexity(lm, questions, [r.reference for r in chunk],
                                                           contexts=_contexts(chunk), stop=cancel)
                    for row, ppl in zip(chunk, ppls):
                        if ppl is not None:  # None: the prompt fills the context, no word of the reference was scored
                            row.scores[label]["perplexity"] = float(ppl)
                except Exception:  # noqa: BLE001 - perplexity is a bonus column; the answers stand
                    pass
                _stop_if_asked(cancel, entry, rows[start + len(chunk):])  # Stop during the pass: not on to the next
            step(start + len(chunk), f"{label}: {start + len(chunk)}/{len(rows)}")
    finally:
        del lm
        models_cache.unload(_cache_spec(entry))  # the next model gets the memory


CUT = ("Too long for the model's context ({limit:,} tokens, the answer's included): only the last {kept:,} of its "
       "{tokens:,} tokens were read.")
"""A question (with its passage) cut to the model's context, in its answer's cell: the answer is to what was read."""


def _say_cut(lm, rows: list[QuestionRow], label: str, max_new_tokens: int, system: str = "") -> None:
    """Note each question of ``rows`` whose prompt ``generate_answers`` cut to the model's context (it keeps the end)."""
    from studio.models import generate

    limit = generate.context_limit(lm.model)
    if limit is None:
        return
    lengths = generate.prompt_lengths(lm, [r.question for r in rows], _contexts(rows), system)
    for row, tokens in zip(rows, lengths):
        kept, _ = generate.fit_prompt(tokens, limit, max_new_tokens)
        if kept < tokens:
            row.notes[label] = CUT.format(limit=limit, kept=kept, tokens=tokens)


def _cache_spec(entry: ModelEntry) -> str:
    """The spec the model cache loads: an extractive local model under ``qa:`` (its own loader)."""
    if entry.task == "extractive":
        return str(parse_spec(entry.spec).as_qa())
    return entry.spec


def _run_api_model(entry: ModelEntry, rows: list[QuestionRow], config: EvalConfig, creds,
                   step: Callable[[int, str], None], cancel: StopWatch) -> None:
    label = entry.label
    if entry.task == "extractive":
        from studio.chat import passage

        try:
            bspec = _backend_spec(entry.spec, config)
            backend = passage.ApiExtractive(bspec, passage.token_for(bspec, creds.hf_token, creds.api_key))
        except StudioError as exc:
            _fail_all(entry, rows, _reason(exc))
            return
        entry.revision = config.qa_endpoint or config.api_provider or "auto"
        _run_extractive(entry, rows, backend, config, step, cancel)
        return
    try:
        backend = _chat_backend(entry.spec, config, creds)
        params = _chat_params(config)
    except StudioError as exc:
        _fail_all(entry, rows, _reason(exc))
        return
    entry.revision = config.api_base_url or config.api_provider or "auto"

    def ask(row: QuestionRow) -> tuple[QuestionRow, str, float]:
        if cancel():
            raise CancelledError(stopping.NOT_RUN)
        t0 = time.perf_counter()
        content = prompt_format.user_content(row.question, row.context)
        system = config.system_for(entry.spec)
        messages = [*([{"role": "system", "content": system}] if system else []), {"role": "user", "content": content}]
        answer = _complete(backend, messages, params, cancel)
        return row, answer, time.perf_counter() - t0

    finished = 0
    with ThreadPoolExecutor(max_workers=config.api_concurrency) as pool:
        futures = {pool.submit(ask, row): row for row in rows}
        for fut in as_completed(futures):
            row = futures[fut]
            try:
                _, answer, latency = fut.result()
                _record(row, label, answer.strip(), latency)
            except StudioError as exc:
                row.fail(label, _reason(exc))
            except Exception as exc:  # an SDK error the backend did not translate: keep it as the cell's reason
                row.fail(label, _first_line(exc))
            finished += 1
            step(finished, f"{label}: {finished}/{len(rows)}")
    _stop_if_asked(cancel)
    if all(label in r.errors for r in rows) and rows:
        entry.error = rows[0].errors[label]


def _add_similarity(result: EvalResult) -> None:
    """Each answer's cosine similarity with its reference (one embedding pass per model)."""
    from studio.dedup import semantic

    for entry in result.models:
        label = entry.label
        rows = [r for r in result.rows if label in r.scores]
        if rows:
            sims = semantic.answer_similarity([r.answers[label] for r in rows], [r.reference for r in rows])
            for row, sim in zip(rows, sims):
                row.scores[label]["similarity"] = sim


def _run_judge(config: EvalConfig, result: EvalResult, creds, step: Callable[[int, str], None],
               cancel: StopWatch) -> None:
    try:
        backend = _chat_backend(config.judge, config, creds)
        params = _chat_params(config, max_new_tokens=60)
    except StudioError as exc:
        result.notes.append(f"Judge {config.judge!r} unavailable: {exc}")
        return
    n, asked, ungraded = 0, 0, []
    for entry in result.models:
        for row in result.rows:
            _stop_if_asked(cancel)
            answer = row.answers.get(entry.label)
            n += 1
            if answer is None:
                continue
            asked += 1
            try:
                reply = _complete(backend, metrics.judge_messages(row.question, row.reference, answer), params, cancel)
            except CancelledError:  # a verdict cut short is no verdict
                _stop_if_asked(cancel)
                raise
            except StudioError as exc:
                row.judge[entry.label] = Verdict(score=None, reason=f"judge failed: {_reason(exc)}")
            else:
                verdict = metrics.parse_verdict(reply)
                row.judge[entry.label] = (Verdict(score=verdict.score, reason=verdict.reason) if verdict
                                          else Verdict(score=None, reason=f"unreadable verdict: {reply.strip()[:120]}"))
            if row.judge[entry.label].score is None:
                ungraded.append(row.judge[entry.label].reason)
            step(n, f"judging {entry.label}")
    if ungraded:  # said once, not only in each question's details
        result.notes.append(_judge_note(config.judge, asked, ungraded))


def _judge_note(judge: str, asked: int, ungraded: list[str]) -> str:
    """'The judge X graded none of the 6 answers: <the first reason>' (or 'could not grade 2 of the 6')."""
    what = f"graded none of the {asked} answers" if len(ungraded) == asked else \
        f"could not grade {len(ungraded)} of the {asked} answers"
    return (f"Judge {judge!r} {what} (left out of its mean): {ungraded[0]}"
            + ("" if len(ungraded) == 1 else " (the first; each question's details give its own)"))


def _run_id_of(spec: str) -> str | None:
    try:
        parsed = parse_spec(spec)
    except StudioError:  # a result file written by hand or by an older version
        return None
    return parsed.name if parsed.kind == "run" else None


def run_curves(result: EvalResult) -> dict[str, list[dict]]:
    """The logged metrics of every training run evaluated, by model label (runs whose files are gone are left out)."""
    from studio.train import runs

    curves = {}
    for entry in result.models:
        run_id = entry.run_id or _run_id_of(entry.spec)
        if not run_id:
            continue
        try:
            run = runs.load_run_dir(Path(entry.run_dir)) if entry.run_dir else runs.load_run(run_id)
            curves[entry.label] = list(run.metrics())
        except (StudioError, OSError, ValueError):
            continue
    return curves
