"""Five browser sessions at once on one `streamlit run app.py`, each with its own URL settings.

Each page must finish without an exception and show the final accuracy the command line
prints for the same settings: sessions that run side by side must not leak state into one
another.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ROOT, STREAMLIT_IDLE, WAIT_MS, chromium_browser, needs_chromium, page_metrics, streamlit_server
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = needs_chromium


# URL query parameters are config field names and values, as `--set field=value`.
SETTINGS = [
    {"batch_size": "3"},
    {"strategy": "margin", "batch_size": "4"},
    {"gamma": "0.3"},
    {"strategy": "least_confident", "n_rounds": "4"},
    {"dataset": "digits", "pool_size": "400", "initial": "random", "n_initial": "30", "batch_size": "10"},
]


def _cli_final_accuracy(settings: dict[str, str]) -> str:
    argv = [sys.executable, "-m", "alsim", "run", "--preset", "digits-tutorial", "--json", "--no-baseline"]
    for field, value in settings.items():
        argv += ["--set", f"{field}={value}"]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=WAIT_MS / 1000)
    assert out.returncode == 0, f"{' '.join(argv[1:])}: {out.stderr[-2000:]}"
    return f"{json.loads(out.stdout)['rounds'][-1]['accuracy']:.4f}"


def test_five_sessions_at_once_each_show_their_own_cli_result(tmp_path):
    started = time.perf_counter()
    # The command line runs in another process while the pages load.
    with ThreadPoolExecutor(max_workers=1) as pool:
        expected = pool.map(_cli_final_accuracy, SETTINGS)
        with streamlit_server(tmp_path) as url, chromium_browser() as browser:
            contexts = [browser.new_context(viewport={"width": 1400, "height": 1600}) for _ in SETTINGS]
            pages = [context.new_page() for context in contexts]
            for page, settings in zip(pages, SETTINGS):
                page.goto(url + "/?" + "&".join(f"{k}={v}" for k, v in settings.items()), wait_until="commit",
                          timeout=WAIT_MS)
            shown = []
            for page, settings in zip(pages, SETTINGS):
                try:  # a finished run: the script idle with the chart drawn
                    page.wait_for_selector(STREAMLIT_IDLE + " .js-plotly-plot", timeout=WAIT_MS)
                except PlaywrightTimeout:
                    shows = page.locator("[data-testid=stMain]").all_inner_texts()
                    pytest.fail(f"{page.url} not finished after {time.perf_counter() - started:.0f} s; the page "
                                f"shows {' '.join(shows)[:600]!r}\n" + url.log_tail())
                errors = page.locator("[data-testid=stException]").all_inner_texts()
                assert not errors, (page.url, errors, url.log_tail())
                # The active arm's metric, found by its label (the strategy's name first), not its place.
                metrics = page_metrics(page)
                active = [value for label, value in metrics
                          if label.startswith(f"{settings.get('strategy', 'entropy')}: accuracy at ")]
                assert len(active) == 1, (page.url, metrics)
                shown.append((active[0], metrics))
            pages_done = time.perf_counter() - started
            for context in contexts:
                context.close()
        expected = list(expected)
    for settings, (page_value, metrics), cli_value in zip(SETTINGS, shown, expected):
        assert page_value == cli_value, (settings, metrics)
    assert len(set(expected)) == len(SETTINGS)  # five different runs, not one run shown five times
    print(f"five sessions complete after {pages_done:.1f} s")
