"""The HSS subscriber store: SQLite through sqlite-utils, WAL mode, crash-safe.

Tables (TS 23.008 §5 for what an HSS keeps per IMS subscription):

* ``impi`` - private identities: K, OPc (and OP when it was given), AMF, SQN,
  the authentication schemes allowed, the SIP Digest password / H(A1),
  IMSI, MSISDN, the default service profile and barring of the whole
  subscription;
* ``impu`` - public identities (sip: and tel: URIs): the implicit
  registration set (``irs``, TS 23.228 §4.3.3.4 / TS 29.228 §6.5) they
  belong to, barring per identity, an optional service profile of their
  own, registration state (NOT_REGISTERED / REGISTERED / UNREGISTERED), the
  assigned S-CSCF (Server-Name) and that S-CSCF's Diameter identity (where
  RTR and PPR go);
* ``scscf`` - S-CSCF capabilities for I-CSCF selection (TS 29.228 §6.7);
* ``service_profile`` - iFCs as structured rows (JSON) and/or raw
  ``<InitialFilterCriteria>`` XML fragments (TS 29.228 Annex B/E).

Every write is one transaction: a subscriber is added whole or not at all,
and :meth:`Store.reserve_sqns` commits the new SQN before it returns, so a
vector that leaves the HSS can never be issued again, even after
``kill -9``.  Several operations can share one commit (:meth:`Store.batch`,
the HSS's group commit) while each stays atomic on its own (savepoints).

One :class:`Store` (one connection) belongs to one thread at a time; the
HSS node keeps it on a dedicated worker thread.  Other processes (``ims
subscriber --db``) may write the same file concurrently: WAL lets readers go
on, and ``BEGIN IMMEDIATE`` with a busy timeout serialises the writers.
Not here: Diameter (``ims.hss.cx``) or input validation (``ims.hss.provisioning``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from ims.aka.vectors import SqnScheme

NOT_REGISTERED, REGISTERED, UNREGISTERED = "NOT_REGISTERED", "REGISTERED", "UNREGISTERED"
SCHEME_AKAV1, SCHEME_AKAV2, SCHEME_DIGEST = "Digest-AKAv1-MD5", "Digest-AKAv2-MD5", "SIP Digest"
AUTH_SCHEMES = (SCHEME_AKAV1, SCHEME_AKAV2, SCHEME_DIGEST)


class StoreError(ValueError):
    """A provisioning problem; the message names the field or identity."""


class UnknownIdentity(StoreError):
    """No subscriber has this IMPI / IMPU / IMSI / MSISDN."""


@dataclass
class Subscriber:
    """One IMS subscription: a private identity and its public identities."""

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
    # implicit registration set of each entry of ``impus`` (same length); all 1 by default
    irs: list[int] = field(default_factory=list)
    barred_impus: set[str] = field(default_factory=set)
    auth_schemes: tuple[str, ...] = (SCHEME_AKAV1, SCHEME_AKAV2)
    ha1: str | None = None  # H(A1) = MD5(impi:realm:password) for SIP Digest (RFC 2617 §3.2.2.2)
    impu_profiles: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.irs:
            self.irs = [1] * len(self.impus)

    def implicit_set(self, impu: str) -> list[str]:
        """The public identities registered together with ``impu`` (TS 29.228 §6.5)."""
        irs = self.irs[self.impus.index(impu)]
        return [u for u, s in zip(self.impus, self.irs) if s == irs]

    def sets(self) -> list[list[str]]:
        out: dict[int, list[str]] = {}
        for u, s in zip(self.impus, self.irs):
            out.setdefault(s, []).append(u)
        return list(out.values())

    def profile_of(self, impu: str) -> str | None:
        return self.impu_profiles.get(impu) or self.service_profile

    def public(self) -> dict[str, Any]:
        """What ``ims subscriber show`` prints (no secrets)."""
        return {"impi": self.impi, "imsi": self.imsi, "impus": self.impus, "msisdn": self.msisdn,
                "implicit_sets": self.sets(), "amf": self.amf.hex(), "sqn": f"{self.sqn:012x}",
                "service_profile": self.service_profile, "auth_schemes": list(self.auth_schemes),
                "barred": self.barred, "barred_impus": sorted(self.barred_impus)}


@dataclass(frozen=True, slots=True)
class ImpuRow:
    impu: str
    impi: str
    irs: int
    barred: bool
    state: str
    scscf: str | None
    scscf_host: str | None


_IMPI_COLUMNS = {"impi": str, "imsi": str, "msisdn": str, "k": bytes, "opc": bytes, "op": bytes, "amf": bytes,
                 "sqn": int, "password": str, "ha1": str, "auth_schemes": str, "service_profile": str,
                 "barred": int}
_IMPU_COLUMNS = {"impu": str, "impi": str, "irs": int, "barred": int, "service_profile": str, "state": str,
                 "scscf": str, "scscf_host": str}
_IMPI_SELECT = ("SELECT impi, imsi, k, opc, amf, sqn, op, msisdn, password, service_profile, barred, "
                "auth_schemes, ha1 FROM impi WHERE impi = ?")


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from None
        # WAL + synchronous=NORMAL: a commit survives the death of the process (kill -9), which is
        # the failure the SQN rule is about; FULL would also survive power loss, at fsync per commit.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        self.db = sqlite_utils.Database(conn)
        self.conn = conn
        self._depth = 0
        self._scheme = SqnScheme()
        with self._tx():
            self._create()

    def _create(self) -> None:
        db = self.db
        tables = set(db.table_names())
        if "impi" not in tables:
            db["impi"].create(_IMPI_COLUMNS, pk="impi", not_null={"imsi", "k", "opc", "amf", "sqn"})
            db["impi"].create_index(["imsi"], unique=True)
            db["impi"].create_index(["msisdn"])
        if "impu" not in tables:
            db["impu"].create(_IMPU_COLUMNS, pk="impu", foreign_keys=[("impi", "impi", "impi")])
            db["impu"].create_index(["impi"])
        if "scscf" not in tables:
            db["scscf"].create({"name": str, "mandatory": str, "optional": str}, pk="name")
        if "service_profile" not in tables:
            db["service_profile"].create({"name": str, "ifcs": str, "ifc_xml": str}, pk="name")
        # Stores made by an earlier version of this module: add the columns it did not have.
        for table, columns in (("impi", _IMPI_COLUMNS), ("impu", _IMPU_COLUMNS),
                               ("service_profile", {"name": str, "ifcs": str, "ifc_xml": str})):
            have = db[table].columns_dict
            for name, kind in columns.items():
                if name not in have:
                    db[table].add_column(name, kind)

    def close(self) -> None:
        self.conn.close()

    # -- transactions -------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[None]:
        """Outermost: BEGIN IMMEDIATE ... COMMIT; nested: a SAVEPOINT, so a batch of
        requests shares one commit while each request stays all-or-nothing."""
        depth = self._depth
        self.conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT sp{depth}")
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            if depth == 0:
                self.conn.execute("ROLLBACK")
            else:
                self.conn.execute(f"ROLLBACK TO sp{depth}")
                self.conn.execute(f"RELEASE sp{depth}")
            raise
        self._depth -= 1
        self.conn.execute("COMMIT" if depth == 0 else f"RELEASE sp{depth}")

    def batch(self) -> Any:
        """One commit for many operations (the HSS's group commit of Cx requests)."""
        return self._tx()

    # -- provisioning ----------------------------------------------------------------
    def add(self, sub: Subscriber) -> None:
        with self._tx():
            self._insert(sub)

    def add_many(self, subs: Iterable[Subscriber], where: list[str] | None = None) -> int:
        """All or nothing (CSV import): one transaction for the whole file.

        ``where[i]`` names record ``i`` in errors (e.g. "subs.csv:12"); by default "record i+1".
        """
        n = 0
        with self._tx():
            for n, sub in enumerate(subs, start=1):
                try:
                    self._insert(sub)
                except StoreError as exc:
                    raise StoreError(f"{where[n - 1] if where else f'record {n}'}: {exc}") from None
        return n

    def _insert(self, sub: Subscriber) -> None:
        c = self.conn
        if c.execute("SELECT 1 FROM impi WHERE impi = ?", [sub.impi]).fetchone():
            raise StoreError(f"impi {sub.impi} already exists")
        if c.execute("SELECT 1 FROM impi WHERE imsi = ?", [sub.imsi]).fetchone():
            raise StoreError(f"imsi {sub.imsi} already belongs to another subscriber")
        for u in sub.impus:
            row = c.execute("SELECT impi FROM impu WHERE impu = ?", [u]).fetchone()
            if row:
                raise StoreError(f"impu {u} already belongs to {row[0]}")
        c.execute("INSERT INTO impi (impi, imsi, msisdn, k, opc, op, amf, sqn, password, ha1, auth_schemes, "
                  "service_profile, barred) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  [sub.impi, sub.imsi, sub.msisdn, sub.k, sub.opc, sub.op, sub.amf, sub.sqn, sub.password, sub.ha1,
                   ",".join(sub.auth_schemes), sub.service_profile, int(sub.barred)])
        c.executemany("INSERT INTO impu (impu, impi, irs, barred, service_profile, state, scscf, scscf_host) "
                      "VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)",
                      [(u, sub.impi, s, int(u in sub.barred_impus), sub.impu_profiles.get(u), NOT_REGISTERED)
                       for u, s in zip(sub.impus, sub.irs)])

    def delete(self, impi: str) -> None:
        with self._tx():
            if not self.conn.execute("SELECT 1 FROM impi WHERE impi = ?", [impi]).fetchone():
                raise UnknownIdentity(f"unknown impi {impi}")
            self.conn.execute("DELETE FROM impu WHERE impi = ?", [impi])
            self.conn.execute("DELETE FROM impi WHERE impi = ?", [impi])

    def get(self, impi: str) -> Subscriber | None:
        r = self.conn.execute(_IMPI_SELECT, [impi]).fetchone()
        if r is None:
            return None
        impus, irs, barred, profiles = [], [], set(), {}
        for u, s, b, p in self.conn.execute("SELECT impu, irs, barred, service_profile FROM impu WHERE impi = ? "
                                            "ORDER BY rowid", [impi]):
            impus.append(u)
            irs.append(s if s is not None else 1)
            if b:
                barred.add(u)
            if p:
                profiles[u] = p
        schemes = tuple(s for s in (r[11] or "").split(",") if s) or (SCHEME_AKAV1, SCHEME_AKAV2)
        return Subscriber(r[0], r[1], impus, r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], bool(r[10]),
                          irs, barred, schemes, r[12], profiles)

    def impi_of(self, identity: str) -> str | None:
        """The IMPI for an IMPI, IMPU, IMSI or MSISDN."""
        for sql in ("SELECT impi FROM impi WHERE impi = ?", "SELECT impi FROM impu WHERE impu = ?",
                    "SELECT impi FROM impi WHERE imsi = ?", "SELECT impi FROM impi WHERE msisdn = ?"):
            row = self.conn.execute(sql, [identity]).fetchone()
            if row:
                return str(row[0])
        return None

    def find(self, identity: str) -> Subscriber | None:
        """By IMPI, IMPU, IMSI or MSISDN."""
        impi = self.impi_of(identity)
        return self.get(impi) if impi else None

    def list(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT impi, imsi, msisdn, (SELECT group_concat(impu, ' ') FROM impu "
                                  "WHERE impu.impi = impi.impi) AS impus FROM impi ORDER BY impi"))

    def set_barring(self, identity: str, barred: bool) -> str:
        """Bar (or unbar) one IMPU, or a whole subscription when ``identity`` is its IMPI; returns the IMPI."""
        with self._tx():
            if self.conn.execute("SELECT 1 FROM impi WHERE impi = ?", [identity]).fetchone():
                self.conn.execute("UPDATE impi SET barred = ? WHERE impi = ?", [int(barred), identity])
                return identity
            row = self.conn.execute("SELECT impi FROM impu WHERE impu = ?", [identity]).fetchone()
            if row is None:
                raise UnknownIdentity(f"unknown identity {identity}")
            self.conn.execute("UPDATE impu SET barred = ? WHERE impu = ?", [int(barred), identity])
            return str(row[0])

    def set_subscriber_profile(self, identity: str, profile: str | None) -> str:
        """Give a subscription (IMPI) or one IMPU another service profile; returns the IMPI."""
        with self._tx():
            if profile and not self.conn.execute("SELECT 1 FROM service_profile WHERE name = ?",
                                                 [profile]).fetchone():
                raise StoreError(f"unknown service profile {profile}")
            if self.conn.execute("SELECT 1 FROM impi WHERE impi = ?", [identity]).fetchone():
                self.conn.execute("UPDATE impi SET service_profile = ? WHERE impi = ?", [profile or None, identity])
                return identity
            row = self.conn.execute("SELECT impi FROM impu WHERE impu = ?", [identity]).fetchone()
            if row is None:
                raise UnknownIdentity(f"unknown identity {identity}")
            self.conn.execute("UPDATE impu SET service_profile = ? WHERE impu = ?", [profile or None, identity])
            return str(row[0])

    def set_scscf_capabilities(self, name: str, mandatory: list[int], optional: list[int]) -> None:
        with self._tx():
            self.db["scscf"].upsert({"name": name, "mandatory": json.dumps(mandatory),
                                     "optional": json.dumps(optional)}, pk="name")

    def scscf_capabilities(self) -> list[tuple[str, list[int], list[int]]]:
        return [(r[0], json.loads(r[1]), json.loads(r[2]))
                for r in self.conn.execute("SELECT name, mandatory, optional FROM scscf ORDER BY name")]

    def set_service_profile(self, name: str, ifcs: list[dict[str, Any]], ifc_xml: str | None = None) -> list[str]:
        """Create or replace a service profile; returns the IMPIs using it (for PPR)."""
        with self._tx():
            self.db["service_profile"].upsert({"name": name, "ifcs": json.dumps(ifcs), "ifc_xml": ifc_xml},
                                              pk="name")
            rows = self.conn.execute("SELECT impi FROM impi WHERE service_profile = ? UNION "
                                     "SELECT impi FROM impu WHERE service_profile = ?", [name, name])
            return sorted(r[0] for r in rows)

    def service_profile(self, name: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """(structured iFCs, raw iFC XML) of a profile; empty when there is none."""
        if not name:
            return [], None
        row = self.conn.execute("SELECT ifcs, ifc_xml FROM service_profile WHERE name = ?", [name]).fetchone()
        if row is None:
            return [], None
        return json.loads(row[0] or "[]"), row[1]

    # -- Cx state ------------------------------------------------------------------
    def impu_row(self, impu: str) -> ImpuRow | None:
        r = self.conn.execute("SELECT impu, impi, irs, barred, state, scscf, scscf_host FROM impu WHERE impu = ?",
                              [impu]).fetchone()
        if r is None:
            return None
        return ImpuRow(r[0], r[1], r[2] if r[2] is not None else 1, bool(r[3]), r[4], r[5], r[6])

    def impu_rows(self, impi: str) -> list[ImpuRow]:
        return [ImpuRow(r[0], r[1], r[2] if r[2] is not None else 1, bool(r[3]), r[4], r[5], r[6])
                for r in self.conn.execute("SELECT impu, impi, irs, barred, state, scscf, scscf_host FROM impu "
                                           "WHERE impi = ? ORDER BY rowid", [impi])]

    def assign(self, impi: str, irs: int | None, state: str, scscf: str, scscf_host: str | None) -> None:
        """The S-CSCF serves ``impi``: the implicit set ``irs`` (all when None) takes ``state``.

        TS 23.228 §4.3.3.4: all public identities of a subscription go to one S-CSCF, so the
        name is stored on every IMPU of the IMPI; the state changes for the set only (TS 29.228 §6.5).
        """
        with self._tx():
            self.conn.execute("UPDATE impu SET scscf = ?, scscf_host = COALESCE(?, scscf_host) WHERE impi = ?",
                              [scscf, scscf_host, impi])
            if irs is None:
                self.conn.execute("UPDATE impu SET state = ? WHERE impi = ?", [state, impi])
            else:
                self.conn.execute("UPDATE impu SET state = ? WHERE impi = ? AND irs = ?", [state, impi, irs])

    def deregister(self, impi: str, irs: int | None, *, keep_server_name: bool = False) -> None:
        """Set ``irs`` (all when None) NOT_REGISTERED; forget the S-CSCF once no set is served by it."""
        with self._tx():
            if irs is None:
                self.conn.execute("UPDATE impu SET state = ? WHERE impi = ?", [NOT_REGISTERED, impi])
            else:
                self.conn.execute("UPDATE impu SET state = ? WHERE impi = ? AND irs = ?",
                                  [NOT_REGISTERED, impi, irs])
            served = self.conn.execute("SELECT 1 FROM impu WHERE impi = ? AND state != ?",
                                       [impi, NOT_REGISTERED]).fetchone()
            if not served and not keep_server_name:
                self.conn.execute("UPDATE impu SET scscf = NULL, scscf_host = NULL WHERE impi = ?", [impi])

    def set_pending_scscf(self, impi: str, scscf: str, scscf_host: str | None) -> None:
        """MAR from an S-CSCF for a user no S-CSCF serves: remember it (TS 29.228 §6.3.1)."""
        with self._tx():
            self.conn.execute("UPDATE impu SET scscf = ?, scscf_host = ? WHERE impi = ?", [scscf, scscf_host, impi])

    def reserve_sqns(self, impi: str, count: int) -> list[int]:
        """Take ``count`` fresh SQNs (TS 33.102 C.1.1) and store the last before returning: never reissued.

        The update is committed with the enclosing transaction (the HSS's group commit), which
        ends before any answer carrying these SQNs is released.
        """
        with self._tx():
            row = self.conn.execute("SELECT sqn FROM impi WHERE impi = ?", [impi]).fetchone()
            if row is None:
                raise UnknownIdentity(f"unknown impi {impi}")
            sqns, sqn = [], int(row[0])
            for _ in range(count):
                sqn = self._scheme.next_sqn(sqn)
                sqns.append(sqn)
            self.conn.execute("UPDATE impi SET sqn = ? WHERE impi = ?", [sqn, impi])
        return sqns

    def resync_sqn(self, impi: str, sqn_ms: int) -> None:
        """TS 33.102 C.3.4: continue from the USIM's SQN_MS (never backwards from our own)."""
        with self._tx():
            row = self.conn.execute("SELECT sqn FROM impi WHERE impi = ?", [impi]).fetchone()
            if row is None:
                raise UnknownIdentity(f"unknown impi {impi}")
            self.conn.execute("UPDATE impi SET sqn = ? WHERE impi = ?",
                              [max(int(row[0]), self._scheme.after_resync(sqn_ms)), impi])
