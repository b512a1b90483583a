"""Fixtures shared by every test package.

Imports of the project's packages happen inside fixtures, so that a package under construction
never breaks the collection of another package's tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

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
def settings(tmp_path: Path, sandbox: Any) -> Any:
    from cryptography.fernet import Fernet

    from bot.config import load_settings

    return load_settings(
        bot_token=TEST_TOKEN,
        database_path=tmp_path / "bot.db",
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
