"""The BGCF: where a session to a telephone number leaves the IMS (TS 24.229 §5.6, TS 23.228 §5.4.11).

The S-CSCF hands the BGCF requests whose Request-URI is a number ENUM did
not resolve (a tel: URI, or a sip: URI with ``user=phone``).  The BGCF
picks the MGCF of the longest matching number range of the topology's
``[[pstn.ranges]]`` (the lab's stand-in for an operator's breakout tables)
and forwards the request there with a Route to it; it records no route
(it has no business in the dialog).  A number no range covers gets 404
(§5.6.2: no route), a Request-URI that is no telephone number 604.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ims.cscf.common import CscfApp, log_extra, route_value, telephone_number
from ims.sip.events import Address, TimerConfig
from ims.sip.message import Request
from ims.sip.proxy import Forward, ProxyCore, Reject, Target

log = logging.getLogger("ims.cscf.bgcf")


@dataclass
class BgcfConfig:
    domain: str
    host: str
    port: int
    transport: str = "udp"
    routes: list[tuple[str, str, Address]] = field(default_factory=list)  # (prefix digits, MGCF name, its SIP)
    timers: TimerConfig = TimerConfig()


class Bgcf(CscfApp):
    def __init__(self, config: BgcfConfig) -> None:
        super().__init__()
        self.config = config
        # longest prefix first
        self.routes = sorted(config.routes, key=lambda r: -len(r[0]))
        self.core = ProxyCore(local=Address(config.host, config.port, config.transport), domain=config.domain,
                              route=self._route, timers=config.timers, record_route=False, always_route=True)

    def mgcf_for(self, digits: str) -> tuple[str, Address] | None:
        for prefix, name, addr in self.routes:
            if digits.startswith(prefix):
                return name, addr
        return None

    def _route(self, req: Request) -> Forward | Reject:
        if req.to.tag or req.method == "ACK":
            return Forward([Target(req.uri)], record_route=False)
        number = telephone_number(req.uri)
        if number is None:
            self.count("no_number")
            return Reject(604, "Does Not Exist Anywhere (not a telephone number)")
        digits = number.lstrip("+")
        if not digits.isdigit():
            self.count("no_number")
            return Reject(604, f"Does Not Exist Anywhere ({number} is not an E.164 number)")
        found = self.mgcf_for(digits)
        if found is None:
            self.count("no_route")
            log.info("%s %s: no PSTN route", req.method, number, extra=log_extra(req))
            return Reject(404, f"Not Found (no PSTN route for {number})")
        name, addr = found
        self.count("to_mgcf")
        log.info("%s %s -> MGCF %s", req.method, number, name, extra=log_extra(req))
        route = route_value(addr.host, addr.port, None, addr.transport)
        return Forward([Target(req.uri, path=(route,))], record_route=False)
