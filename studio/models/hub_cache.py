"""The Hugging Face cache as the studio reads and writes it: verified blobs, and which snapshots are usable.

The layout is huggingface_hub's own (``models--OWNER--NAME/blobs/<etag>``, ``snapshots/<commit>/<file>``
linking to its blob, ``refs/main`` holding the commit), so transformers loads what the studio
downloads by its id, offline too. A blob's name is what the Hub calls its etag: the sha256 of an LFS
file, the git blob id (sha1 of ``"blob <size>\\0" + bytes``) of any other.

A download the studio verified leaves ``studio-verified.json`` beside ``blobs/``: the commit and each
file's size. ``usable_snapshot`` lists a repository only when that record holds, or, for a repository
another tool downloaded, when its snapshot has a config, every weight file its index names, and
safetensors files whose headers match their sizes (a cut or zero-filled file fails that check), or when its
snapshot is a trainer's checkpoint without the model (``trainer_files_only``: listed to say it cannot be used).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import struct
from pathlib import Path

from studio import atomic
from studio.models import weights

VERIFIED = "studio-verified.json"


def repo_folder(repo_id: str) -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"


def start_hash(sha256: str | None, size: int):
    """The hash a file is checked with: sha256 for LFS files, git's blob sha1 for the others."""
    h = hashlib.sha256() if sha256 else hashlib.sha1()
    if not sha256:
        h.update(b"blob %d\0" % size)
    return h


def hash_file(path: Path, sha256: str | None, size: int, upto: int | None = None) -> object:
    """A running hash of ``path``'s first ``upto`` bytes (all when None), ready to take more."""
    h = start_hash(sha256, size)
    left = upto
    with open(path, "rb") as fh:
        while left is None or left > 0:
            block = fh.read(1 << 20 if left is None else min(1 << 20, left))
            if not block:
                break
            h.update(block)
            if left is not None:
                left -= len(block)
    return h


def link(folder: Path, commit: str, name: str, blob: str) -> None:
    """``snapshots/<commit>/<name>`` pointing at ``blobs/<blob>``, as huggingface_hub lays it out."""
    target = folder / "snapshots" / commit / name
    target.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        target.unlink()
    source = folder / "blobs" / blob
    try:
        os.symlink(os.path.relpath(source, target.parent), target)
    except OSError:  # a file system without symbolic links: a copy, as huggingface_hub falls back to
        import shutil

        shutil.copyfile(source, target)


def record(folder: Path, commit: str, files: dict[str, int]) -> None:
    """Mark ``commit`` complete and verified, and make it the one ``refs/main`` names."""
    atomic.write_text(folder / "refs" / "main", commit)
    atomic.write_json(folder / VERIFIED, {"commit": commit, "files": files})


def forget(folder: Path) -> None:
    """Drop the verified record (a download of another commit is starting over it)."""
    with contextlib.suppress(FileNotFoundError):
        (folder / VERIFIED).unlink()


def _record(folder: Path) -> dict | None:
    try:
        value = json.loads((folder / VERIFIED).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) and isinstance(value.get("files"), dict) else None


def verified_commit(folder: Path) -> str | None:
    rec = _record(folder)
    return str(rec.get("commit")) if rec else None


def usable_snapshot(repo_id: str) -> Path | None:
    """The snapshot of ``repo_id`` a model can be loaded from, or None when it is partial or corrupt."""
    folder = repo_folder(repo_id)
    rec = _record(folder)
    if rec is not None:
        snap = folder / "snapshots" / str(rec.get("commit"))
        for name, size in rec["files"].items():
            try:
                if (snap / name).stat().st_size != size:
                    return None
            except OSError:
                return None
        return snap
    try:
        commit = (folder / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    snap = folder / "snapshots" / commit
    return snap if commit and (complete_model(snap) or trainer_files_only(snap)) else None


CHECKPOINT_SUFFIXES = (".bin", ".pt", ".pth")  # a trainer's training_args.bin, optimizer.pt, rng_state.pth


def trainer_files_only(snap: Path) -> list[str]:
    """The trainer's files (``training_args.bin``, ``optimizer.pt``) of a snapshot another tool fetched whole that has
    config.json and no model weights, or [] for any other. Such a snapshot was not listed at all, so nothing said why
    the download could not be used; one still arriving (a weights file there, or a blob still ``.incomplete``) is
    not such a snapshot. A config and a tokenizer alone are what ``AutoConfig``/``AutoTokenizer`` cache: no model
    was fetched, and none is listed."""
    try:
        names = [f.name for f in snap.iterdir() if f.is_file()]
        arriving = any(snap.parent.parent.joinpath("blobs").glob("*.incomplete"))
    except OSError:
        return []
    if arriving or "config.json" not in names or any(weights.is_weights(n) for n in names):
        return []
    return sorted(n for n in names if n.endswith(CHECKPOINT_SUFFIXES))


def complete_model(snap: Path) -> bool:
    """A snapshot with a config and every weight file whole (checked from the files, offline)."""
    if not (snap / "config.json").is_file():  # a LoRA adapter (peft's files), or no model
        adapter = snap / "adapter_model.safetensors"
        if not (snap / "adapter_config.json").is_file():
            return False
        if adapter.is_file():
            return safetensors_whole(adapter)
        return (snap / "adapter_model.bin").is_file() and (snap / "adapter_model.bin").stat().st_size > 0
    index = snap / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return False
        return bool(shards) and all(safetensors_whole(snap / s) for s in shards)
    found = [w for w in snap.glob("*.safetensors") if weights.is_weights(w.name)]
    if found:
        return all(safetensors_whole(w) for w in found)
    # a trainer's training_args.bin or optimizer.bin is no model: a snapshot with those alone is not one
    return any(p.is_file() and p.stat().st_size > 0 and weights.is_weights(p.name) for p in snap.glob("*.bin"))


def _header(path: Path) -> tuple[dict, int, int] | None:
    """A safetensors file's header (its tensors, ``__metadata__`` left out), the header's length and the file's
    size; None when the header does not parse."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n <= 1 or 8 + n > size or n > 100 * 2**20:
                return None
            header = json.loads(fh.read(n))
    except (OSError, ValueError, struct.error):
        return None
    if not isinstance(header, dict):
        return None
    return {k: t for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)}, n, size


def safetensors_whole(path: Path) -> bool:
    """Whether a safetensors file's header parses and its tensors end exactly where the file ends."""
    read = _header(path)
    if read is None:
        return False
    tensors, n, size = read
    ends = [t["data_offsets"][1] for t in tensors.values()
            if isinstance(t.get("data_offsets"), list) and len(t["data_offsets"]) == 2]
    return 8 + n + max(ends, default=0) == size


def weight_files(snap: Path) -> list[Path]:
    """A snapshot's safetensors weights: the shards its index names, or every ``*.safetensors`` file."""
    index = snap / "model.safetensors.index.json"
    if index.is_file():
        try:
            return [snap / s for s in sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return []
    return sorted(snap.glob("*.safetensors"))


def parameters(snap: Path) -> int | None:
    """The parameter count of a snapshot's model, from its safetensors headers (the tensors' shapes; no weight is
    read); None for a model stored as ``.bin`` only, or a header that does not parse."""
    total = 0
    files = weight_files(snap)
    for path in files:
        read = _header(path)
        if read is None:
            return None
        for tensor in read[0].values():
            shape = tensor.get("shape")
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                return None
            total += math.prod(shape)
    return total or None
