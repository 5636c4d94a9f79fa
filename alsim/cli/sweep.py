"""``python -m alsim sweep``: the sweep subcommand's flags and its handler."""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING

from alsim.cli.common import add_config_arguments, build_config, integer_argument, number_argument
from alsim.common.errors import ConfigError
from alsim.sweep.grid import CELLS_PER_TASK, CONNECT_TIMEOUT, SweepError, SweepSpec, check_grid_size, parse_grid

if TYPE_CHECKING:  # lazy: the runner loads the loop, and the parser must start fast
    from alsim.sweep.runner import Progress

#: Most local worker processes a sweep starts (as for `compare --workers`).
MAX_WORKERS = 64
DEFAULT_STRATEGIES = "entropy,margin,least_confident,random"


def add_parser(sub) -> None:
    integer, number = integer_argument, number_argument
    sweep = sub.add_parser("sweep", help="sweep a grid of settings x strategies x seeds on Dask")
    add_config_arguments(sweep)
    sweep.add_argument("--grid", dest="grid", action="append", default=[], metavar="FIELD=V1,V2,...",
                       help="values of one config field to sweep; repeatable (the grid is their product)")
    sweep.add_argument("--strategies", default=DEFAULT_STRATEGIES)
    sweep.add_argument("--seeds", type=integer, default=10, help="seeds per grid point and strategy")
    sweep.add_argument("--target", type=number, default=None,
                       help="target accuracy (default: 95%% of each grid point's fully labeled accuracy)")
    sweep.add_argument("--out", required=True, help="results folder; re-running skips the cells it holds")
    sweep.add_argument("--append", action="store_true",
                       help="store into an --out that holds another sweep's cells (each summary reads only its own)")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--workers", type=integer, default=None,
                       help="worker processes of the local Dask cluster (default: the CPU count)")
    where.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="address of an existing Dask scheduler; its workers run the tasks")
    sweep.add_argument("--connect-timeout", type=number, default=CONNECT_TIMEOUT,
                       help="seconds to wait for --scheduler (default %(default)s)")
    sweep.add_argument("--cells-per-task", type=integer, default=CELLS_PER_TASK,
                       help="cells batched into one task (default %(default)s)")


def build_spec(args, base) -> SweepSpec:
    strategies = tuple(s.strip() for s in args.strategies.split(",") if s.strip())
    check_grid_size(args.grid, len(strategies), args.seeds)  # from the text, before any value is parsed
    spec = SweepSpec(base=base, grid=parse_grid(args.grid, base), strategies=strategies, n_seeds=args.seeds,
                     target=args.target)
    spec.validate()
    return spec


def run(args, out, err=None) -> int:
    """Run the sweep; print what was computed and the best settings per strategy."""
    # lazy: Dask and pandas are loaded only when a sweep runs
    from alsim.common.jsonio import write_json
    from alsim.sweep.analysis import summarize_sweep
    from alsim.sweep.runner import SweepTaskError, run_sweep
    from alsim.sweep.store import ResultStore

    err = err or sys.stderr
    base = build_config(args)
    try:
        if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
            raise SweepError(f"--workers must be an integer in [1, {MAX_WORKERS}] (local worker processes), "
                             f"got {args.workers}")
        if args.cells_per_task < 1:
            raise SweepError(f"--cells-per-task must be an integer >= 1, got {args.cells_per_task}")
        if not (math.isfinite(args.connect_timeout) and args.connect_timeout > 0):
            raise SweepError(f"--connect-timeout must be a number of seconds > 0, got {args.connect_timeout}")
        spec = build_spec(args, base)
        report = run_sweep(spec, args.out, workers=args.workers, scheduler=args.scheduler,
                           progress=TerminalProgress(err), connect_timeout=args.connect_timeout,
                           cells_per_task=args.cells_per_task, append=args.append)
    except (SweepError, ConfigError) as exc:
        print(f"alsim: error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=err)
        return 2
    except SweepTaskError as exc:
        print(f"alsim: error: {exc}; the cells finished before it are stored, re-run to resume", file=err)
        return 1
    try:
        summary = summarize_sweep(ResultStore(args.out).frame(sweep=report.sweep))  # this sweep's cells only
    except SweepError as exc:
        print(f"alsim: error: {str(exc).splitlines()[0]}", file=err)
        return 2
    best = summary.best()
    if args.json:
        write_json({"out": str(args.out), "sweep": report.sweep.get("id"), "config": base.to_dict(),
                    "grid": {k: list(v) for k, v in spec.grid},
                    "strategies": list(spec.strategies), "seeds": spec.n_seeds, "cells": report.total,
                    "skipped": report.skipped, "computed": len(report.computed), "tasks": report.tasks,
                    "workers": report.workers, "where": report.where, "seconds": round(report.seconds, 3),
                    "best": best.to_dict("records")}, out)
        return 0
    print(f"# {report.total} cells: {report.skipped} already in {args.out}, {len(report.computed)} computed in "
          f"{report.tasks} tasks in {report.seconds:.2f} s ({report.where})", file=out)
    if not best.empty:
        print("best setting per strategy (highest mean AULC; p: Holm-corrected Wilcoxon vs random):", file=out)
        for row in best.to_dict("records"):
            point = " ".join(f"{name}={row[name]}" for name in summary.fields)
            saved = "-" if row["saved_vs_random"] is None or row["saved_vs_random"] != row["saved_vs_random"] \
                else f"{int(row['saved_vs_random']):+d}"
            p = row["p_holm"]
            p_text = "-" if p is None or p != p else f"{p:.3g}"
            print(f"  {row['strategy']:>16} {point:30} AULC {row['aulc_mean']:.4f}  saved {saved:>5}  p {p_text}",
                  file=out)
    return 0


class TerminalProgress:
    """A progress bar on a stream (stderr): redrawn in place on a terminal, a line every few seconds otherwise."""

    def __init__(self, stream=None, width: int = 30, every: float = 5.0):
        self.stream = stream or sys.stderr
        self.width = width
        self.every = every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = -float("inf")

    def __call__(self, progress: Progress) -> None:
        finished = progress.done >= progress.total
        now = time.monotonic()
        if not self.tty and not finished and now - self._last < self.every:
            return
        self._last = now
        filled = int(self.width * progress.done / max(1, progress.total))
        line = f"sweep [{'#' * filled}{'.' * (self.width - filled)}] {progress.text()}"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if finished else "\x1b[K"))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
