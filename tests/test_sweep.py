"""Sweeps on Dask: grid parsing, task plans, the results store, resume, analysis, CLI errors.

The cluster tests use a tiny digits grid (200-point pool, 3 fits): a 2-worker local
cluster gives the same numbers as ``--workers 1`` cell by cell, and a sweep killed with
SIGKILL resumes with exactly its missing cells.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alsim import Config, get_preset, run_loop
from alsim.cli.main import main
from alsim.evidence.verdict import holm
from alsim.sweep import (
    ResultStore,
    SweepError,
    SweepSpec,
    gain_heatmap,
    parquet_available,
    parse_grid,
    plan_tasks,
    prepare_sweep,
    run_sweep,
    summarize_sweep,
)
from alsim.sweep.store import JSONL, PARTS

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--preset", "digits-compare", "--set", "pool_size=200", "--set", "n_initial=20", "--set", "n_rounds=3",
        "--grid", "gamma=0.1,0.25", "--grid", "batch_size=5,10", "--strategies", "entropy,random"]


def tiny_spec(n_seeds: int) -> SweepSpec:
    base = get_preset("digits-compare").replace(pool_size=200, n_initial=20, n_rounds=3)
    return SweepSpec(base, parse_grid(["gamma=0.1,0.25", "batch_size=5,10"], base), ("entropy", "random"), n_seeds)


def stored(folder) -> dict[str, dict]:
    return {row["config_hash"]: row for row in ResultStore(folder).rows()}


# --------------------------------------------------------------------------- grid and plan
def test_grid_values_are_parsed_by_field_type():
    base = get_preset("digits-compare")
    grid = parse_grid(["gamma=0.1, 0.25", "batch_size=5,10", "initial=random,stratified"], base)
    assert grid == (("gamma", (0.1, 0.25)), ("batch_size", (5, 10)), ("initial", ("random", "stratified")))


@pytest.mark.parametrize("item, message", [
    ("gama=0.1", "unknown config field 'gama'"),
    ("gamma=0.1,abc", "gamma expects a number"),
    ("gamma=0.1,0.1", "listed more than once"),
    ("gamma=0.1,,0.2", "without blanks"),
    ("strategy=entropy", "give strategies with --strategies"),
    ("seed=1,2", "give the number of seeds with --seeds"),
    ("gamma", "expects field=value1,value2"),
])
def test_bad_grid_items_name_the_problem(item, message):
    with pytest.raises(SweepError, match=message):
        parse_grid([item], get_preset("digits-compare"))


def test_a_value_that_fails_config_validation_is_refused_before_any_work():
    base = get_preset("digits-compare")
    with pytest.raises(SweepError, match=r"--grid gamma=-1: gamma must be in \(0, 1000\]"):
        parse_grid(["gamma=-1"], base)
    spec = SweepSpec(base, parse_grid(["batch_size=5,5000"], base), ("entropy", "random"), 2)
    with pytest.raises(SweepError, match="batch_size must be <="):
        prepare_sweep(spec)


def test_tasks_batch_cells_that_share_a_graph_and_do_not_depend_on_what_is_done():
    spec = tiny_spec(n_seeds=6)
    cells = prepare_sweep(spec)
    assert len(cells) == spec.n_cells == 2 * 2 * 2 * 6
    assert len({c.key for c in cells}) == len(cells)
    tasks = plan_tasks(spec, cells, cells_per_task=8)
    # one gamma per task (one graph), both batch sizes and strategies, 2 seeds (4 cells per seed)
    assert len(tasks) == 2 * 3
    for task in tasks:
        assert len({c.config.gamma for c in task.cells}) == 1
        assert len({c.config.seed for c in task.cells}) == 2 and len(task.cells) == 8
    done = {tasks[0].cells[0].key, tasks[2].cells[3].key}
    resumed = plan_tasks(spec, cells, done, cells_per_task=8)
    assert [c.key for t in resumed for c in t.cells] == [c.key for t in tasks for c in t.cells if c.key not in done]


def test_a_graph_s_seeds_are_cut_into_chunks_of_nearly_equal_size():
    spec = tiny_spec(n_seeds=7)
    cells = prepare_sweep(spec)
    tasks = plan_tasks(spec, cells, cells_per_task=12)  # 4 cells per seed and graph: at most 3 seeds a task
    assert sorted(c.key for t in tasks for c in t.cells) == sorted(c.key for c in cells)
    seeds_per_task = [len({c.config.seed for c in t.cells}) for t in tasks]
    assert len(tasks) == 2 * 3 and sorted(seeds_per_task) == [2, 2, 2, 2, 3, 3]  # not 3, 3, 1
    assert all(len(t.cells) <= 12 for t in tasks)


# --------------------------------------------------------------------------- store
ROW = {"config_hash": "a" * 32, "point_hash": "p" * 16, "point": '{"gamma":0.1}', "config": "{}",
       "strategy": "entropy", "seed": 0, "labels": [20, 25, 30], "accuracy": [0.5, 0.6, 0.7], "aulc": 0.6,
       "final_accuracy": 0.7, "target": 0.65, "target_rule": "chosen by the user", "labels_to_target": 30,
       "stop_reason": "rounds_done", "cell_seconds": 0.1, "task_seconds": 0.4, "task_cells": 4,
       "worker": "w", "finished_at": "2026-01-01T00:00:00+00:00"}


def _row(i: int, **changes) -> dict:
    return {**ROW, "config_hash": f"{i:032d}", "seed": i, **changes}


def test_jsonl_store_ignores_a_torn_last_line_and_repairs_it_on_append(tmp_path):
    store = ResultStore(tmp_path, format="jsonl").open_for_writing(target=0.65)
    store.append([_row(0), _row(1, labels_to_target=None)])
    with open(tmp_path / JSONL, "ab") as handle:  # a write cut short by a kill
        handle.write(json.dumps(_row(2))[:40].encode())
    assert sorted(stored(tmp_path)) == [f"{0:032d}", f"{1:032d}"]
    store.append([_row(3)])
    store.close()
    lines = (tmp_path / JSONL).read_text().splitlines()
    assert [json.loads(line)["seed"] for line in lines] == [0, 1, 3]
    assert stored(tmp_path)[f"{1:032d}"]["labels_to_target"] is None


@pytest.mark.skipif(not parquet_available(), reason="pyarrow is not installed")
def test_parquet_store_reads_back_what_jsonl_stores(tmp_path):
    rows = [_row(0), _row(1, labels_to_target=None), _row(0)]  # a cell stored twice is read once
    for fmt in ("parquet", "jsonl"):
        with ResultStore(tmp_path / fmt, format=fmt).open_for_writing(target=0.65) as store:
            store.append(rows[:2])
            store.append(rows[2:])
    assert stored(tmp_path / "parquet") == stored(tmp_path / "jsonl")
    assert len(list((tmp_path / "parquet" / PARTS).glob("part-*.parquet"))) == 2
    frame = ResultStore(tmp_path / "parquet").frame()
    assert frame["grid.gamma"].tolist() == [0.1, 0.1]


def test_a_store_refuses_a_second_writer_and_another_target(tmp_path):
    with ResultStore(tmp_path, format="jsonl").open_for_writing(target=None) as store:
        store.append([_row(0)])
        with pytest.raises(SweepError, match="another sweep is writing"):
            ResultStore(tmp_path).open_for_writing(target=None)
    with pytest.raises(SweepError, match="holds cells computed with target 95% of the fully labeled"):
        ResultStore(tmp_path).open_for_writing(target=0.9)
    ResultStore(tmp_path).open_for_writing(target=None).close()


# --------------------------------------------------------------------------- analysis
def test_holm_leaves_missing_p_values_out_of_the_family():
    adjusted = holm([0.01, 0.04, None, 0.03, 0.005])
    np.testing.assert_allclose([adjusted[i] for i in (0, 1, 3, 4)], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adjusted[2])
    np.testing.assert_allclose(holm([0.6, float("nan"), 0.9]), [1.0, np.nan, 1.0])


def _synthetic_frame(n_seeds: int = 8) -> pd.DataFrame:
    """entropy beats random by 0.05 everywhere except at gamma=0.25, batch 10 (equal curves)."""
    rows, i = [], 0
    for gamma in (0.1, 0.25):
        for batch in (5, 10):
            point = json.dumps({"gamma": gamma, "batch_size": batch})
            for seed in range(n_seeds):
                noise = 0.001 * ((seed * 7) % 5)
                for strategy in ("entropy", "random"):
                    up = 0.05 if strategy == "entropy" and (gamma, batch) != (0.25, 10) else 0.0
                    acc = [0.6 + noise, 0.7 + noise + up, 0.8 + noise + up]
                    labels = [20, 20 + batch, 20 + 2 * batch]
                    area = float(np.trapezoid(acc, labels) / (labels[-1] - labels[0]))
                    rows.append(_row(i, point=point, point_hash=f"{gamma}-{batch}", strategy=strategy, seed=seed,
                                     labels=labels, accuracy=acc, aulc=area, target=0.75))
                    i += 1
    frame = pd.DataFrame(rows)
    points = pd.DataFrame([json.loads(p) for p in frame["point"]])
    for name in points.columns:
        frame[f"grid.{name}"] = points[name]
    return frame


def test_summary_marks_points_whose_gain_is_not_significant_after_holm():
    summary = summarize_sweep(_synthetic_frame())
    assert summary.fields == ("gamma", "batch_size") and summary.strategies == ("entropy", "random")
    entropy = summary.table[summary.table["strategy"] == "entropy"].set_index(["gamma", "batch_size"])
    assert entropy.loc[(0.1, 5), "significant"] and not entropy.loc[(0.25, 10), "significant"]
    np.testing.assert_allclose(entropy.loc[(0.1, 5), "aulc_gain"], 0.0375)
    assert entropy.loc[(0.1, 5), "saved_vs_random"] == 5  # reaches 0.75 one batch earlier
    # 4 tests (equal curves count as p = 1): the smallest 8-seed p-value 2/2**8, Holm-multiplied by 4
    np.testing.assert_allclose(entropy.loc[(0.1, 5), "p_holm"], 4 * 2 / 2 ** 8)
    assert entropy.loc[(0.25, 10), "p_holm"] == 1.0
    best = summary.best()
    assert best["strategy"].tolist() == ["entropy", "random"]
    assert best.loc[0, "batch_size"] == 5


def test_gain_heatmap_carries_values_and_marks():
    summary = summarize_sweep(_synthetic_frame())
    fig = gain_heatmap(summary, "gamma", "batch_size", "entropy", "saved_vs_random")
    heat, grey, marks = fig.data
    assert list(heat.x) == ["0.1", "0.25"] and list(heat.y) == ["5", "10"]
    # colour only where the seeds support the difference; the other cell is grey, its value in text and hover
    assert [list(r) for r in heat.z] == [[5.0, 5.0], [10.0, None]]
    assert [list(r) for r in grey.z] == [[None, None], [None, 0.0]] and not grey.showscale
    assert [list(r) for r in heat.customdata] == [[5.0, 5.0], [10.0, 0.0]]
    assert "n.s." in grey.text[1][1] and "n.s." not in heat.text[0][0]
    assert list(marks.x) == ["0.25"] and list(marks.y) == ["10"]
    few = summarize_sweep(_synthetic_frame(n_seeds=3))  # below 6 seeds: no test at all, so nothing coloured
    untested = gain_heatmap(few, "gamma", "batch_size", "entropy", "aulc_gain").data
    assert "untested" in untested[1].text[0][0] and all(v is None for row in untested[0].z for v in row)


def test_importing_sweep_pulls_in_neither_dask_nor_streamlit():
    code = "import sys, alsim.sweep, alsim.cli.sweep; print(sorted(m for m in ('dask', 'distributed', 'streamlit') " \
           "if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"


# --------------------------------------------------------------------------- CLI errors
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("extra, message", [
    (["--grid", "gama=0.1"], "unknown config field 'gama'"),
    (["--grid", "n_rounds=3,0"], "n_rounds must be an integer >= 1"),
    (["--scheduler", "tcp://127.0.0.1:{port}", "--connect-timeout", "1"],
     "cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within 1 s: nothing accepts connections there"),
    (["--scheduler", "tcp://nonexistent.invalid:8786", "--connect-timeout", "1"],  # .invalid never resolves
     "the host 'nonexistent.invalid' is not found"),
    (["--scheduler", "127.0.0.1"], "--scheduler expects an address"),
    (["--out", "{file}/results"], "cannot write to --out"),
    (["--workers", "0"], "--workers must be an integer in [1, 64]"),
    (["--workers", "100000"], "--workers must be an integer in [1, 64] (local worker processes), got 100000"),
])
def test_bad_input_is_one_line_and_exit_code_2_before_any_work(tmp_path, capsys, extra, message):
    (tmp_path / "a-file").write_text("")
    port = _free_port()
    extra = [e.format(port=port, file=tmp_path / "a-file") for e in extra]
    message = message.format(port=port)
    out = tmp_path / "out"
    argv = ["sweep", *TINY, "--seeds", "2", "--out", str(out), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("alsim: error: ") and message in err[0]
    assert not out.exists()


# --------------------------------------------------------------------------- on a cluster
@pytest.fixture(scope="module")
def serial_store(tmp_path_factory):
    """The tiny sweep with ``--workers 1``."""
    folder = tmp_path_factory.mktemp("serial")
    assert main(["sweep", *TINY, "--seeds", "3", "--cells-per-task", "4", "--workers", "1",
                 "--out", str(folder)]) == 0
    return folder


def test_two_workers_give_the_serial_numbers_cell_by_cell(serial_store, tmp_path, capsys):
    assert main(["sweep", *TINY, "--seeds", "3", "--cells-per-task", "4", "--workers", "2", "--out", str(tmp_path),
                 "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["workers"] == 2 and document["computed"] == document["cells"] == 24
    serial, parallel = stored(serial_store), stored(tmp_path)
    assert serial.keys() == parallel.keys() and len(serial) == 24
    assert {row["worker"] for row in parallel.values()}.__len__() == 2  # both workers ran tasks
    for key, row in serial.items():
        for column in ("labels", "accuracy", "aulc", "target", "labels_to_target", "stop_reason"):
            assert parallel[key][column] == row[column], (key, column)
    # and a cell equals a run of its own config, outside any sweep
    row = next(iter(serial.values()))
    alone = list(run_loop(Config.from_json(row["config"])))
    assert row["accuracy"] == [r.accuracy for r in alone]


def test_local_workers_use_one_blas_thread_and_the_default_allocator():
    from threadpoolctl import threadpool_info

    from alsim.sweep import dask_client, run_task

    spec = tiny_spec(n_seeds=1)
    task = plan_tasks(spec, prepare_sweep(spec))[0]
    with dask_client(workers=1) as client:
        assert len(client.submit(run_task, task, pure=False).result()) == len(task.cells)
        # Dask's MALLOC_TRIM_THRESHOLD_ would make every large array a fresh mmap (about 1.5x the CPU time)
        assert set(client.run(os.environ.get, "MALLOC_TRIM_THRESHOLD_").values()) == {None}
        (pools,) = client.run(threadpool_info).values()
    assert {p["num_threads"] for p in pools if p["user_api"] == "blas"} == {1}


def test_rerunning_a_finished_sweep_computes_nothing(serial_store, capsys):
    assert main(["sweep", *TINY, "--seeds", "3", "--cells-per-task", "4", "--workers", "1",
                 "--out", str(serial_store), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["skipped"] == 24 and document["computed"] == 0


def _finished_tasks(folder: Path) -> int:
    """Tasks stored so far (cheap enough to poll): Parquet parts, or JSON lines."""
    parts = list((folder / PARTS).glob("part-*.parquet"))
    if parts:
        return len(parts)
    try:
        return (folder / JSONL).read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_a_killed_sweep_resumes_with_only_its_missing_cells(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-m", "alsim", "sweep", *TINY, "--seeds", "8", "--cells-per-task", "2",
               "--workers", "1", "--out", str(tmp_path)]  # 64 cells in 32 tasks
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None and not _finished_tasks(tmp_path):
            time.sleep(0.01)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # the CLI and its cluster, mid-sweep
        process.wait()
    before = set(stored(tmp_path))
    assert 2 <= len(before) < 64, "the sweep should be killed part-way"
    spec = tiny_spec(n_seeds=8)
    report = run_sweep(spec, tmp_path, in_process=True, cells_per_task=2)
    assert report.skipped == len(before)
    everything = {c.key for c in prepare_sweep(spec)}
    assert len(report.computed) == len(set(report.computed)) and set(report.computed) == everything - before
    assert set(stored(tmp_path)) == everything


# --------------------------------------------------------------------------- one store, one sweep's summary
def test_an_out_holding_another_sweep_is_refused_unless_appended_and_each_summary_reads_its_own(tmp_path, capsys):
    spec = tiny_spec(n_seeds=2)
    first = run_sweep(spec, tmp_path / "out", in_process=True)
    other = SweepSpec(spec.base.replace(model="logistic_regression"), spec.grid, spec.strategies, 2)
    with pytest.raises(SweepError, match=r"holds 16 cells of another sweep.*--append"):
        run_sweep(other, tmp_path / "out", in_process=True)
    argv = ["sweep", *TINY, "--set", "model=logistic_regression", "--seeds", "2", "--out", str(tmp_path / "out")]
    assert main(argv) == 2  # refused before any cluster starts
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another sweep" in err[0] and "--append" in err[0]
    appended = run_sweep(other, tmp_path / "out", in_process=True, append=True)
    alone = run_sweep(other, tmp_path / "alone", in_process=True)
    store = ResultStore(tmp_path / "out")
    assert len(store.rows()) == 32 and len(store.sweeps()) == 2
    for report, expected in ((appended, alone), (first, first)):
        mine = store.frame(sweep=report.sweep)
        assert sorted(mine["config_hash"]) == sorted(expected.computed)
    columns = ["strategy", "gamma", "batch_size", "n_seeds", "aulc_mean"]
    mixed = summarize_sweep(store.frame(sweep=appended.sweep)).table[columns]
    own = summarize_sweep(ResultStore(tmp_path / "alone").frame(sweep=alone.sweep)).table[columns]
    pd.testing.assert_frame_equal(mixed.reset_index(drop=True), own.reset_index(drop=True))
    assert set(mixed["n_seeds"]) == {2}


def test_a_cell_shared_by_two_sweeps_is_summarised_at_each_sweep_s_own_point(tmp_path):
    base = tiny_spec(1).base
    by_gamma = SweepSpec(base, parse_grid(["gamma=0.1,0.25"], base), ("entropy", "random"), 1)
    by_batch = SweepSpec(base.replace(gamma=0.1), parse_grid(["batch_size=5,10"], base), ("entropy", "random"), 1)
    run_sweep(by_gamma, tmp_path, in_process=True)
    report = run_sweep(by_batch, tmp_path, in_process=True, append=True)
    assert report.skipped == 2  # gamma=0.1 at the base's batch size 5 is in both
    frame = ResultStore(tmp_path).frame(sweep=report.sweep)
    assert len(frame) == 4 and sorted(frame["grid.batch_size"]) == [5, 5, 10, 10]
    assert "grid.gamma" not in frame


# --------------------------------------------------------------------------- a damaged store: one line, before work
def _stored_tiny(folder, fmt: str) -> SweepSpec:
    spec = tiny_spec(n_seeds=1)
    run_sweep(spec, folder, in_process=True, store_format=fmt)
    return spec


@pytest.mark.skipif(not parquet_available(), reason="pyarrow is not installed")
def test_a_truncated_parquet_part_is_one_line(tmp_path):
    spec = _stored_tiny(tmp_path, "parquet")
    part = sorted((tmp_path / PARTS).glob("part-*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:100])
    with pytest.raises(SweepError, match=rf"{part.name} is damaged") as info:
        ResultStore(tmp_path).rows()
    assert "\n" not in str(info.value)
    with pytest.raises(SweepError, match="is damaged"):
        run_sweep(spec, tmp_path, in_process=True)


@pytest.mark.parametrize("change, message", [
    ({"config_hash": ["a", "b"]}, "config_hash is not a string"),
    ({"point": None}, "point is missing"),
    ({"labels": "x"}, "labels is not"),
    ({"seed": 1.5}, "seed is not"),
])
def test_a_malformed_jsonl_row_is_one_line_before_any_cell_is_computed(tmp_path, monkeypatch, change, message):
    from alsim.sweep import runner

    spec = _stored_tiny(tmp_path, "jsonl")
    lines = (tmp_path / JSONL).read_text().splitlines()
    row = json.loads(lines[1])
    row.update(change)
    if change.get("point", "") is None:
        del row["point"]
    lines[1] = json.dumps(row)
    (tmp_path / JSONL).write_text("\n".join(lines) + "\n")
    (tmp_path / "more").mkdir()
    bigger = SweepSpec(spec.base, spec.grid, spec.strategies, 2)  # cells left to compute
    monkeypatch.setattr(runner, "run_task", lambda task: pytest.fail("a cell was computed"))
    with pytest.raises(SweepError, match=rf"line 2: {message}") as info:
        run_sweep(bigger, tmp_path, in_process=True)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- a silent scheduler
def test_a_scheduler_that_accepts_and_never_answers_is_exit_code_2(tmp_path):
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    held, stop = [], threading.Event()

    def accept_and_keep_quiet() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept_and_keep_quiet, daemon=True)
    thread.start()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-m", "alsim", "sweep", *TINY, "--seeds", "2", "--out", str(tmp_path / "out"),
               "--scheduler", f"tcp://127.0.0.1:{server.getsockname()[1]}", "--connect-timeout", "3"]
    try:
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("the sweep still waited for the silent scheduler after 120 s")
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()
    err = result.stderr.strip().splitlines()
    assert held, "the sweep never connected"
    assert result.returncode == 2 and len(err) == 1, result.stderr[-2000:]
    assert err[0].startswith("alsim: error: cannot reach the Dask scheduler") and "within 3 s" in err[0]


# --------------------------------------------------------------------------- grids too big to expand
def test_an_oversized_grid_is_refused_from_its_text_and_count_at_once():
    from alsim.sweep.grid import check_grid_size

    base = get_preset("digits-compare")
    huge = "gamma=" + ",".join(f"0.{i:06d}" for i in range(1, 60_000))  # 540 KB
    started = time.perf_counter()
    with pytest.raises(SweepError, match="characters"):
        parse_grid([huge], base)
    with pytest.raises(SweepError, match="characters"):
        check_grid_size([huge], n_strategies=2, n_seeds=6, max_cells=400)
    with pytest.raises(SweepError, match=r"2,000 cells, more than the limit of 400"):
        check_grid_size(["gamma=0.1,0.2,0.3,0.4,0.5", "batch_size=" + ",".join(map(str, range(1, 101)))],
                        n_strategies=2, n_seeds=2, max_cells=400)
    assert time.perf_counter() - started < 2


def test_the_cli_refuses_a_million_cell_grid_at_once(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    gammas = ",".join(f"{0.001 * i:.3f}" for i in range(1, 1001))
    batches = ",".join(str(i) for i in range(1, 51))
    command = [sys.executable, "-m", "alsim", "sweep", "--preset", "digits-compare", "--grid", f"gamma={gammas}",
               "--grid", f"batch_size={batches}", "--strategies", "entropy,random", "--seeds", "10",
               "--out", str(tmp_path / "out")]  # 1000 x 50 points x 2 strategies x 10 seeds = 10**6 cells
    started = time.perf_counter()
    try:
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("a 10**6-cell grid was still being validated after 60 s")
    err = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(err) == 1 and "1,000,000 cells" in err[0], result.stderr[-2000:]
    assert time.perf_counter() - started < 30
    assert not (tmp_path / "out").exists()


def test_a_cell_whose_last_round_labeled_the_whole_pool_scores_like_compare(tmp_path):
    """The last round labels the whole pool and scores nothing on the still-unlabeled pool: the cell's
    AULC and final end at the last scored round, as compare's do (not nan), and equal them."""
    from alsim.evidence.compare import run_comparison, summarize

    argv = ["--preset", "digits-tutorial", "--set", "initial=random", "--set", "batch_size=58", "--set", "n_rounds=6",
            "--strategies", "entropy,random"]
    assert main(["sweep", *argv, "--seeds", "2", "--workers", "1", "--out", str(tmp_path)]) == 0
    rows = list(stored(tmp_path).values())
    assert len(rows) == 4 and all(row["accuracy"][-1] != row["accuracy"][-1] for row in rows)  # nan: unscored
    base = get_preset("digits-tutorial").replace(initial="random", batch_size=58, n_rounds=6)
    curves = [c for batch in run_comparison(base, ["entropy", "random"], 2) for c in batch]
    expected = {s.strategy: s for s in summarize(curves, target=0.9).strategies}
    for strategy in ("entropy", "random"):
        cells = [row for row in rows if row["strategy"] == strategy]
        assert np.mean([row["aulc"] for row in cells]) == pytest.approx(expected[strategy].aulc_mean, abs=1e-12)
        assert np.mean([row["final_accuracy"] for row in cells]) == pytest.approx(expected[strategy].final_mean,
                                                                                  abs=1e-12)


def test_progress_counts_cells_not_tasks(tmp_path):
    spec = tiny_spec(n_seeds=1)  # 2 x 2 grid points x 2 strategies x 1 seed
    cells = len(prepare_sweep(spec))
    seen = []
    run_sweep(spec, tmp_path, in_process=True, cells_per_task=2, progress=seen.append)
    assert cells == 8 and {p.to_compute for p in seen} == {8} and {p.total for p in seen} == {8}
    assert seen[-1].done == seen[-1].computed == 8
