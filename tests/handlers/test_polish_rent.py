"""Issue 15 (chat polish), the rental side, through the real dispatcher, SQLite and the sandbox:
honest progress, a confirmed cancel with its deadline, one live card that navigation never
overwrites, moments instead of countdowns, the currency, fast polling after opening, codes
tap-to-copy, and a way back everywhere."""

from __future__ import annotations

import asyncio
from datetime import UTC
from decimal import Decimal
from typing import Any

import pytest

from bot.formatting import format_time, user_timezone
from bot.numbers import NumberKind
from bot.provider.client import ProviderClient
from bot.rental_sms import sms_code
from bot.rentals import Repeat, repeat_of
from handlers.common import MenuCb
from handlers.numbers import NumbersAction, NumbersCb
from handlers.rent.callbacks import RentalAction, RentalCb
from storage.models import PendingPurchase
from tests.harness import ChatDriver, ChatMessage

USER = 111


def _t(services: Any, lang: str = "en") -> Any:
    return services.translator.bind(lang)


def _at(moment: float) -> str:
    """A moment as a user in UTC sees it."""
    return format_time(moment, UTC)


async def _with_key(
    services: Any,
    sandbox: Any,
    sandbox_key: str,
    *,
    lang: str = "en",
    currency: str | None = None,
) -> Any:
    await services.db.users.get_or_create(USER, lang)
    return await services.db.keys.add(
        USER, label="t", base_url=sandbox.url, api_key=sandbox_key, currency=currency
    )


def _screen(chat: ChatDriver) -> ChatMessage:
    """A bot message to tap on (as if the main menu were shown)."""
    message_id = chat.session.next_message_id()
    shown = ChatMessage(message_id, chat.chat_id, "menu", True)
    chat.session.messages[(chat.chat_id, message_id)] = shown
    return shown


async def _to_confirm(chat: ChatDriver, hours_label: str = "4 h") -> ChatMessage:
    await chat.tap_data(MenuCb(action="rent").pack(), _screen(chat))
    await chat.tap("Telegram")
    await chat.tap("Indonesia")
    await chat.tap(hours_label)
    return chat.last_bot_message()


async def _rent(chat: ChatDriver, hours_label: str = "4 h") -> ChatMessage:
    confirm = await _to_confirm(chat, hours_label)
    await chat.tap("Rent for", confirm)
    return chat.last_bot_message()


async def _stored(services: Any) -> Any:
    live = await services.db.rentals.list_live(USER)
    ended, _ = await services.db.rentals.list_ended(USER)
    found = live + ended
    assert len(found) == 1
    return found[0]


def _labels(message: ChatMessage) -> list[str]:
    return [b.text for b in message.buttons()]


# ------------------------------------------------------------------ 1. honest progress


async def test_a_slow_rent_shows_renting_and_repeated_taps_say_how_it_goes(
    chat: ChatDriver,
    services: Any,
    sandbox: Any,
    sandbox_key: str,
    dp: Any,
    bot: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    confirm = await _to_confirm(chat)
    _, button = chat.find_button("Rent for", confirm)
    assert button.callback_data is not None
    data = button.callback_data
    t = _t(services)

    # The provider takes its time: the rent waits at the provider until the gate opens.
    gate = asyncio.Event()
    asked = asyncio.Event()
    original = ProviderClient.get_rent_number

    async def slow(self: ProviderClient, service: str, country: str, hours: int) -> Any:
        asked.set()
        await gate.wait()
        return await original(self, service, country, hours)

    monkeypatch.setattr(ProviderClient, "get_rent_number", slow)
    first = asyncio.create_task(dp.feed_update(bot, chat.make_callback_update(data, confirm)))
    await asyncio.wait_for(asked.wait(), timeout=30)
    # "Renting…" at once, in the confirm message, with no button left to tap again
    assert confirm.text == t("rent-renting") and confirm.buttons() == []

    # a second tap on the same confirmation (sent before the edit reached the phone)
    still = await chat.tap_data(data, confirm)
    assert still is not None and still.text == t("rent-still-renting")

    gate.set()
    await first
    assert confirm.text == t("rent-done")
    card = chat.last_bot_message()
    assert card.message_id != confirm.message_id and "Rented number" in card.text
    # after it finished, the same tap says it is done (not "being handled")
    done = await chat.tap_data(data, confirm)
    assert done is not None and done.text == t("rent-already-done")
    assert len(sandbox.state.rent_purchases) == 1


async def test_a_repeated_tap_after_a_refused_rent_says_nothing_was_charged(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    confirm = await _to_confirm(chat)
    _, button = chat.find_button("Rent for", confirm)
    assert button.callback_data is not None
    sandbox.state.set_balance(sandbox_key, "1")  # the provider refuses: NO_BALANCE
    await chat.tap_data(button.callback_data, confirm)
    again = await chat.tap_data(button.callback_data, confirm)
    assert again is not None and again.text == _t(services)("rent-repeat-failed")
    assert sandbox.state.rent_purchases == []


@pytest.mark.parametrize(
    ("outcome", "unknown_at", "repeat"),
    [
        (None, None, Repeat.RUNNING),
        (None, 5.0, Repeat.CHECKING),
        ("bought", None, Repeat.DONE),
        ("not_bought", None, Repeat.FAILED),
        ("unknown", 5.0, Repeat.UNCONFIRMED),
    ],
)
def test_what_a_repeated_tap_finds(
    outcome: str | None, unknown_at: float | None, repeat: Any
) -> None:
    intent = PendingPurchase(
        id=1,
        user_id=USER,
        key_id=1,
        service="tg",
        country="6",
        chat_id=USER,
        created_at=0.0,
        kind="rent",
        unknown_at=unknown_at,
        outcome=outcome,
    )
    assert repeat_of(intent) == repeat


async def test_a_slow_extension_shows_extending_and_a_second_tap_says_still(
    chat: ChatDriver,
    services: Any,
    sandbox: Any,
    sandbox_key: str,
    dp: Any,
    bot: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent(chat)
    await chat.tap("Extend", card)
    await chat.tap("4 h", card)
    _, button = chat.find_button("Extend for", card)
    assert button.callback_data is not None
    data = button.callback_data
    t = _t(services)
    gate = asyncio.Event()
    asked = asyncio.Event()
    original = ProviderClient.continue_rent_number

    async def slow(self: ProviderClient, rent_id: str, hours: int) -> Any:
        asked.set()
        await gate.wait()
        return await original(self, rent_id, hours)

    monkeypatch.setattr(ProviderClient, "continue_rent_number", slow)
    first = asyncio.create_task(dp.feed_update(bot, chat.make_callback_update(data, card)))
    await asyncio.wait_for(asked.wait(), timeout=30)
    assert card.text == t("rent-extending") and card.buttons() == []
    still = await chat.tap_data(data, card)
    assert still is not None and still.text == t("rent-still-extending")
    gate.set()
    await first
    assert "Rented number" in card.text  # the card again, extended
    assert len(sandbox.state.extensions) == 1


async def test_a_repeated_extend_tap_says_done_once_extended(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent(chat)
    await chat.tap("Extend", card)
    await chat.tap("4 h", card)
    _, button = chat.find_button("Extend for", card)
    assert button.callback_data is not None
    await chat.tap_data(button.callback_data, card)
    again = await chat.tap_data(button.callback_data, card)
    assert again is not None and again.text == _t(services)("rent-extend-done")
    assert len(sandbox.state.extensions) == 1


# ------------------------------------------------------------------ 2. cancel, confirmed


async def test_cancel_asks_first_and_the_card_says_until_when(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str, clock: Any
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent(chat)
    rental = await _stored(services)
    deadline = _at(rental.created_at + 20 * 60)  # the provider's rule: 20 minutes, no SMS
    assert f"refund possible until {deadline}" in card.text

    await chat.tap("Cancel", card)
    assert "Cancel the rent of" in card.text and "money comes back" in card.text
    assert _labels(card) == ["✖️ Yes, cancel it", "« No, keep it"]
    await chat.tap("No, keep it", card)  # nothing happened: the card is back
    assert "Rented number" in card.text and sandbox.state.balance(sandbox_key) == 92
    assert [r for r in sandbox.state.requests if r["action"] == "setRentStatus"] == []

    await chat.tap("Cancel", card)
    answer = await chat.tap("Yes, cancel it", card)
    assert answer is not None and answer.text == _t(services)("rent-cancelled")
    assert sandbox.state.balance(sandbox_key) == 100
    assert "refund possible" not in card.text  # ended: no deadline any more


async def test_the_deadline_goes_once_an_sms_came_and_a_late_ask_is_refused(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str, clock: Any
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent(chat)
    rental = await _stored(services)
    sandbox.state.deliver_rent_sms(rental.provider_id, "Your code 5511")
    await chat.tap("Refresh", card)
    assert "refund possible" not in card.text and "Cancel" not in " ".join(_labels(card))

    # Cancel from a card drawn before the SMS came: refused before any confirmation
    ask = RentalCb(action=RentalAction.CANCEL_ASK, id=rental.id).pack()
    answer = await chat.tap_data(ask, card)
    assert answer is not None and answer.show_alert
    assert answer.text == _t(services)("rent-cancel-reason-sms")
    assert "Cancel the rent" not in card.text


# ------------------------------------------------------------------ 3. ways out come below


async def test_main_menu_from_a_card_opens_below_and_the_card_stays(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent(chat)
    shown = card.text
    await chat.tap("Main menu", card)
    menu = chat.last_bot_message()
    assert menu.message_id != card.message_id and "Buy number" in " ".join(_labels(menu))
    assert card.text == shown and "Refresh" in " ".join(_labels(card))

    # a finished (cancelled) card, and a screen under a card (its SMS list): the same
    await chat.tap("Cancel", card)
    await chat.tap("Yes, cancel it", card)
    ended = card.text
    await chat.tap("Main menu", card)
    assert card.text == ended and chat.last_bot_message().message_id != card.message_id
    await chat.tap("SMS", card)
    sms_list = card.text
    await chat.tap("Main menu", card)
    assert card.text == sms_list and chat.last_bot_message().message_id != card.message_id


# ------------------------------------------------------------------ 4. one live card


async def test_opening_a_rental_again_moves_its_card(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    first = await _rent(chat)
    rental = await _stored(services)
    await chat.tap_data(MenuCb(action="numbers").pack(), _screen(chat))
    listing = chat.last_bot_message()
    await chat.tap(f"+{rental.phone}", listing)

    card = chat.last_bot_message()
    assert card.message_id not in (first.message_id, listing.message_id)
    assert "Rented number" in card.text and "Refresh" in " ".join(_labels(card))
    # the old card is a stub without buttons; the list stays as it was
    assert first.text == _t(services)("card-moved") and first.buttons() == []
    assert "Rented number" not in listing.text
    stored = await _stored(services)
    assert (stored.chat_id, stored.message_id) == (chat.chat_id, card.message_id)

    # what the tracker learns later edits the new card
    sandbox.state.deliver_rent_sms(rental.provider_id, "moved 8080")
    clock.advance(30)
    await tracker.tick()
    assert "moved 8080" in card.text and "moved 8080" not in first.text


async def test_back_to_the_number_redraws_in_place(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent(chat)
    sent = len(chat.texts())
    await chat.tap("History", card)
    await chat.tap("Back to the number", card)
    assert "Rented number" in card.text and len(chat.texts()) == sent


# ------------------------------------------------------------------ 5. moments, not countdowns


async def test_the_card_and_the_extend_screen_show_moments(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent(chat)
    rental = await _stored(services)
    assert f"Ends: {_at(rental.ends_at)}" in card.text
    assert " in 4 h" not in card.text and "left" not in card.text
    await chat.tap("Extend", card)
    await chat.tap("12 h", card)
    assert f"It will then end: {_at(rental.ends_at + 12 * 3600)}" in card.text


async def test_the_reminder_names_the_moment_the_rental_ends(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    await services.db.users.update(USER, timezone="+03:00")
    await _rent(chat)
    rental = await _stored(services)
    clock.advance(rental.ends_at - clock() - 590)  # inside the last 10 minutes
    await tracker.tick()
    moment = format_time(rental.ends_at, user_timezone("+03:00"))
    reminders = [text for text in chat.texts() if text.startswith("⏰")]
    assert reminders and f"ends at {moment}" in reminders[-1]


# ------------------------------------------------------------------ 6. the currency


async def test_prices_carry_the_currency_in_every_rent_screen(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    await _with_key(services, sandbox, sandbox_key, currency="RUB")
    await chat.tap_data(MenuCb(action="rent").pack(), _screen(chat))
    await chat.tap("Telegram")
    countries = chat.last_bot_message()
    assert any("8.00 ₽" in label for label in _labels(countries))
    await chat.tap("Indonesia")
    assert "4 h — 8.00 ₽" in _labels(chat.last_bot_message())
    await chat.tap("4 h")
    confirm = chat.last_bot_message()
    assert "Price: <b>8.00 ₽</b>" in confirm.text and "Balance: 100.00 ₽" in confirm.text
    assert "✅ Rent for 8.00 ₽" in _labels(confirm)
    await chat.tap("Rent for", confirm)
    card = chat.last_bot_message()
    assert "Rent price: 8.00 ₽" in card.text
    await chat.tap("Extend", card)
    assert "4 h — 8.00 ₽" in _labels(card)
    await chat.tap("4 h", card)
    assert "Price: <b>8.00 ₽</b>" in card.text and "✅ Extend for 8.00 ₽" in _labels(card)
    await chat.tap("Extend for", card)
    await chat.tap("History", card)
    assert "4 h · 8.00 ₽" in card.text


async def test_prices_are_written_as_the_language_writes_them(
    dp: Any, bot: Any, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    chat = ChatDriver(dp, bot, user_id=USER, language="ru")
    await _with_key(services, sandbox, sandbox_key, lang="ru", currency="RUB")
    await chat.tap_data(MenuCb(action="rent").pack(), _screen(chat))
    await chat.tap("›")  # the services are sorted by their Russian names
    await chat.tap("Телеграм")
    await chat.tap("Индонезия")
    await chat.tap("4 ч")
    confirm = chat.last_bot_message()
    assert "8,00 ₽" in confirm.text and "100,00 ₽" in confirm.text


# ------------------------------------------------------------------ 7. fast polls, codes


async def test_a_rental_is_polled_fast_for_a_while_after_it_is_opened(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any
) -> None:
    config = tracker.config
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent(chat)  # renting is opening: its first SMS is awaited now
    rental = await _stored(services)
    await tracker.tick()
    polled = await services.db.rentals.get_any(rental.id)
    assert polled.next_poll_at == pytest.approx(clock() + config.poll_rental_fast)

    # once the window is over, back to the usual pace
    clock.advance(config.rental_fast_window + 1)
    await tracker.tick()
    polled = await services.db.rentals.get_any(rental.id)
    assert polled.next_poll_at == pytest.approx(clock() + config.poll_rental)

    # opening the card (from My numbers) looks now, then fast again
    await chat.tap_data(MenuCb(action="numbers").pack(), _screen(chat))
    await chat.tap(f"+{rental.phone}")
    opened = await services.db.rentals.get_any(rental.id)
    assert opened.next_poll_at <= clock()
    sandbox.state.deliver_rent_sms(rental.provider_id, "quick 3141")
    await tracker.tick()
    card = chat.last_bot_message()
    assert "quick 3141" in card.text
    polled = await services.db.rentals.get_any(rental.id)
    assert polled.next_poll_at == pytest.approx(clock() + config.poll_rental_fast)


async def test_rental_codes_are_tap_to_copy_with_the_whole_text(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent(chat)
    rental = await _stored(services)
    sandbox.state.deliver_rent_sms(rental.provider_id, "Your code: 482-913. Do not share it")
    clock.advance(5)
    await tracker.tick()
    pushed = [text for text in chat.texts() if text.startswith("📨")]
    assert pushed and "🔑 Code: <code>482913</code>" in pushed[-1]
    assert "Your code: 482-913. Do not share it" in pushed[-1]  # the full text too
    assert "<code>482913</code>" in card.text and "Do not share it" in card.text
    await chat.tap("SMS", card)
    assert "<code>482913</code>" in card.text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Your code 12345", "12345"),
        ("G-482913 is your Google verification code", "482913"),
        ("WhatsApp code 123-456", "123456"),
        ("Telegram code: 55 711", None),  # too short to be sure
        ("Pay 1,500.00 by 12.05", None),
        ("Call +79991234567", None),
        ("codes 1234 and 5678", None),  # two: a guess, so none
        ("hello", None),
    ],
)
def test_sms_code_finds_one_code_or_none(text: str, code: str | None) -> None:
    assert sms_code(text) == code


# ------------------------------------------------------------------ 11. ways back


async def test_a_rental_opened_from_history_goes_back_to_history(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent(chat)
    await chat.tap("Cancel", card)
    await chat.tap("Yes, cancel it", card)
    rental = await _stored(services)
    history = NumbersCb(action=NumbersAction.HISTORY, kind=NumberKind.RENTALS).pack()
    await chat.tap_data(history, _screen(chat))
    listing = chat.last_bot_message()
    await chat.tap(f"+{rental.phone}", listing)
    opened = chat.last_bot_message()
    assert "Rented number" in opened.text
    await chat.tap("Rental history", opened)
    back = chat.last_bot_message()
    assert back.message_id != opened.message_id and f"+{rental.phone}" in back.text
    assert "Rented number" in opened.text  # the card stays


async def test_a_live_rental_goes_back_to_my_numbers(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent(chat)
    await chat.tap("My numbers", card)
    listing = chat.last_bot_message()
    assert listing.message_id != card.message_id and "Rented number" in card.text
    rental = await _stored(services)
    assert any(f"+{rental.phone}" in label for label in _labels(listing))


async def test_the_extend_confirmation_has_one_back_and_the_main_menu(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent(chat)
    await chat.tap("Extend", card)
    await chat.tap("4 h", card)
    labels = _labels(card)
    assert labels[1:] == ["« Back", "« Main menu"], labels
    await chat.tap("« Back", card)
    assert "by how long" in card.text


async def test_the_price_shown_is_what_the_card_says_was_paid(
    chat: ChatDriver, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    await _rent(chat, "1 d")
    assert (await _stored(services)).cost == Decimal("48")
