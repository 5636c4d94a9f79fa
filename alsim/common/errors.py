"""The project's errors: every error a user can cause derives from :class:`AlsimError`.

The command line turns an ``AlsimError`` into one line and exit code 2; the pages into an
error box. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from alsim.common.text import escape_controls


class AlsimError(Exception):
    """A user-facing error: the message is one line that says what was wrong and what is allowed."""


class ConfigError(AlsimError, ValueError):
    """An invalid configuration value; the message names field, value and what is allowed."""


class DataError(AlsimError, RuntimeError):
    """A data set is missing or unreadable; the message says how to get it."""


class SourceError(ConfigError):
    """A config asks a data source for something it does not have."""


class GraphTooLarge(AlsimError, MemoryError):
    """A graph or kernel would not fit in memory; raised before anything is allocated."""


class KernelTooLarge(ConfigError):
    """The settings' dense rbf kernel would not fit in memory for this pool (found before anything is
    allocated); the knn kernel, which keeps a few entries per point, would."""


class UsageError(AlsimError):
    """Bad command-line usage."""


def one_line(exc: BaseException) -> str:
    """The first line of an error's message (control characters escaped), or its type's name when it has none.

    Messages carry names from data files; shown raw, an escape sequence would reach the terminal.
    """
    text = str(exc)
    return escape_controls(text.split("\n")[0]) if text.strip() else type(exc).__name__
