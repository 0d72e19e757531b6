"""Redirect server (RFC 3261 §8.3.1, §21.3): answer 3xx with the bindings as Contacts.

302 (Moved Temporarily) for one binding, 300 (Multiple Choices) for several,
each Contact with its q and remaining expires; 404 for an unknown
address-of-record and 480 when it is known but has no binding now.

Not here: the transaction (the caller sends the response on its server
transaction, e.g. through ``ProxyCore``'s ``local_requests``), ACK and CANCEL
(never redirected: the caller must not pass them in).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ims.sip.message import Request, Response, build_response, new_tag
from ims.sip.registrar import LocationService
from ims.sip.uri import URI


class RedirectServer:
    def __init__(self, location: LocationService, *, aor_of: Callable[[URI], str] | None = None,
                 known_aor: Callable[[str], bool] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.location = location
        self.aor_of = aor_of or (lambda uri: uri.aor)
        self.known_aor = known_aor
        self.clock = clock  # the same clock the registrar stamps bindings with

    def handle(self, request: Request, now: float | None = None) -> Response:
        """The 3xx/404/480 answer to ``request`` (§8.3.1), bindings taken at ``now``."""
        if now is None:
            now = self.clock()
        aor = self.aor_of(request.uri)
        bindings = self.location.lookup(aor, now)
        if not bindings:
            # §21.4.5 404: no such user here; §21.4.18 480: the user exists but is not reachable now.
            known = self.known_aor(aor) if self.known_aor else self.location.known(aor)
            return build_response(request, 480 if known else 404, to_tag=new_tag())
        resp = build_response(request, 300 if len(bindings) > 1 else 302, to_tag=new_tag())
        for b in bindings:  # highest q first (lookup order)
            resp.add("Contact", f"{b.contact};expires={b.remaining(now)}")
        return resp
