"""``ims sip check`` run as a user would, in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.sip.test_rfc4475 import INVALID, VALID


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ims.cli", "sip", "check", *args],
                          capture_output=True, text=True, timeout=60)


def test_valid_and_invalid_files(tmp_path: Path) -> None:
    good = tmp_path / "wsinv.sip"
    good.write_bytes(VALID["3.1.1.1-wsinv"])
    bad = tmp_path / "mismatch.sip"
    bad.write_bytes(INVALID["3.1.2.17-mismatch01"][0])
    run = _run(str(good), str(bad))
    assert run.returncode == 1
    assert f"{good}: valid" in run.stdout
    assert f"{bad}: invalid: CSeq method 'INVITE' does not match request method 'OPTIONS'" in run.stdout
    assert _run(str(good)).returncode == 0


def test_json_output_lists_headers_in_order(tmp_path: Path) -> None:
    f = tmp_path / "m.sip"
    f.write_bytes(VALID["3.1.1.6-lwsdisp"])
    run = _run("--json", str(f))
    assert run.returncode == 0
    doc = json.loads(run.stdout)
    assert doc["start_line"] == "OPTIONS sip:user@example.com SIP/2.0"
    assert [h[0] for h in doc["headers"]][:3] == ["To", "From", "Max-Forwards"]
    assert doc["body_length"] == 0


def test_lf_line_ends_are_named_and_lf_ok_accepts_them(tmp_path: Path) -> None:
    f = tmp_path / "editor.sip"
    f.write_bytes(VALID["3.1.1.6-lwsdisp"].replace(b"\r\n", b"\n"))
    run = _run(str(f))
    assert run.returncode == 1 and "lines end in lf, not crlf" in run.stdout.lower()
    assert _run("--lf-ok", str(f)).returncode == 0
