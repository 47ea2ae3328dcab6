"""Where a page draws an element: its index at each level of AppTest's element tree, as the browser tells elements
apart. An element whose place changes when a pick changes what is drawn above it is drawn anew in the browser while the
pick's rerun runs: an open expander or popover closes, a chosen tab goes back to the first, a click on it is lost."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _paths(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, node
    for index, child in getattr(node, "children", {}).items():
        yield from _paths(child, (*path, index))


def elements(at: Any) -> Iterator[tuple[tuple, Any]]:
    """Every element of the page with its place."""
    return _paths(at._tree)


def _label(node: Any) -> str:
    label = getattr(node, "label", None)
    if label is None and getattr(node, "proto", None) is not None:  # blocks: the label is in their proto
        proto = node.proto
        for field in ("expandable", "popover", "tab"):
            if proto.HasField(field):
                label = getattr(proto, field).label
    return str(label or "")


def places(at: Any, kind: str, label: str = "", key: str | None = None) -> list[tuple]:
    """Where each ``kind`` element (``"expander"``, ``"tab"``, ``"button"``, ``"tab_container"``...) whose label starts
    with ``label`` (and whose key is ``key``, if given) is drawn."""
    return [path for path, node in _paths(at._tree)
            if getattr(node, "type", None) == kind and _label(node).startswith(label)
            and (key is None or getattr(node, "key", None) == key)]


def place(at: Any, kind: str, label: str = "", key: str | None = None) -> tuple:
    """The place of the one such element (``places``)."""
    found = places(at, kind, label, key)
    assert len(found) == 1, f"{len(found)} {kind} elements labelled {label!r}"
    return found[0]
