"""``ims subscriber add/list/show/delete/import/update/profile/deregister/push-profile``: provision the HSS.

Two places to work on, same commands, same errors:

* ``--db PATH``: the HSS's SQLite file directly (the HSS node may have it
  open at the same time: WAL mode, one transaction per change);
* ``--control HOST:PORT``: a running HSS over its gRPC control service
  (``ims.control.hss.HssClient``); the only way to reach the network
  procedures (``deregister`` sends an RTR, ``update``/``profile`` a PPR to
  the S-CSCF serving the user).

Errors name the field: duplicates, bad hex, wrong key lengths (K and
OP/OPc 32 hex digits, AMF 4, SQN 12), unknown identities.  A CSV import is
all-or-nothing and names the line of the first bad row.  Exit status 0 on
success, 1 on a refusal.  This module never imports ``nodes``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ims.hss.provisioning import CSV_COLUMNS, make_subscriber, parse_csv_rows
from ims.hss.store import Store, StoreError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("subscriber", help="provision subscribers in an HSS store or a running HSS")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", help="the HSS store (SQLite file)")
    where.add_argument("--control", metavar="HOST:PORT", help="a running HSS's gRPC control service")
    ssub = p.add_subparsers(dest="subscriber_command", metavar="ACTION")
    ssub.required = True
    add = ssub.add_parser("add", help="add one subscriber")
    add.add_argument("--imsi", required=True)
    add.add_argument("--impi", required=True)
    add.add_argument("--impu", action="append", required=True,
                     help="public identity (repeatable); 'a b|c' puts c in a second implicit registration set")
    add.add_argument("--msisdn")
    add.add_argument("--k", required=True, help="32 hex digits")
    g = add.add_mutually_exclusive_group(required=True)
    g.add_argument("--opc", help="32 hex digits")
    g.add_argument("--op", help="32 hex digits (OPc is computed and stored; OP is kept)")
    add.add_argument("--amf", default="8000", help="4 hex digits")
    add.add_argument("--sqn", default="000000000000", help="12 hex digits")
    add.add_argument("--password", help="SIP Digest password (softphones without a USIM)")
    add.add_argument("--auth-schemes", help="comma separated: Digest-AKAv1-MD5,Digest-AKAv2-MD5,SIP Digest")
    add.add_argument("--service-profile")
    add.set_defaults(func=_add)
    ls = ssub.add_parser("list", help="list subscribers")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    show = ssub.add_parser("show", help="show one subscriber (by IMPI, IMPU, IMSI or MSISDN), no secrets")
    show.add_argument("identity")
    show.set_defaults(func=_show)
    delete = ssub.add_parser("delete", help="delete a subscriber by IMPI")
    delete.add_argument("impi")
    delete.set_defaults(func=_delete)
    imp = ssub.add_parser("import", help="import a CSV file (all or nothing)")
    imp.add_argument("csv", help=f"columns: {', '.join(CSV_COLUMNS)}")
    imp.set_defaults(func=_import)
    upd = ssub.add_parser("update", help="change the service profile or barring (PPR to the serving S-CSCF "
                                         "with --control)")
    upd.add_argument("identity", help="IMPI (whole subscription) or IMPU (that identity)")
    upd.add_argument("--service-profile", help="profile name ('' clears)")
    bar = upd.add_mutually_exclusive_group()
    bar.add_argument("--bar", dest="barred", action="store_const", const=True)
    bar.add_argument("--unbar", dest="barred", action="store_const", const=False)
    upd.set_defaults(func=_update)
    prof = ssub.add_parser("profile", help="create or replace a service profile (iFCs)")
    prof.add_argument("name")
    prof.add_argument("--ifcs", help="JSON list of iFCs (the topology's service_profiles.ifcs rows)")
    prof.add_argument("--ifc-xml", help="file with raw <InitialFilterCriteria> elements (TS 29.228 Annex B)")
    prof.set_defaults(func=_profile)
    dereg = ssub.add_parser("deregister", help="network-initiated deregistration: RTR to the serving S-CSCF "
                                               "(needs --control)")
    dereg.add_argument("identity", help="IMPI (all its sets) or IMPU (its implicit set)")
    dereg.add_argument("--reason", type=int, default=0, help="Reason-Code: 0 PERMANENT_TERMINATION, "
                       "1 NEW_SERVER_ASSIGNED, 2 SERVER_CHANGE, 3 REMOVE_S-CSCF")
    dereg.add_argument("--info", default="", help="Reason-Info text")
    dereg.set_defaults(func=_deregister)
    push = ssub.add_parser("push-profile", help="PPR with the current profile (needs --control)")
    push.add_argument("identity")
    push.set_defaults(func=_push)


class _Remote:
    """A running HSS over gRPC, with ControlError turned into StoreError (one error path here)."""

    def __init__(self, target: str) -> None:
        from ims.control.hss import HssClient

        self.client = HssClient(target)

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> Any:
        from ims.control.client import ControlError

        try:
            return getattr(self.client, method)(*args, **kwargs)
        except ControlError as exc:
            raise StoreError(str(exc)) from None


def _fail(exc: Exception) -> int:
    print(f"error: {exc}")
    return 1


def _run(args: argparse.Namespace, local: Any, remote: Any) -> int:
    """``local(store)`` with --db, ``remote(_Remote)`` with --control; StoreError -> exit 1."""
    try:
        if args.control:
            return int(remote(_Remote(args.control)))
        store = Store(args.db)
        try:
            return int(local(store))
        finally:
            store.close()
    except StoreError as exc:
        return _fail(exc)


def _add(args: argparse.Namespace) -> int:
    rec = {"imsi": args.imsi, "impi": args.impi, "impus": " ".join(args.impu), "msisdn": args.msisdn,
           "k": args.k, "opc": args.opc, "op": args.op, "amf": args.amf, "sqn": args.sqn,
           "password": args.password, "service_profile": args.service_profile, "auth_schemes": args.auth_schemes}

    def local(store: Store) -> int:
        store.add(make_subscriber(rec))
        print(f"added {args.impi}")
        return 0

    def remote(r: _Remote) -> int:
        make_subscriber(rec)  # the same checks, before the network
        r("add_subscriber", **{k: v for k, v in rec.items() if v is not None})
        print(f"added {args.impi}")
        return 0
    return _run(args, local, remote)


def _list(args: argparse.Namespace) -> int:
    def show(rows: list[dict[str, Any]]) -> int:
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"subscribers in {args.db or args.control}")
        for col in ("impi", "imsi", "msisdn", "impus"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["impi"], r["imsi"], r["msisdn"] or "", r["impus"] or "")
        Console().print(table)
        return 0
    return _run(args, lambda store: show(store.list()), lambda r: show(r("list_subscribers")))


def _show(args: argparse.Namespace) -> int:
    def local(store: Store) -> int:
        sub = store.find(args.identity)
        if sub is None:
            raise StoreError(f"unknown identity {args.identity}")
        rows = store.impu_rows(sub.impi)
        print(json.dumps({**sub.public(), "registration": [f"{r.impu} {r.state} {r.scscf or '-'}" for r in rows]},
                         indent=2))
        return 0

    def remote(r: _Remote) -> int:
        print(json.dumps(r("get_subscriber", args.identity), indent=2))
        return 0
    return _run(args, local, remote)


def _delete(args: argparse.Namespace) -> int:
    def done(_: Any) -> int:
        print(f"deleted {args.impi}")
        return 0
    return _run(args, lambda store: done(store.delete(args.impi)), lambda r: done(r("delete_subscriber", args.impi)))


def _import(args: argparse.Namespace) -> int:
    path = Path(args.csv)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        return _fail(exc)
    except UnicodeDecodeError as exc:  # one line naming where, not a traceback
        line = raw.count(b"\n", 0, exc.start) + 1
        return _fail(StoreError(f"{path}:{line}: not UTF-8 (byte 0x{raw[exc.start]:02x})"))

    def local(store: Store) -> int:
        subs, where = parse_csv_rows(text, str(path))
        try:
            n = store.add_many(subs, where)
        except StoreError as exc:
            raise StoreError(f"nothing imported: {exc}") from None
        print(f"imported {n} subscribers from {path}")
        return 0

    def remote(r: _Remote) -> int:
        parse_csv_rows(text, str(path))  # the first bad line, before sending thousands of rows
        try:
            n = r("import_subscribers", text, str(path))
        except StoreError as exc:
            raise StoreError(f"nothing imported: {exc}") from None
        print(f"imported {n} subscribers from {path}")
        return 0
    return _run(args, local, remote)


def _update(args: argparse.Namespace) -> int:
    if args.service_profile is None and args.barred is None:
        return _fail(StoreError("update needs --service-profile, --bar or --unbar"))

    def local(store: Store) -> int:
        if args.service_profile is not None:
            store.set_subscriber_profile(args.identity, args.service_profile)
        if args.barred is not None:
            store.set_barring(args.identity, args.barred)
        print(f"updated {args.identity} (no PPR: use --control to reach a running HSS)")
        return 0

    def remote(r: _Remote) -> int:
        code = r("update_subscriber", args.identity, service_profile=args.service_profile, barred=args.barred)
        print(f"updated {args.identity}" + (f"; PPA {code}" if code else "; not served by an S-CSCF, no PPR"))
        return 0
    return _run(args, local, remote)


def _profile(args: argparse.Namespace) -> int:
    try:
        ifcs = json.loads(args.ifcs) if args.ifcs else []
        xml = Path(args.ifc_xml).read_text() if args.ifc_xml else None
    except (OSError, json.JSONDecodeError) as exc:
        return _fail(exc)
    if not isinstance(ifcs, list):
        return _fail(StoreError("--ifcs must be a JSON list"))

    def local(store: Store) -> int:
        store.set_service_profile(args.name, ifcs, xml)
        print(f"service profile {args.name} saved")
        return 0

    def remote(r: _Remote) -> int:
        n = r("set_service_profile", args.name, ifcs, xml or "")
        print(f"service profile {args.name} saved; {n} PPR sent")
        return 0
    return _run(args, local, remote)


def _deregister(args: argparse.Namespace) -> int:
    if not args.control:
        return _fail(StoreError("deregister needs --control HOST:PORT of a running HSS"))

    def remote(r: _Remote) -> int:
        code = r("deregister", args.identity, args.reason, args.info)
        print(f"RTR answered {code}")
        return 0
    return _run(args, lambda store: 1, remote)


def _push(args: argparse.Namespace) -> int:
    if not args.control:
        return _fail(StoreError("push-profile needs --control HOST:PORT of a running HSS"))

    def remote(r: _Remote) -> int:
        code = r("push_profile", args.identity)
        print(f"PPR answered {code}" if code else "not served by an S-CSCF: no PPR")
        return 0
    return _run(args, lambda store: 1, remote)
