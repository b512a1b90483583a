"""The activation card: views, ownership of every callback, stale buttons, favourites."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.flags import country_flag
from bot.i18n import Translator
from handlers.activation import ActivationCb
from handlers.activation.presenter import card_data, card_keyboard, card_text
from handlers.names import Names
from storage.models import Activation, ActivationCode

NOW = 1_800_000_000.0
TRANSLATOR = Translator()


def make_activation(**overrides: Any) -> Activation:
    fields: dict[str, Any] = {
        "id": 7,
        "user_id": 111,
        "key_id": 1,
        "provider_id": "555",
        "service": "tg",
        "country": "15",
        "phone": "48900000001",
        "cost": Decimal("28.8"),
        "currency": "RUB",
        "status": "waiting",
        "sms_sent": False,
        "round": 0,
        "codes": [],
        "created_at": NOW,
        "ends_at": NOW + 1200,
        "cancel_allowed_at": NOW + 120,
        "cancel_requested": False,
        "can_get_another_sms": True,
        "chat_id": 111,
        "message_id": 1000,
        "next_poll_at": NOW,
        "ended_at": None,
        "adopted": False,
    }
    fields.update(overrides)
    return Activation(**fields)


def labels(markup: Any) -> list[str]:
    return [b.text for row in markup.inline_keyboard for b in row]


def render_activation_card(
    a: Activation, lang: str, now: float, *, country_name: str, service_name: str
) -> str:
    """The card's text through the presenter, with names as the catalog would give them."""
    names = Names(service_name, country_name, country_flag(country_name))
    return card_text(card_data(a, names, lang=lang, now=now), TRANSLATOR.bind(lang))


def activation_card_keyboard(a: Activation, lang: str, now: float) -> Any:
    names = Names(a.service, a.country, "🌐")
    return card_keyboard(card_data(a, names, lang=lang, now=now), TRANSLATOR.bind(lang))


async def buy_number(chat: Any) -> Any:
    await chat.send("/buy")
    await chat.tap("Telegram")
    await chat.send("Poland")
    await chat.tap("Poland")
    await chat.tap("Buy for")
    return chat.last_bot_message()


# ------------------------------------------------------------------ pure views


def test_card_shows_number_price_time_and_lock() -> None:
    t = "en"
    a = make_activation()
    text = render_activation_card(a, t, NOW + 30, country_name="Poland", service_name="Telegram")
    assert "<code>+48900000001</code>" in text
    assert "🇵🇱 Poland" in text and "Telegram" in text and "28.80 ₽" in text
    # Deadlines as wall-clock times (UTC here), the hint in whole minutes: nothing goes stale.
    assert "Works until 08:20 (about 20 min left)" in text
    assert "Cancelling is possible from 08:02." in text
    buttons = labels(activation_card_keyboard(a, t, NOW + 30))
    assert buttons[0] == "📨 SMS sent"
    assert "✖️ Cancel (from 08:02)" in buttons
    assert not any("Another" in b or "Done" in b or "Buy again" in b for b in buttons)
    after_lock = labels(activation_card_keyboard(a, t, NOW + 121))
    assert "✖️ Cancel" in after_lock


def test_card_with_codes_offers_another_and_done() -> None:
    t = "en"
    codes = [
        ActivationCode(0, "12345", None, NOW, True),
        ActivationCode(1, "67890", None, NOW, True),
    ]
    a = make_activation(status="received", codes=codes, round=1)
    text = render_activation_card(a, t, NOW, country_name="Poland", service_name="Telegram")
    assert "<code>12345</code>" in text and "<code>67890</code>" in text
    buttons = labels(activation_card_keyboard(a, t, NOW))
    assert "🔁 Another code" in buttons and "✅ Done" in buttons
    assert not any("Cancel" in b for b in buttons)
    once = make_activation(status="received", codes=codes[:1], can_get_another_sms=False)
    assert "🔁 Another code" not in labels(activation_card_keyboard(once, t, NOW))


def test_ended_card_offers_buy_again_and_escapes() -> None:
    t = "ru"
    a = make_activation(status="cancelled", ended_at=NOW)
    text = render_activation_card(a, t, NOW, country_name="<b>X</b>", service_name="A&B")
    assert "&lt;b&gt;X&lt;/b&gt;" in text and "A&amp;B" in text and "отменено" in text
    assert "Осталось" not in text
    buttons = labels(activation_card_keyboard(a, t, NOW))
    assert "🛒 Купить снова" in buttons
    assert not any("Отменить" in b for b in buttons)


def test_every_card_callback_fits_64_bytes() -> None:
    t = "en"
    for status in ("waiting", "retry", "received", "finished", "cancelled", "expired"):
        codes = [ActivationCode(0, "1", None, NOW, True)] if status != "waiting" else []
        a = make_activation(id=2**62, status=status, codes=codes)
        for row in activation_card_keyboard(a, t, NOW).inline_keyboard:
            for button in row:
                assert button.callback_data and len(button.callback_data.encode()) <= 64


def test_catalog_keys_complete_in_every_language() -> None:
    root = Path(__file__).resolve().parents[2] / "bot" / "locales"
    translator = TRANSLATOR
    for feature in ("buy", "activation"):
        keys_by_lang = {}
        for lang in ("en", "ru", "zh"):
            text = (root / lang / f"{feature}.ftl").read_text(encoding="utf-8")
            keys_by_lang[lang] = {
                line.split("=")[0].strip() for line in text.splitlines() if "=" in line
            }
        assert keys_by_lang["en"] == keys_by_lang["ru"] == keys_by_lang["zh"]
        for key in keys_by_lang["en"]:
            assert translator.get("ru", key) != translator.get("en", key) or key in {
                "act-card-title",
            }


# ------------------------------------------------------------------ through the dispatcher


@pytest.fixture
async def buyer(services: Any, sandbox: Any, sandbox_key: str, chat: Any) -> Any:
    await services.accounts.add_key(
        chat.user.id, base_url=sandbox.url, api_key=sandbox_key, label="test"
    )
    return chat


async def test_crafted_callback_for_another_users_number_changes_nothing(
    buyer: Any, services: Any, sandbox: Any, dp: Any, bot: Any
) -> None:
    from tests.harness import ChatDriver

    card = await buy_number(buyer)
    mine = (await services.db.activations.list_live(buyer.user.id))[0]
    intruder = ChatDriver(dp, bot, user_id=999, language="en")
    await intruder.send("/start")
    requests_before = len(sandbox.state.requests)
    for action in ("open", "sms", "more", "done", "cancel", "refresh", "fav", "again"):
        data = ActivationCb(action=action, id=mine.id).pack()
        answer = await intruder.tap_data(data, intruder.last_bot_message())
        assert answer is not None and "not yours" in (answer.text or "")
    after = await services.db.activations.get(buyer.user.id, mine.id)
    assert after is not None
    assert (after.status, after.sms_sent, after.cancel_requested, after.message_id) == (
        "waiting",
        False,
        False,
        card.message_id,
    )
    assert len(sandbox.state.requests) == requests_before  # the provider was never asked
    assert await services.db.picks.favourites(999) == []
    assert "+" + mine.phone not in " ".join(intruder.session.bot_texts(intruder.chat_id))


async def test_stale_button_on_ended_number_gets_a_notice(
    buyer: Any, services: Any, clock: Any, sandbox: Any
) -> None:
    card = await buy_number(buyer)
    clock.advance(121)
    await buyer.tap("Cancel", card)
    stale = ActivationCb(action="sms", id=(await services.db.activations.list_ended(111))[0][0].id)
    before = len(sandbox.state.requests)
    answer = await buyer.tap_data(stale.pack(), card)
    assert answer is not None and "already ended" in (answer.text or "")
    assert len(sandbox.state.requests) == before
    # An action the card never had does not decode: the fallback says the button is old.
    unknown = await buyer.tap_data(f"a1:zzz:{stale.id}", card)
    assert unknown is not None and unknown.text == TRANSLATOR.get("en", "fallback-stale-button")


async def test_open_shows_the_card_and_moves_it(buyer: Any, services: Any) -> None:
    first = await buy_number(buyer)
    a = (await services.db.activations.list_live(buyer.user.id))[0]
    await buyer.send("/start")
    menu = buyer.last_bot_message()
    answer = await buyer.tap_data(ActivationCb(action="open", id=a.id).pack(), menu)
    assert answer is not None
    # The card moves below the menu (which stays); the first card becomes a stub.
    card = buyer.last_bot_message()
    assert card.message_id > menu.message_id and f"<code>+{a.phone}</code>" in card.text
    assert "Main menu" in buyer.session.messages[(buyer.chat_id, menu.message_id)].text
    stub = buyer.session.messages[(buyer.chat_id, first.message_id)]
    assert stub.text == TRANSLATOR.get("en", "card-moved") and stub.markup is None
    moved = await services.db.activations.get(buyer.user.id, a.id)
    assert moved is not None and moved.message_id == card.message_id


async def test_favourite_comes_first_on_the_services_page(buyer: Any, services: Any) -> None:
    card = await buy_number(buyer)
    answer = await buyer.tap("Add to favourites", card)
    assert answer is not None and "Added to favourites" in (answer.text or "")
    assert ("tg", "15") in await services.db.picks.favourites(buyer.user.id)
    await buyer.send("/buy")
    first = buyer.last_bot_message().buttons()[0]
    assert first.text.startswith("⭐ Telegram · 🇵🇱 Poland")
    await buyer.tap("⭐ Telegram")
    assert "Confirm the purchase" in buyer.last_text


async def test_a_second_tap_on_the_star_removes_the_favourite(buyer: Any, services: Any) -> None:
    card = await buy_number(buyer)
    await buyer.tap("Add to favourites", card)
    answer = await buyer.tap("In favourites", card)
    assert answer is not None and answer.text == TRANSLATOR.get("en", "act-notice-unfav")
    assert await services.db.picks.favourites(buyer.user.id) == []
    await buyer.send("/buy")
    assert not buyer.last_bot_message().buttons()[0].text.startswith("⭐")
    again = await buyer.tap("Add to favourites", card)  # and a third tap stars it again
    assert again is not None and again.text == TRANSLATOR.get("en", "act-notice-fav")
    assert await services.db.picks.favourites(buyer.user.id) == [("tg", "15")]


async def test_refresh_marks_shown_codes_delivered(buyer: Any, services: Any, sandbox: Any) -> None:
    card = await buy_number(buyer)
    a = (await services.db.activations.list_live(buyer.user.id))[0]
    sandbox.state.deliver_sms(a.provider_id, "code 4242")
    await buyer.tap("Refresh", card)
    assert "<code>4242</code>" in buyer.session.messages[(buyer.chat_id, card.message_id)].text
    assert await services.db.activations.undelivered_codes(a.id) == []


async def test_full_flow_from_start_with_the_real_key_flow(
    keyed_chat: Any, services: Any, sandbox: Any
) -> None:
    chat = keyed_chat
    await chat.send("/start")
    await chat.tap("Buy number")
    await chat.send("Tele")
    await chat.tap("Telegram")
    await chat.send("Poland")
    await chat.tap("Poland")
    await chat.tap("Buy for")
    assert len(sandbox.state.purchases) == 1
    card = chat.last_bot_message()
    sandbox.state.deliver_sms(sandbox.state.purchases[0]["id"], "code 777111")
    await chat.tap("Refresh", card)
    await chat.tap("Done", card)
    text = chat.session.messages[(chat.chat_id, card.message_id)].text
    assert "<code>777111</code>" in text and "done" in text


# ------------------------------------------------------------------ a number with a code


async def _open_twice(chat: Any, services: Any) -> tuple[Any, Any, Any, str]:
    """Buy a number, then open it again from another message (as "My numbers" does): the
    first card is now an older card of the same number. Its Cancel button's data is kept: a
    stub that could not be made (too old to edit) leaves such a button in the chat."""
    old_card = await buy_number(chat)
    _shown_at, cancel = chat.find_button("Cancel", old_card)
    a = (await services.db.activations.list_live(chat.user.id))[0]
    await chat.send("/start")
    await chat.tap_data(ActivationCb(action="open", id=a.id).pack(), chat.last_bot_message())
    new_card = chat.last_bot_message()
    return a, old_card, new_card, str(cancel.callback_data)


def _shown(chat: Any, card: Any) -> str:
    return str(chat.session.messages[(chat.chat_id, card.message_id)].text)


@pytest.mark.parametrize("after_lock", [False, True])
async def test_cancel_on_an_older_card_after_the_code_is_refused(
    buyer: Any, services: Any, sandbox: Any, clock: Any, tracker: Any, after_lock: bool
) -> None:
    a, old_card, new_card, cancel = await _open_twice(buyer, services)
    if after_lock:
        clock.advance(121)
    sandbox.state.deliver_sms(a.provider_id, "code 515151")
    await tracker.tick()  # the tracker stores the code and updates the card it knows
    assert "<code>515151</code>" in _shown(buyer, new_card)
    before = len(sandbox.state.requests)
    answer = await buyer.tap_data(cancel, old_card)
    assert answer is not None and answer.show_alert
    assert "already got its code" in (answer.text or "")
    assert not [r for r in sandbox.state.requests[before:] if r["action"] == "setStatus"]
    stored = await services.db.activations.get(buyer.user.id, a.id)
    assert stored is not None and stored.live and not stored.cancel_requested
    # The tapped card now shows the code, and nowhere a pending cancel.
    redrawn = _shown(buyer, old_card)
    assert "<code>515151</code>" in redrawn
    for text in buyer.session.bot_texts(buyer.chat_id):
        assert "Cancel scheduled" not in text and "Cancelling…" not in text


async def test_cancel_refused_in_every_language(
    services: Any, sandbox: Any, sandbox_key: str, dp: Any, bot: Any, tracker: Any
) -> None:
    from tests.harness import ChatDriver

    for user_id, language in ((201, "ru"), (202, "zh")):
        chat = ChatDriver(dp, bot, user_id=user_id, language=language)
        await chat.send("/start")
        await services.accounts.add_key(
            user_id, base_url=sandbox.url, api_key=sandbox_key, label="test"
        )
        token = await services.orders.offer_token(
            user_id, service="tg", country="0", max_price=None
        )
        a = await services.orders.buy(
            user_id, token=token, service="tg", country="0", max_price=None, chat_id=user_id
        )
        assert a.activation is not None
        sandbox.state.deliver_sms(a.activation.provider_id, "code 1234")
        await tracker.tick()
        answer = await chat.tap_data(
            ActivationCb(action="cancel", id=a.activation.id).pack(), chat.last_bot_message()
        )
        t = TRANSLATOR.bind(language)
        assert answer is not None and answer.text == t("act-cancel-has-code")


async def test_a_code_clears_a_scheduled_cancel_on_refresh(
    buyer: Any, services: Any, sandbox: Any
) -> None:
    card = await buy_number(buyer)
    answer = await buyer.tap("Cancel", card)  # inside the lock: scheduled
    assert answer is not None and "automatically" in (answer.text or "")
    a = (await services.db.activations.list_live(buyer.user.id))[0]
    assert a.cancel_requested
    sandbox.state.deliver_sms(a.provider_id, "code 8080")
    await buyer.tap("Refresh", card)
    stored = await services.db.activations.get(buyer.user.id, a.id)
    assert stored is not None and not stored.cancel_requested and stored.status == "received"
    shown = _shown(buyer, card)
    assert "<code>8080</code>" in shown and "Cancel scheduled" not in shown


def test_card_never_shows_a_pending_cancel_next_to_a_code() -> None:
    t = "en"
    a = make_activation(
        status="received", codes=[ActivationCode(0, "4444", None, NOW, True)], cancel_requested=True
    )
    for now in (NOW + 30, NOW + 300):
        text = render_activation_card(a, t, now, country_name="Poland", service_name="Telegram")
        assert "Cancel scheduled" not in text and "Cancelling" not in text
        assert not any("Cancel" in b for b in labels(activation_card_keyboard(a, t, now)))


# ------------------------------------------------------------------ lost answers


async def test_cancel_whose_answer_is_lost_is_checked_then_shown_cancelled(
    buyer: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any
) -> None:
    card = await buy_number(buyer)
    a = (await services.db.activations.list_live(buyer.user.id))[0]
    balance = sandbox.state.balance(sandbox_key)
    clock.advance(121)
    # The provider cancels (and refunds), but its answer arrives as noise.
    sandbox.state.inject_fault("garbled", action="setStatus", process=True)
    answer = await buyer.tap("Cancel", card)
    assert sandbox.state.balance(sandbox_key) > balance  # it did cancel there
    assert answer is not None and not answer.show_alert
    assert "checking" in (answer.text or "")
    assert "Checking with the provider" in _shown(buyer, card)
    checking = await services.db.activations.get(buyer.user.id, a.id)
    assert checking is not None and checking.live and checking.pending_change == "cancel"
    await tracker.tick()  # the next poll settles it
    ended = await services.db.activations.get(buyer.user.id, a.id)
    assert ended is not None and ended.status == "cancelled" and ended.pending_change is None
    shown = _shown(buyer, card)
    assert "cancelled" in shown and "Checking" not in shown
    texts = buyer.session.bot_texts(buyer.chat_id)
    assert any("went back to your balance" in text for text in texts)
    down = TRANSLATOR.bind("en")("error-provider-down")
    assert not any(down in text for text in texts)
    setstatus = [r for r in sandbox.state.requests if r["action"] == "setStatus"]
    assert len(setstatus) == 1  # settled by asking, not by cancelling again


def test_card_says_checking_while_a_change_is_unconfirmed() -> None:
    for lang, words in (("en", "Checking"), ("ru", "Уточняю"), ("zh", "确认")):
        a = make_activation(cancel_requested=True, pending_change="cancel")
        text = render_activation_card(a, lang, NOW + 200, country_name="X", service_name="Y")
        assert words in text


async def test_another_code_whose_answer_is_lost_is_checked(
    buyer: Any, services: Any, sandbox: Any, tracker: Any
) -> None:
    card = await buy_number(buyer)
    a = (await services.db.activations.list_live(buyer.user.id))[0]
    sandbox.state.deliver_sms(a.provider_id, "code 1357")
    await buyer.tap("Refresh", card)
    sandbox.state.inject_fault("garbled", action="setStatus", process=True)
    answer = await buyer.tap("Another code", card)
    assert answer is not None and "checking" in (answer.text or "") and not answer.show_alert
    assert "Checking with the provider" in _shown(buyer, card)
    await tracker.tick()
    shown = _shown(buyer, card)
    assert "waiting for another code" in shown and "Checking" not in shown
