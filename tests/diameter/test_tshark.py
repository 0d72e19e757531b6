"""Every Diameter message we send decodes in tshark with no malformed or expert-warning flags.

Two DiameterNodes exchange CER/CEA, UAR/UAA, MAR/MAA (AKA and SIP Digest), SAR/SAA
(User-Data, Charging-Information), LIR/LIA, RTR/RTA, PPR/PPA, DWR/DWA, an error
answer with Failed-AVP and DPR/DPA over loopback; ``ims.net.pcap`` writes what
they sent with TCP port 3868, and tshark reads it back.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import trio

from ims.diameter import cx
from ims.diameter.codec import DiameterMessage
from ims.diameter.constants import (
    CMD_LI, CMD_MA, CMD_SA, CMD_UA, DIAMETER_FIRST_REGISTRATION, DIAMETER_SUCCESS, PERMANENT_TERMINATION,
    REGISTRATION,
)
from ims.diameter.userdata import (
    ApplicationServer, ImsSubscription, InitialFilterCriteria, PublicIdentity, ServiceProfile, Spt, TriggerPoint,
)
from ims.net.diameter import DiameterNode, PeerInfo
from ims.net.pcap import PcapWriter

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (Debian package tshark)")

REALM = "ims.mnc001.mcc001.3gppnetwork.org"
HSS, SCSCF = f"hss.{REALM}", f"scscf.{REALM}"
HSS_IP, SCSCF_IP = "127.0.5.10", "127.0.5.11"
IMPI, IMPU = f"001010000000001@{REALM}", f"sip:alice@{REALM}"
SUBSCRIPTION = ImsSubscription(IMPI, (ServiceProfile(
    (PublicIdentity(IMPU), PublicIdentity("tel:+15550001")),
    (InitialFilterCriteria(0, ApplicationServer(f"sip:tas.{REALM}", 0), TriggerPoint(True, (
        Spt(method="INVITE", groups=(0,)), Spt(session_case=0, groups=(1,)),
        Spt(session_description_line="m", session_description_content="audio", groups=(2,))))),)),))


async def hss_handler(msg: DiameterMessage, peer: PeerInfo) -> cx.CxAnswer:
    req = cx.parse(msg)
    if isinstance(req, cx.UserAuthorizationRequest):
        return cx.UserAuthorizationAnswer(experimental_result_code=DIAMETER_FIRST_REGISTRATION,
                                          server_capabilities=cx.ServerCapabilities((1,), (2,), (f"sip:{SCSCF}",)))
    if isinstance(req, cx.MultimediaAuthRequest):
        if req.sip_auth_data_item.sip_authentication_scheme == cx.SCHEME_DIGEST:
            items = [cx.SipAuthDataItem(cx.SCHEME_DIGEST, 1, sip_digest_authenticate=cx.SipDigestAuthenticate(
                REALM, "0123456789abcdef0123456789abcdef"))]
        else:
            items = [cx.SipAuthDataItem(cx.SCHEME_AKAV1, i, bytes(range(32)), bytes(8), b"\x01" * 16, b"\x02" * 16)
                     for i in (1, 2)]
        return cx.MultimediaAuthAnswer(result_code=DIAMETER_SUCCESS, user_name=req.user_name,
                                       public_identity=req.public_identity, sip_auth_data_items=items)
    if isinstance(req, cx.ServerAssignmentRequest):
        return cx.ServerAssignmentAnswer(result_code=DIAMETER_SUCCESS, user_name=IMPI,
                                         user_data=SUBSCRIPTION.to_xml(), charging_information=cx.ChargingInformation(
                                             primary_charging_collection_function_name=f"aaa://ccf.{REALM}"))
    if isinstance(req, cx.LocationInfoRequest):
        return cx.LocationInfoAnswer(result_code=DIAMETER_SUCCESS, server_name=f"sip:{SCSCF}")
    raise AssertionError(req)


async def scscf_handler(msg: DiameterMessage, peer: PeerInfo) -> cx.CxAnswer:
    req = cx.parse(msg)
    if isinstance(req, cx.RegistrationTerminationRequest):
        return cx.RegistrationTerminationAnswer(result_code=DIAMETER_SUCCESS)
    return cx.PushProfileAnswer(result_code=DIAMETER_SUCCESS)


async def capture_exchange(pcap: Path) -> set[int]:
    writer = PcapWriter(pcap)
    commands: set[int] = set()

    def capture(direction: str, msg: DiameterMessage, data: bytes, src: tuple[str, int],
                dst: tuple[str, int]) -> None:
        if direction == "out":
            commands.add(msg.command_code)
            writer.tcp(trio.current_time() + 1_700_000_000, src, dst, data)

    hss = DiameterNode(HSS, REALM, host_ip=HSS_IP, handler=hss_handler, on_message=capture, tw=0.3)
    scscf = DiameterNode(SCSCF, REALM, host_ip=SCSCF_IP, handler=scscf_handler, on_message=capture, tw=0.3)
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            port = await nursery.start(hss.serve, HSS_IP, 3868)  # the port tshark dissects as Diameter
            conn = await nursery.start(scscf.connect, HSS_IP, port)
            await scscf.request(cx.UserAuthorizationRequest(user_name=IMPI, public_identity=IMPU,
                                                            visited_network_identifier=REALM))
            for scheme in (cx.SCHEME_AKAV1, cx.SCHEME_DIGEST):
                await scscf.request(cx.MultimediaAuthRequest(
                    user_name=IMPI, public_identity=IMPU, server_name=f"sip:{SCSCF}", sip_number_auth_items=2,
                    sip_auth_data_item=cx.SipAuthDataItem(scheme)))
            await scscf.request(cx.ServerAssignmentRequest(user_name=IMPI, public_identities=[IMPU],
                                                           server_name=f"sip:{SCSCF}",
                                                           server_assignment_type=REGISTRATION))
            await scscf.request(cx.LocationInfoRequest(public_identity=IMPU, originating_request=True))
            bad = cx.ServerAssignmentRequest(user_name=IMPI, server_name=f"sip:{SCSCF}",
                                             server_assignment_type=REGISTRATION).to_message()
            bad.avps = [a for a in bad.avps if a.code != 624]  # no User-Data-Already-Available: 5005 + Failed-AVP
            assert (await scscf.request(bad, destination_realm=REALM)).result_code == 5005
            await hss.request(cx.RegistrationTerminationRequest(
                user_name=IMPI, public_identities=[IMPU],
                deregistration_reason=cx.DeregistrationReason(PERMANENT_TERMINATION, "subscription ended")),
                destination_host=SCSCF)
            await hss.request(cx.PushProfileRequest(user_name=IMPI, user_data=SUBSCRIPTION.to_xml()),
                              destination_host=SCSCF)
            while conn.peer.stats["dwr"] < 1:  # one DWR/DWA on the wire
                await trio.sleep(0.05)
            await scscf.close()
            nursery.cancel_scope.cancel()
    writer.close()
    return commands


def tshark(*args: str) -> subprocess.CompletedProcess[str]:
    assert TSHARK is not None
    return subprocess.run([TSHARK, "-n", *args], capture_output=True, text=True, timeout=120)


async def test_cx_exchange_pcap_is_clean_in_tshark(tmp_path: Path) -> None:
    pcap = tmp_path / "cx.pcap"
    sent = await capture_exchange(pcap)
    assert sent >= {257, 280, 282, CMD_UA, CMD_MA, CMD_SA, CMD_LI, 304, 305}
    fields = tshark("-r", str(pcap), "-Y", "diameter", "-T", "fields", "-e", "diameter.cmd.code",
                    "-e", "diameter.flags.request")
    seen = {tuple(line.split("\t")) for line in fields.stdout.splitlines()}
    for code in ("257", "280", "282", "300", "301", "302", "303", "304", "305"):
        assert (code, "1") in seen and (code, "0") in seen, (code, fields.stdout)
    bad = tshark("-r", str(pcap), "-Y", "_ws.malformed || _ws.expert.severity >= warning")
    assert bad.returncode == 0, bad.stderr  # the filter itself is valid
    assert bad.stdout.strip() == "", bad.stdout
    expert = tshark("-r", str(pcap), "-q", "-z", "expert,warn")
    assert expert.returncode == 0, expert.stderr
    assert "Errors (" not in expert.stdout and "Warns (" not in expert.stdout, expert.stdout
    verbose = tshark("-r", str(pcap), "-V").stdout
    for text in ("3GPP-SIP-Auth-Data-Item", "Digest-AKAv1-MD5", "SIP Digest", "SIP-Digest-Authenticate",
                 "IMSSubscription", "Charging-Information", "Deregistration-Reason", "Server-Capabilities",
                 "Experimental-Result", "Failed-AVP", "Vendor-Specific-Application-Id"):
        assert text in verbose, text


def test_pcap_udp_and_tcp_checksums_verified_by_tshark(tmp_path: Path) -> None:
    pcap = tmp_path / "sip.pcap"
    invite = (b"OPTIONS sip:b@127.0.5.21 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.5.20:5060;branch=z9hG4bK1\r\n"
              b"Max-Forwards: 70\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: 1@x\r\nCSeq: 1 OPTIONS\r\n"
              b"Content-Length: 0\r\n\r\n")
    with PcapWriter(pcap) as w:
        w.udp(1_700_000_000.0, ("127.0.5.20", 5060), ("127.0.5.21", 5060), invite)
        w.tcp(1_700_000_000.1, ("127.0.5.20", 40000), ("127.0.5.21", 5060), invite)
        w.tcp(1_700_000_000.2, ("127.0.5.21", 5060), ("127.0.5.20", 40000), invite.replace(b"OPTIONS sip", b"OPTIONS sip", 1))
        w.close_tcp(1_700_000_000.3, ("127.0.5.20", 40000), ("127.0.5.21", 5060))
    out = tshark("-r", str(pcap), "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                 "-o", "ip.check_checksum:TRUE", "-Y", "_ws.malformed || _ws.expert.severity >= warning "
                 "|| ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", out.stdout
    sip = tshark("-r", str(pcap), "-Y", "sip", "-T", "fields", "-e", "sip.Method")
    assert sip.stdout.split() == ["OPTIONS"] * 3
    flags = tshark("-r", str(pcap), "-Y", "tcp.flags.fin == 1", "-T", "fields", "-e", "tcp.stream")
    assert len(flags.stdout.split()) == 2  # FIN both ways


def test_pcap_large_diameter_message_is_segmented_and_reassembled(tmp_path: Path) -> None:
    pcap = tmp_path / "big.pcap"
    big = cx.PushProfileRequest(origin_host=HSS, origin_realm=REALM, destination_host=SCSCF, destination_realm=REALM,
                                user_name=IMPI, user_data="<IMSSubscription>" + "x" * 200_000 + "</IMSSubscription>"
                                ).to_message()
    big.hop_by_hop, big.end_to_end = 1, 2
    with PcapWriter(pcap) as w:
        w.tcp(1_700_000_000.0, (HSS_IP, 3868), (SCSCF_IP, 40000), big.to_bytes())
    out = tshark("-r", str(pcap), "-Y", "diameter", "-T", "fields", "-e", "diameter.cmd.code", "-e", "diameter.Session-Id")
    assert out.stdout.split("\t")[0] == "305", out.stdout
    bad = tshark("-r", str(pcap), "-Y", "_ws.malformed || _ws.expert.severity >= warning")
    assert bad.returncode == 0 and bad.stdout.strip() == "", bad.stdout
