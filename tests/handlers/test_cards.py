"""Each card looks the same whoever draws it: the tap handler or the tracker's notifier.

Both paths call one getter (names, flag, time zone, latest SMS) and one view per card; these
tests render every card through both and compare the text and the buttons, in every language.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from aiogram.methods import EditMessageText, SendMessage

from bot.i18n import Translator
from bot.tracker.notifier import Recipient
from handlers.activation import ActivationCb
from handlers.rent.callbacks import RentalCb
from tests.harness import ChatMessage, SqlTrace, delivered

USER = 111


def _screen(chat: Any) -> ChatMessage:
    message_id = chat.session.next_message_id()
    shown = ChatMessage(message_id, chat.chat_id, "menu", True)
    chat.session.messages[(chat.chat_id, message_id)] = shown
    return shown


async def _key(services: Any, sandbox: Any, sandbox_key: str, lang: str) -> Any:
    await services.db.users.get_or_create(USER, lang)
    await services.db.users.update(USER, language=lang, timezone="+03:00")
    return await services.db.keys.add(USER, label="k", base_url=sandbox.url, api_key=sandbox_key)


def _last_edit(chat: Any) -> EditMessageText:
    edits = chat.session.calls(EditMessageText)
    assert edits, "nothing was drawn"
    return edits[-1]


def _same(first: EditMessageText | SendMessage, second: EditMessageText) -> None:
    assert second.text == first.text
    assert second.reply_markup == first.reply_markup


@pytest.mark.parametrize("lang", ["en", "ru", "zh"])
async def test_activation_card_is_the_same_from_the_handler_and_the_tracker(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any, lang: str
) -> None:
    key = await _key(services, sandbox, sandbox_key, lang)
    a = await services.db.activations.add(
        user_id=USER,
        key_id=key.id,
        provider_id="900000001",
        service="tg",
        country="0",  # Russia: its flag, whatever the language of its name
        phone="79001234567",
        cost=Decimal("18.50"),
        currency="RUB",
        created_at=clock(),
        ends_at=clock() + 1200,
        cancel_allowed_at=clock() + 120,
        chat_id=USER,
    )
    await services.db.activations.add_code(a.id, 0, "123456", "Your code 123456", clock())
    await services.db.activations.set_status(a.id, "received")

    # Opened from a list, the card is drawn in a new message below it.
    await chat.tap_data(ActivationCb(action="open", id=a.id).pack(), _screen(chat))
    by_handler = chat.session.calls(SendMessage)[-1]
    assert "🇷🇺" in by_handler.text

    stored = await services.db.activations.get_any(a.id)
    to = Recipient(await services.db.users.get(USER), key)
    await tracker.notifier.activation_changed(stored, to)
    await delivered(tracker.notifier)  # through the send queue
    _same(by_handler, _last_edit(chat))


@pytest.mark.parametrize("lang", ["en", "ru", "zh"])
async def test_rental_card_is_the_same_from_the_handler_and_the_tracker(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any, tracker: Any, lang: str
) -> None:
    key = await _key(services, sandbox, sandbox_key, lang)
    r = await services.db.rentals.add(
        user_id=USER,
        key_id=key.id,
        provider_id="700000001",
        service="tg",
        country="6",  # Indonesia
        phone="6281234567",
        hours=4,
        cost=Decimal("8"),
        created_at=clock(),
        ends_at=clock() + 4 * 3600,
        chat_id=USER,
    )
    await services.db.rentals.add_sms(
        r.id,
        dedup_key="k1",
        phone_from="Shop",
        text="code 4242",
        date="2026-11-30 10:00:00",
        received_at=clock(),
    )

    # opened from another message, the card comes as a new one (one live card per rental)
    await chat.tap_data(RentalCb(action="open", id=r.id).pack(), _screen(chat))
    by_handler = chat.session.calls(SendMessage)[-1]
    assert "🇮🇩" in by_handler.text

    stored = await services.db.rentals.get_any(r.id)
    to = Recipient(await services.db.users.get(USER), key)
    await tracker.notifier.rental_changed(stored, to)
    await delivered(tracker.notifier)  # through the send queue
    _same(by_handler, _last_edit(chat))


# ------------------------------------------------------------------ long texts (item 30)

LONG = "&<" * 2500  # 5,000 characters, 22,500 once escaped


def _fits(text: str) -> None:
    assert "{???}" not in text and len(text) <= 4096
    assert "…" in text  # what was cut says so


@pytest.mark.parametrize("lang", ["en", "ru", "zh"])
def test_cards_and_sms_list_fit_a_message_whatever_the_sms(lang: str) -> None:
    from datetime import UTC

    from bot.i18n import Translator
    from bot.rentals import SmsPage
    from handlers.activation.presenter import card_data, card_text
    from handlers.names import Names
    from handlers.rent.presenter import RentalCardData, render_rental_card
    from handlers.rent.views import render_sms_page
    from storage.models import Activation, ActivationCode, Rental, RentalSms

    t = Translator().bind(lang)
    rental = Rental(
        1, USER, 1, "9", "tg", "6", "62812", 4, Decimal("8"), "active", 0.0, 14400.0, USER,
        None, frozenset(), 0.0, None,
    )  # fmt: skip
    sms = [RentalSms(n, 1, f"k{n}", LONG, LONG, LONG, 0.0, False) for n in range(5)]
    _fits(
        render_rental_card(
            RentalCardData(
                rental=rental,
                names=Names("tg", LONG[:100], ""),
                lang=lang,
                tz=UTC,
                provider_tz=UTC,
                currency=None,
                latest_sms=sms[0],
                now=0.0,
                can_cancel=True,
            ),
            t,
        )[0]
    )
    _fits(render_sms_page(t, rental, SmsPage(sms, 5, 0, 1), UTC, UTC))
    codes = [ActivationCode(n, LONG, LONG, 0.0, False) for n in range(5)]
    a = Activation(
        1, USER, 1, "9", "tg", "0", "7900", Decimal("1"), "RUB", "received", False, 4, codes,
        0.0, 1200.0, 120.0, False, None, USER, None, 0.0, None, False,
    )  # fmt: skip
    _fits(card_text(card_data(a, Names("tg", "Russia", ""), lang=lang, now=0.0), t))


async def test_opening_a_card_reads_the_number_with_its_marks_and_the_tapper_s_key_not_again(
    chat: Any, services: Any, sandbox: Any, sandbox_key: str, clock: Any
) -> None:
    """A card is drawn on most taps: the user with their active key (the one read every
    update makes), then the number with its ⭐ and chain step in one read; the key the number
    was bought with is the active one already read."""
    key = await _key(services, sandbox, sandbox_key, "en")
    a = await services.db.activations.add(
        user_id=USER, key_id=key.id, provider_id="900000002", service="tg", country="0",
        phone="79001234568", cost=Decimal("18.50"), currency="RUB", created_at=clock(),
        ends_at=clock() + 1200, cancel_allowed_at=clock() + 120, chat_id=USER,
    )  # fmt: skip
    await services.db.picks.add_favourite(USER, "tg", "0")
    await chat.tap_data(ActivationCb(action="open", id=a.id).pack(), _screen(chat))  # warm names

    sql = await SqlTrace.start(services.db)
    await chat.tap_data(ActivationCb(action="open", id=a.id).pack(), _screen(chat))
    card = chat.session.calls(SendMessage)[-1]
    labels = [b.text for row in card.reply_markup.inline_keyboard for b in row]
    assert Translator().bind("en")("act-btn-fav-on") in labels  # starred, as stored
    assert sql.matching("FROM api_keys") == []  # only the users read joins it
    reads = [s for s in sql.statements if s.split()[0].upper() == "SELECT"]
    assert len(reads) == 2, reads  # user + key; the number + its marks
    assert "FROM activations" in reads[1] and "favourites" in reads[1]
    assert "replace_links" in reads[1]

    # Someone else's number, named by a crafted tap: nothing drawn, the user told.
    sent = len(chat.session.calls(SendMessage))
    answer = await chat.tap_data(ActivationCb(action="open", id=a.id + 1000).pack(), _screen(chat))
    assert len(chat.session.calls(SendMessage)) == sent
    assert answer is not None and answer.show_alert
    assert answer.text == Translator().bind("en")("act-not-found")
