"""Registrar and location service (RFC 3261 §10.3, RFC 3327 Path, RFC 5626 instance ids).

``Registrar.handle(request, now)`` processes a REGISTER and returns the
response; ``LocationService`` holds the bindings that proxies look up.
Authentication is a pluggable hook (``ims.sip.auth`` does the digest math).
Not here: IMS specifics (the S-CSCF adds Service-Route, P-Associated-URI).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ims.sip.errors import SipError
from ims.sip.message import Request, Response, build_response, new_tag
from ims.sip.uri import URI, SipURI, TelURI


@dataclass
class Binding:
    aor: str
    uri: URI
    contact: str  # the Contact value as registered (name-addr, without expires)
    expires_at: float
    call_id: str
    cseq: int
    q: float | None = None
    instance: str | None = None
    reg_id: str | None = None
    path: list[str] = field(default_factory=list)
    params: dict[str, str | None] = field(default_factory=dict)

    def remaining(self, now: float) -> int:
        return max(0, int(self.expires_at - now + 0.5))


class LocationService:
    """AOR -> bindings (RFC 3261 §10.3 "location service"), with expiry.

    Bindings are keyed per AOR by +sip.instance/reg-id when present (RFC 5626 §6), else by
    the contact URI; ``lookup`` returns the live ones, highest q first.  One per node.
    """

    def __init__(self, aors: Iterable[str] = ()) -> None:
        self._bindings: dict[str, dict[str, Binding]] = {}
        self._known: set[str] = set(aors)  # provisioned, or registered at least once

    def add_aor(self, aor: str) -> None:
        """Provision an address-of-record (it exists even with no binding)."""
        self._known.add(aor)

    def known(self, aor: str) -> bool:
        return aor in self._known

    def lookup(self, aor: str, now: float) -> list[Binding]:
        entries = self._bindings.get(aor)
        if not entries:
            return []
        live = [b for b in entries.values() if b.expires_at > now]
        if len(live) != len(entries):
            self._bindings[aor] = {k: b for k, b in entries.items() if b.expires_at > now}
        return sorted(live, key=lambda b: -(b.q if b.q is not None else 1.0))

    def put(self, binding: Binding) -> None:
        self._known.add(binding.aor)
        self._bindings.setdefault(binding.aor, {})[_binding_key(binding)] = binding

    def remove(self, aor: str, key: str | None = None) -> None:
        if key is None:
            self._bindings.pop(aor, None)
        else:
            self._bindings.get(aor, {}).pop(key, None)

    def get(self, aor: str, key: str) -> Binding | None:
        return self._bindings.get(aor, {}).get(key)

    def aors(self) -> list[str]:
        return list(self._bindings)

    def expire(self, now: float) -> list[Binding]:
        gone = []
        for aor in list(self._bindings):
            entries = self._bindings[aor]
            for k, b in list(entries.items()):
                if b.expires_at <= now:
                    gone.append(entries.pop(k))
            if not entries:
                del self._bindings[aor]
        return gone

    def __len__(self) -> int:
        return sum(len(v) for v in self._bindings.values())


def _binding_key(b: Binding) -> str:
    # RFC 5626 §6: with +sip.instance (and reg-id) the instance identifies the binding.
    if b.instance:
        return f"{b.instance};{b.reg_id or ''}"
    return _uri_key(b.uri) if isinstance(b.uri, SipURI) else str(b.uri)


def _uri_key(uri: SipURI) -> str:
    return f"{uri.scheme}:{uri.user or ''}@{uri.host.lower()}:{uri.port or ''}"


# What an IMS registrar (the S-CSCF) takes in a REGISTER's Require: path (RFC 3327, TS 24.229 §5.4.1.2.1),
# and sec-agree, which is the UE's and its P-CSCF's (RFC 3329 §2.3.1): one a P-CSCF left in is not refused.
IMS_REGISTRAR_EXTENSIONS = ("path", "sec-agree")


def refuse_unsupported(req: Request, supported: Iterable[str]) -> Response | None:
    """§10.3 step 2 / §8.2.2.3: a Require naming an extension not in ``supported`` gets 420 (Bad Extension)
    with those option tags in Unsupported; None when the request may go on. A malformed Require raises
    :class:`~ims.sip.errors.SipParseError` (400)."""
    known = set(supported)
    unsupported = [t for t in req.require if t not in known]
    if not unsupported:
        return None
    resp = build_response(req, 420, to_tag=new_tag())
    resp.add("Unsupported", ", ".join(unsupported))
    return resp


class Registrar:
    """A registrar's REGISTER processing (§10.3 steps 1-8) over a :class:`LocationService`.

    ``authenticate(request, now)`` returns a challenge (401/407/403 response) or None when the
    request may proceed; ``known_aor(aor)`` says whether an address-of-record exists (404 if
    not); ``aor_of(uri)`` canonicalises the To URI into the location service key.
    """

    def __init__(self, domains: Iterable[str], location: LocationService, *, min_expires: int = 60,
                 max_expires: int = 7200, default_expires: int = 3600,
                 authenticate: Callable[[Request, float], Response | None] | None = None,
                 known_aor: Callable[[str], bool] | None = None,
                 aor_of: Callable[[SipURI | TelURI], str] | None = None) -> None:
        self.domains = {d.lower() for d in domains}
        self.location = location
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self.authenticate = authenticate
        self.known_aor = known_aor
        self.aor_of = aor_of or (lambda uri: uri.aor)

    def handle(self, request: Request, now: float) -> Response:
        try:
            return self._handle(request, now)
        except SipError as exc:
            return build_response(request, exc.status, exc.reason, to_tag=new_tag())

    def _handle(self, req: Request, now: float) -> Response:
        if req.method != "REGISTER":
            raise SipError(f"{req.method} is not REGISTER", 405)
        # §10.3 step 1: is the Request-URI's domain ours?
        if isinstance(req.uri, SipURI) and self.domains and req.uri.host.lower() not in self.domains:
            raise SipError(f"Not the registrar for {req.uri.host}", 404)
        # step 2: Require
        refused = refuse_unsupported(req, ("path", "outbound", "gruu"))
        if refused is not None:
            return refused
        # step 3: authenticate
        if self.authenticate is not None:
            challenge = self.authenticate(req, now)
            if challenge is not None:
                return challenge
        # step 5: the address-of-record from To
        to_uri = req.to.uri
        if not isinstance(to_uri, (SipURI, TelURI)):
            raise SipError("To header is not a SIP or tel URI", 404)
        if isinstance(to_uri, SipURI) and self.domains and to_uri.host.lower() not in self.domains:
            raise SipError(f"Address-of-record {to_uri.aor} is not in this domain", 404)
        aor = self.aor_of(to_uri)
        if self.known_aor is not None and not self.known_aor(aor):
            raise SipError(f"Unknown address-of-record {aor}", 404)
        call_id, cseq = req.call_id, req.cseq.seq
        contacts = req.contacts
        header_expires = req.expires
        paths = [str(p) for p in req.paths]
        # step 6: '*' removes all bindings (§10.2.2)
        if any(c.is_star for c in contacts):
            if len(contacts) != 1:
                raise SipError("Contact '*' must be the only Contact (§10.3 step 6)", 400)
            if header_expires != 0:
                raise SipError("Contact '*' requires Expires: 0 (§10.2.2)", 400)
            for b in self.location.lookup(aor, now):
                if b.call_id == call_id and cseq <= b.cseq:
                    raise SipError("CSeq is not above the stored one for this Call-ID (§10.3 step 6)", 500)
            self.location.remove(aor)
            return self._ok(req, aor, now)
        # step 7: each contact
        updates: list[tuple[str, Binding | None, Binding]] = []
        for c in contacts:
            expires = c.expires if c.expires is not None else header_expires
            if expires is None:
                expires = self.default_expires
            if 0 < expires < self.min_expires:
                resp = build_response(req, 423, to_tag=new_tag())
                resp.add("Min-Expires", str(self.min_expires))
                return resp
            expires = min(expires, self.max_expires)
            assert c.address is not None
            params = {k: v for k, v in c.params.items() if k != "expires"}
            # The binding as the 200 will list it: the URI and its parameters (q, +sip.instance...).
            text = f"<{c.uri}>" + "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())
            binding = Binding(aor, c.uri, text, now + expires, call_id, cseq, c.q, c.instance,
                              c.params.get("reg-id"), paths, params)
            key = _binding_key(binding)
            existing = self.location.get(aor, key)
            if existing is not None and existing.call_id == call_id and cseq <= existing.cseq:
                raise SipError("CSeq is not above the stored one for this Call-ID (§10.3 step 7)", 500)
            if not expires:
                binding.expires_at = float("-inf")  # Expires 0: remove this binding
            updates.append((key, existing, binding))
        for key, _existing, binding in updates:
            if binding.expires_at <= now:
                self.location.remove(aor, key)
            else:
                self.location.put(binding)
        return self._ok(req, aor, now)

    def _ok(self, req: Request, aor: str, now: float) -> Response:
        resp = build_response(req, 200, to_tag=new_tag())
        for b in self.location.lookup(aor, now):
            resp.add("Contact", f"{b.contact};expires={b.remaining(now)}")
        if req.paths:
            for p in req.headers.get_raw("path"):
                resp.add("Path", p)  # RFC 3327 §5.3: echo Path
            resp.add("Supported", "path")
        return resp
