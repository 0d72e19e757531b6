"""The PSTN exchange as a process (nodes/pstn.py) on loopback, against a fake MGCF.

The fake MGCF is :class:`ims.isup.M3uaAsp` on a real TCP socket (M3UA over
TCP, the lab's transport); the fake IM-MGW is a UDP socket bound at the
IM-MGW's trunk port of a circuit, where the exchange's PCMA RTP must arrive.
The MGCF and IM-MGW nodes of the small lab file only exist for the
references (peer point code, the IM-MGW's address and trunk ports).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ims.control.client import ControlError, wait_healthy
from ims.control.pstn import PstnClient
from ims.isup import (
    AspState, IsupMessage, IsupReceived, M3uaAsp, MessageType, SendBytes, StateChanged, acm, anm, decode, encode, iam,
    rel, rlc,
)
from ims.isup.m3ua import Data, encode_m3ua
from ims.media.rtp import RtpPacket, RtpSender

ROOT = Path(__file__).resolve().parents[2]
PSTN, MGCF, MGW = "127.0.8.80", "127.0.8.60", "127.0.8.70"
M3UA_PORT = 2905
PSTN_TRUNK, MGW_TRUNK = 32100, 31100
PC_PSTN, PC_MGCF = 200, 100
ANSWER, BUSY = "12125550100", "12125550186"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LAB = """
[lab]
name = "pstn-test"

[[domains]]
name = "ims.mnc001.mcc001.3gppnetwork.org"
country_code = "1"

[[nodes]]
name = "mgcf"
kind = "mgcf"
address = "{mgcf}"
control_port = {mgcf_control}
mgw = "mgw"
point_code = {pc_mgcf}
m3ua_port = {m3ua}
peer = "pstn"
circuits = 8

[[nodes]]
name = "mgw"
kind = "mgw"
address = "{mgw}"
control_port = {mgw_control}
rtp_ports = [30000, 30099]
trunk_ports = [{mgw_trunk}, {mgw_trunk_last}]

[[nodes]]
name = "pstn"
kind = "pstn"
address = "{pstn}"
control_port = {pstn_control}
point_code = {pc_pstn}
m3ua_port = {m3ua}
peer = "mgcf"
circuits = 8
trunk_ports = [{pstn_trunk}, {pstn_trunk_last}]

[[pstn.lines]]
number = "{answer}"
behaviour = "answer"
answer_after = 0.3

[[pstn.lines]]
number = "{busy}"
behaviour = "busy"
"""


@pytest.fixture(scope="module")
def pstn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PstnClient]:
    tmp = tmp_path_factory.mktemp("pstn")
    lab = tmp / "lab.toml"
    lab.write_text(LAB.format(mgcf=MGCF, mgw=MGW, pstn=PSTN, m3ua=M3UA_PORT, pc_mgcf=PC_MGCF, pc_pstn=PC_PSTN,
                              mgcf_control=_free_port(), mgw_control=_free_port(), pstn_control=_free_port(),
                              mgw_trunk=MGW_TRUNK, mgw_trunk_last=MGW_TRUNK + 15, pstn_trunk=PSTN_TRUNK,
                              pstn_trunk_last=PSTN_TRUNK + 15, answer=ANSWER, busy=BUSY))
    port_file = tmp / "port"
    proc = subprocess.Popen([sys.executable, "-m", "nodes.pstn", "--topology", str(lab), "--node", "pstn",
                             "--run-dir", str(tmp), "--control-port-file", str(port_file),
                             "--log-file", str(tmp / "pstn.log")], cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert proc.poll() is None, f"the exchange exited at start: {(tmp / 'pstn.log').read_text()}"
            assert time.monotonic() < deadline, "no control port"
            time.sleep(0.05)
        target = f"127.0.0.1:{port_file.read_text().strip()}"
        wait_healthy(target, timeout=10)
        with PstnClient(target) as client:
            yield client
        assert proc.poll() is None, "the exchange died during the tests"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


class FakeMgcf:
    """An MGCF's M3UA ASP end on a blocking TCP socket: ASP Up, ASP Active, then ISUP both ways."""

    def __init__(self) -> None:
        self.sock = socket.create_connection((PSTN, M3UA_PORT), timeout=5, source_address=(MGCF, 0))
        self.asp = M3uaAsp()
        self.received: list[tuple[IsupReceived, IsupMessage]] = []
        self.state = AspState.DOWN
        self._handle(self.asp.start(time.monotonic()))
        deadline = time.monotonic() + 5
        while self.state is not AspState.ACTIVE:
            assert time.monotonic() < deadline, "the exchange did not make us ASP-ACTIVE"
            self._pump(deadline)

    def close(self) -> None:
        self.sock.close()

    def _handle(self, events: list[object]) -> None:
        for ev in events:
            if isinstance(ev, SendBytes):
                self.sock.sendall(ev.data)
            elif isinstance(ev, StateChanged):
                self.state = ev.state
            elif isinstance(ev, IsupReceived):
                self.received.append((ev, decode(ev.isup_bytes)))

    def _pump(self, deadline: float) -> None:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return
        assert data, "the exchange closed the association"
        self._handle(self.asp.receive(data, time.monotonic()))

    def send(self, msg: IsupMessage) -> None:
        self._handle(self.asp.send_isup(PC_MGCF, PC_PSTN, msg.cic & 0x1F, encode(msg)))

    def expect(self, kind: MessageType, cic: int | None = None, timeout: float = 5.0) -> IsupMessage:
        """The next ISUP message of type ``kind`` (on ``cic``); checks the routing label on the way."""
        deadline = time.monotonic() + timeout
        while True:
            for i, (ev, msg) in enumerate(self.received):
                if msg.type == kind and (cic is None or msg.cic == cic):
                    del self.received[i]
                    assert (ev.opc, ev.dpc, ev.sls) == (PC_PSTN, PC_MGCF, msg.cic & 0x1F)
                    return msg
            assert time.monotonic() < deadline, f"no {kind.name} (got {[m.type.name for _, m in self.received]})"
            self._pump(deadline)


@pytest.fixture
def mgcf(pstn: PstnClient) -> Iterator[FakeMgcf]:
    fake = FakeMgcf()
    try:
        yield fake
    finally:
        fake.close()


def _mgw_socket(cic: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((MGW, MGW_TRUNK + 2 * (cic - 1)))
    s.settimeout(3)
    return s


def test_incoming_call_to_an_answering_line_acm_anm_and_pcma_rtp(pstn: PstnClient, mgcf: FakeMgcf) -> None:
    cic = 1
    with _mgw_socket(cic) as mgw:
        # a national called number: the exchange puts the lab's country code (1) in front
        mgcf.send(iam(cic, "2125550100", "15550001", nature=3, calling_nature=4, complete=True))
        assert mgcf.expect(MessageType.ACM, cic).params["backward_call_indicators"].called_party_status == 1
        mgcf.expect(MessageType.ANM, cic)
        data, src = mgw.recvfrom(2048)
        pkt = RtpPacket.parse(data)
        assert pkt.payload_type == 8 and len(pkt.payload) == 160  # PCMA, 20 ms
        assert src == (PSTN, PSTN_TRUNK + 2 * (cic - 1))
        back = RtpSender(8, 8000)
        for _ in range(5):
            mgw.sendto(back.next(b"\xd5" * 160, 160).to_bytes(), src)
        call = pstn.wait_call(cic, ["answered"])
        assert (call["direction"], call["calling"], call["called"]) == ("in", "15550001", ANSWER)
        assert pstn.stats()["active"] == 1
        time.sleep(0.2)
        mgcf.send(rel(cic, 16))
        mgcf.expect(MessageType.RLC, cic)
    call = pstn.wait_call(cic, ["released"])
    assert call["cause"] == 16
    assert [h.split(" ", 1)[1] for h in call["history"]] == ["IAM", "ACM", "ANM", "REL cause 16", "RLC"]
    media = call["media"]
    assert media["codec"] == "PCMA/8000" and media["payload_type"] == 8
    assert media["packets_sent"] > 0 and media["packets_received"] == 5
    assert media["remote"] == f"{MGW}:{MGW_TRUNK}"


def test_busy_line_rel_cause_17_then_rlc_idles_the_circuit(pstn: PstnClient, mgcf: FakeMgcf) -> None:
    mgcf.send(iam(3, BUSY, "15550001"))
    msg = mgcf.expect(MessageType.REL, 3)
    assert msg.params["cause"].value == 17
    assert pstn.wait_call(3, ["releasing"])["cause"] == 17
    mgcf.send(rlc(3))
    assert pstn.wait_call(3, ["released"])["state"] == "released"
    assert not any(c["cic"] == 3 and c["state"] != "released" for c in pstn.status()["calls"])


def test_outgoing_call_over_grpc_sends_an_iam_on_an_even_cic(pstn: PstnClient, mgcf: FakeMgcf) -> None:
    cic = pstn.call(ANSWER, "tel:+15550001")
    assert cic % 2 == 0
    msg = mgcf.expect(MessageType.IAM, cic)
    called, calling = msg.params["called_party_number"], msg.params["calling_party_number"]
    assert (called.digits.rstrip("F"), called.nature_of_address) == ("15550001", 4)
    assert (calling.digits, calling.nature_of_address, calling.presentation) == (ANSWER, 4, 0)
    assert msg.params["calling_party_category"] == 10 and msg.params["transmission_medium_requirement"] == 3
    assert pstn.wait_call(cic, ["iam_sent"])["direction"] == "out"
    with _mgw_socket(cic) as mgw:
        mgcf.send(acm(cic))
        assert pstn.wait_call(cic, ["alerting"])["state"] == "alerting"
        mgcf.send(anm(cic))
        assert pstn.wait_call(cic, ["answered"])["state"] == "answered"
        assert RtpPacket.parse(mgw.recv(2048)).payload_type == 8
    pstn.hangup(cic)
    assert mgcf.expect(MessageType.REL, cic).params["cause"].value == 16
    mgcf.send(rlc(cic))
    call = pstn.wait_call(cic, ["released"])
    assert call["cause"] == 16 and call["media"]["packets_sent"] > 0
    with pytest.raises(ControlError, match="not a line"):
        pstn.call("15550009", "15550001")
    with pytest.raises(ControlError, match="no call on CIC"):
        pstn.hangup(cic)
    with pytest.raises(ControlError, match="INVALID_ARGUMENT.*ringing"):
        pstn.wait_call(cic, ["ringing"], timeout=0.1)
    with pytest.raises(ControlError, match="DEADLINE_EXCEEDED.*now: released"):
        pstn.wait_call(cic, ["answered"], timeout=0.1)


def test_isup_goes_over_the_latest_active_association(pstn: PstnClient, mgcf: FakeMgcf) -> None:
    second = FakeMgcf()
    try:
        assert pstn.status()["associations"] == 2
        cic = pstn.call(ANSWER, "15550002")
        second.expect(MessageType.IAM, cic)
        second.send(rel(cic, 17))
        second.expect(MessageType.RLC, cic)
    finally:
        second.close()
    deadline = time.monotonic() + 5
    while pstn.status()["associations"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cic = pstn.call(ANSWER, "15550003")  # the first association carries ISUP again
    mgcf.expect(MessageType.IAM, cic)
    mgcf.send(rel(cic, 16))
    mgcf.expect(MessageType.RLC, cic)
    assert pstn.wait_call(cic, ["released"])["cause"] == 16


def test_bad_m3ua_and_isup_do_not_kill_the_node(pstn: PstnClient, mgcf: FakeMgcf) -> None:
    before = pstn.stats()
    # a stranger sends garbage and goes away
    with socket.create_connection((PSTN, M3UA_PORT), timeout=5, source_address=(MGCF, 0)) as junk:
        junk.sendall(b"\x07\x00\x00\x00garbage that is no M3UA")
        junk.sendall(b"\x01\x00\x01\x01\x00\x00\x00\x10" + b"\x00" * 8)  # DATA before ASP Up
    # on the live association: malformed ISUP, an unknown message type, a wrong DPC, an unequipped CIC
    mgcf.sock.sendall(encode_m3ua(Data(PC_MGCF, PC_PSTN, sls=1, user_data=b"\x01\x00\x01\xff")))
    mgcf.sock.sendall(encode_m3ua(Data(PC_MGCF, PC_PSTN, sls=1, user_data=b"\x01\x00\x99")))
    mgcf.sock.sendall(encode_m3ua(Data(PC_MGCF, 999, sls=1, user_data=encode(iam(1, ANSWER)))))
    mgcf.send(iam(100, ANSWER, "15550001"))
    mgcf.sock.sendall(b"\x01\x00\x09\x09\x00\x00\x00\x08")  # M3UA class 9 type 9: answered with ERR
    # the exchange still answers an IAM on the same association
    mgcf.send(iam(5, ANSWER, "15550001"))
    mgcf.expect(MessageType.ACM, 5)
    mgcf.expect(MessageType.ANM, 5)
    mgcf.send(rel(5, 16))
    mgcf.expect(MessageType.RLC, 5)
    after = pstn.stats()
    assert after["isup_malformed"] - before["isup_malformed"] == 2
    assert after["isup_misrouted"] - before["isup_misrouted"] == 1
    assert after["unequipped_cic"] - before["unequipped_cic"] == 1
    assert after["m3ua_problems"] - before["m3ua_problems"] >= 2
    assert pstn.health()["state"] == "running"
