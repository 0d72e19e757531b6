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
    p = sub.add_parser("subscriber", help="provision subscribers in an HSS store or a running HSS")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", help="the HSS store (SQLite file)")
    where.add_argument("--control", metavar="HOST:PORT", help="a running HSS's gRPC control service")
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
    dereg = ssub.add_parser("deregister", help="network-initiated deregistration: RTR to the serving S-CSCF "
                            "(needs --control)")
    dereg.add_argument("impi")
    dereg.set_defaults(func=_deregister)


def _store(args: argparse.Namespace) -> Store | _Remote:
    if args.control:
        return _Remote(args.control)
    return Store(args.db)


class _Remote:
    """The Store operations the CLI uses, done by a running HSS over gRPC."""

    def __init__(self, target: str) -> None:
        from ims.control.client import HssClient

        self.client = HssClient(target)

    def _do(self, fn, *args):  # type: ignore[no-untyped-def]
        from ims.control.client import ControlError

        try:
            return fn(*args)
        except ControlError as exc:
            raise StoreError(str(exc)) from None

    def add(self, sub) -> None:  # type: ignore[no-untyped-def]
        self._do(lambda: self.client.add_subscriber(
            impi=sub.impi, imsi=sub.imsi, impus=sub.impus, msisdn=sub.msisdn, k=sub.k.hex(), opc=sub.opc.hex(),
            amf=sub.amf.hex(), sqn=f"{sub.sqn:012x}", password=sub.password, service_profile=sub.service_profile))

    def add_many(self, subs) -> int:  # type: ignore[no-untyped-def]
        raise StoreError("use --db for CSV import, or the ImportSubscribers gRPC call")

    def list(self):  # type: ignore[no-untyped-def]
        return self._do(self.client.list_subscribers)

    def find(self, identity: str):  # type: ignore[no-untyped-def]
        try:
            data = self._do(self.client.get_subscriber, identity)
        except StoreError:
            return None
        return _Shown(data)

    def delete(self, impi: str) -> None:
        self._do(self.client.delete_subscriber, impi)


class _Shown:
    def __init__(self, data: dict) -> None:  # type: ignore[type-arg]
        self.data = data

    def public(self) -> dict:  # type: ignore[type-arg]
        return self.data


def _deregister(args: argparse.Namespace) -> int:
    if not args.control:
        return _fail(StoreError("deregister needs --control HOST:PORT of a running HSS"))
    remote = _Remote(args.control)
    try:
        code = remote._do(remote.client.deregister, args.impi)
    except StoreError as exc:
        return _fail(exc)
    print(f"RTR answered {code}")
    return 0


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
