"""The HSS's Cx handlers on mutated requests (DESIGN §6a, issue 13): whatever decodes is answered or
refused with a DiameterError (the driver turns it into the answer) - no other exception reaches the
driver's boundary, and every answer encodes and decodes."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ims.diameter import cx
from ims.diameter.codec import DiameterMessage
from ims.diameter.constants import REGISTRATION, USER_DEREGISTRATION
from ims.diameter.errors import DiameterError
from ims.hss.cx import HssConfig, HssCx
from ims.hss.provisioning import provision_from_topology
from ims.hss.store import Store
from tests.hss.helpers import HSS_HOST, REALM, ROOT, lir, mar, sar, uar

_DIR = Path(tempfile.mkdtemp(prefix="hss-cx-property-"))
_STORE = Store(_DIR / "hss.sqlite")
provision_from_topology(_STORE, str(ROOT / "topologies" / "volte-basic.toml"), "hss")
HSS = HssCx(_STORE, HssConfig(HSS_HOST, REALM, (REALM,), f"aaa://ccf.{REALM}:3868"))

SAMPLES = [m.to_bytes() for m in (uar(), uar(uat=1), mar(), mar(scheme=cx.SCHEME_DIGEST), mar(authorization=bytes(30)),
                                  sar(REGISTRATION), sar(USER_DEREGISTRATION), lir())]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(20, len(data) - 1))
        op = draw(st.sampled_from(["flip", "set", "insert", "cut"]))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=4, max_size=4))  # keeps 4-byte alignment
        elif len(data) > 28:
            del data[i - i % 4:i - i % 4 + 4]
    data[1:4] = len(data).to_bytes(3, "big")
    return bytes(data)


@settings(max_examples=300, deadline=None)
@given(mutated())
def test_mutated_cx_requests_raise_only_diameter_error(data: bytes) -> None:
    try:
        msg = DiameterMessage.from_bytes(data)
    except DiameterError:
        return
    try:
        answer = HSS.handle_message(msg)
    except DiameterError as exc:
        assert 3000 <= exc.result_code <= 5999
        return
    DiameterMessage.from_bytes(answer.to_bytes())


def test_the_samples_are_answered() -> None:
    for data in SAMPLES:
        assert HSS.handle_message(DiameterMessage.from_bytes(data)).result_code
