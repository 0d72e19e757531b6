"""``ims aka milenage`` and ``ims aka resync``: debug authentication failures by hand.

Handset and SIM testers compare these figures with what their USIM or the
network computed (TS 35.206 functions; TS 33.102 §6.3.2 AUTN and §6.3.3 AUTS
layouts). Pure calculators: no node is started, nothing is stored.
"""

from __future__ import annotations

import argparse
import json
import sys

from ims.aka.milenage import AkaError, Milenage, _xor
from ims.aka.vectors import SqnScheme, resync


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("aka", help="Milenage and AKA resynchronisation calculators")
    asub = p.add_subparsers(dest="aka_command", metavar="ACTION")
    asub.required = True
    m = asub.add_parser("milenage", help="compute OPc, MAC-A, MAC-S, RES, CK, IK, AK, AK* and AUTN",
                        description="TS 35.206 f1..f5* for one RAND; AUTN = (SQN xor AK) || AMF || MAC-A.")
    _keys(m)
    m.add_argument("--rand", required=True, help="RAND, 32 hex digits")
    m.add_argument("--sqn", required=True, help="SQN, 12 hex digits")
    m.add_argument("--amf", required=True, help="AMF, 4 hex digits")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(func=_milenage)
    r = asub.add_parser("resync", help="recover SQN_MS from AUTS (TS 33.102 6.3.5)",
                        description="AUTS = (SQN_MS xor AK*) || MAC-S, MAC-S over AMF* = 0000 (TS 33.102 6.3.3).")
    _keys(r)
    r.add_argument("--rand", required=True, help="RAND of the failed challenge, 32 hex digits")
    r.add_argument("--auts", required=True, help="AUTS, 28 hex digits")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.set_defaults(func=_resync)


def _keys(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", required=True, help="subscriber key K, 32 hex digits")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--op", help="operator key OP, 32 hex digits")
    g.add_argument("--opc", help="derived operator key OPc, 32 hex digits")


class _Bad(Exception):
    """A command-line value that cannot be used; the message names the option."""


def _hex(args: argparse.Namespace, name: str, nbytes: int) -> bytes:
    text = getattr(args, name)
    digits = text.strip().removeprefix("0x").removeprefix("0X")
    try:
        value = bytes.fromhex(digits)
    except ValueError:
        raise _Bad(f"--{name}: {text!r} is not hexadecimal") from None
    if len(value) != nbytes:
        raise _Bad(f"--{name}: must be {nbytes} bytes ({2 * nbytes} hex digits), got {len(digits.replace(' ', ''))}")
    return value


def _milenage_of(args: argparse.Namespace) -> Milenage:
    k = _hex(args, "k", 16)
    if args.op is not None:
        return Milenage(k, op=_hex(args, "op", 16))
    return Milenage(k, opc=_hex(args, "opc", 16))


def _out(args: argparse.Namespace, values: dict[str, str]) -> None:
    if args.json:
        print(json.dumps(values, indent=2))
    else:
        for name, value in values.items():
            print(f"{name:8} {value}")


def _fail(command: str, message: str, code: int) -> int:
    print(f"ims aka {command}: {message}", file=sys.stderr)
    return code


def _milenage(args: argparse.Namespace) -> int:
    try:
        m = _milenage_of(args)
        rand, sqn, amf = _hex(args, "rand", 16), _hex(args, "sqn", 6), _hex(args, "amf", 2)
    except (_Bad, AkaError) as exc:
        return _fail("milenage", str(exc), 2)
    mac_a, res, ck, ik, ak = m.quintet(rand, sqn, amf)
    _out(args, {"OPc": m.opc.hex(), "MAC-A": mac_a.hex(), "MAC-S": m.f1star(rand, sqn, amf).hex(),
                "RES": res.hex(), "CK": ck.hex(), "IK": ik.hex(), "AK": ak.hex(), "AK*": m.f5star(rand).hex(),
                "AUTN": (_xor(sqn, ak) + amf + mac_a).hex()})
    return 0


def _resync(args: argparse.Namespace) -> int:
    try:
        m = _milenage_of(args)
        rand, auts = _hex(args, "rand", 16), _hex(args, "auts", 14)
    except (_Bad, AkaError) as exc:
        return _fail("resync", str(exc), 2)
    try:
        sqn_ms = resync(m.k, m.opc, rand, auts, milenage=m)
    except AkaError:
        claimed = _xor(auts[:6], m.f5star(rand)).hex()
        return _fail("resync", f"MAC-S does not verify: this AUTS was not made with this K/OP(c) and RAND "
                     f"(unverified SQN_MS would be {claimed})", 1)
    scheme = SqnScheme()
    seq, ind = scheme.split(sqn_ms)
    try:
        nxt = f"{scheme.next_sqn(sqn_ms):012x}"  # what the network issues after resetting SQN_HE (6.3.5)
    except AkaError:
        nxt = "none (SEQ space exhausted)"
    _out(args, {"SQN_MS": f"{sqn_ms:012x}", "SEQ_MS": str(seq), "IND_MS": str(ind), "NEXT_SQN": nxt})
    return 0
