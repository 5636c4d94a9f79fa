"""Check a person's labels: the stored labels a model that never saw them most disagrees with.

:func:`doubtful_labels` runs confident learning (:func:`alsim.learn.label_issues.check_labels`:
class probabilities cross-validated over the project's labeled items, cleanlab's
``find_label_issues`` ranked by self-confidence) on the project's features and stored labels,
and returns the flagged items, most doubtful first, each with the label given and the model's
suggestion. Relabeling one goes through :func:`alsim.labeling.projects.add_label`, as any label
does: the history keeps the earlier label, and undo brings it back.

The result depends only on the project's pool and its stored labels, so it is kept in the
process-wide ``values`` cache under both: sessions share it, and it is recomputed after a
label changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from alsim.labeling.projects import LabelingProject, label_arrays
from alsim.labeling.store import LabelRow
from alsim.learn.label_issues import check_labels, require_cleanlab
from alsim.loop.pool import data_key, prepare
from alsim.storage.memory import shared_cache

__all__ = ["Doubt", "LabelDoubts", "doubtful_labels"]


@dataclass(frozen=True)
class Doubt:
    """One stored label the model doubts.

    Attributes
    ----------
    item : int, pool id
    given : int, the stored class index
    suggestion : int, the class the out-of-sample model gives it
    score : float, the out-of-sample probability of the given class (lower = more doubtful)
    """

    item: int
    given: int
    suggestion: int
    score: float


@dataclass(frozen=True)
class LabelDoubts:
    """The flagged labels of a project, most doubtful first.

    Attributes
    ----------
    doubts : tuple of Doubt
    n_labels : int, stored class labels (skips are not labels)
    n_checked : int, of them judged (a class with a single label cannot be; see ``note``)
    n_folds : int, cross-validation folds
    note : str, why some or all labels were not judged (empty when every one was)
    """

    doubts: tuple[Doubt, ...]
    n_labels: int
    n_checked: int
    n_folds: int
    note: str = ""


def doubtful_labels(project: LabelingProject, labels: dict[int, LabelRow] | None = None) -> LabelDoubts:
    """The project's stored labels confident learning flags as likely wrong, most doubtful first.

    Raises :class:`alsim.learn.label_issues.CleanlabMissing` (one line) when cleanlab is not
    installed, before the pool is prepared.
    """
    require_cleanlab()
    person, _ = label_arrays(project, labels)
    items = np.flatnonzero(person >= 0)
    given = person[items]
    config = project.config
    digest = hashlib.sha256(items.astype(np.int64).tobytes() + given.astype(np.int64).tobytes()).hexdigest()

    def build() -> LabelDoubts:
        features = np.asarray(prepare(config).features)[items]
        check = check_labels(features, given, seed=config.seed)
        doubts = tuple(Doubt(int(items[i]), int(given[i]), int(check.suggested[i]), float(check.quality[i]))
                       for i in check.flagged)
        return LabelDoubts(doubts, len(items), check.n_checked, check.n_folds, check.note)

    return shared_cache("values").get_or_build(("label_doubts", data_key(config), config.seed, digest), build)
