"""AppTest tests of the live page: drive the sidebar, assert on what is rendered."""

import json
import re

import numpy as np
import pytest
from apptest_helpers import APP, TIMEOUT, charts, messages, trace
from numpy.testing import assert_allclose
from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest
from test_ceiling import _forget_noise_sources, noise_config, noise_source  # noqa: F401 (a fixture)

from alsim import Config, run_loop
from alsim.evidence.ceiling import ceiling

SEED_A = [0.8690, 0.9018, 0.9214, 0.9491, 0.9556]


@pytest.fixture
def app():
    return AppTest.from_file(APP, default_timeout=TIMEOUT).run()


def _no_errors(at):
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, messages(at.error)


def test_defaults_show_experiment_a_without_a_click(app):
    _no_errors(app)
    figs = charts(app)
    curve = figs["curve"]
    entropy = trace(curve, "entropy")
    assert entropy["x"] == [40, 45, 50, 55, 60]
    assert_allclose(entropy["y"], SEED_A, atol=5e-5)  # the CLI's numbers
    random_arm = trace(curve, "random")
    expected_random = [r.accuracy for r in run_loop(Config(strategy="random"))]
    assert_allclose(random_arm["y"], expected_random, atol=1e-12)
    baseline = trace(curve, "first 60 labels")
    assert baseline["x"] == [60] and baseline["y"][0] == pytest.approx(0.9, abs=5e-5)
    heatmaps = figs["confusion"]  # one figure, the arms side by side
    assert [t["name"] for t in heatmaps["data"]] == ["entropy", "random"]
    final = {name: list(run_loop(Config(strategy=name)))[-1] for name in ("entropy", "random")}
    for t in heatmaps["data"]:
        z = np.array(t["z"])
        assert z.shape == (10, 10) and z.sum() == 270
        assert_allclose(z, final[t["name"]].confusion)
    assert len(app.image) == 2  # one strip of 8 most and one of 8 least uncertain images
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["entropy: accuracy at 60 labels"] == "0.9556" and metrics["first 60 labels"] == "0.9000"
    assert app.markdown[0].value == ("#### Active picking (entropy) reached 95.6% with 60 labels; "
                                     "random reached 93.3% with the same number.")
    buttons = {b.proto.label for b in app.get("download_button")}
    assert {"Rounds (CSV)", "Rounds (JSON)", "Config (JSON)"} <= buttons
    # Beside the takeaway: what the model reaches with every label, and chance (far apart here). The gain
    # over random is grey: entropy is ahead in only 3 of the 5 seeds of the spread, so one run's +0.0222 is
    # not evidence.
    reach = ceiling(Config())
    assert f"**{reach.sentence()}**" in [c.value for c in app.caption]
    assert reach.warning is None and not any("chance" in text for text in messages(app.warning))
    assert app.metric[0].delta == "+0.0222 vs random"
    assert "entropy was ahead in 3 of 5 seeds" in next(m.value for m in app.markdown if "over 5 seeds" in m.value)
    assert app.metric[0].proto.color == MetricProto.MetricColor.GRAY


def test_curve_marks_where_each_stopping_rule_stops(app):
    curve = charts(app)["curve"]
    entropy = trace(curve, "entropy")
    # Experiment A: label spreading is confident from the start (mean normalised uncertainty
    # below 0.05 at 40 labels); the max-uncertainty rule fires at 50; the others never fire.
    for rule, x in (("uncertainty", 40), ("max uncertainty", 50)):
        marker = trace(curve, f"entropy: stop by {rule}")
        assert marker["x"] == [x]
        assert marker["y"][0] == entropy["y"][entropy["x"].index(x)]  # on the curve
    names = [t.get("name") for t in curve["data"]]
    assert "entropy: stop by stabilizing" not in names and "entropy: stop by change" not in names
    assert "stop: uncertainty" in names and "stop: max uncertainty" in names  # one legend entry per rule
    listed = [m.value.replace("\\", "") for m in app.markdown if "never stops" in m.value]  # unescaped
    assert listed and "**entropy**: overall uncertainty: stops at 40 labels, accuracy then 0.8690" in listed[0]
    assert "**random**: stabilizing predictions: never stops within 60 labels" in listed[0]
    assert "nan" not in listed[0]


def test_bands_over_seeds_with_the_single_run_highlighted(app):
    from alsim.evidence.compare import run_comparison

    curve = charts(app)["curve"]  # one chart: this run's lines over the seeds' bands
    names = [t.get("name") for t in curve["data"]]
    assert {"entropy band", "random band", "entropy: mean of 5 seeds", "random: mean of 5 seeds"} <= set(names)
    assert "bands" not in charts(app)  # no second chart with the same axes
    curves = [c for batch in run_comparison(Config(initial="random"), ["entropy", "random"], 5, seeds_per_batch=5)
              for c in batch]
    for name in ("entropy", "random"):
        mean = np.mean([c.accuracy for c in curves if c.strategy == name], axis=0)
        std = np.std([c.accuracy for c in curves if c.strategy == name], axis=0, ddof=1)
        assert_allclose(trace(curve, f"{name}: mean of 5 seeds")["y"], mean, atol=1e-12)
        band = trace(curve, f"{name} band")["y"]  # upper edge, then the lower edge reversed
        assert_allclose(band[:len(mean)], mean + std, atol=1e-12)
        assert_allclose(band[len(mean):], (mean - std)[::-1], atol=1e-12)
    assert_allclose(trace(curve, "entropy")["y"], SEED_A, atol=5e-5)  # this run, on top
    assert names.index("entropy") > names.index("entropy band")
    verdict = next(m.value for m in app.markdown if "over 5 seeds" in m.value)
    assert "could be luck" in verdict or "too few for a significance test" in verdict
    assert any("random initial labels" in c.value for c in app.caption)


def test_the_recall_heatmap_of_a_balanced_pool_is_built_when_its_expander_opens(app):
    _no_errors(app)
    assert "recall" not in charts(app)  # closed by default on a balanced pool: nothing sent
    app.session_state["recall-open-False"] = True
    app.run()
    _no_errors(app)
    rounds = list(run_loop(Config()))
    z = np.array(charts(app)["recall"]["data"][0]["z"], dtype=float)
    assert_allclose(z, np.array([r.recall for r in rounds]).T, atol=1e-12, equal_nan=True)


def test_every_chart_carries_its_look_and_plain_arrays(app):
    """Drawn through alsim.dashboard.charts: no template, no Streamlit theme, no typed arrays (see there)."""
    _no_errors(app)
    app.session_state["recall-open-False"] = True
    app.run()
    elements = app.get("plotly_chart")
    assert len(elements) >= 3  # the curve, the map, the confusion heatmaps, the recall heatmap
    for element in elements:
        spec = json.loads(element.proto.spec)
        assert element.proto.theme == "" and "template" not in spec["layout"], element.proto.id
        assert re.fullmatch("[0-9a-f]{16}", spec["layout"]["datarevision"]) and "bdata" not in element.proto.spec


def test_the_rounds_table_shows_a_dash_where_a_value_does_not_apply(app):
    """Round 0 has no pseudo-labels, so no pseudo-label precision: a dash, never a raw None."""
    app.sidebar.radio(key="self_training").set_value("pseudo")
    app.session_state["rounds-open"] = True
    app.run()
    _no_errors(app)
    table = next(d.value for d in app.dataframe if "pseudo_precision" in d.value.columns)
    rounds = list(run_loop(app_config := Config(self_training="pseudo")))
    assert not table.isna().any().any()
    entropy = table[table["arm"] == "entropy"]
    assert entropy["pseudo_precision"].tolist() == ["–" if r.n_pseudo == 0 else f"{r.pseudo_precision:.4f}"
                                                    for r in rounds]
    assert rounds[0].n_pseudo == 0 and app_config.self_training == "pseudo"


def test_a_new_run_shows_its_last_round_everywhere(app):
    app.sidebar.selectbox(key="preset").set_value("digits-compare")
    app.run()
    _no_errors(app)
    slider = app.select_slider[0]
    assert slider.value == 10 and slider.label == "Round"
    heatmaps = charts(app)["confusion"]
    expected = list(run_loop(Config(dataset="digits", initial="random", batch_size=10, n_rounds=11)))[-1]
    assert np.array(heatmaps["data"][0]["z"]).sum() == int(expected.confusion.sum())
    assert "round 10" in heatmaps["layout"]["annotations"][0]["text"]
    assert not app.dataframe  # the per-class report is built only while its expander is open
    app.session_state["per-class-open"] = True
    app.run()
    assert [c.value for c in app.caption if c.value.startswith("Round ")] == [
        "Round 10 (entropy), measured on the still-unlabeled pool."]
    table = app.dataframe[0].value
    assert table.loc["0", "support"] == int(expected.confusion[0].sum())  # the round shown, class 0
    app.sidebar.number_input(key="n_rounds").set_value(4)
    app.run()
    assert app.select_slider[0].value == 3
    assert "round 3" in charts(app)["confusion"]["layout"]["annotations"][0]["text"]
    assert any(c.value.startswith("Round 3 (entropy)") for c in app.caption)


def test_a_pool_that_runs_out_never_shows_nan(app):
    app.sidebar.number_input(key="batch_size").set_value(100)
    app.run()
    _no_errors(app)
    shown = [m.value for m in app.metric] + [m.value for m in app.markdown] + [c.value for c in app.caption]
    assert not any("nan" in text for text in shown), shown
    assert any("nothing was left to measure accuracy on" in i.value for i in app.info)
    assert app.select_slider[0].value == 2  # the last round with an accuracy
    for t in charts(app)["confusion"]["data"]:
        assert np.array(t["z"]).sum() > 0
    assert any("confident about every unlabeled image" in i.value for i in app.info)


def test_presenter_view_animates_the_rounds():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["present"] = "1"
    at.run()
    _no_errors(at)
    figs = charts(at)
    curve = figs["curve-present"]
    assert len(curve["frames"]) == 5
    assert trace(curve["frames"][-1], "entropy")["x"] == [40, 45, 50, 55, 60]
    assert [b["label"] for b in curve["layout"]["updatemenus"][0]["buttons"]] == ["▶ Play", "❚❚ Pause"]
    assert at.markdown[0].value.startswith("# Active picking (entropy) reached 95.6%")
    assert "confusion" not in figs and not at.warning
    assert list(figs) == ["curve-present", "present-map-entropy", "present-map-random"]  # the animation, the maps
    for name in ("entropy", "random"):  # each arm's picks, numbered by the round that made them
        rounds = list(run_loop(Config(strategy=name)))
        picks = trace(figs[f"present-map-{name}"], "picked (number: round)")
        assert picks["customdata"] == np.concatenate([r.queried for r in rounds]).tolist()
        assert picks["text"] == [str(r.index + 1) for r in rounds for _ in r.queried]
    assert any(m.value.startswith("**Spread over seeds.**") and "over 5 seeds" in m.value for m in at.markdown)


def test_batch_size_and_strategy_change_the_run(app):
    app.sidebar.number_input(key="batch_size").set_value(10)
    app.sidebar.selectbox(key="strategy").set_value("margin")
    app.run()
    _no_errors(app)
    curve = charts(app)["curve"]
    margin = trace(curve, "margin")
    assert margin["x"] == [40, 50, 60, 70, 80]
    expected = [r.accuracy for r in run_loop(Config(batch_size=10, strategy="margin"))]
    assert_allclose(margin["y"], expected, atol=1e-12)
    assert trace(curve, "first 80 labels")["x"] == [80]


def test_gamma_changes_the_model(app):
    app.sidebar.number_input(key="gamma").set_value(0.05)
    app.run()
    _no_errors(app)
    got = trace(charts(app)["curve"], "entropy")["y"]
    expected = [r.accuracy for r in run_loop(Config(gamma=0.05))]
    assert_allclose(got, expected, atol=1e-12)
    assert abs(got[0] - 0.8690) > 1e-3  # a different model, not the default


def test_noisy_annotators_show_the_precision_of_the_revealed_labels_beside_the_accuracy():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"oracle_noise": "0.3", "annotators": "3"})
    at.run()
    _no_errors(at)
    assert at.sidebar.number_input(key="oracle_noise").value == pytest.approx(0.3)
    assert at.sidebar.selectbox(key="oracle_noise_model").value == "uniform"
    rounds = list(run_loop(Config(oracle_noise=0.3, annotators=3)))
    last = rounds[-1]
    expected = (f"revealed labels {last.revealed_precision:.1%} correct ({3 * last.n_labeled:,} annotations "
                f"for {last.n_labeled:,} images)")
    assert last.revealed_precision < 1
    assert any(expected in c.value for c in at.caption), [c.value for c in at.caption]


def test_threshold_schedule_shows_the_pseudo_label_audit(app):
    app.sidebar.selectbox(key="dataset").set_value("digits")
    app.sidebar.selectbox(key="initial").set_value("random")
    app.sidebar.radio(key="self_training").set_value("pseudo")
    app.run()
    app.sidebar.selectbox(key="schedule").set_value("list")
    app.run()
    app.sidebar.text_input(key="thresholds").set_value("0.99, 0.95, 0.9, 0.8")
    app.run()
    _no_errors(app)
    figs = charts(app)
    audit = figs["audit"]
    config = Config(dataset="digits", initial="random", self_training="pseudo", schedule="list",
                    thresholds=(0.99, 0.95, 0.9, 0.8))
    rounds = list(run_loop(config))
    applied = [r for r in rounds if r.threshold is not None]
    assert len(applied) >= 1
    assert trace(audit, "threshold")["y"] == [r.threshold for r in applied]
    assert trace(audit, "threshold")["y"] == [0.99, 0.95, 0.9, 0.8][: len(applied)]
    assert trace(audit, "auto-labeled")["y"] == [r.auto_added for r in applied]
    table = next(d.value for d in app.dataframe if "pseudo-labels" in d.value.columns)
    assert table["pseudo-labels"].tolist() == [r.n_pseudo for r in rounds]
    assert table["revealed labels"].tolist() == [40 + 5 * i for i in range(len(rounds))]  # pseudo never count
    assert rounds[-1].n_pseudo > 0


def test_round_slider_steps_through_confusion_matrices(app):
    app.select_slider[0].set_value(0)
    app.run()
    _no_errors(app)
    z = np.array(charts(app)["confusion"]["data"][0]["z"])
    assert z.sum() == 290  # round 0: 330 - 40 unlabeled points
    assert "round 0" in charts(app)["confusion"]["layout"]["annotations"][0]["text"]
    assert any(c.value.startswith("Unlabeled pool images in round 0") for c in app.caption)  # galleries


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("batch_size", 400, "batch_size must be <= the 290 unlabeled pool points"),
        ("n_initial", 331, "n_initial must be <= the pool size 330"),
    ],
)
def test_invalid_combinations_show_a_message_not_a_traceback(app, key, value, message):
    app.sidebar.number_input(key=key).set_value(value)
    app.run()
    assert not app.exception
    assert any(message in text for text in messages(app.error))


def test_missing_fashion_mnist_shows_install_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("ALSIM_DATA_DIR", str(tmp_path))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.sidebar.selectbox(key="dataset").set_value("fashion-mnist")
    at.run()
    assert not at.exception
    assert any("apt-get install dataset-fashion-mnist" in text for text in messages(at.error))


def test_preset_loads_every_control(app):
    app.sidebar.selectbox(key="preset").set_value("digits-compare")
    app.run()
    _no_errors(app)
    assert app.sidebar.number_input(key="batch_size").value == 10
    assert app.sidebar.selectbox(key="dataset").value == "digits"
    assert trace(charts(app)["curve"], "entropy")["x"] == list(range(40, 141, 10))


def test_a_url_with_config_fields_reproduces_the_cli_run():
    """URL parameters are the config's own field=value pairs, as on the command line."""
    fields = {"dataset": "digits", "initial": "random", "strategy": "margin", "batch_size": "8",
              "n_rounds": "4", "seed": "3", "self_training": "pseudo", "schedule": "list",
              "thresholds": "0.999, 0.99, 0.98"}
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in fields.items():
        at.query_params[key] = value
    at.run()
    _no_errors(at)
    config = Config().with_overrides([f"{k}={v}" for k, v in fields.items()])
    expected = [r.accuracy for r in run_loop(config)]
    assert_allclose(trace(charts(at)["curve"], "margin")["y"], expected, atol=1e-12)


def _noise_page(config):
    """The live page on a pure-noise data set, its settings given in the URL."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name in ("dataset", "features", "model", "kernel", "n_neighbors", "initial", "n_initial", "batch_size",
                 "n_rounds"):
        at.query_params[name] = str(getattr(config, name))
    return at.run()


def test_at_chance_the_gain_over_random_is_not_green():
    """Pure-noise features: entropy ends ahead of random, but accuracy stays near chance."""
    config = noise_config(noise_source())
    at = _noise_page(config)
    _no_errors(at)
    reach = ceiling(config)
    assert reach.warning in messages(at.warning)
    assert f"**{reach.sentence()}**" in [c.value for c in at.caption]
    assert "Accuracy stays near chance" in at.markdown[0].value
    assert at.metric[0].value != at.metric[1].value  # the two arms differ...
    assert at.metric[0].proto.color == MetricProto.MetricColor.GRAY  # ...but no colour says who won
    assert not at.success


def test_the_gain_over_random_is_green_only_when_every_seed_agrees():
    """A 1,000-image digits pool, 20 random initial labels, batches of 20: entropy is ahead of random in
    all 5 seeds of the spread, by more than their spread, so this run's gain is drawn green."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for name, value in dict(dataset="digits", pool_size="1000", initial="random", n_initial="20", batch_size="20",
                            n_rounds="8").items():
        at.query_params[name] = value
    at.run()
    _no_errors(at)
    verdict = next(m.value for m in at.markdown if "over 5 seeds" in m.value)
    assert "entropy was ahead in 5 of 5 seeds" in verdict and "Every seed agrees" in verdict
    assert at.metric[0].delta.startswith("+") and at.metric[0].proto.color == MetricProto.MetricColor.GREEN


def test_seeds_agree_and_the_spread_verdict_on_hand_made_curves():
    from alsim.dashboard.live import seeds_agree, spread_verdict
    from alsim.evidence.compare import Curve

    def curves(mine, random):
        return ([Curve("entropy", s, (10, 20), (0.5, a)) for s, a in enumerate(mine)]
                + [Curve("random", s, (10, 20), (0.5, r)) for s, r in enumerate(random)])

    ahead = curves([0.90, 0.91, 0.92], [0.80, 0.81, 0.82])
    assert seeds_agree(ahead, "entropy") == 1 and "Every seed agrees" in spread_verdict(ahead, "entropy")
    behind = curves([0.80, 0.81, 0.82], [0.90, 0.91, 0.92])
    assert seeds_agree(behind, "entropy") == -1
    mixed = curves([0.90, 0.80, 0.92], [0.85, 0.85, 0.85])  # ahead in 2 of 3
    assert seeds_agree(mixed, "entropy") == 0 and "could be luck" in spread_verdict(mixed, "entropy")
    close = curves([0.86, 0.90, 0.94], [0.85, 0.89, 0.93])  # ahead in every seed, by less than the spread
    assert seeds_agree(close, "entropy") == 0
    equal = curves([0.9, 0.8, 0.7], [0.9, 0.8, 0.7])
    assert seeds_agree(equal, "entropy") == 0
    assert spread_verdict(equal, "entropy").endswith("The two are equal on every seed.")
    assert seeds_agree(ahead, "random") == 0 and seeds_agree([], "entropy") == 0


def test_an_annotator_wrong_almost_always_gives_accuracy_below_chance_and_says_so():
    """Labels flipped 999 times in 1,000: the curves end far below the largest class's share. The page
    calls that below chance (systematically wrong answers), not near it, and colours no winner."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["oracle_noise"] = "0.999"
    at.run()
    _no_errors(at)
    finals = [r.accuracy for r in run_loop(Config(oracle_noise=0.999))][-1:]
    assert finals[0] < 0.05
    assert "Accuracy stays below chance" in at.markdown[0].value
    assert any(text.startswith("Accuracy stays below chance: the best strategy ends at") for text in messages(at.warning))
    assert at.metric[0].proto.color == MetricProto.MetricColor.GRAY


def test_a_large_pool_measures_its_ceiling_on_request(monkeypatch):
    """Above QUICK_POOL the ceiling waits for a click; chance and the curves' warning do not."""
    import alsim.dashboard.live as live

    monkeypatch.setattr(live, "QUICK_POOL", 100)
    config = noise_config(noise_source())
    at = _noise_page(config)
    _no_errors(at)
    unmeasured = ceiling(config, measure=False)
    assert unmeasured.ceiling is None and f"**{unmeasured.sentence()}**" in [c.value for c in at.caption]
    assert any(text.startswith("Accuracy stays near chance") for text in messages(at.warning))
    assert at.metric[0].proto.color == MetricProto.MetricColor.GRAY
    at.button(key="measure_ceiling").click().run()
    _no_errors(at)
    reach = ceiling(config, measure=False)
    assert reach.ceiling is not None and f"**{reach.sentence()}**" in [c.value for c in at.caption]
    assert reach.warning in messages(at.warning)


def test_the_sidebar_says_when_the_data_set_is_not_the_presets(tmp_path):
    from test_importers import write_image_folder

    from alsim.data import store as datastore

    entry = datastore.import_path(write_image_folder(tmp_path / "pets"), name="my pets")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["dataset"] = entry.id
    at.run()
    captions = [c.value.replace("\\", "") for c in at.sidebar.caption]  # shown with Markdown escapes
    assert any("Started from digits-tutorial" in c and "my pets" in c and "digits-tutorial)" in c for c in captions)
    assert not any(c.startswith("Experiment A") for c in captions)  # not the preset's own description


def test_the_preset_caption_says_what_was_changed_from_it(app):
    """The preset's description is shown while the controls hold its values; a changed control
    replaces it with what changed (the description would describe another run)."""
    from alsim import get_preset

    captions = [c.value for c in app.sidebar.caption]
    assert captions[0].startswith("Experiment A")
    app.sidebar.number_input(key="n_initial").set_value(1)
    app.sidebar.number_input(key="batch_size").set_value(7)
    app.run()
    first = app.sidebar.caption[0].value.replace("\\", "")
    preset = get_preset("digits-tutorial")
    assert first == f"Started from digits-tutorial, changed: n_initial {preset.n_initial} → 1, batch_size " \
                    f"{preset.batch_size} → 7."
    assert not any(c.value.startswith("Experiment A") for c in app.sidebar.caption)
    app.sidebar.number_input(key="n_initial").set_value(preset.n_initial)
    app.sidebar.number_input(key="batch_size").set_value(preset.batch_size)
    app.run()
    assert app.sidebar.caption[0].value.startswith("Experiment A")  # back to the preset's own values


def test_embedding_images_shows_a_progress_bar_with_the_time_left(monkeypatch):
    from alsim.dashboard import render

    seen = []

    class Slot:
        def progress(self, value, text=""):
            seen.append((value, text))

        def empty(self):
            seen.append("cleared")

    def fake_prepare(config, progress=None):
        if progress is None:
            return "no bar"
        for done in (0, 100, 330):
            progress(done, 330)
        return "prepared"

    monkeypatch.setattr(render, "prepare", fake_prepare)
    monkeypatch.setattr(render.st, "empty", lambda: Slot())
    clock = iter([0.0, 0.0, 1.0, 2.0, 3.0, 4.0])
    monkeypatch.setattr(render.time, "perf_counter", lambda: next(clock))
    assert render.prepare_shown(Config(features="pretrained")) == "prepared"
    texts = [s[1] for s in seen if s != "cleared"]
    assert "100 of 330, about 2 s left" in texts[0] and texts[-1].endswith("330 of 330") and seen[-1] == "cleared"
    assert render.prepare_shown(Config(features="raw")) == "no bar"  # pixel features are quick: no bar


def test_a_kernel_too_large_for_the_pool_offers_the_knn_kernel(monkeypatch):
    """A data set too large for the sidebar's rbf kernel (Fashion-MNIST from a digits preset): the
    error says why, and one click switches the kernel to knn and runs."""
    import alsim.learn.graph as graph_module

    monkeypatch.setattr(graph_module, "DENSE_KERNEL_LIMIT_BYTES", 10_000)  # 330 points' kernel is 0.8 MiB
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params["gamma"] = "0.2468"  # settings no other test runs: finished runs are kept per server
    at.run()
    assert not at.exception
    assert any(text.startswith("an rbf kernel on 330 points is a dense") for text in messages(at.error))
    at.button(key="use_knn").click().run()
    _no_errors(at)
    assert at.sidebar.selectbox(key="kernel").value == "knn"
    expected = list(run_loop(Config(kernel="knn", gamma=0.2468)))
    assert_allclose(trace(charts(at)["curve"], "entropy")["y"], [r.accuracy for r in expected], atol=1e-12)
