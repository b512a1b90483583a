"""The real `python -m bot` with REDIS_URL: a replica killed (`kill -9`) mid-flow, and the
user's next message, taken by another process of the same bot, continues the flow from the
state in Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis.asyncio import Redis

# The end-to-end fixtures (the fake Telegram server, the sandbox), shared with tests/e2e.
from tests.e2e.conftest import (  # noqa: F401
    BotProcess,
    User,
    bot_env,
    provider,
    telegram,
    wait_until_polling,
)
from tests.e2e.fake_telegram import FakeTelegram

ALICE = 1001


async def test_a_flow_survives_its_replica_killed_mid_flow(
    tmp_path: Path,
    telegram: FakeTelegram,  # noqa: F811
    provider: Any,  # noqa: F811
    redis: Redis,
    redis_url: str,
) -> None:
    env = {**bot_env(tmp_path, telegram, provider), "REDIS_URL": redis_url}
    first = BotProcess(env, tmp_path / "first.log")
    second = BotProcess(env, tmp_path / "second.log")
    try:
        first.start()
        await wait_until_polling(telegram, first)
        alice = User(telegram, ALICE)
        alice.say("/start")
        await alice.wait_text("Hello")
        await alice.tap_when_shown("API keys")
        await alice.tap_when_shown("Add a key")
        await alice.tap_when_shown("Sandbox")
        await alice.wait_text("API key as a message")
        assert await redis.keys("sms-bot:*:fsm:*")  # the screen awaiting the key is in Redis
        await first.kill()

        second.start()
        await wait_until_polling(telegram, second)
        alice.say(provider.state.create_key(balance="100"))
        await alice.wait_text("Key added")
        assert telegram.errors == [], telegram.describe()
        # A clean stop closes the Redis client with the rest: no traceback, exit code 0.
        assert await second.stop() == 0, second.log()
        assert "Traceback" not in second.log()
    finally:
        await first.stop()
        await second.stop()
