"""A message carrying an API key never stays in the chat: the "send your key" screen survives a
restart (the dialogue state is in the database), and a key pasted anywhere else is deleted with
a word of why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiogram.types import Message, Update

from bot.accounts import looks_like_api_key
from tests.harness import ChatDriver, ChatMessage

GRIZZLY_LIKE = "d4f1e2c3b4a5968778695a4b3c2d1e0f"


def _user_message(chat: ChatDriver, text: str) -> ChatMessage:
    [message] = [
        m
        for m in chat.session.messages.values()
        if not m.from_bot and m.chat_id == chat.chat_id and m.text == text
    ]
    return message


async def test_a_key_pasted_after_a_restart_is_taken_and_deleted(
    settings: Any, clock: Any, bot: Any, sandbox: Any, sandbox_key: str
) -> None:
    from bot.app import build_dispatcher, build_services

    before = await build_services(settings, clock=clock)
    chat = ChatDriver(build_dispatcher(before, bot, with_tracker=False), bot)
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    assert "send" in chat.last_text.lower()
    await before.close()  # the bot restarts while the prompt waits

    after = await build_services(settings, clock=clock)
    try:
        chat = ChatDriver(build_dispatcher(after, bot, with_tracker=False), bot)
        await chat.send(sandbox_key)
        assert _user_message(chat, sandbox_key).deleted
        keys = await after.db.keys.list(chat.user.id)
        assert [key.api_key for key in keys] == [sandbox_key]
    finally:
        await after.close()


async def test_a_key_pasted_where_none_was_asked_is_deleted(
    chat: ChatDriver, sandbox: Any, sandbox_key: str, services: Any
) -> None:
    await chat.send("/start")
    requests = len(sandbox.state.requests)
    for text in (sandbox_key, f"my key is {GRIZZLY_LIKE}, right?"):
        await chat.send(text)
        assert _user_message(chat, text).deleted
        assert "looked like an API key" in chat.last_text
    # Never sent to a provider, never stored.
    assert len(sandbox.state.requests) == requests
    assert await services.db.keys.list(chat.user.id) == []


async def test_an_edit_that_adds_a_key_is_deleted(chat: ChatDriver) -> None:
    await chat.send("hello")
    shown = _user_message(chat, "hello")
    edited = Message(
        message_id=shown.message_id,
        date=datetime.now(tz=UTC),
        edit_date=int(datetime.now(tz=UTC).timestamp()),
        chat=chat._chat(),
        from_user=chat.user,
        text=f"hello {GRIZZLY_LIKE}",
    )
    await chat.dp.feed_update(chat.bot, Update(update_id=777, edited_message=edited))
    assert shown.deleted
    assert "looked like an API key" in chat.last_text


async def test_the_notice_speaks_the_users_language(
    dp: Any, bot: Any, services: Any, sandbox_key: str
) -> None:
    chat = ChatDriver(dp, bot, user_id=515, language="ru")
    await chat.send(sandbox_key)
    assert "API-ключ" in chat.last_text


async def test_ordinary_messages_stay(chat: ChatDriver) -> None:
    await chat.send("/start")
    for text in ("hello there", "+79991234567", "My main key", "whatsapp", "28.80"):
        await chat.send(text)
        assert not _user_message(chat, text).deleted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GRIZZLY_LIKE, True),
        ("sbx-0123456789abcdef01234567", True),
        (f"https://api.grizzlysms.com/stubs/handler_api.php?api_key={GRIZZLY_LIKE}", True),
        ("Telegram", False),
        ("79991234567", False),
        ("https://example.com/stubs/handler_api.php", False),
        ("a-label-that-is-long-but-has-no-digits", False),
        ("12345678901234567890123456", False),
        ("", False),
    ],
)
def test_what_looks_like_an_api_key(text: str, expected: bool) -> None:
    assert looks_like_api_key(text) is expected


async def test_a_key_pasted_at_another_input_screen_is_deleted_not_taken(
    chat: ChatDriver, sandbox_key: str, services: Any
) -> None:
    from tests.handlers.conftest import add_sandbox_key

    await add_sandbox_key(chat, sandbox_key)
    await chat.tap("Rename")  # a screen that awaits text, but not a key
    await chat.send(GRIZZLY_LIKE)
    assert _user_message(chat, GRIZZLY_LIKE).deleted
    assert "looked like an API key" in chat.last_text
    [key] = await services.db.keys.list(chat.user.id)
    assert key.label != GRIZZLY_LIKE


async def test_a_suspended_users_key_is_deleted_too(chat: ChatDriver, services: Any) -> None:
    await services.db.users.set_suspended(chat.user.id, True)
    await chat.send(GRIZZLY_LIKE)  # refused before any handler: the guard still deletes it
    assert _user_message(chat, GRIZZLY_LIKE).deleted
    assert "looked like an API key" in chat.last_text
