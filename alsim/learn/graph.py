"""Label spreading with a reusable graph.

scikit-learn's ``LabelSpreading.fit`` rebuilds the affinity graph on every call, but the
graph depends only on the features and the kernel settings, never on the labels. Here it
is built once (:class:`SpreadingGraph`) and reused for every round, seed and strategy;
:func:`spread` then runs the same iteration as scikit-learn for several label vectors at
once, with scikit-learn's convergence rule applied to each run separately.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from alsim.common.errors import ConfigError, GraphTooLarge
from alsim.learn.limits import MAX_GAMMA  # noqa: F401  (the graph's own limit, kept where a config reads it)
from alsim.storage import disk as diskcache
from alsim.storage.disk import cache_dir

# Largest dense kernel built without asking: 4 GiB of float64 (about 23,000 points).
DENSE_KERNEL_LIMIT_BYTES = 4 * 2**30

#: How a knn graph finds each point's neighbours: ``exact`` (scikit-learn's NearestNeighbors),
#: ``descent`` (pynndescent's approximate NN-descent) or ``auto`` (exact up to
#: :data:`APPROXIMATE_ABOVE` points, descent beyond).
NEIGHBOUR_BACKENDS = ("auto", "exact", "descent")
#: Pools larger than this get the approximate search under ``auto``: where pynndescent's
#: search (plus the one-off compilation of its numba code in a fresh process) starts to cost
#: less than the exact one, measured by ``bench/million.py --crossover`` (README, "Pools of a
#: million points").
APPROXIMATE_ABOVE = 100_000
#: pynndescent's seed: fixed, so a pool's graph is the same for every run, seed and session.
DESCENT_SEED = 0
#: Neighbours pynndescent keeps per point while it searches, at least: keeping only k, it
#: misses more of the true k nearest (``bench/million.py`` prints the recall; keeping 15 it
#: found 0.92 of the true 10 on its million points, short of the 0.95 aimed at).
DESCENT_MIN_NEIGHBOURS = 25
#: knn pools above this many points spread over a compact copy of the graph
#: (:meth:`SpreadingGraph.compact`): its points reordered so that neighbours sit close in memory,
#: the stopping rule's sums taken block by block with each product, on two threads, without the
#: stored iterates of :class:`SpreadState`. Each row keeps its entries in their order, so a
#: fresh run's iterates are the same numbers as :func:`_iterate`'s; a run whose labels grew
#: differs from it by rounding only (README, "Pools of a million points").
COMPACT_SPREAD_ABOVE = APPROXIMATE_ABOVE
#: Rows of the compact graph multiplied at a time: a block's product and the sums read from it
#: stay in the processor's cache.
COMPACT_BLOCK_ROWS = 32_768
#: The compact copy's number type. float32 halves the memory a product reads, but its rounding
#: moves the top class of points whose two best classes are nearly tied (``bench/million.py``
#: compares a run with the float64 iteration's, point by point).
COMPACT_DTYPE = np.float64
#: Threads that share a compact spreading's blocks (scipy's sparse product and numpy's
#: arithmetic release the GIL), at most one per core. A thread pool of its own per call: the
#: process's BLAS pools (``ALSIM_BLAS_THREADS``) stay as they are.
COMPACT_THREADS = 2
#: Dense graphs below this many points multiply each run's columns in a product of their own.
#: A comparison spreads several runs side by side, and a run's numbers must not depend on the
#: runs beside it (the Compare page promises the one-seed-at-a-time numbers exactly). OpenBLAS
#: takes small products (about n x n x width <= 1e6) through other kernels, whose rounding of a
#: column depends on the product's width and memory order: on 150 digits, 24 of 31 runs spread
#: together differed in their last bits from the same runs alone. Above, a product of S by two
#: or more columns gives each column the same bits whatever else it holds (one column takes a
#: matrix-vector kernel, so such a product gets a zero column beside it); ``tests/test_graph.py``
#: checks both sides. Below, one product per run costs little (S is at most 8 MB).
PER_RUN_PRODUCTS_BELOW = 1_000
#: Largest knn pool built without asking, as a share of the machine's memory
#: (:func:`knn_pool_bytes` against :func:`memory_limit_bytes`).
MEMORY_SHARE = 0.5


def neighbour_backend(n_points: int, backend: str = "auto") -> str:
    """The search a knn graph on ``n_points`` uses: ``exact`` or ``descent``."""
    if backend not in NEIGHBOUR_BACKENDS:
        raise ConfigError(f"neighbour backend must be one of {', '.join(map(repr, NEIGHBOUR_BACKENDS))}, "
                          f"got {backend!r}")
    if backend == "auto":
        return "descent" if n_points > APPROXIMATE_ABOVE else "exact"
    return backend


def backend_label(backend: str) -> str:
    """How output names a backend."""
    return {"exact": "exact (scikit-learn)", "descent": "approximate (pynndescent)"}[backend]


def knn_pool_bytes(n_points: int, n_features: int, n_neighbors: int, n_classes: int = 10,
                   max_iter: int = 30) -> int:
    """Peak bytes a label-spreading run on a knn graph of this pool holds, estimated before allocating.

    The features as float64 (and a float32 copy for the search), the neighbour lists, the
    symmetric normalised graph (CSR: up to 2k entries a row, twice while it is built), the
    spreading iterates (``max_iter + 1`` of n x n_classes float64, kept for the next round)
    and the approximate search's own index (about 3k neighbours and distances a point).
    """
    n, d, k = int(n_points), int(n_features), int(n_neighbors)
    features = n * d * (8 + 4)
    lists = n * k * 8
    graph = 2 * (n * 2 * k * (8 + 4) + (n + 1) * 8)
    iterates = (max_iter + 3) * n * max(2, n_classes) * 8
    search = n * 3 * max(k, DESCENT_MIN_NEIGHBOURS) * (4 + 4)
    return features + lists + graph + iterates + search


def memory_limit_bytes() -> int:
    """The largest pool built without asking: :data:`MEMORY_SHARE` of the machine's memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 16 * 2**30
    return int(total * MEMORY_SHARE)


def check_knn_pool(n_points: int, n_features: int, n_neighbors: int, n_classes: int = 10, max_iter: int = 30,
                   limit_bytes: int | None = None) -> None:
    """Refuse a knn pool whose run would need more than ``limit_bytes``, before allocating anything."""
    limit_bytes = memory_limit_bytes() if limit_bytes is None else limit_bytes
    need = knn_pool_bytes(n_points, n_features, n_neighbors, n_classes, max_iter)
    if need > limit_bytes:
        raise GraphTooLarge(
            f"label spreading on a knn graph of {n_points:,} points x {n_features:,} features needs about "
            f"{need / 2**30:.1f} GiB (features, graph and spreading iterates); the limit is "
            f"{limit_bytes / 2**30:.1f} GiB ({MEMORY_SHARE:.0%} of this machine's memory). Use a smaller "
            f"pool_size, fewer features (pca_components) or fewer max_iter."
        )



def dense_kernel_bytes(n_points: int) -> int:
    """Bytes of one dense float64 n x n matrix."""
    return int(n_points) * int(n_points) * 8


def check_dense_kernel(n_points: int, limit_bytes: int | None = None) -> None:
    """Refuse a dense rbf kernel on ``n_points`` that would exceed ``limit_bytes``."""
    limit_bytes = DENSE_KERNEL_LIMIT_BYTES if limit_bytes is None else limit_bytes
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
    features : ndarray (n, d), read-only
    backend : str, knn only: ``exact`` or ``descent``, the search that found the neighbours
    neighbours : ndarray (n, n_neighbors) int64, read-only (knn only): each point's neighbour ids
    neighbour_cache : dict, query-set key -> read-only (m, n_neighbors) neighbour ids (knn only);
        read and written only under the graph's lock, since one graph serves every session

    The arrays a graph holds are read-only: one graph object is shared by every thread.
    """

    matrix: object
    kernel: str
    gamma: float
    n_neighbors: int
    build_seconds: float
    features: np.ndarray
    backend: str | None = None
    neighbours: np.ndarray | None = None
    neighbour_cache: dict = field(default_factory=dict)
    disk_cache_name: str | None = None  # knn only: the pool's neighbour file name, when kept on disk
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _searcher: list = field(default_factory=list, repr=False)  # the index of searcher(), once built
    _compact: list = field(default_factory=list, repr=False)  # the layout of compact(), once built

    @property
    def n(self) -> int:
        return self.matrix.shape[0]

    def searcher(self):
        """The index that finds pool neighbours of new points (knn only), built on first use.

        Inductive predictions need it; a graph read from the disk cache builds none until
        then. Built under the graph's lock, so sessions sharing the graph build it once.
        """
        with self._lock:
            if not self._searcher:
                self._searcher.append(neighbour_index(self.features, self.n_neighbors, self.backend or "exact"))
            return self._searcher[0]

    def compact(self) -> "CompactGraph":
        """The reordered copy of a knn graph that large pools spread over, built on first use.

        Built under the graph's lock, so sessions sharing the graph build it once.
        """
        with self._lock:
            if not self._compact:
                self._compact.append(compact_graph(self.matrix))
            return self._compact[0]


@dataclass(frozen=True, eq=False)
class CompactGraph:
    """A sparse graph with its points reordered (its weights in :data:`COMPACT_DTYPE`).

    Attributes
    ----------
    order : ndarray (n,) int64, the original point at each new position
    rank : ndarray (n,) int64, the new position of each original point (``order``'s inverse)
    blocks : list of (lo, hi, CSR rows lo..hi) covering the rows in order: together they are
        ``S[order][:, order]``, each row keeping its entries in the original graph's order
    """

    order: np.ndarray
    rank: np.ndarray
    blocks: list

    @property
    def dtype(self) -> np.dtype:
        return self.blocks[0][2].dtype

    @property
    def matrix(self):
        """The whole reordered matrix (CSR), stacked from the blocks: a new copy, for inspection."""
        return sp.vstack([block for _, _, block in self.blocks], format="csr")


def compact_graph(matrix, block_rows: int | None = None) -> CompactGraph:
    """The graph ``matrix`` (CSR) reordered by reverse Cuthill-McKee, its weights in :data:`COMPACT_DTYPE`.

    The ordering numbers the points breadth-first from the graph's periphery, so a point's
    neighbours get nearby numbers: a product then reads the iterate's rows from a few
    nearby places instead of from anywhere in it.
    """
    block_rows = COMPACT_BLOCK_ROWS if block_rows is None else block_rows
    matrix = sp.csr_matrix(matrix)
    n = matrix.shape[0]
    order = np.asarray(csgraph.reverse_cuthill_mckee(matrix, symmetric_mode=False), dtype=np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    counts = np.diff(matrix.indptr)[order]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    take = np.repeat(matrix.indptr[order].astype(np.int64) - indptr[:-1], counts) + np.arange(indptr[-1])
    compact = sp.csr_matrix((matrix.data[take].astype(COMPACT_DTYPE), rank[matrix.indices[take]], indptr),
                            shape=(n, n))
    # Only the blocks are kept: the whole reordered matrix beside them would be a second copy
    # of the graph (a row slice copies its rows).
    blocks = [(lo, min(n, lo + block_rows), compact[lo:min(n, lo + block_rows)]) for lo in range(0, n, block_rows)]
    del compact
    for part in [order, rank] + [array for _, _, block in blocks for array in (block.data, block.indices,
                                                                               block.indptr)]:
        part.flags.writeable = False  # one copy serves every session's threads
    return CompactGraph(order=order, rank=rank, blocks=blocks)


def ready_to_spread(graph: SpreadingGraph, progress: Callable[[float, str], None] | None = None) -> SpreadingGraph:
    """``graph`` with what :func:`spread` will need built now: the compact copy, where it spreads over one.

    Called inside a cache's build, so the cache counts the copy's bytes with the graph's
    (built later, at the first spread, it would be memory no bound sees).
    """
    if spreads_compact(graph):
        if progress is not None:
            progress(1.0, f"ordering the graph of {graph.n:,} points for spreading")
        graph.compact()
    return graph


def build_graph(
    features: np.ndarray,
    kernel: str = "rbf",
    gamma: float = 20.0,
    n_neighbors: int = 7,
    progress: Callable[[float, str], None] | None = None,
    limit_bytes: int | None = None,
    cache: bool = False,
    backend: str = "auto",
) -> SpreadingGraph:
    """Build S = -(normalised Laplacian) with a zero diagonal, as ``LabelSpreading`` does.

    Parameters
    ----------
    features : ndarray, shape (n, d)
    kernel : 'rbf' or 'knn'
    progress : callable(fraction, message), optional
        Called while the (slow, for large n) neighbour search runs.
    cache : bool
        Keep knn neighbour lists on disk (under :func:`alsim.storage.disk.cache_dir`), keyed by
        a hash of the features and k, so a restarted session skips the search. A stored
        list is used only once its dtype, shape, digest and index range are checked
        (:mod:`alsim.storage.disk`); otherwise the search runs again and rewrites it. The
        file is written atomically: an interrupted build leaves no file, or the old one.
    backend : str
        knn only, one of :data:`NEIGHBOUR_BACKENDS`: exact search, pynndescent's approximate
        one (seeded with :data:`DESCENT_SEED`), or ``auto`` (:func:`neighbour_backend`). The
        disk cache's key names the backend and its settings.
    limit_bytes : int, optional
        The memory limit of the check made before anything is allocated: the dense kernel's
        (:func:`check_dense_kernel`) or the knn pool's (:func:`check_knn_pool`).
    """
    from sklearn.metrics.pairwise import rbf_kernel

    start = time.perf_counter()
    n = len(features)
    if kernel == "knn":
        check_knn_pool(n, np.shape(features)[1], n_neighbors, limit_bytes=limit_bytes)
    features = np.asarray(features, dtype=np.float64)
    cache_path = None
    if kernel == "rbf":
        backend = None
        check_dense_kernel(n, limit_bytes)
        affinity = rbf_kernel(features, features, gamma=gamma)
        _check_informative(affinity, features, gamma)
        # in place: the same numbers without a second n x n array (scipy's copy=False)
        laplacian = csgraph.laplacian(affinity, normed=True, copy=False)
        del affinity
        np.negative(laplacian, out=laplacian)
        laplacian.flat[:: n + 1] = 0.0
        matrix = laplacian
    elif kernel == "knn":
        backend = neighbour_backend(n, backend)
        cache_path = _neighbour_path(features, n_neighbors, "pool" if backend == "exact"
                                     else f"pool-{_descent_tag(n_neighbors)}") if cache else None
        columns = _load_neighbours(cache_path, n, n_neighbors, n) if cache else None
        if columns is None:
            columns = pool_neighbours(features, n_neighbors, backend, progress)
            if cache:
                diskcache.save_array(cache_path, columns)
        elif progress is not None:
            progress(1.0, f"nearest neighbours of {n:,} points read from the disk cache ({backend_label(backend)})")
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
    features = _read_only(features)
    neighbours = None
    if kernel == "knn":
        neighbours = _read_only(columns)
    for part in (matrix.data, matrix.indices, matrix.indptr) if sp.issparse(matrix) else (matrix,):
        part.flags.writeable = False
    return SpreadingGraph(matrix=matrix, kernel=kernel, gamma=float(gamma), n_neighbors=int(n_neighbors),
                          build_seconds=time.perf_counter() - start, features=features, backend=backend,
                          neighbours=neighbours,
                          disk_cache_name=cache_path.stem if kernel == "knn" and cache else None)


def pool_neighbours(features: np.ndarray, n_neighbors: int, backend: str = "exact",
                    progress: Callable[[float, str], None] | None = None) -> np.ndarray:
    """Each point's ``n_neighbors`` nearest pool points, itself included (first, barring duplicates).

    Parameters
    ----------
    features : ndarray (n, d)
    backend : ``exact`` or ``descent`` (see :func:`neighbour_backend`)

    Returns
    -------
    ndarray (n, n_neighbors) int64, nearest first
    """
    n = len(features)
    if backend == "descent":
        if progress is not None:
            progress(0.0, f"nearest neighbours of {n:,} points ({backend_label(backend)})")
        index = _descent_index(features, n_neighbors)
        columns = _descent_columns(index, n_neighbors)
        if progress is not None:
            progress(1.0, f"nearest neighbours {n:,}/{n:,} ({backend_label(backend)})")
        return columns
    nn = neighbour_index(features, n_neighbors, "exact")
    # Same graph as NearestNeighbors.kneighbors_graph(X, k, mode="connectivity"),
    # computed in chunks so progress can be shown on large pools.
    chunk = max(1, min(n, 2048))
    columns = np.empty((n, n_neighbors), dtype=np.int64)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        columns[lo:hi] = nn.kneighbors(features[lo:hi], n_neighbors, return_distance=False)
        if progress is not None:
            progress(hi / n, f"nearest neighbours {hi:,}/{n:,} ({backend_label(backend)})")
    return columns


class _DescentSearch:
    """pynndescent's index behind ``NearestNeighbors.kneighbors``'s signature (ids only)."""

    def __init__(self, index, n_neighbors: int):
        self.index, self.n_neighbors = index, n_neighbors

    def kneighbors(self, X: np.ndarray, n_neighbors: int, return_distance: bool = False) -> np.ndarray:
        ids, _ = self.index.query(np.asarray(X, dtype=np.float32), k=n_neighbors)
        return ids.astype(np.int64)


def neighbour_index(features: np.ndarray, n_neighbors: int, backend: str):
    """An index over the pool answering ``kneighbors(X, k, return_distance=False)``."""
    if backend == "descent":
        return _DescentSearch(_descent_index(features, n_neighbors), n_neighbors)
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=n_neighbors).fit(features)


def _descent_tag(n_neighbors: int) -> str:
    """What a pynndescent graph depends on besides the pool, for the disk cache's key."""
    from importlib.metadata import version  # the package's version without importing it (numba's start-up)

    return f"descent{max(n_neighbors, DESCENT_MIN_NEIGHBOURS)}-seed{DESCENT_SEED}-v{version('pynndescent')}"


def _descent_index(features: np.ndarray, n_neighbors: int):
    import pynndescent  # lazy: numba compiles on import, paid only by pools that use it

    return pynndescent.NNDescent(np.asarray(features, dtype=np.float32), n_neighbors=max(n_neighbors,
                                 DESCENT_MIN_NEIGHBOURS), random_state=DESCENT_SEED, low_memory=True)


def _descent_columns(index, n_neighbors: int) -> np.ndarray:
    """The first ``n_neighbors`` of pynndescent's neighbour lists, as int64.

    A slot the search left empty (-1, when it found too few distinct points) is filled with
    the point itself, so every row has k entries in range.
    """
    ids = np.asarray(index.neighbor_graph[0][:, :n_neighbors], dtype=np.int64)
    empty = ids < 0
    if empty.any():
        ids[empty] = np.nonzero(empty)[0]
    return ids


def _check_informative(affinity: np.ndarray, features: np.ndarray, gamma: float) -> None:
    """Refuse an rbf graph that carries no information: every weight between two points equal.

    With gamma too large every exp(-gamma d^2) off the diagonal underflows to 0; too small, and
    every one rounds to the same value (gamma=1e-300 gives 1.0 everywhere). Either way the
    graph is the same whatever the features, and label spreading's accuracy is chance (digits:
    0.09 at gamma=1e-300 or 1000). Raises :class:`ConfigError` with a range of gamma to try,
    from a sample of the pool: from 1 over the median squared distance between two points
    (weights differ across typical pairs) to 100 over the median squared distance to a
    nearest neighbour (a point's closest weights stay far above underflow; the normalised
    Laplacian rescales small weights, so large gammas work until they underflow).
    """
    n = len(affinity)
    if n < 2:
        return
    diagonal = affinity.diagonal().copy()
    np.fill_diagonal(affinity, np.nan)
    low, high = float(np.nanmin(affinity)), float(np.nanmax(affinity))
    np.fill_diagonal(affinity, diagonal)
    if high > 0.0 and low < high:
        return
    sample = features[np.random.default_rng(0).choice(n, size=min(n, 1000), replace=False)]
    squared = (sample * sample).sum(axis=1)
    distances = squared[:, None] + squared[None, :] - 2.0 * (sample @ sample.T)
    np.fill_diagonal(distances, np.nan)
    distances[distances <= 0.0] = np.nan  # duplicates tell nothing about the scale
    if np.isnan(distances).all():
        raise ConfigError(f"the pool's {n:,} points all have the same features, so an rbf graph cannot tell them "
                          "apart; choose other features")
    median = float(np.nanmedian(distances))
    nearest = float(np.nanmedian(np.nanmin(np.where(np.isnan(distances).all(axis=1, keepdims=True), np.inf,
                                                    distances), axis=1)))
    lower = min(1.0 / median, MAX_GAMMA)
    upper = min(max(100.0 / nearest, lower), MAX_GAMMA)
    what = ("too large for these features: every rbf weight between two points underflows to 0" if high == 0.0
            else f"too small for these features: every rbf weight between two points is {high:.6g}")
    raise ConfigError(f"gamma={gamma:g} is {what}, so the graph carries no information (median squared distance "
                      f"{median:.4g}, to a nearest neighbour {nearest:.4g}); try gamma between {lower:.2g} and "
                      f"{upper:.2g}")


@dataclass(eq=False)
class SpreadState:
    """What one run's spreading left behind: its labels and iterates F_0..F_T.

    Spreading is linear in the labels: with F_t(Y) the t-th iterate for label matrix Y,
    F_t(Y + dY) = F_t(Y) + F_t(dY). When a later round only adds labels, the new iterates
    are the stored ones plus the iterates of the added labels alone, whose columns are
    non-zero only for the classes just revealed.
    """

    labels: np.ndarray
    history: list


def _features_digest(features: np.ndarray) -> str:
    """A content digest of a feature matrix's values (the file names of existing caches use it)."""
    return hashlib.blake2b(np.ascontiguousarray(features).view(np.uint8), digest_size=16).hexdigest()


def _neighbour_path(features: np.ndarray, n_neighbors: int, what: str):
    """Disk-cache file of the neighbour lists of ``features``, keyed by a hash of them and k."""
    digest = _features_digest(features)
    return cache_dir() / "graphs" / f"knn-{what}-{n_neighbors}-{features.shape[0]}x{features.shape[1]}-{digest}.npy"


def _load_neighbours(path, n_rows: int, n_neighbors: int, n_points: int) -> np.ndarray | None:
    """Neighbour ids stored at ``path``: int64, shape (n_rows, n_neighbors), each in [0, n_points)."""
    return diskcache.load_array(path, (n_rows, n_neighbors), np.int64, check=diskcache.indices_below(n_points))


def _read_only(values: np.ndarray) -> np.ndarray:
    """A read-only view: the caller's own array keeps its flags."""
    view = values.view()
    view.flags.writeable = False
    return view


def spread(
    graph: SpreadingGraph,
    labels: np.ndarray,
    n_classes: int,
    alpha: float = 0.2,
    max_iter: int = 30,
    tol: float = 1e-3,
    states: list[SpreadState | None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Spread several label vectors over one graph.

    Parameters
    ----------
    labels : ndarray, shape (n_runs, n) or (n,)
        Class ids in ``0..n_classes-1``; -1 marks unlabeled points.
    n_classes : int
    states : list of SpreadState or None, optional
        One entry per run, updated in place: pass the same list again next round and runs
        whose labels only grew reuse their previous iterates (see :class:`SpreadState`). A
        graph that spreads over its compact copy (:func:`spreads_compact`) keeps no iterates.

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
    stop if the summed absolute change of the previous update is below ``tol``; the
    result is the iterate at which it stopped. All runs' new columns are multiplied by
    S together, one matrix product per iteration.
    """
    labels = np.atleast_2d(np.asarray(labels))
    n_runs, n = labels.shape
    if n != graph.n:
        raise ValueError(f"labels cover {n} points, the graph {graph.n}")
    if labels.max() >= n_classes:
        raise ValueError(f"labels must be < n_classes={n_classes}, got {labels.max()}")
    if states is None:
        states = [None] * n_runs
    if len(states) != n_runs:
        raise ValueError(f"states must have one entry per run ({n_runs}), got {len(states)}")
    twins = _fresh_twins(labels, states)
    if twins:
        return _spread_twins_once(graph, labels, n_classes, alpha, max_iter, tol, states, twins)
    if spreads_compact(graph):
        distributions, n_iter = _spread_compact(graph.compact(), labels, n_classes, alpha, max_iter, tol)
        for r in range(n_runs):
            states[r] = SpreadState(labels=labels[r].copy(), history=[])
        return distributions, n_iter
    delta = _delta_columns(labels, states, n_classes)
    distributions, n_iter, histories = _iterate(graph.matrix, delta, n_classes, alpha, max_iter, tol)
    for r in range(n_runs):
        states[r] = SpreadState(labels=labels[r].copy(), history=histories[r])
    return distributions, n_iter


def _fresh_twins(labels: np.ndarray, states: list) -> dict[int, int]:
    """Fresh runs whose labels equal an earlier fresh run's: {twin: the earlier run}.

    Every strategy's first round under one seed starts from the same labels; such runs
    are spread once.
    """
    seen: dict[bytes, int] = {}
    twins = {}
    for r in range(len(labels)):
        if states[r] is not None:
            continue
        key = labels[r].tobytes()
        if key in seen:
            twins[r] = seen[key]
        else:
            seen[key] = r
    return twins


def _spread_twins_once(graph, labels, n_classes, alpha, max_iter, tol, states, twins):
    """Spread the runs that are not twins, then give each twin a copy of its original's result."""
    n_runs = len(labels)
    keep = [r for r in range(n_runs) if r not in twins]
    sub_states = [states[r] for r in keep]
    dists, n_iter = spread(graph, labels[keep], n_classes, alpha, max_iter, tol, states=sub_states)
    position = {r: i for i, r in enumerate(keep)}
    order = [position[twins.get(r, r)] for r in range(n_runs)]
    for r in range(n_runs):
        source = sub_states[order[r]]
        states[r] = source if r not in twins else SpreadState(source.labels.copy(), list(source.history))
    return dists[order], n_iter[order]


@dataclass
class _DeltaColumns:
    """The part of each run's labels not covered by its stored iterates, as compact columns.

    Attributes
    ----------
    start : ndarray (n, width), all runs' new one-hot columns side by side
    blocks : list of slice, run r's columns within ``start``
    classes : list of ndarray, the class each of run r's columns stands for
    olds : list of (history, one-hot labels) or None, what run r's stored iterates cover
    """

    start: np.ndarray
    blocks: list
    classes: list
    olds: list

    @property
    def width(self) -> int:
        return self.start.shape[1]


def _delta_columns(labels: np.ndarray, states: list, n_classes: int) -> _DeltaColumns:
    """Split each run into stored iterates (when its labels only grew) and the columns to spread."""
    n = labels.shape[1]
    olds, blocks, block_cols, targets = [], [], [], []
    width = 0
    for r in range(len(labels)):
        state = states[r]
        new = _one_hot(labels[r], n_classes)
        if state is not None and np.all((state.labels == -1) | (state.labels == labels[r])):
            delta = new - _one_hot(state.labels, n_classes)
            olds.append((state.history, _one_hot(state.labels, n_classes)))
        else:
            delta = new
            olds.append(None)
        classes = np.flatnonzero(delta.any(axis=0))
        blocks.append(slice(width, width + len(classes)))
        block_cols.append(classes)
        targets.append(delta if len(classes) == n_classes else delta[:, classes])
        width += len(classes)
    if len(targets) == 1:
        start = targets[0]
    else:
        start = np.concatenate(targets, axis=1) if width else np.zeros((n, 0))
    return _DeltaColumns(start=start, blocks=blocks, classes=block_cols, olds=olds)


def _iterate(matrix, delta: _DeltaColumns, n_classes: int, alpha: float, max_iter: int, tol: float):
    """Run every run's iteration with scikit-learn's stopping rule; one product by S per step.

    Returns
    -------
    distributions : ndarray (n_runs, n, n_classes), row-normalised
    n_iter : ndarray (n_runs,)
    histories : list of lists, each run's iterates F_0..F_T
    """
    n = delta.start.shape[0]
    n_runs = len(delta.olds)
    static = delta.start * (1.0 - alpha)
    current = delta.start  # iterate t of the added labels, the runs still spreading side by side
    blocks = list(delta.blocks)  # run r's columns within current
    results = [None] * n_runs
    n_iter = np.zeros(n_runs, dtype=np.int64)
    histories: list[list] = [[] for _ in range(n_runs)]
    previous = [np.zeros((n, n_classes)) for _ in range(n_runs)]
    active = np.ones(n_runs, dtype=bool)
    scratch = np.empty((n, n_classes))
    for t in range(max_iter + 1):
        for r in np.flatnonzero(active):
            old = delta.olds[r]
            f = np.zeros((n, n_classes)) if old is None else _old_iterate(old, t, matrix, alpha)
            if len(delta.classes[r]) == n_classes:  # every class: the same sums without a gather and a scatter
                f += current[:, blocks[r]]
            else:  # a column at a time: the same sums, without fancy indexing's gather, copy and scatter
                for c, k in zip(delta.classes[r], range(blocks[r].start, blocks[r].stop)):
                    f[:, c] += current[:, k]
            histories[r].append(f)
            np.subtract(f, previous[r], out=scratch)  # in place: a fresh 80 MB array a step costs page faults
            if t == max_iter or np.abs(scratch, out=scratch).sum() < tol:
                results[r], n_iter[r] = f, t
                active[r] = False
            else:
                previous[r] = f
        if not active.any():
            break
        going = np.flatnonzero(active)
        cols = np.concatenate([np.arange(blocks[r].start, blocks[r].stop) for r in going])
        if len(cols) == 0:
            continue  # nothing new to spread: the stored iterates carry the runs on
        if len(cols) < current.shape[1]:  # runs stopped: only the columns still spreading, once
            current, static = np.ascontiguousarray(current[:, cols]), np.ascontiguousarray(static[:, cols])
            start = 0
            for r in going:
                blocks[r] = slice(start, start + blocks[r].stop - blocks[r].start)
                start = blocks[r].stop
        product = _product(matrix, current, [blocks[r] for r in going], first=t == 0)
        np.multiply(product, alpha, out=product)
        product += static
        current = product

    distributions = np.stack(results)
    normalizer = distributions.sum(axis=2, keepdims=True)
    normalizer[normalizer == 0] = 1.0
    distributions /= normalizer
    return distributions, n_iter, histories


def spreads_compact(graph: SpreadingGraph) -> bool:
    """Whether :func:`spread` runs over the graph's compact copy: knn pools above
    :data:`COMPACT_SPREAD_ABOVE` points."""
    return graph.kernel == "knn" and graph.n > COMPACT_SPREAD_ABOVE


def _spread_compact(compact: CompactGraph, labels: np.ndarray, n_classes: int, alpha: float, max_iter: int,
                    tol: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`spread` over a :class:`CompactGraph`: iterates F_t = alpha S F_(t-1) + (1 - alpha) Y.

    The same iteration and stopping rule as :func:`_iterate` (stop before an update when the
    summed absolute change of the previous one is below ``tol``), every run's columns side by
    side, one product per step. Each block of rows is multiplied, updated and its change
    summed while it is in the cache. A run that stops leaves the product.
    """
    n_runs, n = labels.shape
    permuted = labels[:, compact.order]
    classes = [np.flatnonzero(np.bincount(row[row >= 0], minlength=n_classes)) for row in permuted]
    widths = [len(c) for c in classes]
    current = np.zeros((n, sum(widths)), dtype=compact.dtype)
    start = 0
    for row, cls, width in zip(permuted, classes, widths):
        rows = np.flatnonzero(row >= 0)
        current[rows, start + np.searchsorted(cls, row[rows])] = 1.0
        start += width
    static = current * current.dtype.type(1.0 - alpha)
    change = np.array([float(np.count_nonzero(row >= 0)) for row in permuted])  # |F_0 - 0|, summed
    runs = list(range(n_runs))  # the runs still spreading, their columns side by side in that order
    threads = max(1, min(COMPACT_THREADS, os.cpu_count() or 1, len(compact.blocks)))
    with ThreadPoolExecutor(threads) if threads > 1 else nullcontext() as executor:
        results, n_iter = _iterate_compact(compact, current, static, change, runs, widths, alpha, max_iter, tol,
                                           executor)
    distributions = np.zeros((n_runs, n, n_classes))
    for r in range(n_runs):
        # back in the pool's order (np.take: a third of fancy indexing's time)
        if len(classes[r]) == n_classes and results[r].dtype == distributions.dtype:
            np.take(results[r], compact.rank, axis=0, out=distributions[r], mode="clip")  # unbuffered; all in range
        else:
            distributions[r][:, classes[r]] = np.take(results[r], compact.rank, axis=0)
    normalizer = distributions.sum(axis=2, keepdims=True)
    normalizer[normalizer == 0] = 1.0
    distributions /= normalizer
    return distributions, n_iter


def _iterate_compact(compact, current, static, change, runs, widths, alpha, max_iter, tol, executor):
    """The steps of :func:`_spread_compact`: each run's last iterate (compact order) and iterations."""
    n_runs = len(runs)
    results: list = [None] * n_runs
    n_iter = np.zeros(n_runs, dtype=np.int64)
    spare = np.empty_like(current)  # the next iterate's buffer: two buffers take turns (no fresh pages a step)
    for t in range(max_iter + 1):
        offsets = np.cumsum([0] + [widths[r] for r in runs])
        stopped = [i for i, r in enumerate(runs) if t == max_iter or change[r] < tol]
        going = [r for i, r in enumerate(runs) if i not in stopped]
        for i in stopped:  # a copy only while the buffer is still to be written over
            results[runs[i]] = current[:, offsets[i]:offsets[i + 1]] if not going else \
                current[:, offsets[i]:offsets[i + 1]].copy()
            n_iter[runs[i]] = t
        if stopped:
            runs = going
            if not runs:
                break
            keep = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in range(len(offsets) - 1)
                                   if i not in stopped])
            current, static = np.ascontiguousarray(current[:, keep]), np.ascontiguousarray(static[:, keep])
            spare = np.empty_like(current)
            offsets = np.cumsum([0] + [widths[r] for r in runs])
        updated, column_change = _compact_step(compact, current, static, alpha, executor, out=spare)
        current, spare = updated, current
        for i, r in enumerate(runs):
            change[r] = column_change[offsets[i]:offsets[i + 1]].sum()
    return results, n_iter


def _compact_step(compact: CompactGraph, current: np.ndarray, static: np.ndarray, alpha: float,
                  executor=None, out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One update ``alpha S current + static`` (into ``out``) and each column's summed absolute change."""
    out = np.empty_like(current) if out is None else out
    alpha_t = current.dtype.type(alpha)

    def block_step(block_rows):
        lo, hi, block = block_rows
        part = out[lo:hi]
        part[...] = block @ current
        part *= alpha_t
        part += static[lo:hi]
        moved = part - current[lo:hi]
        np.abs(moved, out=moved)
        return np.einsum("ij->j", moved)  # column sums; a third of sum(axis=0)'s time on ten columns

    sums = list(map(block_step, compact.blocks) if executor is None else executor.map(block_step, compact.blocks))
    return out, np.sum(sums, axis=0)


def _one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((len(labels), n_classes))
    rows = np.flatnonzero(labels >= 0)
    out[rows, labels[rows]] = 1.0
    return out


def _old_iterate(old, t: int, matrix, alpha: float) -> np.ndarray:
    """Iterate t of a run's previous labels, extending the stored history when needed."""
    history, y_old = old
    while len(history) <= t:
        history.append(alpha * np.asarray(matrix @ history[-1]) + (1.0 - alpha) * y_old)
    return history[t].copy()


def _product(matrix, current: np.ndarray, blocks: list, first: bool = False) -> np.ndarray:
    """S @ current, each run's columns (``blocks``) to the same bits as if it were spread alone.

    A sparse graph's product sums each column on its own. A dense graph's is taken per run at
    the first step (the labels' own rows of S) and below :data:`PER_RUN_PRODUCTS_BELOW` points;
    above, in one product of at least two columns.
    """
    if sp.issparse(matrix):
        return np.asarray(matrix @ current)
    if first or matrix.shape[0] < PER_RUN_PRODUCTS_BELOW:
        product = np.empty_like(current)
        for block in blocks:
            part = np.ascontiguousarray(current[:, block])
            product[:, block] = _sparse_rows_product(matrix, part) if first else matrix @ part
        return product
    if current.shape[1] == 1:  # a matrix-vector product rounds otherwise: a zero column beside it
        return np.ascontiguousarray((matrix @ np.hstack([current, np.zeros_like(current)]))[:, :1])
    return matrix @ current


def _sparse_rows_product(matrix: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Dense S @ start when start is non-zero on few rows (the labels themselves)."""
    rows = np.flatnonzero(start.any(axis=1))
    if len(rows) > matrix.shape[0] // 4:
        return np.asarray(matrix @ start)
    return matrix[:, rows] @ start[rows]


def predict_new(
    graph: SpreadingGraph, distributions: np.ndarray, new_features: np.ndarray, key: str | None = None,
) -> np.ndarray:
    """Inductive class probabilities for unseen points, as ``LabelSpreading.predict_proba``.

    Parameters
    ----------
    distributions : ndarray, shape (n, n_classes) for the graph's points
    new_features : ndarray, shape (m, d)
    key : str, optional
        knn only: a name for this query set (e.g. ``"test"``) under which the graph keeps
        its neighbour lists, so later calls skip hashing ``new_features``. The caller
        promises that one name always means the same features for this graph. Without it,
        the lists are kept under a content digest of ``new_features``.

    Returns
    -------
    ndarray, shape (m, n_classes)
    """
    from sklearn.metrics.pairwise import rbf_kernel

    if graph.kernel == "knn":
        neighbours = _query_neighbours(graph, new_features, key)
        probabilities = distributions[neighbours].sum(axis=1)
    else:
        probabilities = np.empty((len(new_features), distributions.shape[1]))
        for lo in range(0, len(new_features), 4096):
            weights = rbf_kernel(new_features[lo:lo + 4096], graph.features, gamma=graph.gamma)
            probabilities[lo:lo + 4096] = weights @ distributions
    normalizer = probabilities.sum(axis=1, keepdims=True)
    normalizer[normalizer == 0] = 1.0
    return probabilities / normalizer


def _query_neighbours(graph: SpreadingGraph, new_features: np.ndarray, key: str | None) -> np.ndarray:
    """The graph's k nearest pool points of each query point, (m, k) int64, read-only.

    The neighbours of a fixed query set never change: they are looked up once per graph
    (and, for graphs kept on disk, once per cache folder). The search runs outside the
    lock, so two sessions may both search the first time; both get the same lists.
    """
    new_features = np.asarray(new_features)
    if key is None:
        # SHA-256 here (hardware-accelerated on most CPUs, about 3x blake2b): paid on every call.
        content = hashlib.sha256(np.ascontiguousarray(new_features).view(np.uint8)).hexdigest()
        memory_key = ("sha256", new_features.shape, new_features.dtype.str, content)
    else:
        memory_key = ("name", key, new_features.shape)
    with graph._lock:
        neighbours = graph.neighbour_cache.get(memory_key)
    if neighbours is not None:
        return neighbours
    path = None
    if graph.disk_cache_name:
        path = _neighbour_path(new_features, graph.n_neighbors, f"query-{graph.disk_cache_name}")
        neighbours = _load_neighbours(path, len(new_features), graph.n_neighbors, graph.n)
    if neighbours is None:
        neighbours = graph.searcher().kneighbors(new_features, graph.n_neighbors,
                                                 return_distance=False).astype(np.int64)
        if path is not None:
            diskcache.save_array(path, neighbours)
        neighbours.flags.writeable = False
    with graph._lock:
        return graph.neighbour_cache.setdefault(memory_key, neighbours)
