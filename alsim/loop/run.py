"""The labeling loop: ``run_loop(config)`` yields one frozen :class:`Round` per model fit.

A round is four steps:

1. **fit** the model on the revealed labels (plus pseudo-labels); label-spreading arms on
   one pool share a graph and one matrix product per iteration (:func:`_fit_arms`);
2. **evaluate** against the truth, only where the truth is known (:func:`_evaluate`);
3. **propose** a batch with a registered strategy (:meth:`_Arm.propose`), ask the
   **oracle**, and **apply** its labels (:meth:`_Arm.apply`);
4. **self-train**: points above this round's confidence threshold get the model's
   prediction as a pseudo-label, or, in ``oracle`` mode, their true label
   (:meth:`_Arm.auto_label`).

The pieces live beside this module: :mod:`alsim.loop.pool` (data, features, graph),
:mod:`alsim.strategies` (the strategy contract and registry), :mod:`alsim.loop.oracles` (who
answers), :mod:`alsim.loop.records` (the :class:`Round` record).
"""

from __future__ import annotations

import time
from typing import Callable, Iterator, Sequence

import numpy as np

from alsim.learn.graph import predict_new, spread
from alsim.learn.label_issues import check_labels
from alsim.learn.metrics import Metrics, evaluate
from alsim.loop.annotators import labeling_costs, simulated_oracle
from alsim.loop.config import Config
from alsim.loop.oracles import Oracle, ask
from alsim.loop.pool import (
    Prepared,
    check_feasible,
    data_key,
    graph_for,
    graph_key,
    initial_labels,
    kernel_key,
    prepare,
)
from alsim.loop.records import STOP_REASONS, Flags, Round
from alsim.strategies import (
    NONE,
    PSEUDO,
    REVEALED,
    UNCERTAINTY_MEASURES,
    UNLABELED,
    Query,
    QueryContext,
    run_strategy,
    uncertainty_scores,
)
from alsim.strategies.balanced import class_balanced_batch

__all__ = [
    "PSEUDO", "REVEALED", "STOP_REASONS", "UNLABELED", "Prepared", "Round", "check_feasible", "data_key",
    "first_k_baseline", "graph_for", "graph_key", "initial_labels", "predict_labels", "prepare", "run_arms",
    "run_loop",
]

Progress = Callable[[float, str], None]


class _Arm:
    """Mutable state of one run while the loop advances."""

    def __init__(self, config: Config, prepared: Prepared, oracle: Oracle):
        self.config = config
        self.prepared = prepared
        self.oracle = oracle
        n = len(prepared.labels)
        self.status = np.zeros(n, dtype=np.int8)
        self.train = np.full(n, -1, dtype=np.int64)
        self.annotations = np.zeros(n, dtype=np.int64)  # annotations each revealed label took
        self.answerable = np.asarray(oracle.answerable(n), dtype=bool)
        self.costs = labeling_costs(config, prepared)  # of one annotation of each image
        first = initial_labels(config, np.where(self.answerable, prepared.labels, -1)
                               if oracle.truth is not None else prepared.labels, prepared.n_classes)
        self.reveal(first)
        self.rng = np.random.default_rng([config.seed, 1])
        self.schedule = config.threshold_schedule()
        self.index = 0
        self.done = False
        self.spread_state = None  # label-spreading iterates, reused when labels only grow
        self.model_state: dict = {}  # e.g. the previous round's weights, for a warm start
        # What a strategy keeps between rounds of this run (e.g. core-set's distances to the
        # revealed points, TypiClust's last clustering): see QueryContext.params.
        self.strategy_state: dict = {}
        self.model = None  # the graph (label spreading), for strategies that need it

    @property
    def candidates(self) -> np.ndarray:
        """Unlabeled pool points the oracle can be asked about."""
        return np.flatnonzero((self.status == UNLABELED) & self.answerable)

    def propose(self, proba: np.ndarray, k: int, predicted: np.ndarray | None = None,
                uncertainty: tuple[str, np.ndarray] | None = None) -> Query:
        """The strategy's batch of ``k`` candidates and the scores it ranked by (``k=0``: scores only).

        With ``class_balanced`` the batch is refilled round-robin over the ``predicted``
        classes of the candidates, in the order of the strategy's scores
        (:func:`alsim.strategies.balanced.class_balanced_batch`). ``uncertainty``: (measure,
        scores) already computed from ``proba``, which an uncertainty strategy of that measure
        uses instead of computing them again.
        """
        params = {"config": self.config, "pool_key": self.prepared.key, "train_labels": self.train,
                  "model_state": self.model_state, "strategy_state": self.strategy_state}
        if uncertainty is not None:
            params["uncertainty"] = uncertainty
        context = QueryContext(proba=proba, features=self.prepared.features, status=self.status,
                               candidates=self.candidates, k=k, rng=self.rng, model=self.model, params=params)
        query = run_strategy(self.config.strategy, context)
        if self.config.class_balanced and k > 0 and predicted is not None:
            ids = class_balanced_batch(query.scores, predicted, self.candidates, k, self.rng)
            query = Query(ids, query.scores, query.score_name)
        return query

    def reveal(self, ids: np.ndarray) -> np.ndarray:
        """Ask the oracle about ``ids`` and apply its answer; returns the revealed ids."""
        labels, spent = ask(self.oracle, ids)
        return self.apply(ids, labels, spent)

    def apply(self, ids: np.ndarray, labels: np.ndarray, annotations: np.ndarray | None = None) -> np.ndarray:
        """Reveal the oracle's labels; ids it could not label stay unlabeled. Returns the revealed ids.

        ``annotations``: what each label took (default: one each).
        """
        ids, labels = np.asarray(ids, dtype=np.int64), np.asarray(labels, dtype=np.int64)
        given = labels >= 0
        self.status[ids[given]] = REVEALED
        self.train[ids[given]] = labels[given]
        self.annotations[ids[given]] = 1 if annotations is None else np.asarray(annotations)[given]
        return ids[given]

    def auto_label(self, proba: np.ndarray, predicted: np.ndarray, threshold: float) -> np.ndarray:
        """Move unlabeled points above ``threshold`` into the training set; returns the moved ids.

        ``pseudo``: they get the model's prediction (a pseudo-label, never a revealed label).
        ``oracle``: they get the oracle's label, as experiment B's published code did; those
        are revealed labels and count against the budget.
        """
        remaining = np.flatnonzero(self.status == UNLABELED)
        movers = remaining[proba[remaining].max(axis=1) > threshold]
        if self.config.self_training == "pseudo":
            self.status[movers] = PSEUDO
            self.train[movers] = predicted[movers]
            return movers
        return self.reveal(movers)


def _fit_arms(arms: Sequence[_Arm], progress: Progress | None) -> list[tuple]:
    """(pool proba, test proba or None, n_iter) per arm; label spreading batched per graph."""

    results: list = [None] * len(arms)
    groups: dict = {}
    for i, arm in enumerate(arms):
        c = arm.config
        if c.model == "label_spreading":
            key = arm.prepared.key + kernel_key(c) + (c.alpha, c.max_iter, c.tol)
            groups.setdefault(key, []).append(i)
        else:
            from alsim.learn.models import fit_supervised  # lazy: scikit-learn, only for a supervised model

            prep = arm.prepared
            rows = np.flatnonzero(arm.train >= 0)
            want_test = c.evaluation in ("test", "both")
            pool_p, test_p = fit_supervised(c.model, c.C, c.seed, prep.features[rows], arm.train[rows],
                                            [prep.features, prep.test_features if want_test else None],
                                            prep.n_classes, state=arm.model_state)
            results[i] = (pool_p, test_p, None)
    for members in groups.values():
        c, prep = arms[members[0]].config, arms[members[0]].prepared
        graph = graph_for(c, prep, progress)
        labels = np.stack([arms[i].train for i in members])
        states = [arms[i].spread_state for i in members]
        dists, n_iter = spread(graph, labels, prep.n_classes, c.alpha, c.max_iter, c.tol, states=states)
        for j, i in enumerate(members):
            arms[i].spread_state = states[j]
            arms[i].model = graph
            test_p = None
            if arms[i].config.evaluation in ("test", "both"):
                test_p = predict_new(graph, dists[j], prep.test_features, key="test")
            results[i] = (dists[j], test_p, int(n_iter[j]))
    return results


def predict_labels(proba: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Argmax labels; a row with no mass gets the smallest labeled class (scikit-learn's rule)."""
    predicted = proba.argmax(axis=1)
    empty = proba.sum(axis=1) <= 0
    if empty.any():
        predicted[empty] = train[train >= 0].min()
    return predicted


def _evaluate(arm: _Arm, predicted: np.ndarray, proba_test: np.ndarray | None
              ) -> tuple[Metrics | None, Metrics | None, int]:
    """Pool and test metrics where the truth is known; and how many pool points had none."""
    c, prep = arm.config, arm.prepared
    truth = arm.oracle.truth
    pool_metrics = test_metrics = None
    unknown = 0
    if c.evaluation in ("pool", "both") and truth is not None:
        unrevealed = arm.status != REVEALED
        scored = unrevealed & (truth >= 0)
        unknown = int(np.count_nonzero(unrevealed & (truth < 0)))
        pool_metrics = evaluate(truth[scored], predicted[scored], prep.n_classes)
    if c.evaluation in ("test", "both") and prep.test_labels is not None:
        test_metrics = evaluate(prep.test_labels, predict_labels(proba_test, arm.train), prep.n_classes)
    return pool_metrics, test_metrics, unknown


def _precision(arm: _Arm, ids: np.ndarray, given: np.ndarray) -> float | None:
    """Share of ``given`` labels of ``ids`` that equal the truth, over ids whose truth is known."""
    truth = arm.oracle.truth
    if truth is None or len(ids) == 0:
        return None
    known = truth[ids] >= 0
    return float((given[known] == truth[ids][known]).mean()) if known.any() else None


def _flags(arm: _Arm, revealed: np.ndarray) -> Flags:
    """The revealed labels confident learning flags, scored against the truth where it is known."""
    given = arm.train[revealed]
    check = check_labels(arm.prepared.features[revealed], given, seed=arm.config.seed)
    truth = arm.oracle.truth
    if truth is None:
        return Flags(len(check.flagged), check.n_checked, None, None, check.note)
    wrong = (truth[revealed] >= 0) & (given != truth[revealed])
    return Flags(len(check.flagged), check.n_checked, int(wrong.sum()), int(wrong[check.flagged].sum()), check.note)


def _stop_reason(arm: _Arm) -> str | None:
    c = arm.config
    if arm.index >= c.n_rounds - 1:
        return "rounds_done"
    if len(arm.candidates) == 0:
        return "pool_exhausted"
    if c.strategy == NONE and arm.index >= len(arm.schedule):
        return "schedule_done"
    return None


def _step(arm: _Arm, proba_pool: np.ndarray, proba_test: np.ndarray | None, n_iter: int | None,
          started: float) -> Round:
    c = arm.config
    predicted = predict_labels(proba_pool, arm.train)
    measure = c.strategy if c.strategy in UNCERTAINTY_MEASURES else "entropy"
    uncertainty = uncertainty_scores(proba_pool, measure)
    pool_metrics, test_metrics, n_unknown = _evaluate(arm, predicted, proba_test)
    pseudo = np.flatnonzero(arm.status == PSEUDO)
    pseudo_precision = _precision(arm, pseudo, arm.train[pseudo])
    status_at_fit = arm.status.copy()
    revealed = np.flatnonzero(arm.status == REVEALED)
    revealed_precision = _precision(arm, revealed, arm.train[revealed])
    flags = _flags(arm, revealed) if c.flag_label_errors else None

    queried = np.zeros(0, dtype=np.int64)
    threshold, auto_added, auto_precision = None, 0, None
    stop = _stop_reason(arm)
    # The stopping round still asks the strategy for its scores (k=0), so every round's
    # gallery ranks by the score the strategy uses.
    proposal = arm.propose(proba_pool, 0 if stop else c.batch_size, predicted, (measure, uncertainty))
    if stop is None:
        queried = proposal.ids
        arm.reveal(queried)
        if arm.index < len(arm.schedule):
            threshold = arm.schedule[arm.index]
            movers = arm.auto_label(proba_pool, predicted, threshold)
            auto_added = int(len(movers))
            auto_precision = _precision(arm, movers, predicted[movers])
    record = Round(
        index=arm.index, n_labeled=len(revealed), n_pseudo=int(len(pseudo)), pseudo_precision=pseudo_precision,
        pool=pool_metrics, test=test_metrics,
        queried=queried, threshold=threshold, auto_added=auto_added, auto_precision=auto_precision,
        status=status_at_fit, predicted=predicted.astype(np.int16), uncertainty=uncertainty.astype(np.float32),
        uncertainty_measure=measure, n_iter=n_iter, seconds=time.perf_counter() - started, stop_reason=stop,
        scores=None if proposal.scores is None else np.asarray(proposal.scores, dtype=np.float32),
        score_name=proposal.score_name, n_unknown_truth=n_unknown,
        n_annotations=int(arm.annotations[revealed].sum()), revealed_precision=revealed_precision,
        flags=flags, metric=c.metric, cost_spent=float((arm.annotations[revealed] * arm.costs[revealed]).sum()),
    )
    arm.index += 1
    arm.done = stop is not None
    return record


def run_arms(configs: Sequence[Config], progress: Progress | None = None,
             oracles: Sequence[Oracle] | None = None) -> Iterator[tuple[int, Round]]:
    """Run several configs in lockstep, yielding ``(arm index, Round)`` as rounds finish.

    Arms that use label spreading on the same pool share one graph and are spread in one
    matrix product per round; every arm's results equal a run of its own.

    Parameters
    ----------
    oracles : one per config, optional
        Who answers the queries; default: the simulation's oracle, which reveals the truth,
        or, with ``oracle_noise`` or ``annotators`` set, simulated annotators' majority vote
        (:func:`alsim.loop.annotators.simulated_oracle`).
    """
    arms = []
    for i, config in enumerate(configs):
        prepared = prepare(config)
        check_feasible(config, prepared)
        oracle = oracles[i] if oracles is not None else simulated_oracle(config, prepared)
        arms.append(_Arm(config, prepared, oracle))
    while True:
        live = [i for i, arm in enumerate(arms) if not arm.done]
        if not live:
            return
        started = time.perf_counter()
        fitted = _fit_arms([arms[i] for i in live], progress)
        for i, (pool_p, test_p, n_iter) in zip(live, fitted):
            yield i, _step(arms[i], pool_p, test_p, n_iter, started)


def run_loop(config: Config, progress: Progress | None = None, oracle: Oracle | None = None) -> Iterator[Round]:
    """Run one labeling loop, yielding a :class:`Round` after every fit.

    The last record carries ``stop_reason``: ``rounds_done`` (n_rounds fits),
    ``pool_exhausted`` (no unlabeled point left) or ``schedule_done`` (no strategy and no
    threshold left, so nothing could change).
    """
    for _, record in run_arms([config], progress, None if oracle is None else [oracle]):
        yield record


def first_k_baseline(config: Config, k: int) -> Round:
    """One fit with the first ``k`` pool points revealed and no active choice."""
    base = config.replace(initial="first", n_initial=k, strategy="none", self_training="off", n_rounds=1)
    return next(run_loop(base))
