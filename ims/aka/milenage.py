"""MILENAGE (3GPP TS 35.206 §4.1) on AES from ``cryptography``.

f1/f1* give MAC-A/MAC-S, f2 RES, f3 CK, f4 IK, f5 AK, f5* AK*.  One AES
encryptor is kept per key: vector generation is on the HSS's hot path.
Not here: SQN management and vectors (``ims.aka.vectors``), the UE side
(``ims.aka.usim``).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class AkaError(ValueError):
    """Bad AKA input (key length, AUTS that fails MAC-S...); the message names the field."""


def _check(name: str, value: bytes, length: int) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != length:
        got = len(value) if isinstance(value, (bytes, bytearray)) else type(value).__name__
        raise AkaError(f"{name} must be {length} bytes, got {got}")
    return bytes(value)


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _rot(x: bytes, r_bytes: int) -> bytes:
    """Cyclic left rotation by r bits; TS 35.206 only uses whole bytes (r = 0, 32, 64, 96)."""
    return x[r_bytes:] + x[:r_bytes]


# TS 35.206 §4.1: r1..r5 (in bytes) and c1..c5.
_R = (8, 0, 4, 8, 12)
_C = tuple((i).to_bytes(16, "big") for i in (0, 1, 2, 4, 8))


def _encryptor(k: bytes):  # type: ignore[no-untyped-def]
    return Cipher(algorithms.AES(k), modes.ECB()).encryptor()


def compute_opc(k: bytes, op: bytes) -> bytes:
    """OPc = E_K(OP) xor OP (TS 35.206 §4.1)."""
    _check("K", k, 16)
    _check("OP", op, 16)
    return _xor(_encryptor(k).update(op), op)


class Milenage:
    def __init__(self, k: bytes, *, op: bytes | None = None, opc: bytes | None = None) -> None:
        self.k = _check("K", k, 16)
        if (op is None) == (opc is None):
            raise AkaError("give exactly one of OP and OPc")
        self._enc = _encryptor(self.k)
        self.opc = _check("OPc", opc, 16) if opc is not None else _xor(self._e(_check("OP", op, 16)), op)  # type: ignore[arg-type]

    def _e(self, block: bytes) -> bytes:
        return self._enc.update(block)

    def _temp(self, rand: bytes) -> bytes:
        return self._e(_xor(_check("RAND", rand, 16), self.opc))

    def _out(self, temp: bytes, i: int) -> bytes:
        return _xor(self._e(_xor(_rot(_xor(temp, self.opc), _R[i]), _C[i])), self.opc)

    def _out1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        temp = self._temp(rand)
        in1 = _check("SQN", sqn, 6) + _check("AMF", amf, 2)
        in1 = in1 + in1
        return _xor(self._e(_xor(temp, _xor(_rot(_xor(in1, self.opc), _R[0]), _C[0]))), self.opc)

    def f1(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """MAC-A, the network authentication code."""
        return self._out1(rand, sqn, amf)[:8]

    def f1star(self, rand: bytes, sqn: bytes, amf: bytes) -> bytes:
        """MAC-S, the resynchronisation authentication code."""
        return self._out1(rand, sqn, amf)[8:]

    def f2345(self, rand: bytes) -> tuple[bytes, bytes, bytes, bytes]:
        """(RES, CK, IK, AK)."""
        temp = self._temp(rand)
        out2 = self._out(temp, 1)
        return out2[8:], self._out(temp, 2), self._out(temp, 3), out2[:6]

    def f5star(self, rand: bytes) -> bytes:
        """AK* (resynchronisation anonymity key)."""
        return self._out(self._temp(rand), 4)[:6]
