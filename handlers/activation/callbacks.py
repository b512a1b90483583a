"""Callback data of the buy flow and of the activation card: ids and codes only.

Prefixes and action values are the wire format of buttons already in users' chats: they never
change, so an old button still decodes. An action that is not one of these fails to decode,
and the fallback router answers "this button is out of date".
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup
from pydantic import Field

from handlers.common import CallbackId, CallbackPage


class BuyAction(StrEnum):
    SERVICES_PAGE = "sp"
    SERVICE = "s"  # the countries of a service
    COUNTRIES_PAGE = "cp"
    CONFIRM = "c"  # the confirm screen of a (service, country) offer
    ASK_MAX = "mx"  # type a maximum price
    BUY = "go"
    FAVOURITE = "fav"  # star or un-star the confirm screen's (service, country)
    SORT = "so"  # the countries page: cheapest first <-> best chance first (kept in the state)


# aiogram's CallbackData.__init_subclass__ takes **kwargs: Any, which mypy reports here.
class BuyCb(CallbackData, prefix="b1"):  # type: ignore[explicit-any]
    """Buy-flow navigation. s = service code, c = country id, p = page, tk = one-time purchase
    token (or "q" on a page of a search: keep the search), mx = maximum price (kept in the
    button so a lost FSM state cannot lift the cap)."""

    action: BuyAction
    s: str = ""
    c: str = ""
    p: CallbackPage = 0
    tk: str = ""
    mx: str = ""


class OfferAction(StrEnum):
    OPEN = "c"  # the confirm screen of an offer with its options
    BUY = "go"  # buy (one number, or `n` of them) under the screen's one-time token
    SUPPLIERS = "sup"  # the offer's suppliers: choose or exclude them
    CHOOSE = "f"  # take this supplier/operator choice (remembered on a favourite)


# How many numbers one confirmation buys (OrderService.MAX_QUANTITY).
CallbackQuantity = Annotated[int, Field(ge=1, le=10)]

# Auto-replace for one purchase, as an offer's buttons carry it: the user's default (a screen
# drawn afresh), switched on, or switched off with the confirm screen's toggle.
REPLACE_DEFAULT, REPLACE_ON, REPLACE_OFF = 0, 1, 2
CallbackReplace = Annotated[int, Field(ge=REPLACE_DEFAULT, le=REPLACE_OFF)]


class OfferCb(CallbackData, prefix="o1"):  # type: ignore[explicit-any]  # as BuyCb
    """The confirm screen's options (BuyCb's wire format stays as it is for the buttons in
    users' chats). s = service, c = country, mx = maximum price per number, f = supplier
    choice (`PurchaseFilter.code()`), n = how many numbers, tk = one-time token (BUY), r =
    auto-replace for this purchase (REPLACE_DEFAULT / _ON / _OFF)."""

    action: OfferAction
    s: str = ""
    c: str = ""
    mx: str = ""
    f: str = ""
    n: CallbackQuantity = 1
    tk: str = ""
    r: CallbackReplace = REPLACE_DEFAULT


class ActivationAction(StrEnum):
    OPEN = "open"  # draw the number's card in the tapped message
    SMS_SENT = "sms"  # setStatus 1
    ANOTHER = "more"  # setStatus 3
    DONE = "done"  # setStatus 6
    CANCEL = "cancel"  # setStatus 8
    REFRESH = "refresh"
    FAVOURITE = "fav"  # star or un-star the number's (service, country)
    AGAIN = "again"  # the confirm screen of the same offer
    STOP_REPLACE = "norp"  # stop the number's auto-replace chain (the number stays)


class ActivationCb(CallbackData, prefix="a1"):  # type: ignore[explicit-any]  # as BuyCb
    action: ActivationAction
    id: CallbackId


class BuyStates(StatesGroup):
    services = State()  # any text searches services
    countries = State()  # any text searches countries of the chosen service
    max_price = State()  # text is the maximum price
