"""``alsim`` / ``python -m alsim``: the parser of every command, and one place that turns errors into one line."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Sequence

from alsim.cli.common import Parser
from alsim.common.errors import AlsimError, one_line
from alsim.common.runtime import configure_process, drop_codec_messages
from alsim.common.text import escape_controls

#: Command name -> its module; each has ``add_parser(sub)`` and ``run(args, out)``.
COMMANDS = {name: f"alsim.cli.{name}" for name in ("run", "compare", "sweep", "presets", "serve", "warm", "data",
                                                     "label")}


def parser() -> Parser:
    top = Parser(prog="python -m alsim", description="Simulate active learning for labeling images.")
    sub = top.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMANDS.values():
        importlib.import_module(module).add_parser(sub)
    return top


def main(argv: Sequence[str] | None = None, out=None) -> int:
    out = out or sys.stdout
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["serve"]:
        from alsim.cli.serve import run as serve  # lazy: Streamlit is loaded only to serve

        return serve(arguments[1:])
    configure_process()  # once per process (see alsim.common.runtime)
    drop_codec_messages()  # a command owns its terminal: image codecs' own lines stay off it
    try:
        args = parser().parse_args(arguments)
        args.argv = arguments  # for the report's "reproduce" line
        return importlib.import_module(COMMANDS[args.command]).run(args, out)
    except AlsimError as exc:
        print(f"alsim: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("alsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly, as other command-line tools do.
        if out is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        # What the system refused (a full disk or output, a folder that went away): one line,
        # as for any other error, never a traceback.
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"alsim: error: {escape_controls(exc.strerror or one_line(exc))}{escape_controls(where)}",
              file=sys.stderr)
        return 2


def console() -> None:
    """Entry point of the ``alsim`` console script (``pip install .``)."""
    sys.exit(main())
