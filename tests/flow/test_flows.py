"""``ims flow``: the shipped flows pass on a real lab; a broken expectation fails naming the step; bad files
are reported like topology errors (file:line: field path: message)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALL_FLOWS = sorted(str(p) for p in (ROOT / "flows").glob("*.toml"))
# the flows on the shared volte-flows lab run together (one capture, one ladder); the others on their own labs
FLOWS = [f for f in ALL_FLOWS if "volte-flows.toml" in Path(f).read_text()]
# SRTCP's payload is encrypted: Wireshark says so with a warning, which is no fault of the packet
CLEAN = '_ws.malformed || (_ws.expert.severity >= warning && !(_ws.expert.message contains "Encrypted RTCP"))'
OTHER_FLOWS = [f for f in ALL_FLOWS if f not in FLOWS]

BROKEN = """
[flow]
name = "broken on purpose"
topology = "{topology}"

[[steps]]
register = "alice"
[[steps]]
name = "an LIR during registration (there is none)"
expect_message = {{ path = "icscf -> hss", name = "LIR", timeout = 1 }}
[[steps]]
register = "bob"
"""


def _ims(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ims.cli", *args], capture_output=True, text=True, timeout=600,
                          cwd=ROOT)


def test_shipped_flows_pass_and_a_broken_one_fails(tmp_path: Path) -> None:
    assert len(FLOWS) >= 7
    broken = tmp_path / "broken.toml"
    broken.write_text(BROKEN.format(topology=ROOT / "topologies" / "volte-flows.toml"))
    junit = tmp_path / "junit.xml"
    pcap = tmp_path / "flows.pcap"
    ladder = tmp_path / "ladder.html"
    run = _ims("flow", "run", *FLOWS, str(broken), "--junit", str(junit), "--run-dir", str(tmp_path / "run"),
               "--pcap", str(pcap), "--ladder", str(ladder), "--events", str(tmp_path / "events.jsonl"))
    assert run.returncode == 1, run.stdout + run.stderr
    out = run.stdout
    assert f"{len(FLOWS)}/{len(FLOWS) + 1} flows passed" in out, out
    assert "FAIL broken on purpose" in out, out
    assert "✗ 2. an LIR during registration (there is none)" in out, out
    assert "no LIR crossed icscf -> hss within 1.0 s; from icscf went:" in out and "UAR" in out, out
    assert "(1 later steps not run)" in out, out
    suites = {s.get("name"): s for s in ET.parse(junit).getroot()}
    assert suites["broken on purpose"].get("failures") == "1"
    passed = [s for name, s in suites.items() if name != "broken on purpose"]
    assert all(s.get("failures") == "0" for s in passed)
    assert sum(int(s.get("tests", 0)) for s in passed) >= 50
    assert not (tmp_path / "run" / "volte-flows" / "lab.json").exists()  # the lab went down
    page = ladder.read_text()
    assert page.count('class="msg"') > 300 and "TS 29.228 §6.3" in page and ">tess<" in page, out
    assert (tmp_path / "events.jsonl").stat().st_size > 10_000
    _tshark_decodes_everything(pcap)


def _tshark_decodes_everything(pcap: Path) -> None:
    """Every frame of the flows' capture is SIP, Diameter, M3UA, RTP or RTCP (or a bare TCP segment), none
    malformed (the RTP is a 1-in-50 sample the handsets report, decoded through the SDP that set it up)."""
    import shutil

    import pytest

    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    fields = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "frame.protocols",
                             "-e", "tcp.len"], capture_output=True, text=True, timeout=120)
    assert fields.returncode == 0, fields.stderr
    rows = [line.split("\t") for line in fields.stdout.splitlines()]
    assert len(rows) > 200
    payload = [r[0] for r in rows if not (len(r) > 1 and r[1] == "0")]  # not a bare TCP handshake/ACK
    odd = [p for p in payload if not any(k in p for k in (":sip", ":diameter", ":m3ua", ":rtp", ":rtcp"))]
    assert not odd, odd[:5]
    assert any(":diameter" in p for p in payload) and any(":sip:sdp" in p for p in payload)
    bad = subprocess.run(["tshark", "-r", str(pcap), "-Y", CLEAN],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 0 and bad.stdout.strip() == "", bad.stdout[:2000] + bad.stderr
    check = subprocess.run(["tshark", "-r", str(pcap), "-Y", "sip.Method == \"REGISTER\""], capture_output=True,
                           text=True, timeout=120)
    assert check.stdout.strip(), "the filter itself must select something"


def test_bad_flow_files_name_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[flow]\nname = "x"\ntopology = "../nowhere.toml"\n\n[[steps]]\nregister = "alice"\n'
                   'hangup = "alice"\n\n[[steps]]\ncall = { from = "alice", too = "bob" }\n')
    run = _ims("flow", "check", str(bad))
    assert run.returncode == 1
    assert f"{bad}:5: steps[0]: a step holds exactly one of" in run.stdout, run.stdout
    assert "this one has register, hangup" in run.stdout
    assert f"{bad}:10: steps[1].call.too: unknown field" in run.stdout
    missing = tmp_path / "missing.toml"
    missing.write_text('[flow]\nname = "x"\ntopology = "../nowhere.toml"\n[[steps]]\nwait = 1\n')
    run = _ims("flow", "check", str(missing))
    assert run.returncode == 1 and "flow.topology: no such file" in run.stdout


def test_flows_on_other_labs_pass_and_their_m3ua_decodes(tmp_path: Path) -> None:
    """flows/pstn.toml on volte-pstn: ISUP over M3UA appears in the capture (written as SCTP) and decodes."""
    assert OTHER_FLOWS, "flows/pstn.toml runs on volte-pstn"
    pcap = tmp_path / "other.pcap"
    run = _ims("flow", "run", *OTHER_FLOWS, "--run-dir", str(tmp_path / "run"), "--pcap", str(pcap))
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(OTHER_FLOWS)}/{len(OTHER_FLOWS)} flows passed" in run.stdout
    import shutil

    import pytest

    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    [capture] = tmp_path.glob("other*.pcap")
    protocols = subprocess.run(["tshark", "-r", str(capture), "-T", "fields", "-e", "frame.protocols"],
                               capture_output=True, text=True, timeout=120).stdout.splitlines()
    assert sum(":m3ua:isup" in p for p in protocols) >= 10, protocols[:10]
    bad = subprocess.run(["tshark", "-r", str(capture), "-Y", CLEAN],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 0 and bad.stdout.strip() == "", bad.stdout[:2000]
