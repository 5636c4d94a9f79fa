"""Under load: 10 sessions running heavy settings at once, a new visitor still gets the page fast.

Bounded: one server on 127.0.0.1, 10 browser pages (five times the runs a 2-core server computes
at once, so most of them queue), a few measurements, then everything is closed. Heavy runs take
turns (one per core, see ``alsim.storage.memory.WorkSlots``), so the server's event loop stays free
to answer. Loading each heavy page's front end costs this machine's cores too, which is what bounds
the number here.
"""

from __future__ import annotations

import statistics
import time
import urllib.request

from conftest import WAIT_MS, chromium_browser, needs_chromium

N_SESSIONS = 10
HEAVY = "/?dataset=digits&initial=random&n_initial=20&batch_size=2&n_rounds=300&seed={seed}"

pytestmark = needs_chromium


def _get_seconds(url: str) -> float:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
    return time.perf_counter() - started


def _first_paint(browser, url: str, page=None) -> float:
    """Seconds from navigation to the live page's title drawn by the server's script."""
    page = page or browser.new_context().new_page()
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.get_by_role("heading", name="alsim").first.wait_for(timeout=WAIT_MS)
    return time.perf_counter() - started


def test_a_new_visitor_is_answered_fast_while_10_sessions_run_heavy_settings(server):
    with chromium_browser() as browser:
        _first_paint(browser, server + "/?seed=97")  # the server's first page pays its imports: not counted
        unloaded = _first_paint(browser, server + "/?seed=98")  # the same page with no load, for reference
        context = browser.new_context(viewport={"width": 1000, "height": 800})
        heavy = [context.new_page() for _ in range(N_SESSIONS)]
        for seed, page in enumerate(heavy):
            page.goto(server + HEAVY.format(seed=seed), wait_until="commit")
        # Wait until the heavy sessions are running (some computing, the rest queued).
        for page in heavy:
            page.wait_for_selector("[data-testid=stApp][data-test-script-state=running]", timeout=WAIT_MS)
        # Those visitors' browsers would run on their own machines: freeze their pages so that
        # drawing them does not take this machine's cores from the server. Their sessions keep
        # running on the server (the socket stays open).
        for page in heavy:
            context.new_cdp_session(page).send("Page.setWebLifecycleState", {"state": "frozen"})
        time.sleep(3)

        health = [_get_seconds(server + "/_stcore/health") for _ in range(5)]
        html = [_get_seconds(server + "/") for _ in range(3)]
        visitor = browser.new_context().new_page()
        first_paint = _first_paint(browser, server + "/?seed=99", visitor)
        # The visitor's own run is queued or running, and the page says so.
        visitor.wait_for_function(
            "document.body.innerText.includes('Waiting for a free worker') || "
            "document.body.innerText.includes('Labeling loop') || "
            "document.querySelector('[data-testid=stApp][data-test-script-state=notRunning]') !== null",
            timeout=WAIT_MS)
        exceptions = visitor.locator("[data-testid=stException]").count()
    print(f"\nwith {N_SESSIONS} heavy sessions: health median {statistics.median(health):.3f} s "
          f"(max {max(health):.3f}), page HTML median {statistics.median(html):.3f} s, "
          f"new visitor's page drawn after {first_paint:.2f} s (without the load: {unloaded:.2f} s)")
    assert exceptions == 0
    assert max(health) < 2.0 and statistics.median(health) < 0.5
    assert max(html) < 2.0 and statistics.median(html) < 0.5
    # The server answers a new visitor at once (above). Drawing the page in a fresh browser
    # context also loads the whole front end on this same machine, whose two cores the heavy
    # sessions are using, so how long that takes depends on the machine: its time is printed for
    # the record, and the test asks only that the page comes (waited for above), with no error.
