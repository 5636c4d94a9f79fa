"""Messages that carry text from outside the app (URL, config files, data files) shown as plain text.

``st.error`` and ``st.warning`` render their body as Markdown, so a value such as
``[Session expired](http://host/login)`` typed into a URL would become a working link
inside the app's own error box. Every message built from user input goes through
:func:`show_error` / :func:`show_warning`, which escape it first.
"""

from __future__ import annotations

import re

import streamlit as st

from alsim.common.text import escape_controls

# CommonMark lets any ASCII punctuation be backslash-escaped. Escaping all of it that can
# start or close a construct also breaks GitHub-style autolinks (``http://``, ``www.``,
# ``a@b.c``), HTML tags and entities, ``$math$`` and Streamlit's ``:colour[...]`` and
# ``:emoji:`` directives. Left alone: , ; ? % / and quotes, which start nothing.
_PUNCTUATION = re.compile(r"([!#$&()*+\-.:<=>@\[\\\]^_`{|}~])")


def escape_markdown(text: str) -> str:
    """``text`` escaped so that Markdown renders it literally, character for character.

    Line breaks are kept as hard line breaks; nothing else in the text can start a link,
    an image, HTML, emphasis, a heading, a list or a code span.
    """
    escaped = _PUNCTUATION.sub(r"\\\1", str(text))
    # Leading spaces would otherwise make an indented code block or a nested list.
    lines = [line.lstrip(" \t") for line in escaped.splitlines()] or [""]
    return "  \n".join(lines)


def _literal(message: object) -> str:
    """``message`` as literal page text: Markdown escaped, control and format characters (a
    right-to-left override, an escape sequence) written as their escapes; line breaks kept."""
    return escape_markdown("\n".join(escape_controls(line) for line in str(message).split("\n")))


def show_error(message: object) -> None:
    """An error box whose text is shown literally (never interpreted as Markdown or HTML)."""
    st.error(_literal(message))


def show_warning(message: object) -> None:
    """A warning box whose text is shown literally (never interpreted as Markdown or HTML)."""
    st.warning(_literal(message))
