"""Plots: functions that take plain data and return plotly figures; pages only display them.

Each concept keeps its plot functions in a clearly named group (or its own ``*_plots`` module).
"""

from __future__ import annotations

import plotly.graph_objects as go

from studio.stats import DatasetStats

_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=320, template="plotly_white")


# ---- dataset ------------------------------------------------------------------------------------

def dataset_lengths(stats: DatasetStats) -> go.Figure:
    """Overlaid histograms of question and answer lengths, in words."""
    fig = go.Figure()
    fig.add_histogram(x=stats.question_words, name="questions", opacity=0.7, nbinsx=40)
    fig.add_histogram(x=stats.answer_words, name="answers", opacity=0.7, nbinsx=40)
    fig.update_layout(barmode="overlay", title="Length distribution (words)", xaxis_title="words",
                      yaxis_title="records", **_LAYOUT)
    return fig


def dataset_openings(stats: DatasetStats) -> go.Figure:
    """Horizontal bars: the most repeated question openings (first words), most common on top."""
    items = list(reversed(stats.openings))
    fig = go.Figure(go.Bar(x=[n for _, n in items], y=[t for t, _ in items], orientation="h",
                           text=[n for _, n in items], textposition="auto"))
    fig.update_layout(title="Most repeated question openings", xaxis_title="questions", **_LAYOUT)
    return fig
