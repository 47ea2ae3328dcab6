"""Whether a run can be resumed: its newest checkpoint and its split read back whole, checked before training.

A run folder can be edited or damaged between a stop and a resume (a file deleted by hand, a copy cut off, a
disk that filled while a checkpoint was written). The Trainer then fails deep inside its loading code with a
traceback; ``checkpoint(folder)`` says first, in one line, which file is the matter and what to do. The checks
read headers only (safetensors' header, a zip's directory), never the weights: seconds for any model size.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from studio.errors import TrainingError
from studio.train import runs

# The files a checkpoint keeps its weights in: a full model's, or a LoRA run's adapters.
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json",
           "adapter_model.safetensors", "adapter_model.bin")


def checkpoint(folder: Path) -> Path:
    """The checkpoint a resume of the run in ``folder`` continues from; ``TrainingError`` (one line, naming the
    file) when there is none, or when it or the run's split does not read back whole."""
    folder = Path(folder)
    ckpt = runs.last_checkpoint(folder)
    if ckpt is None:
        raise TrainingError(f"Run {folder.name} has no checkpoint to resume from: start a new run instead.")
    split = folder / runs.SPLIT_JSON
    if split.is_file() and not _split_ok(split):
        raise TrainingError(f"Run {folder.name} cannot be resumed: its {runs.SPLIT_JSON} (which records it trains on) "
                            "is damaged. Start a new run instead; its checkpoints and model are left as they are.")
    for path in sorted((folder / "tokenizer").glob("*.json")):  # a scratch run's own tokenizer, learned once
        if not _json_ok(path):  # it failed with a JSONDecodeError traceback
            kept = ckpt / path.name
            instead = (f"copy {ckpt.name}/{path.name} over it" if _json_ok(kept) else "start a new run instead")
            raise TrainingError(f"Run {folder.name} cannot be resumed: its tokenizer file tokenizer/{path.name} is "
                                f"damaged (not valid JSON): {instead}.")
    why = damage(ckpt)
    if why:
        earlier = [c for c in runs.checkpoints(folder) if c != ckpt]
        instead = (f"delete that folder to resume from {earlier[-1].name}, or start a new run" if earlier
                   else "start a new run instead")
        raise TrainingError(f"Run {folder.name} cannot be resumed: its checkpoint {ckpt.name} is damaged ({why}): "
                            f"{instead}.")
    return ckpt


def damage(ckpt: Path) -> str | None:
    """What is wrong with a checkpoint folder (a few words), or None when its files read back whole."""
    for path in sorted(ckpt.glob("*.json")):
        if not _json_ok(path):
            return f"{path.name} is not valid JSON"
    sharded = any(ckpt.glob("global_step*")) or any(ckpt.glob("*fsdp*"))  # DeepSpeed's and FSDP's own layouts
    if not sharded and not any((ckpt / name).is_file() for name in WEIGHTS):
        return "its weights file model.safetensors is missing"
    for path in sorted(p for p in ckpt.iterdir() if p.is_file()):
        if path.suffix == ".safetensors" and not _safetensors_ok(path):
            return f"{path.name} is cut off or not a safetensors file"
        if path.suffix in (".pt", ".pth", ".bin") and not _torch_file_ok(path):
            return f"{path.name} is cut off or not a PyTorch file"
    return None


def _json_ok(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _split_ok(path: Path) -> bool:
    try:
        split = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(split, dict) and all(isinstance(split.get(k), list) for k in ("train", "test"))


def _safetensors_ok(path: Path) -> bool:
    """An 8-byte header length, a JSON header, and exactly the bytes its tensors' offsets end at."""
    try:
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            if not 0 < n < 100_000_000:
                return False
            header = json.loads(fh.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
        return path.stat().st_size == 8 + n + end
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return False


def _torch_file_ok(path: Path) -> bool:
    """``torch.save``'s zip archive with its directory at the end (a cut-off copy has none), or a legacy pickle."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        return False
    return zipfile.is_zipfile(path) if head == b"PK" else head[:1] == b"\x80"
