"""Shared pieces for HSS tests: a Cx client identity and request builders."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from ims.diameter import cx
from ims.diameter.constants import CMD_LI, CMD_MA, CMD_SA, CMD_UA

ROOT = Path(__file__).resolve().parents[2]
REALM = "ims.mnc001.mcc001.3gppnetwork.org"
HSS_HOST = f"hss.{REALM}"
SCSCF = f"scscf.{REALM}"
SERVER_NAME = "sip:127.0.1.30:5060"
ALICE_IMPI = f"001010000000001@{REALM}"
ALICE = f"sip:alice@{REALM}"
K1 = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
OPC1 = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_hss(db: Path, host: str, port: int, *, topology: bool = True) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "nodes.hss", "--db", str(db), "--diameter", f"{host}:{port}",
            "--origin-host", HSS_HOST, "--realm", REALM, "--log-level", "WARNING"]
    if topology:
        args += ["--topology", str(ROOT / "topologies" / "volte-basic.toml")]
    proc = subprocess.Popen(args, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    return proc


def uar(impi: str = ALICE_IMPI, impu: str = ALICE, origin: str = SCSCF, uat: int = 0) -> cx.DiameterMessage:  # type: ignore[name-defined]
    return cx.request(CMD_UA, origin, REALM, REALM, cx.user_name(impi), cx.public_identity(impu),
                      cx.visited_network(REALM), cx.avp(cx.USER_AUTHORIZATION_TYPE, uat, cx.V))


def mar(impi: str = ALICE_IMPI, impu: str = ALICE, n: int = 1, scheme: str = cx.SCHEME_AKAV1,
        authorization: bytes | None = None):  # type: ignore[no-untyped-def]
    return cx.request(CMD_MA, SCSCF, REALM, REALM, cx.user_name(impi), cx.public_identity(impu),
                      cx.avp(cx.SIP_NUMBER_AUTH_ITEMS, n, cx.V),
                      cx.auth_data_item(1, scheme, authorization=authorization) if authorization
                      else cx.avp(cx.SIP_AUTH_DATA_ITEM, [cx.avp(cx.SIP_AUTHENTICATION_SCHEME, scheme, cx.V)], cx.V),
                      cx.server_name(SERVER_NAME))


def sar(sat: int, impi: str = ALICE_IMPI, impu: str = ALICE):  # type: ignore[no-untyped-def]
    return cx.request(CMD_SA, SCSCF, REALM, REALM, cx.user_name(impi), cx.public_identity(impu),
                      cx.server_name(SERVER_NAME), cx.avp(cx.SERVER_ASSIGNMENT_TYPE, sat, cx.V),
                      cx.avp(cx.USER_DATA_ALREADY_AVAILABLE, 0, cx.V))


def lir(impu: str = ALICE):  # type: ignore[no-untyped-def]
    return cx.request(CMD_LI, "icscf." + REALM, REALM, REALM, cx.public_identity(impu))
