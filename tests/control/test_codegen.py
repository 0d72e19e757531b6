"""ims.control.codegen: protos compile into an importable package, only when stale, with clear errors."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ims.control  # noqa: F401 - runs ensure_generated()
from ims.control import codegen

ROOT = Path(__file__).resolve().parents[2]

A_PROTO = """syntax = "proto3";
package codegen.test;
message Thing { string name = 1; uint32 count = 2; }
"""
B_PROTO = """syntax = "proto3";
package codegen.test;
import "a.proto";
import "google/protobuf/timestamp.proto";
message Box { Thing thing = 1; google.protobuf.Timestamp at = 2; }
service Boxes { rpc Open(Box) returns (Thing); }
"""


def test_node_service_is_generated_and_importable() -> None:
    from ims.control.gen import node_pb2, node_pb2_grpc

    assert not codegen.stale()
    methods = {m.name for m in node_pb2.DESCRIPTOR.services_by_name["Node"].methods}
    assert methods == {"Health", "Stats", "Config", "Shutdown", "Events", "Impair"}
    events = node_pb2.DESCRIPTOR.services_by_name["Node"].methods_by_name["Events"]
    assert events.server_streaming and not events.client_streaming
    # The Event message of the contract, field for field.
    ev = node_pb2.Event(time=1.5, node="hss", kind="diameter", direction="in", src="a", dst="b", transport="tcp",
                        payload=b"\x01", summary="MAR", fields={"impi": "x"})
    assert node_pb2.Event.FromString(ev.SerializeToString()) == ev
    assert hasattr(node_pb2_grpc, "NodeStub") and hasattr(node_pb2_grpc, "add_NodeServicer_to_server")


def _import_from(out: Path, package: str) -> tuple[object, object]:
    sys.path.insert(0, str(out.parent))
    try:
        return importlib.import_module(f"{package}.b_pb2"), importlib.import_module(f"{package}.b_pb2_grpc")
    finally:
        sys.path.remove(str(out.parent))


def test_protos_importing_each_other_become_a_package(tmp_path: Path) -> None:
    protos, out = tmp_path / "protos", tmp_path / "cg_pkg_one"
    protos.mkdir()
    (protos / "a.proto").write_text(A_PROTO)
    (protos / "b.proto").write_text(B_PROTO)
    written = codegen.generate(protos, out)
    assert {p.name for p in written} >= {"a_pb2.py", "b_pb2.py", "b_pb2_grpc.py", "a_pb2_grpc.py"}
    assert "from . import a_pb2 as" in (out / "b_pb2.py").read_text()  # rewritten from "import a_pb2"
    b_pb2, b_grpc = _import_from(out, "cg_pkg_one")
    box = b_pb2.Box(thing={"name": "x", "count": 2})  # type: ignore[attr-defined]
    assert box.thing.count == 2 and hasattr(b_grpc, "BoxesStub")
    assert not list(out.glob(".codegen-*"))  # the staging directory is gone


def test_staleness_follows_the_protos(tmp_path: Path) -> None:
    protos, out = tmp_path / "protos", tmp_path / "cg_pkg_two"
    protos.mkdir()
    (protos / "a.proto").write_text(A_PROTO)
    assert codegen.stale(protos, out)
    assert codegen.ensure_generated(protos, out) is True
    assert not codegen.stale(protos, out)
    assert codegen.ensure_generated(protos, out) is False  # nothing to do the second time
    later = time.time() + 5
    os.utime(protos / "a.proto", (later, later))  # edited after generation
    assert codegen.stale(protos, out)
    codegen.ensure_generated(protos, out)
    assert not codegen.stale(protos, out)
    (out / "a_pb2_grpc.py").unlink()
    assert codegen.stale(protos, out)
    # A new proto is compiled; a removed one's modules go away.
    codegen.ensure_generated(protos, out)
    (protos / "b.proto").write_text(B_PROTO)
    assert codegen.stale(protos, out)
    codegen.ensure_generated(protos, out)
    assert (out / "b_pb2.py").exists()
    (protos / "b.proto").unlink()
    codegen.generate(protos, out)
    assert not (out / "b_pb2.py").exists() and not (out / "b_pb2_grpc.py").exists()


def test_a_broken_proto_names_the_fault(tmp_path: Path) -> None:
    protos, out = tmp_path / "protos", tmp_path / "cg_pkg_three"
    protos.mkdir()
    (protos / "bad.proto").write_text('syntax = "proto3";\nmessage Broken { strin name = 1; }\n')
    with pytest.raises(codegen.CodegenError, match=r"bad\.proto:2.*strin"):
        codegen.generate(protos, out)
    assert not list(out.glob("*_pb2*.py"))


def test_codegen_command_line() -> None:
    check = subprocess.run([sys.executable, "-m", "ims.control.codegen", "--check"], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and check.stdout.strip() == "up to date", check.stderr
