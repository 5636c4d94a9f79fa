"""Round records: what one fit of the loop saw and did, frozen."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alsim.learn.metrics import Metrics

STOP_REASONS = ("rounds_done", "pool_exhausted", "schedule_done")


@dataclass(frozen=True)
class Flags:
    """The revealed labels confident learning flagged as likely wrong at one fit, against the truth.

    Attributes
    ----------
    n_flagged : int, revealed labels flagged (:func:`alsim.learn.label_issues.check_labels`)
    n_checked : int, revealed labels that could be judged (see ``note``)
    n_wrong : int or None, revealed labels that differ from the hidden truth (None: no truth known)
    flagged_wrong : int or None, flagged labels that really are wrong (a label whose truth is unknown
        counts as not wrong)
    note : str, why some or all labels were not judged (empty when every one was)
    """

    n_flagged: int
    n_checked: int
    n_wrong: int | None
    flagged_wrong: int | None
    note: str = ""

    @property
    def precision(self) -> float | None:
        """Share of the flags that point at a really wrong label (None with no flag or no truth)."""
        return None if self.flagged_wrong is None or not self.n_flagged else self.flagged_wrong / self.n_flagged

    @property
    def recall(self) -> float | None:
        """Share of the wrong revealed labels that were flagged (None with none wrong or no truth)."""
        return None if self.flagged_wrong is None or not self.n_wrong else self.flagged_wrong / self.n_wrong

    def to_dict(self) -> dict:
        return {"n_flagged": self.n_flagged, "n_checked": self.n_checked, "n_wrong": self.n_wrong,
                "flagged_wrong": self.flagged_wrong, "precision": self.precision, "recall": self.recall,
                "note": self.note}

    def sentence(self) -> str:
        """The flags in words: how many, how many were really wrong, of how many wrong labels."""
        if self.n_wrong is None:
            text = f"{self.n_flagged:,} of {self.n_checked:,} checked labels flagged (no truth to score them)"
        else:
            text = f"{self.n_flagged:,} of {self.n_checked:,} checked labels flagged"
            if self.n_flagged:
                text += f", {self.flagged_wrong:,} of them really wrong ({self.precision:.0%})"
            text += (f"; {self.flagged_wrong:,} of the {self.n_wrong:,} wrong revealed labels found "
                     f"({self.recall:.0%})" if self.n_wrong else "; no revealed label was wrong")
        return f"{text}; {self.note}" if self.note else text


@dataclass(frozen=True, eq=False)
class Round:
    """One fit of the loop and what it led to.

    Attributes
    ----------
    index : int, 0-based fit number
    n_labeled : int, revealed labels (images labeled by the oracle) the model was fitted with
    n_annotations : int or None, annotations those labels took: ``annotators`` per image, plus
        one per relabeled image (None in a record made by hand: one per revealed label)
    revealed_precision : float or None, share of the revealed labels that equal the hidden
        truth (1 with a perfect oracle; None when no truth is known)
    flags : Flags or None, the revealed labels flagged as likely wrong at this fit
        (``flag_label_errors``; None when off)
    n_pseudo : int, pseudo-labels (model predictions) in the training set at this fit
    pseudo_precision : float or None, share of those pseudo-labels that are correct
    accuracy, macro_f1 : float, on the test split when evaluated, else on the pool
    pool, test : Metrics or None, on the still-unrevealed pool points / the test split
    queried : ndarray of int, pool ids chosen by this fit's model, revealed before the next fit
    threshold : float or None, confidence threshold applied after this fit
    auto_added : int, points moved into the training set by the threshold after this fit
    auto_precision : float or None, share of them whose predicted label is the truth
    status : ndarray (n_pool,) int8, 0 unlabeled, 1 revealed, 2 pseudo-labeled, at this fit
    predicted : ndarray (n_pool,), the model's label for every pool point
    uncertainty : ndarray (n_pool,), per-point uncertainty (``uncertainty_measure``)
    scores : ndarray (n_pool,) or None, the score the strategy ranked by this round (None for a
        strategy that uses no score, such as random)
    score_name : str, what ``scores`` is
    n_unknown_truth : int, unlabeled pool points left out of the pool metrics because their
        truth is unknown
    n_iter : int or None, label-spreading iterations
    seconds : float, wall time of this round (fit, evaluation, selection)
    stop_reason : str or None, set on the last round
    metric : str, what :attr:`score` is (``accuracy``, ``balanced_accuracy`` or ``macro_f1``)
    cost_spent : float or None, labeling cost of the revealed labels (``Config.cost``: each
        annotation costs its image's cost); None in a record made by hand: the annotations
    """

    index: int
    n_labeled: int
    n_pseudo: int
    pseudo_precision: float | None
    pool: Metrics | None
    test: Metrics | None
    queried: np.ndarray
    threshold: float | None
    auto_added: int
    auto_precision: float | None
    status: np.ndarray
    predicted: np.ndarray
    uncertainty: np.ndarray
    uncertainty_measure: str
    n_iter: int | None
    seconds: float
    stop_reason: str | None = None
    scores: np.ndarray | None = None
    score_name: str = ""
    n_unknown_truth: int = 0
    n_annotations: int | None = None
    revealed_precision: float | None = None
    flags: Flags | None = None
    metric: str = "accuracy"
    cost_spent: float | None = None

    @property
    def ranking(self) -> tuple[np.ndarray, str]:
        """Per-point values a gallery ranks by: the strategy's own scores, else the uncertainty."""
        if self.scores is not None:
            return self.scores, self.score_name
        return self.uncertainty, self.uncertainty_measure

    @property
    def annotations(self) -> int:
        """Annotations spent on the revealed labels (one per label when the record does not say)."""
        return self.n_labeled if self.n_annotations is None else self.n_annotations

    @property
    def headline(self) -> Metrics | None:
        return self.test if self.test is not None else self.pool

    @property
    def accuracy(self) -> float:
        """Accuracy on the test split when evaluated, else on the still-unlabeled pool."""
        return float("nan") if self.headline is None else self.headline.accuracy

    @property
    def score(self) -> float:
        """The run's metric (:attr:`metric`) on the headline evaluation set; ``accuracy`` by default."""
        return float("nan") if self.headline is None else self.headline.score(self.metric)

    @property
    def cost(self) -> float:
        """Labeling cost spent on the revealed labels (the annotations when the record does not say)."""
        return float(self.annotations) if self.cost_spent is None else float(self.cost_spent)

    @property
    def recall(self) -> np.ndarray | None:
        """Per-class recall on the headline evaluation set, (n_classes,), from its confusion matrix;
        NaN for a class with no point there."""
        if self.headline is None:
            return None
        confusion = self.headline.confusion
        support = confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(support > 0, np.diag(confusion) / np.maximum(support, 1), np.nan)

    @property
    def macro_f1(self) -> float:
        return float("nan") if self.headline is None else self.headline.macro_f1

    @property
    def confusion(self) -> np.ndarray | None:
        return None if self.headline is None else self.headline.confusion

    def to_dict(self, class_names: tuple[str, ...] | None = None, per_point: bool = False) -> dict:
        out = {
            "round": self.index,
            "n_labeled": self.n_labeled,
            "n_annotations": self.annotations,
            "revealed_precision": self.revealed_precision,
            "n_pseudo": self.n_pseudo,
            "pseudo_precision": self.pseudo_precision,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "metric": self.metric,
            "score": self.score,
            "cost_spent": self.cost,
            "recall": None if self.recall is None else [None if np.isnan(r) else float(r) for r in self.recall],
            "pool": None if self.pool is None else self.pool.to_dict(class_names),
            "test": None if self.test is None else self.test.to_dict(class_names),
            "queried": [int(i) for i in self.queried],
            "threshold": self.threshold,
            "auto_added": self.auto_added,
            "auto_precision": self.auto_precision,
            "n_iter": self.n_iter,
            "seconds": round(self.seconds, 4),
            "stop_reason": self.stop_reason,
            "score_name": self.ranking[1],
            "n_unknown_truth": self.n_unknown_truth,
        }
        if self.flags is not None:
            out["flags"] = self.flags.to_dict()
        if per_point:
            out["uncertainty"] = [float(u) for u in self.uncertainty]
            out["predicted"] = [int(p) for p in self.predicted]
            if self.scores is not None:
                out["scores"] = [float(s) for s in self.scores]
        return out


NOTHING_LEFT = "nothing was left to evaluate"
"""What a table prints instead of ``nan`` when a round had no point to measure on."""

#: A round's score is read (headlines, verdicts, comparisons at equal labels) only when it was
#: measured on at least this many images: near the end of a small pool the still-unlabeled
#: images are few, and an accuracy on 1 or 2 of them is 0%, 50% or 100% whatever the model.
MIN_SCORED = 30


def readable_end(rounds) -> int:
    """How many of ``rounds`` (in order) have scores worth reading: up to the last round scored on
    :data:`MIN_SCORED` images or more; where no round reaches that (a pool that small is read as it
    is), up to the last round with a score; 0 when no round has one."""
    scored = [k for k, record in enumerate(rounds) if record.score == record.score]  # not nan
    enough = [k for k in scored if rounds[k].headline.n >= MIN_SCORED]
    return (enough or scored or [-1])[-1] + 1
