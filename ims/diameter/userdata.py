"""The IMS subscription XML carried in Cx User-Data (3GPP TS 29.228 Annex E; iFCs per Annex B/F).

Two views of the same document:

* the full model - :class:`ImsSubscription` (PrivateID, ServiceProfiles),
  :class:`ServiceProfile` (PublicIdentities, InitialFilterCriteria),
  :class:`PublicIdentity` (BarringIndication, Identity, IdentityType,
  DisplayName), :class:`InitialFilterCriteria` (Priority, TriggerPoint,
  ApplicationServer, ProfilePartIndicator), :class:`TriggerPoint`
  (ConditionTypeCNF and SPTs) and :class:`Spt` (ConditionNegated, Group, and
  one of Method, RequestURI, SIPHeader, SessionCase, SessionDescription) -
  with ``to_xml()`` / ``from_xml()``;
* the flat one the HSS builds from its store - :class:`UserData` with
  :class:`Ifc` (one AND group of SPTs) - through ``build_user_data`` and
  ``parse_user_data``.

Implicit registration sets (TS 29.228 §6.1.2, TS 23.228 §4.3.3.3): the
document has no element for them; an SAA for a registration carries exactly
the identities of the set registered together, so
:meth:`ImsSubscription.implicit_set` is every identity of the document and
:meth:`ImsSubscription.restricted_to` makes the document for one set.

Not here: evaluating iFCs against a SIP request (the S-CSCF's job).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from typing import Any

SESSION_CASES = {"originating": 0, "terminating_registered": 1, "terminating_unregistered": 2,
                 "originating_unregistered": 3, "originating_cdiv": 4}
DEFAULT_HANDLING = {"session_continued": 0, "session_terminated": 1}
# IdentityType (Annex E): 0 public user identity, 1 distinct PSI, 2 wildcarded PSI, 3 wildcarded IMPU
PUBLIC_USER_IDENTITY, DISTINCT_PSI, WILDCARDED_PSI, WILDCARDED_IMPU = 0, 1, 2, 3


class UserDataError(ValueError):
    """The User-Data is not a TS 29.228 Annex E document (the S-CSCF answers 5004 on such a PPR/SAA)."""


# -- the full model -------------------------------------------------------------
@dataclass(frozen=True)
class Spt:
    """A Service Point Trigger (Annex B.2.2 / E): exactly one of the condition fields is set."""

    method: str | None = None
    request_uri: str | None = None
    sip_header: str | None = None  # SIPHeader/Header
    sip_header_content: str | None = None  # SIPHeader/Content (a regular expression)
    session_case: int | None = None
    session_description_line: str | None = None  # SessionDescription/Line (e.g. "m")
    session_description_content: str | None = None
    condition_negated: bool = False
    groups: tuple[int, ...] = (0,)

    def _to_xml(self, parent: ET.Element) -> None:
        spt = ET.SubElement(parent, "SPT")
        ET.SubElement(spt, "ConditionNegated").text = "1" if self.condition_negated else "0"
        for g in self.groups:
            ET.SubElement(spt, "Group").text = str(g)
        if self.method is not None:
            ET.SubElement(spt, "Method").text = self.method
        elif self.request_uri is not None:
            ET.SubElement(spt, "RequestURI").text = self.request_uri
        elif self.sip_header is not None:
            hdr = ET.SubElement(spt, "SIPHeader")
            ET.SubElement(hdr, "Header").text = self.sip_header
            if self.sip_header_content is not None:
                ET.SubElement(hdr, "Content").text = self.sip_header_content
        elif self.session_case is not None:
            ET.SubElement(spt, "SessionCase").text = str(self.session_case)
        elif self.session_description_line is not None:
            sd = ET.SubElement(spt, "SessionDescription")
            ET.SubElement(sd, "Line").text = self.session_description_line
            if self.session_description_content is not None:
                ET.SubElement(sd, "Content").text = self.session_description_content
        else:
            raise UserDataError("an SPT needs one condition")

    @classmethod
    def _from_xml(cls, el: ET.Element) -> Spt:
        case = el.findtext("SessionCase")
        spt = cls(method=el.findtext("Method"), request_uri=el.findtext("RequestURI"),
                  sip_header=el.findtext("SIPHeader/Header"), sip_header_content=el.findtext("SIPHeader/Content"),
                  session_case=_int(case, "SessionCase") if case is not None else None,
                  session_description_line=el.findtext("SessionDescription/Line"),
                  session_description_content=el.findtext("SessionDescription/Content"),
                  condition_negated=el.findtext("ConditionNegated") in ("1", "true"),
                  groups=tuple(_int(g.text, "Group") for g in el.findall("Group")) or (0,))
        if not any(v is not None for v in (spt.method, spt.request_uri, spt.sip_header, spt.session_case,
                                           spt.session_description_line)):
            raise UserDataError("an SPT has no condition")
        return spt


@dataclass(frozen=True)
class TriggerPoint:
    """ConditionTypeCNF true: groups ANDed, SPTs within a group ORed; false (DNF): the reverse (Annex B.2.2)."""

    condition_type_cnf: bool
    spts: tuple[Spt, ...]


@dataclass(frozen=True)
class ApplicationServer:
    server_name: str
    default_handling: int = 0  # SESSION_CONTINUED
    service_info: str | None = None


@dataclass(frozen=True)
class InitialFilterCriteria:
    priority: int
    application_server: ApplicationServer
    trigger_point: TriggerPoint | None = None  # none: every initial request matches
    profile_part_indicator: int | None = None  # 0 REGISTERED, 1 UNREGISTERED

    def _to_xml(self, parent: ET.Element) -> None:
        node = ET.SubElement(parent, "InitialFilterCriteria")
        ET.SubElement(node, "Priority").text = str(self.priority)
        if self.trigger_point is not None:
            tp = ET.SubElement(node, "TriggerPoint")
            ET.SubElement(tp, "ConditionTypeCNF").text = "1" if self.trigger_point.condition_type_cnf else "0"
            for spt in self.trigger_point.spts:
                spt._to_xml(tp)
        as_ = ET.SubElement(node, "ApplicationServer")
        ET.SubElement(as_, "ServerName").text = self.application_server.server_name
        ET.SubElement(as_, "DefaultHandling").text = str(self.application_server.default_handling)
        if self.application_server.service_info is not None:
            ET.SubElement(as_, "ServiceInfo").text = self.application_server.service_info
        if self.profile_part_indicator is not None:
            ET.SubElement(node, "ProfilePartIndicator").text = str(self.profile_part_indicator)

    @classmethod
    def _from_xml(cls, el: ET.Element) -> InitialFilterCriteria:
        tp_el = el.find("TriggerPoint")
        tp = None
        if tp_el is not None:
            tp = TriggerPoint(tp_el.findtext("ConditionTypeCNF") in ("1", "true"),
                              tuple(Spt._from_xml(s) for s in tp_el.findall("SPT")))
        as_el = el.find("ApplicationServer")
        if as_el is None or not as_el.findtext("ServerName"):
            raise UserDataError("InitialFilterCriteria without ApplicationServer/ServerName")
        ppi = el.findtext("ProfilePartIndicator")
        return cls(_int(el.findtext("Priority"), "Priority"),
                   ApplicationServer(as_el.findtext("ServerName") or "",
                                     _int(as_el.findtext("DefaultHandling") or "0", "DefaultHandling"),
                                     as_el.findtext("ServiceInfo")),
                   tp, _int(ppi, "ProfilePartIndicator") if ppi is not None else None)


@dataclass(frozen=True)
class PublicIdentity:
    identity: str
    barring_indication: bool = False
    identity_type: int | None = None
    display_name: str | None = None

    def _to_xml(self, parent: ET.Element) -> None:
        pi = ET.SubElement(parent, "PublicIdentity")
        if self.barring_indication:
            ET.SubElement(pi, "BarringIndication").text = "1"
        ET.SubElement(pi, "Identity").text = self.identity
        if self.identity_type is not None or self.display_name is not None:
            ext = ET.SubElement(pi, "Extension")
            ET.SubElement(ext, "IdentityType").text = str(self.identity_type or 0)
            if self.display_name is not None:
                ET.SubElement(ET.SubElement(ext, "Extension"), "DisplayName").text = self.display_name

    @classmethod
    def _from_xml(cls, el: ET.Element) -> PublicIdentity:
        ident = el.findtext("Identity")
        if not ident:
            raise UserDataError("PublicIdentity without Identity")
        itype = el.findtext("Extension/IdentityType")
        return cls(ident, el.findtext("BarringIndication") in ("1", "true"),
                   _int(itype, "IdentityType") if itype is not None else None,
                   el.findtext("Extension/Extension/DisplayName"))


@dataclass(frozen=True)
class ServiceProfile:
    public_identities: tuple[PublicIdentity, ...]
    ifcs: tuple[InitialFilterCriteria, ...] = ()
    subscribed_media_profile_id: int | None = None  # CoreNetworkServicesAuthorization

    def _to_xml(self, parent: ET.Element) -> None:
        sp = ET.SubElement(parent, "ServiceProfile")
        for pi in self.public_identities:
            pi._to_xml(sp)
        if self.subscribed_media_profile_id is not None:
            cnsa = ET.SubElement(sp, "CoreNetworkServicesAuthorization")
            ET.SubElement(cnsa, "SubscribedMediaProfileId").text = str(self.subscribed_media_profile_id)
        for ifc in sorted(self.ifcs, key=lambda i: i.priority):
            ifc._to_xml(sp)

    @classmethod
    def _from_xml(cls, el: ET.Element) -> ServiceProfile:
        media = el.findtext("CoreNetworkServicesAuthorization/SubscribedMediaProfileId")
        pis = tuple(PublicIdentity._from_xml(p) for p in el.findall("PublicIdentity"))
        if not pis:
            raise UserDataError("ServiceProfile without PublicIdentity")
        return cls(pis, tuple(InitialFilterCriteria._from_xml(i) for i in el.findall("InitialFilterCriteria")),
                   _int(media, "SubscribedMediaProfileId") if media is not None else None)


@dataclass(frozen=True)
class ImsSubscription:
    private_id: str
    service_profiles: tuple[ServiceProfile, ...]

    def to_xml(self) -> str:
        root = ET.Element("IMSSubscription")
        ET.SubElement(root, "PrivateID").text = self.private_id
        for sp in self.service_profiles:
            sp._to_xml(root)
        return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")

    @classmethod
    def from_xml(cls, xml: str | bytes) -> ImsSubscription:
        # Untrusted (DESIGN §6a): an Annex E document has no DTD, so none is parsed (entity expansion
        # costs expat ~0.3 s before its amplification limit stops it); an unknown declared encoding is
        # expat's LookupError.
        if (b"<!DOCTYPE" if isinstance(xml, bytes) else "<!DOCTYPE") in xml:
            raise UserDataError("User-Data with a DTD (TS 29.228 Annex E has none)")
        try:
            root = ET.fromstring(xml)
        except (ET.ParseError, LookupError, ValueError) as exc:
            raise UserDataError(f"User-Data is not XML: {exc}"[:200]) from None
        if root.tag != "IMSSubscription":
            raise UserDataError(f"User-Data root is <{root.tag}>, not <IMSSubscription>")
        profiles = tuple(ServiceProfile._from_xml(sp) for sp in root.findall("ServiceProfile"))
        if not profiles:
            raise UserDataError("IMSSubscription without ServiceProfile")
        return cls(root.findtext("PrivateID") or "", profiles)

    def public_identities(self) -> list[PublicIdentity]:
        return [pi for sp in self.service_profiles for pi in sp.public_identities]

    def profile_of(self, impu: str) -> ServiceProfile | None:
        """The service profile ``impu`` belongs to (its iFCs apply to requests for it)."""
        for sp in self.service_profiles:
            if any(pi.identity == impu for pi in sp.public_identities):
                return sp
        return None

    def implicit_set(self) -> list[str]:
        """The identities registered together: every one in the SAA's document (TS 29.228 §6.1.2)."""
        return [pi.identity for pi in self.public_identities()]

    def restricted_to(self, impus: list[str] | set[str]) -> ImsSubscription:
        """The document for one implicit registration set: only its identities and their profiles."""
        keep = set(impus)
        profiles = []
        for sp in self.service_profiles:
            pis = tuple(pi for pi in sp.public_identities if pi.identity in keep)
            if pis:
                profiles.append(replace(sp, public_identities=pis))
        return ImsSubscription(self.private_id, tuple(profiles))


def _int(text: str | None, what: str) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise UserDataError(f"{what} is not a number: {text!r}") from None


# -- the flat view the HSS store uses ------------------------------------------
@dataclass
class Ifc:
    """One iFC with its SPTs ANDed (one group per SPT under CNF)."""

    priority: int
    server: str
    default_handling: int = 0
    method: str | None = None
    request_uri: str | None = None
    header: str | None = None
    header_content: str | None = None
    session_case: int | None = None
    sdp_line: str | None = None
    sdp_content: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ifc:
        trig = d.get("trigger", {})
        case = trig.get("session_case")
        return cls(int(d["priority"]), d["server"], DEFAULT_HANDLING.get(d.get("default_handling", ""), 0),
                   trig.get("method"), trig.get("request_uri"), trig.get("header"), trig.get("header_content"),
                   SESSION_CASES[case] if case is not None else None, trig.get("sdp_line"), trig.get("sdp_content"))

    def to_ifc(self) -> InitialFilterCriteria:
        spts = []
        if self.method is not None:
            spts.append(Spt(method=self.method))
        if self.request_uri is not None:
            spts.append(Spt(request_uri=self.request_uri))
        if self.header is not None:
            spts.append(Spt(sip_header=self.header, sip_header_content=self.header_content))
        if self.session_case is not None:
            spts.append(Spt(session_case=self.session_case))
        if self.sdp_line is not None:
            spts.append(Spt(session_description_line=self.sdp_line, session_description_content=self.sdp_content))
        # CNF with one SPT per group: the groups are ANDed.
        spts = [replace(s, groups=(i,)) for i, s in enumerate(spts)]
        return InitialFilterCriteria(self.priority, ApplicationServer(self.server, self.default_handling),
                                     TriggerPoint(True, tuple(spts)) if spts else None)

    @classmethod
    def from_ifc(cls, ifc: InitialFilterCriteria) -> Ifc:
        out = cls(ifc.priority, ifc.application_server.server_name, ifc.application_server.default_handling)
        for spt in ifc.trigger_point.spts if ifc.trigger_point else ():
            if spt.method is not None:
                out.method = spt.method
            if spt.request_uri is not None:
                out.request_uri = spt.request_uri
            if spt.sip_header is not None:
                out.header, out.header_content = spt.sip_header, spt.sip_header_content
            if spt.session_case is not None:
                out.session_case = spt.session_case
            if spt.session_description_line is not None:
                out.sdp_line, out.sdp_content = spt.session_description_line, spt.session_description_content
        return out


@dataclass
class UserData:
    impi: str
    impus: list[str]
    ifcs: list[Ifc] = field(default_factory=list)
    barred: set[str] = field(default_factory=set)

    def to_subscription(self) -> ImsSubscription:
        pis = tuple(PublicIdentity(u, u in self.barred) for u in self.impus)
        return ImsSubscription(self.impi, (ServiceProfile(pis, tuple(i.to_ifc() for i in self.ifcs)),))


def build_user_data(data: UserData) -> str:
    """The Annex E document for one service profile (what the HSS puts in SAA / PPR User-Data)."""
    return data.to_subscription().to_xml()


def parse_user_data(xml: str | bytes) -> UserData:
    """The flat view of an Annex E document (every profile's identities and iFCs together)."""
    sub = ImsSubscription.from_xml(xml)
    data = UserData(sub.private_id, [])
    for pi in sub.public_identities():
        data.impus.append(pi.identity)
        if pi.barring_indication:
            data.barred.add(pi.identity)
    data.ifcs = [Ifc.from_ifc(i) for sp in sub.service_profiles for i in sp.ifcs]
    return data
