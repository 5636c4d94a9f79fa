"""Charts on the pages: the page's look inside the figure, and plotly.js redraws nothing when
handed the same figure again (what Streamlit's chart does right after drawing it)."""

import json
from pathlib import Path

import numpy as np
import plotly
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from conftest import chromium_browser, needs_chromium
from plotly.subplots import make_subplots

from alsim.dashboard import charts
from alsim.dashboard.charts import DATA_REVISION, styled
from alsim.report.plots import confusion_heatmap, pool_map


def _map():
    rng = np.random.default_rng(0)
    n = 300
    labels = rng.integers(0, 4, n)
    status = np.zeros(n, dtype=np.int8)
    status[rng.choice(n, 30, replace=False)] = 1
    return pool_map(rng.normal(size=(n, 2)).astype(np.float32), labels, status, rng.choice(n, 5, replace=False),
                    predicted=labels, uncertainty=rng.random(n), class_names=["a", "b", "c", "d"], title="map")


def _confusion():
    return confusion_heatmap(np.arange(16).reshape(4, 4), ["a", "b", "c", "d"], title="confusion")


def _values(spec: dict) -> list:
    """Every trace's values as plain Python (typed arrays decoded), for comparing two figures' data."""
    return [{k: v for k, v in t.items()} for t in charts._lists(spec["data"])]


@pytest.mark.parametrize("make", [_map, _confusion], ids=["map", "confusion"])
def test_a_styled_figure_has_no_template_no_typed_arrays_and_the_same_data(make):
    figure = make()
    before = pio.to_json(figure, validate=False)
    out = styled(figure)
    spec = json.loads(pio.to_json(out, validate=False))
    assert "template" not in spec["layout"]
    assert spec["layout"]["datarevision"] == DATA_REVISION
    assert "bdata" not in json.dumps(spec["data"])
    assert _values(spec) == _values(json.loads(before))
    assert pio.to_json(figure, validate=False) == before  # the caller's figure is left as it was


def test_the_figures_own_layout_wins_over_the_look():
    fig = make_subplots(rows=1, cols=2)
    fig.add_trace(go.Scatter(x=[0, 1], y=[1, 2]), row=1, col=2)
    fig.update_layout(title="Gain", font=dict(size=18), margin=dict(t=90), yaxis2=dict(gridcolor="#ff0000"))
    layout = styled(fig).layout
    assert layout.title.text == "<b>Gain</b>" and layout.title.font.size == 24  # a third larger than the font
    assert layout.font.size == 18 and layout.margin.t == 90 and layout.margin.r == 0
    assert layout.yaxis2.gridcolor == "#ff0000" and layout.yaxis.gridcolor == charts.LIGHT["grid"]
    assert layout.xaxis2.showgrid is False and layout.yaxis2.showgrid is None  # x grid off on every x axis
    assert styled(fig, dark=True).layout.font.color == charts.DARK["text"]


def test_a_reversed_category_axis_is_an_explicit_range():
    axis = _confusion().layout.yaxis
    assert axis.type == "category" and tuple(axis.range) == (3.5, -0.5) and axis.autorange is False


#: Draws a figure, then hands plotly.js a fresh copy of it (as Streamlit's chart does on mount) and
#: counts the DOM changes that second call makes.
REDRAW = """async (spec) => {
  const div = document.createElement('div');
  div.style.width = '700px';
  document.body.appendChild(div);
  const first = JSON.parse(spec);
  await Plotly.newPlot(div, first.data, first.layout, {});
  let changes = 0;
  const watch = new MutationObserver(records => { changes += records.length; });
  watch.observe(div, {subtree: true, childList: true, attributes: true, characterData: true});
  const again = JSON.parse(spec);
  await Plotly.react(div, again.data, again.layout, {});
  await new Promise(resolve => setTimeout(resolve, 0));
  watch.disconnect();
  Plotly.purge(div);
  div.remove();
  return changes;
}"""


@needs_chromium
def test_plotly_redraws_nothing_when_handed_a_styled_figure_again():
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    with chromium_browser() as browser:
        page = browser.new_page()
        page.set_content("<html><body></body></html>")
        page.add_script_tag(path=str(plotly_js))
        for make in (_map, _confusion):
            # As built, with a template and typed arrays, the copy is drawn again from scratch.
            assert page.evaluate(REDRAW, pio.to_json(make(), validate=False)) > 100
            assert page.evaluate(REDRAW, pio.to_json(styled(make()), validate=False)) == 0
