"""LoRA and QLoRA with peft: adapters on a frozen base, stored as a run's ``model/`` and merged on request.

A LoRA run's ``model/`` holds ``adapter_model.safetensors`` and ``adapter_config.json`` (a few MB)
beside the tokenizer; its ``run.json`` names the base (``base``) and the base's fingerprint
(``base_fingerprint``). Loading a LoRA run loads the base, then the adapter, merged in memory.
``merge`` writes the full model into the run's ``merged/`` (or another folder) for export and
serving (``transformers serve``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from studio.errors import StudioError, TrainingError, disk_error
from studio.models import hf_import
from studio.models.adapters import ADAPTER_CONFIG, MERGED, is_adapter, is_complete_model, quiet_peft


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


ALL_LINEAR = "all-linear"


def target_names(text: str) -> list[str] | None:
    """The layers a ``lora_targets`` value names ("v_proj, q_proj" is q_proj and v_proj, in its order, once each), None
    for "all-linear" (every linear layer): the one reading of the setting, for training, the memory estimate and the
    check of a continued adapter's settings."""
    if text.strip() == ALL_LINEAR:
        return None
    return list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))


def targets(cfg_targets: str, model: Any) -> str | list[str]:
    """"all-linear" or the named layers, checked against the model's linear layers."""
    names = target_names(cfg_targets)
    if names is None:
        return ALL_LINEAR
    have = linear_names(model)
    missing = [n for n in names if n not in have]
    if missing:
        raise TrainingError(f"No linear layer named {', '.join(missing)} in this model: its linear layers are "
                            f"{', '.join(have)} (or use all-linear).")
    return names


def apply(model: Any, cfg: Any) -> Any:
    """The model with LoRA adapters (peft), only the adapters trainable. The adapters' starting weights (peft draws
    each ``lora_A`` at random) come from the run's seed: the same settings train the same run again, and each process
    of a multi-GPU run starts where one process would."""
    hf_import.ready()
    import torch
    from peft import LoraConfig, get_peft_model

    width = int(getattr(model.config, "hidden_size", 0) or getattr(model.config, "n_embd", 0) or 0)
    if width and cfg.lora_r > width:
        raise TrainingError(f"LoRA rank {cfg.lora_r} is above the model's hidden size ({width}): use 8-64.")
    config = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                        target_modules=targets(cfg.lora_targets, model), task_type="CAUSAL_LM", bias="none")
    # peft makes each adapter on the CPU, draws it there and then moves it to its layer's device: the CPU generator,
    # seeded for this draw only (the caller's draws go on as they were)
    with quiet_peft(), torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(cfg.seed)
        return get_peft_model(model, config)


LORA_FIELDS = ("lora_r", "lora_alpha", "lora_dropout", "lora_targets")
"""The settings of an adapter: a LoRA run that trains an existing adapter further keeps them as they are."""


def same_setting(name: str, given: Any, adapter: Any) -> bool:
    """Whether a LoRA setting given (a flag, ``--config-json``) is the adapter's own: target modules as
    ``target_names`` reads them, in any order ("v_proj, q_proj" is q_proj,v_proj), numbers by value (8.0 is 8)."""
    if name == "lora_targets" and isinstance(given, str) and isinstance(adapter, str):
        named, own = target_names(given), target_names(adapter)
        return named == own if named is None or own is None else set(named) == set(own)
    return given == adapter


def qlora_here() -> bool:
    """Whether QLoRA can train on this machine: a CUDA GPU (bitsandbytes 4-bit), as ``loading.pick_device`` finds it."""
    from studio.models import loading

    return loading.pick_device() == "cuda"


def default_method(adapters: dict[str, Any] | None) -> str:
    """The method a run starts on unless another is chosen: a continued adapter's own (``continued``), full for any
    other base. A QLoRA run continued where there is no CUDA GPU starts on LoRA: the same adapters, on a full-size
    base. The Train page and ``python -m studio train`` both ask here."""
    if not adapters:
        return "full"
    if adapters["method"] == "qlora" and not qlora_here():
        return "lora"
    return adapters["method"]


def continued(base: str) -> dict[str, Any] | None:
    """When ``base`` is a LoRA adapter that a LoRA run trains further (an earlier LoRA or QLoRA run's, or one from the
    Hub): the method it starts on and the adapter's settings (``LORA_FIELDS``) plus ``"of"``, what the adapter is in
    words; None for any other base (a full model, a LoRA run merged: a new adapter goes on it)."""
    from studio.models import loading
    from studio.train import runs
    from studio.train.config import TrainConfig

    try:
        ref = loading.resolve(base)
        if ref.kind != "adapter":
            return None
        if ref.run_id is not None:
            config = runs.load_run(ref.run_id).config
            if config.get("method") not in ("lora", "qlora"):
                return None
            defaults = TrainConfig()
            return {"method": config["method"], "of": "this run's adapters",
                    **{k: config.get(k, getattr(defaults, k)) for k in LORA_FIELDS}}
        peft_config = json.loads((Path(ref.source) / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (StudioError, OSError, ValueError):
        return None
    return {"method": "lora", "of": "this adapter's weights", **adapter_settings(peft_config)}


def adapter_settings(peft_config: Any) -> dict[str, Any]:
    """An adapter's ``adapter_config.json`` (peft's) as the LoRA settings of a run (``LORA_FIELDS``); a value missing,
    of another kind or out of the settings' range is the default (peft trains the adapter by its own file anyway)."""
    from studio import settings
    from studio.train.config import TrainConfig

    peft_config = peft_config if isinstance(peft_config, dict) else {}
    defaults = TrainConfig()
    targets = peft_config.get("target_modules")
    if isinstance(targets, (list, tuple)) and targets and all(isinstance(t, str) for t in targets):
        targets = ",".join(sorted(targets))
    found = {"lora_r": peft_config.get("r"), "lora_alpha": peft_config.get("lora_alpha"),
             "lora_dropout": peft_config.get("lora_dropout"), "lora_targets": targets}
    out = {}
    for name, value in found.items():
        default = getattr(defaults, name)
        if isinstance(value, float) and isinstance(default, int) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and isinstance(default, float) and not isinstance(value, bool):
            value = float(value)
        lo, hi = settings.bounds(TrainConfig, name)
        fits = type(value) is type(default) and (not isinstance(value, str) or value.strip()) and (
            isinstance(value, str) or ((lo is None or value >= lo) and (hi is None or value <= hi)))
        out[name] = value if fits else default
    return out


def trainable(model: Any) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    total = sum(p.numel() for p in model.parameters())
    return sum(p.numel() for p in model.parameters() if p.requires_grad), total


def merge(run_dir: Path, out: Path | None = None) -> Path:
    """Write the base with the run's adapter merged into ``out`` (default: the run's ``merged/``).

    The model is written into a hidden temporary folder beside ``out`` and renamed into place only
    when complete: a failed merge (a full disk, a crash) leaves no ``out`` and nothing half-written.
    """
    from studio.models import loading

    run_dir = Path(run_dir)
    adapter = run_dir / "model"
    if not is_adapter(adapter):
        raise StudioError(f"Run {run_dir.name} is not a LoRA run (its model/ holds full weights): there is "
                          "nothing to merge, use it as it is.")
    target = Path(out).expanduser() if out else run_dir / MERGED
    if target.exists() and not target.is_dir():
        raise StudioError(f"{target} is a file: choose another --out.")
    if target.is_dir() and any(target.iterdir()):
        if out is None and not is_complete_model(target):  # left by a merge older than this temporary-folder rule
            shutil.rmtree(target)
        else:
            raise StudioError(f"{target} exists and is not empty: choose another --out or delete it.")
    clean_partial_merges(target.parent, target.name)
    lm = loading.load_causal_lm(str(adapter), device="cpu")  # the base with the adapter merged in memory
    if out is None and not run_dir.is_dir():  # deleted while its model loaded: never made again for merged/ alone
        raise StudioError(f"Run {run_dir.name} was deleted during the merge: nothing was written.")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f"{PARTIAL}{target.name}.{os.getpid()}."))
    except OSError as exc:
        raise (disk_error(exc, target.parent) or exc) from None
    try:
        lm.model.save_pretrained(tmp)
        lm.tokenizer.save_pretrained(tmp)
        try:
            if target.is_dir():
                target.rmdir()  # empty (checked above); os.replace cannot replace a folder on every system
            os.replace(tmp, target)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            raise StudioError(f"{target} was written by another merge meanwhile: it is kept as it is.") from None
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        err = disk_error(exc, target) if isinstance(exc, Exception) else None
        if err is not None:
            raise err from None
        if isinstance(exc, Exception) and type(exc).__name__ == "SafetensorError":  # a failed write, without errno
            raise StudioError(f"Could not write the merged model to {target}: {str(exc).splitlines()[0][:200]}"
                              " (nothing was written).") from None
        raise
    return target


PARTIAL = ".merging-"  # the prefix of a merge's temporary folder, beside its target


def clean_partial_merges(folder: Path, name: str) -> None:
    """Remove the temporary folders that killed merges into ``folder/name`` left (space nobody can use);
    a merge still running in another process keeps its own (its pid is in the folder's name)."""
    from studio import jobs

    for stale in Path(folder).glob(f"{PARTIAL}{name}.*"):
        pid = stale.name[len(PARTIAL) + len(name) + 1:].split(".", 1)[0]
        if not (pid.isdigit() and (int(pid) == os.getpid() or jobs.alive(int(pid)))):
            shutil.rmtree(stale, ignore_errors=True)


def frozen_base_dtype(device: str) -> str:
    """The dtype LoRA keeps its frozen base in: bfloat16 on a CUDA GPU that computes in it (the dtype training
    autocasts to, ``loading.pick_dtype``), else float32."""
    if device != "cuda":
        return "float32"
    import torch

    from studio.models import loading

    return "bfloat16" if loading.pick_dtype(device) is torch.bfloat16 else "float32"
