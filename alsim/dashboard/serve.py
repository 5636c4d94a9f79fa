"""Start the dashboard ready for its first visitor: ``python -m alsim serve [streamlit options]``.

``streamlit run app.py`` starts answering at once, and the first visitor's page then pays
for everything a process does only once: importing the dashboard (scikit-learn, SciPy,
plotly, OpenCV, Pillow: about 2 s), Streamlit's own first-use work, the home page's
default run and its seeds. This launcher does that work first, in the main thread and
before any session exists, and then starts Streamlit in the same process on the package's
own entry script (:data:`APP`; the same pages as ``streamlit run app.py`` in a clone, and
there wherever alsim is installed), with :data:`DEFAULT_OPTIONS` under the user's own:

1. ``import alsim.dashboard`` loads every module the pages use (see that package: a first
   import inside a session thread can race another session's);
2. the entry script runs once, headless, with Streamlit's own script runner
   (:class:`streamlit.testing.v1.AppTest`), so the home page's default run, baseline and
   seeds are in the server-wide caches of :mod:`alsim.storage.memory` when the first browser
   arrives. Its ``st.navigation`` call does what a first visit's would (see
   :mod:`alsim.dashboard.nav`): the server starts with the app's navigation, so a deep link
   opened first (``/Compare``) runs through the navigation at once;
3. the comparison worker (:func:`alsim.evidence.compare.prestart_worker`) starts beside steps 1 and 2,
   on the other core, and loads the Compare page's default preset (:data:`COMPARE_PRESET`);
   the launcher waits for it, so the first comparison hands seeds to a worker that is ready;
4. Streamlit's command line runs ``streamlit run <entry script>`` with the options given here.

The server answers its health check (``/_stcore/health``) only after step 4 starts, so
the warm-up shows as a later start, never as a slower page. Each step's time is printed
on stderr.

It lives in the dashboard package, the only part of alsim that imports Streamlit;
``python -m alsim serve`` reaches it without the core importing either.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

#: The dashboard's entry script inside the package: the same pages from a clone or an installed wheel.
APP = Path(__file__).resolve().parent / "entry" / "app.py"

#: Streamlit options ``alsim serve`` starts with (the same as the clone's ``.streamlit/config.toml``, which
#: only ``streamlit run`` started in the clone reads); options given on the command line come after and win.
DEFAULT_OPTIONS = {
    # Viewers see a short generic message for an unexpected error; the traceback goes to the server's log.
    "client.showErrorDetails": "none",
    # No Deploy button or developer items (rerun, clear cache) in the menu.
    "client.toolbarMode": "viewer",
    # No usage statistics are sent (the page would try to reach Streamlit's servers).
    "browser.gatherUsageStats": "false",
    "theme.base": "light",
    "theme.primaryColor": "#1f77b4",
    "theme.backgroundColor": "#ffffff",
    "theme.secondaryBackgroundColor": "#f2f5f9",
    "theme.textColor": "#1f2933",
}

#: The preset the Compare page opens with (its sidebar's default): the worker loads its data and graph.
COMPARE_PRESET = "digits-compare"

#: Longest wait for the comparison worker (spawning an interpreter and its imports: seconds).
WORKER_WAIT_SECONDS = 60.0

USAGE = """usage: alsim serve [streamlit run options]

Open the dashboard: load every module and run the home page once, then start Streamlit
on the package's own entry script (every page, from any folder), with the warm-up done
before the first visit. Options go to `streamlit run`, e.g. --server.port 8502
--server.headless true (see `streamlit run --help`).
"""


def _log(message: str) -> None:
    print(f"alsim serve: {message}", file=sys.stderr, flush=True)


def find_app() -> Path:
    """The entry script :data:`APP` (inside the package, so it is there wherever alsim is installed)."""
    if not APP.is_file():
        raise FileNotFoundError(f"the dashboard's entry script {APP} is missing: reinstall alsim")
    return APP


def default_flags(argv: list[str]) -> list[str]:
    """``--name value`` for each of :data:`DEFAULT_OPTIONS` the command line does not set itself."""
    given = {arg[2:].split("=", 1)[0] for arg in argv if arg.startswith("--")}
    return [item for name, value in DEFAULT_OPTIONS.items() if name not in given for item in (f"--{name}", value)]


def warm(app: Path, timeout: float = 300.0) -> dict[str, float]:
    """Import the dashboard and run the home page once, with the comparison worker starting beside; seconds per step.

    A home page that fails here is reported and left to fail again, visibly, for the
    visitor; a worker that cannot start is reported too (comparisons then compute every
    seed in the server's process): the server starts either way.
    """
    seconds = {}
    started = time.perf_counter()
    ready = _start_worker()
    import alsim.dashboard  # noqa: F401  # lazy: timed as the warm-up's first step (every module the pages use)

    seconds["imports"] = time.perf_counter() - started
    started = time.perf_counter()
    import logging

    from streamlit.testing.v1 import AppTest

    # Building an AppTest outside a script run logs "missing ScriptRunContext ... can be
    # ignored"; it would be the first line a user reads, about nothing.
    context_log = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    level = context_log.level
    context_log.setLevel(logging.ERROR)
    try:
        page = AppTest.from_file(str(app), default_timeout=timeout)
    finally:
        context_log.setLevel(level)
    page.run()
    for exception in page.exception:
        _log(f"the home page failed during the warm-up: {exception.value}")
    seconds["home page"] = time.perf_counter() - started
    if ready is not None:
        started = time.perf_counter()
        try:
            ready.result(timeout=WORKER_WAIT_SECONDS)
        except Exception as exc:  # noqa: BLE001  (any failure: comparisons still run, without the worker)
            _log(f"the comparison worker did not start: {type(exc).__name__}: {exc}")
        seconds["comparison worker (waited)"] = time.perf_counter() - started
    return seconds


def _start_worker():
    """The comparison worker, loading the Compare page's default (a future), or None if none can start (said why)."""
    try:
        # lazy: started first, beside the dashboard's imports (timed with them)
        from alsim.evidence.compare import prestart_worker
        from alsim.loop.presets import get_preset

        ready = prestart_worker(get_preset(COMPARE_PRESET))
    except Exception as exc:  # noqa: BLE001  (any failure: comparisons still run, without the worker)
        _log(f"the comparison worker did not start: {type(exc).__name__}: {exc}")
        return None
    if ready is None:
        _log("the comparison worker did not start: no worker process could be made")
    return ready


def seconds_since_process_start() -> float | None:
    """Wall time since this process started (Linux ``/proc``; None elsewhere)."""
    import os

    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: start time in clock ticks
    except (OSError, ValueError, IndexError):
        return None


def main(argv: list[str] | None = None) -> int:
    """Warm up, then hand over to ``streamlit run app.py <argv>`` (blocks until the server stops)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE, end="")
        return 0
    try:
        app = find_app()
    except FileNotFoundError as exc:
        print(f"alsim: error: {exc}", file=sys.stderr)
        return 2
    import click
    from streamlit.web import bootstrap
    from streamlit.web import cli as streamlit_cli

    command = ["run", str(app), *default_flags(argv), *argv]
    try:
        options = streamlit_cli.main_run.make_context("run", command[1:]).params
    except (click.ClickException, click.exceptions.Exit):  # a bad option, or --help: Streamlit answers at once
        return streamlit_cli.main(command, prog_name="streamlit", standalone_mode=True)
    # The warm-up runs with the configuration the server will have (and Streamlit does not
    # warn that the [server] options changed when the server starts).
    bootstrap.load_config_options({k: v for k, v in options.items() if k not in ("target", "args")})
    steps = warm(app)
    since_start = seconds_since_process_start()
    _log("warmed up: " + ", ".join(f"{name} {s:.1f} s" for name, s in steps.items())
         + ("" if since_start is None else f"; {since_start:.1f} s since the process started"))
    # The command line's own path (config files, flags, credentials check, server), so every
    # option behaves as with `streamlit run app.py`.
    return streamlit_cli.main(command, prog_name="streamlit", standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main())
