"""AppTest checks that what the pages say agrees with the run records: with pseudo-labels on, with the pool
exhausted, on the Compare page's map of where each strategy looks, and with a user's data set chosen."""

import html

import numpy as np
from apptest_helpers import APP, TIMEOUT, charts, messages, page_script, trace
from streamlit.testing.v1 import AppTest

from alsim import Config, get_preset, run_loop
from alsim.evidence.ceiling import ceiling
from alsim.evidence.narrative import compare_at_equal_labels, last_evaluated, pool_counts, takeaway
from alsim.report.html import html_report
from alsim.strategies import REVEALED

#: Every image left after the first fit is pseudo-labeled (threshold 0): the pool has no unlabeled image left.
PSEUDO_ALL = dict(self_training="pseudo", schedule="list", thresholds="0", strategy="margin")


def _no_errors(at):
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, messages(at.error)


def _live(params: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(params)
    return at.run()


def _arms(config: Config) -> dict:
    return {config.strategy: list(run_loop(config)), "random": list(run_loop(config.replace(strategy="random")))}


def test_with_every_image_pseudo_labeled_headline_captions_galleries_and_report_agree():
    at = _live(PSEUDO_ALL)
    _no_errors(at)
    config = Config(self_training="pseudo", schedule="list", thresholds=(0.0,), strategy="margin")
    arms = _arms(config)
    margin = arms["margin"]
    last = margin[-1]
    counts = pool_counts(last)
    assert last.stop_reason == "pool_exhausted" and counts["unlabeled"] == 0 and counts["pseudo"] == last.n_pseudo > 0
    reach = ceiling(config)
    sentence = takeaway(arms, reach)
    assert at.markdown[0].value == f"#### {sentence}"
    # The metrics are the numbers of the headline's comparison at equal labels, from the same records.
    at_equal = compare_at_equal_labels(margin, arms["random"])
    metrics = {m.label: m for m in at.metric}
    shown = metrics[f"margin: accuracy at {at_equal['labels']} labels"]
    assert shown.value == f"{at_equal['active']:.4f}"
    assert metrics[f"random: accuracy at {at_equal['labels']} labels"].value == f"{at_equal['random']:.4f}"
    assert metrics["revealed labels"].value == f"{last.n_labeled:,}"
    # One count of the pool images with hidden labels: the confusion caption, the galleries, the header.
    hidden = int(np.count_nonzero(last.status != REVEALED))
    assert int(last.confusion.sum()) == hidden == counts["hidden"]
    caption = next(m.value for m in at.markdown if " got " in m.value)
    assert (f"**margin** got {int(last.confusion.trace()):,} of {hidden:,} pool images with hidden labels right in "
            f"round {last.index} ({last.n_pseudo:,} pseudo-labeled, 0 unlabeled)") in caption
    assert "still-unlabeled" not in caption
    gallery_notes = [i.value for i in at.info if i.value.startswith("No unlabeled images left")]
    assert gallery_notes == [f"No unlabeled images left in round {last.index}: of the {hidden:,} pool images with "
                             f"hidden labels, all {last.n_pseudo:,} are pseudo-labeled (the accuracy is measured "
                             f"on them)."]  # once, for both galleries
    stats = next(c.value for c in at.caption if c.value.startswith(f"{len(margin)} rounds"))
    assert "stopped: no unlabeled images left" in stats and "accuracy on the pool images with hidden labels" in stats
    # The audit table is the records' numbers; pseudo-labels never count as revealed labels.
    table = next(d.value for d in at.dataframe if "pseudo-labels" in d.value.columns)
    assert table["pseudo-labels"].tolist() == [r.n_pseudo for r in margin]
    assert table["revealed labels"].tolist() == [r.n_labeled for r in margin] == [40, 45]
    assert table["auto-labeled"].tolist() == [r.auto_added for r in margin]
    # Where a value does not apply (no threshold after the last fit) the cell reads "–", never a raw None.
    assert not table.isna().any().any() and table["threshold"].tolist() == ["0", "–"]
    # The report says what the page says, from the same records.
    report = html_report("t", {"margin": config, "random": config.replace(strategy="random")}, arms,
                         [str(c) for c in range(10)], ceiling=reach)
    assert f"<p class=takeaway>{html.escape(sentence)}</p>" in report
    headline_row = (f"<td>margin</td><td class=num>{last.index}</td><td class=num>{last.n_labeled}</td>"
                    f"<td class=num>{last.n_pseudo}</td>")
    assert headline_row in report and f"<td class=num>{last.accuracy:.4f}</td>" in report
    assert "Map of the pool" in report


def test_a_pool_exhausted_of_unlabeled_images_shows_the_last_scored_round_everywhere():
    at = _live({"batch_size": "100"})
    _no_errors(at)
    arms = _arms(Config(batch_size=100))
    entropy = arms["entropy"]
    shown = last_evaluated(entropy)
    assert entropy[-1].stop_reason == "pool_exhausted" and shown.index == len(entropy) - 2
    at_equal = compare_at_equal_labels(entropy, arms["random"])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics[f"entropy: accuracy at {at_equal['labels']} labels"] == f"{at_equal['active']:.4f}"
    assert metrics["revealed labels"] == f"{entropy[-1].n_labeled:,}"
    caption = next(m.value for m in at.markdown if " got " in m.value)
    unlabeled = pool_counts(shown)["unlabeled"]
    assert (f"**entropy** got {int(shown.confusion.trace()):,} of {unlabeled:,} still-unlabeled pool images right "
            f"in round {shown.index}") in caption
    assert int(np.array(charts(at)["confusion"]["data"][0]["z"]).sum()) == unlabeled
    stats = next(c.value for c in at.caption if c.value.startswith(f"{len(entropy)} rounds"))
    assert "stopped: no unlabeled images left" in stats and "still-unlabeled pool" in stats
    texts = [m.value for m in at.metric] + [m.value for m in at.markdown] + [c.value for c in at.caption]
    assert not any(word in text for text in texts for word in ("nan", "NaN", "None"))


def test_compare_page_maps_where_each_strategy_looks():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page(page_script("Compare"))
    at.query_params.update({"cmp_pool_size": "300", "cmp_seeds": "2", "cmp_seed": "3",
                            "cmp_strategies": ["entropy", "random"]})
    at.run()
    _no_errors(at)
    base = get_preset("digits-compare").replace(pool_size=300, seed=3)
    maps = charts(at)
    runs = {s: list(run_loop(base.replace(strategy=s))) for s in ("entropy", "random")}
    for strategy, rounds in runs.items():
        fig = maps[f"cmp_map-{strategy}"]
        picks = trace(fig, "picked (number: round)")
        assert picks["customdata"] == np.concatenate([r.queried for r in rounds[:3]]).tolist()
        assert picks["text"] == [str(i) for i in (1, 2, 3) for _ in range(base.batch_size)]
        # Both strategies start from the seed's initial labels, drawn solid.
        assert trace(fig, "revealed labels")["customdata"] == np.flatnonzero(rounds[0].status == REVEALED).tolist()
    assert runs["entropy"][0].queried.tolist() != runs["random"][0].queried.tolist()
    at.slider(key="cmp_map-rounds").set_value(1).run()
    picks = trace(charts(at)["cmp_map-entropy"], "picked (number: round)")
    assert picks["customdata"] == runs["entropy"][0].queried.tolist() and set(picks["text"]) == {"1"}


def test_compare_sidebar_names_a_users_data_set_instead_of_the_presets(tmp_path):
    from test_importers import write_image_folder

    from alsim.data import store as datastore

    entry = datastore.import_path(write_image_folder(tmp_path / "pets"), name="my pets")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page(page_script("Compare"))
    at.query_params.update({"cmp_dataset": entry.id, "cmp_seeds": "1", "cmp_strategies": ["random"]})
    at.run()
    captions = [c.value.replace("\\", "") for c in at.sidebar.caption]
    assert any("Started from digits-compare" in c and "my pets" in c for c in captions), captions
    assert not any(c.startswith("All 1,797 digits") for c in captions)


def _details_page(pool_id):
    from alsim import Config, prepare, run_loop
    from alsim.dashboard.pool_maps import point_details

    prepared = prepare(Config())
    point_details(prepared, list(run_loop(Config()))[2], pool_id)


def test_a_clicked_point_shows_its_image_class_prediction_and_uncertainty():
    from alsim import prepare
    from alsim.dashboard.pool_maps import selected_pool_id

    record = list(run_loop(Config()))[2]
    pool_id = int(record.queried[0])  # an unlabeled image the round sent to the annotator
    # The selection Streamlit returns for a click: the point's customdata is its pool id.
    event = {"selection": {"points": [{"curve_number": 3, "point_index": 0, "customdata": pool_id}],
                           "point_indices": [0], "box": [], "lasso": []}}
    assert selected_pool_id(event) == pool_id
    assert selected_pool_id({"selection": {"points": [], "point_indices": [], "box": [], "lasso": []}}) is None
    at = AppTest.from_function(_details_page, args=(pool_id,), default_timeout=TIMEOUT).run()
    _no_errors(at)
    prepared = prepare(Config())
    truth, predicted = int(prepared.labels[pool_id]), int(record.predicted[pool_id])
    assert len(at.image) == 1
    text = at.markdown[0].value
    assert text.startswith(f"**#{pool_id}**  \nclass: {truth}  \npredicted: {predicted} "
                           f"({'right' if truth == predicted else 'wrong'})")
    assert f"uncertainty (entropy): {record.uncertainty[pool_id]:.3f}" in text
    assert text.endswith("round 2: unlabeled")
    at = AppTest.from_function(_details_page, args=(None,), default_timeout=TIMEOUT).run()
    assert not at.image and at.caption[0].value.startswith("Click a point on the map")


def test_the_words_for_a_pool_without_unlabeled_images_follow_where_accuracy_is_measured():
    import dataclasses

    from alsim.evidence.narrative import hidden_split, measured_on, no_unlabeled_message

    last = list(run_loop(Config(self_training="pseudo", schedule="list", thresholds=(0.0,), strategy="margin")))[-1]
    assert measured_on(last) == "pool images with hidden labels"
    assert hidden_split(last) == f" ({last.n_pseudo:,} pseudo-labeled, 0 unlabeled)"
    assert no_unlabeled_message(last).endswith("pseudo-labeled (the accuracy is measured on them).")
    on_test = dataclasses.replace(last, test=last.pool)  # the same round, scored on a test split
    assert measured_on(on_test) == "test split" and hidden_split(on_test) == ""
    assert no_unlabeled_message(on_test) == (f"No unlabeled images left in round {last.index}: of the "
                                             f"{last.n_pseudo:,} pool images with hidden labels, all "
                                             f"{last.n_pseudo:,} are pseudo-labeled.")


def test_tables_show_a_dash_for_a_missing_value_and_keep_whole_numbers_whole():
    from alsim.dashboard.render import readable_table

    table = readable_table([{"strategy": "entropy", "labels saved": 20, "p": 0.123456, "seeds": 3, "verdict": "better"},
                            {"strategy": "random", "labels saved": None, "p": None, "seeds": 3, "verdict": None}])
    assert table["labels saved"].tolist() == ["20", "–"]  # not 20.0000: a count with a gap stays a count
    assert table["p"].tolist() == ["0.1235", "–"] and table["verdict"].tolist() == ["better", "–"]
    assert table["seeds"].dtype.kind == "i"  # a column without a gap keeps its type


def test_sweep_tables_have_no_missing_cell(tmp_path):
    from test_app_sweep import PAGE, _write_store

    _write_store(tmp_path)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.switch_page(PAGE).run()
    at.text_input(key="sweep_folder").set_value(str(tmp_path)).run()
    _no_errors(at)
    assert len(at.dataframe) == 2
    for frame in at.dataframe:  # values that do not apply (random against itself) read as a dash
        assert not frame.value.isna().any().any(), frame.value
    assert "–" in at.dataframe[0].value.to_numpy().tolist()[-1]
