"""Sidebar controls: widgets bound to the URL, returning a validated Config."""

from __future__ import annotations

from dataclasses import fields

import streamlit as st

from alsim.common.errors import AlsimError, ConfigError
from alsim.common.text import escape_controls
from alsim.common.values import MAX_INTEGER, parse_number
from alsim.dashboard.messages import escape_markdown
from alsim.dashboard.url import BOOL, CHOICE, Float, Int, Param, Text, check_choice
from alsim.data import store as datastore
from alsim.data.datasets import FASHION_INSTALL_HINT, fashion_available
from alsim.data.sources import source_names
from alsim.learn.graph import MAX_GAMMA
from alsim.loop.config import (
    COSTS,
    EVALUATIONS,
    FEATURES,
    INITIAL,
    KERNELS,
    MAX_ANNOTATORS,
    MAX_C,
    MAX_EMBED_SIDE,
    MAX_IMBALANCE,
    MAX_SEED,
    METRICS,
    MODELS,
    NOISE_MODELS,
    SCHEDULES,
    SELF_TRAINING,
    Config,
)
from alsim.loop.presets import PRESETS
from alsim.strategies import strategy_names

URL = "query-params"
#: The data sets alsim has built in (the others are imported sets, named by content id).
BUILT_IN_SETS = ("digits", "digits-tutorial", "fashion-mnist")
#: Feature kinds the sidebar offers (all but the ONNX model file, see _data_step).
PAGE_FEATURES = tuple(kind for kind in FEATURES if kind != "onnx")

#: Every URL-bound sidebar widget, by config field (the URL parameter is the page prefix
#: plus this name). The widget builders below take their ranges from this table and the
#: URL sanitiser checks a page's URL against it; choice widgets check their values against
#: the options they are drawn with.
SIDEBAR_PARAMS: dict[str, Param] = {
    "dataset": CHOICE, "pool_size": Int(0, MAX_INTEGER), "features": CHOICE, "embed_side": Int(32, MAX_EMBED_SIDE),
    "model": CHOICE, "kernel": CHOICE, "gamma": Float(1e-6, MAX_GAMMA), "n_neighbors": Int(1, 200),
    "alpha": Float(0.01, 0.99), "max_iter": Int(1, 1000), "C": Float(1e-4, MAX_C),
    "initial": CHOICE, "n_initial": Int(1, MAX_INTEGER), "strategy": CHOICE, "batch_size": Int(1, MAX_INTEGER),
    "n_rounds": Int(1, 500),
    "imbalance": Float(1.0, MAX_IMBALANCE), "oracle_noise": Float(0.0, 0.999), "oracle_noise_model": CHOICE,
    "annotators": Int(1, MAX_ANNOTATORS), "relabel": BOOL, "flag_label_errors": BOOL,
    "metric": CHOICE, "class_balanced": BOOL, "cost": CHOICE, "cost_params": Text(400), "x_axis": CHOICE,
    "self_training": CHOICE, "schedule": CHOICE, "threshold_start": Float(0.0, 0.999),
    "threshold_end": Float(0.0, 0.999), "threshold_steps": Int(1, 500), "use_final": BOOL,
    "threshold_final": Float(0.0, 0.999), "thresholds": Text(200),
    "evaluation": CHOICE, "seed": Int(0, MAX_SEED),
}


def sidebar_params(prefix: str = "", with_strategy: bool = True) -> dict[str, Param]:
    """The URL parameters :func:`sidebar_config` binds with this ``prefix`` (for the sanitiser)."""
    return {prefix + name: param for name, param in SIDEBAR_PARAMS.items() if with_strategy or name != "strategy"}


def _on_preset_change(prefix: str) -> None:
    name = st.session_state.get(prefix + "preset")
    if name in PRESETS:
        apply_preset(name, prefix)


def apply_preset(name: str, prefix: str = "") -> None:
    """Write a preset's values into the widgets' session state (and so into the URL)."""
    config = PRESETS[name][1]
    for f in fields(Config):
        value = getattr(config, f.name)
        if f.name == "strategy_params":  # no widget: set with --set, a URL or a JSON config
            continue
        if f.name in ("thresholds", "cost_params"):
            st.session_state[prefix + f.name] = ", ".join(f"{v:g}" for v in value)
        elif f.name == "threshold_final":
            st.session_state[prefix + "use_final"] = value is not None
            if value is not None:
                st.session_state[prefix + "threshold_final"] = float(value)
        else:
            st.session_state[prefix + f.name] = value


class _Widgets:
    """Widget builders whose keys carry a page prefix and whose defaults come from one Config."""

    def __init__(self, prefix: str, default: Config):
        self.prefix, self.default = prefix, default

    def _initial(self, field, value) -> dict:
        # A widget whose value a preset already put in session state must not also get a
        # default, or Streamlit warns about two sources of truth.
        return {} if self.prefix + field in st.session_state else value

    def select(self, label, options, field, help=None):
        default = getattr(self.default, field)
        check_choice(self.prefix + field, options)
        # Options are shown as the config's own values, so the URL reads like the CLI's
        # --set field=value (a bound widget puts its displayed option string in the URL).
        return st.selectbox(label, options, key=self.prefix + field, bind=URL, help=help,
                            **self._initial(field, {"index": list(options).index(default)}))

    def radio(self, label, options, field, captions, help=None):
        check_choice(self.prefix + field, options)
        return st.radio(label, options, captions=captions, key=self.prefix + field, bind=URL, help=help,
                        **self._initial(field, {"index": list(options).index(getattr(self.default, field))}))

    def int(self, label, field, help=None):
        return st.number_input(label, step=1, key=self.prefix + field, bind=URL, help=help,
                               **SIDEBAR_PARAMS[field].number(field),
                               **self._initial(field, {"value": getattr(self.default, field)}))

    def float(self, label, field, step, fmt="%.3f", help=None):
        value = getattr(self.default, field)
        return st.number_input(label, step=step, format=fmt, key=self.prefix + field, bind=URL, help=help,
                               **SIDEBAR_PARAMS[field].number(field),
                               **self._initial(field, {"value": float(0.10 if value is None else value)}))

    def checkbox(self, label, field, value: bool, help=None):
        return st.checkbox(label, key=self.prefix + field, bind=URL, help=help,
                           **self._initial(field, {"value": value}))

    def text(self, label, field, value: str, disabled: bool = False):
        return st.text_input(label, key=self.prefix + field, bind=URL, max_chars=SIDEBAR_PARAMS[field].max_chars,
                             disabled=disabled, **self._initial(field, {"value": value}))


def sidebar_config(prefix: str = "", default_preset: str = "digits-tutorial",
                   with_strategy: bool = True) -> tuple[Config | None, str | None]:
    """Draw the sidebar; return ``(config, None)`` or ``(None, message)`` for invalid input.

    The sidebar is drawn in named steps (preset, data, model, labeling, annotators and pool,
    pseudo-labels, evaluation); each returns the config fields its widgets set.

    Parameters
    ----------
    prefix : str
        Prepended to every widget key (and so to every URL parameter) of this page.
    default_preset : str
        The preset whose values are the widgets' defaults.
    with_strategy : bool
        Whether to show the query-strategy control (the Compare page picks several).
    """
    w = _Widgets(prefix, PRESETS[default_preset][1])
    with st.sidebar:
        caption = _preset_step(prefix, default_preset)
        values = _data_step(w)
        values |= _model_step(w)
        values |= _labeling_step(w, with_strategy)
        try:
            values |= _annotators_step(w)
            values |= _pseudo_label_step(w)
        except ConfigError as exc:  # thresholds or costs text that is not a list of numbers
            return None, str(exc)
        values |= _evaluation_step(w)
    config, message = _validated(values)
    if config is not None:  # without the strategy control, the strategy is not the user's to have changed
        caption(config, [name for name in values if with_strategy or name != "strategy"])
    return config, message


#: Changed settings a preset's caption names (the rest are counted).
CHANGES_SHOWN = 4


def _preset_step(prefix: str, default_preset: str):
    """The preset picker: choosing one writes its values into every control below.

    Returns a function that writes the caption under it once the controls' config is known:
    the preset's description while nothing differs from it, else what was changed.
    """
    names = list(PRESETS)
    st.selectbox("Preset", names, index=names.index(default_preset), key=prefix + "preset",
                 on_change=_on_preset_change, args=(prefix,),
                 help="Loads a named configuration into every control below.")
    chosen = st.session_state.get(prefix + "preset", default_preset)
    description, preset = PRESETS[chosen]
    slot = st.empty()
    slot.caption(description)

    def caption(config: Config, fields: list[str]) -> None:  # the fields the controls set
        changed = [name for name in fields if getattr(config, name) != getattr(preset, name)]
        if not changed:
            return
        text = f"Started from {chosen}"
        if "dataset" in changed:  # the data set first, by its name
            text += f": its settings, on data set {_data_set_name(config.dataset)} instead of its own ({preset.dataset})"
            changed.remove("dataset")
        if changed:
            shown = [f"{name} {_setting(getattr(preset, name))} → {_setting(getattr(config, name))}"
                     for name in changed[:CHANGES_SHOWN]]
            more = len(changed) - CHANGES_SHOWN
            text += ("; changed: " if "instead of" in text else ", changed: ") + ", ".join(shown) + (
                f" and {more} more" if more > 0 else "")
        slot.caption(escape_markdown(text + "."))

    return caption


def _setting(value) -> str:
    """A config value for a caption: numbers and names as typed, lists joined by commas."""
    if isinstance(value, (list, tuple)):
        return ",".join(_setting(v) for v in value) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _data_set_name(name: str) -> str:
    """A data set's name for a caption: a stored set's own name with its id, a built-in one's name."""
    if name in BUILT_IN_SETS:
        return name
    try:
        return f"{escape_controls(datastore.find(name).name)} (id {name})"
    except AlsimError:
        return str(name)


def _data_step(w: _Widgets) -> dict:
    """Data set, pool size and features."""
    _select, _int = w.select, w.int
    st.subheader("Data")
    dataset = _select("Data set", source_names(), "dataset")
    if dataset == "fashion-mnist" and not fashion_available():
        st.warning("Fashion-MNIST is not installed here.")
    if dataset not in BUILT_IN_SETS:  # a stored set: the picker shows its id (it goes into the URL)
        st.caption(escape_markdown(_data_set_name(dataset)))
    values = dict(dataset=dataset)
    values["pool_size"] = _int("Pool size (0 = all)", "pool_size",
                               help="Use a random subset of the pool (the same for every seed).")
    # 'onnx' runs a model file named by path on the server: the command line's --set onnx_model=PATH only.
    values["features"] = _select("Features", PAGE_FEATURES, "features",
                                 help="raw pixels; HOG (OpenCV, as in experiment B); colour histograms; "
                                      "pretrained: EfficientNet-Lite0's ImageNet features, computed offline "
                                      "(the first run embeds every image, later runs read them from the disk cache); "
                                      "precomputed: the data set's own embeddings. Your own ONNX model: "
                                      "--set features=onnx --set onnx_model=PATH on the command line.")
    if values["features"] == "pretrained":
        values["embed_side"] = _int("Embedding input side (px)", "embed_side",
                                    help="Images are resized to this square before the network.")
    return values


def _model_step(w: _Widgets) -> dict:
    """The model and the parameters of that model only."""
    _select, _int, _float = w.select, w.int, w.float
    st.subheader("Model")
    values = {"model": _select("Model", MODELS, "model")}
    if values["model"] == "label_spreading":
        values["kernel"] = _select("Kernel", KERNELS, "kernel")
        if values["kernel"] == "rbf":
            values["gamma"] = _float("gamma (rbf width)", "gamma", 0.05, "%.4g")
        else:
            values["n_neighbors"] = _int("Neighbours (knn)", "n_neighbors")
        values["alpha"] = _float("alpha (clamping)", "alpha", 0.05, "%.2f")
        values["max_iter"] = _int("max_iter", "max_iter")
    else:
        values["C"] = _float("C (regularisation)", "C", 0.1, "%.4g")
    return values


def _labeling_step(w: _Widgets, with_strategy: bool) -> dict:
    """Initial labels, query strategy, batch size and rounds."""
    _select, _int = w.select, w.int
    st.subheader("Labeling")
    values = {"initial": _select("Initial labels", INITIAL, "initial")}
    values["n_initial"] = _int("Initial labels (count)", "n_initial")
    if with_strategy:
        values["strategy"] = _select("Query strategy", strategy_names(include_none=True), "strategy",
                                     help="Which unlabeled points the annotator labels next.")
    else:
        values["strategy"] = w.default.strategy
    values["batch_size"] = _int("Batch size (labels per round)", "batch_size")
    values["n_rounds"] = _int("Rounds (model fits)", "n_rounds")
    return values


def _annotators_step(w: _Widgets) -> dict:
    """Simulated annotators (noise, how many per image, relabeling) and the pool's class profile."""
    _int, _float = w.int, w.float
    st.subheader("Annotators and pool")
    values = {"oracle_noise": _float("Annotator error rate", "oracle_noise", 0.05, "%.3f",
                                     help="Chance that a simulated annotator gives a wrong label (0 = perfect).")}
    if values["oracle_noise"] > 0:
        values["oracle_noise_model"] = w.select(
            "Error model", NOISE_MODELS, "oracle_noise_model",
            help="uniform: any other class; confusable: the classes a reference model confuses; "
                 "difficulty: more errors on images that model finds hard (mean = the rate).")
    values["annotators"] = _int("Annotators per image", "annotators",
                                help="Each image is labeled by this many annotators and the majority is kept; "
                                     "every image costs this many annotations.")
    if values["annotators"] > 1:
        values["relabel"] = w.checkbox("Relabel on disagreement", "relabel", w.default.relabel)
    values["flag_label_errors"] = w.checkbox(
        "Flag likely wrong labels", "flag_label_errors", w.default.flag_label_errors,
        help="Every round, confident learning (cleanlab) flags the revealed labels a cross-validated model most "
             "disagrees with; the Live page and `alsim run` say how many flags were really wrong. Costs a few "
             "fits per round.")
    values["imbalance"] = _float("Class imbalance (head / tail)", "imbalance", 1.0, "%.4g",
                                 help="1 = the pool as it is; 100: the largest class keeps 100x the images of "
                                      "the smallest (a long tail, the same pool for every seed).")
    values["metric"] = w.select("Score curves by", METRICS, "metric",
                                help="accuracy: share of points right. balanced_accuracy: the mean of the "
                                     "per-class recalls, so a rare class counts as much as a common one. "
                                     "macro_f1: the mean of the per-class F1 scores. Every curve, verdict and "
                                     "stopping rule reads this.")
    values["class_balanced"] = w.checkbox("Class-balanced batches", "class_balanced", w.default.class_balanced)
    st.caption("Class-balanced: each batch takes the strategy's top pick of every predicted class in turn, "
               "rarest predicted class first, so rare classes get asked about.")
    values["cost"] = w.select("Labeling cost", COSTS, "cost",
                              help="unit: every annotation costs 1. per_class: each class has its own cost "
                                   "(one number per class below). difficulty: 1 + scale x how unsure a reference "
                                   "model is about the image (hard images cost more).")
    # Always drawn (disabled with unit cost), so the URL keeps its value while the cost kind changes.
    label = {"per_class": "Costs per class (comma-separated, in class order)",
             "difficulty": "Difficulty scale (cost = 1 + scale x difficulty)"}.get(values["cost"], "Cost parameters")
    text = w.text(label, "cost_params", ", ".join(f"{v:g}" for v in w.default.cost_params),
                  disabled=values["cost"] == "unit")
    if values["cost"] != "unit":
        values["cost_params"] = parse_numbers("cost_params", text)
    # A view setting, not a Config field: the pages read it with curve_axis().
    check_choice(w.prefix + "x_axis", X_AXES)
    st.radio("Draw curves against", X_AXES, index=0, key=w.prefix + "x_axis", bind=URL, horizontal=True,
             help="labels: revealed labels. cost: the labeling cost spent (with unit cost, the annotations); "
                  "on the Compare page labels to the target and savings are then in cost.")
    return values


#: What learning curves can be drawn against: revealed labels or the labeling cost spent.
X_AXES = ("labels", "cost")


def curve_axis(prefix: str = "") -> str:
    """The sidebar's "Draw curves against" choice of a page: ``labels`` or ``cost``."""
    chosen = st.session_state.get(prefix + "x_axis")
    return chosen if chosen in X_AXES else "labels"


def _pseudo_label_step(w: _Widgets) -> dict:
    """Self-training mode and its threshold schedule; raises ConfigError on unreadable thresholds."""
    _select, _int, _float = w.select, w.int, w.float
    st.subheader("Pseudo-labels")
    values = {"self_training": w.radio("Confident points", SELF_TRAINING, "self_training",
                                       captions=["no pseudo-labels", "confident points get the model's prediction",
                                                 "confident points get their TRUE label "
                                                 "(experiment B's published shortcut)"],
                                       help="Points above the round's threshold join the training set.")}
    if values["self_training"] == "off":
        return values
    values["schedule"] = _select("Threshold schedule", SCHEDULES, "schedule")
    if values["schedule"] == "linear":
        values["threshold_start"] = _float("Start", "threshold_start", 0.05, "%.3f")
        values["threshold_end"] = _float("End", "threshold_end", 0.05, "%.3f")
        values["threshold_steps"] = _int("Steps", "threshold_steps")
        use_final = w.checkbox("Final threshold", "use_final", w.default.threshold_final is not None)
        values["threshold_final"] = _float("Final", "threshold_final", 0.05, "%.3f") if use_final else None
    else:
        text = w.text("Thresholds (comma-separated)", "thresholds",
                      ", ".join(f"{v:g}" for v in w.default.thresholds) or "0.9, 0.8, 0.7")
        values["thresholds"] = parse_thresholds(text)
    return values


def _evaluation_step(w: _Widgets) -> dict:
    """Where accuracy is measured, and the seed."""
    st.subheader("Evaluation")
    return {"evaluation": w.select("Evaluate on", EVALUATIONS, "evaluation",
                                   help="Pool: the points whose labels are still hidden (transductive). "
                                        "Test: the held-out split (Fashion-MNIST)."),
            "seed": w.int("Seed", "seed")}


def parse_thresholds(text: str) -> tuple[float, ...]:
    """Thresholds typed as ``0.9, 0.8, 0.7`` (commas or semicolons); ConfigError if not numbers."""
    return parse_numbers("thresholds", text)


def parse_numbers(name: str, text: str) -> tuple[float, ...]:
    """Numbers typed as ``0.9, 0.8, 0.7`` (commas or semicolons); ConfigError naming ``name`` if not numbers."""
    try:
        return tuple(parse_number(v.strip()) for v in text.replace(";", ",").split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{name} must be numbers separated by commas, got {text!r}") from None


def _validated(values: dict) -> tuple[Config | None, str | None]:
    """The sidebar's values as a Config, or the message saying why they are not one."""
    try:
        config = Config(**values)
    except ConfigError as exc:
        return None, str(exc)
    if config.dataset == "fashion-mnist" and not fashion_available():
        return None, f"Fashion-MNIST is not installed. {FASHION_INSTALL_HINT}"
    return config, None
