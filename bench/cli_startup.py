"""Start-up of the command line: how long a person waits for a command that does little work.

    python bench/cli_startup.py [--reps 7] [--reference /tmp/ref]

Times, as separate processes (``python -m alsim ...``, as the ``alsim`` script runs it):

- ``--help`` and ``run --help``: the parser alone;
- ``label P --next`` while the proposed batch is still open: it is read from the label store;
- ``label P --add ID=CLASS``: one label stored;
- ``label P --next`` right after the batch was answered: the model is refitted on the stored
  labels and a new batch proposed (``refit``); a person labeling from a script meets this once
  per batch. The project's model state is in the disk cache (the first proposal wrote it).

P is a labeling project on the built-in digits (1,797 images, label spreading with an rbf
graph, entropy, batches of 8), in a temporary ``ALSIM_HOME`` and ``ALSIM_CACHE_DIR`` per
checkout. ``--reference DIR`` runs the same commands from another checkout (e.g. ``git
worktree add /tmp/ref <commit>``), alternating with this one command by command, so both see
the same machine load. The table gives the median wall time and the median CPU time (user +
system of the process) over ``--reps`` repetitions, and the ratio of the medians; the load
average is printed before and after. The commands run as an installed package does, with
Python's bytecode cache (``PYTHONDONTWRITEBYTECODE`` is cleared for them; the set-up calls
write it), so the times are start-up and work, not compiling the sources.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "bench"


class Checkout:
    """One checkout with its own label store and disk cache."""

    def __init__(self, root: Path, scratch: Path, name: str):
        self.root = root
        self.env = {**os.environ, "PYTHONPATH": str(root), "ALSIM_HOME": str(scratch / name / "home"),
                    "ALSIM_CACHE_DIR": str(scratch / name / "cache")}
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)

    def run(self, *args: str) -> tuple[float, float, str]:
        """(wall seconds, CPU seconds, stdout) of ``python -m alsim ARGS``."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "alsim", *args], cwd=self.root, env=self.env,
                              capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"{self.root}: alsim {' '.join(args)} failed:\n{done.stderr}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return wall, cpu, done.stdout

    def batch(self) -> list[int]:
        return [int(line) for line in self.run("label", PROJECT, "--next")[2].split()]

    def answer_batch(self) -> None:
        """Label every item of the open batch (the digit's class is the item id mod 10: any labels do)."""
        self.run("label", PROJECT, "--add", *(f"{item}={item % 10}" for item in self.batch()))


def measure(checkout: Checkout, step: str) -> tuple[float, float]:
    if step == "--help":
        return checkout.run("--help")[:2]
    if step == "run --help":
        return checkout.run("run", "--help")[:2]
    if step == "label --next (open batch)":
        return checkout.run("label", PROJECT, "--next")[:2]
    if step == "label --add":
        item = checkout.batch()[0]
        return checkout.run("label", PROJECT, "--add", f"{item}={item % 10}")[:2]
    if step == "label --next (refit)":
        checkout.answer_batch()
        return checkout.run("label", PROJECT, "--next")[:2]
    raise ValueError(step)


STEPS = ("--help", "run --help", "label --next (open batch)", "label --add", "label --next (refit)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--reference", metavar="DIR", help="another checkout, timed alongside")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alsim-cli-bench-") as scratch:
        checkouts = {"this": Checkout(ROOT, Path(scratch), "this")}
        if args.reference:
            checkouts["reference"] = Checkout(Path(args.reference).resolve(), Path(scratch), "reference")
        for checkout in checkouts.values():
            checkout.run("label", PROJECT, "--data", "digits", "--next")  # creates it; writes the model state
            checkout.answer_batch()
            checkout.run("label", PROJECT, "--next")
        load_before = os.getloadavg()
        times = {(name, step): [] for name in checkouts for step in STEPS}
        for _ in range(args.reps):
            for step in STEPS:
                for name, checkout in checkouts.items():
                    times[name, step].append(measure(checkout, step))
        load_after = os.getloadavg()
    print(f"python -m alsim, {args.reps} repetitions, median seconds; load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after, {os.cpu_count()} CPUs")
    header = f"{'command':28} {'wall':>7} {'cpu':>7}"
    if args.reference:
        header += f" {'ref wall':>9} {'ref cpu':>8} {'wall ratio':>11} {'cpu ratio':>10}"
    print(header)
    for step in STEPS:
        wall = statistics.median(t[0] for t in times["this", step])
        cpu = statistics.median(t[1] for t in times["this", step])
        row = f"{step:28} {wall:7.3f} {cpu:7.3f}"
        if args.reference:
            ref_wall = statistics.median(t[0] for t in times["reference", step])
            ref_cpu = statistics.median(t[1] for t in times["reference", step])
            row += f" {ref_wall:9.3f} {ref_cpu:8.3f} {wall / ref_wall:11.2f} {cpu / ref_cpu:10.2f}"
        print(row)


if __name__ == "__main__":
    main()
