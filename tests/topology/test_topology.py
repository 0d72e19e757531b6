"""Topology validation: the shipped labs load; every bad file says what is wrong and where."""

from __future__ import annotations

from pathlib import Path

import pytest

from ims.topology import TopologyError, load, loads

ROOT = Path(__file__).resolve().parents[2]
BASIC = (ROOT / "topologies" / "volte-basic.toml").read_text()


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "topologies").glob("*.toml")))
def test_shipped_topologies_load(name: str) -> None:
    topo = load(ROOT / "topologies" / name)
    assert topo.nodes and topo.domains


def _edit(old: str, new: str, text: str = BASIC) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# (case id, file text, expected "path: message" fragment, expected line or None)
BAD = [
    ("unknown-peer", _edit('peers = ["hss"]', 'peers = ["hss2"]'),
     "nodes[1].diameter.peers[0]: unknown node 'hss2'", 31),
    ("short-k", _edit('k = "465b5ce8b199b49faa5f0a2ee238a6bc"', 'k = "465b5ce8b199b49f"'),
     "subscribers[0].k: K must be 16 bytes (32 hex digits), got 16 hex digits", 67),
    ("bad-hex-opc", _edit('opc = "cd63cb71954a9f4e48a5994e37a02baf"', 'opc = "zz63cb71954a9f4e48a5994e37a02baf"'),
     "subscribers[0].opc: OPc must be hexadecimal", 68),
    ("op-and-opc", _edit('amf = "8000"\nsqn = "000000000020"\n\n[[subscribers]]',
                         'op = "cdc202d5123e20f62b6d676ac72cb318"\namf = "8000"\nsqn = "000000000020"\n\n[[subscribers]]'),
     "subscribers[0]: give exactly one of 'op' and 'opc'", 62),
    ("duplicate-address", _edit('address = "127.0.1.40"', 'address = "127.0.1.30"'),
     "nodes[3].sip.port: 127.0.1.30:5060/udp is already used by nodes[2].sip", None),
    ("duplicate-control-port", _edit("control_port = 7130", "control_port = 7120"),
     "nodes[2].control_port: control port 7120 is already used by nodes[1].control_port", 37),
    ("pcscf-without-icscf", _edit('kind = "icscf"', 'kind = "tas"').replace('icscf = "icscf"\n', ""),
     "nodes[3]: P-CSCF 'pcscf' has no I-CSCF in its domain", 46),
    ("scscf-missing-from-hss", _edit('scscfs = ["scscf"]', "scscfs = []"),
     "nodes[0].scscfs: S-CSCF 'scscf' is missing from the HSS's capability table", 19),
    ("unknown-kind", _edit('kind = "pcscf"', 'kind = "sbc"'),
     "nodes[3].kind: 'sbc' is not one of", 48),
    ("unknown-field", _edit("control_port = 7140", "control_port = 7140\ncolour = 'red'"),
     "nodes[3].colour: unknown field", 51),
    ("missing-control-port", _edit("control_port = 7200\n", ""),
     "nodes[4].control_port: required field is missing", 56),
    ("bad-address", _edit('address = "127.0.1.100"', 'address = "127.0.1.300"'),
     "nodes[4].address: '127.0.1.300' is not an IP address", 59),
    ("ue-unknown-subscriber", _edit('subscriber = "001010000000002@', 'subscriber = "001010000000009@'),
     "ues[1].subscriber: unknown subscriber", None),
    ("ue-pcscf-wrong-kind", _edit('pcscf = "pcscf"\n[ues.behaviour]', 'pcscf = "scscf"\n[ues.behaviour]'),
     "ues[0].pcscf: node 'scscf' is a scscf, not a pcscf", None),
    ("duplicate-impu", _edit('"tel:+15550002"', '"tel:+15550001"'),
     "subscribers[1].impus[1]: IMPU 'tel:+15550001' also belongs to subscribers[0]", None),
    ("impu-not-uri", _edit('"tel:+15550002"', '"+15550002"'),
     "subscribers[1].impus: IMPU '+15550002' must be a sip: or tel: URI", None),
    ("unknown-domain", _edit('name = "pcscf"\nkind = "pcscf"', 'name = "pcscf"\nkind = "pcscf"\ndomain = "other.example.org"'),
     "nodes[3].domain: unknown domain 'other.example.org'", None),
    ("bad-toml", BASIC + "\n[[nodes]\nname = 1\n", "not valid TOML", None),
    ("md5-without-password", _edit('pcscf = "pcscf"\n[ues.behaviour]', 'pcscf = "pcscf"\nauth = "md5"\n[ues.behaviour]'),
     "ues[0].auth: MD5 digest needs a password", None),
    ("bad-mcc", _edit('mcc = "001"', 'mcc = "01"'), "domains[0].mcc: MCC must be 3 digits", 10),
    ("ue-media-tone-range", _edit("srtp = true", 'srtp = true\nmedia = "tone:99999"'),
     "ues[0].behaviour.media: media 'tone:99999': the tone must be between 20 and 3900 Hz", None),
    ("ue-codec-unknown", _edit("srtp = true", 'srtp = true\ncodecs = ["G729"]'), "ues[0].behaviour.codecs[0]: 'G729' is not one of 'AMR-WB', 'AMR', 'PCMU' or 'PCMA'", 90),
    ("timers-order", _edit("control_port = 7130", "control_port = 7130\ntimers = { t1 = 5.0, t2 = 1.0 }"),
     "nodes[2].timers: t2 (1.0) must not be smaller than t1 (5.0)", None),
]


@pytest.mark.parametrize(("case", "text", "expected", "line"), BAD, ids=[b[0] for b in BAD])
def test_bad_topology_is_reported_with_path_and_line(case: str, text: str, expected: str, line: int | None) -> None:
    with pytest.raises(TopologyError) as info:
        loads(text, file="lab.toml")
    report = str(info.value)
    assert expected in report, report
    if line is not None:
        problem = next(p for p in info.value.problems if expected.split(":")[0] in str(p))
        assert problem.line == line, f"{case}: line {problem.line}, expected {line}: {report}"
    assert report.startswith("lab.toml")


def test_all_problems_reported_not_just_the_first() -> None:
    text = _edit('peers = ["hss"]', 'peers = ["nobody"]', _edit('scscfs = ["scscf"]', "scscfs = []"))
    with pytest.raises(TopologyError) as info:
        loads(text)
    assert len(info.value.problems) == 2


def test_subscribers_from_csv(tmp_path: Path) -> None:
    csv = tmp_path / "subs.csv"
    csv.write_text(
        "imsi,impi,impus,k,opc,amf,sqn\n"
        "001010000000003,003@ims.example.org,sip:carol@ims.example.org;tel:+15550003,"
        "465b5ce8b199b49faa5f0a2ee238a6bc,cd63cb71954a9f4e48a5994e37a02baf,8000,000000000001\n"
        "001010000000004,004@ims.example.org,sip:dave@ims.example.org,00ff,cd63cb71954a9f4e48a5994e37a02baf,8000,000000000001\n"
    )
    lab = tmp_path / "lab.toml"
    lab.write_text('subscribers_csv = "subs.csv"\n' + BASIC)  # top-level keys precede tables
    with pytest.raises(TopologyError) as info:
        load(lab)
    problem = info.value.problems[0]
    assert problem.file == "subs.csv" and problem.line == 3 and "K must be 16 bytes" in problem.message
    header, good, _bad = csv.read_text().splitlines()
    csv.write_text(f"{header}\n{good}\n")
    topo = load(lab)
    assert topo.subscribers[-1].impus == ["sip:carol@ims.example.org", "tel:+15550003"]


def test_ims_topology_check_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.toml"
    bad.write_text(_edit('peers = ["hss"]', 'peers = ["hss2"]'))
    run = subprocess.run(
        [sys.executable, "-m", "ims.cli", "topology", "check", str(ROOT / "topologies" / "volte-basic.toml"), str(bad)],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 1
    assert "volte-basic.toml: valid: 5 nodes" in run.stdout
    assert f"{bad}:31: nodes[1].diameter.peers[0]: unknown node 'hss2'" in run.stdout
