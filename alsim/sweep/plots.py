"""Plotly figures of a sweep (built in the core, rendered by the Sweep page)."""

from __future__ import annotations

import plotly.graph_objects as go

from alsim.sweep.analysis import SweepSummary, heatmap_grid

METRICS = {
    "saved_vs_random": "labels saved vs random",
    "aulc_gain": "AULC gain vs random",
}


def _label(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def gain_heatmap(summary: SweepSummary, x_field: str, y_field: str, strategy: str, metric: str = "saved_vs_random",
                 fixed: dict | None = None) -> go.Figure:
    """A heatmap of ``metric`` over two grid fields for one strategy.

    Each cell's text is its value; cells whose Holm-corrected Wilcoxon p-value (AULC vs
    random, paired over seeds) is not below 0.05 read "n.s.", cells without a test (fewer
    than 6 seeds) read "untested", and both are grey with an open "x" marker: a difference
    the seeds do not support gets no colour. Diverging colours centred on 0 for the others:
    gains in blue, losses in red.

    Traces: the coloured heatmap (significant cells; the others None), the grey one (the
    others), the markers.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    grid = heatmap_grid(summary, x_field, y_field, strategy, metric, fixed)
    xs = [_label(v) for v in grid["x"]]
    ys = [_label(v) for v in grid["y"]] if y_field != x_field else [""]
    digits = "{:+.0f}" if metric == "saved_vs_random" else "{:+.4f}"
    text, marks_x, marks_y = [], [], []
    for i, row in enumerate(grid["z"]):
        line = []
        for j, value in enumerate(row):
            shown = "-" if value is None else digits.format(value)
            if not grid["tested"][i][j]:
                shown += "<br>untested"
            elif not grid["significant"][i][j]:
                shown += "<br>n.s."
            if not grid["significant"][i][j]:
                marks_x.append(xs[j])
                marks_y.append(ys[i])
            line.append(shown)
        text.append(line)
    values = [abs(v) for row in grid["z"] for v in row if v is not None]
    bound = max(values) if values and max(values) > 0 else 1.0
    supported = grid["significant"]
    coloured = [[v if supported[i][j] else None for j, v in enumerate(row)] for i, row in enumerate(grid["z"])]
    grey = [[None if supported[i][j] else 0.0 for j, _ in enumerate(row)] for i, row in enumerate(grid["z"])]
    hover = f"{x_field}=%{{x}}<br>{y_field}=%{{y}}<br>{METRICS[metric]}: %{{customdata}}"
    fig = go.Figure(go.Heatmap(
        x=xs, y=ys, z=coloured, customdata=grid["z"], text=text, texttemplate="%{text}", zmin=-bound, zmax=bound,
        zmid=0, colorscale="RdBu", colorbar={"title": METRICS[metric]}, name=METRICS[metric],
        hovertemplate=hover + "<extra></extra>",
    ))
    fig.add_trace(go.Heatmap(
        x=xs, y=ys, z=grey, customdata=grid["z"], text=text, texttemplate="%{text}", zmin=0, zmax=1,
        colorscale=[[0, "#e6e6e6"], [1, "#e6e6e6"]], showscale=False, name="not significant",
        hovertemplate=hover + " (not significant)<extra></extra>",
    ))
    fig.add_trace(go.Scatter(x=marks_x, y=marks_y, mode="markers", name="not significant",
                             marker={"symbol": "x-thin-open", "size": 28, "color": "rgba(60,60,60,0.35)",
                                     "line": {"width": 1}},
                             hoverinfo="skip", showlegend=bool(marks_x)))
    title = f"{strategy}: {METRICS[metric]}"
    if fixed:
        rest = ", ".join(f"{k}={_label(v)}" for k, v in fixed.items() if k not in (x_field, y_field))
        title += f" ({rest})" if rest else ""
    fig.update_layout(title=title, xaxis_title=x_field, yaxis_title=y_field if y_field != x_field else "",
                      xaxis={"type": "category"}, yaxis={"type": "category"}, legend={"orientation": "h"},
                      margin={"t": 60})
    return fig
