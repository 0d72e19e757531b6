"""``ims aka`` as a user runs it (``python -m ims.cli aka ...``), against TS 35.208 test sets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ims.aka import SqnScheme, make_auts
from tests.aka.test_milenage import SETS

FIELDS = ("k", "rand", "sqn", "amf", "op", "opc", "f1", "f1*", "f2", "f5", "f3", "f4", "f5*")


def _set(name: str) -> dict[str, str]:
    return dict(zip(FIELDS, SETS[name], strict=True))


def _ims(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ims.cli", "aka", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("name, key", [("ts35208-4.3.1-set1", "op"), ("ts35208-4.3.7-set7", "opc"),
                                       ("ts35208-4.3.20-set20", "op")])
def test_milenage_json_matches_the_set(name: str, key: str) -> None:
    s = _set(name)
    run = _ims("milenage", "--k", s["k"], f"--{key}", s[key], "--rand", s["rand"], "--sqn", s["sqn"],
               "--amf", s["amf"], "--json")
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    ak = int(s["f5"], 16)
    assert out == {"OPc": s["opc"], "MAC-A": s["f1"], "MAC-S": s["f1*"], "RES": s["f2"], "CK": s["f3"],
                   "IK": s["f4"], "AK": s["f5"], "AK*": s["f5*"],
                   "AUTN": f"{int(s['sqn'], 16) ^ ak:012x}" + s["amf"] + s["f1"]}


def test_milenage_text_output_set1() -> None:
    s = _set("ts35208-4.3.1-set1")
    run = _ims("milenage", "--k", s["k"], "--op", s["op"], "--rand", s["rand"], "--sqn", s["sqn"],
               "--amf", s["amf"])
    assert run.returncode == 0 and run.stderr == ""
    lines = dict(line.split() for line in run.stdout.splitlines())
    assert lines["RES"] == "a54211d5e3ba50bf" and lines["AUTN"] == "55f328b43577b9b94a9ffac354dfafb3"


def test_bad_values_give_one_line_naming_the_option_and_exit_2() -> None:
    s = _set("ts35208-4.3.1-set1")
    base = ["--rand", s["rand"], "--sqn", s["sqn"], "--amf", s["amf"]]
    run = _ims("milenage", "--k", "zz", "--opc", s["opc"], *base)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines() == ["ims aka milenage: --k: 'zz' is not hexadecimal"]
    run = _ims("milenage", "--k", s["k"], "--opc", s["opc"][:30], *base)
    assert run.returncode == 2
    assert run.stderr.splitlines() == ["ims aka milenage: --opc: must be 16 bytes (32 hex digits), got 30"]
    run = _ims("milenage", "--k", s["k"], "--op", s["op"], "--rand", s["rand"], "--sqn", s["sqn"], "--amf", "b9")
    assert run.returncode == 2 and "--amf: must be 2 bytes (4 hex digits), got 2" in run.stderr
    run = _ims("resync", "--k", s["k"], "--op", s["op"], "--rand", s["rand"], "--auts", "00" * 13)
    assert run.returncode == 2 and "--auts: must be 14 bytes (28 hex digits), got 26" in run.stderr
    run = _ims("milenage", "--k", s["k"], *base)  # neither --op nor --opc: argparse's own usage error
    assert run.returncode == 2 and "--op" in run.stderr


def test_resync_recovers_sqn_ms_and_says_when_mac_s_fails() -> None:
    s = _set("ts35208-4.3.2-set2")
    scheme = SqnScheme()
    sqn_ms = scheme.join(123456, 7)
    auts = make_auts(bytes.fromhex(s["k"]), bytes.fromhex(s["opc"]), bytes.fromhex(s["rand"]), sqn_ms)
    run = _ims("resync", "--k", s["k"], "--op", s["op"], "--rand", s["rand"], "--auts", auts.hex(), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"SQN_MS": f"{sqn_ms:012x}", "SEQ_MS": "123456", "IND_MS": "7",
                                      "NEXT_SQN": f"{scheme.join(123457, 8):012x}"}
    bad = _ims("resync", "--k", s["k"], "--opc", s["opc"], "--rand", s["rand"], "--auts", auts[:-1].hex() + "00")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("ims aka resync: MAC-S does not verify")
