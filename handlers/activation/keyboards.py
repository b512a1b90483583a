"""The buy flow's keyboards: markups only, built from ids and labels already made."""

from __future__ import annotations

from dataclasses import dataclass

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translate
from handlers.activation.callbacks import (
    REPLACE_DEFAULT,
    REPLACE_OFF,
    REPLACE_ON,
    BuyAction,
    BuyCb,
    OfferAction,
    OfferCb,
)
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


def offer_data(
    action: OfferAction,
    service: str,
    country: str,
    *,
    max_price: str = "",
    choice: str = "",
    quantity: int = 1,
    token: str = "",
    replace: int = REPLACE_DEFAULT,
) -> OfferCb:
    return OfferCb(
        action=action,
        s=service,
        c=country,
        mx=max_price,
        f=choice,
        n=quantity,
        tk=token,
        r=replace,
    )


@dataclass(frozen=True, slots=True)
class ConfirmOptions:
    """The confirm screen's choices as its buttons carry them (texts already localized).

    `tiers`: (label, tier price, supplier choice) per tier button; `min_buy`: (label, price,
    token) of the one-tap "buy at the minimum" after WRONG_MAX_PRICE; `suppliers`: the offer
    lists suppliers (or a choice is set), so the suppliers screen is offered."""

    choice: str = ""
    quantity: int = 1
    max_quantity: int = 1  # 1: no quantity choice (nothing in stock)
    tiers: tuple[tuple[str, str, str], ...] = ()
    min_buy: tuple[str, str, str] | None = None
    suppliers: bool = False
    by_operator: bool = False  # the choice is of operators (sms-activate/hero), not suppliers
    replace: int = REPLACE_DEFAULT  # auto-replace for this purchase as the screen shows it
    replace_label: str = ""  # the toggle's label ("" : no toggle)


def _quantity_row(
    t: Translate, service: str, country: str, max_price: str, options: ConfirmOptions
) -> list[InlineKeyboardButton]:
    """➖/➕ for several numbers at once (a single number shows one "several" button)."""
    n = options.quantity

    def step(count: int, label: str) -> InlineKeyboardButton | None:
        # One number needs no cap of its own: the maximum the user set (if any) stays.
        data = offer_data(
            OfferAction.OPEN,
            service,
            country,
            max_price=max_price if count > 1 else "",
            choice=options.choice,
            quantity=count,
        )
        return button(label, data)

    if n == 1:
        found = [step(2, t("tiers-several"))] if options.max_quantity > 1 else []
    else:
        found = [step(n - 1, t("tiers-fewer"))]
        if n < options.max_quantity:
            found.append(step(n + 1, t("tiers-more")))
    return [b for b in found if b is not None]


def confirm_markup(
    t: Translate,
    *,
    service: str,
    country: str,
    buy_label: str | None,
    token: str,
    max_price: str,
    star_label: str,
    options: ConfirmOptions | None = None,
    extra_rows: list[list[InlineKeyboardButton]] | None = None,
) -> InlineKeyboardMarkup:
    """Buy (with this screen's one-time token; none when `buy_label` is None), the price tiers,
    how many, auto-replace on/off (one number only), set/change/clear the maximum price, the
    suppliers, ⭐ (says whether the pick is a favourite, toggles it), `extra_rows` (other
    features' rows, appended in order), back to the countries it came from (a search's result
    keeps the search, while the state holds it)."""
    opts = options or ConfirmOptions()
    choice, n = opts.choice, opts.quantity
    # Every button that redraws or buys this offer keeps the screen's auto-replace choice.
    replace = opts.replace if n == 1 else REPLACE_DEFAULT

    def offer(
        action: OfferAction, *, max_price: str, choice: str, quantity: int, token: str = ""
    ) -> OfferCb:
        keep = replace if quantity == 1 else REPLACE_DEFAULT
        return offer_data(
            action,
            service,
            country,
            max_price=max_price,
            choice=choice,
            quantity=quantity,
            token=token,
            replace=keep,
        )

    rows: list[list[InlineKeyboardButton]] = []
    if opts.min_buy is not None:
        label, price, min_token = opts.min_buy
        data = offer(OfferAction.BUY, max_price=price, choice=choice, quantity=n, token=min_token)
        rows += rows_of([button(label, data)], 1)
    if buy_label is not None:
        data = offer(OfferAction.BUY, max_price=max_price, choice=choice, quantity=n, token=token)
        rows += rows_of([button(buy_label, data)], 1)
    tiers = [
        button(label, offer(OfferAction.OPEN, max_price=price, choice=tier, quantity=n))
        for label, price, tier in opts.tiers
    ]
    rows += rows_of(tiers, 1)
    quantity = _quantity_row(t, service, country, max_price, opts)
    if quantity:
        rows.append(quantity)
    if opts.replace_label and n == 1:
        flipped = REPLACE_OFF if replace == REPLACE_ON else REPLACE_ON
        data = offer_data(
            OfferAction.OPEN,
            service,
            country,
            max_price=max_price,
            choice=choice,
            replace=flipped,
        )
        rows += rows_of([button(opts.replace_label, data)], 1)
    ask_label = t("buy-set-max") if not max_price else t("buy-change-max")
    ask = button(ask_label, BuyCb(action=BuyAction.ASK_MAX, s=service, c=country))
    if ask is not None:
        rows.append([ask])
    if max_price and n == 1:
        clear = button(
            t("buy-clear-max"),
            offer_data(OfferAction.OPEN, service, country, choice=choice, replace=replace),
        )
        if clear is not None:
            rows.append([clear])
    if opts.suppliers:
        data = offer_data(
            OfferAction.SUPPLIERS,
            service,
            country,
            max_price=max_price,
            choice=choice,
            quantity=n,
        )
        label = t("tiers-operators-button" if opts.by_operator else "tiers-suppliers-button")
        rows += rows_of([button(label, data)], 1)
    star = button(star_label, BuyCb(action=BuyAction.FAVOURITE, s=service, c=country, mx=max_price))
    if star is not None:
        rows.append([star])
    rows.extend(extra_rows or [])
    back = back_button(t, BuyCb(action=BuyAction.COUNTRIES_PAGE, s=service, tk="q").pack())
    rows.append([back, menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def suppliers_markup(
    t: Translate,
    *,
    service: str,
    country: str,
    max_price: str,
    quantity: int,
    choices: list[tuple[str, str, str, str]],
    current: str,
) -> InlineKeyboardMarkup:
    """`choices`: (only label, only code, except label, except code) per supplier; "any
    supplier" when a choice is set; back to the confirm screen with the current choice."""

    def choose(label: str, code: str) -> InlineKeyboardButton | None:
        data = offer_data(
            OfferAction.CHOOSE,
            service,
            country,
            max_price=max_price,
            choice=code,
            quantity=quantity,
        )
        return button(label, data)

    rows: list[list[InlineKeyboardButton]] = []
    for only_label, only_code, except_label, except_code in choices:
        pair = [choose(only_label, only_code), choose(except_label, except_code)]
        row = [b for b in pair if b is not None]
        if row:
            rows.append(row)
    if current:
        rows += rows_of([choose(t("tiers-any-supplier"), "")], 1)
    back_data = offer_data(
        OfferAction.OPEN,
        service,
        country,
        max_price=max_price,
        choice=current,
        quantity=quantity,
    )
    back = back_button(t, fits(back_data) or confirm_data(service, country).pack())
    rows.append([back, menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def operators_markup(
    t: Translate,
    *,
    service: str,
    country: str,
    max_price: str,
    quantity: int,
    operators: list[tuple[str, str]],
    current: str,
) -> InlineKeyboardMarkup:
    """`operators`: (label, choice code) per operator, two a row; "any operator" when one is
    chosen; back to the confirm screen with the current choice."""

    def choose(label: str, code: str) -> InlineKeyboardButton | None:
        data = offer_data(
            OfferAction.CHOOSE,
            service,
            country,
            max_price=max_price,
            choice=code,
            quantity=quantity,
        )
        return button(label, data)

    rows = rows_of([choose(label, code) for label, code in operators], 2)
    if current:
        rows += rows_of([choose(t("tiers-any-operator"), "")], 1)
    back_data = offer_data(
        OfferAction.OPEN,
        service,
        country,
        max_price=max_price,
        choice=current,
        quantity=quantity,
    )
    back = back_button(t, fits(back_data) or confirm_data(service, country).pack())
    rows.append([back, menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def batch_markup(t: Translate, service: str, country: str, choice: str) -> InlineKeyboardMarkup:
    """Under the report of several numbers: the offer's confirm screen again, the main menu."""
    again = button(t("tiers-again"), offer_data(OfferAction.OPEN, service, country, choice=choice))
    rows = rows_of([again], 1)
    rows.append([menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def ask_max_markup(t: Translate, service: str, country: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[back_button(t, confirm_data(service, country).pack())]]
    )


def done_markup(t: Translate) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[menu_button(t)]])
