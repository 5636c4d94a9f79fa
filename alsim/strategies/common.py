"""Helpers shared by the feature-space strategies: parameters, chunked distances, k-means.

Nothing here allocates an ``n x n`` matrix: distances are computed in row blocks whose
size is bounded in bytes (:data:`BLOCK_BYTES`).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable, Hashable

import numpy as np

from alsim.storage.memory import shared_cache
from alsim.strategies.base import REVEALED, Query, QueryContext
from alsim.strategies.params import params_classes

BLOCK_BYTES = 64 * 2**20  # one block of a distance computation: 64 MiB of float64

#: Core-set, TypiClust and BADGE look at no more candidates than this (:func:`on_candidate_sample`).
CANDIDATE_SAMPLE = 50_000


def on_candidate_sample(context: QueryContext, strategy: Callable[[QueryContext], Query],
                        size: int = CANDIDATE_SAMPLE) -> Query | None:
    """Run ``strategy`` on a uniform sample of ``size`` candidates, or None when there are no more than that.

    On a pool of a million points, k-center greedy, k-means clustering and k-means++ seeding
    over every candidate take minutes a round. Instead the strategy sees a sample of the
    candidates drawn with the run's generator (so a run is reproducible from its seed), plus
    every revealed point (core-set's centres, TypiClust's covered clusters), as a pool of
    its own: ids and scores are mapped back to the pool, and a point outside the sample
    scores 0. What the strategy keeps between rounds is not carried over (each round's
    sample differs), and nothing is cached under the pool's key.
    """
    candidates = np.asarray(context.candidates, dtype=np.int64)
    if len(candidates) <= size:
        return None
    picked = np.sort(context.rng.choice(candidates, size=size, replace=False))
    rows = np.union1d(picked, np.flatnonzero(np.asarray(context.status) == REVEALED))
    params = {key: value for key, value in context.params.items() if key not in ("pool_key", "strategy_state")}
    sub = QueryContext(proba=np.asarray(context.proba)[rows], features=np.asarray(context.features)[rows],
                       status=np.asarray(context.status)[rows], candidates=np.searchsorted(rows, picked),
                       k=context.k, rng=context.rng, model=None, params=params)
    answer = strategy(sub)
    scores = None
    if answer.scores is not None:
        scores = np.zeros(len(context.proba))
        scores[rows] = answer.scores
    return Query(rows[np.asarray(answer.ids, dtype=np.int64)], scores, answer.score_name)


def params_of(context: QueryContext, strategy: str):
    """The run's parameters of ``strategy`` (its registered dataclass); the defaults without a run's config."""
    config = context.params.get("config")
    if config is not None:
        return config.strategy_params[strategy]
    return params_classes()[strategy]()


_POOL_KEYS: dict[int, tuple[weakref.ref, tuple]] = {}
_POOL_KEYS_LOCK = threading.Lock()


def pool_key(context: QueryContext) -> tuple | None:
    """What the pool's features depend on (content key, pool size, features), or None.

    The loop passes its prepared pool's key as ``params['pool_key']``. None (nothing is
    cached) for a context without one, and for one whose features are not that prepared
    pool (the very array the ``prepared`` cache holds for it; looked up, never built):
    other features of the same shape must not read or write that pool's values.
    """
    key = context.params.get("pool_key")
    if not key:
        return None
    features = context.features
    with _POOL_KEYS_LOCK:
        entry = _POOL_KEYS.get(id(features))
    if entry is not None and entry[0]() is features and entry[1] == key:
        return key
    held = shared_cache("prepared").get(key)  # what prepare(config) returns, if it is in memory
    if held is None or held.features is not features:
        return None
    try:
        ref = weakref.ref(features)
    except TypeError:  # not an ndarray: nothing to remember it by
        return key
    with _POOL_KEYS_LOCK:
        for dead in [i for i, (r, _) in _POOL_KEYS.items() if r() is None]:
            del _POOL_KEYS[dead]
        _POOL_KEYS[id(features)] = (ref, key)
    return key


def cached(key: Hashable | None, build: Callable[[], Any], cache: str = "values") -> Any:
    """``build()``, kept in the shared cache ``cache`` under ``key`` (built once per key)."""
    if key is None:
        return build()
    return shared_cache(cache).get_or_build(key, build)


def pool_norms(context: QueryContext) -> np.ndarray:
    """Squared norm of every pool point (:func:`row_norms`), computed once per pool."""
    key = pool_key(context)
    return cached(None if key is None else key + ("row-norms",), lambda: row_norms(context.features))


def block_rows(n_columns: int) -> int:
    """Rows per block so that a block of ``n_columns`` float64 values stays within :data:`BLOCK_BYTES`."""
    return max(1, BLOCK_BYTES // (8 * max(1, n_columns)))


def squared_distances(a: np.ndarray, b: np.ndarray, b_norms: np.ndarray | None = None,
                      a_norms: np.ndarray | None = None) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``a`` (m, d) and ``b`` (p, d), clipped at 0.

    ``||a||^2 + ||b||^2 - 2 a.b``, the expansion scikit-learn's ``euclidean_distances`` uses;
    the squared norms of either side may be passed in.
    """
    if a_norms is None:
        a_norms = np.einsum("ij,ij->i", a, a)
    if b_norms is None:
        b_norms = np.einsum("ij,ij->i", b, b)
    out = a @ b.T
    out *= -2.0
    out += a_norms[:, None]
    out += b_norms[None, :]
    np.maximum(out, 0.0, out=out)
    return out


def row_norms(features: np.ndarray) -> np.ndarray:
    """Squared Euclidean norm of every row, shape (n,)."""
    return np.einsum("ij,ij->i", features, features)


def min_distances(features: np.ndarray, rows: np.ndarray, centres: np.ndarray,
                  norms: np.ndarray | None = None) -> np.ndarray:
    """Euclidean distance from each of ``rows`` to its nearest point among ``centres``, in blocks.

    Returns ``inf`` for every row when there are no centres. ``norms``: every row's
    squared norm (:func:`row_norms`), if known.
    """
    rows, centres = np.asarray(rows, dtype=np.int64), np.asarray(centres, dtype=np.int64)
    out = np.full(len(rows), np.inf)
    if len(centres) == 0 or len(rows) == 0:
        return out
    centre_x = features[centres]
    centre_norms = np.einsum("ij,ij->i", centre_x, centre_x)
    step = block_rows(len(centres))
    for lo in range(0, len(rows), step):
        ids = rows[lo:lo + step]
        block = squared_distances(features[ids], centre_x, centre_norms, None if norms is None else norms[ids])
        out[lo:lo + step] = np.sqrt(block.min(axis=1))
    return out


def distances_to(features: np.ndarray, norms: np.ndarray, centre: int) -> np.ndarray:
    """Euclidean distance of every row to row ``centre``, shape (n,): one matrix-vector product.

    Each value depends on its own row and the centre only, so distances gathered centre by
    centre, in any order and any grouping, agree to the last bit (matrix-matrix products
    round a sum differently depending on the other columns).
    """
    out = features @ (-2.0 * features[centre])  # scaling by a power of two is exact
    out += norms
    out += norms[centre]
    np.maximum(out, 0.0, out=out)
    return np.sqrt(out, out=out)


def nearest_distances(features: np.ndarray, norms: np.ndarray, centres: np.ndarray,
                      start: np.ndarray | None = None) -> np.ndarray:
    """Every row's distance to its nearest centre, one :func:`distances_to` per centre, shape (n,).

    ``start``: distances to earlier centres, to take the minimum with (default ``inf``).
    """
    out = np.full(len(features), np.inf) if start is None else np.array(start, dtype=np.float64)
    for centre in np.asarray(centres, dtype=np.int64).tolist():
        np.minimum(out, distances_to(features, norms, centre), out=out)
    return out


#: Pools up to this many rows are clustered by ``KMeans`` whatever the number of clusters.
MINIBATCH_ROWS = 4096


def kmeans_labels(features: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """Cluster labels of every row: ``KMeans`` up to 50 clusters, ``MiniBatchKMeans`` beyond.

    TypiClust's own code makes the same switch at 50 clusters (Hacohen et al. 2022, appendix),
    for its large pools; pools of at most :data:`MINIBATCH_ROWS` rows always get ``KMeans``
    (a mini-batch of 1,024 is a quarter of such a pool or more, so a mini-batch step costs
    about what a full Lloyd iteration costs, and it takes more of them).
    The mini-batch k-means uses scikit-learn's default batch of 1,024 rows, seeds k-means++
    on ``3 * n_clusters`` rows (scikit-learn's floor for ``init_size``) and float32
    features: on Fashion-MNIST (60,000 x 324, 500 clusters, one thread) that took 1.3-1.5 s
    against 4.2 s with batches of 4,096 in float64, for a within-cluster sum of squares
    about 1% higher.
    """
    return kmeans_fit(features, n_clusters, seed)[1]


def kmeans_fit(features: np.ndarray, n_clusters: int, seed: int,
               init: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """k-means as :func:`kmeans_labels` runs it; returns ``(centres (c, d), labels (n,))``.

    ``init``: starting centres (c, d) instead of k-means++ seeding.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    n_clusters = int(min(n_clusters, len(features)))
    if n_clusters <= 50 or len(features) <= MINIBATCH_ROWS:
        model = KMeans(n_clusters=n_clusters, init="k-means++" if init is None else init, n_init=1,
                       random_state=seed)
        labels = model.fit_predict(features)
    else:
        model = MiniBatchKMeans(n_clusters=n_clusters,
                                init="k-means++" if init is None else np.asarray(init, dtype=np.float32),
                                batch_size=1024, init_size=min(len(features), 3 * n_clusters), n_init=1,
                                random_state=seed, max_no_improvement=5)
        labels = model.fit_predict(np.asarray(features, dtype=np.float32))
    return np.asarray(model.cluster_centers_, dtype=np.float64), labels.astype(np.int64)


#: Rows among which :func:`kmeans_grow` seeds its new centres (all rows of a smaller pool).
GROW_ROWS = 4096


def kmeans_grow(features: np.ndarray, centres: np.ndarray, labels: np.ndarray, n_clusters: int,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means into ``n_clusters`` warm-started from an earlier clustering with fewer clusters.

    The earlier centres are kept and the missing ones are added k-means++ style (each drawn
    with probability proportional to the squared distance to the nearest centre so far,
    the best of ``2 + log(n_clusters)`` draws as scikit-learn's greedy k-means++), among
    all rows or, above :data:`GROW_ROWS`, a sample of that many; then :func:`kmeans_fit`
    iterates from those centres. ``labels`` must assign each row to its nearest centre (a
    k-means result does).

    Returns
    -------
    centres : ndarray (n_clusters, d)
    labels : ndarray (n,)
    """
    rng = np.random.default_rng(seed)
    n, d = features.shape
    n_clusters = int(min(n_clusters, n))
    centres = np.asarray(centres, dtype=np.float64)
    n_new = n_clusters - len(centres)
    if n_new <= 0:
        return kmeans_fit(features, n_clusters, seed, init=centres[:n_clusters])
    rows = np.arange(n) if n <= GROW_ROWS else np.sort(rng.choice(n, GROW_ROWS, replace=False))
    x = np.asarray(features[rows], dtype=np.float64)
    x_norms = row_norms(x)
    gap = x - centres[np.asarray(labels)[rows]]
    nearest = np.einsum("ij,ij->i", gap, gap)  # squared distance to the nearest centre
    trials = 2 + int(np.log(n_clusters))
    added = np.empty((n_new, d))
    for j in range(n_new):
        potential = nearest.sum()
        if potential > 0:
            drawn = np.searchsorted(np.cumsum(nearest), rng.random(trials) * potential)
            drawn = np.minimum(drawn, len(x) - 1)
            after = squared_distances(x[drawn], x, x_norms, x_norms[drawn])
            np.minimum(after, nearest, out=after)
            best = int(np.argmin(after.sum(axis=1)))
            pick, nearest = int(drawn[best]), after[best]
        else:  # every row sits on a centre: fewer distinct rows than clusters
            pick = int(rng.integers(len(x)))
        added[j] = x[pick]
    return kmeans_fit(features, n_clusters, seed, init=np.vstack([centres, added]))


def seed_from(rng: np.random.Generator) -> int:
    """A seed for a scikit-learn estimator, drawn from the run's generator."""
    return int(rng.integers(2**31 - 1))


def argmax_random(values: np.ndarray, rng: np.random.Generator) -> int:
    """Index of the largest value; ties broken uniformly at random by ``rng``."""
    values = np.asarray(values)
    best = np.flatnonzero(values == values.max())
    return int(best[0] if len(best) == 1 else rng.choice(best))
