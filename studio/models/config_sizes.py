"""A model folder's config.json sizes, checked against the tensors its safetensors files hold, before anything is built.

transformers builds the model config.json describes, then fills it from the weights: ``"num_hidden_layers":
1000000000`` in a 2-layer model's folder had ``ask`` build a billion layers (it never ended), and ``"n_embd":
1000000000`` asked for tensors of that width. Only the safetensors headers are read (their tensor names and shapes:
milliseconds for any model size); PyTorch weights (``pytorch_model.bin``, one file or an index's shards) are read
as their pickled index of names and shapes alone (``torch.load`` with ``mmap`` onto the meta device, restricted
to weights: no tensor's data is read, no code in the file is run). Where neither can be read (no weights, an
old-format ``.bin``), counts no model has ever had (``ABSURD_LAYERS``, ``ABSURD_SIZE``) are refused all the same.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path
from typing import Any

LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers")
# widths and vocabularies: each is the length of some tensor's side in a model's weights (an embedding, a projection)
SIZE_KEYS = ("hidden_size", "n_embd", "d_model", "vocab_size", "intermediate_size", "n_inner", "ffn_dim")
_MAX_HEADER = 100_000_000  # safetensors' own limit on a header; also the largest .bin index (data.pkl) read
# Where the weights cannot be read: more than any model has had (the deepest some hundreds of layers, the widest
# vocabularies some hundreds of thousands of tokens), far less than what builds for hours or fills the memory
ABSURD_LAYERS = 10_000
ABSURD_SIZE = 10_000_000


def tensor_shapes(folder: Path) -> dict[str, list[int]] | None:
    """Each tensor's name and shape from ``folder``'s weights: the headers of its safetensors (one file or an index's
    shards), else the pickled index of its PyTorch ``.bin`` weights; None where there are none, or one cannot be read
    (the load then says why)."""
    if (folder / "model.safetensors.index.json").is_file() or (folder / "model.safetensors").is_file():
        return _safetensors_shapes(folder)
    return _bin_shapes(folder)


def _files(folder: Path, index: str, single: str) -> list[Path]:
    """The weight files an index names (its shards), or the single file; ValueError for one that is there but is
    not a regular file (a pipe named as a shard: opening it waits for a writer for ever)."""
    if (folder / index).is_file():
        weight_map = json.loads((folder / index).read_text(encoding="utf-8")).get("weight_map", {})
        files = sorted({folder / name for name in weight_map.values()})
        # "../../elsewhere.bin" or "/elsewhere.bin": not this model's file (said as written: a Hub cache's shards are
        # links into its blobs/ folder)
        if any(Path(os.path.normpath(f)).parent != Path(os.path.normpath(folder)) for f in files):
            raise ValueError("a shard outside the model's folder")
    else:
        files = [folder / single]
    if any(_irregular(f) for f in files):
        raise ValueError("a weights file that is not a regular file")
    return files


def _irregular(path: Path) -> bool:
    """Whether ``path`` is there (through its links) but is not a regular file: a pipe, a device, a socket, a folder."""
    try:
        return not stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False  # not there: the reader says so


def irregular(folder: Path) -> str | None:
    """The name of a weights file of ``folder`` (safetensors or ``.bin``, one file or an index's shards) that is not a
    regular file; None where each is one (or is not there). Opening a pipe waits for ever, here and in the load."""
    for index, single in (("model.safetensors.index.json", "model.safetensors"),
                          ("pytorch_model.bin.index.json", "pytorch_model.bin")):
        try:
            names = [single]
            if (folder / index).is_file():
                names = sorted(set(json.loads((folder / index).read_text(encoding="utf-8")).get("weight_map", {})
                                   .values()))
        except (OSError, ValueError, AttributeError):
            continue
        for name in names:
            if isinstance(name, str) and _irregular(folder / name):
                return name
    return None


def _safetensors_shapes(folder: Path) -> dict[str, list[int]] | None:
    try:
        shapes: dict[str, list[int]] = {}
        for path in _files(folder, "model.safetensors.index.json", "model.safetensors"):
            with open(path, "rb") as fh:
                n = int.from_bytes(fh.read(8), "little")
                if not 0 < n < _MAX_HEADER:
                    return None
                header = json.loads(fh.read(n))
            shapes.update({k: list(v["shape"]) for k, v in header.items() if k != "__metadata__"})
        return shapes
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _bin_shapes(folder: Path) -> dict[str, list[int]] | None:
    """Names and shapes from PyTorch ``.bin`` weights (torch's zip format): only each file's ``data.pkl``, a few KB
    of names and shapes, is read; the tensors stay on the meta device, their data unread (a 5 GB file in
    milliseconds). None for the old, non-zip format (it cannot be read without its data) or an unreadable file."""
    try:
        files = _files(folder, "pytorch_model.bin.index.json", "pytorch_model.bin")
    except (OSError, ValueError, AttributeError):
        return None
    if not all(path.is_file() and zipfile.is_zipfile(path) for path in files):
        return None
    import torch

    shapes: dict[str, list[int]] = {}
    try:
        for path in files:
            with zipfile.ZipFile(path) as archive:
                if sum(i.file_size for i in archive.infolist() if i.filename.endswith("data.pkl")) > _MAX_HEADER:
                    return None
            state = torch.load(path, map_location="meta", mmap=True, weights_only=True)
            if not isinstance(state, dict):
                return None
            shapes.update({k: list(v.shape) for k, v in state.items() if isinstance(k, str) and hasattr(v, "shape")})
        return shapes
    except Exception:  # noqa: BLE001 - any file torch cannot read (a damaged zip, a pickle of other things): the load says why
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
    return too_large(cfg, shapes) if shapes else absurd(cfg)


def absurd(cfg: dict[str, Any]) -> str | None:
    """Which setting of ``cfg`` asks for more layers or a larger size than any model has had, in words; None where
    none does. For a folder whose weights cannot be read: building what it asks would not end. Pure."""
    for key in LAYER_KEYS:
        value = cfg.get(key)
        if _whole(value) and value > ABSURD_LAYERS:
            return f"{key} is {value}, more than any model has ({ABSURD_LAYERS:,} at most)"
    for key in SIZE_KEYS:
        value = cfg.get(key)
        if _whole(value) and value > ABSURD_SIZE:
            return f"{key} is {value}, larger than any model's ({ABSURD_SIZE:,} at most)"
    return None


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
