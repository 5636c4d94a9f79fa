"""Sidebar controls: widgets bound to the URL, returning a validated Config."""

from __future__ import annotations

from dataclasses import fields

import streamlit as st

from alsim.config import (EVALUATIONS, FEATURES, INITIAL, KERNELS, MODELS, SCHEDULES, SELF_TRAINING, Config,
                          ConfigError)
from alsim.sources import source_names
from alsim.strategies import strategy_names
from alsim.data import FASHION_INSTALL_HINT, fashion_available
from alsim.presets import PRESETS

URL = "query-params"

def _on_preset_change(prefix: str) -> None:
    name = st.session_state.get(prefix + "preset")
    if name in PRESETS:
        apply_preset(name, prefix)


def apply_preset(name: str, prefix: str = "") -> None:
    """Write a preset's values into the widgets' session state (and so into the URL)."""
    config = PRESETS[name][1]
    for f in fields(Config):
        value = getattr(config, f.name)
        if f.name == "thresholds":
            st.session_state[prefix + "thresholds"] = ", ".join(f"{v:g}" for v in value)
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
        # Options are shown as the config's own values, so the URL reads like the CLI's
        # --set field=value (a bound widget puts its displayed option string in the URL).
        return st.selectbox(label, options, key=self.prefix + field, bind=URL, help=help,
                            **self._initial(field, {"index": list(options).index(default)}))

    def int(self, label, field, minimum, maximum=None, step=1, help=None):
        return st.number_input(label, min_value=minimum, max_value=maximum, step=step, key=self.prefix + field,
                               bind=URL, help=help, **self._initial(field, {"value": getattr(self.default, field)}))

    def float(self, label, field, minimum, maximum, step, fmt="%.3f", help=None):
        value = getattr(self.default, field)
        return st.number_input(label, min_value=minimum, max_value=maximum, step=step, format=fmt,
                               key=self.prefix + field, bind=URL, help=help,
                               **self._initial(field, {"value": float(0.10 if value is None else value)}))


def sidebar_config(prefix: str = "", default_preset: str = "digits-tutorial",
                   with_strategy: bool = True) -> tuple[Config | None, str | None]:
    """Draw the sidebar; return ``(config, None)`` or ``(None, message)`` for invalid input.

    Parameters
    ----------
    prefix : str
        Prepended to every widget key (and so to every URL parameter) of this page.
    default_preset : str
        The preset whose values are the widgets' defaults.
    with_strategy : bool
        Whether to show the query-strategy control (the Compare page picks several).
    """
    default = PRESETS[default_preset][1]
    w = _Widgets(prefix, default)
    _select, _int, _float = w.select, w.int, w.float
    sb = st.sidebar
    with sb:
        names = list(PRESETS)
        st.selectbox("Preset", names, index=names.index(default_preset), key=prefix + "preset",
                     on_change=_on_preset_change, args=(prefix,),
                     help="Loads a named configuration into every control below.")
        st.caption(PRESETS[st.session_state.get(prefix + "preset", default_preset)][0])

        st.subheader("Data")
        dataset = _select("Data set", source_names(), "dataset")
        if dataset == "fashion-mnist" and not fashion_available():
            st.warning("Fashion-MNIST is not installed here.")
        values = dict(dataset=dataset)
        values["pool_size"] = _int("Pool size (0 = all)", "pool_size", 0,
                                   help="Use a random subset of the pool (the same for every seed).")
        values["features"] = _select("Features", FEATURES, "features",
                                     help="HOG (OpenCV, as in experiment B) needs 28x28 images: Fashion-MNIST.")

        st.subheader("Model")
        values["model"] = _select("Model", MODELS, "model")
        if values["model"] == "label_spreading":
            values["kernel"] = _select("Kernel", KERNELS, "kernel")
            if values["kernel"] == "rbf":
                values["gamma"] = _float("gamma (rbf width)", "gamma", 1e-6, 1e6, 0.05, "%.4g")
            else:
                values["n_neighbors"] = _int("Neighbours (knn)", "n_neighbors", 1, 200)
            values["alpha"] = _float("alpha (clamping)", "alpha", 0.01, 0.99, 0.05, "%.2f")
            values["max_iter"] = _int("max_iter", "max_iter", 1, 1000)
        else:
            values["C"] = _float("C (regularisation)", "C", 1e-4, 1e4, 0.1, "%.4g")

        st.subheader("Labeling")
        values["initial"] = _select("Initial labels", INITIAL, "initial")
        values["n_initial"] = _int("Initial labels (count)", "n_initial", 1)
        if with_strategy:
            values["strategy"] = _select("Query strategy", strategy_names(include_none=True), "strategy",
                                         help="Which unlabeled points the annotator labels next.")
        values["batch_size"] = _int("Batch size (labels per round)", "batch_size", 1)
        values["n_rounds"] = _int("Rounds (model fits)", "n_rounds", 1, 500)

        st.subheader("Pseudo-labels")
        values["self_training"] = st.radio("Confident points", SELF_TRAINING,
                                           **w._initial("self_training",
                                                        {"index": SELF_TRAINING.index(default.self_training)}),
                                           captions=["no pseudo-labels", "confident points get the model's "
                                                     "prediction", "confident points get their TRUE label "
                                                     "(experiment B's published shortcut)"],
                                           key=prefix + "self_training", bind=URL,
                                           help="Points above the round's threshold join the training set.")
        if values["self_training"] != "off":
            values["schedule"] = _select("Threshold schedule", SCHEDULES, "schedule")
            if values["schedule"] == "linear":
                values["threshold_start"] = _float("Start", "threshold_start", 0.0, 0.999, 0.05, "%.3f")
                values["threshold_end"] = _float("End", "threshold_end", 0.0, 0.999, 0.05, "%.3f")
                values["threshold_steps"] = _int("Steps", "threshold_steps", 1, 500)
                use_final = st.checkbox("Final threshold", key=prefix + "use_final", bind=URL,
                                        **w._initial("use_final", {"value": default.threshold_final is not None}))
                final = _float("Final", "threshold_final", 0.0, 0.999, 0.05, "%.3f") if use_final else None
                values["threshold_final"] = final
            else:
                text = st.text_input("Thresholds (comma-separated)", key=prefix + "thresholds", bind=URL,
                                     **w._initial("thresholds", {"value": ", ".join(
                                         f"{v:g}" for v in default.thresholds) or "0.9, 0.8, 0.7"}))
                try:
                    values["thresholds"] = tuple(float(v) for v in text.replace(";", ",").split(",") if v.strip())
                except ValueError:
                    return None, f"thresholds must be numbers separated by commas, got {text!r}"

        st.subheader("Evaluation")
        values["evaluation"] = _select("Evaluate on", EVALUATIONS, "evaluation",
                                       help="Pool: the points whose labels are still hidden (transductive). "
                                            "Test: the held-out split (Fashion-MNIST).")
        values["seed"] = _int("Seed", "seed", 0, 2**31 - 1)
    if not with_strategy:
        values["strategy"] = default.strategy
    try:
        config = Config(**values)
    except ConfigError as exc:
        return None, str(exc)
    if config.dataset == "fashion-mnist" and not fashion_available():
        return None, f"Fashion-MNIST is not installed. {FASHION_INSTALL_HINT}"
    return config, None
