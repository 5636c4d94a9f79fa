"""``alsim data add|list|remove``: the local data store."""

from __future__ import annotations

import time

from alsim.cli.common import Parser, integer_argument
from alsim.common.text import escape_controls


def add_import_options(p) -> None:
    """How images are imported: side, colour, the unlabeled folder, limits and CSV columns."""
    p.add_argument("--side", type=integer_argument, default=28,
                   help="images are resized to SIDE x SIDE pixels for the features (default 28)")
    p.add_argument("--color", choices=("gray", "color", "auto"), default="gray",
                   help="gray (default), or keep colour (auto: if some image has colour)")
    p.add_argument("--unlabeled-dir", default="unlabeled", help="folder of images without a label")
    p.add_argument("--max-bytes", type=integer_argument, default=None,
                   help="largest input accepted (default 1 GiB, or $ALSIM_MAX_IMPORT_BYTES)")
    p.add_argument("--label-column", default=None, help="label column of a .csv / .parquet")
    p.add_argument("--image-column", default=None, help="image-path column of a .csv / .parquet")


def import_options(args):
    """The :class:`alsim.data.importers.ImportOptions` of the flags above."""
    from alsim.data.importers import ImportOptions  # lazy: the importers load OpenCV

    return ImportOptions(side=args.side, color=args.color, unlabeled_dir=args.unlabeled_dir,
                         max_bytes=args.max_bytes, label_column=args.label_column, image_column=args.image_column)


def add_parser(sub) -> None:
    data = sub.add_parser("data", help="the local data store: import (add), list and remove data sets")
    data_sub = data.add_subparsers(dest="data_command", required=True, parser_class=Parser)
    add = data_sub.add_parser("add", help="import a folder, .zip, .npz, .csv or .parquet into the store")
    add.add_argument("path")
    add.add_argument("--name", help="the name shown in lists (default: the file's name)")
    add_import_options(add)
    listing = data_sub.add_parser("list", help="list the stored data sets")
    listing.add_argument("--json", action="store_true")
    remove = data_sub.add_parser("remove", help="delete a stored data set")
    remove.add_argument("id")
    remove.add_argument("--force", action="store_true",
                        help="remove it even if labeling projects label it (their labels stay exportable)")


def run(args, out) -> int:
    from alsim.common.jsonio import write_json  # lazy: numpy, which the parser does not need
    from alsim.data import store  # lazy: the store loads the importers (OpenCV)
    from alsim.labeling.projects import remove_dataset  # lazy: the labeling projects load the loop

    if args.data_command == "add":
        started = time.perf_counter()
        entry = store.import_path(args.path, name=args.name, options=import_options(args))
        m = entry.manifest
        print(f"{entry.id}  {entry.name}: {m['n']:,} {'images' if m['image_shape'] else 'points'}"
              f" ({m['n_unlabeled']:,} unlabeled), {len(m['class_names'])} classes, features "
              f"{', '.join(m['features'])}; stored in {time.perf_counter() - started:.2f} s", file=out)
        print("  per class: " + ", ".join(f"{escape_controls(name)} {count}" for name, count in m["counts"].items()),
              file=out)
        for line in m.get("notes", []):
            print(f"  note: {escape_controls(line)}", file=out)
        print(f"  run it: python -m alsim run --data {entry.id}", file=out)
        return 0
    if args.data_command == "remove":
        entry = remove_dataset(args.id, force=args.force)
        print(f"removed {entry.id}  {entry.name}", file=out)
        return 0
    entries = store.list_sets()
    if args.json:
        write_json({"store": str(store.store_dir()), "datasets": [e.manifest for e in entries],
                    "damaged": [str(folder) for folder in store.damaged_sets()]}, out)
        return 0
    damaged = store.damaged_sets()
    if not entries and not damaged:
        print(f"no data sets in {store.store_dir()}; add one with `python -m alsim data add PATH`", file=out)
    for entry in entries:
        m = entry.manifest
        shape = "x".join(map(str, m["image_shape"])) if m.get("image_shape") else f"d={m.get('embedding_dim')}"
        print(f"{entry.id}  {entry.name:24} {m['n']:>8,} points {len(m['class_names']):>4} classes  {shape:>10}  "
              f"{m.get('created', '')[:10]}  {escape_controls(m.get('source_file', ''))}", file=out)
    for folder in damaged:
        print(f"{folder.name[:store.SHORT_ID]}  damaged: its manifest cannot be read ({escape_controls(str(folder))}); "
              f"import the same data again to repair it, or `python -m alsim data remove {folder.name[:store.SHORT_ID]}`",
              file=out)
    return 0
