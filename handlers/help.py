"""Help: how the bot works and how to get an API key."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.i18n import Translate
from handlers.common import MenuAction, MenuCb, answer_quietly, menu_button, show
from handlers.keys import KeyAction, KeyCb


def help_text(t: Translate) -> str:
    return "\n\n".join((t("help-title"), t("help-how"), t("help-key"), t("help-money")))


def help_keyboard(t: Translate) -> InlineKeyboardMarkup:
    add = InlineKeyboardButton(
        text=t("btn-key-add"), callback_data=KeyCb(action=KeyAction.ADD).pack()
    )
    return InlineKeyboardMarkup(inline_keyboard=[[add], [menu_button(t)]])


async def on_help_command(message: Message, state: FSMContext, t: Translate) -> None:
    await state.clear()
    await message.answer(help_text(t), reply_markup=help_keyboard(t))


async def on_help(callback: CallbackQuery, state: FSMContext, t: Translate) -> None:
    await state.clear()
    await show(callback, help_text(t), help_keyboard(t))
    await answer_quietly(callback)


def create_router() -> Router:
    router = Router(name=__name__)
    router.message.register(on_help_command, Command("help"))
    router.callback_query.register(on_help, MenuCb.filter(F.action == MenuAction.HELP))
    return router
