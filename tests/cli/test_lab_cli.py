"""``ims up`` / ``ims status`` / ``ims down`` on a lab of implemented nodes, in subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]

LAB = """
[lab]
name = "mini"

[[domains]]
name = "ims.example.net"

[[nodes]]
name = "hss"
kind = "hss"
address = "127.0.7.10"
control_port = {hss_port}
scscfs = []
[nodes.diameter]
port = 3868

[[nodes]]
name = "proxy"
kind = "proxy"
address = "127.0.7.20"
control_port = {proxy_port}
[nodes.sip]
port = 5060
"""


def _free() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ims(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ims.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def test_up_status_kill_detection_down(tmp_path: Path) -> None:
    topo = tmp_path / "mini.toml"
    topo.write_text(LAB.format(hss_port=_free(), proxy_port=_free()))
    run_dir = str(tmp_path / "run")
    up = _ims("up", str(topo), "--run-dir", run_dir)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "2 nodes healthy" in up.stdout
    status = _ims("status", "--run-dir", run_dir, "--json")
    rows = json.loads(status.stdout)
    assert status.returncode == 0 and [r["name"] for r in rows] == ["hss", "proxy"]
    assert all(r["state"] == "running" for r in rows)
    again = _ims("up", str(topo), "--run-dir", run_dir)
    assert again.returncode == 1 and "already running" in again.stdout
    old_hss = next(r["pid"] for r in rows if r["name"] == "hss")
    restarted = _ims("restart", "hss", "--run-dir", run_dir)
    assert restarted.returncode == 0 and "restarted hss" in restarted.stdout
    rows = json.loads(_ims("status", "--run-dir", run_dir, "--json").stdout)
    assert next(r["pid"] for r in rows if r["name"] == "hss") != old_hss
    assert all(r["state"] == "running" for r in rows)
    # A node killed behind the lab's back is reported as crashed, with its last log lines.
    proxy_pid = next(r["pid"] for r in rows if r["name"] == "proxy")
    os.kill(proxy_pid, signal.SIGKILL)
    time.sleep(0.3)
    status = _ims("status", "--run-dir", run_dir)
    assert status.returncode == 1 and "proxy crashed" in status.stdout and "listening on" in status.stdout
    down = _ims("down", "--run-dir", run_dir)
    assert down.returncode == 0 and "hss: stopped (shutdown over gRPC)" in down.stdout
    assert "proxy: not running" in down.stdout
    assert not (tmp_path / "run" / "lab.json").exists()
    logs = (tmp_path / "run" / "logs" / "hss.log").read_text().splitlines()
    assert all(json.loads(line)["node"] == "hss" for line in logs if line.startswith("{"))


def test_up_refuses_unimplemented_kinds_and_invalid_files(tmp_path: Path) -> None:
    from ims.lab import implemented

    assert not implemented("tas")  # the one kind still missing: a lab that names it must not half-start
    lab = tmp_path / "tas.toml"
    lab.write_text(LAB.format(hss_port=_free(), proxy_port=_free()) +
                   f'\n[[nodes]]\nname = "tas"\nkind = "tas"\naddress = "127.0.7.30"\ncontrol_port = {_free()}\n')
    run = _ims("up", str(lab), "--run-dir", str(tmp_path / "r"))
    if run.returncode == 0:  # never leave a lab behind
        _ims("down", "--run-dir", str(tmp_path / "r"))
    assert run.returncode == 1 and "not implemented yet" in run.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[[nodes]]\nname = 1\n")
    run = _ims("up", str(bad), "--run-dir", str(tmp_path / "r2"))
    assert run.returncode == 1 and "domains: required field is missing" in run.stdout


def test_restart_and_foreground_supervision_restarts_on_failure(tmp_path: Path) -> None:
    topo = tmp_path / "mini.toml"
    text = LAB.format(hss_port=_free(), proxy_port=_free()).replace("127.0.7.10", "127.0.7.11")
    text = text.replace("127.0.7.20", "127.0.7.21")
    text = text.replace('name = "proxy"\nkind = "proxy"', 'name = "proxy"\nkind = "proxy"\nrestart = "on-failure"')
    topo.write_text(text)
    run_dir = tmp_path / "run"
    fg = subprocess.Popen([sys.executable, "-m", "ims.cli", "up", str(topo), "--run-dir", str(run_dir),
                           "--foreground"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        rows: list = []
        # Kill only once 'ims up' itself says the lab is up: nodes answer Health a little before the
        # orchestrator has finished waiting for them, and a node dying during start-up fails the start.
        # (A reader thread: select() on a buffered pipe misses lines already read into the buffer.)
        import queue
        import threading

        lines: queue.Queue[str] = queue.Queue()
        assert fg.stdout is not None
        threading.Thread(target=lambda: [lines.put(ln) for ln in fg.stdout], daemon=True).start()  # type: ignore[union-attr]
        seen = ""
        while "nodes healthy" not in seen and time.monotonic() < deadline:
            try:
                seen += lines.get(timeout=1.0)
            except queue.Empty:
                pass
        assert "nodes healthy" in seen, seen
        st = _ims("status", "--run-dir", str(run_dir), "--json")
        rows = json.loads(st.stdout) if st.stdout.strip() else []
        assert fg.poll() is None and len(rows) == 2 and all(r["state"] == "running" for r in rows), rows
        first = next(r["pid"] for r in rows if r["name"] == "proxy")
        os.kill(first, signal.SIGKILL)  # the supervisor must bring it back
        new = first
        while time.monotonic() < deadline and new == first:
            time.sleep(0.3)
            st = _ims("status", "--run-dir", str(run_dir), "--json")
            rows = json.loads(st.stdout) if st.stdout.strip() else []
            new = next((r["pid"] for r in rows if r["name"] == "proxy" and r["state"] == "running"), first)
        assert new != first, "the proxy was not restarted"
    finally:
        fg.send_signal(signal.SIGINT)
        fg.wait(timeout=60)
    time.sleep(0.5)  # the reader thread drains the pipe
    out = seen
    while not lines.empty():
        out += lines.get()
    assert "restarted proxy" in out and "hss: stopped" in out, out


def test_down_forgets_the_cscfs_registrations_but_not_the_hss_store(tmp_path: Path) -> None:
    """`ims down` ends the lab: the P-/S-CSCF state kept for restarts goes, the HSS's SQNs stay."""
    from ims.lab import Lab, NodeProcess

    run = tmp_path / "run"
    run.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    nodes = [NodeProcess(name, kind, "127.0.7.1", 1, dead.pid, str(run / f"{name}.log"))
             for name, kind in (("hss", "hss"), ("scscf", "scscf"), ("pcscf", "pcscf"))]
    lab = Lab(tmp_path / "lab.toml", run)
    lab._save(nodes)
    kept = [run / "hss.sqlite", run / "hss-state.sqlite"]
    gone = [run / "scscf-state.sqlite", run / "scscf-state.sqlite-wal", run / "pcscf-state.sqlite"]
    for f in kept + gone:
        f.write_bytes(b"x")
    lab.down(grace=0.1)
    assert [f for f in gone if f.exists()] == []
    assert all(f.exists() for f in kept)
