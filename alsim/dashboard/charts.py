"""Plotly charts on the pages, drawn once per change.

``st.plotly_chart``'s "streamlit" theme restyles a figure in the browser right after it is
first drawn: it hands plotly a copy with a new ``layout.template``, and plotly redraws any
figure whose template object changed from scratch. A chart is a new element whenever its
figure changes (Streamlit keys it by the figure), so every changed chart, on every slider
step and every new setting, was drawn twice.

Here the figure carries the page's look in its own layout (no template) and is drawn with
``theme=None``; ``layout.datarevision`` tells plotly that the browser's copy of the same figure
holds the same arrays, so handing it over again redraws nothing. That holds for plain arrays
only: plotly.py sends a NumPy array as a typed array, and plotly.js takes a typed array that is
not the very same object as new data, whatever ``datarevision`` says. So the figure's arrays
are sent as lists.

A chart that reports selections gets, after its first drawing, the click, hover and drag
modes Streamlit gives such charts, unless the figure set them: plotly then redraws it
(axes, grid and titles) to change them. :func:`chart` sets them in the figure itself.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import numpy as np
import streamlit as st

#: Fonts of the page (Streamlit's sans-serif).
FONT = '"Source Sans", "Source Sans Pro", sans-serif'

#: Streamlit's chart colours: categorical (traces without their own colour) and sequential
#: (colour scales not set by the figure).
CATEGORICAL = ("#0068c9", "#83c9ff", "#ff2b2b", "#ffabab", "#29b09d", "#7defa1", "#ff8700", "#ffd16a",
               "#6d3fc0", "#d5dae5")
SEQUENTIAL = ("#e4f5ff", "#c7ebff", "#a6dcff", "#83c9ff", "#60b4ff", "#3d9df3", "#1c83e1", "#0068c9",
              "#0054a3", "#004280")

#: Text, grid and hover colours of a light and a dark page (the light text is the configured theme's,
#: ``theme.textColor``, when one is set).
LIGHT = {"text": "#1f2933", "faded": "#5c6670", "grid": "#e6eaf1", "hover": "#ffffff", "border": "#d5dae5"}
DARK = {"text": "#fafafa", "faded": "#b0b4bd", "grid": "#31333f", "hover": "#262730", "border": "#4b4e5a"}


def page_look(dark: bool = False, font_size: float = 12) -> dict[str, Any]:
    """The layout a figure gets where it sets nothing itself (``xaxis`` and ``yaxis``: every x and y axis's).

    Sizes follow ``font_size`` (the figure's own, if it sets one): titles a third larger, the
    rest inherit it.
    """
    c = DARK if dark else {**LIGHT, "text": _configured_text() or LIGHT["text"]}
    # No line or tick colour: without a template, plotly draws axis lines and tick marks where one is set.
    # The title's standoff, with automargin, makes room for the title beside the tick labels.
    axis = {"gridcolor": c["grid"], "zerolinecolor": c["grid"], "tickfont": {"color": c["faded"]}, "automargin": True}
    scale = [[i / (len(SEQUENTIAL) - 1), colour] for i, colour in enumerate(SEQUENTIAL)]
    return {
        "font": {"family": FONT, "color": c["text"], "size": font_size},
        "title": {"font": {"size": round(font_size * 4 / 3)}, "x": 0, "xanchor": "left"},
        "legend": {"bgcolor": "rgba(0,0,0,0)"},
        # The page's own background shows through (also right after a switch of theme, before a rerun).
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "modebar": {"bgcolor": "rgba(0,0,0,0)"},  # else plotly derives a grey box from the transparent paper
        "colorway": list(CATEGORICAL),
        "colorscale": {"sequential": scale},
        # The colour bar below a legend at the top right (the pool map coloured by uncertainty has both).
        "coloraxis": {"colorscale": scale, "colorbar": {"thickness": 16, "len": 0.65, "y": 0.35, "outlinewidth": 0}},
        "hoverlabel": {"bgcolor": c["hover"], "bordercolor": c["border"],
                       "font": {"family": FONT, "color": c["text"]}},
        "margin": {"l": 0, "r": 0},  # the axes make room for their labels (automargin)
        "xaxis": {**axis, "showgrid": False, "zeroline": False, "title": {"standoff": 20}},
        "yaxis": {**axis, "title": {"standoff": 24}},
    }


def _typed(value) -> bool:
    """Whether ``value`` is plotly.py's typed array (base64 bytes, their dtype and shape)."""
    return isinstance(value.get("bdata"), str) and isinstance(value.get("dtype"), str) \
        and set(value) <= {"bdata", "dtype", "shape"}


def _lists(value):
    """``value`` with every array in it (at any depth, NumPy or plotly.py's typed array) a list."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        if _typed(value):
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            shape = value.get("shape")
            if shape is not None:
                array = array.reshape([int(n) for n in (shape.split(",") if isinstance(shape, str) else shape)])
            return array.tolist()
        return {name: _lists(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(item) for item in value]
    return value


def styled(figure, dark: bool = False):
    """A copy of ``figure`` with the page's look in its layout, no template, and lists for arrays.

    The figure is built again from plain values: plotly.py holds a NumPy array as a typed array
    (base64), also when a list is assigned in its place.
    """
    import plotly.graph_objects as go

    spec = figure.to_dict()
    own = spec.get("layout", {})
    own.pop("template", None)
    look = page_look(dark, own.get("font", {}).get("size", 12))
    for name in own:
        if name.startswith(("xaxis", "yaxis")):
            look[name] = look[name[0] + "axis"]
    layout = _merge(look, own)
    if isinstance(layout.get("title"), dict) and layout["title"].get("text"):
        layout["title"] = {**layout["title"], "text": f"<b>{layout['title']['text']}</b>"}
    data, frames = spec.get("data", []), spec.get("frames", [])
    layout["datarevision"] = data_revision(data, frames)
    out = go.Figure({"data": _lists(data), "layout": layout, "frames": _lists(frames)})
    out.layout.template = None  # plotly.py adds its default template to a figure built from a dict
    return out


def _merge(look: dict, own: dict) -> dict:
    """``look`` with ``own`` on top: nested dicts merged, anything else (lists too) the figure's own.

    What ``update_layout`` does, on the plain dicts of ``to_dict``: plotly's update validates as
    it goes and took 8 ms of a confusion figure's 15 here, where building the merged layout
    validates it once.
    """
    merged = dict(look)
    for name, value in own.items():
        merged[name] = _merge(merged[name], value) if isinstance(value, dict) and isinstance(
            merged.get(name), dict) else value
    return merged


def data_revision(data, frames) -> str:
    """A digest of a figure's traces and frames (as ``to_dict`` gives them): the same for a copy of the
    figure, so plotly takes the copy's arrays as unchanged, and another for other values, so a chart
    handed other values never keeps showing the old ones."""
    import plotly.io as pio

    text = pio.to_json({"data": data, "frames": frames}, validate=False)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _configured_text() -> str | None:
    """The configured theme's text colour (``theme.textColor``), if any."""
    try:
        return st.get_option("theme.textColor")
    except Exception:  # an unknown option in another Streamlit version
        return None


def _dark() -> bool:
    """Whether the viewer's page is dark (Streamlit infers it from the page's background)."""
    try:
        return st.context.theme.type == "dark"
    except Exception:  # outside a session (bare script runs): the configured light theme
        return False


def chart(figure, key: str | None = None, where=None, **options):
    """Draw ``figure`` like ``where.plotly_chart`` (default: the current container), styled here."""
    target = st if where is None else where
    out = styled(figure, _dark())
    if options.get("on_select", "ignore") != "ignore":
        selection_modes(out, options.get("selection_mode", ("points", "box", "lasso")))
    return target.plotly_chart(out, key=key, theme=None, **options)


def selection_modes(figure, selection_mode) -> None:
    """The modes Streamlit's chart sets on a chart that reports selections, set here where the figure has none.

    Streamlit's frontend (1.67, ``PlotlyChart``): hover ``closest``; drag ``pan`` with point
    selection, else ``select`` (box) or ``lasso``; then click ``event`` while the drag mode
    selects (``select``, ``lasso``), else ``event+select`` with point selection, else ``none``.
    """
    modes = (selection_mode,) if isinstance(selection_mode, str) else tuple(selection_mode)
    points = "points" in modes
    layout = figure.layout
    if layout.hovermode is None:
        layout.hovermode = "closest"
    if layout.dragmode is None:
        layout.dragmode = "pan" if points else "select" if "box" in modes else "lasso" if "lasso" in modes else "pan"
    if layout.clickmode is None:
        layout.clickmode = "event" if layout.dragmode in ("select", "lasso") else "event+select" if points else "none"
