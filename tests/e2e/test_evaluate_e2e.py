"""A person evaluates two tiny local models in Chromium, reads the results, and opens the HTML report."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from studio.data import store
from tests.e2e.conftest import after_rerun, assert_no_exception, open_page, text_and_room, wait_idle

pytestmark = pytest.mark.e2e

QA = [
    {"question": "How long is a match? <b>bold</b>", "answer": "Two halves of 45 minutes."},
    {"question": "How many players are on a team?", "answer": "Eleven, one of them the goalkeeper."},
    {"question": "What is a corner kick?", "answer": "A restart after the defenders put the ball over their goal line."},
]


def test_evaluate_two_tiny_models_in_the_browser(page, studio, tiny_gpt2, tiny_phi3, tmp_path):
    store.create_dataset("Soccer QA", QA)  # the studio's workspace is this test's STUDIO_HOME
    open_page(page, studio, "Evaluate")
    assert_no_exception(page)
    page.get_by_text("A dataset version").click()
    wait_idle(page)
    page.get_by_role("textbox", name="Other models, one per line").fill(f"{tiny_gpt2}\n{tiny_phi3}")
    page.get_by_role("textbox", name="Other models, one per line").press("Control+Enter")
    wait_idle(page)
    page.get_by_role("button", name="Start evaluation").click()

    # The job runs in the background; the page shows the results once it finishes.
    page.get_by_role("button", name="Stop").wait_for(timeout=60_000)  # the progress panel
    page.get_by_role("button", name="Stop").wait_for(state="detached", timeout=420_000)  # the bundled model is suggested too
    wait_idle(page)
    assert_no_exception(page)
    page.locator(".js-plotly-plot >> visible=true").first.wait_for()  # the summary chart
    table = page.locator("table.ev")
    expect(table.locator("tr")).to_have_count(1 + 2 * len(QA), timeout=30_000)  # the models' names, then each
    # question over its answers
    header = table.locator("tr").first.inner_text()
    assert str(tiny_gpt2) in header and str(tiny_phi3) in header
    assert "How long is a match? <b>bold</b>" in table.inner_text()  # record text shown, never rendered as HTML
    assert table.locator("b").count() == 0

    page.get_by_role("tab", name="Export").click()
    with page.expect_download() as dl:
        page.get_by_role("button", name="HTML report").click()
    report = tmp_path / "report.html"
    dl.value.save_as(report)

    viewer = page.context.new_page()
    viewer.goto(report.as_uri())
    viewer.locator(".js-plotly-plot").nth(2).wait_for()  # summary, distributions, win/tie/loss: each drawn in turn
    assert "How many players are on a team?" in viewer.content()
    assert viewer.locator("td b").count() == 0
    viewer.close()


def test_the_also_running_line_goes_by_itself_when_the_other_evaluation_ends(page, studio, tmp_path):
    """Two API evaluations running (they need no device): the page shows one and says "Also running: <id>" for the
    other. When that one ended, the line stayed, naming it, until a click reran the page; it goes by itself now."""
    import json
    import os

    from studio import jobs
    from studio.evaluate import job as eval_jobs
    from studio.evaluate import results as eval_results
    from studio.evaluate import runner as evaluate
    from studio.evaluate.config import EvalConfig
    from studio.evaluate.result import QuestionRow

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    started = []
    for model in ("api:m", "api:n"):  # running as long as this test's process lives (their status names its pid)
        result = evaluate.new_result(EvalConfig(models=(model,), dataset_file=str(data)))
        result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"]) for i, q in enumerate(QA)]
        eval_results.save(eval_results.refresh_summaries(result))
        jobs.update_status(eval_jobs.job_dir(result.id), kind="evaluate", state="running", pid=os.getpid(),
                           message=f"asking {model}", done=0, total=len(QA))
        started.append(result.id)
    open_page(page, studio, "Evaluate")
    assert_no_exception(page)
    line = page.get_by_text("Also running:")
    line.wait_for()
    (other,) = [i for i in started if i in line.inner_text()]
    jobs.update_status(eval_jobs.job_dir(other), state="finished", message="finished")
    line.wait_for(state="detached", timeout=15_000)  # no click: the page follows the other evaluation by itself
    assert_no_exception(page)
    # and when the one shown ends, the picker no longer says it runs (the browser kept the label it had chosen)
    (shown,) = [i for i in started if i != other]
    picker = page.get_by_role("combobox", name="Evaluation")
    expect(picker).to_have_value(re.compile("· running"), timeout=30_000)
    jobs.update_status(eval_jobs.job_dir(shown), state="finished", message="finished")
    page.get_by_role("button", name="Stop").wait_for(state="detached", timeout=15_000)
    # The page is drawn again once its fragment saw the end: wait for what a person sees, the label as it now reads
    # (after the fragment's run, the whole page's rerun may not have begun yet).
    model = ("api:m", "api:n")[started.index(shown)]  # the picker names an evaluation by its start and its models
    expect(picker).to_have_value(re.compile(rf"^(?!.*running).*{re.escape(model)}"), timeout=30_000)
    assert_no_exception(page)


def test_reset_to_defaults_shows_the_defaults_in_the_browser_and_keeps_them(page, studio):
    """Reset gives each widget its default through session state: the browser shows the defaults at once, and the
    next click sends them, not the values set before (a widget whose state is only dropped kept showing its last
    value in the browser, and sent it back)."""
    store.create_dataset("Soccer QA", QA)
    open_page(page, studio, "Evaluate")
    others = page.get_by_role("textbox", name="Other models, one per line")
    others.fill("api:some/chat-model")
    after_rerun(page, lambda: others.press("Control+Enter"))
    page.get_by_text("Settings").click()
    tokens = page.get_by_role("spinbutton", name="Max new tokens")
    tokens.fill("32")
    after_rerun(page, lambda: tokens.press("Enter"))
    page.get_by_text("Sample instead of greedy").click()
    wait_idle(page)
    sampling = page.locator(".st-key-evaluate-sampling input")
    expect(sampling).to_be_checked(timeout=30_000)
    expect(tokens).to_have_value("32", timeout=30_000)

    # A sample size survives a visit to another page made while a model id was being typed (no Ctrl+Enter): the box
    # came back empty (2 of 3 tries), and the next click said "Sample size was empty or too large to hold: kept 0".
    sample = page.get_by_role("spinbutton", name="Sample size (0 = every question)")
    sample.fill("7")
    after_rerun(page, lambda: sample.press("Enter"))
    nav = page.get_by_test_id("stSidebarNav")
    for attempt in range(3):
        others.click()
        page.keyboard.type(f"\nsome/model-{attempt}")
        nav.get_by_role("link", name="Train").click()
        wait_idle(page)
        nav.get_by_role("link", name="Evaluate").click()
        wait_idle(page)
        expect(sample).to_have_value("7", timeout=30_000)
        source = ("A training run's held-out split", "A dataset version")[attempt % 2]
        after_rerun(page, lambda s=source: page.get_by_test_id("stRadioGroup").get_by_text(s).click())  # the next click
        expect(sample).to_have_value("7")
        assert "empty or too large" not in page.get_by_test_id("stMain").inner_text()
    expect(others).to_have_value(re.compile("".join(f"(?=.*some/model-{i})" for i in range(3)), re.DOTALL),
                                 timeout=30_000)  # what was typed is kept too
    if not tokens.is_visible():  # Settings drawn anew, closed, by the page switch
        page.get_by_text("Settings").click()

    page.get_by_role("button", name="Reset to defaults").click()
    wait_idle(page)
    for _ in range(2):  # as Reset left it, then after another click
        for box, value in ((others, ""), (tokens, "64"), (sample, "0")):
            expect(box).to_have_value(value, timeout=30_000)
        expect(sampling).not_to_be_checked(timeout=30_000)
        page.get_by_text("Semantic similarity of answers").click()  # a click elsewhere: the page runs again
        wait_idle(page)
    assert_no_exception(page)


def test_no_answers_yet_goes_when_the_first_answers_come_in(page, studio, tmp_path):
    """Opened before the first answer, the page said "No answers yet." under the progress bar, and went on saying it
    under the "Answers so far" the bar's panel then showed: the line was drawn once, outside the panel that refreshes."""
    import json
    import os

    from studio import jobs
    from studio.evaluate import job as eval_jobs
    from studio.evaluate import results as eval_results
    from studio.evaluate import runner as evaluate
    from studio.evaluate.config import EvalConfig
    from studio.evaluate.result import QuestionRow

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    result = evaluate.new_result(EvalConfig(models=("api:m",), dataset_file=str(data)))
    result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"]) for i, q in enumerate(QA)]
    eval_results.save(eval_results.refresh_summaries(result))
    status = eval_jobs.job_dir(result.id)  # running as long as this test's process lives (its status names its pid)
    jobs.update_status(status, kind="evaluate", state="running", pid=os.getpid(), message="asking api:m", done=0,
                       total=len(QA))
    open_page(page, studio, "Evaluate")
    assert_no_exception(page)
    page.get_by_text("No answers yet.").wait_for()
    result.rows[0].answers["api:m"] = "Two halves of 45 minutes."  # the worker's partial save of its first answer
    eval_results.save(eval_results.refresh_summaries(result))
    jobs.update_status(status, done=1, progress=1 / len(QA))
    page.get_by_text("Answers so far (1 question)", exact=True).wait_for(timeout=30_000)  # no click: the panel refreshes
    expect(page.get_by_text("No answers yet.")).to_have_count(0, timeout=15_000)
    jobs.update_status(status, state="finished", message="finished")


class _HeldSocket:
    """The page's websocket with what the server sends held back on demand, then only its last run passed on: what a
    busy server leaves the browser with when a click comes before the page's run for the click before it was drawn
    (that run cut short by the next, whose own drawing is dropped by an ``st.rerun``: Streamlit clears what it had not
    sent yet when a run starts)."""

    def __init__(self, page) -> None:
        self.held: list[bytes | str] = []
        self.holding = False
        self._to_page = None  # the route's page side, once the page opened its socket
        page.route_web_socket(re.compile(r".*/_stcore/stream$"), self._route)

    def _route(self, ws) -> None:
        server = ws.connect_to_server()
        self._to_page = ws

        def from_server(message):
            if self.holding:
                self.held.append(message)
            else:
                ws.send(message)
        server.on_message(from_server)

    def last_run_ended(self) -> bool:
        """Whether the last run the server started (since holding began) has ended, not cut short by another."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        kinds = []
        for message in self.held:
            msg = ForwardMsg.FromString(message) if isinstance(message, bytes) else None
            kind = msg and msg.WhichOneof("type")
            if kind == "new_session":
                kinds = []
            elif kind == "script_finished":
                kinds.append(msg.script_finished)
        return ForwardMsg.FINISHED_SUCCESSFULLY in kinds

    def pass_last_run(self) -> None:
        """Send the browser the last run's messages alone (from its start), and stop holding."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        starts = [i for i, m in enumerate(self.held) if isinstance(m, bytes)
                  and ForwardMsg.FromString(m).WhichOneof("type") == "new_session"]
        for message in self.held[starts[-1]:]:
            self._to_page.send(message)
        self.held, self.holding = [], False


def test_after_a_delete_the_next_evaluations_delete_popover_is_closed(page, studio, tmp_path):
    """Deleting an evaluation redrew the page with the next one picked and "Delete this evaluation" still open on it,
    its "Delete for good" one click away from deleting that one too. The popover is closed after a delete, also where
    "Delete for good" was clicked before the page's run for the opening reached the browser (a busy server, a quick
    hand): it had only been told "closed", and "closed" again left it open."""
    import json

    from studio import jobs
    from studio.evaluate import job as eval_jobs
    from studio.evaluate import results as eval_results
    from studio.evaluate import runner as evaluate
    from studio.evaluate.config import EvalConfig
    from studio.evaluate.result import QuestionRow

    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    made = []
    for model in ("api:m", "api:n", "api:o"):  # three: with two, the comparison went with the delete, and moved it
        result = evaluate.new_result(EvalConfig(models=(model,), dataset_file=str(data)))
        result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"]) for i, q in enumerate(QA)]
        eval_results.save(eval_results.refresh_summaries(result))
        jobs.update_status(eval_jobs.job_dir(result.id), kind="evaluate", state="finished", message="finished",
                           done=len(QA), total=len(QA))
        made.append(result.id)
    socket = _HeldSocket(page)
    open_page(page, studio, "Evaluate")
    picker = page.get_by_role("combobox", name="Evaluation")
    picker.wait_for()
    model = next(m for m in ("api:m", "api:n", "api:o") if m in picker.input_value())  # the picker names its models
    shown = made[("api:m", "api:n", "api:o").index(model)]
    socket.holding = True  # the server's runs for the two clicks reach the browser late: only the last one at all
    page.get_by_role("button", name="Delete this evaluation").click()
    page.get_by_role("button", name="Delete for good").click()
    left = [i for i in made if i != shown]
    deadline = time.monotonic() + 300  # three runs of the page on a busy server
    while not (sorted(e.id for e in eval_results.list_evals()) == sorted(left) and socket.last_run_ended()):
        assert time.monotonic() < deadline, "the delete's run did not end in 300 s"
        page.wait_for_timeout(100)  # the sync API hands the socket's messages to the router while it waits
    socket.pass_last_run()
    expect(picker).not_to_have_value(re.compile(re.escape(model)), timeout=30_000)  # another one, picked
    wait_idle(page)
    page.wait_for_timeout(1000)  # a popover drawn open is open by now
    expect(page.get_by_role("button", name="Delete for good")).to_be_hidden(timeout=30_000)  # closed by the delete's rerun, drawn late under load
    assert sorted(e.id for e in eval_results.list_evals()) == sorted(left)
    assert_no_exception(page)


def test_the_summary_and_plots_follow_a_running_evaluation_without_the_whole_page_again(page, studio, tmp_path):
    """The summary and the chart under a running evaluation were drawn once, with the page: while the progress line
    moved on, they kept the answers of that moment until the end. They follow the answers as they come now, in a
    fragment of their own (no run of the whole page while it runs)."""
    import json
    import os

    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from studio import jobs
    from studio.evaluate import job as eval_jobs
    from studio.evaluate import metrics
    from studio.evaluate import results as eval_results
    from studio.evaluate import runner as evaluate
    from studio.evaluate.config import EvalConfig
    from studio.evaluate.result import QuestionRow

    whole_runs = []  # runs of the whole page the server began (a fragment's run names its fragment)

    def received(payload) -> None:
        if isinstance(payload, bytes):
            msg = ForwardMsg()
            msg.ParseFromString(payload)
            if msg.WhichOneof("type") == "new_session" and not msg.metadata.run.fragment_ids:
                whole_runs.append(time.monotonic())

    page.on("websocket", lambda ws: ws.on("framereceived", received))
    data = tmp_path / "qa.json"
    data.write_text(json.dumps(QA))
    result = evaluate.new_result(EvalConfig(models=("api:m",), dataset_file=str(data)))
    result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"]) for i, q in enumerate(QA)]
    result.rows[0].answers["api:m"] = QA[0]["answer"]  # the first answer, exactly right
    result.rows[0].scores["api:m"] = metrics.score_answer(QA[0]["answer"], QA[0]["answer"])
    eval_results.save(eval_results.refresh_summaries(result))
    status = eval_jobs.job_dir(result.id)  # running as long as this test's process lives (its status names its pid)
    jobs.update_status(status, kind="evaluate", state="running", pid=os.getpid(), message="asking api:m", done=1,
                       total=len(QA))
    open_page(page, studio, "Evaluate")
    assert_no_exception(page)
    bars = page.locator(".js-plotly-plot text.bartext")
    expect(bars.first).to_have_text("1", timeout=30_000)  # exact match over the one answer
    assert whole_runs  # the page's own run, seen
    settled = time.monotonic()
    result.rows[1].answers["api:m"] = "Nine."  # the worker's partial save of its second answer, wrong
    result.rows[1].scores["api:m"] = metrics.score_answer("Nine.", QA[1]["answer"])
    eval_results.save(eval_results.refresh_summaries(result))
    jobs.update_status(status, done=2, progress=2 / len(QA))
    expect(bars.first).to_have_text("0.5", timeout=30_000)  # no click: the chart follows the answers
    assert not [t for t in whole_runs if t > settled]  # by its own fragment, not the whole page
    jobs.update_status(status, state="finished", message="finished")
    assert_no_exception(page)


def test_a_long_model_name_leaves_every_column_of_the_reports_summary_in_sight(browser, tmp_path):
    """In the HTML report, an 80-character model name with no space widened the summary's first column until the
    counts beside it were past the page's right edge. The name breaks over lines; every column stays in sight."""
    from studio.evaluate import metrics, report
    from studio.evaluate import runner as evaluate
    from studio.evaluate.config import EvalConfig
    from studio.evaluate.result import QuestionRow

    long = "api:my_organisation/soccer_faq_assistant_finetuned_with_lora_rank16_epochs5_lr2e_4_v3"  # no hyphen, no space
    result = evaluate.new_result(EvalConfig(models=(long, "api:m"), dataset_file=str(tmp_path / "qa.json")))
    result.status = "finished"
    result.rows = [QuestionRow(index=i, question=q["question"], reference=q["answer"]) for i, q in enumerate(QA)]
    for row in result.rows:
        for label, answer in ((long, row.reference), ("api:m", "Nine.")):
            row.answers[label] = answer
            row.scores[label] = {**metrics.score_answer(answer, row.reference), "latency_s": 0.5}
    path = tmp_path / "report.html"
    path.write_text(report.to_html(result))
    context = browser.new_context(viewport={"width": 900, "height": 900})
    viewer = context.new_page()
    viewer.goto(path.as_uri())
    last = viewer.locator("h2:text('Summary') + table tr").first.locator("th").last
    assert last.inner_text() == "failed"
    box = last.bounding_box()
    assert box["x"] + box["width"] <= 900, box
    assert long in viewer.locator("h2:text('Summary') + table").inner_text().replace("\n", "")  # whole, over lines
    context.close()


def test_start_evaluation_reads_whole_in_an_800_px_wide_window(page, studio):
    """In an 800 px wide window the form's Start button, in a fifth of its row, read "St…": a person could not tell
    what the blue button did. Each button is now as wide as its label."""
    page.set_viewport_size({"width": 800, "height": 1000})
    open_page(page, studio, "Evaluate")
    for name in ("Start evaluation", "Reset to defaults"):
        button = page.get_by_test_id("stMain").get_by_role("button", name=name)
        expect(button).to_be_visible()
        cut = button.evaluate("b => [b, ...b.querySelectorAll('*')].filter(e => e.scrollWidth > e.clientWidth + 1)"
                              ".map(e => e.innerText)")
        assert cut == [], f"{name} is cut: {cut}"
    assert_no_exception(page)


@pytest.mark.parametrize("width", [1280, 800])
def test_the_settings_switches_read_whole(page, studio, width):
    """In Settings' three columns the switches' labels were cut: "Reference perplexity (local mod…" and "Semantic
    similarity of answ…" in a laptop's 1280 px wide window, "Sample inst…" and "Semant…" at 800 px. They sit in a row
    of their own now, each as wide as its label."""
    page.set_viewport_size({"width": width, "height": 1000})
    open_page(page, studio, "Evaluate")
    page.locator("summary").filter(has_text="Settings").click()
    switches = page.get_by_test_id("stMain").get_by_test_id("stCheckbox")
    expect(switches.filter(has_text="Semantic leakage check")).to_be_visible()
    expect(switches).to_have_count(4, timeout=30_000)
    cut = switches.evaluate_all("els => els.flatMap(s => [s, ...s.querySelectorAll('*')])"
                                ".filter(e => (e.textContent || '').trim() && e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)")
    assert cut == [], f"cut: {cut}"
    assert_no_exception(page)


@pytest.mark.parametrize("width", [1280, 800])
def test_the_bundled_models_chip_reads_whole_and_says_bundled_once(page, offline, studio, width):
    """On a first visit offline the models picker holds the bundled model, whose chip read "SmolLM2-135M-Instruct (bundled Q4_1
    copy) · bundled", cut off in a laptop's 1280 px wide window and at 800 px. It says "bundled" once now, whole."""
    page.set_viewport_size({"width": width, "height": 1000})
    open_page(page, studio, "Evaluate")
    picker = page.get_by_test_id("stMain").get_by_test_id("stMultiSelect").first
    chip = picker.locator("span", has_text="SmolLM2").first  # the chip (its text, and its remove button)
    expect(chip).to_be_visible(timeout=60_000)
    text = chip.inner_text()
    assert text.lower().count("bundled") == 1, text
    cut = chip.evaluate("c => [c, ...c.querySelectorAll('*')].filter(e => (e.textContent || '').trim() && "
                        "e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)")
    assert cut == [], f"cut: {cut}"
    assert_no_exception(page)


@pytest.mark.parametrize("width", [800, 1280])
def test_each_question_reads_across_the_answers_table_and_model_names_stay_whole(page, studio, width):
    """Beside three models the question column kept a sixth of the answers table: 85 px at 800 px ("profession al
    soccer" a word or two a line), 155 px at 1280 px. Each question now reads across the table, above its reference
    and answers, and each model's name wraps in its header, whole. The Summary above it reads whole too. The answers'
    "Page (of 2)" box took the whole width of the page (a box holding "2"); it is as wide as its label needs."""
    from studio.evaluate import metrics
    from studio.evaluate import results as eval_results
    from studio.evaluate import runner as evaluate
    from studio.evaluate.config import EvalConfig
    from studio.evaluate.result import QuestionRow

    long = "api:my_organisation/soccer_faq_assistant_finetuned_with_lora_rank16_epochs5_lr2e_4_v3"  # no space to break
    question = "How long is a professional soccer match, and what happens when it is tied after regular time?"
    saved = []
    for created, models in (("2026-12-04T09:01:00+00:00", ("api:m", long)),  # an earlier one, to compare with
                            ("2026-12-05T00:12:33+00:00", ("HuggingFaceTB/SmolLM2-135M-Instruct", long, "api:m"))):
        result = evaluate.new_result(EvalConfig(models=models, dataset_file="qa.json"))
        result.created, result.status = created, "finished"
        result.rows = [QuestionRow(index=0, question=question, reference="Two halves of 45 minutes, then extra time.")]
        # 20 more: the answers take two pages of 20, so their Page box is drawn
        result.rows += [QuestionRow(index=i, question=f"Which law covers case {i}?", reference="Law 12.")
                        for i in range(1, 21)]
        for row in result.rows:
            for label in result.labels:
                row.answers[label] = "Two halves of 45 minutes."
                row.scores[label] = metrics.score_answer("Two halves of 45 minutes.", row.reference)
        eval_results.save(eval_results.refresh_summaries(result))
        saved.append(result)
    result = saved[-1]  # the newest: shown first
    page.set_viewport_size({"width": width, "height": 1000})
    open_page(page, studio, "Evaluate")
    table = page.locator("table.ev")
    expect(table).to_be_visible(timeout=60_000)
    cell = table.locator("td", has_text=question)
    expect(cell).to_be_visible()
    assert cell.bounding_box()["width"] >= 0.9 * table.bounding_box()["width"]  # the table's width, not a column's
    lines = cell.evaluate("c => Math.round(c.querySelector('div').getBoundingClientRect().height / "
                          "parseFloat(getComputedStyle(c).lineHeight))")
    assert lines <= (3 if width == 800 else 2), lines  # a sentence, not a word a line
    heads = table.locator("th")
    for label in result.labels:  # every name whole, over lines where it must
        assert any(t.replace("\n", "") == label for t in heads.all_inner_texts()), (label, heads.all_inner_texts())
    cut = heads.evaluate_all("hs => hs.filter(h => h.scrollWidth > h.clientWidth + 1).map(h => h.innerText)")
    assert cut == [], cut
    box = table.bounding_box()
    assert box["x"] + box["width"] <= width, box  # nothing past the window's right edge
    pager = page.get_by_label("Page (of 2)")  # as wide as its label needs, its - and + in sight, the label whole
    holder = page.get_by_test_id("stNumberInput").filter(has=pager)
    expect(holder).to_be_visible()
    assert 140 <= holder.bounding_box()["width"] <= 200, holder.bounding_box()
    expect(holder.get_by_test_id("stNumberInputStepUp")).to_be_visible()
    assert page.get_by_text("Page (of 2)").evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    # The Summary: a column per metric and count (eleven) was cut after chrF at 800 px and after Judge at 1280 px.
    # Models across, metrics down now: every number in sight, each model's name whole in its header.
    summary = page.locator(".st-key-evaluate-summary").get_by_test_id("stTable")
    expect(summary).to_contain_text("Answer length (words)", timeout=30_000)
    text = summary.inner_text()
    for word in ("Exact match", "Token F1", "chrF", "answered", "failed", "higher is better", *result.labels):
        assert word in text.replace("\n", ""), (word, text)
    cut = summary.evaluate("t => [t, ...t.querySelectorAll('*')].filter(e => e.scrollWidth > e.clientWidth + 1)"
                           ".map(e => e.tagName + ' ' + e.innerText.slice(0, 40))")
    assert cut == [], f"the summary is cut or scrolls sideways at {width} px: {cut}"
    box, main = summary.bounding_box(), page.get_by_test_id("stMainBlockContainer").bounding_box()
    assert box["x"] + box["width"] <= main["x"] + main["width"] + 1, (box, main)
    # The Evaluation picker named the evaluation by its id and every model whole: at 800 px the second model was past
    # the box's edge. Each model is a share of the box now, a long one cut in its middle; the status line names them.
    picker = page.get_by_role("combobox", name="Evaluation")
    expect(picker).to_have_value(re.compile("SmolLM2"), timeout=30_000)
    needs, room = text_and_room(picker)
    assert needs <= room, f"the Evaluation picker's {picker.input_value()!r} is cut at {width} px: {needs:.0f} in {room:.0f}"
    assert "api:m" in picker.input_value()  # the last model, there
    # Compare past evaluations: a row per model and a column per field (up to thirteen) scrolled sideways at 800 px,
    # the counts past the edge. A column per evaluation and model now (as in the chart's legend), every number in sight.
    page.get_by_text("Compare past evaluations (2)").click()
    compare = page.locator(".st-key-evaluate-compare").get_by_test_id("stTable")
    expect(compare).to_contain_text("failed", timeout=30_000)
    text = compare.inner_text().replace("\n", "")
    pairs = [f"{r.id} · {label}" for r in reversed(saved) for label in r.labels]
    for word in ("started", "2026-12-04 09:01 UTC", "Exact match", "Token F1", "chrF", "answered", *pairs):
        assert word in text, (word, text)
    cells = compare.locator("tbody tr").evaluate_all("rs => rs.map(r => r.querySelectorAll('td').length)")
    assert cells and set(cells) == {len(pairs)}, cells  # a value for each evaluation and model on every row
    cut = compare.evaluate("t => [t, ...t.querySelectorAll('*')].filter(e => e.scrollWidth > e.clientWidth + 1)"
                           ".map(e => e.tagName + ' ' + e.innerText.slice(0, 40))")
    assert cut == [], f"the comparison is cut or scrolls sideways at {width} px: {cut}"
    box, main = compare.bounding_box(), page.get_by_test_id("stMainBlockContainer").bounding_box()
    assert box["x"] + box["width"] <= main["x"] + main["width"] + 1, (box, main)
    assert_no_exception(page)


@pytest.mark.parametrize("width", [800, 1280])
def test_the_questions_dataset_and_run_read_whole(page, studio, width):
    """The questions sat in two fifths of the form's row: in an 800 px window the Dataset box read "Soccer rules
    (sampl", and a run's name in the Run box was cut off. They sit under the models now, in the form's whole width; a
    long run name is cut in its middle there (its distinguishing end kept) and said whole under the box."""
    from studio.train import runs

    ds = store.create_dataset("Soccer rules (sample)", QA)
    # a long name: its id "20261205-064729-soccer-rules-lora-rank-16-three" after it was cut at the box's right edge
    name = "soccer-rules-lora-rank-16-three-epochs-on-the-sample-faq-v2"
    run_id = f"20261205-064729-{runs.slug(name)}"
    folder = runs.run_dir(run_id)
    folder.mkdir(parents=True)
    runs.write_run(folder, {"id": run_id, "name": name, "created": "2026-12-05T06:47:29+00:00",
                            "config": {}, "base": "tiny", "dataset": {"id": ds.id, "name": ds.name, "version": 1,
                                                                       "sha256": ds.latest.sha256, "count": len(QA)}})
    runs.write_split(folder, {"train": [0, 1], "test": [2]})
    page.set_viewport_size({"width": width, "height": 1000})
    open_page(page, studio, "Evaluate")
    main = page.get_by_test_id("stMain")
    # the box shows its choice in an input: the text's width in the input's font against the room inside it
    cut_js = ("i => { const s = getComputedStyle(i), c = document.createElement('canvas').getContext('2d');"
              " c.font = s.font; return [c.measureText(i.value).width,"
              " i.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)]; }")
    for source, box, text in (("A dataset version", "Dataset", "Soccer rules (sample)"),
                              ("A training run's held-out split", "Run", "faq-v2 · run 20261205-064729")):
        main.get_by_text(source).click()
        wait_idle(page)
        shown = main.get_by_role("combobox", name=box, exact=True)
        expect(shown).to_have_value(re.compile(re.escape(text)), timeout=30_000)
        needs, room = shown.evaluate(cut_js)
        assert needs <= room, f"{box}'s {shown.input_value()!r} is cut at {width} px: {needs:.0f} px in {room:.0f}"
    expect(main.get_by_text(f"{name} (run {run_id})")).to_be_visible()  # the name cut in the box, whole under it
    assert_no_exception(page)


@pytest.mark.parametrize("width", [800, 1280])
def test_the_settings_columns_end_near_each_other(page, studio, width):
    """In Settings the middle column held two boxes beside the third's seven: at 800 px it ended hundreds of pixels
    above the others, a gap in the middle of the form. The settings are shared out so the columns end near together."""
    page.set_viewport_size({"width": width, "height": 1000})
    open_page(page, studio, "Evaluate")
    page.locator("summary").filter(has_text="Settings").click()
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text("Leakage threshold")).to_be_visible()
    ends = main.get_by_test_id("stExpander").filter(has_text="Leakage threshold").last.get_by_test_id("stColumn").evaluate_all(
        "cols => cols.map(c => Math.max(...[...c.querySelectorAll('[data-testid=stElementContainer]')]"
        ".map(e => e.getBoundingClientRect().bottom)))")
    assert len(ends) == 3, ends
    assert max(ends) - min(ends) <= 160, ends  # within about two boxes, not a column's length apart
    assert_no_exception(page)
