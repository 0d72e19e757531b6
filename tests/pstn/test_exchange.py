"""The PSTN exchange's call control (ims.isup.exchange): Q.764 basic call flows on a fake clock.

Every message the exchange sends goes through the ISUP codec (``encode`` then
``decode``) so the tests also prove it is encodable.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ims.isup import IsupMessage, MessageType, decode, encode
from ims.isup import acm, anm, con, cpg, iam, rel, rlc, sam, sus
from ims.isup.exchange import (
    Action, CallChanged, Exchange, ExchangeConfig, ExchangeError, Line, SendIsup, StartMedia, StopMedia,
    e164_digits,
)
from ims.topology import load

ROOT = Path(__file__).resolve().parents[2]
T0 = 1000.0
ANSWER, BUSY, NO_ANSWER, UNALLOCATED = "12125550100", "12125550186", "12125550199", "12125550000"


def config(**kw: object) -> ExchangeConfig:
    base: dict[str, object] = dict(
        point_code=200, peer_point_code=100, circuits=8, country_code="1", local_host="127.0.8.80",
        trunk_base=32000, mgw_host="127.0.8.70", mgw_trunk_base=31000,
        lines=(Line(ANSWER, "answer", 2.0, "tone:425"), Line(BUSY, "busy"), Line(NO_ANSWER, "no_answer", 5.0),
               Line(UNALLOCATED, "unallocated"), Line("441632960000", "answer", 0.0, "silence")))
    base.update(kw)
    return ExchangeConfig(**base)  # type: ignore[arg-type]


def sent(actions: list[Action]) -> list[IsupMessage]:
    """The ISUP messages among ``actions``, as they come out of the codec at the other end."""
    return [decode(encode(a.msg)) for a in actions if isinstance(a, SendIsup)]


def types(actions: list[Action]) -> list[str]:
    return [m.type.name for m in sent(actions)]


def cause_of(msg: IsupMessage) -> int:
    return int(msg.params["cause"].value)


def incoming(ex: Exchange, cic: int, called: str, *, nature: int = 4, now: float = T0,
             calling: str = "15550001") -> list[Action]:
    return ex.receive_isup(decode(encode(iam(cic, called, calling, nature=nature))), now)


# --- incoming calls (IAM from the MGCF) ------------------------------------------------------------

def test_incoming_answer_acm_at_once_anm_after_answer_after_then_media_q764_2_1() -> None:
    ex = Exchange(config())
    actions = incoming(ex, 3, ANSWER)
    [msg] = sent(actions)
    assert msg.type == MessageType.ACM and msg.cic == 3
    assert msg.params["backward_call_indicators"].called_party_status == 1  # subscriber free
    call = ex.call_on(3)
    assert call is not None and call.state == "alerting" and call.direction == "in"
    assert call.calling == "15550001" and call.called == ANSWER
    assert CallChanged(3) in actions
    assert ex.next_deadline() == T0 + 2.0
    assert ex.handle_timers(T0 + 1.9) == []
    actions = ex.handle_timers(T0 + 2.0)
    assert types(actions) == ["ANM"]
    assert StartMedia(3, 32004, "127.0.8.70", 31004, "tone:425") in actions
    assert call.state == "answered" and ex.next_deadline() is None
    # the MGCF clears: RLC at once, media stops, the circuit is idle
    actions = ex.receive_isup(rel(3, 16), T0 + 10)
    assert types(actions) == ["RLC"] and StopMedia(3) in actions
    assert call.state == "released" and call.cause == 16 and ex.call_on(3) is None
    assert [h.split(" ", 1)[1] for h in call.history] == ["IAM", "ACM", "ANM", "REL cause 16", "RLC"]
    assert call.history[2].startswith("2000ms")


def test_national_called_number_gets_the_lab_country_code() -> None:
    ex = Exchange(config())
    assert types(incoming(ex, 1, "2125550100", nature=3)) == ["ACM"]  # national (significant) number
    assert ex.call_on(1).called == ANSWER  # type: ignore[union-attr]


def test_busy_line_rel_cause_17_and_rlc_idles_the_circuit() -> None:
    ex = Exchange(config())
    [msg] = sent(incoming(ex, 5, BUSY))
    assert msg.type == MessageType.REL and cause_of(msg) == 17
    call = ex.call_on(5)
    assert call is not None and call.state == "releasing" and call.cause == 17
    actions = ex.receive_isup(rlc(5), T0 + 0.1)
    assert sent(actions) == [] and call.state == "released" and ex.call_on(5) is None
    assert ex.counters["rejected"] == 1


def test_no_answer_line_rings_answer_after_seconds_then_rel_cause_19() -> None:
    ex = Exchange(config())
    assert types(incoming(ex, 2, NO_ANSWER)) == ["ACM"]
    assert ex.next_deadline() == T0 + 5.0
    [msg] = sent(ex.handle_timers(T0 + 5.0))
    assert msg.type == MessageType.REL and cause_of(msg) == 19
    assert ex.call_on(2).state == "releasing"  # type: ignore[union-attr]
    ex.receive_isup(rlc(2), T0 + 5.1)
    assert ex.call_on(2) is None and ex.latest(2).cause == 19  # type: ignore[union-attr]


@pytest.mark.parametrize("number", [UNALLOCATED, "19995550123"])
def test_unallocated_or_unknown_number_rel_cause_1(number: str) -> None:
    ex = Exchange(config())
    [msg] = sent(incoming(ex, 4, number))
    assert msg.type == MessageType.REL and cause_of(msg) == 1


def test_answer_after_zero_answers_on_the_next_timer_pass_with_the_line_source() -> None:
    ex = Exchange(config())
    incoming(ex, 6, "441632960000")
    assert ex.next_deadline() == T0
    actions = ex.handle_timers(T0)
    assert types(actions) == ["ANM"] and StartMedia(6, 32010, "127.0.8.70", 31010, "silence") in actions


def test_sam_digits_are_appended_before_the_lookup_overlap_receiving() -> None:
    ex = Exchange(config())
    assert sent(incoming(ex, 1, "121255")) == []  # a prefix of some lines: wait for more digits
    assert ex.call_on(1).state == "iam_received"  # type: ignore[union-attr]
    assert sent(ex.receive_isup(sam(1, "501"), T0 + 1)) == []
    assert types(ex.receive_isup(sam(1, "00F"), T0 + 2)) == ["ACM"]  # ST: the address is complete
    assert ex.call_on(1).called == ANSWER  # type: ignore[union-attr]
    assert ex.counters["unexpected"] == 0
    ex.receive_isup(sam(1, "7"), T0 + 3)  # Q.764: a SAM after the address is complete is discarded
    assert ex.counters["unexpected"] == 1


def test_incomplete_address_released_with_cause_28_when_no_sam_comes() -> None:
    ex = Exchange(config(t_digits=15.0))
    incoming(ex, 1, "1212")
    assert ex.next_deadline() == T0 + 15.0
    [msg] = sent(ex.handle_timers(T0 + 15.0))
    assert msg.type == MessageType.REL and cause_of(msg) == 28


def test_complete_address_st_is_looked_up_at_once() -> None:
    ex = Exchange(config())
    [msg] = sent(incoming(ex, 1, "1212F"))  # ST after a prefix: no waiting, no such line
    assert msg.type == MessageType.REL and cause_of(msg) == 1


# --- outgoing calls (Call over gRPC) ----------------------------------------------------------------

def test_outgoing_iam_parameters_even_cic_and_answer_q764_2_1() -> None:
    ex = Exchange(config())
    cic, actions = ex.originate(ANSWER, "tel:+15550001", T0)
    assert cic % 2 == 0 and ex.controls(cic)
    [msg] = sent(actions)
    p = msg.params
    assert msg.type == MessageType.IAM and msg.cic == cic
    assert p["called_party_number"].digits == "15550001F" and p["called_party_number"].nature_of_address == 4
    cg = p["calling_party_number"]
    assert (cg.digits, cg.nature_of_address, cg.presentation) == (ANSWER, 4, 0)
    assert p["calling_party_category"] == 10 and p["transmission_medium_requirement"] == 3
    assert p["forward_call_indicators"].isdn_access is False
    call = ex.call_on(cic)
    assert call is not None and call.state == "iam_sent" and call.direction == "out"
    assert ex.receive_isup(acm(cic), T0 + 0.1) == [CallChanged(cic)] and call.state == "alerting"
    actions = ex.receive_isup(anm(cic), T0 + 3)
    assert call.state == "answered" and sent(actions) == []
    assert StartMedia(cic, 32000 + 2 * (cic - 1), "127.0.8.70", 31000 + 2 * (cic - 1), "tone:425") in actions
    # our line hangs up: REL 16, media stops, RLC idles the circuit
    actions = ex.hangup(cic, T0 + 8)
    [msg] = sent(actions)
    assert msg.type == MessageType.REL and cause_of(msg) == 16 and StopMedia(cic) in actions
    assert call.state == "releasing" and ex.hangup(cic, T0 + 8.5) == []
    ex.receive_isup(rlc(cic), T0 + 9)
    assert call.state == "released" and call.cause == 16 and ex.call_on(cic) is None
    assert [h.split(" ", 1)[1] for h in call.history] == ["IAM", "ACM", "ANM", "REL cause 16", "RLC"]


def test_outgoing_rejected_by_the_mgcf_rlc_back_with_the_cause() -> None:
    ex = Exchange(config())
    cic, _ = ex.originate("+12125550100", "15550002", T0)
    actions = ex.receive_isup(rel(cic, 17), T0 + 0.2)
    assert types(actions) == ["RLC"]
    call = ex.latest(cic)
    assert call is not None and call.state == "released" and call.cause == 17 and ex.call_on(cic) is None


def test_outgoing_cpg_alerting_and_con_answer() -> None:
    ex = Exchange(config())
    cic, _ = ex.originate(ANSWER, "15550001", T0)
    ex.receive_isup(cpg(cic, 1), T0 + 0.1)
    assert ex.call_on(cic).state == "alerting"  # type: ignore[union-attr]
    cic2, _ = ex.originate(ANSWER, "15550002", T0)
    actions = ex.receive_isup(con(cic2), T0 + 0.5)
    call = ex.call_on(cic2)
    assert call is not None and call.state == "answered" and any(isinstance(a, StartMedia) for a in actions)


def test_the_mgcf_clears_an_answered_outgoing_call() -> None:
    ex = Exchange(config())
    cic, _ = ex.originate(ANSWER, "15550001", T0)
    ex.receive_isup(acm(cic), T0)
    ex.receive_isup(anm(cic), T0 + 1)
    actions = ex.receive_isup(rel(cic, 16), T0 + 5)
    assert types(actions) == ["RLC"] and StopMedia(cic) in actions
    assert ex.latest(cic).cause == 16 and ex.call_on(cic) is None  # type: ignore[union-attr]


def test_no_acm_within_t7_releases_with_cause_102() -> None:
    ex = Exchange(config(t_acm=30.0))
    cic, _ = ex.originate(ANSWER, "15550001", T0)
    [msg] = sent(ex.handle_timers(T0 + 30))
    assert msg.type == MessageType.REL and cause_of(msg) == 102


def test_originate_refusals() -> None:
    ex = Exchange(config())
    with pytest.raises(ExchangeError, match="not a line"):
        ex.originate("15550009", "15550001", T0)
    with pytest.raises(ExchangeError, match="not an E.164"):
        ex.originate(ANSWER, "sip:bob@example.org", T0)
    with pytest.raises(ExchangeError, match="no call on CIC 3"):
        ex.hangup(3, T0)


# --- circuit selection and dual seizure (Q.764 §2.10.1.4) ---------------------------------------------

def test_the_higher_point_code_takes_even_circuits_round_robin_until_none_is_left() -> None:
    ex = Exchange(config(circuits=8))
    cics = [ex.originate(ANSWER, "15550001", T0)[0] for _ in range(4)]
    assert cics == [2, 4, 6, 8]
    with pytest.raises(ExchangeError) as err:
        ex.originate(ANSWER, "15550001", T0)
    assert err.value.cause == 34  # no circuit/channel available
    ex.receive_isup(rel(4, 16), T0 + 1)
    assert ex.originate(ANSWER, "15550001", T0 + 2)[0] == 4
    # odd circuits stay free for the MGCF's calls
    assert types(incoming(ex, 1, ANSWER)) == ["ACM"]


def test_the_lower_point_code_takes_odd_circuits() -> None:
    ex = Exchange(config(point_code=50))
    assert [ex.originate(ANSWER, "15550001", T0)[0] for _ in range(2)] == [1, 3]


def test_dual_seizure_on_our_circuit_disregards_the_peers_iam() -> None:
    ex = Exchange(config())
    cic, _ = ex.originate(ANSWER, "15550001", T0)
    assert incoming(ex, cic, ANSWER) == []
    call = ex.call_on(cic)
    assert call is not None and call.direction == "out" and call.state == "iam_sent"
    assert ex.counters["dual_seizures"] == 1
    ex.receive_isup(acm(cic), T0 + 0.1)  # our call goes on
    assert call.state == "alerting"


def test_iam_on_a_circuit_busy_with_an_incoming_call_clears_it_and_refuses_with_cause_44() -> None:
    ex = Exchange(config())
    incoming(ex, 3, ANSWER)
    ex.handle_timers(T0 + 2)
    old = ex.call_on(3)
    actions = incoming(ex, 3, ANSWER, now=T0 + 4)
    [msg] = sent(actions)
    assert msg.type == MessageType.REL and cause_of(msg) == 44 and StopMedia(3) in actions
    assert old is not None and old.state == "released" and old.cause == 44
    new = ex.call_on(3)
    assert new is not None and new is not old and new.state == "releasing"
    ex.receive_isup(rlc(3), T0 + 4.1)
    assert ex.call_on(3) is None


# --- release -------------------------------------------------------------------------------------------

def test_rel_crossing_our_rel_is_answered_with_rlc_and_the_circuit_is_idle() -> None:
    ex = Exchange(config())
    cic, _ = ex.originate(ANSWER, "15550001", T0)
    ex.receive_isup(acm(cic), T0)
    ex.receive_isup(anm(cic), T0 + 1)
    ex.hangup(cic, T0 + 5)
    actions = ex.receive_isup(rel(cic, 16), T0 + 5.01)  # the MGCF cleared at the same moment
    assert types(actions) == ["RLC"]
    call = ex.latest(cic)
    assert call is not None and call.state == "released" and ex.call_on(cic) is None
    assert ex.counters["release_collisions"] == 1
    assert ex.receive_isup(rlc(cic), T0 + 5.02) == []  # the RLC for our REL meets an idle circuit: discarded
    assert ex.next_deadline() is None


def test_no_rlc_the_guard_timer_idles_the_circuit_after_10_s() -> None:
    ex = Exchange(config())
    incoming(ex, 7, BUSY)
    assert ex.next_deadline() == T0 + 10.0
    assert ex.handle_timers(T0 + 9.9) == []
    actions = ex.handle_timers(T0 + 10.0)
    assert sent(actions) == [] and CallChanged(7) in actions
    assert ex.call_on(7) is None and ex.latest(7).state == "released"  # type: ignore[union-attr]
    assert ex.counters["t_release_expired"] == 1
    assert "guard timer" in ex.latest(7).history[-1]  # type: ignore[union-attr]


def test_rel_on_an_idle_circuit_gets_rlc_rlc_on_an_idle_one_is_discarded() -> None:
    ex = Exchange(config())
    assert types(ex.receive_isup(rel(5, 31), T0)) == ["RLC"]
    assert ex.receive_isup(rlc(5), T0) == []
    assert ex.latest() is None


def test_unexpected_messages_are_counted_never_raised() -> None:
    ex = Exchange(config())
    assert ex.receive_isup(anm(1), T0) == []  # ANM on an idle circuit
    assert ex.receive_isup(acm(0), T0) == [] and ex.receive_isup(acm(9), T0) == []  # unequipped CICs
    assert ex.counters["unequipped_cic"] == 2 and ex.counters["unexpected"] == 1
    incoming(ex, 1, ANSWER)
    assert ex.receive_isup(acm(1), T0) == []  # ACM for a call we receive: not ours to get
    assert ex.receive_isup(sus(1), T0) == []  # SUS before answer
    assert ex.counters["unexpected"] == 3
    assert ex.receive_isup(IsupMessage(MessageType.IAM, 2, {}), T0) != []  # no called number: REL 28


def test_rlc_while_a_call_is_up_clears_it_locally() -> None:
    ex = Exchange(config())
    incoming(ex, 1, ANSWER)
    ex.handle_timers(T0 + 2)
    actions = ex.receive_isup(rlc(1), T0 + 3)
    assert StopMedia(1) in actions and ex.call_on(1) is None and ex.latest(1).cause == 111  # type: ignore[union-attr]


def test_finished_calls_are_pruned_to_history_size() -> None:
    ex = Exchange(config(history_size=5))
    for i in range(10):
        incoming(ex, 1, BUSY, now=T0 + i)
        ex.receive_isup(rlc(1), T0 + i)
    assert len(ex.records) == 5


_TYPES = [MessageType.IAM, MessageType.SAM, MessageType.ACM, MessageType.CPG, MessageType.ANM, MessageType.CON,
          MessageType.REL, MessageType.RLC, MessageType.SUS, MessageType.RES]


def _message(kind: MessageType, cic: int, number: str) -> IsupMessage:
    return {MessageType.IAM: lambda: iam(cic, number, "15550001"), MessageType.SAM: lambda: sam(cic, "0"),
            MessageType.ACM: lambda: acm(cic), MessageType.CPG: lambda: cpg(cic, 1), MessageType.ANM: lambda: anm(cic),
            MessageType.CON: lambda: con(cic), MessageType.REL: lambda: rel(cic, 16), MessageType.RLC: lambda: rlc(cic),
            MessageType.SUS: lambda: sus(cic),
            MessageType.RES: lambda: IsupMessage(MessageType.RES, cic, {"suspend_resume_indicator": 0})}[kind]()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_TYPES + ["call", "hangup", "tick"]), st.integers(0, 5),
                          st.sampled_from([ANSWER, BUSY, NO_ANSWER, UNALLOCATED, "1212", "44"])), max_size=40))
def test_any_sequence_of_messages_and_requests_keeps_the_circuits_consistent(steps: list[tuple[object, int, str]]
                                                                              ) -> None:
    ex = Exchange(config(circuits=4))
    now = T0
    media: set[int] = set()
    for kind, cic, number in steps:
        now += 0.7
        if kind == "call":
            try:
                ex.originate(ANSWER, number, now)
            except ExchangeError:
                pass
            actions: list[Action] = []
        elif kind == "hangup":
            try:
                actions = ex.hangup(cic, now)
            except ExchangeError:
                actions = []
        elif kind == "tick":
            actions = ex.handle_timers(now + 20)
            now += 20
        else:
            actions = ex.receive_isup(_message(kind, cic, number), now)  # type: ignore[arg-type]
        for a in actions:
            if isinstance(a, StartMedia):
                assert a.cic not in media
                media.add(a.cic)
            elif isinstance(a, StopMedia):
                media.remove(a.cic)
            elif isinstance(a, SendIsup):
                decode(encode(a.msg))
        for cic_, call in ex.active.items():
            assert call.cic == cic_ and call.state not in ("idle", "released")
        assert media == {c for c, call in ex.active.items() if call.state == "answered"}


# --- configuration ------------------------------------------------------------------------------------

def test_config_from_the_volte_pstn_lab() -> None:
    topo = load(ROOT / "topologies" / "volte-pstn.toml")
    cfg = ExchangeConfig.from_topology(topo, "pstn", base_dir=ROOT / "topologies")
    assert (cfg.point_code, cfg.peer_point_code, cfg.circuits, cfg.country_code) == (200, 100, 32, "1")
    assert (cfg.local_host, cfg.trunk_base, cfg.mgw_host, cfg.mgw_trunk_base) == \
        ("127.0.1.80", 34000, "127.0.1.70", 31000)
    lines = {x.number: x for x in cfg.lines}
    assert lines["12125550100"] == Line("12125550100", "answer", 2.0, "tone:425")
    assert lines["12125550186"].behaviour == "busy"
    assert Exchange(cfg).controls(2) and not Exchange(cfg).controls(1)


def test_e164_digits() -> None:
    assert e164_digits("tel:+1-212-555-0100;phone-context=x") == "12125550100"
    assert e164_digits(" +4416 32960000 ") == "441632960000"
    with pytest.raises(ValueError):
        e164_digits("1" * 16)

