"""Evaluation plots: functions from result data to plotly figures (the page and the HTML report share them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from studio.evaluate import metrics
from studio.evaluate.result import EvalResult
from studio.train import plots as train_plots

PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D")
WTL_COLORS = {"win": "#54A24B", "tie": "#BAB0AC", "loss": "#E45756"}
TITLE_LINE_CHARS = 12
"""A summary panel's title longer than this goes over two lines: four panels side by side are about 90 px each in an
800 px window. The words stay the table's (metrics.LABELS): the plot said "Similarity", "Words", "Latency/answer (s)"
and "In passage" where the table said "Semantic similarity", "Answer length (words)", "Latency per answer (s)" and
"Found in passage"."""
RANGES = {"exact_match": [0, 1.12], "f1": [0, 1.12], "rouge_l": [0, 1.12], "chrf": [0, 112], "similarity": [-1, 1.12],
          "judge": [0, 5.6], "in_passage": [0, 1.12]}
"""Fixed axes for bounded metrics, so a 0.02 is not drawn as a full bar."""


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


PANELS_PER_ROW = 4
"""Summary panels side by side: more made each too narrow for its subtitle ("seconds, lower is better" was cut
off at the chart's edge with seven metrics on the page's width), so they go on in another row."""


def summary_bars(summary: Mapping[str, Mapping[str, float]], metric_names: Sequence[str] | None = None) -> go.Figure:
    """One panel per metric, one bar per model (metrics have different scales, so each gets its own axis), at most
    ``PANELS_PER_ROW`` in a row."""
    labels = list(summary)
    shown = [m for m in (metric_names or metrics.METRICS) if any(m in summary[label] for label in labels)]
    cols = max(1, min(len(shown), PANELS_PER_ROW))
    rows = max(1, -(-len(shown) // cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[_titled(m) for m in shown], horizontal_spacing=0.06,
                        vertical_spacing=0.22 if rows > 1 else 0.1)
    shown_as = legend_names(labels)
    names = {label: _counted(shown_as[label], summary[label]) for label in labels}
    for n, metric in enumerate(shown):
        row, col = n // cols + 1, n % cols + 1
        for i, label in enumerate(labels):
            value = summary[label].get(metric)
            fig.add_trace(go.Bar(x=[label], y=[value], name=names[label], marker_color=color(i), legendgroup=label,
                                 showlegend=n == 0, text=[_fmt(value)], textposition="outside",
                                 hovertemplate=f"{label}<br>{metrics.LABELS.get(metric, metric)}: %{{y:.3f}}<extra></extra>"),
                          row=row, col=col)
        fig.update_xaxes(showticklabels=False, row=row, col=col)
        if metric in RANGES:
            fig.update_yaxes(range=RANGES[metric], row=row, col=col)
    fig.update_layout(title=dict(text="Mean score per model", yref="container", y=1, yanchor="top", pad=dict(t=10)),
                      barmode="group", height=90 + 340 * rows,  # the title over the panels' three-line titles
                      margin=dict(t=130, b=30, l=30, r=10),  # plotly's 80 px either side left narrow panels narrower
                      legend=dict(orientation="h", y=-0.08 / rows), uniformtext_minsize=8)
    return fig


LEGEND_CHARS = 56
"""A model's longest name in a legend, in characters: at 32 a run named as the page names it read "Soccer rul…ch ·
2026-12-07 21:09" with room to spare. The hover and the tables say the name whole."""
LEGEND_EMS = 34.0
"""...and in widths of the legend's 12 px font: an entry's line is not wrapped, and an 80-character name ran past the
chart's right edge in an 800 px window (the chart 468 px wide, its legend text starting 40 px in); 56 m's are 600 px."""
_EMS = {**dict.fromkeys("mwMW@", 0.85), **dict.fromkeys("ABCDEFGHJKLNOPQRSTUVXYZ%&#", 0.65),
        **dict.fromkeys("ijlI.,:;'|!", 0.28), " ": 0.25}  # about, of the studio's sans-serif; any other character 0.5


def _ems(text: str) -> float:
    return sum(_EMS.get(c, 0.5) for c in text)


def legend_names(labels: Sequence[str], most: int = LEGEND_CHARS, room: float = LEGEND_EMS) -> dict[str, str]:
    """Each label as a legend shows it: whole when it fits (``most`` characters, ``room`` em wide), else its start and
    its end around an ellipsis; where two long names shortened alike (they share a long start and end), the part where
    it differs from the others."""
    def fits(label: str) -> int:  # how many characters of ``label`` a shortened name keeps
        n = most
        while n > 8 and _ems(label[:n]) > room:
            n -= 1
        return n

    def cut(label: str) -> str:
        n = fits(label)
        head = n // 3
        return label if len(label) <= n else f"{label[:head]}…{label[-(n - head - 1):]}"

    first = {label: cut(label) for label in labels}
    short = dict(first)
    for label in labels:
        others = [o for o in labels if o != label and first[o] == first[label]]
        if not others:
            continue
        n = fits(label)
        at = max(next((i for i, (a, b) in enumerate(zip(label, o)) if a != b), min(len(label), len(o)))
                 for o in others)  # where it parts from the last of those it shortened alike
        start = max(0, min(at - n // 3, len(label) - (n - 2)))
        part = label[start:start + n - 2]
        short[label] = ("…" if start else "") + part + ("…" if start + len(part) < len(label) else "")
    return short


def _titled(metric: str) -> str:
    """A panel's title: the metric and how to read it (its range, which way is better)."""
    # the reading over two lines, its scale over which way is better: on one line the subtitles of panels side by side
    # ran into each other where the chart is narrow (the page's 468 px beside the sidebar in an 800 px window)
    lines = [p for p in metrics.reading(metric).split(", ", 1) if p]
    return "<br>".join([_wrapped(metrics.LABELS.get(metric, metric)), *(f"<sup>{p}</sup>" for p in lines)])


def _wrapped(label: str, most: int = TITLE_LINE_CHARS) -> str:
    """``label`` whole, over two lines at the space nearest its middle where it is longer than ``most`` characters."""
    spaces = [i for i, c in enumerate(label) if c == " "]
    if len(label) <= most or not spaces:
        return label
    at = min(spaces, key=lambda i: abs(i - len(label) / 2))
    return f"{label[:at]}<br>{label[at + 1:]}"


def _counted(label: str, summary: Mapping[str, float]) -> str:
    """The model's name, with how many questions its means are over when some of its answers failed: a mean over 2
    of 6 questions is not comparable with one over all 6."""
    answered, failed, stopped = (int(summary.get(c, 0)) for c in ("answered", "failed", "stopped"))
    if not stopped:
        return f"{label} ({answered} of {answered + failed} answered)" if failed else label
    why = f"{failed} failed, {stopped} stopped" if failed else f"{stopped} stopped"  # Stop came first: not a failure
    return f"{label} ({answered} of {answered + failed + stopped} answered: {why})"


def _fmt(value: float | None) -> str:
    return metrics.fmt(value)


def score_distributions(result: EvalResult, metric: str = "f1", *, exclude_leaked: bool = False) -> go.Figure:
    """Per-question scores of each model as box plots with every question as a point."""
    fig = go.Figure()
    rows = [r for r in result.rows if not (exclude_leaked and r.leak)]
    for i, label in enumerate(result.labels):
        values = [v for v in (r.score(label, metric) for r in rows) if v is not None]
        fig.add_trace(go.Box(y=values, name=label, marker_color=color(i), boxpoints="all", jitter=0.4, pointpos=0,
                             hovertemplate=f"{label}: %{{y:.3f}}<extra></extra>"))
    fig.update_layout(title=f"Per-question {metrics.LABELS.get(metric, metric)} per model", showlegend=False, height=380,
                      yaxis_title=_axis(metric), margin=dict(t=60, b=30))
    if metric in RANGES:  # every F1 at 0 was drawn on -1 to 1, room for scores no answer can have
        low, high = RANGES[metric]
        fig.update_yaxes(range=[low - 0.04 * (high - low), high])  # a point at the bottom of the range stays in sight
    return fig


def _axis(metric: str) -> str:
    how = metrics.reading(metric)
    return f"{metrics.LABELS.get(metric, metric)} ({how})" if how else metrics.LABELS.get(metric, metric)


def win_tie_loss(counts: Mapping[str, int], a: str, b: str, metric: str = "f1") -> go.Figure:
    """One stacked bar: on how many questions ``a`` beat, tied or lost to ``b``."""
    fig = go.Figure()
    for key, name in (("win", f"{a} better"), ("tie", "tie"), ("loss", f"{b} better")):
        fig.add_trace(go.Bar(y=[f"{a} vs {b}"], x=[counts.get(key, 0)], name=name, orientation="h",
                             marker_color=WTL_COLORS[key], text=[counts.get(key, 0)], textposition="inside"))
    # What it counts in the title, the models in the legend ("a better", "b better") only: after two models named as
    # the page names runs, a title (or a line under it) naming them ran past the chart's edge and was cut. The legend
    # under the axis, one line per entry where they do not fit side by side: above the bar, at 800 px its three lines
    # lay over it.
    fig.update_layout(barmode="stack", height=300,
                      title=f"Win / tie / loss on {metrics.LABELS.get(metric, metric)}",
                      xaxis=dict(title="questions", tick0=0, dtick=_whole_step(sum(counts.values()))),  # no 0.5 question
                      margin=dict(t=50, b=40, l=10), yaxis=dict(showticklabels=False),
                      legend=dict(orientation="h", y=-0.45, yanchor="top", x=0, traceorder="normal"))
    return fig


def _whole_step(total: int) -> int:
    """A tick step in whole questions, about ten ticks along the axis."""
    return max(1, -(-total // 10))


def training_curves(curves: Mapping[str, Sequence[Mapping[str, float]]], labels: Sequence[str] | None = None) -> go.Figure:
    """Training (solid) and held-out (dashed) loss of each run involved, overlaid on one step axis.

    ``labels``: every model of the evaluation, so a run keeps the colour it has in the other plots.
    """
    fig = go.Figure()
    steps: list[float] = []
    for k, (label, rows) in enumerate(curves.items()):
        i = list(labels).index(label) if labels and label in labels else k
        for key, dash, suffix in (("loss", "solid", "train"), ("eval_loss", "dash", "held-out")):
            x, y = train_plots.points(rows, key)  # a metrics.jsonl edited by hand may hold text: left out, as on Train
            steps += x
            if x:
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=f"{label} ({suffix})",
                                         line=dict(color=color(i), dash=dash), marker=dict(size=4)))
    fig.update_layout(title="Training curves of the runs evaluated", yaxis_title="loss", showlegend=True,
                      xaxis=train_plots.step_axis(steps), height=360, margin=dict(t=60, b=30))
    return fig
