"""Train: pick a dataset version, a base and a preset; preview; launch a background run; watch, stop, resume, ask."""

from pathlib import Path

import streamlit as st

from studio import device, jobs, ui
from studio.models import library
from studio.train import runs
from studio.ui import pages, train_live, train_runs
from studio.ui import train as ui_train

ui.page_setup(pages.TRAIN.title)
ui.init_state({"train.run_id": None, "train.ask": None})
st.title(pages.TRAIN.title)
caps = device.capabilities()
if caps.api_only:  # nothing trains here: no "runs in the background" above a note that says so
    st.caption("Fine-tune a pretrained model or train a small one from scratch, where local models run.")
    # "where the full install runs" read as "here" on a public app whose server has the full install
    where = "in a studio of your own" if caps.public else "where the full install runs"
    st.info(f"{caps.note()} Prepare and export the dataset on the Dataset page (or push it to the Hub), and train "
            f"{where}.", icon=":material/cloud:")
    st.stop()
st.caption("Fine-tune a pretrained model or train a small one from scratch. Training runs in the background: "
           "you can switch pages or close the tab and come back.")

active = jobs.active_device_job()
if active is not None and active.kind == "train" and st.session_state["train.run_id"] is None:
    st.session_state["train.run_id"] = Path(active.workdir).name  # re-attach to the running job

train_runs.apply_tab_request()
new_tab, runs_tab = st.tabs(list(train_runs.TABS), key=train_runs.TAB, on_change="rerun")
with new_tab:
    # Each group of lines that comes and goes with a pick, a setting or a run's end sits in a container of its own: the
    # expanders, fields and buttons below keep their place in the page (one moved by a line above it is drawn anew in
    # the browser while the page reruns: an open expander closes, a click on a button is lost).
    with st.container():
        if st.session_state.get("train.gone"):  # the open run was deleted meanwhile: said once, the form shown
            st.info(st.session_state.pop("train.gone"), icon=":material/delete:")
    run_id = st.session_state["train.run_id"]
    if run_id:  # the open run first, not beneath a form set to another dataset
        train_live.live(run_id)
        train_live.ask_panel(run_id)
        # "Start another run" below is the one way on to the next run, while the run trains and after it ends
        st.divider()
    else:
        train_runs.latest_run_offer()
    with st.expander("Start another run") if run_id else st.container():
        with st.container():
            picked = ui_train.pick_dataset()
        with st.container():
            base = ui_train.pick_base()
        with st.container():
            method = ui_train.pick_method(base) if base else None
        with st.container():
            blocked = ui_train.cannot_train(picked[0]) if picked is not None else None
            if blocked:  # an empty dataset (or one without two usable records): nothing to set up, Start says why
                st.warning(blocked, icon=":material/block:")
        if blocked:
            st.button("Start training", type="primary", icon=":material/play_arrow:", key="train.start", disabled=True,
                      help=blocked)
        elif picked is not None and base and method and not ui_train.base_loads(base):  # its reason shown once
            st.button("Start training", type="primary", icon=":material/play_arrow:", key="train.start", disabled=True,
                      help="The base cannot be loaded: see above.")
        elif picked is not None and base and method:
            records, meta = picked
            cfg = ui_train.settings(base, len(records), method)
            if cfg is not None:
                with st.expander("Preview: what the model will see", expanded=False):
                    lengths, refused = ui_train.preview(cfg, records, (meta.source, meta.version))
                with st.container():  # Run name and Start keep their place whatever a setting changes here
                    if refused and refused != ui_train.LOADING:  # said here, not only in the collapsed preview: Start is off until it is changed
                        st.error(refused, icon=":material/block:")
                    loadable = ui_train.memory_check(cfg, lengths, loading=refused == ui_train.LOADING)
                    version = f" v{meta.version}" if meta.version is not None else ""
                    st.caption(f"Will train **{ui.md(library.display_name(base))}** ({cfg.method}) on "
                               f"**{ui.md(meta.name)}{version}** ({len(records):,} records).")
                    ui_train.held_out_note(cfg, len(records))
                if st.session_state.pop("train.name.clear", False):  # set before it is drawn: the browser shows it
                    st.session_state["train.name"] = ""
                name = st.text_input("Run name", placeholder=runs.default_name(meta.name, base), key="train.name",
                                     max_chars=runs.MAX_NAME, persist_state=ui.PERSIST)
                if st.button("Start training", type="primary", icon=":material/play_arrow:", key="train.start",
                             disabled=not loadable or bool(refused),
                             help=refused or (None if loadable else "The base cannot be loaded: see above.")):
                    started = ui_train.start(cfg, meta, name.strip())
                    if started:
                        # The next run is not named after this one. Popping the widget's value was not enough: the
                        # browser kept the typed name in the box and sent it back with the next click.
                        st.session_state["train.name.clear"] = True
                        train_runs.open_run(started)
            else:  # a setting out of range (said above, with its range): nothing trains with a value not on screen
                st.button("Start training", type="primary", icon=":material/play_arrow:", key="train.start",
                          disabled=True, help="Change the setting named above first.")
with runs_tab:
    train_runs.runs_table()
