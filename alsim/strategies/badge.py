"""BADGE: k-means++ seeding on gradient embeddings (Ash et al. 2020).

Reference: Ash, Zhang, Krishnamurthy, Langford and Agarwal (2020), "Deep Batch Active
Learning by Diverse, Uncertain Gradient Lower Bounds", ICLR.

The gradient embedding of a point is the gradient of the cross-entropy loss with respect
to a linear last layer, taking the model's own prediction as the label:
``g(x) = (p(x) - onehot(argmax p(x))) ⊗ x``, of dimension ``n_classes * d``. With
features ``x`` and probabilities ``p`` that is exact for a linear softmax model on ``x``
(``logistic_regression``). What ``p`` is for the other models:

- ``linear_svc`` / ``linear_svc_newton``: the one-vs-rest sigmoids normalised to sum 1
  (:func:`alsim.learn.models.ovr_sigmoid_proba`); per class, ``(sigmoid_c - [c = pred]) x`` is the
  exact gradient of that class's logistic loss, up to the normalisation of the row.
- ``label_spreading``: the spread label distributions, with the pool features standing in
  for the last layer (the embedding a linear softmax on those features would have).

The embedding is never formed: ``||g_i - g_j||^2 = |a_i|^2 |x_i|^2 + |a_j|^2 |x_j|^2 -
2 (a_i . a_j)(x_i . x_j)`` with ``a = p - onehot``, so each k-means++ step costs
O(n (n_classes + d)) and no ``n x (n_classes d)`` array is allocated; the ``x_i . x_j``
products are taken in float32 (half the memory traffic of each step).
"""

from __future__ import annotations

import numpy as np

from alsim.strategies.base import Query, QueryContext, register
from alsim.strategies.common import cached, on_candidate_sample, pool_key, pool_norms


def badge_select(proba: np.ndarray, features: np.ndarray, candidates: np.ndarray, k: int,
                 rng: np.random.Generator, norms: np.ndarray | None = None,
                 features32: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """k-means++ seeding on the gradient embeddings of the candidates.

    The first centre is the candidate with the largest gradient norm (as BADGE's and
    scikit-activeml's code); each next one is drawn with probability proportional to its
    squared distance to the nearest centre chosen so far (uniformly among the others when
    every distance is zero).

    Parameters
    ----------
    proba : ndarray (n, n_classes)
    features : ndarray (n, d)
    candidates : ndarray of int
    k : int
    rng : numpy.random.Generator
    norms, features32 : ndarray (n,), ndarray (n, d), optional
        Every row's squared norm and the features in float32, if already known (per pool).

    Returns
    -------
    ids : ndarray of int, in the order picked
    norms : ndarray (len(candidates),), the gradient-embedding norm of each candidate
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    k = min(int(k), len(candidates))
    p = np.asarray(proba, dtype=np.float64)[candidates]
    a = p.copy()
    a[np.arange(len(a)), p.argmax(axis=1)] -= 1.0
    a_sq = np.einsum("ij,ij->i", a, a)
    if norms is None:
        x = np.asarray(features, dtype=np.float64)[candidates]
        x_sq = np.einsum("ij,ij->i", x, x)
    else:
        x_sq = np.asarray(norms)[candidates]
    # Each step reads all of x once (a matrix-vector product bound by memory bandwidth):
    # float32 halves it. The products x_i . x_j are exact for integer pixels (digits) and
    # within float32 rounding otherwise; norms stay float64.
    x = (np.asarray(features, dtype=np.float32) if features32 is None else features32)[candidates]
    g_sq = a_sq * x_sq
    chosen = np.zeros(k, dtype=np.int64)
    d2 = np.full(len(candidates), np.inf)
    for i in range(k):
        if i == 0:
            pick = int(np.argmax(g_sq))
        else:
            weights = np.where(np.isfinite(d2), d2, 0.0)
            weights[chosen[:i]] = 0.0
            total = weights.sum()
            if total <= 0:
                weights = np.ones(len(candidates))
                weights[chosen[:i]] = 0.0
                total = weights.sum()
            pick = int(rng.choice(len(candidates), p=weights / total))
        chosen[i] = pick
        d_new = g_sq + g_sq[pick] - 2.0 * (a @ a[pick]) * (x @ x[pick]).astype(np.float64)
        np.minimum(d2, np.maximum(d_new, 0.0), out=d2)
    return candidates[chosen], np.sqrt(g_sq)


@register("badge", "k-means++ on gradient embeddings: uncertain and diverse (Ash et al. 2020)", needs_features=True)
def badge(context: QueryContext) -> Query:
    """BADGE (Ash et al. 2020); scores: the gradient-embedding norm (0 for non-candidates).

    The pool's squared norms and float32 features are made once per pool, the float32 copy
    in the shared ``prepared`` cache next to the pool itself (on Fashion-MNIST it is 74 MiB,
    more than the whole ``values`` cache holds). Above
    :data:`~alsim.strategies.common.CANDIDATE_SAMPLE` candidates it seeds among a seeded
    sample of them (:func:`~alsim.strategies.common.on_candidate_sample`).
    """
    sampled = on_candidate_sample(context, badge)
    if sampled is not None:
        return sampled
    key = pool_key(context)
    features32 = cached(None if key is None else key + ("float32",),
                        lambda: np.asarray(context.features, dtype=np.float32), cache="prepared")
    ids, norms = badge_select(context.proba, context.features, context.candidates, context.k, context.rng,
                              norms=pool_norms(context), features32=features32)
    scores = np.zeros(len(context.proba))
    scores[context.candidates] = norms
    return Query(ids, scores, "gradient embedding norm")
