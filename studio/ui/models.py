"""The Models page and the one model picker every page uses (Train base, Chat, Evaluate).

Imports and downloads run outside the Streamlit server, as background jobs that survive a closed
browser: an import (``studio.models.imports``: the dequantizing takes seconds to minutes and memory
in proportion to the model, capped in its own process) and a download (``studio.models.download``).
Fragments poll both.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from studio import config, jobs, ui
from studio.errors import StudioError
from studio.models import bundled, download, imports, library, tokenizer_check
from studio.models.spec import parse_spec
from studio.ui import export as export_ui
from studio.ui import popovers
from studio.ui.narrow_table import narrow_table_css

IMPORT = "models.import_dir"  # the running import job's folder
DOWNLOAD = "models.download_dir"
UPLOADED = "models.import_upload"  # (file id, name, weights) of the upload whose import started last
IMPORTED = "models.imported"  # the spec of a model just imported or downloaded, selected on the next run
DELETE_POPOVER = "models.delete_popover"  # whether the Delete popover is open (both closed after a delete or rename)
RENAME_POPOVER = "models.rename_popover"


def init() -> None:
    ui.init_state({IMPORT: None, DOWNLOAD: None, "models.flash": None})
    if st.session_state[IMPORT] is None:  # after a reload: show an import that is still running
        running = imports.active_imports()
        if running:
            st.session_state[IMPORT] = running[0].workdir


# --- the picker -------------------------------------------------------------------------------------

@st.cache_data(show_spinner=False, max_entries=16)
def _library(workspace: str, stamp: tuple = ()) -> list[library.ModelEntry]:
    """The library, listed again only once it changed (``library.stamp``: the Hub cache scan walks the disk); the
    Models page lists it fresh. ``workspace`` keys the cache: on a public app each visitor's runs and models are their
    own. Tokenizers not checked yet are not loaded (``settle_notes`` on the Models page does, after its first paint):
    loading one imports transformers, seconds before a page could draw."""
    return library.list_models(load=False)


def _entries(include_runs: bool) -> list[library.ModelEntry]:
    return [e for e in _library(str(config.home()), library.stamp()) if include_runs or e.source != "run"]


def library_entries() -> list[library.ModelEntry]:
    """The library as the pickers list it (finished runs newest first, at the end)."""
    return _entries(True)


# One rule for naming a model in a picker, the bundled one "SmolLM2 · bundled" in each (``library.picker_name``)
BUNDLED_PICKER_NAME = library.BUNDLED_PICKER_NAME
picker_name = library.picker_name


def model_picker(key: str, label: str, default: str, *, include_runs: bool = True, disabled: bool = False,
                 help: str | None = None) -> str | None:
    """A model from the library, or any other spec typed into the same box (a Hub id, a folder, a
    .gguf file, run:<id>). ``default`` is preselected (added to the list when the library lacks it)."""
    entries = _entries(include_runs)
    # the Models page's picker's labels (``library.picker_labels``), a note where a model cannot be used as it is: the
    # parameter count added here made a second name ("SmolLM2 · bundled · 135 M" there, "SmolLM2 · bundled" on Models)
    labels = library.picker_labels(entries)
    names = {e.spec: labels[e.spec] + (_picker_note(e.note) if e.note else "") for e in entries}
    options = [e.spec for e in entries]
    for extra in (default, st.session_state.get(key)):  # the default, and a spec typed in before
        if extra and extra not in options:
            options.insert(0, extra)
    value = st.selectbox(label, options, index=options.index(default) if default in options else None, key=key,
                         accept_new_options=True, format_func=lambda s: names.get(s, s), disabled=disabled,
                         help=help or "Pick one from the library (the Models page), or type a Hub id, a local "
                                      "folder or a .gguf file.")
    noted = next((e for e in entries if e.spec == value and e.note), None)
    if noted is not None:
        note_line(noted)
    elif first_use_line(value):  # Chat's first answer and Train's first run waited a minute on it, unsaid
        st.caption(first_use_line(value))
    return (value or "").strip() or None


def first_use_line(spec: str | None) -> str:
    """The line said wherever the bundled model is picked before its one-time import (``bundled.first_use_note``),
    else ""."""
    note = bundled.first_use_note(spec)
    return f"On its first use: {note}." if note else ""


def _picker_note(note: str) -> str:
    if tokenizer_check.no_weights(note):
        return " · no weights"
    return " · no tokenizer" if library.unusable(note) else " · tokenizer may not load"


def note_line(entry: library.ModelEntry) -> None:
    """One line on a model whose tokenizer is missing: an error where it cannot be loaded, else a warning."""
    if entry.unusable:
        st.error(f"{entry.name} cannot be used: {entry.note}.", icon=":material/error:")
    else:
        st.warning(f"{entry.name}: {entry.note}.", icon=":material/warning:")


def still_there(spec: str | None) -> bool:
    """Whether a spec picked earlier can be offered again: a workspace model or a run still in the library, or a
    spec typed in (a Hub id, a folder, a file: the memory check says if it cannot be read)."""
    if not spec:
        return False
    try:
        kind = parse_spec(spec).kind
    except StudioError:
        return False
    return kind not in ("model", "run") or any(e.spec == spec for e in _entries(True))


GONE = "is no longer in the workspace: pick the model for the next question in the sidebar"


def not_offered(spec: str | None) -> tuple[str, bool] | None:
    """Where a local model picked earlier is not offered as it was (``still_there``): what is true of it, a clause
    after its name, and whether it can still answer (then it is picked again). A run still training, or stopped before
    its final model, is there: it was called gone ("no longer in the workspace") after a reload."""
    if still_there(spec):
        return None
    try:
        parsed = parse_spec(spec or "")
    except StudioError:
        return GONE, False
    if parsed.kind == "run":
        from studio.models import run_folders

        found = run_folders.unfinished(parsed.name)
        if found is not None:
            return found
    return GONE, False


def chat_with(spec: str) -> None:
    """Open the Chat page in conversation mode with the local model ``spec`` picked (the Models page's and the Train
    page's "Chat with it")."""
    from studio.ui import pages

    st.session_state["chat.mode"] = "Conversation"  # studio.ui.passage.CONVERSATION: the page may be in passage mode
    st.session_state["chat.a.kind"] = "local"
    st.session_state["chat.a.model"] = spec
    st.session_state["chat.a.chosen"] = True  # picked on purpose: no "using the bundled model instead" note there
    st.switch_page(pages.CHAT.path)


# --- the library table ------------------------------------------------------------------------------

def library_table() -> list[library.ModelEntry]:
    _library.clear()  # the Models page always shows the library as it is now
    entries = _library(str(config.home()), library.stamp())
    if not entries:
        st.info("No models yet: import a .gguf file or download one from the Hub below.", icon=":material/info:")
        return entries
    rows = [{"name": e.name, "spec": e.spec, "source": e.source, "architecture": e.architecture or "—",
             "parameters": e.params_text, "context": f"{e.context_length:,}" if e.context_length else "—",
             "chat template": {True: "yes", False: "no"}.get(e.chat_template, "—"), "dtype": e.dtype or "—",
             "disk": e.size_text} for e in entries]
    # A model that cannot be used, or may fail to load, says so in its row, in a few words (the picked one's line
    # below says why). The column is there from the first paint while a tokenizer is unchecked, "checking…" in its
    # row, and stays once drawn: a note arriving after the paint made the table taller, and everything below it
    # (Chat with it, Export, the Import and Download forms) moved down under a pointer while the page looked idle.
    checking = {e.spec for e in entries if _checking(e)}
    if checking:
        st.session_state.setdefault(CHECKED_HERE, set()).update(checking)
    if checking or st.session_state.get(NOTE_COLUMN) or any(e.note for e in entries):
        st.session_state[NOTE_COLUMN] = True
        for row, e in zip(rows, entries):
            # unbreakable spaces: one line each, the column as wide as its heading whatever the answers
            row[NOTE_HEADER] = ("checking…" if e.spec in checking else tokenizer_check.short(e.note)).replace(" ", NBSP)
    # A static table, not the data grid: its cells wrap (a long name reads in full). Its cells are Markdown: names are
    # shown as typed. In a narrow column it reads as a card per model (studio.ui.narrow_table).
    with st.container(key=LIBRARY_KEY):
        st.html(narrow_table_css(LIBRARY_KEY, list(rows[0])))
        st.table(pd.DataFrame([{k: ui.md(v) for k, v in row.items()} for row in rows]), hide_index=True)
    return entries


LIBRARY_KEY = "models-library"


def _checking(entry: library.ModelEntry) -> bool:
    """Whether its tokenizer is left to check after the first paint (one the file names already rule out is said at
    once: the check can only confirm it)."""
    return bool(entry.path) and not entry.unusable and tokenizer_check.unchecked(entry.path)


NBSP = "\u00a0"
NOTE_HEADER = f"tokenizer{NBSP}check"  # wider than any of its cells (tokenizer_check.short)
NOTE_COLUMN = "models.note_column"  # the table drew its note column in this session: it keeps it
CHECKED_HERE = "models.checked_here"  # models drawn with their tokenizer unchecked in this session
NOTE_HEIGHT = 120  # px: the least height of the picked model's line on its tokenizer, while it is checked and once it is
DRAWN = "models.notes_drawn"  # the library was drawn with tokenizers left unchecked: the runs after it check them


def settle_notes() -> None:
    """After the page is drawn: load the tokenizers its table did not, then draw the page again (a tokenizer that does
    not load turns Chat with it and Train on it off). Not in the run that draws the library: loading them took 11 s
    after a fresh start (transformers' import, then each tokenizer) and 48 s on a busy machine, the page running all
    the while; nor in the runs after it: one load held a pick or a click on Export 40 s. Another process loads them
    (``tokenizer_check.check_apart``); the runs after the first paint only ask it what it has found."""
    if not tokenizer_check.pending():
        st.session_state[DRAWN] = False
        return
    _settle()


@st.fragment(run_every=0.5)
def _settle() -> None:
    if not st.session_state.get(DRAWN):  # the first paint ends here: the library is on screen, the page idle
        st.session_state[DRAWN] = True
        return
    if tokenizer_check.check_apart():
        st.caption("Checking that each model's tokenizer loads…")  # the foot of the page: nothing below it moves
        return  # a tick takes no time: a pick or a click meanwhile is answered at once
    # The whole page again, whether or not an answer changed: its run finds nothing pending and draws no fragment, so
    # the ticks stop (a tick left running read as the rerun a click asked for, and kept the page's state "running").
    st.rerun(scope="app")


def actions(entries: list[library.ModelEntry]) -> None:
    """Chat with, train on, or delete one model."""
    if not entries:
        return
    by_spec = {e.spec: e for e in entries}
    imported = st.session_state.pop(IMPORTED, None)
    if imported in by_spec:  # a model just imported is the one its buttons act on next
        st.session_state["models.selected"] = imported
    labels = library.picker_labels(entries)
    spec = st.selectbox("Model", list(by_spec), format_func=labels.__getitem__, key="models.selected")
    entry = by_spec[spec]
    # One container whatever the model has to say of itself: the buttons and the Export panel below keep their place
    # in the page, so a panel opened, or a button clicked, while a new pick redraws the page is not drawn anew (a
    # shifted expander came back closed, swallowing the click on Export).
    with st.container():
        if entry.origin:
            st.caption(entry.origin[:1].upper() + entry.origin[1:])  # not str.capitalize: it lowercases file names
        if spec in st.session_state.get(CHECKED_HERE, ()):
            # Checked after the first paint: its line is in a box at least NOTE_HEIGHT tall whatever the check finds,
            # so the buttons and the Export panel below do not move when the answer arrives; taller where the answer
            # needs it (a long error in a narrow window was cut at a fixed height, its scroll bar not drawn).
            with ui.least_height("models-note", NOTE_HEIGHT):
                if _checking(entry):
                    st.caption("Checking that its tokenizer loads…")
                elif entry.note:
                    note_line(entry)
                else:
                    st.caption("Its tokenizer loads.")
        elif entry.note:
            note_line(entry)
    c1, c2, c3 = st.columns(3)
    if c1.button("Chat with it", icon=":material/chat:", key="models.chat", disabled=entry.unusable):
        chat_with(spec)
    if c2.button("Train on it", icon=":material/model_training:", key="models.train",
                 disabled=entry.source == "run" or entry.unusable,
                 help="Fine-tune it on a dataset (a run continues on the Train page's Runs tab)."):
        st.session_state["train.base_choice"] = "a model from the library"
        st.session_state["train.base_model"] = spec
        st.session_state["train.base_model.chosen"] = True  # picked on purpose: no "using the bundled ... instead"
        st.switch_page("pages/3_Train.py")
    if entry.source == "run":
        c3.caption("A run's model is deleted with its run, on the Train page.")
    elif entry.source == "hub cache":
        c3.caption("Hub downloads live in the Hugging Face cache: `hf cache rm` removes them.")
    elif first_use_line(entry.spec):
        c3.caption(first_use_line(entry.spec))
    else:
        row = c3.container(horizontal=True)
        if spec != bundled.SPEC:  # the bundled copy keeps its label: it says what it is
            with popovers.popover(row, "Rename", RENAME_POPOVER, icon=":material/edit:"):
                new = st.text_input("New name", value=entry.name, key=f"models.rename.{spec}", max_chars=80,
                                    help=f"How tables and pickers name it; it is still loaded as {spec}.")
                if st.button("Rename", type="primary", key="models.rename"):
                    renamed = ui.run_or_error(library.rename_model, parse_spec(spec).name, new)
                    if renamed:
                        st.session_state["models.flash"] = f"Renamed {ui.md(entry.name)} to {ui.md(renamed)}."
                        popovers.close(RENAME_POPOVER, DELETE_POPOVER)
                        st.session_state[IMPORTED] = spec  # the picker set again: the browser kept showing the old name
                        st.rerun()
        with popovers.popover(row, "Delete", DELETE_POPOVER, icon=":material/delete:"):
            st.write(f"Delete **{ui.md(entry.name)}** ({entry.size_text}) from the library?")
            says, used = library.deleting_says(parse_spec(spec).name)  # what goes, what comes back, what needs it
            st.caption(ui.md(says))
            if st.button("Delete the copy" if spec == bundled.SPEC else "Delete for good", type="primary",
                         key="models.delete", disabled=bool(used), help="Delete those runs first." if used else None):
                from studio.evaluate import results as eval_results

                using = eval_results.evaluations_answering_with(spec)  # the model would vanish under them
                if ui.run_or_error(library.delete_model, parse_spec(spec).name, in_use=using):
                    st.session_state["models.flash"] = f"Deleted {ui.md(entry.name)}."
                    popovers.close(RENAME_POPOVER, DELETE_POPOVER)
                    st.rerun()
    # One place whether or not the model has an Export panel: the forms below keep theirs when the pick changes.
    with st.container():
        if not entry.unusable:  # nothing can load it, so nothing can export it: its note above says why and what to do
            export_ui.export_panel(spec, entry.name, "models")
        elif spec in st.session_state.get(CHECKED_HERE, ()):  # drawn while checked: the panel keeps its place, closed
            with st.expander(export_ui.LABEL, icon=":material/output:"):
                st.caption("Nothing can export it: it cannot be loaded (the line above says why).")


def flash() -> None:
    message = st.session_state.get("models.flash")
    if message:
        st.success(message, icon=":material/check_circle:")
        st.session_state["models.flash"] = None


# --- import a GGUF file ----------------------------------------------------------------------------

def _importing() -> bool:
    workdir = st.session_state.get(IMPORT)
    return workdir is not None and jobs.read_status(Path(workdir)).active


def _copy_name(uploaded: str) -> str:
    """The upload's file name for its copy on disk, cut to what a file system takes (255 bytes): a longer one was
    refused as "Could not keep the upload (File name too long): check the free disk"."""
    name = Path(uploaded).name or "upload.gguf"
    if len(name.encode()) <= 200:
        return name
    suffix = Path(name).suffix if len(Path(name).suffix.encode()) <= 20 else ""
    stem = name.removesuffix(suffix).encode()[:200 - len(suffix.encode())].decode(errors="ignore")
    return stem + suffix


def _running_or_done() -> bool:
    workdir = st.session_state.get(IMPORT)
    return workdir is not None and jobs.read_status(Path(workdir)).state in (*jobs.ACTIVE, "finished")


def import_panel() -> None:
    st.subheader("Import a GGUF file")
    st.caption("A model from llama.cpp, Ollama or LM Studio, dequantized once into the workspace (float32 for "
               "training on a CPU; bfloat16 halves the size), in a background process with a memory ceiling.")
    busy = _importing()
    upload = st.file_uploader("Upload a .gguf file", type=["gguf"], key="models.upload", disabled=busy)
    path_text = st.text_input("…or its path on this machine", max_chars=ui.SHORT_TEXT_CHARS, key="models.path", disabled=busy,
                              placeholder="/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    # one under the other, each the section's width: in halves of it at 800 px (105 px each) the name box's hint read
    # "from the file na"
    name = st.text_input("Name in the library", max_chars=ui.SHORT_TEXT_CHARS, key="models.name", disabled=busy,
                         placeholder="from the file name",
                         help="Letters, digits, '.', '_' and '-'; loaded as model:NAME.")
    dtype = st.selectbox("Weights", library.DTYPES, key="models.dtype", disabled=busy)
    if st.button("Import", type="primary", icon=":material/upload:", key="models.import", disabled=busy):
        start_import(upload, path_text, name, dtype)
    if st.session_state.get(IMPORT) is not None:
        import_status()


def start_import(upload, path_text: str, name: str, dtype: str) -> None:
    started = (getattr(upload, "file_id", None), name.strip(), dtype) if upload is not None else None
    if started is not None and started == st.session_state.get(UPLOADED) and _running_or_done():
        return  # a second click on the same upload (a double click): its import is running or done, shown below
    st.session_state[IMPORT] = None  # the last import's outcome is not this one's
    folder = None
    handed = False  # whether the job took the uploaded copy (it removes it when it ends)
    try:
        if name.strip():
            library.check_name(name)
        if upload is not None:
            too_big = ui.upload_too_big(upload, "Not imported", "run the studio on your own machine, which takes "
                                        "files of any size.")
            if too_big:  # Markdown already: shown as it is, not escaped again
                st.error(too_big, icon=":material/error:")
                return
            # A copy on disk for the job to read, claimed by this process until the job takes it; removed below
            # whatever happens (an error, a stopped script) unless the job started with it.
            folder = Path(tempfile.mkdtemp(prefix=".upload-", dir=config.models_dir()))
            library.claim(folder)
            path = folder / _copy_name(upload.name)
            with open(path, "wb") as fh:
                shutil.copyfileobj(upload, fh, 1 << 20)
        elif path_text.strip():
            path = Path(path_text.strip()).expanduser()
            if path.is_dir():  # a model folder from the Hub or a run is not imported: it is used as it is
                raise StudioError(f"{path_text.strip()} is a folder: give the path of the .gguf file in it.")
            imports.check_file(path, path_text.strip())
        else:
            raise StudioError("Choose a .gguf file first: upload it or type its path.")
        workdir = imports.start_import(path, name.strip(), dtype, upload=folder)
        handed = True
        st.session_state[UPLOADED] = started
    except (StudioError, OSError) as exc:
        ui.show_error(exc if isinstance(exc, StudioError) else f"Could not keep the upload ({exc.strerror or exc}): "
                      f"check the free disk and that {config.models_dir()} is writable.")
        return
    finally:
        if folder is not None and not handed:
            shutil.rmtree(folder, ignore_errors=True)
    st.session_state[IMPORT] = str(workdir)
    st.rerun()  # the form shows as busy while the job runs


@st.fragment(run_every=1.0)
def import_status() -> None:
    workdir = st.session_state.get(IMPORT)
    if workdir is None:
        return
    s = jobs.read_status(Path(workdir))
    if s.active:
        left = f" · about {s.eta_s:.0f} s left" if s.eta_s else ""
        st.progress(min(1.0, s.progress), text=f"{s.message or 'starting'}{left}")
        if st.button("Stop", key="models.import_stop", icon=":material/stop:"):
            jobs.request_stop(Path(workdir))
        return
    if s.state == "finished":
        try:
            e = library.ModelEntry(**s.extra["entry"])
            text = (f"Imported {ui.md(e.name)} as `{e.spec}` ({e.params_text} parameters, {e.dtype}, "
                    f"{e.size_text}).")
        except (KeyError, TypeError):  # a status written by another version of the worker
            text = f"Imported: {ui.md(s.message)}."
        st.success(text, icon=":material/check_circle:")
    elif s.state == "stopped":
        st.warning("Import stopped: nothing was added to the library.", icon=":material/stop_circle:")
    else:
        ui.show_error(imports.failure(s))
    if st.session_state.get("models.import_seen") != workdir:
        st.session_state["models.import_seen"] = workdir
        if s.state == "finished":
            st.session_state[IMPORTED] = (s.extra.get("entry") or {}).get("spec")
        st.rerun(scope="app")  # the form and the table show the outcome


# --- download from the Hub ---------------------------------------------------------------------------

def download_panel() -> None:
    st.subheader("Download from the Hugging Face Hub")
    st.caption("Into the local Hugging Face cache, in the background: size and free disk checked first; a stopped "
               "download resumes where it was.")
    workdir = st.session_state.get(DOWNLOAD)
    active = workdir is not None and jobs.read_status(Path(workdir)).active
    repo = st.text_input("Model id", max_chars=ui.SHORT_TEXT_CHARS, key="models.repo", placeholder="e.g. distilgpt2", disabled=active)
    if st.button("Download", icon=":material/download:", key="models.download", disabled=active):
        try:
            # the Hub is asked whether the repository has a model to load (up to download.CHECK_S): the page sat still
            with st.spinner(f"Checking the repository for a model to load (up to {download.CHECK_S} s)…"):
                folder = download.start_download(repo, ui.hf_token())
        except StudioError as exc:
            ui.show_error(exc)
        else:
            st.session_state[DOWNLOAD] = str(folder)
            st.session_state["models.download_repo"] = repo.strip()
            st.session_state["models.download_seen"] = None  # the same id again: its end is new too
            st.rerun()
    if st.session_state.get(DOWNLOAD):
        download_status()


@st.fragment(run_every=1.0)
def download_status() -> None:
    workdir = Path(st.session_state[DOWNLOAD])
    s = jobs.read_status(workdir)
    if s.active:
        st.progress(s.progress, text=s.message or "starting")
        if st.button("Stop", key="models.download_stop", icon=":material/stop:"):
            jobs.request_stop(workdir)
        return
    if s.state == "finished":
        said = s.message or "downloaded"  # the job's log line ("downloaded acme/tiny"); on the page, a sentence
        st.success(f"{said[:1].upper()}{said[1:]}.", icon=":material/check_circle:")
    elif s.state == "stopped":  # a Stop a person asked for, not an error; the files fetched so far are kept
        repo = st.session_state.get("models.download_repo") or "the download"
        st.info(f"Stopped: {repo} is not downloaded yet; what was fetched is kept. Download again to resume.",
                icon=":material/stop_circle:")
    elif s.state == "failed":
        ui.show_error(s.error or "The download failed: start it again to resume.")  # "model*.safetensors" literally
    if st.session_state.get("models.download_seen") != str(workdir):
        # The table, the model picker and the Model id field were drawn while it ran (the field and Download
        # disabled): draw the page once more, with the download listed and selected, and the field free again.
        st.session_state["models.download_seen"] = str(workdir)
        if s.state == "finished":
            st.session_state[IMPORTED] = st.session_state.get("models.download_repo")
        st.rerun(scope="app")
