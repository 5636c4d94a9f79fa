"""alsim as users install it: a wheel in a fresh virtual environment, `alsim serve` from another folder, every page."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, STREAMLIT_IDLE, WAIT_MS, chromium_browser, needs_chromium, streamlit_server

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A venv (seeing this Python's packages for the dependencies) with alsim installed from a freshly built wheel."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "alsim", source / "alsim", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = work / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                    str(source)], check=True, timeout=300)
    [wheel] = wheels.glob("alsim-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "-q", str(wheel)], check=True,
                   timeout=300)
    return venv


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, "HOME": str(home), "ALSIM_HOME": str(home / "alsim-home"), "ALSIM_CACHE_DIR": str(home / "cache")}


def test_the_wheel_holds_the_entry_script_and_no_clone_files(installed, tmp_path):
    python = installed / "bin" / "python"
    where = subprocess.run([str(python), "-c", "import alsim, pathlib; print(pathlib.Path(alsim.__file__).parent)"],
                           cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=120, check=True)
    package = Path(where.stdout.strip())
    assert package.is_relative_to(installed), f"alsim imported from {package}, not the venv"
    assert (package / "dashboard" / "entry" / "app.py").is_file()
    help_text = subprocess.run([str(installed / "bin" / "alsim"), "--help"], cwd=tmp_path, env=_env(tmp_path),
                               capture_output=True, text=True, timeout=120)
    assert help_text.returncode == 0 and "serve" in help_text.stdout
    module = subprocess.run([str(python), "-m", "alsim", "presets"], cwd=tmp_path, env=_env(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert module.returncode == 0 and "digits-tutorial" in module.stdout


def test_alsim_serve_from_another_folder_shows_every_page(installed, tmp_path):
    elsewhere = tmp_path / "somewhere-else"
    elsewhere.mkdir()
    with streamlit_server(tmp_path, timeout=300, command=[str(installed / "bin" / "alsim"), "serve"], cwd=elsewhere,
                          env=_env(tmp_path)) as url, chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        for path, heading in (("/", "active learning, live"), ("/Data", None), ("/Label", None), ("/Sweep", None)):
            page.goto(url + path)
            page.wait_for_selector(STREAMLIT_IDLE, timeout=WAIT_MS)
            page.wait_for_selector("[data-testid=stSidebarNav]", timeout=WAIT_MS)
            assert page.locator("[data-testid=stException]").count() == 0, url.log_tail()
            links = page.locator("[data-testid=stSidebarNav] a").all_inner_texts()
            assert [text.strip().splitlines()[-1] for text in links][:6] == ["Live loop", "Compare", "Fashion-MNIST", "Data", "Sweep",
                                                           "Label"], links
            if heading:
                assert heading in page.locator("h1").first.inner_text()
        log = url.log_tail()
        assert "Traceback" not in log, log
