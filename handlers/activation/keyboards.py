"""The buy flow's keyboards: markups only, built from ids and labels already made."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translate
from handlers.activation.callbacks import BuyAction, BuyCb
from handlers.common import MenuAction, MenuCb, back_button, menu_button, pager_row

CALLBACK_LIMIT = 64


def fits(data: CallbackData) -> str | None:
    """The packed data, or None when a provider's odd code would not fit Telegram's 64 bytes."""
    try:
        packed = data.pack()
    except ValueError:
        return None
    return packed if len(packed.encode()) <= CALLBACK_LIMIT else None


def button(text: str, data: CallbackData) -> InlineKeyboardButton | None:
    """A button, or None when its data cannot be sent (such an offer is left out)."""
    packed = fits(data)
    return InlineKeyboardButton(text=text, callback_data=packed) if packed else None


def rows_of(
    buttons: list[InlineKeyboardButton | None], width: int
) -> list[list[InlineKeyboardButton]]:
    kept = [b for b in buttons if b is not None]
    return [kept[i : i + width] for i in range(0, len(kept), width)]


def confirm_data(service: str, country: str, max_price: str = "") -> BuyCb:
    return BuyCb(action=BuyAction.CONFIRM, s=service, c=country, mx=max_price)


def services_back(t: Translate) -> InlineKeyboardButton:
    return back_button(t, BuyCb(action=BuyAction.SERVICES_PAGE).pack())


def no_key_markup(t: Translate) -> InlineKeyboardMarkup:
    keys = InlineKeyboardButton(
        text=t("menu-keys"), callback_data=MenuCb(action=MenuAction.KEYS).pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[keys], [menu_button(t)]])


def error_markup(t: Translate, back: str | None = None) -> InlineKeyboardMarkup:
    rows = [[back_button(t, back)]] if back else []
    rows.append([menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def services_markup(
    t: Translate,
    services: list[tuple[str, str]],
    page: int,
    pages: int,
    *,
    search: bool,
    quick: list[InlineKeyboardButton | None],
) -> InlineKeyboardMarkup:
    """`services`: (code, name) on this page; `quick`: the quick picks (page 0 only)."""
    rows = rows_of(list(quick), 1) if page == 0 else []
    shown = [button(name, BuyCb(action=BuyAction.SERVICE, s=code)) for code, name in services]
    rows += rows_of(shown, 2)
    keep = "q" if search else ""  # pages of a search keep the search
    pager = pager_row(t, page, pages, lambda p: BuyCb(action=BuyAction.SERVICES_PAGE, p=p, tk=keep))
    if pager:
        rows.append(pager)
    if search:
        all_services = BuyCb(action=BuyAction.SERVICES_PAGE).pack()
        rows.append([InlineKeyboardButton(text=t("buy-all-services"), callback_data=all_services)])
    rows.append([menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def countries_markup(
    t: Translate,
    service: str,
    countries: list[tuple[str, str]],
    page: int,
    pages: int,
    *,
    search: bool,
    sort_label: str | None = None,
) -> InlineKeyboardMarkup:
    """`countries`: (country id, button label) on this page. Back from a search's result goes
    to the service's whole country list; from that list, to the services. `sort_label`: the
    button that switches the order (cheapest / best chance), when there is a choice."""
    rows = rows_of([button(label, confirm_data(service, c)) for c, label in countries], 1)
    keep = "q" if search else ""
    pager = pager_row(
        t, page, pages, lambda p: BuyCb(action=BuyAction.COUNTRIES_PAGE, s=service, p=p, tk=keep)
    )
    if pager:
        rows.append(pager)
    if sort_label is not None:
        rows += rows_of([button(sort_label, BuyCb(action=BuyAction.SORT, s=service, tk=keep))], 1)
    if search:
        back = back_button(t, BuyCb(action=BuyAction.COUNTRIES_PAGE, s=service).pack())
    else:
        back = services_back(t)
    rows.append([back, menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirm_markup(
    t: Translate,
    *,
    service: str,
    country: str,
    buy_label: str | None,
    token: str,
    max_price: str,
    star_label: str,
) -> InlineKeyboardMarkup:
    """Buy (with this screen's one-time token; none when `buy_label` is None), set/change/clear
    the maximum price, ⭐ (says whether the pick is a favourite, toggles it), back to the
    countries it came from (a search's result keeps the search, while the state holds it)."""
    rows: list[list[InlineKeyboardButton]] = []
    if buy_label is not None:
        go = button(
            buy_label, BuyCb(action=BuyAction.BUY, s=service, c=country, tk=token, mx=max_price)
        )
        if go is not None:
            rows.append([go])
    ask_label = t("buy-set-max") if not max_price else t("buy-change-max")
    ask = button(ask_label, BuyCb(action=BuyAction.ASK_MAX, s=service, c=country))
    if ask is not None:
        rows.append([ask])
    if max_price:
        clear = button(t("buy-clear-max"), confirm_data(service, country))
        if clear is not None:
            rows.append([clear])
    star = button(star_label, BuyCb(action=BuyAction.FAVOURITE, s=service, c=country, mx=max_price))
    if star is not None:
        rows.append([star])
    back = back_button(t, BuyCb(action=BuyAction.COUNTRIES_PAGE, s=service, tk="q").pack())
    rows.append([back, menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def ask_max_markup(t: Translate, service: str, country: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[back_button(t, confirm_data(service, country).pack())]]
    )


def done_markup(t: Translate) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[menu_button(t)]])
