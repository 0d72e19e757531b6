"""The USIM side of AKA (TS 33.102 §6.3.3, Annex C.2): check AUTN, answer RES/CK/IK or AUTS.

``Usim.authenticate(rand, autn)`` computes AK, recovers SQN, checks MAC-A
(:class:`MacFailure` if wrong), then the freshness of SQN with the array
scheme of Annex C.2 (one SEQ_MS per IND slot, a jump limit delta, an optional
age limit L); a stale or too-new SQN raises :class:`SyncFailure` carrying
AUTS built from SQN_MS, the highest SQN accepted so far. Nothing is updated
unless the challenge is accepted.

Not here: the network's SQN counter (``ims.aka.vectors.SqnScheme``), the SIP
digest built on RES (``ims.sip.auth``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ims.aka.milenage import AkaError, Milenage, _check, _xor
from ims.aka.vectors import DELTA, IND_BITS, SQN_MAX, SqnScheme, make_auts


class MacFailure(AkaError):
    """MAC-A did not verify: the network is not who it claims (or K/OPc differ). §6.3.3."""


class SyncFailure(AkaError):
    """SQN not in the correct range (§6.3.3); ``auts`` goes back to the network to resynchronise."""

    def __init__(self, auts: bytes, sqn_ms: int, sqn: int | None = None) -> None:
        got = "" if sqn is None else f"SQN={sqn:#014x} not accepted; "
        super().__init__(f"synchronisation failure: {got}SQN_MS={sqn_ms:#014x}")
        self.auts = auts
        self.sqn_ms = sqn_ms
        self.sqn = sqn


@dataclass(frozen=True, slots=True)
class AkaResult:
    """What the USIM returns on success; ``sqn`` and ``amf`` are the values recovered from AUTN."""

    res: bytes
    ck: bytes
    ik: bytes
    sqn: int = 0
    amf: bytes = b""


@dataclass
class Usim:
    """A simulated USIM: K, OPc and the SEQ_MS array of Annex C.2.

    ``sqn_ms`` provisions the card as having accepted that SQN (every array
    slot starts at its SEQ); afterwards it is the highest SQN accepted.
    ``amf`` is what the card was provisioned with; AKA itself takes the AMF
    carried in AUTN (it is covered by MAC-A).
    """

    k: bytes
    opc: bytes
    amf: bytes = b"\x80\x00"
    sqn_ms: int = 0
    delta: int = DELTA
    limit: int | None = None  # C.2.2's optional L
    seq_ms: dict[int, int] = field(default_factory=dict)  # IND -> SEQ_MS(IND); missing = 0 (C.2.2)

    def __post_init__(self) -> None:
        self._m = Milenage(self.k, opc=self.opc)
        self.k, self.opc = self._m.k, self._m.opc
        if not 0 <= self.sqn_ms <= SQN_MAX:
            raise AkaError(f"SQN_MS {self.sqn_ms} is outside 48 bits")
        self._scheme = SqnScheme(IND_BITS, delta=self.delta, limit=self.limit)
        if self.sqn_ms and not self.seq_ms:
            # A card provisioned at SQN_MS has accepted nothing newer in any IND slot.
            seq = self._scheme.split(self.sqn_ms)[0]
            self.seq_ms = {i: seq for i in range(1 << IND_BITS)}

    def authenticate(self, rand: bytes, autn: bytes) -> AkaResult:
        """RES/CK/IK for a fresh, authentic challenge; MacFailure or SyncFailure(auts) otherwise."""
        rand = _check("RAND", rand, 16)
        autn = _check("AUTN", autn, 16)
        res, ck, ik, ak = self._m.f2345(rand)
        sqn_b = _xor(autn[:6], ak)
        amf, mac_a = autn[6:8], autn[8:]
        # §6.3.3: XMAC first; a MAC failure says nothing about SQN and changes nothing.
        if self._m.f1(rand, sqn_b, amf) != mac_a:
            raise MacFailure("AUTN MAC-A mismatch: XMAC-A differs (wrong K/OPc, or AUTN altered)")
        sqn = int.from_bytes(sqn_b, "big")
        if not self._scheme.fresh(sqn, self.seq_ms):
            raise SyncFailure(self.auts(rand), self.sqn_ms, sqn)
        seq, ind = self._scheme.split(sqn)
        self.seq_ms[ind] = seq
        if sqn > self.sqn_ms:
            self.sqn_ms = sqn
        return AkaResult(res, ck, ik, sqn, amf)

    def auts(self, rand: bytes) -> bytes:
        """AUTS = (SQN_MS xor AK*) || MAC-S with AMF* = 0 (§6.3.3)."""
        return make_auts(self.k, self.opc, rand, self.sqn_ms, milenage=self._m)
