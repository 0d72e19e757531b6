"""The four RFC 3261 §17 transaction state machines and the layer that owns them.

Sans-IO: ``TransactionLayer.receive(msg, source, now)`` and friends return
actions (``SendMessage``, ``RequestReceived``...); timers live in one heap and
fire through ``handle_timers(now)``; ``next_deadline()`` tells the driver when
to call it.  Matching is a dict lookup per §17.1.3 / §17.2.3 (with the RFC 2543
fallback for branches lacking the magic cookie).

The INVITE transactions follow RFC 6026 (chosen over RFC 3261's "2xx ->
Terminated"): after a 2xx the server transaction waits in *Accepted* (Timer L =
64*T1) absorbing INVITE retransmissions and forwarding the TU's 2xx
retransmissions, and ACKs for the 2xx go to the TU as ``AckReceived``; the
client transaction waits in *Accepted* (Timer M = 64*T1) passing every 2xx
(retransmissions and other forks) up so the UA core can ACK each one.

Reliable transports (tcp/tls/sctp) never arm Timers A/E/G and run D/I/J/K at
zero (§17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).

States use the RFC names: calling, trying, proceeding, completed, confirmed,
accepted, terminated.

Not here: dialogs (``ims.sip.dialog``), the 2xx retransmission of the UAS core
(§13.3.1.4, ``ims.sip.uacore``), sockets (``ims.net``).
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

from ims.sip.errors import SipError, SipParseError
from ims.sip.events import (
    Action,
    AckReceived,
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
from ims.sip.headers import Headers, Via
from ims.sip.message import Request, Response, build_response, parse_message

MAGIC = "z9hG4bK"


def stamp_received(request: Request, source: Address) -> None:
    """§18.2.1 + RFC 3581 §4: record where the request really came from on its top Via."""
    via = request.top_via
    changes = {}
    if via.host != source.host and via.received != source.host:
        changes["received"] = source.host
    if "rport" in via.params and via.params["rport"] is None:
        changes["rport"] = str(source.port)
        if via.received != source.host:
            changes["received"] = source.host
    if not changes:
        return
    params = dict(via.params)
    params.update(changes)
    port = f":{via.port}" if via.port is not None else ""
    host = via.host
    text = f"{via.protocol}/{via.transport} {host}{port}" + "".join(
        f";{k}" if v is None else f";{k}={v}" for k, v in params.items())
    if "\x00" in text or "\r" in text or "\n" in text:
        # The Via came with a raw control character in a parameter: a bad request, not our failure.
        raise SipParseError("Bad Via header: a control character in a parameter")
    request.pop_first_value("via")
    request.add("Via", text, first=True)


def response_destination(response: Response, source: Address | None = None) -> Address:
    """§18.2.2 (+ RFC 3581 §4): where a server sends a response."""
    via = response.top_via
    transport = via.transport.lower()
    if source is not None and source.reliable:
        return source  # reuse the connection the request arrived on
    if via.maddr:
        return Address(via.maddr, via.port or 5060, transport)
    host = via.received or via.host
    rport = via.rport
    if isinstance(rport, int) and not isinstance(rport, bool):
        return Address(host, rport, transport)
    return Address(host, via.port or (5061 if transport == "tls" else 5060), transport)


def server_key(request: Request) -> TransactionKey:
    """§17.2.3 matching key for a request: branch + sent-by + method (ACK maps onto its INVITE).

    A CANCEL gets its own key (method CANCEL): it is a transaction of its own and
    is matched to the INVITE it cancels separately (§9.2).
    """
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch
    if branch and branch.startswith(MAGIC):
        return ("s", branch, via.host.lower(), via.port, method)
    # RFC 2543 fallback (§17.2.3 last paragraph): Request-URI, From tag, Call-ID,
    # CSeq number and top Via. The To tag is left out because the INVITE carries
    # none while its ACK does; the layer checks the ACK's To tag separately.
    # The ACK of a non-2xx has the INVITE's Request-URI (§17.1.1.3), so it maps here.
    return ("s2543", str(request.uri), request.from_.tag, request.call_id, request.cseq.seq,
            _via_2543(via), method)


def _via_2543(via: Via) -> str:
    """The top Via compared for RFC 2543 matching, without what this layer stamped on it (§18.2.1)."""
    params = ";".join(k if v is None else f"{k}={v}" for k, v in via.params.items()
                      if k not in ("received", "rport"))
    return f"{via.transport.upper()} {via.host.lower()}:{via.port};{params}"


def client_key(branch: str, method: str) -> TransactionKey:
    """§17.1.3 matching key: branch of the top Via + CSeq method (ACK maps onto the INVITE)."""
    return ("c", branch, "INVITE" if method == "ACK" else method)


class _Txn:
    """Base: a key, a state, the layer's timer hook.  Slotted: a busy element holds tens of thousands."""

    __slots__ = ("layer", "key", "reliable", "state", "timers", "t")
    invite = False

    def __init__(self, layer: TransactionLayer, key: TransactionKey, reliable: bool) -> None:
        self.layer = layer
        self.key = key
        self.reliable = reliable
        self.state = ""
        self.timers: dict[str, float] = {}
        self.t = layer.timers

    def arm(self, name: str, at: float) -> None:
        self.timers[name] = at
        self.layer._push_timer(at, self.key, name)

    def disarm(self, *names: str) -> None:
        for n in names:
            self.timers.pop(n, None)

    def terminate(self, out: list[Action]) -> None:
        self.state = "terminated"
        self.timers.clear()
        self.layer._remove(self.key)
        out.append(TransactionTerminated(self.key))

    def on_message(self, message: Request | Response, now: float) -> list[Action]:
        """Feed a matched message: a response (client transactions) or a request (server transactions)."""
        if isinstance(message, Response):
            return self.on_response(message, now)
        return self.on_request(message, now)

    def on_response(self, resp: Response, now: float) -> list[Action]:
        return []  # server transactions receive no responses

    def on_request(self, req: Request, now: float) -> list[Action]:
        return []  # client transactions receive no requests

    def on_timer(self, name: str, now: float) -> list[Action]:  # pragma: no cover - overridden
        return []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state} {self.key!r} timers={sorted(self.timers)}>"


class InviteClientTransaction(_Txn):
    """§17.1.1 (with RFC 6026 Accepted): calling -> proceeding -> completed/accepted -> terminated.

    Timer A retransmits the INVITE (T1, doubling, unreliable only); Timer B (64*T1)
    times out Calling; Timer D (32 s, 0 on reliable) ends Completed; Timer M
    (64*T1, RFC 6026) ends Accepted.
    """

    __slots__ = ("request", "dest", "ack", "a_interval", "cancel_pending")
    invite = True

    def __init__(self, layer: TransactionLayer, key: TransactionKey, request: Request, dest: Address) -> None:
        super().__init__(layer, key, dest.reliable)
        self.request = request
        self.dest = dest
        self.ack: Request | None = None
        self.a_interval = self.t.t1
        self.cancel_pending = False

    def start(self, now: float) -> list[Action]:
        self.state = "calling"
        if not self.reliable:
            self.arm("A", now + self.a_interval)
        self.arm("B", now + 64 * self.t.t1)
        return [SendMessage(self.request, self.dest)]

    def on_response(self, resp: Response, now: float) -> list[Action]:
        out: list[Action] = []
        code = resp.status
        if self.state in ("calling", "proceeding"):
            if code < 200:
                self.state = "proceeding"
                self.disarm("A", "B")
                out.append(ResponseReceived(self.key, resp))
            elif code < 300:
                self.state = "accepted"
                self.disarm("A", "B")
                self.arm("M", now + 64 * self.t.t1)
                out.append(ResponseReceived(self.key, resp))
            else:
                self.state = "completed"
                self.disarm("A", "B")
                self.ack = self._build_ack(resp)
                out.append(SendMessage(self.ack, self.dest))
                out.append(ResponseReceived(self.key, resp))
                self.arm("D", now + (0 if self.reliable else 32.0))
        elif self.state == "accepted":
            if 200 <= code < 300:
                out.append(ResponseReceived(self.key, resp))  # 2xx retransmission: TU re-ACKs
        elif self.state == "completed" and code >= 300 and self.ack is not None:
            out.append(SendMessage(self.ack, self.dest))  # §17.1.1.2: re-ACK retransmitted final
        return out

    def _build_ack(self, resp: Response) -> Request:
        """§17.1.1.3: ACK for a non-2xx final response, same branch."""
        req = self.request
        h = Headers()
        h.add("Via", req.get_all("via")[0])
        for name in ("Route",):
            for v in req._headers.get_raw(name):
                h.add(name, v)
        h.add("Max-Forwards", "70")
        h.add("From", req.get("from") or "")
        h.add("To", resp.get("to") or "")
        h.add("Call-ID", req.get("call-id") or "")
        h.add("CSeq", f"{req.cseq.seq} ACK")
        return Request("ACK", req.uri, h)

    def on_timer(self, name: str, now: float) -> list[Action]:
        out: list[Action] = []
        if name == "A" and self.state == "calling":
            self.a_interval *= 2  # §17.1.1.2: 2*T1, 4*T1... (no T2 cap for INVITE)
            self.arm("A", now + self.a_interval)
            out.append(SendMessage(self.request, self.dest))
        elif name == "B" and self.state == "calling":
            out.append(TransactionTimeout(self.key))
            self.terminate(out)
        elif name in ("D", "M"):
            self.terminate(out)
        return out


class NonInviteClientTransaction(_Txn):
    """§17.1.2: trying -> proceeding -> completed -> terminated.

    Timer E retransmits (T1 doubling up to T2; T2 once Proceeding; unreliable only);
    Timer F (64*T1) times out; Timer K (T4, 0 on reliable) ends Completed.
    """

    __slots__ = ("request", "dest", "e_interval")

    def __init__(self, layer: TransactionLayer, key: TransactionKey, request: Request, dest: Address) -> None:
        super().__init__(layer, key, dest.reliable)
        self.request: Request | None = request  # dropped once Completed: nothing is retransmitted then
        self.dest = dest
        self.e_interval = self.t.t1

    def start(self, now: float) -> list[Action]:
        self.state = "trying"
        if not self.reliable:
            self.arm("E", now + self.e_interval)
        self.arm("F", now + 64 * self.t.t1)
        return [SendMessage(self.request, self.dest)]

    def on_response(self, resp: Response, now: float) -> list[Action]:
        out: list[Action] = []
        if self.state in ("trying", "proceeding"):
            if resp.status < 200:
                self.state = "proceeding"
            else:
                self.state = "completed"
                self.disarm("E", "F")
                self.arm("K", now + (0 if self.reliable else self.t.t4))
                self.request = None
            out.append(ResponseReceived(self.key, resp))
        return out

    def on_timer(self, name: str, now: float) -> list[Action]:
        out: list[Action] = []
        if name == "E" and self.state in ("trying", "proceeding") and self.request is not None:
            self.e_interval = self.t.t2 if self.state == "proceeding" else min(2 * self.e_interval, self.t.t2)
            self.arm("E", now + self.e_interval)
            out.append(SendMessage(self.request, self.dest))
        elif name == "F" and self.state in ("trying", "proceeding"):
            out.append(TransactionTimeout(self.key))
            self.terminate(out)
        elif name == "K":
            self.terminate(out)
        return out


class InviteServerTransaction(_Txn):
    """§17.2.1 (with RFC 6026 Accepted): proceeding -> completed -> confirmed, or -> accepted; -> terminated.

    Sends 100 Trying if the TU is silent for ``TimerConfig.trying_after`` (200 ms);
    Timer G retransmits a non-2xx final (T1 doubling up to T2, unreliable only);
    Timer H (64*T1) gives up waiting for the ACK; Timer I (T4, 0 on reliable) ends
    Confirmed; Timer L (64*T1, RFC 6026) ends Accepted.
    """

    __slots__ = ("request", "source", "last", "dest", "g_interval")
    invite = True

    def __init__(self, layer: TransactionLayer, key: TransactionKey, request: Request, source: Address) -> None:
        super().__init__(layer, key, source.reliable)
        self.request = request
        self.source = source
        self.last: Response | None = None
        self.dest: Address | None = None
        self.g_interval = self.t.t1

    def start(self, now: float) -> list[Action]:
        self.state = "proceeding"
        self.arm("trying", now + self.t.trying_after)
        return [RequestReceived(self.key, self.request, self.source)]

    def _send(self, resp: Response) -> SendMessage:
        if self.dest is None:
            self.dest = response_destination(resp, self.source)
        return SendMessage(resp, self.dest)

    def on_request(self, req: Request, now: float) -> list[Action]:
        out: list[Action] = []
        if req.method == "INVITE":
            if self.state in ("proceeding", "completed") and self.last is not None:
                out.append(self._send(self.last))  # retransmission: resend the last response
        elif req.method == "ACK" and self.state == "completed":
            self.state = "confirmed"
            self.disarm("G", "H")
            self.arm("I", now + (0 if self.reliable else self.t.t4))
        return out

    def send_response(self, resp: Response, now: float) -> list[Action]:
        out: list[Action] = []
        self.disarm("trying")
        if self.state == "proceeding":
            self.last = resp
            out.append(self._send(resp))
            if 200 <= resp.status < 300:
                self.state = "accepted"
                self.arm("L", now + 64 * self.t.t1)
            elif resp.status >= 300:
                self.state = "completed"
                if not self.reliable:
                    self.arm("G", now + self.g_interval)
                self.arm("H", now + 64 * self.t.t1)
        elif self.state == "accepted" and 200 <= resp.status < 300:
            out.append(self._send(resp))  # TU's 2xx retransmissions (§13.3.1.4)
        return out

    def on_timer(self, name: str, now: float) -> list[Action]:
        out: list[Action] = []
        if name == "trying" and self.state == "proceeding" and self.last is None:
            trying = build_response(self.request, 100)
            self.last = trying
            out.append(self._send(trying))
        elif name == "G" and self.state == "completed" and self.last is not None:
            self.g_interval = min(2 * self.g_interval, self.t.t2)
            self.arm("G", now + self.g_interval)
            out.append(self._send(self.last))
        elif name == "H" and self.state == "completed":
            out.append(TransactionTimeout(self.key))  # no ACK came
            self.terminate(out)
        elif name in ("I", "L"):
            self.terminate(out)
        return out


class NonInviteServerTransaction(_Txn):
    """§17.2.2: trying -> proceeding -> completed -> terminated; Timer J (64*T1, 0 on reliable)."""

    __slots__ = ("request", "source", "_last", "_last_raw", "dest")

    def __init__(self, layer: TransactionLayer, key: TransactionKey, request: Request, source: Address) -> None:
        super().__init__(layer, key, source.reliable)
        self.request: Request | None = request  # dropped once Completed
        self.source = source
        self._last: Response | None = None
        self._last_raw: bytes | None = None  # the final response while Completed (re-read if resent)
        self.dest: Address | None = None

    @property
    def last(self) -> Response | None:
        """The last response sent (§17.2.2: what a retransmitted request gets)."""
        if self._last is None and self._last_raw is not None:
            try:
                self._last = parse_message(self._last_raw)  # type: ignore[assignment]
            except SipError:
                self._last_raw = None
        return self._last

    def start(self, now: float) -> list[Action]:
        self.state = "trying"
        assert self.request is not None
        return [RequestReceived(self.key, self.request, self.source)]

    def on_request(self, req: Request, now: float) -> list[Action]:
        last = self.last
        if self.state in ("proceeding", "completed") and last is not None:
            return [SendMessage(last, self.dest or response_destination(last, self.source))]
        return []

    def send_response(self, resp: Response, now: float) -> list[Action]:
        if self.state not in ("trying", "proceeding"):
            return []
        self._last = resp
        if self.dest is None:
            self.dest = response_destination(resp, self.source)
        if resp.status < 200:
            self.state = "proceeding"
        else:
            self.state = "completed"
            self.arm("J", now + (0 if self.reliable else 64 * self.t.t1))
            if not self.reliable:
                # Completed only answers retransmissions for Timer J's 32 s: keep bytes, not the parsed
                # request and response (a busy proxy holds tens of thousands; the collector scans them).
                self._last_raw, self._last, self.request = resp.to_bytes(), None, None
        return [SendMessage(resp, self.dest)]

    def on_timer(self, name: str, now: float) -> list[Action]:
        out: list[Action] = []
        if name == "J":
            self.terminate(out)
        return out


def _to_tag(message: Request | Response | None) -> str | None:
    return message.to.tag if message is not None else None


class TransactionLayer:
    """Every transaction of one SIP element, matched by key (one dict lookup), timed by one heap.

    The heap holds ``(at, seq, key, timer name)``; a timer that is re-armed,
    disarmed or whose transaction ended leaves a stale entry that is dropped
    when it reaches the top (lazy deletion).
    """

    def __init__(self, timers: TimerConfig = TimerConfig()) -> None:
        self.timers = timers
        self._txns: dict[TransactionKey, Any] = {}
        self._heap: list[tuple[float, int, TransactionKey, str]] = []
        self._seq = itertools.count()

    #: §18.2.2, also reachable as a module function.
    response_destination = staticmethod(response_destination)

    # -- bookkeeping -----------------------------------------------------
    def __len__(self) -> int:
        return len(self._txns)

    def get(self, key: TransactionKey) -> Any:
        return self._txns.get(key)

    def _push_timer(self, at: float, key: TransactionKey, name: str) -> None:
        heapq.heappush(self._heap, (at, next(self._seq), key, name))

    def _remove(self, key: TransactionKey) -> None:
        self._txns.pop(key, None)

    def next_deadline(self) -> float | None:
        """When ``handle_timers`` must next be called (None: no timer armed)."""
        heap = self._heap
        while heap:
            at, _, key, name = heap[0]
            txn = self._txns.get(key)
            if txn is not None and txn.timers.get(name) == at:
                return at
            heapq.heappop(heap)  # stale entry (timer re-armed, disarmed or txn gone)
        return None

    def handle_timers(self, now: float) -> list[Action]:
        """Fire every timer (A..M, and the 200 ms 100-Trying timer) due at ``now``."""
        out: list[Action] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            at, _, key, name = heapq.heappop(heap)
            txn = self._txns.get(key)
            if txn is None or txn.timers.get(name) != at:
                continue
            del txn.timers[name]
            out.extend(txn.on_timer(name, now))
        return out

    # -- inbound -----------------------------------------------------------
    def receive(self, message: Request | Response, source: Address, now: float) -> list[Action]:
        """A parsed message from the transport.

        Responses go to their client transaction (§17.1.3) or come back as
        ``StrayResponse``; requests are stamped with received/rport (§18.2.1),
        matched (§17.2.3) and absorbed if they are retransmissions, or create a
        server transaction and come back as ``RequestReceived``; an ACK for a 2xx
        comes back as ``AckReceived``; a CANCEL is answered here (§9.2).
        """
        if isinstance(message, Response):
            return self._receive_response(message, source, now)
        return self._receive_request(message, source, now)

    def _receive_response(self, resp: Response, source: Address, now: float) -> list[Action]:
        branch = resp.top_via.branch or ""
        txn = self._txns.get(client_key(branch, resp.cseq.method))
        if txn is None:
            return [StrayResponse(resp, source)]
        return txn.on_response(resp, now)

    def _receive_request(self, req: Request, source: Address, now: float) -> list[Action]:
        stamp_received(req, source)
        key = server_key(req)
        txn = self._txns.get(key)
        if req.method == "ACK":
            if isinstance(txn, InviteServerTransaction) and txn.state in ("completed", "confirmed"):
                if key[0] != "s2543" or _to_tag(req) == _to_tag(txn.last):
                    return txn.on_request(req, now)  # ACK of our non-2xx: absorbed (§17.2.1)
            return [AckReceived(req, source)]  # ACK for a 2xx is no transaction's business (§17.2.1)
        if txn is not None:
            return txn.on_request(req, now)
        if req.method == "CANCEL":
            return self._receive_cancel(req, key, source, now)
        if req.method == "INVITE":
            txn = InviteServerTransaction(self, key, req, source)
        else:
            txn = NonInviteServerTransaction(self, key, req, source)
        self._txns[key] = txn
        return txn.start(now)

    def _receive_cancel(self, cancel: Request, key: TransactionKey, source: Address, now: float) -> list[Action]:
        """§9.2: the CANCEL is a transaction of its own, answered here.

        It matches the INVITE server transaction with the same key but method
        INVITE (§9.2 applies the §17.2.3 rules). Any matching transaction gets
        200; only one still in Proceeding is reported to the TU (which then
        answers the INVITE 487); with no match the answer is 481.
        """
        txn = NonInviteServerTransaction(self, key, cancel, source)
        self._txns[key] = txn
        txn.state = "trying"
        invite_key = key[:-1] + ("INVITE",)
        target = self._txns.get(invite_key)
        if target is None:
            return txn.send_response(build_response(cancel, 481), now)
        out = txn.send_response(build_response(cancel, 200, to_tag=_to_tag(target.last)), now)
        if isinstance(target, InviteServerTransaction) and target.state == "proceeding":
            out.append(CancelReceived(invite_key, cancel))
        return out

    # -- outbound ----------------------------------------------------------
    def send_request(self, request: Request, dest: Address, now: float) -> tuple[TransactionKey, list[Action]]:
        """Start a client transaction for ``request`` (its top Via must carry the branch).

        INVITE gets the §17.1.1 machine, anything else §17.1.2; ``dest.transport``
        decides whether retransmission timers run. Raises ``SipError`` for ACK
        (no transaction: send it as a ``SendMessage``), a missing branch or a
        branch already in use.
        """
        if request.method == "ACK":
            raise SipError("ACK is not a transaction: send it with SendMessage")
        branch = request.top_via.branch
        if not branch:
            raise SipError("Request to send has no Via branch")
        key = client_key(branch, request.method)
        if key in self._txns:
            raise SipError(f"A client transaction with branch {branch} already exists")
        txn: InviteClientTransaction | NonInviteClientTransaction
        if request.method == "INVITE":
            txn = InviteClientTransaction(self, key, request, dest)
        else:
            txn = NonInviteClientTransaction(self, key, request, dest)
        self._txns[key] = txn
        return key, txn.start(now)

    def send_response(self, key: TransactionKey, response: Response, now: float) -> list[Action]:
        """The TU answers the server transaction ``key``; sent per §18.2.2 (``response_destination``).

        Returns nothing if the transaction is gone or no longer takes that response.
        """
        txn = self._txns.get(key)
        if txn is None or not hasattr(txn, "send_response"):
            return []  # transaction already gone (e.g. Timer L/J ran out); nothing to do
        return txn.send_response(response, now)

    def cancel(self, key: TransactionKey, now: float) -> tuple[TransactionKey | None, list[Action]]:
        """§9.1: CANCEL a pending INVITE client transaction in its own non-INVITE transaction.

        The CANCEL copies the INVITE's Request-URI, top Via (same branch), Route,
        From, To, Call-ID and CSeq number. Returns ``(None, [])`` once the INVITE
        got its final response. §9.1 also says not to send it before a provisional
        response: that wait is the TU's (``UserAgent.cancel`` does it).
        """
        txn = self._txns.get(key)
        if not isinstance(txn, InviteClientTransaction) or txn.state not in ("calling", "proceeding"):
            return None, []
        req = txn.request
        h = Headers()
        h.add("Via", req.get_all("via")[0])
        for v in req._headers.get_raw("route"):
            h.add("Route", v)
        h.add("Max-Forwards", "70")
        for name in ("From", "To", "Call-ID"):
            h.add(name, req.get(name) or "")
        h.add("CSeq", f"{req.cseq.seq} CANCEL")
        cancel = Request("CANCEL", req.uri, h)
        return self.send_request(cancel, txn.dest, now)

    def transport_error(self, key: TransactionKey, now: float) -> list[Action]:
        """§17.1.4 / §17.2.4: the transport could not deliver; the transaction fails."""
        txn = self._txns.get(key)
        if txn is None:
            return []
        out: list[Action] = [TransportFailure(key)]
        txn.terminate(out)
        return out

    def transactions_to(self, dest: Address) -> list[TransactionKey]:
        return [k for k, t in self._txns.items() if getattr(t, "dest", None) == dest]

    def connection_lost(self, dest: Address, now: float) -> list[Action]:
        """The connection to ``dest`` was closed or reset by the peer: client transactions still waiting
        for their final response on it fail now (§17.1.4), not after Timer B/F."""
        out: list[Action] = []
        for key, txn in list(self._txns.items()):
            if isinstance(txn, (InviteClientTransaction, NonInviteClientTransaction)) and txn.dest == dest \
                    and txn.state in ("calling", "trying", "proceeding"):
                out.extend(self.transport_error(key, now))
        return out
