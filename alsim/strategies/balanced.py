"""Class-balanced batches: any strategy's ranking, taken round-robin over the predicted classes.

A strategy ranks the candidates by its score; on a long-tailed pool its top ``k`` often all
fall in the head classes. :func:`class_balanced_batch` instead takes the best-ranked
candidate of each predicted class in turn, the class with fewest candidates first, so a
rare predicted class gets picked in every batch that has room for it.
"""

from __future__ import annotations

import numpy as np

from alsim.strategies.base import select

__all__ = ["class_balanced_batch"]


def class_balanced_batch(scores: np.ndarray | None, predicted: np.ndarray, candidates: np.ndarray, k: int,
                         rng: np.random.Generator) -> np.ndarray:
    """``k`` candidates filled round-robin over their predicted classes, best score first within each.

    Parameters
    ----------
    scores : ndarray (n_pool,) or None
        The strategy's per-point score (higher = wanted first); None: no score, the order
        within a class is random.
    predicted : ndarray (n_pool,) of int, the model's class for every pool point
    candidates : ndarray of int, the pool ids that may be chosen
    k : int
    rng : numpy.random.Generator, breaks ties (as :func:`alsim.strategies.base.select`)

    Returns
    -------
    ndarray of int, ``min(k, len(candidates))`` distinct ids in the order picked: pass 0 takes
    the best of every predicted class (fewest candidates first, then by class id), pass 1 the
    second best of each, and so on; a class that runs out is skipped.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    k = min(int(k), len(candidates))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    ranking = np.zeros(int(candidates.max()) + 1) if scores is None else np.asarray(scores, dtype=np.float64)
    ranked = select(ranking, candidates, len(candidates), rng)  # every candidate, best first
    classes = np.asarray(predicted)[ranked].astype(np.int64)
    counts = np.bincount(classes)
    # position of each class in the round: fewest candidates first (stable: then by class id)
    order = np.argsort(counts, kind="stable")
    slot = np.empty(len(counts), dtype=np.int64)
    slot[order] = np.arange(len(counts))
    # the rank of each candidate within its class (0 = its class's best)
    by_class = np.argsort(classes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    within = np.empty(len(ranked), dtype=np.int64)
    within[by_class] = np.arange(len(ranked)) - np.repeat(starts, counts)
    picks = np.lexsort((slot[classes], within))[:k]
    return ranked[picks]
