"""The writer connection, its write lock, the read connection, and small query helpers for the
repositories."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

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


class WriterLock:
    """The writer's lock: one coroutine at a time in this process, and, when a lock file is
    given (a SQLite file that other processes write too, e.g. `python -m bot web` beside
    `python -m bot tracker`), one process at a time through an advisory lock on that file.

    Why not SQLite's own write lock alone: a writer that finds it taken does not queue, it
    sleeps in SQLite's busy handler (1, 2, 5, ... up to 100 ms at a time) and tries again, so
    two processes that write often wait for each other in sleeps much longer than the writes
    take. A `flock` waiter is woken by the kernel the moment the holder lets go. The file lock
    is taken after this process's own lock, so at most one coroutine per process waits on it.
    """

    def __init__(self, lock_file: Path | None = None) -> None:
        self._local = asyncio.Lock()
        self._fd: int | None = None
        if lock_file is not None:
            self._fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)

    def locked(self) -> bool:
        return self._local.locked()

    async def __aenter__(self) -> None:
        await self._local.acquire()
        if self._fd is None:
            return
        try:
            await _file_lock(self._fd)
        except BaseException:
            self._local.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._local.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


async def _file_lock(fd: int) -> None:
    """Take the exclusive lock: at once when it is free (no thread), else wait for it in a
    thread (flock blocks). Cancelled while waiting, the thread still gets the lock in the end:
    it is given back then, never left held."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    waiting = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        waiting.add_done_callback(lambda done: _unlock_if_taken(fd, done))
        raise


def _unlock_if_taken(fd: int, done: asyncio.Future[None]) -> None:
    if not done.cancelled() and done.exception() is None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class Store:
    """aiosqlite runs one connection on one thread, so statements never overlap; but a
    multi-statement transaction spans several awaits. The lock keeps other coroutines out of
    an open transaction on the writer: their writes can't slip into it (read-modify-write
    sequences lose no update).

    Plain reads go to a read connection of their own (`reader`) when there is one: under WAL it
    sees every committed transaction and never one half done (e.g. no active key between
    "deactivate the others" and "insert the new one"), so it needs no lock, and a read never
    waits for the writer's queue (nor the writer for it). Without a reader, reads take the lock
    on the writer, as one connection must."""

    def __init__(
        self,
        conn: Connection,
        clock: Callable[[], float],
        *,
        reader: Connection | None = None,
        lock: WriterLock | None = None,
        backend: Backend = Backend.SQLITE,
    ) -> None:
        self.conn = conn
        self.backend = backend
        self.reader = reader
        self.clock = clock
        self.lock = lock or WriterLock()

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

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Connection]:
        """BEGIN IMMEDIATE ... COMMIT under the lock; ROLLBACK on any error."""
        async with self.lock:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")


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
