"""Reading an import source for the Dataset page's Import tab, and holding what was read for this session.

A Hub dataset or a path on this machine is read by a background ``Task`` (``loaded_source``): a click elsewhere does not
stop it, a fragment polls it, and it is stopped when another source is picked or the box cleared (``stop_load``). What
a source gave (a file upload's parse too), its mapped records and problems for the last mapping, is held in
``held.previews``, one byte budget for every session, and read again from the source once dropped there.

Session state: ``dataset.import`` names the parsed import (its ``file_id``, ``turns`` and ``key``);
``dataset.import.load`` holds the background read (a ``_SourceLoad`` task, with the source it reads) until it lands in
``dataset.import``; ``dataset.import.hub_cache`` names the folder a public app downloaded a Hub dataset's files into.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from studio import ui
from studio.data import formats, held, import_folders
from studio.errors import CancelledError
from studio.tasks import Task
from studio.ui import streamlit_internals

IMPORT = "dataset.import"
LOAD = "dataset.import.load"  # the background read of a Hub dataset or a path


def loaded_source(origin: str, nonce: int, turns: str) -> tuple[str, dict] | None:
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
        drop_import()
        stop_load()
        st.caption(hint)
        return None
    cached = held_import(key, turns)
    if cached is not None:  # else not read yet, or dropped to keep the app's memory bounded: read again
        return name, cached
    job = st.session_state.get(LOAD)
    if job is None or job["key"] != (key, turns):
        stop_load()  # another source's read, or this one's with other turns
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
    return name, hold_import(cached, origin)


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


def stop_load() -> None:
    """Stop this session's background read of a Hub dataset or a path, if any, and let go of it."""
    job = st.session_state.pop(LOAD, None)
    if job is not None:
        job["task"].cancel()


def held_import(file_id: str, turns: str) -> dict | None:
    """This session's parsed import of ``file_id`` read with ``turns``; None when it has none, or when it was dropped
    from ``held.previews`` to keep the app's memory within its budget (the caller reads the source again)."""
    handle = st.session_state.get(IMPORT)
    if not handle or handle["file_id"] != file_id or handle.get("turns") != turns:
        return None
    return held.previews.get(handle.get("key", ""))


def hold_import(cached: dict, origin: str) -> dict:
    """Hold a new parsed import of source ``origin`` in ``held.previews`` for this session (its last one let go),
    naming it in the session."""
    drop_import(files_too=False)  # a Hub dataset's files stay with the preview read from them
    cached["key"] = uuid.uuid4().hex
    st.session_state[IMPORT] = {"file_id": cached["file_id"], "turns": cached["turns"], "key": cached["key"],
                                "origin": origin}
    charge_import(cached)
    return cached


def charge_import(cached: dict) -> None:
    """(Re)charge a held import its estimated bytes: the file's rows, the mapped records, their problems and the records
    brought in. Owned by this session: the previews of tabs closed since are let go here."""
    parsed, found, brought = cached["parsed"], cached.get("found"), cached.get("brought")
    held.previews.put(cached["key"], cached, held.rows_bytes(
        parsed.rows if parsed else None, cached.get("records"), found.problems if found else None,
        brought.records if brought else None), owner=streamlit_internals.session_id(),
        gone=lambda sid: streamlit_internals.session_connected(sid) is False)


def drop_import(files_too: bool = True) -> None:
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
