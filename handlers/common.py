"""Pieces every feature router shares: the main-menu callback, the menu keyboard, navigation,
the one edit-or-send helper, the one callback-answer helper, the one pager, and the handler
flags the middlewares read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Final, TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.keyboard import InlineKeyboardBuilder
from pydantic import Field

from bot.accounts import AccountService
from bot.i18n import Translate
from storage import KeyProfile

log = logging.getLogger(__name__)


class MenuAction(StrEnum):
    """The main menu's buttons; each feature router handles its own (values are wire data)."""

    MAIN = "main"
    BUY = "buy"
    RENT = "rent"
    NUMBERS = "numbers"
    WATCHES = "watches"
    SPENDING = "spending"
    HISTORY = "history"
    BALANCE = "balance"
    KEYS = "keys"
    SETTINGS = "settings"
    HELP = "help"


MENU_ACTIONS: tuple[MenuAction, ...] = tuple(MenuAction)


# --- handler flags: per-handler policy the middlewares read with aiogram's get_flag ----------

THROTTLE: Final = "throttle"  # flag name; its value is a Throttle
TAKES_API_KEY: Final = "takes_api_key"  # flag name: this handler is where an API key belongs


class Throttle(StrEnum):
    """How the throttle treats a handler's updates that come faster than the user's rate."""

    DROP = "drop"  # the default: a tap or a command that comes too soon is dropped
    PACE = "pace"  # input a screen asked for: it waits for the user's next slot, never dropped


def input_flags(*, takes_api_key: bool = False) -> dict[str, object]:
    """The flags of a message handler of an input screen: what the user typed is never lost
    to the throttle (and, for the key screen, an API key may arrive). A fresh dict each time:
    aiogram lets filters add their own flags to the dict a handler is registered with."""
    flags: dict[str, object] = {THROTTLE: Throttle.PACE}
    if takes_api_key:
        flags[TAKES_API_KEY] = True
    return flags


# FSM data: the id of the message that asks for the input a state waits for (a prompt). The
# prompt middleware takes its buttons away once another message asks, or the input is left.
PROMPT: Final = "prompt"


async def remember_prompt(state: FSMContext, prompt: Message | None) -> None:
    """`prompt` is now the message asking for input (call after setting the state); the one
    that asked before loses its buttons (`handlers.middlewares.PromptMiddleware`)."""
    if prompt is not None:
        await state.update_data({PROMPT: prompt.message_id})


T = TypeVar("T")

# The int fields of every CallbackData, range-checked when a tap is decoded. Callback data comes
# back from the client and can be forged: a value outside these ranges (or not a number) fails
# to decode, so no handler runs and the fallback router answers "this button is out of date".
# A row id: SQLite's INTEGER range (a larger one raised OverflowError deep in storage).
CallbackId = Annotated[int, Field(ge=0, le=2**63 - 1)]
# A page number: far more pages than any list has (page_of clamps within this range).
CallbackPage = Annotated[int, Field(ge=0, le=9_999)]
# A rental duration in hours: the protocol's maximum is 1344 (8 weeks); 0 means "none".
CallbackHours = Annotated[int, Field(ge=0, le=1_344)]


class MenuCb(CallbackData, prefix="m1"):  # type: ignore[explicit-any]  # BaseModel's Any
    """Main-menu navigation; each feature router handles its own action."""

    action: MenuAction


def menu_button(t: Translate, action: MenuAction = MenuAction.MAIN) -> InlineKeyboardButton:
    label = t("btn-main-menu") if action == MenuAction.MAIN else t(f"menu-{action}")
    return InlineKeyboardButton(text=label, callback_data=MenuCb(action=action).pack())


def back_button(t: Translate, callback_data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=t("btn-back"), callback_data=callback_data)


def main_menu_keyboard(t: Translate) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action in MENU_ACTIONS[1:]:
        builder.button(text=t(f"menu-{action}"), callback_data=MenuCb(action=action))
    builder.adjust(2)
    return builder.as_markup()


def only_menu_keyboard(t: Translate) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[menu_button(t)]])


def cancel_button(t: Translate) -> InlineKeyboardButton:
    """Leaves an input state: the main-menu handler clears any FSM state."""
    return InlineKeyboardButton(
        text=t("btn-cancel"), callback_data=MenuCb(action=MenuAction.MAIN).pack()
    )


def page_of(items: list[T], page: int, per_page: int) -> tuple[int, int, list[T]]:
    """(page clamped into range, page count, the items on that page): an old or crafted page
    number shows the nearest page there is."""
    pages = max(1, -(-len(items) // per_page))
    page = min(max(page, 0), pages - 1)
    return page, pages, items[page * per_page : (page + 1) * per_page]


def pager_row(
    t: Translate, page: int, pages: int, page_data: Callable[[int], CallbackData]
) -> list[InlineKeyboardButton]:
    """The one pager of every list: ‹ page/pages ›, nothing when everything fits on one page.
    `page_data(n)` is the callback data that shows page n (the middle button redraws this one)."""
    if pages <= 1:
        return []
    row: list[InlineKeyboardButton] = []
    if page > 0:
        row.append(InlineKeyboardButton(text="‹", callback_data=page_data(page - 1).pack()))
    label = t("page-of", page=str(page + 1), pages=str(pages))
    row.append(InlineKeyboardButton(text=label, callback_data=page_data(page).pack()))
    if page + 1 < pages:
        row.append(InlineKeyboardButton(text="›", callback_data=page_data(page + 1).pack()))
    return row


def is_not_modified(exc: TelegramBadRequest) -> bool:
    """Telegram's "message is not modified": the chat already shows it, which is no error."""
    return "message is not modified" in str(exc).lower()


# A number's card is the one place its number and codes are shown: a button on it that leads
# elsewhere (main menu, My numbers) opens that screen in a new message instead of overwriting
# it. A card is known by the button every activation card carries (⭐, ActivationCb "fav"); its
# own buttons (prefix "a1:") redraw it in place.
CARD_MARK: Final = "a1:fav:"
CARD_OWN: Final = "a1:"


def leaves_a_card(query: CallbackQuery) -> bool:
    """The tap is on a number's card and leads away from it."""
    message = query.message
    if not isinstance(message, Message) or message.reply_markup is None:
        return False
    if (query.data or "").startswith(CARD_OWN):
        return False
    rows = message.reply_markup.inline_keyboard
    return any((b.callback_data or "").startswith(CARD_MARK) for row in rows for b in row)


async def show(
    target: Message | CallbackQuery,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
) -> Message | None:
    """Show a screen: edit the tapped message in place, or send a new one for a text/command
    (or for a tap that leads away from a number's card, which stays as it is).

    When the tapped message can no longer be edited (too old, deleted), a new one is sent,
    so a screen is never lost. "Not modified" is not an error: the screen already shows it."""
    if isinstance(target, CallbackQuery):
        message = target.message
        if isinstance(message, Message) and leaves_a_card(target):
            return await message.answer(text, reply_markup=markup)
        if isinstance(message, Message):
            try:
                edited = await message.edit_text(text, reply_markup=markup)
                return edited if isinstance(edited, Message) else message
            except TelegramBadRequest as exc:
                if is_not_modified(exc):
                    return message
            return await message.answer(text, reply_markup=markup)
        if target.from_user is not None and target.bot is not None:
            return await target.bot.send_message(target.from_user.id, text, reply_markup=markup)
        return None
    return await target.answer(text, reply_markup=markup)


async def answer_quietly(
    callback: CallbackQuery, text: str | None = None, *, alert: bool = False
) -> None:
    """Answer a tap so the button stops spinning; a late answer (query too old) is harmless."""
    try:
        await callback.answer(text[:200] if text else None, show_alert=alert)
    except TelegramBadRequest:
        pass


async def answer_tap(event: Message | CallbackQuery, text: str | None = None) -> None:
    """Finish a screen shown for a tap or a typed command: a tap is answered (its button stops
    spinning, with a short notice when there is one); a command has nothing to answer."""
    if isinstance(event, CallbackQuery):
        await answer_quietly(event, text)


async def delete_quietly(bot: Bot, message: Message) -> bool:
    """Delete a user's message (one that carried an API key). Failing is logged without the
    text: the caller tells the user to delete it themselves."""
    try:
        await bot.delete_message(message.chat.id, message.message_id)
        return True
    except TelegramAPIError as exc:
        log.warning("could not delete a key message: %s", type(exc).__name__)
        return False


class ActiveKeyLoader:
    """The user's active key, read at most once per update.

    The registration middleware puts one into every update's data as `active_key`; a handler
    and the screens it calls share it instead of each querying the key again. It lives for one
    update only, so a key switched by another tap is seen on the next one."""

    __slots__ = ("_accounts", "_key", "_loaded", "_user_id")

    def __init__(self, accounts: AccountService, user_id: int) -> None:
        self._accounts = accounts
        self._user_id = user_id
        self._key: KeyProfile | None = None
        self._loaded = False

    @classmethod
    def read(
        cls, accounts: AccountService, user_id: int, key: KeyProfile | None
    ) -> ActiveKeyLoader:
        """A loader whose key was read already, with the user (the registration's one read)."""
        loader = cls(accounts, user_id)
        loader._key, loader._loaded = key, True
        return loader

    async def __call__(self) -> KeyProfile | None:
        if not self._loaded:
            self._key = await self._accounts.find_active(self._user_id)
            self._loaded = True
        return self._key
