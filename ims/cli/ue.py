"""``ims ue``: drive the simulated handsets of a running lab over their gRPC service.

    ims ue list                          # every handset: registered?, identities, calls
    ims ue register alice                # IMS-AKA (or MD5) registration; prints the outcome
    ims ue call alice sip:bob@DOMAIN     # or tel:+15550002; --wait confirmed
    ims ue answer bob | reject bob --status 486 | hangup alice
    ims ue message alice tel:+15550002 "hello"

The UE node's control address comes from the running lab (``--run-dir``)
or ``--control 127.0.0.1:PORT``.  The client is ``ims.control.ue.UeClient``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ims.control.client import ControlError
from ims.control.ue import UeClient

console = Console(soft_wrap=True)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ue = sub.add_parser("ue", help="drive the simulated handsets (register, call, answer, hang up, status)")
    ue.add_argument("--run-dir", default=".ims-run", help="the running lab (default .ims-run)")
    ue.add_argument("--control", help="the UE node's control address host:port (instead of --run-dir)")
    ue.add_argument("--node", help="which UE node, when the lab has several")
    cmds = ue.add_subparsers(dest="ue_command", metavar="ACTION")
    cmds.required = True
    p = cmds.add_parser("list", help="every handset of the node")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_list)
    p = cmds.add_parser("status", help="one handset, with its calls")
    p.add_argument("ue")
    p.set_defaults(func=_status)
    for name, fn, text in (("register", _register, "REGISTER and wait for the outcome"),
                           ("deregister", _deregister, "REGISTER with Expires 0")):
        p = cmds.add_parser(name, help=text)
        p.add_argument("ue")
        p.set_defaults(func=fn)
    p = cmds.add_parser("call", help="call a sip: or tel: URI")
    p.add_argument("ue")
    p.add_argument("target")
    p.add_argument("--wait", metavar="STATE", help="wait until the call is in STATE (e.g. confirmed)")
    p.add_argument("--timeout", type=float, default=10.0)
    p.set_defaults(func=_call)
    for name, fn, text in (("answer", _answer, "answer the ringing call"),
                           ("hangup", _hangup, "BYE, or CANCEL while it rings"),
                           ("hold", _hold, "put the call on hold (re-INVITE a=sendonly)"),
                           ("resume", _resume, "take it off hold (re-INVITE a=sendrecv)")):
        p = cmds.add_parser(name, help=text)
        p.add_argument("ue")
        p.add_argument("--call-id", default="")
        p.set_defaults(func=fn)
    p = cmds.add_parser("reject", help="reject the ringing call")
    p.add_argument("ue")
    p.add_argument("--call-id", default="")
    p.add_argument("--status", type=int, default=486)
    p.set_defaults(func=_reject)
    p = cmds.add_parser("dtmf", help="send digits in the call (INFO application/dtmf-relay, or RFC 4733 in RTP)")
    p.add_argument("ue")
    p.add_argument("digits")
    p.add_argument("--call-id", default="")
    p.add_argument("--rtp", action="store_true", help="as RFC 4733 telephone-events in the media, not INFO")
    p.set_defaults(func=_dtmf)
    p = cmds.add_parser("message", help="send a MESSAGE (RFC 3428)")
    p.add_argument("ue")
    p.add_argument("target")
    p.add_argument("text")
    p.set_defaults(func=_message)


def _target(args: argparse.Namespace) -> str:
    if args.control:
        return str(args.control)
    state = Path(args.run_dir) / "lab.json"
    if not state.exists():
        raise ControlError(f"no running lab in {args.run_dir} (start one with 'ims up', or give --control)")
    nodes = [n for n in json.loads(state.read_text())["nodes"] if n["kind"] == "ue"]
    if args.node:
        nodes = [n for n in nodes if n["name"] == args.node]
    if not nodes:
        raise ControlError(f"the lab in {args.run_dir} has no UE node" + (f" named {args.node}" if args.node else ""))
    return f"127.0.0.1:{nodes[0]['control_port']}"


def _run(args: argparse.Namespace, fn) -> int:  # type: ignore[no-untyped-def]
    try:
        with UeClient(_target(args)) as client:
            return int(fn(client) or 0)
    except ControlError as exc:
        console.print(f"[red]{exc}[/]")
        return 1


def _list(args: argparse.Namespace) -> int:
    def run(c: UeClient) -> int:
        rows = c.list()
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        table = Table()
        for col in ("handset", "identity", "contact", "registered", "auth", "calls"):
            table.add_column(col)
        for r in rows:
            active = sum(1 for k in r["calls"] if k["state"] not in ("ended", "failed"))
            table.add_row(r["name"], r["impu"], r["contact"], "yes" if r["registered"] else "no", r["auth"],
                          f"{active} active / {len(r['calls'])}")
        console.print(table)
        return 0
    return _run(args, run)


def _status(args: argparse.Namespace) -> int:
    return _run(args, lambda c: print(json.dumps(c.status(args.ue), indent=2)))


def _register(args: argparse.Namespace) -> int:
    def run(c: UeClient) -> int:
        status = c.register(args.ue, check=False)
        console.print(f"{args.ue}: {'registered' if status == 200 else 'registration failed'} ({status})")
        return 0 if status == 200 else 1
    return _run(args, run)


def _deregister(args: argparse.Namespace) -> int:
    return _run(args, lambda c: console.print(f"{args.ue}: deregistered ({c.deregister(args.ue)})"))


def _call(args: argparse.Namespace) -> int:
    def run(c: UeClient) -> int:
        call_id = c.call(args.ue, args.target)
        console.print(f"{args.ue} calling {args.target}: call-id {call_id}")
        if args.wait:
            rec = c.wait_call(args.ue, call_id, [args.wait, "failed", "ended"], args.timeout)
            console.print(f"  {rec['state']} ({rec['status']}) {' '.join(rec['history'])}")
            return 0 if rec["state"] == args.wait else 1
        return 0
    return _run(args, run)


def _answer(args: argparse.Namespace) -> int:
    return _run(args, lambda c: c.answer(args.ue, args.call_id))


def _hangup(args: argparse.Namespace) -> int:
    return _run(args, lambda c: c.hangup(args.ue, args.call_id))


def _hold(args: argparse.Namespace) -> int:
    return _run(args, lambda c: console.print(f"{args.ue}: on hold (re-INVITE {c.hold(args.ue, args.call_id)})"))


def _resume(args: argparse.Namespace) -> int:
    return _run(args, lambda c: console.print(f"{args.ue}: resumed (re-INVITE {c.resume(args.ue, args.call_id)})"))


def _dtmf(args: argparse.Namespace) -> int:
    return _run(args, lambda c: c.send_dtmf(args.ue, args.digits, args.call_id,
                                            method="rtp" if args.rtp else "info"))


def _reject(args: argparse.Namespace) -> int:
    return _run(args, lambda c: c.reject(args.ue, args.call_id, args.status))


def _message(args: argparse.Namespace) -> int:
    def run(c: UeClient) -> int:
        status = c.message(args.ue, args.target, args.text)
        console.print(f"MESSAGE {args.target}: {status}")
        return 0 if 200 <= status < 300 else 1
    return _run(args, run)
