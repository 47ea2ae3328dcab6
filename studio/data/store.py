"""The dataset store: named datasets in the workspace, every save a new immutable version.

Layout under ``STUDIO_HOME/datasets/<id>/``::

    dataset.json          {"id", "name", "created", "uid"}  (uid: this dataset's own, never another's after a delete)
    versions/0001.json    the records, in the seed format (a JSON array of {"question", "answer", ...})
    versions/0001.meta    {"version", "created", "count", "message", "sha256"}

Writes are atomic and a per-dataset file lock serialises saves, so two sessions saving at once
cannot both win: a save based on an older version raises ``VersionConflictError``.
"""

from __future__ import annotations

import collections
import contextlib
import difflib
import fcntl
import hashlib
import itertools
import json
import os
import shutil
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from studio import atomic, config, jobs
from studio.errors import DatasetNotFoundError, DatasetReplacedError, StudioError, VersionConflictError, disk_error
from studio.models import text

Record = dict[str, object]


@dataclass(frozen=True)
class VersionInfo:
    version: int
    created: str  # ISO 8601, UTC
    count: int  # number of records
    message: str  # what the save was ("imported qa.json", "dedup: kept 97 of 104", ...)
    sha256: str  # hash of the version file's bytes; runs and evaluations record it


@dataclass(frozen=True)
class DatasetInfo:
    id: str  # directory name, stable across renames
    name: str  # display name, unique in the workspace (case-insensitive)
    created: str
    versions: list[VersionInfo] = field(default_factory=list)
    # Which dataset this is, of all that ever held this id: a deleted dataset's id is given to the next one of its
    # name, and edits made on the old one must not be saved into the new (``save_version``'s ``made_on``).
    uid: str = ""

    @property
    def latest(self) -> VersionInfo | None:
        return self.versions[-1] if self.versions else None


@dataclass(frozen=True)
class Diff:
    added: list[Record]
    removed: list[Record]
    edited: list[tuple[Record, Record]]  # (before, after)
    moved: int = 0  # records in both, the same, in another place: neither added nor removed

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.edited or self.moved)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _slug(name: str) -> str:
    """A dataset's id from its name (``studio.models.text.slug``): "Soccer rules (v2)" -> "soccer-rules-v2"."""
    return text.slug(name, limit=48, tag="dataset") or "dataset"


def _dir(dataset_id: str) -> Path:
    if not dataset_id or "/" in dataset_id or dataset_id.startswith("."):
        raise DatasetNotFoundError(f"No dataset with id {dataset_id!r}; pick one from the list.")
    path = config.datasets_dir(make=False) / dataset_id
    if not (path / "dataset.json").is_file():
        raise DatasetNotFoundError(f"No dataset with id {dataset_id!r}; it may have been deleted. Pick another.")
    return path


def dataset_path(dataset_id: str) -> Path:
    """The folder of an existing dataset, for what the studio keeps beside its versions (a review's verdicts)."""
    return _dir(dataset_id)


@contextlib.contextmanager
def _locked(path: Path, name: str = ".lock") -> Iterator[None]:
    try:
        path.mkdir(parents=True, exist_ok=True)
        fh = open(path / name, "a+")
    except OSError as exc:
        raise (disk_error(exc, path) or exc) from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def _held(dataset_id: str, doing: str = "save") -> Iterator[Path]:
    """The folder of the existing dataset ``dataset_id``, under the lock its saves, renames and deletion hold, and
    still there once the lock is had: a delete in another session moved the folder (and its lock file) to the trash
    while a save waited, and the save wrote its version into a folder it made anew, without its ``dataset.json``
    (reported saved, in no dataset). The folder is never made here. ``doing``: "save", "restore", "rename" or
    "delete", what a refusal says was not done."""
    path = _dir(dataset_id)
    try:
        fh = open(path / ".lock", "a+")
    except FileNotFoundError:
        raise _deleted(dataset_id, doing) from None
    except OSError as exc:
        raise (disk_error(exc, path) or exc) from None
    with fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            try:  # the lock file at the path is the one held: the folder was not moved away (nor another made there)
                at_path, held = os.stat(path / ".lock"), os.fstat(fh.fileno())
                there = (at_path.st_dev, at_path.st_ino) == (held.st_dev, held.st_ino) and (path / "dataset.json").is_file()
            except FileNotFoundError:
                there = False
            if not there:
                raise _deleted(dataset_id, doing)
            yield path
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _deleted(dataset_id: str, doing: str = "save") -> DatasetNotFoundError:
    if doing == "delete":  # two sessions' Delete at once: one moved it to the trash, the other finds it gone
        return DatasetNotFoundError(f"Dataset {dataset_id!r} was already deleted (in another tab or session): "
                                    "nothing more to delete. Pick another dataset.")
    if doing == "restore":
        return DatasetNotFoundError(f"Dataset {dataset_id!r} was deleted (in another tab or session) before the "
                                    "version was restored: nothing was restored. Pick another dataset.")
    if doing == "rename":  # it read "as this change was being saved ... save unsaved changes as a new dataset"
        return DatasetNotFoundError(f"Dataset {dataset_id!r} was deleted (in another tab or session) before it was "
                                    "renamed: nothing was renamed. Pick another dataset.")
    return DatasetNotFoundError(f"Dataset {dataset_id!r} was deleted (in another tab or session) as this change was "
                                "being saved: nothing was saved (the Dataset page offers to save unsaved changes as a new dataset).")


def dataset_lock(path: Path) -> contextlib.AbstractContextManager[None]:
    """The lock every save of the dataset in the folder ``path`` holds (a restore putting its files in place takes it)."""
    return _locked(path)


def creation_lock(root: Path) -> contextlib.AbstractContextManager[None]:
    """The lock a new dataset's id is chosen under in the datasets folder ``root`` (a restore keeping the repo's copy
    of a dataset apart chooses its id under it too)."""
    return _locked(root, ".create.lock")


def free_id(root: Path, base: str, suffix: str = "") -> str:
    """The first of ``base``, ``base-2``, ``base-3``, ... (each followed by ``suffix``) that nothing in ``root`` holds:
    every new id a dataset (or an evaluation moved in) gets. Call it under ``creation_lock`` where a dataset created
    meanwhile could take the same one."""
    name, n = f"{base}{suffix}", 1
    while (root / name).exists():
        n += 1
        name = f"{base}-{n}{suffix}"
    return name


def _sweep(root: Path, pattern: str, *, older_than_s: float = 0.0) -> int:
    """Remove what a crash mid-save left (temporary files, half-made datasets); only ever called under
    the lock that every writer of those files holds, so nothing matched is still being written."""
    removed = 0
    now = time.time()
    for p in root.glob(pattern):
        try:
            if now - p.stat().st_mtime < older_than_s:
                continue
            shutil.rmtree(p) if p.is_dir() else p.unlink()
            removed += 1
        except OSError:
            continue
    return removed


def name_key(name: str) -> str:
    """What two names must differ in: not case, nor how an accent is encoded ("é" and "e" + U+0301 look alike), nor a
    character's compatibility form (full-width "Ａ" and "A", the ligature "ﬁ" and "fi"): NFKC, case-folded."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name.strip()).casefold())


NAME_MAX = 100  # characters in a dataset's name
MESSAGE_MAX = 5_000  # characters in a version's message: "imported <a path>" fits (a path is at most 4,096 bytes)


def message_too_long(message: str) -> str:
    """Why ``message`` cannot be a version's message, in one line; "" when it can. A visitor's paste of megabytes into
    the Save box was written into the version's record and drawn in the History table at every visit."""
    if len(message) <= MESSAGE_MAX:
        return ""
    return (f"Not saved: the note on what changed is {len(message):,} characters, more than the {MESSAGE_MAX:,} it may "
            "hold: shorten it (your edits are kept).")

def name_from(text: str) -> str:
    """A name ``_check_name`` takes, made from ``text`` (a file's name, offered to be changed): its control characters
    (a tab, a line break) as spaces, cut to ``NAME_MAX`` characters."""
    one_line = "".join(" " if unicodedata.category(c) == "Cc" else c for c in jobs.without_bidi(text))
    return " ".join(one_line.split())[:NAME_MAX].strip()


def _check_name(name: str, *, ignore_id: str | None = None) -> str:
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name:
        raise StudioError("A dataset needs a name: type one and try again.")
    if len(name) > NAME_MAX:
        raise StudioError(f"That name is too long: use at most {NAME_MAX} characters.")
    if any(unicodedata.category(c) == "Cc" for c in name):  # a tab or a line break split the CLI's listing
        raise StudioError("A dataset name is one line: leave out tabs, line breaks and other control characters.")
    if any(c in jobs.BIDI_CONTROLS for c in name):  # the text-direction controls run names refuse too
        raise StudioError(f"A dataset name {jobs.BIDI_REFUSED}")
    for info in list_datasets():
        if info.id != ignore_id and name_key(info.name) == name_key(name):
            same = "" if info.name == name else f" ({name!r} looks the same)"
            raise StudioError(f"A dataset named {info.name!r} already exists{same}: choose another name.")
    return name


def _head(path: Path) -> dict[str, str] | None:
    """A dataset folder's ``dataset.json`` as {"name", "created"}; None when it is unreadable or not what the studio
    writes (cut off, edited by hand into another shape): such a folder is left out of the lists, and ``damaged``
    names it."""
    try:
        head = json.loads((path / "dataset.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(head, dict) or not all(isinstance(head.get(k), str) and head[k].strip() for k in ("name", "created")):
        return None
    # A dataset made before uids were written is told apart by its creation time (to the second)
    uid = head.get("uid") if isinstance(head.get("uid"), str) and head.get("uid") else head["created"]
    return {"name": head["name"], "created": head["created"], "uid": uid}


def list_datasets() -> list[DatasetInfo]:
    """Every dataset in the workspace, newest first."""
    out = []
    for path in config.entries(config.datasets_dir(make=False)):  # a read: no folder made
        if path.name.startswith(".") or not (path / "dataset.json").is_file():  # a dataset being created, or a lock
            continue
        head = _head(path)
        if head is None:
            continue  # a damaged or foreign folder is not a dataset (``damaged`` says so)
        out.append(DatasetInfo(id=path.name, name=head["name"], created=head["created"], versions=list_versions(path.name),
                               uid=head["uid"]))
    return sorted(out, key=lambda d: d.created, reverse=True)


def get_dataset(dataset_id: str) -> DatasetInfo:
    path = _dir(dataset_id)
    head = _head(path)
    if head is None:
        raise DatasetNotFoundError(f"Dataset {dataset_id!r} is damaged: its file {path / 'dataset.json'} was changed "
                                   "outside the studio; put it back, or pick another dataset.")
    return DatasetInfo(id=dataset_id, name=head["name"], created=head["created"], versions=list_versions(dataset_id),
                       uid=head["uid"])


def damaged(dataset_id: str | None = None) -> list[str]:
    """One line per dataset or version the lists leave out because a file of it was damaged outside the studio
    (of one dataset: ``dataset_id``)."""
    lines = []
    for path in config.entries(config.datasets_dir(make=False)):
        if (path.name.startswith(".") or not (path / "dataset.json").is_file()
                or dataset_id is not None and path.name != dataset_id):
            continue
        if _head(path) is None:
            lines.append(f"Dataset folder {path.name!r} is not listed: its dataset.json is damaged (cut off or edited "
                         "by hand). Put the file back, or move the folder out of the workspace.")
            continue
        vdir = path / "versions"
        for meta in sorted(vdir.glob("*.meta")) if vdir.is_dir() else ():
            if _version_info(meta) is None:
                lines.append(f"Dataset {path.name!r}: version file {meta.name} is damaged, so that version is not "
                             "listed. Put the file back, or delete it and its .json beside it.")
    return lines


def find_dataset(name: str) -> DatasetInfo | None:
    """The dataset with this display name or id, if any."""
    datasets = list_datasets()  # a name first: another dataset's id may be spelled like it
    # the name as it is first: a workspace made before look-alikes were one name may hold "Ａ" and "A"
    return (next((d for d in datasets if d.name == name), None)
            or next((d for d in datasets if name_key(d.name) == name_key(name)), None)
            or next((d for d in datasets if d.id == name), None))


def create_dataset(name: str, records: list[Record], message: str = "created") -> DatasetInfo:
    """Create a dataset whose first version holds ``records``."""
    if why := message_too_long(message):
        raise StudioError(why)
    root = config.datasets_dir()
    # The name check and the id are decided under one workspace lock, so two datasets created at the same
    # moment (the same name, or names with the same slug) never share a folder: the second gets its own
    # id or "already exists". The dataset is built in a hidden folder and renamed into place: a full disk
    # leaves no half-made dataset behind.
    with creation_lock(root):
        _sweep(root, ".new-*")  # a dataset whose creation was killed midway
        name = _check_name(name)
        dataset_id = free_id(root, _slug(name))
        # Not made here: the first checked write makes it and its versions/, and counts them against a public
        # workspace's limit (the disk keeps each folder in a block). Under the lock, after the sweep, the name is free.
        staging = root / f".new-{dataset_id}"
        try:
            _write_version(staging, 1, records, message)
            atomic.write_json(staging / "dataset.json", {"id": dataset_id, "name": name, "created": _now(),
                                                             "uid": uuid.uuid4().hex})
            os.rename(staging, root / dataset_id)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            err = disk_error(exc, root / dataset_id) if isinstance(exc, OSError) else None
            if err is not None:
                raise err from None
            raise
    return get_dataset(dataset_id)


def rename_dataset(dataset_id: str, new_name: str) -> DatasetInfo:
    # The name is checked and taken under the lock a creation checks it under: two sessions renaming two datasets (or
    # one creating) to one name at once both passed the check, and the workspace held two datasets of that name
    with creation_lock(config.datasets_dir(make=False)), _held(dataset_id, "rename") as path:
        name = _check_name(new_name, ignore_id=dataset_id)
        head = json.loads((path / "dataset.json").read_text(encoding="utf-8"))
        head["name"] = name
        atomic.write_json(path / "dataset.json", head)
    return get_dataset(dataset_id)


def delete_dataset(dataset_id: str) -> Path:
    """Move the dataset to ``STUDIO_HOME/trash`` (nothing is destroyed) and return where it went. Under the dataset's
    lock: a save in another session ends first, and goes with it; one that waits is refused in one line."""
    _dir(dataset_id)
    trash = config.home() / "trash"
    if not trash.is_dir():  # made outside a checked save: counted on a public app (the move itself adds nothing)
        trash.mkdir(exist_ok=True)
        config.made([trash])
    with _held(dataset_id, "delete") as path:
        return atomic.move_into_trash(trash, path, dataset_id)


def list_versions(dataset_id: str) -> list[VersionInfo]:
    vdir = config.datasets_dir(make=False) / dataset_id / "versions"
    if not vdir.is_dir():
        return []
    found = (_version_info(meta) for meta in sorted(vdir.glob("*.meta")))
    return sorted((v for v in found if v is not None), key=lambda v: v.version)


def _version_info(meta: Path) -> VersionInfo | None:
    """A version's ``.meta`` file; None when it is unreadable or holds other kinds of values than the studio writes
    (the version is then not listed, as an interrupted save is not, and ``damaged`` names it)."""
    try:
        head = json.loads(meta.read_text(encoding="utf-8"))
        info = VersionInfo(**head) if isinstance(head, dict) else None
    except (OSError, ValueError, TypeError):
        return None
    whole = lambda v: type(v) is int and v >= 0  # noqa: E731 - not a bool, a float or text
    if info is None or not (whole(info.version) and info.version >= 1 and whole(info.count)
                            and all(isinstance(v, str) for v in (info.created, info.message, info.sha256))):
        return None
    return info


def no_version_line(name: str, number: object, versions: list[int]) -> str:
    """The one line for a version a dataset does not have, naming the ones it has (the command line has no list to
    pick from: "pick one from its version list" named none)."""
    if not versions:
        return f"Dataset {name!r} has no saved version yet: save it on the Dataset page."
    have = f"one, v{versions[0]}" if len(versions) == 1 else f"v{min(versions)} to v{max(versions)}, the latest v{max(versions)}"
    return f"Dataset {name!r} has no version {number}: it has {have}."


def version_path(dataset_id: str, version: int | None = None) -> Path:
    """The JSON file of a version (the latest when ``version`` is None)."""
    path = _dir(dataset_id)
    versions = list_versions(dataset_id)
    if not versions:
        raise DatasetNotFoundError(f"Dataset {dataset_id!r} has no versions yet.")
    number = versions[-1].version if version is None else int(version)
    file = path / "versions" / f"{number:04d}.json"
    if not file.is_file():
        info = find_dataset(dataset_id)
        raise DatasetNotFoundError(no_version_line(info.name if info else dataset_id, number,
                                                   [v.version for v in versions]))
    return file


def load_version(dataset_id: str, version: int | None = None) -> list[Record]:
    """The records of a version (the latest when ``version`` is None); a version file damaged outside the
    studio (cut off, edited by hand) is one line naming it."""
    path = version_path(dataset_id, version)
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
        why = None if isinstance(records, list) and all(type(r) is dict for r in records) else "not a list of records"
    except UnicodeDecodeError:
        why = "not UTF-8 text"
    except ValueError:
        why = "not valid JSON, cut off or edited"
    except OSError as exc:
        why = exc.strerror or str(exc)
    if why:
        raise StudioError(f"Version {int(path.stem)} of dataset {dataset_id!r} is damaged ({why}): its file {path} "
                          "was changed outside the studio; restore another version, or put the file back.")
    return records


def save_version(dataset_id: str, records: list[Record], *, base_version: int, message: str = "edited",
                 made_on: str | None = None) -> VersionInfo:
    """Save ``records`` as a new version, if nobody saved since ``base_version``.

    ``made_on``: the ``uid`` of the dataset the edits were made on. When the dataset was deleted meanwhile and a new
    one took its id (its name imported again), ``DatasetReplacedError``: nothing is saved into the unrelated dataset.

    Raises ``VersionConflictError`` when the latest version is newer than ``base_version``; the
    caller keeps its edits and can reload, compare and retry.
    """
    if why := message_too_long(message):  # before the dataset's lock is taken or anything is written
        raise StudioError(why)
    with _held(dataset_id) as path:
        return _save_held(path, dataset_id, lambda: records, base_version, message, made_on, "save")


def _save_held(path: Path, dataset_id: str, records: Callable[[], list[Record]], base_version: int, message: str,
               made_on: str | None, doing: str) -> VersionInfo:
    """``save_version``'s checks and write, in the dataset's folder ``path`` whose lock is held; ``records`` read only
    once the checks pass. ``doing``: "save" or "restore", what a refusal says was not done."""
    _sweep(path / "versions", ".*.tmp")  # a save killed midway (files as big as a version)
    head = _head(path)
    if head is None:  # its uid unreadable: whether it is still the dataset the edits were made on cannot be told
        done = "nothing was restored" if doing == "restore" else "nothing was saved (your edits are kept)"
        raise StudioError(f"Dataset {dataset_id!r} is damaged: its file {path / 'dataset.json'} was changed outside "
                          f"the studio, so {done}; put the file back and try again.")
    if made_on is not None and head["uid"] != made_on:
        if doing == "restore":  # the restore a tab showed the old dataset's versions for would restore the new one's
            raise DatasetReplacedError(
                f"Dataset {head['name']!r} whose versions you were looking at was deleted (in another tab or session) "
                "and a new dataset took its name: nothing was restored. Its own versions are listed now: restore one "
                "of them if you mean to.")
        raise DatasetReplacedError(
            f"Dataset {head['name']!r} you were editing was deleted (in another tab or session) and a new dataset "
            "took its name: nothing was saved into it. Save your edits as a new dataset instead.")
    versions = list_versions(dataset_id)
    latest = versions[-1].version if versions else 0
    if latest != base_version:
        if doing == "restore":  # the versions the restore was picked from are not the latest's: another save came
            raise VersionConflictError(
                f"This dataset was saved by someone else (version {latest}) after the versions you were looking at "
                f"(up to version {base_version}): nothing was restored. Its versions are listed now: restore one again "
                "if you still mean to.", base_version=base_version, latest_version=latest)
        raise VersionConflictError(
            f"This dataset was saved by someone else (version {latest}) after you opened version "
            f"{base_version}. Your edits are kept: reload to see theirs, then re-apply yours and save.",
            base_version=base_version,
            latest_version=latest,
        )
    return _write_version(path, latest + 1, records(), message)


def restore_version(dataset_id: str, version: int, *, base_version: int, made_on: str | None = None) -> VersionInfo:
    """Make an old version the latest again, as a new version (history is never rewritten). ``base_version``: the
    latest of the versions shown, a newer one saved since is refused (``VersionConflictError``: the restore would undo
    it unseen). ``made_on``: the ``uid`` of the dataset whose versions were shown; a dataset deleted and given to a new
    one of its name since is refused (``DatasetReplacedError``), as ``save_version`` refuses edits: its version
    ``version`` is another dataset's."""
    with _held(dataset_id, "restore") as path:
        return _save_held(path, dataset_id, lambda: load_version(dataset_id, version), base_version,
                          f"restored version {version}", made_on, "restore")


def _write_version(path: Path, number: int, records: list[Record], message: str) -> VersionInfo:
    data = (json.dumps(records, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    atomic.write_bytes(path / "versions" / f"{number:04d}.json", data)
    info = VersionInfo(
        version=number, created=_now(), count=len(records), message=message, sha256=hashlib.sha256(data).hexdigest()
    )
    # The meta file is written last: a version without one is an interrupted save and is not listed.
    atomic.write_json(path / "versions" / f"{number:04d}.meta", asdict(info))
    return info


def diff_records(before: list[Record], after: list[Record], ids: set[object] | None = None) -> Diff:
    """What changed from ``before`` to ``after``: records added, removed, and edited in place (``ids``: those
    ``pair_records`` may pair by, by default ``unique_ids`` of the two lists)."""
    key = lambda r: json.dumps(r, sort_keys=True, ensure_ascii=False)  # noqa: E731
    keys_before, keys_after = [key(r) for r in before], [key(r) for r in after]
    matcher = difflib.SequenceMatcher(None, keys_before, keys_after, autojunk=False)
    ops = matcher.get_opcodes()
    # A record in both, unchanged, in another place (a version sorted or shuffled) is a move: the matcher keeps one
    # order, and every record out of it read as removed and added again (10,000 records shuffled, 2,000 removed and
    # 3,000 added, read "10,879 added, 9,879 removed"). Moves are counted apart, the rest paired as one block.
    gone = [i for op, i1, i2, _, _ in ops if op in ("delete", "replace") for i in range(i1, i2)]
    came = [j for op, _, _, j1, j2 in ops if op in ("insert", "replace") for j in range(j1, j2)]
    common = collections.Counter(keys_before[i] for i in gone) & collections.Counter(keys_after[j] for j in came)
    if common:
        left_old, left_new = common.copy(), common.copy()
        olds = [before[i] for i in gone if not _took(left_old, keys_before[i])]
        news = [after[j] for j in came if not _took(left_new, keys_after[j])]
        pairs, removed_, added_ = pair_records(olds, news, ids if ids is not None else unique_ids(before, after))
        return Diff(added=added_, removed=removed_, edited=pairs, moved=sum(common.values()))
    added: list[Record] = []
    removed: list[Record] = []
    edited: list[tuple[Record, Record]] = []
    for op, i1, i2, j1, j2 in ops:
        if op == "insert":
            added.extend(after[j1:j2])
        elif op == "delete":
            removed.extend(before[i1:i2])
        elif op == "replace":
            if ids is None:
                ids = unique_ids(before, after)
            pairs, gone_, fresh = pair_records(before[i1:i2], after[j1:j2], ids)
            edited.extend(pairs)
            removed.extend(gone_)
            added.extend(fresh)
    return Diff(added=added, removed=removed, edited=edited)


def _took(left: collections.Counter, key: str) -> bool:
    """Whether one more of ``key`` is among ``left`` (taken from it): a moved record, counted once."""
    if left[key] > 0:
        left[key] -= 1
        return True
    return False


ALIKE = 65.0  # rapidfuzz's ratio (0-100, difflib's) of two records' question and answer from which one is the other
# edited: a rewording of both ("How long is a half?" / "45 minutes." to "How long is each half of a match?" /
# "Forty-five minutes.") is 69, two questions of one FAQ on other things 39-42, one on another count of the same thing
# ("How many players?" / "Eleven." and "How many substitutes?" / "Five.") 62
ALIKE_CHARS = 300  # of each record's question and answer compared: a 50 MB answer is not compared whole
ALIKE_NEAR = 4  # a record is compared with the records this many places either side of its own place, not every one
ID_LOOKS = 8  # records of the same question or answer looked at for one whose id is not another's
ALIKE_TRIES = 20_000  # comparisons in one block at most (~0.2 s of 600-character ones; difflib took 17 ms each)


def pair_records(olds: list[Record], news: list[Record], ids: set[object] | None = None
                 ) -> tuple[list[tuple[Record, Record]], list[Record], list[Record]]:
    """Which of ``olds`` (records no longer in a place of a list) are which of ``news`` (the records now there) edited,
    as (edited pairs, removed, added). A record is the same record when it has the same ``id`` field (a stable id: one
    of ``ids``, those no two records share on either side, ``unique_ids`` of the whole lists; by default of ``olds``
    and ``news``: 800 records all of id 0 paired a record deleted with another one edited), else the same question
    and answer, else the same question or the same answer (of several, the most alike: the first of the question
    was taken before another's answer), else, both edited, a question and answer alike enough (``ALIKE``): a record
    whose question and answer were both edited was a removal and an addition, so a rebase could not see that another
    tab's edit of it was an edit of the same record."""
    if not olds or not news:
        return [], list(olds), list(news)
    pair: dict[int, int] = {}  # old index -> new index
    taken: set[int] = set()
    if ids is None:
        ids = unique_ids(olds, news)

    from rapidfuzz import fuzz

    scores = [ALIKE_TRIES]  # comparisons left for choosing between records of the same question or answer

    def match(spots: dict[object, collections.deque[int]], keys: list[object], i: int) -> None:
        found: list[tuple[collections.deque[int], int, int]] = []  # (where, place in it, new index)
        for key in keys:
            free = spots.get(key) if key is not None else None
            while free and free[0] in taken:  # each taken one dropped once: 10,000 answers "Yes." are not scanned again
                free.popleft()
            for at, j in enumerate(itertools.islice(free or (), ID_LOOKS)):  # those that are not another id's record
                if j not in taken and not _other_ids(olds[i], news[j]) and all(j != f[2] for f in found):
                    found.append((free, at, j))  # type: ignore[arg-type]
        if not found:
            return
        pick = found[0]
        if len(found) > 1 and scores[0] >= len(found):  # old A (Q, a1), B (Q2, a2) and new [B' (Q, a2), A' (Q, a1')]:
            # the first of question Q, B', was A edited and B was removed; the most alike of those found is taken
            scores[0] -= len(found)
            said = _said(olds[i])
            pick = max(found, key=lambda f: fuzz.ratio(said, _said(news[f[2]])))  # the first of equals
        free, at, j = pick
        pair[i] = j
        taken.add(j)
        del free[at]

    both = lambda r: [(_value(r.get("question")), _value(r.get("answer")))]  # noqa: E731 - the same record, first
    for keys in (lambda r: [k if (k := _stable_id(r)) in ids else None], both,
                 lambda r: [("question", _value(r.get("question"))), ("answer", _value(r.get("answer")))]):
        spots: dict[object, collections.deque[int]] = {}
        for j, rec in enumerate(news):
            if j not in taken:
                for k in keys(rec):
                    if k is not None:
                        spots.setdefault(k, collections.deque()).append(j)
        for i, rec in enumerate(olds):
            if i not in pair:
                match(spots, keys(rec), i)

    left_old = [i for i in range(len(olds)) if i not in pair]
    left_new = [j for j in range(len(news)) if j not in taken]
    tries = ALIKE_TRIES
    said_new: dict[int, str] = {}
    for n, i in enumerate(left_old):
        best, score, said = None, ALIKE, _said(olds[i])
        for j in left_new[max(0, n - ALIKE_NEAR):n + ALIKE_NEAR + 1]:
            if j in taken or tries <= 0 or _other_ids(olds[i], news[j]):
                continue
            tries -= 1
            if j not in said_new:
                said_new[j] = _said(news[j])
            ratio = fuzz.ratio(said, said_new[j])
            if ratio >= score:
                best, score = j, ratio
        if best is not None:
            pair[i] = best
            taken.add(best)
    return ([(olds[i], news[pair[i]]) for i in sorted(pair)], [r for i, r in enumerate(olds) if i not in pair],
            [r for j, r in enumerate(news) if j not in taken])


def unique_ids(before: list[Record], after: list[Record]) -> set[object]:
    """The ``id`` fields (as ``_stable_id`` keys) that one record holds in ``before`` and one in ``after``."""
    olds = collections.Counter(k for k in map(_stable_id, before) if k is not None)
    news = collections.Counter(k for k in map(_stable_id, after) if k is not None)
    return {k for k, n in olds.items() if n == 1 and news.get(k) == 1}


def _stable_id(record: Record) -> object:
    """A record's own ``id`` field as a key, None when it has none (or an empty one)."""
    value = record.get("id")
    return None if value is None or value == "" else ("id", _value(value))


def _value(value: object) -> object:
    """A field's value as a key: text as it is, anything else as its JSON (a list is not hashable)."""
    return value if type(value) is str else (json.dumps(value, sort_keys=True, ensure_ascii=False, default=str),)


def _said(record: Record) -> str:
    """The start of a record's question and of its answer, as ``pair_records`` compares them (each cut on its own: a
    question over 600 characters hid the answer, and the whole text was copied to cut it)."""
    return "\n".join(_start(record.get(f)) for f in ("question", "answer"))


def _start(value: object) -> str:
    """The first ``ALIKE_CHARS`` characters of a field's value (its JSON when it is not text)."""
    if type(value) is not str:
        value = json.dumps(value, ensure_ascii=False, default=str)
    return value[:ALIKE_CHARS]


def _other_ids(old: Record, new: Record) -> bool:
    """Whether both records carry an ``id`` field and the two differ: another record put in this one's place, not it
    edited (a record whose id is gone paired with a new one of another id by the same answer)."""
    a, b = _stable_id(old), _stable_id(new)
    return a is not None and b is not None and a != b
