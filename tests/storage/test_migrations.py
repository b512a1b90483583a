"""Schema migrations: from empty, from the previous version, and a re-run that changes nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from storage import Database, KeyCipher
from storage.migrations import LATEST_VERSION, current_version, migrate
from tests.storage.helpers import API_KEY


async def _schema(path: Path) -> list[tuple[Any, ...]]:
    async with aiosqlite.connect(path) as conn:
        cur = await conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name")
        return [tuple(row) for row in await cur.fetchall()]


async def _versions(path: Path) -> list[tuple[Any, ...]]:
    async with aiosqlite.connect(path) as conn:
        cur = await conn.execute("SELECT version, applied_at FROM schema_version ORDER BY version")
        return [tuple(row) for row in await cur.fetchall()]


@pytest.mark.sqlite_only  # reads sqlite_master (PostgreSQL: test_postgres.py)
async def test_from_empty_reaches_latest(db: Database, db_path: Path) -> None:
    assert LATEST_VERSION >= 2
    assert await db.schema_version() == LATEST_VERSION
    names = {row[1] for row in await _schema(db_path)}
    for table in (
        "users",
        "api_keys",
        "offer_tokens",
        "activations",
        "activation_codes",
        "rentals",
        "rental_sms",
        "rental_reminders",
        "pending_purchases",
        "favourites",
        "recents",
        "ix_activations_live",
        "ix_rentals_poll",
    ):
        assert table in names
    assert "ix_activations_poll" not in names  # next polls live in the tracker's memory
    assert [v for v, _ in await _versions(db_path)] == list(range(1, LATEST_VERSION + 1))


@pytest.mark.sqlite_only  # SQLite PRAGMAs
async def test_connection_settings(db: Database) -> None:
    conn = db.connection
    assert (await (await conn.execute("PRAGMA journal_mode")).fetchone())[0] == "wal"
    assert (await (await conn.execute("PRAGMA foreign_keys")).fetchone())[0] == 1
    assert (await (await conn.execute("PRAGMA busy_timeout")).fetchone())[0] == 5000


async def test_reopen_changes_nothing(db_path: Path, cipher: KeyCipher, clock: Any) -> None:
    db = await Database.open(db_path, cipher, clock=clock)
    await db.keys.add(1, label="k", base_url="https://p.test", api_key=API_KEY)
    await db.close()
    schema, versions = await _schema(db_path), await _versions(db_path)

    clock.advance(3600)  # a re-run would record a different applied_at
    db = await Database.open(db_path, cipher, clock=clock)
    try:
        assert len(await db.keys.list(1)) == 1
        assert await migrate(db.connection, clock=clock) == []  # nothing left to apply
    finally:
        await db.close()
    assert await _schema(db_path) == schema
    assert await _versions(db_path) == versions


async def test_upgrade_from_v1_keeps_data(db_path: Path, cipher: KeyCipher, clock: Any) -> None:
    db_path.parent.mkdir(parents=True)
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        assert await migrate(conn, target=1, clock=clock) == [1]
        assert await current_version(conn) == 1
        await conn.execute("INSERT INTO users(id, language, created_at) VALUES (42, 'ru', 1.0)")
        await conn.execute(
            "INSERT INTO api_keys(user_id, label, base_url, api_key_enc, active, balance,"
            " created_at) VALUES (42, 'old', 'https://p.test', ?, 1, '12.50', 2.0)",
            (cipher.encrypt(API_KEY),),
        )
        await conn.execute(
            "INSERT INTO activations(user_id, key_id, provider_id, service, country, phone,"
            " cost, status, created_at, ends_at, cancel_allowed_at, next_poll_at)"
            " VALUES (42, 1, '0007', 'tg', '0', '79990001122', '0.15', 'waiting', 10, 1210,"
            " 130, 10)"
        )
        await conn.execute(
            "INSERT INTO activation_codes(activation_id, round, code, received_at)"
            " VALUES (1, 0, '12345', 20)"
        )
        await conn.execute(
            "INSERT INTO rentals(user_id, key_id, provider_id, service, country, phone, hours,"
            " created_at, ends_at, next_poll_at) VALUES (42, 1, 'r1', 'tg', '0', '7999', 4,"
            " 10, 14410, 10)"
        )
        names = {
            row[0]
            for row in await (await conn.execute("SELECT name FROM sqlite_master")).fetchall()
        }
        assert "rental_reminders" not in names and "pending_purchases" not in names

    db = await Database.open(db_path, cipher, clock=clock)
    try:
        assert await db.schema_version() == LATEST_VERSION
        user = await db.users.get(42)
        assert user is not None and user.language == "ru"
        key = await db.keys.get_active(42)
        assert key is not None and key.api_key == API_KEY and str(key.balance) == "12.50"
        activation = await db.activations.get(42, 1)
        assert activation is not None and activation.provider_id == "0007"
        assert [c.code for c in activation.codes] == ["12345"]
        assert str(activation.cost) == "0.15"
        # New v2 tables work on the upgraded data.
        assert await db.rentals.add_reminder(1, "3600") is True
        assert (await db.rentals.get(42, 1)).reminders_sent == frozenset({"3600"})  # type: ignore[union-attr]
        pending = await db.pending.add(user_id=42, key_id=1, service="tg", country="0", chat_id=5)
        assert [p.id for p in await db.pending.list_all()] == [pending.id]
    finally:
        await db.close()


async def test_two_opens_at_once_migrate_once(db_path: Path, cipher: KeyCipher, clock: Any) -> None:
    import asyncio

    first, second = await asyncio.gather(
        Database.open(db_path, cipher, clock=clock), Database.open(db_path, cipher, clock=clock)
    )
    await first.close()
    await second.close()
    assert [v for v, _ in await _versions(db_path)] == list(range(1, LATEST_VERSION + 1))


async def test_failed_step_rolls_back_whole_step(db_path: Path, clock: Any) -> None:
    db_path.parent.mkdir(parents=True)
    broken = (("CREATE TABLE a (x INTEGER)",), ("CREATE TABLE b (x INTEGER)", "NOT SQL"))
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        with pytest.raises(aiosqlite.OperationalError):
            await migrate(conn, target=2, steps=broken, clock=clock)
        assert await current_version(conn) == 1
        names = {
            r[0] for r in await (await conn.execute("SELECT name FROM sqlite_master")).fetchall()
        }
        assert "a" in names and "b" not in names


async def test_v5_gives_every_existing_rental_its_first_period(
    db_path: Path, cipher: KeyCipher, clock: Any
) -> None:
    db_path.parent.mkdir(parents=True)
    async with aiosqlite.connect(db_path, isolation_level=None) as conn:
        await migrate(conn, target=4, clock=clock)
        await conn.execute("INSERT INTO users(id, language, created_at) VALUES (42, 'ru', 1.0)")
        await conn.execute(
            "INSERT INTO api_keys(user_id, label, base_url, api_key_enc, active, currency,"
            " created_at) VALUES (42, 'old', 'https://p.test', ?, 1, 'RUB', 2.0)",
            (cipher.encrypt(API_KEY),),
        )
        await conn.execute(
            "INSERT INTO rentals(user_id, key_id, provider_id, service, country, phone, hours,"
            " cost, created_at, ends_at, next_poll_at) VALUES (42, 1, 'r1', 'tg', '0', '7999',"
            " 4, '8.5', 10, 14410, 10)"
        )
    db = await Database.open(db_path, cipher, clock=clock)
    try:
        rental = await db.rentals.get(42, 1)
        assert rental is not None
        periods = [
            (p.kind, p.hours, p.cost, p.currency, p.paid_at, p.ends_at) for p in rental.periods
        ]
        assert periods == [("rent", 4, Decimal("8.5"), "RUB", 10.0, 14410.0)]
        assert rental.paid_total == Decimal("8.5") and rental.paid_known
    finally:
        await db.close()
