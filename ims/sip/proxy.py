"""Stateful proxy core (RFC 3261 §16), sans-IO, on a :class:`TransactionLayer`.

The node decides *where* a request goes with a ``route(request) -> Decision``
callback (location lookup, HSS query, iFC...); this core does the rest of
§16: request validation (§16.3), Route preprocessing (§16.4), forwarding with
Record-Route and a loop-detecting branch (§16.6), parallel and sequential
forking, best-response selection (§16.7), Timer C, CANCEL propagation
(§16.10) and stateless forwarding of ACK-for-2xx and 2xx retransmissions.
``local_requests`` lets a node answer some requests itself (REGISTER at a
registrar) before any proxying.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from ims.sip.dialog import uri_address
from ims.sip.errors import SipError
from ims.sip.events import (
    AckReceived,
    Action,
    Address,
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    SendMessage,
    StrayResponse,
    TimerConfig,
    TransactionKey,
    TransactionTimeout,
    TransportFailure,
)
from ims.sip.message import Request, Response, build_response, new_tag
from ims.sip.transaction import TransactionLayer, response_destination
from ims.sip.uri import URI, NameAddr, SipURI


@dataclass(frozen=True, slots=True)
class Target:
    uri: URI
    dest: Address | None = None  # None: resolve from the Route set or the URI
    q: float = 1.0
    path: tuple[str, ...] = ()  # RFC 3327: Path of the binding becomes Route


@dataclass(frozen=True, slots=True)
class Forward:
    targets: tuple[Target, ...] | list[Target]
    parallel: bool = True
    record_route: bool = True


@dataclass(frozen=True, slots=True)
class Reject:
    status: int
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


Decision = Forward | Reject
LocalHandler = Callable[[Request, Address, float], Response | None]


@dataclass
class _Branch:
    target: Target
    key: TransactionKey | None = None
    provisional: bool = False
    final: Response | None = None
    done: bool = False


@dataclass
class _Context:
    server_key: TransactionKey
    request: Request
    pending: list[Target]
    parallel: bool
    record_route: bool
    branches: dict[TransactionKey, _Branch] = field(default_factory=dict)
    best_sent: bool = False
    got_2xx: bool = False
    cancelled: bool = False
    timer_c_at: float | None = None


def _status_rank(status: int) -> tuple[int, int]:
    """§16.7 step 6: 6xx first, then the lowest class; 503 is demoted like 500."""
    if 600 <= status < 700:
        return (0, status)
    cls = status // 100
    return (cls, 1 if status in (408, 500, 503) else 0)


class ProxyCore:
    def __init__(self, *, local: Address, domain: str, route: Callable[[Request], Decision],
                 layer: TransactionLayer | None = None, local_requests: LocalHandler | None = None,
                 timers: TimerConfig = TimerConfig(), timer_c: float = 180.0, record_route: bool = True,
                 local_aliases: tuple[tuple[str, int], ...] = ()) -> None:
        self.local = local
        self.domain = domain.lower()
        self.route = route
        self.layer = layer or TransactionLayer(timers)
        self.local_requests = local_requests
        self.timer_c = timer_c
        self.record_route = record_route
        self._ours = {(local.host, local.port)} | set(local_aliases)
        self._contexts: dict[TransactionKey, _Context] = {}  # by server key
        self._by_client: dict[TransactionKey, _Context] = {}
        self._heap: list[tuple[float, int, TransactionKey]] = []
        self._seq = itertools.count()
        self.stats = {"requests": 0, "forwarded": 0, "rejected": 0, "loops": 0}

    # -- SipCore -------------------------------------------------------------
    def receive(self, message: Request | Response, source: Address, now: float) -> list[Action]:
        return self._dispatch(self.layer.receive(message, source, now), now)

    def next_deadline(self) -> float | None:
        while self._heap:
            at, _, key = self._heap[0]
            ctx = self._contexts.get(key)
            if ctx is not None and ctx.timer_c_at == at:
                break
            heapq.heappop(self._heap)
        mine = self._heap[0][0] if self._heap else None
        theirs = self.layer.next_deadline()
        if mine is None:
            return theirs
        return mine if theirs is None else min(mine, theirs)

    def handle_timers(self, now: float) -> list[Action]:
        out = self._dispatch(self.layer.handle_timers(now), now)
        while self._heap and self._heap[0][0] <= now:
            at, _, key = heapq.heappop(self._heap)
            ctx = self._contexts.get(key)
            if ctx is None or ctx.timer_c_at != at:
                continue
            ctx.timer_c_at = None
            out.extend(self._timer_c(ctx, now))
        return out

    def transport_error(self, dest: Address, now: float) -> list[Action]:
        out: list[Action] = []
        for key in self.layer.transactions_to(dest):
            out.extend(self.layer.transport_error(key, now))
        return self._dispatch(out, now)

    # -- helpers ---------------------------------------------------------------
    def is_ours(self, uri: URI) -> bool:
        if not isinstance(uri, SipURI):
            return False
        port = uri.port or (5061 if uri.scheme == "sips" else 5060)
        return (uri.host, port) in self._ours

    def _record_route_value(self) -> str:
        t = self.local.transport
        tp = "" if t == "udp" else f";transport={t}"
        return f"<sip:{self.local.host}:{self.local.port}{tp};lr>"

    def _via(self, branch: str) -> str:
        return f"SIP/2.0/{self.local.transport.upper()} {self.local.host}:{self.local.port};branch={branch}"

    @staticmethod
    def _loop_hash(req: Request) -> str:
        """§16.6 item 8: the part of the branch that detects loops (not spirals)."""
        text = f"{req.uri}|{req.from_.tag}|{req.to.tag}|{req.call_id}|{req.cseq.seq}"
        return hashlib.md5(text.encode()).hexdigest()[:12]

    def _respond(self, key: TransactionKey, req: Request, status: int, reason: str | None = None,
                 headers: tuple[tuple[str, str], ...] = (), now: float = 0.0) -> list[Action]:
        resp = build_response(req, status, reason, to_tag=new_tag() if status > 100 else None)
        for n, v in headers:
            resp.add(n, v)
        return self.layer.send_response(key, resp, now)

    # -- dispatch ----------------------------------------------------------------
    def _dispatch(self, actions: list[Action], now: float) -> list[Action]:
        out: list[Action] = []
        for a in actions:
            if isinstance(a, SendMessage):
                out.append(a)
            elif isinstance(a, RequestReceived):
                out.extend(self._on_request(a.key, a.request, a.source, now))
            elif isinstance(a, ResponseReceived):
                out.extend(self._on_response(a.key, a.response, now))
            elif isinstance(a, AckReceived):
                out.extend(self._forward_stateless_ack(a.request))
            elif isinstance(a, StrayResponse):
                out.extend(self._forward_stray(a.response))
            elif isinstance(a, CancelReceived):
                out.extend(self._on_cancel(a.key, now))
            elif isinstance(a, (TransactionTimeout, TransportFailure)):
                ctx = self._by_client.get(a.key)
                if ctx is not None:
                    status = 408 if isinstance(a, TransactionTimeout) else 503
                    synthetic = build_response(ctx.request, status)
                    out.extend(self._branch_final(ctx, a.key, synthetic, now))
            else:
                out.append(a)
        return out

    # -- requests ------------------------------------------------------------------
    def _on_request(self, key: TransactionKey, req: Request, source: Address, now: float) -> list[Action]:
        self.stats["requests"] += 1
        try:
            return self._process_request(key, req, source, now)
        except SipError as exc:
            self.stats["rejected"] += 1
            return self._respond(key, req, exc.status, exc.reason, now=now)

    def _process_request(self, key: TransactionKey, req: Request, source: Address, now: float) -> list[Action]:
        # §16.3 item 3: Max-Forwards
        mf = req.max_forwards
        if mf is not None and mf <= 0:
            return self._respond(key, req, 483, now=now)
        # §16.3 item 4: loop detection
        loop = self._loop_hash(req)
        for via in req.vias[1:] if req.vias else []:
            if (via.host, via.port or 5060) in self._ours and (via.branch or "").startswith(f"z9hG4bK{loop}"):
                self.stats["loops"] += 1
                return self._respond(key, req, 482, now=now)
        # §16.3 item 5: Proxy-Require
        if req.proxy_require:
            return self._respond(key, req, 420, headers=(("Unsupported", ", ".join(req.proxy_require)),), now=now)
        # §16.4: Route information preprocessing
        if self.is_ours(req.uri) and req.routes:
            # The previous hop was a strict router: the real target is the last Route.
            last = req.get_all("route")[-1]
            req.uri = NameAddr.parse(last).uri
            routes = req.get_all("route")[:-1]
            req.remove("Route")
            for r in routes:
                req.add("Route", r)
        if req.routes and self.is_ours(req.routes[0].uri):
            req.headers.pop_first_value("route")
        if self.local_requests is not None and not req.routes:
            resp = self.local_requests(req, source, now)
            if resp is not None:
                return self.layer.send_response(key, resp, now)
        if req.routes or (isinstance(req.uri, SipURI) and req.uri.host.lower() != self.domain
                          and not self.is_ours(req.uri)):
            # §16.5: a Route to follow, or a Request-URI outside our domain: that is the target.
            decision: Decision = Forward([Target(req.uri)], record_route=self.record_route)
        else:
            decision = self.route(req)
        if isinstance(decision, Reject):
            self.stats["rejected"] += 1
            return self._respond(key, req, decision.status, decision.reason, decision.headers, now)
        targets = list(decision.targets)
        if not targets:
            return self._respond(key, req, 480, now=now)
        if not decision.parallel:
            targets.sort(key=lambda t: -t.q)
        ctx = _Context(key, req, targets, decision.parallel, decision.record_route and self.record_route)
        self._contexts[key] = ctx
        out: list[Action] = []
        if req.method == "INVITE":
            # §16.7 / §17.2.1: answer 100 at once so the UAC stops retransmitting.
            out.extend(self._respond(key, req, 100, now=now))
        out.extend(self._next_targets(ctx, now))
        return out

    def _next_targets(self, ctx: _Context, now: float) -> list[Action]:
        out: list[Action] = []
        count = len(ctx.pending) if ctx.parallel else min(1, len(ctx.pending))
        for _ in range(count):
            target = ctx.pending.pop(0)
            out.extend(self._forward(ctx, target, now, len(ctx.branches)))
        if not ctx.branches or all(b.done for b in ctx.branches.values()):
            out.extend(self._maybe_finish(ctx, now))
        return out

    def _forward(self, ctx: _Context, target: Target, now: float, index: int) -> list[Action]:
        """§16.6: copy, retarget, Max-Forwards, Record-Route, Via, send."""
        req = ctx.request.copy()
        req.uri = target.uri.copy()
        mf = req.max_forwards
        req.set("Max-Forwards", str((mf if mf is not None else 71) - 1))
        for p in reversed(target.path):
            req.add("Route", p, first=True)
        if ctx.record_route and req.method in ("INVITE", "SUBSCRIBE", "REFER", "NOTIFY", "UPDATE", "MESSAGE") \
                and not req.to.tag:
            req.add("Record-Route", self._record_route_value(), first=True)
        branch = f"z9hG4bK{self._loop_hash(ctx.request)}.{new_tag()}{index}"
        req.add("Via", self._via(branch), first=True)
        dest = target.dest
        if dest is None or target.path:
            routes = req.routes
            dest = uri_address(routes[0].uri if routes else req.uri, self.local.transport)
        self.stats["forwarded"] += 1
        key, actions = self.layer.send_request(req, dest, now)
        ctx.branches[key] = _Branch(target, key)
        self._by_client[key] = ctx
        if req.method == "INVITE":
            self._arm_timer_c(ctx, now)
        return actions

    def _arm_timer_c(self, ctx: _Context, now: float) -> None:
        ctx.timer_c_at = now + self.timer_c
        heapq.heappush(self._heap, (ctx.timer_c_at, next(self._seq), ctx.server_key))

    def _timer_c(self, ctx: _Context, now: float) -> list[Action]:
        """§16.8: Timer C fired - CANCEL branches that rang, 408 those that did not."""
        out: list[Action] = []
        for key, br in list(ctx.branches.items()):
            if br.done:
                continue
            if br.provisional:
                out.extend(self._dispatch(self.layer.cancel(key, now)[1], now))
            else:
                out.extend(self._branch_final(ctx, key, build_response(ctx.request, 408), now))
        return out

    # -- responses -------------------------------------------------------------------
    def _strip_via(self, resp: Response) -> Response:
        up = resp.copy()
        up.headers.pop_first_value("via")
        return up

    def _on_response(self, key: TransactionKey, resp: Response, now: float) -> list[Action]:
        ctx = self._by_client.get(key)
        if ctx is None:
            return self._forward_stray(resp)  # 2xx retransmission after the context ended
        br = ctx.branches[key]
        if resp.status < 200:
            if resp.status == 100:
                return []
            br.provisional = True
            if ctx.request.method == "INVITE":
                self._arm_timer_c(ctx, now)
            out = self.layer.send_response(ctx.server_key, self._strip_via(resp), now)
            if ctx.cancelled:
                out.extend(self._dispatch(self.layer.cancel(key, now)[1], now))
            return out
        if resp.status < 300:
            first = not br.done
            br.done = True
            br.final = resp
            ctx.got_2xx = True
            out = self.layer.send_response(ctx.server_key, self._strip_via(resp), now)
            if first and ctx.request.method == "INVITE":
                # §16.7 item 10: a 2xx ends the other branches.
                out.extend(self._cancel_pending(ctx, now))
                ctx.pending.clear()
            if not self.layer.get(ctx.server_key) or all(b.done for b in ctx.branches.values()):
                self._maybe_cleanup(ctx)
            return out
        return self._branch_final(ctx, key, resp, now)

    def _branch_final(self, ctx: _Context, key: TransactionKey, resp: Response, now: float) -> list[Action]:
        br = ctx.branches.get(key)
        if br is None or br.done:
            return []
        br.done = True
        br.final = resp
        out: list[Action] = []
        if 600 <= resp.status < 700:
            out.extend(self._cancel_pending(ctx, now))  # §16.7 item 5
            ctx.pending.clear()
        elif not ctx.parallel and ctx.pending and not ctx.got_2xx and not ctx.cancelled:
            out.extend(self._next_targets(ctx, now))
            return out
        out.extend(self._maybe_finish(ctx, now))
        return out

    def _cancel_pending(self, ctx: _Context, now: float) -> list[Action]:
        out: list[Action] = []
        for key, br in ctx.branches.items():
            if not br.done:
                if br.provisional:
                    out.extend(self._dispatch(self.layer.cancel(key, now)[1], now))
                else:
                    br.done = True  # never rang: nothing to cancel; its timeout is ignored
                    br.final = build_response(ctx.request, 487)
        return out

    def _maybe_finish(self, ctx: _Context, now: float) -> list[Action]:
        if ctx.pending or not all(b.done for b in ctx.branches.values()):
            return []
        out: list[Action] = []
        if not ctx.got_2xx and not ctx.best_sent:
            ctx.best_sent = True
            finals = [b.final for b in ctx.branches.values() if b.final is not None]
            if not finals:
                out.extend(self._respond(ctx.server_key, ctx.request, 480, now=now))
            else:
                best = min(finals, key=lambda r: _status_rank(r.status))
                up = self._strip_via(best) if best.vias and len(best.vias) > 1 else build_response(
                    ctx.request, best.status, best.reason, to_tag=new_tag())
                if up.status == 503:  # §16.7 item 6
                    up.status, up.reason = 500, "Server Internal Error"
                if up.status in (401, 407):  # §16.7 item 7: aggregate challenges
                    for other in finals:
                        if other is not best and other.status in (401, 407):
                            for name in ("WWW-Authenticate", "Proxy-Authenticate"):
                                for v in other._headers.get_raw(name):
                                    up.add(name, v)
                out.extend(self.layer.send_response(ctx.server_key, up, now))
        self._maybe_cleanup(ctx)
        return out

    def _maybe_cleanup(self, ctx: _Context) -> None:
        if all(b.done for b in ctx.branches.values()) and not ctx.pending:
            self._contexts.pop(ctx.server_key, None)
            for k in ctx.branches:
                self._by_client.pop(k, None)

    def _on_cancel(self, key: TransactionKey, now: float) -> list[Action]:
        """§16.10: CANCEL every pending branch; the INVITE ends with 487 from them."""
        ctx = self._contexts.get(key)
        if ctx is None:
            return []
        ctx.cancelled = True
        ctx.pending.clear()
        out: list[Action] = []
        for k, br in ctx.branches.items():
            if not br.done and br.provisional:
                out.extend(self._dispatch(self.layer.cancel(k, now)[1], now))
        if not any(br.provisional and not br.done for br in ctx.branches.values()):
            # Nothing rang yet: answer 487 ourselves and forget the branches.
            for br in ctx.branches.values():
                br.done = True
            ctx.best_sent = True
            out.extend(self._respond(key, ctx.request, 487, now=now))
            self._maybe_cleanup(ctx)
        return out

    # -- stateless forwarding ------------------------------------------------------------
    def _forward_stateless_ack(self, ack: Request) -> list[Action]:
        """ACK for a 2xx follows the Route set (§16.6 applied statelessly, §16.11)."""
        if ack.routes and self.is_ours(ack.routes[0].uri):
            ack.headers.pop_first_value("route")
        mf = ack.max_forwards
        if mf is not None and mf <= 0:
            return []
        if not ack.routes and (self.is_ours(ack.uri) or (isinstance(ack.uri, SipURI)
                                                          and ack.uri.host.lower() == self.domain)):
            # The UA ignored our Record-Route and sent the ACK to us: look the target up again.
            decision = self.route(ack)
            if not isinstance(decision, Forward) or not decision.targets:
                return []
            ack.uri = decision.targets[0].uri.copy()
        fwd = ack.copy()
        fwd.set("Max-Forwards", str((mf if mf is not None else 71) - 1))
        branch = "z9hG4bK" + hashlib.md5((ack.top_via.branch or "").encode() + b"ack").hexdigest()[:16]
        fwd.add("Via", self._via(branch), first=True)
        routes = fwd.routes
        try:
            dest = uri_address(routes[0].uri if routes else fwd.uri, self.local.transport)
        except SipError:
            return []
        return [SendMessage(fwd, dest)]

    def _forward_stray(self, resp: Response) -> list[Action]:
        """A 2xx retransmission after our client transaction ended (RFC 6026 §8.4)."""
        vias = resp.vias
        if len(vias) < 2 or (vias[0].host, vias[0].port or 5060) not in self._ours:
            return []
        if not (200 <= resp.status < 300 and resp.cseq.method == "INVITE"):
            return []
        up = self._strip_via(resp)
        return [SendMessage(up, response_destination(up))]
