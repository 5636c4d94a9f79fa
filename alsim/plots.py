"""Plotly figures built from round records (no Streamlit here)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .loop import UNLABELED, Round

COLOURS = {
    "entropy": "#1f77b4", "margin": "#2ca02c", "least_confident": "#9467bd", "random": "#ff7f0e",
    "none": "#7f7f7f",
}
_FALLBACK = ("#17becf", "#bcbd22", "#8c564b", "#e377c2", "#d62728")


def colour(name: str, i: int = 0) -> str:
    return COLOURS.get(name, _FALLBACK[i % len(_FALLBACK)])


STOP_SYMBOLS = {"stabilizing": "star", "uncertainty": "triangle-down", "max_uncertainty": "triangle-up",
                "change": "square", "budget": "x", "target": "circle-open"}


def learning_curves(arms: Mapping[str, Sequence[Round]], baseline: tuple[int, float] | None = None,
                    title: str = "Accuracy against revealed labels", metric: str = "accuracy",
                    x: str = "labels", stops: Mapping[str, Sequence] | None = None) -> go.Figure:
    """One line per arm: accuracy (or macro_f1) at each round's revealed-label count.

    Parameters
    ----------
    arms : mapping name -> rounds
    baseline : (n_labels, accuracy), optional
        Drawn as a single marker ("first k labels, no active choice").
    x : 'labels' (revealed labels) or 'round'
    stops : mapping name -> :class:`alsim.stopping.StopPoint` sequence, optional
        Where each stopping rule would have stopped that arm: one marker per rule that
        fires, on the arm's curve (:func:`alsim.stopping.stopping_points`).
    """
    fig = go.Figure()
    for i, (name, rounds) in enumerate(arms.items()):
        xs = [r.n_labeled for r in rounds] if x == "labels" else [r.index for r in rounds]
        fig.add_trace(go.Scatter(
            x=xs, y=[getattr(r, metric) for r in rounds], mode="lines+markers",
            name=name, line=dict(color=colour(name.split(" ")[0], i), width=3),
            hovertemplate="%{x}<br>" + metric + " %{y:.4f}<extra>" + name + "</extra>",
        ))
    for i, (name, points) in enumerate((stops or {}).items()):
        rounds = arms.get(name, ())
        for point in points:
            if point.round is None or point.round >= len(rounds):
                continue
            record = rounds[point.round]
            fig.add_trace(go.Scatter(
                x=[record.n_labeled if x == "labels" else record.index], y=[getattr(record, metric)],
                mode="markers", name=f"{name}: stop by {point.rule.replace('_', ' ')}",
                marker=dict(symbol=STOP_SYMBOLS.get(point.rule, "diamond-open"), size=14,
                            color=colour(name.split(" ")[0], i), line=dict(width=1.5, color="#222222")),
                hovertemplate=point.sentence() + "<extra></extra>",
            ))
    if baseline is not None:
        fig.add_trace(go.Scatter(
            x=[baseline[0]], y=[baseline[1]], mode="markers+text", name=f"first {baseline[0]} labels",
            marker=dict(symbol="diamond", size=13, color="#d62728"),
            text=[f"first {baseline[0]}: {baseline[1]:.3f}"], textposition="bottom center",
        ))
    fig.update_layout(title=title, xaxis_title="revealed labels" if x == "labels" else "round",
                      yaxis_title=metric.replace("_", " "), legend=dict(orientation="h", y=-0.2),
                      margin=dict(t=50, b=10), height=380)
    return fig


def band_curves(summary: Mapping[str, dict], title: str = "Mean accuracy across seeds") -> go.Figure:
    """Mean curve and a shaded spread band per strategy.

    Parameters
    ----------
    summary : mapping name -> {"x": (r,), "mean": (r,), "low": (r,), "high": (r,)}
    """
    fig = go.Figure()
    for i, (name, s) in enumerate(summary.items()):
        c = colour(name, i)
        x = list(s["x"])
        fig.add_trace(go.Scatter(x=x + x[::-1], y=list(s["high"]) + list(s["low"])[::-1], fill="toself",
                                 fillcolor=_rgba(c, 0.18), line=dict(width=0), hoverinfo="skip",
                                 showlegend=False, name=f"{name} band"))
        fig.add_trace(go.Scatter(x=x, y=list(s["mean"]), mode="lines+markers", name=name,
                                 line=dict(color=c, width=3)))
    fig.update_layout(title=title, xaxis_title="revealed labels", yaxis_title="accuracy",
                      legend=dict(orientation="h", y=-0.2), margin=dict(t=50, b=10), height=420)
    return fig


def confusion_heatmap(confusion: np.ndarray, class_names: Sequence[str], title: str = "Confusion matrix",
                      normalise: bool = False) -> go.Figure:
    """Heatmap of a confusion matrix (rows true class, columns predicted)."""
    z = np.asarray(confusion, dtype=float)
    text = np.asarray(confusion).astype(int).astype(str)
    if normalise:
        rows = z.sum(axis=1, keepdims=True)
        rows[rows == 0] = 1
        z = z / rows
    names = list(class_names)
    fig = go.Figure(go.Heatmap(z=z, x=names, y=names, text=text, texttemplate="%{text}", colorscale="Blues",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
                               showscale=False))
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", height=420,
                      margin=dict(t=50, b=10), yaxis=dict(autorange="reversed", type="category"),
                      xaxis=dict(type="category", tickangle=-30 if max(map(len, names)) > 2 else 0))
    return fig


def pseudo_label_audit(rounds: Sequence[Round]) -> go.Figure:
    """Per round: points auto-labeled (bars), their precision and the threshold (lines)."""
    applied = [r for r in rounds if r.threshold is not None]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=[r.index for r in applied], y=[r.auto_added for r in applied],
                         name="auto-labeled", marker_color="#9ecae1"), secondary_y=False)
    fig.add_trace(go.Scatter(x=[r.index for r in applied],
                             y=[np.nan if r.auto_precision is None else r.auto_precision for r in applied],
                             mode="lines+markers", name="precision vs truth", line=dict(color="#2ca02c", width=3)),
                  secondary_y=True)
    fig.add_trace(go.Scatter(x=[r.index for r in applied], y=[r.threshold for r in applied], mode="lines+markers",
                             name="threshold", line=dict(color="#d62728", dash="dash")), secondary_y=True)
    fig.update_layout(title="Pseudo-labels per round", xaxis_title="round", legend=dict(orientation="h", y=-0.25),
                      height=380, margin=dict(t=50, b=10))
    fig.update_yaxes(title_text="points auto-labeled", secondary_y=False)
    fig.update_yaxes(title_text="precision / threshold", range=[0, 1.05], secondary_y=True)
    return fig


def uncertain_examples(record: Round, k: int, most: bool) -> np.ndarray:
    """Pool ids of the ``k`` unlabeled points ranked highest (or lowest) by the round's ranking.

    The ranking is the score the strategy itself used (:attr:`alsim.records.Round.ranking`),
    or the uncertainty for a strategy that uses no score. Ties are ordered by pool id so the
    gallery is stable.
    """
    candidates = np.flatnonzero(record.status == UNLABELED)
    values, _ = record.ranking
    scores = np.asarray(values)[candidates].astype(np.float64)
    order = np.lexsort((candidates, -scores if most else scores))
    return candidates[order[:k]]


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"
