"""The simulated USIM: TS 33.102 §6.3.3 checks and the Annex C.2 SEQ_MS array."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims.aka import AkaError, MacFailure, SqnScheme, SyncFailure, Usim, generate_vector, resync
from tests.aka.test_milenage import SETS, unpack

K, OPC = unpack("ts35208-4.3.1-set1")[0], unpack("ts35208-4.3.1-set1")[5]
AMF = b"\x80\x00"
S = SqnScheme()


def challenge(seq: int, ind: int, k: bytes = K, amf: bytes = AMF) -> tuple[bytes, bytes, bytes, bytes, bytes]:
    v = generate_vector(k, OPC, S.join(seq, ind), amf)
    return v.rand, v.autn, v.xres, v.ck, v.ik


@pytest.mark.parametrize("name", list(SETS))
def test_ts35208_sets_authenticate_on_a_card_behind_them(name: str) -> None:
    k, rand, sqn, amf, _op, opc, _f1, _f1s, f2, _f5, f3, f4, _f5s = unpack(name)
    v = generate_vector(k, opc, int.from_bytes(sqn, "big"), amf, rand)
    usim = Usim(k, opc, amf, sqn_ms=int.from_bytes(sqn, "big") - 32)  # one SEQ behind the set's SQN
    r = usim.authenticate(rand, v.autn)
    assert (r.res, r.ck, r.ik, r.sqn, r.amf) == (f2, f3, f4, int.from_bytes(sqn, "big"), amf)


def test_6_3_3_accepts_fresh_then_refuses_the_replay_with_auts() -> None:
    usim = Usim(K, OPC, sqn_ms=S.join(10, 3))
    rand, autn, xres, ck, ik = challenge(11, 4)
    r = usim.authenticate(rand, autn)
    assert (r.res, r.ck, r.ik) == (xres, ck, ik)
    assert usim.sqn_ms == S.join(11, 4) and usim.seq_ms[4] == 11
    with pytest.raises(SyncFailure) as info:
        usim.authenticate(rand, autn)
    assert info.value.sqn_ms == S.join(11, 4) and info.value.sqn == S.join(11, 4)
    # the network recovers SQN_MS from the AUTS and continues from SEQ_MS + 1
    sqn_ms = resync(K, OPC, rand, info.value.auts)
    assert sqn_ms == S.join(11, 4)
    nxt = generate_vector(K, OPC, S.next_sqn(S.after_resync(sqn_ms)), AMF)
    assert usim.authenticate(nxt.rand, nxt.autn).res == nxt.xres


def test_c_2_2_out_of_order_vectors_in_other_slots_are_accepted() -> None:
    # Vectors of one batch (SEQ 21..23, IND 1..3) used in the order 3, 1, 2 — as a VLR/S-CSCF may.
    usim = Usim(K, OPC, sqn_ms=S.join(20, 0))
    batch = [challenge(21, 1), challenge(22, 2), challenge(23, 3)]
    for i in (2, 0, 1):
        rand, autn, xres, *_ = batch[i]
        assert usim.authenticate(rand, autn).res == xres
    assert usim.sqn_ms == S.join(23, 3)
    # ... but an older SEQ in an already-used slot is stale
    rand, autn, *_ = challenge(22, 3)
    with pytest.raises(SyncFailure):
        usim.authenticate(rand, autn)


def test_c_2_1_jump_beyond_delta_is_a_sync_failure() -> None:
    usim = Usim(K, OPC, sqn_ms=S.join(1, 0), delta=1000)
    rand, autn, xres, *_ = challenge(1001, 5)  # exactly delta ahead: accepted
    assert usim.authenticate(rand, autn).res == xres
    rand, autn, *_ = challenge(2002, 6)
    with pytest.raises(SyncFailure):
        usim.authenticate(rand, autn)
    assert usim.sqn_ms == S.join(1001, 5)  # refused challenges change nothing


def test_c_2_2_optional_limit_l() -> None:
    usim = Usim(K, OPC, sqn_ms=S.join(100, 0), limit=10)
    rand, autn, *_ = challenge(200, 1)
    usim.authenticate(rand, autn)
    rand, autn, *_ = challenge(190, 2)  # fresh in slot 2 (100 < 190) but SEQ_MS - SEQ = 10, not < L
    with pytest.raises(SyncFailure):
        usim.authenticate(rand, autn)
    rand, autn, xres, *_ = challenge(191, 2)
    assert usim.authenticate(rand, autn).res == xres


def test_new_card_array_starts_at_zero() -> None:
    usim = Usim(K, OPC)
    rand, autn, *_ = challenge(0, 5)
    with pytest.raises(SyncFailure):
        usim.authenticate(rand, autn)
    rand, autn, xres, *_ = challenge(1, 5)
    assert usim.authenticate(rand, autn).res == xres


def test_6_3_3_mac_failure_for_another_key_or_a_tampered_autn() -> None:
    usim = Usim(K, OPC, sqn_ms=S.join(3, 0))
    other_k = unpack("ts35208-4.3.2-set2")[0]
    rand, autn, *_ = challenge(4, 1, k=other_k)
    with pytest.raises(MacFailure, match="MAC-A"):
        usim.authenticate(rand, autn)
    rand, autn, *_ = challenge(4, 1)
    for i in (0, 6, 15):  # SQN xor AK, AMF, MAC-A are all covered
        bad = autn[:i] + bytes([autn[i] ^ 0x01]) + autn[i + 1:]
        with pytest.raises(MacFailure):
            usim.authenticate(rand, bad)
    assert usim.sqn_ms == S.join(3, 0) and usim.seq_ms[1] == 3  # nothing changed


def test_input_lengths_and_provisioning_are_checked() -> None:
    with pytest.raises(AkaError, match="AUTN must be 16 bytes"):
        Usim(K, OPC).authenticate(bytes(16), bytes(15))
    with pytest.raises(AkaError, match="K must be 16 bytes"):
        Usim(K[:4], OPC)
    with pytest.raises(AkaError, match="outside 48 bits"):
        Usim(K, OPC, sqn_ms=1 << 48)


@settings(max_examples=40, deadline=None)
@given(start=st.integers(1, 1 << 30), steps=st.lists(st.integers(1, 40), min_size=1, max_size=12))
def test_network_and_usim_stay_in_step(start: int, steps: list[int]) -> None:
    # Whatever the network's batch sizes, vectors used in order are always accepted.
    usim = Usim(K, OPC, sqn_ms=S.join(start, 0))
    sqn_he = S.join(start, 0)
    for n in steps:
        batch = []
        for _ in range(n):
            sqn_he = S.next_sqn(sqn_he)
            batch.append(generate_vector(K, OPC, sqn_he, AMF))
        for v in batch:
            assert usim.authenticate(v.rand, v.autn).res == v.xres
    assert usim.sqn_ms == sqn_he
