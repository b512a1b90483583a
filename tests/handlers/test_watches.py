"""🔔 Watches in the chat: armed from a sold-out offer, told once with a one-tap Buy (the buy
flow's own token and path), auto-buy capped, the list and removal, bad input, tampered taps.
The poller is driven one pass at a time (`services.watch_poller.run_once()`), no sleeps."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from handlers.activation.keyboards import confirm_data
from handlers.watch_callbacks import WatchAction, WatchCb
from tests.harness import delivered

TURKEY, TG = "62", "tg"
HOUR = 3600.0


async def pass_and_send(services: Any) -> None:
    """One pass of the poller, then what it queued goes to the chat."""
    assert services.watch_poller is not None
    await services.watch_poller.run_once()
    await delivered(services.notifier)


async def open_sold_out_offer(chat: Any, sandbox: Any) -> None:
    """The confirm screen of Telegram in Turkey, in stock when opened, sold out at the tap on
    Buy: the screen comes back saying so, with 🔔 Watch."""
    sandbox.state.set_stock(TURKEY, TG, 1)
    sandbox.state.set_price(TURKEY, TG, "12")
    await chat.send("/buy")
    await chat.tap("Telegram")
    await chat.send("Turkey")
    await chat.tap("Turkey")
    sandbox.state.set_stock(TURKEY, TG, 0)
    await chat.tap("Buy for")
    assert "out of stock" in chat.last_text.lower()


async def test_a_watch_fires_once_and_its_buy_button_buys_one_number(
    keyed_chat: Any, services: Any, sandbox: Any, clock: Any
) -> None:
    chat = keyed_chat
    await open_sold_out_offer(chat, sandbox)
    await chat.tap("🔔 Watch")
    draft = chat.last_text
    assert "Telegram" in draft and "Turkey" in draft and "any price" in draft
    await chat.tap("Start watching")
    assert "Watching" in chat.last_text and "Turkey" in chat.last_text
    shown = len(chat.texts())

    await pass_and_send(services)  # still sold out: nothing said
    assert len(chat.texts()) == shown
    sandbox.state.schedule_stock(TURKEY, TG, 3, at=clock() + 60)
    clock.advance(60)
    await pass_and_send(services)
    assert len(chat.texts()) == shown + 1
    notice = chat.last_text
    assert "In stock" in notice and "Turkey" in notice and "12.00" in notice
    for _ in range(3):  # fired once: never again
        clock.advance(60)
        await pass_and_send(services)
    assert len(chat.texts()) == shown + 1

    notice_message, buy = chat.find_button("Buy for", chat.last_bot_message())
    await chat.tap("Buy for", notice_message)
    assert len(sandbox.state.purchases) == 1
    [activation] = await services.orders.live(chat.user.id)
    assert activation.phone in chat.last_text  # the card, where the notice was
    await chat.tap_data(buy.callback_data, notice_message)
    assert len(sandbox.state.purchases) == 1  # the token is spent: one tap, one number


async def test_auto_buy_buys_once_within_the_typed_cap_and_shows_the_card(
    keyed_chat: Any, services: Any, sandbox: Any, clock: Any
) -> None:
    chat = keyed_chat
    sandbox.state.set_stock(TURKEY, TG, 5)
    sandbox.state.set_price(TURKEY, TG, "30")
    await chat.tap_data(confirm_data(TG, TURKEY).pack())  # a quick pick of Telegram · Turkey
    await chat.tap("Set a maximum price")
    await chat.send("20")
    assert not [b for b in chat.last_bot_message().buttons() if "Buy for" in b.text]
    await chat.tap("🔔 Watch")
    assert "at most 20.00" in chat.last_text and "Set a maximum price" not in chat.last_text
    await chat.tap("Auto-buy: off")
    assert "bought for you" in chat.last_text
    await chat.tap("Start watching")
    [watch] = await services.watches.armed(chat.user.id)
    assert watch.auto_buy and watch.max_price == Decimal("20")

    await pass_and_send(services)  # 30 > 20: nothing
    assert sandbox.state.purchases == []
    sandbox.state.set_price(TURKEY, TG, "15")
    clock.advance(60)
    await pass_and_send(services)
    [purchase] = sandbox.state.purchases
    assert Decimal(str(purchase["cost"])) <= Decimal("20")
    assert any("Your watch bought" in text for text in chat.texts())
    [activation] = await services.orders.live(chat.user.id)
    assert activation.phone in chat.last_text  # the number's card
    for _ in range(3):
        clock.advance(60)
        await pass_and_send(services)
    assert len(sandbox.state.purchases) == 1


async def test_a_price_that_is_not_a_price_is_asked_again(
    keyed_chat: Any, services: Any, sandbox: Any
) -> None:
    chat = keyed_chat
    await open_sold_out_offer(chat, sandbox)
    await chat.tap("🔔 Watch")
    await chat.tap("Set a maximum price")
    for garbage in ("cheap please", "-3", "0", "1e999", "NaN"):
        await chat.send(garbage)
        assert "not a price" in chat.last_text
    await chat.send("12,5")
    assert "at most 12.50" in chat.last_text
    await chat.tap("Start watching")
    [watch] = await services.watches.armed(chat.user.id)
    assert watch.max_price == Decimal("12.5")


async def test_watches_are_listed_from_the_main_menu_and_removable(
    keyed_chat: Any, services: Any, sandbox: Any
) -> None:
    chat = keyed_chat
    await open_sold_out_offer(chat, sandbox)
    await chat.tap("🔔 Watch")
    await chat.tap("Start watching")
    arm_poland = WatchCb(action=WatchAction.ARM, s=TG, c="15", mx="9")
    await chat.tap_data(arm_poland.pack())
    await chat.send("/start")
    await chat.tap("Watches")
    listing = chat.last_text
    assert "Turkey" in listing and "Poland" in listing and "at most 9.00" in listing
    labels = [b.text for b in chat.last_bot_message().buttons()]
    assert "« Main menu" in labels
    remove_first = chat.find_button("Remove 1")[1].callback_data
    answer = await chat.tap("Remove 1")
    assert answer is not None and answer.text == "Watch removed."
    assert len(await services.watches.armed(chat.user.id)) == 1
    answer = await chat.tap_data(remove_first)  # the same button again (an old message)
    assert answer is not None and answer.text == "This watch has ended already."
    await chat.tap("Main menu")
    assert "Watches" in [b.text.split(" ", 1)[-1] for b in chat.last_bot_message().buttons()]


async def test_tampered_watch_buttons_arm_nothing_and_touch_no_other_users_watch(
    keyed_chat: Any, services: Any, sandbox: Any
) -> None:
    chat = keyed_chat
    await chat.send("/start")
    answer = await chat.tap_data(WatchCb(action=WatchAction.ARM, s=TG, c=TURKEY, mx="lots").pack())
    assert answer is not None and answer.show_alert
    assert await services.watches.armed(chat.user.id) == []
    stranger = 999
    await services.accounts.add_key(
        stranger, base_url=sandbox.url, api_key=sandbox.state.create_key(), label="s"
    )
    theirs = await services.watches.create(
        stranger, service=TG, country=TURKEY, max_price=None, auto_buy=False, chat_id=None
    )
    await chat.tap_data(WatchCb(action=WatchAction.REMOVE, id=theirs.id).pack())
    assert [w.id for w in await services.watches.armed(stranger)] == [theirs.id]


async def test_an_expired_watch_says_so_once(
    keyed_chat: Any, services: Any, sandbox: Any, clock: Any
) -> None:
    chat = keyed_chat
    await open_sold_out_offer(chat, sandbox)
    await chat.tap("🔔 Watch")
    await chat.tap("Start watching")
    clock.advance(24 * HOUR)
    await pass_and_send(services)
    assert "has ended" in chat.last_text
    shown = len(chat.texts())
    await pass_and_send(services)
    assert len(chat.texts()) == shown
    assert await services.watches.armed(chat.user.id) == []
    await chat.tap("Watch again")  # re-armed only when the user asks
    assert "Start watching" in str([b.text for b in chat.last_bot_message().buttons()])


async def test_a_country_search_finds_sold_out_countries_to_watch(
    keyed_chat: Any, services: Any, sandbox: Any
) -> None:
    chat = keyed_chat
    sandbox.state.set_stock(TURKEY, TG, 0)
    await chat.send("/buy")
    await chat.tap("Telegram")
    await chat.send("turk")
    assert "Out of stock now" in chat.last_text
    await chat.tap("Turkey: out of stock")
    assert "out of stock" in chat.last_text.lower()
    await chat.tap("🔔 Watch")
    await chat.tap("Start watching")
    [watch] = await services.watches.armed(chat.user.id)
    assert (watch.service, watch.country) == (TG, TURKEY)
    await chat.tap("« Back")  # back to the offer it was armed from
    assert "Turkey" in chat.last_text and chat.find_button("🔔 Watch")
