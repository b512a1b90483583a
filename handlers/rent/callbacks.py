"""Callback data of the rent flow and the rental card: short versioned prefixes, ids only.

Everything a callback names is re-checked against the tapping user on arrival: the data is
only a request, never a proof of ownership. The actions' values are what buttons already in
chats carry, so they never change; an unknown one fails to decode (the fallback router answers
"this button is out of date").
"""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData

from handlers.common import CallbackHours, CallbackId, CallbackPage

# Each factory below carries `type: ignore[explicit-any]`: mypy reports an explicit Any on every
# subclass of aiogram's CallbackData (a pydantic model typed with Any inside, e.g. its
# `__init_subclass__(**kwargs: Any)`), even an empty one. No field of ours is Any.


class RentalAction(StrEnum):
    """What a button on (or under) a rental card asks for; one handler each in card.py."""

    OPEN = "open"  # show the card (also "back to the card")
    REFRESH = "ref"  # sync the SMS now and redraw
    SMS = "sms"  # the SMS list, `page`
    HISTORY = "hist"  # the provider's periods, `page`
    EXTEND = "ext"  # choose how many hours to add
    EXTEND_QUOTE = "extq"  # the price of `arg` more hours, with the confirm button
    FINISH_ASK = "fin"  # "finish the rent?"
    FINISH = "finy"  # finish it
    # "cancel the rent?" (the card's Cancel; a card drawn before it was asked asks too)
    CANCEL_ASK = "cnl"
    CANCEL = "cnly"  # cancel it (refunded, within the provider's window)
    # Ways out that leave the card where it is: the screen comes as a new message below.
    MENU = "menu"  # the main menu
    LIST = "list"  # My numbers (a live rental) or the rental history (an ended one): numbers.py


class RentalCb(CallbackData, prefix="r1"):  # type: ignore[explicit-any]
    """An action on one rental."""

    action: RentalAction
    id: CallbackId = 0
    page: CallbackPage = 0
    arg: CallbackHours = 0  # hours (EXTEND_QUOTE)


class RentFlowAction(StrEnum):
    """The steps of the rent flow, in order; one handler each in flow.py."""

    SERVICES = "svc"  # a page of rentable services
    COUNTRIES = "cty"  # the countries of a service
    DURATIONS = "dur"  # the durations with their prices
    CONFIRM = "cfm"  # the confirmation of one duration


class RentFlowCb(CallbackData, prefix="r1f"):  # type: ignore[explicit-any]
    """A step of the rent flow, with what was chosen so far."""

    action: RentFlowAction
    service: str = ""
    country: str = ""
    hours: CallbackHours = 0
    page: CallbackPage = 0


class RentBuyCb(CallbackData, prefix="r1b"):  # type: ignore[explicit-any]
    """The confirmation tap: rents one number; `token` is claimed once in storage."""

    service: str
    country: str
    hours: CallbackHours
    token: str


class RentExtendCb(CallbackData, prefix="r1e"):  # type: ignore[explicit-any]
    """The extension confirmation tap: extends once per `token`."""

    id: CallbackId
    hours: CallbackHours
    token: str
