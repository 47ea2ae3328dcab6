"""Dataset references: which records a training run used, typed, with one way to read them back.

``load_dataset("faq.json")`` or ``load_dataset("Soccer rules", 3)`` reads the records and returns a
``DatasetRef`` saying where they came from (a workspace dataset's id and version, or a file) and what
they were (their sha256 and count). A run keeps it in ``run.json`` as ``"dataset"`` (``to_dict``) and
``DatasetRef.from_dict(run.dataset).load()`` reads the same records again, from the file or the version.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from studio.data import store
from studio.errors import TrainingError


@dataclass(frozen=True)
class DatasetRef:
    id: str | None = None  # a workspace dataset's id; None for a file
    name: str = ""  # the dataset's display name, or the file's stem
    version: int | None = None  # the workspace version; None for a file
    sha256: str | None = None  # of the version's records, or of the file's bytes
    count: int | None = None  # records; None until loaded (a reference made by hand)
    file: str | None = None  # an absolute path, for a file

    @property
    def source(self) -> str:
        """What ``load_dataset`` (and ``train --dataset``) takes: the file, else the workspace id."""
        return self.file or self.id or ""

    @property
    def label(self) -> str:
        """How the studio names these records to a person: "Soccer rules v3", or a file's stem alone."""
        name = self.name or self.id or "?"
        return f"{name} v{self.version}" if self.version is not None else name

    def load(self) -> tuple[list[dict], DatasetRef]:
        """The records again (the latest version when none was recorded) and a fresh reference to them."""
        if self.file and not Path(self.file).is_file():  # moved or deleted since: not "give a file" (none was asked)
            raise TrainingError(f"The dataset file {self.file} is no longer there: put it back to use these records "
                                "again (to resume a run), or start a new run on another dataset.")
        if not self.file and self.id and store.find_dataset(self.id) is None:
            raise TrainingError(f"The workspace dataset {self.name or self.id!r} was deleted: start a new run on "
                                "another dataset.")
        return load_dataset(self.source, self.version)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DatasetRef:
        """From a run.json's ``"dataset"`` (keys this version does not know are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known and v is not None})


def load_dataset(spec: str, version: int | None = None) -> tuple[list[dict], DatasetRef]:
    """Records and their provenance from a dataset file (JSON, JSON Lines, CSV) or a workspace dataset (name or id)."""
    from studio.data import formats

    path = Path(spec).expanduser()
    if path.is_file():
        if version is not None:  # it was ignored: the run recorded a version the file never had
            raise TrainingError(f"{path.name} is a file: it has no versions (a version number is for workspace "
                                "datasets). Leave the version out, or give a workspace dataset's name.")
        records, _ = formats.read_file(path)  # the same reader and verdict as ``dataset import``
        return records, DatasetRef(name=path.stem, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                                   count=len(records), file=str(path.resolve()))
    info = store.find_dataset(spec)
    if info is None and path.is_dir():  # a workspace dataset of the same name as a folder here still wins
        raise TrainingError(f"{spec} is a folder: give a dataset file in it (JSON, JSON Lines, CSV or Parquet) or a "
                            "workspace dataset name.")
    if info is None:
        raise TrainingError(f"No dataset file or workspace dataset {spec!r}: give a JSON file or a dataset name.")
    number = version if version is not None else (info.latest.version if info.latest else None)
    v = next((x for x in info.versions if x.version == number), None)
    if v is None:
        raise TrainingError(store.no_version_line(info.name, number, [x.version for x in info.versions]))
    records = store.load_version(info.id, v.version)
    return records, DatasetRef(id=info.id, name=info.name, version=v.version, sha256=v.sha256, count=v.count)
