"""A pool of a million embeddings: knn graph (approximate neighbours), recall, rounds, memory.

Run: ``python bench/million.py`` (1,000,000 x 64 float32, 10 classes), ``--n 100000`` for a
smaller pool, ``--crossover`` for the exact-against-approximate search times that choose
:data:`alsim.learn.graph.APPROXIMATE_ABOVE`, ``--dask`` to also run one entropy cell as a
sweep on a local Dask cluster (the worker reads the pool from the store's folder).

The data (Gaussian class clusters with overlap, seeded) are written once to
``$TMPDIR/alsim-million/million-<n>.npz`` and imported into a store under the same folder, as
``python -m alsim run --data <file>.npz`` does. "cold" is the graph's first build with an empty
disk cache in this process (pynndescent's numba compilation included); "cached" a build that
reads the neighbour lists back from the disk cache. Recall: the share of each sampled point's
10 true nearest neighbours (exact search over the whole pool) found among its graph
neighbours, graph built with ``n_neighbors=10``. A round is ``Round.seconds``: refit (label
spreading) plus the query of 100, the median of rounds 1-3 (round 0's fit starts from no
stored iterates). Peak memory is this process's maximum resident set size
(``resource.getrusage``), whatever ran before it in the process.

Pools above :data:`alsim.learn.graph.COMPACT_SPREAD_ABOVE` points spread over the graph's
compact copy (reordered; float64 unless ``--compact-dtype``), built once per graph ("compact
copy" below; round 0 pays it in a run). The reference beside: the entropy run again with the float64 iteration every
smaller pool uses (``--reference-rounds``, 0 to skip), its round times, and whether both runs
queried the same points and predicted the same classes in every round (``--compact-dtype
float32`` tries the compact copy in float32).

The machine is shared: the load (``uptime``) is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOALS = {
    "graph_cold": 300.0, "graph_cached": 5.0, "recall": 0.95, "entropy": 3.0, "margin": 10.0, "coreset": 10.0,
    "typiclust": 10.0, "badge": 10.0, "peak_gib": 8.0,
}
N_CLASSES, DIM, K = 10, 64, 10


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def make_pool(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` x 64 float32 points in 10 Gaussian classes that overlap, seeded.

    Each point is its class centre plus noise whose scale falls from 0.9 along the first axis
    to 0.01 along the last (embeddings spread most along a few directions). The centres are
    drawn N(0, 0.5^2) in the first 16 coordinates (where the noise is large) and 0 elsewhere,
    so neighbouring classes overlap.
    """
    rng = np.random.default_rng(seed)
    centres = np.zeros((N_CLASSES, DIM), dtype=np.float32)
    centres[:, :16] = rng.normal(0.0, 0.5, (N_CLASSES, 16))
    labels = rng.integers(0, N_CLASSES, n)
    scales = (0.9 * 0.93 ** np.arange(DIM)).astype(np.float32)
    features = np.empty((n, DIM), dtype=np.float32)
    for lo in range(0, n, 100_000):
        hi = min(n, lo + 100_000)
        features[lo:hi] = centres[labels[lo:hi]] + rng.standard_normal((hi - lo, DIM), dtype=np.float32) * scales
    return features, labels


def pool_file(n: int, folder: Path) -> Path:
    path = folder / f"million-{n}.npz"
    if not path.exists():
        features, labels = make_pool(n)
        partial = folder / f".million-{n}-{os.getpid()}.npz"
        np.savez(partial, X=features, y=labels)
        os.replace(partial, path)
    return path


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def recall_at(graph_neighbours: np.ndarray, features: np.ndarray, queries: np.ndarray, k: int) -> float:
    """Share of each query's true k nearest neighbours (brute force, float64) among its graph neighbours."""
    from sklearn.neighbors import NearestNeighbors

    truth = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(features).kneighbors(
        features[queries], return_distance=False)
    found = [len(set(graph_neighbours[q, :k].tolist()) & set(t.tolist())) for q, t in zip(queries, truth)]
    return float(np.mean(found)) / k


def crossover(features: np.ndarray, sizes: list[int]) -> None:
    from alsim.learn.graph import APPROXIMATE_ABOVE, pool_neighbours

    started, started_cpu = time.perf_counter(), time.process_time()
    pool_neighbours(features[:3000], K, "descent")  # numba compiles pynndescent's code once per process
    compile_seconds, compile_cpu = time.perf_counter() - started, time.process_time() - started_cpu
    print(f"\ncrossover (n_neighbors={K}; pynndescent's compilation, once per process: {compile_seconds:.1f} s, "
          f"CPU {compile_cpu:.1f} s)")
    print(f"{'points':>9} {'exact s':>9} {'(CPU)':>7} {'descent s':>10} {'(CPU)':>7} {'exact/descent':>14} "
          f"{'recall@10 descent':>18}")
    rng = np.random.default_rng(1)
    for n in sizes:
        x = np.asarray(features[:n], dtype=np.float64)
        t, c = time.perf_counter(), time.process_time()
        exact = pool_neighbours(x, K, "exact")
        t_exact, c_exact = time.perf_counter() - t, time.process_time() - c
        t, c = time.perf_counter(), time.process_time()
        approx = pool_neighbours(x, K, "descent")
        t_descent, c_descent = time.perf_counter() - t, time.process_time() - c
        queries = rng.choice(n, min(n, 1000), replace=False)
        recall = np.mean([len(set(a) & set(b)) for a, b in zip(approx[queries].tolist(), exact[queries].tolist())]) / K
        print(f"{n:>9,} {t_exact:>9.1f} {c_exact:>7.1f} {t_descent:>10.1f} {c_descent:>7.1f} "
              f"{t_exact / t_descent:>14.2f} {recall:>18.3f}", flush=True)
    print(f"threshold in use: exact up to {APPROXIMATE_ABOVE:,} points, pynndescent above")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="pool size (default 1,000,000)")
    parser.add_argument("--crossover", action="store_true", help="only time exact against pynndescent by size")
    parser.add_argument("--sizes", default="10000,30000,60000,100000,200000")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per strategy (the first is not timed)")
    parser.add_argument("--strategies", default="entropy,margin,coreset,typiclust,badge")
    parser.add_argument("--dask", action="store_true", help="also run one entropy cell as a sweep on Dask")
    parser.add_argument("--compact-dtype", choices=("float64", "float32"), default="float64",
                        help="number type of the compact copy (alsim.learn.graph.COMPACT_DTYPE)")
    parser.add_argument("--reference-rounds", type=int, default=3,
                        help="rounds of the entropy run with the float64 iteration, as a reference (0: none)")
    parser.add_argument("--folder", default=str(Path(tempfile.gettempdir()) / "alsim-million"))
    args = parser.parse_args(argv)

    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ALSIM_HOME", str(folder / "home"))
    os.environ["ALSIM_CACHE_DIR"] = tempfile.mkdtemp(prefix="cache-", dir=folder)  # graph cold
    from alsim.common.runtime import configure_process

    configure_process()
    print(f"load before: {load()}")
    print(f"cores: {os.cpu_count()}, memory: {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB")

    if args.crossover:
        features, _ = make_pool(max(int(s) for s in args.sizes.split(",")))
        crossover(features, [int(s) for s in args.sizes.split(",")])
        print(f"load after: {load()}")
        return 0

    from alsim import Config, prepare, run_loop
    from alsim.data import store
    from alsim.learn.graph import backend_label, build_graph
    from alsim.loop.pool import graph_for
    from alsim.storage.memory import shared_cache

    started = time.perf_counter()
    path = pool_file(args.n, folder)
    print(f"pool file {path} ({path.stat().st_size / 2**20:.0f} MiB) ready in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    entry = store.import_path(path)
    print(f"imported as {entry.id} in {time.perf_counter() - started:.1f} s")
    base = Config(dataset=entry.id, features="precomputed", model="label_spreading", kernel="knn", n_neighbors=K,
                  pool_size=0, evaluation="pool", n_initial=100, batch_size=100, n_rounds=args.rounds,
                  self_training="off", initial="random")
    started = time.perf_counter()
    prepared = prepare(base)
    print(f"prepared {len(prepared.labels):,} x {prepared.features.shape[1]} in {time.perf_counter() - started:.1f} s")

    results: dict[str, float] = {}
    cpu: dict[str, float] = {}
    started, started_cpu = time.perf_counter(), time.process_time()
    graph = build_graph(prepared.features, "knn", n_neighbors=K, cache=True)
    results["graph_cold"], cpu["graph_cold"] = time.perf_counter() - started, time.process_time() - started_cpu
    backend = backend_label(graph.backend)
    del graph
    started, started_cpu = time.perf_counter(), time.process_time()
    graph = build_graph(prepared.features, "knn", n_neighbors=K, cache=True)
    results["graph_cached"], cpu["graph_cached"] = time.perf_counter() - started, time.process_time() - started_cpu
    print(f"graph: {backend}, cold {results['graph_cold']:.1f} s (CPU {cpu['graph_cold']:.1f} s), "
          f"cached {results['graph_cached']:.1f} s (CPU {cpu['graph_cached']:.1f} s)", flush=True)
    from alsim.learn import graph as graph_module

    graph_module.COMPACT_DTYPE = np.dtype(args.compact_dtype).type  # this process only
    compact = graph_module.spreads_compact(graph)
    if compact:
        started, started_cpu = time.perf_counter(), time.process_time()
        graph.compact()
        results["compact"], cpu["compact"] = time.perf_counter() - started, time.process_time() - started_cpu
        print(f"compact copy (reverse Cuthill-McKee order, {args.compact_dtype}): {results['compact']:.1f} s",
              flush=True)
    # The loop's runs share this graph, as a server's sessions would.
    from alsim.loop.pool import kernel_key

    shared_cache("graphs").get_or_build(prepared.key + kernel_key(base), lambda: graph)
    assert graph_for(base, prepared) is graph

    queries = np.random.default_rng(2).choice(len(prepared.labels), 1000, replace=False)
    started = time.perf_counter()
    results["recall"] = recall_at(graph.neighbours, prepared.features, queries, K)
    print(f"recall@{K} on 1,000 points: {results['recall']:.3f} ({time.perf_counter() - started:.0f} s exact search)",
          flush=True)

    def run(config):
        records, round_cpu = [], []
        loop = run_loop(config)
        while True:
            before = time.process_time()
            record = next(loop, None)
            if record is None:
                return records, round_cpu
            records.append(record)
            round_cpu.append(time.process_time() - before)

    rounds: dict[str, list[float]] = {}
    accuracy: dict[str, float] = {}
    kept: dict[str, list] = {}
    for strategy in args.strategies.split(","):
        records, round_cpu = run(base.replace(strategy=strategy))
        kept[strategy] = [(r.queried, r.predicted, r.n_iter) for r in records]
        rounds[strategy] = [r.seconds for r in records]
        timed = rounds[strategy][1:] or rounds[strategy]
        results[strategy] = statistics.median(timed)
        cpu[strategy] = statistics.median(round_cpu[1:] or round_cpu)
        accuracy[strategy] = records[-1].accuracy
        print(f"{strategy}: rounds {', '.join(f'{s:.2f}' for s in rounds[strategy])} s "
              f"(CPU {', '.join(f'{s:.2f}' for s in round_cpu)} s), accuracy {records[-1].accuracy:.3f}", flush=True)
    results["peak_gib"] = peak_gib()

    reference = None
    if compact and args.reference_rounds > 0:
        graph_module.COMPACT_SPREAD_ABOVE = len(prepared.labels)  # this process only: the float64 iteration
        records, round_cpu = run(base.replace(strategy="entropy", n_rounds=args.reference_rounds))
        graph_module.COMPACT_SPREAD_ABOVE = graph_module.APPROXIMATE_ABOVE
        times = [r.seconds for r in records]
        pairs = list(zip(records, kept.get("entropy", [])))
        same = [bool(np.array_equal(r.queried, q) and r.n_iter == i) for r, (q, _, i) in pairs]
        moved = [int(np.count_nonzero(r.predicted != p)) for r, (_, p, _) in pairs]
        reference = (statistics.median(times[1:] or times), statistics.median(round_cpu[1:] or round_cpu))
        print(f"reference, entropy with the float64 iteration: rounds {', '.join(f'{s:.2f}' for s in times)} s "
              f"(CPU {', '.join(f'{s:.2f}' for s in round_cpu)} s), accuracy {records[-1].accuracy:.3f}; "
              f"against the compact run, round by round: same queries and iterations {same}, points predicted "
              f"differently {moved}", flush=True)

    print(f"\npool {len(prepared.labels):,} x {prepared.features.shape[1]}, knn n_neighbors={K}, {backend}")
    print(f"{'measure':<42} {'wall':>9} {'CPU':>8} {'goal':>10} {'meets':>6}")
    rows = [("graph, cold (s)", "graph_cold", "<="), ("graph, from the disk cache (s)", "graph_cached", "<="),
            (f"recall@{K}, 1,000 sampled points", "recall", ">=")]
    rows += [("compact copy, once per graph (s)", "compact", "")] if "compact" in results else []
    rows += [(f"round: refit + {s} query of 100 (s)", s, "<=") for s in args.strategies.split(",")]
    rows += [("peak memory, whole process (GiB)", "peak_gib", "<=")]
    for label, key, sense in rows:
        value, goal = results[key], GOALS.get(key)
        spent = f"{cpu[key]:.2f}" if key in cpu else "-"
        if goal is None:
            print(f"{label:<42} {value:>9.3f} {spent:>8} {'-':>10} {'-':>6}")
            continue
        ok = value <= goal if sense == "<=" else value >= goal
        print(f"{label:<42} {value:>9.3f} {spent:>8} {sense + ' ' + format(goal, 'g'):>10} {'yes' if ok else 'NO':>6}")
    if reference is not None and "entropy" in results:
        print(f"{'reference: entropy round, float64 iteration':<42} {reference[0]:>9.3f} {reference[1]:>8.2f} "
              f"{'':>10} {'':>6}")
        print(f"{'  compact / reference (wall)':<42} {results['entropy'] / reference[0]:>9.2f}")
    print("(rounds: median of rounds after the first; every round's time is printed above. 'meets' reads the wall\n"
          " time; CPU is this process's CPU time, all its threads: on a busy shared machine wall > CPU)")

    if args.dask:
        dask_cell(base, folder)
    print(f"load after: {load()}")
    return 0


def dask_cell(base, folder: Path) -> None:
    """One entropy cell as a sweep on a local Dask cluster of one worker process."""
    from alsim.sweep.grid import SweepSpec
    from alsim.sweep.runner import run_sweep

    spec = SweepSpec(base=base.replace(strategy="entropy", n_rounds=2), grid=(), strategies=("entropy",),
                     n_seeds=1, target=0.5)
    out = tempfile.mkdtemp(prefix="sweep-", dir=folder)
    started = time.perf_counter()
    report = run_sweep(spec, out, workers=1)
    print(f"\ndask: {report.total} cell on {report.where} in {time.perf_counter() - started:.1f} s "
          f"(worker reads the pool from {os.environ['ALSIM_HOME']})")


if __name__ == "__main__":
    sys.exit(main())
