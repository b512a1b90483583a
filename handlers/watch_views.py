"""Watches on screen: pure renderers from data to (text, markup), shared by the screens and by
the notices the poller sends, so a watch reads the same wherever it is drawn."""

from __future__ import annotations

import html
from dataclasses import dataclass
from decimal import Decimal

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.formatting import format_money, format_time, user_timezone
from bot.i18n import Translate
from bot.watches import StockOffer
from handlers.activation.callbacks import BuyAction, BuyCb
from handlers.activation.keyboards import button, confirm_data
from handlers.common import MenuAction, MenuCb, back_button, menu_button
from handlers.names import Names
from handlers.watch_callbacks import WatchAction, WatchCb
from storage import Watch

View = tuple[str, InlineKeyboardMarkup]


def price_text(amount: Decimal | None) -> str:
    """A maximum price as callback data carries it ("" = any)."""
    return "" if amount is None else format(amount.normalize(), "f")


@dataclass(frozen=True, slots=True)
class WatchLine:
    """One watch as a line shows it: names in the user's language, money in the key's currency."""

    watch: Watch
    names: Names
    currency: str | None


def _what(names: Names) -> str:
    return f"{html.escape(names.service)} · {names.flag} {html.escape(names.country)}"


def _cap(t: Translate, amount: Decimal | None, currency: str | None, lang: str) -> str:
    if amount is None:
        return t("watch-any-price")
    return t("watch-at-most", price=format_money(amount, currency, lang=lang))


def list_button(t: Translate) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=t("menu-watches"), callback_data=MenuCb(action=MenuAction.WATCHES).pack()
    )


# ------------------------------------------------------------------ the list


def render_list(
    t: Translate, lines: list[WatchLine], *, lang: str, tz: str | None, notice: str = ""
) -> View:
    zone = user_timezone(tz)
    text = [notice] if notice else []
    text.append(t("watch-list-title"))
    if not lines:
        text.append(t("watch-list-empty"))
    rows: list[list[InlineKeyboardButton]] = []
    for number, line in enumerate(lines, start=1):
        watch = line.watch
        text.append(
            t(
                "watch-list-item",
                n=str(number),
                what=_what(line.names),
                price=_cap(t, watch.max_price, line.currency, lang),
                until=format_time(watch.expires_at, zone),
            )
            + (t("watch-auto-mark") if watch.auto_buy else "")
        )
        remove = WatchCb(action=WatchAction.REMOVE, id=watch.id).pack()
        rows.append(
            [InlineKeyboardButton(text=t("watch-btn-remove", n=str(number)), callback_data=remove)]
        )
    rows.append([menu_button(t)])
    return "\n".join(text), InlineKeyboardMarkup(inline_keyboard=rows)


# ------------------------------------------------------------------ the draft


@dataclass(frozen=True, slots=True)
class Draft:
    service: str
    country: str
    names: Names
    max_price: Decimal | None
    auto_buy: bool
    currency: str | None
    hours: float


def draft_markup(t: Translate, draft: Draft) -> InlineKeyboardMarkup:
    s, c, mx = draft.service, draft.country, price_text(draft.max_price)
    auto = draft.auto_buy and draft.max_price is not None
    rows: list[list[InlineKeyboardButton | None]] = [
        [button(t("watch-btn-start"), WatchCb(action=WatchAction.ARM, s=s, c=c, mx=mx, ab=auto))],
        [
            button(
                t("buy-change-max") if mx else t("buy-set-max"),
                WatchCb(action=WatchAction.ASK_MAX, s=s, c=c, ab=auto),
            )
        ],
    ]
    if mx:
        label = t("watch-btn-auto-on") if auto else t("watch-btn-auto-off")
        rows.append(
            [button(label, WatchCb(action=WatchAction.DRAFT, s=s, c=c, mx=mx, ab=not auto))]
        )
    rows.append([button(t("btn-back"), confirm_data(s, c, mx)), menu_button(t)])
    kept = [[b for b in row if b is not None] for row in rows]
    return InlineKeyboardMarkup(inline_keyboard=[row for row in kept if row])


def render_draft(t: Translate, draft: Draft, *, lang: str) -> View:
    lines = [t("watch-draft-title", what=_what(draft.names))]
    lines.append(t("watch-draft-price", price=_cap(t, draft.max_price, draft.currency, lang)))
    if draft.max_price is None:
        lines.append(t("watch-draft-auto-needs-max"))
    elif draft.auto_buy:
        money = format_money(draft.max_price, draft.currency, lang=lang)
        lines.append(t("watch-draft-auto-on", price=money))
    else:
        lines.append(t("watch-draft-auto-off"))
    lines.append(t("watch-draft-lasts", hours=f"{draft.hours:g}"))
    return "\n".join(lines), draft_markup(t, draft)


def render_armed(
    t: Translate, watch: Watch, names: Names, currency: str | None, *, lang: str, tz: str | None
) -> View:
    text = t(
        "watch-armed",
        what=_what(names),
        price=_cap(t, watch.max_price, currency, lang),
        until=format_time(watch.expires_at, user_timezone(tz)),
    )
    if watch.auto_buy:
        text += "\n" + t(
            "watch-draft-auto-on", price=format_money(watch.max_price, currency, lang=lang)
        )
    back = back_button(t, confirm_data(watch.service, watch.country).pack())
    markup = InlineKeyboardMarkup(inline_keyboard=[[list_button(t)], [back, menu_button(t)]])
    return text, markup


def render_ask_max(t: Translate, service: str, country: str, auto_buy: bool) -> View:
    back = WatchCb(action=WatchAction.DRAFT, s=service, c=country, ab=auto_buy).pack()
    return t("buy-ask-max"), InlineKeyboardMarkup(inline_keyboard=[[back_button(t, back)]])


# ------------------------------------------------------------------ the notices


def _after_markup(
    t: Translate, watch: Watch, buy: InlineKeyboardButton | None = None
) -> InlineKeyboardMarkup:
    """Buy (when offered), the offer's confirm screen, watch again, the list, the menu."""
    mx = price_text(watch.max_price)
    rows: list[list[InlineKeyboardButton]] = [[buy]] if buy is not None else []
    offer = button(t("watch-btn-open"), confirm_data(watch.service, watch.country, mx))
    again = button(
        t("watch-btn-again"),
        WatchCb(action=WatchAction.DRAFT, s=watch.service, c=watch.country, mx=mx),
    )
    rows.append([b for b in (offer, again) if b is not None])
    rows.append([list_button(t), menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])


def render_in_stock(
    t: Translate,
    watch: Watch,
    offer: StockOffer,
    token: str,
    names: Names,
    currency: str | None,
    *,
    lang: str,
) -> View:
    """Stock appeared: one tap buys through the buy flow's own Buy (a fresh one-time token
    issued for exactly this offer and maximum)."""
    price = format_money(offer.cost, currency, lang=lang)
    text = t("watch-in-stock", what=_what(names), price=price, count=str(offer.count))
    data = BuyCb(
        action=BuyAction.BUY,
        s=watch.service,
        c=watch.country,
        tk=token,
        mx=price_text(watch.max_price),
    )
    return text, _after_markup(t, watch, button(t("buy-button", price=price), data))


def render_bought(
    t: Translate, watch: Watch, names: Names, currency: str | None, *, lang: str
) -> View:
    price = format_money(watch.price, currency, lang=lang)
    return t("watch-bought", what=_what(names), price=price), _after_markup(t, watch)


def render_checking(t: Translate, watch: Watch, names: Names) -> View:
    return t("watch-checking", what=_what(names)), _after_markup(t, watch)


def render_failed(t: Translate, watch: Watch, names: Names, reason: str) -> View:
    return t("watch-failed", what=_what(names), reason=reason), _after_markup(t, watch)


def render_expired(t: Translate, watch: Watch, names: Names) -> View:
    return t("watch-expired", what=_what(names)), _after_markup(t, watch)
