"""A popover that closes after its action (Delete, Rename, Clear): one rule for every page.

A popover's open state is widget state, kept through a rerun: after its action redrew the page with the next item
picked (the next model, dataset or evaluation, a fresh workspace), it was still open on that one, its "Delete for good"
one click from deleting it too. ``popover`` draws it; ``close`` (before the action's ``st.rerun``) has it drawn closed
on the next run. Its state is set before it is drawn: Streamlit refuses a widget's state set after.
"""

from __future__ import annotations

from typing import Any

import streamlit as st


def popover(box: Any, label: str, key: str, **kwargs: Any) -> Any:
    """``box.popover(label, ...)`` keyed ``key`` (its open state read back on each run), drawn closed when ``close``
    was called for it since it was last drawn."""
    if st.session_state.pop(_closing(key), False):
        st.session_state[key] = False
    return box.popover(label, key=key, on_change="rerun", **kwargs)


def close(*keys: str) -> None:
    """The popovers ``keys`` are drawn closed on the next run (call it before ``st.rerun``)."""
    for key in keys:
        st.session_state[_closing(key)] = True


def _closing(key: str) -> str:
    return f"{key}.close"
