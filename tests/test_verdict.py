"""The verdict against random: Holm's step-down, Wilcoxon, bootstrap interval, honest headlines."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from alsim.evidence.compare import Curve, summarize
from alsim.evidence.verdict import BETTER, NO_DIFFERENCE, WORSE, bootstrap_interval, holm, verdicts, wilcoxon_p

X = (10, 20, 30, 40)


def test_holm_hand_computed():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    # step-down stops: 0.02*3 = 0.06 > 0.05 keeps 0.03 and 0.04 from rejection even though 0.04*1 < 0.05
    assert_allclose(holm([0.02, 0.03, 0.04]), [0.06, 0.06, 0.06])
    assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1
    assert len(holm([])) == 0


def test_wilcoxon_exact_golden_and_all_zero():
    assert wilcoxon_p([0.01, 0.02, 0.03, 0.04, 0.05, 0.06]) == pytest.approx(2 / 2 ** 6)
    assert wilcoxon_p([0.0, 0.0, 0.0]) == 1.0


def test_bootstrap_interval_brackets_the_mean_and_is_seeded():
    d = np.array([0.01, 0.02, 0.0, 0.03, 0.015, 0.02, -0.005, 0.025])
    low, high = bootstrap_interval(d)
    assert low < d.mean() < high and high - low < 0.03
    assert bootstrap_interval(d) == (low, high)
    assert bootstrap_interval([0.02, 0.02, 0.02]) == (0.02, 0.02)


def _per_seed(shift, n=8, noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    base = {s: 0.9 + 0.01 * rng.random() for s in range(n)}
    return base, {s: v + shift + noise * rng.normal() for s, v in base.items()}


def test_verdict_words_and_holm_across_strategies():
    random_, good = _per_seed(+0.02)
    _, bad = _per_seed(-0.02)
    noisy = {s: v + (0.01 if s % 2 else -0.01) for s, v in random_.items()}
    result = verdicts({"random": random_, "good": good, "bad": bad, "noisy": noisy})
    assert result["good"].verdict == BETTER and result["bad"].verdict == WORSE
    assert result["noisy"].verdict == NO_DIFFERENCE
    # 8 seeds all one way: exact p = 2/256; Holm multiplies the smallest two by 3 and 2
    assert result["good"].p_value == pytest.approx(2 / 256)
    assert sorted([result["good"].p_holm, result["bad"].p_holm]) == pytest.approx([3 * 2 / 256, 3 * 2 / 256])
    assert result["good"].mean_difference == pytest.approx(0.02)
    assert result["good"].interval == pytest.approx((0.02, 0.02))  # every difference is exactly 0.02
    assert "better" in result["good"].sentence() and "Holm-adjusted" in result["good"].sentence()


def test_holm_turns_a_marginal_win_into_no_detectable_difference():
    # 6 seeds all one way: p = 0.03125 alone is significant, with 2 more strategies Holm gives 0.094
    random_, good = _per_seed(+0.01, n=6)
    alone = verdicts({"random": random_, "good": good})
    assert alone["good"].verdict == BETTER
    other = {s: v + 0.0 for s, v in random_.items()}
    crowd = verdicts({"random": random_, "good": good, "same": other, "same2": dict(other)})
    assert crowd["good"].p_holm == pytest.approx(3 * 0.03125) and crowd["good"].verdict == NO_DIFFERENCE


def _curves(entropy_rows, random_rows):
    out = []
    for seed, (e, r) in enumerate(zip(entropy_rows, random_rows)):
        out.append(Curve("entropy", seed, X, tuple(e)))
        out.append(Curve("random", seed, X, tuple(r)))
    return out


def test_headline_claims_no_saving_without_significance():
    # the mean curves differ (entropy reaches 0.9 at 20, random at 30) but per seed it is a coin toss
    entropy = [(0.80, 0.95, 0.95, 0.95), (0.80, 0.85, 0.90, 0.90)] * 3
    random_ = [(0.80, 0.84, 0.88, 0.91), (0.80, 0.88, 0.92, 0.93)] * 3
    summary = summarize(_curves(entropy, random_), target=0.9)
    e = summary.strategies[0]
    assert e.verdict == NO_DIFFERENCE
    assert "saved" not in e.headline and "no saving is claimed" in e.headline
    assert e.headline.startswith("entropy reaches 0.900 with 20 labels; random needs 30, but")


def test_headline_keeps_the_saving_when_the_verdict_is_better():
    entropy = [(0.80 + w, 0.90 + abs(w), 0.95, 0.97) for w in (0.0, 0.01, -0.01, 0.02, 0.0, -0.02)]
    random_ = [(0.80 + w, 0.84, 0.88, 0.91 + abs(w)) for w in (0.0, 0.01, -0.01, 0.02, 0.0, -0.02)]
    e = summarize(_curves(entropy, random_), target=0.9).strategies[0]
    assert e.verdict == BETTER and e.headline.endswith("20 labels saved (50%)")
    assert e.aulc_difference > 0 and e.aulc_difference_ci[0] <= e.aulc_difference <= e.aulc_difference_ci[1]
    assert summarize(_curves(entropy, random_), target=0.9).strategies[1].verdict is None  # random itself


def test_compare_cli_prints_the_verdicts(capsys):
    from alsim.cli.main import main

    code = main(["compare", "--preset", "digits-compare", "--seeds", "6", "--strategies", "coreset,random",
                 "--set", "n_rounds=3", "--target", "0.9"])
    out = capsys.readouterr().out
    assert code == 0 and "verdict vs random (paired Wilcoxon on per-seed AULC, Holm-adjusted over 1" in out
    line = [row for row in out.splitlines() if row.strip().startswith("coreset ") and "Holm p=" in row][0]
    assert any(word in line for word in (BETTER, NO_DIFFERENCE, WORSE))
