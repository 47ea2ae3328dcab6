"""``python -m studio push RUN REPO_ID [--public]``: a training run to the Hugging Face Hub, with its card."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("push", help="push a training run (full model or LoRA adapter) to the Hub with a model card",
                       description="Uploads the run's model folder and a generated model card (base, method, dataset "
                                   "version and hash, hyperparameters, the latest evaluation). Private unless --public. "
                                   "The token comes from the HF_TOKEN environment variable (the command line does not read "
                                   ".streamlit/secrets.toml).")
    p.add_argument("run", help="a run id (see `runs`), run:<id> or a run folder")
    p.add_argument("repo_id", help="the Hub model repo, owner/name")
    p.add_argument("--public", action="store_true", help="make the repo public (default: private)")
    p.set_defaults(func=cmd_push)


def cmd_push(args: argparse.Namespace) -> int:
    from studio import config
    from studio.commands.train import run_folder_arg
    from studio.evaluate import card
    from studio.train import publish, runs

    run = runs.load_run_dir(run_folder_arg(args.run))
    in_workspace = run.dir.resolve().parent == config.runs_dir(make=False).resolve()  # evaluated as run:<id>, else as its folder
    url = publish.push_run(run, args.repo_id, config.hf_token(), private=not args.public,
                           evaluation=card.section(run.model_spec if in_workspace else args.run.strip()))
    print(f"pushed run {run.id} to {url} ({'public' if args.public else 'private'})")
    return 0
