"""Property tests (DESIGN §7): random bytes and mutations of real Cx/base messages never raise anything
but DiameterError from the decoder, the Cx view or the peer - and the peer never raises at all."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from ims.diameter import cx
from ims.diameter.codec import DiameterMessage
from ims.diameter.errors import DiameterError
from ims.diameter.peer import LocalIdentity, Peer, SendBytes
from tests.diameter.test_codec import KILLER_CER
from tests.diameter.test_cx import ANSWERS, REQUESTS

CLIENT = LocalIdentity("scscf.example.net", "example.net", origin_state_id=1)
SERVER = LocalIdentity("hss.example.net", "example.net", origin_state_id=1)


def _samples() -> list[bytes]:
    client = Peer(CLIENT, initiator=True, tw_jitter=0)
    cer = [a.data for a in client.connected(0.0) if isinstance(a, SendBytes)]
    server = Peer(SERVER, initiator=False, tw_jitter=0)
    cea = [a.data for a in server.receive_data(cer[0], 0.0) if isinstance(a, SendBytes)]
    error = [a.data for a in Peer(SERVER, initiator=False).receive_data(KILLER_CER, 0.0)
             if isinstance(a, SendBytes)]  # CEA 5005 with Failed-AVP
    assert cer and cea and error
    return cer + cea + error + [m.to_message().to_bytes() for m in (*REQUESTS, *ANSWERS)]


SAMPLES = _samples()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "length"]))
        i = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[i] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif op == "cut":
            del data[i:i + draw(st.integers(1, 16))]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "length" and len(data) >= 8:
            # An AVP or message length field pointed elsewhere, so the walk goes deeper than the header.
            j = max(0, i - i % 4 + 1)
            data[j:j + 3] = draw(st.integers(0, 0xFFFFFF)).to_bytes(3, "big")
    if draw(st.booleans()) and len(data) >= 4:  # keep the message length right half of the time
        data[1:4] = (len(data) - len(data) % 4).to_bytes(3, "big")
        del data[len(data) - len(data) % 4:]
    return bytes(data)


def _touch(view: object) -> None:
    """Every field of a Cx view, as a node would read them."""
    if dataclasses.is_dataclass(view):
        for f in dataclasses.fields(view):
            _touch(getattr(view, f.name))
    elif isinstance(view, (list, tuple)):
        for item in view:
            _touch(item)


def check_decoder(data: bytes) -> None:
    try:
        msg = DiameterMessage.from_bytes(data)
    except DiameterError as exc:
        assert 3000 <= exc.result_code <= 5999
        return
    _ = msg.origin_host, msg.origin_realm, msg.session_id, msg.summary(), msg.result_code, msg.experimental
    try:
        _touch(cx.parse(msg))
    except DiameterError as exc:
        assert 3000 <= exc.result_code <= 5999
    if msg.request:
        msg.answer().to_bytes()


def check_peer(data: bytes) -> None:
    fresh = Peer(SERVER, initiator=False, tw_jitter=0)
    opened = Peer(SERVER, initiator=False, tw_jitter=0)
    opened.receive_data(SAMPLES[0], 0.0)  # the good CER: R-Open
    assert opened.is_open
    for peer in (fresh, opened):
        for action in peer.receive_data(data, 1.0) + peer.handle_timers(100.0):
            if isinstance(action, SendBytes):
                DiameterMessage.from_bytes(action.data)  # every answer we send is well formed


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_diameter_error(data: bytes) -> None:
    check_decoder(data)
    check_decoder(b"\x01" + (20 + len(data) - len(data) % 4).to_bytes(3, "big") + data[:len(data) - len(data) % 4])
    check_peer(data)


@settings(max_examples=400, deadline=None)
@given(mutated())
def test_mutated_real_messages_only_raise_diameter_error(data: bytes) -> None:
    check_decoder(data)
    check_peer(data)


def test_the_samples_decode() -> None:
    for data in SAMPLES:
        DiameterMessage.from_bytes(data)
