"""The HSS's gRPC control service, used from separate processes: provisioning, RTR and PPR pushed to an S-CSCF."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import trio

from ims.control.client import wait_healthy
from ims.control.hss import HssClient
from ims.diameter import cx
from ims.diameter.constants import CMD_PP, CMD_RT, REGISTRATION
from ims.diameter.peer import LocalIdentity
from ims.diameter.userdata import parse_user_data
from ims.hss.cx import answer_rtr
from ims.net.diameter import DiameterNode
from tests.hss.helpers import ALICE, ALICE_IMPI, REALM, ROOT, SCSCF, free_port, sar, uar
from tests.hss.test_hss_node import _wait_port

HOST = "127.0.6.3"
K = "00" * 16
OPC = "11" * 16


def _remote(code: str) -> str:
    """Run a snippet in another process, as a user's script would."""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    return run.stdout


def _cli(target: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ims.cli", "subscriber", "--control", target, *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


async def test_grpc_provisioning_then_rtr_and_ppr_to_the_serving_scscf(tmp_path: Path) -> None:
    port, cport = free_port(HOST), free_port("127.0.0.1")
    proc = subprocess.Popen([sys.executable, "-m", "nodes.hss", "--db", str(tmp_path / "hss.sqlite"),
                             "--diameter", f"{HOST}:{port}", "--origin-host", f"hss.{REALM}", "--realm", REALM,
                             "--topology", str(ROOT / "topologies" / "volte-basic.toml"),
                             "--control-port", str(cport), "--log-level", "WARNING"], cwd=ROOT)
    target = f"127.0.0.1:{cport}"
    try:
        await trio.to_thread.run_sync(wait_healthy, target, 20.0)
        out = await trio.to_thread.run_sync(_remote, (
            "from ims.control.hss import HssClient\n"
            f"c = HssClient('{target}')\n"
            f"c.add_subscriber(impi='9@ims.example.net', imsi='001010000000009', impus=['sip:nine@ims.example.net'],"
            f" k='{K}', opc='{OPC}')\n"
            "for bad in (dict(impi='9@ims.example.net', imsi='001010000000019', impus=['sip:x@y']),\n"
            "            dict(impi='8@x', imsi='001010000000008', impus=['sip:8@x'], k='00'*15)):\n"
            f"    try:\n        c.add_subscriber(**{{'k': '{K}', 'opc': '{OPC}', **bad}})\n"
            "    except Exception as e:\n        print('REFUSED', e)\n"
            "try:\n    c.get_subscriber('sip:ghost@x')\nexcept Exception as e:\n    print('REFUSED', e)\n"
            "import json; print(json.dumps(c.get_subscriber('sip:nine@ims.example.net')))\n"
            "print(len(c.list_subscribers()))\n"))
        lines = out.splitlines()
        assert lines[0] == "REFUSED impi 9@ims.example.net already exists"
        assert lines[1] == "REFUSED k: must be 16 bytes (32 hex digits), got 30 hex digits"
        assert lines[2] == "REFUSED unknown identity sip:ghost@x"
        assert json.loads(lines[3])["imsi"] == "001010000000009"
        assert lines[4] == "3"
        # CSV import over gRPC, from the CLI: all or nothing, the bad line named
        csv = tmp_path / "subs.csv"
        rows = ["imsi,impi,impus,k,opc"] + [f"0010100000001{i:02d},u{i}@ims.example.net,sip:u{i}@ims.example.net,"
                                            f"{K},{OPC}" for i in range(20)]
        csv.write_text("\n".join(rows + ["001010000000199,bad@ims.example.net,sip:bad@ims.example.net,zz,"
                                         f"{OPC}"]) + "\n")
        run = await trio.to_thread.run_sync(lambda: _cli(target, "import", str(csv)))
        assert run.returncode == 1 and f"{csv}:22: k: 'zz' is not hexadecimal" in run.stdout
        csv.write_text("\n".join(rows) + "\n")
        run = await trio.to_thread.run_sync(lambda: _cli(target, "import", str(csv)))
        assert run.returncode == 0 and "imported 20" in run.stdout, run.stdout
        again = await trio.to_thread.run_sync(lambda: _cli(target, "import", str(csv)))
        assert again.returncode == 1 and f"nothing imported: {csv}:2: impi u0@ims.example.net already exists" \
            in again.stdout

        # An S-CSCF peer registers alice; the HSS then pushes a PPR (profile edit) and an RTR to it.
        pushed: list[cx.DiameterMessage] = []  # type: ignore[name-defined]

        async def scscf(msg, conn):  # type: ignore[no-untyped-def]
            pushed.append(msg)
            return answer_rtr(msg, SCSCF, REALM)

        await _wait_port(HOST, port)
        async with trio.open_nursery() as nursery:
            client = DiameterNode(LocalIdentity(SCSCF, REALM, "127.0.6.4"), handler=scscf)
            await nursery.start(client.run)
            await nursery.start(client.connect, HOST, port)
            assert (await client.request(sar(REGISTRATION))).result_code == 2001
            hss = HssClient(target)
            xml = ("<InitialFilterCriteria><Priority>3</Priority><ApplicationServer><ServerName>sip:tas.example"
                   "</ServerName><DefaultHandling>0</DefaultHandling></ApplicationServer></InitialFilterCriteria>")
            assert await trio.to_thread.run_sync(lambda: hss.set_service_profile("gold", [], xml)) == 0
            run = await trio.to_thread.run_sync(lambda: _cli(target, "update", ALICE_IMPI, "--service-profile",
                                                             "gold"))
            assert run.returncode == 0 and "PPA 2001" in run.stdout, run.stdout
            assert [m.command_code for m in pushed] == [CMD_PP]
            data = parse_user_data(pushed[0].get(cx.USER_DATA, cx.V))
            assert [i.server for i in data.ifcs] == ["sip:tas.example"]
            run = await trio.to_thread.run_sync(lambda: _cli(target, "deregister", ALICE))
            assert run.returncode == 0 and "RTR answered 2001" in run.stdout, run.stdout
            rtr = cx.RegistrationTerminationRequest.from_message(pushed[1])
            assert rtr.user_name == ALICE_IMPI and rtr.public_identities == [ALICE, "tel:+15550001"]
            assert (await client.request(uar())).result_code == 2001  # first registration again
            shown = await trio.to_thread.run_sync(lambda: _cli(target, "show", "tel:+15550001"))
            assert shown.returncode == 0 and json.loads(shown.stdout)["impi"] == ALICE_IMPI
            assert "tel:+15550001 NOT_REGISTERED -" in json.loads(shown.stdout)["registration"]
            stats = await trio.to_thread.run_sync(hss.stats)
            assert stats["SAR"] == 1 and stats["rtr"] == 1 and stats["ppr"] == 1 and stats["peers"] == 1
            nursery.cancel_scope.cancel()
        await trio.to_thread.run_sync(HssClient(target).shutdown)
        assert await trio.to_thread.run_sync(lambda: proc.wait(timeout=15)) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
