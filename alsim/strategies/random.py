"""Random sampling: the reference every strategy must beat."""

from __future__ import annotations

import numpy as np

from alsim.strategies.base import Query, QueryContext, register


@register("random", "uniformly at random among the candidates (the reference)")
def random_sampling(context: QueryContext) -> Query:
    """``k`` candidates drawn without replacement by the run's generator; no score is used."""
    candidates = np.asarray(context.candidates, dtype=np.int64)
    k = min(int(context.k), len(candidates))
    ids = context.rng.choice(candidates, size=k, replace=False) if k else np.zeros(0, dtype=np.int64)
    return Query(ids, None, "")
