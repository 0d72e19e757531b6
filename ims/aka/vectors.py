"""Authentication vectors and SQN management (3GPP TS 33.102 §6.3, Annex C).

The network side: ``generate_vector`` builds (RAND, AUTN, XRES, CK, IK) with
AUTN = (SQN xor AK) || AMF || MAC-A; ``SqnScheme`` issues fresh sequence
numbers SQN = SEQ || IND (Annex C.1.1, IND of 5 bits) and never reuses one;
``resync`` recovers SQN_MS from AUTS (§6.3.5) after a synchronisation failure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ims.aka.milenage import AkaError, Milenage, _check, _xor

IND_BITS = 5  # TS 33.102 C.1.1.2: a = 32 array entries
SQN_MAX = (1 << 48) - 1
AMF_RESYNC = b"\x00\x00"  # TS 33.102 §6.3.3: AMF* used in MAC-S is all zeros


def sqn_bytes(sqn: int) -> bytes:
    if not 0 <= sqn <= SQN_MAX:
        raise AkaError(f"SQN {sqn} is outside 48 bits")
    return sqn.to_bytes(6, "big")


@dataclass(frozen=True, slots=True)
class AuthVector:
    rand: bytes
    autn: bytes
    xres: bytes
    ck: bytes
    ik: bytes
    sqn: int
    ak: bytes = b""


def generate_vector(k: bytes, opc: bytes, sqn: int, amf: bytes, rand: bytes | None = None,
                    milenage: Milenage | None = None) -> AuthVector:
    """One quintet for ``sqn`` (TS 33.102 §6.3.2)."""
    m = milenage or Milenage(k, opc=opc)
    rand = _check("RAND", rand, 16) if rand is not None else os.urandom(16)
    sqn_b = sqn_bytes(sqn)
    amf = _check("AMF", amf, 2)
    mac_a = m.f1(rand, sqn_b, amf)
    res, ck, ik, ak = m.f2345(rand)
    autn = _xor(sqn_b, ak) + amf + mac_a
    return AuthVector(rand, autn, res, ck, ik, sqn, ak)


class SqnScheme:
    """Network-side SQN generation (TS 33.102 C.1.1.2 / C.3.2): SEQ || IND.

    Each vector gets SEQ + 1 and the next IND (cycling through 2**IND_BITS
    entries), so consecutive vectors never share a sequence number.
    """

    def __init__(self, ind_bits: int = IND_BITS) -> None:
        self.ind_bits = ind_bits
        self.ind_mask = (1 << ind_bits) - 1

    def split(self, sqn: int) -> tuple[int, int]:
        return sqn >> self.ind_bits, sqn & self.ind_mask

    def join(self, seq: int, ind: int) -> int:
        return (seq << self.ind_bits) | (ind & self.ind_mask)

    def next_sqn(self, stored: int) -> int:
        seq, ind = self.split(stored)
        nxt = self.join(seq + 1, ind + 1)
        if nxt > SQN_MAX:
            raise AkaError("SQN space exhausted (SEQ wrapped)")
        return nxt

    def after_resync(self, sqn_ms: int) -> int:
        """C.3.4: continue from the USIM's highest accepted SEQ."""
        seq, ind = self.split(sqn_ms)
        return self.join(seq, ind)


def resync(k: bytes, opc: bytes, rand: bytes, auts: bytes, amf: bytes = AMF_RESYNC,
           milenage: Milenage | None = None) -> int:
    """Recover SQN_MS from AUTS = (SQN_MS xor AK*) || MAC-S (TS 33.102 §6.3.5)."""
    m = milenage or Milenage(k, opc=opc)
    _check("AUTS", auts, 14)
    rand = _check("RAND", rand, 16)
    sqn_ms = _xor(auts[:6], m.f5star(rand))
    if m.f1star(rand, sqn_ms, amf) != auts[6:]:
        raise AkaError("AUTS MAC-S mismatch: the AUTS was not made with this K/OPc and RAND")
    return int.from_bytes(sqn_ms, "big")
