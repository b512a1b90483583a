"""Writers of one SQLite file in several processes queue on a lock file beside it (WriterLock)
instead of sleeping in SQLite's busy handler. Two Database objects on one file stand in for
two processes: each holds its own open file description of the lock file, as a process does."""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from storage import Database, KeyCipher
from storage.base import tx_fetchone, tx_write


@pytest.fixture
async def two(tmp_path: Path) -> AsyncIterator[tuple[Database, Database, Path]]:
    cipher = KeyCipher([Fernet.generate_key().decode()])
    path = tmp_path / "bot.db"
    first = await Database.open(path, cipher)
    second = await Database.open(path, cipher)
    await first.connection.execute("CREATE TABLE counter (n INTEGER NOT NULL)")
    await first.connection.execute("INSERT INTO counter VALUES (0)")
    try:
        yield first, second, path.with_name(path.name + "-writer")
    finally:
        await first.close()
        await second.close()


def taken_by_another_process(lock_file: Path) -> bool:
    """Whether another open file description (another process) could take the lock now."""
    fd = os.open(lock_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


async def test_a_write_holds_the_file_lock_and_gives_it_back(
    two: tuple[Database, Database, Path],
) -> None:
    first, _, lock_file = two
    assert oct(lock_file.stat().st_mode & 0o777) == "0o600"
    assert not taken_by_another_process(lock_file)
    async with first._store.transaction() as conn:
        assert taken_by_another_process(lock_file)
        await tx_write(conn, "UPDATE counter SET n = n + 1")
    assert not taken_by_another_process(lock_file)


async def test_read_modify_writes_from_two_writers_lose_nothing(
    two: tuple[Database, Database, Path],
) -> None:
    first, second, _ = two

    async def increment(db: Database) -> None:
        async with db._store.transaction() as conn:
            row = await tx_fetchone(conn, "SELECT n FROM counter")
            await asyncio.sleep(0)  # let the other writer try to slip in
            await tx_write(conn, "UPDATE counter SET n = ?", (row[0] + 1,))

    await asyncio.gather(*(increment(db) for _ in range(40) for db in (first, second)))
    assert await first._store.scalar("SELECT n FROM counter") == 80


async def test_a_writer_cancelled_while_waiting_leaves_the_lock_free(
    two: tuple[Database, Database, Path],
) -> None:
    first, second, lock_file = two
    entered = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with first._store.transaction() as conn:
            await tx_write(conn, "UPDATE counter SET n = n + 1")
            entered.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await entered.wait()
    waiter = asyncio.create_task(second._store.write("UPDATE counter SET n = n + 10"))
    while not second._store.lock.locked():  # it waits for the file lock now
        await asyncio.sleep(0)
    waiter.cancel()
    release.set()
    await holder
    with pytest.raises(asyncio.CancelledError):
        await waiter
    # The cancelled waiter's thread took the lock once the holder let go, and gave it back:
    # both writers write again (a lock left held would hang here; the timeout only guards).
    await asyncio.wait_for(second._store.write("UPDATE counter SET n = n + 100"), timeout=30)
    await asyncio.wait_for(first._store.write("UPDATE counter SET n = n + 1000"), timeout=30)
    assert await first._store.scalar("SELECT n FROM counter") == 1101
    assert not taken_by_another_process(lock_file)
