"""A visitor's workspace kept in a private dataset repo on their own Hugging Face account.

Why a commit per saved change and not ``huggingface_hub.CommitScheduler``: the scheduler pushes every
few minutes (it is built for logs), so a restart inside that window loses the last saves; it never
deletes what was deleted here, so a restore would bring deleted datasets back; and it shows nothing a
page could say. Here one watcher thread per synced workspace looks every few seconds at a few stats that change
with any synced file (the running size total every checked save rewrites, the synced folders' own times), looks at
every file only when they changed or a minute passed (stat only; hashes only for files whose size or time changed),
and commits exactly those, additions and
deletions in one commit, so every save reaches the Hub within seconds. A failed commit leaves the local
files as they are and is retried with a growing pause; the page reads ``state``/``message``.

What is synced: ``datasets/`` and ``evals/`` (plus the sample marker), and the Chat page's conversation; never jobs,
trash, locks or half-written temporary files, and never the token (it stays in this process's memory). The
conversation is rewritten whole after every turn: a commit per turn would flood the repo's history (and the Hub's
rate limit), so a change to it alone is committed at most every ``BATCH_S`` seconds (the first at once), goes with
the next other save sooner, and is committed when the watcher ends. What reaches the repo is the file the Chat page
wrote, in which every key and token of the session, and anything shaped like one, is already ``***``
(``studio.chat.saved``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from studio import atomic, config
from studio.cloud.hub_repo import (  # noqa: F401 -- the workspace repo's side, named here too (sync.identify, ...)
    MARKER,
    MARKER_BODY,
    REPO_NAME,
    Account,
    SyncError,
    _explain,
    check_repo_name,
    identify,
    open_repo,
)
from studio.cloud import usage
from studio.errors import StudioError, WorkspaceFullError

SYNCED_DIRS = ("datasets", "evals")
# The Chat page's settings and the Evaluate page's form come back with the conversation after a restart: a
# conversation back with other settings than it was had with reads as the same and answers differently.
SYNCED_FILES = (".sample-added", "chat/settings.json", "evaluate/form.json")
BATCHED_FILES = ("chat/conversation.json",)  # rewritten after every Chat turn: committed at most every BATCH_S
BATCH_S = 60.0
MANIFEST = ".sync-manifest.json"  # what the repo holds, as of the last commit (never synced itself; one per kind)
INTERVAL_S = 2.0
FULL_LOOK_S = 60.0  # every synced file is looked at (a stat each) at least this often; between, a few stats say
# whether anything changed (measured: 50 visitors of 300 files each cost 9% of a core every 2 s looking at all)
RETRY_S = (5, 10, 20, 40, 60)
KEEP_ALIVE_S = 30 * 60  # the watcher ends this long after the last page run of its visitor


def _wanted(rel: str) -> bool:
    parts = rel.split("/")
    if rel in SYNCED_FILES or rel in BATCHED_FILES:
        return True
    return (len(parts) > 1 and parts[0] in SYNCED_DIRS and not any(p.startswith(".") for p in parts[1:])
            and not rel.endswith((".tmp", ".lock")))


def local_files(folder: Path) -> dict[str, tuple[int, int]]:
    """The synced files of a workspace: relative path -> (size, mtime in ns)."""
    out = {}
    for name in (*SYNCED_FILES, *BATCHED_FILES):
        try:
            st = (folder / name).stat()
        except OSError:
            continue
        out[name] = (st.st_size, st.st_mtime_ns)
    for top in SYNCED_DIRS:
        for dirpath, dirs, files in os.walk(folder / top):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for f in files:
                full = os.path.join(dirpath, f)
                rel = os.path.relpath(full, folder).replace(os.sep, "/")
                if _wanted(rel):
                    try:
                        st = os.stat(full)
                    except OSError:
                        continue
                    out[rel] = (st.st_size, st.st_mtime_ns)
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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
    limit, or the server's), as the repo counts it ("1 dataset"), with the limit it passes; None where nothing."""
    written: int
    too_big: tuple[str, str] | None = None


def restore(token: str, repo_id: str, folder: Path, prefix: str = "", manifest: str = MANIFEST,
            explain: Callable[[Exception, str], StudioError] | None = None) -> Restored:
    """Bring the repo's files (those under ``prefix``) into ``folder``: every file missing here comes back
    byte for byte; a file that differs is kept as it is here (it is the newer one) unless its dataset is the
    untouched sample a new workspace starts with. A file this folder already had from the repo (in its manifest)
    and that is gone here was deleted here: it stays deleted (the next commit removes it from the repo).

    Each dataset (and each other file) comes back only where the room it needs, from the sizes the repo lists, is
    there before any of it is downloaded (the workspace's limit and the server's total; ``config.fits``), so a retry
    fetches nothing only to be refused. One that does not fit waits, and those after it that fit come back; then
    ``WorkspaceFullError`` says what did not (``left``) and why (``room``). What came is recorded, so deleting some
    of it to make room sticks and the next try brings back the rest. One larger than the limit itself can never come
    back: it stays in the repo (``Restored.too_big``, also on the error as ``too_big``) and holds nothing back. A
    dataset that did not come back keeps its folder here, empty, so a new dataset of its name gets another id and
    never writes over it in the repo."""
    from huggingface_hub import HfApi

    from studio.cloud.workspaces import untouched_sample

    api = HfApi(token=token)
    folder = Path(folder)
    written, came, held, too_big = 0, {}, [], []
    limits = config.limits_of(folder)
    try:
        listed = _remote_files(api, repo_id, prefix)
        # a dataset's head last: one stopped halfway (a write refused) is not listed as a broken dataset
        files = sorted((f for f in listed if _wanted(f)),
                       key=lambda rel: (rel.split("/")[:2], rel.endswith("/dataset.json")))
        replace = {rel.split("/")[1] for rel in files if rel.startswith("datasets/") and rel.count("/") > 1
                   and untouched_sample(folder / "datasets" / rel.split("/")[1])}
        synced = _load_manifest(folder, manifest)
        with tempfile.TemporaryDirectory(prefix="studio-restore-") as tmp:
            def fetch(rel: str) -> bytes:
                got = Path(api.hf_hub_download(repo_id, prefix + rel, repo_type="dataset", local_dir=tmp))
                try:
                    return got.read_bytes()
                finally:
                    got.unlink(missing_ok=True)

            for unit, group in itertools.groupby(files, key=_unit):
                rels = list(group)
                missing = [rel for rel in rels if rel not in synced and not (folder / rel).exists()]
                if limits is not None and missing and sum(listed[rel][0] for rel in rels) > min(limits):
                    too_big.append(rels)
                    _keep_name(folder, unit)
                    continue
                try:
                    written += _bring_back(folder, rels, listed, synced, replace, fetch, came)
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
    never = None
    if too_big and limits is not None:
        size = usage.readable_size
        never = (_left(folder, [rel for rels in too_big for rel in rels], {}),
                 f"this workspace's {size(limits[0])} limit" if limits[0] <= limits[1] else
                 f"the {size(limits[1])} this server holds for all its visitors together")
    if held:  # what did not come back, for the one line that says so (held_by_room)
        err = WorkspaceFullError(str(held[0][1]))
        err.left = _left(folder, [rel for rels, _exc in held for rel in rels], _load_manifest(folder, manifest))
        err.room = " and ".join(dict.fromkeys(getattr(exc, "room", "there is no room") for _rels, exc in held))
        err.too_big = never
        raise err
    return Restored(written, never)


def _keep_name(folder: Path, unit: str) -> None:
    """A dataset that did not come back keeps its folder (empty: not listed, nothing synced), so a dataset made here
    meanwhile under its name gets another id, and neither its commit nor the rest coming back mixes the two."""
    if unit.startswith("datasets/") and unit.count("/") == 1:
        (folder / unit).mkdir(parents=True, exist_ok=True)


def too_big_line(too_big: tuple[str, str], where: str) -> str:
    """The one line for what a restore can never bring back: what, why, and where it stays."""
    what, limit = too_big
    one = what == "the Chat conversation" or what.startswith("1 ") and " and " not in what
    return (f"{what[0].upper()}{what[1:]} kept in {where} {'is' if one else 'are'} larger than {limit}: "
            f"{'it stays' if one else 'they stay'} there and {'does' if one else 'do'} not come back here (open "
            f"{'it' if one else 'them'} in a studio of your own).")


def _bring_back(folder: Path, rels: list[str], listed: dict[str, tuple[int, str]], synced: dict[str, str],
                replace: set[str], fetch: Callable[[str], bytes], came: dict[str, str]) -> int:
    """Bring back one dataset (or one file) of a restore: nothing of it where its room is not there (raises
    ``WorkspaceFullError`` before any download). Records what came in ``came``; returns the files written."""
    from studio.chat import saved
    from studio.cloud import workspaces

    written, todo = 0, []
    for rel in rels:
        target, parts = folder / rel, rel.split("/")
        if rel in synced and not target.exists():  # deleted here since it came: not brought back
            continue
        size, blob = listed[rel]
        if target.exists() and rel in BATCHED_FILES:  # the conversation: the repo's turns join those here
            theirs = _their_sha.get(blob) if blob else None
            if theirs is None or synced.get(rel) != theirs:
                config.fits(target, size)  # the most a join adds
                raw = fetch(rel)
                theirs = hashlib.sha256(raw).hexdigest()
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
    config.fits(folder / _unit(rels[0]), sum(workspaces.replacing(folder / rel, listed[rel][0]) for rel in todo))
    for rel in todo:
        data = fetch(rel)
        atomic.write_bytes(folder / rel, data)
        came[rel] = hashlib.sha256(data).hexdigest()
        if rel in BATCHED_FILES and listed[rel][1]:
            _their_sha[listed[rel][1]] = came[rel]
        written += 1
    return written


def _left(folder: Path, files: list[str], synced: dict[str, str]) -> str:
    """What of ``files`` (the repo's, not brought back yet) is missing here, as a visitor counts it: "2 datasets and
    the Chat conversation". A dataset whose head is not here is missing (its head comes last); a file deleted here
    since it came is not."""
    datasets, evals, chat = set(), set(), False
    for rel in files:
        parts = rel.split("/")
        if rel in synced and not (folder / rel).exists():
            continue
        if parts[0] == "datasets" and len(parts) > 2 and not (folder / "datasets" / parts[1] / "dataset.json").exists():
            datasets.add(parts[1])
        elif parts[0] == "evals" and not (folder / rel).exists():
            evals.add(parts[1])
        elif rel in BATCHED_FILES:
            chat = True
    said = [f"{n} {what}{'s' if n > 1 else ''}" for n, what in ((len(datasets), "dataset"), (len(evals), "evaluation"))
            if n] + (["the Chat conversation"] if chat else [])
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


def _load_manifest(folder: Path, name: str = MANIFEST) -> dict[str, str]:
    try:
        return json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save_manifest(folder: Path, manifest: dict[str, str], name: str = MANIFEST) -> None:
    """Record what the repo holds, outside the workspace's size check (as its running total is): a restore that filled
    the workspace to the brim must still record what came, or the next try brings back what the visitor deleted to
    make room. A few bytes a file; the next measure of the workspace counts it."""
    atomic.write_unchecked(Path(folder) / name, json.dumps(manifest, ensure_ascii=False).encode("utf-8"))


class WorkspaceSync:
    """Keeps one workspace folder in one repo (under ``prefix`` there): a watcher thread commits what
    changed (looking at every file only when a few stats say something may have, or once a minute), retrying failures. With ``restore_first`` nothing is committed until the repo's files were
    brought back into the folder (``ready``), so a workspace emptied by a restart never overwrites them."""

    kind = "account"  # the visitor's own repo; "store" for the deployment's (studio.cloud.store)

    def __init__(self, folder: Path, repo_id: str, token: str, interval_s: float = INTERVAL_S, prefix: str = "",
                 restore_first: bool = False, batch_s: float = BATCH_S):
        self.folder, self.repo_id, self._token, self.interval_s = Path(folder), repo_id, token, interval_s
        self.batch_s = batch_s
        self._batched_at = 0.0  # when a change to a BATCHED_FILES file was last committed
        self.prefix = prefix
        self.manifest = MANIFEST if self.kind == "account" else f".sync-manifest-{self.kind}.json"
        self._prepared = not restore_first
        self.state = "waiting"  # waiting -> syncing -> synced | failed (retried)
        self.message = "Not synced yet."
        self.last_synced: float | None = None
        self.waits_until: float | None = None  # a change to the conversation alone is committed then (see BATCH_S)
        self.commits = 0
        self.held_by_room = False  # the last failure: the restore stopped for want of room (the visitor can free it)
        self.too_big: str | None = None  # the line on what the last restore can never bring back here
        self._failures = 0
        self._retry_at = 0.0
        self._seen: dict[str, tuple[int, int]] = {}
        self._last_signal: tuple | None = None  # what tick saw at its last full look
        self._looked_at = 0.0
        self._hashes: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_poke = time.time()
        self._thread: threading.Thread | None = None

    @property
    def where(self) -> str:
        """The repo as the visitor knows it."""
        return f"{self.repo_id} (private)"

    def retry_now(self) -> None:
        """The visitor asked to try again: the next look (``ready``, the watcher's next turn) does not wait."""
        self._retry_at = 0.0

    def same(self, repo_id: str, token: str, prefix: str = "") -> bool:
        return self.repo_id == repo_id and self._token == token and self.prefix == prefix

    def explain(self, exc: Exception, what: str) -> StudioError:
        return _explain(exc, what)

    def prepare(self) -> None:
        """What must succeed before the first commit: bring the repo's files back (raises ``StudioError``)."""
        self.noted(restore(self._token, self.repo_id, self.folder, self.prefix, self.manifest).too_big)

    def noted(self, too_big: tuple[str, str] | None) -> None:
        """What the last restore said can never come back here (``Restored.too_big``), as the sidebar shows it."""
        self.too_big = too_big_line(too_big, self.where) if too_big else None

    @property
    def prepared(self) -> bool:
        return self._prepared

    def ready(self) -> bool:
        """True once ``prepare`` succeeded; else try it (not before the retry pause of a failure ends)."""
        with self._lock:
            if self._prepared:
                return True
            if time.time() < self._retry_at:
                return False
            try:
                self.prepare()
            except WorkspaceFullError as exc:
                self.noted(getattr(exc, "too_big", None))
                self._failed(held_by_room(exc, self.where))
                return False
            except Exception as exc:
                self._failed(self.explain(exc, f"restore from {self.repo_id}"))
                return False
            self._prepared, self._failures, self._retry_at = True, 0, 0.0
            self.state, self.message = "waiting", "Restored; not synced yet."
            return True

    def _failed(self, err: StudioError) -> None:
        self.held_by_room = isinstance(err, WorkspaceFullError)
        self._failures += 1
        pause = RETRY_S[min(self._failures, len(RETRY_S)) - 1]
        self._retry_at = time.time() + pause
        # held by room: the line says it comes back once there is room, and the sidebar offers Try again now; a
        # countdown drawn once and never updated only made it longer
        next_try = "" if self.held_by_room else f" (next try in {pause} s)"
        self.state, self.message = "failed", f"{' '.join(str(err).split())}{next_try}"

    def poke(self) -> None:
        """A page run of its visitor: keep the watcher alive (and start it again after it ended)."""
        self._last_poke = time.time()
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._watch, name="workspace-sync", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        with config.use_workspace(self.folder):  # a thread starts with no visitor: this one is the folder's
            self._loop()

    def _signal(self) -> tuple:
        """A few stats that change whenever a synced file does: the running size total, which every checked save
        rewrites, whatever process saves (``studio.cloud.usage``); the synced folders, whose own time a dataset, an
        evaluation or a conversation added or deleted changes; and the conversation itself."""
        from studio.cloud import usage

        out = []
        for name in (usage.USAGE, *SYNCED_DIRS, "chat", *SYNCED_FILES, *BATCHED_FILES):
            try:
                st = os.stat(self.folder / name)
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def tick(self) -> None:
        """One look of the watcher: sync when the signal changed, something waits (a failure's retry, the
        conversation's batch), or the last full look is ``FULL_LOOK_S`` old; else nothing (a few stats)."""
        now = time.time()
        if now < self._retry_at or not self.ready():
            return
        signal = self._signal()  # taken before the look: a change during it changes the signal again
        if (signal != self._last_signal or now - self._looked_at >= FULL_LOOK_S or self.state != "synced"
                or (self.waits_until is not None and now >= self.waits_until)):
            self._last_signal, self._looked_at = signal, now
            self.sync_once()

    def _loop(self) -> None:
        while True:
            self.tick()
            if self._stop.wait(self.interval_s) or time.time() - self._last_poke > KEEP_ALIVE_S:
                if self.state != "failed" and self._prepared:
                    self.sync_once(flush=True)
                return

    def _current(self) -> dict[str, str]:
        files = local_files(self.folder)
        out = {}
        for rel, stamp in files.items():
            if self._seen.get(rel) != stamp or rel not in self._hashes:
                try:
                    self._hashes[rel] = _sha(self.folder / rel)
                except OSError:
                    continue
            out[rel] = self._hashes[rel]
        self._seen = files
        return out

    def sync_once(self, flush: bool = False) -> bool:
        """Commit what changed since the last commit. True when the repo matches the folder afterwards. A change
        to the conversation alone waits until ``batch_s`` passed since its last commit, unless ``flush``."""
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

        with self._lock:
            if not self._prepared:
                return False
            current = self._current()
            pushed = _load_manifest(self.folder, self.manifest)
            adds = [rel for rel, sha in current.items() if pushed.get(rel) != sha]
            deletes = [rel for rel in pushed if rel not in current]
            if not adds and not deletes:
                self.waits_until = None
                if self.state in ("waiting", "syncing"):
                    self.state, self.message = "synced", f"Synced to {self.repo_id}."
                    self.last_synced = self.last_synced or time.time()
                return True
            batched = [rel for rel in (*adds, *deletes) if rel in BATCHED_FILES]
            if (batched and len(batched) == len(adds) and not deletes and not flush
                    and time.time() - self._batched_at < self.batch_s):
                # the conversation alone changed, and went to the repo moments ago: it waits (a Clear does not:
                # a restart meanwhile would bring the cleared conversation back)
                self.waits_until = self._batched_at + self.batch_s
                return False
            if self.state != "failed":  # a failure stays shown, with its reason, until a commit succeeds
                self.state = "syncing"
            ops = []
            for rel in adds:
                try:
                    ops.append(CommitOperationAdd(self.prefix + rel, (self.folder / rel).read_bytes()))
                except OSError:  # gone since it was listed (a save replacing it, a workspace moved): not pushed
                    del current[rel]
                    if rel in pushed:
                        deletes.append(rel)
            ops += [CommitOperationDelete(self.prefix + rel) for rel in deletes]
            try:
                HfApi(token=self._token).create_commit(
                    self.repo_id, ops, repo_type="dataset",
                    commit_message=f"SLM Studio: {len(adds)} file(s) saved, {len(deletes)} removed")
            except Exception as exc:
                self._failed(self.explain(exc, f"sync to {self.repo_id}"))
                return False
            try:
                _save_manifest(self.folder, current, self.manifest)
            except OSError:  # the folder went (a workspace cleared): the next sync, if any, pushes again
                pass
            self._failures, self._retry_at, self.commits = 0, 0.0, self.commits + 1
            self.last_synced, self.waits_until = time.time(), None
            if batched:
                self._batched_at = self.last_synced
            self.state, self.message = "synced", f"Synced to {self.repo_id}."
            return True


_registry: dict[tuple[Path, str], WorkspaceSync] = {}
_registry_lock = threading.Lock()


def start(folder: Path, repo_id: str, token: str, prefix: str = "", cls: type[WorkspaceSync] = WorkspaceSync,
          restore_first: bool = False, held: WorkspaceFullError | None = None,
          restored: Restored | None = None) -> WorkspaceSync:
    """The one sync of ``folder`` of its kind (``cls.kind``) in this process (a new one when the repo, the
    path in it or the token changed). ``held``: the restore just tried stopped for want of room; the sync restores
    the rest first (retried as a failure is, and at once on ``retry_now``), then commits. ``restored``: what the
    restore just done said (what can never come back, shown with the sync's state)."""
    key = (Path(folder).resolve(), cls.kind)
    with _registry_lock:
        sync = _registry.get(key)
        if sync is None or not sync.same(repo_id, token, prefix) or (held is not None and sync.prepared):
            if sync is not None:
                sync.stop()
            sync = _registry[key] = cls(key[0], repo_id, token, prefix=prefix,
                                        restore_first=restore_first or held is not None)
            if held is not None:
                sync._failed(held_by_room(held, sync.where))
        if held is not None or restored is not None:
            sync.noted(getattr(held, "too_big", None) if held is not None else restored.too_big)
    sync.poke()
    return sync


def forget(running: WorkspaceSync) -> None:
    """``running`` is no longer the sync of its folder (its token was forgotten): pages no longer show it."""
    with _registry_lock:
        key = (running.folder, running.kind)
        if _registry.get(key) is running:
            del _registry[key]


def current(folder: Path, kind: str = "account") -> WorkspaceSync | None:
    return _registry.get((Path(folder).resolve(), kind))
