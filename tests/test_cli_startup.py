"""The command line loads only what a command uses: its help needs no numerical library, and
storing a label or reading the open batch needs no SciPy, scikit-learn or data set.

Asserted on the modules a fresh process has loaded (never on time; ``bench/cli_startup.py``
measures the time)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from alsim.cli.main import COMMANDS
from alsim.labeling import projects as labeling

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numpy", "scipy", "sklearn", "pandas", "streamlit", "cv2", "plotly", "dask", "joblib")

# Runs the command line in this process and prints, as JSON, which heavy packages it loaded.
PROBE = """
import contextlib, io, json, sys
from alsim.cli.main import main
heavy = {heavy!r}
loaded = {{}}
for argv in {argvs!r}:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main(argv, out=out)
        except SystemExit as exc:  # --help exits
            code = exc.code
    loaded[" ".join(argv)] = [code, out.getvalue(), sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy))]
print(json.dumps(loaded))
"""


def probe(argvs: list[list[str]], skip: tuple[str, ...] = ()) -> dict:
    """``{command line: [exit code, stdout, heavy packages loaded]}``; the commands run in order in one
    fresh process."""
    code = PROBE.format(heavy=tuple(h for h in HEAVY if h not in skip), argvs=argvs)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_help_of_every_command_loads_no_numerical_library():
    argvs = [["--help"]] + [[name, "--help"] for name in COMMANDS if name != "serve"] + [["data", "add", "--help"]]
    loaded = probe(argvs)
    assert set(loaded) == {" ".join(argv) for argv in argvs}
    for command, (code, text, heavy) in loaded.items():
        assert code == 0 and text.startswith("usage:"), command
        assert heavy == [], f"`alsim {command}` loaded {heavy}"
    # the help still names what it names (read from the core, not copied)
    from alsim.labeling.label_studio import MAX_EMBED_ITEMS
    from alsim.loop.presets import PRESETS

    run_help, label_help = ("".join(loaded[command][1].split()) for command in ("run --help", "label --help"))
    assert all(name in run_help for name in PRESETS)  # argparse wraps lines (after hyphens too)
    assert f"atmost{MAX_EMBED_ITEMS}images" in label_help


def test_storing_a_label_and_reading_the_open_batch_load_no_scipy_nor_the_data_set():
    project = labeling.create_project("quick", "digits", ["pool_size=200"])
    batch = labeling.current_batch(project)
    item = batch.items[0]
    loaded = probe([["label", "quick", "--add", f"{item}=7", f"{batch.items[1]}=#3"],
                    ["label", "quick", "--next"]], skip=("numpy",))
    code, text, heavy = loaded[f"label quick --add {item}=7 {batch.items[1]}=#3"]
    assert (code, heavy) == (0, []), text
    assert text.splitlines() == [f"stored {item}=7", f"stored {batch.items[1]}=3"]
    code, text, heavy = loaded["label quick --next"]
    assert (code, heavy) == (0, [])
    assert [int(line) for line in text.split()] == list(batch.items)  # the open batch, from the store
    labels = project.store.labels(project.id)
    assert (labels[item].label, labels[batch.items[1]].label) == (7, 3)


def test_a_project_keeps_its_class_names_and_pool_size(monkeypatch):
    project = labeling.create_project("kept", "digits")
    assert project.kept == {"class_names": [str(i) for i in range(10)], "n_items": 1797}
    reopened = labeling.open_project("kept")

    def no_load(*args):
        raise AssertionError("the data set was loaded")

    monkeypatch.setattr(labeling, "load_source", no_load)
    assert reopened.class_names == tuple(str(i) for i in range(10)) and reopened.n_pool == 1797
    assert labeling.parse_label(reopened, "4") == 4 and labeling.parse_item(reopened, "1796") == 1796


def test_a_project_from_before_they_were_kept_reads_its_data_set():
    project = labeling.create_project("older", "digits-tutorial")
    with sqlite3.connect(project.store.path) as db:
        settings = json.loads(db.execute("SELECT config FROM projects WHERE id = ?", (project.id,)).fetchone()[0])
        settings.pop("class_names"), settings.pop("n_items")
        db.execute("UPDATE projects SET config = ? WHERE id = ?", (json.dumps(settings), project.id))
    reopened = labeling.open_project("older")
    assert reopened.kept == {}
    assert reopened.n_pool == 330 and reopened.class_names == tuple(str(i) for i in range(10))
