"""SIP transaction matching throughput on one core (RFC 3261 §17.1.3 / §17.2.3 dict lookups, one timer heap).

Figures (medians of 3 runs of about 0.3 s each):

* ``retransmission absorbed``: a request retransmission matched to a live
  server transaction that re-sends its last response, with 1 000 and with
  20 000 live transactions (the two figures should be close: matching is one
  dict lookup, not a scan);
* ``response matched``: a final response matched to a client transaction;
* ``full life cycle``: new request -> server transaction -> 200 -> Timer J,
  i.e. creation, one heap push, the response, the timer firing and removal;
* ``parse + match``: the same retransmission arriving as bytes (parser included).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from ims.sip.events import Address, TimerConfig
from ims.sip.message import Request, Response, build_response, parse_message
from ims.sip.transaction import TransactionLayer

SRC = Address("127.0.0.1", 5060)
DST = Address("127.0.0.2", 5060)
TEMPLATE = (
    "OPTIONS sip:bob@127.0.0.2 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{n}\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a{n}\r\nTo: <sip:bob@example.com>\r\n"
    "Call-ID: {n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")


def _request(n: int) -> Request:
    msg = parse_message(TEMPLATE.format(n=n).encode())
    assert isinstance(msg, Request)
    return msg


def _rate(fn: Callable[[], int], seconds: float = 0.3, runs: int = 3) -> float:
    """Median operations per second of ``fn`` (which returns how many operations it did)."""
    rates = []
    for _ in range(runs):
        ops = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            ops += fn()
        rates.append(ops / elapsed)
    return statistics.median(rates)


def _server_layer(live: int) -> tuple[TransactionLayer, list[Request]]:
    layer = TransactionLayer(TimerConfig())
    requests = [_request(n) for n in range(live)]
    for r in requests:
        (rr,) = layer.receive(r, SRC, 0.0)
        layer.send_response(rr.key, build_response(r, 200, to_tag="b"), 0.0)  # type: ignore[attr-defined]
    return layer, requests


def bench_absorb(live: int) -> float:
    layer, requests = _server_layer(live)
    sample = requests[:1000]

    def batch() -> int:
        receive = layer.receive
        for r in sample:
            receive(r, SRC, 1.0)
        return len(sample)

    return _rate(batch)


def bench_responses(live: int) -> float:
    layer = TransactionLayer(TimerConfig())
    responses: list[Response] = []
    for n in range(live):
        r = _request(n)
        layer.send_request(r, DST, 0.0)
        responses.append(build_response(r, 200, to_tag="b"))
    sample = responses[:1000]

    def batch() -> int:
        receive = layer.receive
        for resp in sample:
            receive(resp, DST, 1.0)
        return len(sample)

    return _rate(batch)


def bench_life_cycle() -> float:
    layer = TransactionLayer(TimerConfig())
    counter = iter(range(10**9))
    clock = [0.0]

    def batch() -> int:
        now = clock[0]
        for _ in range(500):
            r = _request(next(counter))
            (rr,) = layer.receive(r, SRC, now)
            layer.send_response(rr.key, build_response(r, 200, to_tag="b"), now)  # type: ignore[attr-defined]
        now += 64 * 0.5  # Timer J for all of them
        layer.handle_timers(now)
        clock[0] = now
        assert len(layer) == 0
        return 500

    return _rate(batch)


def bench_parse_and_match(live: int) -> float:
    layer, _ = _server_layer(live)
    datagrams = [TEMPLATE.format(n=n).encode() for n in range(min(live, 1000))]

    def batch() -> int:
        receive = layer.receive
        for d in datagrams:
            receive(parse_message(d), SRC, 1.0)
        return len(datagrams)

    return _rate(batch)


def main() -> None:
    print(f"transaction layer, one core of {os.cpu_count()}; medians of 3 runs")
    small, large = bench_absorb(1_000), bench_absorb(20_000)
    print(f"  retransmission absorbed, 1 000 live txns : {small:>10,.0f} /s")
    print(f"  retransmission absorbed, 20 000 live txns: {large:>10,.0f} /s  (ratio {large / small:.2f})")
    print(f"  response matched, 20 000 client txns     : {bench_responses(20_000):>10,.0f} /s")
    print(f"  full server txn life cycle (incl. parse) : {bench_life_cycle():>10,.0f} /s")
    print(f"  parse + match a retransmitted datagram   : {bench_parse_and_match(1_000):>10,.0f} /s")


if __name__ == "__main__":
    main()
