"""Reading and checking the values of settings: exact syntax, finite numbers, one-line messages.

Shared by :class:`alsim.loop.config.Config` and the strategies' parameter classes.
"""

from __future__ import annotations

import math
import re
from typing import Any

from alsim.common.errors import ConfigError

MAX_INTEGER = 2**31 - 1
_MAX_DIGITS = 100

_INTEGER_SYNTAX = re.compile(r"[+-]?[0-9]+")  # ASCII only: int() also takes "٣" and "3_0"
_NUMBER_SYNTAX = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_boolean(text: str) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``); ``ValueError`` otherwise."""
    value = {"true": True, "1": True, "yes": True, "on": True,
             "false": False, "0": False, "no": False, "off": False}.get(text.strip().lower())
    if value is None:
        raise ValueError(f"not a boolean: {text!r}")
    return value


def parse_integer(text: str) -> int:
    """An integer written as ASCII digits with an optional sign; ``ValueError`` otherwise."""
    if not _INTEGER_SYNTAX.fullmatch(text) or len(text) > _MAX_DIGITS:
        raise ValueError(f"not an integer: {text!r}")
    return int(text)


def parse_number(text: str) -> float:
    """A decimal number such as ``0.25``, ``-3`` or ``1e-3``; ``ValueError`` otherwise.

    ``float()`` also accepts ``nan``, ``inf``, ``1_0`` and non-ASCII digits; none of those
    is a value a person means to type here.
    """
    if not _NUMBER_SYNTAX.fullmatch(text):
        raise ValueError(f"not a number: {text!r}")
    return float(text)


def parse_value(name: str, type_name: str, raw: str) -> Any:
    """The value of one ``--set name=raw``, by the field's declared type (text fields stay text)."""
    if name == "thresholds" or type_name.startswith("tuple[float"):
        parse, expected = parse_number_list, "a comma-separated list of numbers such as 0.9,0.8"
    elif "float | None" in type_name:
        parse, expected = parse_optional_number, "a number (such as 0.1 or 1e-3) or none"
    elif type_name.startswith("float"):
        parse, expected = parse_number, "a number (such as 0.25 or 1e-3)"
    elif type_name.startswith("int"):
        parse, expected = parse_integer, "an integer such as 5"
    elif type_name.startswith("bool"):
        parse, expected = parse_boolean, "true or false"
    else:
        return raw
    try:
        return parse(raw)
    except ValueError:
        raise ConfigError(f"{name} expects {expected}, got {shown(raw)}") from None


def parse_number_list(text: str) -> tuple[float, ...]:
    return tuple(parse_number(item.strip()) for item in text.split(",") if item.strip())


def parse_optional_number(text: str) -> float | None:
    return None if text.lower() in ("none", "null", "") else parse_number(text)


def shown(value: Any, limit: int = 60) -> str:
    """``repr`` of a value, shortened so that an error stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def check_integer(name: str, value: Any, minimum: int, maximum: int = MAX_INTEGER) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {shown(value)}")
    if value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {shown(value)}")
    if value > maximum:
        raise ConfigError(f"{name} must be an integer in [{minimum}, {maximum}], got {shown(value)}")


def check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a finite number, got {shown(value)}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        raise ConfigError(f"{name} must be a finite number, got {shown(value)}")


def check_positive(name: str, value: Any, maximum: float = math.inf) -> None:
    """``value`` in (0, maximum]; the message states the allowed range."""
    check_number(name, value)
    if not 0 < value <= maximum:
        allowed = "> 0" if maximum == math.inf else f"in (0, {maximum:g}]"
        raise ConfigError(f"{name} must be {allowed}, got {shown(value)}")


def check_open_unit_interval(name: str, value: Any) -> None:
    check_number(name, value)
    if not 0.0 < value < 1.0:
        raise ConfigError(f"{name} must be in (0, 1), got {value!r}")


def check_unit_interval(name: str, value: Any) -> None:
    check_number(name, value)
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{name} must be in [0, 1), got {value}")
