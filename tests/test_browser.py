"""End to end: `streamlit run app.py` headless, opened in Debian's chromium with Playwright."""

from __future__ import annotations

import time

import pytest
from conftest import ROOT, STREAMLIT_IDLE, WAIT_MS, needs_chromium, page_metrics, streamlit_server

ARTIFACTS = ROOT / "artifacts"

pytestmark = needs_chromium


def _open(browser, url: str, name: str):
    page = browser.new_page(viewport={"width": 1500, "height": 2200})
    started = time.perf_counter()
    page.goto(url)
    page.wait_for_selector(STREAMLIT_IDLE, timeout=WAIT_MS)
    page.wait_for_selector(".js-plotly-plot", timeout=WAIT_MS)
    elapsed = time.perf_counter() - started
    page.wait_for_function("[...document.querySelectorAll('[data-testid=stImage] img')].every(i => i.complete)",
                           timeout=WAIT_MS)
    page.wait_for_timeout(1500)  # let fade-in animations finish before the screenshot
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    return page, elapsed


def _nav_names(page) -> list[str]:
    """Page names in the sidebar navigation, in order (without their icons)."""
    return [t.strip().splitlines()[-1].strip() for t in page.locator("[data-testid=stSidebarNav] a").all_inner_texts()]


def test_live_page_renders_charts_and_galleries(server, browser):
    page, elapsed = _open(browser, server, "live")
    assert page.locator("[data-testid=stException]").count() == 0, server.log_tail()
    # curves over the seeds' bands, confusion heatmaps, pool map (the per-class recall is drawn once its
    # expander opens, closed on this balanced pool)
    assert page.locator(".js-plotly-plot").count() == 3
    assert page.locator("[data-testid=stImage] img").count() == 2  # two gallery strips
    assert dict(page_metrics(page))["entropy: accuracy at 60 labels"] == "0.9556"  # experiment A, as the CLI prints
    page.get_by_text("Which classes were found, and when").click()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length === 4", timeout=60_000)
    print(f"live page: first complete chart after {elapsed:.1f} s")


def test_navigation_names_the_pages_in_order(server, browser):
    page, _ = _open(browser, server, "navigation")
    names = _nav_names(page)
    assert names[:3] == ["Live loop", "Compare", "Fashion-MNIST"], names
    order = ["Live loop", "Compare", "Fashion-MNIST", "Data", "Sweep", "Label"]
    present = [name for name in order if name in names]
    assert names == present, names  # the other pages, when they exist, follow in this order
    assert "app" not in [n.lower() for n in names]
    assert page.title() == "alsim · live loop"


def test_live_page_shows_bands_over_seeds_around_this_run(server, browser):
    page, _ = _open(browser, server, "live-bands")
    chart = page.locator("[data-testid=stPlotlyChart]").filter(has_text="this run over 5 seeds")
    assert chart.count() == 1
    legend = chart.locator(".legendtext").evaluate_all("els => els.map(e => e.textContent)")  # SVG: no innerText
    assert {"entropy", "random"} <= set(legend), legend
    assert chart.locator("path.js-fill").count() >= 2  # the two shaded bands
    assert page.get_by_text("Spread over seeds.").count() == 1
    assert page.get_by_text("over 5 seeds").count() >= 1


def _slide_to_round_zero(page) -> None:
    """The round slider moved to its first round, and the page done drawing it."""
    thumb = page.locator("[data-testid=stSlider] input[type=range]").first
    thumb.focus()
    thumb.press("Home")
    page.wait_for_function("() => document.querySelector('[data-testid=stSliderThumbValue]').innerText"
                           ".startsWith('0 (')", timeout=WAIT_MS)
    page.wait_for_selector(STREAMLIT_IDLE, timeout=WAIT_MS)
    page.wait_for_function("() => [...document.querySelectorAll('.gtitle, .annotation-text')]"
                           ".some(e => e.textContent.includes('round 0'))", timeout=WAIT_MS)


def test_round_slider_redraws_only_the_round_details(server, browser):
    page, _ = _open(browser, server, "live-slider")
    curve_before = page.locator("[data-testid=stPlotlyChart]").first.inner_html()
    _slide_to_round_zero(page)
    assert page.locator("[data-testid=stException]").count() == 0, server.log_tail()
    assert page.locator("[data-testid=stPlotlyChart]").first.inner_html() == curve_before


#: Counts, per chart element, the animation frames in which plotly drew into it (added its SVG,
#: axis titles, ticks or grid lines). One drawing runs within one task, though the observer may
#: report it in several parts (plotly's promise chain); a second drawing comes a frame later at least.
COUNT_DRAWS = """() => {
  window.__draws = new WeakMap();
  window.__frame = 0;
  const tick = () => { window.__frame += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  const drawn = /(^| )(main-svg|g-xtitle|g-ytitle|xtick|ytick|xgrid|ygrid)( |$)/;
  new MutationObserver(records => {
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1) continue;
      const all = [n, ...n.querySelectorAll('[class]')];
      if (!all.some(e => drawn.test(e.getAttribute('class') || ''))) continue;
      const chart = (r.target.closest ? r.target : r.target.parentElement).closest('[data-testid=stPlotlyChart]');
      if (!chart) continue;
      if (!window.__draws.has(chart)) window.__draws.set(chart, new Set());
      window.__draws.get(chart).add(window.__frame);
    }
  }).observe(document.body, {subtree: true, childList: true});
}"""


def test_each_changed_chart_is_drawn_once_per_step(server, browser):
    """A round-slider step redraws the map and the confusion heatmaps once each, never twice.

    A chart in a column of fractional width was drawn, then drawn again when Streamlit measured
    the column's width to the last bit (796.797 px, then 796.796875 px).
    """
    page, _ = _open(browser, server, "live-draws")
    page.evaluate(COUNT_DRAWS)
    _slide_to_round_zero(page)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=stPlotlyChart] .main-svg').length >= 3",
                           timeout=WAIT_MS)
    page.wait_for_timeout(2000)  # a second drawing comes after the first has been painted
    counts = page.evaluate("() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')].map(c => "
                           "[(c.querySelector('.gtitle') || {}).textContent || '', (window.__draws.get(c) || new Set()).size])")
    assert page.locator("[data-testid=stException]").count() == 0, server.log_tail()
    redrawn = [(title, n) for title, n in counts if n]  # a list: the heatmaps have no title of their own
    assert any("round 0" in title for title, _ in redrawn), counts  # the map was drawn anew
    assert len(redrawn) >= 2, counts  # the map and the confusion heatmaps
    assert all(n == 1 for _, n in redrawn), counts


def test_presenter_view_hides_the_sidebar_and_plays_the_rounds(server, browser):
    page, _ = _open(browser, server + "/?present=1", "present")
    assert page.locator("[data-testid=stException]").count() == 0, server.log_tail()
    assert not page.locator("[data-testid=stSidebar]").is_visible()
    assert page.locator("h1").first.inner_text().startswith("Active picking (entropy) reached 95.6%")
    play = page.locator(".updatemenu-button").filter(has_text="Play")
    assert play.count() == 1
    play.click()
    # The animation slider's current-value label follows the frames as they play.
    page.wait_for_function("() => document.querySelector('.slider-group > .slider-label')"
                           "?.textContent === 'round 4'", timeout=WAIT_MS)


def test_url_reproduces_a_view(server, browser):
    page, _ = _open(browser, server + "/?batch_size=10&strategy=margin&dataset=digits-tutorial", "live-shared")
    assert page.locator("[data-testid=stException]").count() == 0, server.log_tail()
    from alsim import Config, run_loop

    metrics = dict(page_metrics(page))
    final = list(run_loop(Config(batch_size=10, strategy="margin")))[-1].accuracy
    assert metrics["margin: accuracy at 80 labels"] == f"{final:.4f}"
    assert metrics["revealed labels"] == "80"  # 40 + 4 x 10


def test_a_deep_link_opened_first_on_a_fresh_server_keeps_the_app_navigation(tmp_path, browser):
    # Before any run has called st.navigation, Streamlit runs a pages/ script on its own; the
    # page must still list the app's pages (not "app" and the file names) and keep the URL's view.
    # Plain `streamlit run app.py`: the launcher's warm-up already calls st.navigation.
    with streamlit_server(tmp_path, plain=True) as url:
        page = browser.new_page(viewport={"width": 1500, "height": 1600})
        page.goto(url + "/Compare?cmp_seeds=3")
        page.wait_for_selector(STREAMLIT_IDLE + " .js-plotly-plot", timeout=WAIT_MS)
        assert page.locator("[data-testid=stException]").count() == 0, url.log_tail()
        names = _nav_names(page)
        assert names[:3] == ["Live loop", "Compare", "Fashion-MNIST"] and "app" not in names, names
        assert page.get_by_text("over 3 seeds").count() >= 1
        page.close()


def test_compare_page(server, browser):
    page, elapsed = _open(browser, server + "/Compare", "compare")
    assert page.locator("[data-testid=stException]").count() == 0, server.log_tail()
    assert page.locator(".js-plotly-plot").count() >= 1
    assert page.get_by_text("random needs").count() >= 1
    print(f"compare page: complete after {elapsed:.1f} s")


def test_fashion_page(server, browser):
    from alsim.data.datasets import fashion_available

    if not fashion_available():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    page, elapsed = _open(browser, server + "/Fashion-MNIST", "fashion")
    assert page.locator("[data-testid=stException]").count() == 0, server.log_tail()
    assert page.get_by_text("Pseudo-label audit").count() == 1
    assert page.locator("[data-testid=stImage] img").count() == 2  # two gallery strips
    print(f"fashion page (self-training, fast model): complete after {elapsed:.1f} s")
