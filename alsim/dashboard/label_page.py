"""The Label page: a person labels the batches the model proposes.

Projects (a data set, a config and a name) live in the label store
(:mod:`alsim.labeling.store`, one SQLite file under ``$ALSIM_HOME``), shared with
``python -m alsim label``: every click is stored at once, so closing the browser or
restarting the server loses nothing, and a reopened project shows the same batch.

Keyboard: Streamlit 1.67's ``st.button(..., shortcut=...)`` binds a key to a button, so
the page needs no script of its own. Number keys label the focused image (a class's key:
see :func:`class_keys`), arrows move the focus, ``S`` skips ("not sure"), ``Enter``
accepts the model's guess, ``Backspace`` undoes this session's last label. Buttons pass
class indices to the store, never names.
"""

from __future__ import annotations

import json
import uuid

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from alsim.common.errors import AlsimError
from alsim.common.text import escape_controls
from alsim.dashboard.charts import chart
from alsim.dashboard.messages import escape_markdown, show_error
from alsim.dashboard.url import CHOICE, check_choice, sanitize_query_params, show_url_notices
from alsim.data.sources import source_labels
from alsim.labeling import checks, label_studio
from alsim.labeling import projects as labeling
from alsim.labeling.store import LabelStore
from alsim.loop.pool import prepare
from alsim.report.plots import top_down
from alsim.strategies import strategy_names

URL = "query-params"
LABEL_PARAMS = {"label_project": CHOICE}
COLUMNS = 4
CHECK_SHOWN = 8  # cards in "Check these"; relabeling or keeping one brings the next
IMAGE_SIDE = 144
_FOCUS = "label_focus"
_MESSAGE = "label_message"
_CONFIRM = "label_confirm_delete"
_SESSION = "label_session"
KEYS = ("Keys: the number on a class button labels the focused image, **← →** (**↑ ↓**: a row) move, **S** skip, "
        "**Enter** accept the model's guess, **Backspace** undo.")


def class_keys(names: tuple[str, ...]) -> list[str | None]:
    """The number key of each class button, by class index.

    When every class is named by one digit (folders ``1/ 2/ 3/``), a class's key is its name:
    the key a person reads on the button. Otherwise the first ten classes get the keys 0-9 by
    index, and the button shows its key before the name (``0: cat``).
    """
    if names and all(len(name) == 1 and name in "0123456789" for name in names):
        return list(names)
    return [str(index) if index < 10 else None for index in range(len(names))]


def class_button_label(name: str, key: str | None) -> str:
    """A class button's text: the name, preceded by its key when the key is not the name itself."""
    return name if key is None or key == name else f"{key}: {name}"


def enlarge(image: np.ndarray, side: int = IMAGE_SIDE) -> np.ndarray:
    """An image as uint8, each pixel repeated to about ``side`` pixels a side (nearest neighbour: no blur)."""
    image = labeling.to_uint8(image)
    scale = max(1, side // max(image.shape[:2]))
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def agreement_figure(curve: list[labeling.BatchAgreement]) -> go.Figure:
    """The model's agreement with the person per batch, against the labels it was fitted on."""
    points = [p for p in curve if p.agreement is not None]
    fig = go.Figure(go.Scatter(x=[p.n_labels for p in points], y=[p.agreement for p in points],
                               mode="lines+markers", name="model agrees with you",
                               customdata=[[p.number, p.n_compared] for p in points],
                               hovertemplate="batch %{customdata[0]}: %{y:.0%} of %{customdata[1]} "
                                             "(model fitted on %{x} labels)<extra></extra>"))
    # A short title that fits half the page; the hover says the rest.
    fig.update_layout(title="Model's guess vs your label, per batch",
                      xaxis_title="labels the model was fitted on", yaxis_title="agreement",
                      yaxis_range=[0, 1.05], yaxis_tickformat=".0%", height=320, margin=dict(t=50, b=40, l=40, r=10))
    fig.update_xaxes(tickformat="d", dtick=_nice_step([p.n_labels for p in points]))
    return fig


def _nice_step(values: list[int]) -> int:
    """A whole-number tick step giving at most about six ticks over ``values`` (never 7.5)."""
    span = max(values) - min(values) if values else 0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if span / step <= 6:
            return step
    return int(span // 6) or 1


def confusion_figure(matrix: np.ndarray, names: tuple[str, ...]) -> go.Figure:
    shown = [escape_controls(name) for name in names]
    fig = go.Figure(go.Heatmap(z=matrix, x=shown, y=shown, colorscale="Blues", showscale=False,
                               text=matrix, texttemplate="%{text}",
                               hovertemplate="truth %{y}, you %{x}: %{z}<extra></extra>"))
    fig.update_layout(title="You against the hidden truth", xaxis_title="your label", yaxis_title="truth",
                      xaxis_type="category", yaxis=top_down(len(shown)), height=360, margin=dict(t=50, b=40, l=40, r=10))
    return fig


# ---------------------------------------------------------------------------------------- callbacks
def _say(kind: str, text: str) -> None:
    st.session_state[_MESSAGE] = (kind, text)


def _annotator() -> str:
    return (st.session_state.get("label_annotator") or "annotator").strip()[:64] or "annotator"


def _session() -> str:
    """This browser session's token, stored with each label it makes: every session goes by the
    name typed in "Your name" ("annotator" unless changed), so Backspace undoes by session."""
    return st.session_state.setdefault(_SESSION, uuid.uuid4().hex)


def _create() -> None:
    name = (st.session_state.get("label_new_name") or "").strip()
    settings = [f"strategy={st.session_state.get('label_new_strategy', 'entropy')}",
                f"batch_size={int(st.session_state.get('label_new_batch', labeling.DEFAULT_BATCH))}",
                f"seed={int(st.session_state.get('label_new_seed', 0))}",
                f"prefill={float(st.session_state.get('label_new_prefill', labeling.DEFAULT_PREFILL))}"]
    try:
        # creating checks the settings on the pool: its features (and an rbf kernel's graph) are computed now
        with st.spinner("Preparing the pool for the project (features, and the graph of an rbf kernel)"):
            project = labeling.create_project(name, st.session_state.get("label_new_dataset", "digits"), settings)
    except AlsimError as exc:
        _say("error", str(exc).splitlines()[0])
        return
    st.session_state["label_project"] = project.name
    _say("success", f"Created project {project.name}.")


def _delete(name: str) -> None:
    try:
        labeling.delete_project(name)
    except AlsimError as exc:
        _say("error", str(exc).splitlines()[0])
        return
    st.session_state.pop(_CONFIRM, None)
    st.session_state.pop("label_project", None)
    _say("success", f"Deleted project {name}.")


def _focus_item(name: str, items: tuple[int, ...], labels: dict) -> int:
    """The focused item of this batch: the remembered one if it is in the batch, else the first unanswered."""
    focus = st.session_state.get(_FOCUS)
    if focus and focus[0] == name and focus[1] in items:
        return focus[1]
    return next((i for i in items if i not in labels), items[0])


def _move(name: str, items: tuple[int, ...], step: int) -> None:
    project = labeling.open_project(name)
    current = _focus_item(name, items, project.store.labels(project.id))
    position = (items.index(current) + step) % len(items)
    st.session_state[_FOCUS] = (name, items[position])


def _pick(name: str, items: tuple[int, ...], label: int, source: str = "typed", item: int | None = None) -> None:
    """Store ``label`` for ``item`` (default: the focused one), then focus the next unanswered item."""
    try:
        project = labeling.open_project(name)
        labels = project.store.labels(project.id)
        target = _focus_item(name, items, labels) if item is None else item
        labeling.add_label(project, target, label, source=source, annotator=_annotator(), session=_session())
    except AlsimError as exc:
        _say("error", str(exc).splitlines()[0])
        return
    labels = project.store.labels(project.id)
    start = items.index(target)
    following = [items[(start + k) % len(items)] for k in range(1, len(items) + 1)]
    st.session_state[_FOCUS] = (name, next((i for i in following if i not in labels), target))


def _accept(name: str, items: tuple[int, ...], guesses: tuple[int, ...], item: int | None = None) -> None:
    project_labels = labeling.open_project(name)
    target = item if item is not None else _focus_item(name, items, project_labels.store.labels(project_labels.id))
    guess = guesses[items.index(target)]
    if guess < 0:
        _say("warning", "The model has no guess for this image yet.")
        return
    batch = labeling.current_batch(project_labels)
    confidence = None if batch is None or target not in batch.items else batch.confidence[batch.items.index(target)]
    if confidence is not None and confidence < project_labels.prefill:
        _say("info", f"The model's guess for #{target} has {confidence:.0%} confidence, under this project's "
                     f"{project_labels.prefill:.0%}: label it yourself.")
        return
    _pick(name, items, guess, source="accepted", item=target)


def _undo(name: str) -> None:
    try:
        project = labeling.open_project(name)
        change = labeling.undo(project, _annotator(), session=_session())
    except AlsimError as exc:
        _say("error", str(exc).splitlines()[0])
        return
    if change is None:
        _say("info", "Nothing to undo.")
        return
    st.session_state[_FOCUS] = (name, change.item)


def _relabel(name: str, item: int, given: int) -> None:
    """Store the class chosen in a "Check these" card for ``item``: the label store's usual path
    (history kept, this session's undo takes it back)."""
    label = int(st.session_state.get(f"label_fix_class_{item}", given))
    if label == given:
        _say("info", f"#{item} keeps its label: choose another class to relabel it.")
        return
    try:
        project = labeling.open_project(name)
        labeling.add_label(project, item, label, source="typed", annotator=_annotator(), session=_session())
    except AlsimError as exc:
        _say("error", str(exc).splitlines()[0])
        return
    names = project.class_names
    _say("success", f"Relabeled #{item}: {names[given]} -> {names[label]} (Undo takes it back).")


def _import(name: str) -> None:
    uploaded = st.session_state.get("label_import_file")
    if uploaded is None:
        _say("warning", "Choose a CSV file first.")
        return
    try:
        count = labeling.import_csv(labeling.open_project(name), uploaded.getvalue(), _annotator(), _session())
    except AlsimError as exc:
        _say("error", str(exc).splitlines()[0])
        return
    _say("success", f"Imported {count} labels.")


def _import_label_studio(name: str) -> None:
    uploaded = st.session_state.get("label_import_ls_file")
    if uploaded is None:
        _say("warning", "Choose a Label Studio JSON export first.")
        return
    try:
        project = labeling.open_project(name)
        summary = label_studio.import_export(project, uploaded.getvalue(), _session())
    except AlsimError as exc:
        _say("error", str(exc).splitlines()[0])
        return
    _say("warning" if summary.unknown else "success", summary.line(name))


def label_studio_tasks(name: str) -> str:
    """The project's proposed batch as Label Studio tasks (JSON), images embedded as data URIs."""
    return json.dumps(label_studio.export_tasks(labeling.open_project(name), embed_images=True), indent=1)


# ---------------------------------------------------------------------------------------- sections
def _new_project_form(open_by_default: bool) -> None:
    with st.expander("New project", expanded=open_by_default):
        c1, c2, c3 = st.columns(3)
        c1.text_input("Name", key="label_new_name", max_chars=64, placeholder="e.g. digits by hand")
        labels = source_labels()
        c2.selectbox("Data set", list(labels), key="label_new_dataset", format_func=labels.get)
        c3.selectbox("Query strategy", [s for s in strategy_names() if s != "none"], key="label_new_strategy")
        c1.number_input("Batch size", min_value=1, max_value=64, value=labeling.DEFAULT_BATCH, step=1,
                        key="label_new_batch")
        c2.slider("Offer the model's guess above confidence", 0.5, 1.0, labeling.DEFAULT_PREFILL, 0.01,
                  key="label_new_prefill")
        c3.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="label_new_seed")
        st.button("Create project", key="label_create", on_click=_create, type="primary")


def _delete_controls(name: str, n_labels: int) -> None:
    if st.session_state.get(_CONFIRM) != name:
        st.button("Delete project…", key="label_delete", on_click=lambda: st.session_state.update({_CONFIRM: name}))
        return
    st.warning(escape_markdown(f"Delete project {name} and its {n_labels} labels? This cannot be undone."))
    c1, c2, _ = st.columns([1, 1, 4])
    c1.button("Yes, delete", key="label_delete_yes", on_click=_delete, args=(name,), type="primary")
    c2.button("Cancel", key="label_delete_no", on_click=lambda: st.session_state.pop(_CONFIRM, None))


def _toolbar(project: labeling.LabelingProject, batch, focus: int) -> None:
    names, items = project.class_names, batch.items
    st.markdown(f"**Label image #{focus}** — {KEYS}")
    per_row = 10
    keys = class_keys(names)
    for start in range(0, len(names), per_row):
        # As many columns as classes (up to 10): a few classes get wide buttons, their names whole.
        columns = st.columns(min(per_row, len(names)) if len(names) <= per_row else per_row)
        for cls in range(start, min(start + per_row, len(names))):
            # The class index goes to the store, never the name: a class named "2" is not index 2.
            columns[cls - start].button(escape_markdown(class_button_label(escape_controls(names[cls]), keys[cls])),
                                        key=f"label_class_{cls}", on_click=_pick,
                                        args=(project.name, items, cls), width="stretch", shortcut=keys[cls],
                                        help=f"class #{cls}" + (f" (key {keys[cls]})" if keys[cls] else ""))
    # Widths that fit each button's words at 1400 px (seven equal columns cut them to "Skip / not s...").
    c = st.columns([3, 3, 3, 2, 2, 2, 2])
    c[0].button("Skip (not sure)", key="label_skip", on_click=_pick, args=(project.name, items, -1), shortcut="s",
                width="stretch")
    c[1].button("Accept guess", key="label_accept", on_click=_accept, args=(project.name, items, batch.guesses),
                shortcut="enter", width="stretch",
                help=f"store the model's guess for the focused image, if its confidence is at least "
                     f"{project.prefill:.0%}")
    c[2].button("Undo", key="label_undo", on_click=_undo, args=(project.name,), shortcut="backspace",
                width="stretch")
    # Words: Streamlit shows each shortcut's own arrow beside the label, so an arrow label doubled it.
    moves = [("Left", "left", -1), ("Right", "right", 1), ("Up", "up", -COLUMNS), ("Down", "down", COLUMNS)]
    for column, (text, key, step) in zip(c[3:], moves):
        column.button(text, key=f"label_move_{key}", on_click=_move, args=(project.name, items, step),
                      shortcut=key, help=f"move the focus ({key} arrow)", width="stretch")


def _grid(project: labeling.LabelingProject, batch, labels: dict, focus: int, images) -> None:
    names = [escape_controls(name) for name in project.class_names]
    for row_start in range(0, len(batch.items), COLUMNS):
        columns = st.columns(COLUMNS)
        for position in range(row_start, min(row_start + COLUMNS, len(batch.items))):
            item, guess, confidence = batch.items[position], batch.guesses[position], batch.confidence[position]
            with columns[position - row_start].container(border=True, key=f"label_cell_{position}"):
                marker = "▶ " if item == focus else ""
                st.markdown(f"**{marker}#{item}**" + (" · focused" if marker else ""))
                if images is not None:
                    st.image(enlarge(images(item)), width=IMAGE_SIDE)
                else:
                    st.caption("no image (embeddings only)")
                guess_text = (f"model: {names[guess]} ({confidence:.0%})" if guess >= 0 else "model: no guess yet")
                st.caption(escape_markdown(guess_text))
                row = labels.get(item)
                answer = "—" if row is None else ("skipped" if row.label < 0 else names[row.label])
                st.markdown(escape_markdown(f"your label: {answer}"))
                b1, b2 = st.columns(2)
                b1.button("Focus", key=f"label_focus_{position}",
                          on_click=lambda i=item: st.session_state.update({_FOCUS: (project.name, i)}))
                if guess >= 0 and confidence >= project.prefill and row is None:
                    b2.button(escape_markdown(f"Accept {names[guess]}"), key=f"label_take_{position}",
                              on_click=_accept, args=(project.name, batch.items, batch.guesses, item))


def _check_section(project: labeling.LabelingProject, labels: dict, images) -> None:
    """ "Check these": the stored labels a cross-validated model most disagrees with, each with its
    image, the label given, the model's suggestion and a relabel button (computed on request)."""
    st.subheader("Check these")
    if not st.toggle("Check my labels: list the ones a model trained on the others disagrees with",
                     key="label_check",
                     help="Confident learning (cleanlab): every label is judged by a model cross-validated over "
                          "the other labels; the flagged ones, least probable first."):
        return
    try:
        with st.spinner("Cross-validating over your labels..."):
            result = checks.doubtful_labels(project, labels)
    except AlsimError as exc:
        show_error(exc)
        return
    if result.n_checked:
        st.caption(escape_markdown(
            f"{len(result.doubts)} of {result.n_checked} checked labels flagged ({result.n_folds}-fold "
            f"cross-validation over your {result.n_labels} labels)" + (f"; {result.note}." if result.note else ".")))
    else:
        st.info(escape_markdown(result.note[:1].upper() + result.note[1:] + "."))
    if result.n_checked and not result.doubts:
        st.success("No label looks wrong to the model.")
    names = [escape_controls(name) for name in project.class_names]
    shown = result.doubts[:CHECK_SHOWN]
    if len(result.doubts) > len(shown):
        st.caption(f"The {len(shown)} most doubtful of {len(result.doubts)} are shown; relabeling one brings the next.")
    for row_start in range(0, len(shown), COLUMNS):
        columns = st.columns(COLUMNS)
        for position in range(row_start, min(row_start + COLUMNS, len(shown))):
            doubt = shown[position]
            with columns[position - row_start].container(border=True, key=f"label_check_cell_{position}"):
                st.markdown(f"**#{doubt.item}** · " + escape_markdown(f"your label: {names[doubt.given]}"))
                if images is not None:
                    st.image(enlarge(images(doubt.item)), width=IMAGE_SIDE)
                st.caption(escape_markdown(f"model suggests: {names[doubt.suggestion]} (your label's probability "
                                           f"{doubt.score:.0%})"))
                st.selectbox("Class", list(range(len(names))), index=max(doubt.suggestion, 0),
                             format_func=lambda i: names[i], key=f"label_fix_class_{doubt.item}",
                             label_visibility="collapsed")
                st.button("Relabel", key=f"label_fix_{doubt.item}", on_click=_relabel,
                          args=(project.name, doubt.item, doubt.given), width="stretch",
                          help="store the class chosen above for this image (kept in the history; Undo takes it back)")


def _progress(project: labeling.LabelingProject) -> None:
    counts = labeling.class_counts(project)
    table = pd.DataFrame([{"class": escape_controls(name), **per, "total": sum(per.values())}
                          for name, per in counts["classes"].items()])
    st.subheader("Progress")
    st.markdown(escape_markdown(f"{counts['total']} labels ({sum(table['typed'])} typed, "
                                f"{sum(table['accepted'])} accepted suggestions, {sum(table['imported'])} imported, "
                                f"{sum(table['label-studio'])} from Label Studio), {counts['skipped']} skipped."))
    left, right = st.columns(2)
    curve = labeling.agreement_curve(project)
    with left:
        if any(p.agreement is not None for p in curve):
            chart(agreement_figure(curve), key="label_curve", width="stretch")
        else:
            st.caption("The agreement curve starts after the first batch the model guessed.")
        st.dataframe(table, hide_index=True, key="label_counts")
    truth = labeling.truth_agreement(project)
    with right:
        if truth is not None:
            agreement, matrix, n = truth
            st.metric("You agree with the hidden truth", f"{agreement:.1%}", help=f"over {n} labeled images")
            chart(confusion_figure(matrix, project.class_names), key="label_confusion", width="stretch")


def _exports(project: labeling.LabelingProject | labeling.ProjectLabels) -> None:
    """Downloads and the CSV import; only the label downloads for a project whose data set is gone."""
    name = project.name
    labels_only = isinstance(project, labeling.ProjectLabels)
    with st.expander("Export and import", expanded=labels_only):
        c1, c2, c3 = st.columns(3)
        # The label files need no data set (open_labels), so they stay downloadable without one.
        c1.download_button("Labels as CSV", lambda: labeling.export_csv(labeling.open_labels(name)),
                           file_name=f"{name}.csv", mime="text/csv", key="label_export_csv", on_click="ignore")
        c2.download_button("Labels as JSON", lambda: labeling.export_json(labeling.open_labels(name)),
                           file_name=f"{name}.json", mime="application/json", key="label_export_json",
                           on_click="ignore")
        if labels_only:
            return
        if project.dataset.images is not None:
            c3.download_button("Labeled images (ImageFolder zip)",
                               lambda: labeling.export_zip(labeling.open_project(name)),
                               file_name=f"{name}.zip", mime="application/zip", key="label_export_zip",
                               on_click="ignore")
        st.file_uploader("Import labels: the export's CSV, or one with item (or id) and label (or class) columns; "
                         "a label is a class name, #N for the class at index N, or skip", type=["csv"],
                         key="label_import_file")
        st.button("Import", key="label_import", on_click=_import, args=(name,))
        st.markdown("**Label Studio**: import the config and the tasks into a Label Studio project (the model's "
                    "guess comes as a pre-annotation), label there, export the project as JSON and upload it here.")
        l1, l2 = st.columns(2)
        l1.download_button("Labeling config (XML)", label_studio.label_config(project.class_names),
                           file_name=f"{name}-label-studio.xml", mime="application/xml", key="label_export_ls_config",
                           on_click="ignore")
        if project.dataset.images is not None:
            l2.download_button("This batch as Label Studio tasks (tasks.json)", lambda: label_studio_tasks(name),
                               file_name=f"{name}-tasks.json", mime="application/json", key="label_export_ls_tasks",
                               on_click="ignore", help="images embedded in the tasks; for more than one batch use "
                                                       "python -m alsim label NAME --export label-studio --all")
        st.file_uploader("Import a Label Studio JSON export of these tasks", type=["json"],
                         key="label_import_ls_file")
        st.button("Import from Label Studio", key="label_import_ls", on_click=_import_label_studio, args=(name,))


def _show_message() -> None:
    kind, text = st.session_state.pop(_MESSAGE, (None, None))
    if kind:
        getattr(st, kind)(escape_markdown(text))


def _images(project: labeling.LabelingProject):
    """Pool item -> the image a person sees (colour, aspect ratio kept, when the set keeps display
    images; else the feature-size one), or None for a set without images."""
    if project.dataset.images is None:
        return None
    if project.config.pool_size:
        return prepare(project.config).display_image
    return project.dataset.display_image


# ---------------------------------------------------------------------------------------- the page
def label_page() -> None:
    sanitize_query_params(LABEL_PARAMS)
    st.title("Label images yourself")
    st.caption("The model proposes a batch, you label it, the model refits and proposes the next. Labels are "
               "stored as you click, in a database on this server shared with `python -m alsim label`.")
    try:
        store = LabelStore()
        names = [p.name for p in store.projects()]
    except AlsimError as exc:
        show_url_notices()
        show_error(exc)
        return
    check_choice("label_project", names)
    show_url_notices()
    _show_message()
    _new_project_form(open_by_default=not names)
    if not names:
        st.info("No labeling project yet: create one above.")
        return
    c1, c2 = st.columns([3, 1])
    name = c1.selectbox("Project", names, key="label_project", bind=URL)
    c2.text_input("Your name", value="annotator", key="label_annotator", max_chars=64)
    try:
        project = labeling.open_project(name, store)
        labels = store.labels(project.id)
        with st.spinner("Refitting and proposing the next batch..."):
            batch = labeling.current_batch(project)
    except AlsimError as exc:
        show_error(exc)
        try:  # the labels stay exportable without the data set (removed from the store, say)
            _exports(labeling.open_labels(name, store))
        except AlsimError:
            pass
        _delete_controls(name, 0)
        return
    config = project.config
    st.caption(escape_markdown(f"{config.dataset}: {config.model}, strategy {config.strategy}, batches of "
                               f"{config.batch_size}, seed {config.seed}. Every image shows the model's guess; "
                               f"a guess can be accepted when its confidence is at least {project.prefill:.0%}."))
    if batch is None:
        st.success("Every image of this data set is answered.")
    else:
        n_done = sum(1 for item in batch.items if item in labels)
        st.subheader(f"Batch {batch.number + 1}: {n_done} of {len(batch.items)} done")
        done = [p for p in labeling.agreement_curve(project) if p.number == batch.number - 1]
        if n_done == 0 and done and done[0].agreement is not None:
            st.caption(f"Batch {batch.number} done; the model, fitted on {done[0].n_labels} labels, had guessed "
                       f"{round(done[0].agreement * done[0].n_compared)} of its {done[0].n_compared} labels. "
                       f"Refitted on {batch.n_labels} labels for this batch.")
        focus = _focus_item(name, batch.items, labels)
        _toolbar(project, batch, focus)
        _grid(project, batch, labels, focus, _images(project))
    _check_section(project, store.labels(project.id), _images(project))
    _progress(project)
    _exports(project)
    _delete_controls(name, sum(1 for row in labels.values() if row.label >= 0))
