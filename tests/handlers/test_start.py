"""/start, the main menu, /cancel and the menu's way back."""

from __future__ import annotations

from typing import Any

from handlers.common import MENU_ACTIONS, MenuCb
from tests.harness import ChatDriver


def _menu_data(chat: ChatDriver) -> set[str]:
    return {b.callback_data or "" for b in chat.last_bot_message().buttons()}


async def test_start_shows_welcome_and_every_menu_entry(chat: ChatDriver) -> None:
    await chat.send("/start")
    text = chat.last_text
    assert "Hello, Alice" in text and "no API key yet" in text
    expected = {MenuCb(action=a).pack() for a in MENU_ACTIONS if a != "main"}
    assert _menu_data(chat) == expected


async def test_start_with_a_key_names_the_active_key(keyed_chat: ChatDriver) -> None:
    await keyed_chat.send("/start")
    assert "Welcome back" in keyed_chat.last_text
    assert "Active key" in keyed_chat.last_text and "100.00" in keyed_chat.last_text


async def test_first_name_is_escaped(dp: Any, bot: Any) -> None:
    chat = ChatDriver(dp, bot, user_id=333)
    chat.user = chat.user.model_copy(update={"first_name": "<i>Eve</i>"})
    await chat.send("/start")
    assert "&lt;i&gt;Eve&lt;/i&gt;" in chat.last_text


async def test_cancel_leaves_the_key_input(chat: ChatDriver, sandbox: Any, sandbox_key: str):
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    await chat.send("/cancel")
    assert "Cancelled" in chat.last_text
    before = len(sandbox.state.requests)
    await chat.send(sandbox_key)  # no longer awaited: not taken, and not left in the chat
    assert "looked like an API key" in chat.last_text
    assert len(sandbox.state.requests) == before
    await chat.send("just some words")
    assert "did not expect a message" in chat.last_text


async def test_cancel_without_input(chat: ChatDriver) -> None:
    await chat.send("/cancel")
    assert "Nothing to cancel" in chat.last_text
    assert MenuCb(action="buy").pack() in _menu_data(chat)


async def test_the_cancel_button_of_an_input_screen_returns_to_the_menu(
    chat: ChatDriver, sandbox: Any, sandbox_key: str
) -> None:
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    answer = await chat.tap("Cancel")
    assert answer is not None
    assert "Main menu" in chat.last_text
    await chat.send(sandbox_key)
    assert "looked like an API key" in chat.last_text


async def test_every_screen_has_a_way_back(keyed_chat: ChatDriver) -> None:
    chat = keyed_chat
    for entry in ("API keys", "Balance", "My numbers", "Settings", "Help"):
        await chat.send("/menu")
        await chat.tap(entry)
        answer = await chat.tap("Main menu", chat.last_bot_message())
        assert answer is not None
        assert "<b>Main menu</b>" in chat.last_text, entry
