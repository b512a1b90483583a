"""The balance shown after money moved: the main menu and the key list never keep the figure
from before a purchase (the stored balance is forgotten and asked again when shown)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.handlers.test_buy import open_confirm


@pytest.fixture
async def keyed(services: Any, sandbox: Any, sandbox_key: str, chat: Any) -> Any:
    await services.accounts.add_key(
        chat.user.id, base_url=sandbox.url, api_key=sandbox_key, label="test"
    )
    return chat


async def test_after_a_purchase_the_menu_and_key_list_show_the_new_balance(
    keyed: Any,
    sandbox: Any,
    sandbox_key: str,
) -> None:
    chat = keyed
    await chat.send("/start")
    assert "100.00" in chat.last_text
    await open_confirm(chat)
    await chat.tap("Buy for")
    assert sandbox.state.balance(sandbox_key) == Decimal("71.20")

    await chat.send("/start")
    assert "71.20" in chat.last_text and "100.00" not in chat.last_text
    await chat.send("/keys")
    assert "71.20" in chat.last_text and "100.00" not in chat.last_text


async def test_an_unreachable_provider_shows_no_stale_figure(
    keyed: Any,
    sandbox: Any,
    services: Any,
) -> None:
    chat = keyed
    await open_confirm(chat)
    await chat.tap("Buy for")
    await sandbox.stop()  # the balance cannot be asked again
    await chat.send("/start")
    assert "100.00" not in chat.last_text and "—" in chat.last_text
