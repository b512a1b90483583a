"""My numbers: live activations and rentals, each opening its card; ended ones as a paged history.

The cards themselves belong to their modules: activations open through `ActivationCb("open")`
(handlers/activation.py), rentals through `RentalCb("open")` (handlers/rent/). This module
only lists what the user owns; every list is read with the user's id.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from types import MappingProxyType

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.accounts import AccountService
from bot.catalog import CatalogService
from bot.errors import NotFound
from bot.formatting import format_clock, format_money, format_time, user_timezone
from bot.i18n import Translate
from bot.numbers import NumberKind, NumbersService
from bot.rentals import RentalService
from handlers.activation import ActivationAction, ActivationCb
from handlers.common import (
    CallbackPage,
    MenuAction,
    MenuCb,
    answer_quietly,
    answer_tap,
    menu_button,
    pager_row,
    show,
)
from handlers.history.callbacks import HistoryAction, HistoryCb
from handlers.imports import entry_button as import_button
from handlers.rent.callbacks import RentalAction, RentalCb
from handlers.rent.views import paid_text
from storage import Activation, Rental, User

log = logging.getLogger(__name__)

PAGE_SIZE = 5
RECENT_ENDED = 3  # ended one-time numbers shown under the live ones
# Without the provider's names, service codes stand in for them.
NO_NAMES: Mapping[str, str] = MappingProxyType({})


class NumbersAction(StrEnum):
    LIVE = "live"
    HISTORY = "hist"  # kind, page


class NumbersCb(CallbackData, prefix="n1"):  # type: ignore[explicit-any]  # BaseModel's Any
    action: NumbersAction
    kind: NumberKind = NumberKind.ACTIVATIONS
    page: CallbackPage = 0


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text[:60], callback_data=data.pack())


def _phone(phone: str) -> str:
    return "+" + phone.lstrip("+")


def _when(moment: float, user: User) -> str:
    return datetime.fromtimestamp(moment, user_timezone(user.timezone)).strftime("%Y-%m-%d %H:%M")


async def service_names(
    catalog: CatalogService, accounts: AccountService, user: User, lang: str
) -> Mapping[str, str]:
    """Service names of the active key's provider, when they come quickly (usually cached);
    a list of numbers is never held up by a slow catalog: codes stand in for names then."""
    try:
        key = await accounts.find_active(user.id)
        if key is None:
            return {}
        return await asyncio.wait_for(catalog.service_names(key, lang), timeout=2.0)
    except Exception as exc:  # the list must show whatever the provider does
        log.info("service names unavailable for My numbers: %s", type(exc).__name__)
        return {}


def activation_line(
    t: Translate,
    a: Activation,
    now: float,
    lang: str,
    names: Mapping[str, str] = NO_NAMES,
    tz: tzinfo = UTC,
) -> str:
    """A number's line; a live one says until when it runs, as a time in the user's zone (a
    list stays in the chat: "5 min left" would be wrong a minute later)."""
    status = t(f"numbers-status-{a.status}")
    if a.live:
        status = f"{status}, {t('numbers-until', until=format_clock(a.ends_at, tz, now=now))}"
    return t(
        "numbers-activation-line",
        phone=html.escape(_phone(a.phone)),
        service=html.escape(names.get(a.service, a.service)),
        status=status,
    )


def rental_line(
    t: Translate,
    r: Rental,
    now: float,
    lang: str,
    names: Mapping[str, str] = NO_NAMES,
    tz: tzinfo = UTC,
) -> str:
    status = t(f"numbers-status-{r.status}")
    if r.live:
        status = t("numbers-ends-at", until=format_clock(r.ends_at, tz, now=now))
    return t(
        "numbers-rental-line",
        phone=html.escape(_phone(r.phone)),
        service=html.escape(names.get(r.service, r.service)),
        status=status,
    )


# --- live ----------------------------------------------------------------------------------


async def live_screen(
    t: Translate,
    numbers: NumbersService,
    user: User,
    now: float,
    lang: str,
    names: Mapping[str, str] = NO_NAMES,
) -> tuple[str, InlineKeyboardMarkup]:
    """Live numbers first, the one ending soonest on top, each with the time it runs until;
    then the last few ended one-time numbers (their codes stay reachable)."""
    tz = user_timezone(user.timezone)
    live = await numbers.live(user.id)
    activations = sorted(live.activations, key=lambda a: a.ends_at)
    rentals = sorted(live.rentals, key=lambda r: r.ends_at)
    rows: list[list[InlineKeyboardButton]] = []
    lines: list[str] = [t("numbers-title")]
    if not activations and not rentals:
        lines.append(t("numbers-none-live"))
    else:
        lines.append(t("numbers-live-title"))
    for a in activations:
        lines.append(activation_line(t, a, now, lang, names, tz))
        label = f"📱 {_phone(a.phone)} · {names.get(a.service, a.service)}"
        rows.append([_button(label, ActivationCb(action=ActivationAction.OPEN, id=a.id))])
    for r in rentals:
        lines.append(rental_line(t, r, now, lang, names, tz))
        label = f"🏠 {_phone(r.phone)} · {names.get(r.service, r.service)}"
        rows.append([_button(label, RentalCb(action=RentalAction.OPEN, id=r.id))])
    ended = await numbers.history(user.id, NumberKind.ACTIVATIONS, 0, RECENT_ENDED)
    if ended.items:
        lines.append(t("numbers-recent-title"))
    for item in ended.items:
        if isinstance(item, Activation):
            lines.append(activation_line(t, item, now, lang, names, tz))
            label = f"✔️ {_phone(item.phone)} · {names.get(item.service, item.service)}"
            rows.append([_button(label, ActivationCb(action=ActivationAction.OPEN, id=item.id))])
    # The one history with its filters and exports (the older per-kind list below stays for
    # the rental card's "« Rental history" and for buttons already in chats).
    rows.append([_button(t("btn-numbers-history"), HistoryCb(action=HistoryAction.LIST))])
    rows.append([import_button(t)])
    rows.append([menu_button(t)])
    return "\n\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


async def on_numbers(
    event: Message | CallbackQuery,
    state: FSMContext,
    t: Translate,
    numbers: NumbersService,
    accounts: AccountService,
    user: User,
    lang: str,
    clock: Callable[[], float],
    catalog: CatalogService,
) -> None:
    await state.clear()
    names = await service_names(catalog, accounts, user, lang)
    text, markup = await live_screen(t, numbers, user, clock(), lang, names)
    await show(event, text, markup)
    await answer_tap(event)


# --- history -------------------------------------------------------------------------------


async def history_screen(
    t: Translate,
    numbers: NumbersService,
    user: User,
    kind: NumberKind,
    page: int,
    lang: str,
    now: float,
    names: Mapping[str, str] = NO_NAMES,
) -> tuple[str, InlineKeyboardMarkup]:
    # An old or crafted page number shows the last page instead.
    found = await numbers.history(user.id, kind, page, PAGE_SIZE)
    activations = kind == NumberKind.ACTIVATIONS
    title = t("numbers-history-activations") if activations else t("numbers-history-rentals")
    lines = [title]
    tz = user_timezone(user.timezone)
    rows: list[list[InlineKeyboardButton]] = []
    if not found.items:
        lines.append(t("numbers-history-empty"))
    for item in found.items:
        when = _when(item.created_at, user)
        # A rental shows what all its periods cost (rent + extensions), each one listed.
        cost = paid_text(item) if isinstance(item, Rental) else format_money(item.cost)
        if isinstance(item, Activation):
            line = activation_line(t, item, now, lang, names, tz)
            data: CallbackData = ActivationCb(action=ActivationAction.OPEN, id=item.id)
        else:
            line = rental_line(t, item, now, lang, names, tz)
            data = RentalCb(action=RentalAction.OPEN, id=item.id)
        labelled = format_time(item.created_at, user_timezone(user.timezone))
        lines.append(f"{labelled} · {cost}\n{line}")
        service = names.get(item.service, item.service)
        rows.append([_button(f"{when} · {_phone(item.phone)} · {service}", data)])
    pager = pager_row(
        t,
        found.page,
        found.pages,
        lambda n: NumbersCb(action=NumbersAction.HISTORY, kind=kind, page=n),
    )
    if pager:
        rows.append(pager)
    other = NumberKind.RENTALS if activations else NumberKind.ACTIVATIONS
    switch = t("btn-numbers-rentals") if activations else t("btn-numbers-activations")
    rows.append([_button(switch, NumbersCb(action=NumbersAction.HISTORY, kind=other))])
    live = NumbersCb(action=NumbersAction.LIVE)
    rows.append([_button(t("btn-numbers-live"), live), menu_button(t)])
    return "\n\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


async def on_history(
    callback: CallbackQuery,
    callback_data: NumbersCb,
    t: Translate,
    numbers: NumbersService,
    accounts: AccountService,
    user: User,
    lang: str,
    clock: Callable[[], float],
    catalog: CatalogService,
) -> None:
    names = await service_names(catalog, accounts, user, lang)
    text, markup = await history_screen(
        t, numbers, user, callback_data.kind, callback_data.page, lang, clock(), names
    )
    await show(callback, text, markup)
    await answer_quietly(callback)


async def on_rental_list(
    callback: CallbackQuery,
    callback_data: RentalCb,
    t: Translate,
    numbers: NumbersService,
    accounts: AccountService,
    rentals: RentalService,
    user: User,
    lang: str,
    clock: Callable[[], float],
    catalog: CatalogService,
) -> None:
    """« My numbers / « Rental history on a rental card: the list the rental is found in (live
    numbers while it lasts, the rental history once ended) as a NEW message; the card stays."""
    try:
        rental = await rentals.get(user.id, callback_data.id)
    except NotFound:
        await answer_quietly(callback, t("error-not-found"), alert=True)
        return
    names = await service_names(catalog, accounts, user, lang)
    if rental.live:
        text, markup = await live_screen(t, numbers, user, clock(), lang, names)
    else:
        kind = NumberKind.RENTALS
        text, markup = await history_screen(t, numbers, user, kind, 0, lang, clock(), names)
    if isinstance(callback.message, Message):
        await callback.message.answer(text, reply_markup=markup)
    elif callback.bot is not None:
        await callback.bot.send_message(user.id, text, reply_markup=markup)
    await answer_quietly(callback)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_numbers, Command("numbers"))
    router.callback_query.register(on_numbers, MenuCb.filter(F.action == MenuAction.NUMBERS))
    router.callback_query.register(on_numbers, NumbersCb.filter(F.action == NumbersAction.LIVE))
    router.callback_query.register(on_history, NumbersCb.filter(F.action == NumbersAction.HISTORY))
    router.callback_query.register(on_rental_list, RentalCb.filter(F.action == RentalAction.LIST))
    return router
