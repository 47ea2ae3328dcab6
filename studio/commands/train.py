"""``python -m studio train|ask|runs``: training in the foreground, asking a model, listing runs.

The Train page starts exactly this ``train`` command as a background job (``studio.jobs``). Several
GPUs: ``accelerate launch --multi_gpu --num_processes N -m studio train ...`` (one process per GPU; the
Trainer spreads the batches over them; tests/train/test_multiprocess.py).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from studio import config, jobs
from studio.errors import StudioError, TrainingError
from studio.train import runs

OVERRIDES = {
    # flag: (TrainConfig field, type); the help text is the field's own (studio.train.config.field_help)
    "--epochs": ("epochs", float),
    "--lr": ("learning_rate", float),
    "--batch-size": ("batch_size", int),
    "--weight-decay": ("weight_decay", float),
    "--test-fraction": ("test_fraction", float),
    "--max-length": ("max_length", int),
    "--max-steps": ("max_steps", int),
    "--warmup-steps": ("warmup_steps", float),
    "--grad-accum": ("grad_accum", int),
    "--logging-steps": ("logging_steps", int),
    "--seed": ("seed", int),
    "--question-dropout": ("question_dropout", float),
    "--scratch-size": ("scratch_size", str),
    "--vocab-size": ("vocab_size", int),
    "--method": ("method", str),
    "--lora-r": ("lora_r", int),
    "--lora-alpha": ("lora_alpha", int),
    "--lora-dropout": ("lora_dropout", float),
    "--lora-targets": ("lora_targets", str),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a dataset (foreground, with a progress line)")
    p.add_argument("--dataset", help="a JSON dataset file, or a workspace dataset name or id")
    p.add_argument("--dataset-version", type=int, help="workspace dataset version (default: latest)")
    p.add_argument("--base", help="scratch, distilgpt2, a Hub id, a local folder or run:<id> (default: the preset's)")
    p.add_argument("--preset", help="recommended (sized to the data), tutorial, scratch or quick (default: scratch for --base scratch, else recommended)")
    p.add_argument("--out", help="the run folder (default: a new folder under STUDIO_HOME/runs)")
    p.add_argument("--name", help="the run's display name")
    p.add_argument("--config-json", help="a TrainConfig as JSON (the page passes its settings this way)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    from studio.train.config import field_help

    for flag, (name, typ) in OVERRIDES.items():
        p.add_argument(flag, type=typ, help=field_help(name))
    p.set_defaults(func=cmd_train)

    a = sub.add_parser("ask", help="print a model's answer to a question")
    a.add_argument("model", help="a model folder, run:<id>, a run id or a Hub id")
    a.add_argument("question")
    a.add_argument("--max-new-tokens", type=int, default=128)
    a.set_defaults(func=cmd_ask)

    m = sub.add_parser("merge", help="merge a LoRA run's adapter into its base: a full model for export and serving")
    m.add_argument("run", help="a run id, run:<id> or a run folder")
    m.add_argument("--out", help="where to write the merged model (default: the run's merged/ folder)")
    m.set_defaults(func=cmd_merge)

    r = sub.add_parser("runs", help="list, rename or delete training runs")
    r.add_argument("action", nargs="?", default="list", choices=["list", "rename", "delete"])
    r.add_argument("run_id", nargs="?")
    r.add_argument("new_name", nargs="?")
    r.add_argument("--json", action="store_true", help="print JSON instead of a table")
    r.set_defaults(func=cmd_runs)


def _config(args: argparse.Namespace, n_records: int = 0):
    from studio.train import loop as train

    if args.config_json:
        try:
            cfg = train.TrainConfig.from_dict(json.loads(args.config_json))
        except (ValueError, TypeError) as exc:
            raise TrainingError(f"--config-json is not a training config: {exc}") from None
        if args.base:
            cfg = cfg.replace(base=args.base)
    else:
        base = args.base or (train.PRESETS[args.preset].base if args.preset else train.default_base())
        name = args.preset or train.default_preset(base)
        if name == "recommended":
            cfg, why = train.recommend(n_records, base=base, method=args.method or "full", parameters=_parameters(base))
            print(f"preset: {why}", flush=True)
        else:
            cfg = train.preset(name, base=base)
    changes = {}
    for flag, (field, _typ) in OVERRIDES.items():
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            changes[field] = value
    return cfg.replace(**changes) if changes else cfg


def _parameters(base: str) -> int | None:
    """The base's parameter count from its config (for the recommended preset), None when unknown."""
    from studio.train import memory

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
    from studio.train import loop as train

    if args.resume:
        if not args.out:
            raise TrainingError("--resume needs --out RUN_DIR: the run to continue.")
        out = Path(args.out)
        run = runs.load_run_dir(out)
        cfg = train.TrainConfig.from_dict(run.config)
        ds = run.dataset
        records, meta = train.load_dataset(ds.get("file") or ds.get("id") or "", ds.get("version"))
        if ds.get("sha256") and meta["sha256"] != ds["sha256"]:
            raise TrainingError("The run's dataset version changed on disk since it started: start a new run instead.")
        name = run.name
    else:
        if not args.dataset:
            raise TrainingError("Give --dataset FILE (a JSON Q&A file) or a workspace dataset name.")
        records, meta = train.load_dataset(args.dataset, args.dataset_version)
        cfg = _config(args, len(records))
        out = Path(args.out) if args.out else config.runs_dir() / runs.new_run_id(args.name or meta["name"] or "run")
        if out.exists() and not out.is_dir():
            raise TrainingError(f"--out {out} is a file: give a folder for the run (it is created if needed).")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TrainingError(f"Cannot create the run folder {out} ({exc.strerror or exc}): choose another --out.") from None
        if (out / runs.RUN_JSON).exists():
            raise TrainingError(f"{out} already holds a run: choose another --out, or add --resume to continue it.")
        name = args.name or f"{meta['name']} · {cfg.base}"
    in_job = os.environ.get("STUDIO_JOB_DIR")
    if not in_job or Path(in_job).resolve() != out.resolve():
        # A foreground run: take the device like a job would, so the page does not start a second one.
        jobs.claim_device("train", out)
    print(f"run: {out}", flush=True)
    print(f"base: {cfg.base} · method {cfg.method} · dataset: {meta['name']} ({meta['count']} records) · "
          f"epochs {cfg.epochs} · lr {cfg.learning_rate} · batch {cfg.batch_size}", flush=True)
    result = train.run_job(cfg, records, out, dataset=meta, name=name, resume=args.resume)
    loss = f" · train loss {result.train_loss:.4f}" if result.train_loss is not None else ""
    evl = f" · eval loss {result.eval_loss:.4f}" if result.eval_loss is not None else ""
    print(f"{result.state}: {result.steps} steps in {result.seconds:.1f} s{loss}{evl}", flush=True)
    if result.state == "finished":
        print(f"model: {out / 'model'}", flush=True)
    else:
        print(f"resume with: python -m studio train --resume --out {out}", flush=True)
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from studio.train import lora

    spec = args.run[4:] if args.run.startswith("run:") else args.run
    folder = Path(spec).expanduser() if Path(spec).expanduser().is_dir() else config.runs_dir() / spec
    if not (folder / runs.RUN_JSON).is_file():
        raise StudioError(f"No training run {args.run!r}: `python -m studio runs` lists them.")
    out = lora.merge(folder, Path(args.out) if args.out else None)
    print(f"merged into {out}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from studio.models import generate
    from studio.models import loading as models

    lm = models.load_causal_lm(args.model)
    print(generate.answer(lm, args.question, max_new_tokens=args.max_new_tokens))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    if args.action == "rename":
        if not (args.run_id and args.new_name):
            raise StudioError("Usage: python -m studio runs rename RUN_ID NEW_NAME")
        print(runs.rename_run(args.run_id, args.new_name).name)
        return 0
    if args.action == "delete":
        if not args.run_id:
            raise StudioError("Usage: python -m studio runs delete RUN_ID")
        print(f"moved to {runs.delete_run(args.run_id)}")
        return 0
    rows = []
    for r in runs.list_runs():
        rows.append({"id": r.id, "name": r.name, "state": r.status.state, "base": r.base,
                     "dataset": f"{r.dataset.get('name')} v{r.dataset.get('version')}", "created": r.created,
                     "model": r.has_model})
    if args.json:
        print(json.dumps(rows, indent=1))
    elif not rows:
        print("no runs yet: python -m studio train --dataset FILE --base scratch")
    else:
        for row in rows:
            print(f"{row['id']}  {row['state']:<9} {row['base']:<12} {row['dataset']:<30} {row['name']}")
    sys.stdout.flush()
    return 0
