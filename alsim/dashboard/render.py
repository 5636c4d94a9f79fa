"""Rendering helpers shared by the pages: galleries, figures, tables, downloads."""

from __future__ import annotations

import time
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from alsim.evidence.narrative import no_unlabeled_message
from alsim.loop.config import Config
from alsim.loop.pool import Prepared, prepare
from alsim.loop.records import Round
from alsim.report import plots
from alsim.report.export import round_rows, to_csv, to_json
from alsim.report.plots import colour, uncertain_examples

_SHORT = {"entropy": "H", "margin": "margin", "least_confident": "1-p"}
#: Gallery tile: image side in pixels, and the caption band under it.
TILE, CAPTION_BAND, GAP = 84, 30, 6
_RIGHT, _WRONG, _QUEUED = (26, 127, 55), (200, 30, 30), (230, 160, 0)


def prepare_shown(config: Config) -> Prepared:
    """:func:`alsim.loop.pool.prepare`, with a progress bar and the time left while images are embedded
    (pretrained or ONNX features computed now); the bar is cleared when they are done."""
    if config.features not in ("pretrained", "onnx"):
        return prepare(config)
    slot = st.empty()
    started = time.perf_counter()
    shown = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if now - shown[0] < 0.25 and done < total:
            return
        shown[0] = now
        rate = done / max(now - started, 1e-9)
        left = f", about {(total - done) / rate:.0f} s left" if 0 < done < total else ""
        slot.progress(min(1.0, done / max(total, 1)),
                      text=f"Embedding images with the {config.features} model: {done:,} of {total:,}{left}")

    try:
        return prepare(config, progress=progress)
    finally:
        slot.empty()


MISSING = "–"
"""What a table cell shows where a value does not apply or was not measured."""


def readable_table(rows, precision: int = 4) -> pd.DataFrame:
    """A table for ``st.dataframe`` whose missing values read as a dash.

    Streamlit 1.67 draws a missing cell as ``None`` whatever the column's type, and ignores a
    Styler's ``na_rep``. So a column with a missing value becomes text: the dash there, whole
    numbers as integers (a column of counts with one gap turns float in pandas), other numbers
    with ``precision`` decimals. Columns without a gap keep their type (sorting, alignment).
    """
    frame = (rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)).copy()
    for name in frame.columns:
        column = frame[name]
        missing = column.isna()
        if not missing.any():
            continue
        present = column[~missing]
        numbers = pd.to_numeric(present, errors="coerce")
        if len(present) and numbers.notna().all() and not present.map(lambda v: isinstance(v, bool)).any():
            whole = bool(np.all(np.isclose(numbers, np.round(numbers))))
            text = numbers.map(lambda v: f"{int(round(v)):,}" if whole else f"{v:.{precision}f}")
        else:
            text = present.map(str)
        frame[name] = pd.Series(MISSING, index=frame.index, dtype=object).where(missing, text)
    return frame


def to_display(image: np.ndarray, size: int = TILE) -> np.ndarray:
    """A gray or colour image as uint8, enlarged (nearest neighbour: no blur) to about ``size`` pixels a side."""
    img = np.asarray(image, dtype=np.float64)
    if img.max() <= 16.0 and image.dtype != np.uint8:  # digits: 0..16 intensity
        img = img * (255.0 / 16.0)
    img = np.clip(img, 0, 255).astype(np.uint8)
    scale = max(1, size // max(img.shape[:2]))
    return img.repeat(scale, axis=0).repeat(scale, axis=1)  # gray (h, w) or colour (h, w, 3)


def _rgb(tile: np.ndarray) -> np.ndarray:
    return np.repeat(tile[:, :, None], 3, axis=2) if tile.ndim == 2 else tile[:, :, :3]


def gallery_strip(tiles: Sequence[np.ndarray], lines: Sequence[tuple[str, str]], correct: Sequence[bool | None],
                  queried: Sequence[bool]) -> np.ndarray:
    """One RGB image: the tiles side by side, each with two caption lines drawn under it.

    Sent as one PNG instead of one image element per tile (a page showed 16). A tile sent to
    the annotator this round has an amber frame; the caption is green when the prediction is
    right, red when wrong, grey when the truth is unknown.

    Parameters
    ----------
    tiles : sequence of (h, w) or (h, w, 3) uint8 arrays, already enlarged (:func:`to_display`)
    lines : sequence of (first line, second line), ASCII
    correct, queried : one flag per tile

    Returns
    -------
    ndarray (h + caption band, n * (w + gap), 3) uint8
    """
    import cv2

    side = max(max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles))
    width = max(side, 112)
    strip = np.full((side + CAPTION_BAND + 4, len(tiles) * (width + GAP), 3), 255, dtype=np.uint8)
    for i, (tile, (first, second), ok, queued) in enumerate(zip(tiles, lines, correct, queried)):
        x = i * (width + GAP) + (width - tile.shape[1]) // 2
        strip[2:2 + tile.shape[0], x:x + tile.shape[1]] = _rgb(tile)
        if queued:
            cv2.rectangle(strip, (x - 2, 0), (x + tile.shape[1] + 1, tile.shape[0] + 3), _QUEUED, 2)
        colour = (110, 110, 110) if ok is None else (_RIGHT if ok else _WRONG)
        for row, text in enumerate((first, second)):
            cv2.putText(strip, text[:18], (i * (width + GAP) + 2, side + 15 + 13 * row), cv2.FONT_HERSHEY_SIMPLEX,
                        0.38, colour, 1, cv2.LINE_AA)
    return strip


def gallery(title: str, prepared: Prepared, record: Round, most: bool, k: int = 8, key: str = "") -> None:
    """The ``k`` most (or least) uncertain unlabeled images of a round, as one image strip.

    Each tile says the predicted and the true class; the score it was ranked by is in the
    caption's tooltip, per tile.
    """
    ids = uncertain_examples(record, k, most)
    if len(ids) == 0:
        st.markdown(f"**{title}**")
        st.info(no_unlabeled_message(record))
        return
    if prepared.dataset.images is None:
        st.markdown(f"**{title}**")
        st.info("This data set has no images to show (features only).")
        return
    names = prepared.class_names
    values, score_name = record.ranking
    queried = set(record.queried.tolist())
    tiles, lines, correct, queued, raw = [], [], [], [], []
    for i in ids:
        pred, true = int(record.predicted[i]), int(prepared.labels[i])
        tiles.append(to_display(prepared.display_image(i)))
        lines.append((f"pred {_ascii(names[pred])}", "true unknown" if true < 0 else f"true {_ascii(names[true])}"))
        correct.append(None if true < 0 else pred == true)
        queued.append(int(i) in queried)
        raw.append(f"{len(raw) + 1}: {_SHORT.get(score_name, score_name)} = {values[i]:.3g}")
    st.markdown(f"**{title}**", help=f"Ranked by {score_name.replace('_', ' ')}, left to right: " + "; ".join(raw))
    st.image(gallery_strip(tiles, lines, correct, queued), output_format="PNG")


def _ascii(name: str) -> str:
    return str(name).encode("ascii", "replace").decode()


def per_class_table(record: Round, class_names: Sequence[str]):
    """Precision, recall, F1 and support per class, from the round's confusion matrix.

    The same numbers as scikit-learn's ``precision_recall_fscore_support(zero_division=0)``,
    read off the confusion matrix the heatmap shows instead of recomputed from the labels.
    """
    import pandas as pd

    confusion = np.asarray(record.confusion, dtype=np.float64)
    hits = np.diag(confusion)
    predicted, support = confusion.sum(axis=0), confusion.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        recall = np.where(support > 0, hits / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    return pd.DataFrame({"class": list(class_names), "precision": precision, "recall": recall, "f1": f1,
                         "support": support.astype(np.int64)}).set_index("class")


def confusion_figure(records: Mapping[str, Round], class_names: Sequence[str]):
    """One figure, one confusion heatmap per arm side by side (a single chart to send and draw)."""
    return plots.confusion_heatmaps(records, class_names)


def animated_curves(arms: Mapping[str, Sequence[Round]], title: str):
    """Learning curves that grow round by round when played (plotly animation frames, play and pause)."""
    import plotly.graph_objects as go

    shown = {n: [r for r in rounds if np.isfinite(r.accuracy)] for n, rounds in arms.items()}
    n = max(len(r) for r in shown.values())
    xs = [r.n_labeled for rounds in shown.values() for r in rounds]
    ys = [r.accuracy for rounds in shown.values() for r in rounds]

    def traces(k: int):
        return [go.Scatter(x=[r.n_labeled for r in rounds[:k]], y=[r.accuracy for r in rounds[:k]],
                           mode="lines+markers", name=name, line=dict(color=colour(name, i), width=5),
                           marker=dict(size=11)) for i, (name, rounds) in enumerate(shown.items())]

    span = max(0.05, max(ys) - min(ys)) if ys else 0.1
    fig = go.Figure(data=traces(1), frames=[go.Frame(data=traces(k), name=str(k - 1)) for k in range(1, n + 1)])
    fig.update_layout(
        title=title, height=560, font=dict(size=18), xaxis_title="revealed labels", yaxis_title="accuracy",
        xaxis=dict(range=[min(xs) - 2, max(xs) + 2] if xs else None),
        yaxis=dict(range=[min(ys) - 0.1 * span, max(ys) + 0.1 * span] if ys else None),
        legend=dict(orientation="h", x=1, xanchor="right", y=1.12),  # above: the round slider sits below
        updatemenus=[dict(type="buttons", direction="left", x=0, y=1.12, xanchor="left", buttons=[
            dict(label="▶ Play", method="animate",
                 args=[None, dict(frame=dict(duration=900, redraw=False), transition=dict(duration=400),
                                  fromcurrent=True)]),
            dict(label="❚❚ Pause", method="animate",
                 args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")])])],
        sliders=[dict(currentvalue=dict(prefix="round "), pad=dict(t=80), steps=[
            dict(label=str(k), method="animate",
                 args=[[str(k)], dict(mode="immediate", frame=dict(duration=0, redraw=False))]) for k in range(n)])])
    return fig


def downloads(configs: Mapping[str, Config], arms: Mapping[str, Sequence[Round]], class_names: Sequence[str],
              key: str, report: Callable[[], str] | None = None) -> None:
    """Download buttons: rounds as CSV and JSON, the config as JSON, and the HTML report when given.

    The files are built when a button is clicked, not on every run: the JSON carries every
    round's per-class report, which took longer to build than the rest of the page.
    """

    cols = st.columns(4 if report is not None else 3)
    cols[0].download_button("Rounds (CSV)", lambda: to_csv(round_rows(arms)), file_name="alsim-rounds.csv",
                            mime="text/csv", key=f"{key}-csv", on_click="ignore")
    cols[1].download_button("Rounds (JSON)", lambda: to_json(configs, arms, class_names),
                            file_name="alsim-rounds.json", mime="application/json", key=f"{key}-json",
                            on_click="ignore")
    first = next(iter(configs.values()))
    cols[2].download_button("Config (JSON)", first.to_json, file_name="alsim-config.json", mime="application/json",
                            key=f"{key}-config", on_click="ignore")
    if report is not None:
        cols[3].download_button("Report (HTML)", report, file_name="alsim-report.html", mime="text/html",
                                key=f"{key}-report", on_click="ignore", type="primary")
