"""IMS core throughput: full IMS-AKA registrations/s and UE-to-UE calls/s through P-, I-, S-CSCF and the HSS.

The lab is volte-basic's HSS and CSCFs (one process each) with 1000 generated
subscribers; SIPp plays the handsets (its own AKA computes RES from K/OP),
so the load generator costs the Python nodes as little CPU as possible.

* registrations: ``tools/sipp/ims_aka_register.xml`` over the subscribers at a
  fixed rate for DURATION seconds; each is two REGISTER round trips through
  P, I (UAR x2), S (MAR, SAR) and the HSS, plus the P-CSCF's reg-event
  SUBSCRIBE/NOTIFY with the S-CSCF;
* calls: a SIPp UAS registered as "callee", a registered SIPp UAC calling it
  with ``tools/sipp/ims_call.xml`` (INVITE..BYE, no media) at a fixed rate;
  each call crosses P, S, I (LIR), S, P and back.

A rate passes when every attempt of the run succeeded and the run kept the
rate (elapsed within 10 % of DURATION).  Figures are medians of RUNS runs.
``python -m tools.bench ims`` runs only this; IMS_BENCH_DURATION and
IMS_BENCH_RATES (e.g. "reg=300,call=100") override the defaults.
"""

from __future__ import annotations

import csv
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ims.lab import Lab

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = "ims.mnc001.mcc001.3gppnetwork.org"
SUBSCRIBERS = 1000
OP = "cd" * 16
PCSCF = "127.0.1.40:5060"
UAC = ("127.0.1.201", 5080)
UAS = ("127.0.1.202", 5090)
REG = ("127.0.1.203", 5100)


def _key(n: int) -> str:
    """K: one for every bench subscriber (lab SIMs; SIPp's injected keywords misparse when they differ), with
    no zero byte (SIPp copies aka_K as a C string)."""
    return "5fedeb67ffc96f39d953796d6d696d79"


def topology(tmp: Path) -> Path:
    base = (ROOT / "topologies" / "volte-basic.toml").read_text()
    core = base.split("[[nodes]]\nname = \"ue\"")[0]  # HSS and CSCFs; SIPp plays the handsets
    subs = []
    for n, user in [(n, f"user{n:04d}") for n in range(SUBSCRIBERS)] + [(9000, "caller"), (9001, "callee")]:
        subs.append(f'[[subscribers]]\nimsi = "00101{n:010d}"\nimpi = "00101{n:010d}@{DOMAIN}"\n'
                     f'impus = ["sip:{user}@{DOMAIN}"]\nk = "{_key(n)}"\nop = "{OP}"\namf = "8000"\n'
                     f'sqn = "000000000020"\n')
    path = tmp / "bench.toml"
    path.write_text(core + "\n" + "\n".join(subs))
    return path


def users_csv(tmp: Path, rows: list[tuple[int, str]]) -> Path:
    path = tmp / f"users-{rows[0][1]}.csv"
    lines = ["SEQUENTIAL"]
    for n, user in rows:
        impi = f"00101{n:010d}@{DOMAIN}"
        # field2: the whole keyword (SIPp expands no [field] inside [authentication ...]).
        lines.append(f"{user};{impi};[authentication username={impi} aka_K=0x{_key(n)} aka_OP=0x{OP} "
                     f"aka_AMF=0x8000]")
    path.write_text("\n".join(lines) + "\n")
    return path


class SippCrashed(RuntimeError):
    """SIPp itself died by a signal: the run says nothing of the lab, and is run again."""


def sipp(args: list[str], cwd: Path, timeout: float) -> tuple[int, int, float, str]:
    """Run SIPp; (successful, failed, elapsed seconds, error text)."""
    stat = cwd / f"stat-{time.monotonic_ns()}.csv"
    started = time.monotonic()
    run = subprocess.run(["sipp", *args, "-nostdin", "-trace_stat", "-stf", str(stat), "-fd", "1",
                          "-timeout", f"{int(timeout)}s"], capture_output=True, text=True, cwd=cwd,
                         timeout=timeout + 30)
    elapsed = time.monotonic() - started
    if run.returncode < 0:
        raise SippCrashed(f"SIPp died by signal {-run.returncode} after {elapsed:.1f} s")
    rows = list(csv.reader(stat.read_text().splitlines(), delimiter=";")) if stat.exists() else []
    if len(rows) < 2:
        return 0, 0, elapsed, run.stdout[-500:] + run.stderr[-500:]
    row = dict(zip(rows[0], rows[-1]))
    err = (f"SIPp exit {run.returncode}: " if run.returncode not in (0, 1) else "") + run.stderr[-300:]
    return int(row["SuccessfulCall(C)"]), int(row["FailedCall(C)"]), elapsed, err


def register_load(tmp: Path, rate: int, duration: float) -> tuple[int, int, float, str]:
    users = users_csv(tmp, [(n, f"user{n:04d}") for n in range(SUBSCRIBERS)])
    total = int(rate * duration)
    return sipp(["-sf", str(ROOT / "tools/sipp/ims_aka_register.xml"), "-inf", str(users), "-set", "domain",
                 DOMAIN, PCSCF, "-i", REG[0], "-p", str(REG[1]), "-r", str(rate), "-m", str(total),
                 "-l", str(rate * 4)], tmp, duration * 3 + 30)


def call_load(tmp: Path, rate: int, duration: float) -> tuple[int, int, float, str]:
    total = int(rate * duration)
    return sipp(["-sf", str(ROOT / "tools/sipp/ims_call.xml"), "-set", "domain", DOMAIN, "-s", "callee", PCSCF,
                 "-i", UAC[0], "-p", str(UAC[1]), "-r", str(rate), "-m", str(total), "-l", str(rate * 4)],
                tmp, duration * 3 + 30)


def register_one(tmp: Path, n: int, user: str, where: tuple[str, int]) -> None:
    ok, failed, _, err = sipp(["-sf", str(ROOT / "tools/sipp/ims_aka_register.xml"),
                               "-inf", str(users_csv(tmp, [(n, user)])), "-set", "domain", DOMAIN, PCSCF,
                               "-i", where[0], "-p", str(where[1]), "-m", "1"], tmp, 20)
    if ok != 1:
        raise RuntimeError(f"registering {user} failed: {err}")


def main() -> None:
    if shutil.which("sipp") is None:
        print("  skipped: sipp (Debian package sip-tester) is not installed")
        return
    duration = float(os.environ.get("IMS_BENCH_DURATION", "30"))
    rates = dict(kv.split("=") for kv in os.environ.get("IMS_BENCH_RATES", "reg=300,call=100").split(","))
    runs = int(os.environ.get("IMS_BENCH_RUNS", "3"))
    tmp = Path(tempfile.mkdtemp(prefix="ims-bench-"))
    lab = Lab(topology(tmp), tmp / "run")
    lab.up(timeout=30)
    try:
        reg_rate = int(rates.get("reg", 300))
        _report("IMS-AKA registrations", reg_rate, duration, [_reg_run(tmp, reg_rate, duration) for _ in range(runs)])
        if _failed:
            # Below target: the highest rate (in steps of 50/s) that one run holds, then its median.
            for rate in range(reg_rate - 50, 0, -50):
                if not _report("  sustained? registrations", rate, duration, [_reg_run(tmp, rate, duration)]):
                    _report("  sustained IMS-AKA registrations", rate, duration,
                            [_reg_run(tmp, rate, duration) for _ in range(runs)])
                    break
        register_one(tmp, 9001, "callee", UAS)
        register_one(tmp, 9000, "caller", UAC)
        uas = subprocess.Popen(["sipp", "-sn", "uas", "-i", UAS[0], "-p", str(UAS[1]), "-nostdin"],
                               cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            call_rate = int(rates.get("call", 100))
            results = [(*_again_if_sipp_fails(lambda: call_load(tmp, call_rate, duration)), 0)
                       for _ in range(runs)]
            _report("UE-to-UE calls (INVITE..BYE)", call_rate, duration, results)
        finally:
            uas.terminate()  # the UAS we started, by its own PID
            try:
                uas.wait(timeout=10)
            except subprocess.TimeoutExpired:
                uas.kill()
                uas.wait(timeout=10)
    finally:
        lab.down()
        shutil.rmtree(tmp, ignore_errors=True)


_failed: list[str] = []


def _reg_run(tmp: Path, rate: int, duration: float) -> tuple[int, int, float, str, int]:
    before = _scscf_stat("auth_failed_res_truncated")
    ok, failed, elapsed, err = _again_if_sipp_fails(lambda: register_load(tmp, rate, duration))
    return ok, failed, elapsed, err, _scscf_stat("auth_failed_res_truncated") - before


def _again_if_sipp_fails(run: Callable[[], tuple[int, int, float, str]]) -> tuple[int, int, float, str]:
    """A run, once more if SIPp itself did not start (e.g. its port not free yet) or crashed (said)."""
    try:
        result = run()
        if not (result[0] == 0 and result[2] < 2):
            return result
    except SippCrashed as exc:
        print(f"    ({exc}: that run is run again)")
    time.sleep(2)
    return run()


def _scscf_stat(name: str) -> int:
    from ims.control.client import NodeClient

    with NodeClient("127.0.0.1:7130") as c:
        return int(c.stats().get(name, 0))


def _report(what: str, rate: int, duration: float, results: list[tuple[int, int, float, str, int]]) -> bool:
    """Failures SIPp causes itself (it handles RES as a C string: a RES with a 00 byte, 1 in 32, gives a
    wrong answer; the S-CSCF recognises and counts those) are shown apart and do not fail the run."""
    achieved = [(ok + sipp_bug) / elapsed for ok, _, elapsed, _, sipp_bug in results]
    failures = [int(rate * duration) - ok - sipp_bug for ok, _, _, _, sipp_bug in results]
    kept = all(elapsed <= duration * 1.1 + 2 for _, _, elapsed, _, _ in results)
    verdict = "PASS" if not any(failures) and kept else "FAIL"
    bugs = [r[4] for r in results]
    print(f"  {what}: offered {rate}/s for {duration:.0f} s x{len(results)}: median {statistics.median(achieved):.0f}/s "
          f"achieved, failures per run {failures}"
          + (f" (and SIPp's RES-with-00-byte bug per run {bugs})" if any(bugs) else "")
          + f", elapsed {[round(r[2], 1) for r in results]} s -> {verdict} ({os.cpu_count()} cores)")
    for ok, failed, elapsed, err, sipp_bug in results:
        last = err.strip().splitlines()[-1][:200] if err.strip() else "nothing on stderr"
        if elapsed < duration * 0.95:  # SIPp ended before it could have offered every attempt
            print(f"    a run ended after {elapsed:.1f} s with {ok + failed} attempts done; sipp: {last}")
        elif failed > sipp_bug and err and verdict == "FAIL" and len(results) > 1:
            print(f"    sipp: {last}")
    if verdict == "FAIL":
        _failed.append(what)
    return verdict == "FAIL"
