"""The labeling loop: config, pool, oracles, round records, the loop itself, stopping rules, presets.

Layer 4: may import :mod:`alsim.strategies`, :mod:`alsim.learn`, :mod:`alsim.data` and the foundations.
"""
