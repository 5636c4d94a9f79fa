"""Every page at 1400x900 in Debian's chromium: no text cut off on buttons or chart titles, no raw
None/nan/NaN, no character drawn as an empty box. One server, one visit per page, every check on it."""

from __future__ import annotations

import os
import time

import pytest
from conftest import ROOT, STREAMLIT_IDLE, WAIT_MS, needs_chromium, streamlit_server

pytestmark = needs_chromium
ARTIFACTS = ROOT / "artifacts"

#: Each page once, with its default settings; the Compare page with 3 seeds instead of 20 (the same
#: page, a sixth of the runs), the Fashion-MNIST page on the small Fashion-like set the tests write,
#: the Label page with a project under way.
PAGES = {"live": "/", "compare": "/Compare?cmp_seeds=3", "fashion": "/Fashion-MNIST", "data": "/Data",
         "sweep": "/Sweep", "label": "/Label", "presenter": "/?present=1"}
#: Pages that draw charts (waited for); the presenter view is opened once the live page's runs are cached.
CHARTS = {"live", "compare", "fashion", "presenter"}

#: What the page shows, gathered in the browser: text cut off (an element narrower than its text, or
#: a plotly title outside its chart), every text (page, charts' SVG, tables' grid cells) to look for a
#: raw None or nan in, and the characters that draw like a character no font has (an empty box).
SCAN = r"""() => {
  const out = {cut: [], texts: [], boxes: []};
  const shown = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  for (const button of document.querySelectorAll('button, .updatemenu-button')) {
    const label = (button.innerText || button.textContent || '').trim();
    if (!label || !shown(button)) continue;
    for (const el of [button, ...button.querySelectorAll('*')]) {
      const style = getComputedStyle(el);
      const clips = style.overflow !== 'visible' || style.textOverflow === 'ellipsis';
      if (clips && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) { out.cut.push('button: ' + label); break; }
    }
  }
  for (const plot of document.querySelectorAll('.js-plotly-plot')) {
    const box = plot.querySelector('.main-svg').getBoundingClientRect();
    for (const title of plot.querySelectorAll('.gtitle, .xtitle, .ytitle, .g-xtitle text, .g-ytitle text')) {
      const r = title.getBoundingClientRect();
      if (r.width && (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1))
        out.cut.push('chart title: ' + title.textContent);
    }
    out.texts.push(...[...plot.querySelectorAll('text')].map(t => t.textContent));
  }
  out.texts.push(document.body.innerText, ...(window.__canvasTexts || []));
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 48;
  const g = canvas.getContext('2d', {willReadFrequently: true});
  const font = getComputedStyle(document.body).fontFamily;
  const draw = ch => { g.clearRect(0, 0, 48, 48); g.font = '32px ' + font; g.fillText(ch, 4, 36);
                       return g.getImageData(0, 0, 48, 48).data.join(','); };
  const missing = new Set(['\uE000', '\u{10FFFD}', '\u{E0FFF}'].map(draw));
  const blank = draw(' ');
  const chars = new Set([...out.texts.join('')].filter(c => c.codePointAt(0) > 0x7f && !/[\s\p{Cf}\p{Mn}\p{Cc}]/u.test(c)));
  for (const ch of chars) { const drawn = draw(ch); if (missing.has(drawn) || drawn === blank) out.boxes.push(ch); }
  return out;
}"""
RAW = r"\b(None|nan|NaN)\b"
#: Tables (st.dataframe) draw their cells on a canvas: every text drawn on one is recorded, to be read too.
RECORD_CANVAS_TEXT = """
window.__canvasTexts = [];
const fillText = CanvasRenderingContext2D.prototype.fillText;
CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
  if (window.__canvasTexts.length < 100000) window.__canvasTexts.push(String(text));
  return fillText.call(this, text, ...rest);
};
"""


@pytest.fixture(scope="module")
def screen_server(tmp_path_factory, fashion_like_dir):
    """The server, with a labeling project three batches in (so the Label page shows its class buttons,
    its batch and the agreement chart) and the Fashion-like set as Fashion-MNIST."""
    from alsim.labeling import projects as labeling

    project = labeling.create_project("screen", "digits")
    for _ in range(3):
        for item in labeling.current_batch(project).items:
            labeling.add_label(project, item, int(project.dataset.labels[item]))
    env = {**os.environ, "ALSIM_DATA_DIR": str(fashion_like_dir)}
    with streamlit_server(tmp_path_factory.mktemp("screen"), env=env) as url:
        yield url


def test_every_page_shows_whole_true_text(screen_server, browser):
    import re

    ARTIFACTS.mkdir(exist_ok=True)
    started = time.perf_counter()
    pages, problems = {}, {}

    def open_page(name):
        pages[name] = browser.new_page(viewport={"width": 1400, "height": 900})
        pages[name].add_init_script(RECORD_CANVAS_TEXT)
        pages[name].goto(screen_server + PAGES[name], wait_until="commit")

    for name in PAGES:  # open at once (the server works on one while another is drawn), but the
        if name != "presenter":  # presenter view after the live page: it reads the same runs
            open_page(name)
    for name in PAGES:
        if name == "presenter":
            open_page(name)
        page = pages[name]
        page.wait_for_selector("[data-testid=stMain] h1", timeout=WAIT_MS)  # the page's script has run
        page.wait_for_selector(STREAMLIT_IDLE, timeout=WAIT_MS)  # and finished
        if name in CHARTS:
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=WAIT_MS)
        page.wait_for_function("[...document.querySelectorAll('[data-testid=stImage] img')].every(i => i.complete)",
                               timeout=WAIT_MS)
        page.evaluate("document.fonts.ready")
        assert page.locator("[data-testid=stException]").count() == 0, (name, screen_server.log_tail())
        page.bring_to_front()
        page.screenshot(path=str(ARTIFACTS / f"screen-{name}.png"))
        for table in page.locator("[data-testid=stDataFrame]").all():  # a table's grid is drawn once in view
            table.scroll_into_view_if_needed()
            table.locator("[role=gridcell]").first.wait_for(state="attached", timeout=WAIT_MS)
        found = page.evaluate(SCAN)
        raw = sorted({m.group(0) + ": " + text[max(0, m.start() - 40):m.end() + 20].replace("\n", " ")
                      for text in found["texts"] for m in re.finditer(RAW, text)})
        if found["cut"] or raw or found["boxes"]:
            problems[name] = {"cut off": found["cut"], "raw": raw, "empty boxes": found["boxes"]}
        print(f"{name}: checked after {time.perf_counter() - started:.1f} s")
    for page in pages.values():
        page.close()
    assert not problems, problems
