"""The Fashion-MNIST page: self-training schedules, hybrid labeling, label spreading at full scale."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from alsim.common.errors import AlsimError, ConfigError
from alsim.dashboard.controls import URL, parse_thresholds
from alsim.dashboard.live import ChartSlot, audit_section, report_builder, round_details, stream
from alsim.dashboard.messages import show_error
from alsim.dashboard.render import downloads, prepare_shown, readable_table
from alsim.dashboard.url import (
    BOOL,
    CHOICE,
    Float,
    Int,
    Param,
    Text,
    check_choice,
    prefixed,
    sanitize_query_params,
    show_url_notices,
)
from alsim.data.datasets import DEBIAN_FASHION_DIR, FASHION_CLASSES, FASHION_INSTALL_HINT, fashion_available
from alsim.evidence.narrative import fmt_accuracy, last_evaluated, plain_stop_reason, takeaway
from alsim.loop.config import MAX_SEED, Config
from alsim.loop.presets import get_preset
from alsim.report.plots import colour, learning_curves
from alsim.strategies import strategy_names

P = "fm_"
MODES = ("self-training", "hybrid", "label spreading")
N_CLASSES = len(FASHION_CLASSES)
# The controls start at the seed experiments' settings.
EXPERIMENT_B = get_preset("fashion-selftrain")
HYBRID = get_preset("fashion-hybrid")
SPREADING = get_preset("fashion-spreading")
#: Every URL-bound widget of the page, by key without the ``fm_`` prefix: the widgets take
#: their range and default from here, the URL sanitiser checks the page's URL against it.
FASHION_PARAMS: dict[str, Param] = {
    "mode": CHOICE, "per_class": Int(1, 6000, default=EXPERIMENT_B.n_initial // N_CLASSES),
    "seed": Int(0, MAX_SEED, default=0),
    # label spreading
    "n_neighbors": Int(2, 100, default=SPREADING.n_neighbors), "batch": Int(1, 5000, default=SPREADING.batch_size),
    "spread_rounds": Int(1, 100, default=SPREADING.n_rounds), "strategy": CHOICE,
    # self-training
    "model": CHOICE, "kind": CHOICE, "schedule": CHOICE,
    "start": Float(0.0, 0.999, default=EXPERIMENT_B.threshold_start),
    "end": Float(0.0, 0.999, default=EXPERIMENT_B.threshold_end),
    "steps": Int(1, 100, default=EXPERIMENT_B.threshold_steps), "use_final": BOOL,
    "final": Float(0.0, 0.999, default=EXPERIMENT_B.threshold_final), "thresholds": Text(200), "refit_last": BOOL,
    # hybrid
    "upper": Float(0.0, 0.999, default=HYBRID.thresholds[0]), "k": Int(1, 5000, default=HYBRID.batch_size),
    "rounds": Int(2, 100, default=8),
}
MODEL_LABELS = {
    "linear_svc_newton": "LinearSVC objective, Newton solver (fast)",
    "linear_svc": "LinearSVC, scikit-learn/liblinear (exact seed)",
    "logistic_regression": "LogisticRegression",
}
FAST_NOTE = ("**Model.** The default solves exactly LinearSVC's objective (squared hinge, L2, one-vs-rest, "
             "liblinear's regularised intercept) by Newton's method, warm-started from the previous round; its "
             "objective value is at least as low as liblinear's. Pick `linear_svc` (scikit-learn's LinearSVC, "
             "liblinear) to reproduce experiment B exactly, more slowly: the caption under the metrics gives "
             "each run's time.")


def _number(label, key, step, fmt=None, help=None, container=st.sidebar):
    param = FASHION_PARAMS[key]
    kwargs = {"format": fmt} if fmt else {}
    return container.number_input(label, value=param.default, step=step, key=P + key, bind=URL, help=help,
                                  **param.number(key), **kwargs)


def _choice(widget, label, options, key, **kwargs):
    """A selectbox or radio bound to the URL, whose URL value is checked against ``options``."""
    check_choice(P + key, options)
    return widget(label, options, key=P + key, bind=URL, **kwargs)


def _controls() -> tuple[str, dict[str, Config]]:
    sb = st.sidebar
    mode = _choice(sb.radio, "Experiment", MODES, "mode",
                   help="Self-training: experiment B's threshold schedule. Hybrid: annotator + pseudo-labels. "
                        "Label spreading: a semi-supervised active loop on a graph over every training image.")
    per_class = _number("Initial labels per class", "per_class", 10,
                        help=f"Experiment B: {EXPERIMENT_B.n_initial // N_CLASSES} per class "
                             f"({EXPERIMENT_B.n_initial:,} in all).")
    seed = _number("Seed", "seed", 1)
    common = dict(dataset="fashion-mnist", features="hog", initial="stratified",
                  n_initial=int(per_class) * N_CLASSES, evaluation="test", seed=int(seed))
    if mode == "label spreading":
        k = _number("Neighbours (knn graph)", "n_neighbors", 1)
        batch = _number("Labels per round", "batch", 10)
        rounds = _number("Rounds (model fits)", "spread_rounds", 1)
        strategy = _choice(sb.selectbox, "Query strategy", [s for s in strategy_names() if s != "random"],
                           "strategy")
        active = Config(**common, model="label_spreading", kernel="knn", n_neighbors=int(k), batch_size=int(batch),
                        n_rounds=int(rounds), strategy=strategy)
        return mode, {strategy: active, "random": active.replace(strategy="random")}

    model = _choice(sb.selectbox, "Model", list(MODEL_LABELS), "model",
                    help="; ".join(f"{k}: {v}" for k, v in MODEL_LABELS.items()))
    common["model"] = model
    if mode == "self-training":
        kind = _choice(sb.radio, "Confident points get", ["pseudo", "oracle"], "kind",
                       captions=["the model's prediction (pseudo-label)", "their TRUE label (published code)"])
        schedule = _choice(sb.radio, "Schedule", ["linear", "list"], "schedule",
                           captions=["linear start → end", "explicit list"])
        if schedule == "linear":
            start = _number("Start", "start", 0.05, "%.3f")
            end = _number("End", "end", 0.05, "%.3f")
            steps = _number("Rounds of the schedule", "steps", 1)
            use_final = sb.checkbox("Final threshold", value=True, key=P + "use_final", bind=URL)
            final = _number("Final", "final", 0.05, "%.3f") if use_final else None
            schedule_fields = dict(schedule="linear", threshold_start=float(start), threshold_end=float(end),
                                   threshold_steps=int(steps), threshold_final=final)
            n_thresholds = int(steps) + (final is not None)
        else:
            text = sb.text_input("Thresholds", value="0.45, 0.4, 0.35, 0.3", key=P + "thresholds", bind=URL,
                                 max_chars=FASHION_PARAMS["thresholds"].max_chars)
            values = parse_thresholds(text)
            schedule_fields = dict(schedule="list", thresholds=values)
            n_thresholds = len(values)
        fit_after_final = sb.checkbox("Refit after the last threshold", value=False, key=P + "refit_last", bind=URL,
                                      help="Experiment B's published run evaluates the model fitted before its "
                                           f"final {EXPERIMENT_B.threshold_final:g} moves; tick to fit once more "
                                           "after them.")
        config = Config(**common, strategy="none", self_training=kind, batch_size=1,
                        n_rounds=n_thresholds + (1 if fit_after_final else 0), **schedule_fields)
        return mode, {"self-training" if kind == "pseudo" else "true labels (oracle)": config}

    # hybrid
    upper = _number("Auto-label above (upper threshold)", "upper", 0.01, "%.3f",
                    help="Unlabeled points whose top probability (one-vs-rest sigmoid scores normalised over the "
                         "classes) exceeds this get a pseudo-label. The pseudo-label audit below gives the "
                         "measured precision of every round.")
    k = _number("Annotator labels per round (least confident)", "k", 50)
    rounds = _number("Rounds (model fits)", "rounds", 1)
    thresholds = (float(upper),) * (int(rounds) - 1)
    budget = int(per_class) * N_CLASSES + int(k) * (int(rounds) - 1)
    hybrid = Config(**common, strategy="least_confident", batch_size=int(k), n_rounds=int(rounds),
                    self_training="pseudo", schedule="list", thresholds=thresholds)
    return mode, {
        "hybrid": hybrid,
        "active only": hybrid.replace(self_training="off"),
        "self-training only": hybrid.replace(strategy="none", n_initial=budget, batch_size=1),
    }


def _hybrid_figure(results) -> go.Figure:
    fig = go.Figure()
    for i, (name, rounds) in enumerate(results.items()):
        if name == "self-training only":
            last = rounds[-1]
            fig.add_trace(go.Scatter(x=[last.n_labeled], y=[last.accuracy], mode="markers+text", name=name,
                                     marker=dict(size=14, symbol="diamond", color="#d62728"),
                                     text=[f"{last.accuracy:.3f}"], textposition="bottom center"))
            continue
        fig.add_trace(go.Scatter(x=[r.n_labeled for r in rounds], y=[r.accuracy for r in rounds],
                                 mode="lines+markers", name=name, line=dict(width=3, color=colour("x", i))))
    fig.update_layout(title="Test accuracy against labels given by the annotator", xaxis_title="annotator labels",
                      yaxis_title="test accuracy", legend=dict(orientation="h", y=-0.2), height=400,
                      margin=dict(t=50, b=10))
    return fig


def fashion_page() -> None:
    sanitize_query_params(prefixed(FASHION_PARAMS, P))
    st.title("Fashion-MNIST at full scale")
    if not fashion_available():
        show_url_notices()
        st.warning(f"Fashion-MNIST is not installed on this machine (looked in `{DEBIAN_FASHION_DIR}` or "
                   f"`$ALSIM_DATA_DIR`).")
        st.markdown(FASHION_INSTALL_HINT)
        st.code("sudo apt-get install dataset-fashion-mnist", language="bash")
        return
    try:
        mode, arms = _controls()
    except ConfigError as exc:
        show_url_notices()
        show_error(exc)
        return
    show_url_notices()
    first = next(iter(arms.values()))
    if first.model == "linear_svc_newton":
        st.info(FAST_NOTE)
    header = st.container()
    curve_slot = ChartSlot()
    try:
        prepared = prepare_shown(first)
        label = (f"Building the {len(prepared.pool_ids):,}-point graph, then labeling" if mode == "label spreading"
                 else "Labeling loop")
        # Fashion-MNIST runs take seconds to minutes: their progress bar shows from the start.
        results, seconds = stream(arms, curve_slot, label=label, x="labels" if mode != "self-training" else "round",
                                  progress_after=0.0)
    except AlsimError as exc:
        show_error(exc)
        return

    names = list(results)
    main = results[names[0]]
    last = main[-1]
    with header:
        st.markdown(f"#### {takeaway(results)}")
        shown = last_evaluated(main) or last
        cols = st.columns(4)
        cols[0].metric(f"{names[0]}: test accuracy", (f"{shown.accuracy:.4f}" if last_evaluated(main) else fmt_accuracy(None)),
                       # none for round 0 itself (a single fit): it would compare the round with itself
                       delta=(f"{100 * (shown.accuracy - main[0].accuracy):+.1f} points vs round 0"
                              if last_evaluated(main) is not None and shown.index > 0 else None),
                       help=f"Round {shown.index}, {shown.n_labeled:,} revealed labels.")
        cols[1].metric("labels revealed", f"{last.n_labeled:,}")
        cols[2].metric("pseudo-labels", f"{last.n_pseudo:,}")
        cols[3].metric("pseudo-label precision", "-" if last.pseudo_precision is None
                       else f"{last.pseudo_precision:.3f}")
        st.caption(f"{len(main)} fits in {seconds:.1f} s · stopped: {plain_stop_reason(last.stop_reason)} · "
                   f"accuracy on the {len(prepared.dataset.test_labels):,} test images",
                   help=f"Stop reason as recorded: {last.stop_reason}")

    if mode == "self-training":
        curve_slot.plotly_chart(learning_curves(results, x="round", title="Test accuracy per round"),
                                key=P + "curve", width="stretch")
        audit_section(main, first.self_training, key=P)
        if first.self_training == "oracle":
            st.markdown(f"Experiment B's published figure, 0.87 test accuracy, comes from this mode. Measured "
                        f"here: **{last.accuracy:.4f}**, with the classifier trained on **{last.n_labeled:,} true "
                        f"labels**, not the {first.n_initial:,} initial ones: the schedule moved the other "
                        f"{last.n_labeled - first.n_initial:,} with their true labels. Pick *pseudo* under "
                        f"\"Confident points get\" to run the same schedule with honest pseudo-labels.")
    elif mode == "hybrid":
        curve_slot.plotly_chart(_hybrid_figure(results), key=P + "curve", width="stretch")
        st.caption("Same annotator budget for all three: hybrid and active-only spend it round by round on the "
                   "least confident images; self-training-only gets it all as initial labels, then pseudo-labels.")
        st.dataframe(readable_table([{"arm": n, "annotator labels": r[-1].n_labeled, "pseudo-labels": r[-1].n_pseudo,
                                      "pseudo precision": r[-1].pseudo_precision, "test accuracy": r[-1].accuracy}
                                     for n, r in results.items()]), key=P + "hybrid-table")
        audit_section(results["hybrid"], "pseudo", key=P + "h")
    else:
        curve_slot.plotly_chart(learning_curves(results, title="Test accuracy against revealed labels"),
                                key=P + "curve", width="stretch")
        st.caption(f"Graph: {first.n_neighbors}-nearest neighbours of all {len(prepared.pool_ids):,} HOG vectors, "
                   f"built once and reused by every round and both arms.")

    st.subheader("Round by round")
    round_details(results, prepared, key=P)
    downloads(arms, results, prepared.class_names, key=P + "dl",
              report=report_builder(f"alsim: Fashion-MNIST, {mode}", arms, results, prepared.class_names))
