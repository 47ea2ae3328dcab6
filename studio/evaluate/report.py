"""Evaluation reports: CSV (one row per question), JSON (the full result) and a self-contained HTML page.

The HTML report embeds plotly.js inline (no CDN: it opens offline) and every piece of record
text is HTML-escaped, so a question containing ``<script>`` is shown, never run.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import plotly.io as pio

from studio import atomic
from studio.data.formats import safe_cell
from studio.errors import DiskError, StudioError
from studio.evaluate import metrics
from studio.evaluate import plots as eval_plots
from studio.evaluate import results as eval_results


def to_json(result: dict) -> str:
    return json.dumps(result, ensure_ascii=False, indent=1) + "\n"


def to_csv(result: dict) -> str:
    """One row per question: question, reference, leakage, then per model its answer, error, metrics and judge."""
    labels = eval_results.model_labels(result)
    header = ["index", "question", "reference", "leaked", "leak_score", "leak_train_question"]
    for label in labels:
        header += [f"{label} | answer", f"{label} | error"] + [f"{label} | {m}" for m in metrics.CSV_METRICS]
        header += [f"{label} | judge", f"{label} | judge_reason"]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    for row in result.get("rows") or []:
        leak = row.get("leak") or {}
        line = [row.get("index", 0) + 1, safe_cell(row.get("question", "")), safe_cell(row.get("reference", "")),
                bool(leak), leak.get("score", ""), safe_cell(leak.get("train_question", "") or "")]
        for label in labels:
            scores = (row.get("scores") or {}).get(label, {})
            judge = (row.get("judge") or {}).get(label, {})
            line += [safe_cell((row.get("answers") or {}).get(label, "")), safe_cell((row.get("errors") or {}).get(label, ""))]
            line += [_num(scores.get(m)) for m in metrics.CSV_METRICS]
            line += [judge.get("score", ""), safe_cell(judge.get("reason", "") or "")]
        writer.writerow(line)
    return buf.getvalue()


def _num(value: float | None) -> str:
    return metrics.fmt(value)


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
"""


def _summary_table(summary: Mapping[str, Mapping[str, float]], failed: Mapping[str, str] = {}) -> str:
    cols = [m for m in metrics.METRICS if any(m in s for s in summary.values())] + ["answered", "failed"]
    head = "".join(f"<th>{html.escape(metrics.LABELS.get(c, c))}</th>" for c in cols)
    body = []
    for label, s in summary.items():
        cells = "".join(f"<td class='num'>{'failed' if label in failed and c not in ('answered', 'failed') else _num(s.get(c))}</td>"
                        for c in cols)
        body.append(f"<tr><th>{html.escape(label)}</th>{cells}</tr>")
    return f"<table><tr><th>model</th>{head}</tr>{''.join(body)}</table>"


def _rows_table(result: dict) -> str:
    failed = eval_results.failed_models(result)
    labels = [m for m in eval_results.model_labels(result) if m not in failed]  # said once, above the table
    head = "<th>#</th><th>question</th><th>reference</th>" + "".join(f"<th>{html.escape(m)}</th>" for m in labels)
    body = []
    for row in result.get("rows") or []:
        ref = row.get("reference", "")
        cells = []
        for label in labels:
            err = (row.get("errors") or {}).get(label)
            if err:
                cells.append(f"<td class='fail'>failed: {html.escape(err)}</td>")
                continue
            f1 = eval_results.score(row, label, "f1")
            judge = (row.get("judge") or {}).get(label) or {}
            extra = f"<div class='meta'>F1 {_num(f1)}"
            if judge.get("score") is not None:
                extra += f" · judge {judge['score']}/5: {html.escape(judge.get('reason') or '')}"
            cells.append(f"<td>{highlight_html((row.get('answers') or {}).get(label) or '', ref)}{extra}</div></td>")
        leak = row.get("leak")
        cls = " class='leak'" if leak else ""
        note = f"<div class='meta'>leaked: {html.escape(leak['train_question'])} ({leak['score']})</div>" if leak else ""
        body.append(f"<tr{cls}><td>{row.get('index', 0) + 1}</td><td>{html.escape(row.get('question', ''))}{note}</td>"
                    f"<td>{html.escape(ref)}</td>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def figures(result: dict, curves: Mapping[str, Sequence[Mapping[str, float]]] | None = None) -> list:
    """The report's plots: summary bars, F1 distributions, win/tie/loss of the first two models, training curves."""
    failed = eval_results.failed_models(result)
    summary = {k: v for k, v in (result.get("summary") or eval_results.summarize(result)).items() if k not in failed}
    figs = [eval_plots.summary_bars(summary), eval_plots.score_distributions(result)]
    labels = [m for m in eval_results.model_labels(result) if m not in failed]
    if len(labels) >= 2:
        a, b = labels[-1], labels[0]  # the last model (often the fine-tuned one) against the first (the base)
        figs.append(eval_plots.win_tie_loss(eval_results.win_tie_loss(result, a, b), a, b))
    if curves:
        figs.append(eval_plots.training_curves(curves, labels))
    return figs


def to_html(result: dict, curves: Mapping[str, Sequence[Mapping[str, float]]] | None = None) -> str:
    """A single HTML file: summary, plots (plotly.js inline, once), notes, and the side-by-side answers."""
    plots = []
    for i, fig in enumerate(figures(result, curves)):
        plots.append(pio.to_html(fig, full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False}))
    ds = eval_results.describe_dataset(result.get("dataset") or {})
    cfg = result.get("config") or {}
    settings = (f"max_new_tokens={cfg.get('max_new_tokens')}, {'sampling' if cfg.get('do_sample') else 'greedy'}, "
                f"seed={cfg.get('seed')}, batch_size={cfg.get('batch_size')}")
    failed = eval_results.failed_models(result)
    models_list = "".join(
        f"<li>{html.escape(m.get('label', ''))}: {html.escape(str(m.get('source') or ''))}"
        f"{' @ ' + html.escape(str(m['revision'])) if m.get('revision') else ''}"
        f"{' <span class=fail>(failed every question: ' + html.escape(failed[m['label']]) + '; left out of the plots and the answers table)</span>' if m.get('label') in failed else ''}</li>"
        for m in result.get("models") or []
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.get("notes") or [])
    leaked = sum(1 for r in result.get("rows") or [] if r.get("leak"))
    excl = ""
    if leaked and leaked == len(result.get("rows") or []):  # nothing left: no table of zeros
        excl = f"<h2>Summary without leaked questions</h2><p>{html.escape(eval_results.ALL_LEAKED.format(n=leaked))}</p>"
    elif leaked:  # computed from the rows as they are, never a summary stored before they were scored
        excl = f"<h2>Summary without the {leaked} leaked questions</h2>" + _summary_table(
            eval_results.summarize(result, exclude_leaked=True), failed)
    status = eval_results.status(result)
    status_line = "" if status == "finished" else (
        f"<p class='fail'>Status: {html.escape(status)}. {html.escape(result.get('error') or '')}</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation {html.escape(str(result.get('id', '')))} · SLM Studio</title>
<style>{_CSS}</style></head><body>
<h1>Evaluation {html.escape(str(result.get('id', '')))}</h1>
<p class="meta">{html.escape(str(result.get('created') or ''))} · questions: {html.escape(ds)} · {len(result.get('rows') or [])} questions · {html.escape(settings)}</p>
{status_line}<h2>Models</h2><ul>{models_list}</ul>
{'<h2>Notes</h2><ul>' + notes + '</ul>' if notes else ''}
<h2>Summary</h2>{_summary_table(result.get('summary') or eval_results.summarize(result), failed)}
{excl}
<h2>Plots</h2>{''.join(plots)}
<h2>Answers side by side</h2><p class="meta">Highlighted: words not in the reference.</p>
{_rows_table(result)}
</body></html>
"""


def format_of(path: str | Path) -> str:
    """"json", "csv" or "html" from the file name; a one-line error for anything else."""
    suffix = Path(path).suffix.lower()
    formats = {".json": "json", ".csv": "csv", ".html": "html", ".htm": "html"}
    if suffix not in formats:
        raise StudioError(f"Cannot tell the report format of {Path(path).name}: end the name in .json, .csv or .html.")
    return formats[suffix]


def write(result: dict, path: str | Path, curves: Mapping[str, Sequence[Mapping[str, float]]] | None = None) -> Path:
    """Write the report in the format the file name says (.json, .csv or .html), atomically."""
    path = Path(path).expanduser()
    fmt = format_of(path)
    text = to_json(result) if fmt == "json" else to_csv(result) if fmt == "csv" else to_html(result, curves)
    try:
        atomic.write_text(path, text)
    except DiskError:
        raise  # already one line: disk full or read-only
    except OSError as exc:
        raise StudioError(f"Cannot write {path}: {exc.strerror or exc}. Choose a writable folder.") from None
    return path
