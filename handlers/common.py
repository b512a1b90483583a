"""Pieces every feature router shares: the main-menu callback, the menu keyboard, navigation."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.i18n import Translate

MENU_ACTIONS = ("main", "buy", "rent", "numbers", "balance", "keys", "settings", "help")


class MenuCb(CallbackData, prefix="m1"):
    """Main-menu navigation; each feature router handles its own action."""

    action: str


def menu_button(t: Translate, action: str = "main") -> InlineKeyboardButton:
    label = t("btn-main-menu") if action == "main" else t(f"menu-{action}")
    return InlineKeyboardButton(text=label, callback_data=MenuCb(action=action).pack())


def back_button(t: Translate, callback_data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=t("btn-back"), callback_data=callback_data)


def main_menu_keyboard(t: Translate) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for action in MENU_ACTIONS[1:]:
        builder.button(text=t(f"menu-{action}"), callback_data=MenuCb(action=action))
    builder.adjust(2, 2, 2, 1)
    return builder.as_markup()


def only_menu_keyboard(t: Translate) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[menu_button(t)]])
