"""SIPp (Debian's sip-tester) registers and calls through the proxy node on loopback."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.nodes.test_proxy_node import _free_port

ROOT = Path(__file__).resolve().parents[2]
SIPP = shutil.which("sipp")
pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")

PROXY = "127.0.3.2"
UAS = "127.0.3.21"
UAC = "127.0.3.22"
CALLS = 10


def _sipp(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SIPP, *args, "-nostdin", "-timeout", "30s", "-timeout_error"],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.interop
def test_sipp_register_and_calls_through_proxy(tmp_path: Path) -> None:
    port = _free_port(PROXY)
    proxy = subprocess.Popen([sys.executable, "-m", "nodes.proxy", "--listen", f"{PROXY}:{port}",
                              "--domain", "example.com"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    uas = None
    try:
        assert proxy.stderr is not None
        while "listening on" not in (line := proxy.stderr.readline()):
            assert line, "proxy node exited"
        uas_port = _free_port(UAS)
        # 1. SIPp registers bob (several REGISTERs: the first adds, the others refresh).
        reg = _sipp("-sf", "tools/sipp/register.xml", "-set", "domain", "example.com", "-s", "bob",
                    f"{PROXY}:{port}", "-i", UAS, "-p", str(uas_port), "-m", "5", "-r", "50")
        assert reg.returncode == 0, reg.stdout[-2000:] + reg.stderr[-2000:]
        # 2. A SIPp UAS answers as bob on the registered contact.
        uas = subprocess.Popen([SIPP, "-sn", "uas", "-i", UAS, "-p", str(uas_port), "-m", str(CALLS),
                                "-nostdin", "-timeout", "60s", "-trace_err"],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # 3. A SIPp UAC calls bob@example.com through the proxy: INVITE/100/180/200/ACK/BYE/200.
        uac = _sipp("-sn", "uac", "-s", "bob", f"{PROXY}:{port}", "-i", UAC, "-m", str(CALLS), "-r", "10",
                    "-d", "200", "-trace_stat", "-stf", str(tmp_path / "uac.csv"))
        assert uac.returncode == 0, uac.stdout[-3000:] + uac.stderr[-2000:]
        assert uas.wait(timeout=30) == 0, uas.stderr.read() if uas.stderr else ""
        stats = (tmp_path / "uac.csv").read_text().splitlines()
        header, last = stats[0].split(";"), stats[-1].split(";")
        row = dict(zip(header, last))
        assert int(row["SuccessfulCall(C)"]) == CALLS and int(row["FailedCall(C)"]) == 0
    finally:
        if uas is not None and uas.poll() is None:
            uas.kill()
        proxy.send_signal(signal.SIGTERM)
        try:
            proxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proxy.kill()
    assert proxy.returncode == 0
