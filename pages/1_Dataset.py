"""Dataset: create, import, edit, check, version and export Q&A datasets."""

import streamlit as st

from studio import ui
from studio.ui import dataset as dui
from studio.ui import dataset_import, pages
from studio.ui import dataset_tabs as tabs
from studio.ui import dedup as dedup_ui

ui.page_setup(pages.DATASET.title)
dui.init()

st.title(pages.DATASET.title)
info = dui.picker()
dui.show_flash()

# One tab per job; a new tab is a label here and a function taking the selected dataset.
TABS = {
    "Edit": dui.edit_tab,
    "Import": dataset_import.import_tab,
    "Check": tabs.check_tab,
    "Duplicates": dedup_ui.review_queue,
    "Versions": tabs.versions_tab,
    "Export": tabs.export_tab,
}
# the tab asked for (Edit after an import), else the one the person chose, kept through a visit to another page
for tab, (label, render) in zip(dui.tabs(list(TABS)), TABS.items()):
    with tab:
        if tab.open or label not in dui.DRAWN_WHEN_OPEN:
            ui.run_or_error(render, info)
