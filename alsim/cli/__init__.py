"""The command line, ``alsim`` / ``python -m alsim``: one module per command.

Each command module has ``add_parser(sub)`` and ``run(args, out) -> exit code``;
:mod:`alsim.cli.main` builds the parser and turns every :class:`alsim.common.errors.AlsimError`
into one line and exit code 2. Commands import the core they use when they run, so that
``alsim --help`` starts in a fraction of a second. Layer 7: may import anything below.
"""
