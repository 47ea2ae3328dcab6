"""Keeps a person's place in the Dataset page's table when the table is built again.

Streamlit's data editor starts scrolled to its first row whenever it is built anew (a new key: a row added, rows
deleted, a record fixed, a save, a de-dup merge), and 1.67 offers no way to scroll it from Python. A person adding
rows at the bottom of a 200-row page was thrown back to row 1 at each one. So the browser notes where each table was
scrolled to, and when the page says which table a new one replaces (the same page of the same search), scrolls the
new one there: to the bottom when the old one was at its bottom (the row just added shows), else to the same offset.
A table on a tab not shown loses its scroll too (back on Edit from Check, row 1 again): it gets it back when shown.

A tab switched with the keyboard (arrow keys, Home, End, Enter or Space on a focused tab) is noted as a click on one is.

This reads the grid's scrolling box by its class (``dvn-scroller``, glide-data-grid's, inside Streamlit's
``st-key-<key>`` container): where a later Streamlit renames either, nothing is restored and nothing breaks (the
script catches its own errors: a table that cannot be found is left where the browser draws it).
"""

from __future__ import annotations

import json
import re

import streamlit as st

# The element takes no room (an empty one still had the gap of one, 16 px under the table); the script runs all the same.
_SCRIPT = """<span data-studio-place></span><style>
[data-testid="stElementContainer"]:has([data-studio-place]) {display: none}</style><script>(() => { try {
const s = window.__studioEditorPlace || (window.__studioEditorPlace = {at: {}, pending: {}, timer: null});
if (!s.listening) {
  s.listening = true;
  const keyOf = (el) => {
    const box = el.closest('[class*="st-key-dataset-editor-"]');
    return box && [...box.classList].find((c) => c.startsWith("st-key-dataset-editor-"));
  };
  const place = (el) => ({top: el.scrollTop, bottom: el.scrollTop + el.clientHeight >= el.scrollHeight - 2});
  s.tick = () => { try {
    for (const [cls, p] of Object.entries(s.pending)) {
      const was = s.at[p.from], el = document.querySelector("." + cls + " .dvn-scroller");
      if (!was || Date.now() - p.since > 600000) { delete s.pending[cls]; continue; }
      if (p.shown && !p.away) {  // a tab clicked: first the table goes (hidden, or drawn again), then it comes back
        if (!el || el !== p.shown || el.clientHeight === 0) p.away = true;
        else if (Date.now() - p.since > 3000) delete s.pending[cls];  // the tab shown already: it stayed
        continue;
      }
      if (!el || el.clientHeight === 0) continue;  // not drawn yet, or on a tab not shown: waits for it
      if (el.scrollHeight > el.clientHeight) {
        el.scrollTop = was.bottom ? el.scrollHeight : was.top;
        s.at[cls] = was;
        delete s.pending[cls];
      } else if (++p.tries > 20) delete s.pending[cls];  // fits without scrolling: nothing to restore
    }
    s.timer = Object.keys(s.pending).length ? setTimeout(s.tick, 100) : null;
  } catch (err) { s.pending = {}; s.timer = null; } };  // a page it does not know: nothing restored, nothing broken
  document.addEventListener("scroll", (e) => { try {
    const el = e.target;
    if (!(el instanceof Element) || !el.classList.contains("dvn-scroller") || el.clientHeight === 0) return;
    const cls = keyOf(el);
    if (cls && !s.pending[cls]) s.at[cls] = place(el);  // not the scroll to the top of a table being drawn
  } catch (err) {} }, true);
  // Another tab shown: the hidden table loses its scroll (back on Edit it showed row 1); it gets it back when shown.
  // Noted before the tab switches: on pointerdown (not click), and on the keys that switch a focused tab (the arrow
  // keys move to the next tab and show it; Enter and Space show a focused one)
  const leaving = (e) => { try {
    if (!(e.target instanceof Element) || !e.target.closest('[role="tab"]')) return;
    for (const el of document.querySelectorAll('[class*="st-key-dataset-editor-"] .dvn-scroller')) {
      const cls = keyOf(el);
      if (cls && el.clientHeight > 0 && el.scrollTop > 0) {
        s.at[cls] = place(el);
        s.pending[cls] = {from: cls, tries: 0, since: Date.now(), shown: el, away: false};
      }
    }
    if (!s.timer) s.tick();
  } catch (err) {} };
  const keys = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End", "Enter", " "]);
  document.addEventListener("pointerdown", leaving, true);
  document.addEventListener("keydown", (e) => { if (keys.has(e.key)) leaving(e); }, true);
}
// Run again whenever the Edit tab is drawn again (another tab shown, then Edit): a table takes its place once only.
const to = %(to)s, from = %(from)s;
s.placed = s.placed || {};
if (from && !s.placed[to]) {
  s.placed[to] = true;
  s.pending[to] = {from: from, tries: 0, since: Date.now()};
}
if (!s.timer) s.tick();
} catch (err) {} })();</script>"""


def css_class(key: str) -> str:
    """The class Streamlit gives a keyed widget's container (``st-key-`` and the key, other characters as ``-``)."""
    return "st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", key.strip())


def keep_place(key: str, replaces: str | None) -> None:
    """Draw (on every run, so nothing below moves) the script that scrolls table ``key`` to where table ``replaces``
    was scrolled; ``None``: a new view (another page or search), shown from its first row."""
    st.html(_SCRIPT % {"to": json.dumps(css_class(key)), "from": json.dumps(css_class(replaces) if replaces else None)},
            unsafe_allow_javascript=True)
