"""``ims aka``: placeholder until its issue lands."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("aka", help="(not yet available)")
    p.set_defaults(func=lambda args: print("not yet available") or 2)
