"""The Sweep page: read a sweep's results folder (or run a small sweep here) and show where strategies gain.

Sweeps too big for a page run with ``python -m alsim sweep`` on Dask; the page reads the
folder they write. A sweep started here runs in this process (one task after another,
holding one of the server's work slots) and writes under ``$ALSIM_HOME/sweeps``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import streamlit as st

from alsim.common.errors import AlsimError
from alsim.dashboard.charts import chart
from alsim.dashboard.messages import show_error
from alsim.dashboard.render import readable_table
from alsim.dashboard.url import sanitize_query_params, show_url_notices
from alsim.loop.presets import PRESETS, get_preset
from alsim.storage.memory import work_slots
from alsim.strategies import strategy_names
from alsim.sweep import (
    METRICS,
    ResultStore,
    SweepError,
    SweepSpec,
    gain_heatmap,
    parse_grid,
    run_sweep,
    summarize_sweep,
)
from alsim.sweep.grid import check_grid_size, spec_id
from alsim.sweep.store import JSONL, MANIFEST

#: A sweep run from the page is capped; larger ones belong on the command line (and a cluster).
MAX_PAGE_CELLS = 400
MAX_PAGE_SEEDS = 20
#: Longest text of one grid box (the core refuses longer grids too, before parsing a value).
MAX_GRID_BOX_CHARS = 2000
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

EXPLAIN = """
Each heatmap cell is one grid point. **Labels saved vs random**: revealed labels random
sampling's mean curve needs to reach the target accuracy, minus this strategy's (the
target is stored with the results: 95% of the grid point's fully labeled accuracy unless
the sweep gave `--target`). **AULC gain**: the mean per-seed difference in area under
the learning curve against random under the same seed. **Significance**: a paired
Wilcoxon test of per-seed AULC against random at every (grid point, strategy); the p-values
of the whole sweep are Holm-corrected together. Cells marked **n.s.** are not significant
at 5% after that correction; **untested** cells have fewer than 6 seeds. Both are grey: only
a difference the seeds support gets a colour.
"""


#: The summary's columns as the tables title them (the CSV and JSON keep the names).
COLUMN_TITLES = {"n_seeds": "seeds", "aulc_mean": "mean AULC", "aulc_gain": "AULC gain vs random",
                 "labels_to_target": "labels to target", "saved_vs_random": "labels saved vs random",
                 "p_value": "p (Wilcoxon)", "p_holm": "p (Holm)"}


def _page_words(message: str) -> str:
    """A grid error in the page's words: its grid boxes, not the command line's ``--grid`` option."""
    text = message.replace("--grid", "grid box")
    return text[:1].upper() + text[1:]


def sweeps_home() -> Path:
    """Where sweeps started from the page are written: ``$ALSIM_HOME/sweeps``."""
    home = os.environ.get("ALSIM_HOME") or Path.home() / ".local" / "share" / "alsim"
    return Path(home) / "sweeps"


def _holds_results(folder: Path) -> bool:
    return (folder / MANIFEST).is_file() or (folder / JSONL).is_file()


def _run_form() -> None:
    """Run a small sweep in this process; on success the folder field points at it."""
    with st.expander("Run a small sweep here", expanded=False):
        st.caption(f"At most {MAX_PAGE_CELLS} cells, run in this server process. Bigger sweeps: "
                   "`python -m alsim sweep ... --out DIR` (a local Dask cluster, or `--scheduler` for a cluster).")
        c1, c2 = st.columns(2)
        preset = c1.selectbox("Preset", list(PRESETS), index=list(PRESETS).index("digits-compare"),
                              key="sweep_run_preset")
        name = c2.text_input("Name (its folder under the sweeps home is the name and the sweep's id)",
                             value="page-sweep", key="sweep_run_name", max_chars=64)
        sets = st.text_input("Fixed fields (field=value, comma-separated)", value="pool_size=400, n_rounds=6",
                             key="sweep_run_sets")
        g1, g2 = st.columns(2)
        grid_a = g1.text_input("Grid field 1 (field=v1,v2,...)", value="gamma=0.1,0.25", key="sweep_run_grid_a",
                               max_chars=MAX_GRID_BOX_CHARS)
        grid_b = g2.text_input("Grid field 2 (optional)", value="batch_size=5,10", key="sweep_run_grid_b",
                               max_chars=MAX_GRID_BOX_CHARS)
        s1, s2 = st.columns([3, 1])
        strategies = s1.multiselect("Strategies", list(strategy_names()), default=["entropy", "random"],
                                    key="sweep_run_strategies")
        seeds = s2.number_input("Seeds", min_value=1, max_value=MAX_PAGE_SEEDS, value=6, step=1,
                                key="sweep_run_seeds")
        if not st.button("Run sweep", key="sweep_run_button"):
            return
        try:
            if not _NAME.fullmatch(name.strip()):
                raise SweepError(f"name must be 1-64 letters, digits, '.', '_' or '-', got {name!r}")
            items = [g.strip() for g in (grid_a, grid_b) if g.strip()]
            if any(len(item) > MAX_GRID_BOX_CHARS for item in items):
                raise SweepError(f"a grid box holds {max(map(len, items)):,} characters, more than the limit of "
                                 f"{MAX_GRID_BOX_CHARS:,}")
            # From the text alone, before a value is parsed: a long value list costs seconds per thousand.
            check_grid_size(items, len(strategies), int(seeds), MAX_PAGE_CELLS,
                            hint=f"; the page runs at most {MAX_PAGE_CELLS} (use python -m alsim sweep for more)")
            base = get_preset(preset)
            base = base.with_overrides(_split_assignments(sets))
            spec = SweepSpec(base, parse_grid(items, base), tuple(strategies), int(seeds))
            if spec.n_cells > MAX_PAGE_CELLS:
                raise SweepError(f"the sweep has {spec.n_cells} cells; the page runs at most {MAX_PAGE_CELLS} "
                                 "(use python -m alsim sweep for more)")
            spec.validate()
        except AlsimError as exc:
            show_error(_page_words(str(exc)))
            return
        # Its own folder: the name and the sweep's id, so another sweep under the same name never
        # mixes its cells into this one's (re-running the same sweep resumes it).
        folder = sweeps_home() / f"{name.strip()}-{spec_id(spec)}"
        waiting = st.empty()
        bar = st.progress(0.0, text="Sweep: starting")

        def on_progress(progress) -> None:
            bar.progress(min(1.0, progress.done / max(1, progress.total)), text=f"Sweep: {progress.text()}")

        try:
            with work_slots().slot(on_wait=lambda ahead: waiting.info(
                    f"Waiting for a free worker: {ahead} run(s) ahead")):
                waiting.empty()
                report = run_sweep(spec, folder, in_process=True, progress=on_progress)
        except AlsimError as exc:
            bar.empty()
            show_error(exc)
            return
        bar.empty()
        st.success(f"{len(report.computed)} cells computed, {report.skipped} already stored, "
                   f"in {report.seconds:.1f} s.")
        st.session_state["sweep_folder"] = str(folder)


def _split_assignments(text: str) -> list[str]:
    """``"pool_size=400, n_rounds=6"`` -> ``["pool_size=400", "n_rounds=6"]`` (a value may hold commas)."""
    parts: list[str] = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece:
            continue
        if "=" in piece or not parts:
            parts.append(piece)
        else:
            parts[-1] += "," + piece
    return parts


#: The page's URL-bound widgets: none (a results folder is a path on the server, not a link setting).
SWEEP_PARAMS: dict = {}


def sweep_page() -> None:
    sanitize_query_params(SWEEP_PARAMS)
    st.title("Sweeps: where does active learning pay?")
    show_url_notices()
    _run_form()  # first: a sweep that finishes here fills the folder field below
    folder_text = st.text_input("Results folder (the --out of python -m alsim sweep)", key="sweep_folder",
                                placeholder=str(sweeps_home() / "NAME"))
    if not folder_text.strip():
        st.info("Enter a results folder written by `python -m alsim sweep --out DIR`, or run a small sweep above.")
        return
    folder = Path(folder_text.strip()).expanduser()
    if not folder.is_dir() or not _holds_results(folder):
        show_error(f"{folder_text.strip()} is not a sweep results folder (no {MANIFEST} or {JSONL} in it)")
        return
    store = ResultStore(folder)
    sweeps = store.sweeps()
    sweep = None
    if len(sweeps) > 1:  # appended sweeps: each is summarised on its own
        index = st.selectbox("Sweep (this folder holds several)", range(len(sweeps)), index=len(sweeps) - 1,
                             format_func=lambda i: describe_sweep(sweeps[i]), key="sweep_which")
        sweep = sweeps[index]
    elif sweeps:
        sweep = sweeps[0]
    try:
        frame = store.frame(sweep=sweep)
    except (AlsimError, OSError, ValueError) as exc:
        show_error(f"cannot read {folder_text.strip()}: {exc}")
        return
    if frame.empty:
        st.info("This folder holds no finished cells yet.")
        return
    summary = summarize_sweep(frame)
    st.caption(f"{len(frame)} cells: {frame['point_hash'].nunique()} grid points x "
               f"{len(summary.strategies)} strategies, {frame['seed'].nunique()} seeds.")
    _heatmap_view(summary)
    st.subheader("Best setting per strategy")
    st.caption("The grid point with the highest mean AULC; p: Holm-corrected Wilcoxon of per-seed AULC vs random.")
    st.dataframe(readable_table(summary.best().rename(columns=COLUMN_TITLES)), key="sweep_best", hide_index=True)
    with st.expander("How to read this"):
        st.markdown(EXPLAIN)
    with st.expander("Every grid point and strategy"):
        st.dataframe(readable_table(summary.table.drop(columns=["point_hash"]).rename(columns=COLUMN_TITLES)),
                     key="sweep_table", hide_index=True)


def describe_sweep(record: dict) -> str:
    """One line naming a recorded sweep: its id, data, model, grid, strategies and seeds."""
    base = record.get("base", {})
    grid = " x ".join(f"{name} ({len(values)})" for name, values in record.get("grid", [])) or "no grid"
    return (f"{record.get('id', '?')[:8]}: {base.get('dataset')}, {base.get('model')}, {grid}, "
            f"{', '.join(record.get('strategies', []))}, {record.get('n_seeds')} seeds")


def _heatmap_view(summary) -> None:
    fields = list(summary.fields)
    others = [s for s in summary.strategies if s != "random"]
    if not fields or not others or "random" not in summary.strategies:
        st.info("A heatmap needs at least one grid field and random sampling beside another strategy.")
        return
    c1, c2, c3, c4 = st.columns(4)
    x_field = c1.selectbox("Columns", fields, index=0, key="sweep_x")
    y_choices = [f for f in fields if f != x_field] or [x_field]
    y_field = c2.selectbox("Rows", y_choices, index=0, key="sweep_y")
    strategy = c3.selectbox("Strategy", others, index=0, key="sweep_strategy")
    metric = c4.radio("Value", list(METRICS), format_func=METRICS.get, key="sweep_metric")
    fixed = {}
    rest = [f for f in fields if f not in (x_field, y_field)]
    if rest:
        columns = st.columns(len(rest))
        for column, name in zip(columns, rest):
            values = sorted(summary.table[name].dropna().unique().tolist(), key=str)
            fixed[name] = column.selectbox(f"{name} (fixed)", values, key=f"sweep_fixed_{name}")
    chart(gain_heatmap(summary, x_field, y_field, strategy, metric, fixed), key="sweep_heatmap", width="stretch")
