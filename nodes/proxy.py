"""A plain SIP registrar + stateful forking proxy + redirect server (RFC 3261 §10, §16, §8.3).

The generic SIP network element, for non-IMS labs and as a first runnable
node: REGISTERs for its domain go to the registrar; other requests for the
domain are looked up in the location service and forked to every binding
(or answered 302 in redirect mode); anything else is proxied on.

    python -m nodes.proxy --listen 127.0.3.1:5060 --domain example.com
    python -m nodes.proxy --config lab.toml        # [proxy] section

Config keys (TOML ``[proxy]``): domain, listen ("host:port"), transports
(["udp", "tcp"], add "tls" for sips: on tls_port, default the SIP port + 1,
i.e. 5061), record_route (true), mode ("proxy" | "redirect"), parallel
(true), min_expires (60), t1/t2/t4, idle_timeout (300 s, TCP/TLS).
TLS (RFC 3261 §26.3.1): tls_cert/tls_key (PEM files; without them a
self-signed lab certificate is made at start), tls_verify (true: check the
peer's certificate on outbound TLS), tls_ca (the CA file for that check).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import trio

from ims.net import logs
from ims.net.sip import SipStack
from ims.sip.events import Address, TimerConfig
from ims.sip.message import Request, Response, build_response, new_tag
from ims.sip.proxy import Forward, ProxyCore, Reject, Target
from ims.sip.redirect import RedirectServer
from ims.sip.registrar import LocationService, Registrar
from ims.sip.uri import URI, SipURI

log = logging.getLogger("nodes.proxy")


def parse_args(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m nodes.proxy", description=__doc__.splitlines()[0])
    p.add_argument("--config", help="TOML file with a [proxy] section")
    p.add_argument("--listen", help="host:port (default 127.0.0.1:5060)")
    p.add_argument("--domain", help="SIP domain served by the registrar")
    p.add_argument("--mode", choices=["proxy", "redirect"])
    p.add_argument("--transports", help="comma-separated: udp,tcp,tls")
    p.add_argument("--name", default="proxy")
    p.add_argument("--topology", help="lab file; with --node, take this node's settings from it")
    p.add_argument("--node", help="the node's name in --topology")
    p.add_argument("--run-dir", help="the lab's run directory (unused: the proxy keeps no files)")
    p.add_argument("--control-port", type=int, default=0, help="gRPC control port on 127.0.0.1 (0: none)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    cfg: dict[str, Any] = {}
    if args.config:
        with open(args.config, "rb") as fh:
            cfg = dict(tomllib.load(fh).get("proxy", {}))
    if args.topology and args.node:
        from ims.topology import load

        topo = load(args.topology)
        node = topo.node(args.node)
        sip = node.sip
        assert sip is not None
        cfg.update(listen=f"{node.address}:{sip.port}", domain=topo.domain_of(node).name,
                   transports=[t for t in sip.transports if t in ("udp", "tcp")], name=node.name,
                   t1=node.timers.t1, t2=node.timers.t2, t4=node.timers.t4, control_port=node.control_port)
    for key in ("listen", "domain", "mode", "name"):
        if getattr(args, key):
            cfg[key] = getattr(args, key)
    if args.transports:
        cfg["transports"] = args.transports.split(",")
    cfg.setdefault("listen", "127.0.0.1:5060")
    cfg.setdefault("domain", "example.com")
    cfg.setdefault("mode", "proxy")
    cfg.setdefault("transports", ["udp", "tcp"])
    cfg.setdefault("record_route", True)
    cfg.setdefault("parallel", True)
    cfg.setdefault("name", args.name)
    cfg["log_level"] = args.log_level
    if args.control_port:
        cfg["control_port"] = args.control_port
    return cfg


def build_core(cfg: dict[str, Any], host: str, port: int) -> ProxyCore:
    location = LocationService()
    domain = cfg["domain"]

    def aor_of(uri: URI) -> str:
        # Requests addressed to our IP (SIPp's default) mean our domain.
        if isinstance(uri, SipURI) and uri.host == host:
            return f"sip:{uri.user}@{domain}" if uri.user else f"sip:{domain}"
        return uri.aor

    registrar = Registrar([domain, host], location, min_expires=int(cfg.get("min_expires", 60)), aor_of=aor_of)
    redirect = RedirectServer(location, aor_of=aor_of)
    clock = trio.current_time

    def local(req: Request, source: Address, now: float) -> Response | None:
        if req.method == "REGISTER":
            resp = registrar.handle(req, now)
            log.info("REGISTER %s -> %d", req.to.uri, resp.status, extra={"call_id": req.call_id})
            return resp
        if req.method == "OPTIONS" and req.uri.aor in (f"sip:{host}", f"sip:{cfg['domain']}"):
            resp = build_response(req, 200, to_tag=new_tag())
            resp.add("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE")
            return resp
        if cfg["mode"] == "redirect" and req.method != "ACK":
            return redirect.handle(req, now)
        return None

    def route(req: Request) -> Forward | Reject:
        bindings = location.lookup(aor_of(req.uri), clock())
        # One event line per call attempt (INVITE); other requests only at DEBUG (STYLE §8: no per-packet INFO).
        level = logging.INFO if req.method == "INVITE" else logging.DEBUG
        if not bindings:
            log.log(level, "%s %s -> 404 (no binding)", req.method, req.uri,
                    extra={"call_id": req.call_id, "method": req.method, "status": 404})
            return Reject(404, "Not Found (no binding for this address-of-record)")
        log.log(level, "%s %s -> %s", req.method, req.uri, ", ".join(str(b.uri) for b in bindings),
                extra={"call_id": req.call_id, "method": req.method})
        return Forward([Target(b.uri, q=b.q if b.q is not None else 1.0, path=tuple(b.path)) for b in bindings],
                       parallel=bool(cfg["parallel"]))

    timers = TimerConfig(t1=float(cfg.get("t1", 0.5)), t2=float(cfg.get("t2", 4.0)), t4=float(cfg.get("t4", 5.0)))
    transport = "udp" if "udp" in cfg["transports"] else cfg["transports"][0]
    return ProxyCore(local=Address(host, port, transport), domain=cfg["domain"], route=route, local_requests=local,
                     timers=timers, record_route=bool(cfg["record_route"]))


async def serve(cfg: dict[str, Any], stop: trio.Event | None = None, *,
                task_status: trio.TaskStatus[SipStack] = trio.TASK_STATUS_IGNORED) -> None:
    host, _, port_text = cfg["listen"].rpartition(":")
    port = int(port_text)
    core = build_core(cfg, host, port)
    stack = SipStack(core, host=host, port=port, transports=tuple(cfg["transports"]),
                     idle_timeout=float(cfg.get("idle_timeout", 300.0)), **_tls_settings(cfg, host))
    async with trio.open_nursery() as nursery:
        await nursery.start(stack.run)
        if "tls" in stack.bound:
            log.info("TLS (sips:) on %s:%d", host, stack.bound["tls"])
        log.info("listening on %s:%d (%s), domain %s, mode %s", host, stack.port, ",".join(cfg["transports"]),
                 cfg["domain"], cfg["mode"])
        if cfg.get("control_port"):
            from ims.control.server import ControlServer

            control = ControlServer(cfg["name"], "proxy", port=int(cfg["control_port"]))
            control.stats = lambda: {**core.stats, **stack.stats, "transactions": len(core.layer)}
            await nursery.start(control.serve)
            if stop is not None:
                nursery.start_soon(_relay, control.shutdown_requested, stop)
        task_status.started(stack)
        nursery.start_soon(_drain, stack)


def _tls_settings(cfg: dict[str, Any], host: str) -> dict[str, Any]:
    """SipStack keyword arguments for SIP over TLS, when "tls" is among the transports."""
    if "tls" not in cfg["transports"]:
        return {}
    from ims.net.tls import client_context, self_signed, server_context

    cert, key = cfg.get("tls_cert"), cfg.get("tls_key")
    if not cert or not key:
        cert, key = self_signed(host, Path(tempfile.mkdtemp(prefix="ims-proxy-tls-")))
        log.info("no tls_cert/tls_key: made a self-signed certificate %s", cert)
    return {"tls_port": int(cfg.get("tls_port", 0)) or None,
            "tls_server_context": server_context(Path(cert), Path(key)),
            "tls_client_context": client_context(verify=bool(cfg.get("tls_verify", True)),
                                                 cafile=Path(cfg["tls_ca"]) if cfg.get("tls_ca") else None)}


async def _relay(event: trio.Event, stop: trio.Event) -> None:
    await event.wait()
    stop.set()


async def _drain(stack: SipStack) -> None:
    async for _event in stack.events:
        pass  # a proxy has no application; events are counted in core stats


async def main_async(cfg: dict[str, Any]) -> None:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        await nursery.start(_signals, stop)  # before anything is announced: a SIGTERM must stop us cleanly
        await nursery.start(serve, cfg, stop)
        await stop.wait()
        log.info("stopping")
        nursery.cancel_scope.cancel()


async def _signals(stop: trio.Event, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for _ in signals:
            stop.set()
            return


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError inside ``exc`` (trio wraps task errors in exception groups), if any."""
    if isinstance(exc, OSError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            if (found := _os_error(inner)) is not None:
                return found
    return None


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    logs.setup(cfg["name"], cfg["log_level"])
    started = time.monotonic()
    try:
        trio.run(main_async, cfg)
    except (OSError, BaseExceptionGroup) as exc:
        cause = _os_error(exc)
        if cause is None:
            raise
        log.error("cannot start: %s", cause)  # e.g. the address is taken: one line, exit status 1
        return 1
    log.info("stopped after %.1f s", time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
