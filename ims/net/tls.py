"""TLS contexts for SIP over TLS (RFC 3261 §26.3.1, port 5061): lab certificates and verification.

``self_signed(host)`` makes a throw-away CA-less certificate for a lab node;
``server_context``/``client_context`` build ssl contexts, with verification
configurable (labs often point real phones at self-signed nodes).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(host: str, directory: Path, days: int = 365) -> tuple[Path, Path]:
    """Write ``host.crt``/``host.key`` (EC P-256) into ``directory``; returns their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        san = x509.DNSName(host)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    crt, pem = directory / f"{host}.crt", directory / f"{host}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


def client_context(*, verify: bool = True, cafile: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def lab_stack_settings(host: str, directory: Path, *, tls_port: int | None = None, cert: Path | None = None,
                       key: Path | None = None, verify: bool = False) -> dict[str, object]:
    """``SipStack`` keyword arguments for a lab node that serves SIP over TLS: its certificate (a
    self-signed one for ``host`` in ``directory`` when none is given) and a client context that, by
    default, accepts the other nodes' self-signed certificates (a lab has no CA)."""
    if cert is None or key is None:
        cert, key = self_signed(host, directory)
    return {"tls_port": tls_port, "tls_server_context": server_context(cert, key),
            "tls_client_context": client_context(verify=verify)}
