"""The three seams: data sources, the strategy contract, oracles."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from alsim import Config, Dataset, SourceInfo, get_preset, register_source, run_loop, source_names
from alsim.common.errors import ConfigError
from alsim.data.sources import source_info
from alsim.loop.oracles import FixedAnswers, SimulatedOracle
from alsim.strategies import Query, QueryContext, register, select, strategy_names

SEED_A = [0.8690, 0.9018, 0.9214, 0.9491, 0.9556]


# --------------------------------------------------------------------------- data sources
def test_builtins_are_registered_sources_with_their_capabilities():
    assert source_names()[:3] == ("digits", "digits-tutorial", "fashion-mnist")
    digits, fashion = source_info("digits"), source_info("fashion-mnist")
    assert digits.features == ("raw", "hog", "colorhist", "pretrained", "onnx") and digits.image_shape == (8, 8) and not digits.has_test
    assert fashion.features == ("raw", "hog", "colorhist", "pretrained", "onnx") and fashion.has_test
    assert source_info("digits-tutorial").fixed_pool == 330


def _blobs(n_per_class=40, unknown=0, seed=0, with_images=False, with_test=False) -> Dataset:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    labels = np.repeat(np.arange(3), n_per_class)
    features = centres[labels] + rng.normal(scale=0.6, size=(len(labels), 2))
    truth = labels.copy()
    if unknown:
        truth[rng.choice(len(labels), unknown, replace=False)] = -1
    images = rng.integers(0, 255, size=(len(labels), 6, 6), dtype=np.uint8) if with_images else None
    test = dict(test_embeddings=centres[labels] + rng.normal(scale=0.6, size=(len(labels), 2)),
                test_labels=labels.copy()) if with_test else {}
    return Dataset(name="blobs", images=images, labels=truth, class_names=("a", "b", "c"),
                   embeddings=features, **test)


@pytest.fixture
def blobs_source():
    """An embeddings-only source with a third of its labels unknown, registered for one test."""
    data = _blobs(unknown=40)
    info = register_source(SourceInfo(name="test-blobs", description="three Gaussian blobs", load=lambda: data,
                                      features=("precomputed",), image_shape=None, has_test=False,
                                      labels="partial"), replace=True)
    yield info, data


def test_config_validation_asks_the_source(blobs_source):
    Config(dataset="test-blobs", features="precomputed", n_initial=6, batch_size=3)
    with pytest.raises(ConfigError, match=r"features 'hog' is not available for dataset 'test-blobs'"):
        Config(dataset="test-blobs", features="hog")
    with pytest.raises(ConfigError, match=r"features 'raw' is not available for dataset 'test-blobs' "
                                          r"\(allowed: 'precomputed'\)"):
        Config(dataset="test-blobs", features="raw")
    with pytest.raises(ConfigError, match=r"evaluation 'test' needs a held-out test split; dataset 'test-blobs'"):
        Config(dataset="test-blobs", features="precomputed", evaluation="test")


def test_content_key_is_of_the_data_not_the_name():
    a, b = _blobs(seed=1), _blobs(seed=1)
    assert a.content_key == b.content_key
    renamed = Dataset(name="other", images=None, labels=a.labels, class_names=a.class_names, embeddings=a.embeddings)
    assert renamed.content_key == a.content_key
    changed = np.array(a.labels)
    changed[0] = (changed[0] + 1) % 3
    assert Dataset(name="blobs", images=None, labels=changed, class_names=a.class_names,
                   embeddings=a.embeddings).content_key != a.content_key
    assert _blobs(seed=2).content_key != a.content_key
    assert a.label_status == "known" and _blobs(unknown=5).label_status == "partial"


def test_partly_labeled_source_queries_and_scores_only_known_points(blobs_source):
    _, data = blobs_source
    unknown = np.flatnonzero(data.labels < 0)
    config = Config(dataset="test-blobs", features="precomputed", model="label_spreading", gamma=1.0,
                    initial="random", n_initial=6, batch_size=5, n_rounds=4)
    rounds = list(run_loop(config))
    queried = np.concatenate([r.queried for r in rounds])
    assert not np.isin(queried, unknown).any()  # the simulation cannot reveal what it does not know
    for r in rounds:
        unrevealed_known = np.count_nonzero((r.status != 1) & (data.labels >= 0))
        assert r.pool.n == unrevealed_known  # metrics only where the truth is known
        assert r.n_unknown_truth == 40
        assert r.confusion.sum() == unrevealed_known
    assert rounds[-1].accuracy > 0.9  # three well separated blobs


def test_embeddings_with_a_test_split_match_sklearn():
    """A precomputed-features source with a test split: the loop's test accuracy equals a
    LogisticRegression fitted by hand on the same revealed rows."""
    from sklearn.linear_model import LogisticRegression

    data = _blobs(seed=3, with_test=True)
    register_source(SourceInfo(name="test-blobs-split", description="blobs with a test split", load=lambda: data,
                               features=("precomputed",), image_shape=None, has_test=True), replace=True)
    config = Config(dataset="test-blobs-split", features="precomputed", model="logistic_regression",
                    initial="random", n_initial=9, batch_size=4, n_rounds=3, evaluation="test", strategy="margin")
    revealed = None
    for record in run_loop(config):
        revealed = np.flatnonzero(record.status == 1)
        model = LogisticRegression(C=1.0, max_iter=1000).fit(data.embeddings[revealed], data.labels[revealed])
        expected = (model.predict(data.test_embeddings) == data.test_labels).mean()
        assert record.accuracy == pytest.approx(expected, abs=1e-12)
    assert len(revealed) == 9 + 4 * 2


# --------------------------------------------------------------------------- strategies
def test_registry_lists_the_builtins_in_order():
    assert strategy_names()[:4] == ("entropy", "margin", "least_confident", "random")
    assert strategy_names(include_none=True)[-1] == "none"
    with pytest.raises(ConfigError, match=r"strategy must be one of 'entropy', .*'random', .*'none', got 'bald'"):
        Config(strategy="bald")


@pytest.fixture
def farthest_strategy():
    """A new strategy in a few lines: the candidates farthest from the revealed points' mean."""
    name = "test-farthest"
    if name not in strategy_names():
        @register(name, "farthest from the mean of the revealed points", needs_features=True)
        def farthest(context: QueryContext) -> Query:
            centre = context.features[context.revealed].mean(axis=0)
            scores = np.linalg.norm(context.features - centre, axis=1)
            return Query(select(scores, context.candidates, context.k, context.rng), scores, "distance")
    return name


def test_a_registered_strategy_runs_in_the_loop_and_drives_the_gallery(farthest_strategy):
    from alsim.loop.pool import prepare
    from alsim.report.plots import uncertain_examples

    config = Config(dataset="digits", initial="random", n_initial=20, batch_size=6, n_rounds=3,
                    strategy=farthest_strategy)
    features = prepare(config).features
    rounds = list(run_loop(config))
    for r in rounds:
        revealed = r.status == 1
        distance = np.linalg.norm(features - features[revealed].mean(axis=0), axis=1)
        assert r.score_name == "distance"
        assert_allclose(r.scores, distance, rtol=1e-5)
        unlabeled = np.flatnonzero(r.status == 0)
        top = unlabeled[np.argsort(-distance[unlabeled], kind="stable")[:6]]
        if r.stop_reason is None:
            assert sorted(r.queried.tolist()) == sorted(top.tolist())
        assert sorted(uncertain_examples(r, 6, most=True).tolist()) == sorted(top.tolist())
    assert [r.n_labeled for r in rounds] == [20, 26, 32]


def test_random_uses_no_score_and_the_gallery_falls_back_to_entropy():
    rounds = list(run_loop(Config(strategy="random")))
    assert all(r.scores is None for r in rounds)
    assert rounds[0].ranking[1] == "entropy"


def test_a_strategy_that_breaks_the_contract_is_named():
    name = "test-broken"
    if name not in strategy_names():
        @register(name, "returns a revealed point")
        def broken(context: QueryContext) -> Query:
            return Query(np.flatnonzero(context.revealed)[: context.k], None, "")
    with pytest.raises(RuntimeError, match="strategy 'test-broken' broke the contract"):
        list(run_loop(Config(strategy=name)))


# --------------------------------------------------------------------------- oracles
def test_the_simulated_oracle_reproduces_experiment_a():
    from alsim.loop.pool import prepare

    truth = prepare(get_preset("digits-tutorial")).labels
    rounds = list(run_loop(get_preset("digits-tutorial"), oracle=SimulatedOracle(truth)))
    assert_allclose([r.accuracy for r in rounds], SEED_A, atol=5e-5)


def test_an_oracle_that_skips_leaves_points_unlabeled():
    """A person who answers only some of the batch: the others stay unlabeled and can come back."""
    from alsim.loop.pool import prepare

    config = Config(dataset="digits", initial="first", n_initial=20, batch_size=10, n_rounds=3)
    truth = prepare(config).labels
    answers = {i: int(truth[i]) for i in range(20)}  # the initial draw ("first" 20)
    skipping = FixedAnswers(answers, len(truth), truth=truth)
    rounds = list(run_loop(config, oracle=skipping))
    assert [r.n_labeled for r in rounds] == [20, 20, 20]  # nothing of the batches was answered
    assert len(rounds[0].queried) == 10
    assert (rounds[1].status[rounds[0].queried] == 0).all()


def test_an_oracle_without_truth_gives_no_pool_metrics():
    config = Config(dataset="digits", initial="first", n_initial=30, batch_size=5, n_rounds=2)
    from alsim.loop.pool import prepare

    truth = prepare(config).labels
    person = FixedAnswers({i: int(truth[i]) for i in range(len(truth))}, len(truth), truth=None)
    rounds = list(run_loop(config, oracle=person))
    assert rounds[0].pool is None and np.isnan(rounds[0].accuracy)
    assert rounds[1].n_labeled == 35 and rounds[1].pseudo_precision is None
