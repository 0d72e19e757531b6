"""The IMS subscription XML carried in Cx User-Data (3GPP TS 29.228 Annex E).

``build_user_data`` makes the ``<IMSSubscription>`` document the S-CSCF
receives in the SAA; ``parse_user_data`` reads one back.  iFCs follow Annex
B/E: priority, a TriggerPoint of SPTs (method, Request-URI, SIP header,
session case) and an ApplicationServer with DefaultHandling.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

SESSION_CASES = {"originating": 0, "terminating_registered": 1, "terminating_unregistered": 2,
                 "originating_unregistered": 3, "originating_cdiv": 4}
DEFAULT_HANDLING = {"session_continued": 0, "session_terminated": 1}


@dataclass
class Ifc:
    priority: int
    server: str
    default_handling: int = 0
    method: str | None = None
    request_uri: str | None = None
    header: str | None = None
    header_content: str | None = None
    session_case: int | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ifc:
        trig = d.get("trigger", {})
        case = trig.get("session_case")
        return cls(int(d["priority"]), d["server"], DEFAULT_HANDLING.get(d.get("default_handling", ""), 0),
                   trig.get("method"), trig.get("request_uri"), trig.get("header"), trig.get("header_content"),
                   SESSION_CASES[case] if case is not None else None)


@dataclass
class UserData:
    impi: str
    impus: list[str]
    ifcs: list[Ifc] = field(default_factory=list)
    barred: set[str] = field(default_factory=set)


def build_user_data(data: UserData) -> str:
    root = ET.Element("IMSSubscription")
    ET.SubElement(root, "PrivateID").text = data.impi
    sp = ET.SubElement(root, "ServiceProfile")
    for impu in data.impus:
        pi = ET.SubElement(sp, "PublicIdentity")
        if impu in data.barred:
            ET.SubElement(pi, "BarringIndication").text = "1"
        ET.SubElement(pi, "Identity").text = impu
    for ifc in sorted(data.ifcs, key=lambda i: i.priority):
        node = ET.SubElement(sp, "InitialFilterCriteria")
        ET.SubElement(node, "Priority").text = str(ifc.priority)
        spts = [(tag, value) for tag, value in (("Method", ifc.method), ("RequestURI", ifc.request_uri),
                                                 ("SessionCase", ifc.session_case)) if value is not None]
        if spts or ifc.header:
            tp = ET.SubElement(node, "TriggerPoint")
            ET.SubElement(tp, "ConditionTypeCNF").text = "1"  # one group: the SPTs are ANDed
            for tag, value in spts:
                spt = ET.SubElement(tp, "SPT")
                ET.SubElement(spt, "ConditionNegated").text = "0"
                ET.SubElement(spt, "Group").text = "0"
                ET.SubElement(spt, tag).text = str(value)
            if ifc.header:
                spt = ET.SubElement(tp, "SPT")
                ET.SubElement(spt, "ConditionNegated").text = "0"
                ET.SubElement(spt, "Group").text = "0"
                hdr = ET.SubElement(spt, "SIPHeader")
                ET.SubElement(hdr, "Header").text = ifc.header
                if ifc.header_content:
                    ET.SubElement(hdr, "Content").text = ifc.header_content
        as_ = ET.SubElement(node, "ApplicationServer")
        ET.SubElement(as_, "ServerName").text = ifc.server
        ET.SubElement(as_, "DefaultHandling").text = str(ifc.default_handling)
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


def parse_user_data(xml: str | bytes) -> UserData:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ValueError(f"User-Data is not XML: {exc}") from None
    if root.tag != "IMSSubscription":
        raise ValueError(f"User-Data root is <{root.tag}>, not <IMSSubscription>")
    data = UserData(root.findtext("PrivateID") or "", [])
    for pi in root.iter("PublicIdentity"):
        ident = pi.findtext("Identity") or ""
        data.impus.append(ident)
        if pi.findtext("BarringIndication") == "1":
            data.barred.add(ident)
    for node in root.iter("InitialFilterCriteria"):
        ifc = Ifc(int(node.findtext("Priority") or 0), node.findtext("ApplicationServer/ServerName") or "",
                  int(node.findtext("ApplicationServer/DefaultHandling") or 0))
        for spt in node.iter("SPT"):
            if spt.find("Method") is not None:
                ifc.method = spt.findtext("Method")
            if spt.find("RequestURI") is not None:
                ifc.request_uri = spt.findtext("RequestURI")
            if spt.find("SessionCase") is not None:
                ifc.session_case = int(spt.findtext("SessionCase") or 0)
            if spt.find("SIPHeader") is not None:
                ifc.header = spt.findtext("SIPHeader/Header")
                ifc.header_content = spt.findtext("SIPHeader/Content")
        data.ifcs.append(ifc)
    return data
