"""The HTML report: self-contained, escaped, and rendered by chromium with the network off."""

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from alsim import Config, first_k_baseline, run_loop
from alsim.loop.pool import prepare
from alsim.report.html import GALLERY_SIZE, html_report, image_png, package_versions, write_report

CHROMIUM = "/usr/bin/chromium"
EVIL = "<script>alert('x')</script><a href='https://example.com'>x</a>"


@pytest.fixture(scope="module")
def experiment_a():
    config = Config()
    configs = {"entropy": config, "random": config.replace(strategy="random")}
    arms = {name: list(run_loop(c)) for name, c in configs.items()}
    return configs, arms, prepare(config).class_names


@pytest.fixture(scope="module")
def report_a(experiment_a, tmp_path_factory):
    configs, arms, class_names = experiment_a
    document = html_report("Experiment A", configs, arms, class_names,
                           command="python -m alsim run --preset digits-tutorial --report a.html",
                           baseline=(60, first_k_baseline(configs["entropy"], 60).accuracy))
    path = write_report(tmp_path_factory.mktemp("report") / "a.html", document)
    return document, path


def visible_text(document: str) -> str:
    """The document without scripts, styles, tags and inline images."""
    text = re.sub(r"<script>.*?</script>|<style>.*?</style>", " ", document, flags=re.S)
    return re.sub(r"<[^>]+>", " ", text)


def test_report_holds_the_numbers_and_sentences(report_a):
    document, _ = report_a
    text = visible_text(document)
    assert ("Active picking (entropy) reached 95.6% with 60 labels; random reached 93.3% with the same number."
            in text)
    for value in ("0.9556", "0.9333", "0.8690", "0.9018", "0.9214", "0.9491"):
        assert value in text
    assert "At 60 revealed labels, the most both reach: entropy 95.6%, random 93.3%" in text
    assert "python -m alsim run --preset digits-tutorial --report a.html" in text
    assert "all rounds run" in text and "rounds_done" not in text
    for package in ("numpy", "scipy", "scikit-learn", "plotly", "python"):
        assert re.search(rf"<td>{package}</td><td>[0-9]", document)


def test_report_marks_and_tabulates_where_each_stopping_rule_stops(report_a, experiment_a):
    from alsim.loop.stopping import RULE_NAMES, stopping_points

    document, _ = report_a
    configs, arms, class_names = experiment_a
    points = stopping_points(arms["entropy"], configs["entropy"], len(class_names))
    assert points
    text = visible_text(document)
    assert "Where each enabled stopping rule would have stopped" in text
    assert any(point.round is not None for point in points)
    for point in points:
        marker = f"entropy: stop by {point.rule.replace('_', ' ')}"  # the marker's legend entry
        assert (marker in document) == (point.round is not None)
        row = re.search(rf"<td>entropy</td><td>{re.escape(RULE_NAMES[point.rule])}</td><td>[^<]*</td>"
                        r"<td class=num>([^<]*)</td>", document)
        assert row and row.group(1) == ("–" if point.n_labeled is None else f"{point.n_labeled:,}")


def test_report_is_self_contained(report_a):
    document, _ = report_a
    from plotly.offline import get_plotlyjs

    assert document.count(get_plotlyjs()) == 1  # plotly.js inline, once
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=['\"]?(https?:)?//", document)
    assert "cdn.plot.ly" not in document.replace(get_plotlyjs(), "")
    assert document.replace(get_plotlyjs(), "").count("src='data:image/png;base64,") == 2 * GALLERY_SIZE


def test_report_escapes_user_text(experiment_a):
    configs, arms, class_names = experiment_a
    document = html_report(EVIL, {EVIL: configs["entropy"]}, {EVIL: arms["entropy"]}, [EVIL] + list(class_names[1:]),
                           command=EVIL, url="javascript:alert(1)")
    from plotly.offline import get_plotlyjs

    page = document.replace(get_plotlyjs(), "")
    assert "<script>alert" not in page and "<a href='https://example.com'>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "href='javascript" not in page  # only http(s) addresses become links


def test_nothing_left_run_says_so_and_never_nan(tmp_path):
    config = Config(batch_size=100)
    arms = {"entropy": list(run_loop(config))}
    document = html_report("exhausted", {"entropy": config}, arms, [str(i) for i in range(10)])
    text = visible_text(document)
    assert ("entropy: Every pool image was labeled by round 3, so nothing was left to measure accuracy on; the "
            "numbers shown are from round 2 (240 labels).") in text
    assert "nothing was left to evaluate" in text  # the last round's row of the round table
    assert not re.search(r"\bnan\b", text, flags=re.I)


def test_image_png_scales_digits_to_full_range():
    image = np.array([[0.0, 8.0], [16.0, 4.0]])
    decoded = cv2.imdecode(np.frombuffer(image_png(image, top=16), np.uint8), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded, [[0, 128], [255, 64]])
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 200  # red in RGB
    decoded = cv2.imdecode(np.frombuffer(image_png(rgb), np.uint8), cv2.IMREAD_COLOR)
    assert decoded[0, 0].tolist() == [0, 0, 200]  # OpenCV reads back BGR


def test_package_versions_names_every_dependency():
    versions = package_versions()
    assert {"python", "alsim", "numpy", "scipy", "scikit-learn", "plotly", "pandas"} <= set(versions)


@pytest.mark.skipif(not Path(CHROMIUM).exists() or shutil.which("chromium") is None,
                    reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_report_renders_offline_in_chromium(report_a):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    _, path = report_a
    requests, errors = [], []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"])
        try:
            context = browser.new_context()
            context.set_offline(True)
            page = context.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(Path(path).as_uri())
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
            assert page.locator(".js-plotly-plot").count() == 4  # curves, confusion heatmaps, a map per arm
            maps = page.locator(".js-plotly-plot").filter(has_text="picks in 4 rounds")
            assert maps.locator(".gtitle").all_text_contents() == ["entropy: 20 picks in 4 rounds",
                                                                   "random: 20 picks in 4 rounds"]
            assert page.locator(".js-plotly-plot .heatmaplayer").count() == 2  # a panel per arm
            assert page.locator(".js-plotly-plot .scatterlayer .trace").count() >= 3  # two arms and the baseline
            body = page.inner_text("body")
            assert "95.6%" in body and "93.3%" in body and "0.9556" in body
            heat_text = page.locator(".js-plotly-plot .annotation-text").all_text_contents()
            assert any("round 4, 60 labels, accuracy 95.6%" in t for t in heat_text)
            widths = page.eval_on_selector_all("img", "images => images.map(i => i.naturalWidth)")
            assert len(widths) == 2 * GALLERY_SIZE and all(w == 8 for w in widths)
        finally:
            browser.close()
    assert errors == []
    assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests


# ------------------------------------------------------------------ command line
def test_run_report_flag_writes_the_report(tmp_path, capsys):
    from alsim.cli.main import main

    path = tmp_path / "run.html"
    assert main(["run", "--preset", "digits-tutorial", "--report", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip().endswith(f"report: {path}")
    text = visible_text(path.read_text(encoding="utf-8"))
    assert "python -m alsim run --preset digits-tutorial --report " + str(path) in text
    assert "first 60 labels" in path.read_text(encoding="utf-8")  # the baseline point on the curve
    assert "0.9556" in text and "reached 95.6% with 60 labels" in text


def test_compare_report_flag_writes_bands_and_verdicts(tmp_path, capsys):
    from alsim.cli.main import main

    path = tmp_path / "compare.html"
    argv = ["compare", "--preset", "digits-compare", "--seeds", "2", "--strategies", "entropy,random",
            "--set", "n_rounds=3", "--report", str(path)]
    assert main(argv) == 0
    assert capsys.readouterr().err.strip().endswith(f"report: {path}")
    document = path.read_text(encoding="utf-8")
    text = visible_text(document)
    assert "Verdicts over seeds" in text and "2 seeds; target accuracy" in text
    assert "one run: entropy, seed 0" in document  # that seed's run drawn over the bands
    assert document.count("class=\"plotly-graph-div\"") == 5  # curves, bands, heatmaps, a map per strategy


def test_exports_write_no_nan():
    import json

    from alsim.report.export import round_rows, to_csv, to_json

    config = Config(batch_size=100)
    arms = {"entropy": list(run_loop(config))}
    csv_text = to_csv(round_rows(arms))
    assert "nan" not in csv_text.lower() and csv_text.splitlines()[-1].split(",")[8] == ""
    doc = json.loads(to_json({"entropy": config}, arms, [str(i) for i in range(10)]))
    assert doc["arms"]["entropy"]["rounds"][-1]["accuracy"] is None


def test_a_comparison_report_speaks_with_the_verdict_over_seeds_not_one_seed(tmp_path):
    import html as html_module

    from alsim import Config
    from alsim.evidence.compare import run_comparison, summarize
    from alsim.report.html import write_comparison_report

    base = Config(dataset="digits-tutorial", initial="random", n_initial=20, batch_size=5, n_rounds=4)
    curves = [c for batch in run_comparison(base, ["entropy", "random"], 6, seeds_per_batch=6) for c in batch]
    summary = summarize(curves, target=0.8)
    text = html_module.unescape(Path(write_comparison_report(tmp_path / "r.html", base, ["entropy", "random"],
                                                             summary)).read_text())
    lead = text[text.index("<p class=takeaway>") + len("<p class=takeaway>"):]
    lead = lead[:lead.index("</p>")]
    headline = next(s.headline for s in summary.strategies if s.strategy == "entropy")
    assert headline in lead and "over 6 seeds" in text
    assert "reached" not in lead or headline.count("reached") == lead.count("reached")  # no single-seed sentence


def test_report_tiles_show_display_images_in_colour_with_their_aspect_ratio(tmp_path):
    import base64

    from test_importers import write_image_folder

    from alsim.data import store as datastore

    entry = datastore.import_path(write_image_folder(tmp_path / "wide", per_class=8, sizes=((48, 64),), colour=True))
    config = Config(dataset=entry.id, batch_size=4, n_initial=6, n_rounds=1)
    document = html_report("colour", {"entropy": config}, {"entropy": list(run_loop(config))}, ["cat", "dog", "owl"])
    tiles = re.findall(r"<img class=display alt='pool image \d+' src='data:image/png;base64,([^']+)'>", document)
    assert tiles
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(tiles[0]), np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape == (96, 128, 3) and np.ptp(decoded.astype(int), axis=2).max() > 100  # colour, not gray


def test_a_written_report_is_readable_like_any_new_file_and_replaces_the_old_one_whole(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    target = tmp_path / "r.html"
    target.write_text("old")
    path = write_report(target, "<html>é</html>")
    assert path == str(target) and target.read_text(encoding="utf-8") == "<html>é</html>"
    assert target.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777  # not mkstemp's 0600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.txt", "r.html"]  # no temporary left


def test_the_rounds_csv_holds_each_rounds_scores_and_cost_under_their_own_names():
    import csv
    import io

    from sklearn.metrics import accuracy_score, f1_score

    from alsim.report.export import round_rows, to_csv

    config = Config(cost="per_class", cost_params=tuple(float(c + 1) for c in range(10)))
    rounds = list(run_loop(config))
    truth = prepare(config).labels
    rows = list(csv.DictReader(io.StringIO(to_csv(round_rows({"entropy": rounds})))))
    assert [int(row["round"]) for row in rows] == [r.index for r in rounds]
    for row, record in zip(rows, rounds):
        hidden = record.status == 0  # scored on the still-unlabeled pool
        assert float(row["accuracy"]) == pytest.approx(accuracy_score(truth[hidden], record.predicted[hidden]),
                                                       abs=1e-9)
        assert float(row["macro_f1"]) == pytest.approx(
            f1_score(truth[hidden], record.predicted[hidden], labels=range(10), average="macro"), abs=1e-9)
        revealed = np.flatnonzero(record.status == 1)
        assert float(row["cost_spent"]) == pytest.approx(float((truth[revealed] + 1).sum()))  # class c costs c + 1
        assert int(row["n_annotations"]) == len(revealed)


def test_the_reports_summary_row_gives_the_total_seconds_of_the_rounds():
    import dataclasses

    rounds = [dataclasses.replace(r, seconds=float(k + 1)) for k, r in enumerate(list(run_loop(Config()))[:3])]
    document = html_report("t", {"entropy": Config()}, {"entropy": rounds}, [str(i) for i in range(10)])
    table = document[document.index("<table>"):document.index("</table>")]
    header = re.findall(r"<th>([^<]*)</th>", table)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    assert cells[header.index("seconds")] == "6.0000" and cells[header.index("rounds")] == "3"  # 1 + 2 + 3
