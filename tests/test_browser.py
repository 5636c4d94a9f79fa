"""End to end: `streamlit run app.py` headless, opened in Debian's chromium with Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("ALSIM_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() or shutil.which("chromium")),
    reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install -y chromium)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + proc.stdout.read().decode(errors="replace")[-2000:])
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"])
        yield b
        b.close()


def _open(browser, url: str, name: str):
    page = browser.new_page(viewport={"width": 1500, "height": 2200})
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=90_000)
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
    assert page.locator("[data-testid=stException]").count() == 0
    assert page.locator(".js-plotly-plot").count() >= 3  # curve + two confusion heatmaps
    assert page.locator("[data-testid=stImage] img").count() == 16
    assert page.get_by_text("0.9556").count() >= 1  # experiment A's last accuracy, as the CLI prints
    print(f"live page: first complete chart after {elapsed:.1f} s")


def test_url_reproduces_a_view(server, browser):
    page, _ = _open(browser, server + "/?batch_size=10&strategy=margin&dataset=digits-tutorial", "live-shared")
    assert page.locator("[data-testid=stException]").count() == 0
    assert page.get_by_text("margin: final accuracy").count() == 1
    assert page.get_by_text("80", exact=True).count() >= 1  # 40 + 4 x 10 revealed labels


def test_compare_page(server, browser):
    page, elapsed = _open(browser, server + "/Compare", "compare")
    assert page.locator("[data-testid=stException]").count() == 0
    assert page.locator(".js-plotly-plot").count() >= 1
    assert page.get_by_text("random needs").count() >= 1
    print(f"compare page: complete after {elapsed:.1f} s")


def test_fashion_page(server, browser):
    from alsim.data import fashion_available

    if not fashion_available():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    page, elapsed = _open(browser, server + "/Fashion-MNIST", "fashion")
    assert page.locator("[data-testid=stException]").count() == 0
    assert page.get_by_text("Pseudo-label audit").count() == 1
    assert page.locator("[data-testid=stImage] img").count() == 16
    print(f"fashion page (self-training, fast model): complete after {elapsed:.1f} s")
