"""/start, the main menu, /cancel (leaves any input state), the menu's "main" action, and the
bot's membership in a private chat (the user blocked or unblocked it)."""

from __future__ import annotations

import html
from typing import Any

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import KICKED, MEMBER, ChatMemberUpdatedFilter, Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, ChatMemberUpdated, Message

from bot.accounts import AccountService
from bot.formatting import format_money
from bot.i18n import Translate
from bot.presets import preset_name
from handlers.common import MenuCb, answer_quietly, main_menu_keyboard, show
from handlers.middlewares import welcome_back
from storage import Database, User

router = Router(name=__name__)


async def main_menu_text(
    t: Translate,
    db: Database,
    user: User,
    settings: object,
    accounts: AccountService | None = None,
) -> str:
    """The menu's heading: which key is active and its balance, or how to begin. With
    `accounts`, a balance that money movements made unknown is asked again."""
    key = await db.keys.get_active(user.id)
    if key is None:
        return f"{t('menu-title')}\n\n{t('menu-no-key')}"
    if accounts is not None:
        key = await accounts.with_known_balance(key)
    line = t(
        "menu-active-key",
        label=html.escape(key.label),
        provider=html.escape(preset_name(key.base_url, settings)),
        balance=format_money(key.balance, key.currency),
    )
    return f"{t('menu-title')}\n\n{line}"


@router.message(CommandStart())
async def on_start(
    message: Message,
    state: FSMContext,
    t: Translate,
    db: Database,
    user: User,
    settings: object,
    accounts: AccountService,
) -> None:
    await state.clear()
    first = html.escape(message.from_user.first_name) if message.from_user else ""
    key = await db.keys.get_active(user.id)
    welcome = t("start-welcome", name=first) if key is None else t("start-welcome-back", name=first)
    await message.answer(
        f"{welcome}\n\n{await main_menu_text(t, db, user, settings, accounts)}",
        reply_markup=main_menu_keyboard(t),
    )


@router.message(Command("menu"))
async def on_menu_command(
    message: Message,
    state: FSMContext,
    t: Translate,
    db: Database,
    user: User,
    settings: object,
    accounts: AccountService,
) -> None:
    await state.clear()
    await message.answer(
        await main_menu_text(t, db, user, settings, accounts), reply_markup=main_menu_keyboard(t)
    )


@router.message(Command("cancel"))
async def on_cancel(
    message: Message,
    state: FSMContext,
    t: Translate,
    db: Database,
    user: User,
    settings: object,
    accounts: AccountService,
) -> None:
    was = await state.get_state()
    await state.clear()
    notice = t("cancel-done") if was is not None else t("cancel-nothing")
    await message.answer(
        f"{notice}\n\n{await main_menu_text(t, db, user, settings, accounts)}",
        reply_markup=main_menu_keyboard(t),
    )


@router.callback_query(MenuCb.filter(F.action == "main"))
async def on_main_menu(
    callback: CallbackQuery,
    state: FSMContext,
    t: Translate,
    db: Database,
    user: User,
    settings: object,
    accounts: AccountService,
) -> None:
    # "Main menu" is also every input screen's Cancel button: it always leaves the state.
    await state.clear()
    await show(
        callback, await main_menu_text(t, db, user, settings, accounts), main_menu_keyboard(t)
    )
    await answer_quietly(callback)


# --- the user blocks or unblocks the bot (its membership in their private chat) ---------------

PRIVATE = F.chat.type == ChatType.PRIVATE


@router.my_chat_member(PRIVATE, ChatMemberUpdatedFilter(member_status_changed=KICKED))
async def on_bot_blocked(event: ChatMemberUpdated, db: Database) -> None:
    # Nothing can be sent now; the tracker keeps tracking (and cancelling) their numbers.
    await db.users.set_blocked(event.from_user.id, True)


@router.my_chat_member(PRIVATE, ChatMemberUpdatedFilter(member_status_changed=MEMBER))
async def on_bot_unblocked(event: ChatMemberUpdated, db: Database, notifier: Any = None) -> None:
    await welcome_back(db, notifier, event.from_user.id)
