"""``ims subscriber import`` of a CSV that is not what it should be (issue 13, STYLE §6a).

Every case is one line ``error: FILE:LINE: ...``, exit status 1, no traceback, nothing stored.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ims.cli import main
from ims.hss.provisioning import parse_csv_rows
from ims.hss.store import StoreError

HEADER = "imsi,impi,impus,k,opc\n"
ROW = "001010000000003,3@ims.example.net,sip:carol@ims.example.net,465b5ce8b199b49faa5f0a2ee238a6bc," \
      "cd63cb71954a9f4e48a5994e37a02baf\n"

CASES = [
    ("not-utf8", (HEADER + ROW).encode().replace(b"carol", b"car\xf1l"), 2, "not UTF-8 (byte 0xf1)"),
    ("bare-cr", (HEADER + ROW.replace("carol", "ca\rrol")).encode(), 2, "not CSV: new-line character"),
    ("field-past-the-csv-limit", (HEADER + '"' + "1" * 200_000 + '"' + ROW[15:]).encode(), 2,
     "not CSV: field larger than field limit"),
    ("extra-field", (HEADER + ROW.rstrip() + ",x\n").encode(), 2, "do not match the 5 columns of the header"),
    ("short-row", (HEADER + ROW + "001010000000004,4@ims.example.net\n").encode(), 3,
     "do not match the 5 columns of the header"),
    ("bad-k-hex", (HEADER + ROW.replace("465b5ce8", "465b5cZZ")).encode(), 2, "k: '465b5cZZ"),
]


@pytest.mark.parametrize(("case", "data", "line", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_csv_is_one_error_line_with_its_line(case: str, data: bytes, line: int, expected: str,
                                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "subs.csv"
    csv.write_bytes(data)
    db = tmp_path / "hss.sqlite"
    assert main(["subscriber", "--db", str(db), "import", str(csv)]) == 1
    out, err = capsys.readouterr()
    assert err == "" and out.count("\n") == 1 and out.startswith(f"error: {csv}:{line}: ") and expected in out, out
    assert main(["subscriber", "--db", str(db), "list", "--json"]) == 0
    assert capsys.readouterr()[0].strip() == "[]"


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=300),
                 st.builds(lambda cut, junk: (HEADER + ROW)[:cut] + junk, st.integers(0, len(HEADER + ROW)),
                           st.text(max_size=30))))
def test_random_text_gives_only_store_error(text: str) -> None:
    try:
        parse_csv_rows(text, "subs.csv")
    except StoreError as exc:
        assert str(exc).startswith("subs.csv:")


def test_identities_are_ascii_digits_only() -> None:
    """``str.isdigit()`` takes '²' (which ``int()`` refuses) and '١': an IMSI or MSISDN of them is refused."""
    for bad in (ROW.replace("001010000000003", "00101000000000²"), ROW.replace("001010000000003", "00101000000000١")):
        try:
            parse_csv_rows(HEADER + bad, "subs.csv")
        except StoreError as exc:
            assert str(exc).startswith("subs.csv:2: imsi:"), exc
        else:
            raise AssertionError(f"accepted {bad!r}")
    header = HEADER.rstrip("\n") + ",msisdn\n"
    try:
        parse_csv_rows(header + ROW.rstrip("\n") + ",1555²\n", "subs.csv")
    except StoreError as exc:
        assert str(exc).startswith("subs.csv:2: msisdn:"), exc
    else:
        raise AssertionError("accepted a superscript digit in the MSISDN")
