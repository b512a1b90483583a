"""PostgreSQL through asyncpg, behind the connection interface the repositories already use
(storage.base.Connection: aiosqlite's shape), so every repository runs unchanged on both.

Statements are translated once each (storage.dialect.to_postgres). Rows come back as plain
tuples, as aiosqlite's do. SQLite's one writer is kept as a rule: every write, in whatever
process, runs under one transaction-scoped advisory lock (`BEGIN IMMEDIATE` takes it for a
multi-statement transaction; a lone write takes it around itself). A read-modify-write
transaction can therefore never be overtaken by another process's write between its read and
its write, exactly as under SQLite's write lock; plain reads take no lock (as under WAL).

A side write (`Store.side_write`: a guarded write of columns no transaction reads to decide,
firing no trigger that reads other rows) needs none of that: it runs alone, autocommitted, on
a pool of sessions of its own (`PgPool`), in one round trip instead of three and beside the
write lock, ordered against the other writes of its rows by their row locks, as any PostgreSQL
write is.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from storage.base import Params
from storage.dialect import rowid_tables, to_postgres
from storage.migrations import MIGRATIONS, PerBackend

# One key for "the database's write lock" (an arbitrary constant: "sms-bot" in ASCII).
WRITE_LOCK_KEY = 0x736D_732D_626F_74
_BEGIN_WRITE = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})"
_T = TypeVar("_T")
_INSERT_INTO = re.compile(r"^\s*INSERT\s+(?:OR\s+IGNORE\s+)?INTO\s+(\w+)", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_READS = re.compile(r"^\s*(SELECT|WITH|VALUES|EXPLAIN|SHOW)\b", re.IGNORECASE)
# `PRAGMA wal_checkpoint(TRUNCATE)` answers (busy, log frames, checkpointed frames): a
# PostgreSQL server keeps no log file of the bot's to fold in: "done, nothing left".
_CHECKPOINT_DONE = (0, 0, 0)
# Tables whose id SQLite assigns: their INSERTs return it (a cursor's `lastrowid`).
IDENTITY_TABLES = rowid_tables(
    [text for step in MIGRATIONS for text in step if not isinstance(text, PerBackend)]
)


class PgCursor:
    """The rows (as tuples) and counts of one statement, already fetched."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self._next = 0
        self._rowcount = rowcount
        self._lastrowid = lastrowid

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._lastrowid

    async def fetchone(self) -> tuple[Any, ...] | None:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchall(self) -> list[tuple[Any, ...]]:
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest

    async def close(self) -> None:
        self._rows = []


class PgResult:
    """Awaited for the cursor, or entered with `async with` (as aiosqlite's execute)."""

    def __init__(self, coro: Coroutine[Any, Any, PgCursor]) -> None:
        self._coro = coro

    def __await__(self) -> Generator[Any, None, PgCursor]:
        return self._coro.__await__()

    async def __aenter__(self) -> PgCursor:
        return await self._coro

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        return None


def _rowcount(status: str) -> int:
    """asyncpg's command tag ("UPDATE 3", "INSERT 0 1", "DELETE 0") → rows changed."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


async def _run(conn: asyncpg.Connection, sql: str, params: Params) -> PgCursor:
    """One translated statement on `conn`, its rows and counts as a cursor shows them."""
    inserted = _INSERT_INTO.match(sql)
    returns_id = (
        inserted is not None and inserted[1] in IDENTITY_TABLES and _RETURNING.search(sql) is None
    )
    text = to_postgres(sql) + (" RETURNING id" if returns_id else "")
    args = list(params)
    if returns_id:
        ids = await conn.fetch(text, *args)
        return PgCursor([], len(ids), int(ids[-1][0]) if ids else None)
    if _READS.match(sql) or _RETURNING.search(sql):
        rows = [tuple(record) for record in await conn.fetch(text, *args)]
        return PgCursor(rows, -1 if _READS.match(sql) else len(rows), None)
    return PgCursor([], _rowcount(await conn.execute(text, *args)), None)


async def _locked(conn: asyncpg.Connection, work: Coroutine[Any, Any, _T]) -> _T:
    """A lone write in a transaction of its own under the write lock: BEGIN and the lock in
    one round trip, the statement, COMMIT (three in all)."""
    try:
        await conn.execute(_BEGIN_WRITE)
    except BaseException:
        work.close()
        raise
    try:
        result = await work
    except BaseException:
        # A failed ROLLBACK must not hide why the write failed; a session left in a
        # transaction is rolled back by the pool on release anyway.
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            if not conn.is_closed():
                await conn.execute("ROLLBACK")
        raise
    await conn.execute("COMMIT")
    return result


async def keep_session(conn: asyncpg.Connection) -> None:
    """A pool's reset on release: nothing. Sessions go back as they were taken (nothing is set
    on them, and a transaction always ends before release); asyncpg's default reset would
    cost a round trip per statement."""


class PgConnection:
    """aiosqlite's connection interface over asyncpg: the writer (every write of this process
    goes through it, under Store's lock; `BEGIN IMMEDIATE` ... `COMMIT` hold one session).

    Over a pool (the bot's writer: one session) a session lost with the server is replaced at
    the next statement instead of failing every write until a restart; over a connection
    (the copy of storage.transfer) it is that connection."""

    def __init__(self, source: asyncpg.Connection | asyncpg.Pool) -> None:
        self._source = source
        self._held: asyncpg.Connection | None = None  # the session of an open transaction
        self._trace: Callable[[str], None] | None = None

    async def set_trace_callback(self, callback: Callable[[str], None] | None) -> None:
        """Called with every statement as it is run (as sqlite3's trace callback): what a code
        path costs in statements, for tests and benchmarks."""
        self._trace = callback

    def execute(self, sql: str, parameters: Params = ()) -> PgResult:
        return PgResult(self._execute(sql, parameters))

    async def execute_fetchall(self, sql: str, parameters: Params = ()) -> list[tuple[Any, ...]]:
        cursor = await self._execute(sql, parameters)
        return await cursor.fetchall()

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[asyncpg.Connection]:
        if self._held is not None:
            yield self._held
        elif isinstance(self._source, asyncpg.Pool):
            async with self._source.acquire() as conn:
                yield conn
        else:
            yield self._source

    async def _begin(self) -> None:
        held = (
            await self._source.acquire() if isinstance(self._source, asyncpg.Pool) else self._source
        )
        try:
            await held.execute(_BEGIN_WRITE)
        except BaseException:
            await self._release(held, broken=True)
            raise
        self._held = held

    async def _end(self, command: str) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        try:
            await held.execute(command)
        except BaseException:
            await self._release(held, broken=True)
            raise
        await self._release(held)

    async def _release(self, conn: asyncpg.Connection, *, broken: bool = False) -> None:
        """Back to the pool. A session whose BEGIN or COMMIT failed (the server went away
        mid-statement) may be left mid-operation: it is dropped, and the pool opens a new one
        for the next statement."""
        if isinstance(self._source, asyncpg.Pool):
            if broken:
                conn.terminate()
            await self._source.release(conn)

    async def _execute(self, sql: str, params: Params) -> PgCursor:
        if self._trace is not None:
            self._trace(sql)
        command = " ".join(sql.split()).upper()
        if command in ("BEGIN", "BEGIN IMMEDIATE"):
            await self._begin()
            return PgCursor([], -1, None)
        if command in ("COMMIT", "ROLLBACK"):
            await self._end(command)
            return PgCursor([], -1, None)
        if command.startswith("PRAGMA"):
            rows = [_CHECKPOINT_DONE] if command.startswith("PRAGMA WAL_CHECKPOINT") else []
            return PgCursor(rows, -1, None)
        async with self._session() as conn:
            if self._held is not None or _READS.match(sql):
                return await _run(conn, sql, params)
            return await _locked(conn, _run(conn, sql, params))

    async def executemany(self, sql: str, parameters: Iterable[Params]) -> None:
        """Bulk rows (tests, benchmarks): one statement, many rows."""
        if self._trace is not None:
            self._trace(sql)
        rows = [list(row) for row in parameters]
        async with self._session() as conn:
            if self._held is not None:
                await conn.executemany(to_postgres(sql), rows)
                return
            await _locked(conn, conn.executemany(to_postgres(sql), rows))

    async def close(self) -> None:
        await self._source.close()


class PgPool:
    """Statements one at a time, each autocommitted on any free session of a pool: plain reads
    on read-only sessions (they see what is committed and wait for no writer, as SQLite's WAL
    readers), or side writes (`Store.side_write`: one round trip each, no write lock)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._trace: Callable[[str], None] | None = None

    async def set_trace_callback(self, callback: Callable[[str], None] | None) -> None:
        self._trace = callback

    def execute(self, sql: str, parameters: Params = ()) -> PgResult:
        return PgResult(self._execute(sql, parameters))

    async def execute_fetchall(
        self, sql: str, parameters: Params = ()
    ) -> Iterable[tuple[Any, ...]]:
        cursor = await self._execute(sql, parameters)
        return await cursor.fetchall()

    async def _execute(self, sql: str, params: Params) -> PgCursor:
        if self._trace is not None:
            self._trace(sql)
        async with self._pool.acquire() as conn:
            return await _run(conn, sql, params)

    async def close(self) -> None:
        await self._pool.close()
