"""Evaluation metrics, all from scikit-learn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support


@dataclass(frozen=True, eq=False)
class Metrics:
    """Scores of predictions against the truth on one evaluation set.

    Attributes
    ----------
    n : int, number of points evaluated
    accuracy, macro_f1 : float
    confusion : ndarray (n_classes, n_classes), rows = true class, columns = predicted
    precision, recall, f1, support : ndarray (n_classes,), the per-class report
    """

    n: int
    accuracy: float
    macro_f1: float
    confusion: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    support: np.ndarray

    def to_dict(self, class_names: tuple[str, ...] | None = None) -> dict:
        names = class_names or tuple(str(i) for i in range(len(self.support)))
        return {
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "confusion": self.confusion.tolist(),
            "per_class": {
                name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                for name, p, r, f, s in zip(names, self.precision, self.recall, self.f1, self.support)
            },
        }


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> Metrics:
    """Accuracy, macro-F1, confusion matrix and per-class report over ``n_classes`` classes."""
    labels = np.arange(n_classes)
    if len(y_true) == 0:
        zeros = np.zeros(n_classes)
        return Metrics(0, float("nan"), float("nan"), np.zeros((n_classes, n_classes), dtype=np.int64),
                       zeros, zeros, zeros, zeros.astype(np.int64))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return Metrics(
        n=int(len(y_true)),
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        confusion=confusion_matrix(y_true, y_pred, labels=labels),
        precision=precision, recall=recall, f1=f1, support=support,
    )
