"""MAR->MAA round trips per second against the HSS process (one client, many outstanding requests).

Starts ``nodes.hss`` on 127.0.6.50 with the volte-basic subscribers, connects
one Diameter client, keeps 256 and then 512 MARs in flight for DURATION seconds
(bounded at MAX_REQUESTS), three runs; prints the median.  Each MAR asks for
one AKA vector, so each answer commits one SQN to SQLite before it leaves.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from ims.diameter import cx
from ims.diameter.constants import CMD_MA
from ims.diameter.peer import LocalIdentity
from ims.net.diameter import DiameterNode

ROOT = Path(__file__).resolve().parents[1]
REALM = "ims.mnc001.mcc001.3gppnetwork.org"
HOST, PORT = "127.0.6.50", 3868
CONCURRENCY_LEVELS, DURATION, MAX_REQUESTS = (256, 512), 5.0, 30000


def _mar() -> cx.DiameterMessage:  # type: ignore[name-defined]
    return cx.request(CMD_MA, f"scscf.{REALM}", REALM, REALM, cx.user_name(f"001010000000001@{REALM}"),
                      cx.public_identity(f"sip:alice@{REALM}"), cx.avp(cx.SIP_NUMBER_AUTH_ITEMS, 1, cx.V),
                      cx.avp(cx.SIP_AUTH_DATA_ITEM, [cx.avp(cx.SIP_AUTHENTICATION_SCHEME, cx.SCHEME_AKAV1, cx.V)], cx.V),
                      cx.server_name("sip:127.0.1.30:5060"))


async def _run(concurrency: int) -> tuple[int, int, float]:
    client = DiameterNode(LocalIdentity(f"scscf.{REALM}", REALM, "127.0.6.51"), request_timeout=10)
    done = failed = 0
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        with trio.fail_after(15):
            while True:
                try:
                    await nursery.start(client.connect, HOST, PORT)
                    break
                except Exception:  # noqa: BLE001
                    await trio.sleep(0.1)
        start = trio.current_time()
        deadline = start + DURATION

        async def worker() -> None:
            nonlocal done, failed
            while trio.current_time() < deadline and done + failed < MAX_REQUESTS:
                ans = await client.request(_mar())
                if ans.result_code == 2001:
                    done += 1
                else:
                    failed += 1

        async with trio.open_nursery() as workers:
            for _ in range(concurrency):
                workers.start_soon(worker)
        elapsed = trio.current_time() - start
        nursery.cancel_scope.cancel()
    return done, failed, elapsed


def main() -> None:
    medians = {}
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen([sys.executable, "-m", "nodes.hss", "--db", os.path.join(tmp, "hss.sqlite"),
                                 "--diameter", f"{HOST}:{PORT}", "--origin-host", f"hss.{REALM}", "--realm", REALM,
                                 "--topology", str(ROOT / "topologies" / "volte-basic.toml"), "--log-level", "WARNING"],
                                cwd=ROOT)
        try:
            time.sleep(1.0)
            for concurrency in CONCURRENCY_LEVELS:
                rates = []
                for i in range(3):
                    done, failed, elapsed = trio.run(_run, concurrency)
                    rate = done / elapsed
                    rates.append(rate)
                    print(f"{concurrency} outstanding, run {i + 1}: {done} MAA ok, {failed} failed in "
                          f"{elapsed:.2f} s = {rate:,.0f} MAR/s")
                medians[concurrency] = statistics.median(rates)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    for concurrency, rate in medians.items():
        print(f"HSS MAR->MAA median: {rate:,.0f} MAR/s ({concurrency} outstanding, one client, "
              f"{os.cpu_count()} cores; client and HSS share the machine)")


if __name__ == "__main__":
    main()
