"""Query strategies behind one contract and one registry.

- :mod:`.base`: :class:`QueryContext` (what a strategy sees), :class:`Query` (what it
  returns: ids and the scores it used), :func:`register`, :func:`strategy_names`.
- :mod:`.uncertainty`: entropy, margin, least confident.
- :mod:`.random`: random sampling.
- :mod:`.diversity`: core-set, TypiClust, ProbCover (and the cold-start picks ``typical``, ``kcenter``).
- :mod:`.badge`, :mod:`.density`, :mod:`.committee` (``qbc``), :mod:`.cluster_margin`.

Adding a strategy is one module with a function decorated by :func:`register`, imported
here; pages and the CLI list it from :func:`strategy_names`.

Layer 3: may import :mod:`alsim.learn`, :mod:`alsim.data` and the foundations.
"""

from __future__ import annotations

import numpy as np

# isort: off
# Registration order is the order pages list them: uncertainty measures, random, then the rest.
from alsim.strategies import uncertainty as _uncertainty  # noqa: F401  (registers the uncertainty measures)
from alsim.strategies import random as _random  # noqa: F401  (registers "random")
from alsim.strategies import diversity as _diversity  # noqa: F401  (coreset, typiclust, probcover)
from alsim.strategies import badge as _badge  # noqa: F401
from alsim.strategies import density as _density  # noqa: F401
from alsim.strategies import committee as _committee  # noqa: F401  (qbc)
from alsim.strategies import cluster_margin as _cluster_margin  # noqa: F401
# isort: on
from alsim.strategies.base import (
    NONE,
    PSEUDO,
    REVEALED,
    UNLABELED,
    Query,
    QueryContext,
    StrategyInfo,
    get_strategy,
    register,
    run_strategy,
    select,
    strategy_names,
)
from alsim.strategies.uncertainty import UNCERTAINTY_MEASURES, uncertainty_scores

__all__ = [
    "NONE", "PSEUDO", "REVEALED", "UNLABELED", "Query", "QueryContext", "StrategyInfo", "UNCERTAINTY_MEASURES", "get_strategy", "query", "register",
    "run_strategy", "select", "strategy_names", "uncertainty_scores",
]


def query(proba: np.ndarray, candidates: np.ndarray, k: int, strategy: str,
          rng: np.random.Generator) -> np.ndarray:
    """Pick ``k`` candidates with a registered strategy from probabilities alone (no features)."""
    context = QueryContext(proba=np.asarray(proba), features=np.zeros((len(proba), 0)),
                           status=np.zeros(len(proba), dtype=np.int8), candidates=np.asarray(candidates),
                           k=int(k), rng=rng)
    return run_strategy(strategy, context).ids
