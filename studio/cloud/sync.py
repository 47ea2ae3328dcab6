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

import os
import threading
import time
from pathlib import Path

from studio import config
from studio.cloud.hub_repo import (  # noqa: F401 -- the workspace repo's side, named here too (sync.identify, ...)
    MARKER,
    MARKER_BODY,
    REPO_NAME,
    Account,
    RepoGoneError,
    SyncError,
    TokenForbiddenError,
    TokenRefusedError,
    _explain,
    check_repo_name,
    ensure_repo,
    identify,
    open_repo,
)
from studio.cloud.restore import Restored, held_by_room, reserve_names, restore, too_big_line  # noqa: F401 -- sync.restore, ...
from studio.cloud.synced import (  # noqa: F401 -- what is synced, named here too (sync.local_files, sync.MANIFEST)
    BATCH_S,
    BATCHED_FILES,
    MANIFEST,
    SYNCED_DIRS,
    SYNCED_FILES,
    _load_manifest,
    _save_manifest,
    _sha,
    _wanted,
    local_files,
)
from studio.errors import StudioError, WorkspaceFullError

INTERVAL_S = 2.0
FULL_LOOK_S = 60.0  # every synced file is looked at (a stat each) at least this often; between, a few stats say
# whether anything changed (measured: 50 visitors of 300 files each cost 9% of a core every 2 s looking at all)
RETRY_S = (5, 10, 20, 40, 60)
GONE_TRIES = 3  # looks of one sync when a file goes while its commit sends it (a dataset deleted meanwhile)
KEEP_ALIVE_S = 30 * 60  # the watcher ends this long after the last page run of its visitor


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
        self.gone = False  # the last failure: the repo is not on the Hub any more (the visitor names another)
        self.refused: str | None = None  # the last failure: the Hub refused the token ("token", 401) or what it may
        # do with the repo ("access", 403) after it was accepted (revoked, access taken away): Home says so
        self._reopen = False  # the repo was found gone: the next try makes it again and pushes the workspace whole
        self.too_big: str | None = None  # the line on what the last restore can never bring back here
        self.restoring: tuple[int, int] | None = None  # (files downloaded, files to download) while a restore runs
        self.brought = 0  # files the restores of this sync wrote here
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

    def repo_gone(self, err: StudioError) -> bool:
        """Whether ``err`` says the repo is not on the Hub any more (the next try makes it again)."""
        return isinstance(err, RepoGoneError)

    def reopen(self) -> None:
        """Make the repo again where it went (a private workspace repo with its marker; kept where it is there)."""
        ensure_repo(self._token, self.repo_id)

    def _reopen_if_gone(self) -> None:
        """After the repo was found gone: make it again, and where it holds nothing of this workspace now, forget what
        was pushed to the one that went, so the next commit puts the whole workspace back (it pushed only what changed
        since, to a repo that holds nothing: a restart then restored only that)."""
        if not self._reopen:
            return
        from huggingface_hub import HfApi

        from studio.cloud.restore import _remote_files

        self.reopen()
        if not any(_wanted(rel) for rel in _remote_files(HfApi(token=self._token), self.repo_id, self.prefix)):
            _save_manifest(self.folder, {}, self.manifest)
            self._hashes.clear()
        self._reopen = False

    def prepare(self) -> None:
        """What must succeed before the first commit: bring the repo's files back (raises ``StudioError``)."""
        self.noted(self.restored(restore(self._token, self.repo_id, self.folder, self.prefix, self.manifest,
                                         progress=self.progress)))

    def restored(self, result: Restored) -> tuple[str, str] | None:
        """Note what a restore brought back (``brought``: the page is drawn again only where it brought something);
        what it can never bring back, for ``noted``."""
        self.brought += result.written
        return result.too_big

    def progress(self, done: int, total: int) -> None:
        """What a running restore has brought back so far, for the sidebar (``restore``'s ``progress``)."""
        self.restoring = (done, total)

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
                self._reopen_if_gone()
                self.prepare()
            except WorkspaceFullError as exc:
                self.restoring = None
                self.noted(getattr(exc, "too_big", None))
                self._failed(held_by_room(exc, self.where))
                return False
            except Exception as exc:
                self.restoring = None
                self._failed(self.explain(exc, f"restore from {self.repo_id}"))
                return False
            self._prepared, self._failures, self._retry_at, self.restoring, self.refused = True, 0, 0.0, None, None
            self.state, self.message = "waiting", "Restored; not synced yet."
            return True

    def _failed(self, err: StudioError) -> None:
        self.held_by_room = isinstance(err, WorkspaceFullError)
        self.gone = isinstance(err, RepoGoneError)
        self._reopen = self._reopen or self.repo_gone(err)
        self.refused = ("token" if isinstance(err, TokenRefusedError) else
                        "access" if isinstance(err, TokenForbiddenError) else None)
        self._failures += 1
        pause = RETRY_S[min(self._failures, len(RETRY_S)) - 1]
        # a repo gone, a token the Hub refused (revoked) or one it no longer lets write to the repo (access taken
        # away): tried every minute for ever, none came back by itself; tried again only when the visitor asks (Try
        # again now, or the token given again)
        self._retry_at = float("inf") if self.gone or self.refused else time.time() + pause
        # the time to the next try is not in the line: drawn once, "(next try in 10 s)" stayed until the next failure;
        # the sidebar says it from ``next_try_s`` each time it is drawn
        self.state, self.message = "failed", f"{' '.join(str(err).split())}{self.waits_for_visitor()}"

    def waits_for_visitor(self) -> str:
        """What the line on a refused token (or its access to the repo) adds: not tried again until the visitor acts."""
        if not self.refused:
            return ""
        return (" Not tried again until you give the token again or press Try again now." if self.kind == "account"
                else " Not tried again until the app's owner changes the secret or you press Try again now.")

    @property
    def retry_waits_on_visitor(self) -> bool:
        """The last failure is tried again only when the visitor asks (Try again now)."""
        return self.state == "failed" and (self.held_by_room or self.gone or self.refused is not None)

    def next_try_s(self) -> int | None:
        """Whole seconds to the failed sync's next try by itself (0: due now); None where none comes by itself."""
        if self.state != "failed" or self._retry_at == float("inf") or self.held_by_room:
            return None
        return max(0, int(self._retry_at - time.time() + 0.999))

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
            try:
                self.tick()
            except Exception as exc:  # a bug of ours: shown as a failure and retried, not a watcher gone for good
                self._failed(self.explain(exc, f"sync to {self.repo_id}"))
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
        to the conversation alone waits until ``batch_s`` passed since its last commit, unless ``flush``.

        A file deleted while its commit sends it stops that commit (nothing is committed): the folder is looked at
        again at once, as it is then, a few times. Whatever ends a look, the state it leaves is never "syncing"
        (a commit that is not running): the sidebar said *Syncing…* for good where no watcher looked again."""
        with self._lock:
            before = (self.state, self.message)
            try:
                for _ in range(GONE_TRIES):
                    done = self._commit_changes(flush)
                    if done is not None:
                        return done
                # files kept going while they were sent: the next look (a few seconds) commits the folder as it is
                self.state, self.message = "waiting", "Not synced yet: files changed while they were sent."
                return False
            finally:
                if self.state == "syncing":  # ended without a commit (an error of ours): show what was shown before
                    self.state, self.message = before

    def _commit_changes(self, flush: bool) -> bool | None:
        """One look and its commit (``sync_once``, under its lock); None where a file went while it was sent."""
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

        if not self._prepared:
            return False
        try:
            self._reopen_if_gone()
        except Exception as exc:
            self._failed(self.explain(exc, f"sync to {self.repo_id}"))
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
            try:  # from the file, read a MB at a time (hashed now, sent at the commit): never held whole
                op = CommitOperationAdd(self.prefix + rel, str(self.folder / rel))
                ops.append(op)
                current[rel] = op.upload_info.sha256.hex()  # what goes to the repo, were it changed since
            except (OSError, ValueError):  # gone since it was listed (a save replacing it, a workspace moved): not pushed
                del current[rel]
                if rel in pushed:
                    deletes.append(rel)
        ops += [CommitOperationDelete(self.prefix + rel) for rel in deletes]
        try:
            HfApi(token=self._token).create_commit(
                self.repo_id, ops, repo_type="dataset",
                commit_message=f"SLM Studio: {len(adds)} file(s) saved, {len(deletes)} removed")
        except FileNotFoundError:  # a file sent from its path went meanwhile (a dataset deleted): nothing was
            return None  # committed; the next look commits the folder as it is then
        except Exception as exc:
            self._failed(self.explain(exc, f"sync to {self.repo_id}"))
            return False
        try:
            before, after = _save_manifest(self.folder, current, self.manifest)
        except OSError:  # the folder went (a workspace cleared): the next sync, if any, pushes again
            pass
        else:  # the manifest's growth, counted, rewrote the size record: not a save for the next look to look for
            # (each commit was followed by a look at every file); a save during this look changed it before, and stays
            if before != after and self._last_signal is not None and self._last_signal[0] == before:
                self._last_signal = (after, *self._last_signal[1:])
        self._failures, self._retry_at, self.commits, self.refused = 0, 0.0, self.commits + 1, None
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
