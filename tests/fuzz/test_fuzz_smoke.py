"""The bounded fuzz run of ``make test``: every harness over its seed corpus plus seeded mutations.

Deterministic (``fuzz.mutate`` with a fixed seed), a few seconds per target on a
slow machine.  What it asserts is DESIGN §6a: a decoder raises only its own
error for any input.  The coverage-guided campaign is ``make fuzz``; this is
the part that runs in CI on every change.  ``FUZZ_SMOKE_SCALE=10`` runs ten
times as many mutations.  A failure prints the input; keep it with
``python -m fuzz.run <target> --quick --runs <n>`` (it writes
``tests/fuzz/crashes/<target>/``) and note it for the decoder's owner.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from fuzz.harnesses import TARGETS, Finding
from fuzz.mutate import mutations
from fuzz.run import SEEDS, first_failure, seeds_of, signature
from tests.fuzz.open_findings import open_finding_of

SEED = 13
SCALE = float(os.environ.get("FUZZ_SMOKE_SCALE", "1"))

# Mutations per target, sized so each target takes about a second (pycrate and pydantic are the slow ones).
RUNS = {
    "sip": 3000, "sip_cores": 600, "sip_framer": 1500, "sip_uri": 3000, "multipart": 800, "sdp": 2500, "diameter": 3000,
    "diameter_peer": 1000, "hss_cx": 1500, "cx_answers": 1500, "user_data": 1500, "reginfo": 2000, "isup": 400, "isup_call": 150, "m3ua": 1000, "rtp": 3000, "rtcp": 3000, "srtp": 2000,
    "topology": 500, "flow": 300, "subscriber_csv": 1000,
}


def test_every_target_has_a_run_count_and_seeds() -> None:
    assert set(RUNS) == set(TARGETS)
    for name in TARGETS:
        assert seeds_of(name), f"no seeds in fuzz/corpus/{name} (python -m fuzz.make_seeds)"


def test_seed_corpora_stay_small() -> None:
    total = sum(p.stat().st_size for p in SEEDS.rglob("*") if p.is_file())
    assert total < 2 * 1024 * 1024, f"fuzz/corpus holds {total} bytes"


def test_mutations_are_reproducible() -> None:
    seeds = seeds_of("sip")[:5]
    assert list(mutations(seeds, 200, SEED)) == list(mutations(seeds, 200, SEED))
    assert list(mutations(seeds, 50, SEED)) != list(mutations(seeds, 50, SEED + 1))


def test_harness_reports_an_untyped_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    """The smoke run can fail: a decoder that lets a ValueError out is a finding, its own error is not."""
    import fuzz.harnesses as h
    from ims.media.rtcp import RtcpError

    def leaky(data: bytes) -> list[object]:
        raise ValueError("int() of a port")

    monkeypatch.setattr(h, "parse_compound", leaky)
    exc = first_failure("rtcp", b"\x80\xc9\x00\x01\x00\x00\x00\x01")
    assert isinstance(exc, ValueError) and signature(exc).startswith("ValueError at tests/fuzz/test_fuzz_smoke.py")

    def typed(data: bytes) -> list[object]:
        raise RtcpError("short")

    monkeypatch.setattr(h, "parse_compound", typed)
    assert first_failure("rtcp", b"\x80") is None


def test_sip_error_reason_with_crlf_is_a_finding() -> None:
    from fuzz.harnesses import _check_sip_error
    from ims.sip.errors import SipParseError

    smuggled = SipParseError("Bad header")
    smuggled.reason = "Bad header\r\nVia: smuggled"  # SipError cleans its own reasons; a subclass might not
    with pytest.raises(Finding):
        _check_sip_error(smuggled)
    with pytest.raises(Finding):
        _check_sip_error(SipParseError("fine", status=200))
    _check_sip_error(SipParseError("Bad CSeq header: 'x'"))


@pytest.fixture
def quiet() -> Iterator[None]:
    """The cores log what they drop; thousands of inputs need no log records."""
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.parametrize("target", list(TARGETS))
def test_bounded_fuzz_run(target: str, quiet: None) -> None:
    seeds = seeds_of(target)
    runs = max(1, int(RUNS[target] * SCALE))
    new: dict[str, tuple[bytes, BaseException]] = {}
    expected: set[str] = set()
    for data in [*seeds, *mutations(seeds, runs, SEED, TARGETS[target].tokens, TARGETS[target].length_field)]:
        exc = first_failure(target, data)
        if exc is None:
            continue
        key = signature(exc, line=False)
        fid = open_finding_of(key)
        if fid is not None:
            expected.add(fid)
        elif key not in new or len(data) < len(new[key][0]):
            new[key] = (data, exc)
    report = "\n".join(f"{signature(exc)}: {str(exc)[:200]}\n  input: {data[:300]!r}"
                       + (f"... ({len(data)} bytes)" if len(data) > 300 else "")
                       for data, exc in new.values())
    assert not new, f"{len(new)} new finding(s) in {target}:\n{report}"
    if expected:
        pytest.xfail(f"open finding(s) {', '.join(sorted(expected))} still reproduce")
