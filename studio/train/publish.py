"""Pushing a training run (a full model or a LoRA adapter) to the Hugging Face Hub with a model card.

Private by default. The card says what the model is: its base, the method, the dataset (name,
version, hash), the hyperparameters, the latest evaluation's summary and the intended use. The
token is an argument, never stored, logged or put into a message.
"""

from __future__ import annotations

import re

from studio.data import hub
from studio.models import adapters
from studio.train import runs

CARD_SETTINGS = ("method", "epochs", "learning_rate", "batch_size", "batch_tokens", "grad_accum", "max_length", "lr_scheduler",
                 "warmup_steps", "weight_decay", "seed", "lora_r", "lora_alpha", "lora_dropout", "question_dropout",
                 "neftune_alpha")


def model_card(run: runs.RunInfo, evaluation: str = "") -> str:
    """The run's README.md for the Hub: YAML metadata, then what it is, how it was trained and how it scores
    (``evaluation``: the Markdown section ``studio.evaluate.card.section`` writes, "" for none)."""
    cfg, ds = run.config or {}, run.dataset or {}
    is_adapter = adapters.is_adapter(run.dir / "model")
    base = run.base if run.base and run.base != "scratch" else None
    meta = ["---", f"library_name: {'peft' if is_adapter else 'transformers'}", "pipeline_tag: text-generation",
            "tags: [slm-studio, question-answering" + (", lora" if is_adapter else "") + "]"]
    if base and re.fullmatch(r"[\w.-]+(/[\w.-]+)?", base):  # a Hub id, not a folder or a workspace model
        meta.append(f"base_model: {base}")
    meta.append("---")
    title = run.name or run.id
    what = ("a LoRA adapter for " if is_adapter else "a fine-tune of ") + f"`{base}`" if base else \
        "a small GPT-2 trained from scratch"
    lines = [*meta, "", f"# {title}", "",
             f"This is {what}, trained with SLM Studio on a question-and-answer dataset.", "",
             "## Training data", "",
             f"- Dataset: {ds.get('name') or ds.get('file') or 'unknown'}"
             + (f", version {ds['version']}" if ds.get("version") else ""),
             f"- Records: {ds.get('count', 'unknown')}" + (f", SHA-256 `{ds['sha256']}`" if ds.get("sha256") else ""),
             f"- Held out for evaluation: {len(run.split.get('test') or [])} records", "",
             "## Training", "", "| setting | value |", "|---|---|"]
    # An older or hand-edited run.json may name no method (those runs were full fine-tunes) or lack any setting.
    lines += [f"| {k} | {_cell(run.method if k == 'method' else cfg[k])} |" for k in CARD_SETTINGS
              if k == "method" or cfg.get(k) not in (None, "", 0)]
    lines += [f"| steps | {run.status.extra.get('step') or '-'} |", f"| device | {run.device or '-'} |", ""]
    if evaluation:
        lines += [evaluation.rstrip("\n"), ""]
    lines += ["## Intended use", "",
              "Answering questions like the ones in its training data, in the same domain and style. It is a "
              "small model: check its answers before relying on them, and do not use it for medical, legal "
              "or safety decisions.", ""]
    return "\n".join(lines)


def _cell(value: object) -> str:
    """A setting as one Markdown table cell: a hand-edited value with a "|" or a line break keeps the table whole."""
    return " ".join(str(value).split()).replace("|", "\\|")


def push_run(run: str | runs.RunInfo, repo_id: str, token: str | None, private: bool = True, *,
             evaluation: str = "") -> str:
    """Upload the run's (its id, or the run read from any folder) model (or adapter) and its card (``evaluation``:
    its section, as for ``model_card``); returns the repo URL. One-line errors."""
    repo_id = hub.check_repo_id(repo_id, kind="model")
    run = runs.load_run(run) if isinstance(run, str) else run
    if not run.has_model:
        from studio.errors import StudioError

        raise StudioError(f"Run {run.id} has no saved model yet ({run.status.state}): let it finish, then push it.")
    hub.require_token(token)
    card = model_card(run, evaluation).encode("utf-8")
    from huggingface_hub import HfApi, constants

    api = HfApi(token=token)
    with hub.hub_errors(repo_id):
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(run.dir / "model"), repo_type="model",
                          ignore_patterns=["training_args.bin", "README.md"],
                          commit_message=f"SLM Studio run {run.id}")
        api.upload_file(path_or_fileobj=card, path_in_repo="README.md", repo_id=repo_id, repo_type="model",
                        commit_message="Model card")
    return f"{constants.ENDPOINT.rstrip('/')}/{repo_id}"

