"""Benchmark of Fashion-MNIST at full scale, each figure next to a plain reference run.

    python bench/fashion.py [--repeats 3] [--skip-spreading-reference]

Needs the real data (apt-get install dataset-fashion-mnist, or ALSIM_DATA_DIR).

1. HOG for all 70,000 images: alsim (OpenCV in threads) vs a plain one-image-at-a-time
   loop; then alsim reading them back from its disk cache.
2. The seed-B schedule (600 stratified labels, thresholds 0.75..0.30 then 0.10, honest
   pseudo-labels), features cached: alsim's default Newton solver vs scikit-learn's
   LinearSVC refitted every round, with the test accuracy each reaches.
3. LabelSpreading with a 10-nearest-neighbour graph on all 60,000 pool points: the graph
   built once (with progress), then per-round time, vs one plain scikit-learn
   LabelSpreading(kernel="knn") fit on the same 60,000 points.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_time  # noqa: E402

from alsim import get_preset, run_loop  # noqa: E402
from alsim.data.datasets import fashion_available, load_fashion_mnist  # noqa: E402
from alsim.learn.features import compute_features, hog_descriptor, hog_features  # noqa: E402
from alsim.loop import run as loop
from alsim.storage.memory import shared_cache  # noqa: E402


def row(name, seconds, reference, runs, extra=""):
    ratio = f"{reference / seconds:8.1f}x" if reference else " " * 9
    print(f"  {name:46} {seconds:8.3f} s {ratio}  [{', '.join(f'{t:.2f}' for t in runs)}] {extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-spreading-reference", action="store_true",
                        help="skip the ~30 s plain LabelSpreading fit")
    args = parser.parse_args()
    if not fashion_available():
        sys.exit("Fashion-MNIST not installed: apt-get install dataset-fashion-mnist (or set ALSIM_DATA_DIR)")
    print(f"{os.cpu_count()} CPUs; median of {args.repeats} runs unless noted; ratio = reference / alsim")

    # 1. HOG ------------------------------------------------------------------
    data = load_fashion_mnist()
    images = np.concatenate([data.images, data.test_images])
    print(f"\n1. HOG features for {len(images):,} images (324 values each)")

    def plain_hog():
        descriptor = hog_descriptor()
        return np.stack([descriptor.compute(img).ravel() for img in images])

    plain_t, plain_runs, reference = median_time(plain_hog, args.repeats)
    fast_t, fast_runs, ours = median_time(lambda: hog_features(images), args.repeats)
    assert np.array_equal(reference, ours), "threaded HOG differs from the plain loop"
    row("plain loop, one image at a time (reference)", plain_t, None, plain_runs)
    row("alsim, OpenCV in threads (cold)", fast_t, plain_t, fast_runs, "identical values")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["ALSIM_CACHE_DIR"] = cache
        compute_features(data, "hog")  # fill the cache
        cached_t, cached_runs, _ = median_time(lambda: compute_features(data, "hog"), args.repeats)
        del os.environ["ALSIM_CACHE_DIR"]
    row("alsim, from the disk cache (pool + test)", cached_t, plain_t, cached_runs)

    # 2. Seed-B schedule -------------------------------------------------------
    base = get_preset("fashion-selftrain")
    loop.prepare(base)  # features cached in memory, as after a control change in the dashboard
    print(f"\n2. Seed-B schedule, {base.n_rounds} fits, honest pseudo-labels, features cached")

    def schedule(model):
        return list(run_loop(base.replace(model=model)))

    ref_t, ref_runs, ref_rounds = median_time(lambda: schedule("linear_svc"), 1)
    new_t, new_runs, new_rounds = median_time(lambda: schedule("linear_svc_newton"), args.repeats)
    row("LinearSVC (liblinear) refit each round (reference)", ref_t, None, ref_runs,
        f"test accuracy {ref_rounds[-1].accuracy:.4f}, {ref_rounds[-1].n_pseudo:,} pseudo-labels (1 run)")
    row("alsim Newton solver, warm-started", new_t, ref_t, new_runs,
        f"test accuracy {new_rounds[-1].accuracy:.4f}, {new_rounds[-1].n_pseudo:,} pseudo-labels")

    # 3. Label spreading on 60,000 points ---------------------------------------
    spreading = get_preset("fashion-spreading")
    prepared = loop.prepare(spreading)
    print(f"\n3. LabelSpreading knn (k={spreading.n_neighbors}) on {len(prepared.labels):,} points, "
          f"{spreading.n_rounds} rounds of {spreading.batch_size} entropy queries")
    marks = []

    def progress(fraction, message):
        marks.append((time.perf_counter(), fraction))

    with tempfile.TemporaryDirectory() as cache:
        os.environ["ALSIM_CACHE_DIR"] = cache  # an empty disk cache: the search really runs
        shared_cache("graphs").clear()
        start = time.perf_counter()
        graph = loop.graph_for(spreading, prepared, progress=progress)
        build = time.perf_counter() - start
        print(f"  graph built once in {build:.1f} s ({len(marks)} progress updates)")
        rounds = list(run_loop(spreading))
        shared_cache("graphs").clear()  # a restarted session: neighbour lists come from the disk cache
        start = time.perf_counter()
        loop.graph_for(spreading, prepared)
        print(f"  the same graph in a new session, from the disk cache: {time.perf_counter() - start:.2f} s")
        del os.environ["ALSIM_CACHE_DIR"]
    later = [r.seconds for r in rounds[1:]]
    print(f"  first round {rounds[0].seconds:.2f} s (includes the one-time neighbour lookup of the 10,000 test "
          f"images), later rounds median {statistics.median(later):.3f} s, max {max(later):.3f} s; "
          f"test accuracy {rounds[0].accuracy:.4f} -> {rounds[-1].accuracy:.4f}")
    if not args.skip_spreading_reference:
        from sklearn.semi_supervised import LabelSpreading

        labels = np.full(len(prepared.labels), -1)
        first = np.flatnonzero(rounds[-1].status == 1)
        labels[first] = prepared.labels[first]
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            LabelSpreading(kernel="knn", n_neighbors=spreading.n_neighbors, max_iter=spreading.max_iter).fit(
                prepared.features, labels)
        plain = time.perf_counter() - start
        row("plain LabelSpreading(knn) fit, one round (reference)", plain, None, [plain])
        row("alsim round after the graph is built (median)", statistics.median(later), plain, later)
    del graph


if __name__ == "__main__":
    main()
