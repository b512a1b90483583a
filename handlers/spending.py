"""Spending at a glance: a week, a month or two dates the user sends; all keys or one; the
figures per currency and a chart of spend per day sent as a photo.

Every figure comes from `bot.spending` (what counts as spent and refunded is decided there);
this module draws it. Times and days are the user's (their time zone setting).
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from pydantic import Field

from bot.accounts import AccountService
from bot.catalog import CatalogService
from bot.errors import Stale
from bot.formatting import format_money, user_timezone
from bot.i18n import Translate, Translator
from bot.provider.errors import ProviderError
from bot.spending import (
    MAX_BACK,
    ChartTexts,
    CurrencySpending,
    Period,
    PeriodError,
    PeriodKind,
    Ranked,
    SpendingKey,
    SpendingReport,
    SpendingService,
    chart_texts,
    parse_period,
)
from handlers.common import (
    CallbackId,
    MenuAction,
    MenuCb,
    answer_quietly,
    answer_tap,
    input_flags,
    menu_button,
    only_menu_keyboard,
    show,
)
from handlers.errors import error_text
from handlers.names import NAME_LIMIT, NAME_TIMEOUT, country_label
from storage import User

log = logging.getLogger(__name__)

# Texts that are commands are never taken as input.
NOT_COMMAND = F.text & ~F.text.startswith("/")

# Range-checked when a tap is decoded: a forged value fails to decode ("out of date").
StepsBack = Annotated[int, Field(ge=0, le=MAX_BACK)]
DayNumber = Annotated[int, Field(ge=1, le=date.max.toordinal())]


class SpendingAction(StrEnum):
    SHOW = "s"  # the summary of period p (o steps back; custom: days a..b), key k (0: all)
    KEYS = "k"  # the key picker for the same period
    DATES = "d"  # ask for two dates
    CHART = "g"  # send the chart of the same period and key


class SpendingCb(CallbackData, prefix="sp1"):  # type: ignore[explicit-any]  # BaseModel's Any
    action: SpendingAction
    p: PeriodKind = PeriodKind.WEEK
    o: StepsBack = 0
    k: CallbackId = 0
    a: DayNumber = 1  # custom period: first day (date.toordinal)
    b: DayNumber = 1  # custom period: last day


class SpendingInput(StatesGroup):
    dates = State()  # waiting for two dates; data: {"k": key id or 0}


def _with(view: SpendingCb, **changes: object) -> SpendingCb:
    return view.model_copy(update=changes)


def _period(view: SpendingCb, today: date) -> Period:
    """The period a tap names; Stale when a custom one is not a valid period."""
    if view.p == PeriodKind.WEEK:
        return Period.week(today, view.o)
    if view.p == PeriodKind.MONTH:
        return Period.month(today, view.o)
    try:
        return Period.custom(date.fromordinal(view.a), date.fromordinal(view.b), today)
    except PeriodError:
        raise Stale() from None


def _custom_view(period: Period, key_id: int) -> SpendingCb:
    return SpendingCb(
        action=SpendingAction.SHOW,
        p=PeriodKind.CUSTOM,
        k=key_id,
        a=period.first.toordinal(),
        b=period.last.toordinal(),
    )


# --- names -------------------------------------------------------------------------------


async def catalog_names(
    catalog: CatalogService, accounts: AccountService, user: User, lang: str
) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """(service names, countries with their flags) as the active key's provider spells them,
    when they come within handlers.names' timeout; the codes stand in otherwise (the figures
    are never held up by a slow catalog)."""
    key = await accounts.find_active(user.id)
    if key is None:
        return {}, {}
    try:
        async with asyncio.timeout(NAME_TIMEOUT):
            services = await catalog.service_names(key, lang)
            countries = await catalog.countries(key)
    except (ProviderError, TimeoutError) as exc:
        log.info("catalog names unavailable for spending: %s", type(exc).__name__)
        return {}, {}
    flagged = {code: " ".join(country_label(c, code, lang)) for code, c in countries.items()}
    return {code: name[:NAME_LIMIT] for code, name in services.items()}, flagged


# --- views -------------------------------------------------------------------------------


def _scope(t: Translate, keys: list[SpendingKey], key_id: int) -> str:
    for key in keys:
        if key.id == key_id:
            return _key_label(t, key)
    return t("spending-all-keys")


def _key_label(t: Translate, key: SpendingKey) -> str:
    label = html.escape(key.label)
    return t("spending-key-deleted", label=label) if key.deleted else label


def _period_title(t: Translate, period: Period, back: int) -> str:
    span = t("spending-span", first=period.first.isoformat(), last=period.last.isoformat())
    if period.kind == PeriodKind.CUSTOM:
        return span
    name = f"spending-{period.kind.name.lower()}-{'this' if back == 0 else 'past'}"
    return f"{t(name)} · {span}"


def _top(
    t: Translate,
    ranked: tuple[Ranked, ...],
    names: Mapping[str, str],
    c: CurrencySpending,
    lang: str,
) -> str:
    return ", ".join(
        t(
            "spending-top-item",
            name=html.escape(names.get(item.code, item.code)),
            numbers=str(item.numbers),
            spent=format_money(item.spent, c.currency, lang=lang),
        )
        for item in ranked
    )


def currency_text(
    t: Translate,
    c: CurrencySpending,
    lang: str,
    services: Mapping[str, str],
    countries: Mapping[str, str],
) -> str:
    def money(amount: Decimal) -> str:
        return format_money(amount, c.currency, lang=lang)

    lines = [
        t("spending-currency", currency=html.escape(c.currency or t("spending-unknown-currency"))),
        t(
            "spending-spent",
            spent=money(c.spent),
            charged=money(c.charged),
            refunded=money(c.refunded),
        ),
    ]
    if c.waiting:
        lines.append(t("spending-waiting", waiting=money(c.waiting)))
    lines.append(t("spending-numbers", numbers=str(c.numbers), codes=str(c.codes)))
    if c.cost_per_code is not None:
        lines.append(t("spending-per-code", cost=money(c.cost_per_code)))
    if c.top_services:
        lines.append(t("spending-top-services", items=_top(t, c.top_services, services, c, lang)))
    if c.top_countries:
        lines.append(
            t("spending-top-countries", items=_top(t, c.top_countries, countries, c, lang))
        )
    return "\n".join(lines)


def report_text(
    t: Translate,
    report: SpendingReport,
    lang: str,
    *,
    title: str,
    services: Mapping[str, str],
    countries: Mapping[str, str],
) -> str:
    parts = [title]
    if report.empty:
        parts.append(t("spending-empty"))
    parts += [currency_text(t, c, lang, services, countries) for c in report.currencies]
    if report.unpriced:
        parts.append(t("spending-unpriced", count=str(report.unpriced)))
    if not report.complete:
        parts.append(t("spending-partial"))
    return "\n\n".join(parts)


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text[:60], callback_data=data.pack())


def spending_keyboard(t: Translate, view: SpendingCb, scope: str) -> InlineKeyboardMarkup:
    def kind(label: str, period: PeriodKind) -> InlineKeyboardButton:
        mark = "✅ " if view.p == period else ""
        return _button(mark + t(label), SpendingCb(action=SpendingAction.SHOW, p=period, k=view.k))

    custom_mark = "✅ " if view.p == PeriodKind.CUSTOM else ""
    rows = [
        [
            kind("btn-spending-week", PeriodKind.WEEK),
            kind("btn-spending-month", PeriodKind.MONTH),
            _button(
                custom_mark + t("btn-spending-dates"), _with(view, action=SpendingAction.DATES)
            ),
        ]
    ]
    if view.p != PeriodKind.CUSTOM:
        steps: list[InlineKeyboardButton] = []
        if view.o < MAX_BACK:
            steps.append(_button(t("btn-spending-earlier"), _with(view, o=view.o + 1)))
        if view.o > 0:
            steps.append(_button(t("btn-spending-later"), _with(view, o=view.o - 1)))
        rows.append(steps)
    rows.append(
        [_button(t("btn-spending-keys", scope=scope), _with(view, action=SpendingAction.KEYS))]
    )
    rows.append([_button(t("btn-spending-chart"), _with(view, action=SpendingAction.CHART))])
    rows.append([menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def spending_screen(
    t: Translate,
    lang: str,
    spending: SpendingService,
    user: User,
    view: SpendingCb,
    catalog: CatalogService,
    accounts: AccountService,
) -> tuple[str, InlineKeyboardMarkup]:
    """The summary a view names (Stale: a key or a period no keyboard of this user offered)."""
    tz = user_timezone(user.timezone)
    period = _period(view, spending.today(tz))
    report = await spending.report(user.id, period, tz, view.k or None)
    keys = await spending.keys(user.id)
    scope = _scope(t, keys, view.k)
    services: Mapping[str, str] = {}
    countries: Mapping[str, str] = {}
    if not report.empty:
        services, countries = await catalog_names(catalog, accounts, user, lang)
    title = f"{t('spending-title')}\n{_period_title(t, period, view.o)} · {scope}"
    text = report_text(t, report, lang, title=title, services=services, countries=countries)
    return text, spending_keyboard(t, view, scope)


def chart_words(
    t: Translate, translator: Translator, title_key: str, **title_args: str
) -> tuple[ChartTexts, ChartTexts]:
    """The chart's words in the user's language, and in English for when the chart's font has
    no glyphs for them (SpendingService.chart picks; the caption stays in the user's language)."""
    english = translator.bind("en")
    return (
        chart_texts(t, t(title_key, **title_args)),
        chart_texts(english, english(title_key, **title_args)),
    )


def keys_keyboard(t: Translate, view: SpendingCb, keys: list[SpendingKey]) -> InlineKeyboardMarkup:
    show_view = _with(view, action=SpendingAction.SHOW)
    rows = [
        [_button(("✅ " if view.k == 0 else "") + t("spending-all-keys"), _with(show_view, k=0))]
    ]
    for key in keys:
        mark = "✅ " if key.id == view.k else ""
        label = t("spending-key-deleted", label=key.label) if key.deleted else key.label
        rows.append([_button(mark + label, _with(show_view, k=key.id))])
    rows.append([_button(t("btn-back"), show_view), menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def dates_keyboard(t: Translate, key_id: int) -> InlineKeyboardMarkup:
    back = SpendingCb(action=SpendingAction.SHOW, k=key_id)
    return InlineKeyboardMarkup(inline_keyboard=[[_button(t("btn-back"), back), menu_button(t)]])


# --- handlers ----------------------------------------------------------------------------


async def _show_view(
    event: Message | CallbackQuery,
    view: SpendingCb,
    t: Translate,
    lang: str,
    spending: SpendingService,
    user: User,
    catalog: CatalogService,
    accounts: AccountService,
) -> None:
    try:
        text, markup = await spending_screen(t, lang, spending, user, view, catalog, accounts)
    except Stale as exc:
        if isinstance(event, CallbackQuery):
            await answer_quietly(event, error_text(t, exc))
        else:
            await event.answer(error_text(t, exc), reply_markup=only_menu_keyboard(t))
        return
    await show(event, text, markup)
    await answer_tap(event)


async def on_spending(
    event: Message | CallbackQuery,
    state: FSMContext,
    t: Translate,
    lang: str,
    spending: SpendingService,
    user: User,
    catalog: CatalogService,
    accounts: AccountService,
) -> None:
    """The menu entry and /spending: this week, all keys."""
    await state.clear()
    view = SpendingCb(action=SpendingAction.SHOW)
    await _show_view(event, view, t, lang, spending, user, catalog, accounts)


async def on_show(
    callback: CallbackQuery,
    callback_data: SpendingCb,
    state: FSMContext,
    t: Translate,
    lang: str,
    spending: SpendingService,
    user: User,
    catalog: CatalogService,
    accounts: AccountService,
) -> None:
    await state.clear()
    await _show_view(callback, callback_data, t, lang, spending, user, catalog, accounts)


async def on_keys(
    callback: CallbackQuery,
    callback_data: SpendingCb,
    t: Translate,
    spending: SpendingService,
    user: User,
) -> None:
    keys = await spending.keys(user.id)
    await show(callback, t("spending-keys-title"), keys_keyboard(t, callback_data, keys))
    await answer_quietly(callback)


async def on_dates(
    callback: CallbackQuery,
    callback_data: SpendingCb,
    state: FSMContext,
    t: Translate,
) -> None:
    await state.set_state(SpendingInput.dates)
    await state.set_data({"k": callback_data.k})
    await show(callback, t("spending-dates-prompt"), dates_keyboard(t, callback_data.k))
    await answer_quietly(callback)


async def on_dates_text(
    message: Message,
    state: FSMContext,
    t: Translate,
    lang: str,
    spending: SpendingService,
    user: User,
    catalog: CatalogService,
    accounts: AccountService,
) -> None:
    """Two dates typed: the summary of that period; anything else: why not, and try again."""
    stored = (await state.get_data()).get("k", 0)
    key_id = stored if isinstance(stored, int) else 0
    today = spending.today(user_timezone(user.timezone))
    try:
        period = parse_period(message.text or "", today)
    except PeriodError as exc:
        text = f"{t(f'spending-dates-{exc.reason}')}\n\n{t('spending-dates-prompt')}"
        await message.answer(text, reply_markup=dates_keyboard(t, key_id))
        return
    await state.clear()
    view = _custom_view(period, key_id)
    await _show_view(message, view, t, lang, spending, user, catalog, accounts)


async def on_chart(
    callback: CallbackQuery,
    callback_data: SpendingCb,
    bot: Bot,
    t: Translate,
    translator: Translator,
    spending: SpendingService,
    user: User,
) -> None:
    """The chart of the shown period and key, as a photo under the summary. The tap is answered
    first: drawing takes a moment, in a worker thread, while other taps are served."""
    tz = user_timezone(user.timezone)
    try:
        period = _period(callback_data, spending.today(tz))
        report = await spending.report(user.id, period, tz, callback_data.k or None)
    except Stale as exc:
        await answer_quietly(callback, error_text(t, exc))
        return
    await answer_quietly(callback, t("spending-chart-drawing"))
    span = t("spending-span", first=period.first.isoformat(), last=period.last.isoformat())
    words, english = chart_words(t, translator, "spending-chart-title", span=span)
    png = await spending.chart(report, words, english)
    scope = _scope(t, await spending.keys(user.id), callback_data.k)
    await bot.send_photo(
        callback.from_user.id,
        BufferedInputFile(png, filename="spending.png"),
        caption=t("spending-chart-caption", span=span, scope=scope),
        reply_markup=only_menu_keyboard(t),
    )


def create_router() -> Router:
    router = Router(name=__name__)
    cb = router.callback_query
    router.message.register(on_spending, Command("spending"))
    cb.register(on_spending, MenuCb.filter(F.action == MenuAction.SPENDING))
    cb.register(on_show, SpendingCb.filter(F.action == SpendingAction.SHOW))
    cb.register(on_keys, SpendingCb.filter(F.action == SpendingAction.KEYS))
    cb.register(on_dates, SpendingCb.filter(F.action == SpendingAction.DATES))
    cb.register(on_chart, SpendingCb.filter(F.action == SpendingAction.CHART))
    router.message.register(on_dates_text, SpendingInput.dates, NOT_COMMAND, flags=input_flags())
    return router
