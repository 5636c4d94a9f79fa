"""AppTest of the live page with a metric, a labeling cost and a long tail set in the sidebar."""

import numpy as np
from apptest_helpers import APP, TIMEOUT, charts, messages, trace
from numpy.testing import assert_allclose
from streamlit.testing.v1 import AppTest

from alsim import Config, run_loop


def test_metric_cost_and_recall_on_the_live_page_and_a_bad_cost_list_in_one_error_box():
    app = AppTest.from_file(APP, default_timeout=TIMEOUT)
    app.query_params.update({"metric": "balanced_accuracy", "cost": "per_class", "cost_params": "1,2,3",
                             "imbalance": "5", "x_axis": "cost", "n_rounds": "3"})
    app.run()
    # a cost list of the wrong length: one error box, nothing run
    assert not app.exception
    assert messages(app.error) == ["cost_params must hold one cost per class: 10 for dataset 'digits-tutorial', "
                                   "got 3"]
    assert "curve" not in charts(app)
    app.sidebar.text_input(key="cost_params").set_value("1,2,3,1,1,1,1,1,1,4").run()
    assert not app.exception and not app.error, messages(app.error)
    config = Config(metric="balanced_accuracy", cost="per_class", cost_params=(1, 2, 3, 1, 1, 1, 1, 1, 1, 4),
                    imbalance=5.0, n_rounds=3)
    expected = list(run_loop(config))
    figs = charts(app)
    curve = figs["curve"]
    entropy = trace(curve, "entropy")
    assert_allclose(entropy["x"], [r.cost for r in expected])  # drawn against cost
    assert_allclose(entropy["y"], [r.score for r in expected], atol=1e-12)  # the balanced accuracy
    assert curve["layout"]["yaxis"]["title"]["text"] == "balanced accuracy"
    assert curve["layout"]["xaxis"]["title"]["text"] == "labeling cost spent"
    recall = np.array(figs["recall"]["data"][0]["z"], dtype=float)
    assert_allclose(recall, np.array([r.recall for r in expected]).T, atol=1e-12, equal_nan=True)
    assert any(m.label == f"entropy: bal. accuracy at {expected[-1].n_labeled} labels" for m in app.metric)
