"""Who may drive a node's control service: loopback by default, a bearer token beyond it.

A control service can provision subscribers, make handsets call, impair links and stop the node, so
it listens on 127.0.0.1 unless told otherwise.  Listening anywhere else (``--control-host``, ``ims up
--control-host``) needs a token as well: the server then refuses every RPC that does not carry the
metadata ``authorization: Bearer <token>`` (gRPC UNAUTHENTICATED), and a node asked to listen beyond
loopback without a token refuses to start (:class:`ControlAuthError`).

Where the token comes from, on both sides: an explicit argument, else the environment variable
``IMS_CONTROL_TOKEN``; ``ims up`` writes the lab's token to ``<run dir>/control.token`` (mode 0600)
and hands it to the nodes it starts through that variable.

This module holds no gRPC server or client; :mod:`ims.control.server` checks the metadata and
:mod:`ims.control.client` sends it.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

TOKEN_ENV = "IMS_CONTROL_TOKEN"
TOKEN_FILE = "control.token"  # in a lab's run directory
METADATA_KEY = "authorization"  # gRPC metadata keys are lower case


class ControlAuthError(ValueError):
    """The control service's settings are unsafe (a non-loopback address without a token) or unreadable."""


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or "localhost"; a wildcard ("", 0.0.0.0, ::) or any other name is not."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_from_env() -> str | None:
    return os.environ.get(TOKEN_ENV, "").strip() or None


def read_token_file(path: str | Path) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ControlAuthError(f"cannot read the control token from {path}: {exc}") from None
    if not token:
        raise ControlAuthError(f"the control token file {path} is empty")
    return token


def new_token() -> str:
    return secrets.token_urlsafe(32)


def write_token_file(path: Path, token: str) -> None:
    """Write ``token`` readable by its owner only (created 0600, never world-readable even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")


def check_bind(host: str, token: str | None) -> None:
    """Refuse a control address beyond loopback without a token (ControlAuthError saying what to do)."""
    if token or is_loopback(host):
        return
    raise ControlAuthError(
        f"the control service would listen on {host or '*'}, beyond this host, without a token: anyone who "
        f"reaches it could drive the node. Set a token ({TOKEN_ENV}=... or --control-token-file FILE), "
        f"or keep the default --control-host 127.0.0.1")


def bearer_metadata(token: str | None) -> tuple[tuple[str, str], ...]:
    """The call metadata a client sends (nothing without a token)."""
    return ((METADATA_KEY, f"Bearer {token}"),) if token else ()


def authorized(metadata: Iterable[tuple[str, str | bytes]] | None, token: str) -> bool:
    """Does the call's metadata carry ``authorization: Bearer <token>``?  (Constant-time comparison.)"""
    expected = f"Bearer {token}".encode()
    for key, value in metadata or ():
        if key.lower() == METADATA_KEY:
            got = value if isinstance(value, bytes) else value.encode("utf-8", "replace")
            if hmac.compare_digest(got, expected):
                return True
    return False
