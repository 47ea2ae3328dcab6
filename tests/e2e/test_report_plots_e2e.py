"""The HTML report's plots in a real browser, opened from a file as a person opens a downloaded report: drawn where
the browser can unpack plotly.js, one line where it cannot (an older browser or a mail viewer left them blank)."""

from __future__ import annotations

import plotly.graph_objects as go

from studio.evaluate.report import NO_PLOTS, plots_html


def _open(browser, tmp_path, init_script: str | None = None):
    page_file = tmp_path / "report.html"
    fig = go.Figure(go.Bar(x=["base", "run"], y=[0.2, 0.6]))
    page_file.write_text(f"<html><head></head><body>{plots_html([fig, fig])}</body></html>", encoding="utf-8")
    context = browser.new_context()
    page = context.new_page()
    if init_script:
        page.add_init_script(init_script)
    page.goto(page_file.as_uri())
    return context, page


def test_the_report_s_plots_draw_from_a_file(browser, tmp_path):
    context, page = _open(browser, tmp_path)
    try:
        page.locator("#plot-1 .main-svg").first.wait_for(timeout=60_000)
        assert NO_PLOTS not in page.inner_text("body")
    finally:
        context.close()


def test_a_browser_that_cannot_unpack_them_says_so_where_each_plot_would_be(browser, tmp_path):
    context, page = _open(browser, tmp_path, "delete window.DecompressionStream;")
    try:
        page.wait_for_function("document.querySelectorAll('.plot')[1].textContent.length > 0", timeout=60_000)
        assert [page.inner_text(f"#plot-{i}") for i in (0, 1)] == [NO_PLOTS, NO_PLOTS]
    finally:
        context.close()


def test_an_answer_without_spaces_wraps_so_every_model_s_column_stays_on_the_page(browser, tmp_path):
    """A barely trained model's answer can be one long run of characters ("=====...", a URL, byte soup): the answers
    table, on the page and in the report, wraps it in its cell instead of pushing the next model's column off-screen."""
    from studio.evaluate.report import answers_table
    from studio.evaluate.result import EvalResult, ModelEntry, QuestionRow

    row = QuestionRow(index=0, question="How wide is the goal?", reference="7.32 metres.",
                      answers={"base": "=" * 400, "run": "7.32 metres."},
                      scores={"base": {"f1": 0.0}, "run": {"f1": 1.0}})
    result = EvalResult(id="x", status="finished", models=[ModelEntry(label="base", spec="base"),
                                                           ModelEntry(label="run", spec="run")], rows=[row])
    page_file = tmp_path / "answers.html"
    page_file.write_text(f"<html><body><div id='box' style='width:800px'>{answers_table(result)}</div></body></html>",
                         encoding="utf-8")
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    try:
        page = context.new_page()
        page.goto(page_file.as_uri())
        table = page.locator("table.ev").bounding_box()
        last = page.locator("table.ev th").last.bounding_box()
        assert table["width"] <= 800 and last["x"] + last["width"] <= 800 + 10  # the box starts 8px in (body margin)
    finally:
        context.close()


def test_a_20k_character_question_leaves_the_reference_and_answers_readable(browser, tmp_path):
    """A question of 20,000 characters (a pasted document) took the answers table's whole width: the reference and each
    answer were squeezed to a column a letter or two wide ("7. 3 2 m et re s." down the page), and its row ran hundreds
    of lines. Each column keeps a fair share of the width, and a long text scrolls in its cell (nothing is cut)."""
    from studio.evaluate.report import answers_table
    from studio.evaluate.result import EvalResult, ModelEntry, QuestionRow

    long_q = ("What happens when the ball hits the referee and goes into the goal? " * 300)[:20_000]
    rows = [QuestionRow(index=0, question=long_q, reference="A dropped ball.", answers={"base": "A goal.", "run": "A dropped ball."},
                        scores={"base": {"f1": 0.0}, "run": {"f1": 1.0}}),
            QuestionRow(index=1, question="How wide is the goal?", reference="7.32 metres.",
                        answers={"base": "Eight yards wide.", "run": "7.32 metres."},
                        scores={"base": {"f1": 0.0}, "run": {"f1": 1.0}})]
    result = EvalResult(id="x", status="finished", models=[ModelEntry(label="base", spec="base"),
                                                           ModelEntry(label="run", spec="run")], rows=rows)
    page_file = tmp_path / "answers.html"
    page_file.write_text(f"<html><body><div style='width:1000px'>{answers_table(result)}</div></body></html>",
                         encoding="utf-8")
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        page.goto(page_file.as_uri())
        heads = page.locator("table.ev th")
        widths = [heads.nth(i).bounding_box()["width"] for i in range(heads.count())]  # reference, base, run
        assert min(widths) >= 120, widths  # "7.32 metres." reads on one or two lines, not a letter a line
        first = page.locator("table.ev tr").nth(1).bounding_box()
        assert first["height"] <= 500, first  # the next question is in sight, not hundreds of lines below
        # and the whole question is there, to scroll through in its cell
        assert page.locator("table.ev tr").nth(1).locator("td").first.text_content() == f"#1 {long_q}"
    finally:
        context.close()


def test_the_summary_panels_titles_do_not_run_into_each_other_in_an_800_px_window(browser, tmp_path):
    """In an 800 px window (the page's content 468 px wide beside the sidebar) the summary's panel subtitles ran into
    each other: "1 and up, lower is betterwords, neither better nor worse" read as one line over three panels. Every
    title and subtitle (the chart's own title too) keeps clear of the others, there and at 1280 px (820)."""
    from plotly.offline import get_plotlyjs

    from studio.evaluate import metrics
    from studio.evaluate.plots import summary_bars

    summary = {label: {m: 0.5 for m in metrics.METRICS} | {"answered": 3, "failed": 0} for label in ("base", "run")}
    fig = summary_bars(summary)
    js = tmp_path / "plotly.js"
    js.write_text(get_plotlyjs(), encoding="utf-8")
    for width in (468, 820):
        page_file = tmp_path / f"bars-{width}.html"
        page_file.write_text(f"<html><head><script src='{js.as_uri()}'></script></head><body style='margin:0'>"
                             f"<div id='p' style='width:{width}px'></div><script>Plotly.newPlot('p', "
                             f"{fig.to_json()}, {{responsive: true}})</script></body></html>", encoding="utf-8")
        context = page = None
        try:
            context = browser.new_context(viewport={"width": width + 40, "height": 1400})
            page = context.new_page()
            page.goto(page_file.as_uri())
            page.locator("#p .main-svg").first.wait_for(timeout=60_000)
            boxes = page.evaluate("""() => [...document.querySelectorAll('#p .annotation-text tspan.line, '
                + '#p .annotation-text:not(:has(tspan.line)), #p .gtitle')].map(t => {
                    const r = t.getBoundingClientRect();
                    return {text: t.textContent, x0: r.left, x1: r.right, y0: r.top, y1: r.bottom}; })""")
            assert len(boxes) >= len(metrics.METRICS), boxes
            clash = [(a["text"], b["text"]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
                     if a["x0"] < b["x1"] - 1 and b["x0"] < a["x1"] - 1 and a["y0"] < b["y1"] - 1 and b["y0"] < a["y1"] - 1]
            assert clash == [], (width, clash)
            assert all(b["x0"] >= 0 and b["x1"] <= width + 1 for b in boxes), (width, boxes)  # none past the edges
        finally:
            if context:
                context.close()


def test_long_model_names_in_the_summary_legend_stay_in_the_chart_and_apart(browser, tmp_path):
    """An 80-character model name ran past the summary chart's right edge in an 800 px window (the chart 468 px wide):
    the legend now shortens a long name around an ellipsis, each still told from the others where two share a long
    start, and the hover says it whole."""
    from plotly.offline import get_plotlyjs

    from studio.evaluate.plots import summary_bars

    shared = "run:an-organisation-with-a-long-name/a-model-fine-tuned-on-the-soccer-rules-"
    labels = ["base", "m" * 80, f"{shared}first-try-of-the-day", f"{shared}second-try-of-the-day"]
    fig = summary_bars({label: {"f1": 0.5, "answered": 3, "failed": 0} for label in labels})
    assert {t.hovertemplate.split("<br>")[0] for t in fig.data} == set(labels)  # whole on hover
    js = tmp_path / "plotly.js"
    js.write_text(get_plotlyjs(), encoding="utf-8")
    page_file = tmp_path / "legend.html"
    page_file.write_text(f"<html><head><script src='{js.as_uri()}'></script></head><body style='margin:0'>"
                         f"<div id='p' style='width:468px'></div><script>Plotly.newPlot('p', {fig.to_json()}, "
                         "{responsive: true})</script></body></html>", encoding="utf-8")
    context = browser.new_context(viewport={"width": 508, "height": 1000})
    try:
        page = context.new_page()
        page.goto(page_file.as_uri())
        page.locator("#p .legendtext").first.wait_for(timeout=60_000)
        boxes = page.evaluate("""() => [...document.querySelectorAll('#p .legendtext')].map(t => {
            const r = t.getBoundingClientRect(); return {text: t.textContent, x0: r.left, x1: r.right}; })""")
        assert len(boxes) == len(labels), boxes
        assert all(b["x0"] >= 0 and b["x1"] <= 468 + 1 for b in boxes), boxes  # none past the chart's edges
        texts = [b["text"] for b in boxes]
        assert len(set(texts)) == len(labels), texts  # each model told from the others
        assert "base" in texts
    finally:
        context.close()
