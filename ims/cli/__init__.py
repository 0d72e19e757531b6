"""The ``ims`` command line.

Each subcommand group lives in its own module of this package and exposes
``register(subparsers)``; the module list below is the whole command tree.
Subcommands that need a node start it as a process (``python -m nodes.X``)
or talk to it over gRPC, so this package never imports ``nodes``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Modules under ims.cli that contribute subcommands, in help order.
_GROUPS = ("lab", "ue", "flow", "capture", "trace", "topology", "sip", "aka", "subscriber")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ims", description="IMS core network simulator for VoLTE labs"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in _GROUPS:
        module = importlib.import_module(f"ims.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
