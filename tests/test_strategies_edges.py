"""Query strategies at their edges: negative similarity, D^2 odds, margin pools, bootstrap reach, purity ties, growth."""

import numpy as np
from numpy.testing import assert_allclose

from alsim import Config
from alsim.strategies import QueryContext, run_strategy
from alsim.strategies.badge import badge_select
from alsim.strategies.diversity import choose_delta, purity


# --------------------------------------------------------------------------- density
def test_information_density_gives_no_weight_to_points_pointing_away():
    from sklearn.metrics.pairwise import cosine_similarity

    from alsim.strategies.density import information_density

    x = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    proba = np.full((4, 2), 0.5)
    similarity = cosine_similarity(x).mean(axis=1)
    assert_allclose(similarity, [0.5, 0.5, 0.5, -0.5])
    # the last point's mean similarity is negative: clipped to 0, whatever beta
    assert_allclose(information_density(proba, x, beta=1.0), [np.log(2) * 0.5] * 3 + [0.0], atol=1e-12)
    assert_allclose(information_density(proba, x, beta=2.0), [np.log(2) * 0.25] * 3 + [0.0], atol=1e-12)
    context = QueryContext(proba=proba, features=x, status=np.zeros(4, np.int8), candidates=np.arange(4), k=3,
                           rng=np.random.default_rng(0))
    query = run_strategy("density", context)
    assert sorted(query.ids.tolist()) == [0, 1, 2]
    assert query.scores[3] == 0.0


# --------------------------------------------------------------------------- BADGE
def test_badge_draws_the_next_centre_in_proportion_to_the_squared_distance():
    # a = p - onehot = (-1/2, 1/2) for every row, so ||g_i - g_j||^2 = |a|^2 (x_i - x_j)^2 = (x_i - x_j)^2 / 2.
    # The first centre is x = 4 (largest gradient); then x = 3 is at 1/2 and x = 0 at 8:
    # the second centre is the point at 0 with probability 8 / 8.5.
    proba = np.full((3, 2), 0.5)
    x = np.array([[4.0], [3.0], [0.0]])
    n = 2000
    seconds = []
    for seed in range(n):
        ids, _ = badge_select(proba, x, np.arange(3), 2, np.random.default_rng(seed))
        assert ids[0] == 0
        seconds.append(int(ids[1]))
    p = 8.0 / 8.5
    share = seconds.count(2) / n
    bound = 4.0 * np.sqrt(p * (1.0 - p) / n)  # four binomial standard errors
    assert abs(share - p) < bound, (share, p, bound)


# --------------------------------------------------------------------------- Cluster-Margin
def test_cluster_margin_takes_candidates_times_the_batch_size_lowest_margin_points():
    # three blobs of 10 identical points: margins 0 (blob 0), 0.2 (blob 1), 0.8 (blob 2).
    # With candidates = 10 and k = 2 the 20 lowest-margin points are blobs 0 and 1, each
    # its own cluster: the round-robin takes one point of each.
    x = np.repeat([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]], 10, axis=0)
    proba = np.repeat([[0.5, 0.5], [0.6, 0.4], [0.9, 0.1]], 10, axis=0)
    config = Config().replace(cluster_margin_clusters=3)
    assert config.strategy_params["cluster_margin"].candidates == 10
    for seed in range(10):
        context = QueryContext(proba=proba, features=x, status=np.zeros(30, np.int8), candidates=np.arange(30), k=2,
                               rng=np.random.default_rng(seed), params={"config": config})
        query = run_strategy("cluster_margin", context)
        assert sorted((query.ids // 10).tolist()) == [0, 1], seed
        assert_allclose(query.scores, np.repeat([1.0, 0.8, 0.2], 10))


# --------------------------------------------------------------------------- query by committee
def test_committee_bootstrap_samples_can_hold_every_labeled_row(monkeypatch):
    from alsim.learn import models

    n, n_classes = 8, 2
    x = np.arange(n, dtype=float)[:, None]  # each row's feature is its id
    train = np.full(n, -1)
    train[[1, 4, 6]] = [0, 1, 0]
    drawn = []

    def fake_fit(model, C, seed, train_x, train_y, predict_on, n_classes, state=None):
        drawn.append(train_x[:, 0].astype(int).tolist())
        assert train_y.tolist() == train[train_x[:, 0].astype(int)].tolist()
        return [np.full((len(f), n_classes), 1.0 / n_classes) for f in predict_on]

    monkeypatch.setattr(models, "fit_supervised", fake_fit)
    config = Config(model="logistic_regression").replace(committee_size=100)
    context = QueryContext(proba=np.full((n, n_classes), 0.5), features=x, status=(train >= 0).astype(np.int8),
                           candidates=np.flatnonzero(train < 0), k=1, rng=np.random.default_rng(0),
                           params={"config": config, "train_labels": train})
    run_strategy("qbc", context)
    assert len(drawn) == 100
    assert all(len(sample) == 3 and set(sample) <= {1, 4, 6} for sample in drawn)
    # a row is left out of all 100 samples with probability (2/3)^300
    assert set().union(*map(set, drawn)) == {1, 4, 6}


# --------------------------------------------------------------------------- ProbCover's delta
def test_choose_delta_on_a_grid_accepts_a_purity_of_exactly_alpha():
    nearest = np.array([1.0, 2.0, 3.0, 4.0])
    assert purity(nearest, 0.5) == 1.0
    assert purity(nearest, 1.5) == 0.75  # 3 of 4 farther than 1.5: exactly alpha
    assert purity(nearest, 2.5) == 0.5
    assert choose_delta(nearest, 0.75, deltas=[0.5, 1.5, 2.5]) == 1.5
    assert choose_delta(nearest, 0.76, deltas=[0.5, 1.5, 2.5]) == 0.5


# --------------------------------------------------------------------------- k-means growth
def test_kmeans_grow_reaches_about_the_within_cluster_error_of_a_full_kmeans():
    from sklearn.cluster import KMeans

    from alsim.strategies.common import kmeans_fit, kmeans_grow

    ratios = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        means = rng.uniform(-10.0, 10.0, size=(12, 10))
        x = means[rng.integers(0, 12, 400)] + rng.normal(size=(400, 10))
        centres, labels = kmeans_fit(x, 2, 0)
        grown, _ = kmeans_grow(x, centres, labels, 12, seed)
        error = ((x[:, None, :] - grown[None]) ** 2).sum(axis=2).min(axis=1).sum()
        reference = KMeans(n_clusters=12, n_init=10, random_state=0).fit(x).inertia_
        ratios.append(error / reference)
    # growth keeps the best of its k-means++ draws: Lloyd's iterations do not undo a bad seeding of
    # well-separated blobs (two centres in one blob), so keeping the worst draw averages near 2.8
    assert np.mean(ratios) < 1.6, ratios
