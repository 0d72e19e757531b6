"""`make chaos` in small (issue 13 item 8): the fault campaign tool runs a real lab under
`ims up --foreground`, SIGKILLs the S-CSCF and pauses the HSS, and must report no registration lost
and no SQN reused.  Uses 127.0.11.x and control ports 78xx/7900: run under the integration lock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_chaos_campaign_loses_no_registration_and_reuses_no_sqn(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tools.chaos", "--run-dir", str(tmp_path / "chaos"),
                             "--faults", "kill:scscf,kill:pcscf,pause:hss", "--window", "4"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.terminate()  # SIGTERM: the tool resumes a paused node and brings its lab down
        out, _ = proc.communicate(timeout=60)
        raise AssertionError("the campaign did not finish in 240 s:\n" + out[-4000:]) from None
    assert proc.returncode == 0, out[-6000:]
    report = json.loads((tmp_path / "chaos" / "report.json").read_text())
    faults = {r["fault"]: r for r in report}
    assert set(faults) == {"baseline (no fault)", "SIGKILL scscf", "SIGKILL pcscf", "pause hss 5 s"}
    for name, r in faults.items():
        assert r["registrations_lost"] == 0 and r["sqns_reused"] == 0, (name, r)
        if name != "baseline (no fault)":
            assert r["recover_s"] is not None and r["calls"] > 0, (name, r)
    assert any("restarted by the supervisor" in n for n in faults["SIGKILL scscf"]["notes"])
