"""The feature-space and committee strategies: golden values, invariants, cross-checks.

Cross-checks against scikit-activeml run only where it is installed (a benchmark
dependency, never a runtime one); they are skipped with the reason otherwise.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from alsim import Config
from alsim.strategies import QueryContext, run_strategy, strategy_names
from alsim.strategies.badge import badge_select
from alsim.strategies.cluster_margin import round_robin
from alsim.strategies.committee import mean_kl_divergence, vote_entropy
from alsim.strategies.density import information_density, mean_cosine_similarity
from alsim.strategies.diversity import (
    TypiClustState,
    choose_delta,
    delta_ball_graph,
    k_center_greedy,
    kcenter_start,
    other_cluster_distances,
    probcover_select,
    purity,
    typical_start,
    typicality,
    typiclust_select,
)

NEW = ("coreset", "typiclust", "probcover", "badge", "density", "qbc", "cluster_margin")
# Points on a line: 0, 1, 2, 10, 11, 30
LINE = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [30.0]])


def _skactiveml():
    return pytest.importorskip("skactiveml.pool",
                               reason="scikit-activeml is a benchmark dependency and is not installed")


def test_registry_keeps_the_first_four_in_order_and_lists_every_new_strategy():
    names = strategy_names()
    assert names[:4] == ("entropy", "margin", "least_confident", "random")
    assert set(NEW) <= set(names)


# --------------------------------------------------------------------------- core-set
def test_k_center_greedy_golden_on_a_line():
    ids, distance = k_center_greedy(LINE, np.array([0]), np.arange(1, 6), 3, np.random.default_rng(0))
    # farthest from {0} is 30; after {0, 30}: 1->1, 2->2, 10->10, 11->11, so 11;
    # after {0, 30, 11}: 1->1, 2->2, 10->1, so 2
    assert ids.tolist() == [5, 4, 2]
    assert_allclose(distance, [1, 2, 10, 11, 30])


def test_k_center_greedy_without_centres_is_seeded_and_distinct():
    a, _ = k_center_greedy(LINE, np.zeros(0, int), np.arange(6), 6, np.random.default_rng(3))
    b, _ = k_center_greedy(LINE, np.zeros(0, int), np.arange(6), 6, np.random.default_rng(3))
    assert a.tolist() == b.tolist() and sorted(a.tolist()) == list(range(6))


# --------------------------------------------------------------------------- TypiClust
def test_typicality_golden():
    # cluster {0, 1, 2} with 1 neighbour: nearest distances 1, 1, 1 -> typicality 1
    assert_allclose(typicality(LINE, np.array([0, 1, 2]), 1), [1, 1, 1], rtol=1e-6)
    # 2 neighbours: 0 -> (1 + 2) / 2, 1 -> (1 + 1) / 2, 2 -> (1 + 2) / 2
    assert_allclose(typicality(LINE, np.array([0, 1, 2]), 2), [2 / 3, 1, 2 / 3], rtol=1e-6)
    assert_allclose(typicality(LINE, np.array([5]), 20), [1.0])


def test_typiclust_picks_the_centre_of_the_largest_uncovered_cluster_first():
    labels = np.array([0, 0, 0, 1, 1, 2])
    revealed = np.zeros(6, bool)
    ids, scores = typiclust_select(LINE, labels, revealed, np.arange(6), 2, 2, np.random.default_rng(0))
    assert ids[0] == 1  # the middle of the 3-point cluster
    assert ids[1] in (3, 4)  # then the 2-point cluster
    assert scores[1] == pytest.approx(1.0, rel=1e-6)
    revealed[1] = True  # cluster 0 covered: the 2-point cluster comes first
    ids, _ = typiclust_select(LINE, labels, revealed, np.array([0, 2, 3, 4, 5]), 1, 2, np.random.default_rng(0))
    assert ids[0] in (3, 4)


# --------------------------------------------------------------------------- ProbCover
def test_purity_and_delta_golden():
    labels = np.array([0, 0, 0, 1, 1, 2])
    nearest = other_cluster_distances(LINE, labels, np.arange(6))
    assert_allclose(nearest, [10, 9, 8, 8, 9, 19])
    assert purity(nearest, 8.5) == pytest.approx(4 / 6)
    delta = choose_delta(nearest, alpha=0.5)  # 3 of 6 must stay pure: sorted 8 8 9 9 10 19 -> just below 9
    assert delta < 9 and delta == pytest.approx(9)
    assert purity(nearest, delta) >= 0.5 and purity(nearest, 9.0) < 0.5
    assert choose_delta(nearest, 0.5, deltas=[1, 5, 8, 9, 12]) == 8  # the grid rule


def test_delta_ball_graph_is_the_radius_search():
    graph = delta_ball_graph(LINE, 1.5).toarray()
    expected = np.abs(LINE - LINE.T) <= 1.5
    assert_array_equal(graph, expected)


def test_probcover_greedy_coverage_golden():
    graph = delta_ball_graph(LINE, 1.5)
    revealed = np.zeros(6, bool)
    ids, degree = probcover_select(graph, revealed, np.arange(6), 3, np.random.default_rng(0))
    assert degree.tolist() == [2, 3, 2, 2, 2, 1]
    assert ids[0] == 1  # its ball {0, 1, 2} is the largest
    assert set(ids[1:].tolist()) <= {3, 4, 5} and ids[1] in (3, 4)
    revealed[1] = True  # 0, 1, 2 covered
    _, degree = probcover_select(graph, revealed, np.array([0, 2, 3, 4, 5]), 1, np.random.default_rng(0))
    assert degree.tolist() == [0, 0, 0, 2, 2, 1]


def test_csr_row_indices_are_those_of_the_row_slice():
    import scipy.sparse as sp

    from alsim.strategies.diversity import csr_row_indices

    graph = sp.random(40, 40, density=0.1, format="csr", random_state=0) > 0  # some rows empty
    for rows in ([], [3], [5, 5, 1], list(range(40)), [39, 0]):
        assert_array_equal(csr_row_indices(graph, np.array(rows, dtype=np.int64)), graph[rows].indices)


def _check_greedy_coverage(x, sample, revealed, candidates, picks, delta):
    """Each pick, by brute force (dense distances), covers the most sampled points still uncovered."""
    dist = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2))
    covered = (dist[np.ix_(sample, np.flatnonzero(revealed))] <= delta).any(axis=1)
    ball = dist[np.ix_(sample, sample)] <= delta  # ball[i, j]: sample point j in the ball of i
    open_ids = [i for i, s in enumerate(sample) if s in set(candidates.tolist())]
    gains = []
    for pick in picks:
        gain = {i: int((ball[i] & ~covered).sum()) for i in open_ids}
        i = int(np.flatnonzero(sample == pick)[0])
        assert gain[i] == max(gain.values()), (pick, gain[i], max(gain.values()))
        gains.append(gain[i])
        covered |= ball[i]
        open_ids.remove(i)
    return gains


def test_probcover_on_a_sample_of_a_large_pool_is_the_greedy_coverage_of_that_sample():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(400, 2))
    status = np.zeros(400, dtype=np.int8)
    status[rng.choice(400, 30, replace=False)] = 1
    config = Config().with_overrides(["probcover_sample=120", "probcover_delta=0.6"])
    context = QueryContext(proba=np.full((400, 3), 1 / 3), features=x, status=status,
                           candidates=np.flatnonzero(status == 0), k=6, rng=np.random.default_rng(0),
                           params={"config": config})
    query = run_strategy("probcover", context)
    sample = np.sort(np.random.default_rng(0).choice(400, 120, replace=False))
    assert set(query.ids.tolist()) <= set(sample.tolist())
    gains = _check_greedy_coverage(x, sample, status == 1, context.candidates, query.ids, 0.6)
    assert query.scores[query.ids[0]] == gains[0] and query.scores[np.setdiff1d(np.arange(400), sample)].max() == 0
    whole = run_strategy("probcover", QueryContext(proba=context.proba, features=x, status=status,
                                                   candidates=context.candidates, k=6, rng=np.random.default_rng(0),
                                                   params={"config": config.replace(probcover_sample=0)}))
    assert not set(whole.ids.tolist()) <= set(sample.tolist())  # 0: every pool point takes part


def test_probcover_tops_up_at_random_when_the_sample_runs_out_of_candidates():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 2))
    sample = np.sort(np.random.default_rng(0).choice(300, 100, replace=False))
    status = np.zeros(300, dtype=np.int8)
    status[sample[:97]] = 1  # three sampled candidates left
    context = QueryContext(proba=np.full((300, 2), 0.5), features=x, status=status,
                           candidates=np.flatnonzero(status == 0), k=8, rng=np.random.default_rng(0),
                           params={"config": Config().replace(probcover_sample=100, probcover_delta=0.3)})
    ids = run_strategy("probcover", context).ids
    assert len(set(ids.tolist())) == 8 and set(sample[97:].tolist()) <= set(ids.tolist())


# --------------------------------------------------------------------------- BADGE, density, committee
def test_badge_first_pick_is_the_largest_gradient_and_the_kronecker_trick_is_exact():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(3), size=40)
    x = rng.normal(size=(40, 5))
    ids, norms = badge_select(proba, x, np.arange(40), 5, np.random.default_rng(1))
    a = proba - np.eye(3)[proba.argmax(axis=1)]
    g = (a[:, :, None] * x[:, None, :]).reshape(40, -1)
    assert_allclose(norms, np.linalg.norm(g, axis=1))
    assert ids[0] == np.argmax(norms) and len(set(ids.tolist())) == 5
    again, _ = badge_select(proba, x, np.arange(40), 5, np.random.default_rng(1))
    assert again.tolist() == ids.tolist()


def test_badge_never_draws_a_duplicate_of_a_chosen_centre():
    # three groups of identical embeddings: D^2 sampling must take one of each
    proba = np.repeat([[0.6, 0.4], [0.2, 0.8], [0.5, 0.5]], 4, axis=0)
    x = np.repeat([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]], 4, axis=0)
    for seed in range(5):
        ids, _ = badge_select(proba, x, np.arange(12), 3, np.random.default_rng(seed))
        assert sorted((ids // 4).tolist()) == [0, 1, 2]


def test_information_density_golden():
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    s = np.sqrt(0.5)
    # mean cosine of row 0 to rows (1,0), (0,1), (1,1)/sqrt2: (1 + 0 + s) / 3
    assert_allclose(mean_cosine_similarity(x), [(1 + s) / 3, (1 + s) / 3, (2 * s + 1) / 3])
    proba = np.array([[0.5, 0.5], [1.0, 0.0], [0.5, 0.5]])
    assert_allclose(information_density(proba, x, beta=2.0),
                    [np.log(2) * ((1 + s) / 3) ** 2, 0.0, np.log(2) * ((2 * s + 1) / 3) ** 2])


def test_vote_entropy_and_mean_kl_golden():
    votes = np.array([[0, 0, 0, 0], [0, 1, 0, 1], [0, 1, 2, 2]])
    assert_allclose(vote_entropy(votes, 3), [0.0, np.log(2), -(0.5 * np.log(0.25) + 0.5 * np.log(0.5))])
    probas = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])  # two members, one point, total disagreement
    eps = 1e-7
    p = np.array([1 - eps, eps]) / 1.0
    m = np.array([0.5, 0.5])
    assert_allclose(mean_kl_divergence(probas), [np.sum(p * np.log(p / m))], rtol=1e-6)


def test_round_robin_takes_small_clusters_first_one_at_a_time():
    clusters = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    picked = round_robin(np.arange(9), clusters, 4, np.random.default_rng(0))
    assert [clusters[i] for i in picked] == [1, 0, 2, 1]
    assert len(set(picked.tolist())) == 4


def test_round_robin_one_pass_or_many_follows_citovsky_et_al():
    # Algorithm 1 written as it reads: shuffle, group, clusters by (size, id), one member of each per pass.
    def reference(candidates, clusters, k, rng):
        groups: dict = {}
        for i in rng.permutation(candidates):
            groups.setdefault(int(clusters[i]), []).append(int(i))
        order = sorted(groups, key=lambda c: (len(groups[c]), c))
        chosen: list = []
        while len(chosen) < min(k, len(candidates)):
            for c in order:
                if groups[c] and len(chosen) < min(k, len(candidates)):
                    chosen.append(groups[c].pop())
        return chosen

    rng = np.random.default_rng(0)
    for case in range(300):
        clusters = rng.integers(0, int(rng.integers(1, 12)), 60)
        candidates = rng.choice(60, int(rng.integers(0, 61)), replace=False)
        k = int(rng.integers(0, 25))  # fewer or more than the clusters holding candidates
        a, b = np.random.default_rng(case), np.random.default_rng(case)
        assert round_robin(candidates, clusters, k, a).tolist() == reference(candidates, clusters, k, b), case
        assert a.random() == b.random()


# --------------------------------------------------------------------------- every strategy through the contract
@pytest.fixture(scope="module")
def digits_context_parts():
    from alsim.learn.graph import build_graph, spread
    from alsim.loop.pool import prepare

    config = Config(dataset="digits", initial="random", n_initial=40, batch_size=10, n_rounds=2)
    prepared = prepare(config)
    rng = np.random.default_rng(0)
    train = np.full(len(prepared.labels), -1)
    revealed = rng.choice(len(train), 40, replace=False)
    train[revealed] = prepared.labels[revealed]
    graph = build_graph(prepared.features, "rbf", config.gamma)
    proba = spread(graph, train, prepared.n_classes, config.alpha, config.max_iter, config.tol)[0][0]
    return config, prepared, train, graph, proba


def _context(parts, seed, k=10):
    config, prepared, train, graph, proba = parts
    status = (train >= 0).astype(np.int8)
    return QueryContext(proba=proba, features=prepared.features, status=status,
                        candidates=np.flatnonzero(status == 0), k=k, rng=np.random.default_rng(seed), model=graph,
                        params={"config": config, "train_labels": train})


@pytest.mark.parametrize("name", NEW)
def test_contract_distinct_candidates_k_returned_reproducible(name, digits_context_parts):
    first = run_strategy(name, _context(digits_context_parts, 5))
    again = run_strategy(name, _context(digits_context_parts, 5))
    assert len(first.ids) == 10 and len(set(first.ids.tolist())) == 10
    assert not np.isin(first.ids, np.flatnonzero(digits_context_parts[2] >= 0)).any()
    assert first.ids.tolist() == again.ids.tolist()
    assert first.scores is not None and first.scores.shape == (len(digits_context_parts[2]),) and first.score_name
    assert len(run_strategy(name, _context(digits_context_parts, 5, k=0)).ids) == 0


def test_cold_starts_are_seeded_distinct_and_spread_out():
    from alsim.loop.pool import prepare

    features = prepare(Config(dataset="digits")).features
    eligible = np.arange(len(features))
    a = typical_start(features, eligible, 10, seed=1)
    assert len(set(a.tolist())) == 10 and a.tolist() == typical_start(features, eligible, 10, seed=1).tolist()
    b = kcenter_start(features, eligible, 10, seed=1)
    assert len(set(b.tolist())) == 10 and b.tolist() == kcenter_start(features, eligible, 10, seed=1).tolist()
    labels = prepare(Config(dataset="digits")).labels
    assert len(set(labels[a].tolist())) >= 7  # typical points of 10 clusters cover most digits


def test_strategy_parameters_are_validated_like_every_field():
    from alsim.common.errors import ConfigError

    with pytest.raises(ConfigError, match="committee_size must be an integer >= 2, got 1"):
        Config().replace(committee_size=1)
    with pytest.raises(ConfigError, match="probcover_purity must be in \\(0, 1\\), got 1.0"):
        Config().with_overrides(["probcover_purity=1.0"])
    with pytest.raises(ConfigError, match="committee_measure must be one of 'vote_entropy', 'kl', got 'votes'"):
        Config.from_dict({"committee_measure": "votes"})
    assert Config().with_overrides(["probcover_delta=none"]).strategy_params["probcover"].delta is None


# --------------------------------------------------------------------------- cross-checks with scikit-activeml
def test_coreset_picks_what_skactiveml_coreset_picks(digits_context_parts):
    pool = _skactiveml()
    config, prepared, train, _, _ = digits_context_parts
    y = np.where(train >= 0, train, np.nan).astype(float)
    theirs = pool.CoreSet(random_state=0).query(prepared.features, y, batch_size=10)
    mine, _ = k_center_greedy(prepared.features, np.flatnonzero(train >= 0), np.flatnonzero(train < 0), 10,
                              np.random.default_rng(0))
    assert mine.tolist() == list(theirs)


def test_vote_entropy_equals_skactiveml_vote_entropy(digits_context_parts):
    pool = _skactiveml()
    from alsim.strategies.committee import committee_probas

    probas = committee_probas(_context(digits_context_parts, 2), 7)
    votes = probas.argmax(axis=2).T
    assert_allclose(vote_entropy(votes, probas.shape[2]), pool.vote_entropy(votes, np.arange(probas.shape[2])),
                    atol=1e-12)
    assert_allclose(mean_kl_divergence(probas), pool.average_kl_divergence(probas.copy()), rtol=1e-9, atol=1e-12)


def test_typiclust_with_the_same_kmeans_picks_what_skactiveml_picks(digits_context_parts):
    pool = _skactiveml()
    from sklearn.cluster import KMeans

    _, prepared, train, _, _ = digits_context_parts
    x = prepared.features
    y = np.where(train >= 0, train, np.nan).astype(float)
    n_clusters = int((train >= 0).sum()) + 10
    theirs = pool.TypiClust(random_state=7, k=5).query(x, y, batch_size=10)
    labels = KMeans(n_clusters=n_clusters, random_state=7).fit_predict(x)
    sizes = np.bincount(labels, minlength=n_clusters).astype(float)
    sizes[np.unique(labels[train >= 0])] = 0
    # Cluster order is "largest uncovered first"; where sizes tie, either side's random
    # tie-break is right, so compare the picks cluster by cluster.
    mine, _ = typiclust_select(x, labels, train >= 0, np.flatnonzero(train < 0), 10, 5, np.random.default_rng(0))
    assert sorted(sizes[labels[mine]].tolist()) == sorted(sizes[labels[theirs]].tolist())
    assert len(set(labels[mine].tolist()) & set(labels[theirs].tolist())) >= 5
    for cluster in set(labels[mine].tolist()) & set(labels[theirs].tolist()):
        assert mine[labels[mine] == cluster].tolist() == list(np.asarray(theirs)[labels[theirs] == cluster])


# --------------------------------------------------------------------------- per-run state and shared caches
def test_coreset_with_the_run_state_picks_exactly_what_it_picks_without():
    # Float features (not digits' integer pixels, where every distance is exact): the
    # distances carried from round to round must be the ones computed afresh, to the bit.
    x = np.random.default_rng(5).normal(size=(300, 7))
    status = np.zeros(300, dtype=np.int8)
    status[np.random.default_rng(1).choice(300, 12, replace=False)] = 1
    state: dict = {}

    def both(round_, k=9):
        def context(params):
            return QueryContext(proba=np.full((300, 2), 0.5), features=x, status=status.copy(),
                                candidates=np.flatnonzero(status == 0), k=k, rng=np.random.default_rng([1, round_]),
                                params=params)
        return run_strategy("coreset", context({"strategy_state": state})), run_strategy("coreset", context({}))

    for round_ in range(6):
        kept, fresh = both(round_)
        assert kept.ids.tolist() == fresh.ids.tolist()
        assert_array_equal(kept.scores, fresh.scores)
        status[kept.ids] = 1
    # The oracle leaves one of the last picks unanswered: the state holds a point that is not
    # revealed, so it is set aside and the distances are computed afresh.
    status[kept.ids[-1]] = 0
    kept, fresh = both(6, k=5)
    assert kept.ids.tolist() == fresh.ids.tolist()


def test_kmeans_grow_keeps_every_row_at_its_nearest_centre_and_is_seeded():
    from alsim.strategies.common import kmeans_fit, kmeans_grow

    x = np.random.default_rng(0).normal(size=(400, 5))
    centres, labels = kmeans_fit(x, 6, 0)
    grown, grown_labels = kmeans_grow(x, centres, labels, 11, 3)
    again, again_labels = kmeans_grow(x, centres, labels, 11, 3)
    assert grown.shape == (11, 5) and len(np.unique(grown_labels)) == 11
    assert_array_equal(grown, again)
    assert_array_equal(grown_labels, again_labels)
    nearest = ((x[:, None, :] - grown[None]) ** 2).sum(axis=2).argmin(axis=1)
    assert_array_equal(grown_labels, nearest)


def _typiclust_picks(config, prepared, n_revealed, order, state=None):
    status = np.zeros(len(prepared.labels), dtype=np.int8)
    status[order[:n_revealed]] = 1
    params = {"config": config}
    if state is not None:
        params["strategy_state"] = state
    context = QueryContext(proba=np.full((len(status), 10), 0.1), features=prepared.features, status=status,
                           candidates=np.flatnonzero(status == 0), k=10, rng=np.random.default_rng(n_revealed),
                           params=params)
    return run_strategy("typiclust", context).ids.tolist()


def test_typiclust_warm_starts_from_the_runs_last_clustering_and_each_seed_has_its_own():
    from sklearn.metrics import adjusted_rand_score

    from alsim.loop.pool import prepare
    from alsim.strategies.common import kmeans_fit, kmeans_grow, seed_from

    config = Config(dataset="digits", initial="random", n_initial=40, batch_size=10, strategy="typiclust")
    prepared = prepare(config)
    x = prepared.features
    order = np.random.default_rng(4).permutation(len(prepared.labels))
    state: dict = {}
    first = _typiclust_picks(config, prepared, 40, order, state)
    centres, labels = state["typiclust"].centres, state["typiclust"].labels
    expected = kmeans_fit(x, 50, seed_from(np.random.default_rng(40)))  # no state yet: k-means++
    assert_array_equal(labels, expected[1])
    second = _typiclust_picks(config, prepared, 50, order, state)
    grown = kmeans_grow(x, centres, labels, 60, seed_from(np.random.default_rng(50)))
    assert state["typiclust"].centres.shape == (60, x.shape[1])
    assert_array_equal(state["typiclust"].labels, grown[1])  # round 2 starts from round 1's centres
    # The same inputs give the same picks; without the run's state the round is clustered afresh.
    assert _typiclust_picks(config, prepared, 40, order, {}) == first
    assert _typiclust_picks(config, prepared, 50, order, {"typiclust": TypiClustState(centres, labels)}) == second
    # Seeds draw their own k-means: a comparison's spread includes the clustering's randomness.
    other: dict = {}
    status = np.zeros(len(prepared.labels), dtype=np.int8)
    status[order[:40]] = 1
    context = QueryContext(proba=np.full((len(status), 10), 0.1), features=x, status=status,
                           candidates=np.flatnonzero(status == 0), k=10, rng=np.random.default_rng(99),
                           params={"config": config, "strategy_state": other})
    run_strategy("typiclust", context)
    assert adjusted_rand_score(labels, other["typiclust"].labels) < 0.99


@pytest.mark.parametrize("name", ("coreset", "typiclust", "probcover", "badge", "density", "cluster_margin"))
def test_a_run_gives_the_same_picks_whatever_ran_before_it(name):
    from alsim import run_loop
    from alsim.storage.memory import shared_cache

    base = Config(dataset="digits-tutorial", initial="random", n_initial=40, batch_size=10, n_rounds=3,
                  strategy=name)
    shared_cache("values").clear()
    shared_cache("graphs").clear()
    alone = [r.queried.tolist() for r in run_loop(base.replace(seed=1))]
    first = [r.queried.tolist() for r in run_loop(base.replace(seed=2))]
    after = [r.queried.tolist() for r in run_loop(base.replace(seed=1))]
    assert after == alone and first != alone


@pytest.mark.parametrize("name", ("coreset", "badge", "density"))
def test_other_features_with_a_config_share_nothing_with_that_pool(name):
    from alsim.loop.pool import prepare

    config = Config(dataset="digits", initial="random", n_initial=40, batch_size=10, strategy=name)
    prepared = prepare(config)
    status = np.zeros(len(prepared.labels), dtype=np.int8)
    status[np.random.default_rng(3).permutation(len(status))[:40]] = 1
    proba = np.random.default_rng(5).dirichlet(np.ones(10), size=len(status))

    def picks(features, params):
        context = QueryContext(proba=proba, features=features, status=status,
                               candidates=np.flatnonzero(status == 0), k=10, rng=np.random.default_rng(0),
                               params=params)
        return run_strategy(name, context)

    picks(prepared.features, {"config": config})  # the pool's values are now cached
    other = prepared.features * 0.5 + 3.0
    with_config, without = picks(other, {"config": config}), picks(other, {})
    assert with_config.ids.tolist() == without.ids.tolist()
    assert_array_equal(with_config.scores, without.scores)
    assert other.flags.writeable  # nothing froze the caller's array into a cache
