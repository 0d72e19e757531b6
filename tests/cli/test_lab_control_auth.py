"""``ims up``/``ims status`` and the control plane's token rule, and ``internal_errors`` in ``ims status``.

The real lab (an HSS and a proxy, in subprocesses) runs under the integration lock; the command lines
and token file of a lab whose control services listen beyond loopback are checked without starting
anything (no test binds beyond loopback)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest

from ims.control.client import ControlError, NodeClient
from ims.lab import Lab, NodeProcess
from tests.hss.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]

LAB = """
[lab]
name = "locked"

[[domains]]
name = "ims.example.net"

[[nodes]]
name = "hss"
kind = "hss"
address = "127.0.7.110"
control_port = {hss_port}
scscfs = []
[nodes.diameter]
port = 3868

[[nodes]]
name = "proxy"
kind = "proxy"
address = "127.0.7.120"
control_port = {proxy_port}
[nodes.sip]
port = 5060
"""


def _free() -> int:
    return free_port("127.0.0.1")


def _ims(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ims.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=env)


def test_a_lab_with_a_token_serves_the_cli_and_refuses_clients_without_it(tmp_path: Path) -> None:
    topo = tmp_path / "locked.toml"
    topo.write_text(LAB.format(hss_port=_free(), proxy_port=_free()))
    run_dir = str(tmp_path / "run")
    env = {**os.environ, "IMS_CONTROL_TOKEN": "lab-secret", "COLUMNS": "200"}
    up = _ims("up", str(topo), "--run-dir", run_dir, env=env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        nodes = Lab(topo, run_dir).load_state()
        assert {n.kind for n in nodes} == {"hss", "proxy"}
        for n in nodes:  # every node kind enforces the token it was started with
            with NodeClient(n.control_target, token="not-it") as client, pytest.raises(ControlError) as err:
                client.health()
            assert err.value.code == grpc.StatusCode.UNAUTHENTICATED, n.name
        status = _ims("status", "--run-dir", run_dir, "--json", env=env)
        assert status.returncode == 0, status.stdout + status.stderr
        rows = json.loads(status.stdout)
        assert [r["state"] for r in rows] == ["running", "running"]
        assert all(r["internal_errors"] == 0 and r["stats"]["internal_errors"] == 0 for r in rows)
        table = _ims("status", "--run-dir", run_dir, env=env)
        assert table.returncode == 0 and "errors" in table.stdout
        without = _ims("status", "--run-dir", run_dir, "--json", env={k: v for k, v in env.items()
                                                                      if k != "IMS_CONTROL_TOKEN"})
        assert without.returncode == 1 and "UNAUTHENTICATED" in without.stdout
    finally:
        down = _ims("down", "--run-dir", run_dir, env=env)
    assert "shutdown over gRPC" in down.stdout, down.stdout  # the token reached the Shutdown RPC too


class _FakeProc:
    pid = 4242

    def poll(self) -> None:
        return None


def test_control_beyond_loopback_makes_a_private_token_and_passes_host_and_token_to_the_nodes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    topo = tmp_path / "locked.toml"
    topo.write_text(LAB.format(hss_port=_free(), proxy_port=_free()))
    launched: list[tuple[list[str], dict[str, str]]] = []

    def popen(argv: list[str], **kw: Any) -> _FakeProc:
        launched.append((argv, kw["env"]))
        return _FakeProc()

    monkeypatch.delenv("IMS_CONTROL_TOKEN", raising=False)
    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(Lab, "_await_healthy", lambda self, node, entry, proc, timeout: None)
    lab = Lab(topo, tmp_path / "run")
    nodes = lab.up(control_host="0.0.0.0")
    token = lab.token_file.read_text().strip()
    assert len(token) >= 32 and stat.S_IMODE(lab.token_file.stat().st_mode) == 0o600
    assert lab.token() == token
    by_kind = {argv[argv.index("-m") + 1]: (argv, env) for argv, env in launched}
    hss_argv, hss_env = by_kind["nodes.hss"]
    assert hss_argv[hss_argv.index("--control-host") + 1] == "0.0.0.0" and hss_env["IMS_CONTROL_TOKEN"] == token
    proxy_argv, proxy_env = by_kind["nodes.proxy"]  # no --control-host option: its control stays on loopback
    assert "--control-host" not in proxy_argv and proxy_env["IMS_CONTROL_TOKEN"] == token
    hosts = {n.kind: n.control_host for n in nodes}
    assert hosts == {"hss": "0.0.0.0", "proxy": "127.0.0.1"}
    assert {n.kind: n.control_target.split(":")[0] for n in lab.load_state()} == {"hss": "127.0.0.1",
                                                                                   "proxy": "127.0.0.1"}
    # By default: loopback, no flag, no token (and a stale token of an earlier run is removed).
    launched.clear()
    monkeypatch.setattr("ims.lab.alive", lambda pid: False)
    lab.up()
    assert not lab.token_file.exists() and lab.token() is None
    assert all("--control-host" not in argv and "IMS_CONTROL_TOKEN" not in env for argv, env in launched)


def test_an_older_lab_json_without_control_hosts_still_loads(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "x.toml", tmp_path / "run")
    lab.run_dir.mkdir()
    lab.state_file.write_text(json.dumps({"topology": "x", "nodes": [
        {"name": "hss", "kind": "hss", "address": "127.0.0.9", "control_port": 7001, "pid": 1, "log": "l"}]}))
    (n,) = lab.load_state()
    assert n == NodeProcess("hss", "hss", "127.0.0.9", 7001, 1, "l") and n.control_target == "127.0.0.1:7001"
