"""Demo readiness: `alsim warm` prepares the caches ahead of time; the shipped example config runs."""

import json
from pathlib import Path

from alsim import Config
from alsim.cli.main import main
from alsim.loop.presets import PRESETS, warm

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "my-run.json"


def test_warm_prepares_data_features_and_graph_per_preset():
    steps = list(warm(["digits-tutorial", "digits-compare"]))
    assert [(s.preset, s.step) for s in steps] == [
        ("digits-tutorial", "data"), ("digits-tutorial", "features"), ("digits-tutorial", "graph"),
        ("digits-compare", "data"), ("digits-compare", "features"), ("digits-compare", "graph")]
    assert steps[0].detail == "digits-tutorial: 330 images" and steps[4].detail == "raw, 1,797 x 64"
    assert all(s.seconds >= 0 for s in steps)


def test_warm_skips_fashion_when_asked_or_absent(tmp_path, monkeypatch):
    skipped = []
    steps = list(warm(skip_fashion=True, on_skip=lambda name, why: skipped.append((name, why))))
    fashion = [name for name, (_, config) in PRESETS.items() if config.dataset == "fashion-mnist"]
    assert [name for name, _ in skipped] == fashion and {why for _, why in skipped} == {"--skip-fashion"}
    assert {s.preset for s in steps} == set(PRESETS) - set(fashion)
    monkeypatch.setenv("ALSIM_DATA_DIR", str(tmp_path))  # no IDX files there
    skipped.clear()
    list(warm(["fashion-selftrain"], on_skip=lambda name, why: skipped.append((name, why))))
    assert skipped and "apt-get install dataset-fashion-mnist" in skipped[0][1]


def test_warm_command_prints_each_step_and_its_time(capsys):
    assert main(["warm", "--presets", "digits-tutorial", "--skip-fashion"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["digits-tutorial", "data"] and out[0].endswith(" s")
    assert out[2].split()[:2] == ["digits-tutorial", "graph"]
    assert out[-1].startswith("3 steps in ") and "disk cache:" in out[-1]


def test_warm_command_refuses_an_unknown_preset(capsys):
    assert main(["warm", "--presets", "digits-tutorial,nope"]) == 2
    captured = capsys.readouterr()
    assert "unknown preset 'nope'" in captured.err and captured.out == ""


def test_example_config_is_valid_and_runs(capsys):
    config = Config.from_json(EXAMPLE.read_bytes())
    assert config.strategy == "margin" and config.dataset == "digits"
    assert main(["run", "--config", str(EXAMPLE), "--json", "--no-baseline"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["config"]["n_initial"] == 20 and len(doc["rounds"]) == config.n_rounds
    assert [r["n_labeled"] for r in doc["rounds"]] == [20, 30, 40, 50, 60, 70]
    assert doc["stop_reason"] == "rounds_done"


def test_preset_descriptions_state_no_measured_numbers():
    import re

    for name, (description, _) in PRESETS.items():
        assert not re.search(r"about \d|~\d|\d+(\.\d+)?\s*(s|ms|seconds)\b|\d%", description), (name, description)
