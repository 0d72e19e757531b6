"""Subscriber records for the HSS: validation and CSV files (shared by the CLI, gRPC and topologies).

``make_subscriber`` turns a loose record (strings from a command line, a CSV
row, a topology file or a gRPC message) into a :class:`~ims.hss.store.Subscriber`,
or raises :class:`~ims.hss.store.StoreError` naming the field: K and OP/OPc
are 16 bytes (32 hex digits, TS 35.206 §2), AMF 2 bytes, SQN 6 bytes (TS
33.102 §6.3.2).  OPc is computed from OP here, once (TS 35.206 §4.1); OP is
kept too.  A SIP Digest password becomes H(A1) for the IMPI's realm (RFC
2617 §3.2.2.2), which is what the S-CSCF receives (TS 29.229 §6.3.36).

``parse_csv`` validates a whole file before anything is stored and names
the line of the first bad row.  Columns: imsi, impi, impus, msisdn, k, opc,
op, amf, sqn, password, service_profile (and optionally ha1, auth_schemes,
barred).  ``impus`` lists public identities separated by spaces or
semicolons; ``|`` starts another implicit registration set.

Not here: storage (``ims.hss.store``).
"""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

from ims.aka.milenage import AkaError, compute_opc
from ims.hss.store import AUTH_SCHEMES, SCHEME_AKAV1, SCHEME_AKAV2, SCHEME_DIGEST, Store, StoreError, Subscriber

CSV_COLUMNS = ("imsi", "impi", "impus", "msisdn", "k", "opc", "op", "amf", "sqn", "password", "service_profile")
CSV_OPTIONAL = ("ha1", "auth_schemes", "barred")


def _hex(field: str, value: str | bytes | None, nbytes: int) -> bytes:
    if isinstance(value, bytes):
        raw = value
    else:
        text = (value or "").strip().lower().removeprefix("0x")
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise StoreError(f"{field}: {value!r} is not hexadecimal") from None
    if len(raw) != nbytes:
        raise StoreError(f"{field}: must be {nbytes} bytes ({2 * nbytes} hex digits), got {len(raw) * 2} hex digits")
    return raw


def _blank(value: Any) -> bool:
    return value is None or value == "" or value == b""


def parse_impus(value: str | list[str] | list[list[str]]) -> tuple[list[str], list[int]]:
    """Public identities and their implicit registration set numbers (1, 2, ...)."""
    if isinstance(value, str):
        groups = [g.replace(";", " ").split() for g in value.split("|")]
    elif value and all(isinstance(v, list | tuple) for v in value):
        groups = [list(g) for g in value]  # type: ignore[arg-type]
    else:
        groups = [[str(v) for v in value]]
    impus: list[str] = []
    irs: list[int] = []
    for n, group in enumerate((g for g in groups if g), start=1):
        for u in group:
            u = u.strip()
            if not u.startswith(("sip:", "sips:", "tel:")):
                raise StoreError(f"impus: {u!r} must be a sip: or tel: URI")
            if u in impus:
                raise StoreError(f"impus: {u} is listed twice")
            impus.append(u)
            irs.append(n)
    if not impus:
        raise StoreError("impus: at least one public identity is needed")
    return impus, irs


def digest_ha1(impi: str, password: str, realm: str | None = None) -> str:
    """H(A1) = MD5(username ":" realm ":" password), the realm being the IMPI's domain (TS 33.203 N.1)."""
    realm = realm or impi.partition("@")[2]
    return hashlib.md5(f"{impi}:{realm}:{password}".encode()).hexdigest()


def make_subscriber(rec: dict[str, Any]) -> Subscriber:
    """Validate a provisioning record (CLI, CSV row, topology, gRPC) into a Subscriber."""
    impi = str(rec.get("impi") or "").strip()
    if "@" not in impi or impi.startswith("@") or impi.endswith("@"):
        raise StoreError(f"impi: {impi!r} must be user@realm (TS 23.003 §13.3)")
    imsi = str(rec.get("imsi") or "").strip()
    if not (imsi.isascii() and imsi.isdigit() and 6 <= len(imsi) <= 15):  # not "²" (int() refuses it)
        raise StoreError(f"imsi: {imsi!r} must be 6 to 15 digits")
    impus, irs = parse_impus(rec.get("impus") or [])
    k = _hex("k", rec.get("k"), 16)
    op, opc = rec.get("op"), rec.get("opc")
    if _blank(op) == _blank(opc):
        raise StoreError("give exactly one of op and opc")
    op_b = _hex("op", op, 16) if not _blank(op) else None
    try:
        opc_b = _hex("opc", opc, 16) if not _blank(opc) else compute_opc(k, op_b)  # type: ignore[arg-type]
    except AkaError as exc:
        raise StoreError(str(exc)) from None
    amf = _hex("amf", rec.get("amf") or "8000", 2)
    sqn_raw = rec.get("sqn")
    if isinstance(sqn_raw, int):
        if not 0 <= sqn_raw < 1 << 48:
            raise StoreError(f"sqn: {sqn_raw} is outside 48 bits")
        sqn = sqn_raw
    else:
        sqn = int.from_bytes(_hex("sqn", sqn_raw or "000000000000", 6), "big")
    msisdn = str(rec.get("msisdn") or "").strip().removeprefix("+") or None
    if msisdn is not None and not (msisdn.isascii() and msisdn.isdigit() and len(msisdn) <= 15):
        raise StoreError(f"msisdn: {msisdn!r} must be up to 15 digits (E.164)")
    password = rec.get("password") or None
    ha1 = str(rec.get("ha1") or "").strip().lower() or None
    if ha1 is not None and (len(ha1) != 32 or any(c not in "0123456789abcdef" for c in ha1)):
        raise StoreError(f"ha1: {ha1!r} must be 32 hex digits (an MD5 digest)")
    if password and ha1 is None:
        ha1 = digest_ha1(impi, password)
    schemes_raw = rec.get("auth_schemes")
    if _blank(schemes_raw):
        schemes = (SCHEME_AKAV1, SCHEME_AKAV2) + ((SCHEME_DIGEST,) if ha1 else ())
    else:
        text = schemes_raw if isinstance(schemes_raw, str) else ",".join(schemes_raw)
        schemes = tuple(s.strip() for s in text.replace(";", ",").split(",") if s.strip())
        for s in schemes:
            if s not in AUTH_SCHEMES:
                raise StoreError(f"auth_schemes: {s!r} is not one of {', '.join(AUTH_SCHEMES)}")
        if SCHEME_DIGEST in schemes and not ha1:
            raise StoreError("auth_schemes: SIP Digest needs a password or ha1")
    barred = rec.get("barred")
    barred_all = str(barred).lower() in ("1", "true", "yes") if not isinstance(barred, list | set) else False
    barred_impus = set(barred) if isinstance(barred, list | set) else set()
    for u in barred_impus:
        if u not in impus:
            raise StoreError(f"barred: {u} is not one of this subscriber's impus")
    return Subscriber(impi, imsi, impus, k, opc_b, amf, sqn, op_b, msisdn, password,
                      rec.get("service_profile") or None, barred_all, irs, barred_impus, schemes, ha1)


def parse_csv(text: str, name: str = "<csv>") -> list[Subscriber]:
    """Every row validated before anything is stored; the first bad row is named by its line."""
    return parse_csv_rows(text, name)[0]


def parse_csv_rows(text: str, name: str = "<csv>") -> tuple[list[Subscriber], list[str]]:
    """``parse_csv`` and, for each subscriber, "NAME:LINE" (for ``Store.add_many(subs, where)``)."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _csv_rows(reader, name)
    except csv.Error as exc:  # a bare CR, a field past the csv module's limit...: the file is no CSV
        raise StoreError(f"{name}:{reader.reader.line_num}: not CSV: {exc}") from None


def _csv_rows(reader: csv.DictReader[str], name: str) -> tuple[list[Subscriber], list[str]]:
    fields = [f.strip() for f in reader.fieldnames or ()]
    unknown = set(fields) - set(CSV_COLUMNS) - set(CSV_OPTIONAL)
    if unknown:
        raise StoreError(f"{name}:1: unknown column(s) {', '.join(sorted(unknown))}")
    for needed in ("imsi", "impi", "impus", "k"):
        if needed not in fields:
            raise StoreError(f"{name}:1: missing column {needed}")
    subs: list[Subscriber] = []
    where: list[str] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        if None in row or None in row.values():  # DictReader: extra fields under None, missing ones None
            raise StoreError(f"{name}:{line}: the row's fields do not match the {len(fields)} columns of the header")
        try:
            sub = make_subscriber({k.strip(): v for k, v in row.items() if k and v not in (None, "")})
        except StoreError as exc:
            raise StoreError(f"{name}:{line}: {exc}") from None
        for ident in (sub.impi, sub.imsi, *sub.impus):
            if ident in seen:
                raise StoreError(f"{name}:{line}: {ident} is already on line {seen[ident]}")
            seen[ident] = line
        subs.append(sub)
        where.append(f"{name}:{line}")
    return subs, where


def provision_from_topology(store: Store, path: str, node_name: str | None = None) -> int:
    """Seed subscribers, service profiles and the S-CSCF capability table from a lab file."""
    from ims.topology import load

    topo = load(path)
    # With a node name, only this HSS's home network: its S-CSCFs and subscribers (two-operators labs).
    home = None
    if node_name and any(n.name == node_name for n in topo.nodes):
        home = topo.domain_of(topo.node(node_name))
    added = 0
    for sp in topo.service_profiles:
        store.set_service_profile(sp.name, [i.model_dump() for i in sp.ifcs])
    for n in topo.nodes_of("scscf"):
        if home is not None and topo.domain_of(n) is not home:
            continue
        caps = n.capabilities
        name = f"sip:{n.address}:{n.sip.port if n.sip else 5060}"
        store.set_scscf_capabilities(name, caps.mandatory if caps else [], caps.optional if caps else [])
    for s in topo.subscribers:
        if home is not None and s.impi.partition("@")[2] not in (home.name, home.diameter_realm):
            continue
        if store.get(s.impi) is None:
            store.add(make_subscriber(s.model_dump()))
            added += 1
    return added
