"""``alsim warm``: prepare the caches a demo needs (data, features, graphs) ahead of time."""

from __future__ import annotations

import time

from alsim.loop.presets import get_preset


def add_parser(sub) -> None:
    p = sub.add_parser("warm", help="prepare the caches a demo needs (data, features, graphs) ahead of time")
    p.add_argument("--presets", default=None, metavar="A,B", help="comma-separated presets (default: all)")
    p.add_argument("--skip-fashion", action="store_true", help="leave out the Fashion-MNIST presets")


def run(args, out) -> int:
    """Prepare every cache a demo needs; print each step and its time."""
    from alsim.loop.presets import warm  # lazy: warming loads the loop (scikit-learn, SciPy)
    from alsim.storage.disk import cache_dir  # lazy: the disk cache loads numpy

    names = None
    if args.presets:
        names = [n.strip() for n in args.presets.split(",") if n.strip()]
        for name in names:
            get_preset(name)  # an unknown name is a usage error before any work
    started = time.perf_counter()
    count = 0

    def skipped(name, reason):
        print(f"{name:32} skipped: {reason}", file=out)

    for step in warm(names, skip_fashion=args.skip_fashion, on_skip=skipped):
        count += 1
        print(f"{step.preset:32} {step.step:16} {step.detail:40} {step.seconds:8.2f} s", file=out)
        out.flush()
    print(f"{count} steps in {time.perf_counter() - started:.2f} s; disk cache: {cache_dir()}", file=out)
    return 0
