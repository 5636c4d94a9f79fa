"""``alsim label``: label images yourself; the model proposes batches, you label them (or script it)."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING

from alsim.common.text import escape_controls
from alsim.labeling.limits import MAX_EMBED_ITEMS

if TYPE_CHECKING:  # lazy: for annotations only; the parser must start fast
    from alsim.labeling.projects import LabelingProject
    from alsim.labeling.store import LabelStore

#: ``--export`` formats: text ones need no data set; the others need the project's images or features.
EXPORTS = ("csv", "json", "imagefolder", "npz", "label-studio")
_BINARY_EXPORTS = {"imagefolder": "zip", "npz": "npz"}


def add_parser(sub) -> None:
    """The ``label`` subcommand of ``python -m alsim``."""
    p = sub.add_parser("label", help="label images yourself: the model proposes batches, you label them")
    p.add_argument("project", nargs="?", help="the project's name (letters, digits, space, _ . -)")
    p.add_argument("--data", metavar="NAME", help="data set of a new project: a built-in name, a stored id, or a "
                                                   "file or folder to import")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="FIELD=VALUE",
                   help="config field of a new project (and prefill=P, the confidence above which guesses are offered)")
    p.add_argument("--annotator", default=None, help="who labels (default: the user name)")
    p.add_argument("--source", choices=("typed", "accepted"), default="typed", help="how --add labels came about")
    action = p.add_mutually_exclusive_group(required=True)
    action.add_argument("--next", action="store_true", help="print the proposed batch, one pool id a line")
    action.add_argument("--add", nargs="+", metavar="ID=LABEL",
                        help="store labels: LABEL is a class name (names first, always), #N the class at index N, "
                             "or skip")
    action.add_argument("--undo", action="store_true",
                        help="undo your own last label (the last one stored under --annotator)")
    action.add_argument("--export", choices=EXPORTS,
                        help="print the labels as CSV or JSON, the labeled images as an ImageFolder zip "
                             "(imagefolder), the labeled items' features as .npz (X, y, items, class_names), or the "
                             "proposed batch as Label Studio tasks (label-studio; JSON, the model's guess as a "
                             "prediction)")
    action.add_argument("--import-csv", metavar="FILE",
                        help="store labels from a CSV: the export's, or one with item (or id) and label (or class) "
                             "columns")
    action.add_argument("--import-label-studio", metavar="FILE",
                        help="store labels from a Label Studio JSON export of tasks written by --export label-studio "
                             "(annotator: the Label Studio user; source label-studio; importing twice changes nothing)")
    action.add_argument("--label-studio-config", action="store_true",
                        help="print the Label Studio labeling config (XML) of the project's classes")
    studio = p.add_argument_group("Label Studio tasks (--export label-studio)")
    studio.add_argument("--all", action="store_true", dest="all_unlabeled",
                        help="every unanswered item, ordered by the strategy's score, instead of the proposed batch")
    studio.add_argument("--image-root", metavar="DIR",
                        help="write the images to DIR as <item>.png; a task's image is the file's path, or the URL "
                             "of --image-url-prefix followed by the file name")
    studio.add_argument("--image-url-prefix", metavar="URL",
                        help="where Label Studio serves DIR, e.g. http://host/images/ or /data/local-files/?d=images/")
    studio.add_argument("--embed-images", action="store_true",
                        help=f"put each image in its task as a data URI (at most {MAX_EMBED_ITEMS} images, 16 MiB)")
    action.add_argument("--check", action="store_true",
                        help="list the stored labels a cross-validated model most disagrees with (confident learning, "
                             "needs cleanlab): id, file, given label, the model's suggestion, its probability of the "
                             "given label; most doubtful first")
    action.add_argument("--list", action="store_true", help="list the projects")
    action.add_argument("--delete", action="store_true", help="delete the project and its labels")


def _dataset_argument(data: str) -> str:
    from alsim.data import store as store_module  # lazy: the store loads the importers

    if os.path.exists(data):
        return store_module.import_path(data).id
    return data


def run(args, out) -> int:
    """Run ``python -m alsim label``; errors are :class:`LabelStoreError` / :class:`ConfigError` (one line).

    Each action loads what it uses: storing a label reads the project and the store, never the data
    set's pixels or the model; ``--next`` loads the model only when the stored batch is answered.
    """
    # lazy: the parser must start fast; the labeling code loads numpy and the data sources
    from alsim.labeling.projects import (
        current_batch,
        default_annotator,
        export_csv,
        export_json,
        export_npz,
        export_zip,
        import_csv,
        open_labels,
        parse_item,
        parse_label,
        undo,
    )
    from alsim.labeling.store import LabelStore, LabelStoreError, check_project_name  # lazy: as above

    store = LabelStore()
    if args.list:
        projects = store.projects()
        if not projects:
            print(f"no labeling projects in {store.path}", file=out)
        for project in projects:
            n = len([r for r in store.labels(project.id).values() if r.label >= 0])
            print(f"{project.name:24} {project.dataset:16} {n:>7} labels  {project.created[:10]}", file=out)
        return 0
    if not args.project:
        raise LabelStoreError("give a project name (or --list)")
    check_project_name(args.project)
    if args.delete:
        if args.data or args.assignments:
            raise LabelStoreError("--delete takes the project name alone (no --data or --set)")
        removed = store.delete_project(args.project)
        print(f"deleted project {removed.name}", file=out)
        return 0
    _check_task_options(args)
    if args.export in ("csv", "json") and not args.data and not args.assignments:  # an export needs no data set
        labels = open_labels(args.project, store)
        out.write(export_csv(labels) if args.export == "csv" else export_json(labels) + "\n")
        return 0
    if args.label_studio_config:  # the class names are kept with the project: no data set needed
        from alsim.labeling.label_studio import label_config  # lazy: only this action needs it

        names = (_open_or_create(args, store) if args.data else open_labels(args.project, store)).class_names
        if not names:
            raise LabelStoreError(f"project {args.project!r} keeps no class names and its data set is gone")
        out.write(label_config(names))
        return 0
    # A binary export's stream is checked before the work: refused at once on a terminal.
    stream = _binary_stream(out, _BINARY_EXPORTS[args.export]) if args.export in _BINARY_EXPORTS else None
    project = _open_or_create(args, store)
    annotator = args.annotator or default_annotator()
    if args.next:
        batch = current_batch(project)
        for item in (batch.items if batch else ()):
            print(item, file=out)
        if batch is None:
            print("every item is answered", file=sys.stderr)
        return 0
    if args.add:
        pairs = []
        for text in args.add:
            item, sep, label = text.partition("=")
            if not sep:
                raise LabelStoreError(f"--add expects ID=LABEL, got {text[:40]!r}")
            pairs.append((parse_item(project, item), parse_label(project, label)))
        for item, label in pairs:
            project.store.set_label(project.id, item, label, annotator, args.source)
            print(f"stored {item}={_label_words(project, label)}", file=out)
            out.flush()
        return 0
    if args.check:
        _print_check(project, out)
        return 0
    if args.undo:
        change = undo(project, annotator)
        print("nothing to undo" if change is None else f"undone {change.item}={_label_words(project, change.label)}",
              file=out)
        return 0
    if stream is not None:
        stream.write(export_zip(project) if args.export == "imagefolder" else export_npz(project))
        stream.flush()
        return 0
    if args.export == "label-studio":
        from alsim.labeling.label_studio import export_tasks  # lazy: only this export needs it

        tasks = export_tasks(project, args.all_unlabeled, args.image_root, args.image_url_prefix, args.embed_images)
        out.write(json.dumps(tasks, indent=1) + "\n")
        if not tasks:
            print("every item is answered: no tasks", file=sys.stderr)
        return 0
    if args.export:
        out.write(export_csv(project) if args.export == "csv" else export_json(project) + "\n")
        return 0
    if args.import_label_studio:
        from alsim.labeling.label_studio import import_export  # lazy: only this action needs it

        summary = import_export(project, _read_limited(args.import_label_studio))
        print(summary.line(project.name), file=out)
        return 0
    print(f"imported {import_csv(project, _read_limited(args.import_csv), annotator)} labels", file=out)
    return 0


def _print_check(project: LabelingProject, out) -> None:
    """``--check``: the flagged labels as a table, then how many were checked (and why not all)."""
    # lazy: scikit-learn's cross-validation and cleanlab are loaded only to check labels
    from alsim.labeling.checks import doubtful_labels
    from alsim.labeling.projects import item_file_names

    result = doubtful_labels(project)
    names = [escape_controls(name) for name in project.class_names]
    files = item_file_names(project)
    if result.doubts:
        print(f"{'id':>8}  {'file':24}  {'given':12}  {'suggestion':12}  {'score':>6}", file=out)
    for doubt in result.doubts:
        file = (files[doubt.item] if files is not None and doubt.item < len(files) else None) or "-"
        print(f"{doubt.item:>8}  {escape_controls(file)[:24]:24}  {names[doubt.given][:12]:12}  "
              f"{names[doubt.suggestion][:12]:12}  {doubt.score:>6.3f}", file=out)
    summary = (f"{len(result.doubts)} of {result.n_checked} checked labels flagged ({result.n_labels} labels; "
               f"{result.n_folds}-fold cross-validation)" if result.n_checked else f"{result.n_labels} labels")
    print(summary + (f"; {result.note}" if result.note else ""), file=out)


def _read_limited(path: str) -> bytes:
    """A file's first MAX_IMPORT_BYTES + 1 bytes: enough to tell an import that is too large."""
    from alsim.labeling.projects import MAX_IMPORT_BYTES  # lazy: the parser must start fast
    from alsim.labeling.store import LabelStoreError  # lazy: as above

    try:
        with open(path, "rb") as handle:
            return handle.read(MAX_IMPORT_BYTES + 1)
    except OSError as exc:
        raise LabelStoreError(f"cannot read {path}: {exc.strerror or exc}") from None


def _check_task_options(args) -> None:
    from alsim.labeling.store import LabelStoreError  # lazy: the parser must start fast

    given = [flag for flag, value in (("--all", args.all_unlabeled), ("--image-root", args.image_root),
                                      ("--image-url-prefix", args.image_url_prefix),
                                      ("--embed-images", args.embed_images)) if value]
    if given and args.export != "label-studio":
        raise LabelStoreError(f"{given[0]} goes with --export label-studio")
    if args.source != "typed" and not args.add:
        raise LabelStoreError("--source says how --add labels came about: it goes with --add")


def _binary_stream(out, kind: str):
    """The byte stream under ``out`` for a zip or npz; refused on a terminal, which it would garble."""
    from alsim.labeling.store import LabelStoreError  # lazy: the parser must start fast

    stream = getattr(out, "buffer", None)
    if stream is None:
        raise LabelStoreError(f"the {kind} export is binary and this output takes text only")
    if getattr(out, "isatty", lambda: False)():
        raise LabelStoreError(f"the {kind} export is binary: redirect it to a file (> labels.{kind})")
    out.flush()
    return stream


def _open_or_create(args, store: LabelStore) -> LabelingProject:
    # lazy: the parser must start fast
    from alsim.labeling.projects import create_project, open_row, split_settings
    from alsim.labeling.store import LabelStoreError

    try:
        row = store.project(args.project)
    except LabelStoreError:
        if not args.data:
            raise
        dataset = _dataset_argument(args.data)
        # a project's dataset is a built-in name or a stored set's id (a path given to --data is imported first)
        if any(name.strip() == "dataset" and value.strip() != dataset
               for name, _, value in (a.partition("=") for a in args.assignments or ())):
            raise LabelStoreError(f"--data {args.data!r} and --set dataset=... name different data sets; give one")
        return create_project(args.project, dataset, args.assignments, store)
    project = open_row(row, store)
    if args.data and _dataset_argument(args.data) != project.config.dataset:
        raise LabelStoreError(f"project {project.name!r} labels data set {project.config.dataset!r}, "
                              f"not {args.data!r}")
    if args.assignments:
        rest, prefill = split_settings(args.assignments)
        if project.config.with_overrides(rest) != project.config or prefill not in (None, project.prefill):
            raise LabelStoreError(f"project {project.name!r} exists; its settings cannot change (create a new one)")
    return project


def _label_words(project, label: int) -> str:
    """A stored label as ``--add`` takes it: the class name, or ``skip``."""
    return escape_controls(project.class_names[label]) if label >= 0 else "skip"
