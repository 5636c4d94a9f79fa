"""A self-contained HTML report of a run or a comparison: one file that opens offline.

plotly.js is inlined once in the page head; each figure is a ``<div>`` drawn by it. Images
are inline base64 PNGs. Nothing is fetched from a network or a server, so the file can be
mailed, archived or opened from a USB stick. Every piece of user-supplied text (title,
arm and class names, config values, command, URL) is HTML-escaped.
"""

from __future__ import annotations

import base64
import datetime
import html
import importlib.metadata
import platform
from typing import Mapping, Sequence

import numpy as np

from alsim.common.files import replace_atomically
from alsim.common.version import VERSION as __version__
from alsim.evidence.ceiling import Ceiling
from alsim.evidence.ceiling import ceiling as measure_ceiling
from alsim.evidence.compare import comparison_configs, stop_sentence, target_note
from alsim.evidence.narrative import (
    chance_warning,
    compare_at_equal_labels,
    confidence_note,
    fmt_accuracy,
    last_evaluated,
    near_chance_sentence,
    no_unlabeled_message,
    nothing_left_message,
    plain_stop_reason,
    takeaway,
)
from alsim.learn.projection import pool_projection
from alsim.loop.config import METRIC_NAMES, Config
from alsim.loop.pool import prepare
from alsim.loop.records import NOTHING_LEFT, Round
from alsim.loop.run import run_arms
from alsim.loop.stopping import stop_table, stopping_points
from alsim.report.plots import (
    band_curves,
    confusion_heatmaps,
    escape,
    learning_curves,
    metric_title,
    pool_map,
    pseudo_label_audit,
    round_picks,
    uncertain_examples,
)
from alsim.strategies import UNLABELED

__all__ = ["GALLERY_SIZE", "html_report", "image_png", "package_versions", "write_comparison_report",
           "write_report"]

GALLERY_SIZE = 8
"""Images per gallery row (most and least uncertain)."""
MAP_POINTS = 10_000
"""Pool points a report's map draws at most: a uniform sample of the unlabeled ones beyond (every labeled and
picked point is drawn), so a 60,000-image pool does not make a report of tens of megabytes."""
MAP_NUMBERED = 200
"""Picks up to which a map numbers each pick by its round; more would hide the map under numbers."""

PACKAGES = ("alsim", "numpy", "scipy", "scikit-learn", "opencv-python-headless", "plotly", "pandas")

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;
     padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}
.takeaway{font-size:1.15em;background:#f3f7fb;border-left:4px solid #1f77b4;padding:.6em 1em}
.note{background:#fff8e6;border-left:4px solid #e0a800;padding:.5em 1em}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em} td,th{border:1px solid #ddd;padding:.25em .6em}
th{background:#f6f6f6;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
.gallery{display:flex;flex-wrap:wrap;gap:.6em} figure{margin:0;text-align:center;font-size:.8em}
figure img{width:64px;height:64px;object-fit:contain;image-rendering:pixelated;border:1px solid #ccc}
figure img.display{width:128px;height:128px}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto} .muted{color:#666;font-size:.9em}
.ceiling{font-weight:600}
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run depends on (``importlib.metadata``), and Python's."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "alsim":
                versions[name] = f"{__version__} (not installed; source tree)"
            elif name.startswith("opencv"):
                import cv2

                versions["opencv (cv2)"] = cv2.__version__
            else:
                versions[name] = "not installed"
    return versions


def image_png(image: np.ndarray, top: float | None = None) -> bytes:
    """One image as PNG bytes (``cv2.imencode``).

    Parameters
    ----------
    image : ndarray, shape (h, w) or (h, w, 3), uint8 or float
        Colour images are RGB. Floats are scaled by ``top`` (e.g. 16 for scikit-learn's
        digits, whose pixels are 0..16), default the image's own maximum.
    """
    import cv2

    image = np.asarray(image)
    if image.dtype != np.uint8:
        values = image.astype(np.float64)
        top = float(values.max()) if top is None else float(top)
        image = np.clip(np.round(values * (255.0 / top if top > 0 else 1.0)), 0, 255).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"cannot encode an image of shape {image.shape} as PNG")
    return buffer.tobytes()


def _figure(fig) -> str:
    height = fig.layout.height or 420
    return fig.to_html(full_html=False, include_plotlyjs=False, default_height=f"{height}px",
                       config={"displaylogo": False, "responsive": True})


def _num(value, digits: int = 4) -> str:

    if value is None:
        return "–"
    if isinstance(value, (float, np.floating)):
        return NOTHING_LEFT if not np.isfinite(value) else f"{value:.{digits}f}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return _e(value)


def _table(header: Sequence[str], rows: Sequence[Sequence], numeric: Sequence[bool] | None = None) -> str:
    numeric = numeric or [False] * len(header)
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class=num>{_num(v)}</td>" if numeric[i] else f"<td>{_e(v)}</td>"
                                    for i, v in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _headline_rows(arms: Mapping[str, Sequence[Round]]) -> list[list]:

    rows = []
    for name, rounds in arms.items():
        shown = last_evaluated(rounds)
        last = rounds[-1] if rounds else None
        rows.append([
            name, "–" if shown is None else shown.index, "–" if shown is None else shown.n_labeled,
            "–" if shown is None else shown.n_pseudo,
            fmt_accuracy(None if shown is None else shown.accuracy),
            "–" if shown is None else shown.accuracy, "–" if shown is None else shown.macro_f1,
            len(rounds), plain_stop_reason(None if last is None else last.stop_reason),
            sum(r.seconds for r in rounds),
        ])
    return rows


def _round_table(rounds: Sequence[Round]) -> str:
    other = bool(rounds) and rounds[0].metric not in ("accuracy", "macro_f1")  # macro-F1 has its column already
    rows = [[r.index, r.n_labeled, r.annotations, r.revealed_precision, r.cost, r.n_pseudo, r.threshold, r.auto_added,
             r.auto_precision, r.accuracy, r.macro_f1] + ([r.score] if other else []) for r in rounds]
    header = ["round", "revealed labels", "annotations", "revealed labels right", "labeling cost", "pseudo-labels",
              "threshold", "auto-labeled", "their precision", "accuracy", "macro-F1"]
    if other:
        header.append(metric_title(rounds[0].metric))
    return _table(header, rows, numeric=[True] * len(header))


def _settings_sentence(configs: Mapping[str, Config]) -> str | None:
    """What a reader must know to read the numbers: the metric, the labeling cost, class-balanced batches."""
    config = next(iter(configs.values()), None)
    if config is None:
        return None
    parts = []
    if config.metric != "accuracy":
        parts.append(f"every curve, verdict and stopping rule reads {METRIC_NAMES[config.metric]} "
                     f"(metric={config.metric}) instead of accuracy")
    if config.cost != "unit":
        detail = ", ".join(f"{v:g}" for v in config.cost_params)
        parts.append(f"labeling cost: {config.cost.replace('_', '-')}" + (f" ({detail})" if detail else "")
                     + "; the budget rule counts cost")
    if config.class_balanced:
        parts.append("batches are class-balanced (round-robin over the predicted classes)")
    if config.imbalance != 1:
        parts.append(f"the pool is cut to a long tail of {config.imbalance:g}")
    if not parts:
        return None
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _config_table(configs: Mapping[str, Config]) -> str:
    names = list(configs)
    dicts = [configs[n].to_dict() for n in names]
    fields = list(dicts[0]) if dicts else []
    rows = [[field] + [d.get(field) for d in dicts] for field in fields]
    differs = [field for field in fields if len({repr(d.get(field)) for d in dicts}) > 1]
    note = (f"<p class=muted>Fields that differ between arms: {_e(', '.join(differs))}.</p>"
            if differs and len(names) > 1 else "")
    return note + _table(["field"] + names, [[r[0]] + [_plain(v) for v in r[1:]] for r in rows])


def _plain(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "–"
    return "–" if value is None else str(value)


def _gallery_record(rounds: Sequence[Round]) -> Round | None:
    """The last round that still had unlabeled images to rank."""

    for record in reversed(rounds):
        if np.any(record.status == UNLABELED):
            return record
    return None


def _galleries(name: str, config: Config, rounds: Sequence[Round], class_names: Sequence[str]) -> str:

    record = _gallery_record(rounds)
    if record is None:
        return f"<p>{_e(name)}: {_e(no_unlabeled_message(rounds[-1]))}</p>"
    prepared = prepare(config)
    images = prepared.images
    if images is None:
        return f"<p>{_e(name)}: this data set has no images (embeddings only), so there is no gallery.</p>"
    top = None if images.dtype == np.uint8 else float(np.max(images))
    # Display images (colour, aspect ratio kept) are shown at their own size; feature images enlarged.
    shown = " class=display" if prepared.dataset.display_images is not None else ""
    values, score_name = record.ranking
    parts = [f"<p>{_e(name)}, round {record.index} ({record.n_labeled:,} revealed labels): unlabeled images ranked "
             f"by {_e(score_name.replace('_', ' '))}. ★ = sent to the annotator this round.</p>"]
    note = confidence_note(record, GALLERY_SIZE, n_classes=len(class_names))
    if note:
        parts.append(f"<p class=note>{_e(note)}</p>")
    queried = set(int(i) for i in record.queried)
    for title, most in (("Most uncertain", True), ("Least uncertain (most confident)", False)):
        figures = []
        for i in uncertain_examples(record, GALLERY_SIZE, most):
            i = int(i)
            png = base64.b64encode(image_png(prepared.display_image(i), top)).decode("ascii")
            truth = prepared.labels[i]
            truth_text = class_names[truth] if truth >= 0 else "unknown"
            caption = (f"{'★ ' if i in queried else ''}#{i}<br>{_e(score_name)} {float(values[i]):.3g}<br>"
                       f"predicted {_e(class_names[int(record.predicted[i])])}<br>true {_e(truth_text)}")
            figures.append(f"<figure><img{shown} alt='pool image {i}' src='data:image/png;base64,{png}'>"
                           f"<figcaption>{caption}</figcaption></figure>")
        parts.append(f"<h3>{title}</h3><div class=gallery>{''.join(figures)}</div>")
    return "".join(parts)


def _maps(configs: Mapping[str, Config], arms: Mapping[str, Sequence[Round]], class_names: Sequence[str],
          figures: list[str]) -> str:
    """Each arm's pool on the 2-D map of its features: its labels at its last round and every round's picks."""
    names = [n for n in arms if n in configs and arms[n]]
    if not names:
        return ""
    prepared = prepare(configs[names[0]])
    coords = pool_projection(prepared.features, prepared.key)
    parts = ["<h2>Map of the pool</h2>",
             "<p class=muted>Each dot is a pool image, placed by a 2-D projection of its features (the dashboard's "
             "map; PCA, or UMAP where installed) and coloured by its true class. Solid dots with a dark edge: labels "
             "revealed by the arm's last round; rings: pseudo-labels; stars: the images each round sent to the "
             "annotator, numbered by round (1 = the first). Hover over a point for its class, prediction and "
             "uncertainty"
             + (f"; of pools over {MAP_POINTS:,} images, a uniform sample of the unlabeled ones is drawn"
                if len(coords) > MAP_POINTS else "") + ".</p>"]
    for name in names:
        rounds = arms[name]
        last = rounds[-1]
        ids, numbers = round_picks(rounds)
        picking = sum(1 for r in rounds if len(r.queried))
        if len(ids) > MAP_NUMBERED:
            numbers = [""] * len(ids)
        figure = pool_map(coords, prepared.labels, last.status, ids, queried_text=numbers,
                          queried_name="picked (number: round)", predicted=last.predicted,
                          uncertainty=last.uncertainty, class_names=class_names, max_points=MAP_POINTS,
                          title=f"{escape(name)}: {len(ids):,} picks in {picking} round{'s' if picking != 1 else ''}")
        figure.update_layout(height=480)
        figures.append(_figure(figure))
        parts.append(figures[-1])
    return "".join(parts)


def _summary_section(summary) -> str:
    rows = []
    for s in summary.strategies:
        interval = ("–" if s.aulc_difference_ci is None
                    else f"[{s.aulc_difference_ci[0]:+.4f}, {s.aulc_difference_ci[1]:+.4f}]")
        rows.append([s.strategy, s.aulc_mean, s.aulc_std, s.final_mean, s.final_std, s.labels_to_target,
                     s.saved_vs_random, summary.shown_verdict(s) or "–", s.aulc_difference, interval, s.p_holm])
    amount = "cost" if summary.axis == "cost" else "labels"
    table = _table(["strategy", "AULC", "AULC std", f"final {summary.metric_name}", "final std",
                    f"{amount} to {summary.target:.3f}", f"{amount} saved vs random", "verdict vs random", "AULC difference", "95% interval", "Holm p"],
                   rows, numeric=[False, True, True, True, True, True, True, False, True, False, True])
    headlines = "".join(f"<li>{_e(s.headline)}</li>" for s in summary.strategies)

    stops = "".join(f"<li>{_e(s.strategy)}: {_e(stop_sentence(stop))}</li>" for s in summary.strategies
                    for stop in s.stops)
    if stops:
        headlines += f"</ul><p>Stopping rules, means over seeds:</p><ul>{stops}"
    seeds = f"{summary.n_seeds} seed{'' if summary.n_seeds == 1 else 's'}"
    return (f"<p>{seeds}; target {_e(summary.metric_name)} {summary.target:.4f} "
            f"({_e(summary.target_rule + target_note(summary))}). "
            f"Verdicts compare each strategy's per-seed area under the learning curve (AULC) with random's: a paired "
            f"Wilcoxon test, Holm-adjusted across strategies, with a bootstrap 95% interval of the mean difference."
            f"</p>{table}<ul>{headlines}</ul>")


def _reproduce(command: str | None, url: str | None) -> str:
    parts = []
    if command:
        parts.append(f"<p>Command line:</p><pre>{_e(command)}</pre>")
    if url:
        link = (f"<a href='{_e(url)}'>{_e(url)}</a>" if url.lower().startswith(("http://", "https://"))
                else _e(url))
        parts.append(f"<p>Dashboard view: {link}</p>")
    return "".join(parts) or "<p>No command or address was recorded for this report.</p>"


def html_report(title: str, configs: Mapping[str, Config], arms: Mapping[str, Sequence[Round]],
                class_names: Sequence[str], *, bands: Mapping[str, dict] | None = None, summary=None,
                command: str | None = None, url: str | None = None,
                baseline: tuple[int, float] | None = None, ceiling: Ceiling | None = None) -> str:
    """A self-contained HTML page of a run or a comparison; opens offline, no server needed.

    It holds, in order: the takeaway sentence and any notes (nothing left to evaluate),
    the headline numbers per arm and the comparison at equal labels (:mod:`alsim.evidence.narrative`),
    the verdicts (with ``summary``), the learning curves (and the spread bands with
    ``bands``), the round tables, the confusion heatmaps of each arm's last evaluated round,
    a map of the pool per arm (its labels and every round's picks on the 2-D projection of
    the features), the galleries of the most and least uncertain images, the pseudo-label audit (arms that
    self-train), the configuration, the command or URL that reproduces it, and the
    package versions. plotly.js is inlined once.

    Parameters
    ----------
    title : str, escaped
    configs : mapping arm name -> Config, the same keys as ``arms``
    arms : mapping arm name -> sequence of Round
        The first arm is the one shown in the galleries; an arm named ``random`` is the
        comparison arm of the takeaway.
    class_names : sequence of str
    bands : mapping name -> {"x", "mean", "low", "high"}, optional
        :meth:`alsim.evidence.compare.Summary.bands`; the first arm's run is drawn on top.
    summary : alsim.evidence.compare.Summary, optional
        Adds the AULC table, headlines and verdicts against random.
    command, url : str, optional
        What reproduces the report: a command line, a dashboard address.
    baseline : (n_labels, accuracy), optional
        Experiment A's "first k labels" point on the curve.
    ceiling : alsim.evidence.ceiling.Ceiling, optional
        What the first arm's model reaches with every label, and chance, shown beside the
        takeaway (default: measured, :func:`alsim.evidence.ceiling.ceiling`). When accuracy is
        near chance the takeaway says so and a note gives the warning.

    Returns
    -------
    str
        The whole HTML document.
    """
    import plotly.offline

    names = list(arms)
    class_names = [str(c) for c in class_names]
    if ceiling is None and names and names[0] in configs:
        ceiling = measure_ceiling(configs[names[0]])
    figures: list[str] = []
    body: list[str] = [f"<h1>{_e(title)}</h1>",
                       f"<p class=muted>Made {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} by alsim; "
                       f"opens without a network or a server.</p>"]
    if summary is not None:
        # A comparison's words come from its verdicts over seeds, never from the one run drawn below.
        lead = " ".join([s.headline for s in summary.strategies if s.headline]
                        + [near for near in [near_chance_sentence(arms, ceiling)] if near])
        body.append(f"<p class=takeaway>{_e(lead)}</p>")
        seeds = sorted({c.seed for c in configs.values()})
        body.append(f"<p class=muted>The curves, tables and galleries below are one run of each strategy "
                    f"(seed {', '.join(map(str, seeds))}); the verdicts are over {summary.n_seeds} seeds.</p>")
    else:
        body.append(f"<p class=takeaway>{_e(takeaway(arms, ceiling))}</p>")
    if ceiling is not None:
        body.append(f"<p class=ceiling>{_e(ceiling.sentence())}; {_e(ceiling.how())}.</p>")
        warning = (summary.warning if summary is not None and summary.chance is not None
                   else chance_warning(arms, ceiling))
        if warning:
            body.append(f"<p class=note>{_e(warning)}</p>")
    for name in names:
        message = nothing_left_message(arms[name])
        if message:
            body.append(f"<p class=note>{_e(name)}: {_e(message)}</p>")

    settings = _settings_sentence(configs)
    if settings:
        body.append(f"<p class=note>{_e(settings)}</p>")
    body.append("<h2>Headline numbers</h2>")
    body.append(_table(["arm", "round", "revealed labels", "pseudo-labels", "accuracy", "accuracy (exact)", "macro-F1",
                        "rounds", "stopped because", "seconds"], _headline_rows(arms),
                       numeric=[False, True, True, True, False, True, True, True, False, True]))
    active = [n for n in names if n != "random"]
    if "random" in arms and active:
        at = compare_at_equal_labels(arms[active[0]], arms["random"])
        if at is not None:
            how = "" if not at["interpolated"] else " (" + "; ".join(
                f"{active[0] if arm == 'active' else 'random'} interpolated between {lo:,} and {hi:,} labels"
                for arm, (lo, hi) in at["interpolated"].items()) + ")"
            body.append(f"<p>At {at['labels']:,} revealed labels, the most both reach: {_e(active[0])} "
                        f"{fmt_accuracy(at['active'])}, random {fmt_accuracy(at['random'])}, a difference of "
                        f"{100 * at['difference']:+.1f} percentage points{_e(how)}.</p>")
    if summary is not None:
        body.append("<h2>Verdicts over seeds</h2>")
        body.append(_summary_section(summary))

    body.append("<h2>Learning curves</h2>")

    stops = {n: stopping_points(arms[n], configs[n], len(class_names)) for n in names if n in configs}
    metric_key = next(iter(configs.values())).metric if configs else "accuracy"
    metric = metric_title(metric_key)
    figures.append(_figure(learning_curves(arms, baseline, stops=stops, metric="score",
                                           title=f"{metric[0].upper()}{metric[1:]} against revealed labels")))
    body.append(figures[-1])
    stop_rows = [{"arm": n, **row} for n, points in stops.items() for row in stop_table(points)]
    if stop_rows:
        body.append("<p class=muted>Where each enabled stopping rule would have stopped (markers on the curves; "
                    "– where a rule did not fire within the run).</p>")
        header = list(stop_rows[0])
        body.append(_table(header, [list(row.values()) for row in stop_rows],
                           numeric=[name not in ("arm", "rule", "condition") for name in header]))
    if bands:
        first = names[0] if names else None
        highlight = (f"{first}, seed {configs[first].seed}", arms[first]) if first in bands else None
        axis = summary.axis if summary is not None else "labels"
        figures.append(_figure(band_curves(bands, title=f"Mean {metric} ± 1 std over seeds", highlight=highlight,
                                           x=axis, metric=metric_key)))
        body.append(figures[-1])
    for name in names:
        body.append(f"<details><summary>Round by round: {_e(name)}</summary>{_round_table(arms[name])}</details>")

    body.append("<h2>Confusion matrices</h2>")
    body.append("<p class=muted>Each arm's last round with an accuracy; rows are the true class, columns the "
                "predicted one.</p>")
    figures.append(_figure(confusion_heatmaps({n: last_evaluated(arms[n]) for n in names}, class_names)))
    body.append(figures[-1])

    body.append(_maps(configs, arms, class_names, figures))

    if names:
        body.append("<h2>Images</h2>")
        body.append(_galleries(names[0], configs[names[0]], arms[names[0]], class_names))

    audited = [n for n in names if configs[n].self_training != "off"]
    for name in audited:
        body.append(f"<h2>Pseudo-label audit: {_e(name)}</h2>")
        if configs[name].self_training == "oracle":
            body.append("<p class=note>True-label mode: confident images get their TRUE label (an oracle, as "
                        "experiment B's published code did); every such image counts as a revealed label.</p>")
        figures.append(_figure(pseudo_label_audit(arms[name])))
        body.append(figures[-1])

    body.append("<h2>Configuration</h2>")
    body.append(_config_table(configs))
    body.append("<h2>Reproduce</h2>")
    body.append(_reproduce(command, url))
    body.append("<h2>Package versions</h2>")
    body.append(_table(["package", "version"], list(package_versions().items())))
    return ("<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            f"<title>{_e(title)}</title><style>{_CSS}</style>"
            f"<script>{plotly.offline.get_plotlyjs()}</script></head><body>{''.join(body)}</body></html>")


def write_report(path, document: str) -> str:
    """Write ``document`` to ``path`` (UTF-8, via a temporary file renamed into place, with the permissions
    of any new file: :func:`alsim.common.files.replace_atomically`); returns the path."""
    data = document.encode("utf-8")
    return replace_atomically(path, lambda stream: stream.write(data))


def write_comparison_report(path, base: Config, strategies: Sequence[str], summary, command: str | None = None,
                            url: str | None = None) -> str:
    """The report of a multi-seed comparison, written to ``path``; returns its absolute path.

    The bands and verdicts come from ``summary``; the round details (curves, heatmaps,
    galleries) from one run of each strategy under the first seed, ``base.seed``.
    """

    configs = comparison_configs(base, strategies, base.seed)
    collected: list[list[Round]] = [[] for _ in configs]
    for arm, record in run_arms(configs):
        collected[arm].append(record)
    arms = {c.strategy: rounds for c, rounds in zip(configs, collected)}
    document = html_report(f"alsim: {len(strategies)} strategies over {summary.n_seeds} seeds on {base.dataset}",
                           {c.strategy: c for c in configs}, arms, prepare(base).class_names,
                           bands=summary.bands(), summary=summary, command=command, url=url)
    return write_report(path, document)
