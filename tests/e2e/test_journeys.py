"""Journeys through the real bot process, driven as a user would: type, tap, read the chat.

The bot (`python -m bot`) long-polls the fake Telegram server; its provider is the sandbox on
the real clock with a 20 s lifetime and a 2 s cancel lock. Buttons are found by their English
labels from bot/locales/en/*.ftl. Every journey ends by checking that Telegram refused nothing
the bot sent (no unparseable HTML, no edit of a vanished message, no double answer).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.e2e.conftest import BotProcess, User, tracker_passes, wait_until_polling
from tests.e2e.fake_telegram import FakeTelegram

ALICE = 1001
BOB = 2002


def no_telegram_errors(telegram: FakeTelegram) -> None:
    assert telegram.errors == [], telegram.describe()


async def add_sandbox_key(user: User, provider: Any, balance: str = "100") -> str:
    """/start → API keys → Add a key → Sandbox → send the key → keep the name."""
    user.say("/start")
    await user.wait_text("Hello")
    await user.tap_when_shown("API keys")
    await user.tap_when_shown("Add a key")
    await user.tap_when_shown("Sandbox")
    await user.wait_text("API key as a message")
    key = provider.state.create_key(balance=balance)
    key_message = user.say(key)
    await user.wait_text("Key added")
    # The message that carried the key is deleted, and the key is never shown again.
    assert all(m.message_id != key_message for m in user.tg.chat(user.id))
    assert all(key not in m.text for m in user.tg.chat(user.id))
    await user.tap_when_shown("Keep this name")
    await user.wait_text("Active: purchases use this key")
    return key


async def open_main_menu(user: User) -> int:
    """/menu: a fresh main menu, below everything else (taps then find its buttons first)."""
    newest = max((m.message_id for m in user.tg.chat(user.id)), default=0)
    user.say("/menu")

    def fresh_menu() -> int | None:
        messages = [m for m in user.tg.bot_messages(user.id) if m.message_id > newest]
        menus = [m for m in messages if m.text.startswith("Main menu") and m.markup]
        return menus[0].message_id if menus else None

    return int(await user.tg.wait_for(fresh_menu, 10))


async def buy_telegram_number(user: User, provider: Any) -> str:
    """Main menu → Buy number → Telegram → the cheapest country → Buy; returns the activation id."""
    bought_before = len(provider.state.purchases)
    screen = await open_main_menu(user)
    user.tap("Buy number", message_id=screen)
    await user.wait_screen(screen, "Choose a service")
    user.tap("Telegram", message_id=screen)
    shown = await user.wait_screen(screen, "choose a country")
    user.tap(shown.labels()[0], message_id=screen)  # the cheapest
    await user.wait_screen(screen, "Confirm the purchase")
    user.tap("Buy for", message_id=screen)
    await user.wait_text("Status: waiting for the SMS")
    assert len(provider.state.purchases) == bought_before + 1
    return str(provider.state.purchases[-1]["id"])


def activation_id(provider: Any) -> str:
    return list(provider.state.activations)[-1]


async def test_first_start_key_balance_buy_two_codes_done(
    bot_process: BotProcess, telegram: FakeTelegram, provider: Any
) -> None:
    alice = User(telegram, ALICE)
    key = await add_sandbox_key(alice, provider)

    screen = await open_main_menu(alice)
    alice.tap("Balance", message_id=screen)
    await alice.wait_screen(screen, "💰 Balance: 100.00")

    await buy_telegram_number(alice, provider)
    activation = activation_id(provider)
    alice.tap("SMS sent")
    await alice.wait_text("SMS sent, waiting for the code")

    provider.state.deliver_sms(activation, "Your Telegram code is 12345")
    await alice.wait_text("Code for Telegram")
    await alice.wait_text("1. 12345")  # the card shows it too

    alice.tap("Another code")
    await alice.wait_text("waiting for another code")
    provider.state.deliver_sms(activation, "Your Telegram code is 67890")
    await alice.wait_text("New code for Telegram")
    await alice.wait_text("2. 67890")

    alice.tap("Done")
    await alice.wait_text("Status: done")
    await tracker_passes(bot_process)  # any duplicate delivery would show by now
    assert alice.count("12345") == 2  # one code message + the card
    assert alice.count("Code for Telegram") == 1
    assert alice.count("New code for Telegram") == 1
    assert provider.state.balance(key) == Decimal("100") - provider.state.purchases[-1]["cost"]
    assert len(provider.state.purchases) == 1
    no_telegram_errors(telegram)


async def test_cancel_inside_the_lock_is_done_later_and_refunds(
    bot_process: BotProcess, telegram: FakeTelegram, provider: Any
) -> None:
    alice = User(telegram, ALICE)
    key = await add_sandbox_key(alice, provider)
    await buy_telegram_number(alice, provider)
    assert provider.state.balance(key) < Decimal("100")

    # Within the provider's 2 s lock: scheduled, never shown as a failure.
    query = alice.tap("Cancel")
    answer = await alice.answered(query)
    assert "error" not in (answer.text or "").lower()
    await alice.wait_text("Status: cancelled", timeout=60)
    await telegram.wait_for(lambda: provider.state.balance(key) == Decimal("100"), 30)
    assert not alice.tg.has_button(alice.id, "SMS sent")
    no_telegram_errors(telegram)


async def test_auto_cancel_refunds_a_number_that_got_no_code(
    bot_process: BotProcess, telegram: FakeTelegram, provider: Any
) -> None:
    alice = User(telegram, ALICE)
    key = await add_sandbox_key(alice, provider)
    await buy_telegram_number(alice, provider)
    # Lifetime 20 s, lock 2 s: the bot cancels it by itself before it expires.
    message = await alice.wait_text("went back to your balance", timeout=60)
    assert "before any code came" in message.text or "expired" in message.text
    assert provider.state.balance(key) == Decimal("100")
    assert alice.count("went back to your balance") == 1
    no_telegram_errors(telegram)


async def test_rent_sms_extend_finish(
    bot_process: BotProcess, telegram: FakeTelegram, provider: Any
) -> None:
    alice = User(telegram, ALICE)
    key = await add_sandbox_key(alice, provider)
    screen = await open_main_menu(alice)
    alice.tap("Rent number", message_id=screen)
    await alice.wait_screen(screen, "Rent a number")
    alice.tap("Telegram", message_id=screen)
    shown = await alice.wait_screen(screen, "Choose a country")
    alice.tap(shown.labels()[0], message_id=screen)
    await alice.wait_screen(screen, "For how long?")
    alice.tap("4 h", message_id=screen)
    await alice.wait_screen(screen, "Confirm the rent")
    alice.tap("Rent for", message_id=screen)
    await alice.wait_text("Rented number")
    assert len(provider.state.rent_purchases) == 1
    rent_id = list(provider.state.rentals)[-1]

    provider.state.deliver_rent_sms(rent_id, "Hello from the rented number 4242")
    await alice.wait_text("SMS to +")
    await alice.wait_text("Latest SMS from")  # the card shows it as well

    card = (await alice.wait_text("Rented number")).message_id
    alice.tap("Extend", message_id=card)
    await alice.wait_screen(card, "by how long?")
    alice.tap("4 h", message_id=card)
    await alice.wait_screen(card, "Price:")
    alice.tap("Extend for", message_id=card)
    await telegram.wait_for(lambda: len(provider.state.extensions) == 1, 30)

    await alice.wait_screen(card, "Rented number")  # back at the card, extended
    alice.tap("Finish", message_id=card)
    await alice.wait_screen(card, "Finish the rent")
    alice.tap("Yes, finish", message_id=card)
    await alice.wait_screen(card, "finished")
    assert provider.state.rentals[rent_id].status == "finished"
    await tracker_passes(bot_process)
    assert alice.count("Hello from the rented number 4242") >= 1
    sms_messages = [m for m in alice.tg.bot_messages(alice.id) if m.text.startswith("📨 SMS to")]
    assert len(sms_messages) == 1  # delivered once
    assert len(provider.state.extensions) == 1
    assert provider.state.balance(key) < Decimal("100")
    no_telegram_errors(telegram)


async def test_language_switch(
    bot_process: BotProcess, telegram: FakeTelegram, provider: Any
) -> None:
    alice = User(telegram, ALICE)
    alice.say("/start")
    await alice.wait_text("Hello")
    await alice.tap_when_shown("Settings")
    await alice.wait_text("Settings")
    alice.tap("Language")
    await alice.wait_text("Choose the language")
    alice.tap("Русский")
    await telegram.wait_for(lambda: alice.tg.has_button(alice.id, "Язык"), 30)
    alice.say("/menu")
    await telegram.wait_for(lambda: alice.tg.has_button(alice.id, "Купить номер"), 30)
    # And back.
    await alice.tap_when_shown("⚙️")
    await telegram.wait_for(lambda: alice.tg.has_button(alice.id, "Язык"), 30)
    alice.tap("Язык")
    await alice.tap_when_shown("English")
    await telegram.wait_for(lambda: alice.tg.has_button(alice.id, "Language"), 30)
    no_telegram_errors(telegram)


async def test_kill_9_while_waiting_then_restart_delivers_the_code_once(
    bot_process: BotProcess, telegram: FakeTelegram, provider: Any
) -> None:
    alice = User(telegram, ALICE)
    await add_sandbox_key(alice, provider)
    await buy_telegram_number(alice, provider)
    activation = activation_id(provider)

    await bot_process.kill()  # kill -9: no shutdown at all
    provider.state.deliver_sms(activation, "Your code is 55555")
    assert alice.count("55555") == 0  # nobody is there to deliver it

    bot_process.start()
    await wait_until_polling(telegram, bot_process)
    await alice.wait_text("Code for Telegram", timeout=60)
    await tracker_passes(bot_process)  # a second delivery would show by now
    code_messages = [m for m in alice.tg.bot_messages(alice.id) if "Code for Telegram" in m.text]
    assert len(code_messages) == 1
    assert "55555" in code_messages[0].text
    assert len(provider.state.purchases) == 1
    no_telegram_errors(telegram)


async def test_random_text_and_tampered_callbacks_are_answered_politely(
    bot_process: BotProcess, telegram: FakeTelegram, provider: Any
) -> None:
    alice = User(telegram, ALICE)
    bob = User(telegram, BOB)

    async def says_something(user: User, text: str) -> None:
        before = len(user.tg.bot_messages(user.id))
        edits = sum(m.edits for m in user.tg.bot_messages(user.id))
        user.say(text)
        await telegram.wait_for(
            lambda: (
                len(user.tg.bot_messages(user.id)) > before
                or sum(m.edits for m in user.tg.bot_messages(user.id)) > edits
            ),
            10,
        )

    # Before anything: random text gets a hint, not silence.
    await says_something(alice, "hello??")
    key = await add_sandbox_key(alice, provider)
    await says_something(alice, "what now")  # at the key card

    # Inside the buy flow: at the service list (a search), at the countries, at the confirm.
    screen = await open_main_menu(alice)
    alice.tap("Buy number", message_id=screen)
    await alice.wait_screen(screen, "Choose a service")
    await says_something(alice, "zzqqxx no such service")
    await buy_telegram_number(alice, provider)
    activation = activation_id(provider)
    await says_something(alice, "where is my code")

    # Tampered callbacks: nonsense, a foreign id, an old prefix. Each answered, none acted on.
    card = next(m for m in reversed(alice.tg.bot_messages(alice.id)) if m.markup)
    datas = [b["callback_data"] for b in card.buttons() if "callback_data" in b]
    for data in ("garbage", "a1:cancel:999999", "m1:nope", "x" * 64):
        query = alice.tap_data(data, message_id=card.message_id)
        await alice.answered(query)

    # Bob replays Alice's own card buttons: refused, her number untouched.
    bob.say("/start")
    await bob.wait_text("Hello")
    for data in datas:
        query = bob.tap_data(data)
        await bob.answered(query)
    assert provider.state.activations[activation].status == "waiting"

    # Nothing lost: the code still arrives, once.
    provider.state.deliver_sms(activation, "Code 424242")
    await alice.wait_text("Code for Telegram")
    await tracker_passes(bot_process)
    assert alice.count("Code for Telegram") == 1
    assert bob.count("424242") == 0
    assert len(provider.state.purchases) == 1
    assert provider.state.balance(key) < Decimal("100")
    assert bot_process.alive
    no_telegram_errors(telegram)


async def test_lost_purchase_answer_then_kill_9_the_restart_shows_it_in_the_checking_message(
    bot_process: BotProcess, telegram: FakeTelegram, provider: Any
) -> None:
    alice = User(telegram, ALICE)
    await add_sandbox_key(alice, provider)
    screen = await open_main_menu(alice)
    alice.tap("Buy number", message_id=screen)
    await alice.wait_screen(screen, "Choose a service")
    alice.tap("Telegram", message_id=screen)
    shown = await alice.wait_screen(screen, "choose a country")
    alice.tap(shown.labels()[0], message_id=screen)
    await alice.wait_screen(screen, "Confirm the purchase")
    # The provider takes the money and the connection drops: the bot cannot know.
    provider.state.inject_fault("drop_after_charge", action="getNumberV2")
    alice.tap("Buy for", message_id=screen)
    await alice.wait_screen(screen, "checking")
    assert len(provider.state.purchases) == 1

    await bot_process.kill()  # kill -9 before anything reconciled it
    bot_process.start()
    await wait_until_polling(telegram, bot_process)
    # The message that said "checking" becomes the number's card; nothing is bought again.
    await alice.wait_screen(screen, "Status: waiting for the SMS", timeout=15)
    assert provider.state.purchases[0]["phone"] in alice.tg.messages[ALICE][screen].text
    provider.state.deliver_sms(str(provider.state.purchases[0]["id"]), "Your code is 70707")
    await alice.wait_text("Code for Telegram", timeout=15)
    await tracker_passes(bot_process)  # a second delivery would show by now
    code_messages = [m for m in alice.tg.bot_messages(ALICE) if "Code for Telegram" in m.text]
    assert len(code_messages) == 1 and "70707" in code_messages[0].text
    assert len(provider.state.purchases) == 1
    no_telegram_errors(telegram)
