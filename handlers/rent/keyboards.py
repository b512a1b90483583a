"""Inline keyboards of the rent flow and the rental card."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translate
from bot.rentals import RentOption, cancel_block
from handlers.common import back_button, menu_button
from handlers.rent.callbacks import RentalCb, RentBuyCb, RentExtendCb, RentFlowCb
from handlers.rent.views import duration_label, money
from storage.models import Rental

Row = list[InlineKeyboardButton]


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def _pairs(buttons: list[InlineKeyboardButton]) -> list[Row]:
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def _nav(t: Translate, page: int, pages: int, make: object) -> Row:
    """Prev/next buttons; `make(page)` packs the callback data of a page."""
    row: Row = []
    if page > 0:
        row.append(_button(t("rent-btn-prev"), make(page - 1)))  # type: ignore[operator]
    if page + 1 < pages:
        row.append(_button(t("rent-btn-next"), make(page + 1)))  # type: ignore[operator]
    return row


# ------------------------------------------------------------------ the rental card


def rental_card_keyboard(
    r: Rental, t: Translate, now: float, *, has_sms: bool = False
) -> InlineKeyboardMarkup:
    """Buttons of the rental card. Cancel shows only while the provider would allow it."""
    cb = RentalCb
    if not r.live:
        rows: list[Row] = [
            [
                _button(t("rent-btn-sms"), cb(action="sms", id=r.id).pack()),
                _button(t("rent-btn-history"), cb(action="hist", id=r.id).pack()),
            ],
            [menu_button(t)],
        ]
        return InlineKeyboardMarkup(inline_keyboard=rows)
    ending: Row = [_button(t("rent-btn-finish"), cb(action="fin", id=r.id).pack())]
    if cancel_block(r, now, has_sms=has_sms) is None:
        ending.append(_button(t("rent-btn-cancel"), cb(action="cnl", id=r.id).pack()))
    rows = [
        [
            _button(t("rent-btn-sms"), cb(action="sms", id=r.id).pack()),
            _button(t("rent-btn-extend"), cb(action="ext", id=r.id).pack()),
        ],
        [
            _button(t("rent-btn-history"), cb(action="hist", id=r.id).pack()),
            _button(t("rent-btn-refresh"), cb(action="ref", id=r.id).pack()),
        ],
        ending,
        [menu_button(t)],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def back_to_card(t: Translate, rental_id: int) -> InlineKeyboardButton:
    return _button(t("rent-btn-card"), RentalCb(action="open", id=rental_id).pack())


def sms_keyboard(t: Translate, rental_id: int, page: int, pages: int) -> InlineKeyboardMarkup:
    nav = _nav(t, page, pages, lambda p: RentalCb(action="sms", id=rental_id, page=p).pack())
    rows = [row for row in (nav, [back_to_card(t, rental_id)], [menu_button(t)]) if row]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def history_keyboard(t: Translate, rental_id: int, page: int, pages: int) -> InlineKeyboardMarkup:
    nav = _nav(t, page, pages, lambda p: RentalCb(action="hist", id=rental_id, page=p).pack())
    rows = [row for row in (nav, [back_to_card(t, rental_id)], [menu_button(t)]) if row]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def extend_options_keyboard(
    t: Translate, rental_id: int, options: list[RentOption], currency: str | None
) -> InlineKeyboardMarkup:
    buttons = [
        _button(
            t("rent-option", duration=duration_label(t, o.hours), price=money(o.cost, currency)),
            RentalCb(action="extq", id=rental_id, arg=o.hours).pack(),
        )
        for o in options
    ]
    rows = [*_pairs(buttons), [back_to_card(t, rental_id)], [menu_button(t)]]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def extend_confirm_keyboard(
    t: Translate, rental_id: int, option: RentOption, token: str, currency: str | None
) -> InlineKeyboardMarkup:
    confirm = RentExtendCb(id=rental_id, hours=option.hours, token=token).pack()
    rows = [
        [_button(t("rent-btn-extend-confirm", price=money(option.cost, currency)), confirm)],
        [back_button(t, RentalCb(action="ext", id=rental_id).pack())],
        [back_to_card(t, rental_id)],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def finish_confirm_keyboard(t: Translate, rental_id: int) -> InlineKeyboardMarkup:
    rows = [
        [_button(t("rent-btn-finish-yes"), RentalCb(action="finy", id=rental_id).pack())],
        [_button(t("rent-btn-finish-no"), RentalCb(action="open", id=rental_id).pack())],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def card_only_keyboard(t: Translate, rental_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[back_to_card(t, rental_id)], [menu_button(t)]])


# ------------------------------------------------------------------ the rent flow


def services_keyboard(
    t: Translate, services: list[tuple[str, str]], page: int, pages: int
) -> InlineKeyboardMarkup:
    """`services`: (code, name) of one page."""
    buttons = [
        _button(name, RentFlowCb(action="cty", service=code).pack()) for code, name in services
    ]
    nav = _nav(t, page, pages, lambda p: RentFlowCb(action="svc", page=p).pack())
    rows = [*_pairs(buttons), *([nav] if nav else []), [menu_button(t)]]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def countries_keyboard(
    t: Translate,
    service: str,
    countries: list[tuple[str, str, str, int]],
    page: int,
    pages: int,
) -> InlineKeyboardMarkup:
    """`countries`: (id, name, price text, count) of one page."""
    buttons = [
        [
            _button(
                t("rent-country-option", country=name, price=price, count=str(count)),
                RentFlowCb(action="dur", service=service, country=cid).pack(),
            )
        ]
        for cid, name, price, count in countries
    ]
    nav = _nav(t, page, pages, lambda p: RentFlowCb(action="cty", service=service, page=p).pack())
    rows = [
        *buttons,
        *([nav] if nav else []),
        [back_button(t, RentFlowCb(action="svc").pack())],
        [menu_button(t)],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def durations_keyboard(
    t: Translate, service: str, country: str, options: list[RentOption], currency: str | None
) -> InlineKeyboardMarkup:
    buttons = [
        _button(
            t("rent-option", duration=duration_label(t, o.hours), price=money(o.cost, currency)),
            RentFlowCb(action="cfm", service=service, country=country, hours=o.hours).pack(),
        )
        for o in options
    ]
    rows = [
        *_pairs(buttons),
        [back_button(t, RentFlowCb(action="cty", service=service).pack())],
        [menu_button(t)],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirm_keyboard(
    t: Translate,
    service: str,
    country: str,
    option: RentOption,
    token: str,
    currency: str | None,
) -> InlineKeyboardMarkup:
    buy = RentBuyCb(service=service, country=country, hours=option.hours, token=token).pack()
    rows = [
        [_button(t("rent-btn-confirm", price=money(option.cost, currency)), buy)],
        [back_button(t, RentFlowCb(action="dur", service=service, country=country).pack())],
        [menu_button(t)],
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def flow_error_keyboard(t: Translate, back_data: str | None) -> InlineKeyboardMarkup:
    rows: list[Row] = []
    if back_data:
        rows.append([back_button(t, back_data)])
    rows.append([menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)
