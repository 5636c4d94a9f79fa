"""The live-loop page: one run of the chosen strategy next to random sampling."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from alsim.cache import shared_cache
from alsim.config import Config, ConfigError
from alsim.data import DataError
from alsim.graph import GraphTooLarge
from alsim.loop import first_k_baseline, prepare
from alsim.plots import confusion_heatmap, learning_curves, pseudo_label_audit

from .controls import sidebar_config, sidebar_params
from .messages import show_error
from .render import downloads, gallery, per_class_table
from .runner import run_live
from .url import sanitize_query_params, show_url_notices

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
- **Pseudo-labels** are the model's own predictions for images it is confident about.
  They are never counted as revealed labels; their precision against the hidden truth is
  shown separately.
- Accuracy is measured on the images whose labels are still hidden (pool) or on a held-out
  test split.
"""


def arms_for(config: Config) -> dict[str, Config]:
    """The chosen strategy and, where it differs, random sampling with the same settings."""
    arms = {config.strategy: config}
    if config.strategy not in ("random", "none"):
        arms["random"] = config.replace(strategy="random")
    return arms


def _baseline(config: Config, k: int) -> float:
    """Experiment A's "first k labels" accuracy (computed once per server)."""
    from alsim.pool import data_key

    return shared_cache("values").get_or_build(("first_k", config, k, data_key(config)),
                                                lambda: first_k_baseline(config, k).accuracy)


REDRAW_SECONDS = 0.5


def stream(arms: dict[str, Config], curve_slot, label: str = "Labeling loop", x: str = "labels"):
    """Run the arms live, redrawing the growing curves into ``curve_slot`` as rounds finish.

    A run that finishes within :data:`REDRAW_SECONDS` draws no intermediate chart at all; a
    longer one redraws at most once per :data:`REDRAW_SECONDS` (building and sending a plotly
    figure per round would cost more than the rounds themselves).
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
        curve_slot.plotly_chart(learning_curves(partial, title="Accuracy (running)", x=x),
                                key=f"curve-live-{label}-{state['draws']}", width="stretch")

    finished = run_live(configs, on_round, label=label)
    return dict(zip(names, finished.rounds)), finished.seconds


def round_details(results: dict, prepared, key: str, gallery_arm: str | None = None) -> None:
    """Round slider, confusion heatmaps side by side, galleries and the per-class report."""
    names = list(results)
    active = results[gallery_arm or names[0]]
    n = len(active)
    view = st.select_slider("Round", options=list(range(n)), value=n - 1, key=f"{key}round_view",
                            format_func=lambda i: f"{i} ({active[i].n_labeled:,} labels)")
    record = active[view]
    heat_cols = st.columns(len(results))
    for col, (name, rounds) in zip(heat_cols, results.items()):
        r = rounds[min(view, len(rounds) - 1)]
        title = (f"{name}: round {r.index}, {r.n_labeled:,} labels, accuracy {r.accuracy:.3f}" if len(results) < 3
                 else f"{name}<br><sup>round {r.index}, {r.n_labeled:,} labels, accuracy {r.accuracy:.3f}</sup>")
        col.plotly_chart(confusion_heatmap(r.confusion, prepared.class_names, title=title),
                         key=f"{key}confusion-{name}", width="stretch")
    st.caption(f"Images of the unlabeled pool in round {view} ({gallery_arm or names[0]}), ranked by "
               f"{record.ranking[1]}. ★ = sent to the annotator this round.")
    gallery("Most uncertain", prepared, record, most=True)
    gallery("Least uncertain (most confident)", prepared, record, most=False)
    with st.expander(f"Per-class report, round {view} ({'test split' if record.test is not None else 'pool'})",
                     expanded=prepared.dataset.has_test):
        st.dataframe(per_class_table(record, prepared.class_names), key=f"{key}per-class")


def audit_section(rounds, self_training: str, key: str) -> None:
    """Pseudo-label audit: per round, threshold, points auto-labeled and their precision."""
    st.subheader("Pseudo-label audit")
    if self_training == "oracle":
        st.warning("True-label mode: confident points get their TRUE label, as experiment B's published code "
                   "did. That is an oracle, not self-training; every such point is counted as a revealed label.")
    st.plotly_chart(pseudo_label_audit(rounds), key=f"{key}audit", width="stretch")
    st.dataframe(pd.DataFrame([{
        "round": r.index, "threshold": r.threshold, "auto-labeled": r.auto_added,
        "precision vs truth": r.auto_precision, "revealed labels": r.n_labeled, "pseudo-labels": r.n_pseudo,
        "training set": r.n_labeled + r.n_pseudo, "pseudo precision (all)": r.pseudo_precision,
        "accuracy": r.accuracy} for r in rounds]), hide_index=True, key=f"{key}audit-table")


def live_page() -> None:
    sanitize_query_params(sidebar_params())
    st.title("alsim · active learning, live")
    config, error = sidebar_config()
    show_url_notices()
    if error:
        show_error(error)
        return
    arms = arms_for(config)
    names = list(arms)
    header = st.container()
    curve_slot = st.empty()
    try:
        prepared = prepare(config)
        results, seconds = stream(arms, curve_slot)
        baseline = None
        if config.strategy != "none" and config.initial == "first":
            k = results[names[0]][-1].n_labeled
            baseline = (k, _baseline(config, k))
    except (ConfigError, DataError, GraphTooLarge) as exc:
        show_error(exc)
        return

    active = results[names[0]]
    last = active[-1]
    with header:
        cols = st.columns(4)
        cols[0].metric(f"{names[0]}: final accuracy", f"{last.accuracy:.4f}",
                       delta=(f"{last.accuracy - results['random'][-1].accuracy:+.4f} vs random"
                              if "random" in results and names[0] != "random" else None))
        if "random" in results and names[0] != "random":
            cols[1].metric("random: final accuracy", f"{results['random'][-1].accuracy:.4f}")
        if baseline is not None:
            cols[2].metric(f"first {baseline[0]} labels", f"{baseline[1]:.4f}")
        cols[3].metric("revealed labels", f"{last.n_labeled:,}",
                       delta=f"+{last.n_pseudo:,} pseudo" if last.n_pseudo else None, delta_color="off")
        st.caption(f"{len(active)} rounds, stop reason: `{last.stop_reason}` · evaluated on "
                   f"{'the test split' if last.test is not None else 'the still-unlabeled pool'} · "
                   f"{seconds:.2f} s")
    curve_slot.plotly_chart(learning_curves(results, baseline), key="curve", width="stretch")

    with st.expander("What am I looking at?"):
        st.markdown(EXPLAIN)

    st.subheader("Round by round")
    round_details(results, prepared, key="")
    if config.self_training != "off":
        audit_section(active, config.self_training, key="")

    st.subheader("Export and share")
    st.caption("Every control is stored in the page address: copy the URL to share this exact view.")
    downloads(arms, results, prepared.class_names, key="live")
