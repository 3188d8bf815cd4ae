"""The ``mdbx`` executable: ``mdbx serve`` loads only what a server needs; every other
command is the client's (``app.client.cli.root``, which lists ``serve`` too)."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["serve"]:
        from app.server.command import serve

        serve(args=sys.argv[2:], prog_name="mdbx serve")
    else:
        from app.client.cli.root import main as client_main

        client_main()
