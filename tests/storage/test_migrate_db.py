"""`python -m bot migrate-db`: a populated SQLite install copied into PostgreSQL, keys still
encrypted, every row there, idempotent, nothing secret printed."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from bot import migrate_db
from storage import Database, KeyCipher
from storage.chains import ReplaceDefaults
from storage.history import HistoryFilter
from storage.url import sqlite_url
from tests.seeded_history import database_rows, seed_history
from tests.storage.helpers import add_key

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-never-printed"
NOW = 1_800_000_000.0


def _with_password(url: str) -> str:
    """The same server and database, with a password in the URL (the test server trusts
    local connections, so any password is accepted: what matters is that none is shown)."""
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{user}:{PASSWORD}@{host}", parts.path, parts.query, ""))


async def _populate(db: Database) -> dict[str, Any]:
    """Two users: numbers of every kind and outcome, a deleted key (its ciphertext erased), a
    balance, settings, picks, dialogue state, an open purchase intent, a watch."""
    key = await add_key(db, 1, "main", "first-secret-key-0123456789")
    seeded = await seed_history(db, 1, key.id, NOW)
    # Stored after the numbers (storing a number forgets the balance: money moved).
    await db.keys.update_balance(1, key.id, Decimal("12.50"), "RUB")
    await db.rentals.add_reminder(seeded.ids["rental_sms"], "1h")
    gone = await add_key(db, 2, "gone", "second-secret-key-0123456789")
    kept = await add_key(db, 2, "kept", "third-secret-key-0123456789")
    await db.keys.delete(2, gone.id)
    await db.users.update(2, language="ru", timezone="Europe/Moscow")
    await db.picks.add_favourite(2, "tg", "0")
    await db.picks.add_recent(2, "wa", "6")
    await db.fsm.put((1, 2, 2, 0, "", "default"), "Flow:amount", {"service": "tg"})
    token = await db.tokens.issue(2, "tg:0", price=Decimal("3"))
    await db.pending.open(
        token=token,
        offer="tg:0",
        user_id=2,
        key_id=kept.id,
        kind="activation",
        service="tg",
        country="0",
        chat_id=2,
    )
    await db.chains.set_defaults(2, ReplaceDefaults(enabled=True, attempts=2))
    await db.watches.add(
        user_id=2,
        key_id=kept.id,
        service="tg",
        country="0",
        max_price=Decimal("5"),
        auto_buy=False,
        chat_id=2,
        expires_at=NOW + 3600,
        limit=5,
    )
    return {"key": key, "seeded": seeded}


async def _counts(db: Database) -> dict[str, int]:
    tables = [
        "users", "api_keys", "activations", "activation_codes", "rentals", "rental_sms",
        "rental_periods", "rental_reminders", "pending_purchases", "offer_tokens",
        "favourites", "recents", "fsm_states", "replace_defaults", "watches",
    ]  # fmt: skip
    counts = {}
    for table in tables:
        rows = list(await db.connection.execute_fetchall(f"SELECT COUNT(*) FROM {table}"))
        counts[table] = int(rows[0][0])
    return counts


def _run_cli(*args: str) -> tuple[int, str, str]:
    """The command as `python -m bot migrate-db` runs it (its own event loop, in a thread)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = migrate_db.main(list(args))
    return code, out.getvalue(), err.getvalue()


async def test_a_populated_sqlite_install_is_copied_whole_and_once(
    tmp_path: Path, postgres_url: str, clock: Any, cipher: KeyCipher
) -> None:
    path = tmp_path / "data" / "bot.db"
    source = await Database.open(path, cipher, clock=clock)
    try:
        made = await _populate(source)
        expected_counts = await _counts(source)
        expected_rows = {user: await database_rows(source, user) for user in (1, 2)}
        expected_keys = {user: await source.keys.list(user) for user in (1, 2)}
        expected_history = await source.history.page(1, HistoryFilter(), offset=0, limit=20)
    finally:
        await source.close()
    assert all(expected_counts.values()), expected_counts  # every table has something to copy
    target_url = _with_password(postgres_url)

    code, out, err = await asyncio.to_thread(
        _run_cli, "--from", sqlite_url(path), "--to", target_url
    )
    assert code == 0, err
    assert PASSWORD not in out + err
    assert "copied" in out and "row counts verified" in out and "api_keys" in out
    assert f"{sum(expected_counts.values())}" in out  # at least: the total of these tables

    # The bot on PostgreSQL, with the same secret, sees the same install.
    db = await Database.connect(postgres_url, cipher, clock=clock)
    try:
        assert await _counts(db) == expected_counts
        for user in (1, 2):
            assert await database_rows(db, user) == expected_rows[user]
            assert await db.keys.list(user) == expected_keys[user]  # decrypted: copied as stored
        assert (await db.keys.get(1, made["key"].id)).balance == Decimal("12.50")  # type: ignore[union-attr]
        assert await db.history.page(1, HistoryFilter(), offset=0, limit=20) == expected_history
        raw = list(await db.connection.execute_fetchall("SELECT api_key_enc FROM api_keys"))
        assert all(b"secret-key" not in bytes(row[0]) for row in raw)  # encrypted, or erased
        # New rows continue after the copied ids.
        fresh = await add_key(db, 3)
        assert fresh.id > max(k.id for keys in expected_keys.values() for k in keys)
        await db.userdata.erase(3)
    finally:
        await db.close()

    # A second run copies nothing twice.
    code, out, err = await asyncio.to_thread(
        _run_cli, "--from", sqlite_url(path), "--to", target_url
    )
    assert code == 0, err
    assert "already copied" in out and PASSWORD not in out + err
    db = await Database.connect(postgres_url, cipher, clock=clock)
    try:
        assert await _counts(db) == expected_counts
    finally:
        await db.close()


async def test_a_database_holding_other_rows_is_refused_and_left_alone(
    tmp_path: Path, postgres_url: str, clock: Any, cipher: KeyCipher
) -> None:
    path = tmp_path / "bot.db"
    source = await Database.open(path, cipher, clock=clock)
    await add_key(source, 1)
    await source.close()
    target = await Database.connect(postgres_url, cipher, clock=clock)
    await add_key(target, 7)
    await add_key(target, 8)
    await target.close()

    code, out, err = await asyncio.to_thread(
        _run_cli, "--from", sqlite_url(path), "--to", _with_password(postgres_url)
    )
    assert code == 2 and out == ""
    assert "nothing copied" in err and PASSWORD not in err
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await conn.fetchval("SELECT COUNT(*) FROM api_keys") == 2
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "mysql://u:pw-never-printed@h/db"], "postgresql://"),
        (["--from", "sqlite:///no/such/bot.db", "--to", "postgresql://u:pw-never-printed@h/db"],
         "no SQLite database"),
        (["--from", "postgresql://h/a", "--to", "postgresql://u:pw-never-printed@h/db"],
         "copies a sqlite:///"),
    ],
)  # fmt: skip
def test_the_command_refuses_bad_arguments_in_one_line(
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "123456789:TEST-token-abcdefghijklmnopqrstuv")
    assert migrate_db.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and PASSWORD not in err
    assert len(err.strip().splitlines()) == 1


def test_python_m_bot_migrate_db_exits_with_the_command_s_status_and_line() -> None:
    env = {**os.environ, "BOT_TOKEN": "123456789:TEST-token-abcdefghijklmnopqrstuv"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "migrate-db", "--to", f"mysql://u:{PASSWORD}@h/db"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "postgresql://" in done.stderr and PASSWORD not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
