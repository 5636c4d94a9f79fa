"""Demo-ready, end to end in Debian's chromium: the HTML report downloaded from a page opens offline with its charts."""

from __future__ import annotations

from conftest import STREAMLIT_IDLE, WAIT_MS, needs_chromium

pytestmark = needs_chromium
SMALL_COMPARE = ("/Compare?cmp_seeds=2&cmp_n_rounds=3&cmp_pool_size=300&cmp_strategies=entropy"
                 "&cmp_strategies=random")


def _download_report(browser, url: str, path):
    page = browser.new_page(viewport={"width": 1500, "height": 2200})
    page.goto(url)
    page.wait_for_selector(STREAMLIT_IDLE, timeout=WAIT_MS)
    page.wait_for_selector(".js-plotly-plot", timeout=WAIT_MS)
    page.wait_for_selector(STREAMLIT_IDLE, timeout=WAIT_MS)
    assert page.locator("[data-testid=stException]").count() == 0
    with page.expect_download(timeout=WAIT_MS) as download:
        page.get_by_role("button", name="Report (HTML)").click()
    download.value.save_as(path)
    page.close()
    return path


def _open_offline(browser, path) -> tuple[object, list[str]]:
    """The file opened with the network off; returns the page and every non-file request it tried."""
    context = browser.new_context()
    context.set_offline(True)
    tried: list[str] = []
    context.on("request", lambda request: tried.append(request.url) if not request.url.startswith(("file:", "data:"))
               else None)
    page = context.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=WAIT_MS)
    return page, tried


def test_live_page_report_opens_offline_with_its_charts(server, browser, tmp_path):
    path = _download_report(browser, server, tmp_path / "live.html")
    text = path.read_text(encoding="utf-8")
    assert "Active picking (entropy) reached 95.6% with 60 labels" in text
    page, tried = _open_offline(browser, path)
    assert page.locator(".js-plotly-plot").count() >= 3  # curves, bands, heatmaps
    legend = page.locator(".legendtext").evaluate_all("els => els.map(e => e.textContent)")
    assert "entropy" in legend and "random" in legend
    assert tried == []
    page.context.close()


def test_compare_page_report_opens_offline_with_its_charts(server, browser, tmp_path):
    path = _download_report(browser, server + SMALL_COMPARE, tmp_path / "compare.html")
    page, tried = _open_offline(browser, path)
    assert page.locator(".js-plotly-plot").count() >= 2
    assert tried == []
    page.context.close()
