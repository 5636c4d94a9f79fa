"""AppTest tests of the Sweep page: a results folder, the heatmap and its marks, a page-run sweep."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from apptest_helpers import APP, TIMEOUT, charts, messages, page_script
from streamlit.testing.v1 import AppTest

from alsim.sweep import ResultStore

PAGE = page_script("Sweep")


def _write_store(folder, n_seeds: int = 8) -> None:
    """entropy gains 0.05 accuracy over random everywhere but at gamma=0.25, batch 10 (equal curves)."""
    rows, i = [], 0
    for gamma in (0.1, 0.25):
        for batch in (5, 10):
            for seed in range(n_seeds):
                noise = 0.001 * ((seed * 7) % 5)
                for strategy in ("entropy", "random"):
                    up = 0.05 if strategy == "entropy" and (gamma, batch) != (0.25, 10) else 0.0
                    acc = [0.6 + noise, 0.7 + noise + up, 0.8 + noise + up]
                    labels = [20, 20 + batch, 20 + 2 * batch]
                    rows.append({
                        "config_hash": f"{i:032d}", "point_hash": f"{gamma}-{batch}",
                        "point": json.dumps({"gamma": gamma, "batch_size": batch}), "config": "{}",
                        "strategy": strategy, "seed": seed, "labels": labels, "accuracy": acc,
                        "aulc": (acc[0] + 2 * acc[1] + acc[2]) / 4, "final_accuracy": acc[-1], "target": 0.75,
                        "target_rule": "chosen by the user", "labels_to_target": None, "stop_reason": "rounds_done",
                        "cell_seconds": 0.1, "task_seconds": 0.4, "task_cells": 4, "worker": "w",
                        "finished_at": "2026-01-01T00:00:00+00:00"})
                    i += 1
    with ResultStore(folder, format="jsonl").open_for_writing(target=0.75) as store:
        store.append(rows)


@pytest.fixture(scope="module")
def sweep_app():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(PAGE).run()
    return at


def test_sweep_page_asks_for_a_folder(sweep_app):
    at = sweep_app
    assert not at.exception and not at.error
    assert any("results folder" in m for m in messages(at.info))


def test_sweep_page_shows_the_heatmap_with_not_significant_cells_marked(sweep_app, tmp_path):
    _write_store(tmp_path)
    at = sweep_app
    at.text_input(key="sweep_folder").set_value(str(tmp_path)).run()
    assert not at.exception and not at.error
    heat = charts(at)["sweep_heatmap"]
    values, grey, marks = heat["data"]
    assert values["x"] == ["0.1", "0.25"] and values["y"] == ["5", "10"]
    assert values["z"] == [[5.0, 5.0], [10.0, None]] and grey["z"] == [[None, None], [None, 0.0]]
    assert values["customdata"] == [[5.0, 5.0], [10.0, 0.0]]
    assert marks["x"] == ["0.25"] and marks["y"] == ["10"] and "n.s." in grey["text"][1][1]
    best = at.dataframe[0].value
    assert best["strategy"].tolist() == ["entropy", "random"]
    assert {"mean AULC", "AULC gain vs random", "p (Holm)", "labels saved vs random"} <= set(best.columns)
    assert not {"aulc_mean", "p_holm"} & set(best.columns)  # titled, not the data's own names
    assert bool(best.loc[0, "significant"]) and best.loc[0, "batch_size"] == 5

    at.radio(key="sweep_metric").set_value("aulc_gain").run()
    at.selectbox(key="sweep_x").set_value("batch_size").run()
    heat = charts(at)["sweep_heatmap"]
    assert heat["layout"]["xaxis"]["title"]["text"] == "batch_size"
    assert "AULC gain" in heat["layout"]["title"]["text"]


def test_a_folder_that_is_not_a_sweep_is_an_escaped_error(sweep_app, tmp_path):
    at = sweep_app
    text = f"{tmp_path}/[x](http://example.com)"
    at.text_input(key="sweep_folder").set_value(text).run()
    assert not at.exception
    assert messages(at.error) == [f"{text} is not a sweep results folder (no store.json or results.jsonl in it)"]
    assert "\\[x\\]" in at.error[0].value  # shown literally, not as a link


def test_a_small_sweep_runs_from_the_page(sweep_app):
    at = sweep_app
    at.text_input(key="sweep_run_name").set_value("apptest")
    at.text_input(key="sweep_run_sets").set_value("pool_size=200, n_initial=20, n_rounds=3")
    at.text_input(key="sweep_run_grid_a").set_value("gamma=0.1,0.25")
    at.text_input(key="sweep_run_grid_b").set_value("")
    at.number_input(key="sweep_run_seeds").set_value(2)
    at.button(key="sweep_run_button").click().run()
    assert not at.exception and not at.error
    assert any("8 cells computed" in s.value for s in at.success)
    assert Path(at.text_input(key="sweep_folder").value).name.startswith("apptest-")
    heat = charts(at)["sweep_heatmap"]
    assert heat["data"][0]["x"] == ["0.1", "0.25"]
    assert "untested" in heat["data"][0]["text"][0][0]  # 2 seeds: no significance claim


def test_a_page_sweep_that_is_too_big_is_refused(sweep_app):
    at = sweep_app
    at.text_input(key="sweep_run_grid_a").set_value("gamma=" + ",".join(f"0.{i}" for i in range(1, 10)))
    at.text_input(key="sweep_run_grid_b").set_value("batch_size=1,2,3,4,5,6")
    at.number_input(key="sweep_run_seeds").set_value(10)
    at.button(key="sweep_run_button").click().run()
    assert not at.exception
    assert any("the page runs at most 400" in m for m in messages(at.error))


def test_a_bad_grid_box_is_named_in_the_page_s_words(sweep_app):
    """The page has grid boxes, not the command line's --grid option."""
    at = sweep_app
    at.text_input(key="sweep_run_grid_a").set_value("gama=0.1,0.25")
    at.text_input(key="sweep_run_grid_b").set_value("")
    at.button(key="sweep_run_button").click().run()
    assert not at.exception
    errors = messages(at.error)
    assert any(m.startswith("Grid box: unknown config field 'gama'") for m in errors), errors
    assert not any("--grid" in m for m in errors)


def test_each_page_sweep_gets_its_own_folder_and_reads_only_its_cells(sweep_app):
    at = sweep_app
    folders = []
    for n_rounds in (3, 4):  # two sweeps under one name: another base config
        at.text_input(key="sweep_run_name").set_value("shared-name")
        at.text_input(key="sweep_run_sets").set_value(f"pool_size=200, n_initial=20, n_rounds={n_rounds}")
        at.text_input(key="sweep_run_grid_a").set_value("gamma=0.1,0.25")
        at.text_input(key="sweep_run_grid_b").set_value("")
        at.number_input(key="sweep_run_seeds").set_value(2)
        at.button(key="sweep_run_button").click().run()
        assert not at.exception and not at.error, messages(at.error)
        assert any("8 cells computed, 0 already stored" in s.value for s in at.success)
        folders.append(at.text_input(key="sweep_folder").value)
        assert any(c.value.startswith("8 cells:") for c in at.caption)
    assert folders[0] != folders[1] and all(Path(f).name.startswith("shared-name-") for f in folders)


def test_a_folder_holding_two_sweeps_shows_the_one_chosen(sweep_app, tmp_path):
    from alsim import get_preset
    from alsim.sweep import SweepSpec, parse_grid, run_sweep

    base = get_preset("digits-compare").replace(pool_size=200, n_initial=20, n_rounds=3)
    first = SweepSpec(base, parse_grid(["gamma=0.1,0.25"], base), ("entropy", "random"), 2)
    second = SweepSpec(base.replace(n_rounds=4), first.grid, first.strategies, 2)
    run_sweep(first, tmp_path, in_process=True)
    run_sweep(second, tmp_path, in_process=True, append=True)
    at = sweep_app
    at.text_input(key="sweep_folder").set_value(str(tmp_path)).run()
    assert not at.exception and not at.error
    choice = at.selectbox(key="sweep_which")
    assert len(choice.options) == 2
    assert any(c.value.startswith("8 cells:") for c in at.caption)
    choice.set_value(choice.options[1]).run()
    assert not at.exception and any(c.value.startswith("8 cells:") for c in at.caption)


def test_a_huge_grid_box_is_refused_from_its_length_at_once(sweep_app):
    at = sweep_app
    at.text_input(key="sweep_run_grid_a").set_value("gamma=" + ",".join(f"0.{i:06d}" for i in range(1, 60_000)))
    at.text_input(key="sweep_run_grid_b").set_value("")
    started = time.perf_counter()
    at.button(key="sweep_run_button").click().run(timeout=TIMEOUT)
    assert time.perf_counter() - started < 30
    assert not at.exception
    # The box keeps at most 2,000 characters (a longer value is refused by its length); what is left
    # is refused by its cell count, counted from the text before any value is parsed.
    assert len(at.text_input(key="sweep_run_grid_a").value) <= 2000
    assert any("more than the limit" in m for m in messages(at.error)), messages(at.error)
