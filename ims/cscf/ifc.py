"""Initial Filter Criteria evaluation at the S-CSCF (TS 29.228 Annex B, TS 24.229 §5.4.3.2-5.4.3.3).

An iFC matches a request when every SPT of its trigger point matches (the
HSS sends one SPT per group, conjunctive normal form, so the groups are
ANDed); an iFC without a trigger point always matches.  SPTs:

* Method: equal (case-insensitive);
* Request-URI: the regular expression matches the Request-URI (Annex B.2.2
  uses "sip:..." prefix-like expressions; ``re.search`` is used);
* SIP header: the header is present, and its content matches when one is given;
* Session case: originating (0), terminating registered (1), terminating
  unregistered (2), originating unregistered (3), originating CDIV (4);
* SDP line/content: an SDP body line of that type matching the content.

iFCs are taken in priority order (lowest value first, Annex B.2.1); the
S-CSCF walks them one at a time and continues after the AS returns the
request (``first_match(..., after=priority)``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ims.diameter.userdata import Ifc
from ims.sip.message import Request

ORIGINATING, TERMINATING_REGISTERED, TERMINATING_UNREGISTERED = 0, 1, 2
ORIGINATING_UNREGISTERED, ORIGINATING_CDIV = 3, 4


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text, re.IGNORECASE) is not None
    except re.error:
        return pattern.lower() in text.lower()  # a bad expression matches as a literal


def matches(ifc: Ifc, request: Request, session_case: int) -> bool:
    """Do all the iFC's SPTs hold for ``request`` in ``session_case``?"""
    if ifc.method is not None and request.method.upper() != ifc.method.upper():
        return False
    if ifc.request_uri is not None and not _search(ifc.request_uri, str(request.uri)):
        return False
    if ifc.header is not None:
        values = request.get_all(ifc.header)
        if not values:
            return False
        if ifc.header_content and not any(_search(ifc.header_content, v) for v in values):
            return False
    if ifc.session_case is not None and ifc.session_case != session_case:
        return False
    if ifc.sdp_line is not None:
        body = request.body.decode("utf-8", "replace")
        prefix = f"{ifc.sdp_line}="
        lines = [ln[len(prefix):] for ln in body.splitlines() if ln.startswith(prefix)]
        if not lines or (ifc.sdp_content and not any(_search(ifc.sdp_content, ln) for ln in lines)):
            return False
    return True


def first_match(ifcs: Iterable[Ifc], request: Request, session_case: int, after: int | None = None) -> Ifc | None:
    """The matching iFC of lowest priority above ``after`` (None: from the start)."""
    for ifc in sorted(ifcs, key=lambda i: i.priority):
        if after is not None and ifc.priority <= after:
            continue
        if matches(ifc, request, session_case):
            return ifc
    return None
