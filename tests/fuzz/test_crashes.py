"""Every input a fuzzer ever crashed a decoder with, replayed (tests/fuzz/crashes/<target>/<hash>).

A fixed fault stays fixed: the input must now give the decoder's typed error or a
successful parse, as ``fuzz.harnesses`` checks.  Inputs of findings still open are
expected failures (``tests/fuzz/open_findings.py``).  Add a file with
``python -m fuzz.run <target> --quick`` or ``make fuzz``; they write here.
"""

from __future__ import annotations

import pytest

from fuzz.harnesses import TARGETS
from fuzz.run import CRASHES, crash_files, first_failure, signature
from tests.fuzz.open_findings import OPEN, open_file

CASES = [(target, path) for target in TARGETS for path in crash_files(target)]


def _param(target: str, path: object) -> object:
    name = path.name  # type: ignore[attr-defined]
    fid = open_file(target, name)
    marks = [pytest.mark.xfail(reason=f"{fid} open: {OPEN[fid].summary}", strict=False)] if fid else []
    return pytest.param(target, path, id=f"{target}/{name}", marks=marks)


@pytest.mark.parametrize(("target", "path"), [_param(t, p) for t, p in CASES])
def test_crash_input_gives_only_the_typed_error(target: str, path: object) -> None:
    data = path.read_bytes()  # type: ignore[attr-defined]
    exc = first_failure(target, data)
    assert exc is None, f"{path}: {signature(exc)}: {exc}"


def test_crash_folders_name_known_targets() -> None:
    if CRASHES.is_dir():
        assert {p.name for p in CRASHES.iterdir() if p.is_dir()} <= set(TARGETS)


def test_open_findings_name_existing_crash_files() -> None:
    for fid, f in OPEN.items():
        have = {p.name for p in crash_files(f.target)}
        assert set(f.files) <= have, f"{fid}: {set(f.files) - have} missing from tests/fuzz/crashes/{f.target}"
