"""The dashboard's launcher (`python -m alsim serve`): warm-up first, then Streamlit's own `run` path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import alsim
from alsim.cli.main import main
from alsim.dashboard.serve import APP, DEFAULT_OPTIONS, default_flags, find_app, seconds_since_process_start

ROOT = Path(__file__).resolve().parents[1]

# The home page once as the launcher runs it, then once more as a new session (the first
# visitor): the second run must find every run and baseline already in the shared caches.
_WARM_THEN_VISIT = r"""
import json, sys
from alsim.storage.memory import shared_cache
from alsim.dashboard.serve import find_app, warm
from alsim.evidence import workers
steps = warm(find_app())
after_warm = {name: shared_cache(name).stats() for name in ("runs", "values")}
worker_warm = workers.wait_warm(60)
from streamlit.testing.v1 import AppTest
visit = AppTest.from_file(str(find_app()), default_timeout=120)
visit.run()
after_visit = {name: shared_cache(name).stats() for name in ("runs", "values")}
print(json.dumps({"steps": steps, "warm": after_warm, "visit": after_visit, "worker_warm": worker_warm,
                  "errors": [str(e.value) for e in visit.exception]}))
"""


def test_the_app_is_the_package_entry_and_its_defaults_match_the_clone_config():
    import tomllib

    assert find_app() == APP and APP.is_relative_to(Path(alsim.__file__).parent)
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    flat = {f"{section}.{key}": str(value).lower() if isinstance(value, bool) else str(value)
            for section, values in config.items() for key, value in values.items()}
    assert flat == DEFAULT_OPTIONS
    assert default_flags(["--theme.base", "dark"]).count("--theme.base") == 0  # the user's option wins


def test_help_says_the_options_go_to_streamlit(capsys):
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: alsim serve") and "streamlit run --help" in out


def test_a_bad_option_is_refused_at_once_without_a_warm_up():
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "alsim", "serve", "--server.no-such-option", "1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "No such option" in out.stderr and "warmed up" not in out.stderr
    assert time.perf_counter() - started < 30  # refused before the home page would have run


def test_the_warm_up_leaves_nothing_for_the_first_visitor_to_compute(tmp_path):
    out = subprocess.run([sys.executable, "-c", _WARM_THEN_VISIT], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(result["steps"]) == {"imports", "home page", "comparison worker (waited)"} and not result["errors"]
    assert result["worker_warm"]  # the Compare page's first comparison hands seeds to a ready worker
    warm, visit = result["warm"], result["visit"]
    assert warm["runs"]["entries"] >= 1 and warm["values"]["entries"] >= 1  # the run, its seeds, the baseline
    for name in ("runs", "values"):
        assert visit[name]["entries"] == warm[name]["entries"], name  # nothing new was computed
        assert visit[name]["hits"] > warm[name]["hits"], name


def test_time_since_the_process_started_is_read_from_proc():
    elapsed = seconds_since_process_start()
    if Path("/proc/self/stat").exists():
        assert elapsed is not None and 0 <= elapsed < 24 * 3600
    else:
        assert elapsed is None


def test_the_compare_page_default_is_what_the_worker_loads():
    from alsim.dashboard.compare_page import DEFAULT_PRESET
    from alsim.dashboard.serve import COMPARE_PRESET

    assert COMPARE_PRESET == DEFAULT_PRESET


def test_a_worker_that_cannot_start_is_reported_and_the_warm_up_goes_on(monkeypatch, capsys):
    from concurrent.futures import Future

    import alsim.dashboard.serve as serve

    failed = Future()
    failed.set_exception(RuntimeError("no interpreter"))
    monkeypatch.setattr(serve, "_start_worker", lambda: failed)
    steps = serve.warm(find_app())
    assert {"imports", "home page", "comparison worker (waited)"} <= set(steps)
    assert "the comparison worker did not start: RuntimeError: no interpreter" in capsys.readouterr().err


@pytest.mark.parametrize("start, said", [
    ("raises", "the comparison worker did not start: OSError: [Errno 38] no semaphores"),
    ("none", "the comparison worker did not start: no worker process could be made"),
])
def test_a_worker_that_cannot_be_made_is_reported_and_the_server_starts(monkeypatch, capsys, start, said):
    import alsim.dashboard.serve as serve
    import alsim.evidence.compare as compare

    def prestart(config):
        if start == "raises":
            raise OSError(38, "no semaphores")
        return None

    monkeypatch.setattr(compare, "prestart_worker", prestart)
    steps = serve.warm(find_app())
    assert set(steps) == {"imports", "home page"}  # nothing to wait for
    assert said in capsys.readouterr().err


def test_no_process_to_be_made_means_no_worker_not_an_error(monkeypatch):
    from alsim.evidence import workers

    def no_pool():
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(workers, "worker_pool", no_pool)
    assert workers.submit(sum, [1, 2]) is None  # the caller computes it
