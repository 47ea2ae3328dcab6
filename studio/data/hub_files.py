"""Which files of a Hub dataset repository an import of one config and split needs.

``datasets.load_dataset`` picks a split's data files by the README's ``configs:`` (``data_files`` per split) or,
without them, by its file-name conventions (``train.jsonl``, ``data/test-00000-of-00001.parquet``, ...). The same
rules run here on the repository's file list (the Hub's listing, with sizes), before anything is downloaded, so
that a public app can hold an import to its size limit by what it will download, not by every file of the
repository, and download just those. Where the files cannot be told (a config that names a folder, a
pattern that points elsewhere, ambiguous defaults), the plan is the whole repository.
"""

from __future__ import annotations

import glob
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.errors import DatasetFormatError


@dataclass(frozen=True)
class HubFiles:
    """What an import downloads: ``files`` (path in the repository -> bytes) for ``split`` of ``config``, or,
    with ``whole`` set, every file of the repository (``split`` then as asked, maybe None)."""

    files: dict[str, int]
    split: str | None = None
    config: str | None = None
    whole: bool = False
    builder_kwargs: dict[str, Any] = field(default_factory=dict)  # a YAML config's other settings (sep, features)

    @property
    def size(self) -> int:
        return sum(self.files.values())

    def describe(self, most: int = 3) -> str:
        """The files in a few words: "data/train.parquet, extra.parquet and 3 more"."""
        names = sorted(self.files)
        shown = ", ".join(names[:most])
        return shown + (f" and {len(names) - most} more" if len(names) > most else "")

    @property
    def allow_patterns(self) -> list[str]:
        """The files as ``snapshot_download`` patterns (fnmatch: a ``[`` or ``*`` in a name is escaped)."""
        return [glob.escape(name) for name in sorted(self.files)]



def choose_split(names: list[str], split: str | None, where: str) -> str:
    """The split a Hub import or a saved dataset reads: the one asked for, else ``train``, else the only one; a
    one-line error naming the splits there are when it is ambiguous or not there."""
    chosen = split or ("train" if "train" in names else names[0] if len(names) == 1 else None)
    if chosen is None:
        raise DatasetFormatError(f"{where} has the splits {', '.join(names)}: choose one with @SPLIT "
                                 f"(e.g. {where}@{names[0]}).")
    if chosen not in names:
        raise DatasetFormatError(f"{where} has no split {chosen!r} (splits: {', '.join(names)}).")
    return chosen

def plan(siblings: dict[str, int], card_data: dict[str, Any] | None, config: str | None,
         split: str | None, where: str) -> HubFiles:
    """The files ``load_dataset(repo, config, split=split)`` reads, from the repository's ``siblings`` (path ->
    size) and its README's metadata. With no split asked: "train", or the only split, as the import picks it.
    Raises ``DatasetFormatError`` when the split does not exist or must be chosen (nothing downloaded yet)."""
    whole = HubFiles(dict(siblings), split, config, whole=True)
    if any(name.endswith(".py") or Path(name).name == ".huggingface.yaml" for name in siblings):
        return whole  # a loading script, or metadata outside the README: datasets decides otherwise
    with _listing(siblings) as root:
        try:
            patterns, kwargs = _patterns(root, card_data or {}, config)
        except (ValueError, KeyError, TypeError, FileNotFoundError):
            return whole
        if not patterns:
            return whole
        chosen = choose_split(list(patterns), split, where)
        files = _resolve(root, siblings, patterns[chosen])
    if not files:
        return whole
    return HubFiles({f: siblings[f] for f in files}, chosen, config, builder_kwargs=kwargs)


def _patterns(root: str, card_data: dict[str, Any], config: str | None) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Split -> file patterns for ``config``, as datasets takes them, and the config's other builder settings."""
    from datasets.data_files import EmptyDatasetError, get_data_patterns, sanitize_patterns
    from datasets.utils.metadata import MetadataConfigs

    configs = MetadataConfigs.from_dataset_card_data(card_data)
    if configs:
        name = config or configs.get_default_config_name()
        if name not in configs:
            return {}, {}  # datasets names the configs in its own error
        chosen = dict(configs[name])
        if "data_files" not in chosen or chosen.get("data_dir"):
            return {}, {}
        patterns = sanitize_patterns(chosen.pop("data_files"))
        if any("://" in p for ps in patterns.values() for p in ps):
            return {}, {}  # files of another repository or a URL
        kwargs = {k: v for k, v in chosen.items() if k not in ("default", "data_dir")}
        return {str(split): list(ps) for split, ps in patterns.items()}, kwargs
    if config not in (None, "default"):
        return {}, {}
    try:
        return {str(split): list(ps) for split, ps in get_data_patterns(root).items()}, {}  # NamedSplit keys
    except EmptyDatasetError:
        return {}, {}


def _resolve(root: str, siblings: dict[str, int], patterns: list[str]) -> list[str]:
    """The repository's files that ``patterns`` match, by datasets' own glob rules (hidden files, allowed
    extensions), run on ``root``, an empty copy of the listing."""
    from datasets.data_files import resolve_pattern
    from datasets.packaged_modules import _ALL_ALLOWED_EXTENSIONS

    found: list[str] = []
    for pattern in patterns:
        try:
            matched = resolve_pattern(pattern, base_path=root, allowed_extensions=_ALL_ALLOWED_EXTENSIONS)
        except FileNotFoundError:
            continue
        found += [Path(m).relative_to(root).as_posix() for m in matched]
    return [f for f in dict.fromkeys(found) if f in siblings]


class _listing:  # noqa: N801 (a context manager used like a function)
    """A temporary folder holding an empty file for each of ``siblings``: datasets' globbing runs on it."""

    def __init__(self, siblings: dict[str, int]):
        self._siblings = siblings

    def __enter__(self) -> str:
        self._tmp = tempfile.TemporaryDirectory(prefix="hub-listing-")
        root = Path(self._tmp.name).resolve()
        for name in self._siblings:
            path = root / name
            if root not in path.resolve().parents:
                continue  # never outside the folder, whatever a listing says
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        return root.as_posix()

    def __exit__(self, *exc: object) -> None:
        self._tmp.cleanup()
