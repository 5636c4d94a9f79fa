"""Shared caches: the in-memory one every session uses (:mod:`.memory`) and the verified disk cache (:mod:`.disk`).

Layer 0: imports nothing of alsim but :mod:`alsim.common`.
"""
