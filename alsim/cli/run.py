"""``alsim run``: one labeling loop, a table per round (or one JSON document)."""

from __future__ import annotations

import math
import sys
import time
from typing import TYPE_CHECKING

from alsim.cli.common import (
    ProgressLine,
    add_config_arguments,
    build_config,
    check_report_path,
    command_line,
    fmt,
)
from alsim.common.errors import UsageError

if TYPE_CHECKING:  # lazy: for annotations only; the parser must start fast
    from alsim.loop.config import Config


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run one labeling loop and print a table per round")
    add_config_arguments(p)
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the 'first k labels' baseline and the random-sampling arm")
    p.add_argument("--per-point", action="store_true", help="with --json: include per-point uncertainty")
    p.add_argument("--report", metavar="OUT.html", help="also write a self-contained HTML report there")
    p.add_argument("--ceiling", action="store_true",
                   help="measure what the model reaches with every label even on a pool over 5,000 points")


def accuracy_text(value: float) -> str:
    """Four decimals, or plain words where a round had nothing left to evaluate (never ``nan``)."""
    from alsim.loop.records import NOTHING_LEFT  # lazy: the records load the metrics

    return f"{value:.4f}" if math.isfinite(value) else NOTHING_LEFT


#: Columns of ``flag_label_errors``: revealed labels flagged, the share of flags that were really
#: wrong, the share of wrong revealed labels flagged.
FLAG_COLUMNS = ("flagged", "flag_prec", "flag_recall")


def flag_cells(flags) -> tuple:
    """The :data:`FLAG_COLUMNS` of a round's :class:`~alsim.loop.records.Flags` (None: not defined)."""
    return flags.n_flagged, flags.precision, flags.recall


def _extra_header(config: Config) -> list[str]:
    """Columns a run table adds when its config asks: the metric, the annotations, the labeling cost."""
    extra = [] if config.metric == "accuracy" else [config.metric]
    if config.annotators > 1 or config.oracle_noise > 0:
        extra += ["annotations", "label_prec"]
    return extra + ([] if config.cost == "unit" else ["cost"])


def _extra_cells(config: Config, record) -> list:
    extra = [] if config.metric == "accuracy" else [record.score]
    if config.annotators > 1 or config.oracle_noise > 0:
        extra += [record.annotations, record.revealed_precision]
    return extra + ([] if config.cost == "unit" else [record.cost])


def write_report(args, title: str, configs: dict, arms: dict, config: Config, baseline=None, ceiling=None) -> None:
    """``--report``: the HTML report of this run, its path on stderr."""
    # lazy: plotly and the report are loaded only when a report is asked for
    from alsim.loop.pool import prepare
    from alsim.report.html import html_report
    from alsim.report.html import write_report as write_html

    document = html_report(title, configs, arms, prepare(config).class_names, command=command_line(args),
                           baseline=baseline, ceiling=ceiling)
    print(f"report: {write_html(args.report, document)}", file=sys.stderr)


def run(args, out) -> int:
    # lazy: the loop's imports (scikit-learn, SciPy) are paid only by commands that run one
    from alsim.common.jsonio import write_json
    from alsim.evidence.ceiling import QUICK_POOL, ceiling
    from alsim.evidence.narrative import (
        chance_warning,
        last_evaluated,
        nothing_left_message,
        plain_stop_reason,
        takeaway,
    )
    from alsim.loop.pool import check_feasible, prepare
    from alsim.loop.run import first_k_baseline, run_loop

    if args.per_point and not args.json:
        raise UsageError("--per-point adds per-point values to the JSON: it goes with --json")
    config = build_config(args)
    check_report_path(getattr(args, "report", None))
    started = time.perf_counter()
    prepared = prepare(config, progress=None if args.json else ProgressLine("embedding images"))
    check_feasible(config, prepared)
    records = []
    if not args.json:
        print(f"# {args.preset}: {config.dataset}, {config.model}, strategy {config.strategy}, "
              f"self-training {config.self_training}, evaluation on {config.evaluation}", file=out)
        header = ["round", "revealed", "pseudo", "pseudo_prec", "threshold", "auto_added", "auto_prec",
                  "accuracy", "macro_f1", "seconds"] + _extra_header(config)
        header += list(FLAG_COLUMNS) if config.flag_label_errors else []
        print("  ".join(f"{h:>11}" for h in header), file=out)

    def progress(fraction, message):
        if not args.json:
            print(f"  building graph: {message}", file=sys.stderr, end="\r" if fraction < 1 else "\n")

    for record in run_loop(config, progress=progress):
        records.append(record)
        if not args.json:
            row = [record.index, record.n_labeled, record.n_pseudo, record.pseudo_precision, record.threshold,
                   record.auto_added, record.auto_precision, record.accuracy, record.macro_f1, record.seconds]
            row += _extra_cells(config, record)
            cells = [f"{fmt(v, 2 if i == 9 else 4):>11}" for i, v in enumerate(row)]
            if record.flags is not None:
                cells += [f"{fmt(v, 4):>11}" for v in flag_cells(record.flags)]
            if not math.isfinite(record.accuracy):
                cells[7:9] = [f"{accuracy_text(record.accuracy):>24}"]
            print("  ".join(cells), file=out)
            out.flush()
    last = records[-1]
    baseline = None
    random_arm = None
    if not args.no_baseline and config.strategy != "none" and config.initial == "first":
        # At the label count of the last round with an accuracy: a pool that ran out has none left to score.
        baseline = first_k_baseline(config, (last_evaluated(records) or last).n_labeled)
    if not args.no_baseline and config.strategy not in ("random", "none"):
        random_arm = list(run_loop(config.replace(strategy="random")))
    elapsed = time.perf_counter() - started
    arms, configs = {config.strategy: records}, {config.strategy: config}
    if random_arm is not None:
        arms["random"], configs["random"] = random_arm, config.replace(strategy="random")
    # Measured at once on pools the Live page also measures at once; on larger ones only with --ceiling
    # (Fashion-MNIST's 60,000 images take most of a minute), else chance alone.
    reach = ceiling(config, measure=args.ceiling or len(prepared.pool_ids) <= QUICK_POOL)
    warning = chance_warning(arms, reach)
    if args.json:
        doc = {
            "config": config.to_dict(),
            "rounds": [r.to_dict(prepared.class_names, per_point=args.per_point) for r in records],
            "stop_reason": last.stop_reason,
            "baseline_first_k": None if baseline is None else {
                "n_labeled": baseline.n_labeled, "accuracy": baseline.accuracy, "macro_f1": baseline.macro_f1},
            "random_arm": None if random_arm is None else [
                {"n_labeled": r.n_labeled, "accuracy": r.accuracy} for r in random_arm],
            "ceiling": reach.ceiling, "chance": reach.chance, "ceiling_evaluated_on": reach.evaluated_on,
            "ceiling_with_annotators": reach.annotators,
            "warning": warning,
            "seconds": round(elapsed, 3),
        }
        write_json(doc, out)
    else:
        print(f"stop: {plain_stop_reason(last.stop_reason)} ({last.stop_reason}); {len(records)} rounds in "
              f"{elapsed:.2f} s", file=out)
        if last.flags is not None:
            print(f"likely wrong labels (confident learning), round {last.index}: {last.flags.sentence()}", file=out)
        for label, rounds in arms.items():
            message = nothing_left_message(rounds)
            if message:
                print(message if label == config.strategy else f"{label} sampling: {message}", file=out)
        if random_arm is not None:
            print(f"random sampling, same settings and initial labels: accuracy "
                  f"{' '.join(fmt(r.accuracy) for r in random_arm)}", file=out)
        if baseline is not None:
            shown = last_evaluated(records)
            print(f"baseline, first {baseline.n_labeled} pool points labeled (no active choice): "
                  f"accuracy {accuracy_text(baseline.accuracy)}  vs  {config.strategy}: "
                  f"{accuracy_text(float('nan') if shown is None else shown.accuracy)}", file=out)
        print(takeaway(arms, reach), file=out)
        print(f"{reach.sentence()}; {reach.how()}", file=out)
        if warning:
            print(f"WARNING: {warning}", file=out)
    if getattr(args, "report", None):
        write_report(args, f"alsim run: {args.preset}", configs, arms, config,
                     baseline=None if baseline is None else (baseline.n_labeled, baseline.accuracy), ceiling=reach)
    return 0
