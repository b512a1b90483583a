"""The buy flow: services → countries → confirm → one purchase under a one-time token → card.

Every screen edits the message it was tapped on; typed text (a search, a maximum price) gets a
fresh message. The Buy button carries a one-time token; `OrderService.buy` claims it in the
database before the provider is called, so a double tap or a resent update buys one number.
"""

from __future__ import annotations

import html
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.catalog import CatalogService, CountryOffer
from bot.errors import NoActiveKey
from bot.flags import country_flag
from bot.formatting import format_money
from bot.i18n import Translate
from bot.orders import OrderService
from bot.provider.errors import ProviderError
from bot.provider.models import Country, Service
from handlers.common import (
    ActiveKeyLoader,
    CallbackPage,
    MenuCb,
    back_button,
    load_active_key,
    menu_button,
    page_of,
)
from handlers.errors import error_text
from storage import Database, KeyProfile, User

log = logging.getLogger(__name__)

router = Router(name=__name__)

SERVICES_PER_PAGE = 10
COUNTRIES_PER_PAGE = 8
QUICK_PICKS = 4
CALLBACK_LIMIT = 64
MAX_PRICE_LIMIT = Decimal("1000000")


class BuyCb(CallbackData, prefix="b1"):
    """Buy-flow navigation. s = service code, c = country id, p = page, tk = one-time purchase
    token, mx = maximum price (kept in the button so a lost FSM state cannot lift the cap)."""

    action: str  # sp: services page, s: service, cp: countries page, c: confirm,
    # mx: ask max price, go: buy
    s: str = ""
    c: str = ""
    p: CallbackPage = 0
    tk: str = ""
    mx: str = ""


class BuyStates(StatesGroup):
    services = State()  # any text searches services
    countries = State()  # any text searches countries of the chosen service
    max_price = State()  # text is the maximum price


def _fits(data: CallbackData) -> str | None:
    """The packed data, or None when a provider's odd code would not fit Telegram's 64 bytes."""
    try:
        packed = data.pack()
    except ValueError:
        return None
    return packed if len(packed.encode()) <= CALLBACK_LIMIT else None


def _button(text: str, data: CallbackData) -> InlineKeyboardButton | None:
    packed = _fits(data)
    return InlineKeyboardButton(text=text, callback_data=packed) if packed else None


def _rows(buttons: list[InlineKeyboardButton | None], width: int) -> list[list[Any]]:
    kept = [b for b in buttons if b is not None]
    return [kept[i : i + width] for i in range(0, len(kept), width)]


def _pager(t: Translate, page: int, pages: int, make: Any) -> list[InlineKeyboardButton]:
    if pages <= 1:
        return []
    row: list[InlineKeyboardButton] = []
    if page > 0:
        row.append(InlineKeyboardButton(text="‹", callback_data=make(page - 1).pack()))
    row.append(
        InlineKeyboardButton(
            text=t("buy-page", page=str(page + 1), pages=str(pages)),
            callback_data=make(page).pack(),
        )
    )
    if page + 1 < pages:
        row.append(InlineKeyboardButton(text="›", callback_data=make(page + 1).pack()))
    return row


def _money(amount: Decimal | None, key: KeyProfile | None) -> str:
    return format_money(amount, key.currency if key else None)


def country_label(country: Country | None, country_id: str, lang: str) -> tuple[str, str]:
    """(flag, name in the user's language where the provider has it)."""
    if country is None:
        return "🌐", country_id
    return country_flag(country.name("en")), country.name(lang)


async def _show(
    event: CallbackQuery | Message, text: str, markup: InlineKeyboardMarkup | None
) -> Message | None:
    """Edit the tapped message, or send a new one for typed text."""
    if isinstance(event, CallbackQuery):
        message = event.message
        if isinstance(message, Message):
            try:
                edited = await message.edit_text(text, reply_markup=markup)
                return edited if isinstance(edited, Message) else message
            except TelegramBadRequest as error:
                if "not modified" in str(error):
                    return message
                log.debug("edit failed (%s); sending anew", error)
            return await message.answer(text, reply_markup=markup)
        return None
    return await event.answer(text, reply_markup=markup)


PAGES_CACHED = 512
View = tuple[str, InlineKeyboardMarkup]


class _PageCache:
    """Rendered services/countries pages, keyed by everything that shapes them.

    Building a page (a dozen translations, each button a validated model) is most of a tap's
    own work, and users flip the same few pages. The key holds the bound translator itself
    (the registration middleware keeps one per language), so a different translator can never
    be served another's text; the markup is never mutated after rendering, so sharing it
    between updates is safe."""

    def __init__(self, size: int = PAGES_CACHED) -> None:
        self._size = size
        self._views: OrderedDict[Hashable, View] = OrderedDict()

    def get(self, key: Hashable, render: Callable[[], View]) -> View:
        view = self._views.get(key)
        if view is not None:
            self._views.move_to_end(key)
            return view
        view = render()
        self._views[key] = view
        if len(self._views) > self._size:
            self._views.popitem(last=False)
        return view

    def clear(self) -> None:
        self._views.clear()


PAGES = _PageCache()


def _no_key_view(t: Translate) -> tuple[str, InlineKeyboardMarkup]:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=t("menu-keys"), callback_data=MenuCb(action="keys").pack())],
            [menu_button(t)],
        ]
    )
    return t("buy-no-key"), markup


async def _error_view(
    event: CallbackQuery | Message, t: Translate, exc: BaseException, back: str | None = None
) -> None:
    rows = [[back_button(t, back)]] if back else []
    rows.append([menu_button(t)])
    await _show(event, error_text(t, exc), InlineKeyboardMarkup(inline_keyboard=rows))


@dataclass(frozen=True, slots=True)
class BuyContext:
    """What every buy screen reads from an update: who asks, in which language, and where from.

    Handlers build it once from the update's data (`from_data`), so a screen call is one
    argument instead of the same seven keywords each time."""

    user: User
    lang: str
    t: Translate
    db: Database
    catalog: CatalogService
    state: FSMContext | None = None
    active_key: ActiveKeyLoader | None = None
    accounts: Any = None  # AccountService: a fresh balance on the confirm screen
    orders: OrderService | None = None  # issues the confirm screen's purchase token

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> BuyContext:
        """From the dispatcher's data for one update (middlewares and workflow data)."""
        return cls(
            user=data["user"],
            lang=data["lang"],
            t=data["t"],
            db=data["db"],
            catalog=data["catalog"],
            state=data.get("state"),
            active_key=data.get("active_key"),
            accounts=data.get("accounts"),
            orders=data.get("orders"),
        )

    async def key(self) -> KeyProfile | None:
        return await load_active_key(self.db, self.user.id, self.active_key)


# ------------------------------------------------------------------ services screen


def _matches(service: Service, query: str, english: dict[str, str]) -> bool:
    """By code, by the name in the user's language, or by the English name: a Russian user
    typing "telegram" finds «Телеграм»."""
    return (
        query in service.code.lower()
        or query in service.name.lower()
        or query in english.get(service.code, "").lower()
    )


async def _english_names(catalog: CatalogService, key: KeyProfile, lang: str) -> dict[str, str]:
    if lang == "en":
        return {}
    try:
        return await catalog.service_names(key, "en")
    except ProviderError:
        return {}  # search still works by code and the localized name


Picks = tuple[list[tuple[str, str | None]], list[tuple[str, str]]]
RECENTS_SHOWN = 10  # recent picks that lift a service to the front


def _ordered_services(picks: Picks, services: list[Service]) -> list[Service]:
    """Favourites first, then recent picks, then the provider's own order."""
    favourites, recents = picks
    by_code = {s.code: s for s in services}
    first: list[str] = [code for code, _c in favourites]
    first += [code for code, _c in recents[:RECENTS_SHOWN]]
    seen: set[str] = set()
    ordered: list[Service] = []
    for code in first:
        if code in by_code and code not in seen:
            seen.add(code)
            ordered.append(by_code[code])
    ordered.extend(s for s in services if s.code not in seen)
    return ordered


def _quick_picks(
    picks: Picks, names: dict[str, str], countries: dict[str, Country], lang: str
) -> list[InlineKeyboardButton | None]:
    """Favourite and recent (service, country) pairs straight to the confirm screen."""
    favourites, recents = picks
    pairs: list[tuple[str, str, str]] = [("⭐", s, c) for s, c in favourites if c]
    pairs += [("🕘", s, c) for s, c in recents[:QUICK_PICKS]]
    seen: set[tuple[str, str]] = set()
    buttons: list[InlineKeyboardButton | None] = []
    for mark, service, country in pairs:
        if (service, country) in seen or service not in names:
            continue
        seen.add((service, country))
        flag, name = country_label(countries.get(country), country, lang)
        label = f"{mark} {names[service]} · {flag} {name}"
        buttons.append(_button(label, BuyCb(action="c", s=service, c=country)))
        if len(buttons) >= QUICK_PICKS:
            break
    return buttons


def render_services_page(
    t: Translate,
    services: list[Service],
    page: int,
    *,
    query: str = "",
    quick: list[InlineKeyboardButton | None] | None = None,
) -> tuple[str, InlineKeyboardMarkup]:
    page, pages, shown = page_of(services, page, SERVICES_PER_PAGE)
    if query:
        text = t("buy-services-found", query=html.escape(query), count=str(len(services)))
    else:
        text = t("buy-services-title")
    if not services:
        text = t("buy-services-none", query=html.escape(query))
    text += "\n" + t("buy-type-to-search")
    rows = _rows(list(quick or []), 1) if page == 0 else []
    rows += _rows([_button(s.name, BuyCb(action="s", s=s.code)) for s in shown], 2)
    keep = "q" if query else ""  # pages of a search keep the search
    pager = _pager(t, page, pages, lambda p: BuyCb(action="sp", p=p, tk=keep))
    if pager:
        rows.append(pager)
    if query:
        rows.append([InlineKeyboardButton(
            text=t("buy-all-services"), callback_data=BuyCb(action="sp").pack()
        )])  # fmt: skip
    rows.append([menu_button(t)])
    return text, InlineKeyboardMarkup(inline_keyboard=rows)


async def show_services(
    event: CallbackQuery | Message, ctx: BuyContext, *, page: int = 0, query: str = ""
) -> None:
    user, lang, t, db, catalog = ctx.user, ctx.lang, ctx.t, ctx.db, ctx.catalog
    key = await ctx.key()
    if key is None:
        await _show(event, *_no_key_view(t))
        return
    try:
        services = await catalog.services(key, lang)
        countries = await catalog.countries(key) if not query and page == 0 else {}
    except ProviderError as exc:
        await _error_view(event, t, exc)
        return
    # Favourites and recents in one read, shared by the ordering and the quick picks.
    picks = await db.picks.favourites_and_recents(
        user.id, recent_limit=max(RECENTS_SHOWN, QUICK_PICKS)
    )
    ordered = _ordered_services(picks, services)
    needle = query.strip().lower()
    if needle:
        english = await _english_names(catalog, key, lang)
        ordered = [s for s in ordered if _matches(s, needle, english)]
    quick: list[InlineKeyboardButton | None] = []
    if not needle and page == 0:
        names = {s.code: s.name for s in services}
        quick = _quick_picks(picks, names, countries, lang)
    if ctx.state is not None:
        await ctx.state.set_state(BuyStates.services)
        await ctx.state.update_data(q=query)
    text, markup = PAGES.get(
        _services_page_key(t, ordered, page, query, quick),
        lambda: render_services_page(t, ordered, page, query=query, quick=quick),
    )
    await _show(event, text, markup)


def _services_page_key(
    t: Translate,
    ordered: list[Service],
    page: int,
    query: str,
    quick: list[InlineKeyboardButton | None],
) -> Hashable:
    """Everything render_services_page reads: the page's services, their count, the quick picks."""
    page, _pages, shown = page_of(ordered, page, SERVICES_PER_PAGE)
    picks = tuple((b.text, b.callback_data) for b in quick if b is not None) if page == 0 else ()
    return (
        "services",
        t,
        page,
        len(ordered),
        query,
        tuple((s.code, s.name) for s in shown),
        picks,
    )


@router.callback_query(MenuCb.filter(F.action == "buy"))
async def on_menu_buy(query: CallbackQuery, **data: Any) -> None:
    await query.answer()
    await show_services(query, BuyContext.from_data(data))


@router.message(Command("buy"))
async def on_buy_command(message: Message, **data: Any) -> None:
    await show_services(message, BuyContext.from_data(data))


@router.callback_query(BuyCb.filter(F.action == "sp"))
async def on_services_page(query: CallbackQuery, callback_data: BuyCb, **data: Any) -> None:
    await query.answer()
    ctx = BuyContext.from_data(data)
    state: FSMContext = data["state"]
    # Paging keeps the search; "all services" (page 0 with no state) clears it.
    saved = await state.get_data() if await state.get_state() == BuyStates.services else {}
    search = str(saved.get("q", "")) if callback_data.tk else ""
    await show_services(query, ctx, page=callback_data.p, query=search)


@router.message(BuyStates.services, F.text, ~F.text.startswith("/"))
async def on_services_search(message: Message, **data: Any) -> None:
    await show_services(message, BuyContext.from_data(data), query=_typed_query(message))


def _typed_query(message: Message) -> str:
    """A typed search, trimmed to what a page title can show."""
    return (message.text or "").strip()[:40]


# ------------------------------------------------------------------ countries screen


def _offer_matches(offer: CountryOffer, needle: str) -> bool:
    if offer.country == needle:
        return True
    names = offer.name_by_lang.names.values() if offer.name_by_lang else ()
    return any(needle in name.lower() for name in names)


def render_countries_page(
    t: Translate,
    lang: str,
    key: KeyProfile,
    service: str,
    service_name: str,
    offers: list[CountryOffer],
    page: int,
    *,
    query: str = "",
) -> tuple[str, InlineKeyboardMarkup]:
    """One page of countries for a service: flag, name, price and stock, cheapest first."""
    page, pages, shown = page_of(offers, page, COUNTRIES_PER_PAGE)
    title = t("buy-countries-title", service=html.escape(service_name))
    if not offers:
        body = (
            t("buy-countries-none-found", query=html.escape(query))
            if query
            else t("buy-countries-none")
        )
    elif query:
        body = t("buy-countries-found", query=html.escape(query), count=str(len(offers)))
    else:
        body = t("buy-type-to-search-country")
    buttons: list[InlineKeyboardButton | None] = []
    for offer in shown:
        flag, name = country_label(offer.name_by_lang, offer.country, lang)
        label = t(
            "buy-country-button",
            flag=flag,
            country=name,
            price=_money(offer.cost, key),
            count=str(offer.count),
        )
        buttons.append(_button(label, BuyCb(action="c", s=service, c=offer.country)))
    rows = _rows(buttons, 1)
    keep = "q" if query else ""
    pager = _pager(t, page, pages, lambda p: BuyCb(action="cp", s=service, p=p, tk=keep))
    if pager:
        rows.append(pager)
    rows.append([back_button(t, BuyCb(action="sp").pack()), menu_button(t)])
    return f"{title}\n{body}", InlineKeyboardMarkup(inline_keyboard=rows)


async def show_countries(
    event: CallbackQuery | Message,
    ctx: BuyContext,
    *,
    service: str,
    page: int = 0,
    query: str = "",
) -> None:
    lang, t, catalog = ctx.lang, ctx.t, ctx.catalog
    key = await ctx.key()
    if key is None:
        await _show(event, *_no_key_view(t))
        return
    try:
        offers = await catalog.offers(key, service)
        names = await catalog.service_names(key, lang)
    except ProviderError as exc:
        await _error_view(event, t, exc, back=BuyCb(action="sp").pack())
        return
    needle = query.strip().lower()
    if needle:
        offers = [o for o in offers if _offer_matches(o, needle)]
    if ctx.state is not None:
        await ctx.state.set_state(BuyStates.countries)
        await ctx.state.update_data(s=service, cq=query)
    service_name = names.get(service, service)
    text, markup = PAGES.get(
        _countries_page_key(t, lang, key, service, service_name, offers, page, query),
        lambda: render_countries_page(
            t, lang, key, service, service_name, offers, page, query=query
        ),
    )
    await _show(event, text, markup)


def _countries_page_key(
    t: Translate,
    lang: str,
    key: KeyProfile,
    service: str,
    service_name: str,
    offers: list[CountryOffer],
    page: int,
    query: str,
) -> Hashable:
    """Everything render_countries_page reads: the page's offers as shown (label, price,
    stock), their count, and the key's currency."""
    page, _pages, shown = page_of(offers, page, COUNTRIES_PER_PAGE)
    return (
        "countries",
        t,
        lang,
        key.currency,
        service,
        service_name,
        page,
        len(offers),
        query,
        tuple(
            (o.country, o.cost, o.count, country_label(o.name_by_lang, o.country, lang))
            for o in shown
        ),
    )


@router.callback_query(BuyCb.filter(F.action.in_({"s", "cp"})))
async def on_service_chosen(query: CallbackQuery, callback_data: BuyCb, **data: Any) -> None:
    await query.answer()
    ctx = BuyContext.from_data(data)
    state: FSMContext = data["state"]
    search = ""
    if callback_data.action == "cp" and callback_data.tk:
        saved = await state.get_data()
        if saved.get("s") == callback_data.s:
            search = str(saved.get("cq", ""))
    await show_countries(query, ctx, service=callback_data.s, page=callback_data.p, query=search)


@router.message(BuyStates.countries, F.text, ~F.text.startswith("/"))
async def on_countries_search(message: Message, **data: Any) -> None:
    ctx = BuyContext.from_data(data)
    state: FSMContext = data["state"]
    service = str((await state.get_data()).get("s", ""))
    if not service:
        await show_services(message, ctx)
        return
    await show_countries(message, ctx, service=service, query=_typed_query(message))


# ------------------------------------------------------------------ confirm screen


@dataclass(frozen=True, slots=True)
class ConfirmView:
    text: str
    markup: InlineKeyboardMarkup


def render_confirm(
    t: Translate,
    lang: str,
    key: KeyProfile,
    *,
    service: str,
    service_name: str,
    country: str,
    country_info: Country | None,
    offer: CountryOffer | None,
    balance: Decimal | None,
    max_price: Decimal | None,
    token: str,
    banner: str = "",
) -> ConfirmView:
    """`token`: issued for exactly this offer (OrderService.offer_token); the Buy tap sends
    it back and buys only if it matches."""
    flag, name = country_label(country_info, country, lang)
    lines = [banner] if banner else []
    lines.append(t("buy-confirm-title"))
    lines.append(t("buy-confirm-service", service=html.escape(service_name)))
    lines.append(t("buy-confirm-country", flag=flag, country=html.escape(name)))
    if offer is not None:
        lines.append(t("buy-confirm-price", price=_money(offer.cost, key), count=str(offer.count)))
    else:
        lines.append(t("buy-confirm-out-of-stock"))
    lines.append(t("buy-confirm-balance", balance=_money(balance, key), key=html.escape(key.label)))
    mx = ""
    if max_price is not None:
        mx = format(max_price.normalize(), "f")
        lines.append(t("buy-confirm-max", max=_money(max_price, key)))
    rows: list[list[InlineKeyboardButton]] = []
    buy_label = t("buy-button", price=_money(offer.cost, key)) if offer else t("buy-button-anyway")
    go = _button(buy_label, BuyCb(action="go", s=service, c=country, tk=token, mx=mx))
    if go is not None:
        rows.append([go])
    ask = _button(
        t("buy-set-max") if max_price is None else t("buy-change-max"),
        BuyCb(action="mx", s=service, c=country),
    )
    if ask is not None:
        rows.append([ask])
    if max_price is not None:
        clear = _button(t("buy-clear-max"), BuyCb(action="c", s=service, c=country))
        if clear is not None:
            rows.append([clear])
    rows.append([back_button(t, BuyCb(action="s", s=service).pack()), menu_button(t)])
    return ConfirmView("\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows))


async def _balance(key: KeyProfile, user: User, accounts: Any) -> Decimal | None:
    """The active key's balance, fresh when the provider answers, else the stored one."""
    if accounts is None:
        return key.balance
    try:
        fresh = await accounts.refresh_balance(user.id, key.id)
        return fresh.balance
    except Exception as exc:  # a balance read failing must not block the purchase screen
        log.debug("balance refresh failed: %s", type(exc).__name__)
        return key.balance


async def show_confirm(
    event: CallbackQuery | Message,
    ctx: BuyContext,
    *,
    service: str,
    country: str,
    max_price: Decimal | None = None,
    banner: str = "",
) -> None:
    lang, t, catalog = ctx.lang, ctx.t, ctx.catalog
    key = await ctx.key()
    if key is None:
        await _show(event, *_no_key_view(t))
        return
    back = BuyCb(action="s", s=service).pack()
    try:
        offer = await catalog.offer(key, service, country)
        countries = await catalog.countries(key)
        names = await catalog.service_names(key, lang)
    except ProviderError as exc:
        await _error_view(event, t, exc, back=back)
        return
    if ctx.state is not None:
        await ctx.state.set_state(None)
    if ctx.orders is None:
        raise RuntimeError("the buy flow needs the OrderService to issue purchase tokens")
    token = await ctx.orders.offer_token(
        ctx.user.id,
        service=service,
        country=country,
        max_price=max_price,
        price=offer.cost if offer is not None else None,
    )
    view = render_confirm(
        t,
        lang,
        key,
        service=service,
        service_name=names.get(service, service),
        country=country,
        country_info=countries.get(country),
        offer=offer,
        balance=await _balance(key, ctx.user, ctx.accounts),
        max_price=max_price,
        token=token,
        banner=banner,
    )
    await _show(event, view.text, view.markup)


def _parse_max(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw.strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value <= 0 or value > MAX_PRICE_LIMIT:
        return None
    return value


@router.callback_query(BuyCb.filter(F.action == "c"))
async def on_country_chosen(query: CallbackQuery, callback_data: BuyCb, **data: Any) -> None:
    await query.answer()
    await show_confirm(
        query,
        BuyContext.from_data(data),
        service=callback_data.s,
        country=callback_data.c,
        max_price=_parse_max(callback_data.mx) if callback_data.mx else None,
    )


@router.callback_query(BuyCb.filter(F.action == "mx"))
async def on_ask_max(
    query: CallbackQuery, callback_data: BuyCb, t: Translate, state: FSMContext
) -> None:
    await query.answer()
    await state.set_state(BuyStates.max_price)
    await state.update_data(s=callback_data.s, c=callback_data.c)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[
            [back_button(t, BuyCb(action="c", s=callback_data.s, c=callback_data.c).pack())]
        ]
    )
    await _show(query, t("buy-ask-max"), markup)


@router.message(BuyStates.max_price, F.text, ~F.text.startswith("/"))
async def on_max_typed(message: Message, **data: Any) -> None:
    ctx = BuyContext.from_data(data)
    value = _parse_max(message.text or "")
    if value is None:
        await message.answer(ctx.t("buy-bad-max"))
        return
    saved = await data["state"].get_data()
    await show_confirm(
        message,
        ctx,
        service=str(saved.get("s", "")),
        country=str(saved.get("c", "")),
        max_price=value,
    )


# ------------------------------------------------------------------ buying


def _done_markup(t: Translate) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[menu_button(t)]])


@router.callback_query(BuyCb.filter(F.action == "go"))
async def on_buy(
    query: CallbackQuery,
    callback_data: BuyCb,
    orders: OrderService,
    clock: Any,
    tracker: Any = None,
    **data: Any,
) -> None:
    ctx = replace(BuyContext.from_data(data), orders=orders)
    user, t = ctx.user, ctx.t
    message = query.message if isinstance(query.message, Message) else None
    chat_id = message.chat.id if message else user.id
    service, country = callback_data.s, callback_data.c
    max_price = _parse_max(callback_data.mx) if callback_data.mx else None
    if not callback_data.tk:
        await query.answer(t("buy-stale"))
        return
    try:
        result = await orders.buy(
            user.id,
            token=callback_data.tk,
            service=service,
            country=country,
            max_price=max_price,
            chat_id=chat_id,
            # The message that will say "checking" if the answer is lost: the result edits it.
            message_id=message.message_id if message else None,
        )
    except NoActiveKey:
        await query.answer()
        await _show(query, *_no_key_view(t))
        return
    except ProviderError as exc:
        text = error_text(t, exc, user=ctx.user, settings=data.get("settings"))
        await query.answer(text[:200])
        if exc.code == "NO_NUMBERS":
            key = await ctx.key()
            if key is not None:
                ctx.catalog.forget_prices(key, service)
        # The same screen again with the reason on top and a fresh token: one tap to retry.
        # No state: a failed purchase leaves the user's FSM state as it was.
        await show_confirm(
            query,
            replace(ctx, state=None),
            service=service,
            country=country,
            max_price=max_price,
            banner=f"⚠️ {text}",
        )
        return
    if result.stale:
        # Never issued for this user and offer, or expired: nothing bought.
        await query.answer(t("buy-stale"), show_alert=True)
        return
    if result.duplicate:
        await query.answer(t("buy-duplicate"))
        return
    if result.pending or result.activation is None:
        await query.answer(t("buy-checking-short"))
        await _show(query, t("buy-checking"), _done_markup(t))
        if tracker is not None:
            tracker.wake()
        return
    await query.answer(t("buy-bought"))
    await send_new_card(query, result.activation, ctx, clock=clock)
    if message is not None:
        try:
            await message.edit_text(t("buy-bought-see-card"), reply_markup=None)
        except TelegramBadRequest:
            pass
    if tracker is not None:
        tracker.wake()


async def send_new_card(
    query: CallbackQuery, activation: Any, ctx: BuyContext, *, clock: Any
) -> None:
    """Send the activation card as a new message and remember where it is."""
    from handlers.activation import render_card

    text, markup = await render_card(
        activation, t=ctx.t, lang=ctx.lang, db=ctx.db, catalog=ctx.catalog, now=clock()
    )
    bot = query.bot
    chat_id = activation.chat_id or ctx.user.id
    if bot is None:
        return
    sent = await bot.send_message(chat_id, text, reply_markup=markup)
    await ctx.db.activations.set_card(activation.id, sent.chat.id, sent.message_id)
