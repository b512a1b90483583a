"""The buy flow's screens: pure renderers from data to (text, markup)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from decimal import Decimal

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.catalog import CountryOffer
from bot.formatting import format_money
from bot.i18n import Translate
from bot.provider.models import Service
from bot.rates import Rates, SuccessRate
from handlers.activation.keyboards import (
    confirm_markup,
    countries_markup,
    no_key_markup,
    services_markup,
)
from handlers.common import page_of
from handlers.names import Names, country_label
from storage import KeyProfile

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
    rates: Rates | None = None,
    best_first: bool = False,
) -> View:
    """One page of countries for a service: flag, name, price, stock and (with enough history)
    the success rate; cheapest first, or best chance first (the caller orders `offers`). The
    sort button shows once any country of the service has a rate."""
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
    rates = rates or {}
    labels = [
        (o.country, country_button_label(t, lang, key, o, rates.get(o.country))) for o in shown
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
    and buys only if it matches)."""

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


def below_max(screen: ConfirmScreen) -> bool:
    """The price is above the user's maximum: the purchase would only be refused, so the
    screen says so instead of offering Buy."""
    offer, cap = screen.offer, screen.max_price
    return offer is not None and cap is not None and offer.cost > cap


def render_confirm(t: Translate, screen: ConfirmScreen) -> View:
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
        max_price = format(screen.max_price.normalize(), "f")
        lines.append(t("buy-confirm-max", max=money(screen.max_price, key, lang)))
    buy_label: str | None = (
        t("buy-button", price=money(offer.cost, key, lang)) if offer else t("buy-button-anyway")
    )
    if below_max(screen):
        lines.append(t("buy-confirm-max-below"))
        buy_label = None
    markup = confirm_markup(
        t,
        service=screen.service,
        country=screen.country,
        buy_label=buy_label,
        token=screen.token,
        max_price=max_price,
        star_label=t("act-btn-fav-on") if screen.starred else t("act-btn-fav-add"),
    )
    return "\n".join(lines), markup
