"""``ims flow run FLOW...`` and ``ims flow check FLOW...``: declarative call flows with a verdict.

    ims flow run flows/*.toml --junit results.xml

Flows naming the same topology share one lab (booted once, the handsets not
registering by themselves, reset between flows).  One line per step, a
summary, JUnit XML on request; the exit status is 1 when any step failed or
a flow file is invalid.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from ims.flow.loader import FlowError, load_flow
from ims.flow.runner import FlowResult, FlowRunner, junit_xml
from ims.lab import LabError
from ims.topology import TopologyError

console = Console(soft_wrap=True, highlight=False)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    flow = sub.add_parser("flow", help="run declarative call flows against a lab (pass/fail, JUnit XML)")
    cmds = flow.add_subparsers(dest="flow_command", metavar="ACTION")
    cmds.required = True
    run = cmds.add_parser("run", help="boot each flow's lab, run its steps, report")
    run.add_argument("flows", nargs="+", metavar="FLOW")
    run.add_argument("--junit", help="write JUnit XML here")
    run.add_argument("--run-dir", default=".ims-run/flows", help="where the labs keep their state and logs")
    run.add_argument("--pcap", help="write every message of the run here (one file per lab: NAME-LAB.pcap "
                                    "when the flows use several labs)")
    run.add_argument("--ladder", help="write the run as an HTML ladder diagram here (per lab, like --pcap)")
    run.add_argument("--events", help="write the run's messages as JSON lines here (for ims trace; per lab)")
    run.set_defaults(func=_run)
    check = cmds.add_parser("check", help="validate flow files (and the topologies they name)")
    check.add_argument("flows", nargs="+", metavar="FLOW")
    check.set_defaults(func=_check)


def _load_all(files: list[str]) -> tuple[list[tuple[str, object, Path]], list[str]]:
    loaded, errors = [], []
    for f in files:
        try:
            flow, topology = load_flow(f)
            loaded.append((f, flow, topology))
        except FlowError as exc:
            errors.append(str(exc))
    return loaded, errors


def _check(args: argparse.Namespace) -> int:
    from ims.topology import TopologyError, load

    loaded, errors = _load_all(args.flows)
    for f, flow, topology in loaded:
        try:
            load(topology)
            console.print(f"{f}: valid: {len(flow.steps)} steps on {topology.name}")  # type: ignore[attr-defined]
        except TopologyError as exc:
            errors.append(str(exc))
    for e in errors:
        print(e)
    return 1 if errors else 0


def _run(args: argparse.Namespace) -> int:
    loaded, errors = _load_all(args.flows)
    for e in errors:
        print(e)
    if errors:
        return 1
    results: list[FlowResult] = []
    by_topology: dict[Path, list[tuple[str, object]]] = {}
    for f, flow, topology in loaded:
        by_topology.setdefault(topology, []).append((f, flow))
    for topology, flows in by_topology.items():
        try:
            runner = FlowRunner(topology, Path(args.run_dir) / topology.stem)
        except TopologyError as exc:  # the flow's lab file: one line per problem, no traceback
            print(exc)
            return 1
        console.print(f"[bold]lab {topology.name}[/]: starting")
        try:
            runner.start()
        except LabError as exc:
            print(f"cannot start {topology}: {exc}")
            return 1
        try:
            for f, flow in flows:
                result = runner.run(flow, f)  # type: ignore[arg-type]
                results.append(result)
                _print(result, len(flow.steps))  # type: ignore[attr-defined]
        finally:
            runner.stop()
            _evidence(args, runner, topology, len(by_topology) > 1)
    if args.junit:
        Path(args.junit).write_bytes(junit_xml(results))
    failed = [r for r in results if not r.ok]
    steps = sum(len(r.steps) for r in results)
    console.print(f"[bold]{len(results) - len(failed)}/{len(results)} flows passed[/] ({steps} steps run)"
                  + (f"; failed: {', '.join(r.name for r in failed)}" if failed else ""))
    if args.junit:
        console.print(f"JUnit XML: {args.junit}")
    return 1 if failed else 0


def _evidence(args: argparse.Namespace, runner: FlowRunner, topology: Path, several: bool) -> None:
    """--pcap, --ladder, --events: the run's messages, one file per lab when there are several."""

    def path(given: str) -> Path:
        p = Path(given)
        return p.with_name(f"{p.stem}-{topology.stem}{p.suffix}") if several else p

    events = runner.tap.events
    if args.pcap:
        from ims.net.pcap import write_events as write_pcap

        n = write_pcap(path(args.pcap), events)
        console.print(f"capture: {path(args.pcap)} ({n} messages)")
    if args.events:
        from ims.trace.record import write_events

        write_events(path(args.events), events)
        console.print(f"events: {path(args.events)}")
    if args.ladder:
        from ims.trace.ladder import Ladder

        names = {k: v for k, v in runner.names.items()}
        path(args.ladder).write_text(Ladder(events, names, explain_steps=True).html(f"flows on {topology.name}"))
        console.print(f"ladder: {path(args.ladder)}")


def _print(result: FlowResult, planned: int) -> None:
    mark = "[green]PASS[/]" if result.ok else "[red]FAIL[/]"
    console.print(f"{mark} {result.name} ({result.file}, {result.seconds:.1f} s)")
    for s in result.steps:
        if s.ok:
            console.print(f"   [green]✓[/] {s.index + 1}. {s.label}")
        else:
            console.print(f"   [red]✗[/] {s.index + 1}. {s.label}\n       {s.message}")
    if len(result.steps) < planned:
        console.print(f"     ({planned - len(result.steps)} later steps not run)")
