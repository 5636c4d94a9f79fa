"""Query by committee: a bootstrap committee of the run's own model, and how much it disagrees.

References: Seung, Opper and Sompolinsky (1992), "Query by committee", COLT; Abe and
Mamitsuka (1998), "Query Learning Strategies Using Boosting and Bagging", ICML (bagged
committees); Dagan and Engelson (1995) (vote entropy); McCallum and Nigam (1998) (mean
Kullback-Leibler divergence to the consensus).

Each member is the run's model fitted on a bootstrap sample (drawn with replacement by the
run's generator) of the current training labels; ``linear_svc_newton`` members are
warm-started from the run's current weights. For label spreading, a member spreads
the distinct points of its sample over the run's graph (``context.model``); all members are
spread together, one matrix product per iteration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from alsim.common.values import check_choice, check_integer
from alsim.strategies.base import Query, QueryContext, register, select
from alsim.strategies.common import params_of
from alsim.strategies.params import Params, register_params

COMMITTEE_MEASURES = ("vote_entropy", "kl")


COMMITTEE_MEASURES = ("vote_entropy", "kl")
MAX_COMMITTEE = 100  # every member is a full model fit


@dataclass(frozen=True)
class QBCParams(Params):
    """Query by committee: ``size`` bootstrap members, disagreement by ``measure``."""

    size: int = 5
    measure: str = "vote_entropy"
    legacy: ClassVar[dict[str, str]] = {"committee_size": "size", "committee_measure": "measure"}

    def validate(self) -> None:
        check_choice("committee_measure", self.measure, COMMITTEE_MEASURES)
        check_integer("committee_size", self.size, 2, MAX_COMMITTEE)


register_params("qbc", QBCParams)

def vote_entropy(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """Entropy (nats) of the members' votes per point.

    Parameters
    ----------
    votes : ndarray (n, n_members) of int, each member's predicted class
    n_classes : int

    Returns
    -------
    ndarray (n,): ``-sum_c v_c log v_c`` with ``v_c`` the share of members voting ``c``.
    """
    from scipy.special import entr

    votes = np.asarray(votes, dtype=np.int64)
    n, members = votes.shape
    cells = (np.arange(n)[:, None] * n_classes + votes).ravel()
    counts = np.bincount(cells, minlength=n * n_classes).reshape(n, n_classes)
    return entr(counts / members).sum(axis=1)


def mean_kl_divergence(probas: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Mean over members of ``KL(p_member || p_consensus)`` per point.

    Probabilities are clipped at ``eps`` and renormalised first, as scikit-activeml's
    ``average_kl_divergence`` does, so a zero never meets a logarithm.

    Parameters
    ----------
    probas : ndarray (n_members, n, n_classes)

    Returns
    -------
    ndarray (n,)
    """
    from scipy.special import rel_entr

    p = np.clip(np.asarray(probas, dtype=np.float64), eps, 1.0)
    p /= p.sum(axis=2, keepdims=True)
    consensus = p.mean(axis=0)
    return rel_entr(p, consensus[None]).sum(axis=2).mean(axis=0)


def committee_probas(context: QueryContext, n_members: int) -> np.ndarray:
    """Pool probabilities of ``n_members`` bootstrap members, shape (n_members, n, n_classes).

    Needs ``context.params["config"]`` (the model and its settings) and
    ``context.params["train_labels"]`` (-1 = not in the training set).
    """
    config = context.params.get("config")
    train = np.asarray(context.params.get("train_labels"))
    if config is None or train.ndim != 1:
        raise ValueError("qbc needs params['config'] and params['train_labels'] (the loop passes both)")
    n, n_classes = context.proba.shape
    rows = np.flatnonzero(train >= 0)
    samples = [rows[context.rng.integers(0, len(rows), len(rows))] for _ in range(n_members)]
    # lazy: the models (scikit-learn, SciPy) are loaded when a committee fits, not to list the strategies
    from alsim.learn.graph import spread
    from alsim.learn.models import fit_supervised  # lazy: as above

    if config.model == "label_spreading":
        if context.model is None:
            raise ValueError("qbc with label spreading needs the graph in context.model")
        labels = np.full((n_members, n), -1, dtype=np.int64)
        for m, sample in enumerate(samples):
            labels[m, sample] = train[sample]
        dists, _ = spread(context.model, labels, n_classes, config.alpha, config.max_iter, config.tol)
        return dists

    # Newton members start from the run's own weights (``params["model_state"]``, read, never
    # written): a bootstrap sample's optimum lies near the full sample's, so each member
    # converges in a few steps to the same optimum a cold start reaches.
    start = context.params.get("model_state") or {}
    out = np.empty((n_members, n, n_classes))
    for m, sample in enumerate(samples):
        out[m] = fit_supervised(config.model, config.C, config.seed + m, context.features[sample], train[sample],
                                [context.features], n_classes, state=dict(start))[0]
    return out


def _votes(probas: np.ndarray) -> np.ndarray:
    """(n, n_members) predicted classes; a member with no mass on a row votes class 0."""
    return probas.argmax(axis=2).T


@register("qbc", "disagreement of a bootstrap committee of the run's model (vote entropy or mean KL)")
def query_by_committee(context: QueryContext) -> Query:
    """Query by committee: ``committee_size`` bootstrap members, ``committee_measure`` disagreement."""
    n_members = params_of(context, "qbc").size
    measure = params_of(context, "qbc").measure
    if measure not in COMMITTEE_MEASURES:
        raise ValueError(f"committee_measure must be one of {COMMITTEE_MEASURES}, got {measure!r}")
    probas = committee_probas(context, n_members)
    if measure == "vote_entropy":
        scores = vote_entropy(_votes(probas), context.proba.shape[1])
    else:
        scores = mean_kl_divergence(probas)
    return Query(select(scores, context.candidates, context.k, context.rng), scores, measure.replace("_", " "))
