"""The working copy behind the table editor: which rows a page shows, and how edits merge back.

A large dataset is edited one page (or one search result) at a time. ``view`` picks the record
indices the editor shows; the editor returns rows tagged with ``ROW`` (the record's index, or None for
a new row); ``merge_view`` puts them back into the full list, keeping fields the editor does not show.
A dataset whose records carry a passage also shows and edits it (``columns``); others are unchanged.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from studio import atomic
from studio.data import store, validate
from studio.data.display import plural
from studio.errors import StudioError

Record = dict[str, object]
ROW = "_row"  # hidden column: the record's index in the full list (None/NaN for added rows)
COLUMNS = ("question", "answer")
CONTEXT = "context"  # the optional passage: a column of its own when some record has one


@dataclass(frozen=True)
class View:
    indices: list[int]  # record indices shown, in order
    total: int  # records matching the search (all records when there is none)
    pages: int  # number of pages for that match


def view(records: list[Record], query: str = "", page: int = 1, page_size: int = 200,
         only: set[int] | None = None, grown: int = 0, keep: set[int] | frozenset[int] = frozenset()) -> View:
    """The indices on ``page`` (1-based) of the records whose question, answer or passage contains
    ``query`` (and, with ``only``, whose index is in it: the records still to fix). ``grown``: records added at the
    page's end while it was shown (``merge_view`` puts them after its last record), kept on it too: on a full page
    they would have moved to the next one as the table was built again, out of sight of the person adding them.
    ``keep``: records shown on the page whether they match or not (rows added in the table under a search or the
    records to fix: typed in whole, one that did not match went out of sight as the table was built again)."""
    q = query.strip().casefold()
    candidates = range(len(records)) if only is None else sorted(i for i in only if i < len(records))
    if q:
        matches = [i for i in candidates
                   if any(q in as_text(records[i].get(c)).casefold() for c in (*COLUMNS, CONTEXT))]
    else:
        matches = candidates
    pages = max(1, math.ceil(len(matches) / page_size))
    page = min(max(1, page), pages)
    start = (page - 1) * page_size
    indices = list(matches[start:start + page_size + max(0, grown)])
    if keep:
        indices = sorted({*indices, *(i for i in keep if i < len(records))})
    return View(indices=indices, total=len(matches), pages=pages)


def columns(records: list[Record]) -> tuple[str, ...]:
    """The editable columns: question and answer, and the passage when any record has one."""
    return (*COLUMNS, CONTEXT) if any(CONTEXT in r for r in records if type(r) is dict) else COLUMNS


CUT = 2000  # characters of a value the table shows: a 50 MB answer went to the browser whole at each rerun (22 s)


def cut(text: str) -> str:
    """``text`` as the table shows it: whole up to ``CUT`` characters, else its start and its length."""
    return text if len(text) <= CUT else f"{text[:CUT]}… ({len(text):,} characters in all)"


def editor_rows(records: list[Record], indices: list[int], shown: tuple[str, ...] = COLUMNS) -> list[dict]:
    """The rows the editor shows: the ``shown`` fields as text (a long one ``cut``), plus the hidden row index."""
    return [{ROW: i, **{c: cut(as_text(records[i].get(c))) for c in shown}} for i in indices]


def long_cells(records: list[Record], indices: list[int], shown: tuple[str, ...] = COLUMNS) -> list[tuple[int, str]]:
    """(record index, field) of each value among ``indices`` the table shows cut, in the table's order."""
    return [(i, c) for i in indices for c in shown if len(as_text(records[i].get(c))) > CUT]


def as_text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _row_index(value: object) -> int | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _clean(value: object) -> str:
    """An editor cell back to text: empty cells (None/NaN) become ""; text is kept exactly."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value if isinstance(value, str) else str(value)


def _with_context(rec: Record, old: Record, cell: str) -> Record:
    """``rec`` with the passage the editor's ``cell`` holds: an emptied cell removes it, an untouched
    one keeps the value as it was (a non-text value shown as JSON included)."""
    if as_text(old.get(CONTEXT)) == cell:
        return rec
    if not cell.strip():
        return {k: v for k, v in rec.items() if k != CONTEXT}
    return {**rec, CONTEXT: cell}


def blank_row(row: dict, shown_columns: tuple[str, ...] = COLUMNS) -> bool:
    """Whether an editor row holds nothing: added so, it is an accident of the editor, not a record."""
    ctx = _clean(row.get(CONTEXT)) if CONTEXT in shown_columns else ""
    return not (_clean(row.get("question")) or _clean(row.get("answer")) or ctx.strip())


def merge_view(records: list[Record], indices: list[int], rows: list[dict],
               shown_columns: tuple[str, ...] = COLUMNS, new: list[Record] | None = None,
               replaced: dict[int, Record] | None = None,
               refused: list[tuple[int, str]] | None = None) -> list[Record]:
    """The full list after the editor's ``rows`` replace the records at ``indices``.

    Rows keep their record's extra fields; records of the view missing from ``rows`` were deleted;
    rows without an index are new and go right after the record of the view above them in the editor (one with none
    above it: before the view's first record, or at the end of an empty view), so each stays where it was typed among
    the rows it was typed between (also appended to ``new``, in the editor's order: the rows its # column does not
    number yet). ``replaced``, when given, gets each edited record's
    new version under the ``id`` of the record it replaces. A value the table shows ``cut`` keeps its whole text: left
    as shown, it is the saved value; changed there, the change is not kept and its (record index, field) goes to
    ``refused`` (the table holds its start only: an edit of it would save that start in place of the whole).
    """
    shown = set(indices)
    kept: dict[int, Record] = {}
    added: list[Record] = []
    after: dict[int | None, list[Record]] = {}  # new records by the record row above them (None: no row above)
    above: int | None = None
    edit_context = CONTEXT in shown_columns
    for row in rows:
        idx = _row_index(row.get(ROW))
        q, a = _clean(row.get("question")), _clean(row.get("answer"))
        ctx = _clean(row.get(CONTEXT)) if edit_context else ""
        if idx is not None and idx in shown and idx not in kept:
            old = records[idx]
            cells = {"question": q, "answer": a, CONTEXT: ctx}
            for c in shown_columns:
                whole = as_text(old.get(c))
                if len(whole) > CUT:
                    if cells[c] != cut(whole) and refused is not None:
                        refused.append((idx, c))
                    cells[c] = whole
            q, a, ctx = cells["question"], cells["answer"], cells[CONTEXT]
            same_context = not edit_context or as_text(old.get(CONTEXT)) == ctx
            if old.get("question") == q and old.get("answer") == a and same_context:
                kept[idx] = old
            elif as_text(old.get("question")) == q and as_text(old.get("answer")) == a and same_context:
                kept[idx] = old  # a non-text value the editor showed as JSON, untouched
            else:
                rec = {**old, "question": q, "answer": a}
                kept[idx] = _with_context(rec, old, ctx) if edit_context else rec
                if replaced is not None:
                    replaced[id(old)] = kept[idx]
            above = idx
        elif not blank_row(row, shown_columns):
            added.append({"question": q, "answer": a, **({CONTEXT: ctx} if ctx.strip() else {})})
            after.setdefault(above, []).append(added[-1])
    first = min(indices) if indices else None
    out: list[Record] = []
    for i, rec in enumerate(records):
        if i == first:
            out.extend(after.get(None, ()))
        if i in shown:
            if i in kept:
                out.append(kept[i])
                out.extend(after.get(i, ()))
        else:
            out.append(rec)
    if first is None:
        out.extend(after.get(None, ()))
    if new is not None:
        new.extend(added)
    return out


def changes(before: list[Record], after: list[Record]) -> store.Diff:
    """``store.diff_records``, quick on large working copies.

    The common head and tail are skipped first. The editor keeps every untouched record as the same
    object, so those objects anchor the rest in one pass; lists without shared objects (two versions
    read from disk) fall back to ``store.diff_records``.
    """
    if before is after or before == after:
        return store.Diff(added=[], removed=[], edited=[])
    head = 0
    limit = min(len(before), len(after))
    while head < limit and before[head] == after[head]:
        head += 1
    tail = 0
    while tail < limit - head and before[-1 - tail] == after[-1 - tail]:
        tail += 1
    old, new = before[head:len(before) - tail], after[head:len(after) - tail]
    where = {id(r): i for i, r in enumerate(old)}
    anchors = [(where[id(r)], j) for j, r in enumerate(new) if id(r) in where]
    in_order = all(a[0] < b[0] for a, b in zip(anchors, anchors[1:]))
    if not anchors or not in_order or len(where) != len(old):
        return store.diff_records(old, new, store.unique_ids(before, after))
    added: list[Record] = []
    removed: list[Record] = []
    edited: list[tuple[Record, Record]] = []
    prev_i = prev_j = -1
    ids: set[object] | None = None  # an id pairs records where no two share it in the whole lists
    for i, j in [*anchors, (len(old), len(new))]:
        if i - prev_i > 1 or j - prev_j > 1:  # most anchors follow one another: nothing between them to pair
            if ids is None:
                ids = store.unique_ids(before, after)
            pairs, gone, fresh = store.pair_records(old[prev_i + 1:i], new[prev_j + 1:j], ids)
            edited.extend((o, n) for o, n in pairs if o != n)
            removed.extend(gone)
            added.extend(fresh)
        prev_i, prev_j = i, j
    return store.Diff(added=added, removed=removed, edited=edited)


def rebase(base: list[Record], mine: list[Record], theirs: list[Record]) -> tuple[list[Record], int]:
    """My changes (``base`` -> ``mine``) applied on top of ``theirs``, a newer version of ``base``.

    Records I edited or removed are found in ``theirs`` by their content in ``base``; added records go
    at the end. An edit to a record that they changed or removed too is not applied (theirs wins) and
    counted in the second value, so the caller can say so.
    """
    merged, clashed = rebase_naming(base, mine, theirs)
    return merged, len(clashed)


def rebase_naming(base: list[Record], mine: list[Record], theirs: list[Record]) -> tuple[list[Record], list[int]]:
    """``rebase``, with the record numbers (from 1, in ``base``) of the edits not applied, for a notice to name."""
    diff = changes(base, mine)
    key = lambda r: json.dumps(r, sort_keys=True, ensure_ascii=False)  # noqa: E731
    where: dict[str, list[int]] = {}
    for i, rec in enumerate(theirs):
        where.setdefault(key(rec), []).append(i)
    number = {id(r): i + 1 for i, r in enumerate(base)}
    out = list(theirs)
    dropped: set[int] = set()
    clashed: list[int] = []
    for old, new in diff.edited:
        spots = where.get(key(old))
        if spots:
            out[spots.pop(0)] = new
        else:
            clashed.append(number.get(id(old)) or next((i + 1 for i, r in enumerate(base) if r == old), 0))
    for old in diff.removed:
        spots = where.get(key(old))
        if spots:
            dropped.add(spots.pop(0))
    return [r for i, r in enumerate(out) if i not in dropped] + list(diff.added), sorted(clashed)


def summary(diff: store.Diff) -> str:
    """"2 added, 1 removed, 3 edited, 4 moved" (only the parts that are not zero; moved: the same record in another
    place)."""
    parts = [f"{len(diff.added):,} added", f"{len(diff.removed):,} removed", f"{len(diff.edited):,} edited",
             f"{diff.moved:,} moved"]
    return ", ".join(p for p in parts if not p.startswith("0 ")) or "no changes"


def save_message(saved: list[Record], current: list[Record], *, start: list[Record] | None = None,
                 origin: str | None = None) -> str:
    """What a save with no message typed records: "edited" for edits alone; for records brought in (``start``: the
    working copy as they came, an import or another tab's records to fix; ``origin``: "imported faq.csv") what the save
    was, "imported faq.csv: fixed 2 records (3 added)" (every save read "edited", the fixes and the import unsaid).
    A record fixed is one of ``start``'s invalid records, edited since."""
    fixed = 0
    if start is not None and start is not current:
        bad = {id(start[p.record - 1]) for p in validate.errors(validate.validate(start)) if 0 < p.record <= len(start)}
        if bad:
            fixed = sum(1 for before, _ in changes(start, current).edited if id(before) in bad)
    if not origin and not fixed:
        return "edited"
    words = summary(changes(saved, current))
    done = f"fixed {plural(fixed, 'record')} ({words})" if fixed else f"({words})"
    return f"{origin}: {done}" if origin and fixed else f"{origin} {done}" if origin else done


def append(records: list[Record], new: list[Record], skip_existing: bool = True) -> tuple[list[Record], int]:
    """``records`` followed by ``new``; with ``skip_existing``, records already present (the same question,
    answer and passage) are left out.

    Returns the merged list and how many records were skipped.
    """
    if not skip_existing:
        return records + new, 0
    key = lambda r: (str(r.get("question", "")).strip(), str(r.get("answer", "")).strip(),  # noqa: E731
                     str(r.get(CONTEXT) or "").strip())
    seen = {key(r) for r in records}
    out = list(records)
    skipped = 0
    for rec in new:
        k = key(rec)
        if k in seen:
            skipped += 1
            continue
        seen.add(k)
        out.append(rec)
    return out, skipped


def scalarsas_text(records: list[Record], numbers: set[int] | frozenset[int]) -> tuple[list[Record], list[int]]:
    """``records`` with each question or answer that is a number or true/false written as the text the editor
    shows for it (11 -> "11", true -> "true"), among the records numbered (from 1) in ``numbers``; and the numbers
    of the records changed. Retyping the shown text is no edit to the editor, so such a record brought in to fix
    could not be saved until other text was typed; the caller says which records were changed."""
    out, changed = list(records), []
    for n in sorted(numbers):
        rec = records[n - 1]
        if not isinstance(rec, dict):
            continue
        texts = {f: as_text(rec[f]) for f in COLUMNS if validate.is_scalar(rec.get(f))}
        if texts:
            out[n - 1] = {**rec, **texts}
            changed.append(n)
    return out, changed


def aliases_as_fields(records: list[Record], numbers: set[int] | frozenset[int]) -> tuple[list[Record], list[tuple[int, str, str]]]:
    """``records`` with each record numbered (from 1) in ``numbers`` that lacks its question or answer (or has it
    empty) but gives it under another usual name ("prompt", "instruction", "output", "response", ...) taking that
    field as its question or answer, renamed where it stood; and (record number, the name, "question"/"answer") for
    each. Brought in as it was, the text sat in a field the editor does not show, and an export carried it beside
    the question typed in its place."""
    from studio.data.formats import ANSWER_NAMES, QUESTION_NAMES

    names = {"question": set(QUESTION_NAMES) - {"question"}, "answer": set(ANSWER_NAMES) - {"answer"}}
    out, renamed = list(records), []
    for n in sorted(numbers):
        rec = out[n - 1]
        if not isinstance(rec, dict):
            continue
        for field, usual in names.items():
            if isinstance(rec.get(field), str) and rec[field].strip() or validate.is_scalar(rec.get(field)):
                continue
            found = [k for k, v in rec.items() if k.lower() in usual and isinstance(v, str) and v.strip()]
            if len(found) != 1:  # none, or two (which one?): left to fix
                continue
            rec = {(field if k == found[0] else k): v for k, v in rec.items() if k != field}
            renamed.append((n, found[0], field))
        out[n - 1] = rec
    return out, renamed


@dataclass(frozen=True)
class BroughtIn:
    """Every record of a file with invalid ones, as "bring them all in to fix" brings them in (the Dataset page
    and ``dataset import --keep-invalid`` alike)."""

    records: list[Record]  # all of them, in file order, each number or true/false question or answer as its text
    as_text: list[int]  # the records (numbered from 1) whose number or true/false became its text: valid now
    to_fix: list[int]  # the records still invalid once that is done: to fix or delete before a save
    # (record number, the file's name for it, "question"/"answer"): a question or answer given under another usual
    # name in a record without one (``aliases_as_fields``), brought in as that record's question or answer
    renamed: tuple[tuple[int, str, str], ...] = ()
    # the first of them as the file held it and as it comes in ('12 as "12"'): the lines that say so show it, where
    # a fixed "11 as \"11\"" read, beside a file holding 12, as if its 12 had become 11
    example: str = '11 as "11"'

    def renamed_note(self) -> str:
        """The line naming the records whose question or answer came in from a field of another name ("" for none)."""
        if not self.renamed:
            return ""
        shown = ", ".join(f'record {n}\'s "{name}" as its {field}' for n, name, field in self.renamed[:5])
        more = f" and {len(self.renamed) - 5:,} more" if len(self.renamed) > 5 else ""
        return f"Taken in as the question or answer the record lacked: {shown}{more}."

    def as_text_note(self) -> str:
        """The line naming the records whose number or true/false question or answer came in as its text ("" for
        none)."""
        if not self.as_text:
            return ""
        n = self.as_text
        shown = ", ".join(str(i) for i in n[:10]) + (f" and {len(n) - 10:,} more" if len(n) > 10 else "")
        one = len(n) == 1
        return (f"{'Record' if one else 'Records'} {shown} of the file {'holds' if one else 'hold'} a number or "
                f"true/false as the question or answer: {'it comes' if one else 'they come'} in as "
                f"{'its' if one else 'their'} text ({self.example}), nothing to fix.")


def bring_all_in(records: list[Record], invalid: set[int] | frozenset[int]) -> BroughtIn:
    """``records`` with their invalid ones (numbered from 1 in ``invalid``) brought in to fix: a number or
    true/false question or answer becomes its text (``scalars_as_text``), which leaves such a record valid unless
    it has another error; the rest stay to fix."""
    named, renamed = aliases_as_fields(records, invalid)
    out, changed = scalarsas_text(named, invalid)
    # A record's errors are its own (a repeat of another question is only a warning): each changed one is
    # checked alone, so 200,000 records are not checked twice.
    fixed = {n for n in {*changed, *(r[0] for r in renamed)} if not validate.check([out[n - 1]]).errors}
    as_text_ = [n for n in changed if n in fixed]
    return BroughtIn(out, as_text_, [n for n in sorted(invalid) if n not in fixed], tuple(renamed),
                     *([_as_text_example(named[as_text_[0] - 1])] if as_text_ else []))


def _as_text_example(record: Record) -> str:
    """'12 as "12"': the first number or true/false question or answer of ``record`` as the file held it (JSON's
    spelling: true, not True) and as the text it comes in as."""
    value = next(record[f] for f in COLUMNS if validate.is_scalar(record.get(f)))
    return f'{json.dumps(value)} as "{as_text(value)}"'


@dataclass(frozen=True)
class CellChange:
    """One cell of the working copy that differs from the saved version."""

    record: int | None  # its record number (from 1) in the working copy; None for a deleted record
    field: str  # "question", "answer", "context", another field; "(new record)" or "(deleted)" for a whole record
    saved: str  # the saved text ("" for a new record)
    now: str  # the text now ("" for a deleted record)


def changed_cells(saved: list[Record], current: list[Record], diff: store.Diff | None = None) -> list[CellChange]:
    """Which cells the unsaved edits changed, in record order (deleted records last): the editor can mark no cell
    itself, so the page lists them. ``diff``: ``changes(saved, current)`` when the caller has it already."""
    diff = diff if diff is not None else changes(saved, current)
    if diff.empty:
        return []
    where = {id(r): n for n, r in enumerate(current, 1)}
    out: list[CellChange] = []
    for before, after in diff.edited:
        fields = [*before, *(k for k in after if k not in before)]
        out.extend(CellChange(where.get(id(after)), f, as_text(before.get(f)), as_text(after.get(f)))
                   for f in fields if before.get(f) != after.get(f))
    out.extend(CellChange(where.get(id(r)), "(new record)", "", _named(r)) for r in diff.added)
    out.sort(key=lambda c: c.record or 0)
    out.extend(CellChange(None, "(deleted)", _named(r), "") for r in diff.removed)
    return out


def _named(record: Record) -> str:
    """A whole record as the list of changes names it: its question and its answer as typed (a new record showed its
    question alone, so an answer typed or brought in wrong was nowhere to check before Save), and its passage when it
    has one; a record with none of them is "(empty record)" (a blank row said nothing of which record it was)."""
    question, answer = as_text(record.get("question")).strip(), as_text(record.get("answer")).strip()
    context = as_text(record.get(CONTEXT)).strip()
    if not question and not answer and not context:
        return "(empty record)"
    said = f"Q: {question or '(no question)'} · A: {answer or '(no answer)'}"
    return said + (f" · Passage: {context}" if context else "")


# ---- unsaved edits kept across a browser reload ----------------------------------------------------------------------

DRAFT_FILE = ".draft.json"  # in the dataset's folder, for edits no tab named (``.draft.<tab>.json`` for a tab's):
# goes with it when it is deleted; the leading dot keeps the public app's sync from committing it at every edit (its
# workspace is the visitor's own, so no one else reads it)
DRAFT_FORMAT = 1


def draft_patch(saved: list[Record], current: list[Record]) -> list:
    """``current`` written against ``saved``: runs of saved records as ``[start, stop]`` and every other record as
    ``{"record": ...}``. The editor keeps each untouched record as the same object, so one edit to a 200,000-record
    dataset is two runs and a record, not the whole working copy."""
    where = {id(r): i for i, r in enumerate(saved)}
    out: list = []
    for rec in current:
        i = where.get(id(rec))
        if i is None:
            out.append({"record": rec})
        elif out and isinstance(out[-1], list) and out[-1][1] == i:
            out[-1][1] = i + 1
        else:
            out.append([i, i + 1])
    return out


def apply_patch(saved: list[Record], patch: list) -> list[Record]:
    """The working copy ``draft_patch`` wrote; ValueError when ``patch`` does not fit ``saved``."""
    out: list[Record] = []
    for item in patch:
        if (isinstance(item, list) and len(item) == 2 and all(type(n) is int for n in item)
                and 0 <= item[0] <= item[1] <= len(saved)):
            out.extend(saved[item[0]:item[1]])
        elif isinstance(item, dict) and type(item.get("record")) is dict:
            out.append(item["record"])
        else:
            raise ValueError(f"not a piece of a working copy: {item!r:.80}")
    return out


DRAFT_TABS = 4  # browser tabs whose unsaved edits to one dataset are kept at once; a fifth drops the oldest closed one's
_TAB = re.compile(r"[0-9a-f]{1,32}")  # a tab id as the page makes them: nothing else goes into a file name


@dataclass(frozen=True)
class KeptDraft:
    """One tab's unsaved edits kept in a dataset's folder."""

    tab: str  # the browser tab whose edits they are ("" for none named: the command line's, or an older studio's)
    path: Path
    stamp: tuple[int, int]  # (modification time in ns, size): what a page compares before reading it again


def _draft_path(dataset_id: str, tab: str = "") -> Path:
    """``.draft.<tab>.json`` in the dataset's folder, one per tab (``.draft.json`` for none named)."""
    name = f".draft.{tab}.json" if tab and _TAB.fullmatch(tab) else DRAFT_FILE
    return store.dataset_path(dataset_id) / name


def kept_drafts(dataset_id: str) -> list[KeptDraft]:
    """Every tab's kept unsaved edits to ``dataset_id``, the most recently kept first ([] for none)."""
    try:
        folder = store.dataset_path(dataset_id)
        paths = [*folder.glob(".draft.*.json"), folder / DRAFT_FILE]
    except (OSError, StudioError):
        return []
    out = []
    for path in paths:
        tab = path.name[len(".draft."):-len(".json")] if path.name != DRAFT_FILE else ""
        if tab and not _TAB.fullmatch(tab):
            continue
        try:
            st = path.stat()
        except OSError:
            continue
        out.append(KeptDraft(tab, path, (st.st_mtime_ns, st.st_size)))
    return sorted(out, key=lambda k: k.stamp[0], reverse=True)


@dataclass(frozen=True)
class DraftKept:
    """What ``save_draft`` did with a tab's unsaved edits."""

    kept: bool = True  # False: not kept, every other tab keeping edits to the dataset is open (``open_tabs`` of them)
    dropped: int = 0  # closed tabs whose kept edits were dropped to make room
    open_tabs: int = 0
    dropped_command_line: bool = False  # one of them was the command line's (``dataset create --keep-invalid``)


def save_draft(dataset_id: str, base: int, saved: list[Record], current: list[Record], tab: str = "",
               is_open: Callable[[str], bool] | None = None) -> DraftKept:
    """Keep the unsaved working copy ``current`` (edits to version ``base``, whose records are ``saved``) in the
    workspace, atomically, so a reloaded browser finds it; a working copy equal to ``saved`` removes it. ``tab``: the
    browser tab whose edits they are (a reload keeps it; another tab is offered them, not handed them): each tab's are
    kept apart, so two tabs editing one dataset both keep theirs. Past ``DRAFT_TABS`` tabs, the oldest kept edits of
    other tabs that are closed (``is_open`` false; the command line's, of no tab, count as closed) are dropped to make
    room; when the others are all open, none is dropped and ``current`` is not kept (nor an older copy of it).
    ``is_open`` None (the command line, which cannot see the browser's tabs): nothing is dropped, ``current`` is kept
    beside the others (one kept copy too many is harmless; one dropped loses what an open tab is editing)."""
    if current == saved:
        drop_draft(dataset_id, tab)
        return DraftKept()
    others = [k for k in kept_drafts(dataset_id) if k.tab != tab]
    excess = len(others) - (DRAFT_TABS - 1)
    dropped: list[KeptDraft] = []
    if excess > 0 and is_open is not None:
        closed = [k for k in reversed(others) if not (k.tab and is_open(k.tab))]  # the oldest first
        if len(closed) < excess:  # dropping an open tab's would lose what it is editing now, unsaid
            drop_draft(dataset_id, tab)
            return DraftKept(kept=False, open_tabs=len(others) - len(closed))
        dropped = closed[:excess]
    atomic.write_json(_draft_path(dataset_id, tab), {"format": DRAFT_FORMAT, "base": base, "count": len(saved),
                                                     "patch": draft_patch(saved, current), "tab": tab}, indent=None)
    for old in dropped:
        old.path.unlink(missing_ok=True)
    return DraftKept(dropped=len(dropped), dropped_command_line=any(not k.tab for k in dropped))


def draft_stamp(dataset_id: str, tab: str = "") -> tuple[int, int] | None:
    """(modification time in ns, size) of ``tab``'s kept working copy, None when there is none: what a page
    compares before reading it again (reading it loads the version it is based on)."""
    try:
        st = _draft_path(dataset_id, tab).stat()
    except (OSError, StudioError):
        return None
    return st.st_mtime_ns, st.st_size


def draft_taken(dataset_id: str, tab: str) -> bool:
    """Whether another tab brought ``tab``'s kept edits in (``take_draft``: its file holds them, still naming
    ``tab``), rather than a fifth tab dropping them (``save_draft``). Read only once ``tab``'s own file is gone."""
    for k in kept_drafts(dataset_id):
        if k.tab == tab:
            continue
        try:
            if json.loads(k.path.read_text(encoding="utf-8")).get("tab") == tab:
                return True
        except (OSError, ValueError, AttributeError):
            continue
    return False


def drop_draft(dataset_id: str, tab: str = "") -> None:
    """Forget ``tab``'s kept working copy (saved, discarded, or back to the saved version); other tabs' stay."""
    try:
        _draft_path(dataset_id, tab).unlink(missing_ok=True)
    except (OSError, StudioError):
        pass  # the dataset is gone (its folder with it) or its folder cannot be written: nothing to forget


def take_draft(dataset_id: str, source: str, tab: str) -> bool:
    """Make ``source`` tab's kept edits ``tab``'s own (the page's "Bring them here"): moved, not copied, so they are
    not offered again; False when they are gone meanwhile. ``tab``'s own kept edits are replaced: the page offers
    this only to a tab without unsaved edits."""
    try:
        os.replace(_draft_path(dataset_id, source), _draft_path(dataset_id, tab))
    except (OSError, StudioError):
        return False
    return True


def load_draft(dataset_id: str, tab: str = "") -> tuple[int, list[Record], list[Record]] | None:
    """``tab``'s kept working copy of ``dataset_id`` as (its base version, that version's records, the working copy),
    or None when there is none. One that no longer fits its version (edited by hand, or the version is gone) is
    removed: an old draft must never pass for the person's edits."""
    try:
        path = _draft_path(dataset_id, tab)
    except StudioError:  # no such dataset (deleted meanwhile): nothing kept for it
        return None
    if not path.is_file():
        return None
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
        base = kept["base"]
        saved = store.load_version(dataset_id, base) if base else []
        if kept.get("format") != DRAFT_FORMAT or kept["count"] != len(saved):
            raise ValueError("not this version's draft")
        return base, saved, apply_patch(saved, kept["patch"])
    except (OSError, ValueError, TypeError, KeyError, StudioError):
        drop_draft(dataset_id, tab)
        return None
