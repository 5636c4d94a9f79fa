"""Command line: ``python -m alsim run|compare|presets``."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any, Sequence

import numpy as np

from .config import Config, ConfigError, parse_integer, parse_number
from .data import DataError, escape_controls
from .graph import GraphTooLarge
from .presets import PRESETS, get_preset

DEFAULT_PRESET = "digits-tutorial"
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

    run = sub.add_parser("run", help="run one labeling loop and print a table per round")
    common(run)
    run.add_argument("--no-baseline", action="store_true",
                     help="skip the 'first k labels' baseline and the random-sampling arm")
    run.add_argument("--per-point", action="store_true", help="with --json: include per-point uncertainty")
    run.add_argument("--report", metavar="OUT.html", help="also write a self-contained HTML report there")

    compare = sub.add_parser("compare", help="compare query strategies over several seeds")
    common(compare)
    compare.add_argument("--strategies", default="entropy,margin,least_confident,random")
    compare.add_argument("--seeds", type=_integer_argument, default=None,
                         help="seeds (default: 20 on digits, 5 on larger data sets)")
    compare.add_argument("--target", type=_number_argument, default=None,
                         help="target accuracy (default: 95%% of the fully labeled accuracy)")
    compare.add_argument("--report", metavar="OUT.html", help="also write a self-contained HTML report there")

    from .sweep.cli import add_sweep_parser

    add_sweep_parser(sub, common, _integer_argument, _number_argument)

    sub.add_parser("presets", help="list the presets")

    # Listed for --help; main() hands `serve` and everything after it to alsim.dashboard.serve, whose
    # options are Streamlit's (--server.port 8502), which argparse would refuse.
    sub.add_parser("serve", help="open the dashboard, warmed up before the first visit (options go to streamlit run)",
                   add_help=False)

    warm = sub.add_parser("warm", help="prepare the caches a demo needs (data, features, graphs) ahead of time")
    warm.add_argument("--presets", default=None, metavar="A,B", help="comma-separated presets (default: all)")
    warm.add_argument("--skip-fashion", action="store_true", help="leave out the Fashion-MNIST presets")

    data = sub.add_parser("data", help="the local data store: import (add), list and remove data sets")
    data_sub = data.add_subparsers(dest="data_command", required=True, parser_class=_Parser)
    add = data_sub.add_parser("add", help="import a folder, .zip, .npz, .csv or .parquet into the store")
    add.add_argument("path")
    add.add_argument("--name", help="the name shown in lists (default: the file's name)")
    _import_options(add)
    listing = data_sub.add_parser("list", help="list the stored data sets")
    listing.add_argument("--json", action="store_true")
    remove = data_sub.add_parser("remove", help="delete a stored data set")
    remove.add_argument("id")
    remove.add_argument("--force", action="store_true",
                        help="remove it even if labeling projects label it (their labels stay exportable)")

    from .labeling import add_label_parser

    add_label_parser(sub, _Parser)
    return parser


def _import_options(p) -> None:
    p.add_argument("--side", type=_integer_argument, default=28,
                   help="images are resized to SIDE x SIDE pixels (default 28; HOG needs a multiple of 4)")
    p.add_argument("--color", choices=("gray", "color", "auto"), default="gray",
                   help="gray (default), or keep colour (auto: if some image has colour)")
    p.add_argument("--unlabeled-dir", default="unlabeled", help="folder of images without a label")
    p.add_argument("--max-bytes", type=_integer_argument, default=None,
                   help="largest input accepted (default 1 GiB, or $ALSIM_MAX_IMPORT_BYTES)")
    p.add_argument("--label-column", default=None, help="label column of a .csv / .parquet")
    p.add_argument("--image-column", default=None, help="image-path column of a .csv / .parquet")


def _options(args):
    from .importers import ImportOptions

    return ImportOptions(side=args.side, color=args.color, unlabeled_dir=args.unlabeled_dir,
                         max_bytes=args.max_bytes, label_column=args.label_column, image_column=args.image_column)


def build_config(args) -> Config:
    """The preset, then the ``--config`` file's fields over it, then each ``--set``.

    With ``--data`` the data set is imported (or found) in the store first; without a
    preset the run starts from :func:`alsim.datastore.default_config` for it.
    """
    if getattr(args, "data", None):
        from . import datastore

        entry = _stored_for(args.data)
        if args.preset is None:
            config = datastore.default_config(entry.id)
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


def _stored_for(data: str):
    """The stored set of ``--data``: an existing path is imported (once: the store is content-addressed)."""
    import os

    from . import datastore

    if os.path.exists(data):
        return datastore.import_path(data)
    return datastore.find(data)


def cmd_data(args, out) -> int:
    from . import datastore

    if args.data_command == "add":
        started = time.perf_counter()
        entry = datastore.import_path(args.path, name=args.name, options=_options(args))
        m = entry.manifest
        print(f"{entry.id}  {entry.name}: {m['n']:,} {'images' if m['image_shape'] else 'points'}"
              f" ({m['n_unlabeled']:,} unlabeled), {len(m['class_names'])} classes, features "
              f"{', '.join(m['features'])}; stored in {time.perf_counter() - started:.2f} s", file=out)
        print("  per class: " + ", ".join(f"{escape_controls(name)} {count}" for name, count in m["counts"].items()),
              file=out)
        for note in m.get("notes", []):
            print(f"  note: {escape_controls(note)}", file=out)
        print(f"  run it: python -m alsim run --data {entry.id}", file=out)
        return 0
    if args.data_command == "remove":
        entry = datastore.remove(args.id, force=args.force)
        print(f"removed {entry.id}  {entry.name}", file=out)
        return 0
    entries = datastore.list_sets()
    if args.json:
        write_json({"store": str(datastore.store_dir()), "datasets": [e.manifest for e in entries]}, out)
        return 0
    if not entries:
        print(f"no data sets in {datastore.store_dir()}; add one with `python -m alsim data add PATH`", file=out)
    for entry in entries:
        m = entry.manifest
        shape = "x".join(map(str, m["image_shape"])) if m.get("image_shape") else f"d={m.get('embedding_dim')}"
        print(f"{entry.id}  {entry.name:24} {m['n']:>8,} points {len(m['class_names']):>4} classes  {shape:>10}  "
              f"{m.get('created', '')[:10]}  {escape_controls(m.get('source_file', ''))}", file=out)
    return 0


def _fmt(value, digits=4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else "-"
    return str(value)


def _accuracy_text(value: float) -> str:
    """Four decimals, or plain words where a round had nothing left to evaluate (never ``nan``)."""
    from .narrative import NOTHING_LEFT

    return f"{value:.4f}" if math.isfinite(value) else NOTHING_LEFT


def _write_report(args, title: str, configs: dict, arms: dict, config: Config, baseline=None) -> None:
    """``--report``: the HTML report of this run, its path on stderr."""
    from .loop import prepare
    from .report import html_report, write_report

    document = html_report(title, configs, arms, prepare(config).class_names, command=command_line(args),
                           baseline=baseline)
    print(f"report: {write_report(args.report, document)}", file=sys.stderr)


def command_line(args) -> str:
    """The command that reproduces this invocation, as a report prints it."""
    import shlex

    return "python -m alsim " + shlex.join(getattr(args, "argv", None) or [args.command])


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
            cells = [f"{_fmt(v, 2 if i == 9 else 4):>11}" for i, v in enumerate(row)]
            if not math.isfinite(record.accuracy):
                cells[7:9] = [f"{_accuracy_text(record.accuracy):>24}"]
            print("  ".join(cells), file=out)
            out.flush()
    last = records[-1]
    baseline = None
    random_arm = None
    if not args.no_baseline and config.strategy != "none" and config.initial == "first":
        from .loop import first_k_baseline

        from .narrative import last_evaluated

        # At the label count of the last round with an accuracy: a pool that ran out has none left to score.
        baseline = first_k_baseline(config, (last_evaluated(records) or last).n_labeled)
    if not args.no_baseline and config.strategy not in ("random", "none"):
        from .loop import run_loop

        random_arm = list(run_loop(config.replace(strategy="random")))
    elapsed = time.perf_counter() - started
    dataset = _class_names(config)
    arms, configs = {config.strategy: records}, {config.strategy: config}
    if random_arm is not None:
        arms["random"], configs["random"] = random_arm, config.replace(strategy="random")
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
        from .narrative import last_evaluated, nothing_left_message, plain_stop_reason, takeaway

        print(f"stop: {plain_stop_reason(last.stop_reason)} ({last.stop_reason}); {len(records)} rounds in "
              f"{elapsed:.2f} s", file=out)
        for label, rounds in arms.items():
            note = nothing_left_message(rounds)
            if note:
                print(note if label == config.strategy else f"{label} sampling: {note}", file=out)
        if random_arm is not None:
            print(f"random sampling, same settings and initial labels: accuracy "
                  f"{' '.join(_fmt(r.accuracy) for r in random_arm)}", file=out)
        if baseline is not None:
            shown = last_evaluated(records)
            print(f"baseline, first {baseline.n_labeled} pool points labeled (no active choice): "
                  f"accuracy {_accuracy_text(baseline.accuracy)}  vs  {config.strategy}: "
                  f"{_accuracy_text(float('nan') if shown is None else shown.accuracy)}", file=out)
        print(takeaway(arms), file=out)
    if getattr(args, "report", None):
        _write_report(args, f"alsim run: {args.preset}", configs, arms, config,
                      baseline=None if baseline is None else (baseline.n_labeled, baseline.accuracy))
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


def cmd_warm(args, out) -> int:
    """Prepare every cache a demo needs; print each step and its time."""
    from .features import cache_dir
    from .presets import warm

    names = None
    if args.presets:
        names = [n.strip() for n in args.presets.split(",") if n.strip()]
        for name in names:
            get_preset(name)  # an unknown name is a usage error before any work
    started = time.perf_counter()
    count = 0

    def skipped(name, reason):
        print(f"{name:32} skipped: {reason}", file=out)

    for step in warm(names, skip_fashion=args.skip_fashion, on_skip=skipped):
        count += 1
        print(f"{step.preset:32} {step.step:16} {step.detail:40} {step.seconds:8.2f} s", file=out)
        out.flush()
    print(f"{count} steps in {time.perf_counter() - started:.2f} s; disk cache: {cache_dir()}", file=out)
    return 0


def cmd_compare(args, out) -> int:
    from .compare import compare_cli

    return compare_cli(args, build_config(args), out)


def cmd_sweep(args, out) -> int:
    from .sweep.cli import sweep_cli

    return sweep_cli(args, build_config(args), out)


def main(argv: Sequence[str] | None = None, out=None) -> int:
    out = out or sys.stdout
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["serve"]:
        from .dashboard.serve import main as serve

        return serve(arguments[1:])
    from .runtime import configure_process

    configure_process()  # once per process (see alsim.runtime)
    try:
        args = _parser().parse_args(argv)
        args.argv = list(sys.argv[1:] if argv is None else argv)  # for the report's "reproduce" line
        if args.command == "warm":
            return cmd_warm(args, out)
        if args.command == "sweep":
            return cmd_sweep(args, out)
        if args.command == "label":
            from .labeling import label_cli

            return label_cli(args, out)
        handler = {"run": cmd_run, "presets": cmd_presets, "compare": cmd_compare, "data": cmd_data}[args.command]
        return handler(args, out)
    except (UsageError, ConfigError, DataError, GraphTooLarge) as exc:
        # One line, whatever a data file put into the message (names are shown with escapes).
        message = escape_controls(str(exc).split("\n")[0]) if str(exc) else type(exc).__name__
        print(f"alsim: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("alsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as other command-line tools do.
        if out is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 1


def console() -> None:
    """Entry point of the ``alsim`` console script (``pip install .``)."""
    sys.exit(main())
