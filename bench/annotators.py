"""Query strategies under noisy annotators: AULC, the verdict against random, and how right
the revealed labels are, at several annotator error rates; and what the noise costs in time.

    python bench/annotators.py [--rates 0,0.1,0.3] [--model difficulty] [--seeds 10]
                               [--strategies entropy,margin,typiclust,coreset,random] [--repeats 1]

Work: the ``digits-compare`` preset (all 1,797 digits, label spreading, 40 random initial
labels, batch 10, 11 fits) with ``oracle_noise`` = each rate. Every strategy x seed runs in
lockstep through :func:`alsim.loop.run.run_arms`, as ``alsim compare`` does, and the summary
is :func:`alsim.evidence.compare.summarize`'s, so AULC and verdicts equal the command line's
(``python -m alsim compare --preset digits-compare --set oracle_noise=RATE ...``).

Prints, per rate, a row per strategy: mean AULC, the verdict vs random (Holm-adjusted paired
Wilcoxon on per-seed AULC), the precision of the revealed labels at the last fit (mean over
seeds) and at the first (the initial labels); then the median wall time of each rate's
comparison (graph and reference model built beforehand) and its ratio to the perfect oracle's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_time  # noqa: E402

from alsim import get_preset  # noqa: E402
from alsim.evidence.compare import Curve, full_label_accuracy, summarize  # noqa: E402
from alsim.loop.annotators import label_noise  # noqa: E402
from alsim.loop.pool import graph_for, prepare  # noqa: E402
from alsim.loop.run import run_arms  # noqa: E402


def run(base, strategies, n_seeds):
    configs = [base.replace(strategy=s, seed=seed) for seed in range(base.seed, base.seed + n_seeds)
               for s in strategies]
    rounds = [[] for _ in configs]
    for arm, record in run_arms(configs):
        rounds[arm].append(record)
    return configs, rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="digits-compare")
    parser.add_argument("--rates", default="0,0.1,0.3")
    parser.add_argument("--model", default="difficulty")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--strategies", default="entropy,margin,typiclust,coreset,random")
    parser.add_argument("--annotators", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    strategies = args.strategies.split(",")
    rates = [float(r) for r in args.rates.split(",")]
    base = get_preset(args.preset).replace(oracle_noise_model=args.model, annotators=args.annotators)
    prepared = prepare(base)
    graph_for(base, prepared)
    full = full_label_accuracy(base)
    started = time.perf_counter()
    label_noise(base.replace(oracle_noise=0.1), prepared)
    print(f"# {args.preset}, {args.model} noise, {args.annotators} annotator(s), {args.seeds} seeds; "
          f"noise model built in {time.perf_counter() - started:.2f} s (once per pool: the reference model "
          f"of confusable and difficulty noise); "
          f"fully labeled accuracy {full:.4f}")
    seconds = {}
    for rate in rates:
        config = base.replace(oracle_noise=rate)
        seconds[rate], _, (configs, rounds) = median_time(lambda c=config: run(c, strategies, args.seeds),
                                                          args.repeats)
        curves = [Curve(c.strategy, c.seed, tuple(r.n_labeled for r in rs), tuple(r.accuracy for r in rs))
                  for c, rs in zip(configs, rounds)]
        summary = summarize(curves, full_accuracy=full)
        print(f"\n## oracle_noise={rate:g}: {seconds[rate]:.1f} s")
        print(f"{'strategy':>10} {'AULC':>7} {'±':>6} {'final':>7} {'vs random':>24} {'ΔAULC [95% CI]':>26} "
              f"{'prec. first':>11} {'prec. last':>10}")
        for s in summary.strategies:
            mine = [rs for c, rs in zip(configs, rounds) if c.strategy == s.strategy]
            first = np.mean([rs[0].revealed_precision for rs in mine])
            last = np.mean([rs[-1].revealed_precision for rs in mine])
            verdict = "-" if s.verdict is None else s.verdict
            diff = "" if s.aulc_difference is None else (
                f"{s.aulc_difference:+.4f} [{s.aulc_difference_ci[0]:+.4f}, {s.aulc_difference_ci[1]:+.4f}]")
            print(f"{s.strategy:>10} {s.aulc_mean:7.4f} {s.aulc_std:6.4f} {s.final_mean:7.4f} {verdict:>24} "
                  f"{diff:>26} {first:11.3f} {last:10.3f}")
    if 0.0 in seconds:
        print("\ntime relative to the perfect oracle: " + ", ".join(
            f"{rate:g}: {seconds[rate] / seconds[0.0]:.3f}" for rate in rates))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
