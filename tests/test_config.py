import dataclasses
import json
import math

import pytest

from alsim import Config, get_preset
from alsim.common.errors import ConfigError
from alsim.loop.presets import PRESETS


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
        ("gamma", 0.0, r"gamma must be in \(0, 1000\], got 0.0"),
        ("gamma", 1e308, r"gamma must be in \(0, 1000\], got 1e\+308"),
        ("gamma", float("nan"), r"gamma must be a finite number"),
        ("tol", -1.0, r"tol must be > 0"),
        ("C", 0, r"C must be in \(0, 10000\], got 0"),
        ("C", 1e5, r"C must be in \(0, 10000\], got 100000.0"),
        ("seed", 2**32, r"seed must be an integer in \[0, 4294967295\], got 4294967296"),
        ("batch_size", 2**31, r"batch_size must be an integer in \[1, 2147483647\]"),
        ("threshold_steps", 10_001, r"threshold_steps must be an integer in \[1, 10000\]"),
        pytest.param("alpha", 10**400, r"alpha must be a finite number, got 1000.*\(401 characters\)",
                     id="alpha-10**400"),
        ("alpha", 1.0, r"alpha must be in \(0, 1\), got 1.0"),
        ("threshold_start", 1.5, r"threshold_start must be in \[0, 1\), got 1.5"),
        ("threshold_end", -0.1, r"threshold_end must be in \[0, 1\)"),
        ("threshold_final", 1.0, r"threshold_final must be in \[0, 1\)"),
        ("thresholds", (0.5, 2.0), r"thresholds must be in \[0, 1\), got 2.0"),
        ("oracle_noise", 1.0, r"oracle_noise must be in \[0, 1\), got 1.0"),
        ("oracle_noise_model", "gaussian", r"oracle_noise_model must be one of 'uniform', 'confusable', 'difficulty'"),
        ("annotators", 16, r"annotators must be an integer in \[1, 15\], got 16"),
        ("relabel", "yes", r"relabel must be true or false, got 'yes'"),
        ("imbalance", 0.99, r"imbalance must be in \[1, 1000\] \(1 = the pool as it is\), got 0.99"),
        ("imbalance", float("inf"), r"imbalance must be a finite number"),
    ],
)
def test_every_invalid_field_is_named(field, value, match):
    with pytest.raises(ConfigError, match=match):
        Config(**{field: value})


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(schedule="list", self_training="pseudo", thresholds=()), r"thresholds must not be empty"),
        (dict(features="precomputed"), r"features 'precomputed' is not available for dataset 'digits-tutorial'"),
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
    with pytest.raises(ConfigError, match="batch_size expects an integer such as 5, got 'many'"):
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


@pytest.mark.parametrize(
    "assignment, match",
    [
        ("batch_size=٣", r"batch_size expects an integer such as 5, got '٣'"),  # int() takes Unicode digits
        ("batch_size=3_0", r"batch_size expects an integer such as 5, got '3_0'"),  # ... and underscores
        ("batch_size=3.0", r"batch_size expects an integer"),
        pytest.param("seed=" + "9" * 101, r"seed expects an integer such as 5, got '9999.*\(103 characters\)",
                     id="seed=9x101"),
        ("gamma=nan", r"gamma expects a number \(such as 0.25 or 1e-3\), got 'nan'"),
        ("gamma=inf", r"gamma expects a number"),
        ("gamma=-Infinity", r"gamma expects a number"),
        ("gamma=1_0", r"gamma expects a number"),
        ("gamma=٣", r"gamma expects a number"),
        ("gamma=1e308", r"gamma must be in \(0, 1000\], got 1e\+308"),
        ("gamma=1e999", r"gamma must be a finite number, got inf"),
        ("C=1e300", r"C must be in \(0, 10000\]"),
        ("threshold_final=nan", r"threshold_final expects a number \(such as 0.1 or 1e-3\) or none, got 'nan'"),
        ("thresholds=0.9,nan", r"thresholds expects a comma-separated list of numbers such as 0.9,0.8, got '0.9,nan'"),
    ],
)
def test_overrides_accept_only_plain_ascii_numbers(assignment, match):
    with pytest.raises(ConfigError, match=match) as info:
        Config().with_overrides([assignment])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "assignment, field, value",
    [("batch_size=+7", "batch_size", 7), ("n_rounds=007", "n_rounds", 7), ("gamma=.5", "gamma", 0.5),
     ("gamma=5.", "gamma", 5.0), ("gamma=2.5E-1", "gamma", 0.25), ("C=1e4", "C", 10000.0),
     ("thresholds= 0.9 , 0.8,", "thresholds", (0.9, 0.8)), ("thresholds=", "thresholds", ()),
     ("threshold_final=NULL", "threshold_final", None), ("seed=4294967295", "seed", 2**32 - 1)],
)
def test_overrides_golden_values(assignment, field, value):
    assert getattr(Config().with_overrides([assignment]), field) == value


@pytest.mark.parametrize(
    "raw, match",
    [
        (b'{"thresholds": 5}', r"thresholds must be a list of numbers, got 5"),
        (b'{"thresholds": "0.5"}', r"thresholds must be a list of numbers, got '0.5'"),
        (b'{"dataset": ["digits"]}', r"dataset must be a string, got \['digits'\]"),
        (b'{"strategy": {}}', r"strategy must be a string, got \{\}"),
        (b'{"n_rounds": 2.0}', r"n_rounds must be an integer >= 1, got 2.0"),
        (b'{"gamma": NaN}', r"gamma must be a finite number, got nan"),
        (b'{"gamma": 1e999}', r"gamma must be a finite number, got inf"),
        (b'{"gamma": true}', r"gamma must be a finite number, got True"),
        pytest.param(b'{"seed": 1' + b"0" * 5000 + b"}", r"config is not valid JSON: Exceeds the limit",
                     id="5001-digit-integer"),
        (b"\xff\xfe{}", r"config is not UTF-8 text: byte 0 is 0xff"),
        (b'{"a": "\xe9"}', r"config is not UTF-8 text: byte 7 is 0xe9"),
        pytest.param(b"[" * 100_000, r"config JSON is nested too deeply", id="deep-list"),
        pytest.param(b'{"a":' * 100_000, r"config JSON is nested too deeply", id="deep-object"),
        (b"", r"config is not valid JSON"),
        (b"null", r"config JSON must be an object, got NoneType"),
    ],
)
def test_json_config_errors_are_config_errors(raw, match):
    with pytest.raises(ConfigError, match=match) as info:
        Config.from_json(raw)
    assert "\n" not in str(info.value)


def test_json_fields_apply_over_a_base_config():
    base = get_preset("digits-compare")
    config = Config.from_json(b'\xef\xbb\xbf{"n_rounds": 2}', base=base)  # a byte-order mark is fine
    assert config == base.replace(n_rounds=2)
    assert Config.from_json('{"n_rounds": 2}') == Config(n_rounds=2)


def test_from_dict_needs_a_mapping():
    with pytest.raises(ConfigError, match="config must be a mapping of field names to values, got list"):
        Config.from_dict([("n_rounds", 2)])


# --------------------------------------------------------------------------- fuzzing
from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

FIELDS = [f.name for f in dataclasses.fields(Config)]
VALUE_TEXT = st.one_of(
    st.text(max_size=12),
    st.text(alphabet="0123456789+-.eE_, ٣١", max_size=10),
    st.integers(-2**40, 2**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["none", "null", "nan", "inf", "entropy", "fashion-mnist", "hog", "0.9,0.8", "1e308"]),
)


@settings(max_examples=50, deadline=None)
@given(field=st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), value=VALUE_TEXT,
       separator=st.sampled_from(["=", "= ", ""]))
@example(field="batch_size", value="٣", separator="=")
@example(field="seed", value="1_0", separator="=")
@example(field="gamma", value="nan", separator="=")
@example(field="threshold_final", value="Infinity", separator="=")
def test_any_set_string_gives_a_config_or_a_config_error(field, value, separator):
    item = f"{field}{separator}{value}"
    try:
        config = Config().with_overrides([item])
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(config, Config) and hash(config) == hash(Config.from_json(config.to_json()))
    name, raw = item.split("=", 1)
    name, raw = name.strip().replace("-", "_"), raw.strip()
    value = getattr(config, name)
    if isinstance(getattr(Config(), name), int):  # accepted integers are ASCII digits, read exactly
        assert raw.isascii() and "_" not in raw and value == int(raw)
    if isinstance(value, float):
        assert raw.isascii() and "_" not in raw and math.isfinite(value) and value == float(raw)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
CONFIG_OBJECTS = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)), JSON_VALUES, max_size=4)


@settings(max_examples=50, deadline=None)
@given(document=st.one_of(CONFIG_OBJECTS.map(lambda d: json.dumps(d).encode()), JSON_VALUES.map(
    lambda v: json.dumps(v).encode()), st.binary(max_size=64)),
    cut=st.integers(0, 200), junk=st.binary(max_size=3))
@example(document=b'{"thresholds": 5}', cut=0, junk=b"")
@example(document=b'{"gamma": 0.5}', cut=12, junk=b"\xff")
@example(document=b"[" * 10_000, cut=0, junk=b"")
@example(document=b'{"\\n": null}', cut=0, junk=b"")  # found by this test: a field name with a newline
def test_any_config_bytes_give_a_config_or_a_config_error(document, cut, junk):
    for raw in (document, document[:cut] + junk):
        try:
            config = Config.from_json(raw, base=get_preset("digits-compare"))
        except ConfigError as exc:
            assert str(exc) and "\n" not in str(exc)
            continue
        assert isinstance(config, Config)


# --------------------------------------------------------------------------- strategy parameters
#: A config as version 0.2 wrote it (flat strategy parameters), e.g. a saved JSON file or a sweep's config.
FLAT_V02 = {"strategy": "typiclust", "typiclust_neighbors": 30, "max_clusters": 200, "probcover_delta": 0.5,
            "probcover_purity": 0.9, "probcover_sample": 0, "density_beta": 2.0, "committee_size": 7,
            "committee_measure": "kl", "margin_candidates": 3, "cluster_margin_clusters": 12}


def test_configs_with_flat_strategy_parameters_still_load():
    config = Config.from_dict(FLAT_V02)
    p = config.strategy_params
    assert (p["typiclust"].neighbors, p["typiclust"].max_clusters) == (30, 200)
    assert (p["probcover"].delta, p["probcover"].purity, p["probcover"].sample) == (0.5, 0.9, 0)
    assert p["density"].beta == 2.0 and (p["qbc"].size, p["qbc"].measure) == (7, "kl")
    assert (p["cluster_margin"].candidates, p["cluster_margin"].clusters) == (3, 12)
    # the same values by --set, flat or dotted, and through a JSON round trip (nested)
    overrides = [f"{name}={value}" for name, value in FLAT_V02.items()]
    assert Config().with_overrides(overrides) == config
    assert Config().with_overrides(["typiclust.neighbors=30"]).value("typiclust_neighbors") == 30
    assert Config.from_json(config.to_json()) == config
    assert config.to_dict()["strategy_params"]["qbc"] == {"size": 7, "measure": "kl"}
    assert "typiclust_neighbors" not in config.to_dict()


def test_a_flat_name_in_a_json_file_wins_over_the_base_and_nested_values_merge():
    base = Config().with_overrides(["probcover_delta=0.7", "committee_size=9"])
    merged = Config.from_json('{"strategy_params": {"probcover": {"purity": 0.8}}, "density_beta": 3}', base=base)
    assert merged.strategy_params["probcover"].delta == 0.7 and merged.strategy_params["probcover"].purity == 0.8
    assert merged.strategy_params["qbc"].size == 9 and merged.strategy_params["density"].beta == 3


@pytest.mark.parametrize("assignment, message", [
    ("committee_size=1", "committee_size must be an integer >= 2, got 1"),
    ("probcover_purity=1", "probcover_purity must be in \\(0, 1\\), got 1"),
    ("typiclust.neighbors=0", "typiclust_neighbors must be an integer >= 1, got 0"),
    ("typiclust.nope=3", "unknown config field 'typiclust.nope'"),
    ("committee_measure=votes", "committee_measure must be one of 'vote_entropy', 'kl', got 'votes'"),
])
def test_strategy_parameters_are_validated_by_their_strategy(assignment, message):
    with pytest.raises(ConfigError, match=message):
        Config().with_overrides([assignment])


def test_a_nested_block_naming_no_strategy_is_refused():
    with pytest.raises(ConfigError, match="no strategy parameters for 'entropy'"):
        Config.from_dict({"strategy_params": {"entropy": {"x": 1}}})
    with pytest.raises(ConfigError, match="unknown parameter\\(s\\) radius of probcover"):
        Config.from_dict({"strategy_params": {"probcover": {"radius": 1}}})
