"""Rendering helpers shared by the pages: galleries, metrics, downloads."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import streamlit as st

from alsim.config import Config
from alsim.export import round_rows, to_csv, to_json
from alsim.loop import Prepared, Round
from alsim.plots import uncertain_examples


_SHORT = {"entropy": "H", "margin": "margin", "least_confident": "1-p"}


def to_display(image: np.ndarray, size: int = 84) -> np.ndarray:
    """A uint8 image enlarged (nearest neighbour) to about ``size`` pixels for a gallery tile."""
    img = np.asarray(image, dtype=np.float64)
    if img.max() <= 16.0 and image.dtype != np.uint8:  # digits: 0..16 intensity
        img = img * (255.0 / 16.0)
    img = np.clip(img, 0, 255).astype(np.uint8)
    scale = max(1, size // img.shape[0])
    return np.kron(img, np.ones((scale, scale), dtype=np.uint8))


def gallery(title: str, prepared: Prepared, record: Round, most: bool, k: int = 8) -> None:
    """Tiles of the ``k`` most (or least) uncertain unlabeled images of a round.

    Each caption gives the predicted and true class and the uncertainty; images queried
    this round (sent to the annotator) are marked with ★.
    """
    ids = uncertain_examples(record, k, most)
    st.markdown(f"**{title}**")
    if len(ids) == 0:
        st.info("No unlabeled images left in the pool.")
        return
    names = prepared.class_names
    values, score_name = record.ranking
    queried = set(record.queried.tolist())
    images = prepared.dataset.images
    cols = st.columns(len(ids))
    for col, i in zip(cols, ids):
        pred, true = int(record.predicted[i]), int(prepared.labels[i])
        mark = "★ " if i in queried else ""
        verdict = "" if true < 0 else (" ✓" if pred == true else " ✗")
        truth = "unknown" if true < 0 else names[true]
        caption = (f"{mark}pred {names[pred]}{verdict} · true {truth} · "
                   f"{_SHORT.get(score_name, score_name)} {values[i]:.3g}")
        col.image(to_display(images[prepared.pool_ids[i]]), caption=caption, width="stretch")


def per_class_table(record: Round, class_names: Sequence[str]) -> pd.DataFrame:
    m = record.headline
    return pd.DataFrame({"class": list(class_names), "precision": m.precision, "recall": m.recall, "f1": m.f1,
                         "support": m.support}).set_index("class")


def downloads(configs: Mapping[str, Config], arms: Mapping[str, Sequence[Round]], class_names: Sequence[str],
              key: str) -> None:
    """Download buttons: rounds as CSV and JSON, the config as JSON."""
    rows = round_rows(arms)
    c1, c2, c3 = st.columns(3)
    c1.download_button("Rounds (CSV)", to_csv(rows), file_name="alsim-rounds.csv", mime="text/csv",
                       key=f"{key}-csv", on_click="ignore")
    c2.download_button("Rounds (JSON)", to_json(configs, arms, class_names), file_name="alsim-rounds.json",
                       mime="application/json", key=f"{key}-json", on_click="ignore")
    first = next(iter(configs.values()))
    c3.download_button("Config (JSON)", first.to_json(), file_name="alsim-config.json", mime="application/json",
                       key=f"{key}-config", on_click="ignore")
