"""URL parameters are untrusted input: check them against the page's widget definitions first.

Every URL-bound widget of a page is described once, by a :class:`Param` in the page's
table (key without prefix -> kind and range). The widget builders read their range from
that same table, and :func:`sanitize_query_params`, called at the top of each page, drops
every parameter the widget would reject before any widget reads the URL, then shows one
notice naming each dropped parameter.

Streamlit itself silently resets most invalid values to the default, but a non-finite
number in an integer widget (``?batch_size=1e400``, ``?seed=Infinity``) raises an
``OverflowError`` while the widget reads the URL. Widgets seed from the query string the
run started with, so removing a parameter only takes effect on a new run: the sanitiser
removes the bad parameters, keeps the notice in session state, and reruns once.

Choice widgets take their options from the call that draws them (often a registry), so
their values are checked there, by :func:`check_choice`, against exactly those options.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import streamlit as st
from streamlit.errors import StreamlitAPIException

from alsim.common.values import parse_integer, parse_number
from alsim.dashboard.messages import escape_markdown

#: The largest integer a browser's number input keeps exact, and Streamlit's bound
#: for an integer widget without ``max_value``.
MAX_SAFE_INTEGER = 2**53 - 1
#: Longest URL value quoted back in a notice.
_QUOTE_CHARS = 60
_NOTICES = "_alsim_url_notices"
#: Upper bounds from here on exist against overflow, not as a setting's range.
_TECHNICAL_BOUND = 2**31 - 1


@dataclass(frozen=True)
class Param:
    """What one URL-bound widget accepts.

    Attributes
    ----------
    kind : str
        ``int`` / ``float`` (a number input), ``choice`` (selectbox, radio: one of the
        widget's options), ``choices`` (multiselect), ``bool`` (checkbox) or ``text``.
    minimum, maximum : float or None
        Range of a number input (``maximum=None``: no upper bound but the browser's).
    default : int, float or None
        A number input's value when the URL does not set it.
    max_chars : int or None
        Longest text a text input accepts.
    """

    kind: str
    minimum: float | None = None
    maximum: float | None = None
    default: float | None = None
    max_chars: int | None = None

    def describe(self, raw: str = "") -> str:
        """What a valid value is, in words ("an integer >= 1", "a number in [0, 0.999]").

        An upper bound that only guards against overflow is named only to a ``raw`` value
        above it.
        """
        if self.kind in ("int", "float"):
            noun = "an integer" if self.kind == "int" else "a number"
            upper = MAX_SAFE_INTEGER if self.maximum is None else self.maximum
            if upper >= _TECHNICAL_BOUND and not _above(raw, upper):
                return f"{noun} >= {_number(self.minimum)}"
            return f"{noun} in [{_number(self.minimum)}, {_number(upper)}]"
        if self.kind == "bool":
            return "true or false"
        if self.kind == "text":
            return f"text of at most {self.max_chars} characters"
        return "one of the listed options"

    def accepts(self, raw: str) -> bool:
        """Whether the widget would take ``raw`` (one URL value) as given, without clamping."""
        if self.kind in ("int", "float"):
            # The CLI's syntax (ASCII digits, no nan/inf/underscores): Streamlit's own float()
            # takes more, and int(float("1e400")) raises OverflowError.
            try:
                value = parse_integer(raw) if self.kind == "int" else parse_number(raw)
            except ValueError:
                return False
            upper = MAX_SAFE_INTEGER if self.maximum is None else self.maximum
            return math.isfinite(value) and self.minimum <= value <= upper
        if self.kind == "bool":
            return raw.lower() in ("true", "false")
        if self.kind == "text":
            return self.max_chars is None or len(raw) <= self.max_chars
        return True  # choices are checked where the widget's options are known: check_choice

    def number(self, name: str) -> dict:
        """Keyword arguments of ``st.number_input`` for this parameter."""
        if self.kind not in ("int", "float"):
            raise TypeError(f"URL parameter {name!r} is a {self.kind}, not a number")
        cast = int if self.kind == "int" else float
        bounds = {"min_value": cast(self.minimum)}
        if self.maximum is not None:
            bounds["max_value"] = cast(self.maximum)
        return bounds


def Int(minimum: int, maximum: int | None = None, default: int | None = None) -> Param:  # noqa: N802
    """An integer number input."""
    return Param("int", minimum, maximum, default)


def Float(minimum: float, maximum: float, default: float | None = None) -> Param:  # noqa: N802
    """A float number input."""
    return Param("float", minimum, maximum, default)


CHOICE, CHOICES, BOOL = Param("choice"), Param("choices"), Param("bool")


def Text(max_chars: int) -> Param:  # noqa: N802
    """A text input."""
    return Param("text", max_chars=max_chars)


def prefixed(params: Mapping[str, Param], prefix: str) -> dict[str, Param]:
    """The same table with every key carrying a page prefix (the URL parameter names)."""
    return {prefix + name: param for name, param in params.items()}


def _above(raw: str, upper: float) -> bool:
    try:
        return math.isfinite(value := parse_number(raw)) and value > upper
    except ValueError:
        return False


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _quote(raw: str) -> str:
    return raw if len(raw) <= _QUOTE_CHARS else raw[:_QUOTE_CHARS] + f"… ({len(raw):,} characters)"


def _remember(key: str, raw: str, reason: str) -> None:
    notices = st.session_state.setdefault(_NOTICES, [])
    line = f"ignored URL parameter {key}={_quote(raw)}: {reason}"
    if line not in notices:
        notices.append(line)


def sanitize_query_params(params: Mapping[str, Param]) -> None:
    """Drop URL parameters this page's widgets would reject; rerun once if any was dropped.

    Call first thing on a page. ``params`` maps every URL parameter of the page (prefix
    included) to its :class:`Param`; parameters not in it are not settings of this page
    and are dropped too. Each dropped parameter is named in one notice, shown by
    :func:`show_url_notices`.
    """
    dropped = False
    for key in list(st.query_params):
        values = st.query_params.get_all(key)
        raw = values[-1] if values else ""  # a widget reads the last of repeated values
        param = params.get(key)
        if param is None:
            reason = "not a setting of this page"
        elif param.kind == "choices" or param.accepts(raw):
            continue
        else:
            reason = f"must be {param.describe(raw)}"
        _remember(key, raw, reason)
        try:
            del st.query_params[key]
        except StreamlitAPIException:
            # Bound to a widget already drawn in this session: the widget keeps its own
            # state and does not read the URL again on a rerun.
            continue
        dropped = True
    if dropped:
        st.rerun()


def check_choice(key: str, options: Iterable[object], multiple: bool = False) -> None:
    """Name URL values of a choice widget that are not among its ``options``.

    Streamlit drops such values itself (the widget falls back to its default, or keeps the
    valid ones of a multiselect); this adds them to the page's notice.
    """
    values = st.query_params.get_all(key)
    if not values:
        return
    allowed = {str(option) for option in options}
    wrong = [v for v in values if v and v not in allowed] if multiple else [v for v in values[-1:] if v not in allowed]
    shown = ", ".join(sorted(allowed)) if len(allowed) <= 12 else f"{len(allowed)} options"
    for value in wrong:
        _remember(key, value, f"must be one of {shown}")


def show_url_notices() -> None:
    """One warning listing every URL parameter dropped on this page, if any."""
    notices: Sequence[str] = st.session_state.pop(_NOTICES, None) or []
    if not notices:
        return
    lines = [escape_markdown(line) for line in notices]
    st.warning(lines[0] if len(lines) == 1 else "\n".join(f"- {line}" for line in lines), icon="⚠️")
