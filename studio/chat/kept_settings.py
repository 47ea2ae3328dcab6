"""The Chat page's generation settings kept in the workspace (``chat/settings.json``), beside its conversation.

A reloaded tab, a new one or a restarted studio brings the conversation back (``studio.chat.saved``); it brings
back the settings it was being had with too: max new tokens, temperature, sampling, top-p, repetition penalty,
timeout, the system prompt (its preset and text, and the one a training run's "As trained" stood in for), the page's
mode (conversation or a question over a passage), compare mode and the models picked last (each slot's ``BackendSpec``: conversation mode's ``a`` and ``b``, passage mode's
``passage.a`` and ``passage.b``), which a new session picks where its conversation does not say otherwise. No key
or token is kept: a spec holds none, and the system prompts and a spec's text are written with any secret in them as
``***``, as the conversation is. A file that cannot be read, or a value out of its bounds (a hand edit, an older
studio's), is left out: the page's default stands for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from studio import atomic, config
from studio.chat.base import BackendSpec, ChatParams, system_too_long
from studio.errors import StudioError
from studio.models.extractive import MAX_PASSAGE_CHARS

FILE = "settings.json"
SLOTS = ("a", "b", "passage.a", "passage.b")
"""The model slots kept: conversation mode's two and passage mode's two."""
SAMPLING = ("max_new_tokens", "temperature", "do_sample", "top_p", "repetition_penalty", "timeout_s")
"""The ``ChatParams`` fields the page sets and keeps; each is checked by ``ChatParams`` on the way in."""


def path() -> Path:
    """Where this workspace keeps its Chat settings."""
    return config.home() / "chat" / FILE


def load() -> dict[str, Any]:
    """The kept settings: ``SAMPLING`` fields that ``ChatParams`` accepts, and ``preset`` / ``system`` strings."""
    try:
        raw = json.loads(path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    out: dict[str, Any] = {}
    for name in SAMPLING:
        value = raw.get(name)
        if value is None or isinstance(value, bool) != isinstance(getattr(ChatParams, name), bool):
            continue
        try:  # one field at a time: a bad one leaves out itself only
            ChatParams(**{name: value, **({"total_timeout_s": max(600.0, value)} if name == "timeout_s" else {})})
        except (StudioError, TypeError, ValueError):
            continue
        out[name] = value
    for name in ("preset", "system"):
        if isinstance(raw.get(name), str) and not system_too_long(raw[name]):
            out[name] = raw[name]
    before = raw.get("before")
    if isinstance(before, list) and len(before) == 2 and all(isinstance(v, str) for v in before):
        out["before"] = list(before)
    if isinstance(raw.get("compare"), bool):
        out["compare"] = raw["compare"]
    if isinstance(raw.get("mode"), str):  # the page checks it is one of its modes
        out["mode"] = raw["mode"]
    models = raw.get("models") if isinstance(raw.get("models"), dict) else {}
    kept_models, refused = {}, {}
    for slot in SLOTS:
        try:
            spec = _spec(models.get(slot))
        except StudioError as exc:  # a name or URL a spec now refuses (a control character, past its cap): said
            refused[slot] = str(exc)
            continue
        if spec is not None:
            kept_models[slot] = spec
    if kept_models:
        out["models"] = kept_models
    chosen = raw.get("chosen")
    if isinstance(chosen, list):
        out["chosen"] = [slot for slot in SLOTS if slot in chosen]
    if refused:
        out["refused"] = refused
    return out


DRAFT_FIELDS = ("kind", "model", "base_url", "provider")
"""A model being picked (``draft``): its backend and the text typed so far, before it makes a ``BackendSpec`` (an
OpenAI-compatible server whose model name is not typed yet)."""


def _spec(data: Any) -> dict[str, Any] | None:
    """A kept model's spec fields where they make a ``BackendSpec``, or a draft's (``DRAFT_FIELDS``, text); else None.
    Raises ``StudioError`` (its one line) for a spec whose model name or URL ``BackendSpec`` refuses: a person picked
    it and is told why it is not picked again."""
    if not isinstance(data, dict):
        return None
    if data.get("draft") is True:
        if data.get("kind") not in ("local", "provider", "openai") or not all(
                isinstance(data.get(k, ""), str) for k in DRAFT_FIELDS):
            return None
        fields = {k: data.get(k, "") for k in DRAFT_FIELDS}
        return None if _draft_too_long(fields) else {"draft": True, **fields}
    try:
        return _fields(BackendSpec.from_dict(data))
    except (TypeError, ValueError):
        return None


def _draft_too_long(fields: dict[str, str]) -> bool:
    """Whether a draft's text is past what a spec takes (``BackendSpec``'s caps, a local spec's ``parse_spec``'s)."""
    from studio.chat.base import MAX_NAME_CHARS, MAX_URL_CHARS
    from studio.models.spec import spec_too_long

    model = fields.get("model") or ""
    return (len(fields.get("provider") or "") > MAX_NAME_CHARS or len(fields.get("base_url") or "") > MAX_URL_CHARS
            or (spec_too_long(model.strip()) if fields.get("kind") == "local" else len(model.strip()) > MAX_NAME_CHARS))


def draft(fields: dict[str, str], secrets: Iterable[str | None] = ()) -> dict[str, Any] | None:
    """A model being picked, as kept (its text with secrets as ``***``): ``save`` takes it in place of a spec. None
    where its text is past what a spec takes (a paste the page refuses in one line): ``save`` then keeps the slot's
    model kept before, so a reload brings back the last model that could be asked, not megabytes of a paste (the box
    keeps what was typed for the session)."""
    from studio.chat import saved

    typed = {k: str(fields.get(k) or "") for k in DRAFT_FIELDS}
    return None if _draft_too_long(typed) else {"draft": True, **{k: saved.scrub(v, secrets) for k, v in typed.items()}}


def _fields(spec: BackendSpec, secrets: Iterable[str | None] = ()) -> dict[str, Any]:
    """``spec``'s fields as kept: text (secrets as ``***``), a flag, none."""
    from studio.chat import saved

    return {k: saved.scrub(v, secrets) if isinstance(v, str) else v for k, v in spec.to_dict().items()
            if v is None or isinstance(v, (str, bool))}


def save(params: ChatParams, preset: str, system: str, secrets: Iterable[str | None] = (), *,
         before: tuple[str, str] | None = None, compare: bool | None = None,
         models: dict[str, BackendSpec | dict[str, Any] | None] | None = None, mode: str | None = None,
         chosen: Iterable[str] | None = None) -> None:
    """Keep ``params``' page settings, the system prompt and ``before`` (the one a training run's "As trained" stood
    in for), their secrets as ``***``; ``compare``, ``mode`` and the ``models`` given by slot (``SLOTS``) where not None, the
    other slots' as kept before (a mode's models stay kept while the other mode is shown); a slot's ``draft`` (a model
    being picked) in place of its spec. ``chosen``: of the slots in ``models``, those a person picked by hand (not
    a default the page put there), the other slots' as kept before. Unchanged settings are not rewritten."""
    from studio.chat import saved

    secrets = list(secrets)
    kept = load()
    values: dict[str, Any] = {name: getattr(params, name) for name in SAMPLING}
    if not system_too_long(system):  # one past the bound is not kept: the one kept before (or the default) comes back
        values.update(preset=preset, system=saved.scrub(system, secrets))
    elif "system" in kept:
        values.update(preset=kept.get("preset", ""), system=kept["system"])
    if before is not None:
        values["before"] = [before[0], saved.scrub(before[1], secrets)]
    if compare is not None or "compare" in kept:
        values["compare"] = kept.get("compare", False) if compare is None else compare
    if mode is not None or "mode" in kept:
        values["mode"] = kept.get("mode") if mode is None else mode
    picked = dict(kept.get("models", {}))
    picked.update({slot: spec if isinstance(spec, dict) else _fields(spec, secrets)
                   for slot, spec in (models or {}).items() if slot in SLOTS and spec is not None})
    if picked:
        values["models"] = picked
    if chosen is not None or "chosen" in kept:
        shown = set(models or {})
        hand = {slot for slot in kept.get("chosen", []) if slot not in shown} | set(chosen or ())
        values["chosen"] = [slot for slot in SLOTS if slot in hand]
    if kept == values:
        return
    atomic.write_json(path(), values)


PASSAGE_FILE = "passage.json"
"""Passage mode's passage and question, kept apart from ``FILE``: a passage may be a few MB, read at each load of the
settings and (on a public app) committed at each change of them."""


def passage_path() -> Path:
    """Where this workspace keeps passage mode's passage and question."""
    return config.home() / "chat" / PASSAGE_FILE


def _bounded(value: Any) -> str:
    """``value`` where it is text a passage or a question may be (``MAX_PASSAGE_CHARS`` at most); else ""."""
    return value if isinstance(value, str) and len(value) <= MAX_PASSAGE_CHARS else ""


def load_passage() -> tuple[str, str]:
    """The passage and question kept (each "" where none is, or where it is past the bound a passage has)."""
    try:
        if passage_path().stat().st_size > 2 * 4 * MAX_PASSAGE_CHARS + 4096:  # two texts of 4-byte characters at most
            return "", ""
        raw = json.loads(passage_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "", ""
    if not isinstance(raw, dict):
        return "", ""
    return _bounded(raw.get("passage")), _bounded(raw.get("question"))


def save_passage(passage: str, question: str, secrets: Iterable[str | None] = ()) -> None:
    """Keep the passage and question, their secrets as ``***``; one past the bound a passage has (``ask`` refuses it)
    is kept as "" (a cut one would come back as if whole)."""
    from studio.chat import saved

    secrets = list(secrets)
    atomic.write_json(passage_path(), {"passage": saved.scrub(_bounded(passage), secrets),
                                       "question": saved.scrub(_bounded(question), secrets)}, indent=None)
