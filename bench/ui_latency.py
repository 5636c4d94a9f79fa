"""Latency of the dashboard as a viewer feels it: headless chromium against the README's start command.

    python bench/ui_latency.py [--reps 3] [--before /tmp/ui-before] [--pages]

Each repetition starts a fresh server on a free 127.0.0.1 port (so the first visit really
is the first after a server start, and no run is cached in memory) the way the checkout's
README starts it: ``python -m alsim serve`` where its README says so (it loads the modules
and runs the home page once before it answers), else
``streamlit run app.py``. It opens the home page in Debian's chromium and times, from the
action to the moment the script has finished and every plotly chart on the page is drawn
(and every image loaded):

- the server start: from starting the process to its first answer to ``/_stcore/health``;
- the first visit after that answer, then a second visit (a new browser tab);
- from starting the process to the first visit drawn (the two above and the wait between:
  a warm-up before the health answer moves time, it does not hide it);
- changing the sidebar's batch size to a value not yet run, and back to one already run: the
  clock starts at the Enter that commits the typed value (typing it is the viewer's time, and
  the automation's round trips to find and fill the box, 50-100 ms here, are not the page's);
- moving the round slider one step: the clock starts at the arrow key on the focused thumb
  (finding and focusing it is the automation's time, as typing is for a setting change);
- a rerun that changes nothing (Streamlit's ``R`` key on the page): every element is sent
  and handed to the page again, and no chart has new data. What a setting change costs beyond
  it is the new results and the charts drawn anew;
- with ``--pages``: the Compare page's default, reached by its sidebar link from the home page
  (the first comparison on that server): the time until its first bands (the chart marked
  "provisional: N of M seeds"), until the bands of all seeds (the verdict follows them), and
  until the page is done (tables and the strategies' maps); then the Fashion-MNIST default,
  first visit in a new tab.

``--before DIR`` runs the same measurements against another checkout (e.g.
``git worktree add /tmp/ui-before <commit>``), alternating with this one repetition by
repetition, so both see the same machine load; the table gives medians and the ratio, and
the load average before and after. Every server gets ``PYTHONPATH`` set to its own
checkout. The disk cache (HOG features, knn neighbours) is one temporary folder shared by
all servers and warmed before timing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("ALSIM_CHROMIUM", "/usr/bin/chromium")

#: Resolves once the script has run (at least once since the watch was armed), nothing
#: on the page is stale, every plotly chart has drawn its SVG and every image has loaded.
DONE = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (window.__alsimRan === false) return false;
  if (document.querySelector('[data-stale=true]')) return false;
  const charts = [...document.querySelectorAll('[data-testid=stPlotlyChart]')];
  if (charts.length === 0) return false;
  if (!charts.every(c => c.querySelector('.main-svg'))) return false;
  return [...document.querySelectorAll('[data-testid=stImage] img')].every(i => i.complete);
}"""

#: Arms the watch: remembers whether the script state left ``notRunning`` after this point.
ARM = """() => {
  window.__alsimRan = false;
  const app = document.querySelector('[data-testid=stApp]');
  if (window.__alsimObserver) window.__alsimObserver.disconnect();
  window.__alsimObserver = new MutationObserver(() => {
    if (app.getAttribute('data-test-script-state') !== 'notRunning') window.__alsimRan = true;
  });
  window.__alsimObserver.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""

ROWS = ("server start (to health)", "first visit (from health)", "start to first visit drawn", "second visit",
        "setting change (new)", "setting change (already run)", "round slider", "rerun, nothing changed",
        "Compare: first bands",
        "Compare: all seeds' bands", "Compare default", "Fashion-MNIST default")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_command(checkout: Path, port: int) -> list[str]:
    """How the checkout's README starts the dashboard, on ``port``, headless."""
    options = ["--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
               "--server.fileWatcherType", "none"]
    if "python -m alsim serve" in (checkout / "README.md").read_text(encoding="utf-8"):
        return [sys.executable, "-m", "alsim", "serve", *options]
    return [sys.executable, "-m", "streamlit", "run", "app.py", *options]


@contextlib.contextmanager
def server(checkout: Path, cache_dir: Path, log_dir: Path):
    """The checkout's dashboard on a free port; yields (base URL, process start time) once healthy."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(checkout), "ALSIM_CACHE_DIR": str(cache_dir),
           "ALSIM_HOME": str(log_dir / "home"), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    log = open(log_dir / f"streamlit-{port}.log", "wb")
    started = time.perf_counter()
    proc = subprocess.Popen(start_command(checkout, port), cwd=checkout, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"the server did not start; see {log.name}")
                time.sleep(0.05)
        yield url, started
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def _wait(page, timeout_ms: float = 300_000) -> None:
    page.wait_for_function(DONE, timeout=timeout_ms, polling="raf")
    exceptions = page.locator("[data-testid=stException]").count()
    if exceptions:
        raise RuntimeError(f"the page shows {exceptions} exception(s)")


#: A drawn chart whose text holds %s: the Compare page's first bands are titled "provisional: N
#: of M seeds", its final bands "± 1 std over M seeds" (then come the tables and the strategies' maps).
CHART_WITH = """() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')].some(
  c => c.querySelector('.main-svg') && c.textContent.includes(%s))"""


def visit_compare(page) -> tuple[float | None, float, float]:
    """Click the sidebar's Compare link in an open tab of the app, as a viewer moves there;
    seconds until its first bands are drawn (None if the final chart came before one was
    seen), until the bands of all seeds are drawn, and until the page is done."""
    page.evaluate(ARM)
    started = time.perf_counter()
    page.locator('[data-testid=stSidebarNavLink][href$="/Compare"]').first.click()
    provisional, final = CHART_WITH % json.dumps("provisional:"), CHART_WITH % json.dumps("1 std over")
    page.wait_for_function(f"() => ({provisional})() || ({final})()", timeout=300_000, polling="raf")
    first = None if page.evaluate(final) else time.perf_counter() - started
    page.wait_for_function(final, timeout=300_000, polling="raf")
    final_seconds = time.perf_counter() - started
    _wait(page)
    return first, final_seconds, time.perf_counter() - started


def visit(browser, url: str) -> tuple[object, float]:
    """Open ``url`` in a new tab; seconds until the page is done."""
    page = browser.new_page(viewport={"width": 1500, "height": 2200})
    started = time.perf_counter()
    page.goto(url)
    _wait(page)
    return page, time.perf_counter() - started


def act(page, action, prepare=None) -> float | None:
    """Seconds from ``action(page)`` to the page being done again; None if the action started no run.

    ``prepare(page)``, when given, runs first and untimed: e.g. typing a number into a box,
    which changes nothing until ``action`` commits it with Enter.

    A keystroke that reaches a widget before it is ready starts no rerun: that sample is
    dropped (and said so on stderr) rather than waited for.
    """
    if prepare is not None:
        prepare(page)
    page.evaluate(ARM)
    started = time.perf_counter()
    action(page)
    try:
        page.wait_for_function("() => window.__alsimRan === true", timeout=20_000, polling="raf")
    except Exception:  # playwright's TimeoutError
        print("an action started no rerun; sample dropped", file=sys.stderr)
        return None
    _wait(page)
    return time.perf_counter() - started


def type_batch_size(value: int):
    """Types ``value`` into the batch-size box without committing it (untimed: the viewer's typing)."""
    def prepare(page):
        page.get_by_label("Batch size (labels per round)").fill(str(value))
    return prepare


def commit(page) -> None:
    """The setting change itself: Enter in the focused box commits the typed value and reruns the page."""
    page.keyboard.press("Enter")


def focus_slider(page) -> None:
    """Focuses the round slider's thumb (untimed: the automation finding it, 20-60 ms here)."""
    page.locator("[data-testid=stSlider] input[type=range]").first.focus()


def slider_step(page) -> None:
    """The step itself: the left arrow on the focused thumb."""
    page.keyboard.press("ArrowLeft")


def focus_page(page) -> None:
    """Moves the focus out of any input (untimed): a click on the page's title."""
    page.locator("h1").first.click()


def rerun_key(page) -> None:
    """Streamlit's keyboard shortcut for a rerun of the page."""
    page.keyboard.press("r")


def one_repetition(browser, checkout: Path, cache_dir: Path, log_dir: Path, pages: bool) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {row: [] for row in ROWS}
    with server(checkout, cache_dir, log_dir) as (url, started):
        times["server start (to health)"].append(time.perf_counter() - started)
        page, seconds = visit(browser, url)
        times["first visit (from health)"].append(seconds)
        times["start to first visit drawn"].append(time.perf_counter() - started)
        page.close()
        page, seconds = visit(browser, url)
        times["second visit"].append(seconds)
        for value in (6, 7, 8):
            times["setting change (new)"].append(act(page, commit, type_batch_size(value)))
        for value in (5, 6, 7):
            times["setting change (already run)"].append(act(page, commit, type_batch_size(value)))
        for _ in range(3):
            times["round slider"].append(act(page, slider_step, focus_slider))
        for _ in range(3):
            times["rerun, nothing changed"].append(act(page, rerun_key, focus_page))
        if pages:
            first, final, seconds = visit_compare(page)
            if first is not None:
                times["Compare: first bands"].append(first)
            times["Compare: all seeds' bands"].append(final)
            times["Compare default"].append(seconds)
        page.close()
        if pages:
            page, seconds = visit(browser, url + "/Fashion-MNIST")
            times["Fashion-MNIST default"].append(seconds)
            page.close()
    return times


def warm_disk_cache(checkout: Path, cache_dir: Path) -> None:
    """HOG features of Fashion-MNIST are cached on disk: build them once, untimed."""
    code = ("from alsim.data.datasets import fashion_available\n"
            "from alsim.loop.presets import get_preset\n"
            "from alsim.loop.pool import prepare\n"
            "if fashion_available(): prepare(get_preset('fashion-selftrain'))\n")
    subprocess.run([sys.executable, "-c", code], cwd=checkout, check=True,
                   env={**os.environ, "PYTHONPATH": str(checkout), "ALSIM_CACHE_DIR": str(cache_dir)})


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s" if values else "      -"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="fresh servers per checkout (default 3)")
    parser.add_argument("--before", type=Path, help="another checkout to measure, alternating with this one")
    parser.add_argument("--pages", action="store_true", help="also time the Compare and Fashion-MNIST defaults")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    checkouts = {"after": ROOT} if args.before is None else {"before": args.before.resolve(), "after": ROOT}
    results = {name: {row: [] for row in ROWS} for name in checkouts}
    load_before = _load()
    work = Path(tempfile.mkdtemp(prefix="alsim-ui-latency-"))
    try:
        if args.pages:
            warm_disk_cache(ROOT, work / "cache")
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
                args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
            for rep in range(args.reps):
                for name, checkout in checkouts.items():
                    times = one_repetition(browser, checkout, work / "cache", work, args.pages)
                    for row, values in times.items():
                        results[name][row].extend(v for v in values if v is not None)
                    print(f"rep {rep + 1}/{args.reps} {name}: "
                          + ", ".join(f"{row} {statistics.median(kept):.2f}" for row, values in times.items()
                                      if (kept := [x for x in values if x is not None])),
                          file=sys.stderr, flush=True)
            browser.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"load average (1, 5, 15 min) before: {load_before}, after: {_load()}; {os.cpu_count()} cores")
    names = list(checkouts)
    header = f"{'median over repetitions':32}" + "".join(f"{n:>10}" for n in names)
    if len(names) == 2:
        header += f"{'after/before':>14}"
    print(header)
    for row in ROWS:
        cells = [results[n][row] for n in names]
        if not any(cells):
            continue
        line = f"{row:32}" + "".join(f"{_median(c):>10}" for c in cells)
        if len(names) == 2 and all(cells):
            line += f"{statistics.median(cells[1]) / statistics.median(cells[0]):>14.2f}"
        print(line + f"   (n={len(cells[-1])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
