"""AKA throughput on one core: vectors/s as the HSS makes them, USIM checks/s, resyncs/s, AKA digests/s.

"vector" = ``generate_vector`` with the subscriber's cached Milenage (five
AES blocks plus the AUTN assembly), what the HSS does per SIP-Auth-Data-Item;
"vector, cold" builds a Milenage (AES key schedule) per vector; "USIM" is
``Usim.authenticate`` (f2345 + f1 + the Annex C.2 array); "resync" is AUTS
verification (f5* + f1*); "AKAv1 digest" is the S-CSCF's ``verify_response``.
Medians of 5 runs of about 0.4 s each.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from ims.aka import Milenage, SqnScheme, Usim, generate_vector, make_auts, resync
from ims.sip.auth import aka_nonce, aka_password, build_authorization, verify_response
from ims.sip.headers import Challenge, Credentials

# TS 35.208 test set 1
K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
OPC = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")
AMF = b"\x80\x00"
RUNS, RUN_SECONDS = 5, 0.4


def _rate(fn: Callable[[int], None]) -> float:
    """Operations per second: calibrate a batch to ~RUN_SECONDS, then the median of RUNS batches."""
    n = 64
    while True:
        t0 = time.perf_counter()
        fn(n)
        dt = time.perf_counter() - t0
        if dt >= 0.05:
            break
        n *= 4
    n = max(1, int(n * RUN_SECONDS / dt))
    rates = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn(n)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> None:
    m = Milenage(K, opc=OPC)
    scheme = SqnScheme()
    rand = os.urandom(16)

    def vectors(n: int) -> None:
        sqn = 32
        for _ in range(n):
            sqn = scheme.next_sqn(sqn)
            generate_vector(K, OPC, sqn, AMF, rand, milenage=m)

    def vectors_cold(n: int) -> None:
        for i in range(n):
            generate_vector(K, OPC, 64 + 32 * i, AMF, rand)

    batch = [generate_vector(K, OPC, scheme.join(2 + i, i), AMF, milenage=m) for i in range(4096)]

    def usim(n: int) -> None:
        card = Usim(K, OPC, sqn_ms=scheme.join(1, 0))
        for i in range(n):
            v = batch[i % len(batch)]
            if i and i % len(batch) == 0:
                card = Usim(K, OPC, sqn_ms=scheme.join(1, 0))
            card.authenticate(v.rand, v.autn)

    auts = make_auts(K, OPC, rand, scheme.join(5000, 3))

    def resyncs(n: int) -> None:
        for _ in range(n):
            resync(K, OPC, rand, auts, milenage=m)

    v = batch[0]
    ch = Challenge("Digest", {"realm": "ims.example.net", "nonce": aka_nonce(v.rand, v.autn), "qop": "auth",
                              "algorithm": "AKAv1-MD5"})
    cred = Credentials.parse(build_authorization(ch, username="001010000000001@ims.example.net",
                                                 password=aka_password("AKAv1-MD5", v.xres), method="REGISTER",
                                                 uri="sip:ims.example.net"))

    def digests(n: int) -> None:
        for _ in range(n):
            verify_response(cred, password=v.xres, method="REGISTER")

    print(f"cores: {os.cpu_count()}; one process, one thread; medians of {RUNS} runs")
    for label, fn in (("vector (cached Milenage)", vectors), ("vector, cold (new Milenage)", vectors_cold),
                      ("USIM authenticate", usim), ("resync (AUTS verify)", resyncs),
                      ("AKAv1 digest verify", digests)):
        print(f"{label:30} {_rate(fn):>10,.0f} /s")


if __name__ == "__main__":
    main()
