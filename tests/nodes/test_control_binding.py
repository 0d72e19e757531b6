"""Every node kind a lab starts serves its gRPC control service on 127.0.0.1 only, by default (issue 13).

A control service provisions subscribers, makes handsets call and stops nodes; the lab must never open it
beyond this host unless asked to (and then only with a token: tests/cli/test_lab_control_auth.py).  The
lab here is volte-pstn plus a SIP proxy: one node of every implemented kind.  What each process actually
listens on is read from /proc, not from its own log.  Fixed addresses: run under the integration lock."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from ims.lab import START_ORDER, Lab, implemented
from tests.hss.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]

PROXY = """
[[nodes]]
name = "proxy"
kind = "proxy"
address = "127.0.1.210"
control_port = {port}
[nodes.sip]
port = 5060
"""


def _free() -> int:
    return free_port("127.0.0.1")


def _ipv4(hex_addr: str) -> str:
    return socket.inet_ntop(socket.AF_INET, bytes.fromhex(hex_addr)[::-1])


def _ipv6(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    addr = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
    return addr.removeprefix("::ffff:") if addr.startswith("::ffff:") and "." in addr else addr  # v4-mapped


def listening(pid: int) -> set[tuple[str, int]]:
    """The (address, port) of every TCP socket process ``pid`` listens on (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = set()
    for table, decode in (("tcp", _ipv4), ("tcp6", _ipv6)):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # TCP_LISTEN
                addr, port = local.split(":")
                found.add((decode(addr), int(port, 16)))
    return found


@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")
def test_every_node_kind_a_lab_starts_serves_control_on_loopback_only(tmp_path: Path) -> None:
    topo = tmp_path / "all-kinds.toml"
    topo.write_text((ROOT / "topologies" / "volte-pstn.toml").read_text() + PROXY.format(port=_free()))
    lab = Lab(topo, tmp_path / "run")
    lab.up(timeout=40, extra_args={"ue": ("--no-register",)})
    try:
        nodes = lab.load_state()
        assert {n.kind for n in nodes} == {k for k in START_ORDER if implemented(k)}  # every kind there is
        for n in nodes:
            assert n.control_host == "127.0.0.1" and n.control_target == f"127.0.0.1:{n.control_port}"
            on_port = {addr for addr, port in listening(n.pid) if port == n.control_port}
            assert on_port == {"127.0.0.1"}, f"{n.name} ({n.kind}) control listens on {on_port}"
        assert not lab.token_file.exists()  # loopback: no token made or needed
    finally:
        lab.down()
