"""``alsim serve``: open the dashboard (see :mod:`alsim.dashboard.serve`)."""

from __future__ import annotations


def add_parser(sub) -> None:
    # Listed for --help; main() hands `serve` and everything after it to alsim.dashboard.serve, whose
    # options are Streamlit's (--server.port 8502), which argparse would refuse.
    sub.add_parser("serve", help="open the dashboard, warmed up before the first visit (options go to streamlit run)",
                   add_help=False)


def run(argv: list[str]) -> int:
    from alsim.dashboard.serve import main  # lazy: Streamlit is loaded only to serve

    return main(argv)
