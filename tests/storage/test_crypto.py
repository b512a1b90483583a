"""Secrets: loading from SECRET_KEY or a 0600 file, rotation, masking, and keys at rest."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from storage import Database, KeyCipher, SecretKeyError, SecretMismatch, load_secrets
from tests.storage.helpers import API_KEY, add_key


def test_secret_key_single_and_several(tmp_path: Path) -> None:
    new, old = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert load_secrets(new, None, tmp_path / "bot.db") == [new]
    assert load_secrets(f" {new} , {old} ", None, tmp_path / "bot.db") == [new, old]
    assert not (tmp_path / "secret.key").exists()  # SECRET_KEY given: no file is created


def test_invalid_secret_key_names_secret_key_without_leaking_it(tmp_path: Path) -> None:
    bad = "not-a-fernet-key-but-a-secret-value"
    with pytest.raises(SecretKeyError) as info:
        load_secrets(bad, None, tmp_path / "bot.db")
    message = str(info.value)
    assert "SECRET_KEY" in message
    assert bad not in message


def test_second_of_several_invalid_is_reported(tmp_path: Path) -> None:
    good = Fernet.generate_key().decode()
    with pytest.raises(SecretKeyError, match=r"SECRET_KEY \(key 2 of 2\)"):
        load_secrets(f"{good},short", None, tmp_path / "bot.db")


def test_secret_file_created_0600_and_reused(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # even with a permissive umask the file must be private
    try:
        first = load_secrets(None, None, tmp_path / "db" / "bot.db")
    finally:
        os.umask(old_umask)
    path = tmp_path / "db" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 1
    Fernet(first[0].encode())  # a valid key
    assert load_secrets("", None, tmp_path / "db" / "bot.db") == first
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temp file left


def test_explicit_secret_file_is_used(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere" / "my.key"
    created = load_secrets(None, path, tmp_path / "bot.db")
    assert path.read_text().strip() == created[0]
    assert not (tmp_path / "secret.key").exists()


def test_corrupt_secret_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_text("garbage\n")
    with pytest.raises(SecretKeyError, match="secret file"):
        load_secrets(None, None, tmp_path / "bot.db")


def test_cipher_round_trip_and_rotation(secret: str) -> None:
    old = KeyCipher([secret])
    token = old.encrypt(API_KEY)
    assert API_KEY.encode() not in token
    rotated = KeyCipher([Fernet.generate_key().decode(), secret])
    assert rotated.decrypt(token) == API_KEY
    with pytest.raises(SecretMismatch):
        KeyCipher([Fernet.generate_key().decode()]).decrypt(token)


def test_new_secret_encrypts_old_cannot_read_it(secret: str) -> None:
    rotated = KeyCipher([Fernet.generate_key().decode(), secret])
    with pytest.raises(SecretMismatch):
        KeyCipher([secret]).decrypt(rotated.encrypt(API_KEY))


async def test_key_profile_repr_masks_key(db: Database) -> None:
    key = await add_key(db, 1)
    for text in (repr(key), str(key), repr([key])):
        assert API_KEY not in text
        assert API_KEY[-4:] in text
    stored = await db.keys.get(1, key.id)
    assert stored is not None and stored.api_key == API_KEY
    assert API_KEY not in repr(stored)


@pytest.mark.sqlite_only  # the file and its log on disk (PostgreSQL: test_postgres.py)
async def test_database_file_never_holds_plain_key(db: Database, db_path: Path) -> None:
    for user_id in range(1, 6):
        await add_key(db, user_id)
    # WAL mode: freshly written pages live in the -wal file; check both files raw.
    files = [db_path, db_path.with_name(db_path.name + "-wal")]
    assert files[1].exists()
    for path in files:
        raw = path.read_bytes()
        assert API_KEY.encode() not in raw
        assert API_KEY.encode("utf-16-le") not in raw
    await db.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert API_KEY.encode() not in db_path.read_bytes()
    # The ciphertext is really there (the test would pass vacuously on an empty table).
    count = await (await db.connection.execute("SELECT COUNT(*) FROM api_keys")).fetchone()
    assert count[0] == 5


async def test_old_secret_reads_after_new_secret_put_in_front(
    db_url: str, secret: str, clock: Any
) -> None:
    db = await Database.connect(db_url, KeyCipher([secret]), clock=clock)
    key = await add_key(db, 7)
    await db.close()

    rotated = KeyCipher([Fernet.generate_key().decode(), secret])
    db = await Database.connect(db_url, rotated, clock=clock)
    try:
        stored = await db.keys.get(7, key.id)
        assert stored is not None and stored.api_key == API_KEY
        newer = await add_key(db, 7, label="second", api_key="second-key-0000")
        assert (await db.keys.get(7, newer.id)).api_key == "second-key-0000"  # type: ignore[union-attr]
    finally:
        await db.close()


async def test_wrong_secret_raises_secret_mismatch(db_url: str, secret: str, clock: Any) -> None:
    db = await Database.connect(db_url, KeyCipher([secret]), clock=clock)
    await add_key(db, 7)
    await db.close()

    with pytest.raises(SecretMismatch) as info:
        await Database.connect(db_url, KeyCipher([Fernet.generate_key().decode()]), clock=clock)
    message = str(info.value)
    assert "\n" not in message and "SECRET_KEY" in message
    assert API_KEY not in message and secret not in message
    # The failed open released the file (or sessions): the right secret still opens it.
    db = await Database.connect(db_url, KeyCipher([secret]), clock=clock)
    await db.close()


async def test_empty_database_opens_with_any_secret(db_url: str, clock: Any) -> None:
    for _ in range(2):
        db = await Database.connect(
            db_url, KeyCipher([Fernet.generate_key().decode()]), clock=clock
        )
        await db.close()
