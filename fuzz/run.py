"""Run the fuzz harnesses: coverage-guided with atheris, or a quick deterministic pass.

    python -m fuzz.run sip --seconds 300          # atheris (libFuzzer) for 5 minutes
    python -m fuzz.run all --seconds 120          # every target in turn (``make fuzz``)
    python -m fuzz.run sip --quick --runs 20000   # the deterministic mutator, no atheris needed
    python -m fuzz.run sip --replay tests/fuzz/crashes/sip/1a2b3c   # one input, full traceback

A finding does not stop a campaign: the input is written to
``tests/fuzz/crashes/<target>/`` (named by the hash of its bytes) the first
time its signature (exception type and the innermost frame in ``ims/``) is
seen, and the run goes on; ``tests/fuzz`` replays every file there.  New
coverage found by atheris is kept in ``.fuzz/corpus/<target>/`` (not
committed); the committed seeds in ``fuzz/corpus/<target>/`` are only read.
Inputs that hang past libFuzzer's -timeout land in ``.fuzz/artifacts/<target>/``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "corpus"
CRASHES = ROOT / "tests" / "fuzz" / "crashes"
WORK = ROOT / ".fuzz"


# Helpers every fault passes through on its way up: a signature names the caller that brought it there.
_PLUMBING = ("ims/sip/errors.py", "ims/sip/headers.py", "ims/sip/message.py")


def signature(exc: BaseException, *, line: bool = True) -> str:
    """``ValueError at ims/sip/headers.py:312 (rport)``: the innermost frame in the library, else the last;
    when that frame is in a helper every fault passes (header checks, the codec), also the first caller
    outside it: ``HeaderInjectionError at ims/sip/errors.py:71 (check_text) via ims/sip/transaction.py:73
    (stamp_received)``.

    Without ``line`` the line numbers are left out, a key that survives edits elsewhere in the files."""
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if f"{os.sep}ims{os.sep}" in f.filename] or frames
    if not inside:
        return type(exc).__name__

    def where(f: traceback.FrameSummary) -> str:
        try:
            path = str(Path(f.filename).resolve().relative_to(ROOT))
        except ValueError:
            path = Path(f.filename).name
        return f"{path}{f':{f.lineno}' if line else ''} ({f.name})"

    inner = inside[-1]
    out = f"{type(exc).__name__} at {where(inner)}"
    inner_file = where(inner).split(":")[0].split(" ")[0]
    if inner_file in _PLUMBING or inner_file.endswith("diameter/codec.py"):
        for f in reversed(inside[:-1]):
            file = where(f).split(":")[0].split(" ")[0]
            if file != inner_file and file not in _PLUMBING:
                out += f" via {where(f)}"
                break
    return out


def seeds_of(target: str) -> list[bytes]:
    folder = SEEDS / target
    return [p.read_bytes() for p in sorted(folder.iterdir())] if folder.is_dir() else []


def crash_files(target: str) -> list[Path]:
    folder = CRASHES / target
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def save_crash(target: str, data: bytes) -> Path:
    folder = CRASHES / target
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / hashlib.sha1(data).hexdigest()[:16]
    if not path.exists():
        path.write_bytes(data)
    return path


def first_failure(target: str, data: bytes) -> BaseException | None:
    from fuzz.harnesses import TARGETS

    try:
        TARGETS[target].run(data)
    except Exception as exc:  # noqa: BLE001 - every escaping exception is the finding
        return exc
    return None


def known_signatures() -> set[str]:
    """Line-less signatures of the crash inputs already kept (those that still fail, any target): a
    campaign does not keep a second input for a fault that already has one (the SIP parser's faults
    also show under the framer, SDP's under multipart)."""
    from fuzz.harnesses import TARGETS

    out = set()
    for target in TARGETS:
        for path in crash_files(target):
            exc = first_failure(target, path.read_bytes())
            if exc is not None:
                out.add(signature(exc, line=False))
    return out


def quick(target: str, inputs: Iterable[bytes]) -> dict[str, tuple[bytes, BaseException]]:
    """Run ``inputs``; the first (shortest kept) input per signature."""
    found: dict[str, tuple[bytes, BaseException]] = {}
    for data in inputs:
        exc = first_failure(target, data)
        if exc is not None:
            sig = signature(exc)
            if sig not in found or len(data) < len(found[sig][0]):
                found[sig] = (data, exc)
    return found


def _quick_main(targets: list[str], runs: int, seed: int, save: bool) -> int:
    from fuzz.harnesses import TARGETS
    from fuzz.mutate import mutations

    status = 0
    for target in targets:
        seeds = seeds_of(target)
        t0 = time.perf_counter()
        inputs = [*seeds, *mutations(seeds, runs, seed, TARGETS[target].tokens, TARGETS[target].length_field)]
        found = quick(target, inputs)
        took = time.perf_counter() - t0
        print(f"{target}: {len(inputs)} inputs in {took:.1f} s, {len(found)} distinct finding(s)")
        known = known_signatures()
        for sig, (data, exc) in sorted(found.items()):
            status = 1
            if signature(exc, line=False) in known:
                where = "(a crash input for this fault is already kept)"
            else:
                where = save_crash(target, data).relative_to(ROOT) if save else "(not saved)"
            print(f"  {sig}: {str(exc)[:160]!r}\n    input {len(data)} bytes -> {where}")
    return status


def _replay(target: str, paths: list[str]) -> int:
    from fuzz.harnesses import TARGETS

    status = 0
    for p in paths:
        data = Path(p).read_bytes()
        try:
            TARGETS[target].run(data)
        except Exception:  # noqa: BLE001
            status = 1
            print(f"--- {p}: {data[:200]!r}{'...' if len(data) > 200 else ''}")
            traceback.print_exc()
        else:
            print(f"--- {p}: no finding")
    return status


def _atheris_main(target: str, libfuzzer_args: list[str]) -> None:
    """The child process: instrument ``ims``, then hand the harness to libFuzzer."""
    import atheris

    with atheris.instrument_imports(include=["ims", "fuzz.harnesses"]):
        from fuzz import harnesses
    harness = harnesses.TARGETS[target].run
    seen = known_signatures()

    def one_input(data: bytes) -> None:
        try:
            harness(data)
        except Exception as exc:  # noqa: BLE001 - record, keep fuzzing (one campaign finds many faults)
            sig = signature(exc, line=False)
            if sig not in seen:
                seen.add(sig)
                path = save_crash(target, data)
                print(f"\n== finding in {target}: {signature(exc)}: {str(exc)[:200]!r}\n"
                      f"   input -> {path.relative_to(ROOT)}", flush=True)

    atheris.Setup([sys.argv[0], *libfuzzer_args], one_input)
    atheris.Fuzz()


def _atheris_campaign(target: str, seconds: int, extra: list[str]) -> int:
    from fuzz.harnesses import TARGETS

    t = TARGETS[target]
    corpus = WORK / "corpus" / target
    artifacts = WORK / "artifacts" / target
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    args = [f"-max_total_time={seconds}", f"-max_len={t.max_len}", "-timeout=10", "-rss_limit_mb=2048",
            f"-artifact_prefix={artifacts}/", "-print_final_stats=1"]
    if t.tokens:
        dict_file = WORK / f"{target}.dict"
        dict_file.write_text("".join(f'"{_dict_escape(tok)}"\n' for tok in t.tokens))
        args.append(f"-dict={dict_file}")
    args += extra + [str(corpus), str(SEEDS / target)]
    before = set(crash_files(target))
    print(f"== {target}: {t.what} ({seconds} s)", flush=True)
    rc = subprocess.call([sys.executable, "-m", "fuzz.run", target, "--child", "--", *args], cwd=ROOT)
    new = [p for p in crash_files(target) if p not in before]
    print(f"== {target}: libFuzzer exit {rc}; {len(new)} new crash input(s) in "
          f"{(CRASHES / target).relative_to(ROOT)}", flush=True)
    return 1 if new or rc not in (0,) else 0


def _dict_escape(tok: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else f"\\x{b:02x}" for b in tok)


def main(argv: list[str] | None = None) -> int:
    logging.disable(logging.CRITICAL)  # nodes log what they drop; millions of inputs need no log lines
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    if "--child" in argv:
        # Nothing of ims may be imported before atheris instruments it.
        _atheris_main(argv[0], extra)
        return 0
    from fuzz.harnesses import TARGETS

    parser = argparse.ArgumentParser(description="Fuzz the decoders (see fuzz/run.py)")
    parser.add_argument("target", help=f"one of: all, {', '.join(TARGETS)} (comma-separated for several)")
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("FUZZ_SECONDS", "180")),
                        help="atheris time per target (default $FUZZ_SECONDS or 180)")
    parser.add_argument("--quick", action="store_true", help="deterministic mutator instead of atheris")
    parser.add_argument("--runs", type=int, default=5000, help="--quick: mutations per target")
    parser.add_argument("--seed", type=int, default=13, help="--quick: mutator seed")
    parser.add_argument("--no-save", action="store_true", help="--quick: do not write crash inputs")
    parser.add_argument("--replay", nargs="+", metavar="FILE", help="run these inputs and print tracebacks")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    targets = list(TARGETS) if args.target == "all" else args.target.split(",")
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS)}")
    if args.replay:
        return _replay(targets[0], args.replay)
    if args.quick:
        return _quick_main(targets, args.runs, args.seed, not args.no_save)
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris is not installed: .venv/bin/pip install -e '.[fuzz]' (or use --quick)", file=sys.stderr)
        return 2
    status = 0
    for target in targets:
        status |= _atheris_campaign(target, args.seconds, extra)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
