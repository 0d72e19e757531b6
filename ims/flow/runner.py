"""Run flows against a lab: boot (or reuse) it, drive the handsets, check what crossed the wire.

The lab is started with the handsets not registering by themselves (the
flow decides), every node's control-plane event stream is followed from
the start, and each step is run in order.  An action that fails, or an
expectation that does not hold within its timeout, fails the step with a
message naming what differed; the flow goes on to its next step only while
steps pass (later steps usually depend on earlier ones).  Between flows on
the same lab, calls are hung up, handsets deregistered and impairments
cleared.

Everything goes through the same gRPC clients users have
(``UeClient``, ``NodeClient``, ``HssClient``).
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from ims.control.client import ControlError, NodeClient
from ims.control.events import NodeEvent
from ims.control.tap import EventTap
from ims.control.ue import UeClient
from ims.flow.schema import Flow, Step
from ims.lab import Lab, NodeProcess
from ims.topology import Topology, load

UE_BASE_PORT = 5060  # nodes/ue.py: handset i of a UE node listens on 5060 + i


@dataclass
class StepResult:
    index: int
    label: str
    ok: bool
    message: str = ""
    seconds: float = 0.0


@dataclass
class FlowResult:
    name: str
    file: str
    steps: list[StepResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


class StepFailed(Exception):
    pass


class Tap:
    """Every message each node sends, as the node reports it (``ims.control.tap.EventTap``)."""

    def __init__(self) -> None:
        self.events: list[NodeEvent] = []
        self.lock = threading.Lock()
        self._tap = EventTap(self._collect)
        self.stop = self._tap.stop

    def follow(self, node: NodeProcess) -> None:
        self._tap.follow(f"127.0.0.1:{node.control_port}")

    def _collect(self, target: str, ev: NodeEvent) -> None:
        if ev.direction == "out":
            with self.lock:
                self.events.append(ev)

    def since(self, t0: float) -> list[NodeEvent]:
        with self.lock:
            return [e for e in self.events if e.time >= t0]


def message_name(ev: NodeEvent) -> str:
    """REGISTER / 401 / MAR / MAA: what a ladder would call the message."""
    words = ev.summary.split()
    if not words:
        return ""
    if ev.kind == "sip" and words[0].startswith("SIP/") and len(words) > 1:
        return words[1]
    return words[0]


class FlowRunner:
    def __init__(self, topology: Path, run_dir: Path) -> None:
        self.topology_path = topology
        self.topology: Topology = load(topology)
        self.lab = Lab(topology, run_dir)
        self.tap = Tap()
        self.names: dict[str, str] = {}  # "host:port" or "host" -> node/handset name
        self.where: dict[str, tuple[str, int | None]] = {}  # name -> (host, port or None for any)
        for n in self.topology.nodes:
            self.where[n.name] = (n.address, None)
            self.names[n.address] = n.name
            handsets = [u for u in self.topology.ues if u.node == n.name]
            for i, u in enumerate(handsets):
                self.where[u.name] = (n.address, UE_BASE_PORT + i)
                self.names[f"{n.address}:{UE_BASE_PORT + i}"] = u.name
        self.ue_control: dict[str, str] = {}  # handset -> its UE node's control target
        for u in self.topology.ues:
            self.ue_control[u.name] = f"127.0.0.1:{self.topology.node(u.node).control_port}"
        self.started_here = False

    # -- lab --------------------------------------------------------------------------
    def start(self) -> None:
        self.lab.up(timeout=30, on_started=self.tap.follow, extra_args={"ue": ("--no-register",)})
        self.started_here = True

    def stop(self) -> list[str]:
        self.tap.stop.set()
        return self.lab.down() if self.started_here else []

    def who(self, hostport: str) -> str:
        return self.names.get(hostport) or self.names.get(hostport.rsplit(":", 1)[0], hostport)

    def _ues(self, ue: str) -> UeClient:
        if ue not in self.ue_control:
            raise StepFailed(f"no handset {ue!r} in {self.topology_path.name} (have: {', '.join(self.ue_control)})")
        return UeClient(self.ue_control[ue], timeout=30)

    def _node(self, name: str) -> NodeClient:
        try:
            node = self.topology.node(name)
        except KeyError:
            raise StepFailed(f"no node {name!r} in {self.topology_path.name}") from None
        return NodeClient(f"127.0.0.1:{node.control_port}", timeout=10)

    # -- flows ------------------------------------------------------------------------
    def run(self, flow: Flow, file: str = "") -> FlowResult:
        result = FlowResult(flow.flow.name, file)
        started = time.monotonic()
        window = time.time()
        for i, step in enumerate(flow.steps):
            t0 = time.monotonic()
            if not step.kind.startswith("expect_"):
                window = time.time()  # message expectations look at what followed the last action
            try:
                self._step(step, window)
                result.steps.append(StepResult(i, step.label(), True, seconds=time.monotonic() - t0))
            except (StepFailed, ControlError) as exc:
                result.steps.append(StepResult(i, step.label(), False, str(exc), time.monotonic() - t0))
                break
        result.seconds = time.monotonic() - started
        self.reset()
        return result

    def reset(self) -> None:
        """Leave the lab as a flow found it: no calls, no registrations, no impairments."""
        for target in sorted(set(self.ue_control.values())):
            try:
                with UeClient(target, timeout=15) as ues:
                    for h in ues.list():
                        for c in h["calls"]:
                            if c["state"] not in ("ended", "failed"):
                                try:
                                    ues.hangup(h["name"], c["call_id"])
                                except ControlError:
                                    pass
                        if h["registered"]:
                            try:
                                ues.deregister(h["name"], timeout=5)
                            except ControlError:
                                pass
            except ControlError:
                pass
        for n in self.topology.nodes:
            try:
                with NodeClient(f"127.0.0.1:{n.control_port}", timeout=5) as c:
                    c.impair("", clear=True)
            except ControlError:
                pass

    # -- steps ------------------------------------------------------------------------
    def _step(self, step: Step, window: float) -> None:
        kind = step.kind
        value = step.get(kind)
        if kind == "register":
            ue, expect = (value, 200) if isinstance(value, str) else (value.ue, value.expect)  # type: ignore[union-attr]
            with self._ues(ue) as ues:
                got = ues.register(ue, check=False)
            if got != expect:
                raise StepFailed(f"{ue}: registration ended {got}, expected {expect}")
        elif kind == "deregister":
            with self._ues(value) as ues:  # type: ignore[arg-type]
                got = ues.deregister(value)  # type: ignore[arg-type]
            if got != 200:
                raise StepFailed(f"{value}: deregistration ended {got}, expected 200")
        elif kind == "call":
            self._call(value)  # type: ignore[arg-type]
        elif kind == "answer":
            with self._ues(value) as ues:  # type: ignore[arg-type]
                ues.wait_call(value, "", ["incoming", "ringing"], 10)  # type: ignore[arg-type]
                ues.answer(value)  # type: ignore[arg-type]
        elif kind == "reject":
            ue, status = (value, 486) if isinstance(value, str) else (value.ue, value.status)  # type: ignore[union-attr]
            with self._ues(ue) as ues:
                ues.wait_call(ue, "", ["incoming", "ringing"], 10)
                ues.reject(ue, "", status)
        elif kind == "hangup":
            with self._ues(value) as ues:  # type: ignore[arg-type]
                ues.hangup(value)  # type: ignore[arg-type]
        elif kind in ("hold", "resume"):
            with self._ues(value) as ues:  # type: ignore[arg-type]
                status = ues.hold(value) if kind == "hold" else ues.resume(value)  # type: ignore[arg-type]
            if status != 200:
                raise StepFailed(f"{value}: {kind} re-INVITE ended {status}")
        elif kind == "dtmf":
            with self._ues(value.ue) as ues:  # type: ignore[union-attr]
                ues.send_dtmf(value.ue, value.digits, method=value.method)  # type: ignore[union-attr]
        elif kind == "message":
            with self._ues(value.from_) as ues:  # type: ignore[union-attr]
                got = ues.message(value.from_, value.to, value.text)  # type: ignore[union-attr]
            if got != value.expect:  # type: ignore[union-attr]
                raise StepFailed(f"MESSAGE to {value.to} ended {got}, expected {value.expect}")  # type: ignore[union-attr]
        elif kind == "wait":
            time.sleep(float(value))  # type: ignore[arg-type]
        elif kind == "impair":
            peer = value.peer  # type: ignore[union-attr]
            if peer in self.where:
                peer = self.where[peer][0]
            with self._node(value.node) as node:  # type: ignore[union-attr]
                node.impair(peer, delay_ms=value.delay_ms, jitter_ms=value.jitter_ms,  # type: ignore[union-attr]
                            loss_percent=value.loss, pause_s=value.pause, clear=value.clear)  # type: ignore[union-attr]
        elif kind == "network_deregister":
            from ims.control.hss import HssClient

            hss = next((n for n in self.topology.nodes if n.kind == "hss"), None)
            if hss is None:
                raise StepFailed("the lab has no HSS")
            with HssClient(f"127.0.0.1:{hss.control_port}", timeout=15) as c:
                code = c.deregister(str(value))
            if code != 2001:
                raise StepFailed(f"RTA {code}, expected 2001")
        elif kind == "expect_message":
            self._expect_message(value, window)  # type: ignore[arg-type]
        elif kind == "expect_call":
            self._expect_call(value)  # type: ignore[arg-type]
        elif kind == "expect_media":
            self._expect_media(value)  # type: ignore[arg-type]
        elif kind == "pstn_call":
            with self._pstn() as pstn:
                try:
                    cic = pstn.call(value.from_, value.to)  # type: ignore[union-attr]
                    got = pstn.wait_call(cic, [value.expect, "released", "idle"], value.timeout)  # type: ignore[union-attr]
                except ControlError as exc:
                    raise StepFailed(f"PSTN call to {value.to}: {exc}") from None  # type: ignore[union-attr]
            if got["state"] != value.expect:  # type: ignore[union-attr]
                raise StepFailed(f"PSTN call on circuit {cic} is {got['state']} (cause {got['cause']}), "
                                 f"expected {value.expect}")  # type: ignore[union-attr]
        elif kind == "pstn_hangup":
            with self._pstn() as pstn:
                cic = int(value) or pstn.status()["calls"][-1]["cic"]  # type: ignore[arg-type]
                pstn.hangup(cic)
        elif kind == "expect_pstn":
            self._expect_pstn(value)  # type: ignore[arg-type]
        elif kind == "expect_registered":
            ue, want, timeout = (value, True, 10.0) if isinstance(value, str) else (
                value.ue, value.registered, value.timeout)  # type: ignore[union-attr]
            deadline = time.monotonic() + timeout
            with self._ues(ue) as ues:
                while True:
                    got = ues.status(ue)["registered"]
                    if got == want:
                        return
                    if time.monotonic() > deadline:
                        raise StepFailed(f"{ue} is {'' if got else 'not '}registered after {timeout} s")
                    time.sleep(0.1)

    def _call(self, c) -> None:  # type: ignore[no-untyped-def]
        with self._ues(c.from_) as ues:
            call_id = ues.call(c.from_, c.to)
            final = ["confirmed", "failed", "ended"]
            states = [c.expect] + final if isinstance(c.expect, str) else final
            try:
                rec = ues.wait_call(c.from_, call_id, states, c.timeout)
            except ControlError as exc:
                raise StepFailed(f"call to {c.to}: {exc}") from None
        if isinstance(c.expect, int):
            if rec["status"] != c.expect:
                raise StepFailed(f"call to {c.to} ended {rec['state']} {rec['status']}, expected {c.expect}")
        elif rec["state"] != c.expect:
            raise StepFailed(f"call to {c.to} is {rec['state']} ({rec['status']} {rec['reason']}), "
                             f"expected {c.expect}")

    def _expect_call(self, e) -> None:  # type: ignore[no-untyped-def]
        states = [e.state] if e.state else ["confirmed", "failed", "ended"]
        with self._ues(e.ue) as ues:
            try:
                rec = ues.wait_call(e.ue, "", states, e.timeout)
            except ControlError as exc:
                raise StepFailed(f"{e.ue}: {exc}") from None
        if e.status is not None and rec["status"] != e.status:
            raise StepFailed(f"{e.ue}: call {rec['state']} with status {rec['status']}, expected {e.status}")
        if e.dtmf is not None:
            deadline = time.monotonic() + e.timeout
            with self._ues(e.ue) as ues:
                while rec["dtmf"] != e.dtmf and time.monotonic() < deadline:
                    time.sleep(0.05)
                    rec = next(c for c in ues.status(e.ue)["calls"] if c["call_id"] == rec["call_id"])
            if rec["dtmf"] != e.dtmf:
                raise StepFailed(f"{e.ue}: received digits {rec['dtmf']!r}, expected {e.dtmf!r}")
        if e.held is not None and rec["held"] != e.held:
            raise StepFailed(f"{e.ue}: the call is {'' if rec['held'] else 'not '}on hold")
        if e.max_setup_ms is not None and not 0 < rec["setup_ms"] <= e.max_setup_ms:
            raise StepFailed(f"{e.ue}: set-up took {rec['setup_ms']:.0f} ms, more than {e.max_setup_ms:.0f} ms")

    def _pstn(self):  # type: ignore[no-untyped-def]
        from ims.control.pstn import PstnClient

        node = next((n for n in self.topology.nodes if n.kind == "pstn"), None)
        if node is None:
            raise StepFailed(f"{self.topology_path.name} has no PSTN exchange")
        return PstnClient(f"127.0.0.1:{node.control_port}", timeout=15)

    def _expect_pstn(self, e) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + e.timeout
        problems: list[str] = []
        with self._pstn() as pstn:
            while True:
                calls = [c for c in pstn.status()["calls"] if not e.cic or c["cic"] == e.cic]
                problems = ["no call on the exchange"] if not calls else _pstn_problems(calls[-1], e)
                if not problems or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        if problems:
            raise StepFailed(f"PSTN: {'; '.join(problems)}")

    def _expect_media(self, e) -> None:  # type: ignore[no-untyped-def]
        """Polls the handset's latest call until its media figures satisfy ``e`` or ``e.timeout`` passes."""
        deadline = time.monotonic() + e.timeout
        problems: list[str] = ["no call"]
        with self._ues(e.ue) as ues:
            while True:
                calls = ues.status(e.ue)["calls"]
                m = calls[-1]["media"] if calls else {}
                problems = _media_problems(m, e)
                if not problems or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        if problems:
            raise StepFailed(f"{e.ue}: media {'; '.join(problems)}")

    def _matches(self, ev: NodeEvent, src: str, dst: str, e) -> bool:  # type: ignore[no-untyped-def]
        if message_name(ev).upper() != e.name.upper():
            return False
        if src != "*" and self.who(ev.src) != src:
            return False
        if dst != "*" and self.who(ev.dst) != dst:
            return False
        return True

    def _expect_message(self, e, window: float) -> None:  # type: ignore[no-untyped-def]
        src, _, dst = (p.strip() for p in e.path.partition("->"))
        for name in (src, dst):
            if name != "*" and name not in self.where:
                raise StepFailed(f"{name!r} is no node or handset of {self.topology_path.name}")
        deadline = time.monotonic() + e.timeout
        while True:
            seen = self.tap.since(window)
            found = [ev for ev in seen if self._matches(ev, src, dst, e)]
            if e.absent:
                if e.header is not None or e.body_contains is not None:  # only such a message must not cross
                    found = [ev for ev in found if self._header_problem(ev, e) is None]
                if found:
                    raise StepFailed(f"{e.name}{_conditions(e)} crossed {e.path}, which it must not")
                if time.monotonic() > deadline - e.timeout + 1.0:  # a second of quiet is enough
                    return
            elif found:
                if e.header is None and e.body_contains is None:
                    return
                problems = [self._header_problem(ev, e) for ev in found]
                if any(p is None for p in problems):
                    return
                if time.monotonic() > deadline:
                    raise StepFailed(problems[-1] or "")
            if time.monotonic() > deadline:
                crossed = [f"{self.who(ev.src)} -> {self.who(ev.dst)} {message_name(ev)}" for ev in seen
                           if src in ("*", self.who(ev.src))]
                raise StepFailed(f"no {e.name} crossed {e.path} within {e.timeout} s; from {src} went: "
                                 + (", ".join(crossed[-12:]) or "nothing"))
            time.sleep(0.05)

    @staticmethod
    def _header_problem(ev: NodeEvent, e) -> str | None:  # type: ignore[no-untyped-def]
        from ims.sip.errors import SipError
        from ims.sip.message import parse_message

        try:
            msg = parse_message(ev.payload)
        except SipError as exc:
            return f"{e.name} on {e.path} does not parse: {exc.reason}"
        if e.body_contains is not None and e.body_contains.encode() not in msg.body:
            return f"{e.name} on {e.path}: the body does not contain {e.body_contains!r}"
        if e.header is None:
            return None
        values = msg.get_all(e.header)
        if not values:
            return f"{e.name} on {e.path} has no {e.header} header"
        joined = ", ".join(values)
        if e.equals is not None and joined != e.equals:
            return f"{e.name} on {e.path}: {e.header} is {joined!r}, expected {e.equals!r}"
        if e.contains is not None and e.contains not in joined:
            return f"{e.name} on {e.path}: {e.header} is {joined!r}, which does not contain {e.contains!r}"
        return None


def junit_xml(results: list[FlowResult]) -> bytes:
    """JUnit XML: a testsuite per flow, a testcase per step (CI systems read it)."""
    root = ET.Element("testsuites", tests=str(sum(len(r.steps) for r in results)),
                      failures=str(sum(1 for r in results for s in r.steps if not s.ok)))
    for r in results:
        suite = ET.SubElement(root, "testsuite", name=r.name, tests=str(len(r.steps)),
                              failures=str(sum(1 for s in r.steps if not s.ok)), time=f"{r.seconds:.3f}",
                              file=r.file)
        for s in r.steps:
            case = ET.SubElement(suite, "testcase", classname=r.name, name=f"{s.index + 1}. {s.label}",
                                 time=f"{s.seconds:.3f}")
            if not s.ok:
                ET.SubElement(case, "failure", message=s.message).text = s.message
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _media_problems(m: dict, e) -> list[str]:  # type: ignore[no-untyped-def, type-arg]
    """What in the media figures ``m`` (a call's status) does not meet ``e`` (an ExpectMedia)."""
    if not m:
        return ["none: the call has no RTP stream (not confirmed, or media disabled)"]
    out = []
    if m["packets_received"] < e.min_packets:
        out.append(f"received {m['packets_received']} packets, expected at least {e.min_packets}")
    if e.max_loss_percent is not None and m["loss_percent"] > e.max_loss_percent:
        out.append(f"loss {m['loss_percent']} % above {e.max_loss_percent} %")
    if e.min_loss_percent is not None and m["loss_percent"] < e.min_loss_percent:
        out.append(f"loss {m['loss_percent']} % below {e.min_loss_percent} %")
    if e.max_jitter_ms is not None and m["jitter_ms"] > e.max_jitter_ms:
        out.append(f"jitter {m['jitter_ms']} ms above {e.max_jitter_ms} ms")
    if e.srtp is not None and bool(m["srtp"]) != e.srtp:
        out.append(f"SRTP {m['srtp'] or 'off'}, expected {'on' if e.srtp else 'off'}")
    if e.codec is not None and m["codec"].lower() != e.codec.lower():
        out.append(f"codec {m['codec']}, expected {e.codec}")
    if e.direction is not None and m["direction"] != e.direction:
        out.append(f"direction {m['direction']}, expected {e.direction}")
    if e.dtmf is not None and m["dtmf_received"] != e.dtmf:
        out.append(f"RFC 4733 digits {m['dtmf_received']!r}, expected {e.dtmf!r}")
    if e.rtt and m["rtt_ms"] is None:
        out.append("no RTCP round-trip time measured")
    return out


def _pstn_problems(c: dict, e) -> list[str]:  # type: ignore[no-untyped-def, type-arg]
    """What in the exchange's call record ``c`` does not meet ``e`` (an ExpectPstn)."""
    out = []
    if e.state is not None and c["state"] != e.state:
        out.append(f"circuit {c['cic']} is {c['state']}, expected {e.state}")
    if e.cause is not None and c["cause"] != e.cause:
        out.append(f"cause {c['cause']}, expected {e.cause}")
    m = c.get("media") or {}
    if e.min_packets is not None and (m.get("packets_received") or 0) < e.min_packets:
        out.append(f"{m.get('packets_received') or 0} RTP packets received, expected at least {e.min_packets}")
    if e.max_loss_percent is not None and (m.get("loss_percent") or 0.0) > e.max_loss_percent:
        out.append(f"loss {m.get('loss_percent')} % above {e.max_loss_percent} %")
    return out


def _conditions(e) -> str:  # type: ignore[no-untyped-def]
    """The header/body conditions of a message expectation, as words (for an absent one's failure)."""
    parts = []
    if e.header is not None:
        if e.equals is not None:
            parts.append(f"{e.header} equal to {e.equals!r}")
        elif e.contains is not None:
            parts.append(f"{e.header} containing {e.contains!r}")
        else:
            parts.append(f"a {e.header} header")
    if e.body_contains is not None:
        parts.append(f"a body containing {e.body_contains!r}")
    return " with " + " and ".join(parts) if parts else ""
