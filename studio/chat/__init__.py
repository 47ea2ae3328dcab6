"""Chat: one small interface over local models and API models.

A backend streams an answer as text pieces::

    backend = make_backend(BackendSpec(kind="openai", model="m", base_url="http://127.0.0.1:8000/v1"))
    for piece in backend.stream(messages, ChatParams()):
        print(piece, end="")

``make_backend`` imports torch/transformers only for ``kind="local"``; the API kinds need
``huggingface_hub`` alone, so an API-only deployment (Community Cloud) never loads torch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from studio.chat.base import (
    BACKEND_KINDS,
    BACKEND_LABELS,
    DEFAULT_LOCAL_MODEL,
    DEFAULT_PRESET,
    EMPTY_ANSWER,
    ROLES,
    SYSTEM_PRESETS,
    BackendBase,
    BackendSpec,
    ChatBackend,
    ChatParams,
    Credentials,
    Message,
    StreamStats,
    TooSlowError,
    blank,
    build_messages,
    complete,
    cut_note,
    history_note,
    short_label,
    system_too_long,
    validate_messages,
)
from studio.chat.session import (
    CUT_SHORT,
    CUT_SHORT_NOTE,
    STOPPED_EARLY,
    STOPPED_LOADING,
    UNANSWERED,
    StreamJob,
    cut_short_turn,
    export_json,
    export_markdown,
    history_for,
    stop_when_gone,
    stopped_early,
)
from studio.errors import HubUnreachableError

__all__ = [
    "BACKEND_KINDS", "BACKEND_LABELS", "CUT_SHORT", "CUT_SHORT_NOTE", "STOPPED_EARLY", "STOPPED_LOADING", "EMPTY_ANSWER", "DEFAULT_LOCAL_MODEL", "DEFAULT_PRESET", "ROLES", "SYSTEM_PRESETS", "UNANSWERED",
    "BackendBase", "BackendSpec", "ChatBackend", "ChatParams", "Credentials", "Message", "StreamJob", "StreamStats", "TooSlowError",
    "OFFLINE_REMEDY", "blank", "build_messages", "complete", "cut_note", "cut_short_turn", "export_json", "export_markdown", "history_for", "history_note", "stopped_early", "make_backend",
    "offline_remedy", "served_names", "short_label", "stop_when_gone", "system_too_long", "validate_messages",
]

# What answers in Chat without a network: what loads here (as studio.models.loading.OFFLINE_REMEDY says,
# Train adding scratch) and, Chat's own, the runs its picker lists and the API models.
OFFLINE_REMEDY = ("the bundled SmolLM2-135M-Instruct, a model from the library or a training run, a local model "
                  "folder or an API model")


def offline_remedy() -> contextlib.AbstractContextManager[None]:
    """A local model that cannot be downloaded (no network, not cached) says what Chat can answer with instead."""
    return HubUnreachableError.remedied(OFFLINE_REMEDY)


def served_names(base_url: str, api_key: str | None = None) -> list[str]:
    """The model names the OpenAI-compatible server at ``base_url`` serves (``studio.chat.served.served_names``)."""
    from studio.chat.served import served_names as names

    return names(base_url, api_key)


def make_backend(spec: BackendSpec, token: str | None = None, *,
                 loader: Callable[[BackendSpec], Any] | None = None) -> ChatBackend:
    """The backend for ``spec``. ``token`` is the HF token (provider) or API key (openai); never stored on disk.

    ``loader`` (local only) turns the spec into a ``studio.models.loading.LoadedModel``; the UI passes its cached
    loader so a model is loaded once per process. Heavy packages are imported only in the branch used.
    """
    if spec.kind == "local":
        from studio.chat.local import LocalBackend, load_for_chat

        with offline_remedy():
            loaded = loader(spec) if loader is not None else load_for_chat(spec, token)
        return LocalBackend(loaded, fast_decoding=spec.fast_decoding)
    from studio.chat.api import ApiBackend

    return ApiBackend(spec, token)
