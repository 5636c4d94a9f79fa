"""End to end: `streamlit run app.py` headless, opened in Debian's chromium with Playwright."""

from __future__ import annotations

import time

import pytest

from conftest import ROOT, STREAMLIT_IDLE, chromium_browser, needs_chromium, page_metrics, streamlit_server

ARTIFACTS = ROOT / "artifacts"

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with streamlit_server(tmp_path_factory.mktemp("streamlit")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as b:
        yield b


def _open(browser, url: str, name: str):
    page = browser.new_page(viewport={"width": 1500, "height": 2200})
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(STREAMLIT_IDLE, timeout=90_000)
    page.wait_for_selector(".js-plotly-plot", timeout=30_000)
    elapsed = time.perf_counter() - started
    page.wait_for_function("[...document.querySelectorAll('[data-testid=stImage] img')].every(i => i.complete)",
                           timeout=30_000)
    page.wait_for_timeout(1500)  # let fade-in animations finish before the screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    return page, elapsed


def test_live_page_renders_charts_and_galleries(server, browser):
    page, elapsed = _open(browser, server, "live")
    assert page.locator("[data-testid=stException]").count() == 0, server.log_tail()
    assert page.locator(".js-plotly-plot").count() >= 3  # curve + two confusion heatmaps
    assert page.locator("[data-testid=stImage] img").count() == 16
    assert dict(page_metrics(page))["entropy: final accuracy"] == "0.9556"  # experiment A, as the CLI prints
    print(f"live page: first complete chart after {elapsed:.1f} s")


def test_url_reproduces_a_view(server, browser):
    page, _ = _open(browser, server + "/?batch_size=10&strategy=margin&dataset=digits-tutorial", "live-shared")
    assert page.locator("[data-testid=stException]").count() == 0, server.log_tail()
    from alsim import Config, run_loop

    metrics = dict(page_metrics(page))
    final = list(run_loop(Config(batch_size=10, strategy="margin")))[-1].accuracy
    assert metrics["margin: final accuracy"] == f"{final:.4f}"
    assert metrics["revealed labels"] == "80"  # 40 + 4 x 10


def test_compare_page(server, browser):
    page, elapsed = _open(browser, server + "/Compare", "compare")
    assert page.locator("[data-testid=stException]").count() == 0, server.log_tail()
    assert page.locator(".js-plotly-plot").count() >= 1
    assert page.get_by_text("random needs").count() >= 1
    print(f"compare page: complete after {elapsed:.1f} s")


def test_fashion_page(server, browser):
    from alsim.data import fashion_available

    if not fashion_available():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    page, elapsed = _open(browser, server + "/Fashion-MNIST", "fashion")
    assert page.locator("[data-testid=stException]").count() == 0, server.log_tail()
    assert page.get_by_text("Pseudo-label audit").count() == 1
    assert page.locator("[data-testid=stImage] img").count() == 16
    print(f"fashion page (self-training, fast model): complete after {elapsed:.1f} s")
