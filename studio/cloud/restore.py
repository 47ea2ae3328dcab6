"""Bringing a workspace's repo back into its folder after a restart (or a token given again): each dataset whole or
not at all, only where its room is there before any download, and what was deleted here stays deleted."""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from studio import config
from studio.cloud import usage
from studio.cloud.hub_repo import _explain
from studio.cloud.synced import (
    BATCHED_FILES,
    MANIFEST,
    SYNCED_DIRS,
    _load_manifest,
    _save_manifest,
    _sha,
    _wanted,
    digest,
)
from studio.errors import StudioError, WorkspaceFullError

MAX_FILES = 5_000  # the most files a restore brings into a workspace: each is a download (two requests) in the sync's
# thread of the visitor who gave the token, and a repo of 100,000 one-byte files fits any size limit. 100 datasets of 20
# saved versions each, with their evaluations, stay near 2,500.
PART_STALE_S = 3600  # a download beside its file this old was left by a restore that did not finish
CHUNK = 1 << 20  # a download holds a MB of its file at a time (huggingface_hub's own download held 10 MB chunks:
# ~43 MB of memory a file measured, for every visitor restoring at once)


def _remote_files(api, repo_id: str, prefix: str) -> dict[str, tuple[int, str]]:
    """The repo's files under ``prefix`` (a folder ending in "/", or "" for the whole repo), relative to it, each
    with its size and git blob id (what a restore checks the room for, and knows a file it got before by)."""
    from huggingface_hub.errors import EntryNotFoundError
    from huggingface_hub.hf_api import RepoFile

    try:
        tree = api.list_repo_tree(repo_id, path_in_repo=prefix.rstrip("/") or None, recursive=True,
                                  repo_type="dataset")
        files = {e.path: (int(e.size or 0), e.blob_id) for e in tree if isinstance(e, RepoFile)}
    except EntryNotFoundError:  # nothing saved under it yet
        return {}
    return {p[len(prefix):]: about for p, about in files.items() if p.startswith(prefix)}


_their_sha: dict[str, str] = {}  # git blob id -> the sha256 of its bytes, for the conversations a restore got
# (a retry of a restore held back by room does not download the conversation again only to find it the same)


def _unit(rel: str) -> str:
    """What of the repo comes back whole or not at all: a dataset (or an evaluation's folder), else the file."""
    parts = rel.split("/")
    return "/".join(parts[:2]) if parts[0] in SYNCED_DIRS and len(parts) > 2 else rel


class Restored(NamedTuple):
    """What a restore did: the files it wrote, and what can never come back here (larger than the workspace's whole
    limit, or the server's, or past ``MAX_FILES``), as the repo counts it ("1 dataset"), with why; None where nothing."""
    written: int
    too_big: tuple[str, str] | None = None  # (what, why): ("1 dataset", "larger than this workspace's 50 MB limit")


def restore(token: str, repo_id: str, folder: Path, prefix: str = "", manifest: str = MANIFEST,
            explain: Callable[[Exception, str], StudioError] | None = None,
            progress: Callable[[int, int], None] | None = None) -> Restored:
    """Bring the repo's files (those under ``prefix``) into ``folder``: every file missing here comes back
    byte for byte; a file that differs is kept as it is here (it is the newer one) unless its dataset is the
    untouched sample a new workspace starts with. A file this folder already had from the repo (in its manifest)
    and that is gone here was deleted here: it stays deleted (the next commit removes it from the repo).

    Each dataset (and each other file) comes back only where the room it needs, from the sizes the repo lists, is
    there before any of it is downloaded (the workspace's limit and the server's total; ``config.fits``), so a retry
    fetches nothing only to be refused. One that does not fit waits, and those after it that fit come back; then
    ``WorkspaceFullError`` says what did not (``left``) and why (``room``). What came is recorded, so deleting some
    of it to make room sticks and the next try brings back the rest. One larger than the limit itself can never come
    back: it stays in the repo (``Restored.too_big``, also on the error as ``too_big``) and holds nothing back; so do
    those past ``MAX_FILES`` files in all, however small. A dataset that did not come back keeps its folder here, empty, so a new dataset of its name gets another id and
    never writes over it in the repo. ``progress(files downloaded, files to download)`` is told as it goes."""
    from huggingface_hub import HfApi

    from studio.cloud.workspaces import untouched_sample

    api = HfApi(token=token)
    folder = Path(folder)
    written, came, held, too_big, too_many = 0, {}, [], [], []
    limits = config.limits_of(folder)
    try:
        listed = _remote_files(api, repo_id, prefix)
        # a dataset's head last: one stopped halfway (a write refused) is not listed as a broken dataset
        files = sorted((f for f in listed if _wanted(f)),
                       key=lambda rel: (rel.split("/")[:2], rel.endswith("/dataset.json")))
        replace = {ds for ds in {rel.split("/")[1] for rel in files if rel.startswith("datasets/") and rel.count("/") > 1}
                   if untouched_sample(folder / "datasets" / ds)}  # once a dataset, not once a file (5,000 of them)
        synced = _load_manifest(folder, manifest)
        files, past = _by_need(files, folder, synced)
        if past:  # a count no size limit bounds (one-byte files): what a person needs least stays in the repo
            too_many.append(past)
            for unit in {_unit(rel) for rel in past} - {_unit(rel) for rel in files}:  # none of it comes
                _keep_name(folder, unit)

        coming = sum(rel not in synced and not (folder / rel).exists() for rel in files)  # for ``progress``
        fetched = 0

        def fetch(rel: str, into) -> str:  # streamed into an open file a MB at a time: the sha256 of what came
            nonlocal fetched
            sha = _download(token, repo_id, prefix + rel, listed[rel][0], into)
            fetched += 1
            if progress is not None:
                progress(fetched, max(coming, fetched))
            return sha

        if progress is not None:
            progress(0, coming)

        for unit, group in itertools.groupby(files, key=_unit):
            rels = list(group)
            missing = [rel for rel in rels if rel not in synced and not (folder / rel).exists()]
            apart = _apart(folder, rels, listed, synced, replace)
            if apart:  # made or edited here before the restore reached it: the repo's comes whole, beside it
                missing = rels
            if limits is not None and missing and sum(usage.on_disk(listed[rel][0]) for rel in rels) > min(limits):
                too_big.append(rels)
                _keep_name(folder, unit)
                continue
            try:
                written += _bring_back(folder, rels, listed, synced, replace, fetch, came, apart)
            except WorkspaceFullError as exc:  # it waits for room; what comes after it may fit
                held.append((rels, exc))
                _keep_name(folder, unit)
    except Exception as exc:
        raise (explain or _explain)(exc, f"restore from {repo_id}") from None
    finally:  # these files are as the repo holds them; one kept here because it differs is pushed next
        if came:
            try:
                _save_manifest(folder, {**_load_manifest(folder, manifest), **came}, manifest)
            except OSError:  # a full disk: the restore's own error (or its result) is what the visitor must see
                pass
    never, why = None, []
    if too_big and limits is not None:
        size = usage.readable_size
        why.append(f"larger than this workspace's {size(limits[0])} limit" if limits[0] <= limits[1] else
                   f"larger than the {size(limits[1])} this server holds for all its visitors together")
    if too_many:
        why.append(f"past the {MAX_FILES:,} files a workspace here holds")
    if why:
        never = (_left(folder, [rel for rels in (*too_big, *too_many) for rel in rels], {}), " or ".join(why))
    if held:  # what did not come back, for the one line that says so (held_by_room)
        err = WorkspaceFullError(str(held[0][1]))
        err.left = _left(folder, [rel for rels, _exc in held for rel in rels], _load_manifest(folder, manifest))
        err.room = " and ".join(dict.fromkeys(getattr(exc, "room", "there is no room") for _rels, exc in held))
        err.too_big = never
        raise err
    return Restored(written, never)


def reserve_names(token: str, repo_id: str, folder: Path, prefix: str = "", manifest: str = MANIFEST) -> None:
    """Keep the ids of the repo's datasets taken here (an empty folder each, as ``_keep_name`` does) before its restore
    runs in the background: what a tab made before giving its token, moved in meanwhile, gets ids of its own and never
    meets the repo's under one (a dataset deleted here stays deleted: it gets none)."""
    from huggingface_hub import HfApi

    try:
        listed = _remote_files(HfApi(token=token), repo_id, prefix)
    except Exception as exc:
        raise _explain(exc, f"restore from {repo_id}") from None
    synced = _load_manifest(Path(folder), manifest)
    for rel in listed:
        parts = rel.split("/")
        if parts[0] == "datasets" and len(parts) > 2 and _wanted(rel) and not any(
                name.startswith(f"datasets/{parts[1]}/") for name in synced):
            _keep_name(Path(folder), f"datasets/{parts[1]}")


def _by_need(files: list[str], folder: Path, synced: dict[str, str]) -> tuple[list[str], list[str]]:
    """Which of the repo's ``files`` come back within ``MAX_FILES`` (what is here already counts, what was deleted here
    does not), in the order of what a person needs: the loose files (the Chat conversation, its settings, the
    Evaluate form), then every dataset's head with its newest version, then the evaluations' results (newest first),
    then older versions (every dataset's previous one, then the one before, ...). Each dataset's head and newest
    version, each evaluation, each older version come whole or not at all. Returns (``files`` kept, in their
    order; those left in the repo). The cap used to keep the alphabetically first files: a visitor over it got an
    arbitrary subset back, whole datasets missing while old versions of others came."""
    latest: dict[str, int] = {}
    for rel in files:
        if (number := _version(rel)) is not None:
            ds = rel.split("/")[1]
            latest[ds] = max(latest.get(ds, 0), number)
    groups: dict[tuple, list[str]] = {}
    for rel in files:
        parts, number = rel.split("/"), _version(rel)
        if parts[0] not in SYNCED_DIRS or len(parts) < 2:
            key: tuple = (0, rel)
        elif parts[0] == "datasets" and (number is None or number == latest.get(parts[1])):
            key = (1, parts[1])
        elif parts[0] == "datasets":
            key = (3, -number, parts[1])
        else:  # an evaluation: its id starts with the time it ran, so the newest sorts last
            key = (2, tuple(-ord(c) for c in _unit(rel)))
        groups.setdefault(key, []).append(rel)
    def kept_files(rels: list[str]) -> int:  # the files of ``rels`` that will be here (not those deleted here)
        return sum(not (rel in synced and not (folder / rel).exists()) for rel in rels)

    here = {key for key, rels in groups.items() if all(rel in synced or (folder / rel).exists() for rel in rels)}
    count = sum(kept_files(groups[key]) for key in here)  # what is here already counts first: it stays
    taken, left = set(here), []
    for key in sorted(groups):
        if key in here:
            continue
        rels = groups[key]
        head = key[0] != 3 or (1, key[2]) in taken  # an older version comes only with its dataset
        if head and count + kept_files(rels) <= MAX_FILES:
            taken.add(key)
            count += kept_files(rels)
        else:
            left += rels
    out = set(left)
    return [rel for rel in files if rel not in out], left


def _version(rel: str) -> int | None:
    """The version number of a dataset's version file (``datasets/<id>/versions/0003.json`` or ``.meta``)."""
    parts = rel.split("/")
    if len(parts) == 4 and parts[0] == "datasets" and parts[2] == "versions":
        stem, _, ext = parts[3].partition(".")
        if stem.isdigit() and ext in ("json", "meta"):
            return int(stem)
    return None


def _keep_name(folder: Path, unit: str) -> None:
    """A dataset that did not come back keeps its folder (empty: not listed, nothing synced), so a dataset made here
    meanwhile under its name gets another id, and neither its commit nor the rest coming back mixes the two."""
    if unit.startswith("datasets/") and unit.count("/") == 1:
        made = [p for p in (folder / unit, folder / "datasets") if not p.is_dir()]
        (folder / unit).mkdir(parents=True, exist_ok=True)
        config.made(made)  # outside a checked save: counted now, not at the next full measure


def too_big_line(too_big: tuple[str, str], where: str) -> str:
    """The one line for what a restore can never bring back: what, why, and where it stays."""
    what, why = too_big
    one = what == "the Chat conversation" or what.startswith("1 ") and " and " not in what
    return (f"{what[0].upper()}{what[1:]} kept in {where} {'is' if one else 'are'} {why}: "
            f"{'it stays' if one else 'they stay'} there and {'does' if one else 'do'} not come back here (open "
            f"{'it' if one else 'them'} in a studio of your own).")


_APART = "apart:"  # a manifest entry of the repo's file under an id kept apart here, with its git blob id


def _apart(folder: Path, rels: list[str], listed: dict[str, tuple[int, str]], synced: dict[str, str],
           replace: set[str]) -> bool:
    """Whether the repo's dataset ``rels`` must come back apart from the one of its id here: a dataset made or edited
    here before the restore reached it (a tab that saved while the restore ran, a dataset of the same name made
    meanwhile, the sample edited) holds a version the repo holds otherwise. Its files mixed in beside those here
    made one history of two: the repo's later versions numbered after the visitor's edit, which was no longer the
    newest. A dataset that only went on from what the repo holds (versions added here since) is the same one."""
    parts = rels[0].split("/")
    if parts[0] != "datasets" or len(parts) < 3 or parts[1] in replace:
        return False
    if not (folder / "datasets" / parts[1] / "dataset.json").exists():
        return False
    if all(synced.get(rel) == _APART + listed[rel][1] for rel in rels):  # kept apart already, the repo's unchanged
        return False  # since (a retry before the first commit): another copy each try was "X (restored 2)", "(3)"...
    for rel in rels:
        target = folder / rel
        if _version(rel) is None or not rel.endswith(".json") or not target.exists():
            continue
        if _git_blob(target) != listed[rel][1] and not (rel in synced and synced[rel] == _sha(target)):
            return True
    return False


def _apart_id(folder: Path, dataset_id: str) -> str:
    """A new id beside ``dataset_id`` for the repo's copy of it, its folder made at once (under the lock every new
    dataset's id is chosen under, so a dataset created meanwhile never takes it)."""
    from studio.data import store

    root = folder / "datasets"
    with store.creation_lock(root):
        new = store.free_id(root, dataset_id)
        (root / new).mkdir()
        config.made([root / new])  # outside a checked save: counted now (the totals read a block less than the disk)
        return new


def _apart_head(part: str, root: Path, new_id: str) -> None:
    """The head of the repo's copy kept apart: its new id, and a name that says where it came from and clashes with
    no dataset here (the one made here keeps its own)."""
    head = json.loads(Path(part).read_text(encoding="utf-8"))
    from studio.data import store

    taken = set()
    for other in root.iterdir():
        with contextlib.suppress(OSError, ValueError, AttributeError):
            taken.add(store.name_key(str(json.loads((other / "dataset.json").read_text(encoding="utf-8")).get("name", ""))))
    base, name, n = str(head.get("name") or new_id), "", 1
    while not name or store.name_key(name) in taken:  # as the store compares names: "ＦＡＱ (restored)" is taken too
        name = f"{base} (restored{'' if n == 1 else f' {n}'})"
        n += 1
    head["id"], head["name"] = new_id, name
    Path(part).write_text(json.dumps(head, ensure_ascii=False, indent=1), encoding="utf-8")


def _place(part: str, target: Path, over: bool) -> bool:
    """Put a downloaded file in place: over what is there only where ``over`` (the untouched sample, under its
    dataset's lock); else only where nothing is, in one step (a link that fails where a file is), so a save that
    came after the restore looked (a Chat setting, an evaluation's file, a job's log) is never written over: it is
    the newer one. False where it was not put in place."""
    if over:
        os.replace(part, target)
        return True
    try:
        os.link(part, target)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: the look and the rename, as close together as can be
        if target.exists():
            return False
        os.replace(part, target)
    return True


def _bring_back(folder: Path, rels: list[str], listed: dict[str, tuple[int, str]], synced: dict[str, str],
                replace: set[str], fetch: Callable[[str, object], str], came: dict[str, str],
                apart: bool = False) -> int:
    """Bring back one dataset (or one file) of a restore: nothing of it where its room is not there (raises
    ``WorkspaceFullError`` before any download). Records what came in ``came``; returns the files written. With
    ``apart`` (``_apart``), the repo's dataset comes whole under a new id and name, and the repo's files under its
    old id count as gone here (the next commit moves them to the new id; the one made here takes the old)."""
    from studio.chat import saved
    from studio.cloud import workspaces

    if apart:
        return _bring_back_apart(folder, rels, listed, fetch, came)
    written, todo = 0, []
    for rel in rels:
        target, parts = folder / rel, rel.split("/")
        if rel in synced and not target.exists():  # deleted here since it came: not brought back
            continue
        size, blob = listed[rel]
        if target.exists() and rel in BATCHED_FILES and blob and _git_blob(target) == blob:
            # the repo holds this very conversation (committed from here): nothing to join, download or make room for
            # (it asked for room for a join, and said a conversation right here did not come back)
            came[rel] = _sha(target)
            continue
        if target.exists() and rel in BATCHED_FILES:  # the conversation: the repo's turns join those here
            theirs = _their_sha.get(blob) if blob else None
            if theirs is None or synced.get(rel) != theirs:
                config.fits(target, size)  # the most a join adds
                got = io.BytesIO()  # the conversation: a few hundred turns at most (studio.chat.saved.KEEP)
                theirs = fetch(rel, got)
                raw = got.getvalue()
                if synced.get(rel) != theirs:  # not what this folder last synced: turns only the repo has
                    written += saved.join_into(target, raw)
                if blob:
                    _their_sha[blob] = theirs
            came[rel] = theirs  # what the repo holds: a joined file differs, and is pushed next
            continue
        if target.exists() and not (parts[0] == "datasets" and parts[1] in replace):
            continue
        todo.append(rel)
    if not todo:
        return written
    config.fits(folder / _unit(rels[0]), workspaces.replacing_all([(folder / rel, listed[rel][0]) for rel in todo]))
    with _fetched([(rel, folder / rel) for rel in todo], listed, fetch) as parts, _saves_held(folder, rels[0]):
        # a save of this dataset waits (once every file came), and none is written over
        sample = {ds for ds in replace if workspaces.untouched_sample(folder / "datasets" / ds)}
        for rel, target, part, sha in parts:  # in order: a dataset's head last
            name = rel.split("/")
            if not _place(part, target, over=target.exists() and name[0] == "datasets" and name[1] in sample):
                continue  # written here meanwhile (a save in another tab): the newer one stays
            came[rel] = sha  # only once written: what is recorded and not here counts as deleted here
            if rel in BATCHED_FILES and listed[rel][1]:
                _their_sha[listed[rel][1]] = sha
            written += 1
    return written


@contextlib.contextmanager
def _fetched(files: list[tuple[str, Path]], listed: dict[str, tuple[int, str]], fetch: Callable[[str, object], str]):
    """Download each repo file ``rel`` of ``files`` beside its ``target`` under a hidden name, its room counted
    first (each streamed to its own folder, never to a copy elsewhere: no file takes twice its room); yields
    [(rel, target, its download, its sha256)] in order, to put in place. The downloads left are removed after, and
    the room each took is then in its file (or, not written, counted until measured again)."""
    parts: list[tuple[str, Path, str, str]] = []
    done: list[Callable[[], None]] = []
    try:
        for rel, target in files:
            if (room := config.before_write(target, listed[rel][0])) is not None:
                done.append(room)
            target.parent.mkdir(parents=True, exist_ok=True)
            _sweep_parts(target.parent)
            fd, part = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:64]}.", suffix=".restore")
            parts.append((rel, target, part, ""))
            with os.fdopen(fd, "wb") as fh:
                sha = fetch(rel, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(part, 0o644)
            parts[-1] = (rel, target, part, sha)
        yield parts
    finally:
        for _rel, _target, part, _sha in parts:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
        for room in done:
            room()


def _bring_back_apart(folder: Path, rels: list[str], listed: dict[str, tuple[int, str]],
                      fetch: Callable[[str, object], str], came: dict[str, str]) -> int:
    """``_bring_back`` of a dataset kept apart (``_apart``): every file of the repo's under a new id."""
    old_id = rels[0].split("/")[1]
    config.fits(folder / "datasets" / old_id, sum(usage.on_disk(listed[rel][0]) for rel in rels)  # and its folders
                + usage.BLOCK * len({str(Path(rel).parent) for rel in rels}))
    new_id = _apart_id(folder, old_id)
    root, written = folder / "datasets", 0
    try:
        with _fetched([(rel, root / new_id / rel.split("/", 2)[2]) for rel in rels], listed, fetch) as parts:
            for rel, _target, part, _sha in parts:
                if rel.endswith("/dataset.json") and rel.count("/") == 2:
                    _apart_head(part, root, new_id)
            for _rel, target, part, _sha in parts:  # in order: the head last
                os.replace(part, target)
                written += 1
        for rel in rels:  # the repo's files under the old id: gone here (the new id holds them), never restored again;
            came[rel] = _APART + listed[rel][1]  # marked so (no sha: the commit pushes the visitor's over them)
    except BaseException:
        if not written:
            shutil.rmtree(root / new_id, ignore_errors=True)
        raise
    return written


def _sweep_parts(where: Path) -> None:
    """Remove the downloads a restore killed midway (a restart, a crash) left in ``where``: hidden, never listed nor
    synced, they still counted against the workspace's limit for good. Only those an hour old: another restore of the
    same workspace (its account's and the store's) may be writing one now."""
    now = time.time()
    for part in where.glob(".*.restore"):
        with contextlib.suppress(OSError):
            if now - part.stat().st_mtime > PART_STALE_S:
                part.unlink()


@contextlib.contextmanager
def _saves_held(folder: Path, rel: str):
    """While a restore puts a dataset's files in place: the lock every save of that dataset holds (another tab saving
    it waits, then sees what came); nothing for other files (the Chat settings, a form, an evaluation's file), which
    are each put in place only where no file is, in one step (``_place``): a save that came first stays."""
    from studio.data import store

    parts = rel.split("/")
    if parts[0] != "datasets" or len(parts) < 3:
        yield
        return
    with store.dataset_lock(folder / "datasets" / parts[1]):
        yield


def _download(token: str, repo_id: str, path_in_repo: str, size: int, into) -> str:
    """Stream a file of the repo into the open file ``into`` a MB at a time; its sha256. One that comes shorter or
    longer than the listing's ``size`` (a connection cut) raises, and nothing of it is put in place."""
    from huggingface_hub import constants, hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url = hf_hub_url(repo_id, path_in_repo, repo_type="dataset")
    sha, got = hashlib.sha256(), 0
    with get_session().stream("GET", url, headers=build_hf_headers(token=token), follow_redirects=True,
                              timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT) as response:
        hf_raise_for_status(response)
        for chunk in response.iter_bytes(CHUNK):
            into.write(chunk)
            sha.update(chunk)
            got += len(chunk)
    if got != size:
        raise StudioError(f"{path_in_repo} came {got:,} bytes of the {size:,} the repo lists (the connection was cut): "
                          "it is tried again with the rest.")
    return sha.hexdigest()


def _git_blob(path: Path) -> str | None:
    """git's name for a file's bytes, as the repo's listing gives it (``RepoFile.blob_id``); None where unreadable."""
    try:
        return digest(path, hashlib.sha1(b"blob %d\0" % path.stat().st_size))
    except OSError:
        return None


def _left(folder: Path, files: list[str], synced: dict[str, str]) -> str:
    """What of ``files`` (the repo's, not brought back yet) is missing here, as a visitor counts it: "2 datasets and
    the Chat conversation". A dataset whose head is not here is missing (its head comes last); a file deleted here
    since it came is not."""
    datasets, evals, chat, older, older_of = set(), set(), False, set(), set()
    for rel in files:
        parts = rel.split("/")
        if rel in synced and not (folder / rel).exists():
            continue
        if parts[0] == "datasets" and len(parts) > 2 and not (folder / "datasets" / parts[1] / "dataset.json").exists():
            datasets.add(parts[1])
        elif _version(rel) is not None and not (folder / rel).exists():  # its dataset came, with its newer versions
            older.add(rel.rsplit(".", 1)[0])
            older_of.add(parts[1])
        elif parts[0] == "evals" and not (folder / rel).exists():
            evals.add(parts[1])
        elif rel in BATCHED_FILES:
            chat = True
    said = [f"{n} {what}{'s' if n > 1 else ''}" for n, what in ((len(datasets), "dataset"), (len(evals), "evaluation"))
            if n] + (["the Chat conversation"] if chat else [])
    if older:
        said.append(f"{len(older):,} older version{'s' if len(older) > 1 else ''} of {len(older_of)} "
                    f"dataset{'s' if len(older_of) > 1 else ''}")
    return " and ".join([", ".join(said[:-1]), said[-1]] if len(said) > 1 else said) or "Part of your workspace"


def held_by_room(exc: WorkspaceFullError, where: str) -> WorkspaceFullError:
    """The one line for a restore the workspace's (or the server's) size limit held back: what did not come back,
    why, and what to do."""
    left = getattr(exc, "left", "Part of your workspace")
    room = getattr(exc, "room", "there is no room")
    one = left == "the Chat conversation" or left.startswith("1 ") and " and " not in left
    comes = "it comes" if one else "they come"
    if room == "this server is full":  # not the visitor's doing: the retries bring it back once the server has room
        todo = f"{comes.capitalize()} back once the server has room (deleting what you no longer need here helps)"
    else:
        todo = f"Delete what you no longer need here and {comes} back"
    held = WorkspaceFullError(f"{left[0].upper()}{left[1:]} kept in {where} did not come back: {room}. {todo}; sync "
                              "waits until then.")
    held.room = room
    return held
