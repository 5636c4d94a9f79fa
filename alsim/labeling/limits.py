"""Limits of the labeling exports, known without loading the labeling code (numpy, the loop),
so the command line's help names them."""

from __future__ import annotations

#: Most images embedded in one Label Studio tasks file as data URIs, and most PNG bytes in all:
#: Label Studio keeps each task's data in its database and sends it with every page of tasks, so
#: a larger set goes as files (``image_root``).
MAX_EMBED_ITEMS = 1000
MAX_EMBED_BYTES = 16 << 20
