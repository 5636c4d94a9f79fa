"""End to end in chromium: label two batches with the keyboard on the Label page, reload, find the same state."""

from __future__ import annotations

import inspect
import re

from conftest import STREAMLIT_IDLE, WAIT_MS, chromium_browser, needs_chromium, streamlit_server

from alsim.labeling import projects as labeling

pytestmark = needs_chromium

FOCUS = re.compile(r"Label image #(\d+)")
CELL = re.compile(r"^(?:▶ )?#(\d+)(?: · focused)?$")


def _server(tmp_path):
    if "log_dir" in inspect.signature(streamlit_server).parameters:
        return streamlit_server(tmp_path)
    return streamlit_server()


def _idle(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_selector(STREAMLIT_IDLE, timeout=WAIT_MS)


def _focused(page) -> int:
    return int(FOCUS.search(page.get_by_text(FOCUS).first.inner_text()).group(1))


def _shown_batch(page) -> list[int]:
    texts = page.locator("[data-testid=stMarkdownContainer] strong").all_inner_texts()
    return [int(m.group(1)) for m in (CELL.match(t.strip()) for t in texts) if m]


def _stored(project) -> dict[int, int]:
    return {item: row.label for item, row in project.store.labels(project.id).items()}


def _press(page, key: str, before: dict, project, expect_change=True) -> None:
    page.keyboard.press(key)
    if expect_change:  # the store changes when the click's rerun has written the label
        for _ in range(300):
            if _stored(project) != before:
                break
            page.wait_for_timeout(100)
    _idle(page)


def test_two_batches_by_keyboard_then_reload_shows_the_same_labels_and_batch(tmp_path):
    project = labeling.create_project("demo", "digits")
    truth = project.dataset.labels
    with _server(tmp_path) as url, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(url + "/Label?label_project=demo")
        _idle(page)
        page.wait_for_selector("text=Batch 1: 0 of 8", timeout=WAIT_MS)
        assert page.locator("[data-testid=stException]").count() == 0
        first = _shown_batch(page)
        assert first == list(labeling.current_batch(project).items) and len(first) == 8
        page.wait_for_function("document.querySelectorAll('[data-testid=stImage] img').length === 8",
                               timeout=WAIT_MS)
        assert page.locator("[data-testid=stImage] img").count() == 8
        page.locator("h1").first.click()  # keyboard focus on the page, not in an input

        # A wrong key, undone with Backspace, then the right one.
        item = _focused(page)
        wrong = (int(truth[item]) + 1) % 10
        _press(page, str(wrong), {}, project)
        assert _stored(project) == {item: wrong}
        _press(page, "Backspace", _stored(project), project)
        assert _stored(project) == {} and _focused(page) == item

        # Arrows move the focus; the number keys label the focused image, which moves on by itself.
        _press(page, "ArrowRight", {}, project, expect_change=False)
        assert _focused(page) == first[1]
        _press(page, "ArrowLeft", {}, project, expect_change=False)
        assert _focused(page) == first[0]
        expected = {}
        for batch_number in (1, 2):
            shown = _shown_batch(page)
            for _ in range(len(shown)):
                item = _focused(page)
                assert item in shown
                before = _stored(project)
                _press(page, str(int(truth[item])), before, project)
                expected[item] = int(truth[item])
                assert _stored(project) == expected
            page.wait_for_selector(f"text=Batch {batch_number + 1}: 0 of 8", timeout=WAIT_MS)
            _idle(page)
        assert page.locator("[data-testid=stException]").count() == 0
        third = _shown_batch(page)
        assert len(third) == 8 and not set(third) & set(expected)
        assert page.locator(".js-plotly-plot").count() >= 1  # the agreement curve after a guessed batch

        page.reload()
        _idle(page)
        page.wait_for_selector("text=Batch 3: 0 of 8", timeout=WAIT_MS)
        assert _shown_batch(page) == third
        assert _stored(project) == expected and len(expected) == 16
        assert page.get_by_text("16 labels (16 typed").count() == 1
        assert page.locator("[data-testid=stException]").count() == 0

        # A second browser session on the same project sees the same batch.
        other = browser.new_page(viewport={"width": 1400, "height": 1600})
        other.goto(url + "/Label?label_project=demo")
        _idle(other)
        other.wait_for_selector("text=Batch 3: 0 of 8", timeout=WAIT_MS)
        assert _shown_batch(other) == third
