"""Evaluation metrics, all from scikit-learn, computed when first read."""

from __future__ import annotations

from functools import cached_property
from typing import Sequence

import numpy as np

SCORES = ("accuracy", "balanced_accuracy", "macro_f1")


class Metrics:
    """Scores of predictions against the truth on one evaluation set.

    Each score is computed by scikit-learn the first time it is read, so a loop that only
    needs accuracy (a multi-seed comparison) does not pay for the full report.

    Attributes
    ----------
    n : int, number of points evaluated
    accuracy, balanced_accuracy, macro_f1 : float
    confusion : ndarray (n_classes, n_classes), rows = true class, columns = predicted
    precision, recall, f1, support : ndarray (n_classes,), the per-class report
    """

    def __init__(self, y_true: np.ndarray, y_pred: np.ndarray, n_classes: int):
        small = np.int16 if n_classes < 2**15 else np.int64
        self._true = np.asarray(y_true).astype(small)
        self._pred = np.asarray(y_pred).astype(small)
        self.n_classes = int(n_classes)
        self.n = int(len(self._true))

    @property
    def _labels(self) -> np.ndarray:
        return np.arange(self.n_classes)

    @cached_property
    def accuracy(self) -> float:
        # The share of equal labels. scikit-learn's accuracy_score gives the same number
        # (tests cross-check it) but spends ~1 ms validating inputs, which is a tenth of a
        # multi-seed comparison on digits; every other score here comes from scikit-learn.
        return float(np.count_nonzero(self._true == self._pred) / self.n) if self.n else float("nan")

    @cached_property
    def macro_f1(self) -> float:
        if not self.n:
            return float("nan")
        from sklearn.metrics import f1_score  # scikit-learn is loaded when a score is read

        return float(f1_score(self._true, self._pred, labels=self._labels, average="macro", zero_division=0))

    @cached_property
    def balanced_accuracy(self) -> float:
        """Mean recall over the classes present in the truth (scikit-learn's ``balanced_accuracy_score``)."""
        if not self.n:
            return float("nan")
        from sklearn.metrics import recall_score  # scikit-learn is loaded when a score is read

        # Balanced accuracy is the macro recall over the classes present in the truth. Named through
        # ``labels``, a predicted class the truth lacks (a tail class all revealed) is simply not one of
        # them: no warning to silence (``warnings.catch_warnings`` would change every session's filters).
        return float(recall_score(self._true, self._pred, labels=np.unique(self._true), average="macro",
                                  zero_division=0))

    def score(self, metric: str) -> float:
        """The value of ``metric``: ``accuracy``, ``balanced_accuracy`` or ``macro_f1``."""
        if metric not in SCORES:
            raise ValueError(f"metric must be one of {SCORES}, got {metric!r}")
        return getattr(self, metric)

    @cached_property
    def confusion(self) -> np.ndarray:
        if not self.n:
            return np.zeros((self.n_classes, self.n_classes), dtype=np.int64)
        from sklearn.metrics import confusion_matrix  # scikit-learn is loaded when a score is read

        return confusion_matrix(self._true, self._pred, labels=self._labels)

    @cached_property
    def _report(self) -> tuple[np.ndarray, ...]:
        if not self.n:
            zeros = np.zeros(self.n_classes)
            return zeros, zeros, zeros, zeros.astype(np.int64)
        from sklearn.metrics import precision_recall_fscore_support  # loaded when a score is read

        return precision_recall_fscore_support(self._true, self._pred, labels=self._labels, zero_division=0)

    @property
    def precision(self) -> np.ndarray:
        return self._report[0]

    @property
    def recall(self) -> np.ndarray:
        return self._report[1]

    @property
    def f1(self) -> np.ndarray:
        return self._report[2]

    @property
    def support(self) -> np.ndarray:
        return self._report[3]

    def to_dict(self, class_names: tuple[str, ...] | None = None) -> dict:
        names = class_names or tuple(str(i) for i in range(self.n_classes))
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "balanced_accuracy": self.balanced_accuracy,
            "confusion": self.confusion.tolist(),
            "per_class": {
                name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                for name, p, r, f, s in zip(names, self.precision, self.recall, self.f1, self.support)
            },
        }


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> Metrics:
    """Accuracy, macro-F1, confusion matrix and per-class report over ``n_classes`` classes."""
    return Metrics(y_true, y_pred, n_classes)


def scored_length(scores: Sequence[float]) -> int:
    """Rounds up to a curve's last one with a score: a last round that labeled the whole pool scores
    nothing on the still-unlabeled pool (nan), and a curve's AULC, final and labels to a target end
    before it, as a single run shows its last scored round. A curve with no score keeps its length."""
    finite = np.flatnonzero(np.isfinite(np.asarray(scores, dtype=float)))
    return int(finite[-1]) + 1 if finite.size else len(scores)


def aulc(labels: Sequence[int], accuracy: Sequence[float]) -> float:
    """Area under the learning curve, normalised by the label range (a mean accuracy)."""
    x, y = np.asarray(labels, dtype=float), np.asarray(accuracy, dtype=float)
    if len(x) < 2 or x[-1] == x[0]:
        return float(y.mean())
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def labels_to_reach(labels: Sequence[int], accuracy: Sequence[float], target: float) -> int | None:
    """The first revealed-label count at which the curve reaches ``target`` (None if never)."""
    for x, y in zip(labels, accuracy):
        if y >= target - 1e-12:
            return int(x)
    return None
