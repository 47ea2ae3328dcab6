"""Training figures: loss curves of one run or several overlaid, and token throughput."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

Rows = Sequence[Mapping[str, Any]]


def _number(value: Any) -> bool:
    """A value a curve can plot (metrics.jsonl edited by hand may hold text, lists or null)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def points(rows: Rows, key: str) -> tuple[list[float], list[float]]:
    """The steps and values of ``key`` in metrics rows, the rows without a number for either left out."""
    pts = [(r["step"], r[key]) for r in rows if _number(r.get(key)) and _number(r.get("step"))]
    return [p[0] for p in pts], [p[1] for p in pts]


def step_axis(steps: Sequence[float]) -> dict[str, Any]:
    """The step axis: a short run (up to 10 steps) ticked at every step, where plotly's own ticks read 1, 1.5, 2 ...,
    steps that do not exist; a longer one in plotly's own (whole) steps."""
    return {"title": "step", **({"tick0": 0, "dtick": 1} if steps and max(steps) <= 10 else {})}


CURVES_HEIGHT = 360  # pixels: the Train page keeps this much room for the curves before the first step


def loss_curves(runs: Mapping[str, Rows] | Rows, *, title: str = "Loss") -> go.Figure:
    """Training loss (solid) and held-out loss (dashed, markers) against step.

    ``runs`` is one run's ``metrics.jsonl`` rows, or ``{run name: rows}`` to overlay several runs.
    """
    series = runs if isinstance(runs, Mapping) else {"": runs}
    fig = go.Figure()
    steps: list[float] = []
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
    for i, (name, rows) in enumerate(series.items()):
        color = palette[i % len(palette)]
        prefix = f"{name}: " if name else ""
        x, y = points(rows, "loss")
        steps += x
        if x:
            # A run's first logged step alone: a line through one point draws nothing, so it gets a marker.
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines" if len(x) > 1 else "markers", name=f"{prefix}train loss",
                                     line={"color": color}))
        x, y = points(rows, "eval_loss")
        steps += x
        if x:
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=f"{prefix}eval loss",
                                     line={"color": color, "dash": "dash"}))
    fig.update_layout(title=title, xaxis=step_axis(steps), yaxis_title="loss (cross-entropy, nats/token)",
                      margin={"l": 40, "r": 10, "t": 40, "b": 40}, height=CURVES_HEIGHT, legend={"orientation": "h", "y": -0.2})
    return fig


def throughput(rows: Rows) -> go.Figure:
    """Non-padding tokens per second against step."""
    x, y = points(rows, "tokens_per_s")
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines", name="tokens/s"))
    fig.update_layout(title="Throughput", xaxis=step_axis(x), yaxis_title="tokens/s (non-padding)",
                      margin={"l": 40, "r": 10, "t": 40, "b": 40}, height=260)
    return fig
