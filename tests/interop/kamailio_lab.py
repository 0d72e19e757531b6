"""Kamailio's IMS I-CSCF and S-CSCF (Debian ``kamailio-ims-modules``) wired to our HSS on loopback.

:class:`KamailioLab` renders the minimal configs of ``tests/interop/kamailio/`` (``@NAME@``
placeholders), provisions an HSS store, starts ``nodes.hss`` and two ``kamailio`` processes in the
foreground (``-DD -E``: no daemon, log to stderr, into files under the test's directory) and waits
until each listens and both have an open Diameter connection to the HSS.  Everything it starts it
stops by PID.  Addresses are 127.0.12.x (no other test uses that range); ports are picked free.

Kamailio must be installed (``make test-tools``): a missing binary or module fails the test with
the package to install, it is never skipped silently.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ims.hss.provisioning import make_subscriber
from ims.hss.store import Store

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = Path(__file__).resolve().parent / "kamailio"
MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
DBTEXT = Path("/usr/share/kamailio/dbtext/kamailio")  # Kamailio's db_text schema (package kamailio)
KAMAILIO = shutil.which("kamailio") or ("/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None)
SIPP = shutil.which("sipp")

DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
HSS_ADDR, ICSCF_ADDR, SCSCF_ADDR, PCSCF_ADDR, UE_ADDR = (f"127.0.12.{n}" for n in (10, 20, 30, 40, 100))
HSS_HOST = f"hss.{DOMAIN}"
OP = "cd" * 16


@dataclass(frozen=True)
class User:
    """A subscriber of the lab.  AKA users: K has no 00 byte (SIPp copies aka_K as a C string)."""

    name: str
    impi: str
    k: str = "3a" * 16
    password: str | None = None
    schemes: str | None = None  # comma list for the HSS; None: AKA (and SIP Digest with a password)

    @property
    def impu(self) -> str:
        return f"sip:{self.name}@{DOMAIN}"


AKA_USER = User("kamaka", f"001010000000301@{DOMAIN}")
PCSCF_USER = User("kampc", f"001010000000302@{DOMAIN}", k="3b" * 16)
DIGEST_USER = User("kamdigest", f"kamdigest@{DOMAIN}", password="kam-secret", schemes="SIP Digest")
USERS = (AKA_USER, PCSCF_USER, DIGEST_USER)


def require_tools() -> None:
    """Fail (not skip) with what to install: the interop suite is part of ``make test``."""
    missing = []
    if KAMAILIO is None:
        missing.append("kamailio (Debian: kamailio)")
    for mod in ("ims_icscf", "ims_auth", "ims_registrar_scscf", "ims_usrloc_scscf", "cdp", "db_text", "presence"):
        if not (MODULES / f"{mod}.so").exists():
            package = "kamailio-presence-modules" if mod == "presence" else "kamailio-ims-modules"
            missing.append(f"{MODULES}/{mod}.so (Debian: {package})")
    if not (DBTEXT / "version").exists():
        missing.append(f"{DBTEXT} (Debian: kamailio)")
    if SIPP is None:
        missing.append("sipp (Debian: sip-tester)")
    if missing:
        raise AssertionError("interop peers not installed; run `make test-tools`: " + "; ".join(missing))


def free_port(host: str, kind: int = socket.SOCK_STREAM) -> int:
    """A port free for both UDP and TCP on ``host`` (SIP listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
                u.bind((host, port))
                t.bind((host, port))
            return int(port)
        except OSError:
            continue
    raise OSError(f"no free port on {host}")


def _render(template: Path, out: Path, values: dict[str, str]) -> Path:
    text = template.read_text()
    for k, v in values.items():
        text = text.replace(f"@{k}@", v)
    left = [m for line in text.splitlines() if not line.lstrip().startswith("#")
            for m in re.findall(r"@[A-Z_]+@", line)]
    assert not left, f"unfilled placeholders {left} in {template.name}"
    out.write_text(text)
    return out


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


@dataclass
class KamailioLab:
    tmp: Path
    procs: list[Proc] = field(default_factory=list)
    hss_port: int = 0
    hss_control: str = ""
    icscf_port: int = 0
    scscf_port: int = 0

    @property
    def scscf_uri(self) -> str:
        return f"sip:{SCSCF_ADDR}:{self.scscf_port}"

    # -- start ------------------------------------------------------------------------------
    def start(self) -> None:
        require_tools()
        self.hss_port = free_port(HSS_ADDR)
        self.icscf_port = free_port(ICSCF_ADDR)
        self.scscf_port = free_port(SCSCF_ADDR)
        self._provision(self.tmp / "hss.sqlite")
        self._start_hss()
        self._start_kamailio("icscf", ICSCF_ADDR, self.icscf_port)
        self._start_kamailio("scscf", SCSCF_ADDR, self.scscf_port)
        self.wait_peers(2)

    def _provision(self, db: Path) -> None:
        store = Store(db)
        try:
            store.set_scscf_capabilities(self.scscf_uri, [], [])
            for n, u in enumerate(USERS):
                rec = {"imsi": f"0010100000003{n:02d}", "impi": u.impi, "impus": [u.impu], "k": u.k, "op": OP,
                       "amf": "8000", "sqn": "000000000020"}
                if u.password:
                    rec["password"] = u.password
                if u.schemes:
                    rec["auth_schemes"] = u.schemes
                store.add(make_subscriber(rec))
        finally:
            store.close()

    def _spawn(self, name: str, args: list[str]) -> Proc:
        log = self.tmp / f"{name}.log"
        fh = log.open("wb")
        popen = subprocess.Popen(args, cwd=self.tmp, stdout=fh, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        fh.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def _start_hss(self) -> None:
        port_file = self.tmp / "hss.control"
        proc = self._spawn("hss", [sys.executable, "-m", "nodes.hss", "--db", str(self.tmp / "hss.sqlite"),
                                   "--diameter", f"{HSS_ADDR}:{self.hss_port}", "--origin-host", HSS_HOST,
                                   "--realm", DOMAIN, "--control-port-file", str(port_file),
                                   "--log-level", "INFO"])
        _wait(lambda: port_file.exists() and port_file.read_text().strip() != "", proc, 20,
              "the HSS did not start its control service")
        _wait(lambda: _tcp_open(HSS_ADDR, self.hss_port), proc, 10, "the HSS does not listen on Diameter")
        self.hss_control = f"127.0.0.1:{port_file.read_text().strip()}"

    def _start_kamailio(self, role: str, addr: str, port: int) -> Proc:
        assert KAMAILIO is not None
        values = {"ADDR": addr, "PORT": str(port), "DOMAIN": DOMAIN, "HSS": HSS_ADDR, "HSS_PORT": str(self.hss_port),
                  "FQDN": f"{role}.{DOMAIN}", "SCSCF_URI": self.scscf_uri, "CDP_XML": str(self.tmp / f"{role}.xml"),
                  "DB": str(self._icscf_db())}
        _render(CONFIGS / f"{role}.xml", self.tmp / f"{role}.xml", values)
        cfg = _render(CONFIGS / f"{role}.cfg", self.tmp / f"{role}.cfg", values)
        proc = self._spawn(role, [KAMAILIO, "-f", str(cfg), "-L", str(MODULES), "-DD", "-E", "-m", "64", "-M", "16",
                                  "-P", str(self.tmp / f"{role}.pid"), "-Y", str(self.tmp)])
        _wait(lambda: _udp_bound(addr, port), proc, 15, f"Kamailio {role} does not listen on {addr}:{port}")
        return proc

    def _icscf_db(self) -> Path:
        """A db_text database: Kamailio's own empty tables (presence, for ims_usrloc_scscf's reg event)
        and those ims_icscf reads at start (S-CSCF names and capabilities, NDS trusted domains)."""
        db = self.tmp / "kamailio-db"
        if not db.exists():
            shutil.copytree(DBTEXT, db)
            (db / "s_cscf").write_text(f"id(int) name(string) s_cscf_uri(string)\n"
                                       f"1:scscf:{self.scscf_uri.replace(':', chr(92) + ':')}\n")
            (db / "s_cscf_capabilities").write_text("id(int) id_s_cscf(int) capability(int)\n")
            (db / "nds_trusted_domains").write_text(f"id(int) trusted_domain(string)\n1:{DOMAIN}\n")
        return db

    def start_pcscf(self) -> int:
        """Our P-CSCF (``nodes.pcscf``) in front of Kamailio's I-CSCF; its SIP port.  The lab file names the
        Kamailio nodes only so the P-CSCF can find its I-CSCF: ``ims up`` is not used, they are not started."""
        port = free_port(PCSCF_ADDR)
        control = free_port("127.0.0.1")
        unused = [control + n for n in (1, 2, 3)]  # the Kamailio nodes and the HSS start no control service here
        topo = self.tmp / "pcscf-lab.toml"
        topo.write_text(f"""[lab]
name = "kamailio-interop"

[[domains]]
name = "{DOMAIN}"
mcc = "001"
mnc = "01"

[[nodes]]
name = "hss"
kind = "hss"
control_port = {unused[0]}
address = "{HSS_ADDR}"
scscfs = ["scscf"]
[nodes.diameter]
port = {self.hss_port}

[[nodes]]
name = "icscf"
kind = "icscf"
control_port = {unused[1]}
address = "{ICSCF_ADDR}"
[nodes.sip]
port = {self.icscf_port}
[nodes.diameter]
peers = ["hss"]

[[nodes]]
name = "scscf"
kind = "scscf"
control_port = {unused[2]}
address = "{SCSCF_ADDR}"
[nodes.sip]
port = {self.scscf_port}
[nodes.diameter]
peers = ["hss"]

[[nodes]]
name = "pcscf"
kind = "pcscf"
address = "{PCSCF_ADDR}"
control_port = {control}
icscf = "icscf"
[nodes.sip]
port = {port}
""")
        proc = self._spawn("pcscf", [sys.executable, "-m", "nodes.pcscf", "--topology", str(topo), "--node", "pcscf",
                                     "--log-level", "INFO"])
        _wait(lambda: _udp_bound(PCSCF_ADDR, port), proc, 20, "our P-CSCF does not listen")
        return port

    def wait_peers(self, n: int, timeout: float = 15) -> None:
        """Until the HSS has ``n`` open Diameter peers (both Kamailios did CER/CEA)."""
        from ims.control.client import NodeClient

        def ok() -> bool:
            with NodeClient(self.hss_control, timeout=2) as c:
                return int(c.stats().get("peers", 0)) >= n

        _wait(ok, self.procs[0], timeout, f"Kamailio did not open Diameter to the HSS ({self.logs()})")

    def hss_stats(self) -> dict[str, float]:
        from ims.control.client import NodeClient

        with NodeClient(self.hss_control, timeout=5) as c:
            return dict(c.stats())

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (exit {p.popen.poll()}) ---\n{p.tail()}" for p in self.procs)

    # -- stop -------------------------------------------------------------------------------
    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.popen.poll() is None:
                p.popen.send_signal(signal.SIGTERM)
        for p in reversed(self.procs):
            try:
                p.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait(timeout=10)


def _wait(cond: object, proc: Proc, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise AssertionError(f"{what}: {proc.name} exited {proc.popen.returncode}\n{proc.tail()}")
        try:
            if cond():  # type: ignore[operator]
                return
        except Exception:  # noqa: BLE001, S110 - not ready yet (connection refused, file half written)
            pass
        time.sleep(0.05)
    raise AssertionError(f"{what} within {timeout} s\n{proc.tail()}")


def _tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _udp_bound(host: str, port: int) -> bool:
    """True once something holds the UDP port (a bind of our own fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False
