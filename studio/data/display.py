"""Record text and model output shown as text, never as Markdown: a link, an image or formatting in
the data is displayed literally and nothing is loaded from its URL.

The text is HTML-escaped and placed in one HTML block (line breaks as ``<br>``, so no blank line
ends the block): Markdown is not parsed inside an HTML block, so there is no image, no link and no
autolinked URL, whatever the text holds.
"""

from __future__ import annotations

import html


def text_block(text: str, prefix_html: str = "") -> str:
    """``text`` as one literal HTML block for ``st.markdown(..., unsafe_allow_html=True)``;
    ``prefix_html`` is trusted markup put before it (a bold label)."""
    body = html.escape(str(text)).replace("\r\n", "\n").replace("\n", "<br>")
    return f'<div style="white-space: pre-wrap; margin-bottom: 1rem">{prefix_html}{body}</div>'


def html_block(trusted_html: str) -> str:
    """Already-escaped HTML (``diff_html``'s) as one block, so Markdown never parses inside it."""
    return f'<div style="margin-bottom: 1rem">{trusted_html}</div>'
