"""Text from outside (class names, file names, error messages) made safe to show on a terminal or a page."""

from __future__ import annotations

import unicodedata

_ESCAPED_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


def escape_controls(text: str) -> str:
    """``text`` for a terminal or a page: each control or format character written as its
    Python escape (``\\x1b``, ``\\u202e``, ``\\n``), everything else as it is.

    A class name is data from a file: shown raw, an escape sequence would recolour or clear
    a terminal and a right-to-left override would flip the caption around it.
    """
    return "".join(repr(ch)[1:-1] if unicodedata.category(ch) in _ESCAPED_CATEGORIES else ch for ch in str(text))
