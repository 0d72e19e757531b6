"""The HSS as a real process on loopback: a Cx client peer connects and runs the Cx procedures."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import trio

from ims.aka import Usim
from ims.aka.vectors import SqnScheme
from ims.diameter import cx
from ims.diameter.constants import DIAMETER_FIRST_REGISTRATION, DIAMETER_SUCCESS, REGISTRATION
from ims.diameter.peer import LocalIdentity
from ims.hss.store import Store
from ims.net.diameter import DiameterNode
from tests.hss.helpers import K1, OPC1, REALM, SCSCF, free_port, lir, mar, sar, start_hss, uar

HOST = "127.0.6.1"


async def _wait_port(host: str, port: int) -> None:
    with trio.fail_after(15):
        while True:
            try:
                s = await trio.open_tcp_stream(host, port)
                await s.aclose()
                return
            except OSError:
                await trio.sleep(0.05)


async def test_hss_process_serves_cer_uar_mar_sar_lir_dwr(tmp_path: Path) -> None:
    port = free_port(HOST)
    proc = start_hss(tmp_path / "hss.sqlite", HOST, port)
    try:
        await _wait_port(HOST, port)
        async with trio.open_nursery() as nursery:
            client = DiameterNode(LocalIdentity(SCSCF, REALM, "127.0.6.2"), tw=0.4)
            await nursery.start(client.run)
            conn = await nursery.start(client.connect, HOST, port)
            assert conn.host == f"hss.{REALM}"
            assert (await client.request(uar())).result_code == DIAMETER_FIRST_REGISTRATION
            maa = await client.request(mar())
            item = cx.auth_items(maa)[0]
            res = Usim(K1, OPC1, sqn_ms=0x20).authenticate(item.authenticate[:16], item.authenticate[16:])
            assert res.res == item.authorization
            saa = await client.request(sar(REGISTRATION))
            assert saa.result_code == DIAMETER_SUCCESS
            assert saa.get(cx.CHARGING_INFORMATION, cx.V) is not None  # TS 29.229 §6.1.4: SAA carries it
            assert (await client.request(lir())).result_code == DIAMETER_SUCCESS
            await trio.sleep(1.0)  # several watchdog rounds with a short Tw
            assert conn.peer.stats["dwr"] >= 2 and conn.peer.state == "open"
            # many outstanding requests at once
            answers = []

            async def one() -> None:
                answers.append((await client.request(mar())).result_code)

            async with trio.open_nursery() as burst:
                for _ in range(50):
                    burst.start_soon(one)
            assert answers == [DIAMETER_SUCCESS] * 50
            nursery.cancel_scope.cancel()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


async def test_kill_9_mid_load_never_reissues_an_sqn(tmp_path: Path) -> None:
    db = tmp_path / "hss.sqlite"
    seen: list[int] = []
    scheme = SqnScheme()
    from ims.aka import Milenage
    m = Milenage(K1, opc=OPC1)

    def sqn_of(item: cx.AuthItem) -> int:
        rand, autn = item.authenticate[:16], item.authenticate[16:]
        ak = m.f2345(rand)[3]
        return int.from_bytes(bytes(a ^ b for a, b in zip(autn[:6], ak)), "big")

    for round_ in range(3):
        port = free_port(HOST)
        proc = start_hss(db, HOST, port, topology=(round_ == 0))
        await _wait_port(HOST, port)
        async with trio.open_nursery() as nursery:
            client = DiameterNode(LocalIdentity(SCSCF, REALM, "127.0.6.2"), request_timeout=2)
            await nursery.start(client.run)
            await nursery.start(client.connect, HOST, port)

            async def worker() -> None:
                while True:
                    try:
                        maa = await client.request(mar(n=2))
                    except Exception:  # noqa: BLE001 - the HSS is being killed under us
                        return
                    seen.extend(sqn_of(i) for i in cx.auth_items(maa))

            for _ in range(8):
                nursery.start_soon(worker)
            await trio.sleep(0.6)
            os.kill(proc.pid, signal.SIGKILL)  # mid-load, no goodbye
            proc.wait(timeout=10)
            await trio.sleep(0.3)
            nursery.cancel_scope.cancel()
    assert len(seen) > 50
    assert len(seen) == len(set(seen)), "an SQN was issued twice"
    store = Store(db)
    assert store.get(f"001010000000001@{REALM}").sqn >= max(seen)  # the stored SQN covers all issued
    del scheme


async def test_hss_rejects_a_bad_database_path(tmp_path: Path) -> None:
    proc = start_hss(tmp_path / "missing-dir" / "x" / "hss.sqlite", HOST, free_port(HOST))
    assert proc.wait(timeout=20) == 1
    assert proc.stderr is not None and "cannot start" in proc.stderr.read()


async def test_issue13_killer_inputs_leave_the_hss_process_serving(tmp_path: Path) -> None:
    """Each input that ended the HSS in issue 13 (the 76-byte CER, grouped AVPs 1,000 deep) and a 1 MiB
    CER of 87k AVPs, each on its own connection: answered with its RFC 6733 §7 error, that connection
    closed (§5.3); the process lives and serves CER/CEA and UAR/UAA on another connection."""
    from ims.diameter.codec import DiameterMessage
    from tests.diameter.test_codec import KILLER_CER, ORIGIN, message, nested, raw_avp

    killers = [(KILLER_CER, 5005), (message(ORIGIN + nested(1000)), 5004),
               (message(ORIGIN + raw_avp(265, (10415).to_bytes(4, "big")) * 87_000), 5015)]
    port = free_port(HOST)
    proc = start_hss(tmp_path / "hss.sqlite", HOST, port)
    try:
        await _wait_port(HOST, port)
        for data, result_code in killers:
            stream = await trio.open_tcp_stream(HOST, port)
            got = b""
            with trio.fail_after(5):
                try:
                    await stream.send_all(data)
                except trio.BrokenResourceError:
                    pass  # closed while the 1 MiB was still going out
                while chunk := await stream.receive_some(65536):
                    got += chunk
            await stream.aclose()
            assert DiameterMessage.from_bytes(got).result_code == result_code
        assert proc.poll() is None
        async with trio.open_nursery() as nursery:
            client = DiameterNode(LocalIdentity(SCSCF, REALM, "127.0.6.2"))
            await nursery.start(client.connect, HOST, port)
            assert (await client.request(uar())).result_code == DIAMETER_FIRST_REGISTRATION
            nursery.cancel_scope.cancel()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
