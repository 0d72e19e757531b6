"""CSCF settings from a topology: who is whose I-CSCF, S-CSCF, BGCF, peer network and HSS.

The topology stands in for DNS (RFC 3263) and ENUM (RFC 6116): a domain's
I-CSCF is the ``icscf`` node of that domain; a number's SIP URI is the first
sip: identity of the subscriber owning it (tel: IMPU or MSISDN).
"""

from __future__ import annotations

from dataclasses import dataclass

from ims.cscf.bgcf import BgcfConfig
from ims.cscf.icscf import IcscfConfig, ScscfEntry
from ims.cscf.pcscf import PcscfConfig
from ims.cscf.scscf import ScscfConfig
from ims.sip.events import Address, TimerConfig
from ims.topology.schema import Node, Topology


@dataclass(frozen=True)
class DiameterSetup:
    origin_host: str
    realm: str
    host_ip: str
    peers: tuple[tuple[str, str, int], ...]  # (Origin-Host, address, port) of each peer (the HSS)


def sip_address(node: Node) -> Address:
    sip = node.sip
    port = sip.port if sip else 5060
    transport = "udp" if sip is None or "udp" in sip.transports else sip.transports[0]
    return Address(node.address, port, transport)


def _timers(node: Node) -> TimerConfig:
    return TimerConfig(t1=node.timers.t1, t2=node.timers.t2, t4=node.timers.t4)


def server_name(node: Node) -> str:
    a = sip_address(node)
    return f"sip:{a.host}:{a.port}"


def _icscf_of(topo: Topology, node: Node) -> Node | None:
    if node.icscf:
        return topo.node(node.icscf)
    domain = topo.domain_of(node)
    return next((n for n in topo.nodes_of("icscf") if topo.domain_of(n) is domain), None)


def diameter_setup(topo: Topology, node: Node) -> DiameterSetup:
    peers = []
    names = node.diameter.peers if node.diameter and node.diameter.peers else [
        n.name for n in topo.nodes_of("hss") if topo.domain_of(n) is topo.domain_of(node)]
    for name in names:
        peer = topo.node(name)
        port = peer.diameter.port if peer.diameter else 3868
        peers.append((topo.diameter_identity(peer), peer.address, port))
    return DiameterSetup(topo.diameter_identity(node), topo.domain_of(node).diameter_realm, node.address, tuple(peers))


def core_hosts(topo: Topology) -> frozenset[str]:
    return frozenset(n.address for n in topo.nodes if n.kind not in ("ue",))


def pcscf_config(topo: Topology, node: Node) -> PcscfConfig:
    icscf = _icscf_of(topo, node)
    if icscf is None:
        raise ValueError(f"P-CSCF {node.name}: no I-CSCF in its domain")
    a = sip_address(node)
    return PcscfConfig(topo.domain_of(node).name, a.host, a.port, sip_address(icscf), a.transport,
                       core_hosts(topo), topo.domain_of(node).name, _timers(node))


def icscf_config(topo: Topology, node: Node) -> IcscfConfig:
    domain = topo.domain_of(node)
    names = node.scscfs or [n.name for n in topo.nodes_of("scscf") if topo.domain_of(n) is domain]
    entries = []
    for name in names:
        s = topo.node(name)
        caps = s.capabilities
        a = sip_address(s)
        if s.sip is not None and "tcp" in s.sip.transports:
            a = Address(a.host, a.port, "tcp")  # a refused connection tells at once that it is down
        entries.append(ScscfEntry(server_name(s), a,
                                  frozenset(caps.mandatory) if caps else frozenset(),
                                  frozenset(caps.optional) if caps else frozenset()))
    a = sip_address(node)
    return IcscfConfig(domain.name, a.host, a.port, a.transport, entries, domain.name, _timers(node))


def scscf_config(topo: Topology, node: Node) -> ScscfConfig:
    domain = topo.domain_of(node)
    a = sip_address(node)
    icscf = _icscf_of(topo, node)
    bgcf = topo.node(node.bgcf) if node.bgcf else next(
        (n for n in topo.nodes_of("bgcf") if topo.domain_of(n) is domain), None)
    peers = {}
    for d in topo.domains:
        if d is domain:
            continue
        ic = next((n for n in topo.nodes_of("icscf") if topo.domain_of(n) is d), None)
        if ic is not None:
            peers[d.name.lower()] = sip_address(ic)
    enum: dict[str, str] = {}
    for s in topo.subscribers:
        sip = next((u for u in s.impus if u.startswith("sip:")), None)
        if sip is None:
            continue
        for u in s.impus:
            if u.startswith("tel:"):
                enum[u[4:].split(";")[0]] = sip
        if s.msisdn:
            enum.setdefault("+" + s.msisdn.lstrip("+"), sip)
    servers = {n.name: server_name(n) for n in topo.nodes if n.kind in ("tas", "proxy")}
    return ScscfConfig(domain.name, a.host, a.port, a.transport, sip_address(icscf) if icscf else None,
                       sip_address(bgcf) if bgcf else None, peers, enum, servers, timers=_timers(node))


def bgcf_config(topo: Topology, node: Node) -> BgcfConfig:
    a = sip_address(node)
    routes = [(r.prefix, r.mgcf, sip_address(topo.node(r.mgcf))) for r in topo.pstn.ranges]
    return BgcfConfig(topo.domain_of(node).name, a.host, a.port, a.transport, routes, timers=_timers(node))
