"""LoRA and QLoRA with peft: adapters on a frozen base, stored as a run's ``model/`` and merged on request.

A LoRA run's ``model/`` holds ``adapter_model.safetensors`` and ``adapter_config.json`` (a few MB)
beside the tokenizer; its ``run.json`` names the base (``base``) and the base's fingerprint
(``base_fingerprint``). Loading a LoRA run loads the base, then the adapter, merged in memory.
``merge`` writes the full model into the run's ``merged/`` (or another folder) for export and
serving (``transformers serve``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.errors import StudioError, TrainingError
from studio.models.adapters import MERGED, is_adapter, quiet_peft


def linear_names(model: Any) -> list[str]:
    """The distinct names of the model's linear layers (``q_proj``, ``c_attn``, ...), the output head left out."""
    import torch

    names = set()
    for full, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) or type(module).__name__ in ("Conv1D", "Linear4bit", "Linear8bitLt"):
            leaf = full.rsplit(".", 1)[-1]
            if leaf not in ("lm_head", "score", "embed_out"):
                names.add(leaf)
    return sorted(names)


def targets(cfg_targets: str, model: Any) -> str | list[str]:
    """"all-linear" or the named layers, checked against the model's linear layers."""
    wanted = cfg_targets.strip()
    if wanted == "all-linear":
        return wanted
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    have = linear_names(model)
    missing = [n for n in names if n not in have]
    if missing:
        raise TrainingError(f"No linear layer named {', '.join(missing)} in this model: its linear layers are "
                            f"{', '.join(have)} (or use all-linear).")
    return names


def apply(model: Any, cfg: Any) -> Any:
    """The model with LoRA adapters (peft), only the adapters trainable."""
    from peft import LoraConfig, get_peft_model

    width = int(getattr(model.config, "hidden_size", 0) or getattr(model.config, "n_embd", 0) or 0)
    if width and cfg.lora_r > width:
        raise TrainingError(f"LoRA rank {cfg.lora_r} is above the model's hidden size ({width}): use 8-64.")
    config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                        target_modules=targets(cfg.lora_targets, model), task_type="CAUSAL_LM", bias="none")
    with quiet_peft():
        return get_peft_model(model, config)


def trainable(model: Any) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


def merge(run_dir: Path, out: Path | None = None) -> Path:
    """Write the base with the run's adapter merged into ``out`` (default: the run's ``merged/``)."""
    from studio.models import loading

    run_dir = Path(run_dir)
    adapter = run_dir / "model"
    if not is_adapter(adapter):
        raise StudioError(f"Run {run_dir.name} is not a LoRA run (its model/ holds full weights): there is "
                          "nothing to merge, use it as it is.")
    target = Path(out).expanduser() if out else run_dir / MERGED
    if target.exists() and any(target.iterdir()):
        raise StudioError(f"{target} exists and is not empty: choose another --out or delete it.")
    lm = loading.load_causal_lm(str(adapter), device="cpu")  # the base with the adapter merged in memory
    target.mkdir(parents=True, exist_ok=True)
    lm.model.save_pretrained(target)
    lm.tokenizer.save_pretrained(target)
    return target
