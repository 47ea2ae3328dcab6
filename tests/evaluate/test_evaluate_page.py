"""The Evaluate page through Streamlit's AppTest: bad input, a full run on tiny models, results and filters."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from studio.data import store
from studio.data.display import NO_LINK
from studio.evaluate import job as eval_jobs
from studio.evaluate import results as eval_results
from studio.evaluate import runner as evaluate
from studio.evaluate.config import EvalConfig
from studio.evaluate.result import QuestionRow
from studio.ui import evaluate as evaluate_ui
from tests.places import place

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "5_Evaluate.py")
QA = [
    {"question": "How long is a match? <b>bold</b>", "answer": "Two halves of 45 minutes."},
    {"question": "How many players are on a team?", "answer": "Eleven, one of them the goalkeeper."},
    {"question": "What is a corner kick?", "answer": "A restart after the defenders put the ball over their goal line."},
]


def _app() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def _without_suggestion(at: AppTest) -> AppTest:
    """The form with no model chosen: a first visit with no runs suggests the bundled model (these tests type theirs)."""
    at.multiselect(key="evaluate.models").set_value([]).run()
    return at


def _compared(at: AppTest):
    """Compare past evaluations as a row per evaluation and model ("<id> · <model>"), a column per field; the page
    shows it turned, a column each."""
    return next(t.value.T for t in at.table if "started" in t.value.index)


def _summary_table(at: AppTest):
    """The Summary as the page shows it: one row per metric (then the counts), one column per model."""
    return next(t.value for t in at.table if evaluate_ui.READS in t.value.columns)


def _summary(at: AppTest):
    """The Summary read a model at a time: a row per model, a column per metric and count."""
    return _summary_table(at).drop(columns=evaluate_ui.READS).T.rename_axis("model").reset_index()


def _htmls(at: AppTest) -> list[str]:
    return [el.proto.body for el in at.get("html")]


def test_empty_selection_is_a_clear_error():
    store.create_dataset("Soccer QA", QA)
    at = _without_suggestion(_app())
    assert any("No evaluations yet" in i.value for i in at.info)
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.button(key="evaluate.start").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["No model chosen: pick at least one model to evaluate."]


def test_dataset_without_answers_is_refused_before_starting():
    store.create_dataset("Questions only", [{"question": "How long is a match?"}])
    at = _without_suggestion(_app())
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.text_area(key="evaluate.other_models").input("distilgpt2").run()
    at.button(key="evaluate.start").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "no reference answers" in at.error[0].value
    assert eval_results.list_evals() == []


def test_page_runs_an_evaluation_in_the_background_and_shows_results(tiny_gpt2, tiny_phi3, offline):
    store.create_dataset("Soccer QA", QA)
    at = _without_suggestion(_app())
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.text_area(key="evaluate.other_models").input(f"{tiny_gpt2}\n{tiny_phi3}").run()
    at.number_input(key="evaluate.max_new_tokens").set_value(6).run()
    at.button(key="evaluate.start").click().run()
    assert not at.exception and not at.error
    eval_id = at.session_state["evaluate.selected"]
    deadline = time.time() + 180
    while time.time() < deadline and eval_jobs.job_state(eval_id).active:
        time.sleep(1)
    at.run()
    assert not at.exception, at.exception
    result = eval_results.load(eval_id)
    assert result.status == "finished", result.error
    summary = _summary(at)
    assert list(summary["model"]) == [str(tiny_gpt2), str(tiny_phi3)] and list(summary["answered"]) == ["3", "3"]
    assert len(at.get("plotly_chart")) >= 1
    table = next(h for h in _htmls(at) if "eval-side-by-side" in h)
    assert "How long is a match? &lt;b&gt;bold&lt;/b&gt;" in table and "<b>bold</b>" not in table
    assert table.count("<tr>") == 1 + len(QA)


def _stored_result(tiny_gpt2, tmp_path) -> str:
    """A finished evaluation with one leaked question and a model that failed to load."""
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    train = tmp_path / "train.json"
    train.write_text(json.dumps([QA[1]]))
    result = evaluate.run_evaluation(EvalConfig(models=(str(tiny_gpt2), "/no/such/model"), dataset_file=str(data),
                                                train_file=str(train), max_new_tokens=4))
    return result.id


def test_filters_warnings_and_exports_on_a_stored_result(tiny_gpt2, tmp_path, offline):
    eval_id = _stored_result(tiny_gpt2, tmp_path)
    at = _app()
    assert at.session_state["evaluate.selected"] == eval_id
    said = [w.value for w in at.warning if "no/such/model" in w.value.replace("\\", "")]
    assert len(said) == 1 and "failed every question" in said[0] and "No such folder" in said[0]  # once
    table = next(h for h in _htmls(at) if "eval-side-by-side" in h)
    assert "No such folder" not in table and table.count("<th>") == 2  # reference, the one that answered
    summary = _summary(at)
    failed_row = summary[summary["model"] != summary["model"].iloc[0]].iloc[0]
    assert failed_row["Token F1"] == "failed" and failed_row["answered"] == "0"
    assert "Latency per answer (s)" in summary.columns  # 3 questions answered in one batch (batch size 8):
    assert any(c.value.startswith("Latency is seconds per answer.") and "averaged over a batch of 3" in c.value
               for c in at.caption), [c.value for c in at.caption]
    for value in summary["Token F1"]:  # 3 significant digits, never 0.41234567
        assert value == "failed" or len(value.replace("0.", "").lstrip("0")) <= 3
    at.radio(key="evaluate.filter").set_value("leaked").run()
    table = next(h for h in _htmls(at) if "eval-side-by-side" in h)
    assert table.count("<tr>") == 2 and "How many players" in table
    at.toggle(key=f"evaluate.exclude.{eval_id}").set_value(True).run()
    assert list(_summary(at)["answered"]) == ["2", "0"]  # the leaked question left out
    assert not at.exception
    from studio.evaluate import report

    page = report.to_html(eval_results.load(eval_id))
    assert "failed every question" in page and page.count("failed: No such folder") == 0


def test_a_hub_model_offline_says_what_loads_here_not_scratch(tmp_path, offline):
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    evaluate.run_evaluation(EvalConfig(models=("distilgpt2",), dataset_file=str(data), max_new_tokens=4))
    at = _app()
    said = [w.value for w in at.warning if "distilgpt2" in w.value]
    assert len(said) == 1 and "No network: choose a model from the library" in said[0]
    assert "scratch" not in said[0]  # Evaluate cannot train from scratch: the Train page's remedy is not offered


def test_start_times_read_as_dates_not_iso_strings_on_the_page_and_in_the_report(tmp_path):
    from studio.evaluate import report

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    long = "api:soccer_faq_assistant_finetuned_with_lora_rank16"
    for created in ("2026-12-04T09:01:00+00:00", "2026-12-05T00:12:33.123456+00:00"):  # an earlier one to compare with
        result = evaluate.new_result(EvalConfig(models=("m", long), dataset_file=str(data)))
        result.created, result.status = created, "finished"
        result.rows = [QuestionRow(index=0, question=QA[0]["question"], reference=QA[0]["answer"],
                                   answers={"m": "Two halves", long: "Two"}, scores={"m": {"f1": 0.4}, long: {"f1": 0.1}})]
        eval_results.save(eval_results.refresh_summaries(result))
    at = _app()
    status = [c.value for c in at.caption if c.value.startswith("Status:")]
    assert len(status) == 1 and "started 2026-12-05 00:12 UTC" in status[0]
    # the models in full under the picker, whose label ("<id> · m, api:soccer_faq_assistant_fi") a narrow window cuts
    assert f"models: m, {long} · " in status[0].replace("\\", ""), status[0]
    compared = _compared(at)
    assert list(dict.fromkeys(compared["started"])) == ["2026-12-05 00:12 UTC", "2026-12-04 09:01 UTC"]  # a row a model
    page = report.to_html(eval_results.load(result.id))
    assert "started 2026-12-05 00:12 UTC" in page
    for shown in [*status, page, compared.to_csv()]:
        assert "T00:12" not in shown and "+00:00" not in shown


def test_a_job_that_died_is_reported_with_its_partial_results(tmp_path):
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    result = evaluate.new_result(EvalConfig(models=("m",), dataset_file=str(data)))
    result.status = "running"  # as a worker leaves it when it is killed mid-way
    result.rows = [QuestionRow(index=0, question=QA[0]["question"], reference=QA[0]["answer"],
                               answers={"m": "Two halves"}, scores={"m": {"f1": 0.4}})]
    eval_results.save(result)
    at = _app()
    assert any("stopped before finishing" in e.value for e in at.error)
    assert "Two halves" in next(h for h in _htmls(at) if "eval-side-by-side" in h)


def test_home_counts_evaluations_and_links_the_page(tmp_path):
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    result = evaluate.new_result(EvalConfig(models=("m",), dataset_file=str(data)))
    result.status = "finished"
    result.rows = [QuestionRow(index=0, question=QA[0]["question"], reference=QA[0]["answer"], answers={"m": "Two"})]
    eval_results.save(result)
    at = AppTest.from_file(str(Path(PAGE).parent.parent / "Home.py"), default_timeout=60)
    at.run()
    assert not at.exception
    assert any("Evaluations with answers so far: 1" in c.value for c in at.caption)
    assert any(link.proto.page == "Evaluate" and link.proto.label == "Evaluate" for link in at.get("page_link"))


def _train_one_step(base, ds, test_fraction: float) -> str:
    """A finished training run of ``base`` on dataset ``ds`` (version 1); returns its id."""
    from studio.train import loop as train
    from studio.train import runs

    run_id = runs.new_run_id("tuned")
    cfg = train.TrainConfig(base=str(base), max_steps=1, batch_size=2, test_fraction=test_fraction)
    train.run_job(cfg, store.load_version(ds.id), runs.run_dir(run_id), name="tuned",
                  dataset={"id": ds.id, "name": ds.name, "version": 1, "sha256": ds.latest.sha256,
                           "count": ds.latest.count})
    return run_id


def test_a_finished_run_and_its_base_are_chosen_on_arrival(tiny_gpt2):
    """After training, the page opens ready to compare the new run with the model it started from,
    on the run's held-out questions."""
    ds = store.create_dataset("Soccer QA", QA + [{"question": "How big is the ball?", "answer": "Size five."}])
    run_id = _train_one_step(tiny_gpt2, ds, test_fraction=0.5)
    at = _app()
    assert at.multiselect(key="evaluate.models").value == [f"run:{run_id}", str(tiny_gpt2)]
    assert at.radio(key="evaluate.source").value == "run"
    assert at.selectbox(key="evaluate.split_run").value == run_id
    from studio.train import runs

    # named as in the models picker, with the size of its held-out split under it: "0 = every question" below had no
    # number to it
    name = runs.load_run(run_id).name  # "tuned · run 20261207-160420": the id's tail, the name again, left out
    assert at.selectbox(key="evaluate.split_run").options == [runs.picker_name(name, run_id)]
    assert at.selectbox(key="evaluate.split_run").options[0].startswith(f"{name} · run {run_id[:15]}")
    assert "2 held-out questions" in [c.value for c in at.caption]


def test_the_form_stays_as_set_after_a_visit_to_another_page_until_a_new_run_finishes(tiny_gpt2):
    """Models, questions and settings came back as the arrival defaults (the newest run and its base, its held-out
    split, 64 tokens) after a look at another page. They stay; a run that finished meanwhile is chosen with its base,
    as on a first visit."""
    from tests.conftest import back_from_another_page

    ds = store.create_dataset("Soccer QA", QA + [{"question": "How big is the ball?", "answer": "Size five."}])
    first = _train_one_step(tiny_gpt2, ds, test_fraction=0.5)
    at = _app()
    at.multiselect(key="evaluate.models").set_value([f"run:{first}"]).run()
    at.text_area(key="evaluate.other_models").set_value("distilgpt2").run()
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.number_input(key="evaluate.sample").set_value(3).run()
    at.number_input(key="evaluate.max_new_tokens").set_value(32).run()
    at.toggle(key="evaluate.sampling").set_value(True).run()
    at.slider(key="evaluate.temperature").set_value(0.3).run()
    # Set through session state, not drawn with a value: they came back empty or off when the last run before the page
    # change was a timed fragment's (the progress of an evaluation, every second), which back_from_another_page models.
    at.text_input(key="evaluate.base_url").set_value("http://127.0.0.1:9/v1").run()
    at.text_input(key="evaluate.qa_endpoint").set_value("http://127.0.0.1:9/qa").run()
    at.text_input(key="evaluate.judge").set_value("api:judge").run()
    at.toggle(key="evaluate.similarity").set_value(True).run()
    at.toggle(key="evaluate.semantic_leakage").set_value(True).run()
    back = back_from_another_page(at)
    assert not back.exception
    assert [back.text_input(key=f"evaluate.{k}").value for k in ("base_url", "qa_endpoint", "judge")] == [
        "http://127.0.0.1:9/v1", "http://127.0.0.1:9/qa", "api:judge"]
    assert back.toggle(key="evaluate.similarity").value and back.toggle(key="evaluate.semantic_leakage").value
    assert back.multiselect(key="evaluate.models").value == [f"run:{first}"]
    assert back.text_area(key="evaluate.other_models").value == "distilgpt2"
    assert back.radio(key="evaluate.source").value == "dataset"
    assert back.selectbox(key="evaluate.dataset").value.id == ds.id
    assert (back.number_input(key="evaluate.sample").value, back.number_input(key="evaluate.max_new_tokens").value) \
        == (3, 32)
    assert back.toggle(key="evaluate.sampling").value and back.slider(key="evaluate.temperature").value == 0.3
    time.sleep(1.1)  # run ids are stamped to the second
    second = _train_one_step(tiny_gpt2, ds, test_fraction=0.5)
    again = back_from_another_page(back)
    assert again.multiselect(key="evaluate.models").value == [f"run:{second}", str(tiny_gpt2)]
    assert again.radio(key="evaluate.source").value == "run" and again.selectbox(key="evaluate.split_run").value == second
    assert again.number_input(key="evaluate.max_new_tokens").value == 32  # the settings stay


def test_a_run_trained_on_every_record_is_tested_on_its_dataset(tiny_gpt2):
    """The scratch preset keeps no held-out split: the page offers the run's own dataset and version
    (leaked rows are then flagged) instead of a split that would be refused."""
    ds = store.create_dataset("Soccer QA", QA)
    store.create_dataset("Another set", [{"question": "Who?", "answer": "Me."}])
    run_id = _train_one_step(tiny_gpt2, ds, test_fraction=0.0)
    at = _app()
    assert at.multiselect(key="evaluate.models").value[0] == f"run:{run_id}"
    assert at.radio(key="evaluate.source").value == "dataset"
    assert at.selectbox(key="evaluate.dataset").value.id == ds.id and at.selectbox(key="evaluate.version").value == 1
    assert any("trained on every record (no held-out split)" in c.value for c in at.caption)  # and says why


def test_a_chosen_run_deleted_elsewhere_leaves_the_selection(tiny_gpt2):
    from studio.train import runs

    ds = store.create_dataset("Soccer QA", QA + [{"question": "How big is the ball?", "answer": "Size five."}])
    run_id = _train_one_step(tiny_gpt2, ds, test_fraction=0.5)
    at = _app()
    assert at.multiselect(key="evaluate.models").value == [f"run:{run_id}", str(tiny_gpt2)]
    runs.delete_run(run_id)  # from the Train page, in another tab
    at.run()
    assert not at.exception and at.multiselect(key="evaluate.models").value == []


def test_answers_appear_while_the_evaluation_runs(tmp_path):
    from chat_servers import FaultServer

    store.create_dataset("Soccer QA", QA)
    with FaultServer().running() as server:
        at = _without_suggestion(_app())
        at.radio(key="evaluate.source").set_value("dataset").run()
        at.text_area(key="evaluate.other_models").input("api:m").run()
        at.text_input(key="evaluate.base_url").input(server.url("slow")).run()
        at.number_input(key="evaluate.concurrency").set_value(1).run()
        at.button(key="evaluate.start").click().run()
        eval_id = at.session_state["evaluate.selected"]
        seen_live, statuses, progress = False, set(), []
        shown = [c.value for c in at.caption]  # the page as drawn on Start, before the job has read the questions
        deadline = time.time() + 120
        while time.time() < deadline and eval_jobs.job_state(eval_id).active:
            at.run()
            shown += [c.value for c in at.caption]
            progress += [p.proto.text for p in at.get("progress")]
            statuses |= {c.value.split(" · ")[0] for c in at.caption if c.value.startswith("Status:")}
            if any(e.label.startswith("Answers so far") for e in at.expander):
                seen_live = any("eval-side-by-side" in h for h in _htmls(at))
                if seen_live:
                    break
            time.sleep(0.5)
        assert seen_live  # the first answers are on the page before the last one is in
        # the progress line names the model as typed: "api:m: 1/3" in Markdown showed the emoji :m: ("apiⓂ️ 1/3"); in
        # a code span or split by empty spans (NO_LINK: no shortcode across them), never bare
        outside = [re.sub(r"`[^`]*`", "", t) for t in progress]
        assert any(t.lstrip("`").replace(NO_LINK, "").startswith("api:") for t in progress)
        assert not [t for t in outside if any(":m:" in piece for piece in t.split(NO_LINK))], progress
        assert statuses <= {"Status: **running**"}  # one status while it runs, never "queued · 0 questions"
        # The status line is drawn once, outside the panel that refreshes: it must not say "questions: being loaded"
        # for the whole run; the refreshing panel names the questions once they are read.
        assert not [c for c in shown if "being loaded" in c]
        assert any(c.startswith("Questions: Soccer QA v1 · 3 questions") for c in shown), shown
        eval_jobs.stop_evaluation(eval_id)
        deadline = time.time() + 60
        while time.time() < deadline and eval_jobs.job_state(eval_id).active:
            time.sleep(0.5)


def test_a_passage_dataset_shows_each_models_span_in_the_passage(trained_qa, tiny_gpt2, tmp_path):
    records = [{"question": "Qual é o meu nome?", "answer": "Marcundes",
                "context": "Meu nome é Marcundes e estou <b>gravando</b> uma aula."},
               {"question": "How long is a match?", "answer": "Two halves of 45 minutes."}]
    ds = store.create_dataset("Aula", records)
    result = evaluate.run_evaluation(EvalConfig(models=(str(trained_qa), str(tiny_gpt2)), dataset_id=ds.id,
                                                max_new_tokens=4))
    assert result.status == "finished", result.error
    at = _app()
    assert at.session_state["evaluate.selected"] == result.id
    assert "Found in passage" in _summary(at).columns
    marked = [m.value for m in at.markdown if "<mark>" in m.value]
    assert marked and "Meu nome é <mark>Marcundes</mark> e estou &lt;b&gt;gravando&lt;/b&gt; uma aula." in marked[0]
    extractive = next(m.label for m in result.models if m.task == "extractive")
    assert any(c.value.startswith(f"{extractive}: found in the passage · score") for c in at.caption)
    assert not at.exception


def test_expect_high_scores_is_said_only_while_the_questions_are_the_runs_training_records():
    from studio.train import runs

    trained = store.create_dataset("FAQ", QA)
    other = store.create_dataset("Held out", [{"question": "Who restarts play?", "answer": "The referee."},
                                              {"question": "How wide is a goal?", "answer": "7.32 metres."}])
    folder = runs.run_dir(runs.new_run_id("faq"))
    folder.mkdir(parents=True)
    runs.write_run(folder, {"name": "FAQ run", "created": runs.now_iso(), "base": "distilgpt2", "config": {},
                            "dataset": {"id": trained.id, "name": "FAQ", "version": 1}})
    runs.write_split(folder, {"train": [0, 1, 2], "test": []})  # trained on every record
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["evaluate.models"] = [f"run:{folder.name}"]
    at.run()
    said = "expect high scores on questions it has seen"
    assert at.radio(key="evaluate.source").value == "dataset"
    assert any(said in c.value for c in at.caption)
    at.selectbox(key="evaluate.dataset").set_value(store.get_dataset(other.id)).run()  # a held-out dataset
    assert not any(said in c.value for c in at.caption)


def test_when_every_model_failed_the_page_says_so_once_and_draws_no_empty_charts(tmp_path):
    ds = store.create_dataset("Soccer QA", QA)
    result = evaluate.run_evaluation(EvalConfig(models=(str(tmp_path / "no-such-model"),), dataset_id=ds.id))
    assert result.status == "finished" and not eval_results.shown_labels(result)
    at = _app()
    assert not at.exception
    (warning,) = [w.value for w in at.warning]
    assert "failed every question: No such folder" in warning and ".." not in warning
    (error,) = [e.value for e in at.error]
    assert error.startswith("Every model failed, so there is nothing to score")
    charts = [c.key for c in at.get("plotly_chart") if c.key != "evaluate.compare_bars"]  # that one: past evaluations
    assert charts == []  # no empty axes
    assert not [t for t in at.toggle if t.label.startswith("Exclude the")]  # no "Exclude the 0 leaked questions"
    assert "a Hub id in the local cache" in error  # what a local model could be instead
    # the status line above it does not read as a success ("Status: finished" over "Every model failed")
    (status,) = [c.value for c in at.caption if c.value.startswith("Status:")]
    assert status.startswith("Status: **finished, every model failed**"), status


def test_when_every_api_model_failed_the_page_does_not_tell_to_pick_a_folder_or_a_gguf_file(tmp_path):
    """An OpenAI-compatible server that answered 500 to every question: the page told the person to fix "a folder, a
    .gguf file, a model from the library or a Hub id in the local cache", none of which an api: model is."""
    from tests.chat_servers import FaultServer

    ds = store.create_dataset("Soccer QA", QA)
    server = FaultServer()
    server.thread.start()
    try:
        result = evaluate.run_evaluation(EvalConfig(models=("api:m",), dataset_id=ds.id, api_base_url=server.url("down"),
                                                    api_timeout_s=5))
    finally:
        server.release.set()
        server.httpd.shutdown()
    assert result.status == "finished" and not eval_results.shown_labels(result)
    at = _app()
    assert not at.exception
    (warning,) = [w.value for w in at.warning]
    assert "api:m failed every question" in warning and "busy" in warning, warning
    assert [e.value for e in at.error] == ["Every model failed, so there is nothing to score: fix what is said above "
                                           "for each model and start again."]


def test_while_stopping_the_page_says_what_is_kept(tmp_path):
    """Stop ends every answer in flight at once, an extractive model's request to Inference Providers too: the page
    no longer says it waits for one."""
    import os

    from studio import jobs

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    result = evaluate.new_result(EvalConfig(models=("api:qa:deepset/roberta-base-squad2",), dataset_file=str(data),
                                            api_timeout_s=90))
    eval_results.save(result)
    jobs.update_status(eval_jobs.job_dir(result.id), kind="evaluate", state="stopping", pid=os.getpid(),
                       message="api:qa:deepset/roberta-base-squad2: 1/3")  # as the job leaves it mid-stop
    at = _app()
    (note,) = [i.value for i in at.info if i.value.startswith("Stopping")]
    assert "answers so far are kept" in note
    assert "cannot be interrupted" not in note and "90 s" not in note
    assert at.button(key=f"evaluate.stop.{result.id}").disabled


def test_the_api_timeout_is_a_setting_of_the_page(tmp_path):
    """A model on a CPU server took over a minute to answer: its questions failed "... raise the timeout", and the
    page had no timeout to raise. The value set reaches the evaluation."""
    store.create_dataset("Soccer QA", QA)
    at = _without_suggestion(_app())
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.text_area(key="evaluate.other_models").input("api:m").run()
    at.text_input(key="evaluate.base_url").input("http://127.0.0.1:9/v1").run()
    at.number_input(key="evaluate.api_timeout").set_value(300.0).run()
    at.button(key="evaluate.start").click().run()
    assert not at.exception and not at.error
    eval_id = at.session_state["evaluate.selected"]
    assert eval_results.load(eval_id).config["api_timeout_s"] == 300
    eval_jobs.stop_evaluation(eval_id)


def test_compared_evaluations_say_how_many_questions_each_mean_is_over(tmp_path):
    """A stopped evaluation (2 of 5 answered) was compared with a finished one by its means alone."""
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    for n, (status, answered) in enumerate((("finished", len(QA)), ("stopped", 2))):
        result = evaluate.new_result(EvalConfig(models=("m",), dataset_file=str(data)))
        result.id, result.created, result.status = f"20261205-00000{n}-cmp{n}", f"2026-12-05T00:0{n}:00+00:00", status
        result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"],
                                   **({"answers": {"m": "Two halves"}, "scores": {"m": {"f1": 0.4}}} if i < answered
                                      else {"errors": {"m": "not run: the evaluation was stopped"}}))
                       for i, q in enumerate(QA)]
        eval_results.save(eval_results.refresh_summaries(result))
    at = _app()
    compared = _compared(at)
    assert list(compared["answered"]) == ["2", f"{len(QA)}"]
    assert list(compared["failed"]) == ["0", "0"] and list(compared["stopped"]) == [f"{len(QA) - 2}", "0"]  # not run: no failure


def _local_and_api_result(tmp_path) -> str:
    """The walk's evaluation: a local model scored with reference perplexity, an API chat model (no perplexity: it is
    computed for local models only), one leaked question, no judge and no semantic similarity."""
    from studio.evaluate.result import Leak

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    result = evaluate.new_result(EvalConfig(models=(str(tmp_path), "api:m"), dataset_file=str(data)))
    local = result.labels[0]
    result.status = "finished"
    result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"],
                               answers={local: "Two halves", "api:m": "Ninety minutes"},
                               scores={local: {"f1": 0.41234567, "chrf": 40.123456, "perplexity": 12.3456789},
                                       "api:m": {"f1": 0.1, "chrf": 10.0}},
                               leak=Leak(97.3, "How long is a game?", "fuzzy") if i == 0 else None)
                   for i, q in enumerate(QA)]
    eval_results.save(eval_results.refresh_summaries(result))
    return result.id


def test_the_summary_says_how_to_read_each_metric_and_why_an_api_model_has_no_perplexity(tmp_path):
    """A new user could not tell which way was better, and the API model's perplexity cell was blank with no reason."""
    _local_and_api_result(tmp_path)
    at = _app()
    summary = _summary(at)
    assert list(summary["Perplexity"]) == ["12.3", "—"]
    assert any(c.value.startswith("— under Perplexity: computed for local models only") for c in at.caption)
    reads = _summary_table(at)[evaluate_ui.READS]  # beside each metric, in sight (it was a header's tooltip)
    assert reads["Perplexity"] == "1 and up, lower is better"
    assert reads["Token F1"] == "0-1, higher is better" and reads["chrF"] == "0-100, higher is better"
    assert reads["answered"] == "questions"


def test_compared_evaluations_are_rounded_as_the_summary_is(tmp_path):
    """The Compare past evaluations table showed 0.41234567 where the Summary showed 0.412."""
    first = _local_and_api_result(tmp_path)
    second = _local_and_api_result(tmp_path)
    at = _app()
    compared = _compared(at)
    assert {label.split(" · ")[0] for label in compared.index} == {first, second}
    assert list(compared["Token F1"]) == ["0.412", "0.1"] * 2 and list(compared["chrF"]) == ["40.1", "10"] * 2
    assert list(compared["Perplexity"]) == ["12.3", "—"] * 2


def test_past_evaluations_are_offered_for_comparison_only_when_there_are_others(tmp_path):
    """"Compare past evaluations (1)" was offered beside the only evaluation there was: nothing to compare it with."""
    _local_and_api_result(tmp_path)
    at = _app()
    assert not at.exception and at.selectbox(key="evaluate.pick").options
    assert not [e for e in at.expander if e.label.startswith("Compare past evaluations")]
    assert not [t for t in at.table if "started" in t.value.index]
    _local_and_api_result(tmp_path)
    at.run()
    assert [e.label for e in at.expander if e.label.startswith("Compare")] == ["Compare past evaluations (2)"]


def test_a_leak_reads_the_same_in_the_answers_table_and_the_question_details(tmp_path):
    """The table said "(97.3)", the details "97% similar"."""
    _local_and_api_result(tmp_path)
    at = _app()
    table = next(h for h in _htmls(at) if "eval-side-by-side" in h)
    assert "97% similar to the training question" in table and "97.3" not in table
    assert any(w.value.startswith("Leaked: 97% similar to the training question") for w in at.warning)


def test_the_plots_offer_only_the_metrics_this_evaluation_computed(tmp_path):
    """Score distributions offered similarity (not computed: an empty plot); win/tie/loss offered the judge (none)."""
    _local_and_api_result(tmp_path)
    at = _app()
    offered = at.selectbox(key="evaluate.dist_metric").options
    assert "Semantic similarity" not in offered and "Exact match" not in offered
    assert offered == ["Token F1", "chrF", "Perplexity"]
    assert at.selectbox(key="evaluate.wtl_metric").options == ["Token F1", "chrF"]  # no judge, no API perplexity
    # each model's box the tab's width: in thirds of an 800 px window they read "Soccer rules (sar" and
    # "SmolLM2-135M-I", two runs of one dataset not told apart
    boxed = {s.key for c in at.columns for s in c.get("selectbox")}
    assert at.selectbox(key="evaluate.wtl_a") and not boxed & {"evaluate.wtl_a", "evaluate.wtl_b"}


def test_every_model_chosen_shows_in_full_in_the_models_picker(tmp_path):
    """After the Train page's "Evaluate it" the picker held the run and its base on one line (Streamlit keeps a
    picker placed in a column to one row of chips): the base was cut to a sliver, so one could not see it was
    chosen. Its chips wrap onto more rows (seen in Chromium at 1280 and 390 px wide)."""
    at = _app()
    picker = at.multiselect(key="evaluate.models")
    assert picker.value and picker.proto.wrap


def test_a_first_visit_without_runs_suggests_the_bundled_model_and_start_works(offline):
    """The models list started empty: a new user had nothing to Start with. Offline, the bundled SmolLM2 is
    suggested, as on the Chat and Train pages."""
    from studio.models import bundled

    store.create_dataset("Soccer QA", QA)
    at = _app()
    assert at.multiselect(key="evaluate.models").value == [bundled.SPEC]
    said = at.multiselect(key="evaluate.models").format_func(bundled.SPEC)  # it read "... (bundled Q4_1 copy) · bundled"
    assert said.lower().count("bundled") == 1 and len(said) <= 17, said  # its chip, whole in an 800 px window
    assert at.radio(key="evaluate.source").value == "dataset"
    at.button(key="evaluate.start").click().run()
    assert not at.exception and not at.error
    eval_id = at.session_state["evaluate.selected"]
    assert eval_results.load(eval_id).config["models"] == [bundled.SPEC]
    eval_jobs.stop_evaluation(eval_id)


def _stopped_result(tmp_path, answered_by: dict[str, int]) -> str:
    """A stopped evaluation: each model answered its first n questions; Stop came before the rest ("not run")."""
    from studio.evaluate import stopping

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    result = evaluate.new_result(EvalConfig(models=tuple(answered_by), dataset_file=str(data)))
    result.status, result.error = "stopped", "Evaluation stopped: the results so far are kept."
    result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"]) for i, q in enumerate(QA)]
    for label, n in answered_by.items():
        for row in result.rows:
            if row.index < n:
                row.answers[label], row.scores[label] = "Two halves", {"f1": 0.4}
            else:
                row.errors[label] = stopping.NOT_RUN
    eval_results.save(eval_results.refresh_summaries(result))
    return result.id


def test_an_evaluation_stopped_before_any_answer_does_not_read_as_every_model_failing(tmp_path):
    """Stop pressed while the first model loaded: the page said "api:m failed every question" and "Every model failed
    ... fix what is said above for each model (a folder, a .gguf file ...)", though nothing had failed."""
    _stopped_result(tmp_path, {"api:m": 0, "api:n": 0})
    at = _app()
    assert not at.exception and not at.error
    assert not [w.value for w in at.warning if "failed every question" in w.value]
    assert any(i.value.startswith("Nothing was answered before the stop") for i in at.info)


def test_a_model_stop_came_before_is_said_not_run_not_failed(tmp_path):
    _stopped_result(tmp_path, {"api:m": 2, "api:n": 0})
    at = _app()
    assert not at.exception and not at.error
    assert not [w.value for w in at.warning if "failed every question" in w.value]
    assert any(i.value == "api:n was not run: the evaluation was stopped before its first answer." for i in at.info)
    summary = _summary(at)
    assert list(summary["model"]) == ["api:m", "api:n"]
    # the questions Stop came before are counted apart: api:m failed none of them
    assert list(summary["failed"]) == ["0", "0"] and list(summary["stopped"]) == [str(len(QA) - 2), str(len(QA))]
    assert any(c.value.startswith("Stopped: questions the evaluation was stopped before") for c in at.caption)


def test_deleting_an_evaluation_is_asked_apart_from_the_comparison_and_names_what_goes(tmp_path):
    """"Delete the selected evaluation" sat under the comparison's "Evaluations" picker and deleted at once, for good,
    the evaluation shown above, not the ones picked there."""
    from studio import jobs

    shown = _stopped_result(tmp_path, {"api:m": 3})
    other = _stopped_result(tmp_path, {"api:n": 3})
    for eval_id in (shown, other):  # each ran as the page's job: its status and log
        jobs.update_status(eval_results.job_dir(eval_id), state="stopped", kind="evaluate", message="stopped")
        (eval_results.job_dir(eval_id) / jobs.LOG).write_text("answered 3\n")
    at = _app()
    at.selectbox(key="evaluate.pick").set_value(shown).run()
    compare = next(e for e in at.expander if e.label.startswith("Compare past evaluations"))
    assert not [b for b in compare.button if b.key == "evaluate.delete"]
    (ask,) = [p for p in at.get("popover") if p.proto.popover.label == "Delete this evaluation"]
    assert any(shown in m.value and "for good" in m.value for m in ask.markdown)
    ask.button(key="evaluate.delete").click().run()
    assert not at.exception
    assert [e.id for e in eval_results.list_evals()] == [other]
    # nothing of it is left (its job's status and log stayed in jobs/ for good), the other's job as it was
    assert not eval_results.job_dir(shown).exists() and (eval_results.job_dir(other) / jobs.LOG).is_file()


def test_before_the_first_answer_the_page_draws_no_summary_of_zeros_or_empty_charts(tmp_path):
    """While the first model loaded, the page showed a summary of "0 answered, 0 failed" rows, an empty "Mean score per
    model" chart and empty tabs under the progress bar."""
    import os

    from studio import jobs

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    result = evaluate.new_result(EvalConfig(models=("api:m", "api:n"), dataset_file=str(data)))
    result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"]) for i, q in enumerate(QA)]
    eval_results.save(eval_results.refresh_summaries(result))
    jobs.update_status(eval_jobs.job_dir(result.id), kind="evaluate", state="running", pid=os.getpid(),
                       message="loading api:m", done=0, total=6)
    at = _app()
    assert not at.exception
    assert any(i.value == "No answers yet." for i in at.info)
    assert [c.key for c in at.get("plotly_chart") if c.key != "evaluate.compare_bars"] == []
    assert not [t for t in at.table if evaluate_ui.READS in t.value.columns]
    assert not at.tabs


def test_the_progress_line_of_a_stopping_evaluation_does_not_promise_to_finish_the_current_step(tmp_path):
    """Stop read "stopping after the current step" (a training run's words) above the note that the answer being
    written is dropped at once."""
    import os

    from studio import jobs

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    result = evaluate.new_result(EvalConfig(models=("api:m",), dataset_file=str(data)))
    eval_results.save(result)
    jobs.update_status(eval_jobs.job_dir(result.id), kind="evaluate", state="running", pid=os.getpid(),
                       message="api:m: 1/3", done=1, total=3)
    eval_jobs.stop_evaluation(result.id)  # what Stop does
    at = _app()
    (line,) = [p.proto.text for p in at.get("progress")]
    assert line == "stopping · 1/3 answers"
    assert any(i.value.startswith("Stopping: the answer being written is dropped") and "answers so far are kept" in i.value
               for i in at.info)


def test_a_questions_details_read_dash_for_a_missing_score_and_leave_out_metrics_not_computed(tmp_path):
    """The details of a question an API model failed read "None" in each of its metric cells, an API model's perplexity
    "None", and a Semantic similarity column and a judge column of "None" were there though neither was computed."""
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    result = evaluate.new_result(EvalConfig(models=("tuned", "api:m"), dataset_file=str(data)))
    result.status = "finished"
    result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"],
                               answers={"tuned": "Two halves"},
                               scores={"tuned": {"exact_match": 0.0, "f1": 0.41234, "perplexity": 12.5}},
                               errors={"api:m": "quota exceeded"}) for i, q in enumerate(QA[:2])]
    result.rows.append(QuestionRow(index=2, question=QA[2]["question"], reference=QA[2]["answer"],
                                   answers={"tuned": "A restart", "api:m": "A restart"},
                                   scores={"tuned": {"f1": 0.5, "perplexity": 9.0}, "api:m": {"f1": 0.5}}))
    eval_results.save(eval_results.refresh_summaries(result))
    at = _app()
    details = next(df.value for df in at.dataframe if "answer" in df.value.columns)
    assert list(details.columns) == ["model", "answer", "Exact match", "Token F1", "Perplexity"]
    tuned, api = details.to_dict("records")
    assert tuned["Token F1"] == "0.412" and api["answer"] == "[failed] quota exceeded"
    assert api["Token F1"] == api["Perplexity"] == "\u2014"


def test_leaked_and_question_counts_read_in_the_singular_for_one_and_no_toggle_for_none(tmp_path):
    """"Exclude the 1 leaked questions from the summary", "· 1 questions", and a disabled "Exclude the 0 leaked
    questions" toggle on every evaluation without a leak."""
    from studio.evaluate.result import Leak

    one = _stopped_result(tmp_path, {"api:m": 3})
    result = eval_results.load(one)
    result.status, result.rows[1].leak = "finished", Leak(97.0, "How many players are in a team?", "fuzzy")
    eval_results.save(eval_results.refresh_summaries(result))
    at = _app()
    assert [t.label for t in at.toggle if t.label.startswith("Exclude")] == ["Exclude the 1 leaked question from the summary"]
    result.rows, result.rows[0].leak = result.rows[:1], None  # one question, no leak
    eval_results.save(eval_results.refresh_summaries(result))
    at.run()
    assert not [t for t in at.toggle if t.label.startswith("Exclude")]
    assert any(c.value.startswith("Status: **finished**") and c.value.endswith(" · 1 question") for c in at.caption)
    assert "1 of 1 question · highlighted: words not in the reference" in [c.value for c in at.caption]  # "1 questions"


def _asked(tmp_path, n: int, questions: list[dict]) -> str:
    """A finished evaluation of model "m" on ``questions``, the n-th made (later ones are newer)."""
    data = tmp_path / f"qa{n}.json"
    data.write_text(json.dumps(questions))
    result = evaluate.new_result(EvalConfig(models=("m",), dataset_file=str(data)))
    result.id, result.created, result.status = f"20261206-00000{n}-cmp{n}", f"2026-12-06T00:0{n}:00+00:00", "finished"
    result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"], answers={"m": "Two halves"},
                               scores={"m": {"f1": 0.4}}) for i, q in enumerate(questions)]
    eval_results.save(eval_results.refresh_summaries(result))
    return result.id


def test_compare_starts_with_the_newest_evaluation_and_an_earlier_one_on_the_same_questions(tmp_path):
    """Compare picked the two newest evaluations, here one on the soccer questions and one on other questions: their
    means side by side compared nothing. It picks the newest and the newest before it asked the same questions."""
    soccer = _asked(tmp_path, 1, QA)
    other = _asked(tmp_path, 2, [{"question": "What is a tensor?", "answer": "An array."}])
    at = _app()
    assert at.multiselect(key="evaluate.compare").value == [other]
    # one more evaluation while the page is open: the comparison starts from it (it kept the first visit's picks)
    newest = _asked(tmp_path, 3, list(reversed(QA)))  # the same questions, another order: still comparable
    at.run()
    assert at.multiselect(key="evaluate.compare").value == [newest, soccer]
    compared = _compared(at)
    assert [label.split(" · ")[0] for label in compared.index] == [newest, soccer]


def test_compare_says_so_when_no_earlier_evaluation_asked_the_newest_s_questions(tmp_path):
    _asked(tmp_path, 1, QA)
    newest = _asked(tmp_path, 2, QA[:2])  # a sample: other questions
    at = _app()
    assert at.multiselect(key="evaluate.compare").value == [newest]
    (line,) = [c.value for c in at.caption if c.value.startswith("No earlier evaluation asked the questions")]
    assert newest in line


def test_a_damaged_evaluation_file_is_named_on_the_page_not_gone_without_a_word():
    """The Home page said it, and the Evaluate page, where a person looks for the evaluation, read 'No evaluations
    yet' (a file cut off by a full disk, or edited by hand)."""
    folder = eval_results.path("20261122-000000-abcd").parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "20261122-000000-abcd.json").write_text('{"id": "20261122-000000-abcd", "rows": [{"quest')
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert [w.value for w in at.warning if "20261122-000000-abcd.json" in w.value] == [
        "Evaluation file 20261122-000000-abcd.json is not listed: it is damaged (cut off or edited by hand). "
        "Delete it, or put the original back."]
    assert not [i for i in at.info if "No evaluations yet" in i.value]


def test_an_api_evaluation_started_beside_a_running_one_leaves_both_in_sight(tmp_path):
    """API models need no device, so Start stays on while an API-only evaluation runs (docs/evaluate.md: only api:
    models run beside a device job). The second one started was shown and the first vanished from the page, still
    running, with nothing saying so: the page names the other running one, and the Evaluation picker marks both."""
    import os

    from studio import jobs

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    started = []
    for model in ("api:m", "api:n"):
        result = evaluate.new_result(EvalConfig(models=(model,), dataset_file=str(data)))
        result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"]) for i, q in enumerate(QA)]
        eval_results.save(eval_results.refresh_summaries(result))
        jobs.update_status(eval_jobs.job_dir(result.id), kind="evaluate", state="running", pid=os.getpid(),
                           message=f"asking {model}", done=0, total=6)
        started.append(result.id)
    first, second = started
    at = _app()
    at.session_state["evaluate.selected"] = second  # as Start leaves it
    at.run()
    assert not at.exception and at.selectbox(key="evaluate.pick").value == second
    assert [i.value for i in at.info if i.value.startswith("Also running")] == [
        f"Also running: {first} (api:m). Pick it under Evaluation to follow or stop it."]
    picker = at.selectbox(key="evaluate.pick")
    assert picker.format_func(first).endswith(" · running") and picker.format_func(second).endswith(" · running")
    jobs.update_status(eval_jobs.job_dir(first), state="finished", message="finished")
    at.run()
    assert not [i for i in at.info if i.value.startswith("Also running")]
    assert not at.selectbox(key="evaluate.pick").format_func(first).endswith("running")


def test_questions_picked_by_the_person_stay_when_the_models_change_back_and_forth(tiny_gpt2):
    """'A dataset version' picked with a run chosen, the run removed (the page would suggest a dataset version then
    too) and chosen again: the questions went back to the run's held-out split, as if never picked."""
    ds = store.create_dataset("Soccer QA", QA + [{"question": "How big is the ball?", "answer": "Size five."}])
    run_id = _train_one_step(tiny_gpt2, ds, test_fraction=0.5)
    at = _app()
    models, source = at.multiselect(key="evaluate.models"), lambda: at.radio(key="evaluate.source").value
    assert source() == "run"
    # Left alone, the choice follows the models: the run removed, then chosen again.
    models.set_value([str(tiny_gpt2)]).run()
    assert source() == "dataset"
    at.multiselect(key="evaluate.models").set_value([f"run:{run_id}", str(tiny_gpt2)]).run()
    assert source() == "run"
    # Picked by the person, it stays through the same changes.
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.multiselect(key="evaluate.models").set_value([str(tiny_gpt2)]).run()
    assert source() == "dataset"
    at.multiselect(key="evaluate.models").set_value([f"run:{run_id}", str(tiny_gpt2)]).run()
    assert not at.exception
    assert source() == "dataset"


def test_sample_size_keeps_its_place_when_the_line_on_a_runs_training_records_comes_and_goes():
    """Picking the run's own dataset adds a line above Sample size ("expect high scores..."): the field moved down a
    place, so the browser drew it anew while that pick reran the page, losing what was being typed into it."""
    from studio.train import runs

    trained = store.create_dataset("FAQ", QA)
    other = store.create_dataset("Held out", [{"question": "Who restarts play?", "answer": "The referee."}])
    folder = runs.run_dir(runs.new_run_id("faq"))
    folder.mkdir(parents=True)
    runs.write_run(folder, {"name": "FAQ run", "created": runs.now_iso(), "base": "distilgpt2", "config": {},
                            "dataset": {"id": trained.id, "name": "FAQ", "version": 1}})
    runs.write_split(folder, {"train": [0, 1, 2], "test": []})
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["evaluate.models"] = [f"run:{folder.name}"]
    at.run()
    assert any("expect high scores" in c.value for c in at.caption)
    first = place(at, "number_input", key="evaluate.sample")
    at.selectbox(key="evaluate.dataset").set_value(store.get_dataset(other.id)).run()
    assert not any("expect high scores" in c.value for c in at.caption)
    assert place(at, "number_input", key="evaluate.sample") == first
    at.radio(key="evaluate.source").set_value("run").run()  # "Run" in place of "Dataset" and "Version"
    assert place(at, "number_input", key="evaluate.sample") == first and not at.exception


def test_the_result_tabs_keep_their_place_whichever_evaluation_is_picked(tmp_path):
    """A stopped evaluation says so above its summary, a finished one does not: the tabs moved a place between them,
    so the browser drew them anew and the tab a person had open went back to the first."""
    stopped = _stopped_result(tmp_path, {"api:m": 3})
    finished = _asked(tmp_path, 1, QA)
    at = _app()
    at.selectbox(key="evaluate.pick").set_value(stopped).run()
    assert any("Showing what was done" in w.value for w in at.warning)
    first = place(at, "tab", "Win / tie / loss")
    at.selectbox(key="evaluate.pick").set_value(finished).run()
    assert not any("Showing what was done" in w.value for w in at.warning)
    assert place(at, "tab", "Win / tie / loss") == first and not at.exception


def test_a_page_of_answers_that_is_not_there_is_said_in_one_line_and_the_page_shown_stays(tmp_path):
    """The answers' Page box had the browser's bounds: a 5 typed of 2 pages stayed red in it while the table showed
    the page before, without a word (``studio.ui.numbers``: the value stays as typed, with one line)."""
    questions = [{"question": f"Question {i}?", "answer": "Two halves"} for i in range(30)]
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(questions))
    result = evaluate.new_result(EvalConfig(models=("m",), dataset_file=str(data)))
    result.status = "finished"
    result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"], answers={"m": "Two halves"},
                               scores={"m": {"f1": 1.0}}) for i, q in enumerate(questions)]
    eval_results.save(eval_results.refresh_summaries(result))
    at = _app()

    def shown() -> list[int]:  # the question numbers in the answers table
        table = next(h.proto.body for h in at.get("html") if "eval-side-by-side" in h.proto.body)
        return [int(n) for n in re.findall(r"<span class=n>#(\d+)</span>", table)]

    at.number_input(key="evaluate.page_no").set_value(2).run()
    assert shown() == list(range(21, 31)) and not at.error
    at.number_input(key="evaluate.page_no").set_value(5).run()
    assert [e.value for e in at.error] == ["Page 5 is out of range: use 1 to 2."]
    assert at.number_input(key="evaluate.page_no").value == 5  # as typed
    assert shown() == list(range(21, 31))  # page 2 still shown
    assert not at.exception


def test_the_question_details_keep_their_place_whichever_filter_shows_them(tmp_path):
    """More than a page of questions draws a Page field above the question details, fewer none: a filter that left
    one page moved the Question picker a place, and the browser drew it anew (a pick being made in it was lost)."""
    questions = [{"question": f"Question {i}?", "answer": "Two halves"} for i in range(30)]
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(questions))
    result = evaluate.new_result(EvalConfig(models=("m", "n"), dataset_file=str(data)))
    result.status = "finished"
    result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"],
                               answers={"m": "Two halves", "n": "One"},
                               scores={"m": {"f1": 1.0}, "n": {"f1": 0.0 if i < 3 else 1.0}})
                   for i, q in enumerate(questions)]
    eval_results.save(eval_results.refresh_summaries(result))
    at = _app()
    assert at.number_input(key="evaluate.page_no")  # 30 questions: two pages
    first = place(at, "selectbox", key="evaluate.drill")
    at.radio(key="evaluate.filter").set_value("lost").run()  # where n lost: 3 questions, one page
    assert not [n for n in at.number_input if n.key == "evaluate.page_no"]
    assert "3 of 30 questions" in " ".join(c.value for c in at.caption)
    assert place(at, "selectbox", key="evaluate.drill") == first and not at.exception


def test_the_results_keep_their_place_when_the_evaluation_ends(tmp_path):
    """While an evaluation runs, its progress sits above its answers so far; when it ended the progress went and the
    tabs moved up, so the browser drew them anew: the tab a person was reading went back to the first."""
    import os

    from studio import jobs

    eval_id = _asked(tmp_path, 1, QA)
    work = eval_jobs.job_dir(eval_id)
    jobs.update_status(work, state="running", kind="evaluate", pid=os.getpid(), progress=0.5, message="m")
    at = _app()
    assert at.get("progress")  # the progress panel, above the answers so far
    first = place(at, "tab", "Win / tie / loss")
    jobs.update_status(work, state="finished", kind="evaluate", pid=os.getpid(), progress=1.0, message="done")
    at.run()
    assert not at.get("progress")
    assert place(at, "tab", "Win / tie / loss") == first and not at.exception


def test_compare_and_delete_keep_their_place_when_another_evaluation_ends(tmp_path):
    """"Also running: ..." sits above the comparison and Delete while another evaluation runs; when it ended the line
    went and both moved up a place, so the browser drew them anew: an open comparison, or Delete's question, closed."""
    import os

    from studio import jobs

    running = _asked(tmp_path, 1, QA)
    shown = _asked(tmp_path, 2, QA)
    result = eval_results.load(running)
    result.status = "running"
    eval_results.save(result)
    work = eval_jobs.job_dir(running)
    jobs.update_status(work, state="running", kind="evaluate", pid=os.getpid(), progress=0.5, message="m")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["evaluate.pick"] = at.session_state["evaluate.selected"] = shown
    at.run()
    assert any(i.value.startswith("Also running") for i in at.info)
    first = place(at, "expander", "Compare past evaluations"), place(at, "popover", "Delete this evaluation")
    jobs.update_status(work, state="finished", kind="evaluate", pid=os.getpid(), progress=1.0, message="done")
    at.run()
    assert not any(i.value.startswith("Also running") for i in at.info)
    assert (place(at, "expander", "Compare past evaluations"), place(at, "popover", "Delete this evaluation")) == first
    assert not at.exception


def test_compare_starts_with_the_newest_evaluation_that_ended_not_one_still_running(tmp_path):
    """An evaluation just started was Compare's first pick: a row of "—" and a legend entry with no bars, beside the
    finished one it was paired with. Compare starts with the newest that ended; once the running one ends, with it."""
    import os

    from studio import jobs

    earlier = _asked(tmp_path, 1, QA)
    finished = _asked(tmp_path, 2, QA)
    running = evaluate.new_result(EvalConfig(models=("m",), dataset_file=str(tmp_path / "qa2.json")))
    running.id, running.created = "20261206-000003-cmp3", "2026-12-06T00:03:00+00:00"
    running.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"]) for i, q in enumerate(QA)]
    eval_results.save(eval_results.refresh_summaries(running))
    status = eval_jobs.job_dir(running.id)
    jobs.update_status(status, kind="evaluate", state="running", pid=os.getpid(), message="asking m", done=0, total=3)
    at = _app()
    assert at.multiselect(key="evaluate.compare").value == [finished, earlier]
    for row in running.rows:  # it ends
        row.answers["m"], row.scores["m"] = "Two halves", {"f1": 0.5}
    running.status = "finished"
    eval_results.save(eval_results.refresh_summaries(running))
    jobs.update_status(status, state="finished", message="finished")
    at.run()
    assert not at.exception
    assert at.multiselect(key="evaluate.compare").value == [running.id, finished]


LONG = "api:my-organisation/soccer-faq-assistant-finetuned-with-lora-rank16-epochs5-lr2e-4-v3"  # 85 characters


def test_a_long_model_name_is_a_column_of_the_summary_whole(tmp_path):
    """A run or Hub id of 80 characters widened the summary's model column until the latency and the counts were off
    the page (seen in Chromium at 1400 px). Each model is a column now, its name whole in the header (it wraps: the
    browser test measures it)."""
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    result = evaluate.new_result(EvalConfig(models=(LONG, "api:m"), dataset_file=str(data)))
    result.status = "finished"
    result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"],
                               answers={LONG: q["answer"], "api:m": "Nine."},
                               scores={LONG: {"f1": 1.0}, "api:m": {"f1": 0.0}}) for i, q in enumerate(QA)]
    eval_results.save(eval_results.refresh_summaries(result))
    at = _app()
    assert list(_summary_table(at).columns) == [evaluate_ui.READS, LONG, "api:m"]  # whole


def test_the_system_prompt_is_chats_shown_editable_kept_and_reaches_the_evaluation(tmp_path):
    """SmolLM2 rambled in Evaluate and answered on topic in Chat: Evaluate sent no system prompt, so the template
    added its own. The page shows Chat's default, the one set reaches the evaluation and is kept with the form."""
    from studio.models.prompt_format import DEFAULT_SYSTEM

    store.create_dataset("Soccer QA", QA)
    at = _without_suggestion(_app())
    assert at.text_area(key="evaluate.system").value == DEFAULT_SYSTEM
    at.radio(key="evaluate.source").set_value("dataset").run()
    at.text_area(key="evaluate.other_models").input("api:m").run()
    at.text_input(key="evaluate.base_url").input("http://127.0.0.1:9/v1").run()
    at.text_area(key="evaluate.system").input("Answer in one sentence.").run()
    at.button(key="evaluate.start").click().run()
    assert not at.exception and not at.error
    eval_id = at.session_state["evaluate.selected"]
    assert eval_results.load(eval_id).config["system_prompt"] == "Answer in one sentence."
    eval_jobs.stop_evaluation(eval_id)
    again = _app()  # another day: the form as it was set
    assert again.text_area(key="evaluate.system").value == "Answer in one sentence."
    again.button(key="evaluate.reset").click().run()
    assert again.text_area(key="evaluate.system").value == DEFAULT_SYSTEM


def test_in_api_mode_the_caption_does_not_promise_a_held_out_split(api_mode):
    """The public app said "Answer a dataset's held-out questions…", though nothing trains there and no held-out split
    exists: it answers a dataset's own questions."""
    at = _app()
    caption = at.caption[0].value
    assert "a dataset's questions" in caption and "a dataset's held-out" not in caption
    assert "sample" in caption
    # "score them against its answers and read them side by side": the models, then the answers, both "them"
    assert "score their answers against the dataset's and read them side by side" in caption


def test_sample_size_is_as_wide_as_its_label_not_the_form(monkeypatch):
    """The "Sample size" box took the form's full width for a number like 0 or 50; it is given its label's width now,
    as the results' Page box is (the width Streamlit is told: the browser draws the box that wide)."""
    from studio.ui import numbers

    widths: dict[str, object] = {}
    real = numbers.number_box

    def spy(box, label, key, value, **kwargs):
        widths[key] = kwargs.get("width", "stretch")
        return real(box, label, key, value, **kwargs)

    monkeypatch.setattr(numbers, "number_box", spy)
    at = _app()
    width = widths["evaluate.sample"]
    label = at.number_input(key="evaluate.sample").label
    assert isinstance(width, int) and 7 * len(label) <= width < 400, width


def test_the_results_downloads_are_made_when_pressed_and_leave_the_server_soon_after(tmp_path, monkeypatch,
                                                                                    media_stores):
    """Streamlit serves a download's file at a /media address to anyone who has it, whoever's session it is. CSV and
    JSON were put there at every run of the page, for as long as it showed them; a pressed download's file stayed until
    two page runs of any session had ended (on a quiet public app, hours). Now no button has a file before it is
    pressed, and the file a press makes is taken out of the store ``DOWNLOAD_KEPT_S`` later."""
    from streamlit.runtime import Runtime

    from studio.ui import streamlit_internals

    monkeypatch.setattr(streamlit_internals, "DOWNLOAD_KEPT_S", 0.2)
    _local_and_api_result(tmp_path)
    at = _app()
    buttons = {b.proto.label: b.proto for b in at.get("download_button")}
    assert {"CSV", "JSON", "HTML report"} <= set(buttons)
    manager = media_stores[-1]
    assert all(not p.url and p.deferred_file_id for p in buttons.values())  # no /media address before a press
    assert [f.kind.value for f in manager._storage._files_by_id.values()] == ["media"]  # the tab's icon alone
    with monkeypatch.context() as served:  # the server's store, only meanwhile: the test's clean-up reads the runtime
        served.setattr(Runtime, "_instance", type("Served", (), {"media_file_mgr": manager})())
        url = manager.execute_deferred(buttons["CSV"].deferred_file_id)  # what a press does: the browser fetches url
        file_id = url.rsplit("/", 1)[-1].split(".")[0]
        assert "Ninety minutes" in manager._storage.get_file(file_id).content.decode()
        deadline = time.monotonic() + 30
        while file_id in manager._storage._files_by_id and time.monotonic() < deadline:
            time.sleep(0.05)
    assert file_id not in manager._storage._files_by_id
