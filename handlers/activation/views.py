"""The buy flow's screens: pure renderers from data to (text, markup)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from decimal import Decimal

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.catalog import CountryOffer
from bot.formatting import format_money
from bot.i18n import Translate
from bot.orders import MAX_QUANTITY
from bot.provider.models import ANY_NUMBER, PriceOffer, PurchaseFilter, Service
from bot.rates import Rates, SuccessRate
from handlers.activation.callbacks import REPLACE_DEFAULT, REPLACE_OFF, REPLACE_ON
from handlers.activation.keyboards import (
    ConfirmOptions,
    batch_markup,
    confirm_markup,
    countries_markup,
    no_key_markup,
    operators_markup,
    services_markup,
    suppliers_markup,
)
from handlers.common import page_of
from handlers.names import Names, country_label
from handlers.watch_callbacks import watch_button
from storage import KeyProfile
from storage.chains import ReplaceDefaults

SERVICES_PER_PAGE = 10
COUNTRIES_PER_PAGE = 8

View = tuple[str, InlineKeyboardMarkup]


def money(amount: Decimal | None, key: KeyProfile | None, lang: str = "en") -> str:
    """An amount in the key's currency, written as `lang` writes money."""
    return format_money(amount, key.currency if key else None, lang=lang)


def no_key_view(t: Translate) -> View:
    return t("buy-no-key"), no_key_markup(t)


def render_services_page(
    t: Translate,
    services: list[Service],
    page: int,
    *,
    query: str = "",
    quick: list[InlineKeyboardButton | None] | None = None,
) -> View:
    page, pages, shown = page_of(services, page, SERVICES_PER_PAGE)
    if query:
        text = t("buy-services-found", query=html.escape(query), count=str(len(services)))
    else:
        text = t("buy-services-title")
    if not services:
        text = t("buy-services-none", query=html.escape(query))
    text += "\n" + t("buy-type-to-search")
    markup = services_markup(
        t,
        [(s.code, s.name) for s in shown],
        page,
        pages,
        search=bool(query),
        quick=list(quick or []),
    )
    return text, markup


def country_button_label(
    t: Translate, lang: str, key: KeyProfile, offer: CountryOffer, rate: SuccessRate | None = None
) -> str:
    flag, name = country_label(offer.name_by_lang, offer.country, lang)
    label = t(
        "buy-country-button",
        flag=flag,
        country=name,
        price=money(offer.cost, key, lang),
        count=str(offer.count),
    )
    if rate is not None:
        label += t("rates-badge", percent=str(rate.percent))
    return label


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
    sold_out: list[tuple[str, str, str]] | None = None,
    rates: Rates | None = None,
    best_first: bool = False,
) -> View:
    """One page of countries for a service: flag, name, price, stock and (with enough history)
    the success rate; cheapest first, or best chance first (the caller orders `offers`). The
    sort button shows once any country of the service has a rate. `sold_out`: (id, flag, name)
    of countries a search named that are out of stock, listed after (their confirm screen
    offers 🔔 Watch)."""
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
    if sold_out:  # a search's countries out of stock: nothing "not found" about them
        note = t("watch-countries-sold-out")
        body = note if not offers else f"{body}\n{note}"
    rates = rates or {}
    labels = [
        (o.country, country_button_label(t, lang, key, o, rates.get(o.country))) for o in shown
    ]
    labels += [
        (country, t("watch-country-sold-out", flag=flag, country=name))
        for country, flag, name in sold_out or []
    ]
    sort_label = None
    if rates:
        sort_label = t("rates-sort-cheapest") if best_first else t("rates-sort-best")
        if best_first and offers:
            body += "\n" + t("rates-sorted-best")
    markup = countries_markup(
        t, service, labels, page, pages, search=bool(query), sort_label=sort_label
    )
    return f"{title}\n{body}", markup


@dataclass(frozen=True, slots=True)
class ConfirmScreen:
    """What the confirm screen shows: one offer, the balance, the cap, the one-time token
    (issued for exactly this offer by `OrderService.offer_token`; the Buy tap sends it back
    and buys only if it matches).

    `suppliers`: the offer's suppliers and price tiers where the provider lists them (None
    elsewhere: no tiers, no suppliers screen); `choice`: the suppliers/operator the numbers
    may come from; `quantity`: numbers bought by one tap, each at most `max_price`;
    `min_offer`: (the provider's minimum price, a token for it) after WRONG_MAX_PRICE."""

    key: KeyProfile
    service: str
    country: str
    names: Names
    offer: CountryOffer | None
    balance: Decimal | None
    max_price: Decimal | None
    token: str
    banner: str = ""
    lang: str = "en"  # money is written as this language writes it
    starred: bool = False  # the offer's (service, country) is one of the user's favourites
    suppliers: PriceOffer | None = None
    choice: PurchaseFilter = ANY_NUMBER
    quantity: int = 1
    min_offer: tuple[Decimal, str] | None = None
    operators: tuple[str, ...] = ()  # where the provider names operators instead of suppliers
    replace: ReplaceDefaults | None = None  # auto-replace for this purchase (None: no toggle)


# Tier buttons on the confirm screen, cheapest first; the suppliers screen lists the rest.
TIERS_SHOWN = 4
SUPPLIERS_SHOWN = 8
OPERATORS_SHOWN = 12


def below_max(screen: ConfirmScreen) -> bool:
    """The price is above the user's maximum: the purchase would only be refused, so the
    screen says so instead of offering Buy."""
    offer, cap = screen.offer, screen.max_price
    return offer is not None and cap is not None and offer.cost > cap


def _plain(amount: Decimal) -> str:
    """An amount as callback data carries it."""
    return format(amount.normalize(), "f")


def offer_tiers(suppliers: PriceOffer, choice: PurchaseFilter) -> list[tuple[Decimal, str, int]]:
    """(price, supplier, stock) of every tier in stock that the choice allows, cheapest
    first (then the larger stock)."""
    rows = [
        (price, supplier.provider_id, supplier.count)
        for supplier in suppliers.providers.values()
        if supplier.count > 0
        and (not choice.only or supplier.provider_id in choice.only)
        and supplier.provider_id not in choice.excluded
        for price in supplier.prices
    ]
    return sorted(rows, key=lambda row: (row[0], -row[2], row[1]))


def several_suppliers(suppliers: PriceOffer | None) -> bool:
    """The provider lists more than one supplier for the offer: there is a choice to make
    (a single supplier at one price is just the offer, shown already)."""
    return suppliers is not None and len(suppliers.providers) > 1


def choice_text(t: Translate, choice: PurchaseFilter) -> str:
    if choice.only:
        return t("tiers-choice-only", suppliers=html.escape(", ".join(choice.only)))
    if choice.excluded:
        return t("tiers-choice-except", suppliers=html.escape(", ".join(choice.excluded)))
    if choice.operator:
        return t("tiers-choice-operator", operator=html.escape(choice.operator))
    return t("tiers-choice-any")


def only_code(supplier: str) -> str | None:
    """The choice "only this supplier" as a button carries it; None when the provider's id
    could not travel in a button (such a supplier gets no button)."""
    code = PurchaseFilter(only=(supplier,)).code()
    return code if PurchaseFilter.parse(code) is not None else None


def _tier_buttons(t: Translate, screen: ConfirmScreen) -> tuple[tuple[str, str, str], ...]:
    if screen.suppliers is None or screen.offer is None:
        return ()
    if len(offer_tiers(screen.suppliers, ANY_NUMBER)) < 2:
        return ()  # one tier is the offer's own price: nothing to pick
    shown: list[tuple[str, str, str]] = []
    for price, supplier, count in offer_tiers(screen.suppliers, screen.choice):
        code = only_code(supplier)
        if code is None:
            continue
        label = t(
            "tiers-button",
            price=money(price, screen.key, screen.lang),
            supplier=html.escape(supplier),
            count=str(count),
        )
        shown.append((label, _plain(price), code))
        if len(shown) >= TIERS_SHOWN:
            break
    return tuple(shown)


def render_confirm(
    t: Translate, screen: ConfirmScreen, extra_rows: list[list[InlineKeyboardButton]] | None = None
) -> View:
    key, offer, lang = screen.key, screen.offer, screen.lang
    lines = [screen.banner] if screen.banner else []
    lines.append(t("buy-confirm-title"))
    lines.append(t("buy-confirm-service", service=html.escape(screen.names.service)))
    country = html.escape(screen.names.country)
    lines.append(t("buy-confirm-country", flag=screen.names.flag, country=country))
    if offer is not None:
        price = money(offer.cost, key, lang)
        lines.append(t("buy-confirm-price", price=price, count=str(offer.count)))
    else:
        lines.append(t("buy-confirm-out-of-stock"))
    balance = money(screen.balance, key, lang)
    lines.append(t("buy-confirm-balance", balance=balance, key=html.escape(key.label)))
    max_price = ""
    if screen.max_price is not None:
        max_price = _plain(screen.max_price)
        lines.append(t("buy-confirm-max", max=money(screen.max_price, key, lang)))
    can_choose = several_suppliers(screen.suppliers) or (
        screen.suppliers is None and bool(screen.operators)
    )
    if screen.choice or can_choose:
        lines.append(choice_text(t, screen.choice))
    n = screen.quantity
    buy_label: str | None = (
        t("buy-button", price=money(offer.cost, key, lang)) if offer else t("buy-button-anyway")
    )
    if n > 1 and screen.max_price is not None:
        total = money(screen.max_price * n, key, lang)
        lines.append(t("tiers-quantity", count=str(n), total=total))
        buy_label = t("tiers-buy-several", count=str(n), total=total)
    if below_max(screen):
        lines.append(t("buy-confirm-max-below"))
        buy_label = None
    min_buy: tuple[str, str, str] | None = None
    if screen.min_offer is not None:
        minimum, min_token = screen.min_offer
        min_buy = (
            t("tiers-buy-at-min", price=money(minimum, key, lang)),
            _plain(minimum),
            min_token,
        )
    options = ConfirmOptions(
        choice=screen.choice.code(),
        quantity=n,
        max_quantity=MAX_QUANTITY if offer is not None else 1,
        tiers=_tier_buttons(t, screen),
        min_buy=min_buy,
        suppliers=can_choose or bool(screen.choice),
        by_operator=screen.suppliers is None and bool(screen.operators),
        replace=_replace_choice(screen.replace),
        replace_label=_replace_label(t, screen.replace),
    )
    markup = confirm_markup(
        t,
        service=screen.service,
        country=screen.country,
        buy_label=buy_label,
        token=screen.token,
        max_price=max_price,
        star_label=t("act-btn-fav-on") if screen.starred else t("act-btn-fav-add"),
        options=options,
        extra_rows=extra_rows,
    )
    if offer is None or below_max(screen):
        # Nothing to buy at this price now: one tap asks to be told (or to buy) when there is.
        watch = watch_button(t, screen.service, screen.country, max_price)
        if watch is not None:
            markup = InlineKeyboardMarkup(inline_keyboard=[[watch], *markup.inline_keyboard])
    if screen.replace is not None and screen.replace.enabled and n == 1:
        lines.append(replace_terms(t, screen.replace, key, lang))
    return "\n".join(lines), markup


@dataclass(frozen=True, slots=True)
class SuppliersScreen:
    service: str
    country: str
    names: Names
    key: KeyProfile
    suppliers: PriceOffer | None
    choice: PurchaseFilter
    max_price: Decimal | None
    quantity: int
    starred: bool
    lang: str = "en"
    operators: tuple[str, ...] = ()


def render_suppliers(t: Translate, screen: SuppliersScreen) -> View:
    """The offer's suppliers with their stock and price tiers: only one, or all but one. Where
    the provider lists no suppliers but names operators: one operator, or any."""
    what = f"{screen.names.service} · {screen.names.flag} {screen.names.country}".strip()
    if screen.suppliers is None and screen.operators:
        return _render_operators(t, screen, what)
    lines = [t("tiers-suppliers-title", offer=html.escape(what))]
    lines.append(choice_text(t, screen.choice))
    listed = sorted(
        (screen.suppliers.providers.values() if screen.suppliers is not None else ()),
        key=lambda s: (s.prices[0], -s.count, s.provider_id),
    )[:SUPPLIERS_SHOWN]
    if not listed:
        lines.append(t("tiers-suppliers-none"))
    choices: list[tuple[str, str, str, str]] = []
    for supplier in listed:
        only = only_code(supplier.provider_id)
        if only is None:
            continue
        sid = html.escape(supplier.provider_id)
        prices = " / ".join(money(p, screen.key, screen.lang) for p in supplier.prices)
        lines.append(
            t("tiers-supplier-line", supplier=sid, count=str(supplier.count), prices=prices)
        )
        choices.append(
            (
                t("tiers-only", supplier=sid),
                only,
                t("tiers-except", supplier=sid),
                screen.choice.without(supplier.provider_id).code(),
            )
        )
    lines.append(t("tiers-remembered" if screen.starred else "tiers-star-to-remember"))
    markup = suppliers_markup(
        t,
        service=screen.service,
        country=screen.country,
        max_price="" if screen.max_price is None else _plain(screen.max_price),
        quantity=screen.quantity,
        choices=choices,
        current=screen.choice.code(),
    )
    return "\n".join(lines), markup


def _render_operators(t: Translate, screen: SuppliersScreen, what: str) -> View:
    lines = [t("tiers-operators-title", offer=html.escape(what)), choice_text(t, screen.choice)]
    lines.append(t("tiers-remembered" if screen.starred else "tiers-star-to-remember"))
    named = [
        (t("tiers-operator", operator=html.escape(name)), code)
        for name in screen.operators[:OPERATORS_SHOWN]
        if (code := operator_code(name)) is not None
    ]
    markup = operators_markup(
        t,
        service=screen.service,
        country=screen.country,
        max_price="" if screen.max_price is None else _plain(screen.max_price),
        quantity=screen.quantity,
        operators=named,
        current=screen.choice.code(),
    )
    return "\n".join(lines), markup


def operator_code(name: str) -> str | None:
    """The choice "this operator" as a button carries it; None when the name cannot travel."""
    code = PurchaseFilter(operator=name).code()
    return code if PurchaseFilter.parse(code) is not None else None


def render_batch_report(
    t: Translate,
    *,
    service: str,
    country: str,
    choice: PurchaseFilter,
    quantity: int,
    bought: int,
    pending: int,
    reason: str,
) -> View:
    """After several numbers: how many were bought (their cards are above), why it stopped."""
    if bought == quantity:
        text = t("tiers-batch-done", count=str(bought))
    else:
        text = t("tiers-batch-partial", bought=str(bought), count=str(quantity), reason=reason)
    if pending:
        text += "\n" + t("tiers-batch-checking", count=str(pending))
    return text, batch_markup(t, service, country, choice.code())


def _replace_choice(terms: ReplaceDefaults | None) -> int:
    """Auto-replace for this purchase as the screen's buttons carry it."""
    if terms is None:
        return REPLACE_DEFAULT
    return REPLACE_ON if terms.enabled else REPLACE_OFF


def _replace_label(t: Translate, terms: ReplaceDefaults | None) -> str:
    """The toggle's label ("": no toggle)."""
    if terms is None:
        return ""
    return t("replace-toggle-on" if terms.enabled else "replace-toggle-off")


def replace_terms(t: Translate, terms: ReplaceDefaults, key: KeyProfile, lang: str) -> str:
    """The terms in one line: after 5 min without a code, up to 3 numbers (cap 2.00 ₽)."""
    minutes = str(terms.after // 60)
    if terms.cap is None:
        return t("replace-terms", minutes=minutes, attempts=str(terms.attempts))
    cap = money(terms.cap, key, lang)
    return t("replace-terms-cap", minutes=minutes, attempts=str(terms.attempts), cap=cap)
