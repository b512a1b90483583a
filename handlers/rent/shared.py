"""Helpers the rent routers share: names, editing in place, rendering a card."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.flags import country_flag
from bot.i18n import Translate
from bot.presets import provider_zone
from bot.rentals import RentalService
from handlers.common import answer_quietly
from handlers.names import names_for
from handlers.rent.keyboards import rental_card_keyboard
from handlers.rent.views import parse_tz, render_rental_card
from storage.models import KeyProfile, Rental

log = logging.getLogger(__name__)


async def service_names(catalog: Any, key: KeyProfile, lang: str) -> dict[str, str]:
    """Service code -> name; names are cosmetic, so a failure falls back to the codes."""
    try:
        return {s.code: s.name for s in await catalog.services(key, lang)}
    except Exception as error:  # a missing name must never block renting
        log.info("service names unavailable: %s", type(error).__name__)
        return {}


async def country_names(catalog: Any, key: KeyProfile, lang: str) -> dict[str, str]:
    try:
        countries = await catalog.countries(key)
    except Exception as error:  # names are cosmetic
        log.info("country names unavailable: %s", type(error).__name__)
        return {}
    # With its flag, as the buy flow shows countries.
    return {
        cid: f"{country_flag(country.name('en'))} {country.name(lang)}"
        for cid, country in countries.items()
    }


async def edit(
    callback: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Show `text` in the tapped message (one message per screen, edited in place)."""
    message = callback.message
    if not isinstance(message, Message):
        return None
    try:
        edited = await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as error:
        if "not modified" in str(error):
            return message
        # The message is gone or too old to edit: show the screen as a new message.
        return await message.answer(text, reply_markup=markup)
    return edited if isinstance(edited, Message) else message


async def answer(callback: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answer a tap. Call it ONCE per tap, last, with whatever the user must read: Telegram
    refuses a second answer, so an alert sent after a plain answer would never be seen."""
    await answer_quietly(callback, text, alert=alert)


async def show_screen(
    callback: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """A screen for a tap: edit it into the tapped message, then stop the button spinning."""
    await edit(callback, text, markup)
    await answer(callback)


async def remember_price(state: Any, kind: str, token: str, price: Decimal) -> None:
    """Remember the price a confirmation screen showed, under its one-time token: callback data
    carries ids only, and the provider's purchase answers carry no price, so this is where the
    price of what the tap pays for is known. `kind`: "rent" or "extend"."""
    if state is not None:
        await state.update_data({f"{kind}_costs": {token: str(price)}})


async def confirmed_price(state: Any, kind: str, token: str) -> Decimal | None:
    """The price the confirmation screen of `token` showed, when this chat still knows it."""
    if state is None:
        return None
    raw = ((await state.get_data()).get(f"{kind}_costs") or {}).get(token)
    try:
        return Decimal(raw) if raw is not None else None
    except InvalidOperation:
        return None


def wake_tracker(tracker: Any) -> None:
    """Poll soon: a rental was just changed (the tracker is absent in some tests)."""
    wake = getattr(tracker, "wake", None)
    if callable(wake):
        wake()


def user_tz(user: Any) -> Any:
    return parse_tz(getattr(user, "timezone", None))


async def rental_card(
    r: Rental,
    *,
    t: Translate,
    lang: str,
    db: Any,
    catalog: Any,
    now: float,
    settings: Any = None,
) -> tuple[str, InlineKeyboardMarkup]:
    """THE getter of the rental card: the tap handlers and the tracker's notifier both draw it
    through here (names, flag, the owner's and the provider's time zones, the latest SMS), so
    it looks the same whoever redraws it. `r` must already be known to be its owner's."""
    key = await db.keys.get_any(r.key_id)
    names = await names_for(catalog, key, lang, r.service, r.country)
    owner = await db.users.get(r.user_id)
    latest_page, _total = await db.rentals.list_sms(r.user_id, r.id, 0, 1)
    latest = latest_page[0] if latest_page else None
    text = render_rental_card(
        r,
        t,
        now,
        user_tz(owner),
        latest_sms=latest,
        country_name=names.country_with_flag,
        service_name=names.service,
        provider_tz=provider_zone(key.base_url if key else "", settings),
    )
    return text, rental_card_keyboard(r, t, now, has_sms=latest is not None)


async def card_parts(
    r: Rental,
    *,
    user_id: int,
    user: Any,
    t: Translate,
    lang: str,
    rentals: RentalService,
    catalog: Any,
    now: float,
    settings: Any = None,
) -> tuple[str, InlineKeyboardMarkup]:
    """The card's text and keyboard for the user's own rental (ownership checked here)."""
    await rentals.key_of(user_id, r)
    return await rental_card(
        r, t=t, lang=lang, db=rentals.db, catalog=catalog, now=now, settings=settings
    )
