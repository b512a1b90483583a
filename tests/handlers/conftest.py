"""Fixtures for handler tests: a chat that has done /start and added a sandbox key.

`keyed_chat` is shared with every handler test (buy, activation, rent): a ChatDriver whose user
ran /start and added the sandbox key (`sandbox_key`, balance 100) through the real key flow.
"""

from __future__ import annotations

from typing import Any

import pytest


async def add_sandbox_key(chat: Any, api_key: str, label: str | None = None) -> None:
    """Walk the add-key flow as a user: API keys -> Add -> Sandbox -> send key -> name."""
    await chat.send("/keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    await chat.send(api_key)
    if label is None:
        await chat.tap("Keep this name")
    else:
        await chat.send(label)


@pytest.fixture
async def keyed_chat(chat: Any, sandbox_key: str) -> Any:
    await chat.send("/start")
    await add_sandbox_key(chat, sandbox_key)
    return chat


def leaked(chat: Any, secret: str) -> list[str]:
    """Every text the bot sent, edited in, or answered a tap with, that contains `secret`."""
    return [text for text in chat.session.bot_texts(chat.chat_id) if secret in text]
