"""Redirect server (RFC 3261 §8.3.1, §21.3): answer 3xx with the bindings as Contacts.

302 for one binding, 300 for several (with their q values); 404 for an
unknown address-of-record and 480 when it is known but has no bindings now.
"""

from __future__ import annotations

from collections.abc import Callable

from ims.sip.message import Request, Response, build_response, new_tag
from ims.sip.registrar import LocationService
from ims.sip.uri import URI


class RedirectServer:
    def __init__(self, location: LocationService, *, aor_of: Callable[[URI], str] | None = None,
                 known_aor: Callable[[str], bool] | None = None) -> None:
        self.location = location
        self.aor_of = aor_of or (lambda uri: uri.aor)
        self.known_aor = known_aor

    def handle(self, request: Request, now: float) -> Response:
        aor = self.aor_of(request.uri)
        bindings = self.location.lookup(aor, now)
        if not bindings:
            known = self.known_aor(aor) if self.known_aor else False
            return build_response(request, 480 if known else 404, to_tag=new_tag())
        resp = build_response(request, 300 if len(bindings) > 1 else 302, to_tag=new_tag())
        for b in bindings:
            q = f";q={b.q}" if b.q is not None else ""
            resp.add("Contact", f"{b.contact}{q};expires={b.remaining(now)}")
        return resp
