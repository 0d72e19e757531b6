"""``ims subscriber add/list/show/delete/import``: provision the HSS store.

Works on the HSS's SQLite file (``--db``), which the HSS node may have open
at the same time (WAL mode; every change is one transaction).  Errors name
the field: duplicates, bad hex, wrong key lengths, unknown identities; a CSV
import is all-or-nothing and names the line of the first bad row.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ims.hss.provisioning import CSV_COLUMNS, parse_csv
from ims.hss.store import Store, StoreError, make_subscriber


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("subscriber", help="provision subscribers in an HSS store")
    p.add_argument("--db", required=True, help="the HSS store (SQLite file)")
    ssub = p.add_subparsers(dest="subscriber_command", metavar="ACTION")
    ssub.required = True
    add = ssub.add_parser("add", help="add one subscriber")
    add.add_argument("--imsi", required=True)
    add.add_argument("--impi", required=True)
    add.add_argument("--impu", action="append", required=True, help="public identity (repeatable)")
    add.add_argument("--msisdn")
    add.add_argument("--k", required=True, help="32 hex digits")
    g = add.add_mutually_exclusive_group(required=True)
    g.add_argument("--opc", help="32 hex digits")
    g.add_argument("--op", help="32 hex digits")
    add.add_argument("--amf", default="8000")
    add.add_argument("--sqn", default="000000000000")
    add.add_argument("--password", help="for MD5 digest (softphones without a USIM)")
    add.add_argument("--service-profile")
    add.set_defaults(func=_add)
    ls = ssub.add_parser("list", help="list subscribers")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    show = ssub.add_parser("show", help="show one subscriber (by IMPI, IMPU, IMSI or MSISDN)")
    show.add_argument("identity")
    show.set_defaults(func=_show)
    delete = ssub.add_parser("delete", help="delete a subscriber by IMPI")
    delete.add_argument("impi")
    delete.set_defaults(func=_delete)
    imp = ssub.add_parser("import", help="import a CSV file (all or nothing)")
    imp.add_argument("csv", help=f"columns: {', '.join(CSV_COLUMNS)}")
    imp.set_defaults(func=_import)


def _store(args: argparse.Namespace) -> Store:
    return Store(args.db)


def _fail(exc: Exception) -> int:
    print(f"error: {exc}")
    return 1


def _add(args: argparse.Namespace) -> int:
    rec = {"imsi": args.imsi, "impi": args.impi, "impus": args.impu, "msisdn": args.msisdn, "k": args.k,
           "opc": args.opc, "op": args.op, "amf": args.amf, "sqn": args.sqn, "password": args.password,
           "service_profile": args.service_profile}
    try:
        _store(args).add(make_subscriber(rec))
    except StoreError as exc:
        return _fail(exc)
    print(f"added {args.impi}")
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = _store(args).list()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"subscribers in {args.db}")
    for col in ("impi", "imsi", "msisdn", "impus"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["impi"], r["imsi"], r["msisdn"] or "", r["impus"] or "")
    Console().print(table)
    return 0


def _show(args: argparse.Namespace) -> int:
    sub = _store(args).find(args.identity)
    if sub is None:
        return _fail(StoreError(f"unknown identity {args.identity}"))
    print(json.dumps(sub.public(), indent=2))
    return 0


def _delete(args: argparse.Namespace) -> int:
    try:
        _store(args).delete(args.impi)
    except StoreError as exc:
        return _fail(exc)
    print(f"deleted {args.impi}")
    return 0


def _import(args: argparse.Namespace) -> int:
    path = Path(args.csv)
    try:
        subs = parse_csv(path.read_text(), str(path))
    except (OSError, StoreError) as exc:
        return _fail(exc)
    try:
        n = _store(args).add_many(subs)
    except StoreError as exc:
        return _fail(StoreError(f"{path}: nothing imported: {exc}"))
    print(f"imported {n} subscribers from {path}")
    return 0
