"""The whole bot on PostgreSQL (DATABASE_URL=postgresql://…): a new user's first start, their
key, a purchase and its code, through the chat as on SQLite; two taps of one Buy button at
once still buy one number."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from cryptography.fernet import Fernet

from bot.config import load_settings
from storage.dialect import Backend
from tests.conftest import TEST_TOKEN
from tests.handlers.conftest import add_sandbox_key
from tests.handlers.test_activation import buy_number


@pytest.fixture
def settings(postgres_url: str, sandbox: Any) -> Any:
    """The test settings of every handler test, but the data in a PostgreSQL database."""
    return load_settings(
        bot_token=TEST_TOKEN,
        database_url=postgres_url,
        secret_key=Fernet.generate_key().decode(),
        sandbox=True,
        sandbox_url=sandbox.url,
        throttle_rate=0,
        provider_timeout=5,
    )


async def test_first_start_key_buy_and_code_on_postgresql(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, tracker: Any
) -> None:
    assert services.db.backend is Backend.POSTGRES
    await chat.send("/start")
    await add_sandbox_key(chat, sandbox_key)
    keys = await services.db.keys.list(chat.user.id)
    assert [key.api_key for key in keys] == [sandbox_key]  # stored encrypted, read back

    card = await buy_number(chat)
    assert len(sandbox.state.purchases) == 1
    [number] = await services.db.activations.list_live(chat.user.id)
    assert f"<code>+{number.phone}</code>" in card.text

    sandbox.state.deliver_sms(number.provider_id, "Your code 424242")
    await tracker.tick()
    shown = chat.session.messages[(chat.chat_id, card.message_id)].text
    assert "<code>424242</code>" in shown
    assert await services.db.activations.undelivered_codes(number.id) == []
    texts_with_code = [t for t in chat.session.bot_texts(chat.chat_id) if "424242" in t]
    await tracker.tick()  # nothing new: the code is not delivered again
    assert [t for t in chat.session.bot_texts(chat.chat_id) if "424242" in t] == texts_with_code
    stored = await services.db.activations.get(chat.user.id, number.id)
    assert stored is not None and stored.status == "received"
    assert [code.code for code in stored.codes] == ["424242"]


async def test_concurrent_taps_of_one_buy_button_buy_one_on_postgresql(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, dp: Any, bot: Any
) -> None:
    await chat.send("/start")
    await add_sandbox_key(chat, sandbox_key)
    await chat.send("/buy")
    await chat.tap("Telegram")
    await chat.send("Poland")
    await chat.tap("Poland")
    confirm, button = chat.find_button("Buy for")
    updates = [chat.make_callback_update(button.callback_data, confirm) for _ in range(3)]
    await asyncio.gather(*(dp.feed_update(bot, update) for update in updates))
    assert len(sandbox.state.purchases) == 1
    assert len(await services.db.activations.list_live(chat.user.id)) == 1
