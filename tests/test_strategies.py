import numpy as np
import pytest
from numpy.testing import assert_allclose

from alsim.strategies import query, select, uncertainty_scores

PROBA = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.6, 0.3, 0.1], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.0, 0.0]])


def test_entropy_golden():
    assert_allclose(uncertainty_scores(PROBA, "entropy"),
                    [0.0, np.log(2), 0.8979457248567798, np.log(3), np.log(3)])


def test_margin_golden():
    assert_allclose(uncertainty_scores(PROBA, "margin"), [0.0, 1.0, 0.7, 1.0, 1.0])


def test_least_confident_golden():
    assert_allclose(uncertainty_scores(PROBA, "least_confident"), [0.0, 0.5, 0.4, 2 / 3, 1.0])


def test_unknown_measure():
    with pytest.raises(ValueError, match="method must be one of"):
        uncertainty_scores(PROBA, "bald")


def test_select_top_k_among_candidates_only():
    scores = np.array([9.0, 1.0, 5.0, 7.0, 3.0])
    picked = select(scores, np.array([1, 2, 3, 4]), 2, np.random.default_rng(0))
    assert picked.tolist() == [3, 2]  # 0 has the top score but is not a candidate


def test_ties_broken_by_the_seeded_generator():
    scores = np.ones(100)
    candidates = np.arange(100)
    a = select(scores, candidates, 5, np.random.default_rng(1))
    b = select(scores, candidates, 5, np.random.default_rng(1))
    c = select(scores, candidates, 5, np.random.default_rng(2))
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert len(set(a.tolist())) == 5


def test_random_and_none_queries():
    rng = np.random.default_rng(0)
    picked = query(PROBA, np.array([0, 2, 4]), 2, "random", rng)
    assert set(picked.tolist()) <= {0, 2, 4} and len(set(picked.tolist())) == 2
    assert query(PROBA, np.array([0, 2]), 5, "entropy", rng).tolist() == [2, 0]
    assert len(query(PROBA, np.array([0, 2]), 2, "none", rng)) == 0


def test_select_orders_as_a_full_lexsort_ties_and_nan_included():
    # select sorts only the candidates at or above the k-th score; the order must be the
    # full two-key lexsort's (score, then one uniform draw per candidate), rng use included.
    def reference(scores, candidates, k, rng):
        tie_break = rng.random(len(candidates))
        return candidates[np.lexsort((tie_break, -scores[candidates]))[:k]]

    rng = np.random.default_rng(0)
    for case in range(400):
        n = int(rng.integers(1, 120))
        scores = rng.integers(0, int(rng.integers(1, 5)), n).astype(float)  # long runs of ties
        if case % 4 == 0:
            scores[rng.random(n) < 0.3] = np.nan
        if case % 5 == 0:
            scores[rng.random(n) < 0.3] = np.inf
        candidates = rng.choice(n, int(rng.integers(1, n + 1)), replace=False)
        k = int(rng.integers(1, len(candidates) + 1))
        a, b = np.random.default_rng(case), np.random.default_rng(case)
        assert select(scores, candidates, k, a).tolist() == reference(scores, candidates, k, b).tolist(), case
        assert a.random() == b.random()


def test_margin_of_many_classes_golden():
    # more than 32 classes take the partition path, fewer the column passes: same numbers
    rng = np.random.default_rng(1)
    for n_classes in (3, 10, 33, 40):
        proba = rng.dirichlet(np.ones(n_classes), size=50)
        proba[::7] = 0.0
        top = np.sort(proba, axis=1)
        assert_allclose(uncertainty_scores(proba, "margin"), 1.0 - (top[:, -1] - top[:, -2]), rtol=0, atol=0)


def test_run_strategy_rejects_duplicates_and_points_that_are_not_candidates(monkeypatch):
    from alsim.strategies import Query, StrategyInfo, base, run_strategy

    # point 2 is unlabeled but not a candidate (say the oracle cannot answer it)
    answers = {"duplicate": [3, 3], "revealed": [0, 3], "not-a-candidate": [2, 3], "outside": [3, 9],
               "fine": [4, 1]}
    for name, ids in answers.items():
        monkeypatch.setitem(base._REGISTRY, f"test-{name}", StrategyInfo(
            f"test-{name}", lambda context, ids=ids: Query(np.asarray(ids), None, ""), ""))
    context = base.QueryContext(proba=PROBA, features=np.zeros((5, 0)), status=np.array([1, 0, 0, 0, 0], np.int8),
                                candidates=np.array([1, 3, 4]), k=2, rng=np.random.default_rng(0))
    for name in ("duplicate", "revealed", "not-a-candidate", "outside"):
        with pytest.raises(RuntimeError, match=f"strategy 'test-{name}' broke the contract"):
            run_strategy(f"test-{name}", context)
    assert run_strategy("test-fine", context).ids.tolist() == [4, 1]


def test_the_loop_gives_each_run_one_strategy_state_for_all_its_rounds(monkeypatch):
    from alsim import Config, run_loop
    from alsim.strategies import StrategyInfo, base

    seen = []

    def spy(context):
        state = context.params["strategy_state"]
        seen.append((state, dict(state)))
        state["rounds"] = state.get("rounds", 0) + 1
        return base.get_strategy("random").function(context)

    monkeypatch.setitem(base._REGISTRY, "test-spy", StrategyInfo("test-spy", spy, ""))
    config = Config(initial="random", n_rounds=3, strategy="test-spy")
    list(run_loop(config))
    list(run_loop(config))
    assert [s for _, s in seen] == [{}, {"rounds": 1}, {"rounds": 2}] * 2  # the third: the scores-only call
    assert seen[0][0] is seen[2][0] and seen[3][0] is not seen[0][0]


def test_uncertainty_strategies_use_the_loops_scores_of_their_own_measure():
    from alsim.strategies import base, run_strategy

    def context(params):
        return base.QueryContext(proba=PROBA, features=np.zeros((5, 0)), status=np.zeros(5, np.int8),
                                 candidates=np.arange(5), k=1, rng=np.random.default_rng(0), params=params)

    given = np.array([0.0, 0.0, 5.0, 0.0, 0.0])  # not PROBA's entropy: shows which scores were used
    used = run_strategy("entropy", context({"uncertainty": ("entropy", given)}))
    assert used.ids.tolist() == [2] and used.scores is not given
    np.testing.assert_array_equal(used.scores, given)
    for params in ({}, {"uncertainty": ("margin", given)}):  # none, or another measure's: computed here
        own = run_strategy("entropy", context(params))
        assert own.ids.tolist() == [4]
        np.testing.assert_array_equal(own.scores, uncertainty_scores(PROBA, "entropy"))


@pytest.mark.parametrize("strategy", ["entropy", "margin", "least_confident"])
def test_a_runs_uncertainty_query_ranks_by_the_records_uncertainty(strategy):
    from alsim import Config, run_loop

    config = Config(dataset="digits", initial="random", n_initial=20, batch_size=7, n_rounds=3, strategy=strategy)
    for record in run_loop(config):
        assert record.uncertainty_measure == strategy and record.score_name == strategy
        np.testing.assert_array_equal(record.scores, record.uncertainty)
        assert record.scores is not record.uncertainty
