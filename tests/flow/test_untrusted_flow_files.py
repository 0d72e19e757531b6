"""Flow files are untrusted input (STYLE §6a, issue 13): any bytes give FlowError with file:line.

Each case goes through ``load_flow`` and through ``ims flow check`` / ``ims flow run``: one line naming
the file, the line and the field, exit status 1, no traceback, no lab started.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ims.cli import main
from ims.flow.loader import FlowError, load_flow

GOOD = '[flow]\nname = "x"\ntopology = "lab.toml"\n\n[[steps]]\nwait = 1\n'
WAIT_LINE = 6

CASES = [
    ("not-utf8", GOOD.encode().replace(b'"x"', b'"\xc0x"'), "(top level): not UTF-8", 2),
    ("nested", GOOD.replace("wait = 1", "wait = " + "[" * 3000 + "]" * 3000).encode(),
     "arrays or inline tables nested deeper than 32 levels", WAIT_LINE),
    ("int-of-5000-digits", GOOD.replace("wait = 1", "wait = 1" + "0" * 5000).encode(),
     "integer of too many digits", WAIT_LINE),
    ("hex-int-past-64-bits", GOOD.replace("wait = 1", "wait = 0x1" + "0" * 4400).encode(),
     "steps[0].wait: integer of 17601 bits does not fit TOML's 64-bit integers", WAIT_LINE),
    ("unterminated-string", GOOD.replace('"x"', '"x').encode(), "not valid TOML", 2),
]


def _write(tmp_path: Path, data: bytes, topology: bytes = b"") -> Path:
    (tmp_path / "lab.toml").write_bytes(topology)
    path = tmp_path / "flow.toml"
    path.write_bytes(data)
    return path


def _one_line(argv: list[str], where: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert err == "" and len(lines) == 1 and lines[0].startswith(f"{where}: ") and expected in lines[0], out


@pytest.mark.parametrize(("case", "data", "expected", "line"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_flow_file_is_one_problem_with_file_and_line(case: str, data: bytes, expected: str, line: int,
                                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    path = _write(tmp_path, data)
    with pytest.raises(FlowError) as info:
        load_flow(path)
    (problem,) = info.value.problems
    assert expected in str(problem) and problem.file == str(path) and problem.line == line, str(problem)
    for argv in (["flow", "check", str(path)], ["flow", "run", str(path), "--run-dir", str(tmp_path / "run")]):
        _one_line(argv, f"{path}:{line}", expected, capsys)
    assert not (tmp_path / "run").exists()


def test_a_topology_path_with_a_nul_is_a_flow_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, GOOD.replace('"lab.toml"', '"lab\\u0000.toml"').encode())
    with pytest.raises(FlowError) as info:
        load_flow(path)
    assert "flow.topology: not a usable path" in str(info.value)
    _one_line(["flow", "check", str(path)], str(path), "flow.topology: not a usable path", capsys)


def test_ims_flow_run_on_a_bad_topology_prints_its_problem_and_starts_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The flow is fine, its lab file is not UTF-8: one line with the lab file's line, status 1."""
    path = _write(tmp_path, GOOD.encode(), topology=b'[lab]\nname = "\xff"\n')
    where = f"{tmp_path / 'lab.toml'}:2"
    _one_line(["flow", "run", str(path), "--run-dir", str(tmp_path / "run")], where, "not UTF-8", capsys)
    _one_line(["flow", "check", str(path)], where, "not UTF-8", capsys)
    assert not (tmp_path / "run").exists()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=300),
                 st.builds(lambda cut, junk: GOOD.encode()[:cut] + junk, st.integers(0, len(GOOD)),
                           st.binary(max_size=40))))
def test_random_bytes_as_a_flow_give_only_flow_error(tmp_path: Path, data: bytes) -> None:
    path = _write(tmp_path, data)
    try:
        load_flow(path)
    except FlowError as exc:
        assert exc.problems and all(p.file == str(path) for p in exc.problems)
