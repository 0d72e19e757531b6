"""SIP dialogs (RFC 3261 §12): route set, remote target, CSeq rules.

A :class:`Dialog` is the state of §12: its id (Call-ID, local tag, remote
tag), ``state`` ("early" | "confirmed" | "terminated"), the local and remote
sequence numbers, the local and remote URIs (the From/To header values as this
side sends them), the remote target (from Contact) and the route set (from
Record-Route: as received for the UAS, reversed for the UAC).  It builds
in-dialog requests (§12.2.1.1, loose and strict routing) and the ACK of a 2xx
(§13.2.2.4), and checks in-dialog requests (§12.2.2 CSeq rule, target refresh).

A :class:`DialogSet` tracks the early dialogs that one forked INVITE creates,
keyed by To tag (§12.1.2, §13.2.2.4): the first 2xx confirms one, a non-2xx
final response ends the early ones (§13.2.2.3).

Not here: transactions, timers, sockets, the 2xx/ACK retransmission duties of
the UA core (``ims.sip.uacore``).
"""

from __future__ import annotations

from collections.abc import Iterable

from ims.sip.errors import SipError
from ims.sip.events import Address
from ims.sip.headers import Headers
from ims.sip.message import Request, Response
from ims.sip.uri import URI, NameAddr, SipURI, TelURI

DialogId = tuple[str, str, str]  # Call-ID, local tag, remote tag


def uri_address(uri: URI, default_transport: str = "udp") -> Address:
    """Where to send a request for ``uri`` without DNS (RFC 3263 reduced to literals)."""
    if not isinstance(uri, SipURI):
        raise SipError(f"Cannot route to non-SIP URI {uri}", 416)
    transport = uri.transport or ("tls" if uri.scheme == "sips" else default_transport)
    host = uri.maddr or uri.host
    if host.startswith("["):
        host = host[1:-1]
    port = uri.port or (5061 if transport == "tls" else 5060)
    return Address(host, port, transport)


class Dialog:
    def __init__(self, call_id: str, local_tag: str, remote_tag: str, *, local_uri: str, remote_uri: str,
                 remote_target: URI, route_set: list[str], local_seq: int, remote_seq: int | None,
                 secure: bool = False, state: str = "early") -> None:
        self.call_id = call_id
        self.local_tag = local_tag
        self.remote_tag = remote_tag
        self.local_uri = local_uri  # From value without tag (the header as we send it)
        self.remote_uri = remote_uri
        self.remote_target = remote_target
        self.route_set = route_set  # name-addr strings, first = next hop
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.secure = secure
        self.state = state

    @property
    def id(self) -> DialogId:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def from_uac_response(cls, request: Request, response: Response) -> Dialog:
        """§12.1.2: the UAC's dialog from a 1xx-with-tag or 2xx."""
        remote_tag = response.to.tag
        if not remote_tag:
            raise SipError("Response creating a dialog has no To tag")
        contacts = response.contacts
        if not contacts or contacts[0].is_star:
            raise SipError("Response creating a dialog has no Contact")
        route_set = [str(r) for r in reversed(response.record_routes)]
        return cls(
            request.call_id, request.from_.tag or "", remote_tag,
            local_uri=request.get("from") or "", remote_uri=response.get("to") or "",
            remote_target=contacts[0].uri, route_set=route_set, local_seq=request.cseq.seq, remote_seq=None,
            secure=isinstance(request.uri, SipURI) and request.uri.scheme == "sips",
            state="confirmed" if 200 <= response.status < 300 else "early",
        )

    @classmethod
    def from_uas_request(cls, request: Request, local_tag: str, *, state: str = "early",
                         secure_transport: bool = False) -> Dialog:
        """§12.1.1: the UAS's dialog from the request it answers.

        The route set is the Record-Route list in order; the local sequence
        number starts empty (0 here: the first request we send carries 1).
        ``secure`` needs both a TLS hop and a SIPS Request-URI.
        """
        contacts = request.contacts
        if not contacts or contacts[0].is_star:
            raise SipError("Request creating a dialog has no Contact", 400)
        return cls(
            request.call_id, local_tag, request.from_.tag or "",
            local_uri=_with_tag(request.get("to") or "", local_tag), remote_uri=request.get("from") or "",
            remote_target=contacts[0].uri, route_set=[str(r) for r in request.record_routes],
            local_seq=0, remote_seq=request.cseq.seq, state=state,
            secure=secure_transport and isinstance(request.uri, SipURI) and request.uri.scheme == "sips",
        )

    def next_hop(self) -> URI:
        if self.route_set:
            return NameAddr.parse(self.route_set[0]).uri
        return self.remote_target

    def create_request(self, method: str, *, body: bytes = b"", content_type: str | None = None,
                       extra_headers: Iterable[tuple[str, str]] = (), cseq: int | None = None) -> Request:
        """§12.2.1.1: a request within this dialog (caller adds the Via)."""
        if method not in ("ACK", "CANCEL"):
            self.local_seq += 1
        seq = cseq if cseq is not None else self.local_seq
        h = Headers()
        ruri: URI = self.remote_target
        routes = list(self.route_set)
        if routes:
            first = NameAddr.parse(routes[0])
            if not (isinstance(first.uri, SipURI) and first.uri.lr):
                # Strict router: it goes in the Request-URI, remote target last in Route.
                ruri = first.uri.copy()
                if isinstance(ruri, SipURI):
                    ruri.params.pop("method", None)
                routes = routes[1:] + [f"<{self.remote_target}>"]
        for r in routes:
            h.add("Route", r)
        h.add("Max-Forwards", "70")
        h.add("From", self.local_uri if ";tag=" in self.local_uri else _with_tag(self.local_uri, self.local_tag))
        h.add("To", self.remote_uri if ";tag=" in self.remote_uri else _with_tag(self.remote_uri, self.remote_tag))
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{seq} {method}")
        for name, value in extra_headers:
            h.add(name, value)
        req = Request(method, ruri.copy() if isinstance(ruri, (SipURI, TelURI)) else ruri, h)
        if body:
            req.set_body(body, content_type)
        return req

    def create_ack(self, invite_2xx: Response) -> Request:
        """§13.2.2.4: ACK for a 2xx carries the INVITE's CSeq number."""
        return self.create_request("ACK", cseq=invite_2xx.cseq.seq)

    def on_request(self, request: Request) -> None:
        """§12.2.2: CSeq must grow; target refresh requests update the remote target."""
        seq = request.cseq.seq
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and seq <= self.remote_seq:
                raise SipError(f"CSeq {seq} is not above {self.remote_seq} in this dialog (§12.2.2)", 500)
            self.remote_seq = seq
        if request.method in ("INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY") and request.contacts:
            self.remote_target = request.contacts[0].uri

    def on_response(self, response: Response) -> None:
        """A response within this dialog (UAC side).

        2xx to the INVITE confirms an early dialog and recomputes its route set
        from the 2xx (§13.2.2.4); 2xx/1xx to a target refresh replaces the remote
        target (§12.2.1.2); 481/408 end the dialog (§12.2.1.2).
        """
        code = response.status
        if response.cseq.method == "INVITE" and 200 <= code < 300:
            if self.state == "early":
                self.route_set = [str(r) for r in reversed(response.record_routes)]
            self.state = "confirmed"
            if response.contacts:
                self.remote_target = response.contacts[0].uri
        elif response.cseq.method in ("INVITE", "UPDATE") and code < 300 and response.contacts:
            self.remote_target = response.contacts[0].uri
        elif code in (481, 408):
            self.state = "terminated"

    def terminate(self) -> None:
        self.state = "terminated"


def _with_tag(value: str, tag: str) -> str:
    if not tag or ";tag=" in value.replace(" ", "").lower():
        return value
    return f"{value};tag={tag}"


class DialogSet:
    """The dialogs one INVITE creates when it forks (§12.1.2, §13.2.2.4), keyed by To tag."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.dialogs: dict[str, Dialog] = {}
        self.confirmed: Dialog | None = None

    def on_response(self, response: Response) -> Dialog | None:
        """Feed a response to the INVITE; returns the dialog it belongs to (created if new).

        1xx with a To tag creates an early dialog; 2xx creates or confirms one (the
        first 2xx wins ``confirmed``, later forks' 2xx create confirmed dialogs the
        UA core must ACK and BYE); a non-2xx final ends every early dialog.
        """
        tag = response.to.tag
        if response.status >= 300:
            for d in self.dialogs.values():
                if d.state == "early":
                    d.state = "terminated"  # §13.2.2.3 / §12.3
            return None
        if not tag or response.status < 101:
            return None
        dialog = self.dialogs.get(tag)
        if dialog is None:
            try:
                dialog = Dialog.from_uac_response(self.request, response)
            except SipError:
                return None
            self.dialogs[tag] = dialog
        else:
            dialog.on_response(response)
        if 200 <= response.status < 300 and self.confirmed is None:
            self.confirmed = dialog
        return dialog

    def get(self, to_tag: str) -> Dialog | None:
        return self.dialogs.get(to_tag)

    def others(self) -> list[Dialog]:
        """Dialogs that lost the race to the first 2xx."""
        return [d for d in self.dialogs.values() if d is not self.confirmed]

    def terminate_others(self) -> list[Dialog]:
        """End every early dialog but the confirmed one (after the INVITE transaction ends, §13.2.2.4).

        Returns the dialogs that were still early; forks that sent a 2xx are
        confirmed dialogs the UA core ends with ACK + BYE itself.
        """
        ended = []
        for d in self.others():
            if d.state == "early":
                d.state = "terminated"
                ended.append(d)
        return ended
