"""Query strategies on a long-tailed pool, scored by balanced accuracy; and what noise, imbalance
and labeling cost add to the time of a comparison.

    python bench/imbalance.py fashion [--seeds 10] [--pool 5000] [--batch 2] [--imbalance 10]
                                      [--strategies entropy,margin,typiclust,coreset,random] [--balanced]
    python bench/imbalance.py time [--seeds 20] [--repeats 5]

``fashion``: Fashion-MNIST (HOG features, label spreading on a 10-nearest-neighbour graph, as
the ``fashion-spreading`` preset; every arm of a seed batch shares the graph), a pool of
``--pool`` training images cut to a long tail of ``--imbalance`` (the head class keeps all of
its images, the tail a tenth), 20 random initial labels, batch 20, 11 fits, scored on the
still-unlabeled pool by balanced accuracy (``metric=balanced_accuracy``). Every strategy x
seed runs in lockstep through :func:`alsim.loop.run.run_arms`, as ``alsim compare`` does, and
the summary is :func:`alsim.evidence.compare.summarize`'s: the same AULC and verdicts as
``python -m alsim compare --set dataset=fashion-mnist --set imbalance=10 --set metric=balanced_accuracy ...``.
Printed per strategy: mean AULC of balanced accuracy, final balanced accuracy, the verdict vs
random (Holm-adjusted paired Wilcoxon on per-seed AULC), plain accuracy at the last fit beside
it, and how many of the rarest three classes' images were revealed by the last fit.
``--balanced`` adds each uncertainty strategy with ``class_balanced=true``.

``time``: the ``digits-compare`` preset (1,797 digits, 11 fits) over ``--seeds`` seeds and
five strategies, timed ``--repeats`` times each: as it is (the reference), then with label
noise (0.1, difficulty model), with a long tail (imbalance 10), with difficulty labeling cost,
with the balanced-accuracy metric, noise, cost and metric together (the same pool as the
reference), and all of them at once (a long tail is a smaller pool: less work); the variants
take turns within each repeat; BLAS runs on one thread, as the command line and the dashboard
run it. The per-pool reference model (used by difficulty noise and cost) is built beforehand,
as a server builds it once. Prints the median and the smallest CPU seconds and the median wall
seconds of each, with their ratios to the reference's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_time  # noqa: E402

from alsim import Config, get_preset  # noqa: E402
from alsim.common.runtime import configure_process  # noqa: E402
from alsim.evidence.compare import Curve, full_label_accuracy, summarize  # noqa: E402
from alsim.loop.annotators import label_noise, labeling_costs, reference_proba  # noqa: E402
from alsim.loop.pool import graph_for, prepare  # noqa: E402
from alsim.loop.run import run_arms  # noqa: E402

UNCERTAINTY = ("entropy", "margin", "least_confident")


def run(configs):
    rounds = [[] for _ in configs]
    for arm, record in run_arms(configs):
        rounds[arm].append(record)
    return rounds


def fashion(args) -> int:
    base = Config(dataset="fashion-mnist", features="hog", model="label_spreading", kernel="knn", n_neighbors=10,
                  pool_size=args.pool,
                  imbalance=args.imbalance, initial="random", n_initial=20, batch_size=20, n_rounds=11,
                  evaluation="pool", metric="balanced_accuracy")
    prepared = prepare(base)
    counts = np.bincount(prepared.labels, minlength=prepared.n_classes)
    rare = np.argsort(counts)[:3]
    started = time.perf_counter()
    full = full_label_accuracy(base)
    print(f"# Fashion-MNIST, HOG, {base.model} ({base.kernel}, {base.n_neighbors} neighbours), pool {args.pool} "
          f"cut to a long tail of {args.imbalance:g}: "
          f"{len(prepared.labels)} images, per class {counts.tolist()}; {args.seeds} seeds; "
          f"balanced accuracy with every label (5-fold) {full:.4f} ({time.perf_counter() - started:.1f} s)")
    print(f"# rarest classes: {', '.join(f'{prepared.class_names[c]} ({counts[c]})' for c in rare)}")
    arms = [(s, False) for s in args.strategies.split(",")]
    if args.balanced:
        arms += [(s, True) for s, _ in arms if s in UNCERTAINTY]
    names, configs, rounds, seconds = [], [], [], 0.0
    for lo in range(0, args.seeds, args.batch):  # a summary after every batch of seeds: a long run can be cut short
        batch = [base.replace(strategy=s, class_balanced=b, seed=seed)
                 for seed in range(lo, min(args.seeds, lo + args.batch)) for s, b in arms]
        started = time.perf_counter()
        rounds += run(batch)
        seconds += time.perf_counter() - started
        configs += batch
        names += [c.strategy + (" (class-balanced)" if c.class_balanced else "") for c in batch]
        report(names, configs, rounds, seconds, full, base, prepared, rare)
    return 0


def report(names, configs, rounds, seconds, full, base, prepared, rare) -> None:
    curves = [Curve(n, c.seed, tuple(r.n_labeled for r in rs), tuple(r.score for r in rs))
              for n, c, rs in zip(names, configs, rounds)]
    summary = summarize(curves, full_accuracy=full, metric=base.metric)
    print(f"\n# {summary.n_seeds} seeds: {len(configs)} runs in {seconds:.0f} s; load {os.getloadavg()[0]:.1f} (1 min)")
    print(f"{'strategy':>28} {'AULC bal.':>9} {'±':>6} {'final bal.':>10} {'final acc.':>10} "
          f"{'vs random':>24} {'ΔAULC [95% CI]':>26} {'rare revealed':>13}")
    for s in summary.strategies:
        mine = [rs for n, rs in zip(names, rounds) if n == s.strategy]
        accuracy = np.mean([rs[-1].accuracy for rs in mine])
        revealed = np.mean([np.isin(prepared.labels[np.flatnonzero(rs[-1].status == 1)], rare).sum() for rs in mine])
        verdict = "-" if s.verdict is None else s.verdict
        diff = "" if s.aulc_difference is None else (
            f"{s.aulc_difference:+.4f} [{s.aulc_difference_ci[0]:+.4f}, {s.aulc_difference_ci[1]:+.4f}]")
        print(f"{s.strategy:>28} {s.aulc_mean:9.4f} {s.aulc_std:6.4f} {s.final_mean:10.4f} {accuracy:10.4f} "
              f"{verdict:>24} {diff:>26} {revealed:13.1f}", flush=True)


def overhead(args) -> int:
    base = get_preset("digits-compare")
    strategies = ("entropy", "margin", "typiclust", "coreset", "random")
    variants = {
        "reference": {},
        "noise 0.1 (difficulty)": dict(oracle_noise=0.1, oracle_noise_model="difficulty"),
        "imbalance 10": dict(imbalance=10.0),
        "cost difficulty": dict(cost="difficulty"),
        "balanced accuracy": dict(metric="balanced_accuracy"),
        "noise + cost + metric": dict(oracle_noise=0.1, oracle_noise_model="difficulty", cost="difficulty",
                                      metric="balanced_accuracy"),
        "all of them": dict(oracle_noise=0.1, oracle_noise_model="difficulty", imbalance=10.0, cost="difficulty",
                            metric="balanced_accuracy"),
    }
    for changes in variants.values():  # pools, graphs and reference models first, as a server keeps them
        config = base.replace(**changes)
        prepared = prepare(config)
        graph_for(config, prepared)
        reference_proba(prepared)
        label_noise(config, prepared)
        labeling_costs(config, prepared)
    # The variants take turns within each repeat, so a change in the machine's load falls on all of them.
    # CPU time (this process, BLAS on one thread) is what the work costs; wall time is what the shared
    # machine made of it.
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, changes in variants.items():
            configs = [base.replace(strategy=s, seed=seed, **changes) for seed in range(args.seeds) for s in strategies]
            started = time.process_time()
            seconds, _, _ = median_time(lambda c=configs: run(c), 1)
            cpu[name].append(time.process_time() - started)
            wall[name].append(seconds)
    ref_cpu, ref_wall = statistics.median(cpu["reference"]), statistics.median(wall["reference"])
    ref_min = min(cpu["reference"])
    print(f"{'variant':>24} {'CPU s':>7} {'ratio':>6} {'min CPU':>8} {'ratio':>6} {'wall s':>7} {'ratio':>6}  "
          f"CPU s of each repeat")
    for name in variants:
        c, w, m = statistics.median(cpu[name]), statistics.median(wall[name]), min(cpu[name])
        print(f"{name:>24} {c:7.2f} {c / ref_cpu:6.3f} {m:8.2f} {m / ref_min:6.3f} {w:7.2f} {w / ref_wall:6.3f}  "
              f"{', '.join(f'{t:.2f}' for t in cpu[name])}")
    print(f"# digits-compare, {len(strategies)} strategies x {args.seeds} seeds, {args.repeats} repeats; "
          f"load {os.getloadavg()[0]:.1f} (1 min)")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    f = sub.add_parser("fashion")
    f.add_argument("--seeds", type=int, default=10)
    f.add_argument("--pool", type=int, default=5000)
    f.add_argument("--batch", type=int, default=2, help="seeds run in lockstep before each printed summary")
    f.add_argument("--imbalance", type=float, default=10.0)
    f.add_argument("--strategies", default="entropy,margin,typiclust,coreset,random")
    f.add_argument("--balanced", action="store_true")
    t = sub.add_parser("time")
    t.add_argument("--seeds", type=int, default=20)
    t.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    configure_process()  # one BLAS and OpenMP thread, as the command line and the dashboard run
    return fashion(args) if args.part == "fashion" else overhead(args)


if __name__ == "__main__":
    raise SystemExit(main())
