"""Stateful proxy core (RFC 3261 §16), sans-IO, on a :class:`TransactionLayer`.

The node decides *where* a request goes with a ``route(request) -> Decision``
callback (location lookup, HSS query, iFC...); this core does the rest of §16:

* request validation (§16.3): URI scheme (416), Max-Forwards (483), loop
  detection by branch hashing (482, §16.3 item 4 / §16.6 item 8),
  Proxy-Require (420 + Unsupported);
* Route preprocessing (§16.4): strict-router Request-URI fix-up, removal of
  our own Route entry;
* forwarding (§16.6): copy, Request-URI, Max-Forwards - 1, Record-Route with
  ``;lr``, Path -> Route (RFC 3327), strict-router post-processing, a Via whose
  branch carries the loop hash, next hop from Route or Request-URI;
* parallel and sequential (q-ordered) forking; per-branch Timer C (§16.8);
* response processing (§16.7): 1xx (not 100) and every 2xx forwarded at
  once, best final response chosen once every branch is done (6xx beats all,
  then the lowest class; 401/407 challenges aggregated; 503 becomes 500; 408
  when nothing answered);
* CANCEL propagation (§16.10) and stateless forwarding of ACK-for-2xx and of
  2xx retransmissions whose client transaction is gone (§16.7 item 5, §16.11,
  RFC 6026 §8.4).

Hooks for IMS elements (the CSCFs), all optional:

* ``prepare(request, source, now)`` runs on every request after §16.3/§16.4
  and may rewrite it (P-CSCF identity assertion, Route replacement) or
  answer it (a ``Response`` or ``Reject``: 403 for an unregistered UE);
  ``current_route`` holds the Route value §16.4 removed for this request
  (``sip:orig@...`` tells the S-CSCF a request is originating);
* a ``Defer`` from ``local_requests`` or ``route`` parks the request while
  the node asks someone else (the HSS over Diameter); the node finishes it
  with ``resume(key, decision_or_response, now)``.  A CANCEL meanwhile is
  answered and the INVITE gets 487 at once;
* ``on_response(request, response)`` sees every response before it goes
  upstream (the P-CSCF keeps Service-Route and strips CK/IK);
* ``send_request(request, dest, now, callback)`` sends the node's own
  requests (the P-CSCF's reg-event SUBSCRIBE, the S-CSCF's NOTIFY); their
  responses, or None on a timeout, go to ``callback``.

``local_requests`` lets a node answer some requests itself (REGISTER at a
registrar, OPTIONS to the proxy) before any proxying: it returns a
``Response``, a list of actions (a ``SendMessage`` of a response goes out on
the server transaction), or ``None`` to proxy the request.

Not here: where targets come from (the node's ``route``), DNS (RFC 3263: the
next hop is taken from literal URIs), 3xx recursion (a 3xx is a final
response like any other), stateless forwarding of responses that match no
context except INVITE 2xx.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
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
    TransactionTerminated,
    TransactionTimeout,
    TransportFailure,
)
from ims.sip.message import Request, Response, build_response, new_tag
from ims.sip.transaction import MAGIC, TransactionLayer, response_destination
from ims.sip.uri import URI, NameAddr, SipURI, TelURI

log = logging.getLogger(__name__)

#: Methods whose forwarding may create a dialog, so Record-Route applies (§16.6 item 4, RFC 6665, RFC 3515).
DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})
#: Option tags this proxy understands in Proxy-Require (§16.3 item 5): none by default.
SUPPORTED_PROXY_REQUIRE: frozenset[str] = frozenset()
#: RFC 3261 §20.5: the methods a proxy (and the CSCFs on it) handles, in a 200 to OPTIONS for itself.
PROXY_ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO, MESSAGE, REGISTER, SUBSCRIBE, NOTIFY, REFER"
#: RFC 3261 §16.6 item 11: Timer C MUST be larger than 3 minutes.
TIMER_C = 181.0


@dataclass(frozen=True, slots=True)
class Target:
    """One place to send the request: a URI and, optionally, where to send it."""

    uri: URI
    dest: Address | None = None  # None: from the Route set, else the Request-URI (host/port/transport; maddr)
    q: float = 1.0  # RFC 3261 §10.2.1.2 / §16.6: sequential forking tries higher q first
    path: tuple[str, ...] = ()  # RFC 3327: the binding's Path becomes the first Route values


@dataclass(frozen=True, slots=True)
class Forward:
    targets: tuple[Target, ...] | list[Target]
    parallel: bool = True
    record_route: bool = True
    # Sequential search only past these final statuses (e.g. 408/503: the next server is tried only
    # when this one is unreachable, not when it answered 401); empty: past any non-2xx/6xx (§16.7).
    retry_on: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Reject:
    status: int
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Defer:
    """Not decided yet: ``start(key)`` begins the node's lookup; the node calls ``ProxyCore.resume`` later."""

    start: Callable[[TransactionKey], "list[Action] | None"]


Decision = Forward | Reject
LocalHandler = Callable[[Request, Address, float], "list[Action] | Response | Defer | None"]
PrepareHook = Callable[[Request, Address, float], "Response | Reject | None"]
ResponseHook = Callable[[Request, Response, float], "list[Action] | None"]
OwnCallback = Callable[["Response | None", float], list[Action]]


@dataclass
class _Branch:
    target: Target
    key: TransactionKey
    request: Request  # the copy sent on this branch
    provisional: bool = False  # a 1xx (other than 100) arrived: a CANCEL may be sent (§9.1)
    final: Response | None = None  # as received (our Via on top) or synthetic (upstream form)
    synthetic: bool = False
    done: bool = False
    cancel_wanted: bool = False  # CANCEL as soon as a provisional response allows it
    timer_c_at: float | None = None


@dataclass
class _Context:
    """§16.2 response context: one server transaction and its client branches."""

    server_key: TransactionKey
    request: Request  # the request as received, after §16.4 preprocessing
    loop: str  # §16.6 item 8 hash of the request as received
    pending: list[Target]
    parallel: bool
    record_route: bool
    retry_on: frozenset[int] = frozenset()
    branches: dict[TransactionKey, _Branch] = field(default_factory=dict)
    final_sent: bool = False
    got_2xx: bool = False
    got_6xx: bool = False
    cancelled: bool = False
    counter: int = 0


def _status_rank(status: int) -> tuple[int, int]:
    """§16.7 step 6: a 6xx first; else the lowest class; within 4xx prefer the ones that say how
    to retry (401, 407, 415, 420, 484), then busy/unavailable; 408/500/503 last in their class."""
    if 600 <= status < 700:
        return (0, 0)
    if status in (401, 407, 415, 420, 484):
        return (status // 100, 0)
    if status in (486, 480):
        return (status // 100, 1)  # what the callee's device said beats a stale binding's 404
    if status in (408, 500, 503):
        return (status // 100, 3)
    return (status // 100, 2)


class ProxyCore:
    """A transaction-stateful proxy; implements the ``SipCore`` protocol of ``ims.net.sip``."""

    def __init__(self, *, local: Address, domain: str, route: Callable[[Request], Decision],
                 layer: TransactionLayer | None = None, local_requests: LocalHandler | None = None,
                 timers: TimerConfig = TimerConfig(), timer_c: float = TIMER_C, record_route: bool = True,
                 local_aliases: tuple[tuple[str, int], ...] = (),
                 supported: frozenset[str] = SUPPORTED_PROXY_REQUIRE, prepare: PrepareHook | None = None,
                 on_response: ResponseHook | None = None, always_route: bool = False) -> None:
        self.local = local
        self.domain = domain.lower()
        self.route = route
        self.layer = layer if layer is not None else TransactionLayer(timers)
        self.local_requests = local_requests
        self.timer_c = timer_c
        self.record_route = record_route
        self.supported = supported
        self.prepare = prepare
        self.always_route = always_route  # route() decides even for other domains (S-CSCF: ENUM, BGCF, peers)
        self.on_response = on_response
        self.current_route: NameAddr | None = None  # the Route entry §16.4 removed, while hooks run
        self._deferred: dict[TransactionKey, tuple[Request, str, bool]] = {}  # key -> (request, loop, cancelled)
        self._own: dict[TransactionKey, OwnCallback] = {}
        self._ours = {(local.host.lower(), local.port)} | {(h.lower(), p) for h, p in local_aliases}
        self._contexts: dict[TransactionKey, _Context] = {}  # by server transaction key
        self._by_client: dict[TransactionKey, _Context] = {}  # by client transaction key
        self._timer_c_heap: list[tuple[float, int, TransactionKey]] = []
        self._seq = itertools.count()
        self.stats = {"requests": 0, "forwarded": 0, "rejected": 0, "loops": 0, "cancelled": 0,
                      "stateless": 0, "timer_c": 0}

    # -- SipCore -------------------------------------------------------------
    def receive(self, message: Request | Response, source: Address, now: float) -> list[Action]:
        return self._dispatch(self.layer.receive(message, source, now), now)

    def next_deadline(self) -> float | None:
        heap = self._timer_c_heap
        while heap:
            at, _, key = heap[0]
            ctx = self._by_client.get(key)
            if ctx is not None and ctx.branches[key].timer_c_at == at:
                break
            heapq.heappop(heap)  # stale: re-armed, branch done, or context gone
        mine = heap[0][0] if heap else None
        theirs = self.layer.next_deadline()
        if mine is None:
            return theirs
        return mine if theirs is None else min(mine, theirs)

    def handle_timers(self, now: float) -> list[Action]:
        out = self._dispatch(self.layer.handle_timers(now), now)
        heap = self._timer_c_heap
        while heap and heap[0][0] <= now:
            at, _, key = heapq.heappop(heap)
            ctx = self._by_client.get(key)
            if ctx is None or ctx.branches[key].timer_c_at != at:
                continue
            out.extend(self._timer_c(ctx, ctx.branches[key], now))
        return out

    def transport_error(self, dest: Address, now: float) -> list[Action]:
        out: list[Action] = []
        for key in self.layer.transactions_to(dest):
            out.extend(self.layer.transport_error(key, now))
        return self._dispatch(out, now)

    def connection_lost(self, dest: Address, now: float) -> list[Action]:
        return self._dispatch(self.layer.connection_lost(dest, now), now)

    def add_alias(self, host: str, port: int) -> None:
        """Another host:port this element answers on (its TLS port, say): Route entries naming it are ours."""
        self._ours.add((host.lower(), port))

    # -- introspection (tests, control plane) -----------------------------------
    def contexts(self) -> int:
        """Response contexts still open (waiting for a final response)."""
        return len(self._contexts)

    # -- helpers -----------------------------------------------------------------
    def is_ours(self, uri: URI) -> bool:
        """Does this URI name this element (host:port we listen on, or an alias)?"""
        if not isinstance(uri, SipURI):
            return False
        port = uri.port or (5061 if uri.scheme == "sips" or uri.transport == "tls" else 5060)
        return (uri.host.lower(), port) in self._ours

    def _sent_by_ours(self, host: str, port: int | None) -> bool:
        return (host.lower(), port or 5060) in self._ours

    def record_route_value(self) -> str:
        t = self.local.transport
        tp = "" if t == "udp" else f";transport={t}"
        return f"<sip:{self.local.host}:{self.local.port}{tp};lr>"

    def _via(self, branch: str, transport: str | None = None) -> str:
        """Our Via; ``transport``: the one the request leaves on (§18.1.1: the Via says how it was sent)."""
        t = (transport or self.local.transport).upper()
        return f"SIP/2.0/{t} {self.local.host}:{self.local.port};branch={branch}"

    @staticmethod
    def loop_hash(request: Request, below: str | None = None) -> str:
        """§16.6 item 8: hash of what identifies the request as received (Request-URI, From/To
        tags, Call-ID, CSeq number, Proxy-Require, Proxy-Authorization) and of the Via that was
        topmost when it reached us (``below``: the sent-by and branch of that Via).

        A looped request comes back with the same values, so the branch matches (482); a
        spiral (retargeted Request-URI) does not.  The Route values count too: an IMS
        request spirals through the same S-CSCF with the same Request-URI, first with the
        ``orig`` Route (originating), then without it (terminating; TS 24.229 §5.4.3)."""
        hdrs = request._headers  # read only: taking .headers would drop the parsed values
        parts = [str(request.uri), request.from_.tag or "", request.to.tag or "", request.call_id,
                 str(request.cseq.seq), ",".join(hdrs.get_raw("route")), ",".join(hdrs.get_raw("proxy-require")),
                 ",".join(hdrs.get_raw("proxy-authorization")), below or ""]
        # The parser keeps non-UTF-8 bytes as surrogate escapes; they hash as the bytes they were.
        return hashlib.md5("|".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:16]

    @staticmethod
    def _via_id(request: Request, index: int) -> str:
        vias = request.vias
        if index >= len(vias):
            return ""
        via = vias[index]
        return f"{via.host.lower()}:{via.port or ''};{via.branch or ''}"

    def options_response(self, req: Request) -> Response:
        """§11.2: 200 to an OPTIONS for us, with Allow, Accept and Supported."""
        resp = build_response(req, 200, to_tag=new_tag())
        resp.add("Allow", PROXY_ALLOW)
        resp.add("Accept", "application/sdp")
        if self.supported:
            resp.add("Supported", ", ".join(sorted(self.supported)))
        return resp

    def _respond(self, key: TransactionKey, req: Request, status: int, reason: str | None = None,
                 headers: tuple[tuple[str, str], ...] = (), now: float = 0.0) -> list[Action]:
        resp = build_response(req, status, reason, to_tag=new_tag() if status > 100 else None)
        for n, v in headers:
            resp.add(n, v)
        return self.layer.send_response(key, resp, now)

    # -- dispatch -------------------------------------------------------------------
    def _dispatch(self, actions: list[Action], now: float) -> list[Action]:
        """Turn transaction-layer events into proxy behaviour; only SendMessage leaves the core."""
        out: list[Action] = []
        for a in actions:
            if isinstance(a, SendMessage):
                out.append(a)
            elif isinstance(a, RequestReceived):
                out.extend(self._on_request(a.key, a.request, a.source, now))
            elif isinstance(a, ResponseReceived):
                own = self._own.get(a.key)
                if own is not None:
                    if a.response.status >= 200:
                        self._own.pop(a.key, None)
                    out.extend(own(a.response, now))
                else:
                    out.extend(self._on_response(a.key, a.response, now))
            elif isinstance(a, AckReceived):
                out.extend(self._forward_stateless_ack(a.request))
            elif isinstance(a, StrayResponse):
                out.extend(self._forward_stray(a.response))
            elif isinstance(a, CancelReceived):
                out.extend(self._on_cancel(a.key, now))
            elif isinstance(a, (TransactionTimeout, TransportFailure)) and a.key in self._own:
                out.extend(self._own.pop(a.key)(None, now))
            elif isinstance(a, (TransactionTimeout, TransportFailure)):
                ctx = self._by_client.get(a.key)
                if ctx is not None:
                    # §16.7 item 2 (timeout -> 408) / §16.7 + §17.1.4 (transport error -> 503)
                    status = 408 if isinstance(a, TransactionTimeout) else 503
                    out.extend(self._branch_final(ctx, ctx.branches[a.key], None, now, status))
            elif isinstance(a, TransactionTerminated):
                self._own.pop(a.key, None)
                if self._deferred.pop(a.key, None) is not None:
                    continue  # the server transaction ended while parked (e.g. 487 after CANCEL)
                out.extend(self._client_terminated(a.key, now))
        return out

    # -- the node's own requests and parked requests ---------------------------------
    def send_request(self, request: Request, dest: Address, now: float,
                     callback: OwnCallback | None = None) -> tuple[TransactionKey, list[Action]]:
        """Send a request this element originates (it has its Via already); responses go to ``callback``."""
        key, actions = self.layer.send_request(request, dest, now)
        self._own[key] = callback or (lambda _resp, _now: [])
        return key, self._dispatch(actions, now)

    def resume(self, key: TransactionKey, decision: Decision | Response, now: float) -> list[Action]:
        """Finish a request parked by ``Defer``: answer it, reject it, or forward it."""
        parked = self._deferred.pop(key, None)
        if parked is None:
            return []
        req, loop, cancelled = parked
        if cancelled or self.layer.get(key) is None:
            return []
        if isinstance(decision, Response):
            return self.layer.send_response(key, decision, now)
        return self._decided(key, req, loop, decision, now, parked=True)

    def parked(self) -> int:
        """Requests waiting for the node's lookup (``Defer``)."""
        return len(self._deferred)

    # -- requests -----------------------------------------------------------------------
    def _on_request(self, key: TransactionKey, req: Request, source: Address, now: float) -> list[Action]:
        self.stats["requests"] += 1
        try:
            return self._process_request(key, req, source, now)
        except SipError as exc:
            self.stats["rejected"] += 1
            log.info("rejecting %s %s: %d %s", req.method, req.uri, exc.status, exc.reason)
            return self._respond(key, req, exc.status, exc.reason, now=now)

    def _process_request(self, key: TransactionKey, req: Request, source: Address, now: float) -> list[Action]:
        # §16.3 item 1: the fields a proxy needs must parse (SipParseError -> 400 naming the header).
        _ = (req.vias, req.cseq, req.call_id, req.from_, req.to)
        # §16.3 item 2: a scheme we can route.
        if not isinstance(req.uri, (SipURI, TelURI)):
            return self._respond(key, req, 416, now=now)
        # §16.3 item 3: Max-Forwards.
        mf = req.max_forwards
        if mf is not None and mf <= 0:
            if req.method == "OPTIONS":  # item 3: an OPTIONS may be answered as its final recipient (§11)
                return self.layer.send_response(key, self.options_response(req), now)
            return self._respond(key, req, 483, now=now)
        # §16.3 item 4: a Via of ours whose branch carries this request's hash is a loop.
        for i, via in enumerate(req.vias):
            branch = via.branch or ""
            if self._sent_by_ours(via.host, via.port) and branch.startswith(MAGIC):
                if branch[len(MAGIC):].split(".", 1)[0] == self.loop_hash(req, self._via_id(req, i + 1)):
                    self.stats["loops"] += 1
                    return self._respond(key, req, 482, now=now)
        # §16.3 item 5: Proxy-Require.
        unsupported = [t for t in req.proxy_require if t.lower() not in self.supported]
        if unsupported:
            return self._respond(key, req, 420, headers=(("Unsupported", ", ".join(unsupported)),), now=now)
        loop = self.loop_hash(req, self._via_id(req, 0))
        self.current_route = self._preprocess_route(req)
        if req.method == "OPTIONS" and not req.routes and self.is_ours(req.uri):
            # §11 / §16.5: an OPTIONS whose Request-URI names us (a monitoring ping: sipsak, SIPp) is for
            # us to answer, registered sender or not.
            return self.layer.send_response(key, self.options_response(req), now)
        if self.prepare is not None:
            verdict = self.prepare(req, source, now)
            if isinstance(verdict, Response):
                return self.layer.send_response(key, verdict, now)
            if isinstance(verdict, Reject):
                self.stats["rejected"] += 1
                return self._respond(key, req, verdict.status, verdict.reason, verdict.headers, now)
        if self.local_requests is not None and not req.routes:
            answer = self.local_requests(req, source, now)
            if isinstance(answer, Response):
                return self.layer.send_response(key, answer, now)
            if isinstance(answer, Defer):
                return self._park(key, req, loop, answer, now)
            if answer is not None:
                out: list[Action] = []
                for a in answer:
                    if isinstance(a, SendMessage) and isinstance(a.message, Response):
                        out.extend(self.layer.send_response(key, a.message, now))  # keep it on the txn
                    else:
                        out.extend(self._dispatch([a], now))
                return out
        decision = self._targets(req)
        if isinstance(decision, Defer):
            return self._park(key, req, loop, decision, now)
        return self._decided(key, req, loop, decision, now)

    def _park(self, key: TransactionKey, req: Request, loop: str, defer: Defer, now: float) -> list[Action]:
        self._deferred[key] = (req, loop, False)
        out = self._respond(key, req, 100, now=now) if req.method == "INVITE" else []
        out.extend(defer.start(key) or ())  # the start may already resume (an answer known at once)
        return out

    def _decided(self, key: TransactionKey, req: Request, loop: str, decision: Decision, now: float,
                 parked: bool = False) -> list[Action]:
        if isinstance(decision, Reject):
            self.stats["rejected"] += 1
            return self._respond(key, req, decision.status, decision.reason, decision.headers, now)
        targets = list(decision.targets)
        if not targets:
            return self._respond(key, req, 480, now=now)
        if not decision.parallel:
            targets.sort(key=lambda t: -t.q)  # stable: equal q keep the route's order
        ctx = _Context(key, req, loop, targets, decision.parallel, decision.record_route and self.record_route,
                       decision.retry_on)
        self._contexts[key] = ctx
        actions: list[Action] = []
        if req.method == "INVITE" and not parked:
            # §16.2 / §17.2.1: 100 at once so the previous hop stops retransmitting.
            actions.extend(self._respond(key, req, 100, now=now))
        actions.extend(self._next_targets(ctx, now))
        return actions

    def _preprocess_route(self, req: Request) -> NameAddr | None:
        """§16.4: undo a strict router's rewrite, then drop the Route entry that names us (returned)."""
        if self.is_ours(req.uri) and not (isinstance(req.uri, SipURI) and req.uri.user) and req.routes:
            # The Request-URI is our Record-Route URI: the previous hop was a strict router and
            # the real Request-URI travels as the last Route value.
            routes = req.get_all("route")
            req.uri = NameAddr.parse(routes[-1]).uri
            req.remove("Route")
            for r in routes[:-1]:
                req.add("Route", r)
        routes = req.routes
        if routes and self.is_ours(routes[0].uri):
            req.pop_first_value("route")
            if req.to.tag:
                # In a dialog we Record-Routed twice (an IMS S-CSCF on the originating and the
                # terminating leg): take our consecutive entries at once rather than send to ourselves.
                for r in routes[1:]:
                    if not self.is_ours(r.uri):
                        break
                    req.pop_first_value("route")
            return routes[0]
        return None

    def _targets(self, req: Request) -> Decision:
        """§16.5: a Route to follow, an maddr, or a domain we are not responsible for means the
        Request-URI is the only target; otherwise the node decides."""
        uri = req.uri
        if req.routes:
            return Forward([Target(uri)], record_route=self.record_route)
        if (not self.always_route and isinstance(uri, SipURI) and not self.is_ours(uri)
                and (uri.maddr or uri.host.lower() != self.domain)):
            return Forward([Target(uri)], record_route=self.record_route)
        return self.route(req)

    def _next_targets(self, ctx: _Context, now: float) -> list[Action]:
        out: list[Action] = []
        while ctx.pending:
            before = len(self._by_client)
            out.extend(self._forward(ctx, ctx.pending.pop(0), now))
            if not ctx.parallel and len(self._by_client) > before:
                break  # sequential: one live branch at a time
        out.extend(self._maybe_finish(ctx, now))
        return out

    def _forward(self, ctx: _Context, target: Target, now: float) -> list[Action]:
        """§16.6 items 1-11 for one target."""
        req = ctx.request.copy()  # item 1
        req.uri = target.uri.copy()  # item 2
        mf = req.max_forwards  # item 3
        req.set("Max-Forwards", str(mf - 1 if mf is not None else 70))
        if ctx.record_route and req.method in DIALOG_CREATING and not req.to.tag:  # item 4
            req.add("Record-Route", self.record_route_value(), first=True)
        for p in reversed(target.path):  # item 5 (RFC 3327 §5.2: Path values become Route)
            req.add("Route", p, first=True)
        routes = req.routes
        if routes and not (isinstance(routes[0].uri, SipURI) and routes[0].uri.lr):
            # item 6: the next hop is a strict router: it gets the Route URI as Request-URI and the
            # real Request-URI goes last in Route.
            first = req.pop_first_value("route") or ""
            req.add("Route", f"<{req.uri}>")
            req.uri = NameAddr.parse(first).uri
            dest_uri: URI = req.uri
        else:
            dest_uri = routes[0].uri if routes else req.uri
        ctx.counter += 1
        branch = f"{MAGIC}{ctx.loop}.{new_tag()}{ctx.counter}"  # item 8
        try:  # item 7
            dest = target.dest if target.dest is not None and not routes else uri_address(dest_uri, self.local.transport)
        except SipError as exc:
            req.add("Via", self._via(branch), first=True)
            log.info("cannot forward to %s: %s", target.uri, exc.reason)
            key = ("unroutable", branch)
            ctx.branches[key] = _Branch(target, key, req, done=True, synthetic=True,
                                        final=build_response(ctx.request, exc.status, exc.reason, to_tag=new_tag()))
            return []
        req.add("Via", self._via(branch, dest.transport), first=True)
        self.stats["forwarded"] += 1
        key, actions = self.layer.send_request(req, dest, now)  # item 10
        br = _Branch(target, key, req)
        ctx.branches[key] = br
        self._by_client[key] = ctx
        if req.method == "INVITE":  # item 11
            self._arm_timer_c(br, now)
        return actions

    def _arm_timer_c(self, br: _Branch, now: float) -> None:
        br.timer_c_at = now + self.timer_c
        heapq.heappush(self._timer_c_heap, (br.timer_c_at, next(self._seq), br.key))

    def _timer_c(self, ctx: _Context, br: _Branch, now: float) -> list[Action]:
        """§16.8: Timer C fired on a branch: CANCEL it if it rang; the branch ends with 408."""
        br.timer_c_at = None
        if br.done:
            return []
        self.stats["timer_c"] += 1
        out = self._cancel_branch(br, now)
        out.extend(self._branch_final(ctx, br, None, now, 408))
        return out

    # -- responses ----------------------------------------------------------------------
    @staticmethod
    def _strip_via(resp: Response) -> Response:
        """§16.7 item 3: remove our Via before passing a response upstream."""
        up = resp.copy()
        up.pop_first_value("via")
        return up

    def _send_upstream(self, ctx: _Context, resp: Response, now: float) -> list[Action]:
        extra: list[Action] = []
        if self.on_response is not None:
            extra = list(self.on_response(ctx.request, resp, now) or ())
        return self._send_up(ctx, resp, now) + extra

    def _send_up(self, ctx: _Context, resp: Response, now: float) -> list[Action]:
        txn = self.layer.get(ctx.server_key)
        if txn is not None and (resp.status < 300 or txn.state in ("trying", "proceeding", "accepted")):
            return self.layer.send_response(ctx.server_key, resp, now)
        if 200 <= resp.status < 300:
            # The server transaction is gone (Timer L) or already sent a non-2xx final (a CANCEL
            # raced the answer): a 2xx still goes up, statelessly (RFC 6026 §8.4, §16.7 item 5).
            self.stats["stateless"] += 1
            return [SendMessage(resp, response_destination(resp))]
        return []

    def _on_response(self, key: TransactionKey, resp: Response, now: float) -> list[Action]:
        ctx = self._by_client.get(key)
        if ctx is None:
            return self._forward_stray(resp)  # e.g. the CANCEL's own 200, or a 2xx after the context
        br = ctx.branches[key]
        if resp.status < 200:
            if resp.status == 100:
                return []  # §16.7 item 5: 100 is hop-by-hop
            br.provisional = True
            out: list[Action] = []
            if br.cancel_wanted:
                out.extend(self._cancel_branch(br, now))  # §9.1: the CANCEL we held back
            if br.done:
                return out
            if br.timer_c_at is not None:
                self._arm_timer_c(br, now)  # §16.7 item 2: a provisional resets Timer C
            out.extend(self._send_upstream(ctx, self._strip_via(resp), now))
            return out
        if resp.status < 300:
            # §16.7 item 5/9: every 2xx goes up at once, even after a best response went up.
            first = not ctx.got_2xx
            br.done, br.final, br.timer_c_at = True, resp, None
            ctx.got_2xx = True
            out = self._send_upstream(ctx, self._strip_via(resp), now)
            if first and ctx.request.method == "INVITE":
                ctx.pending.clear()  # §16.7 item 10: no new branches after a 2xx
                out.extend(self._cancel_all(ctx, now))
            out.extend(self._maybe_finish(ctx, now))
            return out
        return self._branch_final(ctx, br, resp, now)

    def _branch_final(self, ctx: _Context, br: _Branch, resp: Response | None, now: float,
                      status: int = 0) -> list[Action]:
        """A branch ended without a 2xx: a real final response, or a synthetic ``status``."""
        if br.done:
            return []
        br.done, br.timer_c_at = True, None
        if resp is None:
            br.final, br.synthetic = build_response(ctx.request, status, to_tag=new_tag()), True
        else:
            br.final = resp
        out: list[Action] = []
        if 600 <= br.final.status < 700 and not ctx.got_6xx:
            # §16.7 item 5: a 6xx ends the search: CANCEL the others, no new branches.
            ctx.got_6xx = True
            ctx.pending.clear()
            out.extend(self._cancel_all(ctx, now))
        if ctx.retry_on and not ctx.parallel and br.final.status not in ctx.retry_on:
            ctx.pending.clear()  # an answer that ends the search (the server was reachable)
        if ctx.pending and not ctx.parallel and not (ctx.got_2xx or ctx.cancelled or ctx.got_6xx):
            out.extend(self._next_targets(ctx, now))  # sequential: next target in q order
            return out
        out.extend(self._maybe_finish(ctx, now))
        return out

    def _cancel_branch(self, br: _Branch, now: float) -> list[Action]:
        """§9.1 / §16.10: CANCEL one branch, or remember to once it has rung."""
        if not br.provisional:
            br.cancel_wanted = True  # no 1xx yet: a CANCEL must wait for one
            return []
        br.cancel_wanted = False
        _, actions = self.layer.cancel(br.key, now)
        return self._dispatch(actions, now)

    def _cancel_all(self, ctx: _Context, now: float) -> list[Action]:
        """CANCEL every branch still pending.  One that never rang is treated as answered 487 (it
        would be once its CANCEL could be sent) and is CANCELled if it rings later."""
        out: list[Action] = []
        for br in list(ctx.branches.values()):
            if br.done:
                continue
            out.extend(self._cancel_branch(br, now))
            if not br.provisional:
                br.done, br.timer_c_at, br.synthetic = True, None, True
                br.final = build_response(ctx.request, 487, to_tag=new_tag())
        return out

    def _maybe_finish(self, ctx: _Context, now: float) -> list[Action]:
        """§16.7 item 6: once every branch has a final response, send the best one up."""
        if ctx.pending or not all(b.done for b in ctx.branches.values()):
            return []
        out: list[Action] = []
        if not ctx.got_2xx and not ctx.final_sent:
            out.extend(self._send_upstream(ctx, self._best_response(ctx), now))
        ctx.final_sent = True
        self._contexts.pop(ctx.server_key, None)
        if ctx.request.method != "INVITE":
            # Every branch is final and so is the answer: nothing more can come up (a completed non-INVITE
            # client transaction absorbs repeats).  Forget the context now rather than after Timer K, so
            # its request copies and responses are not kept for seconds (a CSCF at load holds thousands).
            for key in ctx.branches:
                self._by_client.pop(key, None)
        return out

    def _best_response(self, ctx: _Context) -> Response:
        finals = [b for b in ctx.branches.values() if b.final is not None]
        if not finals:
            # §16.7 item 6: no final response at all -> 408.
            return build_response(ctx.request, 408, to_tag=new_tag())
        best = min(finals, key=lambda b: _status_rank(b.final.status))  # type: ignore[union-attr]
        assert best.final is not None
        up = best.final.copy() if best.synthetic else self._strip_via(best.final)
        if up.status == 503:
            # §16.7 item 6: a 503 is not passed on (it would tell the UAC *we* are overloaded).
            up.status, up.reason = 500, "Server Internal Error"
        if up.status in (401, 407):
            # §16.7 item 7: every WWW-/Proxy-Authenticate from every 401/407 goes into the one answer.
            up.remove("WWW-Authenticate")
            up.remove("Proxy-Authenticate")
            for b in finals:
                assert b.final is not None
                if b.final.status in (401, 407):
                    for name in ("WWW-Authenticate", "Proxy-Authenticate"):
                        for value in b.final.headers.get_raw(name):
                            up.add(name, value)
        return up

    def _client_terminated(self, key: TransactionKey, now: float) -> list[Action]:
        ctx = self._by_client.get(key)
        if ctx is None:
            return []
        out = self._branch_final(ctx, ctx.branches[key], None, now, 408)  # no-op when it had a final
        self._by_client.pop(key, None)
        return out

    def _on_cancel(self, key: TransactionKey, now: float) -> list[Action]:
        """§16.10: the layer already answered the CANCEL 200; CANCEL every pending branch.  The
        INVITE gets the best final response, normally the 487s from the branches."""
        parked = self._deferred.get(key)
        if parked is not None:
            req, loop, _ = parked
            self._deferred[key] = (req, loop, True)
            self.stats["cancelled"] += 1
            return self._respond(key, req, 487, now=now) if req.method == "INVITE" else []
        ctx = self._contexts.get(key)
        if ctx is None or ctx.final_sent:
            return []
        self.stats["cancelled"] += 1
        ctx.cancelled = True
        ctx.pending.clear()
        out = self._cancel_all(ctx, now)
        out.extend(self._maybe_finish(ctx, now))
        return out

    # -- stateless forwarding ------------------------------------------------------------
    def _forward_stateless_ack(self, ack: Request) -> list[Action]:
        """An ACK for a 2xx is its own transaction: forward it statelessly along the Route set
        (§16.11 with the §16.4/§16.6 routing rules), with a branch that is the same for
        retransmissions."""
        try:
            mf = ack.max_forwards
            if mf is not None and mf <= 0:
                return []
            loop = self.loop_hash(ack, self._via_id(ack, 0))
            self._preprocess_route(ack)
            if not ack.routes and (self.is_ours(ack.uri) or (isinstance(ack.uri, SipURI)
                                                              and ack.uri.host.lower() == self.domain)):
                # The UA did not keep us in its route set and sent the ACK for the AOR: look it up.
                decision = self.route(ack)
                if not isinstance(decision, Forward) or not decision.targets:
                    return []
                ack.uri = decision.targets[0].uri.copy()
            fwd = ack.copy()
            fwd.set("Max-Forwards", str(mf - 1 if mf is not None else 70))
            routes = fwd.routes
            if routes and not (isinstance(routes[0].uri, SipURI) and routes[0].uri.lr):
                first = fwd.pop_first_value("route") or ""
                fwd.add("Route", f"<{fwd.uri}>")
                fwd.uri = NameAddr.parse(first).uri
                dest = uri_address(fwd.uri, self.local.transport)
            else:
                dest = uri_address(routes[0].uri if routes else fwd.uri, self.local.transport)
        except SipError as exc:
            log.info("dropping ACK: %s", exc.reason)
            return []
        fwd.add("Via", self._via(f"{MAGIC}{loop}.ack"), first=True)
        self.stats["stateless"] += 1
        return [SendMessage(fwd, dest)]

    def _forward_stray(self, resp: Response) -> list[Action]:
        """§16.7 item 5 / RFC 6026 §8.4: a 2xx to an INVITE with no client transaction any more
        (a retransmission from a UAS that did not get its ACK yet) is forwarded statelessly."""
        vias = resp.vias
        if len(vias) < 2 or not self._sent_by_ours(vias[0].host, vias[0].port):
            return []
        if not (200 <= resp.status < 300 and resp.cseq.method == "INVITE"):
            return []
        up = self._strip_via(resp)
        self.stats["stateless"] += 1
        return [SendMessage(up, response_destination(up))]
