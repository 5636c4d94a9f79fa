"""A person in the oracle's place: the SQLite label store, labeling projects, the model state a
refit reads from the disk cache, the Label Studio round trip.

Layer 5: may import :mod:`alsim.loop` and everything below it; not :mod:`alsim.evidence`.
"""
