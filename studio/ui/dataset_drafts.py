"""The Dataset page's working copy: each dataset's unsaved edits in this session (``Draft``), kept in the workspace per
browser tab so a reload finds them again (``keep``, ``restore``), and the tab's own id (``tab_id``).

Session state: ``dataset.drafts`` (``{dataset_id: Draft}``), ``dataset.tab_id``; ``dataset.conflicts`` is read
(a dataset with a refused save keeps its copy). The page's widgets are ``studio.ui.dataset``'s.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import streamlit as st

from studio import config
from studio.data import editing, store, validate
from studio.errors import StudioError
from studio.ui import streamlit_internals

Record = dict[str, object]
TAB_ID = "dataset.tab_id"  # this browser tab's id (``tab_id``)
DRAFTS = "dataset.drafts"
CONFLICTS = "dataset.conflicts"
SELECTED = "dataset.selected"  # the dataset this tab shows (``studio.ui.dataset.select``)


def carry_renamed(renamed: dict[str, str]) -> None:
    """Datasets that moved into another workspace under new ids (``{old: new}``, ``workspaces.merge_into``): this tab's
    working copies, and its choice of dataset, follow them (their kept copies moved with their folders). Left under
    the old id, the edits read as deleted, or went to the dataset of that id there."""
    for key in (DRAFTS, CONFLICTS):
        held = st.session_state.get(key)
        if held:
            st.session_state[key] = {renamed.get(k, k): v for k, v in held.items() if k in renamed or
                                     k not in renamed.values()}
    if st.session_state.get(SELECTED) in renamed:
        st.session_state[SELECTED] = renamed[st.session_state[SELECTED]]


@dataclass
class Draft:
    """One dataset's working copy. ``records`` feeds the editor; ``current`` adds this run's edits."""

    base: int  # the saved version the edits start from
    saved: list[Record]  # that version's records
    records: list[Record]  # working copy as of the last fold (page change, import, save)
    current: list[Record] = field(default_factory=list)  # working copy including the editor's pending edits
    nonce: int = 0  # part of the editor's key: bumped when ``records`` changes under it
    drawn: int | None = None  # the nonce whose editor was last drawn (a bumped one not drawn yet is not unmounted)
    view: tuple = ()  # (search, page) the editor was built for
    grown: int = 0  # records added at the end of that view's page since it was shown (``editing.view``)
    # records added in the table under a search or the records to fix, kept in sight on that view whether they match
    # or not (held as the objects themselves: the working copy keeps each record's identity)
    pinned: list[Record] = field(default_factory=list)
    # Blank rows added in the table: no records (a blank row is dropped), but kept in it, in their places, when it is
    # built again, those under its records numbered (Streamlit gives every row added the one default # it is built
    # with). ``blank``: their places (rows from 0) in the table it was built with; ``blank_seen``: as of this run.
    blank: tuple[int, ...] = ()
    blank_seen: tuple[int, ...] = ()
    flagged: tuple = (None, {})  # (nonce, {record index: its errors}) for the records the editor shows
    shown: tuple = (None, editing.COLUMNS)  # (nonce, the editable columns): a Context column when some record has one
    restored: bool = False  # its edits were kept in the workspace by a session before this one (a browser reload)
    kept: list[Record] | None = None  # the working copy as last kept in the workspace (None: nothing kept yet)
    handed_over: bool = False  # another tab brought the kept copy in ("Bring them here"): not kept again here
    brought: bool = False  # this tab brought another tab's kept edits in ("Bring them here"): said so in the banner
    # The working copy as records came in (an import, another tab's records to fix) and from where ("imported
    # faq.csv"): a save with no message says what it was ("imported faq.csv: fixed 2 records (3 added)"), not "edited"
    start: list[Record] | None = None
    origin: str | None = None
    # (what happened to the kept copy, what to do or None), said once in the unsaved-changes banner (``banner``)
    note: tuple[str, str | None] | None = None
    made_on: str = ""  # the uid of the dataset the edits are made on: a new dataset given its id after a delete is not it

    @property
    def dirty(self) -> bool:
        return self.current != self.saved

    def to_fix(self) -> dict[int, str]:
        """The working copy's invalid records (index: reason), worked out once per editor build."""
        if self.flagged[0] != self.nonce:
            found = invalid(self.records) if self.records is not self.saved else {}  # a saved version is valid
            self.flagged = (self.nonce, found)
        return self.flagged[1]

    def columns(self) -> tuple[str, ...]:
        """The editor's columns for ``records``, worked out once per editor build (a scan of every record)."""
        if self.shown[0] != self.nonce:
            self.shown = (self.nonce, editing.columns(self.records))
        return self.shown[1]


def invalid(records: list[Record]) -> dict[int, str]:
    """``records``' invalid ones: {index: the reasons, joined}."""
    found: dict[int, str] = {}
    for p in validate.errors(validate.validate(records)):
        found[p.record - 1] = f"{found[p.record - 1]}; {p.message}" if p.record - 1 in found else p.message
    for i in found:  # the text of a field the editor does not show (q_text where the question was expected): to copy
        found[i] += unshown(records[i])
    return found


SHOWN_UP_TO = 200  # characters of a hidden field's text quoted in a Problem


def unshown(record: object) -> str:
    """``'; its field q_text (not shown here) reads "Odd?"'`` for each text field of ``record`` that the Edit tab
    has no column for: a record brought in without its question could not be fixed from what the table showed."""
    if type(record) is not dict:
        return ""
    said = []
    for name, value in record.items():
        if name in (*editing.COLUMNS, editing.CONTEXT) or not isinstance(value, str) or not value.strip():
            continue
        text = value if len(value) <= SHOWN_UP_TO else value[:SHOWN_UP_TO] + "…"
        said.append(f'; its field {name} (not shown here) reads "{text}"')
    return "".join(said)


@st.cache_resource
def _tab_holders() -> dict[tuple[str, str], str]:
    """{(workspace, tab id): the session that holds it}, for the whole server process (tab ids are random: 48 bits).
    A tab id counts in its workspace only: on a public app, a visitor opening a link another visitor shared (its
    ``?tab=`` too) held the id for every workspace, and the first visitor's reload came back under a new one."""
    return {}


def _scope() -> str:
    """The workspace a tab id counts in (``_tab_holders``)."""
    return str(config.home())


def _session_open(session_id: str) -> bool:
    """Whether ``session_id`` is a browser tab still connected to this server (False outside a server). Where
    Streamlit cannot tell (``streamlit_internals.session_connected``), the session counts as open, so its tab's unsaved
    edits are kept (one kept copy too many is harmless; one dropped loses what a tab is editing)."""
    return bool(streamlit_internals.session_connected(session_id))


def _tab_open(tab: str) -> bool:
    """Whether browser tab ``tab`` is open now: a session of this server claimed it (``claim_tab``) and is connected.
    A tab from before the server started, or the command line's edits (no tab), count as closed."""
    holder = _tab_holders().get((_scope(), tab))
    return holder is not None and _session_open(holder)


def claim_tab(given: object, session: str, holders: dict[tuple[str, str], str], is_open=_session_open,
              scope: str = "") -> str:
    """The tab id a new session takes: the one in its address (``given``) when it is well formed and no other open
    session holds it (a reload: the reloaded tab's session is gone), else a new one. A browser's "Duplicate tab"
    copies the address, ``?tab=`` included: the copy took the first tab's id, and each tab's unsaved edits replaced
    the other's kept copy; it gets its own id, and is offered the first tab's edits as any other tab is. ``scope``:
    the workspace the id counts in (another workspace's tabs never hold it)."""
    tab = given if isinstance(given, str) and re.fullmatch(r"[0-9a-f]{12}", given) else None
    holder = holders.get((scope, tab)) if tab else None
    if tab is None or (holder not in (None, session) and is_open(holder)):
        tab = uuid.uuid4().hex[:12]
    if len(holders) > 10_000:  # a long-running public app: forget the tabs whose sessions have ended
        for old in [k for k, v in list(holders.items()) if not is_open(v)]:  # a copy: other sessions write it meanwhile
            holders.pop(old, None)
    holders[(scope, tab)] = session
    return tab


def tab_id() -> str:
    """This browser tab's id, kept in the page's address (``?tab=``), which a reload keeps and a new tab has not: a
    reload gets its own unsaved edits back; another tab of the same workspace is offered them (``_offer``)."""
    tab = st.session_state.get(TAB_ID)
    if tab is None:
        tab = claim_tab(st.query_params.get("tab"), streamlit_internals.session_id() or "", _tab_holders(),
                        scope=_scope())
        st.session_state[TAB_ID] = tab
    elif (_scope(), tab) not in _tab_holders():  # a workspace this tab moved into (a sign-in): it is open there too
        _tab_holders()[(_scope(), tab)] = streamlit_internals.session_id() or ""
    if st.query_params.get("tab") != tab:
        st.query_params["tab"] = tab
    return tab


def restore(info: store.DatasetInfo) -> Draft | None:
    """The unsaved edits a session before this one kept for ``info`` (this tab, reloaded): back on screen, said so.
    Another tab's (open beside this one, or closed since) are offered on the page instead (``_offer``), not taken
    over. Based on an older version, a save is refused as any such save is, with the conflict panel."""
    kept = editing.load_draft(info.id, tab_id())
    if kept is None:
        return None
    base, saved, records = kept
    return Draft(base=base, saved=saved, records=records, current=records, restored=True, kept=records,
                 start=records)


def draft(info: store.DatasetInfo) -> Draft:
    """This session's working copy of ``info``; follows the latest version while it has no edits."""
    drafts: dict[str, Draft] = st.session_state[DRAFTS]
    latest = info.latest.version if info.latest else 0
    d = drafts.get(info.id)
    if d is None and (restored := restore(info)) is not None:
        d = drafts[info.id] = restored
    if d is None or (d.base != latest and not d.dirty):
        saved = store.load_version(info.id, latest) if latest else []
        d = Draft(base=latest, saved=saved, records=saved, current=saved, nonce=(d.nonce + 1) if d else 0)
        drafts[info.id] = d
    if not d.made_on:
        d.made_on = info.uid
    # Another dataset's copy without edits (or a conflict) is dropped: it is read again from disk when opened. Each
    # held a whole version (13.5 MB for a 3.9 MB file), kept for every dataset a session had opened: on a public
    # app, that many copies per visitor on the one server.
    conflicts = st.session_state.get(CONFLICTS, {})
    for other in [k for k, o in drafts.items() if k != info.id and k not in conflicts and not o.dirty]:
        del drafts[other]
    return d


def working_copy(info: store.DatasetInfo) -> tuple[list[Record], int]:
    """(records on screen, the version they are based on): what another tab reviews and saves against."""
    d = draft(info)
    return d.current, d.base


KEPT_SUMMARY = "dataset.kept_summary"  # {dataset_id: (tab, draft_stamp, summary)}: the kept edits' summary, read once


def unsaved_summary(dataset_id: str) -> str | None:
    """What the Dataset page holds unsaved for ``dataset_id`` in this session ("1 edited, 2 added"), or None: other
    pages that read the saved version (Train) say so, rather than train on it as if the edits were in."""
    d = st.session_state.get(DRAFTS, {}).get(dataset_id)
    if d is None:  # after a browser reload, before the Dataset page was opened again: the edits kept in the workspace
        # (this tab's when it is known, else the latest any tab kept, said as such: a reload on a page other than the
        # Dataset page has no ``?tab=``, Streamlit drops it on a page change, so whose they are is not known)
        tab = st.session_state.get(TAB_ID) or st.query_params.get("tab") or ""
        drafts = editing.kept_drafts(dataset_id)
        if not drafts:
            return None
        chosen = next((k for k in drafts if tab and k.tab == tab), drafts[0])
        seen = st.session_state.setdefault(KEPT_SUMMARY, {}).get(dataset_id)
        if seen is None or seen[:2] != (chosen.tab, chosen.stamp):  # read (the whole version it edits) once a change
            kept = editing.load_draft(dataset_id, chosen.tab)
            seen = (chosen.tab, chosen.stamp, editing.summary(editing.changes(kept[1], kept[2])) if kept else None)
            st.session_state[KEPT_SUMMARY][dataset_id] = seen
        if seen[2] is None or (tab and chosen.tab == tab):
            return seen[2]
        return f"{seen[2]}, {_whose(chosen.tab, tab, len(drafts))}"
    if not d.dirty:
        return None
    return editing.summary(editing.changes(d.saved, d.current))


def _whose(kept_tab: str, tab: str, count: int) -> str:
    """Whose kept edits ``unsaved_summary`` names when they are not known to be this tab's."""
    if not kept_tab:
        who = "kept by the command line (dataset create --keep-invalid: its records to fix)"
    elif tab:
        who = "kept by another browser tab"
    else:  # a reload on this page: this tab's from before it, or another tab's, cannot be told apart
        who = "kept by a browser tab, this one before a reload or another"
    return who + (f"; the latest of {count} kept" if count > 1 else "")


def replace_working_copy(dataset_id: str, records: list[Record], origin: str | None = None) -> None:
    """Put ``records`` into the editor as unsaved changes (an import merged in, a review applied); ``origin``: where
    they came from ("imported faq.csv"), for the save's message."""
    d: Draft = st.session_state[DRAFTS][dataset_id]
    d.records = d.current = records
    if origin:
        d.start, d.origin = records, origin
    d.nonce += 1
    keep(dataset_id, d)


def keep(dataset_id: str, d: Draft) -> None:
    """Keep ``d``'s unsaved edits in the workspace when they changed since last kept, so a browser reload does not
    lose them; back at the saved version, the kept copy is removed. What went otherwise (a workspace that cannot take
    them, four other open tabs keeping theirs, closed tabs' edits dropped to make room) is ``d.note``, said in the
    unsaved-changes banner: the edits are still on screen."""
    if d.kept is d.current or (d.kept is None and not d.dirty) or d.kept == d.current:
        return
    try:
        done = editing.save_draft(dataset_id, d.base, d.saved, d.current, tab_id(), is_open=_tab_open)
    except StudioError as exc:
        d.note = (f"not kept for a browser reload ({exc})", "Save them to keep them.")
        return
    if not done.kept:  # tried again on the next run (any click): by then one of those tabs may be closed
        d.kept = None
        d.note = (f"not kept for a browser reload: {done.open_tabs} other tabs open now keep theirs to this dataset, "
                  f"the most the workspace keeps ({editing.DRAFT_TABS} tabs per dataset)",
                  "Save them, or close one of those tabs and they are kept at your next click here.")
        return
    d.kept = d.current
    d.handed_over = False
    if done.dropped:
        tabs = done.dropped - done.dropped_command_line
        whose = " and ".join(
            ([f"{'a closed tab' if tabs == 1 else f'{tabs} closed tabs'}"] if tabs else [])
            + (["the command line (dataset create --keep-invalid: its records to fix)"] if done.dropped_command_line
               else []))
        d.note = (f"kept for a browser reload, and to make room the unsaved changes {whose} left to this dataset were "
                  f"dropped, the oldest (the workspace keeps those of {editing.DRAFT_TABS} tabs per dataset, never "
                  "dropping an open tab's)", None)
    elif d.note and d.note[0].startswith("not kept"):
        d.note = None  # kept now: the earlier "not kept" no longer holds


def keep_again_if_dropped(info: store.DatasetInfo, d: Draft) -> None:
    """This tab's kept unsaved edits gone meanwhile though the tab is open (dropped while the server took it for
    closed: restarted, or Streamlit's session API failing): a reload would have lost them, unsaid. Kept again now,
    said in the banner. Edits another tab brought in ("Bring them here") are that tab's now: not kept again here until
    this tab edits them again."""
    if (not d.dirty or d.kept is None or d.handed_over
            or editing.draft_stamp(info.id, tab_id()) is not None):
        return
    try:
        if not store.dataset_path(info.id).is_dir():
            return  # the dataset was deleted meanwhile: nothing to keep the edits beside
    except StudioError:
        return
    if editing.draft_taken(info.id, tab_id()):
        d.handed_over = True
        return
    d.kept = None
    keep(info.id, d)
    if d.kept is not None:
        d.note = ("dropped from the workspace while other tabs kept theirs, and kept again now so a browser reload "
                  "finds them", "Save them to be sure.")


def banner(summary: str, d: Draft) -> str:
    """The one line that says what this tab holds unsaved, where it is kept and what to do; ``d.note`` said once."""
    note, d.note = d.note, None
    lead = ("Unsaved changes brought in from another tab" if d.brought else
            "Unsaved changes from before the reload" if d.restored else "Unsaved changes")
    todo = ("Save them, or press Discard changes to go back to the saved version." if d.restored or d.brought
            else None)
    if note is None:
        return f"{lead}: {summary} (kept in this workspace). {todo}" if todo else f"{lead}: {summary}."
    what, action = note
    return f"{lead}: {summary}; {what}." + (f" {action or todo}" if action or todo else "")
