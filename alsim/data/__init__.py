"""Data sets and where they come from: built-in sets, importers, the local data store, the source registry.

Layer 1: may import :mod:`alsim.common` and :mod:`alsim.storage`.
"""
