"""What a failed Hub request means, in one line: offline, a refused token, a repository, revision, file or split
that is not there, another HTTP status, no network, a dropped upload. Never the token.

Pushes (``hub.push_to_hub``, a run's push) and the Hub import (``hf_sources``) share it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from studio.errors import MissingTokenError, NetworkError, StudioError


@contextlib.contextmanager
def hub_errors(repo_id: str) -> Iterator[None]:
    """Hub failures as one-line errors (offline, refused token, a missing repository, revision or file, HTTP status,
    no network), never the token."""
    from huggingface_hub import constants
    from huggingface_hub.errors import OfflineModeIsEnabled

    offline = NetworkError("The Hub is switched off here (HF_HUB_OFFLINE=1): unset it to push, or export a file instead.")
    if constants.HF_HUB_OFFLINE:
        raise offline
    try:
        yield
    except OfflineModeIsEnabled:
        raise offline from None
    except StudioError:
        raise
    except Exception as exc:
        reason = missing(exc, repo_id) or _failure(exc, repo_id)
        if reason is None:
            raise
        raise reason from None


def missing(exc: BaseException, repo_id: str) -> StudioError | None:
    """The one line for a failure that says something is not there, the Hub being reachable: the repository (or a
    private one this token cannot see), a revision, a file of the repository, a split, a local file; else None.
    ``huggingface_hub`` and ``datasets`` raise most of these as ``FileNotFoundError``/``OSError`` too, which are no
    sign of a network failure."""
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = _request_parts(exc)
    if isinstance(exc, GatedRepoError):
        return MissingTokenError(f"{repo_id} is gated on the Hub: ask for access on its page, then use a token that "
                                 "was granted it.")
    if isinstance(exc, RepositoryNotFoundError) or type(exc).__name__ == "DatasetNotFoundError":
        return StudioError(f"No repository {repo_id} on the Hub, or it is private and the token cannot see it: check "
                           "the name, or use a token with access to it.")
    if isinstance(exc, RevisionNotFoundError):
        rev = f" {where['rev']!r}" if where.get("rev") else ""
        return StudioError(f"{repo_id} has no revision{rev} on the Hub (no such branch, tag or commit): check it, or "
                           "leave it out for the main branch.")
    if isinstance(exc, RemoteEntryNotFoundError):
        name = f" {where['file']}" if where.get("file") else " it asked for"
        at = f" at revision {where['rev']}" if where.get("rev") and where["rev"] != "main" else ""
        return StudioError(f"{repo_id} has no file{name}{at} on the Hub: check the file name.")
    if type(exc).__name__ == "DataFilesNotFoundError":
        return StudioError(f"{repo_id} holds no data files for this (its files are not a dataset the reader knows): "
                           "check the repository's files.")
    split = _UNKNOWN_SPLIT.search(str(exc)) if isinstance(exc, ValueError) else None
    if split:
        known = split["known"].replace("'", "")
        return StudioError(f"{repo_id} has no split {split['split']!r} (splits: {known}): choose one of those.")
    if isinstance(exc, FileNotFoundError) and not isinstance(exc, LocalEntryNotFoundError) and exc.filename:
        # A file on this machine (a run's model folder removed while it was pushed); not the Hub's cache missing a
        # file while offline (LocalEntryNotFoundError), which is a network failure.
        return StudioError(f"No file {exc.filename} on this machine: it was moved or deleted; check it is there.")
    return None


_UNKNOWN_SPLIT = re.compile(r'Unknown split "(?P<split>[^"]+)"\. Should be one of \[(?P<known>[^\]]*)\]')
_RESOLVE = re.compile(r"/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_API = re.compile(r"/api/(?:models|datasets|spaces)/[^/]+/[^/]+/(?:revision|tree|paths-info|preupload|commit)/"
                  r"(?P<rev>[^/]+)(?:/(?P<file>.+))?$")


def _request_parts(exc: BaseException) -> dict[str, str]:
    """The revision and file a failed request named in its URL ({} when there was no request)."""
    from urllib.parse import unquote, urlsplit

    response = getattr(exc, "response", None)
    url = getattr(response, "url", None)
    if url is None:
        return {}
    path = urlsplit(str(url)).path
    m = _RESOLVE.search(path) or _API.search(path)
    return {k: unquote(v) for k, v in m.groupdict().items() if v} if m else {}


def _failure(exc: BaseException, repo_id: str) -> StudioError | None:
    """The one line for a refused token, another HTTP status, an unreachable Hub or a dropped upload; else None."""
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(exc, HfHubHTTPError):
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            return MissingTokenError(f"The Hub refused the token (HTTP {status}): use a token with write access to "
                                     f"{repo_id}.")
        return NetworkError(f"The Hub answered HTTP {status or '?'} for {repo_id}: try again later.")
    if isinstance(exc, (OSError, ConnectionError)) or _is_transport_error(exc):
        # httpx/requests transport errors do not share a base class with OSError
        return NetworkError("Cannot reach the Hugging Face Hub (no answer came): check the connection and try again.")
    dropped = _transport_cause(exc)  # huggingface_hub wraps a failed LFS upload in a RuntimeError
    if dropped is not None:
        return NetworkError(f"The connection to the Hub dropped while uploading to {repo_id}: nothing was committed; "
                            "check the connection and push again.")
    return None


def _is_transport_error(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    modules = {cls.__module__.split(".")[0] for cls in type(exc).__mro__}
    return bool(names & {"TransportError", "ConnectError", "TimeoutException", "RequestException"}) or bool(
        modules & {"httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3"}
    )


def _transport_cause(exc: BaseException) -> BaseException | None:
    """The network error behind ``exc`` (its cause or context, a few levels down), if there is one."""
    seen: set[int] = set()
    cur = exc.__cause__ or exc.__context__
    while cur is not None and id(cur) not in seen:
        if _is_transport_error(cur) or isinstance(cur, (ConnectionError, TimeoutError)):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None
