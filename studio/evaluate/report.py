"""Evaluation reports: CSV (one row per question), JSON (the full result) and a self-contained HTML page.

The HTML report carries plotly.js inside it, gzipped (no CDN: it opens offline; 2 MB instead of 4.8: plotly ships no
smaller bundle, and its other ``include_plotlyjs`` choices load it from the network or a file beside the report), and
every piece of record text is HTML-escaped, so a question containing ``<script>`` is shown, never run.
"""

from __future__ import annotations

import base64
import csv
import functools
import gzip
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.io as pio

from studio import atomic, jobs
from studio.data.csv_cells import safe_cell
from studio.data.display import plural
from studio.errors import StudioError
from studio.evaluate import latency, leakage, metrics
from studio.evaluate import plots as eval_plots
from studio.evaluate import results as eval_results
from studio.evaluate.result import EvalResult, QuestionRow


def to_json(result: EvalResult) -> str:
    return json.dumps(result.to_json(), ensure_ascii=False, indent=1) + "\n"


def to_csv(result: EvalResult) -> str:
    """One row per question: question, reference, leakage, then per model its answer, error, metrics, how many
    answers its latency was averaged over (``latency_batch``: its batch, 1 for an answer timed alone) and judge."""
    labels = result.labels
    entries = {label: result.model(label) for label in labels}  # None: a hand-made report that lists no models
    header = ["index", "question", "reference", "leaked", "leak_score", "leak_train_question"]
    for label in labels:
        header += [f"{label} | answer", f"{label} | error"] + [f"{label} | {m}" for m in metrics.CSV_METRICS]
        header += [f"{label} | latency_batch", f"{label} | judge", f"{label} | judge_reason"]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([safe_cell(h) for h in header])  # a model's label is typed text too
    for position, row in enumerate(result.rows):
        leak = row.leak
        line = [row.index + 1, safe_cell(row.question), safe_cell(row.reference),
                bool(leak), leak.score if leak else "", safe_cell(leak.train_question if leak else "")]
        for label in labels:
            scores = row.scores.get(label, {})
            judge = row.judge.get(label)
            line += [safe_cell(row.answers.get(label, "")), safe_cell(row.errors.get(label, ""))]
            line += [_cell(scores.get(m)) for m in metrics.CSV_METRICS]
            timed = entries[label] is not None and "latency_s" in scores
            line += [latency.row_batch(result, entries[label], position) if timed else ""]
            line += [judge.score if judge and judge.score is not None else "", safe_cell(judge.reason if judge else "")]
        writer.writerow(line)
    return buf.getvalue()


def _num(value: float | None) -> str:
    return metrics.fmt(value)


def _cell(value: float | None) -> float | str:
    """A score as a spreadsheet reads it: the full number (no thousands separator: a perplexity of 1,234 read
    back as text, or 3 significant digits that make two runs' scores look equal); empty when there is none."""
    return "" if value is None else value


def highlight_html(answer: str, reference: str) -> str:
    """The answer, escaped, with words missing from the reference wrapped in <mark>."""
    parts = []
    for word, differs in metrics.word_diff(answer, reference):
        esc = html.escape(word)
        parts.append(f"<mark>{esc}</mark>" if differs else esc)
    return " ".join(parts)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;max-width:1400px}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.4rem .5rem;vertical-align:top;text-align:left}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
mark{background:#ffe08a}.fail{color:#b00020}.leak{background:#fff4e5}.meta{color:#555;font-size:.9rem}
th.model{max-width:24em;overflow-wrap:anywhere}
"""
# th.model: a model's name breaks where it must (a run or Hub id of 80 characters with no space pushed the means and
# counts beside it off the page); it is shown whole, over a few lines


def _summary_table(summary: Mapping[str, Mapping[str, float]], failed: Mapping[str, str] = {}) -> str:
    """The means, a "—" where a model has no value for a metric, and under the table how to read each metric (its
    range, which way is better, why a cell may be empty: the metrics registry)."""
    shown = [m for m in metrics.METRICS if any(m in s for s in summary.values())]
    cols = shown + counts_shown(summary)
    head = "".join(f"<th title='{html.escape(metrics.column_help(c))}'>{html.escape(metrics.LABELS.get(c, c))}</th>"
                   if c in shown else f"<th title='{html.escape(eval_results.STOPPED_HELP)}'>{c}</th>" if c == "stopped"
                   else f"<th>{c}</th>" for c in cols)
    body = []
    for label, s in summary.items():
        cells = "".join(f"<td class='num'>{'failed' if label in failed and c not in COUNTS else _count(s, c) if c in COUNTS else _shown(s.get(c))}</td>"
                        for c in cols)
        body.append(f"<tr><th class='model'>{html.escape(label)}</th>{cells}</tr>")
    how = " · ".join(f"{metrics.LABELS[m]}: {metrics.reading(m)}" for m in shown)
    why = "".join(f" {metrics.MISSING} under {metrics.LABELS[m]}: {metrics.absent(m)}." for m in shown
                  if metrics.absent(m) and any(m not in s for label, s in summary.items() if label not in failed))
    if "stopped" in cols:
        why += f" {eval_results.STOPPED_HELP[0].upper()}{eval_results.STOPPED_HELP[1:]}"
    return (f"<table><tr><th>model</th>{head}</tr>{''.join(body)}</table>"
            f"<p class='meta' data-testid='eval-reading'>{html.escape(how)}.{html.escape(why)}</p>")


COUNTS = ("answered", "failed", "stopped")
"""The summary's counts of questions, apart from its means."""


def counts_shown(summary: Mapping[str, Mapping[str, float]]) -> list[str]:
    """The count columns a summary table shows: answered and failed, and stopped where Stop came before some answer
    (not run, or cut short: not a failure)."""
    return [c for c in COUNTS if c != "stopped" or any(s.get("stopped") for s in summary.values())]


def _count(summary: Mapping[str, float], name: str) -> str:
    return f"{int(summary.get(name, 0)):,}"


def _shown(value: float | None) -> str:
    return metrics.MISSING if value is None else _num(value)


# Each question reads across the whole table, in a row of its own above its reference and answers: beside them it had
# a column's share of the width, 85 px (a word or two a line) beside three models at 800 px. Fixed layout: the reference
# and each answer get an equal share whatever one cell holds (in the automatic layout a question of 20,000 characters
# took it all, and the answers read a letter a line); a long text scrolls in its cell; a model's name wraps in its
# header, never cut.
ANSWERS_CSS = ("table.ev{border-collapse:collapse;width:100%;font-size:.9rem;table-layout:fixed}"
               "table.ev div.t{max-height:16em;overflow-y:auto}table.ev td,table.ev th{border:1px solid #ddd;"
               "padding:.3rem .45rem;vertical-align:top;text-align:left;overflow-wrap:anywhere}table.ev th{background:#f5f5f5}"
               "table.ev tr.q td{background:#fafafa;border-top:2px solid #bbb;font-weight:500}"
               "table.ev tr.q td.leak{background:#fff4e5}table.ev span.n{color:#555;margin-right:.5em}"
               "table.ev mark{background:#ffe08a}table.ev .fail{color:#b00020}table.ev .meta{color:#555;font-size:.85rem;"
               "font-weight:normal}")


def _answer_cell(row: QuestionRow, label: str) -> str:
    err = row.errors.get(label)
    if err and eval_results.stopped(row, label):  # Stop came before its answer: not a failure of the model's
        return f"<td class='meta'><i>{html.escape(err)}</i></td>"
    if err:
        return f"<td class='fail'>failed: {html.escape(err)}</td>"
    if label not in row.answers:
        return "<td class='meta'><i>pending</i></td>"
    f1, judge = row.score(label, "f1"), row.judge.get(label)
    meta = [f"F1 {_num(f1)}"] if f1 is not None else []
    if judge and judge.score is not None:
        meta.append(f"judge {judge.score}/5: {html.escape(judge.reason)}")
    if label in row.notes:  # its question was cut to the model's context
        meta.append(html.escape(row.notes[label]))
    extra = f"<div class='meta'>{' · '.join(meta)}</div>" if meta else ""
    return f"<td>{_text(highlight_html(row.answers[label] or '', row.reference))}{extra}</td>"


def _text(markup: str) -> str:
    """A question, reference or answer in its cell: a text longer than the cell's height scrolls there (never cut)."""
    return f"<div class='t'>{markup}</div>"


def answers_table(result: EvalResult, rows: Sequence[QuestionRow] | None = None) -> str:
    """The answers side by side as one HTML table (the HTML report and the page both show this one): every record
    text escaped, words not in the reference in <mark>, a failed cell with its reason, a pending one said so.
    A model that failed every question has no column: its reason is said once, above the table."""
    labels = eval_results.shown_labels(result)
    head = "<tr><th>reference</th>" + "".join(f"<th>{html.escape(m)}</th>" for m in labels)
    body = []
    for row in result.rows if rows is None else rows:
        leak = row.leak
        note = (f"<div class='meta'>⚠ leaked: {leakage.similar(leak.score)} to the training question "
                f"\"{html.escape(leak.train_question)}\"</div>" if leak else "")
        body.append(f"<tr class='q'><td colspan={1 + len(labels)}{' class=leak' if leak else ''}>"
                    f"{_text(f'<span class=n>#{row.index + 1}</span> ' + html.escape(row.question))}{note}</td></tr>"
                    f"<tr><td>{_text(html.escape(row.reference))}</td>"
                    f"{''.join(_answer_cell(row, label) for label in labels)}</tr>")
    return (f"<style>{ANSWERS_CSS}</style><table class='ev' data-testid='eval-side-by-side'>{head}</tr>"
            f"{''.join(body)}</table>")


def pair(result: EvalResult, labels: Sequence[str]) -> tuple[str, str]:
    """The two models win/tie/loss compares first (the page's defaults and the HTML report's plot): a run against
    its own base where both were evaluated, else the first fine-tuned run (else the last model) against the first
    other model. It compared the first two models picked: a run's base third in the list was never its pair."""
    for entry in result.models:
        base = _base_of(entry.run_id) if entry.run_id and entry.label in labels else ""
        own = next((m.label for m in result.models if base and m.spec == base and m.label in labels
                    and m.label != entry.label), None)
        if own:
            return entry.label, own
    focus = eval_results.default_focus_model(result)
    a = focus if focus in labels else labels[-1]
    return a, next(m for m in labels if m != a)


def pair_note(result: EvalResult, a: str, b: str) -> str:
    """Which pair win/tie/loss compares, in one line: a run and its own base, or which models they are."""
    labels = [m.label for m in result.models]
    own = pair(result, labels) if len(labels) >= 2 else None
    if own and _is_own_base(result, *own) and {a, b} == set(own):
        return f"{own[0]} against its own base, {own[1]}."
    if own and _is_own_base(result, *own):
        return f"{a} against {b} (the run evaluated with its own base: {own[0]} against {own[1]})."
    return f"{a} against {b}: no run is evaluated here with its own base."


def _is_own_base(result: EvalResult, a: str, b: str) -> bool:
    entry = next((m for m in result.models if m.label == a), None)
    base = _base_of(entry.run_id) if entry and entry.run_id else ""
    return bool(base) and any(m.label == b and m.spec == base for m in result.models)


def _base_of(run_id: str) -> str:
    """The base a run was trained from, "" where its record is gone or unreadable."""
    from studio.models import run_folders

    try:
        return run_folders.load_run(run_id).base
    except (StudioError, OSError):
        return ""


def figures(result: EvalResult, curves: Mapping[str, Sequence[Mapping[str, float]]] | None = None) -> list:
    """The report's plots: summary bars, F1 distributions, win/tie/loss of the first two models, training curves."""
    failed = eval_results.failed_models(result)
    summary = {k: v for k, v in eval_results.summary_of(result).items() if k not in failed}
    figs = [eval_plots.summary_bars(summary), eval_plots.score_distributions(result)]
    labels = eval_results.shown_labels(result)
    if len(labels) >= 2:  # the page's default pair: the first fine-tuned run against the first other model
        a, b = pair(result, labels)
        figs.append(eval_plots.win_tie_loss(eval_results.win_tie_loss(result, a, b), a, b))
    if curves:
        figs.append(eval_plots.training_curves(curves, labels))
    return figs


@functools.cache
def _plotly_packed() -> str:
    """plotly.js as installed (the one the page draws with, 4.8 MB), gzipped and base64-encoded: about 2 MB."""
    from plotly.offline import get_plotlyjs

    return base64.b64encode(gzip.compress(get_plotlyjs().encode("utf-8"), 9, mtime=0)).decode("ascii")


def _script_json(value: str) -> str:
    """JSON text safe inside a <script> element (no "</script>" or "<!--" from a model's name or an answer)."""
    return value.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


NO_PLOTS = ("This browser cannot draw the plots (they need Chrome 80, Firefox 113, Safari 16.4 or newer): open the "
            "report in one of those; the tables below hold every number.")


def plots_html(figs: Sequence) -> str:
    """The figures as <div>s and one script that draws them: plotly.js travels inside the file, gzipped (a browser
    unpacks it with its own DecompressionStream), so the report opens offline at 2 MB instead of 4.8."""
    divs = "".join(f"<div id='plot-{i}' class='plot'></div>" for i in range(len(figs)))
    draws = "\n  ".join(f"draw('plot-{i}', {_script_json(pio.to_json(fig))});" for i, fig in enumerate(figs))
    return f"""{divs}<script>
(async () => {{
  if (typeof DecompressionStream === "undefined") throw new Error("no DecompressionStream");
  const packed = Uint8Array.from(atob("{_plotly_packed()}"), c => c.charCodeAt(0));
  const unpacked = new Blob([packed]).stream().pipeThrough(new DecompressionStream("gzip"));
  const library = document.createElement("script");
  library.textContent = await new Response(unpacked).text();
  document.head.appendChild(library);
  const draw = (id, fig) => Plotly.newPlot(id, fig.data, fig.layout, {{displaylogo: false, responsive: true}});
  {draws}
}})().catch(() => {{  // an older browser or viewer: one line where each plot would be, not a blank space
  for (const div of document.querySelectorAll(".plot")) div.textContent = {_script_json(json.dumps(NO_PLOTS))};
}});
</script>"""


def to_html(result: EvalResult, curves: Mapping[str, Sequence[Mapping[str, float]]] | None = None) -> str:
    """A single HTML file: summary, plots (plotly.js inside it, gzipped, once), notes, and the side-by-side answers."""
    plots = [plots_html(figures(result, curves))]
    ds = eval_results.describe_dataset(result.dataset)
    cfg = result.config
    settings = (f"max_new_tokens={cfg.get('max_new_tokens')}, {'sampling' if cfg.get('do_sample') else 'greedy'}, "
                f"seed={cfg.get('seed')}, batch_size={cfg.get('batch_size')}")
    settings += f", {eval_results.describe_system(result)}"  # per model where they differ: a trained run got none
    failed = eval_results.failed_models(result)
    not_run = eval_results.not_run_models(result)

    def why_absent(label: str) -> str:
        if label in not_run:
            return " <span class=fail>(not run: the evaluation was stopped before its first answer)</span>"
        if label in failed:
            return (f" <span class=fail>(failed every question: {html.escape(failed[label].rstrip('.'))}; left out of the plots and "
                    "the answers table)</span>")
        return ""

    models_list = "".join(
        f"<li>{html.escape(m.label)}: {html.escape(str(m.source or ''))}"
        f"{' @ ' + html.escape(str(m.revision)) if m.revision else ''}{why_absent(m.label)}</li>"
        for m in result.models
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    leaked = result.leaked
    excl = ""
    if leaked and leaked == len(result.rows):  # nothing left: no table of zeros
        excl = f"<h2>Summary without leaked questions</h2><p>{html.escape(eval_results.ALL_LEAKED.format(n=leaked))}</p>"
    elif leaked:  # computed from the rows as they are, never a summary stored before they were scored
        excl = f"<h2>Summary without the {plural(leaked, 'leaked question')}</h2>" + _summary_table(
            eval_results.summarize(result, exclude_leaked=True), failed)
    timing = latency.note(result)
    timing = f"<p class='meta' data-testid='eval-latency-note'>{html.escape(timing)}</p>" if timing else ""
    status_line = "" if result.status == "finished" else (
        f"<p class='fail'>Status: {html.escape(result.status or 'not finished')}. {html.escape(result.error or '')}</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation {html.escape(result.id)} · SLM Studio</title>
<style>{_CSS}</style></head><body>
<h1>Evaluation {html.escape(result.id)}</h1>
<p class="meta">started {html.escape(jobs.readable_time(result.created))} · questions: {html.escape(ds)} · {plural(len(result.rows), 'question')} · {html.escape(settings)}</p>
{status_line}<h2>Models</h2><ul>{models_list}</ul>
{'<h2>Notes</h2><ul>' + notes + '</ul>' if notes else ''}
<h2>Summary</h2>{_summary_table(eval_results.summary_of(result), failed)}
{timing}
{excl}
<h2>Plots</h2>{''.join(plots)}
<h2>Answers side by side</h2><p class="meta">Highlighted: words not in the reference.</p>
{answers_table(result)}
</body></html>
"""


def format_of(path: str | Path) -> str:
    """"json", "csv" or "html" from the file name; a one-line error for anything else."""
    suffix = Path(path).suffix.lower()
    formats = {".json": "json", ".csv": "csv", ".html": "html", ".htm": "html"}
    if suffix not in formats:
        raise StudioError(f"Cannot tell the report format of {Path(path).name}: end the name in .json, .csv or .html.")
    return formats[suffix]


def write(result: EvalResult, path: str | Path, curves: Mapping[str, Sequence[Mapping[str, float]]] | None = None) -> Path:
    """Write the report in the format the file name says (.json, .csv or .html), atomically."""
    path = Path(path).expanduser()
    fmt = format_of(path)
    text = to_json(result) if fmt == "json" else to_csv(result) if fmt == "csv" else to_html(result, curves)
    atomic.write_output(path, text)
    return path
