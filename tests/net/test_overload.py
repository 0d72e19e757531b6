"""Overload control (ims.net.overload): the sans-IO admission policy on a fake clock, the SIP classification
and 503 of a shed request, and the drivers over real loopback sockets (SIP 503 + Retry-After while accepted
work still passes; Diameter 3004 DIAMETER_TOO_BUSY beyond the requests in progress)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

from ims.diameter import cx
from ims.diameter.codec import DiameterMessage
from ims.diameter.constants import DIAMETER_FIRST_REGISTRATION, DIAMETER_TOO_BUSY
from ims.net.diameter import DiameterNode, PeerInfo
from ims.net.overload import (
    AdmissionPolicy,
    ConcurrencyLimit,
    OverloadConfig,
    RequestLimit,
    SipAdmission,
)
from ims.net.sip import SipStack
from ims.sip.events import Action, Address
from ims.sip.message import Request, Response, parse_message

CFG = OverloadConfig(target_delay=0.1)  # 100 ms target, 100 ms intervals, 2 reads each, 2 intervals to enter


def overloaded_policy(steps: int = 1, delay: float = 0.2, config: OverloadConfig = CFG,
                      start: float = 0.0) -> tuple[AdmissionPolicy, float]:
    """A policy that saw ``steps`` intervals of a standing queue of ``delay``; returns it and the time now."""
    p = AdmissionPolicy(config)
    now = start
    p.observe(delay, now)  # opens the first interval
    for _ in range(steps + config.enter_after - 1):
        p.observe(delay, now + config.interval / 2)
        now += config.interval
        p.observe(delay, now)  # closes an interval (two reads in it), opens the next
    return p, now


# -- the policy on a fake clock -----------------------------------------------------------------------

def test_admits_everything_while_the_queue_is_short() -> None:
    p = AdmissionPolicy(CFG)
    now = 0.0
    for _ in range(50):
        p.observe(0.001, now)
        assert p.admit(now)
        now += 0.01
    assert not p.overloaded and p.fraction == 1.0 and p.rejected == 0


def test_a_burst_is_not_a_standing_queue() -> None:
    # One long wait among short ones (the minimum over the interval is short): no shedding (CoDel's reasoning).
    p = AdmissionPolicy(CFG)
    for t, delay in [(0.0, 0.001), (0.03, 0.4), (0.06, 0.002), (0.1, 0.001), (0.2, 0.001)]:
        p.observe(delay, t)
    assert not p.overloaded and p.admit(0.2)


def test_a_standing_queue_cuts_admission_in_proportion_to_its_excess() -> None:
    p, now = overloaded_policy(1, delay=0.4)  # 4x the target: the strongest cut (min_cut 0.6)
    assert p.overloaded and p.fraction == pytest.approx(CFG.min_cut)
    q, _ = overloaded_policy(1, delay=0.105)  # just above the target: the mildest cut
    assert q.overloaded and q.fraction == pytest.approx(CFG.max_cut)
    admitted = sum(p.admit(now) for _ in range(100))
    assert admitted == 60 and p.rejected == 40  # deterministic: exactly the fraction, no randomness


def test_one_interval_of_queue_is_noise_not_overload() -> None:
    # A process descheduled for a while on a busy host: one interval above the target, then a short queue.
    p = AdmissionPolicy(CFG)
    for now, delay in [(0.0, 0.3), (0.05, 0.3), (0.1, 0.01), (0.15, 0.01), (0.2, 0.01)]:
        p.observe(delay, now)
    assert not p.overloaded and p.admit(0.2)


def test_one_slow_read_per_interval_is_too_little_to_tell() -> None:
    p = AdmissionPolicy(CFG)
    now = 0.0
    for _ in range(10):
        p.observe(0.5, now)
        now += CFG.interval
    assert not p.overloaded
    q, _ = overloaded_policy(1, delay=0.5)  # the same delay read twice per interval: overload
    assert q.overloaded


def test_a_queue_draining_after_a_cut_is_not_cut_again() -> None:
    p, now = overloaded_policy(1, delay=0.4)  # cut once to 0.6
    assert p.fraction == pytest.approx(0.6)
    for delay in (0.3, 0.2, 0.15):  # still above the target, but shrinking: the cut is working
        now += CFG.interval
        p.observe(delay, now - 0.01)
        p.observe(delay, now)
    now += CFG.interval
    p.observe(0.15, now)  # closes the interval of 0.15
    assert p.overloaded and p.fraction == pytest.approx(0.6)
    for _ in range(2):  # no longer shrinking: cut again
        now += CFG.interval
        p.observe(0.15, now - 0.01)
        p.observe(0.15, now)
    assert p.fraction < 0.6


def test_admission_never_drops_below_the_floor() -> None:
    p, now = overloaded_policy(30, delay=1.0)
    assert p.fraction == CFG.min_fraction
    assert sum(p.admit(now) for _ in range(1000)) == 20  # some new work still probes the node


def test_hysteresis_leaves_overload_only_once_everything_is_admitted_again() -> None:
    p, now = overloaded_policy(5, delay=0.4)
    low = p.fraction
    assert low == pytest.approx(0.6 ** 3)  # a cut every other interval (each is given time to show)
    # Between half the target and the target: hold, neither cut nor grow.
    for _ in range(3):
        now += CFG.interval
        p.observe(0.07, now)
        p.observe(0.07, now + 0.01)
    assert p.overloaded and p.fraction == low
    # A short queue: additive growth, step by step, still shedding until the fraction is back to 1.
    steps = 0
    while p.overloaded:
        now += CFG.interval
        p.observe(0.04, now)
        steps += 1
        if p.overloaded:
            assert p.fraction < 1.0
    assert steps == pytest.approx((1.0 - low) / CFG.increase, abs=1.5)
    assert p.fraction == 1.0 and all(p.admit(now) for _ in range(10))
    # An empty queue: back faster (multiplicative growth too).
    q, now = overloaded_policy(5, delay=0.4)
    fast = 0
    while q.overloaded:
        now += CFG.interval
        q.observe(0.001, now)
        fast += 1
    assert fast < steps / 2


def test_an_idle_node_recovers_without_samples() -> None:
    p, now = overloaded_policy(5, delay=0.5)
    assert p.overloaded
    # Nothing read for 10 s (no traffic at all): every interval had no queue.
    assert p.admit(now + 10.0) and not p.overloaded


def test_retry_after_grows_as_admission_shrinks_rfc3261_21_5_4() -> None:
    p = AdmissionPolicy(CFG)
    assert p.retry_after() == CFG.retry_after
    p, _ = overloaded_policy(3, delay=0.4)  # fraction 0.36
    assert p.retry_after() == 3
    p, _ = overloaded_policy(30, delay=1.0)  # at the floor: 1/0.02 = 50 s, capped
    assert p.retry_after() == CFG.max_retry_after


def test_config_from_the_environment() -> None:
    assert OverloadConfig.from_env("") == OverloadConfig()
    assert not OverloadConfig.from_env("off").enabled
    c = OverloadConfig.from_env("target_delay=0.03, retry_after=2,enabled=true")
    assert c.target_delay == 0.03 and c.retry_after == 2 and c.enabled
    with pytest.raises(ValueError, match="unknown"):
        OverloadConfig.from_env("target=1")


# -- which SIP messages may be shed -------------------------------------------------------------------

def sip(method: str, *, to_tag: str = "", cseq: int = 1, branch: str = "z9hG4bKa1", extra: str = "",
        ruri: str = "sip:bob@ims.example.net", via2: bool = False) -> bytes:
    via = f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch={branch};rport\r\n"
    if via2:
        via += "v: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKdown\r\n"
    return (f"{method} {ruri} SIP/2.0\r\n{via}Max-Forwards: 70\r\n"
            f"From: <sip:alice@ims.example.net>;tag=f1\r\n"
            f"To: <sip:bob@ims.example.net>{';tag=' + to_tag if to_tag else ''}\r\n"
            f"Call-ID: c1@10.0.0.1\r\nCSeq: {cseq} {method}\r\n{extra}Content-Length: 0\r\n\r\n").encode()


def shedding(steps: int = 30) -> tuple[SipAdmission, float]:
    """An admission at the floor (2 %): the first 49 new requests are shed."""
    policy, now = overloaded_policy(steps, delay=1.0)
    adm = SipAdmission(CFG)
    adm.policy = policy
    return adm, now


@pytest.mark.parametrize("method", ["INVITE", "REGISTER", "MESSAGE", "SUBSCRIBE", "OPTIONS", "PUBLISH"])
def test_new_initial_requests_are_shed_with_503_and_retry_after(method: str) -> None:
    adm, now = shedding()
    out = adm.check(sip(method, via2=True), now)
    assert out is not None
    resp = parse_message(out)
    assert isinstance(resp, Response) and resp.status == 503 and resp.reason == "Service Unavailable"
    assert resp.get("retry-after") == str(CFG.max_retry_after)
    # §8.2.6.2: Via (all, in order), From, Call-ID, CSeq copied; To gets a tag.
    assert [v.branch for v in resp.vias] == ["z9hG4bKa1", "z9hG4bKdown"]
    assert resp.get("from") == "<sip:alice@ims.example.net>;tag=f1"
    assert resp.to.tag and resp.call_id == "c1@10.0.0.1" and resp.get("cseq") == f"1 {method}"
    assert adm.policy.rejected == 1


@pytest.mark.parametrize("data", [
    sip("ACK", to_tag="t9"), sip("ACK"), sip("CANCEL"),
    sip("BYE", to_tag="t9"), sip("MESSAGE", to_tag="t9"), sip("INVITE", to_tag="t9"),  # in-dialog (§12.2)
    sip("NOTIFY", to_tag=" t9"),
    sip("INVITE", ruri="urn:service:sos"),  # an emergency request (TS 24.229 §5.2.10)
    sip("REGISTER", extra='Authorization: Digest username="u", realm="r", nonce="n", uri="sip:r", '
        'response="0123abcd"\r\n'),  # the answer to our challenge
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n",
    b"INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n folded\r\n\r\n",  # the full parser's case
], ids=["ack-2xx", "ack-non2xx", "cancel", "bye", "message-in-dialog", "reinvite", "notify-spaced-tag",
        "emergency", "register-with-credentials", "response", "folded"])
def test_what_completes_accepted_work_is_never_shed(data: bytes) -> None:
    adm, now = shedding()
    assert adm.check(data, now) is None
    assert adm.policy.rejected == 0


def test_an_initial_register_with_empty_credentials_is_new_work() -> None:
    adm, now = shedding()
    initial = sip("REGISTER", extra='Authorization: Digest username="u", realm="r", nonce="", uri="sip:r", '
                  'response=""\r\n')
    assert adm.check(initial, now) is not None


def test_retransmissions_of_an_admitted_transaction_pass_and_of_a_shed_one_are_shed_again() -> None:
    adm = SipAdmission(CFG)
    first = sip("INVITE", branch="z9hG4bKold")
    assert adm.check(first, 0.0) is None  # admitted before the overload began
    adm.policy, now = overloaded_policy(30, delay=1.0)
    assert adm.check(first, now) is None  # its retransmission: the transaction absorbs it
    new = sip("INVITE", branch="z9hG4bKnew", cseq=7)
    assert adm.check(new, now) is not None
    assert adm.check(new, now + 0.5) is not None  # §17.2.1: a retransmission gets the same final answer
    # An admitted transaction is remembered 64*T1 only.
    adm.policy, now = overloaded_policy(30, delay=1.0, start=CFG.remember)
    assert adm.check(first, now) is not None


def test_remembered_transactions_are_bounded() -> None:
    adm = SipAdmission(OverloadConfig(max_remembered=10, limit_initial=1000))
    for n in range(100):
        assert adm.check(sip("MESSAGE", branch=f"z9hG4bK{n}"), 0.0) is None
    assert len(adm._accepted) == 10


def test_rfc7339_feedback_for_a_client_that_asks_for_it() -> None:
    adm, now = shedding()
    data = sip("INVITE").replace(b";rport", b';rport;oc-algo="loss,rate";oc')
    resp = parse_message(adm.check(data, now) or b"")
    params = resp.top_via.params
    assert params["oc"] == "98" and params["oc-algo"] == '"loss"' and params["oc-validity"] == "500"
    assert int(params["oc-seq"]) > 0
    plain = parse_message(adm.check(sip("INVITE", branch="z9hG4bKb2"), now) or b"")
    assert "oc" not in plain.top_via.params  # no feedback to a client that did not advertise support


# -- the concurrency limit (AIMD on the latency of admitted work) on a fake clock ------------------------

LIM = OverloadConfig(limit_initial=10, limit_min=4, limit_max=12, target_latency=0.15, interval=1.0)


def keys(n: int, prefix: str = "k") -> list[bytes]:
    return [f"{prefix}{i}".encode() for i in range(n)]


def run_interval(lim: ConcurrencyLimit, now: float, n: int, latency: float, prefix: str) -> float:
    """``n`` units begun at ``now`` (an interval's start) and ended ``latency`` later, within the interval;
    then the clock at the interval's end, where a call steps the control."""
    for k in keys(n, prefix):
        assert lim.try_begin(k, now)
    for k in keys(n, prefix):
        lim.end(k, now + latency)
    now += LIM.interval
    lim.try_begin(b"tick" + prefix.encode(), now)  # any call steps the control
    lim.discard(b"tick" + prefix.encode())
    return now


def test_concurrency_limit_refuses_beyond_the_limit_and_frees_a_place_per_answer() -> None:
    lim = ConcurrencyLimit(LIM)
    assert all(lim.try_begin(k, 0.0) for k in keys(10))
    assert not lim.try_begin(b"eleventh", 0.0) and lim.rejected == 1
    assert lim.try_begin(b"k3", 0.0)  # one already in flight is not counted twice
    lim.end(b"k3", 0.01)
    assert lim.in_flight == 9 and lim.try_begin(b"eleventh", 0.01)
    lim.end(b"never-begun", 0.02)  # an answer to work not admitted here changes nothing
    assert lim.in_flight == 10 and lim.completed == 1


def test_latency_above_the_target_cuts_the_limit_in_proportion_and_not_twice_in_a_row() -> None:
    lim = ConcurrencyLimit(LIM)
    lim.try_begin(b"open", 0.0)  # opens the first interval
    lim.discard(b"open")
    now = run_interval(lim, 0.0, 8, 0.3, "a")  # median 300 ms: twice the target -> the deepest cut, 0.8
    assert lim.latency == pytest.approx(0.3) and lim.limit == pytest.approx(8.0)
    now = run_interval(lim, now, 4, 0.3, "b")  # still slow, but that cut has not had time to show
    assert lim.limit == pytest.approx(8.0)
    now = run_interval(lim, now, 4, 0.16, "c")  # just above the target: the mildest cut, 0.9
    assert lim.limit == pytest.approx(7.2)
    now = run_interval(lim, now, 3, 0.9, "too-few")  # 3 answers are too few to tell a slow chain
    now = run_interval(lim, now, 3, 0.9, "too-few2")
    assert lim.limit == pytest.approx(7.2)
    for i in range(6):
        now = run_interval(lim, now, 4, 0.9, f"d{i}")
    assert lim.limit == LIM.limit_min  # the floor: some new work always probes the chain


def test_fast_answers_grow_the_limit_additively_only_while_it_holds_work_back() -> None:
    lim = ConcurrencyLimit(LIM)
    lim.try_begin(b"open", 0.0)
    lim.discard(b"open")
    now = run_interval(lim, 0.0, 5, 0.02, "a")  # half the limit used: no reason to grow
    assert lim.limit == 10
    now = run_interval(lim, now, 10, 0.02, "b")  # the limit reached, answers quick: +1
    assert lim.limit == 11
    for i in range(5):
        now = run_interval(lim, now, int(lim.limit), 0.02, f"c{i}")
    assert lim.limit == LIM.limit_max  # the ceiling


def test_unanswered_work_is_given_up_after_64_t1_and_counts_as_late() -> None:
    lim = ConcurrencyLimit(LIM)
    assert all(lim.try_begin(k, 0.0) for k in keys(10))
    assert not lim.try_begin(b"new", 31.9)
    assert lim.try_begin(b"new", 32.0)  # every one of the ten timed out: their places are free
    assert lim.timed_out == 10 and lim.in_flight == 1
    lim.try_begin(b"later", 33.0)  # the interval with the timeouts closes: a cut
    assert lim.limit < 10


@pytest.mark.parametrize("status", [500, 503, 504, 408])
def test_work_that_failed_further_in_cuts_the_limit_however_fast_the_answer(status: int) -> None:
    # A node behind shedding answers quickly: counted as a fast completion, the edge would grow its limit
    # on the very answers that say the chain is full.
    adm = SipAdmission(OverloadConfig(limit_initial=10, interval=1.0))
    for n in range(10):
        assert adm.check(sip("MESSAGE", branch=f"z9hG4bK{n}"), 0.0) is None
    for n in range(10):
        adm.answered(f"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{n}", "1 MESSAGE", 200 if n else status, 0.01)
    adm.check(sip("MESSAGE", branch="z9hG4bKnext"), 1.0)  # the interval closes
    assert adm.limit.limit == pytest.approx(9.0)  # one drop: the mild cut, 0.9
    # The same interval with only 2xx (and the limit reached) grows it instead.
    adm = SipAdmission(OverloadConfig(limit_initial=10, interval=1.0))
    for n in range(10):
        assert adm.check(sip("MESSAGE", branch=f"z9hG4bK{n}"), 0.0) is None
    for n in range(10):
        adm.answered(f"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{n}", "1 MESSAGE", 200, 0.01)
    adm.check(sip("MESSAGE", branch="z9hG4bKnext"), 1.0)
    assert adm.limit.limit == pytest.approx(11.0)


def answer(status: int, method: str = "MESSAGE", branch: str = "z9hG4bKa1") -> bytes:
    return (f"SIP/2.0 {status} Whatever\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;rport=5060;branch={branch}\r\n"
            f"From: <sip:alice@ims.example.net>;tag=f1\r\nTo: <sip:bob@ims.example.net>;tag=t1\r\n"
            f"Call-ID: c1@10.0.0.1\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n").encode()


def test_sip_admission_sheds_initial_requests_beyond_the_work_in_flight() -> None:
    adm = SipAdmission(OverloadConfig(limit_initial=4, limit_min=4))
    assert all(adm.check(sip("MESSAGE", branch=f"z9hG4bK{n}"), 0.0) is None for n in range(4))
    shed = adm.check(sip("MESSAGE", branch="z9hG4bK4"), 0.0)
    assert shed is not None and parse_message(shed).status == 503  # type: ignore[union-attr]
    assert parse_message(shed).get("retry-after") == "1"  # type: ignore[union-attr]
    # Work already accepted still passes at the limit: in-dialog, ACK, a retransmission, credentials.
    assert adm.check(sip("BYE", to_tag="t9", branch="z9hG4bKbye"), 0.0) is None
    assert adm.check(sip("MESSAGE", branch="z9hG4bK0"), 0.1) is None
    # A final answer (as the driver sends it; Via with rport filled in) frees a place.
    adm.answered("SIP/2.0/UDP 10.0.0.1:5060;rport=5060;branch=z9hG4bK2", "1  message", 200, 0.05)
    assert adm.limit.in_flight == 3
    assert adm.check(sip("MESSAGE", branch="z9hG4bK4"), 0.06) is None


def test_only_requests_straight_from_a_ua_count_against_the_concurrency_limit() -> None:
    # One that passed a proxy (two Vias, or two values in one Via line) was admitted at the edge.
    adm = SipAdmission(OverloadConfig(limit_initial=4, limit_min=4))
    for n in range(10):
        assert adm.check(sip("MESSAGE", branch=f"z9hG4bKp{n}", via2=True), 0.0) is None
    joined = sip("MESSAGE", branch="z9hG4bKj").replace(b";rport\r\n", b";rport, SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKx\r\n")
    assert adm.check(joined, 0.0) is None
    assert adm.limit.in_flight == 0
    assert all(adm.check(sip("MESSAGE", branch=f"z9hG4bKu{n}"), 0.0) is None for n in range(4))
    assert adm.check(sip("MESSAGE", branch="z9hG4bKu4"), 0.0) is not None


def test_an_invite_is_done_at_its_first_provisional_other_than_100() -> None:
    adm = SipAdmission(OverloadConfig(limit_initial=4))
    assert adm.check(sip("INVITE", branch="z9hG4bKi"), 0.0) is None
    adm.answered("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKi", "1 INVITE", 100, 0.01)
    assert adm.limit.in_flight == 1  # 100 Trying is hop by hop (§17.2.1): the chain has not answered
    adm.answered("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKi", "1 INVITE", 180, 0.02)
    assert adm.limit.in_flight == 0  # the rest waits on a person, not on the nodes
    assert adm.check(sip("MESSAGE", branch="z9hG4bKm"), 0.03) is None
    adm.answered("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKm", "1 MESSAGE", 180, 0.04)
    assert adm.limit.in_flight == 1  # a provisional answer to a non-INVITE ends nothing


def test_answers_sent_as_bytes_end_admitted_work_and_our_503s_are_skipped() -> None:
    adm = SipAdmission(OverloadConfig(limit_initial=4))
    assert adm.check(sip("MESSAGE"), 0.0) is None
    adm.answered_bytes(b"SIP/2.0 503 Service Unavailable\r\n" + answer(503).split(b"\r\n", 1)[1], 0.01)
    assert adm.limit.in_flight == 1
    adm.answered_bytes(answer(400), 0.01)  # e.g. the 400 of a request the full parse refused
    assert adm.limit.in_flight == 0 and adm.limit.completed == 1


def test_diameter_request_limit() -> None:
    limit = RequestLimit(2)
    assert limit.try_begin() and limit.try_begin() and not limit.try_begin()
    limit.end()
    assert limit.try_begin() and limit.rejected == 1
    unbounded = RequestLimit(0)
    assert all(unbounded.try_begin() for _ in range(10000))


# -- the SIP driver over a real socket ----------------------------------------------------------------

class RecordingCore:
    def __init__(self) -> None:
        self.received: list[Request | Response] = []

    def receive(self, message: Request | Response, source: Address, now: float) -> list[Action]:
        self.received.append(message)
        return []

    def next_deadline(self) -> float | None:
        return None

    def handle_timers(self, now: float) -> list[Action]:
        return []

    def transport_error(self, dest: Address, now: float) -> list[Action]:
        return []

    def connection_lost(self, dest: Address, now: float) -> list[Action]:
        return []


@pytest.mark.timeout(10)  # the clock stands still: a missing answer fails here rather than hangs
@pytest.mark.parametrize("over_limit", [True, False])
async def test_stack_over_its_limit_answers_503_to_new_requests_and_passes_accepted_work(
        over_limit: bool, mock_clock: trio.testing.MockClock) -> None:
    # The clock stands still unless jumped (mock_clock, rate 0): the policy's intervals are ours to step.
    core = RecordingCore()
    stack = SipStack(core, host="127.0.0.1", port=0, transports=("udp",))
    adm = SipAdmission(CFG)
    stack.overload = adm
    if over_limit:
        for _ in range(30):  # a standing queue of 1 s for 3 s, two reads per interval: admission at its floor
            adm.observe(1.0, trio.current_time())
            adm.observe(1.0, trio.current_time())
            mock_clock.jump(CFG.interval)
        adm.observe(1.0, trio.current_time())
        assert adm.policy.overloaded
    async with trio.open_nursery() as nursery:
        await nursery.start(stack.run)
        client = trio.socket.socket(type=trio.socket.SOCK_DGRAM)
        await client.bind(("127.0.0.1", 0))
        await client.connect(("127.0.0.1", stack.bound["udp"]))
        answers: list[Response] = []
        for data in (sip("INVITE"), sip("REGISTER", branch="z9hG4bKr")):
            await client.send(data)
            if over_limit:
                answers.append(parse_message(await client.recv(65535)))  # type: ignore[arg-type]
        # Accepted work goes on: an in-dialog request, an ACK and a response all reach the core.
        await client.send(sip("BYE", to_tag="t9", branch="z9hG4bKbye", cseq=2))
        await client.send(sip("ACK", to_tag="t9", branch="z9hG4bKack"))
        await client.send(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKdown\r\n"
                          b"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c2\r\nCSeq: 1 INVITE\r\n"
                          b"Content-Length: 0\r\n\r\n")
        expected = 3 if over_limit else 5
        while len(core.received) < expected:  # each datagram is handled in arrival order
            await trio.lowlevel.checkpoint()  # (the mock clock stands still: this only yields to the stack)
        nursery.cancel_scope.cancel()
    seen = [m.method if isinstance(m, Request) else m.status for m in core.received]
    if over_limit:
        assert [a.status for a in answers] == [503, 503]
        assert all(a.get("retry-after") == str(CFG.max_retry_after) for a in answers)
        assert [a.cseq.method for a in answers] == ["INVITE", "REGISTER"]
        assert seen == ["BYE", "ACK", 180]
        assert stack.stats["overload_503"] == 2
    else:
        assert seen == ["INVITE", "REGISTER", "BYE", "ACK", 180]
        assert "overload_503" not in stack.stats


def test_stack_default_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMS_OVERLOAD", "off")
    assert SipStack(RecordingCore(), host="127.0.0.1", port=0).overload is None
    monkeypatch.setenv("IMS_OVERLOAD", "target_delay=0.02")
    stack = SipStack(RecordingCore(), host="127.0.0.1", port=0)
    assert stack.overload is not None and stack.overload.config.target_delay == 0.02


# -- the Diameter driver over real TCP ----------------------------------------------------------------

REALM = "ims.example.net"


async def test_diameter_node_answers_3004_too_busy_beyond_its_requests_in_progress() -> None:
    release = trio.Event()
    started = 0

    async def slow_uaa(msg: DiameterMessage, peer: PeerInfo) -> cx.UserAuthorizationAnswer:
        nonlocal started
        started += 1
        await release.wait()
        return cx.UserAuthorizationAnswer(experimental_result_code=DIAMETER_FIRST_REGISTRATION,
                                          server_name="sip:scscf.ims.example.net")

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = DiameterNode(f"hss.{REALM}", REALM, host_ip="127.0.0.1", handler=slow_uaa)
            server.admission = RequestLimit(2)
            port = await nursery.start(server.serve, "127.0.0.1", 0)
            client = DiameterNode(f"icscf.{REALM}", REALM, host_ip="127.0.0.1")
            await nursery.start(client.connect, "127.0.0.1", port)
            answers: list[Any] = []

            async def ask() -> None:
                answers.append(await client.request(cx.UserAuthorizationRequest(
                    user_name="001@ims.example.net", public_identity="sip:alice@ims.example.net",
                    visited_network_identifier=REALM)))

            for _ in range(2):
                nursery.start_soon(ask)
            while started < 2:
                await trio.sleep(0.01)
            await ask()  # the third while two are in progress: refused at once, not queued
            busy = answers[0]
            assert busy.result_code == DIAMETER_TOO_BUSY and busy.error  # RFC 6733 §7.1.3: E bit
            assert server.stats["too_busy"] == 1 and started == 2
            release.set()
            while len(answers) < 3:
                await trio.sleep(0.01)
            assert [cx.UserAuthorizationAnswer.from_message(a).experimental_result_code for a in answers[1:]] \
                == [DIAMETER_FIRST_REGISTRATION] * 2
            assert server.admission.in_progress == 0  # every admitted request released its place
            await ask()  # and with room again, a request is served
            assert cx.UserAuthorizationAnswer.from_message(answers[3]).experimental_result_code \
                == DIAMETER_FIRST_REGISTRATION
            nursery.cancel_scope.cancel()


# -- the CSCF driver's Cx queries in progress ---------------------------------------------------------

class _CxApp:
    """Just enough of a CscfApp for the runner: no timers, no SIP."""

    def receive(self, *a: Any) -> list[Any]:
        return []

    def next_deadline(self) -> None:
        return None

    def handle_timers(self, now: float) -> list[Any]:
        return []


async def test_cscf_cx_queries_in_progress_are_bounded_and_the_one_beyond_fails_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ims.cscf.common import CxQuery
    from ims.net.cscf import CscfRunner

    monkeypatch.setenv("IMS_OVERLOAD", "diameter_in_progress=2")
    runner = CscfRunner(_CxApp(), host="127.0.0.1", port=0)  # type: ignore[arg-type]
    answers: list[Any] = []
    async with trio.open_nursery() as nursery:
        runner.stack._nursery = nursery  # the failed query's answer is delivered in a task of the stack's
        for n in range(3):
            runner._submit(CxQuery(request=n, on_answer=lambda a, now: answers.append(a) or []))  # type: ignore[arg-type]
        assert runner.cx_in_flight == 2 and runner.cx_failures == 1  # two queued for the HSS, the third refused
    assert answers == [None]  # the app answers it as for an HSS that does not answer, at once
