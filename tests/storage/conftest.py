"""Fixtures for storage tests: the contract tests run on both backends (`backend`: a real
SQLite file in tmp_path, and a fresh database on the suite's PostgreSQL server), with a fresh
Fernet secret. A test about SQLite itself (its file, WAL, query plans) is marked
`sqlite_only`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from storage import Database, KeyCipher
from storage.dialect import Backend
from storage.url import sqlite_url

SQLITE_ONLY = "sqlite_only"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{SQLITE_ONLY}: a storage test about SQLite itself, not the contract"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    only_sqlite = metafunc.definition.get_closest_marker(SQLITE_ONLY) is not None
    backends = [Backend.SQLITE] if only_sqlite else [Backend.SQLITE, Backend.POSTGRES]
    metafunc.parametrize("backend", backends, ids=[str(backend) for backend in backends])


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
def db_url(backend: Backend, db_path: Path, request: pytest.FixtureRequest) -> str:
    """Where the test's database lives, as a DATABASE_URL."""
    if backend is Backend.SQLITE:
        return sqlite_url(db_path)
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def db(db_url: str, cipher: KeyCipher, clock: Any) -> AsyncIterator[Database]:
    database = await Database.connect(db_url, cipher, clock=clock)
    try:
        yield database
    finally:
        await database.close()
