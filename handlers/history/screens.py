"""The history's handlers: a page, the filter choices, an ended number's read-only card and
the exports. One handler per action; every read goes through `HistoryService` (or the cards'
own use cases), scoped by the user's id, so a crafted id or filter finds only their numbers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from aiogram import Bot
from aiogram.fsm.context import FSMContext
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from bot.accounts import AccountService
from bot.catalog import CatalogService
from bot.config import Settings
from bot.errors import NotFound
from bot.history import HistoryService
from bot.i18n import Translate
from bot.orders import OrderService
from bot.rentals import RentalService
from bot.tracker.notifier import Recipient
from handlers.activation.presenter import activation_card_data, card_text
from handlers.common import answer_quietly, answer_tap, show
from handlers.history.callbacks import EXPORTS, EntryKind, HistoryAction, HistoryCb
from handlers.history.keyboards import (
    card_keyboard,
    countries_keyboard,
    history_keyboard,
    outcomes_keyboard,
    periods_keyboard,
    services_keyboard,
)
from handlers.history.views import (
    SMS_SHOWN,
    PairNames,
    earlier_sms_text,
    export_caption,
    history_text,
)
from handlers.names import names_for
from handlers.rent.presenter import render_rental_card, rental_card_data
from storage import KeyProfile, User

PAGE_SIZE = 5


async def pair_names(
    catalog: CatalogService,
    key: KeyProfile | None,
    lang: str,
    pairs: Iterable[tuple[str, str]],
) -> PairNames:
    """Names of every (service, country) pair a screen shows, looked up together: a slow
    catalog holds the screen back once (names_for's timeout), not once per pair."""
    wanted = sorted(set(pairs))
    found = await asyncio.gather(*(names_for(catalog, key, lang, s, c) for s, c in wanted))
    return dict(zip(wanted, found, strict=True))


async def show_page(
    event: Message | CallbackQuery,
    view: HistoryCb,
    *,
    t: Translate,
    history: HistoryService,
    accounts: AccountService,
    catalog: CatalogService,
    user: User,
    lang: str,
) -> None:
    query = view.query()
    found = await history.page(user.id, query, view.page, PAGE_SIZE)
    pairs = [(e.service, e.country) for e in found.entries]
    pairs += [(query.service or "", ""), ("", query.country or "")]
    names = await pair_names(catalog, await accounts.find_active(user.id), lang, pairs)
    text = history_text(t, found, query, names, user, lang)
    await show(event, text, history_keyboard(t, view, found, user))
    await answer_tap(event)


async def on_history(
    event: Message | CallbackQuery,
    state: FSMContext,
    t: Translate,
    history: HistoryService,
    accounts: AccountService,
    catalog: CatalogService,
    user: User,
    lang: str,
) -> None:
    """/history and the main menu's button: the whole history, newest first."""
    await state.clear()
    view = HistoryCb(action=HistoryAction.LIST)
    await show_page(
        event, view, t=t, history=history, accounts=accounts, catalog=catalog, user=user, lang=lang
    )


async def on_list(
    query: CallbackQuery,
    callback_data: HistoryCb,
    t: Translate,
    history: HistoryService,
    accounts: AccountService,
    catalog: CatalogService,
    user: User,
    lang: str,
) -> None:
    await show_page(
        query,
        callback_data,
        t=t,
        history=history,
        accounts=accounts,
        catalog=catalog,
        user=user,
        lang=lang,
    )


async def on_services(
    query: CallbackQuery,
    callback_data: HistoryCb,
    t: Translate,
    history: HistoryService,
    accounts: AccountService,
    catalog: CatalogService,
    user: User,
    lang: str,
) -> None:
    services = await history.services(user.id)
    key = await accounts.find_active(user.id)
    names = await pair_names(catalog, key, lang, [(s, "") for s in services])
    markup = services_keyboard(t, callback_data, services, names)
    await show(query, t("history-choose-service"), markup)
    await answer_quietly(query)


async def on_countries(
    query: CallbackQuery,
    callback_data: HistoryCb,
    t: Translate,
    history: HistoryService,
    accounts: AccountService,
    catalog: CatalogService,
    user: User,
    lang: str,
) -> None:
    countries = await history.countries(user.id)
    key = await accounts.find_active(user.id)
    names = await pair_names(catalog, key, lang, [("", c) for c in countries])
    markup = countries_keyboard(t, callback_data, countries, names)
    await show(query, t("history-choose-country"), markup)
    await answer_quietly(query)


async def on_outcomes(query: CallbackQuery, callback_data: HistoryCb, t: Translate) -> None:
    await show(query, t("history-choose-outcome"), outcomes_keyboard(t, callback_data))
    await answer_quietly(query)


async def on_periods(query: CallbackQuery, callback_data: HistoryCb, t: Translate) -> None:
    await show(query, t("history-choose-period"), periods_keyboard(t, callback_data))
    await answer_quietly(query)


async def _activation_text(
    t: Translate,
    item: int,
    *,
    orders: OrderService,
    catalog: CatalogService,
    user: User,
    lang: str,
    now: float,
) -> str:
    activation = await orders.get(user.id, item)
    if activation is None:
        raise NotFound()
    key = await orders.key_of(activation)
    to = Recipient(user, key)
    data = await activation_card_data(
        activation, to, lang=lang, catalog=catalog, orders=orders, now=now
    )
    return card_text(data, t)


async def _rental_text(
    t: Translate,
    item: int,
    *,
    rentals: RentalService,
    catalog: CatalogService,
    settings: Settings,
    user: User,
    lang: str,
    now: float,
) -> str:
    rental = await rentals.get(user.id, item)
    try:
        key: KeyProfile | None = await rentals.key_of(user.id, rental)
    except NotFound:
        key = None  # names and the provider's zone fall back to defaults
    data = await rental_card_data(
        rental,
        Recipient(user, key),
        lang=lang,
        rentals=rentals,
        catalog=catalog,
        settings=settings,
        now=now,
    )
    text, _ = render_rental_card(data, t)
    # The card shows the latest SMS; the ones before it follow (bounded).
    sms = await rentals.sms(user.id, rental.id, 0, per_page=SMS_SHOWN + 1)
    more = earlier_sms_text(t, sms.items[1:], max(0, sms.total - 1), user)
    return f"{text}\n\n{more}" if more else text


async def on_open(
    query: CallbackQuery,
    callback_data: HistoryCb,
    t: Translate,
    orders: OrderService,
    rentals: RentalService,
    catalog: CatalogService,
    settings: Settings,
    user: User,
    lang: str,
    clock: Callable[[], float],
) -> None:
    """An entry's card, read-only: what it showed when it ended, every code, no action."""
    try:
        if callback_data.kind is EntryKind.ACTIVATION:
            text = await _activation_text(
                t,
                callback_data.item,
                orders=orders,
                catalog=catalog,
                user=user,
                lang=lang,
                now=clock(),
            )
        else:
            text = await _rental_text(
                t,
                callback_data.item,
                rentals=rentals,
                catalog=catalog,
                settings=settings,
                user=user,
                lang=lang,
                now=clock(),
            )
    except NotFound:
        await answer_quietly(query, t("history-not-found"), alert=True)
        return
    await show(query, text, card_keyboard(t, callback_data))
    await answer_quietly(query)


async def on_export(
    query: CallbackQuery,
    callback_data: HistoryCb,
    bot: Bot,
    t: Translate,
    history: HistoryService,
    user: User,
) -> None:
    """The filtered history as a file (CSV or JSON), sent as a document in the chat."""
    export = await history.export(user, callback_data.query(), EXPORTS[callback_data.action])
    if not export.rows:
        await answer_quietly(query, t("history-export-empty"), alert=True)
        return
    chat_id = query.message.chat.id if query.message is not None else user.id
    document = BufferedInputFile(export.data, filename=export.filename)
    await bot.send_document(chat_id, document, caption=export_caption(t, export.rows, export.total))
    await answer_quietly(query, t("history-export-sent"))
