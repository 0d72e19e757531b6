"""ISUP (ITU-T Q.763) and M3UA (RFC 4666) through pycrate, SIP-I bodies and SIP<->ISUP mapping.

Sans-IO: everything here takes bytes (and a clock) and returns bytes and events.
``messages`` ISUP values and codec; ``m3ua`` the M3UA codec, framer and ASP/SGP
state machines; ``mapping`` the interworking tables; ``sipi`` multipart bodies.
"""

from ims.isup.m3ua import (
    AspState,
    IsupReceived,
    M3uaAsp,
    M3uaError,
    M3uaFramer,
    M3uaProblem,
    M3uaSgp,
    Notified,
    SendBytes,
    StateChanged,
    decode_m3ua,
    encode_m3ua,
)
from ims.isup.mapping import (
    CAUSE_TO_SIP,
    SIP_TO_CAUSE,
    acm_to_sip_status,
    cause_location_for_status,
    cause_to_sip_status,
    cpg_event_to_sip_status,
    isup_to_tel,
    sip_provisional_to_isup,
    sip_status_to_cause,
    tel_to_isup,
)
from ims.isup.messages import (
    BackwardCallIndicators,
    Cause,
    ForwardCallIndicators,
    GenericNumber,
    IsupError,
    IsupMessage,
    MessageType,
    NatureOfConnection,
    PartyNumber,
    acm,
    anm,
    con,
    cpg,
    decode,
    encode,
    iam,
    rel,
    res,
    rlc,
    sam,
    sus,
)
from ims.isup.sipi import ISUP_CONTENT_TYPE, make_sipi_body, split_sipi_body

__all__ = [
    "CAUSE_TO_SIP", "ISUP_CONTENT_TYPE", "SIP_TO_CAUSE", "AspState", "BackwardCallIndicators", "Cause",
    "ForwardCallIndicators", "GenericNumber", "IsupError", "IsupMessage", "IsupReceived", "M3uaAsp",
    "M3uaError", "M3uaFramer", "M3uaProblem", "M3uaSgp", "MessageType", "NatureOfConnection", "Notified",
    "PartyNumber", "SendBytes", "StateChanged", "acm", "acm_to_sip_status", "anm", "cause_location_for_status",
    "cause_to_sip_status", "con", "cpg", "cpg_event_to_sip_status", "decode", "decode_m3ua", "encode",
    "encode_m3ua", "iam", "isup_to_tel", "make_sipi_body", "rel", "res", "rlc", "sam",
    "sip_provisional_to_isup", "sip_status_to_cause", "split_sipi_body", "sus", "tel_to_isup",
]
