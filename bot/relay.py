"""The database change relay: what the web role's use cases changed reaches the tracker
workers through the `change_feed` table, with no Redis.

`publish` only buffers (bounded) and wakes a writer task that appends the buffer in one
transaction; a receiver reads new rows by id every `every` seconds and hands them to its
process's `Changes`. Rows older than `keep` seconds are pruned. A lost change costs speed,
never a code: the tracker finds every new number by itself each pass (`live_after`) and polls
every live one on its schedule; the relay only makes a button's "look now" or a purchase's
first poll reach the tracker in another process within about `every`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

from bot.changes import Change, Changed
from storage.feed import FeedRepo

log = logging.getLogger(__name__)

BUFFER_MAX = 10_000  # changes waiting to be written; beyond, the oldest are dropped
READ_MAX = 1_000  # feed rows read per query
PRUNE_EVERY = 30.0


class DatabaseRelay:
    def __init__(
        self,
        feed: FeedRepo,
        *,
        every: float = 0.5,
        keep: float = 120.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._feed = feed
        self._every = every
        self._keep = keep
        self._clock = clock
        self._buffer: deque[Change] = deque(maxlen=BUFFER_MAX)
        self._dropped = 0
        self._pending = asyncio.Event()
        # One flush at a time, and stop() never cancels the writer in the middle of one.
        self._flushing = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self._last_id = 0
        self._prune_at = clock() + PRUNE_EVERY

    # ------------------------------------------------------------------ sending side

    def publish(self, change: Change) -> None:
        """Buffer the change for the writer task; never blocks, never raises."""
        if len(self._buffer) == self._buffer.maxlen:
            self._dropped += 1
        self._buffer.append(change)
        self._pending.set()
        if self._writer is None or self._writer.done():
            try:
                self._writer = asyncio.get_running_loop().create_task(self._write_loop())
            except RuntimeError:  # no loop (a script): written when one starts the writer
                return

    async def flush(self) -> None:
        """Write what is buffered now, and prune old rows when due (the writer does this by
        itself; tests and stop call it)."""
        async with self._flushing:
            await self._flush()

    async def _flush(self) -> None:
        batch = list(self._buffer)
        self._buffer.clear()
        if batch:
            try:
                await self._feed.append([(change.kind.value, change.id) for change in batch])
            except BaseException:
                # Written again later (stop() flushes): a change twice is only a second wake.
                self._buffer.extendleft(reversed(batch))
                raise
        if self._dropped:
            log.warning("change relay: %d changes dropped (buffer full)", self._dropped)
            self._dropped = 0
        await self._prune_if_due()  # the feed stays small even when no tracker reads it

    async def _write_loop(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:  # the tracker still finds the rows itself; log and go on
                log.exception("change relay: writing the feed failed")
                await asyncio.sleep(self._every)

    # ------------------------------------------------------------------ receiving side

    async def start(self, deliver: Callable[[Change], None]) -> None:
        """Deliver every change published from now on (by any process) to `deliver`."""
        self._last_id = await self._feed.last_id()
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_loop(deliver), name="change-relay")

    async def receive(self, deliver: Callable[[Change], None]) -> int:
        """One read: the changes appended since the last, delivered; returns how many."""
        count = 0
        while True:
            entries = await self._feed.after(self._last_id, READ_MAX)
            for entry in entries:
                self._last_id = entry.id
                try:
                    change = Change(Changed(entry.kind), entry.row_id)
                except ValueError:  # a kind a newer version wrote: nothing to do with it
                    continue
                deliver(change)
                count += 1
            if len(entries) < READ_MAX:
                return count

    async def _prune_if_due(self) -> None:
        """Rows older than `keep` go, every PRUNE_EVERY seconds (writers and readers both
        prune: the feed stays small whichever processes run)."""
        if self._clock() >= self._prune_at:
            self._prune_at = self._clock() + PRUNE_EVERY
            await self._feed.prune(self._clock() - self._keep)

    async def _read_loop(self, deliver: Callable[[Change], None]) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.receive(deliver)
                await self._prune_if_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next read tries again
                log.exception("change relay: reading the feed failed")

    async def stop(self) -> None:
        """Stop reading; write what is still buffered, then stop the writer."""
        reader, writer = self._reader, self._writer
        self._reader = self._writer = None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        async with self._flushing:  # the writer is between flushes: cancelled there
            if writer is not None:
                writer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await writer
            try:
                await self._flush()
            except Exception:  # stopping anyway: the tracker finds the rows by itself
                log.exception("change relay: the last write of the feed failed")
