import json

import pytest

from alsim import Config, ConfigError, get_preset
from alsim.presets import PRESETS


def test_defaults_are_experiment_a():
    c = Config()
    assert (c.dataset, c.gamma, c.max_iter, c.alpha, c.n_initial, c.batch_size, c.n_rounds, c.strategy) == (
        "digits-tutorial", 0.25, 20, 0.2, 40, 5, 5, "entropy")


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_round_trip_through_json(name):
    config = get_preset(name)
    assert Config.from_json(config.to_json()) == config
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert hash(config) == hash(Config.from_json(config.to_json()))


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("dataset", "cifar", r"dataset must be one of .*got 'cifar'"),
        ("features", "sift", r"features must be one of"),
        ("model", "svm", r"model must be one of"),
        ("kernel", "poly", r"kernel must be one of"),
        ("initial", "best", r"initial must be one of"),
        ("strategy", "bald", r"strategy must be one of .*'entropy'"),
        ("self_training", "yes", r"self_training must be one of .*'pseudo'"),
        ("schedule", "cosine", r"schedule must be one of"),
        ("evaluation", "train", r"evaluation must be one of"),
        ("pool_size", -1, r"pool_size must be an integer >= 0, got -1"),
        ("n_neighbors", 0, r"n_neighbors must be an integer >= 1, got 0"),
        ("max_iter", 0, r"max_iter must be an integer >= 1"),
        ("n_initial", 0, r"n_initial must be an integer >= 1"),
        ("batch_size", 0, r"batch_size must be an integer >= 1, got 0"),
        ("batch_size", 2.5, r"batch_size must be an integer >= 1, got 2.5"),
        ("n_rounds", 0, r"n_rounds must be an integer >= 1"),
        ("threshold_steps", 0, r"threshold_steps must be an integer >= 1"),
        ("seed", -3, r"seed must be an integer >= 0"),
        ("gamma", 0.0, r"gamma must be > 0, got 0.0"),
        ("gamma", float("nan"), r"gamma must be a finite number"),
        ("tol", -1.0, r"tol must be > 0"),
        ("C", 0, r"C must be > 0"),
        ("alpha", 1.0, r"alpha must be in \(0, 1\), got 1.0"),
        ("threshold_start", 1.5, r"threshold_start must be in \[0, 1\), got 1.5"),
        ("threshold_end", -0.1, r"threshold_end must be in \[0, 1\)"),
        ("threshold_final", 1.0, r"threshold_final must be in \[0, 1\)"),
        ("thresholds", (0.5, 2.0), r"thresholds must be in \[0, 1\), got 2.0"),
    ],
)
def test_every_invalid_field_is_named(field, value, match):
    with pytest.raises(ConfigError, match=match):
        Config(**{field: value})


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(schedule="list", self_training="pseudo", thresholds=()), r"thresholds must not be empty"),
        (dict(features="hog"), r"features 'hog' needs 28x28 images"),
        (dict(evaluation="test"), r"evaluation 'test' needs a held-out test split"),
        (dict(pool_size=100), r"pool_size must be 0 for dataset 'digits-tutorial'"),
        (dict(strategy="none", n_rounds=3), r"strategy 'none' with self_training 'off' never changes"),
    ],
)
def test_invalid_combinations(changes, match):
    with pytest.raises(ConfigError, match=match):
        Config(**changes)


def test_unknown_fields_and_bad_json():
    with pytest.raises(ConfigError, match=r"unknown config field\(s\) colour"):
        Config.from_dict({"colour": "red"})
    with pytest.raises(ConfigError, match="not valid JSON"):
        Config.from_json("{")
    with pytest.raises(ConfigError, match="must be an object"):
        Config.from_json("[1]")


def test_overrides_parse_types():
    c = Config().with_overrides(["gamma=0.5", "batch_size=7", "strategy=margin", "threshold_final=none",
                                 "thresholds=0.9,0.8", "n-rounds=3"])
    assert (c.gamma, c.batch_size, c.strategy, c.threshold_final, c.thresholds, c.n_rounds) == (
        0.5, 7, "margin", None, (0.9, 0.8), 3)
    with pytest.raises(ConfigError, match="batch_size expects a int, got 'many'"):
        Config().with_overrides(["batch_size=many"])
    with pytest.raises(ConfigError, match="unknown config field 'colour'"):
        Config().with_overrides(["colour=red"])
    with pytest.raises(ConfigError, match="expects field=value"):
        Config().with_overrides(["gamma"])


def test_threshold_schedules():
    assert get_preset("fashion-selftrain").threshold_schedule() == (
        0.75, 0.70, 0.65, 0.60, 0.55, 0.50, 0.45, 0.40, 0.35, 0.30, 0.10)
    assert Config(self_training="pseudo", threshold_final=None, threshold_start=0.9, threshold_end=0.5,
                  threshold_steps=3).threshold_schedule() == (0.9, 0.7, 0.5)
    assert Config(self_training="pseudo", schedule="list", thresholds=(0.9, 0.8)).threshold_schedule() == (0.9, 0.8)
    assert Config(self_training="off").threshold_schedule() == ()
