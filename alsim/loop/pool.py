"""A run's pool: the data set cut to ``pool_size``, its features, and its spreading graph.

Prepared pools and graphs are shared by every session of a server through
:func:`alsim.storage.memory.shared_cache`: built once per key (two sessions asking at once share
one build), bounded in bytes, read-only. Keys use the data set's ``content_key`` (a hash
of the data), never a path or a name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from alsim.common.errors import ConfigError, KernelTooLarge
from alsim.data.datasets import Dataset
from alsim.data.sources import load_source
from alsim.learn.features import FeatureOptions, compute_features
from alsim.learn.graph import build_graph, check_dense_kernel, check_knn_pool, ready_to_spread
from alsim.learn.pretrained import model_digest
from alsim.loop.config import Config
from alsim.storage.memory import shared_cache
from alsim.strategies.diversity import kcenter_start, typical_start

Progress = Callable[[float, str], None]


@dataclass(frozen=True, eq=False)
class Prepared:
    """A data set reduced to the run's pool, with features.

    Attributes
    ----------
    dataset : Dataset
    pool_ids : ndarray (n_pool,), indices of the pool points in the data set
    features : ndarray (n_pool, d)
    labels : ndarray (n_pool,), the hidden truth; -1 where it is unknown
    test_features, test_labels : arrays or None
    key : tuple, what the pool depends on (content key, pool size, features, their transform, imbalance)
    """

    dataset: Dataset
    pool_ids: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    test_features: np.ndarray | None
    test_labels: np.ndarray | None
    key: tuple = ()

    @property
    def n_classes(self) -> int:
        return self.dataset.n_classes

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.dataset.class_names

    @property
    def images(self) -> np.ndarray | None:
        return None if self.dataset.images is None else self.dataset.images[self.pool_ids]

    def display_image(self, i: int) -> np.ndarray | None:
        """Pool point ``i``'s image as people see it (:meth:`alsim.data.datasets.Dataset.display_image`)."""
        return self.dataset.display_image(int(self.pool_ids[i]))

    @property
    def known(self) -> np.ndarray:
        """Boolean mask of pool points whose true label is known."""
        return self.labels >= 0


def feature_options(config: Config) -> FeatureOptions:
    """The embedding settings of a config (the defaults for kinds that are no embedding)."""
    if config.features not in ("pretrained", "onnx"):
        return FeatureOptions()
    return FeatureOptions(embed_side=config.embed_side, onnx_model=config.onnx_model if config.features == "onnx"
                          else "", onnx_output=config.onnx_output if config.features == "onnx" else "")


def _features_key(config: Config) -> tuple:
    """The feature kind and what its values depend on: the input side of an embedding, and a user
    model's content (its digest, not its path)."""
    options = feature_options(config)
    if config.features == "pretrained":
        return (config.features, options.embed_side)
    if config.features == "onnx":
        return (config.features, options.embed_side, model_digest(options.onnx_model), options.onnx_output)
    return (config.features,)


def data_key(config: Config) -> tuple:
    """What a prepared pool depends on: the data's content key, pool size, features and their transform,
    and the class profile (``imbalance``)."""
    return pool_key(config, load_source(config.dataset).content_key)


def pool_key(config: Config, content_key: str) -> tuple:
    """:func:`data_key` for data whose content key is known (:attr:`Prepared.key`)."""
    return (content_key, config.pool_size, _features_key(config), config.pca_components, config.standardize,
            float(config.imbalance))


def prepare(config: Config, progress: Callable[[int, int], None] | None = None) -> Prepared:
    """Load the data set, cut the pool and compute features (cached in memory and on disk).

    ``progress(done, total)`` follows the images of an embedding that is computed now.
    """
    dataset = load_source(config.dataset)
    key = pool_key(config, dataset.content_key)
    return shared_cache("prepared").get_or_build(key, lambda: _build_prepared(config, dataset, key, progress))


def _pool_features(dataset: Dataset, kind: str, options: FeatureOptions,
                   progress: Callable[[int, int], None] | None) -> tuple[np.ndarray, np.ndarray | None]:
    if kind == "precomputed":
        if dataset.embeddings is None:
            raise ConfigError(f"features 'precomputed' needs embeddings; dataset {dataset.name!r} has none")
        test = None if dataset.test_embeddings is None else np.asarray(dataset.test_embeddings, dtype=np.float64)
        return np.asarray(dataset.embeddings, dtype=np.float64), test

    return compute_features(dataset, kind, options=options, progress=progress)


def pool_rows(n: int, pool_size: int | None) -> np.ndarray:
    """The data set's rows in a pool of ``pool_size`` (all ``n`` when None or 0), sorted.

    A fixed generator: every seed and strategy, and every export of a project, sees the same pool.
    """
    if not pool_size:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, pool_size, replace=False))


def _build_prepared(config: Config, dataset: Dataset, key: tuple,
                    progress: Callable[[int, int], None] | None = None) -> Prepared:
    n = len(dataset.labels)
    if config.pool_size and config.pool_size > n:
        raise ConfigError(f"pool_size must be <= {n} for dataset {config.dataset!r}, got {config.pool_size}")
    features, test_features = _pool_features(dataset, config.features, feature_options(config), progress)
    pool_ids = pool_rows(n, config.pool_size)
    if config.pool_size:
        features = features[pool_ids]
    if config.imbalance != 1:
        kept = long_tail(dataset.labels[pool_ids], dataset.n_classes, config.imbalance)
        pool_ids, features = pool_ids[kept], features[kept]
    features, test_features = _transform(config, features, test_features)
    return Prepared(dataset, pool_ids, features, dataset.labels[pool_ids], test_features, dataset.test_labels, key)


#: Seed of the long tail's class ranks and of the images each class keeps: fixed, so every
#: run seed shares the pool.
LONG_TAIL_SEED = 0


def long_tail_sizes(counts: np.ndarray, ratio: float, ranks: np.ndarray) -> np.ndarray:
    """Images each class keeps in a long tail of ``ratio`` (CIFAR-10-LT's profile).

    The class at rank r of C keeps ``min(count, max(1, floor(n_max * ratio ** (-r / (C - 1)))))``,
    ``n_max`` the largest count: the head keeps up to ``n_max``, the tail ``n_max / ratio``.

    Parameters
    ----------
    counts : ndarray (C,), images per class
    ratio : float >= 1
    ranks : ndarray (C,), each class's rank (a permutation of 0..C-1)

    Returns
    -------
    ndarray (C,) of int
    """
    counts, ranks = np.asarray(counts, dtype=np.int64), np.asarray(ranks)
    n_classes = len(counts)
    if n_classes < 2 or ratio == 1:
        return counts.copy()
    targets = np.floor(counts.max() * float(ratio) ** (-ranks / (n_classes - 1))).astype(np.int64)
    return np.minimum(counts, np.maximum(1, targets))


def long_tail(labels: np.ndarray, n_classes: int, ratio: float) -> np.ndarray:
    """Sorted positions of ``labels`` kept in a long tail of ``ratio`` (:func:`long_tail_sizes`).

    The class ranks are a permutation drawn with the fixed :data:`LONG_TAIL_SEED`, and so
    are the images each class keeps. Points whose label is unknown (-1) are all kept.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(LONG_TAIL_SEED)
    ranks = np.empty(n_classes, dtype=np.int64)
    ranks[rng.permutation(n_classes)] = np.arange(n_classes)
    counts = np.bincount(labels[labels >= 0], minlength=n_classes)
    sizes = long_tail_sizes(counts, ratio, ranks)
    kept = [np.flatnonzero(labels < 0)]
    for cls in range(n_classes):
        members = np.flatnonzero(labels == cls)
        kept.append(rng.permutation(members)[:sizes[cls]])
    return np.sort(np.concatenate(kept))


def _transform(config: Config, features: np.ndarray, test: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """Optional standardisation, then optional PCA, both fitted on the pool (scikit-learn's)."""
    if config.standardize:
        from sklearn.preprocessing import StandardScaler

        scaler = StandardScaler().fit(features)
        features = scaler.transform(features)
        test = None if test is None else scaler.transform(test)
    if config.pca_components:
        from sklearn.decomposition import PCA

        largest = min(features.shape)
        if config.pca_components > largest:
            raise ConfigError(f"pca_components must be <= {largest} (the smaller of the pool's {features.shape[0]} "
                              f"points and {features.shape[1]} features), got {config.pca_components}")
        pca = PCA(n_components=config.pca_components, svd_solver="full").fit(features)  # exact, no randomness
        features = pca.transform(features)
        test = None if test is None else pca.transform(test)
    return features, test


def kernel_key(config: Config) -> tuple:
    """The kernel settings a label-spreading graph depends on, besides the pool."""
    return (config.kernel, config.gamma if config.kernel == "rbf" else None,
            config.n_neighbors if config.kernel == "knn" else None)


def graph_key(config: Config) -> tuple:
    """What a label-spreading graph depends on: the pool's features and the kernel settings."""
    return data_key(config) + kernel_key(config)


def graph_for(config: Config, prepared: Prepared, progress: Progress | None = None):
    """The label-spreading graph of a config's pool, built once per server and reused.

    Only the thread that builds it sees ``progress``; a second session asking for the same
    graph meanwhile waits for that build. A large knn pool's compact copy is built with it, so
    the cache's byte bound counts both.
    """

    key = prepared.key + kernel_key(config)
    return shared_cache("graphs").get_or_build(
        key, lambda: ready_to_spread(build_graph(prepared.features, config.kernel, config.gamma, config.n_neighbors,
                                                 progress=progress, cache=len(prepared.features) > 5000), progress))


def check_feasible(config: Config, prepared: Prepared) -> None:
    """Errors that depend on the data as well as the config (pool size, class sizes)."""
    n = len(prepared.labels)
    known = int(prepared.known.sum())
    if config.n_initial > known:
        what = f"the pool size {n}" if known == n else f"the {known} pool points with a known label"
        raise ConfigError(f"n_initial must be <= {what}, got {config.n_initial}")
    if config.strategy != "none" and config.batch_size > known - config.n_initial:
        raise ConfigError(
            f"batch_size must be <= the {known - config.n_initial} unlabeled pool points "
            f"(pool {known} - n_initial {config.n_initial}), got {config.batch_size}"
        )
    if config.cost == "per_class" and len(config.cost_params) != prepared.n_classes:
        raise ConfigError(f"cost_params must hold one cost per class: {prepared.n_classes} for dataset "
                          f"{config.dataset!r}, got {len(config.cost_params)}")
    if config.initial == "stratified":
        counts = np.bincount(prepared.labels[prepared.known], minlength=prepared.n_classes)
        per_class = -(-config.n_initial // prepared.n_classes)
        if per_class > counts.min():
            smallest = prepared.class_names[int(counts.argmin())]
            raise ConfigError(
                f"n_initial={config.n_initial} stratified needs {per_class} points of every class, "
                f"the smallest class has {counts.min()} (class {smallest!r})"
            )
    if config.model == "label_spreading" and config.kernel == "knn" and config.n_neighbors >= n:
        raise ConfigError(f"n_neighbors must be < the pool size {n}, got {config.n_neighbors}")
    if config.model == "label_spreading" and config.kernel == "rbf":
        try:
            check_dense_kernel(n)
        except MemoryError as exc:
            raise KernelTooLarge(str(exc)) from None
    if config.model == "label_spreading" and config.kernel == "knn":
        try:
            check_knn_pool(n, prepared.features.shape[1], config.n_neighbors, prepared.n_classes, config.max_iter)
        except MemoryError as exc:
            raise ConfigError(str(exc)) from None


def initial_labels(config: Config, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Indices of the initial revealed labels; depends on ``seed`` only, not on the strategy.

    Only points whose true label is known can be revealed by a simulation; with every
    label known this is the plain draw over the whole pool. ``typical`` and ``kcenter``
    read the pool's features (TypiClust's and k-center greedy's choice with no labels).
    """
    known = np.flatnonzero(labels >= 0)
    k = config.n_initial
    if config.initial == "first":
        return known[:k]
    if config.initial in ("typical", "kcenter"):
        # Cold start in feature space, over the points whose label can be revealed.

        features = prepare(config).features
        if config.initial == "typical":
            return typical_start(features, known, k, config.seed, config.strategy_params["typiclust"].neighbors,
                                 config.strategy_params["typiclust"].max_clusters)
        return kcenter_start(features, known, k, config.seed)
    rng = np.random.default_rng([config.seed, 0])
    if config.initial == "random":
        return np.sort(known[rng.choice(len(known), size=k, replace=False)])
    base, extra = divmod(k, n_classes)
    chosen = []
    for cls in range(n_classes):
        members = np.flatnonzero(labels == cls)
        chosen.append(rng.choice(members, size=base + (cls < extra), replace=False))
    return np.sort(np.concatenate(chosen))
