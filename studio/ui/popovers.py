"""A popover that closes after its action (Delete, Rename, Clear): one rule for every page.

A popover's open state is widget state, kept through a rerun: after its action redrew the page with the next item
picked (the next model, dataset or evaluation, a fresh workspace), it was still open on that one, its "Delete for good"
one click from deleting it too. ``popover`` draws it; ``close`` (before the action's ``st.rerun``) has it drawn closed
on the next run.

Drawn closed under a key of its own: the browser closes a popover only when the page tells it a state other than the
last it was told. Opened and acted on before the page's run for the opening reached the browser (a quick click, a
busy server: that run cut short by the action's, whose own drawing of it open is dropped by the ``st.rerun``), it
had only ever been told "closed", and "closed" again left it open, "Delete for good" one click from the next item
(seen under load in the Evaluate page's browser test). A new key is a new popover to the browser, drawn as told.
"""

from __future__ import annotations

from typing import Any

import streamlit as st


def popover(box: Any, label: str, key: str, **kwargs: Any) -> Any:
    """``box.popover(label, ...)`` keyed by ``key`` (its open state read back on each run), drawn closed, as a new
    popover, when ``close`` was called for it since it was last drawn."""
    drawn = st.session_state.get(_drawn(key), 0)
    if st.session_state.pop(_closing(key), False):
        drawn += 1
        st.session_state[_drawn(key)] = drawn
    return box.popover(label, key=f"{key}.{drawn}" if drawn else key, on_change="rerun", **kwargs)


def close(*keys: str) -> None:
    """The popovers ``keys`` are drawn closed on the next run (call it before ``st.rerun``)."""
    for key in keys:
        st.session_state[_closing(key)] = True


def _closing(key: str) -> str:
    return f"{key}.close"


def _drawn(key: str) -> str:
    return f"{key}.drawn"  # how many times it was closed: the suffix of the key it is drawn under
