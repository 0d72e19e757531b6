"""SIP <-> ISUP interworking tables for the MGCF, as data: causes, numbers, early media.

What this is for: the MGCF turns a REL cause into a SIP final response (call
from IMS to the PSTN), a SIP 4xx-6xx into a REL cause (call from the PSTN into
IMS), tel URIs into ISUP numbers and back, and ACM/CPG into 180/183 and back.
Not here: the call state machine that decides *when* to map (``nodes/mgcf``).

Sources.  ITU-T Q.1912.5 and 3GPP TS 29.163 (§7.2.3) carry these tables for
SIP-I; their text is not in this project's reference library, so every row
below is taken from, and cited to, the IETF tables they grew from: RFC 3398
§8.2.6.1 "SIP Status Code to ISDN Cause Code Mapping" (a call from the PSTN
gets a 4xx-6xx: which cause goes in the REL; status codes not listed map to 31
"normal, unspecified"; 6xx get location "user", 4xx/5xx a network location)
and RFC 3398 §7.2.4.1 "ISDN Cause Code to SIP Status Code Mapping" (a call to
the PSTN gets a REL: which final response).  The ``note`` of a row says where
RFC 3398 gives no code and what is done instead.  TS 29.163 differs on some
rows (it prefers 127 "interworking" for several 4xx); check its tables before
relying on a row for conformance testing.  When a SIP-I response carries an
encapsulated REL, its cause is used instead of any table (RFC 3398 §8.2.6.1).
"""

from __future__ import annotations

import re

from ims.isup.messages import BackwardCallIndicators, MessageType, PartyNumber

__all__ = [
    "CAUSE_TO_SIP", "CPG_EVENT_TO_SIP", "SIP_TO_CAUSE", "acm_to_sip_status", "cause_location_for_status",
    "cause_to_sip_status", "cpg_event_to_sip_status", "isup_to_tel", "sip_provisional_to_isup",
    "sip_status_to_cause", "tel_to_isup",
]

# --- causes --------------------------------------------------------------------------------------

# (SIP status received, Q.850 cause value to send in REL, note) -- RFC 3398 §8.2.6.1
SIP_TO_CAUSE: list[tuple[int, int, str]] = [
    (400, 41, "Bad Request -> temporary failure"),
    (401, 21, "Unauthorized -> call rejected"),
    (402, 21, "Payment Required -> call rejected"),
    (403, 21, "Forbidden -> call rejected"),
    (404, 1, "Not Found -> unallocated number"),
    (405, 63, "Method Not Allowed -> service or option unavailable"),
    (406, 79, "Not Acceptable -> service/option not implemented"),
    (407, 21, "Proxy Authentication Required -> call rejected"),
    (408, 102, "Request Timeout -> recovery on timer expiry"),
    (410, 22, "Gone -> number changed (without diagnostic)"),
    (413, 127, "Request Entity Too Large -> interworking"),
    (414, 127, "Request-URI Too Long -> interworking"),
    (415, 79, "Unsupported Media Type -> service/option not implemented"),
    (416, 127, "Unsupported URI Scheme -> interworking"),
    (420, 127, "Bad Extension -> interworking"),
    (421, 127, "Extension Required -> interworking"),
    (423, 127, "Interval Too Brief -> interworking"),
    (480, 18, "Temporarily Unavailable -> no user responding"),
    (481, 41, "Call/Transaction Does Not Exist -> temporary failure"),
    (482, 25, "Loop Detected -> exchange routing error"),
    (483, 25, "Too Many Hops -> exchange routing error"),
    (484, 28, "Address Incomplete -> invalid number format"),
    (485, 1, "Ambiguous -> unallocated number"),
    (486, 17, "Busy Here -> user busy"),
    (487, 31, "Request Terminated: RFC 3398 gives no mapping (the MGCF cancelled it itself); default 31"),
    (488, 31, "Not Acceptable Here: RFC 3398 maps by the Warning header; default 31 without one"),
    (500, 41, "Server Internal Error -> temporary failure"),
    (501, 79, "Not Implemented -> service/option not implemented"),
    (502, 38, "Bad Gateway -> network out of order"),
    (503, 41, "Service Unavailable -> temporary failure"),
    (504, 102, "Server Time-out -> recovery on timer expiry"),
    (505, 127, "Version Not Supported -> interworking"),
    (513, 127, "Message Too Large -> interworking"),
    (600, 17, "Busy Everywhere -> user busy"),
    (603, 21, "Decline -> call rejected"),
    (604, 1, "Does Not Exist Anywhere -> unallocated number"),
    (606, 58, "Not Acceptable -> bearer capability not presently available"),
]

# (Q.850 cause value received in REL, SIP final status to send or None, note) -- RFC 3398 §7.2.4.1
CAUSE_TO_SIP: list[tuple[int, int | None, str]] = [
    (1, 404, "unallocated number -> Not Found"),
    (2, 404, "no route to network -> Not Found"),
    (3, 404, "no route to destination -> Not Found"),
    (16, None, "normal call clearing: BYE or CANCEL, no final response; 480 if one is owed"),
    (17, 486, "user busy -> Busy Here"),
    (18, 408, "no user responding -> Request Timeout"),
    (19, 480, "no answer from the user -> Temporarily Unavailable"),
    (20, 480, "subscriber absent -> Temporarily Unavailable"),
    (21, 403, "call rejected -> Forbidden"),
    (22, 410, "number changed (without diagnostic) -> Gone"),
    (23, 410, "redirection to new destination -> Gone"),
    (26, 404, "non-selected user clearing -> Not Found"),
    (27, 502, "destination out of order -> Bad Gateway"),
    (28, 484, "address incomplete -> Address Incomplete"),
    (29, 501, "facility rejected -> Not Implemented"),
    (31, 480, "normal, unspecified -> Temporarily Unavailable"),
    (34, 503, "no circuit available -> Service Unavailable"),
    (38, 503, "network out of order -> Service Unavailable"),
    (41, 503, "temporary failure -> Service Unavailable"),
    (42, 503, "switching equipment congestion -> Service Unavailable"),
    (47, 503, "resource unavailable -> Service Unavailable"),
    (55, 403, "incoming calls barred within CUG -> Forbidden"),
    (57, 403, "bearer capability not authorized -> Forbidden"),
    (58, 503, "bearer capability not presently available -> Service Unavailable"),
    (65, 488, "bearer capability not implemented -> Not Acceptable Here"),
    (70, 488, "only restricted digital bearer available -> Not Acceptable Here"),
    (79, 501, "service or option not implemented -> Not Implemented"),
    (87, 403, "user not member of CUG -> Forbidden"),
    (88, 503, "incompatible destination -> Service Unavailable"),
    (102, 504, "recovery on timer expiry -> Server Time-out"),
    (111, 500, "protocol error, unspecified -> Server Internal Error"),
    (127, 500, "interworking, unspecified -> Server Internal Error"),
]

_SIP_TO_CAUSE = {status: cause for status, cause, _ in SIP_TO_CAUSE}
_CAUSE_TO_SIP = {cause: status for cause, status, _ in CAUSE_TO_SIP}
DEFAULT_CAUSE = 31  # normal, unspecified: any 4xx-6xx not in the table (RFC 3398 §8.2.6.1)
DEFAULT_STATUS = 500  # any cause not in the table, as for 111 and 127 (our choice)
NORMAL_CLEARING_STATUS = 480  # cause 16 before answer, when a final response is still owed


def sip_status_to_cause(status: int) -> int:
    """The REL cause for a SIP final failure response (RFC 3398 §8.2.6.1)."""
    if not 400 <= status <= 699:
        raise ValueError(f"SIP status {status} is not a 4xx-6xx failure")
    return _SIP_TO_CAUSE.get(status, DEFAULT_CAUSE)


def cause_location_for_status(status: int) -> int:
    """Q.850 location for that cause: 0 user for 6xx, 2 (public network serving the local user) else."""
    return 0 if 600 <= status <= 699 else 2


def cause_to_sip_status(cause: int) -> int:
    """The SIP final status for a REL cause (RFC 3398 §7.2.4.1); 16 gives 480 (see the table)."""
    if not 0 <= cause <= 127:
        raise ValueError(f"cause value {cause} outside 0..127 (Q.850)")
    status = _CAUSE_TO_SIP.get(cause, DEFAULT_STATUS)
    return NORMAL_CLEARING_STATUS if status is None else status


# --- numbers (Q.763 §3.9/§3.10 nature of address; RFC 3966 tel URIs) -----------------------------

SUBSCRIBER, UNKNOWN, NATIONAL, INTERNATIONAL = 1, 2, 3, 4
_VISUAL = re.compile(r"[-.()\s]")  # RFC 3966 §5.1.1 visual separators


def _digits_of(tel: str) -> str:
    number = tel.strip()
    if number[:4].lower() == "tel:":
        number = number[4:]
    number = _VISUAL.sub("", number.split(";", 1)[0])
    body = number.removeprefix("+")
    if not body.isdigit():
        raise ValueError(f"not a telephone number: {tel!r}")
    return number


def tel_to_isup(tel: str, *, country_code: str, national_prefix: str = "0", national_format: bool = False,
                presentation: int = 0) -> PartyNumber:
    """A tel URI / E.164 string as an ISUP number.

    ``+<cc><nsn>`` is international (4), or national (3) with ``national_format``
    when the country code is ours; a local number starting with the national
    prefix is national without the prefix; other local digits are a subscriber
    number (1).
    """
    number = _digits_of(tel)
    if number.startswith("+"):
        if national_format and number[1:].startswith(country_code):
            return PartyNumber(number[1 + len(country_code):], NATIONAL, presentation=presentation)
        return PartyNumber(number[1:], INTERNATIONAL, presentation=presentation)
    if national_prefix and number.startswith(national_prefix):
        return PartyNumber(number[len(national_prefix):], NATIONAL, presentation=presentation)
    return PartyNumber(number, SUBSCRIBER, presentation=presentation)


def isup_to_tel(num: PartyNumber, *, country_code: str, national_prefix: str = "0") -> str:
    """An ISUP number as a global ``+`` number where it can be, else the digits as given."""
    digits = num.digits.rstrip("F")  # ST ends the address, it is not part of it
    if num.nature_of_address == INTERNATIONAL:
        return "+" + digits
    if num.nature_of_address == NATIONAL:
        return "+" + country_code + digits
    if num.nature_of_address == UNKNOWN and national_prefix and digits.startswith(national_prefix):
        return "+" + country_code + digits[len(national_prefix):]
    return digits


# --- early media and ringing (RFC 3398 §7: ACM/CPG received; §8: 18x received) ---------------------

# (CPG event information, SIP provisional status) -- Q.763 §3.21 events
CPG_EVENT_TO_SIP: list[tuple[int, int, str]] = [
    (1, 180, "alerting -> Ringing"),
    (2, 183, "progress -> Session Progress"),
    (3, 183, "in-band information available -> Session Progress"),
    (4, 181, "call forwarded on busy -> Call Is Being Forwarded"),
    (5, 181, "call forwarded on no reply -> Call Is Being Forwarded"),
    (6, 181, "call forwarded unconditional -> Call Is Being Forwarded"),
]
_CPG_EVENT_TO_SIP = {event: status for event, status, _ in CPG_EVENT_TO_SIP}
SUBSCRIBER_FREE = 1  # called party status, Q.763 §3.5


def acm_to_sip_status(backward_call_indicators: BackwardCallIndicators) -> int:
    """180 when the ACM says "subscriber free" (the line is ringing), else 183."""
    return 180 if backward_call_indicators.called_party_status == SUBSCRIBER_FREE else 183


def cpg_event_to_sip_status(event: int) -> int:
    """The provisional response for a CPG event; unknown events give 183."""
    return _CPG_EVENT_TO_SIP.get(event, 183)


def sip_provisional_to_isup(status: int, *, acm_sent: bool) -> tuple[MessageType, int] | None:
    """What to send towards the PSTN for a 18x: ``(ACM, called party status)`` or ``(CPG, event)``.

    180 gives ACM "subscriber free" (1), or CPG "alerting" (1) once an ACM went;
    181-183 give ACM "no indication" (0), or CPG "progress" (2).  100 and other
    codes give None: nothing is sent.
    """
    if status == 180:
        return (MessageType.CPG, 1) if acm_sent else (MessageType.ACM, SUBSCRIBER_FREE)
    if status in (181, 182, 183):
        return (MessageType.CPG, 2) if acm_sent else (MessageType.ACM, 0)
    return None
