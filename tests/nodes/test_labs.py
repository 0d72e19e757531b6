"""Shipped labs as real processes: ``ims up``/``status``/``down`` on volte-basic from the command line, and
two operators calling each other through their I-CSCFs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ims.control.ue import UeClient
from ims.lab import Lab

ROOT = Path(__file__).resolve().parents[2]


def _ims(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ims.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)


def test_ims_up_status_down_on_volte_basic(tmp_path: Path) -> None:
    run_dir = str(tmp_path / "run")
    up = _ims("up", "topologies/volte-basic.toml", "--run-dir", run_dir)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "5 nodes healthy" in up.stdout
        st = _ims("status", "--run-dir", run_dir, "--json")
        assert st.returncode == 0, st.stdout
        rows = {r["name"]: r for r in json.loads(st.stdout)}
        assert set(rows) == {"hss", "icscf", "scscf", "pcscf", "ue"}
        assert all(r["state"] == "running" for r in rows.values())
        table = _ims("status", "--run-dir", run_dir)
        assert "handsets" in table.stdout and "running" in table.stdout
    finally:
        down = _ims("down", "--run-dir", run_dir)
    assert down.returncode == 0 and down.stdout.count("stopped (shutdown over gRPC)") == 5, down.stdout


def test_two_operators_call_each_other(tmp_path: Path) -> None:
    lab = Lab(ROOT / "topologies" / "two-operators.toml", tmp_path / "run")
    lab.up(timeout=30, extra_args={"ue": ("--no-register",)})
    try:
        ue = next(n for n in lab.load_state() if n.kind == "ue")
        with UeClient(f"127.0.0.1:{ue.control_port}", timeout=20) as ues:
            assert ues.register("alice") == 200 and ues.register("bob") == 200
            assert ues.status("bob")["service_route"] != ues.status("alice")["service_route"]  # two S-CSCFs
            call = ues.call("alice", "sip:bob@ims.mnc002.mcc001.3gppnetwork.org")
            assert ues.wait_call("alice", call, ["confirmed", "failed"], 10)["state"] == "confirmed"
            ues.hangup("alice", call)
            call = ues.call("bob", "tel:+15550001")  # a number of the other operator
            assert ues.wait_call("bob", call, ["confirmed", "failed"], 10)["state"] == "confirmed"
            ues.hangup("bob", call)
            assert ues.wait_call("alice", call, ["ended"], 5)["state"] == "ended"
    finally:
        lab.down()


def test_icscf_fails_over_to_another_scscf(tmp_path: Path) -> None:
    """two-scscf: alice registers; her S-CSCF dies (SIGKILL); her next REGISTER finds the connection
    refused at the I-CSCF, which tries the other S-CSCF; the HSS moves her there (TS 24.229 §5.3.1.3)."""
    import os
    import signal

    from ims.lab import wait_gone

    lab = Lab(ROOT / "topologies" / "two-scscf.toml", tmp_path / "run")
    lab.up(timeout=30, extra_args={"ue": ("--no-register",)})
    try:
        nodes = {n.name: n for n in lab.load_state()}
        with UeClient(f"127.0.0.1:{nodes['ue'].control_port}", timeout=20) as ues:
            assert ues.register("alice") == 200
            first = ues.status("alice")["service_route"][0]
            serving = next(n for n in nodes.values() if n.kind == "scscf" and f"@{n.address}:" in first)
            os.kill(serving.pid, signal.SIGKILL)  # a process this lab started
            assert wait_gone(serving.pid, 5)
            assert ues.register("alice", check=False) == 200
            second = ues.status("alice")["service_route"][0]
            assert second != first, (first, second)
            assert ues.register("bob") == 200
            call = ues.call("alice", "sip:bob@ims.mnc001.mcc001.3gppnetwork.org")  # and she can still call
            assert ues.wait_call("alice", call, ["confirmed", "failed"], 10)["state"] == "confirmed"
            ues.hangup("alice", call)
    finally:
        lab.down()
