"""Authentication vectors and SQN management, network and USIM rules (3GPP TS 33.102 §6.3, Annex C).

The network side: :func:`generate_vector` builds the quintet (RAND, XRES, CK,
IK, AUTN) with AUTN = (SQN xor AK) || AMF || MAC-A (§6.3.2);
:class:`SqnScheme` issues SQN = SEQ || IND (Annex C.1.1, IND of 5 bits): each
vector takes SEQ + 1 and the next IND, so no SQN is ever issued twice;
:func:`resync` recovers SQN_MS from AUTS = (SQN_MS xor AK*) || MAC-S (§6.3.3,
§6.3.5) and :meth:`SqnScheme.after_resync` decides where the counter goes.
:meth:`SqnScheme.fresh` is the USIM's acceptance rule (Annex C.2), shared with
``ims.aka.usim``.

Not here: where SQN_HE is stored (the HSS), the USIM's state (``ims.aka.usim``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ims.aka.milenage import AkaError, Milenage, _check, _xor

IND_BITS = 5  # TS 33.102 C.1.1: IND of 5 bits, an array of a = 32 entries in the USIM
SQN_MAX = (1 << 48) - 1
DELTA = 1 << 28  # C.2.1: the USIM's limit on how far SEQ may jump ahead of SEQ_MS
AMF_RESYNC = b"\x00\x00"  # §6.3.3: MAC-S is computed with AMF* = 0x0000


def sqn_bytes(sqn: int) -> bytes:
    """SQN as the 6 octets that go into f1 and AUTN."""
    if not 0 <= sqn <= SQN_MAX:
        raise AkaError(f"SQN {sqn} is outside 48 bits")
    return sqn.to_bytes(6, "big")


@dataclass(frozen=True, slots=True)
class AuthVector:
    """One authentication vector (quintet) for ``sqn`` (§6.3.2); ``ak`` kept for debugging."""

    rand: bytes
    autn: bytes
    xres: bytes
    ck: bytes
    ik: bytes
    sqn: int
    ak: bytes = b""


def generate_vector(k: bytes, opc: bytes, sqn: int, amf: bytes, rand: bytes | None = None,
                    milenage: Milenage | None = None) -> AuthVector:
    """The quintet for ``sqn`` (TS 33.102 §6.3.2); pass ``milenage`` to reuse its AES context."""
    m = milenage if milenage is not None else Milenage(k, opc=opc)
    rand = _check("RAND", rand, 16) if rand is not None else os.urandom(16)
    sqn_b = sqn_bytes(sqn)
    amf = _check("AMF", amf, 2)
    mac_a, res, ck, ik, ak = m.quintet(rand, sqn_b, amf)
    return AuthVector(rand, _xor(sqn_b, ak) + amf + mac_a, res, ck, ik, sqn, ak)


def make_auts(k: bytes, opc: bytes, rand: bytes, sqn_ms: int, milenage: Milenage | None = None) -> bytes:
    """AUTS = (SQN_MS xor AK*) || MAC-S, MAC-S = f1*(SQN_MS, RAND, AMF* = 0) (§6.3.3)."""
    m = milenage if milenage is not None else Milenage(k, opc=opc)
    sqn_b = sqn_bytes(sqn_ms)
    return _xor(sqn_b, m.f5star(rand)) + m.f1star(rand, sqn_b, AMF_RESYNC)


def resync(k: bytes, opc: bytes, rand: bytes, auts: bytes, amf: bytes = AMF_RESYNC,
           milenage: Milenage | None = None) -> int:
    """SQN_MS from AUTS (§6.3.5 steps 1 and 4); raises AkaError("AUTS MAC-S mismatch...") if MAC-S fails."""
    m = milenage if milenage is not None else Milenage(k, opc=opc)
    auts = _check("AUTS", auts, 14)
    rand = _check("RAND", rand, 16)
    sqn_ms = _xor(auts[:6], m.f5star(rand))
    if m.f1star(rand, sqn_ms, _check("AMF", amf, 2)) != auts[6:]:
        raise AkaError("AUTS MAC-S mismatch: the AUTS was not made with this K/OPc and RAND")
    return int.from_bytes(sqn_ms, "big")


class SqnScheme:
    """SQN = SEQ || IND arithmetic and the Annex C rules of both ends.

    Network side (C.1.1, C.3): :meth:`next_sqn` gives SEQ_HE + 1 with the next
    IND (mod 2**ind_bits), so consecutive vectors never share a sequence number
    and land in different USIM array slots. USIM side (C.2): :meth:`fresh`.
    """

    __slots__ = ("ind_bits", "ind_mask", "delta", "limit")

    def __init__(self, ind_bits: int = IND_BITS, *, delta: int = DELTA, limit: int | None = None) -> None:
        if not 0 <= ind_bits < 48:
            raise AkaError(f"IND length {ind_bits} bits is outside 0..47")
        self.ind_bits = ind_bits
        self.ind_mask = (1 << ind_bits) - 1
        self.delta = delta  # C.2.1: SEQ - SEQ_MS <= delta
        self.limit = limit  # C.2.2: optional L, SEQ_MS - SEQ < L

    def split(self, sqn: int) -> tuple[int, int]:
        """(SEQ, IND)."""
        return sqn >> self.ind_bits, sqn & self.ind_mask

    def join(self, seq: int, ind: int) -> int:
        return (seq << self.ind_bits) | (ind & self.ind_mask)

    def next_sqn(self, stored: int) -> int:
        """The SQN for the next vector after ``stored`` (SQN_HE): SEQ + 1, IND + 1 mod a."""
        seq, ind = self.split(stored)
        nxt = self.join(seq + 1, ind + 1)
        if nxt > SQN_MAX:
            raise AkaError("SQN space exhausted: SEQ would pass 2**(48 - IND bits) - 1")
        return nxt

    def after_resync(self, sqn_ms: int, sqn_he: int | None = None) -> int:
        """The SQN_HE to store after a verified AUTS reported ``sqn_ms`` (§6.3.5 steps 2, 3, 5).

        If the next SQN from ``sqn_he`` would already be accepted by the USIM
        (its SEQ above SEQ_MS and no more than delta ahead), the counter stays;
        otherwise it is reset to SQN_MS, so the next vector carries SEQ_MS + 1.
        Without ``sqn_he`` the counter is reset.
        """
        if not 0 <= sqn_ms <= SQN_MAX:
            raise AkaError(f"SQN_MS {sqn_ms} is outside 48 bits")
        if sqn_he is not None:
            seq_next = self.split(sqn_he)[0] + 1
            seq_ms = self.split(sqn_ms)[0]
            if seq_ms < seq_next and seq_next - seq_ms <= self.delta:
                return sqn_he
        return sqn_ms

    def fresh(self, sqn: int, seq_ms: Mapping[int, int]) -> bool:
        """Would a USIM whose array is ``seq_ms`` (IND -> SEQ_MS(IND), missing = 0) accept ``sqn``?

        C.2.1: SEQ - SEQ_MS <= delta, SEQ_MS the highest SEQ anywhere in the array;
        C.2.2: optional SEQ_MS - SEQ < L; then SEQ > SEQ_MS(IND).
        """
        seq, ind = self.split(sqn)
        highest = max(seq_ms.values(), default=0)
        if seq - highest > self.delta:
            return False
        if self.limit is not None and highest - seq >= self.limit:
            return False
        return seq > seq_ms.get(ind, 0)
