"""Label spreading with a reusable graph.

scikit-learn's ``LabelSpreading.fit`` rebuilds the affinity graph on every call, but the
graph depends only on the features and the kernel settings, never on the labels. Here it
is built once (:class:`SpreadingGraph`) and reused for every round, seed and strategy;
:func:`spread` then runs the same iteration as scikit-learn for several label vectors at
once, with scikit-learn's convergence rule applied to each run separately.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

# Largest dense kernel built without asking: 4 GiB of float64 (about 23,000 points).
DENSE_KERNEL_LIMIT_BYTES = 4 * 2**30


class GraphTooLarge(MemoryError):
    """A dense kernel would not fit; raised before anything is allocated."""


def dense_kernel_bytes(n_points: int) -> int:
    """Bytes of one dense float64 n x n matrix."""
    return int(n_points) * int(n_points) * 8


def check_dense_kernel(n_points: int, limit_bytes: int = DENSE_KERNEL_LIMIT_BYTES) -> None:
    """Refuse a dense rbf kernel on ``n_points`` that would exceed ``limit_bytes``."""
    need = dense_kernel_bytes(n_points)
    if need > limit_bytes:
        raise GraphTooLarge(
            f"an rbf kernel on {n_points:,} points is a dense {n_points:,} x {n_points:,} matrix of "
            f"{need / 2**30:.1f} GiB (and the solver needs about twice that); the limit is "
            f"{limit_bytes / 2**30:.1f} GiB. Use kernel 'knn', which stores only n_neighbors "
            f"entries per point, or a smaller pool_size."
        )


@dataclass(frozen=True, eq=False)
class SpreadingGraph:
    """The normalised affinity matrix S of label spreading, without its diagonal.

    Attributes
    ----------
    matrix : ndarray (n, n) for rbf, scipy CSR (n, n) for knn
    kernel : str
    gamma : float
    n_neighbors : int
    build_seconds : float
    nn : fitted ``NearestNeighbors`` (knn only), for inductive predictions
    """

    matrix: object
    kernel: str
    gamma: float
    n_neighbors: int
    build_seconds: float
    features: np.ndarray
    nn: object = None
    neighbour_cache: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.matrix.shape[0]


def build_graph(
    features: np.ndarray,
    kernel: str = "rbf",
    gamma: float = 20.0,
    n_neighbors: int = 7,
    progress: Callable[[float, str], None] | None = None,
    limit_bytes: int = DENSE_KERNEL_LIMIT_BYTES,
) -> SpreadingGraph:
    """Build S = -(normalised Laplacian) with a zero diagonal, as ``LabelSpreading`` does.

    Parameters
    ----------
    features : ndarray, shape (n, d)
    kernel : 'rbf' or 'knn'
    progress : callable(fraction, message), optional
        Called while the (slow, for large n) neighbour search runs.
    """
    from sklearn.metrics.pairwise import rbf_kernel
    from sklearn.neighbors import NearestNeighbors

    start = time.perf_counter()
    features = np.asarray(features, dtype=np.float64)
    n = len(features)
    nn = None
    if kernel == "rbf":
        check_dense_kernel(n, limit_bytes)
        affinity = rbf_kernel(features, features, gamma=gamma)
        laplacian = csgraph.laplacian(affinity, normed=True)
        del affinity
        np.negative(laplacian, out=laplacian)
        laplacian.flat[:: n + 1] = 0.0
        matrix = laplacian
    elif kernel == "knn":
        nn = NearestNeighbors(n_neighbors=n_neighbors).fit(features)
        # Same graph as NearestNeighbors.kneighbors_graph(X, k, mode="connectivity"),
        # computed in chunks so progress can be shown on large pools.
        chunk = max(1, min(n, 2048))
        columns = np.empty((n, n_neighbors), dtype=np.int64)
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            columns[lo:hi] = nn.kneighbors(features[lo:hi], n_neighbors, return_distance=False)
            if progress is not None:
                progress(hi / n, f"nearest neighbours {hi:,}/{n:,}")
        affinity = sp.csr_matrix(
            (np.ones(n * n_neighbors), columns.ravel(), np.arange(0, n * n_neighbors + 1, n_neighbors)),
            shape=(n, n),
        )
        laplacian = csgraph.laplacian(affinity, normed=True)
        laplacian = sp.coo_matrix(laplacian)
        laplacian.data = -laplacian.data
        laplacian.data[laplacian.row == laplacian.col] = 0.0
        matrix = laplacian.tocsr()
    else:
        raise ValueError(f"kernel must be 'rbf' or 'knn', got {kernel!r}")
    return SpreadingGraph(matrix=matrix, kernel=kernel, gamma=float(gamma), n_neighbors=int(n_neighbors),
                          build_seconds=time.perf_counter() - start, features=features, nn=nn)


def spread(
    graph: SpreadingGraph,
    labels: np.ndarray,
    n_classes: int,
    alpha: float = 0.2,
    max_iter: int = 30,
    tol: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray]:
    """Spread several label vectors over one graph.

    Parameters
    ----------
    labels : ndarray, shape (n_runs, n) or (n,)
        Class ids in ``0..n_classes-1``; -1 marks unlabeled points.
    n_classes : int

    Returns
    -------
    distributions : ndarray, shape (n_runs, n, n_classes)
        Row-normalised label distributions (``label_distributions_`` of scikit-learn, with
        a zero column for every class absent from a run's labels).
    n_iter : ndarray, shape (n_runs,)
        Iterations each run took (scikit-learn's ``n_iter_``).

    Notes
    -----
    Each run follows scikit-learn's rule: before each of at most ``max_iter`` updates,
    stop if the summed absolute change of the previous update is below ``tol``. A run that
    has stopped keeps its values while the others go on.
    """
    labels = np.atleast_2d(np.asarray(labels))
    n_runs, n = labels.shape
    if n != graph.n:
        raise ValueError(f"labels cover {n} points, the graph {graph.n}")
    if labels.max() >= n_classes:
        raise ValueError(f"labels must be < n_classes={n_classes}, got {labels.max()}")
    # Runs side by side: column block r holds run r's n_classes columns.
    current = np.zeros((n, n_runs * n_classes))
    rows, runs = np.nonzero(labels.T >= 0)
    current[rows, runs * n_classes + labels.T[rows, runs]] = 1.0
    static = current * (1.0 - alpha)
    previous = np.zeros_like(current)
    n_iter = np.zeros(n_runs, dtype=np.int64)
    active = np.ones(n_runs, dtype=bool)
    matrix = graph.matrix
    for iteration in range(max_iter):
        change = np.abs(current - previous).reshape(n, n_runs, n_classes).sum(axis=(0, 2))
        stopped = active & (change < tol)
        n_iter[stopped] = iteration
        active &= ~stopped
        if not active.any():
            break
        cols = np.flatnonzero(np.repeat(active, n_classes))
        previous = current.copy() if not active.all() else current
        if active.all():
            current = alpha * np.asarray(matrix @ current) + static
        else:
            current[:, cols] = alpha * np.asarray(matrix @ current[:, cols]) + static[:, cols]
    else:
        n_iter[active] = max_iter
    distributions = current.reshape(n, n_runs, n_classes).transpose(1, 0, 2).copy()
    normalizer = distributions.sum(axis=2, keepdims=True)
    normalizer[normalizer == 0] = 1.0
    distributions /= normalizer
    return distributions, n_iter


def predict_new(graph: SpreadingGraph, distributions: np.ndarray, new_features: np.ndarray) -> np.ndarray:
    """Inductive class probabilities for unseen points, as ``LabelSpreading.predict_proba``.

    Parameters
    ----------
    distributions : ndarray, shape (n, n_classes) for the graph's points
    new_features : ndarray, shape (m, d)

    Returns
    -------
    ndarray, shape (m, n_classes)
    """
    from sklearn.metrics.pairwise import rbf_kernel

    if graph.kernel == "knn":
        # The neighbours of a fixed test set never change: look them up once per graph.
        key = (new_features.shape, new_features.ctypes.data)
        neighbours = graph.neighbour_cache.get(key)
        if neighbours is None:
            neighbours = graph.nn.kneighbors(new_features, graph.n_neighbors, return_distance=False)
            graph.neighbour_cache[key] = neighbours
        probabilities = distributions[neighbours].sum(axis=1)
    else:
        probabilities = np.empty((len(new_features), distributions.shape[1]))
        for lo in range(0, len(new_features), 4096):
            weights = rbf_kernel(new_features[lo:lo + 4096], graph.features, gamma=graph.gamma)
            probabilities[lo:lo + 4096] = weights @ distributions
    normalizer = probabilities.sum(axis=1, keepdims=True)
    normalizer[normalizer == 0] = 1.0
    return probabilities / normalizer
