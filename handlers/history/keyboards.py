"""The history's keyboards: a page (entries, pager, filters, exports), the filter choices, and
the read-only card (back to the page it came from, main menu). Every screen has both ways out."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.history import HistoryPage, Period
from bot.i18n import Translate
from handlers.activation import ActivationAction, ActivationCb
from handlers.common import back_button, menu_button, pager_row
from handlers.history.callbacks import (
    EntryKind,
    HistoryAction,
    HistoryCb,
    Outcome,
    fits_country,
    fits_service,
)
from handlers.history.views import PairNames, entry_button_text, names_of, period_label
from handlers.rent.callbacks import RentalAction, RentalCb
from storage import HistoryEntry, User

BUTTON_LIMIT = 60  # characters of a button label


def _button(text: str, data: HistoryCb | ActivationCb | RentalCb) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text[:BUTTON_LIMIT], callback_data=data.pack())


def entry_data(view: HistoryCb, e: HistoryEntry) -> HistoryCb | ActivationCb | RentalCb:
    """A live number opens its own live card (with its actions); an ended one its read-only
    card here, which leads back to this very page."""
    if e.outcome == "live":
        if e.kind == "activation":
            return ActivationCb(action=ActivationAction.OPEN, id=e.id)
        return RentalCb(action=RentalAction.OPEN, id=e.id)
    kind = EntryKind.ACTIVATION if e.kind == "activation" else EntryKind.RENTAL
    return view.go(HistoryAction.OPEN, kind=kind, item=e.id)


def history_keyboard(
    t: Translate, view: HistoryCb, found: HistoryPage, user: User
) -> InlineKeyboardMarkup:
    view = view.go(HistoryAction.LIST, page=found.page)
    rows = [[_button(entry_button_text(e, user), entry_data(view, e))] for e in found.entries]
    pager = pager_row(t, found.page, found.pages, lambda n: view.go(HistoryAction.LIST, page=n))
    if pager:
        rows.append(pager)
    rows.append(
        [
            _button(t("history-btn-service"), view.go(HistoryAction.SERVICES)),
            _button(t("history-btn-country"), view.go(HistoryAction.COUNTRIES)),
        ]
    )
    rows.append(
        [
            _button(t("history-btn-outcome"), view.go(HistoryAction.OUTCOMES)),
            _button(t("history-btn-period"), view.go(HistoryAction.PERIODS)),
        ]
    )
    if view.query().narrowed:
        cleared = HistoryCb(action=HistoryAction.LIST)
        rows.append([_button(t("history-btn-clear"), cleared)])
    if found.total:
        rows.append(
            [
                _button(t("history-btn-csv"), view.go(HistoryAction.CSV)),
                _button(t("history-btn-json"), view.go(HistoryAction.JSON)),
            ]
        )
    rows.append([menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _choices_keyboard(
    t: Translate, view: HistoryCb, choices: list[tuple[str, HistoryCb]]
) -> InlineKeyboardMarkup:
    rows = [[_button(label, data)] for label, data in choices]
    rows.append([back_button(t, view.go(HistoryAction.LIST).pack()), menu_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _picked(label: str, chosen: bool) -> str:
    return f"• {label}" if chosen else label


def services_keyboard(
    t: Translate, view: HistoryCb, services: list[str], names: PairNames
) -> InlineKeyboardMarkup:
    choices = [
        (
            _picked(t("history-any-service"), not view.service),
            view.go(HistoryAction.LIST, page=0, service=""),
        )
    ]
    for code in filter(fits_service, services):
        label = _picked(names_of(names, code, "").service, view.service == code)
        choices.append((label, view.go(HistoryAction.LIST, page=0, service=code)))
    return _choices_keyboard(t, view, choices)


def countries_keyboard(
    t: Translate, view: HistoryCb, countries: list[str], names: PairNames
) -> InlineKeyboardMarkup:
    choices = [
        (
            _picked(t("history-any-country"), not view.country),
            view.go(HistoryAction.LIST, page=0, country=""),
        )
    ]
    for code in filter(fits_country, countries):
        label = _picked(names_of(names, "", code).country_with_flag, view.country == code)
        choices.append((label, view.go(HistoryAction.LIST, page=0, country=code)))
    return _choices_keyboard(t, view, choices)


def outcomes_keyboard(t: Translate, view: HistoryCb) -> InlineKeyboardMarkup:
    choices = []
    for outcome in Outcome:
        label = t(f"history-outcome-choice-{outcome.name.lower()}")
        choices.append(
            (
                _picked(label, view.outcome is outcome),
                view.go(HistoryAction.LIST, page=0, outcome=outcome),
            )
        )
    return _choices_keyboard(t, view, choices)


def periods_keyboard(t: Translate, view: HistoryCb) -> InlineKeyboardMarkup:
    choices = [
        (
            _picked(period_label(t, period), view.period is period),
            view.go(HistoryAction.LIST, page=0, period=period),
        )
        for period in Period
    ]
    return _choices_keyboard(t, view, choices)


def card_keyboard(t: Translate, view: HistoryCb) -> InlineKeyboardMarkup:
    """The read-only card: no action, only the way back to the page it was opened from."""
    back = back_button(t, view.go(HistoryAction.LIST, item=0).pack())
    return InlineKeyboardMarkup(inline_keyboard=[[back], [menu_button(t)]])
