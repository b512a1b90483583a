"""Plain reads on read connections of their own (WAL): never behind the writer's lock, never a
transaction half done, never a write; the tracker's reads on another one than the handlers'."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest

from storage import Database
from storage.base import tx_write

GUARD = 30.0  # only stops a hang: no budget


async def test_a_read_does_not_wait_for_an_open_write_transaction_nor_see_it(db: Database) -> None:
    await db.users.get_or_create(1, "en")
    async with db._store.transaction() as conn:  # the writer's lock is held from here
        await tx_write(conn, "UPDATE users SET language = 'ru' WHERE id = 1")
        await tx_write(
            conn,
            "INSERT INTO users(id, language, created_at) VALUES (2, 'zh', 0)",
        )
        # A handler's read and the tracker's read both go through at once (with one shared
        # connection they would wait for this transaction, here for ever) ...
        async with asyncio.timeout(GUARD):
            seen = await db.users.get(1)
            background = await db.background().users.get(1)
            missing = await db.users.get(2)
        # ... and see what was committed, not the half-done transaction.
        assert seen is not None and seen.language == "en"
        assert background is not None and background.language == "en"
        assert missing is None
    # Committed: every reader sees it at once.
    after = await db.users.get(1)
    assert after is not None and after.language == "ru"
    assert await db.background().users.get(2) is not None


async def test_read_connections_write_nothing(db: Database) -> None:
    readers = [store.reader for store in (db._store, db.background()._store)]
    assert all(reader is not None for reader in readers)
    for reader in readers:
        assert reader is not None
        with pytest.raises((sqlite3.OperationalError, asyncpg.ReadOnlySQLTransactionError)):
            await reader.execute("INSERT INTO users(id, language, created_at) VALUES (9, 'en', 0)")


async def test_the_background_view_shares_the_writer_and_its_lock_but_not_the_reader(
    db: Database,
) -> None:
    handlers, background = db._store, db.background()._store
    assert background.conn is handlers.conn and background.lock is handlers.lock
    assert background.reader is not None and handlers.reader is not None
    assert background.reader is not handlers.reader
    # A write through either is seen through both.
    await db.background().users.get_or_create(5, "en")
    await db.users.update(5, language="zh")
    seen = await db.background().users.get(5)
    assert seen is not None and seen.language == "zh"
