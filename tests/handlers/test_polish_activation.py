"""Issue 15, the one-time numbers: honest progress, one live card, navigation that never
overwrites a card, wall-clock times, currency, the maximum price checked before Buy, wording,
ways back, the ⭐ that shows and toggles, and /numbers with live numbers first."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.i18n import Translator
from handlers.activation import ActivationCb, BuyCb
from handlers.common import CARD_MARK, CARD_OWN
from tests.harness import ChatDriver, ChatMessage, until

TRANSLATOR = Translator()
LANGUAGES = ("en", "ru", "zh")


async def open_confirm(chat: ChatDriver, country: str = "Poland") -> None:
    """Telegram in `country`, through the service's country list (not a quick pick)."""
    await chat.send("/buy")
    await chat.tap_data(BuyCb(action="s", s="tg").pack(), chat.last_bot_message())
    await chat.send(country)
    await chat.tap(country)


async def buy(chat: ChatDriver) -> ChatMessage:
    await open_confirm(chat)
    await chat.tap("Buy for")
    return chat.last_bot_message()


def shown(chat: ChatDriver, message: ChatMessage) -> ChatMessage:
    return chat.session.messages[(chat.chat_id, message.message_id)]


def labels(message: ChatMessage) -> list[str]:
    return [b.text for b in message.buttons()]


def test_the_card_marks_match_the_activation_callbacks() -> None:
    """handlers.common knows a card by these strings: they are the card's own wire format."""
    assert ActivationCb(action="fav", id=1).pack().startswith(CARD_MARK)
    assert ActivationCb(action="refresh", id=1).pack().startswith(CARD_OWN)


# ------------------------------------------------------------------ 1: honest progress


async def test_buying_shows_progress_and_later_taps_say_still_buying_then_done(
    keyed_chat: ChatDriver, sandbox: Any, services: Any
) -> None:
    chat = keyed_chat
    await open_confirm(chat)
    confirm = chat.last_bot_message()
    _, go = chat.find_button("Buy for", confirm)
    assert go.callback_data is not None
    sandbox.state.inject_fault("latency", action="getNumberV2", seconds=3.0)
    first = asyncio.create_task(chat.tap_data(go.callback_data, confirm))
    # At once, before the provider answers: the confirm message says so, without buttons.
    await until(lambda: "Buying the number" in shown(chat, confirm).text)
    assert shown(chat, confirm).markup is None
    still = await chat.tap_data(go.callback_data, confirm)
    assert still is not None and still.text == TRANSLATOR.get("en", "buy-still-buying")
    answer = await first
    assert answer is not None and answer.text == TRANSLATOR.get("en", "buy-bought")
    # The confirm message became the card (no second message), and the tracker knows it.
    card = shown(chat, confirm)
    a = (await services.db.activations.list_live(chat.user.id))[0]
    assert f"<code>+{a.phone}</code>" in card.text and a.message_id == confirm.message_id
    assert chat.last_bot_message().message_id == confirm.message_id
    done = await chat.tap_data(go.callback_data, confirm)
    assert done is not None and done.text == TRANSLATOR.get("en", "buy-duplicate")
    assert len(sandbox.state.purchases) == 1


# ------------------------------------------------------------------ 3: a card is never overwritten


async def test_navigation_from_a_card_opens_new_messages(
    keyed_chat: ChatDriver, clock: Any
) -> None:
    chat = keyed_chat
    card = await buy(chat)
    number = shown(chat, card).text
    await chat.tap("Main menu", card)
    assert shown(chat, card).text == number
    assert "Main menu" in chat.last_text and chat.last_bot_message().message_id > card.message_id
    await chat.tap("My numbers", card)
    assert shown(chat, card).text == number and "My numbers" in chat.last_text
    clock.advance(121)
    await chat.tap("Cancel", card)
    ended = shown(chat, card).text
    assert "cancelled" in ended
    await chat.tap("Buy again", card)
    assert shown(chat, card).text == ended  # the cancelled number stays in the chat
    assert "Confirm the purchase" in chat.last_text
    assert chat.last_bot_message().message_id > card.message_id


# ------------------------------------------------------------------ 4: one live card


async def test_opening_from_my_numbers_moves_the_card(
    keyed_chat: ChatDriver, services: Any
) -> None:
    chat = keyed_chat
    first = await buy(chat)
    await chat.send("/numbers")
    listing = chat.last_bot_message()
    await chat.tap("📱", listing)
    card = chat.last_bot_message()
    assert card.message_id > listing.message_id and "<code>+" in card.text
    stub = shown(chat, first)
    assert stub.text == TRANSLATOR.get("en", "card-moved") and stub.markup is None
    assert "My numbers" in shown(chat, listing).text  # the list stays as it was
    a = (await services.db.activations.list_live(chat.user.id))[0]
    assert a.message_id == card.message_id
    live = [
        m
        for m in chat.session.visible(chat.chat_id)
        if any(CARD_MARK in (b.callback_data or "") for b in m.buttons())
    ]
    assert [m.message_id for m in live] == [card.message_id]  # exactly one card can be tapped


async def test_resent_cards_retire_the_old_ones(
    keyed_chat: ChatDriver, services: Any, tracker: Any
) -> None:
    chat = keyed_chat
    first = await buy(chat)
    await tracker.notifier.resend_cards(chat.user.id)
    assert shown(chat, first).text == TRANSLATOR.get("en", "card-moved")
    a = (await services.db.activations.list_live(chat.user.id))[0]
    assert a.message_id == chat.last_bot_message().message_id != first.message_id


async def test_the_maximum_price_prompt_loses_its_buttons_when_answered(
    keyed_chat: ChatDriver,
) -> None:
    chat = keyed_chat
    await open_confirm(chat)
    await chat.tap("Set a maximum price")
    prompt = chat.last_bot_message()
    assert "Send the most" in prompt.text and prompt.buttons()
    await chat.send("40")
    assert shown(chat, prompt).markup is None
    assert "Maximum price: 40.00" in chat.last_text and "Buy for" in " ".join(
        labels(chat.last_bot_message())
    )


# ------------------------------------------------------------------ 5: wall-clock times


async def test_card_and_numbers_show_times_in_the_users_zone(
    keyed_chat: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed_chat
    await services.db.users.update(chat.user.id, timezone="+03:00")
    card = await buy(chat)
    # The fake clock starts at 08:00 UTC: 11:00 in UTC+03:00; the number runs 20 minutes.
    text = shown(chat, card).text
    assert "Works until 11:20 (about 20 min left)" in text
    assert "Cancelling is possible from 11:02." in text
    assert "✖️ Cancel (from 11:02)" in labels(shown(chat, card))
    clock.advance(300)
    await chat.tap("Refresh", card)  # the hint is refreshed whenever the card is edited
    assert "Works until 11:20 (about 15 min left)" in shown(chat, card).text
    await chat.send("/numbers")
    assert "waiting for the code, until 11:20" in chat.last_text


# ------------------------------------------------------------------ 6: currency


async def test_prices_carry_the_keys_currency_in_each_language(
    keyed_chat: ChatDriver, services: Any, dp: Any, bot: Any, sandbox: Any, sandbox_key: str
) -> None:
    chat = keyed_chat
    await buy(chat)  # the purchase names the account's currency (643, roubles)
    await open_confirm(chat)
    assert "Price: <b>28.80 ₽</b>" in chat.last_text
    assert any("28.80 ₽" in label for label in labels(chat.last_bot_message()))
    await chat.tap("« Back")
    assert any("Poland · 28.80 ₽" in label for label in labels(chat.last_bot_message()))

    russian = ChatDriver(dp, bot, user_id=222, language="ru")
    await russian.send("/start")
    await services.accounts.add_key(222, base_url=sandbox.url, api_key=sandbox_key, label="k")
    key = await services.db.keys.get_active(222)
    await services.db.keys.set_currency(222, key.id, "643")
    await russian.send("/buy")
    await russian.tap("Телеграм")
    await russian.send("Польша")
    assert any("28,80 ₽" in label for label in labels(russian.last_bot_message()))


# ------------------------------------------------------------------ 8: maximum below the price


async def test_a_maximum_below_the_price_offers_no_buy(
    keyed_chat: ChatDriver, sandbox: Any
) -> None:
    chat = keyed_chat
    await open_confirm(chat)
    await chat.tap("Set a maximum price")
    await chat.send("20")
    screen = chat.last_bot_message()
    assert TRANSLATOR.get("en", "buy-confirm-max-below") in screen.text
    assert not any("Buy" in label for label in labels(screen))
    assert "Change the maximum price" in " ".join(labels(screen))
    await chat.tap("No maximum price", screen)
    assert "Buy for" in " ".join(labels(chat.last_bot_message()))
    assert sandbox.state.purchases == []


# ------------------------------------------------------------------ 9: wording


async def test_a_service_prohibited_in_a_country_says_so(
    keyed_chat: ChatDriver, sandbox: Any
) -> None:
    chat = keyed_chat
    await open_confirm(chat)
    sandbox.state.set_prohibited("15", "tg")
    await chat.tap("Buy for")
    assert "does not sell this service in this country" in chat.last_text
    for lang in LANGUAGES:
        assert "stopped" not in TRANSLATOR.get(lang, "error-service-prohibited")


async def test_a_cancel_the_user_asked_for_is_not_announced_as_no_code(
    keyed_chat: ChatDriver, clock: Any, tracker: Any
) -> None:
    chat = keyed_chat
    card = await buy(chat)
    await chat.tap("Cancel", card)  # inside the lock: scheduled, done by the tracker
    clock.advance(121)
    await tracker.tick()
    texts = " ".join(chat.texts())
    assert "was cancelled before any code came" in texts
    assert "No code came" not in texts
    assert "28.80 ₽" in texts
    for lang in LANGUAGES:
        assert "{" not in TRANSLATOR.get(
            lang, "tracker-cancelled-refunded", phone="+1", service="s", amount="1"
        )


# ------------------------------------------------------------------ 11: ways back


async def test_a_card_leads_back_to_my_numbers(keyed_chat: ChatDriver) -> None:
    chat = keyed_chat
    await buy(chat)
    await chat.send("/numbers")
    await chat.tap("📱")
    card = chat.last_bot_message()
    assert labels(card)[-2:] == ["« My numbers", "« Main menu"]
    await chat.tap("« My numbers", card)
    assert "My numbers" in chat.last_text and chat.last_bot_message().message_id > card.message_id


async def test_back_from_a_country_search_lands_on_the_country_list(keyed_chat: ChatDriver) -> None:
    chat = keyed_chat
    await chat.send("/buy")
    await chat.tap("Telegram")
    await chat.send("Pol")
    assert "Countries matching «Pol»" in chat.last_text
    await chat.tap("Poland")
    assert "Confirm the purchase" in chat.last_text
    await chat.tap("« Back")  # from the confirm screen: the search it came from
    assert "Countries matching «Pol»" in chat.last_text
    await chat.tap("« Back")  # from the search's result: the service's whole country list
    assert "choose a country" in chat.last_text and "matching" not in chat.last_text
    await chat.tap("« Back")  # and from there, the services
    assert "Choose a service" in chat.last_text
    stale = BuyCb(action="cp", s="tg", tk="q").pack()  # a search no longer in the state
    await chat.send("/start")
    answer = await chat.tap_data(stale, chat.last_bot_message())
    assert answer is not None and "choose a country" in chat.last_text


# ------------------------------------------------------------------ 12: the star


async def test_the_star_shows_and_toggles_the_favourite(
    keyed_chat: ChatDriver, services: Any
) -> None:
    chat = keyed_chat
    card = await buy(chat)
    assert "☆ Add to favourites" in labels(shown(chat, card))
    answer = await chat.tap("Add to favourites", card)
    assert answer is not None and answer.text == TRANSLATOR.get("en", "act-notice-fav")
    assert "⭐ In favourites" in labels(shown(chat, card))
    assert ("tg", "15") in await services.db.picks.favourites(chat.user.id)
    await chat.tap("In favourites", card)
    assert "☆ Add to favourites" in labels(shown(chat, card))
    assert await services.db.picks.favourites(chat.user.id) == []


# ------------------------------------------------------------------ /numbers


async def test_numbers_lists_live_first_soonest_first_then_recently_ended(
    keyed_chat: ChatDriver, services: Any, clock: Any
) -> None:
    chat = keyed_chat
    ended = await buy(chat)
    clock.advance(121)
    await chat.tap("Cancel", ended)
    clock.advance(60)
    await buy(chat)
    clock.advance(60)
    await buy(chat)
    await chat.send("/numbers")
    text = chat.last_text
    live_at, recent_at = text.index("Live now"), text.index("Recently ended")
    assert live_at < recent_at
    live_part = text[live_at:recent_at]
    assert live_part.index("until 08:23") < live_part.index("until 08:24")  # soonest first
    assert "cancelled" in text[recent_at:]
    rows = labels(chat.last_bot_message())
    assert rows[0].startswith("📱") and rows[2].startswith("✔️")
    await chat.tap("✔️")  # an ended number opens too (its codes stay reachable)
    assert "cancelled" in chat.last_text and "Buy again" in " ".join(
        labels(chat.last_bot_message())
    )


async def test_the_star_on_the_confirm_screen_toggles_the_pick(
    keyed_chat: ChatDriver, services: Any, sandbox: Any
) -> None:
    chat = keyed_chat
    await open_confirm(chat)
    await chat.tap("Add to favourites")
    screen = chat.last_bot_message()
    assert "Confirm the purchase" in screen.text
    assert "⭐ In favourites" in labels(screen)
    assert await services.db.picks.favourites(chat.user.id) == [("tg", "15")]
    await chat.send("/buy")
    assert labels(chat.last_bot_message())[0].startswith("⭐ Telegram · 🇵🇱 Poland")
    await chat.tap("⭐ Telegram")
    await chat.tap("In favourites")
    assert "☆ Add to favourites" in labels(chat.last_bot_message())
    assert await services.db.picks.favourites(chat.user.id) == []
    await chat.tap("Buy for")  # the screen drawn again carries a fresh, working token
    assert len(sandbox.state.purchases) == 1
