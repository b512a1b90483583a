"""The low-balance notice through the dispatcher: a threshold set on the key's screen (bad text
asked again, a tampered key id refused), one notice right after the purchase that took the
balance under it, at most one a day otherwise, and none again after a restart."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.low_balance import QUIET, notice_due, parse_threshold
from handlers.activation.callbacks import BuyAction, BuyCb
from handlers.keys import KeyAction, KeyCb
from tests.harness import ChatDriver

POLAND, TELEGRAM = "15", "tg"


def notices(chat: ChatDriver) -> int:
    return sum("Low balance" in text for text in chat.session.bot_texts(chat.chat_id))


async def set_threshold(chat: ChatDriver, amount: str) -> None:
    await chat.send("/keys")
    await chat.tap("Sandbox")  # the key's own screen (its label is the provider's name)
    await chat.tap("Low-balance notice")
    await chat.send(amount)


async def open_confirm(chat: ChatDriver) -> None:
    await chat.send("/buy")
    await chat.tap_data(BuyCb(action=BuyAction.CONFIRM, s=TELEGRAM, c=POLAND).pack())


async def buy_telegram_in_poland(chat: ChatDriver) -> None:
    await open_confirm(chat)
    await chat.tap("Buy for")


def test_the_rule() -> None:
    assert notice_due(Decimal("90"), Decimal("95"), before=Decimal("100")) is True
    assert notice_due(Decimal("90"), Decimal("95"), before=Decimal("92")) is None  # daily
    assert notice_due(Decimal("90"), Decimal("95")) is None
    assert notice_due(Decimal("95"), Decimal("95")) is False  # not under it
    assert notice_due(Decimal("1"), None) is False and notice_due(None, Decimal("5")) is False
    assert parse_threshold(" 12,5 ") == Decimal("12.5")
    for bad in ("abc", "-5", "0", "NaN", "inf", "1e9", ""):
        assert parse_threshold(bad) is None


async def test_threshold_is_asked_validated_and_shown(keyed_chat: ChatDriver) -> None:
    chat = keyed_chat
    await chat.send("/keys")
    await chat.tap("Sandbox")
    await chat.tap("Low-balance notice")
    assert "Send the amount" in chat.last_text
    for garbage in ("lots", "-3", "0", "1e12"):
        await chat.send(garbage)
        assert "Send a positive amount" in chat.last_text
        assert chat.find_button("Cancel")  # a way out while it waits
    await chat.send("42.5")
    assert "falls under 42.50" in chat.last_text
    assert "Low-balance notice under 42.50" in chat.last_text
    await chat.tap("No low-balance notice")
    assert "Low-balance notice under" not in chat.last_text
    assert chat.find_button("Low-balance notice")
    assert notices(chat) == 0  # 100 is not under 42.50


async def test_tampered_key_id_is_refused(keyed_chat: ChatDriver, services: Any) -> None:
    chat = keyed_chat
    for action in (KeyAction.LOW_BALANCE, KeyAction.LOW_BALANCE_OFF):
        answer = await chat.tap_data(KeyCb(action=action, id=999_999).pack())
        assert answer is not None and answer.text  # told, nothing changed
    assert await services.db.keys.low_balance(chat.user.id, 999_999) is None


async def test_notice_after_purchase_then_once_a_day(
    keyed_chat: ChatDriver, sandbox: Any, sandbox_key: str, clock: Any
) -> None:
    chat = keyed_chat
    sandbox.state.set_price(POLAND, TELEGRAM, "10")
    await set_threshold(chat, "95")
    assert notices(chat) == 0

    await buy_telegram_in_poland(chat)  # 100 -> 90: under 95 by this purchase
    assert notices(chat) == 1
    notice = next(t for t in chat.session.bot_texts(chat.chat_id) if "Low balance" in t)
    assert "90.00" in notice and "95.00" in notice
    assert chat.find_button("Sandbox") and chat.find_button("Main menu")

    await buy_telegram_in_poland(chat)  # 90 -> 80: already under, told today
    await chat.send("/balance")
    await chat.tap("Refresh")
    assert notices(chat) == 1

    clock.advance(QUIET + 1)  # (the two numbers expire meanwhile: their money comes back)
    sandbox.state.tick()
    sandbox.state.set_balance(sandbox_key, "50")  # spent elsewhere, e.g. on the website
    await open_confirm(chat)  # the confirm screen reads the balance: a day later, told again
    assert notices(chat) == 2
    await open_confirm(chat)
    assert notices(chat) == 2

    # A top-up above the threshold and a purchase that crosses it again: told at once.
    sandbox.state.set_balance(sandbox_key, "100")
    await buy_telegram_in_poland(chat)
    assert notices(chat) == 3


async def test_a_restart_does_not_repeat_the_notice(
    keyed_chat: ChatDriver,
    sandbox: Any,
    sandbox_key: str,
    services: Any,
    settings: Any,
    clock: Any,
) -> None:
    from bot.app import build_services
    from bot.low_balance import LowBalanceNotice

    chat = keyed_chat
    sandbox.state.set_price(POLAND, TELEGRAM, "10")
    await set_threshold(chat, "95")
    await buy_telegram_in_poland(chat)
    assert notices(chat) == 1

    restarted = await build_services(settings, clock=clock, providers=services.providers)
    sent: list[LowBalanceNotice] = []

    async def record(notice: LowBalanceNotice) -> None:
        sent.append(notice)

    restarted.low_balance.listen(record)
    try:
        key = await restarted.accounts.active_key(chat.user.id)
        await restarted.accounts.refresh_balance(chat.user.id, key.id)  # 90, under 95
        assert sent == []
        clock.advance(QUIET + 1)
        sandbox.state.tick()  # the number expires: its money comes back...
        sandbox.state.set_balance(sandbox_key, "80")  # ...and is spent elsewhere
        await restarted.accounts.refresh_balance(chat.user.id, key.id)
        assert [n.balance for n in sent] == [Decimal("80")]
    finally:
        await restarted.db.close()
