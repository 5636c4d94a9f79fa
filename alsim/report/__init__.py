"""Figures of runs (plotly), the self-contained HTML report, and exports of round records.

Layer 6: may import :mod:`alsim.evidence`, :mod:`alsim.labeling` and everything below; not :mod:`alsim.sweep`.
"""
