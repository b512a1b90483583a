"""The README's "try it without money" path: SANDBOX=true with no SANDBOX_URL runs the sandbox
inside the bot process and logs a demo key; the control API makes an SMS arrive."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.conftest import BotProcess, User, bot_env, wait_until_polling
from tests.e2e.fake_telegram import FakeTelegram
from tests.e2e.test_health import free_port
from tests.e2e.test_journeys import open_main_menu


async def demo_key(process: BotProcess, timeout: float = 90.0) -> str:
    for _ in range(int(timeout / 0.1)):
        match = re.search(r"demo API key: (\S+)", process.log())
        if match:
            return match.group(1)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no demo key in the log:\n{process.log()}")


async def test_embedded_sandbox_from_key_to_code(
    tmp_path: Path, telegram: FakeTelegram, provider: Any
) -> None:
    port = free_port()
    env = bot_env(tmp_path, telegram, provider)
    del env["SANDBOX_URL"]
    env["SANDBOX_PORT"] = str(port)
    process = BotProcess(env, tmp_path / "bot.log")
    process.start()
    try:
        await wait_until_polling(telegram, process)
        key = await demo_key(process)
        user = User(telegram, 5151)
        user.say("/start")
        await user.wait_text("Hello")
        await user.tap_when_shown("API keys")
        await user.tap_when_shown("Add a key")
        await user.tap_when_shown("Sandbox")
        await user.wait_text("API key as a message")
        user.say(key)
        await user.wait_text("Key added")
        await user.tap_when_shown("Keep this name")

        screen = await open_main_menu(user)
        user.tap("Buy number", message_id=screen)
        await user.wait_screen(screen, "Choose a service")
        user.tap("Telegram", message_id=screen)
        shown = await user.wait_screen(screen, "choose a country")
        user.tap(shown.labels()[0], message_id=screen)
        await user.wait_screen(screen, "Confirm the purchase")
        user.tap("Buy for", message_id=screen)
        await user.wait_text("Status: waiting for the SMS")

        # The README's curl call, made with aiohttp.
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{port}/control/keys/{key}/sms",
                json={"text": "Your code is 123456"},
            ) as response,
        ):
            assert response.status < 300, await response.text()
        await user.wait_text("123456", timeout=60)
        assert telegram.errors == [], telegram.describe()
    finally:
        await process.stop()
