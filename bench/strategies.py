"""Benchmark of the feature-space and committee strategies: alsim against scikit-activeml.

    python -m pip install -r bench/requirements.txt
    python bench/strategies.py [--repeats 3]            # digits: alsim vs scikit-activeml
    python bench/strategies.py --fashion                # Fashion-MNIST: one query round per strategy

Digits (the ``digits-compare`` work: all 1,797 digits, raw pixels, 40 random labels of seed
0, batch 10): each strategy's query is timed against scikit-activeml 1.0's on the same
features, labeled set and probabilities, in one process; medians over the repeats and the
ratio alsim / reference. Where the two must agree the picks are compared:

- ``coreset`` vs ``CoreSet``: the same 10 points (same tie-break seed is not needed: no ties);
- ``typiclust`` vs ``TypiClust(k=5)``: timed with their own k-means each; equal picks given the
  same k-means are asserted in ``tests/test_strategies_diversity.py``;
- ``probcover`` vs ``ProbCover``: delta by purity (ours exact on a sample, theirs on a grid);
- ``badge`` vs ``Badge`` and ``cluster_margin`` vs ``UncertaintySampling(margin)``: the same
  fitted logistic regression (``fit_clf=False``); badge's first pick must agree;
- ``qbc`` vs ``QueryByCommittee(vote_entropy)`` with a bagged logistic regression of 5;
- ``density``: no scikit-activeml counterpart; against the O(n^2) mean of scikit-learn's
  ``cosine_similarity`` (modAL's ``information_density``), values must agree.

Fashion-MNIST (60,000 HOG vectors, ``linear_svc_newton`` on 600 stratified labels, batch
100): each strategy runs in its own subprocess; it prints the time of a first (cold: builds
any per-pool structure such as ProbCover's graph) and a second query, and the process's
peak resident memory (``resource.getrusage``) before and after.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from alsim import Config, get_preset  # noqa: E402
from alsim.cache import shared_cache  # noqa: E402
from alsim.loop import initial_labels, prepare  # noqa: E402
from alsim.models import fit_supervised  # noqa: E402
from alsim.strategies import QueryContext, run_strategy  # noqa: E402
from timing import median_time  # noqa: E402

NEW = ("coreset", "typiclust", "probcover", "badge", "density", "qbc", "cluster_margin")


def _digits_setup():
    config = get_preset("digits-compare").replace(model="logistic_regression", typiclust_neighbors=5)
    prepared = prepare(config)
    y = prepared.labels
    train = np.full(len(y), -1)
    first = initial_labels(config, y, prepared.n_classes)
    train[first] = y[first]
    proba = fit_supervised("logistic_regression", 1.0, 0, prepared.features[first], y[first], [prepared.features],
                           prepared.n_classes)[0]
    return config, prepared, train, proba


def _context(config, prepared, train, proba, seed=0, k=10, model_state=None):
    status = (train >= 0).astype(np.int8)
    return QueryContext(proba=proba, features=prepared.features, status=status,
                        candidates=np.flatnonzero(status == 0), k=k, rng=np.random.default_rng(seed),
                        params={"config": config, "train_labels": train, "model_state": model_state or {}})


def digits(repeats: int) -> None:
    import skactiveml.pool as pool
    from skactiveml.classifier import SklearnClassifier
    from sklearn.ensemble import BaggingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics.pairwise import cosine_similarity

    from alsim.runtime import configure_process

    configure_process()  # one BLAS and OpenMP thread, as the CLI and the dashboard run; both sides share it
    warnings.filterwarnings("ignore")
    config, prepared, train, proba = _digits_setup()
    X = prepared.features
    y_nan = np.where(train >= 0, train, np.nan).astype(float)
    classes = np.arange(prepared.n_classes)
    clf = SklearnClassifier(LogisticRegression(max_iter=1000), classes=classes).fit(X, y_nan)
    ours_proba = clf.predict_proba(X)  # the same probabilities for both sides
    bag = SklearnClassifier(BaggingClassifier(LogisticRegression(max_iter=1000), n_estimators=5, random_state=0),
                            classes=classes)

    def ours(name):
        def query():
            # per-pool structures (ProbCover's delta and graph, Cluster-Margin's clusters) built every time
            shared_cache("values").clear()
            shared_cache("graphs").clear()
            return run_strategy(name, _context(config, prepared, train, ours_proba)).ids
        return query

    references = {
        "coreset": lambda: pool.CoreSet(random_state=0).query(X, y_nan, batch_size=10),
        "typiclust": lambda: pool.TypiClust(random_state=0, k=5).query(X, y_nan, batch_size=10),
        "probcover": lambda: pool.ProbCover(random_state=0).query(X, y_nan, batch_size=10),
        "badge": lambda: pool.Badge(random_state=0).query(X, y_nan, clf=clf, fit_clf=False, batch_size=10),
        "density": lambda: cosine_similarity(X).mean(axis=1),
        "qbc": lambda: pool.QueryByCommittee(method="vote_entropy", random_state=0).query(
            X, y_nan, ensemble=bag, batch_size=10),
        "cluster_margin": lambda: pool.UncertaintySampling(method="margin_sampling", random_state=0).query(
            X, y_nan, clf=clf, fit_clf=False, batch_size=10),
    }
    reference_names = {"coreset": "CoreSet", "typiclust": "TypiClust(k=5)", "probcover": "ProbCover",
                       "badge": "Badge", "density": "mean cosine_similarity (n x n)", "qbc": "QueryByCommittee",
                       "cluster_margin": "UncertaintySampling(margin)"}
    print(f"# digits-compare query, 1,797 points x 64, 40 labels, batch 10; medians of {repeats}; alsim's "
          "per-pool caches cleared before every query")
    print(f"{'strategy':>15} {'alsim s':>9} {'reference s':>12} {'ratio':>7}  reference, check")
    for name in NEW:
        mine_s, _, mine = median_time(ours(name), repeats)
        ref_s, _, theirs = median_time(references[name], repeats)
        if name == "coreset":
            check = "same picks" if list(mine) == list(theirs) else f"DIFFERENT picks {list(mine)} {list(theirs)}"
        elif name == "badge":
            check = "same first pick" if mine[0] == theirs[0] else "DIFFERENT first pick"
        elif name == "density":
            from alsim.strategies.density import mean_cosine_similarity

            gap = float(np.abs(mean_cosine_similarity(X) - theirs).max())
            check = f"max |difference| of the mean similarity {gap:.1e}"
        else:
            check = f"{len(set(mine) & set(theirs))}/10 picks in common"
        print(f"{name:>15} {mine_s:9.4f} {ref_s:12.4f} {mine_s / ref_s:7.3f}  {reference_names[name]}; {check}")


# --------------------------------------------------------------------------- Fashion-MNIST

FASHION = Config(dataset="fashion-mnist", features="hog", model="linear_svc_newton", initial="stratified",
                 n_initial=600, batch_size=100, n_rounds=2, evaluation="test")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def fashion_one(name: str) -> dict:
    """One strategy's two queries on Fashion-MNIST, run in this (fresh) process.

    The process is set up as the command line and the dashboard set theirs up
    (:func:`alsim.runtime.configure_process`: one BLAS thread unless ALSIM_BLAS_THREADS says otherwise).
    """
    from alsim.runtime import configure_process

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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fashion", action="store_true")
    parser.add_argument("--fashion-one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--strategies", default=",".join(("entropy", "random") + NEW))
    args = parser.parse_args()
    if args.fashion_one:
        print(json.dumps(fashion_one(args.fashion_one)))
    elif args.fashion:
        fashion([s for s in args.strategies.split(",") if s])
    else:
        digits(args.repeats)


if __name__ == "__main__":
    main()
