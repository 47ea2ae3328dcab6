"""Home: what is in the workspace, what the studio runs on, and where to go next."""

import streamlit as st

from studio import config, device, eval_results, sample, store, ui

ui.page_setup("Home", ":material/home:")
sample.ensure_sample()

st.title("SLM Studio")
st.caption("Curate a Q&A dataset, train a small language model on it, chat with it, and see whether it got better.")

datasets = store.list_datasets()
dev = device.describe()
token = ui.hf_token()

c1, c2, c3 = st.columns(3)
c1.metric("Datasets", len(datasets))
c2.metric("Device", "GPU" if dev.gpus else ("CPU" if dev.local_models else "API only"))
c3.metric("Hub token", "configured" if token else "not set")

st.caption(f"{dev.summary}. Workspace: `{config.home()}` (set `STUDIO_HOME` to move it).")
if not token:
    st.info("No Hugging Face token: local work is unaffected. Add `HF_TOKEN` to secrets or the environment, "
            "or type it on the Chat page, to push datasets and use hosted models.", icon=":material/key:")

st.subheader("Datasets")
if datasets:
    st.dataframe(
        [{"name": d.name, "records": d.latest.count if d.latest else 0, "versions": len(d.versions),
          "last saved": d.latest.created if d.latest else ""} for d in datasets],
        hide_index=True, width="stretch",
    )
else:
    st.write("No datasets yet: create or import one on the Dataset page.")

st.subheader("The path through the studio")
st.page_link("pages/1_Dataset.py", label="1. Dataset: author, import, validate, de-duplicate, version, export",
             icon=":material/table:")
n_evals = eval_results.count_evals()
st.page_link("pages/4_Evaluate.py", icon=":material/fact_check:",
             label=f"4. Evaluate: base vs fine-tuned vs API models on held-out questions ({n_evals} evaluation{'s' if n_evals != 1 else ''} so far)")
