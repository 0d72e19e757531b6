"""volte-basic as real processes: IMS-AKA registration, UE-to-UE calls and the failure cases (TS 24.229).

The lab is ``topologies/volte-basic.toml`` with extra subscribers and handsets appended for the negative
cases (a handset with the wrong K, one whose SQN is ahead, one with an unknown IMPU, a callee that never
registers, one that does not auto-answer, one that is busy), brought up by the orchestrator; the
handsets are driven over their gRPC service from this (separate) process.  SIPp registers with its own
AKA implementation against the same P-CSCF.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ims.control.client import ControlError
from ims.control.ue import UeClient
from ims.lab import Lab

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
BOB = f"sip:bob@{DOMAIN}"
SIPP = shutil.which("sipp")

EXTRA = """
{subscribers}
{ues}
"""


def _subscriber(n: int, name: str, key: str = "op") -> str:
    secret = f"{n:02x}" * 16
    keyline = f'{key} = "{"cd" * 16}"'
    return f"""
[[subscribers]]
imsi = "0010100000000{n:02d}"
impi = "0010100000000{n:02d}@{DOMAIN}"
impus = ["sip:{name}@{DOMAIN}", "tel:+155500{n:02d}"]
k = "{secret}"
{keyline}
amf = "8000"
sqn = "000000000020"
"""


def _ue(name: str, n: int, extra: str = "", behaviour: str = "") -> str:
    return f"""
[[ues]]
name = "{name}"
node = "ue"
subscriber = "0010100000000{n:02d}@{DOMAIN}"
pcscf = "pcscf"
{extra}
[ues.behaviour]
{behaviour}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, Path]]:
    tmp = tmp_path_factory.mktemp("volte")
    people = {3: "carol", 4: "dave", 5: "erin", 6: "frank", 7: "grace", 8: "sipp", 9: "hank", 17: "sippb"}
    subs = "".join(_subscriber(n, name, "op" if name.startswith("sipp") else "opc")
                   for n, name in people.items())
    ues = "".join([
        _ue("carol", 3, behaviour="register_on_start = false"),
        _ue("dave", 4, behaviour="auto_answer = false"),
        _ue("erin", 5, behaviour="busy = true"),
        _ue("frank", 6, extra=f'k = "{"00" * 16}"', behaviour="register_on_start = false"),
        _ue("grace", 7, extra='sqn = "000001000000"', behaviour="register_on_start = false"),
        _ue("nobody", 3, extra=f'impu = "sip:nobody@{DOMAIN}"', behaviour="register_on_start = false"),
        _ue("hank", 9, extra='transport = "tcp"'),
    ])
    topo = tmp / "volte.toml"
    topo.write_text((ROOT / "topologies" / "volte-basic.toml").read_text() + EXTRA.format(subscribers=subs, ues=ues))
    lab = Lab(topo, tmp / "run")
    lab.up(timeout=30)
    try:
        with UeClient("127.0.0.1:7200") as ues_client:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                state = {u["name"]: u["registered"] for u in ues_client.list()}
                if all(state[n] for n in ("alice", "bob", "dave", "erin", "hank")):
                    break
                time.sleep(0.2)
            else:
                pytest.fail(f"handsets did not register: {state}")
        yield lab, tmp
    finally:
        report = lab.down()
        (tmp / "down.txt").write_text("\n".join(report))


@pytest.fixture()
def ues(lab: tuple[Lab, Path]) -> Iterator[UeClient]:
    with UeClient("127.0.0.1:7200", timeout=20) as c:
        yield c


def test_both_handsets_registered_with_aka(ues: UeClient) -> None:
    alice = ues.status("alice")
    assert alice["registered"] and alice["auth"] == "aka"
    assert alice["associated"] == [f"sip:alice@{DOMAIN}", "tel:+15550001"]
    assert alice["service_route"] == ["<sip:orig@127.0.1.30:5060;lr>"]


def test_call_answered_and_hung_up(ues: UeClient) -> None:
    call = ues.call("alice", BOB)
    answered = ues.wait_call("alice", call, ["confirmed", "failed"], 10)
    assert answered["state"] == "confirmed", answered
    steps = [h.split(" ", 1)[1] for h in answered["history"]]
    # preconditions (RFC 3312): reliable 183 and PRACK, UPDATE and its 200, then 180 and 200
    assert steps[:6] == ["INVITE", "183 (reliable) PRACK", "UPDATE", "UPDATE 200", "180", "200"], steps
    assert ues.wait_call("bob", call, ["confirmed"], 5)["role"] == "uas"
    ues.hangup("alice", call)
    assert ues.wait_call("alice", call, ["ended"], 5)["state"] == "ended"
    assert ues.wait_call("bob", call, ["ended"], 5)["reason"] == "remote bye"


def test_callee_hangs_up(ues: UeClient) -> None:
    call = ues.call("bob", "tel:+15550001")  # tel URI: the S-CSCF's ENUM finds alice
    assert ues.wait_call("bob", call, ["confirmed", "failed"], 10)["state"] == "confirmed"
    ues.hangup("alice", call)
    assert ues.wait_call("bob", call, ["ended"], 5)["reason"] == "remote bye"


def test_handset_over_tcp_registers_and_calls(ues: UeClient) -> None:
    hank = ues.status("hank")
    assert hank["registered"] and hank["contact"].endswith(";transport=tcp")
    call = ues.call("hank", BOB)
    assert ues.wait_call("hank", call, ["confirmed", "failed"], 10)["state"] == "confirmed"
    ues.hangup("bob", call)
    assert ues.wait_call("hank", call, ["ended"], 5)["reason"] == "remote bye"
    call = ues.call("alice", f"sip:hank@{DOMAIN}")  # and toward it, over a connection the P-CSCF opens
    assert ues.wait_call("alice", call, ["confirmed", "failed"], 10)["state"] == "confirmed"
    ues.hangup("alice", call)


def test_impairment_delays_the_call_then_clears(lab: tuple[Lab, Path], ues: UeClient) -> None:
    """300 ms on everything the P-CSCF sends to the handsets: the INVITE to bob and the 200 to alice each
    wait, so set-up (bob answers after 0.5 s) takes at least 0.5 + 2 x 0.3 s; cleared, it is fast again."""
    import subprocess as sp
    import sys

    labobj, _ = lab

    def impair(*args: str) -> sp.CompletedProcess[str]:
        return sp.run([sys.executable, "-m", "ims.cli", "impair", "pcscf", "--peer", "ue", "--run-dir",
                       str(labobj.run_dir), *args], capture_output=True, text=True, timeout=60, cwd=ROOT)

    out = impair("--delay-ms", "300")
    assert out.returncode == 0 and "127.0.1.100: delay 300 ms" in out.stdout, out.stdout + out.stderr
    try:
        call = ues.call("alice", BOB)
        slow = ues.wait_call("alice", call, ["confirmed", "failed"], 10)
        assert slow["state"] == "confirmed" and slow["setup_ms"] >= 1050, slow
        ues.hangup("alice", call)
        ues.wait_call("bob", call, ["ended"], 5)
    finally:
        assert impair("--clear").returncode == 0
    call = ues.call("alice", BOB)
    fast = ues.wait_call("alice", call, ["confirmed", "failed"], 10)
    assert fast["state"] == "confirmed" and fast["setup_ms"] < 1000, fast
    ues.hangup("alice", call)
    assert impair("--loss", "150").returncode == 1  # the node names the bad field


def test_wrong_k_is_403_after_the_second_register(ues: UeClient) -> None:
    assert ues.register("frank", check=False) == 403
    assert not ues.status("frank")["registered"]


def test_sqn_out_of_range_resynchronises(ues: UeClient) -> None:
    assert ues.register("grace", check=False) == 200


def test_unknown_impu_is_refused(ues: UeClient) -> None:
    assert ues.register("nobody", check=False) in (403, 404)


def test_call_to_unregistered_user_is_480(ues: UeClient) -> None:
    call = ues.call("alice", f"sip:carol@{DOMAIN}")
    failed = ues.wait_call("alice", call, ["failed", "confirmed"], 10)
    assert (failed["state"], failed["status"]) == ("failed", 480)


def test_grpc_provisioning_then_registration_from_another_process(ues: UeClient) -> None:
    """After the 480 case: carol is removed from the HSS over gRPC (403), provisioned again (200)."""
    from ims.control.hss import HssClient

    impi = f"001010000000003@{DOMAIN}"
    with HssClient("127.0.0.1:7110") as hss:
        hss.delete_subscriber(impi)
        assert ues.register("carol", check=False) == 403
        hss.add_subscriber(impi=impi, imsi="001010000000003", impus=[f"sip:carol@{DOMAIN}", "tel:+15550003"],
                           k="03" * 16, opc="cd" * 16, amf="8000", sqn="000000000020")
    assert ues.register("carol", check=False) == 200
    assert ues.deregister("carol") == 200


def test_cancel_before_answer_is_487(ues: UeClient) -> None:
    call = ues.call("alice", f"sip:dave@{DOMAIN}")
    assert ues.wait_call("alice", call, ["ringing", "failed"], 10)["state"] == "ringing"
    ues.hangup("alice", call)  # CANCEL
    failed = ues.wait_call("alice", call, ["failed", "ended"], 10)
    assert (failed["state"], failed["status"]) == ("failed", 487)
    assert ues.wait_call("dave", call, ["ended"], 5)["reason"] == "cancelled"


def test_busy_callee_is_486(ues: UeClient) -> None:
    call = ues.call("alice", f"sip:erin@{DOMAIN}")
    failed = ues.wait_call("alice", call, ["failed", "confirmed"], 10)
    assert (failed["state"], failed["status"]) == ("failed", 486)


def test_ims_ue_command_drives_the_handsets(lab: tuple[Lab, Path]) -> None:
    import sys

    labobj, _ = lab

    def ims(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "ims.cli", "ue", "--run-dir", str(labobj.run_dir), *args],
                              capture_output=True, text=True, timeout=60, cwd=ROOT)

    listed = ims("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {u["name"]: u["registered"] for u in __import__("json").loads(listed.stdout)}["alice"] is True
    call = ims("call", "bob", "tel:+15550001", "--wait", "confirmed")
    assert call.returncode == 0 and "confirmed (200)" in call.stdout, call.stdout + call.stderr
    assert ims("hangup", "bob").returncode == 0
    status = ims("status", "nosuch")
    assert status.returncode == 1 and "NOT_FOUND" in status.stdout


def test_unknown_handset_is_not_found(ues: UeClient) -> None:
    with pytest.raises(ControlError, match="NOT_FOUND"):
        ues.status("zed")




def _sipp_register(tmp: Path, n: int, user: str, port: int) -> None:
    """Register subscriber ``n`` (K = n repeated) as ``user`` with SIPp's own AKA from 127.0.1.200:``port``."""
    scenario = ROOT / "tools" / "sipp" / "ims_aka_register.xml"  # the shipped scenario, SIPp's own AKA
    impi = f"0010100000000{n:02d}@{DOMAIN}"
    users = tmp / f"users-{user}.csv"
    users.write_text(f"SEQUENTIAL\n{user};{impi};[authentication username={impi} aka_K=0x{f'{n:02x}' * 16} "
                     f"aka_OP=0x{'cd' * 16} aka_AMF=0x8000]\n")
    assert SIPP is not None
    from ims.control.client import NodeClient

    def truncated() -> int:
        with NodeClient("127.0.0.1:7130") as c:
            return int(c.stats().get("auth_failed_res_truncated", 0))

    # SIPp handles RES as a C string: a RES with a 00 byte (1 in 32) makes its answer wrong, and the
    # S-CSCF says so.  Such an attempt is retried; any other failure fails the test.
    for attempt in range(4):
        before = truncated()
        run = subprocess.run([SIPP, "-sf", str(scenario), "-inf", str(users), "-set", "domain", DOMAIN,
                              "127.0.1.40:5060", "-i", "127.0.1.200", "-p", str(port),
                              "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error", "-trace_err"],
                             capture_output=True, text=True, timeout=60, cwd=tmp)
        if run.returncode == 0:
            break
        errors = next(tmp.glob("ims_aka_register_*errors.log"), tmp / "none")
        detail = errors.read_text()[-2000:] if errors.exists() else run.stdout[-2000:]
        assert truncated() == before + 1, detail
    assert run.returncode == 0


@pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")
def test_sipp_registers_with_its_own_aka(lab: tuple[Lab, Path]) -> None:
    _sipp_register(lab[1], 8, "sipp", 5070)


SIPP_MESSAGE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="message">
  <Global variables="domain,from" />
  <send retrans="500"><![CDATA[

      MESSAGE sip:alice@[$domain] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[$from]@[$domain]>;tag=[pid]SIPpTag[call_number]
      To: <sip:alice@[$domain]>
      Call-ID: [call_id]
      CSeq: 1 MESSAGE
      Max-Forwards: 70
      Content-Type: text/plain
      Content-Length: [len]

      hello from [$from]
  ]]></send>
  <recv response="200" />
</scenario>
"""


@pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")
def test_sipp_two_users_from_one_socket_keep_their_own_identity(lab: tuple[Lab, Path]) -> None:
    """TS 24.229 §5.2.2: each REGISTER from a contact is its own registration at the P-CSCF (a UE with two
    public identities, or SIPp playing two users from one socket); a request is asserted (§5.2.6.3.1) as
    the registered user it comes from (its From here: no P-Preferred-Identity), not as the last one."""
    import threading

    from ims.control.client import NodeClient
    from ims.sip.message import parse_message

    _, tmp = lab
    assert SIPP is not None
    with NodeClient("127.0.0.1:7140") as pcscf:
        before = pcscf.stats()
    for n, user in ((8, "sipp"), (17, "sippb")):  # K = n repeated: no 00 or blank byte (SIPp)
        _sipp_register(tmp, n, user, 5072)
    with NodeClient("127.0.0.1:7140") as pcscf:
        after = pcscf.stats()
    assert after["registered_identities"] - before["registered_identities"] == 2
    assert after["registered_ues"] - before["registered_ues"] == 1

    asserted: dict[str, list[str]] = {}

    def watch() -> None:
        with NodeClient("127.0.0.1:7200") as ue:
            for ev in ue.events(timeout=15, kinds=["sip"]):
                if ev.direction == "in" and ev.payload.startswith(b"MESSAGE "):
                    msg = parse_message(ev.payload)
                    sender = msg.body.decode().split()[-1]
                    asserted[sender] = [str(p.uri) for p in msg.p_asserted_identity]
                    if len(asserted) == 2:
                        return

    watcher = threading.Thread(target=watch)
    watcher.start()
    time.sleep(0.5)  # the event subscription is in place
    scenario = tmp / "message.xml"
    scenario.write_text(SIPP_MESSAGE)
    for user in ("sipp", "sippb"):
        run = subprocess.run([SIPP, "-sf", str(scenario), "-set", "domain", DOMAIN, "-set", "from", user,
                              "127.0.1.40:5060", "-i", "127.0.1.200", "-p", "5072", "-m", "1", "-nostdin",
                              "-timeout", "20s", "-timeout_error"], capture_output=True, text=True, timeout=60,
                             cwd=tmp)
        assert run.returncode == 0, run.stdout[-2000:]
    watcher.join(timeout=20)
    # the P-CSCF's assertion, and the tel URI of the same registered set the S-CSCF adds (§5.4.3.2)
    assert asserted == {"sipp": [f"sip:sipp@{DOMAIN}", "tel:+15550008"],
                        "sippb": [f"sip:sippb@{DOMAIN}", "tel:+15550017"]}


def test_zz_all_nodes_running_then_exit_cleanly(lab: tuple[Lab, Path]) -> None:
    """Last in the module: every node still runs after the cases above, and ``down`` stops each one
    gracefully (handsets deregister, CSCFs send DPR) rather than by signal."""
    labobj, _ = lab
    nodes = labobj.load_state()
    assert {r["name"]: r["state"] for r in labobj.status()} == {
        n: "running" for n in ("hss", "scscf", "icscf", "pcscf", "ue")}
    report = labobj.down()
    assert report == [f"{n}: stopped (shutdown over gRPC)" for n in ("ue", "pcscf", "icscf", "scscf", "hss")]
    from ims.lab import alive

    assert not [n.name for n in nodes if alive(n.pid)]
