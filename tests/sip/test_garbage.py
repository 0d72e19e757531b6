"""Garbage in, SipParseError out (issue 13 item 5; STYLE.md §6a).

Random bytes, and the RFC 4475 torture messages (valid and invalid) mutated by hypothesis, go through
every SIP decoder: ``parse_message`` (datagram and stream), the stream framer fed in random cuts, URI
and name-addr parsing, multipart splitting, and then every typed accessor of a message that parsed
(down to the numbers inside its values), its copy, its serialization and a response built to it.
The only exception allowed anywhere is :class:`SipParseError`, and it carries a 4xx/5xx status and
a reason that fits on one status line.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ims.sip.auth import build_authorization, verify_response
from ims.sip.errors import SipError, SipParseError
from ims.sip.framing import StreamFramer
from ims.sip.headers import Challenge, Contact, SecurityMechanism, Via
from ims.sip.limits import SipLimits
from ims.sip.message import Request, Response, build_response, parse_message
from ims.sip.multipart import leaf_parts, parse_multipart
from ims.sip.uri import NameAddr, parse_uri

TORTURE = sorted((Path(__file__).parent / "rfc4475").glob("*.dat"))
SEEDS = [p.read_bytes() for p in TORTURE]

# What an attacker splices in: the characters and numbers that broke decoders before.
NASTY = [b"\xc2\xb2", b"\xd9\xa3", b"9" * 5000, b"1" * 4301, b"\r", b"\n", b"\x00", b"\r\n", b"\r\n ", b",",
         b"<", b">", b'"', b"\\", b";", b"=", b":", b"@", b"?", b"%", b"-1", b"+1", b"1_0", b"0x1", b" ", b"\t",
         b"\xff", b"\xed\xa0\x80", b"rport=", b"ttl=", b"expires=", b"q=", b"spi-c=", b"nc=", b"1e9", b"nan",
         b"multipart/mixed;boundary=b", b"--b\r\n", b"Content-Length: ", b"l: ", b"Via: x<" + b"," * 50]

# Every typed accessor (descriptor or property) a message offers, found by introspection so a new
# accessor is covered without editing this file.
def _accessors(cls: type) -> list[str]:
    return sorted({name for c in cls.__mro__ for name, value in vars(c).items()
                   if not name.startswith("_") and (isinstance(value, property) or hasattr(value, "parse"))}
                  | {"_content_length"})


ACCESSORS = {cls: _accessors(cls) for cls in (Request, Response)}


def _check(err: SipParseError) -> None:
    assert 400 <= err.status <= 599, err.status
    assert len(err.reason) <= 200 and "\r" not in err.reason and "\n" not in err.reason


def _guard(fn: Callable[[], Any]) -> Any:
    """``fn()``; a SipParseError is fine (checked for its status and reason), anything else fails the test."""
    try:
        return fn()
    except SipParseError as err:
        _check(err)
        return None


def _touch(value: Any, depth: int = 0) -> None:
    """Read every property of a typed value, its items and the values inside (URIs in name-addrs...)."""
    if depth > 4 or value is None or isinstance(value, (str, bytes, int, float, bool)):
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _touch(item, depth + 1)
        return
    if isinstance(value, dict):
        for item in value.values():
            _touch(item, depth + 1)
        return
    for name in _readable(type(value)):
        _touch(_guard(lambda n=name: getattr(value, n)), depth + 1)
    _guard(lambda: str(value))


@functools.cache
def _readable(cls: type) -> tuple[str, ...]:
    """Public properties and dataclass fields of a type."""
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    return tuple(name for name in dir(cls) if not name.startswith("_")
                 and (isinstance(getattr(cls, name, None), property) or name in fields))


def _exercise(data: bytes, modes: tuple[bool, ...] = (True, False)) -> None:
    for datagram in modes:
        msg = _guard(lambda d=datagram: parse_message(data, datagram=d))
        if msg is None:
            continue
        for name in ACCESSORS[type(msg)]:
            _touch(_guard(lambda m=msg, n=name: getattr(m, n)))
        copy = msg.copy()
        copy.add("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKgarbage", first=True)
        _guard(lambda c=copy: parse_message(c.to_bytes()))  # what a proxy would forward
        if isinstance(msg, Request):
            _guard(lambda m=msg: build_response(m, 400, "Bad Request", to_tag="t").to_bytes())
            for creds in _guard(lambda m=msg: m.authorization) or []:
                assert verify_response(creds, password=b"pw", method=msg.method) in (True, False)
        for challenge in _guard(lambda m=msg: m.www_authenticate) or []:
            try:  # a challenge the UE cannot answer is a DigestError (a SipError, 400)
                build_authorization(challenge, username="u", password=b"pw", method="REGISTER", uri="sip:h")
            except SipError as err:
                assert err.status == 400
        ctype = msg.get("content-type")
        if ctype and ctype.lower().lstrip().startswith("multipart/"):
            _touch(_guard(lambda m=msg, c=ctype: leaf_parts(c, m.body)))


def _frame(data: bytes, cuts: list[int]) -> None:
    framer = StreamFramer(limits=SipLimits(max_message_bytes=20_000))
    pos = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        if _guard(lambda a=pos, b=cut: framer.feed(data[a:b])) is None and cut > pos:
            return  # a stream whose framing is lost is closed by the driver
        pos = cut


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=800))
def test_random_bytes_raise_only_sip_parse_errors(data: bytes) -> None:
    _exercise(data)
    _frame(data, [len(data) // 3, len(data) // 2])
    text = data.decode("utf-8", "surrogateescape")
    _touch(_guard(lambda: parse_uri(text)))
    _touch(_guard(lambda: NameAddr.parse(text)))
    for parse in (Via.parse, Contact.parse, SecurityMechanism.parse, Challenge.parse):
        _touch(_guard(lambda p=parse: p(text)))
    _touch(_guard(lambda: parse_multipart("multipart/mixed;boundary=b", data)))


NUMBERS = [b"\xc2\xb2", b"\xc2\xb2", b"\xd9\xa3", b"1\xc2\xb2", b"9" * 5000, b"1" * 4301, b"99999999999", b"4294967296",
           b"65536", b"-1", b"+1", b"1_0", b"0x1", b"", b" ", b"1 2", b"1.5", b"\x00"]
_DIGIT_RUN = re.compile(rb"[0-9]+")
_VALUE_START = re.compile(rb": ?|=")


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["number", "number", "number", "value", "insert", "replace", "delete",
                                     "duplicate"]))
        junk = draw(st.one_of(st.sampled_from(NASTY), st.binary(min_size=1, max_size=6)))
        if kind == "number":
            # Where the message has a number (a port, CSeq, Max-Forwards, expires, rport, spi-c...),
            # put one that str.isdigit() or int() would get wrong.
            runs = list(_DIGIT_RUN.finditer(data))
            if runs:
                m = runs[draw(st.integers(0, len(runs) - 1))]
                data = data[: m.start()] + draw(st.sampled_from(NUMBERS)) + data[m.end():]
            continue
        if kind == "value":
            starts = list(_VALUE_START.finditer(data))
            if starts:
                at = starts[draw(st.integers(0, len(starts) - 1))].end()
                data = data[:at] + junk + data[at:]
            continue
        if kind == "insert":
            data = data[:pos] + junk + data[pos:]
        elif kind == "replace":
            data = data[:pos] + junk + data[pos + len(junk):]
        elif kind == "delete":
            data = data[:pos] + data[pos + draw(st.integers(1, 20)):]
        else:
            end = draw(st.integers(pos, min(len(data), pos + 200)))
            data = data[:end] + data[pos:end] + data[end:]
    return data


@settings(max_examples=600, deadline=None)
@given(mutated(), st.lists(st.integers(0, 10_000), max_size=4))
def test_mutated_rfc4475_messages_raise_only_sip_parse_errors(data: bytes, cuts: list[int]) -> None:
    _exercise(data)
    _frame(data + b"\r\n\r\n", cuts)


def test_every_torture_message_is_exercised() -> None:
    """The seeds themselves, valid and invalid, and the accessor list is what it should be."""
    assert len(SEEDS) >= 40
    assert {"vias", "contacts", "rack", "rseq", "security_client", "retry_after", "session_expires",
            "min_se", "max_forwards", "cseq", "uri"} <= set(ACCESSORS[Request])
    assert "reason" in ACCESSORS[Response]
    for data in SEEDS:
        _exercise(data)


def test_every_number_of_every_torture_message_replaced_by_hostile_digits() -> None:
    """Deterministic sweep (the random runs may miss a field): each digit run of each message that
    parses becomes '²' (isdigit yes, int no) and 5,000 nines (past the int-string limit)."""
    swept = 0
    for data in SEEDS:
        if _guard(lambda d=data: parse_message(d)) is None:
            continue
        for m in _DIGIT_RUN.finditer(data):
            for number in (b"\xc2\xb2", b"9" * 5000):
                _exercise(data[: m.start()] + number + data[m.end():], (True,))
                swept += 1
    assert swept > 500
