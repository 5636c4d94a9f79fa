"""An honest verdict of each strategy against random: paired test, Holm correction, bootstrap interval.

Per strategy, the per-seed AULC differences against random (same seeds, so the same initial
labels) are tested with the two-sided Wilcoxon signed-rank test (``scipy.stats.wilcoxon``).
The p-values of all strategies compared in one go are adjusted with Holm's step-down
procedure (Holm 1979, "A Simple Sequentially Rejective Multiple Test Procedure"), which
controls the family-wise error rate. A strategy is ``better`` or ``worse`` only when its
adjusted p-value is below ``alpha``; otherwise there is ``no detectable difference``. The
mean difference comes with a bootstrap 95% interval (``scipy.stats.bootstrap``, BCa, a
fixed seed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

BETTER, NO_DIFFERENCE, WORSE = "better", "no detectable difference", "worse"


def holm(p_values: Sequence[float | None]) -> np.ndarray:
    """Holm-adjusted p-values, in the input order; a missing p-value (None or NaN) stays NaN.

    The i-th smallest of the m present p-values is multiplied by ``m - i + 1`` (i from 1),
    then a running maximum keeps the adjusted values monotone, capped at 1. Rejecting where
    the adjusted value is below alpha is Holm's step-down test at level alpha; missing
    values are not part of the family.
    """
    p = np.array([np.nan if v is None else v for v in p_values], dtype=float)
    out = np.full(len(p), np.nan)
    present = np.flatnonzero(~np.isnan(p))
    m = len(present)
    if m == 0:
        return out
    order = present[np.argsort(p[present], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


#: Fewest paired seeds that get a bootstrap interval.
MIN_INTERVAL_SEEDS = 3


def bootstrap_interval(differences: Sequence[float], confidence: float = 0.95, seed: int = 0,
                       n_resamples: int = 9999) -> tuple[float, float]:
    """Bootstrap interval of the mean of paired differences (BCa; percentile if BCa is undefined); nan
    with fewer than :data:`MIN_INTERVAL_SEEDS`."""
    from scipy.stats import bootstrap

    d = np.asarray(differences, dtype=float)
    if len(d) < MIN_INTERVAL_SEEDS:
        # One seed has no spread to resample; two give [min, max] (about 50% coverage, not 95%) and
        # BCa is undefined there: no interval (nan) rather than one that claims too much.
        return (float("nan"), float("nan"))
    if np.ptp(d) == 0:
        return (float(d.mean()), float(d.mean()))
    for method in ("BCa", "percentile"):
        result = bootstrap((d,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method=method,
                           rng=np.random.default_rng(seed))
        low, high = result.confidence_interval
        if np.isfinite(low) and np.isfinite(high):
            return (float(low), float(high))
    return (float("nan"), float("nan"))


def wilcoxon_p(differences: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences (1.0 when all are zero)."""
    from scipy.stats import wilcoxon

    d = np.asarray(differences, dtype=float)
    if len(d) == 0 or np.all(np.abs(d) <= 1e-12):
        return 1.0
    return float(wilcoxon(d).pvalue)


@dataclass(frozen=True)
class Verdict:
    """One strategy against the reference.

    Attributes
    ----------
    strategy : str
    n_seeds : int, paired seeds
    mean_difference : float, mean AULC of the strategy minus the reference's
    interval : (low, high), bootstrap 95% interval of that mean
    p_value : float, Wilcoxon signed-rank, two-sided
    p_holm : float, Holm-adjusted over every strategy in the comparison
    verdict : 'better', 'no detectable difference' or 'worse'
    """

    strategy: str
    n_seeds: int
    mean_difference: float
    interval: tuple[float, float]
    p_value: float
    p_holm: float
    verdict: str

    def sentence(self, reference: str = "random") -> str:
        low, high = self.interval
        return (f"{self.strategy} vs {reference}: {self.verdict} (AULC difference {self.mean_difference:+.4f}, "
                f"95% CI [{low:+.4f}, {high:+.4f}], Wilcoxon p={self.p_value:.3g}, Holm-adjusted p={self.p_holm:.3g}, "
                f"{self.n_seeds} seeds)")


def verdicts(per_seed: Mapping[str, Mapping[int, float]], reference: str = "random",
             alpha: float = 0.05) -> dict[str, Verdict]:
    """A verdict for every strategy but the reference, on the seeds it shares with the reference.

    Parameters
    ----------
    per_seed : mapping strategy -> (mapping seed -> AULC)
    reference : str
    alpha : float, family-wise error rate

    Returns
    -------
    dict strategy -> Verdict (empty when the reference is absent)
    """
    if reference not in per_seed:
        return {}
    base = per_seed[reference]
    rows = []
    for strategy, values in per_seed.items():
        if strategy == reference:
            continue
        seeds = sorted(set(values) & set(base))
        d = np.array([values[s] - base[s] for s in seeds], dtype=float)
        rows.append((strategy, d, wilcoxon_p(d)))
    adjusted = holm([p for _, _, p in rows])
    out = {}
    for (strategy, d, p), p_adj in zip(rows, adjusted):
        mean = float(d.mean()) if len(d) else float("nan")
        if p_adj < alpha and mean > 0:
            word = BETTER
        elif p_adj < alpha and mean < 0:
            word = WORSE
        else:
            word = NO_DIFFERENCE
        out[strategy] = Verdict(strategy, len(d), mean, bootstrap_interval(d), p, float(p_adj), word)
    return out
