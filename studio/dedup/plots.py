"""Plots for dedup: functions that return plotly figures."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go


def score_histogram(scores: Sequence[float], threshold: float | None = None,
                    x_title: str = "pair score", scale: float = 100.0) -> go.Figure:
    """Histogram of pair scores, with the threshold as a vertical line, to pick a threshold by eye.
    ``scale``: the top of the axis, 100 for rapidfuzz scores, 1 for cosine similarities."""
    fig = go.Figure(go.Histogram(x=list(scores), xbins={"start": 0, "end": scale * 1.0001, "size": scale / 100},
                                 marker_color="#4c78a8", name="pairs"))
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dash", line_color="#e45756",
                      annotation_text=f"threshold {threshold:g}", annotation_position="top left")
    fig.update_layout(xaxis_title=x_title, yaxis_title="pairs", height=260, bargap=0.05,
                      margin={"l": 40, "r": 10, "t": 30, "b": 40}, showlegend=False)
    return fig

