"""The rent flow: service -> country -> duration with its price -> confirm -> the rental card.

One handler per `RentFlowAction`, and one for the confirming tap (`RentBuyCb`), which rents at
most one number: its token was issued with the confirm screen and is claimed once in storage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.catalog import CatalogService
from bot.config import Settings
from bot.errors import UseCaseError
from bot.flags import country_flag
from bot.i18n import Translate
from bot.provider.errors import ProviderError
from bot.rentals import RentalService, Repeat
from bot.tracker.notifier import Recipient
from handlers.common import MenuCb, answer_quietly, page_of, show
from handlers.errors import error_text
from handlers.names import names_for
from handlers.rent.callbacks import RentBuyCb, RentFlowAction, RentFlowCb
from handlers.rent.keyboards import (
    confirm_keyboard,
    countries_data,
    countries_keyboard,
    durations_data,
    durations_keyboard,
    flow_error_keyboard,
    services_data,
    services_keyboard,
)
from handlers.rent.outcome import show_checking
from handlers.rent.presenter import render_rental_card, rental_card_data
from handlers.rent.prices import Confirming, confirmed_price, remember_price
from handlers.rent.views import (
    money,
    render_confirm,
    render_countries,
    render_durations,
    render_no_countries,
    render_services,
)
from storage.models import KeyProfile, User

log = logging.getLogger(__name__)

SERVICES_PER_PAGE = 12
# What a repeated confirm tap says, by what the first tap of its token is doing.
_RENT_REPEAT = {
    Repeat.RUNNING: "rent-still-renting",
    Repeat.CHECKING: "rent-pending",
    Repeat.DONE: "rent-already-done",
    Repeat.FAILED: "rent-repeat-failed",
    Repeat.UNCONFIRMED: "rent-repeat-unconfirmed",
}
COUNTRIES_PER_PAGE = 8

# What a step may be refused with: said in the screen, with a way back.
REFUSALS = (ProviderError, UseCaseError)


async def _fail(
    callback: CallbackQuery,
    t: Translate,
    exc: BaseException,
    back: str | None,
    *,
    user: User | None = None,
    settings: Settings | None = None,
) -> None:
    """Show a refusal as its sentence in the screen, with a way back (a ban's end in the
    user's zone when `user` is given)."""
    text = error_text(t, exc, user=user, settings=settings)
    await show(callback, text, flow_error_keyboard(t, back))
    await answer_quietly(callback, text, alert=True)


async def _service_names(catalog: CatalogService, key: KeyProfile, lang: str) -> dict[str, str]:
    """Service code -> name for a whole list; names are cosmetic, so the codes stand in when
    the catalog fails."""
    try:
        return await catalog.service_names(key, lang)
    except Exception as error:  # a missing name must never block renting
        log.info("service names unavailable: %s", type(error).__name__)
        return {}


async def _country_labels(catalog: CatalogService, key: KeyProfile, lang: str) -> dict[str, str]:
    """Country id -> flag and name, as the buy flow lists countries; the ids stand in when the
    catalog fails."""
    try:
        countries = await catalog.countries(key)
    except Exception as error:  # names are cosmetic
        log.info("country names unavailable: %s", type(error).__name__)
        return {}
    return {
        cid: f"{country_flag(country.name('en'))} {country.name(lang)}"
        for cid, country in countries.items()
    }


# ------------------------------------------------------------------ one handler per step


async def on_rent_menu(
    callback: CallbackQuery,
    t: Translate,
    lang: str,
    rentals: RentalService,
    catalog: CatalogService,
    user: User,
) -> None:
    await _show_services(callback, t, lang, rentals, catalog, user, page=0)


async def on_services(
    callback: CallbackQuery,
    callback_data: RentFlowCb,
    t: Translate,
    lang: str,
    rentals: RentalService,
    catalog: CatalogService,
    user: User,
) -> None:
    await _show_services(callback, t, lang, rentals, catalog, user, page=callback_data.page)


async def _show_services(
    callback: CallbackQuery,
    t: Translate,
    lang: str,
    rentals: RentalService,
    catalog: CatalogService,
    user: User,
    *,
    page: int,
) -> None:
    try:
        key = await rentals.active_key(user.id)
        codes = await rentals.rentable_services(user.id)
    except REFUSALS as exc:
        await _fail(callback, t, exc, None)
        return
    if not codes:
        await show(callback, t("rent-no-services"), flow_error_keyboard(t, None))
        await answer_quietly(callback)
        return
    names = await _service_names(catalog, key, lang)
    named = sorted(((c, names.get(c, c)) for c in codes), key=lambda item: item[1].lower())
    page, pages, shown = page_of(named, page, SERVICES_PER_PAGE)
    await show(callback, render_services(t, page, pages), services_keyboard(t, shown, page, pages))
    await answer_quietly(callback)


async def on_countries(
    callback: CallbackQuery,
    callback_data: RentFlowCb,
    t: Translate,
    lang: str,
    rentals: RentalService,
    catalog: CatalogService,
    user: User,
) -> None:
    service = callback_data.service
    back = services_data()
    try:
        key = await rentals.active_key(user.id)
        found = await rentals.rentable_countries(user.id, service)
    except REFUSALS as exc:
        await _fail(callback, t, exc, back)
        return
    service_name = (await _service_names(catalog, key, lang)).get(service, service)
    if not found:
        await show(callback, render_no_countries(t, service_name), flow_error_keyboard(t, back))
        await answer_quietly(callback)
        return
    labels = await _country_labels(catalog, key, lang)
    page, pages, shown = page_of(found, callback_data.page, COUNTRIES_PER_PAGE)
    rows = [
        (cid, labels.get(cid, cid), money(price.cost, key.currency, lang), price.count)
        for cid, price in shown
    ]
    markup = countries_keyboard(t, service, rows, page, pages)
    await show(callback, render_countries(t, service_name), markup)
    await answer_quietly(callback)


async def on_durations(
    callback: CallbackQuery,
    callback_data: RentFlowCb,
    t: Translate,
    lang: str,
    rentals: RentalService,
    catalog: CatalogService,
    user: User,
) -> None:
    service, country = callback_data.service, callback_data.country
    back = countries_data(service)
    try:
        key = await rentals.active_key(user.id)
        options = await rentals.options(user.id, service, country)
    except REFUSALS as exc:
        await _fail(callback, t, exc, back)
        return
    if not options:
        await show(callback, t("rent-no-durations"), flow_error_keyboard(t, back))
        await answer_quietly(callback)
        return
    names = await names_for(catalog, key, lang, service, country)
    await show(
        callback,
        render_durations(t, names.service, names.country_with_flag),
        durations_keyboard(t, service, country, options, key.currency, lang),
    )
    await answer_quietly(callback)


async def on_confirm(
    callback: CallbackQuery,
    callback_data: RentFlowCb,
    t: Translate,
    lang: str,
    rentals: RentalService,
    catalog: CatalogService,
    user: User,
    state: FSMContext,
) -> None:
    service, country, hours = callback_data.service, callback_data.country, callback_data.hours
    back = durations_data(service, country)
    try:
        key = await rentals.active_key(user.id)
        option = await rentals.option(user.id, service, country, hours)
        balance, currency = await rentals.balance(user.id)
    except REFUSALS as exc:
        await _fail(callback, t, exc, back)
        return
    if option is None:
        await show(callback, t("rent-price-unknown"), flow_error_keyboard(t, back))
        await answer_quietly(callback)
        return
    names = await names_for(catalog, key, lang, service, country)
    text = render_confirm(
        t,
        service_name=names.service,
        country_name=names.country_with_flag,
        option=option,
        balance=balance,
        currency=currency,
        lang=lang,
    )
    # A fresh one-time token per confirmation screen: the tap on it rents at most one number.
    token = await rentals.offer_token(
        user.id, service=service, country=country, hours=hours, price=option.cost
    )
    # The price shown is remembered with the token (callback data carries ids only), so the
    # rental card can show what was paid: the provider's rent answer carries no price.
    await remember_price(state, Confirming.RENT, token, option.cost)
    markup = confirm_keyboard(t, service, country, option, token, currency, lang)
    await show(callback, text, markup)
    await answer_quietly(callback)


async def on_rent(
    callback: CallbackQuery,
    callback_data: RentBuyCb,
    t: Translate,
    lang: str,
    user: User,
    rentals: RentalService,
    catalog: CatalogService,
    clock: Callable[[], float],
    state: FSMContext,
    settings: Settings,
) -> None:
    """The confirming tap: rents one number, stores it, then shows its card."""
    data = callback_data
    message = callback.message if isinstance(callback.message, Message) else None
    chat_id = message.chat.id if message is not None else user.id

    async def started() -> None:  # the intent is written: the confirm screen says "Renting…"
        await show(callback, t("rent-renting"), None)

    try:
        result = await rentals.rent(
            user.id,
            token=data.token,
            service=data.service,
            country=data.country,
            hours=data.hours,
            chat_id=chat_id,
            cost=await confirmed_price(state, Confirming.RENT, data.token),
            # The message that will say "checking": reconciliation edits it with the result.
            message_id=message.message_id if message is not None else None,
            started=started,
        )
    except REFUSALS as exc:
        back = durations_data(data.service, data.country)
        await _fail(callback, t, exc, back, user=user, settings=settings)
        return
    if result.stale:  # a token never issued for this offer, or expired: nothing rented
        await answer_quietly(callback, t("rent-stale"), alert=True)
        return
    if result.duplicate:  # another tap of this confirmation: say what the first one is doing
        await answer_quietly(callback, t(_RENT_REPEAT[result.repeat or Repeat.DONE]))
        return
    if result.rental is None:  # unknown outcome: reconciliation will tell the truth
        await show_checking(callback, t, rental_id=None, findable=result.findable)
        return
    rental = result.rental
    # The rental is stored; now tell: the card is its own message, the confirm screen closes.
    key = await rentals.key_of(user.id, rental)
    card = await rental_card_data(
        rental,
        Recipient(user=user, key=key),
        lang=lang,
        rentals=rentals,
        catalog=catalog,
        settings=settings,
        now=clock(),
    )
    text, markup = render_rental_card(card, t)
    await show(callback, t("rent-done"), None)
    if callback.bot is not None:
        sent = await callback.bot.send_message(chat_id, text, reply_markup=markup)
        await rentals.card_shown(rental.id, sent.chat.id, sent.message_id)
    await answer_quietly(callback, t("rent-done"))


# ------------------------------------------------------------------ the router


def create_router() -> Router:
    router = Router(name=__name__)
    on = router.callback_query.register
    on(on_rent_menu, MenuCb.filter(F.action == "rent"))
    on(on_services, RentFlowCb.filter(F.action == RentFlowAction.SERVICES))
    on(on_countries, RentFlowCb.filter(F.action == RentFlowAction.COUNTRIES))
    on(on_durations, RentFlowCb.filter(F.action == RentFlowAction.DURATIONS))
    on(on_confirm, RentFlowCb.filter(F.action == RentFlowAction.CONFIRM))
    on(on_rent, RentBuyCb.filter())
    return router
