"""The USIM side of AKA (TS 33.102 §6.3.3, Annex C.2): check AUTN, answer RES or AUTS.

``Usim.authenticate(rand, autn)`` verifies MAC-A and the freshness of SQN
(SEQ above the highest accepted for its IND slot, and no more than DELTA
ahead), and returns RES/CK/IK; otherwise it raises :class:`MacFailure` or
:class:`SyncFailure` carrying the AUTS for the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ims.aka.milenage import AkaError, Milenage, _check, _xor
from ims.aka.vectors import AMF_RESYNC, IND_BITS, SqnScheme, sqn_bytes

DELTA = 1 << 28  # C.2.1: limit on how far SEQ may jump ahead


class MacFailure(AkaError):
    """MAC-A did not verify: the network is not who it claims (or K/OPc differ)."""


class SyncFailure(AkaError):
    """SQN out of range; ``auts`` goes back to the network for resynchronisation."""

    def __init__(self, auts: bytes, sqn_ms: int) -> None:
        super().__init__(f"SQN out of range; SQN_MS={sqn_ms:#014x}")
        self.auts = auts
        self.sqn_ms = sqn_ms


@dataclass(frozen=True, slots=True)
class AkaResult:
    res: bytes
    ck: bytes
    ik: bytes
    sqn: int


@dataclass
class Usim:
    k: bytes
    opc: bytes
    amf: bytes = b"\x80\x00"
    sqn_ms: int = 0  # highest accepted SQN (what AUTS reports)
    delta: int = DELTA
    seq_ms: dict[int, int] = field(default_factory=dict)  # IND -> highest accepted SEQ

    def __post_init__(self) -> None:
        self._m = Milenage(self.k, opc=self.opc)
        self._scheme = SqnScheme(IND_BITS)
        if self.sqn_ms and not self.seq_ms:
            # A USIM provisioned at SQN_MS has seen nothing newer in any IND slot.
            seq, _ = self._scheme.split(self.sqn_ms)
            self.seq_ms = {i: seq for i in range(1 << IND_BITS)}

    def authenticate(self, rand: bytes, autn: bytes) -> AkaResult:
        rand = _check("RAND", rand, 16)
        autn = _check("AUTN", autn, 16)
        res, ck, ik, ak = self._m.f2345(rand)
        sqn_b = _xor(autn[:6], ak)
        amf, mac_a = autn[6:8], autn[8:]
        if self._m.f1(rand, sqn_b, amf) != mac_a:
            raise MacFailure("AUTN MAC-A mismatch")
        sqn = int.from_bytes(sqn_b, "big")
        seq, ind = self._scheme.split(sqn)
        highest_seq = self._scheme.split(self.sqn_ms)[0]
        if seq <= self.seq_ms.get(ind, -1) or seq - highest_seq > self.delta:
            raise SyncFailure(self.auts(rand), self.sqn_ms)
        self.seq_ms[ind] = seq
        if sqn > self.sqn_ms:
            self.sqn_ms = sqn
        return AkaResult(res, ck, ik, sqn)

    def auts(self, rand: bytes) -> bytes:
        """AUTS = (SQN_MS xor AK*) || MAC-S with AMF* = 0 (§6.3.3)."""
        sqn_ms = sqn_bytes(self.sqn_ms)
        return _xor(sqn_ms, self._m.f5star(rand)) + self._m.f1star(rand, sqn_ms, AMF_RESYNC)
