"""Milenage against the TS 35.208 §4.3 conformance test sets; vectors, USIM and resync."""

from __future__ import annotations

import pytest

from ims.aka import AkaError, MacFailure, Milenage, SqnScheme, SyncFailure, Usim, compute_opc, generate_vector, resync

h = bytes.fromhex

# TS 35.208 §4.3 test sets 1 to 6: K, RAND, SQN, AMF, OP, OPc, f1, f1*, f2, f5, f3, f4, f5*.
SETS = {
    "ts35208-set1": ("465b5ce8b199b49faa5f0a2ee238a6bc", "23553cbe9637a89d218ae64dae47bf35", "ff9bb4d0b607", "b9b9",
                     "cdc202d5123e20f62b6d676ac72cb318", "cd63cb71954a9f4e48a5994e37a02baf", "4a9ffac354dfafb3",
                     "01cfaf9ec4e871e9", "a54211d5e3ba50bf", "aa689c648370", "b40ba9a3c58b2a05bbf0d987b21bf8cb",
                     "f769bcd751044604127672711c6d3441", "451e8beca43b"),
    "ts35208-set2": ("0396eb317b6d1c36f19c1c84cd6ffd16", "c00d603103dcee52c4478119494202e8", "fd8eef40df7d", "af17",
                     "ff53bade17df5d4e793073ce9d7579fa", "53c15671c60a4b731c55b4a441c0bde2", "5df5b31807e258b0",
                     "a8c016e51ef4a343", "d3a628ed988620f0", "c47783995f72", "58c433ff7a7082acd424220f2b67c556",
                     "21a8c1f929702adb3e738488b9f5c5da", "30f1197061c1"),
    "ts35208-set3": ("fec86ba6eb707ed08905757b1bb44b8f", "9f7c8d021accf4db213ccff0c7f71a6a", "9d0277595ffc", "725c",
                     "dbc59adcb6f9a0ef735477b7fadf8374", "1006020f0a478bf6b699f15c062e42b3", "9cabc3e99baf7281",
                     "95814ba2b3044324", "8011c48c0c214ed2", "33484dc2136b", "5dbdbb2954e8f3cde665b046179a5098",
                     "59a92d3b476a0443487055cf88b2307b", "deacdd848cc6"),
    "ts35208-set4": ("9e5944aea94b81165c82fbf9f32db751", "ce83dbc54ac0274a157c17f80d017bd6", "0b604a81eca8", "9e09",
                     "223014c5806694c007ca1eeef57f004f", "a64a507ae1a2a98bb88eb4210135dc87", "74a58220cba84c49",
                     "ac2cc74a96871837", "f365cd683cd92e96", "f0b9c08ad02e", "e203edb3971574f5a94b0d61b816345d",
                     "0c4524adeac041c4dd830d20854fc46b", "6085a86c6f63"),
    "ts35208-set5": ("4ab1deb05ca6ceb051fc98e77d026a84", "74b0cd6031a1c8339b2b6ce2b8c4a186", "e880a1b580b6", "9f07",
                     "2d16c5cd1fdf6b22383584e3bef2a8d8", "dcf07cbd51855290b92a07a9891e523e", "49e785dd12626ef2",
                     "9e85790336bb3fa2", "5860fc1bce351e7e", "31e11a609118", "7657766b373d1c2138f307e3de9242f9",
                     "1c42e960d89b8fa99f2744e0708ccb53", "fe2555e54aa9"),
    "ts35208-set6": ("6c38a116ac280c454f59332ee35c8c4f", "ee6466bc96202c5a557abbeff8babf63", "414b98222181", "4464",
                     "1ba00a1a7c6700ac8c3ff3e96ad08725", "3803ef5363b947c6aaa225e58fae3934", "078adfb488241a57",
                     "80246b8d0186bcf1", "16c8233f05a0ac28", "45b0f69ab06c", "3f8c7587fe8e4b233af676aede30ba3b",
                     "a7466cc1e6b2a1337d49d3b66e95d7b4", "1f53cd2b1113"),
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
