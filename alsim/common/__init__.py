"""What every layer uses: the error classes, JSON output, process settings, the version.

Layer 0: imports nothing of alsim.
"""
