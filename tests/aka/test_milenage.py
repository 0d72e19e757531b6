"""Milenage against the TS 35.208 §4.3 conformance test sets; vectors, USIM and resync."""

from __future__ import annotations

import pytest

from ims.aka import AkaError, MacFailure, Milenage, SqnScheme, SyncFailure, Usim, compute_opc, generate_vector, resync

h = bytes.fromhex

# TS 35.208 §4.3 test sets 1 and 2: K, RAND, SQN, AMF, OP, OPc, f1, f1*, f2, f5, f3, f4, f5*.
SETS = {
    "ts35208-set1": ("465b5ce8b199b49faa5f0a2ee238a6bc", "23553cbe9637a89d218ae64dae47bf35", "ff9bb4d0b607", "b9b9",
                     "cdc202d5123e20f62b6d676ac72cb318", "cd63cb71954a9f4e48a5994e37a02baf", "4a9ffac354dfafb3",
                     "01cfaf9ec4e871e9", "a54211d5e3ba50bf", "aa689c648370", "b40ba9a3c58b2a05bbf0d987b21bf8cb",
                     "f769bcd751044604127672711c6d3441", "451e8beca43b"),
    "ts35208-set2": ("0396eb317b6d1c36f19c1c84cd6ffd16", "c00d603103dcee52c4478119494202e8", "fd8eef40df7d", "af17",
                     "ff53bade17df5d4e793073ce9d7579fa", "53c15671c60a4b731c55b4a441c0bde2", "5df5b31807e258b0",
                     "a8c016e51ef4a343", "d3a628ed988620f0", "c47783995f72", "58c433ff7a7082acd424220f2b67c556",
                     "21a8c1f929702adb3e738488b9f5c5da", "30f1197061c1"),
}


@pytest.mark.parametrize("name", sorted(SETS))
def test_ts35208_conformance(name: str) -> None:
    k, rand, sqn, amf, op, opc, f1, f1s, f2, f5, f3, f4, f5s = (h(x) for x in SETS[name])
    assert compute_opc(k, op) == opc
    for m in (Milenage(k, op=op), Milenage(k, opc=opc)):
        assert m.f1(rand, sqn, amf) == f1 and m.f1star(rand, sqn, amf) == f1s
        assert m.f2345(rand) == (f2, f3, f4, f5)
        assert m.f5star(rand) == f5s


def test_key_lengths_are_named() -> None:
    with pytest.raises(AkaError, match="K must be 16 bytes, got 15"):
        Milenage(b"\x00" * 15, opc=b"\x00" * 16)
    with pytest.raises(AkaError, match="exactly one of OP and OPc"):
        Milenage(b"\x00" * 16)


def test_vector_autn_layout_33102() -> None:
    k, rand, sqn, amf, _op, opc, f1, *_ = (h(x) for x in SETS["ts35208-set1"])
    v = generate_vector(k, opc, int.from_bytes(sqn, "big"), amf, rand)
    assert v.autn[6:8] == amf and v.autn[8:] == f1
    assert bytes(a ^ b for a, b in zip(v.autn[:6], v.ak)) == sqn


def test_usim_accepts_fresh_and_rejects_replayed_sqn_then_resync() -> None:
    k, opc = h(SETS["ts35208-set1"][0]), h(SETS["ts35208-set1"][5])
    scheme = SqnScheme()
    usim = Usim(k, opc, sqn_ms=scheme.join(10, 3))
    fresh = generate_vector(k, opc, scheme.next_sqn(scheme.join(10, 3)), b"\x80\x00")
    assert usim.authenticate(fresh.rand, fresh.autn).res == fresh.xres
    with pytest.raises(SyncFailure) as info:  # the same SQN again: replay
        usim.authenticate(fresh.rand, fresh.autn)
    assert resync(k, opc, fresh.rand, info.value.auts) == usim.sqn_ms
    # the network continues after SQN_MS and the USIM accepts it
    nxt = generate_vector(k, opc, scheme.next_sqn(scheme.after_resync(usim.sqn_ms)), b"\x80\x00")
    assert usim.authenticate(nxt.rand, nxt.autn).ck == nxt.ck


def test_usim_rejects_sqn_too_far_ahead_c_2_1() -> None:
    k, opc = h(SETS["ts35208-set2"][0]), h(SETS["ts35208-set2"][5])
    usim = Usim(k, opc, sqn_ms=32)
    v = generate_vector(k, opc, (1 << 29) << 5, b"\x80\x00")
    with pytest.raises(SyncFailure):
        usim.authenticate(v.rand, v.autn)


def test_usim_detects_wrong_network_key() -> None:
    k, opc = h(SETS["ts35208-set1"][0]), h(SETS["ts35208-set1"][5])
    v = generate_vector(h(SETS["ts35208-set2"][0]), opc, 64, b"\x80\x00")
    with pytest.raises(MacFailure):
        Usim(k, opc).authenticate(v.rand, v.autn)


def test_resync_with_bad_mac_s_is_refused() -> None:
    k, opc = h(SETS["ts35208-set1"][0]), h(SETS["ts35208-set1"][5])
    with pytest.raises(AkaError, match="MAC-S mismatch"):
        resync(k, opc, b"\x01" * 16, b"\x02" * 14)


def test_sqn_scheme_never_repeats_and_cycles_ind() -> None:
    s = SqnScheme()
    seen, sqn = set(), 0
    for _ in range(100):
        sqn = s.next_sqn(sqn)
        assert sqn not in seen
        seen.add(sqn)
    assert {s.split(x)[1] for x in seen} == set(range(32))
