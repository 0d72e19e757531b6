"""Fuzz findings not fixed yet (details in the fuzz findings notes and in each crash file's replay).

A crash input listed here replays as an expected failure (xfail, not strict: once fixed it passes and
its entry should go); the smoke run tolerates these signatures, and only these, for its target.
A signature leaves out the line number: ``Type at file (function)`` as ``fuzz.run.signature(exc, line=False)``.
"""

from __future__ import annotations

from typing import NamedTuple


class OpenFinding(NamedTuple):
    target: str
    files: tuple[str, ...]  # names in tests/fuzz/crashes/<target>/
    signatures: tuple[str, ...]
    summary: str


OPEN: dict[str, OpenFinding] = {
    "F3": OpenFinding(
        "subscriber_csv", ("e6f0ee6b8710c036", "8fa8e5048e287e9c"),
        ("Error at ims/hss/provisioning.py (parse_csv_rows)",),
        "csv.Error (bare CR in an unquoted field) escapes parse_csv_rows instead of StoreError"),
}


def open_file(target: str, name: str) -> str | None:
    """The finding id of a crash file still open, else None."""
    for fid, f in OPEN.items():
        if f.target == target and name in f.files:
            return fid
    return None


def open_signatures(target: str) -> dict[str, str]:
    """Signature -> finding id of the open findings of one target."""
    return {sig: fid for fid, f in OPEN.items() if f.target == target for sig in f.signatures}
