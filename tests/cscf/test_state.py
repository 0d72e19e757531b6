"""Registrations written through to SQLite and reloaded (issue 13 item 7; Kamailio usrloc DB modes).

The store on its own (atomic batches, wall-clock expiry, unreadable rows), then the sans-IO IMS core of
``tests.cscf.lab`` with the S-CSCF or the P-CSCF replaced by a fresh object rebuilt from the state file -
what a SIGKILL and a restart do to the process - on a fake clock.
"""

from __future__ import annotations

from pathlib import Path

from ims.cscf.pcscf import Pcscf
from ims.cscf.scscf import Scscf
from ims.cscf.store import Forget, Persist, StateStore
from ims.sip.events import Address, SendMessage
from ims.sip.message import parse_message
from ims.sip.uacore import IncomingCall, MessageReceived
from ims.sip.uri import parse_uri
from ims.ue.handset import Deregistered
from tests.cscf.lab import Lab

ALICE = "sip:alice@ims.mnc001.mcc001.3gppnetwork.org"
BOB = "sip:bob@ims.mnc001.mcc001.3gppnetwork.org"
WALL = 1_800_000_000.0  # wall clock at lab.now == 0


# -- the store ------------------------------------------------------------------------------
def test_store_batches_upsert_forget_and_reload(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    store.apply([Persist("user", "a", {"n": 1}, WALL + 60), Persist("user", "b", {"n": 2}, None)])
    store.apply([Persist("user", "a", {"n": 3}, WALL + 60), Forget("user", "b"), Forget("user", "never")])
    store.close()
    again = StateStore(tmp_path / "s.sqlite")  # another process opening the file after a kill
    rows = again.load(WALL)
    assert [(r.kind, r.key, r.record) for r in rows] == [("user", "a", {"n": 3})]
    assert again.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_store_drops_what_expired_in_wall_clock_time(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    store.apply([Persist("reg", "old", {}, WALL + 10), Persist("reg", "new", {}, WALL + 1000),
                 Persist("contact", "forever", {}, None)])
    assert sorted(r.key for r in store.load(WALL + 500)) == ["forever", "new"]
    # and the expired row is gone from the file, not just skipped
    assert store.conn.execute("SELECT count(*) FROM state").fetchone()[0] == 2


def test_store_skips_a_row_that_is_not_json(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s.sqlite")
    store.apply([Persist("user", "good", {"x": 1})])
    store.conn.execute("INSERT INTO state (kind, key, record) VALUES ('user', 'bad', '{not json')")
    assert [r.key for r in store.load(WALL)] == ["good"]


def test_store_write_error_is_typed(tmp_path: Path) -> None:
    import pytest

    from ims.cscf.store import StateStoreError

    store = StateStore(tmp_path / "s.sqlite")
    store.conn.execute("PRAGMA query_only = ON")  # every write fails, as on a full or read-only disk
    with pytest.raises(StateStoreError):
        store.apply([Persist("user", "a", {})])
    with pytest.raises(StateStoreError):
        StateStore(tmp_path)  # a directory, not a file


# -- the cores: a restart is a new object rebuilt from the file --------------------------------
def _persisting(lab: Lab) -> None:
    for app in (lab.pcscf, lab.scscf):
        app.persisting = True
        app.wall_offset = WALL


def _flush(lab: Lab, store: StateStore, app: Scscf | Pcscf) -> None:
    store.apply(app.take_changes(lab.now))
    assert app.pending_changes() == 0


def _restart(lab: Lab, store: StateStore, name: str, pause: float = 0.0) -> Scscf | Pcscf:
    """The node dies (its memory is gone) and a new one loads the state file ``pause`` seconds later."""
    old = getattr(lab, name)
    new = type(old)(old.config)
    new.submit = lambda q, a=new: lab.queries.append((a, q))
    lab.now += pause
    new.wall_offset = WALL  # the fake clocks keep their relation; the pause moved both
    new.persisting = True
    actions = new.restore(store.load(WALL + lab.now), lab.now)
    setattr(lab, name, new)
    lab.add(name, Address(old.config.host, old.config.port), new)
    lab.run(actions, new)
    return new


def _registered_pair(tmp_path: Path) -> tuple[Lab, object, object, StateStore]:
    lab = Lab(tmp_path)
    _persisting(lab)
    alice, bob = lab.handset("alice", 5060), lab.handset("bob", 5062)
    lab.run(alice.ims_register(lab.now), alice)
    lab.run(bob.ims_register(lab.now), bob)
    assert alice.registered and bob.registered
    return lab, alice, bob, StateStore(tmp_path / "state.sqlite")


def test_scscf_restart_keeps_bindings_profile_and_reg_subscriptions(tmp_path: Path) -> None:
    lab, alice, bob, store = _registered_pair(tmp_path)
    _flush(lab, store, lab.scscf)
    before = lab.scscf.users[ALICE]
    sars = lab.cx_log.count("ServerAssignmentRequest")
    scscf = _restart(lab, store, "scscf")
    after = scscf.users[ALICE]
    assert scscf.registrations() == 2 and scscf.users["tel:+15550001"] is after
    assert [str(b.uri) for b in after.bindings.values()] == [str(b.uri) for b in before.bindings.values()]
    assert [b.path for b in after.bindings.values()] == [("<sip:term@127.0.1.40:5060;lr>",)]
    assert after.version == before.version and len(after.subscriptions) == 2  # the UE's and the P-CSCF's
    # a call to bob is routed on the restored binding: no new SAR, no re-registration
    _, actions = alice.call(parse_uri(BOB), lab.now, sdp=b"v=0\r\n")
    lab.run(actions, alice)
    assert len(lab.of("bob", IncomingCall)) == 1
    assert lab.cx_log.count("ServerAssignmentRequest") == sars
    # a re-REGISTER is a RE_REGISTRATION with the profile already here (TS 29.228 §6.1.2)
    from ims.diameter import cx

    seen: list[cx.ServerAssignmentRequest] = []
    submit = scscf.submit
    scscf.submit = lambda q: (seen.append(q.request), submit(q))  # type: ignore[func-returns-value]
    lab.run(alice.ims_register(lab.now), alice)
    sar = next(r for r in seen if isinstance(r, cx.ServerAssignmentRequest))
    assert sar.server_assignment_type == 2 and sar.user_data_already_available == 1  # RE_REGISTRATION
    # the reg-event dialog to the handset goes on: bob's NOTIFY after his deregistration is in it
    lab.run(bob.ims_deregister(lab.now), bob)
    assert lab.of("bob", Deregistered)


def test_scscf_restart_after_the_registrations_expired_keeps_none(tmp_path: Path) -> None:
    lab, _, _, store = _registered_pair(tmp_path)
    _flush(lab, store, lab.scscf)
    scscf = _restart(lab, store, "scscf", pause=4000.0)  # longer than the 3600 s registrations
    assert scscf.registrations() == 0 and not scscf.users


def test_scscf_expiry_timer_armed_again_after_restart(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    _persisting(lab)
    alice = lab.handset("alice", 5060)
    lab.run(alice.ims_register(lab.now, expires=60), alice)
    alice._refresh_at = None  # this handset forgets to re-register
    store = StateStore(tmp_path / "state.sqlite")
    _flush(lab, store, lab.scscf)
    scscf = _restart(lab, store, "scscf", pause=10.0)
    assert scscf.registrations() == 1
    lab.advance(55, step=1.0)
    assert scscf.registrations() == 0  # timed out at 60 s, as without the restart
    assert lab.of("alice", Deregistered)[0].by_network
    _flush(lab, store, scscf)
    assert store.load(WALL + lab.now) == []


def test_scscf_deregistration_forgets_the_record(tmp_path: Path) -> None:
    lab, alice, _, store = _registered_pair(tmp_path)
    _flush(lab, store, lab.scscf)
    lab.run(alice.ims_deregister(lab.now), alice)
    _flush(lab, store, lab.scscf)
    assert [r.record["impi"].split("@")[0] for r in store.load(WALL + lab.now)] == ["001010000000002"]


def test_pcscf_restart_keeps_registrations_assertion_and_security_agreement(tmp_path: Path) -> None:
    lab, alice, _, store = _registered_pair(tmp_path)
    _flush(lab, store, lab.pcscf)
    old_sa, old_offered = dict(lab.pcscf.security.agreements), dict(lab.pcscf._offered)
    pcscf = _restart(lab, store, "pcscf")
    assert set(pcscf.registrations) == {("127.0.1.100", 5060), ("127.0.1.100", 5062)}
    def text(sa: dict) -> dict:  # type: ignore[type-arg]
        return {ue: (str(c), str(srv), ck, ik) for ue, (c, srv, ck, ik) in sa.items()}

    assert len(old_sa) == 2 and text(pcscf.security.agreements) == text(old_sa) and pcscf._offered == old_offered
    reg = pcscf.registrations[("127.0.1.100", 5060)][ALICE]
    assert reg.service_route == ["<sip:orig@127.0.1.30:5060;lr>"] and reg.subscription is not None
    assert reg.security_server == alice.security_server
    # a MESSAGE from alice is still asserted as alice and follows her Service-Route
    _, actions = alice.message(parse_uri(BOB), "after the restart", lab.now)
    lab.run(actions, alice)
    got = lab.of("bob", MessageReceived)
    assert got and str(got[0].request.p_asserted_identity[0].uri) == ALICE
    # requests protected with the agreement made before the restart pass Security-Verify (no 494)
    _, actions = alice.call(parse_uri(BOB), lab.now)
    inv = next(a.message for a in actions if isinstance(a, SendMessage))
    inv.set("Security-Verify", alice.security_server or "")
    out = pcscf.receive(parse_message(inv.to_bytes()), Address("127.0.1.100", 5060), lab.now)
    assert 494 not in [getattr(a.message, "status", 0) for a in out if isinstance(a, SendMessage)]
    # the reg-event dialog was restored: a network deregistration still reaches the P-CSCF
    rtr = lab.hss.build_rtr(BOB, 0, "")
    _, actions = lab.scscf.on_rtr(rtr.request, lab.now)
    lab.run(actions, lab.scscf)
    assert ("127.0.1.100", 5062) not in pcscf.registrations


def test_pcscf_restart_resubscribes_when_the_subscribe_was_in_flight(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    _persisting(lab)
    alice = lab.handset("alice", 5060)
    lab.drop = lambda data: data.startswith(b"SUBSCRIBE ") and b"From: <sip:pcscf@" in data
    lab.run(alice.ims_register(lab.now), alice)
    store = StateStore(tmp_path / "state.sqlite")
    _flush(lab, store, lab.pcscf)
    assert lab.pcscf.registrations[("127.0.1.100", 5060)][ALICE].subscription is None
    lab.drop = None
    pcscf = _restart(lab, store, "pcscf")
    assert pcscf.registrations[("127.0.1.100", 5060)][ALICE].subscription is not None


def test_nothing_is_recorded_without_a_state_file(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    alice = lab.handset("alice", 5060)
    lab.run(alice.ims_register(lab.now), alice)
    assert lab.scscf.pending_changes() == 0 and lab.pcscf.pending_changes() == 0


def test_an_unreadable_record_is_dropped_not_fatal(tmp_path: Path) -> None:
    lab, _, _, store = _registered_pair(tmp_path)
    _flush(lab, store, lab.scscf)
    store.apply([Persist("user", "broken", {"impi": "x"}, WALL + 9999)])
    scscf = _restart(lab, store, "scscf")
    assert scscf.registrations() == 2
    _flush(lab, store, scscf)  # and it is gone from the file
    assert "broken" not in [r.key for r in store.load(WALL + lab.now)]


def test_pcscf_forgets_at_restart_an_offer_to_a_ue_that_never_registered(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    _persisting(lab)
    alice, bob = lab.handset("alice", 5060), lab.handset("bob", 5062)
    lab.run(alice.ims_register(lab.now), alice)
    bobs: list[bytes] = []

    def second_register_of_bob(data: bytes) -> bool:
        if data.startswith(b"REGISTER ") and data.split(b"\r\n")[1].startswith(b"Via: SIP/2.0/UDP 127.0.1.100:5062"):
            bobs.append(data)
            return len(bobs) == 2
        return False

    lab.drop = second_register_of_bob
    lab.run(bob.ims_register(lab.now), bob)  # challenged; his answer is lost, then the P-CSCF dies
    store = StateStore(tmp_path / "state.sqlite")
    _flush(lab, store, lab.pcscf)
    assert sorted(r.key for r in store.load(WALL) if r.kind == "contact") == ["127.0.1.100:5060", "127.0.1.100:5062"]
    lab.drop = None
    pcscf = _restart(lab, store, "pcscf")
    assert set(pcscf._offered) == {("127.0.1.100", 5060)} and set(pcscf.security.agreements) == {("127.0.1.100", 5060)}
    _flush(lab, store, pcscf)
    assert [r.key for r in store.load(WALL) if r.kind == "contact"] == ["127.0.1.100:5060"]
