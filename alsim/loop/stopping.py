"""Stopping rules: where a labeling loop could have stopped, computed from its round records.

Each rule reads only what a labeling team would see (predictions, uncertainty, label
counts), except ``target``, which reads the hidden truth and is a yardstick, not a rule.

- ``stabilizing``: stabilizing predictions (Bloodgood and Vijay-Shanker 2009, "A Method for
  Stopping Active Learning Based on Stabilizing Predictions and the Need for User-Adjustable
  Stopping", CoNLL): Cohen's kappa between the predictions of successive models on a stop
  set; stop once the mean of the last ``stop_kappa_window`` kappas reaches ``stop_kappa``.
- ``uncertainty``: overall uncertainty (Zhu, Wang and Hovy 2008, "Multi-criteria-based
  strategy to stop active learning for data annotation", COLING): the mean normalised
  uncertainty of the unlabeled pool falls below ``stop_uncertainty``.
- ``max_uncertainty``: max uncertainty (Zhu et al. 2008): the most uncertain unlabeled point's
  normalised uncertainty falls below ``stop_max_uncertainty``.
- ``change``: classification change (Zhu et al. 2008): at most ``stop_change`` of the points
  unlabeled in both rounds changed predicted class.
- ``budget``: ``stop_budget`` annotations reached (revealed labels, with one annotator per image),
  or, when ``cost`` is not ``unit``, that much labeling cost spent.
- ``target``: the score (``metric``: accuracy by default) reaches ``stop_target``.

Uncertainty is normalised to [0, 1]: entropy by ``log(n_classes)``, least confident by
``1 - 1/n_classes``, margin as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from alsim.loop.config import METRIC_NAMES as METRIC_WORDS
from alsim.loop.pool import prepare
from alsim.loop.records import NOTHING_LEFT, Round

RULES = ("stabilizing", "uncertainty", "max_uncertainty", "change", "budget", "target")
RULE_NAMES = {
    "stabilizing": "stabilizing predictions", "uncertainty": "overall uncertainty",
    "max_uncertainty": "max uncertainty", "change": "classification change", "budget": "budget",
    "target": "target score",
}


@dataclass(frozen=True)
class StopPoint:
    """Where one rule would have stopped a run.

    Attributes
    ----------
    rule : str, one of :data:`RULES`
    description : str, the rule with its threshold
    round : int or None, the fit after which the rule fires (None: never within the run)
    n_labeled, accuracy : revealed labels and the score (``metric``) at that fit (None if never)
    final_n_labeled, final_accuracy : the run's last fit
    values : per-round value the rule tested (None where it is undefined, e.g. round 0 of kappa)
    metric : str, what ``accuracy`` and ``final_accuracy`` measure
    cost, final_cost : labeling cost spent at that fit (None if never) and at the last fit
    unit_cost : bool, whether every annotation costs 1 (then savings are told in labels)
    """

    rule: str
    description: str
    round: int | None
    n_labeled: int | None
    accuracy: float | None
    final_n_labeled: int
    final_accuracy: float
    values: tuple[float | None, ...] = ()
    metric: str = "accuracy"
    cost: float | None = None
    final_cost: float | None = None
    unit_cost: bool = True

    @property
    def labels_saved(self) -> int | None:
        return None if self.n_labeled is None else self.final_n_labeled - self.n_labeled

    @property
    def cost_saved(self) -> float | None:
        """Labeling cost saved by stopping there (None if never, or when the costs were not recorded)."""
        if self.cost is None or self.final_cost is None:
            return None
        return self.final_cost - self.cost

    def sentence(self) -> str:
        """"stops at N labels, accuracy then X, final Y, labels saved Z" (or why it never stops).

        With another metric it is named instead of accuracy; with a cost other than unit the
        cost spent is given and "cost saved" replaces "labels saved".
        """
        metric = METRIC_WORDS.get(self.metric, self.metric)
        if self.round is None:
            return (f"{RULE_NAMES[self.rule]}: never stops within {self.final_n_labeled} labels "
                    f"(final {metric} {_accuracy(self.final_accuracy)})")
        saved = f"labels saved {self.labels_saved}" if self.unit_cost or self.cost_saved is None else \
            f"cost saved {self.cost_saved:.4g} of {self.final_cost:.4g}"
        at = f"{self.n_labeled} labels" if self.unit_cost or self.cost is None else \
            f"{self.n_labeled} labels (cost {self.cost:.4g})"
        return (f"{RULE_NAMES[self.rule]}: stops at {at}, {metric} then "
                f"{_accuracy(self.accuracy)}, final {_accuracy(self.final_accuracy)}, {saved}"
                f"{below_final(self.accuracy, self.final_accuracy)}")

    def to_dict(self) -> dict:
        return {"rule": self.rule, "description": self.description, "round": self.round,
                "n_labeled": self.n_labeled, "accuracy": self.accuracy, "final_n_labeled": self.final_n_labeled,
                "final_accuracy": self.final_accuracy, "labels_saved": self.labels_saved, "metric": self.metric,
                "cost": self.cost, "final_cost": self.final_cost, "cost_saved": self.cost_saved,
                "unit_cost": self.unit_cost}


def below_final(then, final) -> str:
    """" at N points below the final" when stopping there costs score (else ""): labels saved read
    as a win unless what they cost is said beside them."""
    if then is None or final is None or not (math.isfinite(then) and math.isfinite(final)):
        return ""
    points = 100 * (final - then)
    return f" at {points:.1f} points below the final" if points >= 0.05 else ""


def _accuracy(value) -> str:
    """An accuracy to 4 places, or words where a round had nothing left to evaluate (never "nan")."""

    return NOTHING_LEFT if value is None or not math.isfinite(value) else f"{value:.4f}"


def normalised_uncertainty(record: Round, n_classes: int) -> np.ndarray:
    """The round's per-point uncertainty scaled to [0, 1] by its measure's maximum."""
    values = np.asarray(record.uncertainty, dtype=np.float64)
    if record.uncertainty_measure == "entropy":
        return values / np.log(n_classes) if n_classes > 1 else np.zeros_like(values)
    if record.uncertainty_measure == "least_confident":
        return values / (1.0 - 1.0 / n_classes) if n_classes > 1 else np.zeros_like(values)
    return values


def kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two label vectors; 1 when they are identical.

    The same arithmetic as scikit-learn's ``cohen_kappa_score`` (unweighted), so the value is
    equal to the last bit (``tests/test_stopping.py`` checks it), without its input validation
    on every call (about 5% of a comparison's CPU time).
    """
    a, b = np.asarray(a), np.asarray(b)
    if np.array_equal(a, b):
        return 1.0  # kappa is 0/0 when both name one class everywhere; identical means stable
    labels, index = np.unique(np.concatenate([a, b]), return_inverse=True)
    m = len(labels)
    confusion = np.bincount(index[:len(a)] * m + index[len(a):], minlength=m * m).reshape(m, m).astype(np.float64)
    sum0, sum1 = confusion.sum(axis=0), confusion.sum(axis=1)
    total = sum0.sum()
    if total == 0:
        return float("nan")
    expected = np.outer(sum0, sum1) / total
    weights = np.ones((m, m), dtype=np.float64)
    np.fill_diagonal(weights, 0)
    denominator = np.sum(weights * expected)
    if denominator == 0:
        return float("nan")  # scikit-learn's replace_undefined_by
    return float(1 - np.sum(weights * confusion) / denominator)


def stop_set(rounds: Sequence[Round], size: int = 0, seed: int = 0) -> np.ndarray:
    """Pool ids unlabeled at the first fit, or ``size`` of them drawn with a fixed generator."""
    ids = np.flatnonzero(np.asarray(rounds[0].status) == 0)
    if 0 < size < len(ids):
        ids = np.sort(np.random.default_rng(seed).choice(ids, size, replace=False))
    return ids


def rule_values(rounds: Sequence[Round], rule: str, n_classes: int, stop_set_size: int = 0) -> list[float | None]:
    """The quantity ``rule`` tests at each round (None where it is undefined)."""
    out: list[float | None] = []
    if rule == "stabilizing":
        ids = stop_set(rounds, stop_set_size)
        out.append(None)
        for previous, current in zip(rounds, rounds[1:]):
            out.append(kappa(previous.predicted[ids], current.predicted[ids]))
        return out
    for i, record in enumerate(rounds):
        unlabeled = np.asarray(record.status) == 0
        if rule in ("uncertainty", "max_uncertainty"):
            values = normalised_uncertainty(record, n_classes)[unlabeled]
            out.append(None if len(values) == 0 else float(values.mean() if rule == "uncertainty" else values.max()))
        elif rule == "change":
            if i == 0:
                out.append(None)
                continue
            both = unlabeled & (np.asarray(rounds[i - 1].status) == 0)
            changed = rounds[i - 1].predicted[both] != record.predicted[both]
            out.append(float(changed.mean()) if both.any() else None)
        elif rule == "budget":
            # the cost spent; with unit cost that is the annotations
            out.append(float(record.cost))
        elif rule == "target":
            out.append(None if np.isnan(record.score) else float(record.score))
        else:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    return out


def _fires(rule: str, values: list, config) -> int | None:
    """The first round at which ``rule`` fires, or None."""
    for i, value in enumerate(values):
        if rule == "stabilizing":
            window = values[max(1, i - config.stop_kappa_window + 1):i + 1]
            if i >= config.stop_kappa_window and None not in window and np.mean(window) >= config.stop_kappa:
                return i
            continue
        if value is None:
            continue
        if ((rule == "uncertainty" and value < config.stop_uncertainty)
                or (rule == "max_uncertainty" and value < config.stop_max_uncertainty)
                or (rule == "change" and value <= config.stop_change)
                or (rule == "budget" and value >= config.stop_budget)
                or (rule == "target" and value >= config.stop_target - 1e-12)):
            return i
    return None


def enabled_rules(config) -> tuple[str, ...]:
    """The rules a config turns on (a threshold of None, or a budget of 0, turns one off)."""
    on = {"stabilizing": config.stop_kappa is not None, "uncertainty": config.stop_uncertainty is not None,
          "max_uncertainty": config.stop_max_uncertainty is not None, "change": config.stop_change is not None,
          "budget": config.stop_budget > 0, "target": config.stop_target is not None}
    return tuple(r for r in RULES if on[r])


def describe(rule: str, config) -> str:
    """The rule with its threshold, e.g. ``mean kappa of the last 3 >= 0.99``."""
    if rule == "stabilizing":
        return f"mean kappa of the last {config.stop_kappa_window} >= {config.stop_kappa:g}"
    if rule == "uncertainty":
        return f"mean normalised uncertainty < {config.stop_uncertainty:g}"
    if rule == "max_uncertainty":
        return f"max normalised uncertainty < {config.stop_max_uncertainty:g}"
    if rule == "change":
        return f"share of unlabeled points changing class <= {config.stop_change:g}"
    if rule == "budget":
        if config.cost != "unit":
            return f"labeling cost {config.stop_budget} ({config.cost.replace('_', '-')} cost)"
        return f"{config.stop_budget} {'revealed labels' if config.annotators == 1 else 'annotations'}"
    return f"{METRIC_WORDS.get(config.metric, config.metric)} >= {config.stop_target:g} (reads the truth)"


def stopping_points(rounds: Sequence[Round], config, n_classes: int | None = None) -> tuple[StopPoint, ...]:
    """Where each rule the config enables would have stopped this run.

    Parameters
    ----------
    rounds : the run's records, in order
    config : the run's :class:`alsim.Config` (thresholds and windows)
    n_classes : int, optional
        For the normalisation of uncertainty; default: the width of the data set's classes.

    Returns
    -------
    tuple of StopPoint, one per enabled rule, in the order of :data:`RULES`.
    """
    rounds = list(rounds)
    if not rounds:
        return ()
    if n_classes is None:
        n_classes = prepare(config).n_classes
    last = rounds[-1]
    out = []
    for rule in enabled_rules(config):
        values = rule_values(rounds, rule, n_classes, config.stop_set_size)
        at = _fires(rule, values, config)
        out.append(StopPoint(rule=rule, description=describe(rule, config), round=at,
                             n_labeled=None if at is None else rounds[at].n_labeled,
                             accuracy=None if at is None else rounds[at].score,
                             final_n_labeled=last.n_labeled, final_accuracy=last.score, values=tuple(values),
                             metric=config.metric, cost=None if at is None else rounds[at].cost,
                             final_cost=last.cost, unit_cost=config.cost == "unit"))
    return tuple(out)


def stop_table(points: Sequence[StopPoint]) -> list[dict]:
    """Rows for a table: rule, stops at, score then, final, labels saved (cost saved when cost is not unit)."""
    rows = []
    for p in points:
        metric = METRIC_WORDS.get(p.metric, p.metric)
        row = {"rule": RULE_NAMES[p.rule], "condition": p.description, "stops at (labels)": p.n_labeled,
               f"{metric} then": p.accuracy, f"final {metric}": p.final_accuracy}
        if p.unit_cost:
            row["labels saved"] = p.labels_saved
        else:
            row.update({"stops at (cost)": p.cost, "cost saved": p.cost_saved})
        rows.append(row)
    return rows
