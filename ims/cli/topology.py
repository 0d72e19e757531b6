"""``ims topology check FILE...``: validate lab files without starting anything."""

from __future__ import annotations

import argparse
import json

from ims.topology import TopologyError, load


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("topology", help="inspect and validate topology files")
    tsub = p.add_subparsers(dest="topology_command", metavar="ACTION")
    tsub.required = True
    check = tsub.add_parser("check", help="validate topology files; one line per problem")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--json", action="store_true", help="print the validated topology as JSON")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    status = 0
    for name in args.files:
        try:
            topo = load(name)
        except TopologyError as exc:
            print(exc)
            status = 1
            continue
        if args.json:
            print(json.dumps(topo.model_dump(mode="json"), indent=2))
        else:
            kinds = ", ".join(f"{n.name} ({n.kind} {n.address})" for n in topo.nodes)
            print(f"{name}: valid: {len(topo.nodes)} nodes: {kinds}; "
                  f"{len(topo.subscribers)} subscribers, {len(topo.ues)} UEs")
    return status
