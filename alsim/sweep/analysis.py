"""What a sweep's results say: per grid point and strategy, gains over random and their significance.

Per grid point, the cells are summarised as on the Compare page
(:func:`alsim.evidence.compare.summarize`, with the target stored in the rows): labels saved
against random from the mean curves, and a paired Wilcoxon test of per-seed AULC against
random. The p-values of all (grid point, strategy) pairs of a store form one family and
are Holm-corrected together, so a heatmap cell marked significant stays so whichever
slice of the grid is on screen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alsim.evidence.compare import MIN_SEEDS_FOR_TEST, Curve, summarize
from alsim.evidence.verdict import holm

ALPHA = 0.05


@dataclass(frozen=True)
class SweepSummary:
    """One row per (grid point, strategy) in :attr:`table`; :attr:`fields` are the grid fields."""

    table: pd.DataFrame
    fields: tuple[str, ...]
    strategies: tuple[str, ...]

    def best(self, by: str = "aulc_mean") -> pd.DataFrame:
        """Per strategy, the grid point with the highest ``by`` (ties: the first in grid order)."""
        if self.table.empty:
            return self.table
        order = self.table.sort_values(["strategy", by], ascending=[True, False], kind="stable")
        best = order.groupby("strategy", sort=False).head(1)
        keep = ["strategy", *self.fields, "n_seeds", "aulc_mean", "aulc_gain", "labels_to_target", "target",
                "saved_vs_random", "p_value", "p_holm", "significant"]
        rank = {s: i for i, s in enumerate(self.strategies)}
        return best[keep].sort_values("strategy", key=lambda s: s.map(rank)).reset_index(drop=True)


def summarize_sweep(frame: pd.DataFrame, alpha: float = ALPHA) -> SweepSummary:
    """Summarise a results frame (:meth:`alsim.sweep.store.ResultStore.frame`).

    Columns of :attr:`SweepSummary.table`: the grid fields, ``strategy``, ``n_seeds``,
    ``aulc_mean``, ``aulc_gain`` (mean per-seed AULC difference to random, NaN for random
    itself), ``labels_to_target`` (of the mean curve), ``target``, ``saved_vs_random``,
    ``p_value`` (Wilcoxon, None below 6 seeds), ``p_holm``, ``significant``, ``verdict``.
    """
    fields = tuple(c[len("grid."):] for c in frame.columns if c.startswith("grid."))
    strategies = tuple(dict.fromkeys(frame["strategy"])) if len(frame) else ()
    rows = []
    for point_key, group in frame.groupby("point_hash", sort=False):
        point = json.loads(group["point"].iloc[0])
        curves = [Curve(r.strategy, int(r.seed), tuple(int(v) for v in r.labels), tuple(float(v) for v in r.accuracy))
                  for r in group.itertuples()]
        target = float(np.median(group["target"]))
        summary = summarize(curves, target=target)
        random_aulc = {int(r.seed): float(r.aulc) for r in group.itertuples() if r.strategy == "random"}
        for s in summary.strategies:
            mine = {int(r.seed): float(r.aulc) for r in group.itertuples() if r.strategy == s.strategy}
            common = sorted(set(mine) & set(random_aulc))
            gain = (float(np.mean([mine[k] - random_aulc[k] for k in common]))
                    if s.strategy != "random" and common else float("nan"))
            test = s.test_vs_random
            p_value = None if test is None else test["p_value"]
            if test is not None and p_value is None and test["n_seeds"] >= MIN_SEEDS_FOR_TEST:
                p_value = 1.0  # identical on every seed: enough seeds, and no difference at all
            rows.append({**{name: point.get(name) for name in fields}, "point_hash": point_key,
                         "strategy": s.strategy, "n_seeds": len(mine), "aulc_mean": s.aulc_mean,
                         "aulc_gain": gain, "labels_to_target": s.labels_to_target, "target": target,
                         "saved_vs_random": s.saved_vs_random,
                         "p_value": p_value,
                         "verdict": None if test is None else test["verdict"]})
    table = pd.DataFrame(rows)
    if not table.empty:
        adjusted = holm([None if p is None or pd.isna(p) else float(p) for p in table["p_value"]])
        table["p_holm"] = [None if np.isnan(p) else float(p) for p in adjusted]
        table["significant"] = [p is not None and not pd.isna(p) and p < alpha for p in table["p_holm"]]
    return SweepSummary(table, fields, strategies)


def heatmap_grid(summary: SweepSummary, x_field: str, y_field: str, strategy: str, metric: str,
                 fixed: dict | None = None) -> dict:
    """The values of one heatmap: ``x`` and ``y`` values, ``z`` (len(y), len(x)), significance.

    ``metric`` is a column of the summary table (``saved_vs_random`` or ``aulc_gain``);
    ``fixed`` pins every other grid field to one value. Returns ``x``, ``y``, ``z``,
    ``significant`` and ``tested`` (whether a p-value exists) as lists of lists.
    """
    table = summary.table[summary.table["strategy"] == strategy]
    for name, value in (fixed or {}).items():
        if name not in (x_field, y_field):
            table = table[table[name] == value]
    xs = sorted(table[x_field].unique().tolist(), key=_sort_key)
    ys = sorted(table[y_field].unique().tolist(), key=_sort_key) if y_field != x_field else [None]
    z = [[None] * len(xs) for _ in ys]
    significant = [[False] * len(xs) for _ in ys]
    tested = [[False] * len(xs) for _ in ys]
    for row in table.itertuples():
        i = ys.index(getattr(row, y_field)) if y_field != x_field else 0
        j = xs.index(getattr(row, x_field))
        value = getattr(row, metric)
        z[i][j] = None if value is None or pd.isna(value) else float(value)
        significant[i][j] = bool(row.significant)
        tested[i][j] = row.p_holm is not None and not pd.isna(row.p_holm)
    return {"x": xs, "y": ys, "z": z, "significant": significant, "tested": tested}


def _sort_key(value):
    return (0, value, "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0, str(value))
