"""Balance of the active key, refresh, and each getBalance error as its sentence."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import ChatDriver


async def test_balance_and_refresh(keyed_chat: ChatDriver, sandbox: Any, sandbox_key: str):
    chat = keyed_chat
    await chat.send("/balance")
    assert "Balance: 100.00" in chat.last_text
    sandbox.state.set_balance(sandbox_key, "42.25")
    answer = await chat.tap("Refresh")
    assert answer is not None and "updated" in (answer.text or "")
    assert "Balance: 42.25" in chat.last_text
    # The refreshed balance is stored: the key list shows it without asking the provider.
    await chat.send("/keys")
    assert "42.25" in chat.last_text


async def test_balance_from_the_menu(keyed_chat: ChatDriver) -> None:
    await keyed_chat.send("/menu")
    await keyed_chat.tap("Balance")
    assert "Balance: 100.00" in keyed_chat.last_text


async def test_balance_without_a_key_offers_to_add_one(chat: ChatDriver) -> None:
    await chat.send("/balance")
    assert "no API key yet" in chat.last_text
    await chat.tap("Add a key")
    assert "Choose your provider" in chat.last_text


@pytest.mark.parametrize(
    ("breakage", "sentence"),
    [
        # the ban's end in the sandbox preset's zone (UTC), shown in the user's, labelled (item 9)
        ("ban", "blocked this account until 2030-01-01 00:00 UTC"),
        ("geo", "not sold to your region"),
        ("revoke", "rejected this API key"),
        ("html502", "not answering right now"),
        ("rate_limit", "slow down"),
    ],
)
async def test_provider_errors_on_refresh(
    keyed_chat: ChatDriver, sandbox: Any, sandbox_key: str, breakage: str, sentence: str
) -> None:
    chat = keyed_chat
    await chat.send("/balance")
    state = sandbox.state
    if breakage == "ban":
        state.ban(sandbox_key)
    elif breakage == "geo":
        state.geo_block(sandbox_key)
    elif breakage == "revoke":
        state.accounts.pop(sandbox_key)
    elif breakage == "rate_limit":
        # A wait longer than the client ever sits out (MAX_RETRY_WAIT): said at once.
        state.inject_fault(breakage, action="getBalance", count=10, retry_after=60)
    else:
        state.inject_fault(breakage, action="getBalance", count=10)
    answer = await chat.tap("Refresh")
    assert answer is not None and sentence in (answer.text or "")
    assert sentence in chat.last_text
    assert "Last known balance: 100.00" in chat.last_text  # the old figure stays visible
