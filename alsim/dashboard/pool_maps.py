"""Maps of the pool on the pages: a clicked point's image beside the map, where each strategy looks
(Compare), and the maps of the presenter view.

The projection is :func:`alsim.learn.projection.pool_projection` (memory and disk cache), so
a click, another round or another strategy only redraws.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import streamlit as st

from alsim.common.errors import AlsimError
from alsim.dashboard.charts import chart
from alsim.dashboard.messages import escape_markdown, show_error
from alsim.dashboard.render import prepare_shown, to_display
from alsim.dashboard.runner import run_live
from alsim.evidence.compare import comparison_configs
from alsim.evidence.narrative import last_evaluated
from alsim.learn.projection import pool_projection
from alsim.loop.config import Config
from alsim.loop.pool import Prepared
from alsim.loop.records import Round
from alsim.report.plots import escape, pool_map, round_picks
from alsim.strategies import PSEUDO, REVEALED

#: Largest pool whose maps are open by default (a larger one is drawn on request; the presenter view draws none).
MAP_OPEN_MAX = 20_000
#: Query rounds the Compare page's map can show (each strategy is run this many rounds plus one fit).
MAX_MAP_ROUNDS = 5
#: Query rounds it shows at first.
DEFAULT_MAP_ROUNDS = 3
#: Side (px) of the clicked point's image.
DETAIL_SIDE = 140
_STATUS_WORDS = {REVEALED: "label revealed", PSEUDO: "pseudo-labeled (its label stays hidden)"}


def selected_pool_id(event) -> int | None:
    """The pool id of the point clicked on a map (its ``customdata``), or None."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for point in reversed(list(points or ())):
        value = point.get("customdata")
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is not None:
            return int(value)
    return None


def point_details(prepared: Prepared, record: Round, pool_id: int | None, hint: bool = True) -> None:
    """One pool point: its image, its class, the round's prediction and uncertainty, and its status.

    With no point chosen, a hint (when ``hint``) says how to choose one.
    """
    if pool_id is None or not 0 <= pool_id < len(prepared.labels):
        if hint:
            st.caption("Click a point on the map to see its image, its class, the model's prediction and its "
                       "uncertainty.")
        return
    names = prepared.class_names
    truth, predicted = int(prepared.labels[pool_id]), int(record.predicted[pool_id])
    if prepared.dataset.images is not None:
        st.image(to_display(prepared.display_image(pool_id), size=DETAIL_SIDE), output_format="PNG")
    truth_text = "unknown" if truth < 0 else names[truth]
    verdict = "" if truth < 0 else (" (right)" if predicted == truth else " (wrong)")
    status = _STATUS_WORDS.get(int(record.status[pool_id]), "unlabeled")
    lines = [f"**#{pool_id}**", f"class: {escape_markdown(truth_text)}",
             f"predicted: {escape_markdown(names[predicted])}{verdict}",
             f"uncertainty ({escape_markdown(record.uncertainty_measure.replace('_', ' '))}): "
             f"{float(record.uncertainty[pool_id]):.3f}",
             f"round {record.index}: {status}"]
    st.markdown("  \n".join(lines))


#: Width in pixels of the panel beside a map. A fixed width leaves the map whole pixels; in a column of
#: fractional width Streamlit gave the map its width rounded, then exact, and plotly drew it twice.
DETAIL_WIDTH = 200


def map_with_details(figure, prepared: Prepared, record: Round, key: str, beside: bool = True) -> None:
    """Draw a pool map; a click on a point shows that point's image and numbers beside it (or below)."""
    if beside:
        row = st.container(horizontal=True, gap="medium")
        chart_column, detail_column = row.container(width="stretch"), row.container(width=DETAIL_WIDTH)
    else:
        chart_column = detail_column = st.container()
    with chart_column:
        event = chart(figure, key=key, width="stretch", on_select="rerun", selection_mode="points")
    with detail_column:
        point_details(prepared, record, selected_pool_id(event), hint=beside)


def presenter_maps(results: Mapping[str, Sequence[Round]], prepared: Prepared) -> None:
    """The presenter view's maps: each arm's pool in its last scored round, side by side."""
    if len(prepared.pool_ids) > MAP_OPEN_MAX:
        return
    coords = pool_projection(prepared.features, prepared.key)
    shown = {name: last_evaluated(rounds) or rounds[-1] for name, rounds in results.items() if rounds}
    columns = st.columns(len(shown))
    for column, (name, record) in zip(columns, shown.items()):
        ids, numbers = round_picks(results[name][:record.index + 1])
        figure = pool_map(coords, prepared.labels, record.status, ids, queried_text=numbers,
                          queried_name="picked (number: round)", predicted=record.predicted,
                          uncertainty=record.uncertainty, class_names=prepared.class_names,
                          title=f"{escape(name)}: where it looked, {record.n_labeled:,} labels")
        figure.update_layout(font=dict(size=16), showlegend=False)
        chart(figure, key=f"present-map-{name}", where=column, width="stretch")
    st.caption("Each dot is a pool image (coloured by its true class), placed by a 2-D projection of its features. "
               "Solid: revealed labels; rings: pseudo-labels; numbered stars: the images each round picked (the "
               "number is the round).")


def strategy_maps_section(base: Config, strategies: Sequence[str], key: str = "cmp_map") -> None:
    """Where each strategy looks: the first rounds' picks of every strategy on one map of the pool, for one seed.

    Every strategy starts from the same initial labels (the seed's draw), so the maps differ
    only by what each strategy picked. The runs are cut to :data:`MAX_MAP_ROUNDS` query rounds
    and kept in the server's run cache.
    """
    st.subheader("Where each strategy looks")
    try:
        prepared = prepare_shown(base)
    except AlsimError as exc:
        show_error(exc)
        return
    box = st.expander(f"The first rounds' picks of each strategy, seed {base.seed}",
                      expanded=len(prepared.pool_ids) <= MAP_OPEN_MAX, key=f"{key}-open", on_change="rerun")
    if not box.open:
        return
    with box:
        _strategy_maps(base, strategies, prepared, key)


def _strategy_maps(base: Config, strategies: Sequence[str], prepared: Prepared, key: str) -> None:
    n_fits = min(base.n_rounds, MAX_MAP_ROUNDS + 1)
    configs = [c.replace(n_rounds=n_fits) for c in comparison_configs(base, strategies, base.seed)]
    try:
        finished = run_live(configs, lambda *_: None, label="The first rounds of each strategy", progress_after=0.3)
    except AlsimError as exc:
        show_error(exc)
        return
    picking = min(sum(1 for r in rounds if len(r.queried)) for rounds in finished.rounds)
    if picking == 0:
        st.info("No strategy picked an image: the first fit already used every label it could.")
        return
    if picking > 1:
        n_rounds = st.slider("Query rounds shown", 1, picking, min(DEFAULT_MAP_ROUNDS, picking), key=f"{key}-rounds")
    else:
        n_rounds = 1
    with st.spinner("Projecting the pool to 2-D (once per pool)"):
        coords = pool_projection(prepared.features, prepared.key)
    per_row = 2 if len(configs) > 1 else 1
    for start in range(0, len(configs), per_row):
        columns = st.columns(per_row)
        for column, config, rounds in zip(columns, configs[start:start + per_row],
                                          finished.rounds[start:start + per_row]):
            first = rounds[0]
            ids, numbers = round_picks(rounds, n_rounds)
            figure = pool_map(coords, prepared.labels, first.status, ids, queried_text=numbers,
                              queried_name="picked (number: round)", predicted=first.predicted,
                              uncertainty=first.uncertainty, class_names=prepared.class_names,
                              title=f"{escape(config.strategy)}: {len(ids):,} picks in {n_rounds} "
                                    f"round{'s' if n_rounds > 1 else ''}")
            figure.update_layout(height=420, showlegend=False)
            with column:
                map_with_details(figure, prepared, first, key=f"{key}-{config.strategy}", beside=False)
    initial = int(np.count_nonzero(finished.rounds[0][0].status == REVEALED))
    st.caption(f"Seed {base.seed}: every strategy starts from the same {initial:,} initial labels (solid dots with a "
               "dark edge); numbered stars are the images it sent to the annotator, the number being the round "
               "(1 = the first). Faint dots: the rest of the pool, coloured by true class. The projection is the "
               "Live page's (PCA, or UMAP where installed). A click on a point shows its image, with the first "
               "model's prediction and uncertainty.")
