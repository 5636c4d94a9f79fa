"""Cluster-Margin: the lowest-margin points, spread round-robin over clusters.

Reference: Citovsky, DeSalvo, Gentile, Karydas, Rajagopalan, Rostamizadeh and Kumar (2021),
"Batch Active Learning at Scale", NeurIPS, Algorithm 1.

The pool is clustered once (the paper: hierarchical agglomerative clustering with average
linkage; here k-means into ``cluster_margin_clusters`` clusters, default ``round(sqrt(n))``,
because agglomerative clustering of 60,000 points needs an n x n matrix). Each round takes
the ``margin_candidates * k`` candidates of smallest margin, groups them by cluster, sorts
the groups by size (smallest first) and takes one random point from each group in turn
until ``k`` are chosen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from alsim.common.values import check_integer
from alsim.strategies.base import Query, QueryContext, register, select
from alsim.strategies.common import cached, kmeans_labels, params_of, pool_key
from alsim.strategies.params import Params, register_params
from alsim.strategies.uncertainty import uncertainty_scores

MAX_CANDIDATES = 1000  # lowest-margin candidates per label of the batch
MAX_CLUSTERS = 100_000


@dataclass(frozen=True)
class ClusterMarginParams(Params):
    """Cluster-Margin: ``candidates * batch_size`` lowest-margin points, round-robin over
    ``clusters`` k-means clusters of the pool (0 = round(sqrt(n)))."""

    candidates: int = 10
    clusters: int = 0
    legacy: ClassVar[dict[str, str]] = {"margin_candidates": "candidates", "cluster_margin_clusters": "clusters"}

    def validate(self) -> None:
        check_integer("margin_candidates", self.candidates, 1, MAX_CANDIDATES)
        check_integer("cluster_margin_clusters", self.clusters, 0, MAX_CLUSTERS)


register_params("cluster_margin", ClusterMarginParams)


@dataclass(frozen=True)
class ClusterMarginState:
    """The pool's clustering as a run keeps it: the cluster count asked for and every point's label (n,)."""

    n_clusters: int
    labels: np.ndarray

def round_robin(candidate_ids: np.ndarray, cluster_labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Citovsky et al.'s sampling: clusters smallest first, one random member of each per pass.

    Parameters
    ----------
    candidate_ids : ndarray of int, the margin candidates
    cluster_labels : ndarray (n,) of int, every pool point's cluster
    k : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int, ``min(k, len(candidate_ids))`` distinct ids in the order picked.

    Notes
    -----
    The candidates are shuffled once by ``rng``; a cluster hands out its members from the
    last in that order back. When at least ``k`` clusters hold candidates, one pass picks
    them all, computed with array operations (the last member of each of the ``k``
    smallest); otherwise the passes go round in Python.
    """
    shuffled = rng.permutation(np.asarray(candidate_ids, dtype=np.int64))
    k = min(int(k), len(shuffled))
    labels = np.asarray(cluster_labels)[shuffled]
    sizes = np.bincount(labels)
    order = np.argsort(sizes, kind="stable")  # by size, then by id
    order = order[sizes[order] > 0]
    if len(order) >= k:  # one pass is enough: the last member (in shuffled order) of the k smallest
        last = np.full(len(sizes), -1)
        np.maximum.at(last, labels, np.arange(len(labels)))
        return shuffled[last[order[:k]]]
    groups: dict[int, list] = {}
    for i, cluster in zip(shuffled.tolist(), labels.tolist()):
        groups.setdefault(cluster, []).append(i)
    chosen: list[int] = []
    while len(chosen) < k:
        for cluster in order.tolist():
            if groups[cluster] and len(chosen) < k:
                chosen.append(groups[cluster].pop())
    return np.asarray(chosen, dtype=np.int64)


def pool_clusters(features: np.ndarray, n_clusters: int) -> np.ndarray:
    """The pool's clusters (k-means, fixed seed 0: one clustering per pool, as the paper's once-only HAC)."""
    return kmeans_labels(features, n_clusters, 0)


@register("cluster_margin", "smallest-margin candidates spread round-robin over clusters (Citovsky et al. 2021)",
          needs_features=True)
def cluster_margin(context: QueryContext) -> Query:
    """Cluster-Margin (Citovsky et al. 2021); scores: the margin uncertainty ``1 - (p1 - p2)``.

    The clustering is made once per pool (shared ``values`` cache); a run also keeps it in
    ``params["strategy_state"]``, which spares the cache lookup in later rounds.
    """
    n = len(context.features)
    n_clusters = params_of(context, "cluster_margin").clusters or max(2, round(math.sqrt(n)))
    state = context.params.get("strategy_state")
    kept = None if state is None else state.get("cluster_margin")
    if kept is not None and kept.n_clusters == n_clusters and len(kept.labels) == n:
        labels = kept.labels
    else:
        key = pool_key(context)
        labels = cached(None if key is None else key + ("cluster-margin", n_clusters),
                        lambda: pool_clusters(context.features, n_clusters))
        if state is not None:
            state["cluster_margin"] = ClusterMarginState(n_clusters, labels)
    scores = uncertainty_scores(context.proba, "margin")
    n_margin = params_of(context, "cluster_margin").candidates * int(context.k)
    candidates = select(scores, context.candidates, n_margin, context.rng)
    return Query(round_robin(candidates, labels, context.k, context.rng), scores, "margin")
