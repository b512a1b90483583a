"""The buy flow through the real dispatcher, a real SQLite database and the sandbox provider."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from handlers.activation import BuyCb
from handlers.activation.callbacks import OfferCb
from handlers.activation.flow import PageCache
from tests.harness import SqlTrace


@pytest.fixture
async def keyed(services: Any, sandbox: Any, sandbox_key: str, chat: Any) -> Any:
    """The chat's user with the sandbox key as the active key."""
    await services.accounts.add_key(
        chat.user.id, base_url=sandbox.url, api_key=sandbox_key, label="test"
    )
    return chat


async def open_confirm(chat: Any, service: str = "Telegram", country: str = "Poland") -> None:
    await chat.send("/buy")
    await chat.tap(service)
    await chat.send(country)
    await chat.tap(country)


async def test_no_key_prompts_to_add_one(chat: Any) -> None:
    await chat.send("/start")
    await chat.tap("Buy number")
    assert "API key" in chat.last_text
    _, button = chat.find_button("API keys")
    assert button.callback_data == "m1:keys"


async def test_services_search_countries_confirm(keyed: Any, sandbox: Any) -> None:
    chat = keyed
    await chat.send("/start")
    await chat.tap("Buy number")
    assert "Choose a service" in chat.last_text
    labels = [b.text for b in chat.last_bot_message().buttons()]
    assert "Telegram" in labels and "›" in labels  # paged: more services than one page

    await chat.send("whats")  # any text on the services screen searches
    found = [b.text for b in chat.last_bot_message().buttons()]
    assert "WhatsApp" in found and "Telegram" not in found

    await chat.send("tg")  # by code as well
    await chat.tap("Telegram")
    text = chat.last_text
    assert "Telegram" in text and "choose a country" in text
    prices = [b.text for b in chat.last_bot_message().buttons() if " · " in b.text]
    costs = [Decimal(label.split(" · ")[1].split()[0]) for label in prices]
    assert costs == sorted(costs) and len(costs) == 8  # cheapest first, one page

    await chat.send("pola")
    countries = [b.text for b in chat.last_bot_message().buttons() if " · " in b.text]
    assert len(countries) == 1 and countries[0].startswith("🇵🇱 Poland · 28.80")

    await chat.tap("Poland")
    confirm = chat.last_text
    assert "Confirm the purchase" in confirm
    assert "Poland" in confirm and "28.80" in confirm and "100.00" in confirm  # price, balance
    assert len(sandbox.state.purchases) == 0


async def test_services_paging_and_russian_country_names(
    services: Any, sandbox: Any, sandbox_key: str, dp: Any, bot: Any
) -> None:
    from tests.harness import ChatDriver

    chat = ChatDriver(dp, bot, user_id=222, language="ru")
    await services.accounts.add_key(222, base_url=sandbox.url, api_key=sandbox_key, label="k")
    await chat.send("/buy")
    first = [b.text for b in chat.last_bot_message().buttons()]
    await chat.tap("›")
    second = [b.text for b in chat.last_bot_message().buttons()]
    assert set(first) != set(second)
    await chat.send("/buy")
    await chat.send("tg")
    await chat.tap("Телеграм")  # service names in the user's language
    await chat.send("Польша")  # search by the name in the user's language
    countries = [b.text for b in chat.last_bot_message().buttons() if " · " in b.text]
    assert countries and "Польша" in countries[0]


async def test_full_purchase_flow_codes_and_done(keyed: Any, sandbox: Any, services: Any) -> None:
    chat = keyed
    await open_confirm(chat)
    answer = await chat.tap("Buy for")
    assert answer is not None
    assert len(sandbox.state.purchases) == 1
    card = chat.last_bot_message()
    phone = sandbox.state.purchases[0]["phone"]
    assert f"<code>+{phone}</code>" in card.text
    assert "Telegram" in card.text and "Poland" in card.text and "28.80" in card.text
    stored = await services.db.activations.list_live(chat.user.id)
    assert len(stored) == 1 and (stored[0].chat_id, stored[0].message_id) == (
        chat.chat_id,
        card.message_id,
    )
    assert sandbox.state.balance(sandbox.state.purchases[0]["key"]) == Decimal("71.20")

    await chat.tap("SMS sent", card)
    assert "SMS sent, waiting" in chat.session.messages[(chat.chat_id, card.message_id)].text
    provider_id = sandbox.state.purchases[0]["id"]
    sandbox.state.deliver_sms(provider_id, "Your Telegram code is 12345")
    await chat.tap("Refresh", card)
    shown = chat.session.messages[(chat.chat_id, card.message_id)]
    assert "<code>12345</code>" in shown.text

    await chat.tap("Another code", card)
    shown = chat.session.messages[(chat.chat_id, card.message_id)]
    assert "another code" in shown.text
    await chat.tap("Refresh", card)  # STATUS_WAIT_RETRY carries the old code: nothing new
    activation = (await services.db.activations.list_live(chat.user.id))[0]
    assert [c.code for c in activation.codes] == ["12345"]

    sandbox.state.deliver_sms(provider_id, "Your Telegram code is 67890")
    await chat.tap("Refresh", card)
    shown = chat.session.messages[(chat.chat_id, card.message_id)]
    assert "<code>12345</code>" in shown.text and "<code>67890</code>" in shown.text

    await chat.tap("Done", card)
    shown = chat.session.messages[(chat.chat_id, card.message_id)]
    assert "done" in shown.text
    assert await services.db.activations.list_live(chat.user.id) == []
    assert sandbox.state.activations[provider_id].status != "waiting"
    assert any("Buy again" in b.text for b in shown.buttons())


async def test_cancel_locked_then_allowed_refunds(
    keyed: Any, sandbox: Any, sandbox_key: str, clock: Any, services: Any
) -> None:
    chat = keyed
    await open_confirm(chat)
    await chat.tap("Buy for")
    card = chat.last_bot_message()
    assert "Cancel (from 08:02)" in " ".join(b.text for b in card.buttons())
    answer = await chat.tap("Cancel", card)
    assert answer is not None and "possible in 2 min" in (answer.text or "")
    live = await services.db.activations.list_live(chat.user.id)
    assert live and live[0].cancel_requested  # scheduled, not failed
    assert "Cancel scheduled" in chat.session.messages[(chat.chat_id, card.message_id)].text
    assert sandbox.state.balance(sandbox_key) == Decimal("71.20")

    clock.advance(121)
    answer = await chat.tap("Cancel", card)
    assert answer is not None and "Cancelled" in (answer.text or "")
    assert sandbox.state.balance(sandbox_key) == Decimal("100")
    assert await services.db.activations.list_live(chat.user.id) == []
    assert "cancelled" in chat.session.messages[(chat.chat_id, card.message_id)].text


async def test_buy_again_opens_confirm(keyed: Any, sandbox: Any, clock: Any) -> None:
    chat = keyed
    await open_confirm(chat)
    await chat.tap("Buy for")
    card = chat.last_bot_message()
    clock.advance(121)
    await chat.tap("Cancel", card)
    await chat.tap("Buy again", card)
    assert "Confirm the purchase" in chat.last_text and "Poland" in chat.last_text


async def test_max_price_is_sent_and_wrong_max_price_shows_minimum(
    keyed: Any, sandbox: Any
) -> None:
    chat = keyed
    await open_confirm(chat)
    await chat.tap("Set a maximum price")
    await chat.send("abc")
    assert "not a price" in chat.last_text
    await chat.send("30")
    assert "Maximum price: 30.00" in chat.last_text
    # The price rises above the maximum after the screen was drawn: the provider refuses.
    sandbox.state.set_price("15", "tg", "32")
    answer = await chat.tap("Buy for")
    assert answer is not None and "32" in (answer.text or "")
    assert "32" in chat.last_text and "⚠️" in chat.last_text
    assert sandbox.state.purchases == []
    requests = [r for r in sandbox.state.requests if r["action"].startswith("getNumber")]
    assert requests and requests[-1]["params"].get("maxPrice") == "30"


@pytest.mark.parametrize(
    ("setup", "expected_key"),
    [
        ("no_numbers", "error-no-numbers"),
        ("no_balance", "error-no-balance"),
        ("banned", "error-banned"),
        ("region", "error-region"),
    ],
)
async def test_provider_errors_shown_as_their_message(
    keyed: Any, sandbox: Any, sandbox_key: str, services: Any, setup: str, expected_key: str
) -> None:
    chat = keyed
    await open_confirm(chat)
    state = sandbox.state
    if setup == "no_numbers":
        state.set_stock("15", "tg", 0)
    elif setup == "no_balance":
        state.set_balance(sandbox_key, "1")
    elif setup == "banned":
        state.ban(sandbox_key, "2030-1-2 3-4-5")
    elif setup == "region":
        state.geo_block(sandbox_key)
    answer = await chat.tap("Buy for")
    t = services.translator.bind("en")
    if expected_key == "error-banned":
        # The sandbox's own time (its preset's zone: UTC), shown in the user's zone, labelled.
        expected = t(expected_key, until="2030-01-02 03:04 UTC")
    else:
        expected = t(expected_key)
    assert answer is not None and answer.text == expected[:200]
    assert expected in chat.last_text
    assert state.purchases == []
    assert await services.db.activations.list_live(chat.user.id) == []


async def test_provider_down_is_said_plainly(keyed: Any, sandbox: Any, services: Any) -> None:
    chat = keyed
    await chat.send("/buy")
    # Reads are retried twice; a provider down for all three tries is reported, not hidden.
    sandbox.state.inject_fault("html502", action="getPrices", count=3)
    await chat.tap("Telegram")
    expected = services.translator.get("en", "error-provider-down")
    assert chat.last_text == expected
    assert any("Main menu" in b.text for b in chat.last_bot_message().buttons())


async def test_html_page_on_purchase_is_an_unknown_outcome(
    keyed: Any, sandbox: Any, services: Any
) -> None:
    chat = keyed
    await open_confirm(chat)
    sandbox.state.inject_fault("html502", action="getNumberV2")
    await chat.tap("Buy for")
    # A 502 page after a purchase request may hide a charge: never retried, reconciled.
    assert "checking" in chat.last_text.lower()
    assert len(await services.db.pending.list_all()) == 1
    assert len([r for r in sandbox.state.requests if r["action"] == "getNumberV2"]) == 1


async def test_unknown_outcome_stores_pending_and_says_checking(
    keyed: Any, sandbox: Any, services: Any
) -> None:
    chat = keyed
    await open_confirm(chat)
    sandbox.state.inject_fault("drop_after_charge", action="getNumberV2")
    await chat.tap("Buy for")
    assert "checking" in chat.last_text.lower()
    pending = await services.db.pending.list_all()
    assert len(pending) == 1
    assert (pending[0].service, pending[0].country, pending[0].user_id) == (
        "tg",
        "15",
        chat.user.id,
    )
    assert len(sandbox.state.purchases) == 1  # charged: the tracker reconciles, no retry


async def test_double_tap_same_update_buys_one(keyed: Any, sandbox: Any, dp: Any, bot: Any) -> None:
    chat = keyed
    await open_confirm(chat)
    confirm, button = chat.find_button("Buy for")
    update = chat.make_callback_update(button.callback_data, confirm)
    await dp.feed_update(bot, update)
    await dp.feed_update(bot, update)
    assert len(sandbox.state.purchases) == 1
    answers = [a.text for a in chat.session.callback_answers]
    assert any("already done" in (text or "") for text in answers)


async def test_concurrent_taps_with_one_token_buy_one(
    keyed: Any, sandbox: Any, dp: Any, bot: Any, services: Any
) -> None:
    chat = keyed
    await open_confirm(chat)
    confirm, button = chat.find_button("Buy for")
    updates = [chat.make_callback_update(button.callback_data, confirm) for _ in range(3)]
    before = len(chat.session.callback_answers)
    await asyncio.gather(*(dp.feed_update(bot, u) for u in updates))
    assert len(sandbox.state.purchases) == 1
    assert len(await services.db.activations.list_live(chat.user.id)) == 1
    answered = {a.callback_query_id for a in chat.session.callback_answers[before:]}
    assert answered == {u.callback_query.id for u in updates}  # every tap answered


async def test_every_buy_callback_fits_64_bytes(keyed: Any) -> None:
    chat = keyed
    await open_confirm(chat)
    await chat.tap("Set a maximum price")
    await chat.send("123456.7891")
    for message in chat.session.visible(chat.chat_id):
        for button in message.buttons():
            if button.callback_data:
                assert len(button.callback_data.encode()) <= 64
    long = BuyCb(action="go", s="abcdefghij", c="1234", tk="x" * 12, mx="123456.7891")
    assert len(long.pack().encode()) <= 64


async def test_cached_pages_follow_prices_and_favourites(
    keyed: Any, sandbox: Any, services: Any
) -> None:
    """Rendered pages are reused between taps, but never when what they show has changed."""
    chat = keyed
    await chat.send("/buy")
    await chat.send("Telegram")
    await chat.tap("Telegram")
    await chat.send("Poland")
    before = [b.text for b in chat.last_bot_message().buttons() if "Poland" in b.text]
    assert before and "7.77" not in before[0]
    sandbox.state.set_price("15", "tg", "7.77")
    key = await services.db.keys.get_active(chat.user.id)
    services.catalog.forget_prices(key, "tg")
    await chat.send("Poland")
    after = [b.text for b in chat.last_bot_message().buttons() if "Poland" in b.text]
    assert after and "7.77" in after[0]

    await chat.send("/buy")
    assert not [b for b in chat.last_bot_message().buttons() if b.text.startswith("⭐")]
    await services.db.picks.add_favourite(chat.user.id, "tg", "15")
    await chat.send("/buy")
    stars = [b.text for b in chat.last_bot_message().buttons() if b.text.startswith("⭐")]
    assert stars and "Poland" in stars[0]


def test_page_cache_keeps_the_newest_views() -> None:
    cache = PageCache(size=2)
    rendered: list[str] = []

    def render(name: str) -> Any:
        def make() -> Any:
            rendered.append(name)
            return (name, None)

        return make

    assert cache.get("a", render("a")) == ("a", None)
    assert cache.get("a", render("a-again")) == ("a", None)  # served from the cache
    cache.get("b", render("b"))
    cache.get("a", render("a-3"))  # a is now the newest
    cache.get("c", render("c"))  # evicts b, the oldest
    cache.get("b", render("b-again"))
    assert rendered == ["a", "b", "c", "b-again"]


async def test_services_search_finds_english_names_in_another_language(
    keyed: Any, services: Any
) -> None:
    chat = keyed
    await services.db.users.get_or_create(chat.user.id)
    await services.db.users.update(chat.user.id, language="ru")
    await chat.send("/buy")
    assert "Телеграм" in [b.text for b in chat.last_bot_message().buttons()]
    await chat.send("telegram")  # the provider's Russian list says «Телеграм»
    found = [b.text for b in chat.last_bot_message().buttons()]
    assert "Телеграм" in found and "Ватсап" not in found
    await chat.send("ватс")  # and the Russian name still works
    assert "Ватсап" in [b.text for b in chat.last_bot_message().buttons()]


# ------------------------------------------------------------------ tokens and lost answers


def _buy_button(chat: Any) -> tuple[Any, OfferCb]:
    shown, button = chat.find_button("Buy for")
    return shown, OfferCb.unpack(button.callback_data)


async def test_a_token_the_bot_did_not_issue_for_this_offer_buys_nothing(
    keyed: Any, sandbox: Any, services: Any, clock: Any
) -> None:
    chat = keyed
    await open_confirm(chat)
    shown, data = _buy_button(chat)
    stale = services.translator.get("en", "buy-stale")
    forged = [
        data.model_copy(update={"tk": "A" * len(data.tk)}),  # never issued
        data.model_copy(update={"c": "16"}),  # issued for Poland, not the United Kingdom
        data.model_copy(update={"mx": "99999"}),  # issued without a price cap to lift
    ]
    for callback in forged:
        answer = await chat.tap_data(callback.pack(), shown)
        assert answer is not None and answer.text == stale
    # Another user replaying this user's button.
    from tests.harness import ChatDriver

    stranger = ChatDriver(chat.dp, chat.bot, user_id=333, language="en")
    key = sandbox.state.create_key(balance="100")
    await services.accounts.add_key(333, base_url=sandbox.url, api_key=key, label="x")
    answer = await stranger.tap_data(data.pack(), shown)
    assert answer is not None and answer.text == stale
    clock.advance(3601)  # an hour later the confirm screen's token has expired
    answer = await chat.tap_data(data.pack(), shown)
    assert answer is not None and answer.text == stale
    assert sandbox.state.purchases == []
    assert await services.db.activations.list_live(chat.user.id) == []


async def test_lost_answer_turns_the_checking_message_into_the_number_card(
    keyed: Any, sandbox: Any, services: Any, tracker: Any, clock: Any
) -> None:
    chat = keyed
    await open_confirm(chat)
    shown, _data = _buy_button(chat)
    sandbox.state.inject_fault("drop_after_charge", action="getNumberV2")
    await chat.tap("Buy for")
    checking = chat.session.messages[(chat.chat_id, shown.message_id)]
    assert "checking" in checking.text.lower()
    clock.advance(10)  # the tracker reconciles it on a later pass
    await tracker.tick()
    phone = sandbox.state.purchases[0]["phone"]
    card = chat.session.messages[(chat.chat_id, shown.message_id)]
    assert f"+{phone}" in card.text and "28.80" in card.text  # the normal card, with its price
    assert any("Cancel" in b.text for b in card.buttons())
    assert not any("had not shown you" in text for text in chat.session.bot_texts(chat.chat_id))
    [stored] = await services.db.activations.list_live(chat.user.id)
    assert stored.message_id == shown.message_id


async def test_lost_answer_that_charged_nothing_says_so_in_the_checking_message(
    keyed: Any, sandbox: Any, services: Any, tracker: Any, clock: Any
) -> None:
    chat = keyed
    await open_confirm(chat)
    shown, _data = _buy_button(chat)
    sandbox.state.inject_fault("html502", action="getNumberV2")  # not processed, not charged
    await chat.tap("Buy for")
    await tracker.tick()
    assert "checking" in chat.session.messages[(chat.chat_id, shown.message_id)].text.lower()
    for _ in range(3):
        clock.advance(10)
        await tracker.tick()
    text = chat.session.messages[(chat.chat_id, shown.message_id)].text
    assert text == services.translator.get(
        "en", "tracker-not-bought", service="Telegram", country="Poland"
    )
    assert sandbox.state.purchases == [] and await services.db.pending.list_all() == []


async def test_a_ban_end_shows_in_the_users_zone(
    keyed: Any, sandbox: Any, sandbox_key: str, services: Any
) -> None:
    """Item 9: the BANNED date is the provider's time (the sandbox preset's zone, UTC) shown in
    the user's own zone, labelled, on the buy screen as on the rental card."""
    chat = keyed
    await services.db.users.update(chat.user.id, timezone="+05:00")
    await open_confirm(chat)
    sandbox.state.ban(sandbox_key, "2030-1-2 3-4-5")
    answer = await chat.tap("Buy for")
    expected = services.translator.bind("en")("error-banned", until="2030-01-02 08:04 UTC+05:00")
    assert answer is not None and answer.text == expected[:200]
    assert sandbox.state.purchases == []


async def test_a_purchase_reads_neither_the_key_nor_the_price_nor_the_number_again(
    keyed: Any, services: Any
) -> None:
    """The Buy tap: the key the update read (with its user) buys and draws the card, the
    token's claim brings the price the screen showed, the stored number comes back from its
    insert; the same pick bought again leaves the recents as they are."""
    chat = keyed
    await open_confirm(chat)
    await chat.tap("Buy")
    await chat.send("/buy")
    await chat.tap("Poland")  # the recent pick, one tap from the services screen
    sql = await SqlTrace.start(services.db)
    await chat.tap("Buy")
    assert "Telegram" in chat.last_text and "Poland" in chat.last_text  # the new number's card
    assert sql.matching("SELECT id, user_id, label, base_url") == []  # no key read alone
    assert sql.matching("SELECT price FROM offer_tokens") == []
    assert [s for s in sql.matching("provider_id = ") if s.startswith("SELECT")] == []
    assert [s for s in sql.statements if "recents" in s and not s.startswith("SELECT")] == []
