"""Every Cx message we send decodes in tshark without malformed or expert-warning flags."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import trio

from ims.diameter import cx as cxmsg
from ims.diameter.constants import REGISTRATION
from ims.diameter.peer import LocalIdentity
from ims.hss.cx import HssConfig, answer_rtr
from ims.hss.store import Store
from ims.net.diameter import DiameterNode
from ims.net.pcap import PcapWriter
from nodes.hss import Hss, provision_from_topology
from tests.hss.helpers import ALICE_IMPI, REALM, ROOT, SCSCF, lir, mar, sar, uar

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (Debian package tshark)")


async def test_cx_exchange_pcap_is_clean_in_tshark(tmp_path: Path) -> None:
    pcap = tmp_path / "cx.pcap"
    writer = PcapWriter(pcap)

    def capture(direction: str, msg, data: bytes, src, dst) -> None:  # type: ignore[no-untyped-def]
        if direction == "out":
            writer.tcp(trio.current_time() + 1_700_000_000, src, dst, data)

    store = Store(tmp_path / "hss.sqlite")
    provision_from_topology(store, str(ROOT / "topologies" / "volte-basic.toml"), "hss")
    hss = Hss(store, HssConfig(f"hss.{REALM}", REALM, (REALM,)), "127.0.5.10")
    hss.diameter.on_message = capture

    async def scscf_handler(msg, conn):  # type: ignore[no-untyped-def]
        return answer_rtr(msg, SCSCF, REALM)

    client = DiameterNode(LocalIdentity(SCSCF, REALM, "127.0.5.11"), handler=scscf_handler, on_message=capture)
    async with trio.open_nursery() as nursery:
        await nursery.start(hss.diameter.run)
        nursery.start_soon(hss.store_worker)
        port = await nursery.start(hss.diameter.serve, "127.0.5.10", 3868)  # the Diameter port tshark knows
        await nursery.start(client.run)
        await nursery.start(client.connect, "127.0.5.10", port)
        for req in (uar(), mar(n=2), sar(REGISTRATION), lir()):
            await client.request(req)
        assert await hss.deregister(ALICE_IMPI) == 2001  # RTR/RTA
        await client.close()
        nursery.cancel_scope.cancel()
    writer.close()
    run = subprocess.run([TSHARK, "-r", str(pcap), "-Y", "diameter", "-T", "fields", "-e", "diameter.cmd.code",
                          "-e", "diameter.flags.request"], capture_output=True, text=True, timeout=60)
    codes = [line.split("\t")[0] for line in run.stdout.splitlines()]
    for code in ("257", "300", "303", "301", "302", "304", "282"):
        assert code in codes, (code, run.stdout)
    bad = subprocess.run([TSHARK, "-r", str(pcap), "-Y", "_ws.malformed || _ws.expert.severity >= warning"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 0, bad.stderr  # the filter itself is valid
    assert bad.stdout.strip() == "", bad.stdout
    verbose = subprocess.run([TSHARK, "-r", str(pcap), "-V"], capture_output=True, text=True, timeout=60).stdout
    assert "3GPP-SIP-Auth-Data-Item" in verbose and "Digest-AKAv1-MD5" in verbose and "IMSSubscription" in verbose
