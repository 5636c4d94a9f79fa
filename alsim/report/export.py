"""Round records as flat rows (CSV) and as one JSON document."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Mapping, Sequence

from alsim.common.jsonio import json_ready
from alsim.loop.config import Config
from alsim.loop.records import Round

# Newer fields come after the first ones, so a script reading columns by position keeps working.
ROW_FIELDS = ("arm", "round", "n_labeled", "n_pseudo", "pseudo_precision", "threshold", "auto_added",
              "auto_precision", "accuracy", "macro_f1", "n_queried", "queried", "stop_reason", "n_annotations",
              "revealed_precision", "cost_spent", "metric", "score", "recall")


def round_rows(arms: Mapping[str, Sequence[Round]]) -> list[dict]:
    """One flat dict per (arm, round).

    ``score`` is the run's ``metric``; ``recall`` the per-class recall in class order, separated
    by spaces (``-`` where a class had no point left to score); ``cost_spent`` the labeling
    cost of the revealed labels (the annotations with unit cost).
    """
    rows = []
    for name, rounds in arms.items():
        for r in rounds:
            rows.append({
                "arm": name, "round": r.index, "n_labeled": r.n_labeled, "n_pseudo": r.n_pseudo,
                "pseudo_precision": r.pseudo_precision, "threshold": r.threshold, "auto_added": r.auto_added,
                "auto_precision": r.auto_precision, "accuracy": r.accuracy, "macro_f1": r.macro_f1,
                "n_queried": len(r.queried), "queried": " ".join(str(int(i)) for i in r.queried),
                "stop_reason": r.stop_reason or "", "n_annotations": r.annotations,
                "revealed_precision": r.revealed_precision, "cost_spent": r.cost, "metric": r.metric,
                "score": r.score, "recall": _recall(r),
            })
    return rows


def _recall(record: Round) -> str:
    recall = record.recall
    if recall is None:
        return ""
    return " ".join("-" if not math.isfinite(v) else f"{v:.4f}" for v in recall)


def _cell(value):
    """A CSV cell: missing values and NaN (a round with nothing left to evaluate) as an empty cell."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value


def to_csv(rows: Sequence[dict], fieldnames: Sequence[str] | None = None) -> str:
    """Rows as CSV text; None and NaN become empty cells."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(fieldnames or (rows[0].keys() if rows else ROW_FIELDS)))
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


def to_json(configs: Mapping[str, Config], arms: Mapping[str, Sequence[Round]],
            class_names: Sequence[str] | None = None) -> str:
    """``{"arms": {name: {"config": ..., "rounds": [...]}}}`` with the CLI's round fields.

    Missing values, and NaN accuracies of rounds with nothing left to evaluate, are ``null``
    (``NaN`` is not JSON).
    """

    doc = {"arms": {name: {"config": configs[name].to_dict(),
                           "rounds": [r.to_dict(tuple(class_names) if class_names else None) for r in rounds]}
                    for name, rounds in arms.items()}}
    return json.dumps(json_ready(doc), indent=1, allow_nan=False)
