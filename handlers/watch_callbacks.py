"""Callback data of watches: the 🔔 Watch button (on the confirm screen and under a notice),
the draft screen, and the list. Ids and codes only; the prefix and values are wire format."""

from __future__ import annotations

from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton

from bot.i18n import Translate
from handlers.common import CallbackId


class WatchAction(StrEnum):
    LIST = "l"  # the user's watches
    DRAFT = "d"  # the draft of a watch of (s, c) with maximum mx and auto-buy ab
    ASK_MAX = "mx"  # type a maximum price for the draft
    ARM = "go"  # start watching as the draft says
    REMOVE = "rm"  # remove watch `id` from the list


# aiogram's CallbackData.__init_subclass__ takes **kwargs: Any, which mypy reports here.
class WatchCb(CallbackData, prefix="w1"):  # type: ignore[explicit-any]
    """s = service code, c = country id, mx = maximum price ("" = any), ab = auto-buy (0/1),
    id = a watch's id (REMOVE)."""

    action: WatchAction
    s: str = ""
    c: str = ""
    mx: str = ""
    ab: bool = False
    id: CallbackId = 0


class WatchStates(StatesGroup):
    max_price = State()  # text is the draft's maximum price


def watch_button(
    t: Translate, service: str, country: str, max_price: str
) -> InlineKeyboardButton | None:
    """The 🔔 Watch button, where an offer is out of stock or above the user's maximum; None
    when a provider's odd codes would not fit Telegram's 64 bytes."""
    packed = WatchCb(action=WatchAction.DRAFT, s=service, c=country, mx=max_price).pack()
    if len(packed.encode()) > 64:
        return None
    return InlineKeyboardButton(text=t("watch-button"), callback_data=packed)
