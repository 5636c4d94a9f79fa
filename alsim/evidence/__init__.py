"""What runs show: comparisons over seeds, the verdict against random, and the plain-words narrative.

Layer 5: may import :mod:`alsim.loop` and everything below it; not :mod:`alsim.labeling`.
"""
