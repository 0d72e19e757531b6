"""``ims subscriber`` as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

K = "465b5ce8b199b49faa5f0a2ee238a6bc"
OPC = "cd63cb71954a9f4e48a5994e37a02baf"


def _ims(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ims.cli", "subscriber", "--db", str(db), *args],
                          capture_output=True, text=True, timeout=60)


def test_add_show_list_delete_and_errors(tmp_path: Path) -> None:
    db = tmp_path / "hss.sqlite"
    add = ["add", "--imsi", "001010000000001", "--impi", "1@ims.example.net", "--impu", "sip:alice@ims.example.net",
           "--impu", "tel:+15550001", "--k", K, "--opc", OPC]
    assert _ims(db, *add).returncode == 0
    dup = _ims(db, *add)
    assert dup.returncode == 1 and "impi 1@ims.example.net already exists" in dup.stdout
    bad = _ims(db, *[a if a != K else K[:30] for a in add[:-4]], "--impi", "2@x", "--k", K[:30], "--opc", OPC)
    assert bad.returncode == 1 and "k: must be 16 bytes (32 hex digits), got 30 hex digits" in bad.stdout
    shown = _ims(db, "show", "tel:+15550001")
    assert shown.returncode == 0 and json.loads(shown.stdout)["impi"] == "1@ims.example.net"
    assert "k" not in json.loads(shown.stdout)  # secrets are not printed
    listed = json.loads(_ims(db, "list", "--json").stdout)
    assert [r["impi"] for r in listed] == ["1@ims.example.net"]
    assert _ims(db, "show", "sip:nobody@x").returncode == 1
    assert _ims(db, "delete", "1@ims.example.net").returncode == 0
    gone = _ims(db, "delete", "1@ims.example.net")
    assert gone.returncode == 1 and "unknown impi" in gone.stdout


def test_csv_import_thousands_all_or_nothing(tmp_path: Path) -> None:
    db = tmp_path / "hss.sqlite"
    rows = ["imsi,impi,impus,msisdn,k,opc,amf,sqn"]
    for i in range(2000):
        rows.append(f"0010100{i:08d},{i}@ims.example.net,sip:u{i}@ims.example.net;tel:+1555{i:07d},1555{i:07d},"
                    f"{K},{OPC},8000,000000000020")
    good = tmp_path / "subs.csv"
    good.write_text("\n".join(rows) + "\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(rows[:5] + [rows[5].replace(OPC, "zz")]) + "\n")
    run = _ims(db, "import", str(bad))
    assert run.returncode == 1 and f"{bad}:6: opc: 'zz' is not hexadecimal" in run.stdout
    assert json.loads(_ims(db, "list", "--json").stdout) == []  # nothing half-imported
    run = _ims(db, "import", str(good))
    assert run.returncode == 0 and "imported 2000" in run.stdout
    again = _ims(db, "import", str(good))
    assert again.returncode == 1 and "nothing imported" in again.stdout
    assert len(json.loads(_ims(db, "list", "--json").stdout)) == 2000


def test_update_profile_and_commands_that_need_a_running_hss(tmp_path: Path) -> None:
    db = tmp_path / "hss.sqlite"
    assert _ims(db, "add", "--imsi", "001010000000001", "--impi", "1@ims.example.net", "--impu",
                "sip:alice@ims.example.net tel:+15550001|sip:alice-work@ims.example.net", "--k", K, "--op",
                "cdc202d5123e20f62b6d676ac72cb318", "--password", "pw").returncode == 0
    shown = json.loads(_ims(db, "show", "1@ims.example.net").stdout)
    assert shown["implicit_sets"] == [["sip:alice@ims.example.net", "tel:+15550001"], ["sip:alice-work@ims.example.net"]]
    assert shown["auth_schemes"] == ["Digest-AKAv1-MD5", "Digest-AKAv2-MD5", "SIP Digest"]
    missing = _ims(db, "update", "1@ims.example.net", "--service-profile", "gold")
    assert missing.returncode == 1 and "unknown service profile gold" in missing.stdout
    ifcs = '[{"priority": 1, "server": "sip:tas.example", "trigger": {"method": "INVITE"}}]'
    assert _ims(db, "profile", "gold", "--ifcs", ifcs).returncode == 0
    assert _ims(db, "update", "1@ims.example.net", "--service-profile", "gold").returncode == 0
    assert _ims(db, "update", "sip:alice-work@ims.example.net", "--bar").returncode == 0
    shown = json.loads(_ims(db, "show", "tel:+15550001").stdout)
    assert shown["service_profile"] == "gold" and shown["barred_impus"] == ["sip:alice-work@ims.example.net"]
    dereg = _ims(db, "deregister", "1@ims.example.net")
    assert dereg.returncode == 1 and "needs --control" in dereg.stdout
    unknown = _ims(db, "update", "sip:ghost@x", "--bar")
    assert unknown.returncode == 1 and "unknown identity sip:ghost@x" in unknown.stdout
