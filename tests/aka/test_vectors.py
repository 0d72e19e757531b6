"""Vectors, AUTS and the SQN rules of TS 33.102 (§6.3.2, §6.3.3, §6.3.5, Annex C)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims.aka import AkaError, Milenage, SqnScheme, generate_vector, make_auts, resync
from ims.aka.vectors import DELTA, SQN_MAX
from tests.aka.test_milenage import SETS, unpack


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("name", list(SETS))
def test_6_3_2_quintet_and_autn_layout(name: str) -> None:
    k, rand, sqn, amf, _op, opc, f1, _f1s, f2, f5, f3, f4, _f5s = unpack(name)
    v = generate_vector(k, opc, int.from_bytes(sqn, "big"), amf, rand)
    # AUTN = SQN xor AK || AMF || MAC-A
    assert v.autn == _xor(sqn, f5) + amf + f1
    assert (v.rand, v.xres, v.ck, v.ik, v.ak, v.sqn) == (rand, f2, f3, f4, f5, int.from_bytes(sqn, "big"))
    # the same with a caller's Milenage (the HSS reuses one per subscriber)
    assert generate_vector(k, opc, v.sqn, amf, rand, milenage=Milenage(k, opc=opc)) == v


@pytest.mark.parametrize("name", list(SETS))
def test_6_3_3_auts_layout_and_6_3_5_resync(name: str) -> None:
    k, rand, sqn, amf, _op, opc, _f1, f1s, *_rest, f5s = unpack(name)
    sqn_ms = int.from_bytes(sqn, "big")
    auts = make_auts(k, opc, rand, sqn_ms)
    assert auts[:6] == _xor(sqn, f5s)  # SQN_MS concealed with AK*
    m = Milenage(k, opc=opc)
    assert auts[6:] == m.f1star(rand, sqn, b"\x00\x00")  # MAC-S over AMF* = 0x0000
    assert auts[6:] != f1s  # ... not over the set's own AMF
    assert resync(k, opc, rand, auts) == sqn_ms
    assert resync(k, opc, rand, auts, milenage=m) == sqn_ms


def test_resync_refuses_a_bad_mac_s_or_another_rand() -> None:
    k, rand, sqn, _amf, _op, opc, *_ = unpack("ts35208-4.3.3-set3")
    auts = make_auts(k, opc, rand, int.from_bytes(sqn, "big"))
    with pytest.raises(AkaError, match="AUTS MAC-S mismatch"):
        resync(k, opc, rand, auts[:-1] + bytes([auts[-1] ^ 1]))
    with pytest.raises(AkaError, match="AUTS MAC-S mismatch"):
        resync(k, opc, bytes(16), auts)
    with pytest.raises(AkaError, match="AUTS must be 14 bytes, got 13 bytes"):
        resync(k, opc, rand, auts[:13])


@given(sqn_ms=st.integers(0, SQN_MAX), rand=st.binary(min_size=16, max_size=16))
def test_auts_round_trip_for_any_sqn_ms(sqn_ms: int, rand: bytes) -> None:
    k, opc = (unpack("ts35208-4.3.5-set5")[i] for i in (0, 5))
    assert resync(k, opc, rand, make_auts(k, opc, rand, sqn_ms)) == sqn_ms


def test_vector_input_checks() -> None:
    k, rand, _sqn, amf, _op, opc, *_ = unpack("ts35208-4.3.1-set1")
    with pytest.raises(AkaError, match="outside 48 bits"):
        generate_vector(k, opc, 1 << 48, amf, rand)
    with pytest.raises(AkaError, match="AMF must be 2 bytes"):
        generate_vector(k, opc, 1, b"\x80", rand)
    a, b = generate_vector(k, opc, 33, amf), generate_vector(k, opc, 33, amf)
    assert len(a.rand) == 16 and a.rand != b.rand  # fresh RAND each time when none is given


def test_c_1_1_next_sqn_increments_seq_and_cycles_ind() -> None:
    s = SqnScheme()
    sqn, seen = s.join(7, 30), []
    for _ in range(70):
        sqn = s.next_sqn(sqn)
        seen.append(s.split(sqn))
    assert [seq for seq, _ in seen] == list(range(8, 78))
    assert [ind for _, ind in seen][:4] == [31, 0, 1, 2]  # IND wraps mod 32
    assert {ind for _, ind in seen} == set(range(32))


@given(start=st.integers(0, (1 << 40)), n=st.integers(1, 200))
def test_network_never_issues_an_sqn_twice(start: int, n: int) -> None:
    s = SqnScheme()
    sqns, sqn = [], start
    for _ in range(n):
        sqn = s.next_sqn(sqn)
        sqns.append(sqn)
    assert len(set(sqns)) == n
    assert [s.split(x)[0] for x in sqns] == list(range(s.split(start)[0] + 1, s.split(start)[0] + n + 1))


def test_sqn_space_exhaustion_is_an_error() -> None:
    s = SqnScheme()
    with pytest.raises(AkaError, match="SQN space exhausted"):
        s.next_sqn(s.join((1 << 43) - 1, 3))


def test_6_3_5_after_resync_resets_to_sqn_ms_when_the_usim_is_ahead() -> None:
    s = SqnScheme()
    sqn_ms = s.join(5000, 9)
    stored = s.after_resync(sqn_ms, sqn_he=s.join(40, 2))
    assert stored == sqn_ms
    assert s.split(s.next_sqn(stored)) == (5001, 10)  # the next vector carries SEQ_MS + 1
    assert s.after_resync(sqn_ms) == sqn_ms  # no SQN_HE given: reset


def test_6_3_5_after_resync_keeps_sqn_he_when_its_next_would_be_accepted() -> None:
    s = SqnScheme()
    he = s.join(90, 4)
    assert s.after_resync(s.join(90, 1), sqn_he=he) == he  # next SEQ 91 > 90: keep, never go back
    assert s.after_resync(s.join(12, 0), sqn_he=he) == he
    assert s.after_resync(s.join(91, 0), sqn_he=he) == s.join(91, 0)  # next SEQ 91 = SEQ_MS: not above it
    far = s.join(12 + DELTA + 5, 0)
    assert s.after_resync(s.join(12, 0), sqn_he=far) == s.join(12, 0)  # more than delta ahead: reset


def test_c_2_fresh_rules() -> None:
    s = SqnScheme(delta=100, limit=50)
    seq_ms = {3: 40, 4: 60}  # other slots 0 (C.2.2: initial value zero)
    assert s.fresh(s.join(41, 3), seq_ms)  # SEQ > SEQ_MS(3)
    assert not s.fresh(s.join(40, 3), seq_ms)  # replay in slot 3
    assert s.fresh(s.join(30, 7), seq_ms)  # older SEQ, but fresh in its own slot 7
    assert not s.fresh(s.join(10, 7), seq_ms)  # SEQ_MS - SEQ = 50: not < L
    assert s.fresh(s.join(160, 3), seq_ms)  # SEQ - SEQ_MS = 100 <= delta
    assert not s.fresh(s.join(161, 3), seq_ms)  # jumped more than delta
    assert not s.fresh(s.join(0, 9), {})  # a fresh card never accepts SEQ 0
    assert SqnScheme().fresh(s.join(10, 7), seq_ms)  # no L by default
