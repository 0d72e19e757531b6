"""The trio side of the state file (``ims.net.persist``): load before serving, coalesced batches off the
loop, a failed write retried and never fatal; no file without ``--run-dir``/``--state-file``."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import trio

from ims.cscf.common import CscfApp
from ims.cscf.store import Persist, StateStoreError, StoredRecord
from ims.net.persist import open_state, state_path
from ims.sip.events import Action


class Toy(CscfApp):
    def __init__(self) -> None:
        super().__init__()
        self.restored: list[StoredRecord] = []

    def snapshot(self, kind: str, key: str, obj: object, now: float) -> Persist:
        if obj == "boom":
            raise RuntimeError("a bug in a snapshot")
        return Persist(kind, key, {"v": obj}, time.time() + 60)

    def restore(self, records: list[StoredRecord], now: float) -> list[Action]:
        self.restored = records
        return []


async def test_changes_are_coalesced_written_and_loaded_by_the_next_process(tmp_path: Path) -> None:
    path = tmp_path / "scscf-state.sqlite"
    app = Toy()
    writer = await open_state(app, path)
    assert writer is not None and app.persisting
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        for i in range(100):  # one registration changed 100 times before the writer ran: one row
            app.changed("user", "alice", i)
        app.changed("user", "bob", "x")
        app.changed("user", "bob", None)
        await writer.flush()
        assert app.pending_changes() == 0 and writer.rows == 2 and writer.writes == 1
        nursery.cancel_scope.cancel()
    again = Toy()
    await open_state(again, path)
    assert [(r.key, r.record) for r in again.restored] == [("alice", {"v": 99})]


async def test_a_failed_write_is_retried_and_a_bad_record_skipped(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    app = Toy()
    writer = await open_state(app, tmp_path / "s.sqlite")
    assert writer is not None
    real = writer.store.apply
    calls = []

    def flaky(changes):  # type: ignore[no-untyped-def]
        calls.append(len(changes))
        if len(calls) == 1:
            raise StateStoreError("disk full")
        real(changes)

    writer.store.apply = flaky  # type: ignore[method-assign]
    writer.retry_after = 0.0
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        app.changed("reg", "a", 1)
        app.changed("reg", "b", "boom")  # its snapshot raises: logged at the boundary, the rest is written
        await writer.flush()  # returns once the retry went through
        nursery.cancel_scope.cancel()
    assert writer.failures == 1 and calls == [1, 1]
    assert [r.key for r in writer.store.load(time.time())] == ["a"]
    assert "state not written (disk full)" in caplog.text and "state.snapshot" in caplog.text


async def test_synced_returns_once_what_changed_is_committed(tmp_path: Path) -> None:
    app = Toy()
    writer = await open_state(app, tmp_path / "s.sqlite")
    assert writer is not None
    async with trio.open_nursery() as nursery:
        await nursery.start(writer.run)
        app.changed("user", "alice", 1)
        await writer.synced()  # what the S-CSCF awaits before its 200 to a REGISTER leaves
        assert [r.record for r in writer.store.load(time.time())] == [{"v": 1}]
        app.changed("user", "alice", 2)
        writer.store.apply = lambda changes: (_ for _ in ()).throw(StateStoreError("disk full"))  # type: ignore[method-assign]
        writer.retry_after = 0.01
        with trio.fail_after(2):
            await writer.synced(timeout=0.05)  # a file that cannot be written delays, never blocks
        nursery.cancel_scope.cancel()
    assert writer.failures >= 1


async def test_an_unopenable_file_leaves_state_in_memory(tmp_path: Path) -> None:
    app = Toy()
    assert await open_state(app, tmp_path) is None  # a directory
    assert not app.persisting


def test_state_file_only_with_a_run_dir_or_an_explicit_file() -> None:
    by_hand = argparse.Namespace(run_dir=None, state_file=None, name="scscf")
    assert state_path(by_hand, "scscf") is None
    lab = argparse.Namespace(run_dir="/run/lab", state_file=None, name="scscf1")
    assert state_path(lab, "scscf") == Path("/run/lab/scscf1-state.sqlite")
    assert state_path(lab, "icscf") is None  # keeps no registrations
    explicit = argparse.Namespace(run_dir=None, state_file="/x.sqlite", name="p")
    assert state_path(explicit, "pcscf") == Path("/x.sqlite")
