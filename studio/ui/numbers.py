"""Free-typed number boxes (Train's settings, Evaluate's form): one rule for what a typed number does.

Streamlit's own box fails a person three ways. With ``min_value``/``max_value`` the browser only reddens a value
outside them and keeps sending the last valid one: the screen said an API timeout of -1 and Start used 60. A number
too large for the browser (1e999, which it sends as Infinity) or an emptied box reaches the page as None, and a box
drawn with a fixed ``value`` put its default back: the person's own 0.1 lost without a word. An int box is also bound
by JavaScript's safe integers (about 9e15): a larger number stayed red in it.

``number_box`` is a float box that may be empty (``value=None``), with no bounds in the browser, filled from session
state. What is typed reaches the page as typed: a value out of range, or a fraction where a whole number is wanted, is
returned with its one line (``refusal``, naming the box by its ``short`` name), for the page to show and to refuse
Start on; an empty or too-large one puts the person's last good value back, said in one line under the box.
"""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

from studio import ui

UNITS = ("steps", "tokens", "words", "s")  # a closing note that is only the box's unit: kept, said after the value


def short(label: str) -> str:
    """A box's name as its one-line refusals say it, the label less a closing note: "Sample size (0 = every question)"
    said "Sample size (0 = every question) -1 is out of range"; now "Sample size -1 is out of range". A note that is
    only a unit stays ("Log every (steps)"): the lines say it after the value ("Log every 0 steps is out of range")."""
    if _unit(label)[1]:
        return label
    return re.sub(r"\s*\(([^()]*)\)$", "", label) or label


def _said(label: str, value: Any) -> str:
    """``"Log every 0 steps"`` for the label "Log every (steps)" (its unit after the value), else ``"Seed -1"``."""
    name, unit = _unit(label)
    number = shown(value)
    if unit and number == "1" and len(unit) > 1:
        unit = unit[:-1]  # 1 step, 1 token
    return f"{name} {number}" + (f" {unit}" if unit else "")


def _unit(label: str) -> tuple[str, str]:
    note = re.search(r"\s*\(([^()]*)\)$", label)
    if note and note.group(1) in UNITS:
        return label[:note.start()], note.group(1)
    return label, ""


def shown(value: Any) -> str:
    """A value as a person reads it: 0.002, not 0.0020000000000000005; 4294967295 in full, not 4.29497e+09."""
    big = isinstance(value, int) and abs(value) >= 10**15  # a float's whole number (1e30 typed): not its 31 digits
    return f"{value:.15g}" if isinstance(value, float) or big else str(value)


def bound(x: Any) -> str:
    """A range's end as a person types it: 0.000001, not 1e-06."""
    return str(int(x)) if float(x).is_integer() else f"{x:f}".rstrip("0")


def out_of_range(label: str, value: float, lo: float | None, hi: float | None) -> str | None:
    """``"Learning rate 50 is out of range: use 0.000001 to 0.5."`` for a value outside ``[lo, hi]``, else None."""
    if value == value and (lo is None or value >= lo) and (hi is None or value <= hi):  # NaN: outside every range
        return None
    if hi is None:
        return f"{_said(label, value)} is out of range: use {bound(lo)} or more."
    if lo is None:
        return f"{_said(label, value)} is out of range: use {bound(hi)} or less."
    if lo == hi:  # one page of one: "use 1 to 1" read as a slip
        return f"{_said(label, value)} is out of range: use {bound(lo)}."
    return f"{_said(label, value)} is out of range: use {bound(lo)} to {bound(hi)}."


def not_whole(label: str, value: Any) -> str | None:
    """``"Batch size 2.5 is not a whole number: use a whole number."`` for a fractional value, else None."""
    if isinstance(value, float) and value == value and not value.is_integer():
        return f"{_said(label, value)} is not a whole number: use a whole number."
    return None


def refusal(label: str, value: Any, lo: float | None = None, hi: float | None = None, whole: bool = False) -> str | None:
    """Why ``value`` cannot be used, in one line (out of range first: one line a box), or None when it can."""
    return out_of_range(label, value, lo, hi) or (not_whole(label, value) if whole else None)


def refused_line(label: str, kept: Any, lo: float | None, hi: float | None) -> str:
    """``"Learning rate was empty or too large to hold: kept 0.01; type a number from 0.000001 to 0.5."``; where the
    label's note says what the value kept means, it is said too: "Sample size (0 = every question)" emptied reads
    "kept 0 (every question)" (an emptied box read as if it meant every question: the line says what it does)."""
    use = (f"type {bound(lo)}" if lo is not None and lo == hi  # one page of one
           else f"type a number from {bound(lo)} to {bound(hi)}" if lo is not None and hi is not None
           else f"type a number of {bound(lo)} or more" if lo is not None
           else f"type a number of {bound(hi)} or less" if hi is not None else "type a number")
    note = re.search(r"\(([^()]*)\)$", label)
    meaning = note.group(1).partition(" = ") if note else ("", "", "")
    label = short(label)
    name, _ = _unit(label)
    means = f" ({meaning[2]})" if meaning[1] and meaning[0] == shown(kept) else ""
    return f"{name} was empty or too large to hold: kept {_said(label, kept)[len(name) + 1:]}{means}; {use}."


def number_box(box: Any, label: str, key: str, value: int | float, *, lo: float | None = None,
               hi: float | None = None, whole: bool = False, said_in: Any = None,
               **kwargs: Any) -> tuple[int | float, str | None]:
    """``box.number_input`` under this module's rule: returns the value typed (an int where ``whole`` and it is one)
    and its refusal line (None when it fits ``[lo, hi]``). The value stays as set through a visit to another page
    (kept under ``key + ".kept"``, as ``ui.kept`` keeps it, and by Streamlit, ``persist_state``); ``value`` is the
    first visit's. ``said_in``: where the line for an emptied box is drawn (default ``box``); a box in a row of
    widgets puts it below the row, where in the row it was one more item, as wide as the row, wrapping the rest.

    Kept by Streamlit too: a page switch that cut short the run a click elsewhere asked for (a model id typed into
    Evaluate's "Other models", then a sidebar page) left the box's value in the server's state while the browser drew
    it anew, empty; the next click sent that empty box, read as "Sample size was empty or too large to hold: kept 0"
    (2 of 3 tries). Kept for the session, the browser is told the value when the box is drawn again."""
    kwargs = {"format": "%g", **kwargs, "step": float(kwargs.get("step", 1 if whole else 0.01))}  # a float box
    state = st.session_state
    if state.get(key) is None:  # drawn anew (a first visit, back from another page, following a suggestion)
        state[key] = state.get(f"{key}.kept", value)
    if isinstance(state[key], int) and not isinstance(state[key], bool):  # set as an int (a reset, a kept value):
        state[key] = float(state[key])  # a float box refuses an int value in its state
    name = short(label)
    typed = box.number_input(label, value=None, key=key, on_change=_keep_last, args=(key, label, lo, hi),
                             persist_state=ui.PERSIST, **kwargs)
    if typed is None:  # not through the callback (it puts the last good value back): the same, said the same way
        typed = state.get(f"{key}.good", state.get(f"{key}.kept", value))
        state[f"{key}.refused"] = refused_line(label, typed, lo, hi)
    said = state.pop(f"{key}.refused", None)
    if said:
        (box if said_in is None else said_in).error(said, icon=":material/error:")
    why = refusal(name, typed, lo, hi, whole)
    if whole and not why and isinstance(typed, float):
        typed = int(typed)
    state[f"{key}.kept"] = typed
    if not why:
        state[f"{key}.good"] = typed
    return typed, why


def last_good(key: str, default: Any) -> Any:
    """The box ``key``'s last value that fitted its range (``number_box``), ``default`` before any: what the page goes
    on using while the value typed is refused."""
    return st.session_state.get(f"{key}.good", default)


def forget(key: str) -> None:
    """The box ``key`` drawn anew with its first-visit value: its typed, kept and last good values dropped."""
    for suffix in ("", ".kept", ".good", ".refused"):
        st.session_state.pop(f"{key}{suffix}", None)


def _keep_last(key: str, label: str, lo: float | None, hi: float | None) -> None:
    """The box emptied, or given a number the browser cannot hold (it sends Infinity, read as None): the person's
    last good value goes back in the box, and the page says so in one line (``number_box``)."""
    state = st.session_state
    last = state.get(f"{key}.good", state.get(f"{key}.kept"))
    if state.get(key) is None and last is not None:
        state[key] = float(last)
        state[f"{key}.refused"] = refused_line(label, last, lo, hi)


def page_box(box: Any, key: str, pages: int, *, fit: bool = False) -> int:
    """A "Page (of N)" box under this module's rule, and the page to show. A page typed that is not there (0, 9 of 3,
    2.5) stays as typed with its one line under the box's row, and the last good page stays shown; when the pages
    grow fewer than the one shown (a search, a filter, clusters decided), the box goes to the last one without a word:
    the pages moved, not the person's number. ``fit``: the box as wide as its label and number need (``page_width``),
    not the width of what holds it."""
    state = st.session_state
    shown = state.get(key)
    if shown is None:
        shown = state.get(f"{key}.kept")  # back from another page: Streamlit dropped the box's own state
    if pages != state.get(f"{key}.count", pages) and shown is not None:
        state[key] = state[f"{key}.good"] = float(min(max(1, int(shown)), pages))
    state[f"{key}.count"] = pages
    typed, why = number_box(box, f"Page (of {pages:,})", key, 1, lo=1, hi=pages, whole=True, step=1,
                            **({"width": page_width(pages)} if fit else {}))
    if why:
        ui.show_error(why)
    return min(int(last_good(key, 1)), pages) if why else int(typed)


def page_width(pages: int) -> int:
    """Pixels a "Page (of N)" box needs: its label, or its widest number beside the box's clear, - and + buttons
    (Streamlit hides - and + in a box under about 150 px)."""
    return fit_width(f"Page (of {pages:,})", f"{pages:,}")


def fit_width(label: str, widest: str = "") -> int:
    """Pixels a number box needs for ``label`` above it, or for its ``widest`` number beside its clear, - and +
    buttons (Streamlit hides - and + in a box under about 150 px): passed as ``width=``, the box is not as wide as
    what holds it."""
    return max(7 * len(label) + 30, 9 * len(widest) + 150)


def page_to_show(key: str) -> int:
    """The page a ``page_box`` asks for, read before the box is drawn (where what is built above it depends on it):
    the page typed where it was one of the pages counted last run, else the last good one."""
    state = st.session_state
    typed = state.get(key)
    if typed is None:
        typed = state.get(f"{key}.kept")
    if typed is None or refusal("Page", typed, 1, state.get(f"{key}.count"), whole=True):
        return int(last_good(key, 1))
    return int(typed)
