"""Figures from round records: axis ranges, nan points, escaping, heatmap panels, audit ticks."""

import math

import numpy as np
import plotly.graph_objects as go
import pytest

from alsim import Config, run_loop
from alsim.evidence.compare import Curve
from alsim.report.plots import (
    AUDIT_TICKS,
    MIN_SPAN,
    accuracy_range,
    band_curves,
    confusion_heatmap,
    confusion_heatmaps,
    escape,
    learning_curves,
    nice_step,
    pseudo_label_audit,
    side_by_side,
    uncertain_examples,
)
from tests.test_narrative import curve, make_round

EVIL = "<a href='https://example.com'>click</a> & co"


@pytest.fixture(scope="module")
def exhausted():
    """Experiment A with batch 100: the last round has nothing left to evaluate (nan)."""
    return list(run_loop(Config(batch_size=100)))


# ------------------------------------------------------------------ ranges
def test_accuracy_range_golden():
    np.testing.assert_allclose(accuracy_range([0.95, 0.952]), [0.926, 0.976])  # widened to MIN_SPAN
    np.testing.assert_allclose(accuracy_range([0.99, 1.0]), [0.95, 1.0])  # shifted below 1
    np.testing.assert_allclose(accuracy_range([0.0, 0.01]), [0.0, 0.05])  # shifted above 0
    np.testing.assert_allclose(accuracy_range([0.5, 0.9]), [0.468, 0.932])  # 8% padding each side
    assert accuracy_range([float("nan"), None]) is None


def test_a_tiny_change_is_not_a_spike():
    rounds = curve([40, 45, 50], [0.950, 0.951, 0.952])
    low, high = learning_curves({"entropy": rounds}).layout.yaxis.range
    assert high - low >= MIN_SPAN - 1e-12 and low <= 0.950 and high >= 0.952


def test_round_zero_is_in_view_and_range_stays_in_unit_interval():
    rounds = curve([40, 45, 50], [0.60, 0.99, 1.0])
    low, high = learning_curves({"entropy": rounds}, baseline=(50, 0.9)).layout.yaxis.range
    assert 0 <= low <= 0.60 and high == 1.0


def test_nan_rounds_are_not_plotted(exhausted):
    fig = learning_curves({"entropy": exhausted})
    assert list(fig.data[0].x) == [40, 140, 240]
    assert all(math.isfinite(v) for v in fig.data[0].y)
    assert fig.layout.yaxis.range[1] == 1.0


def test_learning_curves_by_round_and_macro_f1(exhausted):
    fig = learning_curves({"entropy": exhausted}, x="round", metric="macro_f1")
    assert list(fig.data[0].x) == [0, 1, 2] and fig.layout.xaxis.title.text == "round"


# ------------------------------------------------------------------ escaping
def test_user_text_is_escaped():
    rounds = curve([40, 45], [0.8, 0.9])
    fig = learning_curves({EVIL: rounds})
    assert fig.data[0].name == "&lt;a href='https://example.com'&gt;click&lt;/a&gt; &amp; co"
    heat = confusion_heatmap(np.eye(2, dtype=int), [EVIL, "b"])
    assert "<a" not in str(heat.data[0].x[0]) and heat.data[0].x[0] == escape(EVIL)
    bands = band_curves({EVIL: {"x": [1, 2], "mean": [0.5, 0.6], "low": [0.4, 0.5], "high": [0.6, 0.7]}})
    assert all("<a" not in trace.name for trace in bands.data)


def test_escape_keeps_quotes_plotly_would_show_literally():
    assert escape('say "hi" <b>') == 'say "hi" &lt;b&gt;'


# ------------------------------------------------------------------ bands
def band(xs, means, spread=0.02):
    return {"x": xs, "mean": means, "low": [m - spread for m in means], "high": [m + spread for m in means]}


def test_band_curves_highlight_one_run_on_top():
    summary = {"entropy": band([40, 50, 60], [0.85, 0.9, 0.93]), "random": band([40, 50, 60], [0.85, 0.87, 0.9])}
    rounds = curve([40, 50, 60], [0.86, 0.91, float("nan")])
    fig = band_curves(summary, highlight=("entropy, seed 0", rounds))
    top = fig.data[-1]
    assert top.name == "one run: entropy, seed 0" and list(top.x) == [40, 50] and top.line.dash == "dash"
    fig = band_curves(summary, highlight=Curve("margin", 3, (40, 50), (0.8, 0.9)))
    assert fig.data[-1].name == "one run: margin, seed 3" and list(fig.data[-1].y) == [0.8, 0.9]
    plain = band_curves(summary)
    assert len(plain.data) == 4  # two bands, two means
    # The one run is drawn in the run's metric, as the bands are.
    from sklearn.metrics import f1_score

    from alsim import Config, run_loop
    from alsim.loop.pool import prepare

    truth = prepare(Config()).labels
    scored = list(run_loop(Config(metric="macro_f1")))
    fig = band_curves(summary, highlight=("macro", scored), metric="macro_f1")
    expected = [f1_score(truth[r.status == 0], r.predicted[r.status == 0], labels=range(10), average="macro")
                for r in scored]
    assert list(fig.data[-1].y) == pytest.approx(expected, abs=1e-12)
    assert plain.data[0].mode == "lines"  # a band has no markers at its corners


def test_band_curves_drop_nan_and_keep_a_sensible_range():
    fig = band_curves({"entropy": band([40, 50, 60], [0.95, 0.951, float("nan")], spread=0.0)})
    assert list(fig.data[1].x) == [40, 50]
    low, high = fig.layout.yaxis.range
    assert high - low >= MIN_SPAN - 1e-12


# ------------------------------------------------------------------ heatmaps
def test_confusion_heatmaps_one_panel_per_arm(exhausted):
    from alsim.evidence.narrative import last_evaluated

    names = [str(i) for i in range(10)]
    fig = confusion_heatmaps({"entropy": last_evaluated(exhausted), "random": exhausted[0], EVIL: None}, names)
    assert len(fig.data) == 2  # the empty panel has no trace
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "entropy<br><sup>round 2, 240 labels, accuracy 100.0%</sup>"
    assert titles[1] == "random<br><sup>round 0, 40 labels, accuracy 86.9%</sup>"
    assert titles[2].startswith("&lt;a href") and "<a" not in titles[2] and titles[2].endswith("<sup>no round</sup>")
    assert {fig.data[0].xaxis, fig.data[1].xaxis} == {"x", "x2"}
    np.testing.assert_array_equal(fig.data[0].z, last_evaluated(exhausted).confusion)
    counts = np.asarray(exhausted[0].confusion)
    assert (counts == 0).any() and (counts > 0).any()
    text = np.asarray(fig.data[1].text)  # a count in every cell that holds images, nothing where 0
    np.testing.assert_array_equal(text == "", counts == 0)
    np.testing.assert_array_equal(text[counts > 0].astype(int), counts[counts > 0])
    np.testing.assert_array_equal(fig.data[1].customdata, counts)  # the hover names every count


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_side_by_side_is_make_subplots_layout(n):
    from plotly.subplots import make_subplots

    titles = [f"panel {j}" for j in range(n)]
    spacing = 0.12 / n + 0.02
    expected = make_subplots(rows=1, cols=n, subplot_titles=titles, horizontal_spacing=spacing,
                             shared_yaxes=True).layout.to_plotly_json()
    expected.pop("template")
    got = go.Figure(layout=side_by_side(n, titles, spacing)).layout.to_plotly_json()
    got.pop("template")
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        if name == "annotations":
            for a, b in zip(got[name], value, strict=True):
                assert {k: v for k, v in a.items() if k != "x"} == {k: v for k, v in b.items() if k != "x"}
                assert a["x"] == pytest.approx(b["x"])
        else:
            assert {k: v for k, v in got[name].items() if k != "domain"} == \
                {k: v for k, v in value.items() if k != "domain"}, name
            assert got[name]["domain"] == pytest.approx(value["domain"]), name


def test_confusion_heatmaps_say_nothing_left_instead_of_nan(exhausted):
    fig = confusion_heatmaps({"entropy": exhausted[-1]}, [str(i) for i in range(10)])
    title = fig.layout.annotations[0].text
    assert "nothing was left to evaluate" in title and "nan" not in title


def test_confusion_heatmaps_titles_fit_many_arms():
    record = make_round(0, 5, 0.5, n_classes=2)
    fig = confusion_heatmaps({f"strategy with a long name {i}": record for i in range(6)}, ["a", "b"])
    assert all(len(a.text.split("<br>")[0]) <= 15 for a in fig.layout.annotations)


# ------------------------------------------------------------------ audit
@pytest.mark.parametrize("value, step", [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (24, 25), (251, 500),
                                         (10090, 20000)])
def test_nice_step(value, step):
    assert nice_step(value) == step


def audit_rounds():
    rounds = []
    for i, (added, precision, threshold) in enumerate([(10090, 0.99, 0.75), (7000, 0.95, 0.7), (0, None, 0.65)]):
        r = make_round(i, 600, 0.8)
        rounds.append(r.__class__(**{**r.__dict__, "threshold": threshold, "auto_added": added,
                                     "auto_precision": precision}))
    return rounds + [make_round(3, 600, 0.81)]


def test_audit_ticks_are_round_and_grids_line_up():
    fig = pseudo_label_audit(audit_rounds())
    left, right = fig.layout.yaxis, fig.layout.yaxis2
    assert list(left.tickvals) == [0, 5000, 10000, 15000, 20000] and len(left.tickvals) == AUDIT_TICKS + 1
    assert list(right.tickvals) == [0, 0.25, 0.5, 0.75, 1.0]
    np.testing.assert_allclose(np.divide(left.tickvals, left.range[1]), np.divide(right.tickvals, right.range[1]))


def test_audit_drops_rounds_without_precision():
    fig = pseudo_label_audit(audit_rounds())
    bars, precision, threshold = fig.data
    assert list(bars.x) == [0, 1, 2] and list(precision.x) == [0, 1] and list(threshold.x) == [0, 1, 2]


# ------------------------------------------------------------------ galleries
def test_uncertain_examples_unchanged():
    record = make_round(0, 5, 0.9, uncertainty=np.array([0.1, 0.9, 0.5, 0.9, 0.2]), status=[0, 0, 0, 1, 0])
    assert list(uncertain_examples(record, 2, most=True)) == [1, 2]
    assert list(uncertain_examples(record, 2, most=False)) == [0, 4]


def test_band_curves_mark_only_stopping_rules_that_fired():
    """A rule that fired on no seed counts as stopping at the last round; a marker there would read as a stop."""
    summary = {"entropy": {"x": [40, 50, 60], "mean": [0.8, 0.9, 0.95], "low": [0.7, 0.8, 0.9],
                           "high": [0.9, 1.0, 1.0]}}
    stops = {"entropy": [{"rule": "max_uncertainty", "stops_at": 45.0, "fired": 3, "n_seeds": 4},
                         {"rule": "change", "stops_at": 60.0, "fired": 0, "n_seeds": 4}]}
    fig = band_curves(summary, stops=stops)
    markers = [t for t in fig.data if t.name and ": stop by " in t.name]
    assert [t.name for t in markers] == ["entropy: stop by max uncertainty"]
    assert markers[0].x == (45.0,) and markers[0].y[0] == pytest.approx(0.85)
    legend = [t.name for t in fig.data if t.name and t.name.startswith("stop: ")]
    assert legend == ["stop: max uncertainty"]
