"""A handset's card from a topology: the subscriber's USIM/ISIM data, with the UE entry's overrides."""

from __future__ import annotations

from ims.aka.milenage import compute_opc
from ims.topology.schema import Topology, Ue
from ims.ue.handset import Subscription


def subscription_for(topo: Topology, ue: Ue) -> Subscription:
    """What handset ``ue`` carries: its subscriber's identities and keys (OPc from OP when only OP is
    given, TS 35.206 §4.1), with the entry's ``k``/``sqn``/``impu`` overrides for negative tests."""
    sub = next(s for s in topo.subscribers if ue.subscriber in (s.impi, s.imsi))
    domain = sub.impi.partition("@")[2] or topo.domains[0].name
    k = bytes.fromhex(ue.k or sub.k)
    opc = bytes.fromhex(sub.opc) if sub.opc else compute_opc(bytes.fromhex(sub.k), bytes.fromhex(sub.op or ""))
    return Subscription(sub.impi, ue.impu or sub.impus[0], domain, k, opc, bytes.fromhex(sub.amf),
                        int(ue.sqn or sub.sqn, 16), sub.password, ue.auth)
