"""The buy flow: services → countries → confirm → one purchase under a one-time token → card.

Every screen edits the message it was tapped on; typed text (a search, a maximum price) gets a
fresh message. The Buy button carries a one-time token; `OrderService.buy` claims it in the
database before the provider is called, so a double tap or a resent update buys one number.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from aiogram import F, Router
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message

from bot.accounts import AccountService
from bot.catalog import CatalogService, CountryOffer
from bot.config import Settings
from bot.errors import NoActiveKey
from bot.favourites import Favourites, FavouritesService, Recents
from bot.i18n import Translate
from bot.orders import OrderService, Progress
from bot.provider.errors import ProviderError
from bot.provider.models import ANY_NUMBER, Country, PurchaseFilter, Service
from bot.rates import Rates, RatesService, best_chance_first
from bot.replace import ReplaceService
from bot.tracker.notifier import Recipient
from handlers.activation.callbacks import (
    REPLACE_DEFAULT,
    REPLACE_OFF,
    REPLACE_ON,
    BuyAction,
    BuyCb,
    BuyStates,
    OfferAction,
    OfferCb,
)
from handlers.activation.keyboards import (
    ask_max_markup,
    button,
    confirm_data,
    error_markup,
)
from handlers.activation.presenter import activation_card_data, render_activation_card
from handlers.activation.views import (
    COUNTRIES_PER_PAGE,
    SERVICES_PER_PAGE,
    ConfirmScreen,
    SuppliersScreen,
    View,
    no_key_view,
    render_batch_report,
    render_confirm,
    render_countries_page,
    render_services_page,
    render_suppliers,
)
from handlers.common import (
    ActiveKeyLoader,
    MenuAction,
    MenuCb,
    answer_quietly,
    input_flags,
    page_of,
    show,
)
from handlers.deeplinks import bot_username, share_button, with_share_row
from handlers.errors import error_text
from handlers.fsm_storage import enter_screen
from handlers.names import Names, country_label
from handlers.outcome import PurchaseKind, checking_view
from storage import Activation, KeyProfile, User
from storage.chains import ReplaceDefaults

log = logging.getLogger(__name__)

QUICK_PICKS = 4
RECENTS_SHOWN = 10  # recent picks that lift a service to the front
MAX_PRICE_LIMIT = Decimal("1000000")
PAGES_CACHED = 512
SOLD_OUT_SHOWN = 5  # out-of-stock countries a country search shows (to watch them)
SORT_KEY, SORT_BEST = "sort", "best"  # the countries' order, in the buy flow's state data


class PageCache:
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


PAGES = PageCache()


@dataclass(frozen=True, slots=True)
class BuyContext:
    """What every buy screen reads from an update: who asks, in which language, and the use
    cases it goes through. The `buy_context` filter builds it once per update, so a handler
    and a screen call take one argument."""

    user: User
    lang: str
    t: Translate
    catalog: CatalogService
    orders: OrderService
    favourites: FavouritesService
    accounts: AccountService
    active_key: ActiveKeyLoader
    state: FSMContext
    auto_replace: ReplaceService
    rates: RatesService

    async def key(self) -> KeyProfile | None:
        return await self.active_key()

    async def key_or_notice(self, event: CallbackQuery | Message) -> KeyProfile | None:
        """The active key; without one, the screen says how to add one (and None is returned)."""
        key = await self.active_key()
        if key is None:
            await show(event, *no_key_view(self.t))
        return key


async def _error_view(
    event: CallbackQuery | Message, t: Translate, exc: BaseException, back: str | None = None
) -> None:
    await show(event, error_text(t, exc), error_markup(t, back))


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


def _ordered_services(
    favourites: Favourites, recents: Recents, services: list[Service]
) -> list[Service]:
    """Favourites first, then recent picks, then the provider's own order."""
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
    favourites: Favourites,
    recents: Recents,
    names: dict[str, str],
    countries: dict[str, Country],
    lang: str,
) -> list[InlineKeyboardButton | None]:
    """Favourite and recent (service, country) pairs straight to the confirm screen."""
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
        buttons.append(button(label, confirm_data(service, country)))
        if len(buttons) >= QUICK_PICKS:
            break
    return buttons


async def show_services(
    event: CallbackQuery | Message, ctx: BuyContext, *, page: int = 0, query: str = ""
) -> None:
    lang, t, catalog = ctx.lang, ctx.t, ctx.catalog
    key = await ctx.key_or_notice(event)
    if key is None:
        return
    try:
        services = await catalog.services(key, lang)
        countries = await catalog.countries(key) if not query and page == 0 else {}
    except ProviderError as exc:
        await _error_view(event, t, exc)
        return
    # Favourites and recents in one read, shared by the ordering and the quick picks.
    favourites, recents = await ctx.favourites.picks(
        ctx.user.id, recent_limit=max(RECENTS_SHOWN, QUICK_PICKS)
    )
    ordered = _ordered_services(favourites, recents, services)
    needle = query.strip().lower()
    if needle:
        english = await _english_names(catalog, key, lang)
        ordered = [s for s in ordered if _matches(s, needle, english)]
    quick: list[InlineKeyboardButton | None] = []
    if not needle and page == 0:
        names = {s.code: s.name for s in services}
        quick = _quick_picks(favourites, recents, names, countries, lang)
    # A country search belongs to its service.
    await enter_screen(ctx.state, BuyStates.services, q=query, cq="")
    text, markup = PAGES.get(
        _services_page_key(t, ordered, page, query, quick),
        lambda: render_services_page(t, ordered, page, query=query, quick=quick),
    )
    await show(event, text, markup)


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


def _typed_query(message: Message) -> str:
    """A typed search, trimmed to what a page title can show."""
    return (message.text or "").strip()[:40]


# ------------------------------------------------------------------ countries screen


def _offer_matches(offer: CountryOffer, needle: str) -> bool:
    if offer.country == needle:
        return True
    names = offer.name_by_lang.names.values() if offer.name_by_lang else ()
    return any(needle in name.lower() for name in names)


async def show_countries(
    event: CallbackQuery | Message,
    ctx: BuyContext,
    *,
    service: str,
    page: int = 0,
    query: str = "",
) -> None:
    lang, t, catalog = ctx.lang, ctx.t, ctx.catalog
    key = await ctx.key_or_notice(event)
    if key is None:
        return
    try:
        offers = await catalog.offers(key, service)
        names = await catalog.service_names(key, lang)
    except ProviderError as exc:
        await _error_view(event, t, exc, back=BuyCb(action=BuyAction.SERVICES_PAGE).pack())
        return
    needle = query.strip().lower()
    sold_out: list[tuple[str, str, str]] = []
    if needle:
        offers = [o for o in offers if _offer_matches(o, needle)]
        sold_out = await _sold_out_matches(ctx, key, offers, needle)
    rates = await ctx.rates.for_service(service)
    best = bool(rates) and (await ctx.state.get_data()).get(SORT_KEY) == SORT_BEST
    if best:
        offers = best_chance_first(offers, rates)
    await enter_screen(ctx.state, BuyStates.countries, s=service, cq=query)
    service_name = names.get(service, service)
    text, markup = PAGES.get(
        (
            _countries_page_key(
                t, lang, key, service, service_name, offers, page, query, rates, best
            ),
            *sold_out,
        ),
        lambda: render_countries_page(
            t,
            lang,
            key,
            service,
            service_name,
            offers,
            page,
            query=query,
            sold_out=sold_out,
            rates=rates,
            best_first=best,
        ),
    )
    await show(event, text, markup)


async def _sold_out_matches(
    ctx: BuyContext, key: KeyProfile, offers: list[CountryOffer], needle: str
) -> list[tuple[str, str, str]]:
    """Countries a search names that are out of stock for the service, as (id, flag, name in
    the user's language): their confirm screen offers 🔔 Watch. A few at most."""
    try:
        countries = await ctx.catalog.countries(key)
    except ProviderError:
        return []
    listed = {o.country for o in offers}
    found: list[tuple[str, str, str]] = []
    for country in countries.values():
        if country.id in listed:
            continue
        if country.id == needle or any(needle in n.lower() for n in country.names.values()):
            found.append((country.id, *country_label(country, country.id, ctx.lang)))
            if len(found) >= SOLD_OUT_SHOWN:
                break
    return found


def _countries_page_key(
    t: Translate,
    lang: str,
    key: KeyProfile,
    service: str,
    service_name: str,
    offers: list[CountryOffer],
    page: int,
    query: str,
    rates: Rates,
    best: bool,
) -> Hashable:
    """Everything render_countries_page reads: the page's offers as shown (label, price,
    stock, rate), their count, the key's currency, and the order with its button."""
    page, _pages, shown = page_of(offers, page, COUNTRIES_PER_PAGE)
    return (
        "countries",
        bool(rates),
        bool(best),
        tuple(rates.get(o.country) for o in shown),
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


# ------------------------------------------------------------------ confirm screen


async def _balance(ctx: BuyContext, key: KeyProfile) -> Decimal | None:
    """The active key's balance, fresh when the provider answers, else the stored one."""
    try:
        fresh = await ctx.accounts.refresh_balance(ctx.user.id, key.id)
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
    keep_state: bool = False,
    choice: PurchaseFilter | None = None,
    quantity: int = 1,
    min_price: Decimal | None = None,
    replace: bool | None = None,
) -> None:
    """The confirm screen of one offer. `choice` None: the one remembered on the favourite
    (any supplier when it is none); `quantity` > 1 buys several at once, each at most the
    maximum price (the shown price when none is set: the batch's cap); `min_price`: the
    provider's minimum after WRONG_MAX_PRICE, offered in one tap under a token of its own;
    `replace`: auto-replace on or off for this purchase (None: the user's default)."""
    lang, t, catalog = ctx.lang, ctx.t, ctx.catalog
    key = await ctx.key_or_notice(event)
    if key is None:
        return
    try:
        offer = await catalog.offer(key, service, country)
        countries = await catalog.countries(key)
        service_names = await catalog.service_names(key, lang)
    except ProviderError as exc:
        back = BuyCb(action=BuyAction.SERVICE, s=service).pack()
        await _error_view(event, t, exc, back=back)
        return
    if not keep_state:
        await ctx.state.set_state(None)
    if choice is None:
        choice = await ctx.favourites.choice(ctx.user.id, service, country) or ANY_NUMBER
    suppliers = await catalog.suppliers(key, service, country)
    # Where the provider lists no suppliers, it may name operators (sms-activate, hero).
    operators = await catalog.operators(key, country) if suppliers is None else ()
    if offer is None:
        quantity = 1  # several at once only of what is in stock
    if quantity > 1 and max_price is None and offer is not None:
        max_price = offer.cost  # the cap of a batch: at most the price shown, per number
    shown_price = offer.cost if offer is not None else None
    token = await ctx.orders.offer_token(
        ctx.user.id,
        service=service,
        country=country,
        max_price=max_price,
        price=shown_price,
        choice=choice,
        quantity=quantity,
    )
    min_offer: tuple[Decimal, str] | None = None
    if min_price is not None and min_price != max_price:
        min_token = await ctx.orders.offer_token(
            ctx.user.id,
            service=service,
            country=country,
            max_price=min_price,
            price=min_price,
            choice=choice,
            quantity=quantity,
        )
        min_offer = (min_price, min_token)
    flag, country_name = country_label(countries.get(country), country, lang)
    screen = ConfirmScreen(
        key=key,
        service=service,
        country=country,
        names=Names(service_names.get(service, service), country_name, flag),
        offer=offer,
        balance=await _balance(ctx, key),
        max_price=max_price,
        token=token,
        banner=banner,
        lang=lang,
        starred=await ctx.favourites.is_favourite(ctx.user.id, service, country),
        suppliers=suppliers,
        choice=choice,
        quantity=quantity,
        min_offer=min_offer,
        operators=operators,
        replace=await _replace_terms(ctx, replace),
    )
    text, markup = render_confirm(t, screen)
    if screen.starred:
        # A favourite can be shared: its buy link opens this screen for whoever taps it.
        what = f"{screen.names.service} · {screen.names.flag} {screen.names.country}".strip()
        username = await bot_username(event.bot)
        markup = with_share_row(markup, share_button(t, username, service, country, what))
    await show(event, text, markup)


async def show_suppliers(
    query: CallbackQuery,
    ctx: BuyContext,
    *,
    service: str,
    country: str,
    max_price: Decimal | None,
    choice: PurchaseFilter,
    quantity: int,
) -> None:
    """The offer's suppliers: only one of them, or all but some (remembered on a favourite)."""
    lang, t, catalog = ctx.lang, ctx.t, ctx.catalog
    key = await ctx.key_or_notice(query)
    if key is None:
        return
    try:
        countries = await catalog.countries(key)
        service_names = await catalog.service_names(key, lang)
    except ProviderError as exc:
        back = BuyCb(action=BuyAction.SERVICE, s=service).pack()
        await _error_view(query, t, exc, back=back)
        return
    suppliers = await catalog.suppliers(key, service, country)
    operators = await catalog.operators(key, country) if suppliers is None else ()
    flag, country_name = country_label(countries.get(country), country, lang)
    screen = SuppliersScreen(
        service=service,
        country=country,
        names=Names(service_names.get(service, service), country_name, flag),
        key=key,
        suppliers=suppliers,
        choice=choice,
        max_price=max_price,
        quantity=quantity,
        starred=await ctx.favourites.is_favourite(ctx.user.id, service, country),
        lang=lang,
        operators=operators,
    )
    await show(query, *render_suppliers(t, screen))


async def _replace_terms(ctx: BuyContext, replace: bool | None) -> ReplaceDefaults:
    """The auto-replace terms the screen offers: the user's defaults, switched on or off for
    this purchase when the toggle says so."""
    defaults = await ctx.auto_replace.defaults(ctx.user.id)
    return defaults if replace is None else dataclasses.replace(defaults, enabled=replace)


def parse_max_price(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw.strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or value <= 0 or value > MAX_PRICE_LIMIT:
        return None
    return value


# ------------------------------------------------------------------ buying


async def show_new_card(
    query: CallbackQuery,
    activation: Activation,
    ctx: BuyContext,
    now: float,
    *,
    fresh: bool = False,
    key: KeyProfile | None = None,
) -> None:
    """Draw the bought number's card in the confirm message (which said "buying…"), or in a
    new one when that cannot be edited (or is `fresh`: the second number of a batch on), and
    remember where it is. `key`: the key it was bought with, as the purchase left it."""
    known = key or await ctx.key()
    to = Recipient(user=ctx.user, key=await ctx.orders.key_of(activation, known=known))
    data = await activation_card_data(
        activation, to, lang=ctx.lang, catalog=ctx.catalog, orders=ctx.orders, now=now
    )
    view = render_activation_card(data, ctx.t)
    message = query.message if isinstance(query.message, Message) else None
    if fresh and message is not None:
        shown: Message | None = await message.answer(view[0], reply_markup=view[1])
    else:
        shown = await show(query, *view)
    if shown is not None:
        await ctx.orders.card_shown(activation.id, shown.chat.id, shown.message_id)


def buying_notice(
    message: Message | None, ctx: BuyContext, text: str = "buy-buying"
) -> Progress | None:
    """The confirm message turned into "buying…" without buttons, once the purchase is
    claimed: at once, and only for the tap that buys (a second tap cannot draw it over the
    card the first one made)."""
    if message is None:
        return None

    async def notice() -> None:
        try:
            await message.edit_text(ctx.t(text), reply_markup=None)
        except TelegramBadRequest:
            pass  # the confirm screen stays until the card replaces it

    return notice


@dataclass(frozen=True, slots=True)
class OfferTap:
    """What a Buy tap carries: the offer, its options and the screen's token."""

    service: str
    country: str
    max_price: Decimal | None
    token: str
    choice: PurchaseFilter = ANY_NUMBER
    quantity: int = 1
    replace: int = REPLACE_DEFAULT  # a chain starts only when the screen showed it switched on


def _replace_wanted(code: int) -> bool | None:
    """An offer button's auto-replace choice: on, off, or None for the user's default."""
    return {REPLACE_ON: True, REPLACE_OFF: False}.get(code)


async def _refused(
    query: CallbackQuery, ctx: BuyContext, tap: OfferTap, text: str, exc: ProviderError
) -> None:
    """A definite refusal: the same screen again with the reason on top and a fresh token
    (one tap to retry), and after WRONG_MAX_PRICE one tap to buy at the provider's minimum.
    A failed purchase leaves the user's FSM state as it was."""
    if exc.code == "NO_NUMBERS":
        key = await ctx.key()
        if key is not None:
            ctx.catalog.forget_prices(key, tap.service)
    await show_confirm(
        query,
        ctx,
        service=tap.service,
        country=tap.country,
        max_price=tap.max_price,
        banner=f"⚠️ {text}",
        keep_state=True,
        choice=tap.choice,
        quantity=tap.quantity,
        min_price=exc.min_price,
        replace=_replace_wanted(tap.replace),
    )


async def _buy(
    query: CallbackQuery,
    tap: OfferTap,
    ctx: BuyContext,
    settings: Settings | None,
    now: Callable[[], float],
) -> None:
    user, t, orders = ctx.user, ctx.t, ctx.orders
    message = query.message if isinstance(query.message, Message) else None
    chat_id = message.chat.id if message else user.id
    if not tap.token:
        await answer_quietly(query, t("buy-stale"))
        return
    if tap.quantity > 1:
        await _buy_several(query, tap, ctx, settings, now)
        return
    try:
        result = await orders.buy(
            user.id,
            token=tap.token,
            service=tap.service,
            country=tap.country,
            max_price=tap.max_price,
            chat_id=chat_id,
            # The message that will say "checking" if the answer is lost: the result edits it.
            message_id=message.message_id if message else None,
            progress=buying_notice(message, ctx),
            choice=tap.choice,
            known=await ctx.key(),
        )
    except NoActiveKey:
        await answer_quietly(query)
        await show(query, *no_key_view(t))
        return
    except ProviderError as exc:
        text = error_text(t, exc, user=user, settings=settings)
        await answer_quietly(query, text)
        await _refused(query, ctx, tap, text, exc)
        return
    if result.stale:
        # Never issued for this user and offer, or expired: nothing bought.
        await answer_quietly(query, t("buy-stale"), alert=True)
        return
    if result.duplicate:
        await answer_quietly(
            query, t("buy-still-buying" if result.in_progress else "buy-duplicate")
        )
        return
    if result.pending or result.activation is None:
        await answer_quietly(query, t("buy-checking-short"))
        await show(query, *checking_view(t, PurchaseKind.ACTIVATION))
        return
    await answer_quietly(query, t("buy-bought"))
    if tap.replace == REPLACE_ON:  # bought with auto-replace: the chain starts on this number
        try:
            await ctx.auto_replace.start(
                user.id, result.activation, max_price=tap.max_price, choice=tap.choice
            )
        except Exception:  # the number is bought and tracked: its card must be shown anyway
            log.exception("auto-replace chain not started")
    await show_new_card(query, result.activation, ctx, now(), key=result.key)


async def _buy_several(
    query: CallbackQuery,
    tap: OfferTap,
    ctx: BuyContext,
    settings: Settings | None,
    now: Callable[[], float],
) -> None:
    """Several numbers under one confirmation: each card as it is bought (the first in the
    confirm message), then one report of what was bought and why it stopped."""
    user, t = ctx.user, ctx.t
    message = query.message if isinstance(query.message, Message) else None
    if tap.max_price is None:
        await answer_quietly(query, t("buy-stale"), alert=True)  # a batch always has a cap
        return
    cards = 0

    async def card(activation: Activation) -> None:
        nonlocal cards
        cards += 1
        await show_new_card(query, activation, ctx, now(), fresh=cards > 1)

    try:
        result = await ctx.orders.buy_several(
            user.id,
            token=tap.token,
            service=tap.service,
            country=tap.country,
            max_price=tap.max_price,
            quantity=tap.quantity,
            chat_id=message.chat.id if message else user.id,
            message_id=message.message_id if message else None,
            choice=tap.choice,
            progress=buying_notice(message, ctx, "tiers-buying-several"),
            on_bought=card,
            known=await ctx.key(),
        )
    except NoActiveKey:
        await answer_quietly(query)
        await show(query, *no_key_view(t))
        return
    if result.stale:
        await answer_quietly(query, t("buy-stale"), alert=True)
        return
    if result.duplicate:
        await answer_quietly(
            query, t("buy-still-buying" if result.in_progress else "buy-duplicate")
        )
        return
    reason = error_text(t, result.error, user=user, settings=settings) if result.error else ""
    if not result.bought and not result.pending and result.error is not None:
        await answer_quietly(query, reason)  # nothing bought: the screen again, as for one
        await _refused(query, ctx, tap, reason, result.error)
        return
    if not result.bought:
        await answer_quietly(query, t("buy-checking-short"))
        await show(query, *checking_view(t, PurchaseKind.ACTIVATION))
        return
    if not reason and result.pending:
        reason = t("buy-checking-short")
    elif not reason and not result.complete:
        reason = t("tiers-batch-cap")
    await answer_quietly(query, t("buy-bought"))
    text, markup = render_batch_report(
        t,
        service=tap.service,
        country=tap.country,
        choice=tap.choice,
        quantity=tap.quantity,
        bought=len(result.bought),
        pending=result.pending,
        reason=reason,
    )
    if message is not None:
        await message.answer(text, reply_markup=markup)


# ------------------------------------------------------------------ handlers


async def buy_context(
    event: CallbackQuery | Message,
    user: User,
    lang: str,
    t: Translate,
    catalog: CatalogService,
    orders: OrderService,
    favourites: FavouritesService,
    accounts: AccountService,
    active_key: ActiveKeyLoader,
    state: FSMContext,
    auto_replace: ReplaceService,
    rates: RatesService,
) -> dict[str, BuyContext]:
    """A filter that always passes and hands the handler its `ctx` (aiogram merges a filter's
    dict into the handler's arguments): the buy screens' dependencies are named, with their
    types, once."""
    return {
        "ctx": BuyContext(
            user,
            lang,
            t,
            catalog,
            orders,
            favourites,
            accounts,
            active_key,
            state,
            auto_replace,
            rates,
        )
    }


async def on_menu_buy(
    query: CallbackQuery,
    ctx: BuyContext,
) -> None:
    await answer_quietly(query)
    await show_services(query, ctx)


async def on_buy_command(
    message: Message,
    ctx: BuyContext,
) -> None:
    await show_services(message, ctx)


async def on_services_page(
    query: CallbackQuery,
    callback_data: BuyCb,
    ctx: BuyContext,
) -> None:
    await answer_quietly(query)
    # Paging keeps the search; "all services" (page 0 with no state) clears it.
    saved = await ctx.state.get_data() if await ctx.state.get_state() == BuyStates.services else {}
    search = str(saved.get("q", "")) if callback_data.tk else ""
    await show_services(query, ctx, page=callback_data.p, query=search)


async def on_services_search(
    message: Message,
    ctx: BuyContext,
) -> None:
    await show_services(message, ctx, query=_typed_query(message))


async def on_service_chosen(
    query: CallbackQuery,
    callback_data: BuyCb,
    ctx: BuyContext,
) -> None:
    await answer_quietly(query)
    await show_countries(query, ctx, service=callback_data.s, page=callback_data.p)


async def on_countries_page(
    query: CallbackQuery,
    callback_data: BuyCb,
    ctx: BuyContext,
) -> None:
    await answer_quietly(query)
    search = ""
    if callback_data.tk:  # a page of a search keeps the search, of this service only
        saved = await ctx.state.get_data()
        if saved.get("s") == callback_data.s:
            search = str(saved.get("cq", ""))
    await show_countries(query, ctx, service=callback_data.s, page=callback_data.p, query=search)


async def on_sort(
    query: CallbackQuery,
    callback_data: BuyCb,
    ctx: BuyContext,
) -> None:
    """Cheapest first <-> best chance first; the choice stays in the state for the pages (and
    for the next service) and the list starts again at its first page, search kept."""
    await answer_quietly(query)
    saved = await ctx.state.get_data()
    best = saved.get(SORT_KEY) != SORT_BEST
    await ctx.state.update_data({SORT_KEY: SORT_BEST if best else ""})
    search = (
        str(saved.get("cq", "")) if callback_data.tk and saved.get("s") == callback_data.s else ""
    )
    await show_countries(query, ctx, service=callback_data.s, query=search)


async def on_countries_search(
    message: Message,
    ctx: BuyContext,
) -> None:
    service = str((await ctx.state.get_data()).get("s", ""))
    if not service:
        await show_services(message, ctx)
        return
    await show_countries(message, ctx, service=service, query=_typed_query(message))


async def on_country_chosen(
    query: CallbackQuery,
    callback_data: BuyCb,
    ctx: BuyContext,
) -> None:
    await answer_quietly(query)
    await show_confirm(
        query,
        ctx,
        service=callback_data.s,
        country=callback_data.c,
        max_price=parse_max_price(callback_data.mx) if callback_data.mx else None,
    )


async def on_favourite(
    query: CallbackQuery,
    callback_data: BuyCb,
    ctx: BuyContext,
) -> None:
    """⭐ on the confirm screen: star the offer's (service, country) for the quick picks, or
    un-star it; the screen is drawn again with the button saying which it is now."""
    service, country = callback_data.s, callback_data.c
    starred = await ctx.favourites.toggle(ctx.user.id, service, country)
    await answer_quietly(query, ctx.t("act-notice-fav") if starred else ctx.t("act-notice-unfav"))
    max_price = parse_max_price(callback_data.mx) if callback_data.mx else None
    await show_confirm(
        query, ctx, service=service, country=country, max_price=max_price, keep_state=True
    )


async def on_ask_max(
    query: CallbackQuery, callback_data: BuyCb, t: Translate, state: FSMContext
) -> None:
    await answer_quietly(query)
    await state.set_state(BuyStates.max_price)
    prompt = await show(
        query, t("buy-ask-max"), ask_max_markup(t, callback_data.s, callback_data.c)
    )
    await state.update_data(
        s=callback_data.s, c=callback_data.c, prompt=prompt.message_id if prompt else None
    )


async def retire_prompt(message: Message, prompt_id: object) -> None:
    """The prompt that asked for this text loses its buttons: the flow has moved on below it,
    and a Back there would lead from an old place. Best effort (a deleted or too old prompt
    keeps them; its buttons still work)."""
    if not isinstance(prompt_id, int) or message.bot is None:
        return
    try:
        await message.bot.edit_message_reply_markup(
            chat_id=message.chat.id, message_id=prompt_id, reply_markup=None
        )
    except TelegramAPIError as exc:
        log.debug("prompt %s kept its buttons: %s", prompt_id, type(exc).__name__)


async def on_max_typed(
    message: Message,
    ctx: BuyContext,
) -> None:
    value = parse_max_price(message.text or "")
    if value is None:
        await message.answer(ctx.t("buy-bad-max"))
        return
    saved = await ctx.state.get_data()
    await retire_prompt(message, saved.get("prompt"))
    await show_confirm(
        message,
        ctx,
        service=str(saved.get("s", "")),
        country=str(saved.get("c", "")),
        max_price=value,
    )


async def on_buy(
    query: CallbackQuery,
    callback_data: BuyCb,
    ctx: BuyContext,
    clock: Callable[[], float],
    settings: Settings | None = None,
) -> None:
    """The Buy button of confirm screens drawn before the screen's options (in old chats)."""
    max_price = parse_max_price(callback_data.mx) if callback_data.mx else None
    tap = OfferTap(callback_data.s, callback_data.c, max_price, callback_data.tk)
    await _buy(query, tap, ctx, settings, clock)


def _options(callback_data: OfferCb) -> tuple[Decimal | None, PurchaseFilter] | None:
    """The maximum price and the supplier choice a button carries; None when tampered."""
    max_price = parse_max_price(callback_data.mx) if callback_data.mx else None
    choice = PurchaseFilter.parse(callback_data.f)
    if choice is None or (callback_data.mx and max_price is None):
        return None
    return max_price, choice


async def on_offer_open(query: CallbackQuery, callback_data: OfferCb, ctx: BuyContext) -> None:
    """The confirm screen with its options: a tier picked, the quantity changed, the maximum
    cleared, auto-replace switched, or back from the suppliers."""
    options = _options(callback_data)
    if options is None:
        await answer_quietly(query, ctx.t("buy-stale"))
        return
    await answer_quietly(query)
    max_price, choice = options
    await show_confirm(
        query,
        ctx,
        service=callback_data.s,
        country=callback_data.c,
        max_price=max_price,
        keep_state=True,
        choice=choice,
        quantity=callback_data.n,
        replace=_replace_wanted(callback_data.r),
    )


async def on_offer_buy(
    query: CallbackQuery,
    callback_data: OfferCb,
    ctx: BuyContext,
    clock: Callable[[], float],
    settings: Settings | None = None,
) -> None:
    options = _options(callback_data)
    if options is None:
        await answer_quietly(query, ctx.t("buy-stale"), alert=True)
        return
    max_price, choice = options
    tap = OfferTap(
        callback_data.s,
        callback_data.c,
        max_price,
        callback_data.tk,
        choice=choice,
        quantity=callback_data.n,
        replace=callback_data.r,
    )
    await _buy(query, tap, ctx, settings, clock)


async def on_suppliers(query: CallbackQuery, callback_data: OfferCb, ctx: BuyContext) -> None:
    options = _options(callback_data)
    if options is None:
        await answer_quietly(query, ctx.t("buy-stale"))
        return
    await answer_quietly(query)
    max_price, choice = options
    await show_suppliers(
        query,
        ctx,
        service=callback_data.s,
        country=callback_data.c,
        max_price=max_price,
        choice=choice,
        quantity=callback_data.n,
    )


async def on_choose(query: CallbackQuery, callback_data: OfferCb, ctx: BuyContext) -> None:
    """Only one supplier, all but some, or any: remembered on the favourite when the offer is
    one; the confirm screen again with the choice (and a token for it)."""
    options = _options(callback_data)
    if options is None:
        await answer_quietly(query, ctx.t("buy-stale"))
        return
    max_price, choice = options
    service, country = callback_data.s, callback_data.c
    remembered = await ctx.favourites.remember_choice(ctx.user.id, service, country, choice)
    await answer_quietly(query, ctx.t("tiers-notice-remembered") if remembered else None)
    await show_confirm(
        query,
        ctx,
        service=service,
        country=country,
        max_price=max_price,
        keep_state=True,
        choice=choice,
        quantity=callback_data.n,
    )


def create_router() -> Router:
    router = Router(name=__name__)
    tap, typed = router.callback_query.register, router.message.register
    text = (F.text, ~F.text.startswith("/"))
    tap(on_menu_buy, MenuCb.filter(F.action == MenuAction.BUY), buy_context)
    typed(on_buy_command, Command("buy"), buy_context)
    tap(on_services_page, BuyCb.filter(F.action == BuyAction.SERVICES_PAGE), buy_context)
    typed(on_services_search, BuyStates.services, *text, buy_context, flags=input_flags())
    tap(on_service_chosen, BuyCb.filter(F.action == BuyAction.SERVICE), buy_context)
    tap(on_countries_page, BuyCb.filter(F.action == BuyAction.COUNTRIES_PAGE), buy_context)
    tap(on_sort, BuyCb.filter(F.action == BuyAction.SORT), buy_context)
    typed(on_countries_search, BuyStates.countries, *text, buy_context, flags=input_flags())
    tap(on_country_chosen, BuyCb.filter(F.action == BuyAction.CONFIRM), buy_context)
    tap(on_favourite, BuyCb.filter(F.action == BuyAction.FAVOURITE), buy_context)
    tap(on_ask_max, BuyCb.filter(F.action == BuyAction.ASK_MAX))
    typed(on_max_typed, BuyStates.max_price, *text, buy_context, flags=input_flags())
    tap(on_buy, BuyCb.filter(F.action == BuyAction.BUY), buy_context)
    tap(on_offer_open, OfferCb.filter(F.action == OfferAction.OPEN), buy_context)
    tap(on_offer_buy, OfferCb.filter(F.action == OfferAction.BUY), buy_context)
    tap(on_suppliers, OfferCb.filter(F.action == OfferAction.SUPPLIERS), buy_context)
    tap(on_choose, OfferCb.filter(F.action == OfferAction.CHOOSE), buy_context)
    return router
