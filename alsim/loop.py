"""The labeling loop: ``run_loop(config)`` yields one frozen :class:`Round` per model fit."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from .config import Config, ConfigError
from .data import Dataset, load_dataset
from .features import compute_features
from .graph import SpreadingGraph, build_graph, predict_new, spread
from .metrics import Metrics, evaluate
from .models import fit_supervised
from .strategies import UNCERTAINTY_MEASURES, query, uncertainty_scores

UNLABELED, REVEALED, PSEUDO = 0, 1, 2
STOP_REASONS = ("rounds_done", "pool_exhausted", "schedule_done")

Progress = Callable[[float, str], None]


# --------------------------------------------------------------------------- data
@dataclass(frozen=True, eq=False)
class Prepared:
    """A data set reduced to the run's pool, with features.

    Attributes
    ----------
    dataset : Dataset
    pool_ids : ndarray (n_pool,), indices of the pool points in ``dataset.images``
    features : ndarray (n_pool, d)
    labels : ndarray (n_pool,), the hidden truth
    test_features, test_labels : arrays or None
    """

    dataset: Dataset
    pool_ids: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    test_features: np.ndarray | None
    test_labels: np.ndarray | None

    @property
    def n_classes(self) -> int:
        return self.dataset.n_classes

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.dataset.class_names

    @property
    def images(self) -> np.ndarray:
        return self.dataset.images[self.pool_ids]


_PREPARED: OrderedDict = OrderedDict()
_GRAPHS: OrderedDict = OrderedDict()


def _remember(cache: OrderedDict, key, value, size: int):
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)
    return value


def data_key(config: Config) -> tuple:
    from .data import fashion_dir

    where = str(fashion_dir()) if config.dataset == "fashion-mnist" else ""
    return (config.dataset, config.pool_size, config.features, where)


def prepare(config: Config) -> Prepared:
    """Load the data set, cut the pool and compute features (cached in memory and on disk)."""
    key = data_key(config)
    if key in _PREPARED:
        _PREPARED.move_to_end(key)
        return _PREPARED[key]
    dataset = load_dataset(config.dataset)
    n = len(dataset.labels)
    if config.pool_size and config.pool_size > n:
        raise ConfigError(f"pool_size must be <= {n} for dataset {config.dataset!r}, got {config.pool_size}")
    features, test_features = compute_features(dataset, config.features)
    pool_ids = np.arange(n)
    if config.pool_size:
        # Fixed generator: every seed and strategy sees the same pool.
        pool_ids = np.sort(np.random.default_rng(0).choice(n, config.pool_size, replace=False))
        features = features[pool_ids]
    prepared = Prepared(dataset, pool_ids, features, dataset.labels[pool_ids], test_features, dataset.test_labels)
    return _remember(_PREPARED, key, prepared, 3)


def graph_key(config: Config) -> tuple:
    """What a label-spreading graph depends on: the pool's features and the kernel settings."""
    return data_key(config) + (config.kernel, config.gamma if config.kernel == "rbf" else None,
                               config.n_neighbors if config.kernel == "knn" else None)


def graph_for(config: Config, prepared: Prepared, progress: Progress | None = None) -> SpreadingGraph:
    """The label-spreading graph of a config's pool (built once, then reused)."""
    key = graph_key(config)
    if key in _GRAPHS:
        _GRAPHS.move_to_end(key)
        return _GRAPHS[key]
    graph = build_graph(prepared.features, config.kernel, config.gamma, config.n_neighbors, progress=progress,
                        cache=len(prepared.features) > 5000)
    return _remember(_GRAPHS, key, graph, 2)


def check_feasible(config: Config, prepared: Prepared) -> None:
    """Errors that depend on the data as well as the config (pool size, class sizes)."""
    n = len(prepared.labels)
    if config.n_initial > n:
        raise ConfigError(f"n_initial must be <= the pool size {n}, got {config.n_initial}")
    if config.strategy != "none" and config.batch_size > n - config.n_initial:
        raise ConfigError(
            f"batch_size must be <= the {n - config.n_initial} unlabeled pool points "
            f"(pool {n} - n_initial {config.n_initial}), got {config.batch_size}"
        )
    if config.initial == "stratified":
        counts = np.bincount(prepared.labels, minlength=prepared.n_classes)
        per_class = -(-config.n_initial // prepared.n_classes)
        if per_class > counts.min():
            raise ConfigError(
                f"n_initial={config.n_initial} stratified needs {per_class} points of every class, "
                f"the smallest class has {counts.min()}"
            )
    if config.model == "label_spreading" and config.kernel == "knn" and config.n_neighbors >= n:
        raise ConfigError(f"n_neighbors must be < the pool size {n}, got {config.n_neighbors}")
    if config.model == "label_spreading" and config.kernel == "rbf":
        from .graph import check_dense_kernel

        try:
            check_dense_kernel(n)
        except MemoryError as exc:
            raise ConfigError(str(exc)) from None


def initial_labels(config: Config, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Indices of the initial revealed labels; depends on ``seed`` only, not on the strategy."""
    n = len(labels)
    k = config.n_initial
    if config.initial == "first":
        return np.arange(k)
    rng = np.random.default_rng([config.seed, 0])
    if config.initial == "random":
        return np.sort(rng.choice(n, size=k, replace=False))
    base, extra = divmod(k, n_classes)
    chosen = []
    for cls in range(n_classes):
        members = np.flatnonzero(labels == cls)
        chosen.append(rng.choice(members, size=base + (cls < extra), replace=False))
    return np.sort(np.concatenate(chosen))


# --------------------------------------------------------------------------- records
@dataclass(frozen=True, eq=False)
class Round:
    """One fit of the loop and what it led to.

    Attributes
    ----------
    index : int, 0-based fit number
    n_labeled : int, revealed (true) labels the model was fitted with
    n_pseudo : int, pseudo-labels (model predictions) in the training set at this fit
    pseudo_precision : float or None, share of those pseudo-labels that are correct
    accuracy, macro_f1 : float, on the test split when evaluated, else on the pool
    pool, test : Metrics or None, on the still-unrevealed pool points / the test split
    queried : ndarray of int, pool ids chosen by this fit's model, revealed before the next fit
    threshold : float or None, confidence threshold applied after this fit
    auto_added : int, points moved into the training set by the threshold after this fit
    auto_precision : float or None, share of them whose predicted label is the truth
    status : ndarray (n_pool,) int8, 0 unlabeled, 1 revealed, 2 pseudo-labeled, at this fit
    predicted : ndarray (n_pool,), the model's label for every pool point
    uncertainty : ndarray (n_pool,), per-point uncertainty (``uncertainty_measure``)
    n_iter : int or None, label-spreading iterations
    seconds : float, wall time of this round (fit, evaluation, selection)
    stop_reason : str or None, set on the last round
    """

    index: int
    n_labeled: int
    n_pseudo: int
    pseudo_precision: float | None
    pool: Metrics | None
    test: Metrics | None
    queried: np.ndarray
    threshold: float | None
    auto_added: int
    auto_precision: float | None
    status: np.ndarray
    predicted: np.ndarray
    uncertainty: np.ndarray
    uncertainty_measure: str
    n_iter: int | None
    seconds: float
    stop_reason: str | None = None

    @property
    def headline(self) -> Metrics:
        return self.test if self.test is not None else self.pool

    @property
    def accuracy(self) -> float:
        """Accuracy on the test split when evaluated, else on the still-unlabeled pool."""
        return self.headline.accuracy

    @property
    def macro_f1(self) -> float:
        return self.headline.macro_f1

    @property
    def confusion(self) -> np.ndarray:
        return self.headline.confusion

    def to_dict(self, class_names: tuple[str, ...] | None = None, per_point: bool = False) -> dict:
        out = {
            "round": self.index,
            "n_labeled": self.n_labeled,
            "n_pseudo": self.n_pseudo,
            "pseudo_precision": self.pseudo_precision,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "pool": None if self.pool is None else self.pool.to_dict(class_names),
            "test": None if self.test is None else self.test.to_dict(class_names),
            "queried": [int(i) for i in self.queried],
            "threshold": self.threshold,
            "auto_added": self.auto_added,
            "auto_precision": self.auto_precision,
            "n_iter": self.n_iter,
            "seconds": round(self.seconds, 4),
            "stop_reason": self.stop_reason,
        }
        if per_point:
            out["uncertainty"] = [float(u) for u in self.uncertainty]
            out["predicted"] = [int(p) for p in self.predicted]
        return out


# --------------------------------------------------------------------------- the loop
class _Arm:
    """Mutable state of one run while the loop advances."""

    def __init__(self, config: Config, prepared: Prepared):
        self.config = config
        self.prepared = prepared
        n = len(prepared.labels)
        self.status = np.zeros(n, dtype=np.int8)
        self.train = np.full(n, -1, dtype=np.int64)
        first = initial_labels(config, prepared.labels, prepared.n_classes)
        self.status[first] = REVEALED
        self.train[first] = prepared.labels[first]
        self.rng = np.random.default_rng([config.seed, 1])
        self.schedule = config.threshold_schedule()
        self.index = 0
        self.done = False
        self.spread_state = None  # label-spreading iterates, reused when labels only grow
        self.model_state: dict = {}  # e.g. the previous round's weights, for a warm start


def _fit_arms(arms: Sequence[_Arm], progress: Progress | None) -> list[tuple]:
    """(pool proba, test proba or None, n_iter) per arm; label spreading batched per graph."""
    results: list = [None] * len(arms)
    groups: dict = {}
    for i, arm in enumerate(arms):
        c = arm.config
        if c.model == "label_spreading":
            key = graph_key(c) + (c.alpha, c.max_iter, c.tol)
            groups.setdefault(key, []).append(i)
        else:
            prep = arm.prepared
            rows = np.flatnonzero(arm.train >= 0)
            want_test = c.evaluation in ("test", "both")
            pool_p, test_p = fit_supervised(c.model, c.C, c.seed, prep.features[rows], arm.train[rows],
                                            [prep.features, prep.test_features if want_test else None],
                                            prep.n_classes, state=arm.model_state)
            results[i] = (pool_p, test_p, None)
    for members in groups.values():
        c, prep = arms[members[0]].config, arms[members[0]].prepared
        graph = graph_for(c, prep, progress)
        labels = np.stack([arms[i].train for i in members])
        states = [arms[i].spread_state for i in members]
        dists, n_iter = spread(graph, labels, prep.n_classes, c.alpha, c.max_iter, c.tol, states=states)
        for j, i in enumerate(members):
            arms[i].spread_state = states[j]
            test_p = None
            if arms[i].config.evaluation in ("test", "both"):
                test_p = predict_new(graph, dists[j], prep.test_features)
            results[i] = (dists[j], test_p, int(n_iter[j]))
    return results


def predict_labels(proba: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Argmax labels; a row with no mass gets the smallest labeled class (scikit-learn's rule)."""
    predicted = proba.argmax(axis=1)
    empty = proba.sum(axis=1) <= 0
    if empty.any():
        predicted[empty] = train[train >= 0].min()
    return predicted


def _step(arm: _Arm, proba_pool: np.ndarray, proba_test: np.ndarray | None, n_iter: int | None,
          started: float) -> Round:
    c, prep = arm.config, arm.prepared
    truth = prep.labels
    predicted = predict_labels(proba_pool, arm.train)
    measure = c.strategy if c.strategy in UNCERTAINTY_MEASURES else "entropy"
    uncertainty = uncertainty_scores(proba_pool, measure)
    unrevealed = arm.status != REVEALED
    pool_metrics = test_metrics = None
    if c.evaluation in ("pool", "both"):
        pool_metrics = evaluate(truth[unrevealed], predicted[unrevealed], prep.n_classes)
    if c.evaluation in ("test", "both"):
        test_metrics = evaluate(prep.test_labels, predict_labels(proba_test, arm.train), prep.n_classes)
    pseudo = arm.status == PSEUDO
    n_pseudo = int(pseudo.sum())
    pseudo_precision = float((arm.train[pseudo] == truth[pseudo]).mean()) if n_pseudo else None
    status_at_fit = arm.status.copy()
    n_labeled = int((arm.status == REVEALED).sum())

    queried = np.zeros(0, dtype=np.int64)
    threshold, auto_added, auto_precision, stop = None, 0, None, None
    candidates = np.flatnonzero(arm.status == UNLABELED)
    if arm.index >= c.n_rounds - 1:
        stop = "rounds_done"
    elif len(candidates) == 0:
        stop = "pool_exhausted"
    elif c.strategy == "none" and arm.index >= len(arm.schedule):
        stop = "schedule_done"
    else:
        queried = query(proba_pool, candidates, c.batch_size, c.strategy, arm.rng)
        arm.status[queried] = REVEALED
        arm.train[queried] = truth[queried]
        if arm.index < len(arm.schedule):
            threshold = arm.schedule[arm.index]
            remaining = np.flatnonzero(arm.status == UNLABELED)
            movers = remaining[proba_pool[remaining].max(axis=1) > threshold]
            auto_added = int(len(movers))
            if auto_added:
                auto_precision = float((predicted[movers] == truth[movers]).mean())
            if c.self_training == "pseudo":
                arm.status[movers] = PSEUDO
                arm.train[movers] = predicted[movers]
            else:  # oracle: the published code's move, with TRUE labels, i.e. revealed labels
                arm.status[movers] = REVEALED
                arm.train[movers] = truth[movers]
    record = Round(
        index=arm.index, n_labeled=n_labeled, n_pseudo=n_pseudo, pseudo_precision=pseudo_precision,
        pool=pool_metrics, test=test_metrics,
        queried=queried, threshold=threshold, auto_added=auto_added, auto_precision=auto_precision,
        status=status_at_fit, predicted=predicted.astype(np.int16), uncertainty=uncertainty.astype(np.float32),
        uncertainty_measure=measure, n_iter=n_iter, seconds=time.perf_counter() - started, stop_reason=stop,
    )
    arm.index += 1
    arm.done = stop is not None
    return record


def run_arms(configs: Sequence[Config], progress: Progress | None = None) -> Iterator[tuple[int, Round]]:
    """Run several configs in lockstep, yielding ``(arm index, Round)`` as rounds finish.

    Arms that use label spreading on the same pool share one graph and are spread in one
    matrix product per round; every arm's results equal a run of its own.
    """
    arms = []
    for config in configs:
        prepared = prepare(config)
        check_feasible(config, prepared)
        arms.append(_Arm(config, prepared))
    while True:
        live = [i for i, arm in enumerate(arms) if not arm.done]
        if not live:
            return
        started = time.perf_counter()
        fitted = _fit_arms([arms[i] for i in live], progress)
        for i, (pool_p, test_p, n_iter) in zip(live, fitted):
            yield i, _step(arms[i], pool_p, test_p, n_iter, started)


def run_loop(config: Config, progress: Progress | None = None) -> Iterator[Round]:
    """Run one labeling loop, yielding a :class:`Round` after every fit.

    The last record carries ``stop_reason``: ``rounds_done`` (n_rounds fits),
    ``pool_exhausted`` (no unlabeled point left) or ``schedule_done`` (no strategy and no
    threshold left, so nothing could change).
    """
    for _, record in run_arms([config], progress):
        yield record


def first_k_baseline(config: Config, k: int) -> Round:
    """One fit with the first ``k`` pool points revealed and no active choice."""
    base = config.replace(initial="first", n_initial=k, strategy="none", self_training="off", n_rounds=1)
    return next(run_loop(base))
