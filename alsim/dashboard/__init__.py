"""Streamlit-only helpers of the dashboard pages (the core never imports this package).

Importing this package prepares the server process once, before any page runs:

- the process-level settings of :mod:`alsim.common.runtime`;
- every module a page loads, imported here rather than on a page's first run. Streamlit
  runs each browser session in its own thread, and Python's import lock lets a thread see a
  half-initialised module when two threads import the same circular package at once (PIL,
  plotly, OpenCV): the page then fails with "partially initialized module". Python runs a
  package's ``__init__`` once, with other importers waiting for it, so loading the modules
  here, in the first session's thread, is safe; a page's own import then finds them loaded.
"""

import importlib
import pkgutil
from pathlib import Path

from alsim.common.runtime import configure_process

# Once per server process, when the first page imports the dashboard: never per session.
configure_process()

#: Modules the pages use that are not loaded by importing the alsim modules themselves:
#: Streamlit's image element loads Pillow on first use; plotly builds figure parts lazily.
LIBRARIES = (
    "PIL.Image", "PIL.ImageFile", "PIL.GifImagePlugin", "PIL.PngImagePlugin", "PIL.JpegImagePlugin",
    "streamlit.elements.lib.image_utils", "streamlit.emojis", "streamlit.material_icon_names", "streamlit.runtime.scriptrunner.magic_funcs",
    "cv2", "onnxruntime", "onnx", "onnx.helper", "onnx.numpy_helper", "sqlite3", "pandas", "pyarrow", "pyarrow.pandas_compat",
    "plotly.graph_objects", "plotly.subplots", "plotly.io", "plotly.colors", "plotly.offline",
    "sklearn.metrics", "sklearn.metrics.pairwise", "sklearn.neighbors", "sklearn.linear_model",
    "sklearn.svm", "sklearn.cluster", "sklearn.decomposition", "sklearn.semi_supervised", "sklearn.datasets", "sklearn.datasets.data",
    "sklearn.datasets.descr",
    "narwhals._interchange.dataframe", "packaging.tags", "packaging.utils", "pyarrow.vendored.version",
    "streamlit.components.v2.manifest_scanner",
)


def _warm_plotly() -> None:
    """Build and serialise one figure with every trace and layout part the pages draw."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("a", "b"), specs=[[{"secondary_y": True}, {}]])
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines+markers", line={"dash": "dot"},
                             marker={"symbol": "x"}, fill="tonexty", error_y={"array": [0, 0]}), row=1, col=1)
    fig.add_trace(go.Heatmap(z=[[0, 1], [1, 0]], colorbar={"title": {"text": "n"}}, text=[["a", "b"], ["c", "d"]]),
                  row=1, col=2)
    fig.add_trace(go.Bar(x=[0], y=[1], marker={"color": "red"}), row=1, col=1, secondary_y=True)
    # The pool map's points, SVG (small pools) and WebGL: numbered, outlined, on a colour scale.
    for kind in (go.Scatter, go.Scattergl):
        fig.add_trace(kind(x=[0], y=[0], mode="markers+text", text=["1"], textfont={"size": 9},
                           textposition="top center", hovertext=["a"], customdata=[0],
                           unselected={"marker": {"opacity": 1.0}},
                           marker={"symbol": "star", "line": {"width": 1, "color": "black"}, "color": [0.5],
                                   "colorscale": "Viridis", "colorbar": {"title": {"text": "u"}}}),
                      row=1, col=2)
    fig.add_vline(x=0.5, annotation_text="stop", line={"dash": "dash"})
    fig.add_hline(y=0.5)
    fig.add_shape(type="rect", x0=0, x1=1, y0=0, y1=1)
    fig.add_annotation(x=0, y=0, text="a", showarrow=False, font={"size": 9})
    # The page's look (alsim.dashboard.charts) sets fonts and colours of titles, ticks and hover labels.
    fig.update_layout(title={"text": "t", "font": {"size": 12}}, legend={"orientation": "h"}, margin={"t": 0},
                      hovermode="x unified", uirevision="x", height=100, updatemenus=[], sliders=[],
                      template="plotly_white", hoverlabel={"namelength": -1, "font": {"color": "#000000"}},
                      font={"size": 10}, datarevision="x", colorway=["#000000"], colorscale={"sequential": "Blues"},
                      coloraxis={"colorscale": "Blues"}, paper_bgcolor="rgba(0,0,0,0)")
    fig.frames = [go.Frame(data=[go.Scatter(x=[0], y=[0])], name="0")]
    fig.update_xaxes(title={"text": "x"}, range=[0, 1], tickvals=[0], tickfont={"color": "#000000"}, automargin=True)
    fig.update_yaxes(title={"text": "y"}, autorange="reversed", scaleanchor="x", tickfont={"color": "#000000"})
    fig.to_json()
    fig.to_html(full_html=False, include_plotlyjs=False)


def warm_imports() -> None:
    """Import every alsim module and the libraries the pages load lazily (see the module doc)."""
    for info in pkgutil.walk_packages([str(Path(__file__).resolve().parents[1])], "alsim."):
        if info.name != "alsim.__main__":
            importlib.import_module(info.name)
    for name in LIBRARIES:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional extra (pyarrow) that is not installed
            pass
    from PIL import Image

    Image.init()  # the image plugins Pillow otherwise registers on the first save
    _warm_plotly()


warm_imports()
