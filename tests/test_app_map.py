"""AppTest tests of the live page's map of the pool: its points, the chosen round's queries, the colourings."""

import numpy as np
import pytest
from apptest_helpers import APP, TIMEOUT, charts, trace
from numpy.testing import assert_allclose
from streamlit.testing.v1 import AppTest
from test_app_live import _no_errors

from alsim import Config, prepare, run_loop
from alsim.learn import projection


@pytest.fixture
def app():
    return AppTest.from_file(APP, default_timeout=TIMEOUT).run()


def _points(fig) -> list[int]:
    return sorted(i for t in fig["data"] for i in t["customdata"])


def test_map_draws_the_pool_and_the_queries_of_the_round_chosen(app, monkeypatch):
    _no_errors(app)
    prepared = prepare(Config())
    rounds = list(run_loop(Config()))
    fig = charts(app)["map-entropy"]
    assert _points(fig) == list(range(len(prepared.pool_ids)))  # every pool point, once
    last = rounds[-1]
    assert trace(fig, "revealed labels")["customdata"] == np.flatnonzero(last.status == 1).tolist()
    assert trace(fig, "queried")["customdata"] == []  # the last round queries nothing
    coords = projection.pool_projection(prepared.features, prepared.key)
    calls = []
    monkeypatch.setattr(projection, "_project", lambda *a: calls.append(1))  # any recomputation would be seen

    app.select_slider[0].set_value(2).run()
    _no_errors(app)
    fig = charts(app)["map-entropy"]
    queried = trace(fig, "queried")
    assert queried["customdata"] == rounds[2].queried.tolist() and len(queried["customdata"]) == 5
    assert queried["text"] == ["1", "2", "3", "4", "5"]
    assert_allclose(queried["x"], coords[rounds[2].queried, 0], rtol=1e-6)
    assert trace(fig, "revealed labels")["customdata"] == np.flatnonzero(rounds[2].status == 1).tolist()

    app.button_group(key="map_colour").set_value("uncertainty").run()
    app.checkbox(key="map_random").check().run()
    _no_errors(app)
    figs = charts(app)
    background = trace(figs["map-entropy"], "unlabeled")
    assert_allclose(background["marker"]["color"], rounds[2].uncertainty[background["customdata"]])
    random_rounds = list(run_loop(Config(strategy="random")))
    random_map = figs["map-random"]
    assert _points(random_map) == list(range(len(prepared.pool_ids)))
    assert trace(random_map, "queried")["customdata"] == random_rounds[2].queried.tolist()
    assert calls == []  # another round, colouring or arm only redraws
