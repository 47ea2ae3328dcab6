"""The studio's errors. Each message is one line that says what went wrong and what to do.

Pages show ``st.error(str(e))``; the CLI prints ``error: <message>`` and exits 2. Anything that
is not a ``StudioError`` is a bug.
"""

from __future__ import annotations


class StudioError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


class DatasetFormatError(StudioError):
    """A file or value that cannot be read as a Q&A dataset."""


class DatasetValidationError(StudioError):
    """Records that parse but break the dataset's rules (missing fields, empty text, ...)."""


class DatasetNotFoundError(StudioError):
    """No dataset or version of that name in the workspace."""


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


class BackendError(StudioError):
    """A chat or generation backend failed (bad token, model not served, timeout, bad response)."""


class JobBusyError(StudioError):
    """Another job already holds the device."""


class TrainingError(StudioError):
    """Training could not start or failed."""


class CancelledError(StudioError):
    """Work stopped because the user asked for it."""
