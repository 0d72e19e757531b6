"""``ims aka`` as a user runs it, against TS 35.208 test set 1."""

from __future__ import annotations

import json
import subprocess
import sys

from ims.aka import Usim

SET1 = dict(k="465b5ce8b199b49faa5f0a2ee238a6bc", op="cdc202d5123e20f62b6d676ac72cb318",
            rand="23553cbe9637a89d218ae64dae47bf35", sqn="ff9bb4d0b607", amf="b9b9")


def _ims(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ims.cli", "aka", *args], capture_output=True, text=True, timeout=60)


def test_milenage_set1_json() -> None:
    run = _ims("milenage", "--k", SET1["k"], "--op", SET1["op"], "--rand", SET1["rand"], "--sqn", SET1["sqn"],
               "--amf", SET1["amf"], "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    out = json.loads(run.stdout)
    assert out["OPc"] == "cd63cb71954a9f4e48a5994e37a02baf" and out["MAC-A"] == "4a9ffac354dfafb3"
    assert out["RES"] == "a54211d5e3ba50bf" and out["AK*"] == "451e8beca43b"
    assert out["AUTN"].endswith("b9b9" + "4a9ffac354dfafb3")


def test_bad_hex_and_length_name_the_option() -> None:
    run = _ims("milenage", "--k", "zz", "--opc", SET1["op"], "--rand", SET1["rand"], "--sqn", SET1["sqn"],
               "--amf", SET1["amf"])
    assert run.returncode == 2 and "--k: 'zz' is not hexadecimal" in run.stdout
    run = _ims("milenage", "--k", SET1["k"], "--opc", SET1["op"][:30], "--rand", SET1["rand"], "--sqn", SET1["sqn"],
               "--amf", SET1["amf"])
    assert run.returncode == 2 and "--opc: must be 16 bytes (32 hex digits), got 30" in run.stdout


def test_resync_recovers_sqn_ms_and_rejects_bad_auts() -> None:
    k, opc = bytes.fromhex(SET1["k"]), bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")
    usim = Usim(k, opc, sqn_ms=0x123456)
    auts = usim.auts(bytes.fromhex(SET1["rand"]))
    run = _ims("resync", "--k", SET1["k"], "--op", SET1["op"], "--rand", SET1["rand"], "--auts", auts.hex(), "--json")
    assert run.returncode == 0 and json.loads(run.stdout)["SQN_MS"] == "000000123456"
    bad = _ims("resync", "--k", SET1["k"], "--op", SET1["op"], "--rand", SET1["rand"], "--auts", "00" * 14)
    assert bad.returncode == 1 and "MAC-S mismatch" in bad.stdout
