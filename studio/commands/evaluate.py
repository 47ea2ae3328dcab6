"""``python -m studio evaluate``: answer a dataset's questions with several models and score them.

    python -m studio evaluate --dataset qa.json --model distilgpt2 --model run:abc --out report.json --html report.html
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from studio import config as studio_config
from studio.commands import refuse_overwriting_inputs
from studio.data import store
from studio.errors import ModelSpecError, StudioError
from studio.models.spec import ModelSpec, parse_spec


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate models on held-out questions and write a report",
                       description="Answer every question with every model, score the answers against the references "
                                   "(exact match, token F1, ROUGE-L, chrF, reference perplexity, length, latency) and "
                                   "write REPORT.json (and optionally an HTML or CSV report).",
                       epilog="exit status: 0 the evaluation finished (a model that failed is a warning); 1 it ran "
                              "but every model failed (the reports are still written); 2 a bad input, refused "
                              "before the first question (a --model or --judge out of reach, e.g. a Hub id not in "
                              "the local cache while offline, refuses the whole run, the others' too: leave it out to "
                              "evaluate the rest); 130 stopped (Ctrl-C).")
    src = p.add_argument_group("questions (one of)")
    src.add_argument("--dataset", metavar="FILE", help="a JSON/JSONL file of {question, answer} records, or a dataset name in the workspace")
    src.add_argument("--dataset-version", type=int, metavar="N", help="version of a workspace dataset (default: latest)")
    src.add_argument("--run", metavar="RUN_ID", help="a training run: evaluate on its held-out split")
    src.add_argument("--all-questions", action="store_true",
                     help="with --dataset naming the dataset a --model run trained on: ask every record (its training "
                          "questions are flagged as leaked) instead of that run's held-out split")
    p.add_argument("--model", action="append", default=[], metavar="MODEL",
                   help="a run directory, run:<id>, a local model folder, a Hub id, or api:<id>; extractive models: "
                        "qa:<model> (local) or api:qa:<id> (hosted) (repeat for several)")
    p.add_argument("--out", metavar="REPORT.json", help="where to write the JSON report")
    p.add_argument("--html", metavar="REPORT.html", help="also write a self-contained HTML report")
    p.add_argument("--csv", metavar="REPORT.csv", help="also write a CSV with one row per question")
    p.add_argument("--force", action="store_true", help="replace --out, --html or --csv when the file exists")
    p.add_argument("--base-url", help="an OpenAI-compatible endpoint (.../v1): model ids that are not local become API models")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the --base-url server's key (default OPENAI_API_KEY); "
                        "the Hugging Face token is never sent to a base URL")
    p.add_argument("--provider", help="Inference Providers routing for api: models (auto, hf-inference, ...)")
    p.add_argument("--qa-endpoint", metavar="URL", help="api:qa: models: a dedicated endpoint instead of Inference "
                                                         "Providers (the HF token goes only to a Hugging Face host)")
    p.add_argument("--concurrency", type=int, default=4, help=_help("api_concurrency"))
    p.add_argument("--api-timeout", type=float, default=60.0, metavar="S", help=_help("api_timeout_s"))
    p.add_argument("--sample", type=int, metavar="N", help=_help("sample"))
    p.add_argument("--seed", type=int, default=0, help=_help("seed"))
    p.add_argument("--max-new-tokens", type=int, default=64, help=_help("max_new_tokens"))
    p.add_argument("--batch-size", type=int, default=8, help=_help("batch_size"))
    p.add_argument("--sampling", action="store_true", help="sample instead of greedy decoding (seeded)")
    p.add_argument("--temperature", type=float, default=0.7, help=_help("temperature"))
    p.add_argument("--no-perplexity", action="store_true", help="skip the reference perplexity")
    p.add_argument("--system-prompt", metavar="TEXT", default=None,
                   help="the system prompt chat models are asked with (default: Chat's); an empty one, or "
                        "--no-system-prompt, sends none. A trained run is asked as trained, with none")
    p.add_argument("--no-system-prompt", action="store_true", help="ask chat models with no system prompt")
    p.add_argument("--judge", metavar="MODEL", help="a chat model (api:<id> or local) that grades answers 1-5")
    p.add_argument("--train", metavar="FILE", help="training records to check leakage against")
    p.add_argument("--leakage-threshold", type=float, default=90.0, help=_help("leakage_threshold"))
    p.add_argument("--semantic-leakage", action="store_true", help="also flag paraphrased training questions (embeddings)")
    p.add_argument("--similarity", action="store_true", help="add the semantic similarity of each answer to its reference")
    p.add_argument("--job", metavar="EVAL_ID", help=argparse.SUPPRESS)  # the background job started by the page
    p.set_defaults(func=run)


def _help(name: str) -> str:
    """An EvalConfig field's help and range (``studio.settings``), written once in the config."""
    from studio import settings
    from studio.evaluate.config import EvalConfig

    return settings.flag_help(EvalConfig, name)


def _model_spec(spec: str, base_url: str | None) -> str:
    if not base_url:
        return spec
    try:
        if parse_spec(spec).kind not in ("hub", "path"):  # prefixed, or a GGUF file: already says what it is
            return spec
    except ModelSpecError:
        pass  # "llama3:8b": a server's model name, not a spec
    if Path(spec).expanduser().exists() or (studio_config.runs_dir(make=False) / spec).is_dir():
        return spec
    return str(ModelSpec("api", spec))  # with --base-url, a model id that is not on disk is served by the endpoint


def _config(args: argparse.Namespace):
    """The evaluation's settings, and a note on the questions asked (a run's held-out split instead of the dataset it
    trained on), to print once every check has passed: a refusal is its one line alone."""
    from studio.evaluate.config import EvalConfig

    if not args.model:
        raise StudioError("No model given: add --model MODEL (repeat it to compare several).")
    if not (args.dataset or args.run):
        raise StudioError("No questions given: add --dataset FILE (or --run RUN_ID for a run's held-out split).")
    if args.dataset_version is not None and not args.dataset:  # --run's split: the version was ignored
        raise StudioError("--dataset-version names a version of --dataset: add --dataset NAME, or leave it out (--run "
                          "asks the held-out split of the version the run trained on).")
    dataset_file = dataset_id = None
    if args.dataset:
        if Path(args.dataset).expanduser().is_file():
            if args.dataset_version is not None:  # it was ignored: the report named the file, every record asked
                raise StudioError(f"{Path(args.dataset).name} is a file: it has no versions (--dataset-version is for "
                                  "workspace datasets). Leave it out, or give a workspace dataset's name.")
            dataset_file = str(Path(args.dataset).expanduser())
        else:
            found = store.find_dataset(args.dataset)
            if found is None:
                raise StudioError(f"No file or workspace dataset {args.dataset!r}: check the path or the name.")
            dataset_id = found.id
    run_id, note = args.run, None
    if not run_id and not args.all_questions:
        held_out, note = _held_out_instead(args.model, dataset_id, args.dataset_version, dataset_file)
        if held_out:
            run_id, dataset_id, dataset_file = held_out, None, None
    cfg = EvalConfig(
        models=tuple(_model_spec(m, args.base_url) for m in args.model), run_id=run_id, dataset_id=dataset_id,
        dataset_version=args.dataset_version, dataset_file=dataset_file, sample=args.sample, seed=args.seed,
        max_new_tokens=args.max_new_tokens, batch_size=args.batch_size, do_sample=args.sampling,
        temperature=args.temperature, perplexity=not args.no_perplexity, api_provider=args.provider,
        api_base_url=args.base_url, api_concurrency=args.concurrency, api_timeout_s=args.api_timeout, judge=args.judge,
        leakage_threshold=args.leakage_threshold, train_file=args.train, semantic_leakage=args.semantic_leakage,
        answer_similarity=args.similarity, qa_endpoint=args.qa_endpoint,
        **({"system_prompt": "" if args.no_system_prompt else args.system_prompt.strip()}
           if args.no_system_prompt or args.system_prompt is not None else {}),
    )
    return cfg, note


def _refuse_out_of_reach(cfg) -> None:
    """A local model this machine cannot reach (a Hub id neither in the local cache nor downloadable: offline, or the
    Hub out of reach) is one line before anything is printed or written: it went on to "[0/2] loading nope", a report
    in which nothing was scored, and exit 1. With several models the whole run is refused, as for any bad input: the
    user named each model to compare it (the Evaluate page runs the reachable ones and says why the others failed)."""
    from studio.errors import HubUnreachableError
    from studio.models import loading

    several = len(cfg.models) > 1
    for flag, spec in (*(("--model", m) for m in cfg.models), *((("--judge", cfg.judge),) if cfg.judge else ())):
        try:
            if parse_spec(spec).is_api:
                continue
            loading.check_reachable(spec)
        except ModelSpecError:
            continue  # said in its own words by the evaluation config
        except HubUnreachableError as exc:  # qa:<Hub id> alike, with what loads as an extractive model instead
            rest = ", or leave it out to evaluate the others" if several and flag == "--model" else ""
            raise StudioError(f"{flag} {spec}: not in the local cache and the Hugging Face Hub is out of reach: choose "
                              f"{exc.remedy}{rest}.") from None


def _held_out_instead(models: list[str], dataset_id: str | None, version: int | None,
                      dataset_file: str | None) -> tuple[str | None, str | None]:
    """Where ``--dataset`` names the records a ``--model`` run trained on, every question it trained on would be
    flagged as leaked: the run whose held-out split to ask instead (as the page does), and a note saying what is
    asked and the flag for every record; (None, a note) where the run cannot hold any out; (None, None) otherwise."""
    from studio.train import runs

    for spec in models:
        try:
            parsed = parse_spec(spec)
        except ModelSpecError:
            continue
        folder = Path(spec).expanduser()
        bare = "/" not in spec and os.sep not in spec  # a run's id; a path (absolute: joining would drop the runs folder)
        run_id = parsed.name if parsed.kind == "run" else spec if bare and (studio_config.runs_dir(make=False) / spec).is_dir() \
            else folder.name if folder.is_dir() and folder.resolve().parent == studio_config.runs_dir(make=False).resolve() else None
        try:
            run = runs.load_run(run_id) if run_id else None
        except (StudioError, OSError, ValueError, KeyError, TypeError):
            continue
        ref = run.dataset_ref if run is not None else None
        if ref is None or not ((dataset_id and ref.id == dataset_id) or (
                dataset_file and ref.file and Path(ref.file).resolve() == Path(dataset_file).resolve())):
            continue
        held = len(run.split.get("test") or [])
        if version is not None and ref.version is not None and version != ref.version:
            return None, (f"run {run.id} was trained on v{ref.version} of this dataset: questions it trained on are "
                          f"flagged as leaked (--run {run.id} asks its held-out split).")
        if not held:
            return None, (f"run {run.id} was trained on every record of this dataset (no held-out split): expect high "
                          "scores on questions it has seen (they are flagged as leaked).")
        return run.id, (f"run {run.id} was trained on this dataset: asking its {held:,} held-out "
                        f"question{'s' if held != 1 else ''} (--all-questions asks every record, its training "
                        "questions flagged as leaked).")
    return None, None


def _printer():
    last = [0.0, ""]

    def progress(done: int, total: int, stage: str) -> None:
        now = time.monotonic()
        # a new kind of step ("loading <model>", which takes minutes on a CPU) is said at once, not 2 s later
        kind = stage.split(" ", 1)[0]
        if now - last[0] > 2 or done == total or kind != last[1]:
            print(f"[{done}/{total}] {stage}", file=sys.stderr, flush=True)
            last[0], last[1] = now, kind

    return progress


def _run_holding_the_device(cfg, token: str | None, api_key: str | None):
    """Run the evaluation in the foreground, listed on the Evaluate page as it runs (its job status, which the page
    follows and stops) and after (its result); with a local model, holding the device as a job does (a training run
    or another evaluation holding it refuses this one in one line, and this one refuses them). Once its outcome is
    saved, its job folder goes: it was the live state of a run whose output was the terminal (the page's jobs keep
    theirs, with their log)."""
    from studio import jobs
    from studio.evaluate import job as eval_jobs
    from studio.evaluate import results as eval_results
    from studio.evaluate import runner as evaluate

    eval_id = evaluate.new_id()
    workdir = eval_jobs.job_dir(eval_id)
    made = not studio_config.jobs_dir(make=False).is_dir()
    ctrl_c = threading.Event()
    cancel = lambda: ctrl_c.is_set() or jobs.stop_requested(workdir)  # noqa: E731 - Ctrl-C, or the page's Stop
    try:
        with _ctrl_c_stops(ctrl_c):
            if not evaluate.needs_device(cfg):
                return evaluate.run_evaluation(cfg, token=token, api_key=api_key, eval_id=eval_id, progress=_printer(),
                                               cancel=cancel)
            return _run_on_the_device(cfg, token, api_key, eval_id, cancel)
    finally:
        if eval_results.has_outcome(eval_id):  # else (Ctrl-C, an outcome that did not fit) its status says how it ended
            jobs.unregister_current(workdir, made_registry=made, remove=True)


@contextlib.contextmanager
def _ctrl_c_stops(stopped: threading.Event) -> Iterator[None]:
    """While the evaluation runs, Ctrl-C stops it as the page's Stop does (``stopped`` set): the answers so far are
    saved with the outcome "stopped", where it was ended at once and read on the Evaluate page as "interrupted: the
    evaluation's process ended before it finished (killed or crashed)". A second Ctrl-C ends it at once."""
    if threading.current_thread() is not threading.main_thread():  # a signal handler is the main thread's alone
        yield
        return

    def on_ctrl_c(_signum: int, _frame: object) -> None:
        if stopped.is_set():
            raise KeyboardInterrupt
        stopped.set()
        print("stopping: the answers so far are kept (Ctrl-C again to quit at once)", file=sys.stderr, flush=True)

    before = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _run_on_the_device(cfg, token: str | None, api_key: str | None, eval_id: str, cancel):
    from studio import jobs
    from studio.evaluate import job as eval_jobs
    from studio.evaluate import runner as evaluate

    workdir = eval_jobs.job_dir(eval_id)
    jobs.claim_device("evaluate", workdir, title=", ".join(evaluate.model_labels(cfg.models)))
    state, error = "failed", "interrupted"
    try:
        result = evaluate.run_evaluation(cfg, token=token, api_key=api_key, eval_id=eval_id, progress=_printer(),
                                         cancel=cancel)
        state = result.status if result.status in jobs.DONE else "failed"
        error = (result.error or "") if state == "failed" else ""
        return result
    except KeyboardInterrupt:
        state, error = "stopped", ""
        raise
    finally:
        jobs.update_status(workdir, state=state, error=error, message=state)  # the device is free again


def run(args: argparse.Namespace) -> int:
    from studio.evaluate import job as eval_jobs
    from studio.evaluate import report  # plotly: imported when an evaluation runs, not for every command
    from studio.evaluate import results as eval_results
    from studio.evaluate import runner as evaluate
    from studio.evaluate.questions import load_questions

    token = studio_config.hf_token()
    if args.job:
        result = eval_jobs.run_job(args.job, token=token)
    else:
        if not args.out and not args.html and not args.csv:
            raise StudioError("No output given: add --out REPORT.json (and --html REPORT.html for a page to share).")
        refuse_overwriting_inputs({"--out": args.out, "--csv": args.csv, "--html": args.html},
                                  {"--dataset": args.dataset, "--train": args.train})
        for flag, target in (("--out", args.out), ("--csv", args.csv), ("--html", args.html)):
            if target:
                fmt = report.format_of(target)  # a bad file name fails now, not after the evaluation
                if flag != "--out" and fmt != flag[2:]:  # "--html r.json" wrote JSON without a word
                    raise StudioError(f"{flag} {target} names {'an' if fmt == 'html' else 'a'} {fmt.upper()} file: end "
                                      f"the {flag[2:].upper()} report's name in .{flag[2:]}.")
                if Path(target).expanduser().is_dir():  # "results.json/" a folder: it failed after every answer
                    example = Path(target) / f"report{Path(target).suffix}"
                    raise StudioError(f"{target} is a folder: give a file name, e.g. {example}.")
                if Path(target).expanduser().is_file() and not args.force:  # said before the answers, not after
                    raise StudioError(f"{target} exists: add --force to replace it, or choose another file name.")
        cfg, note = _config(args)
        questions = load_questions(cfg)  # questions that cannot be read fail now, with nothing stored
        evaluate.check_models_there(cfg)
        _refuse_out_of_reach(cfg)
        evaluate.check_passages(cfg, questions)  # once each model is there: "qa:org/nope" offline is out of reach first
        evaluate.check_token(cfg, token)
        if note:  # what is asked, said once nothing refuses the run (it came before the refusal's line)
            print(f"note: {note}", file=sys.stderr)
        api_key = os.environ.get(args.api_key_env) or None if args.base_url or args.qa_endpoint else None
        result = _run_holding_the_device(cfg, token, api_key)
        for target in (args.out, args.csv, args.html):
            if target:
                report.write(result, target, curves=evaluate.run_curves(result) if target == args.html else None)
                print(f"wrote {target}", file=sys.stderr)
    if result.status == "failed":
        raise StudioError(result.error or "The evaluation failed.")
    if result.status == "stopped":  # what was answered before the stop, then why it ended
        _print_summary(result)
        print(f"error: {result.error}", file=sys.stderr)
        return 130
    failed = eval_results.failed_models(result)
    if result.models and len(failed) == len(result.models):  # ran, and nothing was answered: not a success
        label, reason = next(iter(failed.items()))
        others = f" (the report has the other {len(failed) - 1} reasons)" if len(failed) > 1 else ""
        print(f"error: every model failed, so nothing was scored; the first, {label}: {reason}{others}",
              file=sys.stderr)
        return 1
    for model in result.models:
        if model.error:
            print(f"warning: {model.label}: {model.error}", file=sys.stderr)
    for note in result.notes:  # what the page and the HTML report say under the summary (a judge that graded none)
        print(f"note: {note}", file=sys.stderr)
    _print_summary(result)
    saved = eval_results.path(result.id)
    print(f"saved as evaluation {result.id} ({saved})", file=sys.stderr)
    return 0


def _print_summary(result) -> None:
    """Each model's means and how many questions they are over: answered, failed, and stopped (Stop came before the
    answer: not a failure)."""
    from studio.evaluate import results as eval_results

    if result.models:  # what each model was really asked with (a model without a chat template: none); on stderr,
        # beside the notes: stdout stays one line per model
        print(eval_results.describe_system(result), file=sys.stderr)
    for label, s in eval_results.summary_of(result).items():
        shown = ", ".join(f"{k}={v:.3f}" for k, v in s.items()
                          if k in ("exact_match", "f1", "rouge_l", "chrf", "in_passage"))
        stopped = f", {int(s['stopped'])} stopped" if s.get("stopped") else ""
        means = f"{shown} " if shown else ""  # none before the stop: the counts alone
        print(f"{label}: {means}({int(s.get('answered', 0))} answered, {int(s.get('failed', 0))} failed{stopped})")
