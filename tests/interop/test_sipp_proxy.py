"""SIPp (Debian's sip-tester) registers and calls through the proxy node on loopback, over UDP and TCP.

Three SIPp runs against one ``nodes.proxy`` process:
1. ``tools/sipp/register.xml`` registers bob with the address the SIPp UAS will listen on;
2. SIPp's built-in ``uas`` answers as bob (reached through the registrar binding);
3. SIPp's built-in ``uac`` calls ``bob@<proxy>`` N times: INVITE/100/180/200/ACK/BYE/200, all through the
   proxy (Record-Route keeps the ACK and BYE on it).
Every run is bounded (``-m``, ``-timeout``); success is SIPp's exit code *and* its ``-trace_stat`` counters.
"""

from __future__ import annotations

import csv
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nodes.test_proxy_node import _free_port

ROOT = Path(__file__).resolve().parents[2]
SIPP = shutil.which("sipp")
pytestmark = pytest.mark.interop


@pytest.fixture(autouse=True)
def _sipp_installed() -> None:
    """A missing SIPp fails (CI must see it), it is not skipped: ``make test-tools`` installs it."""
    assert SIPP is not None, "sipp is not installed: run `make test-tools` (Debian package sip-tester)"


PROXY = "127.0.3.2"
UAS = "127.0.3.21"
UAC = "127.0.3.22"
CALLS = 10
REGISTERS = 5
SIPP_T = {"udp": "u1", "tcp": "t1"}  # one socket for every call


def _run(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    assert SIPP is not None
    return subprocess.run([SIPP, *args, "-nostdin", "-timeout", "30s", "-timeout_error"],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


def _final_stats(path: Path) -> dict[str, str]:
    """The last row of a SIPp ``-trace_stat`` file (semicolon-separated, cumulative (C) columns)."""
    rows = list(csv.reader(path.read_text().splitlines(), delimiter=";"))
    assert len(rows) >= 2, f"no statistics in {path}"
    return dict(zip(rows[0], rows[-1]))


def _counts(path: Path) -> tuple[int, int]:
    row = _final_stats(path)
    return int(row["SuccessfulCall(C)"]), int(row["FailedCall(C)"])


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sipp_register_and_calls_through_proxy(tmp_path: Path, transport: str) -> None:
    port = _free_port(PROXY)
    proxy = subprocess.Popen([sys.executable, "-m", "nodes.proxy", "--listen", f"{PROXY}:{port}",
                              "--domain", "example.com"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    uas = None
    t = ["-t", SIPP_T[transport]]
    try:
        assert proxy.stderr is not None
        while "listening on" not in (line := proxy.stderr.readline()):
            assert line, "proxy node exited before listening"
        uas_port = _free_port(UAS)
        # 1. Several REGISTERs for bob (the first adds the binding, the others refresh it).
        reg = _run(["-sf", str(ROOT / "tools/sipp/register.xml"), "-set", "domain", "example.com", "-s", "bob",
                    f"{PROXY}:{port}", *t, "-i", UAS, "-p", str(uas_port), "-m", str(REGISTERS), "-r", "50",
                    "-trace_stat", "-stf", str(tmp_path / "reg.csv")], tmp_path)
        assert reg.returncode == 0, reg.stdout[-2000:] + reg.stderr[-2000:]
        assert _counts(tmp_path / "reg.csv") == (REGISTERS, 0)
        # 2. A SIPp UAS answers as bob on the registered contact.
        uas = subprocess.Popen([SIPP, "-sn", "uas", *t, "-i", UAS, "-p", str(uas_port), "-m", str(CALLS),
                                "-nostdin", "-timeout", "60s", "-timeout_error", "-trace_stat",
                                "-stf", str(tmp_path / "uas.csv"), "-trace_err"],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # 3. A SIPp UAC calls bob through the proxy.
        uac = _run(["-sn", "uac", "-s", "bob", f"{PROXY}:{port}", *t, "-i", UAC, "-m", str(CALLS), "-r", "10",
                    "-d", "200", "-trace_stat", "-stf", str(tmp_path / "uac.csv"),
                    "-trace_screen", "-screen_file", str(tmp_path / "uac_screen.log")], tmp_path)
        assert uac.returncode == 0, uac.stdout[-3000:] + uac.stderr[-2000:]
        assert uas.wait(timeout=30) == 0, uas.stderr.read() if uas.stderr else ""
        assert _counts(tmp_path / "uac.csv") == (CALLS, 0)
        assert _counts(tmp_path / "uas.csv") == (CALLS, 0)
        screen = (tmp_path / "uac_screen.log").read_text()
        assert "Successful call" in screen
    finally:
        if uas is not None and uas.poll() is None:
            uas.kill()
            uas.wait(timeout=10)
        proxy.send_signal(signal.SIGTERM)
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait(timeout=10)
    assert proxy.returncode == 0
