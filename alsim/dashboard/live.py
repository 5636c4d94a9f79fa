"""The live-loop page: one run of the chosen strategy next to random sampling, and its spread over seeds."""

from __future__ import annotations

import hashlib
import time
from typing import Mapping, Sequence

import pandas as pd
import streamlit as st

from alsim.common.errors import AlsimError, KernelTooLarge
from alsim.dashboard.charts import chart
from alsim.dashboard.controls import curve_axis, sidebar_config, sidebar_params
from alsim.dashboard.messages import escape_markdown, show_error
from alsim.dashboard.pool_maps import MAP_OPEN_MAX, map_with_details, presenter_maps
from alsim.dashboard.render import (
    animated_curves,
    confusion_figure,
    downloads,
    gallery,
    per_class_table,
    prepare_shown,
    readable_table,
)
from alsim.dashboard.runner import run_live
from alsim.dashboard.url import Int, sanitize_query_params, show_url_notices
from alsim.evidence.ceiling import QUICK_POOL, Ceiling, ceiling
from alsim.evidence.compare import Curve
from alsim.evidence.narrative import (
    chance_relation,
    chance_warning,
    compare_at_equal_labels,
    confidence_note,
    hidden_split,
    last_evaluated,
    measured_on,
    no_unlabeled_message,
    nothing_left_message,
    plain_stop_reason,
    pool_counts,
    takeaway,
)
from alsim.learn.projection import pool_projection
from alsim.loop.config import MAX_SEED, Config
from alsim.loop.pool import data_key
from alsim.loop.run import first_k_baseline
from alsim.loop.stopping import stopping_points
from alsim.report.export import round_rows
from alsim.report.html import html_report
from alsim.report.plots import (
    MAP_COLOURINGS,
    X_TITLES,
    escape,
    learning_curves,
    metric_title,
    pool_map,
    pseudo_label_audit,
    recall_heatmap,
)
from alsim.storage.memory import shared_cache

EXPLAIN = """
**Active learning** lets the model choose which images a person labels next, instead of
labeling at random. Each round the model is refitted, scores every unlabeled image by how
unsure it is, and the most uncertain ones are sent to the annotator (their true labels are
*revealed*).

- **Entropy** is high when the predicted probabilities are spread over many classes;
  **margin** looks at the gap between the two most likely classes; **least confident** at
  the top probability alone.
- **Random** sampling runs with exactly the same settings and initial labels: the gap
  between the two curves is what the strategy buys.
- **First k labels** (diamond) is experiment A's baseline: the first k points of the pool
  labeled, with no active choice.
- **Spread over seeds**: one run can be lucky. The same settings are re-run with other
  random initial labels; the band shows how much the curves move.
- **Pseudo-labels** are the model's own predictions for images it is confident about.
  They are never counted as revealed labels; their precision against the hidden truth is
  shown separately.
- Accuracy is measured on the images whose labels are still hidden (pool) or on a held-out
  test split.
"""

#: Seeds of the spread shown next to the single run, and the largest pool they are run for
#: (every seed is a full run of both arms; the Compare page runs seeds on any pool).
SPREAD_SEEDS = 5
SPREAD_MAX_POOL = 5_000
#: URL flags of this page that are not sidebar settings.
PAGE_PARAMS = {"present": Int(0, 1)}
_SEEN_EXPLAIN = "_alsim_seen_explain"


def arms_for(config: Config) -> dict[str, Config]:
    """The chosen strategy and, where it differs, random sampling with the same settings."""
    arms = {config.strategy: config}
    if config.strategy not in ("random", "none"):
        arms["random"] = config.replace(strategy="random")
    return arms


def spread_arms(config: Config, n_seeds: int = SPREAD_SEEDS) -> tuple[list[Config], str]:
    """Configs of the spread: the page's arms over ``n_seeds`` seeds, and a sentence saying how they differ.

    With ``initial='first'`` every seed would label the same first points, so the spread
    draws random initial labels instead (and says so). Otherwise the page's own run is one
    of the seeds and is not run twice.
    """
    base = config.replace(initial="random") if config.initial == "first" else config
    # Flagging changes nothing in a run, and the page shows the flags of its own run only.
    base = base.replace(flag_label_errors=False)
    start = min(base.seed, MAX_SEED - n_seeds + 1)
    seeds = [s for s in range(start, start + n_seeds) if config.initial == "first" or s != config.seed]
    configs = [arm.replace(seed=s) for s in seeds for arm in arms_for(base).values()]
    if config.initial == "first":
        labels = "1 random initial label" if config.n_initial == 1 else f"{config.n_initial} random initial labels"
        first = "the first pool point" if config.n_initial == 1 else f"the first {config.n_initial} pool points"
        note = (f"{n_seeds} seeds ({start}-{start + n_seeds - 1}), each with {labels} "
                f"(this run labels {first}, which would be the same for every seed)")
    else:
        note = f"{n_seeds} seeds ({start}-{start + n_seeds - 1}), this run's seed {config.seed} among them"
    return configs, note


def _baseline(config: Config, k: int) -> float:
    """Experiment A's "first k labels" accuracy (computed once per server)."""

    return shared_cache("values").get_or_build(("first_k", config, k, data_key(config)),
                                                lambda: first_k_baseline(config, k).accuracy)


REDRAW_SECONDS = 0.5
#: Seconds of work before a run shows its progress bar (see :func:`alsim.dashboard.runner.run_live`).
PROGRESS_AFTER = 0.3


class ChartSlot:
    """The place of a chart that a run draws when it ends (and, if it runs long, while it runs).

    Until this run draws, the previous run's chart stays in place; the new figure then
    replaces it there. An ``st.empty()`` placeholder would first replace the old chart with
    nothing at the start of every run: everything below it would move up, and back down
    when the new chart arrives (two layouts of the whole page, and a visible jump).
    """

    def __init__(self) -> None:
        self._box = st.container()
        self._chart = None

    def plotly_chart(self, figure, key: str, **options) -> None:
        """Draw ``figure`` here, replacing what this run drew before (``options`` as ``st.plotly_chart``'s)."""
        where = self._box if self._chart is None else self._chart
        self._chart = chart(figure, key=key, where=where, **options)


def stream(arms: dict[str, Config], curve_slot: ChartSlot, label: str = "Labeling loop", x: str = "labels",
           extra: Sequence[Config] = (), progress_after: float = PROGRESS_AFTER):
    """Run the arms live, redrawing the growing curves into ``curve_slot`` as rounds finish.

    A run that finishes within :data:`REDRAW_SECONDS` draws no intermediate chart at all; a
    longer one redraws at most once per :data:`REDRAW_SECONDS` (building and sending a plotly
    figure per round would cost more than the rounds themselves). Its progress bar appears
    after ``progress_after`` seconds (a page whose runs are long passes 0). ``extra`` configs
    run in the same lockstep batch (sharing a graph and its matrix products) without being
    drawn; their rounds come back as a third value when given.
    """
    names, configs = list(arms), list(arms.values())
    state = {"draws": 0, "last": time.perf_counter()}

    def on_round(rounds, done, total):
        now = time.perf_counter()
        if now - state["last"] < REDRAW_SECONDS:
            return
        state["last"] = now
        state["draws"] += 1
        partial = {n: r for n, r in zip(names, rounds) if r}
        metric = metric_title(configs[0].metric)
        curve_slot.plotly_chart(learning_curves(partial, title=f"{metric[0].upper()}{metric[1:]} (running)", x=x,
                                                metric="score"),
                                key=f"curve-live-{label}-{state['draws']}", width="stretch")

    finished = run_live(configs + list(extra), on_round, label=label, progress_after=progress_after)
    results = dict(zip(names, finished.rounds[:len(names)]))
    if extra:
        return results, finished.seconds, finished.rounds[len(names):]
    return results, finished.seconds


def _run_id(results: Mapping[str, Sequence]) -> str:
    """A short name of a run's content: the round slider is keyed by it, so a new run starts at its last round."""
    text = repr([(name, [(r.index, r.n_labeled, r.accuracy) for r in rounds]) for name, rounds in results.items()])
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def round_details(results: dict, prepared, key: str, gallery_arm: str | None = None) -> None:
    """Round slider, confusion heatmaps, galleries and the per-class report, always of the same round.

    Drawn in a fragment: moving the slider reruns only this part of the page. The slider is
    keyed by the run, so a new run shows its own last evaluated round, and it offers only
    rounds that have an accuracy (a round after the pool ran out has nothing to show).
    """
    _round_details(results, prepared, key, gallery_arm, _run_id(results))


@st.fragment
def _round_details(results: dict, prepared, key: str, gallery_arm: str | None, run_id: str) -> None:
    names = list(results)
    arm = gallery_arm or names[0]
    active = results[arm]
    shown = last_evaluated(active)
    if shown is None:
        st.info(nothing_left_message(active) or "No round could be scored.")
        return
    evaluated = [r.index for r in active if r.index <= shown.index]
    if len(evaluated) > 1:
        view = st.select_slider("Round", options=evaluated, value=shown.index, key=f"{key}round_view-{run_id}",
                                format_func=lambda i: f"{i} ({active[i].n_labeled:,} labels)")
    else:
        view = evaluated[0]
    record = active[view]
    pool_map_section(results, prepared, key, view, arm)
    at_view = {}
    for name, rounds in results.items():
        r = rounds[min(view, len(rounds) - 1)]
        if r.confusion is not None and r.headline.n:
            at_view[name] = r
    where = measured_on(record)
    st.markdown(" · ".join(f"**{escape_markdown(name)}** got {int(r.confusion.trace()):,} of "
                           f"{int(r.confusion.sum()):,} {_images(measured_on(r))} right in round {r.index}"
                           f"{hidden_split(r)}" for name, r in at_view.items())
                + " (rows: true class, columns: predicted).")
    chart(confusion_figure(at_view, prepared.class_names), key=f"{key}confusion", width="stretch")

    note = confidence_note(record, k=8, n_classes=prepared.n_classes)
    if not pool_counts(record)["unlabeled"]:  # one sentence for both empty galleries
        st.info(no_unlabeled_message(record))
    else:
        st.caption(f"Unlabeled pool images in round {view} ({arm}). Amber frame: sent to the annotator this round; "
                   "green caption: predicted right, red: wrong.")
        if note:
            st.info(note)
        gallery("Least sure" if note is None else "Least sure (still confident, see above)", prepared, record,
                most=True, key=f"{key}most")
        gallery("Most sure", prepared, record, most=False, key=f"{key}least")
    # Built only while open (``on_change="rerun"`` tracks the expander's state): a closed
    # table would still be sent and laid out on every run. One label for every round: a new
    # label would be a new expander, closed again.
    report = st.expander("Per-class report of the round shown", expanded=prepared.dataset.has_test,
                         key=f"{key}per-class-open", on_change="rerun")
    if report.open:
        with report:
            st.caption(f"Round {view} ({arm}), measured on the {where}.")
            st.dataframe(per_class_table(record, prepared.class_names), key=f"{key}per-class")


_COLOURING_NAMES = {"true": "true class", "predicted": "predicted class", "uncertainty": "uncertainty"}


def pool_map_section(results: dict, prepared, key: str, view: int, arm: str) -> None:
    """The pool on a 2-D map in round ``view``: labeled points, pseudo-labels and the round's queries.

    The projection is computed once per pool and feature setting (memory and disk cache), so
    another colouring or round only redraws.
    """
    # Built only while open, like the per-class report: a large pool's map is megabytes to send
    # on every round-slider step, so there it starts closed.
    box = st.expander("Map of the pool", expanded=len(prepared.pool_ids) <= MAP_OPEN_MAX, key=f"{key}map-open",
                      on_change="rerun")
    if not box.open:
        return
    with box:
        _pool_map(results, prepared, key, view, arm)


def _pool_map(results: dict, prepared, key: str, view: int, arm: str) -> None:
    controls = st.columns([3, 2])
    colour_by = controls[0].segmented_control(
        "Colour the points by", MAP_COLOURINGS, default="true", format_func=_COLOURING_NAMES.get,
        key=f"{key}map_colour") or "true"
    both = False
    if "random" in results and arm != "random":
        both = controls[1].checkbox("Show the random arm beside it", key=f"{key}map_random")
    with st.spinner("Projecting the pool to 2-D (once per pool)"):
        coords = pool_projection(prepared.features, prepared.key)
    shown = {arm: results[arm]} | ({"random": results["random"]} if both else {})
    columns = st.columns(len(shown))
    for column, (name, rounds) in zip(columns, shown.items()):
        record = rounds[min(view, len(rounds) - 1)]
        figure = pool_map(coords, prepared.labels, record.status, record.queried, predicted=record.predicted,
                          uncertainty=record.uncertainty, colour_by=colour_by, class_names=prepared.class_names,
                          title=f"{escape(name)}, round {record.index}: {len(record.queried):,} queried")
        with column:
            map_with_details(figure, prepared, record, key=f"{key}map-{name}", beside=len(shown) == 1)
    st.caption("Each dot is a pool image, placed by a 2-D projection of its features (PCA, or UMAP where "
               "installed). Faint: unlabeled; solid with a dark edge: revealed labels; rings: pseudo-labels; "
               "numbered stars: the images this round sent to the annotator, in the order chosen. Click a point "
               "to see its image.")


def recall_section(results: dict, prepared, config: Config, key: str) -> None:
    """Per-class recall of the chosen strategy, round by round, and the rounds as a table."""
    import pandas as pd

    name = next(iter(results))
    # Built only while open, like the rounds table below: open by default on a long-tailed pool, where it
    # says the most; closed on a balanced one, where a closed chart would still be sent and drawn by the
    # browser on every run. The default is part of the key, so a pool turning long-tailed opens it.
    found = st.expander("Which classes were found, and when (recall per class)", expanded=config.imbalance > 1,
                        key=f"{key}recall-open-{config.imbalance > 1}", on_change="rerun")
    if found.open:
        with found:
            where = "test split" if results[name][0].test is not None else "still-unlabeled pool"
            st.caption(f"{name}: the share of each class's {where} images the model gets right, per round. "
                       "A row turning bright is the round the strategy found that class.")
            chart(recall_heatmap(results[name], prepared.class_names), key=f"{key}recall", width="stretch")
    # Built only while open, like the per-class report (a closed table would still be sent).
    rounds_table = st.expander("Rounds as a table", key=f"{key}rounds-open", on_change="rerun")
    if not rounds_table.open:
        return
    with rounds_table:
        columns = ["arm", "round", "n_labeled", "n_annotations", "revealed_precision", "cost_spent", "score",
                   "accuracy", "macro_f1", "n_pseudo", "pseudo_precision"]
        table = pd.DataFrame(round_rows(results))[columns].rename(columns={"score": metric_title(config.metric)})
        if config.metric == "accuracy":
            table = table.drop(columns=["accuracy"])
        # a value that does not apply (no pseudo-labels yet, so no precision) reads "–", not None
        st.dataframe(readable_table(table), hide_index=True, key=f"{key}rounds-table")


def audit_section(rounds, self_training: str, key: str) -> None:
    """Pseudo-label audit: per round, threshold, points auto-labeled and their precision."""

    st.subheader("Pseudo-label audit")
    if self_training == "oracle":
        st.warning("True-label mode: confident points get their TRUE label, as experiment B's published code "
                   "did. That is an oracle, not self-training; every such point is counted as a revealed label.")
    applied = [r for r in rounds if r.threshold is not None]
    added = sum(r.auto_added for r in applied)
    correct = sum(r.auto_added * r.auto_precision for r in applied if r.auto_precision is not None)
    st.markdown(f"The threshold schedule moved **{added:,}** images into the training set"
                + (f", **{correct / added:.1%}** of them with the right label." if added else "."))
    chart(pseudo_label_audit(rounds), key=f"{key}audit", width="stretch")
    st.dataframe(readable_table([{
        "round": r.index, "threshold": r.threshold, "auto-labeled": r.auto_added,
        "precision vs truth": r.auto_precision, "revealed labels": r.n_labeled, "pseudo-labels": r.n_pseudo,
        "training set": r.n_labeled + r.n_pseudo, "pseudo precision (all)": r.pseudo_precision,
        "accuracy": r.accuracy if r.headline is not None and r.headline.n else None} for r in rounds]),
        hide_index=True, key=f"{key}audit-table")


def _presenting() -> bool:
    return st.query_params.get("present") == "1"


def _header(config: Config, results, baseline, seconds: float, present: bool, reach: Ceiling,
            warning: str | None, agreement: int = 0) -> None:
    """The takeaway, the ceiling beside chance (and the warning when accuracy is near chance), the metrics.

    ``agreement`` (:func:`seeds_agree`): the gain over random is coloured only when every seed
    of the spread puts the strategy on the same side as this run, by more than their spread,
    and accuracy is not near chance; one run is not evidence.
    """
    names = list(results)
    active = results[names[0]]
    shown = last_evaluated(active) or active[-1]
    last = active[-1]
    sentence = takeaway(results, reach)
    if present:
        st.markdown(f"# {sentence}")
    else:
        st.markdown(f"#### {sentence}")
    st.caption(f"**{reach.sentence()}**", help=reach.help_text())
    if reach.ceiling is None:
        st.button("Measure the ceiling", key="measure_ceiling",
                  help=f"Fit this run's model on every one of the {len(last.status):,} pool labels (pools over "
                       f"{QUICK_POOL:,} are measured on request); kept for every session of this server.")
    if warning:
        st.warning(warning)
    left = nothing_left_message(active)
    if left:
        st.info(left)
    cols = st.columns(4)
    metric = metric_title(config.metric)
    short = {"balanced_accuracy": "bal. accuracy"}.get(config.metric, metric)  # a metric's label fits its column
    where = "the " + measured_on(shown)
    at = (compare_at_equal_labels(active, results["random"]) if "random" in results and names[0] != "random"
          else None)
    # A gain over random is drawn green (a loss red) only when every seed agrees and accuracy is not near
    # chance; otherwise grey. With a random arm both numbers are at the same label count as the takeaway's,
    # so the two shown values subtract to the delta (final accuracies at different counts made them disagree).
    if at is None:
        cols[0].metric(f"{names[0]}: final {metric}", _accuracy(shown.score),
                       help=f"Round {shown.index}, {shown.n_labeled:,} revealed labels, measured on {where}.")
    else:
        random_shown = last_evaluated(results["random"])
        how = "interpolated between its neighbouring rounds" if at["interpolated"] else "measured"
        cols[0].metric(f"{names[0]}: {short} at {at['labels']:,} labels", _accuracy(at["active"]),
                       delta=f"{at['difference']:+.4f} vs random",
                       delta_color="normal" if not warning and agreement * at["difference"] > 0 else "off",
                       help=f"The {metric} at {at['labels']:,} revealed labels, the most both arms reach ({how}), "
                            f"on {where}. "
                            f"Final: {_accuracy(shown.score)} with {shown.n_labeled:,} labels in round "
                            f"{shown.index}.")
        cols[1].metric(f"random: {short} at {at['labels']:,} labels", _accuracy(at["random"]),
                       help=None if random_shown is None else
                       f"Final: {_accuracy(random_shown.score)} with {random_shown.n_labeled:,} labels in round "
                       f"{random_shown.index}.")
    if baseline is not None:
        cols[2].metric(f"first {baseline[0]} labels", _accuracy(baseline[1]),
                       help="Experiment A's baseline: the first k pool points labeled, no active choice.")
    cols[3].metric("revealed labels", f"{last.n_labeled:,}",
                   delta=f"+{last.n_pseudo:,} pseudo" if last.n_pseudo else None, delta_color="off")
    st.caption(f"{len(active)} rounds · stopped: {plain_stop_reason(last.stop_reason)} · {metric} on {where} · "
               f"{seconds:.2f} s" + _annotation_text(config, shown), help=f"Stop reason as recorded: {last.stop_reason}")
    if shown.flags is not None:
        _flags_section(active, shown)


def _images(where: str) -> str:
    """ "test split" -> "test split images"; "pool images with hidden labels" stays as it is."""
    return where if "images" in where else f"{where} images"


def _annotation_text(config: Config, shown) -> str:
    """Beside the accuracy: how right the revealed labels were, and what they cost, with simulated annotators."""
    cost = ("" if config.cost == "unit"
            else f" · labeling cost spent {shown.cost:,.4g} ({config.cost.replace('_', '-')})")
    if (config.oracle_noise == 0 and config.annotators == 1) or shown.revealed_precision is None:
        return cost
    return (f" · revealed labels {shown.revealed_precision:.1%} correct ({shown.annotations:,} annotations "
            f"for {shown.n_labeled:,} images)" + cost)


def flags_table(rounds) -> pd.DataFrame:
    """One row per round with flags: revealed labels, how many were wrong, flagged, really wrong, precision, recall."""
    rows = [{"round": r.index, "revealed": r.n_labeled, "checked": r.flags.n_checked, "wrong": r.flags.n_wrong,
             "flagged": r.flags.n_flagged, "flagged and wrong": r.flags.flagged_wrong,
             "precision": r.flags.precision, "recall": r.flags.recall} for r in rounds if r.flags is not None]
    return pd.DataFrame(rows)


def _flags_section(rounds, shown) -> None:
    """``flag_label_errors``: the flags of the round shown in words, every round's in a table."""
    st.caption(escape_markdown(f"Likely wrong labels (confident learning, round {shown.index}): "
                               f"{shown.flags.sentence()}."),
               help="cleanlab's find_label_issues on class probabilities cross-validated over the revealed labels; "
                    "precision: share of the flags that are really wrong; recall: share of the wrong revealed "
                    "labels that were flagged.")
    with st.expander("Flagged labels, round by round"):
        st.dataframe(flags_table(rounds), hide_index=True, key="flags_table",
                     column_config={"precision": st.column_config.NumberColumn(format="percent"),
                                    "recall": st.column_config.NumberColumn(format="percent")})


def _accuracy(value) -> str:
    return "–" if value is None or value != value else f"{value:.4f}"


def _spread(config: Config, results, spread_rounds, axis: str = "labels") -> tuple[dict | None, list]:
    """The bands over seeds (input of ``learning_curves(bands=...)``) and their curves, or (None, []).

    The curves hold the run's metric; on the cost axis a band's x is the mean cost per round."""

    def curve(strategy: str, seed: int, rounds) -> Curve:
        shown = last_evaluated(rounds)  # a run that ran out of pool ends at its last evaluated round
        rounds = [] if shown is None else rounds[:shown.index + 1]
        return Curve(strategy, seed, tuple(r.n_labeled for r in rounds), tuple(r.score for r in rounds),
                     cost=tuple(r.cost for r in rounds))

    configs, _ = spread_arms(config)
    curves = [curve(c.strategy, c.seed, rounds) for c, rounds in zip(configs, spread_rounds)]
    if config.initial != "first":  # this run is one of the seeds
        curves += [curve(name, config.seed, rounds) for name, rounds in results.items()]
    curves = [c for c in curves if c.accuracy]
    strategies = list(dict.fromkeys(c.strategy for c in curves))
    if not curves or any(sum(c.strategy == s for c in curves) < 2 for s in strategies):
        return None, []
    return _bands(curves, axis), curves


def _spread_text(config: Config, curves, note: str | None, chance: str | None = None) -> None:
    """The verdict over seeds; with ``note``, a caption for the chart that draws their bands. ``chance``:
    ``'near chance'`` or ``'below chance'`` when accuracy is (:func:`alsim.evidence.chance.chance_words`)."""
    text = spread_verdict(curves, config.strategy)
    if chance and config.strategy not in ("random", "none"):
        metric = metric_title(config.metric)
        text += f" {metric[0].upper()}{metric[1:]} stays {chance}, so no difference here is evidence."
    st.markdown("**Spread over seeds.** " + text)
    if note is not None:
        st.caption(f"Shaded bands and dotted lines: mean ± one standard deviation over {note}. "
                   "Thick lines: this run.")


def _bands(curves, axis: str = "labels") -> dict[str, dict]:
    import numpy as np

    out = {}
    for s in dict.fromkeys(c.strategy for c in curves):
        group = [c for c in curves if c.strategy == s]
        length = min(len(c.accuracy) for c in group)
        acc = np.array([c.accuracy[:length] for c in group])
        mean, std = acc.mean(axis=0), acc.std(axis=0, ddof=1)
        x = (list(group[0].labels[:length]) if axis != "cost"
             else np.mean([c.x("cost")[:length] for c in group], axis=0).tolist())
        out[s] = {"x": x, "mean": mean.tolist(), "low": (mean - std).tolist(),
                  "high": (mean + std).tolist()}
    return out


def spread_verdict(curves, strategy: str) -> str:
    """One sentence on the seeds: who was ahead at the largest label count all seeds reach, and how often.

    Says there is a difference only when every seed agrees and the means differ by more than
    both spreads; otherwise says the seeds do not separate the two (a paired test needs
    more seeds than the live page runs: the Compare page has one).
    """
    import numpy as np

    if strategy in ("random", "none"):
        return f"Over {len({c.seed for c in curves})} seeds."
    last = _last_of_seeds(curves, strategy)
    if last is None:
        return ""
    labels, a, r = last
    text = (f"With {labels:,} labels, {strategy} averaged {a.mean():.1%} over {len(a)} seeds and random "
            f"{r.mean():.1%}; {strategy} was ahead in {int(np.sum(a > r))} of {len(a)} seeds.")
    if _agreement(a, r):
        return text + f" Every seed agrees, though {len(a)} seeds are too few for a significance test."
    if np.all(a == r):
        return text + " The two are equal on every seed."
    return text + " The seeds do not separate the two: this difference could be luck."


def _last_of_seeds(curves, strategy: str):
    """``(labels, strategy's scores, random's scores)`` per seed at the largest label count all seeds reach."""
    import numpy as np

    mine = {c.seed: c for c in curves if c.strategy == strategy}
    other = {c.seed: c for c in curves if c.strategy == "random"}
    seeds = sorted(set(mine) & set(other))
    if not seeds:
        return None
    n = min(min(len(mine[s].accuracy), len(other[s].accuracy)) for s in seeds)
    a = np.array([mine[s].accuracy[n - 1] for s in seeds])
    r = np.array([other[s].accuracy[n - 1] for s in seeds])
    return mine[seeds[0]].labels[n - 1], a, r


def seeds_agree(curves, strategy: str) -> int:
    """1 when every seed puts ``strategy`` ahead of random and the means differ by more than both spreads,
    -1 when every seed puts it behind that way, else 0 (no seeds, a tie, or the seeds disagree)."""
    last = _last_of_seeds(curves, strategy) if strategy not in ("random", "none") else None
    return 0 if last is None else _agreement(last[1], last[2])


def _agreement(a, r) -> int:
    """:func:`seeds_agree` of the per-seed scores ``a`` (the strategy's) and ``r`` (random's)."""
    import numpy as np

    spread = max(a.std(ddof=1), r.std(ddof=1)) if len(a) > 1 else 0.0
    if abs(a.mean() - r.mean()) <= spread:
        return 0
    return 1 if np.all(a > r) else -1 if np.all(a < r) else 0


def _use_knn() -> None:
    st.session_state["kernel"] = "knn"


def live_page() -> None:
    """The home page (run by ``app.py``'s navigation)."""
    st.set_page_config(page_title="alsim · live loop")
    sanitize_query_params(sidebar_params() | PAGE_PARAMS)
    present = _presenting()
    if present:
        st.html("<style>[data-testid=stSidebar], [data-testid=stSidebarCollapsedControl] {display: none}</style>")
    else:
        st.title("alsim · active learning, live")
    config, error = sidebar_config()
    show_url_notices()
    if error:
        show_error(error)
        return
    arms = arms_for(config)
    names = list(arms)
    header = st.container()
    first_visit = not st.session_state.get(_SEEN_EXPLAIN)
    st.session_state[_SEEN_EXPLAIN] = True
    if not present:
        with st.expander("What am I looking at?", expanded=first_visit):
            st.markdown(EXPLAIN)
    axis = "labels" if present else curve_axis()
    curve_slot = ChartSlot()
    try:
        prepared = prepare_shown(config)
        spread, note = ([], "")
        if config.strategy != "none" and len(prepared.pool_ids) <= SPREAD_MAX_POOL:
            spread, note = spread_arms(config)
        ran = stream(arms, curve_slot, x=axis, extra=spread)
        results, seconds = ran[0], ran[1]
        spread_rounds = ran[2] if spread else ()
        baseline = None
        if config.strategy != "none" and config.initial == "first":
            shown = last_evaluated(results[names[0]])
            if shown is not None:
                k = shown.n_labeled
                baseline = (k, _baseline(config, k))
        # Large pools: on request (a click sets the button's state for the rerun it starts).
        with st.spinner("The same model with every label (the ceiling)"):
            reach = ceiling(config, measure=len(prepared.pool_ids) <= QUICK_POOL
                            or bool(st.session_state.get("measure_ceiling")))
    except AlsimError as exc:
        show_error(exc)
        if isinstance(exc, KernelTooLarge):  # e.g. Fashion-MNIST chosen with a digits preset's rbf kernel
            st.button("Use the knn kernel", key="use_knn", on_click=_use_knn, type="primary",
                      help="Sets the sidebar's kernel to knn (a few neighbours per point), which fits this pool.")
        return

    warning = chance_warning(results, reach)
    chance = chance_relation(results, reach)
    bands, curves = _spread(config, results, spread_rounds, axis) if spread_rounds else (None, [])
    with header:
        _header(config, results, baseline, seconds, present, reach, warning, seeds_agree(curves, config.strategy))
    if present:  # the rounds as an animation, and what the seeds say in words
        curve_slot.plotly_chart(animated_curves(results, "Accuracy against revealed labels, round by round"),
                                key="curve-present", width="stretch")
        if bands is not None:
            _spread_text(config, curves, note=None, chance=chance)  # no bands drawn: nothing to caption
        presenter_maps(results, prepared)
        return
    stops = {name: stopping_points(results[name], arms[name], prepared.n_classes) for name in names}
    metric = metric_title(config.metric)
    title = f"{metric[0].upper()}{metric[1:]} against {X_TITLES[axis]}" + (
        "" if bands is None else f": this run over {SPREAD_SEEDS} seeds")
    curve = learning_curves(results, baseline if axis == "labels" else None, stops=stops, bands=bands,
                            band_label=f"{SPREAD_SEEDS} seeds", title=title, metric="score", x=axis)
    curve_slot.plotly_chart(curve, key="curve", width="stretch")
    if bands is not None:
        _spread_text(config, curves, note, chance=chance)
    fired = [f"**{escape_markdown(name)}**: {escape_markdown(point.sentence())}"
             for name, points in stops.items() for point in points]
    if fired:
        with st.expander("Where would a stopping rule have stopped? (markers on the chart)"):
            st.markdown("\n".join(f"- {line}" for line in fired))

    recall_section(results, prepared, config, key="")
    st.subheader("Round by round")
    round_details(results, prepared, key="")
    if config.self_training != "off":
        audit_section(results[names[0]], config.self_training, key="")

    st.subheader("Export and share")
    st.caption("Every control is stored in the page address: copy the URL to share this exact view. "
               "Add `&present=1` for the presenter view.")
    downloads(arms, results, prepared.class_names, key="live",
              report=report_builder(f"alsim: {' vs '.join(names)} on {config.dataset}", arms, results,
                                    prepared.class_names, bands=bands, baseline=baseline, ceiling=reach))


def report_builder(title: str, configs, results, class_names, **extra):
    """A function that builds the offline HTML report (:func:`alsim.report.html.html_report`) when called.

    The report is built on the download button's click, not on every run. It names this
    page's address (every setting is in it) as what reproduces the view.
    """
    try:
        url = st.context.url
    except AttributeError:
        url = None

    def build() -> str:

        return html_report(title, configs, results, class_names, url=url, **extra)

    return build
