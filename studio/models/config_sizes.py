"""A model folder's config.json sizes, checked against the tensors its safetensors files hold, before anything is built.

transformers builds the model config.json describes, then fills it from the weights: ``"num_hidden_layers":
1000000000`` in a 2-layer model's folder had ``ask`` build a billion layers (it never ended), and ``"n_embd":
1000000000`` asked for tensors of that width. Only the safetensors headers are read (their tensor names and shapes:
milliseconds for any model size); a folder with other weights (``pytorch_model.bin``) or none is left to the load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
# widths and vocabularies: each is the length of some tensor's side in a model's weights (an embedding, a projection)
SIZE_KEYS = ("hidden_size", "n_embd", "d_model", "vocab_size", "intermediate_size", "n_inner", "ffn_dim")
_MAX_HEADER = 100_000_000  # safetensors' own limit on a header


def tensor_shapes(folder: Path) -> dict[str, list[int]] | None:
    """Each tensor's name and shape from the headers of ``folder``'s safetensors weights (one file or an index's
    shards); None where there are none, or one cannot be read (the load then says why)."""
    index = folder / "model.safetensors.index.json"
    try:
        if index.is_file():
            weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
            files = sorted({folder / name for name in weight_map.values()})
        else:
            files = [folder / "model.safetensors"]
        shapes: dict[str, list[int]] = {}
        for path in files:
            with open(path, "rb") as fh:
                n = int.from_bytes(fh.read(8), "little")
                if not 0 < n < _MAX_HEADER:
                    return None
                header = json.loads(fh.read(n))
            shapes.update({k: list(v["shape"]) for k, v in header.items() if k != "__metadata__"})
        return shapes
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _layers_held(names: list[str]) -> int | None:
    """How many layers the weights hold: one past the largest layer number in their names (``model.layers.3.mlp...``,
    ``transformer.h.3.attn...``: a name's first number is its layer's); None where no name numbers a layer."""
    numbers = [next((int(p) for p in name.split(".") if p.isdigit()), None) for name in names]
    found = [n for n in numbers if n is not None]
    return max(found) + 1 if found else None


def too_large(cfg: dict[str, Any], shapes: dict[str, list[int]]) -> str | None:
    """Which setting of ``cfg`` asks for more than ``shapes`` hold, in words; None where none does. Pure."""
    # ALBERT's layers share the weights of their groups (``num_hidden_groups``, one by default): 12 layers, one held
    held = None if cfg.get("model_type") == "albert" or "num_hidden_groups" in cfg else _layers_held(list(shapes))
    dims = [d for shape in shapes.values() for d in shape if isinstance(d, int)]
    widest = max(dims, default=None)
    for key in LAYER_KEYS:
        value = cfg.get(key)
        if held is not None and _whole(value) and value > held:
            return f"{key} is {value} but its weights hold {held} layer{'s' if held != 1 else ''}"
    for key in SIZE_KEYS:
        value = cfg.get(key)
        if widest is not None and _whole(value) and value > widest:
            return f"{key} is {value} but no tensor of its weights is that large (the largest is {widest})"
    return None


def check(folder: Path) -> str | None:
    """``too_large`` for a model folder's config.json and safetensors headers; None where either cannot be read."""
    try:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(cfg, dict):
        return None
    shapes = tensor_shapes(folder)
    return too_large(cfg, shapes) if shapes else None


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
