"""Diversity and typicality in feature space: core-set, TypiClust, ProbCover.

These strategies look only at the pool's features and at which points are revealed; they
ignore the model's probabilities. They are meant for small budgets, where uncertainty
sampling is known to do worse than random (Hacohen et al. 2022).

References
----------
- Sener and Savarese (2018), "Active Learning for Convolutional Neural Networks: A Core-Set
  Approach", ICLR: k-center greedy (:func:`k_center_greedy`).
- Hacohen, Dekel and Weinshall (2022), "Active Learning on a Budget: Opposite Strategies Suit
  High and Low Budgets", ICML: TypiClust (:func:`typiclust_select`).
- Yehuda, Dekel, Hacohen and Weinshall (2022), "Active Learning Through a Covering Lens",
  NeurIPS: ProbCover (:func:`choose_delta`, :func:`delta_ball_graph`, :func:`probcover_select`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:  # annotations only: SciPy is loaded when ProbCover runs, not to list the strategies
    import scipy.sparse as sp

from alsim.common.errors import ConfigError, GraphTooLarge
from alsim.common.values import check_integer, check_open_unit_interval, check_positive
from alsim.strategies.base import Query, QueryContext, register
from alsim.strategies.common import (
    argmax_random,
    block_rows,
    cached,
    distances_to,
    kmeans_fit,
    kmeans_grow,
    kmeans_labels,
    min_distances,
    nearest_distances,
    on_candidate_sample,
    params_of,
    pool_key,
    pool_norms,
    row_norms,
    seed_from,
    squared_distances,
)
from alsim.strategies.params import Params, register_params

# --------------------------------------------------------------------------- core-set


#: Candidates refreshed together in one step of the lazy k-center greedy.
REFRESH_ROWS = 64
#: Pools of at most this many values (points x features) get the plain greedy, which
#: updates every point's distance after each pick (see :func:`k_center_greedy`).
FULL_UPDATE_VALUES = 2**18


MAX_NEIGHBOURS = 1000
MAX_CLUSTERS = 100_000
MAX_PROBCOVER_SAMPLE = 50_000  # its delta-ball graph: 2.5e9 distances


@dataclass(frozen=True)
class TypiClustParams(Params):
    """TypiClust (and the ``typical`` cold start): typicality over ``neighbors`` nearest neighbours,
    at most ``max_clusters`` k-means clusters."""

    neighbors: int = 20
    max_clusters: int = 500
    legacy: ClassVar[dict[str, str]] = {"typiclust_neighbors": "neighbors", "max_clusters": "max_clusters"}

    def validate(self) -> None:
        check_integer("typiclust_neighbors", self.neighbors, 1, MAX_NEIGHBOURS)
        check_integer("max_clusters", self.max_clusters, 2, MAX_CLUSTERS)


@dataclass(frozen=True)
class ProbCoverParams(Params):
    """ProbCover: the ball radius ``delta`` (None: the largest whose balls are pure for at least
    ``purity`` of the points); on pools over ``sample`` points (0 = never), a uniform sample."""

    delta: float | None = None
    purity: float = 0.95
    sample: int = 5000
    legacy: ClassVar[dict[str, str]] = {"probcover_delta": "delta", "probcover_purity": "purity",
                                        "probcover_sample": "sample"}

    def validate(self) -> None:
        if self.delta is not None:
            check_positive("probcover_delta", self.delta)
        check_open_unit_interval("probcover_purity", self.purity)
        check_integer("probcover_sample", self.sample, 0, MAX_PROBCOVER_SAMPLE)
        if 0 < self.sample < 100:
            raise ConfigError(f"probcover_sample must be 0 (every point) or at least 100, got {self.sample}")


register_params("typiclust", TypiClustParams)
register_params("probcover", ProbCoverParams)

def k_center_greedy(features: np.ndarray, centres: np.ndarray, candidates: np.ndarray, k: int,
                    rng: np.random.Generator, norms: np.ndarray | None = None,
                    nearest: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-center: repeatedly pick the candidate farthest from every centre chosen so far.

    Parameters
    ----------
    features : ndarray (n, d)
    centres : ndarray of int
        Points that already cover the space (the revealed points).
    candidates : ndarray of int
        Points that may be picked.
    k : int
    rng : numpy.random.Generator
        Breaks ties (among the tied candidates in pool order); with no centres at all the
        first pick is drawn at random.
    norms : ndarray (n,), optional
        Every point's squared norm (:func:`~alsim.strategies.common.row_norms`), if known.
    nearest : ndarray (n,), optional
        Small pools only: every point's distance to its nearest centre,
        ``nearest_distances(features, norms, centres)``, if known (core-set keeps it between
        rounds, :func:`distance_to_revealed`).

    Returns
    -------
    ids : ndarray of int, shape (min(k, len(candidates)),), in the order picked
    distance : ndarray (len(candidates),)
        Each candidate's distance to its nearest centre before the first pick (``inf`` when
        there is no centre), candidates in pool order.

    Notes
    -----
    Sener and Savarese's Algorithm 1. Pools of at most :data:`FULL_UPDATE_VALUES` values
    update every point's distance after each pick, one matrix-vector product per centre
    and pick (:func:`~alsim.strategies.common.distances_to`). Larger pools use a lazy
    greedy, exact: a candidate's distance to the nearest centre or pick only shrinks, so a
    value computed before the latest picks is an upper bound. Each step refreshes only the
    candidates whose bound reaches the current maximum (against the picks made since their
    last refresh, a few rows at a time) until every candidate at the maximum is up to date;
    the maximum is then the true farthest distance and ties are broken by ``rng`` among all
    candidates at it, exactly as a full update of every distance after each pick would.
    No ``n x n`` matrix is formed.
    """
    ids, distance, _ = _k_center_greedy(features, centres, candidates, k, rng, norms, nearest)
    return ids, distance


def _small_pool(features: np.ndarray) -> bool:
    return features.shape[0] * features.shape[1] <= FULL_UPDATE_VALUES


def _k_center_greedy(features, centres, candidates, k, rng, norms, nearest):
    """:func:`k_center_greedy`, plus (small pools) every point's distance to the centres and the picks."""
    candidates = np.asarray(candidates, dtype=np.int64)
    if (candidates[1:] < candidates[:-1]).any():
        candidates = np.sort(candidates)
    k = min(int(k), len(candidates))
    chosen = np.zeros(k, dtype=np.int64)
    if _small_pool(features):
        norms = row_norms(features) if norms is None else norms
        nearest = nearest_distances(features, norms, centres) if nearest is None else np.array(nearest, np.float64)
        distance = nearest[candidates]
        current = np.full(len(features), -np.inf)  # the candidates still open
        current[candidates] = distance
        for i in range(k):
            pick = argmax_random(current, rng)  # all inf (no centres): a random first pick
            chosen[i] = pick
            to_pick = distances_to(features, norms, pick)
            np.minimum(nearest, to_pick, out=nearest)
            np.minimum(current, to_pick, out=current)
            current[pick] = -np.inf  # never picked twice, even if duplicates sit at distance 0
        return chosen, distance, nearest
    distance = min_distances(features, candidates, centres, norms)
    current = distance.copy()
    fresh = np.zeros(len(candidates), dtype=np.int64)  # picks each bound has been compared with
    x = features[candidates]
    for i in range(k):
        while i:  # refresh the stale bounds at the top until the maximum is exact
            top = current.max()
            stale = np.flatnonzero((current >= top) & (fresh < i))
            if not len(stale):
                break
            if len(current) > REFRESH_ROWS:  # and the next highest bounds with them, in one product
                high = np.argpartition(current, len(current) - REFRESH_ROWS)[-REFRESH_ROWS:]
                stale = np.union1d(stale, high[fresh[high] < i])
            since = int(fresh[stale].min())
            picks = chosen[since:i]
            squared = squared_distances(x[stale], features[picks])
            # A pick a row was already compared with gives the same value again: min is unchanged.
            current[stale] = np.minimum(current[stale], np.sqrt(squared.min(axis=1)))
            fresh[stale] = i
        pick = argmax_random(current, rng)  # all inf (no centres): a random first pick
        chosen[i] = candidates[pick]
        current[pick] = -np.inf  # never picked twice, even if duplicates sit at distance 0
    return chosen, distance, None


def distance_to_revealed(context: QueryContext, norms: np.ndarray) -> np.ndarray:
    """Every pool point's distance to its nearest revealed point (``inf`` when none is), shape (n,).

    Small pools (:data:`FULL_UPDATE_VALUES`); ``norms``: the pool's squared norms. The run's
    ``params["strategy_state"]["coreset"]`` holds which points' distances it has folded in
    (the revealed points and the last round's picks) and every pool point's distance to
    the nearest of them. Revealed points only accumulate and the picks are revealed next,
    so a round compares the pool only with points revealed since (on digits-compare: none,
    where computing it afresh compares 1,797 points with up to 140). Distances are gathered
    one centre at a time (:func:`~alsim.strategies.common.distances_to`), so they equal to
    the last bit those computed from every revealed point, in any order; with no state, or
    one holding a point that is not revealed now (an unanswered pick), they are computed
    from all.
    """
    revealed = np.asarray(context.revealed, dtype=bool)
    state = context.params.get("strategy_state")
    kept = None if state is None else state.get("coreset")
    if kept is not None and len(kept.folded) == len(revealed) and not (kept.folded & ~revealed).any():
        return nearest_distances(context.features, norms, np.flatnonzero(revealed & ~kept.folded), start=kept.nearest)
    return nearest_distances(context.features, norms, np.flatnonzero(revealed))


@dataclass(frozen=True)
class CoresetState:
    """What core-set keeps between rounds of a run (small pools).

    ``folded``: (n,) bool, the points whose distances are folded into ``nearest`` (the
    revealed points and the last picks); ``nearest``: (n,) every point's distance to the
    nearest of them; ``norms``: (n,) the pool's squared norms.
    """

    folded: np.ndarray
    nearest: np.ndarray
    norms: np.ndarray


@dataclass(frozen=True)
class TypiClustState:
    """TypiClust's last clustering in a run: ``centres`` (c, d) and every point's ``labels`` (n,)."""

    centres: np.ndarray
    labels: np.ndarray


@register("coreset", "k-center greedy: farthest from every revealed point (Sener and Savarese 2018)",
          needs_features=True)
def coreset(context: QueryContext) -> Query:
    """Core-set selection (Sener and Savarese 2018) by k-center greedy on the pool's features.

    Scores: each point's distance to its nearest revealed point (0 for revealed points).
    On small pools the distances are carried from round to round
    (:func:`distance_to_revealed`), with the pool's norms. Above
    :data:`~alsim.strategies.common.CANDIDATE_SAMPLE` candidates it picks among a seeded
    sample of them (:func:`~alsim.strategies.common.on_candidate_sample`).
    """
    sampled = on_candidate_sample(context, coreset)
    if sampled is not None:
        return sampled
    candidates = np.sort(np.asarray(context.candidates, dtype=np.int64))
    revealed = np.asarray(context.revealed, dtype=bool)
    state = context.params.get("strategy_state")
    kept = None if state is None else state.get("coreset")
    norms = kept.norms if kept is not None and len(kept.norms) == len(revealed) else pool_norms(context)
    if _small_pool(context.features):
        nearest = distance_to_revealed(context, norms)
        ids, distance, after = _k_center_greedy(context.features, None, candidates, context.k, context.rng, norms,
                                                nearest)
        if state is not None:
            held = revealed.copy()
            held[ids] = True
            state["coreset"] = CoresetState(held, after, norms)
    else:
        ids, distance, _ = _k_center_greedy(context.features, np.flatnonzero(revealed), candidates, context.k,
                                            context.rng, norms, None)
    scores = np.zeros(len(context.features))
    scores[candidates] = np.minimum(distance, np.finfo(np.float32).max)  # inf (nothing revealed): the largest
    return Query(ids, scores, "distance to the revealed set")


# --------------------------------------------------------------------------- TypiClust


def typicality(features: np.ndarray, members: np.ndarray, n_neighbors: int) -> np.ndarray:
    """Typicality of each member of a cluster: the inverse mean distance to its nearest neighbours.

    Hacohen et al. (2022), eq. 2: ``1 / mean_{x' in kNN(x)} ||x - x'||`` with the neighbours
    taken within the cluster; ``n_neighbors`` is capped at the cluster size - 1, and a
    one-point cluster has typicality 1 (as scikit-activeml's ``TypiClust``).

    Returns
    -------
    ndarray (len(members),)
    """
    members = np.asarray(members, dtype=np.int64)
    if len(members) == 1:
        return np.ones(1)
    k = min(len(members) - 1, int(n_neighbors))
    x = features[members]
    norms = np.einsum("ij,ij->i", x, x)
    out = np.empty(len(members))
    step = block_rows(len(members))
    for lo in range(0, len(members), step):
        block = squared_distances(x[lo:lo + step], x, norms)
        block[np.arange(len(block)), np.arange(lo, lo + len(block))] = 0.0  # self, exactly
        nearest = np.sqrt(np.partition(block, k, axis=1)[:, :k + 1])
        # The k + 1 smallest include the point itself at distance 0; 1e-7 guards duplicates.
        out[lo:lo + step] = k / (nearest.sum(axis=1) + 1e-7)
    return out


def typiclust_select(features: np.ndarray, cluster_labels: np.ndarray, revealed: np.ndarray, candidates: np.ndarray,
                     k: int, n_neighbors: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """TypiClust's choice given a clustering: the most typical candidate of the largest uncovered clusters.

    Clusters are visited by fewest revealed points first (uncovered clusters, then the
    least covered), then largest first, ties at random; each visit picks the candidate of
    highest typicality in that cluster, and the cluster counts as covered once more.

    Parameters
    ----------
    features : ndarray (n, d)
    cluster_labels : ndarray (n,) of int
    revealed : ndarray (n,) bool
    candidates : ndarray of int
    k : int
    n_neighbors : int
        Neighbours of the typicality (the paper: 20; scikit-activeml's default: 5).
    rng : numpy.random.Generator

    Returns
    -------
    ids : ndarray of int, in the order picked
    scores : ndarray (n,)
        Typicality of the members of every visited cluster, 0 elsewhere.
    """
    cluster_labels = np.asarray(cluster_labels, dtype=np.int64)
    n_clusters = int(cluster_labels.max()) + 1
    sizes = np.bincount(cluster_labels, minlength=n_clusters)
    covered = np.bincount(cluster_labels[revealed], minlength=n_clusters)
    is_candidate = np.zeros(len(cluster_labels), dtype=bool)
    is_candidate[np.asarray(candidates, dtype=np.int64)] = True
    open_candidates = np.bincount(cluster_labels[is_candidate], minlength=n_clusters)
    scores = np.zeros(len(cluster_labels))
    chosen = []
    k = min(int(k), int(is_candidate.sum()))
    while len(chosen) < k:
        eligible = np.flatnonzero(open_candidates > 0)
        fewest = eligible[covered[eligible] == covered[eligible].min()]
        largest = fewest[sizes[fewest] == sizes[fewest].max()]
        cluster = int(largest[0] if len(largest) == 1 else rng.choice(largest))
        members = np.flatnonzero(cluster_labels == cluster)
        typical = typicality(features, members, n_neighbors)
        scores[members] = typical
        usable = is_candidate[members]
        pick = int(members[usable][argmax_random(typical[usable], rng)])
        chosen.append(pick)
        is_candidate[pick] = False
        open_candidates[cluster] -= 1
        covered[cluster] += 1
    return np.asarray(chosen, dtype=np.int64), scores


@register("typiclust", "most typical point of the largest uncovered k-means clusters (Hacohen et al. 2022)",
          needs_features=True)
def typiclust(context: QueryContext) -> Query:
    """TypiClust (Hacohen et al. 2022): k-means into |L| + k clusters (at most ``max_clusters``).

    ``KMeans`` for up to 50 clusters, ``MiniBatchKMeans`` beyond, as in the paper's code,
    except on pools of at most 4,096 points, which always get ``KMeans``
    (:func:`~alsim.strategies.common.kmeans_labels`); the k-means seed is drawn from the
    run's generator, so every seed of a comparison has its own clustering.

    Within a run each round's k-means is warm-started: it starts from the run's previous
    clustering (kept in ``params["strategy_state"]``) plus k new centres seeded k-means++
    style (:func:`~alsim.strategies.common.kmeans_grow`), instead of a fresh k-means++
    seeding and a full run of iterations (most of the ~20 ms a digits query took). A
    clustering changes little when k clusters are added, so it converges in a few
    iterations. Without that state (the first round, a context made by hand, the Label
    page, which refits from the stored labels) the k-means starts from k-means++. Either way
    the result is a function of the config and the run's history, never of a cache.

    A call with ``k = 0`` (scores only) visits no cluster and clusters nothing. Above
    :data:`~alsim.strategies.common.CANDIDATE_SAMPLE` candidates it clusters a seeded sample
    of them with the revealed points (:func:`~alsim.strategies.common.on_candidate_sample`).
    """
    sampled = on_candidate_sample(context, typiclust)
    if sampled is not None:
        return sampled
    n = len(context.features)
    k = min(int(context.k), len(context.candidates))
    if k == 0:
        return Query(np.zeros(0, dtype=np.int64), np.zeros(n), "typicality")
    n_revealed = int(np.count_nonzero(context.revealed))
    n_clusters = min(n_revealed + k, params_of(context, "typiclust").max_clusters, n)
    seed = seed_from(context.rng)
    state = context.params.get("strategy_state")
    kept = None if state is None else state.get("typiclust")
    if (kept is not None and len(kept.labels) == n and kept.centres.shape[1] == context.features.shape[1]
            and len(kept.centres) <= n_clusters):
        centres, labels = kmeans_grow(context.features, kept.centres, kept.labels, n_clusters, seed)
    else:
        centres, labels = kmeans_fit(context.features, n_clusters, seed)
    if state is not None:
        state["typiclust"] = TypiClustState(centres, labels)
    ids, scores = typiclust_select(context.features, labels, context.revealed, context.candidates, k,
                                   params_of(context, "typiclust").neighbors, context.rng)
    return Query(ids, scores, "typicality")


# --------------------------------------------------------------------------- ProbCover

PURITY_SAMPLE = 2000  # points whose nearest other-cluster distance estimates the purity


def other_cluster_distances(features: np.ndarray, cluster_labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each of ``rows``, the distance to the nearest point of another cluster (blocks of rows)."""
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty(len(rows))
    norms = np.einsum("ij,ij->i", features, features)
    step = block_rows(len(features))
    for lo in range(0, len(rows), step):
        block_ids = rows[lo:lo + step]
        block = squared_distances(features[block_ids], features, norms)
        block[cluster_labels[block_ids][:, None] == cluster_labels[None, :]] = np.inf
        out[lo:lo + step] = np.sqrt(block.min(axis=1))
    return out


def purity(nearest_other: np.ndarray, delta: float) -> float:
    """Share of points whose delta-ball holds only points of their own cluster (Yehuda et al. 2022)."""
    return float((np.asarray(nearest_other) > delta).mean())


def choose_delta(nearest_other: np.ndarray, alpha: float = 0.95, deltas: np.ndarray | None = None) -> float:
    """The largest ball radius whose purity is at least ``alpha`` (the paper's heuristic).

    A point's ball is pure when its nearest point of another cluster lies farther than
    delta, so purity falls as delta grows. With a grid ``deltas`` (sorted ascending), the
    grid is walked until the purity drops below ``alpha`` (the paper's and
    scikit-activeml's rule: the first grid value, even if impure, when none is pure).
    Without a grid the exact supremum is returned: just below the distance at which the
    ``ceil(alpha n)``-th purest point would turn impure.
    """
    d = np.sort(np.asarray(nearest_other, dtype=float))
    if deltas is not None:
        deltas = np.sort(np.asarray(deltas, dtype=float))
        best = float(deltas[0])
        for delta in deltas:
            if purity(d, delta) < alpha:
                break
            best = float(delta)
        return best
    must_stay_pure = int(np.ceil(alpha * len(d) - 1e-9))
    edge = d[len(d) - must_stay_pure]  # this point must keep d > delta
    return float(np.nextafter(edge, -np.inf))


def delta_ball_graph(features: np.ndarray, delta: float, max_edges: int = 200_000_000) -> sp.csr_matrix:
    """Boolean CSR matrix with ``(i, j)`` set when ``||x_i - x_j|| <= delta`` (self-loops included).

    Built by a radius search over blocks of rows, never an ``n x n`` dense matrix. Refused
    with :class:`GraphTooLarge` (naming the radius) beyond ``max_edges`` edges (about 1.6 GB).
    """
    n = len(features)
    norms = np.einsum("ij,ij->i", features, features)
    limit = delta * delta
    indptr = np.zeros(n + 1, dtype=np.int64)
    pieces = []
    total = 0
    step = block_rows(n)
    for lo in range(0, n, step):
        block = squared_distances(features[lo:lo + step], features, norms)
        hits = block <= limit
        hits[np.arange(len(block)), np.arange(lo, lo + len(block))] = True  # round-off never drops self
        rows, cols = np.nonzero(hits)
        total += len(cols)
        if total > max_edges:
            raise GraphTooLarge(f"the delta-ball graph with delta={delta:.4g} has more than {max_edges} edges; "
                              "set probcover_delta smaller")
        indptr[lo + 1:lo + len(block) + 1] = np.cumsum(np.bincount(rows, minlength=len(block)))
        indptr[lo + 1:lo + len(block) + 1] += indptr[lo]
        pieces.append(cols.astype(np.int32))
    indices = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    import scipy.sparse as sp  # SciPy is loaded when ProbCover runs, not to list the strategies

    return sp.csr_matrix((np.ones(len(indices), dtype=bool), indices, indptr), shape=(n, n))


def probcover_select(graph: sp.csr_matrix, revealed: np.ndarray, candidates: np.ndarray, k: int,
                     rng: np.random.Generator, covered: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ProbCover's greedy max coverage: the candidate whose ball holds the most uncovered points.

    A point is covered once it lies in the ball of a revealed or picked point; after each
    pick the out-degrees of the points whose balls held the newly covered points drop.
    ``covered`` marks nodes already covered by points outside the graph (a sampled pool).

    Returns
    -------
    ids : ndarray of int, in the order picked
    degree : ndarray (n,)
        Uncovered points in each candidate's ball before the first pick (0 for non-candidates).
    """
    n = graph.shape[0]
    candidates = np.asarray(candidates, dtype=np.int64)
    k = min(int(k), len(candidates))
    covered = np.zeros(n, dtype=bool) if covered is None else np.asarray(covered, dtype=bool).copy()
    revealed_ids = np.flatnonzero(revealed)
    if len(revealed_ids):
        covered[csr_row_indices(graph, revealed_ids)] = True
    # The graph is symmetric: the balls that hold point u are the ball of u.
    uncovered = (~covered).astype(np.int64)
    if (np.diff(graph.indptr) > 0).all():  # every ball holds its centre: no empty row for reduceat
        degree = np.add.reduceat(uncovered[graph.indices], graph.indptr[:-1])
    else:
        degree = np.asarray(graph.astype(np.int64) @ uncovered, dtype=np.int64)
    start = np.zeros(n)
    start[candidates] = degree[candidates]
    is_candidate = np.zeros(n, dtype=bool)
    is_candidate[candidates] = True
    chosen = []
    for _ in range(k):
        open_ids = np.flatnonzero(is_candidate)
        pick = int(open_ids[argmax_random(degree[open_ids], rng)])
        chosen.append(pick)
        is_candidate[pick] = False
        ball = graph.indices[graph.indptr[pick]:graph.indptr[pick + 1]]
        newly = ball[~covered[ball]]
        covered[newly] = True
        if len(newly):
            degree -= np.bincount(csr_row_indices(graph, newly), minlength=n)
    return np.asarray(chosen, dtype=np.int64), start


def csr_row_indices(graph: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """The column indices of ``rows`` of a CSR matrix, concatenated (``graph[rows].indices`` without a new matrix).

    Row slicing builds and checks a new sparse matrix (about 70 us); ProbCover needs only
    the indices, a few times per pick.
    """
    rows = np.asarray(rows, dtype=np.int64)
    starts = graph.indptr[rows]
    lengths = graph.indptr[rows + 1] - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=graph.indices.dtype)
    shift = starts - np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return graph.indices[np.arange(total) + np.repeat(shift, lengths)]


def probcover_delta(features: np.ndarray, n_classes: int, alpha: float, seed: int = 0) -> float:
    """The purity heuristic's delta: k-means into ``n_classes`` clusters, purity over a sample.

    Purity is the mean of a per-point indicator, so it is estimated on at most
    :data:`PURITY_SAMPLE` points (exact below that; standard error about 0.005 at 0.95).
    """
    labels = kmeans_labels(features, n_classes, seed)
    rng = np.random.default_rng(seed)
    rows = np.arange(len(features))
    if len(rows) > PURITY_SAMPLE:
        rows = np.sort(rng.choice(len(rows), PURITY_SAMPLE, replace=False))
    return choose_delta(other_cluster_distances(features, labels, rows), alpha)


def probcover_sample(n: int, size: int) -> np.ndarray:
    """The pool points ProbCover works on: all of them, or ``size`` drawn once per pool (seed 0)."""
    if not size or n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, int(size), replace=False))


@register("probcover", "max coverage of delta-balls around the revealed points (Yehuda et al. 2022)",
          needs_features=True)
def probcover(context: QueryContext) -> Query:
    """ProbCover (Yehuda et al. 2022) on the pool's features.

    delta is ``probcover_delta`` when set, else the purity heuristic with
    ``alpha = probcover_purity`` (k-means into as many clusters as classes, fixed seed 0, so
    one pool has one delta). Delta and the graph are built once per pool and kept in the
    shared caches (``values``, ``graphs``).

    Pools larger than ``probcover_sample`` points: the delta-ball graph of n points costs
    O(n^2 d) (about 10^12 operations for Fashion-MNIST's 60,000 HOG vectors), so delta, the
    graph and the greedy coverage use a uniform sample of that many pool points, drawn
    once per pool; the revealed points outside the sample still cover the sample points
    within delta of them, and the picks are sampled candidates (topped up at random from
    the other candidates if too few remain). Scores are 0 outside the sample.
    """
    key = pool_key(context)
    n = len(context.features)
    size = params_of(context, "probcover").sample
    sample = probcover_sample(n, size)
    features = context.features if len(sample) == n else context.features[sample]
    if key is not None and len(sample) < n:
        key = key + ("probcover-sample", len(sample))
    delta = params_of(context, "probcover").delta
    if delta is None:
        alpha = params_of(context, "probcover").purity
        n_classes = max(2, context.proba.shape[1])
        delta = cached(None if key is None else key + ("probcover-delta", alpha, n_classes),
                       lambda: probcover_delta(features, n_classes, alpha))
    delta = float(delta)
    graph = cached(None if key is None else key + ("probcover-graph", delta),
                   lambda: delta_ball_graph(features, delta), cache="graphs")
    in_sample = np.zeros(n, dtype=bool)
    in_sample[sample] = True
    outside = np.flatnonzero(context.revealed & ~in_sample)  # none when every point is in the sample
    covered = min_distances(context.features, sample, outside) <= delta
    position = np.full(n, -1, dtype=np.int64)
    position[sample] = np.arange(len(sample))
    local = position[context.candidates[in_sample[context.candidates]]]
    k = min(int(context.k), len(context.candidates))
    picked, degree = probcover_select(graph, context.revealed[sample], local, k, context.rng, covered=covered)
    ids = sample[picked]
    if len(ids) < k:  # the sample's candidates ran out
        rest = np.setdiff1d(context.candidates, ids)
        ids = np.concatenate([ids, context.rng.choice(rest, k - len(ids), replace=False)])
    scores = np.zeros(n)
    scores[sample] = degree
    return Query(ids, scores, "uncovered points in the ball")


# --------------------------------------------------------------------------- cold start


def typical_start(features: np.ndarray, eligible: np.ndarray, k: int, seed: int, n_neighbors: int = 20,
                  max_clusters: int = 500) -> np.ndarray:
    """TypiClust's first batch with no labels: the most typical point of the k largest clusters."""
    rng = np.random.default_rng([seed, 2])
    labels = kmeans_labels(features, min(int(k), max_clusters), seed_from(rng))
    ids, _ = typiclust_select(features, labels, np.zeros(len(features), dtype=bool), eligible, k, n_neighbors, rng)
    return np.sort(ids)


def kcenter_start(features: np.ndarray, eligible: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-center greedy from nothing: a random first point, then always the farthest."""
    ids, _ = k_center_greedy(features, np.zeros(0, dtype=np.int64), eligible, k, np.random.default_rng([seed, 2]))
    return np.sort(ids)
