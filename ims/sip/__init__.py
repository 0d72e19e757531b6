"""SIP (RFC 3261 and extensions): messages, URIs, headers, transactions, dialogs, proxy and registrar cores."""

from ims.sip.errors import HeaderInjectionError, SipError, SipParseError, SipValueError
from ims.sip.headers import (
    Challenge, Contact, Credentials, CSeq, Headers, PAccessNetworkInfo, PChargingVector,
    SecurityMechanism, Via, split_values,
)
from ims.sip.limits import DEFAULT_LIMITS, SipLimits
from ims.sip.message import (
    REASONS, Request, Response, SipMessage, build_response, new_branch, new_call_id, new_tag, parse_message,
)
from ims.sip.uri import URI, AbsoluteURI, NameAddr, SipURI, TelURI, parse_uri

__all__ = [
    "DEFAULT_LIMITS", "REASONS", "URI", "AbsoluteURI", "CSeq", "Challenge", "Contact", "Credentials",
    "HeaderInjectionError", "Headers", "NameAddr", "PAccessNetworkInfo", "PChargingVector", "Request", "Response",
    "SecurityMechanism", "SipError", "SipLimits", "SipMessage", "SipParseError", "SipURI", "SipValueError",
    "TelURI", "Via", "build_response", "new_branch", "new_call_id", "new_tag", "parse_message", "parse_uri",
    "split_values",
]
