"""What several commands share: the parser class, argument types, the config from flags, table formatting."""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from typing import TYPE_CHECKING

from alsim.common.errors import ConfigError, UsageError
from alsim.common.values import parse_integer, parse_number
from alsim.loop.presets import PRESETS

if TYPE_CHECKING:  # lazy: for annotations only; a Config loads the data sources and strategies
    from alsim.loop.config import Config

DEFAULT_PRESET = "digits-tutorial"
MAX_CONFIG_BYTES = 1 << 20
"""Largest ``--config`` file read (1 MiB); a config holds a few dozen fields."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (:class:`UsageError`) instead of usage + message."""

    def error(self, message: str):
        raise UsageError(message)


def integer_argument(text: str) -> int:
    """argparse type: ASCII digits only (``int()`` also takes ``٣`` and ``3_0``)."""
    try:
        return parse_integer(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects an integer such as 5, got {text!r}") from None


def number_argument(text: str) -> float:
    """argparse type: a plain decimal number (``float()`` also takes ``nan`` and ``inf``)."""
    try:
        return parse_number(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a number such as 0.9, got {text!r}") from None


def add_config_arguments(p) -> None:
    """--preset, --data, --config, --set and --json: how a command gets its :class:`Config`."""
    p.add_argument("--preset", default=None,
                   help=f"one of: {', '.join(PRESETS)} (default: {DEFAULT_PRESET}, or with --data a config "
                        "suited to the data)")
    p.add_argument("--data", metavar="PATH",
                   help="a data set to run on: a folder, .zip, .npz, .csv or .parquet (imported into the "
                        "local store first) or the id of a stored one")
    p.add_argument("--config", help="a JSON file with config fields (applied after the preset)")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="FIELD=VALUE",
                   help="override one config field; repeatable")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")


def build_config(args) -> Config:
    """The preset, then the ``--config`` file's fields over it, then each ``--set``.

    With ``--data`` the data set is imported (or found) in the store first; without a
    preset the run starts from :func:`alsim.loop.presets.default_config` for it.
    """
    # lazy: a Config loads the data sources and strategies, which the parser does not need
    from alsim.loop.config import Config
    from alsim.loop.presets import default_config, get_preset

    if getattr(args, "data", None):
        entry = stored_for(args.data)
        if args.preset is None:
            config = default_config(entry.id)
        else:
            config = get_preset(args.preset).replace(dataset=entry.id, pool_size=0)
        args.preset = args.preset or f"data {entry.id} ({entry.name})"
    else:
        args.preset = args.preset or DEFAULT_PRESET
        config = get_preset(args.preset)
    if args.config:
        config = Config.from_json(read_config_file(args.config), base=config)
    return config.with_overrides(args.assignments)


def read_config_file(path: str) -> bytes:
    """The bytes of a ``--config`` file, at most ``MAX_CONFIG_BYTES`` (1 MiB) of them.

    Reading is bounded so that ``/dev/zero`` or a huge file cannot exhaust memory.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read --config {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"--config {path} is larger than {MAX_CONFIG_BYTES // 2**20} MiB, the limit for a config file")
    return raw


def stored_for(data: str):
    """The stored set of ``--data``: an existing path is imported (once: the store is content-addressed)."""
    from alsim.data import store  # lazy: the store pulls in the importers (OpenCV)

    if os.path.exists(data):
        return store.import_path(data)
    return store.find(data)


def check_report_path(path: str | None) -> None:
    """``--report``'s file can be written: checked before any work, so a long run does not end in an error."""
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise UsageError(f"--report {path!r} is a folder; give a file name, e.g. {os.path.join(path, 'report.html')!r}")
    if not os.path.isdir(folder):
        raise UsageError(f"--report {path!r}: the folder {folder!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--report {path!r}: the folder {folder!r} is not writable")


def command_line(args) -> str:
    """The command that reproduces this invocation, as a report prints it."""
    return "python -m alsim " + shlex.join(getattr(args, "argv", None) or [args.command])


def fmt(value, digits=4) -> str:
    """A table cell: ``-`` for a missing or non-finite value."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else "-"
    return str(value)


def note(message: str) -> None:
    """A progress or status line on stderr (stdout stays the command's result)."""
    print(message, file=sys.stderr, flush=True)


class ProgressLine:
    """``progress(done, total)`` for long steps (embedding images): one line on stderr, rewritten at most
    twice a second, with the rate so far and an estimate of the time left; a newline when done.
    A step done within half a second shows nothing (an error after it stays the only line)."""

    def __init__(self, label: str, stream=None):
        self.label, self.stream = label, stream or sys.stderr
        self.started = time.perf_counter()
        self.shown = self.started  # the first line after half a second; later, when the last was written
        self.done = False

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        finished = total > 0 and done >= total
        if self.done or (not finished and now - self.shown < 0.5):
            return
        if finished and self.shown == self.started and now - self.started < 0.5:  # quick, nothing written
            self.done = True
            return
        self.done = finished
        self.shown = now
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        left = f", about {(total - done) / rate:.0f} s left" if rate > 0 and not finished else ""
        text = f"{self.label}: {done:,}/{total:,} ({100 * done / max(total, 1):.0f}%, {rate:.0f}/s{left})"
        print(f"\r{text}", end="\n" if finished else "", file=self.stream, flush=True)
