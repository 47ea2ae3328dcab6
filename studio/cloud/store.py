"""The deployment's own store for its signed-in visitors' workspaces: one private dataset repo of the
deployer's, written with a token kept for it alone (the secret ``[studio.store]``)::

    [studio.store]
    repo = "your-org/slm-studio-visitors"   # a private dataset repo, created when missing
    token = "hf_..."                         # write access to that repo; used for nothing else

Each signed-in visitor's workspace (``visitors/u-<hash of issuer and subject>/`` on this server) is kept
under the same path in the repo, ``visitors/u-<hash>/``: the path comes from the sign-in, never from
anything a visitor types, and a visitor's sync lists, downloads and commits only under their own path. So
no visitor reaches another's files through the app; the deployer (who owns the repo) can read them all.

The store is the deployment's storage, not a write to the Hub on a visitor's behalf: its token never
serves a visitor's push, repo creation or download (those still need the visitor's own token), and a
visitor who gives their own token keeps their workspace in their own repo as well (``studio.cloud.sync``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from studio.cloud import hub_repo, sync
from studio.errors import StudioError

MARKER = "slm-studio-store.json"  # what makes a repo this studio's visitor store (nothing else is written to)
MARKER_BODY = {"studio": "SLM Studio", "kind": "visitor-store", "format": 1}
ROOT = "visitors"  # the folder of the repo that holds one folder per signed-in visitor


class StoreError(StudioError):
    """The deployment's store cannot be used (its setting, token or repo): the visitor's local files stand."""


class StoreGoneError(StoreError):
    """The store repo is not on the Hub any more: the next try makes it again and puts the workspace back in it."""


class StoreRefusedError(StoreError, sync.TokenRefusedError):
    """The Hub refused the store's token (401): nothing helps until the app's owner changes the secret."""


class StoreForbiddenError(StoreError, sync.TokenForbiddenError):
    """The Hub knows the store's token but it may not write to the store (403): the app's owner gives it access."""


@dataclass(frozen=True)
class StoreConfig:
    repo: str  # "owner/name" of a private dataset repo of the deployment
    token: str = field(repr=False)  # write access to that repo only

    @classmethod
    def from_settings(cls, settings: Mapping | None) -> StoreConfig | None:
        """The ``[studio.store]`` secret, or None where the deployer configured none."""
        if not settings:
            return None
        repo, token = str(settings.get("repo") or "").strip(), str(settings.get("token") or "").strip()
        owner, _, name = repo.partition("/")
        try:
            sync.check_repo_name(owner)
            sync.check_repo_name(name)
        except StudioError:
            owner = ""
        if not owner or not name or "/" in name:
            raise StoreError("This app's workspace store is not set up: [studio.store] repo must be 'owner/name' "
                             "(the app's owner fixes it in the secrets); your workspace is kept only until a restart.")
        if not token:
            raise StoreError("This app's workspace store is not set up: [studio.store] has no token (the app's owner "
                             "fixes it in the secrets); your workspace is kept only until a restart.")
        return cls(repo, token)


def prefix_for(folder: Path) -> str:
    """Where a signed-in visitor's workspace lies in the store: their folder's name (a hash of the sign-in)."""
    name = Path(folder).name
    if not name.startswith("u-"):
        raise ValueError(f"only a signed-in visitor's workspace is kept in the store, not {name}")
    return f"{ROOT}/{name}/"


def _explain(exc: Exception, repo: str, what: str) -> StudioError:
    from huggingface_hub.errors import RepositoryNotFoundError

    if isinstance(exc, StudioError):
        return exc
    if hub_repo.status(exc) == 404 and isinstance(exc, RepositoryNotFoundError):  # not the visitor's repo: they cannot
        # name another
        return StoreGoneError(f"This app's workspace store ({repo}) is not on the Hub any more: your work is kept here, "
                              "and the next try makes it again and puts your workspace back in it.")
    if refused := hub_repo.refusal(exc):  # retried every minute for ever, none came back by itself: tried again only when
        # the secret changes (a new token is a new sync) or the visitor presses Try again now (``WorkspaceSync._failed``)
        why, cls = (("refused its token", StoreRefusedError) if refused == "token" else
                    ("token may not write to it", StoreForbiddenError))
        return cls(f"This app's workspace store ({repo}) {why}: your work is kept here. Tell the app's owner to give "
                   f"a token with write access to {repo} in the [studio.store] secret.")
    return sync._explain(exc, what)


_opened: set[tuple[str, str]] = set()  # (repo, token's fingerprint) checked (or created) by this process
_open_lock = threading.Lock()


def _checked(repo: str, token: str) -> tuple[str, str]:
    """What is kept of a store checked: its repo and a fingerprint of the token (the owner's new token is checked
    again; the token itself is kept nowhere)."""
    return repo, hashlib.sha256(f"store\x00{token}".encode()).hexdigest()[:32]


def open_store(config: StoreConfig) -> None:
    """Check the store once per process and token: a private repo holding the store's marker, created (private) when
    missing. A repo of that name that is public, or that holds something else, is refused and left untouched."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    with _open_lock:
        if _checked(config.repo, config.token) in _opened:
            return
        api = HfApi(token=config.token)
        try:
            try:
                info = api.repo_info(config.repo, repo_type="dataset")
            except RepositoryNotFoundError:
                info = None
            if info is None:
                api.create_repo(config.repo, repo_type="dataset", private=True, exist_ok=False)
                body = (json.dumps(MARKER_BODY, indent=1) + "\n").encode()
                api.create_commit(config.repo, [CommitOperationAdd(MARKER, body)], repo_type="dataset",
                                  commit_message="SLM Studio: visitor workspace store")
            elif not info.private:
                raise StoreError(f"This app's workspace store ({config.repo}) is public, so it is not used: the app's "
                                 "owner must make it private. Your work is kept here until a restart.")
            elif MARKER not in {s.rfilename for s in info.siblings or []}:
                raise StoreError(f"{config.repo} is not an SLM Studio workspace store, so nothing is written to it: the "
                                 "app's owner must name another repo in [studio.store]. Your work is kept here.")
        except Exception as exc:
            raise _explain(exc, config.repo, f"open the store {config.repo}") from None
        _opened.add(_checked(config.repo, config.token))


class StoreSync(sync.WorkspaceSync):
    """A signed-in visitor's workspace kept under their path in the store; restored before its first commit."""

    kind = "store"
    where = "this app's store"

    def prepare(self) -> None:
        open_store(StoreConfig(self.repo_id, self._token))
        self.noted(self.restored(sync.restore(self._token, self.repo_id, self.folder, self.prefix, self.manifest,
                                              explain=self.explain, progress=self.progress)))

    def explain(self, exc: Exception, what: str) -> StudioError:
        return _explain(exc, self.repo_id, what)

    def repo_gone(self, err: StudioError) -> bool:
        return isinstance(err, StoreGoneError)

    def reopen(self) -> None:
        """Make the store again (the first visitor's sync to find it gone does; the others find it made)."""
        with _open_lock:
            _opened.difference_update({k for k in _opened if k[0] == self.repo_id})  # whichever token checked it
        open_store(StoreConfig(self.repo_id, self._token))


def keep(folder: Path, config: StoreConfig) -> StoreSync:
    """The store sync of a signed-in visitor's ``folder`` (started once per process; restores first)."""
    return sync.start(folder, config.repo, config.token, prefix=prefix_for(folder), cls=StoreSync,
                      restore_first=True)
