"""The Models page and the one model picker every page uses (Train base, Chat, Evaluate).

Imports and downloads run outside the script thread: an import in a ``studio.tasks.Task`` (the
dequantizing takes seconds to a minute), a download as a background job (``studio.models.download``)
that survives a closed browser. Fragments poll both.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from studio import config, jobs, ui
from studio.errors import StudioError
from studio.models import bundled, download, library
from studio.tasks import Task
from studio.ui import export as export_ui

IMPORT = "models.import_task"
DOWNLOAD = "models.download_dir"


def init() -> None:
    ui.init_state({IMPORT: None, DOWNLOAD: None, "models.flash": None})


# --- the picker -------------------------------------------------------------------------------------

@st.cache_data(ttl=5, show_spinner=False)
def _library() -> list[library.ModelEntry]:
    """The library, listed at most every 5 s (the Hub cache scan walks the disk); the Models page lists it fresh."""
    return library.list_models()


def _entries(include_runs: bool) -> list[library.ModelEntry]:
    return [e for e in _library() if include_runs or e.source != "run"]


def model_picker(key: str, label: str, default: str, *, include_runs: bool = True, disabled: bool = False,
                 help: str | None = None) -> str | None:
    """A model from the library, or any other spec typed into the same box (a Hub id, a folder, a
    .gguf file, run:<id>). ``default`` is preselected (added to the list when the library lacks it)."""
    entries = _entries(include_runs)
    names = {e.spec: f"{e.name} · {e.source}" + (f" · {e.params_text}" if e.parameters else "") for e in entries}
    options = [e.spec for e in entries]
    for extra in (default, st.session_state.get(key)):  # the default, and a spec typed in before
        if extra and extra not in options:
            options.insert(0, extra)
    value = st.selectbox(label, options, index=options.index(default) if default in options else None, key=key,
                         accept_new_options=True, format_func=lambda s: names.get(s, s), disabled=disabled,
                         help=help or "Pick one from the library (the Models page), or type a Hub id, a local "
                                      "folder or a .gguf file.")
    return (value or "").strip() or None


# --- the library table ------------------------------------------------------------------------------

def library_table() -> list[library.ModelEntry]:
    _library.clear()  # the Models page always shows the library as it is now
    entries = _library()
    if not entries:
        st.info("No models yet: import a .gguf file or download one from the Hub below.", icon=":material/info:")
        return entries
    rows = [{"name": e.name, "spec": e.spec, "source": e.source, "architecture": e.architecture or "—",
             "parameters": e.params_text, "context": f"{e.context_length:,}" if e.context_length else "—",
             "chat template": {True: "yes", False: "no"}.get(e.chat_template, "—"), "dtype": e.dtype or "—",
             "disk": e.size_text} for e in entries]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="models.table")
    return entries


def actions(entries: list[library.ModelEntry]) -> None:
    """Chat with, train on, or delete one model."""
    if not entries:
        return
    by_spec = {e.spec: e for e in entries}
    spec = st.selectbox("Model", list(by_spec), format_func=lambda s: f"{by_spec[s].name} ({s})", key="models.selected")
    entry = by_spec[spec]
    if entry.origin:
        st.caption(entry.origin.capitalize())
    c1, c2, c3 = st.columns(3)
    if c1.button("Chat with it", icon=":material/chat:", key="models.chat"):
        st.session_state["chat.mode"] = "Conversation"  # studio.ui.passage.CONVERSATION: the page may be in passage mode
        st.session_state["chat.a.kind"] = "local"
        st.session_state["chat.a.model"] = spec
        st.switch_page("pages/4_Chat.py")
    if c2.button("Train on it", icon=":material/model_training:", key="models.train", disabled=entry.source == "run",
                 help="Fine-tune it on a dataset (a run continues on the Train page's Runs tab)."):
        st.session_state["train.base_choice"] = "a model from the library"
        st.session_state["train.base_model"] = spec
        st.switch_page("pages/3_Train.py")
    if entry.source == "run":
        c3.caption("A run's model is deleted with its run, on the Train page.")
    elif entry.source == "hub cache":
        c3.caption("Hub downloads live in the Hugging Face cache: `hf cache rm` removes them.")
    elif entry.spec == bundled.SPEC and not bundled.imported():
        c3.caption("Imported into the workspace on first use.")
    else:
        with c3.popover("Delete", icon=":material/delete:"):
            st.write(f"Delete **{ui.md(entry.name)}** ({entry.size_text}) from the library?")
            if st.button("Delete for good", type="primary", key="models.delete"):
                if ui.run_or_error(library.delete_model, spec[len("model:"):]):
                    st.session_state["models.flash"] = f"Deleted {ui.md(entry.name)}."
                    st.rerun()
    export_ui.export_panel(spec, entry.name, "models")


def flash() -> None:
    message = st.session_state.get("models.flash")
    if message:
        st.success(message, icon=":material/check_circle:")
        st.session_state["models.flash"] = None


# --- import a GGUF file ----------------------------------------------------------------------------

class ImportTask(Task):
    """``library.import_gguf`` in a worker thread; ``progress.message`` says what it is doing."""

    def __init__(self, path: Path, name: str, dtype: str, cleanup: Path | None = None):
        super().__init__(f"Importing {path.name}")
        self.path, self.name, self.dtype, self.cleanup = path, name, dtype, cleanup

    def work(self) -> library.ModelEntry:
        try:
            return library.import_gguf(self.path, self.name or None, dtype=self.dtype,
                                       progress=lambda line: self.report(0, 1, line))
        finally:
            if self.cleanup is not None:
                shutil.rmtree(self.cleanup, ignore_errors=True)


def import_panel() -> None:
    st.subheader("Import a GGUF file")
    st.caption("A model from llama.cpp, Ollama or LM Studio, dequantized once into the workspace (float32 for "
               "training on a CPU; bfloat16 halves the size).")
    task: ImportTask | None = st.session_state.get(IMPORT)
    busy = task is not None and not task.done
    upload = st.file_uploader("Upload a .gguf file", type=["gguf"], key="models.upload", disabled=busy)
    path_text = st.text_input("…or its path on this machine", key="models.path", disabled=busy,
                              placeholder="/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    c1, c2 = st.columns(2)
    name = c1.text_input("Name in the library", key="models.name", disabled=busy,
                         placeholder="from the file name",
                         help="Letters, digits, '.', '_' and '-'; loaded as model:NAME.")
    dtype = c2.selectbox("Weights", library.DTYPES, key="models.dtype", disabled=busy)
    if st.button("Import", type="primary", icon=":material/upload:", key="models.import", disabled=busy):
        start_import(upload, path_text, name, dtype)
    if st.session_state.get(IMPORT) is not None:
        import_status()


def start_import(upload, path_text: str, name: str, dtype: str) -> None:
    try:
        if name.strip():
            library.check_name(name)
        if upload is not None:
            # A copy on disk: the dequantizer memory-maps the file. Removed once the import ends.
            folder = Path(tempfile.mkdtemp(prefix=".upload-", dir=config.models_dir()))
            path, cleanup = folder / Path(upload.name).name, folder
            path.write_bytes(upload.getvalue())
        elif path_text.strip():
            path, cleanup = Path(path_text.strip()).expanduser(), None
            if not path.is_file():
                raise StudioError(f"No file at {path_text.strip()}: check the path.")
        else:
            raise StudioError("Choose a .gguf file first: upload it or type its path.")
        from studio.models import gguf

        gguf.inspect(path)  # not GGUF, truncated, unsupported: said now, in one line
    except StudioError as exc:
        if upload is not None:
            shutil.rmtree(path.parent, ignore_errors=True)
        ui.show_error(exc)
        return
    st.session_state[IMPORT] = ImportTask(path, name.strip(), dtype, cleanup).start()


@st.fragment(run_every=1.0)
def import_status() -> None:
    task: ImportTask | None = st.session_state.get(IMPORT)
    if task is None:
        return
    if not task.done:
        st.info(f"{task.label}: {task.progress.message or 'starting'}…", icon=":material/hourglass_top:")
        return
    if task.error:
        ui.show_error(task.error)
    else:
        st.success(f"Imported {ui.md(task.result.name)} as `{task.result.spec}` ({task.result.params_text} parameters, "
                   f"{task.result.dtype}, {task.result.size_text}).", icon=":material/check_circle:")
    if st.session_state.get("models.import_seen") is not task:
        st.session_state["models.import_seen"] = task
        st.rerun(scope="app")  # the table shows the new model


# --- download from the Hub ---------------------------------------------------------------------------

def download_panel() -> None:
    st.subheader("Download from the Hugging Face Hub")
    st.caption("Into the local Hugging Face cache, in the background: size and free disk checked first; a stopped "
               "download resumes where it was.")
    workdir = st.session_state.get(DOWNLOAD)
    active = workdir is not None and jobs.read_status(Path(workdir)).active
    repo = st.text_input("Model id", key="models.repo", placeholder="e.g. distilgpt2", disabled=active)
    if st.button("Download", icon=":material/download:", key="models.download", disabled=active):
        try:
            folder = download.start_download(repo, ui.hf_token())
        except StudioError as exc:
            ui.show_error(exc)
        else:
            st.session_state[DOWNLOAD] = str(folder)
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
    elif s.state == "finished":
        st.success(s.message or "Downloaded.", icon=":material/check_circle:")
    elif s.state in ("failed", "stopped"):
        (st.error if s.state == "failed" else st.warning)(s.error or "Download stopped: start it again to resume.",
                                                          icon=":material/error:")
