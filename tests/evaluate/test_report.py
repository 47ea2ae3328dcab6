"""Reports, summaries, comparisons and filters over a hand-built result."""

import csv
import io
import json

import pytest

from studio.errors import StudioError
from studio.evaluate import metrics, report
from studio.evaluate import plots as eval_plots
from studio.evaluate import results as eval_results
from studio.evaluate.result import EvalResult, Leak


def _row(i, q, ref, answers, errors=None, leak=None, judge=None):
    from studio.evaluate import metrics

    scores = {m: {**metrics.score_answer(a, ref), "latency_s": 0.1} for m, a in answers.items()}
    return {"index": i, "question": q, "reference": ref, "leak": leak, "answers": answers, "errors": errors or {},
            "scores": scores, "latency": {}, "judge": judge or {}}


@pytest.fixture
def result():
    rows = [
        _row(0, "How long is a match?", "Two halves of 45 minutes", {"base": "Ninety", "tuned": "Two halves of 45 minutes"}),
        _row(1, "How many players?", "Eleven", {"base": "Eleven", "tuned": "Twelve"},
             judge={"base": {"score": 5, "reason": "right"}, "tuned": {"score": 1, "reason": "wrong"}}),
        _row(2, "<script>alert('x')</script> What is offside?", "A position rule", {"base": "No idea"},
             errors={"tuned": "BackendError: server said 500"},
             leak={"score": 96.0, "train_question": "What is <b>offside</b>?", "kind": "fuzzy"}),
    ]
    res = {"id": "20261122-000000-abcd", "created": "2026-11-22T00:00:00+00:00", "status": "done",
           "config": {"max_new_tokens": 32, "do_sample": False, "seed": 0, "batch_size": 4},
           "models": [{"label": "base", "spec": "base", "kind": "local"},
                      {"label": "tuned", "spec": "run:r1", "kind": "local", "run_id": "r1"}],
           "dataset": {"source": "file", "name": "qa.json", "sha256": "x"}, "notes": [], "rows": rows}
    return eval_results.refresh_summaries(EvalResult.from_json(res))


def test_summary_means_and_counts(result):
    s = result.summary
    assert s["base"]["exact_match"] == pytest.approx(1 / 3)  # only "Eleven" is exact
    assert s["tuned"]["exact_match"] == pytest.approx(1 / 2)  # two answered, one exact
    assert s["tuned"]["answered"] == 2 and s["tuned"]["failed"] == 1
    assert s["base"]["judge"] == 5 and s["tuned"]["judge"] == 1
    assert result.summary_excluding_leaked["base"]["answered"] == 2


def test_win_tie_loss_counts_failures_as_losses(result):
    # q0: tuned F1 1.0 vs base 0 -> win; q1: tuned 0 vs base 1 -> loss; q2: tuned failed -> loss
    assert eval_results.win_tie_loss(result, "tuned", "base") == {"win": 1, "tie": 0, "loss": 2}
    assert eval_results.win_tie_loss(result, "base", "tuned") == {"win": 2, "tie": 0, "loss": 1}
    assert eval_results.win_tie_loss(result, "tuned", "base", exclude_leaked=True) == {"win": 1, "tie": 0, "loss": 1}


def test_filters(result):
    assert [r.index for r in eval_results.filter_rows(result, "lost")] == [1, 2]  # focus: the run
    assert [r.index for r in eval_results.filter_rows(result, "lost", model="base")] == [0]
    assert [r.index for r in eval_results.filter_rows(result, "all_failed")] == [2]
    assert [r.index for r in eval_results.filter_rows(result, "leaked")] == [2]
    with pytest.raises(StudioError):
        eval_results.filter_rows(result, "nope")


def test_csv_has_one_row_per_question_with_answers_and_errors(result):
    rows = list(csv.DictReader(io.StringIO(report.to_csv(result))))
    assert len(rows) == 3
    assert rows[0]["tuned | answer"] == "Two halves of 45 minutes" and float(rows[0]["tuned | f1"]) == 1.0
    assert rows[2]["tuned | error"].startswith("BackendError") and rows[2]["leaked"] == "True"
    assert rows[1]["base | judge"] == "5"


def test_html_report_is_self_contained_and_escapes_record_text(result, tmp_path):
    out = report.write(result, tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")
    assert "<script>alert('x')</script>" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "What is &lt;b&gt;offside&lt;/b&gt;?" in text
    assert "<scriptsrc=" not in text.replace(" ", "")  # plotly.js is inside the file, no CDN
    assert text.count("draw('plot-") >= 3  # summary bars, distributions, win/tie/loss


def test_the_html_report_carries_plotly_js_packed_not_its_4_8_mb(result):
    """Each report embedded the whole of plotly.js (4.8 MB) as text; it travels gzipped inside the file (opened
    offline, the browser unpacks it), so a report of three questions is about 2 MB."""
    import base64
    import gzip

    from plotly.offline import get_plotlyjs

    text = report.to_html(result)
    assert len(text.encode()) < 2_300_000
    packed = text.split('atob("', 1)[1].split('")', 1)[0]
    assert gzip.decompress(base64.b64decode(packed)).decode() == get_plotlyjs()  # the very library the page uses
    assert "DecompressionStream" in text and "http://" not in text and "https://cdn" not in text
    assert "<mark>Twelve</mark>" in text  # the word that differs from the reference


def test_json_and_unknown_suffix(result, tmp_path):
    out = report.write(result, tmp_path / "r.json")
    data = json.loads(out.read_text())
    assert data["summary"]["base"]["exact_match"] == pytest.approx(1 / 3)
    assert set(data["rows"][0]) >= {"question", "reference", "answers", "scores"}
    with pytest.raises(StudioError, match=r"\.json, \.csv or \.html"):
        report.write(result, tmp_path / "r.txt")


def test_store_round_trip_and_listing(result):
    eval_results.save(result)
    assert eval_results.load(result.id).rows[2].errors["tuned"].startswith("BackendError")
    listed = eval_results.list_evals()
    assert [e.id for e in listed] == [result.id] and listed[0].questions == 3 and listed[0].models == ["base", "tuned"]
    with pytest.raises(StudioError, match="deleted"):
        eval_results.load("20990101-000000-ffff")


def test_plots_have_one_trace_per_model(result):
    bars = eval_plots.summary_bars(result.summary)
    assert {t.legendgroup for t in bars.data} == {"base", "tuned"}
    dist = eval_plots.score_distributions(result)
    assert [len(t.y) for t in dist.data] == [3, 2]  # tuned failed one question
    wtl = eval_plots.win_tie_loss({"win": 1, "tie": 0, "loss": 2}, "tuned", "base")
    assert [t.x[0] for t in wtl.data] == [1, 0, 2]
    curves = eval_plots.training_curves({"tuned": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5, "eval_loss": 1.7}]})
    assert [list(t.y) for t in curves.data] == [[2.0, 1.5], [1.7]]


def test_one_state_vocabulary_with_the_job_and_older_files_read_in_it(tmp_path):
    from studio import jobs

    for old, new in (("done", "finished"), ("cancelled", "stopped")):
        eval_results.save({"id": f"old-{old}", "created": "2026-11-01T00:00:00+00:00", "status": old, "rows": []})
        assert eval_results.load(f"old-{old}").status == new
        assert new in jobs.DONE  # the words a job's status uses
    assert {e.id: e.status for e in eval_results.list_evals()} == {"old-done": "finished", "old-cancelled": "stopped"}
    report_file = tmp_path / "report.json"
    report_file.write_text(json.dumps({"status": "cancelled", "rows": []}))
    assert eval_results.load_file(report_file).status == "stopped"
    old_report = EvalResult.from_json
    assert "<p class='fail'>Status: stopped" in report.to_html(old_report({"id": "x", "status": "cancelled", "rows": []}))
    assert "<p class='fail'>Status:" not in report.to_html(old_report({"id": "x", "status": "done", "rows": []}))


def test_html_summary_without_leaked_questions_is_the_rows_that_remain(result, tmp_path):
    import re

    result.summary_excluding_leaked = {"base": {"exact_match": 0.0, "answered": 0.0, "failed": 0.0}}  # stale
    text = report.to_html(result)
    part = text.split("Summary without the 1 leaked question</h2>")[1].split("</table>")[0]
    base = re.search(r"<tr><th class='model'>base</th>(.*?)</tr>", part).group(1)
    cells = re.findall(r"<td class='num'>(.*?)</td>", base)
    assert cells[-2:] == ["2", "0"]  # answered 2 (of the 2 not leaked), failed 0: not a table of zeros
    # every question leaked (a run evaluated on its own training records): said, no table of zeros
    for row in result.rows:
        row.leak = Leak(score=100.0, train_question=row.question, kind="exact")
    text = report.to_html(eval_results.refresh_summaries(result))
    assert "All 3 questions are leaked" in text and "Summary without the 3 leaked questions" not in text
    # and where to go for questions that are not: a run that held nothing out has none to offer
    assert "train again with Held-out fraction set in Advanced on the Train page (--test-fraction" in text


def test_a_result_written_before_batches_were_recorded_says_its_latency_was_averaged_over_its_batch(result):
    """The fixture is an older file: no model says its batch; its local models answered 3 questions in one batch
    (batch size 4), so every report says their latency is averaged over a batch of 3."""
    from studio.evaluate import latency

    assert all(m.latency_batch is None for m in result.models)
    assert latency.note(result).startswith("Latency is seconds per answer. base, tuned: averaged over a batch of 3 ")
    rows = list(csv.DictReader(io.StringIO(report.to_csv(result))))
    assert [r["base | latency_batch"] for r in rows] == ["3", "3", "3"]
    assert [r["tuned | latency_batch"] for r in rows] == ["3", "3", ""]  # the failed answer has no latency
    assert "averaged over a batch of 3" in report.to_html(result)
    again = EvalResult.from_json(json.loads(report.to_json(result)))
    assert again.to_json()["models"] == result.to_json()["models"]  # nothing added to an old file's models on a save


def test_csv_scores_are_numbers_a_spreadsheet_reads_in_full(result):
    """A perplexity over 1,000 (an untrained model's) was written "1,235": a text cell, not a number; and every
    score was cut to 3 significant digits, so two runs 0.0004 apart read the same."""
    result.rows[0].scores["base"]["perplexity"] = 1234.5678
    result.rows[0].scores["tuned"]["f1"] = 0.123456
    rows = list(csv.DictReader(io.StringIO(report.to_csv(result))))
    assert float(rows[0]["base | perplexity"]) == 1234.5678
    assert float(rows[0]["tuned | f1"]) == 0.123456
    assert rows[2]["tuned | f1"] == ""  # a failed cell has no score


def test_the_html_reports_win_tie_loss_is_the_run_against_its_base_not_the_last_model_against_the_run(result):
    """Models in the page's order (the run, its base, then a chat model typed below): the report's one win/tie/loss
    plot compared the chat model with the run, not what the evaluation asks (did training beat the base?)."""
    order = ["tuned", "base", "chat"]
    result.models = [next(m for m in result.models if m.label == "tuned"), next(m for m in result.models if m.label == "base"),
                     type(result.models[0])(label="chat", spec="api:chat", kind="api")]
    for row in result.rows:
        row.answers["chat"] = "Eleven"
        row.scores["chat"] = {"f1": 1.0 if row.reference == "Eleven" else 0.0}
    assert result.labels == order
    wtl = [f for f in report.figures(result) if f.layout.title.text == "Win / tie / loss on Token F1"]
    assert [[t.name for t in f.data] for f in wtl] == [["tuned better", "tie", "base better"]]
    html = report.to_html(result)
    assert "loss on Token F1" in html and '"name":"tuned better"' in html and "chat better" not in html


def test_each_summary_panel_is_wide_enough_for_its_subtitle():
    """Seven metrics in one row made each panel a seventh of the chart: "seconds, lower is better" ran off its edge
    on the page. Every metric still gets its panel, titled, and none is narrower than a fifth of the chart."""
    summary = {label: {m: 0.5 for m in ("exact_match", "f1", "rouge_l", "chrf", "perplexity", "answer_words",
                                        "latency_s")} for label in ("base", "tuned")}
    fig = eval_plots.summary_bars(summary)
    titles = [a.text for a in fig.layout.annotations]
    assert len(titles) == 7 and any("Latency" in t and "seconds</sup><br><sup>lower is better" in t for t in titles), titles
    domains = [fig.layout[name].domain for name in fig.layout if name.startswith("xaxis")]
    assert len(domains) >= 7 and min(d[1] - d[0] for d in domains) > 0.2, domains
    assert {t.legendgroup for t in fig.data if t.showlegend} == {"base", "tuned"}  # each model once in the legend


def test_the_summary_legend_names_a_run_as_the_page_does_and_cuts_only_a_name_too_long_for_800_px():
    """The summary plot's legend cut every name past 32 characters: a run named as the page names it read "Soccer
    rul…ch · 2026-12-07 21:09", the bundled model "SmolLM2-13…t (bundled Q4_1 copy)", with room to spare at 800 px.
    Both read whole now; an 80-character name is still cut, to fit the chart there."""
    run, base = "Soccer rules (sample) · scratch · 2026-12-07 21:09", "SmolLM2-135M-Instruct (bundled Q4_1 copy)"
    long = "Soccer rules (sample) · SmolLM2-135M-Instruct (bundled Q4_1 copy) · 2026-12-07 02:04"
    fig = eval_plots.summary_bars({label: {"f1": 0.5} for label in (run, base, long)})
    names = [t.name for t in fig.data if t.showlegend]
    assert names[:2] == [run, base]
    assert len(names[2]) <= 56 and "…" in names[2]


def test_the_summary_bars_say_when_a_models_means_are_over_fewer_questions(result):
    """A chat model whose server timed out on 4 of 6 questions drew its bars beside the others' as if over the same
    questions: its legend now says how many it answered."""
    fig = eval_plots.summary_bars(result.summary)
    names = {t.name for t in fig.data if t.showlegend}
    assert names == {"base", "tuned (2 of 3 answered)"}


def test_win_tie_loss_counts_questions_in_whole_numbers():
    """Six questions were drawn on an axis ticked 0, 0.5, 1, 1.5 ... questions."""
    small = eval_plots.win_tie_loss({"win": 3, "tie": 1, "loss": 2}, "tuned", "base")
    assert small.layout.xaxis.dtick == 1 and small.layout.xaxis.title.text == "questions"
    large = eval_plots.win_tie_loss({"win": 120, "tie": 30, "loss": 50}, "tuned", "base")
    assert large.layout.xaxis.dtick == 20


def test_training_curves_tick_whole_steps():
    """A three-step run's curves were drawn on an axis ticked 1, 1.5, 2, 2.5, 3: there is no step 1.5."""
    short = eval_plots.training_curves({"tuned": [{"step": 1, "loss": 4.0}, {"step": 2, "loss": 3.5},
                                                  {"step": 3, "loss": 3.5, "eval_loss": 3.4}]})
    assert short.layout.xaxis.dtick == 1 and short.layout.xaxis.title.text == "step"
    long = eval_plots.training_curves({"tuned": [{"step": s, "loss": 1.0} for s in range(10, 410, 10)]})
    assert long.layout.xaxis.dtick is None  # plotly's own ticks: whole steps over a long run (0, 100, 200 ...)


def test_training_curves_follow_the_train_page_s_rule_and_skip_rows_edited_by_hand():
    """The Evaluate page kept its own copy of the Train page's step axis and read metrics rows its own way: a
    metrics.jsonl row edited by hand to hold text ("step": "3") stopped the page with a TypeError, where the Train
    page leaves such a row out. One rule for both: the same rows drawn, the same axis."""
    from studio.train import plots as train_plots

    rows = [{"step": 1, "loss": 4.0}, {"step": "3", "loss": 3.0}, {"step": 2, "loss": "n/a", "eval_loss": 3.4},
            {"step": 4, "loss": 3.5}]
    fig = eval_plots.training_curves({"tuned": rows})
    trained = train_plots.loss_curves(rows)
    assert [(list(t.x), list(t.y)) for t in fig.data] == [(list(t.x), list(t.y)) for t in trained.data]
    assert fig.layout.xaxis.to_plotly_json() == trained.layout.xaxis.to_plotly_json()


def _with_api_model(result):
    """The walk's evaluation: a local run scored with reference perplexity, an API chat model without it."""
    for row in result.rows:
        if "tuned" in row.scores:
            row.scores["tuned"]["perplexity"] = 12.5
    result.rows[0].leak = Leak(97.3, "How long is a game?", "fuzzy")
    return eval_results.refresh_summaries(result)


def test_the_report_says_which_way_each_metric_is_better_and_its_range(result):
    """A new reader could not tell whether a perplexity of 12.5 or a chrF of 40 was good."""
    page = report.to_html(_with_api_model(result))
    assert "Perplexity: 1 and up, lower is better" in page
    assert "Token F1: 0-1, higher is better" in page and "chrF: 0-100, higher is better" in page
    assert "Latency per answer (s): seconds, lower is better" in page
    bars = eval_plots.summary_bars(result.summary)
    titles = [a.text for a in bars.layout.annotations]
    # the panel says the table's name (it said "Perplexity" where the table and the other plots said "Reference perplexity")
    assert any(t.startswith(f"{metrics.LABELS['perplexity']}<br>") and "lower is better" in t for t in titles), titles
    assert any("chrF" in t and "0-100</sup><br><sup>higher is better" in t for t in titles), titles  # over two lines
    dist = eval_plots.score_distributions(result, "perplexity")
    assert dist.layout.yaxis.title.text == "Perplexity (1 and up, lower is better)"


def test_each_summary_panel_names_its_metric_as_the_table_does():
    """The panels said "Similarity", "Words", "Latency/answer (s)" and "In passage" above the table's "Semantic
    similarity", "Answer length (words)", "Latency per answer (s)" and "Found in passage": one metric, two names."""
    summary = {label: dict.fromkeys(metrics.METRICS, 0.5) for label in ("base", "tuned")}
    titles = [a.text for a in eval_plots.summary_bars(summary).layout.annotations]
    names = [t.split("<sup>")[0].removesuffix("<br>").replace("<br>", " ") for t in titles]
    assert names == [metrics.LABELS[m] for m in metrics.METRICS]


def test_an_api_models_perplexity_reads_as_computed_for_local_models_only(result):
    """The perplexity cell of the API model was blank, with no reason."""
    page = report.to_html(_with_api_model(result))
    summary = page[page.index("<h2>Summary</h2>"):page.index("<h2>Plots</h2>")]
    assert "<td class='num'>—</td>" in summary
    assert "— under Perplexity: computed for local models only" in summary


def test_a_leak_is_worded_as_percent_similar_in_the_answers_table(result):
    """The table said "(97.3)" where the question details said "97% similar"."""
    table = report.answers_table(_with_api_model(result))
    assert "97% similar to the training question" in table and "(97.3)" not in table


def test_only_computed_metrics_are_offered_for_plots(result):
    """Score distributions offered similarity and perplexity that were never computed (an empty plot); win/tie/loss
    offered the judge on models it had not graded."""
    names = ["f1", "similarity", "perplexity", "judge"]
    assert eval_results.scored(result, names) == ["f1", "judge"]
    assert eval_results.scored(_with_api_model(result), names) == ["f1", "perplexity", "judge"]
    result.rows[1].judge.clear()
    assert eval_results.scored(result, names, ("tuned", "base")) == ["f1"]


def test_the_html_report_says_a_model_stop_came_before_was_not_run_not_that_it_failed(tmp_path):
    from studio.evaluate import stopping
    from studio.evaluate.result import ModelEntry, QuestionRow

    result = EvalResult(id="e", created="2026-12-05T00:00:00+00:00", status="stopped", error="Evaluation stopped.",
                        config={}, models=[ModelEntry(label=m, spec=m, kind="api") for m in ("api:m", "api:n")])
    result.rows = [QuestionRow(index=i, question=f"Q{i}?", reference="A.", answers={"api:m": "A."},
                               scores={"api:m": {"f1": 1.0}}, errors={"api:n": stopping.NOT_RUN}) for i in range(2)]
    page = report.to_html(eval_results.refresh_summaries(result))
    assert "api:n: " in page and "(not run: the evaluation was stopped before its first answer)" in page
    assert "failed every question" not in page


def test_questions_stop_came_before_are_no_losses_in_win_tie_loss():
    """A run that answered every question against its base stopped after one: the base "lost" every question it was
    never asked, in the win/tie/loss bar and the "where the chosen model lost" filter."""
    from studio.evaluate import stopping
    from studio.evaluate.result import ModelEntry, QuestionRow

    result = EvalResult(id="e", created="2026-12-05T00:00:00+00:00", status="stopped", config={},
                        models=[ModelEntry(label="tuned", spec="run:r", kind="local", run_id="r"),
                                ModelEntry(label="base", spec="base", kind="local")])
    result.rows = [QuestionRow(index=i, question=f"Q{i}?", reference="A b c.", answers={"tuned": "A b c."},
                               scores={"tuned": {"f1": 1.0}}) for i in range(4)]
    result.rows[0].answers["base"], result.rows[0].scores["base"] = "X.", {"f1": 0.0}
    result.rows[1].errors["base"] = stopping.INTERRUPTED
    for row in result.rows[2:]:
        row.errors["base"] = stopping.NOT_RUN
    assert eval_results.win_tie_loss(result, "tuned", "base") == {"win": 1, "tie": 0, "loss": 0}
    assert [r.index for r in eval_results.filter_rows(result, "lost", model="base")] == [0]
    result.rows[3].errors["base"] = "quota exceeded"  # a real failure still loses
    assert eval_results.win_tie_loss(result, "tuned", "base") == {"win": 2, "tie": 0, "loss": 0}


def _stopped_midway() -> EvalResult:
    """Stopped during the fourth question: three answered, one failed with an error, one cut short, one never run."""
    from studio.evaluate import stopping

    answers = {0: "Two halves", 1: "Two halves", 2: "Two halves"}
    errors = {3: "BackendError: server said 500", 4: stopping.INTERRUPTED, 5: stopping.NOT_RUN}
    rows = [_row(i, f"Question {i}?", "Two halves", {"m": answers[i]} if i in answers else {},
                 errors={"m": errors[i]} if i in errors else None) for i in range(6)]
    data = {"id": "20261206-000000-stop", "created": "2026-12-06T00:00:00+00:00", "status": "stopped",
            "error": "Evaluation stopped: the results so far are kept.", "config": {},
            "models": [{"label": "m", "spec": "api:m", "kind": "api"}], "rows": rows}
    return EvalResult.from_json(data)


def test_questions_stop_came_before_are_counted_as_stopped_not_failed_in_the_summary_report_and_plots():
    """A stopped evaluation's summary counted the questions cut short or never run as failed ("3 failed" for one
    error): the JSON, the HTML report and the chart's legend said the model failed what it was never asked."""
    result = _stopped_midway()
    summary = eval_results.refresh_summaries(result).summary["m"]
    assert (summary["answered"], summary["failed"], summary["stopped"]) == (3, 1, 2)
    assert json.loads(report.to_json(result))["summary"]["m"]["stopped"] == 2
    page = report.to_html(result)
    assert ("<td class='num'>3</td><td class='num'>1</td><td class='num'>2</td></tr></table>" in page
            and ">stopped</th>" in page)  # answered, failed, stopped
    assert "Stopped: questions the evaluation was stopped before" in page
    assert "failed: not run" not in page and "failed: stopped before" not in page  # the answers table says it too
    assert "<td class='fail'>failed: BackendError: server said 500</td>" in page
    (bar, *_) = eval_plots.summary_bars(result.summary).data
    assert bar.name == "m (3 of 6 answered: 1 failed, 2 stopped)"
    assert [r.index for r in eval_results.filter_rows(result, "all_failed")] == [3]  # not the two it never answered


def test_a_result_saved_before_stopped_was_counted_apart_is_counted_from_its_rows():
    """Files written before kept "failed": 3 for the same questions: the comparison and the report read the rows."""
    result = _stopped_midway()
    old = result.to_json()
    old["summary"] = {"m": {"f1": 0.5, "answered": 3.0, "failed": 3.0}}
    eval_results.save(old)
    (info,) = eval_results.list_evals()
    assert (info.summary["m"]["failed"], info.summary["m"]["stopped"]) == (1, 2)
    assert "<td class='num'>1</td><td class='num'>2</td></tr></table>" in report.to_html(eval_results.load(info.id))


def test_a_finished_evaluation_s_summary_has_no_stopped_column(result):
    page = report.to_html(result)
    assert ">failed</th>" in page and ">stopped</th>" not in page


def test_the_html_report_says_why_a_model_failed_every_question_in_one_sentence():
    """'... download the model again.; left out of the plots': the reason's full stop met the report's semicolon."""
    from studio.evaluate.result import ModelEntry, QuestionRow

    reason = "The weights of /m are damaged: save, copy or download the model again."
    result = EvalResult(id="e", created="2026-12-05T00:00:00+00:00", status="finished", config={},
                        models=[ModelEntry(label="/m", spec="/m", error=reason), ModelEntry(label="b", spec="b")])
    result.rows = [QuestionRow(index=0, question="Q?", reference="A b.", answers={"b": "A b."}, scores={"b": {"f1": 1.0}},
                               errors={"/m": reason})]
    page = report.to_html(eval_results.refresh_summaries(result))
    assert "download the model again; left out of the plots and the answers table" in page


def test_score_distributions_of_a_bounded_metric_keep_to_its_range():
    """Every answer scoring an F1 of 0 drew the per-question plot on an axis from -1 to 1 (the browser's own range
    around one value): a reader saw room for a negative F1. The axis is the metric's range, as the summary's is."""
    from studio.evaluate.result import ModelEntry, QuestionRow

    rows = [QuestionRow(index=i, question=f"q{i}", reference="Two halves.", answers={"m": "Olá"},
                        scores={"m": {"f1": 0.0, "chrf": 3.0, "latency_s": 0.2}}) for i in range(4)]
    result = EvalResult(id="x", status="finished", models=[ModelEntry(label="m", spec="m")], rows=rows)
    for metric, top in (("f1", 1), ("chrf", 100)):
        low, high = eval_plots.score_distributions(result, metric).layout.yaxis.range
        assert -0.1 * top <= low < 0 and top <= high <= 1.2 * top  # 0 just above the axis's foot, never below it
    assert eval_plots.score_distributions(result, "latency_s").layout.yaxis.range is None  # unbounded: its own range


def test_win_tie_loss_says_its_metric_whatever_the_models_are_named_and_names_them_in_a_legend_under_the_bar():
    """A run named as the page names it ("Soccer rules (sample) · SmolLM2-135M-Instruct (bundled Q4_1 copy) ·
    2026-12-07 02:04") against its base made a title wider than the chart: it was cut before "on Token F1", and the
    plot no longer said what it counted; then the line under the title naming both models was cut at 800 px, and the
    legend above the bar, three lines there, lay over it. The title says the metric alone; the legend, under the
    axis, names each model."""
    run = "Soccer rules (sample) · SmolLM2-135M-Instruct (bundled Q4_1 copy) · 2026-12-07 02:04"
    base = "SmolLM2-135M-Instruct (bundled Q4_1 copy)"
    fig = eval_plots.win_tie_loss({"win": 9, "tie": 4, "loss": 3}, run, base, "f1")
    assert fig.layout.title.text == "Win / tie / loss on Token F1"
    assert [t.name for t in fig.data] == [f"{run} better", "tie", f"{base} better"]
    assert fig.layout.legend.y < 0 and fig.layout.legend.yanchor == "top"  # under the plot, growing downward


def test_win_tie_loss_compares_a_run_with_its_own_base_wherever_the_base_is_listed(result):
    """A chat model typed first, then the run, then the run's base: win/tie/loss compared the run with the chat model
    (the first other model picked), not with the base it was trained from, and did not say which pair it was."""
    from studio.train import runs

    folder = runs.run_dir("r1")
    folder.mkdir(parents=True)
    runs.write_run(folder, {"id": "r1", "name": "tuned", "config": {}, "base": "tiny-base"})
    entry = type(result.models[0])
    result.models = [entry(label="chat", spec="api:chat", kind="api"),
                     next(m for m in result.models if m.label == "tuned"),
                     entry(label="tiny-base", spec="tiny-base")]
    labels = result.labels
    assert report.pair(result, labels) == ("tuned", "tiny-base")
    assert report.pair_note(result, "tuned", "tiny-base") == "tuned against its own base, tiny-base."
    assert "tuned against tiny-base" in report.pair_note(result, "chat", "tuned")
    result.models = result.models[:2]  # no base among them: the first run against the first other model, said so
    assert report.pair(result, result.labels) == ("tuned", "chat")
    assert report.pair_note(result, "tuned", "chat") == "tuned against chat: no run is evaluated here with its own base."
