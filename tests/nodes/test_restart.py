"""State survives a restart (issue 13 item 7): ``ims up --foreground`` restarts a SIGKILLed S-CSCF and then
a SIGKILLed P-CSCF (``restart = "on-failure"``); both handsets stay registered - a call between them and a
MESSAGE succeed and no REGISTER reaches the new processes.

A lab of its own on 127.0.6.1x with control ports from the kernel, so it collides with no other test.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ims.control.client import ControlError, NodeClient
from ims.control.ue import UeClient
from ims.lab import Lab, alive

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
HOSTS = {"hss": "127.0.6.10", "icscf": "127.0.6.20", "scscf": "127.0.6.30", "pcscf": "127.0.6.40",
         "ue": "127.0.6.100"}


def _free() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _topology(path: Path) -> None:
    text = (ROOT / "topologies" / "volte-basic.toml").read_text()
    for name, old in (("hss", "127.0.1.10"), ("icscf", "127.0.1.20"), ("scscf", "127.0.1.30"),
                      ("pcscf", "127.0.1.40"), ("ue", "127.0.1.100")):
        text = text.replace(f'address = "{old}"', f'address = "{HOSTS[name]}"')
    for port in ("7110", "7120", "7130", "7140", "7200"):
        text = text.replace(f"control_port = {port}", f"control_port = {_free()}")
    for name in ("scscf", "pcscf"):
        text = text.replace(f'name = "{name}"\nkind = "{name}"\n', f'name = "{name}"\nkind = "{name}"\nrestart = "on-failure"\n')
    assert text.count('restart = "on-failure"') == 2 and "127.0.1." not in text
    path.write_text(text)


def _until(what: str, check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = check()
        except ControlError:
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _stats(lab: Lab, name: str) -> dict[str, Any]:
    node = next(n for n in lab.load_state() if n.name == name)
    with NodeClient(f"127.0.0.1:{node.control_port}", timeout=2) as c:
        return c.stats()


def _kill_and_wait_restart(lab: Lab, name: str, *, settle: bool = True) -> int:
    """SIGKILL the node (a process this lab started) and wait for the supervisor's new one to run;
    ``settle``: first let it write what it has (the P-CSCF writes within a millisecond of a change)."""
    old = next(n for n in lab.load_state() if n.name == name)
    if settle:
        _until(f"{name} state written", lambda: _stats(lab, name).get("state_pending") == 0
               and _stats(lab, name).get("state_rows", 0) >= 2)
    os.kill(old.pid, signal.SIGKILL)

    def restarted() -> bool:
        new = next(n for n in lab.load_state() if n.name == name)
        if new.pid == old.pid or not alive(new.pid):
            return False
        with NodeClient(f"127.0.0.1:{new.control_port}", timeout=2) as c:
            return c.health()["state"] == "running"

    _until(f"{name} restarted", restarted, timeout=30)
    return next(n for n in lab.load_state() if n.name == name).pid


def _call(ues: UeClient, caller: str, callee: str) -> None:
    call = ues.call(caller, f"sip:{callee}@{DOMAIN}")
    state = ues.wait_call(caller, call, ["confirmed", "failed"], 10)
    assert state["state"] == "confirmed", state
    ues.hangup(caller, call)
    assert ues.wait_call(caller, call, ["ended"], 5)["state"] == "ended"


def test_registrations_survive_sigkill_of_scscf_and_pcscf(tmp_path: Path) -> None:
    topo, run_dir = tmp_path / "restart.toml", tmp_path / "run"
    _topology(topo)
    fg = subprocess.Popen([sys.executable, "-m", "ims.cli", "up", str(topo), "--run-dir", str(run_dir),
                           "--foreground"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert fg.stdout is not None
    threading.Thread(target=lambda: [lines.put(ln) for ln in fg.stdout], daemon=True).start()  # type: ignore[union-attr]
    seen = ""
    try:
        deadline = time.monotonic() + 60
        while "nodes healthy" not in seen and fg.poll() is None and time.monotonic() < deadline:
            try:
                seen += lines.get(timeout=1.0)
            except queue.Empty:
                pass
        assert "nodes healthy" in seen, seen
        lab = Lab(topo, run_dir)
        ue = next(n for n in lab.load_state() if n.name == "ue")
        with UeClient(f"127.0.0.1:{ue.control_port}", timeout=20) as ues:
            _until("both handsets registered",
                   lambda: all(u["registered"] for u in ues.list() if u["name"] in ("alice", "bob")))

            # The S-CSCF writes through: once alice's handset has the 200, her new expiry is on disk.
            assert ues.register("alice", expires=1200) == 200
            _kill_and_wait_restart(lab, "scscf", settle=False)
            with sqlite3.connect(f"file:{run_dir / 'scscf-state.sqlite'}?mode=ro", uri=True) as db:
                rows = [json.loads(r) for (r,) in db.execute("SELECT record FROM state WHERE kind = 'user'")]
            alice = next(r for r in rows if f"sip:alice@{DOMAIN}" in r["impus"])
            assert [round(b["expires_at"] - time.time(), -1) for b in alice["bindings"]] in ([1200.0], [1190.0])
            st = _stats(lab, "scscf")
            assert st.get("restored_sets") == 2 and st.get("registrations", 0) == 0, st  # no REGISTER came
            _call(ues, "alice", "bob")  # originating and terminating at the restarted S-CSCF
            assert ues.message("alice", f"sip:bob@{DOMAIN}", "after the S-CSCF restart") == 200

            _kill_and_wait_restart(lab, "pcscf")
            st = _stats(lab, "pcscf")
            assert st.get("restored_registrations") == 2 and st.get("registered", 0) == 0, st
            _call(ues, "bob", "alice")
            # asserted by the new P-CSCF (else the S-CSCF answers 403 to an unregistered originator)
            assert ues.message("alice", f"sip:bob@{DOMAIN}", "after the P-CSCF restart") == 200
            assert _stats(lab, "scscf").get("registrations", 0) == 0  # still nobody had to re-register
    finally:
        fg.send_signal(signal.SIGINT)
        fg.wait(timeout=60)
    time.sleep(0.2)  # the reader thread drains the pipe
    while not lines.empty():
        seen += lines.get()
    assert "restarted scscf" in seen and "restarted pcscf" in seen, seen
