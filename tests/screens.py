"""The screen tour: `docs/screens.md`, the English text of each main screen as the bot renders it.

Not written by hand: a chat is driven through the real dispatcher (the same ChatDriver and
RecordingSession the handler tests use, the sandbox provider, a fixed clock) and each screen is
recorded as the user sees it: the text without its HTML, then its buttons, row by row.

    python -m tests.screens           # writes docs/screens.md
    python -m tests.screens --check   # exit 1 when docs/screens.md is not what it would write

`tests/test_screens.py` runs the check, so the tour never goes stale: a change of any screen
means running the first command and committing the result.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from cryptography.fernet import Fernet

from bot.app import build_dispatcher, build_services
from bot.config import load_settings
from bot.presets import address_policy
from bot.provider.factory import ProviderFactory
from sandbox.server import SandboxServer
from sandbox.state import SandboxState
from tests.conftest import TEST_TOKEN, FakeClock
from tests.harness import ChatDriver, ChatMessage, RecordingSession

REPO = Path(__file__).resolve().parents[1]
SCREENS_MD = REPO / "docs" / "screens.md"
# A fixed key, so its masked tail is the same on every run.
TOUR_KEY = "sbx-tour-0000000000001234"
_TAG = re.compile(r"<[^>]+>")

HEADER = """# Screen tour

The English text of each main screen, as the bot renders it, recorded from a chat driven through
the real dispatcher with the sandbox provider (`python -m tests.screens`; do not edit by hand:
`tests/test_screens.py` checks that this file is what the script writes). Buttons follow each
text, one line per row.
"""


@dataclass(frozen=True, slots=True)
class Screen:
    title: str
    text: str
    rows: list[list[str]]


def plain(text: str) -> str:
    """The text as the user reads it: HTML tags gone, entities decoded."""
    return html.unescape(_TAG.sub("", text))


def capture(title: str, message: ChatMessage) -> Screen:
    markup = message.markup
    rows = [[b.text for b in row] for row in markup.inline_keyboard] if markup else []
    return Screen(title, plain(message.text), rows)


def render(screens: list[Screen]) -> str:
    parts = [HEADER]
    for screen in screens:
        parts.append(f"## {screen.title}\n")
        body = "\n".join([screen.text, *(_row(row) for row in screen.rows)])
        parts.append(f"```text\n{body}\n```\n")
    return "\n".join(parts)


def _row(labels: list[str]) -> str:
    return " ".join(f"[{label}]" for label in labels)


async def drive(chat: ChatDriver, sandbox: SandboxState) -> list[Screen]:
    """The tour itself: a new user's way from the welcome to a code, and the other screens."""
    screens: list[Screen] = []

    def shot(title: str) -> None:
        screens.append(capture(title, chat.last_bot_message()))

    await chat.send("/start")
    shot("Welcome (a new user)")
    await chat.tap("API keys")
    shot("API keys (none yet)")
    await chat.tap("Add a key")
    shot("Add a key: the provider")
    await chat.tap("Sandbox")
    shot("Add a key: send the key")
    await chat.send(TOUR_KEY)
    shot("Key added")
    await chat.tap("Keep this name")
    shot("The key")
    await chat.send("/keys")
    shot("API keys")
    await chat.send("/menu")
    shot("Main menu")
    await chat.tap("Buy number")
    shot("Buy: services")
    await chat.tap("Telegram")
    shot("Buy: countries")
    await chat.tap(_first_country(chat.last_bot_message()))
    shot("Buy: confirm")
    await chat.tap("Buy for")
    shot("The number's card")
    card = chat.last_bot_message()
    sandbox.deliver_sms_to_latest(TOUR_KEY, "Your Telegram code is 12345")
    await chat.tap("Refresh", card)
    screens.append(capture("The card with a code", card))
    await chat.send("/menu")
    await chat.tap("Rent number")
    shot("Rent number")
    await chat.send("/numbers")
    shot("My numbers")
    await chat.send("/balance")
    shot("Balance")
    await chat.send("/settings")
    shot("Settings")
    await chat.send("/help")
    shot("Help")
    sandbox.set_stock("62", "wa", 0)  # WhatsApp in Turkey sells out: watch it
    await chat.send("/buy")
    await chat.tap("WhatsApp")
    await chat.send("Turkey")
    shot("Buy: a country search, out of stock")
    await chat.tap("Turkey: out of stock")
    shot("Buy: confirm, out of stock")
    await chat.tap("🔔 Watch")
    shot("Watch: the draft")
    await chat.tap("Start watching")
    shot("Watch: armed")
    await chat.send("/menu")
    await chat.tap("Watches")
    shot("Watches")
    await chat.send("/settings")
    await chat.tap("Auto-replace")
    shot("Settings: auto-replace")
    await chat.send("/buy")
    await chat.tap("Telegram")  # the recent pick: its confirm screen at once
    await chat.tap("Auto-replace: off")
    shot("Buy: confirm, auto-replace on")
    await chat.send("/numbers")
    await chat.tap("Numbers on my provider account")
    shot("Numbers on my provider account")
    await chat.send("/keys")
    await chat.tap("Sandbox")
    await chat.tap("Low-balance notice")
    shot("Low-balance notice: the amount")
    return screens


def _first_country(message: ChatMessage) -> str:
    """The label of the first country offered (the cheapest), whatever the sandbox stocks."""
    return message.buttons()[0].text


async def record_tour() -> list[Screen]:
    """A fresh database, the sandbox and a fixed clock; the tour driven through them."""
    clock = FakeClock()
    state = SandboxState(clock=clock)
    state.create_key(balance="100", key=TOUR_KEY)
    server = SandboxServer(state, host="127.0.0.1", port=0)
    await server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(
                bot_token=TEST_TOKEN,
                database_path=Path(tmp) / "bot.db",
                secret_key=Fernet.generate_key().decode(),
                sandbox=True,
                sandbox_url=server.url,
                throttle_rate=0,
                provider_timeout=5,
            )
            providers = ProviderFactory(timeout=5, address_policy=address_policy(settings))
            services = await build_services(settings, clock=clock, providers=providers)
            bot = Bot(
                TEST_TOKEN,
                session=RecordingSession(),
                default=DefaultBotProperties(parse_mode=ParseMode.HTML),
            )
            try:
                dp = build_dispatcher(services, bot, with_tracker=False)
                return await drive(ChatDriver(dp, bot), state)
            finally:
                await services.close()
    finally:
        await server.stop()


def generate() -> str:
    return render(asyncio.run(record_tour()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        current = SCREENS_MD.read_text(encoding="utf-8") if SCREENS_MD.exists() else ""
        if current != text:
            print(f"{SCREENS_MD} is stale: run python -m tests.screens", file=sys.stderr)
            return 1
        return 0
    SCREENS_MD.write_text(text, encoding="utf-8")
    print(f"wrote {SCREENS_MD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
