"""Limits and overload control come from the lab file (issue 13): ``[limits]`` for every node,
``[nodes.limits]`` over it.  A real P-CSCF process started from a lab that allows 20 header lines
answers a 30-header OPTIONS 400 and a short one 200; the file's mistakes name the field.
Starts a process on fixed 127.0.14.x addresses: run under the integration lock."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ims.control.client import NodeClient, wait_healthy
from ims.net.diameter import DiameterNode
from ims.net.limits import apply_limits
from ims.net.sip import SipStack
from ims.topology import TopologyError, load
from tests.nodes.test_proxy_node import _free_port

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.14.40"


def _lab(tmp: Path, control: int, sip_port: int, extra: str = "") -> Path:
    path = tmp / "lab.toml"
    path.write_text(f"""
[[domains]]
name = "ims.example.com"

[limits.sip]
max_headers = 64
[limits.overload]
target_delay = 0.2

[[nodes]]
name = "icscf"
kind = "icscf"
address = "127.0.14.20"
control_port = {_free_port("127.0.0.1")}

[[nodes]]
name = "pcscf"
kind = "pcscf"
address = "{HOST}"
control_port = {control}
icscf = "icscf"
[nodes.sip]
port = {sip_port}
[nodes.limits.sip]
max_headers = 20
{extra}
""")
    return path


def test_a_node_limits_are_the_lab_s_with_its_own_on_top(tmp_path: Path) -> None:
    topo = load(_lab(tmp_path, 7000, 5060))
    limits = topo.limits_of(topo.node("pcscf"))
    assert limits.sip_limits().max_headers == 20  # the node's own
    assert limits.overload_config().target_delay == 0.2  # the lab's
    assert topo.limits_of(topo.node("icscf")).sip_limits().max_headers == 64
    assert limits.diameter_limits().max_avps == 1000  # the library's default


@pytest.mark.parametrize(("extra", "field"), [
    ("max_hedaers = 3", "limits.sip.max_hedaers: unknown setting"),
    ("max_body_bytes = 0", "max_body_bytes must be a positive integer"),
    ("max_body_bytes = 1.5", "limits.sip.max_body_bytes: expected a whole number"),
    ("[nodes.limits.overload]\nenabled = 1", "limits.overload.enabled: expected bool"),
])
def test_a_bad_limit_names_its_field(tmp_path: Path, extra: str, field: str) -> None:
    with pytest.raises(TopologyError, match=field.replace(".", r"\.")):
        load(_lab(tmp_path, 7000, 5060, extra))


def test_apply_limits_sets_the_stacks_and_a_handset_sheds_nothing_by_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMS_OVERLOAD", raising=False)
    topo = load(_lab(tmp_path, 7000, 5060, "[nodes.limits.overload]\ndiameter_in_progress = 7"))
    limits = topo.limits_of(topo.node("pcscf"))
    stack = SipStack(object(), host=HOST, port=5060)  # type: ignore[arg-type]
    diameter = DiameterNode("hss.ims.example.com", "ims.example.com")
    apply_limits(limits, kind="scscf", stacks=(stack,), diameter=diameter)
    assert stack.limits.max_headers == 20 and stack.overload is not None
    assert stack.overload.config.target_delay == 0.2
    assert diameter.admission.limit == 7
    phone = SipStack(object(), host=HOST, port=5062)  # type: ignore[arg-type]
    apply_limits(limits, kind="ue", stacks=(phone,))
    assert phone.overload is None and phone.limits.max_headers == 20
    off = load(_lab(tmp_path, 7000, 5060, "[nodes.limits.overload]\nenabled = false")).node("pcscf")
    apply_limits(topo.limits_of(off), kind="pcscf", stacks=(stack,), diameter=diameter)
    assert stack.overload is None and diameter.admission.limit == 0


def _options(port: int, branch: str, headers: int) -> bytes:
    extra = "".join(f"X-Filler-{i}: {i}\r\n" for i in range(headers))
    return (f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.14.99:5060;branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:ping@example.com>;tag=1\r\nTo: <sip:{HOST}:{port}>\r\n"
            f"Call-ID: {branch}@test\r\nCSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n").encode()


def test_a_pcscf_process_applies_the_header_limit_of_its_lab_file(tmp_path: Path) -> None:
    control, sip_port = _free_port("127.0.0.1"), _free_port(HOST)
    lab = _lab(tmp_path, control, sip_port)
    proc = subprocess.Popen([sys.executable, "-m", "nodes.pcscf", "--topology", str(lab), "--node", "pcscf"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(f"127.0.0.1:{control}", 15)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.14.99", 0))
            s.settimeout(5)
            s.sendto(_options(sip_port, "z9hG4bKmany", 30), (HOST, sip_port))
            first = s.recv(65535).split(b"\r\n", 1)[0]
            s.sendto(_options(sip_port, "z9hG4bKfew", 5), (HOST, sip_port))
            second = s.recv(65535).split(b"\r\n", 1)[0]
        assert first.startswith(b"SIP/2.0 400") and b"header" in first.lower(), first
        assert second.startswith(b"SIP/2.0 200"), second
        with NodeClient(f"127.0.0.1:{control}") as c:
            assert c.stats()["parse_errors"] >= 1
    finally:
        proc.terminate()
        proc.wait(10)
