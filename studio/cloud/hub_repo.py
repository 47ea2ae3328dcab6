"""The visitor's workspace repo on the Hub: whom a token belongs to, and opening (or creating) the private dataset
repo that keeps their workspace, refusing one that holds something else. Every failure is one line that says what to
do (``_explain``); the sync that keeps the repo up to date is ``studio.cloud.sync``."""

from __future__ import annotations

import json
from dataclasses import dataclass

from studio.errors import NetworkError, StudioError

REPO_NAME = "slm-studio-workspace"  # the default repo, on the visitor's own account
MARKER = "slm-studio-workspace.json"  # what makes a repo a studio workspace (nothing else is written to)
MARKER_BODY = {"studio": "SLM Studio", "kind": "workspace", "format": 1}


class SyncError(StudioError):
    """The workspace cannot be synced with the Hub (token, repo or network): the local files are untouched."""


class TokenRefusedError(SyncError):
    """The Hub refused the token itself (wrong, expired or revoked): nothing the token would do works."""


class TokenForbiddenError(SyncError):
    """The Hub knows the token but it may not do this (403): no write access, or access to the repo was taken away."""


class RepoGoneError(SyncError):
    """The workspace repo is not on the Hub any more (deleted or renamed): trying again at once cannot help."""


@dataclass(frozen=True)
class Account:
    name: str  # the Hub user name, owner of the workspace repo
    id: str  # stable across renames where the Hub says it; else the name
    can_write: bool


_RETRIED_ON_CLICK = "connecting is tried again at your next click; until then sync is off"


def status(exc: Exception) -> int | None:
    """The HTTP status the Hub answered a failed call with; None where no answer came (the network)."""
    from huggingface_hub.errors import HfHubHTTPError

    return exc.response.status_code if isinstance(exc, HfHubHTTPError) and exc.response is not None else None


def refusal(exc: Exception) -> str | None:
    """How the Hub refused a token, where it did: "token" (401: the token itself, wrong, expired or revoked) or
    "access" (403: a token it knows, not allowed this); None for any other failure. The one reading of both for the
    visitor's token (``_explain``) and the store's (``store._explain``)."""
    return {401: "token", 403: "access"}.get(status(exc))


def _explain(exc: Exception, what: str, retried: str = "sync is retried") -> StudioError:
    """One line for a failed Hub call: ``what`` was being done; ``retried`` says what happens next on a network
    failure (a running sync retries by itself; opening a workspace is tried again at the visitor's next click)."""
    from huggingface_hub.errors import RepositoryNotFoundError

    if isinstance(exc, StudioError):
        return exc
    code = status(exc)
    if code is not None:
        refused = refusal(exc)
        if refused == "token":
            return TokenRefusedError("That Hugging Face token was refused (wrong, expired or revoked): copy it again from "
                             "huggingface.co/settings/tokens. Nothing was synced and nothing here changed.")
        if refused == "access":
            return TokenForbiddenError(f"The token may not {what}: give a token with write access to your own repos. "
                             "Nothing was synced and nothing here changed.")
        if code == 404 and isinstance(exc, RepositoryNotFoundError):  # "The Hub refused to restore from X (404)",
            # retried every minute for ever, said neither that the repo was gone nor what to do
            return RepoGoneError(f"Could not {what}: that repo is not on the Hub any more (deleted or renamed). Try "
                                 "again now to make it again with what is here, give another repo name under Your "
                                 "workspace in the sidebar (a new one is made), or Forget the token; what is here "
                                 "stays.")
        if code >= 500 or code == 429:
            return NetworkError(f"The Hub answered {code} while trying to {what}: your work is kept here and "
                                f"{retried}.")
        return SyncError(f"The Hub refused to {what} ({code}).")
    # the exception's class name ("(ConnectError)") told a visitor nothing they could act on
    return NetworkError(f"The Hub cannot be reached to {what} (no answer came: the Hub, or this app's connection to "
                        f"it, is down): your work is kept here and {retried}.")


def identify(token: str) -> Account:
    """Who the token belongs to, and whether it may write; a refused token raises ``SyncError`` in one line."""
    from huggingface_hub import HfApi

    try:
        me = HfApi(token=token).whoami()
    except Exception as exc:
        raise _explain(exc, "check the token", _RETRIED_ON_CLICK) from None
    role = ((me.get("auth") or {}).get("accessToken") or {}).get("role", "write")
    return Account(name=me["name"], id=str(me.get("id") or me["name"]), can_write=role != "read")


def check_repo_name(name: str) -> str:
    name = (name or "").strip()
    if len(name) > 96:  # quoted whole, a name pasted by mistake filled the sidebar
        raise SyncError(f"{name[:30]!r}… is too long for a repo name: use at most 96 letters, digits, '-', '_' or '.'.")
    if not name or "/" in name or name.startswith(".") or len(name) > 96 or not all(
            c.isalnum() or c in "-_." for c in name):
        raise SyncError(f"{name!r} is not a repo name: use letters, digits, '-', '_' or '.', without your user name.")
    return name


def open_repo(token: str, account: Account, name: str = REPO_NAME) -> str:
    """The visitor's workspace repo (``account/name``, a private dataset), created when missing. A repo of
    that name that is not a studio workspace is refused and left untouched."""
    if not account.can_write:
        raise SyncError("That token can only read: keeping your workspace needs a token with write access "
                        "(huggingface.co/settings/tokens). Nothing was synced and nothing here changed.")
    repo_id = f"{account.name}/{check_repo_name(name)}"
    try:
        ensure_repo(token, repo_id)
    except Exception as exc:
        raise _explain(exc, f"open {repo_id}", _RETRIED_ON_CLICK) from None
    return repo_id


def ensure_repo(token: str, repo_id: str) -> bool:
    """The workspace repo ``repo_id``, created (private, with its marker) where missing: True where it was made now.
    One of that name that is not a studio workspace raises ``SyncError``; any other failure is the Hub's own error
    (the caller says it in one line)."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    api = HfApi(token=token)
    try:
        files = api.list_repo_files(repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        files = None
    if files is not None:
        if MARKER not in files:
            raise SyncError(f"{repo_id} exists and is not an SLM Studio workspace: choose another repo name "
                            "(nothing was written to it).")
        return False
    api.create_repo(repo_id, repo_type="dataset", private=True, exist_ok=False)
    body = (json.dumps(MARKER_BODY, indent=1) + "\n").encode()
    api.create_commit(repo_id, [CommitOperationAdd(MARKER, body)], repo_type="dataset",
                      commit_message="SLM Studio workspace")
    return True
