"""Compare query strategies over several seeds: spread bands, label savings, a paired test."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
from scipy.stats import wilcoxon

from alsim.common.errors import ConfigError
from alsim.evidence.chance import ceiling_sentence, chance_words, curves_warning
from alsim.evidence.verdict import BETTER, MIN_INTERVAL_SEEDS, verdicts
from alsim.learn.graph import predict_new, spread
from alsim.learn.metrics import Metrics, aulc, labels_to_reach, scored_length
from alsim.learn.models import fit_supervised
from alsim.loop.config import MAX_SEED, METRIC_NAMES, Config
from alsim.loop.pool import graph_for, prepare
from alsim.loop.records import NOTHING_LEFT, readable_end
from alsim.loop.run import predict_labels, run_arms
from alsim.loop.stopping import RULE_NAMES, below_final, stopping_points
from alsim.strategies import strategy_names

MIN_SEEDS_FOR_TEST = 6  # the exact two-sided Wilcoxon p-value cannot go below 2 / 2**n
MAX_SEEDS = 1000  # every seed is a full run of every strategy
#: About what a new worker process takes before its first result (imports, data, graph): below
#: this much work left, a comparison does not start one (it would finish later, not sooner).
WORKER_START_SECONDS = 3.0


@dataclass(frozen=True)
class Curve:
    """One strategy's learning curve under one seed.

    ``accuracy`` holds the run's score per round: the config's ``metric`` (accuracy by
    default); ``cost`` the labeling cost spent per round (empty: the labels).
    """

    strategy: str
    seed: int
    labels: tuple[int, ...]
    accuracy: tuple[float, ...]
    stops: tuple[dict, ...] = ()  # where each enabled stopping rule fires (StopPoint.to_dict), alsim.loop.stopping
    cost: tuple[float, ...] = ()

    def x(self, axis: str = "labels") -> tuple[float, ...]:
        """The curve's x values: revealed labels, or the labeling cost spent (``axis='cost'``)."""
        return self.cost if axis == "cost" and self.cost else self.labels


def seeds_for(base: Config, n_seeds: int) -> list[int]:
    return [base.seed + i for i in range(n_seeds)]


def comparison_configs(base: Config, strategies: Sequence[str], seed: int) -> list[Config]:
    """One config per strategy for a seed; they share that seed's initial labels."""
    return [base.replace(strategy=s, seed=seed) for s in strategies]


def validate_request(base: Config, strategies: Sequence[str], n_seeds: int, target: float | None = None) -> None:
    """Raise :class:`ConfigError` unless the strategies, seed count and target make a comparison.

    Strategies must be distinct (a repeat would be merged silently in the summary); the
    seeds ``base.seed .. base.seed + n_seeds - 1`` must all be valid seeds; ``target``,
    when given, is an accuracy in (0, 1].
    """

    if not strategies:
        raise ConfigError("strategies must name at least one strategy")
    for s in strategies:
        if s not in strategy_names():
            raise ConfigError(f"strategies must be among {', '.join(strategy_names())}, got {s!r}")
    repeated = [s for s in dict.fromkeys(strategies) if list(strategies).count(s) > 1]
    if repeated:
        raise ConfigError(f"strategies must be distinct; {', '.join(map(repr, repeated))} is listed more than once")
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or not 1 <= n_seeds <= MAX_SEEDS:
        raise ConfigError(f"seeds must be an integer in [1, {MAX_SEEDS}], got {n_seeds!r}")
    if base.seed + n_seeds - 1 > MAX_SEED:
        raise ConfigError(f"seeds {base.seed}..{base.seed + n_seeds - 1} go beyond the largest seed {MAX_SEED}")
    if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float))
                               or not 0.0 < target <= 1.0):  # NaN fails the comparison too
        raise ConfigError(f"target must be an accuracy in (0, 1], got {target!r}")
    if base.initial == "first" and n_seeds > 1:
        raise ConfigError("initial 'first' gives every seed the same initial labels; use initial 'random' or "
                          "'stratified' to compare over seeds")


def growing_batches(n_seeds: int, largest: int = 4) -> list[int]:
    """Batch sizes 1, 1, 2, 2, 3, 3, ... up to ``largest``, summing to ``n_seeds``.

    The first seeds come back alone, so a page has bands and a provisional verdict early;
    later seeds run several at a time, which is cheaper per seed (their arms share each
    matrix product, see :func:`alsim.loop.run.run_arms`).
    """
    sizes, size = [], 1
    while sum(sizes) < n_seeds:
        sizes.append(min(size, n_seeds - sum(sizes)))
        if len(sizes) % 2 == 0:
            size = min(largest, size + 1)
    return sizes


def batch_curves(base: Config, strategies: Sequence[str], seeds: Sequence[int],
                 progress: Callable[[float, str], None] | None = None) -> list[Curve]:
    """Every strategy under each of ``seeds``, the arms of all those seeds in lockstep; seed-major order.

    The same numbers whichever seeds share the batch and whichever process computes it
    (``tests/test_compare.py`` checks both).
    """
    # A curve carries no label flags (they are shown for single runs): checking them here would be work thrown away.
    configs = [c.replace(flag_label_errors=False) for seed in seeds for c in comparison_configs(base, strategies, seed)]
    collected: list[list] = [[] for _ in configs]
    for arm, record in run_arms(configs, progress=progress):
        collected[arm].append(record)
    n_classes = prepare(base).n_classes
    return [Curve(c.strategy, c.seed, tuple(r.n_labeled for r in rounds), _readable_scores(rounds),
                  tuple(p.to_dict() for p in stopping_points(rounds, c, n_classes)), tuple(r.cost for r in rounds))
            for c, rounds in zip(configs, collected)]


def _readable_scores(rounds) -> tuple[float, ...]:
    """Each round's score, nan after the last one worth reading (:func:`alsim.loop.records.readable_end`:
    the last few images of a small pool are not scored), as a single run shows it."""
    end = readable_end(rounds)
    return tuple(r.score if k < end else float("nan") for k, r in enumerate(rounds))


def run_comparison(base: Config, strategies: Sequence[str], n_seeds: int, seeds_per_batch: int | Sequence[int] = 1,
                   progress: Callable[[float, str], None] | None = None, workers: int = 1,
                   keep_workers: Callable[[], bool] | None = None) -> Iterator[list[Curve]]:
    """Run every strategy under every seed; yield the curves of each batch of seeds, in seed order.

    All arms of a batch run in lockstep, so label-spreading arms share one graph and one
    matrix product per round (see :func:`alsim.loop.run.run_arms`).

    Parameters
    ----------
    seeds_per_batch : int or sequence of int
        Seeds per batch, or each batch's size in turn (e.g. :func:`growing_batches`).
    progress : callable, optional
        Follows the graph's build when this process builds it.
    workers : int
        1: every batch here. 2 or more: a worker process (:mod:`alsim.evidence.workers`)
        takes batches too while this process computes the others; batches come back in seed
        order, and every number equals the run with ``workers=1``.
    keep_workers : callable, optional
        Asked before each batch is handed to a worker; once it says False, this process
        computes the rest (a server whose other runs wait for a core takes the core back).
    """
    validate_request(base, strategies, n_seeds)
    seeds = seeds_for(base, n_seeds)
    if isinstance(seeds_per_batch, int):
        sizes = [max(1, seeds_per_batch)] * -(-n_seeds // max(1, seeds_per_batch))
    else:
        sizes = [int(s) for s in seeds_per_batch]
        if any(s < 1 for s in sizes) or sum(sizes) < n_seeds:
            raise ConfigError(f"batch sizes must be positive and cover {n_seeds} seeds, got {sizes}")
    starts = np.cumsum([0] + sizes)
    batches = [seeds[lo:hi] for lo, hi in zip(starts, starts[1:]) if lo < n_seeds]
    if workers <= 1 or len(batches) < 2:
        for batch in batches:
            yield batch_curves(base, strategies, batch, progress)
        return
    yield from _shared_batches(base, list(strategies), batches, workers, progress, keep_workers)


def _shared_batches(base: Config, strategies: list[str], batches: list[list[int]], workers: int,
                    progress, keep_workers) -> Iterator[list[Curve]]:
    """Batches shared between this process and worker processes; yielded in order.

    Each worker is handed the next unclaimed batch as soon as it returns one. This process
    computes the next batch to yield unless a worker that has already returned a result
    holds it; while such a worker runs it, this process takes the next unclaimed batch. So a
    worker still starting up (its imports take seconds) never holds back the seeds after
    it: the batch it was handed is computed here too, and whichever finishes first is used.
    One that fails there (e.g. a data source registered only in this process) is computed
    here too.
    """
    from alsim.evidence import workers as pool  # lazy: worker processes only for a shared comparison

    lock = threading.Lock()
    state = {"next": 0, "closed": False}
    futures: dict[int, Future] = {}
    here: set[int] = set()  # claimed for a worker that could not take it

    def claim() -> int | None:
        with lock:
            if state["closed"] or state["next"] >= len(batches):
                return None
            state["next"] += 1
            return state["next"] - 1

    def hand_out(_done: Future | None = None) -> None:
        with lock:
            if state["closed"] or state["next"] >= len(batches) or (keep_workers is not None and not keep_workers()):
                return
            index = state["next"]
            state["next"] += 1
            future = pool.submit(batch_curves, base, strategies, batches[index])
            if future is None:
                here.add(index)
                return
            futures[index] = future
        future.add_done_callback(hand_out)

    first = claim()  # the first seeds here, at once
    started = time.perf_counter()
    results: dict[int, list[Curve]] = {first: batch_curves(base, strategies, batches[first], progress)}
    left = sum(len(b) for b in batches[1:]) * (time.perf_counter() - started) / len(batches[first])
    if pool.warm() or left > WORKER_START_SECONDS:  # a cold worker pays off only on longer work
        for _ in range(max(1, workers - 1)):
            hand_out()
    try:
        for want in range(len(batches)):
            while want not in results:
                with lock:
                    future = futures.get(want)
                if future is not None and future.done() and not future.cancelled() and future.exception() is None:
                    results[want] = future.result()  # ready: yield it before taking more work
                    continue
                if future is None or want in here or not pool.warm():
                    # Not handed out (then it is the next to claim), or handed to a worker that is still
                    # starting up: compute it here now, so the page's bands grow seed by seed instead of
                    # waiting behind a worker's start (the same numbers either way; a worker that
                    # finishes it first is simply not used, and is handed the next batch).
                    if future is None and want not in here:
                        mine = claim()
                        if mine != want:  # a worker was handed it in between: take what came instead
                            if mine is not None:
                                results[mine] = batch_curves(base, strategies, batches[mine], progress)
                            continue
                    elif future is not None:
                        future.cancel()
                    results[want] = batch_curves(base, strategies, batches[want], progress)
                    continue
                mine = claim()  # the worker has it and is running: take later work meanwhile
                if mine is not None:
                    results[mine] = batch_curves(base, strategies, batches[mine], progress)
                    continue
                try:
                    results[want] = future.result()
                except (Exception, CancelledError):  # the worker could not: this process can, or raises why
                    results[want] = batch_curves(base, strategies, batches[want], progress)
            yield results.pop(want)
    finally:
        with lock:
            state["closed"] = True
            pending = list(futures.values())
        for future in pending:
            future.cancel()


def _warm_up(config: Config) -> tuple[str, int, int]:
    """Runs in a worker: a two-round, one-seed comparison of ``config`` (its imports, data, graph, a query).

    Returns the run's strategy, seed and number of scored rounds (what was done, for the caller to check).
    """
    (curve,) = batch_curves(config.replace(n_rounds=2), ["random"], [config.seed])
    return curve.strategy, curve.seed, len(curve.accuracy)


def prestart_worker(config: Config):
    """Start the worker pool now and load into a worker what a comparison of ``config`` needs.

    Returns a future (done when the worker is ready: then :func:`alsim.evidence.workers.warm`
    is true), or None if no worker can start. A worker starting takes seconds (its imports,
    then the data and the graph), and a comparison on a cold pool computes its first seeds
    itself meanwhile: on a fresh server, the first comparison would compute almost every seed
    in the server's process. The dashboard's launcher calls this during its warm-up
    (:mod:`alsim.dashboard.serve`).
    """
    from alsim.evidence import workers as pool  # lazy: worker processes only for a shared comparison

    return pool.submit(_warm_up, config)


def full_label_accuracy(config: Config, folds: int = 5, given: np.ndarray | None = None) -> float:
    """Accuracy of the same model when (almost) every label is known.

    With a test split: fitted on every pool label, scored on the test split. Without one:
    ``folds``-fold, each fold's labels hidden while all others are revealed, scored on the
    hidden fold (transductively for label spreading). Only known labels are used and scored:
    a pool point whose label is unknown (-1) stays unlabeled.

    ``given`` (one label per pool point, -1 for none): the labels the model is fitted with,
    e.g. simulated annotators' answers, in place of the truth; it is still scored against
    the truth.
    """

    prepared = prepare(config)
    truth = prepared.labels
    y = truth if given is None else np.asarray(given, dtype=np.int64)
    if y.shape != truth.shape:
        raise ValueError(f"given must hold one label per pool point ({truth.shape[0]}), got shape {y.shape}")
    known = (truth >= 0) & (y >= 0)
    y = np.where(known, y, -1)
    n, n_classes = len(y), prepared.n_classes
    if config.evaluation in ("test", "both") and prepared.test_labels is not None:
        if config.model == "label_spreading":
            graph = graph_for(config, prepared)
            dist, _ = spread(graph, y, n_classes, config.alpha, config.max_iter, config.tol)
            proba = predict_new(graph, dist[0], prepared.test_features, key="test")
        else:
            proba = fit_supervised(config.model, config.C, config.seed, prepared.features[known], y[known],
                                   [prepared.test_features], n_classes)[0]
        scored = prepared.test_labels >= 0
        if config.metric != "accuracy":
            return Metrics(prepared.test_labels[scored], predict_labels(proba, y)[scored], n_classes).score(config.metric)
        return float((predict_labels(proba, y)[scored] == prepared.test_labels[scored]).mean())
    fold_of = np.random.default_rng(0).permutation(n) % folds
    labels = np.stack([np.where(fold_of == k, -1, y) for k in range(folds)])
    correct = 0
    scored_truth, guessed = [], []  # every fold's hidden points: the metric is computed over them all
    if config.model == "label_spreading":
        graph = graph_for(config, prepared)
        dists, _ = spread(graph, labels, n_classes, config.alpha, config.max_iter, config.tol)
        for k in range(folds):
            hidden = (fold_of == k) & known
            guess = predict_labels(dists[k], labels[k])[hidden]
            correct += int((guess == truth[hidden]).sum())
            scored_truth.append(truth[hidden])
            guessed.append(guess)
    else:
        for k in range(folds):
            hidden = fold_of == k
            train, scored = ~hidden & known, hidden & known
            proba = fit_supervised(config.model, config.C, config.seed, prepared.features[train], y[train],
                                   [prepared.features[scored]], n_classes)[0]
            guess = proba.argmax(axis=1)
            correct += int((guess == truth[scored]).sum())
            scored_truth.append(truth[scored])
            guessed.append(guess)
    if config.metric != "accuracy":
        return Metrics(np.concatenate(scored_truth), np.concatenate(guessed), n_classes).score(config.metric)
    return correct / int(known.sum())


# --------------------------------------------------------------------------- summary
def paired_test(a: Sequence[float], b: Sequence[float]) -> dict:
    """Wilcoxon signed-rank test of paired per-seed values; refuses a verdict with too few seeds."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = len(a)
    wins = int((a > b).sum())
    out = {"n_seeds": n, "wins": wins, "mean_difference": float((a - b).mean()) if n else float("nan"),
           "p_value": None}
    if n < MIN_SEEDS_FOR_TEST:
        out["verdict"] = (f"too few seeds ({n}) for a significance claim: with {n} paired seeds the smallest "
                          f"possible two-sided p-value is {2 / 2 ** n:.3g}; use {MIN_SEEDS_FOR_TEST} or more")
        return out
    if np.allclose(a, b, rtol=0, atol=1e-12):
        out["verdict"] = "identical on every seed"
        return out
    p = float(wilcoxon(a, b).pvalue)
    out["p_value"] = p
    out["verdict"] = (f"significant at the 5% level (Wilcoxon p={p:.3g})" if p < 0.05
                      else f"not distinguishable from noise (Wilcoxon p={p:.3g})")
    return out


@dataclass(frozen=True)
class StrategySummary:
    strategy: str
    labels: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    aulc_mean: float
    aulc_std: float
    final_mean: float
    final_std: float
    labels_to_target: int | None
    saved_vs_random: int | None
    headline: str
    test_vs_random: dict | None
    per_seed_aulc: tuple[float, ...] = field(default=())
    verdict: str | None = None  # vs random: 'better', 'no detectable difference', 'worse' (alsim.evidence.verdict)
    aulc_difference: float | None = None  # mean per-seed AULC minus random's
    aulc_difference_ci: tuple[float, float] | None = None  # bootstrap 95% interval of that mean
    p_holm: float | None = None  # Wilcoxon p-value, Holm-adjusted across the strategies
    stops: tuple[dict, ...] = ()  # per stopping rule, means over seeds (see stop_summary)


@dataclass(frozen=True)
class Summary:
    """A comparison's numbers, and what the features can reach beside them.

    ``ceiling`` is the accuracy of the model with every label and ``chance`` the largest
    class's share (:mod:`alsim.evidence.ceiling`); ``warning`` says in plain words when the
    ceiling or every strategy's final accuracy is near chance (:mod:`alsim.evidence.chance`).
    Then verdicts are still computed, but a "better" one is not evidence and is never
    presented as a success.
    """

    target: float
    target_rule: str
    n_seeds: int
    strategies: tuple[StrategySummary, ...]
    ceiling: float | None = None
    chance: float | None = None
    warning: str | None = None
    metric: str = "accuracy"  # what the curves measure (Config.metric)
    #: The ceiling with every label as noisy simulated annotators give it (:attr:`alsim.evidence.ceiling.
    #: Ceiling.annotators`, for the base config's seed), or None.
    annotators: float | None = None
    axis: str = "labels"  # what their x is: revealed labels, or the labeling cost spent

    @property
    def metric_name(self) -> str:
        """The metric in words (``'balanced accuracy'``)."""
        return METRIC_NAMES.get(self.metric, self.metric)

    def shown_verdict(self, s: StrategySummary) -> str | None:
        """A strategy's verdict as pages and reports show it: "better" is qualified when accuracy is near chance."""
        if s.verdict == BETTER and self.warning:
            return f"{BETTER}, but not evidence ({self.metric_name} near chance)"
        return s.verdict

    def ceiling_sentence(self) -> str | None:
        """``'ceiling 97.9% (the model with every label), chance 10.2%'``, or None without a ceiling."""
        if self.chance is None:
            return None
        return ceiling_sentence(self.ceiling, self.chance, self.annotators)

    def bands(self) -> dict[str, dict]:
        """Input for :func:`alsim.report.plots.band_curves` (mean ± one standard deviation)."""
        return {s.strategy: {"x": s.labels, "mean": s.mean, "low": np.subtract(s.mean, s.std).tolist(),
                             "high": np.add(s.mean, s.std).tolist()} for s in self.strategies}

    def table(self) -> list[dict]:
        amount = "cost" if self.axis == "cost" else "labels"
        return [{
            "strategy": s.strategy, "AULC": s.aulc_mean, "AULC std": s.aulc_std, f"final {self.metric_name}": s.final_mean,
            "final std": s.final_std, f"{amount} to {self.target:.3f}": s.labels_to_target,
            f"{amount} saved vs random": s.saved_vs_random,
            "one test vs random (unadjusted)": None if s.test_vs_random is None else s.test_vs_random["verdict"],
            "verdict vs random": self.shown_verdict(s), "AULC difference": s.aulc_difference,
            "95% CI": None if s.aulc_difference_ci is None else
            f"[{s.aulc_difference_ci[0]:+.4f}, {s.aulc_difference_ci[1]:+.4f}]",
            "Holm p": s.p_holm,
        } for s in self.strategies]

    def to_dict(self) -> dict:
        return {"target": self.target, "target_rule": self.target_rule, "n_seeds": self.n_seeds,
                "ceiling": self.ceiling, "chance": self.chance, "warning": self.warning, "metric": self.metric,
                "annotators": self.annotators, "axis": self.axis, "strategies": [s.__dict__ for s in self.strategies]}


def _aligned(curves: Sequence[Curve], axis: str = "labels") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Curves of one strategy cut to their common length (a pool may run out earlier), and before
    rounds that scored nothing (the last round labeled the whole pool and the score is on the
    still-unlabeled pool), as a single run shows its last scored round.

    Returns the shared x (labels; or, on the cost axis, the mean cost over the seeds at each
    round, since each seed spends its own), the scores (seeds, rounds) and each seed's own x.
    """
    length = min(scored_length(c.accuracy) for c in curves)
    own = np.array([c.x(axis)[:length] for c in curves], dtype=float)
    x = np.asarray(curves[0].labels[:length]) if axis != "cost" else own.mean(axis=0)
    return x, np.array([c.accuracy[:length] for c in curves]), own


def summarize(curves: Sequence[Curve], target: float | None = None, full_accuracy: float | None = None,
              target_fraction: float = 0.95, ceiling=None, axis: str = "labels", metric: str = "accuracy") -> Summary:
    """Bands, AULC, final accuracy, labels to a target and label savings against random.

    The default target is ``target_fraction`` of ``full_accuracy`` (the accuracy with every
    label known; default ``ceiling.ceiling``); without either, of the best mean final
    accuracy of any strategy.

    ``ceiling`` (an :class:`alsim.evidence.ceiling.Ceiling`) puts the ceiling, chance and
    their warning in the summary; the warning also applies when the best strategy's mean
    final accuracy is near chance (:func:`alsim.evidence.chance.curves_warning`). With a
    warning, no headline claims a saving against random.

    ``axis='cost'`` measures every curve against the labeling cost spent instead of the
    labels (each seed's AULC over its own cost; the band's x is the mean cost per round);
    then "labels to target" and "saved vs random" are in cost. ``metric`` names what the
    curves' values are (:attr:`Curve.accuracy` holds the config's metric).
    """
    if axis not in AXES:
        raise ConfigError(f"axis must be one of {', '.join(AXES)}, got {axis!r}")
    words = METRIC_NAMES.get(metric, metric)
    strategies = list(dict.fromkeys(c.strategy for c in curves))
    grouped = {s: sorted([c for c in curves if c.strategy == s], key=lambda c: c.seed) for s in strategies}
    stats = {}
    for s, group in grouped.items():
        x, acc, own = _aligned(group, axis)
        stats[s] = (x, acc, np.array([aulc(xs, row) for xs, row in zip(own, acc)]))
    if full_accuracy is None and ceiling is not None:
        full_accuracy = ceiling.ceiling  # None when not measured
    warning = None
    if ceiling is not None:
        finals = [acc[:, -1].mean() for _, acc, _ in stats.values()]
        warning = ceiling.warning or curves_warning(finals, ceiling.chance, ceiling.n, ceiling.floor)
    near = None
    if warning is not None:
        gives = "" if ceiling.ceiling is None else f"every label gives {100 * ceiling.ceiling:.1f}%, "
        relation = chance_words(max(finals), ceiling.floor, ceiling.n)
        near = f"{words} stays {relation} ({gives}chance is {100 * ceiling.chance:.1f}%)"
    if target is None:
        if full_accuracy is not None:
            target, rule = target_fraction * full_accuracy, (
                f"{target_fraction:.0%} of the fully labeled {words} {full_accuracy:.4f}")
        else:
            best = max(acc[:, -1].mean() for _, acc, _ in stats.values())
            target, rule = target_fraction * best, f"{target_fraction:.0%} of the best final mean {words} {best:.4f}"
    else:
        rule = "chosen by the user"
    reach = {s: _reach(x, acc.mean(axis=0), target, axis) for s, (x, acc, _) in stats.items()}

    judged = verdicts({s: {c.seed: a for c, a in zip(grouped[s], stats[s][2])} for s in strategies})
    out = []
    for s, (x, acc, areas) in stats.items():
        mean, std = acc.mean(axis=0), acc.std(axis=0, ddof=1) if len(acc) > 1 else np.zeros(acc.shape[1])
        saved, test, headline = None, None, _headline(s, reach, target, _x_value(x[-1], axis), judged.get(s), near,
                                                      axis)
        if s != "random" and "random" in stats:
            if reach[s] is not None and reach["random"] is not None:
                saved = reach["random"] - reach[s]
            rx, racc, rareas = stats["random"]
            pairs = {c.seed: a for c, a in zip(grouped["random"], rareas)}
            mine = {c.seed: a for c, a in zip(grouped[s], areas)}
            common = sorted(set(pairs) & set(mine))
            test = paired_test([mine[k] for k in common], [pairs[k] for k in common])
        out.append(StrategySummary(
            strategy=s, labels=tuple(_x_value(v, axis) for v in x), mean=tuple(mean.tolist()), std=tuple(std.tolist()),
            aulc_mean=float(areas.mean()), aulc_std=float(areas.std(ddof=1)) if len(areas) > 1 else 0.0,
            final_mean=float(acc[:, -1].mean()), final_std=float(acc[:, -1].std(ddof=1)) if len(acc) > 1 else 0.0,
            labels_to_target=reach[s], saved_vs_random=saved, headline=headline, test_vs_random=test,
            per_seed_aulc=tuple(areas.tolist()),
            verdict=None if s not in judged else judged[s].verdict,
            aulc_difference=None if s not in judged else judged[s].mean_difference,
            aulc_difference_ci=None if s not in judged or not np.all(np.isfinite(judged[s].interval))
            else judged[s].interval,
            p_holm=None if s not in judged else judged[s].p_holm,
            stops=stop_summary(grouped[s])))
    return Summary(target=float(target), target_rule=rule, n_seeds=len(next(iter(grouped.values()))),
                   strategies=tuple(out), ceiling=None if ceiling is None or ceiling.ceiling is None
                   else float(ceiling.ceiling),
                   chance=None if ceiling is None else float(ceiling.chance), warning=warning, metric=metric, axis=axis,
                   annotators=None if ceiling is None else ceiling.annotators)


AXES = ("labels", "cost")


def _x_value(value, axis: str):
    """A point of the x axis: a label count, or a cost (4 significant digits are all a page shows)."""
    return int(value) if axis == "labels" else float(value)


def _reach(x: np.ndarray, mean: np.ndarray, target: float, axis: str):
    """The first x at which a mean curve reaches ``target`` (None if never): labels, or cost."""
    if axis == "labels":
        return labels_to_reach(x, mean, target)
    reached = np.flatnonzero(np.asarray(mean) >= target - 1e-12)
    return None if len(reached) == 0 else float(x[reached[0]])


def target_note(summary) -> str:
    """``''``, or a clause saying the target is above the ceiling (what the model reaches with every label)."""
    if summary.ceiling is None or not summary.target > summary.ceiling:
        return ""
    return (f"; above the ceiling ({summary.ceiling:.4f}, the model cross-validated with every label): a curve "
            f"scored on the shrinking unlabeled pool can still pass it, but that says more about the pool left "
            f"than about the strategy")


def interval_text(interval: tuple[float, float] | None) -> str:
    """``'95% interval [+0.0101, +0.0188]'``, or why there is none (one seed has no spread to resample)."""
    if interval is None:
        return f"no interval from fewer than {MIN_INTERVAL_SEEDS} seeds"
    return f"95% interval [{interval[0]:+.4f}, {interval[1]:+.4f}]"


def _finite_mean(values: Sequence[float]) -> float:
    """The mean of the finite values (a seed whose stopping round scored nothing is left out); nan if none."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def stop_summary(curves: Sequence[Curve]) -> tuple[dict, ...]:
    """Per stopping rule over one strategy's seeds: where it stops, accuracy then, final, labels saved.

    A seed on which a rule never fires counts as stopping at its last round (nothing
    saved); ``fired`` says on how many seeds the rule did fire.
    """
    rules = list(dict.fromkeys(stop["rule"] for c in curves for stop in c.stops))
    out = []
    for rule in rules:
        pairs = [(c, next(stop for stop in c.stops if stop["rule"] == rule)) for c in curves
                 if any(stop["rule"] == rule for stop in c.stops)]
        rows = [r for _, r in pairs]
        fired = [r for r in rows if r["round"] is not None]
        at = [r["n_labeled"] if r["round"] is not None else r["final_n_labeled"] for r in rows]
        # "final" is the last scored round, as in the summary's table (a last round that labeled the whole
        # pool scored nothing); a seed where the rule does not fire stops there too.
        final = [c.accuracy[scored_length(c.accuracy) - 1] if c.accuracy else r["final_accuracy"]
                 for c, r in pairs]
        then = [r["accuracy"] if r["round"] is not None else f for r, f in zip(rows, final)]
        saved = [r["final_n_labeled"] - a for r, a in zip(rows, at)]
        row = {"rule": rule, "description": rows[0]["description"], "fired": len(fired), "n_seeds": len(rows),
               "stops_at": float(np.mean(at)), "accuracy_then": _finite_mean(then),
               "final_accuracy": _finite_mean(final), "labels_saved": float(np.mean(saved)),
               "metric": rows[0].get("metric", "accuracy"), "unit_cost": rows[0].get("unit_cost", True)}
        if all(r.get("final_cost") is not None for r in rows):
            row["cost_at"] = float(np.mean([r["cost"] if r["round"] is not None else r["final_cost"] for r in rows]))
            row["cost_saved"] = float(np.mean([r["final_cost"] - (r["cost"] if r["round"] is not None
                                                                   else r["final_cost"]) for r in rows]))
        out.append(row)
    return tuple(out)


def stop_sentence(stop: dict) -> str:
    """"stops at N labels, accuracy then X, final Y, labels saved Z" (means over seeds)."""

    metric = METRIC_NAMES.get(stop.get("metric", "accuracy"), "accuracy")
    saved = (f"labels saved {stop['labels_saved']:.0f}" if stop.get("unit_cost", True) or "cost_saved" not in stop
             else f"cost saved {stop['cost_saved']:.4g}")
    def score(value: float) -> str:  # a round that labeled the whole pool scored nothing on it
        return f"{value:.4f}" if math.isfinite(value) else NOTHING_LEFT

    return (f"{RULE_NAMES.get(stop['rule'], stop['rule'])} ({stop['description']}): stops at "
            f"{stop['stops_at']:.0f} labels, {metric} then {score(stop['accuracy_then'])}, final "
            f"{score(stop['final_accuracy'])}, {saved}{below_final(stop['accuracy_then'], stop['final_accuracy'])} "
            f"(fired on {stop['fired']}/{stop['n_seeds']} seeds)")


def _headline(strategy: str, reach: dict, target: float, max_labels, verdict=None,
              near_chance: str | None = None, axis: str = "labels") -> str:
    """One sentence: labels to the target, and a saving against random only when the verdict is "better".

    Without a significant AULC gain (Holm-adjusted Wilcoxon, :mod:`alsim.evidence.verdict`) a
    difference in labels to the target between mean curves is not called a saving; nor with
    one when ``near_chance`` (a clause saying accuracy stays near chance) is given. On the
    cost axis (``axis='cost'``) the amounts are labeling cost and a saving is "cost saved".
    """
    def amount(value) -> str:
        return f"{value} labels" if axis == "labels" else f"cost {value:.4g}"

    def at(value) -> str:
        return f"with {value} labels" if axis == "labels" else f"at cost {value:.4g}"

    def within(value) -> str:
        return f"within {value} labels" if axis == "labels" else f"within cost {value:.4g}"

    def diff(value) -> str:
        return f"{value}" if axis == "labels" else f"{value:.4g}"

    saved_word = "labels saved" if axis == "labels" else "cost saved"
    mine = reach.get(strategy)
    if near_chance is not None and strategy != "random" and "random" in reach:
        if mine is None:
            return (f"{strategy} does not reach {target:.3f} {within(max_labels)}; {near_chance}, so no "
                    f"difference against random is evidence")
        other = reach["random"]
        needs = "random does not reach it" if other is None else f"random needs {diff(other)}"
        return (f"{strategy} reaches {target:.3f} {at(mine)}; {needs}, but {near_chance}, so a difference "
                f"against random is not evidence: no saving is claimed")
    if mine is None:
        text = f"{strategy} does not reach {target:.3f} {within(max_labels)}"
        if verdict is not None and verdict.verdict != "better":
            text += f"; AULC vs random: {verdict.verdict} (Holm-adjusted p={verdict.p_holm:.3g})"
        return text
    text = f"{strategy} reaches {target:.3f} {at(mine)}"
    if strategy == "random" or "random" not in reach:
        return text
    other = reach["random"]
    if verdict is not None and verdict.verdict != "better" and (other is None or other > mine):
        needs = "random does not reach it" if other is None else f"random needs {diff(other)}"
        return (f"{text}; {needs}, but the AULC difference against random is not significant "
                f"(Holm-adjusted p={verdict.p_holm:.3g}): no saving is claimed" if verdict.verdict != "worse" else
                f"{text}; {needs}, yet over the whole curve it is worse than random "
                f"(Holm-adjusted p={verdict.p_holm:.3g})")
    if other is None:
        return (f"{text}; random does not reach it {within(max_labels)} (saves more than "
                f"{diff(max_labels - mine)})")
    if other > mine:
        return f"{text}; random needs {diff(other)}: {diff(other - mine)} {saved_word} ({(other - mine) / other:.0%})"
    if other == mine:
        return f"{text}; so does random: no {saved_word}"
    more = f"{mine - other} more labels" if axis == "labels" else f"{mine - other:.4g} more cost"
    return f"{text}; random needs only {diff(other)}: {more} than random"


# --------------------------------------------------------------------------- CLI
DEFAULT_SEEDS_SMALL, DEFAULT_SEEDS_LARGE = 20, 5
