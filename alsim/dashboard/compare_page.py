"""The Compare page: strategies over several seeds, with spread bands and label savings."""

from __future__ import annotations

import json
import time

import pandas as pd
import streamlit as st

from alsim.common.errors import AlsimError
from alsim.dashboard.charts import chart
from alsim.dashboard.controls import URL, curve_axis, sidebar_config, sidebar_params
from alsim.dashboard.messages import show_error
from alsim.dashboard.pool_maps import strategy_maps_section
from alsim.dashboard.render import prepare_shown, readable_table
from alsim.dashboard.url import (
    CHOICES,
    Float,
    Int,
    Param,
    check_choice,
    prefixed,
    sanitize_query_params,
    show_url_notices,
)
from alsim.evidence.ceiling import ceiling
from alsim.evidence.compare import (
    MIN_SEEDS_FOR_TEST,
    Curve,
    comparison_configs,
    growing_batches,
    interval_text,
    run_comparison,
    summarize,
    target_note,
    validate_request,
)
from alsim.loop.pool import check_feasible, data_key, prepare
from alsim.loop.run import run_arms
from alsim.loop.stopping import RULE_NAMES
from alsim.report.export import to_csv
from alsim.report.html import html_report
from alsim.report.plots import X_TITLES, band_curves, metric_title
from alsim.storage.memory import shared_cache, work_slots
from alsim.strategies import strategy_names

PREFIX = "cmp_"
#: Preselected strategies; every registered one can be added.
DEFAULT_STRATEGIES = ("entropy", "margin", "least_confident", "random")
#: The default target is this fraction of the accuracy with every label known.
TARGET_FRACTION = 0.95
#: The page's own URL-bound widgets (the sidebar's come from controls.SIDEBAR_PARAMS).
COMPARE_PARAMS: dict[str, Param] = {
    "strategies": CHOICES, "seeds": Int(1, 50, default=20), "target": Float(0.0, 1.0, default=0.0),
}

EXPLAIN = f"""
Every seed draws its own initial labels; all strategies share that draw, so each seed is
a paired comparison. The band is the mean ± one standard deviation across seeds.
**AULC** (area under the learning curve, divided by the label range) is the average
accuracy over the whole labeling budget. **Labels saved** compares how many revealed
labels each strategy's mean curve needs to reach the target accuracy with what random
sampling needs. The **paired test** is scipy's Wilcoxon signed-rank test on per-seed AULC
against random; below {MIN_SEEDS_FOR_TEST} seeds it cannot reach p < 0.05, so no verdict
is given.
"""


#: The preset the page opens with (the launcher's comparison worker loads it: alsim.dashboard.serve).
DEFAULT_PRESET = "digits-compare"


def _report(base, strategies, summary) -> str:
    """The offline HTML report: bands and verdicts of the comparison, round details of its first seed.

    Built when the download button is clicked (one more run of each strategy under the first seed).
    """

    configs = comparison_configs(base, strategies, base.seed)
    collected = [[] for _ in configs]
    for arm, record in run_arms(configs):
        collected[arm].append(record)
    try:
        url = st.context.url
    except AttributeError:
        url = None
    return html_report(f"alsim: {len(strategies)} strategies over {summary.n_seeds} seeds on {base.dataset}",
                       {c.strategy: c for c in configs}, {c.strategy: r for c, r in zip(configs, collected)},
                       prepare(base).class_names, bands=summary.bands(), summary=summary, url=url)


def _default_strategies() -> list[str]:
    """The uncertainty measures and random, of the registered strategies: a short default run."""
    return [name for name in DEFAULT_STRATEGIES if name in strategy_names()]



def _provisional(summary, n_done: int, n_seeds: int) -> str:
    """The verdicts so far, marked provisional, with the seeds they rest on."""
    lines = []
    for s in summary.strategies:
        if s.strategy == "random" or s.aulc_difference is None:
            continue
        if n_done < MIN_SEEDS_FOR_TEST:
            word = f"no verdict before {MIN_SEEDS_FOR_TEST} seeds"
        else:
            word = f"**{s.verdict}** (Holm-corrected p = {s.p_holm:.3g})"
        lines.append(f"- {s.strategy}: AULC difference against random {s.aulc_difference:+.4f}, {word}")
    head = f"**Provisional, {n_done} of {n_seeds} seeds** (the verdict sharpens as seeds finish)"
    return "\n".join([head + ("" if lines else ": no random arm to compare with")] + lines)


def _run(base, strategies: list[str], n_seeds: int, chart_slot, provisional_slot, axis: str = "labels") -> list[Curve]:
    """Every seed of the comparison, redrawing the bands and a provisional verdict as seeds finish.

    The run holds one of the server's work slots, and a second one (a worker process on the
    other core) only while no other run waits for it.
    """
    bar = st.progress(0.0, text="Comparing: starting")
    curves: list[Curve] = []

    def waiting(ahead: int) -> None:
        bar.progress(0.0, text=f"Waiting for a free worker, {ahead} ahead "
                               f"({work_slots().slots} runs compute at once on this server)")

    with work_slots().slot(on_wait=waiting, poll=1.0), work_slots().extra_slot() as extra:
        started = time.perf_counter()
        for batch in run_comparison(base, strategies, n_seeds, seeds_per_batch=growing_batches(n_seeds),
                                    progress=lambda f, m: bar.progress(min(1.0, f), text=f"Graph: {m}"),
                                    workers=2 if extra.held else 1, keep_workers=extra.keep):
            curves.extend(batch)
            done = len(curves) // len(strategies)
            bar.progress(done / n_seeds, text=f"Comparing: {done} of {n_seeds} seeds done "
                                              f"({time.perf_counter() - started:.1f} s)")
            partial = summarize(curves, target=0.0, axis=axis, metric=base.metric)
            chart(band_curves(partial.bands(), title=f"Mean {metric_title(base.metric)} ± 1 std, "
                                                    f"provisional: {done} of {n_seeds} seeds", x=axis, metric=base.metric),
                  key=f"bands-live-{done}", where=chart_slot, width="stretch")
            provisional_slot.info(_provisional(partial, done, n_seeds))
    bar.empty()
    return curves

def compare_page() -> None:
    sanitize_query_params(sidebar_params(PREFIX, with_strategy=False) | prefixed(COMPARE_PARAMS, PREFIX))
    st.title("Compare strategies across seeds")
    base, error = sidebar_config(prefix=PREFIX, default_preset=DEFAULT_PRESET, with_strategy=False)
    check_choice(PREFIX + "strategies", strategy_names(), multiple=True)
    strategies = st.multiselect("Strategies", list(strategy_names()), default=_default_strategies(),
                                key=PREFIX + "strategies",
                                bind=URL)
    c1, c2 = st.columns(2)
    seeds, target = COMPARE_PARAMS["seeds"], COMPARE_PARAMS["target"]
    n_seeds = c1.number_input("Seeds", value=seeds.default, step=1, key=PREFIX + "seeds", bind=URL,
                              **seeds.number("seeds"))
    axis = curve_axis(PREFIX)
    metric = "accuracy" if base is None else metric_title(base.metric)
    target_input = c2.number_input(f"Target {metric} (0 = {TARGET_FRACTION:.0%} of the fully labeled {metric})",
                                   value=target.default, step=0.01, format="%.3f", key=PREFIX + "target", bind=URL,
                                   **target.number("target"))
    show_url_notices()
    if error:
        show_error(error)
        return
    try:
        validate_request(base, strategies, int(n_seeds))
        # Feasibility depends on the data and the strategy, not the seed: one check covers every run.
        check_feasible(base.replace(strategy=strategies[0]), prepare_shown(base))
    except AlsimError as exc:
        show_error(exc)
        return

    key = (base, data_key(base), tuple(strategies), int(n_seeds))
    chart_slot = st.empty()
    provisional_slot = st.empty()
    curves: list[Curve] = list(shared_cache("comparisons").get(key, ()))
    if not curves:
        try:
            curves = _run(base, strategies, int(n_seeds), chart_slot, provisional_slot, axis)
        except AlsimError as exc:
            show_error(exc)
            return
        shared_cache("comparisons").put(key, tuple(curves))
    provisional_slot.empty()
    # The bands and the stopping rules' markers do not depend on the ceiling or the target: drawn
    # before the ceiling is measured (a fit with every label known), so the seeds' bands show at once.
    drawn = summarize(curves, axis=axis, metric=base.metric)
    chart(band_curves(drawn.bands(), title=f"Mean {metric} ± 1 std over {drawn.n_seeds} seeds"
                      + ("" if axis == "labels" else f", against {X_TITLES[axis]}"),
                      stops={s.strategy: s.stops for s in drawn.strategies}, x=axis, metric=base.metric),
          key="bands", where=chart_slot, width="stretch")

    target = float(target_input) if target_input > 0 else None
    try:
        with st.spinner(f"The {metric} with every label known (the ceiling, and the default target's reference)"):
            reach = ceiling(base)
    except AlsimError as exc:
        show_error(exc)
        return
    summary = summarize(curves, target=target, target_fraction=TARGET_FRACTION, ceiling=reach, axis=axis,
                        metric=base.metric)

    st.subheader("Headline")
    st.markdown(f"**{summary.ceiling_sentence()}**", help=reach.help_text())
    if summary.warning:
        st.warning(summary.warning)
    st.caption(f"Target {metric} {summary.target:.4f}: {summary.target_rule}{target_note(summary)}.")
    for s in summary.strategies:
        if s.strategy == "random":
            continue
        line = s.headline
        if s.verdict is not None:
            verdict = summary.shown_verdict(s)
            seeds = f"{summary.n_seeds} seed{'' if summary.n_seeds == 1 else 's'}"
            line += (f". Verdict against random over {seeds}: **{verdict}** (AULC difference "
                     f"{s.aulc_difference:+.4f}, {interval_text(s.aulc_difference_ci)}, Holm-corrected "
                     f"p = {s.p_holm:.3g})" if s.p_holm is not None else f". Verdict against random: {verdict}")
        # Green only for a difference the seeds support, never for a saving that is not significant,
        # and never at chance: there a "better" is not evidence (the warning above says why).
        success = st.info if summary.warning else st.success
        {"better": success, "worse": st.warning}.get(s.verdict, st.info)(line)

    table = pd.DataFrame(summary.table()).set_index("strategy")
    st.dataframe(readable_table(table), key="summary-table")
    saved = "labels saved" if base.cost == "unit" else "cost saved"
    stop_rows = [{"strategy": s.strategy, "rule": RULE_NAMES.get(stop["rule"], stop["rule"]),
                  "when": stop["description"], "stops at (labels)": round(stop["stops_at"]),
                  f"{metric} then": stop["accuracy_then"], f"final {metric}": stop["final_accuracy"],
                  saved: round(stop["labels_saved"]) if base.cost == "unit" else stop.get("cost_saved"),
                  "fired on seeds": f"{stop['fired']}/{stop['n_seeds']}"}
                 for s in summary.strategies for stop in s.stops]
    if stop_rows:
        st.markdown("**Stopping rules** (means over seeds; the markers on the chart; a seed on which a rule "
                    "never fires counts as stopping at its last round)")
        st.dataframe(readable_table(stop_rows), key="stop-table", hide_index=True)
    with st.expander("How to read this"):
        st.markdown(EXPLAIN)

    rows = [{"strategy": c.strategy, "seed": c.seed, "round": i, "n_labeled": x, base.metric: a,
             "cost_spent": c.cost[i] if c.cost else None}
            for c in curves for i, (x, a) in enumerate(zip(c.labels, c.accuracy))]
    d1, d2, d3 = st.columns(3)
    d3.download_button("Report (HTML)", lambda: _report(base, strategies, summary), file_name="alsim-compare.html",
                       mime="text/html", key="cmp-report", on_click="ignore", type="primary")
    d1.download_button("Curves (CSV)", to_csv(rows), file_name="alsim-compare.csv", mime="text/csv",
                       key="cmp-csv", on_click="ignore")
    d2.download_button("Summary (JSON)", json.dumps({"config": base.to_dict(), "strategies": strategies,
                                                     "summary": summary.to_dict(),
                                                     "curves": [c.__dict__ for c in curves]}, indent=1),
                       file_name="alsim-compare.json", mime="application/json", key="cmp-json", on_click="ignore")
    strategy_maps_section(base, strategies)
