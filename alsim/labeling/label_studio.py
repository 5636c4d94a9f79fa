"""Label Studio round trip: a project's batch as Label Studio tasks, Label Studio's JSON export back into the store.

The formats are Label Studio's own (its guides "Import pre-annotated data" and "Label Studio
JSON format of annotated tasks"):

- the labeling config (:func:`label_config`): an ``Image`` named ``image`` that shows
  ``$image``, and a ``Choices`` named ``label`` with one ``Choice`` per class;
- a task (:func:`export_tasks`): ``{"data": {"image": ..., "alsim_item": id, "alsim_project":
  name}, "predictions": [{"model_version": ..., "score": p, "result": [{"from_name": "label",
  "to_name": "image", "type": "choices", "value": {"choices": [class]}}]}]}``: the model's
  guess is a prediction, which Label Studio shows as a pre-annotation, with its probability
  as the score;
- the JSON export (:func:`import_export`): a list of tasks, each with its ``data`` and its
  ``annotations``; an annotation has a ``result`` list like the prediction's,
  ``was_cancelled`` (the annotator pressed Skip) and ``completed_by``: the user's id, or an
  object with ``id`` and ``email``.

An import is validated whole before anything is written, then lands in one transaction
(:meth:`alsim.labeling.store.LabelStore.set_labels`) with the source ``label-studio``; a row
equal to the stored one is not written again, so importing a file twice changes nothing.
"""

from __future__ import annotations

import base64
import json
import math
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

from alsim.common.files import replace_atomically
from alsim.common.text import escape_controls
from alsim.labeling.limits import MAX_EMBED_BYTES, MAX_EMBED_ITEMS
from alsim.labeling.projects import (
    MAX_IMPORT_BYTES,
    LabelingProject,
    current_batch,
    image_file_name,
    png_bytes,
    pool_images,
    rank_unlabeled,
)
from alsim.labeling.store import LabelStoreError

__all__ = [
    "FROM_NAME", "MAX_EMBED_BYTES", "MAX_EMBED_ITEMS", "SOURCE", "TO_NAME", "ImportSummary", "choice_values",
    "export_tasks", "import_export", "label_config", "read_export",
]

#: The names of the config's tags: the ``Choices`` control and the ``Image`` it labels.
FROM_NAME = "label"
TO_NAME = "image"
#: The store's source of labels read from a Label Studio export.
SOURCE = "label-studio"
#: How many choices that are no class an import's summary names.
SHOWN_UNKNOWN = 3


# ---------------------------------------------------------------------------------------- the config
def _xml_safe(text: str) -> bool:
    """Whether XML 1.0 can carry ``text`` in an attribute as it is (no NUL, no other C0 control
    but tab, newline and carriage return, no surrogates, no U+FFFE/U+FFFF)."""
    return all(ch in "\t\n\r" or (" " <= ch and unicodedata.category(ch) != "Cs" and ch not in "\ufffe\uffff")
               for ch in text)


def choice_values(class_names) -> tuple[str, ...]:
    """The ``Choice`` value of each class, by class index: the class's name, except for a name
    XML cannot carry or an empty one, which gets its escaped form (``\\x00``, ``(empty)``), with
    `` #N`` after it if another class has that value. Distinct, so each reads back as one class."""
    names = [str(name) for name in class_names]
    values = []
    for index, name in enumerate(names):
        value = name if name and _xml_safe(name) else (escape_controls(name) or "(empty)")
        if value != name and (value in names or value in values):
            value = f"{value} #{index}"
        values.append(value)
    return tuple(values)


def label_config(class_names) -> str:
    """Label Studio's labeling config for a project's classes (XML; one ``Choice`` per class, in class order)."""
    choices = "\n".join(f"    <Choice value={quoteattr(value)}/>" for value in choice_values(class_names))
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image"/>\n'
            f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" showInline="true">\n'
            f"{choices}\n  </Choices>\n</View>\n")


# ---------------------------------------------------------------------------------------- tasks
def export_tasks(project: LabelingProject, all_unlabeled: bool = False, image_root: str | os.PathLike | None = None,
                 image_url_prefix: str | None = None, embed_images: bool = False) -> list[dict]:
    """The proposed batch (or every unanswered item) as Label Studio tasks.

    Parameters
    ----------
    all_unlabeled : bool
        Every unanswered item, ordered by the strategy's score (:func:`rank_unlabeled`), instead
        of the proposed batch (:func:`current_batch`, stored as ``--next`` stores it).
    image_root : path, optional
        A folder the images are written to as PNG files (``<item>.png``, six digits); the
        task's image is the file's absolute path, or, with ``image_url_prefix``, the prefix
        followed by the file name.
    image_url_prefix : str, optional
        Where Label Studio reaches ``image_root`` (``http://host/images/`` or Label Studio's
        own ``/data/local-files/?d=images/``); a ``/`` is put between the two unless the
        prefix ends with ``/`` or ``=``.
    embed_images : bool
        Each image as a ``data:image/png;base64`` URI in the task itself, for at most
        :data:`MAX_EMBED_ITEMS` images and :data:`MAX_EMBED_BYTES` of PNG data.

    Returns
    -------
    list of dict
        One task per item, first asked first: ``data`` holds ``image``, ``alsim_item`` (the pool
        id), ``alsim_project`` and, with ``all_unlabeled``, ``alsim_score`` (the strategy's score,
        when it has one); ``predictions`` the model's guess with its probability (none before the
        model has two classes).
    """
    if embed_images and (image_root is not None or image_url_prefix):
        raise LabelStoreError("give either embedded images (--embed-images) or an image folder (--image-root), "
                              "not both")
    if image_url_prefix and image_root is None:
        raise LabelStoreError("--image-url-prefix needs --image-root: the folder the images are written to, "
                              "which Label Studio serves at that URL")
    if not embed_images and image_root is None:
        raise LabelStoreError("Label Studio needs the images: give --image-root DIR (and --image-url-prefix URL "
                              f"where Label Studio serves DIR), or --embed-images for up to {MAX_EMBED_ITEMS} images")
    images = pool_images(project)
    if all_unlabeled:
        ranking = rank_unlabeled(project)
        items, guesses, confidence = ranking.ids, ranking.guesses, ranking.confidence
        scores = ranking.scores
    else:
        batch = current_batch(project)
        items, guesses, confidence = (batch.items, batch.guesses, batch.confidence) if batch else ((), (), ())
        scores = [math.nan] * len(items)
    items = [int(item) for item in items]
    if embed_images and len(items) > MAX_EMBED_ITEMS:
        raise LabelStoreError(f"{len(items)} images are too many to embed in the tasks (at most {MAX_EMBED_ITEMS}): "
                              "write them to a folder with --image-root DIR instead")
    values = (_embedded(images, items) if embed_images
              else _written(images, items, Path(image_root), image_url_prefix))
    values_of = choice_values(project.class_names)
    config = project.config
    tasks = []
    for item, value, guess, probability, score in zip(items, values, guesses, confidence, scores):
        data = {"image": value, "alsim_item": item, "alsim_project": project.name}
        if not math.isnan(float(score)):
            data["alsim_score"] = round(float(score), 6)
        task = {"data": data}
        if int(guess) >= 0:
            task["predictions"] = [{
                "model_version": f"alsim {config.model} {config.strategy}",
                "score": round(float(probability), 6),
                "result": [{"id": f"alsim{item}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices",
                            "value": {"choices": [values_of[int(guess)]]}}],
            }]
        tasks.append(task)
    return tasks


def _embedded(images, items: list[int]) -> list[str]:
    values, total = [], 0
    for item in items:
        encoded = _png(images, item)
        total += len(encoded)
        if total > MAX_EMBED_BYTES:
            raise LabelStoreError(f"the images are more than {MAX_EMBED_BYTES >> 20} MiB of PNG data, too much to "
                                  "embed in the tasks: write them to a folder with --image-root DIR instead")
        values.append("data:image/png;base64," + base64.b64encode(encoded).decode("ascii"))
    return values


def _written(images, items: list[int], root: Path, prefix: str | None) -> list[str]:
    """Write each image to ``root`` (a temporary name, then ``os.replace``: a reader never sees half a file)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabelStoreError(f"cannot create the image folder {root}: {exc.strerror or exc}") from None
    if prefix and not prefix.endswith(("/", "=")):
        prefix += "/"
    values = []
    for item in items:
        name = image_file_name(item)
        target = root / name
        try:
            png = _png(images, item)
            replace_atomically(target, lambda stream: stream.write(png))
        except OSError as exc:
            raise LabelStoreError(f"cannot write {target}: {exc.strerror or exc}") from None
        values.append(f"{prefix}{name}" if prefix else str(target.resolve()))
    return values


def _png(images, item: int) -> bytes:
    encoded = png_bytes(images[item])
    if encoded is None:
        raise LabelStoreError(f"item {item}'s image cannot be encoded as PNG (shape {images[item].shape})")
    return encoded


# ---------------------------------------------------------------------------------------- the export
@dataclass(frozen=True)
class ImportSummary:
    """What reading a Label Studio export found, and what it stored.

    Attributes
    ----------
    n_tasks : int, tasks in the file
    rows : tuple of (item, class index, annotator), one per item with a usable annotation (the latest)
    stored : int, rows written (the rest equal the stored rows and were left alone); None before writing
    cancelled : int, annotations cancelled in Label Studio (Skip), not labels
    empty : int, annotations with no choice
    disagreements : int, items whose annotators chose different classes (the latest kept)
    unknown : tuple of (item, choice), annotations whose choice is no class of the project (not stored)
    """

    n_tasks: int
    rows: tuple[tuple[int, int, str], ...]
    stored: int | None = None
    cancelled: int = 0
    empty: int = 0
    disagreements: int = 0
    unknown: tuple[tuple[int, str], ...] = ()

    def line(self, project: str) -> str:
        """One line for a person: counts, then the first few choices that are no class."""
        n = len(self.rows)
        stored = n if self.stored is None else self.stored
        parts = [f"{self.n_tasks} task{'s' * (self.n_tasks != 1)}: {stored} label{'s' * (stored != 1)} stored"
                 + (f", {n - stored} unchanged" if stored != n else "")]
        if self.cancelled:
            parts.append(f"{self.cancelled} cancelled (skipped) annotation{'s' * (self.cancelled != 1)} ignored")
        if self.empty:
            parts.append(f"{self.empty} annotation{'s' * (self.empty != 1)} without a choice ignored")
        if self.disagreements:
            parts.append(f"{self.disagreements} item{'s' * (self.disagreements != 1)} where annotators disagree "
                         "(the latest annotation kept)")
        if self.unknown:
            shown = ", ".join(f"{escape_controls(choice)[:40]!r} (item {item})"
                              for item, choice in self.unknown[:SHOWN_UNKNOWN])
            more = f" and {len(self.unknown) - SHOWN_UNKNOWN} more" if len(self.unknown) > SHOWN_UNKNOWN else ""
            parts.append(f"{len(self.unknown)} choice{'s' * (len(self.unknown) != 1)} not a class of project "
                         f"{project!r}, not stored: {shown}{more}")
        return "Label Studio import: " + "; ".join(parts)


def read_export(project: LabelingProject, data: bytes | str) -> ImportSummary:
    """Read and check a Label Studio JSON export of ``project``'s tasks; writes nothing.

    Each task's ``data.alsim_item`` is its item; a task of another project (another
    ``data.alsim_project``, an id outside the pool, none at all) fails the whole file. Of an
    item's annotations, cancelled ones (Skip: Label Studio puts the task back in the queue) and
    empty ones are not labels; the latest of the rest (``updated_at``, then ``created_at``,
    then ``id``) is the item's label, annotated by its ``completed_by`` (the user's email, else
    ``label-studio user N``). A choice that is no class is reported, not stored.

    Raises
    ------
    LabelStoreError
        One line: too large, not UTF-8, not JSON, not a list of tasks, a task of another project.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_IMPORT_BYTES:
        raise LabelStoreError(f"the Label Studio export is larger than {MAX_IMPORT_BYTES >> 20} MiB; export fewer "
                              "tasks at a time (Label Studio's export takes a filter of task ids)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LabelStoreError("the Label Studio export is not UTF-8 text; export the project as JSON") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabelStoreError(f"the Label Studio export is not JSON ({exc.msg} at line {exc.lineno} column "
                              f"{exc.colno}); export the project in the JSON format") from None
    except RecursionError:
        raise LabelStoreError("the Label Studio export is not JSON Label Studio writes (nested too deep)") from None
    if not isinstance(document, list):
        raise LabelStoreError(f"a Label Studio JSON export is a list of tasks, got a JSON {_kind(document)}")
    names = {value: index for index, value in enumerate(choice_values(project.class_names))}
    found: dict[int, list[tuple[tuple, int, str]]] = {}
    cancelled = empty = 0
    unknown: list[tuple[int, str]] = []
    for position, task in enumerate(document):
        where = _where(task, position)
        item = _item_of(project, task, where)
        annotations = task.get("annotations", [])
        if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
            raise LabelStoreError(f"{where}: annotations must be a list of objects, got {_kind(annotations)}")
        for annotation in annotations:
            if annotation.get("was_cancelled"):
                cancelled += 1
                continue
            choices = _choices(annotation.get("result"), where)
            if choices is None:
                empty += 1
                continue
            index = names.get(choices[0]) if len(choices) == 1 else None
            if index is None:
                unknown.append((item, ", ".join(choices)))
                continue
            ident = annotation.get("id")
            order = (str(annotation.get("updated_at") or ""), str(annotation.get("created_at") or ""),
                     ident if isinstance(ident, int) and not isinstance(ident, bool) else -1, str(ident))
            found.setdefault(item, []).append((order, index, annotator_of(annotation.get("completed_by"))))
    rows = []
    disagreements = 0
    for item in sorted(found):
        annotations = sorted(found[item], key=lambda entry: entry[0])
        disagreements += len({label for _, label, _ in annotations}) > 1
        _, label, annotator = annotations[-1]
        rows.append((item, label, annotator))
    return ImportSummary(len(document), tuple(rows), None, cancelled, empty, disagreements, tuple(unknown))


def import_export(project: LabelingProject, data: bytes | str, session: str | None = None) -> ImportSummary:
    """Store the labels of a Label Studio JSON export (:func:`read_export`): all or nothing, in one
    transaction, rows equal to the stored ones left alone. ``session``: the Label page session."""
    summary = read_export(project, data)
    stored = project.store.set_labels(project.id, list(summary.rows), SOURCE, SOURCE, session, only_changed=True)
    return ImportSummary(summary.n_tasks, summary.rows, stored, summary.cancelled, summary.empty,
                         summary.disagreements, summary.unknown)


def annotator_of(completed_by) -> str:
    """Who made an annotation: ``completed_by``'s email if the export has it, else ``label-studio user <id>``."""
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if isinstance(email, str) and email.strip():
            return email.strip()[:200]
        completed_by = completed_by.get("id")
    if isinstance(completed_by, str) and completed_by.strip():
        return completed_by.strip()[:200]
    if isinstance(completed_by, int) and not isinstance(completed_by, bool):
        return f"label-studio user {completed_by}"
    return "label-studio"


def _where(task, position: int) -> str:
    if not isinstance(task, dict):
        raise LabelStoreError(f"a Label Studio JSON export is a list of tasks (objects); entry {position + 1} is a "
                              f"JSON {_kind(task)}")
    ident = task.get("id")
    return f"task {ident}" if isinstance(ident, (int, str)) and not isinstance(ident, bool) else \
        f"task {position + 1} of the file"


def _item_of(project: LabelingProject, task: dict, where: str) -> int:
    data = task.get("data")
    if not isinstance(data, dict):
        raise LabelStoreError(f"{where} has no data object; export the project in Label Studio's JSON format "
                              "(not JSON-MIN)")
    name = data.get("alsim_project")
    if name is not None and name != project.name:
        raise LabelStoreError(f"{where} is a task of alsim project {escape_controls(str(name))[:64]!r}, not "
                              f"{project.name!r}: import it into that project; nothing was stored")
    raw = data.get("alsim_item")
    if raw is None:
        raise LabelStoreError(f"{where} has no data.alsim_item: the file holds tasks alsim did not write "
                              f"(export them with: alsim label {project.name!r} --export label-studio); "
                              "nothing was stored")
    if isinstance(raw, str) and raw.strip().isdigit() and raw.strip().isascii():
        raw = int(raw.strip())
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw < project.n_pool:
        shown = escape_controls(json.dumps(raw))[:40]
        raise LabelStoreError(f"{where}: alsim_item {shown} is not an item of project {project.name!r} (items "
                              f"0-{project.n_pool - 1}): is this another project's export? nothing was stored")
    return raw


def _choices(result, where: str) -> list[str] | None:
    """The chosen class names of an annotation's result (the ``label`` control's first, else any
    ``choices`` result's); None for a result without a choice."""
    if result is None:
        return None
    if not isinstance(result, list) or not all(isinstance(region, dict) for region in result):
        raise LabelStoreError(f"{where}: an annotation's result must be a list of objects, got {_kind(result)}")
    regions = [r for r in result if r.get("type") == "choices" and isinstance(r.get("value"), dict)]
    regions.sort(key=lambda r: r.get("from_name") != FROM_NAME)
    for region in regions:
        choices = region["value"].get("choices")
        if isinstance(choices, list) and choices:
            return [c if isinstance(c, str) else json.dumps(c) for c in choices]
    return None


def _kind(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")
