"""Command line: ``python -m alsim run|compare|presets``."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any, Sequence

import numpy as np

from .config import Config, ConfigError, parse_integer, parse_number
from .data import DataError
from .graph import GraphTooLarge
from .presets import PRESETS, get_preset

MAX_CONFIG_BYTES = 1 << 20
"""Largest ``--config`` file read (1 MiB); a config holds a few dozen fields."""


class UsageError(Exception):
    """Bad command-line usage: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        raise UsageError(message)


def _integer_argument(text: str) -> int:
    """argparse type: ASCII digits only (``int()`` also takes ``٣`` and ``3_0``)."""
    try:
        return parse_integer(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects an integer such as 5, got {text!r}") from None


def _number_argument(text: str) -> float:
    """argparse type: a plain decimal number (``float()`` also takes ``nan`` and ``inf``)."""
    try:
        return parse_number(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a number such as 0.9, got {text!r}") from None


def json_ready(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON ``null``).

    ``json.dump`` would otherwise write ``NaN``, which is not JSON. Tuples become lists
    and numpy scalars plain numbers.
    """
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, np.ndarray):
        return json_ready(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(document: dict, out) -> None:
    """One JSON document (missing values as ``null``, never ``NaN``) and a newline."""
    json.dump(json_ready(document), out, indent=1, allow_nan=False)
    out.write("\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m alsim", description="Simulate active learning for labeling images.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def common(p):
        p.add_argument("--preset", default="digits-tutorial", help=f"one of: {', '.join(PRESETS)}")
        p.add_argument("--config", help="a JSON file with config fields (applied after the preset)")
        p.add_argument("--set", dest="assignments", action="append", default=[], metavar="FIELD=VALUE",
                       help="override one config field; repeatable")
        p.add_argument("--json", action="store_true", help="print one JSON document instead of tables")

    run = sub.add_parser("run", help="run one labeling loop and print a table per round")
    common(run)
    run.add_argument("--no-baseline", action="store_true",
                     help="skip the 'first k labels' baseline and the random-sampling arm")
    run.add_argument("--per-point", action="store_true", help="with --json: include per-point uncertainty")

    compare = sub.add_parser("compare", help="compare query strategies over several seeds")
    common(compare)
    compare.add_argument("--strategies", default="entropy,margin,least_confident,random")
    compare.add_argument("--seeds", type=_integer_argument, default=5)
    compare.add_argument("--target", type=_number_argument, default=None,
                         help="target accuracy (default: 95%% of the fully labeled accuracy)")

    sub.add_parser("presets", help="list the presets")
    return parser


def build_config(args) -> Config:
    """The preset, then the ``--config`` file's fields over it, then each ``--set``."""
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


def _fmt(value, digits=4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def cmd_run(args, out) -> int:
    config = build_config(args)
    from .loop import check_feasible, prepare

    started = time.perf_counter()
    check_feasible(config, prepare(config))
    records = []
    if not args.json:
        print(f"# {args.preset}: {config.dataset}, {config.model}, strategy {config.strategy}, "
              f"self-training {config.self_training}, evaluation on {config.evaluation}", file=out)
        header = ["round", "revealed", "pseudo", "pseudo_prec", "threshold", "auto_added", "auto_prec",
                  "accuracy", "macro_f1", "seconds"]
        print("  ".join(f"{h:>11}" for h in header), file=out)
    for record in _run_with_progress(config, args.json):
        records.append(record)
        if not args.json:
            row = [record.index, record.n_labeled, record.n_pseudo, record.pseudo_precision, record.threshold,
                   record.auto_added, record.auto_precision, record.accuracy, record.macro_f1, record.seconds]
            print("  ".join(f"{_fmt(v, 2 if i == 9 else 4):>11}" for i, v in enumerate(row)), file=out)
            out.flush()
    last = records[-1]
    baseline = None
    random_arm = None
    if not args.no_baseline and config.strategy != "none" and config.initial == "first":
        from .loop import first_k_baseline

        baseline = first_k_baseline(config, last.n_labeled)
    if not args.no_baseline and config.strategy not in ("random", "none"):
        from .loop import run_loop

        random_arm = list(run_loop(config.replace(strategy="random")))
    elapsed = time.perf_counter() - started
    dataset = _class_names(config)
    if args.json:
        doc = {
            "config": config.to_dict(),
            "rounds": [r.to_dict(dataset, per_point=args.per_point) for r in records],
            "stop_reason": last.stop_reason,
            "baseline_first_k": None if baseline is None else {
                "n_labeled": baseline.n_labeled, "accuracy": baseline.accuracy, "macro_f1": baseline.macro_f1},
            "random_arm": None if random_arm is None else [
                {"n_labeled": r.n_labeled, "accuracy": r.accuracy} for r in random_arm],
            "seconds": round(elapsed, 3),
        }
        write_json(doc, out)
    else:
        print(f"stop: {last.stop_reason}; {len(records)} rounds in {elapsed:.2f} s", file=out)
        if random_arm is not None:
            print(f"random sampling, same settings and initial labels: accuracy "
                  f"{' '.join(f'{r.accuracy:.4f}' for r in random_arm)}", file=out)
        if baseline is not None:
            print(f"baseline, first {baseline.n_labeled} pool points labeled (no active choice): "
                  f"accuracy {baseline.accuracy:.4f}  vs  {config.strategy}: {last.accuracy:.4f}", file=out)
    return 0


def _class_names(config: Config):
    from .loop import prepare

    return prepare(config).class_names


def _run_with_progress(config: Config, quiet: bool):
    from .loop import run_loop

    def progress(fraction, message):
        if not quiet:
            print(f"  building graph: {message}", file=sys.stderr, end="\r" if fraction < 1 else "\n")

    return run_loop(config, progress=progress)


def cmd_presets(args, out) -> int:
    for name, (description, _) in PRESETS.items():
        print(f"{name:32} {description}", file=out)
    return 0


def cmd_compare(args, out) -> int:
    from .compare import compare_cli

    return compare_cli(args, build_config(args), out)


def main(argv: Sequence[str] | None = None, out=None) -> int:
    out = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
        handler = {"run": cmd_run, "presets": cmd_presets, "compare": cmd_compare}[args.command]
        return handler(args, out)
    except (UsageError, ConfigError, DataError, GraphTooLarge) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"alsim: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("alsim: interrupted", file=sys.stderr)
        return 130


def console() -> None:
    """Entry point of the ``alsim`` console script (``pip install .``)."""
    sys.exit(main())
