"""Kamailio 5.6's I-CSCF and S-CSCF (ims_icscf, ims_auth, ims_registrar_scscf) in front of our HSS.

One lab for the module (``tests/interop/kamailio_lab.py``): our HSS node, Kamailio's I-CSCF and
S-CSCF with the minimal configs of ``tests/interop/kamailio/``, all on 127.0.12.x.  SIPp plays the UE.
- SIPp registers with IMS-AKA (SIPp computes RES) and with MD5 digest: Kamailio asks our HSS with
  UAR (quoted Visited-Network-Identifier), MAR (scheme ``unknown``: HSS-selected) and SAR;
- a MESSAGE to a registered user goes through the I-CSCF by LIR to the S-CSCF and the contact;
- ``ims subscriber deregister`` sends RTR; Kamailio's S-CSCF drops the user (a MESSAGE then gets 404);
- our P-CSCF in front of Kamailio's I-CSCF: SIPp registers through P -> I -> S -> HSS.
Kamailio and SIPp must be installed (``make test-tools``): a missing one fails, never skips.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ims.aka.milenage import Milenage
from tests.interop.kamailio_lab import (
    AKA_USER,
    DIGEST_USER,
    DOMAIN,
    ICSCF_ADDR,
    OP,
    PCSCF_ADDR,
    PCSCF_USER,
    ROOT,
    SCSCF_ADDR,
    SIPP,
    UE_ADDR,
    KamailioLab,
    User,
    free_port,
    require_tools,
)

pytestmark = pytest.mark.interop
SCENARIOS = ROOT / "tools" / "sipp"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KamailioLab]:
    require_tools()
    lab = KamailioLab(tmp_path_factory.mktemp("kamailio"))
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


def _sipp(lab: KamailioLab, name: str, args: list[str], timeout: float = 30) -> tuple[int, str]:
    """Run SIPp in its own directory under the lab's; the exit code and its message trace."""
    assert SIPP is not None
    n = 0
    while (cwd := lab.tmp / f"{name}-{n}").exists():
        n += 1
    cwd.mkdir()
    run = subprocess.run([SIPP, *args, "-nostdin", "-timeout", "15s", "-timeout_error", "-trace_msg", "-trace_err"],
                         check=False, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    trace = "".join(p.read_text(errors="replace") for p in [*cwd.glob("*_messages.log"), *cwd.glob("*_errors.log")])
    return run.returncode, trace + run.stdout[-1500:] + run.stderr[-1500:]


def _sipp_could_not_answer(user: User, trace: str) -> bool:
    """True if SIPp, not the network, failed the last AKA challenge in ``trace``: SIPp handles RES as a
    C string (1 in 32 RES has a 00 byte and its answer is then wrong), and SIPp 3.6.1 now and then
    builds no Authorization at all ("invalid [keyword]") for a challenge whose MAC checks out here."""
    nonces = re.findall(r'nonce="([A-Za-z0-9+/=]{40,})"', trace)
    if not nonces:
        return False
    nonce = base64.b64decode(nonces[-1])
    m = Milenage(bytes.fromhex(user.k), op=bytes.fromhex(OP))
    res, _, _, ak = m.f2345(nonce[:16])
    sqn = bytes(a ^ b for a, b in zip(nonce[16:22], ak, strict=True))
    if m.f1(nonce[:16], sqn, nonce[22:24]) != nonce[24:32]:
        return False  # a challenge that does not verify is the network's fault: no retry
    return 0 in res or "invalid [keyword]" in trace


def register(lab: KamailioLab, user: User, via: tuple[str, int], port: int, name: str,
             scenario: str = "ims_register_icscf.xml") -> str:
    """SIPp registers ``user`` from UE_ADDR:``port`` through ``via``; the message trace of the success."""
    if user.password:
        keyword = f"[authentication username={user.impi} password={user.password}]"
    else:
        keyword = f"[authentication username={user.impi} aka_K=0x{user.k} aka_OP=0x{OP} aka_AMF=0x8000]"
    users = lab.tmp / f"{name}.csv"
    users.write_text(f"SEQUENTIAL\n{user.name};{user.impi};{keyword}\n")
    for _ in range(5):
        rc, trace = _sipp(lab, name, ["-sf", str(SCENARIOS / scenario), "-inf", str(users), "-set", "domain",
                                      DOMAIN, f"{via[0]}:{via[1]}", "-i", UE_ADDR, "-p", str(port), "-m", "1",
                                      "-auth_uri", DOMAIN])
        if rc == 0:
            return trace
        if user.password or not _sipp_could_not_answer(user, trace):
            break
    raise AssertionError(f"SIPp registration of {user.name} failed (exit {rc}):\n{trace[-5000:]}\n{lab.logs()}")


def message(lab: KamailioLab, to: User, hop: tuple[str, int], name: str) -> int:
    """A MESSAGE to ``to`` sent to ``hop``: the final status (200 or 404; anything else fails)."""
    rc, trace = _sipp(lab, name, ["-sf", str(SCENARIOS / "message_uac.xml"), "-s", to.name, "-set", "domain",
                                  DOMAIN, "-set", "from", "sipp", f"{hop[0]}:{hop[1]}", "-i", UE_ADDR, "-m", "1"])
    assert rc == 0, f"MESSAGE to {to.name} via {hop}: SIPp exit {rc}\n{trace[-4000:]}\n{lab.logs()}"
    finals = re.findall(r"^SIP/2\.0 ([2-6]\d\d) ", trace, re.MULTILINE)
    return int(finals[-1])


def uas(lab: KamailioLab, port: int, name: str, count: int) -> subprocess.Popen[str]:
    """SIPp on a registered contact, answering up to ``count`` MESSAGEs."""
    assert SIPP is not None
    cwd = lab.tmp / name
    cwd.mkdir(exist_ok=True)
    return subprocess.Popen([SIPP, "-sf", str(SCENARIOS / "message_uas.xml"), "-i", UE_ADDR, "-p", str(port),
                             "-m", str(count), "-nostdin", "-timeout", "30s"],
                            cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)


def test_sipp_aka_registration_through_kamailio_icscf_and_scscf(lab: KamailioLab) -> None:
    before = lab.hss_stats()
    trace = register(lab, AKA_USER, (ICSCF_ADDR, lab.icscf_port), free_port(UE_ADDR), "aka")
    assert "algorithm=AKAv1-MD5" in trace  # the HSS picked AKA for "unknown" (HSS-Selected)
    assert re.search(rf"^Service-Route: <sip:orig@{SCSCF_ADDR}", trace, re.MULTILINE), trace[-3000:]
    after = lab.hss_stats()
    # TS 29.228 §6.1.1 UAR (quoted Visited-Network-Identifier accepted), §6.3 MAR, §6.1.2 SAR.
    for cmd in ("UAR", "MAR", "SAR"):
        assert after[cmd] > before[cmd], (cmd, before, after)
    assert after["errors"] == before["errors"]


def test_sipp_md5_digest_registration_through_kamailio(lab: KamailioLab) -> None:
    trace = register(lab, DIGEST_USER, (ICSCF_ADDR, lab.icscf_port), free_port(UE_ADDR), "digest")
    assert re.search(r"^WWW-Authenticate: Digest .*algorithm=MD5", trace, re.MULTILINE), trace[-3000:]
    assert re.search(rf"^P-Associated-URI: <{DIGEST_USER.impu}>", trace, re.MULTILINE), trace[-3000:]


def test_message_to_a_registered_user_is_routed_by_lir_and_rtr_deregisters(lab: KamailioLab) -> None:
    port = free_port(UE_ADDR)
    register(lab, AKA_USER, (ICSCF_ADDR, lab.icscf_port), port, "reg-for-lir")
    # The I-CSCF asks the HSS where the user is (LIR, TS 29.228 §6.1.4) and relays to Kamailio's S-CSCF,
    # which delivers to the registered contact.
    before = lab.hss_stats()
    contact = uas(lab, port, "uas", 100)
    try:
        assert message(lab, AKA_USER, (ICSCF_ADDR, lab.icscf_port), "msg-lir") == 200
        assert lab.hss_stats()["LIR"] == before["LIR"] + 1
        # Network-initiated deregistration (TS 29.228 §6.1.3): RTR from `ims subscriber deregister`.
        out = subprocess.run([sys.executable, "-m", "ims.cli", "subscriber", "--control", lab.hss_control,
                              "deregister", AKA_USER.impu], check=False, capture_output=True, text=True, timeout=30, cwd=ROOT)
        assert out.returncode == 0 and "RTR answered 2001" in out.stdout, out.stdout + out.stderr + lab.logs()
        # Kamailio's S-CSCF let the user go: its usrloc timer (1 s here) removes what the RTR marked deleted,
        # and a request for the user sent to the S-CSCF itself then finds nobody there.
        deadline = time.monotonic() + 10
        statuses = [message(lab, AKA_USER, (SCSCF_ADDR, lab.scscf_port), "msg-after-rtr")]
        while statuses[-1] != 404 and time.monotonic() < deadline:
            time.sleep(0.2)
            statuses.append(message(lab, AKA_USER, (SCSCF_ADDR, lab.scscf_port), "msg-after-rtr"))
        assert statuses[-1] == 404, statuses
    finally:
        contact.kill()
        contact.wait()


def test_our_pcscf_in_front_of_kamailio_icscf_and_scscf(lab: KamailioLab) -> None:
    """SIPp -> our P-CSCF -> Kamailio I-CSCF -> Kamailio S-CSCF -> our HSS.  The UE (SIPp's shipped
    scenario) does not say ``Supported: path``: the P-CSCF's Path must not make the S-CSCF answer 420."""
    pcscf = lab.start_pcscf()
    trace = register(lab, PCSCF_USER, (PCSCF_ADDR, pcscf), free_port(UE_ADDR), "via-pcscf",
                     scenario="ims_aka_register.xml")
    assert re.search(r"^SIP/2\.0 200 ", trace, re.MULTILINE), trace[-3000:]
    assert re.search(rf"^Service-Route: <sip:orig@{SCSCF_ADDR}", trace, re.MULTILINE), trace[-3000:]


def test_a_missing_peer_fails_with_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """CI must see a missing Kamailio as a failure naming the package, not as a silent skip."""
    from tests.interop import kamailio_lab

    monkeypatch.setattr(kamailio_lab, "KAMAILIO", None)
    monkeypatch.setattr(kamailio_lab, "MODULES", tmp_path)
    with pytest.raises(AssertionError, match="make test-tools") as info:
        kamailio_lab.require_tools()
    assert "kamailio (Debian: kamailio)" in str(info.value)
    assert "ims_icscf.so (Debian: kamailio-ims-modules)" in str(info.value)
    assert "presence.so (Debian: kamailio-presence-modules)" in str(info.value)
