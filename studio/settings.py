"""Settings described once: a config dataclass's fields carry their help, bounds and choices in the field
metadata (as TRL's ``SFTConfig`` does), and the checks, the CLI flags and the pages' widget ranges are
all made from it.

    learning_rate: float = setting(3e-5, "Step size of AdamW.", min=1e-6, max=0.5, label="Learning rate", flag="--lr")

``check(cfg, TrainingError)`` in ``__post_init__`` refuses a value outside its bounds or choices in one
line; ``add_flags(parser, TrainConfig)`` adds one flag per field (``--learning-rate`` unless ``flag``
says otherwise; booleans get ``--x/--no-x``); ``overrides(args, TrainConfig)`` reads back the flags given;
``bounds(TrainConfig, "max_length")`` is what a page passes to ``st.number_input``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Iterable
from typing import Any

_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def setting(default: Any, help: str, *, min: float | None = None, max: float | None = None,  # noqa: A002
            choices: Iterable[str] | None = None, label: str | None = None, flag: str | None = None,
            error: str | None = None) -> Any:
    """A dataclass field with its description: ``help`` (one line), inclusive ``min``/``max``, ``choices``,
    the ``label`` pages and messages call it, the CLI ``flag`` when not ``--field-name``, and the ``error``
    shown when out of range (``{value}`` is the value; default: "<label> <value> is out of range: use min to max.";
    ``{unset}`` is how to leave an optional setting unset: "leave it empty" on a page, "leave --flag out" on the
    command line, see ``check``)."""
    meta = {"help": help, "min": min, "max": max, "choices": tuple(choices) if choices is not None else None,
            "label": label, "flag": flag, "error": error}
    return dataclasses.field(default=default, metadata={k: v for k, v in meta.items() if v is not None})


def meta(cls: Any, name: str) -> dict[str, Any]:
    return dict(cls.__dataclass_fields__[name].metadata)


def field_type(cls: Any, name: str) -> type:
    """int, float, str or bool (the annotation, a string under ``from __future__ import annotations``)."""
    t = cls.__dataclass_fields__[name].type
    t = t if isinstance(t, str) else getattr(t, "__name__", "str")
    return _TYPES.get(t.split("|")[0].strip(), str)


def label(cls: Any, name: str) -> str:
    return meta(cls, name).get("label") or name.replace("_", " ").capitalize()


def help_text(cls: Any, name: str) -> str:
    return meta(cls, name).get("help", "")


def bounds(cls: Any, name: str) -> tuple[Any, Any]:
    """``(min, max)`` of a numeric field, in its type (None where unbounded)."""
    m, typ = meta(cls, name), field_type(cls, name)
    return tuple(None if m.get(k) is None else typ(m[k]) for k in ("min", "max"))  # type: ignore[return-value]


def choices(cls: Any, name: str) -> tuple[str, ...] | None:
    return meta(cls, name).get("choices")


def fmt(x: float) -> str:
    """A bound or default as a person writes it: 1048576, not 1.04858e+06; 0.1, not 0.1000."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _declared(cls: Any, name: str) -> type | None:
    """The field's type when it is exactly int, float, str or bool (not optional, not a container), else None."""
    t = cls.__dataclass_fields__[name].type
    return _TYPES.get(t if isinstance(t, str) else getattr(t, "__name__", ""))


def _wrong_type(cls: Any, name: str, value: Any) -> str | None:
    """A value of another kind than the field's (a hand-edited run.json, ``--config-json``): one line."""
    typ, what = _declared(cls, name), label(cls, name)
    if typ is str and not isinstance(value, str):
        return f"{what} must be text, not {value!r}."
    if typ is bool and not isinstance(value, bool):
        return f"{what} must be true or false, not {value!r}."
    # inf (TOML has it) is no whole number to suggest: int(inf) raised OverflowError; it is out of range below
    if typ is int and isinstance(value, float) and math.isfinite(value) and not value.is_integer():
        return f"{what} {value} is not a whole number: use one like {int(value)}."
    return None


def problem(cls: Any, name: str, value: Any, *, command_line: bool = False) -> str | None:
    """Why ``value`` does not fit field ``name`` (one line), or None when it does; ``command_line``: in the words of
    its flag ("leave --sample out"), not of its page's field ("leave it empty")."""
    m = meta(cls, name)
    unset = f"leave {flag(cls, name)} out" if command_line else "leave it empty"
    if value is None and cls.__dataclass_fields__[name].default is None:
        return None  # an optional setting left unset
    wrong = _wrong_type(cls, name, value)
    if wrong:
        return wrong
    if m.get("choices") is not None and value not in m["choices"]:
        return m.get("error", "Unknown {label} {value!r}: choose {choices}.").format(
            label=label(cls, name).lower(), value=value, choices=", ".join(m["choices"]), unset=unset)
    typ = field_type(cls, name)
    if typ in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
        # "abc" or null from --config-json / a hand-edited run.json: not a number, rather than "out of range"
        kind = "a whole number" if typ is int else "a number"
        return f"{label(cls, name)} must be {kind}, not {'null' if value is None else repr(value)}."
    lo, hi = m.get("min"), m.get("max")
    if lo is None and hi is None:
        return None
    # NaN compares false with every bound (float("nan") from a flag, NaN in JSON): refused like any value outside them
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or (
            lo is not None and value < lo) or (hi is not None and value > hi):
        default = "{label} {value} is out of range: use {lo} to {hi}." if hi is not None else \
            "{label} {value} is out of range: use {lo} or more."
        return m.get("error", default).format(label=label(cls, name), value=value, lo=fmt(lo) if lo is not None else "",
                                              hi=fmt(hi) if hi is not None else "", unset=unset)
    return None


def check(cfg: Any, error: type[Exception]) -> None:
    """Raise ``error`` with the first field's one-line problem, if any (fields in declaration order). Its
    ``command_line`` attribute says it in the command line's words, which ``python -m studio`` prints instead."""
    for f in dataclasses.fields(cfg):
        why = problem(type(cfg), f.name, getattr(cfg, f.name))
        if why:
            exc = error(why)
            exc.command_line = problem(type(cfg), f.name, getattr(cfg, f.name), command_line=True)  # type: ignore[attr-defined]
            raise exc


def flag(cls: Any, name: str) -> str:
    return meta(cls, name).get("flag") or "--" + name.replace("_", "-")


def flag_help(cls: Any, name: str) -> str:
    """A field's help for argparse: its range appended, ``%`` escaped (argparse formats help with ``%``)."""
    text = help_text(cls, name)
    lo, hi = bounds(cls, name)
    if lo is not None or hi is not None:
        text += f" [{fmt(lo) if lo is not None else ''}..{fmt(hi) if hi is not None else ''}]"
    return text.replace("%", "%%")


def add_flags(parser: argparse.ArgumentParser | Any, cls: Any, skip: Iterable[str] = ()) -> None:
    """One flag per field of ``cls`` (except ``skip``), default None (the flag was not given), with the
    field's help; ``%`` is escaped, as argparse formats help strings with ``%``."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        typ, m = field_type(cls, f.name), f.metadata
        kwargs: dict[str, Any] = {"dest": f.name, "default": None, "help": flag_help(cls, f.name)}
        if typ is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:  # choices are checked by the config (one line, like every other bad value), not by argparse
            kwargs["type"] = typ
            kwargs["metavar"] = "|".join(m["choices"]) if m.get("choices") else {int: "N", float: "X"}.get(typ, "TEXT")
        parser.add_argument(flag(cls, f.name), **kwargs)


def overrides(args: argparse.Namespace, cls: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The fields whose flags were given on the command line."""
    return {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
            if f.name not in skip and getattr(args, f.name, None) is not None}
