"""``python -m studio train|ask|runs``: training in the foreground, asking a model, listing runs.

The Train page starts exactly this ``train`` command as a background job (``studio.jobs``). Several
GPUs: ``accelerate launch --multi_gpu --num_processes N -m studio train ...`` (one process per GPU; the
Trainer spreads the batches over them; tests/train/test_multiprocess.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
import sys
from pathlib import Path

from studio import config, jobs
from studio.data.display import for_terminal, plural
from studio.data.ref import DatasetRef
from studio.errors import JobBusyError, StudioError, TrainingError
from studio.models import fast_decoding, run_folders
from studio.models.spec import parse_spec
from studio.train import lora, resumable, runs
from studio.train.config import SCRATCH, TrainConfig
from studio.train.lora import LORA_FIELDS

NOT_FLAGS = ("base",)  # --base has its own flag: it also picks the default preset
"""Every other TrainConfig field is a flag made from its metadata (``studio.settings.add_flags``):
``--lr``, ``--batch-size``, ``--save-steps``, ``--gradient-checkpointing/--no-gradient-checkpointing``, ..."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a dataset (foreground, with a progress line)")
    p.add_argument("--dataset", help="a JSON dataset file, or a workspace dataset name or id")
    p.add_argument("--dataset-version", type=int, help="workspace dataset version (default: latest)")
    p.add_argument("--base", help="scratch, distilgpt2, a Hub id, a local folder or run:<id> (default: the preset's; without a "
                   "preset distilgpt2, or the bundled SmolLM2-135M-Instruct where distilgpt2 cannot be loaded, as on "
                   "the Train page)")
    p.add_argument("--preset", help="recommended (sized to the data), tutorial, scratch or quick (default: scratch for --base scratch, else recommended)")
    p.add_argument("--out", help="the run folder (default: a new folder under STUDIO_HOME/runs)")
    p.add_argument("--name", help="the run's display name")
    p.add_argument("--config-json", help="a TrainConfig as JSON (the page passes its settings this way)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    from studio import settings

    fields = p.add_argument_group("training settings (override the preset's; --config-json gives them all at once)")
    settings.add_flags(fields, TrainConfig, skip=NOT_FLAGS)
    p.set_defaults(func=cmd_train)

    a = sub.add_parser("ask", help="print a model's answer to a question")
    a.add_argument("model", help="a model folder, run:<id>, a run id or a Hub id")
    a.add_argument("question")
    a.add_argument("--max-new-tokens", type=int, default=128)
    a.add_argument("--fast-decoding", action="store_true", help=fast_decoding.FLAG_HELP)
    a.set_defaults(func=cmd_ask)

    m = sub.add_parser("merge", help="merge a LoRA run's adapter into its base: a full model for export and serving")
    m.add_argument("run", help="a run id, run:<id> or a run folder")
    m.add_argument("--out", help="where to write the merged model (default: the run's merged/ folder)")
    m.set_defaults(func=cmd_merge)

    r = sub.add_parser("runs", help="list, rename or delete training runs, or drop finished runs' checkpoints")
    r.add_argument("action", nargs="?", default="list", choices=["list", "rename", "delete", "drop-checkpoints"],
                   help="drop-checkpoints [RUN_ID]: delete the checkpoints a finished run keeps for resuming (every "
                        "finished run's without RUN_ID); its model stays")
    r.add_argument("run_id", nargs="?")
    r.add_argument("new_name", nargs="?")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r.set_defaults(func=cmd_runs)


def _config(args: argparse.Namespace, n_records: int = 0, say=print):
    """The run's TrainConfig from the flags; its "note:" and "preset:" lines go to ``say`` (``_train`` prints them once
    the base and the run folder are checked, so a refused start prints its error line alone)."""
    from studio.train import config as train_config

    if args.config_json:
        try:
            given = json.loads(args.config_json)
        except ValueError as exc:
            raise TrainingError(f"--config-json is not a training config: {exc}") from None
        if not isinstance(given, dict):
            raise TrainingError("--config-json is not a training config: give a JSON object of settings, "
                                'like {"base": "scratch", "epochs": 3}.')
        known = [f.name for f in dataclasses.fields(TrainConfig)]
        unknown = [k for k in given if k not in known]
        if unknown:  # a misspelt setting ("lr") was dropped without a word and the run used the default
            from studio import settings

            flags = {settings.meta(TrainConfig, k)["flag"].lstrip("-").replace("-", "_"): k for k in known
                     if settings.meta(TrainConfig, k).get("flag")}  # --lr is learning_rate
            close = [flags[unknown[0]]] if unknown[0] in flags else difflib.get_close_matches(str(unknown[0]), known, n=1)
            raise TrainingError(f"--config-json has no setting {unknown[0]!r}"
                                + (f" (did you mean {close[0]!r}?)" if close else "")
                                + f": the settings are {', '.join(known)}.")
        try:
            cfg = TrainConfig.from_dict(given)
        except TypeError as exc:
            raise TrainingError(f"--config-json is not a training config: {exc}") from None
        if args.base:
            cfg = cfg.replace(base=args.base)
        if "method" not in given and not args.method and cfg.base != SCRATCH:
            # a missing "method" follows the base as the flags do: an earlier LoRA run given as the base trained a
            # full model (the JSON's default) where the flags continued its adapters
            cfg = cfg.replace(method=lora.default_method(_continued(cfg.base, None)))
        json_asked = {k: getattr(cfg, k) for k in LORA_FIELDS if k in given}  # an adapter's own settings: checked below
    else:
        base = args.base or (train_config.preset(args.preset).base if args.preset else None)  # an unknown one: one line
        if base is None:
            base, why = train_config.default_base()
            if why:
                say(f"note: {why}")
        name = args.preset or train_config.default_preset(base)
        adapters = _continued(base, args.method)
        # an earlier LoRA run or a Hub adapter starts on LoRA, as on the Train page: its own adapters trained further
        method = args.method or lora.default_method(adapters)  # a QLoRA run's on LoRA where there is no CUDA GPU
        if name == "recommended":
            trains = (f"{adapters['of']} continued, rank {adapters['lora_r']} on {adapters['lora_targets']}"
                      if adapters else "")
            cfg, reason = train_config.recommend(n_records, base=base, method=method, parameters=_parameters(base),
                                                 change_it=f"with {train_config.recommended_flags()}", trains=trains)
        else:
            cfg = train_config.preset(name, base=base)
            if method != cfg.method and base != SCRATCH:
                cfg = cfg.replace(method=method)
    from studio import settings

    changes = settings.overrides(args, TrainConfig, skip=NOT_FLAGS)  # over --config-json's too, as the help says
    asked = {**(json_asked if args.config_json else {}), **changes}
    preset_cfg, cfg = cfg, cfg.replace(**changes) if changes else cfg
    adapters = _continued(cfg.base, cfg.method) if cfg.method != "full" else None
    if adapters:  # they train as they were made: run.json records their rank and targets, not the defaults, as on
        # the Train page (which shows them, not boxes). A value given otherwise is refused, never replaced without a
        # word: --config-json's "lora_r": 8 trained the adapter's rank 4 and run.json said 4.
        refused = [k for k in LORA_FIELDS if k in asked and not lora.same_setting(k, asked[k], adapters[k])]
        if refused:
            k = refused[0]
            was = (f"{settings.label(TrainConfig, k)} {_shown(adapters[k])}")
            if k not in changes:  # from --config-json, not a flag
                raise TrainingError(f'--config-json\'s "{k}": {json.dumps(asked[k])} cannot apply: {cfg.base} is '
                                    f"continued as its adapters were made ({was}); leave \"{k}\" out (or give "
                                    f"{json.dumps(adapters[k])}), or set \"method\": \"full\".")
            raise TrainingError(f"{settings.flag(TrainConfig, k)} {_shown(asked[k])} cannot apply: {cfg.base} is "
                                f"continued as its adapters were made ({was}); leave the flag out, or use --method full.")
        cfg = cfg.replace(**{k: adapters[k] for k in LORA_FIELDS})
    if not args.config_json and name == "recommended":  # "nothing held out" above a run given --test-fraction 0.1: say
        changed = [f"{settings.label(TrainConfig, k)} {_shown(getattr(preset_cfg, k))} → {_shown(v)}"  # what the flags changed
                   for k, v in changes.items() if k != "method" and v != getattr(preset_cfg, k)]
        say(f"preset: {reason}" + (f" Changed with flags: {', '.join(changed)}." if changed else ""))
    return cfg


def _continued(base: str, method: str | None) -> dict | None:
    """``lora.continued`` for a base that is an earlier LoRA run or a Hub adapter (None for others, and for a full
    run)."""
    from studio.train import lora

    if base == SCRATCH or method == "full":
        return None
    return lora.continued(base)


def _shown(value: object) -> str:
    """A setting as the preset line writes it: 0.1, 2e-05, 12 (not 12.0)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _parameters(base: str) -> int | None:
    """The base's parameter count from its config (for the recommended preset), None when unknown."""
    from studio.train import memory

    if base == SCRATCH:  # a model from zero: its size is its preset's (the run's shape: ``memory.run_shape``)
        return None
    try:
        return memory.shape_for_base(base).params
    except StudioError:
        return None


def cmd_train(args: argparse.Namespace) -> int:
    job_dir = os.environ.get("STUDIO_JOB_DIR")
    try:
        return _train(args)
    except StudioError as exc:
        # A job that fails before training starts (bad dataset, busy device) still says why on the page.
        if job_dir and jobs.read_status(Path(job_dir)).state not in jobs.DONE:
            jobs.update_status(Path(job_dir), state="failed", error=str(exc), message="failed")
        raise


def _train(args: argparse.Namespace) -> int:
    from studio.data.ref import load_dataset
    from studio.train import config as train_config
    from studio.train import loop, memory, recipe

    made: list[Path] = []  # the folders this start makes for its run
    said: list[str] = []  # the preset line and notes: printed once the start is accepted, not above its error line
    if args.resume:
        if not args.out:
            raise TrainingError("--resume needs --out RUN_DIR: the run to continue.")
        out = run_folder_arg(args.out)  # a run folder, or a run's id as `python -m studio runs` lists it
        run = runs.load_run_dir(out)
        if run.status.state == "finished":  # resuming would train past its end and write over its model
            raise TrainingError(f"Run {out.name} has finished: nothing to resume. To train its model further, start "
                                f"a new run with --base {out / 'model'}.")
        if not run.config or not isinstance(run.config, dict) or not isinstance(run.dataset, dict) or not (
                run.dataset.get("file") or run.dataset.get("id")):
            raise TrainingError(f"Run {out.name} cannot be resumed: its run.json (its settings and dataset) is missing "
                                "or damaged. Start a new run instead; its checkpoints and model are left as they are.")
        cfg = TrainConfig.from_dict(run.config)
        resumable.checkpoint(out)  # a damaged checkpoint is said before the run's status and time are touched
        records, ref = run.dataset_ref.load()
        if run.dataset_ref.sha256 and ref.sha256 != run.dataset_ref.sha256:
            raise TrainingError("The run's dataset version changed on disk since it started: start a new run instead.")
        name = run.name
    else:
        if not args.dataset:
            raise TrainingError("Give --dataset FILE (a JSON Q&A file) or a workspace dataset name.")
        args.name = runs.check_name(args.name or "") or None  # a refused name starts nothing
        records, ref = load_dataset(args.dataset, args.dataset_version)
        cfg = _config(args, len(records), say=said.append)  # a bad setting is said first, as for any dataset
        if cfg.liger or cfg.method == "qlora":  # Triton kernels, a 4-bit base: a CUDA GPU, or one line saying so
            from studio.models import loading
            from studio.train import base, liger

            device = loading.pick_device()
            base.refuse_qlora(cfg.method, device)
            if cfg.liger:
                liger.refuse(device)
        recipe.usable_indices(records)  # an empty dataset is refused in one line, before a run folder exists
        if cfg.base != SCRATCH:  # a base that is not there, or a Hub id with no network: said before a run folder too
            from studio.errors import HubUnreachableError
            from studio.models import loading
            from studio.train.config import OFFLINE_REMEDY

            base_ref = loading.resolve(cfg.base)
            if base_ref.kind == "hub" and not loading.hub_reachable() and not loading.in_hub_cache(cfg.base):
                raise HubUnreachableError(cfg.base, OFFLINE_REMEDY)
            memory.check_folder(base_ref)  # a config.json alone, or sizes that are no sizes: not a job that fails
        loop.check_answers_fit(cfg, records)  # every prompt filling Max length: refused before a run folder exists
        out = Path(args.out) if args.out else config.runs_dir(make=False) / runs.new_run_id(args.name or ref.name or "run")
        if out.exists() and not out.is_dir():
            raise TrainingError(f"--out {out} is a file: give a folder for the run (it is created if needed).")
        made = config.missing(out)  # taken back where the start is refused
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrainingError(f"Cannot create the run folder {out} ({exc.strerror or exc}): choose another --out.") from None
        config.made(made)  # in a public app's job, counted in its visitor's total as they are made
        if runs.holds_another_run(out):  # not the run another process of this launch started meanwhile
            raise TrainingError(f"{out} already holds a run: choose another --out, or add --resume to continue it.")
        name = args.name or runs.default_name(ref.name, cfg.base)
        advice = train_config.held_out_advice(cfg, len(records), cli=True)
        if advice:  # said before the run, not only by Evaluate afterwards ("All 40 questions are leaked")
            said.append(f"note: {advice}")
    in_job = os.environ.get("STUDIO_JOB_DIR")
    if not in_job or Path(in_job).resolve() != out.resolve():
        # A foreground run: take the device like a job would, so the page does not start a second one.
        try:
            jobs.claim_device("train", out, title=name)
        except JobBusyError:  # refused: no empty run folder (nor runs/) left behind
            config.take_back(made)
            raise
    for line in said:  # the preset line and notes: once the start is accepted, never above an error line
        print(line, flush=True)
    print(f"run: {out}", flush=True)
    adapters = _continued(cfg.base, cfg.method) if cfg.method != "full" else None
    method = (f"{cfg.method} ({adapters['of']} continued, rank {cfg.lora_r} on {cfg.lora_targets})" if adapters
              else cfg.method)
    print(f"base: {cfg.base} · method {method} · dataset: {ref.name} ({ref.count} records) · "
          f"epochs {cfg.epochs}" + (f" (stops at step {cfg.max_steps}: --max-steps overrides epochs)"
                                     if cfg.max_steps > 0 else "") + f" · lr {cfg.learning_rate} · "
          + (f"{cfg.batch_tokens} tokens per step" if cfg.batch_tokens else f"batch {cfg.batch_size}"), flush=True)
    try:
        result = loop.run_job(cfg, records, out, dataset=ref, name=name, resume=args.resume)
    except KeyboardInterrupt:  # Ctrl-C: the run is stopped (run_job marks it so); say how to go on, as a stop does
        return _interrupted(out)
    loss = f" · train loss {result.train_loss:.4f}" if result.train_loss is not None else ""
    evl = f" · eval loss {result.eval_loss:.4f}" if result.eval_loss is not None else ""
    # the run's average, as the Train page says it (non-padding tokens over its time in the training loop)
    average = f" · {result.tokens_per_s:,.0f} tokens/s on average" if result.tokens_per_s else ""
    if result.state != "finished" and runs.last_checkpoint(out) is None:  # Stop came before its first step
        print("stopped before its first step: nothing was trained and there is nothing to resume; start a new run.",
              flush=True)
        return 0
    # the training time across every start and resume of the run, not only this session's
    print(f"{result.state}: {plural(result.steps, 'step')} in {runs.time_note(out)}{loss}{evl}{average}", flush=True)
    if result.state == "finished":
        print(f"model: {out / 'model'}", flush=True)
    else:
        print(f"resume with: python -m studio train --resume --out {out}", flush=True)
    return 0


INTERRUPTED = 130  # the shell's code for a process ended by Ctrl-C (128 + SIGINT)


def _interrupted(out: Path) -> int:
    """The lines a run stopped by Ctrl-C ends with: where it stopped, its last checkpoint and the resume
    command (or that it has none to resume from); exit code 130."""
    ckpt = runs.last_checkpoint(out)
    if ckpt is None:
        print("stopped (interrupted) before its first checkpoint: nothing to resume; start a new run (a lower "
              "--save-steps keeps checkpoints sooner).", flush=True)
    else:
        print(f"stopped (interrupted) · last checkpoint: {ckpt} (step {ckpt.name.split('-')[-1]})", flush=True)
        print(f"resume with: python -m studio train --resume --out {out}", flush=True)
    return INTERRUPTED


def run_id_arg(text: str) -> str:
    """A RUN argument: ``run:<id>`` or the bare id (or a run folder), as ``runs`` lists them."""
    parsed = parse_spec(text)
    return parsed.name if parsed.kind == "run" else text.strip()


def run_folder_arg(text: str) -> Path:
    """The folder of a RUN argument: ``run:<id>``, the bare id (as ``runs`` lists them) or a run folder (``runs/faq``,
    one trained with ``--out`` elsewhere), as ``ask``, ``evaluate`` and ``model export`` take one. The one resolver of
    the commands that act on a run (``push``, ``merge``)."""
    spec, given = run_id_arg(text), Path(text.strip()).expanduser()
    folder = given if parse_spec(text).kind != "run" and run_folders.is_run(given) else config.runs_dir(make=False) / spec
    if not run_folders.is_run(folder):
        # the words `evaluate --run` says it in (`runs` itself says a run trained with --out elsewhere is not listed)
        raise run_folders.no_run(text.strip(), **({"why": "that folder holds no run.json"} if given.is_dir() else {}))
    return folder


def cmd_merge(args: argparse.Namespace) -> int:
    from studio.train import lora

    folder = run_folder_arg(args.run)
    out = lora.merge(folder, Path(args.out) if args.out else None)
    print(f"merged into {out}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from studio.chat.base import cut_note
    from studio.models import generate, loading

    if not args.question.strip():  # checked before a model loads (seconds to minutes)
        raise StudioError("The question is empty: type one, e.g. python -m studio ask run:ID \"How long is a match?\"")
    if not 1 <= args.max_new_tokens <= 8192:  # 0 or less answered anyway, as if the flag were not there
        raise StudioError(f"--max-new-tokens {args.max_new_tokens} is out of range: use 1 to 8192 (default 128).")
    lm = loading.load_causal_lm(args.model)
    if args.fast_decoding:
        why = fast_decoding.unavailable(lm)
        print(f"note: {why or fast_decoding.COMPILING}", file=sys.stderr)
    cut_at: list[int | None] = []
    print(for_terminal(generate.answer(lm, args.question, max_new_tokens=args.max_new_tokens,
                                       fast_decoding=args.fast_decoding, cut_at=cut_at)))
    if cut_at[0]:  # it ends mid-sentence: said on stderr, apart from the answer, as chat's command says it
        print(f"note: {cut_note(cut_at[0], flag=True)}", file=sys.stderr)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    # Words the action does not take were dropped without a word: "runs delete A B" deleted A only.
    if args.action == "list" and args.run_id:
        raise StudioError(f"runs list takes no run id (got {args.run_id!r}): python -m studio runs [--json]")
    if args.action in ("delete", "drop-checkpoints") and args.new_name:
        raise StudioError(f"runs {args.action} takes one run id (got {args.run_id!r} and {args.new_name!r}): "
                          "run it once per run.")
    if args.action == "rename":
        if not (args.run_id and args.new_name):
            raise StudioError("Usage: python -m studio runs rename RUN_ID NEW_NAME")
        print(runs.rename_run(args.run_id, args.new_name).name)
        return 0
    if args.action == "delete":
        if not args.run_id:
            raise StudioError("Usage: python -m studio runs delete RUN_ID")
        from studio.evaluate import results as eval_results

        print(f"moved to {runs.delete_run(args.run_id, in_use=eval_results.evaluations_using(args.run_id))}")
        return 0
    if args.action == "drop-checkpoints":
        targets = [args.run_id] if args.run_id else [r.id for r in runs.list_runs()
                                                      if r.status.state == "finished" and r.checkpoints()]
        freed = sum(runs.drop_checkpoints(run_id) for run_id in targets)
        print(f"dropped the checkpoints of {len(targets)} finished run{'' if len(targets) == 1 else 's'}: "
              f"{freed / 2**20:,.1f} MB freed")
        return 0
    rows = []
    for r in runs.list_runs():
        seconds, sessions = runs.training_time(r.dir)
        rows.append({"id": r.id, "name": r.name, "state": r.status.state, "base": r.base,
                     "dataset": DatasetRef.from_dict(r.dataset).label if r.dataset else "-",  # a file: "faq"
                     "created": r.created,
                     "model": r.has_model, "training_s": round(seconds, 1), "sessions": sessions})
    if args.json:
        print(json.dumps(rows, indent=1))
    elif not rows:
        # "no runs yet" right after `train --out runs/faq` (a folder of the current directory) read as if it was lost
        print(f"no runs in the workspace yet ({config.runs_dir(make=False)}); a run trained with --out elsewhere is not listed "
              "(give its folder to ask, evaluate or model export). Start one: python -m studio train --dataset FILE "
              "--base scratch")
    else:
        # each column as wide as its widest cell: a run named by its folder ("faq") beside a timestamp id, or a base
        # longer than 12 characters, moved the rest of its line out of its columns
        lines = [(row["id"], row["state"], runs.fmt_duration(row["training_s"]) if row["sessions"] else "-",
                  row["base"] or "-", row["dataset"]) for row in rows]
        widths = [max(len(str(line[i])) for line in lines) for i in range(5)]
        for row, (run_id, state, took, base, dataset) in zip(rows, lines, strict=True):
            print(f"{run_id:<{widths[0]}}  {state:<{widths[1]}}  {took:>{widths[2]}}  {base:<{widths[3]}}  "
                  f"{dataset:<{widths[4]}}  {row['name']}")
    sys.stdout.flush()
    return 0
