"""Fixtures for storage tests: a real SQLite file in tmp_path and a fresh Fernet secret."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from storage import Database, KeyCipher


@pytest.fixture
def secret() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def cipher(secret: str) -> KeyCipher:
    return KeyCipher([secret])


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "bot.db"


@pytest.fixture
async def db(db_path: Path, cipher: KeyCipher, clock: Any) -> AsyncIterator[Database]:
    database = await Database.open(db_path, cipher, clock=clock)
    try:
        yield database
    finally:
        await database.close()
