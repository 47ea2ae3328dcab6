"""Hugging Face ``datasets`` as sources: a ``save_to_disk`` folder (a ``Dataset`` or a ``DatasetDict``)
and ``hub:OWNER/NAME[:CONFIG][@SPLIT]`` through ``datasets.load_dataset`` (from the local cache when
offline). Rows come back as plain dicts for the one reader in ``studio.data.formats``."""

from __future__ import annotations

import re
from pathlib import Path

from studio.errors import DatasetFormatError, NetworkError

HUB_PREFIX = "hub:"
_HUB_ID = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+|[\w.-]+)(?::(?P<config>[\w.-]+))?(?:@(?P<split>[\w.-]+))?$")


def is_saved_dataset(path: Path) -> bool:
    """A folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk``."""
    return path.is_dir() and ((path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file()
                              or (path / "state.json").is_file())


def _pick_split(obj, split: str | None, where: str):
    from datasets import DatasetDict

    if not isinstance(obj, DatasetDict):
        return obj
    names = list(obj)
    chosen = split or ("train" if "train" in names else names[0] if len(names) == 1 else None)
    if chosen is None:
        raise DatasetFormatError(f"{where} has the splits {', '.join(names)}: choose one with @SPLIT "
                                 f"(e.g. {where}@{names[0]}).")
    if chosen not in obj:
        raise DatasetFormatError(f"{where} has no split {chosen!r} (splits: {', '.join(names)}).")
    return obj[chosen]


def _rows(ds) -> list[dict]:
    return [{k: v for k, v in row.items() if v is not None} for row in ds.to_list()]


def read_saved(path: Path, split: str | None = None) -> list[dict]:
    """The rows of a ``save_to_disk`` folder (the ``train`` split of a DatasetDict unless ``split``)."""
    from datasets import load_from_disk

    try:
        obj = load_from_disk(str(path))
    except (OSError, ValueError, FileNotFoundError) as exc:
        raise DatasetFormatError(f"{path} is not a readable datasets folder ({str(exc).splitlines()[0][:160]}).") from None
    return _rows(_pick_split(obj, split, str(path)))


def parse_hub_id(src: str) -> tuple[str, str | None, str | None]:
    """``hub:owner/name[:config][@split]`` -> (repo, config, split); a one-line error when malformed."""
    m = _HUB_ID.match(src[len(HUB_PREFIX):].strip())
    if not m:
        raise DatasetFormatError(f"Bad Hub dataset {src!r}: write hub:OWNER/NAME, hub:OWNER/NAME:CONFIG or "
                                 "hub:OWNER/NAME@SPLIT.")
    return m["repo"], m["config"], m["split"]


def check_hub_size(repo: str, max_bytes: int, token: str | None = None) -> None:
    """Refuse, before anything is downloaded, a Hub dataset whose files add up to more than ``max_bytes``
    (a public app's bound: ``load_dataset`` would fetch the whole of it onto the one server's disk and memory)."""
    from huggingface_hub import HfApi

    try:
        info = HfApi().dataset_info(repo, files_metadata=True, token=token or False)
    except Exception as exc:  # not found, gated, unreachable: say so without downloading anything
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise DatasetFormatError(f"Cannot import {repo} from the Hub: {text}") from None
    total = sum(int(getattr(f, "size", None) or 0) for f in info.siblings or [])
    if total > max_bytes:
        raise DatasetFormatError(
            f"{repo} holds {total / 1e6:,.1f} MB of files and this app imports Hub datasets of up to "
            f"{max_bytes / 1e6:.0f} MB: download the split you need and import it as a file (up to the same size), "
            "or run the studio on your own machine for larger ones.")


def read_hub(src: str, token: str | None = None) -> list[dict]:
    """A Hub dataset's rows through ``datasets.load_dataset`` (the local cache serves it offline)."""
    from datasets import load_dataset

    repo, name, split = parse_hub_id(src)
    try:
        obj = load_dataset(repo, name, split=split, token=token)
    except (ConnectionError, TimeoutError) as exc:
        raise NetworkError(f"Cannot reach the Hub for {repo} ({type(exc).__name__}) and it is not in the local "
                           "cache: connect, or import a downloaded file.") from None
    except Exception as exc:  # datasets raises its own types (DatasetNotFoundError, ValueError for splits, ...)
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        if "offline" in text.lower() or "couldn't reach" in text.lower() or "connection" in text.lower():
            raise NetworkError(f"Cannot reach the Hub for {repo} and it is not in the local cache: connect, "
                               "or import a downloaded file.") from None
        raise DatasetFormatError(f"Cannot load {repo} from the Hub: {text}") from None
    return _rows(_pick_split(obj, split, src))
