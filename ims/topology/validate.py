"""Cross-reference checks on a parsed topology: every problem, not the first.

Each check yields ``(path, message)``; the loader adds file and line.  These
are the mistakes people make when they wire a lab by hand: a peer that does
not exist, two nodes on one socket, a P-CSCF with nowhere to send REGISTER,
an S-CSCF the HSS cannot offer to the I-CSCF.
"""

from __future__ import annotations

from collections.abc import Iterator

from ims.topology.errors import Path
from ims.topology.schema import Topology

Found = tuple[Path, str]


def cross_check(topo: Topology) -> list[Found]:
    out: list[Found] = []
    for check in (_names, _domains, _sockets, _diameter, _routing, _hss_table, _subscribers,
                  _profiles, _pstn, _ues, _impairments):
        out.extend(check(topo))
    return out


def _by_name(topo: Topology) -> dict[str, int]:
    return {n.name: i for i, n in enumerate(topo.nodes)}


def _names(topo: Topology) -> Iterator[Found]:
    seen: dict[str, int] = {}
    for i, n in enumerate(topo.nodes):
        if n.name in seen:
            yield ("nodes", i, "name"), f"duplicate node name {n.name!r} (also nodes[{seen[n.name]}])"
        else:
            seen[n.name] = i
    dseen: set[str] = set()
    for i, d in enumerate(topo.domains):
        if d.name in dseen:
            yield ("domains", i, "name"), f"duplicate domain {d.name!r}"
        dseen.add(d.name)
    if not topo.domains:
        yield ("domains",), "at least one domain is needed"


def _domains(topo: Topology) -> Iterator[Found]:
    names = {d.name for d in topo.domains}
    for i, n in enumerate(topo.nodes):
        if n.domain is not None and n.domain not in names:
            yield ("nodes", i, "domain"), f"unknown domain {n.domain!r}"


def _sockets(topo: Topology) -> Iterator[Found]:
    used: dict[tuple[str, int, str], str] = {}

    def claim(addr: str, port: int, proto: str, where: str) -> str | None:
        key = (addr, port, proto)
        if key in used:
            return used[key]
        used[key] = where
        return None

    for i, n in enumerate(topo.nodes):
        # Control ports all bind 127.0.0.1 (DESIGN: control plane on loopback).
        other = claim("127.0.0.1", n.control_port, "control", f"nodes[{i}].control_port")
        if other:
            yield ("nodes", i, "control_port"), f"control port {n.control_port} is already used by {other}"
        if n.sip:
            for t in n.sip.transports:
                proto = "udp" if t == "udp" else "tcp"
                port = n.sip.tls_port or 5061 if t == "tls" else n.sip.port
                other = claim(n.address, port, proto, f"nodes[{i}].sip")
                if other and other != f"nodes[{i}].sip":
                    yield ("nodes", i, "sip", "port"), f"{n.address}:{port}/{proto} is already used by {other}"
        if n.diameter and n.kind == "hss":
            other = claim(n.address, n.diameter.port, "tcp", f"nodes[{i}].diameter")
            if other:
                yield ("nodes", i, "diameter", "port"), f"{n.address}:{n.diameter.port}/tcp is already used by {other}"


def _diameter(topo: Topology) -> Iterator[Found]:
    idx = _by_name(topo)
    for i, n in enumerate(topo.nodes):
        if not n.diameter:
            if n.kind in ("icscf", "scscf") and topo.nodes_of("hss"):
                yield ("nodes", i), f"{n.kind} {n.name!r} needs a [diameter] section with the HSS as peer"
            continue
        for j, peer in enumerate(n.diameter.peers):
            if peer not in idx:
                yield ("nodes", i, "diameter", "peers", j), f"unknown node {peer!r}"
            elif topo.nodes[idx[peer]].diameter is None:
                yield ("nodes", i, "diameter", "peers", j), f"node {peer!r} has no Diameter interface"
    ids: dict[str, int] = {}
    for i, n in enumerate(topo.nodes):
        if n.diameter:
            try:
                ident = topo.diameter_identity(n)
            except KeyError:
                continue
            if ident in ids:
                yield ("nodes", i, "diameter", "identity"), f"Diameter identity {ident!r} is also nodes[{ids[ident]}]'s"
            ids[ident] = i


def _routing(topo: Topology) -> Iterator[Found]:
    idx = _by_name(topo)
    for i, n in enumerate(topo.nodes):
        for field, kind in (("icscf", "icscf"), ("bgcf", "bgcf"), ("mgw", "mgw"), ("peer", None)):
            target = getattr(n, field)
            if target is None:
                continue
            if target not in idx:
                yield ("nodes", i, field), f"unknown node {target!r}"
            elif kind and topo.nodes[idx[target]].kind != kind:
                yield ("nodes", i, field), f"node {target!r} is a {topo.nodes[idx[target]].kind}, not an {kind}"
        if n.kind == "pcscf" and n.icscf is None:
            try:
                dom = topo.domain_of(n).name
            except KeyError:
                continue
            if not any(m.kind == "icscf" and _dom(topo, m) == dom for m in topo.nodes):
                yield ("nodes", i), f"P-CSCF {n.name!r} has no I-CSCF in its domain {dom!r}"
        if n.kind == "mgcf":
            yield from _trunk(topo, idx, i, n)
        for j, s in enumerate(n.scscfs or ()):
            if s not in idx:
                yield ("nodes", i, "scscfs", j), f"unknown node {s!r}"
            elif topo.nodes[idx[s]].kind != "scscf":
                yield ("nodes", i, "scscfs", j), f"node {s!r} is a {topo.nodes[idx[s]].kind}, not an S-CSCF"


def _trunk(topo: Topology, idx: dict[str, int], i: int, n: object) -> Iterator[Found]:
    """An MGCF's circuits need their port pairs at both ends: its IM-MGW and its PSTN peer."""
    for field, kind in (("mgw", "mgw"), ("peer", "pstn")):
        name = getattr(n, field)
        if name is None:
            yield ("nodes", i, field), f"an MGCF needs '{field}' (its {'IM-MGW' if kind == 'mgw' else 'PSTN exchange'})"
            continue
        if name not in idx:
            continue  # reported above
        j = idx[name]
        other = topo.nodes[j]
        if other.kind != kind:
            continue
        if other.trunk_ports is None:
            yield ("nodes", j, "trunk_ports"), f"{kind} {name!r} needs trunk_ports for the circuits of MGCF " \
                                              f"{getattr(n, 'name', '?')!r}"
        elif other.trunk_ports[1] - other.trunk_ports[0] + 1 < 2 * getattr(n, "circuits", 0):
            yield ("nodes", j, "trunk_ports"), f"{other.trunk_ports[0]}-{other.trunk_ports[1]} holds fewer than " \
                                              f"{getattr(n, 'circuits', 0)} circuits (two ports each)"


def _dom(topo: Topology, n: object) -> str | None:
    try:
        return topo.domain_of(n).name  # type: ignore[arg-type]
    except KeyError:
        return None


def _hss_table(topo: Topology) -> Iterator[Found]:
    for i, h in enumerate(topo.nodes):
        if h.kind != "hss":
            continue
        table = set(h.scscfs or ())
        for s in topo.nodes_of("scscf"):
            if _dom(topo, s) == _dom(topo, h) and s.name not in table:
                yield ("nodes", i, "scscfs"), f"S-CSCF {s.name!r} is missing from the HSS's capability table"


def _subscribers(topo: Topology) -> Iterator[Found]:
    impis: dict[str, int] = {}
    impus: dict[str, int] = {}
    imsis: dict[str, int] = {}
    for i, s in enumerate(topo.subscribers):
        if s.impi in impis:
            yield ("subscribers", i, "impi"), f"duplicate IMPI {s.impi!r} (also subscribers[{impis[s.impi]}])"
        impis.setdefault(s.impi, i)
        if s.imsi in imsis:
            yield ("subscribers", i, "imsi"), f"duplicate IMSI {s.imsi!r} (also subscribers[{imsis[s.imsi]}])"
        imsis.setdefault(s.imsi, i)
        for j, u in enumerate(s.impus):
            if u in impus:
                yield ("subscribers", i, "impus", j), f"IMPU {u!r} also belongs to subscribers[{impus[u]}]"
            impus.setdefault(u, i)
        if s.service_profile and s.service_profile not in {p.name for p in topo.service_profiles}:
            yield ("subscribers", i, "service_profile"), f"unknown service profile {s.service_profile!r}"


def _profiles(topo: Topology) -> Iterator[Found]:
    idx = _by_name(topo)
    for i, p in enumerate(topo.service_profiles):
        prios: set[int] = set()
        for j, ifc in enumerate(p.ifcs):
            if ifc.priority in prios:
                yield ("service_profiles", i, "ifcs", j, "priority"), f"priority {ifc.priority} is used twice"
            prios.add(ifc.priority)
            if not ifc.server.startswith(("sip:", "sips:")):
                if ifc.server not in idx:
                    yield ("service_profiles", i, "ifcs", j, "server"), f"unknown node {ifc.server!r}"
                elif topo.nodes[idx[ifc.server]].kind != "tas":
                    yield ("service_profiles", i, "ifcs", j, "server"), f"node {ifc.server!r} is not an application server (tas)"


def _pstn(topo: Topology) -> Iterator[Found]:
    idx = _by_name(topo)
    for i, r in enumerate(topo.pstn.ranges):
        if r.mgcf not in idx:
            yield ("pstn", "ranges", i, "mgcf"), f"unknown node {r.mgcf!r}"
        elif topo.nodes[idx[r.mgcf]].kind != "mgcf":
            yield ("pstn", "ranges", i, "mgcf"), f"node {r.mgcf!r} is not an MGCF"
    seen: set[str] = set()
    for i, line in enumerate(topo.pstn.lines):
        if line.number in seen:
            yield ("pstn", "lines", i, "number"), f"line {line.number!r} is defined twice"
        seen.add(line.number)


def _ues(topo: Topology) -> Iterator[Found]:
    idx = _by_name(topo)
    subs = {s.impi for s in topo.subscribers} | {s.imsi for s in topo.subscribers}
    names: set[str] = set()
    for i, ue in enumerate(topo.ues):
        if ue.name in names:
            yield ("ues", i, "name"), f"duplicate UE name {ue.name!r}"
        names.add(ue.name)
        for field, kind in (("node", "ue"), ("pcscf", "pcscf")):
            target = getattr(ue, field)
            if target not in idx:
                yield ("ues", i, field), f"unknown node {target!r}"
            elif topo.nodes[idx[target]].kind != kind:
                yield ("ues", i, field), f"node {target!r} is a {topo.nodes[idx[target]].kind}, not a {kind}"
        if ue.subscriber not in subs:
            yield ("ues", i, "subscriber"), f"unknown subscriber {ue.subscriber!r} (give its IMPI or IMSI)"
        elif ue.auth == "md5":
            sub = next(s for s in topo.subscribers if ue.subscriber in (s.impi, s.imsi))
            if not sub.password:
                yield ("ues", i, "auth"), f"MD5 digest needs a password on subscriber {sub.impi!r}"


def _impairments(topo: Topology) -> Iterator[Found]:
    idx = _by_name(topo)
    for i, imp in enumerate(topo.impairments):
        for j, name in enumerate(imp.between):
            if name not in idx:
                yield ("impairments", i, "between", j), f"unknown node {name!r}"
