"""Linear costs (issue 13 item 4): framing, list splitting, folding and parameter scanning.

Each case times an input of n = 1k, 10k and 100k units and checks how the time grows from 10k to
100k: about 10x when linear (up to ~16x as the input outgrows the CPU caches), about 100x when
quadratic.  The bound (30x) leaves room for a noisy shared machine: each size takes the best of five
runs, and a case over the bound is measured again (three times at most) before it fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from ims.sip.errors import SipParseError
from ims.sip.framing import StreamFramer
from ims.sip.headers import Challenge, Via, split_values
from ims.sip.limits import SipLimits
from ims.sip.message import parse_message

SIZES = (1_000, 10_000, 100_000)
MAX_GROWTH = 30.0  # t(100k) / t(10k); linear is ~10, quadratic ~100
HUGE = SipLimits(max_message_bytes=10**7, max_headers=10**6, max_header_bytes=10**7, max_body_bytes=10**7)

HEAD = (b"OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
        b"To: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n")


def _best(fn: Callable[[], object], repeats: int = 5) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            fn()
        except SipParseError:
            pass  # hostile inputs may be refused: how long the refusal takes is what counts
        best = min(best, time.perf_counter() - start)
    return best


def _growth(make: Callable[[int], Callable[[], object]]) -> float:
    times = {n: _best(make(n)) for n in SIZES}
    return times[100_000] / max(times[10_000], 1e-6)


def _framer_byte_by_byte(n: int) -> Callable[[], object]:
    # §18.3: a message whose header block is n bytes, fed one byte per read.
    data = HEAD + b"X-Pad: " + b"p" * n + b"\r\nContent-Length: 3\r\n\r\nabc"
    chunks = [data[i : i + 1] for i in range(len(data))]

    def run() -> object:
        framer = StreamFramer(max_message=10**7)
        out = []
        for c in chunks:
            out += framer.feed(c)
        assert out == [data]
        return out
    return run


def _framer_body_byte_by_byte(n: int) -> Callable[[], object]:
    body = b"b" * n
    data = HEAD + b"Content-Length: %d\r\n\r\n" % n + body
    chunks = [data[i : i + 1] for i in range(len(data))]

    def run() -> object:
        framer = StreamFramer(max_message=10**7)
        out = []
        for c in chunks:
            out += framer.feed(c)
        assert out == [data]
        return out
    return run


CASES: dict[str, Callable[[int], Callable[[], object]]] = {
    "18.3 framer, header block fed byte by byte": _framer_byte_by_byte,
    "18.3 framer, body fed byte by byte": _framer_body_byte_by_byte,
    "7.3.1 comma list with an unclosed '<'": lambda n: lambda: split_values("x<" + ",aaaa" * n),
    "7.3.1 Via: x< and commas, parsed": lambda n: lambda: parse_message(
        HEAD.replace(b"Via: SIP/2.0/TCP h;branch=z9hG4bK1", b"Via: x<" + b"," * n) + b"\r\n", limits=HUGE),
    "7.3.1 folded lines joined": lambda n: lambda: parse_message(
        HEAD + b"Subject: a" + b"\r\n b" * n + b"\r\n\r\n", limits=HUGE),
    "RFC 2617 auth-param of blanks": lambda n: lambda: Challenge.parse("Digest a=b" + " " * n + "c"),
    "RFC 2617 auth-param of blanks before a quote": lambda n: lambda: Challenge.parse("Digest a=" + " " * n + '"'),
    "20.42 Via of many tokens": lambda n: lambda: Via.parse("SIP" + " a" * n),
}


@pytest.mark.parametrize("name", list(CASES))
def test_cost_grows_linearly(name: str) -> None:
    growths = []
    for _ in range(3):  # a neighbour's burst of CPU is not a quadratic parser: measure again, keep the best
        growths.append(_growth(CASES[name]))
        if growths[-1] < MAX_GROWTH:
            break
    assert min(growths) < MAX_GROWTH, f"{name}: t(100k)/t(10k) = {', '.join(f'{g:.1f}' for g in growths)}"
