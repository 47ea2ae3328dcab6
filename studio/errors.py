"""The studio's errors. Each message is one line that says what went wrong and what to do.

Pages show ``st.error(str(e))``; the CLI prints ``error: <message>`` and exits 2. Anything that
is not a ``StudioError`` is a bug.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


class StudioError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class DatasetFormatError(StudioError):
    """A file or value that cannot be read as a Q&A dataset."""


class DatasetValidationError(StudioError):
    """Records that parse but break the dataset's rules (missing fields, empty text, ...)."""


class DatasetNotFoundError(StudioError):
    """No dataset or version of that name in the workspace."""


class DatasetReplacedError(DatasetNotFoundError):
    """A save of edits made on a dataset that was deleted since, whose id a new dataset now holds."""


class VersionConflictError(StudioError):
    """A save based on an older version than the latest: someone else saved in between."""

    def __init__(self, message: str, *, base_version: int, latest_version: int):
        super().__init__(message)
        self.base_version = base_version
        self.latest_version = latest_version


class MissingTokenError(StudioError):
    """An operation needs a Hugging Face token and none is configured."""


class NetworkError(StudioError):
    """The network or the remote service cannot be reached."""


class ModelLoadError(StudioError):
    """A model or tokenizer cannot be loaded."""


class HubUnreachableError(ModelLoadError):
    """A Hub model that cannot be downloaded (no network) and is not in the local cache. ``remedy`` names what
    to choose instead; a caller that knows more (the Train page offers scratch) says so with ``instead``."""

    def __init__(self, spec: str, remedy: str):
        super().__init__(f"No network: choose {remedy} ({spec!r} cannot be downloaded from the Hugging Face Hub "
                         "and is not in the local cache).")
        self.spec = spec
        self.remedy = remedy

    def instead(self, remedy: str) -> HubUnreachableError:
        return HubUnreachableError(self.spec, remedy)

    @staticmethod
    @contextlib.contextmanager
    def remedied(remedy: str) -> Iterator[None]:
        """Within it, a model that cannot be downloaded names ``remedy`` as what to choose instead
        (each page knows what it can use: Chat an API model, Train scratch)."""
        try:
            yield
        except HubUnreachableError as exc:
            raise exc.instead(remedy) from None


class ModelSpecError(ModelLoadError):
    """A model spec that names nothing (``run:`` alone, ``qa:api:x``, an unknown ``prefix:``)."""


class BackendError(StudioError):
    """A chat or generation backend failed (bad token, model not served, timeout, bad response)."""


class JobBusyError(StudioError):
    """Another job already holds the device."""


class TrainingError(StudioError):
    """Training could not start or failed."""


class CancelledError(StudioError):
    """Work stopped because the user asked for it."""


class WorkspaceFullError(StudioError):
    """A visitor's workspace on a public deployment is at its size limit (``studio.cloud.workspaces``)."""

    room = "there is no room for it here"  # why, in a few words, for a message of its own (a restore held back)


class DiskError(StudioError, OSError):
    """The workspace's disk is full or read-only. Still an ``OSError`` (with its errno), so code that
    handles file errors keeps doing so; its message is the studio's one line."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


_FULL = {28, 122}  # ENOSPC, EDQUOT
_READ_ONLY = {30, 13, 1}  # EROFS, EACCES, EPERM


def disk_error(exc: BaseException, path: object) -> DiskError | None:
    """``exc`` as a one-line ``DiskError`` when it means a full or read-only disk, else None.

    torch reports a full disk while saving as "unexpected pos" or "file write failed", without errno.
    """
    if isinstance(exc, DiskError):
        return exc
    errno_ = getattr(exc, "errno", None)
    text = str(exc)
    where = str(path)
    if errno_ in _FULL or "No space left on device" in text or "unexpected pos" in text or "file write failed" in text:
        return DiskError(28, f"disk full: could not write {where}; free some space and try again "
                             "(nothing was half-written).")
    if errno_ in _READ_ONLY and isinstance(exc, OSError):
        return DiskError(errno_, f"cannot write {where}: the folder is read-only or not yours ({exc.strerror}); "
                                 "choose a writable one (for the workspace: make STUDIO_HOME writable or point it "
                                 "at another folder).")
    return None


_NOT_A_FOLDER = {17, 20, 40}  # EEXIST, ENOTDIR, ELOOP: from mkdir, where a file or a looping link stands


def not_a_folder(exc: BaseException, path: object) -> DiskError | None:
    """``exc``, from making the folder ``path``, as one line when a file (or a link that loops) stands where a
    folder must be, naming it; else None."""
    if not isinstance(exc, OSError) or getattr(exc, "errno", None) not in _NOT_A_FOLDER:
        return None
    from pathlib import Path

    blocker = Path(str(path))
    for part in (blocker, *blocker.parents):  # the nearest part of the path that exists and is no folder
        if os.path.lexists(part) and not part.is_dir():
            blocker = part
            break
    what = "a link that loops or leads nowhere" if blocker.is_symlink() else "a file"
    return DiskError(exc.errno, f"cannot make the folder {path}: {blocker} is {what}, not a folder; move it away "
                                "or choose another path (for the workspace: point STUDIO_HOME at a folder).")



def in_words(exc: BaseException, limit: int = 200) -> str:
    """``exc``'s own message on one line, cut to ``limit``; "" where it says nothing a person can use (none, or a
    ``KeyError``'s bare key). Never the Python class name, which tells a user nothing they can act on."""
    if isinstance(exc, KeyError):
        return ""
    return " ".join(str(exc).split())[:limit]


def unexpected(what: str, exc: BaseException, limit: int = 200) -> str:
    """One line for a failure the studio did not foresee (a bug): what failed, the error's own words where it has
    any, and what to do."""
    detail = in_words(exc, limit)
    return (f"{what} failed unexpectedly{f' ({detail})' if detail else ''}: try again, and if it happens again, "
            "please report it.")
