"""``alsim compare``: query strategies over several seeds, with the verdict against random."""

from __future__ import annotations

import os
import sys
import time

from alsim.cli.common import (
    ProgressLine,
    add_config_arguments,
    build_config,
    check_report_path,
    command_line,
    integer_argument,
    number_argument,
)
from alsim.common.errors import ConfigError


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="compare query strategies over several seeds")
    add_config_arguments(p)
    p.add_argument("--strategies", default="entropy,margin,least_confident,random")
    p.add_argument("--seeds", type=integer_argument, default=None,
                   help="seeds (default: 20 on digits, 5 on larger data sets)")
    p.add_argument("--target", type=number_argument, default=None,
                   help="target score, in the config's metric (default: 95%% of the fully labeled score)")
    p.add_argument("--x", dest="axis", choices=("labels", "cost"), default="labels",
                   help="measure the curves against revealed labels or against labeling cost (config field cost)")
    p.add_argument("--report", metavar="OUT.html", help="also write a self-contained HTML report there")
    p.add_argument("--workers", type=integer_argument, default=None,
                   help="processes computing seeds (default: 2 where there are 2 or more cores; the numbers are "
                        "the same with 1)")


def run(args, out) -> int:
    # lazy: the comparison's imports (scikit-learn, SciPy) are paid only when it runs
    from alsim.common.jsonio import write_json
    from alsim.evidence.ceiling import ceiling
    from alsim.evidence.compare import (
        DEFAULT_SEEDS_LARGE,
        DEFAULT_SEEDS_SMALL,
        growing_batches,
        run_comparison,
        seeds_for,
        stop_sentence,
        summarize,
        target_note,
        validate_request,
    )
    from alsim.loop.pool import prepare

    base = build_config(args)
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    if args.seeds is None:  # enough paired seeds for a verdict where runs are cheap
        args.seeds = DEFAULT_SEEDS_SMALL if base.dataset.startswith("digits") else DEFAULT_SEEDS_LARGE
    validate_request(base, strategies, args.seeds, target=args.target)  # before any work
    check_report_path(getattr(args, "report", None))
    workers = min(2, os.cpu_count() or 1) if args.workers is None else args.workers
    if not 1 <= workers <= 64:
        raise ConfigError(f"workers must be in [1, 64], got {workers}")
    prepare(base, progress=ProgressLine("embedding images"))  # features first, with their progress
    started = time.perf_counter()
    curves, seeds_done = [], 0
    for batch in run_comparison(base, strategies, args.seeds, seeds_per_batch=growing_batches(args.seeds),
                                workers=workers):
        curves.extend(batch)
        for seed in dict.fromkeys(c.seed for c in batch):
            seeds_done += 1
            print(f"seed {seed} done: {seeds_done} of {args.seeds} ({time.perf_counter() - started:.1f} s)",
                  file=sys.stderr, flush=True)
    run_seconds = time.perf_counter() - started
    reach = ceiling(base)  # the default target's reference, and what a verdict is read beside
    summary = summarize(curves, target=args.target, ceiling=reach, axis=args.axis, metric=base.metric)
    if getattr(args, "report", None):
        from alsim.report.html import write_comparison_report  # lazy: plotly only for a report

        path = write_comparison_report(args.report, base, strategies, summary, command=command_line(args))
        print(f"report: {path}", file=sys.stderr)
    if args.json:
        write_json({"config": base.to_dict(), "strategies": strategies, "seeds": seeds_for(base, args.seeds),
                    "curves": [c.__dict__ for c in curves], "summary": summary.to_dict(),
                    "seconds": round(run_seconds, 3)}, out)
        return 0
    print(f"# {len(strategies)} strategies x {args.seeds} seeds in {run_seconds:.2f} s; target {summary.target:.4f} "
          f"({summary.target_rule}{target_note(summary)})", file=out)
    if base.metric != "accuracy" or args.axis == "cost":
        axis = f"labeling cost ({base.cost} cost)" if args.axis == "cost" else "revealed labels"
        print(f"# metric: {summary.metric_name}; x axis: {axis}", file=out)
    header = f"{'strategy':>16} {'AULC':>8} {'±':>6} {'final':>8} {'±':>6} {'to target':>10} {'saved':>6}"
    print(f"# {summary.ceiling_sentence()}; {reach.how()}", file=out)
    if summary.warning:
        print(f"WARNING: {summary.warning}", file=out)
    print(header, file=out)
    for s in summary.strategies:
        print(f"{s.strategy:>16} {s.aulc_mean:8.4f} {s.aulc_std:6.4f} {s.final_mean:8.4f} {s.final_std:6.4f} "
              f"{_amount(s.labels_to_target):>10} {_amount(s.saved_vs_random):>6}", file=out)
    for s in summary.strategies:
        # The Holm-adjusted verdict is printed below; the single unadjusted test only where it has no
        # p-value to repeat (too few seeds, identical runs) or there is no verdict.
        single = s.test_vs_random if s.verdict is None or (s.test_vs_random or {}).get("p_value") is None else None
        print(f"- {s.headline}" + (f"; AULC vs random: {single['verdict']}" if single else ""), file=out)
    if any(s.stops for s in summary.strategies):
        print("where each stopping rule would have stopped (means over seeds; a rule that never fires counts "
              "as the last round):", file=out)
        for s in summary.strategies:
            for stop in s.stops:
                print(f"{s.strategy:>16}  {stop_sentence(stop)}", file=out)
    verdict_rows = [s for s in summary.strategies if s.verdict is not None]
    if verdict_rows:
        print(f"verdict vs random (paired Wilcoxon on per-seed AULC, Holm-adjusted over {len(verdict_rows)} "
              f"strategies; mean AULC difference with a bootstrap 95% interval):", file=out)
        for s in verdict_rows:
            interval = ("(no interval: too few seeds)" if s.aulc_difference_ci is None
                        else f"[{s.aulc_difference_ci[0]:+.4f}, {s.aulc_difference_ci[1]:+.4f}]")
            print(f"{s.strategy:>16} {summary.shown_verdict(s):>24}  {s.aulc_difference:+.4f} "
                  f"{interval}  Holm p={s.p_holm:.3g}", file=out)
    return 0


def _amount(value) -> str:
    """Labels (an integer) or a cost (4 significant digits); ``-`` for none."""
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.4g}"
