"""SIPp against lab handsets with reliable provisional responses (RFC 3262), through the IMS core (issue 14).

A volte-basic lab on 127.0.13.x (control ports picked free) runs as real processes; SIPp registers with its
own IMS-AKA at the P-CSCF (``tools/sipp/ims_aka_register.xml``) and, from that registered contact:

* as UAC (``tools/sipp/uac_100rel.xml``) calls handset alice with ``Require: 100rel``: the 180 must come
  reliably (Require: 100rel, RSeq, RFC 3262 §3), SIPp PRACKs it, then 200 with Allow and Supported
  (RFC 3261 §13.3.1.4), ACK, BYE;
* as UAS (``tools/sipp/uas_100rel.xml``) answers handset bob's call with a reliable 180 (RSeq 1) and
  waits for bob's PRACK (RAck 1 <CSeq> INVITE, §7.2) before its 200;
* and, from an address that never registered, pings the P-CSCF with OPTIONS (``tools/sipp/options_ping.xml``):
  200 with Allow (RFC 3261 §11.2).

SIPp must be installed (``make test-tools``, Debian ``sip-tester``): a missing binary fails, never skips.
Run under ``flock /tmp/ims-integration.lock`` with the other labs.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ims.control.client import NodeClient
from ims.control.ue import UeClient
from ims.lab import Lab
from tests.nodes.test_proxy_node import _free_port

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "tools" / "sipp"
DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
SIPP = shutil.which("sipp")
NET = "127.0.13"
PCSCF = f"{NET}.40"
SIPP_HOST = f"{NET}.200"
SIPP_N = 8  # subscriber 0010100000000 08, K = 08 repeated (no 00 byte: SIPp copies aka_K as a C string)
OP = "cd" * 16
pytestmark = [pytest.mark.interop]

EXTRA = f"""
[[subscribers]]
imsi = "0010100000000{SIPP_N:02d}"
impi = "0010100000000{SIPP_N:02d}@{DOMAIN}"
impus = ["sip:sipp@{DOMAIN}", "tel:+155500{SIPP_N:02d}"]
k = "{f'{SIPP_N:02x}' * 16}"
op = "{OP}"
amf = "8000"
sqn = "000000000020"

[[ues]]
name = "alice"
node = "ue"
subscriber = "001010000000001@{DOMAIN}"
pcscf = "pcscf"
[ues.behaviour]
media_enabled = false

[[ues]]
name = "bob"
node = "ue"
subscriber = "001010000000002@{DOMAIN}"
pcscf = "pcscf"
[ues.behaviour]
media_enabled = false
"""


def _require_sipp() -> str:
    if SIPP is None:
        raise AssertionError("sipp is not installed; run `make test-tools` (Debian: sip-tester)")
    return SIPP


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, int], int]]:
    """The lab (base volte-basic nodes and subscribers, our handsets), SIPp registered as sip:sipp."""
    _require_sipp()
    tmp = tmp_path_factory.mktemp("sipp100rel")
    base = (ROOT / "topologies" / "volte-basic.toml").read_text()
    base = base[:base.index("[[ues]]")].replace("127.0.1.", f"{NET}.")
    control: dict[str, int] = {}
    for name, old in (("hss", 7110), ("icscf", 7120), ("scscf", 7130), ("pcscf", 7140), ("ue", 7200)):
        control[name] = _free_port("127.0.0.1")
        assert base.count(f"control_port = {old}\n") == 1, name
        base = base.replace(f"control_port = {old}\n", f"control_port = {control[name]}\n")
    topo = tmp / "lab.toml"
    topo.write_text(base + EXTRA)
    lab = Lab(topo, tmp / "run")
    lab.up(timeout=30)
    try:
        with UeClient(f"127.0.0.1:{control['ue']}") as ues:
            deadline = time.monotonic() + 20
            state: dict[str, bool] = {}
            while time.monotonic() < deadline:
                state = {u["name"]: u["registered"] for u in ues.list()}
                if state.get("alice") and state.get("bob"):
                    break
                time.sleep(0.1)
            else:
                pytest.fail(f"handsets did not register: {state}")
        port = _free_port(SIPP_HOST)
        _sipp_register(tmp, control["scscf"], port)
        yield tmp, control, port
    finally:
        (tmp / "down.txt").write_text("\n".join(lab.down()))


def _sipp(tmp: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_require_sipp(), *args, "-nostdin", "-timeout", "20s", "-timeout_error", "-trace_err"],
                          check=False,
                          capture_output=True, text=True, timeout=timeout, cwd=tmp)


def _errors(tmp: Path, scenario: str, run: subprocess.CompletedProcess[str]) -> str:
    logs = sorted(tmp.glob(f"{scenario}_*errors.log"), key=lambda p: p.stat().st_mtime)
    return logs[-1].read_text()[-3000:] if logs else run.stdout[-3000:] + run.stderr[-1000:]


def _sipp_register(tmp: Path, scscf_control: int, port: int) -> None:
    impi = f"0010100000000{SIPP_N:02d}@{DOMAIN}"
    users = tmp / "users.csv"
    users.write_text(f"SEQUENTIAL\nsipp;{impi};[authentication username={impi} aka_K=0x{f'{SIPP_N:02x}' * 16} "
                     f"aka_OP=0x{OP} aka_AMF=0x8000]\n")

    def truncated() -> int:
        with NodeClient(f"127.0.0.1:{scscf_control}") as c:
            return int(c.stats().get("auth_failed_res_truncated", 0))

    # SIPp handles RES as a C string: a RES with a 00 byte (1 in 32) makes its answer wrong, and the S-CSCF
    # says so (test_volte_lab does the same); only such an attempt is retried.
    for _ in range(4):
        before = truncated()
        run = _sipp(tmp, "-sf", str(SCENARIOS / "ims_aka_register.xml"), "-inf", str(users), "-set", "domain",
                    DOMAIN, f"{PCSCF}:5060", "-i", SIPP_HOST, "-p", str(port), "-m", "1")
        if run.returncode == 0:
            return
        assert truncated() == before + 1, _errors(tmp, "ims_aka_register", run)
    pytest.fail("SIPp did not register in 4 attempts")


def test_rfc3262_sipp_uac_requiring_100rel_gets_a_reliable_180_and_prack_works(
        lab: tuple[Path, dict[str, int], int]) -> None:
    tmp, control, port = lab
    run = _sipp(tmp, "-sf", str(SCENARIOS / "uac_100rel.xml"), "-set", "domain", DOMAIN, "-s", "alice",
                f"{PCSCF}:5060", "-i", SIPP_HOST, "-p", str(port), "-m", "1")
    assert run.returncode == 0, _errors(tmp, "uac_100rel", run)
    with UeClient(f"127.0.0.1:{control['ue']}") as ues:
        rec = ues.wait_call("alice", "", ["ended"], 10)
        steps = [h.split(" ", 1)[1] for h in rec["history"]]
        assert rec["role"] == "uas" and rec["reason"] == "remote bye", rec
        assert steps[:4] == ["INVITE", "180", "PRACK", "200"], steps


def test_rfc3262_sipp_uas_sending_a_reliable_180_is_pracked_by_the_handset(
        lab: tuple[Path, dict[str, int], int]) -> None:
    tmp, control, port = lab
    sipp = _require_sipp()
    uas = subprocess.Popen([sipp, "-sf", str(SCENARIOS / "uas_100rel.xml"), "-i", SIPP_HOST, "-p", str(port),
                            "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error", "-trace_err"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=tmp)
    try:
        with UeClient(f"127.0.0.1:{control['ue']}", timeout=20) as ues:
            call = ues.call("bob", f"sip:sipp@{DOMAIN}")  # the INVITE is retransmitted until SIPp listens
            rec = ues.wait_call("bob", call, ["confirmed", "failed", "ended"], 15)
            assert rec["state"] == "confirmed", rec
            steps = [h.split(" ", 1)[1] for h in rec["history"]]
            assert "180 (reliable) PRACK" in steps, steps
            ues.hangup("bob", call)
            assert ues.wait_call("bob", call, ["ended"], 10)["state"] == "ended"
        out, _ = uas.communicate(timeout=25)
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()
    assert uas.returncode == 0, _errors(tmp, "uas_100rel", subprocess.CompletedProcess([], 1, out, ""))


def test_rfc3261_11_sipp_options_ping_to_the_pcscf_gets_200(lab: tuple[Path, dict[str, int], int]) -> None:
    """A monitoring ping from an address that never registered (issue 14: it got 403 "not registered")."""
    tmp, _, _ = lab
    pinger = f"{NET}.201"
    run = _sipp(tmp, "-sf", str(SCENARIOS / "options_ping.xml"), f"{PCSCF}:5060", "-i", pinger,
                "-p", str(_free_port(pinger)), "-m", "1")
    assert run.returncode == 0, _errors(tmp, "options_ping", run)
