"""Benchmark of a sweep on Dask against the Compare page's in-process path, in one process.

    python bench/sweep.py [--repeats 3] [--seeds 20] [--pool-size 0] [--rounds 11]

Work: the digits-compare preset (all 1,797 digits, label spreading, 40 random initial
labels, 11 fits) over gamma 0.1, 0.25, 0.5 x batch size 5, 10, 20 x entropy, margin,
least_confident, random x 20 seeds: 720 cells, 3 graphs.

1. in-process, as the Compare page runs it: ``run_comparison`` per grid point, one seed
   per batch (``seeds_per_batch=1``), graph caches cleared first;
2. in-process, as ``python -m alsim compare`` runs it: all seeds of a grid point in one batch;
3. ``python -m alsim sweep --workers 1``, then ``--workers 2``, each in a fresh process
   into an empty results folder: a local Dask cluster of 1 or 2 worker processes. Times
   include starting Python and the cluster; the sweep's own time with the cluster up is
   printed beside.

The in-process paths run with the BLAS threads the dashboard and the command line use
(:func:`alsim.common.runtime.configure_process`: one unless ``ALSIM_BLAS_THREADS`` says
otherwise), as the Dask workers do.

Prints the median of each over the repeats, the ratios, the load average before and
after (other work on the machine slows everything), and checks that the sweep's curves
equal the in-process ones cell by cell. Beside the wall times it prints each path's CPU
time (user + system, the sweep's worker processes included): other work on the machine
stretches wall times, much less the CPU time a path needs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alsim import get_preset  # noqa: E402
from alsim.common.runtime import configure_process  # noqa: E402
from alsim.evidence.compare import run_comparison  # noqa: E402
from alsim.storage.memory import shared_cache  # noqa: E402
from alsim.sweep import ResultStore, SweepSpec, parse_grid  # noqa: E402

STRATEGIES = ("entropy", "margin", "least_confident", "random")
GRID = ("gamma=0.1,0.25,0.5", "batch_size=5,10,20")


def spec_for(args) -> SweepSpec:
    base = get_preset("digits-compare").replace(pool_size=args.pool_size, n_rounds=args.rounds)
    # An explicit target: the in-process paths do not compute the fully labeled accuracy either.
    return SweepSpec(base, parse_grid(list(GRID), base), STRATEGIES, args.seeds, target=0.9)


def in_process(spec: SweepSpec, seeds_per_batch: int) -> dict:
    shared_cache("graphs").clear()
    shared_cache("prepared").clear()
    curves = {}
    for point in spec.points():
        base = spec.base.replace(**dict(point))
        for batch in run_comparison(base, spec.strategies, spec.n_seeds, seeds_per_batch=seeds_per_batch):
            for c in batch:
                curves[(tuple(sorted(point)), c.strategy, c.seed)] = list(c.accuracy)
    return curves


def on_dask(spec: SweepSpec, workers: int, args) -> tuple[float, dict]:
    """``python -m alsim sweep --workers K`` in a fresh process, as a user runs it."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "alsim", "sweep", "--preset", "digits-compare",
                   "--set", f"pool_size={args.pool_size}", "--set", f"n_rounds={args.rounds}",
                   *[part for item in GRID for part in ("--grid", item)], "--strategies", ",".join(STRATEGIES),
                   "--seeds", str(args.seeds), "--target", str(spec.target), "--workers", str(workers),
                   "--out", folder, "--json"]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
        document = json.loads(done.stdout)
        assert document["computed"] == spec.n_cells, document
        rows = ResultStore(folder).rows()
    curves = {(tuple(sorted(json.loads(r["point"]).items())), r["strategy"], int(r["seed"])): list(r["accuracy"])
              for r in rows}
    return document["seconds"], curves


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished child processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


SPIN = "x = 0\nfor i in range(20_000_000):\n    x += i"


def parallel_capacity() -> float:
    """Throughput of two busy processes at once over one alone: the ceiling of 2 workers vs 1 right now.

    About 2 on an idle 2-core machine. Less while other work runs: Linux shares the CPU
    fairly between sessions (autogroups) before processes, so a busy process of another
    session keeps its core however many processes this one starts.
    """
    def spin(copies: int) -> float:
        started = time.perf_counter()
        for process in [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(copies)]:
            process.wait()
        return time.perf_counter() - started

    return 2 * spin(1) / spin(2)


def blas_threads() -> str:
    from threadpoolctl import threadpool_info

    return ", ".join(sorted({str(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"})) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--pool-size", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--skip-page", action="store_true", help="leave out the one-seed-per-batch path (slowest)")
    args = parser.parse_args()
    configure_process()  # as the dashboard and the command line do, once per process
    spec = spec_for(args)
    print(f"# {spec.n_cells} cells: {' x '.join(GRID)} x {len(STRATEGIES)} strategies x {args.seeds} seeds; "
          f"pool {args.pool_size or 1797}, {args.rounds} fits; {os.cpu_count()} CPUs; "
          f"BLAS threads in-process {blas_threads()}; load average before {os.getloadavg()[0]:.1f}", flush=True)
    capacity = [parallel_capacity()]
    print(f"# two busy processes run {capacity[0]:.2f}x as fast as one (the most 2 workers can gain now)", flush=True)
    runs = [("in-process, compare CLI batching", lambda: in_process(spec, spec.n_seeds))]
    if not args.skip_page:
        runs.insert(0, ("in-process, Compare page (1 seed per batch)", lambda: in_process(spec, 1)))
    runs += [(f"dask, {k} worker{'s' if k > 1 else ''}", lambda k=k: on_dask(spec, k, args)) for k in (1, 2)]
    times: dict[str, list[float]] = {name: [] for name, _ in runs}
    cpu: dict[str, list[float]] = {name: [] for name, _ in runs}
    compute: dict[str, list[float]] = {name: [] for name, _ in runs if name.startswith("dask")}
    reference = None
    for repeat in range(args.repeats):
        for name, run in runs:
            started, cpu_started = time.perf_counter(), cpu_seconds()
            result = run()
            times[name].append(time.perf_counter() - started)
            cpu[name].append(cpu_seconds() - cpu_started)
            if name in compute:
                compute[name].append(result[0])
                result = result[1]
            if reference is None:
                reference = result
            else:
                differing = [k for k in reference if reference[k] != result.get(k)]
                assert not differing, f"{name}: {len(differing)} cells differ, e.g. {differing[0]}"
            print(f"  repeat {repeat + 1}: {name:45} {times[name][-1]:8.2f} s  CPU {cpu[name][-1]:8.2f} s  "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    capacity.append(parallel_capacity())
    print(f"\n{'path':45} {'median s':>9} {'cells/s':>8} {'CPU s':>8} {'CPU ms/cell':>12} {'cores':>6}  "
          f"(dask: compute time with the cluster up)")
    for name, value in median.items():
        extra = f"  ({statistics.median(compute[name]):.2f} s)" if name in compute else ""
        work = statistics.median(cpu[name])
        print(f"{name:45} {value:9.2f} {spec.n_cells / value:8.2f} {work:8.2f} {1000 * work / spec.n_cells:12.1f}"
              f" {work / value:6.2f}{extra}")
    print("(CPU: user + system time of the path's processes; cores: CPU s / median s)")
    one, two = median["dask, 1 worker"], median["dask, 2 workers"]
    print(f"\n2 workers vs 1 worker: {one / two:.2f}x faster")
    for name in median:
        if name.startswith("in-process"):
            print(f"1 worker vs {name}: {median[name] / one:.2f}x ({'faster' if one <= median[name] else 'slower'})")
    print(f"two busy processes vs one, before / after: {capacity[0]:.2f}x / {capacity[1]:.2f}x")
    print(f"every cell of every path equal: yes; load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
