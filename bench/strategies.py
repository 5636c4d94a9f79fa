"""Benchmark of the feature-space and committee strategies: alsim against scikit-activeml.

    python -m pip install -r bench/requirements.txt
    python bench/strategies.py [--seeds 20] [--strategies coreset,qbc]   # digits-compare: vs scikit-activeml
    python bench/strategies.py --fashion                # Fashion-MNIST: one query round per strategy

Digits: the work the Compare page runs by default, preset ``digits-compare`` (all 1,797
digits, raw pixels, label spreading rbf gamma 0.25, 40 random initial labels, batch 10,
11 fits = 10 query rounds), ``--seeds`` seeds (default 20), one process. Each strategy runs
through alsim's own loop (:func:`alsim.evidence.compare.run_comparison`, one seed at a time as the
Compare page runs it) twice, in lockstep under each seed: once as alsim's strategy and once
as a reference registered in this process (``skactiveml-<name>``) that calls
scikit-activeml on the same :class:`~alsim.strategies.QueryContext`: the pool's features,
the revealed labels, the probabilities of the run's label-spreading model, the batch size
and a seed drawn from the run's generator. Both registered functions are wrapped by a timer;
only the 10 query calls of a run are timed (the stopping round's scores-only call, ``k=0``,
is not a query: the reference answers it with no scores), summed per run. Printed: the
median over seeds of that per-run time for each side, the ratio alsim / reference, each
side's first run (it holds the cold start), and each side's mean AULC and final accuracy.

What each side keeps between calls, as its library allows in such a workflow:

- alsim: its shared per-pool caches (ProbCover's delta and graph, Cluster-Margin's
  clustering, density's mean similarity, norms: values that depend on the pool only) live
  across rounds and seeds as in the Compare page; they are emptied once before each
  strategy, so the first (cold) query is in the timings; per-run state
  (``params["strategy_state"]``: core-set's distances, TypiClust's last clustering, which
  the next round's k-means starts from) lives for one run.
- scikit-activeml: one ``ProbCover`` object serves every round and seed (it keeps
  ``delta_max_`` and the n x n distances for the same X; only its tie-break seed is set per
  query); every other query strategy keeps nothing that depends on the labels, so it is
  built per query (its constructor only stores parameters).

References:

- ``coreset`` vs ``CoreSet``: k-center greedy is deterministic up to ties, and digits'
  integer pixels make exact ties common (equal squared distances), which each side breaks
  with its own generator. Asserted (:func:`_coreset_check`): a seed's picks and curve are
  identical until the first differing pick, and that pick is an exact tie (both at the
  largest distance to the revealed points and earlier picks);
- ``typiclust`` vs ``TypiClust(k=typiclust_neighbors)``: scikit-learn ``KMeans`` into |L| + 10
  clusters every query;
- ``probcover`` vs ``ProbCover(alpha=probcover_purity)`` with a delta grid in steps of 0.5 up
  to 60 (the default grid 0.2..2.0 is for unit-scale embeddings: on raw pixels, 0-16, every
  ball would hold only its centre);
- ``badge`` vs ``Badge`` with a classifier whose ``predict_proba`` returns the run's
  probabilities (:class:`_RunProba`), so neither side fits a model;
- ``density``: no scikit-activeml counterpart; the textbook computation of Settles and
  Craven's density, the O(n^2) mean of scikit-learn's ``cosine_similarity`` over the pool,
  recomputed each query, times the entropy, top 10 by alsim's tie-break (modAL's
  ``information_density`` also forms the n x n matrix, of ``1 / (1 + distance)``);
- ``qbc`` vs ``QueryByCommittee(method="vote_entropy")`` with a 5-member bootstrap committee
  of the run's model, ``SklearnClassifier(BaggingClassifier(LabelSpreading(rbf, gamma,
  alpha, max_iter, tol), n_estimators=5))``, fitted every query (the wrapper passes only the
  labeled points, so its members spread over their bootstrap sample; alsim's members spread
  over the whole pool's graph);
- ``cluster_margin``: no counterpart; ``UncertaintySampling(method="margin_sampling")``,
  plain margin, with :class:`_RunProba`.

Fashion-MNIST (60,000 HOG vectors, ``linear_svc_newton`` on 600 stratified labels, batch
100): each strategy runs in its own subprocess; it prints the time of a first (cold: builds
any per-pool structure such as ProbCover's graph) and a second query, and the process's
peak resident memory (``resource.getrusage``) before and after.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alsim import Config, get_preset  # noqa: E402
from alsim.learn.models import fit_supervised  # noqa: E402
from alsim.loop.pool import initial_labels, prepare  # noqa: E402
from alsim.strategies import Query, QueryContext, run_strategy  # noqa: E402

NEW = ("coreset", "typiclust", "probcover", "badge", "density", "qbc", "cluster_margin")


def _context(config, prepared, train, proba, seed=0, k=10, model_state=None):
    status = (train >= 0).astype(np.int8)
    return QueryContext(proba=proba, features=prepared.features, status=status,
                        candidates=np.flatnonzero(status == 0), k=k, rng=np.random.default_rng(seed),
                        params={"config": config, "train_labels": train, "model_state": model_state or {}})


# --------------------------------------------------------------------------- digits-compare


def _run_proba_classifier():
    """A scikit-activeml classifier whose ``predict_proba`` returns the run's probabilities.

    Badge and UncertaintySampling ask their classifier for the probabilities of the
    candidates (``X[candidates]``, in order); this one returns the rows it was given, so
    the reference scores exactly the run's model without fitting one.
    """
    from skactiveml.base import SkactivemlClassifier

    class _RunProba(SkactivemlClassifier):
        def __init__(self, proba=None, classes=None, missing_label=np.nan):
            super().__init__(classes=classes, missing_label=missing_label)
            self.proba = proba

        def fit(self, X, y, sample_weight=None):
            return self

        def predict_proba(self, X):
            if len(X) != len(self.proba):
                raise ValueError(f"asked for {len(X)} rows, holds {len(self.proba)}")
            return self.proba

    return _RunProba


def _references(base: Config) -> dict:
    """name -> (what the reference is, strategy(context) -> Query) on scikit-activeml 1.0."""
    import skactiveml.pool as pool
    from scipy.special import entr
    from skactiveml.classifier import SklearnClassifier
    from sklearn.ensemble import BaggingClassifier
    from sklearn.metrics.pairwise import cosine_similarity
    from sklearn.semi_supervised import LabelSpreading

    from alsim.strategies import select
    from alsim.strategies.common import seed_from

    run_proba = _run_proba_classifier()
    classes = np.arange(10)
    probcover = pool.ProbCover(alpha=base.value("probcover_purity"), n_classes=10, deltas=np.arange(0.5, 60.01, 0.5))

    def query(strategy, context, **kwargs):
        train = context.params["train_labels"]
        y = np.where(train >= 0, train, np.nan)
        ids = strategy.query(context.features, y, candidates=context.candidates, batch_size=context.k, **kwargs)
        return Query(np.asarray(ids, dtype=np.int64), None, "")

    def coreset(context):
        return query(pool.CoreSet(random_state=seed_from(context.rng)), context)

    def typiclust(context):
        return query(pool.TypiClust(k=base.value("typiclust_neighbors"), random_state=seed_from(context.rng)), context)

    def prob_cover(context):
        probcover.set_params(random_state=seed_from(context.rng))  # the tie-break; delta_max_ is kept
        return query(probcover, context)

    def badge(context):
        clf = run_proba(context.proba[context.candidates], classes=classes)
        return query(pool.Badge(random_state=seed_from(context.rng)), context, clf=clf, fit_clf=False)

    def density(context):
        similarity = cosine_similarity(context.features).mean(axis=1)
        scores = entr(context.proba).sum(axis=1) * similarity
        return Query(select(scores, context.candidates, context.k, context.rng), scores, "information density")

    def qbc(context):
        seed = seed_from(context.rng)
        member = LabelSpreading(kernel="rbf", gamma=base.gamma, alpha=base.alpha, max_iter=base.max_iter,
                                tol=base.tol)
        ensemble = SklearnClassifier(BaggingClassifier(member, n_estimators=base.value("committee_size"), random_state=seed),
                                     classes=classes)
        return query(pool.QueryByCommittee(method="vote_entropy", random_state=seed), context, ensemble=ensemble)

    def cluster_margin(context):
        clf = run_proba(context.proba[context.candidates], classes=classes)
        return query(pool.UncertaintySampling(method="margin_sampling", random_state=seed_from(context.rng)),
                     context, clf=clf, fit_clf=False)

    return {
        "coreset": ("CoreSet", coreset),
        "typiclust": (f"TypiClust(k={base.value('typiclust_neighbors')})", typiclust),
        "probcover": ("ProbCover (one object)", prob_cover),
        "badge": ("Badge", badge),
        "density": ("mean cosine_similarity (n x n) x entropy", density),
        "qbc": ("QueryByCommittee(bagged LabelSpreading)", qbc),
        "cluster_margin": ("UncertaintySampling(margin)", cluster_margin),
    }


class _Log:
    """Seconds of the timed strategy calls per (strategy id, seed), and the picks of each call."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.picks = defaultdict(list)
        self.revealed = defaultdict(list)

    def timed(self, name, function, answers_scores_only=True):
        def strategy(context: QueryContext) -> Query:
            if context.k == 0:  # the stopping round asks for scores only: not a query
                return function(context) if answers_scores_only else Query(np.zeros(0, np.int64), None, "")
            seed = context.params["config"].seed
            start = time.perf_counter()
            result = function(context)
            self.seconds[(name, seed)] += time.perf_counter() - start
            self.picks[(name, seed)].append(np.asarray(result.ids).tolist())
            self.revealed[(name, seed)].append(np.flatnonzero(context.revealed))
            return result
        strategy.__name__ = name
        return strategy


def _coreset_check(base: Config, log: _Log, mine: str, theirs: str, seeds, curves) -> str:
    """Identical curves, or a first differing pick that is an exact tie of k-center greedy.

    k-center greedy is deterministic up to ties, and digits' integer pixels make ties
    common (equal squared distances); each side breaks them with its own generator. Where
    the picks of a seed first differ, both picks must be at the largest distance to the
    revealed points and the picks before them; from there the runs go separate ways.
    """
    features = prepare(base).features
    same, tied = 0, []
    for s in seeds:
        ours, refs = log.picks[(mine, s)], log.picks[(theirs, s)]
        if ours == refs:
            assert curves[(mine, s)].accuracy == curves[(theirs, s)].accuracy, f"same picks, other curve (seed {s})"
            same += 1
            continue
        r = next(r for r in range(len(ours)) if ours[r] != refs[r])
        i = next(i for i in range(len(ours[r])) if ours[r][i] != refs[r][i])
        revealed = log.revealed[(mine, s)][r]
        assert np.array_equal(revealed, log.revealed[(theirs, s)][r]), f"revealed sets differ before round {r}"
        centres = np.concatenate([revealed, ours[r][:i]]).astype(np.int64)
        candidates = np.setdiff1d(np.arange(len(features)), centres)
        diff = features[candidates][:, None, :] - features[centres][None, :, :]
        distance = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff).min(axis=1))
        at = dict(zip(candidates.tolist(), distance))
        top = distance.max()
        assert at[ours[r][i]] == at[refs[r][i]] == top, (
            f"coreset seed {s}, query {r}, pick {i}: {ours[r][i]} at {at[ours[r][i]]}, reference {refs[r][i]} at "
            f"{at[refs[r][i]]}, farthest {top}: not a tie")
        tied.append(f"{s}:{r + 1}.{i + 1}")
    text = f"coreset: identical picks and curves on {same} of {len(seeds)} seeds"
    if tied:
        text += (f"; on the other {len(tied)} the first differing pick is an exact tie of k-center greedy (both at "
                 "the largest distance; each side breaks ties with its own generator), at seed:query.pick "
                 + ", ".join(tied))
    return text


def digits(n_seeds: int, names=NEW) -> None:
    from alsim.common.runtime import configure_process
    from alsim.evidence.compare import run_comparison
    from alsim.learn.metrics import aulc
    from alsim.storage.memory import shared_cache
    from alsim.strategies import get_strategy, register

    configure_process()  # one BLAS and OpenMP thread, as the command line and the dashboard run
    warnings.filterwarnings("ignore")
    base = get_preset("digits-compare")
    prepare(base)
    references = _references(base)
    log = _Log()
    for name in names:
        info = get_strategy(name)
        register(f"alsim-{name}", info.description, info.needs_features)(log.timed(f"alsim-{name}", info.function))
        register(f"skactiveml-{name}", references[name][0], info.needs_features)(
            log.timed(f"skactiveml-{name}", references[name][1], answers_scores_only=False))

    print(f"# digits-compare: 1,797 points x 64, label spreading, 40 random labels, batch 10, 10 queries per run, "
          f"{n_seeds} seeds, one process; seconds of the strategy calls per run (median over seeds, and the first "
          "run, which holds the cold start); ratio alsim / reference")
    print(f"{'strategy':>15} {'alsim s':>8} {'ref s':>8} {'ratio':>7} {'alsim 1st':>9} {'ref 1st':>8} "
          f"{'AULC alsim':>10} {'ref':>7} {'final alsim':>11} {'ref':>7}  reference")
    checks = []
    for name in names:
        mine, theirs = f"alsim-{name}", f"skactiveml-{name}"
        shared_cache("values").clear()  # alsim's first query is cold (the spreading graph is rebuilt untimed)
        shared_cache("graphs").clear()
        curves = [c for batch in run_comparison(base, [mine, theirs], n_seeds) for c in batch]
        seeds = sorted({c.seed for c in curves})
        by = {(c.strategy, c.seed): c for c in curves}
        times = {side: [log.seconds[(side, s)] for s in seeds] for side in (mine, theirs)}
        areas = {side: np.mean([aulc(by[(side, s)].labels, by[(side, s)].accuracy) for s in seeds])
                 for side in (mine, theirs)}
        final = {side: np.mean([by[(side, s)].accuracy[-1] for s in seeds]) for side in (mine, theirs)}
        median = {side: statistics.median(times[side]) for side in (mine, theirs)}
        print(f"{name:>15} {median[mine]:8.4f} {median[theirs]:8.4f} {median[mine] / median[theirs]:7.3f} "
              f"{times[mine][0]:9.4f} {times[theirs][0]:8.4f} {areas[mine]:10.4f} {areas[theirs]:7.4f} "
              f"{final[mine]:11.4f} {final[theirs]:7.4f}  {references[name][0]}", flush=True)
        if name == "coreset":
            checks.append(_coreset_check(base, log, mine, theirs, seeds, by))
    for line in checks:
        print(line)


# --------------------------------------------------------------------------- Fashion-MNIST

FASHION = Config(dataset="fashion-mnist", features="hog", model="linear_svc_newton", initial="stratified",
                 n_initial=600, batch_size=100, n_rounds=2, evaluation="test")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def fashion_one(name: str) -> dict:
    """One strategy's two queries on Fashion-MNIST, run in this (fresh) process.

    The process is set up as the command line and the dashboard set theirs up
    (:func:`alsim.common.runtime.configure_process`: one BLAS thread unless ALSIM_BLAS_THREADS says otherwise).
    """
    from alsim.common.runtime import configure_process

    configure_process()
    config = FASHION.replace(strategy=name)
    prepared = prepare(config)
    y = prepared.labels
    train = np.full(len(y), -1)
    first = initial_labels(config, y, prepared.n_classes)
    train[first] = y[first]
    state: dict = {}  # the run's weights, as the loop keeps them between rounds
    proba = fit_supervised(config.model, config.C, 0, prepared.features[first], y[first], [prepared.features],
                           prepared.n_classes, state=state)[0]
    before = _peak_mib()
    times = []
    for seed in (0, 1):
        context = _context(config, prepared, train, proba, seed=seed, k=config.batch_size, model_state=state)
        start = time.perf_counter()
        run_strategy(name, context)
        times.append(time.perf_counter() - start)
    return {"strategy": name, "first_s": times[0], "second_s": times[1], "peak_before_mib": before,
            "peak_after_mib": _peak_mib()}


def fashion(names) -> None:
    print("# Fashion-MNIST: 60,000 HOG vectors (324), linear_svc_newton on 600 stratified labels, batch 100; "
          "one subprocess per strategy")
    print(f"{'strategy':>15} {'1st query s':>12} {'2nd query s':>12} {'peak RSS before MiB':>20} "
          f"{'peak RSS after MiB':>19}")
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--fashion-one", name], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{name:>15} failed: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name:>15} {r['first_s']:12.3f} {r['second_s']:12.3f} {r['peak_before_mib']:20.0f} "
              f"{r['peak_after_mib']:19.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="digits: seeds (runs) per strategy and side")
    parser.add_argument("--fashion", action="store_true")
    parser.add_argument("--fashion-one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--strategies", default=None,
                        help=f"comma-separated; digits: among {','.join(NEW)} (default: all), Fashion-MNIST: "
                             "also entropy and random (default: all of them)")
    args = parser.parse_args()
    if args.fashion_one:
        print(json.dumps(fashion_one(args.fashion_one)))
    elif args.fashion:
        fashion([s for s in (args.strategies or ",".join(("entropy", "random") + NEW)).split(",") if s])
    else:
        names = [s for s in (args.strategies or ",".join(NEW)).split(",") if s]
        unknown = [s for s in names if s not in NEW]
        if unknown:
            parser.error(f"--strategies must be among {', '.join(NEW)} on digits, got {', '.join(unknown)}")
        digits(args.seeds, names)


if __name__ == "__main__":
    main()
