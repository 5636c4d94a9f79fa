"""AppTest tests of the Compare page."""

import numpy as np
import pytest
from apptest_helpers import APP, TIMEOUT, charts, messages, page_script, trace
from streamlit.testing.v1 import AppTest
from test_ceiling import _forget_noise_sources, noise_config, noise_source  # noqa: F401 (a fixture)

from alsim import get_preset
from alsim.evidence.ceiling import ceiling
from alsim.evidence.compare import run_comparison, summarize


@pytest.fixture(scope="module")
def compare_app():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(page_script("Compare")).run()
    return at


def test_compare_page_renders_bands_and_headlines(compare_app):
    at = compare_app
    assert not at.exception and not at.error
    bands = charts(at)["bands"]
    names = [t["name"] for t in bands["data"] if not t["name"].endswith("band") and "stop" not in t["name"]]
    assert names == ["entropy", "margin", "least_confident", "random"]
    curves = [c for b in run_comparison(get_preset("digits-compare"), ["entropy", "random"], 20, 20) for c in b]
    expected = summarize(curves, target=0.5)
    entropy_mean = [s for s in expected.strategies if s.strategy == "entropy"][0].mean
    np.testing.assert_allclose(trace(bands, "entropy")["y"], entropy_mean, atol=1e-12)
    # 20 paired seeds (the default on digits): entropy is better than random, and only then green.
    assert any("random needs" in s.value and "better" in s.value for s in at.success)
    # Beside the verdicts: what the model reaches with every label, and chance; far apart on digits.
    reach = ceiling(get_preset("digits-compare"))
    assert reach.warning is None and reach.ceiling > 0.95
    assert f"**{reach.sentence()}**" in [m.value for m in at.markdown]
    table = at.dataframe[0].value
    assert list(table.index) == ["entropy", "margin", "least_confident", "random"]
    # Each enabled stopping rule: a marker on the mean curve at its mean stopping point, and a table row.
    stops = [s for s in expected.strategies if s.strategy == "entropy"][0].stops
    assert stops
    for stop in stops:
        marker = trace(bands, f"entropy: stop by {stop['rule'].replace('_', ' ')}")
        assert marker["x"][0] == pytest.approx(stop["stops_at"])
        assert marker["y"][0] == pytest.approx(np.interp(stop["stops_at"], trace(bands, "entropy")["x"], entropy_mean))
    legend = [t["name"] for t in bands["data"] if t["name"].startswith("stop: ")]
    assert sorted(legend) == sorted({f"stop: {stop['rule'].replace('_', ' ')}" for stop in stops})  # one per rule
    stop_table = at.dataframe[1].value
    shown = stop_table[stop_table["strategy"] == "entropy"]
    assert shown["stops at (labels)"].tolist() == [round(stop["stops_at"]) for stop in stops]
    assert set(stop_table["strategy"]) == {"entropy", "margin", "least_confident", "random"}


def test_compare_page_with_few_seeds_and_a_target(compare_app):
    at = compare_app
    at.number_input(key="cmp_seeds").set_value(3)
    at.number_input(key="cmp_target").set_value(0.9)
    at.multiselect(key="cmp_strategies").set_value(["entropy", "random"])
    at.run()
    assert not at.exception and not at.error
    headline = " ".join(m.value for m in list(at.success) + list(at.info))
    # With 3 paired seeds the smallest two-sided Wilcoxon p is 0.25: no claim is possible.
    assert "no detectable difference" in headline and "reaches 0.900" in headline
    assert not at.success


def test_compare_page_with_one_seed_gives_no_interval():
    """One seed has no spread: no bootstrap interval (a zero-width one read as certainty), "1 seed"."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(page_script("Compare")).run()
    at.number_input(key="cmp_seeds").set_value(1)
    at.number_input(key="cmp_target").set_value(0.9)
    at.multiselect(key="cmp_strategies").set_value(["entropy", "random"])
    at.run()
    assert not at.exception and not at.error
    line = next(m.value for m in list(at.success) + list(at.info) if "Verdict against random" in m.value)
    assert "Verdict against random over 1 seed: **no detectable difference**" in line
    assert "no interval from fewer than 3 seeds" in line and "95% interval" not in line


def test_compare_page_rejects_first_k_initial_labels(compare_app):
    at = compare_app
    at.sidebar.selectbox(key="cmp_initial").set_value("first")
    at.run()
    assert not at.exception
    assert any("initial 'first' gives every seed the same initial labels" in text for text in messages(at.error))


def test_compare_page_at_chance_shows_no_green_verdict():
    """Pure-noise features: entropy is "better" than random on every seed, shown as not evidence."""
    config = noise_config(noise_source())
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page(page_script("Compare"))
    for name in ("dataset", "features", "model", "kernel", "n_neighbors", "initial", "n_initial", "batch_size",
                 "n_rounds"):
        at.query_params[f"cmp_{name}"] = str(getattr(config, name))
    at.query_params["cmp_seeds"] = "8"
    at.query_params["cmp_strategies"] = ["entropy", "random"]
    at.run()
    assert not at.exception and not at.error
    reach = ceiling(config)
    assert not at.success  # nothing green at chance
    assert reach.warning in messages(at.warning)
    assert f"**{reach.sentence()}**" in [m.value for m in at.markdown]
    verdict = next(m.value for m in at.info if m.value.startswith("entropy"))
    assert "**better, but not evidence (accuracy near chance)**" in verdict and "labels saved" not in verdict


def test_provisional_verdict_says_how_many_seeds_it_rests_on():
    from test_compare import _curves

    from alsim.dashboard.compare_page import _provisional

    curves = _curves()  # 6 hand-made seeds: entropy above random on every one
    early = _provisional(summarize(curves[:6], target=0.0), 3, 20)
    assert early.startswith("**Provisional, 3 of 20 seeds**")
    assert "- entropy: AULC difference against random +" in early and "no verdict before 6 seeds" in early
    late_summary = summarize(curves, target=0.0)
    late = _provisional(late_summary, 6, 20)
    entropy = late_summary.strategies[0]
    assert entropy.verdict == "better"
    assert f"**better** (Holm-corrected p = {entropy.p_holm:.3g})" in late and "Provisional, 6 of 20 seeds" in late


def test_the_compare_sidebar_caption_leaves_out_the_strategy_it_has_no_control_for(monkeypatch, fashion_like_dir):
    """Without a strategy control the sidebar's strategy is the page's default, not the user's change:
    a preset with another strategy is not said to have been changed."""

    def sidebar():
        import streamlit as st

        from alsim.dashboard.controls import sidebar_config

        config, message = sidebar_config(prefix="cmp_", default_preset="digits-compare", with_strategy=False)
        st.write(f"message: {message}")

    monkeypatch.setenv("ALSIM_DATA_DIR", str(fashion_like_dir))
    at = AppTest.from_function(sidebar, default_timeout=TIMEOUT).run()
    at.selectbox(key="cmp_preset").set_value("fashion-hybrid").run()
    assert not at.exception and not at.error
    assert at.markdown[0].value == "message: None"  # valid settings: the caption is written
    from alsim.loop.presets import PRESETS

    assert PRESETS["fashion-hybrid"][1].strategy != PRESETS["digits-compare"][1].strategy
    assert at.caption[0].value == PRESETS["fashion-hybrid"][0]  # its own description: nothing changed


def test_the_final_bands_are_drawn_before_the_ceiling_is_measured(monkeypatch):
    """The ceiling is a fit with every label known: the seeds' bands do not wait for it (nor fail with it)."""
    import alsim.dashboard.compare_page as compare_page
    from alsim.common.errors import AlsimError

    def unmeasurable(config):
        raise AlsimError("the ceiling could not be measured (planted)")

    monkeypatch.setattr(compare_page, "ceiling", unmeasurable)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page(page_script("Compare"))
    at.query_params["cmp_seeds"] = "3"
    at.query_params["cmp_strategies"] = ["entropy", "random"]
    at.run()
    assert not at.exception
    assert any("the ceiling could not be measured (planted)" in text for text in messages(at.error))
    bands = charts(at)["bands"]
    assert bands["layout"]["title"]["text"] == "<b>Mean accuracy ± 1 std over 3 seeds</b>"
    curves = [c for b in run_comparison(get_preset("digits-compare"), ["entropy", "random"], 3) for c in b]
    np.testing.assert_allclose(trace(bands, "entropy")["y"], summarize(curves).strategies[0].mean, atol=1e-12)
