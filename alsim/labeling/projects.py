"""A person labels: the model proposes a batch, the person labels it, the model refits.

A labeling project is a data set, a :class:`~alsim.loop.config.Config` (model, strategy, batch
size, seed) and a name, plus ``prefill``: the confidence above which the page offers the
model's guess for the person to accept (accepted suggestions are counted apart from labels
typed from scratch). Projects, labels and proposed batches live in the label store
(:mod:`alsim.labeling.store`), shared by the command line and the dashboard.

The next batch is a deterministic function of the config and the stored labels
(:func:`next_batch`): the loop's own fit on the stored labels, then the config's strategy
with a generator seeded from ``(seed, number of labels)``. With fewer than two classes
labeled there is no model yet, and the batch is the config's ``initial`` choice over the
unanswered points (``stratified`` needs the truth, so a person starts with ``random``).
The batch shown is stored (:func:`current_batch`) and kept until every item in it is
answered, so a reopened project shows the same batch.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from alsim.common.errors import ConfigError, DataError
from alsim.common.text import escape_controls
from alsim.data import store as datastore
from alsim.data.importers import class_folder_name
from alsim.data.sources import load_source, source_info
from alsim.data.store import StoredSet, find
from alsim.labeling.store import (
    SKIP,
    SOURCES,
    LabelRow,
    LabelStore,
    LabelStoreError,
    Project,
    StoredBatch,
    check_new_project_name,
    now,
)
from alsim.labeling.store import (
    default_path as default_label_path,
)
from alsim.loop.config import Config
from alsim.loop.oracles import StoreOracle
from alsim.loop.presets import default_config
from alsim.strategies.diversity import kcenter_start, typical_start

__all__ = [
    "DEFAULT_BATCH", "LabelingProject", "ProjectLabels", "Proposal", "Ranking", "add_label", "agreement_curve",
    "class_counts", "create_project", "current_batch", "delete_project", "export_csv", "export_json", "export_npz",
    "export_rows", "export_zip", "image_file_name", "import_csv", "list_projects", "next_batch", "open_labels",
    "open_project", "parse_item", "parse_label", "png_bytes", "pool_images", "rank_unlabeled", "remove_dataset",
    "truth_agreement", "undo",
]

DEFAULT_BATCH = 8
DEFAULT_PREFILL = 0.8
MAX_IMPORT_BYTES = 64 << 20


@dataclass(frozen=True, eq=False)
class LabelingProject:
    """An open project: its stored row, its config and the store it lives in."""

    id: int
    name: str
    config: Config
    prefill: float
    created: str
    store: LabelStore = field(repr=False)

    #: What the project keeps of its data set (class names, pool size), so that storing a label
    #: needs no load of the data set; empty for a project from before they were kept.
    kept: dict = field(default_factory=dict, repr=False)

    @property
    def dataset(self):
        """The project's data set (loaded once per process)."""
        return load_source(self.config.dataset)

    @property
    def class_names(self) -> tuple[str, ...]:
        names = self.kept.get("class_names")
        if not isinstance(names, list):
            names = self._keep_dataset_facts()["class_names"]
        return tuple(str(name) for name in names)

    @property
    def n_pool(self) -> int:
        n = self.kept.get("n_items")
        if self.config.pool_size:
            return self.config.pool_size
        return n if isinstance(n, int) else self._keep_dataset_facts()["n_items"]

    def _keep_dataset_facts(self) -> dict:
        """Load the data set once and keep its class names and size with the project (a project
        from before they were kept), so later calls, in any process, need no load."""
        dataset = self.dataset
        facts = {"class_names": [str(name) for name in dataset.class_names], "n_items": len(dataset.labels)}
        self.store.keep_settings(self.id, facts)
        for name, value in facts.items():
            self.kept.setdefault(name, value)
        return facts


@dataclass(frozen=True, eq=False)
class ProjectLabels:
    """A project's labels with what an export needs, readable without its data set (one removed
    from the store, say): see :func:`open_labels`.

    Attributes
    ----------
    id, name : the stored project's
    dataset_id : str, the data set's name or stored id
    config : dict, the stored config
    class_names : tuple of str, the data set's (kept with the project); empty if never known
    store : LabelStore
    kept_file_names : dict of int to str, labeled items' source file names kept with the project when
        its data set was removed (:func:`remove_dataset`)
    """

    id: int
    name: str
    dataset_id: str
    config: dict
    class_names: tuple[str, ...]
    store: LabelStore = field(repr=False)
    kept_file_names: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Proposal:
    """A batch to label.

    Attributes
    ----------
    ids : ndarray (k,), pool ids
    guesses : ndarray (k,), the model's class per id (-1: no model yet)
    confidence : ndarray (k,), the model's probability of its guess (0 with no model)
    n_labels : int, labels the model was fitted on
    """

    ids: np.ndarray
    guesses: np.ndarray
    confidence: np.ndarray
    n_labels: int


def default_annotator() -> str:
    try:
        return getpass.getuser() or "person"
    except (KeyError, OSError):
        return "person"


# ---------------------------------------------------------------------------------------- projects
def split_settings(assignments) -> tuple[list[str], float | None]:
    rest, prefill = [], None
    for item in assignments or ():
        name, _, raw = item.partition("=")
        if name.strip() == "prefill":
            try:
                prefill = float(raw)
            except ValueError:
                raise ConfigError(f"prefill must be a number in [0, 1], got {raw!r}") from None
            if not 0.0 <= prefill <= 1.0:
                raise ConfigError(f"prefill must be a number in [0, 1], got {raw!r}")
        else:
            rest.append(item)
    return rest, prefill


def base_config(dataset: str) -> Config:
    """The starting config of a project on ``dataset``: a stored set's default model
    (:func:`alsim.loop.presets.default_config`), else label spreading with the RBF kernel; entropy,
    batches of 8, a random first batch, evaluation on the pool."""

    try:
        source_info(dataset)
    except KeyError as exc:
        raise ConfigError(exc.args[0] if exc.args else str(exc)) from None
    config = None
    try:
        if find(dataset).id == dataset:  # a stored set (not a built-in that shares a stored set's name)
            config = default_config(dataset)
    except (DataError, KeyError, ValueError, OSError):
        config = None
    if config is None:
        features = "raw" if "raw" in load_features(dataset) else load_features(dataset)[0]
        config = Config(dataset=dataset, features=features, model="label_spreading")
    return config.replace(initial="random", n_initial=DEFAULT_BATCH, batch_size=DEFAULT_BATCH, strategy="entropy",
                          evaluation="pool", self_training="off")


def load_features(dataset: str) -> tuple[str, ...]:

    return source_info(dataset).features


def create_project(name: str, dataset: str, assignments=(), store: LabelStore | None = None) -> LabelingProject:
    """A new project on ``dataset`` with ``field=value`` changes to :func:`base_config` (and ``prefill=P``)."""
    store = store or LabelStore()

    check_new_project_name(name)  # before the pool is prepared, which can take seconds
    rest, prefill = split_settings(assignments)
    config = base_config(dataset).with_overrides(rest)
    if config.strategy == "none":
        raise ConfigError("strategy must be a query strategy for a labeling project, got 'none'")
    if not any(item.partition("=")[0].strip() == "kernel" for item in rest):
        config = _fitting_kernel(config)
    check_refit(config)  # settings a refit would refuse are refused now, before anything is labeled
    # The class names are kept with the project, so its labels export by name even once the
    # data set is gone.
    dataset = load_source(config.dataset)
    settings = {"config": config.to_dict(), "prefill": DEFAULT_PREFILL if prefill is None else prefill,
                "class_names": list(dataset.class_names), "n_items": len(dataset.labels)}
    return open_row(store.create_project(name, config.dataset, settings), store)


def _fitting_kernel(config: Config) -> Config:
    """``config`` with the knn kernel where its default rbf kernel would not fit the pool (Fashion-MNIST's
    60,000 points: a dense kernel of 27 GiB); the Label page's form has no kernel control."""
    from alsim.learn.graph import DENSE_KERNEL_LIMIT_BYTES, dense_kernel_bytes  # lazy: the graph loads SciPy

    if config.model != "label_spreading" or config.kernel != "rbf":
        return config
    n = config.pool_size or len(load_source(config.dataset).labels)
    return config.replace(kernel="knn") if dense_kernel_bytes(n) > DENSE_KERNEL_LIMIT_BYTES else config


def check_refit(config: Config) -> None:
    """Raise :class:`ConfigError` for settings the project's refits would refuse (the checks of a
    run: per-class costs against the classes, the kernel's size and, for an rbf kernel, a gamma
    that leaves every weight equal, found by building the graph, kept in the process's cache)."""
    from alsim.loop.pool import check_feasible, graph_for, prepare  # lazy: the pool loads SciPy

    prepared = prepare(config)
    # A project starts from the labels a person gives, not from an initial draw, and a batch
    # larger than what is left proposes what is left.
    check_feasible(config.replace(initial="first", n_initial=1, batch_size=1), prepared)
    if config.model == "label_spreading" and config.kernel == "rbf":
        graph_for(config, prepared)


def open_row(row: Project, store: LabelStore) -> LabelingProject:
    try:
        source_info(row.dataset)
    except KeyError:
        raise LabelStoreError(f"project {row.name!r} labels data set {row.dataset!r}, which is no longer stored; its "
                              f"labels can still be exported (python -m alsim label {row.name!r} --export csv or "
                              "json) or the project deleted") from None
    try:
        config = Config.from_dict(row.settings["config"])
    except (KeyError, TypeError) as exc:
        raise LabelStoreError(f"project {row.name!r} has no valid config ({exc})") from None
    kept = {name: row.settings[name] for name in ("class_names", "n_items") if name in row.settings}
    return LabelingProject(row.id, row.name, config, float(row.settings.get("prefill", DEFAULT_PREFILL)),
                           row.created, store, kept)


def open_project(name: str, store: LabelStore | None = None) -> LabelingProject:
    store = store or LabelStore()
    return open_row(store.project(name), store)


def open_labels(name: str, store: LabelStore | None = None) -> ProjectLabels:
    """A project's labels for export, with or without its data set: the class names kept with
    the project, else (a project from before they were kept) the data set's if it is still
    there, else none (labels are then exported by class index only)."""
    store = store or LabelStore()
    row = store.project(name)
    names = row.settings.get("class_names")
    if names is None:
        try:
            names = load_source(row.dataset).class_names
        except (KeyError, DataError, OSError, ValueError):
            names = ()
    kept = row.settings.get("file_names")
    kept = {int(item): str(name) for item, name in kept.items()} if isinstance(kept, dict) else {}
    return ProjectLabels(row.id, row.name, row.dataset, dict(row.settings.get("config") or {}),
                         tuple(str(n) for n in names), store, kept)


def _labels_of(project: LabelingProject | ProjectLabels) -> ProjectLabels:
    if isinstance(project, ProjectLabels):
        return project
    return ProjectLabels(project.id, project.name, project.config.dataset, project.config.to_dict(),
                         project.class_names, project.store)


def list_projects(store: LabelStore | None = None) -> list[Project]:
    return (store or LabelStore()).projects()


def delete_project(name: str, store: LabelStore | None = None) -> Project:
    return (store or LabelStore()).delete_project(name)


# ---------------------------------------------------------------------------------------- input
def parse_label(project: LabelingProject, text) -> int:
    """The class a person's text names, as a class index (:data:`SKIP` for "not sure").

    The one way text names a class, on the command line and in imported CSVs:

    1. a class's name, first and always (with classes ``3, 1, 2`` the text ``1`` is the class
       named 1, at index 1; ``007`` and ``7`` are different names); surrounding spaces are
       ignored when no name has them;
    2. else ``skip``, ``?`` or ``-1``: not sure;
    3. else ``#N``: the class at index N (0-based, the order of the data set's classes).

    Anything else (a bare number that is no class's name, too) is refused.
    """
    names = project.class_names
    text = str(text)
    for candidate in (text, text.strip()):
        if candidate in names:
            return names.index(candidate)
    raw = text.strip()
    if raw.lower() in ("-1", "skip", "?"):
        return SKIP
    if re.fullmatch(r"#[0-9]{1,6}", raw) and int(raw[1:]) < len(names):
        return int(raw[1:])
    shown = ", ".join(map(escape_controls, names)) if len(names) <= 12 else f"{len(names)} class names"
    raise LabelStoreError(f"unknown class {raw[:40]!r}; classes: {shown} (a class name, or #0-#{len(names) - 1} "
                          "for a class by its index, or skip)")


def parse_item(project: LabelingProject, text) -> int:
    raw = str(text).strip()
    if not re.fullmatch(r"[0-9]{1,12}", raw) or int(raw) >= project.n_pool:
        raise LabelStoreError(f"unknown item {raw[:40]!r}; items are pool ids 0-{project.n_pool - 1}")
    return int(raw)


# ---------------------------------------------------------------------------------------- labels
def add_label(project: LabelingProject, item, label: int, source: str = "typed", annotator: str | None = None,
              session: str | None = None) -> int:
    """Store the person's label of ``item``; returns the history id.

    ``label`` is a class index (an int, :data:`SKIP` = -1 for "not sure"), never a name: the
    page passes the index of the button pressed or of the model's guess, and a person's text
    goes through :func:`parse_label` first, so a class named ``"2"`` is never mistaken for
    index 2. ``session``: the Label page session storing it (its undo is that session's own).
    """
    if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
        raise TypeError(f"label must be a class index (int; -1 = skip), got {type(label).__name__} {label!r}; "
                        "read a person's text with parse_label")
    n_classes = len(project.class_names)
    if not SKIP <= int(label) < n_classes:
        raise LabelStoreError(f"class index must be in -1..{n_classes - 1} (-1 = skip), got {int(label)}")
    item_id = parse_item(project, item)
    return project.store.set_label(project.id, item_id, int(label), annotator or default_annotator(), source,
                                   session=session)


def undo(project: LabelingProject, annotator: str | None = None, session: str | None = None):
    """Undo the person's own last label; returns the undone change or None.

    Whose: with ``session`` (a Label page session), that session's last change; otherwise the
    last change made under ``annotator`` (default: the user name). Nobody else's label is
    undone (see :meth:`alsim.labelstore.LabelStore.undo`).

    A proposed batch nobody has started that was made after the undone label is withdrawn,
    so the undone item is shown again in its own batch.
    """
    store = project.store
    change = store.undo(project.id, annotator or default_annotator(), session)
    if change is not None:
        batches = store.batches(project.id)
        if batches and change.item not in batches[-1].items:
            labels = store.labels(project.id)
            if not any(item in labels for item in batches[-1].items):
                store.drop_batch(project.id, batches[-1].number)
    return change


def label_arrays(project: LabelingProject, labels: dict[int, LabelRow] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(labels (n_pool,), skipped (n_pool,) bool)`` from the store: -1 where unlabeled."""
    labels = project.store.labels(project.id) if labels is None else labels
    person = np.full(project.n_pool, -1, dtype=np.int64)
    skipped = np.zeros(project.n_pool, dtype=bool)
    for item, row in labels.items():
        if 0 <= item < project.n_pool:
            if row.label >= 0:
                person[item] = row.label
            else:
                skipped[item] = True
    return person, skipped


# ---------------------------------------------------------------------------------------- proposing
def next_batch(project: LabelingProject, labels: dict[int, LabelRow] | None = None) -> Proposal:
    """The batch the config proposes given the stored labels (a pure function of both).

    Returns
    -------
    Proposal
        Up to ``batch_size`` unanswered pool ids, with the model's guess and confidence.
    """

    from alsim.labeling.model_state import refit_pool  # lazy: the pool and the model load SciPy

    config = project.config
    person, skipped = label_arrays(project, labels)
    has_model = len(np.unique(person[person >= 0])) >= 2  # else the config's cold start, without a model
    prepared = refit_pool(config, with_model=has_model)
    candidates = np.flatnonzero((person < 0) & ~skipped)
    n_labels = int(np.count_nonzero(person >= 0))
    k = min(config.batch_size, len(candidates))
    empty = np.zeros(0, dtype=np.int64)
    if k == 0:
        return Proposal(empty, empty, np.zeros(0), n_labels)
    if not has_model:
        ids = _cold_start(config, prepared.features, candidates, k, n_labels)
        return Proposal(ids, np.full(len(ids), -1, dtype=np.int64), np.zeros(len(ids)), n_labels)
    arm, proba = _fitted_arm(config, prepared, person, skipped, n_labels)
    ids = np.asarray(arm.propose(proba, k).ids, dtype=np.int64)
    guesses, confidence = _guesses(proba, arm.train)
    return Proposal(ids, guesses[ids], confidence[ids], n_labels)


def _fitted_arm(config: Config, prepared, person: np.ndarray, skipped: np.ndarray, n_labels: int):
    """``(arm, proba (n_pool, n_classes))``: the config's model fitted on the stored labels, the
    arm's generator seeded from ``(seed, number of labels)`` for the strategy."""
    from alsim.loop.run import _Arm, _fit_arms  # lazy: the loop loads SciPy

    oracle = StoreOracle(person, skipped, truth=None)
    # The arm starts from the stored labels: no initial draw of its own.
    arm = _Arm(config.replace(initial="first", n_initial=1, evaluation="pool", self_training="off"), prepared, oracle)
    labeled = np.flatnonzero(person >= 0)
    arm.apply(labeled, person[labeled])
    arm.config = config.replace(evaluation="pool", self_training="off")
    proba, _, _ = _fit_arms([arm], None)[0]
    arm.rng = np.random.default_rng([config.seed, n_labels])
    return arm, proba


def _guesses(proba: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(guess (n_pool,), confidence (n_pool,))``: the model's class (-1 where no mass reached
    the point) and its probability."""
    from alsim.loop.run import predict_labels  # lazy: the loop loads SciPy

    predicted = predict_labels(proba, train)
    mass = proba.sum(axis=1)
    confidence = np.divide(proba.max(axis=1), mass, out=np.zeros(len(mass)), where=mass > 0)
    guesses = np.where(mass > 0, predicted, -1)  # no mass reached the point: no guess
    return guesses.astype(np.int64), confidence


@dataclass(frozen=True)
class Ranking:
    """Every unanswered item, in the order the strategy would ask for them.

    Attributes
    ----------
    ids : ndarray (m,), pool ids, first asked first
    scores : ndarray (m,), the strategy's score of each (higher = asked first); NaN without one
    score_name : str, what the score is (``entropy``, ...; empty without a score)
    guesses, confidence : ndarray (m,), as in :class:`Proposal`
    n_labels : int
    """

    ids: np.ndarray
    scores: np.ndarray
    score_name: str
    guesses: np.ndarray
    confidence: np.ndarray
    n_labels: int


def rank_unlabeled(project: LabelingProject, labels: dict[int, LabelRow] | None = None) -> Ranking:
    """Every unanswered item ordered by the strategy's score (highest first, ties by id).

    The strategy scores the whole pool once (``k=0``), as it would before choosing a batch. A
    strategy without a score (``random``) gives a random order from the generator
    :func:`next_batch` would use, and so does a project without a model yet (fewer than two
    classes labeled), whose scores are then NaN.
    """
    from alsim.labeling.model_state import refit_pool  # lazy: the pool and the model load SciPy

    config = project.config
    person, skipped = label_arrays(project, labels)
    has_model = len(np.unique(person[person >= 0])) >= 2  # else a random order, without a model
    prepared = refit_pool(config, with_model=has_model)
    candidates = np.flatnonzero((person < 0) & ~skipped)
    n_labels = int(np.count_nonzero(person >= 0))
    none = np.full(len(candidates), np.nan)
    if not has_model:
        order = np.random.default_rng([config.seed, n_labels]).permutation(candidates)
        return Ranking(order, none, "", np.full(len(order), -1, dtype=np.int64), np.zeros(len(order)), n_labels)
    arm, proba = _fitted_arm(config, prepared, person, skipped, n_labels)
    query = arm.propose(proba, 0)
    guesses, confidence = _guesses(proba, arm.train)
    if query.scores is None:
        order, scores = arm.rng.permutation(candidates), none
    else:
        scored = np.asarray(query.scores, dtype=float)[candidates]
        position = np.lexsort((candidates, -np.nan_to_num(scored, nan=-np.inf)))
        order, scores = candidates[position], scored[position]
    return Ranking(order, scores, query.score_name if query.scores is not None else "", guesses[order],
                   confidence[order], n_labels)


def _cold_start(config: Config, features: np.ndarray, candidates: np.ndarray, k: int, n_labels: int) -> np.ndarray:
    """The config's ``initial`` choice among unanswered points, without the truth."""
    if config.initial == "first":
        return candidates[:k]
    if config.initial in ("typical", "kcenter"):
        if config.initial == "typical":
            return typical_start(features, candidates, k, config.seed, config.strategy_params["typiclust"].neighbors,
                                 config.strategy_params["typiclust"].max_clusters)
        return kcenter_start(features, candidates, k, config.seed)
    rng = np.random.default_rng([config.seed, n_labels])  # random; stratified needs the truth
    return np.sort(rng.choice(candidates, size=k, replace=False))


def current_batch(project: LabelingProject) -> StoredBatch | None:
    """The batch to show: the last stored one while some item in it is unanswered, else a new one
    (stored; two sessions asking at once get the same one). None when every item is answered."""
    store = project.store
    batches = store.batches(project.id)
    labels = store.labels(project.id)
    if batches and any(item not in labels for item in batches[-1].items):
        return batches[-1]
    proposal = next_batch(project, labels)
    if len(proposal.ids) == 0:
        return None
    number = batches[-1].number + 1 if batches else 0
    batch = StoredBatch(number, tuple(int(i) for i in proposal.ids), tuple(int(g) for g in proposal.guesses),
                        tuple(float(c) for c in proposal.confidence), proposal.n_labels, now())
    return store.save_batch(project.id, batch)


# ---------------------------------------------------------------------------------------- measures
@dataclass(frozen=True)
class BatchAgreement:
    """How often the model's guess, made before the person labeled the batch, matched the person."""

    number: int
    n_labels: int
    agreement: float | None
    n_compared: int


def agreement_curve(project: LabelingProject) -> list[BatchAgreement]:
    """One point per proposed batch with a model guess: the model's agreement with the person."""
    labels = project.store.labels(project.id)
    out = []
    for batch in project.store.batches(project.id):
        pairs = [(g, labels[i].label) for i, g in zip(batch.items, batch.guesses)
                 if g >= 0 and i in labels and labels[i].label >= 0]
        agreement = float(np.mean([g == p for g, p in pairs])) if pairs else None
        out.append(BatchAgreement(batch.number, batch.n_labels, agreement, len(pairs)))
    return out


def truth_agreement(project: LabelingProject) -> tuple[float, np.ndarray, int] | None:
    """``(agreement, confusion (n_classes, n_classes) rows = truth, n)`` of the person against the
    hidden truth, over labeled items whose truth is known; None without any."""
    from sklearn.metrics import confusion_matrix

    truth = np.asarray(project.dataset.labels)
    if project.config.pool_size:
        from alsim.loop.pool import prepare  # lazy: the pool loads SciPy and the features

        truth = prepare(project.config).labels
    person, _ = label_arrays(project)
    scored = (person >= 0) & (truth >= 0)
    if not scored.any():
        return None
    n_classes = len(project.class_names)
    matrix = confusion_matrix(truth[scored], person[scored], labels=np.arange(n_classes))
    return float(np.mean(truth[scored] == person[scored])), matrix, int(scored.sum())


def class_counts(project: LabelingProject) -> dict:
    """Labels per class and source: ``{"classes": {name: {source: n}}, "skipped": n, "total": n}``."""
    names = project.class_names
    counts = {name: {source: 0 for source in SOURCES} for name in names}
    skipped = 0
    for row in project.store.labels(project.id).values():
        if row.label < 0:
            skipped += 1
        elif row.label < len(names):
            counts[names[row.label]][row.source] = counts[names[row.label]].get(row.source, 0) + 1
    total = sum(sum(c.values()) for c in counts.values())
    return {"classes": counts, "skipped": skipped, "total": total}


# ---------------------------------------------------------------------------------------- export / import
EXPORT_FIELDS = ("item", "path", "label", "label_id", "annotator", "source", "time")


def export_rows(project: LabelingProject | ProjectLabels) -> list[dict]:
    """One dict per answered item (skips have label "" and label_id -1). ``path``: the item's source
    file name (:func:`item_file_names`), empty when none is known. Needs no data set: a
    :class:`ProjectLabels` of a project whose data set was removed exports as well."""
    project = _labels_of(project)
    names = project.class_names
    files = item_file_names(project)
    rows = []
    for item, row in sorted(project.store.labels(project.id).items()):
        if files is None:
            path = project.kept_file_names.get(item)
        else:
            path = files[item] if 0 <= item < len(files) else None
        rows.append({"item": item, "path": path or "", "label": names[row.label] if 0 <= row.label < len(names) else "",
                     "label_id": row.label, "annotator": row.annotator, "source": row.source, "time": row.time})
    return rows


def item_file_names(project: LabelingProject | ProjectLabels) -> tuple[str | None, ...] | None:
    """Each pool item's source file name (its path inside the imported folder or zip, or a table's
    path column; None for rows of arrays), read from the data store without loading the images.

    None when the project's data set is not a stored one that keeps them (a built-in set, a set
    stored before names were kept, a removed set).
    """
    project = _labels_of(project)
    try:
        entry = find(project.dataset_id)
    except DataError:
        return None
    if project.dataset_id not in (entry.id, entry.content_key):
        return None  # matched by a stored set's name: not the project's data set
    names = datastore.read_file_names(entry)
    pool_size = project.config.get("pool_size")
    if names is None or not pool_size:
        return names
    if not isinstance(pool_size, int) or pool_size > len(names):
        return None  # not the pool this set gives
    from alsim.loop.pool import pool_rows  # lazy: the pool loads SciPy and the features

    return tuple(names[row] for row in pool_rows(len(names), pool_size))


#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_TEXT_FIELDS = ("path", "label", "annotator", "source")


def neutralise_cell(text: str) -> str:
    """A text cell a spreadsheet shows as text, never runs: a single quote goes before a cell
    that starts with ``= + - @``, tab or carriage return (OWASP's advice), and before one
    that starts with a quote, so that :func:`restore_cell` takes away exactly what was added."""
    return f"'{text}" if text[:1] in (*FORMULA_STARTS, "'") and text else text


def restore_cell(text: str) -> str:
    """The text :func:`neutralise_cell` was given: a leading quote is dropped only before one of
    the characters it is added for."""
    return text[1:] if text[:1] == "'" and text[1:2] and text[1:2] in (*FORMULA_STARTS, "'") else text


def export_csv(project: LabelingProject | ProjectLabels) -> str:
    """The labels as CSV (:data:`EXPORT_FIELDS`), text cells neutralised for spreadsheets
    (:func:`neutralise_cell`); CRLF line ends, so a carriage return inside a name is quoted."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for row in export_rows(project):
        writer.writerow({**row, **{field: neutralise_cell(str(row[field])) for field in _TEXT_FIELDS}})
    return out.getvalue()


def export_json(project: LabelingProject | ProjectLabels) -> str:
    project = _labels_of(project)
    document = {"project": project.name, "dataset": project.dataset_id, "class_names": list(project.class_names),
                "config": project.config, "labels": export_rows(project)}
    return json.dumps(document, indent=1)


def _folder_name(name: str) -> str:
    """A class's folder in the export: unique and read back by the importer (see
    :func:`alsim.importers.class_folder_name`)."""
    return class_folder_name(name)


def export_zip(project: LabelingProject) -> bytes:
    """An ImageFolder-style zip: ``<class>/<name>.png`` per labeled image (skips left out); class
    folders are the class names, percent-escaped where unsafe (:func:`_folder_name`). ``<name>``
    is the source file's name, its extension made ``.png`` (``cat.jpg`` -> ``cat.png``), followed
    by ``-<item>`` when another image in the folder has it; ``<item>`` (6 digits) without one."""
    images = pool_images(project)
    names = project.class_names
    buffer = io.BytesIO()
    written: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for row in export_rows(project):
            if row["label_id"] < 0:
                continue
            encoded = png_bytes(images[row["item"]])
            if encoded is not None:
                folder = _folder_name(names[row["label_id"]])
                stem = PurePosixPath(row["path"]).stem if row["path"] else ""
                member = f"{folder}/{stem or format(row['item'], '06d')}.png"
                suffix = 0
                while member in written:  # two source folders held the same name, or a name looked like another's
                    suffix += 1
                    member = f"{folder}/{stem or format(row['item'], '06d')}-{row['item']}" + (
                        f"-{suffix}.png" if suffix > 1 else ".png")
                written.add(member)
                archive.writestr(member, encoded)
    return buffer.getvalue()


def pool_images(project: LabelingProject) -> np.ndarray:
    """The images of the project's pool, ``(n_pool, h, w[, c])``, indexed by item id; LabelStoreError
    for a data set of embeddings only."""
    images = project.dataset.images
    if images is None:
        raise LabelStoreError(f"data set {project.config.dataset!r} has no images to export")
    if project.config.pool_size:
        from alsim.loop.pool import prepare  # lazy: the pool loads SciPy and the features

        images = prepare(project.config).images
    return images


def image_file_name(item: int) -> str:
    """An item's image file in a Label Studio export: its pool id, six digits (unique, whatever the source names)."""
    return f"{int(item):06d}.png"


def png_bytes(image: np.ndarray) -> bytes | None:
    """One image as PNG bytes (RGB kept as RGB), None if OpenCV cannot encode it."""
    import cv2

    image = to_uint8(image)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", image)
    return encoded.tobytes() if ok else None


def export_npz(project: LabelingProject) -> bytes:
    """The labeled items with the features the project's model sees, as an ``.npz``.

    Arrays: ``X`` (m, d) the pool features of :func:`alsim.loop.pool.prepare` (the config's
    feature kind), ``y`` (m,) class indices, ``items`` (m,) pool ids, ``class_names`` (n_classes,)
    str. Skips are left out. ``data add`` reads it back as a data set of embeddings.
    """
    person, _ = label_arrays(project)
    labeled = np.flatnonzero(person >= 0)
    from alsim.loop.pool import prepare  # lazy: the pool loads SciPy and the features

    features = np.asarray(prepare(project.config).features)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, X=features[labeled], y=person[labeled].astype(np.int64),
                        items=labeled.astype(np.int64), class_names=np.asarray(project.class_names, dtype=str))
    return buffer.getvalue()


def to_uint8(image: np.ndarray) -> np.ndarray:
    """An image as uint8 (floats such as the digits' 0..16 scaled to 0..255)."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    top = float(image.max()) if image.size else 0.0
    scale = 255.0 / top if top > 1.0 else 255.0
    return np.clip(np.rint(image * scale), 0, 255).astype(np.uint8)


#: Column names an imported CSV may use (case and surrounding spaces ignored), the export's first.
ITEM_COLUMNS = ("item", "id", "item_id")
LABEL_COLUMNS = ("label", "class")


def import_csv(project: LabelingProject, text: str | bytes, annotator: str | None = None,
               session: str | None = None) -> int:
    """Store labels from a CSV: what :func:`export_csv` writes, or any CSV with an item column
    (:data:`ITEM_COLUMNS`) and a label column (:data:`LABEL_COLUMNS`).

    A label is read as :func:`parse_label` reads text (a class name first, ``skip``, ``#N``),
    after :func:`restore_cell` has taken away the quote the export puts before a formula; an
    empty label takes the export's ``label_id`` column (a class index, -1 = skip) if there is
    one, else means skip. All rows or none; returns the count.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_IMPORT_BYTES:
            raise LabelStoreError(f"label CSV is larger than {MAX_IMPORT_BYTES >> 20} MiB")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LabelStoreError("label CSV is not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns: dict[str, str] = {}
    for name in reader.fieldnames or []:
        columns.setdefault((name or "").strip().lower(), name)
    item_column = next((columns[c] for c in ITEM_COLUMNS if c in columns), None)
    label_column = next((columns[c] for c in LABEL_COLUMNS if c in columns), None)
    if item_column is None or label_column is None:
        shown = ", ".join(escape_controls((name or "").strip()) for name in reader.fieldnames or []) or "none"
        raise LabelStoreError(f"label CSV needs an item column ({', '.join(ITEM_COLUMNS[:-1])} or {ITEM_COLUMNS[-1]}) "
                              f"and a label column ({' or '.join(LABEL_COLUMNS)}), got {shown}")
    label_id_column = columns.get("label_id")
    rows = []
    for line, record in enumerate(reader, start=2):
        label_text = restore_cell(record.get(label_column) or "")
        label_id = (record.get(label_id_column) or "").strip() if label_id_column else ""
        try:
            if label_text.strip() or (label_text and label_text in project.class_names):
                label = parse_label(project, label_text)
            else:  # an empty cell (a skip, or a class named "" in the export) is read from label_id
                label = _class_index(project, label_id) if label_id else SKIP
            rows.append((parse_item(project, record.get(item_column) or ""), label))
        except LabelStoreError as exc:
            raise LabelStoreError(f"label CSV line {line}: {exc}") from None
    return project.store.set_labels(project.id, rows, annotator or default_annotator(), "imported", session)


def _class_index(project: LabelingProject, text: str) -> int:
    n_classes = len(project.class_names)
    if not re.fullmatch(r"-?[0-9]{1,6}", text) or not SKIP <= int(text) < n_classes:
        raise LabelStoreError(f"label_id must be a class index 0-{n_classes - 1} or -1 (skip), got {text[:40]!r}")
    return int(text)


# ---------------------------------------------------------------------------------------- command line


def labeling_projects(entry: StoredSet, store: LabelStore | None = None) -> list[Project]:
    """The labeling projects on a stored set, oldest first; none without a label database."""
    if store is None:
        path = default_label_path()
        if not path.exists():
            return []
        store = LabelStore(path)
    return [project for project in store.projects() if project.dataset in (entry.id, entry.content_key)]


def remove_dataset(ident: str, force: bool = False, store: LabelStore | None = None) -> StoredSet:
    """Remove a stored data set, keeping its labeling projects' labels reachable.

    A set that labeling projects label is kept: DataError naming the projects, unless
    ``force``. With ``force``, each of them first keeps the set's class names in its settings,
    so its labels stay exportable by name (:func:`open_labels`).
    """
    entry = datastore.find_removable(ident)  # a damaged entry too: its projects need --force all the same
    try:
        projects = labeling_projects(entry, store)
    except DataError:
        if not force:
            raise
        projects = []  # an unreadable label database: removed anyway, as asked
    if projects and not force:
        names = ", ".join(project.name for project in projects)
        raise DataError(f"data set {entry.id} ({entry.name}) has labeling projects {names}: delete them first "
                        "(python -m alsim label NAME --delete), or remove it anyway with --force (their labels "
                        "stay exportable, without the images)")
    if projects and entry.manifest:  # a damaged entry has no class names to keep (projects keep their own)
        store = store or LabelStore(default_label_path())
        for project in projects:
            labels = open_labels(project.name, store)
            files = item_file_names(labels) or ()
            kept = {item: files[item] for item in store.labels(project.id) if 0 <= item < len(files) and files[item]}
            store.remember_class_names(project.id, entry.manifest.get("class_names", []), kept)
    return datastore.remove(entry.id)
