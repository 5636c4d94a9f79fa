"""Flagged label errors (confident learning): how right the flags are, and what they cost.

    python bench/label_flags.py [--sizes 100,300,600] [--rate 0.2] [--seeds 5] [--repeats 3]

Part 1, planted errors: a random subset of the 1,797 digits (raw pixels) with a share
``--rate`` of its labels replaced by another class drawn uniformly. Each subset is checked by
:func:`alsim.learn.label_issues.check_labels` with the judging model's C at 1 (scikit-learn's
default) and at 0.1 (alsim's ``DEFAULT_C``); the table gives the median over seeds of the flags'
precision (flagged labels really wrong) and recall (wrong labels flagged), and the median time
of one check.

Part 2, in the loop: ``digits-tutorial`` (330 digits, label spreading, entropy, 40 first
labels, batch 5) with ``oracle_noise=RATE`` uniform and ``flag_label_errors`` on, 11 fits;
per round the flags as :class:`alsim.loop.records.Flags` records them, and the median wall
time of the whole run beside the same run with the flags off (the reference), with their ratio.
The same table comes from ``python -m alsim run --set oracle_noise=RATE --set
flag_label_errors=true --set n_rounds=11 --no-baseline``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from alsim import Config  # noqa: E402
from alsim.common.runtime import configure_process  # noqa: E402
from alsim.data.sources import load_source  # noqa: E402
from alsim.learn.label_issues import check_labels  # noqa: E402
from alsim.loop.run import run_loop  # noqa: E402


def planted(size: int, rate: float, seed: int):
    digits = load_source("digits")
    features = np.asarray(digits.images, dtype=np.float64).reshape(len(digits.labels), -1)
    rng = np.random.default_rng(seed)
    ids = rng.choice(len(digits.labels), size, replace=False)
    truth = np.asarray(digits.labels)[ids]
    wrong = rng.random(size) < rate
    given = truth.copy()
    given[wrong] = (truth[wrong] + rng.integers(1, 10, int(wrong.sum()))) % 10
    return features[ids], given, wrong


def part1(sizes, rate, seeds) -> None:
    print(f"## planted errors: digits subsets, {rate:.0%} of labels wrong (uniform), median over {seeds} seeds")
    print(f"{'size':>6} {'C':>5} {'wrong':>6} {'flagged':>8} {'precision':>10} {'recall':>8} {'seconds':>8}")
    for size in sizes:
        for C in (1.0, 0.1):
            rows = []
            for seed in range(seeds):
                x, given, wrong = planted(size, rate, seed)
                started = time.perf_counter()
                check = check_labels(x, given, seed=seed, C=C)
                seconds = time.perf_counter() - started
                hits = int(wrong[check.flagged].sum())
                rows.append((wrong.sum(), len(check.flagged), hits / max(1, len(check.flagged)),
                             hits / max(1, wrong.sum()), seconds))
            m = np.median(np.array(rows, dtype=float), axis=0)
            print(f"{size:>6} {C:>5g} {m[0]:>6.0f} {m[1]:>8.0f} {m[2]:>10.2f} {m[3]:>8.2f} {m[4]:>8.2f}")


def part2(rate, repeats) -> None:
    config = Config(oracle_noise=rate, flag_label_errors=True, n_rounds=11)
    print(f"\n## in the loop: digits-tutorial, oracle_noise={rate} uniform, flag_label_errors=true")
    print(f"{'round':>5} {'revealed':>8} {'wrong':>6} {'flagged':>8} {'really wrong':>12} {'precision':>10} "
          f"{'recall':>7}")
    for record in run_loop(config):
        f = record.flags
        precision = "-" if f.precision is None else f"{f.precision:.2f}"
        recall = "-" if f.recall is None else f"{f.recall:.2f}"
        print(f"{record.index:>5} {record.n_labeled:>8} {f.n_wrong:>6} {f.n_flagged:>8} {f.flagged_wrong:>12} "
              f"{precision:>10} {recall:>7}")
    times = {}
    for name, c in (("flags off (reference)", config.replace(flag_label_errors=False)), ("flags on", config)):
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            for _record in run_loop(c):
                pass
            runs.append(time.perf_counter() - started)
        times[name] = float(np.median(runs))
    reference = times["flags off (reference)"]
    print(f"\n{'run of 11 fits':<24} {'median s':>9} {'ratio':>6}")
    for name, seconds in times.items():
        print(f"{name:<24} {seconds:>9.2f} {seconds / reference:>6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,300,600")
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    configure_process()  # one BLAS thread, as the command line and the dashboard run
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} cores")
    part1([int(s) for s in args.sizes.split(",")], args.rate, args.seeds)
    part2(args.rate, args.repeats)


if __name__ == "__main__":
    main()
