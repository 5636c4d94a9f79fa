"""Shared fixtures: temporary cache and ALSIM_HOME folders, a small Fashion-like IDX data set
written by the tests themselves, a scikit-learn-only self-training reference, and a headless
Streamlit server with Debian's chromium for the browser tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from alsim.common.runtime import configure_process
from alsim.data.datasets import FASHION_FILES, fashion_available, write_idx

# The test process computes with the thread pools the command line, the dashboard and the
# sweep workers use (one BLAS and one OpenMP thread by default): a nearest-neighbour search
# over points at equal distances (digits' integer pixels) orders the ties by its threads'
# chunks, so in-process numbers match the entry points' only with the same pools.
configure_process()

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


def make_fashion_like(folder: Path, n_train: int = 600, n_test: int = 200, seed: int = 0) -> Path:
    """Write four IDX files of 28x28 images whose class is a noisy bar pattern."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def images_for(labels):
        out = rng.integers(0, 60, size=(len(labels), 28, 28))
        for i, label in enumerate(labels):
            if label < 5:  # horizontal bar at a class-specific height
                out[i, 3 + 4 * label: 6 + 4 * label, 4:24] += 180
            else:  # vertical bar
                out[i, 4:24, 3 + 4 * (label - 5): 6 + 4 * (label - 5)] += 180
        return np.clip(out, 0, 255).astype(np.uint8)

    train_labels = np.tile(np.arange(10), n_train // 10)
    rng.shuffle(train_labels)
    test_labels = np.tile(np.arange(10), n_test // 10)
    write_idx(folder / FASHION_FILES["train_images"], images_for(train_labels))
    write_idx(folder / FASHION_FILES["train_labels"], train_labels)
    write_idx(folder / FASHION_FILES["test_images"], images_for(test_labels))
    write_idx(folder / FASHION_FILES["test_labels"], test_labels)
    return folder


def _session_cache(tmp_path_factory) -> Path:
    """The disk cache of this test session, shared by all its tests (HOG of the real data once)."""
    return tmp_path_factory.getbasetemp() / "cache"


@pytest.fixture(scope="session", autouse=True)
def _isolated_session(tmp_path_factory):
    """Set before any module fixture, so servers and subprocesses started by tests inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALSIM_CACHE_DIR", str(_session_cache(tmp_path_factory)))
        patch.setenv("ALSIM_HOME", str(tmp_path_factory.mktemp("alsim_home_session")))
        yield


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Caches and user data go to temporary folders, never the user's home."""
    monkeypatch.setenv("ALSIM_CACHE_DIR", str(_session_cache(tmp_path_factory)))
    monkeypatch.setenv("ALSIM_HOME", str(tmp_path_factory.mktemp("alsim_home")))


@pytest.fixture(scope="session")
def fashion_like_dir(tmp_path_factory) -> Path:
    return make_fashion_like(tmp_path_factory.mktemp("fashion_like"))


@pytest.fixture
def fashion_like(fashion_like_dir, monkeypatch) -> Path:
    """ALSIM_DATA_DIR pointing at the generated Fashion-like data set."""
    monkeypatch.setenv("ALSIM_DATA_DIR", str(fashion_like_dir))
    return fashion_like_dir


def reference_self_training(make_estimator, features, truth, revealed, thresholds, n_fits, oracle=False):
    """Self-training re-run with scikit-learn alone, as an independent account of the loop.

    Fit ``make_estimator()`` on the labeled rows (in pool order), take its ``predict`` as the
    label of every point and the largest of ``predict_proba`` (or the one-vs-rest sigmoids of
    ``decision_function``, normalised: experiment B's recipe) as its confidence; every
    unlabeled point above ``thresholds[i]`` joins the training set with the prediction, or
    with its true label when ``oracle``. No queries.

    Returns one dict per fit: ``predicted`` (n,), ``moved`` (ids added after this fit),
    ``correct`` (how many of them were predicted right).
    """
    import warnings

    from scipy.special import expit

    train = np.full(len(truth), -1)
    train[revealed] = truth[revealed]
    fits = []
    for i in range(n_fits):
        rows = np.flatnonzero(train >= 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = make_estimator().fit(features[rows], train[rows])
        if hasattr(model, "predict_proba"):
            confidence = model.predict_proba(features).max(axis=1)
        else:
            sigmoid = expit(model.decision_function(features))
            confidence = (sigmoid / sigmoid.sum(axis=1, keepdims=True)).max(axis=1)
        predicted = model.predict(features)
        moved = np.zeros(0, dtype=int)
        if i < len(thresholds) and i < n_fits - 1:
            unlabeled = np.flatnonzero(train < 0)
            moved = unlabeled[confidence[unlabeled] > thresholds[i]]
            train[moved] = truth[moved] if oracle else predicted[moved]
        fits.append({"predicted": predicted, "moved": moved,
                     "correct": int(np.count_nonzero(predicted[moved] == truth[moved]))})
    return fits


CHROMIUM = os.environ.get("ALSIM_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
STREAMLIT_IDLE = "[data-testid=stApp][data-test-script-state=notRunning]"
#: How long a browser test waits for work to be done (a page to finish, a chart to appear): a bound
#: against a hang, generous enough for a busy machine; a test never waits a fixed short time.
WAIT_MS = int(float(os.environ.get("ALSIM_TEST_WAIT_S", "600")) * 1000)

needs_chromium = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() or shutil.which("chromium")),
    reason=f"Debian's chromium is not installed at {CHROMIUM} (apt-get install -y chromium)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StreamlitServer(str):
    """The base URL of a running server; ``log_tail()`` is the end of what it printed."""

    log: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def pytest_make_parametrize_id(config, val, argname):
    """A long bytes parameter (a zip or npz made at collection time) is named by its size.

    Its bytes hold the time it was made, so an id made of them could differ between the two
    processes that collect the tests (``-n 2``), which pytest-xdist refuses.
    """
    if isinstance(val, (bytes, bytearray)) and len(val) > 32:
        return f"{argname}-{len(val)}bytes"
    return None


@contextlib.contextmanager
def streamlit_server(log_dir: Path, timeout: float = 60, plain: bool = False, command: list[str] | None = None,
                     cwd: Path = ROOT, env: dict | None = None):
    """The dashboard as the README starts it (``python -m alsim serve``: warm-up, then
    ``streamlit run app.py``), headless on a free local port; yields a :class:`StreamlitServer`.
    ``plain``: ``streamlit run app.py`` itself, with no warm-up.

    Started after the session fixture set ALSIM_CACHE_DIR and ALSIM_HOME, so the server
    inherits the test folders. Its output goes to a file (a pipe nobody reads would fill up
    and stall the server), whose end failing tests can show. ``timeout`` covers the warm-up.
    ``command``: another way to start it (e.g. an installed ``alsim serve``), run in ``cwd``.
    """
    port = _free_port()
    env = {**(os.environ if env is None else env), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    start = command or [sys.executable, "-m", *(("streamlit", "run", "app.py") if plain else ("alsim", "serve"))]
    log = Path(log_dir) / f"streamlit-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*start, "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = StreamlitServer(f"http://127.0.0.1:{port}")
    url.log = log
    try:
        deadline = time.time() + timeout
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=1)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail("streamlit did not start: " + url.log_tail(2000))
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@contextlib.contextmanager
def chromium_browser():
    """Debian's chromium driven by Playwright (``playwright install`` cannot download browsers here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One dashboard server (:func:`streamlit_server`) per test module that asks for it."""
    with streamlit_server(tmp_path_factory.mktemp("streamlit")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    """One headless chromium (:func:`chromium_browser`) per test module that asks for it."""
    with chromium_browser() as b:
        yield b


def page_metrics(page) -> list[tuple[str, str]]:
    """(label, value) of every ``st.metric`` on a page, in page order."""
    return page.eval_on_selector_all(
        "[data-testid=stMetric]",
        "els => els.map(e => [e.querySelector('[data-testid=stMetricLabel]').innerText.trim(),"
        " e.querySelector('[data-testid=stMetricValue]').innerText.trim()])")


real_fashion = pytest.mark.skipif(
    not fashion_available(REAL_FASHION),
    reason=f"real Fashion-MNIST not installed in {REAL_FASHION} (apt-get install dataset-fashion-mnist)",
)


@pytest.fixture
def real_fashion_dir(monkeypatch) -> Path:
    monkeypatch.setenv("ALSIM_DATA_DIR", str(REAL_FASHION))
    # The session's cache (set by _isolated_cache) serves every real-data test; whoever runs the
    # tests may name a folder kept between sessions instead. Never the user's ~/.cache.
    if os.environ.get("ALSIM_REAL_CACHE_DIR"):
        monkeypatch.setenv("ALSIM_CACHE_DIR", os.environ["ALSIM_REAL_CACHE_DIR"])
    return REAL_FASHION
