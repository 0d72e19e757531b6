"""The exchange's answer to ISUP that does not decode inside a valid M3UA DATA (Q.764 §2.9.5, Q.850 causes).

An unknown message type gets CFN cause 97 (its type code as diagnostic); a malformed message on a circuit with
a call in progress releases it with REL cause 95; a malformed IAM gets REL 95; a malformed REL still releases
(RLC); nothing answers a CFN or an RLC. The exchange goes on with the next call.
"""

from __future__ import annotations

import pytest

from ims.isup import IsupError, MessageType, acm, decode, encode, iam
from ims.isup.exchange import Exchange
from tests.pstn.test_exchange import ANSWER, T0, cause_of, config, incoming, sent


def _answer(ex: Exchange, data: bytes, now: float = T0 + 0.5) -> list[tuple[str, int, int, bytes]]:
    with pytest.raises(IsupError) as info:
        decode(data)
    return [(m.type.name, m.cic, cause_of(m), m.params["cause"].diagnostic)
            for m in sent(ex.receive_undecodable(data, info.value, now))]


def test_q764_2_9_5_an_unknown_message_type_gets_cfn_97_and_the_call_goes_on() -> None:
    ex = Exchange(config())
    incoming(ex, 3, ANSWER)
    assert _answer(ex, b"\x03\x00\x99\x01\x02") == [("CFN", 3, 97, b"\x99")]
    assert ex.call_on(3) is not None and ex.call_on(3).state == "alerting"  # type: ignore[union-attr]


def test_q764_a_malformed_message_on_a_call_in_progress_releases_it_with_cause_95() -> None:
    ex = Exchange(config())
    incoming(ex, 3, ANSWER)
    assert _answer(ex, encode(acm(3))[:-1]) == [("REL", 3, 95, b"")]
    assert ex.call_on(3).state == "releasing"  # type: ignore[union-attr]


def test_a_malformed_iam_gets_rel_95_and_other_garbage_cfn_95() -> None:
    ex = Exchange(config())
    assert _answer(ex, encode(iam(4, ANSWER))[:-3]) == [("REL", 4, 95, b"")]
    assert _answer(ex, encode(acm(5))[:-1]) == [("CFN", 5, 95, b"")]
    assert _answer(ex, b"\x05\x00\x2f\x01") == []  # a confusion is never answered with one
    assert _answer(ex, b"\x05\x00\x10\x01") == []  # nor an RLC
    assert _answer(ex, b"\x63\x00\x99") == []  # an unequipped CIC: discarded
    assert ex.counters["malformed"] == 5


def test_a_malformed_rel_still_releases_the_call() -> None:
    ex = Exchange(config())
    incoming(ex, 3, ANSWER)
    bad_rel = b"\x03\x00\x0c\x02\x00\x09"  # the cause parameter says 9 octets, 0 follow
    with pytest.raises(IsupError) as info:
        decode(bad_rel)
    out = ex.receive_undecodable(bad_rel, info.value, T0 + 1)
    assert [m.type for m in sent(out)] == [MessageType.RLC] and ex.call_on(3) is None
    assert [m.type.name for m in sent(incoming(ex, 3, ANSWER, now=T0 + 2))] == ["ACM"]  # the circuit serves again
