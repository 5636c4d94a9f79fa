"""``alsim presets``: the named configs and what each reproduces."""

from __future__ import annotations

from alsim.loop.presets import PRESETS


def add_parser(sub) -> None:
    sub.add_parser("presets", help="list the presets")


def run(args, out) -> int:
    for name in PRESETS:  # descriptions only: no Config is built (nor the data sources loaded)
        print(f"{name:32} {PRESETS.description(name)}", file=out)
    return 0
