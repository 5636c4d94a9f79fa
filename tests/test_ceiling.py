"""The ceiling beside chance: what the features can reach, and no verdict read as success at chance."""

from __future__ import annotations

import io
import itertools
import json
import math

import numpy as np
import pytest

from alsim import get_preset
from alsim.data.datasets import Dataset
from alsim.data.sources import SourceInfo, register_source
from alsim.evidence.ceiling import Ceiling, best_probe, ceiling, ceiling_key, probe_features, reference_config
from alsim.evidence.chance import ceiling_warning, chance_level, curves_warning, near_chance, near_chance_margin
from alsim.evidence.compare import Curve, full_label_accuracy, run_comparison, summarize
from alsim.loop.config import Config
from alsim.storage.memory import shared_cache

_NUMBERS = itertools.count()
_REGISTERED: list[str] = []
#: A class mix where uncertainty sampling beats random on pure noise when scored on the
#: still-unlabeled pool: it labels the rare classes, and what is left is more of the largest.
SKEWED = (0.7, 0.1, 0.1, 0.1)


def noise_source(n: int = 300, weights=SKEWED, dims: int = 16, seed: int = 0) -> str:
    """A data source of random embeddings (``features=('precomputed',)``) whose labels the features
    do not carry. Returns its name (removed after the test)."""
    name = f"noise-{next(_NUMBERS)}"  # never reused: loaded data sets are kept per name
    rng = np.random.default_rng(seed)
    labels = rng.choice(len(weights), n, p=weights)
    dataset = Dataset(name=name, images=None, labels=labels,
                      class_names=tuple(f"shape {i}" for i in range(len(weights))), source="memory",
                      embeddings=rng.normal(size=(n, dims)))
    register_source(SourceInfo(name=name, description="random embeddings", load=lambda: dataset,
                               features=("precomputed",), image_shape=None, has_test=False, locator=lambda: name))
    _REGISTERED.append(name)
    return name


@pytest.fixture(autouse=True)
def _forget_noise_sources():
    yield
    from alsim.data import sources

    with sources._LOCK:
        for name in _REGISTERED:
            sources._SOURCES.pop(name, None)
    _REGISTERED.clear()


def noise_config(name: str, **changes) -> Config:
    """A short run on a noise source: label spreading on a 10-NN graph, scored on the unlabeled pool."""
    values = dict(dataset=name, features="precomputed", model="label_spreading", kernel="knn", n_neighbors=10,
                  initial="random", n_initial=8, batch_size=10, n_rounds=10, evaluation="pool")
    return Config(**{**values, **changes})


def _plain_chance(labels) -> float:
    labels = np.asarray(labels)
    known = labels[labels >= 0]
    return np.bincount(known).max() / len(known)


# --------------------------------------------------------------------------- the rule
def test_near_chance_margin_golden():
    # A quarter of what is left above chance, unless sampling noise (3 standard errors) is larger.
    assert near_chance_margin(0.25, 600) == pytest.approx(0.1875)
    assert near_chance_margin(0.10, 1797) == pytest.approx(0.225)
    assert near_chance_margin(0.9, 300) == pytest.approx(3 * math.sqrt(0.09 / 300))
    assert near_chance_margin(0.5, 20) == pytest.approx(3 * math.sqrt(0.25 / 20))


@pytest.mark.parametrize("accuracy, chance, n, near", [
    (0.52, 0.25, 600, False),  # the ceiling: weak, but well above chance
    (0.43, 0.25, 600, True),
    (0.97, 0.90, 300, False),  # a 90% majority class: 0.97 removes 70% of its errors
    (0.93, 0.90, 300, True),
    (float("nan"), 0.25, 600, True),
])
def test_near_chance(accuracy, chance, n, near):
    assert near_chance(accuracy, chance, n) is near
    assert (ceiling_warning(accuracy, chance, n) is not None) is near


def test_curves_warning_speaks_when_the_best_final_accuracy_is_near_chance():
    # The issue: a ceiling of 0.52 is not near chance 0.25, but curves ending at 0.30 are.
    assert ceiling_warning(0.52, 0.25, 600) is None
    text = curves_warning([0.28, 0.30, float("nan")], 0.25, 600)
    assert "30.0%" in text and "25.0%" in text and "not evidence" in text
    assert curves_warning([0.28, 0.45], 0.25, 600) is None
    assert curves_warning([float("nan")], 0.25, 600) is None


def test_an_accuracy_well_below_chance_is_called_below_chance_not_near_it():
    """Any answer that ignores the image gets at least the smallest class's share. 1.1% against
    a floor of 9.9% (an annotator wrong 999 times in 1,000) is systematic, not guessing: below
    that floor by far more than three standard errors. Within them, or with no floor, near chance;
    and 52% against a 62.7% majority is what guessing by the classes' shares gets, so near too."""
    from alsim.evidence.chance import below_chance, chance_words, guess_floor

    labels = np.array([0] * 5 + [1] * 3 + [2] * 2 + [-1] * 4)
    assert guess_floor(labels) == pytest.approx(0.2) and chance_level(labels) == pytest.approx(0.5)
    assert guess_floor(np.array([-1, -1])) != guess_floor(np.array([-1, -1]))  # nan
    assert guess_floor(labels, 3) == pytest.approx(0.2) and guess_floor(labels, 4) == 0.0  # a class never true
    se = math.sqrt(0.099 * 0.901 / 330)
    assert below_chance(0.011, 0.099, 330) and chance_words(0.011, 0.099, 330) == "below chance"
    assert not below_chance(0.099 - 2.9 * se, 0.099, 330) and below_chance(0.099 - 3.1 * se, 0.099, 330)
    assert chance_words(0.011, None, 330) == "near chance" and not below_chance(float("nan"), 0.099, 330)
    assert chance_words(0.52, 0.373, 300) == "near chance"
    text = curves_warning([0.011, 0.004], 0.127, 330, floor=0.099)
    assert text.startswith("Accuracy stays below chance: the best strategy ends at 1.1%, below the 9.9% that any "
                           "answer ignoring the image gets at least (always answering the largest class gets "
                           "12.7%)") and "not evidence" in text
    assert curves_warning([0.011], 0.127, 330).startswith("Accuracy stays near chance")  # no floor given
    text = ceiling_warning(0.0, 1 / 3, 60, floor=1 / 3)
    assert text.startswith("With every label the model reaches 0.0%, below the 33.3% that any answer ignoring the "
                           "image gets at least: its answers are systematically wrong")
    assert curves_warning([0.11], 0.127, 330, floor=0.099).startswith("Accuracy stays near chance")


def test_chance_is_the_largest_share_of_the_known_labels():
    labels = np.array([0, 0, 0, 1, 2, -1, -1, 2])
    assert chance_level(labels) == pytest.approx(_plain_chance(labels)) == pytest.approx(0.5)
    assert math.isnan(chance_level(np.array([-1, -1])))


# --------------------------------------------------------------------------- ceiling
def test_noise_features_give_a_ceiling_near_chance_and_a_warning():
    config = noise_config(noise_source())
    reach = ceiling(config)
    from alsim.loop.pool import prepare

    assert reach.chance == pytest.approx(_plain_chance(prepare(config).labels))
    assert reach.evaluated_on == "pool" and reach.n == 300
    assert abs(reach.ceiling - reach.chance) < near_chance_margin(reach.chance, reach.n)
    assert reach.warning is not None and f"{100 * reach.ceiling:.1f}%" in reach.warning
    assert "not evidence" in reach.warning


def test_digits_ceiling_is_far_above_chance_without_a_warning():
    config = get_preset("digits-tutorial")
    reach = ceiling(config)
    from alsim.loop.pool import prepare

    labels = prepare(config).labels
    assert reach.chance == pytest.approx(np.bincount(labels).max() / len(labels))
    assert reach.ceiling == pytest.approx(full_label_accuracy(config))
    assert reach.ceiling > 0.95 and reach.chance < 0.15 and reach.warning is None
    assert reach.sentence() == (f"ceiling {100 * reach.ceiling:.1f}% (the model with every label), "
                                f"chance {100 * reach.chance:.1f}%")


def split_source(test: np.ndarray, rng) -> str:
    """A registered data set of random embeddings: 200 pool points of 4 balanced classes, and a
    test split with the labels ``test``. Returns its name."""
    pool = np.arange(200) % 4
    name = f"split-{next(_NUMBERS)}"
    dataset = Dataset(name=name, images=None, labels=pool, class_names=("a", "b", "c", "d"), test_labels=test,
                      embeddings=rng.normal(size=(200, 8)), test_embeddings=rng.normal(size=(len(test), 8)))
    register_source(SourceInfo(name=name, description="with a test split", load=lambda: dataset,
                               features=("precomputed",), image_shape=None, has_test=True, locator=lambda: name))
    _REGISTERED.append(name)
    return name


def test_with_a_test_split_chance_is_that_of_the_test_split():
    """Pool classes balanced, test split skewed: scored on the test split, chance is the test split's."""
    rng = np.random.default_rng(1)
    test = rng.choice(4, 100, p=(0.55, 0.15, 0.15, 0.15))
    name = split_source(test, rng)
    on_test = ceiling(Config(dataset=name, features="precomputed", model="logistic_regression", evaluation="test"))
    assert on_test.evaluated_on == "test" and on_test.n == 100
    assert on_test.chance == pytest.approx(np.bincount(test).max() / len(test)) and on_test.chance > 0.4
    on_pool = ceiling(Config(dataset=name, features="precomputed", model="logistic_regression", evaluation="pool"))
    assert on_pool.evaluated_on == "pool" and on_pool.chance == pytest.approx(0.25)
    assert on_test.warning is not None and on_pool.warning is not None
    # "both" scores the ceiling on the test split, so chance is the test split's too.
    on_both = ceiling(Config(dataset=name, features="precomputed", model="logistic_regression", evaluation="both"))
    assert on_both.evaluated_on == "test" and on_both.n == 100 and on_both.chance == on_test.chance


def test_the_guess_floor_counts_a_class_the_scored_labels_lack():
    """Four classes, the test split has only three: answering the fourth always scores 0, so the floor is 0
    and an accuracy just under the smallest present class's share is not called below chance."""
    rng = np.random.default_rng(2)
    test = rng.choice(3, 100)
    name = split_source(test, rng)
    reach = ceiling(Config(dataset=name, features="precomputed", model="logistic_regression", evaluation="test"))
    assert reach.evaluated_on == "test" and reach.floor == 0.0
    smallest = np.bincount(test).min() / len(test)
    assert "below" not in ceiling_warning(smallest - 0.05, reach.chance, 100, reach.floor)


def test_an_accuracy_exactly_at_the_margin_above_chance_is_not_near_chance():
    """Near chance means less than the margin above it: at chance 0.5 on 10,000 points the margin is the
    skill floor's 0.125 (the noise term is 0.015), all exact in binary."""
    assert near_chance_margin(0.5, 10_000) == 0.125
    assert near_chance(0.625, 0.5, 10_000) is False
    assert near_chance(0.6249, 0.5, 10_000) is True
    assert ceiling_warning(0.625, 0.5, 10_000) is None


def test_the_ceiling_is_shared_by_configs_that_differ_only_in_the_run():
    config = noise_config(noise_source())
    other = config.replace(seed=5, strategy="margin", n_rounds=3, stop_kappa=None, initial="stratified")
    assert ceiling_key(config) == ceiling_key(other)
    assert ceiling_key(config) != ceiling_key(config.replace(n_neighbors=5))
    values = shared_cache("values")
    builds = values.builds
    first = ceiling(config)
    assert ceiling(other) is first and values.builds == builds + 1
    assert first.ceiling == full_label_accuracy(reference_config(config))


def test_unknown_labels_are_neither_trained_on_nor_scored(monkeypatch):
    """Half the digits without a label: the ceiling is fitted and scored on the known half only."""
    import alsim.evidence.compare as compare
    from alsim.data.sources import load_source

    fitted = []

    def fit_spy(model, C, seed, train_x, train_y, *rest, **options):
        fitted.append(int(np.min(train_y)))
        return fit(model, C, seed, train_x, train_y, *rest, **options)

    fit = compare.fit_supervised
    monkeypatch.setattr(compare, "fit_supervised", fit_spy)

    digits = load_source("digits")
    labels = np.where(np.arange(len(digits.labels)) % 2 == 0, digits.labels, -1)
    name = f"half-digits-{next(_NUMBERS)}"
    half = Dataset(name=name, images=digits.images, labels=labels, class_names=digits.class_names)
    register_source(SourceInfo(name=name, description="half labeled", load=lambda: half, features=("raw",),
                               image_shape=(8, 8), has_test=False, locator=lambda: name))
    _REGISTERED.append(name)
    for model in ("label_spreading", "logistic_regression"):
        reach = ceiling(Config(dataset=name, model=model))
        assert reach.n == int((labels >= 0).sum()) and reach.chance == pytest.approx(_plain_chance(labels))
        assert reach.ceiling > 0.9, model  # scored as wrong, the unknown half alone would cap it at 0.5
    assert len(fitted) == 5 and min(fitted) >= 0  # five folds of logistic regression, never a -1 "class"


# --------------------------------------------------------------------------- comparison
def test_a_better_verdict_at_chance_is_computed_but_not_claimed():
    """Entropy beats random on every seed of pure noise (pool scoring); the summary says it is not evidence."""
    base = noise_config(noise_source())
    curves = [c for batch in run_comparison(base, ["entropy", "random"], 8, seeds_per_batch=8) for c in batch]
    reach = ceiling(base)
    blind = summarize(curves, target=0.45).strategies[0]  # the same curves read without the ceiling
    assert blind.verdict == "better" and "labels saved" in blind.headline
    summary = summarize(curves, target=0.45, ceiling=reach)
    entropy = next(s for s in summary.strategies if s.strategy == "entropy")
    assert entropy.verdict == "better"  # still computed
    assert summary.warning == reach.warning
    assert "labels saved" not in entropy.headline
    assert entropy.headline.endswith("so a difference against random is not evidence: no saving is claimed")
    assert summary.shown_verdict(entropy) == "better, but not evidence (accuracy near chance)"
    assert summary.table()[0]["verdict vs random"] == summary.shown_verdict(entropy)
    doc = json.loads(json.dumps(summary.to_dict()))
    assert (doc["ceiling"], doc["chance"], doc["warning"]) == (reach.ceiling, reach.chance, reach.warning)
    assert doc["strategies"][0]["verdict"] == "better"


def _curves():
    """Hand-made: entropy reaches 0.9 at 20 labels on every seed, random at 40 (as in test_compare)."""
    out = []
    for seed, wiggle in enumerate([0.0, 0.01, -0.01, 0.02, 0.0, -0.02]):
        out.append(Curve("entropy", seed, (10, 20, 30, 40), (0.80 + wiggle, 0.90 + abs(wiggle), 0.95, 0.97)))
        out.append(Curve("random", seed, (10, 20, 30, 40), (0.80 + wiggle, 0.84, 0.88, 0.91 + abs(wiggle))))
    return out


def test_far_above_chance_the_saving_is_claimed():
    reach = Ceiling(ceiling=0.98, chance=0.10, evaluated_on="pool", n=1797)
    summary = summarize(_curves(), target=0.9, ceiling=reach)
    entropy = summary.strategies[0]
    assert summary.warning is None and entropy.verdict == "better"
    assert entropy.headline.endswith("random needs 40: 20 labels saved (50%)")
    assert summary.shown_verdict(entropy) == "better"
    assert summary.to_dict()["ceiling"] == 0.98 and summary.to_dict()["warning"] is None


def test_curves_near_chance_warn_even_below_a_fair_ceiling():
    """The issue: a ceiling of 0.52 against chance 0.25, curves that end near 0.3."""
    reach = Ceiling(ceiling=0.52, chance=0.25, evaluated_on="pool", n=600)
    low = [Curve(c.strategy, c.seed, c.labels, tuple(a - 0.65 for a in c.accuracy)) for c in _curves()]
    summary = summarize(low, target=0.25, ceiling=reach)
    assert summary.strategies[0].verdict == "better"
    assert summary.warning is not None and summary.warning.startswith("Accuracy stays near chance")
    assert "no saving is claimed" in summary.strategies[0].headline


# --------------------------------------------------------------------------- command line
def _main(*argv) -> tuple[int, str]:
    from alsim.cli.main import main

    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def _sets(config: Config) -> list[str]:
    return [arg for name in ("dataset", "features", "model", "kernel", "n_neighbors", "initial", "n_initial",
                             "batch_size", "n_rounds") for arg in ("--set", f"{name}={getattr(config, name)}")]


def test_compare_command_carries_the_ceiling_and_the_warning():
    config = noise_config(noise_source())
    code, out = _main("compare", "--strategies", "entropy,random", "--seeds", "8", *_sets(config), "--json")
    summary = json.loads(out)["summary"]
    reach = ceiling(config)
    assert code == 0 and (summary["ceiling"], summary["chance"], summary["warning"]) == (
        reach.ceiling, reach.chance, reach.warning)
    code, out = _main("compare", "--strategies", "entropy,random", "--seeds", "8", *_sets(config))
    assert code == 0 and reach.sentence() in out and f"WARNING: {reach.warning}" in out
    assert "better, but not evidence" in out


def test_run_command_json_carries_the_ceiling():
    code, out = _main("run", "--preset", "digits-tutorial", "--json")
    doc = json.loads(out)
    reach = ceiling(get_preset("digits-tutorial"))
    assert code == 0 and (doc["ceiling"], doc["chance"], doc["warning"]) == (reach.ceiling, reach.chance, None)
    config = noise_config(noise_source())
    code, out = _main("run", *_sets(config), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["warning"] == ceiling(config).warning is not None


# --------------------------------------------------------------------------- every label from noisy annotators
@pytest.mark.parametrize("changes", [dict(), dict(model="logistic_regression"), dict(kernel="knn", n_neighbors=5)])
def test_the_model_is_fitted_on_the_given_labels_and_scored_against_the_truth(changes):
    from alsim.loop.pool import prepare

    config = get_preset("digits-tutorial").replace(**changes)
    truth = prepare(config).labels
    plain = full_label_accuracy(config)
    assert full_label_accuracy(config, given=truth) == plain > 0.9
    # Every label moved to the next class: the model learns the shift, and the truth says it is wrong.
    assert full_label_accuracy(config, given=(truth + 1) % 10) < 0.05


def test_on_a_test_split_the_given_labels_train_and_the_test_split_scores(fashion_like):
    from alsim.loop.pool import prepare

    config = Config(dataset="fashion-mnist", features="raw", model="logistic_regression", evaluation="test")
    truth = prepare(config).labels
    plain = full_label_accuracy(config)
    assert full_label_accuracy(config, given=truth) == plain > 0.5
    assert full_label_accuracy(config, given=(truth + 1) % 10) < plain / 3


def test_noisy_annotators_add_the_accuracy_with_every_label_from_them():
    from alsim.loop.annotators import simulated_oracle
    from alsim.loop.pool import prepare

    base = get_preset("digits-tutorial")
    assert ceiling(base).annotators is None and "annotators" not in ceiling(base).sentence()
    noisy = base.replace(oracle_noise=0.3, seed=3)
    reach = ceiling(noisy)
    prepared = prepare(noisy)
    ids = np.flatnonzero(prepared.labels >= 0)
    given = np.full(len(prepared.labels), -1)
    given[ids] = simulated_oracle(noisy, prepared).answer(ids)[0]
    assert 0.6 < np.mean(given[ids] == prepared.labels[ids]) < 0.8  # about 30% wrong
    assert reach.ceiling == ceiling(base).ceiling
    assert reach.annotators == full_label_accuracy(reference_config(base), given=given) < reach.ceiling - 0.1
    # The answers depend on the seed and the rate: another seed, another value; less noise, a higher one.
    assert ceiling(noisy.replace(seed=4)).annotators != reach.annotators
    assert ceiling(noisy.replace(oracle_noise=0.1)).annotators > reach.annotators
    assert reach.sentence() == (f"ceiling {reach.ceiling:.1%} (the model with every label; {reach.annotators:.1%} "
                                f"with every label from these annotators), chance {reach.chance:.1%}")
    assert reach.help_text().startswith("All three 5-fold cross-validated on the 330 labeled pool images; with every "
                                        "label from these annotators: the same fit on every pool label")
    assert ceiling(base).help_text() == ("Both 5-fold cross-validated on the 330 labeled pool images; chance is the "
                                         "largest class's share of them.")
    code, out = _main("run", "--preset", "digits-tutorial", "--set", "oracle_noise=0.3", "--set", "seed=3", "--json")
    assert code == 0 and json.loads(out)["ceiling_with_annotators"] == reach.annotators
    code, out = _main("run", "--preset", "digits-tutorial", "--set", "oracle_noise=0.3", "--set", "seed=3")
    assert code == 0 and reach.sentence() in out
    code, out = _main("compare", "--preset", "digits-tutorial", "--set", "oracle_noise=0.3", "--set", "seed=3",
                      "--set", "initial=random", "--strategies", "entropy,random", "--seeds", "2", "--json")
    assert code == 0 and json.loads(out)["summary"]["annotators"] == reach.annotators


# --------------------------------------------------------------------------- feature probe
def test_probe_measures_every_feature_kind_and_names_the_best():
    probes = probe_features("digits", max_points=300)  # a small sample: the pretrained embedding is the slow one
    assert [p.features for p in probes] == ["raw", "hog", "colorhist", "pretrained"]
    raw, hog, hist, pretrained = probes
    assert raw.accuracy > 0.85 and hog.accuracy > 0.9 and pretrained.accuracy > 0.8 and hist.accuracy < 0.4
    assert best_probe(probes) is max(probes, key=lambda p: p.accuracy)
    assert raw.n == 300 and (raw.dims, hog.dims, pretrained.dims) == (64, 324, 1280) and raw.seconds > 0
    assert probe_features("digits", max_points=300) is probes  # cached


def test_probe_on_noise_stays_near_chance():
    name = noise_source(n=600, weights=(0.25,) * 4)
    (probe,) = probe_features(name)
    from alsim.data.sources import load_source

    assert probe.features == "precomputed" and probe.n == 600  # the whole set: fewer than 1,000 points
    assert probe.chance == pytest.approx(_plain_chance(load_source(name).labels))
    assert near_chance(probe.accuracy, probe.chance, probe.n)


# --------------------------------------------------------------------------- report
def test_the_report_reads_verdicts_beside_the_ceiling():
    import html

    from alsim.loop.run import run_loop
    from alsim.report.html import html_report

    base = noise_config(noise_source())
    curves = [c for batch in run_comparison(base, ["entropy", "random"], 8, seeds_per_batch=8) for c in batch]
    reach = ceiling(base)
    summary = summarize(curves, target=0.45, ceiling=reach)
    configs = {name: base.replace(strategy=name) for name in ("entropy", "random")}
    arms = {name: list(run_loop(config)) for name, config in configs.items()}
    document = html_report("noise", configs, arms, ("a", "b", "c", "d"), summary=summary)
    assert f"<p class=ceiling>{html.escape(reach.sentence())}" in document
    assert f"<p class=note>{html.escape(reach.warning)}</p>" in document
    assert "Accuracy stays near chance" in document and "better, but not evidence" in document
    digits = get_preset("digits-tutorial")
    document = html_report("digits", {"entropy": digits}, {"entropy": list(run_loop(digits))},
                           [str(i) for i in range(10)])
    assert html.escape(ceiling(digits).sentence()) in document and "near chance" not in document


def test_without_measuring_only_chance_is_given_until_the_ceiling_is_known():
    config = noise_config(noise_source())
    unmeasured = ceiling(config, measure=False)
    assert unmeasured.ceiling is None and unmeasured.warning is None
    assert unmeasured.sentence().startswith("ceiling not measured yet (the model with every label), chance ")
    assert ceiling(config, measure=False) == unmeasured  # asking again still measures nothing
    measured = ceiling(config)
    assert measured.chance == unmeasured.chance and ceiling(config, measure=False) is measured
