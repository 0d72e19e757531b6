"""The trio side of a CSCF's state file: load before serving, then one writer task off the loop.

:func:`open_state` reads the records (``ims.cscf.store.StateStore``) on a
worker thread, hands them to the core's ``restore`` and turns on the core's
change log.  :class:`StateWriter` then waits for changes, drains them
(coalesced per key: many changes of one registration while a write is in
progress cost one row), serialises them on the loop (cheap: plain dicts) and
commits each batch in one transaction on its own thread.  The queue is the
core's change log, bounded by the number of records the node holds; a batch
is at most ``batch`` keys.  A write that fails is logged, counted and
retried after a pause; it never stops the node, which keeps serving from
memory.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import trio

from ims.cscf.common import CscfApp
from ims.cscf.store import Change, Forget, StateStore, StateStoreError
from ims.net.boundary import internal_error
from ims.sip.events import Action

log = logging.getLogger("ims.net.persist")

RETRY_AFTER = 1.0  # seconds between attempts while the state file cannot be written


class StateWriter:
    def __init__(self, app: CscfApp, store: StateStore, *, batch: int = 5000) -> None:
        self.app = app
        self.store = store
        self.batch = batch
        self.retry_after = RETRY_AFTER
        self.restored: list[Action] = []  # what ``restore`` asked to send once the transports are up
        self.loaded = 0
        self.writes = 0  # committed batches
        self.rows = 0  # changes committed
        self.failures = 0
        self._wake = trio.Event()
        self._writing = trio.Lock()  # the run loop and a final flush take turns
        self._taken = 0  # batches taken from the change log so far
        self._committed = 0  # the last of them committed
        self._commit = trio.Event()  # set (and replaced) at each commit
        self._limiter = trio.CapacityLimiter(1)

    def _changed(self) -> None:
        self._wake.set()

    def stats(self) -> dict[str, int]:
        return {"state_loaded": self.loaded, "state_writes": self.writes, "state_rows": self.rows,
                "state_write_failures": self.failures, "state_pending": self.app.pending_changes()}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            await self._write_all()

    async def _write_all(self) -> None:
        async with self._writing:
            while self.app.pending_changes():
                dirty = self.app.take_dirty(self.batch)
                self._taken += 1
                batch_no = self._taken
                changes: list[Change] = []
                now = trio.current_time()
                for kind, key, obj in dirty:
                    if obj is None:
                        changes.append(Forget(kind, key))
                        continue
                    try:
                        changes.append(self.app.snapshot(kind, key, obj, now))
                    except Exception:  # noqa: BLE001 - one record we cannot serialise must not stop the rest
                        internal_error("state.snapshot", f"{kind} {key}", logger=log)
                try:
                    await trio.to_thread.run_sync(self.store.apply, changes, limiter=self._limiter)
                except StateStoreError as exc:
                    self.failures += 1
                    log.warning("state not written (%s); retrying in %.0f s", exc, self.retry_after)
                    self.app.requeue(dirty)  # what changed again meanwhile is newer: that stays
                    await trio.sleep(self.retry_after)
                    continue
                self.writes += 1
                self.rows += len(changes)
                self._committed = batch_no
                done, self._commit = self._commit, trio.Event()
                done.set()

    async def synced(self, timeout: float = 1.0) -> None:
        """Return once every change made so far is committed (or after ``timeout``: a state file that
        cannot be written delays answers by that much, it never stops them)."""
        target = self._taken + 1 if self.app.pending_changes() else self._taken
        with trio.move_on_after(timeout):
            while self._committed < target:
                await self._commit.wait()

    async def flush(self) -> None:
        """Write what is pending now, after a write in progress (graceful stop)."""
        with trio.move_on_after(5):
            await self._write_all()


def state_path(args: Any, kind: str) -> Path | None:
    """``--state-file``, else ``RUN_DIR/NAME-state.sqlite`` for the CSCFs that keep registrations;
    None (state in memory only) for a node run by hand without ``--run-dir``."""
    if getattr(args, "state_file", None):
        return Path(args.state_file)
    if kind in ("pcscf", "scscf") and getattr(args, "run_dir", None):
        return Path(args.run_dir) / f"{args.name}-state.sqlite"
    return None


async def open_state(app: CscfApp, path: Path | None) -> StateWriter | None:
    """Load ``path`` into ``app`` (before it serves) and return its writer, to start in the node's nursery.

    A file that cannot be opened is logged and the node runs with its state in memory only."""
    if path is None:
        return None
    try:
        store = await trio.to_thread.run_sync(StateStore, path)
        records = await trio.to_thread.run_sync(store.load, time.time())
    except StateStoreError as exc:
        log.error("%s; registrations are kept in memory only", exc)
        return None
    app.wall_offset = time.time() - trio.current_time()
    writer = StateWriter(app, store)
    app.on_change = writer._changed
    app.persisting = True  # what ``restore`` itself forgets is written too
    try:
        writer.restored = app.restore(records, trio.current_time())
    except Exception:  # noqa: BLE001 - a state file this version misreads must not keep the node down
        internal_error("state.restore", str(path), logger=log)
    writer.loaded = len(records)
    log.info("state file %s: %d records loaded", path, len(records))
    return writer
