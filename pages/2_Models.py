"""Models: every model the studio can use; import a GGUF file, download from the Hub, export as GGUF, delete."""

import streamlit as st

from studio import device, ui
from studio.ui import models as models_ui
from studio.ui import pages

ui.page_setup(pages.MODELS.title)
models_ui.init()

st.title(pages.MODELS.title)
caps = device.capabilities()
if caps.api_only:  # no picker here offers a local model: the library's line would describe what is not there
    st.info(caps.note(), icon=":material/cloud:")
    st.stop()
st.caption("Workspace models (imported GGUF files, the bundled SmolLM2-135M-Instruct), Hub downloads in the local "
           "cache, and finished training runs: every picker in the studio offers these.")
with st.container():  # the line on what was just done, there once: the picker and Export below keep their place
    models_ui.flash()
entries = models_ui.library_table()
models_ui.actions(entries)
st.divider()
left, right = st.columns(2)
with left:
    models_ui.import_panel()
with right:
    models_ui.download_panel()
models_ui.settle_notes()
