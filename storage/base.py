"""The writer connection, its write lock, the read connection, and small query helpers for the
repositories."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar

from storage.dialect import Backend

Params = Sequence[Any]


class Cursor(Protocol):
    """What the repositories use of a cursor: aiosqlite's, or storage.pg's over asyncpg."""

    @property
    def rowcount(self) -> int: ...

    @property
    def lastrowid(self) -> int | None: ...

    async def fetchone(self) -> Any: ...

    async def fetchall(self) -> Iterable[Any]: ...

    async def close(self) -> None: ...


class CursorResult(Protocol):
    """`conn.execute(...)`: awaited for its cursor, or entered (`async with`) to close it."""

    def __await__(self) -> Generator[Any, None, Cursor]: ...

    async def __aenter__(self) -> Cursor: ...

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None: ...


class Connection(Protocol):
    """What the repositories use of a connection: an aiosqlite one (SQLite's SQL) or a
    storage.pg one (the same SQL, translated; see storage.dialect)."""

    def execute(self, sql: str, parameters: Params = ...) -> CursorResult: ...

    async def execute_fetchall(self, sql: str, parameters: Params = ...) -> Iterable[Any]: ...

    async def close(self) -> None: ...


class WriteLock:
    """The writer's lock: one holder at a time, first come first served, except that an
    urgent holder (a code for a user waiting) goes ahead of every ordinary one waiting.

    After a restart the tracker ends hundreds of expired numbers at once, one write each; in
    a FIFO a code found meanwhile waited behind all of them (10-28 s measured at 5,000 keys).
    `async with lock` takes it as an ordinary holder; `async with lock.urgent()` as an urgent
    one. The lock is handed straight to the next waiter on release (no newcomer slips in)."""

    def __init__(self) -> None:
        self._held = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._ordinary: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._held

    async def acquire(self, *, urgent: bool = False) -> None:
        if not self._held:
            self._held = True
            return
        line = self._urgent if urgent else self._ordinary
        turn = asyncio.get_running_loop().create_future()
        line.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed over as the wait was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # a release may have passed it by
                    line.remove(turn)
            raise

    def release(self) -> None:
        for line in (self._urgent, self._ordinary):
            while line:
                turn = line.popleft()
                if not turn.done():
                    turn.set_result(None)  # still held: now by that waiter
                    return
        self._held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()

    @asynccontextmanager
    async def urgent(self) -> AsyncIterator[None]:
        await self.acquire(urgent=True)
        try:
            yield
        finally:
            self.release()


_Item = TypeVar("_Item")


@dataclass(eq=False, slots=True)
class _Waiting(Generic[_Item]):
    row_id: int
    item: _Item
    done: bool | None = None  # set once a turn wrote it: whether its row changed


class GroupCommit(Generic[_Item]):
    """Writes of one kind, each to one row, grouped (a group commit). Every write waits its
    turn; the caller whose turn comes writes every one waiting by then (up to `limit`, one per
    row) with ONE call of `write`, which returns the ids of the rows it changed, and the
    callers it served find their answer when their turn comes. Writes that come at once (a
    restart's first listings find codes and ends by the hundred) take one place in the
    writers' queue instead of one each. When a turn fails (or its caller is cancelled) the
    writes it carried for other callers go back to the front of the line, so each is written
    by a later turn or fails for its own caller: none is lost, no caller waits for nothing."""

    def __init__(
        self, write: Callable[[list[tuple[int, _Item]]], Awaitable[set[int]]], limit: int
    ) -> None:
        self._write = write
        self._limit = limit
        self.turn = asyncio.Lock()
        self.waiting: list[_Waiting[_Item]] = []

    async def __call__(self, row_id: int, item: _Item) -> bool:
        """Write `item` to row `row_id` in some turn; whether the row changed."""
        entry = _Waiting(row_id, item)
        self.waiting.append(entry)
        try:
            async with self.turn:
                if entry.done is None:
                    await self._write_turn(entry)
        finally:
            if entry in self.waiting:  # cancelled before its turn: never written
                self.waiting.remove(entry)
        return bool(entry.done)

    async def _write_turn(self, owner: _Waiting[_Item]) -> None:
        batch = self._take(owner)
        try:
            changed = await self._write([(entry.row_id, entry.item) for entry in batch])
        except BaseException:
            self.waiting[:0] = [entry for entry in batch if entry is not owner]
            raise
        for entry in batch:
            entry.done = entry.row_id in changed

    def _take(self, owner: _Waiting[_Item]) -> list[_Waiting[_Item]]:
        """`owner` and the writes waiting behind it, one per row, in the order they came."""
        batch = [owner]
        rows = {owner.row_id}
        rest: list[_Waiting[_Item]] = []
        for entry in self.waiting:
            if entry is owner:
                continue
            if len(batch) < self._limit and entry.row_id not in rows:
                rows.add(entry.row_id)
                batch.append(entry)
            else:
                rest.append(entry)
        self.waiting = rest
        return batch


class Store:
    """aiosqlite runs one connection on one thread, so statements never overlap; but a
    multi-statement transaction spans several awaits. The lock keeps other coroutines out of
    an open transaction on the writer: their writes can't slip into it (read-modify-write
    sequences lose no update).

    Plain reads go to a read connection of their own (`reader`) when there is one: under WAL it
    sees every committed transaction and never one half done (e.g. no active key between
    "deactivate the others" and "insert the new one"), so it needs no lock, and a read never
    waits for the writer's queue (nor the writer for it). Without a reader, reads take the lock
    on the writer, as one connection must.

    Side writes (`side_write`) go to a writer of their own (`side`) when there is one
    (PostgreSQL: storage.pg), without the lock; without one they are ordinary writes."""

    def __init__(
        self,
        conn: Connection,
        clock: Callable[[], float],
        *,
        reader: Connection | None = None,
        lock: WriteLock | None = None,
        backend: Backend = Backend.SQLITE,
        side: Connection | None = None,
    ) -> None:
        self.conn = conn
        self.side = side
        self.backend = backend
        self.reader = reader
        self.clock = clock
        self.lock = lock or WriteLock()

    async def fetchall(self, sql: str, params: Params = ()) -> list[Any]:
        # One round trip to the connection's thread (execute + fetch + close in one call):
        # a cursor would cost three, and every update reads the user and its key.
        if self.reader is not None:
            return list(await self.reader.execute_fetchall(sql, params))
        async with self.lock:
            return list(await self.conn.execute_fetchall(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> Any:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def scalar(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def write(self, sql: str, params: Params = ()) -> int:
        """One autocommitted write statement; returns the number of rows it changed."""
        async with self.lock, self.conn.execute(sql, params) as cur:
            return cur.rowcount

    async def side_write(self, sql: str, params: Params = ()) -> int:
        """A write that may run beside transactions: one statement, guarded in its own WHERE
        (most change one row by its id), writing columns no transaction reads to decide what
        it writes (or read only by the statement that writes them, under the row's lock: a
        lease's expiry), and firing no trigger that reads other rows (the card a number is
        shown in, a token issued, a balance read from the provider, a code marked delivered,
        a lease renewed). Such a write lands as if it ran just before or just after any
        transaction beside it, so it needs no place in the writers' queue: on PostgreSQL it is
        one round trip on a session of its own instead of three behind every other write.
        Returns the rows it changed."""
        if self.side is None:
            return await self.write(sql, params)
        async with self.side.execute(sql, params) as cur:
            return cur.rowcount

    @asynccontextmanager
    async def transaction(self, *, urgent: bool = False) -> AsyncIterator[Connection]:
        """BEGIN IMMEDIATE ... COMMIT under the lock; ROLLBACK on any error. An urgent one
        (a code) takes the lock ahead of the ordinary writes waiting (`WriteLock`)."""
        async with self.lock.urgent() if urgent else self.lock:
            await self._begin()
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    async def _begin(self) -> None:
        try:
            await self.conn.execute("BEGIN IMMEDIATE")
        except asyncio.CancelledError:
            # aiosqlite runs a statement it was handed even when its caller is cancelled (a
            # key job's timeout, a stop): end the transaction that BEGIN may yet open (the
            # ROLLBACK runs after it), or the writer stays inside it, every later write left
            # uncommitted and every other process waiting for the file's lock. An error here
            # means nothing was begun.
            with contextlib.suppress(Exception):
                await self.conn.execute("ROLLBACK")
            raise


# Inside `Store.transaction()` the lock is already held: use these, not Store.fetch*/write.
async def tx_fetchone(conn: Connection, sql: str, params: Params = ()) -> Any:
    async with conn.execute(sql, params) as cur:
        return await cur.fetchone()


async def tx_write(conn: Connection, sql: str, params: Params = ()) -> int:
    async with conn.execute(sql, params) as cur:
        return cur.rowcount


def money_in(value: Decimal | None) -> str | None:
    return None if value is None else str(Decimal(value))


def money_out(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def opt_bool(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def id_list(ids: Iterable[int]) -> str:
    """A JSON array for `IN (SELECT value FROM json_each(?))`: one bound parameter for any
    number of ids, so batch lookups never hit SQLite's variable limit."""
    return json.dumps(list(ids))


def sql_in(constants: Sequence[str]) -> str:
    """A literal IN list of fixed identifiers (never user input), e.g. "('a', 'b')".
    Literals rather than bound parameters let the planner use the (status, ...) indexes."""
    for constant in constants:
        if not constant.isidentifier():
            raise ValueError(f"not a plain identifier: {constant!r}")
    return "(" + ", ".join(f"'{constant}'" for constant in constants) + ")"
