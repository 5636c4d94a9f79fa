"""AppTest tests of the Fashion-MNIST page."""

import pytest
from apptest_helpers import APP, TIMEOUT, charts, page_script, trace
from conftest import real_fashion
from streamlit.testing.v1 import AppTest

from alsim import get_preset, run_loop


def _open(monkeypatch, folder):
    monkeypatch.setenv("ALSIM_DATA_DIR", str(folder))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(page_script("Fashion-MNIST")).run()
    return at


def test_missing_data_shows_install_instructions(monkeypatch, tmp_path):
    at = _open(monkeypatch, tmp_path)
    assert not at.exception and not at.error
    assert "not installed" in at.warning[0].value
    assert any("apt-get install dataset-fashion-mnist" in c.value for c in at.code)


def test_selftraining_schedule_on_fashion_like_data(monkeypatch, fashion_like_dir):
    at = _open(monkeypatch, fashion_like_dir)
    at.sidebar.number_input(key="fm_per_class").set_value(5)
    at.sidebar.radio(key="fm_schedule").set_value("list")
    at.run()
    at.sidebar.text_input(key="fm_thresholds").set_value("0.3, 0.25, 0.2")
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    audit = charts(at)["fm_audit"]
    applied = trace(audit, "threshold")["y"]
    assert applied == [0.3, 0.25, 0.2][: len(applied)]
    table = next(d.value for d in at.dataframe if "pseudo-labels" in d.value.columns)
    assert (table["revealed labels"] == 50).all()  # pseudo-labels are never revealed labels
    # The training set at each fit, counted from the core's own per-point status of the same run.
    from alsim import Config, run_loop

    core = list(run_loop(Config(dataset="fashion-mnist", features="hog", model="linear_svc_newton",
                                initial="stratified", n_initial=50, strategy="none", self_training="pseudo",
                                schedule="list", thresholds=(0.3, 0.25, 0.2), batch_size=1, n_rounds=4,
                                evaluation="test")))
    assert table["training set"].tolist() == [int((r.status != 0).sum()) for r in core][: len(table)]
    heat = charts(at)["fm_confusion"]["data"][0]
    assert heat["name"] == "self-training"
    assert heat["x"][0] == "T-shirt/top" and heat["y"][6] == "Shirt"
    assert len(at.image) == 2  # one strip each of the most and least uncertain images
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["labels revealed"] == "50"


def test_hybrid_compares_three_arms_at_the_same_budget(monkeypatch, fashion_like_dir):
    at = _open(monkeypatch, fashion_like_dir)
    at.sidebar.radio(key="fm_mode").set_value("hybrid")
    at.run()
    at.sidebar.number_input(key="fm_per_class").set_value(5)
    at.sidebar.number_input(key="fm_k").set_value(10)
    at.sidebar.number_input(key="fm_rounds").set_value(4)
    at.sidebar.number_input(key="fm_upper").set_value(0.2)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = next(d.value for d in at.dataframe if "annotator labels" in d.value.columns)
    assert table["arm"].tolist() == ["hybrid", "active only", "self-training only"]
    hybrid_x = trace(charts(at)["fm_curve"], "hybrid")["x"]
    assert hybrid_x == [50, 60, 70, 80][: len(hybrid_x)]  # exactly k=10 revealed per round
    # the same annotator budget for the others: 50 initial + 3 rounds x 10
    assert table["annotator labels"].tolist() == [hybrid_x[-1], 80, 80]
    assert table["pseudo-labels"].tolist()[0] > 0 and table["pseudo-labels"].tolist()[1] == 0


@real_fashion
def test_real_fashion_default_matches_the_core(monkeypatch, real_fashion_dir):
    at = _open(monkeypatch, real_fashion_dir)
    assert not at.exception and not at.error
    expected = list(run_loop(get_preset("fashion-selftrain").replace(model="linear_svc_newton")))
    curve = trace(charts(at)["fm_curve"], "self-training")
    assert curve["y"] == pytest.approx([r.accuracy for r in expected], abs=1e-12)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["pseudo-labels"] == f"{expected[-1].n_pseudo:,}"


def test_a_single_fit_shows_no_change_against_itself(monkeypatch, fashion_like_dir):
    """Every training image revealed (60 per class here): one fit, round 0; its accuracy metric
    has no "vs round 0" change (a green +0.0 would compare the round with itself)."""
    at = _open(monkeypatch, fashion_like_dir)
    at.sidebar.number_input(key="fm_per_class").set_value(60)
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    metric = next(m for m in at.metric if m.label.endswith("test accuracy"))
    assert metric.value != "–" and metric.proto.delta == ""
    assert {m.label: m.value for m in at.metric}["labels revealed"] == "600"
    at.sidebar.number_input(key="fm_per_class").set_value(5)
    at.run()
    metric = next(m for m in at.metric if m.label.endswith("test accuracy"))
    assert metric.proto.delta.endswith(" points vs round 0")  # several fits: the change is shown
