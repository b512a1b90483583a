"""The real process in polling mode serves /healthz and /metrics on HEALTH_PORT."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.conftest import BotProcess, User, bot_env, wait_until_polling
from tests.e2e.fake_telegram import FakeTelegram
from tests.e2e.test_journeys import add_sandbox_key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_polling_mode_serves_health_and_provider_metrics(
    tmp_path: Path, telegram: FakeTelegram, provider: Any
) -> None:
    port = free_port()
    env = bot_env(tmp_path, telegram, provider) | {"HEALTH_PORT": str(port)}
    process = BotProcess(env, tmp_path / "bot.log")
    process.start()
    try:
        await wait_until_polling(telegram, process)
        # A key check is a getBalance call through the shared provider session.
        await add_sandbox_key(User(telegram, 4242), provider)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
                health = await response.json()
            for _ in range(50):
                async with http.get(f"{base}/metrics") as response:
                    assert response.status == 200
                    exposition = await response.text()
                if 'action="getBalance"' in exposition:
                    break
                await asyncio.sleep(0.1)
        assert health == {"status": "ok", "db": True, "tracker": True, "mode": "polling"}, health
        # Provider latency is observed per action by the session's trace config.
        assert 'action="getBalance"' in exposition, exposition[:2000]
        assert "api_key" not in exposition
    finally:
        await process.stop()
