"""Lab files are untrusted input (STYLE §6a, issue 13): any bytes give TopologyError with file:line.

Each case goes through the loader and through the command line (``ims topology check``, ``ims up``):
one clear line naming the file, the line and the field, exit status 1, no traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ims.cli import main
from ims.topology import TopologyError, load
from ims.topology.loader import MAX_NESTING, too_deep

ROOT = Path(__file__).resolve().parents[2]
BASIC = (ROOT / "topologies" / "volte-basic.toml").read_text()
CSV_HEADER = "imsi,impi,impus,k,opc,amf,sqn\n"
CSV_ROW = ("001010000000003,003@ims.example.org,sip:carol@ims.example.org;tel:+15550003,"
           "465b5ce8b199b49faa5f0a2ee238a6bc,cd63cb71954a9f4e48a5994e37a02baf,8000,000000000001\n")


def _line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def _with(old: str, new: str) -> str:
    assert old in BASIC
    return BASIC.replace(old, new, 1)


_PORT = "port = 3868"
_PORT_LINE = _line_of(BASIC, _PORT)
_KIND = 'kind = "pcscf"'
_KIND_LINE = _line_of(BASIC, _KIND)

# (case, file bytes, what the one problem says, its line)
TOML_CASES = [
    ("not-utf8", _with('kind = "pcscf"', 'kind = "pc\xffscf"').encode("utf-8").replace(b"\xc3\xbf", b"\xff"),
     "(top level): not UTF-8 (TOML files are UTF-8): byte 0xff at column 11", _KIND_LINE),
    ("nested-arrays", _with(_PORT, "port = " + "[" * 5000 + "]" * 5000).encode(),
     f"arrays or inline tables nested deeper than {MAX_NESTING} levels", _PORT_LINE),
    ("nested-inline-tables", _with(_PORT, "port = " + "{a=" * 2000 + "1" + "}" * 2000).encode(),
     f"arrays or inline tables nested deeper than {MAX_NESTING} levels", _PORT_LINE),
    ("int-of-5000-digits", _with(_PORT, "port = 1" + "0" * 5000).encode(),
     "(top level): integer of too many digits (Exceeds the limit (4300 digits)", _PORT_LINE),
    ("hex-int-past-64-bits", _with(_KIND, "kind = 0x" + "f" * 20000).encode(),
     "nodes[3].kind: integer of 80000 bits does not fit TOML's 64-bit integers", _KIND_LINE),
    ("int-past-64-bits", _with(_PORT, "port = 99999999999999999999").encode(),
     "diameter.port: integer of 67 bits does not fit TOML's 64-bit integers", _PORT_LINE),
    # str.isdigit() takes '²' and '١' (int() refuses the first): identities are ASCII digits only
    ("superscript-digit-in-the-mcc", _with('mcc = "001"', 'mcc = "00²"').encode(),
     "domains[0].mcc: MCC must be 3 digits, got '00²'", 10),
    ("arabic-indic-digit-in-an-imsi", _with('imsi = "001010000000001"', 'imsi = "00101000000000١"').encode(),
     "subscribers[0].imsi: IMSI must be 6 to 15 digits", 63),
]


# (case, CSV bytes, what the one problem says, its CSV line)
CSV_CASES = [
    ("row-with-an-extra-field", (CSV_HEADER + CSV_ROW.rstrip("\n") + ",x\n").encode(),
     "subscribers_csv: 8 fields, the header names 7 columns", 2),
    ("row-short-of-fields", (CSV_HEADER + CSV_ROW + "001010000000004,004@ims.example.org\n").encode(),
     "subscribers_csv: 2 fields, the header names 7 columns", 3),
    ("empty-file", b"", "subscribers_csv: no header line naming the columns", 1),
    ("not-utf8", (CSV_HEADER + CSV_ROW).encode().replace(b"carol", b"car\xe9l"),
     "subscribers_csv: not UTF-8 (subscriber CSV files are read as UTF-8): byte 0xe9 at column 44", 2),
    ("bad-k-hex", (CSV_HEADER + "\n" + CSV_ROW.replace("465b5ce8", "465b5cXY")).encode(),
     "subscribers[2].k: K must be hexadecimal, got '465b5cXYb199b49faa5f0a2ee238a6bc'", 3),
    ("bad-opc-length", (CSV_HEADER + CSV_ROW.replace(",cd63cb71", ",cd63cb")).encode(),
     "subscribers[2].opc: OPc must be 16 bytes (32 hex digits), got 30 hex digits", 2),
    ("field-past-the-csv-limit", (CSV_HEADER + '"' + "1" * 200_000 + '"' + CSV_ROW[15:]).encode(),
     "subscribers_csv: not CSV: field larger than field limit", 2),
    ("unknown-column", b"imsi,impi,colour\n1,2,3\n", "subscribers_csv: unknown CSV column(s): 'colour'", 1),
    ("impu-with-a-nul", (CSV_HEADER + CSV_ROW.replace("carol@", "ca\x00rol@")).encode(),
     "holds a control character or a blank", 2),
]


def _check_cli(path: Path, expected: str, where: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``ims topology check`` and ``ims up``: status 1 and one line with file:line and the problem."""
    for argv, prefix in ((["topology", "check", str(path)], ""),
                         (["up", str(path), "--run-dir", str(tmp_path / "run")], "ims up failed:\n")):
        assert main(argv) == 1
        out, err = capsys.readouterr()
        assert out.startswith(prefix) and err == "", (out, err)
        lines = out[len(prefix):].splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{where}: ") and expected in lines[0], out
    assert not (tmp_path / "run" / "lab.json").exists()


@pytest.mark.parametrize(("case", "data", "expected", "line"), TOML_CASES, ids=[c[0] for c in TOML_CASES])
def test_a_bad_topology_file_is_one_problem_with_file_and_line(case: str, data: bytes, expected: str, line: int,
                                                                tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                                ) -> None:
    path = tmp_path / "lab.toml"
    path.write_bytes(data)
    with pytest.raises(TopologyError) as info:
        load(path)
    (problem,) = info.value.problems
    assert expected in str(problem) and problem.file == str(path) and problem.line == line, str(problem)
    _check_cli(path, expected, f"{path}:{line}", capsys, tmp_path)


@pytest.mark.parametrize(("case", "data", "expected", "line"), CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_a_bad_subscriber_csv_is_one_problem_at_its_csv_line(case: str, data: bytes, expected: str, line: int,
                                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                              ) -> None:
    (tmp_path / "subs.csv").write_bytes(data)
    path = tmp_path / "lab.toml"
    path.write_text('subscribers_csv = "subs.csv"\n' + BASIC)
    with pytest.raises(TopologyError) as info:
        load(path)
    (problem,) = info.value.problems
    assert expected in str(problem) and problem.file == "subs.csv" and problem.line == line, str(problem)
    _check_cli(path, expected, f"subs.csv:{line}", capsys, tmp_path)


def test_blank_lines_and_quoted_newlines_keep_csv_lines_right(tmp_path: Path) -> None:
    quoted = CSV_ROW.replace("sip:carol@ims.example.org;tel:+15550003", '"sip:carol@ims.example.org\ntel:+15550003"')
    bad = CSV_ROW.replace("0003", "0004").replace("carol", "dave").replace(",8000,", ",80,")
    (tmp_path / "subs.csv").write_text(CSV_HEADER + "\n" + quoted + "\n" + bad)
    path = tmp_path / "lab.toml"
    path.write_text('subscribers_csv = "subs.csv"\n' + BASIC)
    with pytest.raises(TopologyError) as info:
        load(path)
    (problem,) = info.value.problems
    assert problem.line == 6 and "AMF must be 2 bytes" in problem.message, str(problem)
    (tmp_path / "subs.csv").write_text(CSV_HEADER + "\n" + quoted + "\n")
    assert load(path).subscribers[-1].impus == ["sip:carol@ims.example.org", "tel:+15550003"]


def test_brackets_in_strings_and_comments_are_not_nesting() -> None:
    deep = "[" * 40
    text = (f'a = "{deep}"\nb = \'{deep}\'\nc = """\n{deep}\\"""{deep}\n"""\n'
            f"d = '''{deep}'''\n# {deep}\ne = [[1], [2]]\n")
    assert too_deep(text) is None
    assert too_deep(text + "f = " + "[" * 33 + "]" * 33 + "\n") == 9


def test_the_command_line_prints_no_traceback(tmp_path: Path) -> None:
    """Through ``python -m ims.cli``: every bad file is one line on stdout, nothing on stderr."""
    files = []
    for case, data, _, _ in TOML_CASES:
        files.append(tmp_path / f"{case}.toml")
        files[-1].write_bytes(data)
    run = subprocess.run([sys.executable, "-m", "ims.cli", "topology", "check", *map(str, files)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 1 and run.stderr == "", run.stderr
    assert [line.split(":")[0] for line in run.stdout.splitlines()] == list(map(str, files)), run.stdout


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=400),
                 st.builds(lambda cut, junk: BASIC.encode()[:cut] + junk, st.integers(0, len(BASIC)),
                           st.binary(max_size=40))))
def test_random_bytes_as_a_topology_give_only_topology_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "lab.toml"
    path.write_bytes(data)
    try:
        load(path)
    except TopologyError as exc:
        assert exc.problems and all(p.file for p in exc.problems)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.binary(max_size=300),
                 st.builds(lambda cut, junk: (CSV_HEADER + CSV_ROW).encode()[:cut] + junk,
                           st.integers(0, len(CSV_HEADER + CSV_ROW)), st.binary(max_size=40))))
def test_random_bytes_as_a_subscriber_csv_give_only_topology_error(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "subs.csv").write_bytes(data)
    path = tmp_path / "lab.toml"
    path.write_text('subscribers_csv = "subs.csv"\n' + BASIC)
    try:
        load(path)
    except TopologyError as exc:
        assert exc.problems


def test_finding_a_line_is_linear_in_long_header_lines() -> None:
    """``locate`` reads every line as a possible table header: a "[" and a long run of blanks and
    letters must cost time linear in it (the header pattern used to backtrack cubically)."""
    import time

    from ims.topology.loader import locate

    def cost(n: int) -> float:
        text = "[" + " a" * n + "\n[[nodes]]\nname = 1\n"
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(20):
                assert locate(text, ("nodes", 0, "name")) == 3
            best = min(best, time.perf_counter() - t)
        return best

    small, large = cost(200), cost(2000)
    assert large / small < 30, f"n=200: {small * 1e3:.3f} ms, n=2000: {large * 1e3:.3f} ms (linear is ~10x)"
