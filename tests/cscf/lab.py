"""An in-process IMS core for sans-IO tests: the three CSCFs, the HSS logic and handsets, wired by address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ims.cscf.common import CscfApp
from ims.cscf.icscf import Icscf
from ims.cscf.lab import icscf_config, pcscf_config, scscf_config, sip_address
from ims.cscf.pcscf import Pcscf
from ims.cscf.scscf import Scscf
from ims.diameter import cx
from ims.hss.cx import HssConfig, HssCx
from ims.hss.provisioning import provision_from_topology
from ims.hss.store import Store
from ims.sip.events import Address
from ims.topology import load
from ims.ue.handset import ImsHandset, Subscription
from ims.ue.lab import subscription_for
from tests.sip.harness import Net

ROOT = Path(__file__).resolve().parents[2]
BASIC = ROOT / "topologies" / "volte-basic.toml"


class Lab(Net):
    def __init__(self, tmp: Path, topology: Path = BASIC) -> None:
        super().__init__()
        self.topo = load(str(topology))
        self.store = Store(tmp / "hss.sqlite")
        provision_from_topology(self.store, str(topology), "hss")
        hss = self.topo.node("hss")
        self.hss = HssCx(self.store, HssConfig(self.topo.diameter_identity(hss),
                                               self.topo.domain_of(hss).diameter_realm))
        self.queries: list[tuple[CscfApp, Any]] = []
        self.pcscf = Pcscf(pcscf_config(self.topo, self.topo.node("pcscf")))
        self.icscf = Icscf(icscf_config(self.topo, self.topo.node("icscf")))
        self.scscf = Scscf(scscf_config(self.topo, self.topo.node("scscf")))
        for name, app in (("pcscf", self.pcscf), ("icscf", self.icscf), ("scscf", self.scscf)):
            app.submit = lambda q, a=app: self.queries.append((a, q))
            self.add(name, sip_address(self.topo.node(name)), app)
        self.cx_log: list[str] = []
        self.hss_down = False

    def handset(self, name: str, port: int, **changes: Any) -> ImsHandset:
        ue = next(u for u in self.topo.ues if u.name == name)
        fields = dict(vars(subscription_for(self.topo, ue)))
        fields.update(changes)
        addr = Address("127.0.1.100", port)
        h = ImsHandset(Subscription(**fields), addr, sip_address(self.topo.node("pcscf")))
        self.add(name, addr, h)
        return h

    def run(self, actions: list[Any], origin: Any) -> None:
        super().run(actions, origin)
        while self.queries:
            app, q = self.queries.pop(0)
            origin_host = {self.scscf: "scscf.ims", self.icscf: "icscf.ims"}.get(app, "x")
            q.request.origin_host = origin_host
            q.request.origin_realm = self.topo.domains[0].diameter_realm
            msg = q.request.to_message()
            self.cx_log.append(type(q.request).__name__)
            if self.hss_down:
                answer = None
            else:
                answer = cx.parse(self.hss.handle(cx.parse(msg)).to_message(msg))
            super().run(q.on_answer(answer, self.now), app)
