"""Data at rest: the database files are private, a deleted key leaves no ciphertext behind, and
every money movement makes the stored balance unknown (it is asked again when shown)."""

from __future__ import annotations

import os
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from storage import Database, KeyCipher
from tests.storage.helpers import add_activation, add_key, add_rental


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _database_files(db_path: Path) -> list[Path]:
    return [db_path, db_path.with_name(db_path.name + "-wal"), db_path.with_name("bot.db-shm")]


async def _ciphertext(db: Database, key_id: int) -> bytes:
    async with db.connection.execute(
        "SELECT api_key_enc FROM api_keys WHERE id = ?", (key_id,)
    ) as cur:
        row = await cur.fetchone()
    assert row is not None
    return bytes(row[0])


def _raw_bytes(db_path: Path) -> bytes:
    return b"".join(path.read_bytes() for path in _database_files(db_path) if path.exists())


async def test_database_and_its_wal_are_created_private(
    db_path: Path, cipher: KeyCipher, clock: Any
) -> None:
    old_umask = os.umask(0o022)  # the usual umask: files would be 0644
    try:
        db = await Database.open(db_path, cipher, clock=clock)
        try:
            await add_key(db, 1)  # something written: the WAL and its index exist
            for path in _database_files(db_path):
                assert path.exists() and _mode(path) == 0o600, path
        finally:
            await db.close()
    finally:
        os.umask(old_umask)


async def test_a_world_readable_database_is_made_private(
    db_path: Path, cipher: KeyCipher, clock: Any
) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.touch(mode=0o644)
    os.chmod(db_path, 0o644)
    db = await Database.open(db_path, cipher, clock=clock)
    await db.close()
    assert _mode(db_path) == 0o600


@pytest.mark.sqlite_only  # the file on disk (the erase itself: test_postgres.py)
async def test_deleting_a_key_erases_its_ciphertext(db: Database, db_path: Path) -> None:
    key = await add_key(db, 1, "main", "secret-key-0123456789abcdef")
    ciphertext = await _ciphertext(db, key.id)
    assert ciphertext in _raw_bytes(db_path)  # the check below can see it when it is there

    assert await db.keys.delete(1, key.id) is True
    assert ciphertext not in _raw_bytes(db_path)
    assert await _ciphertext(db, key.id) == b""
    # The row stays for the history: its label is still there, the secret is not.
    kept = await db.keys.get_any(key.id)
    assert kept is not None and kept.label == "main" and kept.deleted and kept.api_key == ""


async def test_a_deleted_key_is_kept_until_its_live_number_ends(
    db: Database, db_path: Path
) -> None:
    key = await add_key(db, 1, "main", "secret-key-0123456789abcdef")
    live = await add_activation(db, 1, key.id)
    rental = await add_rental(db, 1, key.id)
    ciphertext = await _ciphertext(db, key.id)
    await db.keys.delete(1, key.id)
    # The tracker still needs the key to poll and cancel the live numbers.
    hidden = await db.keys.get_any(key.id)
    assert hidden is not None and hidden.api_key == "secret-key-0123456789abcdef"

    await db.activations.set_status(live.id, "cancelled")
    assert await _ciphertext(db, key.id) == ciphertext  # the rental is still live
    await db.rentals.set_status(rental.id, "finished")
    assert await _ciphertext(db, key.id) == b""
    assert (await db.keys.get_any(key.id)).api_key == ""  # type: ignore[union-attr]


async def test_erased_keys_do_not_hide_a_secret_mismatch(
    db_url: str, cipher: KeyCipher, clock: Any
) -> None:
    db = await Database.connect(db_url, cipher, clock=clock)
    first = await add_key(db, 1, "old")
    await add_key(db, 1, "new")
    await db.keys.delete(1, first.id)
    assert await db.keys.first_encrypted() == await _ciphertext(db, first.id + 1)
    await db.close()


async def _balance(db: Database, key_id: int) -> Decimal | None:
    key = await db.keys.get_any(key_id)
    assert key is not None
    return key.balance


async def test_every_money_movement_forgets_the_stored_balance(db: Database) -> None:
    key = await add_key(db, 1)

    async def known() -> None:
        await db.keys.update_balance(1, key.id, Decimal("100"), "RUB")
        assert await _balance(db, key.id) == Decimal("100")

    await known()
    activation = await add_activation(db, 1, key.id)  # a purchase
    assert await _balance(db, key.id) is None
    await known()
    await db.activations.set_sms_sent(activation.id)  # no money moved: the balance stays
    assert await _balance(db, key.id) == Decimal("100")
    await db.activations.set_status(activation.id, "cancelled")  # a refund
    assert await _balance(db, key.id) is None

    await known()
    rental = await add_rental(db, 1, key.id)  # a rent
    assert await _balance(db, key.id) is None
    await known()
    await db.rentals.extend(rental.id, rental.ends_at + 3600, 1)  # an extension
    assert await _balance(db, key.id) is None
    await known()
    await db.rentals.set_status(rental.id, "cancelled")  # a refund
    assert await _balance(db, key.id) is None
