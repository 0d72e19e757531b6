"""The HSS store and provisioning records: validation that names the field, whole-or-nothing writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ims.aka.milenage import compute_opc
from ims.hss.provisioning import make_subscriber, parse_csv, parse_csv_rows
from ims.hss.store import SCHEME_DIGEST, Store, StoreError

GOOD = dict(imsi="001010000000009", impi="9@r.example", impus=["sip:nine@r.example"], k="00" * 16, opc="11" * 16)


def test_errors_name_the_field() -> None:
    with pytest.raises(StoreError, match=r"k: must be 16 bytes \(32 hex digits\), got 30 hex digits"):
        make_subscriber({**GOOD, "k": "00" * 15})
    with pytest.raises(StoreError, match="opc: 'zz' is not hexadecimal"):
        make_subscriber({**GOOD, "opc": "zz"})
    with pytest.raises(StoreError, match="exactly one of op and opc"):
        make_subscriber({**GOOD, "op": "22" * 16})
    with pytest.raises(StoreError, match="amf: must be 2 bytes"):
        make_subscriber({**GOOD, "amf": "800000"})
    with pytest.raises(StoreError, match="sqn: must be 6 bytes"):
        make_subscriber({**GOOD, "sqn": "00"})
    with pytest.raises(StoreError, match="impus: 'alice' must be a sip: or tel: URI"):
        make_subscriber({**GOOD, "impus": "alice"})
    with pytest.raises(StoreError, match="imsi"):
        make_subscriber({**GOOD, "imsi": "12ab"})
    with pytest.raises(StoreError, match="SIP Digest needs a password"):
        make_subscriber({**GOOD, "auth_schemes": "SIP Digest"})


def test_op_is_turned_into_opc_and_kept() -> None:
    sub = make_subscriber({**GOOD, "opc": None, "op": "cdc202d5123e20f62b6d676ac72cb318",
                           "k": "465b5ce8b199b49faa5f0a2ee238a6bc"})
    assert sub.opc == compute_opc(bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc"),
                                  bytes.fromhex("cdc202d5123e20f62b6d676ac72cb318"))
    assert sub.op == bytes.fromhex("cdc202d5123e20f62b6d676ac72cb318")
    digest = make_subscriber({**GOOD, "password": "pw"})
    assert SCHEME_DIGEST in digest.auth_schemes and digest.ha1 is not None and len(digest.ha1) == 32


def test_duplicates_and_unknown_identities(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.add(make_subscriber(GOOD))
    with pytest.raises(StoreError, match="impi 9@r.example already exists"):
        store.add(make_subscriber(GOOD))
    with pytest.raises(StoreError, match="impu sip:nine@r.example already belongs to 9@r.example"):
        store.add(make_subscriber({**GOOD, "impi": "10@r.example", "imsi": "001010000000010"}))
    with pytest.raises(StoreError, match="unknown impi nobody@x"):
        store.delete("nobody@x")
    with pytest.raises(StoreError, match="unknown identity sip:x@y"):
        store.set_barring("sip:x@y", True)
    with pytest.raises(StoreError, match="unknown service profile gold"):
        store.set_subscriber_profile("9@r.example", "gold")
    assert store.find("001010000000009").impi == "9@r.example"  # type: ignore[union-attr]


def test_add_many_is_all_or_nothing_and_names_the_record(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.add(make_subscriber(GOOD))
    other = {**GOOD, "impi": "10@r.example", "imsi": "001010000000010", "impus": ["sip:ten@r.example"]}
    with pytest.raises(StoreError, match="f.csv:3: impi 9@r.example already exists"):
        store.add_many([make_subscriber(other), make_subscriber(GOOD)], ["f.csv:2", "f.csv:3"])
    assert store.get("10@r.example") is None


def test_csv_rows_validated_first_with_line_numbers() -> None:
    head = "imsi,impi,impus,k,opc\n"
    ok = "001010000000001,1@r,sip:a@r;tel:+1 | sip:a2@r," + "00" * 16 + "," + "11" * 16 + "\n"
    subs, where = parse_csv_rows(head + ok, "x.csv")
    assert subs[0].impus == ["sip:a@r", "tel:+1", "sip:a2@r"] and subs[0].irs == [1, 1, 2] and where == ["x.csv:2"]
    with pytest.raises(StoreError, match="x.csv:3: 1@r is already on line 2"):
        parse_csv(head + ok + ok, "x.csv")
    with pytest.raises(StoreError, match="x.csv:1: unknown column"):
        parse_csv("imsi,impi,impus,k,opc,colour\n", "x.csv")


def test_an_old_store_gains_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE impi (impi TEXT PRIMARY KEY, imsi TEXT NOT NULL, msisdn TEXT, k BLOB NOT NULL,
            opc BLOB NOT NULL, op BLOB, amf BLOB NOT NULL, sqn INTEGER NOT NULL, password TEXT,
            service_profile TEXT, barred INTEGER);
        CREATE TABLE impu (impu TEXT PRIMARY KEY, impi TEXT REFERENCES impi(impi), barred INTEGER, state TEXT,
            scscf TEXT);
        INSERT INTO impi VALUES ('1@r', '001010000000001', NULL, zeroblob(16), zeroblob(16), NULL, x'8000', 32,
            NULL, NULL, 0);
        INSERT INTO impu VALUES ('sip:a@r', '1@r', 0, 'NOT_REGISTERED', NULL);""")
    conn.commit()
    conn.close()
    store = Store(path)
    sub = store.get("1@r")
    assert sub is not None and sub.sqn == 32 and sub.irs == [1] and sub.auth_schemes[0] == "Digest-AKAv1-MD5"
