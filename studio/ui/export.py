"""The Export panel (Models page: any library model or finished run; Train page: a finished run).

The export runs as a background job (``studio.models.export.job``): a click starts it, a fragment
shows its progress with the time left and a Stop button, and a finished export offers the zip of the GGUF file and its Ollama Modelfile
for download, with the ``ollama create`` command to run after unzipping.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from studio import jobs, ui
from studio.errors import StudioError
from studio.models.export import fmt_size
from studio.models.export import job as export_job
from studio.models.export.writer import QUANTS
from studio.models.library import EXPORT_SPEC
from studio.ui import streamlit_internals

_QUANT_HELP = {"f16": "F16: exact, twice the size of Q8_0", "q8_0": "Q8_0: near-exact, half of F16 (default)",
               "q4_0": "Q4_0: smallest; the output head stays Q8_0"}


STATUS_HEIGHT = 280  # px: the least height of an export's status, its finished state's in a wide window
LABEL = "Export as GGUF (llama.cpp, Ollama, LM Studio)"  # the panel's expander


def export_panel(spec: str, label: str, key: str) -> None:
    """An expander that exports ``spec`` (a picker's spec) as GGUF; ``key`` keeps widgets apart per page."""
    state = f"{key}.export.job.{spec}"
    started = st.session_state.pop(f"{key}.export.started", None)
    if started and started[0] != spec:
        # A click on the panel still drawn for the previous pick, during the pick's rerun: that model's export
        # started with nothing on this panel to show it.
        st.toast(f"Exporting {started[1]}… (pick it to see its progress)", icon=":material/output:")
    with st.expander(LABEL, icon=":material/output:"):
        st.caption("One .gguf file with the tokenizer and chat template inside, and an Ollama Modelfile beside it, "
                   "downloaded together as a zip. A LoRA run is merged into its base first.")
        workdir = st.session_state.get(state)
        status = jobs.read_status(Path(workdir)) if workdir is not None else None
        active = status is not None and status.active
        st.session_state[f"{state}.drawn_active"] = active  # the fragment redraws these when the job ends
        # One above the other, each the panel's width: side by side, Tensor type read "Q8_0: near-exact, half of F1"
        # in an 800 px window (159 px of room for the 217 its choice needs)
        quant = st.selectbox("Tensor type", QUANTS, index=1, key=f"{key}.export.quant", disabled=active,
                             format_func=lambda q: _QUANT_HELP[q])
        default = export_job.default_name(label, quant)
        name = st.text_input("File name", max_chars=ui.SHORT_TEXT_CHARS, key=f"{key}.export.name", placeholder=default,
                             disabled=active,
                             help="Letters, digits, '.', '_' and '-'; .gguf is added.")
        # One button per model, and the click starts what this panel showed (its callback's arguments are this
        # run's): a click on the panel still drawn for the previous pick, during the pick's rerun, exported the
        # model that rerun drew.
        st.button("Export", icon=":material/output:", key=f"{key}.export.go.{spec}", disabled=active,
                  on_click=_start, args=(state, spec, quant, name.strip() or default, key, label))
        if error := st.session_state.pop(f"{state}.error", None):
            ui.show_error(error)
        if st.session_state.get(state):
            # The status in a box at least STATUS_HEIGHT tall, the finished state's height (its line, the download
            # button, the ollama command, two captions): the panel grew three times as an export went on (the
            # progress bar, the finished state, then its code block drawn late), moving everything below it. A stopped
            # or failed export shows one line and nothing comes after it: the box is as tall as that line (it kept
            # the finished state's room, blank).
            ended = status is not None and status.state in ("stopped", "failed")
            with ui.least_height(f"{key}-export-status", None if ended else STATUS_HEIGHT):
                export_status(state, key, spec)


def _start(state: str, spec: str, quant: str, name: str, key: str, label: str) -> None:
    try:
        st.session_state[state] = str(export_job.start_export(spec, quant, name))
        st.session_state[f"{key}.export.started"] = (spec, label)
    except StudioError as exc:
        st.session_state[f"{state}.error"] = str(exc)


@st.fragment(run_every=1.0)
def export_status(state: str, key: str, spec: str) -> None:
    workdir = Path(st.session_state[state])
    s = jobs.read_status(workdir)
    other = s.extra.get(EXPORT_SPEC)
    if other and other != spec:
        # The same file name was given to another model's export since (the job folder is the name's): this panel
        # offered that model's zip as this one's.
        st.session_state.pop(state, None)
        st.info(f"{workdir.name.removeprefix('export-')}.gguf was written again since, by an export of {other}: "
                "export this model again (another file name keeps both).", icon=":material/info:")
        return
    if s.active:
        left = f" · about {s.eta_s:.0f} s left" if s.eta_s and s.state == "running" else ""
        st.progress(min(max(s.progress, 0.0), 1.0), text=f"{s.message or 'starting'}{left}")
        if st.button("Stop", key=f"{key}.export.stop", icon=":material/stop:", disabled=s.state == "stopping"):
            jobs.request_stop(workdir)
        return
    if st.session_state.pop(f"{state}.drawn_active", False):
        st.rerun()  # the whole page: Tensor type, File name and Export were drawn disabled while it ran
    if s.state == "stopped":
        st.warning("Export stopped: nothing was written.", icon=":material/stop_circle:")
        return
    if s.state == "failed":
        ui.show_error(s.error or "The export failed: see its log.")
        return
    zipped = export_job.finished_zip(workdir)
    if zipped is None:
        return
    size = s.extra.get("size") or 0
    # The job's message is a log line ("wrote X.gguf (138.1 MB)"); on the page it is a sentence.
    st.success(f"{s.message[:1].upper()}{s.message[1:]}.", icon=":material/check_circle:")
    # the size as the line above says it: "(0 MB GGUF + Modelfile)" under "Wrote ... (0.1 MB)". The zip is read when
    # the button is pressed, not at every run of this fragment (each second): an open file handed to the button was
    # read whole into Streamlit's media store at every run, and stayed at a /media address anyone with it could fetch.
    # Streamlit 1.67 holds a download in memory (no serving from disk): read once into the one copy it keeps.
    st.download_button(f"Download {zipped.name} ({fmt_size(size)} GGUF + Modelfile)",
                       streamlit_internals.made_when_pressed(zipped.read_bytes), file_name=zipped.name,
                       mime="application/zip", key=f"{key}.export.download", icon=":material/download:")
    st.caption("Unzip, then in that folder:")
    st.code(_ollama_line(s.extra.get("ollama", ""), zipped), language="bash")
    if s.extra.get("system"):  # whose system prompt the Ollama model gets: the model's own, not Chat's default
        st.caption(s.extra["system"])
    st.caption("LM Studio: put the .gguf file in its models folder (or drag it onto the window). llama.cpp: "
               f"`llama-cli -m {zipped.stem}.gguf`.")


def _ollama_line(command: str, zipped: Path) -> str:
    """The job's ``ollama create NAME -f /job/folder/X.Modelfile`` as the user runs it after unzipping."""
    parts = command.split(" -f ")
    return f"{parts[0]} -f {zipped.stem}.Modelfile" if len(parts) == 2 else command
