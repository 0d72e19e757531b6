"""``make chaos``: a fault campaign you can rerun, with a verdict per fault.

It writes a lab of its own (``.ims-run/chaos/chaos.toml``: HSS, I-CSCF, S-CSCF,
P-CSCF and a UE node with six IMS-AKA handsets, on 127.0.11.x, every network node
``restart = "on-failure"``), brings it up with ``ims up --foreground`` (so the
supervisor restarts what dies, as a user's lab would), registers the handsets and
then, while calls run between them and one handset keeps re-registering
(registration traffic, with a new AKA challenge each time), injects each fault
in turn:

- ``kill NODE``: SIGKILL of each network node kind (HSS, I-CSCF, S-CSCF, P-CSCF);
- ``pause NODE``: SIGSTOP for 5 s, then SIGCONT (a node that hangs, then comes back);
- ``loss 10 %``: every node drops 10 % of what it sends on every link (``ims impair``).

Per fault it reports: calls attempted and failed, the time to recover (from the
fault, or for loss from its end, to the first of three calls in a row that
succeed), registrations lost (a handset that was registered before the fault and
cannot send or receive a MESSAGE afterwards without registering again: must be 0),
and SQNs reused (an HSS SQN that went backwards, or a resynchronisation the HSS
had to do, which is what a handset's USIM asks for when it sees an SQN again:
must be 0).  The table goes to the terminal and ``.ims-run/chaos/report.json``;
the exit status is 1 when a fault lost a registration, reused an SQN or never
recovered.

The UE node is the handsets' own process, not a network node: it is not killed.
Calls are signalling only (``media_enabled = false``): the campaign is about the
core's state, and media goes handset to handset.

Every wait is bounded; traffic goes only to 127.0.11.x; the processes ended are
the lab's own, by the PIDs it recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ims.control.client import ControlError, NodeClient
from ims.control.hss import HssClient
from ims.control.ue import UeClient
from ims.lab import Lab, alive

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = ROOT / ".ims-run" / "chaos"
NET = "127.0.11"
DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
NODES = {  # name: (kind, host octet, control port)
    "hss": ("hss", 10, 7810), "icscf": ("icscf", 20, 7820), "scscf": ("scscf", 30, 7830),
    "pcscf": ("pcscf", 40, 7840), "ue": ("ue", 100, 7900)}
USERS = ("u1", "u2", "u3", "u4", "u5", "churn")  # u1..u5 call each other; churn re-registers
CALL_TIMEOUT = 6.0
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def _hex(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()[:32]


def impi(i: int) -> str:
    return f"00101000000{i + 100:04d}@{DOMAIN}"


def impu(name: str) -> str:
    return f"sip:{name}@{DOMAIN}"


def topology() -> str:
    """The campaign's own lab (TOML)."""
    out = ['[lab]\nname = "chaos"\ndescription = "fault campaign lab (tools/chaos.py)"\n',
           f'[[domains]]\nname = "{DOMAIN}"\nmcc = "001"\nmnc = "01"\ncountry_code = "1"\n']
    for name, (kind, octet, port) in NODES.items():
        out.append(f'[[nodes]]\nname = "{name}"\nkind = "{kind}"\naddress = "{NET}.{octet}"\n'
                   f'control_port = {port}\n' + ('restart = "on-failure"\n' if kind != "ue" else ""))
        if kind == "hss":
            out.append('scscfs = ["scscf"]\n[nodes.diameter]\nport = 3868\n')
        elif kind in ("icscf", "scscf"):
            out.append('[nodes.sip]\nport = 5060\n[nodes.diameter]\npeers = ["hss"]\n')
        elif kind == "pcscf":
            out.append('icscf = "icscf"\n[nodes.sip]\nport = 5060\n')
    for i, user in enumerate(USERS):
        out.append(f'[[subscribers]]\nimsi = "{impi(i).split("@")[0]}"\nimpi = "{impi(i)}"\n'
                   f'impus = ["{impu(user)}"]\nk = "{_hex("k" + user)}"\nopc = "{_hex("opc" + user)}"\n'
                   'amf = "8000"\nsqn = "000000000020"\n')
    for i, user in enumerate(USERS):
        out.append(f'[[ues]]\nname = "{user}"\nnode = "ue"\nsubscriber = "{impi(i)}"\npcscf = "pcscf"\n'
                   '[ues.behaviour]\nregister_on_start = false\nanswer_after = 0.05\nmedia_enabled = false\n')
    return "\n".join(out)


@dataclass
class FaultResult:
    fault: str
    calls: int = 0
    failed: int = 0
    recover_s: float | None = None
    registrations: int = 0  # churn re-registrations attempted during the fault window
    registrations_failed: int = 0
    registrations_lost: int = 0
    sqns_reused: int = 0
    notes: list[str] = field(default_factory=list)


class Campaign:
    def __init__(self, run_dir: Path, window: float) -> None:
        self.run_dir = run_dir
        self.window = window  # seconds of traffic after each fault (and before the verdict)
        self.lab = Lab(run_dir / "chaos.toml", run_dir)
        self.ues = UeClient(f"127.0.0.1:{NODES['ue'][2]}", timeout=15)
        self.pair = 0
        self.sqn: dict[str, int] = {}  # highest SQN the HSS has held per subscriber
        self.resyncs = 0  # HSS resynchronisations seen so far (summed over HSS restarts)
        self._hss_resync_seen = 0
        self.paused = 0  # the PID of a node under SIGSTOP

    # -- traffic ----------------------------------------------------------------------------
    def call(self) -> bool:
        callers = USERS[:-1]
        a, b = callers[self.pair % len(callers)], callers[(self.pair + 1) % len(callers)]
        self.pair += 1
        try:
            cid = self.ues.call(a, impu(b))
        except ControlError:
            return False
        try:
            st = self.ues.wait_call(a, cid, ["confirmed", "failed", "ended"], CALL_TIMEOUT)
            ok = st["state"] == "confirmed"
        except ControlError:
            ok = False
        try:
            self.ues.hangup(a, cid)
            self.ues.wait_call(b, cid, ["ended", "failed"], 3) if ok else None
        except ControlError:
            pass
        return ok

    def reregister(self) -> bool:
        try:
            return self.ues.register("churn", timeout=8, check=False) == 200
        except ControlError:
            return False

    def reachable(self, user: str) -> bool:
        """``user`` can send a MESSAGE and receive one, without registering again."""
        other = "u1" if user != "u1" else "u2"
        for src, dst in ((user, other), (other, user)):
            ok = False
            for _ in range(3):  # a lost datagram under test is not a lost registration
                try:
                    if self.ues.message(src, impu(dst), f"chaos check {src}->{dst}") == 200:
                        ok = True
                        break
                except ControlError:
                    pass
            if not ok:
                return False
        return True

    # -- HSS state ---------------------------------------------------------------------------
    def hss_check(self) -> tuple[int, list[str]]:
        """SQNs that went backwards plus new resynchronisations since the last check."""
        reused, notes = 0, []
        try:
            with HssClient(f"127.0.0.1:{NODES['hss'][2]}", timeout=5) as hss:
                for i, user in enumerate(USERS):
                    sqn = int(hss.get_subscriber(impi(i))["sqn"], 16)  # 12 hex digits
                    if sqn < self.sqn.get(user, 0):
                        reused += 1
                        notes.append(f"{user}: HSS SQN went back from {self.sqn[user]:#x} to {sqn:#x}")
                    self.sqn[user] = max(sqn, self.sqn.get(user, 0))
                resync = int(hss.stats().get("resync", 0))
        except ControlError as exc:
            return 0, [f"HSS not reachable for the SQN check: {exc}"]
        if resync < self._hss_resync_seen:  # the HSS restarted: its counter began again
            self._hss_resync_seen = 0
        new = resync - self._hss_resync_seen
        self._hss_resync_seen = resync
        if new:
            reused += new
            notes.append(f"{new} resynchronisation(s) at the HSS")
        return reused, notes

    # -- faults -------------------------------------------------------------------------------
    def pid(self, name: str) -> int:
        return next(n.pid for n in self.lab.load_state() if n.name == name)

    def wait_restarted(self, name: str, old_pid: int, timeout: float = 30.0) -> float | None:
        """Seconds until the supervisor has ``name`` running again under a new PID (and healthy)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                pid = self.pid(name)
            except (StopIteration, OSError, ValueError):
                pid = old_pid
            if pid != old_pid and alive(pid):
                try:
                    with NodeClient(f"127.0.0.1:{NODES[name][2]}", timeout=1) as c:
                        if c.health()["state"] == "running":
                            return time.monotonic() - t0
                except ControlError:
                    pass
            time.sleep(0.1)
        return None

    def run_fault(self, label: str, inject, clear=None, clear_after: float | None = None  # type: ignore[no-untyped-def]
                  ) -> FaultResult:
        """Inject, run calls (and churn re-registrations) for the window, ``clear`` after ``clear_after``
        seconds (default: the window); recovery is timed from the fault, or from the clear if there is one."""
        res = FaultResult(label)
        console.print(f"[bold]{label}[/]")
        t_fault = time.monotonic()
        inject(res)
        t_clear = t_fault
        clear_at = t_fault + (self.window if clear_after is None else clear_after)
        streak, last_rereg, first_ok = 0, 0.0, 0.0
        deadline = t_fault + self.window + 30.0  # bounded: the window plus time to recover
        while time.monotonic() < deadline:
            if clear is not None and time.monotonic() >= clear_at:
                clear(res)
                clear = None
                t_clear = time.monotonic()
                streak = 0
            if time.monotonic() - last_rereg > 2.0:
                res.registrations += 1
                res.registrations_failed += not self.reregister()
                last_rereg = time.monotonic()
            t_call = time.monotonic()
            ok = self.call()
            if not ok:
                time.sleep(0.2)  # a call refused at once: do not spin
            res.calls += 1
            res.failed += not ok
            if ok and streak == 0:
                first_ok = t_call
            streak = streak + 1 if ok else 0
            if streak >= 3 and clear is None and res.recover_s is None:
                res.recover_s = max(0.0, first_ok - t_clear)  # the first of three good calls in a row
            if res.recover_s is not None and time.monotonic() - t_fault >= self.window:
                break
        if res.recover_s is None:
            res.notes.append("calls did not recover in time")
        # The verdict on state: every handset registered before the fault is still reachable.
        for user in USERS[:-1]:  # all registered before the fault (the previous one left them so)
            if not self.reachable(user):
                res.registrations_lost += 1
                res.notes.append(f"{user} unreachable without registering again")
        res.sqns_reused, notes = self.hss_check()
        res.notes += notes
        # Leave the next fault a clean start: re-register whoever was lost (counted above).
        for user in USERS[:-1]:
            if f"{user} unreachable without registering again" in res.notes:
                self.ues.register(user, timeout=8, check=False)
        return res

    def kill(self, name: str):  # type: ignore[no-untyped-def]
        """SIGKILL now; traffic goes on at once (calls fail until the supervisor has restarted it)."""
        def inject(res: FaultResult) -> None:
            pid = self.pid(name)
            os.kill(pid, signal.SIGKILL)

            def watch() -> None:
                back = self.wait_restarted(name, pid)
                res.notes.append(f"restarted by the supervisor in {back:.1f} s" if back is not None
                                 else "not restarted within 30 s")
            self.watch = threading.Thread(target=watch, daemon=True)
            self.watch.start()
        return inject

    def pause(self, name: str, seconds: float = 5.0):  # type: ignore[no-untyped-def]
        """SIGSTOP now and SIGCONT after ``seconds`` (on a timer: a call in progress does not stretch it)."""
        def inject(res: FaultResult) -> None:
            pid = self.pid(name)
            os.kill(pid, signal.SIGSTOP)
            self.paused = pid  # resumed on the timer, or by run()'s clean-up if the campaign is stopped
            self._resume = threading.Timer(seconds, os.kill, (pid, signal.SIGCONT))
            self._resume.start()
            res.notes.append(f"SIGSTOP for {seconds:.0f} s")

        def clear(res: FaultResult) -> None:
            self._resume.join()
        return inject, clear

    def loss(self, percent: float):  # type: ignore[no-untyped-def]
        def inject(res: FaultResult) -> None:
            for _, _, port in NODES.values():
                with NodeClient(f"127.0.0.1:{port}", timeout=5) as c:
                    c.impair("*", loss_percent=percent)
            res.notes.append(f"{percent:.0f} % loss on every link for {self.window:.0f} s")

        def clear(res: FaultResult) -> None:
            for _, _, port in NODES.values():
                with NodeClient(f"127.0.0.1:{port}", timeout=5) as c:
                    c.impair("", clear=True)
        return inject, clear


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "chaos.toml").write_text(topology())
    lab = Lab(run_dir / "chaos.toml", run_dir)
    if any(alive(n.pid) for n in lab.load_state()):
        console.print(f"[red]a lab is already running from {run_dir}[/]; 'ims down --run-dir {run_dir}' first")
        return 2
    out = open(run_dir / "supervisor.log", "wb")  # truncated: the readiness line is looked for in it  # noqa: SIM115 - the supervisor owns it
    sup = subprocess.Popen([sys.executable, "-m", "ims.cli", "up", str(run_dir / "chaos.toml"), "--run-dir",
                            str(run_dir), "--foreground"], stdout=out, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, cwd=ROOT)
    results: list[FaultResult] = []
    c: Campaign | None = None

    def stopped(signum: int, frame: object) -> None:  # SIGTERM (a test's timeout, a CI limit): clean up
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stopped)
    try:
        t0 = time.monotonic()
        c = Campaign(run_dir, args.window)
        while time.monotonic() - t0 < 60:  # 'ims up' says so once every node is healthy
            if b"nodes healthy" in (run_dir / "supervisor.log").read_bytes():
                break
            if sup.poll() is not None:
                raise RuntimeError(f"ims up exited {sup.returncode}; see {run_dir / 'supervisor.log'}")
            time.sleep(0.2)
        else:
            raise RuntimeError("the lab did not come up in 60 s")
        console.print(f"lab up in {time.monotonic() - t0:.1f} s (supervisor pid {sup.pid}); registering")
        for user in USERS:
            status = c.ues.register(user, timeout=10, check=False)
            if status != 200:
                raise RuntimeError(f"{user} could not register before the campaign: {status}")
        c.hss_check()
        base = FaultResult("baseline (no fault)")
        for _ in range(6):
            base.calls += 1
            base.failed += not c.call()
        results.append(base)
        faults = args.faults.split(",")
        for fault in faults:
            kind, _, arg = fault.partition(":")
            if kind == "kill":
                results.append(c.run_fault(f"SIGKILL {arg}", c.kill(arg)))
                c.watch.join()  # its note (time to restart) is in the result
            elif kind == "pause":
                inject, clear = c.pause(arg, 5.0)
                results.append(c.run_fault(f"pause {arg} 5 s", inject, clear, clear_after=5.0))
            elif kind == "loss":
                inject, clear = c.loss(float(arg or 10))
                results.append(c.run_fault(f"loss {float(arg or 10):.0f} % all links", inject, clear))
            else:
                raise RuntimeError(f"unknown fault {fault!r} (kill:NODE, pause:NODE, loss:PERCENT)")
    finally:
        if c is not None and c.paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(c.paused, signal.SIGCONT)  # a frozen node would not stop
        if sup.poll() is None:
            sup.send_signal(signal.SIGINT)  # the supervisor brings the lab down
            try:
                sup.wait(30)
            except subprocess.TimeoutExpired:
                sup.kill()
        lab.down(grace=3)
        out.close()
    return report(results, run_dir)


def report(results: list[FaultResult], run_dir: Path) -> int:
    table = Table(title=f"fault campaign ({os.cpu_count()} cores)")
    for col in ("fault", "calls", "failed", "recover s", "re-reg ok/sent", "regs lost", "SQNs reused", "notes"):
        table.add_column(col)
    bad = 0
    for r in results:
        lost_or_reused = r.registrations_lost or r.sqns_reused
        unrecovered = r.fault != "baseline (no fault)" and r.recover_s is None
        bad += bool(lost_or_reused or unrecovered or (r.fault.startswith("baseline") and r.failed))
        table.add_row(r.fault, str(r.calls), str(r.failed), "-" if r.recover_s is None else f"{r.recover_s:.1f}",
                      f"{r.registrations - r.registrations_failed}/{r.registrations}",
                      ("[red]" if r.registrations_lost else "") + str(r.registrations_lost),
                      ("[red]" if r.sqns_reused else "") + str(r.sqns_reused), "; ".join(r.notes))
    console.print(table)
    (run_dir / "report.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    console.print(("[green]PASS[/]" if not bad else f"[red]FAIL[/] ({bad} fault(s) lost state or did not "
                   "recover)") + f"; report in {run_dir / 'report.json'}")
    return 1 if bad else 0


DEFAULT_FAULTS = "kill:hss,kill:icscf,kill:scscf,kill:pcscf,pause:scscf,pause:hss,loss:10"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.chaos", description=__doc__.split("\n\n")[0])
    p.add_argument("--run-dir", default=str(RUN_DIR))
    p.add_argument("--window", type=float, default=15.0, help="seconds of traffic per fault (default 15)")
    p.add_argument("--faults", default=DEFAULT_FAULTS,
                   help=f"comma-separated kill:NODE, pause:NODE, loss:PERCENT (default {DEFAULT_FAULTS})")
    args = p.parse_args(argv)
    try:
        return run(args)
    except (RuntimeError, ControlError) as exc:
        console.print(f"[red]chaos campaign failed[/]: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
