"""Benchmark of the `digits-compare` preset: alsim against two references, in one process.

    python -m pip install -r bench/requirements.txt
    python bench/compare.py [--repeats 3] [--before DIR] [--page]

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

``--before DIR`` also times alsim's run from another checkout (e.g. ``git archive <commit> |
tar -x -C DIR``; the flat layout of the first wave works too, e.g. commit 2484cbb): both checkouts run the same code in a fresh process each (one untimed run
first, for lazy imports), alternating repetition by repetition with the references, so all
see the same machine load; the table puts scikit-activeml's time over each beside them.

``--profile`` profiles one alsim run (cProfile) and prints where its time goes.

``--products`` times one product of the digits graph by 10 and 32 columns two ways: ``S @ F``
(alsim's) and ``(Fᵀ Sᵀ)ᵀ``, the same sums with the narrow operand first. It also counts, for
each way, the columns of a 64-column product whose bits change when the product is taken
with fewer columns (2 to 63): a comparison spreads many runs' columns in one product, so a
column must not depend on which others share it.

``--page`` times the Compare page's default work (20 seeds x entropy, margin,
least_confident, random) the ways it can run: one seed at a time in one process (the page
before growing batches), growing batches in one process, growing batches shared by two
threads, and growing batches with a worker process (``workers=2``, worker started before);
the time to the first seeds and to all, and whether every curve equals the one-at-a-time run.
It runs last (or alone, ``--page-only``) with the BLAS threads of a server (``ALSIM_BLAS_THREADS``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from alsim import get_preset  # noqa: E402
from alsim.evidence.compare import batch_curves, growing_batches, run_comparison  # noqa: E402
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


#: Runs in a fresh process with one checkout first on sys.path: alsim's timed work, as run_alsim.
CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from alsim import get_preset
try:
    from alsim.evidence.compare import run_comparison
    from alsim.loop.pool import prepare
    from alsim.storage.memory import shared_cache
    clear_graphs = shared_cache("graphs").clear
except ImportError:  # a checkout of the first wave: flat modules, the graphs in a module-level dict
    from alsim.compare import run_comparison
    from alsim.loop import prepare, _GRAPHS
    clear_graphs = _GRAPHS.clear
base = get_preset("digits-compare")
prepare(base)
def once():
    clear_graphs()
    start, cpu = time.perf_counter(), time.process_time()
    curves = [c for b in run_comparison(base, %r, %d, seeds_per_batch=%d) for c in b]
    return time.perf_counter() - start, time.process_time() - cpu, curves
once()
seconds, cpu, curves = once()
print(json.dumps({"seconds": seconds, "cpu": cpu, "curves": [list(c.accuracy) for c in curves]}))
""" % (STRATEGIES, len(SEEDS), len(SEEDS))


def alsim_in_checkout(checkout: str) -> tuple[float, float, list[float]]:
    """(seconds, CPU seconds, every curve's accuracies) of alsim's run with ``checkout``'s code, in a fresh process."""
    done = subprocess.run([sys.executable, "-c", CHILD, str(Path(checkout).resolve())], capture_output=True,
                          text=True, check=True, env={**os.environ, "PYTHONPATH": str(Path(checkout).resolve())})
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["seconds"], out["cpu"], out["curves"]


PAGE_STRATEGIES = ("entropy", "margin", "least_confident", "random")
PAGE_SEEDS = 20


def _threads(base, batches):
    """Growing batches shared by two threads (each takes the next batch when free)."""
    sizes = np.cumsum([0] + batches)
    seed_lists = [[base.seed + i for i in range(lo, hi)] for lo, hi in zip(sizes, sizes[1:])]
    results, lock, next_batch, firsts = {}, threading.Lock(), [0], []
    start = time.perf_counter()

    def work():
        while True:
            with lock:
                i = next_batch[0]
                next_batch[0] += 1
            if i >= len(seed_lists):
                return
            results[i] = batch_curves(base, PAGE_STRATEGIES, seed_lists[i])
            firsts.append(time.perf_counter() - start)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return min(firsts), [c for i in sorted(results) for c in results[i]]


def page_work(repeats: int) -> None:
    """The Compare page's default work, each way it can run; medians of ``repeats``."""
    from alsim.common.runtime import blas_threads_wanted, configure_process
    from alsim.evidence import workers

    configure_process()  # BLAS threads as on a server or the command line (ALSIM_BLAS_THREADS, default 1)
    base = get_preset("digits-compare")
    prepare(base)
    batches = growing_batches(PAGE_SEEDS)
    workers.submit(batch_curves, base, PAGE_STRATEGIES, [base.seed]).result()  # the worker started, as on a server
    list(run_comparison(base, PAGE_STRATEGIES, 1))

    def streamed(**options):
        start, first, curves = time.perf_counter(), None, []
        for batch in run_comparison(base, PAGE_STRATEGIES, PAGE_SEEDS, **options):
            first = time.perf_counter() - start if first is None else first
            curves.extend(batch)
        return first, curves

    ways = [("one seed at a time, one process (before)", lambda: streamed(seeds_per_batch=1)),
            (f"growing batches {batches}, one process", lambda: streamed(seeds_per_batch=batches)),
            ("growing batches, two threads", lambda: _threads(base, batches)),
            ("growing batches, with a worker process", lambda: streamed(seeds_per_batch=batches, workers=2))]
    times: dict[str, list] = {name: [] for name, _ in ways}
    reference = None
    for _ in range(repeats):  # alternating, so every way sees the same load
        for name, run in ways:
            start = time.perf_counter()
            first, curves = run()
            times[name].append((first, time.perf_counter() - start, curves))
            reference = curves if reference is None else reference
    print(f"\nCompare page default: {PAGE_SEEDS} seeds x {', '.join(PAGE_STRATEGIES)} on digits-compare; "
          f"median of {repeats}; BLAS threads per process {blas_threads_wanted() or 'default'}; "
          f"load {os.getloadavg()[0]:.1f} at the end")
    print(f"{'how':52} {'first seeds s':>13} {'all s':>8} {'speed-up':>9}  equal to one at a time")
    base_total = statistics.median(t for _, t, _ in times[ways[0][0]])
    for name, _ in ways:
        first = statistics.median(f for f, _, _ in times[name])
        total = statistics.median(t for _, t, _ in times[name])
        equal = all(curves == reference for _, _, curves in times[name])
        print(f"{name:52} {first:13.2f} {total:8.2f} {base_total / total:8.2f}x  {equal}")


def profile_alsim() -> None:
    """One alsim run under cProfile: the functions with the most time of their own, then by total."""
    import cProfile
    import pstats

    base = get_preset("digits-compare")
    prepare(base)
    run_alsim(base)  # lazy imports and first-call costs
    profiler = cProfile.Profile()
    profiler.enable()
    run_alsim(base)
    profiler.disable()
    from alsim.loop.pool import graph_for

    matrix = np.abs(graph_for(base, prepare(base)).matrix)
    tiny = float((matrix < 1e-16 * matrix.max()).mean())
    print(f"load {os.getloadavg()[0]:.1f}; label spreading's matrix products run inside graph.py's _iterate "
          f"(its own time below); {tiny:.1%} of the graph's entries are below 1e-16 of the largest")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(12)
    stats.sort_stats("cumulative").print_stats(25)


def products(repeats: int) -> None:
    """A product of the digits graph by narrow columns, both ways; medians of ``repeats`` x 25."""
    from alsim.loop.pool import graph_for

    base = get_preset("digits-compare")
    matrix = graph_for(base, prepare(base)).matrix
    ways = {"S @ F": lambda columns: matrix @ columns,
            "(F^T S^T)^T": lambda columns: (columns.T @ matrix.T).T}
    rng = np.random.default_rng(0)
    print(f"graph {matrix.shape[0]:,} x {matrix.shape[1]:,} dense; load {os.getloadavg()[0]:.1f}")
    print(f"{'columns':>7} {'S @ F ms':>9} {'(F^T S^T)^T ms':>15} {'ratio':>6}  largest difference")
    for width in (10, 32):
        columns = rng.random((matrix.shape[0], width))
        times: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(repeats * 25):  # alternating, so both see the same load
            for name, fn in ways.items():
                start = time.perf_counter()
                fn(columns)
                times[name].append(time.perf_counter() - start)
        plain, other = (statistics.median(times[k]) * 1e3 for k in ways)
        gap = np.abs(ways["S @ F"](columns) - ways["(F^T S^T)^T"](columns)).max()
        print(f"{width:7} {plain:9.2f} {other:15.2f} {other / plain:6.2f}  {gap:.2g}")
    columns = rng.random((matrix.shape[0], 64))
    for name, fn in ways.items():
        full = fn(columns)
        moved = sum(int(np.any(fn(columns[:, :width])[:, j] != full[:, j]))
                    for width in range(2, 64) for j in range(width))
        print(f"{name}: {moved} of {sum(range(2, 64))} columns change bits with the product's width")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-skactiveml", action="store_true")
    parser.add_argument("--before", metavar="DIR", help="also time alsim from this checkout (before/after table)")
    parser.add_argument("--page", action="store_true", help="also time the Compare page's default work")
    parser.add_argument("--page-only", action="store_true", help="only time the Compare page's default work")
    parser.add_argument("--skip-plain", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="only profile one alsim run (cProfile, after a warm-up run): where its time goes")
    parser.add_argument("--products", action="store_true",
                        help="only time one product of the digits graph as S @ F (alsim's) and as (F^T S^T)^T")
    parser.add_argument("--blas-threads", type=int, default=None,
                        help="BLAS threads of this process and the fresh ones (default: the library's choice)")
    args = parser.parse_args()
    if args.blas_threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.blas_threads)  # this benchmark's own process
        os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(args.blas_threads)  # fresh ones
    if args.page_only:
        page_work(args.repeats)
        return
    if args.profile:
        profile_alsim()
        return
    if args.products:
        products(args.repeats)
        return

    base = get_preset("digits-compare")
    prepared = prepare(base)
    X, y = prepared.features, prepared.labels
    print(f"digits-compare: n={len(y)}, {base.n_initial} initial labels, batch {base.batch_size}, "
          f"{base.n_rounds} fits, seeds {list(SEEDS)}, strategies {list(STRATEGIES)}; "
          f"{os.cpu_count()} CPUs; median of {args.repeats}; load {os.getloadavg()[0]:.1f}")
    times: dict[str, list[float]] = {}
    cpu_times: dict[str, list[float]] = {}
    results: dict[str, object] = {}

    def timed(name, fn):
        start, cpu = time.perf_counter(), time.process_time()
        results[name] = fn()
        times.setdefault(name, []).append(time.perf_counter() - start)
        cpu_times.setdefault(name, []).append(time.process_time() - cpu)

    for _ in range(args.repeats):  # alternating, so every implementation sees the same load
        timed("alsim (graph once, batched spread)", lambda: run_alsim(base))
        if args.before:
            for name, checkout in (("alsim, this checkout (fresh process)", str(ROOT)),
                                   (f"alsim, before ({args.before}, fresh process)", args.before)):
                seconds, cpu, curves = alsim_in_checkout(checkout)
                times.setdefault(name, []).append(seconds)
                cpu_times.setdefault(name, []).append(cpu)
                results[name] = curves
        if not args.skip_plain:
            timed("plain LabelSpreading refit loop", lambda: run_plain(base, X, y))
        if not args.skip_skactiveml:
            timed("scikit-activeml 1.x", lambda: run_skactiveml(base, X, y))
    # CPU seconds count the work of every thread and not the time spent waiting for a core: on a
    # busy machine they move far less than wall time (with one BLAS thread, --blas-threads 1).
    for label, table in (("wall", times), ("CPU", cpu_times)):
        fast_t = statistics.median(table["alsim (graph once, batched spread)"])
        skal_t = None if args.skip_skactiveml else statistics.median(table["scikit-activeml 1.x"])
        print(f"{'implementation (' + label + ' seconds)':52} {'median s':>9} {'÷ alsim':>8} "
              f"{'scikit-activeml ÷ it':>21}  runs")
        for name, all_times in table.items():
            median = statistics.median(all_times)
            versus = "" if skal_t is None else f"{skal_t / median:20.1f}x"
            print(f"{name:52} {median:9.3f} {median / fast_t:7.1f}x {versus:>21}  "
                  + ", ".join(f"{t:.3f}" for t in all_times))
    fast, plain = results["alsim (graph once, batched spread)"], results.get("plain LabelSpreading refit loop", {})
    if plain:
        worst = max(np.abs(fast[k] - plain[k]).max() for k in plain)
        print(f"largest |alsim - plain| accuracy difference over {len(plain)} curves: {worst:.3g}")
    if args.before:
        fresh = [results[name] for name in times if "fresh process" in name]
        print(f"every round's accuracy equal before and after: {fresh[0] == fresh[1]}")
    skal = results.get("scikit-activeml 1.x")
    for key in sorted(plain or fast):
        print(f"  {key[0]:8} seed {key[1]}: alsim final {fast[key][-1]:.4f}"
              + (f"  plain final {plain[key][-1]:.4f}" if plain else "")
              + (f"  scikit-activeml final {skal[key][-1]:.4f}" if skal is not None else ""))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.page:
        page_work(args.repeats)


if __name__ == "__main__":
    main()
