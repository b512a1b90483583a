"""Deep links (issue 15): `t.me/<bot>?start=buy-<service>-<country>` opens that purchase's
confirm screen; a bad or hostile payload gets the normal welcome; without a key, the no-key
screen, and after adding one the user goes on to the purchase in one tap."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.i18n import Translator
from handlers.deeplinks import BuyLink, buy_link, parse_buy_payload, share_button
from handlers.keys import KeyAction, KeyCb
from tests.harness import ChatDriver


async def test_a_buy_link_opens_the_confirm_screen(keyed_chat: ChatDriver) -> None:
    chat = keyed_chat
    await chat.send("/start buy-tg-0")
    shown = chat.last_bot_message()
    assert "Confirm the purchase" in shown.text and "Telegram" in shown.text
    assert any("Buy for" in b.text for b in shown.buttons())
    await chat.tap("Buy for")  # the buy flow's own screen: buying works from it
    assert "waiting for the SMS" in chat.last_text


@pytest.mark.parametrize(
    "payload",
    [
        "buy-zz-0",  # no such service at the provider
        "buy-tg-99999",  # no such country
        "buy-tg-0-1",
        "buy--0",
        "BUY-tg-0",
        "buy-tg-0<b>",
        "buy-tg-1234567",  # longer than any country id
        "sell-tg-0",
        "%2e%2e",
    ],
)
async def test_a_bad_or_hostile_payload_gets_the_welcome(
    keyed_chat: ChatDriver, sandbox: Any, payload: str
) -> None:
    chat = keyed_chat
    bought = len(sandbox.state.purchases)
    await chat.send(f"/start {payload}")
    assert "Welcome back" in chat.last_text and "Main menu" in chat.last_text
    assert len(sandbox.state.purchases) == bought


async def test_without_a_key_the_link_waits_for_the_key(chat: ChatDriver, sandbox_key: str) -> None:
    await chat.send("/start buy-tg-0")
    assert "add the API key" in chat.last_text
    await chat.tap("API keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    await chat.send(sandbox_key)
    assert "Key added" in chat.last_text
    await chat.tap("Go on to the purchase")
    assert "Confirm the purchase" in chat.last_text and "Telegram" in chat.last_text


async def test_naming_the_new_key_still_goes_on_to_the_purchase(
    chat: ChatDriver, sandbox_key: str
) -> None:
    await chat.send("/start buy-tg-0")
    await chat.tap("API keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    await chat.send(sandbox_key)
    await chat.send("Work")  # a name instead of "Keep this name"
    assert "Saved as <b>Work</b>" in chat.last_text
    await chat.tap("Go on to the purchase")
    assert "Confirm the purchase" in chat.last_text


async def test_without_a_key_and_a_bad_payload_the_welcome(chat: ChatDriver) -> None:
    await chat.send("/start buy-<script>")
    assert "Hello" in chat.last_text and "Main menu" in chat.last_text


async def test_a_key_added_without_a_link_offers_no_purchase(
    chat: ChatDriver, sandbox_key: str
) -> None:
    await chat.send("/start buy-tg-0")
    await chat.send("/menu")  # the user went elsewhere: the link no longer waits
    await chat.tap("API keys")
    await chat.tap("Add a key")
    await chat.tap("Sandbox")
    await chat.send(sandbox_key)
    labels = [b.text for b in chat.last_bot_message().buttons()]
    assert not any("Go on" in label for label in labels)


async def test_a_tampered_continue_changes_nothing(keyed_chat: ChatDriver, sandbox: Any) -> None:
    chat = keyed_chat
    await chat.send("/keys")
    for payload in ("buy-zz-0", "evil", ""):
        answer = await chat.tap_data(KeyCb(action=KeyAction.CONTINUE, p=payload).pack())
        assert answer is not None and "not available" in (answer.text or "")
    assert sandbox.state.purchases == []


def test_links_and_payloads_round_trip() -> None:
    assert parse_buy_payload("buy-tg-0") == BuyLink("tg", "0")
    assert BuyLink("wa", "187").payload == "buy-wa-187"
    assert buy_link("sms_test_bot", "tg", "0") == "https://t.me/sms_test_bot?start=buy-tg-0"
    assert buy_link("sms_test_bot", "Odd Code", "0") is None  # cannot travel in a payload
    assert parse_buy_payload(None) is None and parse_buy_payload("") is None


def test_the_share_button_opens_telegrams_share_sheet() -> None:
    t = Translator().bind("en")
    button = share_button(t, "sms_test_bot", "tg", "0", "Telegram · Russia")
    assert button is not None and button.text == "🔗 Share"
    parts = urlsplit(button.url or "")
    assert (parts.netloc, parts.path) == ("t.me", "/share/url")
    query = parse_qs(parts.query)
    assert query["url"] == ["https://t.me/sms_test_bot?start=buy-tg-0"]
    assert "Telegram · Russia" in query["text"][0]
    assert share_button(t, None, "tg", "0", "x") is None


async def test_a_favourite_can_be_shared_from_its_confirm_screen(
    keyed_chat: ChatDriver, services: Any
) -> None:
    chat = keyed_chat
    await chat.send("/start buy-tg-0")
    assert not any(b.url for b in chat.last_bot_message().buttons())  # not a favourite yet
    await services.favourites.add(chat.user.id, "tg", "0")
    await chat.send("/start buy-tg-0")
    shown = chat.last_bot_message()
    share = next(b for b in shown.buttons() if b.url)
    assert share.text == "🔗 Share"
    query = parse_qs(urlsplit(share.url or "").query)
    link = query["url"][0]
    assert link == "https://t.me/sms_test_bot?start=buy-tg-0"
    assert "Telegram" in query["text"][0]
    # The way back stays the last row.
    assert "Back" in shown.markup.inline_keyboard[-1][0].text  # type: ignore[union-attr]
    # Whoever follows the link lands on the same screen.
    friend = ChatDriver(chat.dp, chat.bot, user_id=777)
    await friend.send(f"/start {link.rsplit('=', 1)[1]}")
    assert "add the API key" in friend.last_text  # no key yet: the link waits for theirs
