"""What holds on PostgreSQL beyond the shared contract tests: the one migration history gives
the same tables, applied once even by two processes starting together; one writer at a time
across processes (SQLite's rule, kept by an advisory lock); keys never stored in clear; and
SQLite's SQL as PostgreSQL runs it (storage.dialect)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from benchmarks.storage import fill
from storage import Database, KeyCipher
from storage.base import tx_write
from storage.dialect import ddl_to_postgres, numbered_placeholders, to_postgres
from storage.migrations import LATEST_VERSION, migrate
from storage.pg import WRITE_LOCK_KEY
from tests.harness import SqlTrace
from tests.storage.helpers import API_KEY, add_activation, add_key

GUARD = 30.0  # only stops a hang: no budget


async def _pg_tables(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    finally:
        await conn.close()
    return {str(row[0]) for row in rows}


async def test_one_history_gives_the_same_tables_on_both(
    postgres_url: str, tmp_path: Path, cipher: KeyCipher, clock: Any
) -> None:
    lite = await Database.open(tmp_path / "bot.db", cipher, clock=clock)
    try:
        rows = await lite.connection.execute_fetchall(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
            " AND name NOT LIKE 'sqlite_%'"
        )
        sqlite_tables = {str(row[0]) for row in rows}
    finally:
        await lite.close()
    db = await Database.connect(postgres_url, cipher, clock=clock)
    try:
        assert await db.schema_version() == LATEST_VERSION
        versions = await db.connection.execute_fetchall(
            "SELECT version FROM schema_version ORDER BY version"
        )
        assert [row[0] for row in versions] == list(range(1, LATEST_VERSION + 1))
        assert await migrate(db.connection, backend=db.backend) == []  # nothing left to apply
    finally:
        await db.close()
    assert await _pg_tables(postgres_url) == sqlite_tables


async def test_two_processes_starting_together_migrate_once(
    postgres_url: str, cipher: KeyCipher, clock: Any
) -> None:
    first, second = await asyncio.gather(
        Database.connect(postgres_url, cipher, clock=clock),
        Database.connect(postgres_url, cipher, clock=clock),
    )
    try:
        rows = await first.connection.execute_fetchall("SELECT version FROM schema_version")
        assert sorted(row[0] for row in rows) == list(range(1, LATEST_VERSION + 1))
    finally:
        await first.close()
        await second.close()


async def _lock_waiters(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND ((classid::bigint << 32) | objid::bigint) = $1",
                WRITE_LOCK_KEY,
            )
        )
    finally:
        await conn.close()


async def test_a_write_of_another_process_waits_for_an_open_transaction(
    postgres_url: str, cipher: KeyCipher, clock: Any
) -> None:
    """Two Database objects are two processes' worth of sessions: while one holds a
    read-modify-write transaction open, the other's write waits, and lands after it."""
    one = await Database.connect(postgres_url, cipher, clock=clock)
    other = await Database.connect(postgres_url, cipher, clock=clock)
    try:
        await one.users.get_or_create(1, "en")
        async with one._store.transaction() as conn:
            await tx_write(conn, "UPDATE users SET language = 'ru' WHERE id = 1")
            blocked = asyncio.create_task(other.users.update(1, language="zh"))
            await _wait_for_lock_waiters(postgres_url, 1)
            assert not blocked.done()
        async with asyncio.timeout(GUARD):
            await blocked
        user = await one.users.get(1)
        assert user is not None and user.language == "zh"  # the later write won, whole
    finally:
        await one.close()
        await other.close()


async def _wait_for_lock_waiters(url: str, count: int) -> None:
    async with asyncio.timeout(GUARD):
        while await _lock_waiters(url) < count:
            await asyncio.sleep(0.01)  # polling the server's lock table: no event to await


@pytest.fixture
async def db_and_other(
    postgres_url: str, cipher: KeyCipher, clock: Any
) -> AsyncIterator[tuple[Database, asyncpg.Connection]]:
    """This process's Database (user 1 known), and a session of another process."""
    db = await Database.connect(postgres_url, cipher, clock=clock)
    other = await asyncpg.connect(postgres_url)
    try:
        await db.users.get_or_create(1, "en")
        yield db, other
    finally:
        await other.close()
        await db.close()


async def _wait_for_a_row_lock_waiter(session: asyncpg.Connection) -> None:
    async with asyncio.timeout(GUARD):
        while not await session.fetchval(
            "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted"
        ):
            await asyncio.sleep(0.01)  # polling the server's lock table: no event to await


async def test_a_pick_another_purchase_adds_at_the_same_moment_is_no_error(
    db_and_other: tuple[Database, asyncpg.Connection],
) -> None:
    """When another session's purchase is adding the same pick (its row not yet committed),
    this one waits for it and keeps that row: no unique violation after the money is spent."""
    db, other = db_and_other
    await other.execute("BEGIN")
    await other.execute("INSERT INTO recents(user_id, service, country) VALUES (1, 'tg', '0')")
    adding = asyncio.create_task(db.picks.add_recent(1, "tg", "0"))
    await _wait_for_a_row_lock_waiter(other)  # this insert waits for the other's row
    await other.execute("COMMIT")
    async with asyncio.timeout(GUARD):
        await adding
    assert await db.picks.recents(1) == [("tg", "0")]


async def test_side_writes_run_beside_another_process_holding_the_write_lock(
    db_and_other: tuple[Database, asyncpg.Connection], postgres_url: str
) -> None:
    """A card's message, a token, a balance, a code marked delivered, a dialogue
    state: writes no transaction reads to decide, so they land while another process holds
    the write lock (an ordinary write waits for it)."""
    db, other = db_and_other
    key = await add_key(db, 1)
    number = await add_activation(db, 1, key.id)
    assert await db.activations.store_code(number.id, 0, "12345", None, 1001.0)
    await other.execute(f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
    waiting = asyncio.create_task(db.users.update(1, language="zh"))
    async with asyncio.timeout(GUARD):
        await db.activations.set_card(number.id, 1, 77)
        token = await db.tokens.issue(1, "tg:0")
        await db.keys.update_balance(1, key.id, Decimal("9.50"), "RUB")
        await db.activations.mark_code_delivered(number.id, 0)
        await db.fsm.put((0, 1, 1, 0, "", "default"), "Flow:amount", {"n": 1})
    await _wait_for_lock_waiters(postgres_url, 1)
    assert not waiting.done()  # the ordinary write still waits for the lock
    await other.execute("COMMIT")
    async with asyncio.timeout(GUARD):
        await waiting
    stored = await db.activations.get_any(number.id)
    assert stored is not None and stored.message_id == 77
    assert await db.tokens.claim(token, 1, "tg:0") == "ok"
    profile = await db.keys.get(1, key.id)
    assert profile is not None and profile.balance == Decimal("9.50")
    assert await db.activations.undelivered_codes(number.id) == []
    assert await db.fsm.get((0, 1, 1, 0, "", "default")) == ("Flow:amount", {"n": 1})


async def test_numbers_named_by_id_are_probed_by_the_index_not_scanned(
    db_and_other: tuple[Database, asyncpg.Connection],
) -> None:
    """The tracker's reads of the numbers a poll shows a change for, and its grouped ends and
    codes, name their rows in a JSON array. The planner guesses such a list at 100 rows and,
    at ten thousand live numbers with fresh statistics, joined it to a scan of every row (4-9
    ms for one id, an UPDATE holding the write lock meanwhile); as an array it probes the
    index."""
    db, other = db_and_other
    key = await add_key(db, 1)
    await fill(db, key.id, 5_000)  # 5,000 live numbers and as many ended
    await other.execute("ANALYZE")
    sql = await SqlTrace.start(db)
    await db.activations.get_many([3, 5])
    await db.activations.set_status(7, "cancelled")  # an end: the grouped UPDATE
    assert await db.activations.store_code(10, 0, "12345", None, 1.0)
    named = {  # each statement naming rows by a JSON array, with an array it may get
        "SELECT": "[3, 5]",  # the rows and their codes
        "UPDATE activations SET status = v.status": '[[7, "cancelled", 1.0]]',
        "UPDATE activations SET status = 'received'": "[[10, 0]]",
    }
    by_ids = [
        (statement, ids)
        for statement in sql.statements
        for start, ids in named.items()
        if statement.startswith(start) and ("json_each" in statement or "jsonb" in statement)
    ]
    assert len(by_ids) == 4  # the rows, their codes, the end, the code's status
    for statement, ids in by_ids:
        plan = await other.fetch("EXPLAIN " + to_postgres(statement), ids)
        text = "\n".join(row[0] for row in plan)
        assert "Seq Scan on activations" not in text, text
        assert "Seq Scan on activation_codes" not in text or "SubPlan" in text, text


async def test_the_writer_commits_as_sqlite_does_without_a_flush_per_commit(
    postgres_url: str, cipher: KeyCipher, clock: Any
) -> None:
    """The writer's commits do not wait for the log's flush (SQLite's WAL + synchronous=NORMAL
    durability); the read sessions keep the server's own setting."""
    db = await Database.connect(postgres_url, cipher, clock=clock)
    try:
        [(writer,)] = await db.connection.execute_fetchall("SHOW synchronous_commit")
        [(reader,)] = await db._store.fetchall("SHOW synchronous_commit")
        assert db._store.side is not None
        [(side,)] = await db._store.side.execute_fetchall("SHOW synchronous_commit")
    finally:
        await db.close()
    assert (writer, side, reader) == ("off", "off", "on")


async def test_the_column_never_holds_a_key_in_clear(
    postgres_url: str, cipher: KeyCipher, clock: Any
) -> None:
    db = await Database.connect(postgres_url, cipher, clock=clock)
    try:
        key = await add_key(db, 1)
        live = await add_activation(db, 1, key.id)
        rows = await db.connection.execute_fetchall("SELECT api_key_enc FROM api_keys")
        assert [API_KEY.encode() in bytes(row[0]) for row in rows] == [False]
        assert (await db.keys.get(1, key.id)).api_key == API_KEY  # type: ignore[union-attr]
        # Deleted while a number is live: kept for it, erased (the trigger) when it ends.
        await db.keys.delete(1, key.id)
        assert (await db.keys.get_any(key.id)).api_key == API_KEY  # type: ignore[union-attr]
        await db.activations.set_status(live.id, "cancelled")
        rows = await db.connection.execute_fetchall("SELECT api_key_enc FROM api_keys")
        assert [bytes(row[0]) for row in rows] == [b""]
    finally:
        await db.close()


async def test_a_wrong_secret_is_refused_without_showing_the_password(
    postgres_url: str, cipher: KeyCipher, clock: Any
) -> None:
    from cryptography.fernet import Fernet

    from storage.crypto import SecretMismatch

    db = await Database.connect(postgres_url, cipher, clock=clock)
    await add_key(db, 1)
    await db.close()
    with pytest.raises(SecretMismatch) as caught:
        await Database.connect(
            postgres_url, KeyCipher([Fernet.generate_key().decode()]), clock=clock
        )
    assert "postgresql://" in str(caught.value)


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("SELECT a FROM t WHERE x = ? AND y = ?", "SELECT a FROM t WHERE x = $1 AND y = $2"),
        ("SELECT '?' , ?", "SELECT '?' , $1"),
        ("SELECT ?1, ?1, ?2", "SELECT $1, $1, $2"),
        (
            "INSERT OR IGNORE INTO users(id, created_at) VALUES (?, ?)",
            "INSERT INTO users(id, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        ),
        (
            "SELECT id FROM t WHERE id IN (SELECT value FROM json_each(?))",
            "SELECT id FROM t WHERE id = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)"
            "::bigint))",
        ),
        (
            "SELECT id FROM t WHERE id NOT IN (SELECT value FROM json_each(?))",
            "SELECT id FROM t WHERE id NOT IN"
            " (SELECT jsonb_array_elements_text($1::jsonb)::bigint)",
        ),
        ("UPDATE t SET n = MIN(n, ?)", "UPDATE t SET n = LEAST(n, $1)"),
        ("SELECT MIN(n) FROM t", "SELECT MIN(n) FROM t"),
        ("SELECT CAST((a - ?) / ? AS INTEGER)", "SELECT CAST(trunc((a - $1) / $2) AS BIGINT)"),
        ("UPDATE k SET enc = X''", "UPDATE k SET enc = '\\x'::bytea"),
    ],
)
def test_sqlite_statements_as_postgresql_runs_them(sqlite: str, postgres: str) -> None:
    assert to_postgres(sqlite) == postgres


def test_schema_types_as_postgresql_spells_them() -> None:
    ddl = ddl_to_postgres(
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL,"
        " at REAL, enc BLOB) WITHOUT ROWID"
    )
    assert ddl == (
        "CREATE TABLE t (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
        " user_id BIGINT NOT NULL, at DOUBLE PRECISION, enc BYTEA)"
    )
    assert numbered_placeholders("'it''s ?' ?") == "'it''s ?' $1"


async def test_sessions_lost_with_the_server_are_replaced(
    postgres_url: str, cipher: KeyCipher, clock: Any
) -> None:
    """A server restart (here: every session of the bot killed) costs the statements in flight
    at most; the next ones run on new sessions, no restart of the bot needed."""
    db = await Database.connect(postgres_url, cipher, clock=clock)
    try:
        await db.users.get_or_create(1, "en")
        admin = await asyncpg.connect(postgres_url)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        for _attempt in range(2):  # the first statement may still meet the dead session
            try:
                await db.users.update(1, language="ru")
                break
            except (
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                asyncpg.InternalClientError,
                OSError,
            ):
                continue
        user = await db.users.get(1)
        assert user is not None and user.language == "ru"
        assert (await db.background().users.get(1)) == user
    finally:
        await db.close()
