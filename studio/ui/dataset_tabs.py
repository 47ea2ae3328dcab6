"""The Dataset page's Import, Check, Versions and Export tabs; each takes the selected dataset (or None).

Session state: ``dataset.import`` names the parsed upload (its ``file_id``, ``turns`` and ``key``): the parsed file, its
mapped records and problems for the last mapping are held in ``held.previews``, one byte budget for every session,
and read again from the source once dropped there; ``dataset.import.nonce`` is part of the uploader's key, bumped to clear it after an
import; ``dataset.import.load`` holds the background read of a Hub dataset or a path on this machine
(a ``_SourceLoad`` task, with the source it reads) until it lands in ``dataset.import``, stopped when another source is
picked or the box cleared; ``dataset.check.asked`` remembers large versions the user asked to check; ``dataset.push``
holds the Hub push job (a ``studio.tasks.Task`` run by a worker thread).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from studio import config, device, jobs, ui
from studio.data import (
    csv_cells,
    csv_rows,
    editing,
    formats,
    held,
    hub,
    import_folders,
    plots,
    stats,
    store,
    validate,
    writers,
)
from studio.errors import CancelledError, StudioError
from studio.tasks import Task
from studio.ui import dataset as dui
from studio.ui import streamlit_internals

IMPORT = "dataset.import"
AUTO_CHECK = 20_000  # larger saved versions are checked on request
PUSH = "dataset.push"
PUSHED = "dataset.push.for"  # (dataset id, "Name, version N (M records)") of that push
LOAD = "dataset.import.load"  # the background read of a Hub dataset or a path
NONE = "(none)"  # the label of the Import tab's "no field" choice, unless the file has a field of that name


@dataclasses.dataclass(frozen=True)
class _NoField:
    """The Import tab's choice of no field for the question, answer or context: a value no field name can equal (the
    choice was the text "(none)", and a file's own field "(none)" picked was read as no field)."""


NO_FIELD = _NoField()


def _none_label(fields: list[str]) -> str:
    """The label of the no-field choice: "(none)", or one no field of the file is named (Streamlit tells the choices
    of a selectbox apart by their labels)."""
    label, n = NONE, 1
    while label in fields:
        n += 1
        label = "(no field)" if n == 2 else f"(no field {n - 1})"
    return label


# ---- Import ---------------------------------------------------------------------------------------

def import_tab(info: store.DatasetInfo | None) -> None:
    st.caption("JSON arrays, JSON Lines, CSV (cells separated by commas, tabs, semicolons or |) and Parquet. Field names are matched for you "
               "(question/answer in any case, Alpaca instruction/input/output, prompt/response, "
               "{\"data\": [...]} wrappers), and chat records (`messages`, ShareGPT `conversations`) and SQuAD "
               "files become questions and answers, with the passage as the Context; change the mapping if the "
               "guess is wrong.")
    nonce = st.session_state.setdefault("dataset.import.nonce", 0)  # bumped after an import to clear the uploader
    origins = {"file": "A file", "path": "A path on this machine", "hub": "A Hugging Face Hub dataset"}
    if not device.capabilities().local_models or config.tenancy():  # API mode / a public app: the server's disk is not yours
        origins.pop("path")
        if st.session_state.get("dataset.import.origin") == "path":
            st.session_state["dataset.import.origin"] = "file"
    origin = st.radio("From", list(origins), horizontal=True, key="dataset.import.origin", format_func=origins.get)
    if st.session_state.get(IMPORT, {}).get("origin", origin) != origin:  # another source: its preview let go
        _drop_import()
    if (st.session_state.get(LOAD) or {}).get("origin", origin) != origin:  # and its read still running stopped
        _stop_load()
    turns = st.session_state.get("dataset.import.turns", "first")
    if origin == "file":
        limit = ui.upload_limit_bytes()
        upload = st.file_uploader("File to import", type=["json", "jsonl", "ndjson", "csv", "tsv", "txt", "parquet"],
                                  key=f"dataset.import.file.{nonce}")
        if limit is not None:  # a public app: Streamlit's own refusal of a bigger file says the size, not what to do
            st.caption(f"Up to {limit / 1e6:.0f} MB a file on this app: split a bigger file and add each part to the "
                       "same dataset, or run the studio on your own machine, which takes files of any size.")
        if upload is None:  # removed with the uploader's x (or none yet): its preview let go
            _drop_import()
            return
        too_big = ui.upload_too_big(upload, "Not imported", "split it and add each part to the same dataset, or run "
                                    "the studio on your own machine, which takes files of any size.")
        if too_big:
            st.error(too_big)
            return
        source_name, file_id = upload.name, upload.file_id
        cached = _held_import(file_id, turns)
        if cached is None:  # a new upload, or its preview dropped to keep the app's memory bounded: parsed again
            try:
                cached = {"file_id": file_id, "turns": turns,
                          "parsed": formats.parse(upload.getvalue(), upload.name, turns=turns, legacy=True),
                          "error": None}
            except StudioError as exc:
                cached = {"file_id": file_id, "turns": turns, "parsed": None, "error": str(exc)}
            _hold_import(cached, origin)
    else:
        source = _loaded_source(origin, nonce, turns)
        if source is None:
            return
        source_name, cached = source
        file_id = cached["file_id"]
    if cached["error"]:
        st.error(f"Cannot import {dui.md(source_name)}: {dui.md(cached['error'])}", icon=":material/error:")
        return
    parsed: formats.Parsed = cached["parsed"]
    chat = {"messages": "chat messages", "sharegpt": "ShareGPT conversations", "squad": "SQuAD rows",
            "squad-nested": "a SQuAD file"}.get(parsed.chat or parsed.squad or "")
    sep = f"cells separated by {csv_rows.DELIMITERS[parsed.delimiter]}" if parsed.delimiter else ""
    st.write(f"Read **{len(parsed.rows):,} record{'' if len(parsed.rows) == 1 else 's'}** as {parsed.format.upper()}"
             + (f" ({chat or sep})." if chat or sep else "."))
    if parsed.source_note:  # a Hub dataset read from the local cache: maybe not the Hub's newest
        st.info(dui.md(parsed.source_note), icon=":material/cloud_off:")
    if parsed.encoding_note:  # not UTF-8: read as Windows-1252, and the person checks the accents
        st.warning(dui.md(parsed.encoding_note), icon=":material/translate:")
    if parsed.chat:
        st.radio("Conversations with several exchanges", ["first", "every"], key="dataset.import.turns",
                 horizontal=True, format_func={"first": "First exchange only",
                                               "every": "Every exchange as a record (earlier turns kept as history)"}.get)
    mapping = _mapping_widgets(parsed, file_id)
    if mapping is None:
        return
    if cached.get("mapping") != mapping:  # a 200,000-row file is mapped and checked once, not every rerun
        records = formats.apply_mapping(parsed.rows, mapping)
        cached.update(mapping=mapping, records=records, found=validate.check(records).adding(parsed.warnings),
                      brought=None)
        _charge_import(cached)
    records, found = cached["records"], cached["found"]
    preview = _preview(records)
    # Every column from a narrow start, its cells wrapping in taller rows (as the Edit tab's table with a Problem or a
    # Context column): Question sized to its text left Answer and Context past the edge at 800 px, to scroll to
    st.dataframe(preview, hide_index=True, width="stretch", row_height=dui.WRAPPED_ROW,
                 column_config={c: st.column_config.TextColumn(c, width=dui.WRAPPED_WIDTH)
                                for c in dict.fromkeys(k for r in preview for k in r)})
    errs, warns = found.errors, found.warnings
    to_fix: list[dict] = []
    as_text = ""  # the line naming the records whose number or true/false question or answer comes in as its text
    left_out = 0  # invalid records skipped: the line after the import says so, or the whole file seemed to come in
    if errs:
        bad = found.invalid  # every invalid record, however many warnings come before them
        valid = [r for n, r in enumerate(records, 1) if n not in bad]
        st.error(f"{len(bad):,} of {validate.plural(len(records), 'record')} {'is' if len(bad) == 1 else 'are'} "
                 f"invalid ({found.counts()}; record numbers count from 1):", icon=":material/error:")
        dui.problems_table(errs)
        st.download_button("Download the list (CSV)", streamlit_internals.made_when_pressed(functools.partial(_problems_csv, errs)),
                           f"{Path(source_name).stem}-problems.csv", "text/csv", icon=":material/download:",
                           key="dataset.import.problems", on_click="ignore")
        if cached.get("brought") is None:  # what bringing them all in does to each record: once per mapping
            cached["brought"] = editing.bring_all_in(records, bad)
            _charge_import(cached)
        brought: editing.BroughtIn = cached["brought"]
        if valid:
            ways = {"skip": f"Import the {validate.plural(len(valid), 'valid record')} and skip the {len(bad):,} "
                            f"invalid one{'' if len(bad) == 1 else 's'}"}
        else:  # "Import the 0 valid records" behind a disabled button said nothing of why or what to do
            none = "its one record is not" if len(bad) == 1 else f"none of its {len(bad):,} records is"
            then = (" Fix the file and upload it again, or bring them all in below to fix in the editor." if brought.to_fix
                    else " Bring them all in below: each number or true/false comes in as its text, with nothing left "
                         "to fix.")
            st.info(f"Nothing to import as it is: {none} valid.{then}", icon=":material/info:")
            ways = {"none": "Import nothing (fix the file and upload it again)"}
        ways |= {"fix": _bring_in_label(len(records), brought)}
        way = st.radio("The invalid records", list(ways), format_func=ways.get,  # options differ: keys too
                       key="dataset.import.invalid" if valid else "dataset.import.invalid.none")
        said = st.container()  # drawn whichever way is picked: the choices below keep their place
        if way == "fix":
            records, as_text = brought.records, " ".join(filter(None, (brought.as_text_note(), brought.renamed_note())))
            to_fix = [records[n - 1] for n in brought.to_fix]
            if as_text:
                said.info(as_text, icon=":material/info:")
        elif way == "none":
            records = []
        else:
            records, left_out = valid, len(bad)
    if warns:
        st.warning(f"{validate.plural(len(warns), 'warning')} (warnings do not block an import):")
        dui.problems_table(warns)
    for note in found.notes:
        st.info(note, icon=":material/info:")
    _import_target(info, records, source_name, disabled=not records, to_fix=to_fix, left_out=left_out,
                   as_text=as_text)


def _loaded_source(origin: str, nonce: int, turns: str) -> tuple[str, dict] | None:
    """A Hub dataset or a path on this machine, read by a background ``Task`` (a click elsewhere does not
    stop it; a fragment polls it). (source name, the import cache) once read, else None."""
    # A form: Enter in the box loads, and so does one click on Load right after typing (a button disabled
    # until the box commits its text took the first click to commit it and did nothing).
    own_cache: list[str] = []  # a public app's folder for a Hub dataset's files: made as its read starts (``_hub_cache``)
    form = st.form(f"dataset.import.{origin}_form", border=False, enter_to_submit=True)
    c1, c2 = form.columns([4, 1], vertical_alignment="bottom")
    if origin == "hub":
        text = c1.text_input("Hub dataset", max_chars=ui.SHORT_TEXT_CHARS, key=f"dataset.import.hub.{nonce}",
                             placeholder="owner/name, owner/name:config or owner/name@split (default: train)").strip()
        src, name = f"hub:{text}", text.split("@")[0].split(":")[0].replace("/", "-")
        label, hint = f"Loading {text} from the Hub", "Read through datasets.load_dataset: from the local cache when offline."
        token = ui.hf_token()  # read here: the worker thread has no session
        limit = ui.upload_limit_bytes()  # a public app: no bigger than a file it would accept

        def read(stop: threading.Event) -> formats.Parsed:
            from studio.data import hf_sources

            if limit is None:
                said: list[str] = []  # read from the local cache, the Hub refusing: said above the preview
                rows = _unless_stopped(stop, hf_sources.read_hub(src, token, notes=said))
                parsed = formats.parse_rows(rows, "hub", turns)
                return dataclasses.replace(parsed, source_note=" ".join(said))
            # A public app: the Hub says this visitor may read it, and that it fits, before anything is downloaded;
            # then a cache of this import's own (load_dataset answers from a cache when the Hub refuses or fails).
            try:
                repo, config, split = hf_sources.parse_hub_id(src)
                files = _unless_stopped(stop, hf_sources.check_hub_access(repo, limit, token, config, split))
                rows = _unless_stopped(stop, hf_sources.read_hub(src, token, cache_dir=own_cache[0], files=files))
            finally:
                import_folders.read_ends(own_cache[0])
            return formats.parse_rows(rows, "hub", turns)
    else:
        text = c1.text_input("Path on this machine", max_chars=ui.SHORT_TEXT_CHARS, key=f"dataset.import.path.{nonce}",
                             placeholder="/data/qa.parquet, /data/saved_dataset or /data/saved_dataset@test").strip()
        if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":  # pasted with its quotes ("Copy as path")
            text = text[1:-1].strip()
        src = text
        name = Path(text.rpartition("@")[0] if "@" in Path(text).name else text).name or text
        label = f"Reading {text}"
        hint = ("A JSON, JSON Lines, CSV or Parquet file, or a datasets save_to_disk folder (FOLDER@SPLIT picks "
                "a split), read as `python -m studio dataset import` reads it.")

        def read(stop: threading.Event) -> formats.Parsed:
            return formats.read_source(src, turns, legacy=True, stop=stop)  # a stop ends it between batches or rows
    key = f"{origin}:{text}"
    if c2.form_submit_button("Load", key=f"dataset.import.{origin}_load") and text:
        st.session_state["dataset.import.loaded"] = key
    if not text or st.session_state.get("dataset.import.loaded") != key:
        # the box cleared (or not loaded yet): the preview of what it held let go, and its read stopped
        _drop_import()
        _stop_load()
        st.caption(hint)
        return None
    cached = _held_import(key, turns)
    if cached is not None:  # else not read yet, or dropped to keep the app's memory bounded: read again
        return name, cached
    job = st.session_state.get(LOAD)
    if job is None or job["key"] != (key, turns):
        _stop_load()  # another source's read, or this one's with other turns
        if origin == "hub" and ui.upload_limit_bytes() is not None:  # made here: the worker has no session
            own_cache.append(_hub_cache(src))
            import_folders.read_starts(own_cache[0])
        job = {"key": (key, turns), "origin": origin, "task": _SourceLoad(label, read).start()}
        st.session_state[LOAD] = job
    task: Task = job["task"]
    if not task.done:
        if st.session_state.get(IMPORT, {}).get("file_id") == key:  # read again: its preview dropped, or other turns
            _keep_choices(key)
        _load_status(task)
        return None
    st.session_state.pop(LOAD, None)
    cached = {"file_id": key, "turns": turns, "parsed": task.result if task.state == "done" else None,
              "error": None if task.state == "done" else task.error or f"{label} stopped."}
    return name, _hold_import(cached, origin)


def _keep_choices(file_id: str) -> None:
    """Keep what was chosen for the preview of ``file_id`` (its fields, its turns, what to do with invalid records,
    where to import and the name) through the runs that read its source again and draw none of those widgets:
    Streamlit forgets a widget's value in a run that does not draw it, and the preview came back with the guessed
    fields, an import one click away from taking the answers from a field the person had changed."""
    fields = (f"dataset.import.{f}.{file_id}" for f in "qac")
    kept = ("dataset.import.turns", "dataset.import.invalid", "dataset.import.invalid.none", "dataset.import.target",
            "dataset.import.skip")
    ui.hold_unshown([*fields, *kept, *(k for k in st.session_state if str(k).startswith("dataset.import.name."))])


class _SourceLoad(Task):
    """The read of a Hub dataset or a path, given the task's ``stop``: set when the person picks another source or
    clears the box, and then what it read is let go (not held by the task) and nothing more is read (a file's read ends
    between its Parquet batches or its rows, not after its last)."""

    def __init__(self, label: str, read: Callable[[threading.Event], formats.Parsed]):
        super().__init__(label)
        self._read = read

    def work(self) -> formats.Parsed:
        return _unless_stopped(self.stop, self._read(self.stop))


def _unless_stopped(stop: threading.Event, value):
    """``value``, unless ``stop`` was set meanwhile: then ``CancelledError`` (the task ends "stopped", holding none of
    it)."""
    if stop.is_set():
        raise CancelledError("The read was stopped: another source was picked or the box cleared.")
    return value


def _stop_load() -> None:
    """Stop this session's background read of a Hub dataset or a path, if any, and let go of it."""
    job = st.session_state.pop(LOAD, None)
    if job is not None:
        job["task"].cancel()


def _held_import(file_id: str, turns: str) -> dict | None:
    """This session's parsed import of ``file_id`` read with ``turns``; None when it has none, or when it was dropped
    from ``held.previews`` to keep the app's memory within its budget (the caller reads the source again)."""
    handle = st.session_state.get(IMPORT)
    if not handle or handle["file_id"] != file_id or handle.get("turns") != turns:
        return None
    return held.previews.get(handle.get("key", ""))


def _hold_import(cached: dict, origin: str) -> dict:
    """Hold a new parsed import of source ``origin`` in ``held.previews`` for this session (its last one let go),
    naming it in the session."""
    _drop_import(files_too=False)  # a Hub dataset's files stay with the preview read from them
    cached["key"] = uuid.uuid4().hex
    st.session_state[IMPORT] = {"file_id": cached["file_id"], "turns": cached["turns"], "key": cached["key"],
                                "origin": origin}
    _charge_import(cached)
    return cached


def _charge_import(cached: dict) -> None:
    """(Re)charge a held import its estimated bytes: the file's rows, the mapped records, their problems and the records
    brought in. Owned by this session: the previews of tabs closed since are let go here."""
    parsed, found, brought = cached["parsed"], cached.get("found"), cached.get("brought")
    held.previews.put(cached["key"], cached, held.rows_bytes(
        parsed.rows if parsed else None, cached.get("records"), found.problems if found else None,
        brought.records if brought else None), owner=streamlit_internals.session_id(),
        gone=lambda sid: streamlit_internals.session_connected(sid) is False)


def _drop_import(files_too: bool = True) -> None:
    """Let go of this session's import preview, and (``files_too``) of the Hub dataset's files kept for it."""
    handle = st.session_state.pop(IMPORT, None)
    if handle:
        held.previews.drop(handle.get("key", ""))
    if files_too and (kept := st.session_state.pop(HUB_CACHE, None)):
        import_folders.remove(kept[1])


HUB_CACHE = "dataset.import.hub_cache"  # (the Hub dataset read, the folder its files were downloaded into)


def _hub_cache(src: str) -> str:
    """The folder a public app downloads Hub dataset ``src`` into for this session, kept while its preview is: a
    preview dropped to keep the app's memory within its budget was downloaded again, into a new folder, at each
    visit of the tab; it is read again from these files. Another dataset's folder is let go (``import_folders``)."""
    kept = st.session_state.get(HUB_CACHE)
    if kept and kept[0] == src and Path(kept[1]).is_dir():
        import_folders.touch(kept[1])
        return kept[1]
    if kept:
        import_folders.remove(kept[1])
    import_folders.sweep()
    folder = import_folders.make()
    st.session_state[HUB_CACHE] = (src, folder)
    return folder


@st.fragment(run_every=0.5)
def _load_status(task: Task) -> None:
    if task.done:  # the whole tab again, now with the records
        st.rerun(scope="app")
    st.info(f"{task.label}… (you can use the rest of the page meanwhile)", icon=":material/hourglass_top:")


def _problems_csv(problems: list) -> bytes:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["record", "problem"])
    for p in problems:
        writer.writerow([p.record, csv_cells.safe_cell(p.message)])
    return out.getvalue().encode("utf-8")


def _mapping_widgets(parsed: formats.Parsed, file_id: str) -> formats.FieldMap | None:
    guess = formats.guess_mapping(parsed.fields)
    fields = parsed.fields
    # A file of questions alone (or answers alone) offered its one field for both, and "must come from different
    # fields" was the end of it: the missing one can be none, its records brought in to be written in the editor.
    options = [*fields, NO_FIELD]  # none: its records come in to fix, the missing field written in the editor
    none = _none_label(fields)

    def label(option: str | _NoField) -> str:
        return none if isinstance(option, _NoField) else option

    c1, c2, c3 = st.columns(3)
    q = c1.selectbox("Question field", options, key=f"dataset.import.q.{file_id}", format_func=label,
                     index=fields.index(guess.question) if guess else None)
    a = c2.selectbox("Answer field", options, key=f"dataset.import.a.{file_id}", format_func=label,
                     index=fields.index(guess.answer) if guess else None)
    ctx_options = [NO_FIELD, *fields]
    ctx = c3.selectbox("Context: the passage (e.g. Alpaca input)", ctx_options, key=f"dataset.import.c.{file_id}",
                       index=ctx_options.index(guess.context) if guess and guess.context else 0, format_func=label,
                       help="The text the question is asked about; kept as the record's own Context field.")
    if q is None or a is None:
        st.warning("Choose which fields hold the question and the answer.")
        return None
    if q == a:
        st.warning("The question and the answer must come from different fields.")
        return None
    if ctx != NO_FIELD and ctx in (q, a):
        st.warning(f"The context must come from another field than the question and the answer: choose {none} or "
                   "another field.")
        return None
    absent = next(n for n in ("question", "answer", "\x00absent") if n not in fields)  # a field no record has
    return formats.FieldMap(question=absent if q == NO_FIELD else q, answer=absent if a == NO_FIELD else a,
                            context=None if ctx == NO_FIELD else ctx)


PREVIEW_CHARS = 2000  # of a value in the preview: a 50 MB answer went to the browser whole, to be shown cut anyway


def _preview(records: list[dict], n: int = 20) -> list[dict]:
    """The first records as text, question, answer and context (when there is one) first; a value that is not text
    as the file wrote it (true, 11, {"a": 1}), not as Python would (True); cut at ``PREVIEW_CHARS`` (the import
    itself takes it whole)."""
    first = ("question", "answer", editing.CONTEXT)
    return [{k: _cut(v if isinstance(v, str) else _as_written(v))
             for k, v in [*((f, r[f]) for f in first if f in r), *((k, v) for k, v in r.items() if k not in first)]}
            for r in records[:n]]


def _cut(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else f"{text[:PREVIEW_CHARS]}… ({len(text):,} characters in all)"


def _as_written(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # a Parquet value JSON has no word for (a date): Python's own text
        return repr(value)


def _left_out(n: int) -> str:
    """What an import that skipped ``n`` invalid records adds to its line ("" for none)."""
    if not n:
        return ""
    return (f"; {validate.plural(n, 'invalid record')} {'was' if n == 1 else 'were'} left out (to fix "
            f"{'it' if n == 1 else 'them'} in the editor instead, import the file again and bring them all in)")


def _bring_in_label(total: int, brought: editing.BroughtIn) -> str:
    """The "bring them all in" choice, saying what happens to each invalid record: a number or true/false comes in
    as its text and needs no fix; the others are fixed in the editor."""
    fix, text = len(brought.to_fix), len(brought.as_text)
    named = len({n for n, *_ in brought.renamed})
    editor = (f"fix the {'one' if fix == 1 else f'{fix:,}'}{' other' if text or named else ''} invalid "
              f"record{'' if fix == 1 else 's'} in the editor (the version cannot be saved until "
              f"{'it is' if fix == 1 else 'they are'} fixed or deleted)")
    said = []
    if text:
        said.append(f"{'the one' if text == 1 else f'the {text:,}'} with a number or true/false as the question or "
                    f"answer {'comes in as its' if text == 1 else 'come in as their'} text ({brought.example})")
    if named:
        distinct = list(dict.fromkeys(name for _, name, _ in brought.renamed))  # the fields, named as the info names them
        names = ", ".join(f'"{n}"' for n in distinct[:3]) + (", ..." if len(distinct) > 3 else "")
        said.append(f"{'the one' if named == 1 else f'the {named:,}'} giving a question or answer under another "
                    f"name ({names}) {'takes' if named == 1 else 'take'} it as {'its' if named == 1 else 'their'} own")
    if not said:
        return f"Bring all {total:,} in and {editor}"
    if not fix:
        return f"Bring all {total:,} in: {'; '.join(said)}, nothing to fix"
    return f"Bring all {total:,} in: {'; '.join(said)}; {editor}"


def _import_target(info: store.DatasetInfo | None, records: list[dict], filename: str, disabled: bool,
                   to_fix: list[dict] | None = None, left_out: int = 0, as_text: str = "") -> None:
    """``to_fix``: the invalid records among ``records``, brought in as unsaved edits to fix in the editor;
    ``left_out``: how many invalid records were skipped, said in the line after the import; ``as_text``: the
    line naming the records whose number or true/false came in as its text (valid now), said in that line too."""
    to_fix = to_fix or []
    also = f" {as_text}" if as_text else ""
    skipped_invalid = _left_out(left_out)
    options = ["Create a new dataset"] + ([f"Add to {ui.md(info.name)}"] if info else [])  # an option is Markdown
    target = st.radio("Import into", options, horizontal=True, key="dataset.import.target")
    if target == options[0]:
        # the file's name as a name the dataset can take: a 400-character file name was refused as too long
        name = st.text_input("Name", value=store.name_from(Path(filename).stem), max_chars=ui.SHORT_TEXT_CHARS, key=f"dataset.import.name.{filename}")
        if st.button("Import as new dataset", type="primary", disabled=disabled, key="dataset.import.create"):
            fixing = {id(r) for r in to_fix}
            first = [r for r in records if id(r) not in fixing]  # version 1 holds what is valid as it comes in
            created = ui.run_or_error(store.create_dataset, name, first, message=f"imported {filename}")
            if created:
                dui.select(created.id)
                _clear_upload()
                if to_fix:  # everything in the editor, the invalid ones marked, as unsaved changes
                    dui.draft(created)
                    dui.replace_working_copy(created.id, records, origin=f"imported {filename}")
                    kept = ("the valid record as version 1" if len(first) == 1
                            else f"the {len(first):,} valid records as version 1" if first else "no record yet")
                    fix = "the one to fix is" if len(to_fix) == 1 else f"the {len(to_fix):,} to fix are"
                    dui.flash(f"Created {dui.md(created.name)} with {kept}; {fix} in the Edit tab as unsaved "
                              f"changes.{also}{_repeats_note(records)}")
                else:
                    dui.flash(f"Imported {validate.plural(len(records), 'record')} into a new dataset, "
                              f"{dui.md(created.name)}{skipped_invalid}.{also}{_repeats_note(records)}")
                dui.go_to_tab("Edit")
                st.rerun()
        return
    skip = st.checkbox("Skip records already in the dataset (same question and answer)", value=True,
                       key="dataset.import.skip")
    if st.button(f"Add to {dui.md(info.name)}", type="primary", disabled=disabled, key="dataset.import.merge"):
        d = dui.draft(info)
        merged, skipped = editing.append(d.current, records, skip_existing=skip)
        dui.replace_working_copy(info.id, merged, origin=f"imported {filename}")
        _clear_upload()
        added = len(records) - skipped
        if added:
            dui.flash(f"Added {validate.plural(added, 'record')} to {dui.md(info.name)}"
                      + (f" ({skipped:,} already there {'was' if skipped == 1 else 'were'} skipped)" if skipped else "")
                      + f"{skipped_invalid}. They are unsaved: check them in the Edit tab and press Save.{also}"
                      + _repeats_note(merged))
        else:  # nothing to check or save: saying so would send the person looking for records that are not there
            dui.flash(f"Nothing added to {dui.md(info.name)}: "
                      + ("the record is" if skipped == 1 else f"all {skipped:,} records are")
                      + f" already there (the same question and answer){skipped_invalid}.")
        dui.go_to_tab("Edit")
        st.rerun()


def _repeats_note(records: list[dict]) -> str:
    """The line after an import pointing to the Duplicates tab where records repeat a question: the import's warnings
    table named them before the import, and afterwards nothing said where to review them."""
    n = validate.repeated_questions(records)
    if not n:
        return ""
    return (f" {validate.plural(n, 'record')} {'repeats' if n == 1 else 'repeat'} an earlier question (case and "
            "punctuation aside): the Duplicates tab finds them, and questions asked in other words, to merge or drop.")


def _clear_upload() -> None:
    _drop_import()
    st.session_state["dataset.import.nonce"] += 1


# ---- Check ----------------------------------------------------------------------------------------

@st.cache_data(max_entries=8, show_spinner=False)
def _checked(dataset_id: str, version: int, sha: str) -> tuple[validate.Checked, stats.DatasetStats]:
    records = store.load_version(dataset_id, version)
    return validate.check(records), stats.compute(records)


def check_tab(info: store.DatasetInfo | None) -> None:
    if info is None or info.latest is None:
        st.info("No dataset selected.")
        return
    latest = info.latest
    asked = st.session_state.setdefault("dataset.check.asked", set())
    if latest.count > AUTO_CHECK and (info.id, latest.version) not in asked:
        # Checking 200,000 records takes seconds: only when asked, so opening the page stays quick.
        if not st.button(f"Check {latest.count:,} records and compute statistics", key="dataset.check.go"):
            return
        asked.add((info.id, latest.version))
    found, st_ = _checked(info.id, latest.version, latest.sha256)
    errs, warns = found.errors, found.warnings  # all of them: the table may list only the first
    st.caption(f"Checks and statistics of the saved version {latest.version}; unsaved edits are checked when you save.")
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Records", f"{st_.count:,}")
    c2.metric("Errors", f"{len(errs):,}")
    c3.metric("Warnings", f"{len(warns):,}")
    # "Mean words (Q / A)" was cut in a quarter of an 800 px window: the mean is said in its help
    c4.metric("Words (Q / A)", f"{st_.mean_question_words:.0f} / {st_.mean_answer_words:.0f}",
              help="Mean words per question / per answer")
    if errs:  # a version saved before every error was found (or written by hand): say so first
        st.error(f"{validate.plural(len(found.invalid), 'record')} of this version "
                 f"{'has' if len(found.invalid) == 1 else 'have'} errors: fix or delete them in the Edit tab and "
                 "save before training on it.", icon=":material/error:")
    if found.problems:
        st.write(f"Problems ({found.counts()}; record numbers count from 1; warnings do not block a save):")
        dui.problems_table(errs + warns if errs else found.problems)
    elif st_.count:  # an empty version has no problems and nothing to train on: its note says so, not "No problems"
        st.success("No problems found.", icon=":material/check_circle:")
    for note in found.notes:
        st.info(note, icon=":material/info:")
    if st_.count:
        lengths, openings = _check_plots(info.id, latest.version, latest.sha256)
        # one under the other, each the tab's width: in two columns of an 800 px window (233 px each) the openings'
        # title read "Most repeated question opening" and the histogram's legend took half its plot
        st.plotly_chart(lengths, width="stretch")
        if openings is not None:
            st.plotly_chart(openings, width="stretch")
        else:
            st.caption("No question opening repeats.")


@st.cache_resource(max_entries=8, show_spinner=False)
def _check_plots(dataset_id: str, version: int, sha: str):
    """The saved version's two plots, made once (shared, read-only): every rerun of the page draws the Check tab, and
    making them was 40 of the 90 ms a cell edit's rerun took on a 500-record dataset, the time in which typing after
    Tab can be lost (Streamlit's grid redraws the new row as the rerun ends)."""
    _, st_ = _checked(dataset_id, version, sha)
    return plots.dataset_lengths(st_), plots.dataset_openings(st_) if st_.openings else None


# ---- Versions -------------------------------------------------------------------------------------

@st.cache_resource(max_entries=4, show_spinner=False)
def _version_diff(dataset_id: str, old: int, new: int, sha_old: str,
                  sha_new: str) -> tuple[store.Diff, dict[int, int]]:
    """Versions never change once written, so their diff is computed once (shared, read-only); with each record's
    number in its version (``dui.numbered``)."""
    before, after = store.load_version(dataset_id, old), store.load_version(dataset_id, new)
    return editing.changes(before, after), dui.numbered(before, after)


RESTORE_SHOWN = "dataset.restore.shown"  # {dataset id: (uid, latest version)} of the versions the last run showed
VERSIONS_IN_FULL = 8  # versions listed at full height; more, and the list scrolls


def versions_tab(info: store.DatasetInfo | None) -> None:
    if info is None or not info.versions:
        st.info("No dataset selected.")
        return
    # A static table, whose cells wrap: in a data grid a long message (a dedup's, or one typed at a save) was cut at
    # the column's edge, and a read-only cell cannot be opened to read the rest. Past a few versions it scrolls.
    st.table([{"version": v.version, "saved": jobs.readable_time(v.created), "records": f"{v.count:,}",
               "what": dui.md(v.message)} for v in reversed(info.versions)],
             hide_index=True, height="content" if len(info.versions) <= VERSIONS_IN_FULL else 360)
    numbers = [v.version for v in info.versions]
    if len(numbers) == 1:
        st.caption("Only one version so far: every Save (and every restore) adds one.")
        return
    c1, c2 = st.columns(2)
    # keyed by the latest version: a new one (a restore, a save) is compared with the one before, not an old pair
    latest = numbers[-1]
    old = c1.selectbox("Compare version", numbers, index=max(0, len(numbers) - 2),
                       key=f"dataset.cmp.a.{info.id}.{latest}")
    new = c2.selectbox("with version", numbers, index=len(numbers) - 1, key=f"dataset.cmp.b.{info.id}.{latest}")
    with st.container():  # drawn for any pair, even a version with itself: Restore below keeps its place
        if old != new:
            sha = {v.version: v.sha256 for v in info.versions}
            diff, record_numbers = _version_diff(info.id, old, new, sha[old], sha[new])
            dui.diff_view(diff, f"version {old} → version {new}", record_numbers)
    st.divider()
    restore = st.selectbox("Restore version", numbers[:-1], key=f"dataset.restore.{info.id}")
    # The dataset whose versions the last run showed: a click is read in a run that lists the datasets anew, where a
    # dataset deleted in another tab and imported again under its name has the same id (and its own version 2), and
    # the restore went into it unsaid; and one saved in another tab since, whose latest version the restore undid unsaid.
    shown = st.session_state.get(RESTORE_SHOWN) or {}
    st.session_state[RESTORE_SHOWN] = {info.id: (info.uid, latest)}
    d = dui.draft(info)
    sure = True
    with st.container():  # the button keeps its place whether or not there are unsaved edits to discard
        if d.dirty:
            sure = st.checkbox("Discard my unsaved changes", key=f"dataset.restore.sure.{info.id}")
    if st.button(f"Restore version {restore} as a new version", disabled=not sure,
                 key="dataset.restore.go"):
        uid, base = shown.get(info.id, (info.uid, latest))
        made = ui.run_or_error(store.restore_version, info.id, restore, base_version=base, made_on=uid)
        if made:
            dui.reset(info)
            dui.flash(f"Restored version {restore} as version {made.version} ({validate.plural(made.count, 'record')}).")
            st.rerun()


# ---- Export ---------------------------------------------------------------------------------------

def _export_bytes(dataset_id: str, version: int, fmt: str) -> bytes:
    return writers.WRITERS[fmt](store.load_version(dataset_id, version))


def _llama_factory_zip(dataset_id: str, version: int, fmt: str) -> bytes:
    from studio.data import conversations

    file_name = f"{dataset_id}-v{version}.{fmt}.{writers.EXTENSIONS[fmt]}"
    records = store.load_version(dataset_id, version)
    return conversations.llama_factory_zip(records, writers.WRITERS[fmt](records), fmt, file_name)


def _deferred(fn, *args) -> Callable[[], bytes]:
    """A download made when its button is pressed, in the visitor's workspace: Streamlit runs it on a thread of its
    own, where a public app has no visitor (``config.bound``); its file leaves the server soon after
    (``streamlit_internals.made_when_pressed``)."""
    return streamlit_internals.made_when_pressed(config.bound(functools.partial(fn, *args)))


def export_tab(info: store.DatasetInfo | None) -> None:
    if info is None or info.latest is None:
        st.info("No dataset selected.")
        return
    v = info.latest.version
    unsaved = ", not your unsaved edits: save them first to export them" if dui.draft(info).dirty else ""
    st.caption(f"Downloads hold the saved version {v} ({validate.plural(info.latest.count, 'record')}){unsaved}.")
    stem = info.id  # already a file-name-safe slug of the name
    # Each row's buttons as wide as their labels, wrapping where the window is narrow: in a quarter of an 800 px
    # window every one read "Downl…", naming no format.
    row = st.container(horizontal=True)
    for fmt, mime in (("json", "application/json"), ("jsonl", "application/jsonl"), ("csv", "text/csv"),
                      ("parquet", "application/vnd.apache.parquet")):
        row.download_button(f"Download {fmt.upper() if fmt != 'parquet' else 'Parquet'}",
                            _deferred(_export_bytes, info.id, v, fmt),
                            file_name=f"{stem}-v{v}.{fmt}", mime=mime, key=f"dataset.export.{fmt}",
                            on_click="ignore", icon=":material/download:")
    st.caption("For fine-tuning tools: chat `messages` (TRL's SFTTrainer, OpenAI fine-tuning, Axolotl), "
               "ShareGPT `conversations` (LLaMA-Factory, Axolotl) and Alpaca.")
    row = st.container(horizontal=True)
    for fmt, label in (("messages", "messages JSONL"), ("sharegpt", "ShareGPT JSON"), ("alpaca", "Alpaca JSON")):
        ext = writers.EXTENSIONS[fmt]
        row.download_button(f"Download {label}", _deferred(_export_bytes, info.id, v, fmt),
                            file_name=f"{stem}-v{v}.{fmt}.{ext}", mime="application/json", key=f"dataset.export.{fmt}",
                            on_click="ignore", icon=":material/download:")
    st.caption("For LLaMA-Factory: the file and its `dataset_info.json` entry in one zip; unpack it into "
               "LLaMA-Factory's `data/` folder (merge the entry into an existing `dataset_info.json`).")
    row = st.container(horizontal=True)  # a quarter of the width cut these labels to "messages + dataset_info.js…"
    for fmt, label in (("messages", "messages"), ("sharegpt", "ShareGPT"), ("alpaca", "Alpaca")):
        row.download_button(f"{label} + dataset_info.json (zip)", _deferred(_llama_factory_zip, info.id, v, fmt),
                            file_name=f"{stem}-v{v}.{fmt}.llama-factory.zip", mime="application/zip",
                            key=f"dataset.export.lf.{fmt}", on_click="ignore", icon=":material/folder_zip:")
    st.divider()
    st.subheader("Push to the Hugging Face Hub")
    token = ui.hf_token()
    with st.container():  # a field, or "set" and Forget once given: the fields below keep their place
        if config.tenancy():
            st.caption("Token: configured." if token else "No token: give yours under Your workspace in the sidebar to push.")
        elif token and not st.session_state.get("auth.hf_token"):
            st.caption("Token: configured.")
        else:  # typed here, or on the Chat page (the same field): a push needs no restart with HF_TOKEN set
            token = ui.secret_field("Hugging Face token", "auth.hf_token",
                                    help="A write token. Kept in this browser session only (the Chat page's token "
                                         "too); or set HF_TOKEN in .streamlit/secrets.toml or the environment.") or token
    repo = st.text_input("Hub dataset id", placeholder="your-name/soccer-qa", max_chars=ui.SHORT_TEXT_CHARS, key="dataset.push.repo")
    private = st.checkbox("Private", value=True, key="dataset.push.private")
    job: Task | None = st.session_state.get(PUSH)
    running = job is not None and not job.done
    pushed_id, what = st.session_state.get(PUSHED) or (None, "")
    if job is not None and job.done and pushed_id != info.id:
        job = None  # another dataset's push: its outcome is not this dataset's
    pushed = st.button("Push", key="dataset.push.go", disabled=running, icon=":material/cloud_upload:")
    said = st.container()  # a refusal, for one run: the last push's outcome below keeps its place
    if pushed:
        try:
            repo_id = hub.check_repo_id(repo)
            if not token:
                ui.require_own_token("Pushing to the Hub")  # a public app: the deployer's token never pushes
                hub.push_to_hub([], repo_id, token)  # raises the missing-token message
        except StudioError as exc:
            with said:
                ui.show_error(exc)
        else:
            records = store.load_version(info.id, v)
            card = hub.dataset_card(records, info.name, v, info.latest.sha256, [x.message for x in info.versions])
            what = f"{info.name}, version {v} ({validate.plural(len(records), 'record')})"
            job = Task(f"Pushing {what} to {repo_id}", hub.push_to_hub, records, repo_id, token, private=private,
                       card=card).start()
            st.session_state[PUSH], st.session_state[PUSHED] = job, (info.id, what)
    if job is not None:
        _push_status(job, what)


@st.fragment(run_every=1.0)
def _push_status(job: Task, what: str) -> None:
    if not job.done:
        st.info(f"{ui.md(job.label)}…", icon=":material/hourglass_top:")
    elif job.state == "done":
        st.success(f"Pushed to {job.result}: {ui.md(what)}.", icon=":material/check_circle:")
    else:
        ui.show_error(job.error)
