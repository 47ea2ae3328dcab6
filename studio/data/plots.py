"""Plots: functions that take plain data and return plotly figures; pages only display them.

Each concept keeps its plot functions in a clearly named group (or its own ``*_plots`` module).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from studio.data.stats import DatasetStats

_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), height=320, template="plotly_white")


# ---- dataset ------------------------------------------------------------------------------------

def dataset_lengths(stats: DatasetStats, bins: int = 40) -> go.Figure:
    """Overlaid histograms of question and answer lengths, in words.

    Binned here, not in the browser: 200,000 raw values per trace would make the figure megabytes.
    """
    fig = go.Figure()
    top = max(max(stats.question_words, default=0), max(stats.answer_words, default=0), 1)
    edges = np.linspace(0, top + 1, min(bins, top + 1) + 1)
    for name, values in (("questions", stats.question_words), ("answers", stats.answer_words)):
        counts, _ = np.histogram(values, bins=edges)
        fig.add_bar(x=(edges[:-1] + edges[1:]) / 2, y=counts, width=edges[1] - edges[0], name=name, opacity=0.7)
    fig.update_layout(barmode="overlay", title="Length distribution (words)", xaxis_title="words",
                      yaxis_title="records", **_LAYOUT)
    fig.update_yaxes(tickformat=",d", rangemode="tozero")  # records are whole: no "2.5 records" tick
    if max((b.y.max() for b in fig.data if len(b.y)), default=0) < 5:
        fig.update_yaxes(dtick=1)
    return fig


def dataset_openings(stats: DatasetStats) -> go.Figure:
    """Horizontal bars: the most repeated question openings (first words), most common on top."""
    items = list(reversed(stats.openings))
    fig = go.Figure(go.Bar(x=[n for _, n in items], y=[t for t, _ in items], orientation="h",
                           # upright, after the bar: "auto" set a count inside a short bar on its end ("13" read
                           # sideways)
                           text=[n for _, n in items], textposition="outside", textangle=0, cliponaxis=False))
    fig.update_layout(title="Most repeated question openings", xaxis_title="questions", **_LAYOUT)
    return fig
