"""Likely wrong labels, flagged by confident learning (cleanlab's ``find_label_issues``).

Every revealed label is judged by a model that never saw it: the class probabilities come
from scikit-learn's ``cross_val_predict(..., method="predict_proba")`` of a logistic
regression (features standardised inside each fold) over the revealed set alone, and
cleanlab's :func:`cleanlab.filter.find_label_issues` flags the labels those out-of-sample
probabilities most contradict, ranked by self-confidence (the probability the model gives
the label it was given; lowest first).

Honest limits, stated in :attr:`LabelCheck.note`:

- a class with a single revealed label cannot be judged out of sample (no fold can train on
  it while its one label is held out): its labels are left unchecked and unflagged;
- with fewer than two classes that can be judged, nothing is checked or flagged;
- the number of folds is at most the size of the smallest judged class, so that every
  training fold holds every judged class.

cleanlab is optional: :func:`require_cleanlab` raises :class:`CleanlabMissing` (one line)
when it is not installed, before any work is done. cleanlab's ``find_label_issues`` keeps
its per-class arrays in module globals while it runs, so calls go through one process-wide
lock (the dashboard runs every browser session as a thread of one process).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from alsim.common.errors import AlsimError

__all__ = ["DEFAULT_C", "DEFAULT_FOLDS", "MISSING", "CleanlabMissing", "LabelCheck", "check_labels", "flag_counts",
           "require_cleanlab"]

DEFAULT_FOLDS = 5
#: The judging model's inverse regularisation. Stronger than scikit-learn's default because
#: the labels it learns from are the noisy ones: on digits with 20% wrong labels, C=0.1 flagged
#: with higher precision than C=1 at a similar recall (``bench/label_flags.py``).
DEFAULT_C = 0.1
MISSING = "flagging label errors needs cleanlab, which is not installed: pip install cleanlab"
#: What cleanlab ranks the flagged labels by (and what :attr:`LabelCheck.quality` is).
RANK_BY = "self_confidence"
_CLEANLAB_LOCK = threading.Lock()


class CleanlabMissing(AlsimError, ImportError):
    """cleanlab is not installed; the message says how to install it."""


def require_cleanlab():
    """``(find_label_issues, get_label_quality_scores)`` from cleanlab, or :class:`CleanlabMissing`."""
    try:
        from cleanlab.filter import find_label_issues
        from cleanlab.rank import get_label_quality_scores
    except ImportError:
        raise CleanlabMissing(MISSING) from None
    return find_label_issues, get_label_quality_scores


@dataclass(frozen=True, eq=False)
class LabelCheck:
    """The verdict on a set of given labels.

    Attributes
    ----------
    flagged : ndarray (f,) int, positions (into the labels given) of the likely wrong labels,
        least self-confident first
    quality : ndarray (n,) float, the out-of-sample probability of each given label
        (cleanlab's self-confidence; lower = more doubtful); NaN where unchecked
    suggested : ndarray (n,) int, the out-of-sample model's class for each label; -1 where unchecked
    checked : ndarray (n,) bool, labels that were judged
    n_folds : int, cross-validation folds used (0 when nothing was checked)
    note : str, why some or all labels were not checked (empty when every label was)
    """

    flagged: np.ndarray
    quality: np.ndarray
    suggested: np.ndarray
    checked: np.ndarray
    n_folds: int
    note: str = ""

    @property
    def n_checked(self) -> int:
        return int(np.count_nonzero(self.checked))


def _nothing(n: int, note: str) -> LabelCheck:
    return LabelCheck(np.zeros(0, dtype=np.int64), np.full(n, np.nan), np.full(n, -1, dtype=np.int64),
                      np.zeros(n, dtype=bool), 0, note)


def check_labels(features: np.ndarray, labels: np.ndarray, seed: int = 0, folds: int = DEFAULT_FOLDS,
                 C: float = DEFAULT_C) -> LabelCheck:
    """Flag the labels an out-of-sample model most disagrees with (confident learning).

    Parameters
    ----------
    features : ndarray, shape (n, d), the labeled points' features
    labels : ndarray, shape (n,), the given class ids (>= 0)
    seed : int, shuffles the stratified folds
    folds : int, at most this many folds (fewer when the smallest judged class is smaller)
    C : float, the logistic regression's inverse regularisation

    Returns
    -------
    LabelCheck

    Raises
    ------
    CleanlabMissing
        cleanlab is not installed (raised before anything is computed).
    """
    find_label_issues, get_label_quality_scores = require_cleanlab()
    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    if n and labels.min() < 0:
        raise ValueError("labels must be class ids >= 0")
    classes, counts = np.unique(labels, return_counts=True)
    judged = classes[counts >= 2]
    singles = int(np.count_nonzero(counts < 2))
    left_out = (f"{singles} label{'s' if singles != 1 else ''} of classes with one label each left unchecked"
                if singles else "")
    if len(judged) < 2:
        why = ("no labels" if n == 0 else "one class among the labels" if len(classes) == 1
               else "fewer than two classes with two or more labels")
        return _nothing(n, f"nothing checked: {why}, so no model can judge a label it has not seen")
    # lazy: scikit-learn's model selection is paid only when labels are checked
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    checked = np.isin(labels, judged)
    rows = np.flatnonzero(checked)
    # cleanlab wants classes 0..K-1, each present: the judged classes, renumbered.
    y = np.searchsorted(judged, labels[rows])
    n_folds = int(min(folds, counts[counts >= 2].min()))
    model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=1000))
    proba = cross_val_predict(model, np.asarray(features, dtype=np.float64)[rows], y,
                              cv=StratifiedKFold(n_folds, shuffle=True, random_state=seed), method="predict_proba")
    with _CLEANLAB_LOCK:  # cleanlab's filter keeps per-class arrays in module globals while it runs
        issues = find_label_issues(y, proba, return_indices_ranked_by=RANK_BY, n_jobs=1)
        scores = get_label_quality_scores(y, proba, method=RANK_BY)
    quality = np.full(n, np.nan)
    quality[rows] = scores
    suggested = np.full(n, -1, dtype=np.int64)
    suggested[rows] = judged[proba.argmax(axis=1)]
    return LabelCheck(rows[np.asarray(issues, dtype=np.int64)], quality, suggested, checked, n_folds, left_out)


def flag_counts(check: LabelCheck, wrong: np.ndarray) -> tuple[int, int, int]:
    """``(flagged, flagged and wrong, wrong)`` against a known truth; ``wrong`` (n,) bool marks wrong labels."""
    wrong = np.asarray(wrong, dtype=bool)
    return len(check.flagged), int(np.count_nonzero(wrong[check.flagged])), int(np.count_nonzero(wrong))
