"""Browser time of one pool map drawn as SVG (``go.Scatter``) against WebGL (``go.Scattergl``).

    python bench/map_render.py [--reps 5] [--sizes 330 1797 5000 10000 20000]

Draws :func:`alsim.report.plots.pool_map` figures of random pools (ten classes, forty revealed
labels, five queried points, as on the Live page) in Debian's headless chromium with
plotly.js from the installed plotly package, and times ``Plotly.newPlot`` up to the next
animation frame: what the Live page costs the browser for each new map (a new round, a new
run). Every repetition draws another random pool, the two kinds alternating. The table gives
medians per pool size, WebGL as the reference, and the load average before and after; the
crossover is where :data:`alsim.report.plots.MAP_SVG_MAX` belongs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import plotly

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alsim.report.plots import MAP_SVG_MAX, pool_map  # noqa: E402

CHROMIUM = os.environ.get("ALSIM_CHROMIUM", "/usr/bin/chromium")
DRAW = """async (spec) => {
  const div = document.getElementById('map');
  Plotly.purge(div);
  const started = performance.now();
  await Plotly.newPlot(div, spec.data, spec.layout);
  await new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)));
  return performance.now() - started;
}"""


def figure_json(n: int, seed: int, svg: bool) -> str:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    coords = rng.normal(size=(n, 2)) + labels[:, None]
    status = np.zeros(n, dtype=np.int8)
    status[rng.choice(n, 40, replace=False)] = 1
    queried = np.flatnonzero(status == 0)[:5]
    figure = pool_map(coords, labels, status, queried, predicted=labels, uncertainty=rng.random(n),
                      title=f"{n} points", svg_max=n if svg else 0)
    return figure.to_json()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[330, 1797, 5_000, 10_000, 20_000],
                        help="pool sizes (default: the Live page's default pool, digits, then larger)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="alsim-map-render-"))
    script = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    (work / "map.html").write_text(f"<html><body><div id=map style='width:1100px'></div><script src='{script.as_uri()}'>"
                                   "</script></body></html>", encoding="utf-8")
    load_before = _load()
    times: dict[tuple[int, bool], list[float]] = {(n, svg): [] for n in args.sizes for svg in (False, True)}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                args=["--no-sandbox", "--disable-gpu", "--allow-file-access-from-files"])
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            page.goto((work / "map.html").as_uri())
            page.wait_for_function("() => window.Plotly !== undefined")
            page.evaluate(DRAW, {"data": [{"type": "scattergl", "x": [0], "y": [0]}], "layout": {}})  # warm-up
            for n in args.sizes:
                for rep in range(args.reps):
                    for svg in (False, True):
                        spec = page.evaluate("(text) => JSON.parse(text)", figure_json(n, rep, svg))
                        times[(n, svg)].append(page.evaluate(DRAW, spec) / 1000)
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"load average (1, 5, 15 min) before: {load_before}, after: {_load()}; {os.cpu_count()} cores; "
          f"MAP_SVG_MAX = {MAP_SVG_MAX:,}")
    print(f"{'points':>8}{'WebGL':>10}{'SVG':>10}{'SVG/WebGL':>11}   (medians of {args.reps})")
    for n in args.sizes:
        gl, svg = statistics.median(times[(n, False)]), statistics.median(times[(n, True)])
        print(f"{n:>8,}{gl:>9.3f}s{svg:>9.3f}s{svg / gl:>11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
