"""A static table that reads as a card per row in a narrow column: the Models page's library, Home's evaluations.

Streamlit's data grid cuts a cell at its column's width ("Soccer rules (samp" in Home's evaluations at 800 px), and a
static table of many columns runs past the main column's edge. A static table (``st.table``) in a keyed container,
with ``narrow_table_css``, wraps its cells when wide and turns each row into a card when narrow.
"""

from __future__ import annotations

NARROW_PX = 720
"""Below this width of the page's column a table reads as a card per row. The Models library's ten columns wanted about
600 px at their narrowest: in an 800 px window (468 px beside the sidebar) every column after "context" was past the
edge, a sideways scroll away."""


def narrow_table_css(key: str, columns: list[str]) -> str:
    """CSS that turns the static table in the container ``key`` into a card per row where the column is narrower
    than ``NARROW_PX``: its first cell in bold on a line of its own, then each other cell after its column's name
    ("architecture: llama"), wrapping as a sentence does. Wider, the table is left as it is."""
    scope = f".st-key-{key}"
    named = "".join(f'{scope} td:nth-child({i}):before{{content:"{css_string(c)}: ";color:rgba(49,51,63,.6)}}'
                    for i, c in enumerate(columns, 1) if i > 1)
    return (f"<style>{scope}{{container-type:inline-size}}"
            f"@container (max-width:{NARROW_PX}px){{"
            f"{scope} :is(table,tbody,tr){{display:block;width:auto}}{scope} thead{{display:none}}"
            f"{scope} tr{{padding:.35rem 0;border-bottom:1px solid rgba(49,51,63,.15)}}"
            f"{scope} td{{display:inline-block;max-width:100%;border:none;padding:0 .5rem;white-space:normal}}"
            f"{scope} td :is(div,p){{display:inline}}"
            f"{scope} td:first-child{{display:block;font-weight:600}}{named}}}</style>")


def css_string(text: str) -> str:
    """``text`` for inside a CSS string ("..."), read as typed: every character but a letter, a digit, a space, "_"
    or "-" as its code point (``\\22 `` for a quote), so a column's name closes no string, rule or ``<style>``."""
    return "".join(c if c.isalnum() and c.isascii() or c in " _-" else f"\\{ord(c):x} " for c in text)
