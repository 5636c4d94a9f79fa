"""Features, graphs, models and the metrics of their predictions and learning curves.

Layer 2: may import :mod:`alsim.data` and the foundations.
"""
