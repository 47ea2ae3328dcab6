"""Plots for dedup: functions that return plotly figures."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go


def score_histogram(scores: Sequence[float], threshold: float | None = None,
                    x_title: str = "pair score", scale: float = 100.0) -> go.Figure:
    """Histogram of pair scores, with the threshold as a vertical line, to pick a threshold by eye.
    ``scale``: the top of the axis, 100 for rapidfuzz scores, 1 for cosine similarities."""
    # 100 bins whose last one ends just above the top: bins are half-open, so with edges at 0, 1, ..., 100 a score
    # of 100 (cosine 1.0, copies of one text) was drawn as a bar from 100 to 101, past the top of the scale.
    end, size = scale * (1 + 1e-6), scale / 100
    fig = go.Figure(go.Histogram(x=list(scores), xbins={"start": end - 100 * size, "end": end, "size": size},
                                 marker_color="#4c78a8", name="pairs"))
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color="#e45756",
                      annotation_text=f"threshold {threshold:g}", annotation_position="top left")
    fig.update_layout(xaxis_title=x_title, yaxis_title="pairs", height=260, bargap=0.05,
                      margin={"l": 40, "r": 10, "t": 30, "b": 40}, showlegend=False)
    return fig

