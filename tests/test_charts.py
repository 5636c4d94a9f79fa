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
from alsim.dashboard.charts import styled
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


@pytest.mark.parametrize("make", [_map, _confusion], ids=["map", "confusion"])
def test_a_styled_figure_has_no_template_no_typed_arrays_and_a_digest_of_its_data(make):
    figure = make()
    before = pio.to_json(figure, validate=False)
    spec = json.loads(pio.to_json(styled(figure), validate=False))
    assert "template" not in spec["layout"] and "bdata" not in json.dumps(spec["data"])
    assert spec["layout"]["datarevision"] == styled(make()).layout.datarevision  # a copy: the same digest
    assert pio.to_json(figure, validate=False) == before  # the caller's figure is left as it was
    other = make()
    other.data[0].update(x=np.asarray(other.data[0].x)[::-1])
    assert styled(other).layout.datarevision != spec["layout"]["datarevision"]


@pytest.mark.parametrize("array", [
    np.arange(6, dtype=np.int8).reshape(2, 3), np.arange(4, dtype=np.uint8), np.array([-3, 70_000], dtype=np.int32),
    np.linspace(-1, 1, 7).astype(np.float32), np.array([1e300, -2.5]), np.arange(24.0).reshape(2, 3, 4),
    np.zeros(0), np.array([0.5, 1.5], dtype=">f8")], ids=str)
def test_arrays_arrive_as_the_lists_of_their_values(array):
    figure = go.Figure(go.Scatter(x=np.arange(3), customdata=array))
    assert styled(figure).data[0].customdata == tuple(array.tolist())
    assert styled(figure).data[0].x == (0, 1, 2)


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


#: Draws figure A, hands plotly.js figure B, and returns the y positions of B's points as drawn
#: (plotly's point transforms), beside those of B drawn afresh.
A_THEN_B = """async ([a, b]) => {
  const positions = div => [...div.querySelectorAll('.point')].map(p => p.getAttribute('transform'));
  const div = document.createElement('div'), fresh = document.createElement('div');
  document.body.append(div, fresh);
  const first = JSON.parse(a), second = JSON.parse(b), again = JSON.parse(b);
  await Plotly.newPlot(div, first.data, first.layout, {});
  await Plotly.react(div, second.data, second.layout, {});
  await Plotly.newPlot(fresh, again.data, again.layout, {});
  const out = [positions(div), positions(fresh)];
  Plotly.purge(div); Plotly.purge(fresh); div.remove(); fresh.remove();
  return out;
}"""


def _plotly_page(browser):
    page = browser.new_page()
    page.set_content("<html><body></body></html>")
    page.add_script_tag(path=str(Path(plotly.__file__).parent / "package_data" / "plotly.min.js"))
    return page


@needs_chromium
def test_a_chart_handed_other_values_draws_them():
    def curve(y):
        figure = go.Figure(go.Scatter(x=np.arange(3), y=np.asarray(y, dtype=float), mode="markers"))
        figure.update_layout(yaxis_range=[0, 4], width=400, height=300)
        return pio.to_json(styled(figure), validate=False)

    with chromium_browser() as browser:
        drawn, fresh = _plotly_page(browser).evaluate(A_THEN_B, [curve([1, 2, 3]), curve([3, 2, 1])])
    assert len(drawn) == 3 and drawn == fresh


@needs_chromium
def test_plotly_redraws_nothing_when_handed_a_styled_figure_again():
    with chromium_browser() as browser:
        page = _plotly_page(browser)
        for make in (_map, _confusion):
            # As built, with a template and typed arrays, the copy is drawn again from scratch.
            assert page.evaluate(REDRAW, pio.to_json(make(), validate=False)) > 100
            assert page.evaluate(REDRAW, pio.to_json(styled(make()), validate=False)) == 0


def test_a_chart_reporting_selections_carries_the_modes_streamlit_would_set_after_drawing_it(monkeypatch):
    """Streamlit's chart gives a selectable chart hover ``closest``, click ``event+select`` and drag
    ``pan`` (point selection) once drawn, unless the figure has them: plotly then updates the chart."""
    handed = []
    monkeypatch.setattr(charts.st, "plotly_chart", lambda figure, **options: handed.append((figure, options)))
    charts.chart(_map(), key="m", on_select="rerun", selection_mode="points")
    charts.chart(_map(), key="b", on_select="rerun", selection_mode=("box", "lasso"))
    charts.chart(_map(), key="plain")
    own = _map().update_layout(dragmode="zoom")
    charts.chart(own, key="own", on_select="rerun", selection_mode="points")
    boxing = _map().update_layout(dragmode="select")
    charts.chart(boxing, key="boxing", on_select="rerun", selection_mode="points")
    charts.chart(_map(), key="lasso", on_select="rerun", selection_mode="lasso")
    modes = [(f.layout.hovermode, f.layout.clickmode, f.layout.dragmode) for f, _ in handed]
    assert modes[0] == ("closest", "event+select", "pan")
    assert modes[1] == ("closest", "event", "select")  # dragging selects: a click is an event only
    assert modes[2] == ("closest", None, None)  # the map's own hover mode; no selection, no modes added
    assert modes[3] == ("closest", "event+select", "zoom")  # the figure's own mode stays
    assert modes[4] == ("closest", "event", "select")
    assert modes[5] == ("closest", "event", "lasso")
    assert all(options["theme"] is None for _, options in handed)
