"""Plots for dedup: functions that return plotly figures."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

BINS = 100


def score_bins(scores: Sequence[float], scale: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """The pairs counted in ``BINS`` equal bins from 0 to ``scale``, and the bins' edges (``BINS + 1``). Bins are
    half-open except the last, which holds the top score: with edges at 0, 1, ..., 100 a score of 100 (cosine 1.0,
    copies of one text) is in the bin from 99 to 100, never a bar past the top of the scale."""
    edges = np.linspace(0.0, scale, BINS + 1)
    counts, _ = np.histogram(np.asarray(scores, dtype=float), bins=edges)
    return counts, edges


def score_histogram(scores: Sequence[float], threshold: float | None = None,
                    x_title: str = "pair score", scale: float = 100.0) -> go.Figure:
    """Histogram of pair scores, with the threshold as a vertical line, to pick a threshold by eye.
    ``scale``: the top of the axis, 100 for rapidfuzz scores, 1 for cosine similarities. The bins are counted here,
    so the figure holds 100 counts whatever the number of pairs (up to 5,000,000: drawn from the scores themselves,
    the figure sent to the browser grew by about 18 bytes a pair, past the largest message the app accepts)."""
    counts, edges = score_bins(scores, scale)
    size = edges[1] - edges[0]
    digits = 0 if scale >= 100 else 2
    fig = go.Figure(go.Bar(x=(edges[:-1] + size / 2).tolist(), y=counts.tolist(), width=size * 0.95,
                           marker_color="#4c78a8", name="pairs",
                           customdata=[[f"{a:.{digits}f}", f"{b:.{digits}f}"] for a, b in zip(edges[:-1], edges[1:])],
                           hovertemplate="%{customdata[0]} to %{customdata[1]}: %{y:,} pairs<extra></extra>"))
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color="#e45756",
                      annotation_text=f"threshold {threshold:g}", annotation_position="top left")
    fig.update_layout(xaxis_title=x_title, yaxis_title="pairs", height=260,
                      margin={"l": 40, "r": 10, "t": 30, "b": 40}, showlegend=False)
    return fig
