"""Inline keyboards of the rent flow and the rental card."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import Translate
from bot.rentals import RentOption
from handlers.common import back_button, menu_button, pager_row
from handlers.rent.callbacks import (
    RentalAction,
    RentalCb,
    RentBuyCb,
    RentExtendCb,
    RentFlowAction,
    RentFlowCb,
)
from handlers.rent.views import duration_label, money

Row = list[InlineKeyboardButton]


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _pairs(buttons: list[InlineKeyboardButton]) -> list[Row]:
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def _rows(*rows: Row) -> InlineKeyboardMarkup:
    """A markup of the rows that have buttons (an empty pager is left out)."""
    return InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])


def _on(rental_id: int, action: RentalAction, **fields: int) -> RentalCb:
    return RentalCb(action=action, id=rental_id, **fields)


# ------------------------------------------------------------------ the rental card


def menu_below(t: Translate, rental_id: int) -> InlineKeyboardButton:
    """« Main menu from the card's message: the menu comes below, the card stays."""
    return _button(t("btn-main-menu"), _on(rental_id, RentalAction.MENU))


def list_below(t: Translate, rental_id: int, *, live: bool) -> InlineKeyboardButton:
    """Back to the list the rental is found in (My numbers while live, the rental history
    once ended), as a new message below: the card stays."""
    label = t("rent-btn-my-numbers") if live else t("rent-btn-rental-history")
    return _button(label, _on(rental_id, RentalAction.LIST))


def rental_card_keyboard(
    t: Translate, rental_id: int, *, live: bool, can_cancel: bool
) -> InlineKeyboardMarkup:
    """Buttons of the rental card; Cancel shows only while the provider would allow it. The
    ways out open their screen below, so the card (the number and its SMS) stays in the chat."""
    sms = _button(t("rent-btn-sms"), _on(rental_id, RentalAction.SMS))
    history = _button(t("rent-btn-history"), _on(rental_id, RentalAction.HISTORY))
    ways_out = [list_below(t, rental_id, live=live), menu_below(t, rental_id)]
    if not live:
        return _rows([sms, history], ways_out)
    ending: Row = [_button(t("rent-btn-finish"), _on(rental_id, RentalAction.FINISH_ASK))]
    if can_cancel:
        ending.append(_button(t("rent-btn-cancel"), _on(rental_id, RentalAction.CANCEL_ASK)))
    return _rows(
        [sms, _button(t("rent-btn-extend"), _on(rental_id, RentalAction.EXTEND))],
        [history, _button(t("rent-btn-refresh"), _on(rental_id, RentalAction.REFRESH))],
        ending,
        ways_out,
    )


def back_to_card(t: Translate, rental_id: int) -> InlineKeyboardButton:
    return _button(t("rent-btn-card"), _on(rental_id, RentalAction.OPEN))


def sms_keyboard(t: Translate, rental_id: int, page: int, pages: int) -> InlineKeyboardMarkup:
    pager = pager_row(t, page, pages, lambda p: _on(rental_id, RentalAction.SMS, page=p))
    return _rows(pager, [back_to_card(t, rental_id)], [menu_below(t, rental_id)])


def history_keyboard(t: Translate, rental_id: int, page: int, pages: int) -> InlineKeyboardMarkup:
    pager = pager_row(t, page, pages, lambda p: _on(rental_id, RentalAction.HISTORY, page=p))
    return _rows(pager, [back_to_card(t, rental_id)], [menu_below(t, rental_id)])


def extend_options_keyboard(
    t: Translate, rental_id: int, options: list[RentOption], currency: str | None, lang: str
) -> InlineKeyboardMarkup:
    buttons = [
        _button(
            t(
                "rent-option",
                duration=duration_label(t, o.hours),
                price=money(o.cost, currency, lang),
            ),
            _on(rental_id, RentalAction.EXTEND_QUOTE, arg=o.hours),
        )
        for o in options
    ]
    return _rows(*_pairs(buttons), [back_to_card(t, rental_id)], [menu_below(t, rental_id)])


def extend_confirm_keyboard(
    t: Translate, rental_id: int, option: RentOption, token: str, currency: str | None, lang: str
) -> InlineKeyboardMarkup:
    confirm = RentExtendCb(id=rental_id, hours=option.hours, token=token)
    return _rows(
        [_button(t("rent-btn-extend-confirm", price=money(option.cost, currency, lang)), confirm)],
        [back_button(t, _on(rental_id, RentalAction.EXTEND).pack())],
        [menu_below(t, rental_id)],
    )


def finish_confirm_keyboard(t: Translate, rental_id: int) -> InlineKeyboardMarkup:
    return _rows(
        [_button(t("rent-btn-finish-yes"), _on(rental_id, RentalAction.FINISH))],
        [_button(t("rent-btn-finish-no"), _on(rental_id, RentalAction.OPEN))],
    )


def cancel_confirm_keyboard(t: Translate, rental_id: int) -> InlineKeyboardMarkup:
    return _rows(
        [_button(t("rent-btn-cancel-yes"), _on(rental_id, RentalAction.CANCEL))],
        [_button(t("rent-btn-finish-no"), _on(rental_id, RentalAction.OPEN))],
    )


def card_only_keyboard(t: Translate, rental_id: int) -> InlineKeyboardMarkup:
    return _rows([back_to_card(t, rental_id)], [menu_below(t, rental_id)])


# ------------------------------------------------------------------ the rent flow


def services_keyboard(
    t: Translate, services: list[tuple[str, str]], page: int, pages: int
) -> InlineKeyboardMarkup:
    """`services`: (code, name) of one page."""
    buttons = [
        _button(name, RentFlowCb(action=RentFlowAction.COUNTRIES, service=code))
        for code, name in services
    ]
    pager = pager_row(t, page, pages, lambda p: RentFlowCb(action=RentFlowAction.SERVICES, page=p))
    return _rows(*_pairs(buttons), pager, [menu_button(t)])


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
                RentFlowCb(action=RentFlowAction.DURATIONS, service=service, country=cid),
            )
        ]
        for cid, name, price, count in countries
    ]
    pager = pager_row(
        t,
        page,
        pages,
        lambda p: RentFlowCb(action=RentFlowAction.COUNTRIES, service=service, page=p),
    )
    return _rows(
        *buttons,
        pager,
        [back_button(t, services_data())],
        [menu_button(t)],
    )


def durations_keyboard(
    t: Translate,
    service: str,
    country: str,
    options: list[RentOption],
    currency: str | None,
    lang: str,
) -> InlineKeyboardMarkup:
    buttons = [
        _button(
            t(
                "rent-option",
                duration=duration_label(t, o.hours),
                price=money(o.cost, currency, lang),
            ),
            RentFlowCb(
                action=RentFlowAction.CONFIRM, service=service, country=country, hours=o.hours
            ),
        )
        for o in options
    ]
    return _rows(
        *_pairs(buttons),
        [back_button(t, countries_data(service))],
        [menu_button(t)],
    )


def confirm_keyboard(
    t: Translate,
    service: str,
    country: str,
    option: RentOption,
    token: str,
    currency: str | None,
    lang: str,
) -> InlineKeyboardMarkup:
    buy = RentBuyCb(service=service, country=country, hours=option.hours, token=token)
    return _rows(
        [_button(t("rent-btn-confirm", price=money(option.cost, currency, lang)), buy)],
        [back_button(t, durations_data(service, country))],
        [menu_button(t)],
    )


def flow_error_keyboard(t: Translate, back_data: str | None) -> InlineKeyboardMarkup:
    """A refusal's way out: back one step (when there is one), and the main menu."""
    return _rows([back_button(t, back_data)] if back_data else [], [menu_button(t)])


# The packed "back" targets of the flow's steps (a refusal's keyboard leads back through them).


def services_data() -> str:
    return RentFlowCb(action=RentFlowAction.SERVICES).pack()


def countries_data(service: str) -> str:
    return RentFlowCb(action=RentFlowAction.COUNTRIES, service=service).pack()


def durations_data(service: str, country: str) -> str:
    return RentFlowCb(action=RentFlowAction.DURATIONS, service=service, country=country).pack()
