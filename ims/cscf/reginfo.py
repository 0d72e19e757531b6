"""The reg event package document: application/reginfo+xml (RFC 3680 §5.3-5.4).

The S-CSCF sends one in every NOTIFY of a reg-event subscription (TS 24.229
§5.4.2.1.2): a ``full`` document with each public identity of the implicit
set, its state (``init``, ``active``, ``terminated``) and its contacts with
their state and the event that changed it (``registered``, ``created``,
``refreshed``, ``shortened``, ``expired``, ``deactivated``, ``probation``,
``unregistered``, ``rejected``).  The UE and the P-CSCF parse it to learn
that a registration ended (RFC 3680 §5.4, TS 24.229 §5.1.1.3, §5.2.3).

Hand-written with ElementTree: the schema is small and no maintained
package models it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS = "urn:ietf:params:xml:ns:reginfo"
CONTENT_TYPE = "application/reginfo+xml"


class ReginfoError(ValueError):
    """The body is not a reginfo document (the UA answers the NOTIFY 400 with this reason)."""


@dataclass(frozen=True, slots=True)
class ContactInfo:
    uri: str
    state: str = "active"  # active | terminated
    event: str = "registered"
    id: str = ""
    expires: int | None = None


@dataclass(frozen=True, slots=True)
class RegistrationInfo:
    aor: str
    state: str  # init | active | terminated
    id: str = ""
    contacts: tuple[ContactInfo, ...] = ()


@dataclass
class Reginfo:
    version: int
    state: str = "full"  # full | partial
    registrations: list[RegistrationInfo] = field(default_factory=list)

    def to_xml(self) -> bytes:
        root = ET.Element("reginfo", {"xmlns": NS, "version": str(self.version), "state": self.state})
        for n, reg in enumerate(self.registrations):
            r = ET.SubElement(root, "registration", {"aor": reg.aor, "id": reg.id or f"r{n}", "state": reg.state})
            for m, c in enumerate(reg.contacts):
                attrs = {"id": c.id or f"c{n}.{m}", "state": c.state, "event": c.event}
                if c.expires is not None:
                    attrs["expires"] = str(c.expires)
                ET.SubElement(r, "contact", attrs).text = None
                ET.SubElement(r[-1], "uri").text = c.uri
        return b'<?xml version="1.0"?>\n' + ET.tostring(root)

    @classmethod
    def from_xml(cls, data: bytes | str) -> Reginfo:
        try:
            root = ET.fromstring(data)
        except (ET.ParseError, LookupError, ValueError) as exc:  # LookupError: an unknown encoding= name
            raise ReginfoError(f"reginfo is not XML: {exc}") from None
        if root.tag not in (f"{{{NS}}}reginfo", "reginfo"):
            raise ReginfoError(f"root element is {root.tag}, not reginfo")
        try:
            version = int(root.get("version", ""))
        except ValueError:
            raise ReginfoError("reginfo has no numeric version attribute (RFC 3680 §5.3)") from None
        out = cls(version, root.get("state", "full"))
        for r in root:
            if not r.tag.endswith("registration"):
                continue
            contacts = []
            for c in r:
                if not c.tag.endswith("contact"):
                    continue
                uri_el = next((u for u in c if u.tag.endswith("uri")), None)
                exp = c.get("expires")
                contacts.append(ContactInfo((uri_el.text or "").strip() if uri_el is not None else "",
                                            c.get("state", "active"), c.get("event", ""), c.get("id", ""),
                                            _expires(exp)))
            aor, state = r.get("aor"), r.get("state")
            if not aor or not state:
                raise ReginfoError("registration element without aor or state")
            out.registrations.append(RegistrationInfo(aor, state, r.get("id", ""), tuple(contacts)))
        return out

    def state_of(self, aor: str) -> str | None:
        for r in self.registrations:
            if r.aor == aor:
                return r.state
        return None


def _expires(value: str | None) -> int | None:
    """RFC 3680 §5.3: expires is an unsignedLong; ASCII digits only ("²".isdigit() is true, int() refuses it)."""
    if not value or not value.isascii() or not value.isdigit() or len(value) > 20:
        return None
    return int(value)
