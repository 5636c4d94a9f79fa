"""Query strategies: pure uncertainty scores, and a seeded top-k selection."""

from __future__ import annotations

import numpy as np
from scipy.special import entr

UNCERTAINTY_MEASURES = ("entropy", "margin", "least_confident")


def uncertainty_scores(proba: np.ndarray, method: str = "entropy") -> np.ndarray:
    """Uncertainty of each row of class probabilities; higher means less sure.

    Parameters
    ----------
    proba : ndarray, shape (n, n_classes)
        Rows sum to 1, or are all zero (no information reached the point).
    method : {'entropy', 'margin', 'least_confident'}
        ``entropy``: Shannon entropy in nats, the row sum of ``scipy.special.entr``
        (rows are already normalised, so this equals ``scipy.stats.entropy`` per row);
        ``margin``: 1 - (p_top1 - p_top2); ``least_confident``: 1 - p_top1.

    Returns
    -------
    ndarray, shape (n,)
        An all-zero row gets the largest possible score of its measure.
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(f"proba must be 2-D (n, n_classes), got shape {proba.shape}")
    n, n_classes = proba.shape
    empty = proba.sum(axis=1) <= 0
    if method == "entropy":
        scores = np.where(empty, np.log(n_classes), entr(proba).sum(axis=1))
    elif method == "margin":
        if n_classes < 2:
            return np.zeros(n)
        top2 = -np.partition(-proba, 1, axis=1)[:, :2]
        scores = 1.0 - (top2[:, 0] - top2[:, 1])
    elif method == "least_confident":
        scores = 1.0 - proba.max(axis=1, initial=0.0)
    else:
        raise ValueError(f"method must be one of {UNCERTAINTY_MEASURES}, got {method!r}")
    return scores


def select(scores: np.ndarray, candidates: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """The ``k`` candidates with the highest scores; ties broken at random by ``rng``.

    Parameters
    ----------
    scores : ndarray, shape (n,)
        Scores of all points; only ``candidates`` are eligible.
    candidates : ndarray of int
        Indices of the points that may be chosen (the unlabeled pool).
    k : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int, shape (min(k, len(candidates)),), highest score first.
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    k = min(int(k), len(candidates))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    tie_break = rng.random(len(candidates))
    order = np.lexsort((tie_break, -np.asarray(scores)[candidates]))
    return candidates[order[:k]]


def query(proba: np.ndarray, candidates: np.ndarray, k: int, strategy: str,
          rng: np.random.Generator) -> np.ndarray:
    """Pick ``k`` points to reveal with a named strategy (``random`` ignores ``proba``)."""
    if strategy == "none":
        return np.zeros(0, dtype=np.int64)
    if strategy == "random":
        candidates = np.asarray(candidates, dtype=np.int64)
        k = min(int(k), len(candidates))
        return rng.choice(candidates, size=k, replace=False) if k else np.zeros(0, dtype=np.int64)
    return select(uncertainty_scores(proba, strategy), candidates, k, rng)
