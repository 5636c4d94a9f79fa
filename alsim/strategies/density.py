"""Information density: uncertainty weighted by how representative a point is.

Reference: Settles and Craven (2008), "An Analysis of Active Learning Strategies for
Sequence Labeling Tasks", EMNLP, eq. (8): ``phi(x) * (1/U sum_u sim(x, u))^beta`` with
cosine similarity over the pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from alsim.common.errors import ConfigError
from alsim.common.values import check_number
from alsim.strategies.base import Query, QueryContext, register, select
from alsim.strategies.common import cached, params_of, pool_key
from alsim.strategies.params import Params, register_params
from alsim.strategies.uncertainty import uncertainty_scores

MAX_BETA = 100.0


@dataclass(frozen=True)
class DensityParams(Params):
    """Information density: entropy x (mean similarity) ** ``beta``."""

    beta: float = 1.0
    legacy: ClassVar[dict[str, str]] = {"density_beta": "beta"}

    def validate(self) -> None:
        check_number("density_beta", self.beta)
        if not 0.0 <= self.beta <= MAX_BETA:
            raise ConfigError(f"density_beta must be in [0, {MAX_BETA:g}], got {self.beta!r}")


register_params("density", DensityParams)

def mean_cosine_similarity(features: np.ndarray) -> np.ndarray:
    """Mean cosine similarity of each row to every row of ``features`` (itself included), in O(n d).

    ``mean_u cos(x, u) = x_hat . mean_u(u_hat)`` with ``x_hat`` the unit-length rows, so the
    n x n similarity matrix is never formed. An all-zero row has similarity 0 to everything.
    """
    x = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1)
    unit = np.divide(x, norms[:, None], out=np.zeros_like(x), where=norms[:, None] > 0)
    return unit @ unit.mean(axis=0)


def information_density(proba: np.ndarray, features: np.ndarray, beta: float = 1.0,
                        measure: str = "entropy", similarity: np.ndarray | None = None) -> np.ndarray:
    """``uncertainty * max(0, mean cosine similarity) ** beta`` per point, shape (n,).

    ``similarity``: the pool's :func:`mean_cosine_similarity`, if already known.
    """
    if similarity is None:
        similarity = mean_cosine_similarity(features)
    weight = np.clip(similarity, 0.0, None) ** float(beta)
    return uncertainty_scores(proba, measure) * weight


@register("density", "entropy times mean cosine similarity to the pool (Settles and Craven 2008)",
          needs_features=True)
def density(context: QueryContext) -> Query:
    """Information density with entropy as the uncertainty and ``beta = density_beta``.

    The mean similarity depends on the pool alone: it is computed once per pool and kept
    in the shared ``values`` cache (unit-normalising the features each query cost more
    than the rest of the query).
    """
    key = pool_key(context)
    similarity = cached(None if key is None else key + ("mean-cosine-similarity",),
                        lambda: mean_cosine_similarity(context.features))
    scores = information_density(context.proba, context.features, params_of(context, "density").beta,
                                 similarity=similarity)
    return Query(select(scores, context.candidates, context.k, context.rng), scores, "information density")
