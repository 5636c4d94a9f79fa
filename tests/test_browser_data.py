"""End to end: upload a zip of images on the Data page in chromium, then run the live loop on it by URL."""

from __future__ import annotations

import inspect
from urllib.parse import urljoin

from conftest import STREAMLIT_IDLE, WAIT_MS, chromium_browser, needs_chromium, page_metrics, streamlit_server
from test_importers import write_image_folder, zip_folder

from alsim.data.importers import read_path

pytestmark = needs_chromium


def _server(tmp_path):
    if "log_dir" in inspect.signature(streamlit_server).parameters:
        return streamlit_server(tmp_path)
    return streamlit_server()


def _idle(page) -> None:
    page.wait_for_timeout(500)
    page.wait_for_selector(STREAMLIT_IDLE, timeout=WAIT_MS)


def test_upload_a_zip_then_run_the_live_loop_on_it(tmp_path):
    archive = zip_folder(write_image_folder(tmp_path / "pets", per_class=20, unlabeled=4), tmp_path / "pets.zip")
    expected_id = read_path(archive).dataset.content_key[:12]
    with _server(tmp_path) as url, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(url + "/Data")
        _idle(page)
        page.set_input_files("input[type=file]", str(archive))
        page.wait_for_selector(f"text=Stored as pets (id {expected_id})", timeout=WAIT_MS)
        _idle(page)
        again = tmp_path / "pets-again.zip"  # the same data under another name: said, not stored twice
        again.write_bytes(archive.read_bytes())
        page.set_input_files("input[type=file]", str(again))
        page.wait_for_selector("text=Already stored: pets-again.zip holds the same data", timeout=WAIT_MS)
        _idle(page)
        assert page.locator("[data-testid=stException]").count() == 0
        assert page.url.endswith(f"/Data?dataset={expected_id}")  # the view's link names the data set
        page.goto(page.url)  # the link opened anew shows the same set
        _idle(page)
        assert page.get_by_text("pets", exact=True).count() >= 1 and dict(page_metrics(page))["Points"] == "64"
        assert dict(page_metrics(page))["Points"] == "64"
        assert page.locator("[data-testid=stImage] img").count() >= 3 * 8

        # The page's link opens the live loop with a config suited to the set (datastore.default_config).
        href = page.get_by_role("link", name="Run the live loop on this data set").get_attribute("href")
        assert href.startswith(f"./?dataset={expected_id}&features=hog")
        page.goto(urljoin(page.url, href))
        _idle(page)
        page.wait_for_selector(".js-plotly-plot", timeout=WAIT_MS)
        _idle(page)
        assert page.locator("[data-testid=stException]").count() == 0
        metrics = dict(page_metrics(page))
        assert metrics["revealed labels"] == "56"  # 6 stratified + 10 rounds of 5 queries
