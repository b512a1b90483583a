"""Numbers on my provider account: live numbers of the active key that the bot does not know
(bought on the provider's website, or by another client), listed on request; the user ticks
the ones to take in and adopts them, and each is then tracked like a number bought here.

The screen lists what `ImportService` found; the ticks live in the dialogue state as indexes
into that list (a tap carries an index, range-checked), and adopting re-checks every pick
against a fresh listing. Nothing is adopted or cancelled unless the user asks.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from aiogram import F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.accounts import AccountService
from bot.catalog import CatalogService
from bot.errors import NoActiveKey, PurchaseChecking
from bot.formatting import format_money
from bot.i18n import Translate
from bot.imports import ImportService
from bot.provider.errors import ProviderError
from bot.provider.models import ActiveActivation, Country
from handlers.activation import ActivationAction, ActivationCb
from handlers.common import CallbackPage, MenuAction, MenuCb, answer_quietly, menu_button, show
from handlers.errors import error_text
from handlers.names import country_label
from storage import KeyProfile, User

LISTED = "imp"  # state data: the numbers the screen shows, as short dicts of strings
TICKED = "imp_on"  # state data: indexes of the ticked ones

Row = Mapping[str, str]


class ImportAction(StrEnum):
    LIST = "ls"  # look at the provider account (again: ticks cleared)
    TICK = "t"  # i: the number's index on the screen
    ADOPT = "go"


class ImportCb(CallbackData, prefix="i1"):  # type: ignore[explicit-any]  # BaseModel's Any
    action: ImportAction
    i: CallbackPage = 0


def _row(item: ActiveActivation) -> dict[str, str]:
    return {
        "id": item.activation_id,
        "phone": item.phone.lstrip("+"),
        "s": item.service or "",
        "c": item.country or "",
        "cost": "" if item.cost is None else str(item.cost),
    }


def _amount(text: str) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def _ways_back(t: Translate) -> list[InlineKeyboardButton]:
    numbers = InlineKeyboardButton(
        text=t("imports-back"), callback_data=MenuCb(action=MenuAction.NUMBERS).pack()
    )
    return [numbers, menu_button(t)]


class Names:
    """Service and country names of the key's provider, when they come (codes otherwise)."""

    def __init__(
        self, services: Mapping[str, str], countries: Mapping[str, Country], lang: str
    ) -> None:
        self.services, self.countries, self.lang = services, countries, lang

    def of(self, row: Row) -> tuple[str, str, str]:
        flag, country = country_label(self.countries.get(row["c"]), row["c"] or "?", self.lang)
        return self.services.get(row["s"], row["s"] or "?"), flag, country


async def _names(catalog: CatalogService, key: KeyProfile, lang: str) -> Names:
    try:
        return Names(await catalog.service_names(key, lang), await catalog.countries(key), lang)
    except ProviderError:
        return Names({}, {}, lang)


def render_listing(
    t: Translate, rows: list[Row], ticked: set[int], names: Names, currency: str | None
) -> tuple[str, InlineKeyboardMarkup]:
    lines = [t("imports-title")]
    buttons: list[list[InlineKeyboardButton]] = []
    if not rows:
        lines.append(t("imports-none"))
    else:
        lines.append(t("imports-hint"))
    for index, row in enumerate(rows):
        service, flag, country = names.of(row)
        cost = format_money(_amount(row["cost"]), currency, lang=names.lang)
        phone = "+" + row["phone"]
        lines.append(
            t(
                "imports-line",
                phone=html.escape(phone),
                service=html.escape(service),
                flag=flag,
                country=html.escape(country),
                cost=cost,
            )
        )
        mark = "☑️" if index in ticked else "⬜"
        data = ImportCb(action=ImportAction.TICK, i=index).pack()
        text = f"{mark} {phone} · {service}"[:60]
        buttons.append([InlineKeyboardButton(text=text, callback_data=data)])
    if ticked:
        adopt = ImportCb(action=ImportAction.ADOPT).pack()
        label = t("imports-adopt", count=str(len(ticked)))
        buttons.append([InlineKeyboardButton(text=label, callback_data=adopt)])
    again = ImportCb(action=ImportAction.LIST).pack()
    buttons.append([InlineKeyboardButton(text=t("imports-refresh"), callback_data=again)])
    buttons.append(_ways_back(t))
    return "\n\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons)


async def _saved(state: FSMContext) -> tuple[list[Row], set[int]]:
    """The listing the screen showed and the ticks, as the state holds them (anything odd in
    there is dropped, never trusted)."""
    data = await state.get_data()
    raw = data.get(LISTED)
    rows: list[Row] = []
    if isinstance(raw, list):
        keys = ("id", "phone", "s", "c", "cost")
        for entry in raw:
            if isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in keys):
                rows.append({k: entry[k] for k in keys})
    ticks = data.get(TICKED)
    ticked = (
        {i for i in ticks if isinstance(i, int) and 0 <= i < len(rows)}
        if isinstance(ticks, list)
        else set()
    )
    return rows, ticked


async def _show_saved(
    query: CallbackQuery,
    t: Translate,
    rows: list[Row],
    ticked: set[int],
    key: KeyProfile,
    catalog: CatalogService,
    lang: str,
) -> None:
    names = await _names(catalog, key, lang)
    await show(query, *render_listing(t, rows, ticked, names, key.currency))


async def on_list(
    query: CallbackQuery,
    state: FSMContext,
    t: Translate,
    imports: ImportService,
    accounts: AccountService,
    catalog: CatalogService,
    user: User,
    lang: str,
) -> None:
    """Ask the provider what is live on the active key and show what the bot does not know."""
    await answer_quietly(query)
    try:
        key = await accounts.active_key(user.id)
        found = await imports.foreign_numbers(user.id)
    except (NoActiveKey, PurchaseChecking, ProviderError) as exc:
        text = error_text(t, exc, user=user)
        await show(query, text, InlineKeyboardMarkup(inline_keyboard=[_ways_back(t)]))
        return
    rows: list[Row] = [_row(item) for item in found]
    await state.set_state(None)
    await state.update_data({LISTED: rows, TICKED: []})
    await _show_saved(query, t, rows, set(), key, catalog, lang)


async def on_tick(
    query: CallbackQuery,
    callback_data: ImportCb,
    state: FSMContext,
    t: Translate,
    accounts: AccountService,
    catalog: CatalogService,
    user: User,
    lang: str,
) -> None:
    rows, ticked = await _saved(state)
    key = await accounts.find_active(user.id)
    if callback_data.i >= len(rows) or key is None:
        # A tap from an older screen, or a crafted index: nothing to tick.
        await answer_quietly(query, t("imports-stale"), alert=True)
        return
    ticked ^= {callback_data.i}
    await state.update_data({TICKED: sorted(ticked)})
    await answer_quietly(query)
    await _show_saved(query, t, rows, ticked, key, catalog, lang)


async def on_adopt(
    query: CallbackQuery,
    state: FSMContext,
    t: Translate,
    imports: ImportService,
    user: User,
) -> None:
    rows, ticked = await _saved(state)
    if not ticked:
        await answer_quietly(query, t("imports-stale"), alert=True)
        return
    picked = [rows[i]["id"] for i in sorted(ticked)]
    message = query.message if isinstance(query.message, Message) else None
    chat_id = message.chat.id if message else user.id
    try:
        result = await imports.adopt(user.id, picked, chat_id)
    except (NoActiveKey, PurchaseChecking, ProviderError) as exc:
        # Nothing was stored: the ticks stay, one tap to try again.
        await answer_quietly(query, error_text(t, exc, user=user), alert=True)
        return
    await state.update_data({LISTED: [], TICKED: []})
    await answer_quietly(query, t("imports-adopted", count=str(len(result.adopted))))
    lines = [t("imports-done", count=str(len(result.adopted)))]
    if result.gone:
        lines.append(t("imports-gone", count=str(result.gone)))
    buttons = [
        [
            InlineKeyboardButton(
                text=f"📱 +{a.phone}"[:60],
                callback_data=ActivationCb(action=ActivationAction.OPEN, id=a.id).pack(),
            )
        ]
        for a in result.adopted
    ]
    buttons.append(_ways_back(t))
    await show(query, "\n\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons))


def entry_button(t: Translate) -> InlineKeyboardButton:
    """The way in, from My numbers."""
    return InlineKeyboardButton(
        text=t("btn-imports"), callback_data=ImportCb(action=ImportAction.LIST).pack()
    )


def create_router() -> Router:
    router = Router(name=__name__)
    tap = router.callback_query.register
    tap(on_list, ImportCb.filter(F.action == ImportAction.LIST))
    tap(on_tick, ImportCb.filter(F.action == ImportAction.TICK))
    tap(on_adopt, ImportCb.filter(F.action == ImportAction.ADOPT))
    return router
