"""The control service's error boundary and its token rule (issue 13).

A handler that raises is answered INTERNAL with a message, counted in ``internal_errors`` (which Stats
carries) and the server goes on; a control service beyond loopback needs a token, and with a token every
RPC without ``authorization: Bearer <token>`` is refused UNAUTHENTICATED."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
import trio

from ims.control.auth import ControlAuthError, check_bind, is_loopback
from ims.control.client import ControlError, NodeClient, control_channel, wait_healthy
from ims.control.server import ControlServer
from ims.net import boundary
from tests.control.test_control import START_TIMEOUT, STOP_BOUND, HelperNode

ROOT = Path(__file__).resolve().parents[2]


def _boom(request: bytes, context: grpc.ServicerContext) -> bytes:
    raise RuntimeError("handler bug")


def _refuse(request: bytes, context: grpc.ServicerContext) -> bytes:
    context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
    raise AssertionError("unreachable")


def _stream(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
    yield b"one"
    raise KeyError("stream bug")


@asynccontextmanager
async def _serving(**kwargs: Any) -> AsyncIterator[tuple[ControlServer, str]]:
    control = ControlServer("inproc", "test", port=0, **kwargs)
    control.stats = lambda: {"calls": 1}
    control.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("ims.test.Boundary", {
        "Boom": grpc.unary_unary_rpc_method_handler(_boom),
        "Refuse": grpc.unary_unary_rpc_method_handler(_refuse),
        "Stream": grpc.unary_stream_rpc_method_handler(_stream)}),))
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(control.serve)
            yield control, f"127.0.0.1:{port}"
            nursery.cancel_scope.cancel()


def _call(target: str, method: str, token: str | None = None) -> bytes:
    channel = control_channel(target, token)
    try:
        return channel.unary_unary(f"/ims.test.Boundary/{method}")(b"x", timeout=5)  # type: ignore[no-any-return]
    finally:
        channel.close()


def _stream_all(target: str) -> list[bytes]:
    channel = control_channel(target)
    try:
        return list(channel.unary_stream("/ims.test.Boundary/Stream")(b"x", timeout=5))
    finally:
        channel.close()


async def test_a_handler_raising_is_internal_with_a_message_counted_and_the_server_goes_on() -> None:
    before = boundary.internal_errors_by_place().get("grpc.Boom", 0)
    async with _serving() as (_, target):
        with pytest.raises(grpc.RpcError) as err:
            await trio.to_thread.run_sync(_call, target, "Boom")
        assert err.value.code() == grpc.StatusCode.INTERNAL
        assert "Boom failed on the node: RuntimeError: handler bug" in (err.value.details() or "")
        with NodeClient(target) as client:
            assert (await trio.to_thread.run_sync(client.health))["state"] == "running"
            stats = await trio.to_thread.run_sync(client.stats)
        assert stats["internal_errors"] == boundary.internal_errors() and stats["calls"] == 1
    assert boundary.internal_errors_by_place()["grpc.Boom"] == before + 1


async def test_a_streaming_handler_raising_midway_is_internal_too() -> None:
    before = boundary.internal_errors_by_place().get("grpc.Stream", 0)
    async with _serving() as (_, target):
        with pytest.raises(grpc.RpcError) as err:
            await trio.to_thread.run_sync(_stream_all, target)
        assert err.value.code() == grpc.StatusCode.INTERNAL and "KeyError" in (err.value.details() or "")
    assert boundary.internal_errors_by_place()["grpc.Stream"] == before + 1


async def test_a_handler_s_own_abort_is_its_answer_and_no_internal_error() -> None:
    before = boundary.internal_errors()
    async with _serving() as (_, target):
        with pytest.raises(grpc.RpcError) as err:
            await trio.to_thread.run_sync(_call, target, "Refuse")
        assert err.value.code() == grpc.StatusCode.NOT_FOUND and err.value.details() == "no such thing"
    assert boundary.internal_errors() == before


async def test_stats_failing_on_the_node_s_loop_is_internal_and_counted() -> None:
    before = boundary.internal_errors_by_place().get("grpc.Stats", 0)
    async with _serving() as (control, target):
        control.stats = lambda: {"ratio": 1 / 0}
        with NodeClient(target) as client, pytest.raises(ControlError) as err:
            await trio.to_thread.run_sync(client.stats)
        assert err.value.code == grpc.StatusCode.INTERNAL and "ZeroDivisionError" in str(err.value)
    assert boundary.internal_errors_by_place()["grpc.Stats"] == before + 1


# -- the token rule -----------------------------------------------------------------------------------

async def test_with_a_token_calls_without_it_are_refused_and_with_it_served() -> None:
    async with _serving(auth_token="s3cret") as (_, target):
        for token in (None, "wrong"):
            with NodeClient(target, token=token) as client, pytest.raises(ControlError) as err:
                await trio.to_thread.run_sync(client.health)
            assert err.value.code == grpc.StatusCode.UNAUTHENTICATED and "Bearer" in str(err.value)
            with NodeClient(target, token=token) as client, pytest.raises(ControlError) as err:
                await trio.to_thread.run_sync(lambda: list(client.events(timeout=5)))
            assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as raw:  # node-specific services are behind the same check
            await trio.to_thread.run_sync(_call, target, "Refuse")
        assert raw.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with NodeClient(target, token="s3cret") as client:
            assert (await trio.to_thread.run_sync(client.health))["node"] == "inproc"
            assert (await trio.to_thread.run_sync(client.stats))["calls"] == 1


async def test_the_token_comes_from_the_environment_on_both_sides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMS_CONTROL_TOKEN", "from-env")
    async with _serving() as (control, target):
        assert control.auth_token == "from-env"
        with NodeClient(target) as client:
            assert (await trio.to_thread.run_sync(client.health))["state"] == "running"
        with NodeClient(target, token="other") as client, pytest.raises(ControlError):
            await trio.to_thread.run_sync(client.health)


def test_beyond_loopback_a_token_is_required() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.0.7.10") and is_loopback("::1")
    assert is_loopback("localhost") and not is_loopback("0.0.0.0") and not is_loopback("")
    assert not is_loopback("::") and not is_loopback("192.0.2.1") and not is_loopback("lab.example")
    for host in ("0.0.0.0", "192.0.2.1", "::", ""):
        with pytest.raises(ControlAuthError, match="without a token"):
            ControlServer("n", "test", host=host)
        check_bind(host, "a-token")  # with one it may
    ControlServer("n", "test", host="127.0.0.1")  # loopback needs none


# -- a node process ----------------------------------------------------------------------------------

def test_a_node_asked_to_listen_beyond_loopback_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    log_file = tmp_path / "open.log"
    proc = subprocess.run([sys.executable, "-m", "tests.control.helper_node", "--name", "open", "--control-host",
                           "0.0.0.0", "--log-file", str(log_file)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env=_env_without_token())
    assert proc.returncode == 1
    errors = [json.loads(line) for line in log_file.read_text().splitlines()]
    (error,) = [e for e in errors if e["level"] == "error"]
    assert error["event"].startswith("cannot start: the control service would listen on 0.0.0.0")
    assert "IMS_CONTROL_TOKEN" in error["event"] and "--control-token-file" in error["event"]


def test_a_node_with_a_token_file_serves_only_holders_of_the_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n")
    node = HelperNode(tmp_path, "--control-token-file", str(token_file), name="locked")
    try:
        target = node.wait_port()
        assert wait_healthy(target, START_TIMEOUT, token="file-token")["node"] == "locked"
        with NodeClient(target) as client, pytest.raises(ControlError) as err:
            client.stats()
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
        with NodeClient(target, token="file-token") as client:
            assert client.stats()["internal_errors"] == 0
            client.shutdown()
        assert node.proc.wait(STOP_BOUND) == 0
    finally:
        node.stop()


def _env_without_token() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "IMS_CONTROL_TOKEN"}
