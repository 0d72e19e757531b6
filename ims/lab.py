"""Bring a topology up as processes, watch them, bring it down: the orchestrator behind ``ims up``.

Each node runs as ``python -m nodes.<kind> --topology FILE --node NAME
--run-dir DIR``, in dependency order (the HSS before the CSCFs), with its
log in ``DIR/logs/NAME.log`` and its PID in ``DIR/lab.json``.  Health comes
from the node's gRPC control service.  ``down`` asks each node to shut down
over gRPC (so it can send DPR or deregister), then SIGTERM, then SIGKILL -
always by the PIDs this lab started.  This module never imports ``nodes``.

Control services listen on 127.0.0.1 unless ``up(control_host=...)`` says
otherwise; beyond loopback the lab uses a bearer token (``$IMS_CONTROL_TOKEN``,
else one made now), kept in ``DIR/control.token`` (mode 0600) for later
commands and handed to the nodes through ``IMS_CONTROL_TOKEN``
(:mod:`ims.control.auth`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ims.control.auth import TOKEN_ENV, TOKEN_FILE, is_loopback, new_token, read_token_file, write_token_file
from ims.topology import load

# Start order: what others depend on first (TS 23.228 roles).
START_ORDER = ("hss", "mgw", "pstn", "scscf", "icscf", "tas", "bgcf", "mgcf", "pcscf", "proxy", "ue")


class LabError(RuntimeError):
    pass


@dataclass
class NodeProcess:
    name: str
    kind: str
    address: str
    control_port: int
    pid: int
    log: str
    control_host: str = "127.0.0.1"  # where its control service listens (lab.json of older labs: loopback)

    @property
    def control_target(self) -> str:
        """The address a client on this host reaches the control service at."""
        host = "127.0.0.1" if self.control_host in ("", "0.0.0.0") else "::1" if self.control_host == "::" \
            else self.control_host
        return f"[{host}]:{self.control_port}" if ":" in host else f"{host}:{self.control_port}"


# Node kinds whose command line has no --control-host: their control service stays on loopback.
LOOPBACK_ONLY = ("proxy",)


def implemented(kind: str) -> bool:
    return importlib.util.find_spec(f"nodes.{kind}") is not None


class Lab:
    def __init__(self, topology: str | Path, run_dir: str | Path) -> None:
        self.topology_path = Path(topology).resolve()
        self.run_dir = Path(run_dir).resolve()
        self.state_file = self.run_dir / "lab.json"
        self.token_file = self.run_dir / TOKEN_FILE

    def token(self) -> str | None:
        """The bearer token of this lab's control services: ``$IMS_CONTROL_TOKEN``, else the run
        directory's ``control.token``, else none (loopback only)."""
        env = os.environ.get(TOKEN_ENV, "").strip()
        if env:
            return env
        return read_token_file(self.token_file) if self.token_file.exists() else None

    # -- state -----------------------------------------------------------------
    def load_state(self) -> list[NodeProcess]:
        if not self.state_file.exists():
            return []
        data = json.loads(self.state_file.read_text())
        return [NodeProcess(**n) for n in data["nodes"]]

    def _save(self, nodes: list[NodeProcess]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"topology": str(self.topology_path), "nodes": [asdict(n) for n in nodes]},
                                  indent=2))
        tmp.replace(self.state_file)

    # -- up ------------------------------------------------------------------------
    def up(self, *, timeout: float = 20.0, on_started=None,  # type: ignore[no-untyped-def]
           extra_args: dict[str, tuple[str, ...]] | None = None, control_host: str = "127.0.0.1"
           ) -> list[NodeProcess]:
        """Start every node; ``extra_args`` adds command-line arguments per node kind
        (e.g. ``{"ue": ("--no-register",)}``).  ``control_host``: where the control services listen
        (beyond loopback only with a token, made here unless ``$IMS_CONTROL_TOKEN`` gives one)."""
        running = [n for n in self.load_state() if alive(n.pid)]
        if running:
            raise LabError(f"a lab is already running from {self.run_dir} ({len(running)} nodes); run 'ims down'")
        if not is_loopback(control_host):
            token = os.environ.get(TOKEN_ENV, "").strip() or new_token()
            write_token_file(self.token_file, token)
        elif self.token_file.exists():
            self.token_file.unlink()  # a token of an earlier lab run here must not linger
        topo = load(self.topology_path)
        missing = sorted({n.kind for n in topo.nodes if not implemented(n.kind)})
        if missing:
            raise LabError(f"{self.topology_path.name}: node kinds not implemented yet: {', '.join(missing)}")
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        started: list[NodeProcess] = []
        order = sorted(topo.nodes, key=lambda n: START_ORDER.index(n.kind) if n.kind in START_ORDER else 99)
        # Every process boots at once (their imports run in parallel); health is awaited in dependency
        # order.  A CSCF that finds its HSS not yet listening reconnects on its own; a handset whose
        # P-CSCF is not up yet gets its REGISTER there by retransmission (RFC 3261 Timer E).
        try:
            launched = []
            for node in order:
                launched.append((node, self._launch(node, (extra_args or {}).get(node.kind, ()), control_host)))
                started.append(launched[-1][1][0])
            self._save(started)
            for node, (entry, proc) in launched:
                self._await_healthy(node, entry, proc, timeout)
                if on_started:
                    on_started(entry)
        except BaseException:
            self.stop(started)
            raise
        # (a failed start leaves lab.json behind on purpose: 'ims status' shows what crashed)
        return started

    def _launch(self, node, extra: tuple[str, ...] = (),  # type: ignore[no-untyped-def]
                control_host: str = "127.0.0.1") -> tuple[NodeProcess, subprocess.Popen[bytes]]:
        log_path = self.run_dir / "logs" / f"{node.name}.log"
        if node.kind in LOOPBACK_ONLY:
            control_host = "127.0.0.1"
        control = () if control_host == "127.0.0.1" else ("--control-host", control_host)
        env = dict(os.environ)
        token = self.token()
        if token:  # the node requires it of its clients and presents it to other nodes (MGCF -> MGW)
            env[TOKEN_ENV] = token
        log = open(log_path, "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            [sys.executable, "-m", f"nodes.{node.kind}", "--topology", str(self.topology_path),
             "--node", node.name, "--run-dir", str(self.run_dir), *control, *extra],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        log.close()
        return NodeProcess(node.name, node.kind, node.address, node.control_port, proc.pid, str(log_path),
                           control_host), proc

    def _await_healthy(self, node, entry: NodeProcess, proc: subprocess.Popen[bytes],  # type: ignore[no-untyped-def]
                       timeout: float) -> None:
        from ims.control.client import ControlError, wait_healthy

        try:
            wait_healthy(entry.control_target, timeout, token=self.token())
        except BaseException as exc:
            if not isinstance(exc, ControlError):  # interrupted while waiting: do not leave it behind
                self.stop([entry], grace=2.0)
                raise
            tail = last_lines(Path(entry.log), 10)
            code = proc.poll()
            why = f"exited with status {code}" if code is not None else f"not healthy after {timeout} s"
            if code is None:
                self.stop([entry], grace=2.0)
            raise LabError(f"node {node.name} ({node.kind}) {why}; last log lines:\n{tail}") from None

    def _spawn(self, node, timeout: float, control_host: str = "127.0.0.1"  # type: ignore[no-untyped-def]
               ) -> NodeProcess:
        """Start one node process and wait until its control service says it is running."""
        entry, proc = self._launch(node, control_host=control_host)
        self._await_healthy(node, entry, proc, timeout)
        return entry

    def restart(self, name: str, *, timeout: float = 20.0) -> NodeProcess:
        """Stop (if still running) and start one node again; the lab's state follows."""
        nodes = self.load_state()
        current = next((n for n in nodes if n.name == name), None)
        if current is None:
            raise LabError(f"no node {name!r} in the lab at {self.run_dir}")
        self.stop([current])
        node = load(self.topology_path).node(name)
        entry = self._spawn(node, timeout, current.control_host)
        self._save([entry if n.name == name else n for n in nodes])
        return entry

    def restart_policy(self, name: str) -> str:
        return load(self.topology_path).node(name).restart

    # -- down ----------------------------------------------------------------------------
    def down(self, *, grace: float = 5.0) -> list[str]:
        """Stop every node.  The lab has ended, so the registrations the CSCFs kept for a restart
        (``NAME-state.sqlite``) go too: the next ``ims up`` starts clean.  The HSS keeps its store
        (subscribers and SQNs must outlive any stop)."""
        nodes = self.load_state()
        report = self.stop(list(reversed(nodes)), grace=grace)
        for n in nodes:
            if n.kind in ("pcscf", "scscf"):
                for suffix in ("", "-wal", "-shm"):
                    (self.run_dir / f"{n.name}-state.sqlite{suffix}").unlink(missing_ok=True)
        if self.state_file.exists():
            self.state_file.unlink()
        return report

    def stop(self, nodes: list[NodeProcess], *, grace: float = 5.0) -> list[str]:
        from ims.control.client import ControlError, NodeClient

        report = []
        token = self.token()
        for n in nodes:
            if not alive(n.pid):
                report.append(f"{n.name}: not running")
                continue
            how = "shutdown over gRPC"
            try:
                with NodeClient(n.control_target, timeout=2, token=token) as c:
                    c.shutdown()
            except ControlError:
                how = "SIGTERM"
                _signal(n.pid, signal.SIGTERM)
            if not wait_gone(n.pid, grace):
                _signal(n.pid, signal.SIGTERM)
                how = "SIGTERM"
                if not wait_gone(n.pid, grace):
                    _signal(n.pid, signal.SIGKILL)
                    wait_gone(n.pid, grace)
                    how = "SIGKILL"
            report.append(f"{n.name}: stopped ({how})")
        return report

    # -- status --------------------------------------------------------------------------
    def status(self) -> list[dict[str, object]]:
        from ims.control.client import ControlError, NodeClient

        rows = []
        token = self.token()
        for n in self.load_state():
            row: dict[str, object] = {"name": n.name, "kind": n.kind, "address": n.address, "pid": n.pid,
                                      "control": n.control_target}
            if not alive(n.pid):
                row["state"] = "crashed"
                row["last_log"] = last_lines(Path(n.log), 5)
            else:
                try:
                    with NodeClient(n.control_target, timeout=2, token=token) as c:
                        row["state"] = c.health()["state"]
                        stats = row["stats"] = c.stats()
                    # What the node's error boundaries caught (issue 13): nonzero means a bug to look at.
                    row["internal_errors"] = int(stats.get("internal_errors", 0))
                except ControlError as exc:
                    row["state"] = f"unreachable ({exc})"
            rows.append(row)
        return rows


def alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap our own child if it exited
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def last_lines(path: Path, n: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""
