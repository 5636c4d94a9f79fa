import json
import re

import pytest

from alsim.cli.main import main


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
        (["run", "--set", "gamma=-1"], "gamma must be in (0, 1000], got -1.0"),
        (["run", "--preset", "nope"], "unknown preset 'nope'"),
        (["run", "--set", "colour=red"], "unknown config field 'colour'"),
        (["run", "--bogus"], "unrecognized arguments: --bogus"),
        (["run", "--set", "batch_size=1000"], "batch_size must be <= the 290 unlabeled pool points"),
        (["run", "--config", "/no/such/file.json"], "cannot read --config"),
        # a report that cannot be written is refused before the run, not after it
        (["run", "--report", "/no/such/folder/r.html"], "--report '/no/such/folder/r.html': the folder "
                                                         "'/no/such/folder' does not exist"),
        (["compare", "--set", "initial=random", "--seeds", "2", "--report", "/"], "--report '/' is a folder"),
        # an option that would be ignored is refused
        (["run", "--per-point"], "--per-point adds per-point values to the JSON: it goes with --json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert out == ""


def test_output_the_system_refuses_is_one_line_and_exit_2(capsys):
    """A full disk or output (``> /dev/full``) ends in one line, not a traceback."""
    import errno

    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

    assert main(["presets"], out=Full()) == 2
    out, err = capsys.readouterr()
    assert err == "alsim: error: No space left on device\n" and out == ""


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


def _one_error_line(err: str) -> str:
    assert err.startswith("alsim: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err


@pytest.fixture
def config_files(tmp_path):
    files = {
        "thresholds": b'{"thresholds": 5}',
        "latin1": '{"strategy": "marg\u00e9"}'.encode("latin-1"),
        "nested": b"[" * 100_000 + b"]" * 100_000,
        "bigint": b'{"seed": 1' + b"0" * 5000 + b"}",
    }
    for name, raw in files.items():
        (tmp_path / f"{name}.json").write_bytes(raw)
    return tmp_path


QUICK_COMPARE = ["compare", "--seeds", "1", "--strategies", "entropy", "--set", "n_rounds=2"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--config", "{dir}/thresholds.json"], "thresholds must be a list of numbers, got 5"),
        (["run", "--config", "{dir}/latin1.json"], "config is not UTF-8 text: byte 18 is 0xe9"),
        (["run", "--config", "{dir}/nested.json"], "config JSON is nested too deeply"),
        (["run", "--config", "{dir}/bigint.json"], "config is not valid JSON: Exceeds the limit (4300 digits)"),
        (["run", "--config", "/dev/zero"], "--config /dev/zero is larger than 1 MiB, the limit for a config file"),
        (["run", "--config", "{dir}"], "cannot read --config"),
        (["run", "--set", "batch_size=٣"], "batch_size expects an integer such as 5, got '٣'"),
        (["run", "--set", "batch_size=3_0"], "batch_size expects an integer such as 5, got '3_0'"),
        (["run", "--set", "gamma=nan"], "gamma expects a number (such as 0.25 or 1e-3), got 'nan'"),
        (["run", "--set", "gamma=1e308"], "gamma must be in (0, 1000], got 1e+308"),
        (["run", "--set", "C=1e300"], "C must be in (0, 10000], got 1e+300"),
        (QUICK_COMPARE + ["--target", "nan"], "argument --target: expects a number such as 0.9, got 'nan'"),
        (QUICK_COMPARE + ["--target", "-1"], "target must be an accuracy in (0, 1], got -1.0"),
        (QUICK_COMPARE + ["--target", "2"], "target must be an accuracy in (0, 1], got 2.0"),
        (QUICK_COMPARE + ["--target", "0"], "target must be an accuracy in (0, 1], got 0.0"),
        (QUICK_COMPARE + ["--seeds", "0"], "seeds must be an integer in [1, 1000], got 0"),
        (QUICK_COMPARE + ["--seeds", "٣"], "argument --seeds: expects an integer such as 5, got '٣'"),
        (QUICK_COMPARE + ["--strategies", "entropy,margin,entropy"],
         "strategies must be distinct; 'entropy' is listed more than once"),
        (["compare", "--set", "seed=4294967295", "--set", "initial=random", "--seeds", "2"],
         "seeds 4294967295..4294967296 go beyond the largest seed 4294967295"),
        (QUICK_COMPARE + ["--workers", "0"], "workers must be in [1, 64], got 0"),
    ],
)
def test_bad_values_exit_2_with_one_line(capsys, config_files, argv, message):
    code, out, err = run(capsys, *[a.replace("{dir}", str(config_files)) for a in argv])
    assert code == 2 and out == ""
    assert message in _one_error_line(err)


def test_config_file_fields_apply_over_the_preset(capsys, tmp_path):
    from alsim import get_preset

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"n_rounds": 2, "batch_size": 7}))
    code, out, _ = run(capsys, "run", "--preset", "digits-compare", "--config", str(path), "--json", "--no-baseline")
    doc = json.loads(out)
    assert code == 0
    assert doc["config"] == get_preset("digits-compare").replace(n_rounds=2, batch_size=7).to_dict()
    assert [r["n_labeled"] for r in doc["rounds"]] == [40, 47]


def _strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_run_json_writes_null_for_missing_values(capsys):
    # The second fit has no unlabeled pool point left to evaluate on.
    code, out, _ = run(capsys, "run", "--json", "--no-baseline", "--set", "batch_size=290", "--set", "n_rounds=2")
    doc = _strict_json(out)
    assert code == 0 and doc["stop_reason"] is not None
    assert doc["rounds"][0]["accuracy"] == pytest.approx(0.8689655172413793)
    assert doc["rounds"][1]["n_labeled"] == 330
    assert doc["rounds"][1]["accuracy"] is None and doc["rounds"][1]["macro_f1"] is None


def test_compare_json_writes_null_for_missing_values(capsys):
    code, out, _ = run(capsys, "compare", "--json", "--seeds", "1", "--strategies", "entropy,random", "--target",
                       "0.9", "--set", "batch_size=290", "--set", "n_rounds=2")
    doc = _strict_json(out)
    assert code == 0
    assert [c["accuracy"][1] for c in doc["curves"]] == [None, None]  # the round that labeled the whole pool
    # the summary ends at the last scored round, as a single run shows it: AULC of round 0 alone
    first = {c["strategy"]: c["accuracy"][0] for c in doc["curves"]}
    assert {s["strategy"]: s["aulc_mean"] for s in doc["summary"]["strategies"]} == first
    assert None not in first.values()


def test_json_ready_golden():
    import numpy as np

    from alsim.common.jsonio import json_ready

    value = {"a": (1.5, float("nan")), "b": [float("inf"), -float("inf")], "c": np.float32(0.5),
             "d": np.array([1.0, np.nan]), "e": None, "f": "nan"}
    assert json_ready(value) == {"a": [1.5, None], "b": [None, None], "c": 0.5, "d": [1.0, None], "e": None,
                                 "f": "nan"}


def test_fashion_images_of_another_size_exit_2(capsys, tmp_path, monkeypatch):
    import numpy as np

    from alsim.data.datasets import FASHION_FILES, write_idx

    write_idx(tmp_path / FASHION_FILES["train_images"], np.zeros((20, 32, 32), np.uint8))
    write_idx(tmp_path / FASHION_FILES["train_labels"], np.arange(20, dtype=np.uint8) % 10)
    write_idx(tmp_path / FASHION_FILES["test_images"], np.zeros((10, 32, 32), np.uint8))
    write_idx(tmp_path / FASHION_FILES["test_labels"], np.arange(10, dtype=np.uint8))
    monkeypatch.setenv("ALSIM_DATA_DIR", str(tmp_path))
    code, out, err = run(capsys, "run", "--preset", "fashion-selftrain")
    assert code == 2 and out == ""
    assert "train images in" in _one_error_line(err) and "are 32x32 pixels" in err and "not 28x28" in err


def test_compare_prints_a_line_per_finished_seed_and_the_same_numbers_on_one_process(capsys):
    argv = ["compare", "--preset", "digits-compare", "--seeds", "3", "--strategies", "entropy,random", "--set",
            "n_rounds=2", "--set", "pool_size=300", "--json"]
    code, out, err = run(capsys, *argv, "--workers", "1")
    assert code == 0
    seed = json.loads(out)["seeds"][0]
    lines = [line for line in err.splitlines() if line.startswith("seed ")]
    assert len(lines) == 3
    for i, line in enumerate(lines):  # in seed order, with the time so far
        assert re.fullmatch(rf"seed {seed + i} done: {i + 1} of 3 \(\d+\.\d s\)", line), line
    code, out_default, _ = run(capsys, *argv)
    assert code == 0 and json.loads(out_default)["curves"] == json.loads(out)["curves"]


def test_progress_line_shows_only_steps_that_take_a_while(monkeypatch):
    """A step done within half a second prints nothing (an error after it stays the only line);
    a longer one is shown from half a second on, and ends with a newline."""
    import io

    from alsim.cli import common

    clock = [100.0]
    monkeypatch.setattr(common.time, "perf_counter", lambda: clock[0])
    quick = io.StringIO()
    line = common.ProgressLine("embedding images", quick)
    line(0, 10)
    clock[0] += 0.4
    line(10, 10)
    assert quick.getvalue() == ""
    slow = io.StringIO()
    line = common.ProgressLine("embedding images", slow)
    line(0, 10)
    clock[0] += 0.6
    line(3, 10)
    clock[0] += 0.1
    line(4, 10)  # within half a second of the last line: not rewritten
    clock[0] += 1.3
    line(10, 10)
    assert slow.getvalue() == ("\rembedding images: 3/10 (30%, 5/s, about 1 s left)"
                               "\rembedding images: 10/10 (100%, 5/s)\n")


def _run_cli(*argv) -> tuple[int, str]:
    import io

    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_run_prints_each_score_in_its_column_and_the_json_random_arm_its_accuracy():
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    from alsim import Config, run_loop
    from alsim.loop.pool import prepare

    truth = prepare(Config()).labels

    def scores(record):
        hidden = record.status == 0
        return (accuracy_score(truth[hidden], record.predicted[hidden]),
                f1_score(truth[hidden], record.predicted[hidden], labels=range(10), average="macro"))

    active, random = list(run_loop(Config())), list(run_loop(Config(strategy="random")))
    code, out = _run_cli("run", "--preset", "digits-tutorial")
    lines = out.splitlines()
    header = next(line.split() for line in lines if line.split()[:1] == ["round"])
    first = next(line.split() for line in lines if line.split()[:2] == ["0", "40"])
    accuracy, macro_f1 = scores(active[0])
    assert code == 0 and first[header.index("accuracy")] == f"{accuracy:.4f}"
    assert first[header.index("macro_f1")] == f"{macro_f1:.4f}"
    assert re.fullmatch(r"\d+\.\d\d", first[header.index("seconds")])  # seconds to 2 places
    code, out = _run_cli("run", "--preset", "digits-tutorial", "--json")
    doc = json.loads(out)
    assert [arm["accuracy"] for arm in doc["random_arm"]] == pytest.approx([scores(r)[0] for r in random], abs=1e-12)
    assert not np.allclose([scores(r)[0] for r in random], [scores(r)[1] for r in random])  # the two differ


def test_compare_prints_the_spread_of_the_final_scores_beside_them():
    import numpy as np

    code, out = _run_cli("compare", "--set", "initial=random", "--strategies", "entropy,random", "--seeds", "3", "--json")
    doc = json.loads(out)
    finals = {}
    for curve in doc["curves"]:
        finals.setdefault(curve["strategy"], []).append([a for a in curve["accuracy"] if a is not None][-1])
    for s in doc["summary"]["strategies"]:
        assert s["final_std"] == pytest.approx(np.std(finals[s["strategy"]], ddof=1))
        assert s["final_mean"] == pytest.approx(np.mean(finals[s["strategy"]]))
    code, out = _run_cli("compare", "--set", "initial=random", "--strategies", "entropy,random", "--seeds", "3")
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["entropy"])
    assert row[3] == f"{np.mean(finals['entropy']):.4f}" and row[4] == f"{np.std(finals['entropy'], ddof=1):.4f}"
