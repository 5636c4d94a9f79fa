import json

import pytest

from alsim.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_digits_tutorial_table(capsys):
    code, out, err = run(capsys, "run", "--preset", "digits-tutorial")
    assert code == 0
    for value in ("0.8690", "0.9018", "0.9214", "0.9491", "0.9556"):
        assert value in out
    assert "first 60 pool points labeled (no active choice): accuracy 0.9000" in out
    from alsim import Config, run_loop

    random_line = " ".join(f"{r.accuracy:.4f}" for r in run_loop(Config(strategy="random")))
    assert f"random sampling, same settings and initial labels: accuracy {random_line}" in out


def test_json_output_can_be_checked_from_outside(capsys):
    code, out, _ = run(capsys, "run", "--preset", "digits-tutorial", "--json", "--set", "batch_size=3")
    doc = json.loads(out)
    assert code == 0 and doc["config"]["batch_size"] == 3
    assert [r["n_labeled"] for r in doc["rounds"]] == [40, 43, 46, 49, 52]
    assert all(len(r["queried"]) == 3 for r in doc["rounds"][:-1])
    assert {"n_pseudo", "accuracy", "queried"} <= set(doc["rounds"][0])
    assert doc["stop_reason"] == "rounds_done"
    assert [r["n_labeled"] for r in doc["random_arm"]] == [40, 43, 46, 49, 52]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--set", "gamma=-1"], "gamma must be > 0, got -1.0"),
        (["run", "--preset", "nope"], "unknown preset 'nope'"),
        (["run", "--set", "colour=red"], "unknown config field 'colour'"),
        (["run", "--bogus"], "unrecognized arguments: --bogus"),
        (["run", "--set", "batch_size=1000"], "batch_size must be <= the 290 unlabeled pool points"),
        (["run", "--config", "/no/such/file.json"], "cannot read --config"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert out == ""


def test_missing_fashion_says_how_to_install(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ALSIM_DATA_DIR", str(tmp_path))
    code, _, err = run(capsys, "run", "--preset", "fashion-selftrain")
    assert code == 2 and "apt-get install dataset-fashion-mnist" in err


def test_config_file(capsys, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"n_rounds": 2, "strategy": "margin"}))
    code, out, _ = run(capsys, "run", "--config", str(path), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["config"]["strategy"] == "margin" and len(doc["rounds"]) == 2
