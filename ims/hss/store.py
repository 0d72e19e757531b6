"""The HSS subscriber store: SQLite through sqlite-utils, WAL mode, crash-safe.

Tables: ``impi`` (private identities with K, OPc/OP, AMF, SQN, password,
IMSI, MSISDN, service profile, barring), ``impu`` (public identities, their
implicit registration set, registration state and assigned S-CSCF),
``scscf`` (capabilities for I-CSCF selection, TS 29.228 §6.7) and
``service_profile`` (iFCs as JSON).

Every write is one transaction: a subscriber is added whole or not at all,
and :meth:`reserve_sqns` commits the new SQN before it returns, so a vector
that leaves the HSS can never be issued again, even after ``kill -9``.
One :class:`Store` (one connection) belongs to one thread at a time; the HSS
node keeps it on a dedicated worker thread.  Not here: Diameter.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from ims.aka.milenage import AkaError, compute_opc
from ims.aka.vectors import SqnScheme

NOT_REGISTERED, REGISTERED, UNREGISTERED = "NOT_REGISTERED", "REGISTERED", "UNREGISTERED"


class StoreError(ValueError):
    """A provisioning problem; the message names the field or identity."""


@dataclass
class Subscriber:
    impi: str
    imsi: str
    impus: list[str]
    k: bytes
    opc: bytes
    amf: bytes = b"\x80\x00"
    sqn: int = 0
    op: bytes | None = None
    msisdn: str | None = None
    password: str | None = None
    service_profile: str | None = None
    barred: bool = False

    def public(self) -> dict[str, Any]:
        """What ``ims subscriber show`` prints (no secrets)."""
        return {"impi": self.impi, "imsi": self.imsi, "impus": self.impus, "msisdn": self.msisdn,
                "amf": self.amf.hex(), "sqn": f"{self.sqn:012x}", "service_profile": self.service_profile,
                "auth": (["Digest-AKAv1-MD5", "Digest-AKAv2-MD5"] + (["SIP Digest"] if self.password else [])),
                "barred": self.barred}


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


def make_subscriber(rec: dict[str, Any]) -> Subscriber:
    """Validate a provisioning record (CLI, CSV row, topology, gRPC) into a Subscriber."""
    impi = str(rec.get("impi") or "").strip()
    if "@" not in impi:
        raise StoreError(f"impi: {impi!r} must be user@realm")
    imsi = str(rec.get("imsi") or "").strip()
    if not (imsi.isdigit() and 6 <= len(imsi) <= 15):
        raise StoreError(f"imsi: {imsi!r} must be 6 to 15 digits")
    impus = rec.get("impus") or []
    if isinstance(impus, str):
        impus = [u for u in impus.replace(";", " ").split() if u]
    if not impus:
        raise StoreError("impus: at least one public identity is needed")
    for u in impus:
        if not u.startswith(("sip:", "tel:")):
            raise StoreError(f"impus: {u!r} must be a sip: or tel: URI")
    k = _hex("k", rec.get("k"), 16)
    op = rec.get("op")
    opc = rec.get("opc")
    if (op in (None, "")) == (opc in (None, "")):
        raise StoreError("give exactly one of op and opc")
    try:
        op_b = _hex("op", op, 16) if op not in (None, "") else None
        opc_b = _hex("opc", opc, 16) if opc not in (None, "") else compute_opc(k, op_b)  # type: ignore[arg-type]
    except AkaError as exc:
        raise StoreError(str(exc)) from None
    amf = _hex("amf", rec.get("amf") or "8000", 2)
    sqn_raw = rec.get("sqn") or "000000000000"
    sqn = int(sqn_raw) if isinstance(sqn_raw, int) else int.from_bytes(_hex("sqn", sqn_raw, 6), "big")
    return Subscriber(impi, imsi, list(impus), k, opc_b, amf, sqn, op_b, rec.get("msisdn") or None,
                      rec.get("password") or None, rec.get("service_profile") or None, bool(rec.get("barred")))


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        conn.execute("PRAGMA foreign_keys=ON")
        self.db = sqlite_utils.Database(conn)
        self.conn = conn
        self._depth = 0
        self._scheme = SqnScheme()
        self._create()

    def _create(self) -> None:
        db = self.db
        if "impi" not in db.table_names():
            db["impi"].create({"impi": str, "imsi": str, "msisdn": str, "k": bytes, "opc": bytes, "op": bytes,
                               "amf": bytes, "sqn": int, "password": str, "service_profile": str, "barred": int},
                              pk="impi", not_null={"imsi", "k", "opc", "amf", "sqn"})
            db["impi"].create_index(["imsi"], unique=True)
            db["impi"].create_index(["msisdn"])
        if "impu" not in db.table_names():
            db["impu"].create({"impu": str, "impi": str, "barred": int, "state": str, "scscf": str},
                              pk="impu", foreign_keys=[("impi", "impi", "impi")])
            db["impu"].create_index(["impi"])
        if "scscf" not in db.table_names():
            db["scscf"].create({"name": str, "mandatory": str, "optional": str}, pk="name")
        if "service_profile" not in db.table_names():
            db["service_profile"].create({"name": str, "ifcs": str}, pk="name")

    def close(self) -> None:
        self.conn.close()

    # -- provisioning ----------------------------------------------------------
    def add(self, sub: Subscriber) -> None:
        with self._tx():
            self._insert(sub)

    def _insert(self, sub: Subscriber) -> None:
        if self.db["impi"].count_where("impi = ?", [sub.impi]):
            raise StoreError(f"impi {sub.impi} already exists")
        if self.db["impi"].count_where("imsi = ?", [sub.imsi]):
            raise StoreError(f"imsi {sub.imsi} already belongs to another subscriber")
        for u in sub.impus:
            if self.db["impu"].count_where("impu = ?", [u]):
                raise StoreError(f"impu {u} already belongs to another subscriber")
        self.db["impi"].insert({"impi": sub.impi, "imsi": sub.imsi, "msisdn": sub.msisdn, "k": sub.k,
                                "opc": sub.opc, "op": sub.op, "amf": sub.amf, "sqn": sub.sqn,
                                "password": sub.password, "service_profile": sub.service_profile,
                                "barred": int(sub.barred)})
        self.db["impu"].insert_all({"impu": u, "impi": sub.impi, "barred": 0, "state": NOT_REGISTERED,
                                    "scscf": None} for u in sub.impus)

    def add_many(self, subs: Iterable[Subscriber]) -> int:
        """All or nothing (CSV import)."""
        n = 0
        with self._tx():
            for sub in subs:
                self._insert(sub)
                n += 1
        return n

    def delete(self, impi: str) -> None:
        with self._tx():
            if not self.db["impi"].count_where("impi = ?", [impi]):
                raise StoreError(f"unknown impi {impi}")
            self.conn.execute("DELETE FROM impu WHERE impi = ?", [impi])
            self.conn.execute("DELETE FROM impi WHERE impi = ?", [impi])

    def get(self, impi: str) -> Subscriber | None:
        r = self.conn.execute("SELECT impi, imsi, k, opc, amf, sqn, op, msisdn, password, service_profile, barred "
                              "FROM impi WHERE impi = ?", [impi]).fetchone()
        if r is None:
            return None
        impus = [x[0] for x in self.conn.execute("SELECT impu FROM impu WHERE impi = ? ORDER BY rowid", [impi])]
        return Subscriber(r[0], r[1], impus, r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], bool(r[10]))

    def find(self, identity: str) -> Subscriber | None:
        """By IMPI, IMPU, IMSI or MSISDN."""
        sub = self.get(identity)
        if sub:
            return sub
        for sql in ("SELECT impi FROM impu WHERE impu = ?", "SELECT impi FROM impi WHERE imsi = ?",
                    "SELECT impi FROM impi WHERE msisdn = ?"):
            rows = list(self.db.query(sql, [identity]))
            if rows:
                return self.get(rows[0]["impi"])
        return None

    def list(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT impi, imsi, msisdn, (SELECT group_concat(impu, ' ') FROM impu "
                                  "WHERE impu.impi = impi.impi) AS impus FROM impi ORDER BY impi"))

    def set_scscf_capabilities(self, name: str, mandatory: list[int], optional: list[int]) -> None:
        with self._tx():
            self.db["scscf"].upsert({"name": name, "mandatory": json.dumps(mandatory),
                                     "optional": json.dumps(optional)}, pk="name")

    def scscf_capabilities(self) -> list[tuple[str, list[int], list[int]]]:
        return [(r["name"], json.loads(r["mandatory"]), json.loads(r["optional"]))
                for r in self.db.query("SELECT * FROM scscf ORDER BY name")]

    def set_service_profile(self, name: str, ifcs: list[dict[str, Any]]) -> None:
        with self._tx():
            self.db["service_profile"].upsert({"name": name, "ifcs": json.dumps(ifcs)}, pk="name")

    def service_profile(self, name: str | None) -> list[dict[str, Any]]:
        if not name:
            return []
        rows = list(self.db.query("SELECT ifcs FROM service_profile WHERE name = ?", [name]))
        return json.loads(rows[0]["ifcs"]) if rows else []

    # -- Cx state ----------------------------------------------------------------
    def impu_row(self, impu: str) -> dict[str, Any] | None:
        r = self.conn.execute("SELECT impu, impi, barred, state, scscf FROM impu WHERE impu = ?", [impu]).fetchone()
        if r is None:
            return None
        return {"impu": r[0], "impi": r[1], "barred": r[2], "state": r[3], "scscf": r[4]}

    def set_registration(self, impi: str, state: str, scscf: str | None) -> None:
        """The whole implicit registration set changes together (TS 29.228 §6.1.2)."""
        with self._tx():
            self.conn.execute("UPDATE impu SET state = ?, scscf = ? WHERE impi = ?", [state, scscf, impi])

    def set_scscf(self, impi: str, scscf: str) -> None:
        with self._tx():
            self.conn.execute("UPDATE impu SET scscf = ? WHERE impi = ? AND (scscf IS NULL OR state = ?)",
                              [scscf, impi, NOT_REGISTERED])

    def reserve_sqns(self, impi: str, count: int) -> tuple[Subscriber, list[int]]:
        """Take ``count`` fresh SQNs and commit the last one before returning (never reissued)."""
        with self._tx():
            sub = self.get(impi)
            if sub is None:
                raise StoreError(f"unknown impi {impi}")
            sqns, sqn = [], sub.sqn
            for _ in range(count):
                sqn = self._scheme.next_sqn(sqn)
                sqns.append(sqn)
            self.conn.execute("UPDATE impi SET sqn = ? WHERE impi = ?", [sqn, impi])
        sub.sqn = sqn
        return sub, sqns

    def set_scscf_if_unset(self, impi: str, scscf: str, current: str | None, state: str) -> None:
        """Record the S-CSCF a MAR came from, without a write when nothing changes."""
        if current != scscf and (current is None or state == NOT_REGISTERED):
            self.set_scscf(impi, scscf)

    def resync_sqn(self, impi: str, sqn_ms: int) -> None:
        with self._tx():
            self.conn.execute("UPDATE impi SET sqn = ? WHERE impi = ?", [self._scheme.after_resync(sqn_ms), impi])

    # -- transactions -----------------------------------------------------------------
    class _Tx:
        """Outermost: BEGIN IMMEDIATE/COMMIT; nested: a SAVEPOINT, so a batch of
        requests shares one commit while each request stays all-or-nothing."""

        def __init__(self, store: Store) -> None:
            self.store = store

        def __enter__(self) -> None:
            st = self.store
            if st._depth == 0:
                st.conn.execute("BEGIN IMMEDIATE")
            else:
                st.conn.execute(f"SAVEPOINT sp{st._depth}")
            st._depth += 1

        def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
            st = self.store
            st._depth -= 1
            if st._depth == 0:
                st.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
            elif exc_type is None:
                st.conn.execute(f"RELEASE sp{st._depth}")
            else:
                st.conn.execute(f"ROLLBACK TO sp{st._depth}")
                st.conn.execute(f"RELEASE sp{st._depth}")

    def _tx(self) -> Store._Tx:
        return Store._Tx(self)

    def batch(self) -> Store._Tx:
        """One commit for many operations (the HSS's group commit of MARs)."""
        return Store._Tx(self)
