"""The rent flow and the rental card through the real dispatcher, SQLite and the sandbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web

from bot.formatting import format_time
from bot.provider.errors import ProviderError
from bot.tracker.notifier import Recipient
from handlers.common import MenuCb
from handlers.errors import error_text
from handlers.numbers import NumbersCb
from handlers.rent.callbacks import RentalCb, RentBuyCb, RentExtendCb, RentFlowCb
from handlers.rent.presenter import render_rental_card, rental_card_data
from tests.harness import ChatMessage

USER = 111
OTHER = 222


def _t(services: Any) -> Any:
    return services.translator.bind("en")


def _at(moment: float) -> str:
    """A moment as the card shows it to a user in UTC."""
    return format_time(moment, UTC)


async def _with_key(services: Any, sandbox: Any, sandbox_key: str, user_id: int = USER) -> Any:
    await services.db.users.get_or_create(user_id, "en")
    return await services.db.keys.add(user_id, label="t", base_url=sandbox.url, api_key=sandbox_key)


def _screen(chat: Any) -> ChatMessage:
    """A bot message to tap on (as if the main menu were shown)."""
    message_id = chat.session.next_message_id()
    shown = ChatMessage(message_id, chat.chat_id, "menu", True)
    chat.session.messages[(chat.chat_id, message_id)] = shown
    return shown


def _actions(sandbox: Any, action: str) -> list[dict[str, Any]]:
    return [r for r in sandbox.state.requests if r["action"] == action]


async def _rent_via_ui(chat: Any, hours_label: str = "1 d") -> ChatMessage:
    await chat.tap_data(MenuCb(action="rent").pack(), _screen(chat))
    await chat.tap("Telegram")
    await chat.tap("Indonesia")
    await chat.tap(hours_label)
    await chat.tap("Rent for")
    return chat.last_bot_message()


async def _stored(services: Any, user_id: int = USER) -> Any:
    rentals = await services.db.rentals.list_live(user_id)
    ended, _ = await services.db.rentals.list_ended(user_id)
    found = rentals + ended
    assert len(found) == 1
    return found[0]


# ------------------------------------------------------------------ the whole path


async def test_whole_rent_path(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    await chat.tap_data(MenuCb(action="rent").pack(), _screen(chat))
    assert "Rent a number" in chat.last_text
    await chat.tap("Telegram")
    assert "Choose a country" in chat.last_text
    await chat.tap("Indonesia")
    labels = [b.text for b in chat.last_bot_message().buttons()]
    # every duration the provider prices, with its price (Indonesia tg: 2.00 an hour)
    for label in ("4 h — 8.00", "12 h — 24.00", "1 d — 48.00", "3 d", "7 d", "14 d", "30 d"):
        assert any(b.startswith(label) for b in labels), (label, labels)
    await chat.tap("1 d")
    confirm = chat.last_text
    assert "48.00" in confirm and "Balance: 100.00" in confirm and "Telegram" in confirm
    await chat.tap("Rent for")

    assert len(sandbox.state.rent_purchases) == 1
    purchase = sandbox.state.rent_purchases[0]
    assert purchase["hours"] == 24
    assert _actions(sandbox, "getRentNumber")[0]["params"]["rent_time"] == "24"
    card = chat.last_bot_message()
    rental = await _stored(services)
    assert (rental.chat_id, rental.message_id) == (chat.chat_id, card.message_id)
    assert f"<code>+{purchase['phone']}</code>" in card.text
    assert "Telegram" in card.text and "Indonesia" in card.text
    # the end as a moment (nothing that goes stale between edits), and until when a cancel
    # is refunded
    assert f"Ends: {_at(rental.ends_at)}" in card.text and "No SMS yet" in card.text
    assert f"refund possible until {_at(rental.created_at + 1200)}" in card.text
    # the price confirmed on the confirm screen is stored and shown (the answer carries none)
    assert rental.cost == Decimal("48") and "Rent price: 48.00" in card.text

    # an SMS arrives; the list shows it, then the card shows it as the latest
    clock.advance(60)
    sandbox.state.deliver_rent_sms(purchase["id"], "Your code 12345 <b>", phone_from="Bank")
    await chat.tap("SMS", card)
    assert "Your code 12345 &lt;b&gt;" in card.text and "Bank" in card.text
    await chat.tap("Back to the number", card)
    assert "Latest SMS from Bank" in card.text and "12345" in card.text
    assert "Cancel" not in " ".join(b.text for b in card.buttons())  # none after an SMS

    # extend by 12 hours
    await chat.tap("Extend", card)
    await chat.tap("12 h", card)
    assert "Extend +" in card.text and "24.00" in card.text
    await chat.tap("Extend for", card)
    assert len(sandbox.state.extensions) == 1
    assert sandbox.state.extensions[0]["hours"] == 12
    assert _actions(sandbox, "continueRentNumber")[0]["params"]["rent_time"] == "12"
    extended = await _stored(services)
    assert extended.ends_at == pytest.approx(rental.ends_at + 12 * 3600)
    assert f"Ends: {_at(rental.ends_at + 12 * 3600)}" in card.text  # 36 h from the start

    # history: this rental's periods (the seed's getRentHistory&id=), extension first
    await chat.tap("History", card)
    assert purchase["phone"] in card.text and "each extension" in card.text
    assert _actions(sandbox, "getRentHistory")[0]["params"]["id"] == purchase["id"]
    assert "12 h · 24.00" in card.text and "1 d · 48.00" in card.text
    assert card.text.index("12 h") < card.text.index("1 d ·")  # the provider's order
    await chat.tap("Back to the number", card)

    # refresh, then finish after a confirmation
    await chat.tap("Refresh", card)
    await chat.tap("Finish", card)
    assert "Finish the rent" in card.text
    await chat.tap("Yes, finish", card)
    assert sandbox.state.rentals[purchase["id"]].status == "finished"
    assert (await _stored(services)).status == "finished"
    assert "finished" in card.text
    assert "Extend" not in " ".join(b.text for b in card.buttons())


async def test_card_ends_in_user_time_zone(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    await services.db.users.update(USER, timezone="+03:00")
    card = await _rent_via_ui(chat, "4 h")
    rental = await _stored(services)
    from datetime import UTC, datetime, timedelta

    local = datetime.fromtimestamp(rental.ends_at, UTC) + timedelta(hours=3)
    assert f"Ends: {local:%Y-%m-%d %H:%M} UTC+03:00" in card.text
    assert " in 4 h" not in card.text  # no countdown that stands still in the chat


# ------------------------------------------------------------------ cancel


async def test_cancel_within_window_refunds(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent_via_ui(chat, "4 h")
    assert sandbox.state.balance(sandbox_key) == 92
    await chat.tap("Cancel", card)
    assert "Cancel the rent" in card.text  # asked first, as Finish is
    answer = await chat.tap("Yes, cancel", card)
    assert answer is not None and "cancelled" in (answer.text or "")
    assert sandbox.state.balance(sandbox_key) == 100
    assert (await _stored(services)).status == "cancelled"
    assert "Cancel" not in " ".join(b.text for b in card.buttons())


async def test_cancel_refused_after_20_minutes(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent_via_ui(chat, "4 h")
    clock.advance(20 * 60 + 1)
    answer = await chat.tap("Cancel", card)  # the old card still shows the button
    assert answer is not None and answer.show_alert
    assert answer.text == _t(services)("rent-cancel-reason-window")
    assert "20 minutes" in answer.text
    assert _actions(sandbox, "setRentStatus") == []
    assert (await _stored(services)).status == "active"
    assert "Cancel" not in " ".join(b.text for b in card.buttons())  # redrawn without it


async def test_cancel_refused_after_an_sms(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent_via_ui(chat, "4 h")
    rental = await _stored(services)
    sandbox.state.deliver_rent_sms(rental.provider_id, "hello 777")
    await chat.tap("Cancel", card)  # the SMS is not seen yet: the cancel looks first
    answer = await chat.tap("Yes, cancel", card)
    assert answer is not None and answer.text == _t(services)("rent-cancel-reason-sms")
    assert sandbox.state.rentals[rental.provider_id].status == "active"
    assert sandbox.state.balance(sandbox_key) == 92
    assert "hello 777" in card.text


# ------------------------------------------------------------------ once only


async def test_double_tap_rents_once(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, dp: Any, bot: Any
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    await chat.tap_data(MenuCb(action="rent").pack(), _screen(chat))
    await chat.tap("Telegram")
    await chat.tap("Indonesia")
    await chat.tap("4 h")
    shown, button = chat.find_button("Rent for")
    data = button.callback_data
    update = chat.make_callback_update(data, shown)
    # the same update twice, then two different updates with one token at once
    await dp.feed_update(bot, update)
    await dp.feed_update(bot, update)
    await asyncio.gather(
        dp.feed_update(bot, chat.make_callback_update(data, shown)),
        dp.feed_update(bot, chat.make_callback_update(data, shown)),
    )
    assert len(sandbox.state.rent_purchases) == 1
    assert len(_actions(sandbox, "getRentNumber")) == 1
    assert len(await services.db.rentals.list_live(USER)) == 1


async def test_double_tap_extends_once(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, dp: Any, bot: Any
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent_via_ui(chat, "4 h")
    await chat.tap("Extend", card)
    await chat.tap("4 h", card)
    _, button = chat.find_button("Extend for", card)
    data = button.callback_data
    await asyncio.gather(
        *(dp.feed_update(bot, chat.make_callback_update(data, card)) for _ in range(3))
    )
    await chat.tap_data(data, card)
    assert len(sandbox.state.extensions) == 1
    assert (await _stored(services)).hours == 8


# ------------------------------------------------------------------ ownership


async def test_foreign_rental_is_refused_and_unchanged(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, dp: Any, bot: Any
) -> None:
    from tests.harness import ChatDriver

    other_key = sandbox.state.create_key(balance="100")
    await _with_key(services, sandbox, other_key, user_id=OTHER)
    other = ChatDriver(dp, bot, user_id=OTHER, language="en")
    await _rent_via_ui(other, "4 h")
    victim = await _stored(services, OTHER)

    await _with_key(services, sandbox, sandbox_key)
    screen = _screen(chat)
    not_found = _t(services)("error-not-found")
    for data in (
        RentalCb(action="open", id=victim.id).pack(),
        RentalCb(action="sms", id=victim.id).pack(),
        RentalCb(action="hist", id=victim.id).pack(),
        RentalCb(action="ext", id=victim.id).pack(),
        RentalCb(action="extq", id=victim.id, arg=4).pack(),
        RentalCb(action="finy", id=victim.id).pack(),
        RentalCb(action="cnl", id=victim.id).pack(),
        RentalCb(action="cnly", id=victim.id).pack(),
        RentalCb(action="fin", id=victim.id).pack(),
        RentalCb(action="list", id=victim.id).pack(),
        RentalCb(action="ref", id=victim.id).pack(),
        RentExtendCb(id=victim.id, hours=4, token="evil").pack(),
    ):
        answer = await chat.tap_data(data, screen)
        assert answer is not None and answer.text == not_found, data
        assert victim.phone not in screen.text
    after = await services.db.rentals.get(OTHER, victim.id)
    assert after == victim
    assert sandbox.state.extensions == []
    assert _actions(sandbox, "setRentStatus") == []
    assert sandbox.state.rentals[victim.provider_id].status == "active"
    assert sandbox.state.balance(other_key) == 92


# ------------------------------------------------------------------ errors via the sandbox


def _expected(services: Any, code: str) -> str:
    return error_text(_t(services), ProviderError(code))


@pytest.mark.parametrize(
    ("code", "service", "country", "hours"),
    [
        ("BAD_COUNTRY", "tg", "999", 4),
        ("BAD_SERVICE", "zz", "6", 4),
        ("INVALID_TIME", "tg", "6", 2),
        ("NO_BALANCE", "tg", "6", 4),
        ("NO_NUMBERS", "tg", "6", 4),
    ],
)
async def test_rent_errors_from_sandbox(
    chat: Any,
    services: Any,
    sandbox: Any,
    sandbox_key: str,
    code: str,
    service: str,
    country: str,
    hours: int,
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    if code == "NO_BALANCE":
        sandbox.state.set_balance(sandbox_key, "1")
    if code == "NO_NUMBERS":
        sandbox.state.set_rent("6", "tg", count=0)
    token = await services.rentals.offer_token(
        USER, service=service, country=country, hours=hours, price=None
    )
    data = RentBuyCb(service=service, country=country, hours=hours, token=token).pack()
    answer = await chat.tap_data(data, _screen(chat))
    expected = _expected(services, code)
    assert answer is not None and answer.text == expected
    assert chat.last_text == expected
    assert sandbox.state.rent_purchases == []
    assert await services.db.rentals.list_live(USER) == []


async def _rented(chat: Any, services: Any, sandbox: Any, sandbox_key: str) -> tuple[Any, Any]:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent_via_ui(chat, "4 h")
    return card, await _stored(services)


async def test_invalid_phone_from_sandbox(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    card, rental = await _rented(chat, services, sandbox, sandbox_key)
    sandbox.state.rentals.pop(rental.provider_id)  # the provider no longer knows the id
    answer = await chat.tap("Refresh", card)
    assert answer is not None and answer.text == _expected(services, "INVALID_PHONE")


@pytest.mark.parametrize(
    ("code", "status"), [("ALREADY_FINISH", "finished"), ("ALREADY_CANCEL", "cancelled")]
)
async def test_already_ended_from_sandbox(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, code: str, status: str
) -> None:
    card, rental = await _rented(chat, services, sandbox, sandbox_key)
    sandbox.state.rentals[rental.provider_id].status = status
    await chat.tap("Finish", card)
    answer = await chat.tap("Yes, finish", card)
    assert answer is not None and answer.text == _expected(services, code)
    assert (await _stored(services)).status == status  # the definite fact is stored
    assert status in card.text


async def test_cant_cancel_from_sandbox(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any
) -> None:
    sandbox.state.configure(rent_cancel_window=300)  # the provider's window is shorter than ours
    card, rental = await _rented(chat, services, sandbox, sandbox_key)
    clock.advance(301)
    await chat.tap("Cancel", card)
    answer = await chat.tap("Yes, cancel", card)
    assert answer is not None and answer.text == _expected(services, "CANT_CANCEL")
    assert sandbox.state.rentals[rental.provider_id].status == "active"


async def test_rent_die_from_sandbox(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    card, rental = await _rented(chat, services, sandbox, sandbox_key)
    await chat.tap("Extend", card)
    await chat.tap("4 h", card)
    sandbox.state.rentals[rental.provider_id].status = "finished"
    answer = await chat.tap("Extend for", card)
    assert answer is not None and answer.text == _expected(services, "RENT_DIE")
    assert sandbox.state.extensions == []


# ------------------------------------------------------------------ errors via canned bodies


@pytest.fixture
async def canned() -> AsyncIterator[dict[str, Any]]:
    """A provider that answers every request with one canned rent error body."""
    state: dict[str, Any] = {"code": "SQL_ERROR", "requests": []}

    async def handle(request: web.Request) -> web.Response:
        state["requests"].append(request.query.get("action"))
        if request.query.get("action") == "getRentStatus":
            body = {"status": "success", "values": {}}
        else:
            body = {"status": "error", "error": state["code"]}
        return web.Response(text=json.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/stubs/handler_api.php", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    state["url"] = f"http://127.0.0.1:{port}/stubs/handler_api.php"
    try:
        yield state
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("code", ["NO_ID_RENT", "INCORECT_STATUS", "SQL_ERROR", "SERVER_ERROR"])
async def test_rent_errors_from_canned_provider(
    chat: Any, services: Any, canned: dict[str, Any], clock: Any, code: str
) -> None:
    canned["code"] = code
    await services.db.users.get_or_create(USER, "en")
    key = await services.db.keys.add(USER, label="c", base_url=canned["url"], api_key="k" * 32)
    rental = await services.db.rentals.add(
        user_id=USER,
        key_id=key.id,
        provider_id="555",
        service="tg",
        country="0",
        phone="79990001122",
        hours=4,
        cost=None,
        created_at=clock(),
        ends_at=clock() + 4 * 3600,
    )
    screen = _screen(chat)
    answer = await chat.tap_data(RentalCb(action="finy", id=rental.id).pack(), screen)
    expected = _expected(services, code)
    assert answer is not None and answer.text == expected
    assert canned["requests"].count("setRentStatus") == 1
    assert (await services.db.rentals.get(USER, rental.id)).status == "active"  # type: ignore[union-attr]
    # the same sentence for a rent attempt
    token = await services.rentals.offer_token(USER, service="tg", country="0", hours=4, price=None)
    data = RentBuyCb(service="tg", country="0", hours=4, token=token).pack()
    answer = await chat.tap_data(data, _screen(chat))
    assert answer is not None and answer.text == expected


# ------------------------------------------------------------------ keyboards


async def test_no_key_says_add_one(chat: Any, services: Any) -> None:
    await services.db.users.get_or_create(USER, "en")
    answer = await chat.tap_data(MenuCb(action="rent").pack(), _screen(chat))
    assert answer is not None and answer.text == _t(services)("error-no-active-key")


def test_callback_data_fits_64_bytes() -> None:
    longest = [
        RentalCb(action="extq", id=2**31, page=9999, arg=1344).pack(),
        RentFlowCb(action="cfm", service="abcdefgh", country="9999", hours=720, page=99).pack(),
        RentBuyCb(service="abcdefgh", country="9999", hours=720, token="A" * 11).pack(),
        RentExtendCb(id=2**31, hours=720, token="A" * 11).pack(),
    ]
    for data in longest:
        assert len(data.encode()) <= 64, data


def test_rent_catalog_complete_in_every_language(services: Any) -> None:
    translator = services.translator
    english = {k for k in translator.keys("en") if k.startswith("rent-")}
    assert len(english) > 40
    for lang in ("ru", "zh"):
        assert english == {k for k in translator.keys(lang) if k.startswith("rent-")}


async def test_tracker_pushes_rental_sms_onto_the_card(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any
) -> None:
    await _with_key(services, sandbox, sandbox_key)
    card = await _rent_via_ui(chat, "4 h")
    rental = await _stored(services)
    sandbox.state.deliver_rent_sms(rental.provider_id, "pushed 4242", phone_from="Shop")
    clock.advance(120)
    await tracker.tick()
    assert "pushed 4242" in card.text  # the card, edited in place with this renderer
    assert any("pushed 4242" in text for text in chat.texts() if text != card.text)
    # viewing the list afterwards neither duplicates nor re-sends it
    await chat.tap("SMS", card)
    assert card.text.count("pushed 4242") == 1
    _, total = await services.db.rentals.list_sms(USER, rental.id)
    assert total == 1


# ------------------------------------------------------------------ one answer per tap (item 11)


async def _one_answer(chat: Any, label: str, card: ChatMessage) -> Any:
    """Tap `label` and return the tap's only callback answer (Telegram takes one per query)."""
    before = len(chat.session.callback_answers)
    await chat.tap(label, card)
    answers = chat.session.callback_answers[before:]
    assert len(answers) == 1, [(a.text, a.show_alert) for a in answers]
    return answers[0]


async def test_cancel_refusal_is_the_alert_of_the_one_answer(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    card, rental = await _rented(chat, services, sandbox, sandbox_key)
    sandbox.state.deliver_rent_sms(rental.provider_id, "hello 777")
    await chat.tap("Cancel", card)
    answer = await _one_answer(chat, "Yes, cancel", card)
    assert answer.show_alert and answer.text == _t(services)("rent-cancel-reason-sms")
    assert "hello 777" in card.text  # the card was redrawn too


async def test_finish_twice_refusal_is_the_alert_of_the_one_answer(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    card, _rental = await _rented(chat, services, sandbox, sandbox_key)
    await chat.tap("Finish", card)
    confirm = chat.find_button("Yes, finish", card)[1]
    await chat.tap("Yes, finish", card)
    before = len(chat.session.callback_answers)
    await chat.tap_data(confirm.callback_data or "", card)  # the same button again
    answers = chat.session.callback_answers[before:]
    assert len(answers) == 1 and answers[0].show_alert
    assert answers[0].text == _t(services)("error-stale")


async def test_failed_history_is_the_alert_of_the_one_answer(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    card, _rental = await _rented(chat, services, sandbox, sandbox_key)
    sandbox.state.inject_fault("http500", action="getRentHistory", count=5)
    answer = await _one_answer(chat, "History", card)
    assert answer.show_alert and answer.text == _t(services)("error-provider-down")


# ------------------------------------------------------------------ what was paid (item 8)


async def test_card_and_history_show_what_every_period_cost(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any
) -> None:
    card, _rental = await _rented(chat, services, sandbox, sandbox_key)  # 4 h for 8.00
    assert "Rent price: 8.00" in card.text
    await chat.tap("Extend", card)
    await chat.tap("12 h", card)
    await chat.tap("Extend for", card)  # 12 h for 24.00
    assert sandbox.state.balance(sandbox_key) == 100 - 8 - 24
    stored = await _stored(services)
    assert [(p.kind, p.hours, p.cost) for p in stored.periods] == [
        ("rent", 4, Decimal("8")),
        ("extend", 12, Decimal("24")),
    ]
    assert "32.00" in card.text and "8.00 + 24.00" in card.text

    # the ended rental in "My numbers" history: the total and each period
    await chat.tap("Finish", card)
    await chat.tap("Yes, finish", card)
    await chat.tap_data(NumbersCb(action="hist", kind="r").pack(), _screen(chat))
    assert "32.00" in chat.last_text and "8.00 + 24.00" in chat.last_text
    assert " UTC · 32.00" in chat.last_text  # its time labelled with the user's zone


async def test_sms_and_history_pages_through_the_pager(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any
) -> None:
    card, rental = await _rented(chat, services, sandbox, sandbox_key)
    for n in range(7):
        clock.advance(1)
        sandbox.state.deliver_rent_sms(rental.provider_id, f"code {n}")
    await chat.tap("SMS", card)
    assert "code 6" in card.text and "code 2" in card.text and "code 1" not in card.text
    labels = [b.text for b in card.buttons()]
    assert "1/2" in labels and "›" in labels and "‹" not in labels
    await chat.tap("›", card)  # older SMS
    assert "code 1" in card.text and "code 0" in card.text and "code 2" not in card.text
    assert "‹" in [b.text for b in card.buttons()]
    await chat.tap("‹", card)
    assert "code 6" in card.text
    await chat.tap("Back to the number", card)
    assert "code 6" in card.text  # the latest SMS on the card

    for _ in range(5):  # five extensions: six periods, more than a history page holds
        await chat.tap("Extend", card)
        await chat.tap("4 h", card)
        await chat.tap("Extend for", card)
    assert len(sandbox.state.extensions) == 5
    await chat.tap("History", card)
    assert "1/2" in [b.text for b in card.buttons()]
    first_page = card.text
    await chat.tap("›", card)
    assert card.text != first_page and "2/2" in [b.text for b in card.buttons()]
    await chat.tap("Back to the number", card)
    assert (await _stored(services)).message_id == card.message_id  # still the one card


async def test_the_card_getter_uses_what_the_recipient_holds(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any
) -> None:
    card, rental = await _rented(chat, services, sandbox, sandbox_key)
    owner = replace(await services.db.users.get(USER), timezone="+03:00")
    key = await services.db.keys.get_any(rental.key_id)

    async def gather(to: Recipient) -> Any:
        return await rental_card_data(
            await services.rentals.get(USER, rental.id),
            to,
            lang="en",
            rentals=services.rentals,
            catalog=services.catalog,
            settings=services.settings,
            now=clock(),
        )

    data = await gather(Recipient(user=owner, key=key))
    assert (data.names.service, data.names.country) == ("Telegram", "Indonesia")
    assert data.tz.utcoffset(None) == timedelta(hours=3) and data.currency == key.currency
    assert data.latest_sms is None and data.can_cancel
    text, _markup = render_rental_card(data, _t(services))
    assert "UTC+03:00" in text and "UTC+03:00" not in card.text  # the zone given, not stored

    sandbox.state.deliver_rent_sms(rental.provider_id, "hello 42")
    await services.rentals.refresh(USER, rental.id)
    gone = await gather(Recipient(user=None, key=None))  # both rows gone: defaults
    assert (gone.names.service, gone.names.country) == ("tg", "6")
    assert gone.tz.utcoffset(None) == timedelta(0)
    assert gone.latest_sms is not None and gone.latest_sms.text == "hello 42"
    assert not gone.can_cancel  # an SMS came: the provider would refuse
    markup = render_rental_card(gone, _t(services))[1]
    assert "Cancel" not in " ".join(b.text for row in markup.inline_keyboard for b in row)


# ------------------------------------------------------------------ provider times (item 9)


async def test_sms_times_show_in_the_users_zone_labelled(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    await _with_key(services, sandbox, sandbox_key)
    await services.db.users.update(USER, timezone="+05:00")
    card = await _rent_via_ui(chat, "4 h")
    rental = await _stored(services)
    clock.advance(60)
    sandbox.state.deliver_rent_sms(rental.provider_id, "code 5150", phone_from="Shop")
    arrived = datetime.fromtimestamp(clock(), UTC)
    provider_said = sandbox.state.fmt_time(clock())  # the provider's own clock, no zone
    local = f"{arrived + timedelta(hours=5):%Y-%m-%d %H:%M} UTC+05:00"

    await chat.tap("SMS", card)
    assert local in card.text and provider_said not in card.text
    await chat.tap("Back to the number", card)
    assert "Latest SMS from Shop" in card.text and local in card.text
    clock.advance(60)
    await tracker.tick()  # the tracker's redraw shows it the same way
    assert local in card.text and provider_said not in card.text


async def test_provider_times_are_read_in_the_providers_zone(services: Any) -> None:
    from datetime import UTC

    from bot.presets import provider_zone
    from handlers.rent.views import render_sms_page
    from storage.models import Rental, RentalSms

    grizzly = provider_zone("https://api.grizzlysms.com/stubs/handler_api.php", None)
    r = Rental(
        1, USER, 1, "9", "tg", "6", "62812", 4, None, "active", 0.0, 1.0, USER, None,
        frozenset(), 0.0, None,
    )  # fmt: skip
    sms = RentalSms(1, 1, "k", "Shop", "hi", "2026-11-30 14:03:00", 0.0, False)
    from bot.rentals import SmsPage

    text = render_sms_page(_t(services), r, SmsPage([sms], 1, 0, 1), UTC, grizzly)
    assert "2026-11-30 11:03 UTC" in text  # Moscow time read as such, shown in UTC


async def test_a_ban_date_shows_in_the_users_zone_labelled(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str
) -> None:
    card, _rental = await _rented(chat, services, sandbox, sandbox_key)
    await services.db.users.update(USER, timezone="+05:00")
    sandbox.state.ban(sandbox_key, until="2030-1-1 12-0-0")  # the sandbox's clock keeps UTC
    answer = await _one_answer(chat, "Refresh", card)
    assert answer.show_alert and "2030-01-01 17:00 UTC+05:00" in (answer.text or "")


async def test_a_long_sms_seen_cut_in_the_list_still_arrives_whole(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any
) -> None:
    import html

    card, rental = await _rented(chat, services, sandbox, sandbox_key)
    long_text = "&<" * 2500
    sandbox.state.deliver_rent_sms(rental.provider_id, long_text, phone_from="Bank")
    await chat.tap("SMS", card)  # the list shows it cut, marked with …
    assert "…" in card.text and len(card.text) <= 4096
    clock.advance(120)
    await tracker.tick()
    pushed = [t for t in chat.texts() if t.startswith("📨")]
    assert pushed, "the whole SMS never reached the chat"
    assert all(len(text) <= 4096 for text in pushed)
    assert html.unescape("".join(t.split("\n", 1)[1] for t in pushed)) == long_text


async def test_history_periods_show_in_the_users_zone_labelled(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    card, _rental = await _rented(chat, services, sandbox, sandbox_key)
    await services.db.users.update(USER, timezone="+05:00")
    await chat.tap("History", card)
    rented = datetime.fromtimestamp(clock(), UTC) + timedelta(hours=5)
    assert f"{rented:%Y-%m-%d %H:%M} UTC+05:00" in card.text
