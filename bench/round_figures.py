"""Server time of the figures a round-slider step builds: the pool map and the confusion heatmaps.

    python bench/round_figures.py [--reps 7] [--before DIR]

On the home page's default (digits-tutorial, entropy beside random), each step of the Round
slider builds the chosen round's pool map and its confusion heatmaps, and hands each to
``st.plotly_chart`` (its JSON). This times, in a fresh process per checkout, building both
figures for every round of the run and turning them into what is sent: through
``alsim.dashboard.charts.styled`` where the checkout has it, then plotly's ``to_dict`` and
``plotly.io.to_json`` as Streamlit does. ``--before DIR`` (e.g. ``git worktree add DIR
46d89fd``) times another checkout, alternating with this one repetition by repetition so both
see the same load; the table gives medians per step (ms) and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Runs in a fresh process with one checkout first on sys.path; prints ms per step, per part.
CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import streamlit  # noqa: F401  (the server has it loaded: plotly's default template is Streamlit's)
import plotly.io as pio
from alsim import get_preset
from alsim.loop.pool import prepare
from alsim.loop.run import run_loop
from alsim.learn.projection import pool_projection
from alsim.report.plots import pool_map, confusion_heatmaps
try:
    from alsim.dashboard.charts import styled
except ImportError:
    styled = None
config = get_preset("digits-tutorial")
prepared = prepare(config)
arms = {"entropy": list(run_loop(config)), "random": list(run_loop(config.replace(strategy="random")))}
coords = pool_projection(prepared.features, prepared.key)

def sent(figure):
    return pio.to_json((styled(figure) if styled else figure).to_dict(), validate=False)

times = {"pool map": [], "confusion heatmaps": []}
for _ in range(2):  # the first pass warms plotly's lazily built validators
    for view in range(len(arms["entropy"])):
        record = arms["entropy"][view]
        started = time.perf_counter()
        sent(pool_map(coords, prepared.labels, record.status, record.queried, predicted=record.predicted,
                      uncertainty=record.uncertainty, colour_by="true", class_names=prepared.class_names,
                      title="entropy"))
        times["pool map"].append(time.perf_counter() - started)
        started = time.perf_counter()
        sent(confusion_heatmaps({name: rounds[view] for name, rounds in arms.items()}, prepared.class_names))
        times["confusion heatmaps"].append(time.perf_counter() - started)
half = len(times["pool map"]) // 2
print(json.dumps({k: 1000 * sum(v[half:]) / len(v[half:]) for k, v in times.items()}))
"""


def measure(checkout: Path) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(checkout.resolve())], capture_output=True, text=True,
                          check=True, env={**os.environ, "PYTHONPATH": str(checkout.resolve())})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--before", type=Path, help="another checkout to time, alternating with this one")
    args = parser.parse_args()
    checkouts = {"this checkout": ROOT} | ({f"before ({args.before})": args.before} if args.before else {})
    load = os.getloadavg()[0]
    results: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    for _ in range(args.reps):
        for name, checkout in checkouts.items():
            results[name].append(measure(checkout))
    parts = list(next(iter(results.values()))[0])
    print(f"ms per slider step, mean over the run's rounds, median of {args.reps} fresh processes; "
          f"load {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    print(f"{'part':22}" + "".join(f"{name:>34}" for name in checkouts) + ("   this / before" if args.before else ""))
    for part in parts + ["both"]:
        medians = [statistics.median(r[part] if part != "both" else sum(r.values()) for r in results[name])
                   for name in checkouts]
        ratio = f"{medians[0] / medians[1]:15.2f}" if args.before else ""
        print(f"{part:22}" + "".join(f"{m:34.1f}" for m in medians) + "   " + ratio)


if __name__ == "__main__":
    main()
