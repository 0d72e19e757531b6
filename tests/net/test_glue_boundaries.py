"""Error boundaries of the UE and CSCF drivers (issue 13): what one event, delayed answer, registration
attempt or Cx answer raises is logged and counted in ``internal_errors``, and the handset or CSCF goes on."""

from __future__ import annotations

from typing import Any

import pytest
import trio

from ims.cscf.common import CxQuery
from ims.net import boundary
from ims.net import cscf as cscf_mod
from ims.net import ue as ue_mod
from ims.net.cscf import CscfRunner
from ims.net.ue import CallRecord, Handset
from ims.sip.events import Address
from ims.ue.handset import ImsHandset, Subscription

DOMAIN = "ims.example.net"


def _count(place: str) -> int:
    return boundary.internal_errors_by_place().get(place, 0)


def _handset() -> Handset:
    sub = Subscription(f"001@{DOMAIN}", f"sip:alice@{DOMAIN}", DOMAIN, k=bytes(16), opc=bytes(16))
    return Handset("alice", ImsHandset(sub, Address("127.0.9.92", 5060), Address("127.0.9.93", 5060)))


async def test_a_delayed_auto_answer_that_fails_never_ends_the_handset(monkeypatch: pytest.MonkeyPatch) -> None:
    h = _handset()
    h.calls["c1"] = CallRecord("c1", "uas", "sip:bob@x", "ringing", 0.0)

    async def answer(call_id: str = "") -> None:
        raise RuntimeError("answer bug")

    monkeypatch.setattr(h, "answer", answer)
    before = _count("ue.answer")
    await h._answer_later("c1", 0.0)
    assert _count("ue.answer") == before + 1


async def test_one_event_failing_is_counted_and_the_next_event_is_handled(monkeypatch: pytest.MonkeyPatch) -> None:
    h = _handset()
    handled: list[str] = []

    async def on_event(ev: Any) -> None:
        handled.append(ev)
        if ev == "bad":
            raise KeyError("event bug")

    monkeypatch.setattr(h, "_on_event", on_event)
    before = _count("ue.event")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(h._events)
        for ev in ("bad", "good"):
            await h.stack.events_send.send(ev)
        with trio.fail_after(5):
            while handled != ["bad", "good"]:
                await h._changed.wait()  # set after each event is handled
        nursery.cancel_scope.cancel()
    assert _count("ue.event") == before + 1


async def test_a_registration_attempt_raising_is_retried_like_a_failed_one(
        monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock) -> None:
    h = _handset()
    attempts: list[float] = []

    async def register(expires: int = 600000, timeout: float = 10.0) -> int:
        attempts.append(trio.current_time())
        if len(attempts) == 1:
            raise RuntimeError("core bug on REGISTER")
        return 200

    monkeypatch.setattr(h, "register", register)
    before = _count("ue.register")
    await ue_mod.keep_registered(h)
    assert len(attempts) == 2 and attempts[1] - attempts[0] == pytest.approx(1.0)  # the usual back-off
    assert _count("ue.register") == before + 1


class _App:
    """Just enough of a CscfApp for the runner: no timers, no SIP."""

    def receive(self, *a: Any) -> list[Any]:
        return []

    def next_deadline(self) -> None:
        return None

    def handle_timers(self, now: float) -> list[Any]:
        return []

    def transport_error(self, *a: Any) -> list[Any]:
        return []

    def connection_lost(self, *a: Any) -> list[Any]:
        return []


class _Diameter:
    async def request(self, request: Any) -> str:
        return "an answer the Cx parser chokes on"


async def test_an_unreadable_cx_answer_fails_that_query_only(monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CscfRunner(_App(), host="127.0.9.94", port=0)  # type: ignore[arg-type]
    runner.diameter = _Diameter()  # type: ignore[assignment]

    def parse(msg: Any) -> Any:
        raise IndexError("Cx parser bug")

    monkeypatch.setattr(cscf_mod.cx, "parse", parse)
    answers: list[Any] = []
    before = _count("diameter.cx")
    await runner._ask(CxQuery(request=object(), on_answer=lambda a, now: answers.append(a) or []))  # type: ignore[arg-type]
    assert answers == [None] and runner.cx_failures == 1  # the app fails the query as with no answer
    assert _count("diameter.cx") == before + 1


async def test_the_app_failing_on_a_cx_answer_is_counted() -> None:
    runner = CscfRunner(_App(), host="127.0.9.94", port=0)  # type: ignore[arg-type]

    def on_answer(answer: Any, now: float) -> list[Any]:
        raise ValueError("app bug")

    before = _count("cscf.cx")
    await runner._finish(CxQuery(request=object(), on_answer=on_answer), None)  # type: ignore[arg-type]
    assert _count("cscf.cx") == before + 1
