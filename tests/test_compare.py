import json

import numpy as np
import pytest

from alsim import Config, get_preset, run_loop
from alsim.common.errors import ConfigError
from alsim.evidence.compare import (
    Curve,
    batch_curves,
    comparison_configs,
    full_label_accuracy,
    growing_batches,
    paired_test,
    run_comparison,
    summarize,
)
from alsim.learn.metrics import aulc, labels_to_reach
from alsim.loop.run import run_arms
from alsim.strategies import REVEALED

X = (10, 20, 30, 40)


def _curves():
    """Hand-made: entropy reaches 0.9 at 20 labels on every seed, random at 40."""
    out = []
    for seed, wiggle in enumerate([0.0, 0.01, -0.01, 0.02, 0.0, -0.02]):
        out.append(Curve("entropy", seed, X, (0.80 + wiggle, 0.90 + abs(wiggle), 0.95, 0.97)))
        out.append(Curve("random", seed, X, (0.80 + wiggle, 0.84, 0.88, 0.91 + abs(wiggle))))
    return out


def test_aulc_and_labels_to_reach_golden():
    assert aulc(X, (0.8, 0.9, 0.95, 0.97)) == pytest.approx((0.85 + 0.925 + 0.96) * 10 / 30)
    assert labels_to_reach(X, (0.8, 0.9, 0.95, 0.97), 0.9) == 20
    assert labels_to_reach(X, (0.8, 0.84, 0.88, 0.91), 0.95) is None


def test_headline_numbers_on_hand_made_curves():
    summary = summarize(_curves(), target=0.9)
    entropy, random_ = summary.strategies
    assert entropy.labels_to_target == 20 and random_.labels_to_target == 40
    assert entropy.saved_vs_random == 20
    assert entropy.headline == "entropy reaches 0.900 with 20 labels; random needs 40: 20 labels saved (50%)"
    assert entropy.final_mean == pytest.approx(0.97)
    assert random_.final_mean == pytest.approx(0.91 + np.mean([0, 0.01, 0.01, 0.02, 0, 0.02]))
    assert entropy.test_vs_random["wins"] == 6
    assert entropy.test_vs_random["p_value"] == pytest.approx(0.03125)
    assert "significant at the 5% level" in entropy.test_vs_random["verdict"]
    bands = summary.bands()["entropy"]
    assert bands["x"] == X and bands["mean"][2] == pytest.approx(0.95) and bands["low"][2] == pytest.approx(0.95)


def test_a_last_round_that_scored_nothing_is_left_out_as_a_single_run_leaves_it():
    """The last round labeled the whole pool, scored on the still-unlabeled pool: no score. The
    summary ends at the last scored round (no nan in AULC, final or bands), and a stopping rule
    that fired there says nothing was left to evaluate."""
    from alsim.evidence.compare import stop_sentence, stop_summary

    curves = [Curve(c.strategy, c.seed, c.labels + (50,), c.accuracy + (float("nan"),)) for c in _curves()]
    plain, cut = summarize(_curves(), target=0.9), summarize(curves, target=0.9)
    for before, after in zip(plain.strategies, cut.strategies):
        assert after.aulc_mean == pytest.approx(before.aulc_mean) and after.final_mean == pytest.approx(before.final_mean)
    assert cut.bands()["entropy"]["x"] == X
    stop = {"rule": "stabilizing", "description": "kappa", "round": 4, "n_labeled": 50, "accuracy": float("nan"),
            "final_n_labeled": 50, "final_accuracy": float("nan")}
    sentence = stop_sentence(stop_summary([Curve("entropy", 0, X + (50,), (0.8, 0.9, 0.95, 0.97, float("nan")),
                                                 stops=(stop,))])[0])
    assert "nan" not in sentence and "then nothing was left to evaluate, final 0.9700" in sentence
    # a seed where the rule did not fire stops at the last scored round: its score, not nan, in the mean
    quiet = dict(stop, round=None, n_labeled=None, accuracy=None)
    rows = stop_summary([Curve("entropy", 0, X + (50,), (0.8, 0.9, 0.95, 0.97, float("nan")), stops=(quiet,)),
                         Curve("entropy", 1, X + (50,), (0.8, 0.9, 0.93, 0.95, float("nan")), stops=(quiet,))])
    assert rows[0]["accuracy_then"] == pytest.approx(0.96) and rows[0]["final_accuracy"] == pytest.approx(0.96)


def test_random_never_reaching_the_target():
    summary = summarize(_curves(), target=0.96)
    entropy = summary.strategies[0]
    assert entropy.saved_vs_random is None
    assert entropy.headline == ("entropy reaches 0.960 with 40 labels; random does not reach it within 40 labels "
                                "(saves more than 0)")


def test_default_target_is_95_percent_of_full_accuracy():
    summary = summarize(_curves(), full_accuracy=0.96)
    assert summary.target == pytest.approx(0.912)
    assert "95% of the fully labeled accuracy 0.9600" in summary.target_rule


def test_too_few_seeds_gives_no_verdict():
    result = paired_test([0.9, 0.92, 0.91], [0.8, 0.81, 0.82])
    assert result["p_value"] is None and "too few seeds (3)" in result["verdict"]
    assert "0.25" in result["verdict"]
    noisy = paired_test([0.9, 0.8, 0.9, 0.8, 0.9, 0.8], [0.8, 0.9, 0.8, 0.9, 0.8, 0.9])
    assert noisy["p_value"] > 0.05 and "not distinguishable from noise" in noisy["verdict"]


def test_comparison_matches_single_runs_and_shares_initial_labels():
    base = get_preset("digits-compare").replace(n_rounds=4)
    curves = [c for batch in run_comparison(base, ["entropy", "random"], 2, seeds_per_batch=2) for c in batch]
    for c in curves:
        single = [r.accuracy for r in run_loop(base.replace(strategy=c.strategy, seed=c.seed))]
        np.testing.assert_allclose(c.accuracy, single, atol=1e-12)

    def first_revealed(seed):  # revealed points at each arm's first fit
        configs = comparison_configs(base.replace(n_rounds=1), ["entropy", "random"], seed)
        return [np.flatnonzero(record.status == REVEALED) for _, record in run_arms(configs)]

    entropy_0, random_0 = first_revealed(base.seed)
    entropy_1, random_1 = first_revealed(base.seed + 1)
    assert len(entropy_0) == base.n_initial
    np.testing.assert_array_equal(entropy_0, random_0)  # the strategies of a seed share its initial labels
    np.testing.assert_array_equal(entropy_1, random_1)
    assert not np.array_equal(entropy_0, entropy_1)  # and another seed draws others



def test_a_comparison_does_not_check_labels_it_never_shows(monkeypatch):
    import alsim.loop.run as loop_run

    def refuse(*args, **kwargs):
        raise AssertionError("a comparison checked labels")

    monkeypatch.setattr(loop_run, "check_labels", refuse)
    base = get_preset("digits-tutorial").replace(n_rounds=2, oracle_noise=0.2, flag_label_errors=True)
    with pytest.raises(AssertionError, match="checked labels"):  # a single run does check them
        list(run_loop(base))
    curves = batch_curves(base, ["entropy", "random"], [base.seed])
    plain = batch_curves(base.replace(flag_label_errors=False), ["entropy", "random"], [base.seed])
    assert [c.accuracy for c in curves] == [c.accuracy for c in plain]


def test_growing_batches_cover_the_seeds():
    assert growing_batches(20) == [1, 1, 2, 2, 3, 3, 4, 4]
    assert growing_batches(5) == [1, 1, 2, 1]
    assert growing_batches(1) == [1]
    assert sum(growing_batches(50)) == 50 and max(growing_batches(50)) == 4


def test_a_worker_process_gives_the_sequential_numbers_exactly():
    from alsim.evidence import workers

    base = get_preset("digits-compare").replace(n_rounds=4, pool_size=500)
    strategies = ["entropy", "random"]
    sequential = [c for batch in run_comparison(base, strategies, 5) for c in batch]  # one seed at a time, here
    assert [c.seed for c in sequential] == [s for s in range(base.seed, base.seed + 5) for _ in strategies]
    assert all(c.stops for c in sequential)  # the stopping rules travel back too
    # One batch computed in the worker process itself; then the worker is started, so the comparison hands it work.
    future = workers.submit(batch_curves, base, strategies, [base.seed + 2, base.seed + 3])
    assert future is not None and future.result(timeout=600) == sequential[4:8]
    assert workers.wait_warm(60)
    shared = list(run_comparison(base, strategies, 5, seeds_per_batch=[1, 1, 2, 1], workers=2))
    assert [len(batch) for batch in shared] == [2, 2, 4, 2]  # batches in seed order
    assert [c for batch in shared for c in batch] == sequential  # every number and stop equal
    # No worker allowed (a server whose other runs wait): the same numbers, all computed here.
    alone = list(run_comparison(base, strategies, 5, seeds_per_batch=[1, 1, 2, 1], workers=2,
                                keep_workers=lambda: False))
    assert [c for batch in alone for c in batch] == sequential


def test_the_worker_computes_with_the_callers_blas_threads():
    # The number of BLAS threads moves the last bits of a dense product: a seed computed by the
    # worker must be computed as the caller would.
    from threadpoolctl import threadpool_limits

    from alsim.evidence import workers

    for threads in (2, 1):
        with threadpool_limits(limits=threads, user_api="blas"):
            assert workers.blas_threads() == threads
            assert workers.submit(workers.blas_threads).result(timeout=300) == threads


def test_a_worker_still_starting_up_does_not_hold_back_the_seeds_after_it(monkeypatch):
    """The batch handed to a worker that has not answered yet is computed here next, in order."""
    from concurrent.futures import Future

    from alsim.evidence import compare, workers

    base = get_preset("digits-compare").replace(n_rounds=2, pool_size=300)
    strategies = ["entropy", "random"]
    handed, computed_here = [], []
    real_batch_curves = compare.batch_curves

    def never_answers(fn, base, strategies, seeds):  # a worker process still importing
        handed.append(seeds[0])
        return Future()

    def recorded(base, strategies, seeds, progress=None):
        computed_here.append(seeds[0])
        return real_batch_curves(base, strategies, seeds, progress)

    monkeypatch.setattr(workers, "submit", never_answers)
    monkeypatch.setattr(workers, "warm", lambda: False)
    monkeypatch.setattr(compare, "WORKER_START_SECONDS", 0.0)
    monkeypatch.setattr(compare, "batch_curves", recorded)
    shared = list(run_comparison(base, strategies, 6, seeds_per_batch=[1, 1, 1, 1, 2], workers=2))
    first = base.seed
    assert handed and handed[0] == first + 1  # the worker was handed the second batch
    assert computed_here == [first, first + 1, first + 2, first + 3, first + 4]  # every batch here, in order
    sequential = [c for batch in run_comparison(base, strategies, 6) for c in batch]
    assert [c for batch in shared for c in batch] == sequential


def test_request_validation():
    with pytest.raises(ConfigError, match="initial 'first' gives every seed the same initial labels"):
        list(run_comparison(Config(), ["entropy"], 3))
    with pytest.raises(ConfigError, match="strategies must be among"):
        list(run_comparison(get_preset("digits-compare"), ["bald"], 2))


def test_full_label_accuracy_is_a_k_fold_estimate():
    acc = full_label_accuracy(get_preset("digits-compare"))
    assert 0.97 < acc < 1.0


def test_compare_cli(capsys):
    from alsim.cli.main import main

    code = main(["compare", "--preset", "digits-compare", "--seeds", "2", "--strategies", "entropy,random",
                 "--set", "n_rounds=3", "--target", "0.9"])
    out = capsys.readouterr().out
    assert code == 0 and "too few seeds (2)" in out and "entropy reaches 0.900" in out


def test_compare_defaults_to_20_seeds_on_digits(capsys):
    """Enough paired seeds for a verdict by default where runs are cheap."""
    from alsim.cli.main import main

    code = main(["compare", "--preset", "digits-compare", "--strategies", "entropy,random", "--set", "n_rounds=2",
                 "--set", "pool_size=400", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and len(doc["seeds"]) == 20
    assert {c["seed"] for c in doc["curves"]} == set(range(20))


def test_a_target_above_the_ceiling_is_said_so():
    from alsim.evidence.ceiling import Ceiling
    from alsim.evidence.compare import target_note

    reach = Ceiling(ceiling=0.96, chance=0.1, evaluated_on="pool", n=300)
    assert target_note(summarize(_curves(), target=0.99, ceiling=reach)) == (
        "; above the ceiling (0.9600, the model cross-validated with every label): a curve scored on the shrinking "
        "unlabeled pool can still pass it, but that says more about the pool left than about the strategy")
    assert target_note(summarize(_curves(), target=0.9, ceiling=reach)) == ""
    assert target_note(summarize(_curves(), target=0.99)) == ""  # no ceiling measured: nothing to say


def test_a_prestarted_worker_is_warm_and_leaves_the_numbers_unchanged(monkeypatch):
    """The launcher's warm-up (``prestart_worker``): after it, a comparison hands batches to the worker at once."""
    from alsim.evidence import compare, workers

    base = get_preset("digits-compare").replace(n_rounds=3, pool_size=400)
    strategies = ["entropy", "random"]
    future = compare.prestart_worker(base)
    assert future is not None and future.result(timeout=600) == ("random", base.seed, 2)  # a two-round run
    assert workers.wait_warm(60)
    sequential = [c for batch in run_comparison(base, strategies, 4) for c in batch]
    handed = []
    real_submit = workers.submit

    def recorded(fn, *args):
        handed.append(args[2])
        return real_submit(fn, *args)

    monkeypatch.setattr(workers, "submit", recorded)
    # A first batch far too short to pay for a cold worker: handed out only because the worker is warm.
    monkeypatch.setattr(compare, "WORKER_START_SECONDS", 1e9)
    shared = [c for batch in run_comparison(base, strategies, 4, seeds_per_batch=[1, 1, 1, 1], workers=2)
              for c in batch]
    assert handed and handed[0] == [base.seed + 1]
    assert shared == sequential


def test_arms_that_differ_only_in_tol_are_each_spread_with_their_own():
    """Arms batched per graph must keep their own stopping tolerance (it is part of the batch's key)."""
    base = get_preset("digits-tutorial").replace(n_rounds=2, initial="random")
    configs = [base.replace(tol=1e-2), base.replace(tol=1e-8)]
    batched = [[], []]
    for arm, record in run_arms(configs):
        batched[arm].append(record)
    assert batched[0][0].n_iter != batched[1][0].n_iter  # the two tolerances stop at other iterations
    for config, rounds in zip(configs, batched):
        alone = list(run_loop(config))
        assert [r.n_iter for r in rounds] == [r.n_iter for r in alone]
        for mine, own in zip(rounds, alone):
            np.testing.assert_array_equal(mine.predicted, own.predicted)


@pytest.fixture
def digits_with_a_test_split():
    """Digits as a data set with a held-out split (1,200 pool points, 597 test points), for test evaluation."""
    from sklearn.datasets import load_digits

    from alsim.data import sources
    from alsim.data.datasets import Dataset

    x, y = load_digits(return_X_y=True)
    name = "digits-split-for-batching"
    dataset = Dataset(name=name, images=None, labels=y[:1200], class_names=tuple(str(c) for c in range(10)),
                      test_labels=y[1200:], embeddings=x[:1200], test_embeddings=x[1200:])
    sources.register_source(sources.SourceInfo(name=name, description="digits with a test split",
                                               load=lambda: dataset, features=("precomputed",), image_shape=None,
                                               has_test=True, locator=lambda: name))
    yield name
    with sources._LOCK:
        sources._SOURCES.pop(name, None)


def test_each_batched_arm_is_scored_on_the_test_set_with_its_own_model(digits_with_a_test_split):
    """Two label-spreading arms of different seeds share a graph; each one's test predictions are its own."""
    base = get_preset("digits-compare").replace(dataset=digits_with_a_test_split, features="precomputed",
                                                n_initial=12, n_rounds=3, evaluation="test")
    configs = [base.replace(seed=1), base.replace(seed=2, strategy="random")]
    batched = [[], []]
    for arm, record in run_arms(configs):
        batched[arm].append(record)
    for config, rounds in zip(configs, batched):
        alone = list(run_loop(config))
        assert len(rounds) == len(alone) == 3
        for mine, own in zip(rounds, alone):
            assert mine.test.n == 597 and mine.test.accuracy == own.test.accuracy
            np.testing.assert_array_equal(mine.test.confusion, own.test.confusion)
    assert [r.test.accuracy for r in batched[0]] != [r.test.accuracy for r in batched[1]]


def test_an_arm_that_finishes_early_leaves_the_others_their_own_fits():
    """Arms with fewer rounds stop; the arms still running must get their own fits, not a finished arm's."""
    base = get_preset("digits-tutorial").replace(initial="random")
    configs = [base.replace(n_rounds=2), base.replace(n_rounds=4, strategy="random")]
    batched = [[], []]
    for arm, record in run_arms(configs):
        batched[arm].append(record)
    assert len(batched[0]) == 2 and len(batched[1]) == 4
    alone = list(run_loop(configs[1]))
    for mine, own in zip(batched[1], alone):
        np.testing.assert_array_equal(mine.predicted, own.predicted)
        np.testing.assert_array_equal(mine.queried, own.queried)
        assert mine.accuracy == own.accuracy and mine.n_iter == own.n_iter


def test_a_comparison_reads_no_score_on_the_last_few_images_of_a_small_pool():
    base = Config(dataset="digits", pool_size=160, initial="stratified", n_initial=8, batch_size=5, n_rounds=31,
                  kernel="knn", n_neighbors=10)
    curves = batch_curves(base, ["entropy", "random"], [0, 1])
    lasts = {}
    for seed in (0, 1):
        for config, curve in zip(comparison_configs(base, ["entropy", "random"], seed), curves[2 * seed:2 * seed + 2]):
            rounds = list(run_loop(config))
            scored_on = [r.headline.n for r in rounds]
            cut = max(k for k, n in enumerate(scored_on) if n >= 30) + 1  # after it, fewer than 30 images are left
            assert cut < len(rounds) and scored_on[-1] < 10
            assert curve.accuracy[:cut] == tuple(r.score for r in rounds[:cut])
            assert all(np.isnan(curve.accuracy[cut:]))
            lasts.setdefault(config.strategy, []).append(rounds[cut - 1].score)
    # Final means are of each seed's last round scored on 30 images or more.
    summary = summarize(curves)
    for s in summary.strategies:
        assert s.final_mean == pytest.approx(np.mean(lasts[s.strategy]))
