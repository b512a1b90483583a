"""The rent flow: service -> country -> duration with its price -> confirm -> the rental card."""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message

from bot.config import Settings
from bot.errors import UseCaseError
from bot.i18n import Translate
from bot.provider.errors import ProviderError
from bot.rentals import RentalService
from handlers.common import MenuCb, page_of
from handlers.errors import error_text
from handlers.rent.callbacks import RentBuyCb, RentFlowCb
from handlers.rent.keyboards import (
    confirm_keyboard,
    countries_keyboard,
    durations_keyboard,
    flow_error_keyboard,
    services_keyboard,
)
from handlers.rent.shared import (
    answer,
    card_parts,
    country_names,
    edit,
    service_names,
    show_screen,
    wake_tracker,
)
from handlers.rent.views import (
    money,
    render_confirm,
    render_countries,
    render_durations,
    render_no_countries,
    render_services,
)
from storage.models import User

router = Router(name=__name__)
log = logging.getLogger(__name__)

SERVICES_PER_PAGE = 12
COUNTRIES_PER_PAGE = 8


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
    await edit(callback, text, flow_error_keyboard(t, back))
    await answer(callback, text, alert=True)


async def _names(catalog: Any, key: Any, lang: str, service: str, country: str) -> tuple[str, str]:
    """(service name, country name) for the screens; the codes stand in when names fail."""
    service_name = (await service_names(catalog, key, lang)).get(service, service)
    country_name = (await country_names(catalog, key, lang)).get(country, country)
    return service_name, country_name


@router.callback_query(MenuCb.filter(F.action == "rent"))
async def rent_menu(
    callback: CallbackQuery, t: Translate, lang: str, rentals: RentalService, catalog: Any
) -> None:
    await _show_services(callback, t, lang, rentals, catalog, page=0)


@router.callback_query(RentFlowCb.filter(F.action == "svc"))
async def services_page(
    callback: CallbackQuery,
    callback_data: RentFlowCb,
    t: Translate,
    lang: str,
    rentals: RentalService,
    catalog: Any,
) -> None:
    await _show_services(callback, t, lang, rentals, catalog, page=callback_data.page)


async def _show_services(
    callback: CallbackQuery,
    t: Translate,
    lang: str,
    rentals: RentalService,
    catalog: Any,
    *,
    page: int,
) -> None:
    user_id = callback.from_user.id
    try:
        key = await rentals.active_key(user_id)
        codes = await rentals.rentable_services(user_id)
    except (ProviderError, UseCaseError) as exc:
        await _fail(callback, t, exc, None)
        return
    if not codes:
        await show_screen(callback, t("rent-no-services"), flow_error_keyboard(t, None))
        return
    names = await service_names(catalog, key, lang)
    named = sorted(((c, names.get(c, c)) for c in codes), key=lambda item: item[1].lower())
    page, pages, shown = page_of(named, page, SERVICES_PER_PAGE)
    await show_screen(
        callback, render_services(t, page, pages), services_keyboard(t, shown, page, pages)
    )


@router.callback_query(RentFlowCb.filter(F.action == "cty"))
async def countries_page(
    callback: CallbackQuery,
    callback_data: RentFlowCb,
    t: Translate,
    lang: str,
    rentals: RentalService,
    catalog: Any,
) -> None:
    user_id = callback.from_user.id
    service = callback_data.service
    back = RentFlowCb(action="svc").pack()
    try:
        key = await rentals.active_key(user_id)
        found = await rentals.rentable_countries(user_id, service)
    except (ProviderError, UseCaseError) as exc:
        await _fail(callback, t, exc, back)
        return
    service_name = (await service_names(catalog, key, lang)).get(service, service)
    if not found:
        text = render_no_countries(t, service_name)
        await show_screen(callback, text, flow_error_keyboard(t, back))
        return
    names = await country_names(catalog, key, lang)
    page, pages, shown = page_of(found, callback_data.page, COUNTRIES_PER_PAGE)
    rows = [
        (cid, names.get(cid, cid), money(price.cost, key.currency), price.count)
        for cid, price in shown
    ]
    await show_screen(
        callback,
        render_countries(t, service_name),
        countries_keyboard(t, service, rows, page, pages),
    )


@router.callback_query(RentFlowCb.filter(F.action == "dur"))
async def durations(
    callback: CallbackQuery,
    callback_data: RentFlowCb,
    t: Translate,
    lang: str,
    rentals: RentalService,
    catalog: Any,
) -> None:
    user_id = callback.from_user.id
    service, country = callback_data.service, callback_data.country
    back = RentFlowCb(action="cty", service=service).pack()
    try:
        key = await rentals.active_key(user_id)
        options = await rentals.options(user_id, service, country)
    except (ProviderError, UseCaseError) as exc:
        await _fail(callback, t, exc, back)
        return
    if not options:
        await show_screen(callback, t("rent-no-durations"), flow_error_keyboard(t, back))
        return
    service_name, country_name = await _names(catalog, key, lang, service, country)
    await show_screen(
        callback,
        render_durations(t, service_name, country_name),
        durations_keyboard(t, service, country, options, key.currency),
    )


@router.callback_query(RentFlowCb.filter(F.action == "cfm"))
async def confirm(
    callback: CallbackQuery,
    callback_data: RentFlowCb,
    t: Translate,
    lang: str,
    rentals: RentalService,
    catalog: Any,
    state: FSMContext,
) -> None:
    user_id = callback.from_user.id
    service, country, hours = callback_data.service, callback_data.country, callback_data.hours
    back = RentFlowCb(action="dur", service=service, country=country).pack()
    try:
        key = await rentals.active_key(user_id)
        option = await rentals.option(user_id, service, country, hours)
        balance, currency = await rentals.balance(user_id)
    except (ProviderError, UseCaseError) as exc:
        await _fail(callback, t, exc, back)
        return
    if option is None:
        await show_screen(callback, t("rent-price-unknown"), flow_error_keyboard(t, back))
        return
    service_name, country_name = await _names(catalog, key, lang, service, country)
    text = render_confirm(
        t,
        service_name=service_name,
        country_name=country_name,
        option=option,
        balance=balance,
        currency=currency,
    )
    # A fresh one-time token per confirmation screen: the tap on it rents at most one number.
    token = await rentals.offer_token(
        user_id, service=service, country=country, hours=hours, price=option.cost
    )
    # The price shown is remembered with the token (callback data carries ids only), so the
    # rental card can show what was paid: the provider's rent answer carries no price.
    await state.update_data(rent_costs={token: str(option.cost)})
    await show_screen(
        callback, text, confirm_keyboard(t, service, country, option, token, currency)
    )


@router.callback_query(RentBuyCb.filter())
async def buy(
    callback: CallbackQuery,
    callback_data: RentBuyCb,
    t: Translate,
    lang: str,
    user: Any,
    rentals: RentalService,
    catalog: Any,
    clock: Callable[[], float],
    state: FSMContext,
    tracker: Any = None,
    settings: Any = None,
) -> None:
    user_id = callback.from_user.id
    data = callback_data
    cost = _confirmed_cost(await state.get_data(), data.token)
    back = RentFlowCb(action="dur", service=data.service, country=data.country).pack()
    message = callback.message
    chat_id = message.chat.id if isinstance(message, Message) else user_id
    try:
        result = await rentals.rent(
            user_id,
            token=data.token,
            service=data.service,
            country=data.country,
            hours=data.hours,
            chat_id=chat_id,
            cost=cost,
            # The message that will say "checking": reconciliation edits it with the result.
            message_id=message.message_id if isinstance(message, Message) else None,
        )
    except (ProviderError, UseCaseError) as exc:
        await _fail(callback, t, exc, back, user=user, settings=settings)
        return
    if result.stale:  # a token never issued for this offer, or expired: nothing rented
        await answer(callback, t("rent-stale"), alert=True)
        return
    if result.duplicate:
        await answer(callback, t("rent-duplicate"))
        return
    wake_tracker(tracker)
    if result.rental is None:  # unknown outcome: reconciliation will tell the truth
        # Where the provider lists rentals, the tracker finds the number and shows its card
        # here; where it does not (Grizzly), only the balance will tell: say so.
        pending = "rent-pending" if result.findable else "rent-pending-unlisted"
        await edit(callback, t(pending), flow_error_keyboard(t, None))
        await answer(callback, t("rent-pending"), alert=True)
        return
    rental = result.rental
    # The rental is stored; now tell: the card is its own message, the confirm screen closes.
    text, markup = await card_parts(
        rental,
        user_id=user_id,
        user=user,
        t=t,
        lang=lang,
        rentals=rentals,
        catalog=catalog,
        now=clock(),
        settings=settings,
    )
    await edit(callback, t("rent-done"), None)
    if callback.bot is not None:
        sent = await callback.bot.send_message(chat_id, text, reply_markup=markup)
        await rentals.db.rentals.set_card(rental.id, sent.chat.id, sent.message_id)
    await answer(callback, t("rent-done"))


def _confirmed_cost(data: dict[str, Any], token: str) -> Decimal | None:
    """The price shown on the confirm screen of this token, when this process still knows it."""
    raw = (data.get("rent_costs") or {}).get(token)
    try:
        return Decimal(raw) if raw is not None else None
    except InvalidOperation:
        return None
