"""Simulated annotators and long-tailed pools: noisy answers, majority votes, the cost in
annotations, the precision of the revealed labels, and the imbalanced pool's class counts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alsim import Config, get_preset, run_loop
from alsim.common.errors import ConfigError
from alsim.loop.annotators import (
    LabelNoise,
    annotator_votes,
    confusion_weights,
    difficulty_rates,
    label_noise,
    majority,
    reference_proba,
    simulated_oracle,
)
from alsim.loop.oracles import ask
from alsim.loop.pool import long_tail, long_tail_sizes, prepare
from alsim.loop.run import run_arms

DIGITS = Config(dataset="digits", initial="random", n_initial=30, batch_size=10, n_rounds=4)
SEEDS = range(10)


def _wrong_share(config: Config, seeds=SEEDS) -> tuple[float, int]:
    """Share of wrong answers of one annotator over every known pool image and ``seeds``."""
    prepared = prepare(config)
    ids = np.flatnonzero(prepared.known)
    wrong = 0
    for seed in seeds:
        labels = simulated_oracle(config.replace(seed=seed), prepared).labels(ids)
        wrong += int((labels != prepared.labels[ids]).sum())
    n = len(ids) * len(seeds)
    return wrong / n, n


def _within_binomial(share: float, rate: float, n: int) -> bool:
    """|share - rate| within 4 standard errors of a binomial(n, rate) share."""
    return abs(share - rate) <= 4 * math.sqrt(rate * (1 - rate) / n)


# --------------------------------------------------------------------------- reproducibility
def test_the_same_seed_gives_the_same_noisy_answers_and_another_seed_other_answers():
    config = DIGITS.replace(oracle_noise=0.3, annotators=3)
    prepared = prepare(config)
    ids = np.arange(0, len(prepared.labels), 7)
    first = simulated_oracle(config, prepared).labels(ids)
    again = simulated_oracle(config, prepared).labels(ids)
    other = simulated_oracle(config.replace(seed=1), prepared).labels(ids)
    np.testing.assert_array_equal(first, again)
    assert (first != other).mean() > 0.05
    runs = [list(run_loop(config)) for _ in range(2)]
    assert [r.revealed_precision for r in runs[0]] == [r.revealed_precision for r in runs[1]]
    assert [r.queried.tolist() for r in runs[0]] == [r.queried.tolist() for r in runs[1]]


def test_an_images_answer_does_not_depend_on_what_else_is_asked_or_when():
    config = DIGITS.replace(oracle_noise=0.4, oracle_noise_model="uniform", annotators=2, relabel=True)
    prepared = prepare(config)
    ids = np.random.default_rng(5).choice(len(prepared.labels), 200, replace=False)
    together = simulated_oracle(config, prepared).labels(ids)
    one_by_one = np.array([simulated_oracle(config, prepared).labels(ids[i:i + 1])[0] for i in range(len(ids))])
    reversed_order = simulated_oracle(config, prepared).labels(ids[::-1])[::-1]
    np.testing.assert_array_equal(together, one_by_one)
    np.testing.assert_array_equal(together, reversed_order)


class _Recording:
    """Wraps an oracle and keeps every answer it gave, by image."""

    def __init__(self, oracle):
        self.oracle, self.truth, self.given = oracle, oracle.truth, {}

    def answerable(self, n_pool):
        return self.oracle.answerable(n_pool)

    def labels(self, ids):
        return self.answer(ids)[0]

    def answer(self, ids):
        labels, spent = ask(self.oracle, ids)
        self.given.update(zip(np.asarray(ids).tolist(), labels.tolist()))
        return labels, spent


@pytest.mark.parametrize("model", ["uniform", "difficulty"])
def test_two_strategies_of_a_comparison_get_the_same_answer_for_the_same_image(model):
    base = DIGITS.replace(oracle_noise=0.3, oracle_noise_model=model, n_rounds=8)
    configs = [base.replace(strategy=s) for s in ("entropy", "random", "margin")]
    prepared = prepare(base)
    oracles = [_Recording(simulated_oracle(c, prepared)) for c in configs]
    for _ in run_arms(configs, oracles=oracles):
        pass
    checked, noisy = 0, 0
    for a, b in ((0, 1), (0, 2), (1, 2)):
        shared = set(oracles[a].given) & set(oracles[b].given)
        for i in shared:
            assert oracles[a].given[i] == oracles[b].given[i], (configs[a].strategy, configs[b].strategy, i)
        checked += len(shared) - base.n_initial  # queried by both, beyond the shared initial labels
        noisy += sum(oracles[a].given[i] != prepared.labels[i] for i in shared)
    assert checked > 0 and noisy > 0, "no query in common or no wrong answer: the check would prove nothing"


# --------------------------------------------------------------------------- noise rates
@pytest.mark.parametrize("rate", [0.1, 0.3])
@pytest.mark.parametrize("model", ["uniform", "difficulty"])
def test_the_share_of_wrong_answers_is_the_rate_within_a_binomial_bound(model, rate):
    share, n = _wrong_share(DIGITS.replace(oracle_noise=rate, oracle_noise_model=model))
    assert _within_binomial(share, rate, n), (share, rate, n)


def test_difficulty_rates_average_to_the_rate_and_rise_with_entropy():
    config = DIGITS.replace(oracle_noise=0.2, oracle_noise_model="difficulty")
    prepared = prepare(config)
    noise = label_noise(config, prepared)
    assert noise.error.mean() == pytest.approx(0.2, abs=1e-9)
    assert noise.error.min() >= 0 and noise.error.max() <= 1
    from scipy.stats import entropy

    hardness = entropy(reference_proba(prepared), axis=1)
    order = np.argsort(hardness)
    assert (np.diff(noise.error[order]) >= -1e-12).all()  # never less likely to err on a harder image


def test_difficulty_rates_clip_at_one_and_keep_the_mean():
    proba = np.array([[1.0, 0.0], [0.5, 0.5], [0.9, 0.1], [0.8, 0.2]])
    rates = difficulty_rates(proba, 0.6)
    assert rates.mean() == pytest.approx(0.6, abs=1e-12)
    assert rates[0] == 0 and rates[1] == 1.0  # a sure image never errs; the hardest is clipped at 1
    h = -(proba * np.log(np.where(proba > 0, proba, 1))).sum(axis=1)
    np.testing.assert_allclose(rates[2:] / h[2:], rates[2] / h[2])  # the unclipped ones: proportional


def test_difficulty_rates_take_their_mean_over_the_known_images_only():
    # Entropies ln 2, H(0.9, 0.1) = 0.325083 and ln 2 (the unknown image's uniform row): the scale c
    # makes the known images' mean 0.3, c = 0.6 / (ln 2 + 0.325083); the unknown one gets c ln 2 too.
    h = np.array([math.log(2), -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)), math.log(2)])
    c = 0.6 / (h[0] + h[1])
    rates = difficulty_rates(np.array([[0.5, 0.5], [0.9, 0.1], [0.5, 0.5]]), 0.3, known=np.array([True, True, False]))
    np.testing.assert_allclose(rates, c * h, rtol=1e-12)
    assert rates[:2].mean() == pytest.approx(0.3, abs=1e-12)


def test_uniform_wrong_labels_are_never_the_truth_and_cover_the_other_classes():
    config = DIGITS.replace(oracle_noise=0.9)
    prepared = prepare(config)
    ids = np.flatnonzero(prepared.labels == 3)
    given = simulated_oracle(config, prepared).labels(ids)
    wrong = given[given != 3]
    assert set(wrong.tolist()) == set(range(10)) - {3}


def test_confusion_weights_golden():
    truth = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 2, 2, 1, 1, 2, 0])
    weights = confusion_weights(truth, predicted, 3)
    np.testing.assert_allclose(weights, [[0, 1 / 3, 2 / 3], [0.5, 0, 0.5], [1, 0, 0]])


def test_confusable_noise_gives_only_labels_the_reference_model_confuses():
    config = DIGITS.replace(oracle_noise=0.6, oracle_noise_model="confusable")
    prepared = prepare(config)
    proba = reference_proba(prepared)
    weights = confusion_weights(prepared.labels, proba.argmax(axis=1), prepared.n_classes)
    assert (weights == 0).sum() > 20  # digits' confusions are sparse: the check has zeros to hit
    ids = np.flatnonzero(prepared.known)
    seen = np.zeros_like(weights)
    for seed in range(5):
        given = simulated_oracle(config.replace(seed=seed), prepared).labels(ids)
        wrong = given != prepared.labels[ids]
        np.add.at(seen, (prepared.labels[ids][wrong], given[wrong]), 1)
    assert seen.sum() > 1000
    assert (seen[weights == 0] == 0).all(), np.argwhere((seen > 0) & (weights == 0))


def test_the_reference_model_is_computed_once_per_pool():
    from alsim.storage.memory import shared_cache

    prepared = prepare(DIGITS)
    first = reference_proba(prepared)
    assert reference_proba(prepared) is first
    assert ("reference_proba", prepared.key) in shared_cache("values")
    np.testing.assert_allclose(first.sum(axis=1), 1.0)
    assert (first.argmax(axis=1) == prepared.labels).mean() > 0.9  # a real model, out of fold


# --------------------------------------------------------------------------- several annotators
def test_majority_of_three_golden():
    votes = np.array([[1, 1, 2], [0, 2, 2], [0, 1, 2], [0, 1, 2], [4, 4, 4]])
    ties = np.array([0.9, 0.9, 0.1, 0.5, 0.0])
    np.testing.assert_array_equal(majority(votes, ties, 5), [1, 2, 0, 1, 4])


def test_three_annotators_vote_from_their_own_draws():
    truth = np.array([0, 1, 2])
    noise = LabelNoise(error=np.array([0.5, 0.5, 0.5]),
                       wrong=np.array([[0, 0, 1.0], [1.0, 0, 0], [0.5, 0.5, 0]]))
    draws = np.zeros((3, 17, 2))
    draws[0, :3, 0] = [0.1, 0.9, 0.2]  # image 0: annotators 0 and 2 err (towards class 2)
    draws[1, :3, 0] = [0.9, 0.9, 0.1]  # image 1: only annotator 2 errs
    draws[2, :3, 0] = [0.1, 0.2, 0.9]  # image 2: annotators 0 and 1 err, one to class 0, one to class 1
    draws[2, :3, 1] = [0.2, 0.7, 0.0]
    votes = annotator_votes(truth, noise, 3, draws, np.arange(3), np.arange(3))
    np.testing.assert_array_equal(votes, [[2, 0, 2], [1, 1, 0], [0, 1, 2]])
    draws[:, -1, 0] = [0.0, 0.0, 0.4]  # image 2 ties three ways: the draw picks the second tied class
    np.testing.assert_array_equal(majority(votes, draws[:, -1, 0], 3), [2, 1, 1])


def test_a_relabel_adds_one_annotator_where_votes_disagree():
    config = DIGITS.replace(oracle_noise=0.3, annotators=2, relabel=True)
    prepared = prepare(config)
    ids = np.arange(300)
    panel = simulated_oracle(config, prepared).panel
    labels, spent = panel.answer(ids)
    votes = annotator_votes(prepared.labels, panel.noise, 10, _draws(config.seed, ids), ids, np.arange(2))
    split = votes[:, 0] != votes[:, 1]
    assert split.any() and (~split).any()
    np.testing.assert_array_equal(spent, np.where(split, 3, 2))
    # the third annotator settles the split as the third of three would: the same answers as K=3
    three = simulated_oracle(config.replace(annotators=3, relabel=False), prepared).answer(ids)
    np.testing.assert_array_equal(labels, three[0])
    assert (three[1] == 3).all()


def _draws(seed, ids):
    from alsim.loop.annotators import image_draws

    return image_draws(seed, ids)


def test_a_majority_of_three_errs_as_often_as_the_vote_arithmetic_says():
    p = 0.3
    three, n = _wrong_share(DIGITS.replace(oracle_noise=p, annotators=3), seeds=range(4))
    # Uniform noise over 9 other classes. Two errors: they agree (1/9) and win, or the three
    # votes tie and the seeded tie-break picks a wrong one (2/3). Three errors: wrong.
    expected = 3 * p**2 * (1 - p) * (1 / 9 + 8 / 9 * 2 / 3) + p**3
    assert _within_binomial(three, expected, n), (three, expected)
    assert expected < p / 1.8


def test_each_image_costs_k_annotations_and_the_budget_counts_annotations():
    from alsim.loop.stopping import stopping_points

    config = DIGITS.replace(annotators=3, stop_budget=120)
    rounds = list(run_loop(config))
    assert [r.n_annotations for r in rounds] == [3 * r.n_labeled for r in rounds]
    assert [r.revealed_precision for r in rounds] == [1.0] * len(rounds)  # no noise: the votes are the truth
    budget = next(p for p in stopping_points(rounds, config, 10) if p.rule == "budget")
    assert budget.n_labeled == 40 and "120 annotations" in budget.description  # 40 images x 3 annotators
    one = list(run_loop(DIGITS))
    assert [r.n_annotations for r in one] == [r.n_labeled for r in one]
    assert [r.accuracy for r in one] == [r.accuracy for r in rounds]  # perfect annotators: the same labels


# --------------------------------------------------------------------------- precision of the revealed labels
@pytest.mark.parametrize("changes", [{"oracle_noise": 0.3},
                                     {"oracle_noise": 0.2, "oracle_noise_model": "difficulty", "annotators": 3}])
def test_revealed_precision_is_the_share_of_revealed_labels_equal_to_the_truth(changes):
    config = DIGITS.replace(**changes)
    prepared = prepare(config)
    rounds = list(run_loop(config))
    answers = simulated_oracle(config, prepared)
    for record in rounds:
        revealed = np.flatnonzero(record.status == 1)
        stored = answers.labels(revealed)
        assert record.revealed_precision == pytest.approx(np.mean(stored == prepared.labels[revealed]), abs=1e-12)
    assert min(r.revealed_precision for r in rounds) < 0.95
    as_dict = rounds[-1].to_dict()
    assert as_dict["revealed_precision"] == rounds[-1].revealed_precision
    assert as_dict["n_annotations"] == rounds[-1].n_annotations


# --------------------------------------------------------------------------- long-tailed pools
@pytest.mark.parametrize("ratio", [1.0, 2.5, 10.0, 100.0])
def test_a_long_tailed_pool_keeps_exactly_the_formulas_counts(ratio):
    full = prepare(Config(dataset="digits"))
    pool = prepare(Config(dataset="digits", imbalance=ratio))
    counts = np.bincount(full.labels, minlength=10)
    order = np.random.default_rng(0).permutation(10)  # order[r]: the class at rank r
    expected = np.empty(10, dtype=np.int64)
    for rank, cls in enumerate(order):
        expected[cls] = min(counts[cls], max(1, math.floor(counts.max() * ratio ** (-rank / 9))))
    np.testing.assert_array_equal(np.bincount(pool.labels, minlength=10), expected)
    assert set(pool.pool_ids.tolist()) <= set(full.pool_ids.tolist())
    np.testing.assert_array_equal(pool.features, full.features[pool.pool_ids])
    if ratio == 1.0:
        np.testing.assert_array_equal(pool.pool_ids, full.pool_ids)


def test_a_long_tail_keeps_every_image_whose_label_is_unknown():
    labels = np.array([-1, 0, 0, 1, 1, -1])
    kept = long_tail(labels, 2, 2.0)
    # Both unknown images stay; the head class keeps its 2 images, the tail floor(2 * 2 ** -1) = 1.
    assert {0, 5} <= set(kept.tolist()) and len(kept) == 5
    assert sorted(np.bincount(labels[kept][labels[kept] >= 0], minlength=2).tolist()) == [1, 2]
    assert kept.tolist() == sorted(kept.tolist())


def test_long_tail_sizes_golden():
    np.testing.assert_array_equal(long_tail_sizes(np.array([100, 100, 100]), 100, np.array([0, 1, 2])),
                                  [100, 10, 1])
    np.testing.assert_array_equal(long_tail_sizes(np.array([50, 100, 100]), 4, np.array([0, 2, 1])),
                                  [50, 25, 50])


def test_a_long_tailed_pool_is_the_same_for_every_seed_and_cut_after_pool_size(fashion_like):
    a = prepare(Config(dataset="digits", imbalance=10, seed=0))
    b = prepare(Config(dataset="digits", imbalance=10, seed=7))
    np.testing.assert_array_equal(a.pool_ids, b.pool_ids)
    cut = prepare(Config(dataset="digits", pool_size=900, imbalance=10))
    sub = prepare(Config(dataset="digits", pool_size=900))
    assert set(cut.pool_ids.tolist()) <= set(sub.pool_ids.tolist()) and len(cut.labels) < 900
    fashion = prepare(Config(dataset="fashion-mnist", imbalance=20, evaluation="test"))
    assert np.bincount(fashion.labels).min() < np.bincount(fashion.labels).max() / 10
    assert (np.bincount(fashion.test_labels) == 20).all()  # the test split stays balanced


def test_a_long_tailed_run_runs():
    rounds = list(run_loop(DIGITS.replace(imbalance=50, initial="random")))
    assert rounds[-1].stop_reason == "rounds_done" and rounds[-1].n_labeled == 30 + 3 * 10


# --------------------------------------------------------------------------- settings
@pytest.mark.parametrize("assignment, message", [
    ("oracle_noise=1", r"^oracle_noise must be in \[0, 1\), got 1.0$"),
    ("oracle_noise=-0.1", r"^oracle_noise must be in \[0, 1\), got -0.1$"),
    ("oracle_noise_model=random", r"^oracle_noise_model must be one of 'uniform', 'confusable', 'difficulty'"),
    ("annotators=0", r"^annotators must be an integer >= 1, got 0$"),
    ("annotators=16", r"^annotators must be an integer in \[1, 15\], got 16$"),
    ("imbalance=0.5", r"^imbalance must be in \[1, 1000\] \(1 = the pool as it is\), got 0.5$"),
    ("relabel=maybe", r"^relabel expects true or false, got 'maybe'$"),
])
def test_invalid_settings_are_refused_in_one_line(assignment, message):
    with pytest.raises(ConfigError, match=message):
        Config().with_overrides([assignment])


def test_a_noise_rate_where_no_class_keeps_a_majority_is_allowed():
    config = DIGITS.replace(oracle_noise=0.95)
    share, n = _wrong_share(config, seeds=range(2))
    assert _within_binomial(share, 0.95, n)


def test_the_settings_travel_through_set_json_and_a_sweep_grid():
    from alsim.sweep.grid import parse_grid

    config = get_preset("digits-compare").with_overrides(
        ["oracle_noise=0.1", "oracle_noise_model=difficulty", "annotators=3", "relabel=true", "imbalance=10"])
    assert (config.oracle_noise, config.oracle_noise_model, config.annotators, config.relabel, config.imbalance) == (
        0.1, "difficulty", 3, True, 10.0)
    assert Config.from_json(config.to_json()) == config
    grid = parse_grid(["oracle_noise=0,0.1,0.3", "oracle_noise_model=uniform,difficulty", "annotators=1,3",
                       "imbalance=1,10"], get_preset("digits-compare"))
    assert dict(grid) == {"oracle_noise": (0.0, 0.1, 0.3), "oracle_noise_model": ("uniform", "difficulty"),
                          "annotators": (1, 3), "imbalance": (1.0, 10.0)}


def test_the_reference_model_predicts_each_point_from_the_other_folds():
    # Random labels on random features: a model that saw a point's own label would fit it (50
    # features, 100 points); out of fold, it is right about as often as a coin.
    from alsim.learn.models import cross_validated_proba

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(100, 50)), rng.integers(0, 2, 100)
    proba = cross_validated_proba(x, y, 2)
    assert proba.shape == (100, 2) and np.mean(proba.argmax(axis=1) == y) <= 0.65
