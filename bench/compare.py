"""Benchmark of the `digits-compare` preset: alsim against two references, in one process.

    python -m pip install -r bench/requirements.txt
    python bench/compare.py [--repeats 3]

Work: all 1,797 digits, LabelSpreading(rbf, gamma=0.25, max_iter=20), 40 random initial
labels, batch 10, 10 query rounds (11 fits), seeds 0..2, entropy vs random, accuracy on the
unlabeled pool.

1. alsim: graph built once (timed, caches cleared first), all six runs spread together.
2. plain refit loop: scikit-learn's LabelSpreading refitted every round, entropy from its
   label distributions, the same initial labels and the same seeded tie-break / random
   draws as alsim, so its curves must equal alsim's.
3. scikit-activeml 1.x: SklearnClassifier(LabelSpreading, include_unlabeled_samples=True)
   with UncertaintySampling(method="entropy") / RandomSampling, its documented loop.

Prints the median wall time of each over the repeats, the ratios, and the largest
difference between alsim's and the plain loop's accuracy curves.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_time  # noqa: E402

from alsim import get_preset  # noqa: E402
from alsim.evidence.compare import run_comparison  # noqa: E402
from alsim.loop import run as loop
from alsim.loop.pool import initial_labels, prepare  # noqa: E402
from alsim.storage.memory import shared_cache  # noqa: E402
from alsim.strategies import select  # noqa: E402

STRATEGIES = ("entropy", "random")
SEEDS = (0, 1, 2)


def run_alsim(base):
    shared_cache("graphs").clear()  # include building the graph in the time
    curves = {}
    for batch in run_comparison(base, STRATEGIES, len(SEEDS), seeds_per_batch=len(SEEDS)):
        for c in batch:
            curves[(c.strategy, c.seed)] = np.array(c.accuracy)
    return curves


def arms(base, y):
    """(config, starting label vector) of every seed x strategy, with alsim's initial labels."""
    for seed in SEEDS:
        for strategy in STRATEGIES:
            config = base.replace(seed=seed, strategy=strategy)
            labels = np.full(len(y), -1)
            first = initial_labels(config, y, 10)
            labels[first] = y[first]
            yield config, labels


def run_plain(base, X, y):
    from scipy.stats import entropy
    from sklearn.semi_supervised import LabelSpreading

    curves = {}
    for config, labels in arms(base, y):
        seed, strategy = config.seed, config.strategy
        rng = np.random.default_rng([seed, 1])
        accuracy = []
        for round_index in range(config.n_rounds):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = LabelSpreading(kernel="rbf", gamma=config.gamma, max_iter=config.max_iter).fit(X, labels)
            hidden = labels == -1
            accuracy.append(float((model.transduction_[hidden] == y[hidden]).mean()))
            if round_index == config.n_rounds - 1:
                break
            candidates = np.flatnonzero(hidden)
            if strategy == "random":
                chosen = rng.choice(candidates, size=config.batch_size, replace=False)
            else:
                dist = model.label_distributions_
                scores = entropy(dist, axis=1)
                empty = dist.sum(axis=1) <= 0
                scores[empty] = np.log(10)
                chosen = select(scores, candidates, config.batch_size, rng)
            labels[chosen] = y[chosen]
        curves[(strategy, seed)] = np.array(accuracy)
    return curves


def run_skactiveml(base, X, y):
    from skactiveml.classifier import SklearnClassifier
    from skactiveml.pool import RandomSampling, UncertaintySampling
    from sklearn.semi_supervised import LabelSpreading

    curves = {}
    for config, labels in arms(base, y):
        seed, strategy = config.seed, config.strategy
        clf = SklearnClassifier(LabelSpreading(kernel="rbf", gamma=config.gamma, max_iter=config.max_iter),
                                classes=np.arange(10), include_unlabeled_samples=True, missing_label=-1,
                                random_state=seed)
        qs = (UncertaintySampling(method="entropy", missing_label=-1, random_state=seed)
              if strategy == "entropy" else RandomSampling(missing_label=-1, random_state=seed))
        accuracy = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf.fit(X, labels)
            for round_index in range(config.n_rounds):
                hidden = labels == -1
                accuracy.append(float((clf.predict(X[hidden]) == y[hidden]).mean()))
                if round_index == config.n_rounds - 1:
                    break
                if strategy == "entropy":
                    chosen = qs.query(X=X, y=labels, clf=clf, batch_size=config.batch_size)
                else:
                    chosen = qs.query(X=X, y=labels, batch_size=config.batch_size)
                labels[chosen] = y[chosen]
                clf.fit(X, labels)
        curves[(strategy, seed)] = np.array(accuracy)
    return curves


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-skactiveml", action="store_true")
    args = parser.parse_args()

    base = get_preset("digits-compare")
    prepared = prepare(base)
    X, y = prepared.features, prepared.labels
    print(f"digits-compare: n={len(y)}, {base.n_initial} initial labels, batch {base.batch_size}, "
          f"{base.n_rounds} fits, seeds {list(SEEDS)}, strategies {list(STRATEGIES)}; "
          f"{os.cpu_count()} CPUs; median of {args.repeats}")
    fast_t, fast_all, fast = median_time(lambda: run_alsim(base), args.repeats)
    plain_t, plain_all, plain = median_time(lambda: run_plain(base, X, y), args.repeats)
    rows = [("alsim (graph once, batched spread)", fast_t, fast_all),
            ("plain LabelSpreading refit loop", plain_t, plain_all)]
    if not args.skip_skactiveml:
        skal_t, skal_all, skal = median_time(lambda: run_skactiveml(base, X, y), args.repeats)
        rows.append(("scikit-activeml 1.x", skal_t, skal_all))
    print(f"{'implementation':40} {'median s':>9} {'ratio to alsim':>15}  runs")
    for name, median, all_times in rows:
        print(f"{name:40} {median:9.3f} {median / fast_t:15.1f}x  " + ", ".join(f"{t:.3f}" for t in all_times))
    worst = max(np.abs(fast[k] - plain[k]).max() for k in plain)
    print(f"largest |alsim - plain| accuracy difference over {len(plain)} curves: {worst:.3g}")
    for key in sorted(plain):
        print(f"  {key[0]:8} seed {key[1]}: alsim final {fast[key][-1]:.4f}  plain final {plain[key][-1]:.4f}"
              + (f"  scikit-activeml final {skal[key][-1]:.4f}" if not args.skip_skactiveml else ""))


if __name__ == "__main__":
    main()
