"""Fuzz findings not fixed yet (details in the fuzz findings notes and in each crash file's replay).

A crash input listed here replays as an expected failure (xfail, not strict: once fixed it passes and
its entry should go); the smoke runs tolerate these signatures, and only these.
A signature leaves out the line number: ``Type at file (function)`` as ``fuzz.run.signature(exc, line=False)``;
a finding's signature also matches the signatures it begins (one fault reached through several callers).
"""

from __future__ import annotations

from typing import NamedTuple


class OpenFinding(NamedTuple):
    target: str
    files: tuple[str, ...]  # names in tests/fuzz/crashes/<target>/
    signatures: tuple[str, ...]
    summary: str


OPEN: dict[str, OpenFinding] = {
    "F9": OpenFinding(
        "sip_cores", ("89b82264214be968", "ac48248f83865384", "a7cddf41361e7a2b"),
        ("AvpEncodeError at ims/diameter/codec.py (avp) via ims/diameter/cx.py",
         "UnicodeEncodeError at ims/diameter/codec.py (avp) via ims/diameter/cx.py"),
        "non-UTF-8 text from a REGISTER (IMPI, IMPU, P-Visited-Network-ID) reaches Cx AVPs: an encode error"),
    "F10": OpenFinding(
        "cx_answers", ("099e2ad15a02b881",),
        ("HeaderInjectionError at ims/sip/errors.py (check_text) via ims/cscf/scscf.py (_unauthorized)",),
        "an MAA's Digest realm with a NUL reaches the S-CSCF's WWW-Authenticate (500 by the boundary)"),
}


def open_file(target: str, name: str) -> str | None:
    """The finding id of a crash file still open, else None."""
    for fid, f in OPEN.items():
        if f.target == target and name in f.files:
            return fid
    return None


def open_finding_of(signature: str) -> str | None:
    """The open finding whose signature is ``signature`` or begins it."""
    for fid, f in OPEN.items():
        if any(signature.startswith(sig) for sig in f.signatures):
            return fid
    return None
