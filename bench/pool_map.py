"""Time the live page's map of the pool: projection plus figure plus its JSON, cold and cached.

Run: ``python bench/pool_map.py [dataset ...]`` (default ``digits digits-tutorial``). The
prepared pool and one run's rounds are built first and not timed. "cold" uses an empty disk
cache and an empty memory cache; "disk" reads the projection back from the disk cache; "memory"
is what a page gets on another round or colouring.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from alsim import Config, prepare, run_loop
from alsim.learn.projection import default_method, pool_projection
from alsim.report.plots import pool_map
from alsim.storage.memory import shared_cache


def draw(prepared, record, colour_by: str = "true") -> int:
    coords = pool_projection(prepared.features, prepared.key)
    figure = pool_map(coords, prepared.labels, record.status, record.queried, predicted=record.predicted,
                      uncertainty=record.uncertainty, colour_by=colour_by, class_names=prepared.class_names)
    return len(figure.to_json())


def main(datasets: list[str]) -> None:
    os.environ["ALSIM_CACHE_DIR"] = tempfile.mkdtemp(prefix="alsim-map-bench-")  # features and projection cold
    print(f"projection: {default_method()}")
    for name in datasets:
        config = Config(dataset=name)
        prepared = prepare(config)
        record = list(run_loop(config))[-2]
        timings = {}
        for case in ("cold", "disk", "memory"):
            if case != "memory":
                shared_cache("values").clear()
            start = time.perf_counter()
            size = draw(prepared, record, "uncertainty" if case == "memory" else "true")
            timings[case] = time.perf_counter() - start
        print(f"{name}: {len(prepared.pool_ids):,} points, figure JSON {size / 1e6:.2f} MB; "
              + ", ".join(f"{case} {seconds:.3f} s" for case, seconds in timings.items()))


if __name__ == "__main__":
    main(sys.argv[1:] or ["digits", "digits-tutorial"])
