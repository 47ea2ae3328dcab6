"""One place that resolves the workspace's paths and the Hugging Face token."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from studio.errors import disk_error

DEFAULT_HOME = Path.home() / "slm-studio"
"""The workspace when ``STUDIO_HOME`` is not set."""

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATASET = REPO_ROOT / "data" / "soccer_rules.json"
"""The embedded sample: English Q&A pairs on the laws of soccer, with a few planted near-duplicates."""


def home() -> Path:
    """The workspace directory (``STUDIO_HOME``, else ``~/slm-studio``), created on first use."""
    return _ensure_dir(Path(os.environ.get("STUDIO_HOME") or DEFAULT_HOME).expanduser())


def _sub(name: str) -> Path:
    return _ensure_dir(home() / name)


def _ensure_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err = disk_error(exc, path)
        if err is None:
            raise
        raise err from None
    return path


def datasets_dir() -> Path:
    return _sub("datasets")


def runs_dir() -> Path:
    return _sub("runs")


def evals_dir() -> Path:
    return _sub("evals")


def jobs_dir() -> Path:
    return _sub("jobs")


def models_dir() -> Path:
    """The model library's own models (imported GGUF files, the bundled model): one folder each."""
    return _sub("models")


def hf_token(secrets: Mapping[str, object] | None = None, session_value: str | None = None) -> str | None:
    """The Hugging Face token: a value typed in this session, then secrets, then the environment.

    The token is only ever passed along as an argument; nothing in the studio writes it anywhere.
    """
    if session_value and session_value.strip():
        return session_value.strip()
    if secrets is not None:
        try:
            value = secrets.get("HF_TOKEN")
        except Exception:  # st.secrets raises when no secrets file exists at all
            value = None
        if isinstance(value, str) and value.strip():
            return value.strip()
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = os.environ.get(var)
        if value and value.strip():
            return value.strip()
    return None
