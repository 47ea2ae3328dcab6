"""Which files are a model's weights: the one rule the library, the loaders' checks and a Hub download's plan share.

A trainer's checkpoint folder holds files that look like weights and are not: ``optimizer.pt``, ``scheduler.pt``,
``rng_state.pth``, ``training_args.bin``. A folder (or a Hub repository) with those and no model weights read as a
model and failed at load; a download of such a repository was fetched and then listed as unusable. These are the
names transformers, peft and the GGUF loader read weights from.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

PATTERNS = (
    "model*.safetensors",  # model.safetensors, its shards (model-00001-of-00002.safetensors), a variant (model.fp16...)
    "pytorch_model*.bin",  # the same for PyTorch's pickles
    "model.safetensors.index.json", "pytorch_model.bin.index.json",  # a sharded model's index
    "adapter_model.safetensors", "adapter_model.bin",  # a LoRA adapter's, as peft saves them
    "*.gguf",
)


def is_weights(name: str) -> bool:
    """Whether a file named ``name`` (a path's last part is what counts) holds a model's weights."""
    base = name.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(base, p) for p in PATTERNS)


def has_weights(folder: Path) -> bool:
    """Whether ``folder`` holds a non-empty weights file directly (not in a subfolder)."""
    try:
        return any(f.is_file() and is_weights(f.name) and f.stat().st_size for f in Path(folder).iterdir())
    except OSError:
        return False
