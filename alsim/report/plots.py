"""Plotly figures built from round records (no Streamlit here).

Plotly renders a subset of HTML in every text it draws (titles, legends, tick labels,
hover labels: ``<b>``, ``<br>``, ``<a href>``). Names that come from users (arm names,
class names) are escaped with :func:`escape` before they go into a figure; a ``title``
argument is plotly markup, so a caller that puts user text in it escapes that text too.
"""

from __future__ import annotations

import html
import math
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from alsim.evidence.narrative import fmt_accuracy
from alsim.loop.records import Round
from alsim.strategies import PSEUDO, REVEALED, UNLABELED

COLOURS = {
    "entropy": "#1f77b4", "margin": "#2ca02c", "least_confident": "#9467bd", "random": "#ff7f0e",
    "none": "#7f7f7f",
}
_FALLBACK = ("#17becf", "#bcbd22", "#8c564b", "#e377c2", "#d62728")


MIN_SPAN = 0.05
"""Smallest span of an accuracy axis, so that a +0.002 change does not look like a spike."""

#: Margins (px) of the curve figures, wide enough for what they draw outside the plot
#: area: the accuracy axis's tick labels and title on the left, the x axis's title and the
#: horizontal legend below. Plotly widens a margin that is too small and then draws the
#: whole figure again: with 10 px below, every curve chart was drawn twice.
CURVE_MARGIN = dict(l=70, t=50, b=100)


def colour(name: str, i: int = 0) -> str:
    return COLOURS.get(name, _FALLBACK[i % len(_FALLBACK)])


def escape(text) -> str:
    """``text`` safe to put into a plotly title, label or legend: ``<``, ``>``, ``&`` as entities.

    Quotes stay as they are: plotly turns ``&lt;``, ``&gt;`` and ``&amp;`` back into
    characters but would show ``&quot;`` literally.
    """
    return html.escape(str(text), quote=False)


def _finite(value) -> bool:
    return value is not None and math.isfinite(float(value))


def accuracy_range(values, min_span: float = MIN_SPAN, pad: float = 0.08) -> list[float] | None:
    """A y-axis range ``[low, high]`` for accuracies: every finite value in view, at least ``min_span`` wide.

    The range covers all values (so the first round's is always in view) plus ``pad`` of
    their spread on each side; a narrower range is widened to ``min_span`` around its
    middle; the result is shifted, then clipped, into [0, 1].

    Parameters
    ----------
    values : iterable of float (nan and None are ignored)

    Returns
    -------
    [low, high] or None when no value is finite
    """
    finite = [float(v) for v in values if _finite(v)]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    spread = high - low
    low, high = low - pad * spread, high + pad * spread
    if high - low < min_span:
        middle = (low + high) / 2
        low, high = middle - min_span / 2, middle + min_span / 2
    if low < 0:
        low, high = 0.0, min(1.0, high - low)
    if high > 1:
        low, high = max(0.0, low - (high - 1)), 1.0
    return [low, high]


STOP_SYMBOLS = {"stabilizing": "star", "uncertainty": "triangle-down", "max_uncertainty": "triangle-up",
                "change": "square", "budget": "x", "target": "circle-open"}


def learning_curves(arms: Mapping[str, Sequence[Round]], baseline: tuple[int, float] | None = None,
                    title: str = "Accuracy against revealed labels", metric: str = "accuracy",
                    x: str = "labels", stops: Mapping[str, Sequence] | None = None,
                    bands: Mapping[str, dict] | None = None, band_label: str = "seeds") -> go.Figure:
    """One line per arm: accuracy (or macro_f1, or ``score``: the run's metric) at each round's revealed-label count.

    Parameters
    ----------
    arms : mapping name -> rounds
    baseline : (n_labels, accuracy), optional
        Drawn as a single marker ("first k labels, no active choice").
    x : 'labels' (revealed labels), 'cost' (labeling cost spent, :attr:`Round.cost`) or 'round'
    stops : mapping name -> :class:`alsim.loop.stopping.StopPoint` sequence, optional
        Where each stopping rule would have stopped that arm: one marker per rule that
        fires, on the arm's curve (:func:`alsim.loop.stopping.stopping_points`).
    bands : mapping name -> {"x", "mean", "low", "high"}, optional
        The spread of the same settings over other seeds (:meth:`alsim.evidence.compare.Summary.bands`),
        drawn under the arms' lines: a shaded band and a thin dotted mean per name, called
        "<name>: mean of <band_label>". One chart instead of a second figure with the same axes.
    """
    fig = go.Figure()
    shown: list[float] = []

    first = next((r for rounds in arms.values() for r in rounds), None)
    y_title = metric_title(metric if metric != "score" or first is None else first.metric)

    def at(record: Round):
        return record.n_labeled if x == "labels" else record.cost if x == "cost" else record.index

    for i, (name, s) in enumerate((bands or {}).items()):
        # In the arm's legend group, without entries of their own: the arm's entry shows and
        # hides its band too, and a caption says what the shading is.
        bx, mean = _band(fig, name, s, colour(name, i), shown, 0.16, group=escape(name))
        fig.add_trace(go.Scatter(x=bx, y=mean, mode="lines", name=f"{escape(name)}: mean of {escape(band_label)}",
                                 line=dict(color=colour(name, i), width=1.5, dash="dot"), cliponaxis=False,
                                 showlegend=False, legendgroup=escape(name),
                                 hovertemplate="%{x}<br>mean %{y:.4f}<extra>%{fullData.name}</extra>"))
    for i, (name, rounds) in enumerate(arms.items()):
        kept = [r for r in rounds if _finite(getattr(r, metric))]  # a round with nothing left to evaluate
        values = [getattr(r, metric) for r in kept]
        shown += values
        fig.add_trace(go.Scatter(
            x=[at(r) for r in kept], y=values, mode="lines+markers",
            name=escape(name), legendgroup=escape(name), line=dict(color=colour(name.split(" ")[0], i), width=3),
            cliponaxis=False,
            hovertemplate="%{x}<br>" + y_title + " %{y:.4f}<extra>%{fullData.name}</extra>",
        ))
    for i, (name, points) in enumerate((stops or {}).items()):
        rounds = arms.get(name, ())
        for point in points:
            if point.round is None or point.round >= len(rounds):
                continue
            record = rounds[point.round]
            if not _finite(getattr(record, metric)):
                continue
            fig.add_trace(go.Scatter(
                x=[at(record)], y=[getattr(record, metric)],
                mode="markers", name=f"{escape(name)}: stop by {point.rule.replace('_', ' ')}", cliponaxis=False,
                marker=dict(symbol=STOP_SYMBOLS.get(point.rule, "diamond-open"), size=14,
                            color=colour(name.split(" ")[0], i), line=dict(width=1.5, color="#222222")),
                hovertemplate=escape(point.sentence()) + "<extra></extra>", showlegend=False,
                legendgroup=f"stop-{point.rule}",
            ))
    _stop_legend(fig, [p.rule for points in (stops or {}).values() for p in points if p.round is not None])
    if baseline is not None and _finite(baseline[1]):
        shown.append(baseline[1])
        fig.add_trace(go.Scatter(
            # A marker only: it sits at the curves' last label count, where a text label lay over the lines;
            # the legend names it and the hover gives its value.
            x=[baseline[0]], y=[baseline[1]], mode="markers", name=f"first {baseline[0]} labels",
            marker=dict(symbol="diamond", size=13, color="#d62728"), cliponaxis=False,
            hovertemplate=f"first {baseline[0]} labels: {baseline[1]:.3f}<extra></extra>",
        ))
    fig.update_layout(title=title, xaxis_title=X_TITLES.get(x, x), yaxis_title=y_title,
                      legend=dict(orientation="h", y=-0.2), margin=CURVE_MARGIN, height=380)
    fig.update_yaxes(range=accuracy_range(shown))
    return fig


X_TITLES = {"labels": "revealed labels", "cost": "labeling cost spent", "round": "round"}


def top_down(n: int) -> dict:
    """A category axis of ``n`` categories listed from the top, as ``autorange="reversed"`` would.

    The range is written out: plotly recomputes a reversed autorange whenever it is handed the
    figure again, and redraws the whole figure for it (see :mod:`alsim.dashboard.charts`).
    """
    return dict(type="category", range=[max(n, 1) - 0.5, -0.5], autorange=False)


def metric_title(metric: str) -> str:
    """A metric's name for an axis: ``balanced_accuracy`` -> ``balanced accuracy``, ``macro_f1`` -> ``macro-F1``."""
    return {"macro_f1": "macro-F1"}.get(metric, metric.replace("_", " "))


def recall_heatmap(rounds: Sequence[Round], class_names: Sequence[str], title: str = "Recall per class, round by round"
                   ) -> go.Figure:
    """Per-class recall (rows: classes, columns: rounds) of one run, from each round's confusion matrix.

    A class's row turns bright in the round the model starts finding it. Cells of a class with
    no point left to score that round (all revealed) are blank. Rounds without an evaluation
    are left out.
    """
    kept = [r for r in rounds if r.recall is not None and r.headline.n]
    z = np.array([r.recall for r in kept], dtype=float).T if kept else np.zeros((len(class_names), 0))
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(r.index) for r in kept], y=[escape(c) for c in class_names], zmin=0.0, zmax=1.0,
        colorscale="Viridis", colorbar=dict(title="recall", thickness=12),
        customdata=np.array([[r.n_labeled for r in kept]] * len(class_names)) if kept else None,
        hovertemplate="%{y}, round %{x} (%{customdata} labels): recall %{z:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="round", yaxis=top_down(len(class_names)),
                      xaxis=dict(type="category"), margin=dict(l=10, r=10, t=40, b=40),
                      height=max(220, 22 * len(class_names) + 90))
    return fig


def _band(fig: go.Figure, name: str, s: Mapping, c: str, shown: list[float], alpha: float,
          group: str | None = None) -> tuple[list, list[float]]:
    """Add the shaded spread of one band (points with a nan mean dropped); returns its x and mean.

    ``s`` is one entry of :meth:`alsim.evidence.compare.Summary.bands`; the band's values are added to
    ``shown`` (they set the y range).
    """
    keep = [j for j, m in enumerate(s["mean"]) if _finite(m)]
    x = [s["x"][j] for j in keep]
    mean, low, high = ([float(v[j]) for j in keep] for v in (s["mean"], s["low"], s["high"]))
    shown += mean + [v for v in low + high if _finite(v)]
    fig.add_trace(go.Scatter(x=x + x[::-1], y=high + low[::-1], fill="toself", mode="lines",
                             fillcolor=_rgba(c, alpha), line=dict(width=0), hoverinfo="skip",
                             showlegend=False, name=f"{escape(name)} band", legendgroup=group))
    return x, mean


def _stop_legend(fig: go.Figure, rules: Sequence[str]) -> None:
    """One legend entry per stopping rule (its symbol, in grey); the markers take their arm's colour."""
    for rule in dict.fromkeys(rules):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"stop: {rule.replace('_', ' ')}",
                                 legendgroup=f"stop-{rule}", hoverinfo="skip",
                                 marker=dict(symbol=STOP_SYMBOLS.get(rule, "diamond-open"), size=12, color="#bbbbbb",
                                             line=dict(width=1.5, color="#222222"))))


def band_curves(summary: Mapping[str, dict], title: str = "Mean accuracy across seeds", highlight=None,
                stops: Mapping[str, Sequence[dict]] | None = None, x: str = "labels",
                metric: str = "accuracy") -> go.Figure:
    """Mean curve and a shaded spread band per strategy, optionally one single run on top.

    Parameters
    ----------
    summary : mapping name -> {"x": (r,), "mean": (r,), "low": (r,), "high": (r,)}
        As :meth:`alsim.evidence.compare.Summary.bands` gives it; points with a nan mean are dropped.
    highlight : optional
        One run drawn on top of the bands as a dark dashed line: either a pair
        ``(label, rounds)`` of a name and a sequence of :class:`Round`, or an
        :class:`alsim.evidence.compare.Curve` (labelled "strategy, seed N").
    stops : mapping name -> stop summaries, optional
        Per strategy, :func:`alsim.evidence.compare.stop_summary`'s rows: one marker per rule at its
        mean stopping point (labels), on the strategy's mean curve.
    x : 'labels' or 'cost'
        What the bands' x values are (:meth:`alsim.evidence.compare.Summary.bands` of a summary
        made with ``axis='cost'``); on the cost axis a stop marker sits at its mean cost.
    metric : str, what the y values are (the axis title)
    """
    fig = go.Figure()
    shown: list[float] = []
    for i, (name, s) in enumerate(summary.items()):
        c = colour(name, i)
        bx, mean = _band(fig, name, s, c, shown, 0.18)
        fig.add_trace(go.Scatter(x=bx, y=mean, mode="lines+markers", name=escape(name), cliponaxis=False,
                                 line=dict(color=c, width=3)))
        for stop in (stops or {}).get(name, ()):
            where = stop.get("cost_at") if x == "cost" else stop.get("stops_at")
            if not bx or where is None or not _finite(where) or not stop.get("fired", 1):
                continue  # no marker for a rule that fired on no seed (it would sit at the last round)
            at = float(where)
            fig.add_trace(go.Scatter(
                x=[at], y=[float(np.interp(at, bx, mean))], mode="markers", cliponaxis=False,
                name=f"{escape(name)}: stop by {escape(stop['rule'].replace('_', ' '))}",
                marker=dict(symbol=STOP_SYMBOLS.get(stop["rule"], "diamond-open"), size=14, color=c,
                            line=dict(width=1.5, color="#222222")),
                hovertemplate=(f"{escape(name)}, {escape(stop['rule'].replace('_', ' '))}: stops at "
                               f"{f'{at:.0f} labels' if x != 'cost' else f'cost {at:.4g}'} on "
                               f"average (fired on {stop['fired']}/{stop['n_seeds']} seeds)<extra></extra>"),
                showlegend=False, legendgroup=f"stop-{stop['rule']}"))
    _stop_legend(fig, [stop["rule"] for rows in (stops or {}).values() for stop in rows if stop.get("fired", 1)])
    if highlight is not None:
        if hasattr(highlight, "accuracy") and hasattr(highlight, "labels"):
            label = f"{highlight.strategy}, seed {highlight.seed}"
            points = list(zip(highlight.x(x), highlight.accuracy))
        else:
            label, rounds = highlight
            points = [(r.cost if x == "cost" else r.n_labeled, r.score) for r in rounds]
        points = [(px, py) for px, py in points if _finite(py)]
        shown += [py for _, py in points]
        fig.add_trace(go.Scatter(x=[px for px, _ in points], y=[py for _, py in points], mode="lines+markers",
                                 name=f"one run: {escape(label)}", cliponaxis=False,
                                 line=dict(color="#222222", width=2, dash="dash"), marker=dict(size=6)))
    fig.update_layout(title=title, xaxis_title=X_TITLES.get(x, x), yaxis_title=metric_title(metric),
                      legend=dict(orientation="h", y=-0.2), margin=CURVE_MARGIN, height=420)
    fig.update_yaxes(range=accuracy_range(shown))
    return fig


def confusion_heatmap(confusion: np.ndarray, class_names: Sequence[str], title: str = "Confusion matrix",
                      normalise: bool = False) -> go.Figure:
    """Heatmap of a confusion matrix (rows true class, columns predicted); class names are escaped."""
    z = np.asarray(confusion, dtype=float)
    text = np.asarray(confusion).astype(int).astype(str)
    if normalise:
        rows = z.sum(axis=1, keepdims=True)
        rows[rows == 0] = 1
        z = z / rows
    names = [escape(n) for n in class_names]
    fig = go.Figure(go.Heatmap(z=z, x=names, y=names, text=text, texttemplate="%{text}", colorscale="Blues",
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{text}<extra></extra>",
                               showscale=False))
    fig.update_layout(title=title, xaxis_title="predicted", yaxis_title="true", height=420,
                      margin=dict(t=50, b=10), yaxis=top_down(len(names)),
                      xaxis=dict(type="category", tickangle=-30 if max(map(len, class_names)) > 2 else 0))
    return fig


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def side_by_side(n: int, titles: Sequence[str] = (), spacing: float = 0.2) -> dict:
    """The layout of ``make_subplots(rows=1, cols=n, subplot_titles=titles, horizontal_spacing=spacing,
    shared_yaxes=True)``, written out: make_subplots took two thirds of the confusion heatmaps' time.

    Traces go on panel j (1-based) with ``xaxis=f"x{j}"``, ``yaxis=f"y{j}"`` (``"x"``, ``"y"`` for j = 1).
    """
    width = (1.0 - (n - 1) * spacing) / n
    layout: dict = {}
    annotations = []
    for j in range(1, n + 1):
        suffix = str(j) if j > 1 else ""
        left = (j - 1) * (width + spacing)
        right = 1.0 if j == n else left + width
        layout[f"xaxis{suffix}"] = {"anchor": f"y{suffix}", "domain": [left, right]}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "domain": [0.0, 1.0]}
        if j > 1:
            layout[f"yaxis{suffix}"].update(matches="y", showticklabels=False)
        if j <= len(titles):
            annotations.append({"font": {"size": 16}, "showarrow": False, "text": titles[j - 1],
                                "x": (left + right) / 2, "xanchor": "center", "xref": "paper", "y": 1.0,
                                "yanchor": "bottom", "yref": "paper"})
    if annotations:
        layout["annotations"] = annotations
    return layout


def confusion_heatmaps(records_by_arm: Mapping[str, Round | None], class_names: Sequence[str],
                       normalise: bool = False, title: str | None = None) -> go.Figure:
    """One figure with a confusion heatmap per arm, side by side (rows true class, columns predicted).

    Parameters
    ----------
    records_by_arm : mapping arm name -> Round (or None: an empty panel)
        Typically each arm's :func:`alsim.evidence.narrative.last_evaluated` round.
    class_names : sequence of str, escaped before use
    normalise : bool
        Colour by the share of each true class (the cell text stays the count).

    Each panel's title is the arm's name and, below it in small type, the round, its
    revealed labels and accuracy, cut to fit the panel's width.
    """

    names = [escape(n) for n in class_names]
    arms = list(records_by_arm.items())
    n = max(1, len(arms))
    width = max(14, 90 // n)  # characters that fit above one panel
    titles = []
    for name, record in arms:
        if record is None:
            titles.append(escape(_fit(name, width)) + "<br><sup>no round</sup>")
            continue
        detail = f"round {record.index}, {record.n_labeled:,} labels, accuracy {fmt_accuracy(record.accuracy)}"
        titles.append(escape(_fit(name, width)) + "<br><sup>" + _fit(detail, width + width // 3) + "</sup>")
    fig = go.Figure(layout=side_by_side(n, titles, spacing=0.12 / n + 0.02))
    for j, (name, record) in enumerate(arms, start=1):
        if record is None or record.confusion is None:
            continue
        counts = np.asarray(record.confusion)
        z = counts.astype(float)
        if normalise:
            rows = z.sum(axis=1, keepdims=True)
            rows[rows == 0] = 1
            z = z / rows
        # Cell text only where the count is not 0: an empty cell reads as 0, and every drawn
        # number is a text element the browser lays out on each redraw. The hover says all.
        counts = counts.astype(int)
        fig.add_trace(go.Heatmap(z=z, x=names, y=names, text=np.where(counts > 0, counts.astype(str), ""),
                                 texttemplate="%{text}", customdata=counts, colorscale="Blues", showscale=False,
                                 name=escape(name),
                                 hovertemplate=("true %{y}<br>predicted %{x}<br>%{customdata} images"
                                                "<extra>%{fullData.name}</extra>"),
                                 xaxis=f"x{j if j > 1 else ''}", yaxis=f"y{j if j > 1 else ''}"))
    long_names = max(map(len, class_names), default=0) > 2
    fig.update_xaxes(type="category", title_text="predicted", tickangle=-30 if long_names else 0)
    fig.update_yaxes(**top_down(len(class_names)))
    fig.update_layout(yaxis_title_text="true")
    # Room for the class names and axis titles (short names: see CURVE_MARGIN for why).
    fig.update_layout(title=title, height=420 if n < 3 else 380, margin=dict(l=60, t=90 if title else 70, b=70))
    return fig


def nice_step(value: float) -> float:
    """The smallest round step at least ``value``: 1, 2, 5, 10, 20, 25, 50, 100, 200, 250, ..

    Steps are whole numbers (they count points); 1 for ``value <= 1``.
    """
    if not value > 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for factor in ((1, 2, 5, 10) if power == 1 else (1, 2, 2.5, 5, 10)):
        if factor * power >= value:
            return float(factor * power)
    return float(10 * power)


AUDIT_TICKS = 4  # intervals on both axes of the audit, so their grid lines coincide


def pseudo_label_audit(rounds: Sequence[Round]) -> go.Figure:
    """Per round: points auto-labeled (bars), their precision and the threshold (lines).

    Both y axes get round tick values on the same grid: the counts in
    :data:`AUDIT_TICKS` equal steps of 1, 2, 2.5 or 5 times a power of ten, the
    precision and threshold at 0, 0.25, .., 1. Rounds without a precision are not drawn.
    """
    applied = [r for r in rounds if r.threshold is not None]
    measured = [r for r in applied if r.auto_precision is not None and _finite(r.auto_precision)]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=[r.index for r in applied], y=[r.auto_added for r in applied],
                         name="auto-labeled", marker_color="#9ecae1"), secondary_y=False)
    fig.add_trace(go.Scatter(x=[r.index for r in measured], y=[r.auto_precision for r in measured],
                             mode="lines+markers", name="precision vs truth", line=dict(color="#2ca02c", width=3)),
                  secondary_y=True)
    fig.add_trace(go.Scatter(x=[r.index for r in applied], y=[r.threshold for r in applied], mode="lines+markers",
                             name="threshold", line=dict(color="#d62728", dash="dash")), secondary_y=True)
    fig.update_layout(title="Pseudo-labels per round", xaxis_title="round", legend=dict(orientation="h", y=-0.25),
                      height=380, margin=dict(t=50, b=10))
    step = nice_step(max([r.auto_added for r in applied], default=0) / AUDIT_TICKS)
    headroom = 1.05  # room above the top tick for markers at precision 1
    fig.update_yaxes(title_text="points auto-labeled", secondary_y=False, range=[0, AUDIT_TICKS * step * headroom],
                     tickmode="array", tickvals=[k * step for k in range(AUDIT_TICKS + 1)], tickformat=",d")
    fig.update_yaxes(title_text="precision / threshold", secondary_y=True, range=[0, headroom], showgrid=False,
                     tickmode="array", tickvals=[k / AUDIT_TICKS for k in range(AUDIT_TICKS + 1)])
    if len(applied) <= 20:
        fig.update_xaxes(tickmode="linear", dtick=1)
    return fig


def uncertain_examples(record: Round, k: int, most: bool) -> np.ndarray:
    """Pool ids of the ``k`` unlabeled points ranked highest (or lowest) by the round's ranking.

    The ranking is the score the strategy itself used (:attr:`alsim.loop.records.Round.ranking`),
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


#: Pools larger than this draw a uniform seeded sample of their unlabeled points (labeled and queried ones always).
MAP_MAX_POINTS = 60_000
MAP_COLOURINGS = ("true", "predicted", "uncertainty")
#: Maps drawing at most this many points use SVG markers (``go.Scatter``), larger ones WebGL (``go.Scattergl``).
#: A WebGL plot costs a fixed set-up in the browser on every draw (a new context, shaders, and in
#: software rendering far more), which a map of a few thousand SVG points does not:
#: ``python bench/map_render.py`` times both in chromium.
MAP_SVG_MAX = 5_000


def round_picks(rounds: Sequence[Round], n_rounds: int | None = None) -> tuple[np.ndarray, list[str]]:
    """The pool ids the first ``n_rounds`` rounds sent to the annotator, in order, and each one's round number.

    Parameters
    ----------
    rounds : sequence of Round, in round order
    n_rounds : int, optional; default every round

    Returns
    -------
    ids : ndarray (k,) int64
    numbers : list of k str, the 1-based number of the round that picked each id (round 0's picks are "1")
    """
    shown = list(rounds)[:n_rounds]
    ids = [np.asarray(r.queried, dtype=np.int64).reshape(-1) for r in shown]
    numbers = [str(r.index + 1) for r, picked in zip(shown, ids) for _ in picked]
    return (np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)), numbers


def class_colours(n_classes: int) -> list[str]:
    """One colour per class: plotly's ten, then its 26-colour alphabet."""
    import plotly.colors  # lazy: only the map colours classes

    palette = list(plotly.colors.qualitative.Plotly) + list(plotly.colors.qualitative.Alphabet)
    return [palette[i % len(palette)] for i in range(n_classes)]


def pool_map(coords: np.ndarray, labels: np.ndarray, status: np.ndarray, queried: Sequence[int] = (), *,
             predicted: np.ndarray | None = None, uncertainty: np.ndarray | None = None, colour_by: str = "true",
             class_names: Sequence[str] | None = None, max_points: int = MAP_MAX_POINTS, seed: int = 0,
             title: str | None = None, queried_text: Sequence[str] | None = None,
             queried_name: str = "queried", svg_max: int = MAP_SVG_MAX) -> go.Figure:
    """Every pool point on its 2-D projection: what is labeled, pseudo-labeled, and what a round queried.

    Parameters
    ----------
    coords : ndarray (n, 2), from :func:`alsim.learn.projection.pool_projection`
    labels : ndarray (n,), the true class (-1 where unknown)
    status : ndarray (n,), 0 unlabeled, 1 revealed, 2 pseudo-labeled (:attr:`Round.status`)
    queried : sequence of int, pool ids the round sent to the annotator, in their order (numbered 1, 2, ...)
    predicted, uncertainty : ndarray (n,), optional; the round's predictions and uncertainties (hover, colouring)
    colour_by : 'true', 'predicted' or 'uncertainty'
    class_names : sequence of str, optional (default: the class numbers)
    max_points : int
        Above this many pool points, the unlabeled background is a uniform sample (seeded by ``seed``)
        of about this many points; labeled and queried points are always drawn.
    title : str, optional; plotly markup (escape user text)
    queried_text : sequence of str, optional
        The label drawn beside each queried point (default: its place in ``queried``, 1, 2, ...);
        e.g. the round that picked it, when ``queried`` holds the picks of several rounds.
    queried_name : str
        The legend entry of the queried points.
    svg_max : int
        Up to this many points drawn, the traces are ``go.Scatter`` (SVG); above, ``go.Scattergl``
        (WebGL), see :data:`MAP_SVG_MAX`.

    Returns
    -------
    go.Figure of ``go.Scatter`` (or ``go.Scattergl``) traces: unlabeled points (one trace per class, or one
    coloured by uncertainty) faint; "revealed labels" solid; "pseudo-labels" outlined; "queried" marked and numbered.
    Each trace's ``customdata`` holds the pool ids it draws.
    """
    if colour_by not in MAP_COLOURINGS:
        raise ValueError(f"colour_by must be one of {MAP_COLOURINGS}, got {colour_by!r}")
    coords = np.asarray(coords)
    labels, status = np.asarray(labels), np.asarray(status)
    n = len(coords)
    if coords.shape != (n, 2) or labels.shape != (n,) or status.shape != (n,):
        raise ValueError(f"coords must be (n, 2) with labels and status (n,), got {coords.shape}, {labels.shape}, "
                         f"{status.shape}")
    if colour_by == "predicted" and predicted is None or colour_by == "uncertainty" and uncertainty is None:
        raise ValueError(f"colour_by={colour_by!r} needs the {colour_by} values")
    queried = np.asarray(queried, dtype=np.int64).reshape(-1)
    if queried_text is None:
        queried_text = [str(k + 1) for k in range(len(queried))]
    if len(queried_text) != len(queried):
        raise ValueError(f"queried_text must have one label per queried point ({len(queried)}), "
                         f"got {len(queried_text)}")
    known = labels[labels >= 0]
    n_classes = max(len(class_names) if class_names is not None else 0,
                    int(known.max()) + 1 if known.size else 0,
                    int(np.max(predicted)) + 1 if predicted is not None and len(predicted) else 0)
    names = [escape(c) for c in class_names] if class_names is not None else [str(c) for c in range(n_classes)]
    names += [str(c) for c in range(len(names), n_classes)]
    palette = class_colours(n_classes)
    group = labels if colour_by == "true" else (predicted if colour_by == "predicted" else None)

    def name_of(c) -> str:
        return names[int(c)] if 0 <= int(c) < len(names) else "unknown"

    def hover(ids: np.ndarray) -> list[str]:
        return [f"#{i} · class {name_of(labels[i])}"
                + ("" if predicted is None else f" · predicted {name_of(predicted[i])}")
                + ("" if uncertainty is None else f" · uncertainty {float(uncertainty[i]):.3f}") for i in ids]

    def marker(ids: np.ndarray, **style) -> dict:
        if group is None:
            return dict(color=np.asarray(uncertainty, dtype=np.float64)[ids], coloraxis="coloraxis", **style)
        return dict(color=[palette[int(c)] if c >= 0 else "#999999" for c in group[ids]], **style)

    def add(ids: np.ndarray, name: str, mode: str = "markers", **extra) -> None:
        # A clicked point (the pages show its image) leaves the others as they were drawn, not dimmed.
        unselected = dict(marker=dict(opacity=extra.get("marker", {}).get("opacity", 1.0)))
        traces.append(dict(type=kind, x=coords[ids, 0], y=coords[ids, 1], mode=mode, name=name, customdata=ids,
                           hovertext=hover(ids), hoverinfo="text", unselected=unselected, **extra))

    traces: list[dict] = []  # validated once, by the figure (a trace object is validated again when added)
    in_round = np.zeros(n, dtype=bool)
    in_round[queried] = True
    background = np.flatnonzero((status != REVEALED) & (status != PSEUDO) & ~in_round)
    if n > max_points:  # a uniform sample of the whole pool, of which the unlabeled ones are drawn faint
        sample = np.zeros(n, dtype=bool)
        sample[np.random.default_rng(seed).choice(n, max_points, replace=False)] = True
        background = background[sample[background]]
    revealed = np.flatnonzero(status == REVEALED)
    pseudo = np.flatnonzero(status == PSEUDO)
    kind = "scatter" if len(background) + len(revealed) + len(pseudo) + len(queried) <= svg_max else "scattergl"
    faint = dict(size=4, opacity=0.45)
    if group is None:
        add(background, "unlabeled", marker=marker(background, **faint))
    else:
        drawn = set(np.unique(group[background]).tolist())
        for c in sorted(drawn | set(range(n_classes))):
            if c not in drawn:
                # A class none of whose images is left unlabeled keeps its key: the revealed points are
                # coloured by class too. One point at nowhere (an empty trace gets no legend entry).
                traces.append(dict(type=kind, x=[None], y=[None], mode="markers", name=name_of(c), hoverinfo="skip",
                                   customdata=[], marker=dict(color=palette[int(c)], **faint),
                                   legendgroup=f"class-{c}"))
                continue
            ids = background[group[background] == c]
            add(ids, name_of(c), marker=dict(color=palette[int(c)] if c >= 0 else "#999999", **faint),
                legendgroup=f"class-{c}")
    add(revealed, "revealed labels", marker=marker(revealed, size=8, line=dict(width=1, color="#222222")))
    if pseudo.size:
        add(pseudo, "pseudo-labels", marker=marker(pseudo, size=9, symbol="circle-open", line=dict(width=2)))
    add(queried, queried_name, mode="markers+text", text=[str(t) for t in queried_text],
        textposition="top center", textfont=dict(size=11, color="#000000"),
        marker=dict(size=12, symbol="star", color="#ffbf00", line=dict(width=1, color="#000000")))
    fig = go.Figure(data=traces)
    fig.update_layout(title=title, margin=dict(l=10, r=10, t=50 if title else 20, b=10), height=520,
                      legend=dict(itemsizing="constant"), hovermode="closest")
    fig.update_xaxes(showticklabels=False, title=None)
    fig.update_yaxes(showticklabels=False, title=None, scaleanchor="x", scaleratio=1)
    if group is None:
        values = np.asarray(uncertainty, dtype=np.float64)
        finite = values[np.isfinite(values)]
        fig.update_layout(coloraxis=dict(colorscale="Viridis", colorbar=dict(title="uncertainty"),
                                         cmin=float(finite.min()) if finite.size else 0.0,
                                         cmax=float(finite.max()) if finite.size else 1.0))
    return fig
