"""MILENAGE (3GPP TS 35.206 §4.1) on AES-128 from ``cryptography``.

f1/f1* give MAC-A/MAC-S, f2 RES, f3 CK, f4 IK, f5 AK, f5* AK*.  A
:class:`Milenage` holds one AES-ECB encryptor for its K and reuses it for
every block: vector generation is on the HSS's hot path.  One instance is not
safe to share between threads that run at the same time (the encryptor
context is not); the HSS runs its Cx logic on a single store thread.

Not here: SQN management and vectors (``ims.aka.vectors``), the UE side
(``ims.aka.usim``).
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class AkaError(ValueError):
    """Bad AKA input (key length, AUTS that fails MAC-S...); the message names the field."""


def _check(name: str, value: object, length: int) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)) or len(value) != length:
        got = f"{len(value)} bytes" if isinstance(value, (bytes, bytearray, memoryview)) else type(value).__name__
        raise AkaError(f"{name} must be {length} bytes, got {got}")
    return bytes(value)


def _xor(a: bytes, b: bytes) -> bytes:
    """a xor b for equal lengths (int arithmetic: one C-level op, no per-byte loop)."""
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


_MASK128 = (1 << 128) - 1


def _rot128(x: int, r: int) -> int:
    """Cyclic rotation of a 128-bit block by r bit positions toward the most significant end."""
    return ((x << r) | (x >> (128 - r))) & _MASK128 if r else x


# TS 35.206 §4.1: r1..r5 = 64, 0, 32, 64, 96 and c1..c5 (128-bit constants, c1 = 0, then bits 0..3 set).
_R = (64, 0, 32, 64, 96)
_C = (0, 1, 2, 4, 8)


def _encryptor(k: bytes) -> Any:
    return Cipher(algorithms.AES(k), modes.ECB()).encryptor()


def compute_opc(k: bytes, op: bytes) -> bytes:
    """OPc = OP xor E_K(OP) (TS 35.206 §4.1)."""
    k = _check("K", k, 16)
    op = _check("OP", op, 16)
    return _xor(_encryptor(k).update(op), op)


class Milenage:
    """The MILENAGE functions for one subscriber key K and operator variant OP/OPc.

    Internally blocks are 128-bit ints between AES calls: one int<->bytes
    conversion per block instead of one per xor.
    """

    __slots__ = ("k", "opc", "_e", "_opc")

    def __init__(self, k: bytes, *, op: bytes | None = None, opc: bytes | None = None) -> None:
        self.k: bytes = _check("K", k, 16)
        if (op is None) == (opc is None):
            raise AkaError("give exactly one of OP and OPc")
        self._e = _encryptor(self.k).update  # AES-128 E_K on one 16-byte block
        if opc is not None:
            self.opc: bytes = _check("OPc", opc, 16)
        else:
            op = _check("OP", op, 16)
            self.opc = _xor(self._e(op), op)
        self._opc = int.from_bytes(self.opc, "big")

    def _ek(self, x: int) -> int:
        return int.from_bytes(self._e(x.to_bytes(16, "big")), "big")

    def _temp(self, rand: bytes) -> int:
        """TEMP = E_K(RAND xor OPc)."""
        return self._ek(int.from_bytes(_check("RAND", rand, 16), "big") ^ self._opc)

    def _out(self, temp: int, i: int) -> bytes:
        """OUTi = E_K(rot(TEMP xor OPc, ri) xor ci) xor OPc for i = 2..5 (index 1..4 here)."""
        return (self._ek(_rot128(temp ^ self._opc, _R[i]) ^ _C[i]) ^ self._opc).to_bytes(16, "big")

    def _out1(self, temp: int, sqn: bytes, amf: bytes) -> bytes:
        """OUT1 = E_K(TEMP xor rot(IN1 xor OPc, r1) xor c1) xor OPc, IN1 = SQN||AMF||SQN||AMF."""
        half = _check("SQN", sqn, 6) + _check("AMF", amf, 2)
        in1 = int.from_bytes(half + half, "big")
        return (self._ek(temp ^ _rot128(in1 ^ self._opc, _R[0]) ^ _C[0]) ^ self._opc).to_bytes(16, "big")

    def f1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """MAC-A (8 bytes), the network authentication code: OUT1[0..63]."""
        return self._out1(self._temp(rand), sqn, amf)[:8]

    def f1star(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """MAC-S (8 bytes), the resynchronisation authentication code: OUT1[64..127]."""
        return self._out1(self._temp(rand), sqn, amf)[8:]

    def f2345(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        """(RES 8, CK 16, IK 16, AK 6): OUT2[64..127], OUT3, OUT4, OUT2[0..47]."""
        temp = self._temp(rand)
        out2 = self._out(temp, 1)
        return out2[8:], self._out(temp, 2), self._out(temp, 3), out2[:6]

    def f5star(self, rand: bytes) -> bytes:
        """AK* (6 bytes), the resynchronisation anonymity key: OUT5[0..47]."""
        return self._out(self._temp(rand), 4)[:6]

    def quintet(self, rand: bytes, sqn: bytes, amf: bytes) -> tuple[bytes, bytes, bytes, bytes, bytes]:
        """(MAC-A, RES, CK, IK, AK) with TEMP computed once: five AES blocks per vector."""
        temp = self._temp(rand)
        out2 = self._out(temp, 1)
        return (self._out1(temp, sqn, amf)[:8], out2[8:], self._out(temp, 2), self._out(temp, 3), out2[:6])
