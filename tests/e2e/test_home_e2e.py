"""Home in Chromium: what it says of the jobs running follows them without a click."""

from __future__ import annotations

import os
import time

import pytest
from playwright.sync_api import expect

from studio import config, jobs
from studio.ui import pages
from tests.e2e.conftest import assert_no_exception, open_page

pytestmark = pytest.mark.e2e


def test_a_running_job_s_line_follows_its_progress_and_goes_when_it_ends(page, studio):
    """Home's "Training running: <name> · 10% · step 2/20" was drawn once: it said 10% for as long as the page was
    open, and "running" after the run had finished, until a reload."""
    workdir = config.runs_dir() / "run-1"
    jobs.update_status(workdir, kind="train", state="running", pid=os.getpid(), progress=0.1, message="step 2/20",
                       title="Soccer FAQ · SmolLM2")  # running as long as this test's process lives
    jobs.register_current("train", workdir)
    long_names(3)
    open_page(page, studio)
    assert_no_exception(page)
    line = page.get_by_text("Training running: Soccer FAQ · SmolLM2")
    expect(line).to_contain_text("10% · step 2/20")
    jobs.update_status(workdir, progress=0.5, message="step 10/20")
    expect(line).to_contain_text("50% · step 10/20", timeout=30_000)  # no click, no reload
    jobs.update_status(workdir, state="finished", progress=1.0, message="finished")
    expect(page.get_by_text("Training running:")).to_have_count(0, timeout=30_000)
    expect(page.get_by_role("link", name="Open it on the Train page")).to_have_count(0)
    assert_no_exception(page)

    # In an 800 px wide window the path's links and their purposes are whole: a purpose in a link's label (one line)
    # was cut at the column's edge ("Train: pick a dataset version, a base and a preset; preview; launch a backg"),
    # and so were the counts in five even columns ("Evaluat…", "no…" for "not set").
    page.set_viewport_size({"width": 800, "height": 1000})
    for p in pages.ALL:
        expect(page.get_by_test_id("stMain").get_by_role("link", name=p.title, exact=True)).to_be_visible()
        expect(page.get_by_text(p.said(False), exact=True)).to_be_visible()
    cut = page.evaluate("""() => [...document.querySelectorAll('[data-testid=stMain] [data-testid=stPageLink] *,'
        + '[data-testid=stMain] [data-testid=stCaptionContainer] *, [data-testid=stMain] [data-testid=stMetric] *')]
        .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.innerText)""")
    assert cut == []
    # ... and so is every column of the newest runs: long names scrolled "started" out of view
    tables = page.get_by_test_id("stMain").get_by_test_id("stDataFrame")
    expect(tables).to_have_count(2)  # datasets, runs
    scrolled = page.evaluate("""() => [...document.querySelectorAll('[data-testid=stMain] [data-testid=stDataFrame]'
        + ' .dvn-scroller')].map(e => [e.scrollWidth, e.clientWidth])""")
    assert len(scrolled) == 2 and all(whole <= shown + 1 for whole, shown in scrolled), scrolled
    # ... and the evaluations' dataset and models read in full: in the data grid they were cut at 110 px each ("Soccer
    # rules (samp"); each evaluation is a card now, each fact after its column's name, all inside the page's column
    evaluations = page.get_by_test_id("stMain").get_by_test_id("stTable")
    models = f"{LONG_MODEL}, {LONG_MODEL.split(' · ')[1]}"
    expect(evaluations).to_contain_text(models, timeout=30_000)
    expect(evaluations).to_contain_text("Soccer rules FAQ (sample) 2")
    row = evaluations.locator("tbody tr").filter(has_text="Soccer rules FAQ (sample) 2")
    deadline = time.time() + 30  # the table can be drawn before its style (st.html): wait for the cards
    while True:
        cells = row.locator("td").evaluate_all("""tds => tds.map(td => [getComputedStyle(td, '::before').content,
            td.innerText, td.getBoundingClientRect().right, td.scrollWidth <= td.clientWidth + 1])""")
        if [c.strip('"') for c, _, _, _ in cells[1:]] == ["state: ", "dataset: ", "models: "] or time.time() > deadline:
            break
        page.wait_for_timeout(250)
    right = page.get_by_test_id("stMainBlockContainer").evaluate(
        "m => m.getBoundingClientRect().right - parseFloat(getComputedStyle(m).paddingRight)")
    assert [c.strip('"') for c, _, _, _ in cells[1:]] == ["state: ", "dataset: ", "models: "], cells
    assert models in cells[3][1] and all(whole for _, _, _, whole in cells), cells  # none clipped
    assert [r for _, _, r, _ in cells if r > right + 1] == [], (cells, right)  # none past the column


LONG_MODEL = "Soccer rules FAQ (sample) · SmolLM2-135M-Instruct (bundled Q4_1 copy)"


def long_names(n: int) -> None:
    """``n`` finished runs and evaluations named as long as the pickers name them."""
    from studio.evaluate import results as eval_results
    from studio.evaluate.result import EvalResult, ModelEntry, QuestionRow
    from studio.train import runs

    model = LONG_MODEL
    for i in range(n):
        folder = config.runs_dir() / f"20261207-00000{i}-faq"
        runs.write_run(folder, {"name": f"{model} run {i}", "created": f"2026-12-07T00:00:0{i}+00:00"})
        jobs.update_status(folder, state="finished", kind="train")
        eval_results.save(EvalResult(
            id=f"20261207-00000{i}-ev", created=f"2026-12-07T00:01:0{i}+00:00", status="finished",
            dataset={"name": f"Soccer rules FAQ (sample) {i}", "version": 1},
            models=[ModelEntry(label=model, spec="api:gpt-4o-mini", kind="api"),
                    ModelEntry(label="SmolLM2-135M-Instruct (bundled Q4_1 copy)", spec="api:gpt-4o", kind="api")],
            rows=[QuestionRow(index=0, question="How long is a match?", reference="90 minutes", answers={"m": "90"})]))


LINES = """el => { const p = el.querySelector('p') || el;
    return Math.round(p.getBoundingClientRect().height / parseFloat(getComputedStyle(p).lineHeight)); }"""


@pytest.mark.parametrize("entry", ["Home.py", "cloud/Home.py"])
def test_a_new_workspace_s_empty_lists_are_a_line_each_in_an_800_px_wide_window(browser, tmp_path, entry):
    """A new workspace's "Evaluations: No evaluations yet: once a training run has finished, answer held-out
    questions with it and its base on the Evaluate page to see where training helped." took three lines under the
    one-line "Training runs: none yet. Launch one on the Train page." in an 800 px wide window, "held-" ending one
    of them (two lines for a public visitor). Each empty list is now one line, as a local user and as a visitor of
    the public app (no runs there: no runs line), whose workspace line no longer says "workspace" twice."""
    from tests.e2e.conftest import start_studio, stop_studio

    s = start_studio(tmp_path / "home", tmp_path / "streamlit.log", entry=entry)
    try:
        page = browser.new_context(viewport={"width": 800, "height": 1000}).new_page()
        open_page(page, s)
        main = page.get_by_test_id("stMain")
        evaluations = main.get_by_test_id("stCaptionContainer").filter(has_text="Evaluations:")
        expect(evaluations).to_have_count(1)
        lines = {"Evaluations": evaluations.evaluate(LINES)}
        runs = main.get_by_test_id("stCaptionContainer").filter(has_text="Training runs:")
        expect(runs).to_have_count(0 if entry.startswith("cloud") else 1)
        if runs.count():
            lines["Training runs"] = runs.evaluate(LINES)
        assert set(lines.values()) == {1}, lines
        if entry.startswith("cloud"):  # was "Workspace: your private workspace on this server: no other visitor sees it"
            expect(main).to_contain_text("Workspace: private to you on this server; no other visitor sees it.")
        assert_no_exception(page)
        page.context.close()
    finally:
        stop_studio(s)
