"""The studio's Streamlit layer: the only part of ``studio`` that imports streamlit.

Pages import helpers from here (``from studio import ui``); submodules hold larger shared widgets
(one per concept, e.g. ``studio.ui.dedup`` for the dedup review queue). Engine modules never
import this package.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import streamlit as st

from studio import config
from studio.data import sample
from studio.errors import StudioError, WorkspaceFullError

T = TypeVar("T")


FAVICON = str(Path(__file__).with_name("favicon.png"))
"""The studio's tab icon, served by the studio itself (a Material icon here would be fetched from Google's font CDN)."""


PERSIST = "session"

# What one box sends the server at most (its max_chars; Streamlit cuts a longer value on the server too). A long text (a
# question, a passage, a system prompt) one character past what the engine takes (1,000,000 characters, 4 MB of UTF-8 at
# most), so a longer paste is refused in the engine's own line, never kept cut as if it were whole; any other box (a
# name, a URL, a model id, a note) takes 10,000, past every bound the engine names in its own line (a URL's 2,048, a
# model name's 1,000, a version note's 5,000). Both stay well inside the 16 MB a message may be (server.maxMessageSize
# in .streamlit/config.toml): a paste past that closed the connection and lost what was typed.
LONG_TEXT_CHARS = 1_000_001  # studio.models.extractive.MAX_PASSAGE_CHARS + 1 (a test holds them so)
PASTE_CHARS = 1_400_000  # Chat's question boxes and passage: 40% past MAX_PASSAGE_CHARS, their counter hidden
"""Chat's question boxes (a conversation's, passage mode's) and its passage take 40% more than the engine's bound in
the browser (a passage, a question and a system prompt at 4 bytes a character still fit in a 16 MB message), so that a
paste past the bound reaches the page and is refused in one line, kept in its box for the user to cut: a box of
``LONG_TEXT_CHARS`` dropped a longer paste whole with no word, and its counter named 1,000,001, not the bound. Their
counter would name this number, not the bound the page says: ``hide_counter`` hides it."""
SHORT_TEXT_CHARS = 10_000
"""``persist_state=`` for a widget drawn without a ``value=`` (its state set through session state) whose value
outlives a visit to another page: Streamlit drops a widget's state in a run that does not draw it. Setting it again
in each page's first run kept it only where the last run before the page change was a whole one: after a timed
fragment's run (Chat's every second, a progress bar's) Streamlit's page-change cleanup dropped it before the next page
set anything. Streamlit 1.67 keeps a widget drawn with ``persist_state="session"`` through any run. Widgets drawn with
a value use ``kept`` (an index: ``kept_choice``) instead (setting those through session state would be refused, or
lose to a computed default)."""


NO_SAMPLE = "workspace.no_sample"  # the sample could not be added (a full server): not tried again this session
SAMPLE_HELD = "workspace.sample_held"  # this run's page_setup left the sample to a restore running then


def sample_held() -> bool:
    """Whether this run's ``page_setup`` left a new workspace's sample to a restore still running then: the page
    is to be drawn again once it ended, even where it ended before the page asks (``cloud.restoring()`` is False by
    then, and the page was drawn without the sample, never again until a click)."""
    return bool(st.session_state.get(SAMPLE_HELD))


def page_setup(title: str) -> None:
    """Every page's first call: the tab title, wide layout, and a workspace ready to use.

    Whichever page a person opens first, the workspace exists, and a new, empty one holds the
    sample dataset (``studio.data.sample.ensure_sample``); a workspace that cannot be written stops the
    page with one line saying what to do.
    """
    st.set_page_config(page_title=f"{title} · SLM Studio", page_icon=FAVICON, layout="wide")
    _keep_app_folder_on_path()
    from studio.ui import streamlit_internals

    streamlit_internals.session_id()  # this session ran its page now (counted open where Streamlit cannot tell)
    _keep_tab_id()
    from studio.ui import cloud

    st.session_state[SAMPLE_HELD] = False  # this run's alone: a setup that fails below holds nothing
    try:
        cloud.setup()  # on a public deployment: this visitor's own workspace (studio.ui.cloud)
        held = st.session_state[SAMPLE_HELD] = cloud.restoring()  # a restore may bring the visitor's back
        if not st.session_state.get(NO_SAMPLE) and not held:
            try:
                sample.ensure_sample()
            except WorkspaceFullError as exc:  # a new visitor on a full server: they saved nothing; said once, not
                # tried again at every click (each refusal walks every visitor's files to find room)
                st.session_state[NO_SAMPLE] = True
                st.warning(f"Your new workspace starts without the sample dataset: {exc.room}. Create or import a "
                           "dataset on the Dataset page once there is room (try again later).", icon=":material/warning:")
    except OSError as exc:
        where = os.environ.get("STUDIO_HOME") or str(config.DEFAULT_HOME)
        st.error(f"Cannot use the workspace {where} ({exc.strerror or exc}): set STUDIO_HOME to a folder you "
                 "can write to and restart the studio.", icon=":material/error:")
        st.stop()
    except StudioError as exc:  # a full anonymous workspace, say
        show_error(exc)
    if config.tenancy():
        from studio.ui import cloud_panel

        cloud_panel.panel()


def _keep_tab_id() -> None:
    """Put this browser tab's id (``dataset_drafts.tab_id``) back in the address: Streamlit drops ``?tab=`` on a
    page change, so a reload on another page lost whose unsaved Dataset edits were this tab's. Setting a query
    parameter changes the address only (no rerun), and only ``tab`` is set: a deep link's other parameters stay."""
    from studio.ui.dataset_drafts import TAB_ID

    if TAB_ID not in st.session_state and st.query_params.get("tab"):  # a reload on another page: the address's id,
        st.session_state[ADDRESS_TAB] = st.query_params["tab"]  # claimed when the Dataset page opens (``tab_id``)
    tab = st.session_state.get(TAB_ID) or st.session_state.get(ADDRESS_TAB)
    if tab and st.query_params.get("tab") != tab:
        st.query_params["tab"] = tab


ADDRESS_TAB = "dataset.address_tab"  # the ?tab= a session found in its address before it opened the Dataset page


def _keep_app_folder_on_path() -> None:
    """Leave the app's folder on ``sys.path`` for good, at its end.

    Streamlit puts it at ``sys.path[0]`` for each run and takes it off as the run ends, unless it is
    there already (``modified_sys_path``). Taking it off shifts the list under any import walking it in
    another thread, which then skips an entry: a push, a download or a model load started by the
    run read an installed package as missing ("No module named 'datasets'"). Once it is there for
    good, runs no longer move it."""
    from studio.ui import streamlit_internals

    folder = streamlit_internals.app_folder()
    if folder is None:  # outside a script run, or a Streamlit that does not say: runs leave sys.path as they found it
        return
    if sys.path.count(folder) < 2 and (folder not in sys.path or sys.path[0] == folder):
        sys.path.append(folder)  # this run's own entry (first) is taken off as it ends; this one stays


def init_state(defaults: dict[str, object]) -> None:
    """Set namespaced session-state keys (``"dataset.selected"``, ...) once per session."""
    for key, value in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = value


def kept(widget: Callable[..., T], label: str, key: str, default: object, **kwargs: Any) -> T:
    """``widget(label, value=..., key=key, **kwargs)`` (a toggle, slider, checkbox, number input) that stays
    as set when the person visits another page and comes back: Streamlit drops a widget's state in a run
    that does not draw it, so the value is also kept under ``key + ".kept"``."""
    start = st.session_state.get(f"{key}.kept", default)
    again = st.session_state.get(READ_AGAIN)
    if again and key in again:  # set as the widget's own value, which the browser is told of (``read_again``)
        again.discard(key)
        st.session_state[key] = start
    value = widget(label, value=start, key=key, **kwargs)
    st.session_state[f"{key}.kept"] = value
    return value


def hold_unshown(keys: Iterable[str]) -> None:
    """Keep the values of the widgets ``keys`` (those set) through this run, which does not draw them (it waits on a
    background read, and draws them again once it ends): Streamlit forgets a widget's value in a run that does not
    draw it. Call it before anything draws them. ``kept`` keeps a widget's value through visits to other pages."""
    for key in [k for k in keys if k in st.session_state]:
        st.session_state[key] = st.session_state[key]


READ_AGAIN = "ui.read_again"  # ``kept`` widgets whose value is read afresh at their next draw (``read_again``)


def read_again(key: str) -> None:
    """Drop the value ``kept`` holds for the widget ``key``: its next draw takes it afresh (from ``key + ".kept"``, set
    again meanwhile by what reads a kept file, else the default) and sets it as the widget's own value, which the
    browser is told of. A widget whose state is only dropped is drawn again with the new value as its starting one,
    which a widget known by its key never shows: the browser kept showing the last one, and sent it back at the next
    click (a restore's settings read again on the public app)."""
    st.session_state.pop(f"{key}.kept", None)
    st.session_state.pop(key, None)
    st.session_state.setdefault(READ_AGAIN, set()).add(key)


def follow(key: str, suggested: object) -> None:
    """Before drawing the widget ``key`` whose starting value is ``suggested`` (a preset's, recomputed for
    another dataset or base model): where the suggestion moved and the widget still holds the last one (the
    person did not change it), it takes the new one; a value the person set stays. Works with ``kept`` (the
    value) and ``kept_choice`` (``suggested`` is then the option's ident)."""
    state, last = st.session_state, st.session_state.get(f"{key}.suggested", _NOT_YET)
    st.session_state[f"{key}.suggested"] = suggested
    kept = f"{key}.kept"  # ``kept``'s value, ``kept_choice``'s ident: what the widget held when last drawn
    held = state[kept] if kept in state else state.get(key, last)
    if last is not _NOT_YET and held != last:
        # The person's own value, theirs from now on: where a later suggestion happens to equal it (the run
        # removed from Evaluate's models after "A dataset version" was picked), the next one moved it as if unset.
        state[f"{key}.own"] = True
    if last is _NOT_YET or last == suggested or state.get(f"{key}.own"):
        return
    if held == last:
        if kept in state:
            state[kept] = suggested
        if key in state and state[key] == held:  # the widget holds the value itself (a box, a plain choice): set as its
            # own, which the browser is told of; dropped, it was drawn again with the new value as its starting one, which
            # a widget known by its key never shows, so the browser kept showing the last one and sent it back at a click
            state[key] = suggested
        else:  # a ``kept_choice`` whose option is known by another ident: drawn anew, and set through session state there
            state.pop(key, None)


_NOT_YET = object()


def kept_choice(widget: Callable[..., T], label: str, options: Sequence[Any], key: str, default: int | None = 0,
                ident: Callable[[Any], Any] | None = None, **kwargs: Any) -> T:
    """``widget(label, options, index=..., key=key, **kwargs)`` (a radio or a selectbox) that stays as chosen when
    the person visits another page and comes back: the choice is also kept under ``key + ".kept"`` (by ``ident``:
    a run's or a dataset's id), and it wins over ``default`` (a computed index) when the widget is drawn again.
    A kept choice that is no longer among the options (a deleted run, a removed model) gives ``default``."""
    ident = ident or (lambda option: option)
    kept = st.session_state.get(f"{key}.kept")
    index = next((i for i, option in enumerate(options) if kept is not None and ident(option) == kept), default)
    if key not in st.session_state and (index is None or 0 <= index < len(options)):
        # Drawn anew (a first visit, back from another page, a choice reset or following another suggestion): the
        # choice is set through session state, which the browser is told of. With ``index`` alone it kept showing
        # (and sent back at the next click) the option it showed last, since the widget is the same by its key:
        # also no choice (``default`` None: passage mode's Record after another Dataset showed the last one's record).
        st.session_state[key] = None if index is None else options[index]
        value = widget(label, options, key=key, **({"index": None} if index is None else {}), **kwargs)
    else:
        value = widget(label, options, index=index, key=key, **kwargs)
    st.session_state[f"{key}.kept"] = None if value is None else ident(value)
    return value


def md(text: object) -> str:
    """User text (names, model ids, errors quoting them) for Markdown: shown as typed, never a link,
    an emoji shortcode, formatting or an image (``studio.data.display.markdown_literal``)."""
    from studio.data.display import markdown_literal

    return markdown_literal(text)


def show_error(exc: BaseException | str, icon: str = ":material/error:") -> None:
    """A ``StudioError`` (or its message) as one ``st.error`` line, its quoted names shown literally and its control
    characters as their code points (``md``): the one home of an error line quoting an engine's or a server's words."""
    st.error(md(exc), icon=icon)


def run_or_error(fn: Callable[..., T], *args, **kwargs) -> T | None:
    """Call an engine function; show a ``StudioError`` as one ``st.error`` line and return None."""
    try:
        return fn(*args, **kwargs)
    except StudioError as exc:
        show_error(exc)
        return None


@st.cache_resource(show_spinner=False)
def model_cache():
    """The process's one cache of loaded models (``studio.models.cache``), shared by every session and page."""
    from studio.models import cache

    return cache.shared()


def loads_line() -> str:
    """" Loading <spec>…" while the shared model cache loads a model, else "" (for a "Loaded: n models" line)."""
    loading = model_cache().loading()
    return f" Loading {', '.join(md(s) for s in loading)}…" if loading else ""


@st.fragment(run_every=1)
def rerun_when_loaded() -> None:
    """Draw where a "Loaded: n models" line is shown while a model loads and nothing else redraws the page (its
    answer was stopped; the load goes on in its thread): the whole page is drawn again once the load ends, so the
    line counts that model without waiting for a click."""
    if not model_cache().loading():
        st.rerun(scope="app")


def hf_token(for_inference: bool = False) -> str | None:
    """The Hugging Face token from this session's password field, ``st.secrets`` or the environment.

    On a public deployment (``studio.ui.cloud``) only the visitor's own token, except ``for_inference``
    (Inference Providers calls), where the deployer's serves too, counted by ``spend_inference``.
    """
    if config.tenancy():
        from studio.ui import cloud

        return cloud.visitor_token() or (cloud.deployer_token() if for_inference else None)
    try:
        secrets = st.secrets
        secrets.get("HF_TOKEN")  # raises when there is no secrets file at all
    except Exception:
        secrets = None
    return config.hf_token(secrets, st.session_state.get("auth.hf_token"))


def spend_inference(requests: int = 1) -> None:
    """Count Inference Providers calls about to be made; on a public deployment using the deployer's token,
    raises ``RateLimitedError`` (one line) past the per-visitor limit. Nothing happens on a local install."""
    if config.tenancy():
        from studio.ui import cloud

        cloud.spend_inference(requests)


def upload_limit_bytes() -> int | None:
    """The largest import a visitor of a public deployment may bring in (a file or a Hub dataset); None locally."""
    if config.tenancy():
        from studio.ui import cloud_settings

        return cloud_settings.upload_mb() * 1_000_000
    return None


def upload_too_big(upload: Any, refused: str, fix: str) -> str | None:
    """The one line refusing ``upload`` (a file uploader's answer) on a public app where it is over the app's
    ``upload_mb``, before anything reads it; None where it may be read (no upload, a local install, within the limit).
    Every uploader asks here: the server checks the limit on every upload request only where Streamlit took it
    (``streamlit_internals.set_upload_limit_mb``). ``refused`` says what did not happen ("Not imported"), ``fix``
    what to do instead. The line is Markdown for ``st.error``, the file's name in it shown as typed (``md``)."""
    limit = upload_limit_bytes()
    size = getattr(upload, "size", None)
    if upload is None or limit is None or not isinstance(size, int) or size <= limit:
        return None
    return (f"{refused}: {md(upload.name)} is {size / 1e6:.1f} MB, more than the {limit / 1e6:.0f} MB a file may be on "
            f"this app: {fix}")


def require_own_token(action: str) -> None:
    """On a public deployment, raise the one line saying ``action`` needs the visitor's own token when none is given."""
    if config.tenancy():
        from studio.ui import cloud

        if not cloud.visitor_token():
            cloud.refuse(action)


def secret_field(label: str, key: str, help: str, disabled: bool = False) -> str | None:
    """A password field for a secret kept in this session under ``key``; returns the secret or None.

    The typed value moves into session state as soon as it is entered and the input is emptied, so
    it does not stay in the page's DOM; a "Forget" button drops it again. Nothing is written anywhere.
    """
    widget = f"{key}.input"

    def take() -> None:
        value = (st.session_state.get(widget) or "").strip()
        if value:
            st.session_state[key] = value
        st.session_state[widget] = ""

    if st.session_state.get(key):
        # one under the other: beside its caption, in the sidebar, the button was cut to "F…"
        st.caption(f"{label}: set for this session only.")
        if st.button("Forget", key=f"{key}.forget", disabled=disabled, help="Drop it from this session."):
            st.session_state.pop(key, None)
            st.rerun()
    else:
        st.text_input(label, type="password", max_chars=SHORT_TEXT_CHARS, key=widget, on_change=take, help=help, disabled=disabled)
    return st.session_state.get(key) or None


def show_text(text: str, suffix: str = "") -> None:
    """Data or model output as literal text (``studio.data.display``): never a link, an image that
    loads from elsewhere, or formatting. ``suffix`` is plain text added after it (a typing cursor)."""
    from studio.data.display import text_block

    st.markdown(text_block(str(text) + suffix), unsafe_allow_html=True)


# Streamlit gives a container of a fixed width at least 1rem: the strut took 16 px beside its box, which ended that much
# short of everything above it (the Export panel's status, the picked model's line).
_STRUT_CSS = ('<style>[data-testid="stLayoutWrapper"]:has(> [class*="st-key-strut-"]) '
              "{min-width: 0; width: 0; flex: 0 0 0}</style>")


def hide_counter(*keys: str) -> None:
    """Hide the character counter of the boxes drawn with these keys (Streamlit draws it last in the box's
    instructions, after "Press Enter to ..."), where it would name a browser bound (``PASTE_CHARS``) that is not the
    one the page says."""
    from studio.ui.editor_place import css_class

    scopes = ", ".join(f'.{css_class(k)} [data-testid="InputInstructions"] > span:last-child' for k in keys)
    st.html(f"<style>{scopes} {{display: none}}</style>")


def least_height(key: str, height: int | None):
    """A box as tall as what it shows, and at least ``height`` px (None: no least height), that keeps its place in the
    page whichever: a row of the box and an empty strut ``height`` tall beside it, which takes no width. A box of fixed
    height cut a long answer in a narrow window, its scroll bar not drawn."""
    with st.container(horizontal=True, wrap=False, gap=None, key=key):
        box = st.container(border=False)
        if height:
            st.html(_STRUT_CSS)
            st.container(height=height, width=1, border=False, key=f"strut-{key}")
    return box
