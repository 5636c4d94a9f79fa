"""Every statistic against an independent computation: scipy called directly, or a hand-worked case.

Holm's step-down (with missing p-values left out of the family), the bootstrap interval, the
Wilcoxon p-value, the verdict's alpha edge and shared seeds, the area under the learning
curve on unevenly spaced label counts, labels to a target at its edge, and the spread
statistics of a comparison's summary.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.stats
from numpy.testing import assert_allclose

from alsim.evidence.compare import Curve, summarize
from alsim.evidence.verdict import BETTER, NO_DIFFERENCE, WORSE, bootstrap_interval, holm, verdicts, wilcoxon_p
from alsim.learn.metrics import aulc, labels_to_reach


# --------------------------------------------------------------------------- Holm
def holm_reference(p_values):
    """Holm (1979) as usually written: for the i-th smallest of the m present p-values,
    max over j <= i of (m - j + 1) p_(j), capped at 1; a missing value stays missing."""
    present = [(p, i) for i, p in enumerate(p_values) if p is not None and not math.isnan(p)]
    m = len(present)
    out = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present, key=lambda pair: pair[0]), start=1):
        running = max(running, min(1.0, (m - rank + 1) * p))
        out[i] = running
    return out


def test_holm_equals_the_textbook_procedure_with_missing_values_and_ties():
    rng = np.random.default_rng(0)
    for case in range(200):
        m = int(rng.integers(1, 9))
        p = rng.choice([0.001, 0.004, 0.01, 0.02, 0.03, 0.2, 0.6], size=m).tolist()  # ties are common
        for i in rng.choice(m, int(rng.integers(0, m)), replace=False):
            p[i] = None if rng.random() < 0.5 else math.nan
        assert_allclose(holm(p), holm_reference(p), rtol=0, atol=1e-15, equal_nan=True, err_msg=str(p))


def test_holm_leaves_missing_values_out_of_the_family_hand_worked():
    # Two present values: 0.01 * 2 = 0.02 and 0.04 * 1 = 0.04; the missing ones change nothing.
    assert_allclose(holm([0.04, None, 0.01, math.nan]), [0.04, math.nan, 0.02, math.nan], equal_nan=True)
    assert_allclose(holm([None, 0.03]), [math.nan, 0.03], equal_nan=True)
    assert np.isnan(holm([None, math.nan])).all()


def test_holm_rejections_are_the_step_down_test():
    """Adjusted value below alpha exactly where Holm's sequential test rejects (p_(j) < alpha / (m - j + 1) for
    every j up to i)."""
    for p in itertools.product([0.004, 0.012, 0.02, 0.03, 0.26], repeat=3):
        order = np.argsort(p, kind="stable")
        rejected = set()
        for rank, i in enumerate(order):
            if p[i] < 0.05 / (3 - rank):
                rejected.add(int(i))
            else:
                break
        assert {i for i, q in enumerate(holm(list(p))) if q < 0.05} == rejected, p


# --------------------------------------------------------------------------- bootstrap and Wilcoxon
@pytest.mark.parametrize("confidence, seed", [(0.95, 0), (0.9, 0), (0.95, 7)])
def test_bootstrap_interval_is_scipys_bca_interval(confidence, seed):
    d = np.random.default_rng(1).normal(0.01, 0.02, size=15)  # many distinct resample means
    expected = scipy.stats.bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=9999, method="BCa",
                                     rng=np.random.default_rng(seed)).confidence_interval
    assert bootstrap_interval(d, confidence=confidence, seed=seed) == (expected.low, expected.high)
    other = scipy.stats.bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=9999, method="BCa",
                                  rng=np.random.default_rng(seed + 1)).confidence_interval
    assert (other.low, other.high) != (expected.low, expected.high)  # the seed matters: the check above has teeth


def test_bootstrap_falls_back_to_the_percentile_interval_when_bca_is_undefined(monkeypatch):
    real = scipy.stats.bootstrap
    d = np.array([0.01, 0.03, 0.02, 0.05, -0.01, 0.02])

    def undefined_bca(data, statistic, **kw):
        result = real(data, statistic, **kw)
        if kw["method"] == "BCa":
            result.confidence_interval = type(result.confidence_interval)(math.nan, math.nan)
        return result

    monkeypatch.setattr(scipy.stats, "bootstrap", undefined_bca)
    expected = real((d,), np.mean, confidence_level=0.95, n_resamples=9999, method="percentile",
                    rng=np.random.default_rng(0)).confidence_interval
    assert bootstrap_interval(d) == (expected.low, expected.high)


def test_bootstrap_of_equal_values_is_that_value_and_of_fewer_than_three_none():
    """One seed has no spread to resample, and two give [min, max] (about 50% coverage, not 95%,
    and BCa is undefined): no interval (nan), not one that claims too much."""
    assert bootstrap_interval([0.3, 0.3, 0.3]) == (0.3, 0.3)
    for d in ([0.3], [-0.01, 0.05], []):
        assert all(math.isnan(v) for v in bootstrap_interval(d)), d


@pytest.mark.parametrize("d", [
    [0.01, -0.02, 0.03, 0.0, 0.05, -0.01, 0.04],  # a zero and both signs
    [1, 2, 2, 3, -1, 4, 4, 5, 6, -2, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, -3],  # ties, n > 25
    [0.002, 0.004, -0.001, 0.003, 0.005, 0.006],
])
def test_wilcoxon_p_is_scipys_two_sided_signed_rank_p(d):
    assert wilcoxon_p(d) == scipy.stats.wilcoxon(d, alternative="two-sided").pvalue


def test_wilcoxon_p_hand_worked_exact_values():
    # zeros are dropped: six positive differences, exact two-sided p = 2 / 2**6
    assert wilcoxon_p([0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06]) == pytest.approx(2 / 64)
    # five differences, the smallest negative: W- = 1, P(W- <= 1) = 2/32, two-sided 4/32
    assert wilcoxon_p([-0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx(4 / 32)
    assert wilcoxon_p([1e-13, -1e-13, 0.0]) == 1.0  # no difference beyond round-off


# --------------------------------------------------------------------------- verdicts
def _shifted(shift, seeds):
    base = {s: 0.8 + 0.001 * s for s in seeds}
    return base, {s: v + shift for s, v in base.items()}


def test_verdict_needs_the_adjusted_p_strictly_below_alpha():
    random_, good = _shifted(0.01, range(6))  # six seeds all one way: p = 2/64 = 0.03125 exactly
    assert verdicts({"random": random_, "good": good}, alpha=0.03125)["good"].verdict == NO_DIFFERENCE
    assert verdicts({"random": random_, "good": good}, alpha=0.0313)["good"].verdict == BETTER
    _, bad = _shifted(-0.01, range(6))
    assert verdicts({"random": random_, "bad": bad}, alpha=0.0313)["bad"].verdict == WORSE


def test_verdict_uses_only_the_seeds_shared_with_the_reference():
    random_ = {s: 0.8 for s in (0, 1, 2, 3, 4, 5, 8, 9)}
    strategy = {s: 0.81 + 0.001 * s for s in range(8)}  # seeds 6 and 7 have no partner
    result = verdicts({"random": random_, "s": strategy})["s"]
    shared = [strategy[s] - 0.8 for s in range(6)]
    assert result.n_seeds == 6
    assert result.mean_difference == pytest.approx(np.mean(shared))
    assert result.p_value == pytest.approx(scipy.stats.wilcoxon(shared).pvalue)
    assert result.interval == bootstrap_interval(shared)


# --------------------------------------------------------------------------- learning-curve metrics
def test_aulc_on_unevenly_spaced_label_counts_hand_worked():
    # trapezoids: (20 - 10) * (0.5 + 0.7) / 2 = 6, (40 - 20) * (0.7 + 0.8) / 2 = 15; 21 / (40 - 10) = 0.7
    assert aulc((10, 20, 40), (0.5, 0.7, 0.8)) == pytest.approx(0.7)
    # one wide step then narrow ones: 90 * 0.5 + 5 * (0.5 + 0.9) / 2 + 5 * (0.9 + 1.0) / 2 = 53.25 over 100
    assert aulc((0, 90, 95, 100), (0.5, 0.5, 0.9, 1.0)) == pytest.approx(0.5325)


def test_aulc_of_a_single_point_or_no_label_range_is_the_mean_accuracy():
    assert aulc((30,), (0.7,)) == pytest.approx(0.7)
    assert aulc((30, 30), (0.6, 0.8)) == pytest.approx(0.7)


def test_labels_to_reach_counts_an_accuracy_equal_to_the_target():
    assert labels_to_reach((10, 20, 30), (0.8, 0.9, 0.95), 0.9) == 20
    assert labels_to_reach((10, 20, 30), (0.8, 0.1 * 9, 0.95), 0.3 * 3) == 20  # 0.9 by two roundings
    assert labels_to_reach((10, 20, 30, 40), (0.8, 0.91, 0.85, 0.95), 0.9) == 20  # the first time, not the last
    assert labels_to_reach((10, 20), (0.8, 0.899999), 0.9) is None


# --------------------------------------------------------------------------- a comparison's summary
def test_summary_spread_statistics_are_sample_statistics():
    x = (10, 20, 40)
    rows = {"entropy": [(0.5, 0.7, 0.9), (0.6, 0.8, 0.85), (0.4, 0.75, 0.95)],
            "random": [(0.5, 0.6, 0.8), (0.6, 0.65, 0.8), (0.4, 0.7, 0.85)]}
    curves = [Curve(s, seed, x, acc) for s, accs in rows.items() for seed, acc in enumerate(accs)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = summarize(curves, target=0.75)
    entropy = summary.strategies[0]
    acc = np.array(rows["entropy"])
    areas = [aulc(x, row) for row in acc]
    assert_allclose(entropy.mean, acc.mean(axis=0))
    assert_allclose(entropy.std, acc.std(axis=0, ddof=1))  # the sample standard deviation over seeds
    assert entropy.aulc_mean == pytest.approx(np.mean(areas))
    assert entropy.aulc_std == pytest.approx(np.std(areas, ddof=1))
    assert entropy.final_mean == pytest.approx(0.9) and entropy.final_std == pytest.approx(0.05)
    band = summary.bands()["entropy"]
    assert_allclose(band["low"], acc.mean(axis=0) - acc.std(axis=0, ddof=1))
    assert_allclose(band["high"], acc.mean(axis=0) + acc.std(axis=0, ddof=1))
    assert entropy.labels_to_target == 20  # mean curve 0.5, 0.75, 0.9: reaches 0.75 at 20
    assert summary.strategies[1].labels_to_target == 40  # mean 0.5, 0.65, 0.8167
