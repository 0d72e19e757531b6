"""``ims up``, ``ims down``, ``ims status``, ``ims logs``: run a lab from its topology file."""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ims.control.auth import ControlAuthError
from ims.lab import Lab, LabError, NodeProcess, alive, last_lines
from ims.topology import TopologyError

DEFAULT_TOPOLOGY = "topologies/volte-basic.toml"
DEFAULT_RUN_DIR = ".ims-run"
console = Console(soft_wrap=True)
if not console.is_terminal:
    # Into a pipe or a log file: the status table's cells are not cut at 80 columns (a COLUMNS inherited
    # from the shell, or set by a test runner, says nothing about a pipe's width).
    console.width = 200


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    up = sub.add_parser("up", help="start every node of a topology as its own process")
    up.add_argument("topology", nargs="?", default=DEFAULT_TOPOLOGY)
    up.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    up.add_argument("--foreground", action="store_true", help="stay attached, report crashes; Ctrl-C stops the lab")
    up.add_argument("--control-host", default="127.0.0.1",
                    help="where the nodes' control services listen (default 127.0.0.1); any other address "
                         "requires a bearer token: $IMS_CONTROL_TOKEN, else one is made in RUN_DIR/control.token")
    up.set_defaults(func=_up)
    down = sub.add_parser("down", help="stop the running lab (graceful, then SIGTERM, then SIGKILL)")
    down.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    down.set_defaults(func=_down)
    status = sub.add_parser("status", help="nodes, addresses, state and counters of the running lab")
    status.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    status.add_argument("--json", action="store_true")
    status.add_argument("--watch", action="store_true", help="keep the table live (Ctrl-C to leave)")
    status.set_defaults(func=_status)
    restart = sub.add_parser("restart", help="restart one node of the running lab")
    restart.add_argument("node")
    restart.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    restart.set_defaults(func=_restart)
    imp = sub.add_parser("impair", help="impair what a node sends toward a peer: delay, jitter, loss, pause")
    imp.add_argument("node")
    imp.add_argument("--peer", default="*", help="destination node name or address (default: every destination)")
    imp.add_argument("--delay-ms", type=float, default=0.0)
    imp.add_argument("--jitter-ms", type=float, default=0.0)
    imp.add_argument("--loss", type=float, default=0.0, help="percent of messages dropped")
    imp.add_argument("--pause", type=float, default=0.0, metavar="S", help="drop everything for S seconds (-1: until --clear)")
    imp.add_argument("--clear", action="store_true", help="remove the rule for --peer (all rules with --peer '')")
    imp.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    imp.set_defaults(func=_impair)
    logs = sub.add_parser("logs", help="a node's log (JSON lines)")
    logs.add_argument("node")
    logs.add_argument("--run-dir", default=DEFAULT_RUN_DIR)
    logs.add_argument("-n", type=int, default=50, help="last N lines")
    logs.set_defaults(func=_logs)


def _lab(args: argparse.Namespace, topology: str | None = None) -> Lab:
    if topology is None:
        state = Path(args.run_dir) / "lab.json"
        topology = json.loads(state.read_text())["topology"] if state.exists() else DEFAULT_TOPOLOGY
    if topology == DEFAULT_TOPOLOGY and not Path(topology).exists():
        # Run from elsewhere than the checkout: the default lab that ships beside the package.
        topology = str(Path(__file__).resolve().parents[2] / DEFAULT_TOPOLOGY)
    return Lab(topology, args.run_dir)


def _up(args: argparse.Namespace) -> int:
    lab = _lab(args, args.topology)
    t0 = time.monotonic()
    try:
        nodes = lab.up(on_started=lambda n: console.print(f"  [green]✓[/] {n.name:8} {n.kind:6} {n.address} "
                                                           f"(pid {n.pid}, {time.monotonic() - t0:.2f} s)"),
                       control_host=args.control_host)
    except (LabError, TopologyError, ControlAuthError) as exc:
        print(f"ims up failed:\n{exc}")  # plain: one problem per line, never wrapped
        return 1
    console.print(f"[bold]{len(nodes)} nodes healthy in {time.monotonic() - t0:.2f} s[/]; run dir {lab.run_dir}")
    if lab.token_file.exists():
        # ims status/down/restart/impair read the token from the run directory; other clients from the environment.
        console.print(f"control services on {args.control_host}, bearer token in {lab.token_file} "
                      f"(for other clients: export IMS_CONTROL_TOKEN=$(cat {lab.token_file}))")
    if not args.foreground:
        return 0
    return _supervise(lab)


def _supervise(lab: Lab) -> int:
    """--foreground: report crashes; restart nodes whose topology says restart = "on-failure",
    with back-off (1, 2, 4 ... 30 s); Ctrl-C brings the lab down."""
    from rich.live import Live

    backoff: dict[str, float] = {}
    not_before: dict[str, float] = {}
    status = 0
    last_table = 0.0
    # The live table only on a terminal: into a pipe it would be reprinted forever (and a reader that
    # waits for the end would fill the pipe and stall the supervisor).
    live_cm: Any = Live(status_table(lab.status()), console=console, refresh_per_second=1) \
        if console.is_terminal else contextlib.nullcontext(None)
    try:
        with live_cm as live:
            out = live.console if live is not None else console
            while True:
                time.sleep(0.5)
                if live is not None and time.monotonic() - last_table > 2.0:  # states, registrations, calls
                    live.update(status_table(lab.status()))
                    last_table = time.monotonic()
                for n in lab.load_state():
                    if alive(n.pid):
                        continue
                    now = time.monotonic()
                    if now < not_before.get(n.name, 0.0):
                        continue
                    out.print(f"[red]{n.name} crashed[/]; last log lines:\n{last_lines(Path(n.log), 10)}")
                    if lab.restart_policy(n.name) != "on-failure":
                        status = 1
                        raise KeyboardInterrupt
                    delay = backoff.get(n.name, 0.5) * 2
                    backoff[n.name] = min(delay, 30.0)
                    try:
                        entry = lab.restart(n.name)
                        out.print(f"  [green]restarted[/] {n.name} (pid {entry.pid})")
                    except LabError as exc:
                        out.print(f"  [red]restart failed[/]: {exc}")
                    not_before[n.name] = time.monotonic() + backoff[n.name]
    except KeyboardInterrupt:
        for line in lab.down():
            console.print(f"  {line}")
    return status


def _restart(args: argparse.Namespace) -> int:
    try:
        entry = _lab(args).restart(args.node)
    except (LabError, KeyError) as exc:
        print(f"ims restart failed: {exc}")
        return 1
    console.print(f"restarted {entry.name} (pid {entry.pid})")
    return 0


def _down(args: argparse.Namespace) -> int:
    lab = _lab(args)
    if not lab.load_state():
        console.print("no lab is running here")
        return 0
    for line in lab.down():
        console.print(f"  {line}")
    return 0


def _status(args: argparse.Namespace) -> int:
    lab = _lab(args)
    rows = lab.status()
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0 if all(r["state"] == "running" for r in rows) else 1
    if not rows:
        console.print("no lab is running here")
        return 0
    if args.watch:
        from rich.live import Live

        with Live(status_table(rows), console=console, refresh_per_second=2) as live:
            try:
                while True:
                    time.sleep(1.0)
                    live.update(status_table(lab.status()))
            except KeyboardInterrupt:
                return 0
    console.print(status_table(rows))
    for r in rows:
        if r["state"] == "crashed":
            console.print(f"[red]{r['name']} crashed[/]; last log lines:\n{r.get('last_log', '')}")
    return 0 if all(r["state"] == "running" for r in rows) else 1


def _num(stats: dict, key: str) -> int:  # type: ignore[type-arg]
    return int(stats.get(key, 0) or 0)


def status_table(rows: list[dict[str, object]]) -> Table:
    """Nodes, addresses, state, registrations, active calls, traffic and internal errors of a running lab."""
    table = Table(title="lab")
    for col in ("node", "kind", "address", "pid", "state", "registrations", "calls", "traffic", "errors"):
        table.add_column(col)
    for r in rows:
        st: dict = r.get("stats") or {}  # type: ignore[assignment]
        kind = r["kind"]
        regs = calls = "-"
        if kind == "scscf":
            regs = f"{_num(st, 'registered_sets')} sets, {_num(st, 'contacts')} contacts"
        elif kind == "pcscf":
            regs = f"{_num(st, 'registered_identities')} identities, {_num(st, 'registered_ues')} UEs"
        elif kind == "ue":
            regs = f"{_num(st, 'registered')}/{_num(st, 'handsets')} handsets"
            calls = f"{_num(st, 'active_calls')} active / {_num(st, 'calls')}"
        elif kind == "hss":
            regs = f"UAR {_num(st, 'UAR')} MAR {_num(st, 'MAR')} SAR {_num(st, 'SAR')} LIR {_num(st, 'LIR')}"
        elif kind == "mgcf":
            regs = "M3UA up" if _num(st, "m3ua_active") else "M3UA down"
            calls = f"{_num(st, 'calls')} calls, {_num(st, 'circuits_busy')} circuits"
        elif kind == "pstn":
            regs = "M3UA up" if _num(st, "m3ua_active") else "M3UA down"
            calls = f"{_num(st, 'active')} active / {_num(st, 'calls')}"
        elif kind == "mgw":
            calls = f"{_num(st, 'contexts')} contexts"
        if "rx" in st:
            traffic = f"SIP rx {_num(st, 'rx')} tx {_num(st, 'tx')}"
        elif "relayed" in st:
            traffic = f"RTP {_num(st, 'relayed')} RTCP {_num(st, 'rtcp_relayed')}"
        elif "isup_in" in st:
            traffic = f"ISUP in {_num(st, 'isup_in')} out {_num(st, 'isup_out')}"
        elif "requests_in" in st:
            traffic = f"Diameter in {_num(st, 'requests_in')} out {_num(st, 'requests_out')}"
        else:
            traffic = "-"
        colour = {"running": "green", "crashed": "red"}.get(str(r["state"]), "yellow")
        # What the node's per-message error boundaries caught (each one a logged traceback to look at).
        errors = str(_num(st, "internal_errors")) if "internal_errors" in st else "-"
        if _num(st, "internal_errors"):
            errors = f"[red]{errors}[/]"
        table.add_row(str(r["name"]), str(kind), str(r["address"]), str(r["pid"]), f"[{colour}]{r['state']}[/]",
                      regs, calls, traffic, errors)
    return table


def _impair(args: argparse.Namespace) -> int:
    from ims.control.client import ControlError, NodeClient

    lab = _lab(args)
    nodes = {n.name: n for n in lab.load_state()}
    node = nodes.get(args.node)
    if node is None:
        console.print(f"no node {args.node!r} in the lab at {args.run_dir}")
        return 1
    peer = nodes[args.peer].address if args.peer in nodes else args.peer
    try:
        with NodeClient(node.control_target, token=lab.token()) as c:
            rules = c.impair(peer, delay_ms=args.delay_ms, jitter_ms=args.jitter_ms, loss_percent=args.loss,
                             pause_s=args.pause, clear=args.clear)
    except ControlError as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    console.print(f"{args.node} impairments: " + ("; ".join(rules) or "none"))
    return 0


def _logs(args: argparse.Namespace) -> int:
    nodes: list[NodeProcess] = _lab(args).load_state()
    for n in nodes:
        if n.name == args.node:
            print(last_lines(Path(n.log), args.n))
            return 0
    console.print(f"no node {args.node!r} in the lab at {args.run_dir}")
    return 1
