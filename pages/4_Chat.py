"""Chat: a local model or any API model, streamed; two models side by side in compare mode; or a
question over a passage, answered by an extractive and a generative model side by side."""

import streamlit as st

from studio import device, ui
from studio.ui import chat as chat_ui
from studio.ui import chat_saved, chat_settings, pages
from studio.ui import passage as passage_ui

ui.page_setup(pages.CHAT.title)
chat_ui.init()
passage_ui.init()
chat_ui.collect_finished()
busy = chat_saved.streaming() or passage_ui.running()

with st.sidebar:
    mode = passage_ui.mode_switch(busy)
    st.header("Model")
    pick = chat_settings.backend_picker if mode == passage_ui.CONVERSATION else passage_ui.model_slot
    # Each part whose lines vary with a pick (a backend's fields, an error, the second model, the token fields) is
    # held in its own container: the expanders and the toggle below keep their place in the sidebar, where another
    # backend picked moved them, and the browser drew them anew, closed, losing a click on them meanwhile.
    with st.container():
        spec = pick("a", busy)
    compare = ui.kept(st.toggle, "Compare with a second model", "chat.compare", False, disabled=busy)
    spec_b = None
    with st.container():
        if compare:
            st.subheader("Second model")
            spec_b = pick("b", busy)
    with st.container():
        (chat_settings.token_fields if mode == passage_ui.CONVERSATION else passage_ui.token_fields)([spec, spec_b])
    with st.expander("System prompt", expanded=mode == passage_ui.CONVERSATION):
        system = chat_settings.system_prompt(busy, spec)
    with st.expander("Sampling"):
        params = chat_settings.params_panel(busy)
    chat_settings.local_models_panel()
if params is not None:  # the models by slot: passage mode's apart from the conversation's
    where = "" if mode == passage_ui.CONVERSATION else "passage."
    chat_settings.remember(params, {f"{where}a": spec, f"{where}b": spec_b}, compare, mode)

st.title(pages.CHAT.title)
if device.capabilities().api_only:
    st.caption(device.capabilities().note())
specs = [s for s in (spec, spec_b if compare else None) if s is not None]
ready = params is not None and spec is not None and (not compare or spec_b is not None)

if mode == passage_ui.PASSAGE:
    st.caption("Ask about a passage: an extractive model picks the answer's span (with its score), a generative "
               "one answers with the passage in its prompt. Compare mode asks both.")
    with st.container():  # a caption or the dataset and record boxes
        passage_ui.record_picker(busy)
    context, too_long = passage_ui.passage_box(busy)
    question = passage_ui.question_box(busy)
    passage_ui.keep(context, question)
    row = st.container(horizontal=True, vertical_alignment="center")  # Ask as wide as its label: in a sixth of the
    # page (a column) it read "A…" in an 800 px window
    if row.button("Ask", type="primary", icon=":material/search:", key=passage_ui.ASK_KEY,
                  disabled=busy or not ready or bool(too_long)):  # too long: said in the line under the passage
        if passage_ui.ask(question, context, specs, system, params):
            st.rerun()
    if not ready and not busy:  # say why Ask is off
        missing = "a" if spec is None else "b" if compare and spec_b is None else None
        row.caption(chat_settings.not_set("Ask is off", "first" if missing == "a" else "second",
                                         passage_ui.not_ready(missing)) if missing
                   else "Ask is off: fix the sampling settings.")
    passage_ui.answers(busy)
    st.stop()

st.caption(f"Streamed answers from {'an API model' if device.capabilities().api_only else 'a local model or an API model'}"
           ". Compare mode sends each question to two models.")
with st.container():  # the conversation grows with each question: the buttons below keep their place
    chat_ui.history()
    if busy:  # the same reading that disabled the inputs: an answer that ends meanwhile is collected by the poller's rerun
        chat_ui.live_answers()
    chat_ui.left_out()

chat_ui.put_back()
ui.hide_counter("chat.input")  # it counted out of 1,000,001: a paste past the bound is refused and put back, whole
question = st.chat_input(chat_ui.INPUT_PLACEHOLDER, disabled=busy or not ready, max_chars=ui.PASTE_CHARS, key="chat.input",
                         submit_mode="disable")
with st.container():
    if not ready and not busy:
        chat_settings.why_input_is_off()
if question and ready:
    chat_ui.ask(question, system, specs, params)
    st.rerun()

row = st.container(horizontal=True)  # each button as wide as its label ("Clear convers…" in a third of 800 px)
if row.button("Clear conversation", icon=":material/delete:", disabled=busy or not st.session_state["chat.messages"]):
    chat_saved.clear()
    st.rerun()
with row:
    chat_ui.export_buttons(spec, params, spec_b if compare else None)
