"""The Data page: upload a zip / npz / csv, see what it holds, run the loop on it."""

from __future__ import annotations

from urllib.parse import quote, urlencode

import numpy as np
import pandas as pd
import streamlit as st

from alsim.common.errors import AlsimError, DataError
from alsim.common.text import escape_controls
from alsim.dashboard.messages import escape_markdown, show_error, show_warning
from alsim.dashboard.render import to_display
from alsim.dashboard.url import CHOICE, check_choice, sanitize_query_params, show_url_notices
from alsim.data import store as datastore
from alsim.data.importers import COLOR_MODES, MAX_SIDE, ImportOptions, default_max_bytes
from alsim.data.sources import load_source, source_info, source_names
from alsim.evidence.ceiling import PROBE_FOLDS, FeatureProbe, best_probe, ceiling, probe_features, probe_kinds
from alsim.evidence.chance import near_chance
from alsim.loop.config import Config
from alsim.loop.presets import default_config

SAMPLES_PER_CLASS = 8
UPLOAD_TYPES = ["zip", "npz", "csv", "parquet"]


def import_upload(filename: str, data: bytes, name: str | None = None, options: ImportOptions | None = None,
                  on_wait=None) -> tuple[datastore.StoredSet | None, str | None]:
    """Validate and store an uploaded file: ``(entry, None)`` or ``(None, one-line message)``.

    ``on_wait()`` is called when another import on this server runs (they run one at a time).
    """
    try:
        return datastore.import_bytes(filename, data, name=name, options=options, on_wait=on_wait), None
    except DataError as exc:
        return None, str(exc).splitlines()[0] if str(exc) else "the file could not be imported"


def _upload_step() -> None:
    """The uploader and its options; a new file is imported once and selected."""
    limit = default_max_bytes()
    with st.expander("Import options"):
        side = st.number_input("Image side (pixels)", min_value=4, max_value=MAX_SIDE, value=28, step=1,
                               key="data_side", help="Every image is resized to side x side for the features (a display copy keeps up to 128 px).")
        color = st.selectbox("Colour", COLOR_MODES, key="data_color",
                             help="gray works with HOG and every page; auto keeps colour when some image has it.")
        unlabeled = st.text_input("Folder of unlabeled images", value="unlabeled", key="data_unlabeled",
                                  max_chars=100)
    uploaded = st.file_uploader(
        "Upload a data set: a zip of class folders (<class>/<image>, unlabeled/ for unknown labels), "
        "an npz (X, y, optional images, class_names, X_test, y_test), or a csv or parquet table (a label column and "
        "feature columns)",
        type=UPLOAD_TYPES, key="data_upload", max_upload_size=max(1, limit // 2**20))
    if uploaded is None:
        return
    done = st.session_state.setdefault("data_imported", {})
    token = (uploaded.file_id, int(side), color, unlabeled)
    if token not in done:
        try:
            options = ImportOptions(side=int(side), color=color, unlabeled_dir=unlabeled.strip() or "unlabeled")
        except DataError as exc:
            show_error(exc)
            return
        waiting = st.empty()

        def on_wait() -> None:
            waiting.info("Waiting for another import on this server to finish: imports run one at a time.")

        before = {e.id for e in datastore.list_sets()}
        with st.spinner(f"Reading {uploaded.name}..."):
            entry, error = import_upload(uploaded.name, uploaded.getvalue(), options=options, on_wait=on_wait)
        waiting.empty()
        done[token] = (entry.id if entry else None, error, entry is not None and entry.id in before)
        if entry is not None:
            st.session_state["dataset"] = entry.id  # before the selector below is drawn
    entry_id, error, known = done[token]
    if error:
        show_error(error)
    elif entry_id:
        stored = datastore.find(entry_id)
        if known:  # the store is content-addressed: the same data is one entry
            st.info(escape_markdown(f"Already stored: {uploaded.name} holds the same data as "
                                    f"{escape_controls(stored.name)} (id {entry_id}); that entry is used, "
                                    f"nothing new was written."))
        else:
            st.success(escape_markdown(f"Stored as {escape_controls(stored.name)} (id {entry_id})"))


#: The page's URL-bound widgets.
DATA_PARAMS = {"dataset": CHOICE}


def data_page() -> None:
    sanitize_query_params(DATA_PARAMS)
    st.title("Your data")
    st.caption("Would active learning save labels on your images, and with which strategy? Upload a data set; "
               "it is stored on this server under its content id, which every page's data-set control lists.")
    _upload_step()
    names = list(source_names())
    stored = {e.id: e for e in datastore.list_sets()}
    check_choice("dataset", names)
    default = next(reversed(stored), None) if stored else names[0]
    kwargs = {} if "dataset" in st.session_state else {"index": names.index(default)}
    # Options are shown as the ids themselves: a bound widget puts the displayed text in the URL.
    dataset = st.selectbox("Data set", names, key="dataset", bind="query-params",
                           help="Stored sets are listed by content id; the summary below gives the name.", **kwargs)
    if dataset in stored:  # the picker shows ids (they go into the URL): the name beside it
        st.caption(escape_markdown(f"{escape_controls(stored[dataset].name)} · id {dataset}"))
    show_url_notices()
    if dataset is None:
        return
    render_summary(dataset, stored.get(dataset))


def render_summary(name: str, entry: datastore.StoredSet | None) -> None:
    """Counts per class, image size, notes, a grid of sample images per class, a link to run it."""
    info = source_info(name)
    if not info.available():
        show_warning(f"Data set {name} is not available here. {info.missing_hint}")
        return
    try:
        dataset = load_source(name)
    except DataError as exc:
        show_error(exc)
        return
    st.subheader(escape_markdown(entry.name if entry is not None else name))
    st.caption(escape_markdown(info.description))
    labels = dataset.labels
    cols = st.columns(4)
    cols[0].metric("Points", f"{len(labels):,}")
    cols[1].metric("Classes", dataset.n_classes)
    cols[2].metric("Unlabeled", f"{int(np.count_nonzero(labels < 0)):,}")
    shape = "x".join(map(str, dataset.images.shape[1:])) if dataset.images is not None else "no images"
    cols[3].metric("Image size", shape)
    if entry is not None:
        m = entry.manifest
        st.caption(escape_markdown(f"Id {entry.id} (content key {entry.content_key}), imported "
                                   f"{m.get('created', '')} from {m.get('source_file', '')}; features: "
                                   f"{', '.join(m.get('features', []))}."))
        for note in m.get("notes", []):
            show_warning(note)
        sizes = m.get("original_sizes") or {}
        if sizes:
            st.caption("Original image sizes: " + ", ".join(f"{s} ({n:,})" for s, n in list(sizes.items())[:8]))
    counts = np.bincount(labels[labels >= 0], minlength=dataset.n_classes)
    st.dataframe(pd.DataFrame({"class": [escape_controls(name) for name in dataset.class_names], "images": counts}),
                 hide_index=True, key="data_counts")
    if dataset.images is not None:
        _sample_grid(dataset)
    best = _reach_section(name, entry)
    params = run_params(name, entry, features=None if best is None else best.features)
    live = urlencode(params)
    compare = urlencode({f"cmp_{key}": value for key, value in params.items()})
    st.markdown(f"[Run the live loop on this data set](./?{live}) · [Compare strategies on it](./Compare?{compare})"
                f" · command line: `{compare_command(name, entry, None if best is None else best.features)}`")


def compare_command(name: str, entry: datastore.StoredSet | None, features: str | None = None) -> str:
    """The command line comparing strategies on the data set: a stored set's suited config (``--data``
    picks it) with ``features``; a built-in set with the model whose ceiling the page measures
    (:func:`suggested_config`) and random initial labels (a comparison over seeds needs them)."""
    if entry is not None:
        changes = [] if features in (None, default_config(entry.id).features) else [f"features={features}"]
        start = f"--data {quote(entry.id, safe='')}"
    else:
        config = suggested_config(name, None, features or source_info(name).features[0])
        changes = [f"dataset={name}", "initial=random", f"features={config.features}", f"model={config.model}",
                   f"kernel={config.kernel}", f"n_neighbors={config.n_neighbors}", f"evaluation={config.evaluation}"]
        start = ""
    sets = " ".join(f"--set {change}" for change in changes)
    return " ".join(part for part in ("python -m alsim compare", start, sets,
                                       "--strategies entropy,margin,random --seeds 6") if part)


#: Config fields a link to the loop carries (the sidebar's URL parameters of the same names).
LINK_FIELDS = ("dataset", "features", "model", "kernel", "n_neighbors", "initial", "n_initial", "batch_size",
               "n_rounds", "evaluation")


def run_params(name: str, entry: datastore.StoredSet | None, features: str | None = None) -> dict[str, str]:
    """URL parameters that open the loop on a data set: a stored set's suited config
    (:func:`alsim.loop.presets.default_config`), or just the name of a built-in one;
    ``features`` (the measured best kind) replaces the suggested feature kind."""
    if entry is None:
        return {"dataset": name} if features is None else {"dataset": name, "features": features}
    values = default_config(entry.id).to_dict()
    if features is not None:
        values["features"] = features
    return {field: str(values[field]) for field in LINK_FIELDS}


def suggested_config(name: str, entry: datastore.StoredSet | None, features: str) -> Config:
    """The run the page's links open, with ``features``: a stored set's
    :func:`alsim.loop.presets.default_config`; for a built-in set the same model (label
    spreading on a 10-nearest-neighbour graph), scored on its test split if it has one."""
    if entry is not None:
        return default_config(entry.id).replace(features=features)
    return Config(dataset=name, features=features, model="label_spreading", kernel="knn", n_neighbors=10,
                  evaluation="test" if source_info(name).has_test else "pool")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _reach_section(name: str, entry: datastore.StoredSet | None) -> FeatureProbe | None:
    """Measure each feature kind (on a click; kept per server), suggest the best, and show its ceiling.

    Returns the best measured kind, or None before the measurement.
    """
    st.subheader("What the features can reach")
    kinds = probe_kinds(name)
    measured = st.session_state.setdefault("data_probed", set())
    clicked = st.button(f"Measure each feature kind ({', '.join(kinds)})", key="data_probe",
                        help=f"A linear probe (logistic regression after standardising) cross-validated with "
                             f"{PROBE_FOLDS} folds on up to 1,000 labeled images, per feature kind; then the "
                             f"suggested run's model with every label.")
    if not clicked and name not in measured:
        st.caption("The links below suggest a feature kind without measuring it; measure to compare them.")
        return None
    try:
        with st.spinner("Measuring each feature kind"):
            probes = probe_features(name)
        measured.add(name)
        best = best_probe(probes)
        st.dataframe(pd.DataFrame([p.row() for p in probes]), hide_index=True, key="data_probe_table")
        if near_chance(best.accuracy, best.chance, best.n):
            show_warning(f"No feature kind separates the classes much better than chance: the best, {best.features}, "
                         f"reaches {_pct(best.accuracy)} with a linear probe, and always answering the largest class "
                         f"{_pct(best.chance)}. Active learning cannot show much on these features.")
        st.markdown(f"Suggested: **{best.features}**, the best of the probe ({_pct(best.accuracy)}, chance "
                    f"{_pct(best.chance)} on the {best.n:,} labeled images it measured); the links below use it.")
        with st.spinner("The suggested run's model with every label"):
            reach = ceiling(suggested_config(name, entry, best.features))
    except AlsimError as exc:
        show_error(exc)
        return None
    st.markdown(f"**{reach.sentence()}**", help=reach.help_text())
    if reach.warning:
        show_warning(reach.warning)
    return best


def _sample_grid(dataset) -> None:
    """The first few images of every class (and of the unlabeled ones)."""
    st.subheader("Samples")
    groups = [(cls, np.flatnonzero(dataset.labels == i)) for i, cls in enumerate(dataset.class_names)]
    unlabeled = np.flatnonzero(dataset.labels < 0)
    if len(unlabeled):
        groups.append(("(unlabeled)", unlabeled))
    for cls, members in groups:
        shown = members[:SAMPLES_PER_CLASS]
        if not len(shown):
            continue
        st.caption(escape_markdown(f"{escape_controls(cls)}: {len(members):,}"))
        st.image([enlarged(dataset.display_image(i)) for i in shown], width=64)


def enlarged(image: np.ndarray, size: int = 64) -> np.ndarray:
    """A sample tile: :func:`alsim.dashboard.render.to_display` at this page's size."""
    return to_display(image, size)
