"""Auto-replace in the chat: the confirm screen's toggle, the card's "attempt 2 of 3" and its
stop button, the settings screen of the defaults, the stop notice — through the real
dispatcher, a real database, the tracker and the sandbox on the fake clock."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from storage.chains import CHAIN_ACTIVE, CHAIN_ENDED

PRICE = Decimal("28.80")  # Telegram in Poland in the sandbox


async def open_confirm(chat: Any) -> None:
    await chat.send("/buy")
    await chat.tap("Telegram")
    await chat.send("Poland")
    await chat.tap("Poland")


async def chains(services: Any) -> list[Any]:
    rows = await services.db.connection.execute_fetchall("SELECT id FROM replace_chains")
    return [await services.db.chains.get(int(row[0])) for row in rows]


async def buy_with_replace(chat: Any) -> None:
    await open_confirm(chat)
    assert "Auto-replace: off" in " ".join(b.text for b in chat.last_bot_message().buttons())
    await chat.tap("Auto-replace: off")
    assert "Auto-replace: no code within 5 min" in chat.last_text
    await chat.tap("Buy for")


async def test_the_confirm_toggle_buys_with_a_chain(keyed_chat: Any, services: Any) -> None:
    chat = keyed_chat
    await buy_with_replace(chat)
    card = chat.last_text
    assert "attempt 1 of 3" in card
    assert "this number is cancelled and another one bought" in card
    assert chat.find_button("Stop auto-replace")
    [chain] = await chains(services)
    assert chain.state == CHAIN_ACTIVE and chain.max_price == PRICE
    assert chain.cap == PRICE * 3  # no cap chosen: the numbers x the price


async def test_without_the_toggle_no_chain(keyed_chat: Any, services: Any) -> None:
    chat = keyed_chat
    await open_confirm(chat)
    await chat.tap("Buy for")
    assert "attempt" not in chat.last_text
    assert await chains(services) == []


async def test_the_toggle_stays_on_through_a_tier_pick_and_the_chain_keeps_the_supplier(
    keyed_chat: Any, services: Any, sandbox: Any, clock: Any, tracker: Any
) -> None:
    sandbox.state.set_tiers("15", "tg", [("12", "28.80", 2), ("15", "35", 5)])
    chat = keyed_chat
    await open_confirm(chat)
    await chat.tap("Auto-replace: off")
    await chat.tap("#15")  # a price tier redraws the screen: the switch stays as it was
    assert "Auto-replace: no code within 5 min" in chat.last_text
    assert chat.find_button("Auto-replace: on")
    await chat.tap("Buy for")
    [chain] = await chains(services)
    assert chain.max_price == Decimal("35") and chain.choice == "p15"
    # The silent number is replaced by one from the same supplier, never the cheaper #12.
    await tracker.tick()
    clock.advance(301)
    await tracker.tick()
    await tracker.tick()
    first, second = sandbox.state.purchases
    assert first["provider_ids"] == second["provider_ids"] == "15"
    assert second["supplier"] == "15"
    assert "attempt 2 of 3" in chat.last_text


async def test_the_toggle_switched_off_again_buys_without_a_chain(
    keyed_chat: Any, services: Any
) -> None:
    chat = keyed_chat
    await open_confirm(chat)
    await chat.tap("Auto-replace: off")
    await chat.tap("Auto-replace: on")
    assert "no code within" not in chat.last_text
    await chat.tap("Buy for")
    assert "attempt" not in chat.last_text
    assert await chains(services) == []


async def test_several_numbers_at_once_start_no_chain(keyed_chat: Any, services: Any) -> None:
    chat = keyed_chat
    await open_confirm(chat)
    await chat.tap("Auto-replace: off")
    await chat.tap("Several at once")
    labels = [b.text for b in chat.last_bot_message().buttons()]
    assert not any("Auto-replace" in label for label in labels)  # one number only
    assert "no code within" not in chat.last_text
    await chat.tap("Buy 2 for")
    assert len(await services.db.activations.list_live(chat.user.id)) == 2
    assert await chains(services) == []


async def test_the_stop_button_ends_the_chain(keyed_chat: Any, services: Any) -> None:
    chat = keyed_chat
    await buy_with_replace(chat)
    answer = await chat.tap("Stop auto-replace")
    assert answer is not None and "this number stays" in (answer.text or "")
    [chain] = await chains(services)
    assert (chain.state, chain.reason) == (CHAIN_ENDED, "user")
    labels = [b.text for b in chat.last_bot_message().buttons()]
    assert not any("Stop auto-replace" in label for label in labels)
    assert any("Cancel" in label for label in labels)  # the number itself stays


async def test_a_silent_number_gets_a_new_card_then_the_stop_notice(
    keyed_chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any
) -> None:
    chat = keyed_chat
    await buy_with_replace(chat)
    await tracker.tick()
    clock.advance(301)
    await tracker.tick()
    await tracker.tick()
    assert len(sandbox.state.purchases) == 2
    assert "attempt 2 of 3" in chat.last_text  # the new number's card, sent by the tracker
    assert chat.find_button("Stop auto-replace")
    sandbox.state.set_balance(sandbox_key, "-100")  # the next purchase is refused
    clock.advance(301)
    await tracker.tick()
    await tracker.tick()
    assert len(sandbox.state.purchases) == 2
    notice = chat.last_text
    assert (
        "Auto-replace stopped" in notice and "after 3 attempts" in notice
    )  # the third was refused
    assert "not enough balance" in notice
    [chain] = await chains(services)
    assert (chain.state, chain.reason) == (CHAIN_ENDED, "NO_BALANCE")


async def test_settings_set_the_defaults(keyed_chat: Any, services: Any) -> None:
    chat = keyed_chat
    await chat.send("/settings")
    await chat.tap("Auto-replace")
    assert "For new purchases: off" in chat.last_text
    await chat.tap("Turn on for new purchases")
    await chat.tap("10 min")
    await chat.tap("🔢 5")
    await chat.tap("💰 50")
    await chat.tap("Try the next cheapest country")
    text = chat.last_text
    assert 'Next cheapest country after "no numbers": on' in text
    assert "For new purchases: on" in text and "Wait for a code: 10 min" in text
    assert "Numbers at most: 5" in text and "Spending cap: 50" in text
    defaults = await services.auto_replace.defaults(chat.user.id)
    assert (defaults.enabled, defaults.after, defaults.attempts) == (True, 600, 5)
    assert defaults.cap == Decimal("50") and defaults.next_country
    # The confirm screen starts with the defaults: on, 10 min, 5 numbers, cap 50.
    await open_confirm(chat)
    assert "no code within 10 min" in chat.last_text and "5 numbers" in chat.last_text
    await chat.tap("Buy for")
    [chain] = await chains(services)
    assert (chain.after, chain.attempts_max, chain.cap) == (600, 5, Decimal("50"))
    # Back leads to the settings screen.
    await chat.send("/settings")
    await chat.tap("Auto-replace")
    await chat.tap("Back")
    assert "Settings" in chat.last_text


async def test_crafted_settings_values_change_nothing(keyed_chat: Any, services: Any) -> None:
    chat = keyed_chat
    await chat.send("/settings")
    await chat.tap("Auto-replace")
    crafted = ("rs1:after:7", "rs1:n:99", "rs1:cap:3", "rs1:cap:sNaN", "rs1:on:x", "rs1:nc:2")
    for data in crafted:
        answer = await chat.tap_data(data)
        assert answer is not None and "out of date" in (answer.text or "")
    defaults = await services.auto_replace.defaults(chat.user.id)
    assert (defaults.enabled, defaults.after, defaults.attempts, defaults.cap) == (
        False,
        300,
        3,
        None,
    )


async def test_stop_on_another_users_number_changes_nothing(keyed_chat: Any, services: Any) -> None:
    chat = keyed_chat
    await buy_with_replace(chat)
    [chain] = await chains(services)
    from tests.harness import ChatDriver

    other = ChatDriver(chat.dp, chat.bot, user_id=999, language="en")
    await other.send("/start")
    answer = await other.tap_data(f"a1:norp:{chain.activation_id}", chat.last_bot_message())
    assert answer is not None and answer.show_alert
    [still] = await chains(services)
    assert still.state == CHAIN_ACTIVE
