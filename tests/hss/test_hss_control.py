"""The HSS's gRPC control service, used from separate processes: provisioning and an RTR push."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import trio

from ims.control.client import HssClient, wait_healthy
from ims.diameter.constants import CMD_RT, REGISTRATION
from ims.diameter.peer import LocalIdentity
from ims.hss.cx import answer_rtr
from ims.net.diameter import DiameterNode
from tests.hss.helpers import ALICE_IMPI, REALM, ROOT, SCSCF, free_port, sar
from tests.hss.test_hss_node import _wait_port

HOST = "127.0.6.3"


def _remote(code: str) -> str:
    """Run a snippet in another process, as a user's script would."""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    return run.stdout


async def test_grpc_provisioning_and_network_initiated_deregistration(tmp_path: Path) -> None:
    port, cport = free_port(HOST), free_port("127.0.0.1")
    proc = subprocess.Popen([sys.executable, "-m", "nodes.hss", "--db", str(tmp_path / "hss.sqlite"),
                             "--diameter", f"{HOST}:{port}", "--origin-host", f"hss.{REALM}", "--realm", REALM,
                             "--topology", str(ROOT / "topologies" / "volte-basic.toml"),
                             "--control-port", str(cport), "--log-level", "WARNING"], cwd=ROOT)
    target = f"127.0.0.1:{cport}"
    try:
        await trio.to_thread.run_sync(wait_healthy, target, 20.0)
        out = _remote(
            "from ims.control.client import HssClient\n"
            f"c = HssClient('{target}')\n"
            "c.add_subscriber(impi='9@ims.example.net', imsi='001010000000009', impus=['sip:nine@ims.example.net'],"
            " k='00'*16, opc='11'*16)\n"
            "try:\n    c.add_subscriber(impi='9@ims.example.net', imsi='001010000000009', impus=['sip:x@y'], k='00'*16,"
            " opc='11'*16)\nexcept Exception as e:\n    print('DUP', e)\n"
            "try:\n    c.add_subscriber(impi='8@x', imsi='001010000000008', impus=['sip:8@x'], k='00'*15, opc='11'*16)\n"
            "except Exception as e:\n    print('LEN', e)\n"
            "import json; print(json.dumps(c.get_subscriber('sip:nine@ims.example.net')))\n"
            "print(len(c.list_subscribers()))\n")
        lines = out.splitlines()
        assert lines[0].startswith("DUP impi 9@ims.example.net already exists")
        assert lines[1].startswith("LEN k: must be 16 bytes")
        assert json.loads(lines[2])["imsi"] == "001010000000009"
        assert lines[3] == "3"
        # An S-CSCF peer registers alice, then the HSS pushes an RTR to it.
        rtrs = []

        async def scscf(msg, conn):  # type: ignore[no-untyped-def]
            rtrs.append(msg)
            return answer_rtr(msg, SCSCF, REALM)

        await _wait_port(HOST, port)
        async with trio.open_nursery() as nursery:
            client = DiameterNode(LocalIdentity(SCSCF, REALM, "127.0.6.4"), handler=scscf)
            await nursery.start(client.run)
            await nursery.start(client.connect, HOST, port)
            assert (await client.request(sar(REGISTRATION))).result_code == 2001
            code = await trio.to_thread.run_sync(_remote, "from ims.control.client import HssClient\n"
                                                 f"print(HssClient('{target}').deregister('{ALICE_IMPI}'))\n")
            assert code.strip() == "2001"
            assert [m.command_code for m in rtrs] == [CMD_RT]
            stats = HssClient(target).stats()
            assert stats["SAR"] == 1 and stats["peers"] == 1
            nursery.cancel_scope.cancel()
        cli = subprocess.run([sys.executable, "-m", "ims.cli", "subscriber", "--control", target, "show",
                              "tel:+15550001"], capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert cli.returncode == 0 and json.loads(cli.stdout)["impi"] == ALICE_IMPI
        HssClient(target).shutdown()
        assert await trio.to_thread.run_sync(lambda: proc.wait(timeout=15)) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
