"""Supervised models of the loop and their class probabilities over all classes."""

from __future__ import annotations

import warnings

import numpy as np
from scipy.special import expit


def ovr_sigmoid_proba(decision: np.ndarray) -> np.ndarray:
    """Per-class probabilities from one-vs-rest decision values.

    The sigmoid of each class's decision value, normalised to sum to 1 per row
    (experiment B's recipe; the public equivalent of scikit-learn's private
    ``_predict_proba_lr``). A 1-D input is a binary problem: columns (1-p, p).

    Parameters
    ----------
    decision : ndarray, shape (n,) or (n, n_classes)

    Returns
    -------
    ndarray, shape (n, max(2, n_classes))
    """
    decision = np.asarray(decision, dtype=np.float64)
    prob = expit(decision)
    if prob.ndim == 1:
        return np.column_stack([1.0 - prob, prob])
    return prob / prob.sum(axis=1, keepdims=True)


def make_classifier(model: str, C: float, seed: int):
    """A fresh scikit-learn estimator for a supervised model name."""
    if model == "linear_svc":
        from sklearn.svm import LinearSVC

        return LinearSVC(C=C, random_state=seed)
    if model == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=C, max_iter=1000)
    raise ValueError(f"not a supervised model: {model!r}")


def classifier_proba(estimator, features: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities of a fitted estimator spread onto all ``n_classes`` columns."""
    if hasattr(estimator, "predict_proba"):
        local = estimator.predict_proba(features)
    else:
        local = ovr_sigmoid_proba(estimator.decision_function(features))
    proba = np.zeros((len(features), n_classes))
    proba[:, estimator.classes_] = local
    return proba


def fit_supervised(model: str, C: float, seed: int, train_x: np.ndarray, train_y: np.ndarray,
                   predict_on: list[np.ndarray | None], n_classes: int) -> list[np.ndarray | None]:
    """Fit on the labeled rows and return probabilities for each array in ``predict_on``.

    With a single class among the labels no estimator can be fitted; every point then
    gets that class with probability 1.
    """
    present = np.unique(train_y)
    if len(present) == 1:
        out = []
        for features in predict_on:
            if features is None:
                out.append(None)
                continue
            proba = np.zeros((len(features), n_classes))
            proba[:, present[0]] = 1.0
            out.append(proba)
        return out
    estimator = make_classifier(model, C, seed)
    with warnings.catch_warnings():
        # liblinear's "did not converge" is reported per round in the record, not as noise.
        warnings.simplefilter("ignore")
        estimator.fit(train_x, train_y)
    return [None if f is None else classifier_proba(estimator, f, n_classes) for f in predict_on]
