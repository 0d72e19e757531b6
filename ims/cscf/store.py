"""Registration state of a CSCF written through to SQLite, so a restarted node keeps its registrations.

What Kamailio's usrloc does in its DB modes, for our cores: a CSCF core
(``ims.cscf.scscf``, ``ims.cscf.pcscf``) marks a record changed or gone
(:meth:`ims.cscf.common.CscfApp.changed`); the driver drains the change log
(:meth:`~ims.cscf.common.CscfApp.take_changes`, which yields
:class:`Persist` / :class:`Forget` values, latest state per key) and hands
each batch to :meth:`StateStore.apply` on a worker thread; at start
:meth:`StateStore.load` gives the rows back and the core rebuilds itself from
them (``restore``) before the node serves.

One table, ``state(kind, key, record, expires_at)``: ``record`` is the JSON
the core made, ``expires_at`` absolute wall-clock time (seconds since the
epoch) after which the row is worthless - :meth:`StateStore.load` deletes
such rows, so a node restarted after a long pause does not bring back
registrations that ran out meanwhile.  Times inside a record are wall-clock
too (the core converts with the offset the driver gives it).

This module does no I/O of its own beyond the SQLite file and never touches
trio: the writer task that calls it lives in ``ims.net.persist``.
Not here: what a record holds (each core's ``snapshot``/``restore``).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from ims.sip.dialog import Dialog
from ims.sip.uri import parse_uri

Record = dict[str, Any]

_UPSERT = ("INSERT INTO state (kind, key, record, expires_at) VALUES (?, ?, ?, ?) "
           "ON CONFLICT (kind, key) DO UPDATE SET record = excluded.record, expires_at = excluded.expires_at")


@dataclass(frozen=True, slots=True)
class Persist:
    """Write ``record`` under (``kind``, ``key``); worthless after ``expires_at`` (wall clock, None: never)."""

    kind: str
    key: str
    record: Record
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Forget:
    """The record under (``kind``, ``key``) is gone."""

    kind: str
    key: str


Change = Persist | Forget


@dataclass(frozen=True, slots=True)
class StoredRecord:
    kind: str
    key: str
    record: Record
    expires_at: float | None


class StateStoreError(RuntimeError):
    """The state file cannot be opened or written (the node logs it and keeps serving from memory)."""


class StateStore:
    """The SQLite file of one node's state.  One connection, used from one thread at a time."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            conn.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a commit survives the death of the process (SIGKILL), the failure this is for.
            conn.execute("PRAGMA synchronous=NORMAL")
            self.db = sqlite_utils.Database(conn)
            if "state" not in self.db.table_names():
                self.db["state"].create({"kind": str, "key": str, "record": str, "expires_at": float},
                                        pk=("kind", "key"))
        except sqlite3.Error as exc:
            raise StateStoreError(f"cannot open the state file {self.path}: {exc}") from None
        self.conn = conn

    def apply(self, changes: list[Change]) -> None:
        """Write a batch in one transaction (all of it or, on an error, none)."""
        rows = [(c.kind, c.key, json.dumps(c.record, separators=(",", ":")), c.expires_at)
                for c in changes if isinstance(c, Persist)]
        gone = [(c.kind, c.key) for c in changes if isinstance(c, Forget)]
        try:
            with self.db.atomic():  # one transaction (sqlite-utils nests its own writes as savepoints)
                if gone:
                    self.conn.executemany("DELETE FROM state WHERE kind = ? AND key = ?", gone)
                if rows:  # one prepared statement for the batch (upsert_all rebuilds its SQL per call)
                    self.conn.executemany(_UPSERT, rows)
        except sqlite3.Error as exc:
            raise StateStoreError(f"writing {len(changes)} changes to {self.path}: {exc}") from None

    def load(self, wall_now: float) -> list[StoredRecord]:
        """Every record still worth something at ``wall_now``; the expired ones are deleted."""
        try:
            with self.db.atomic():
                self.conn.execute("DELETE FROM state WHERE expires_at IS NOT NULL AND expires_at <= ?", (wall_now,))
            rows = self.conn.execute("SELECT kind, key, record, expires_at FROM state ORDER BY rowid").fetchall()
        except sqlite3.Error as exc:
            raise StateStoreError(f"reading {self.path}: {exc}") from None
        out = []
        for kind, key, record, expires_at in rows:
            try:
                out.append(StoredRecord(kind, key, json.loads(record), expires_at))
            except ValueError:
                continue  # a row no JSON parser reads: the core cannot use it either
        return out

    def close(self) -> None:
        self.conn.close()


# -- pieces of records that both CSCFs keep ------------------------------------------------
def dialog_record(d: Dialog) -> Record:
    return {"call_id": d.call_id, "local_tag": d.local_tag, "remote_tag": d.remote_tag, "local_uri": d.local_uri,
            "remote_uri": d.remote_uri, "remote_target": str(d.remote_target), "route_set": list(d.route_set),
            "local_seq": d.local_seq, "remote_seq": d.remote_seq, "secure": d.secure, "state": d.state}


def dialog_from_record(r: Record) -> Dialog:
    """The dialog back (RFC 3261 §12: its id, URIs, route set and sequence numbers are all it is)."""
    return Dialog(str(r["call_id"]), str(r["local_tag"]), str(r["remote_tag"]), local_uri=str(r["local_uri"]),
                  remote_uri=str(r["remote_uri"]), remote_target=parse_uri(str(r["remote_target"])),
                  route_set=[str(x) for x in r["route_set"]], local_seq=int(r["local_seq"]),
                  remote_seq=None if r["remote_seq"] is None else int(r["remote_seq"]),
                  secure=bool(r["secure"]), state=str(r["state"]))
