"""LoRA adapters as saved models: recognising an adapter folder, finding its base, applying it.

Loading a run (``studio.models.loading``) needs these; training them is ``studio.train.lora``.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from studio.errors import ModelLoadError
from studio.models import hf_import


@contextlib.contextmanager
def quiet_peft() -> Iterator[None]:
    """peft asks transformers a deprecated question (``is_gradient_checkpointing``), whose
    FutureWarning is meant for peft's developers, not for a person reading a training log."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


ADAPTER_CONFIG = "adapter_config.json"
MERGED = "merged"  # a LoRA run's full model, written by ``studio.train.lora.merge``
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")  # an adapter's weights, as peft saves them

BASE_AS = "base_as"
"""run.json: how a run took a base that is a LoRA model (a LoRA run, a Hub adapter), written as it starts and read by
every later load and resume: ``BASE_ADAPTER``, the base's adapter trained further (the run's own adapter holds both and
goes on that adapter's own base), or ``BASE_MERGED``, the base's weights with its adapter merged in (the run's adapter
goes on those). A merge of the base made later changes neither."""
BASE_ADAPTER = "adapter"
BASE_MERGED = "merged"


def is_adapter(folder: Path) -> bool:
    return (Path(folder) / ADAPTER_CONFIG).is_file() and not (Path(folder) / "config.json").is_file()


def is_complete_model(folder: Path) -> bool:
    """A saved full model: its config and its weights (one file, or every shard its index names)."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        return False
    if (folder / "model.safetensors").is_file() or (folder / "pytorch_model.bin").is_file():
        return True
    index = folder / "model.safetensors.index.json"
    try:
        shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False
    return bool(shards) and all((folder / s).is_file() for s in shards)


def base_named(folder: Path) -> str:
    """The base model a peft adapter names (its adapter_config.json's ``base_model_name_or_path``), "" for none."""
    try:
        cfg = json.loads((Path(folder) / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    base = cfg.get("base_model_name_or_path") if isinstance(cfg, dict) else None
    return base.strip() if isinstance(base, str) else ""


def base_of(run_dir: Path) -> str:
    """The base spec a LoRA run was trained from (its run.json), checked to still exist."""
    try:
        meta = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelLoadError(f"Run {Path(run_dir).name} has no run.json: its base is unknown.") from None
    return meta.get("base") or ""


def attach(model: Any, adapter_dir: Path, *, trainable: bool = False) -> Any:
    """``model`` with the adapter in ``adapter_dir``: merged into the weights for inference, or a
    trainable ``PeftModel`` to continue LoRA training."""
    hf_import.ready()
    from peft import PeftModel

    try:
        with quiet_peft():
            peft_model = PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=trainable)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelLoadError(f"The adapter in {Path(adapter_dir).parent.name} does not fit its base: {first}") from None
    return peft_model if trainable else peft_model.merge_and_unload()
