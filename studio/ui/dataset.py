"""The Dataset page's widgets: pick/create/rename/delete, the table editor with its working copy, saving.

Session state (all namespaced ``dataset.*``):

- ``dataset.selected``: the selected dataset id; other pages (Train, Evaluate) read it.
- ``dataset.drafts``: ``{dataset_id: Draft}``, one working copy per dataset, kept while the session lives; its
  unsaved edits are also kept in the workspace (``editing.save_draft``), where a reloaded browser finds them again.
- ``dataset.conflicts``: ``{dataset_id: {"latest": int, "message": str}}`` after a refused save.
- ``dataset.flash``: a message shown once after the next rerun.
- ``dataset.refused``: ``{dataset_id: (message, errors)}``, a refused save shown once, after the rerun that marked
  the refused rows in the table.

Widget keys: ``dataset.picker``, ``dataset.search``, ``dataset.page``, ``dataset.editor.<id>.<nonce>``
(the table; a new nonce starts a fresh editor on the working copy), ``dataset.save_message``,
``dataset.new_name``, ``dataset.rename.<id>``, ``dataset.delete_sure.<id>``, ``dataset.conflict.*``.

The working copy (``Draft``, kept per browser tab for a reload) lives in ``studio.ui.dataset_drafts``; the import tab in
``studio.ui.dataset_import`` (its source read in the background in ``studio.ui.import_source``); the check, versions
and export tabs in ``studio.ui.dataset_tabs``.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from studio import config, ui
from studio.data import editing, store, validate
from studio.data.display import plural
from studio.errors import DatasetReplacedError, StudioError, VersionConflictError
from studio.models import text
from studio.ui import editor_place, numbers, popovers, streamlit_internals
from studio.ui.dataset_drafts import (  # noqa: F401 - claim_tab, working_copy, unsaved_summary: the page's API
    CONFLICTS,
    DRAFTS,
    SELECTED,
    Draft,
    Record,
    _tab_open,
    banner,
    claim_tab,
    draft,
    invalid,
    keep,
    keep_again_if_dropped,
    replace_working_copy,
    restore,
    tab_id,
    unsaved_summary,
    working_copy,
)

TEXT_WIDTH = 170  # pixels: the Edit table's text columns at least (they grow to fill the table)
# With a Problem or a Context column, the table's columns at least this wide (pixels) and its rows this tall: every
# column fits an 800 px window (the page's 466 px beside the sidebar, # and the row marker taking 107), and a cell's
# text wraps over three lines (Streamlit wraps a cell's text in rows taller than 4rem, 64 px). With 170 px text columns
# and a 150 px Problem column the table was 767 px wide there and scrolled sideways, Answer and Context out of sight.
WRAPPED_WIDTH, WRAPPED_ROW = 85, 72
ROW = 35  # pixels: a row of the table otherwise (Streamlit's own)
# characters of a question or answer one line of a 170 px column holds (about 6 px a character): past it, at 800 px a
# one-line row cut the sample's questions and answers mid-word ("How many players are on a so"), so the rows wrap
LINE_CHARS = 24
PAGE_SIZE = 200  # rows the editor shows at once; a 200,000-record dataset is edited page by page
OFFERED_SUMMARY = "dataset.offered_summary"  # {dataset_id: (tab, draft_stamp, summary)}: what the offer says, read once
FLASH = "dataset.flash"
REFUSED = "dataset.refused"
MANAGE_POPOVER = "dataset.manage_popover"  # whether "Create, rename or delete" is open (closed after its action)
SHOWN_NAME = "dataset.shown_name"  # (id, name, workspace) of the dataset shown: named again if it is deleted under
# this tab (not where the workspace changed: a token given or forgotten, signing in or out)
ORPHANED = "dataset.orphaned"  # (name, working copy, summary): unsaved edits to a dataset deleted meanwhile
DRAWN = "dataset.drawn"  # (dataset id, editor key, view, the key of the table it replaced or None): ``editor_place``
NUMBER = "_number"  # the editor's read-only # column: each row's record number, from 1
BOX_CHARS = 1_000_000  # a long value edited in a box of the page up to this; longer, downloaded and uploaded back
# pixels: the dataset box's width from its longest choice (a character of the page's font, about 8 px at most), with
# room for the arrow and padding; within a phone's width and a wide page's
PICKER_CHAR, PICKER_PAD, PICKER_MIN, PICKER_MAX = 8.5, 72, 280, 640
CUT_REFUSED = "dataset.cut_refused"  # {dataset id: line}: an edit in the table to a value it shows cut, not kept


def init() -> None:
    for key, value in {SELECTED: None, DRAFTS: {}, CONFLICTS: {}, FLASH: None, REFUSED: {}}.items():
        if key not in st.session_state:
            st.session_state[key] = value


md = ui.md  # user text made safe for Markdown: no formatting, links, emoji or HTML from a name or record


TAB = "dataset.tab"  # the selected tab, kept across reruns (a second upload no longer jumps back to Edit)
_GOTO = "dataset.goto_tab"
# Tabs drawn only while shown (the others on every run, so the editor and its typing survive a look at another tab).
# The Duplicates tab estimates its run (a timed sample of 1,000 texts) on each new version and settings: drawn on every
# run, a Save in the Edit tab paid for it (6.3 s against 0.67 s without, 5,000 very similar records, bench/save_rerun.py).
DRAWN_WHEN_OPEN = frozenset({"Duplicates"})


def go_to_tab(label: str) -> None:
    """Show ``label``'s tab after the next rerun (the tab widget cannot change once drawn this run)."""
    st.session_state[_GOTO] = label


_KEPT_TAB = "dataset.tab.kept"  # the tab last shown: Streamlit drops the tabs' state while another page is shown


def tabs(labels: list[str]) -> list:
    """The page's tabs, opening on the one asked for (``go_to_tab``: Edit after an import), else on the one this
    session last showed, back from another page too (it opened on Edit, the person's tab lost)."""
    label = st.session_state.pop(_GOTO, None) or (None if TAB in st.session_state else st.session_state.get(_KEPT_TAB))
    if label in labels:
        st.session_state[TAB] = label
    drawn = st.tabs(labels, key=TAB, on_change="rerun")
    st.session_state[_KEPT_TAB] = st.session_state.get(TAB)
    return drawn


def flash(message: str) -> None:
    st.session_state[FLASH] = message


def show_flash() -> None:
    """The message of the run before (saved, created, discarded), once. It sits in a container of its own, drawn on
    every run: shown on one run and gone on the next, it moved the tabs below it up a place, so the browser drew them
    anew while a click there was on its way, and the click was lost."""
    message = st.session_state.get(FLASH)
    box = st.container()
    if message:
        box.success(message, icon=":material/check_circle:")
        st.session_state[FLASH] = None
    with st.container():  # drawn on every run too, for the same reason
        _orphaned_offer()


def _orphaned(by_id: dict[str, store.DatasetInfo]) -> None:
    """The dataset this tab showed is gone (deleted in another tab, or its folder removed): unsaved edits this tab
    held to it were dropped from the page unsaid (its kept copy went to the trash with it). Kept for the offer."""
    gone, name, where = st.session_state.get(SHOWN_NAME) or (None, "", "")
    drafts = st.session_state[DRAFTS]
    # deleted, and a new dataset (its name imported again) given its id: the edits are to the old one
    for other in [k for k, o in drafts.items() if k in by_id and o.made_on and o.made_on != by_id[k].uid]:
        _orphan(by_id[other].name if other != gone else name, drafts.pop(other))
        st.session_state[CONFLICTS].pop(other, None)
    if gone is None or gone in by_id or where != str(config.home()):  # another workspace: its datasets, not deleted
        return
    st.session_state.pop(SHOWN_NAME, None)
    d = drafts.pop(gone, None)
    st.session_state[CONFLICTS].pop(gone, None)
    _orphan(name, d)


def _orphan(name: str, d: Draft | None) -> None:
    if d is not None and d.dirty:
        st.session_state[ORPHANED] = (name, d.current, editing.summary(editing.changes(d.saved, d.current)))


def _orphaned_offer() -> None:
    orphaned = st.session_state.get(ORPHANED)
    if not orphaned:
        return
    name, records, summary = orphaned
    st.warning(f"{md(name)} was deleted (in another tab, or its folder removed) while this tab held unsaved changes "
               f"to it ({summary}). Save them as a new dataset to keep them, or dismiss them.", icon=":material/warning:")
    c1, c2 = st.columns(2)
    if c1.button("Save them as a new dataset", key="dataset.orphaned.save", icon=":material/save:"):
        fixing = invalid(records)
        first = [r for i, r in enumerate(records) if i not in fixing]  # version 1 holds what is valid
        created = ui.run_or_error(store.create_dataset, store.name_from(f"{name} (unsaved changes)"), first,
                                  message="unsaved changes to a deleted dataset")
        if created:
            st.session_state.pop(ORPHANED, None)
            select(created.id)
            if fixing:  # the records still to fix wait in the editor, marked, as unsaved changes
                draft(created)
                replace_working_copy(created.id, records)
            flash(f"Saved as {md(created.name)}" + (f"; {plural(len(fixing), 'record')} to fix wait in the Edit tab "
                                                    "as unsaved changes." if fixing else "."))
            st.rerun()
    if c2.button("Dismiss them", key="dataset.orphaned.dismiss"):
        st.session_state.pop(ORPHANED, None)
        st.rerun()


# ---- choosing and managing datasets ------------------------------------------------------------

def select(dataset_id: str | None) -> None:
    st.session_state[SELECTED] = dataset_id


def picker() -> store.DatasetInfo | None:
    """The dataset selector and the create/rename/delete controls; returns the selected dataset."""
    datasets = store.list_datasets()
    by_id = {d.id: d for d in datasets}
    _orphaned(by_id)
    if st.session_state.get(SELECTED) not in by_id:
        select(datasets[0].id if datasets else None)
    selected = st.session_state[SELECTED]
    st.session_state["dataset.picker"] = selected
    # One row: the popover as wide as its label, the box the rest. In columns (3:2) the label was cut at 800 px
    # ("Create, rename o…"), and a person guessed what the button held.
    # The box as wide as its longest choice, so a narrow page wraps the row: taking the rest of it, the box read
    # "Soccer rules (sample) · 158 rec…" at 800 px.
    row = st.container(horizontal=True, vertical_alignment="bottom")
    named = {i: f"{d.name} · {plural(d.latest.count if d.latest else 0, 'record')}" for i, d in by_id.items()}
    row.selectbox(
        "Dataset", list(by_id), key="dataset.picker", format_func=named.get,
        width=min(PICKER_MAX, max(PICKER_MIN, PICKER_PAD + round(PICKER_CHAR * max(map(len, named.values()), default=0)))),
        on_change=lambda: select(st.session_state["dataset.picker"]),
        placeholder="No datasets yet: create or import one",
    )
    with popovers.popover(row, "Create, rename or delete", MANAGE_POPOVER, icon=":material/edit_note:"):
        _manage(by_id.get(selected))
    info = by_id.get(st.session_state[SELECTED])
    st.session_state[SHOWN_NAME] = (info.id, info.name, str(config.home())) if info else None
    return info


def _manage(info: store.DatasetInfo | None) -> None:
    if st.session_state.pop("dataset.new_name.clear", False):  # set before the box exists: it may still change
        st.session_state["dataset.new_name"] = ""
    name = st.text_input("New dataset name", max_chars=ui.SHORT_TEXT_CHARS, key="dataset.new_name")
    if st.button("Create empty dataset", key="dataset.create"):
        created = ui.run_or_error(store.create_dataset, name, [], message="created empty")
        if created:  # the box empties: a second press said the new dataset "already exists"
            st.session_state["dataset.new_name.clear"] = True
            select(created.id)
            flash(f"Created {md(created.name)}: add rows in the Edit tab or import a file.")
            popovers.close(MANAGE_POPOVER)
            st.rerun()
    if info is None:
        return
    st.divider()
    new_name = st.text_input("Rename to", value=info.name, max_chars=ui.SHORT_TEXT_CHARS, key=f"dataset.rename.{info.id}")
    if st.button("Rename", key="dataset.rename") and ui.run_or_error(store.rename_dataset, info.id, new_name):
        flash(f"Renamed to {md(new_name.strip())}.")
        popovers.close(MANAGE_POPOVER)
        st.rerun()
    st.divider()
    # a public app's visitor cannot reach the trash folder: there, deleting is what frees room in their workspace
    where = "its room is freed for new work" if config.tenancy() else "it moves to the workspace's trash folder"
    sure = st.checkbox(f"Yes, delete {md(info.name)} ({where})", key=f"dataset.delete_sure.{info.id}")
    if st.button("Delete dataset", key="dataset.delete", type="primary", disabled=not sure):
        dest = ui.run_or_error(store.delete_dataset, info.id)
        if dest:
            st.session_state[DRAFTS].pop(info.id, None)
            select(None)
            flash(f"Deleted {md(info.name)}." if config.tenancy() else f"Deleted {md(info.name)} (kept in {md(dest)}).")
            popovers.close(MANAGE_POPOVER)
            st.rerun()



def commit(info: store.DatasetInfo, records: list[Record], message: str) -> None:
    """Save ``records`` as the next version from another tab (e.g. a de-duplication review).

    Same rules as the Save button: validated first; a save based on an older version is refused and
    ``records`` stay on screen as unsaved changes with the conflict panel; on success, reruns the page.
    """
    d = draft(info)
    replace_working_copy(info.id, records, origin=message)  # refused, a later save still says what it was
    save(info, d, message, base_version=d.base)


def reset(info: store.DatasetInfo) -> None:
    """Drop the working copy: the next run loads the latest saved version."""
    d = st.session_state[DRAFTS].pop(info.id, None)
    st.session_state[CONFLICTS].pop(info.id, None)
    editing.drop_draft(info.id, tab_id())
    if d:  # keep the nonce moving so the editor widget starts fresh
        fresh = store.load_version(info.id) if store.list_versions(info.id) else []
        latest = store.get_dataset(info.id).latest
        st.session_state[DRAFTS][info.id] = Draft(base=latest.version if latest else 0, saved=fresh,
                                                  records=fresh, current=fresh, nonce=d.nonce + 1)


# ---- the Edit tab ----------------------------------------------------------------------------------

def edit_tab(info: store.DatasetInfo | None) -> None:
    if info is None:
        st.info("No dataset selected: create one (button above) or import a file in the Import tab.")
        return
    d = draft(info)
    keep_again_if_dropped(info, d)
    col_search, col_page = st.columns([3, 1], vertical_alignment="bottom")
    query = col_search.text_input("Search the records", max_chars=ui.SHORT_TEXT_CHARS, key="dataset.search",
                                  placeholder="words of a question, answer or passage",
                                  help="Finds the records whose question, answer or passage contains this text. Edits to "
                                       "the rows shown are kept when you search again or turn the page.")
    requested = numbers.page_to_show("dataset.page")  # one typed that is not there: the last good one, and a line
    only_key = f"dataset.only_fix.{info.id}"
    only_fix = bool(st.session_state.get(only_key))
    unmounted = d.drawn == d.nonce and f"dataset.editor.{info.id}.{d.nonce}" not in st.session_state
    if (query, requested, only_fix) != d.view or unmounted:
        # Another page or search, or the editor was unmounted (another dataset or page was shown):
        # fold its last edits into the working copy and start a fresh editor on it. Not an editor not drawn yet
        # (bumped by a save, a row added, a delete): its records are the working copy already, and a second bump
        # built each of those tables under a key skipped past (two bumps, three with a row added, per action)
        d.records = d.current
        d.nonce += 1
    if (query, requested, only_fix) != d.view:
        d.grown = 0  # another page or search: the rows added to the one before are on their own page again
        d.pinned = []
        d.blank = d.blank_seen = ()
    to_fix = d.to_fix()
    if not to_fix and only_fix:
        st.session_state.pop(only_key, None)  # nothing left to fix: show everything again
        only_fix = False
    filtered = bool(query.strip() or only_fix)
    pinned = {id(r) for r in d.pinned} if filtered else set()
    v = editing.view(d.records, query, requested, PAGE_SIZE, only=set(to_fix) if only_fix else None,
                     grown=0 if filtered else d.grown,
                     keep={i for i, r in enumerate(d.records) if id(r) in pinned} if pinned else frozenset())
    page = min(requested, v.pages)
    d.view = (query, page, only_fix)
    numbers.page_box(col_page, "dataset.page", v.pages)  # fewer pages (a search): it follows to the last one
    shown = d.columns()
    rows = editing.editor_rows(d.records, v.indices, shown)
    for row in rows:  # its record number, as the list of changed cells under the table names it
        row[NUMBER] = row[editing.ROW] + 1
    # A row added in the table goes right after the last record shown (``editing.merge_view``): the number it takes
    # is its # default, so it shows at once. The default is one number for every row added, so the table is built
    # again (below) before a second added row could show the same number; the blank rows it holds then come back
    # after its records, numbered on from them.
    first_new = (max(v.indices) if v.indices else len(d.records) - 1) + 2
    first_new = _with_blank_rows(rows, d.blank, shown, first_new)
    # No hidden column for the record's index: the table's column menu (its eye icon) lists hidden columns, and offered
    # "_row" (and "(index)") to show. A row's record is found from its row label instead (``_rows_back``).
    columns = [NUMBER, *shown]
    if to_fix:  # read-only: the reason a record cannot be saved yet, first: after two wide text columns it was
        for row in rows:  # cut off at the table's right edge ("question is empt")
            row["problem"] = to_fix.get(row[editing.ROW], "")
        columns.insert(1, "problem")
    frame = pd.DataFrame(rows, columns=columns, index=pd.RangeIndex(1, len(rows) + 1))
    wrapped = len(columns) > 3  # a Problem or a Context column beside Question and Answer: narrow columns that wrap
    text_width = WRAPPED_WIDTH if wrapped else TEXT_WIDTH
    # Rows that wrap each cell's text over three lines where the text is longer than a line (decided from the rows
    # the table is built with, so the height stays put while a person types); short texts keep one-line rows
    long_text = any(len(str(row.get(c) or "")) > LINE_CHARS for row in rows for c in ("question", "answer"))
    row_height = WRAPPED_ROW if wrapped or long_text else ROW
    key = f"dataset.editor.{info.id}.{d.nonce}"
    d.drawn = d.nonce
    # Room for the rows and two more to be added (an empty dataset's table was one row tall); past that the table
    # scrolls. The height depends on the rows it was built with only: Streamlit takes a table whose height changed
    # for a new one, and the browser drew it afresh, without the edit typed just before a row was added.
    edited = st.data_editor(
        frame, key=key, num_rows="dynamic", hide_index=True, width="stretch",
        # an empty cell (a new row's answer not typed yet) shows empty: the default grey "None" read as text
        placeholder="",
        height=min(38 + row_height * (max(len(frame) + 2, 5) + 1), 560 if row_height == ROW else 38 + row_height * 8),
        row_height=row_height, disabled=["problem", NUMBER],
        column_config={
            # The row labels, hidden: the column menu still lists them (as "(index)" without a name), so they are named
            # for what they are if shown there, the row's place in this table (the record number is #)
            "_index": st.column_config.NumberColumn("Row in this table", format="%d", disabled=True,
                                                    help="The row's place in this table; its record number is #"),
            # Pinned, so it stays narrow: every other column grows from its width to fill the table. Text columns 170 px
            # wide at least: "large" (400 px) put Answer past the right edge at 800 px, and cut it at 1280 px with the
            # Problem column
            NUMBER: st.column_config.NumberColumn("#", width="small", format="%d", default=first_new, pinned=True,
                                                  help="The record's number, as the list of unsaved changes names it"),
            "question": st.column_config.TextColumn("Question", width=text_width),
            "answer": st.column_config.TextColumn("Answer", width=text_width),
            editing.CONTEXT: st.column_config.TextColumn("Context", width=text_width,
                                                         help="The passage the question is about (optional)"),
            "problem": st.column_config.TextColumn("Problem", width=text_width,
                                                   help="Why the record cannot be saved yet: each reason in full is "
                                                        "under the table"),
        },
    )
    drawn = st.session_state.get(DRAWN)
    if drawn is None or drawn[1] != key:  # a table built anew: on the same page of the same search, in its place
        st.session_state[DRAWN] = drawn = (info.id, key, d.view,
                                           drawn[1] if drawn and (drawn[0], drawn[2]) == (info.id, d.view) else None)
    editor_place.keep_place(key, drawn[3])
    if to_fix:  # under the table: above it, its coming and going moved the table (and the row typed in) down by the
        # warning's height. Drawn before any rerun below: a toggle a run ends without forgets its state.
        st.warning(f"{len(to_fix):,} record{'s' if len(to_fix) > 1 else ''} must be fixed or deleted before this version "
                   "can be saved: the Problem column says why.", icon=":material/build:")
        _reasons_in_full(to_fix)
        st.toggle("Show only the records to fix", key=only_key)
    added: list[Record] = []
    replaced: dict[int, Record] = {}
    refused: list[tuple[int, str]] = []
    back = _rows_back(edited, rows)
    d.current = editing.merge_view(d.records, v.indices, back, shown, new=added, replaced=replaced, refused=refused)
    same_number, d.blank_seen = _new_rows(back, shown)
    if d.pinned and replaced:  # a row added under the search, edited since: its new version stays in sight
        d.pinned = [replaced.get(id(r), r) for r in d.pinned]
    keep(info.id, d)
    if refused:  # the table is built again with the value shown as it is (cut), and says why under it
        i, field = refused[0]
        st.session_state.setdefault(CUT_REFUSED, {})[info.id] = (
            f"Record {i + 1}'s {field} is {len(editing.as_text(d.records[i].get(field))):,} characters long: the table "
            "shows its start only, so an edit there is not kept. Edit it whole under the table, in Edit a long value.")
        _rebuild(d, added if filtered else [])
    if len(added) > 1 or same_number or any(text.shows(str(r["question"])) and text.shows(str(r["answer"]))
                                            for r in added):
        # An added row has its question and answer (or another row was added, blank ones too): built again, the table
        # numbers it as a record, and the next row added takes the number after it (its # default), not the same one.
        d.grown += len(added)
        _rebuild(d, added if filtered else [])
    if st.session_state.get(key, {}).get("deleted_rows"):
        # Rows deleted: the table is built again without them, so the # column numbers the records that are left as
        # the list of changes under it does (the records after a deleted one move up by one).
        _rebuild(d, added if filtered else [])
    if to_fix and invalid(d.current) != to_fix:
        # A record fixed (or a new one to fix): rebuild the table so its Problem column, the count above and
        # the "only the records to fix" view say what is left, not what was wrong when the table was built.
        _rebuild(d, added if filtered else [])
    _long_values(info, d, v.indices, shown, replaced)
    shown = f"{v.total:,} matching" if query.strip() else plural(len(d.current), "record")
    if only_fix:  # "41 records" above a table of the 2 to fix read as if the rest were gone
        shown = f"{v.total:,} to fix of {plural(len(d.current), 'record')}" + (" matching" if query.strip() else "")
    st.caption(f"{shown} · page {page} of {v.pages} · editing version {d.base} of {md(info.name)}. "
               "Double-click a cell to read or edit its whole text; add a row at the bottom of the table; select rows "
               "and press Delete to remove them.")
    save_bar(info, d)


def _rows_back(edited: pd.DataFrame, rows: list[dict]) -> list[dict]:
    """The editor's rows, each with the index of the record it shows (``editing.ROW``; None for a row added in it). A
    row keeps its label (1 to the rows the table was built with); one added gets a label past them."""
    return [{**row, editing.ROW: rows[label - 1][editing.ROW] if 1 <= label <= len(rows) else None}
            for label, row in zip(edited.index, edited.to_dict("records"))]


def _with_blank_rows(rows: list[dict], places: tuple[int, ...], shown: tuple[str, ...], first_new: int) -> int:
    """Put the blank rows the table held back into ``rows`` at the places they had (row positions in it, from 0), and
    return the # a row added next takes. A blank row under the last record is numbered on from it; one above a record
    (a row typed in below it became a record first) shows no # until typed in: moved under the records, the row typed
    in went up a place as the table was built again, out from under the person's eyes."""
    for place in sorted(places):
        rows.insert(min(place, len(rows)), {editing.ROW: None, NUMBER: None, **{c: "" for c in shown}})
    trailing = 0
    for row in reversed(rows):
        if row[editing.ROW] is not None:
            break
        trailing += 1
    for k, row in enumerate(rows[len(rows) - trailing:]):
        row[NUMBER] = first_new + k
    return first_new + trailing


def _new_rows(rows: list[dict], shown: tuple[str, ...]) -> tuple[bool, tuple[int, ...]]:
    """(whether two new rows of the table, added there or blank ones it was built with, show the same #, the places
    of its blank rows). Streamlit gives every row added the # default the table was built with."""
    new = [r for r in rows if r[editing.ROW] is None]
    numbers = [r.get(NUMBER) for r in new]
    numbers = [n for n in numbers if n is not None and n == n]  # n == n: not NaN
    blank = tuple(k for k, r in enumerate(rows) if r[editing.ROW] is None and editing.blank_row(r, shown))
    return len(set(numbers)) < len(numbers), blank


def _long_values(info: store.DatasetInfo, d: Draft, indices: list[int], shown: tuple[str, ...],
                 replaced: dict[int, Record]) -> None:
    """Where a value the table shows cut (over ``editing.CUT`` characters) is edited whole: picked, its whole text in a
    box of its own, sent to the browser only then (in the table, a 50 MB answer went there at every rerun)."""
    said = st.session_state.get(CUT_REFUSED, {}).pop(info.id, None)
    if said:
        st.error(said, icon=":material/content_cut:")
    cells = editing.long_cells(d.records, indices, shown)
    if not cells:
        return
    with st.container(border=True):
        pick = st.selectbox(
            "Edit a long value", cells, index=None, key=f"dataset.long.{info.id}.{d.nonce}",
            format_func=lambda cell: (f"Record {cell[0] + 1}'s {cell[1]} "
                                      f"({len(editing.as_text(d.records[cell[0]].get(cell[1]))):,} characters)"),
            placeholder=f"{plural(len(cells), 'value')} on this page {'is' if len(cells) == 1 else 'are'} over "
                        f"{editing.CUT:,} characters, shown cut in the table: pick one to edit it whole")
        if pick is None:
            return
        i, field = pick
        old = d.records[i]
        now = replaced.get(id(old), old)
        whole = editing.as_text(now.get(field))
        if len(whole) <= BOX_CHARS:
            text = st.text_area(f"Record {i + 1}'s {field}, whole", whole, height=240, max_chars=BOX_CHARS + 1,
                                key=f"dataset.long_text.{info.id}.{d.nonce}.{i}.{field}")
        else:  # a 50 MB text in a box of the page crashed Chromium's tab: edited in a text editor instead
            st.download_button(f"Download record {i + 1}'s {field} ({len(whole):,} characters)",
                               streamlit_internals.made_when_pressed(lambda: whole),
                               file_name=f"record-{i + 1}-{field}.txt", mime="text/plain", icon=":material/download:",
                               key=f"dataset.long_get.{info.id}.{d.nonce}.{i}.{field}", on_click="ignore")
            up = st.file_uploader(f"Too long to edit on the page: download it, edit it in a text editor and upload it "
                                  f"here to replace record {i + 1}'s {field} (UTF-8 text)", type=["txt"],
                                  key=f"dataset.long_put.{info.id}.{d.nonce}.{i}.{field}")
            text = whole
            too_big = ui.upload_too_big(up, "Not applied", f"shorten record {i + 1}'s {field} in the file first, or run "
                                        "the studio on your own machine, which takes files of any size.")
            if too_big:
                st.error(too_big)
            elif up is not None:
                try:
                    text = up.getvalue().decode("utf-8")
                except UnicodeDecodeError:
                    st.error("That file is not UTF-8 text: save it as UTF-8 and upload it again.")
        too_long = len(text) > BOX_CHARS and len(whole) <= BOX_CHARS  # pasted past what the box holds (cut there)
        if too_long:
            st.error(f"Record {i + 1}'s {field} as typed is over {BOX_CHARS:,} characters, more than a box of the page "
                     "holds, so not all of it reached the studio: not applied. Shorten it, or edit the dataset's file "
                     "outside the studio and import it.")
        if st.button("Apply to the working copy", key=f"dataset.long_apply.{info.id}.{d.nonce}",
                     icon=":material/check:", disabled=text == whole or too_long):
            changed = {**now, field: text}
            if field == editing.CONTEXT and not text.strip():
                changed.pop(field)
            d.current = [changed if r is now else r for r in d.current]
            keep(info.id, d)
            flash(f"Record {i + 1}'s {field} changed: save to keep it as a new version.")
            _rebuild(d, [])


def _offer(info: store.DatasetInfo, dirty: bool) -> None:
    """Other tabs' unsaved edits to ``info`` (open beside this one, or closed since), each kept in the workspace
    apart from this tab's: the latest said, with a button that brings them into this tab when it has no unsaved edits
    of its own (with some, how to make room for them). Edits made here never replace them. Made on a version older
    than the latest, they are brought in on top of the latest (what the conflict panel's "Apply my changes" does), so
    Save saves them rather than open the conflict panel over a version this tab never had."""
    others = [k for k in editing.kept_drafts(info.id) if k.tab != tab_id()]
    if not others:
        st.session_state.get(OFFERED_SUMMARY, {}).pop(info.id, None)
        return
    latest = others[0]
    seen = st.session_state.setdefault(OFFERED_SUMMARY, {}).get(info.id)
    if seen is None or seen[:2] != (latest.tab, latest.stamp):  # read again only when that tab kept new edits
        kept = editing.load_draft(info.id, latest.tab)
        if kept is None:  # no longer fits its version: dropped
            st.session_state[OFFERED_SUMMARY].pop(info.id, None)
            return
        seen = st.session_state[OFFERED_SUMMARY][info.id] = (latest.tab, latest.stamp,
                                                             editing.summary(editing.changes(kept[1], kept[2])), kept[0])
    now = info.latest.version if info.latest else 0
    more = (f" ({plural(len(others) - 1, 'other tab')} left some too: each is offered once this one is brought in)"
            if len(others) > 1 else "")
    # whose: a tab of this browser open now, or one closed since (a window closed, an earlier visit, a restart)
    who = ("The command line (dataset create --keep-invalid: the records to fix), or an older studio," if not latest.tab
           else "Another tab, open now," if _tab_open(latest.tab) else
           "A tab closed since (an earlier visit, or a window closed)")
    head = f"{who} left unsaved changes to this dataset: {seen[2]}, kept in this workspace apart from yours{more}."
    if seen[3] < now:
        head += (f" They were made on version {seen[3]}, and version {now} was saved since: brought in, they go on "
                 f"top of version {now} for you to check and save.")
    if dirty:
        st.info(f"{head} Save or discard this tab's changes first to bring those in.", icon=":material/tab:")
        return
    rule = (f"The workspace keeps the unsaved changes of {editing.DRAFT_TABS} tabs per dataset; a tab beyond that "
            "drops the oldest closed tab's, never an open tab's" + ("" if latest.tab else
                                                                    ", and these count as a closed tab's"))
    st.info(f"{head} Bring them here to go on with them. ({rule}.)", icon=":material/tab:")
    if st.button("Bring them here", key="dataset.draft.bring", icon=":material/move_down:"):
        old = st.session_state[DRAFTS].pop(info.id, None)
        if editing.take_draft(info.id, latest.tab, tab_id()) and (restored := restore(info)) is not None:
            restored.nonce = old.nonce + 1 if old else 0  # a fresh editor on the edits brought in
            restored.brought = True
            if restored.base < now:  # on top of the latest: Save saves them, no conflict panel
                theirs = store.load_version(info.id, now)
                made_on = restored.base
                merged, lost = editing.rebase_naming(restored.saved, restored.current, theirs)
                restored = Draft(base=now, saved=theirs, records=merged, current=merged, nonce=restored.nonce,
                                 brought=True, start=merged)
                keep(info.id, restored)
                flash(f"Brought in on top of version {now}: check the changes listed under the table, then "
                      f"Save.{_left_out(lost, made_on, now)}")
            st.session_state[DRAFTS][info.id] = restored
        st.session_state[OFFERED_SUMMARY].pop(info.id, None)
        st.rerun()


def _left_out(lost: list[int], made_on: int, now: int) -> str:
    """" The edit to record 2 (of version 1) was left out: ..." for the edits a rebase left out ("" for none): which
    ones, so the person checks them against version ``now`` ("1 of your edits touched records they changed too" named
    none)."""
    if not lost:
        return ""
    if len(lost) == 1:
        return (f" The edit to record {lost[0]} (of version {made_on}) was left out: version {now} changed that record "
                "too, and theirs was kept.")
    return (f" The edits to records {', '.join(map(str, lost[:10]))}{' …' if len(lost) > 10 else ''} (of version "
            f"{made_on}) were left out: version {now} changed those records too, and theirs were kept.")


def save_bar(info: store.DatasetInfo, d: Draft) -> None:
    """Unsaved-changes banner, Save and Discard, and the conflict panel after a refused save."""
    conflict = st.session_state[CONFLICTS].get(info.id)
    if conflict:
        _conflict_panel(info, d, conflict)
    if not d.dirty:
        if not conflict:
            st.caption(f"All changes saved (version {d.base}).")
        _offer(info, dirty=False)
        return
    diff = editing.changes(d.saved, d.current)
    # one line: what is unsaved, where it is kept (a reload's, or not kept and why) and what to do
    st.warning(banner(editing.summary(diff), d), icon=":material/history:" if d.restored else ":material/edit:")
    _changed_cells(editing.changed_cells(d.saved, d.current, diff))
    # One row: the buttons as wide as their labels, the box the rest (in columns, 3:1:1, "Discar…" at 800 px)
    row = st.container(horizontal=True, vertical_alignment="bottom")
    message = row.text_input("What changed (optional)", max_chars=ui.SHORT_TEXT_CHARS, key="dataset.save_message", placeholder="edited" if d.start is None else "left empty: what was fixed or imported")
    if row.button("Save", type="primary", key="dataset.save", icon=":material/save:"):
        save(info, d, message.strip() or editing.save_message(d.saved, d.current, start=d.start, origin=d.origin),
             base_version=d.base)
    if row.button("Discard changes", key="dataset.discard"):
        reset(info)
        flash("Changes discarded.")
        st.rerun()
    refused = st.session_state.setdefault(REFUSED, {}).pop(info.id, None)
    if refused:  # the save refused on the run before, which marked the rows in the table
        _refusal(*refused)
    _offer(info, dirty=True)


def _rebuild(d: Draft, added: list[Record]) -> None:
    """Build the table again on the working copy with this run's edits. ``added``: the rows added in it under a
    search or the records to fix, kept in sight there whether they match or not (they vanished as they were typed)."""
    d.records = d.current
    d.nonce += 1
    d.pinned.extend(added)
    d.blank = d.blank_seen
    st.rerun()


FIELD_WIDTH = 100  # pixels: the list of changes' Field column, "(new record)" whole ("small", 75 px, cut it)
CELLS_SHOWN = 500  # changed cells listed under the table; the banner above counts them all
REASONS_SHOWN = 100  # records to fix whose reasons are written out in full under the table


def _reasons_in_full(to_fix: dict[int, str]) -> None:
    """Each record's reason, wrapped: the table's Problem column cut a long one at its edge ("answer is missing (a
    question its passage does not ans"), and a read-only cell cannot be opened to read the rest."""
    numbers = sorted(to_fix)
    with st.expander("Why, in full"):
        st.markdown("\n".join(f"- **#{n + 1}**: {md(to_fix[n])}" for n in numbers[:REASONS_SHOWN]))
        if len(numbers) > REASONS_SHOWN:
            st.caption(f"The first {REASONS_SHOWN:,} are listed; show only the records to fix to see the rest in the "
                       "table.")


def _changed_cells(cells: list[editing.CellChange]) -> None:
    """Which cells the unsaved edits changed, saved text beside the text now. Streamlit's editor styles no cell a
    person can edit (a pandas Styler reaches read-only columns only), and a column of its own saying what changed
    would make a new table at each edit (a dynamic editor's identity is its data), dropping what was being typed:
    so the cells are listed here, and the list follows each edit."""
    if not cells:
        return
    rows = [{"record": c.record, "field": c.field, "saved": editing.cut(c.saved), "now": editing.cut(c.now)}
            for c in cells[:CELLS_SHOWN]]  # cut as the table's cells are: whole, a 50 MB answer went at each rerun
    st.caption(f"{plural(len(cells), 'change')}, cell by cell (the record numbers are the table's # column; deleted "
               "records last)" + (f"; the first {CELLS_SHOWN:,} are listed" if len(cells) > CELLS_SHOWN else "") + ":")
    # Rows that wrap each text over three lines where one is longer than a line, as the table above does: at 800 px a
    # record added by hand read "Q: What time does the shop open? · A: The sh" and its field "(new recorc"
    long_text = any(len(str(row[c] or "")) > LINE_CHARS for row in rows for c in ("saved", "now"))
    row_h = WRAPPED_ROW if long_text else ROW
    in_sight = 4 if long_text else 6  # rows before the list scrolls
    st.dataframe(rows, hide_index=True, width="stretch", height=min(38 + row_h * len(rows), 38 + row_h * in_sight),
                 row_height=row_h,
                 column_config={"record": st.column_config.NumberColumn("Record", width="small", format="%d"),
                                "field": st.column_config.TextColumn("Field", width=FIELD_WIDTH),
                                # narrow starts that grow to fill the list: sized to their text, Now ran past its edge
                                "saved": st.column_config.TextColumn("Saved", width=WRAPPED_WIDTH),
                                "now": st.column_config.TextColumn("Now", width=WRAPPED_WIDTH)})


def save(info: store.DatasetInfo, d: Draft, message: str, *, base_version: int) -> None:
    """Validate the working copy and save it as a new version; problems and conflicts stay on screen."""
    found = validate.check(d.current)
    errs = found.errors
    if errs:
        message = (f"Not saved: {plural(len(errs), 'error')} to fix first, in {plural(len(found.invalid), 'record')} "
                   "(record numbers count from 1; the Problem column of the table says why, on each row). Your edits "
                   "are kept.")
        if {n - 1 for n in found.invalid} != set(d.to_fix()):
            # The table does not mark these rows yet (a new row without an answer, an answer emptied): rebuild it on
            # the working copy, with the Problem column on the rows themselves, and say why after that rerun.
            d.records = d.current
            d.nonce += 1
            d.blank = d.blank_seen
            st.session_state.setdefault(REFUSED, {})[info.id] = (message, errs)
            st.rerun()
        _refusal(message, errs)
        return
    try:
        saved = store.save_version(info.id, d.current, base_version=base_version, message=message,
                                   made_on=d.made_on or None)
    except DatasetReplacedError:  # deleted and its name imported again since the edits began: offered as a new one
        _orphan(info.name, st.session_state[DRAFTS].pop(info.id, d))
        st.session_state[CONFLICTS].pop(info.id, None)
        st.rerun()
    except VersionConflictError as exc:
        st.session_state[CONFLICTS][info.id] = {"latest": exc.latest_version, "message": str(exc)}
        st.rerun()
    except StudioError as exc:
        ui.show_error(exc)
        return
    st.session_state[CONFLICTS].pop(info.id, None)
    editing.drop_draft(info.id, tab_id())
    records = d.current
    st.session_state[DRAFTS][info.id] = Draft(base=saved.version, saved=records, records=records,
                                              current=records, nonce=d.nonce + 1, view=d.view,
                                              grown=d.grown, pinned=d.pinned,  # rows added stay in sight
                                              blank=d.blank_seen, blank_seen=d.blank_seen, made_on=d.made_on)
    warns = found.warnings
    note = f" ({plural(len(warns), 'warning')}: see the Check tab)" if warns else ""
    flash(f"Saved version {saved.version}: {plural(saved.count, 'record')}{note}.")
    st.rerun()


def _refusal(message: str, errs: list[validate.Problem]) -> None:
    ui.show_error(message)
    problems_table(errs)


def _conflict_panel(info: store.DatasetInfo, d: Draft, conflict: dict) -> None:
    ui.show_error(conflict["message"], icon=":material/sync_problem:")
    latest = conflict["latest"]
    # A row that wraps, each button as wide as its label: in four fixed columns at 800 px "Apply my changes to version 2"
    # and "Save mine on top of version 2" were cut short
    show = st.toggle("Show their changes", key=f"dataset.conflict.show.{info.id}")
    row = st.container(horizontal=True, vertical_alignment="center")  # Apply first: it loses nothing of theirs or yours
    if row.button(f"Apply my changes to version {latest}", key="dataset.conflict.merge",
                 help="Their version with your edits, deletions and additions on top, as unsaved changes."):
        theirs = store.load_version(info.id, latest)
        merged, lost = editing.rebase_naming(d.saved, d.current, theirs)
        # what the edits were stays said in the save ("dedup: kept 3 of 5 applied on top of version 2 (2 removed)")
        st.session_state[DRAFTS][info.id] = Draft(base=latest, saved=theirs, records=merged, current=merged,
                                                  nonce=d.nonce + 1, restored=d.restored, start=merged,
                                                  origin=f"{d.origin or 'edits'} applied on top of version {latest}",
                                                  made_on=d.made_on)
        st.session_state[CONFLICTS].pop(info.id, None)
        flash(f"Your changes are now on top of version {latest}: review and Save.{_left_out(lost, d.base, latest)}")
        st.rerun()
    if row.button("Load latest (discard mine)", key="dataset.conflict.load"):
        reset(info)
        flash(f"Loaded version {latest}; your edits were discarded.")
        st.rerun()
    if row.button(f"Save mine on top of version {latest}", key="dataset.conflict.force",
                 help="Their version stays in the history (Versions tab); yours becomes the latest."):
        typed = str(st.session_state.get("dataset.save_message") or "").strip()
        said = typed or editing.save_message(d.saved, d.current, start=d.start, origin=d.origin)
        save(info, d, f"{said} (saved over a newer version)", base_version=latest)
    if show:
        theirs = store.load_version(info.id, latest)
        diff_view(editing.changes(d.saved, theirs), f"version {d.base} → version {latest}", numbered(d.saved, theirs))


# ---- shared displays -------------------------------------------------------------------------------

PROBLEMS_IN_FULL = 8  # problems listed at full height; more, and the list scrolls


def problems_table(problems: list[validate.Problem], limit: int = 2000) -> None:
    """The problems by record, each message whole: a static table, whose cells wrap (in a data grid a long one, "same
    question as record 1, apart from case, spacing or pun", was cut at the column's edge at 800 px)."""
    rows = [{"record": p.record, "severity": p.severity, "problem": md(p.message)} for p in problems[:limit]]
    st.table(rows, hide_index=True, height="content" if len(rows) <= PROBLEMS_IN_FULL else 360)
    if len(problems) > limit:
        st.caption(f"The first {limit:,} are listed; {len(problems) - limit:,} more are not.")


def numbered(before: list[Record], after: list[Record]) -> dict[int, int]:
    """Each record's number (from 1) in its list, by identity: a removed record's in ``before``, the others' in
    ``after`` (``diff_view``)."""
    return {id(r): n for records in (before, after) for n, r in enumerate(records, 1)}


def diff_view(diff: store.Diff, title: str, numbers: dict[int, int] | None = None) -> None:
    """What changed, as three read-only tables (record text is never rendered as HTML); with ``numbers``
    (``numbered``), each record's number in its version first, the number the Edit tab's # column showed."""
    numbers = numbers or {}
    st.markdown(f"**{md(title)}**: {editing.summary(diff)}")
    number = {"record": st.column_config.NumberColumn("Record", width="small", format="%d",
                                                      help="Its number in the version it is in (a removed record: in "
                                                           "the earlier one)")}
    if diff.added:
        with st.expander(f"Added ({len(diff.added):,})"):
            shown = diff.added[:listed(diff.added)]
            _wrapped_table(_qa(shown, numbers), number)
            _more(len(shown), len(diff.added))
    if diff.removed:
        with st.expander(f"Removed ({len(diff.removed):,})"):
            shown = diff.removed[:listed(diff.removed)]
            _wrapped_table(_qa(shown, numbers), number)
            _more(len(shown), len(diff.removed))
    if diff.edited:
        with st.expander(f"Edited ({len(diff.edited):,})"):
            pairs = diff.edited[:listed(diff.edited)]
            _wrapped_table(_edited_rows(pairs, numbers),
                           {**number, **{k: st.column_config.TextColumn(k.capitalize(), width=WRAPPED_WIDTH)
                                         for k in ("field", "before", "after")}})
            _more(len(pairs), len(diff.edited))


COMPARED_RECORDS = 2000  # records (or edited pairs) listed in each of a comparison's tables at most
COMPARED_BYTES = 4 * 2**20  # and text in each, cut as shown: the table travels in one message (the app's limit: 16 MB)


def listed(items: list) -> int:
    """How many of a comparison's records (or before/after pairs) its table lists: at most ``COMPARED_RECORDS``, and
    no more than ``COMPARED_BYTES`` of their text as the table shows it (2,000 records of 2,000-character answers and
    passages in a script of 3 bytes a character, before and after, made a table of about 70 MB: past the largest
    message the app sends, the tab failed to draw)."""
    size = 0
    for n, item in enumerate(items[:COMPARED_RECORDS]):
        records = item if isinstance(item, tuple) else (item,)
        size += sum(len(editing.cut(v).encode()) if isinstance(v, str) else 8 for r in records for v in r.values())
        if size > COMPARED_BYTES and n:
            return n
    return min(len(items), COMPARED_RECORDS)


def _more(shown: int, total: int) -> None:
    if shown < total:
        st.caption(f"The first {shown:,} of {total:,} are listed here.")


def _edited_rows(pairs: list[tuple[Record, Record]], numbers: dict[int, int]) -> list[dict]:
    """Each edited record's changed fields, one row each (record, field, before, after): a column before and after
    for every field made seven with passages, and the table scrolled sideways at 800 px, Context out of sight."""
    rows = []
    for b, a in pairs:
        for f in [*b, *(k for k in a if k not in b)]:
            if b.get(f) != a.get(f):
                rows.append({**({"record": numbers[id(a)]} if id(a) in numbers else {}), "field": f,
                             "before": _cut(b.get(f)), "after": _cut(a.get(f))})
    return rows


def _wrapped_table(rows: list[dict], config: dict) -> None:
    """A comparison's records, each text column from a narrow start and its cells wrapping in taller rows, as the Edit
    tab's table with a Problem column: sized to their text, Question and Answer ran past the edge at 800 px (480 px
    in 432), to scroll to."""
    texts = {c: st.column_config.TextColumn(c, width=WRAPPED_WIDTH) for c in dict.fromkeys(k for r in rows for k in r)
             if c not in config}
    st.dataframe(rows, hide_index=True, width="stretch", row_height=WRAPPED_ROW, column_config={**texts, **config})


def _qa(records: list[Record], numbers: dict[int, int]) -> list[dict]:
    shown = editing.columns(records)
    return [{**({"record": numbers[id(r)]} if id(r) in numbers else {}), **{c: _cut(r.get(c)) for c in shown}}
            for r in records]


def _cut(value: object) -> object:
    """A text cut as the Edit tab's table cuts it: the Versions tab compares the last two versions at every rerun of the
    page, and a 50 MB answer edited between them went to the browser twice each time."""
    return editing.cut(value) if isinstance(value, str) else value
