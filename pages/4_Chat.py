"""Chat: a local model or any API model, streamed; two models side by side in compare mode."""

import streamlit as st

from studio import device, ui
from studio.ui import chat as chat_ui

ui.page_setup("Chat")
chat_ui.init()
chat_ui.collect_finished()
busy = chat_ui.streaming()

with st.sidebar:
    st.header("Model")
    spec = chat_ui.backend_picker("a", busy)
    compare = st.toggle("Compare with a second model", key="chat.compare", disabled=busy)
    spec_b = None
    if compare:
        st.subheader("Second model")
        spec_b = chat_ui.backend_picker("b", busy)
    chat_ui.token_fields([spec, spec_b])
    with st.expander("System prompt", expanded=True):
        system = chat_ui.system_prompt(busy)
    with st.expander("Sampling"):
        params = chat_ui.params_panel(busy)
    chat_ui.local_models_panel()

st.title("Chat")
st.caption("Streamed answers from a local model or an API model. Compare mode sends each question to two models.")
if device.capabilities().api_only:
    st.caption(device.capabilities().note())

chat_ui.history()
if busy:
    chat_ui.live_answers()

specs = [s for s in (spec, spec_b if compare else None) if s is not None]
ready = params is not None and spec is not None and (not compare or spec_b is not None)
question = st.chat_input("Ask something", disabled=busy or not ready, key="chat.input")
if question and ready:
    chat_ui.ask(question, system, specs, params)
    st.rerun()

c1, c2 = st.columns([1, 2])
if c1.button("Clear conversation", icon=":material/delete:", disabled=busy or not st.session_state["chat.messages"]):
    st.session_state["chat.messages"] = []
    st.rerun()
with c2:
    chat_ui.export_buttons(spec, params, spec_b if compare else None)
